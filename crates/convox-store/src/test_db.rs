//! Test fixture: a fresh store per test on either backend. PostgreSQL tests create a
//! database of their own in the server named by CONVOX_TEST_POSTGRES (a URL to a database
//! the user may create databases from) and drop it afterwards. Without that variable they
//! are skipped with a note, unless CONVOX_REQUIRE_POSTGRES=1 (the test command sets it):
//! then they fail.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::Value;
use crate::{Store, StoreError};

/// Where a child process finds the store of its parent's test.
pub(crate) const SPEC_ENV: &str = "CONVOX_STORE_TEST_SPEC";

/// A store to open, in this process or another.
#[derive(Debug, Clone)]
pub(crate) enum Spec {
    Sqlite(PathBuf),
    Postgres { url: String, home: PathBuf },
}

impl Spec {
    pub(crate) fn try_open(&self) -> Result<Store, StoreError> {
        match self {
            Spec::Sqlite(dir) => Store::open(dir),
            Spec::Postgres { url, home } => Store::open_url(url, home),
        }
    }
    pub(crate) fn open(&self) -> Store {
        self.try_open()
            .unwrap_or_else(|e| panic!("open {self:?}: {e}"))
    }
    pub(crate) fn to_env(&self) -> String {
        match self {
            Spec::Sqlite(dir) => dir.display().to_string(),
            Spec::Postgres { url, home } => format!("{url}\n{}", home.display()),
        }
    }
    pub(crate) fn from_env() -> Spec {
        let v = std::env::var(SPEC_ENV).expect("store spec in the environment");
        match v.split_once('\n') {
            Some((url, home)) => Spec::Postgres {
                url: url.into(),
                home: home.into(),
            },
            None => Spec::Sqlite(v.into()),
        }
    }
}

/// The server for PostgreSQL tests, if there is one: the URL of its admin database.
pub(crate) fn postgres_admin_url() -> Option<String> {
    if let Some(url) = std::env::var("CONVOX_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())
    {
        return Some(url);
    }
    if std::env::var("CONVOX_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
        panic!("CONVOX_REQUIRE_POSTGRES=1 but CONVOX_TEST_POSTGRES is not set: run the tests with scripts/test, which starts a PostgreSQL server for them");
    }
    eprintln!("skipped: no PostgreSQL server (set CONVOX_TEST_POSTGRES=postgres://USER@HOST:PORT/postgres, or run scripts/test)");
    None
}

/// `url` with its database replaced by `name`.
pub(crate) fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let query = tail.find('?').map_or("", |i| &tail[i..]);
    format!("{scheme}://{authority}/{name}{query}")
}

/// Runs `f` on a connection to the admin database.
pub(crate) fn admin(url: &str, sql: &str) {
    let mut c = postgres::Client::connect(url, postgres::NoTls)
        .unwrap_or_else(|e| panic!("connect to {}: {e}", crate::mask_url(url)));
    c.batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A fresh database on the test server (dropped with the value).
pub(crate) struct PgDb {
    pub(crate) url: String,
    admin: String,
    name: String,
}

impl PgDb {
    pub(crate) fn create(admin_url: &str) -> PgDb {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "convox_t_{}_{}_{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        admin(admin_url, &format!("CREATE DATABASE {name}"));
        PgDb {
            url: with_database(admin_url, &name),
            admin: admin_url.to_string(),
            name,
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// A test's store.
pub(crate) enum Db {
    Sqlite(tempfile::TempDir),
    Postgres { home: tempfile::TempDir, db: PgDb },
}

impl Db {
    pub(crate) fn sqlite() -> Db {
        Db::Sqlite(tempfile::tempdir().expect("tempdir"))
    }

    /// A fresh database, or `None` (skipped, said on stderr) without a server.
    pub(crate) fn postgres() -> Option<Db> {
        let admin = postgres_admin_url()?;
        Some(Db::Postgres {
            home: tempfile::tempdir().expect("tempdir"),
            db: PgDb::create(&admin),
        })
    }

    /// A directory of the test's own (the SQLite store's, or the machine state of a shared one).
    pub(crate) fn dir(&self) -> &Path {
        match self {
            Db::Sqlite(d) => d.path(),
            Db::Postgres { home, .. } => home.path(),
        }
    }

    pub(crate) fn spec(&self) -> Spec {
        match self {
            Db::Sqlite(d) => Spec::Sqlite(d.path().to_path_buf()),
            Db::Postgres { home, db } => Spec::Postgres {
                url: db.url.clone(),
                home: home.path().to_path_buf(),
            },
        }
    }

    pub(crate) fn open(&self) -> Store {
        self.spec().open()
    }

    /// Marks the schema as `version` (as a newer convox would have left it).
    pub(crate) fn set_schema_version(&self, s: &Store, version: i64) {
        match self {
            Db::Sqlite(_) => raw(s, &format!("PRAGMA user_version = {version}"), &[]),
            Db::Postgres { .. } => raw(
                s,
                "UPDATE convox_schema SET version = ?1",
                &[Value::Int(version)],
            ),
        }
    }
}

/// One statement in a write transaction (tests tamper with rows through it).
pub(crate) fn raw(s: &Store, sql: &str, params: &[Value]) {
    s.write(|tx| tx.exec(sql, params))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}
