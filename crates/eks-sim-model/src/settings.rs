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
    /// With `bootstrapClusterCreatorAdminPermissions`, EKS gives the creator an admin entry
    /// once the mode includes API (AWS does; on by default).
    pub bootstrap_creator_admin: bool,
    /// New/changed access entries are invisible to list/describe for this long.
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
