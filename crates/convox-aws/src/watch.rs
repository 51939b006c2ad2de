//! Bounded, visible waits for answers. The SDK's own timeouts bound every call
//! ([`CallTimeouts`]); this interceptor says, while a call is still waiting, which endpoint
//! and operation it waits for and when it gives up — an endpoint that accepts connections
//! but never answers must not look like a frozen command.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use crate::ProgressCallback;

/// How long a call may wait for an answer: one attempt at most `attempt`, all the attempts
/// of a call that gets none at most `operation`; a silent wait is reported after
/// `notice_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallTimeouts {
    /// To open a connection.
    pub connect: Duration,
    /// One HTTP attempt, from sending to the whole answer.
    pub attempt: Duration,
    /// Longest a call may go without any answer, all its attempts and the backoff between
    /// them included (an answer, a throttling one too, starts it again: see `Aws::call`).
    pub operation: Duration,
    /// A call unanswered this long is reported ("waiting for … to answer …").
    pub notice_after: Duration,
}

impl Default for CallTimeouts {
    fn default() -> CallTimeouts {
        // EKS, STS and IAM answer these calls in well under a second; a minute covers the
        // SDK's retries through throttling, and nothing here is a long poll.
        CallTimeouts::within(Duration::from_secs(60))
    }
}

impl CallTimeouts {
    /// Timeouts for an overall bound of `operation` per call: attempts of a third of it
    /// (at most 20 s, so that a stalled attempt is retried), notices after a twelfth (at
    /// most 5 s).
    pub fn within(operation: Duration) -> CallTimeouts {
        let operation = operation.max(Duration::from_millis(100));
        CallTimeouts {
            connect: Duration::from_secs(5).min(operation),
            attempt: (operation / 3).min(Duration::from_secs(20)),
            operation,
            notice_after: (operation / 12).min(Duration::from_secs(5)),
        }
    }
}

/// Where notices go; set after the clients are built ([`crate::Aws::with_notices`]).
pub(crate) type NoticeSlot = Arc<RwLock<Option<ProgressCallback>>>;

#[derive(Debug)]
pub(crate) struct WatchInterceptor {
    pub(crate) endpoint: String,
    pub(crate) timeouts: CallTimeouts,
    pub(crate) notices: Notices,
}

/// The notice callback, shared with the [`crate::Aws`] that sets it.
#[derive(Clone, Default)]
pub(crate) struct Notices(pub(crate) NoticeSlot);

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Notices")
    }
}

impl Notices {
    pub(crate) fn set(&self, p: ProgressCallback) {
        if let Ok(mut slot) = self.0.write() {
            *slot = Some(p);
        }
    }

    fn say(&self, msg: &str) {
        tracing::info!("{msg}");
        if let Ok(slot) = self.0.read() {
            if let Some(p) = slot.as_ref() {
                p(msg);
            }
        }
    }
}

/// One attempt in flight: answered (or abandoned) once this is dropped, which happens when
/// the attempt ends, the next attempt replaces it, or the operation is dropped (timed out).
#[derive(Debug, Clone)]
struct InFlight {
    _done: Arc<Done>,
}

#[derive(Debug)]
struct Done(Arc<AtomicBool>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Storable for InFlight {
    type Storer = StoreReplace<Self>;
}

impl Intercept for WatchInterceptor {
    fn name(&self) -> &'static str {
        "convox-call-watch"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = match cfg.load::<Metadata>() {
            Some(m) => format!("{}:{}", m.service().to_ascii_lowercase(), m.name()),
            None => "a call".to_string(),
        };
        let done = Arc::new(AtomicBool::new(false));
        cfg.interceptor_state().store_put(InFlight {
            _done: Arc::new(Done(done.clone())),
        });
        // No runtime (never the case for the SDK's tokio client): no notice, still bounded.
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return Ok(());
        };
        let (after, total) = (self.timeouts.notice_after, self.timeouts.operation);
        let endpoint = self.endpoint.clone();
        let notices = self.notices.clone();
        rt.spawn(async move {
            tokio::time::sleep(after).await;
            if !done.load(Ordering::SeqCst) {
                notices.say(&format!(
                    "waiting for {endpoint} to answer {op} (no answer after {} s; giving up after {} s without one)",
                    secs(after),
                    secs(total)
                ));
            }
        });
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().unset::<InFlight>();
        Ok(())
    }
}

/// Whole seconds, at least 1 (a 500 ms bound is "1 s", never "0 s").
pub(crate) fn secs(d: Duration) -> u64 {
    d.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_scale_with_the_bound() {
        let d = CallTimeouts::default();
        assert_eq!(d.operation, Duration::from_secs(60));
        assert_eq!(d.attempt, Duration::from_secs(20));
        assert_eq!(d.notice_after, Duration::from_secs(5));
        let t = CallTimeouts::within(Duration::from_secs(3));
        assert_eq!(t.attempt, Duration::from_secs(1));
        assert_eq!(t.notice_after, Duration::from_millis(250));
        assert!(t.connect <= t.operation);
        assert_eq!(secs(Duration::from_millis(1)), 1);
        assert_eq!(secs(Duration::from_millis(2500)), 3);
    }
}
