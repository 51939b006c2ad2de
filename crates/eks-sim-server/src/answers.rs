//! Answers in each protocol's shapes: AWS's errors for refusals, signatures and faults,
//! request ids, and the HTTP response a [`WireResponse`] becomes.

use crate::sigv4::AuthError;
use crate::wire::WireResponse;
use crate::{faults, query, Proto};
use bytes::Bytes;
use eks_sim_model::SimError;
use http_body_util::Full;

/// does not pay a getrandom call per request.
pub(crate) fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let p = *PREFIX.get_or_init(rand::random::<u64>);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        (p >> 32) as u32,
        (p >> 16) as u16,
        (p & 0xfff) as u16,
        0x8000 | ((n >> 48) & 0x3fff) as u16,
        n & 0xffff_ffff_ffff
    )
}

pub(crate) fn now_ms() -> i64 {
    eks_sim_model::store::now_ms()
}

/// rest-json error: `x-amzn-ErrorType` header and `{"message": …}` body.
pub(crate) fn json_error(status: u16, code: &str, message: &str) -> WireResponse {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut r = WireResponse::json(status, body);
    r.headers.push(("x-amzn-errortype".into(), code.into()));
    r
}

pub(crate) fn proto_error(proto: Proto, e: &SimError, rid: &str) -> WireResponse {
    match proto {
        Proto::RestJson => json_error(e.status, &e.code, &e.message),
        Proto::Sts => query::error(query::STS_NS, e, rid),
        Proto::Iam => query::error(query::IAM_NS, e, rid),
    }
}

/// A body that cannot be read (broken chunked framing): an error
/// each protocol's clients know. The EKS model declares InvalidParameterException for every
/// operation with a body but TagResource (malformed JSON gets it too); ValidationError is a
/// common error of the query APIs.
pub(crate) fn unreadable_body(proto: Proto, msg: &str, rid: &str) -> WireResponse {
    let code = if proto == Proto::RestJson {
        "InvalidParameterException"
    } else {
        "ValidationError"
    };
    proto_error(proto, &SimError::new(code, 400, msg), rid)
}

/// AWS's answer to a refused signature, per protocol.
pub(crate) fn auth_error(proto: Proto, e: &AuthError) -> SimError {
    const INVALID_TOKEN: &str = "The security token included in the request is invalid.";
    const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
    let json = proto == Proto::RestJson;
    match e {
        AuthError::Missing if json => SimError::new(
            "MissingAuthenticationTokenException",
            403,
            "Missing Authentication Token",
        ),
        AuthError::Missing => SimError::new(
            "MissingAuthenticationToken",
            403,
            "Request is missing Authentication Token",
        ),
        AuthError::Incomplete(m) if json => {
            SimError::new("IncompleteSignatureException", 403, m.clone())
        }
        AuthError::Incomplete(m) => SimError::new("IncompleteSignature", 400, m.clone()),
        AuthError::UnknownKey if json => {
            SimError::new("UnrecognizedClientException", 403, INVALID_TOKEN)
        }
        AuthError::UnknownKey => SimError::new("InvalidClientTokenId", 403, INVALID_TOKEN),
        AuthError::ExpiredToken if json => SimError::new(
            "ExpiredTokenException",
            403,
            "The security token included in the request is expired",
        ),
        AuthError::ExpiredToken => SimError::new(
            "ExpiredToken",
            403,
            "The security token included in the request is expired",
        ),
        AuthError::Mismatch(m) if json => SimError::new(
            "InvalidSignatureException",
            403,
            if m.is_empty() { MISMATCH } else { m },
        ),
        AuthError::Mismatch(m) => SimError::new(
            "SignatureDoesNotMatch",
            403,
            if m.is_empty() { MISMATCH } else { m },
        ),
    }
}

pub(crate) fn fault_error(proto: Proto, f: faults::Fault) -> SimError {
    match (f, proto) {
        (faults::Fault::Throttle, Proto::RestJson) => {
            SimError::new("ThrottlingException", 429, "Rate exceeded")
        }
        (faults::Fault::Throttle, _) => SimError::new("Throttling", 400, "Rate exceeded"),
        (faults::Fault::ServerError, Proto::RestJson) => {
            SimError::new("ServerException", 500, "An internal error occurred.")
        }
        (faults::Fault::ServerError, Proto::Iam) => SimError::new(
            "ServiceFailure",
            500,
            "The request processing has failed because of an unknown error, exception or failure.",
        ),
        (faults::Fault::ServerError, Proto::Sts) => SimError::new(
            "InternalFailure",
            500,
            "The request processing has failed because of an unknown error, exception or failure.",
        ),
    }
}

pub(crate) fn to_response(w: WireResponse, rid: &str) -> http::Response<Full<Bytes>> {
    let mut b = http::Response::builder().status(w.status);
    let mut has_rid = false;
    for (k, v) in &w.headers {
        has_rid |= k.eq_ignore_ascii_case("x-amzn-requestid");
        b = b.header(k.as_str(), v.as_str());
    }
    if !has_rid {
        b = b.header("x-amzn-requestid", rid);
    }
    b.body(Full::new(w.body)).unwrap_or_else(|e| {
        // Only a malformed header name/value from a handler gets here.
        tracing::error!("bad response: {e}");
        let mut r = http::Response::new(Full::new(Bytes::from_static(
            b"{\"message\":\"internal error\"}",
        )));
        *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// Runs a handler; a panic (a bug) becomes AWS's 500 instead of a dropped connection.
pub(crate) fn guarded(proto: Proto, rid: &str, f: impl FnOnce() -> WireResponse) -> WireResponse {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            tracing::error!("handler panicked");
            proto_error(proto, &fault_error(proto, faults::Fault::ServerError), rid)
        }
    }
}
