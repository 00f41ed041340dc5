//! Leaf storage.
//!
//! An ordinary leaf keeps its points struct-of-arrays in one shared
//! [`Arena`]: the unit vectors' x, y and z as three arrays in one contiguous
//! block, so a nearest-neighbour scan is three subtractions and three
//! multiply-adds per point over plain slices, which the compiler vectorises,
//! and it reaches them straight from the node (no pointer to chase per leaf).
//! Ids, points and insertion numbers live in a parallel array and are touched
//! only for the few points that make it into an answer.
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

/// Where an ordinary leaf's points live in the [`Arena`]: a region of
/// `1 << class` slots starting at slot `off`, of which the first `len` are used.
/// An empty leaf may own no region (`class == NO_REGION`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub off: u32,
    pub len: u32,
    pub class: u8,
}

/// Arrays per region in `Arena::coords`: x, y, z and the insertion number.
pub(crate) const LANES: usize = 4;

/// `Span::class` of a leaf that owns no region.
pub(crate) const NO_REGION: u8 = u8::MAX;

/// The smallest region: 4 slots (a leaf that grows from empty reallocates at
/// 4, 8, 16, ... rather than at 1, 2, 4).
const MIN_CLASS: u8 = 2;

impl Span {
    pub const EMPTY: Span = Span {
        off: 0,
        len: 0,
        class: NO_REGION,
    };

    #[inline]
    pub fn cap(&self) -> usize {
        if self.class == NO_REGION {
            0
        } else {
            1 << self.class
        }
    }
}

/// The cold part of a point (read for answers, box queries and `get`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry<T> {
    pub pt: Point,
    pub seq: u64,
    pub id: T,
}

/// Storage for every ordinary leaf. A leaf's region holds its unit vectors and
/// insertion numbers as `[x; cap] [y; cap] [z; cap] [seq; cap]` in `coords`
/// (one contiguous block, so a scan streams it and settles ties without
/// looking elsewhere; `seq` is stored as the bits of an `f64`) and its ids
/// and points in `entries`, read only for the final answers.
/// Regions come in power-of-two sizes with a free list per size, so a leaf
/// that grows or shrinks moves to a region of the next size in O(len).
#[derive(Clone, Debug)]
pub(crate) struct Arena<T> {
    pub coords: Vec<f64>,
    pub entries: Vec<Entry<T>>,
    free: Vec<Vec<u32>>,
}

impl<T: Copy> Arena<T> {
    pub fn new() -> Arena<T> {
        Arena {
            coords: Vec::new(),
            entries: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Room for `slots` more slots without reallocating.
    pub fn reserve(&mut self, slots: usize) {
        self.entries.reserve_exact(slots);
        self.coords.reserve_exact(LANES * slots);
    }

    /// The class whose regions hold `n` points.
    pub fn class_for(n: usize) -> u8 {
        (n.max(1 << MIN_CLASS).next_power_of_two().trailing_zeros()) as u8
    }

    /// Heap bytes of the free lists.
    pub fn free_heap_bytes(&self) -> usize {
        self.free.capacity() * std::mem::size_of::<Vec<u32>>()
            + self
                .free
                .iter()
                .map(|f| f.capacity() * std::mem::size_of::<u32>())
                .sum::<usize>()
    }

    /// A free region of `1 << class` slots; `fill` pads brand-new slots.
    fn alloc(&mut self, class: u8, fill: Entry<T>) -> u32 {
        if let Some(off) = self.free.get_mut(class as usize).and_then(Vec::pop) {
            return off;
        }
        let off = self.entries.len();
        let cap = 1usize << class;
        self.entries.resize(off + cap, fill);
        self.coords.resize(LANES * (off + cap), 0.0);
        off as u32
    }

    /// Gives a leaf's region back (the leaf becomes empty).
    pub fn release(&mut self, s: &mut Span) {
        if s.class != NO_REGION {
            let c = s.class as usize;
            if self.free.len() <= c {
                self.free.resize_with(c + 1, Vec::new);
            }
            self.free[c].push(s.off);
        }
        *s = Span::EMPTY;
    }

    /// Moves a leaf to a region of `class` (which must hold `len`).
    fn relocate(&mut self, s: &mut Span, class: u8, fill: Entry<T>) {
        let off = self.alloc(class, fill);
        let (old_cap, new_cap) = (s.cap(), 1usize << class);
        let (o, n, len) = (s.off as usize, off as usize, s.len as usize);
        for axis in 0..LANES {
            self.coords.copy_within(
                LANES * o + axis * old_cap..LANES * o + axis * old_cap + len,
                LANES * n + axis * new_cap,
            );
        }
        self.entries.copy_within(o..o + len, n);
        let keep = s.len;
        self.release(s);
        *s = Span {
            off,
            len: keep,
            class,
        };
    }

    /// The x, y, z and insertion-number arrays of a leaf.
    #[inline(always)]
    pub fn lanes(&self, s: &Span) -> [&[f64]; LANES] {
        let (cap, len) = (s.cap(), s.len as usize);
        let b = LANES * s.off as usize;
        let c = &self.coords[b..b + LANES * cap];
        [
            &c[..len],
            &c[cap..cap + len],
            &c[2 * cap..2 * cap + len],
            &c[3 * cap..3 * cap + len],
        ]
    }

    /// The entries of a leaf.
    #[inline(always)]
    pub fn entries(&self, s: &Span) -> &[Entry<T>] {
        &self.entries[s.off as usize..s.off as usize + s.len as usize]
    }

    #[inline]
    pub fn unit(&self, s: &Span, slot: usize) -> [f64; 3] {
        let (cap, b) = (s.cap(), LANES * s.off as usize + slot);
        [
            self.coords[b],
            self.coords[b + cap],
            self.coords[b + 2 * cap],
        ]
    }

    #[inline]
    pub fn entry(&self, s: &Span, slot: usize) -> &Entry<T> {
        &self.entries[s.off as usize + slot]
    }

    #[inline]
    fn write(&mut self, s: &Span, slot: usize, u: [f64; 3]) {
        let (cap, b) = (s.cap(), LANES * s.off as usize + slot);
        self.coords[b] = u[0];
        self.coords[b + cap] = u[1];
        self.coords[b + 2 * cap] = u[2];
    }

    #[inline]
    fn write_seq(&mut self, s: &Span, slot: usize, seq: u64) {
        let (cap, b) = (s.cap(), LANES * s.off as usize + slot);
        self.coords[b + 3 * cap] = f64::from_bits(seq);
    }

    /// Appends a point to a leaf; returns its slot.
    #[inline]
    pub fn push(&mut self, s: &mut Span, e: Entry<T>, u: [f64; 3]) -> u32 {
        if s.len as usize == s.cap() {
            let class = if s.class == NO_REGION {
                MIN_CLASS
            } else {
                s.class + 1
            };
            self.relocate(s, class, e);
        }
        let slot = s.len as usize;
        self.write(s, slot, u);
        self.write_seq(s, slot, e.seq);
        self.entries[s.off as usize + slot] = e;
        s.len += 1;
        slot as u32
    }

    /// Moves the point in `slot` in place.
    #[inline]
    pub fn set(&mut self, s: &Span, slot: usize, p: Point, u: [f64; 3]) {
        self.write(s, slot, u);
        self.entries[s.off as usize + slot].pt = p;
    }

    /// Removes `slot` by moving the last point into it; returns the id of the
    /// point that moved (its slot is now `slot`), if any did. A leaf down to a
    /// quarter of its region moves to a smaller one, so memory follows churn.
    pub fn swap_remove(&mut self, s: &mut Span, slot: usize) -> Option<T> {
        let last = s.len as usize - 1;
        let moved = if slot != last {
            let u = self.unit(s, last);
            self.write(s, slot, u);
            let seq = self.entries[s.off as usize + last].seq;
            self.write_seq(s, slot, seq);
            let o = s.off as usize;
            self.entries[o + slot] = self.entries[o + last];
            Some(self.entries[o + slot].id)
        } else {
            None
        };
        s.len -= 1;
        if s.len == 0 {
            self.release(s);
        } else if s.class > MIN_CLASS && (s.len as usize) <= s.cap() / 4 {
            let fill = self.entries[s.off as usize];
            self.relocate(s, s.class - 1, fill);
        }
        moved
    }

    /// A new leaf holding exactly `n` points from `items` (all at once).
    pub fn fill(&mut self, items: impl ExactSizeIterator<Item = (Entry<T>, [f64; 3])>) -> Span {
        let n = items.len();
        let mut s = Span::EMPTY;
        let mut items = items.peekable();
        let Some(&(first, _)) = items.peek() else {
            return s;
        };
        let class = Self::class_for(n);
        s = Span {
            off: self.alloc(class, first),
            len: 0,
            class,
        };
        for (e, u) in items {
            let slot = s.len as usize;
            self.write(&s, slot, u);
            self.write_seq(&s, slot, e.seq);
            self.entries[s.off as usize + slot] = e;
            s.len += 1;
        }
        s
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
        Capped {
            groups: Vec::new(),
            free: Vec::new(),
            by_point: HashMap::default(),
            len: 0,
        }
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

    /// Heap bytes: the group and free-slot vectors, the position index, and
    /// an estimate of each group's B-tree of members (members arrive in
    /// ascending insertion order, which leaves B-tree nodes about half full:
    /// one node of 11 slots per 6 members, plus an internal node per 6
    /// nodes).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        const SLOTS: usize = 11;
        let leaf_node = 16 + SLOTS * (size_of::<u64>() + size_of::<T>());
        let internal_node = leaf_node + (SLOTS + 1) * size_of::<usize>();
        let members: usize = self
            .groups
            .iter()
            .map(|g| match g.members.len() {
                0 => 0,
                1..=SLOTS => leaf_node,
                n => {
                    let leaves = n.div_ceil(6);
                    leaves * leaf_node + leaves.div_ceil(6) * internal_node
                }
            })
            .sum();
        self.groups.capacity() * size_of::<Group<T>>()
            + self.free.capacity() * size_of::<u32>()
            + crate::tree::hash_map_bytes(self.by_point.capacity(), size_of::<(Point, u32)>())
            + members
    }

    /// Live groups.
    pub fn live_groups(&self) -> impl Iterator<Item = &Group<T>> {
        self.groups.iter().filter(|g| !g.members.is_empty())
    }
}
