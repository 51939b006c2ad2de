//! Faults on demand: throttling (token buckets per account and operation class) and
//! random server errors, deterministic under `Settings::seed`.

use eks_sim_model::Settings;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    ServerError,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Default)]
pub struct Faults {
    buckets: Mutex<HashMap<(String, &'static str, bool), Bucket>>,
    /// Requests seen by the error-rate draw; the n-th draw is a pure function of (seed, n).
    draws: AtomicU64,
}

/// The operation class of a throttle bucket: reads (Describe/List/Get) apart from changes,
/// as AWS rate-limits them separately.
pub fn is_read(op: &str) -> bool {
    op.starts_with("Describe") || op.starts_with("List") || op.starts_with("Get")
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Faults {
    /// Decides whether this request is throttled or fails. Throttling is checked first
    /// (a throttled request never reaches the error draw).
    pub fn check(
        &self,
        s: &Settings,
        account: &str,
        service: &'static str,
        op: &str,
        now: Instant,
    ) -> Option<Fault> {
        if s.throttle_rate > 0.0 && self.throttled(s, account, service, is_read(op), now) {
            return Some(Fault::Throttle);
        }
        if s.error_rate > 0.0 {
            let n = self.draws.fetch_add(1, Ordering::Relaxed);
            let x = splitmix64(s.seed ^ splitmix64(n));
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            if u < s.error_rate {
                return Some(Fault::ServerError);
            }
        }
        None
    }

    fn throttled(
        &self,
        s: &Settings,
        account: &str,
        service: &'static str,
        read: bool,
        now: Instant,
    ) -> bool {
        let burst = s.throttle_burst.max(1.0);
        let mut b = match self.buckets.lock() {
            Ok(b) => b,
            Err(p) => p.into_inner(),
        };
        let bucket = b
            .entry((account.to_string(), service, read))
            .or_insert(Bucket {
                tokens: burst,
                last: now,
            });
        let dt = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + dt * s.throttle_rate).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            false
        } else {
            true
        }
    }

    /// Forget buckets and restart the error sequence (on reset).
    pub fn reset(&self) {
        match self.buckets.lock() {
            Ok(mut b) => b.clear(),
            Err(p) => p.into_inner().clear(),
        }
        self.draws.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_refills() {
        let f = Faults::default();
        let s = Settings {
            throttle_rate: 10.0,
            throttle_burst: 2.0,
            ..Settings::default()
        };
        let t0 = Instant::now();
        assert_eq!(f.check(&s, "a", "eks", "DescribeCluster", t0), None);
        assert_eq!(f.check(&s, "a", "eks", "DescribeCluster", t0), None);
        assert_eq!(
            f.check(&s, "a", "eks", "DescribeCluster", t0),
            Some(Fault::Throttle)
        );
        // another class and another account have their own buckets
        assert_eq!(f.check(&s, "a", "eks", "CreateAccessEntry", t0), None);
        assert_eq!(f.check(&s, "b", "eks", "DescribeCluster", t0), None);
        let t1 = t0 + Duration::from_millis(150);
        assert_eq!(f.check(&s, "a", "eks", "DescribeCluster", t1), None);
    }

    #[test]
    fn error_rate_is_deterministic() {
        let s = Settings {
            error_rate: 0.3,
            seed: 7,
            ..Settings::default()
        };
        let run = || {
            let f = Faults::default();
            let now = Instant::now();
            (0..200)
                .map(|_| f.check(&s, "a", "eks", "ListClusters", now).is_some())
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let n = a.iter().filter(|x| **x).count();
        assert!((30..90).contains(&n), "{n}");
    }
}
