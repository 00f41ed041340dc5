//! AnchorHash: bad input, a snapshot oracle of the paper's definition,
//! minimal movement, balance.

use hld_consistent_hash::{AnchorHash, Error};
use proptest::prelude::*;
use std::collections::BTreeSet;

/// The documented per-bucket rehash (wyhash's mum of key hash and bucket).
fn bucket_hash(key_hash: u64, bucket: u32) -> u64 {
    let r = ((key_hash ^ 0xa076_1d64_78bd_642f) as u128)
        * ((bucket as u64 ^ 0xe703_7ed1_a0b4_28db) as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

fn range(h: u64, n: u32) -> u32 {
    ((h as u128 * n as u128) >> 64) as u32
}

/// AnchorHash as the paper *defines* it, with explicit snapshots instead of
/// the A/K/W/L arrays: when bucket b is removed, W_b = the ordered working set
/// right after; a key at a removed bucket b moves to W_b[hash_b(key) mod |W_b|].
/// W is kept as the paper keeps it: removal moves the last working bucket
/// into the removed one's place.
#[derive(Clone)]
struct Oracle {
    a: u32,
    w: Vec<u32>,
    // Stack of (bucket, snapshot of W after its removal, position it had).
    removed: Vec<(u32, Vec<u32>, usize)>,
}

impl Oracle {
    fn new(a: u32) -> Oracle {
        let mut o = Oracle {
            a,
            w: (0..a).collect(),
            removed: Vec::new(),
        };
        for b in (0..a).rev() {
            o.remove(b);
        }
        o
    }
    fn remove(&mut self, b: u32) {
        let pos = self.w.iter().position(|&x| x == b).unwrap();
        let last = self.w.pop().unwrap();
        if last != b {
            self.w[pos] = last;
        }
        self.removed.push((b, self.w.clone(), pos));
    }
    fn add(&mut self) -> u32 {
        let (b, _, pos) = self.removed.pop().unwrap();
        // Undo: the bucket that took b's place goes back to the end.
        if pos < self.w.len() {
            let moved = self.w[pos];
            self.w[pos] = b;
            self.w.push(moved);
        } else {
            self.w.push(b);
        }
        b
    }
    fn bucket(&self, h: u64) -> Option<u32> {
        if self.w.is_empty() {
            return None;
        }
        let mut b = range(h, self.a);
        while let Some((_, snap, _)) = self.removed.iter().find(|r| r.0 == b) {
            b = snap[range(bucket_hash(h, b), snap.len() as u32) as usize];
        }
        Some(b)
    }
}

#[test]
fn bad_input() {
    assert_eq!(
        AnchorHash::<u32>::new(0).unwrap_err(),
        Error::BadCapacity(0)
    );
    assert!(AnchorHash::<u32>::new(AnchorHash::<u32>::MAX_CAPACITY as usize + 1).is_err());
    let mut a = AnchorHash::new(2).unwrap();
    assert_eq!(a.node_for("k"), None);
    assert_eq!(a.bucket_for_hash(3), None);
    assert_eq!(a.add("x"), Ok(true));
    assert_eq!(a.add("x"), Ok(false));
    assert_eq!(a.add("y"), Ok(true));
    assert_eq!(a.add("z"), Err(Error::CapacityExhausted));
    assert_eq!(a.len(), 2);
    assert!(!a.remove(&"z"));
    assert_eq!(a.remove_bucket(9), None);
    assert!(a.remove(&"x"));
    assert!(a.remove(&"y"));
    assert!(a.is_empty());
    assert_eq!(a.node_for("k"), None);
}

#[test]
fn fresh_anchor_hands_out_buckets_in_order_and_readd_restores() {
    let mut a = AnchorHash::new(8).unwrap();
    for n in 0..5u32 {
        a.add(n).unwrap();
        assert_eq!(a.bucket_of(&n), Some(n));
    }
    let before: Vec<u32> = (0..10_000u64).map(|k| *a.node_for(&k).unwrap()).collect();
    a.remove(&2);
    a.add(2).unwrap();
    assert_eq!(a.bucket_of(&2), Some(2));
    let after: Vec<u32> = (0..10_000u64).map(|k| *a.node_for(&k).unwrap()).collect();
    assert_eq!(before, after);
}

#[test]
fn pinned_placements() {
    let mut a = AnchorHash::new(16).unwrap();
    for i in 0..10u32 {
        a.add(i).unwrap();
    }
    a.remove(&3);
    a.remove(&7);
    let got: Vec<u32> = (0..10u64).map(|k| *a.node_for(&k).unwrap()).collect();
    assert_eq!(got, [0, 2, 2, 4, 5, 8, 6, 8, 6, 0]);
}

/// Per-node loads of `keys` keys.
fn loads(a: &AnchorHash<u32>, keys: u64) -> Vec<u32> {
    let mut c = vec![0u32; a.capacity()];
    for k in 0..keys {
        c[a.bucket_for_hash(splitmix(k)).unwrap() as usize] += 1;
    }
    a.iter().map(|(b, _)| c[b as usize]).collect()
}

fn splitmix(i: u64) -> u64 {
    let mut z = i
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn balance_and_optimal_movement_at_10k_keys_per_node() {
    // 100 working of 128, after removing a scattered 28 of them.
    let mut a = AnchorHash::new(128).unwrap();
    for n in 0..128u32 {
        a.add(n).unwrap();
    }
    for n in (0..128u32).filter(|n| n % 9 == 4).chain(100..114) {
        a.remove(&n);
    }
    let n = a.len() as f64;
    let keys = (10_000.0 * n) as u64;
    let l = loads(&a, keys);
    let mean = keys as f64 / n;
    let peak = *l.iter().max().unwrap() as f64;
    assert!(peak / mean <= 1.05, "peak/mean {}", peak / mean);

    // Remove one node from N+1: only its keys move, about 1/(N+1) of all.
    let before: Vec<u32> = (0..keys)
        .map(|k| a.bucket_for_hash(splitmix(k)).unwrap())
        .collect();
    let victim = 57u32;
    assert!(a.remove(&victim));
    let mut moved = 0u64;
    for k in 0..keys {
        let b = a.bucket_for_hash(splitmix(k)).unwrap();
        if b != before[k as usize] {
            assert_eq!(before[k as usize], victim);
            moved += 1;
        }
    }
    let share = moved as f64 / keys as f64;
    let ideal = 1.0 / n;
    assert!(
        (share / ideal - 1.0).abs() <= 0.05,
        "removed {share} ideal {ideal}"
    );

    // Add one back (N -> N+1): only keys onto it move, about 1/(N+1).
    let before: Vec<u32> = (0..keys)
        .map(|k| a.bucket_for_hash(splitmix(k)).unwrap())
        .collect();
    a.add(victim).unwrap();
    let nb = a.bucket_of(&victim).unwrap();
    let mut moved = 0u64;
    for k in 0..keys {
        let b = a.bucket_for_hash(splitmix(k)).unwrap();
        if b != before[k as usize] {
            assert_eq!(b, nb);
            moved += 1;
        }
    }
    let share = moved as f64 / keys as f64;
    assert!(
        (share / ideal - 1.0).abs() <= 0.05,
        "added {share} ideal {ideal}"
    );
}

#[derive(Clone, Debug)]
enum Op {
    Add,
    RemoveNth(usize),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn matches_snapshot_oracle_and_moves_minimally(
        cap in 1..40u32,
        ops in proptest::collection::vec(prop_oneof![Just(Op::Add), (0..64usize).prop_map(Op::RemoveNth)], 1..60),
        seed in any::<u64>(),
        probes in proptest::collection::vec(any::<u64>(), 48),
    ) {
        let mut a: AnchorHash<u32> = AnchorHash::with_seed(cap as usize, seed).unwrap();
        let mut o = Oracle::new(cap);
        let mut next_node = 0u32;
        let mut working: BTreeSet<u32> = BTreeSet::new();
        for op in ops {
            let before: Vec<Option<u32>> = probes.iter().map(|&h| a.bucket_for_hash(h)).collect();
            let changed = match op {
                Op::Add => {
                    let r = a.add(next_node);
                    if working.len() == cap as usize {
                        prop_assert_eq!(r, Err(Error::CapacityExhausted));
                        None
                    } else {
                        prop_assert_eq!(r, Ok(true));
                        let b = o.add();
                        prop_assert_eq!(a.bucket_of(&next_node), Some(b));
                        working.insert(b);
                        next_node += 1;
                        Some(b)
                    }
                }
                Op::RemoveNth(i) => {
                    if working.is_empty() {
                        None
                    } else {
                        let b = *working.iter().nth(i % working.len()).unwrap();
                        prop_assert!(a.remove_bucket(b).is_some());
                        o.remove(b);
                        working.remove(&b);
                        Some(b)
                    }
                }
            };
            prop_assert_eq!(a.len(), working.len());
            for (i, &h) in probes.iter().enumerate() {
                let got = a.bucket_for_hash(h);
                prop_assert_eq!(got, o.bucket(h));
                if let Some(b) = got {
                    prop_assert!(working.contains(&b));
                    // Minimal disruption: a key that moved went to or came from
                    // the changed bucket.
                    if let (Some(old), Some(c)) = (before[i], changed) {
                        if old != b {
                            prop_assert!(old == c || b == c);
                        }
                    }
                }
            }
        }
    }
}
