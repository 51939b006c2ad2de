//! The PostgreSQL backend: a store a team shares.
//!
//! - The sync `postgres` client (tokio-postgres driven on a runtime of its own). It must not
//!   block inside another tokio runtime (the binary's), so a call made from one runs on a
//!   scoped thread of its own: the caller blocks as it would on SQLite, and nothing waits
//!   on the caller's runtime.
//! - Every write transaction first takes one transaction-scoped advisory lock: writers are
//!   serialized exactly as SQLite's `BEGIN IMMEDIATE` serializes them, so the rules above
//!   (read the lock row, then write; check the fencing token, then write) hold as they do
//!   on SQLite, under READ COMMITTED. Reads run in one REPEATABLE READ, READ ONLY snapshot.
//! - Leases are measured by the server's clock (`clock_timestamp()`), the one clock every
//!   machine sharing the store agrees on.
//! - The schema version lives in `convox_schema`; migrations run under a session advisory
//!   lock (two processes starting at once: one migrates, the other waits and finds it done),
//!   each in its own transaction with its version bump. A newer version is refused.
//! - A dropped connection (server restart) fails the statement it broke; the next
//!   transaction connects anew.
//! - The password is never shown: [`mask_url`] for the location, and every message from the
//!   driver or the server is scrubbed of it.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use postgres::config::SslMode;
use postgres::types::{FromSql, IsNull, ToSql, Type};
use postgres::{Client, IsolationLevel, NoTls, Statement};

use crate::backend::{Backend, Body, Mode, Row, Tx, Value};
use crate::tls::{self, Verify};
use crate::StoreError;

/// Advisory lock keys ("convox" + purpose); advisory locks are per database, so one
/// database is one store.
const WRITE_KEY: i64 = 0x636f_6e76_6f78_0001;
const MIGRATE_KEY: i64 = 0x636f_6e76_6f78_0002;

/// Migrations in order; `convox_schema.version` = how many have run. The same logical
/// schema, version for version, as the SQLite backend's.
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
        id BIGSERIAL PRIMARY KEY,
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
        pid BIGINT NOT NULL,
        purpose TEXT NOT NULL,
        acquired_at TEXT NOT NULL,
        acquired_at_ms BIGINT NOT NULL,
        renewed_at_ms BIGINT NOT NULL,
        lease_ms BIGINT NOT NULL
    );",
    // 2: the lock holder's host
    "ALTER TABLE locks ADD COLUMN host TEXT NOT NULL DEFAULT '';",
];

/// `url` with its password (in the user info or a `password=` parameter) replaced by `***`;
/// anything that is not a URL is masked the same way where it says `password=`.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return mask_password_params(url);
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    format!("{scheme}://{authority}{}", mask_password_params(tail))
}

fn mask_password_params(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.to_ascii_lowercase().find("password=") {
        let after = i + "password=".len();
        out.push_str(&rest[..after]);
        out.push_str("***");
        let end = rest[after..]
            .find(|c: char| c == '&' || c.is_whitespace())
            .map_or(rest.len(), |j| after + j);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The TLS choice of a URL, and the URL without the parameters tokio-postgres does not
/// know (`sslrootcert`, and `sslmode` values beyond `require`).
fn split_tls(url: &str) -> Result<(String, SslMode, Verify), String> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (url, ""),
    };
    let mut mode = "prefer".to_string();
    let mut root = None;
    let mut kept = Vec::new();
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        match kv.split_once('=') {
            Some(("sslmode", v)) => mode = percent_decode(v),
            Some(("sslrootcert", v)) => root = Some(std::path::PathBuf::from(percent_decode(v))),
            _ => kept.push(kv),
        }
    }
    let (ssl, verify) = match (mode.as_str(), root) {
        ("disable", _) => (SslMode::Disable, Verify::None),
        ("allow" | "prefer", r) => (SslMode::Prefer, r.map_or(Verify::None, Verify::RootFile)),
        ("require", r) => (SslMode::Require, r.map_or(Verify::None, Verify::RootFile)),
        ("verify-ca" | "verify-full", r) => {
            (SslMode::Require, r.map_or(Verify::System, Verify::RootFile))
        }
        (other, _) => {
            return Err(format!(
            "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
        ))
        }
    };
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, ssl, verify))
}

/// What a connection needs, kept to reconnect.
#[derive(Clone)]
struct Target {
    config: postgres::Config,
    tls: Option<tls::Rustls>,
    location: Arc<str>,
    password: Option<String>,
}

impl Target {
    fn err(&self, message: impl std::fmt::Display) -> StoreError {
        let mut message = message.to_string();
        if let Some(p) = self.password.as_deref().filter(|p| !p.is_empty()) {
            message = message.replace(p, "***");
        }
        StoreError::Postgres {
            location: self.location.to_string(),
            message: mask_password_params(&message),
        }
    }

    /// A driver error with its causes (the driver's own text is only the kind).
    fn pg(&self, e: &postgres::Error) -> StoreError {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        self.err(text)
    }

    fn connect(&self) -> Result<Client, StoreError> {
        let client = match &self.tls {
            None => self.config.connect(NoTls),
            Some(t) => self.config.connect(t.clone()),
        };
        client.map_err(|e| self.pg(&e))
    }
}

/// The PostgreSQL store.
pub(crate) struct Postgres {
    target: Target,
    client: Option<Client>,
    statements: HashMap<String, Statement>,
}

/// Runs `f` where the sync client may block: here, or on a scoped thread when this thread
/// drives a tokio runtime (the client's own runtime cannot be entered from inside another).
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

impl Postgres {
    /// Connects to `url` and brings its schema up to date.
    pub(crate) fn connect(url: &str) -> Result<Postgres, StoreError> {
        let location: Arc<str> = mask_url(url).into();
        let bad = |m: String| StoreError::Postgres {
            location: location.to_string(),
            message: m,
        };
        let (stripped, ssl, verify) = split_tls(url).map_err(&bad)?;
        let mut config = postgres::Config::from_str(&stripped)
            .map_err(|e| bad(mask_password_params(&format!("invalid URL: {e}"))))?;
        let password = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned());
        config.ssl_mode(ssl);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("convox");
        }
        // A writer waits at most as long for another as SQLite's busy timeout lets it.
        let options = match config.get_options() {
            Some(o) => format!("{o} -c lock_timeout=10s"),
            None => "-c lock_timeout=10s".to_string(),
        };
        config.options(&options);
        let tls = match ssl {
            SslMode::Disable => None,
            _ => Some(tls::Rustls(Arc::new(
                tls::client_config(&verify).map_err(&bad)?,
            ))),
        };
        let target = Target {
            config,
            tls,
            location,
            password,
        };
        off_runtime(move || {
            let mut client = target.connect()?;
            migrate(&mut client, &target)?;
            Ok(Postgres {
                target,
                client: Some(client),
                statements: HashMap::new(),
            })
        })
    }

    fn run(&mut self, mode: Mode, body: &mut Body<'_>) -> Result<(), StoreError> {
        // BEGIN on a connection the server closed while idle fails before anything ran:
        // safe to begin once more on a new connection.
        for attempt in 0..2 {
            let target = &self.target;
            // A new connection if the last was closed (e.g. the server restarted).
            if self.client.as_ref().is_none_or(Client::is_closed) {
                self.statements.clear();
                self.client = None;
                self.client = Some(target.connect()?);
                tracing::debug!(store = %target.location, "connected");
            }
            let Some(client) = self.client.as_mut() else {
                return Err(target.err("no connection"));
            };
            {
                let begun = match mode {
                    Mode::Write => client.transaction(),
                    Mode::Read => client
                        .build_transaction()
                        .isolation_level(IsolationLevel::RepeatableRead)
                        .read_only(true)
                        .start(),
                };
                match begun {
                    Ok(mut tx) => {
                        if mode == Mode::Write {
                            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_KEY])
                                .map_err(|e| target.pg(&e))?;
                        }
                        body(&mut PgTx {
                            tx: &mut tx,
                            statements: &mut self.statements,
                            target,
                        })?;
                        return tx.commit().map_err(|e| target.pg(&e));
                    }
                    // E.g. the server restarted, or ended the session (FATAL 57P01).
                    Err(e) if attempt == 0 => begun_err_note(&e),
                    Err(e) => return Err(target.pg(&e)),
                }
            }
            self.client = None;
        }
        Err(self.target.err("cannot begin a transaction"))
    }
}

fn begun_err_note(e: &postgres::Error) {
    tracing::debug!(error = %e, "cannot begin on this connection; connecting anew");
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // The client says goodbye to the server through its own runtime.
        if let Some(c) = self.client.take() {
            off_runtime(move || drop(c));
        }
    }
}

impl Backend for Postgres {
    fn transaction(&mut self, mode: Mode, body: &mut Body<'_>) -> Result<(), StoreError> {
        off_runtime(|| self.run(mode, body))
    }
}

/// `?1` placeholders (the rules' dialect) as `$1`.
fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

struct PgTx<'a, 'c> {
    tx: &'a mut postgres::Transaction<'c>,
    statements: &'a mut HashMap<String, Statement>,
    target: &'a Target,
}

impl PgTx<'_, '_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self
            .tx
            .prepare(&dollar_placeholders(sql))
            .map_err(|e| self.target.pg(&e))?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

fn refs(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

impl Tx for PgTx<'_, '_> {
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let stmt = self.statement(sql)?;
        self.tx
            .execute(&stmt, &refs(params))
            .map_err(|e| self.target.pg(&e))
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let stmt = self.statement(sql)?;
        let rows = self
            .tx
            .query(&stmt, &refs(params))
            .map_err(|e| self.target.pg(&e))?;
        rows.iter()
            .map(|r| {
                let values = (0..r.len())
                    .map(|i| r.try_get::<_, Value>(i))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| self.target.pg(&e))?;
                Ok(Row {
                    values,
                    location: self.target.location.clone(),
                })
            })
            .collect()
    }

    fn now_ms(&mut self) -> Result<i64, StoreError> {
        let row = self
            .tx
            .query_one(
                "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint",
                &[],
            )
            .map_err(|e| self.target.pg(&e))?;
        row.try_get(0).map_err(|e| self.target.pg(&e))
    }
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(n) => match *ty {
                Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
                _ => n.to_sql(ty, out),
            },
            Value::Text(s) => s.as_str().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in to_sql: the schema keeps to integers and text.
        true
    }

    postgres::types::to_sql_checked!();
}

impl<'a> FromSql<'a> for Value {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Value, BoxError> {
        Ok(match *ty {
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            _ => Value::Text(<&str>::from_sql(ty, raw)?.to_string()),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Value, BoxError> {
        Ok(Value::Null)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT8 | Type::INT4 | Type::INT2 | Type::TEXT | Type::VARCHAR | Type::BPCHAR
        )
    }
}

/// The schema version (0: a database convox never used).
fn schema_version(
    c: &mut impl postgres::GenericClient,
    target: &Target,
) -> Result<i64, StoreError> {
    let exists: bool = c
        .query_one("SELECT to_regclass('convox_schema') IS NOT NULL", &[])
        .and_then(|r| r.try_get(0))
        .map_err(|e| target.pg(&e))?;
    if !exists {
        return Ok(0);
    }
    let row = c
        .query_opt("SELECT max(version) FROM convox_schema", &[])
        .map_err(|e| target.pg(&e))?;
    Ok(row
        .and_then(|r| r.try_get::<_, Option<i64>>(0).ok().flatten())
        .unwrap_or(0))
}

fn migrate(client: &mut Client, target: &Target) -> Result<(), StoreError> {
    let supported = MIGRATIONS.len() as i64;
    let found = schema_version(client, target)?;
    crate::schema_not_newer(&target.location, found, supported)?;
    if found == supported {
        return Ok(());
    }
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_KEY])
        .map_err(|e| target.pg(&e))?;
    let res = migrate_locked(client, target, supported);
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_KEY]);
    res?;
    unlocked.map_err(|e| target.pg(&e))?;
    Ok(())
}

/// Under the migration lock: another process may have migrated while we waited for it.
fn migrate_locked(client: &mut Client, target: &Target, supported: i64) -> Result<(), StoreError> {
    loop {
        let mut tx = client.transaction().map_err(|e| target.pg(&e))?;
        let version = schema_version(&mut tx, target)?;
        crate::schema_not_newer(&target.location, version, supported)?;
        if version == supported {
            return Ok(());
        }
        let idx = usize::try_from(version).unwrap_or(0);
        tx.batch_execute("CREATE TABLE IF NOT EXISTS convox_schema (version BIGINT NOT NULL)")
            .map_err(|e| target.pg(&e))?;
        tx.batch_execute(MIGRATIONS[idx])
            .map_err(|e| target.pg(&e))?;
        tx.execute("DELETE FROM convox_schema", &[])
            .map_err(|e| target.pg(&e))?;
        tx.execute(
            "INSERT INTO convox_schema (version) VALUES ($1)",
            &[&(version + 1)],
        )
        .map_err(|e| target.pg(&e))?;
        tx.commit().map_err(|e| target.pg(&e))?;
        tracing::debug!(store = %target.location, version = version + 1, "rack store migrated");
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn urls_are_masked() {
        for (url, want) in [
            (
                "postgres://convox:s3cret@db.example:5432/racks?sslmode=require",
                "postgres://convox:***@db.example:5432/racks?sslmode=require",
            ),
            ("postgres://convox@db/racks", "postgres://convox@db/racks"),
            ("postgresql://u:p%40ss@h/d", "postgresql://u:***@h/d"),
            (
                "postgres://h/d?user=u&password=s3cret&sslmode=require",
                "postgres://h/d?user=u&password=***&sslmode=require",
            ),
            (
                "host=h password=s3cret user=u",
                "host=h password=*** user=u",
            ),
        ] {
            assert_eq!(mask_url(url), want, "{url}");
        }
    }

    #[test]
    fn tls_modes() {
        let (url, mode, verify) = split_tls("postgres://u@h/d?sslmode=require&user=x").expect("ok");
        assert_eq!(
            (url.as_str(), mode, verify),
            ("postgres://u@h/d?user=x", SslMode::Require, Verify::None)
        );
        let (_, mode, verify) =
            split_tls("postgres://u@h/d?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem")
                .expect("ok");
        assert_eq!(
            (mode, verify),
            (SslMode::Require, Verify::RootFile("/tmp/ca.pem".into()))
        );
        let (_, mode, _) = split_tls("postgres://u@h/d").expect("ok");
        assert_eq!(mode, SslMode::Prefer);
        assert!(split_tls("postgres://u@h/d?sslmode=bogus").is_err());
    }

    #[test]
    fn placeholders() {
        assert_eq!(
            dollar_placeholders("a = ?1 AND b = ?12 OR c = '?'"),
            "a = $1 AND b = $12 OR c = '?'"
        );
    }
}
