//! Access entries: the stored rows, the read lag (`read_lag_ms`), the entries EKS makes by
//! itself (creator admin, node roles) and Create/Describe/List/Update/DeleteAccessEntry.

use super::clusters::ClusterRow;
use super::errors::{entry_not_found, in_use, invalid_param, mode_refused};
use super::idempotency::{remember_token, token_result};
use super::paging::{check_max_results, decode_token, page_from_limited};
use super::policies;
use super::principals::{check_principal, default_username, parse_principal_arn, PrincipalArn};
use super::settle::{with_cluster_read, with_cluster_write};
use super::types::{
    AccessEntry, CreateAccessEntryInput, Page, TagMap, UpdateAccessEntryInput, ENTRY_TYPES,
};
use super::validate::check_tags;
use super::{parse_json, tags_json, uuid};
use crate::error::SimResult;
use crate::settings::Settings;
use crate::{iam, Ctx, Sim};
use rusqlite::{params, Connection, OptionalExtension};

#[derive(Debug, Clone)]
pub(super) struct EntryRow {
    pub(super) principal_arn: String,
    pub(super) kind: String,
    pub(super) username: String,
    pub(super) groups_json: String,
    pub(super) tags_json: String,
    pub(super) arn: String,
    pub(super) created_ms: i64,
    pub(super) modified_ms: i64,
    /// The version readers see while this one lags (see [`as_seen`]).
    pub(super) prev: Option<PrevVersion>,
}

#[derive(Debug, Clone)]
pub(super) struct PrevVersion {
    pub(super) username: String,
    pub(super) groups_json: String,
    pub(super) modified_ms: i64,
}

pub(super) const ENTRY_COLS: &str = "principal_arn, kind, username, groups_json, tags_json, arn, \
     created_ms, modified_ms, prev_username, prev_groups_json, prev_modified_ms";

pub(super) fn entry_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EntryRow> {
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
    pub(super) fn to_entry(&self, cluster: &str) -> AccessEntry {
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

pub(super) fn find_entry(
    conn: &Connection,
    cluster_id: i64,
    principal: &str,
) -> SimResult<Option<EntryRow>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {ENTRY_COLS} FROM eks_access_entries WHERE cluster_id = ?1 AND principal_arn = ?2"
    ))?;
    Ok(st
        .query_row(params![cluster_id, principal], entry_from_row)
        .optional()?)
}

/// Newest modification time readers can see at `now` (`read_lag_ms`).
pub(super) fn lag_cut(settings: &Settings, now: i64) -> i64 {
    if settings.read_lag_ms == 0 {
        i64::MAX
    } else {
        now - settings.read_lag_ms as i64
    }
}

/// The entry as list/describe see it at `now`: a version changed less than `read_lag_ms`
/// ago is not visible yet, so an updated entry reads as its previous version and a new
/// one is not there at all.
pub(super) fn as_seen(e: EntryRow, settings: &Settings, now: i64) -> Option<EntryRow> {
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

/// What EKS does by itself when a cluster's mode first includes API: entries for the
/// creator (with cluster admin) and for the node roles of its managed node groups.
pub(super) fn enable_api(
    tx: &Connection,
    settings: &Settings,
    c: &ClusterRow,
    at: i64,
) -> SimResult<()> {
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

pub(super) fn add_node_entry(
    tx: &Connection,
    c: &ClusterRow,
    given: &str,
    at: i64,
) -> SimResult<()> {
    // The node group names its role however it was given; the entry names IAM's principal.
    let Some((role, _)) = iam::role_named_by(tx, given)? else {
        return Ok(());
    };
    let role = role.as_str();
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
pub(super) fn default_groups(kind: &str) -> Vec<String> {
    match kind {
        "EC2_LINUX" => vec!["system:nodes".to_string()],
        _ => Vec::new(),
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn insert_entry(
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

pub(super) fn require_api(c: &ClusterRow) -> SimResult<()> {
    if c.includes_api() {
        Ok(())
    } else {
        Err(mode_refused())
    }
}

pub(super) fn check_groups(groups: &[String]) -> SimResult<()> {
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

pub(super) fn check_username(u: &str) -> SimResult<()> {
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
