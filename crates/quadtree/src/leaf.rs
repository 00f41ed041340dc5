//! Leaf storage.
//!
//! An ordinary leaf ([`Flat`]) keeps its points struct-of-arrays: the unit
//! vectors' x, y and z in three contiguous `f64` arrays, so a nearest-neighbour
//! scan is three subtractions and three multiply-adds per point over plain
//! slices, which the compiler vectorises. Ids, points and insertion numbers
//! live in their own arrays and are touched only for the few points that make
//! it into an answer.
//!
//! A leaf at the depth cap ([`Capped`]) cannot split any further (its cell is a
//! few centimetres wide), so it may hold any number of points. It groups them by
//! exact position: ten thousand drivers reporting the same coordinate are one
//! group, scanned with one distance computation, whose members are kept in
//! insertion order so a k-nearest query takes the first k and stops.

use std::collections::BTreeMap;

use ahash::RandomState;
use std::collections::HashMap;

use crate::point::Point;

/// An ordinary leaf: at most the tree's leaf capacity points.
#[derive(Clone, Debug)]
pub(crate) struct Flat<T> {
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
    pub zs: Vec<f64>,
    pub pts: Vec<Point>,
    pub ids: Vec<T>,
    pub seqs: Vec<u64>,
}

impl<T: Copy> Flat<T> {
    pub fn new() -> Flat<T> {
        Flat {
            xs: Vec::new(),
            ys: Vec::new(),
            zs: Vec::new(),
            pts: Vec::new(),
            ids: Vec::new(),
            seqs: Vec::new(),
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn reserve(&mut self, n: usize) {
        self.xs.reserve(n);
        self.ys.reserve(n);
        self.zs.reserve(n);
        self.pts.reserve(n);
        self.ids.reserve(n);
        self.seqs.reserve(n);
    }

    /// Appends a point; returns its slot.
    #[inline]
    pub fn push(&mut self, id: T, p: Point, u: [f64; 3], seq: u64) -> u32 {
        let slot = self.ids.len() as u32;
        self.xs.push(u[0]);
        self.ys.push(u[1]);
        self.zs.push(u[2]);
        self.pts.push(p);
        self.ids.push(id);
        self.seqs.push(seq);
        slot
    }

    /// Moves the point in `slot` in place.
    #[inline]
    pub fn set(&mut self, slot: usize, p: Point, u: [f64; 3]) {
        self.xs[slot] = u[0];
        self.ys[slot] = u[1];
        self.zs[slot] = u[2];
        self.pts[slot] = p;
    }

    /// Removes `slot` by moving the last point into it; returns the id of the
    /// point that moved (its slot is now `slot`), if any did.
    #[inline]
    pub fn swap_remove(&mut self, slot: usize) -> Option<T> {
        self.xs.swap_remove(slot);
        self.ys.swap_remove(slot);
        self.zs.swap_remove(slot);
        self.pts.swap_remove(slot);
        self.ids.swap_remove(slot);
        self.seqs.swap_remove(slot);
        self.ids.get(slot).copied()
    }

    pub fn clear(&mut self) {
        self.xs.clear();
        self.ys.clear();
        self.zs.clear();
        self.pts.clear();
        self.ids.clear();
        self.seqs.clear();
    }

    /// Unit vector of `slot`.
    #[inline]
    pub fn unit(&self, slot: usize) -> [f64; 3] {
        [self.xs[slot], self.ys[slot], self.zs[slot]]
    }
}

/// All the points of a capped leaf at one exact position.
#[derive(Clone, Debug)]
pub(crate) struct Group<T> {
    pub u: [f64; 3],
    pub pt: Point,
    /// Members by insertion number (ascending = earliest first). Empty means
    /// this group slot is free.
    pub members: BTreeMap<u64, T>,
}

/// A leaf at the depth cap: unbounded, grouped by exact position.
#[derive(Clone, Debug)]
pub(crate) struct Capped<T> {
    pub groups: Vec<Group<T>>,
    free: Vec<u32>,
    by_point: HashMap<Point, u32, RandomState>,
    len: usize,
}

impl<T: Copy> Capped<T> {
    pub fn new() -> Capped<T> {
        Capped { groups: Vec::new(), free: Vec::new(), by_point: HashMap::default(), len: 0 }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Adds a point; returns its group index (stable while the group lives).
    pub fn add(&mut self, id: T, p: Point, u: [f64; 3], seq: u64) -> u32 {
        self.len += 1;
        if let Some(&g) = self.by_point.get(&p) {
            self.groups[g as usize].members.insert(seq, id);
            return g;
        }
        let mut members = BTreeMap::new();
        members.insert(seq, id);
        let group = Group { u, pt: p, members };
        let g = match self.free.pop() {
            Some(g) => {
                self.groups[g as usize] = group;
                g
            }
            None => {
                self.groups.push(group);
                (self.groups.len() - 1) as u32
            }
        };
        self.by_point.insert(p, g);
        g
    }

    /// Removes the member `seq` of group `g`.
    pub fn remove(&mut self, g: u32, seq: u64) {
        let group = &mut self.groups[g as usize];
        let removed = group.members.remove(&seq);
        debug_assert!(removed.is_some());
        self.len -= 1;
        if group.members.is_empty() {
            self.by_point.remove(&group.pt);
            self.free.push(g);
        }
    }

    /// Live groups.
    pub fn live_groups(&self) -> impl Iterator<Item = &Group<T>> {
        self.groups.iter().filter(|g| !g.members.is_empty())
    }
}
