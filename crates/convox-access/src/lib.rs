//! # convox-access
//!
//! Pure: who can reach a cluster's Kubernetes API, from the authentication mode, the
//! `aws-auth` ConfigMap and the access entries, and who still could under each what-if that
//! `convox rack auth` shows (aws-auth deleted; mode switched to API; the rack downgraded below
//! 3.24.7 and its entries removed). No I/O: `convox-kube` reads aws-auth, `convox-aws` the
//! entries; the binary prints the outcome. [`aws_auth`] parses the ConfigMap as
//! aws-iam-authenticator does; [`whatif`] applies EKS's identity rules.

pub mod aws_auth;
pub mod whatif;

pub use aws_auth::{parse as parse_aws_auth, AwsAuth, Mapping, MappingKind};
pub use whatif::{
    access, canonical, coverage, identities, what_if, Access, AwsAuthFact, Coverage, Identity,
    Outcome, Scenario,
};

#[cfg(test)]
mod tests;
