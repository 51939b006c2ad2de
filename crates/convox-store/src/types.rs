//! The records the store keeps: racks, their statuses, history rows.

use convox_params::{Params, Version};
use serde::{Deserialize, Serialize};

/// Where a rack lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// On the simulator (embedded default or `convox sim serve`).
    Local,
    /// On AWS (or whatever the standard AWS configuration chain points at).
    Aws,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Local => "local",
            Provider::Aws => "aws",
        }
    }
    pub fn parse(s: &str) -> Option<Provider> {
        match s {
            "local" => Some(Provider::Local),
            "aws" => Some(Provider::Aws),
            _ => None,
        }
    }
}

/// A rack's lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RackStatus {
    Installing,
    Running,
    Updating,
    Failed,
}

impl RackStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RackStatus::Installing => "installing",
            RackStatus::Running => "running",
            RackStatus::Updating => "updating",
            RackStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<RackStatus> {
        match s {
            "installing" => Some(RackStatus::Installing),
            "running" => Some(RackStatus::Running),
            "updating" => Some(RackStatus::Updating),
            "failed" => Some(RackStatus::Failed),
            _ => None,
        }
    }
}

impl std::fmt::Display for RackStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rack to record at install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRack {
    pub name: String,
    pub provider: Provider,
    pub version: Version,
    pub region: String,
    /// EKS cluster name.
    pub cluster: String,
    pub nodes_role_arn: String,
    pub karpenter_nodes_role_arn: Option<String>,
    /// Endpoint override (e.g. a `convox sim serve` URL); `None` = default resolution.
    pub endpoint: Option<String>,
    /// AWS profile name for `aws` racks; `None` = the standard chain.
    pub profile: Option<String>,
}

/// A recorded rack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rack {
    pub name: String,
    pub provider: Provider,
    pub version: Version,
    pub status: RackStatus,
    pub region: String,
    pub cluster: String,
    pub nodes_role_arn: String,
    pub karpenter_nodes_role_arn: Option<String>,
    pub endpoint: Option<String>,
    pub profile: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
    /// Message of the last failed change, cleared by the next successful one.
    pub last_error: Option<String>,
}

impl Rack {
    /// The install-only identity as parameters (`region`, `cluster`, `nodes_role_arn`,
    /// `karpenter_nodes_role_arn`), merged over `params`, for `convox rack params` listings.
    pub fn listing_params(&self, params: &Params) -> Params {
        let mut p = params.clone();
        p.values
            .insert(convox_params::REGION.into(), self.region.clone());
        p.values
            .insert(convox_params::CLUSTER.into(), self.cluster.clone());
        p.values.insert(
            convox_params::NODES_ROLE_ARN.into(),
            self.nodes_role_arn.clone(),
        );
        if let Some(k) = &self.karpenter_nodes_role_arn {
            p.values
                .insert(convox_params::KARPENTER_NODES_ROLE_ARN.into(), k.clone());
        }
        p
    }
}

/// Id of a history row opened by a `begin_*` call, closed by [`Fenced::finish_change`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChangeId(pub i64);

/// Result of a history row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeResult {
    Pending,
    Ok,
    Failed,
}

impl ChangeResult {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ChangeResult::Pending => "pending",
            ChangeResult::Ok => "ok",
            ChangeResult::Failed => "failed",
        }
    }
    pub(crate) fn parse(s: &str) -> Option<ChangeResult> {
        match s {
            "pending" => Some(ChangeResult::Pending),
            "ok" => Some(ChangeResult::Ok),
            "failed" => Some(ChangeResult::Failed),
            _ => None,
        }
    }
}

/// One history row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub id: i64,
    pub rack: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// Caller ARN, or `local`.
    pub actor: String,
    /// `install`, `params set`, `update`, `uninstall`, …
    pub action: String,
    /// JSON describing the change (sensitive values masked).
    pub what: serde_json::Value,
    pub result: ChangeResult,
    pub message: Option<String>,
    pub finished_at: Option<String>,
}
