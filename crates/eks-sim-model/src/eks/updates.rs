//! UpdateClusterConfig (accessConfig only), DescribeUpdate and ListUpdates.

use super::errors::{in_use, invalid_param, nodegroup_not_found, not_found};
use super::idempotency::{remember_token, token_result};
use super::nodegroup_config;
use super::nodegroups::find_nodegroup;
use super::paging::{check_max_results, decode_token, page_of};
use super::settle::{recompute_pending, settle, with_cluster_read, with_cluster_write};
use super::types::{
    Page, Update, UpdateClusterConfigInput, UpdateParam, API, API_AND_CONFIG_MAP, CONFIG_MAP,
};
use super::{parse_json, uuid};
use crate::error::SimResult;
use crate::{Ctx, Sim};
use rusqlite::{params, Connection, OptionalExtension};

pub(super) fn load_update(
    conn: &Connection,
    cluster_id: i64,
    id: &str,
) -> SimResult<Option<Update>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, kind, status, created_ms, params_json FROM eks_updates \
             WHERE cluster_id = ?1 AND id = ?2 AND kind != 'ConfigUpdate'",
        )?
        .query_row(params![cluster_id, id], update_from_row)
        .optional()?)
}

pub(super) fn update_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Update> {
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
