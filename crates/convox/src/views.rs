//! The `--output json` answers, one type each: their keys and value shapes are what scripts
//! read (the conformance tests and `tests/` check them), so they are types, not `json!`
//! literals. Printed through `render::print_json`, which sorts every object's keys.

use std::collections::BTreeMap;

use convox_aws::CallerIdentity;
use convox_params::LeftBehind;
use convox_planner::{
    Conflict, Drift, Observed, ObservedEntry, PendingUpdate, Scope, Step, TableRow,
};
use convox_store::{HistoryEntry, Rack};
use serde::Serialize;

use crate::kube_auth::KubeView;

/// One row of `convox racks --output json`.
#[derive(Debug, Serialize)]
pub(crate) struct RackRow<'a> {
    pub name: &'a str,
    pub provider: &'static str,
    pub version: String,
    pub status: &'static str,
    /// The rack `convox switch` chose.
    pub current: bool,
}

impl<'a> RackRow<'a> {
    pub fn new(r: &'a Rack, current: Option<&str>) -> RackRow<'a> {
        RackRow {
            name: &r.name,
            provider: r.provider.as_str(),
            version: r.version.to_string(),
            status: r.status.as_str(),
            current: current == Some(r.name.as_str()),
        }
    }
}

/// `convox rack --output json`.
#[derive(Debug, Serialize)]
pub(crate) struct RackInfo<'a> {
    pub name: &'a str,
    pub provider: &'static str,
    pub version: String,
    pub status: &'static str,
    pub region: &'a str,
    pub cluster: &'a str,
    pub nodes_role_arn: &'a str,
    pub karpenter_nodes_role_arn: Option<&'a str>,
    pub profile: Option<&'a str>,
    pub last_error: Option<&'a str>,
    pub created_at: &'a str,
    pub updated_at: &'a str,
    /// The most recent changes, newest first.
    pub history: &'a [HistoryEntry],
    /// Stored but not acting at the rack's version (left behind by a downgrade).
    pub inactive_params: &'a [LeftBehind],
}

impl<'a> RackInfo<'a> {
    pub fn new(r: &'a Rack, history: &'a [HistoryEntry], inactive: &'a [LeftBehind]) -> Self {
        RackInfo {
            name: &r.name,
            provider: r.provider.as_str(),
            version: r.version.to_string(),
            status: r.status.as_str(),
            region: &r.region,
            cluster: &r.cluster,
            nodes_role_arn: &r.nodes_role_arn,
            karpenter_nodes_role_arn: r.karpenter_nodes_role_arn.as_deref(),
            profile: r.profile.as_deref(),
            last_error: r.last_error.as_deref(),
            created_at: &r.created_at,
            updated_at: &r.updated_at,
            history,
            inactive_params: inactive,
        }
    }
}

/// An auth-mode update in progress, present only while one runs: the keys of a settled
/// cluster's answer stay as they were.
#[derive(Debug, Serialize, Default)]
pub(crate) struct Pending<'a> {
    /// The mode the update sets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_auth_mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_update: Option<&'a PendingUpdate>,
}

impl<'a> Pending<'a> {
    pub fn of(observed: &'a Observed) -> Pending<'a> {
        match (observed.pending_auth_mode(), &observed.pending_update) {
            (Some(to), Some(u)) => Pending {
                pending_auth_mode: Some(to.as_str()),
                pending_update: Some(u),
            },
            _ => Pending::default(),
        }
    }
}

/// One parameter change of a plan (sensitive values masked).
#[derive(Debug, Serialize)]
pub(crate) struct ChangeView {
    pub key: String,
    pub old: Option<String>,
    pub new: String,
}

/// `convox rack params set --dry-run --output json`.
#[derive(Debug, Serialize)]
pub(crate) struct PlanView<'a> {
    pub rack: &'a str,
    pub cluster: &'a str,
    /// Always `true`: nothing was changed.
    pub dry_run: bool,
    pub changes: Vec<ChangeView>,
    pub auth_mode: &'static str,
    pub steps: &'a [Step],
    pub conflicts: &'a [Conflict],
    pub drift: &'a [Drift],
    #[serde(flatten)]
    pub pending: Pending<'a>,
}

/// The caller in `rack auth --output json`; one that cannot have an entry (root, federated)
/// has a null `principal_arn` and says why in `no_entry`.
#[derive(Debug, Serialize)]
pub(crate) struct CallerView<'a> {
    pub account: &'a str,
    pub arn: &'a str,
    pub principal_arn: Option<&'a str>,
    pub partition: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_entry: Option<String>,
}

impl<'a> CallerView<'a> {
    pub fn new(c: &'a CallerIdentity, no_entry: Option<&str>) -> CallerView<'a> {
        CallerView {
            account: &c.account,
            arn: &c.arn,
            principal_arn: no_entry.is_none().then_some(c.principal_arn.as_str()),
            partition: &c.partition,
            no_entry: no_entry.map(|why| format!("{why}; {}", convox_aws::RUN_AS)),
        }
    }
}

/// One policy association of an entry.
#[derive(Debug, Serialize)]
pub(crate) struct PolicyView<'a> {
    pub policy_arn: &'a str,
    pub scope: &'a Scope,
}

/// One access entry in `rack auth --output json`.
#[derive(Debug, Serialize)]
pub(crate) struct EntryView<'a> {
    pub principal_arn: &'a str,
    #[serde(rename = "type")]
    pub entry_type: &'a str,
    /// `null` when not fetched (only STANDARD entries have policies).
    pub policies: Option<Vec<PolicyView<'a>>>,
    /// Created by this rack (tagged `convox:rack=RACK`).
    pub managed_by_rack: bool,
    /// `caller`, `nodes`, `karpenter-nodes`, or `null`.
    pub rack_role: Option<&'a str>,
    pub tags: &'a BTreeMap<String, String>,
}

impl<'a> EntryView<'a> {
    pub fn new(e: &'a ObservedEntry, rack: &str, roles: &'a BTreeMap<String, String>) -> Self {
        EntryView {
            principal_arn: &e.principal_arn,
            entry_type: &e.entry_type,
            policies: e.policies.as_ref().map(|ps| {
                ps.iter()
                    .map(|p| PolicyView {
                        policy_arn: &p.policy_arn,
                        scope: &p.scope,
                    })
                    .collect()
            }),
            managed_by_rack: convox_planner::is_managed_by(e, rack),
            rack_role: roles.get(&e.principal_arn).map(String::as_str),
            tags: &e.tags,
        }
    }
}

/// `convox rack auth --output json`.
#[derive(Debug, Serialize)]
pub(crate) struct AuthView<'a> {
    pub rack: &'a str,
    pub cluster: &'a str,
    pub region: &'a str,
    pub cluster_status: &'a str,
    pub auth_mode: &'static str,
    pub caller: CallerView<'a>,
    pub table_row: TableRow,
    pub entries: Vec<EntryView<'a>>,
    /// What differs from the parameters, in words.
    pub drift: Vec<&'a str>,
    pub conflicts: &'a [Conflict],
    pub converged: bool,
    pub inactive_params: &'a [LeftBehind],
    pub kubernetes: &'a KubeView,
    #[serde(flatten)]
    pub pending: Pending<'a>,
}
