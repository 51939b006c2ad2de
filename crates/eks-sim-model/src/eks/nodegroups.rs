//! CreateNodegroup / DescribeNodegroup / ListNodegroups / DeleteNodegroup.

use super::access_entries::add_node_entry;
use super::clusters::ClusterRow;
use super::errors::{in_use, invalid_param, invalid_request, nodegroup_not_found};
use super::idempotency::stored_token;
use super::paging::{check_max_results, decode_token, page_of};
use super::principals::parse_principal_arn;
use super::settle::{recompute_pending, with_cluster_read, with_cluster_write};
use super::types::{CreateNodegroupInput, Nodegroup, Page};
use super::uuid;
use super::validate::{
    check_enum, check_name, check_tags, scaling_doc, AMI_TYPES, CAPACITY_TYPES, SUPPORTED_VERSIONS,
};
use crate::error::{SimError, SimResult};
use crate::{iam, Ctx, Sim};
use rusqlite::{params, Connection, OptionalExtension};

#[derive(Debug, Clone)]
pub(super) struct NodegroupRow {
    pub(super) name: String,
    pub(super) arn: String,
    pub(super) node_role: String,
    pub(super) status: String,
    pub(super) created_ms: i64,
    pub(super) doc_json: String,
}

pub(super) fn find_nodegroup(
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
    pub(super) fn to_nodegroup(&self, c: &ClusterRow) -> Nodegroup {
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

/// The checks AWS makes on the input alone, before it looks at the cluster.
fn check_nodegroup_input(input: &CreateNodegroupInput) -> SimResult<()> {
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
    Ok(())
}

pub fn create_nodegroup(sim: &Sim, ctx: &Ctx, input: CreateNodegroupInput) -> SimResult<Nodegroup> {
    check_nodegroup_input(&input)?;
    let scaling = scaling_doc(input.scaling_config.as_ref())?;
    let now = ctx.now_ms;
    with_cluster_write(sim, ctx, &input.cluster_name, |tx, settings, mut c| {
        if c.status == "CREATING" {
            return Err(invalid_request(format!(
                "Cluster '{}' is not in ACTIVE status",
                c.name
            )));
        }
        // EKS finds the role by name: a node group may be given its ARN without the path
        // (as Convox gives it, so that aws-auth, which EKS writes from it, can match).
        let role_ok = parse_principal_arn(&input.node_role)
            .is_some_and(|p| p.is_role && p.partition == c.partition())
            && iam::role_named_by(tx, &input.node_role)?.is_some();
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
