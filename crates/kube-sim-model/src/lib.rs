//! # kube-sim-model
//!
//! The Kubernetes side of a simulated EKS cluster: state and rules, no network I/O (the wire
//! is `eks-sim-server`'s `kube` module). What lives here:
//! - [`token`]: aws-iam-authenticator's checks on a `k8s-aws-v1.` bearer token (the SigV4
//!   signature itself is verified by the wire against the simulator's STS keys);
//! - [`identity`]: the STS caller, its canonical ARN, username templates, `UserInfo`;
//! - [`awsauth`]: the `aws-auth` ConfigMap parsed and matched as the authenticator does;
//! - [`whois`]: who a caller is on a cluster, by authentication mode;
//! - [`rbac`], [`authz`]: RBAC rules and bindings, EKS access policies, the node rules and
//!   the decision for one request, with Kubernetes's refusal message;
//! - [`objects`], [`seed`]: objects per cluster in the simulator's SQLite file (a
//!   resourceVersion counter and an event log per cluster), the namespaces and default RBAC
//!   a cluster starts with;
//! - [`resources`], [`validate`], [`patch`], [`proto`]: the kinds served, their validation,
//!   PATCH bodies, protobuf request bodies;
//! - [`status`]: Kubernetes's `Status` answers.
//!
//! Clusters come from `eks-sim-model` (`eks::kube_view`), read settled, so a cluster that
//! finished creating or changed mode is seen at the next request.

pub mod authz;
pub mod awsauth;
pub mod identity;
pub mod nodes;
pub mod objects;
pub mod patch;
pub mod proto;
pub mod rbac;
pub mod resources;
pub mod seed;
pub mod status;
pub mod token;
pub mod validate;
pub mod whois;

pub use status::{KubeError, KubeResult};
