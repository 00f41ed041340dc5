//! Queries on the dynamic trie: top-k by prefix (cached or best-first),
//! in-order iteration, and bulk construction.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::trie::{TopKTrie, NONE};

/// A best-first search entry: a term, or a node keyed by its best term.
struct Cand<'a> {
    weight: u64,
    text: &'a str,
    node: u32,
    is_term: bool,
    term: u32,
}

impl PartialEq for Cand<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Cand<'_> {}
impl PartialOrd for Cand<'_> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Cand<'_> {
    /// Max-heap order: heavier first, then smaller text; a node ties with
    /// its own best term only if both are queued, which never happens.
    fn cmp(&self, o: &Self) -> Ordering {
        self.weight
            .cmp(&o.weight)
            .then_with(|| o.text.cmp(self.text))
            .then_with(|| self.is_term.cmp(&o.is_term))
    }
}

impl TopKTrie {
    /// The `k` heaviest terms starting with `prefix`, heaviest first, ties
    /// broken by term in byte order.
    ///
    /// `prefix` is a `&str`, so it always ends on a character boundary: a
    /// prefix never matches half of a multi-byte character. The empty
    /// prefix matches every term.
    ///
    /// Cost: the descent (`O(prefix length)`) plus copying `k` terms when
    /// `k <= `[`cache_size`](TopKTrie::cache_size); above it, a best-first
    /// search over the cached subtree maxima, `O(k log k)` node visits
    /// times the fan-out.
    pub fn top_k(&self, prefix: &str, k: usize) -> Vec<(String, u64)> {
        self.top_k_ids(prefix.as_bytes(), k)
            .into_iter()
            .map(|id| {
                let t = &self.terms[id as usize];
                (t.text.to_string(), t.weight)
            })
            .collect()
    }

    /// Like [`top_k`](TopKTrie::top_k) but borrows the terms: no allocation
    /// per result.
    pub fn top_k_refs(&self, prefix: &str, k: usize) -> Vec<(&str, u64)> {
        self.top_k_ids(prefix.as_bytes(), k)
            .into_iter()
            .map(|id| {
                let t = &self.terms[id as usize];
                (&*t.text, t.weight)
            })
            .collect()
    }

    /// The number of terms starting with `prefix` (walks the subtree).
    pub fn count_prefix(&self, prefix: &str) -> usize {
        match self.find_prefix(prefix.as_bytes()) {
            Some(v) => self.subtree_iter(v).count(),
            None => 0,
        }
    }

    pub(crate) fn top_k_ids(&self, prefix: &[u8], k: usize) -> Vec<u32> {
        if k == 0 {
            return Vec::new();
        }
        match self.find_prefix(prefix) {
            Some(v) => self.node_top_k(v, k),
            None => Vec::new(),
        }
    }

    /// Top `k` of node `v`'s subtree, as term ids.
    pub(crate) fn node_top_k(&self, v: u32, k: usize) -> Vec<u32> {
        let top = self.top(v);
        // The cached list is the whole answer when it is long enough, or
        // when it is not full (then it holds the entire subtree).
        if k <= top.len() || top.len() < self.k {
            return top[..k.min(top.len())].to_vec();
        }
        self.best_first(v, k)
    }

    fn cand_node(&self, v: u32) -> Option<Cand<'_>> {
        let n = &self.nodes[v as usize];
        if n.slot == NONE {
            return Some(self.cand_term(n.term));
        }
        let best = *self.top(v).first()?;
        let t = &self.terms[best as usize];
        Some(Cand {
            weight: t.weight,
            text: &t.text,
            node: v,
            is_term: false,
            term: best,
        })
    }

    fn cand_term(&self, id: u32) -> Cand<'_> {
        let t = &self.terms[id as usize];
        Cand {
            weight: t.weight,
            text: &t.text,
            node: NONE,
            is_term: true,
            term: id,
        }
    }

    /// Exact top-k for any k: pops nodes in the order of their best term
    /// (the cached top-1 is an upper bound for the whole subtree, and a
    /// tight one), expanding them into their own term and children.
    fn best_first(&self, v: u32, k: usize) -> Vec<u32> {
        let mut out = Vec::with_capacity(k.min(self.len));
        let mut heap = BinaryHeap::new();
        heap.extend(self.cand_node(v));
        while let Some(c) = heap.pop() {
            if c.is_term {
                out.push(c.term);
                if out.len() == k {
                    break;
                }
                continue;
            }
            let n = &self.nodes[c.node as usize];
            if n.term != NONE {
                heap.push(self.cand_term(n.term));
            }
            for &(_, ch) in &n.children {
                heap.extend(self.cand_node(ch));
            }
        }
        out
    }

    /// All terms with their weights, in byte order of the terms.
    pub fn iter(&self) -> Iter<'_> {
        self.subtree_iter(0)
    }

    /// All terms starting with `prefix` with their weights, in byte order.
    pub fn iter_prefix(&self, prefix: &str) -> Iter<'_> {
        match self.find_prefix(prefix.as_bytes()) {
            Some(v) => self.subtree_iter(v),
            None => Iter {
                trie: self,
                stack: Vec::new(),
                remaining: Some(0),
            },
        }
    }

    fn subtree_iter(&self, v: u32) -> Iter<'_> {
        Iter {
            trie: self,
            stack: vec![v],
            remaining: (v == 0).then_some(self.len),
        }
    }

    /// Freezes into the compact read-only form (see [`FrozenTrie`](crate::FrozenTrie)).
    pub fn freeze(&self) -> crate::FrozenTrie {
        // In-order iteration is sorted and unique, which is all the sorted
        // builder asks; the trie holds fewer than u32::MAX terms.
        crate::FrozenTrie::from_sorted(self.iter())
            .expect("a trie iterates sorted, unique, and fewer than u32::MAX terms")
    }

    /// The trie as bytes: the [`FrozenTrie`](crate::FrozenTrie) format
    /// (versioned, checksummed), so either form can load it.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.freeze().to_bytes()
    }

    /// Loads bytes written by [`to_bytes`](TopKTrie::to_bytes) or
    /// [`FrozenTrie::to_bytes`](crate::FrozenTrie::to_bytes) into a dynamic
    /// trie with the default cache size. Corrupt input is an `Err`.
    pub fn from_bytes(bytes: &[u8]) -> Result<TopKTrie, crate::Error> {
        Ok(crate::FrozenTrie::from_bytes(bytes)?.thaw())
    }
}

/// An iterator over `(term, weight)` in byte order of the terms.
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    trie: &'a TopKTrie,
    stack: Vec<u32>,
    /// Exact count when iterating the whole trie (for `size_hint`).
    remaining: Option<usize>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, u64);

    fn next(&mut self) -> Option<(&'a str, u64)> {
        while let Some(v) = self.stack.pop() {
            let n = &self.trie.nodes[v as usize];
            // Children in reverse, so the smallest byte pops first; the
            // node's own term is a prefix of all of theirs, so it comes first.
            self.stack.extend(n.children.iter().rev().map(|&(_, c)| c));
            if n.term != NONE {
                let t = &self.trie.terms[n.term as usize];
                if let Some(r) = &mut self.remaining {
                    *r -= 1;
                }
                return Some((&t.text, t.weight));
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.remaining {
            Some(r) => (r, Some(r)),
            None => (usize::from(!self.stack.is_empty()), None),
        }
    }
}

impl<'a> IntoIterator for &'a TopKTrie {
    type Item = (&'a str, u64);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Sorts by term and keeps the last weight given for each term (the same
/// as inserting them one by one).
pub(crate) fn sort_dedup_last(mut v: Vec<(String, u64)>) -> Vec<(String, u64)> {
    // Stable sort keeps duplicates in input order, so the last one wins.
    v.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<(String, u64)> = Vec::with_capacity(v.len());
    for (t, w) in v {
        match out.last_mut() {
            Some(last) if last.0 == t => last.1 = w,
            _ => out.push((t, w)),
        }
    }
    out
}

impl FromIterator<(String, u64)> for TopKTrie {
    /// Bulk build: sorts the terms, then builds the radix trie and every
    /// cached list bottom-up in one pass. A term given twice keeps the last
    /// weight, as with repeated [`insert`](TopKTrie::insert).
    fn from_iter<I: IntoIterator<Item = (String, u64)>>(iter: I) -> TopKTrie {
        let v = sort_dedup_last(iter.into_iter().collect());
        TopKTrie::from_sorted_unique(v, crate::DEFAULT_CACHE_SIZE)
    }
}

impl<'a> FromIterator<(&'a str, u64)> for TopKTrie {
    /// Bulk build from borrowed terms (see the `String` version).
    fn from_iter<I: IntoIterator<Item = (&'a str, u64)>>(iter: I) -> TopKTrie {
        iter.into_iter().map(|(t, w)| (t.to_string(), w)).collect()
    }
}

impl TopKTrie {
    /// Bulk build with a chosen cache size (see [`with_cache_size`](TopKTrie::with_cache_size)).
    pub fn from_iter_with_cache_size<I: IntoIterator<Item = (String, u64)>>(
        iter: I,
        k: usize,
    ) -> Result<TopKTrie, crate::Error> {
        TopKTrie::with_cache_size(k)?;
        let v = sort_dedup_last(iter.into_iter().collect());
        Ok(TopKTrie::from_sorted_unique(v, k))
    }
}

impl Extend<(String, u64)> for TopKTrie {
    /// Inserts each pair (sets the weight, like [`insert`](TopKTrie::insert)).
    fn extend<I: IntoIterator<Item = (String, u64)>>(&mut self, iter: I) {
        for (t, w) in iter {
            self.insert(&t, w);
        }
    }
}

impl<'a> Extend<(&'a str, u64)> for TopKTrie {
    /// Inserts each pair (sets the weight, like [`insert`](TopKTrie::insert)).
    fn extend<I: IntoIterator<Item = (&'a str, u64)>>(&mut self, iter: I) {
        for (t, w) in iter {
            self.insert(t, w);
        }
    }
}

impl PartialEq for TopKTrie {
    /// Two tries are equal when they hold the same terms with the same
    /// weights (the cache size does not matter).
    fn eq(&self, o: &Self) -> bool {
        self.len == o.len && self.iter().eq(o.iter())
    }
}
impl Eq for TopKTrie {}
