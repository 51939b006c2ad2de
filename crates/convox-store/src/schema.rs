//! Opening the SQLite file (mode 0600, WAL, busy timeout) and schema migrations.

use std::path::Path;

use rusqlite::Connection;

use crate::StoreError;

/// Migrations in order; `PRAGMA user_version` = how many have run.
const MIGRATIONS: &[&str] = &[
    // 1: initial schema
    "CREATE TABLE racks (
        name TEXT PRIMARY KEY,
        provider TEXT NOT NULL CHECK (provider IN ('local', 'aws')),
        version TEXT NOT NULL,
        status TEXT NOT NULL,
        region TEXT NOT NULL,
        cluster TEXT NOT NULL,
        nodes_role_arn TEXT NOT NULL,
        karpenter_nodes_role_arn TEXT,
        endpoint TEXT,
        profile TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        last_error TEXT
    );
    CREATE TABLE params (
        rack TEXT NOT NULL REFERENCES racks (name) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (rack, key)
    );
    -- history outlives its rack (no foreign key): uninstalls stay auditable
    CREATE TABLE history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        rack TEXT NOT NULL,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        what TEXT NOT NULL,
        result TEXT NOT NULL CHECK (result IN ('pending', 'ok', 'failed')),
        message TEXT,
        finished_at TEXT
    );
    CREATE INDEX history_rack ON history (rack, id);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE locks (
        rack TEXT PRIMARY KEY,
        token TEXT NOT NULL,
        pid INTEGER NOT NULL,
        purpose TEXT NOT NULL,
        acquired_at TEXT NOT NULL,
        acquired_at_ms INTEGER NOT NULL,
        renewed_at_ms INTEGER NOT NULL,
        lease_ms INTEGER NOT NULL
    );",
];

/// Creates the state directory (0700 on Unix when we create it).
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| StoreError::Io {
        path: dir.display().to_string(),
        source: e,
    })
}

/// Creates the file with mode 0600 before SQLite opens it (SQLite would use 0644 minus the
/// umask), tightens an existing file, and opens it with WAL + busy timeout.
pub(crate) fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let io = |e| StoreError::Io {
        path: path.display().to_string(),
        source: e,
    };
    let mut o = std::fs::OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
    }
    let sql = |e| StoreError::Sqlite {
        path: path.display().to_string(),
        source: e,
    };
    let conn = Connection::open(path).map_err(sql)?;
    // busy_timeout first: switching to WAL itself may need to wait for another opener.
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(sql)?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
        .map_err(sql)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sql)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(sql)?;
    Ok(conn)
}

/// Runs the migrations not yet applied, each in its own immediate transaction (so two
/// processes opening a fresh file at once do not both migrate).
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let sql = |e| StoreError::Sqlite {
        path: path.display().to_string(),
        source: e,
    };
    let supported = MIGRATIONS.len() as i64;
    loop {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql)?;
        if version > supported {
            return Err(StoreError::SchemaTooNew {
                path: path.display().to_string(),
                found: version,
                supported,
            });
        }
        if version == supported {
            return Ok(());
        }
        let idx = usize::try_from(version).unwrap_or(0);
        tx.execute_batch(MIGRATIONS[idx]).map_err(sql)?;
        tx.pragma_update(None, "user_version", version + 1)
            .map_err(sql)?;
        tx.commit().map_err(sql)?;
        tracing::debug!(path = %path.display(), version = version + 1, "rack store migrated");
    }
}

#[cfg(test)]
pub(crate) fn supported_version() -> i64 {
    MIGRATIONS.len() as i64
}
