//! The settling clock: due transitions (cluster creation, config updates, node-group
//! creation) applied when an operation next looks at the cluster, and the two ways an
//! operation opens its transaction on a settled cluster.

use super::access_entries::enable_api;
use super::clusters::{load_cluster, ClusterRow};
use super::parse_json;
use crate::error::SimResult;
use crate::settings::Settings;
use crate::{Ctx, Sim};
use rusqlite::{params, Connection};

/// Applies every transition of `c` due at `now`, in order, and stores the result. Returns
/// the settled row.
pub(super) fn settle(
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
pub(super) fn recompute_pending(tx: &Connection, c: &mut ClusterRow, now: i64) -> SimResult<()> {
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

/// Runs `f` on the settled cluster `name`: in a read transaction when nothing is due
/// (the common case), else in a write transaction that settles first.
pub(super) fn with_cluster_read<T>(
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
pub(super) fn with_cluster_write<T>(
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
