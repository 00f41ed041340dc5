//! hld-ratelimit against governor 0.10, its strongest peer, on the same
//! arrivals and the same clock.
//!
//! Both read time from the same thread-local fake clock (governor through
//! its `Clock` trait, ours as the `now` argument), so neither pays for a
//! system clock and the comparison is of the limiters alone.
//!
//! * `direct`: one limiter, every check allowed (a compare-and-swap each),
//!   every check denied (a read each), and two threads contending.
//! * `keyed`: 1M existing `u64` keys, a random one per check; governor's
//!   default keyed store (DashMap, SipHash) and the same with ahash.
//! * `check_many`: batches of 1024 random existing keys.
//! * bytes per key: measured by a counting allocator while building the
//!   1M-key limiters (printed before the timings).
//!
//! `cargo bench -p hld-benches --bench ratelimit`

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use governor::clock::Clock;
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::{Quota as GQuota, RateLimiter};
use hld_benches::{distinct_u64, SplitMix64};
use hld_ratelimit::{KeyedLimiter, Quota, TokenBucket};

/// Counts live heap bytes, to measure bytes per key the same way for every
/// contender.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; the only
// addition is a relaxed counter update.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE_BYTES.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

thread_local! {
    /// The fake clock both contenders read: per thread, so two threads do
    /// not contend on the clock itself.
    static NOW: Cell<u64> = const { Cell::new(0) };
}

/// governor's view of the same clock.
#[derive(Clone, Copy, Debug, Default)]
struct BenchClock;

impl Clock for BenchClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        Nanos::from(NOW.with(Cell::get))
    }
}

#[inline]
fn tick(step: u64) -> u64 {
    NOW.with(|c| {
        let t = c.get() + step;
        c.set(t);
        t
    })
}

fn gquota(q: &Quota) -> GQuota {
    GQuota::with_period(Duration::from_nanos(q.emission_interval_ns()))
        .unwrap()
        .allow_burst(NonZeroU32::new(q.burst()).unwrap())
}

fn config<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g
}

fn direct(c: &mut Criterion) {
    // Allowed: 1 per ns with time moving 1 µs per check. Denied: 1 per
    // second after the first, time moving 1 ns per check.
    let regimes = [
        ("allow", Quota::per_period(1, 1).unwrap(), 1_000u64),
        ("deny", Quota::per_second(1).unwrap(), 1u64),
    ];
    let mut g = config(c, "ratelimit/direct");
    for (regime, q, step) in regimes {
        // The yes/no answer only: what governor's default `check` gives.
        let ours = TokenBucket::new(q);
        g.bench_function(BenchmarkId::new("hld TokenBucket", regime), |b| {
            b.iter(|| ours.check(tick(step)).allowed)
        });
        let gov = RateLimiter::direct_with_clock(gquota(&q), BenchClock);
        g.bench_function(BenchmarkId::new("governor", regime), |b| {
            b.iter(|| {
                tick(step);
                gov.check().is_ok()
            })
        });
        // The full answer (remaining burst, or the wait): our whole
        // `Decision` against governor's `StateInformationMiddleware`.
        let ours = TokenBucket::new(q);
        g.bench_function(
            BenchmarkId::new("hld TokenBucket", format!("{regime}, full decision")),
            |b| b.iter(|| ours.check(tick(step))),
        );
        let gov = RateLimiter::direct_with_clock(gquota(&q), BenchClock)
            .with_middleware::<StateInformationMiddleware>();
        g.bench_function(
            BenchmarkId::new("governor", format!("{regime}, full decision")),
            |b| {
                b.iter(|| {
                    let now = tick(step);
                    match gov.check() {
                        Ok(snap) => snap.remaining_burst_capacity() as u64,
                        Err(not_until) => {
                            not_until.wait_time_from(Nanos::from(now)).as_nanos() as u64
                        }
                    }
                })
            },
        );
    }
    // Two threads on one limiter, every check allowed and so a
    // compare-and-swap on the shared word: each iteration is one check on
    // each thread, timed together. Each thread's clock moves 2 ns per check
    // while each check costs 1 ns of the shared bucket, so the bucket keeps
    // pace with the clocks, and the burst (2^30 ns of tolerance) absorbs the
    // skew between the threads: no check is denied.
    let q = Quota::per_period(1, 1)
        .unwrap()
        .with_burst(1 << 30)
        .unwrap();
    let ours = TokenBucket::new(q);
    g.bench_function(BenchmarkId::new("hld TokenBucket", "2 threads"), |b| {
        b.iter_custom(|iters| two_threads(iters, || ours.check(tick(2)).allowed))
    });
    let gov = RateLimiter::direct_with_clock(gquota(&q), BenchClock);
    g.bench_function(BenchmarkId::new("governor", "2 threads"), |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                tick(2);
                gov.check().is_ok()
            })
        })
    });
    g.finish();
}

/// Runs `f` `iters` times on each of two threads at once; the wall time.
/// Panics if any check was denied (the contention would not be measured).
fn two_threads(iters: u64, f: impl Fn() -> bool + Sync) -> Duration {
    // Both threads' clocks resume where the last run's ended, so the
    // limiter (which outlives the runs) never sees time going backwards.
    static EPOCH: AtomicU64 = AtomicU64::new(0);
    let f = &f;
    let start = Instant::now();
    let allowed: u64 = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(move || {
                    NOW.with(|c| c.set(EPOCH.load(Ordering::Relaxed)));
                    let n = (0..iters).filter(|_| black_box(f())).count() as u64;
                    EPOCH.fetch_max(NOW.with(Cell::get), Ordering::Relaxed);
                    n
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let elapsed = start.elapsed();
    assert_eq!(allowed, 2 * iters, "every check must be allowed");
    elapsed
}

const KEYS: usize = 1 << 20;

fn keyed(c: &mut Criterion) {
    let keys = distinct_u64(KEYS, 0x5EED);
    // Long-lived state: one per 3.6 s with a burst of 1000, so every check
    // is allowed and updates its key, and no key goes idle mid-run.
    let q = Quota::per_hour(1_000).unwrap();
    let mut rng = SplitMix64(7);
    let trace: Vec<u64> = (0..1 << 20)
        .map(|_| keys[rng.below(KEYS as u64) as usize])
        .collect();

    NOW.with(|c| c.set(1_000_000_000));
    let before = live_bytes();
    let ours = KeyedLimiter::<u64>::builder(q)
        .max_keys(4 << 20)
        .build()
        .unwrap();
    for k in &keys {
        ours.check(k, tick(1));
    }
    let ours_bytes = (live_bytes() - before) as f64 / KEYS as f64;
    let before = live_bytes();
    let gov = RateLimiter::dashmap_with_clock(gquota(&q), BenchClock);
    for k in &keys {
        tick(1);
        let _ = gov.check_key(k);
    }
    let gov_bytes = (live_bytes() - before) as f64 / KEYS as f64;
    let before = live_bytes();
    let gov_ahash = RateLimiter::dashmap_with_clock_and_hasher(
        gquota(&q),
        BenchClock,
        ahash::RandomState::new(),
    );
    for k in &keys {
        tick(1);
        let _ = gov_ahash.check_key(k);
    }
    let gov_ahash_bytes = (live_bytes() - before) as f64 / KEYS as f64;
    println!(
        "bytes per key at {KEYS} u64 keys: hld {ours_bytes:.1} (memory_bytes {:.1}), \
         governor {gov_bytes:.1}, governor+ahash {gov_ahash_bytes:.1}",
        ours.memory_bytes() as f64 / KEYS as f64
    );

    let mut g = config(c, "ratelimit/keyed 1M keys");
    let mut i = 0usize;
    g.bench_function("hld KeyedLimiter", |b| {
        b.iter(|| {
            i = (i + 1) & (trace.len() - 1);
            ours.check(&trace[i], tick(1))
        })
    });
    g.bench_function("governor (DashMap, SipHash)", |b| {
        b.iter(|| {
            i = (i + 1) & (trace.len() - 1);
            tick(1);
            gov.check_key(&trace[i]).is_ok()
        })
    });
    g.bench_function("governor (DashMap, ahash)", |b| {
        b.iter(|| {
            i = (i + 1) & (trace.len() - 1);
            tick(1);
            gov_ahash.check_key(&trace[i]).is_ok()
        })
    });
    g.finish();

    const BATCH: usize = 1024;
    let mut g = config(c, "ratelimit/batch of 1024 keys");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut out = Vec::with_capacity(BATCH);
    let mut at = 0usize;
    g.bench_function("hld check_many", |b| {
        b.iter(|| {
            at = (at + BATCH) & (trace.len() - 1);
            ours.check_many_into(&trace[at..at + BATCH], tick(1), &mut out);
            black_box(&out);
        })
    });
    g.bench_function("hld check loop", |b| {
        b.iter(|| {
            at = (at + BATCH) & (trace.len() - 1);
            let now = tick(1);
            for k in &trace[at..at + BATCH] {
                black_box(ours.check(k, now));
            }
        })
    });
    g.bench_function("governor check_key loop", |b| {
        b.iter(|| {
            at = (at + BATCH) & (trace.len() - 1);
            tick(1);
            for k in &trace[at..at + BATCH] {
                black_box(gov.check_key(k).is_ok());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, direct, keyed);
criterion_main!(benches);
