//! The AWS query protocol (STS, IAM): form-encoded parameters in, XML errors out (answers
//! are written by the generated wire, `sts_iam`).

use crate::wire::WireResponse;
use eks_sim_model::iam::Tag;
use eks_sim_model::SimError;

pub const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
pub const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// Decoded parameters of a query-protocol request (body and URL query together).
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parameters from a URL query string and a form body (the body wins on duplicates by
    /// coming last; lookups take the last value).
    pub fn decode(raw_query: &str, body: &[u8]) -> Params {
        let mut v: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes())
            .into_owned()
            .collect();
        v.extend(form_urlencoded::parse(body).into_owned());
        Params(v)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A required member; `field` is the camel-case name AWS uses in its validation message.
    pub fn required(&self, name: &str, field: &str) -> Result<&str, SimError> {
        self.get(name).ok_or_else(|| {
            SimError::new(
                "ValidationError",
                400,
                format!(
                    "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
                ),
            )
        })
    }

    pub fn int(&self, name: &str, field: &str) -> Result<Option<i64>, SimError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
                SimError::new(
                    "ValidationError",
                    400,
                    format!("Value '{v}' at '{field}' failed to satisfy constraint: Member must be a number"),
                )
            }),
        }
    }

    /// `Tags.member.N.Key` / `Tags.member.N.Value`, in N order.
    pub fn tags(&self) -> Result<Vec<Tag>, SimError> {
        let mut by_n: std::collections::BTreeMap<u32, (Option<String>, Option<String>)> =
            Default::default();
        for (k, v) in &self.0 {
            let Some(rest) = k.strip_prefix("Tags.member.") else {
                continue;
            };
            let Some((n, field)) = rest.split_once('.') else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else {
                continue;
            };
            let e = by_n.entry(n).or_default();
            match field {
                "Key" => e.0 = Some(v.clone()),
                "Value" => e.1 = Some(v.clone()),
                _ => {}
            }
        }
        by_n.into_values()
            .map(|(k, v)| match (k, v) {
                (Some(key), Some(value)) => Ok(Tag { key, value }),
                (None, _) => Err(SimError::new(
                    "ValidationError",
                    400,
                    "1 validation error detected: Value null at 'tags.member.key' failed to satisfy constraint: Member must not be null",
                )),
                (_, None) => Err(SimError::new(
                    "ValidationError",
                    400,
                    "1 validation error detected: Value null at 'tags.member.value' failed to satisfy constraint: Member must not be null",
                )),
            })
            .collect()
    }
}

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
    fn params_and_tags() {
        let p = Params::decode(
            "",
            b"Action=CreateRole&RoleName=a%2Bb&Tags.member.2.Key=k2&Tags.member.2.Value=v2&Tags.member.1.Key=k1&Tags.member.1.Value=",
        );
        assert_eq!(p.get("RoleName"), Some("a+b"));
        let t = p.tags().unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].key, "k1");
        assert_eq!(t[1].value, "v2");
        assert_eq!(
            p.required("Path", "path").unwrap_err().code,
            "ValidationError"
        );
        let bad = Params::decode("", b"Tags.member.1.Key=k");
        assert!(bad.tags().is_err());
    }

    #[test]
    fn error_xml_escapes() {
        let r = error(IAM_NS, &SimError::new("X", 400, "a<b & 'c'"), "rid");
        let s = String::from_utf8(r.body.to_vec()).unwrap();
        assert!(s.contains("<Message>a&lt;b &amp; &apos;c&apos;</Message>"));
        assert!(s.contains("<Type>Sender</Type>"));
        assert_eq!(r.status, 400);
    }
}
