//! What the Kubernetes side of a simulated cluster (`kube-sim-model`) reads from EKS: the
//! cluster behind an endpoint (settled, so a due mode change or creation is seen), and the
//! access entry and policies of a principal. Read-only; kept here, beside the private rows
//! and `settle`, so the rest of EKS does not have to grow.

use super::access_entries::find_entry;
use super::clusters::{cluster_from_row, ClusterRow, CLUSTER_COLS};
use super::parse_json;
use super::settle::settle;
use crate::error::SimResult;
use crate::iam;
use crate::Sim;
use rusqlite::{params, Connection, OptionalExtension};

/// Characters of the endpoint's host id (`https://ID.gr7.REGION.eks.…`).
pub const ENDPOINT_ID_LEN: usize = 32;

/// Lets a cluster be found by its endpoint id without a scan.
pub const SCHEMA: &str = "CREATE INDEX IF NOT EXISTS eks_clusters_endpoint_id \
    ON eks_clusters(substr(endpoint, 9, 32));";

/// A cluster as its Kubernetes API sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeCluster {
    pub id: i64,
    /// The endpoint's host id: what tells clusters apart on the simulator's one listener.
    pub endpoint_id: String,
    pub name: String,
    pub account: String,
    pub region: String,
    pub status: String,
    pub auth_mode: String,
    pub bootstrap_admin: bool,
    /// The IAM principal that created the cluster (role ARN with its path, or user ARN).
    pub creator_arn: String,
    pub version: String,
    pub created_ms: i64,
}

impl KubeCluster {
    fn of(c: &ClusterRow) -> KubeCluster {
        KubeCluster {
            id: c.id,
            endpoint_id: endpoint_id(&c.endpoint).unwrap_or_default().to_string(),
            name: c.name.clone(),
            account: c.arn.split(':').nth(4).unwrap_or_default().to_string(),
            region: c.region.clone(),
            status: c.status.clone(),
            auth_mode: c.auth_mode.clone(),
            bootstrap_admin: c.bootstrap_admin,
            creator_arn: c.creator_arn.clone(),
            version: c.version.clone(),
            created_ms: c.created_ms,
        }
    }

    pub fn partition(&self) -> &'static str {
        crate::arn::partition_of(&self.region)
    }
    pub fn includes_config_map(&self) -> bool {
        self.auth_mode != super::API
    }
    pub fn includes_api(&self) -> bool {
        self.auth_mode != super::CONFIG_MAP
    }
}

/// The host id of a stored endpoint (`https://ID.gr7.…`).
pub fn endpoint_id(endpoint: &str) -> Option<&str> {
    let rest = endpoint.strip_prefix("https://")?;
    let id = rest.get(..ENDPOINT_ID_LEN)?;
    (rest.as_bytes().get(ENDPOINT_ID_LEN) == Some(&b'.')).then_some(id)
}

/// The settled cluster whose endpoint id is `id`, or `None` (never existed, or deleted).
pub fn cluster_by_endpoint_id(sim: &Sim, id: &str, now: i64) -> SimResult<Option<KubeCluster>> {
    if id.len() != ENDPOINT_ID_LEN || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(None);
    }
    let find = |conn: &Connection| -> SimResult<Option<ClusterRow>> {
        Ok(conn
            .prepare_cached(&format!(
                "SELECT {CLUSTER_COLS} FROM eks_clusters WHERE substr(endpoint, 9, 32) = ?1"
            ))?
            .query_row(params![id], cluster_from_row)
            .optional()?)
    };
    let fast = sim.store.read(|conn| {
        Ok(match find(conn)? {
            None => Some(None),
            Some(c) if !c.due(now) => Some(Some(KubeCluster::of(&c))),
            Some(_) => None,
        })
    })?;
    if let Some(out) = fast {
        return Ok(out);
    }
    sim.store.write(|tx| {
        let Some(c) = find(tx)? else { return Ok(None) };
        let settings = crate::settings::load(tx)?;
        Ok(Some(KubeCluster::of(&settle(tx, &settings, c, now)?)))
    })
}

/// An access-entry policy association, as the authorizer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyGrant {
    /// Policy name (`AmazonEKSViewPolicy`).
    pub policy: String,
    /// `cluster` or `namespace`.
    pub scope_type: String,
    pub namespaces: Vec<String>,
}

/// An access entry, as the authenticator and authorizer need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryView {
    pub principal_arn: String,
    pub kind: String,
    pub username: String,
    pub groups: Vec<String>,
    pub policies: Vec<PolicyGrant>,
}

/// The entry of `principal_arn` on cluster `cluster_id` if it still belongs to the principal
/// now holding that ARN: an entry is bound to the principal it was made for, so a role (or
/// user) deleted and re-created under the same ARN no longer matches it. `principal_id` is the
/// caller's role or user id (`AROA…`/`AIDA…`). The simulator does not store the id with the
/// entry; since an entry can only be made for an existing principal, "the principal now
/// holding the ARN existed when the entry was made" is the same test.
pub fn entry_for(
    conn: &Connection,
    cluster_id: i64,
    principal_arn: &str,
    principal_id: &str,
) -> SimResult<Option<EntryView>> {
    let Some(e) = find_entry(conn, cluster_id, principal_arn)? else {
        return Ok(None);
    };
    let Some(p) = iam::lookup_principal(conn, principal_arn)? else {
        return Ok(None);
    };
    if p.id != principal_id || principal_created_ms(conn, principal_arn)? > e.created_ms {
        return Ok(None);
    }
    let mut st = conn.prepare_cached(
        "SELECT policy_arn, scope_type, namespaces_json FROM eks_policy_assocs \
         WHERE cluster_id = ?1 AND principal_arn = ?2 ORDER BY policy_arn",
    )?;
    let rows = st.query_map(params![cluster_id, principal_arn], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut policies = Vec::new();
    for row in rows {
        let (arn, scope_type, ns) = row?;
        let name = arn.rsplit('/').next().unwrap_or_default().to_string();
        policies.push(PolicyGrant {
            policy: name,
            scope_type,
            namespaces: parse_json(&ns),
        });
    }
    Ok(Some(EntryView {
        principal_arn: e.principal_arn.clone(),
        kind: e.kind.clone(),
        username: e.username.clone(),
        groups: parse_json(&e.groups_json),
        policies,
    }))
}

fn principal_created_ms(conn: &Connection, arn: &str) -> SimResult<i64> {
    let stored = crate::arn::canonical(arn);
    for table in ["iam_roles", "iam_users"] {
        let t: Option<i64> = conn
            .prepare_cached(&format!("SELECT created_ms FROM {table} WHERE arn = ?1"))?
            .query_row([&*stored], |r| r.get(0))
            .optional()?;
        if let Some(t) = t {
            return Ok(t);
        }
    }
    Ok(i64::MAX)
}

/// The IAM principal ARN (with its path) behind an STS role id (`AROA…`), if it exists.
pub fn role_arn_by_id(conn: &Connection, role_id: &str) -> SimResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT arn FROM iam_roles WHERE role_id = ?1")?
        .query_row([role_id], |r| r.get(0))
        .optional()?)
}

/// A managed node group, as the simulated kubelets need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodegroupView {
    pub name: String,
    pub arn: String,
    /// The node role ARN as given to CreateNodegroup (with its path).
    pub node_role: String,
    pub status: String,
    pub desired_size: i64,
    pub created_ms: i64,
}

/// The node groups of a cluster (settled by the caller's cluster lookup), oldest first.
pub fn nodegroups(conn: &Connection, cluster_id: i64) -> SimResult<Vec<NodegroupView>> {
    let mut st = conn.prepare_cached(
        "SELECT name, arn, node_role, status, created_ms, doc_json FROM eks_nodegroups \
         WHERE cluster_id = ?1 ORDER BY created_ms, name",
    )?;
    let rows = st.query_map(params![cluster_id], |r| {
        let doc: String = r.get(5)?;
        let doc: serde_json::Value = serde_json::from_str(&doc).unwrap_or_default();
        Ok(NodegroupView {
            name: r.get(0)?,
            arn: r.get(1)?,
            node_role: r.get(2)?,
            status: r.get(3)?,
            created_ms: r.get(4)?,
            desired_size: doc["scalingConfig"]["desiredSize"].as_i64().unwrap_or(0),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Sets the `health` DescribeNodegroup shows (`{"issues": [...]}`); `false` when the
/// group is gone.
pub fn set_nodegroup_health(
    conn: &Connection,
    cluster_id: i64,
    name: &str,
    health: &serde_json::Value,
) -> SimResult<bool> {
    let doc: Option<String> = conn
        .prepare_cached("SELECT doc_json FROM eks_nodegroups WHERE cluster_id = ?1 AND name = ?2")?
        .query_row(params![cluster_id, name], |r| r.get(0))
        .optional()?;
    let Some(doc) = doc else { return Ok(false) };
    let mut doc: serde_json::Value = serde_json::from_str(&doc).unwrap_or_default();
    if doc.get("health") == Some(health) {
        return Ok(true);
    }
    doc["health"] = health.clone();
    conn.prepare_cached(
        "UPDATE eks_nodegroups SET doc_json = ?3 WHERE cluster_id = ?1 AND name = ?2",
    )?
    .execute(params![cluster_id, name, doc.to_string()])?;
    Ok(true)
}

/// IAM's ARN (with its path) and RoleId of the role a node group's ARN names, by name.
pub fn node_role_principal(conn: &Connection, given: &str) -> SimResult<Option<(String, String)>> {
    iam::role_named_by(conn, given)
}

/// The RoleId of the role behind an ARN (path and all), if it exists.
pub fn role_id(conn: &Connection, arn: &str) -> SimResult<Option<String>> {
    Ok(iam::lookup_principal(conn, arn)?.map(|p| p.id))
}

/// The endpoint id of the cluster `name` of `account` in `region`, if it exists.
pub fn endpoint_id_by_name(
    sim: &Sim,
    account: &str,
    region: &str,
    name: &str,
) -> SimResult<Option<String>> {
    let ep: Option<String> = sim.store.read(|conn| {
        Ok(conn
            .prepare_cached(
                "SELECT endpoint FROM eks_clusters WHERE account = ?1 AND region = ?2 AND name = ?3",
            )?
            .query_row(params![account, region, name], |r| r.get(0))
            .optional()?)
    })?;
    Ok(ep.and_then(|e| endpoint_id(&e).map(str::to_string)))
}
