//! Limits shared by pods: threads stand in for pods, one store stands in
//! for Redis, a shared atomic counter is the clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hld_ratelimit::{
    Error, GcraOutcome, InMemoryStore, LeasedLimiter, Quota, SharedLimiter, Store, StoreError,
};
use proptest::prelude::*;

/// A store offering only the two required operations, so `gcra_update` runs
/// the trait's default compare-and-set loop (what a plain key-value store
/// with CAS would do).
struct CasOnly(InMemoryStore);

impl Store for CasOnly {
    fn get(&self, key: &[u8]) -> Result<u64, StoreError> {
        self.0.get(key)
    }
    fn compare_and_set(&self, key: &[u8], c: u64, n: u64) -> Result<Result<(), u64>, StoreError> {
        self.0.compare_and_set(key, c, n)
    }
}

/// A store that is down.
struct Down;

impl Store for Down {
    fn get(&self, _: &[u8]) -> Result<u64, StoreError> {
        Err(StoreError::new("connection refused"))
    }
    fn compare_and_set(&self, _: &[u8], _: u64, _: u64) -> Result<Result<(), u64>, StoreError> {
        Err(StoreError::new("connection refused"))
    }
}

/// The most requests any interval `[a, a + w]` may see under GCRA:
/// `burst + floor(w / T)`. Checks every interval that starts and ends on an
/// admitted request (the tightest ones).
fn max_excess(times: &mut [u64], q: &Quota) -> i64 {
    times.sort_unstable();
    let t = q.emission_interval_ns();
    let mut worst = i64::MIN;
    for i in 0..times.len() {
        for j in i..times.len() {
            let count = (j - i + 1) as i64;
            let allowed = q.burst() as i64 + ((times[j] - times[i]) / t) as i64;
            worst = worst.max(count - allowed);
        }
    }
    worst
}

/// Runs `pods` threads, each making `calls` checks with the clock moving
/// `tick` per call; returns every admitted request's time.
fn run_pods<F>(pods: usize, calls: usize, tick: u64, check: F) -> Vec<u64>
where
    F: Fn(usize, u64) -> bool + Sync,
{
    let clock = AtomicU64::new(1_000_000);
    let check = &check;
    let clock = &clock;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..pods)
            .map(|pod| {
                s.spawn(move || {
                    let mut admitted = Vec::new();
                    for _ in 0..calls {
                        let now = clock.fetch_add(tick, Ordering::SeqCst);
                        if check(pod, now) {
                            admitted.push(now);
                        }
                    }
                    admitted
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

#[test]
fn pods_sharing_a_store_never_exceed_the_quota() {
    let q = Quota::per_period(1, 10_000)
        .unwrap()
        .with_burst(20)
        .unwrap(); // T = 10 µs
    for cas_only in [false, true] {
        let store: Arc<dyn Store + Send + Sync> = if cas_only {
            Arc::new(CasOnly(InMemoryStore::new()))
        } else {
            Arc::new(InMemoryStore::new())
        };
        let pods: Vec<_> = (0..4)
            .map(|_| SharedLimiter::new(Arc::clone(&store), q))
            .collect();
        // Each call moves the clock 1 µs: ten times the allowed rate.
        let mut times = run_pods(4, 5_000, 1_000, |pod, now| {
            pods[pod].check(b"tenant:1", now).unwrap().allowed
        });
        let total = times.len() as u64;
        let span = 4 * 5_000 * 1_000;
        assert!(total <= 20 + span / 10_000, "{total}");
        assert!(
            total >= span / 10_000 * 9 / 10,
            "the pods used the quota: {total}"
        );
        assert!(max_excess(&mut times, &q) <= 0, "cas_only={cas_only}");
    }
}

#[test]
fn leased_pods_stay_within_the_documented_bound() {
    let q = Quota::per_period(1, 10_000)
        .unwrap()
        .with_burst(20)
        .unwrap(); // T = 10 µs
    let store = InMemoryStore::new();
    let pods: Vec<_> = (0..4)
        .map(|_| LeasedLimiter::new(&store, q, 8, 200_000).unwrap())
        .collect();
    let bound = pods[0].over_admission_bound(4);
    // min(4 pods x (8 - 1), ceil(200 µs / 10 µs)) = min(28, 20)
    assert_eq!(bound, 20);
    let mut times = run_pods(4, 5_000, 1_000, |pod, now| {
        pods[pod].check(b"tenant:1", now).unwrap().allowed
    });
    let excess = max_excess(&mut times, &q);
    assert!(excess <= bound as i64, "excess {excess} > bound {bound}");
    assert!(times.len() > 1_000);
}

/// Where the over-admission comes from: a pod spends tokens it leased long
/// ago while the shared bucket, refilled meanwhile, serves the other pod.
#[test]
fn leasing_over_admits_within_its_bound() {
    let q = Quota::per_period(1, 10_000)
        .unwrap()
        .with_burst(10)
        .unwrap(); // T = 10 µs
    let store = InMemoryStore::new();
    let a = LeasedLimiter::new(&store, q, 8, 200_000).unwrap();
    let b = LeasedLimiter::new(&store, q, 8, 200_000).unwrap();
    assert!(a.check(b"k", 0).unwrap().allowed); // a leases 8, spends 1
    let late = 199_999; // a's lease is still valid; the bucket is full again
    let mut at_once = 0;
    for _ in 0..20 {
        at_once += a.check(b"k", late).unwrap().allowed as u64;
        at_once += b.check(b"k", late).unwrap().allowed as u64;
    }
    // 7 from a's old lease and the full burst of 10 through b: 17 at one
    // instant where one exact limiter allows 10.
    assert_eq!(at_once, 17);
    let excess = at_once - q.burst() as u64;
    assert!(excess <= a.over_admission_bound(2));
    // The exact shared limiter, same story: 10.
    let store = InMemoryStore::new();
    let (x, y) = (SharedLimiter::new(&store, q), SharedLimiter::new(&store, q));
    assert!(x.check(b"k", 0).unwrap().allowed);
    let mut exact = 0;
    for _ in 0..20 {
        exact += x.check(b"k", late).unwrap().allowed as u64;
        exact += y.check(b"k", late).unwrap().allowed as u64;
    }
    assert_eq!(exact, 10);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Leases interleaved at random (one thread, random pod order and clock
    /// steps): every interval stays within the documented bound, and the
    /// bound is the smaller of its two terms.
    #[test]
    fn lease_bound_holds_on_every_interval(
        pods in 1usize..5,
        cells in 1u32..10,
        ttl in 1u64..200_000,
        steps in prop::collection::vec((0usize..5, 0u64..12_000), 1..400),
    ) {
        let q = Quota::per_period(1, 10_000).unwrap().with_burst(10).unwrap();
        let store = InMemoryStore::new();
        let limiters: Vec<_> = (0..pods)
            .map(|_| LeasedLimiter::new(&store, q, cells, ttl).unwrap())
            .collect();
        let mut now = 0;
        let mut times = Vec::new();
        for (pod, dt) in steps {
            now += dt;
            if limiters[pod % pods].check(b"k", now).unwrap().allowed {
                times.push(now);
            }
        }
        let bound = limiters[0].over_admission_bound(pods as u64);
        prop_assert_eq!(bound, (pods as u64 * (cells as u64 - 1)).min(ttl.div_ceil(10_000)));
        prop_assert!(max_excess(&mut times, &q) <= bound as i64);
    }

    /// A shared limiter on a store decides exactly like a local token bucket.
    #[test]
    fn shared_equals_token_bucket(
        steps in prop::collection::vec((0u64..30_000, 1u32..4), 1..200),
    ) {
        let q = Quota::per_period(2, 20_000).unwrap().with_burst(3).unwrap();
        let store = CasOnly(InMemoryStore::new());
        let shared = SharedLimiter::new(&store, q);
        let bucket = hld_ratelimit::TokenBucket::new(q);
        let mut now = 0;
        for (dt, n) in steps {
            now += dt;
            prop_assert_eq!(shared.check_n(b"x", n, now).unwrap(), bucket.check_n(n, now).unwrap());
        }
        prop_assert_eq!(store.get(b"x").unwrap(), bucket.tat());
    }
}

#[test]
fn store_errors_and_bad_input() {
    let q = Quota::per_second(5).unwrap();
    let down = SharedLimiter::new(Down, q);
    match down.check(b"k", 0) {
        Err(Error::Store(e)) => assert_eq!(e.message(), "connection refused"),
        other => panic!("{other:?}"),
    }
    let e = down.check(b"k", 0).unwrap_err();
    assert!(e.to_string().contains("connection refused"));
    assert!(std::error::Error::source(&e).is_some());
    assert!(LeasedLimiter::new(Down, q, 2, 10)
        .unwrap()
        .check(b"k", 0)
        .is_err());
    let store = InMemoryStore::new();
    let ok = SharedLimiter::new(&store, q);
    assert_eq!(ok.check_n(b"k", 0, 0), Err(Error::ZeroCells));
    assert!(matches!(
        ok.check_n(b"k", 6, 0),
        Err(Error::InsufficientCapacity { .. })
    ));
    assert!(LeasedLimiter::new(&store, q, 0, 10).is_err());
    assert!(LeasedLimiter::new(&store, q, 6, 10).is_err());
    assert!(LeasedLimiter::new(&store, q, 2, 0).is_err());
    assert_eq!(ok.quota(), q);
}

#[test]
fn in_memory_store_basics() {
    let s = InMemoryStore::default();
    assert!(s.is_empty());
    assert_eq!(s.get(b"a").unwrap(), 0);
    assert_eq!(s.compare_and_set(b"a", 1, 5).unwrap(), Err(0));
    assert_eq!(s.compare_and_set(b"a", 0, 5).unwrap(), Ok(()));
    assert_eq!(s.compare_and_set(b"a", 0, 6).unwrap(), Err(5));
    assert_eq!(s.get(b"a").unwrap(), 5);
    assert_eq!(s.len(), 1);
    let q = Quota::per_period(1, 10).unwrap();
    assert_eq!(
        s.gcra_update(b"b", &q, 1, 100).unwrap(),
        GcraOutcome {
            allowed: true,
            tat: 110
        }
    );
    assert_eq!(
        s.gcra_update(b"b", &q, 1, 100).unwrap(),
        GcraOutcome {
            allowed: false,
            tat: 110
        }
    );
    assert_eq!(s.purge(105), 1); // "a" (5) is idle; "b" (110) is not
    assert_eq!(s.len(), 1);
    assert_eq!(s.compare_and_set(b"b", 110, 0).unwrap(), Ok(()));
    assert!(s.is_empty());
}

#[test]
fn a_lease_serves_many_requests_per_round_trip() {
    /// Counts round trips.
    struct Counting(InMemoryStore, AtomicU64);
    impl Store for Counting {
        fn get(&self, key: &[u8]) -> Result<u64, StoreError> {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.get(key)
        }
        fn compare_and_set(&self, k: &[u8], c: u64, n: u64) -> Result<Result<(), u64>, StoreError> {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.compare_and_set(k, c, n)
        }
    }
    let store = Counting(InMemoryStore::new(), AtomicU64::new(0));
    let q = Quota::per_second(1_000).unwrap().with_burst(100).unwrap();
    let pod = LeasedLimiter::new(&store, q, 50, 1_000_000_000).unwrap();
    for i in 0..100 {
        assert!(pod.check(b"k", 0).unwrap().allowed, "request {i}");
    }
    assert!(!pod.check(b"k", 0).unwrap().allowed);
    // Two leases (2 round trips each) and one failed top-up (a read).
    assert_eq!(store.1.load(Ordering::Relaxed), 5);
    assert_eq!(pod.leased(b"k", 0), 0);
    // Short of a full lease, it takes what there is.
    assert!(pod.check(b"k", 3_000_000).unwrap().allowed);
    assert_eq!(pod.leased(b"k", 3_000_000), 2);
    assert_eq!(pod.lease_cells(), 50);
    assert_eq!(pod.lease_ttl_ns(), 1_000_000_000);
    assert_eq!(pod.quota(), q);
    // An expired lease is gone.
    assert_eq!(pod.leased(b"k", 2_000_000_000), 0);
}
