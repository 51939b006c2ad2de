//! # convox-store
//!
//! The rack store: racks, their explicitly set parameters, a history of every change, the
//! current rack, and per-rack locks. Two backends behind one [`Store`]:
//!
//! - **SQLite** (the default): one file (`racks.db`) under a directory the binary chooses
//!   (`$CONVOX_HOME`, else the platform data dir), created with mode 0600 (its directory
//!   0700 when we create it); WAL journal and a busy timeout let several `convox` processes
//!   share it. Writers are serialized by `BEGIN IMMEDIATE`; the schema version is
//!   `PRAGMA user_version`.
//! - **PostgreSQL** ([`Store::open_url`], `postgres://…`): the store a team shares, one
//!   database per store. Writers are serialized by one transaction-scoped advisory lock, so
//!   every rule below holds as it does on SQLite; reads see one snapshot; the lease clock is
//!   the server's; the schema version is in `convox_schema`, migrated under a session
//!   advisory lock; TLS through rustls as `sslmode` asks (see `tls`); the password is
//!   masked in every location and message ([`mask_url`]). The current rack
//!   (`convox switch`) stays per machine, in a file under the home directory.
//!
//! The rules live once, above a small backend interface (`backend`: transactions and
//! statements over three value types); each backend only runs SQL. That reads better here
//! than one query layer for both (sqlx): the SQL is plain and shared, the sync API stays,
//! and no async runtime is imposed on callers.
//!
//! - Schema migrations are versioned per backend (the same logical version on both),
//!   applied on first use, safe when two processes start at once; a store with a newer
//!   schema is refused ([`StoreError::SchemaTooNew`]) and never altered.
//! - Every change runs in one write transaction: a refused call stores nothing.
//! - A rack is changed only through [`Fenced`], the store seen through the rack's held lock
//!   ([`Store::fenced`]): `begin_*` … `finish_change` and `delete_rack` check, inside their
//!   own transaction, that the lock is still the caller's. A run that lost its lock (stopped
//!   past its lease while another run took the rack over) writes nothing
//!   ([`StoreError::LockLost`]).
//! - Locks have a lease; a holder on this host whose process died is taken over at once,
//!   one on another host only when its lease ran out (see `lock`).
//! - A rack left `installing` or `updating` with no live lock holder (its run died in
//!   between) reads as `failed` with [`INTERRUPTED`]; the next locked run closes the pending
//!   change and takes over.
//!
//! The flow of a `params set`:
//! ```no_run
//! # use convox_store::*;
//! # fn main() -> Result<(), StoreError> {
//! let store = Store::open(std::path::Path::new("/tmp/convox"))?;
//! let lock = store.lock_rack("rack1", &LockOptions::default())?;
//! let rack = store.fenced(&lock);
//! let (id, _changes) = rack.begin_params_set(&["eks_access_entries=true"], "arn:…")?;
//! // … reconcile …
//! rack.finish_change(id, Ok(()))?;
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use convox_params::{ChangeSet, ParamError, Params};

mod backend;
mod changes;
mod lock;
mod pg;
mod sqlite;
mod tls;
mod types;

pub use backend::Location;
use backend::{vals, Backend, Mode, Row, Tx};
pub use changes::Fenced;
pub use lock::{host_id, LockHolder, LockOptions, RackLock};
pub use pg::mask_url;
pub use types::{ChangeId, ChangeResult, HistoryEntry, NewRack, Provider, Rack, RackStatus};

/// File name of the rack store inside the state directory.
pub const FILE_NAME: &str = "racks.db";
/// Message of a change that a later change (made under the rack lock) found still pending.
pub const INTERRUPTED: &str = "interrupted: the run making this change stopped before finishing";
/// Actor recorded for changes that involve no cloud identity.
pub const LOCAL_ACTOR: &str = "local";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("rack store {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    /// A PostgreSQL failure; `location` has its password masked, and so has `message`.
    #[error("rack store {location}: {message}")]
    Postgres { location: String, message: String },
    #[error("unsupported rack store `{0}`: use a postgres://USER:PASSWORD@HOST:PORT/DATABASE URL (or no --store / CONVOX_STORE for the SQLite file under $CONVOX_HOME)")]
    BadStoreUrl(String),
    #[error("cannot prepare rack store at {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("rack store {path} has schema version {found}, newer than this convox supports ({supported}); upgrade convox")]
    SchemaTooNew {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error("no rack named {0}; run `convox racks` to list racks")]
    UnknownRack(String),
    #[error(
        "a rack named {0} already exists; pick another name or `convox rack uninstall {0}` first"
    )]
    RackExists(String),
    #[error("invalid rack name `{0}`: use 1-100 letters, digits, `-` or `_`, starting with a letter or digit")]
    InvalidName(String),
    #[error("no rack selected; pass -r NAME, set CONVOX_RACK, or run `convox switch NAME`")]
    NoCurrentRack,
    #[error(transparent)]
    Invalid(#[from] ParamError),
    #[error("rack {rack} is locked by process {pid} since {since} ({purpose}); wait for it to finish and retry")]
    Locked {
        rack: String,
        pid: u32,
        since: String,
        purpose: String,
    },
    #[error("lost the lock on rack {0} (another process took it over after the lease expired)")]
    LockLost(String),
    #[error("rack {rack} is not the rack of the lock held ({locked})")]
    NotLocked { rack: String, locked: String },
    #[error("no pending change {0} in the rack store")]
    UnknownChange(i64),
    #[error("corrupt rack store {path}: {what}")]
    Corrupt { path: String, what: String },
}

/// Checks a rack name (it doubles as the EKS cluster name of local racks, so EKS's rule).
pub fn validate_rack_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidName(name.to_string()))
    }
}

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The rack store. `Send + Sync`: one connection behind a mutex.
pub struct Store {
    location: Location,
    /// Shared with the renewers of the locks this store hands out: one connection per store.
    backend: Arc<Mutex<Box<dyn Backend>>>,
    /// Where a shared store keeps this machine's current rack (`convox switch` is one
    /// person's choice, not the team's); `None`: in the store itself.
    current_file: Option<PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location)
            .finish()
    }
}

/// JSON of a change set for history, sensitive values masked.
fn changes_json(changes: &ChangeSet) -> serde_json::Value {
    let mask = |key: &str, v: Option<&str>| -> serde_json::Value {
        let sensitive = convox_params::lookup(key).is_some_and(|d| d.sensitive);
        match v {
            None => serde_json::Value::Null,
            Some(v) if sensitive && !v.is_empty() => convox_params::MASK.into(),
            Some(v) => v.into(),
        }
    };
    serde_json::Value::Array(
        changes
            .changes
            .iter()
            .map(|c| {
                serde_json::json!({
                    "key": c.key,
                    "old": mask(&c.key, c.old.as_deref()),
                    "new": mask(&c.key, Some(&c.new)),
                })
            })
            .collect(),
    )
}

/// Refuses a schema newer than this build's (it may mean anything; never touch it).
pub(crate) fn schema_not_newer(
    location: &str,
    found: i64,
    supported: i64,
) -> Result<(), StoreError> {
    if found > supported {
        return Err(StoreError::SchemaTooNew {
            path: location.to_string(),
            found,
            supported,
        });
    }
    Ok(())
}

/// Whether `spec` names a PostgreSQL store (`postgres://…` or `postgresql://…`).
pub fn is_postgres_url(spec: &str) -> bool {
    spec.starts_with("postgres://") || spec.starts_with("postgresql://")
}

impl Store {
    /// Opens (creating if needed) `dir/racks.db`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        sqlite::ensure_dir(dir)?;
        Store::open_file(&dir.join(FILE_NAME))
    }

    /// Opens (creating if needed) the SQLite store at `path`.
    pub fn open_file(path: &Path) -> Result<Store, StoreError> {
        let backend = sqlite::Sqlite::open(path)?;
        Ok(Store {
            location: Location::Sqlite(path.to_path_buf()),
            backend: Arc::new(Mutex::new(Box::new(backend))),
            current_file: None,
        })
    }

    /// Connects to the PostgreSQL store at `url` (migrating its schema on first use). This
    /// machine's current rack is kept under `home` (created if needed), not in the shared
    /// database.
    pub fn open_url(url: &str, home: &Path) -> Result<Store, StoreError> {
        let backend = pg::Postgres::connect(url)?;
        let location = Location::Postgres(pg::mask_url(url));
        sqlite::ensure_dir(home)?;
        let current_file = home.join(format!(
            "current-rack-{:016x}",
            fnv1a(&location.to_string())
        ));
        Ok(Store {
            location,
            backend: Arc::new(Mutex::new(Box::new(backend))),
            current_file: Some(current_file),
        })
    }

    /// Opens the store `spec` names (a PostgreSQL URL), else the SQLite file under `home`.
    pub fn open_spec(spec: Option<&str>, home: &Path) -> Result<Store, StoreError> {
        match spec.filter(|s| !s.is_empty()) {
            None => Store::open(home),
            Some(url) if is_postgres_url(url) => Store::open_url(url, home),
            Some(other) => Err(StoreError::BadStoreUrl(pg::mask_url(other))),
        }
    }

    /// Where the store lives (a PostgreSQL URL with its password masked).
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Whether other machines may share this store (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self.location, Location::Postgres(_))
    }

    fn backend(&self) -> MutexGuard<'_, Box<dyn Backend>> {
        lock_backend(&self.backend)
    }

    /// The connection, for a lock's renewer (a second connection per lock would cost a
    /// PostgreSQL login per run; the renewer's statements are short).
    pub(crate) fn shared_backend(&self) -> Arc<Mutex<Box<dyn Backend>>> {
        self.backend.clone()
    }

    fn corrupt(&self, what: String) -> StoreError {
        StoreError::Corrupt {
            path: self.location.to_string(),
            what,
        }
    }

    fn transaction<T: Send>(
        &self,
        mode: Mode,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        run_in(&mut **self.backend(), mode, f)
    }

    /// Runs `f` in one write transaction (every other writer excluded); rolls back on error.
    pub(crate) fn write<T: Send>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        self.transaction(Mode::Write, f)
    }

    /// Runs `f` on one consistent snapshot.
    fn read<T: Send>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        self.transaction(Mode::Read, f)
    }

    fn row_to_rack(&self, r: &Row) -> Result<Rack, StoreError> {
        let name = r.text(0)?;
        let provider = r.text(1)?;
        let version = r.text(2)?;
        let status = r.text(3)?;
        Ok(Rack {
            provider: Provider::parse(&provider)
                .ok_or_else(|| self.corrupt(format!("rack {name}: provider {provider}")))?,
            version: version
                .parse()
                .map_err(|_| self.corrupt(format!("rack {name}: version {version}")))?,
            status: RackStatus::parse(&status)
                .ok_or_else(|| self.corrupt(format!("rack {name}: status {status}")))?,
            region: r.text(4)?,
            cluster: r.text(5)?,
            nodes_role_arn: r.text(6)?,
            karpenter_nodes_role_arn: r.opt_text(7)?,
            endpoint: r.opt_text(8)?,
            profile: r.opt_text(9)?,
            created_at: r.text(10)?,
            updated_at: r.text(11)?,
            last_error: r.opt_text(12)?,
            name,
        })
    }

    const RACK_COLS: &'static str = "name, provider, version, status, region, cluster, \
        nodes_role_arn, karpenter_nodes_role_arn, endpoint, profile, created_at, updated_at, \
        last_error";

    fn rack_in(&self, c: &mut dyn Tx, name: &str) -> Result<Option<Rack>, StoreError> {
        let sql = format!("SELECT {} FROM racks WHERE name = ?1", Self::RACK_COLS);
        let Some(row) = c.query_opt(&sql, vals![name])? else {
            return Ok(None);
        };
        let rack = self.row_to_rack(&row)?;
        Ok(Some(self.with_run_status(c, rack)?))
    }

    /// A rack `installing`/`updating` while nobody holds its lock (or only a dead or expired
    /// holder does) is not being changed: the run making the change died between its begin
    /// and its finish. Report it as it is, failed and interrupted, rather than as still
    /// running; the next locked run closes the pending change and takes over.
    fn with_run_status(&self, c: &mut dyn Tx, mut rack: Rack) -> Result<Rack, StoreError> {
        if matches!(rack.status, RackStatus::Installing | RackStatus::Updating) {
            let now = c.now_ms()?;
            let live = lock::holder(c, &rack.name)?.is_some_and(|h| !h.is_stale(now));
            if !live {
                rack.status = RackStatus::Failed;
                rack.last_error = Some(INTERRUPTED.to_string());
            }
        }
        Ok(rack)
    }

    fn params_in(&self, c: &mut dyn Tx, rack: &str) -> Result<Params, StoreError> {
        let rows = c.query("SELECT key, value FROM params WHERE rack = ?1", vals![rack])?;
        let mut p = Params::default();
        for row in rows {
            p.values.insert(row.text(0)?, row.text(1)?);
        }
        Ok(p)
    }

    fn store_params_in(
        &self,
        c: &mut dyn Tx,
        rack: &str,
        changes: &ChangeSet,
        now: &str,
    ) -> Result<(), StoreError> {
        for ch in &changes.changes {
            c.exec(
                "INSERT INTO params (rack, key, value, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (rack, key) DO UPDATE SET value = excluded.value, \
                 updated_at = excluded.updated_at",
                vals![rack, &ch.key, &ch.new, now],
            )?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn history_in(
        &self,
        c: &mut dyn Tx,
        rack: &str,
        actor: &str,
        action: &str,
        what: &serde_json::Value,
        outcome: ChangeResult,
        message: Option<&str>,
        now: &str,
    ) -> Result<ChangeId, StoreError> {
        let finished = (outcome != ChangeResult::Pending).then_some(now);
        let row = c
            .query_opt(
                "INSERT INTO history (rack, at, actor, action, what, result, message, finished_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
                vals![
                    rack,
                    now,
                    actor,
                    action,
                    what.to_string(),
                    outcome.as_str(),
                    message,
                    finished
                ],
            )?
            .ok_or_else(|| self.corrupt("history insert returned no id".into()))?;
        Ok(ChangeId(row.int(0)?))
    }

    fn set_status_in(
        &self,
        c: &mut dyn Tx,
        rack: &str,
        status: RackStatus,
        last_error: Option<&str>,
        now: &str,
    ) -> Result<(), StoreError> {
        let n = c.exec(
            "UPDATE racks SET status = ?2, last_error = ?3, updated_at = ?4 WHERE name = ?1",
            vals![rack, status.as_str(), last_error, now],
        )?;
        if n == 0 {
            return Err(StoreError::UnknownRack(rack.to_string()));
        }
        Ok(())
    }

    // ---- racks ---------------------------------------------------------------------------

    /// The rack named `name`, if recorded.
    pub fn rack(&self, name: &str) -> Result<Option<Rack>, StoreError> {
        self.read(|c| self.rack_in(c, name))
    }

    /// The rack named `name`, or [`StoreError::UnknownRack`].
    pub fn get_rack(&self, name: &str) -> Result<Rack, StoreError> {
        self.rack(name)?
            .ok_or_else(|| StoreError::UnknownRack(name.to_string()))
    }

    /// All racks, by name.
    pub fn racks(&self) -> Result<Vec<Rack>, StoreError> {
        self.read(|c| {
            let sql = format!("SELECT {} FROM racks ORDER BY name", Self::RACK_COLS);
            let rows = c.query(&sql, &[])?;
            let found = rows
                .iter()
                .map(|r| self.row_to_rack(r))
                .collect::<Result<Vec<_>, _>>()?;
            if !found
                .iter()
                .any(|r| matches!(r.status, RackStatus::Installing | RackStatus::Updating))
            {
                return Ok(found);
            }
            found
                .into_iter()
                .map(|r| self.with_run_status(c, r))
                .collect()
        })
    }

    // ---- parameters and changes ----------------------------------------------------------

    /// The rack's explicitly set parameters.
    pub fn params(&self, rack: &str) -> Result<Params, StoreError> {
        self.read(|c| {
            if self.rack_in(c, rack)?.is_none() {
                return Err(StoreError::UnknownRack(rack.to_string()));
            }
            self.params_in(c, rack)
        })
    }

    /// History, newest first; `rack = None` for all racks; at most `limit` rows.
    pub fn history(
        &self,
        rack: Option<&str>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let cols = "SELECT id, rack, at, actor, action, what, result, message, finished_at \
                    FROM history";
        self.read(|c| {
            let rows = match rack {
                Some(r) => c.query(
                    &format!("{cols} WHERE rack = ?1 ORDER BY id DESC LIMIT ?2"),
                    vals![r, limit],
                )?,
                None => c.query(&format!("{cols} ORDER BY id DESC LIMIT ?1"), vals![limit])?,
            };
            rows.iter().map(|r| self.history_row(r)).collect()
        })
    }

    fn history_row(&self, r: &Row) -> Result<HistoryEntry, StoreError> {
        let id = r.int(0)?;
        let what = r.text(5)?;
        let result = r.text(6)?;
        Ok(HistoryEntry {
            id,
            rack: r.text(1)?,
            at: r.text(2)?,
            actor: r.text(3)?,
            action: r.text(4)?,
            what: serde_json::from_str(&what)
                .map_err(|e| self.corrupt(format!("history {id}: {e}")))?,
            result: ChangeResult::parse(&result)
                .ok_or_else(|| self.corrupt(format!("history {id}: result {result}")))?,
            message: r.opt_text(7)?,
            finished_at: r.opt_text(8)?,
        })
    }

    // ---- current rack --------------------------------------------------------------------

    /// The rack chosen with `convox switch` (if it still exists).
    pub fn current_rack(&self) -> Result<Option<String>, StoreError> {
        let chosen = match &self.current_file {
            Some(f) => match std::fs::read_to_string(f) {
                Ok(s) => Some(s.trim().to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(io_err(f, e)),
            },
            None => self.read(|c| {
                c.query_opt("SELECT value FROM meta WHERE key = 'current_rack'", &[])?
                    .map(|r| r.text(0))
                    .transpose()
            })?,
        };
        match chosen {
            Some(name) if self.rack(&name)?.is_some() => Ok(Some(name)),
            _ => Ok(None),
        }
    }

    /// `convox switch NAME`: the rack must exist.
    pub fn set_current_rack(&self, name: &str) -> Result<(), StoreError> {
        if let Some(f) = &self.current_file {
            if self.rack(name)?.is_none() {
                return Err(StoreError::UnknownRack(name.to_string()));
            }
            return std::fs::write(f, format!("{name}\n")).map_err(|e| io_err(f, e));
        }
        self.write(|tx| {
            if self.rack_in(tx, name)?.is_none() {
                return Err(StoreError::UnknownRack(name.to_string()));
            }
            tx.exec(
                "INSERT INTO meta (key, value) VALUES ('current_rack', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                vals![name],
            )?;
            Ok(())
        })
    }

    /// Resolves the rack to act on: `flag` (-r), else `env` ($CONVOX_RACK), else the current
    /// rack; the result must exist.
    pub fn resolve_rack(&self, flag: Option<&str>, env: Option<&str>) -> Result<Rack, StoreError> {
        let name = match flag.or(env).filter(|s| !s.is_empty()) {
            Some(n) => n.to_string(),
            None => self.current_rack()?.ok_or(StoreError::NoCurrentRack)?,
        };
        self.get_rack(&name)
    }

    // ---- locks ---------------------------------------------------------------------------

    /// Takes the per-rack lock (see [`lock`] for the rules); the lock is released when the
    /// returned guard is dropped.
    pub fn lock_rack(&self, rack: &str, opts: &LockOptions) -> Result<RackLock, StoreError> {
        lock::acquire(self, rack, opts)
    }

    /// Who holds the rack's lock right now, if anyone (stale locks included).
    pub fn lock_holder(&self, rack: &str) -> Result<Option<LockHolder>, StoreError> {
        self.read(|c| lock::holder(c, rack))
    }
}

pub(crate) fn lock_backend(m: &Mutex<Box<dyn Backend>>) -> MutexGuard<'_, Box<dyn Backend>> {
    // A panic while holding the lock leaves the connection usable (the open transaction is
    // rolled back when it is dropped), so recover from poisoning.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` in one transaction of `backend`.
pub(crate) fn run_in<T: Send>(
    backend: &mut dyn Backend,
    mode: Mode,
    f: impl FnOnce(&mut dyn Tx) -> Result<T, StoreError> + Send,
) -> Result<T, StoreError> {
    let mut f = Some(f);
    let mut out = None;
    backend.transaction(mode, &mut |tx| {
        // A backend runs the body once per transaction; a second call would be a bug.
        let f = f.take().ok_or_else(|| StoreError::Corrupt {
            path: String::new(),
            what: "transaction body run twice".into(),
        })?;
        out = Some(f(tx)?);
        Ok(())
    })?;
    out.ok_or_else(|| StoreError::Corrupt {
        path: String::new(),
        what: "transaction body not run".into(),
    })
}

fn io_err(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source: e,
    }
}

/// A stable name for a store location (file names of per-machine state).
pub(crate) fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod test_db;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_actions;
#[cfg(test)]
mod tests_process;
#[cfg(test)]
mod tests_shared;
