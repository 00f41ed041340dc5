//! The block-at-a-time intersection (`intersect.rs`) against `BTreeSet`
//! oracles: posting lists of different densities and length ratios (so both
//! Elias-Fano and bit-packed blocks, long buckets and tails), and ANDs of
//! plain terms inside nested queries of an index.

use hld_inverted_index::{InvertedIndex, PostingList, Query};
use proptest::prelude::*;
use std::collections::BTreeSet;

/// A sorted id set: random ids below a universe (its density), plus an
/// optional dense run (packed blocks of width 0, and with sparse ids around
/// it Elias-Fano blocks whose first bucket holds the whole run).
fn id_set() -> impl Strategy<Value = BTreeSet<u32>> {
    (
        prop::sample::select(&[300u32, 3_000, 30_000, 300_000, 3_000_000][..]),
        0usize..1_500,
        any::<u64>(),
        0u32..400,
        any::<u32>(),
    )
        .prop_map(|(universe, n, seed, run_len, run_at)| {
            let mut x = seed | 1;
            let mut s = BTreeSet::new();
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.insert((x % universe as u64) as u32);
            }
            let at = run_at % universe;
            s.extend(at..at + run_len);
            s
        })
}

fn list(s: &BTreeSet<u32>) -> PostingList {
    PostingList::from_sorted(&s.iter().copied().collect::<Vec<u32>>()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn intersection_matches_btreeset(a in id_set(), b in id_set()) {
        let (pa, pb) = (list(&a), list(&b));
        let want: Vec<u32> = a.intersection(&b).copied().collect();
        prop_assert_eq!(pa.intersection(&pb), want.clone());
        prop_assert_eq!(pb.intersection(&pa), want.clone());
        prop_assert_eq!(pa.intersection_len(&pb), want.len());
        prop_assert_eq!(pb.intersection_len(&pa), want.len());
        prop_assert_eq!(pa.union_len(&pb), a.union(&b).count());
        prop_assert_eq!(pa.intersection(&pa), a.iter().copied().collect::<Vec<u32>>());
    }

    /// A short list against a much longer one over the same range: many
    /// candidates per block of the longer list (decoded and merged) or few
    /// (probed in place), depending on the ratio.
    #[test]
    fn skewed_ratios(long_every in 1u32..40, short_n in 1usize..3_000, seed in any::<u64>()) {
        let long: BTreeSet<u32> = (0..200_000u32).filter(|i| (i.wrapping_mul(2654435761) >> 7) % long_every == 0).collect();
        let mut x = seed | 1;
        let short: BTreeSet<u32> = (0..short_n).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 200_500) as u32
        }).collect();
        let (pl, ps) = (list(&long), list(&short));
        let want: Vec<u32> = long.intersection(&short).copied().collect();
        prop_assert_eq!(ps.intersection(&pl), want.clone());
        prop_assert_eq!(pl.intersection_len(&ps), want.len());
    }
}

/// An index whose terms have set densities, some in bursts, so ANDs of them
/// span many blocks of each kind.
struct Corpus {
    idx: InvertedIndex,
    docs: Vec<BTreeSet<&'static str>>,
}

const TERMS: &[&str] = &["t0", "t1", "t2", "t3", "t4", "t5"];

fn corpus(seed: u64, n: usize) -> Corpus {
    // Per mille of documents holding each term; t5 only in bursts.
    const RATE: [u64; 6] = [950, 500, 150, 40, 8, 0];
    let mut x = seed | 1;
    let mut idx = InvertedIndex::new();
    let mut docs = Vec::with_capacity(n);
    for d in 0..n {
        let mut set = BTreeSet::new();
        for (t, &rate) in TERMS.iter().zip(&RATE) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let burst = t == &"t5" && (d / 700) % 3 == 1;
            if x % 1000 < rate || (burst && !x.is_multiple_of(4)) {
                set.insert(*t);
            }
        }
        let text: Vec<&str> = set.iter().copied().collect();
        idx.add(d as u64, &text.join(" ")).unwrap();
        docs.push(set);
    }
    Corpus { idx, docs }
}

fn matches(q: &Query, doc: &BTreeSet<&str>) -> bool {
    match q {
        Query::Term(t) => doc.contains(t.as_str()),
        Query::And(k) => k.iter().all(|q| matches(q, doc)),
        Query::Or(k) => k.iter().any(|q| matches(q, doc)),
        Query::Not(q) => !matches(q, doc),
    }
}

fn query() -> impl Strategy<Value = Query> {
    let leaf = prop::sample::select(&["t0", "t1", "t2", "t3", "t4", "t5", "t0", "t1", "zz"][..])
        .prop_map(|t| Query::Term(t.to_string()));
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            3 => prop::collection::vec(inner.clone(), 2..5).prop_map(Query::And),
            2 => prop::collection::vec(inner.clone(), 1..4).prop_map(Query::Or),
            1 => inner.prop_map(|q| Query::Not(Box::new(q))),
        ]
    })
}

fn check(c: &Corpus, q: &Query, removed: &BTreeSet<u64>) {
    let want: Vec<u64> = (0..c.docs.len() as u64)
        .rev()
        .filter(|d| !removed.contains(d) && matches(q, &c.docs[*d as usize]))
        .collect();
    assert_eq!(c.idx.count(q), want.len(), "count {q}");
    for limit in [1, 10, usize::MAX] {
        assert_eq!(
            c.idx.search(q, limit),
            want[..want.len().min(limit)],
            "search {q} limit {limit}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn nested_ands_of_terms(seed in any::<u64>(), qs in prop::collection::vec(query(), 1..16), removals in prop::collection::vec(0u64..6_000, 0..40)) {
        let mut c = corpus(seed, 6_000);
        let removed: BTreeSet<u64> = removals.into_iter().collect();
        for q in &qs {
            check(&c, q, &BTreeSet::new());
        }
        for &d in &removed {
            prop_assert!(c.idx.remove(d));
        }
        for q in &qs {
            check(&c, q, &removed);
        }
    }
}

/// ANDs of terms where the conjunction leads, is probed by a rarer sibling
/// (and so turns into a leapfrog), sits under an OR, or is nested as a
/// `Query::And` inside another.
#[test]
fn conjunction_positions() {
    let c = corpus(7, 20_000);
    let none = BTreeSet::new();
    for s in [
        "t0 t1",
        "t1 t0 t2",
        "t0 t1 t2 t3",
        "t4 (t0 t1 OR t2 t3)",
        "t3 (t0 t1) -t2",
        "(t0 t1) OR (t2 t5)",
        "t0 t1 -t5",
        "-(t0 t1) t2",
        "t5 t0 t1 t2",
        "t0 zz",
        "t4 t5 (t1 OR -t0)",
    ] {
        check(&c, &Query::parse(s).unwrap(), &none);
    }
    let nested = Query::And(vec![
        Query::Term("t2".into()),
        Query::And(vec![Query::Term("t0".into()), Query::Term("t1".into())]),
        Query::And(vec![]),
    ]);
    check(&c, &nested, &none);
}
