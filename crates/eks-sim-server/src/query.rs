//! The AWS query protocol (STS, IAM): form-encoded parameters in, XML errors out (answers
//! are written by the generated wire, `sts_iam`).

use crate::wire::WireResponse;
use eks_sim_model::SimError;

pub const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
pub const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// A query-protocol request's parameters (URL query and form body), as the generated wire
/// decodes them.
pub use eks_sim_wire::rt::query::Params;

/// `<ErrorResponse><Error><Type>Sender</Type><Code>…</Code><Message>…</Message></Error>
/// <RequestId>…</RequestId></ErrorResponse>`, with AWS's status.
pub fn error(ns: &str, e: &SimError, request_id: &str) -> WireResponse {
    let body = eks_sim_wire::rt::query::error(ns, e.sender_fault, &e.code, &e.message, request_id);
    WireResponse {
        status: e.status,
        headers: vec![
            ("content-type".into(), "text/xml".into()),
            ("x-amzn-requestid".into(), request_id.into()),
        ],
        body: body.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_xml_escapes() {
        let r = error(IAM_NS, &SimError::new("X", 400, "a<b & 'c'"), "rid");
        let s = String::from_utf8(r.body.to_vec()).unwrap();
        assert!(s.contains("<Message>a&lt;b &amp; &apos;c&apos;</Message>"));
        assert!(s.contains("<Type>Sender</Type>"));
        assert_eq!(r.status, 400);
    }
}
