//! Token bucket: bad input, the meaning of each decision field, time going
//! backwards, huge times, and many threads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hld_ratelimit::{Error, Quota, TokenBucket};
use proptest::prelude::*;

#[test]
fn zero_anything_is_an_error() {
    assert_eq!(Quota::per_second(0), Err(Error::ZeroRate));
    assert_eq!(Quota::per_minute(0), Err(Error::ZeroRate));
    assert_eq!(Quota::per_period(1, 0), Err(Error::ZeroPeriod));
    assert_eq!(
        Quota::per_second(5).unwrap().with_burst(0),
        Err(Error::ZeroBurst)
    );
    let b = TokenBucket::new(Quota::per_second(5).unwrap());
    assert_eq!(b.check_n(0, 0), Err(Error::ZeroCells));
}

#[test]
fn n_above_burst_is_an_error_not_a_forever_deny() {
    let b = TokenBucket::new(Quota::per_second(5).unwrap().with_burst(3).unwrap());
    assert_eq!(
        b.check_n(4, 0),
        Err(Error::InsufficientCapacity {
            requested: 4,
            max: 3
        })
    );
    assert!(b.check_n(3, 0).unwrap().allowed);
    // The error left no trace.
    assert!(!b.check(0).allowed);
    let msg = Error::InsufficientCapacity {
        requested: 4,
        max: 3,
    }
    .to_string();
    assert!(msg.contains('4') && msg.contains('3'));
}

#[test]
fn quota_overflow_is_an_error() {
    // One per 2^61 ns (73 years) with a burst of 3: the window exceeds 2^62.
    assert_eq!(
        Quota::per_period(1, 1 << 61).unwrap().with_burst(3),
        Err(Error::QuotaOverflow)
    );
    assert_eq!(Quota::per_period(1, u64::MAX), Err(Error::QuotaOverflow));
    assert!(Quota::per_period(1, 1 << 61).unwrap().with_burst(2).is_ok());
    assert!(Quota::per_period(u32::MAX, 1 << 62).is_ok());
    assert_eq!(
        Quota::per_period(u32::MAX, u64::MAX),
        Err(Error::QuotaOverflow)
    );
}

#[test]
fn burst_then_steady_rate() {
    let q = Quota::per_second(10).unwrap().with_burst(5).unwrap();
    let b = TokenBucket::new(q);
    let t0 = 7_000_000_000;
    for i in 0..5 {
        let d = b.check(t0);
        assert!(d.allowed);
        assert_eq!(d.remaining, 4 - i);
        assert_eq!(d.limit, 5);
    }
    let d = b.check(t0);
    assert!(!d.allowed);
    assert_eq!(d.remaining, 0);
    assert_eq!(d.retry_after_ns, 100_000_000);
    assert_eq!(d.reset_after_ns, 500_000_000);
    // One more every 100 ms.
    for k in 1..20u64 {
        let t = t0 + k * 100_000_000;
        assert!(!b.check(t - 1).allowed);
        assert!(b.check(t).allowed);
        assert!(!b.check(t).allowed);
    }
}

#[test]
fn huge_times_never_panic() {
    let q = Quota::per_period(3, 1 << 40)
        .unwrap()
        .with_burst(3)
        .unwrap();
    let b = TokenBucket::new(q);
    for t in [u64::MAX, u64::MAX - 1, 0, u64::MAX, 1 << 63, u64::MAX] {
        let _ = b.check(t);
        let _ = b.check_n(3, t);
        let _ = b.peek(t);
    }
    let b = TokenBucket::from_tat(q, u64::MAX);
    let d = b.check(u64::MAX);
    assert!(d.retry_after_ns <= 1 << 41);
}

#[test]
fn tat_round_trips() {
    let q = Quota::per_second(4).unwrap();
    let a = TokenBucket::new(q);
    a.check_n(3, 1_000).unwrap();
    let b = TokenBucket::from_tat(q, a.tat());
    for t in [1_000, 2_000, 300_000_000, 10_000_000_000] {
        assert_eq!(a.check(t), b.check(t));
    }
    let c = a.clone();
    assert_eq!(a.check(20_000_000_000), c.check(20_000_000_000));
    a.reset();
    assert_eq!(a.tat(), 0);
    assert!(format!("{a:?}").contains("TokenBucket"));
}

fn quota_strategy() -> impl Strategy<Value = Quota> {
    (1u32..500, 1u64..10_000_000_000, 1u32..40).prop_map(|(n, p, b)| {
        Quota::per_period(n, p)
            .and_then(|q| q.with_burst(b))
            .unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `remaining` is exactly how many more single checks pass at the same
    /// instant; `retry_after` is exactly when the request passes;
    /// `reset_after` is exactly when the bucket is full again.
    #[test]
    fn decision_fields_are_exact(
        q in quota_strategy(),
        pre in prop::collection::vec((0u64..3_000_000_000, 1u32..40), 0..30),
        n in 1u32..40,
    ) {
        let b = TokenBucket::new(q);
        let mut t = 1_000_000_000;
        for (gap, k) in pre {
            t += gap;
            let _ = b.check_n(k.min(q.burst()), t);
        }
        let n = n.min(q.burst());
        let probe = b.clone();
        let d = probe.check_n(n, t).unwrap();
        // remaining: that many singles pass now, one more does not.
        let singles = probe.clone();
        for _ in 0..d.remaining {
            prop_assert!(singles.check(t).allowed);
        }
        prop_assert!(!singles.check(t).allowed);
        if d.allowed {
            prop_assert_eq!(d.retry_after_ns, 0);
        } else {
            prop_assert!(d.retry_after_ns > 0);
            let early = b.clone();
            prop_assert!(!early.check_n(n, t + d.retry_after_ns - 1).unwrap().allowed);
            let on_time = b.clone();
            prop_assert!(on_time.check_n(n, t + d.retry_after_ns).unwrap().allowed);
        }
        // reset_after: the whole burst passes then, and not a nanosecond before.
        let full = probe.clone();
        prop_assert!(full.check_n(q.burst(), t + d.reset_after_ns).unwrap().allowed);
        if d.reset_after_ns > 0 {
            let not_yet = probe.clone();
            prop_assert!(!not_yet.check_n(q.burst(), t + d.reset_after_ns - 1).unwrap().allowed);
        }
    }

    /// Whatever order times come in, the bucket never admits more than
    /// `burst + floor((latest - earliest) / T)` requests.
    #[test]
    fn time_going_backwards_never_over_admits(
        q in quota_strategy(),
        times in prop::collection::vec(0u64..20_000_000_000, 1..300),
    ) {
        let b = TokenBucket::new(q);
        let mut admitted = 0u64;
        for &t in &times {
            if b.check(t).allowed {
                admitted += 1;
            }
        }
        let lo = *times.iter().min().unwrap();
        let hi = *times.iter().max().unwrap();
        let bound = q.burst() as u64 + (hi - lo) / q.emission_interval_ns();
        prop_assert!(admitted <= bound, "{} > {}", admitted, bound);
    }
}

/// Threads hammering one bucket on a shared fake clock: the total admitted
/// stays within the quota for the time that passed, and nothing is lost
/// (every allowed check moved the state).
#[test]
fn many_threads_never_over_admit() {
    let q = Quota::per_period(1_000, 1_000_000)
        .unwrap()
        .with_burst(50)
        .unwrap(); // T = 1 µs
    let bucket = Arc::new(TokenBucket::new(q));
    let clock = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let bucket = Arc::clone(&bucket);
            let clock = Arc::clone(&clock);
            std::thread::spawn(move || {
                let mut admitted = 0u64;
                for _ in 0..100_000 {
                    let now = clock.fetch_add(300, Ordering::Relaxed); // 0.3 µs per call
                    if bucket.check(now).allowed {
                        admitted += 1;
                    }
                }
                admitted
            })
        })
        .collect();
    let admitted: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let elapsed = clock.load(Ordering::Relaxed);
    let bound = 50 + elapsed / q.emission_interval_ns();
    assert!(admitted <= bound, "{admitted} > {bound}");
    // The rate is the binding constraint, so nearly all of it is used.
    assert!(admitted >= bound * 9 / 10, "{admitted} of {bound}");
}

#[test]
fn limiters_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<TokenBucket>();
    check::<hld_ratelimit::KeyedLimiter<u64>>();
    check::<hld_ratelimit::KeyedLimiter<String>>();
    check::<hld_ratelimit::FixedWindow>();
    check::<hld_ratelimit::SlidingWindowCounter>();
    check::<hld_ratelimit::SlidingWindowLog>();
    check::<hld_ratelimit::SharedLimiter<hld_ratelimit::InMemoryStore>>();
    check::<hld_ratelimit::LeasedLimiter<hld_ratelimit::InMemoryStore>>();
    check::<hld_ratelimit::CircuitBreaker>();
    check::<hld_ratelimit::Error>();
}
