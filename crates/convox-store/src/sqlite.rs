//! The SQLite backend: one file (mode 0600, WAL, busy timeout), writers serialized by
//! `BEGIN IMMEDIATE`, the schema version in `PRAGMA user_version`.

use std::path::Path;
use std::sync::Arc;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, TransactionBehavior};

use crate::backend::{Backend, Body, Mode, Row, Tx, Value};
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
    // 2: the lock holder's host, so that its pid is checked only where it means something
    "ALTER TABLE locks ADD COLUMN host TEXT NOT NULL DEFAULT '';",
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
///
/// The file is opened by hand only when it does not exist yet: closing any descriptor of
/// a file drops every POSIX lock this process holds on it, the locks of this process's
/// other SQLite connections to it included (the lock renewer's connection is opened
/// while the main one holds a snapshot).
pub(crate) fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let io = |e| StoreError::Io {
        path: path.display().to_string(),
        source: e,
    };
    if !path.exists() {
        let mut o = std::fs::OpenOptions::new();
        o.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        o.open(path).map_err(io)?;
    }
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
        crate::schema_not_newer(&path.display().to_string(), version, supported)?;
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

/// The SQLite store.
pub(crate) struct Sqlite {
    location: Arc<str>,
    conn: Connection,
}

impl Sqlite {
    /// Opens (creating and migrating if needed) the file at `path`.
    pub(crate) fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let mut conn = open_connection(path)?;
        migrate(&mut conn, path)?;
        Ok(Sqlite {
            location: path.display().to_string().into(),
            conn,
        })
    }
}

fn sql_err(location: &str, e: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: location.to_string(),
        source: e,
    }
}

struct SqliteTx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    location: &'a Arc<str>,
}

fn to_sql(v: &Value) -> rusqlite::types::Value {
    match v {
        Value::Null => rusqlite::types::Value::Null,
        Value::Int(n) => rusqlite::types::Value::Integer(*n),
        Value::Text(s) => rusqlite::types::Value::Text(s.clone()),
    }
}

impl Tx for SqliteTx<'_> {
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached(sql)
            .map_err(|e| sql_err(self.location, e))?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params.iter().map(to_sql)))
            .map_err(|e| sql_err(self.location, e))?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let err = |e| sql_err(self.location, e);
        let mut stmt = self.tx.prepare_cached(sql).map_err(err)?;
        let cols = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter().map(to_sql)))
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(err)? {
            let mut values = Vec::with_capacity(cols);
            for i in 0..cols {
                values.push(match r.get_ref(i).map_err(err)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::Int(n),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    other => {
                        return Err(StoreError::Corrupt {
                            path: self.location.to_string(),
                            what: format!("column {i} has type {:?}", other.data_type()),
                        })
                    }
                });
            }
            out.push(Row {
                values,
                location: self.location.clone(),
            });
        }
        Ok(out)
    }

    fn now_ms(&mut self) -> Result<i64, StoreError> {
        Ok(crate::now_ms())
    }
}

impl Backend for Sqlite {
    fn transaction(&mut self, mode: Mode, body: &mut Body<'_>) -> Result<(), StoreError> {
        let behavior = match mode {
            Mode::Write => TransactionBehavior::Immediate,
            Mode::Read => TransactionBehavior::Deferred,
        };
        let location = self.location.clone();
        let tx = self
            .conn
            .transaction_with_behavior(behavior)
            .map_err(|e| sql_err(&location, e))?;
        body(&mut SqliteTx {
            tx: &tx,
            location: &location,
        })?;
        tx.commit().map_err(|e| sql_err(&location, e))
    }
}
