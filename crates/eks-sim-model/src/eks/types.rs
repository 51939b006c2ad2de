//! EKS shapes as the botocore model names them (camelCase members). Output types serialize
//! straight into AWS's rest-json bodies; timestamps are kept as epoch milliseconds and
//! written as epoch seconds (fractional), which botocore and the Rust SDK both parse.

use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;

/// Epoch ms → epoch seconds as a JSON number.
pub(crate) fn ts<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(*ms as f64 / 1000.0)
}

pub type TagMap = BTreeMap<String, String>;

pub const CONFIG_MAP: &str = "CONFIG_MAP";
pub const API_AND_CONFIG_MAP: &str = "API_AND_CONFIG_MAP";
pub const API: &str = "API";

/// Access-entry types AWS accepts.
pub const ENTRY_TYPES: &[&str] = &[
    "STANDARD",
    "EC2_LINUX",
    "EC2_WINDOWS",
    "FARGATE_LINUX",
    "EC2",
    "HYBRID_LINUX",
    "HYPERPOD_LINUX",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap_cluster_creator_admin_permissions: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication_mode: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VpcConfigRequest {
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    pub endpoint_public_access: Option<bool>,
    pub endpoint_private_access: Option<bool>,
    pub public_access_cidrs: Option<Vec<String>>,
}

/// CreateCluster input. Members the simulator does not model are accepted and echoed
/// where AWS echoes them (`extra`), so clients sending them are not refused.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateClusterInput {
    pub name: String,
    pub version: Option<String>,
    pub role_arn: String,
    pub resources_vpc_config: VpcConfigRequest,
    pub access_config: Option<AccessConfig>,
    pub tags: TagMap,
    pub client_request_token: Option<String>,
    pub logging: Option<serde_json::Value>,
    pub kubernetes_network_config: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub name: String,
    pub arn: String,
    #[serde(serialize_with = "ts")]
    pub created_at: i64,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub role_arn: String,
    pub status: String,
    pub access_config: AccessConfig,
    pub platform_version: String,
    pub tags: TagMap,
    /// The rest of AWS's cluster object (VPC config, network config, logging, identity,
    /// certificate authority, health, upgrade policy…), kept as the stored JSON text so a
    /// DescribeCluster answer does not rebuild it value by value.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Box<serde_json::value::RawValue>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateParam {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorDetail {
    #[serde(rename = "errorCode")]
    pub error_code: String,
    #[serde(rename = "errorMessage")]
    pub error_message: String,
    #[serde(rename = "resourceIds")]
    pub resource_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Update {
    pub id: String,
    pub status: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub params: Vec<UpdateParam>,
    #[serde(serialize_with = "ts")]
    pub created_at: i64,
    pub errors: Vec<ErrorDetail>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateClusterConfigInput {
    pub name: String,
    pub authentication_mode: Option<String>,
    /// Whether an `accessConfig` member was present at all.
    pub access_config_present: bool,
    /// Members other than accessConfig that were sent (refused: not simulated).
    pub other_members: Vec<String>,
    pub client_request_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessEntry {
    pub cluster_name: String,
    pub principal_arn: String,
    pub kubernetes_groups: Vec<String>,
    pub access_entry_arn: String,
    #[serde(serialize_with = "ts")]
    pub created_at: i64,
    #[serde(serialize_with = "ts")]
    pub modified_at: i64,
    pub tags: TagMap,
    pub username: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateAccessEntryInput {
    pub cluster_name: String,
    pub principal_arn: String,
    pub kubernetes_groups: Option<Vec<String>>,
    pub tags: TagMap,
    pub client_request_token: Option<String>,
    pub username: Option<String>,
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateAccessEntryInput {
    pub cluster_name: String,
    pub principal_arn: String,
    pub kubernetes_groups: Option<Vec<String>>,
    pub client_request_token: Option<String>,
    pub username: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessScope {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub namespaces: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociatedAccessPolicy {
    pub policy_arn: String,
    pub access_scope: AccessScope,
    #[serde(serialize_with = "ts")]
    pub associated_at: i64,
    #[serde(serialize_with = "ts")]
    pub modified_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessPolicy {
    pub name: String,
    pub arn: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateNodegroupInput {
    pub cluster_name: String,
    pub nodegroup_name: String,
    pub subnets: Vec<String>,
    pub node_role: String,
    pub scaling_config: Option<serde_json::Value>,
    pub instance_types: Option<Vec<String>>,
    pub ami_type: Option<String>,
    pub capacity_type: Option<String>,
    pub disk_size: Option<i64>,
    pub labels: BTreeMap<String, String>,
    pub tags: TagMap,
    pub version: Option<String>,
    pub client_request_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Nodegroup {
    pub nodegroup_name: String,
    pub nodegroup_arn: String,
    pub cluster_name: String,
    pub version: String,
    pub release_version: String,
    #[serde(serialize_with = "ts")]
    pub created_at: i64,
    #[serde(serialize_with = "ts")]
    pub modified_at: i64,
    pub status: String,
    pub capacity_type: String,
    pub scaling_config: serde_json::Value,
    pub instance_types: Vec<String>,
    pub subnets: Vec<String>,
    pub ami_type: String,
    pub node_role: String,
    pub labels: BTreeMap<String, String>,
    pub disk_size: i64,
    pub health: serde_json::Value,
    pub update_config: serde_json::Value,
    pub tags: TagMap,
}

/// One page of a paginated list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}
