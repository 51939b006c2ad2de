//! Which protocol a request speaks, for answers given before its signature is verified or
//! its service is known (413, 408, an unreadable body, a refused signature).

use crate::{eks, sigv4, Proto};

pub(crate) fn is_form(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// The protocol to refuse a request in before its signature is verified: the service of
/// its SigV4 credential scope when it has one (a signed EKS request is answered in
/// rest-json whatever its content type), else an EKS path's, else [`guess_proto`].
pub(crate) fn refusal_proto(
    method: &http::Method,
    raw_path: &str,
    headers: &http::HeaderMap,
    raw_query: &str,
) -> Proto {
    if let Ok(p) = sigv4::parse(headers, raw_query) {
        match p.service.as_str() {
            "eks" => return Proto::RestJson,
            "sts" => return Proto::Sts,
            "iam" => return Proto::Iam,
            _ => {}
        }
    }
    if !raw_query.contains("Action=") && eks::route(method, raw_path).is_some() {
        return Proto::RestJson;
    }
    guess_proto(method, headers, raw_query)
}

/// The protocol a request without a usable credential scope most likely speaks.
fn guess_proto(method: &http::Method, headers: &http::HeaderMap, raw_query: &str) -> Proto {
    if (method == http::Method::POST && is_form(headers)) || raw_query.contains("Action=") {
        Proto::Sts
    } else {
        Proto::RestJson
    }
}
