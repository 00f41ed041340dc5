//! BM25 scoring and top-k: block-max WAND for disjunctions of terms, an
//! exhaustive scan of the matches for everything else, and `merge_top_k` for an
//! aggregator combining shards.

use crate::postings::{Cursor, END};
use crate::query::Query;
use crate::segment::Segment;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// BM25 parameters (Robertson & Zaragoza, "The Probabilistic Relevance
/// Framework: BM25 and Beyond", 2009).
///
/// A document `d` matching a query scores, summed over the query's scoring
/// terms `t` (those not under a negation, see [`Query::scoring_terms`]) that
/// occur in `d`:
///
/// ```text
/// idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avg_len))
/// idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
/// ```
///
/// `tf` is the term's count in `d`, `len(d)` its token count, `N` the number
/// of documents, `df(t)` how many contain `t`, `avg_len` the mean length. This
/// is Lucene's and tantivy's formula (the `1 +` keeps idf positive). `N`,
/// `df` and `avg_len` count removed documents until
/// [`compact`](crate::InvertedIndex::compact), as Lucene's do until a merge.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bm25 {
    /// Term-frequency saturation; 1.2 by default (Lucene, tantivy).
    pub k1: f32,
    /// Length normalisation, 0 (none) to 1 (full); 0.75 by default.
    pub b: f32,
}

impl Default for Bm25 {
    fn default() -> Bm25 {
        Bm25 { k1: 1.2, b: 0.75 }
    }
}

impl Bm25 {
    pub(crate) fn is_valid(&self) -> bool {
        self.k1.is_finite() && self.k1 >= 0.0 && (0.0..=1.0).contains(&self.b)
    }
}

/// Upper bounds are inflated by this factor so that f32 rounding in a bound
/// can never prune a document whose exact score reaches the threshold.
const UB_SLACK: f32 = 1.0 + 1e-4;

/// Corpus statistics and parameters of one query evaluation.
pub(crate) struct Scorer {
    ka: f32,
    kb: f32,
    k1p1: f32,
    n: f64,
}

impl Scorer {
    pub(crate) fn new(p: Bm25, n_docs: u64, total_len: u64) -> Scorer {
        let avg = if n_docs == 0 || total_len == 0 {
            1.0
        } else {
            total_len as f64 / n_docs as f64
        };
        Scorer {
            ka: p.k1 * (1.0 - p.b),
            kb: (p.k1 as f64 * p.b as f64 / avg) as f32,
            k1p1: p.k1 + 1.0,
            n: n_docs as f64,
        }
    }

    /// `idf * (k1 + 1)`: the weight of a term with document frequency `df`.
    pub(crate) fn weight(&self, df: u64) -> f32 {
        let df = df as f64;
        let idf = (1.0 + (self.n - df + 0.5) / (df + 0.5)).ln();
        idf as f32 * self.k1p1
    }

    #[inline]
    pub(crate) fn term(&self, w: f32, tf: u32, dl: u32) -> f32 {
        let tf = tf as f32;
        w * tf / (tf + self.ka + self.kb * dl as f32)
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    score: f32,
    doc: u64,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Entry) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Entry) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    /// Better first: higher score, then the newer (larger) id.
    fn cmp(&self, o: &Entry) -> Ordering {
        self.score.total_cmp(&o.score).then(self.doc.cmp(&o.doc))
    }
}

/// The best `k` (score, doc) pairs seen, ties going to the larger doc id.
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Reverse<Entry>>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> TopK {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k.min(1 << 16) + 1),
        }
    }

    /// The score a new document must reach to enter, once full.
    #[inline]
    pub(crate) fn threshold(&self) -> Option<f32> {
        if self.heap.len() < self.k {
            None
        } else {
            self.heap.peek().map(|e| e.0.score)
        }
    }

    #[inline]
    pub(crate) fn offer(&mut self, score: f32, doc: u64) {
        let e = Entry { score, doc };
        if self.heap.len() < self.k {
            self.heap.push(Reverse(e));
        } else if let Some(mut min) = self.heap.peek_mut() {
            if e > min.0 {
                *min = Reverse(e);
            }
        }
    }

    pub(crate) fn into_sorted(self) -> Vec<(u64, f32)> {
        let mut v: Vec<Entry> = self.heap.into_iter().map(|e| e.0).collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v.into_iter().map(|e| (e.doc, e.score)).collect()
    }
}

#[inline]
fn passes(bound: f32, theta: Option<f32>) -> bool {
    theta.is_none_or(|t| bound >= t)
}

/// Top-k of one segment into `top`. `terms` are the query's scoring terms with
/// their weights.
pub(crate) fn top_k_segment(
    seg: &Segment,
    q: &Query,
    terms: &[(&str, f32)],
    sc: &Scorer,
    top: &mut TopK,
) {
    let disjunction = match q {
        Query::Term(_) => true,
        Query::Or(k) => k.iter().all(|k| matches!(k, Query::Term(_))),
        _ => false,
    };
    if disjunction {
        block_max_wand(seg, terms, sc, top);
    } else {
        exhaustive(seg, q, terms, sc, top);
    }
}

/// Scores every match: for queries with structure (AND, NOT, nesting), where
/// the match set itself is the filter.
fn exhaustive(seg: &Segment, q: &Query, terms: &[(&str, f32)], sc: &Scorer, top: &mut TopK) {
    let mut node = seg.compile(q);
    let mut curs: Vec<(Cursor<'_>, f32)> = terms
        .iter()
        .filter_map(|&(t, w)| seg.list(t).map(|l| (Cursor::new(l), w)))
        .collect();
    let mut d = node.doc();
    while d != END {
        if !seg.is_deleted(d) {
            let dl = seg.lens[d as usize];
            let mut s = 0.0f32;
            for (c, w) in curs.iter_mut() {
                if c.advance(d) == d {
                    s += sc.term(*w, c.tf(), dl);
                }
            }
            top.offer(s, seg.ext[d as usize]);
        }
        d = node.next();
    }
}

/// Block-max WAND (Ding & Suel, "Faster top-k document retrieval using
/// block-max indexes", SIGIR 2011) over a disjunction of terms.
fn block_max_wand(seg: &Segment, terms: &[(&str, f32)], sc: &Scorer, top: &mut TopK) {
    let mut cur: Vec<Cursor<'_>> = Vec::new();
    let mut w: Vec<f32> = Vec::new();
    let mut ub: Vec<f32> = Vec::new();
    for &(t, wt) in terms {
        if let Some(l) = seg.list(t) {
            cur.push(Cursor::new(l));
            w.push(wt);
            ub.push(sc.term(wt, l.max_tf(), l.min_dl() as u32) * UB_SLACK);
        }
    }
    let n = cur.len();
    let mut order: Vec<usize> = (0..n).collect();
    // (first id, last id, score bound) of each cursor's last bounded block.
    let mut cache: Vec<(u32, u32, f32)> = vec![(1, 0, 0.0); n];
    loop {
        order.sort_by_key(|&i| cur[i].doc());
        let theta = top.threshold();
        // Pivot: the first position where the upper bounds reach the threshold.
        let mut acc = 0.0f32;
        let mut pivot = None;
        for (j, &i) in order.iter().enumerate() {
            if cur[i].doc() == END {
                break;
            }
            acc += ub[i];
            if passes(acc, theta) {
                pivot = Some(j);
                break;
            }
        }
        let Some(mut p) = pivot else { break };
        let pd = cur[order[p]].doc();
        while p + 1 < n && cur[order[p + 1]].doc() == pd {
            p += 1;
        }
        // Block-max check: the blocks holding `pd` bound every doc up to the
        // first of their ends.
        let mut bsum = 0.0f32;
        let mut skip_to = END;
        for &i in &order[..=p] {
            // The bound of the block holding `pd`, cached per cursor: the
            // division is the loop's most expensive step.
            let (first, last, b) = cache[i];
            let (last, b) = if first <= pd && pd <= last {
                (last, b)
            } else if let Some((mtf, mdl, first, last)) = cur[i].block_bound(pd) {
                let b = sc.term(w[i], mtf, mdl as u32) * UB_SLACK;
                cache[i] = (first, last, b);
                (last, b)
            } else {
                continue;
            };
            bsum += b;
            skip_to = skip_to.min(last.saturating_add(1));
        }
        if passes(bsum, theta) {
            if cur[order[0]].doc() == pd {
                if !seg.is_deleted(pd) {
                    let dl = seg.lens[pd as usize];
                    let mut s = 0.0f32;
                    // Summed in term order, as the exhaustive path does.
                    for (i, c) in cur.iter_mut().enumerate() {
                        if c.doc() == pd {
                            s += sc.term(w[i], c.tf(), dl);
                        }
                    }
                    top.offer(s, seg.ext[pd as usize]);
                }
                for &i in &order[..=p] {
                    cur[i].next();
                }
            } else {
                for &i in &order[..p] {
                    if cur[i].doc() < pd {
                        cur[i].advance(pd);
                    }
                }
            }
        } else {
            if p + 1 < n {
                skip_to = skip_to.min(cur[order[p + 1]].doc());
            }
            for &i in &order[..=p] {
                if cur[i].doc() < skip_to {
                    cur[i].advance(skip_to);
                }
            }
        }
    }
}

/// Merges the ranked results of several shards (each from
/// [`InvertedIndex::search_ranked`](crate::InvertedIndex::search_ranked)) into
/// the global top `k`: best score first, ties to the larger (newer) id. This is
/// the aggregator of a search tier sharded by document id.
///
/// Scores are comparable across shards only if the shards score with the
/// same statistics: with shards by tweet id (a uniform split), per-shard `N`,
/// `df` and average length agree closely, which is the usual trade.
///
/// ```
/// use hld_inverted_index::merge_top_k;
/// let a = vec![(10, 3.0), (4, 1.0)];
/// let b = vec![(7, 2.5), (12, 1.0)];
/// assert_eq!(merge_top_k([a, b], 3), vec![(10, 3.0), (7, 2.5), (12, 1.0)]);
/// ```
pub fn merge_top_k<I, S>(shards: I, k: usize) -> Vec<(u64, f32)>
where
    I: IntoIterator<Item = S>,
    S: IntoIterator<Item = (u64, f32)>,
{
    let mut top = TopK::new(k);
    if k == 0 {
        return Vec::new();
    }
    for s in shards {
        for (d, sc) in s {
            top.offer(sc, d);
        }
    }
    top.into_sorted()
}

/// Merges newest-first results of several shards (each from
/// [`InvertedIndex::search`](crate::InvertedIndex::search)) into the newest
/// `limit`, dropping duplicate ids.
///
/// ```
/// use hld_inverted_index::merge_newest;
/// assert_eq!(merge_newest([vec![9, 5, 1], vec![8, 5, 2]], 4), vec![9, 8, 5, 2]);
/// ```
pub fn merge_newest<I, S>(shards: I, limit: usize) -> Vec<u64>
where
    I: IntoIterator<Item = S>,
    S: IntoIterator<Item = u64>,
{
    let mut all: Vec<u64> = shards.into_iter().flatten().collect();
    all.sort_unstable_by(|a, b| b.cmp(a));
    all.dedup();
    all.truncate(limit);
    all
}
