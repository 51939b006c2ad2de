//! Counts API calls per operation with an SDK interceptor, so every HTTP attempt (SDK retries
//! included) is counted, whatever code path issued it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Per-operation HTTP attempt counts, keyed like `eks:DescribeCluster`.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    inner: Arc<Mutex<BTreeMap<String, u64>>>,
    /// Calls that succeeded, per operation (an attempt count says nothing of what was made).
    ok: Arc<Mutex<BTreeMap<String, u64>>>,
    /// Attempts answered with throttling.
    throttled: Arc<std::sync::atomic::AtomicU64>,
}

/// Operations that change state (used to prove a no-op run changed nothing).
pub fn is_mutating(op: &str) -> bool {
    let name = op.split_once(':').map(|(_, n)| n).unwrap_or(op);
    !["Describe", "List", "Get"]
        .iter()
        .any(|p| name.starts_with(p))
}

impl CallCounter {
    pub fn new() -> CallCounter {
        CallCounter::default()
    }

    pub fn record(&self, op: &str) {
        // A poisoned lock only means another thread panicked mid-increment; counts stay usable.
        let mut map = match self.inner.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        *map.entry(op.to_string()).or_insert(0) += 1;
    }

    pub(crate) fn record_ok(&self, op: &str) {
        let mut map = match self.ok.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        *map.entry(op.to_string()).or_insert(0) += 1;
    }

    pub(crate) fn record_throttled(&self) {
        self.throttled
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many calls of `op` (`eks:CreateAccessEntry`) succeeded.
    pub fn succeeded(&self, op: &str) -> u64 {
        match self.ok.lock() {
            Ok(m) => m.get(op).copied().unwrap_or(0),
            Err(p) => p.into_inner().get(op).copied().unwrap_or(0),
        }
    }

    /// Attempts answered with throttling.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        match self.inner.lock() {
            Ok(m) => m.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }

    pub fn mutating(&self) -> u64 {
        self.snapshot()
            .iter()
            .filter(|(k, _)| is_mutating(k))
            .map(|(_, v)| *v)
            .sum()
    }
}

#[derive(Debug)]
pub(crate) struct CountingInterceptor {
    pub(crate) counter: CallCounter,
}

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "convox-call-counter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let key = match cfg.load::<Metadata>() {
            Some(m) => format!("{}:{}", m.service().to_ascii_lowercase(), m.name()),
            None => "unknown".to_string(),
        };
        self.counter.record(&key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutating_classification() {
        assert!(!is_mutating("eks:DescribeCluster"));
        assert!(!is_mutating("eks:ListAssociatedAccessPolicies"));
        assert!(!is_mutating("sts:GetCallerIdentity"));
        assert!(is_mutating("eks:CreateAccessEntry"));
        assert!(is_mutating("eks:UpdateClusterConfig"));
        assert!(is_mutating("eks:AssociateAccessPolicy"));
    }

    #[test]
    fn counts_accumulate() {
        let c = CallCounter::new();
        c.record("eks:DescribeCluster");
        c.record("eks:DescribeCluster");
        c.record("eks:CreateAccessEntry");
        assert_eq!(c.total(), 3);
        assert_eq!(c.mutating(), 1);
        assert_eq!(c.snapshot().get("eks:DescribeCluster"), Some(&2));
    }
}
