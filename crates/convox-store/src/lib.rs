//! # convox-store
//!
//! The rack store: racks, their explicitly set parameters, a history of every change, the
//! current rack, and per-rack locks, in one SQLite file (`racks.db`) under a directory the
//! binary chooses (`$CONVOX_HOME`, else the platform data dir).
//!
//! - The file is created with mode 0600 (its directory 0700 when we create it); WAL journal
//!   and a busy timeout let several `convox` processes share it.
//! - The schema is versioned with `PRAGMA user_version` and migrated on open.
//! - Every change runs in one `BEGIN IMMEDIATE` transaction: a refused call stores nothing.
//! - A rack is changed only through [`Fenced`], the store seen through the rack's held lock
//!   ([`Store::fenced`]): `begin_*` … `finish_change` and `delete_rack` check, inside their
//!   own transaction, that the lock is still the caller's. A run that lost its lock (stopped
//!   past its lease while another run took the rack over) writes nothing
//!   ([`StoreError::LockLost`]).
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
use std::sync::{Mutex, MutexGuard};

use convox_params::{ChangeSet, ParamError, Params, Version};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

mod changes;
mod lock;
mod schema;

pub use changes::Fenced;
pub use lock::{LockHolder, LockOptions, RackLock};

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

/// Where a rack lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// On the simulator (embedded default or `convox sim serve`).
    Local,
    /// On AWS (or whatever the standard AWS configuration chain points at).
    Aws,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Local => "local",
            Provider::Aws => "aws",
        }
    }
    pub fn parse(s: &str) -> Option<Provider> {
        match s {
            "local" => Some(Provider::Local),
            "aws" => Some(Provider::Aws),
            _ => None,
        }
    }
}

/// A rack's lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RackStatus {
    Installing,
    Running,
    Updating,
    Failed,
}

impl RackStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RackStatus::Installing => "installing",
            RackStatus::Running => "running",
            RackStatus::Updating => "updating",
            RackStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<RackStatus> {
        match s {
            "installing" => Some(RackStatus::Installing),
            "running" => Some(RackStatus::Running),
            "updating" => Some(RackStatus::Updating),
            "failed" => Some(RackStatus::Failed),
            _ => None,
        }
    }
}

impl std::fmt::Display for RackStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rack to record at install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRack {
    pub name: String,
    pub provider: Provider,
    pub version: Version,
    pub region: String,
    /// EKS cluster name.
    pub cluster: String,
    pub nodes_role_arn: String,
    pub karpenter_nodes_role_arn: Option<String>,
    /// Endpoint override (e.g. a `convox sim serve` URL); `None` = default resolution.
    pub endpoint: Option<String>,
    /// AWS profile name for `aws` racks; `None` = the standard chain.
    pub profile: Option<String>,
}

/// A recorded rack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rack {
    pub name: String,
    pub provider: Provider,
    pub version: Version,
    pub status: RackStatus,
    pub region: String,
    pub cluster: String,
    pub nodes_role_arn: String,
    pub karpenter_nodes_role_arn: Option<String>,
    pub endpoint: Option<String>,
    pub profile: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
    /// Message of the last failed change, cleared by the next successful one.
    pub last_error: Option<String>,
}

impl Rack {
    /// The install-only identity as parameters (`region`, `cluster`, `nodes_role_arn`,
    /// `karpenter_nodes_role_arn`), merged over `params`, for `convox rack params` listings.
    pub fn listing_params(&self, params: &Params) -> Params {
        let mut p = params.clone();
        p.values
            .insert(convox_params::REGION.into(), self.region.clone());
        p.values
            .insert(convox_params::CLUSTER.into(), self.cluster.clone());
        p.values.insert(
            convox_params::NODES_ROLE_ARN.into(),
            self.nodes_role_arn.clone(),
        );
        if let Some(k) = &self.karpenter_nodes_role_arn {
            p.values
                .insert(convox_params::KARPENTER_NODES_ROLE_ARN.into(), k.clone());
        }
        p
    }
}

/// Id of a history row opened by a `begin_*` call, closed by [`Fenced::finish_change`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChangeId(pub i64);

/// Result of a history row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pending,
    Ok,
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Pending => "pending",
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
        }
    }
    fn parse(s: &str) -> Option<Outcome> {
        match s {
            "pending" => Some(Outcome::Pending),
            "ok" => Some(Outcome::Ok),
            "failed" => Some(Outcome::Failed),
            _ => None,
        }
    }
}

/// One history row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub id: i64,
    pub rack: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// Caller ARN, or `local`.
    pub actor: String,
    /// `install`, `params set`, `update`, `uninstall`, …
    pub action: String,
    /// JSON describing the change (sensitive values masked).
    pub what: serde_json::Value,
    pub result: Outcome,
    pub message: Option<String>,
    pub finished_at: Option<String>,
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
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
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

impl Store {
    /// Opens (creating if needed) `dir/racks.db`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        schema::ensure_dir(dir)?;
        Store::open_file(&dir.join(FILE_NAME))
    }

    /// Opens (creating if needed) the store at `path`.
    pub fn open_file(path: &Path) -> Result<Store, StoreError> {
        let conn = schema::open_connection(path)?;
        let store = Store {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        };
        {
            let mut c = store.conn();
            schema::migrate(&mut c, path)?;
        }
        Ok(store)
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable (SQLite rolls back
        // the open transaction when it is dropped), so recover from poisoning.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn sql(&self, e: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.display().to_string(),
            source: e,
        }
    }

    fn corrupt(&self, what: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.display().to_string(),
            what,
        }
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction; rolls back on error.
    fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut c = self.conn();
        let tx = c
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sql(e))?;
        let out = f(&tx)?;
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(out)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let c = self.conn();
        f(&c)
    }

    fn row_to_rack(&self, r: &rusqlite::Row<'_>) -> Result<Rack, StoreError> {
        let get_s = |i: usize| r.get::<_, String>(i).map_err(|e| self.sql(e));
        let get_o = |i: usize| r.get::<_, Option<String>>(i).map_err(|e| self.sql(e));
        let name = get_s(0)?;
        let provider = get_s(1)?;
        let version = get_s(2)?;
        let status = get_s(3)?;
        Ok(Rack {
            provider: Provider::parse(&provider)
                .ok_or_else(|| self.corrupt(format!("rack {name}: provider {provider}")))?,
            version: version
                .parse()
                .map_err(|_| self.corrupt(format!("rack {name}: version {version}")))?,
            status: RackStatus::parse(&status)
                .ok_or_else(|| self.corrupt(format!("rack {name}: status {status}")))?,
            region: get_s(4)?,
            cluster: get_s(5)?,
            nodes_role_arn: get_s(6)?,
            karpenter_nodes_role_arn: get_o(7)?,
            endpoint: get_o(8)?,
            profile: get_o(9)?,
            created_at: get_s(10)?,
            updated_at: get_s(11)?,
            last_error: get_o(12)?,
            name,
        })
    }

    const RACK_COLS: &'static str = "name, provider, version, status, region, cluster, \
        nodes_role_arn, karpenter_nodes_role_arn, endpoint, profile, created_at, updated_at, \
        last_error";

    fn rack_in(&self, c: &Connection, name: &str) -> Result<Option<Rack>, StoreError> {
        let sql = format!("SELECT {} FROM racks WHERE name = ?1", Self::RACK_COLS);
        let mut stmt = c.prepare_cached(&sql).map_err(|e| self.sql(e))?;
        let mut rows = stmt.query(params![name]).map_err(|e| self.sql(e))?;
        let rack = match rows.next().map_err(|e| self.sql(e))? {
            Some(r) => self.row_to_rack(r)?,
            None => return Ok(None),
        };
        drop(rows);
        Ok(Some(self.with_run_status(c, rack)?))
    }

    /// A rack `installing`/`updating` while nobody holds its lock (or only a dead or expired
    /// holder does) is not being changed: the run making the change died between its begin
    /// and its finish. Report it as it is, failed and interrupted, rather than as still
    /// running; the next locked run closes the pending change and takes over.
    fn with_run_status(&self, c: &Connection, mut rack: Rack) -> Result<Rack, StoreError> {
        if matches!(rack.status, RackStatus::Installing | RackStatus::Updating) {
            let live = lock::holder(self, c, &rack.name)?.is_some_and(|h| !h.is_stale(now_ms()));
            if !live {
                rack.status = RackStatus::Failed;
                rack.last_error = Some(INTERRUPTED.to_string());
            }
        }
        Ok(rack)
    }

    fn params_in(&self, c: &Connection, rack: &str) -> Result<Params, StoreError> {
        let mut stmt = c
            .prepare_cached("SELECT key, value FROM params WHERE rack = ?1")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![rack], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| self.sql(e))?;
        let mut p = Params::default();
        for row in rows {
            let (k, v) = row.map_err(|e| self.sql(e))?;
            p.values.insert(k, v);
        }
        Ok(p)
    }

    fn store_params_in(
        &self,
        c: &Connection,
        rack: &str,
        changes: &ChangeSet,
        now: &str,
    ) -> Result<(), StoreError> {
        let mut stmt = c
            .prepare_cached(
                "INSERT INTO params (rack, key, value, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (rack, key) DO UPDATE SET value = excluded.value, \
                 updated_at = excluded.updated_at",
            )
            .map_err(|e| self.sql(e))?;
        for ch in &changes.changes {
            stmt.execute(params![rack, ch.key, ch.new, now])
                .map_err(|e| self.sql(e))?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn history_in(
        &self,
        c: &Connection,
        rack: &str,
        actor: &str,
        action: &str,
        what: &serde_json::Value,
        outcome: Outcome,
        message: Option<&str>,
        now: &str,
    ) -> Result<ChangeId, StoreError> {
        let finished = (outcome != Outcome::Pending).then_some(now);
        c.execute(
            "INSERT INTO history (rack, at, actor, action, what, result, message, finished_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                rack,
                now,
                actor,
                action,
                what.to_string(),
                outcome.as_str(),
                message,
                finished
            ],
        )
        .map_err(|e| self.sql(e))?;
        Ok(ChangeId(c.last_insert_rowid()))
    }

    fn set_status_in(
        &self,
        c: &Connection,
        rack: &str,
        status: RackStatus,
        last_error: Option<&str>,
        now: &str,
    ) -> Result<(), StoreError> {
        let n = c
            .execute(
                "UPDATE racks SET status = ?2, last_error = ?3, updated_at = ?4 WHERE name = ?1",
                params![rack, status.as_str(), last_error, now],
            )
            .map_err(|e| self.sql(e))?;
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
            let mut stmt = c.prepare(&sql).map_err(|e| self.sql(e))?;
            let mut rows = stmt.query([]).map_err(|e| self.sql(e))?;
            let mut found = Vec::new();
            while let Some(r) = rows.next().map_err(|e| self.sql(e))? {
                found.push(self.row_to_rack(r)?);
            }
            drop(rows);
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
        self.read(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT id, rack, at, actor, action, what, result, message, finished_at \
                     FROM history WHERE (?1 IS NULL OR rack = ?1) ORDER BY id DESC LIMIT ?2",
                )
                .map_err(|e| self.sql(e))?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut rows = stmt.query(params![rack, limit]).map_err(|e| self.sql(e))?;
            let mut out = Vec::new();
            while let Some(r) = rows.next().map_err(|e| self.sql(e))? {
                let what: String = r.get(5).map_err(|e| self.sql(e))?;
                let result: String = r.get(6).map_err(|e| self.sql(e))?;
                let id: i64 = r.get(0).map_err(|e| self.sql(e))?;
                out.push(HistoryEntry {
                    id,
                    rack: r.get(1).map_err(|e| self.sql(e))?,
                    at: r.get(2).map_err(|e| self.sql(e))?,
                    actor: r.get(3).map_err(|e| self.sql(e))?,
                    action: r.get(4).map_err(|e| self.sql(e))?,
                    what: serde_json::from_str(&what)
                        .map_err(|e| self.corrupt(format!("history {id}: {e}")))?,
                    result: Outcome::parse(&result)
                        .ok_or_else(|| self.corrupt(format!("history {id}: result {result}")))?,
                    message: r.get(7).map_err(|e| self.sql(e))?,
                    finished_at: r.get(8).map_err(|e| self.sql(e))?,
                });
            }
            Ok(out)
        })
    }

    // ---- current rack --------------------------------------------------------------------

    /// The rack chosen with `convox switch` (if it still exists).
    pub fn current_rack(&self) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT m.value FROM meta m JOIN racks r ON r.name = m.value \
                 WHERE m.key = 'current_rack'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))
        })
    }

    /// `convox switch NAME`: the rack must exist.
    pub fn set_current_rack(&self, name: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            if self.rack_in(tx, name)?.is_none() {
                return Err(StoreError::UnknownRack(name.to_string()));
            }
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('current_rack', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![name],
            )
            .map_err(|e| self.sql(e))?;
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
        self.read(|c| lock::holder(self, c, rack))
    }
}

#[cfg(test)]
mod tests;
