//! The one retry schedule of a run: every wait (update, cluster, propagation), every call
//! AWS answers with throttling or a transient 5xx, and the reconcile loop's pauses between
//! rounds poll on the same jittered backoff — first after 50 ms, ×1.6 up to 1 s, then a
//! tenth of the time waited so far, at most 15 s. The SDK's own retries are off: its
//! standard mode gives up after a few attempts (and its retry quota runs dry under sustained
//! throttling), which stopped runs half-way; here a transient answer is retried up to the
//! run's deadline, and a network failure (no answer at all) a bounded number of times.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use rand::{Rng, SeedableRng};

use crate::error::{classify, CallError, CallErrorKind};
use crate::Aws;

/// Polling and deadline policy. Polls start small and grow, so a fast update is seen fast and
/// a slow one is not hammered.
#[derive(Debug, Clone)]
pub struct Timing {
    pub poll_initial: Duration,
    pub poll_factor: f64,
    pub poll_max: Duration,
    /// Longest wait for the cluster to become ACTIVE or an update to finish.
    pub deadline: Duration,
    /// Longest EKS may keep refusing entries after a mode switch (propagation); a refusal
    /// lasting longer is reported instead of retried forever.
    pub propagation_deadline: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            poll_initial: Duration::from_millis(50),
            poll_factor: 1.6,
            poll_max: Duration::from_secs(1),
            // Real auth-mode updates take minutes; be generous but bounded.
            deadline: Duration::from_secs(30 * 60),
            propagation_deadline: Duration::from_secs(10 * 60),
        }
    }
}

/// Longest interval between two polls, however long the wait has lasted.
const POLL_CEILING: Duration = Duration::from_secs(15);

/// The interval after `prev`: exponential growth, capped at `max` for short waits and at a
/// tenth of the time waited so far for long ones (a minutes-long real update is polled every
/// few seconds, not every second, yet a poll is never more than ~10% late), and never above
/// [`POLL_CEILING`].
fn next_interval(prev: Duration, factor: f64, max: Duration, elapsed: Duration) -> Duration {
    let cap = max.max(elapsed.mul_f64(0.1)).min(POLL_CEILING.max(max));
    prev.mul_f64(factor).min(cap)
}

/// Jittered exponential backoff (jitter ±20% so concurrent runs do not poll in lockstep).
pub struct Backoff {
    next: Duration,
    factor: f64,
    max: Duration,
    started: Instant,
    deadline: Duration,
    rng: rand::rngs::SmallRng,
}

impl Backoff {
    pub fn new(t: &Timing) -> Backoff {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id());
        Backoff {
            next: t.poll_initial,
            factor: t.poll_factor,
            max: t.poll_max,
            started: Instant::now(),
            deadline: t.deadline,
            rng: rand::rngs::SmallRng::seed_from_u64(seed),
        }
    }

    /// Sleeps the next interval; `false` once the deadline has passed (nothing slept).
    pub async fn wait(&mut self) -> bool {
        let elapsed = self.started.elapsed();
        if elapsed >= self.deadline {
            return false;
        }
        let jitter: f64 = self.rng.gen_range(0.8..1.2);
        let d = self.next.mul_f64(jitter).min(self.deadline - elapsed);
        tokio::time::sleep(d).await;
        self.next = next_interval(self.next, self.factor, self.max, self.started.elapsed());
        true
    }

    /// The same policy with another deadline.
    pub fn until(t: &Timing, deadline: Duration) -> Backoff {
        let mut b = Backoff::new(t);
        b.deadline = deadline;
        b
    }

    pub(crate) fn deadline_secs(&self) -> u64 {
        self.deadline.as_secs()
    }
}

/// An idempotency token (`clientRequestToken`) for one logical call, reused by every attempt
/// of [`Aws::call`]: a retry of a create that took effect although its answer was lost (a
/// 5xx or a timeout after the change) is then the same request, not a second one. The SDK
/// fills a fresh token per request it builds, and each attempt here builds its own.
pub(crate) fn request_token() -> String {
    format!("convox-{:032x}", rand::random::<u128>())
}

/// Attempts of a call that got no answer at all (connection refused, timed out) before it is
/// reported: such a failure is rarely cured by waiting, and a wrong endpoint must be said
/// promptly.
const UNREACHABLE_ATTEMPTS: u32 = 5;

impl Aws {
    /// Sends one AWS call (`send` builds and sends it afresh on each attempt), retrying
    /// throttling and transient server errors on the run's schedule until the run's deadline
    /// ([`Timing::deadline`] from when the clients were built), and calls that got no answer
    /// [`UNREACHABLE_ATTEMPTS`] times. Any other error is returned at once.
    ///
    /// A call that gets no answer at all (a hung endpoint) is given up on once
    /// [`CallTimeouts::operation`](crate::CallTimeouts) has passed without one, however many
    /// attempts that took; any answer (a throttling one too) starts that bound again.
    pub(crate) async fn call<T, E, F, Fut>(&self, op: &str, mut send: F) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mut backoff: Option<Backoff> = None;
        let mut unanswered = 0u32;
        let bound = self.call_timeouts.operation;
        let mut quiet_since = Instant::now();
        loop {
            let left = bound.saturating_sub(quiet_since.elapsed());
            let e = match tokio::time::timeout(left, send()).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => classify(op, e),
                Err(_) => CallError {
                    op: op.to_string(),
                    kind: CallErrorKind::TimedOut,
                    code: None,
                    message: "no answer".into(),
                },
            };
            let answered = !matches!(e.kind, CallErrorKind::Unreachable | CallErrorKind::TimedOut);
            let retry = if e.is_transient() {
                true
            } else if !answered {
                unanswered += 1;
                unanswered < UNREACHABLE_ATTEMPTS && quiet_since.elapsed() < bound
            } else {
                false
            };
            if answered {
                quiet_since = Instant::now();
            }
            if !retry {
                return Err(e);
            }
            let remaining = self.timing.deadline.saturating_sub(self.started.elapsed());
            let b = backoff.get_or_insert_with(|| Backoff::until(&self.timing, remaining));
            tracing::debug!("{} (retrying)", e.describe());
            if !b.wait().await {
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_waits_poll_less_often_but_never_late_by_more_than_a_tenth() {
        let max = Duration::from_secs(1);
        // Short waits: capped at poll_max, as before.
        assert_eq!(
            next_interval(Duration::from_millis(800), 1.6, max, Duration::from_secs(3)),
            max
        );
        // Long waits: a tenth of the time waited, up to the ceiling.
        assert_eq!(
            next_interval(Duration::from_secs(1), 1.6, max, Duration::from_secs(60)),
            Duration::from_millis(1600)
        );
        assert_eq!(
            next_interval(Duration::from_secs(5), 1.6, max, Duration::from_secs(60)),
            Duration::from_secs(6)
        );
        assert_eq!(
            next_interval(Duration::from_secs(14), 1.6, max, Duration::from_secs(3600)),
            POLL_CEILING
        );
        // A five-minute update: count the polls of the whole schedule (jitter aside).
        let (mut t, mut next, mut polls) = (Duration::ZERO, Duration::from_millis(50), 0);
        while t < Duration::from_secs(300) {
            t += next;
            polls += 1;
            next = next_interval(next, 1.6, max, t);
        }
        // 54 with this schedule; a flat 1 s cap would make 305.
        assert!(polls < 70, "{polls} polls for a 5-minute wait");
    }

    #[tokio::test]
    async fn backoff_grows_and_stops_at_the_deadline() {
        let t = Timing {
            poll_initial: Duration::from_millis(5),
            poll_factor: 2.0,
            poll_max: Duration::from_millis(20),
            deadline: Duration::from_millis(100),
            propagation_deadline: Duration::from_millis(100),
        };
        // Timed from before the backoff's own clock starts: a thread preempted between the
        // two (a loaded machine) must not make the wait look shorter than the deadline.
        let start = Instant::now();
        let mut b = Backoff::new(&t);
        let mut waits = 0;
        while b.wait().await {
            waits += 1;
            assert!(waits < 100, "deadline not enforced");
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(100), "{took:?}");
        assert!(took < Duration::from_millis(400), "{took:?}");
        // 5,10,20,20,… ms: a handful of waits, not a spin.
        assert!((4..=30).contains(&waits), "{waits}");
    }
}
