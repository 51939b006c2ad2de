//! Simulator settings: durations, EKS's own behaviours (switches), and faults on demand.
//! Stored in the state file so every process sharing it agrees.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// CreateCluster: CREATING → ACTIVE after this long.
    pub cluster_create_ms: u64,
    /// CreateNodegroup: CREATING → ACTIVE after this long.
    pub nodegroup_create_ms: u64,
    /// UpdateClusterConfig: InProgress → Successful after this long.
    pub update_ms: u64,
    /// After an auth-mode update completes, access-entry creation is still refused this long.
    pub propagation_ms: u64,
    /// EKS creates EC2_LINUX entries for managed node group roles when the mode first
    /// includes API (AWS does; on by default).
    pub auto_node_entries: bool,
    /// EKS adds a managed node group's role to `aws-auth` (creating the ConfigMap) when the
    /// group is created in a mode that includes CONFIG_MAP (AWS does; on by default).
    pub auto_node_aws_auth: bool,
    /// With `bootstrapClusterCreatorAdminPermissions`, EKS gives the creator an admin entry
    /// once the mode includes API (AWS does; on by default).
    pub bootstrap_creator_admin: bool,
    /// For this long after a change, list/describe do not see it: a new access entry is
    /// absent, an updated one reads as its previous version.
    pub read_lag_ms: u64,
    /// Token bucket per account and operation class: refill per second (0 = no throttling).
    pub throttle_rate: f64,
    /// Token bucket size.
    pub throttle_burst: f64,
    /// Fraction (0..1) of requests answered with a 5xx ServerException/ServiceFailure.
    pub error_rate: f64,
    /// Added latency per request.
    pub latency_ms: u64,
    /// Seed for every random decision (faults), so runs are reproducible.
    pub seed: u64,
    /// Largest request body accepted.
    pub max_body_bytes: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            cluster_create_ms: 3000,
            nodegroup_create_ms: 2000,
            update_ms: 3000,
            propagation_ms: 1000,
            auto_node_entries: true,
            auto_node_aws_auth: true,
            bootstrap_creator_admin: true,
            read_lag_ms: 0,
            throttle_rate: 0.0,
            throttle_burst: 0.0,
            error_rate: 0.0,
            latency_ms: 0,
            seed: 0,
            max_body_bytes: 1024 * 1024,
        }
    }
}

use crate::error::{SimError, SimResult};

/// Upper bound of the duration settings (30 days).
pub const MAX_DURATION_MS: u64 = 30 * 24 * 3600 * 1000;
/// Upper bound of `latency_ms` (10 minutes).
pub const MAX_LATENCY_MS: u64 = 10 * 60 * 1000;
/// Upper bound of `max_body_bytes` (64 MiB): a body is held in memory while it is verified.
pub const MAX_BODY_LIMIT: u64 = 64 * 1024 * 1024;
use std::cell::RefCell;

thread_local! {
    // (state file, settings tag, settings): a settings read on the hot path costs one
    // indexed SELECT of an integer instead of a JSON parse.
    static CACHE: RefCell<Option<(String, i64, Settings)>> = const { RefCell::new(None) };
}

/// The stored settings. Every process sharing the state file sees a change at its next call.
pub fn load(conn: &rusqlite::Connection) -> SimResult<Settings> {
    let path = conn.path().unwrap_or("").to_string();
    let gen: i64 = {
        let mut st = conn.prepare_cached("SELECT settings_gen FROM sim_meta WHERE id = 1")?;
        st.query_row([], |r| r.get(0))?
    };
    let hit = CACHE.with(|c| match &*c.borrow() {
        Some((p, g, s)) if *g == gen && *p == path => Some(s.clone()),
        _ => None,
    });
    if let Some(s) = hit {
        return Ok(s);
    }
    let json: String = {
        let mut st = conn.prepare_cached("SELECT settings_json FROM sim_meta WHERE id = 1")?;
        st.query_row([], |r| r.get(0))?
    };
    let s: Settings = serde_json::from_str(&json)
        .map_err(|e| SimError::internal(format!("stored settings unreadable: {e}")))?;
    CACHE.with(|c| *c.borrow_mut() = Some((path, gen, s.clone())));
    Ok(s)
}

/// Stores `s` (inside the caller's write transaction) and changes the settings tag.
pub fn save(tx: &rusqlite::Transaction<'_>, s: &Settings) -> SimResult<()> {
    s.validate()?;
    let json =
        serde_json::to_string(s).map_err(|e| SimError::internal(format!("settings: {e}")))?;
    tx.execute(
        "UPDATE sim_meta SET settings_json = ?1, settings_gen = ?2 WHERE id = 1",
        rusqlite::params![json, rand::random::<i64>()],
    )?;
    Ok(())
}

/// Applies a JSON object of changes (a merge: absent keys keep their value) to `base`.
/// Unknown keys and wrongly typed values are refused, so a typo is not silently ignored.
pub fn merge(base: &Settings, patch: &serde_json::Value) -> SimResult<Settings> {
    let obj = patch
        .as_object()
        .ok_or_else(|| SimError::new("ValidationError", 400, "settings must be a JSON object"))?;
    let mut cur =
        serde_json::to_value(base).map_err(|e| SimError::internal(format!("settings: {e}")))?;
    let known = cur
        .as_object_mut()
        .ok_or_else(|| SimError::internal("settings are not an object"))?;
    for (k, v) in obj {
        if !known.contains_key(k) {
            return Err(SimError::new(
                "ValidationError",
                400,
                format!("unknown setting `{k}`"),
            ));
        }
        known.insert(k.clone(), v.clone());
    }
    let s: Settings = serde_json::from_value(cur)
        .map_err(|e| SimError::new("ValidationError", 400, format!("bad settings: {e}")))?;
    s.validate()?;
    Ok(s)
}

/// Parses one `KEY=VALUE` (as given to `--set`) into a merge of `base`. Values are JSON
/// (`true`, `0.5`, `100`); a bare word is taken as a string.
pub fn set_kv(base: &Settings, kv: &str) -> SimResult<Settings> {
    let (k, v) = kv.split_once('=').ok_or_else(|| {
        SimError::new(
            "ValidationError",
            400,
            format!("expected KEY=VALUE, got `{kv}`"),
        )
    })?;
    let value = serde_json::from_str::<serde_json::Value>(v.trim())
        .unwrap_or_else(|_| serde_json::Value::String(v.to_string()));
    let mut patch = serde_json::Map::new();
    patch.insert(k.trim().to_string(), value);
    merge(base, &serde_json::Value::Object(patch))
}

impl Settings {
    /// Rejects values that make no sense (negative rates, rates above 1, …).
    pub fn validate(&self) -> SimResult<()> {
        let bad = |m: &str| Err(SimError::new("ValidationError", 400, m.to_string()));
        if !(0.0..=1.0).contains(&self.error_rate) {
            return bad("error_rate must be within 0..=1");
        }
        if !self.throttle_rate.is_finite() || self.throttle_rate < 0.0 {
            return bad("throttle_rate must be >= 0");
        }
        if !self.throttle_burst.is_finite() || self.throttle_burst < 0.0 {
            return bad("throttle_burst must be >= 0");
        }
        // Durations are added to and subtracted from ms timestamps (i64): a huge value
        // would wrap (a cluster ACTIVE at once) or overflow (a panic). 30 days is
        // "never" for any test.
        for (name, v) in [
            ("cluster_create_ms", self.cluster_create_ms),
            ("nodegroup_create_ms", self.nodegroup_create_ms),
            ("update_ms", self.update_ms),
            ("propagation_ms", self.propagation_ms),
            ("read_lag_ms", self.read_lag_ms),
        ] {
            if v > MAX_DURATION_MS {
                return bad(&format!("{name} must be <= {MAX_DURATION_MS} (30 days)"));
            }
        }
        // 0 reads like "no limit" but would refuse every request that has a body; there is
        // no unlimited.
        if !(1..=MAX_BODY_LIMIT).contains(&self.max_body_bytes) {
            return bad(&format!(
                "max_body_bytes must be within 1..={MAX_BODY_LIMIT} (64 MiB); 0 is not \"no limit\", it would refuse every request body"
            ));
        }
        // Beyond every client's read timeout: more would only hang requests.
        if self.latency_ms > MAX_LATENCY_MS {
            return bad(&format!(
                "latency_ms must be <= {MAX_LATENCY_MS} (10 minutes)"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_set() {
        let s = Settings::default();
        let m = merge(&s, &serde_json::json!({"update_ms": 0, "error_rate": 0.5})).unwrap();
        assert_eq!(m.update_ms, 0);
        assert_eq!(m.error_rate, 0.5);
        assert_eq!(m.cluster_create_ms, s.cluster_create_ms);
        assert!(merge(&s, &serde_json::json!({"nope": 1})).is_err());
        assert!(merge(&s, &serde_json::json!({"update_ms": "x"})).is_err());
        assert!(merge(&s, &serde_json::json!({"error_rate": 2.0})).is_err());
        // Durations that would wrap or overflow ms arithmetic are refused.
        assert!(merge(&s, &serde_json::json!({"read_lag_ms": 1u64 << 63})).is_err());
        assert!(merge(&s, &serde_json::json!({"cluster_create_ms": u64::MAX})).is_err());
        assert!(merge(&s, &serde_json::json!({"latency_ms": MAX_LATENCY_MS + 1})).is_err());
        assert!(merge(&s, &serde_json::json!({"update_ms": MAX_DURATION_MS})).is_ok());
        assert!(
            !set_kv(&s, "auto_node_entries=false")
                .unwrap()
                .auto_node_entries
        );
        assert!(set_kv(&s, "update_ms").is_err());
        // Every setting has a range: 0 bytes is not "no limit".
        assert!(set_kv(&s, "max_body_bytes=0").is_err());
        assert!(set_kv(&s, &format!("max_body_bytes={}", MAX_BODY_LIMIT + 1)).is_err());
        assert_eq!(set_kv(&s, "max_body_bytes=1").unwrap().max_body_bytes, 1);
        assert!(set_kv(&s, "error_rate=-0.1").is_err());
        assert!(set_kv(&s, "throttle_rate=-1").is_err());
    }

    #[test]
    fn save_load_roundtrip_seen_by_other_connection() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sim.db");
        let a = crate::Store::open(&p).unwrap();
        let b = crate::Store::open(&p).unwrap();
        assert_eq!(b.settings().unwrap(), Settings::default());
        let mut s = a.settings().unwrap();
        s.read_lag_ms = 42;
        a.write(|tx| save(tx, &s)).unwrap();
        assert_eq!(b.settings().unwrap().read_lag_ms, 42);
    }
}
