//! UpdateNodegroupConfig (scaling only): the new `scalingConfig`, checked as CreateNodegroup
//! checks it, takes effect at once (the simulated kubelets of new instances authenticate at
//! the cluster's next request); the update is recorded `Successful` and DescribeUpdate with
//! `nodegroupName` finds it.

use super::errors::{in_use, invalid_param, nodegroup_not_found, not_found};
use super::nodegroups::find_nodegroup;
use super::settle::{with_cluster_read, with_cluster_write};
use super::types::{Update, UpdateParam};
use super::updates::update_from_row;
use super::validate::scaling_doc;
use crate::error::SimResult;
use crate::{Ctx, Sim};
use rusqlite::{params, OptionalExtension};
use serde_json::Value;

pub fn update_nodegroup_config(
    sim: &Sim,
    ctx: &Ctx,
    cluster: &str,
    nodegroup: &str,
    scaling: Option<&Value>,
) -> SimResult<Update> {
    let now = ctx.now_ms;
    with_cluster_write(sim, ctx, cluster, |tx, _, c| {
        let ng =
            find_nodegroup(tx, c.id, nodegroup)?.ok_or_else(|| nodegroup_not_found(nodegroup))?;
        if ng.status != "ACTIVE" {
            return Err(in_use(format!(
                "Nodegroup {nodegroup} cannot be updated as it is currently not in Active State"
            )));
        }
        let Some(patch) = scaling.and_then(Value::as_object) else {
            return Err(invalid_param("No changes needed"));
        };
        let mut doc: Value = serde_json::from_str(&ng.doc_json).unwrap_or_default();
        let mut merged = doc["scalingConfig"].clone();
        for (k, v) in patch {
            if !v.is_null() {
                merged[k] = v.clone();
            }
        }
        let merged = scaling_doc(Some(&merged))?;
        let mut changed = Vec::new();
        for (key, ty) in [
            ("minSize", "MinSize"),
            ("maxSize", "MaxSize"),
            ("desiredSize", "DesiredSize"),
        ] {
            if patch.contains_key(key) {
                changed.push(serde_json::json!({"type": ty, "value": merged[key].to_string()}));
            }
        }
        doc["scalingConfig"] = merged;
        tx.prepare_cached(
            "UPDATE eks_nodegroups SET doc_json = ?3 WHERE cluster_id = ?1 AND name = ?2",
        )?
        .execute(params![c.id, nodegroup, doc.to_string()])?;
        let id = uuid::Uuid::new_v4().to_string();
        let seq: i64 = tx
            .prepare_cached(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM eks_updates WHERE cluster_id = ?1",
            )?
            .query_row(params![c.id], |r| r.get(0))?;
        let params_json = Value::Array(
            changed
                .iter()
                .cloned()
                .chain([serde_json::json!({"type": "_nodegroup", "value": nodegroup})])
                .collect(),
        );
        tx.prepare_cached(
            "INSERT INTO eks_updates (id, cluster_id, seq, kind, status, params_json, created_ms, due_ms) \
             VALUES (?1, ?2, ?3, 'ConfigUpdate', 'Successful', ?4, ?5, ?5)",
        )?
        .execute(params![id, c.id, seq, params_json.to_string(), now])?;
        Ok(Update {
            id,
            kind: "ConfigUpdate".into(),
            status: "Successful".into(),
            created_at: now,
            params: changed
                .iter()
                .map(|p| UpdateParam {
                    kind: p["type"].as_str().unwrap_or_default().into(),
                    value: p["value"].as_str().unwrap_or_default().into(),
                })
                .collect(),
            errors: vec![],
        })
    })
}

/// DescribeUpdate with `nodegroupName`: an update of that node group.
pub fn describe_nodegroup_update(
    sim: &Sim,
    ctx: &Ctx,
    cluster: &str,
    nodegroup: &str,
    update_id: &str,
) -> SimResult<Update> {
    with_cluster_read(sim, ctx, cluster, false, |conn, _, c| {
        find_nodegroup(conn, c.id, nodegroup)?.ok_or_else(|| nodegroup_not_found(nodegroup))?;
        let missing = || not_found(format!("No update found for ID: {update_id}"));
        let mut u = conn
            .prepare_cached(
                "SELECT id, kind, status, created_ms, params_json FROM eks_updates \
                 WHERE cluster_id = ?1 AND id = ?2 AND kind = 'ConfigUpdate'",
            )?
            .query_row(params![c.id, update_id], update_from_row)
            .optional()?
            .ok_or_else(missing)?;
        let mine = u
            .params
            .iter()
            .any(|p| p.kind == "_nodegroup" && p.value == nodegroup);
        if !mine {
            return Err(missing());
        }
        u.params.retain(|p| p.kind != "_nodegroup");
        Ok(u)
    })
}
