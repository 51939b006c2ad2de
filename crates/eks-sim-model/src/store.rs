//! The SQLite store: one file, WAL, a small connection pool, transaction closures.
//!
//! Every change happens inside [`Store::write`] (`BEGIN IMMEDIATE`, commit on `Ok`, rollback
//! on `Err`), so a rejected request never leaves half a change behind, and several processes
//! can share the file (SQLite's locking + `busy_timeout`).

use crate::error::{SimError, SimResult};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// How long a connection waits for another writer (another thread or process) before
/// giving up with SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle connections kept for reuse; more may exist briefly under load.
const MAX_IDLE: usize = 16;

/// Schema of the IAM/STS slice and the simulator's own metadata. `eks::SCHEMA` is added
/// at open.
const CORE_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS sim_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    settings_json TEXT NOT NULL,
    -- random tag changed on every settings save: cheap cache validation across processes
    settings_gen INTEGER NOT NULL,
    -- random tag changed on every reset: invalidates caches of keys/identities
    epoch INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS iam_roles (
    account TEXT NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    path TEXT NOT NULL,
    arn TEXT NOT NULL UNIQUE,
    role_id TEXT NOT NULL UNIQUE,
    assume_role_policy TEXT NOT NULL,
    description TEXT,
    max_session_duration INTEGER NOT NULL DEFAULT 3600,
    created_ms INTEGER NOT NULL,
    tags_json TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (account, name)
);
CREATE INDEX IF NOT EXISTS iam_roles_path ON iam_roles(account, path);
CREATE TABLE IF NOT EXISTS iam_users (
    account TEXT NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    path TEXT NOT NULL,
    arn TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL,
    tags_json TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (account, name)
);
CREATE TABLE IF NOT EXISTS sts_keys (
    access_key_id TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    session_token TEXT,
    account TEXT NOT NULL,
    arn TEXT NOT NULL,
    principal_arn TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER
);
"#;

/// The state file with a pool of connections. `&Store` is usable from many threads.
pub struct Store {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
    /// A connection used only for `PRAGMA data_version`, which changes whenever any other
    /// connection (of this or another process) commits: a sub-microsecond "did anything
    /// change?" check for caches on the hot path.
    watch: Mutex<Option<Connection>>,
    /// Serialises this process's writers on a mutex (cheap, fair-ish wake-ups) instead of
    /// SQLite's busy handler (sleeps of 1..100 ms); other processes still meet the file lock.
    write_lock: Mutex<()>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Wall clock in ms since the Unix epoch.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    d.as_millis() as i64
}

impl Store {
    /// Opens (creating if needed, mode 0600) the state file, applies the schema and seeds a
    /// fresh state with the default account, role and key pair.
    pub fn open(path: &Path) -> SimResult<Store> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    SimError::internal(format!("store: cannot create {}: {e}", dir.display()))
                })?;
            }
        }
        create_private(path)?;
        let store = Store {
            path: path.to_path_buf(),
            pool: Mutex::new(Vec::new()),
            watch: Mutex::new(None),
            write_lock: Mutex::new(()),
        };
        let conn = store.connect()?;
        // WAL once per file (persistent); other connections inherit it.
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))?;
        store.put(conn);
        store.write(|tx| {
            tx.execute_batch(CORE_SCHEMA)?;
            tx.execute_batch(crate::eks::SCHEMA)?;
            crate::eks::migrate(tx)?;
            let seeded: bool = tx.query_row("SELECT COUNT(*) FROM sim_meta", [], |r| {
                r.get::<_, i64>(0).map(|n| n > 0)
            })?;
            if !seeded {
                seed(tx)?;
            }
            Ok(())
        })?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn connect(&self) -> SimResult<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // NORMAL is durable across process crashes in WAL mode (only an OS crash may lose
        // the last commits), and much faster than FULL.
        conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    fn take(&self) -> SimResult<Connection> {
        let pooled = match self.pool.lock() {
            Ok(mut p) => p.pop(),
            Err(poisoned) => poisoned.into_inner().pop(),
        };
        match pooled {
            Some(c) => Ok(c),
            None => self.connect(),
        }
    }

    fn put(&self, conn: Connection) {
        let mut p = match self.pool.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        if p.len() < MAX_IDLE {
            p.push(conn);
        }
    }

    /// Runs `f` in a read transaction (a consistent snapshot). Do not write in it: use
    /// [`Store::write`].
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> SimResult<T>) -> SimResult<T> {
        let mut conn = self.take()?;
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let out = f(&tx)?;
            // Nothing to commit; ending the transaction releases the snapshot.
            tx.rollback()?;
            Ok(out)
        })();
        self.put(conn);
        result
    }

    /// Runs `f` in a write transaction (`BEGIN IMMEDIATE`): committed if `f` returns `Ok`,
    /// rolled back otherwise.
    pub fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> SimResult<T>,
    ) -> SimResult<T> {
        let mut conn = self.take()?;
        let guard = match self.write_lock.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            match f(&tx) {
                Ok(out) => {
                    tx.commit()?;
                    Ok(out)
                }
                Err(e) => {
                    // Dropping rolls back too; explicit so a rollback error is visible.
                    if let Err(re) = tx.rollback() {
                        tracing::warn!("rollback failed: {re}");
                    }
                    Err(e)
                }
            }
        })();
        drop(guard);
        self.put(conn);
        result
    }

    /// A number that changes whenever anything in the state file changes (any commit by any
    /// connection or process). Equal values mean nothing was committed in between.
    pub fn data_version(&self) -> SimResult<i64> {
        let mut guard = match self.watch.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if guard.is_none() {
            *guard = Some(self.connect()?);
        }
        match guard.as_ref() {
            Some(c) => Ok(c
                .prepare_cached("PRAGMA data_version")?
                .query_row([], |r| r.get(0))?),
            None => Err(SimError::internal("store: no watch connection")),
        }
    }

    /// The current settings (cached per thread, validated by the settings tag).
    pub fn settings(&self) -> SimResult<crate::Settings> {
        self.read(crate::settings::load)
    }

    /// The current reset epoch: changes whenever the state is reset, so caches of keys and
    /// identities can be validated cheaply.
    pub fn epoch(&self) -> SimResult<i64> {
        self.read(epoch)
    }

    /// Back to a fresh state: every table emptied and reseeded, in one transaction.
    /// Settings are kept (they describe the simulator, not the simulated account).
    pub fn reset(&self) -> SimResult<()> {
        self.write(|tx| {
            let settings = crate::settings::load(tx)?;
            let tables: Vec<String> = {
                let mut st = tx.prepare(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'",
                )?;
                let rows = st.query_map([], |r| r.get::<_, String>(0))?;
                rows.collect::<Result<_, _>>()?
            };
            for t in tables {
                tx.execute(&format!("DELETE FROM \"{}\"", t.replace('"', "\"\"")), [])?;
            }
            seed(tx)?;
            crate::settings::save(tx, &settings)?;
            Ok(())
        })
    }
}

/// The reset epoch of the state behind `conn`.
pub fn epoch(conn: &Connection) -> SimResult<i64> {
    let mut st = conn.prepare_cached("SELECT epoch FROM sim_meta WHERE id = 1")?;
    Ok(st.query_row([], |r| r.get(0))?)
}

#[cfg(unix)]
fn create_private(path: &Path) -> SimResult<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| SimError::internal(format!("store: cannot open {}: {e}", path.display())))?;
    // An existing file keeps its mode unless we fix it; the state holds secret keys.
    let meta = file
        .metadata()
        .map_err(|e| SimError::internal(format!("store: {}: {e}", path.display())))?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| SimError::internal(format!("store: chmod {}: {e}", path.display())))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> SimResult<()> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| SimError::internal(format!("store: cannot open {}: {e}", path.display())))?;
    Ok(())
}

/// A fresh state: the default account, its role `/ops/ConvoxAdmin`, and the default key pair
/// (an assumed-role session of that role).
fn seed(tx: &rusqlite::Transaction<'_>) -> SimResult<()> {
    use crate::*;
    let now = now_ms();
    let settings = serde_json::to_string(&Settings::default())
        .map_err(|e| SimError::internal(format!("settings: {e}")))?;
    tx.execute(
        "INSERT INTO sim_meta (id, settings_json, settings_gen, epoch) VALUES (1, ?1, ?2, ?3)
         ON CONFLICT(id) DO UPDATE SET epoch = excluded.epoch",
        rusqlite::params![settings, rand::random::<i64>(), rand::random::<i64>()],
    )?;
    tx.execute(
        "INSERT OR IGNORE INTO accounts (id, created_ms) VALUES (?1, ?2)",
        rusqlite::params![DEFAULT_ACCOUNT, now],
    )?;
    let trust = crate::iam::account_trust_policy(DEFAULT_ACCOUNT, "aws");
    tx.execute(
        "INSERT OR IGNORE INTO iam_roles
           (account, name, path, arn, role_id, assume_role_policy, description, created_ms)
         VALUES (?1, 'ConvoxAdmin', '/ops/', ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![
            DEFAULT_ACCOUNT,
            DEFAULT_ROLE_ARN,
            DEFAULT_ROLE_ID,
            trust,
            "Default administrator role of the simulator",
            now
        ],
    )?;
    tx.execute(
        "INSERT OR IGNORE INTO sts_keys
           (access_key_id, secret, session_token, account, arn, principal_arn, user_id,
            created_ms, expires_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL)",
        rusqlite::params![
            DEFAULT_ACCESS_KEY_ID,
            DEFAULT_SECRET_ACCESS_KEY,
            DEFAULT_SESSION_TOKEN,
            DEFAULT_ACCOUNT,
            format!(
                "arn:aws:sts::{DEFAULT_ACCOUNT}:assumed-role/ConvoxAdmin/{DEFAULT_SESSION_NAME}"
            ),
            DEFAULT_ROLE_ARN,
            format!("{DEFAULT_ROLE_ID}:{DEFAULT_SESSION_NAME}"),
            now
        ],
    )?;
    // The account's root user (long-term key; its UserId is the account id, as in AWS).
    tx.execute(
        "INSERT OR IGNORE INTO sts_keys
           (access_key_id, secret, session_token, account, arn, principal_arn, user_id,
            created_ms, expires_ms)
         VALUES (?1, ?2, NULL, ?3, ?4, ?4, ?3, ?5, NULL)",
        rusqlite::params![
            ROOT_ACCESS_KEY_ID,
            ROOT_SECRET_ACCESS_KEY,
            DEFAULT_ACCOUNT,
            format!("arn:aws:iam::{DEFAULT_ACCOUNT}:root"),
            now
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_seeds_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sim.db");
        let s = Store::open(&p).unwrap();
        let pr = s
            .read(|c| crate::iam::lookup_principal(c, crate::DEFAULT_ROLE_ARN))
            .unwrap()
            .unwrap();
        assert_eq!(pr.kind, crate::iam::PrincipalKind::Role);
        assert_eq!(pr.account, crate::DEFAULT_ACCOUNT);
        drop(s);
        let s = Store::open(&p).unwrap();
        let n: i64 = s
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM iam_roles", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(n, 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn write_rolls_back_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("sim.db")).unwrap();
        let r: SimResult<()> = s.write(|tx| {
            tx.execute("DELETE FROM iam_roles", [])?;
            Err(SimError::new("X", 400, "no"))
        });
        assert!(r.is_err());
        let n: i64 = s
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM iam_roles", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn reset_empties_and_reseeds_keeping_settings() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("sim.db")).unwrap();
        let e0 = s.epoch().unwrap();
        let mut st = s.settings().unwrap();
        st.update_ms = 7;
        s.write(|tx| crate::settings::save(tx, &st)).unwrap();
        s.write(|tx| {
            tx.execute(
                "INSERT INTO accounts (id, created_ms) VALUES ('999999999999', 0)",
                [],
            )?;
            Ok(())
        })
        .unwrap();
        s.reset().unwrap();
        let n: i64 = s
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(n, 1);
        assert_ne!(s.epoch().unwrap(), e0);
        assert_eq!(s.settings().unwrap().update_ms, 7);
    }

    #[test]
    fn data_version_changes_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("sim.db")).unwrap();
        let v0 = s.data_version().unwrap();
        assert_eq!(s.data_version().unwrap(), v0);
        s.write(|tx| {
            tx.execute("INSERT INTO accounts (id, created_ms) VALUES ('1', 0)", [])?;
            Ok(())
        })
        .unwrap();
        assert_ne!(s.data_version().unwrap(), v0);
    }

    #[test]
    fn concurrent_writers_from_threads() {
        let dir = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(Store::open(&dir.path().join("sim.db")).unwrap());
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for j in 0..25 {
                        s.write(|tx| {
                            tx.execute(
                                "INSERT INTO accounts (id, created_ms) VALUES (?1, 0)",
                                [format!("{i:06}{j:06}")],
                            )?;
                            Ok(())
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let n: i64 = s
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(n, 101);
    }
}
