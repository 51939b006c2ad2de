//! The audit trail of each cluster's API: who asked what and whether it was allowed, and
//! why. Kept in memory per server process (the last [`KEPT`] requests per cluster), read at
//! `GET /_sim/kube/audit?cluster=NAME` (plain HTTP, like every reserved endpoint).

use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

pub const KEPT: usize = 1000;

#[derive(Default)]
pub struct Audit {
    by_cluster: Mutex<HashMap<String, VecDeque<Value>>>,
}

/// One audited request.
pub(crate) struct Record<'a> {
    pub cluster: &'a str,
    pub now_ms: i64,
    pub username: &'a str,
    pub groups: &'a [String],
    pub verb: &'a str,
    pub resource: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub code: u16,
    pub allowed: bool,
    pub reason: &'a str,
}

impl Audit {
    pub(crate) fn add(&self, r: Record<'_>) {
        let v = json!({
            "time": kube_sim_model::objects::rfc3339(r.now_ms),
            "timeMs": r.now_ms,
            "username": r.username,
            "groups": r.groups,
            "verb": r.verb,
            "resource": r.resource,
            "namespace": r.namespace,
            "name": r.name,
            "code": r.code,
            "allowed": r.allowed,
            "reason": r.reason,
        });
        let mut m = match self.by_cluster.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        let q = m.entry(r.cluster.to_string()).or_default();
        if q.len() >= KEPT {
            q.pop_front();
        }
        q.push_back(v);
    }

    /// The records of a cluster (by name), oldest first.
    pub fn of(&self, cluster: &str) -> Vec<Value> {
        let m = match self.by_cluster.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        m.get(cluster)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn clear(&self) {
        if let Ok(mut m) = self.by_cluster.lock() {
            m.clear();
        }
    }
}
