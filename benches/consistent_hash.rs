//! hld-consistent-hash against its peers, same inputs, one run:
//! - HashRing vs the `hashring` crate: build and lookup at 100 nodes x 100 vnodes;
//! - jump_hash vs the paper's plain loop;
//! - AnchorHash vs the `anchorhash` crate (and vs jump, the lookup target);
//! - plus a criterion-free table at 100 nodes and 1M keys: peak/mean load and
//!   the share of keys moved on adding and on removing a node, per scheme.
//!
//! `cargo bench -p hld-benches --bench consistent_hash` runs everything;
//! `-- table` prints only the table; any other filter skips it.

use criterion::{BatchSize, Criterion, Throughput};
use hld_benches::{distinct_u64, SplitMix64};
use hld_consistent_hash::{jump_hash, AnchorHash, BoundedLoad, HashRing};
use std::hint::black_box;
use std::time::Duration;

const NODES: u32 = 100;
const VNODES: u32 = 100;
const LOOKUPS: usize = 1000;

/// The paper's loop (Lamping & Veach 2014, figure 1) as most ports write it.
fn jump_reference(mut key: u64, num_buckets: i32) -> i32 {
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < num_buckets as i64 {
        b = j;
        key = key.wrapping_mul(2862933555777941757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1i64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as i32
}

/// The `hashring` crate has no virtual nodes of its own: its users insert
/// (node, replica) pairs, which is what this builds. `batch_add` sorts once.
fn peer_ring_batch(nodes: u32, vnodes: u32) -> hashring::HashRing<(u32, u32)> {
    let mut r = hashring::HashRing::new();
    r.batch_add(
        (0..nodes)
            .flat_map(|n| (0..vnodes).map(move |v| (n, v)))
            .collect(),
    );
    r
}

fn our_ring(nodes: u32, vnodes: u32) -> HashRing<u32> {
    let mut r = HashRing::new(vnodes as usize).unwrap();
    r.extend(0..nodes);
    r
}

fn bench_ring(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring_build_100x100");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.bench_function("hld", |b| b.iter(|| black_box(our_ring(NODES, VNODES))));
    g.bench_function("hld_add_one_by_one", |b| {
        b.iter(|| {
            let mut r = HashRing::new(VNODES as usize).unwrap();
            for n in 0..NODES {
                r.add(n);
            }
            black_box(r)
        })
    });
    g.bench_function("hashring_batch_add", |b| {
        b.iter(|| black_box(peer_ring_batch(NODES, VNODES)))
    });
    g.sample_size(10);
    g.bench_function("hashring_add", |b| {
        b.iter(|| {
            let mut r = hashring::HashRing::new();
            for n in 0..NODES {
                for v in 0..VNODES {
                    r.add((n, v));
                }
            }
            black_box(r)
        })
    });
    g.finish();

    let ours = our_ring(NODES, VNODES);
    let peer = peer_ring_batch(NODES, VNODES);
    let keys = distinct_u64(LOOKUPS, 1);
    let names: Vec<String> = keys
        .iter()
        .map(|k| format!("user:{}", k % 10_000_000))
        .collect();

    let mut g = c.benchmark_group("ring_lookup_100x100");
    g.sample_size(30).measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements(LOOKUPS as u64));
    g.bench_function("hld_u64", |b| {
        b.iter(|| {
            let mut acc = 0u32;
            for k in &keys {
                acc = acc.wrapping_add(*ours.node_for(black_box(k)).unwrap());
            }
            acc
        })
    });
    g.bench_function("hashring_u64", |b| {
        b.iter(|| {
            let mut acc = 0u32;
            for k in &keys {
                acc = acc.wrapping_add(peer.get(black_box(k)).unwrap().0);
            }
            acc
        })
    });
    g.bench_function("hld_str", |b| {
        b.iter(|| {
            let mut acc = 0u32;
            for k in &names {
                acc = acc.wrapping_add(*ours.node_for(black_box(k.as_str())).unwrap());
            }
            acc
        })
    });
    g.bench_function("hashring_str", |b| {
        b.iter(|| {
            let mut acc = 0u32;
            for k in &names {
                acc = acc.wrapping_add(peer.get(&black_box(k.as_str())).unwrap().0);
            }
            acc
        })
    });
    g.finish();

    let mut g = c.benchmark_group("ring_replicas3_100x100");
    g.sample_size(10).measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements(100));
    g.bench_function("hld_nodes_for", |b| {
        b.iter(|| {
            let mut acc = 0usize;
            for k in &keys[..100] {
                acc += ours.nodes_for(black_box(k), 3).len();
            }
            acc
        })
    });
    // hashring's replicas clone and rotate the whole ring per call.
    g.bench_function("hashring_get_with_replicas", |b| {
        b.iter(|| {
            let mut acc = 0usize;
            for k in &keys[..100] {
                acc += peer.get_with_replicas(black_box(k), 2).unwrap().len();
            }
            acc
        })
    });
    g.finish();
}

fn bench_jump(c: &mut Criterion) {
    let keys = distinct_u64(LOOKUPS, 2);
    let mut g = c.benchmark_group("jump");
    g.sample_size(30).measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements(LOOKUPS as u64));
    for buckets in [100u32, 10_000] {
        g.bench_function(format!("hld_{buckets}"), |b| {
            b.iter(|| {
                let mut acc = 0u32;
                for &k in &keys {
                    acc = acc.wrapping_add(jump_hash(black_box(k), buckets));
                }
                acc
            })
        });
        g.bench_function(format!("reference_loop_{buckets}"), |b| {
            b.iter(|| {
                let mut acc = 0i32;
                for &k in &keys {
                    acc = acc.wrapping_add(jump_reference(black_box(k), buckets as i32));
                }
                acc
            })
        });
    }
    g.finish();
}

/// 100 working nodes: of 100 (nothing removed) or of 128 (28 removed,
/// scattered), the same sets for both implementations.
fn anchor_removed(capacity: u32) -> Vec<u32> {
    let mut rng = SplitMix64(7);
    let mut all: Vec<u32> = (0..capacity).collect();
    let mut removed = Vec::new();
    while all.len() > NODES as usize {
        removed.push(all.swap_remove(rng.below(all.len() as u64) as usize));
    }
    removed
}

fn our_anchor(capacity: u32) -> AnchorHash<u32> {
    let mut a = AnchorHash::new(capacity as usize).unwrap();
    for n in 0..capacity {
        a.add(n).unwrap();
    }
    for n in anchor_removed(capacity) {
        a.remove(&n);
    }
    a
}

fn peer_anchor(capacity: u32) -> anchorhash::AnchorHash<u64, u32, fnv::FnvBuildHasher> {
    let mut a = anchorhash::Builder::with_hasher(fnv::FnvBuildHasher::default())
        .with_resources(0..capacity)
        .build(capacity as u16);
    for n in anchor_removed(capacity) {
        a.remove_resource(&n).unwrap();
    }
    a
}

fn bench_anchor(c: &mut Criterion) {
    let keys = distinct_u64(LOOKUPS, 3);
    let mut g = c.benchmark_group("free_removal_100_nodes");
    g.sample_size(30).measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements(LOOKUPS as u64));
    g.bench_function("jump_hash_100", |b| {
        b.iter(|| {
            let mut acc = 0u32;
            for &k in &keys {
                acc = acc.wrapping_add(jump_hash(black_box(k), NODES));
            }
            acc
        })
    });
    for cap in [100u32, 128] {
        let ours = our_anchor(cap);
        let peer = peer_anchor(cap);
        g.bench_function(format!("hld_anchor_bucket_for_hash_cap{cap}"), |b| {
            b.iter(|| {
                let mut acc = 0u32;
                for &k in &keys {
                    acc = acc.wrapping_add(ours.bucket_for_hash(black_box(k)).unwrap());
                }
                acc
            })
        });
        g.bench_function(format!("hld_anchor_node_for_cap{cap}"), |b| {
            b.iter(|| {
                let mut acc = 0u32;
                for k in &keys {
                    acc = acc.wrapping_add(*ours.node_for(black_box(k)).unwrap());
                }
                acc
            })
        });
        g.bench_function(format!("anchorhash_fnv_cap{cap}"), |b| {
            b.iter(|| {
                let mut acc = 0u32;
                for &k in &keys {
                    acc = acc.wrapping_add(*peer.get_resource(black_box(k)).unwrap());
                }
                acc
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("free_removal_remove_add");
    g.sample_size(20).measurement_time(Duration::from_secs(2));
    let ours = our_anchor(128);
    let peer = peer_anchor(128);
    g.bench_function("hld_anchor", |b| {
        b.iter_batched(
            || ours.clone(),
            |mut a| {
                a.remove(&black_box(5));
                a.add(5).unwrap();
                a
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("anchorhash", |b| {
        b.iter_batched(
            || peer.clone(),
            |mut a| {
                a.remove_resource(&black_box(5)).unwrap();
                a.add_resource(5).unwrap();
                a
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// Peak/mean load and moved shares at 100 nodes and 1M keys, per scheme.
fn print_table() {
    const KEYS: u64 = 1_000_000;
    let keys: Vec<u64> = {
        let mut r = SplitMix64(11);
        (0..KEYS).map(|_| r.next_u64()).collect()
    };
    fn stats(assign: &[u32]) -> f64 {
        let mut c = std::collections::HashMap::<u32, u64>::new();
        for &a in assign {
            *c.entry(a).or_default() += 1;
        }
        let peak = *c.values().max().unwrap() as f64;
        peak / (assign.len() as f64 / c.len() as f64)
    }
    fn moved(a: &[u32], b: &[u32]) -> f64 {
        100.0 * a.iter().zip(b).filter(|(x, y)| x != y).count() as f64 / a.len() as f64
    }
    println!("\n| scheme (100 nodes, 1M keys) | peak/mean | moved on add (ideal {:.2}%) | moved on remove (ideal 1.00%) |", 100.0 / 101.0);
    println!("|---|---|---|---|");
    let row = |name: &str, base: &[u32], add: &[u32], rem: &[u32]| {
        println!(
            "| {name} | {:.3} | {:.2}% | {:.2}% |",
            stats(base),
            moved(base, add),
            moved(base, rem)
        );
    };
    for vnodes in [100u32, 160] {
        let mut r = our_ring(NODES, vnodes);
        let base: Vec<u32> = keys.iter().map(|k| *r.node_for(k).unwrap()).collect();
        r.add(NODES);
        let add: Vec<u32> = keys.iter().map(|k| *r.node_for(k).unwrap()).collect();
        r.remove(&NODES);
        r.remove(&37);
        let rem: Vec<u32> = keys.iter().map(|k| *r.node_for(k).unwrap()).collect();
        row(&format!("hld HashRing, {vnodes} vnodes"), &base, &add, &rem);
    }
    {
        let mut r = peer_ring_batch(NODES, VNODES);
        let base: Vec<u32> = keys.iter().map(|k| r.get(k).unwrap().0).collect();
        r.batch_add((0..VNODES).map(|v| (NODES, v)).collect());
        let add: Vec<u32> = keys.iter().map(|k| r.get(k).unwrap().0).collect();
        for v in 0..VNODES {
            r.remove(&(NODES, v));
            r.remove(&(37, v));
        }
        let rem: Vec<u32> = keys.iter().map(|k| r.get(k).unwrap().0).collect();
        row("hashring crate, 100 vnodes", &base, &add, &rem);
    }
    {
        let base: Vec<u32> = keys.iter().map(|&k| jump_hash(k, NODES)).collect();
        let add: Vec<u32> = keys.iter().map(|&k| jump_hash(k, NODES + 1)).collect();
        let rem: Vec<u32> = keys.iter().map(|&k| jump_hash(k, NODES - 1)).collect();
        row(
            "hld jump_hash (remove = last bucket only)",
            &base,
            &add,
            &rem,
        );
    }
    {
        let mut a = our_anchor(128);
        let base: Vec<u32> = keys
            .iter()
            .map(|&k| a.bucket_for_hash(k).unwrap())
            .collect();
        a.add(1000).unwrap();
        let add: Vec<u32> = keys
            .iter()
            .map(|&k| a.bucket_for_hash(k).unwrap())
            .collect();
        a.remove(&1000);
        let victim = *a.iter().nth(37).unwrap().1;
        a.remove(&victim);
        let rem: Vec<u32> = keys
            .iter()
            .map(|&k| a.bucket_for_hash(k).unwrap())
            .collect();
        row("hld AnchorHash, capacity 128", &base, &add, &rem);
    }
    {
        let mut a = peer_anchor(128);
        let base: Vec<u32> = keys.iter().map(|&k| *a.get_resource(k).unwrap()).collect();
        a.add_resource(1000).unwrap();
        let add: Vec<u32> = keys.iter().map(|&k| *a.get_resource(k).unwrap()).collect();
        a.remove_resource(&1000).unwrap();
        let victim = *a.resources().nth(37).unwrap();
        a.remove_resource(&victim).unwrap();
        let rem: Vec<u32> = keys.iter().map(|&k| *a.get_resource(k).unwrap()).collect();
        row("anchorhash crate, capacity 128", &base, &add, &rem);
    }
    {
        let mut b: BoundedLoad<u32, u64> = BoundedLoad::new(1.25, VNODES as usize).unwrap();
        for n in 0..NODES {
            b.add_node(n).unwrap();
        }
        for &k in &keys {
            b.assign(k).unwrap();
        }
        let base: Vec<u32> = keys.iter().map(|k| *b.node_of(k).unwrap()).collect();
        let added = b.clone().add_node(NODES).unwrap().len();
        let removed = b.remove_node(&37).unwrap().len();
        println!(
            "| hld BoundedLoad c = 1.25, 100 vnodes | {:.3} | {:.2}% | {:.2}% |",
            stats(&base),
            100.0 * added as f64 / KEYS as f64,
            100.0 * removed as f64 / KEYS as f64
        );
    }
    println!();
}

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let only_table = filters.iter().any(|f| f == "table");
    if filters.is_empty() || only_table {
        print_table();
    }
    if only_table {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench_ring(&mut c);
    bench_jump(&mut c);
    bench_anchor(&mut c);
    c.final_summary();
}
