//! Boolean evaluation: a tree of forward cursors, document at a time.
//!
//! An AND of two or more plain terms is a [`Node::Conj`], evaluated block at
//! a time by `intersect.rs` while it leads. Any other AND leapfrogs: the cheapest child leads and the others `advance` to its
//! candidate through their skip data (galloping over block maxima, then a scan
//! of one decoded block), so a short list against a long one decodes only the
//! long list's blocks the short one lands in. OR merges its children's heads.
//! NOT is a filter on an AND; a NOT with nothing positive beside it (`-a`, or
//! `a OR -b`) is read against the set of all documents.

use crate::intersect::Conj;
use crate::postings::{Cursor, PostingList, END};

pub(crate) enum Node<'a> {
    /// Matches nothing (a term absent from the segment).
    Empty,
    /// Every document number below `end`.
    All {
        doc: u32,
        end: u32,
    },
    Term(Box<Cursor<'a>>),
    /// An AND of two or more plain terms, evaluated block at a time
    /// (`intersect.rs`) while it leads; a probed one turns into a leapfrog
    /// [`Node::And`] of [`Node::Term`]s (see [`Node::set_probe`]).
    Conj(Box<Conj<'a>>),
    And {
        pos: Vec<Node<'a>>,
        neg: Vec<Node<'a>>,
        doc: u32,
    },
    Or {
        kids: Vec<Node<'a>>,
        doc: u32,
    },
}

impl<'a> Node<'a> {
    pub(crate) fn term(list: &'a PostingList) -> Node<'a> {
        if list.is_empty() {
            Node::Empty
        } else {
            Node::Term(Box::new(Cursor::new(list)))
        }
    }

    /// The AND of plain terms: block at a time (see [`Node::Conj`]).
    pub(crate) fn conj(lists: Vec<&'a PostingList>) -> Node<'a> {
        if lists.is_empty() || lists.iter().any(|l| l.is_empty()) {
            return Node::Empty;
        }
        if lists.len() == 1 {
            return Node::term(lists[0]);
        }
        Node::Conj(Box::new(Conj::new(lists)))
    }

    pub(crate) fn all(end: u32) -> Node<'a> {
        Node::All {
            doc: if end == 0 { END } else { 0 },
            end,
        }
    }

    /// AND of `pos` minus the union of `neg`. An empty `pos` is an error of the
    /// caller (use [`Node::all`]).
    pub(crate) fn and_not(mut pos: Vec<Node<'a>>, mut neg: Vec<Node<'a>>) -> Node<'a> {
        if pos.is_empty() || pos.iter().any(|n| matches!(n, Node::Empty)) {
            return Node::Empty;
        }
        neg.retain(|n| !matches!(n, Node::Empty));
        if pos.len() == 1 && neg.is_empty() {
            return pos.pop().unwrap_or(Node::Empty);
        }
        // The rarest child leads; the others only confirm its candidates, so
        // they jump (probe mode) rather than walk.
        pos.sort_by_key(|n| n.cost());
        for n in pos[1..].iter_mut().chain(neg.iter_mut()) {
            n.set_probe();
        }
        let mut n = Node::And { pos, neg, doc: 0 };
        let first = n.find_and(0);
        if let Node::And { doc, .. } = &mut n {
            *doc = first;
        }
        n
    }

    pub(crate) fn and_of(pos: Vec<Node<'a>>) -> Node<'a> {
        Node::and_not(pos, Vec::new())
    }

    pub(crate) fn or_of(mut kids: Vec<Node<'a>>) -> Node<'a> {
        kids.retain(|n| !matches!(n, Node::Empty));
        match kids.len() {
            0 => Node::Empty,
            1 => kids.pop().unwrap_or(Node::Empty),
            _ => {
                let doc = kids.iter().map(Node::doc).min().unwrap_or(END);
                Node::Or { kids, doc }
            }
        }
    }

    /// Puts every cursor below this node in probe mode. A probed
    /// conjunction only confirms scattered candidates, for which decoding a
    /// block of its rarest list per candidate would be waste: it becomes a
    /// leapfrog AND, which checks just the candidate.
    pub(crate) fn set_probe(&mut self) {
        match self {
            Node::Term(c) => c.set_probe(),
            Node::Conj(c) => {
                let t = c.doc();
                let mut n = Node::and_of(c.lists().iter().copied().map(Node::term).collect());
                n.set_probe();
                n.advance(t);
                *self = n;
            }
            Node::And { pos, neg, .. } => pos.iter_mut().chain(neg).for_each(Node::set_probe),
            Node::Or { kids, .. } => kids.iter_mut().for_each(Node::set_probe),
            Node::Empty | Node::All { .. } => {}
        }
    }

    /// Estimated number of matches (an upper bound), to order AND children.
    pub(crate) fn cost(&self) -> u64 {
        match self {
            Node::Empty => 0,
            Node::All { end, .. } => *end as u64,
            Node::Term(c) => c.list().len() as u64,
            Node::Conj(c) => c.cost(),
            Node::And { pos, .. } => pos.iter().map(Node::cost).min().unwrap_or(0),
            Node::Or { kids, .. } => kids.iter().map(Node::cost).sum(),
        }
    }

    #[inline]
    pub(crate) fn doc(&self) -> u32 {
        match self {
            Node::Empty => END,
            Node::All { doc, .. } => *doc,
            Node::Term(c) => c.doc(),
            Node::Conj(c) => c.doc(),
            Node::And { doc, .. } | Node::Or { doc, .. } => *doc,
        }
    }

    #[inline]
    pub(crate) fn next(&mut self) -> u32 {
        if let Node::Conj(c) = self {
            return c.next();
        }
        let d = self.doc();
        if d == END {
            END
        } else {
            self.advance(d + 1)
        }
    }

    /// Moves to the first match `>= t`.
    pub(crate) fn advance(&mut self, t: u32) -> u32 {
        match self {
            Node::Empty => END,
            Node::All { doc, end } => {
                if t > *doc && *doc != END {
                    *doc = if t < *end { t } else { END };
                }
                *doc
            }
            Node::Term(c) => c.advance(t),
            Node::Conj(c) => c.advance(t),
            Node::And { doc, .. } => {
                if t <= *doc {
                    return *doc;
                }
                let d = self.find_and(t);
                if let Node::And { doc, .. } = self {
                    *doc = d;
                }
                d
            }
            Node::Or { kids, doc } => {
                if t <= *doc {
                    return *doc;
                }
                let mut m = END;
                for k in kids.iter_mut() {
                    let d = if k.doc() < t { k.advance(t) } else { k.doc() };
                    m = m.min(d);
                }
                *doc = m;
                m
            }
        }
    }

    /// The leapfrog search of an AND node for its first match `>= t`.
    fn find_and(&mut self, t: u32) -> u32 {
        let Node::And { pos, neg, .. } = self else {
            return END;
        };
        let (lead, rest) = pos.split_first_mut().expect("an AND has a child");
        let lead_adv = |lead: &mut Node<'a>, t: u32| match lead {
            Node::Term(c) => c.advance(t),
            n => n.advance(t),
        };
        let mut cand = lead_adv(lead, t);
        'outer: loop {
            if cand == END {
                return END;
            }
            for k in rest.iter_mut() {
                // Terms inline: no recursive call per probe.
                let d = match k {
                    Node::Term(c) => c.advance(cand),
                    k => k.advance(cand),
                };
                if d > cand {
                    cand = lead_adv(lead, d);
                    continue 'outer;
                }
            }
            for k in neg.iter_mut() {
                if k.advance(cand) == cand {
                    cand = lead_adv(lead, cand + 1);
                    continue 'outer;
                }
            }
            return cand;
        }
    }
}
