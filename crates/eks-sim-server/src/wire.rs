//! Protocol-neutral request/response types shared by the per-service wire modules.

use bytes::Bytes;

/// A request after SigV4 verification, as the service modules see it.
#[derive(Debug, Clone)]
pub struct WireRequest {
    pub method: http::Method,
    /// Raw (still percent-encoded) path.
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// A response ready to send.
#[derive(Debug, Clone)]
pub struct WireResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl WireResponse {
    pub fn json(status: u16, body: impl Into<Bytes>) -> WireResponse {
        WireResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }
}
