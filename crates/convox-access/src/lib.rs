//! # convox-access
//!
//! Pure: who can reach a cluster's Kubernetes API, from the authentication mode, the
//! `aws-auth` ConfigMap and the access entries, and who still could under each what-if that
//! `convox rack auth` shows (aws-auth deleted; mode switched to API; the rack downgraded below
//! 3.24.7 and its entries removed). No I/O: `convox-kube` reads aws-auth, `convox-aws` the
//! entries; the binary prints the outcome. [`aws_auth`] parses the ConfigMap as
//! aws-iam-authenticator does; [`whatif`] applies EKS's identity rules; [`migrate`] turns
//! each mapping into the access entry that gives the same access, or says why not.

pub mod aws_auth;
pub mod migrate;
pub mod whatif;

/// The `convox:entry` tag of the entries `rack auth migrate` makes from aws-auth.
pub const MIGRATED: &str = "aws-auth";

pub use aws_auth::{parse as parse_aws_auth, AwsAuth, Mapping, MappingKind};
pub use migrate::{Directory, MigrationPlan, PlannedEntry, Principal, Skipped};
pub use whatif::{
    access, canonical, coverage, coverage_in, identities, what_if, what_if_in, Access, AwsAuthFact,
    Coverage, Identity, Outcome, Scenario,
};

#[cfg(test)]
mod migrate_tests;
#[cfg(test)]
mod tests;
