//! A client-side rate limit that a whole fleet run shares: every call to one account and
//! region (one bucket per service and read/change class, as AWS limits those separately)
//! takes a token from an adaptive bucket before it is sent, so hundreds of racks converge near
//! the rate AWS allows instead of storming into throttling and backing off one by one.
//!
//! The rate adapts to what AWS answers (AIMD, the idea behind TCP's congestion control and
//! the SDK's adaptive retry mode): a throttling answer cuts the rate to [`BETA`] × the rate
//! that was actually being served and drains the burst — once: the calls sent before the cut
//! come back throttled too and must not cut it again (each token carries the bucket's epoch);
//! a caller waiting for a token asks again when its computed wait is over, so nobody is sent
//! at a rate that was cut meanwhile; successes grow it
//! — by half per second until the first throttle ("slow start", so a generous limit is found
//! quickly), then by [`GROWTH`] per second — but only while the bucket is what holds calls
//! back (a rate no call needs is never probed upwards). Waits are computed from the bucket:
//! nothing sleeps a fixed time.
//!
//! [`AdaptiveBucket`] is pure (it is given the time), so its behaviour is tested with a fake
//! clock; [`RateLimits`] puts buckets behind a mutex for concurrent runs on the real clock.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The rate a throttle cuts to, as a fraction of the rate being served.
pub const BETA: f64 = 0.7;
/// Growth per second after the first throttle (multiplicative, so the climb back from a cut
/// takes about the same time at any rate: ln(1/0.7)/0.05 ≈ 7 s).
pub const GROWTH: f64 = 0.05;
/// Growth per second before the first throttle.
const SLOW_START_GROWTH: f64 = 0.5;
/// The served-rate estimate's window.
const WINDOW: f64 = 1.0;

/// Where a bucket starts and its bounds (calls per second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimiterConfig {
    pub initial_rate: f64,
    pub min_rate: f64,
    pub max_rate: f64,
}

impl Default for LimiterConfig {
    fn default() -> LimiterConfig {
        // A start below EKS's documented per-account API rates; slow start finds more.
        LimiterConfig {
            initial_rate: 10.0,
            min_rate: 0.5,
            max_rate: 2000.0,
        }
    }
}

/// One adaptive token bucket; every method is given the time (seconds from any origin).
#[derive(Debug, Clone)]
pub struct AdaptiveBucket {
    cfg: LimiterConfig,
    rate: f64,
    /// Below zero only after a throttle (the burst spent).
    tokens: f64,
    last: f64,
    /// The last success: growth is per second of successes.
    last_grow: f64,
    /// Cuts so far: a throttle of a call reserved before the last cut does not cut again.
    epoch: u64,
    throttled_ever: bool,
    /// Successes in the current window, and the served rate measured over the last one.
    window_start: f64,
    window_ok: u64,
    served: Option<f64>,
}

impl AdaptiveBucket {
    pub fn new(cfg: LimiterConfig, now: f64) -> AdaptiveBucket {
        let rate = cfg.initial_rate.clamp(cfg.min_rate, cfg.max_rate);
        AdaptiveBucket {
            cfg,
            rate,
            tokens: capacity(rate),
            last: now,
            last_grow: now,
            epoch: 0,
            throttled_ever: false,
            window_start: now,
            window_ok: 0,
            served: None,
        }
    }

    /// Calls per second allowed now.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    fn refill(&mut self, now: f64) {
        let dt = (now - self.last).max(0.0);
        self.tokens = (self.tokens + dt * self.rate).min(capacity(self.rate));
        self.last = self.last.max(now);
    }

    /// The number of cuts so far: a throttle of a call sent before the last one does not
    /// cut again.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Takes a token for a call at `now`: the epoch to report its answer with, or how long
    /// until the bucket has a token at the current rate (then ask again: a cut meanwhile
    /// makes the wait longer, nobody is sent at a rate that is gone).
    pub fn take(&mut self, now: f64) -> Result<u64, Duration> {
        self.refill(now);
        // A wait computed to be exact may land a rounding error short of a whole token.
        if self.tokens >= 1.0 - 1e-9 {
            self.tokens = (self.tokens - 1.0).max(0.0);
            Ok(self.epoch)
        } else {
            // At least a microsecond: a wait the clock cannot tell from none would spin.
            let wait = ((1.0 - self.tokens) / self.rate).max(1e-6);
            Err(Duration::from_secs_f64(wait))
        }
    }

    /// A call reserved in `epoch` was answered with throttling.
    pub fn on_throttle(&mut self, now: f64, epoch: u64) {
        self.refill(now);
        self.throttled_ever = true;
        if epoch == self.epoch {
            // Cut from what was served when that is below the rate (a slow start may have
            // raced far past the limit): cutting 30% off an overshoot would still storm.
            let base = self.served.map_or(self.rate, |s| s.min(self.rate));
            self.rate = (base * BETA).clamp(self.cfg.min_rate, self.cfg.max_rate);
            self.epoch += 1;
        }
        // The burst is what overran the limit: spend it.
        self.tokens = self.tokens.min(0.0);
    }

    /// A call was answered (anything but throttling).
    pub fn on_success(&mut self, now: f64) {
        let dt = (now - self.last_grow).max(0.0);
        self.last_grow = now;
        self.refill(now);
        self.window_ok += 1;
        let span = now - self.window_start;
        if span >= WINDOW {
            let measured = self.window_ok as f64 / span;
            self.served = Some(self.served.map_or(measured, |s| 0.5 * s + 0.5 * measured));
            self.window_start = now;
            self.window_ok = 0;
        }
        // Grow only while the bucket binds: calls are waiting for tokens.
        if self.tokens < 1.0 {
            let g = if self.throttled_ever {
                GROWTH
            } else {
                SLOW_START_GROWTH
            };
            // At least a small step per success, so a bucket whose successes all land at
            // the same instant (a fake clock, a burst) still grows.
            let step = (self.rate * g * dt).max(g / self.rate.max(1.0));
            self.rate = (self.rate + step).min(self.cfg.max_rate);
        }
    }
}

/// One second's worth of calls, at least one.
fn capacity(rate: f64) -> f64 {
    rate.max(1.0)
}

/// Whether a call is a read (Describe/List/Get) or a change: AWS limits them apart.
fn class(op: &str) -> (&str, &'static str) {
    let (service, name) = op.split_once(':').unwrap_or(("aws", op));
    let read = ["Describe", "List", "Get"]
        .iter()
        .any(|p| name.starts_with(p));
    (service, if read { "read" } else { "change" })
}

/// The buckets of a run, shared by every client that [`crate::Aws::with_rate_limits`] was
/// given it (clone it to share). Keyed by scope (account and region), service and class.
#[derive(Clone)]
pub struct RateLimits {
    inner: Arc<Limits>,
}

struct Limits {
    cfg: LimiterConfig,
    origin: Instant,
    buckets: Mutex<HashMap<String, AdaptiveBucket>>,
    throttled: AtomicU64,
    waited_ms: AtomicU64,
}

impl Default for RateLimits {
    fn default() -> RateLimits {
        RateLimits::new(LimiterConfig::default())
    }
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("rates", &self.rates())
            .finish()
    }
}

impl RateLimits {
    pub fn new(cfg: LimiterConfig) -> RateLimits {
        RateLimits {
            inner: Arc::new(Limits {
                cfg,
                origin: Instant::now(),
                buckets: Mutex::new(HashMap::new()),
                throttled: AtomicU64::new(0),
                waited_ms: AtomicU64::new(0),
            }),
        }
    }

    fn now(&self) -> f64 {
        self.inner.origin.elapsed().as_secs_f64()
    }

    fn with<T>(&self, scope: &str, op: &str, f: impl FnOnce(&mut AdaptiveBucket, f64) -> T) -> T {
        let (service, class) = class(op);
        let key = format!("{scope} {service} {class}");
        let now = self.now();
        let mut b = self.inner.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = b
            .entry(key)
            .or_insert_with(|| AdaptiveBucket::new(self.inner.cfg, now));
        f(bucket, now)
    }

    /// Waits for `op`'s token in `scope` (each wait computed from the bucket); the epoch to
    /// report a throttle with.
    pub(crate) async fn acquire(&self, scope: &str, op: &str) -> u64 {
        loop {
            match self.with(scope, op, |b, now| b.take(now)) {
                Ok(epoch) => return epoch,
                Err(wait) => {
                    let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                    self.inner.waited_ms.fetch_add(ms, Ordering::Relaxed);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    pub(crate) fn throttled(&self, scope: &str, op: &str, epoch: u64) {
        self.inner.throttled.fetch_add(1, Ordering::Relaxed);
        self.with(scope, op, |b, now| b.on_throttle(now, epoch));
    }

    pub(crate) fn answered(&self, scope: &str, op: &str) {
        self.with(scope, op, |b, now| b.on_success(now));
    }

    /// Throttling answers seen so far, by every client sharing these limits.
    pub fn throttled_calls(&self) -> u64 {
        self.inner.throttled.load(Ordering::Relaxed)
    }

    /// Time callers spent waiting for tokens, summed over callers.
    pub fn waited(&self) -> Duration {
        Duration::from_millis(self.inner.waited_ms.load(Ordering::Relaxed))
    }

    /// The rate each bucket allows now, by `scope service class`.
    pub fn rates(&self) -> BTreeMap<String, f64> {
        let b = self.inner.buckets.lock().unwrap_or_else(|p| p.into_inner());
        b.iter().map(|(k, v)| (k.clone(), v.rate())).collect()
    }
}

#[cfg(test)]
#[path = "limiter_tests.rs"]
mod tests;
