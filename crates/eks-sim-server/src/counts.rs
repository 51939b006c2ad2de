//! Per-operation counters of the reserved `/_sim/` endpoints: requests received (counted
//! once routed, before faults) and answers sent by HTTP status, so a test can tell a call
//! that was tried from one that took effect (e.g. "each access entry was created once").

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

#[derive(Default)]
pub(crate) struct Counts {
    requests: Mutex<HashMap<(&'static str, &'static str), u64>>,
    answers: Mutex<HashMap<(&'static str, &'static str, u16), u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Counts {
    pub(crate) fn request(&self, service: &'static str, op: &'static str) {
        *lock(&self.requests).entry((service, op)).or_insert(0) += 1;
    }

    pub(crate) fn answer(&self, service: &'static str, op: &'static str, status: u16) {
        *lock(&self.answers)
            .entry((service, op, status))
            .or_insert(0) += 1;
    }

    /// `{"eks:DescribeCluster": 3, …}`
    pub(crate) fn requests(&self) -> BTreeMap<String, u64> {
        lock(&self.requests)
            .iter()
            .map(|((svc, op), n)| (format!("{svc}:{op}"), *n))
            .collect()
    }

    /// `{"eks:CreateAccessEntry": {"200": 2, "429": 5}, …}`
    pub(crate) fn answers(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for ((svc, op, status), n) in lock(&self.answers).iter() {
            out.entry(format!("{svc}:{op}"))
                .or_default()
                .insert(status.to_string(), *n);
        }
        out
    }

    pub(crate) fn clear(&self) {
        lock(&self.requests).clear();
        lock(&self.answers).clear();
    }
}
