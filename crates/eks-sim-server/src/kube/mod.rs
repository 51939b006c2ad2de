//! The Kubernetes API of every simulated cluster, on the simulator's own port: a connection
//! that opens with a TLS handshake is served here (see [`conn`]); each cluster answers under
//! `https://127.0.0.1:PORT/k8s/HOST`, `HOST` being the host name of its EKS-style endpoint
//! (`ID.gr7.REGION.eks.amazonaws.com`), so clusters of any account and region share the
//! listener and a re-created cluster gets a new URL.
//!
//! Per request: cluster by id (404 `Status` when there is none, 503 while `CREATING`); fault
//! settings (429 with `Retry-After`, 500 `Status`); the bearer token verified as
//! aws-iam-authenticator does ([`auth`]) and mapped by authentication mode
//! (`kube_sim_model::whois`), no token being `system:anonymous`; the request authorized
//! (`kube_sim_model::authz`) and served from the simulator's SQLite state ([`api`]).
//! Rules live in `kube-sim-model`; this module is the wire.

mod api;
pub(crate) mod audit;
mod auth;
pub(crate) mod conn;
mod discovery;
mod handlers;
mod openapi;
mod reviews;
mod table;
pub mod tls;
mod watch;

use super::Shared;
use bytes::Bytes;
use eks_sim_model::eks::kube_view::{self, KubeCluster};
use eks_sim_model::Sim;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use kube_sim_model::KubeError;
use std::net::SocketAddr;
use std::sync::Arc;

pub(crate) type KBody = BoxBody<Bytes, std::convert::Infallible>;

/// Path prefix of every cluster's API.
pub const PREFIX: &str = "/k8s/";
/// Largest request body accepted (the API server's default limit is 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// The Kubernetes side of a running server.
pub struct Kube {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
    ca_b64: String,
    port: u16,
    /// `127.0.0.1:PORT` and `localhost:PORT`: STS hosts a token may name over plain http.
    own_hosts: Vec<String>,
    pub(crate) audit: audit::Audit,
}

impl Kube {
    /// Loads (or creates) the state directory's CA and makes the server certificate.
    pub fn open(sim: &Sim, addr: SocketAddr) -> Result<Kube, String> {
        let dir = sim
            .store
            .path()
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        kube_sim_model::objects::init(&sim.store).map_err(|e| e.to_string())?;
        let tls = tls::load(&dir).map_err(|e| e.to_string())?;
        use base64::Engine as _;
        let port = addr.port();
        Ok(Kube {
            acceptor: tokio_rustls::TlsAcceptor::from(tls.config),
            ca_b64: base64::engine::general_purpose::STANDARD.encode(tls.ca_pem.as_bytes()),
            port,
            own_hosts: vec![format!("127.0.0.1:{port}"), format!("localhost:{port}")],
            audit: audit::Audit::default(),
        })
    }

    /// The URL of a cluster's API, from its stored EKS endpoint: the EKS host name becomes
    /// the path (`https://127.0.0.1:PORT/k8s/ID.gr7.REGION.eks.amazonaws.com`), so the URL
    /// still names the cluster as EKS would.
    pub fn endpoint_of(&self, stored: &str) -> Option<String> {
        kube_view::endpoint_id(stored)?;
        let host = stored.strip_prefix("https://")?;
        Some(format!("https://127.0.0.1:{}{PREFIX}{host}", self.port))
    }

    /// Gives an EKS cluster answer its reachable endpoint and the CA that verifies it.
    pub fn fix_cluster(&self, c: &mut eks_sim_model::eks::Cluster) {
        let Some(ep) = c.endpoint.as_deref().and_then(|e| self.endpoint_of(e)) else {
            return;
        };
        c.endpoint = Some(ep);
        if c.extra.contains_key("certificateAuthority") {
            let doc = serde_json::json!({ "data": self.ca_b64 }).to_string();
            if let Ok(raw) = serde_json::value::RawValue::from_string(doc) {
                c.extra.insert("certificateAuthority".into(), raw);
            }
        }
    }
}

pub(crate) fn full(b: impl Into<Bytes>) -> KBody {
    Full::new(b.into()).boxed()
}

/// A JSON answer.
pub(crate) fn json_response(status: u16, v: &serde_json::Value) -> http::Response<KBody> {
    let mut r = http::Response::new(full(v.to_string()));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// A `Status` answer, with `Retry-After` for 429s.
pub(crate) fn status_response(e: &KubeError) -> http::Response<KBody> {
    let mut r = json_response(e.code, &e.status());
    if let Some(s) = e.retry_after {
        if let Ok(v) = http::HeaderValue::from_str(&s.to_string()) {
            r.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
    }
    if e.code == 401 {
        // What the API server sends with a refused bearer token.
        r.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer realm=\"kubernetes-api\""),
        );
    }
    r
}

/// The cluster named by a request path, and the path after its prefix.
fn cluster_of(sim: &Sim, path: &str, now: i64) -> Result<(KubeCluster, String), KubeError> {
    let rest = path.strip_prefix(PREFIX).ok_or_else(KubeError::no_route)?;
    let (host, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    // `ID.gr7.REGION.eks.…` (what DescribeCluster answers) or the bare id.
    let id = host.split('.').next().unwrap_or_default();
    let c = kube_view::cluster_by_endpoint_id(sim, id, now)?.ok_or_else(KubeError::no_route)?;
    if c.status == "CREATING" {
        return Err(KubeError::unavailable(
            "the cluster's control plane is still being created",
        ));
    }
    Ok((c, tail.to_string()))
}

/// Serves one request of a TLS connection.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    req: http::Request<Incoming>,
) -> http::Response<KBody> {
    if super::head_len(&req) > super::MAX_HEAD_BYTES {
        let mut r = http::Response::new(full(Bytes::new()));
        *r.status_mut() = http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
        r.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        return r;
    }
    let now = super::now_ms();
    let sim = shared.sim.clone();
    let path = req.uri().path().to_string();
    let (cluster, tail) = match cluster_of(&sim, &path, now) {
        Ok(x) => x,
        Err(e) => return status_response(&e),
    };
    api::serve(shared, cluster, tail, req, now).await
}

/// `GET /_sim/kube/audit/NAME`: the audit trail of the clusters named NAME (any account or
/// region), oldest first.
pub(crate) fn audit_endpoint(shared: &Shared, path: &str) -> crate::wire::WireResponse {
    let name = path.trim_start_matches("kube/audit/");
    let records = shared
        .kube
        .as_ref()
        .map(|k| k.audit.of(name))
        .unwrap_or_default();
    crate::wire::WireResponse::json(200, serde_json::json!({ "records": records }).to_string())
}

/// Brings the node groups of cluster `name` up to date on the Kubernetes side before EKS
/// answers about them (their health comes from the kubelets).
pub(crate) fn sync_nodes(shared: &Shared, account: &str, region: &str, name: &str, now: i64) {
    let id = match kube_view::endpoint_id_by_name(&shared.sim, account, region, name) {
        Ok(Some(id)) => id,
        _ => return,
    };
    if let Ok(Some(c)) = kube_view::cluster_by_endpoint_id(&shared.sim, &id, now) {
        if c.status != "CREATING" {
            if let Err(e) = api::ensure_seeded(shared, &c, now) {
                tracing::warn!(cluster = %name, "node sync: {e}");
            }
        }
    }
}
