//! The index: a main segment in id order and a small side segment for
//! stragglers, tombstones, compaction.

use crate::bm25::{self, Bm25, Scorer, TopK};
use crate::postings::{PostingList, MAX_DOCS};
use crate::query::Query;
use crate::segment::{Scratch, Segment};
use crate::Error;
use std::fmt;

/// The side segment merges into the main one once it holds this many
/// documents and at least an eighth of the main segment's: each merge rewrites
/// everything, so tying it to the main size keeps the amortised cost of an
/// out-of-order add constant (at most ~8 re-encodes per posting).
const SIDE_MIN: usize = 4096;
/// `remove` compacts by itself once tombstones reach this many and half the
/// stored documents: memory stays within 2x of the live data.
const TOMBSTONE_MIN: usize = 1024;
/// First window of a newest-first search, in documents; it grows 4x a step.
const WINDOW0: u32 = 4096;

/// An in-memory inverted index of short texts (tweets), keyed by `u64` doc ids.
///
/// Documents are numbered internally `0..n` in arrival order, so every posting
/// list is append-only; a `u64` doc id larger than any in the main segment
/// (the tweet case: Snowflake ids grow with time) goes to the main segment,
/// whose numbering then follows id order, which is what lets
/// [`search`](InvertedIndex::search) stop after the newest `limit` matches.
/// Any other id (a straggler, a re-added id) goes to a small side segment,
/// merged into the main one by [`compact`](InvertedIndex::compact) or
/// automatically once it grows. Ids are stored once per document (8 bytes),
/// so the postings compress dense `u32` numbers, not sparse `u64` ids.
///
/// See the [crate docs](crate) for an example and the cost model.
#[derive(Clone, Default)]
pub struct InvertedIndex {
    pub(crate) main: Segment,
    pub(crate) side: Segment,
    pub(crate) bm25: Bm25,
    scratch: Scratch,
}

impl fmt::Debug for InvertedIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvertedIndex")
            .field("len", &self.len())
            .field("tombstones", &self.tombstones())
            .field("side_docs", &self.side.n_docs())
            .field("bm25", &self.bm25)
            .finish()
    }
}

impl InvertedIndex {
    /// An empty index with default [`Bm25`] parameters.
    pub fn new() -> InvertedIndex {
        InvertedIndex::default()
    }

    /// An empty index scoring with `params` (`k1` finite and `>= 0`, `b` in
    /// `0..=1`, else [`Error::InvalidBm25`]).
    pub fn with_bm25(params: Bm25) -> Result<InvertedIndex, Error> {
        if !params.is_valid() {
            return Err(Error::InvalidBm25);
        }
        Ok(InvertedIndex {
            bm25: params,
            ..InvertedIndex::default()
        })
    }

    /// The BM25 parameters.
    pub fn bm25(&self) -> Bm25 {
        self.bm25
    }

    pub(crate) fn from_segments(main: Segment, side: Segment, bm25: Bm25) -> InvertedIndex {
        InvertedIndex {
            main,
            side,
            bm25,
            scratch: Scratch::default(),
        }
    }

    /// Indexes `text` under `doc`. A `doc` already present is an
    /// [`Error::DuplicateDoc`] (remove it first to replace it); an index
    /// holding [`MAX_DOCS`] documents is [`Error::Full`].
    ///
    /// Cost: O(tokens) with no allocation per token when `doc` is larger than
    /// every id so far; otherwise a hash lookup more, and now and then a merge
    /// of the side segment (amortised O(1) per posting).
    pub fn add(&mut self, doc: u64, text: &str) -> Result<(), Error> {
        if self.main.n_docs() + self.side.n_docs() >= MAX_DOCS {
            return Err(Error::Full);
        }
        if self.main.ext.last().is_none_or(|&m| doc > m) {
            // The append path: nothing in the side segment can be this large,
            // since it only takes ids below the main segment's largest.
            self.main.add(doc, text, &mut self.scratch);
            return Ok(());
        }
        if self.contains(doc) {
            return Err(Error::DuplicateDoc(doc));
        }
        let local = self.side.add(doc, text, &mut self.scratch);
        self.side.by_ext.insert(doc, local);
        if self.side.n_docs() >= SIDE_MIN.max(self.main.n_docs() / 8) {
            self.compact();
        }
        Ok(())
    }

    fn main_local(&self, doc: u64) -> Option<u32> {
        let i = self.main.ext.binary_search(&doc).ok()? as u32;
        (!self.main.is_deleted(i)).then_some(i)
    }

    /// True if `doc` is in the index (added and not removed).
    pub fn contains(&self, doc: u64) -> bool {
        self.main_local(doc).is_some() || self.side.by_ext.contains_key(&doc)
    }

    /// Removes `doc`; false if it was not there. The postings keep a tombstone
    /// until [`compact`](InvertedIndex::compact) (which runs by itself once
    /// tombstones are over half the stored documents and at least 1024).
    pub fn remove(&mut self, doc: u64) -> bool {
        if let Some(l) = self.main_local(doc) {
            self.main.delete(l);
        } else if let Some(l) = self.side.by_ext.remove(&doc) {
            self.side.delete(l);
        } else {
            return false;
        }
        let dead = self.tombstones();
        if dead >= TOMBSTONE_MIN && dead * 2 >= self.main.n_docs() + self.side.n_docs() {
            self.compact();
        }
        true
    }

    /// Number of documents (live ones).
    pub fn len(&self) -> usize {
        self.main.live() + self.side.live()
    }

    /// True when no document is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removed documents whose postings are still stored.
    pub fn tombstones(&self) -> usize {
        self.main.n_deleted + self.side.n_deleted
    }

    /// The token count of `doc`, if present.
    pub fn doc_len(&self, doc: u64) -> Option<u32> {
        if let Some(l) = self.main_local(doc) {
            return Some(self.main.lens[l as usize]);
        }
        self.side
            .by_ext
            .get(&doc)
            .map(|&l| self.side.lens[l as usize])
    }

    /// Live doc ids, ascending.
    pub fn doc_ids(&self) -> Vec<u64> {
        let main = (0..self.main.n_docs() as u32)
            .filter(|&d| !self.main.is_deleted(d))
            .map(|d| self.main.ext[d as usize]);
        let mut side: Vec<u64> = self.side.by_ext.keys().copied().collect();
        side.sort_unstable();
        let mut out: Vec<u64> = main.chain(side).collect();
        if !self.side.by_ext.is_empty() {
            out.sort_unstable();
        }
        out
    }

    /// How many live documents contain `term` (a token as [`tokenize`](crate::tokenize)
    /// produces it).
    pub fn doc_freq(&self, term: &str) -> usize {
        self.count(&Query::Term(term.to_owned()))
    }

    /// Distinct terms stored (across both segments, tombstoned postings included).
    pub fn num_terms(&self) -> usize {
        self.main.vocab.len()
            + self
                .side
                .vocab
                .keys()
                .filter(|t| !self.main.vocab.contains_key(*t))
                .count()
    }

    /// Postings stored (one per distinct term per document, tombstoned included).
    pub fn num_postings(&self) -> usize {
        self.lists().map(PostingList::len).sum()
    }

    /// Heap bytes of the posting lists (blocks, skip data, tails, slack).
    pub fn postings_bytes(&self) -> usize {
        self.lists().map(PostingList::size_bytes).sum()
    }

    /// Postings sealed into compressed blocks, and the bytes those blocks take
    /// with their skip data: `(postings, bytes)`.
    ///
    /// A list is compressed 128 postings at a time; the last partial block of
    /// each list stays an uncompressed tail (counted by
    /// [`postings_bytes`](InvertedIndex::postings_bytes), with allocator
    /// slack). So in a small index, where most terms have short lists, the
    /// heap is dominated by tails and per-term overhead, while
    /// `8 * bytes / postings` here is the density long lists reach: the figure
    /// to size a much larger index by.
    pub fn sealed_postings(&self) -> (usize, usize) {
        self.lists().fold((0, 0), |(n, b), l| {
            (n + l.sealed_len(), b + l.compressed_bytes())
        })
    }

    /// Every posting list of both segments.
    fn lists(&self) -> impl Iterator<Item = &PostingList> {
        self.main.lists.iter().chain(&self.side.lists)
    }

    /// Heap bytes of the whole index, approximately: postings, vocabulary,
    /// per-document ids, lengths and tombstones.
    pub fn memory_bytes(&self) -> usize {
        let seg = |s: &Segment| {
            s.vocab.keys().map(|k| k.len() + 16 + 8).sum::<usize>()
                + s.lists.capacity() * std::mem::size_of::<PostingList>()
                + s.ext.capacity() * 8
                + s.lens.capacity() * 4
                + s.deleted.capacity() * 8
                + s.by_ext.capacity() * 16
        };
        self.postings_bytes() + seg(&self.main) + seg(&self.side)
    }

    /// Matching doc ids, newest (largest id) first, at most `limit`.
    ///
    /// The main segment is searched in windows of document numbers from the
    /// newest down (4096, then 4x larger each step), so a query whose recent
    /// matches fill `limit` never touches older postings.
    pub fn search(&self, q: &Query, limit: usize) -> Vec<u64> {
        let mut out = Vec::new();
        if limit == 0 {
            return out;
        }
        let mut buf = Vec::new();
        let mut hi = self.main.n_docs() as u32;
        let mut w = WINDOW0;
        while hi > 0 && out.len() < limit {
            let lo = hi.saturating_sub(w);
            buf.clear();
            self.main.matches_in(q, lo, hi, &mut buf);
            for &d in buf.iter().rev().take(limit - out.len()) {
                out.push(self.main.ext[d as usize]);
            }
            hi = lo;
            w = w.saturating_mul(4);
        }
        if self.side.live() > 0 {
            buf.clear();
            self.side
                .matches_in(q, 0, self.side.n_docs() as u32, &mut buf);
            let side = buf.iter().map(|&d| self.side.ext[d as usize]).collect();
            return bm25::merge_newest([out, side], limit);
        }
        out
    }

    /// Number of matching documents.
    pub fn count(&self, q: &Query) -> usize {
        self.main.count(q) + self.side.count(q)
    }

    /// The `limit` best matches by BM25 (see [`Bm25`] for the formula), best
    /// first, ties to the newer (larger) id.
    ///
    /// A term or an OR of terms runs block-max WAND: blocks whose score bound
    /// (from their largest term frequency and shortest document) cannot reach
    /// the current k-th score are skipped without decoding. Other queries
    /// score each match. A query with no scoring term (`-a`) ranks its matches
    /// with score 0, newest first.
    pub fn search_ranked(&self, q: &Query, limit: usize) -> Vec<(u64, f32)> {
        if limit == 0 {
            return Vec::new();
        }
        let n = (self.main.n_docs() + self.side.n_docs()) as u64;
        let total = self.main.total_len + self.side.total_len;
        let sc = Scorer::new(self.bm25, n, total);
        let terms: Vec<(&str, f32)> = q
            .scoring_terms()
            .into_iter()
            .map(|t| {
                let df = (self.main.df(t) + self.side.df(t)) as u64;
                (t, sc.weight(df))
            })
            .collect();
        let mut top = TopK::new(limit);
        bm25::top_k_segment(&self.main, q, &terms, &sc, &mut top);
        if self.side.n_docs() > 0 {
            bm25::top_k_segment(&self.side, q, &terms, &sc, &mut top);
        }
        top.into_sorted()
    }

    /// Drops tombstones and merges the side segment into the main one,
    /// renumbering documents in id order. O(postings); afterwards BM25
    /// statistics are exact again.
    pub fn compact(&mut self) {
        if self.side.n_docs() == 0 && self.main.n_deleted == 0 {
            return;
        }
        let main = std::mem::take(&mut self.main);
        let side = std::mem::take(&mut self.side);
        let mut side_live: Vec<u32> = (0..side.n_docs() as u32)
            .filter(|&d| !side.is_deleted(d))
            .collect();
        side_live.sort_unstable_by_key(|&d| side.ext[d as usize]);
        let mut new = Segment::default();
        let mut main_map = vec![u32::MAX; main.n_docs()];
        let mut side_map = vec![u32::MAX; side.n_docs()];
        let mut si = side_live.iter().peekable();
        for d in 0..main.n_docs() as u32 {
            if main.is_deleted(d) {
                continue;
            }
            let e = main.ext[d as usize];
            while let Some(&&s) = si.peek() {
                if side.ext[s as usize] < e {
                    side_map[s as usize] = new.n_docs() as u32;
                    new.push_doc(side.ext[s as usize], side.lens[s as usize]);
                    si.next();
                } else {
                    break;
                }
            }
            main_map[d as usize] = new.n_docs() as u32;
            new.push_doc(e, main.lens[d as usize]);
        }
        for &s in si {
            side_map[s as usize] = new.n_docs() as u32;
            new.push_doc(side.ext[s as usize], side.lens[s as usize]);
        }
        let mut terms: Vec<&str> = main.vocab.keys().map(|k| &**k).collect();
        terms.extend(
            side.vocab
                .keys()
                .map(|k| &**k)
                .filter(|k| !main.vocab.contains_key(*k)),
        );
        let mut buf: Vec<(u32, u32)> = Vec::new();
        for t in terms {
            buf.clear();
            if let Some(l) = main.list(t) {
                buf.extend(
                    l.iter_with_tf()
                        .map(|(d, tf)| (main_map[d as usize], tf))
                        .filter(|p| p.0 != u32::MAX),
                );
            }
            if let Some(l) = side.list(t) {
                let before = buf.len();
                buf.extend(
                    l.iter_with_tf()
                        .map(|(d, tf)| (side_map[d as usize], tf))
                        .filter(|p| p.0 != u32::MAX),
                );
                if buf.len() > before {
                    buf.sort_unstable();
                }
            }
            if buf.is_empty() {
                continue;
            }
            let mut l = PostingList::new();
            for &(d, tf) in &buf {
                l.push_unchecked(d, tf, new.lens[d as usize]);
            }
            new.vocab.insert(t.into(), new.lists.len() as u32);
            new.lists.push(l);
        }
        self.main = new;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_postings_count_full_blocks_only() {
        let mut ix = InvertedIndex::new();
        assert_eq!(ix.sealed_postings(), (0, 0));
        for d in 0..300u64 {
            let text = if d % 2 == 0 { "common even" } else { "common" };
            ix.add(d * 10, text).unwrap();
        }
        // "common": 300 postings = 2 blocks + a tail of 44; "even": 150 = 1 + 22.
        let (n, bytes) = ix.sealed_postings();
        assert_eq!(n, 3 * 128);
        // At least the 12 bytes of skip data a block; dense lists of tf 1
        // take well under a byte a posting.
        assert!((3 * 12..3 * 128).contains(&bytes), "{bytes}");
        assert!(bytes < ix.postings_bytes());
        // Out-of-order ids go to the side segment, whose blocks count too.
        for d in 0..200u64 {
            ix.add(d * 10 + 5, "side").unwrap();
        }
        assert_eq!(ix.sealed_postings().0, 4 * 128);
    }
}
