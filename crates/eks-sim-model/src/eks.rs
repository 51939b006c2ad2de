//! Simulated EKS: clusters, authentication mode, access entries and policies, managed node
//! groups — with AWS's rules and error messages.
//!
//! Time-based behaviour (cluster creation, config updates, node-group creation, the
//! propagation delay after an auth-mode change) is derived from stored due times: every
//! cluster row carries `settle_at_ms`, the earliest pending transition. Reads check it and
//! only upgrade to a write transaction when a transition is actually due ([`settle`]), so
//! there is no background thread and every process sharing the file agrees.
//!
//! Covered: CreateCluster / DescribeCluster / ListClusters / DeleteCluster,
//! UpdateClusterConfig (accessConfig only), DescribeUpdate / ListUpdates, the access-entry
//! and access-policy operations, TagResource / UntagResource / ListTagsForResource for
//! clusters and access entries ([`tags`]), CreateNodegroup / DescribeNodegroup / ListNodegroups /
//! DeleteNodegroup; `clientRequestToken` idempotency for CreateCluster, CreateNodegroup,
//! UpdateClusterConfig and CreateAccessEntry; settings `auto_node_entries`,
//! `bootstrap_creator_admin`, `cluster_create_ms`, `nodegroup_create_ms`, `update_ms`,
//! `propagation_ms`, `read_lag_ms`.
//!
//! Inputs that come back in answers (network config, logging, scaling, enums) are checked
//! against the botocore model's enums and ranges and rebuilt from the members AWS defines,
//! so no answer carries a value or key AWS would not send; the conformance suite checks
//! every boto3 answer against the model (`tests/conformance/model_shapes.py`).
//!
//! The Kubernetes side (aws-auth, RBAC, objects) is `kube-sim-model`, which reads clusters
//! and entries through [`kube_view`]. Not simulated: nodes, Fargate profiles, add-ons, pod identity, OIDC providers, Kubernetes version and other
//! non-auth cluster updates (refused with InvalidParameterException), the DELETING phase
//! (deletes are immediate), deleted-and-recreated IAM principals invalidating entries.
//!
//! One module per resource: [`clusters`], [`updates`], [`access_entries`], [`policies`],
//! [`nodegroups`] (and [`nodegroup_config`]), [`tags`]; beside them the settling clock
//! ([`settle`]), the [`schema`], [`errors`], input checks ([`validate`]), [`paging`],
//! principals ([`principals`]) and `clientRequestToken` [`idempotency`].
//!
//! Transactions: every operation opens its own, through the [`Sim`] it is given (see the
//! crate doc); the helpers it calls take the open `&Connection` and never open another.

mod access_entries;
mod clusters;
mod errors;
mod idempotency;
pub mod kube_view;
pub mod nodegroup_config;
mod nodegroups;
mod paging;
pub mod policies;
mod principals;
mod schema;
mod settle;
pub mod subnets;
pub mod tags;
pub mod types;
mod updates;
mod validate;

use crate::error::SimResult;
use crate::Sim;
use std::collections::BTreeMap;

pub use access_entries::{
    create_access_entry, delete_access_entry, describe_access_entry, list_access_entries,
    update_access_entry,
};
pub use clusters::{create_cluster, delete_cluster, describe_cluster, list_clusters};
pub use nodegroups::{create_nodegroup, delete_nodegroup, describe_nodegroup, list_nodegroups};
pub use policies::{
    associate_access_policy, disassociate_access_policy, list_access_policies,
    list_associated_access_policies,
};
pub use principals::{default_username, parse_principal_arn, PrincipalArn};
pub use schema::{migrate, SCHEMA};
pub use types::*;
pub use updates::{describe_update, list_updates, update_cluster_config};
pub use validate::{valid_name, DEFAULT_K8S_VERSION};

pub(super) fn tags_json(tags: &TagMap) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "{}".into())
}
pub(super) fn parse_json<T: serde::de::DeserializeOwned + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}
pub(super) fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}
pub(super) fn hex32() -> String {
    uuid::Uuid::new_v4().simple().to_string().to_uppercase()
}

/// Counts used by tests and the benchmark: (clusters, access entries) in the state.
pub fn counts(sim: &Sim) -> SimResult<(i64, i64)> {
    sim.store.read(|conn| {
        let c: i64 = conn.query_row("SELECT COUNT(*) FROM eks_clusters", [], |r| r.get(0))?;
        let e: i64 = conn.query_row("SELECT COUNT(*) FROM eks_access_entries", [], |r| r.get(0))?;
        Ok((c, e))
    })
}

// Keep the map type in the public API surface simple for callers building inputs.
pub type Labels = BTreeMap<String, String>;
