use super::*;

fn cfg(initial: f64) -> LimiterConfig {
    LimiterConfig {
        initial_rate: initial,
        min_rate: 0.5,
        max_rate: 2000.0,
    }
}

/// Takes a token at `t`, waiting as long as the bucket says: (epoch, time sent).
fn take_at(b: &mut AdaptiveBucket, mut t: f64) -> (u64, f64) {
    loop {
        match b.take(t) {
            Ok(e) => return (e, t),
            Err(w) => t += w.as_secs_f64(),
        }
    }
}

#[test]
fn a_full_bucket_sends_at_once_then_waits_are_computed_from_the_rate() {
    let mut b = AdaptiveBucket::new(cfg(10.0), 0.0);
    // One second's worth of burst, then a token every 1/rate.
    for _ in 0..10 {
        assert!(b.take(0.0).is_ok());
    }
    let w = b.take(0.0).expect_err("empty").as_secs_f64();
    assert!((w - 0.1).abs() < 1e-9, "{w}");
    let w = b.take(0.05).expect_err("half a token").as_secs_f64();
    assert!((w - 0.05).abs() < 1e-9, "{w}");
    assert!(b.take(0.1).is_ok());
}

#[test]
fn a_throttle_cuts_once_per_epoch_and_spends_the_burst() {
    let mut b = AdaptiveBucket::new(cfg(100.0), 0.0);
    let before: Vec<u64> = (0..20).map(|_| take_at(&mut b, 0.0).0).collect();
    b.on_throttle(0.01, before[0]);
    assert!((b.rate() - 70.0).abs() < 1e-9, "{}", b.rate());
    // The other calls sent before the cut come back throttled too: no second cut.
    for (i, e) in before.iter().enumerate().skip(1) {
        b.on_throttle(0.01 + 0.001 * i as f64, *e);
    }
    assert!((b.rate() - 70.0).abs() < 1e-9, "{}", b.rate());
    // The burst is gone: the next call waits, and carries the new epoch.
    assert!(b.take(0.03).is_err());
    let (epoch, _) = take_at(&mut b, 0.03);
    assert_eq!(epoch, 1);
    // A call paced at the new rate and still throttled: cut again.
    b.on_throttle(0.1, epoch);
    assert!((b.rate() - 49.0).abs() < 1e-9, "{}", b.rate());
}

#[test]
fn the_rate_never_falls_below_its_floor() {
    let mut b = AdaptiveBucket::new(cfg(1.0), 0.0);
    for i in 0..50 {
        let e = b.epoch();
        b.on_throttle(f64::from(i), e);
    }
    assert!((b.rate() - 0.5).abs() < 1e-9, "{}", b.rate());
}

#[test]
fn successes_grow_the_rate_only_while_the_bucket_binds() {
    // Idle bucket (tokens to spare): answered calls do not raise a rate nobody needs.
    let mut idle = AdaptiveBucket::new(cfg(10.0), 0.0);
    for i in 0..100 {
        let t = f64::from(i);
        take_at(&mut idle, t);
        idle.on_success(t + 0.01);
    }
    assert!((idle.rate() - 10.0).abs() < 1e-9, "{}", idle.rate());
    // Binding bucket: slow start grows it quickly until the first throttle…
    let mut busy = AdaptiveBucket::new(cfg(10.0), 0.0);
    let mut t = 0.0;
    while t < 2.0 {
        t = take_at(&mut busy, t).1;
        busy.on_success(t);
    }
    let after_slow_start = busy.rate();
    assert!(after_slow_start > 20.0, "{after_slow_start}");
    // …then slowly: about GROWTH per second.
    let e = busy.epoch();
    busy.on_throttle(t, e);
    let cut = busy.rate();
    let start = t;
    while t < start + 4.0 {
        t = take_at(&mut busy, t).1;
        busy.on_success(t);
    }
    let grown = busy.rate() / cut;
    assert!(grown > 1.1 && grown < 1.4, "{grown}");
}

#[test]
fn a_cut_after_an_overshoot_starts_from_the_rate_that_was_served() {
    let mut b = AdaptiveBucket::new(cfg(1000.0), 0.0);
    // 20 calls a second were answered for two seconds, at a rate of 1000.
    let mut t = 0.0;
    for _ in 0..40 {
        t += 0.05;
        b.on_success(t);
    }
    b.on_throttle(t, 0);
    assert!(b.rate() < 20.0, "{}", b.rate());
}

/// The server: a token bucket of `rate` per second and `burst`, as EKS limits an account.
struct Server {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: f64,
}

impl Server {
    fn admit(&mut self, now: f64) -> bool {
        self.tokens = (self.tokens + (now - self.last) * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What a simulated caller does next at its event's time.
#[derive(Clone, Copy)]
enum Next {
    /// Asks the bucket for a token (sends if it gets one).
    Take,
    /// The answer to its call (sent in this epoch) arrives: served or throttled.
    Answer(u64, bool),
}

/// `workers` callers, each asking for its next token when its previous call is answered
/// (5 ms after it was sent), for `secs` of fake time, events in time order, doing what
/// [`RateLimits::acquire`] does: (calls served, throttled answers, bucket rate at the end).
fn simulate(server_rate: f64, burst: f64, workers: usize, secs: f64) -> (u64, u64, f64) {
    let mut b = AdaptiveBucket::new(LimiterConfig::default(), 0.0);
    let mut s = Server {
        rate: server_rate,
        burst,
        tokens: burst,
        last: 0.0,
    };
    let mut events: Vec<(f64, Next)> = (0..workers).map(|_| (0.0, Next::Take)).collect();
    let (mut served, mut throttled) = (0u64, 0u64);
    loop {
        let (i, _) = events
            .iter()
            .enumerate()
            .min_by(|a, b| a.1 .0.total_cmp(&b.1 .0))
            .expect("events");
        let (t, next) = events.swap_remove(i);
        if t >= secs {
            break;
        }
        match next {
            Next::Take => match b.take(t) {
                Ok(epoch) => events.push((t + 0.005, Next::Answer(epoch, s.admit(t)))),
                Err(wait) => events.push((t + wait.as_secs_f64(), Next::Take)),
            },
            Next::Answer(epoch, ok) => {
                if ok {
                    served += 1;
                    b.on_success(t);
                } else {
                    throttled += 1;
                    b.on_throttle(t, epoch);
                }
                events.push((t, Next::Take));
            }
        }
    }
    (served, throttled, b.rate())
}

#[test]
fn a_fleet_converges_near_the_allowed_rate_with_few_throttles() {
    for (rate, burst) in [(10.0, 10.0), (50.0, 20.0), (3.0, 3.0)] {
        let secs = 300.0;
        let (served, throttled, end_rate) = simulate(rate, burst, 32, secs);
        let allowed = rate * secs + burst;
        let share = served as f64 / allowed;
        // Within 1.2× of the physical bound: at least 1/1.2 of the allowed calls served.
        assert!(share > 0.85, "rate {rate}: served {share:.2} of the bound");
        // A storm would be throttled far more often than served.
        let t = throttled as f64 / (served + throttled) as f64;
        assert!(t < 0.05, "rate {rate}: {t:.3} of the calls throttled");
        assert!(
            end_rate > rate * 0.5 && end_rate < rate * 1.6,
            "rate {rate}: ended at {end_rate}"
        );
    }
}

#[test]
fn without_the_bucket_the_same_callers_storm() {
    // What the bucket saves: the same 32 callers with no client-side limit.
    let mut s = Server {
        rate: 10.0,
        burst: 10.0,
        tokens: 10.0,
        last: 0.0,
    };
    let (mut served, mut throttled) = (0u64, 0u64);
    let mut t = 0.0;
    while t < 60.0 {
        if s.admit(t) {
            served += 1;
        } else {
            throttled += 1;
        }
        t += 0.005 / 32.0;
    }
    assert!(
        throttled > 10 * served,
        "{served} served, {throttled} throttled"
    );
}

#[test]
fn calls_are_classed_by_service_and_read_or_change() {
    assert_eq!(class("eks:DescribeCluster"), ("eks", "read"));
    assert_eq!(class("eks:ListAccessEntries"), ("eks", "read"));
    assert_eq!(class("eks:CreateAccessEntry"), ("eks", "change"));
    assert_eq!(class("sts:GetCallerIdentity"), ("sts", "read"));
    assert_eq!(class("iam:GetRole"), ("iam", "read"));
}

#[tokio::test]
async fn shared_limits_count_throttles_and_keep_one_bucket_per_scope_and_class() {
    let l = RateLimits::new(cfg(1000.0));
    l.acquire("123 us-east-1", "eks:DescribeCluster").await;
    l.acquire("123 us-east-1", "eks:DescribeAccessEntry").await;
    l.acquire("123 us-east-1", "eks:CreateAccessEntry").await;
    l.acquire("123 eu-west-1", "eks:DescribeCluster").await;
    l.throttled("123 us-east-1", "eks:DescribeCluster", 0);
    let rates = l.rates();
    assert_eq!(rates.len(), 3, "{rates:?}");
    assert_eq!(l.throttled_calls(), 1);
    assert!(rates["123 us-east-1 eks read"] < 1000.0);
    assert!((rates["123 us-east-1 eks change"] - 1000.0).abs() < 1e-9);
}
