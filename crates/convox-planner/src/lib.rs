//! # convox-planner
//!
//! Pure: turns what a rack's parameters ask for ([`Desired`]) and what the cluster looks like
//! ([`Observed`]) into an ordered [`Plan`] of steps, plus the [`Drift`] a user should see.
//! No I/O, no clock, no AWS types: the AWS adapter (`convox-aws`) fills [`Observed`] and
//! executes [`Step`]s; the binary loops observe → plan → apply → re-observe until the plan is
//! empty (the `kube-runtime` reconcile shape).
//!
//! The seed's Karpenter table is the acceptance table of [`desired`]:
//!
//! | karpenter_auth_mode | eks_access_entries | mode switch | Karpenter node entry | caller entry | nodes entry |
//! |---|---|---|---|---|---|
//! | false | false | No  | No  | No  | No  |
//! | true  | false | Yes | Yes | No  | No  |
//! | false | true  | Yes | No  | Yes | Yes |
//! | true  | true  | Yes | Yes | Yes | Yes |
//!
//! Safety rules the planner enforces (and tests):
//! - the auth mode only ever moves CONFIG_MAP → API_AND_CONFIG_MAP; API or API_AND_CONFIG_MAP
//!   are left alone; nothing ever plans API.
//! - a plan never deletes or alters an entry the rack did not create (tag `convox:rack`);
//!   an existing entry of the wrong type for a principal we need is a [`Conflict`], not a fix.
//! - entries are planned only once the mode includes API (the switch and its wait come first).

use serde::{Deserialize, Serialize};

/// Tag key carried by every access entry this tool creates; value is the rack name.
pub const RACK_TAG: &str = "convox:rack";
/// Tag key naming which desired entry the access entry fulfils (`caller`, `nodes`, `karpenter-nodes`).
pub const ROLE_TAG: &str = "convox:entry";
/// The cluster-admin access policy name (ARN is partition-qualified, see [`policy_arn`]).
pub const CLUSTER_ADMIN_POLICY: &str = "AmazonEKSClusterAdminPolicy";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthMode {
    ConfigMap,
    ApiAndConfigMap,
    Api,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::ConfigMap => "CONFIG_MAP",
            AuthMode::ApiAndConfigMap => "API_AND_CONFIG_MAP",
            AuthMode::Api => "API",
        }
    }
    pub fn parse(s: &str) -> Option<AuthMode> {
        match s {
            "CONFIG_MAP" => Some(AuthMode::ConfigMap),
            "API_AND_CONFIG_MAP" => Some(AuthMode::ApiAndConfigMap),
            "API" => Some(AuthMode::Api),
            _ => None,
        }
    }
    /// Whether access entries exist (and can be listed/created) in this mode.
    pub fn includes_api(self) -> bool {
        !matches!(self, AuthMode::ConfigMap)
    }
}

/// Which of the rack's needs an entry fulfils.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryRole {
    /// The identity managing the rack (STANDARD + cluster admin).
    Caller,
    /// The rack's nodes role (EC2_LINUX).
    Nodes,
    /// The Karpenter nodes role (EC2_LINUX), from `karpenter_auth_mode`.
    KarpenterNodes,
}

impl EntryRole {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryRole::Caller => "caller",
            EntryRole::Nodes => "nodes",
            EntryRole::KarpenterNodes => "karpenter-nodes",
        }
    }
}

/// Access scope of a policy association.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Scope {
    Cluster,
    Namespace { namespaces: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyAssociation {
    pub policy_arn: String,
    pub scope: Scope,
}

/// One access entry the parameters require.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredEntry {
    pub role: EntryRole,
    /// IAM role ARN (path included) — never an STS assumed-role ARN.
    pub principal_arn: String,
    /// `STANDARD`, `EC2_LINUX`, …
    pub entry_type: String,
    pub policies: Vec<PolicyAssociation>,
}

/// What the rack's parameters require of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desired {
    /// Whether the auth mode must include API (then: at least API_AND_CONFIG_MAP).
    pub api_mode: bool,
    pub entries: Vec<DesiredEntry>,
}

/// Inputs of [`desired`] that are not parameters: the rack's identity in AWS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RackIdentity {
    pub rack: String,
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: String,
    /// IAM role (or user) ARN of the caller, resolved from the STS identity.
    pub caller_principal_arn: String,
    pub nodes_role_arn: String,
    pub karpenter_nodes_role_arn: Option<String>,
}

/// One access entry as observed on the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedEntry {
    pub principal_arn: String,
    pub entry_type: String,
    pub tags: std::collections::BTreeMap<String, String>,
    /// `None` when not fetched (only STANDARD entries have policies).
    pub policies: Option<Vec<PolicyAssociation>>,
}

/// An auth-mode update still running on the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpdate {
    pub id: String,
    pub status: String,
}

/// The cluster as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// `ACTIVE`, `UPDATING`, `CREATING`, …
    pub cluster_status: String,
    pub auth_mode: AuthMode,
    /// Set when an update is known to be in progress (e.g. started by a previous run).
    pub pending_update: Option<PendingUpdate>,
    /// Entries for the principals the rack cares about (and, for `rack auth`, all others).
    /// Empty when the mode excludes API (nothing can exist then).
    pub entries: Vec<ObservedEntry>,
}

/// One step of a plan, in execution order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// Wait for the cluster to be ACTIVE (an update already in progress, or creating).
    WaitClusterActive,
    /// UpdateClusterConfig accessConfig.authenticationMode = API_AND_CONFIG_MAP, then wait for
    /// the update to succeed.
    SwitchAuthMode { from: AuthMode, to: AuthMode },
    /// CreateAccessEntry (tagged with [`RACK_TAG`] and [`ROLE_TAG`]).
    CreateEntry { entry: DesiredEntry },
    /// AssociateAccessPolicy on an existing (or just created) entry.
    AssociatePolicy {
        role: EntryRole,
        principal_arn: String,
        policy: PolicyAssociation,
    },
}

/// A difference the plan will not fix by itself, because fixing it would alter or delete
/// something the rack does not own. Shown to the user; a reconcile with conflicts fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub role: EntryRole,
    pub principal_arn: String,
    pub message: String,
}

/// What differs between desired and observed (for `rack auth`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    pub what: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub conflicts: Vec<Conflict>,
    pub drift: Vec<Drift>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Partition-qualified ARN of an AWS-managed EKS access policy.
pub fn policy_arn(partition: &str, name: &str) -> String {
    format!("arn:{partition}:eks::aws:cluster-access-policy/{name}")
}

/// What the parameters require (the seed's Karpenter table). Implemented in this crate.
pub fn desired(params: &convox_params::Params, id: &RackIdentity) -> Desired {
    let _ = (params, id);
    todo!("convox-planner: desired")
}

/// The ordered plan from desired + observed. Implemented in this crate.
pub fn plan(desired: &Desired, observed: &Observed) -> Plan {
    let _ = (desired, observed);
    todo!("convox-planner: plan")
}
