//! Edge cases named in the contract and the issue.

use hld_trie::{merge_top_k, normalize, Error, FrozenTrie, ShardMap, TopKTrie};

fn s(v: &[(&str, u64)]) -> Vec<(String, u64)> {
    v.iter().map(|&(t, w)| (t.to_string(), w)).collect()
}

#[test]
fn empty_trie_answers_nothing() {
    let t = TopKTrie::new();
    assert!(t.is_empty());
    assert_eq!(t.len(), 0);
    assert!(t.top_k("", 10).is_empty());
    assert!(t.top_k("a", 10).is_empty());
    assert!(t.top_k_fuzzy("a", 10).is_empty());
    assert_eq!(t.weight(""), None);
    assert_eq!(t.iter().count(), 0);
    let f = t.freeze();
    assert!(f.is_empty());
    assert!(f.top_k("", 3).is_empty());
    assert_eq!(FrozenTrie::from_bytes(&f.to_bytes()).unwrap(), f);
    assert_eq!(FrozenTrie::default(), f);
}

#[test]
fn empty_prefix_k_zero_and_k_above_matches() {
    let t: TopKTrie = [("b", 2u64), ("a", 1), ("c", 3)].into_iter().collect();
    assert_eq!(t.top_k("", 10), s(&[("c", 3), ("b", 2), ("a", 1)]));
    assert!(t.top_k("", 0).is_empty());
    assert_eq!(t.top_k("a", 1000), s(&[("a", 1)]));
    let f = t.freeze();
    assert_eq!(f.top_k("", 10), t.top_k("", 10));
    assert!(f.top_k("", 0).is_empty());
}

#[test]
fn ties_are_broken_by_term_bytes() {
    let t: TopKTrie = [("bb", 5u64), ("ba", 5), ("b", 5), ("bc", 6), ("bé", 5)]
        .into_iter()
        .collect();
    let want = s(&[("bc", 6), ("b", 5), ("ba", 5), ("bb", 5), ("bé", 5)]);
    assert_eq!(t.top_k("b", 10), want);
    assert_eq!(t.freeze().top_k("b", 10), want);
    let mut small = TopKTrie::with_cache_size(1).unwrap();
    small.extend([("bb", 5u64), ("ba", 5), ("b", 5), ("bc", 6), ("bé", 5)]);
    assert_eq!(small.top_k("b", 10), want); // best-first fallback
}

#[test]
fn the_empty_term_is_a_term() {
    let mut t = TopKTrie::new();
    t.insert("", 7);
    t.insert("a", 3);
    assert_eq!(t.top_k("", 5), s(&[("", 7), ("a", 3)]));
    assert_eq!(t.weight(""), Some(7));
    assert_eq!(t.remove(""), Some(7));
    assert_eq!(t.top_k("", 5), s(&[("a", 3)]));
    assert_eq!(t.freeze().top_k("", 5), s(&[("a", 3)]));
}

#[test]
fn unicode_prefixes_never_split_characters() {
    // "é" is C3 A9, "è" is C3 A8: the trie splits the edge inside the
    // character, but a prefix is a &str and always whole characters.
    let t: TopKTrie = [("é", 1u64), ("è", 2), ("e", 3), ("日本", 4), ("日曜", 5)]
        .into_iter()
        .collect();
    assert_eq!(t.top_k("e", 10), s(&[("e", 3)]));
    assert_eq!(t.top_k("é", 10), s(&[("é", 1)]));
    assert_eq!(t.top_k("日", 10), s(&[("日曜", 5), ("日本", 4)]));
    assert_eq!(t.top_k("日本", 10), s(&[("日本", 4)]));
    let f = t.freeze();
    assert_eq!(f.top_k("日", 10), t.top_k("日", 10));
    assert_eq!(f.top_k("é", 10), t.top_k("é", 10));
    // Fuzzy counts characters: "日x" is one substitution from "日本".
    assert_eq!(t.top_k_fuzzy("日x", 10), s(&[("日曜", 5), ("日本", 4)]));
}

#[test]
fn insert_add_remove_semantics() {
    let mut t = TopKTrie::new();
    t.add("x", 3);
    assert_eq!(t.weight("x"), Some(3));
    t.add("x", 4);
    assert_eq!(t.weight("x"), Some(7));
    t.insert("x", 1);
    assert_eq!(t.weight("x"), Some(1));
    t.insert("x", u64::MAX);
    t.add("x", 10);
    assert_eq!(t.weight("x"), Some(u64::MAX), "add saturates");
    assert_eq!(t.remove("y"), None);
    t.insert("xyz", 2);
    assert_eq!(t.remove("xy"), None, "a prefix of a term is not a term");
    assert_eq!(t.remove("xyzz"), None);
    assert_eq!(t.remove("x"), Some(u64::MAX));
    assert_eq!(t.remove("x"), None);
    assert_eq!(t.len(), 1);
    assert!(t.contains("xyz"));
    assert_eq!(t.get("xyz"), Some(2));
    t.insert("x", 9);
    assert_eq!(t.top_k("x", 2), s(&[("x", 9), ("xyz", 2)]));
    t.clear();
    assert!(t.is_empty());
    assert!(t.top_k("", 1).is_empty());
}

#[test]
fn decreases_refill_the_cache() {
    let mut t = TopKTrie::with_cache_size(2).unwrap();
    for (w, term) in ["aa", "ab", "ac", "ad"].iter().enumerate() {
        t.insert(term, 10 + w as u64);
    }
    assert_eq!(t.top_k("a", 2), s(&[("ad", 13), ("ac", 12)]));
    t.insert("ad", 0);
    assert_eq!(t.top_k("a", 2), s(&[("ac", 12), ("ab", 11)]));
    t.remove("ac");
    assert_eq!(t.top_k("a", 2), s(&[("ab", 11), ("aa", 10)]));
    assert_eq!(t.top_k("a", 3), s(&[("ab", 11), ("aa", 10), ("ad", 0)]));
}

#[test]
fn cache_size_bounds() {
    assert_eq!(
        TopKTrie::with_cache_size(0).unwrap_err(),
        Error::CacheSize(0)
    );
    assert!(TopKTrie::with_cache_size(hld_trie::MAX_CACHE_SIZE + 1).is_err());
    assert_eq!(TopKTrie::with_cache_size(5).unwrap().cache_size(), 5);
    assert_eq!(
        TopKTrie::default().cache_size(),
        hld_trie::DEFAULT_CACHE_SIZE
    );
    assert!(TopKTrie::from_iter_with_cache_size(Vec::<(String, u64)>::new(), 0).is_err());
}

#[test]
fn std_like_traits() {
    let mut t: TopKTrie = vec![("b".to_string(), 1u64), ("a".to_string(), 2)]
        .into_iter()
        .collect();
    let c = t.clone();
    assert_eq!(t, c);
    t.extend(vec![("c".to_string(), 3u64)]);
    assert_ne!(t, c);
    let order: Vec<&str> = (&t).into_iter().map(|(k, _)| k).collect();
    assert_eq!(order, ["a", "b", "c"]);
    assert!(format!("{t:?}").contains("\"a\": 2"));
    assert_eq!(t.iter().size_hint(), (3, Some(3)));
    let f = t.freeze();
    assert!(format!("{f:?}").contains("len: 3"));
    assert_eq!(f.iter().len(), 3);
    let pre: Vec<(&str, u64)> = t.iter_prefix("b").collect();
    assert_eq!(pre, [("b", 1)]);
    assert_eq!(t.top_k_refs("", 2), [("c", 3), ("a", 2)]);
    assert!(t.heap_bytes() > 0 && f.heap_bytes() > 0);
}

#[test]
fn duplicates_in_bulk_build_keep_the_last_weight() {
    let t: TopKTrie = [("a", 1u64), ("a", 5), ("b", 2)].into_iter().collect();
    assert_eq!(t.weight("a"), Some(5));
    assert_eq!(t.len(), 2);
    let f = FrozenTrie::build([("a", 1u64), ("a", 5), ("b", 2)]).unwrap();
    assert_eq!(f.weight("a"), Some(5));
}

#[test]
fn sorted_builder_rejects_unsorted_and_duplicates() {
    assert_eq!(
        FrozenTrie::from_sorted([("b", 1u64), ("a", 1)]).unwrap_err(),
        Error::NotSorted { index: 1 }
    );
    assert_eq!(
        FrozenTrie::from_sorted([("a", 1u64), ("b", 1), ("b", 2)]).unwrap_err(),
        Error::NotSorted { index: 2 }
    );
    // Byte order, not char order oddities: "Z" < "a" < "é".
    assert!(FrozenTrie::from_sorted([("Z", 1u64), ("a", 1), ("é", 1)]).is_ok());
}

#[test]
fn from_bytes_errors_are_typed() {
    let f = FrozenTrie::build([("hello", 3u64), ("help", 9)]).unwrap();
    let bytes = f.to_bytes();
    assert_eq!(FrozenTrie::from_bytes(&[]).unwrap_err(), Error::Truncated);
    assert_eq!(
        FrozenTrie::from_bytes(b"NOTATRIE????").unwrap_err(),
        Error::BadMagic
    );
    let mut v = bytes.clone();
    v[8] = 99;
    assert_eq!(
        FrozenTrie::from_bytes(&v).unwrap_err(),
        Error::UnsupportedVersion(99)
    );
    assert_eq!(
        FrozenTrie::from_bytes(&bytes[..bytes.len() - 3]).unwrap_err(),
        Error::Truncated
    );
    let mut v = bytes.clone();
    let last = v.len() - 9;
    v[last] ^= 0x10;
    assert_eq!(
        FrozenTrie::from_bytes(&v).unwrap_err(),
        Error::ChecksumMismatch
    );
    for e in [
        Error::Truncated,
        Error::Corrupt("x"),
        Error::NotSorted { index: 3 },
    ] {
        assert!(!e.to_string().is_empty());
        let _: &dyn std::error::Error = &e;
    }
}

#[test]
fn large_k_and_deep_chains() {
    // A chain "a", "aa", "aaa", ... is a path of nodes each holding a term.
    let mut t = TopKTrie::with_cache_size(2).unwrap();
    for i in 1..=300u64 {
        t.insert(&"a".repeat(i as usize), i % 7);
    }
    let all = t.top_k("", 1000);
    assert_eq!(all.len(), 300);
    assert!(all
        .windows(2)
        .all(|w| w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0)));
    assert_eq!(t.freeze().top_k("", 1000), all);
    for i in (1..=300).step_by(3) {
        t.remove(&"a".repeat(i));
    }
    assert_eq!(t.len(), 200);
    assert_eq!(t.freeze().top_k("aa", 1000), t.top_k("aa", 1000));
}

#[test]
fn normalize_folds_case_and_space() {
    assert_eq!(normalize("  New   YORK "), "new york");
    assert_eq!(normalize("ÉCOLE"), "école");
    assert_eq!(normalize("STRASSE"), "strasse");
    assert_eq!(normalize(""), "");
    assert_eq!(normalize("\tA\nB "), "a b");
}

#[test]
fn shard_map_basics() {
    assert_eq!(
        ShardMap::balanced(Vec::<(&str, u64)>::new(), 0).unwrap_err(),
        Error::ZeroShards
    );
    let one = ShardMap::balanced(Vec::<(&str, u64)>::new(), 4).unwrap();
    assert_eq!(one.shards(), 1);
    assert_eq!(one.shard_for("anything"), 0);
    assert!(ShardMap::from_bounds(vec!["b".into(), "a".into()]).is_err());
    assert!(ShardMap::from_bounds(vec!["".into()]).is_err());
    let m = ShardMap::from_bounds(vec!["m".into(), "s".into()]).unwrap();
    assert_eq!(m.shard_for("apple"), 0);
    assert_eq!(m.shard_for("m"), 1);
    assert_eq!(m.shard_for("sun"), 2);
    assert_eq!(m.shards_for_prefix("q"), 1..2);
    assert_eq!(m.shards_for_prefix(""), 0..3);
    assert_eq!(m.shards_for_prefix("s"), 2..3);

    // Skewed first letters: 's' carries most weight, so it gets cut finer.
    let words = [
        ("sa", 40u64),
        ("se", 30),
        ("si", 20),
        ("so", 10),
        ("a", 5),
        ("x", 1),
    ];
    let m = ShardMap::balanced(words, 3).unwrap();
    assert_eq!(m.shards(), 3);
    assert!(
        m.bounds().iter().all(|b| b.starts_with('s')),
        "{:?}",
        m.bounds()
    );
}

#[test]
fn merge_top_k_dedups_and_orders() {
    let a = s(&[("x", 5), ("y", 3)]);
    let b = s(&[("x", 7), ("a", 3), ("z", 1)]);
    assert_eq!(merge_top_k([a, b], 3), s(&[("x", 7), ("a", 3), ("y", 3)]));
    assert!(merge_top_k(Vec::<Vec<(String, u64)>>::new(), 3).is_empty());
}

#[cfg(feature = "serde")]
#[test]
fn serde_round_trips() {
    let t: TopKTrie = [("a", 1u64), ("bé", 2)].into_iter().collect();
    let j = serde_json::to_string(&t).unwrap();
    let back: TopKTrie = serde_json::from_str(&j).unwrap();
    assert_eq!(back, t);
    let f = t.freeze();
    let j = serde_json::to_string(&f).unwrap();
    let back: FrozenTrie = serde_json::from_str(&j).unwrap();
    assert_eq!(back, f);
    assert!(serde_json::from_str::<FrozenTrie>("[1,2,3]").is_err());
    let m = ShardMap::from_bounds(vec!["m".into()]).unwrap();
    let back: ShardMap = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
    assert_eq!(back, m);
}
