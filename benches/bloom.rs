//! hld-bloom against its peers on the same keys, in one run.
//!
//! Inputs: 10M distinct `u64` keys and the same keys as 16-byte hex strings; every
//! filter is sized for 10M items at a 1% false-positive rate. For each filter:
//! insert (building from empty), lookup of present keys (hit) and of 10M other
//! keys (miss), all in ns per key; then bytes per key and the false-positive rate
//! measured over the 10M misses.
//!
//! Peers: fastbloom 0.17 (the fastest general Bloom filter crate; with its default
//! SipHash-1-3, and with ahash, so the hash is not the whole story), bloomfilter 3
//! (classic layout, SipHash), and xorf's BinaryFuse8 (a static filter: built once
//! from all keys, no inserts; strings are pre-hashed to u64 for it).
//!
//! Run: `cargo bench -p hld-benches --bench bloom`. Criterion reports each
//! contender; then every contender's passes run again interleaved in rounds (so
//! that all see the same machine load) and the markdown table for BENCHMARKS.md is
//! printed from those medians.

use std::borrow::Borrow;
use std::hash::Hash;
use std::time::{Duration, Instant};

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use hld_benches::{distinct_u64, interleaved, machine, Pass};

const N: usize = 10_000_000;
const FP: f64 = 0.01;
/// Lookups per timed pass.
const LOOKUPS: usize = 2_000_000;
/// Interleaved rounds behind each number in the table: 9 (was 7) so that one
/// or two passes slowed by other load on the shared machine move no median.
const ROUNDS: usize = 9;

/// One contender: how to build it, and look up. Static filters (xorf) build from
/// all keys at once; the others insert one by one. Generic (not `dyn`) so each
/// contender's lookups inline into the timed loop, as in a user's code.
trait Filter<K: ?Sized>: Sized {
    const NAME: &'static str;
    /// Empty, sized for `N` keys at `FP`.
    fn new() -> Self;
    fn build(&mut self, keys: &[&K]);
    fn contains(&self, key: &K) -> bool;
    fn bytes(&self) -> usize;
}

struct Hld(hld_bloom::BloomFilter);
impl<K: Hash + ?Sized> Filter<K> for Hld {
    const NAME: &'static str = "hld-bloom";
    fn new() -> Self {
        Hld(hld_bloom::BloomFilter::new(N, FP).unwrap())
    }
    fn build(&mut self, keys: &[&K]) {
        for k in keys {
            self.0.insert(*k);
        }
    }
    fn contains(&self, key: &K) -> bool {
        self.0.contains(key)
    }
    fn bytes(&self) -> usize {
        self.0.byte_len()
    }
}

struct FastSip(fastbloom::BloomFilter);
impl<K: Hash + ?Sized> Filter<K> for FastSip {
    const NAME: &'static str = "fastbloom (SipHash-1-3, default)";
    fn new() -> Self {
        FastSip(fastbloom::BloomFilter::with_false_pos(FP).expected_items(N))
    }
    fn build(&mut self, keys: &[&K]) {
        for k in keys {
            self.0.insert(*k);
        }
    }
    fn contains(&self, key: &K) -> bool {
        self.0.contains(key)
    }
    fn bytes(&self) -> usize {
        self.0.num_bits() / 8
    }
}

struct FastAhash(fastbloom::BloomFilter<ahash::RandomState>);
impl<K: Hash + ?Sized> Filter<K> for FastAhash {
    const NAME: &'static str = "fastbloom (ahash)";
    fn new() -> Self {
        FastAhash(
            fastbloom::BloomFilter::with_false_pos(FP)
                .hasher(ahash::RandomState::with_seeds(1, 2, 3, 4))
                .expected_items(N),
        )
    }
    fn build(&mut self, keys: &[&K]) {
        for k in keys {
            self.0.insert(*k);
        }
    }
    fn contains(&self, key: &K) -> bool {
        self.0.contains(key)
    }
    fn bytes(&self) -> usize {
        self.0.num_bits() / 8
    }
}

struct Classic<K: ?Sized>(bloomfilter::Bloom<K>);
impl<K: Hash + ?Sized> Filter<K> for Classic<K> {
    const NAME: &'static str = "bloomfilter";
    fn new() -> Self {
        Classic(bloomfilter::Bloom::new_for_fp_rate(N, FP).unwrap())
    }
    fn build(&mut self, keys: &[&K]) {
        for k in keys {
            self.0.set(*k);
        }
    }
    fn contains(&self, key: &K) -> bool {
        self.0.check(key)
    }
    fn bytes(&self) -> usize {
        self.0.as_slice().len()
    }
}

/// xorf needs u64 keys: strings go through a fixed ahash first (part of its
/// build and lookup time, as it would be for a user).
struct Fuse(Option<xorf::BinaryFuse8>, ahash::RandomState);
impl<K: Hash + ?Sized> Filter<K> for Fuse {
    const NAME: &'static str = "xorf BinaryFuse8 (static)";
    fn new() -> Self {
        Fuse(None, ahash::RandomState::with_seeds(1, 2, 3, 4))
    }
    fn build(&mut self, keys: &[&K]) {
        let hashed: Vec<u64> = keys.iter().map(|k| self.1.hash_one(*k)).collect();
        self.0 = Some(xorf::BinaryFuse8::try_from(&hashed).expect("distinct keys"));
    }
    fn contains(&self, key: &K) -> bool {
        use xorf::Filter as _;
        self.0.as_ref().unwrap().contains(&self.1.hash_one(key))
    }
    fn bytes(&self) -> usize {
        self.0.as_ref().unwrap().fingerprints.len()
    }
}

/// A fixed pseudo-random sample of `LOOKUPS` keys, copied so that they lie in
/// memory in lookup order: reading the next key must not itself be a cache miss,
/// or every contender would be timed on that miss instead of its own.
fn sample<K: ?Sized + ToOwned>(keys: &[&K]) -> Vec<K::Owned> {
    let mut rng = hld_benches::SplitMix64(7);
    (0..LOOKUPS)
        .map(|_| keys[rng.below(keys.len() as u64) as usize].to_owned())
        .collect()
}

/// A row of the summary: what criterion cannot tell (size and accuracy).
struct Summary {
    keys: &'static str,
    name: &'static str,
    bits_per_key: f64,
    fp_rate: f64,
    insert_ns: f64,
    hit_ns: f64,
    miss_ns: f64,
}

/// The inputs of one key type.
struct Keys<'a, K: ?Sized> {
    label: &'static str,
    present: &'a [&'a K],
    absent: &'a [&'a K],
    hits: &'a [&'a K],
    misses: &'a [&'a K],
}

fn bench<K: Hash + ?Sized, F: Filter<K>>(
    c: &mut Criterion,
    keys: &Keys<K>,
    summary: &mut Vec<Summary>,
) {
    let label = keys.label;
    let mut g = c.benchmark_group(format!("bloom-{label}-insert"));
    g.throughput(Throughput::Elements(keys.present.len() as u64))
        .sample_size(10);
    g.bench_function(F::NAME, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // Allocation and zeroing are not inserts: start the clock after.
                let mut f = F::new();
                let t = Instant::now();
                f.build(black_box(keys.present));
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();

    let mut f = F::new();
    f.build(keys.present);
    for (what, set) in [("hit", keys.hits), ("miss", keys.misses)] {
        let mut g = c.benchmark_group(format!("bloom-{label}-{what}"));
        g.throughput(Throughput::Elements(set.len() as u64))
            .sample_size(10);
        g.bench_function(F::NAME, |b| {
            b.iter(|| set.iter().filter(|k| f.contains(black_box(**k))).count())
        });
        g.finish();
    }
    assert!(
        keys.present.iter().all(|k| f.contains(*k)),
        "{} lost a key",
        F::NAME
    );
    let fp = keys.absent.iter().filter(|k| f.contains(**k)).count();
    summary.push(Summary {
        keys: label,
        name: F::NAME,
        bits_per_key: f.bytes() as f64 * 8.0 / keys.present.len() as f64,
        fp_rate: fp as f64 / keys.absent.len() as f64,
        insert_ns: f64::NAN,
        hit_ns: f64::NAN,
        miss_ns: f64::NAN,
    });
}

fn run<K: Hash + ?Sized + ToOwned + 'static>(
    c: &mut Criterion,
    label: &'static str,
    present: &[&K],
    absent: &[&K],
    summary: &mut Vec<Summary>,
) {
    let (hits, misses) = (sample(present), sample(absent));
    let hits: Vec<&K> = hits.iter().map(|k| k.borrow()).collect();
    let misses: Vec<&K> = misses.iter().map(|k| k.borrow()).collect();
    let keys = Keys {
        label,
        present,
        absent,
        hits: &hits,
        misses: &misses,
    };
    // Criterion's own report for each contender.
    bench::<K, Hld>(c, &keys, summary);
    bench::<K, FastSip>(c, &keys, summary);
    bench::<K, FastAhash>(c, &keys, summary);
    bench::<K, Classic<K>>(c, &keys, summary);
    bench::<K, Fuse>(c, &keys, summary);

    // The table's numbers: every contender's passes interleaved in rounds.
    for (what, per_pass) in [("insert", N), ("hit", LOOKUPS), ("miss", LOOKUPS)] {
        let mut passes = vec![
            pass::<K, Hld>(&keys, what),
            pass::<K, FastSip>(&keys, what),
            pass::<K, FastAhash>(&keys, what),
            pass::<K, Classic<K>>(&keys, what),
            pass::<K, Fuse>(&keys, what),
        ];
        let medians = interleaved(ROUNDS, &mut passes);
        for (p, m) in passes.iter().zip(medians) {
            let row = summary
                .iter_mut()
                .find(|s| s.keys == label && s.name == p.name)
                .expect("summary row");
            let ns = m * 1e9 / per_pass as f64;
            match what {
                "insert" => row.insert_ns = ns,
                "hit" => row.hit_ns = ns,
                _ => row.miss_ns = ns,
            }
        }
    }
}

/// One timed pass of contender `F` for `what`: inserting every present key into
/// a fresh filter, or looking up the hit or miss sample in a built one.
fn pass<'a, K: Hash + ?Sized, F: Filter<K> + 'a>(keys: &'a Keys<'a, K>, what: &str) -> Pass<'a> {
    if what == "insert" {
        return Pass::new(F::NAME, move || {
            let mut f = F::new();
            let t = Instant::now();
            f.build(black_box(keys.present));
            t.elapsed()
        });
    }
    let set = if what == "hit" {
        keys.hits
    } else {
        keys.misses
    };
    let mut f = F::new();
    f.build(keys.present);
    Pass::new(F::NAME, move || {
        let t = Instant::now();
        black_box(set.iter().filter(|k| f.contains(black_box(**k))).count());
        t.elapsed()
    })
}

fn print_table(summary: &[Summary]) {
    println!("\n## hld-bloom\n");
    println!(
        "{N} items at a 1% target. ns per key: the median of {ROUNDS} interleaved passes \
         ({N} inserts into an empty filter, or {LOOKUPS} lookups of present (hit) or \
         absent (miss) keys). Ratio = this / the best dynamic peer (lower is better; xorf \
         is static, built once from all keys, so it is shown but not a ratio base). \
         Machine: {}.\n",
        machine()
    );
    println!("| keys | filter | insert ns | hit ns | miss ns | insert ratio | hit ratio | miss ratio | bits/key | measured FPR |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for keys in ["u64", "str16"] {
        let rows: Vec<&Summary> = summary.iter().filter(|s| s.keys == keys).collect();
        let peers = || {
            rows.iter()
                .filter(|r| r.name != "hld-bloom" && !r.name.contains("static"))
        };
        let best_insert = peers().map(|r| r.insert_ns).fold(f64::INFINITY, f64::min);
        let best_hit = peers().map(|r| r.hit_ns).fold(f64::INFINITY, f64::min);
        let best_miss = peers().map(|r| r.miss_ns).fold(f64::INFINITY, f64::min);
        for r in &rows {
            println!(
                "| {keys} | {} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {:.3}% |",
                r.name,
                r.insert_ns,
                r.hit_ns,
                r.miss_ns,
                r.insert_ns / best_insert,
                r.hit_ns / best_hit,
                r.miss_ns / best_miss,
                r.bits_per_key,
                r.fp_rate * 100.0
            );
        }
    }
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let all = distinct_u64(2 * N, 0xb100_f11e);
    let (present, absent) = all.split_at(N);
    let mut summary = Vec::new();
    {
        let p: Vec<&u64> = present.iter().collect();
        let a: Vec<&u64> = absent.iter().collect();
        run::<u64>(&mut c, "u64", &p, &a, &mut summary);
    }
    {
        let ps: Vec<String> = present.iter().map(|k| format!("{k:016x}")).collect();
        let as_: Vec<String> = absent.iter().map(|k| format!("{k:016x}")).collect();
        let p: Vec<&str> = ps.iter().map(String::as_str).collect();
        let a: Vec<&str> = as_.iter().map(String::as_str).collect();
        run::<str>(&mut c, "str16", &p, &a, &mut summary);
    }
    c.final_summary();
    print_table(&summary);
}
