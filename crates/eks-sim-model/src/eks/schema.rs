//! The EKS slice's tables, and the migration of state files made by older simulators.

use crate::error::SimResult;
use rusqlite::Connection;

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
