//! # eks-sim-server
//!
//! The wire of the simulated control plane (after s3s / moto's `responses.py`): one HTTP/1.1
//! server on loopback that serves EKS (rest-json), STS and IAM (query protocol, XML
//! responses), routing each request by the service name in its SigV4 credential scope as AWS
//! endpoints do. Every request is SigV4-verified before anything is decoded; the model
//! (`eks-sim-model`) does the rest. A connection that opens with a TLS handshake is a
//! Kubernetes client of one of the simulated clusters instead ([`kube`]).
//!
//! Reserved endpoints (unsigned only when listening on loopback):
//! - `GET /_sim/requests` — per-operation request counts (`{"eks:DescribeCluster": 3, …}`);
//!   `GET /_sim/answers` — answers sent per operation and HTTP status
//!   (`{"eks:CreateAccessEntry": {"200": 2, "429": 1}}`); `DELETE /_sim/requests` zeroes both;
//! - `GET /_sim/settings`, `POST /_sim/settings` (a JSON merge of `Settings`);
//! - `POST /_sim/reset` — back to a fresh state (settings kept);
//! - `GET /_sim/kube/audit/NAME` — the Kubernetes audit trail of clusters named NAME.
//!
//! Modules: [`listen`] (binding, connections, shutdown), `shared` (what requests share:
//! caches, counters, faults), `authenticate` (SigV4 against the state's keys), `serve`
//! (one request: size and body limits, signature, then EKS or STS/IAM), `answers` (AWS's
//! errors per protocol), `sim_endpoints` (`/_sim/`), [`eks`] and [`sts_iam`] (the
//! operations: routed, decoded, checked and encoded by the code `eks-sim-wire` generates
//! from botocore's models, with the model behind its `Eks`, `Sts` and `Iam` traits here),
//! [`kube`] (the clusters' Kubernetes API).

mod answers;
mod authenticate;
mod counts;
pub mod eks;
pub mod faults;
pub mod kube;
pub mod listen;
mod proto;
pub mod query;
mod serve;
mod shared;
pub mod sigv4;
mod sim_endpoints;
pub mod sts_iam;
pub mod wire;

use eks_sim_model::{Sim, SimError};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) use answers::now_ms;
pub(crate) use listen::{head_len, Busy};
pub use listen::{serve_until_signal, start, start_with, ServerHandle, MAX_HEAD_BYTES};
pub(crate) use shared::Shared;
pub use shared::Timeouts;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("simulator state: {0}")]
    State(#[from] SimError),
    #[error("Kubernetes API: {0}")]
    Kube(String),
}

/// The state directory: `$CONVOX_HOME`, else the platform data dir (`…/convox`).
pub fn default_state_dir() -> PathBuf {
    match std::env::var_os("CONVOX_HOME") {
        Some(h) if !h.is_empty() => PathBuf::from(h),
        _ => dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("convox"),
    }
}

/// Opens (creating if needed) `sim.db` in `dir`.
pub fn open_sim(dir: &Path) -> Result<Arc<Sim>, ServerError> {
    let store = eks_sim_model::Store::open(&dir.join("sim.db"))?;
    Ok(Arc::new(Sim::new(store)))
}

/// Which wire protocol an answer (including a refusal) must use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    RestJson,
    Sts,
    Iam,
}
