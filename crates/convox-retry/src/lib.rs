//! # convox-retry
//!
//! The one schedule on which convox waits and retries, wherever it does: every AWS wait
//! (update, cluster, propagation) and every AWS call answered with throttling or a transient
//! 5xx (convox-aws, async), the reconcile loop's pauses between rounds that made no progress
//! (convox-engine), and the wait for another run's rack lock (convox-store's own wait, and
//! convox-engine's async one). Pure: it says how long to pause; the caller sleeps (tokio in
//! async code, the thread in the store's sync code).
//!
//! The schedule: first pause 50 ms, ×1.6 up to 1 s, then a tenth of the time waited so far
//! (a minutes-long real update is polled every few seconds, yet a poll is never more than
//! ~10% late), never above 15 s, each pause jittered ±20% (so concurrent runs do not poll in
//! lockstep) and cut to what is left of the deadline.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

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
pub const POLL_CEILING: Duration = Duration::from_secs(15);

/// The interval after `prev`: exponential growth, capped at `max` for short waits and at a
/// tenth of the time waited so far for long ones, and never above [`POLL_CEILING`].
fn next_interval(prev: Duration, factor: f64, max: Duration, elapsed: Duration) -> Duration {
    let cap = max.max(elapsed.mul_f64(0.1)).min(POLL_CEILING.max(max));
    prev.mul_f64(factor).min(cap)
}

/// One wait's pauses, from its first attempt until its deadline.
#[derive(Debug)]
pub struct Schedule {
    next: Duration,
    factor: f64,
    max: Duration,
    started: Instant,
    deadline: Duration,
    /// Whether a pause was handed out (the next one grows from it).
    paused: bool,
    rng: rand::rngs::SmallRng,
}

impl Schedule {
    /// The schedule of `t`, with its [`Timing::deadline`], starting now.
    pub fn new(t: &Timing) -> Schedule {
        Schedule::until(t, t.deadline)
    }

    /// The same policy with another deadline.
    pub fn until(t: &Timing, deadline: Duration) -> Schedule {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id());
        Schedule {
            next: t.poll_initial,
            factor: t.poll_factor,
            max: t.poll_max,
            started: Instant::now(),
            deadline,
            paused: false,
            rng: rand::rngs::SmallRng::seed_from_u64(seed),
        }
    }

    /// How long to pause before the next attempt, or `None` once the deadline has passed.
    pub fn next_pause(&mut self) -> Option<Duration> {
        let elapsed = self.started.elapsed();
        if self.paused {
            self.next = next_interval(self.next, self.factor, self.max, elapsed);
        }
        if elapsed >= self.deadline {
            return None;
        }
        self.paused = true;
        let jitter: f64 = self.rng.gen_range(0.8..1.2);
        Some(self.next.mul_f64(jitter).min(self.deadline - elapsed))
    }

    /// The deadline, from the schedule's start.
    pub fn deadline(&self) -> Duration {
        self.deadline
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

    #[test]
    fn pauses_start_at_50ms_grow_by_1_6_and_stop_at_the_deadline() {
        let t = Timing::default();
        let mut s = Schedule::until(&t, Duration::from_secs(3600));
        let first = s.next_pause().expect("a pause");
        assert!(
            (40..=60).contains(&first.as_millis()),
            "first pause {first:?}"
        );
        let second = s.next_pause().expect("a pause");
        assert!(
            (64..=96).contains(&second.as_millis()),
            "second pause {second:?}"
        );
        let mut gone = Schedule::until(&t, Duration::ZERO);
        assert_eq!(gone.next_pause(), None);
    }

    #[test]
    fn a_pause_never_outlasts_the_deadline() {
        let t = Timing {
            poll_initial: Duration::from_secs(10),
            ..Timing::default()
        };
        let mut s = Schedule::until(&t, Duration::from_millis(30));
        let p = s.next_pause().expect("a pause");
        assert!(p <= Duration::from_millis(30), "{p:?}");
    }
}
