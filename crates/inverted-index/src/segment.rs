//! A segment: documents numbered `0..n` in arrival order, so every posting list
//! only ever appends. The index keeps two (see `index.rs`).

use crate::eval::Node;
use crate::postings::PostingList;
use crate::query::Query;
use crate::tokenize::Tokens;
use ahash::AHashMap;

/// Reusable buffers for ingest: no allocation per token.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scratch {
    word: String,
    ids: Vec<u32>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Segment {
    pub vocab: AHashMap<Box<str>, u32>,
    pub lists: Vec<PostingList>,
    /// External id of each document number.
    pub ext: Vec<u64>,
    /// Token count of each document.
    pub lens: Vec<u32>,
    /// Tombstones, one bit per document number.
    pub deleted: Vec<u64>,
    pub n_deleted: usize,
    pub total_len: u64,
    /// The side segment's live documents by external id (its `ext` is not
    /// sorted); unused in the main segment, whose `ext` is sorted.
    pub by_ext: AHashMap<u64, u32>,
}

impl Segment {
    pub(crate) fn n_docs(&self) -> usize {
        self.ext.len()
    }

    pub(crate) fn live(&self) -> usize {
        self.ext.len() - self.n_deleted
    }

    #[inline]
    pub(crate) fn is_deleted(&self, d: u32) -> bool {
        self.deleted[(d >> 6) as usize] >> (d & 63) & 1 == 1
    }

    pub(crate) fn delete(&mut self, d: u32) {
        self.deleted[(d >> 6) as usize] |= 1 << (d & 63);
        self.n_deleted += 1;
    }

    /// Document frequency (tombstoned documents included until compaction).
    pub(crate) fn df(&self, term: &str) -> usize {
        self.vocab
            .get(term)
            .map_or(0, |&t| self.lists[t as usize].len())
    }

    pub(crate) fn list(&self, term: &str) -> Option<&PostingList> {
        self.vocab.get(term).map(|&t| &self.lists[t as usize])
    }

    /// Appends a document; returns its number.
    pub(crate) fn add(&mut self, ext: u64, text: &str, s: &mut Scratch) -> u32 {
        let local = self.ext.len() as u32;
        s.ids.clear();
        let mut toks = Tokens::new(text);
        while toks.next_into(&mut s.word).is_some() {
            let id = match self.vocab.get(s.word.as_str()) {
                Some(&id) => id,
                None => {
                    let id = self.lists.len() as u32;
                    self.vocab.insert(s.word.as_str().into(), id);
                    self.lists.push(PostingList::new());
                    id
                }
            };
            s.ids.push(id);
        }
        let len = s.ids.len() as u32;
        self.push_doc(ext, len);
        s.ids.sort_unstable();
        let mut i = 0;
        while i < s.ids.len() {
            let t = s.ids[i];
            let mut j = i + 1;
            while j < s.ids.len() && s.ids[j] == t {
                j += 1;
            }
            self.lists[t as usize].push_unchecked(local, (j - i) as u32, len);
            i = j;
        }
        local
    }

    /// Registers a document's number, external id and length (postings are
    /// added by the caller).
    pub(crate) fn push_doc(&mut self, ext: u64, len: u32) {
        let local = self.ext.len();
        self.ext.push(ext);
        self.lens.push(len);
        if local.is_multiple_of(64) {
            self.deleted.push(0);
        }
        self.total_len += len as u64;
    }

    /// Compiles a query into cursors over this segment.
    pub(crate) fn compile<'a>(&'a self, q: &Query) -> Node<'a> {
        match q {
            Query::Term(t) => self.list(t).map_or(Node::Empty, Node::term),
            Query::And(kids) => {
                let mut pos = Vec::new();
                let mut neg = Vec::new();
                let mut terms = Vec::new();
                let mut absent = false;
                self.collect_and(kids, &mut pos, &mut neg, &mut terms, &mut absent);
                if absent {
                    return Node::Empty;
                }
                // Two or more plain terms: one block-at-a-time conjunction.
                if terms.len() >= 2 {
                    pos.push(Node::conj(terms));
                } else {
                    pos.extend(terms.into_iter().map(Node::term));
                }
                if pos.is_empty() {
                    pos.push(Node::all(self.n_docs() as u32));
                }
                Node::and_not(pos, neg)
            }
            Query::Or(kids) => Node::or_of(kids.iter().map(|k| self.compile(k)).collect()),
            Query::Not(inner) => Node::and_not(
                vec![Node::all(self.n_docs() as u32)],
                vec![self.compile(inner)],
            ),
        }
    }

    /// Sorts the children of an AND (nested ANDs flattened: AND is
    /// associative) into plain terms' lists, other positive children and
    /// negated ones. A term absent from the segment sets `absent`.
    fn collect_and<'a>(
        &'a self,
        kids: &[Query],
        pos: &mut Vec<Node<'a>>,
        neg: &mut Vec<Node<'a>>,
        terms: &mut Vec<&'a PostingList>,
        absent: &mut bool,
    ) {
        for k in kids {
            match k {
                Query::Not(inner) => neg.push(self.compile(inner)),
                Query::And(inner) => self.collect_and(inner, pos, neg, terms, absent),
                Query::Term(t) => match self.list(t) {
                    Some(l) if !l.is_empty() => terms.push(l),
                    _ => *absent = true,
                },
                k => pos.push(self.compile(k)),
            }
        }
    }

    /// Live matches in `lo..hi`, ascending, appended to `out`.
    pub(crate) fn matches_in(&self, q: &Query, lo: u32, hi: u32, out: &mut Vec<u32>) {
        let mut n = self.compile(q);
        let mut d = n.advance(lo);
        while d < hi {
            if !self.is_deleted(d) {
                out.push(d);
            }
            d = n.next();
        }
    }

    pub(crate) fn count(&self, q: &Query) -> usize {
        if let Query::Term(t) = q {
            if self.n_deleted == 0 {
                return self.df(t);
            }
        }
        let mut n = self.compile(q);
        let mut c = 0;
        let mut d = n.doc();
        while d != crate::postings::END {
            c += !self.is_deleted(d) as usize;
            d = n.next();
        }
        c
    }
}
