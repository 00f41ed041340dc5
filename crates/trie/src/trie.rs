//! The dynamic trie: a byte-wise radix (path-compressed) trie whose every
//! inner node caches the ids of the `K` heaviest terms of its subtree.
//!
//! Layout (why it looks like this):
//! - Nodes live in one `Vec` and point at each other by `u32` index: no
//!   pointer chasing through `Box`es, cheap `Clone`, and a free list reuses
//!   the slots of removed nodes.
//! - A node does not store its edge label. The label is a slice of *any*
//!   term in its subtree (all of them share the path), and the node's own
//!   cached top-1 (or, for a leaf, its term) is always such a term. This
//!   saves a label allocation per node and never needs garbage collection.
//! - The cached top-`K` lists of inner nodes live in one flat `Vec<u32>`
//!   (`K` slots per inner node). A leaf's list is just its own term, so
//!   leaves (about half the nodes) carry none.

use crate::Error;

/// Marks "no term" / "no slot".
pub(crate) const NONE: u32 = u32::MAX;

/// The default number of completions each node caches: 10 is what
/// type-ahead boxes show (Google, Bing and most sites show 8 to 10).
pub const DEFAULT_CACHE_SIZE: usize = 10;

/// The largest per-node cache a trie accepts; the cache costs `4 * K` bytes
/// per inner node, so a huge `K` only wastes memory: ask for more than `K`
/// results and [`TopKTrie::top_k`] falls back to a best-first search.
pub const MAX_CACHE_SIZE: usize = 256;

#[derive(Clone, Debug)]
pub(crate) struct Node {
    /// Children, sorted by the first byte of their label.
    pub(crate) children: Vec<(u8, u32)>,
    /// Byte depth at the end of this node's label (= length of its path).
    pub(crate) depth: u32,
    /// Length in bytes of the edge label from the parent.
    pub(crate) label_len: u32,
    /// The term that ends exactly here, or `NONE`.
    pub(crate) term: u32,
    /// Index of this node's cached list in `tops` (`K` entries), or `NONE`
    /// for a leaf, whose list is its own term.
    pub(crate) slot: u32,
    /// Number of valid entries in the cached list.
    pub(crate) top_len: u32,
}

impl Node {
    /// A node with no term, no children and no cached list yet.
    fn bare(depth: usize, label_len: usize) -> Node {
        Node {
            children: Vec::new(),
            depth: depth as u32,
            label_len: label_len as u32,
            term: NONE,
            slot: NONE,
            top_len: 0,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Term {
    pub(crate) text: Box<str>,
    pub(crate) weight: u64,
}

/// A dynamic top-k completion trie: the type-ahead suggester's index.
///
/// Each term (a search query, a word, a phrase) carries a weight (how often
/// it was searched). [`top_k(prefix, k)`](TopKTrie::top_k) returns the `k`
/// heaviest terms starting with `prefix`, heaviest first, ties broken by
/// term in byte order. Every inner node caches its subtree's `K` heaviest
/// terms ([`cache_size`](TopKTrie::cache_size), default 10), and updates
/// keep every cache exact, so a query costs one descent along the prefix
/// plus copying the answer: no subtree scan however many terms match.
/// Asking for more than `K` results stays exact: the trie then runs a
/// best-first search guided by the cached maxima.
///
/// Terms are compared as bytes and are case-sensitive; fold case with
/// [`normalize`](crate::normalize) on both insert and query if you want
/// case-insensitive suggestions.
///
/// ```
/// use hld_trie::TopKTrie;
///
/// let mut t = TopKTrie::new();
/// t.insert("rust", 50);
/// t.insert("ruby", 30);
/// t.insert("rugby", 30);
/// t.add("ruby", 5); // a user searched "ruby" five more times
/// assert_eq!(t.top_k("ru", 2), vec![("rust".to_string(), 50), ("ruby".to_string(), 35)]);
/// assert_eq!(t.remove("rust"), Some(50));
/// assert_eq!(t.top_k("ru", 10).len(), 2);
/// ```
#[derive(Clone)]
pub struct TopKTrie {
    pub(crate) nodes: Vec<Node>,
    pub(crate) free_nodes: Vec<u32>,
    pub(crate) tops: Vec<u32>,
    pub(crate) free_slots: Vec<u32>,
    pub(crate) terms: Vec<Term>,
    pub(crate) free_terms: Vec<u32>,
    pub(crate) len: usize,
    pub(crate) k: usize,
}

impl Default for TopKTrie {
    fn default() -> Self {
        TopKTrie::new()
    }
}

impl std::fmt::Debug for TopKTrie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (t, w) in self.iter().take(32) {
            m.entry(&t, &w);
        }
        m.finish()?;
        if self.len > 32 {
            write!(f, " (+{} more)", self.len - 32)?;
        }
        Ok(())
    }
}

impl TopKTrie {
    /// An empty trie caching the top [`DEFAULT_CACHE_SIZE`] (10) per node.
    pub fn new() -> TopKTrie {
        TopKTrie::with_k(DEFAULT_CACHE_SIZE)
    }

    /// An empty trie whose nodes cache their `k` heaviest terms. Queries for
    /// up to `k` results cost a descent plus a copy; more than `k` stays
    /// exact but runs a best-first search. `k` must be in
    /// `1..=`[`MAX_CACHE_SIZE`].
    pub fn with_cache_size(k: usize) -> Result<TopKTrie, Error> {
        if k == 0 || k > MAX_CACHE_SIZE {
            return Err(Error::CacheSize(k));
        }
        Ok(TopKTrie::with_k(k))
    }

    fn with_k(k: usize) -> TopKTrie {
        let mut t = TopKTrie {
            nodes: Vec::new(),
            free_nodes: Vec::new(),
            tops: Vec::new(),
            free_slots: Vec::new(),
            terms: Vec::new(),
            free_terms: Vec::new(),
            len: 0,
            k,
        };
        let root = Node {
            slot: t.alloc_slot(),
            ..Node::bare(0, 0)
        };
        t.nodes.push(root);
        t
    }

    /// The number of completions each node caches (`K`).
    pub fn cache_size(&self) -> usize {
        self.k
    }

    /// The number of terms.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the trie holds no term.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes every term, keeping the cache size.
    pub fn clear(&mut self) {
        *self = TopKTrie::with_k(self.k);
    }

    /// The weight of `term`, if present.
    pub fn weight(&self, term: &str) -> Option<u64> {
        let v = self.find_exact(term.as_bytes())?;
        Some(self.terms[self.nodes[v as usize].term as usize].weight)
    }

    /// Same as [`weight`](TopKTrie::weight) (the `std` map name).
    pub fn get(&self, term: &str) -> Option<u64> {
        self.weight(term)
    }

    /// True if `term` is present.
    pub fn contains(&self, term: &str) -> bool {
        self.find_exact(term.as_bytes()).is_some()
    }

    /// Sets the weight of `term`, inserting it if absent.
    ///
    /// Cost: one descent, plus a fix of the cached lists on the path, which
    /// stops at the first node whose list the term neither was nor is in.
    /// A weight decrease that pushes a term out of a full list refills that
    /// list from the children's lists (`O(K * children)`).
    ///
    /// # Panics
    /// Only on capacity overflow: more than `u32::MAX - 1` terms or nodes,
    /// or a term longer than `u32::MAX` bytes.
    pub fn insert(&mut self, term: &str, weight: u64) {
        self.upsert(term, |_| weight);
    }

    /// Adds `delta` to the weight of `term` (inserting it with weight
    /// `delta` if absent), saturating at `u64::MAX`. This is what a
    /// type-ahead aggregator calls for each search it counts.
    pub fn add(&mut self, term: &str, delta: u64) {
        self.upsert(term, |old| old.unwrap_or(0).saturating_add(delta));
    }

    /// Removes `term`, returning its weight if it was present.
    pub fn remove(&mut self, term: &str) -> Option<u64> {
        let t = term.as_bytes();
        let mut path: Vec<u32> = Vec::with_capacity(16);
        let mut v = 0u32;
        loop {
            path.push(v);
            let n = &self.nodes[v as usize];
            let d = n.depth as usize;
            if d == t.len() {
                break;
            }
            let c = self.child(v, t[d])?;
            let label = self.label(c);
            let rem = &t[d..];
            if rem.len() < label.len() || &rem[..label.len()] != label {
                return None;
            }
            v = c;
        }
        let id = self.nodes[v as usize].term;
        if id == NONE {
            return None;
        }
        let weight = self.terms[id as usize].weight;
        self.nodes[v as usize].term = NONE;

        // Structural fix: keep the radix invariant (a non-root node without
        // a term has at least two children).
        if v != 0 {
            let nchildren = self.nodes[v as usize].children.len();
            if nchildren == 0 {
                path.pop();
                let p = *path.last().expect("root is on the path");
                self.detach_child(p, v);
                self.free_node(v);
                if p != 0 {
                    let pn = &self.nodes[p as usize];
                    if pn.children.is_empty() {
                        // p has a term (invariant), so it becomes a leaf.
                        let slot = pn.slot;
                        self.free_slot(slot);
                        let pn = &mut self.nodes[p as usize];
                        pn.slot = NONE;
                        pn.top_len = 0;
                    } else if pn.children.len() == 1 && pn.term == NONE {
                        path.pop();
                        let gp = *path.last().expect("root is on the path");
                        self.merge_into_child(gp, p);
                    }
                }
            } else if nchildren == 1 {
                path.pop();
                let p = *path.last().expect("root is on the path");
                self.merge_into_child(p, v);
            }
        }

        // Cached lists: drop the term bottom-up, refilling full lists from
        // the children. A node whose list does not hold the term proves
        // that no ancestor's list holds it either.
        for &u in path.iter().rev() {
            let n = &self.nodes[u as usize];
            if n.slot == NONE {
                continue;
            }
            let s = n.slot as usize * self.k;
            let len = n.top_len as usize;
            let Some(pos) = self.tops[s..s + len].iter().position(|&x| x == id) else {
                break;
            };
            if len == self.k {
                self.recompute(u);
            } else {
                self.tops.copy_within(s + pos + 1..s + len, s + pos);
                self.nodes[u as usize].top_len -= 1;
            }
        }

        self.terms[id as usize] = Term::default();
        self.free_terms.push(id);
        self.len -= 1;
        Some(weight)
    }

    // ----- internals -------------------------------------------------------

    /// `a` ranks before `b`: heavier, or as heavy and smaller in byte order.
    #[inline]
    pub(crate) fn better(&self, a: u32, b: u32) -> bool {
        let (ta, tb) = (&self.terms[a as usize], &self.terms[b as usize]);
        ta.weight > tb.weight || (ta.weight == tb.weight && ta.text < tb.text)
    }

    /// The cached list of `v` (a leaf's is its own term).
    #[inline]
    pub(crate) fn top(&self, v: u32) -> &[u32] {
        let n = &self.nodes[v as usize];
        if n.slot == NONE {
            std::slice::from_ref(&n.term)
        } else {
            let s = n.slot as usize * self.k;
            &self.tops[s..s + n.top_len as usize]
        }
    }

    /// The edge label leading into `v`, read from a term of its subtree.
    #[inline]
    pub(crate) fn label(&self, v: u32) -> &[u8] {
        let n = &self.nodes[v as usize];
        if n.label_len == 0 {
            return &[];
        }
        let src = if n.slot == NONE {
            n.term
        } else {
            self.tops[n.slot as usize * self.k]
        };
        let end = n.depth as usize;
        &self.terms[src as usize].text.as_bytes()[end - n.label_len as usize..end]
    }

    #[inline]
    pub(crate) fn child(&self, v: u32, b: u8) -> Option<u32> {
        let ch = &self.nodes[v as usize].children;
        ch.binary_search_by_key(&b, |&(k, _)| k)
            .ok()
            .map(|i| ch[i].1)
    }

    /// The node whose subtree is exactly the terms starting with `p`.
    ///
    /// A "blind" descent (as in PATRICIA, Morrison 1968): follow children by
    /// the byte at each node's depth without reading the edge labels, which
    /// live in term text elsewhere in memory (a cache miss each); then check
    /// the prefix once against one term of the subtree reached. If the
    /// prefix occurs at all, this is the only path it can take, and every
    /// term below shares the checked bytes.
    pub(crate) fn find_prefix(&self, p: &[u8]) -> Option<u32> {
        let mut v = 0u32;
        loop {
            let d = self.nodes[v as usize].depth as usize;
            if d >= p.len() {
                break;
            }
            v = self.child(v, p[d])?;
        }
        if v != 0 {
            let n = &self.nodes[v as usize];
            let rep = if n.slot == NONE {
                n.term
            } else {
                self.tops[n.slot as usize * self.k]
            };
            if !self.terms[rep as usize].text.as_bytes().starts_with(p) {
                return None;
            }
        }
        Some(v)
    }

    /// The node where the term `t` ends, if `t` is present.
    pub(crate) fn find_exact(&self, t: &[u8]) -> Option<u32> {
        let v = self.find_prefix(t)?;
        let n = &self.nodes[v as usize];
        (n.depth as usize == t.len() && n.term != NONE).then_some(v)
    }

    fn alloc_slot(&mut self) -> u32 {
        if let Some(s) = self.free_slots.pop() {
            return s;
        }
        let s = self.tops.len() / self.k;
        assert!(s < NONE as usize, "hld-trie: too many nodes");
        self.tops.resize(self.tops.len() + self.k, NONE);
        s as u32
    }

    fn free_slot(&mut self, s: u32) {
        if s != NONE {
            self.free_slots.push(s);
        }
    }

    fn alloc_node(&mut self, n: Node) -> u32 {
        if let Some(v) = self.free_nodes.pop() {
            self.nodes[v as usize] = n;
            return v;
        }
        let v = self.nodes.len();
        assert!(v < NONE as usize, "hld-trie: too many nodes");
        self.nodes.push(n);
        v as u32
    }

    fn free_node(&mut self, v: u32) {
        let n = &mut self.nodes[v as usize];
        n.children = Vec::new();
        n.term = NONE;
        let slot = std::mem::replace(&mut n.slot, NONE);
        n.top_len = 0;
        self.free_slot(slot);
        self.free_nodes.push(v);
    }

    fn alloc_term(&mut self, text: &str) -> u32 {
        let t = Term {
            text: text.into(),
            weight: 0,
        };
        if let Some(id) = self.free_terms.pop() {
            self.terms[id as usize] = t;
            return id;
        }
        let id = self.terms.len();
        assert!(id < NONE as usize, "hld-trie: too many terms");
        self.terms.push(t);
        id as u32
    }

    fn detach_child(&mut self, p: u32, c: u32) {
        let ch = &mut self.nodes[p as usize].children;
        if let Some(i) = ch.iter().position(|&(_, x)| x == c) {
            ch.remove(i);
        }
    }

    /// Replaces `v` (no term, one child) by its only child under parent `p`.
    fn merge_into_child(&mut self, p: u32, v: u32) {
        let c = self.nodes[v as usize].children[0].1;
        let extra = self.nodes[v as usize].label_len;
        self.nodes[c as usize].label_len += extra;
        for e in self.nodes[p as usize].children.iter_mut() {
            if e.1 == v {
                e.1 = c;
            }
        }
        self.free_node(v);
    }

    /// Gives leaf `v` a cached list (holding its own term) before it gains a child.
    fn make_inner(&mut self, v: u32) {
        if self.nodes[v as usize].slot == NONE {
            let s = self.alloc_slot();
            let term = self.nodes[v as usize].term;
            self.tops[s as usize * self.k] = term;
            let n = &mut self.nodes[v as usize];
            n.slot = s;
            n.top_len = 1;
        }
    }

    fn upsert(&mut self, term: &str, f: impl FnOnce(Option<u64>) -> u64) {
        let t = term.as_bytes();
        assert!(t.len() < u32::MAX as usize, "hld-trie: term too long");
        let mut path: Vec<u32> = Vec::with_capacity(16);
        let mut v = 0u32;
        loop {
            path.push(v);
            let d = self.nodes[v as usize].depth as usize;
            if d == t.len() {
                break;
            }
            let b = t[d];
            let ch = &self.nodes[v as usize].children;
            match ch.binary_search_by_key(&b, |&(k, _)| k) {
                Err(pos) => {
                    let leaf = self.alloc_node(Node::bare(t.len(), t.len() - d));
                    self.make_inner(v);
                    self.nodes[v as usize].children.insert(pos, (b, leaf));
                    path.push(leaf);
                    v = leaf;
                    break;
                }
                Ok(ci) => {
                    let c = ch[ci].1;
                    let label = self.label(c);
                    let rem = &t[d..];
                    let m = label.iter().zip(rem).take_while(|(a, b)| a == b).count();
                    if m == label.len() {
                        v = c;
                        continue;
                    }
                    // Split the edge into `c` after `m` bytes.
                    let next_label_byte = label[m];
                    let slot = self.alloc_slot();
                    let (cs, clen) = {
                        let cn = &self.nodes[c as usize];
                        (cn.slot, cn.top_len)
                    };
                    let s = slot as usize * self.k;
                    if cs == NONE {
                        self.tops[s] = self.nodes[c as usize].term;
                    } else {
                        let cs = cs as usize * self.k;
                        self.tops.copy_within(cs..cs + clen as usize, s);
                    }
                    let mid = self.alloc_node(Node {
                        children: vec![(next_label_byte, c)],
                        depth: (d + m) as u32,
                        label_len: m as u32,
                        term: NONE,
                        slot,
                        top_len: if cs == NONE { 1 } else { clen },
                    });
                    self.nodes[c as usize].label_len -= m as u32;
                    self.nodes[v as usize].children[ci].1 = mid;
                    path.push(mid);
                    v = mid;
                    if m < rem.len() {
                        let leaf = self.alloc_node(Node::bare(t.len(), rem.len() - m));
                        let nb = rem[m];
                        let ch = &mut self.nodes[mid as usize].children;
                        let pos = ch.partition_point(|&(k, _)| k < nb);
                        ch.insert(pos, (nb, leaf));
                        path.push(leaf);
                        v = leaf;
                    }
                    break;
                }
            }
        }

        let (id, old) = match self.nodes[v as usize].term {
            NONE => {
                let id = self.alloc_term(term);
                self.nodes[v as usize].term = id;
                self.len += 1;
                (id, None)
            }
            id => (id, Some(self.terms[id as usize].weight)),
        };
        let new = f(old);
        if old == Some(new) {
            return;
        }
        self.terms[id as usize].weight = new;
        let decreased = old.is_some_and(|o| new < o);
        for &u in path.iter().rev() {
            if self.nodes[u as usize].slot == NONE {
                continue;
            }
            if !self.offer(u, id, decreased) {
                break;
            }
        }
    }

    /// Repairs `u`'s cached list after the weight of `id` changed (or `id`
    /// joined the subtree). Returns false if the list neither held nor now
    /// holds `id`: then no ancestor's list changes either.
    fn offer(&mut self, u: u32, id: u32, decreased: bool) -> bool {
        let k = self.k;
        let n = &self.nodes[u as usize];
        let s = n.slot as usize * k;
        let mut len = n.top_len as usize;
        let pos = self.tops[s..s + len].iter().position(|&x| x == id);
        match pos {
            Some(p) => {
                self.tops.copy_within(s + p + 1..s + len, s + p);
                len -= 1;
                let q = self.insertion_point(s, len, id);
                self.tops.copy_within(s + q..s + len, s + q + 1);
                self.tops[s + q] = id;
                len += 1;
                if decreased && len == k && q == len - 1 {
                    // `id` fell to the last place of a full list: a term
                    // outside the list may now beat it.
                    self.recompute(u);
                }
                true
            }
            None => {
                if len == k {
                    if !self.better(id, self.tops[s + k - 1]) {
                        return false;
                    }
                    len -= 1;
                }
                let q = self.insertion_point(s, len, id);
                self.tops.copy_within(s + q..s + len, s + q + 1);
                self.tops[s + q] = id;
                self.nodes[u as usize].top_len = (len + 1) as u32;
                true
            }
        }
    }

    /// First index in `tops[s..s+len]` whose term `id` ranks before.
    #[inline]
    fn insertion_point(&self, s: usize, len: usize, id: u32) -> usize {
        self.tops[s..s + len]
            .iter()
            .position(|&x| self.better(id, x))
            .unwrap_or(len)
    }

    /// Rebuilds `u`'s cached list from its own term and its children's
    /// lists: a `K`-way selection, `O(K * children)`.
    pub(crate) fn recompute(&mut self, u: u32) {
        let k = self.k;
        let n = &self.nodes[u as usize];
        let mut own = n.term;
        let mut cursors: Vec<(u32, u32)> = n.children.iter().map(|&(_, c)| (c, 0)).collect();
        let mut out: Vec<u32> = Vec::with_capacity(k);
        while out.len() < k {
            let mut best = own;
            let mut from = usize::MAX;
            for (i, &(c, p)) in cursors.iter().enumerate() {
                let top = self.top(c);
                if let Some(&cand) = top.get(p as usize) {
                    if best == NONE || self.better(cand, best) {
                        best = cand;
                        from = i;
                    }
                }
            }
            if best == NONE {
                break;
            }
            out.push(best);
            if from == usize::MAX {
                own = NONE;
            } else {
                cursors[from].1 += 1;
            }
        }
        let s = self.nodes[u as usize].slot as usize * k;
        self.tops[s..s + out.len()].copy_from_slice(&out);
        self.nodes[u as usize].top_len = out.len() as u32;
    }

    /// Builds from terms sorted by bytes without duplicates.
    pub(crate) fn from_sorted_unique(pairs: Vec<(String, u64)>, k: usize) -> TopKTrie {
        let mut t = TopKTrie::with_k(k);
        if pairs.is_empty() {
            return t;
        }
        assert!(pairs.len() < NONE as usize, "hld-trie: too many terms");
        t.len = pairs.len();
        t.terms = pairs
            .into_iter()
            .map(|(s, w)| Term {
                text: s.into_boxed_str(),
                weight: w,
            })
            .collect();
        // Top-down: each stack entry is a node and the term range it covers.
        let mut stack: Vec<(u32, usize, usize)> = vec![(0, 0, t.terms.len())];
        while let Some((v, mut lo, hi)) = stack.pop() {
            let d = t.nodes[v as usize].depth as usize;
            if t.terms[lo].text.len() == d {
                t.nodes[v as usize].term = lo as u32;
                lo += 1;
            }
            let mut children = Vec::new();
            while lo < hi {
                let b = t.terms[lo].text.as_bytes()[d];
                let end = lo + t.terms[lo..hi].partition_point(|x| x.text.as_bytes()[d] == b);
                let (first, last) = (
                    t.terms[lo].text.as_bytes(),
                    t.terms[end - 1].text.as_bytes(),
                );
                let lcp = d + first[d..]
                    .iter()
                    .zip(&last[d..])
                    .take_while(|(a, b)| a == b)
                    .count();
                let c = t.alloc_node(Node::bare(lcp, lcp - d));
                children.push((b, c));
                stack.push((c, lo, end));
                lo = end;
            }
            t.nodes[v as usize].children = children;
        }
        // Bottom-up: children have larger indices than their parent.
        for u in (0..t.nodes.len() as u32).rev() {
            if u == 0 || !t.nodes[u as usize].children.is_empty() {
                if t.nodes[u as usize].slot == NONE {
                    let s = t.alloc_slot();
                    t.nodes[u as usize].slot = s;
                }
                t.recompute(u);
            }
        }
        t
    }

    /// Approximate heap memory in bytes (nodes, caches, terms and their text).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let nodes = self.nodes.capacity() * size_of::<Node>()
            + self
                .nodes
                .iter()
                .map(|n| n.children.capacity() * size_of::<(u8, u32)>())
                .sum::<usize>();
        let terms = self.terms.capacity() * size_of::<Term>()
            + self.terms.iter().map(|t| t.text.len()).sum::<usize>();
        nodes
            + terms
            + self.tops.capacity() * 4
            + (self.free_nodes.capacity() + self.free_slots.capacity() + self.free_terms.capacity())
                * 4
    }
}
