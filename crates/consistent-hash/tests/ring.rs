//! HashRing: bad input, pinned placements, a brute-force oracle, movement.

use hld_consistent_hash::{stable_hash, Error, HashRing, MAX_POINTS_PER_NODE};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// The documented point formula, written independently of the crate:
/// SplitMix64 (Steele et al. 2014) seeded with the node hash.
fn splitmix_nth(seed: u64, i: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i + 1));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Brute-force oracle: every point (point, node hash, node) sorted; a key goes
/// to the first point >= its hash, wrapping.
struct Oracle {
    points: Vec<(u64, u64, u32)>,
}

impl Oracle {
    fn new(nodes: &BTreeMap<u32, u32>, vnodes: usize, seed: u64) -> Oracle {
        let mut points = Vec::new();
        for (&n, &w) in nodes {
            let h = stable_hash(&n, seed);
            for i in 0..(w as u64 * vnodes as u64) {
                points.push((splitmix_nth(h, i), h, n));
            }
        }
        points.sort();
        Oracle { points }
    }
    fn start(&self, h: u64) -> usize {
        self.points.iter().position(|p| p.0 >= h).unwrap_or(0)
    }
    fn node_for_hash(&self, h: u64) -> Option<u32> {
        if self.points.is_empty() {
            return None;
        }
        Some(self.points[self.start(h)].2)
    }
    fn nodes_for_hash(&self, h: u64, n: usize) -> Vec<u32> {
        let mut out = Vec::new();
        if self.points.is_empty() {
            return out;
        }
        let s = self.start(h);
        for k in 0..self.points.len() {
            let node = self.points[(s + k) % self.points.len()].2;
            if out.len() < n && !out.contains(&node) {
                out.push(node);
            }
        }
        out
    }
}

#[test]
fn bad_input_is_an_error_and_empty_is_none() {
    assert_eq!(HashRing::<u32>::new(0).unwrap_err(), Error::ZeroVnodes);
    assert!(matches!(
        HashRing::<u32>::new(MAX_POINTS_PER_NODE as usize + 1),
        Err(Error::TooManyPoints { .. })
    ));
    let mut ring = HashRing::new(10).unwrap();
    assert_eq!(ring.add_weighted(1u32, 0), Err(Error::ZeroWeight));
    assert!(matches!(
        ring.add_weighted(1u32, u32::MAX),
        Err(Error::TooManyPoints { .. })
    ));
    assert!(ring.is_empty());
    assert_eq!(ring.node_for("x"), None);
    assert_eq!(ring.node_for_hash(0), None);
    assert!(ring.nodes_for("x", 3).is_empty());
    assert_eq!(ring.point_count(), 0);
    assert!(!ring.remove(&1));
    assert_eq!(ring.set_weight(&1, 2), Ok(None));
    assert_eq!(ring.set_weight(&1, 0), Err(Error::ZeroWeight));
    // A failed batch leaves the ring unchanged.
    ring.add(7);
    assert_eq!(
        ring.extend_weighted([(8, 1), (9, 0)]),
        Err(Error::ZeroWeight)
    );
    assert_eq!(ring.len(), 1);
    assert!(!ring.contains(&8));
    assert_eq!(ring.point_count(), 10);
}

#[test]
fn key_hash_is_xxh3_as_the_reference_c_library_computes_it() {
    // Values from libxxhash 0.8.1's XXH3_64bits_withSeed over the bytes a
    // `str` feeds (its UTF-8 then 0xff) and a u64 feeds (8 bytes LE).
    let ring: HashRing<String> = HashRing::new(1).unwrap();
    assert_eq!(ring.key_hash("hello"), 0x3e7c_905d_6f73_6c83);
    assert_eq!(ring.key_hash("alpha"), 0xf055_715e_3dc4_0489);
    assert_eq!(ring.key_hash("user:42"), 0x5fcb_44d5_9817_f1b4);
    assert_eq!(ring.key_hash(&42u64), 0xd5a6_f8c8_38df_27c8);
    assert_eq!(stable_hash("abc", 3), 0x39da_bcea_5aba_003a);
}

#[test]
fn pinned_placements() {
    // Same in every process, run and platform: a change here is a breaking
    // change of placement for every deployed ring.
    let mut ring: HashRing<String> = HashRing::new(100).unwrap();
    for i in 0..5 {
        ring.add(format!("node-{i}"));
    }
    let pins = [
        ("alpha", "node-3", ["node-3", "node-0", "node-1"]),
        ("beta", "node-3", ["node-3", "node-1", "node-0"]),
        ("delta", "node-0", ["node-0", "node-3", "node-4"]),
        ("epsilon", "node-3", ["node-3", "node-2", "node-4"]),
        ("user:42", "node-2", ["node-2", "node-1", "node-0"]),
        ("show:1234", "node-0", ["node-0", "node-3", "node-2"]),
    ];
    for (key, owner, replicas) in pins {
        assert_eq!(ring.node_for(key).unwrap(), owner, "{key}");
        assert_eq!(ring.nodes_for(key, 3), replicas, "{key}");
    }
    let by_u64: Vec<&str> = [0u64, 1, 2, 3, 42]
        .iter()
        .map(|k| ring.node_for(k).unwrap().as_str())
        .collect();
    assert_eq!(by_u64, ["node-1", "node-3", "node-3", "node-4", "node-2"]);
}

#[test]
fn placement_does_not_depend_on_insertion_order_or_build_path() {
    let nodes: Vec<u32> = (0..40).collect();
    let mut a = HashRing::new(50).unwrap();
    for &n in &nodes {
        a.add(n);
    }
    let mut b = HashRing::new(50).unwrap();
    b.extend(nodes.iter().rev().copied());
    // Built with extras then removed, and reweighted back and forth.
    let mut c = HashRing::new(50).unwrap();
    c.extend(0..60u32);
    for n in 40..60u32 {
        assert!(c.remove(&n));
    }
    c.set_weight(&5, 3).unwrap();
    c.set_weight(&5, 1).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    for k in 0..20_000u64 {
        let h = a.key_hash(&k);
        assert_eq!(a.node_for_hash(h), b.node_for_hash(h));
        assert_eq!(a.node_for_hash(h), c.node_for_hash(h));
        assert_eq!(a.nodes_for_hash(h, 3), c.nodes_for_hash(h, 3));
    }
}

#[test]
fn adding_a_node_moves_only_keys_onto_it_about_one_nth() {
    let mut ring = HashRing::new(200).unwrap();
    ring.extend(0..10u32);
    let keys: Vec<u64> = (0..100_000).collect();
    let before: Vec<u32> = keys.iter().map(|k| *ring.node_for(k).unwrap()).collect();
    ring.add(10);
    let mut moved = 0;
    for (k, &old) in keys.iter().zip(&before) {
        let new = *ring.node_for(k).unwrap();
        if new != old {
            assert_eq!(new, 10, "a moved key goes to the new node");
            moved += 1;
        }
    }
    let share = moved as f64 / keys.len() as f64;
    // 1/11 = 0.0909; 200 vnodes keep one node's share within ~10% of that.
    assert!((0.07..0.115).contains(&share), "moved share {share}");

    // Removing it puts every key back where it was, and only its keys move.
    ring.remove(&10);
    for (k, &old) in keys.iter().zip(&before) {
        assert_eq!(*ring.node_for(k).unwrap(), old);
    }
    ring.remove(&3);
    let mut moved = 0;
    for (k, &old) in keys.iter().zip(&before) {
        let new = *ring.node_for(k).unwrap();
        if new != old {
            assert_eq!(old, 3, "only the removed node's keys move");
            moved += 1;
        }
    }
    let share = moved as f64 / keys.len() as f64;
    assert!((0.07..0.13).contains(&share), "moved share {share}");
}

#[test]
fn weights_scale_the_share() {
    let mut ring = HashRing::new(200).unwrap();
    ring.extend_weighted([(0u32, 1), (1, 1), (2, 2)]).unwrap();
    let mut counts = [0u32; 3];
    for k in 0..100_000u64 {
        counts[*ring.node_for(&k).unwrap() as usize] += 1;
    }
    let ratio = counts[2] as f64 / ((counts[0] + counts[1]) as f64 / 2.0);
    assert!((1.7..2.3).contains(&ratio), "weight 2 share ratio {ratio}");
    assert_eq!(ring.weight(&2), Some(2));
    assert_eq!(ring.point_count(), 800);
    assert_eq!(ring.set_weight(&2, 1), Ok(Some(2)));
    assert_eq!(ring.point_count(), 600);
}

#[test]
fn nodes_for_edges() {
    let mut ring = HashRing::new(20).unwrap();
    ring.extend(0..30u32);
    for k in 0..500u64 {
        let all = ring.nodes_for(&k, 100);
        assert_eq!(all.len(), 30);
        let mut sorted: Vec<u32> = all.iter().map(|n| **n).collect();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 30, "distinct");
        assert_eq!(all[0], ring.node_for(&k).unwrap());
        assert!(ring.nodes_for(&k, 0).is_empty());
        assert_eq!(ring.nodes_for(&k, 20), all[..20].to_vec());
    }
}

#[test]
fn std_like_api() {
    let ring: HashRing<&str> = ["a", "b", "c"].into_iter().collect();
    assert_eq!(ring.len(), 3);
    assert_eq!(ring.vnodes_per_node(), hld_consistent_hash::DEFAULT_VNODES);
    let mut names: Vec<_> = ring.iter().map(|(n, w)| (*n, w)).collect();
    names.sort();
    assert_eq!(names, [("a", 1), ("b", 1), ("c", 1)]);
    assert_eq!((&ring).into_iter().len(), 3);
    let mut copy = ring.clone();
    assert_eq!(copy, ring);
    assert!(!copy.add("a"), "present: unchanged");
    copy.clear();
    assert!(copy.is_empty());
    assert_eq!(copy.node_for("k"), None);
    assert!(format!("{ring:?}").contains("HashRing"));
    let empty: HashRing<u8> = HashRing::default();
    assert!(empty.is_empty());
}

#[derive(Clone, Debug)]
enum Op {
    Add(u32),
    AddWeighted(u32, u32),
    Remove(u32),
    SetWeight(u32, u32),
    Extend(Vec<(u32, u32)>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..24u32).prop_map(Op::Add),
        (0..24u32, 0..4u32).prop_map(|(n, w)| Op::AddWeighted(n, w)),
        (0..24u32).prop_map(Op::Remove),
        (0..24u32, 0..4u32).prop_map(|(n, w)| Op::SetWeight(n, w)),
        proptest::collection::vec((0..24u32, 0..3u32), 0..6).prop_map(Op::Extend),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn matches_brute_force_oracle(
        ops in proptest::collection::vec(op(), 1..30),
        vnodes in 1..12usize,
        seed in any::<u64>(),
        probes in proptest::collection::vec(any::<u64>(), 64),
    ) {
        let mut ring = HashRing::with_seed(vnodes, seed).unwrap();
        let mut model: BTreeMap<u32, u32> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Add(n) => {
                    let fresh = !model.contains_key(&n);
                    prop_assert_eq!(ring.add(n), fresh);
                    model.entry(n).or_insert(1);
                }
                Op::AddWeighted(n, w) => {
                    let got = ring.add_weighted(n, w);
                    if w == 0 {
                        prop_assert_eq!(got, Err(Error::ZeroWeight));
                    } else {
                        prop_assert_eq!(got, Ok(!model.contains_key(&n)));
                        model.entry(n).or_insert(w);
                    }
                }
                Op::Remove(n) => prop_assert_eq!(ring.remove(&n), model.remove(&n).is_some()),
                Op::SetWeight(n, w) => {
                    let got = ring.set_weight(&n, w);
                    if w == 0 {
                        prop_assert_eq!(got, Err(Error::ZeroWeight));
                    } else {
                        prop_assert_eq!(got, Ok(model.get(&n).copied()));
                        if let Some(x) = model.get_mut(&n) { *x = w; }
                    }
                }
                Op::Extend(batch) => {
                    let got = ring.extend_weighted(batch.clone());
                    if batch.iter().any(|&(_, w)| w == 0) {
                        prop_assert_eq!(got, Err(Error::ZeroWeight));
                    } else {
                        let mut added = 0;
                        for (n, w) in batch {
                            if let std::collections::btree_map::Entry::Vacant(e) = model.entry(n) {
                                e.insert(w);
                                added += 1;
                            }
                        }
                        prop_assert_eq!(got, Ok(added));
                    }
                }
            }
            prop_assert_eq!(ring.len(), model.len());
        }
        let oracle = Oracle::new(&model, vnodes, seed);
        prop_assert_eq!(ring.point_count(), oracle.points.len());
        for (&n, &w) in &model {
            prop_assert_eq!(ring.weight(&n), Some(w));
        }
        let mut hashes = probes.clone();
        // Probe exactly at, just before and just after ring points, and the ends.
        for p in oracle.points.iter().take(16) {
            hashes.extend([p.0, p.0.wrapping_sub(1), p.0.wrapping_add(1)]);
        }
        hashes.extend([0, u64::MAX]);
        for h in hashes {
            prop_assert_eq!(ring.node_for_hash(h).copied(), oracle.node_for_hash(h));
            for r in [1usize, 2, 3, 30] {
                let got: Vec<u32> = ring.nodes_for_hash(h, r).into_iter().copied().collect();
                prop_assert_eq!(got, oracle.nodes_for_hash(h, r));
            }
        }
        for k in 0..32u32 {
            let h = stable_hash(&k, seed);
            prop_assert_eq!(ring.node_for(&k).copied(), oracle.node_for_hash(h));
        }
    }
}
