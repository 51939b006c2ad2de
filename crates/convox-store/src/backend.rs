//! What a storage backend provides to the rules above it: transactions (a write one that
//! excludes every other writer, as SQLite's `BEGIN IMMEDIATE` does; a read one that sees one
//! snapshot), statements with `?N` placeholders over three value types, and the clock that
//! leases are measured by. Everything else (validation, history, locks, fencing) is written
//! once, in terms of [`Tx`].

use std::sync::Arc;

use crate::StoreError;

/// A statement parameter or a column value. The schema keeps to these three types on both
/// backends (timestamps as RFC 3339 text, JSON as text, integers as 64-bit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}
impl From<&String> for Value {
    fn from(s: &String) -> Value {
        Value::Text(s.clone())
    }
}
impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Int(n)
    }
}
impl From<u32> for Value {
    fn from(n: u32) -> Value {
        Value::Int(i64::from(n))
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(o: Option<T>) -> Value {
        o.map_or(Value::Null, Into::into)
    }
}

/// Statement parameters: `vals![a, b]`.
macro_rules! vals {
    ($($v:expr),* $(,)?) => { &[$($crate::backend::Value::from($v)),*][..] };
}
pub(crate) use vals;

/// One result row; its accessors report a column of the wrong type as a corrupt store.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) values: Vec<Value>,
    pub(crate) location: Arc<str>,
}

impl Row {
    fn corrupt(&self, i: usize, want: &str) -> StoreError {
        StoreError::Corrupt {
            path: self.location.to_string(),
            what: format!("column {i} is {:?}, expected {want}", self.values.get(i)),
        }
    }
    pub(crate) fn text(&self, i: usize) -> Result<String, StoreError> {
        match self.values.get(i) {
            Some(Value::Text(s)) => Ok(s.clone()),
            _ => Err(self.corrupt(i, "text")),
        }
    }
    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.values.get(i) {
            Some(Value::Text(s)) => Ok(Some(s.clone())),
            Some(Value::Null) => Ok(None),
            _ => Err(self.corrupt(i, "text or null")),
        }
    }
    pub(crate) fn int(&self, i: usize) -> Result<i64, StoreError> {
        match self.values.get(i) {
            Some(Value::Int(n)) => Ok(*n),
            _ => Err(self.corrupt(i, "integer")),
        }
    }
}

/// An open transaction.
pub(crate) trait Tx {
    /// Runs a statement; how many rows it changed.
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;
    /// Runs a query; its rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;
    /// Milliseconds since the epoch by the clock every holder of the store shares: the
    /// database server's for PostgreSQL (machines' clocks differ; a lease must not), the
    /// machine's for SQLite (one machine).
    fn now_ms(&mut self) -> Result<i64, StoreError>;

    fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

/// Which kind of transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Excludes every other writer for its duration.
    Write,
    /// One consistent snapshot, no writes.
    Read,
}

/// A transaction body, type-erased so that backends are objects.
pub(crate) type Body<'a> = dyn FnMut(&mut dyn Tx) -> Result<(), StoreError> + Send + 'a;

/// A connection to one store. Committed on `Ok`, rolled back on `Err`.
pub(crate) trait Backend: Send {
    fn transaction(&mut self, mode: Mode, body: &mut Body<'_>) -> Result<(), StoreError>;
}

/// Backend-independent facts about where a store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The SQLite file.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL URL, its password masked.
    Postgres(String),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "{}", p.display()),
            Location::Postgres(u) => f.write_str(u),
        }
    }
}
