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

pub mod kube_view;
pub mod nodegroup_config;
pub mod policies;
pub mod subnets;
pub mod tags;
pub mod types;

use crate::error::{SimError, SimResult};
use crate::iam::{self, PrincipalKind};
use crate::settings::Settings;
use crate::{Ctx, Sim};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use std::collections::BTreeMap;
pub use types::*;

/// Tables of the EKS slice; the store applies this at open.
pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS eks_clusters (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    arn TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    -- CREATING until this time
    active_at_ms INTEGER NOT NULL,
    -- stored status (CREATING/ACTIVE/UPDATING), settled by `settle`
    status TEXT NOT NULL,
    version TEXT NOT NULL,
    platform_version TEXT NOT NULL,
    role_arn TEXT NOT NULL,
    auth_mode TEXT NOT NULL,
    bootstrap_admin INTEGER NOT NULL,
    creator_arn TEXT NOT NULL,
    -- access-entry creation refused before this (propagation after a mode change)
    api_ready_at_ms INTEGER NOT NULL DEFAULT 0,
    -- earliest due transition, NULL when nothing is pending
    settle_at_ms INTEGER,
    endpoint TEXT NOT NULL,
    tags_json TEXT NOT NULL,
    -- rest of AWS's cluster object, rendered as AWS renders it
    doc_json TEXT NOT NULL,
    UNIQUE (account, region, name)
);
CREATE TABLE IF NOT EXISTS eks_updates (
    id TEXT PRIMARY KEY,
    cluster_id INTEGER NOT NULL REFERENCES eks_clusters(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    params_json TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    due_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS eks_updates_cluster ON eks_updates(cluster_id, seq);
CREATE TABLE IF NOT EXISTS eks_access_entries (
    cluster_id INTEGER NOT NULL REFERENCES eks_clusters(id) ON DELETE CASCADE,
    principal_arn TEXT NOT NULL,
    kind TEXT NOT NULL,
    username TEXT NOT NULL,
    groups_json TEXT NOT NULL,
    tags_json TEXT NOT NULL,
    arn TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL,
    -- the last version readers could see before the latest update (read_lag_ms): an
    -- updated entry reads as this while the update is not visible yet; NULL when none
    prev_username TEXT,
    prev_groups_json TEXT,
    prev_modified_ms INTEGER,
    PRIMARY KEY (cluster_id, principal_arn)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS eks_policy_assocs (
    cluster_id INTEGER NOT NULL,
    principal_arn TEXT NOT NULL,
    policy_arn TEXT NOT NULL,
    scope_type TEXT NOT NULL,
    namespaces_json TEXT NOT NULL,
    associated_ms INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, principal_arn, policy_arn),
    FOREIGN KEY (cluster_id, principal_arn)
        REFERENCES eks_access_entries(cluster_id, principal_arn) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS eks_policy_assocs_policy ON eks_policy_assocs(cluster_id, policy_arn);
-- TagResource names an access entry by its ARN
CREATE INDEX IF NOT EXISTS eks_access_entries_arn ON eks_access_entries(arn);
-- clientRequestToken → what the first call made, so an SDK retry of a call that did
-- succeed gets the same answer instead of a conflict (idempotency, as AWS does)
CREATE TABLE IF NOT EXISTS eks_tokens (
    cluster_id INTEGER NOT NULL REFERENCES eks_clusters(id) ON DELETE CASCADE,
    op TEXT NOT NULL,
    token TEXT NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (cluster_id, op, token)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS eks_nodegroups (
    cluster_id INTEGER NOT NULL REFERENCES eks_clusters(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    arn TEXT NOT NULL,
    node_role TEXT NOT NULL,
    status TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    active_at_ms INTEGER NOT NULL,
    doc_json TEXT NOT NULL,
    PRIMARY KEY (cluster_id, name)
) WITHOUT ROWID;
"#;

/// Brings a state file made by an older simulator up to [`SCHEMA`] (run after it):
/// `CREATE TABLE IF NOT EXISTS` does not add columns to an existing table.
pub fn migrate(tx: &Connection) -> SimResult<()> {
    let cols: Vec<String> = tx
        .prepare("SELECT name FROM pragma_table_info('eks_access_entries')")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for (col, ty) in [
        ("prev_username", "TEXT"),
        ("prev_groups_json", "TEXT"),
        ("prev_modified_ms", "INTEGER"),
    ] {
        if !cols.iter().any(|c| c == col) {
            tx.execute_batch(&format!(
                "ALTER TABLE eks_access_entries ADD COLUMN {col} {ty}"
            ))?;
        }
    }
    Ok(())
}

/// Key in a cluster's stored document: whether CreateCluster named the bootstrap flag.
const BOOTSTRAP_GIVEN: &str = "_bootstrapGiven";

/// Kubernetes version a cluster gets when CreateCluster names none.
pub const DEFAULT_K8S_VERSION: &str = "1.33";
const SUPPORTED_VERSIONS: &[&str] = &[
    "1.23", "1.24", "1.25", "1.26", "1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33", "1.34",
];

// ---------------------------------------------------------------------------------------
// Errors, with AWS's codes, statuses and (where known) messages.

fn invalid_param(msg: impl Into<String>) -> SimError {
    SimError::new("InvalidParameterException", 400, msg)
}
fn invalid_request(msg: impl Into<String>) -> SimError {
    SimError::new("InvalidRequestException", 400, msg)
}
fn in_use(msg: impl Into<String>) -> SimError {
    SimError::new("ResourceInUseException", 409, msg)
}
fn not_found(msg: impl Into<String>) -> SimError {
    SimError::new("ResourceNotFoundException", 404, msg)
}
fn cluster_not_found(name: &str) -> SimError {
    not_found(format!("No cluster found for name: {name}."))
}
fn entry_not_found() -> SimError {
    not_found(
        "The specified principalArn could not be found. You can view your available access \
         entries with 'list-access-entries'.",
    )
}
fn mode_refused() -> SimError {
    invalid_request(
        "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] \
         to perform this operation.",
    )
}
fn invalid_principal() -> SimError {
    invalid_param("The specified principalArn is invalid: invalid principal.")
}
fn standard_only() -> SimError {
    invalid_param(
        "This operation can only be performed on Access Entries with a type of \"STANDARD\".",
    )
}

// ---------------------------------------------------------------------------------------
// Structured inputs that EKS answers back: validated against the model's enums and rebuilt
// from the members AWS defines, so an answer never carries a value or key AWS would not.

const LOG_TYPES: &[&str] = &[
    "api",
    "audit",
    "authenticator",
    "controllerManager",
    "scheduler",
];
const IP_FAMILIES: &[&str] = &["ipv4", "ipv6"];
const CAPACITY_TYPES: &[&str] = &["ON_DEMAND", "SPOT", "CAPACITY_BLOCK"];
/// The botocore model's `AMITypes` enum.
const AMI_TYPES: &[&str] = &[
    "AL2_x86_64",
    "AL2_x86_64_GPU",
    "AL2_ARM_64",
    "CUSTOM",
    "BOTTLEROCKET_ARM_64",
    "BOTTLEROCKET_x86_64",
    "BOTTLEROCKET_ARM_64_FIPS",
    "BOTTLEROCKET_x86_64_FIPS",
    "BOTTLEROCKET_ARM_64_NVIDIA",
    "BOTTLEROCKET_x86_64_NVIDIA",
    "BOTTLEROCKET_ARM_64_NVIDIA_FIPS",
    "BOTTLEROCKET_x86_64_NVIDIA_FIPS",
    "WINDOWS_CORE_2019_x86_64",
    "WINDOWS_FULL_2019_x86_64",
    "WINDOWS_CORE_2022_x86_64",
    "WINDOWS_FULL_2022_x86_64",
    "WINDOWS_CORE_2025_x86_64",
    "WINDOWS_FULL_2025_x86_64",
    "AL2023_x86_64_STANDARD",
    "AL2023_ARM_64_STANDARD",
    "AL2023_x86_64_NEURON",
    "AL2023_x86_64_NVIDIA",
    "AL2023_ARM_64_NVIDIA",
];

fn check_enum(member: &str, value: &str, allowed: &[&str]) -> SimResult<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(invalid_param(format!(
            "The {member} '{value}' is invalid. Valid values: {}.",
            allowed.join(", ")
        )))
    }
}

fn member<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    v.get(k).filter(|x| !x.is_null())
}

fn str_member(v: &Value, k: &str, label: &str) -> SimResult<Option<String>> {
    match member(v, k) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid_param(format!("{label} must be a string."))),
    }
}

/// `logging` as DescribeCluster shows it: one group of enabled types and one of disabled
/// types, in AWS's order (all disabled when CreateCluster names none).
fn logging_doc(input: Option<&Value>) -> SimResult<Value> {
    let mut enabled: Vec<&'static str> = Vec::new();
    if let Some(l) = input {
        let setups = match member(l, "clusterLogging") {
            None => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => return Err(invalid_param("logging.clusterLogging must be a list.")),
        };
        for setup in &setups {
            let on = match member(setup, "enabled") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(invalid_param(
                        "logging.clusterLogging.enabled must be a boolean.",
                    ))
                }
            };
            let types = match member(setup, "types") {
                None => Vec::new(),
                Some(Value::Array(a)) => a.clone(),
                Some(_) => {
                    return Err(invalid_param(
                        "logging.clusterLogging.types must be a list.",
                    ))
                }
            };
            for t in &types {
                let t = t.as_str().ok_or_else(|| {
                    invalid_param("logging.clusterLogging.types must hold strings.")
                })?;
                check_enum("log type", t, LOG_TYPES)?;
                let Some(canon) = LOG_TYPES.iter().find(|x| **x == t).copied() else {
                    continue; // unreachable: check_enum passed
                };
                enabled.retain(|x| *x != canon);
                if on {
                    enabled.push(canon);
                }
            }
        }
    }
    let on: Vec<&str> = LOG_TYPES
        .iter()
        .copied()
        .filter(|t| enabled.contains(t))
        .collect();
    let off: Vec<&str> = LOG_TYPES
        .iter()
        .copied()
        .filter(|t| !enabled.contains(t))
        .collect();
    let mut groups = Vec::new();
    if !on.is_empty() {
        groups.push(serde_json::json!({"types": on, "enabled": true}));
    }
    if !off.is_empty() {
        groups.push(serde_json::json!({"types": off, "enabled": false}));
    }
    Ok(serde_json::json!({ "clusterLogging": groups }))
}

/// `kubernetesNetworkConfig` as DescribeCluster shows it, with AWS's defaults.
fn network_doc(input: Option<&Value>) -> SimResult<Value> {
    let empty = Value::Object(Default::default());
    let i = input.unwrap_or(&empty);
    let family = str_member(i, "ipFamily", "kubernetesNetworkConfig.ipFamily")?
        .unwrap_or_else(|| "ipv4".into());
    check_enum("ipFamily", &family, IP_FAMILIES)?;
    let cidr = str_member(
        i,
        "serviceIpv4Cidr",
        "kubernetesNetworkConfig.serviceIpv4Cidr",
    )?
    .unwrap_or_else(|| "10.100.0.0/16".into());
    let elb = match member(i, "elasticLoadBalancing").and_then(|e| member(e, "enabled")) {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(invalid_param(
                "kubernetesNetworkConfig.elasticLoadBalancing.enabled must be a boolean.",
            ))
        }
    };
    let mut out = serde_json::json!({
        "serviceIpv4Cidr": cidr,
        "ipFamily": family,
        "elasticLoadBalancing": {"enabled": elb},
    });
    if family == "ipv6" {
        if let Some(o) = out.as_object_mut() {
            o.insert(
                "serviceIpv6Cidr".into(),
                Value::String("fd00:ec2::/108".into()),
            );
        }
    }
    Ok(out)
}

fn size_member(v: &Value, k: &str) -> SimResult<Option<i64>> {
    match member(v, k) {
        None => Ok(None),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
        Some(_) => Err(invalid_param(format!(
            "scalingConfig.{k} must be an integer."
        ))),
    }
}

/// `scalingConfig` with AWS's defaults (min 1, max 2, desired 2), checked as AWS checks it.
fn scaling_doc(input: Option<&Value>) -> SimResult<Value> {
    let empty = Value::Object(Default::default());
    let i = input.unwrap_or(&empty);
    let min = size_member(i, "minSize")?.unwrap_or(1);
    let max = size_member(i, "maxSize")?.unwrap_or(2.max(min));
    let desired = size_member(i, "desiredSize")?.unwrap_or(min.max(2).min(max));
    if min < 0 || max < 1 || desired < 0 {
        return Err(invalid_param(
            "scalingConfig: minSize and desiredSize must be at least 0 and maxSize at least 1.",
        ));
    }
    if min > max {
        return Err(invalid_param(format!(
            "Minimum capacity {min} can't be greater than maximum capacity {max}."
        )));
    }
    if desired > max || desired < min {
        return Err(invalid_param(format!(
            "Desired capacity {desired} must be between minimum capacity {min} and maximum capacity {max}."
        )));
    }
    Ok(serde_json::json!({"minSize": min, "maxSize": max, "desiredSize": desired}))
}

/// The cluster's EKS platform version. Access entries need at least the platform versions
/// the EKS User Guide lists per Kubernetes version ("Required platform version"); every
/// simulated cluster supports them, so it reports that version (later Kubernetes versions:
/// any platform version does).
fn platform_version(k8s: &str) -> &'static str {
    match k8s {
        "1.23" => "eks.17",
        "1.24" => "eks.15",
        "1.25" => "eks.12",
        "1.26" => "eks.11",
        "1.27" => "eks.10",
        "1.28" => "eks.6",
        "1.29" => "eks.1",
        "1.30" => "eks.2",
        _ => "eks.5",
    }
}

// ---------------------------------------------------------------------------------------
// Validation helpers.

/// AWS's cluster/node-group name pattern: `^[0-9A-Za-z][A-Za-z0-9\-_]*`, 1..=100 chars.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 100
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
}

fn check_name(what: &str, name: &str) -> SimResult<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(invalid_param(format!(
            "{what} name '{name}' is invalid: it must be 1-100 characters, start with a letter \
             or digit, and contain only letters, digits, hyphens and underscores."
        )))
    }
}

/// A Kubernetes namespace in an access scope: a DNS-1123 label, optionally ending in `*`
/// (EKS accepts a trailing wildcard).
fn valid_namespace(ns: &str) -> bool {
    let body = ns.strip_suffix('*').unwrap_or(ns);
    if ns.is_empty() || ns.len() > 63 || body.contains('*') {
        return false;
    }
    if body.is_empty() {
        // a lone "*" is not accepted
        return false;
    }
    let b = body.as_bytes();
    let ok_chars = b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
    let starts_ok = b[0].is_ascii_alphanumeric();
    let ends_ok = ns.ends_with('*') || b[b.len() - 1].is_ascii_alphanumeric();
    ok_chars && starts_ok && ends_ok
}

fn check_max_results(max: Option<i32>) -> SimResult<usize> {
    match max {
        None => Ok(100),
        Some(n) if (1..=100).contains(&n) => Ok(n as usize),
        Some(n) => Err(invalid_param(format!(
            "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy \
             constraint: Member must have value between 1 and 100"
        ))),
    }
}

/// Pagination tokens are opaque to clients: the hex of the last key returned.
fn encode_token(key: &str) -> String {
    let mut s = String::with_capacity(key.len() * 2);
    for b in key.as_bytes() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn decode_token(token: Option<&str>) -> SimResult<Option<String>> {
    let Some(t) = token else { return Ok(None) };
    let bad = || invalid_param("The nextToken is invalid.");
    if t.is_empty() || !t.len().is_multiple_of(2) {
        return Err(bad());
    }
    let mut bytes = Vec::with_capacity(t.len() / 2);
    for i in (0..t.len()).step_by(2) {
        let pair = t.get(i..i + 2).ok_or_else(bad)?;
        bytes.push(u8::from_str_radix(pair, 16).map_err(|_| bad())?);
    }
    String::from_utf8(bytes).map(Some).map_err(|_| bad())
}

/// Pages `keys` (sorted) after `after`, `max` at a time.
fn page_of<T: Clone>(
    items: &[T],
    key: impl Fn(&T) -> &str,
    after: Option<&str>,
    max: usize,
) -> Page<T> {
    let start = match after {
        Some(a) => items.partition_point(|i| key(i) <= a),
        None => 0,
    };
    let end = (start + max).min(items.len());
    let page: Vec<T> = items[start..end].to_vec();
    let next_token = if end < items.len() {
        page.last().map(|l| encode_token(key(l)))
    } else {
        None
    };
    Page {
        items: page,
        next_token,
    }
}

/// A page from keys a query already limited to `max + 1` (the extra one only tells that
/// there is more); no copying.
fn page_from_limited(mut keys: Vec<String>, max: usize) -> Page<String> {
    let more = keys.len() > max;
    keys.truncate(max);
    let next_token = if more {
        keys.last().map(|k| encode_token(k))
    } else {
        None
    };
    Page {
        items: keys,
        next_token,
    }
}

/// A parsed IAM principal ARN: `arn:PART:iam::ACCOUNT:(role|user)/[PATH/]NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalArn {
    pub partition: String,
    pub account: String,
    pub is_role: bool,
    /// Path between the resource type and the name, e.g. `/ops/` (`/` when none).
    pub path: String,
    pub name: String,
}

pub fn parse_principal_arn(arn: &str) -> Option<PrincipalArn> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(part), Some("iam"), Some(""), Some(acct), Some(res)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    if !["aws", "aws-cn", "aws-us-gov"].contains(&part)
        || acct.len() != 12
        || !acct.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let (is_role, rest) = if let Some(r) = res.strip_prefix("role/") {
        (true, r)
    } else if let Some(r) = res.strip_prefix("user/") {
        (false, r)
    } else {
        return None;
    };
    let (path, name) = match rest.rfind('/') {
        Some(i) => (format!("/{}/", &rest[..i]), &rest[i + 1..]),
        None => ("/".to_string(), rest),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    let path_ok = !path.contains("//") && path.len() <= 512;
    if !name_ok || !path_ok {
        return None;
    }
    Some(PrincipalArn {
        partition: part.to_string(),
        account: acct.to_string(),
        is_role,
        path,
        name: name.to_string(),
    })
}

/// The username EKS derives for an entry (EKS User Guide, "Create access entries").
pub fn default_username(kind: &str, p: &PrincipalArn, original_arn: &str) -> String {
    match kind {
        "EC2_LINUX" | "EC2_WINDOWS" | "EC2" => "system:node:{{EC2PrivateDNSName}}".to_string(),
        "FARGATE_LINUX" | "HYBRID_LINUX" | "HYPERPOD_LINUX" => {
            "system:node:{{SessionName}}".to_string()
        }
        _ if p.is_role => format!(
            "arn:{}:sts::{}:assumed-role/{}/{{{{SessionName}}}}",
            p.partition, p.account, p.name
        ),
        _ => original_arn.to_string(),
    }
}

fn tags_json(tags: &TagMap) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "{}".into())
}
fn parse_json<T: serde::de::DeserializeOwned + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}
fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}
fn hex32() -> String {
    uuid::Uuid::new_v4().simple().to_string().to_uppercase()
}
fn dns_suffix(partition: &str) -> &'static str {
    if partition == "aws-cn" {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

fn check_tags(tags: &TagMap) -> SimResult<()> {
    if tags.len() > 50 {
        return Err(invalid_param("Too many tags: at most 50 tags are allowed."));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(invalid_param(format!("The tag '{k}' is invalid.")));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid_param(
                "Tag keys starting with 'aws:' are reserved for AWS use.",
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Rows.

#[derive(Debug, Clone)]
struct ClusterRow {
    id: i64,
    name: String,
    arn: String,
    region: String,
    created_ms: i64,
    active_at_ms: i64,
    status: String,
    version: String,
    platform_version: String,
    role_arn: String,
    auth_mode: String,
    bootstrap_admin: bool,
    creator_arn: String,
    api_ready_at_ms: i64,
    settle_at_ms: Option<i64>,
    endpoint: String,
    tags_json: String,
    doc_json: String,
}

const CLUSTER_COLS: &str = "id, name, arn, region, created_ms, active_at_ms, status, version, \
    platform_version, role_arn, auth_mode, bootstrap_admin, creator_arn, api_ready_at_ms, \
    settle_at_ms, endpoint, tags_json, doc_json";

fn cluster_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ClusterRow> {
    Ok(ClusterRow {
        id: r.get(0)?,
        name: r.get(1)?,
        arn: r.get(2)?,
        region: r.get(3)?,
        created_ms: r.get(4)?,
        active_at_ms: r.get(5)?,
        status: r.get(6)?,
        version: r.get(7)?,
        platform_version: r.get(8)?,
        role_arn: r.get(9)?,
        auth_mode: r.get(10)?,
        bootstrap_admin: r.get(11)?,
        creator_arn: r.get(12)?,
        api_ready_at_ms: r.get(13)?,
        settle_at_ms: r.get(14)?,
        endpoint: r.get(15)?,
        tags_json: r.get(16)?,
        doc_json: r.get(17)?,
    })
}

fn find_cluster(conn: &Connection, ctx: &Ctx, name: &str) -> SimResult<Option<ClusterRow>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {CLUSTER_COLS} FROM eks_clusters WHERE account = ?1 AND region = ?2 AND name = ?3"
    ))?;
    Ok(st
        .query_row(
            params![ctx.caller.account, ctx.region, name],
            cluster_from_row,
        )
        .optional()?)
}

fn load_cluster(conn: &Connection, ctx: &Ctx, name: &str) -> SimResult<ClusterRow> {
    find_cluster(conn, ctx, name)?.ok_or_else(|| cluster_not_found(name))
}

impl ClusterRow {
    fn partition(&self) -> &'static str {
        crate::arn::partition_of(&self.region)
    }
    fn includes_api(&self) -> bool {
        self.auth_mode != CONFIG_MAP
    }
    fn due(&self, now: i64) -> bool {
        self.settle_at_ms.is_some_and(|t| t <= now)
    }
    fn to_cluster(&self) -> Cluster {
        let mut extra: BTreeMap<String, Box<serde_json::value::RawValue>> =
            serde_json::from_str(&self.doc_json).unwrap_or_default();
        let creating = self.status == "CREATING";
        // EKS echoes bootstrapClusterCreatorAdminPermissions only when CreateCluster was
        // given it (Terraform and Pulumi read it back as absent otherwise).
        let bootstrap_given = extra
            .remove(BOOTSTRAP_GIVEN)
            .is_some_and(|v| v.get() == "true");
        if creating {
            // AWS has no endpoint or certificate before the control plane is up.
            extra.remove("certificateAuthority");
        }
        Cluster {
            name: self.name.clone(),
            arn: self.arn.clone(),
            created_at: self.created_ms,
            version: self.version.clone(),
            endpoint: (!creating).then(|| self.endpoint.clone()),
            role_arn: self.role_arn.clone(),
            status: self.status.clone(),
            access_config: AccessConfig {
                bootstrap_cluster_creator_admin_permissions: bootstrap_given
                    .then_some(self.bootstrap_admin),
                authentication_mode: Some(self.auth_mode.clone()),
            },
            platform_version: self.platform_version.clone(),
            tags: parse_json(&self.tags_json),
            extra,
        }
    }
}

#[derive(Debug, Clone)]
struct EntryRow {
    principal_arn: String,
    kind: String,
    username: String,
    groups_json: String,
    tags_json: String,
    arn: String,
    created_ms: i64,
    modified_ms: i64,
    /// The version readers see while this one lags (see [`as_seen`]).
    prev: Option<PrevVersion>,
}

#[derive(Debug, Clone)]
struct PrevVersion {
    username: String,
    groups_json: String,
    modified_ms: i64,
}

const ENTRY_COLS: &str = "principal_arn, kind, username, groups_json, tags_json, arn, \
     created_ms, modified_ms, prev_username, prev_groups_json, prev_modified_ms";

fn entry_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EntryRow> {
    Ok(EntryRow {
        principal_arn: r.get(0)?,
        kind: r.get(1)?,
        username: r.get(2)?,
        groups_json: r.get(3)?,
        tags_json: r.get(4)?,
        arn: r.get(5)?,
        created_ms: r.get(6)?,
        modified_ms: r.get(7)?,
        prev: match (r.get(8)?, r.get(9)?, r.get(10)?) {
            (Some(username), Some(groups_json), Some(modified_ms)) => Some(PrevVersion {
                username,
                groups_json,
                modified_ms,
            }),
            _ => None,
        },
    })
}

impl EntryRow {
    fn to_entry(&self, cluster: &str) -> AccessEntry {
        AccessEntry {
            cluster_name: cluster.to_string(),
            principal_arn: self.principal_arn.clone(),
            kubernetes_groups: parse_json(&self.groups_json),
            access_entry_arn: self.arn.clone(),
            created_at: self.created_ms,
            modified_at: self.modified_ms,
            tags: parse_json(&self.tags_json),
            username: self.username.clone(),
            kind: self.kind.clone(),
        }
    }
}

fn find_entry(conn: &Connection, cluster_id: i64, principal: &str) -> SimResult<Option<EntryRow>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {ENTRY_COLS} FROM eks_access_entries WHERE cluster_id = ?1 AND principal_arn = ?2"
    ))?;
    Ok(st
        .query_row(params![cluster_id, principal], entry_from_row)
        .optional()?)
}

/// Newest modification time readers can see at `now` (`read_lag_ms`).
fn lag_cut(settings: &Settings, now: i64) -> i64 {
    if settings.read_lag_ms == 0 {
        i64::MAX
    } else {
        now - settings.read_lag_ms as i64
    }
}

/// The entry as list/describe see it at `now`: a version changed less than `read_lag_ms`
/// ago is not visible yet, so an updated entry reads as its previous version and a new
/// one is not there at all.
fn as_seen(e: EntryRow, settings: &Settings, now: i64) -> Option<EntryRow> {
    let cut = lag_cut(settings, now);
    if e.modified_ms <= cut {
        return Some(e);
    }
    let prev = e.prev.clone().filter(|p| p.modified_ms <= cut)?;
    Some(EntryRow {
        username: prev.username,
        groups_json: prev.groups_json,
        modified_ms: prev.modified_ms,
        ..e
    })
}

// ---------------------------------------------------------------------------------------
// Settling due transitions.

/// Applies every transition of `c` due at `now`, in order, and stores the result. Returns
/// the settled row.
fn settle(
    tx: &Connection,
    settings: &Settings,
    mut c: ClusterRow,
    now: i64,
) -> SimResult<ClusterRow> {
    if !c.due(now) {
        return Ok(c);
    }
    if c.status == "CREATING" && c.active_at_ms <= now {
        c.status = "ACTIVE".into();
    }
    // Config updates, oldest first.
    let due_updates: Vec<(String, String, i64)> = {
        let mut st = tx.prepare_cached(
            "SELECT id, params_json, due_ms FROM eks_updates \
             WHERE cluster_id = ?1 AND status = 'InProgress' AND due_ms <= ?2 ORDER BY seq",
        )?;
        let rows = st.query_map(params![c.id, now], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    for (id, params_json, due_ms) in due_updates {
        let params: Vec<serde_json::Value> = parse_json(&params_json);
        let target = params
            .iter()
            .find(|p| p["type"] == "AuthenticationMode")
            .and_then(|p| p["value"].as_str())
            .map(str::to_string);
        if let Some(mode) = target {
            let was_api = c.includes_api();
            c.auth_mode = mode;
            c.api_ready_at_ms = due_ms + settings.propagation_ms as i64;
            if !was_api && c.includes_api() {
                enable_api(tx, settings, &c, due_ms)?;
            }
        }
        tx.prepare_cached("UPDATE eks_updates SET status = 'Successful' WHERE id = ?1")?
            .execute(params![id])?;
    }
    // Node groups.
    tx.prepare_cached(
        "UPDATE eks_nodegroups SET status = 'ACTIVE' \
         WHERE cluster_id = ?1 AND status = 'CREATING' AND active_at_ms <= ?2",
    )?
    .execute(params![c.id, now])?;
    recompute_pending(tx, &mut c, now)?;
    tx.prepare_cached(
        "UPDATE eks_clusters SET status = ?2, auth_mode = ?3, api_ready_at_ms = ?4, \
         settle_at_ms = ?5 WHERE id = ?1",
    )?
    .execute(params![
        c.id,
        c.status,
        c.auth_mode,
        c.api_ready_at_ms,
        c.settle_at_ms
    ])?;
    Ok(c)
}

/// Sets `status` (UPDATING while an update runs) and `settle_at_ms` from what is pending.
fn recompute_pending(tx: &Connection, c: &mut ClusterRow, now: i64) -> SimResult<()> {
    let upd: Option<i64> = tx
        .prepare_cached(
            "SELECT MIN(due_ms) FROM eks_updates WHERE cluster_id = ?1 AND status = 'InProgress'",
        )?
        .query_row(params![c.id], |r| r.get(0))?;
    let ng: Option<i64> = tx
        .prepare_cached(
            "SELECT MIN(active_at_ms) FROM eks_nodegroups WHERE cluster_id = ?1 AND status = 'CREATING'",
        )?
        .query_row(params![c.id], |r| r.get(0))?;
    let creating = (c.active_at_ms > now).then_some(c.active_at_ms);
    c.settle_at_ms = [upd, ng, creating].into_iter().flatten().min();
    if c.status != "CREATING" {
        c.status = if upd.is_some() { "UPDATING" } else { "ACTIVE" }.into();
    }
    Ok(())
}

/// What EKS does by itself when a cluster's mode first includes API: entries for the
/// creator (with cluster admin) and for the node roles of its managed node groups.
fn enable_api(tx: &Connection, settings: &Settings, c: &ClusterRow, at: i64) -> SimResult<()> {
    if c.bootstrap_admin && settings.bootstrap_creator_admin {
        if let Some(p) = parse_principal_arn(&c.creator_arn) {
            if find_entry(tx, c.id, &c.creator_arn)?.is_none() {
                insert_entry(
                    tx,
                    c,
                    &c.creator_arn,
                    &p,
                    "STANDARD",
                    None,
                    &[],
                    &TagMap::new(),
                    at,
                )?;
            }
            let policy = policies::policy_arn(c.partition(), policies::CLUSTER_ADMIN_POLICY);
            tx.prepare_cached(
                "INSERT OR IGNORE INTO eks_policy_assocs \
                 (cluster_id, principal_arn, policy_arn, scope_type, namespaces_json, associated_ms, modified_ms) \
                 VALUES (?1, ?2, ?3, 'cluster', '[]', ?4, ?4)",
            )?
            .execute(params![c.id, c.creator_arn, policy, at])?;
        }
    }
    if settings.auto_node_entries {
        let roles: Vec<String> = {
            let mut st = tx.prepare_cached(
                "SELECT DISTINCT node_role FROM eks_nodegroups WHERE cluster_id = ?1",
            )?;
            let rows = st.query_map(params![c.id], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for role in roles {
            add_node_entry(tx, c, &role, at)?;
        }
    }
    Ok(())
}

fn add_node_entry(tx: &Connection, c: &ClusterRow, role: &str, at: i64) -> SimResult<()> {
    if let Some(p) = parse_principal_arn(role) {
        if find_entry(tx, c.id, role)?.is_none() {
            insert_entry(tx, c, role, &p, "EC2_LINUX", None, &[], &TagMap::new(), at)?;
        }
    }
    Ok(())
}

/// The Kubernetes groups EKS itself puts a node entry in (the AWS CLI reference shows an
/// EC2_LINUX entry answering `kubernetesGroups: ["system:nodes"]`). Other types: not
/// documented, so none.
fn default_groups(kind: &str) -> Vec<String> {
    match kind {
        "EC2_LINUX" => vec!["system:nodes".to_string()],
        _ => Vec::new(),
    }
}

#[allow(clippy::too_many_arguments)]
fn insert_entry(
    tx: &Connection,
    c: &ClusterRow,
    principal_arn: &str,
    p: &PrincipalArn,
    kind: &str,
    username: Option<&str>,
    groups: &[String],
    tags: &TagMap,
    at: i64,
) -> SimResult<EntryRow> {
    let username = username
        .map(str::to_string)
        .unwrap_or_else(|| default_username(kind, p, principal_arn));
    let groups = if groups.is_empty() {
        default_groups(kind)
    } else {
        groups.to_vec()
    };
    let arn = format!(
        "arn:{}:eks:{}:{}:access-entry/{}/{}/{}/{}/{}",
        c.partition(),
        c.region,
        // the cluster's account: the ARN of a resource in that account
        c.arn.split(':').nth(4).unwrap_or_default(),
        c.name,
        if p.is_role { "role" } else { "user" },
        p.account,
        p.name,
        uuid()
    );
    let row = EntryRow {
        principal_arn: principal_arn.to_string(),
        kind: kind.to_string(),
        username,
        groups_json: serde_json::to_string(&groups).unwrap_or_else(|_| "[]".into()),
        tags_json: tags_json(tags),
        arn,
        created_ms: at,
        modified_ms: at,
        prev: None,
    };
    tx.prepare_cached(&format!(
        "INSERT INTO eks_access_entries (cluster_id, {ENTRY_COLS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, NULL, NULL)"
    ))?
    .execute(params![
        c.id,
        row.principal_arn,
        row.kind,
        row.username,
        row.groups_json,
        row.tags_json,
        row.arn,
        row.created_ms,
        row.modified_ms
    ])?;
    Ok(row)
}

/// The clientRequestToken a stored cluster or node group document was created with.
fn stored_token(doc_json: &str) -> Option<String> {
    serde_json::from_str::<Value>(doc_json)
        .ok()?
        .get("clientRequestToken")?
        .as_str()
        .map(str::to_string)
}

/// What an earlier call with this clientRequestToken made, if any.
fn token_result(
    tx: &Connection,
    cluster_id: i64,
    op: &str,
    token: Option<&str>,
) -> SimResult<Option<String>> {
    let Some(token) = token else { return Ok(None) };
    Ok(tx
        .prepare_cached(
            "SELECT result FROM eks_tokens WHERE cluster_id = ?1 AND op = ?2 AND token = ?3",
        )?
        .query_row(params![cluster_id, op, token], |r| r.get(0))
        .optional()?)
}

fn remember_token(
    tx: &Connection,
    cluster_id: i64,
    op: &str,
    token: Option<&str>,
    result: &str,
) -> SimResult<()> {
    if let Some(token) = token {
        tx.prepare_cached(
            "INSERT OR REPLACE INTO eks_tokens (cluster_id, op, token, result) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![cluster_id, op, token, result])?;
    }
    Ok(())
}

fn load_update(conn: &Connection, cluster_id: i64, id: &str) -> SimResult<Option<Update>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, kind, status, created_ms, params_json FROM eks_updates \
             WHERE cluster_id = ?1 AND id = ?2 AND kind != 'ConfigUpdate'",
        )?
        .query_row(params![cluster_id, id], update_from_row)
        .optional()?)
}

/// Runs `f` on the settled cluster `name`: in a read transaction when nothing is due
/// (the common case), else in a write transaction that settles first.
fn with_cluster_read<T>(
    sim: &Sim,
    ctx: &Ctx,
    name: &str,
    needs_settings: bool,
    f: impl Fn(&Connection, &Settings, &ClusterRow) -> SimResult<T>,
) -> SimResult<T> {
    let fast = sim.store.read(|conn| {
        let c = load_cluster(conn, ctx, name)?;
        if c.due(ctx.now_ms) {
            return Ok(None);
        }
        // Only the access-entry reads look at settings (read lag); skip the lookup on
        // the others' hot path.
        let settings = if needs_settings {
            crate::settings::load(conn)?
        } else {
            Settings::default()
        };
        f(conn, &settings, &c).map(Some)
    })?;
    if let Some(out) = fast {
        return Ok(out);
    }
    sim.store.write(|tx| {
        let settings = crate::settings::load(tx)?;
        let c = settle(tx, &settings, load_cluster(tx, ctx, name)?, ctx.now_ms)?;
        f(tx, &settings, &c)
    })
}

/// Runs `f` on the settled cluster `name` in a write transaction.
fn with_cluster_write<T>(
    sim: &Sim,
    ctx: &Ctx,
    name: &str,
    f: impl FnOnce(&Connection, &Settings, ClusterRow) -> SimResult<T>,
) -> SimResult<T> {
    sim.store.write(|tx| {
        let settings = crate::settings::load(tx)?;
        let c = settle(tx, &settings, load_cluster(tx, ctx, name)?, ctx.now_ms)?;
        f(tx, &settings, c)
    })
}

// ---------------------------------------------------------------------------------------
// Clusters.

pub fn create_cluster(sim: &Sim, ctx: &Ctx, input: CreateClusterInput) -> SimResult<Cluster> {
    check_name("Cluster", &input.name)?;
    let mode = input
        .access_config
        .as_ref()
        .and_then(|a| a.authentication_mode.clone())
        .unwrap_or_else(|| CONFIG_MAP.to_string());
    if ![CONFIG_MAP, API_AND_CONFIG_MAP, API].contains(&mode.as_str()) {
        return Err(invalid_param(format!(
            "The authenticationMode '{mode}' is invalid. Valid values: API, API_AND_CONFIG_MAP, CONFIG_MAP."
        )));
    }
    let bootstrap = input
        .access_config
        .as_ref()
        .and_then(|a| a.bootstrap_cluster_creator_admin_permissions)
        .unwrap_or(true);
    if mode == CONFIG_MAP && !bootstrap {
        return Err(invalid_param(
            "bootstrapClusterCreatorAdminPermissions must be true if cluster authentication \
             mode is set to CONFIG_MAP",
        ));
    }
    let version = input
        .version
        .clone()
        .unwrap_or_else(|| DEFAULT_K8S_VERSION.to_string());
    if !SUPPORTED_VERSIONS.contains(&version.as_str()) {
        return Err(invalid_param(format!(
            "unsupported Kubernetes version {version}"
        )));
    }
    check_tags(&input.tags)?;
    let network = network_doc(input.kubernetes_network_config.as_ref())?;
    let logging = logging_doc(input.logging.as_ref())?;
    let now = ctx.now_ms;
    let partition = ctx.partition();
    let account = ctx.caller.account.clone();
    sim.store.write(|tx| {
        let settings = crate::settings::load(tx)?;
        let role_ok = is_role_in(tx, &input.role_arn, partition)?;
        if !role_ok {
            // AWS's wording (it cannot tell a missing role from an untrusting one).
            return Err(invalid_param(format!(
                "Role with arn: {}, could not be assumed because it does not exist or the \
                 trusted entity is not correct",
                input.role_arn
            )));
        }
        subnets::check_cluster_subnets(&ctx.region, &input.resources_vpc_config.subnet_ids)?;
        if let Some(existing) = find_cluster(tx, ctx, &input.name)? {
            // A retry of the call that made it (SDKs fill clientRequestToken in, and resend
            // it when an answer was lost) gets the cluster, not a conflict.
            if input.client_request_token.is_some()
                && stored_token(&existing.doc_json) == input.client_request_token
            {
                return Ok(settle(tx, &settings, existing, now)?.to_cluster());
            }
            return Err(in_use(format!(
                "Cluster already exists with name: {}",
                input.name
            )));
        }
        let arn = format!(
            "arn:{partition}:eks:{}:{account}:cluster/{}",
            ctx.region, input.name
        );
        let host = hex32();
        let suffix = dns_suffix(partition);
        let endpoint = format!(
            "https://{host}.gr7.{}.eks.{suffix}",
            ctx.region
        );
        let vpc = &input.resources_vpc_config;
        let doc = serde_json::json!({
            "resourcesVpcConfig": {
                "subnetIds": vpc.subnet_ids,
                "securityGroupIds": vpc.security_group_ids,
                "clusterSecurityGroupId": format!("sg-{}", &hex32()[..17].to_lowercase()),
                "vpcId": format!("vpc-{}", &hex32()[..17].to_lowercase()),
                "endpointPublicAccess": vpc.endpoint_public_access.unwrap_or(true),
                "endpointPrivateAccess": vpc.endpoint_private_access.unwrap_or(false),
                "publicAccessCidrs": vpc.public_access_cidrs.clone().unwrap_or_else(|| vec!["0.0.0.0/0".into()]),
            },
            "kubernetesNetworkConfig": network,
            "logging": logging,
            "identity": {"oidc": {"issuer": format!("https://oidc.eks.{}.{suffix}/id/{host}", ctx.region)}},
            "certificateAuthority": {"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUNTSU1VTEFURUQKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="},
            "health": {"issues": []},
            "upgradePolicy": {"supportType": "EXTENDED"},
        });
        let mut doc = doc;
        let bootstrap_given = input
            .access_config
            .as_ref()
            .is_some_and(|a| a.bootstrap_cluster_creator_admin_permissions.is_some());
        if let Some(obj) = doc.as_object_mut() {
            obj.insert(BOOTSTRAP_GIVEN.into(), serde_json::Value::Bool(bootstrap_given));
        }
        if let (Some(t), Some(obj)) = (&input.client_request_token, doc.as_object_mut()) {
            obj.insert("clientRequestToken".into(), serde_json::Value::String(t.clone()));
        }
        let active_at = now + settings.cluster_create_ms as i64;
        let status = if active_at > now { "CREATING" } else { "ACTIVE" };
        tx.prepare_cached(
            "INSERT INTO eks_clusters (account, region, name, arn, created_ms, active_at_ms, status, \
             version, platform_version, role_arn, auth_mode, bootstrap_admin, creator_arn, \
             api_ready_at_ms, settle_at_ms, endpoint, tags_json, doc_json) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        )?
        .execute(params![
            account,
            ctx.region,
            input.name,
            arn,
            now,
            active_at,
            status,
            version,
            platform_version(&version),
            input.role_arn,
            mode,
            bootstrap,
            ctx.caller.principal_arn,
            now,
            (active_at > now).then_some(active_at),
            endpoint,
            tags_json(&input.tags),
            doc.to_string(),
        ])?;
        let c = load_cluster(tx, ctx, &input.name)?;
        if c.includes_api() {
            enable_api(tx, &settings, &c, now)?;
        }
        Ok(c.to_cluster())
    })
}

pub fn describe_cluster(sim: &Sim, ctx: &Ctx, name: &str) -> SimResult<Cluster> {
    with_cluster_read(sim, ctx, name, false, |_, _, c| Ok(c.to_cluster()))
}

pub fn list_clusters(
    sim: &Sim,
    ctx: &Ctx,
    max_results: Option<i32>,
    next_token: Option<&str>,
) -> SimResult<Page<String>> {
    let max = check_max_results(max_results)?;
    let after = decode_token(next_token)?;
    sim.store.read(|conn| {
        let mut st = conn.prepare_cached(
            "SELECT name FROM eks_clusters WHERE account = ?1 AND region = ?2 AND name > ?3 \
             ORDER BY name LIMIT ?4",
        )?;
        let rows = st.query_map(
            params![
                ctx.caller.account,
                ctx.region,
                after.as_deref().unwrap_or(""),
                (max + 1) as i64
            ],
            |r| r.get::<_, String>(0),
        )?;
        let names: Vec<String> = rows.collect::<Result<_, _>>()?;
        Ok(page_from_limited(names, max))
    })
}

pub fn delete_cluster(sim: &Sim, ctx: &Ctx, name: &str) -> SimResult<Cluster> {
    with_cluster_write(sim, ctx, name, |tx, _, c| {
        let ngs: i64 = tx
            .prepare_cached("SELECT COUNT(*) FROM eks_nodegroups WHERE cluster_id = ?1")?
            .query_row(params![c.id], |r| r.get(0))?;
        if ngs > 0 {
            return Err(in_use("Cluster has nodegroups attached"));
        }
        let mut out = c.to_cluster();
        out.status = "DELETING".into();
        tx.prepare_cached("DELETE FROM eks_policy_assocs WHERE cluster_id = ?1")?
            .execute(params![c.id])?;
        tx.prepare_cached("DELETE FROM eks_clusters WHERE id = ?1")?
            .execute(params![c.id])?;
        Ok(out)
    })
}

fn update_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Update> {
    let params_json: String = r.get(4)?;
    let params: Vec<serde_json::Value> = parse_json(&params_json);
    Ok(Update {
        id: r.get(0)?,
        kind: r.get(1)?,
        status: r.get(2)?,
        created_at: r.get(3)?,
        params: params
            .iter()
            .map(|p| UpdateParam {
                kind: p["type"].as_str().unwrap_or_default().to_string(),
                value: p["value"].as_str().unwrap_or_default().to_string(),
            })
            .collect(),
        errors: vec![],
    })
}

pub fn update_cluster_config(
    sim: &Sim,
    ctx: &Ctx,
    input: UpdateClusterConfigInput,
) -> SimResult<Update> {
    if !input.other_members.is_empty() {
        return Err(invalid_param(format!(
            "The simulator supports only accessConfig updates; {} cannot be updated here.",
            input.other_members.join(", ")
        )));
    }
    let Some(target) = input.authentication_mode.clone() else {
        return Err(invalid_param(if input.access_config_present {
            "accessConfig.authenticationMode must be specified."
        } else {
            "No changes needed: specify accessConfig with an authenticationMode to update."
        }));
    };
    if ![CONFIG_MAP, API_AND_CONFIG_MAP, API].contains(&target.as_str()) {
        return Err(invalid_param(format!(
            "The authenticationMode '{target}' is invalid. Valid values: API, API_AND_CONFIG_MAP, CONFIG_MAP."
        )));
    }
    let now = ctx.now_ms;
    with_cluster_write(sim, ctx, &input.name, |tx, settings, mut c| {
        let token = input.client_request_token.as_deref();
        if let Some(id) = token_result(tx, c.id, "UpdateClusterConfig", token)? {
            if let Some(u) = load_update(tx, c.id, &id)? {
                return Ok(u);
            }
        }
        if c.status == "CREATING" {
            return Err(in_use(format!(
                "Cluster {} is currently being created. Wait until it is ACTIVE to update it.",
                c.name
            )));
        }
        let running: i64 = tx
            .prepare_cached(
                "SELECT COUNT(*) FROM eks_updates WHERE cluster_id = ?1 AND status = 'InProgress'",
            )?
            .query_row(params![c.id], |r| r.get(0))?;
        if running > 0 {
            return Err(in_use(
                "Cannot update cluster because an update is already in progress.",
            ));
        }
        let allowed = matches!(
            (c.auth_mode.as_str(), target.as_str()),
            (CONFIG_MAP, API_AND_CONFIG_MAP) | (API_AND_CONFIG_MAP, API)
        );
        if !allowed {
            return Err(invalid_param(format!(
                "Unsupported authentication mode update from {} to {}",
                c.auth_mode, target
            )));
        }
        let id = uuid();
        let params_json = serde_json::json!([{"type": "AuthenticationMode", "value": target}]);
        let seq: i64 = tx
            .prepare_cached(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM eks_updates WHERE cluster_id = ?1",
            )?
            .query_row(params![c.id], |r| r.get(0))?;
        let due = now + settings.update_ms as i64;
        tx.prepare_cached(
            "INSERT INTO eks_updates (id, cluster_id, seq, kind, status, params_json, created_ms, due_ms) \
             VALUES (?1, ?2, ?3, 'AccessConfigUpdate', 'InProgress', ?4, ?5, ?6)",
        )?
        .execute(params![id, c.id, seq, params_json.to_string(), now, due])?;
        remember_token(tx, c.id, "UpdateClusterConfig", token, &id)?;
        let update = Update {
            id: id.clone(),
            status: "InProgress".into(),
            kind: "AccessConfigUpdate".into(),
            params: vec![UpdateParam {
                kind: "AuthenticationMode".into(),
                value: target.clone(),
            }],
            created_at: now,
            errors: vec![],
        };
        recompute_pending(tx, &mut c, now)?;
        tx.prepare_cached("UPDATE eks_clusters SET status = ?2, settle_at_ms = ?3 WHERE id = ?1")?
            .execute(params![c.id, c.status, c.settle_at_ms])?;
        // A zero duration completes at once (still through the same path).
        settle(tx, settings, c, now)?;
        Ok(update)
    })
}

pub fn describe_update(
    sim: &Sim,
    ctx: &Ctx,
    name: &str,
    update_id: &str,
    nodegroup: Option<&str>,
) -> SimResult<Update> {
    if let Some(ng) = nodegroup {
        return nodegroup_config::describe_nodegroup_update(sim, ctx, name, ng, update_id);
    }
    with_cluster_read(sim, ctx, name, false, |conn, _, c| {
        load_update(conn, c.id, update_id)?
            .ok_or_else(|| not_found(format!("No update found for ID: {update_id}")))
    })
}

pub fn list_updates(
    sim: &Sim,
    ctx: &Ctx,
    name: &str,
    nodegroup: Option<&str>,
    max_results: Option<i32>,
    next_token: Option<&str>,
) -> SimResult<Page<String>> {
    let max = check_max_results(max_results)?;
    let after = decode_token(next_token)?;
    with_cluster_read(sim, ctx, name, false, |conn, _, c| {
        if let Some(ng) = nodegroup {
            find_nodegroup(conn, c.id, ng)?.ok_or_else(|| nodegroup_not_found(ng))?;
            return Ok(Page {
                items: vec![],
                next_token: None,
            });
        }
        let ids: Vec<String> = {
            let mut st = conn
                .prepare_cached("SELECT id FROM eks_updates WHERE cluster_id = ?1 AND kind != 'ConfigUpdate' ORDER BY id")?;
            let rows = st.query_map(params![c.id], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        Ok(page_of(&ids, |s| s.as_str(), after.as_deref(), max))
    })
}

// ---------------------------------------------------------------------------------------
// Access entries.

fn require_api(c: &ClusterRow) -> SimResult<()> {
    if c.includes_api() {
        Ok(())
    } else {
        Err(mode_refused())
    }
}

fn check_groups(groups: &[String]) -> SimResult<()> {
    for g in groups {
        if g.is_empty() {
            return Err(invalid_param(
                "kubernetesGroups must not contain empty names.",
            ));
        }
        if g.starts_with("system:") {
            return Err(invalid_param(format!(
                "The kubernetes group name {g} is invalid, it cannot start with system:"
            )));
        }
    }
    Ok(())
}

fn check_username(u: &str) -> SimResult<()> {
    if u.is_empty() {
        return Err(invalid_param("username must not be empty."));
    }
    for prefix in ["system:", "eks:", "aws:", "amazon:", "iam:"] {
        if u.starts_with(prefix) {
            return Err(invalid_param(format!(
                "The username must not begin with {prefix}"
            )));
        }
    }
    if let Some(i) = u.find("{{SessionName") {
        if !u[..i].contains(':') {
            return Err(invalid_param(format!(
                "The username '{u}' is invalid: a colon must precede {{{{SessionName}}}}."
            )));
        }
    }
    Ok(())
}

/// Whether `arn` names an existing IAM role in `partition`.
fn is_role_in(conn: &Connection, arn: &str, partition: &str) -> SimResult<bool> {
    let in_partition =
        parse_principal_arn(arn).is_some_and(|p| p.is_role && p.partition == partition);
    Ok(in_partition
        && matches!(
            iam::lookup_principal(conn, arn)?,
            Some(p) if matches!(p.kind, PrincipalKind::Role)
        ))
}

/// Checks `arn` as an access-entry principal: well-formed IAM role/user ARN, not a
/// service-linked role, existing in IAM. Returns the parsed ARN.
fn check_principal(conn: &Connection, arn: &str, partition: &str) -> SimResult<PrincipalArn> {
    let p = parse_principal_arn(arn).ok_or_else(invalid_principal)?;
    // IAM principals live in the cluster's partition; an `aws` ARN names nothing in China.
    if p.partition != partition {
        return Err(invalid_principal());
    }
    if p.is_role && p.path.starts_with("/aws-service-role/") {
        return Err(invalid_param(
            "The specified principalArn is invalid: access entries do not support service-linked roles.",
        ));
    }
    let found = iam::lookup_principal(conn, arn)?;
    match found {
        Some(pr) if matches!(pr.kind, PrincipalKind::Role) == p.is_role => Ok(p),
        _ => Err(invalid_principal()),
    }
}

pub fn create_access_entry(
    sim: &Sim,
    ctx: &Ctx,
    input: CreateAccessEntryInput,
) -> SimResult<AccessEntry> {
    let now = ctx.now_ms;
    with_cluster_write(sim, ctx, &input.cluster_name, |tx, _, c| {
        require_api(&c)?;
        let token = input.client_request_token.as_deref();
        if token_result(tx, c.id, "CreateAccessEntry", token)?.as_deref()
            == Some(input.principal_arn.as_str())
        {
            if let Some(e) = find_entry(tx, c.id, &input.principal_arn)? {
                return Ok(e.to_entry(&c.name));
            }
        }
        if now < c.api_ready_at_ms {
            // The mode change has not propagated yet: EKS still answers as for CONFIG_MAP.
            return Err(mode_refused());
        }
        let kind = input.kind.clone().unwrap_or_else(|| "STANDARD".to_string());
        if !ENTRY_TYPES.contains(&kind.as_str()) {
            return Err(invalid_param(format!(
                "The type '{kind}' is invalid. Valid types: {}.",
                ENTRY_TYPES.join(", ")
            )));
        }
        let groups = input.kubernetes_groups.clone().unwrap_or_default();
        if kind != "STANDARD" {
            if !groups.is_empty() {
                return Err(invalid_param(format!(
                    "kubernetesGroups cannot be specified for access entries of type {kind}."
                )));
            }
            if input.username.is_some() {
                return Err(invalid_param(format!(
                    "username cannot be specified for access entries of type {kind}."
                )));
            }
        }
        check_groups(&groups)?;
        if let Some(u) = &input.username {
            check_username(u)?;
        }
        check_tags(&input.tags)?;
        let p = check_principal(tx, &input.principal_arn, c.partition())?;
        let cluster_account = c.arn.split(':').nth(4).unwrap_or_default();
        if kind != "STANDARD" && p.account != cluster_account {
            return Err(invalid_param(format!(
                "The principalArn must be in the cluster's account ({cluster_account}) for access entries of type {kind}."
            )));
        }
        if kind != "STANDARD" && !p.is_role {
            return Err(invalid_param(format!(
                "Access entries of type {kind} require an IAM role principal."
            )));
        }
        if find_entry(tx, c.id, &input.principal_arn)?.is_some() {
            return Err(in_use(
                "The specified access entry resource is already in use on this cluster.",
            ));
        }
        let row = insert_entry(
            tx,
            &c,
            &input.principal_arn,
            &p,
            &kind,
            input.username.as_deref(),
            &groups,
            &input.tags,
            now,
        )?;
        remember_token(tx, c.id, "CreateAccessEntry", token, &input.principal_arn)?;
        Ok(row.to_entry(&c.name))
    })
}

pub fn describe_access_entry(
    sim: &Sim,
    ctx: &Ctx,
    cluster: &str,
    principal_arn: &str,
) -> SimResult<AccessEntry> {
    with_cluster_read(sim, ctx, cluster, true, |conn, settings, c| {
        require_api(c)?;
        match find_entry(conn, c.id, principal_arn)? {
            Some(e) => as_seen(e, settings, ctx.now_ms)
                .map(|e| e.to_entry(&c.name))
                .ok_or_else(entry_not_found),
            None => Err(entry_not_found()),
        }
    })
}

pub fn list_access_entries(
    sim: &Sim,
    ctx: &Ctx,
    cluster: &str,
    associated_policy_arn: Option<&str>,
    max_results: Option<i32>,
    next_token: Option<&str>,
) -> SimResult<Page<String>> {
    let max = check_max_results(max_results)?;
    let after = decode_token(next_token)?;
    with_cluster_read(sim, ctx, cluster, true, |conn, settings, c| {
        require_api(c)?;
        if let Some(p) = associated_policy_arn {
            if policies::policy_name(c.partition(), p).is_none() {
                return Err(invalid_param(format!(
                    "The specified associatedPolicyArn '{p}' is invalid."
                )));
            }
        }
        // An entry is listed once any version of it is visible (an update does not hide it).
        let lag_cut = lag_cut(settings, ctx.now_ms);
        let after_key = after.as_deref().unwrap_or("");
        let limit = (max + 1) as i64;
        let arns: Vec<String> = match associated_policy_arn {
            None => {
                let mut st = conn.prepare_cached(
                    "SELECT principal_arn FROM eks_access_entries WHERE cluster_id = ?1 \
                     AND principal_arn > ?2 AND (modified_ms <= ?3 OR prev_modified_ms <= ?3) \
                     ORDER BY principal_arn LIMIT ?4",
                )?;
                let rows = st.query_map(params![c.id, after_key, lag_cut, limit], |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            }
            Some(policy) => {
                let mut st = conn.prepare_cached(
                    "SELECT e.principal_arn FROM eks_access_entries e JOIN eks_policy_assocs a \
                     ON a.cluster_id = e.cluster_id AND a.principal_arn = e.principal_arn \
                     WHERE e.cluster_id = ?1 AND a.policy_arn = ?5 AND e.principal_arn > ?2 \
                     AND (e.modified_ms <= ?3 OR e.prev_modified_ms <= ?3) \
                     ORDER BY e.principal_arn LIMIT ?4",
                )?;
                let rows = st.query_map(params![c.id, after_key, lag_cut, limit, policy], |r| {
                    r.get(0)
                })?;
                rows.collect::<Result<_, _>>()?
            }
        };
        Ok(page_from_limited(arns, max))
    })
}

pub fn update_access_entry(
    sim: &Sim,
    ctx: &Ctx,
    input: UpdateAccessEntryInput,
) -> SimResult<AccessEntry> {
    let now = ctx.now_ms;
    with_cluster_write(sim, ctx, &input.cluster_name, |tx, settings, c| {
        require_api(&c)?;
        let mut e = find_entry(tx, c.id, &input.principal_arn)?.ok_or_else(entry_not_found)?;
        // AWS checks the values before the entry's type (an EC2_LINUX entry updated with
        // username system:node:… is refused for the `system:` prefix).
        if let Some(g) = &input.kubernetes_groups {
            check_groups(g)?;
        }
        if let Some(u) = &input.username {
            check_username(u)?;
        }
        if e.kind != "STANDARD" {
            if input
                .kubernetes_groups
                .as_ref()
                .is_some_and(|g| !g.is_empty())
            {
                return Err(invalid_param(format!(
                    "kubernetesGroups cannot be specified for access entries of type {}.",
                    e.kind
                )));
            }
            if input.username.is_some() {
                return Err(invalid_param(format!(
                    "username cannot be specified for access entries of type {}.",
                    e.kind
                )));
            }
        }
        let (old_username, old_groups_json) = (e.username.clone(), e.groups_json.clone());
        // An empty list on a node entry leaves the groups EKS gave it.
        if let Some(g) = input
            .kubernetes_groups
            .as_ref()
            .filter(|_| e.kind == "STANDARD")
        {
            e.groups_json = serde_json::to_string(g).unwrap_or_else(|_| "[]".into());
        }
        if let Some(u) = &input.username {
            e.username = u.clone();
        }
        // Readers keep seeing the newest version visible now until this one is; a version
        // that is itself still lagging never becomes visible, so the older one stays.
        let prev = if e.modified_ms <= lag_cut(settings, now) {
            Some(PrevVersion {
                username: old_username,
                groups_json: old_groups_json,
                modified_ms: e.modified_ms,
            })
        } else {
            e.prev.take()
        };
        e.modified_ms = now;
        tx.prepare_cached(
            "UPDATE eks_access_entries SET groups_json = ?3, username = ?4, modified_ms = ?5, \
             prev_username = ?6, prev_groups_json = ?7, prev_modified_ms = ?8 \
             WHERE cluster_id = ?1 AND principal_arn = ?2",
        )?
        .execute(params![
            c.id,
            e.principal_arn,
            e.groups_json,
            e.username,
            e.modified_ms,
            prev.as_ref().map(|p| &p.username),
            prev.as_ref().map(|p| &p.groups_json),
            prev.as_ref().map(|p| p.modified_ms),
        ])?;
        e.prev = prev;
        Ok(e.to_entry(&c.name))
    })
}

pub fn delete_access_entry(
    sim: &Sim,
    ctx: &Ctx,
    cluster: &str,
    principal_arn: &str,
) -> SimResult<()> {
    with_cluster_write(sim, ctx, cluster, |tx, _, c| {
        require_api(&c)?;
        find_entry(tx, c.id, principal_arn)?.ok_or_else(entry_not_found)?;
        tx.prepare_cached(
            "DELETE FROM eks_policy_assocs WHERE cluster_id = ?1 AND principal_arn = ?2",
        )?
        .execute(params![c.id, principal_arn])?;
        tx.prepare_cached(
            "DELETE FROM eks_access_entries WHERE cluster_id = ?1 AND principal_arn = ?2",
        )?
        .execute(params![c.id, principal_arn])?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------
// Access policies.

fn check_scope(scope: &AccessScope) -> SimResult<AccessScope> {
    match scope.kind.as_deref() {
        Some("cluster") => {
            if !scope.namespaces.is_empty() {
                return Err(invalid_param(
                    "namespaces cannot be specified when the accessScope type is cluster.",
                ));
            }
            Ok(AccessScope {
                kind: Some("cluster".into()),
                namespaces: vec![],
            })
        }
        Some("namespace") => {
            if scope.namespaces.is_empty() {
                return Err(invalid_param(
                    "At least one namespace must be specified when the accessScope type is namespace.",
                ));
            }
            let mut seen = std::collections::BTreeSet::new();
            for ns in &scope.namespaces {
                if !valid_namespace(ns) {
                    return Err(invalid_param(format!(
                        "The namespace '{ns}' is invalid: it must be a valid Kubernetes namespace name (a DNS-1123 label), optionally ending with '*'."
                    )));
                }
                if !seen.insert(ns.as_str()) {
                    return Err(invalid_param(format!("Duplicate namespace '{ns}'.")));
                }
            }
            Ok(AccessScope {
                kind: Some("namespace".into()),
                namespaces: scope.namespaces.clone(),
            })
        }
        Some(other) => Err(invalid_param(format!(
            "The accessScope type '{other}' is invalid. Valid values: cluster, namespace."
        ))),
        None => Err(invalid_param("accessScope.type must be specified.")),
    }
}

fn assoc_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AssociatedAccessPolicy> {
    let scope_type: String = r.get(1)?;
    let ns: String = r.get(2)?;
    Ok(AssociatedAccessPolicy {
        policy_arn: r.get(0)?,
        access_scope: AccessScope {
            kind: Some(scope_type),
            namespaces: parse_json(&ns),
        },
        associated_at: r.get(3)?,
        modified_at: r.get(4)?,
    })
}

pub fn associate_access_policy(
    sim: &Sim,
    ctx: &Ctx,
    cluster: &str,
    principal_arn: &str,
    policy_arn: &str,
    scope: &AccessScope,
) -> SimResult<AssociatedAccessPolicy> {
    let now = ctx.now_ms;
    with_cluster_write(sim, ctx, cluster, |tx, _, c| {
        require_api(&c)?;
        let e = find_entry(tx, c.id, principal_arn)?.ok_or_else(entry_not_found)?;
        let name = policies::policy_name(c.partition(), policy_arn).ok_or_else(|| {
            invalid_param(format!(
                "The specified policyArn '{policy_arn}' is invalid."
            ))
        })?;
        let allowed =
            e.kind == "STANDARD" || (e.kind == "EC2" && name == policies::AUTO_NODE_POLICY);
        if !allowed {
            return Err(standard_only());
        }
        let scope = check_scope(scope)?;
        let ns_json = serde_json::to_string(&scope.namespaces).unwrap_or_else(|_| "[]".into());
        tx.prepare_cached(
            "INSERT INTO eks_policy_assocs (cluster_id, principal_arn, policy_arn, scope_type, \
             namespaces_json, associated_ms, modified_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
             ON CONFLICT (cluster_id, principal_arn, policy_arn) DO UPDATE SET \
             scope_type = excluded.scope_type, namespaces_json = excluded.namespaces_json, \
             modified_ms = excluded.modified_ms",
        )?
        .execute(params![
            c.id,
            principal_arn,
            policy_arn,
            scope.kind.as_deref().unwrap_or("cluster"),
            ns_json,
            now
        ])?;
        let out = tx
            .prepare_cached(
                "SELECT policy_arn, scope_type, namespaces_json, associated_ms, modified_ms \
                 FROM eks_policy_assocs WHERE cluster_id = ?1 AND principal_arn = ?2 AND policy_arn = ?3",
            )?
            .query_row(params![c.id, principal_arn, policy_arn], assoc_from_row)?;
        Ok(out)
    })
}

pub fn disassociate_access_policy(
    sim: &Sim,
    ctx: &Ctx,
    cluster: &str,
    principal_arn: &str,
    policy_arn: &str,
) -> SimResult<()> {
    with_cluster_write(sim, ctx, cluster, |tx, _, c| {
        require_api(&c)?;
        let e = find_entry(tx, c.id, principal_arn)?.ok_or_else(entry_not_found)?;
        if e.kind != "STANDARD" && e.kind != "EC2" {
            return Err(standard_only());
        }
        let n = tx
            .prepare_cached(
                "DELETE FROM eks_policy_assocs WHERE cluster_id = ?1 AND principal_arn = ?2 AND policy_arn = ?3",
            )?
            .execute(params![c.id, principal_arn, policy_arn])?;
        if n == 0 {
            return Err(not_found(format!(
                "The specified policyArn '{policy_arn}' is not associated with this access entry."
            )));
        }
        Ok(())
    })
}

pub fn list_associated_access_policies(
    sim: &Sim,
    ctx: &Ctx,
    cluster: &str,
    principal_arn: &str,
    max_results: Option<i32>,
    next_token: Option<&str>,
) -> SimResult<Page<AssociatedAccessPolicy>> {
    let max = check_max_results(max_results)?;
    let after = decode_token(next_token)?;
    with_cluster_read(sim, ctx, cluster, true, |conn, settings, c| {
        require_api(c)?;
        let e = find_entry(conn, c.id, principal_arn)?
            .and_then(|e| as_seen(e, settings, ctx.now_ms))
            .ok_or_else(entry_not_found)?;
        if e.kind != "STANDARD" && e.kind != "EC2" {
            return Err(standard_only());
        }
        let all: Vec<AssociatedAccessPolicy> = {
            let mut st = conn.prepare_cached(
                "SELECT policy_arn, scope_type, namespaces_json, associated_ms, modified_ms \
                 FROM eks_policy_assocs WHERE cluster_id = ?1 AND principal_arn = ?2 ORDER BY policy_arn",
            )?;
            let rows = st.query_map(params![c.id, principal_arn], assoc_from_row)?;
            rows.collect::<Result<_, _>>()?
        };
        Ok(page_of(
            &all,
            |a| a.policy_arn.as_str(),
            after.as_deref(),
            max,
        ))
    })
}

pub fn list_access_policies(
    ctx: &Ctx,
    max_results: Option<i32>,
    next_token: Option<&str>,
) -> SimResult<Page<AccessPolicy>> {
    let max = check_max_results(max_results)?;
    let after = decode_token(next_token)?;
    let all: Vec<AccessPolicy> = policies::ACCESS_POLICY_NAMES
        .iter()
        .map(|n| AccessPolicy {
            name: n.to_string(),
            arn: policies::policy_arn(ctx.partition(), n),
        })
        .collect();
    Ok(page_of(&all, |p| p.name.as_str(), after.as_deref(), max))
}

// ---------------------------------------------------------------------------------------
// Node groups.

fn nodegroup_not_found(name: &str) -> SimError {
    not_found(format!("No node group found for name: {name}."))
}

#[derive(Debug, Clone)]
struct NodegroupRow {
    name: String,
    arn: String,
    node_role: String,
    status: String,
    created_ms: i64,
    doc_json: String,
}

fn find_nodegroup(
    conn: &Connection,
    cluster_id: i64,
    name: &str,
) -> SimResult<Option<NodegroupRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT name, arn, node_role, status, created_ms, doc_json FROM eks_nodegroups \
             WHERE cluster_id = ?1 AND name = ?2",
        )?
        .query_row(params![cluster_id, name], |r| {
            Ok(NodegroupRow {
                name: r.get(0)?,
                arn: r.get(1)?,
                node_role: r.get(2)?,
                status: r.get(3)?,
                created_ms: r.get(4)?,
                doc_json: r.get(5)?,
            })
        })
        .optional()?)
}

impl NodegroupRow {
    fn to_nodegroup(&self, c: &ClusterRow) -> Nodegroup {
        let doc: serde_json::Value = serde_json::from_str(&self.doc_json).unwrap_or_default();
        let strs = |k: &str| -> Vec<String> {
            doc[k]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        Nodegroup {
            nodegroup_name: self.name.clone(),
            nodegroup_arn: self.arn.clone(),
            cluster_name: c.name.clone(),
            version: doc["version"].as_str().unwrap_or(&c.version).to_string(),
            release_version: doc["releaseVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            created_at: self.created_ms,
            modified_at: self.created_ms,
            status: self.status.clone(),
            capacity_type: doc["capacityType"]
                .as_str()
                .unwrap_or("ON_DEMAND")
                .to_string(),
            scaling_config: doc["scalingConfig"].clone(),
            instance_types: strs("instanceTypes"),
            subnets: strs("subnets"),
            ami_type: doc["amiType"]
                .as_str()
                .unwrap_or("AL2023_x86_64_STANDARD")
                .to_string(),
            node_role: self.node_role.clone(),
            labels: serde_json::from_value(doc["labels"].clone()).unwrap_or_default(),
            disk_size: doc["diskSize"].as_i64().unwrap_or(20),
            health: doc
                .get("health")
                .cloned()
                .unwrap_or(serde_json::json!({"issues": []})),
            update_config: serde_json::json!({"maxUnavailable": 1}),
            tags: serde_json::from_value(doc["tags"].clone()).unwrap_or_default(),
        }
    }
}

pub fn create_nodegroup(sim: &Sim, ctx: &Ctx, input: CreateNodegroupInput) -> SimResult<Nodegroup> {
    check_name("Nodegroup", &input.nodegroup_name)?;
    if input.subnets.is_empty() {
        return Err(invalid_param("subnets must contain at least one subnet."));
    }
    check_tags(&input.tags)?;
    if let Some(a) = &input.ami_type {
        check_enum("amiType", a, AMI_TYPES)?;
    }
    if let Some(t) = &input.capacity_type {
        check_enum("capacityType", t, CAPACITY_TYPES)?;
    }
    if let Some(v) = &input.version {
        if !SUPPORTED_VERSIONS.contains(&v.as_str()) {
            return Err(invalid_param(format!("unsupported Kubernetes version {v}")));
        }
    }
    if input.disk_size.is_some_and(|d| d < 1) {
        return Err(invalid_param("diskSize must be at least 1 GiB."));
    }
    let scaling = scaling_doc(input.scaling_config.as_ref())?;
    let now = ctx.now_ms;
    with_cluster_write(sim, ctx, &input.cluster_name, |tx, settings, mut c| {
        if c.status == "CREATING" {
            return Err(invalid_request(format!(
                "Cluster '{}' is not in ACTIVE status",
                c.name
            )));
        }
        let role_ok = is_role_in(tx, &input.node_role, c.partition())?;
        if !role_ok {
            return Err(invalid_param(format!(
                "The role with name {} cannot be found.",
                input.node_role.rsplit('/').next().unwrap_or_default()
            )));
        }
        if let Some(existing) = find_nodegroup(tx, c.id, &input.nodegroup_name)? {
            // As for CreateCluster: a retry with the same token gets the node group.
            if input.client_request_token.is_some()
                && stored_token(&existing.doc_json) == input.client_request_token
            {
                return Ok(existing.to_nodegroup(&c));
            }
            return Err(in_use(format!(
                "NodeGroup already exists with name {} and cluster name {}",
                input.nodegroup_name, c.name
            )));
        }
        let account = c.arn.split(':').nth(4).unwrap_or_default().to_string();
        let arn = format!(
            "arn:{}:eks:{}:{account}:nodegroup/{}/{}/{}",
            c.partition(),
            c.region,
            c.name,
            input.nodegroup_name,
            uuid()
        );
        let doc = serde_json::json!({
            "version": input.version.clone().unwrap_or_else(|| c.version.clone()),
            "releaseVersion": format!("{}.0-20250101", input.version.clone().unwrap_or_else(|| c.version.clone())),
            "capacityType": input.capacity_type.clone().unwrap_or_else(|| "ON_DEMAND".into()),
            "scalingConfig": scaling,
            "instanceTypes": input.instance_types.clone().unwrap_or_else(|| vec!["t3.medium".into()]),
            "subnets": input.subnets,
            "amiType": input.ami_type.clone().unwrap_or_else(|| "AL2023_x86_64_STANDARD".into()),
            "labels": input.labels,
            "diskSize": input.disk_size.unwrap_or(20),
            "tags": input.tags,
            // kept for idempotent retries; the node group answer does not show it
            "clientRequestToken": input.client_request_token,
        });
        let active_at = now + settings.nodegroup_create_ms as i64;
        let status = if active_at > now {
            "CREATING"
        } else {
            "ACTIVE"
        };
        tx.prepare_cached(
            "INSERT INTO eks_nodegroups (cluster_id, name, arn, node_role, status, created_ms, active_at_ms, doc_json) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            c.id,
            input.nodegroup_name,
            arn,
            input.node_role,
            status,
            now,
            active_at,
            doc.to_string()
        ])?;
        if c.includes_api() && settings.auto_node_entries {
            add_node_entry(tx, &c, &input.node_role, now)?;
        }
        recompute_pending(tx, &mut c, now)?;
        tx.prepare_cached("UPDATE eks_clusters SET status = ?2, settle_at_ms = ?3 WHERE id = ?1")?
            .execute(params![c.id, c.status, c.settle_at_ms])?;
        let ng = find_nodegroup(tx, c.id, &input.nodegroup_name)?
            .ok_or_else(|| SimError::internal("node group vanished"))?;
        Ok(ng.to_nodegroup(&c))
    })
}

pub fn describe_nodegroup(sim: &Sim, ctx: &Ctx, cluster: &str, name: &str) -> SimResult<Nodegroup> {
    with_cluster_read(sim, ctx, cluster, false, |conn, _, c| {
        let ng = find_nodegroup(conn, c.id, name)?.ok_or_else(|| nodegroup_not_found(name))?;
        Ok(ng.to_nodegroup(c))
    })
}

pub fn list_nodegroups(
    sim: &Sim,
    ctx: &Ctx,
    cluster: &str,
    max_results: Option<i32>,
    next_token: Option<&str>,
) -> SimResult<Page<String>> {
    let max = check_max_results(max_results)?;
    let after = decode_token(next_token)?;
    with_cluster_read(sim, ctx, cluster, false, |conn, _, c| {
        let names: Vec<String> = {
            let mut st = conn.prepare_cached(
                "SELECT name FROM eks_nodegroups WHERE cluster_id = ?1 ORDER BY name",
            )?;
            let rows = st.query_map(params![c.id], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        Ok(page_of(&names, |s| s.as_str(), after.as_deref(), max))
    })
}

pub fn delete_nodegroup(sim: &Sim, ctx: &Ctx, cluster: &str, name: &str) -> SimResult<Nodegroup> {
    let now = ctx.now_ms;
    with_cluster_write(sim, ctx, cluster, |tx, _, mut c| {
        let ng = find_nodegroup(tx, c.id, name)?.ok_or_else(|| nodegroup_not_found(name))?;
        let mut out = ng.to_nodegroup(&c);
        out.status = "DELETING".into();
        tx.prepare_cached("DELETE FROM eks_nodegroups WHERE cluster_id = ?1 AND name = ?2")?
            .execute(params![c.id, name])?;
        recompute_pending(tx, &mut c, now)?;
        tx.prepare_cached("UPDATE eks_clusters SET status = ?2, settle_at_ms = ?3 WHERE id = ?1")?
            .execute(params![c.id, c.status, c.settle_at_ms])?;
        Ok(out)
    })
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
