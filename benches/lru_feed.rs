//! hld-lru-feed against its peers.
//!
//! Caches: a Zipf(0.99) trace of 10 M accesses over 10 M keys, capacity 100 k;
//! each access is a `get`, and on a miss an insert (a read-through cache in
//! front of a database). One criterion iteration is one pass over the whole
//! trace with a fresh cache, so ns/access = time / 10 M; the hit ratio of
//! each contender is printed first. The concurrent caches also run with 2
//! threads, each taking one half of the trace. moka is timed by its single
//! hit-ratio pass only (at ~1.5 us per access, ten passes take minutes).
//!
//! Expiry: TicketMaster holds (5-minute TTL). Insert + remove on a map holding
//! 100 k holds (a new hold, and the confirmation of the one made 100 k holds
//! ago), and expiring 1 M holds in one sweep; deadlines in order (fixed TTL)
//! and shuffled (mixed TTLs).
//!
//! `cargo bench -p hld-benches --bench lru_feed` (about 3 minutes).

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::num::NonZeroUsize;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use hld_benches::{SplitMix64, Zipf};
use hld_lru_feed::{Cache, ConcurrentCache, ExpiryMap, LruCache};

const KEYS: usize = 10_000_000;
const ACCESSES: usize = 10_000_000;
const CAPACITY: usize = 100_000;
const ZIPF_S: f64 = 0.99;

/// The trace, built once: Zipf ranks mapped through a bijective mixer so
/// that the hot keys are not small consecutive integers.
fn trace() -> &'static [u64] {
    static TRACE: OnceLock<Vec<u64>> = OnceLock::new();
    TRACE.get_or_init(|| {
        let t = Instant::now();
        let zipf = Zipf::new(KEYS, ZIPF_S);
        let mut rng = SplitMix64(0x5EED_CAFE);
        let out: Vec<u64> = (0..ACCESSES)
            .map(|_| SplitMix64(zipf.sample(&mut rng) as u64).next_u64())
            .collect();
        eprintln!("trace: {ACCESSES} accesses built in {:.1?}", t.elapsed());
        out
    })
}

/// One pass of a single-threaded contender: get, insert on a miss. Returns hits.
type Pass = fn(&[u64]) -> usize;

fn pass_lru_cache(trace: &[u64]) -> usize {
    let mut c = LruCache::new(CAPACITY).unwrap();
    let mut hits = 0;
    for &k in trace {
        if c.get(&k).is_some() {
            hits += 1;
        } else {
            c.put(k, k);
        }
    }
    hits
}

fn pass_cache(trace: &[u64]) -> usize {
    let mut c = Cache::new(CAPACITY).unwrap();
    let mut hits = 0;
    for &k in trace {
        if c.get(&k).is_some() {
            hits += 1;
        } else {
            c.put(k, k);
        }
    }
    hits
}

fn pass_lru(trace: &[u64]) -> usize {
    let mut c = lru::LruCache::new(NonZeroUsize::new(CAPACITY).unwrap());
    let mut hits = 0;
    for &k in trace {
        if c.get(&k).is_some() {
            hits += 1;
        } else {
            c.put(k, k);
        }
    }
    hits
}

fn pass_schnellru(trace: &[u64]) -> usize {
    let mut c = schnellru::LruMap::new(schnellru::ByLength::new(CAPACITY as u32));
    let mut hits = 0;
    for &k in trace {
        if c.get(&k).is_some() {
            hits += 1;
        } else {
            c.insert(k, k);
        }
    }
    hits
}

fn pass_quick_unsync(trace: &[u64]) -> usize {
    let mut c = quick_cache::unsync::Cache::new(CAPACITY);
    let mut hits = 0;
    for &k in trace {
        if c.get(&k).is_some() {
            hits += 1;
        } else {
            c.insert(k, k);
        }
    }
    hits
}

/// A cache shared by threads.
trait Shared: Sync {
    fn make() -> Self;
    fn get(&self, k: u64) -> bool;
    fn insert(&self, k: u64);
}

impl Shared for ConcurrentCache<u64, u64> {
    fn make() -> Self {
        ConcurrentCache::new(CAPACITY).unwrap()
    }
    #[inline]
    fn get(&self, k: u64) -> bool {
        ConcurrentCache::get(self, &k).is_some()
    }
    #[inline]
    fn insert(&self, k: u64) {
        ConcurrentCache::insert(self, k, k)
    }
}

impl Shared for quick_cache::sync::Cache<u64, u64> {
    fn make() -> Self {
        quick_cache::sync::Cache::new(CAPACITY)
    }
    #[inline]
    fn get(&self, k: u64) -> bool {
        quick_cache::sync::Cache::get(self, &k).is_some()
    }
    #[inline]
    fn insert(&self, k: u64) {
        quick_cache::sync::Cache::insert(self, k, k)
    }
}

impl Shared for moka::sync::Cache<u64, u64> {
    fn make() -> Self {
        moka::sync::Cache::new(CAPACITY as u64)
    }
    #[inline]
    fn get(&self, k: u64) -> bool {
        moka::sync::Cache::get(self, &k).is_some()
    }
    #[inline]
    fn insert(&self, k: u64) {
        moka::sync::Cache::insert(self, k, k)
    }
}

/// One pass with `threads` threads, each over its own contiguous part of the
/// trace. Returns (hits, wall time).
fn pass_shared<C: Shared>(trace: &[u64], threads: usize) -> (usize, Duration) {
    let cache = C::make();
    let chunk = trace.len().div_ceil(threads);
    let start = Instant::now();
    let hits = std::thread::scope(|s| {
        let handles: Vec<_> = trace
            .chunks(chunk)
            .map(|part| {
                let cache = &cache;
                s.spawn(move || {
                    let mut hits = 0;
                    for &k in part {
                        if cache.get(k) {
                            hits += 1;
                        } else {
                            cache.insert(k);
                        }
                    }
                    hits
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let elapsed = start.elapsed();
    drop(black_box(cache));
    (hits, elapsed)
}

/// A named contender: runs one pass, returns (hits, time).
type Contender = (&'static str, Box<dyn Fn(&[u64]) -> (usize, Duration)>);

fn single(name: &'static str, pass: Pass) -> Contender {
    (
        name,
        Box::new(move |t| {
            let start = Instant::now();
            let hits = black_box(pass(black_box(t)));
            (hits, start.elapsed())
        }),
    )
}

fn shared<C: Shared + 'static>(name: &'static str, threads: usize) -> Contender {
    (name, Box::new(move |t| pass_shared::<C>(t, threads)))
}

fn bench_caches(c: &mut Criterion) {
    let trace = trace();
    let contenders = vec![
        single("hld LruCache", pass_lru_cache),
        single("schnellru LruMap", pass_schnellru),
        single("lru LruCache", pass_lru),
        single("hld Cache (S3-FIFO)", pass_cache),
        single("quick_cache unsync", pass_quick_unsync),
        shared::<ConcurrentCache<u64, u64>>("hld ConcurrentCache 1 thread", 1),
        shared::<quick_cache::sync::Cache<u64, u64>>("quick_cache sync 1 thread", 1),
        shared::<moka::sync::Cache<u64, u64>>("moka sync 1 thread", 1),
        shared::<ConcurrentCache<u64, u64>>("hld ConcurrentCache 2 threads", 2),
        shared::<quick_cache::sync::Cache<u64, u64>>("quick_cache sync 2 threads", 2),
        shared::<moka::sync::Cache<u64, u64>>("moka sync 2 threads", 2),
    ];
    // Criterion's filter argument (a regex; `a|b` alternatives are honoured
    // here as plain substrings) also selects which hit ratios are measured.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .flat_map(|a| a.split('|').map(str::to_string).collect::<Vec<_>>())
        .collect();
    eprintln!("hit ratios (Zipf {ZIPF_S}, {KEYS} keys, {ACCESSES} accesses, capacity {CAPACITY}):");
    for (name, run) in &contenders {
        let id = format!("zipf_trace/{name}");
        if !filter.is_empty() && !filter.iter().any(|f| id.contains(f.as_str())) {
            continue;
        }
        let (hits, t) = run(trace);
        eprintln!(
            "  {name:32} hit ratio {:.4}  ({:.1} ns/access in this pass)",
            hits as f64 / ACCESSES as f64,
            t.as_nanos() as f64 / ACCESSES as f64
        );
    }

    let mut g = c.benchmark_group("zipf_trace");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(ACCESSES as u64));
    for (name, run) in &contenders {
        if name.starts_with("moka") {
            // About 1.5 us per access: ten passes would take minutes. Its
            // one pass above gives its hit ratio and ns/access.
            continue;
        }
        g.bench_function(*name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| run(trace).1).sum())
        });
    }
    g.finish();
}

const TTL: u64 = 5 * 60 * 1_000_000_000;
const LIVE: u64 = 100_000;
const OPS: u64 = 100_000;
const HOLDS: u64 = 1_000_000;

/// Hold `i` is made at `i` ms: in-order deadlines. Shuffled: TTLs of 1 to 5
/// minutes, drawn at random.
fn deadline(i: u64, shuffled: bool) -> u64 {
    let now = i * 1_000_000;
    if shuffled {
        now + TTL / 5 + SplitMix64(i).below(TTL * 4 / 5)
    } else {
        now + TTL
    }
}

/// The notes' LinkedHashMap (insertion order = deadline order with a fixed
/// TTL): hashlink as the peer for in-order holds.
type Linked = hashlink::LinkedHashMap<u64, (u64, u64)>;

/// The textbook pair for arbitrary deadlines: a HashMap to find a hold, a
/// BTreeMap ordered by deadline to expire them.
#[derive(Default)]
struct MapAndTree {
    by_key: HashMap<u64, (u64, u64), ahash::RandomState>,
    by_deadline: BTreeMap<(u64, u64), ()>,
}

impl MapAndTree {
    fn insert(&mut self, k: u64, v: u64, d: u64) {
        self.by_key.insert(k, (v, d));
        self.by_deadline.insert((d, k), ());
    }
    fn remove(&mut self, k: u64) -> Option<u64> {
        let (v, d) = self.by_key.remove(&k)?;
        self.by_deadline.remove(&(d, k));
        Some(v)
    }
    fn expire(&mut self, now: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        while let Some(entry) = self.by_deadline.first_entry() {
            let (d, k) = *entry.key();
            if d > now {
                break;
            }
            entry.remove();
            let (v, _) = self.by_key.remove(&k).unwrap();
            out.push((k, v));
        }
        out
    }
}

fn linked_expire(m: &mut Linked, now: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    while let Some((_, &(_, d))) = m.front() {
        if d > now {
            break;
        }
        let (k, (v, _)) = m.pop_front().unwrap();
        out.push((k, v));
    }
    out
}

fn bench_expiry(c: &mut Criterion) {
    let mut g = c.benchmark_group("expiry_insert_remove");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(OPS));
    for shuffled in [false, true] {
        let order = if shuffled { "shuffled" } else { "in order" };
        g.bench_function(format!("hld ExpiryMap, {order}"), |b| {
            let mut m = ExpiryMap::with_capacity(LIVE as usize);
            for i in 0..LIVE {
                m.insert(i, i, deadline(i, shuffled));
            }
            let mut next = LIVE;
            b.iter(|| {
                for _ in 0..OPS {
                    m.insert(next, next, deadline(next, shuffled));
                    black_box(m.remove(&(next - LIVE)));
                    next += 1;
                }
            })
        });
        g.bench_function(format!("HashMap + BTreeMap, {order}"), |b| {
            let mut m = MapAndTree::default();
            for i in 0..LIVE {
                m.insert(i, i, deadline(i, shuffled));
            }
            let mut next = LIVE;
            b.iter(|| {
                for _ in 0..OPS {
                    m.insert(next, next, deadline(next, shuffled));
                    black_box(m.remove(next - LIVE));
                    next += 1;
                }
            })
        });
        if !shuffled {
            g.bench_function("hashlink LinkedHashMap, in order", |b| {
                let mut m = Linked::with_capacity(LIVE as usize);
                for i in 0..LIVE {
                    m.insert(i, (i, deadline(i, false)));
                }
                let mut next = LIVE;
                b.iter(|| {
                    for _ in 0..OPS {
                        m.insert(next, (next, deadline(next, false)));
                        black_box(m.remove(&(next - LIVE)));
                        next += 1;
                    }
                })
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("expiry_expire_1m");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(HOLDS));
    for shuffled in [false, true] {
        let order = if shuffled { "shuffled" } else { "in order" };
        let all_due = deadline(HOLDS, shuffled) + TTL;
        g.bench_function(format!("hld ExpiryMap, {order}"), |b| {
            b.iter_batched(
                || {
                    (0..HOLDS)
                        .map(|i| (i, i, deadline(i, shuffled)))
                        .collect::<ExpiryMap<_, _>>()
                },
                |mut m| {
                    let out = m.expire(all_due);
                    assert_eq!(out.len(), HOLDS as usize);
                    (m, out)
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function(format!("HashMap + BTreeMap, {order}"), |b| {
            b.iter_batched(
                || {
                    let mut m = MapAndTree::default();
                    for i in 0..HOLDS {
                        m.insert(i, i, deadline(i, shuffled));
                    }
                    m
                },
                |mut m| {
                    let out = m.expire(all_due);
                    assert_eq!(out.len(), HOLDS as usize);
                    (m, out)
                },
                BatchSize::PerIteration,
            )
        });
        if !shuffled {
            g.bench_function("hashlink LinkedHashMap, in order", |b| {
                b.iter_batched(
                    || {
                        let mut m = Linked::with_capacity(HOLDS as usize);
                        for i in 0..HOLDS {
                            m.insert(i, (i, deadline(i, false)));
                        }
                        m
                    },
                    |mut m| {
                        let out = linked_expire(&mut m, all_due);
                        assert_eq!(out.len(), HOLDS as usize);
                        (m, out)
                    },
                    BatchSize::PerIteration,
                )
            });
        }
    }
    g.finish();
}

/// Bytes per cached entry, full at capacity 100 k (u64 keys and values).
fn report_memory() {
    fn fill<T>(mut t: T, mut put: impl FnMut(&mut T, u64)) -> T {
        for k in 0..CAPACITY as u64 * 2 {
            put(&mut t, k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
        t
    }
    let lru = fill(LruCache::new(CAPACITY).unwrap(), |c, k| {
        c.put(k, k);
    });
    let s3 = fill(Cache::new(CAPACITY).unwrap(), |c, k| {
        c.put(k, k);
    });
    let conc = fill(ConcurrentCache::new(CAPACITY).unwrap(), |c, k| {
        c.insert(k, k);
    });
    eprintln!(
        "heap bytes per entry at capacity {CAPACITY}: LruCache {:.1}, Cache {:.1}, ConcurrentCache {:.1}",
        lru.heap_bytes() as f64 / CAPACITY as f64,
        s3.heap_bytes() as f64 / CAPACITY as f64,
        conc.heap_bytes() as f64 / CAPACITY as f64,
    );
}

fn benches(c: &mut Criterion) {
    report_memory();
    bench_caches(c);
    bench_expiry(c);
}

criterion_group!(lru_feed, benches);
criterion_main!(lru_feed);
