//! hld-trie against fst on type-ahead top-k completion.
//!
//! Data sets: 1M pseudo-words with Zipf(1.0) weights (generated
//! deterministically, `hld_benches::pseudo_words`), and the real
//! `data/unigrams-100k.tsv` and `data/bigrams-100k.tsv` (term<TAB>count).
//! Queries: prefixes of 1, 2 and 4 characters of terms drawn uniformly,
//! top-10 each.
//!
//! Contenders, all answering exactly the same (checked before timing):
//! - `hld-dynamic`: `TopKTrie::top_k` (cached top-10 per node).
//! - `hld-frozen`: `FrozenTrie::top_k` (front-coded terms + range-minimum
//!   over weight ranks).
//! - `fst-naive`: the obvious way with fst, an `fst::Map` term -> weight:
//!   stream the prefix's key range, keep a size-k heap.
//! - `fst-best-first`: the strong way with fst. The map stores
//!   `u64::MAX - weight` (the inverted weight) for each term. fst puts each
//!   output as close to the root as it can, so the output summed along the
//!   path to a state is the *minimum* inverted weight (= the maximum weight)
//!   of every key below it: an exact bound. A best-first search (A* with
//!   that bound) pops states and finished keys from a priority queue
//!   ordered by (summed output, key bytes) and stops after k finished keys:
//!   it touches only the paths to the answers and their siblings instead
//!   of the whole range. Keys live in one byte arena (no allocation per
//!   queue entry) and the heap compares (output, key) so ties come out in
//!   byte order like the others.
//!
//! Criterion reports the medians; the manual loop below times each query
//! alone (10k queries or 1.5 s, whichever first) and prints median and
//! p99. Build rates, bytes per term and update rates are printed too.
//!
//! Run: `cargo bench -p hld-benches --bench trie`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use fst::{IntoStreamer, Map, Streamer};
use hld_benches::{pseudo_words, quantile, read_counts, zipf_weights, SplitMix64, Zipf};
use hld_trie::{FrozenTrie, TopKTrie};

const K: usize = 10;

/// A contender: answers one prefix query, returns the answer's length.
type Query<'a> = Box<dyn Fn(&str) -> usize + 'a>;

struct Set {
    name: &'static str,
    sorted: Vec<(String, u64)>,
    dynamic: TopKTrie,
    frozen: FrozenTrie,
    fst_plain: Map<Vec<u8>>,
    fst_inv: Map<Vec<u8>>,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn build_set(name: &'static str, mut pairs: Vec<(String, u64)>) -> Set {
    pairs.sort();
    pairs.dedup_by(|a, b| a.0 == b.0);
    let n = pairs.len() as f64;

    let t = Instant::now();
    let dynamic: TopKTrie = pairs.iter().cloned().collect();
    let dyn_build = secs(t.elapsed());

    let t = Instant::now();
    let mut dyn_inc = TopKTrie::new();
    for (term, w) in &pairs {
        dyn_inc.insert(term, *w);
    }
    let inc_build = secs(t.elapsed());
    drop(dyn_inc);

    let t = Instant::now();
    let frozen = FrozenTrie::from_sorted(pairs.iter().map(|(t, w)| (t.as_str(), *w))).unwrap();
    let frozen_build = secs(t.elapsed());

    let t = Instant::now();
    let frozen2 = dynamic.freeze();
    let freeze = secs(t.elapsed());
    assert_eq!(frozen2.len(), frozen.len());
    drop(frozen2);

    let t = Instant::now();
    let bytes = frozen.to_bytes();
    let ser = secs(t.elapsed());
    let t = Instant::now();
    let loaded = FrozenTrie::from_bytes(&bytes).unwrap();
    let load = secs(t.elapsed());
    assert_eq!(loaded.len(), frozen.len());
    drop(loaded);

    let t = Instant::now();
    let fst_plain = Map::from_iter(pairs.iter().map(|(t, w)| (t.as_bytes(), *w))).unwrap();
    let fst_build = secs(t.elapsed());
    let fst_inv = Map::from_iter(pairs.iter().map(|(t, w)| (t.as_bytes(), u64::MAX - *w))).unwrap();

    println!("== {name}: {} terms", pairs.len());
    println!(
        "build  hld-dynamic FromIterator {:.2} M terms/s | hld-dynamic insert one by one {:.2} M/s | hld-frozen from_sorted {:.2} M/s | freeze() {:.2} M/s | fst Map {:.2} M/s",
        n / dyn_build / 1e6,
        n / inc_build / 1e6,
        n / frozen_build / 1e6,
        n / freeze / 1e6,
        n / fst_build / 1e6
    );
    println!(
        "bytes/term  hld-frozen heap {:.2} serialized {:.2} | hld-dynamic heap {:.1} | fst map (weights) {:.2} | fst map (inverted weights) {:.2}",
        frozen.heap_bytes() as f64 / n,
        bytes.len() as f64 / n,
        dynamic.heap_bytes() as f64 / n,
        fst_plain.as_fst().as_bytes().len() as f64 / n,
        fst_inv.as_fst().as_bytes().len() as f64 / n,
    );
    println!(
        "bytes  to_bytes {:.0} MB/s, from_bytes (validate + rebuild index) {:.2} M terms/s",
        bytes.len() as f64 / ser / 1e6,
        n / load / 1e6
    );
    Set {
        name,
        sorted: pairs,
        dynamic,
        frozen,
        fst_plain,
        fst_inv,
    }
}

/// Prefixes of `len` characters of uniformly drawn terms.
fn queries(set: &Set, len: usize, count: usize, seed: u64) -> Vec<String> {
    let mut rng = SplitMix64(seed);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let t = &set.sorted[rng.below(set.sorted.len() as u64) as usize].0;
        if t.chars().count() >= len {
            out.push(t.chars().take(len).collect());
        }
    }
    out
}

/// The obvious fst way: stream the range, keep the k best in a heap.
fn fst_naive(map: &Map<Vec<u8>>, prefix: &str, k: usize) -> Vec<(String, u64)> {
    use std::cmp::Reverse;
    let p = prefix.as_bytes();
    let mut range = map.range().ge(p);
    if let Some((&last, head)) = p.split_last() {
        let mut succ = head.to_vec();
        succ.push(last + 1);
        range = range.lt(succ);
    }
    let mut stream = range.into_stream();
    // Min-heap of the k best so far: the root is the worst kept.
    let mut heap: std::collections::BinaryHeap<(Reverse<u64>, Vec<u8>)> =
        std::collections::BinaryHeap::with_capacity(k + 1);
    while let Some((key, w)) = stream.next() {
        if heap.len() < k {
            heap.push((Reverse(w), key.to_vec()));
        } else if let Some(worst) = heap.peek() {
            // Better = heavier, or as heavy and smaller key.
            if w > worst.0 .0 || (w == worst.0 .0 && key < worst.1.as_slice()) {
                heap.pop();
                heap.push((Reverse(w), key.to_vec()));
            }
        }
    }
    let mut v: Vec<(String, u64)> = heap
        .into_iter()
        .map(|(Reverse(w), k)| (String::from_utf8(k).unwrap(), w))
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// One best-first queue entry: a state reached by the key
/// `arena[start..start + len]` with summed output `acc` (or a finished key).
#[derive(Clone, Copy)]
struct Entry {
    acc: u64,
    start: u32,
    len: u32,
    addr: usize,
    done: bool,
}

/// A binary min-heap on (acc, key bytes) whose keys live in a shared arena.
struct ArenaHeap {
    arena: Vec<u8>,
    heap: Vec<Entry>,
}

impl ArenaHeap {
    fn key(&self, e: &Entry) -> &[u8] {
        &self.arena[e.start as usize..(e.start + e.len) as usize]
    }
    fn less(&self, a: &Entry, b: &Entry) -> bool {
        a.acc < b.acc || (a.acc == b.acc && (self.key(a), a.done) < (self.key(b), b.done))
    }
    fn push(&mut self, e: Entry) {
        self.heap.push(e);
        let mut i = self.heap.len() - 1;
        while i > 0 {
            let p = (i - 1) / 2;
            if self.less(&self.heap[i], &self.heap[p]) {
                self.heap.swap(i, p);
                i = p;
            } else {
                break;
            }
        }
    }
    fn pop(&mut self) -> Option<Entry> {
        let last = self.heap.pop()?;
        if self.heap.is_empty() {
            return Some(last);
        }
        let top = std::mem::replace(&mut self.heap[0], last);
        let n = self.heap.len();
        let mut i = 0;
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut m = i;
            if l < n && self.less(&self.heap[l], &self.heap[m]) {
                m = l;
            }
            if r < n && self.less(&self.heap[r], &self.heap[m]) {
                m = r;
            }
            if m == i {
                break;
            }
            self.heap.swap(i, m);
            i = m;
        }
        Some(top)
    }
}

/// The strong fst way: best-first search over inverted weights.
fn fst_best_first(map: &Map<Vec<u8>>, prefix: &str, k: usize) -> Vec<(String, u64)> {
    let f = map.as_fst();
    let mut node = f.root();
    let mut acc = 0u64;
    for &b in prefix.as_bytes() {
        let Some(i) = node.find_input(b) else {
            return Vec::new();
        };
        let t = node.transition(i);
        acc += t.out.value();
        node = f.node(t.addr);
    }
    let mut h = ArenaHeap {
        arena: prefix.as_bytes().to_vec(),
        heap: Vec::with_capacity(64),
    };
    h.push(Entry {
        acc,
        start: 0,
        len: prefix.len() as u32,
        addr: node.addr(),
        done: false,
    });
    let mut out = Vec::with_capacity(k);
    while let Some(e) = h.pop() {
        if e.done {
            let key = h.key(&e).to_vec();
            out.push((String::from_utf8(key).unwrap(), u64::MAX - e.acc));
            if out.len() == k {
                break;
            }
            continue;
        }
        let node = f.node(e.addr);
        if node.is_final() {
            h.push(Entry {
                acc: e.acc + node.final_output().value(),
                done: true,
                ..e
            });
        }
        for t in node.transitions() {
            let start = h.arena.len();
            h.arena
                .extend_from_within(e.start as usize..(e.start + e.len) as usize);
            h.arena.push(t.inp);
            h.push(Entry {
                acc: e.acc + t.out.value(),
                start: start as u32,
                len: e.len + 1,
                addr: t.addr,
                done: false,
            });
        }
    }
    out
}

/// Times each query alone; prints median and p99 in microseconds.
fn manual_p99(label: &str, qs: &[String], f: &dyn Fn(&str) -> usize) -> (f64, f64) {
    let mut times = Vec::with_capacity(qs.len());
    let start = Instant::now();
    for q in qs.iter().cycle().take(10_000) {
        let t = Instant::now();
        black_box(f(q));
        times.push(t.elapsed().as_nanos() as f64);
        if start.elapsed() > Duration::from_millis(1500) && times.len() >= 20 {
            break;
        }
    }
    let med = quantile(&mut times, 0.5) / 1e3;
    let p99 = quantile(&mut times, 0.99) / 1e3;
    println!(
        "p99  {label:<40} median {med:>9.2} us  p99 {p99:>9.2} us  ({} queries)",
        times.len()
    );
    (med, p99)
}

fn bench_queries(c: &mut Criterion, set: &Set) {
    for len in [1usize, 2, 4] {
        let qs = queries(set, len, 2000, 0x7419 + len as u64);
        // Same answers everywhere before timing anything.
        for q in qs.iter().take(200) {
            let want = set.dynamic.top_k(q, K);
            assert_eq!(set.frozen.top_k(q, K), want, "frozen {q:?}");
            assert_eq!(
                fst_best_first(&set.fst_inv, q, K),
                want,
                "fst best-first {q:?}"
            );
            assert_eq!(fst_naive(&set.fst_plain, q, K), want, "fst naive {q:?}");
        }
        let contenders: [(&str, Query<'_>); 4] = [
            ("hld-dynamic", Box::new(|q| set.dynamic.top_k(q, K).len())),
            ("hld-frozen", Box::new(|q| set.frozen.top_k(q, K).len())),
            (
                "fst-best-first",
                Box::new(|q| fst_best_first(&set.fst_inv, q, K).len()),
            ),
            (
                "fst-naive",
                Box::new(|q| fst_naive(&set.fst_plain, q, K).len()),
            ),
        ];
        let mut g = c.benchmark_group(format!("trie/{}/top10/len{len}", set.name));
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(800))
            .sampling_mode(SamplingMode::Flat);
        for (name, f) in &contenders {
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                let mut i = 0usize;
                b.iter(|| {
                    i = (i + 1) % qs.len();
                    black_box(f(&qs[i]))
                })
            });
        }
        g.finish();
        for (name, f) in &contenders {
            manual_p99(&format!("{}/len{len}/{name}", set.name), &qs, f.as_ref());
        }
    }
}

/// Update rates on the dynamic trie: Zipf-distributed increments (what an
/// aggregator streams), random re-weights (up and down), new terms, and
/// remove + re-insert.
fn bench_updates(c: &mut Criterion, set: &Set) {
    let n = set.sorted.len();
    let mut rng = SplitMix64(99);
    let zipf = Zipf::new(n, 1.0);
    // Zipf over a random order of the terms.
    let perm: Vec<usize> = {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            p.swap(i, rng.below(i as u64 + 1) as usize);
        }
        p
    };
    let ops = 200_000;
    let add_terms: Vec<&str> = (0..ops)
        .map(|_| set.sorted[perm[zipf.sample(&mut rng)]].0.as_str())
        .collect();
    let set_ops: Vec<(&str, u64)> = (0..ops)
        .map(|_| {
            let t = &set.sorted[rng.below(n as u64) as usize].0;
            let w = set.sorted[rng.below(n as u64) as usize].1;
            (t.as_str(), w)
        })
        .collect();
    let new_terms: Vec<String> = pseudo_words(n + ops, 4242)
        .into_iter()
        .filter(|w| set.dynamic.weight(w).is_none())
        .take(ops)
        .collect();

    let mut trie = set.dynamic.clone();
    let rate = |label: &str, f: &mut dyn FnMut(usize)| {
        let t = Instant::now();
        for i in 0..ops {
            f(i);
        }
        let r = ops as f64 / t.elapsed().as_secs_f64();
        println!("updates  {label:<40} {:.0} k ops/s", r / 1e3);
    };
    rate("add(zipf term, 1)", &mut |i| trie.add(add_terms[i], 1));
    rate("insert(random term, random weight)", &mut |i| {
        trie.insert(set_ops[i].0, set_ops[i].1)
    });
    rate("insert(new term)", &mut |i| {
        trie.insert(&new_terms[i], 1 + i as u64 % 1000)
    });
    rate("remove(new term)", &mut |i| {
        trie.remove(&new_terms[i]);
    });
    assert_eq!(trie.len(), n);

    let mut g = c.benchmark_group(format!("trie/{}/update", set.name));
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(800));
    let mut i = 0usize;
    g.bench_function("add-zipf", |b| {
        b.iter(|| {
            i = (i + 1) % ops;
            trie.add(add_terms[i], 1)
        })
    });
    g.bench_function("insert-reweight", |b| {
        b.iter(|| {
            i = (i + 1) % ops;
            trie.insert(set_ops[i].0, set_ops[i].1)
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let words = pseudo_words(1_000_000, 2024);
    let weights = zipf_weights(words.len(), 1.0, 1e9);
    let big = build_set("1M-zipf", words.into_iter().zip(weights).collect());
    bench_queries(c, &big);
    bench_updates(c, &big);
    drop(big);
    for (name, file) in [
        ("unigrams", "unigrams-100k.tsv"),
        ("bigrams", "bigrams-100k.tsv"),
    ] {
        let set = build_set(name, read_counts(file));
        bench_queries(c, &set);
    }
}

criterion_group!(trie_benches, benches);
criterion_main!(trie_benches);
