//! Iteration over `(id, point)` pairs.

use std::collections::btree_map;
use std::fmt;
use std::hash::Hash;

use crate::leaf::Group;
use crate::point::Point;
use crate::tree::{Kind, QuadTree};

/// Iterator over a tree's `(id, point)` pairs, in no particular order; from
/// [`QuadTree::iter`].
pub struct Iter<'a, T> {
    tree: &'a QuadTree<T>,
    node: usize,
    slot: usize,
    capped: usize,
    group: usize,
    members: Option<(Point, btree_map::Values<'a, u64, T>)>,
    remaining: usize,
}

impl<T: Copy + Eq + Hash> QuadTree<T> {
    /// Every `(id, point)` pair, in no particular order.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter {
            tree: self,
            node: 0,
            slot: 0,
            capped: 0,
            group: 0,
            members: None,
            remaining: self.len(),
        }
    }

    /// Every id, in no particular order.
    pub fn ids(&self) -> impl Iterator<Item = T> + '_ {
        self.iter().map(|(id, _)| id)
    }
}

impl<'a, T: Copy> Iterator for Iter<'a, T> {
    type Item = (T, Point);

    fn next(&mut self) -> Option<(T, Point)> {
        // Ordinary leaves (unused nodes are empty leaves) ...
        while let Some(h) = self.tree.hot.get(self.node) {
            if let Kind::Flat(s) = &h.kind() {
                if let Some(e) = self.tree.arena.entries(s).get(self.slot) {
                    self.slot += 1;
                    self.remaining -= 1;
                    return Some((e.id, e.pt));
                }
            }
            self.node += 1;
            self.slot = 0;
        }
        // ... then capped leaves, group by group (free ones are cleared).
        loop {
            if let Some((p, it)) = &mut self.members {
                if let Some(&id) = it.next() {
                    self.remaining -= 1;
                    return Some((id, *p));
                }
                self.members = None;
            }
            let c = self.tree.capped.get(self.capped)?;
            match c.groups.get(self.group) {
                Some(Group { pt, members, .. }) => {
                    self.group += 1;
                    self.members = Some((*pt, members.values()));
                }
                None => {
                    self.capped += 1;
                    self.group = 0;
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<T: Copy> ExactSizeIterator for Iter<'_, T> {}

impl<'a, T: Copy + Eq + Hash> IntoIterator for &'a QuadTree<T> {
    type Item = (T, Point);
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T: Copy + Eq + Hash + fmt::Debug> fmt::Debug for QuadTree<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}
