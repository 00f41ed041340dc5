//! Model tests: every query of `TopKTrie`, `FrozenTrie`, the fuzzy search
//! and the shard map against brute force over a `BTreeMap` of the terms.

use std::collections::BTreeMap;

use hld_trie::{merge_top_k, FrozenTrie, ShardMap, TopKTrie};
use proptest::prelude::*;

type Model = BTreeMap<String, u64>;

/// Brute force: filter every term by prefix, sort by weight then term.
fn brute(model: &Model, prefix: &str, k: usize) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = model
        .iter()
        .filter(|(t, _)| t.starts_with(prefix))
        .map(|(t, &w)| (t.clone(), w))
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(k);
    v
}

/// Terms from a tiny alphabet of ASCII and multi-byte pieces, so that
/// prefixes are shared a lot and radix edges split inside characters
/// ("é" = C3 A9 and "è" = C3 A8 share their first byte).
fn term() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!["a", "b", "ab", "é", "è", "日", "z", "ß", "😀"]),
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

/// Small weights make ties common; a few large ones too.
fn weight() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0u64..4, 1 => any::<u64>()]
}

/// Every character-boundary prefix of every term, plus a few misses.
fn prefixes(model: &Model) -> Vec<String> {
    let mut out: Vec<String> = vec![String::new(), "q".into(), "ac".into(), "日本".into()];
    for t in model.keys() {
        for (i, _) in t.char_indices() {
            out.push(t[..i].to_string());
        }
        out.push(t.clone());
    }
    out.sort();
    out.dedup();
    out
}

fn check_all(trie: &TopKTrie, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(trie.len(), model.len());
    prop_assert_eq!(trie.is_empty(), model.is_empty());
    let pairs: Vec<(String, u64)> = trie.iter().map(|(t, w)| (t.to_string(), w)).collect();
    let want: Vec<(String, u64)> = model.iter().map(|(t, &w)| (t.clone(), w)).collect();
    prop_assert_eq!(pairs, want);
    for p in prefixes(model) {
        for k in [0usize, 1, 2, 3, 5, 8, 100] {
            prop_assert_eq!(
                trie.top_k(&p, k),
                brute(model, &p, k),
                "prefix {:?} k {}",
                p,
                k
            );
        }
        prop_assert_eq!(trie.count_prefix(&p), brute(model, &p, usize::MAX).len());
    }
    for (t, &w) in model {
        prop_assert_eq!(trie.weight(t), Some(w));
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum Op {
    Insert(String, u64),
    Add(String, u64),
    Remove(String),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (term(), weight()).prop_map(|(t, w)| Op::Insert(t, w)),
        2 => (term(), 0u64..5).prop_map(|(t, d)| Op::Add(t, d)),
        2 => term().prop_map(Op::Remove),
    ]
}

fn apply(trie: &mut TopKTrie, model: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    match op {
        Op::Insert(t, w) => {
            trie.insert(t, *w);
            model.insert(t.clone(), *w);
        }
        Op::Add(t, d) => {
            trie.add(t, *d);
            let e = model.entry(t.clone()).or_insert(0);
            *e = e.saturating_add(*d);
        }
        Op::Remove(t) => {
            prop_assert_eq!(trie.remove(t), model.remove(t));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Bulk build and one-by-one inserts give the brute-force answers.
    #[test]
    fn built_trie_matches_brute_force(pairs in prop::collection::vec((term(), weight()), 0..40)) {
        let mut model = Model::new();
        for (t, w) in &pairs {
            model.insert(t.clone(), *w); // last weight wins, as FromIterator documents
        }
        let bulk: TopKTrie = pairs.iter().cloned().collect();
        check_all(&bulk, &model)?;
        let mut one_by_one = TopKTrie::with_cache_size(3).unwrap();
        for (t, w) in &pairs {
            one_by_one.insert(t, *w);
        }
        check_all(&one_by_one, &model)?;
        prop_assert_eq!(&bulk, &one_by_one);
    }

    /// Random update sequences (set, increment, remove) on tries with
    /// small caches, so that both the cached path and the best-first
    /// fallback run, and cache refills after decreases and removals.
    #[test]
    fn updates_match_brute_force(
        cache in 1usize..5,
        init in prop::collection::vec((term(), weight()), 0..20),
        ops in prop::collection::vec(op(), 0..60),
    ) {
        let mut model: Model = Model::new();
        for (t, w) in &init {
            model.insert(t.clone(), *w);
        }
        let mut trie = TopKTrie::from_iter_with_cache_size(init.clone(), cache).unwrap();
        for (i, o) in ops.iter().enumerate() {
            apply(&mut trie, &mut model, o)?;
            if i % 8 == 0 {
                check_all(&trie, &model)?;
            }
        }
        check_all(&trie, &model)?;
    }

    /// The frozen form answers exactly like brute force, for every k, and
    /// survives a byte round trip.
    #[test]
    fn frozen_matches_brute_force(pairs in prop::collection::vec((term(), weight()), 0..60)) {
        let model: Model = pairs.iter().cloned().collect();
        let f = FrozenTrie::from_sorted(model.iter().map(|(t, &w)| (t.as_str(), w))).unwrap();
        prop_assert_eq!(f.len(), model.len());
        let back: Model = f.iter().collect();
        prop_assert_eq!(&back, &model);
        for p in prefixes(&model) {
            for k in [0usize, 1, 3, 10, 100] {
                prop_assert_eq!(f.top_k(&p, k), brute(&model, &p, k), "prefix {:?} k {}", p, k);
            }
            prop_assert_eq!(f.count_prefix(&p), brute(&model, &p, usize::MAX).len());
            prop_assert_eq!(f.weight(&p), model.get(&p).copied());
        }
        let g = FrozenTrie::from_bytes(&f.to_bytes()).unwrap();
        prop_assert_eq!(&g, &f);
        let t2 = TopKTrie::from_bytes(&f.to_bytes()).unwrap();
        prop_assert_eq!(t2.to_bytes(), f.to_bytes());
        let t: TopKTrie = model.iter().map(|(t, &w)| (t.as_str(), w)).collect();
        prop_assert_eq!(&t.freeze(), &f);
        prop_assert_eq!(&f.thaw(), &t);
        prop_assert_eq!(FrozenTrie::build(pairs.clone()).unwrap(), f);
    }

    /// Big dictionaries over a tiny alphabet, so that prefixes cover more
    /// than 64 terms: the frozen form's cached answers for heavy ranges,
    /// its scans of light ones and its range-minimum fallback for k above
    /// the cache all agree with brute force, before and after bytes.
    #[test]
    fn frozen_heavy_ranges_match_brute_force(
        pairs in prop::collection::vec(
            (prop::collection::vec(prop::sample::select(vec!["a", "b", "é"]), 0..9)
                .prop_map(|p| p.concat()), weight()),
            0..500,
        ),
    ) {
        let model: Model = pairs.iter().cloned().collect();
        let f = FrozenTrie::from_sorted(model.iter().map(|(t, &w)| (t.as_str(), w))).unwrap();
        let g = FrozenTrie::from_bytes(&f.to_bytes()).unwrap();
        let t: TopKTrie = model.iter().map(|(t, &w)| (t.as_str(), w)).collect();
        let mut ps = prefixes(&model);
        ps.truncate(300);
        for p in ps {
            for k in [1usize, 10, 11, 70] {
                let want = brute(&model, &p, k);
                prop_assert_eq!(&f.top_k(&p, k), &want, "prefix {:?} k {}", p, k);
                prop_assert_eq!(&g.top_k(&p, k), &want);
                prop_assert_eq!(&t.top_k(&p, k), &want);
            }
        }
    }

    /// Every truncation and every single bit flip of the bytes is an `Err`.
    #[test]
    fn corrupt_bytes_are_errors(
        pairs in prop::collection::vec((term(), weight()), 0..30),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let f = FrozenTrie::build(pairs).unwrap();
        let bytes = f.to_bytes();
        let c = cut.index(bytes.len());
        prop_assert!(FrozenTrie::from_bytes(&bytes[..c]).is_err());
        let mut bad = bytes.clone();
        bad[flip.index(bytes.len())] ^= 1 << bit;
        prop_assert!(FrozenTrie::from_bytes(&bad).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(FrozenTrie::from_bytes(&longer).is_err());
    }

    /// Random bytes never panic.
    #[test]
    fn garbage_never_panics(mut bytes in prop::collection::vec(any::<u8>(), 0..200), magic in any::<bool>()) {
        if magic && bytes.len() >= 12 {
            bytes[..8].copy_from_slice(b"HLDTRIE\0");
            bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
        }
        let _ = FrozenTrie::from_bytes(&bytes);
    }

    /// Typo-tolerant completion equals brute force: every term that has a
    /// prefix within Levenshtein distance 1 (in characters) of the query.
    #[test]
    fn fuzzy_matches_brute_force(
        pairs in prop::collection::vec((term(), weight()), 0..30),
        queries in prop::collection::vec(term(), 1..6),
        cache in 1usize..4,
    ) {
        let model: Model = pairs.iter().cloned().collect();
        let trie = TopKTrie::from_iter_with_cache_size(pairs, cache).unwrap();
        let mut qs = queries;
        qs.extend(model.keys().take(5).cloned());
        for q in qs {
            for k in [1usize, 4, 50] {
                prop_assert_eq!(trie.top_k_fuzzy(&q, k), brute_fuzzy(&model, &q, k), "query {:?}", q);
            }
        }
    }

    /// Shards: contiguous, every term in exactly the shard `shard_for`
    /// names, prefixes routed to every shard that holds a match, merged
    /// answers equal the unsharded ones, and weight roughly balanced.
    #[test]
    fn shards_route_and_merge(
        pairs in prop::collection::vec((term(), 0u64..1000), 0..60),
        n in 1usize..7,
    ) {
        let model: Model = pairs.iter().cloned().collect();
        let map = ShardMap::balanced(model.iter().map(|(t, &w)| (t.as_str(), w)), n).unwrap();
        prop_assert!(map.shards() <= n);
        if model.len() >= n {
            prop_assert_eq!(map.shards(), n);
        }
        let mut shards = vec![TopKTrie::new(); map.shards()];
        let mut loads = vec![0u64; map.shards()];
        let mut prev_shard = 0;
        for (t, &w) in &model {
            let s = map.shard_for(t);
            prop_assert!(s >= prev_shard, "shards are contiguous ranges");
            prev_shard = s;
            shards[s].insert(t, w);
            loads[s] += w;
        }
        if !model.is_empty() {
            prop_assert!(shards.iter().all(|s| !s.is_empty()), "no empty shard");
        }
        let total: u64 = loads.iter().sum();
        let wmax = model.values().copied().max().unwrap_or(0);
        for &l in &loads {
            prop_assert!(l <= total / map.shards() as u64 + 2 * wmax + 1, "loads {:?}", loads);
        }
        for p in prefixes(&model) {
            let range = map.shards_for_prefix(&p);
            for t in model.keys().filter(|t| t.starts_with(&p)) {
                prop_assert!(range.contains(&map.shard_for(t)));
            }
            let merged = merge_top_k(range.map(|s| shards[s].top_k(&p, 5)), 5);
            prop_assert_eq!(merged, brute(&model, &p, 5));
        }
    }
}

/// True if some character prefix of `t` is within edit distance 1 of `q`.
fn fuzzy_match(q: &[char], t: &str) -> bool {
    // Standard Levenshtein DP over q (columns) against t's characters.
    let mut row: Vec<usize> = (0..=q.len()).collect();
    if row[q.len()] <= 1 {
        return true;
    }
    for c in t.chars() {
        let mut next = vec![row[0] + 1; q.len() + 1];
        for j in 1..=q.len() {
            let sub = row[j - 1] + usize::from(q[j - 1] != c);
            next[j] = sub.min(row[j] + 1).min(next[j - 1] + 1);
        }
        row = next;
        if row[q.len()] <= 1 {
            return true;
        }
    }
    false
}

fn brute_fuzzy(model: &Model, q: &str, k: usize) -> Vec<(String, u64)> {
    let qc: Vec<char> = q.chars().collect();
    let mut v: Vec<(String, u64)> = model
        .iter()
        .filter(|(t, _)| fuzzy_match(&qc, t))
        .map(|(t, &w)| (t.clone(), w))
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(k);
    v
}
