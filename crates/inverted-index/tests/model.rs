//! Model tests: the index against a brute-force scan of the stored texts with
//! the same tokenizer, over random adds (in and out of order), removes,
//! compactions and random nested AND/OR/NOT queries.

use hld_inverted_index::{tokenize, Error, InvertedIndex, Query};
use proptest::prelude::*;
use std::collections::BTreeSet;

const VOCAB: &[&str] = &["a", "b", "c", "d", "e", "f", "#g", "@h", "ÉTÉ", "don't"];

/// What the index must behave like: every stored entry (live or tombstoned
/// until a compaction, since BM25 statistics count those) with its tokens.
#[derive(Default)]
struct Oracle {
    docs: Vec<(u64, Vec<String>, bool)>,
}

impl Oracle {
    fn live(&self, id: u64) -> Option<usize> {
        self.docs.iter().position(|d| d.0 == id && d.2)
    }

    fn add(&mut self, id: u64, text: &str) -> Result<(), Error> {
        if self.live(id).is_some() {
            return Err(Error::DuplicateDoc(id));
        }
        self.docs.push((id, tokenize(text).collect(), true));
        Ok(())
    }

    fn remove(&mut self, id: u64) -> bool {
        match self.live(id) {
            Some(i) => {
                self.docs[i].2 = false;
                true
            }
            None => false,
        }
    }

    fn compact(&mut self) {
        self.docs.retain(|d| d.2);
    }

    fn matches(q: &Query, toks: &BTreeSet<&str>) -> bool {
        match q {
            Query::Term(t) => toks.contains(t.as_str()),
            Query::And(k) => k.iter().all(|k| Self::matches(k, toks)),
            Query::Or(k) => k.iter().any(|k| Self::matches(k, toks)),
            Query::Not(k) => !Self::matches(k, toks),
        }
    }

    fn hits(&self, q: &Query) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .docs
            .iter()
            .filter(|d| d.2 && Self::matches(q, &d.1.iter().map(|s| s.as_str()).collect()))
            .map(|d| d.0)
            .collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v
    }

    /// Every live match with its BM25 score (k1 = 1.2, b = 0.75), in f64.
    fn ranked(&self, q: &Query) -> Vec<(u64, f64)> {
        let (k1, b) = (1.2f64, 0.75f64);
        let n = self.docs.len() as f64;
        let total: usize = self.docs.iter().map(|d| d.1.len()).sum();
        let avg = if total == 0 { 1.0 } else { total as f64 / n };
        let terms = q.scoring_terms();
        let dfs: Vec<f64> = terms
            .iter()
            .map(|t| {
                self.docs
                    .iter()
                    .filter(|e| e.1.iter().any(|x| x == t))
                    .count() as f64
            })
            .collect();
        let mut out: Vec<(u64, f64)> = Vec::new();
        for d in self.docs.iter().filter(|d| d.2) {
            let set: BTreeSet<&str> = d.1.iter().map(|s| s.as_str()).collect();
            if !Self::matches(q, &set) {
                continue;
            }
            let dl = d.1.len() as f64;
            let mut s = 0.0;
            for (t, &df) in terms.iter().zip(&dfs) {
                let tf = d.1.iter().filter(|x| x == t).count() as f64;
                if tf == 0.0 {
                    continue;
                }
                let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                s += idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * dl / avg));
            }
            out.push((d.0, s));
        }
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
        out
    }
}

fn tol(x: f64) -> f64 {
    1e-3 * x.abs().max(1.0)
}

/// Ranked results agree with the oracle: same length, scores within a
/// tolerance rank by rank, every id a real match with its score, and every
/// oracle doc clearly above the cut present. Ids may differ only among ties.
fn check_ranked(got: &[(u64, f32)], all: &[(u64, f64)], limit: usize) {
    assert_eq!(got.len(), limit.min(all.len()), "ranked length");
    for (i, g) in got.iter().enumerate() {
        assert!(
            (g.1 as f64 - all[i].1).abs() <= tol(all[i].1),
            "rank {i}: got {g:?}, oracle {:?}",
            all[i]
        );
        let o = all
            .iter()
            .find(|o| o.0 == g.0)
            .expect("ranked id is a match");
        assert!((g.1 as f64 - o.1).abs() <= tol(o.1), "score of {}", g.0);
    }
    let ids: BTreeSet<u64> = got.iter().map(|g| g.0).collect();
    assert_eq!(ids.len(), got.len(), "duplicate ids");
    if let Some(cut) = got.last() {
        for o in all {
            if o.1 > cut.1 as f64 + tol(o.1) {
                assert!(ids.contains(&o.0), "missing {o:?}");
            }
        }
    }
}

fn text_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(VOCAB),
            prop::sample::select(&[" ", ", ", "-", "!! ", "\n"][..]),
        ),
        0..12,
    )
    .prop_map(|ws| ws.into_iter().map(|(w, s)| format!("{w}{s}")).collect())
}

fn query_strategy() -> impl Strategy<Value = Query> {
    let leaf = prop::sample::select(
        &[
            "a", "b", "c", "d", "e", "f", "#g", "@h", "été", "don't", "zzz",
        ][..],
    )
    .prop_map(|t| Query::Term(t.to_string()));
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Query::And),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Query::Or),
            inner.prop_map(|q| Query::Not(Box::new(q))),
        ]
    })
}

#[derive(Clone, Debug)]
enum Op {
    Add(u64, String),
    Remove(u64),
    Compact,
}

fn ops_strategy() -> impl Strategy<Value = Vec<Op>> {
    // Ids: a growing counter most of the time (the tweet path), sometimes any
    // id below it (stragglers and duplicates) or a huge one.
    prop::collection::vec((0u8..100, any::<u64>(), text_strategy()), 1..700).prop_map(|raw| {
        let mut next = 0u64;
        raw.into_iter()
            .map(|(k, r, text)| match k {
                0..=69 => {
                    next += 1 + r % 3;
                    Op::Add(next, text)
                }
                70..=84 => Op::Add(r % (next + 1), text),
                85..=86 => Op::Add(u64::MAX - r % 4, text),
                87..=97 => Op::Remove(r % (next + 2)),
                _ => Op::Compact,
            })
            .collect()
    })
}

fn check_queries(idx: &InvertedIndex, o: &Oracle, qs: &[Query]) {
    assert_eq!(idx.len(), o.docs.iter().filter(|d| d.2).count());
    for q in qs {
        let want = o.hits(q);
        // Through the parser: Display writes a query that parses to one with
        // the same meaning.
        let parsed = Query::parse(&q.to_string()).expect("display parses");
        assert_eq!(idx.count(q), want.len(), "count {q}");
        assert_eq!(idx.count(&parsed), want.len(), "count parsed {q}");
        for limit in [1, 7, 1000] {
            let got = idx.search(&parsed, limit);
            assert_eq!(
                got,
                want[..want.len().min(limit)],
                "search {q} limit {limit}"
            );
        }
        let all = o.ranked(q);
        for limit in [1, 10, 1000] {
            check_ranked(&idx.search_ranked(q, limit), &all, limit);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn index_matches_brute_force(ops in ops_strategy(), qs in prop::collection::vec(query_strategy(), 1..12)) {
        let mut idx = InvertedIndex::new();
        let mut o = Oracle::default();
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::Add(id, text) => assert_eq!(idx.add(*id, text), o.add(*id, text)),
                Op::Remove(id) => assert_eq!(idx.remove(*id), o.remove(*id)),
                Op::Compact => {
                    idx.compact();
                    o.compact();
                }
            }
            if i % 97 == 0 {
                check_queries(&idx, &o, &qs[..1]);
            }
        }
        check_queries(&idx, &o, &qs);
        assert_eq!(idx.doc_ids(), { let mut v: Vec<u64> = o.docs.iter().filter(|d| d.2).map(|d| d.0).collect(); v.sort_unstable(); v });
        // A copy through bytes answers the same.
        let copy = InvertedIndex::from_bytes(&idx.to_bytes()).unwrap();
        prop_assert_eq!(copy.to_bytes(), idx.to_bytes());
        check_queries(&copy, &o, &qs);
        idx.compact();
        o.compact();
        prop_assert_eq!(idx.tombstones(), 0);
        check_queries(&idx, &o, &qs);
    }

    #[test]
    fn parse_never_panics(s in "[a-c()\" \\-ORANDT#@]{0,40}") {
        if let Ok(q) = Query::parse(&s) {
            let again = Query::parse(&q.to_string()).expect("display parses");
            prop_assert_eq!(again, q);
        }
    }

    #[test]
    fn parse_arbitrary_unicode(s in any::<String>()) {
        if let Ok(q) = Query::parse(&s) {
            prop_assert!(Query::parse(&q.to_string()).is_ok());
        } else if let Err(e) = Query::parse(&s) {
            prop_assert!(e.pos <= s.len());
            prop_assert!(!e.to_string().is_empty());
        }
    }
}

/// Larger lists (many blocks) with a few terms at set densities.
#[test]
fn many_blocks_against_scan() {
    let mut idx = InvertedIndex::new();
    let mut o = Oracle::default();
    let mut x = 99u64;
    for id in 0..6000u64 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = x >> 20;
        let mut text = String::new();
        if r.is_multiple_of(2) {
            text.push_str("half ");
        }
        if r.is_multiple_of(10) {
            text.push_str("tenth tenth ");
        }
        if r.is_multiple_of(100) {
            text.push_str("hundredth ");
        }
        if r % 7 < 5 {
            text.push_str("most ");
        }
        idx.add(id * 3, &text).unwrap();
        o.add(id * 3, &text).unwrap();
    }
    for id in (0..18000u64).step_by(51) {
        assert_eq!(idx.remove(id), o.remove(id));
    }
    let qs: Vec<Query> = [
        "half tenth",
        "half OR hundredth",
        "most -half",
        "-most",
        "tenth (half OR -most) -hundredth",
        "tenth OR hundredth",
        "half",
        "NOT (half OR most OR tenth)",
    ]
    .iter()
    .map(|s| Query::parse(s).unwrap())
    .collect();
    check_queries(&idx, &o, &qs);
}

/// Ids in random order: the side segment fills and merges by itself.
#[test]
fn random_order_ids_auto_merge() {
    let mut idx = InvertedIndex::new();
    let mut o = Oracle::default();
    let mut x = 5u64;
    for i in 0..20_000u64 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let id = x >> 40;
        let text = ["a b", "b c", "c", "a", "d a"][(i % 5) as usize];
        assert_eq!(idx.add(id, text), o.add(id, text));
    }
    let qs: Vec<Query> = ["a", "a -b", "b OR d", "-c"]
        .iter()
        .map(|s| Query::parse(s).unwrap())
        .collect();
    for q in &qs {
        let want = o.hits(q);
        assert_eq!(idx.count(q), want.len());
        assert_eq!(idx.search(q, 50), want[..50.min(want.len())]);
    }
    idx.compact();
    o.compact();
    check_queries(&idx, &o, &qs);
}

#[test]
fn pure_not_is_all_minus() {
    let mut idx = InvertedIndex::new();
    idx.add(1, "a b").unwrap();
    idx.add(2, "b").unwrap();
    idx.add(3, "c").unwrap();
    idx.add(4, "").unwrap();
    let q = Query::parse("-a").unwrap();
    assert_eq!(idx.search(&q, 10), [4, 3, 2]);
    assert_eq!(idx.count(&q), 3);
    assert_eq!(idx.search_ranked(&q, 2), [(4, 0.0), (3, 0.0)]);
    assert_eq!(idx.search(&Query::parse("a OR -b").unwrap(), 10), [4, 3, 1]);
    assert_eq!(idx.search(&Query::parse("-zzz").unwrap(), 10), [4, 3, 2, 1]);
    idx.remove(3);
    assert_eq!(idx.search(&q, 10), [4, 2]);
}

#[test]
fn remove_and_readd() {
    let mut idx = InvertedIndex::new();
    idx.add(10, "old text").unwrap();
    assert_eq!(idx.add(10, "again"), Err(Error::DuplicateDoc(10)));
    assert!(idx.remove(10));
    assert!(!idx.remove(10));
    idx.add(10, "new text").unwrap();
    let q = Query::parse("text").unwrap();
    assert_eq!(idx.search(&q, 5), [10]);
    assert_eq!(idx.count(&Query::parse("old").unwrap()), 0);
    assert_eq!(idx.count(&Query::parse("new").unwrap()), 1);
    idx.compact();
    assert_eq!(idx.search(&q, 5), [10]);
    assert_eq!(idx.tombstones(), 0);
    assert_eq!(idx.len(), 1);
    assert_eq!(idx.doc_len(10), Some(2));
}

#[test]
fn tombstones_compact_by_themselves() {
    let mut idx = InvertedIndex::new();
    for i in 0..4000u64 {
        idx.add(i, "x y").unwrap();
    }
    for i in 0..2500u64 {
        assert!(idx.remove(i));
    }
    assert!(idx.tombstones() < 2500, "an automatic compaction ran");
    assert_eq!(idx.count(&Query::parse("x").unwrap()), 1500);
    assert_eq!(idx.search(&Query::parse("y").unwrap(), 1), [3999]);
}

#[test]
fn extreme_ids() {
    let mut idx = InvertedIndex::new();
    idx.add(u64::MAX, "top").unwrap();
    idx.add(0, "bottom").unwrap();
    idx.add(u64::MAX - 1, "top bottom").unwrap();
    assert_eq!(
        idx.search(&Query::parse("bottom").unwrap(), 10),
        [u64::MAX - 1, 0]
    );
    assert_eq!(
        idx.search(&Query::parse("top").unwrap(), 10),
        [u64::MAX, u64::MAX - 1]
    );
    let copy = InvertedIndex::from_bytes(&idx.to_bytes()).unwrap();
    assert_eq!(
        copy.search(&Query::parse("top OR bottom").unwrap(), 10),
        [u64::MAX, u64::MAX - 1, 0]
    );
}

#[test]
fn limit_zero_and_empty_index() {
    let idx = InvertedIndex::new();
    let q = Query::parse("a").unwrap();
    assert!(idx.search(&q, 10).is_empty());
    assert!(idx
        .search_ranked(&Query::parse("-a").unwrap(), 10)
        .is_empty());
    assert_eq!(idx.count(&q), 0);
    assert!(idx.is_empty());
    let mut idx = InvertedIndex::new();
    idx.add(1, "a").unwrap();
    assert!(idx.search(&q, 0).is_empty());
    assert!(idx.search_ranked(&q, 0).is_empty());
}

/// Block-max WAND on lists of many blocks whose bounds differ (varied lengths
/// and term frequencies): skipping must never lose a top-k document.
#[test]
fn ranked_block_max_against_scan() {
    for seed in 1..4u64 {
        let mut idx = InvertedIndex::new();
        let mut o = Oracle::default();
        let mut x = seed;
        let mut rnd = |n: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % n
        };
        for id in 0..6000u64 {
            let mut words: Vec<&str> = Vec::new();
            // Runs of long and short documents, so blocks differ.
            let long = (id / 1500) % 2 == 0;
            let n_filler = if long { 10 + rnd(30) } else { 1 + rnd(6) };
            words.extend(std::iter::repeat_n("filler", n_filler as usize));
            if rnd(3) == 0 {
                let n_x = 1 + rnd(3);
                words.extend(std::iter::repeat_n("x", n_x as usize));
            }
            if rnd(11) == 0 {
                words.push("y");
            }
            if rnd(40) == 0 {
                words.push("z");
            }
            let text = words.join(" ");
            idx.add(id, &text).unwrap();
            o.add(id, &text).unwrap();
        }
        for id in (0..6000).step_by(13) {
            idx.remove(id);
            o.remove(id);
        }
        for q in ["x OR y", "x OR y OR z", "x", "z OR filler", "y OR z"] {
            let q = Query::parse(q).unwrap();
            let all = o.ranked(&q);
            for k in [1, 3, 10, 50, 500] {
                check_ranked(&idx.search_ranked(&q, k), &all, k);
            }
        }
    }
}
