//! Kubernetes objects of every simulated cluster, in the simulator's SQLite state: one row
//! per object (its JSON as served), a resourceVersion counter per cluster, and an event log
//! that watches replay. Objects are keyed by the cluster's endpoint id, so a cluster deleted
//! and re-created under the same name starts empty, as on EKS.

use crate::status::{KubeError, KubeResult};
use eks_sim_model::{SimError, Store};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS kube_clusters (
    cluster TEXT PRIMARY KEY,
    rv INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kube_objects (
    cluster TEXT NOT NULL,
    resource TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    rv INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (cluster, resource, namespace, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kube_events (
    cluster TEXT NOT NULL,
    rv INTEGER NOT NULL,
    resource TEXT NOT NULL,
    namespace TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (cluster, rv)
) WITHOUT ROWID;
"#;

/// Events kept per cluster for watches that resume (older ones are `410 Gone`).
pub const EVENTS_KEPT: i64 = 1000;

/// Creates the tables (idempotent); run once per process before serving.
pub fn init(store: &Store) -> Result<(), SimError> {
    store.write(|tx| {
        tx.execute_batch(SCHEMA)?;
        tx.execute_batch(crate::nodes::SCHEMA)?;
        tx.execute_batch(eks_sim_model::eks::kube_view::SCHEMA)?;
        Ok(())
    })
}

/// Where an object lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key<'a> {
    pub cluster: &'a str,
    /// Plural, with the group for non-core kinds (`roles.rbac.authorization.k8s.io`).
    pub resource: &'a str,
    /// `""` for cluster-scoped kinds.
    pub namespace: &'a str,
}

pub fn rfc3339(ms: i64) -> String {
    eks_sim_model::dates::iso8601(ms)
}

/// The cluster's current resourceVersion (0 before anything was written).
pub fn current_rv(conn: &Connection, cluster: &str) -> KubeResult<i64> {
    Ok(conn
        .prepare_cached("SELECT rv FROM kube_clusters WHERE cluster = ?1")
        .map_err(SimError::from)?
        .query_row([cluster], |r| r.get(0))
        .optional()
        .map_err(SimError::from)?
        .unwrap_or(0))
}

fn next_rv(conn: &Connection, cluster: &str) -> KubeResult<i64> {
    let rv = current_rv(conn, cluster)? + 1;
    conn.prepare_cached(
        "INSERT INTO kube_clusters (cluster, rv) VALUES (?1, ?2) \
         ON CONFLICT (cluster) DO UPDATE SET rv = excluded.rv",
    )
    .map_err(SimError::from)?
    .execute(params![cluster, rv])
    .map_err(SimError::from)?;
    Ok(rv)
}

fn sql<T>(r: rusqlite::Result<T>) -> KubeResult<T> {
    r.map_err(|e| KubeError::from(SimError::from(e)))
}

pub fn get(conn: &Connection, k: Key<'_>, name: &str) -> KubeResult<Option<Value>> {
    let body: Option<String> = sql(sql(conn.prepare_cached(
        "SELECT body FROM kube_objects WHERE cluster = ?1 AND resource = ?2 AND namespace = ?3 AND name = ?4",
    ))?
    .query_row(params![k.cluster, k.resource, k.namespace, name], |r| r.get(0))
    .optional())?;
    Ok(body.and_then(|b| serde_json::from_str(&b).ok()))
}

/// Objects of a kind, in one namespace or (`namespace = None`) all; and the list's
/// resourceVersion.
pub fn list(
    conn: &Connection,
    cluster: &str,
    resource: &str,
    namespace: Option<&str>,
) -> KubeResult<(Vec<Value>, i64)> {
    let mut st = sql(conn.prepare_cached(
        "SELECT body FROM kube_objects WHERE cluster = ?1 AND resource = ?2 \
         AND (?3 IS NULL OR namespace = ?3) ORDER BY namespace, name",
    ))?;
    let rows = sql(st.query_map(params![cluster, resource, namespace], |r| {
        r.get::<_, String>(0)
    }))?;
    let mut out = Vec::new();
    for b in rows {
        if let Ok(v) = serde_json::from_str(&sql(b)?) {
            out.push(v);
        }
    }
    Ok((out, current_rv(conn, cluster)?))
}

fn record(conn: &Connection, k: Key<'_>, rv: i64, kind: &str, body: &Value) -> KubeResult<()> {
    sql(sql(conn.prepare_cached(
        "INSERT INTO kube_events (cluster, rv, resource, namespace, kind, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    ))?
    .execute(params![k.cluster, rv, k.resource, k.namespace, kind, body.to_string()]))?;
    sql(
        sql(conn.prepare_cached("DELETE FROM kube_events WHERE cluster = ?1 AND rv <= ?2"))?
            .execute(params![k.cluster, rv - EVENTS_KEPT]),
    )?;
    Ok(())
}

fn store_obj(conn: &Connection, k: Key<'_>, name: &str, rv: i64, body: &Value) -> KubeResult<()> {
    sql(sql(conn.prepare_cached(
        "INSERT INTO kube_objects (cluster, resource, namespace, name, rv, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (cluster, resource, namespace, name) DO UPDATE SET rv = excluded.rv, body = excluded.body",
    ))?
    .execute(params![k.cluster, k.resource, k.namespace, name, rv, body.to_string()]))?;
    Ok(())
}

/// Stores a new object (`body` already validated, with `metadata.name`); sets uid,
/// resourceVersion, creationTimestamp and the namespace. `None` when the name is taken.
pub fn create(
    conn: &Connection,
    k: Key<'_>,
    mut body: Value,
    now: i64,
) -> KubeResult<Option<Value>> {
    let name = body["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if get(conn, k, &name)?.is_some() {
        return Ok(None);
    }
    let rv = next_rv(conn, k.cluster)?;
    let meta = &mut body["metadata"];
    meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
    meta["resourceVersion"] = json!(rv.to_string());
    meta["creationTimestamp"] = json!(rfc3339(now));
    if !k.namespace.is_empty() {
        meta["namespace"] = json!(k.namespace);
    }
    store_obj(conn, k, &name, rv, &body)?;
    record(conn, k, rv, "ADDED", &body)?;
    Ok(Some(body))
}

/// Replaces `old` (as stored) with `body`, keeping what the server owns. The caller checked
/// the resourceVersion precondition.
pub fn replace(conn: &Connection, k: Key<'_>, old: &Value, mut body: Value) -> KubeResult<Value> {
    let name = old["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let rv = next_rv(conn, k.cluster)?;
    let meta = &mut body["metadata"];
    for f in ["uid", "creationTimestamp"] {
        meta[f] = old["metadata"][f].clone();
    }
    meta["name"] = json!(name);
    meta["resourceVersion"] = json!(rv.to_string());
    if !k.namespace.is_empty() {
        meta["namespace"] = json!(k.namespace);
    }
    store_obj(conn, k, &name, rv, &body)?;
    record(conn, k, rv, "MODIFIED", &body)?;
    Ok(body)
}

/// Removes an object; its last state (with a new resourceVersion) is returned and logged.
pub fn delete(conn: &Connection, k: Key<'_>, name: &str) -> KubeResult<Option<Value>> {
    let Some(mut old) = get(conn, k, name)? else {
        return Ok(None);
    };
    let rv = next_rv(conn, k.cluster)?;
    old["metadata"]["resourceVersion"] = json!(rv.to_string());
    sql(sql(conn.prepare_cached(
        "DELETE FROM kube_objects WHERE cluster = ?1 AND resource = ?2 AND namespace = ?3 AND name = ?4",
    ))?
    .execute(params![k.cluster, k.resource, k.namespace, name]))?;
    record(conn, k, rv, "DELETED", &old)?;
    Ok(Some(old))
}

/// A change a watch reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub rv: i64,
    pub kind: String,
    pub namespace: String,
    pub object: Value,
}

/// Events of a kind after `since`; `Err(Gone)` when `since` is older than the log keeps.
pub fn events_since(
    conn: &Connection,
    cluster: &str,
    resource: &str,
    since: i64,
) -> KubeResult<Vec<Event>> {
    let oldest: Option<i64> = sql(sql(
        conn.prepare_cached("SELECT MIN(rv) FROM kube_events WHERE cluster = ?1")
    )?
    .query_row([cluster], |r| r.get(0)))?;
    if oldest.is_some_and(|o| since + 1 < o) {
        return Err(KubeError::new(
            410,
            "Expired",
            format!(
                "too old resource version: {since} ({})",
                oldest.unwrap_or(0) - 1
            ),
        ));
    }
    let mut st = sql(conn.prepare_cached(
        "SELECT rv, kind, namespace, body FROM kube_events WHERE cluster = ?1 AND resource = ?2 AND rv > ?3 ORDER BY rv",
    ))?;
    let rows = sql(st.query_map(params![cluster, resource, since], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    }))?;
    let mut out = Vec::new();
    for row in rows {
        let (rv, kind, namespace, body) = sql(row)?;
        out.push(Event {
            rv,
            kind,
            namespace,
            object: serde_json::from_str(&body).unwrap_or(Value::Null),
        });
    }
    Ok(out)
}

/// Removes every object and event of a cluster (it was deleted).
pub fn forget_cluster(conn: &Connection, cluster: &str) -> KubeResult<()> {
    for t in ["kube_objects", "kube_events", "kube_clusters"] {
        sql(conn.execute(&format!("DELETE FROM {t} WHERE cluster = ?1"), [cluster]))?;
    }
    Ok(())
}
