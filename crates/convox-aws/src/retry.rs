//! The one retry schedule of a run ([`convox_retry`]), slept on tokio: every wait (update,
//! cluster, propagation), every call AWS answers with throttling or a transient 5xx, the
//! reconcile loop's pauses between rounds and the wait for a rack's lock poll on the same
//! jittered backoff — first after 50 ms, ×1.6 up to 1 s, then a tenth of the time waited so
//! far, at most 15 s. The SDK's own retries are off: its
//! standard mode gives up after a few attempts (and its retry quota runs dry under sustained
//! throttling), which stopped runs half-way; here a transient answer is retried up to the
//! run's deadline, and a network failure (no answer at all) a bounded number of times.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use convox_retry::Schedule;
pub use convox_retry::Timing;

use crate::error::{classify, CallError, CallErrorKind};
use crate::Aws;

/// The run's schedule ([`convox_retry`]) slept on tokio: every wait and retry of the run
/// pauses through one of these.
pub struct Backoff {
    schedule: Schedule,
}

impl Backoff {
    pub fn new(t: &Timing) -> Backoff {
        Backoff {
            schedule: Schedule::new(t),
        }
    }

    /// Sleeps the next interval; `false` once the deadline has passed (nothing slept).
    pub async fn wait(&mut self) -> bool {
        match self.schedule.next_pause() {
            Some(d) => {
                tokio::time::sleep(d).await;
                true
            }
            None => false,
        }
    }

    /// The same policy with another deadline.
    pub fn until(t: &Timing, deadline: Duration) -> Backoff {
        Backoff {
            schedule: Schedule::until(t, deadline),
        }
    }

    pub(crate) fn deadline_secs(&self) -> u64 {
        self.schedule.deadline().as_secs()
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
            let epoch = match &self.limits {
                Some((limits, scope)) => limits.acquire(scope, op).await,
                None => 0,
            };
            let left = bound.saturating_sub(quiet_since.elapsed());
            let e = match tokio::time::timeout(left, send()).await {
                Ok(Ok(v)) => {
                    self.answered(op);
                    self.counter.record_ok(op);
                    return Ok(v);
                }
                Ok(Err(e)) => classify(op, e),
                Err(_) => CallError {
                    op: op.to_string(),
                    kind: CallErrorKind::TimedOut,
                    code: None,
                    message: "no answer".into(),
                    service: None,
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
            let throttled = e.is_throttling();
            if throttled {
                self.counter.record_throttled();
                if let Some((limits, scope)) = &self.limits {
                    limits.throttled(scope, op, epoch);
                }
            } else if answered && e.kind != CallErrorKind::Other {
                self.answered(op);
            }
            if !retry {
                return Err(e);
            }
            let remaining = self.timing.deadline.saturating_sub(self.started.elapsed());
            if throttled && self.limits.is_some() {
                // The shared bucket, just cut and drained, computes this call's next wait
                // (in `acquire`): no backoff of its own on top.
                if remaining.is_zero() {
                    return Err(e);
                }
                tracing::debug!("{} (retrying when the rate limit allows)", e.describe());
                continue;
            }
            let b = backoff.get_or_insert_with(|| Backoff::until(&self.timing, remaining));
            tracing::debug!("{} (retrying)", e.describe());
            if !b.wait().await {
                return Err(e);
            }
        }
    }
}

impl Aws {
    /// An answer (not throttling) to `op`: the shared bucket may grow.
    fn answered(&self, op: &str) {
        if let Some((limits, scope)) = &self.limits {
            limits.answered(scope, op);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
