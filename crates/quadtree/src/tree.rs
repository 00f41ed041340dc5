//! The tree itself: nodes, the id index, insertion, removal, moves, splits and
//! collapses.

use std::collections::HashMap;
use std::hash::Hash;

use ahash::RandomState;

use crate::geom::Cell;
use crate::leaf::{Arena, Capped, Entry, Span};
use crate::point::Point;
use crate::Error;

/// "No node" (the root's parent).
pub(crate) const NONE: u32 = u32::MAX;

/// The depth cap. A cell at depth 30 spans 360/2^30 degrees of longitude
/// (3.7 cm at the equator) by 180/2^30 of latitude (1.9 cm): finer than any
/// consumer GPS fix, so only (near-)duplicate positions ever reach it. Leaves
/// there never split; they group points by exact position instead.
pub const MAX_DEPTH: u8 = 30;

/// The default leaf capacity. Measured on 1M points (uniform, clustered and
/// real cities; `benches/quadtree.rs`, capacities 8 to 500): see the crate
/// docs' cost model for the table and why this value.
pub const DEFAULT_LEAF_CAPACITY: usize = 32;

/// The largest leaf capacity accepted (a leaf slot is a `u32`; beyond a few
/// thousand a quadtree degenerates into a scan anyway).
pub const MAX_LEAF_CAPACITY: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Four children at `first..first + 4`, in [`Cell::quadrant`] order.
    Internal { first: u32 },
    /// An ordinary leaf and where its points are in the arena.
    Flat(Span),
    /// A leaf at the depth cap, `capped[leaf]`.
    Capped { leaf: u32 },
}

/// What a query reads of a node: its bounding box (as `f32`, rounded
/// outwards) and its kind, 32 bytes, so a block of four siblings is 128.
///
/// A leaf's box is the box of the points it holds, grown as points arrive or
/// move and refitted when one that set it leaves or the leaf is rebuilt, so a
/// query skips the empty corners of sparse cells (a clustered data set is
/// mostly such corners). An internal node's box holds its children's: their
/// union after a bulk load, grown with them afterwards (a growth walks up
/// only until an ancestor already holds the point). Boxes may be stale-large
/// after points leave, never too small. Internal boxes tighter than their
/// cells let a query skip the empty parts of whole subtrees, not only of
/// leaves (the 10-NN follow-up in BENCHMARKS.md).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hot {
    pub lo: [f32; 3],
    pub hi: [f32; 3],
    /// The [`Kind`], packed into 8 bytes (see [`pack`]) so that a node is 32
    /// bytes rather than 40: four siblings, which a query reads together,
    /// then take 128 bytes, one cache line fewer than 160 on average.
    kind: u64,
}

/// Bits 62-63 of a packed [`Kind`]: 0 = `Flat`, 1 = `Internal`, 2 = `Capped`.
const TAG_SHIFT: u32 = 62;
/// `Span::class` takes bits 56-61 (classes are below 32; `NO_REGION` is
/// stored as 63), `Span::len` bits 32-55 (at most `MAX_LEAF_CAPACITY + 1`,
/// below 2^24), and the `u32` (offset, first child or capped leaf) bits 0-31.
const CLASS_SHIFT: u32 = 56;
const NO_REGION_BITS: u64 = 63;

/// Packs a [`Kind`] into a `u64`.
const fn pack(k: Kind) -> u64 {
    match k {
        Kind::Flat(s) => {
            debug_assert!(s.len < 1 << 24);
            debug_assert!((s.class as u64) < NO_REGION_BITS || s.class == crate::leaf::NO_REGION);
            let class = if s.class == crate::leaf::NO_REGION {
                NO_REGION_BITS
            } else {
                s.class as u64
            };
            (class << CLASS_SHIFT) | ((s.len as u64) << 32) | s.off as u64
        }
        Kind::Internal { first } => (1 << TAG_SHIFT) | first as u64,
        Kind::Capped { leaf } => (2 << TAG_SHIFT) | leaf as u64,
    }
}

/// `x` rounded down to an `f32` (the largest `f32` not above it).
#[inline(always)]
fn round_down(x: f64) -> f32 {
    let f = x as f32;
    if f as f64 > x {
        f.next_down()
    } else {
        f
    }
}

/// `x` rounded up to an `f32` (the smallest `f32` not below it).
#[inline(always)]
fn round_up(x: f64) -> f32 {
    let f = x as f32;
    if (f as f64) < x {
        f.next_up()
    } else {
        f
    }
}

impl Hot {
    /// What the node is.
    #[inline(always)]
    pub fn kind(&self) -> Kind {
        let low = self.kind as u32;
        match self.kind >> TAG_SHIFT {
            0 => {
                let class = ((self.kind >> CLASS_SHIFT) & 63) as u8;
                Kind::Flat(Span {
                    off: low,
                    len: ((self.kind >> 32) & 0xFF_FFFF) as u32,
                    class: if class as u64 == NO_REGION_BITS {
                        crate::leaf::NO_REGION
                    } else {
                        class
                    },
                })
            }
            1 => Kind::Internal { first: low },
            _ => Kind::Capped { leaf: low },
        }
    }

    /// Makes the node `k`.
    #[inline(always)]
    pub fn set_kind(&mut self, k: Kind) {
        self.kind = pack(k);
    }

    /// Sets the box to `lo..=hi` rounded outwards.
    #[inline]
    fn set_box(&mut self, lo: &[f64; 3], hi: &[f64; 3]) {
        self.lo = [round_down(lo[0]), round_down(lo[1]), round_down(lo[2])];
        self.hi = [round_up(hi[0]), round_up(hi[1]), round_up(hi[2])];
    }

    /// Whether the box holds `u` (inclusive).
    #[inline(always)]
    fn holds(&self, u: &[f64; 3]) -> bool {
        (self.lo[0] as f64 <= u[0])
            & (u[0] <= self.hi[0] as f64)
            & (self.lo[1] as f64 <= u[1])
            & (u[1] <= self.hi[1] as f64)
            & (self.lo[2] as f64 <= u[2])
            & (u[2] <= self.hi[2] as f64)
    }

    /// Whether `u` lies strictly inside the box on every axis, so that
    /// taking it out of the leaf cannot shrink the box.
    #[inline(always)]
    fn strictly_holds(&self, u: &[f64; 3]) -> bool {
        (self.lo[0] < round_down(u[0]))
            & (round_up(u[0]) < self.hi[0])
            & (self.lo[1] < round_down(u[1]))
            & (round_up(u[1]) < self.hi[1])
            & (self.lo[2] < round_down(u[2]))
            & (round_up(u[2]) < self.hi[2])
    }

    /// Grows the box to hold `u`. Most calls (a driver moving inside its
    /// leaf's box) only compare; the outward rounding runs only when the box
    /// really grows.
    /// Returns whether the box grew. The compare is inlined into a move;
    /// the growing is not.
    #[inline(always)]
    pub fn grow(&mut self, u: &[f64; 3]) -> bool {
        if self.holds(u) {
            return false;
        }
        self.widen(u);
        true
    }

    #[cold]
    #[inline(never)]
    fn widen(&mut self, u: &[f64; 3]) {
        for (i, &x) in u.iter().enumerate() {
            self.lo[i] = self.lo[i].min(round_down(x));
            self.hi[i] = self.hi[i].max(round_up(x));
        }
    }

    /// Sets the box to exactly the (outward-rounded) box of `x`, `y`, `z`
    /// (parallel lanes of a leaf's unit vectors); empty if they are. The same
    /// box as clearing and growing by each point (rounding is monotone), with
    /// one rounding per axis instead of one per point.
    pub fn fit(&mut self, x: &[f64], y: &[f64], z: &[f64]) {
        if x.is_empty() {
            self.clear_box();
            return;
        }
        let mut lo = [f64::INFINITY; 3];
        let mut hi = [f64::NEG_INFINITY; 3];
        for ((&a, &b), &c) in x.iter().zip(y).zip(z) {
            lo = [lo[0].min(a), lo[1].min(b), lo[2].min(c)];
            hi = [hi[0].max(a), hi[1].max(b), hi[2].max(c)];
        }
        self.set_box(&lo, &hi);
    }

    /// Empties the box (an empty leaf is never visited).
    #[inline]
    pub fn clear_box(&mut self) {
        self.lo = [f32::INFINITY; 3];
        self.hi = [f32::NEG_INFINITY; 3];
    }

    /// An unused node: never closer than infinity, an empty leaf.
    const UNUSED: Hot = Hot {
        lo: [f32::INFINITY; 3],
        hi: [f32::NEG_INFINITY; 3],
        kind: pack(Kind::Flat(Span::EMPTY)),
    };

    /// Squared Euclidean distance from `q` to the box: a lower bound on the
    /// squared chord from `q` to any point of the node.
    ///
    /// Plain comparisons rather than `f64::max`, whose NaN rule costs extra
    /// instructions: no operand is NaN here (coordinates are finite and an
    /// empty box's infinities give `inf - x = inf`).
    #[inline(always)]
    pub fn min_chord2(&self, q: &[f64; 3]) -> f64 {
        #[inline(always)]
        fn gap(lo: f32, hi: f32, x: f64) -> f64 {
            let (below, above) = (lo as f64 - x, x - hi as f64);
            let d = if below > above { below } else { above };
            if d > 0.0 {
                d
            } else {
                0.0
            }
        }
        let dx = gap(self.lo[0], self.hi[0], q[0]);
        let dy = gap(self.lo[1], self.hi[1], q[1]);
        let dz = gap(self.lo[2], self.hi[2], q[2]);
        dx * dx + dy * dy + dz * dz
    }
}

/// What updates read of a node.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub cell: Cell,
    pub parent: u32,
    pub depth: u8,
    /// Points in this subtree.
    pub count: usize,
}

/// Where an id lives: its leaf node, its slot there (for a capped leaf, its
/// group) and its insertion number; plus a copy of what a move needs to stay
/// in place, so that a driver's update costs one hash probe and the writes:
/// the leaf's region in the arena (`off`, `class`) and its cell (`depth`,
/// `ilat`, `ilon`: see [`Cell::from_key`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Loc {
    pub seq: u64,
    pub node: u32,
    pub slot: u32,
    pub off: u32,
    pub ilat: u32,
    pub ilon: u32,
    /// The region's size class, or [`CAPPED`] for a capped leaf.
    pub class: u8,
    pub depth: u8,
}

/// `Loc::class` of an id in a capped leaf.
pub(crate) const CAPPED: u8 = u8::MAX - 1;

/// A dynamic geo index over latitude/longitude: a region quadtree whose leaves
/// hold at most [`leaf_capacity`](QuadTree::leaf_capacity) points, with an
/// id -> leaf index so that moves are cheap.
///
/// `T` is the caller's id (a place id, a driver id): small and `Copy`, hashed
/// for the index.
///
/// Distances are great-circle metres (see [`Point::distance_m`]). Points at
/// exactly the same distance are ordered by insertion: the id inserted earlier
/// (by its first `insert` since it was last absent: a move keeps its place)
/// comes first. This order does not depend on the tree's shape, so two trees
/// holding the same ids inserted in the same order answer identically however
/// they were built or churned.
#[derive(Clone)]
pub struct QuadTree<T> {
    pub(crate) capacity: usize,
    /// Parallel to `hot`.
    pub(crate) nodes: Vec<Node>,
    pub(crate) hot: Vec<Hot>,
    pub(crate) free_blocks: Vec<u32>,
    pub(crate) arena: Arena<T>,
    pub(crate) capped: Vec<Capped<T>>,
    pub(crate) free_capped: Vec<u32>,
    pub(crate) index: HashMap<T, Loc, RandomState>,
    pub(crate) next_seq: u64,
}

impl<T: Copy + Eq + Hash> Default for QuadTree<T> {
    fn default() -> Self {
        QuadTree::new()
    }
}

impl<T: Copy + Eq + Hash> QuadTree<T> {
    /// An empty tree with the default leaf capacity
    /// ([`DEFAULT_LEAF_CAPACITY`]).
    pub fn new() -> QuadTree<T> {
        QuadTree::empty(DEFAULT_LEAF_CAPACITY)
    }

    /// An empty tree whose leaves split past `n` points (the notes' proximity
    /// service uses 500).
    ///
    /// # Errors
    /// [`Error::InvalidLeafCapacity`] unless `1 <= n <= MAX_LEAF_CAPACITY`.
    pub fn with_leaf_capacity(n: usize) -> Result<QuadTree<T>, Error> {
        if n == 0 || n > MAX_LEAF_CAPACITY {
            return Err(Error::InvalidLeafCapacity(n));
        }
        Ok(QuadTree::empty(n))
    }

    pub(crate) fn empty(capacity: usize) -> QuadTree<T> {
        QuadTree {
            capacity,
            nodes: vec![Node {
                cell: Cell::WORLD,
                parent: NONE,
                depth: 0,
                count: 0,
            }],
            hot: vec![Hot::UNUSED],
            free_blocks: Vec::new(),
            arena: Arena::new(),
            capped: Vec::new(),
            free_capped: Vec::new(),
            index: HashMap::default(),
            next_seq: 0,
        }
    }

    /// The leaf capacity: a leaf splits into four when it holds more points
    /// (unless it is at the depth cap).
    pub fn leaf_capacity(&self) -> usize {
        self.capacity
    }

    /// Number of ids in the tree.
    #[inline]
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the tree holds no id.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Whether `id` is in the tree.
    #[inline]
    pub fn contains(&self, id: &T) -> bool {
        self.index.contains_key(id)
    }

    /// Removes everything (keeps the leaf capacity).
    pub fn clear(&mut self) {
        *self = QuadTree::empty(self.capacity);
    }

    /// The position of `id`.
    #[inline]
    pub fn get(&self, id: &T) -> Option<Point> {
        self.index.get(id).map(|loc| self.point_at(loc))
    }

    /// Puts `id` at `p`. If `id` was already in the tree this is a move: the
    /// old position is returned and the id keeps its insertion order. A move
    /// that stays inside its leaf's cell is an in-place update (one hash
    /// look-up, no tree walk); otherwise the point is re-inserted from the
    /// nearest ancestor whose cell holds `p`.
    ///
    /// ```
    /// use hld_quadtree::{Point, QuadTree};
    /// let mut drivers = QuadTree::new();
    /// assert_eq!(drivers.insert(7u32, Point::new(40.7128, -74.0060)?), None);
    /// let old = drivers.insert(7, Point::new(40.7130, -74.0061)?);
    /// assert_eq!(old, Some(Point::new(40.7128, -74.0060)?));
    /// assert_eq!(drivers.len(), 1);
    /// # Ok::<(), hld_quadtree::Error>(())
    /// ```
    pub fn insert(&mut self, id: T, p: Point) -> Option<Point> {
        if let Some(&loc) = self.index.get(&id) {
            return Some(self.move_to(id, loc, p));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let node = self.descend(0, p);
        let loc = self.add_to_leaf(node, id, p, p.unit(), seq);
        self.index.insert(id, loc);
        self.add_count(node, NONE);
        self.split_if_needed(node);
        None
    }

    /// Removes `id`; returns where it was. A subtree left holding at most half
    /// a leaf's capacity is folded back into one leaf, so the tree does not
    /// decay under churn.
    pub fn remove(&mut self, id: &T) -> Option<Point> {
        let loc = self.index.remove(id)?;
        let p = self.remove_from_leaf(&loc);
        self.sub_count(loc.node, NONE);
        self.collapse_above(loc.node, NONE);
        Some(p)
    }

    /// Keeps only the ids for which `f` returns `true`.
    pub fn retain(&mut self, mut f: impl FnMut(T, Point) -> bool) {
        let doomed: Vec<T> = self
            .iter()
            .filter(|&(id, p)| !f(id, p))
            .map(|(id, _)| id)
            .collect();
        for id in doomed {
            self.remove(&id);
        }
    }

    #[inline]
    pub(crate) fn point_at(&self, loc: &Loc) -> Point {
        match self.hot[loc.node as usize].kind() {
            Kind::Flat(s) => self.arena.entry(&s, loc.slot as usize).pt,
            Kind::Capped { leaf } => self.capped[leaf as usize].groups[loc.slot as usize].pt,
            Kind::Internal { .. } => unreachable!("an id's node is always a leaf"),
        }
    }

    /// The location of `slot` in leaf `node`, with the leaf's current region.
    #[inline]
    pub(crate) fn make_loc(&self, node: u32, slot: u32, seq: u64) -> Loc {
        let n = &self.nodes[node as usize];
        let (ilat, ilon) = n.cell.key(n.depth);
        let (off, class) = match self.hot[node as usize].kind() {
            Kind::Flat(s) => (s.off, s.class),
            _ => (0, CAPPED),
        };
        Loc {
            seq,
            node,
            slot,
            off,
            ilat,
            ilon,
            class,
            depth: n.depth,
        }
    }

    /// After a leaf moved to another region of the arena: points every id in
    /// it at the new region.
    fn refresh_region(&mut self, node: u32) {
        if let Kind::Flat(s) = self.hot[node as usize].kind() {
            for e in self.arena.entries(&s) {
                if let Some(l) = self.index.get_mut(&e.id) {
                    l.off = s.off;
                    l.class = s.class;
                }
            }
        }
    }

    /// The leaf below `from` whose cell holds `p`.
    #[inline]
    pub(crate) fn descend(&self, mut node: u32, p: Point) -> u32 {
        while let Kind::Internal { first } = self.hot[node as usize].kind() {
            node = first + self.nodes[node as usize].cell.quadrant(p.lat(), p.lon()) as u32;
        }
        node
    }

    /// Adds a point to a leaf (no split, no count update, and no index entry
    /// for it: the caller inserts the returned location); returns its location.
    #[inline]
    pub(crate) fn add_to_leaf(&mut self, node: u32, id: T, p: Point, u: [f64; 3], seq: u64) -> Loc {
        let (slot, moved) = match self.hot[node as usize].kind() {
            Kind::Flat(mut s) => {
                let before = s.off;
                let slot = self.arena.push(&mut s, Entry { pt: p, seq, id }, u);
                self.hot[node as usize].set_kind(Kind::Flat(s));
                (slot, s.off != before || slot == 0)
            }
            Kind::Capped { leaf } => (self.capped[leaf as usize].add(id, p, u, seq), false),
            Kind::Internal { .. } => unreachable!("points are only added to leaves"),
        };
        if self.hot[node as usize].grow(&u) {
            self.grow_above(node, &u);
        }
        if moved {
            self.refresh_region(node);
        }
        self.make_loc(node, slot, seq)
    }

    /// Takes a point out of its leaf (fixing the index entry of whatever point
    /// fills its slot); no count update, no collapse. Returns its position.
    pub(crate) fn remove_from_leaf(&mut self, loc: &Loc) -> Point {
        match self.hot[loc.node as usize].kind() {
            Kind::Flat(mut s) => {
                let p = self.arena.entry(&s, loc.slot as usize).pt;
                let u = self.arena.unit(&s, loc.slot as usize);
                let before = (s.off, s.class);
                let moved = self.arena.swap_remove(&mut s, loc.slot as usize);
                self.hot[loc.node as usize].set_kind(Kind::Flat(s));
                if let Some(moved) = moved {
                    if let Some(m) = self.index.get_mut(&moved) {
                        m.slot = loc.slot;
                    }
                }
                if s.len > 0 && (s.off, s.class) != before {
                    self.refresh_region(loc.node);
                }
                // Shrink the leaf's box to what is left, so churn does not
                // leave boxes stale-large. A point strictly inside the box on
                // every axis cannot have set it: skip the scan then (most
                // removals from a leaf of a few dozen points).
                let h = &mut self.hot[loc.node as usize];
                if !h.strictly_holds(&u) {
                    let [x, y, z, _] = self.arena.lanes(&s);
                    h.fit(x, y, z);
                }
                p
            }
            Kind::Capped { leaf } => {
                let c = &mut self.capped[leaf as usize];
                let p = c.groups[loc.slot as usize].pt;
                c.remove(loc.slot, loc.seq);
                if c.len() == 0 {
                    self.hot[loc.node as usize].clear_box();
                }
                p
            }
            Kind::Internal { .. } => unreachable!("an id's node is always a leaf"),
        }
    }

    /// Moves an id already in the tree; returns its old position.
    fn move_to(&mut self, id: T, loc: Loc, p: Point) -> Point {
        let n = loc.node as usize;
        if loc.class != CAPPED
            && Cell::from_key(loc.depth, loc.ilat, loc.ilon).contains(p.lat(), p.lon())
        {
            // The common case for a driver's 3-second update: everything needed
            // is in `loc`, no node is read.
            let s = Span {
                off: loc.off,
                len: loc.slot + 1,
                class: loc.class,
            };
            let old = self.arena.entry(&s, loc.slot as usize).pt;
            let u = p.unit();
            self.arena.set(&s, loc.slot as usize, p, u);
            if self.hot[n].grow(&u) {
                self.grow_above(loc.node, &u);
            }
            return old;
        }
        // An ordinary leaf whose cell holds `p` took the path above (`loc`
        // names that very cell), so only a capped leaf can keep the point here.
        if let Kind::Capped { leaf } = self.hot[n].kind() {
            if self.nodes[n].cell.contains(p.lat(), p.lon()) {
                let c = &mut self.capped[leaf as usize];
                let old = c.groups[loc.slot as usize].pt;
                if old != p {
                    c.remove(loc.slot, loc.seq);
                    let u = p.unit();
                    let g = c.add(id, p, u, loc.seq);
                    self.index.insert(id, Loc { slot: g, ..loc });
                    if self.hot[n].grow(&u) {
                        self.grow_above(loc.node, &u);
                    }
                }
                return old;
            }
        }
        let old = self.remove_from_leaf(&loc);
        // Re-insert from the nearest ancestor that holds p. Counts change only
        // below it.
        let mut up = self.nodes[n].parent;
        while !self.nodes[up as usize].cell.contains(p.lat(), p.lon()) {
            up = self.nodes[up as usize].parent;
        }
        self.sub_count(loc.node, up);
        let target = self.descend(up, p);
        let new_loc = self.add_to_leaf(target, id, p, p.unit(), loc.seq);
        self.index.insert(id, new_loc);
        self.add_count(target, up);
        self.split_if_needed(target);
        self.collapse_above(loc.node, up);
        old
    }

    /// Adds one to the counts from `node` up to, not including, `stop`.
    #[inline]
    fn add_count(&mut self, mut node: u32, stop: u32) {
        while node != stop {
            let n = &mut self.nodes[node as usize];
            n.count += 1;
            node = n.parent;
        }
    }

    /// Subtracts one from the counts from `node` up to, not including, `stop`.
    #[inline]
    fn sub_count(&mut self, mut node: u32, stop: u32) {
        while node != stop {
            let n = &mut self.nodes[node as usize];
            n.count -= 1;
            node = n.parent;
        }
    }

    /// The most points an internal node may hold before it is folded back
    /// into a leaf: half the capacity (at least one). Half, not all, is the
    /// hysteresis that keeps a leaf hovering at the capacity from splitting
    /// and merging on every update.
    #[inline]
    pub(crate) fn merge_threshold(&self) -> usize {
        (self.capacity / 2).max(1)
    }

    /// After a removal from leaf `node`: folds the highest ancestor below
    /// `stop` whose subtree holds at most the merge threshold back into one
    /// leaf.
    fn collapse_above(&mut self, node: u32, stop: u32) {
        let limit = self.merge_threshold();
        let mut top = NONE;
        let mut n = self.nodes[node as usize].parent;
        while n != stop && n != NONE && self.nodes[n as usize].count <= limit {
            top = n;
            n = self.nodes[n as usize].parent;
        }
        if top != NONE {
            self.collapse(top);
        }
    }

    /// Turns internal `node` into one ordinary leaf holding its whole subtree.
    fn collapse(&mut self, node: u32) {
        let Kind::Internal { first } = self.hot[node as usize].kind() else {
            return;
        };
        let mut points: Vec<(Entry<T>, [f64; 3])> =
            Vec::with_capacity(self.nodes[node as usize].count);
        self.drain(first, &mut points);
        self.fill_leaf(node, points.iter().copied());
        for (slot, (e, _)) in points.iter().enumerate() {
            let new = self.make_loc(node, slot as u32, e.seq);
            if let Some(loc) = self.index.get_mut(&e.id) {
                *loc = new;
            }
        }
    }

    /// Makes `node` an ordinary leaf holding exactly `items` (in one region),
    /// its box fitted to them; returns the leaf's span. No index or count
    /// update.
    pub(crate) fn fill_leaf(
        &mut self,
        node: u32,
        items: impl ExactSizeIterator<Item = (Entry<T>, [f64; 3])>,
    ) -> Span {
        let span = self.arena.fill(items);
        let h = &mut self.hot[node as usize];
        h.set_kind(Kind::Flat(span));
        let [x, y, z, _] = self.arena.lanes(&span);
        h.fit(x, y, z);
        span
    }

    /// Takes every point out of the block of children at `first` (and below),
    /// freeing the block and everything below it.
    fn drain(&mut self, first: u32, out: &mut Vec<(Entry<T>, [f64; 3])>) {
        for c in first..first + 4 {
            match self.hot[c as usize].kind() {
                Kind::Internal { first: f } => self.drain(f, out),
                Kind::Flat(mut s) => {
                    for i in 0..s.len as usize {
                        out.push((*self.arena.entry(&s, i), self.arena.unit(&s, i)));
                    }
                    self.arena.release(&mut s);
                }
                Kind::Capped { leaf } => {
                    let old = std::mem::replace(&mut self.capped[leaf as usize], Capped::new());
                    for g in old.live_groups() {
                        for (&seq, &id) in &g.members {
                            out.push((Entry { pt: g.pt, seq, id }, g.u));
                        }
                    }
                    self.free_capped.push(leaf);
                }
            }
            self.hot[c as usize] = Hot::UNUSED;
        }
        self.free_blocks.push(first);
    }

    pub(crate) fn leaf_len(&self, node: u32) -> Option<usize> {
        match self.hot[node as usize].kind() {
            Kind::Flat(s) => Some(s.len as usize),
            Kind::Capped { leaf } => Some(self.capped[leaf as usize].len()),
            Kind::Internal { .. } => None,
        }
    }

    /// Splits `node` (and, recursively, any child still over capacity) if it
    /// is an ordinary leaf holding more than the capacity.
    pub(crate) fn split_if_needed(&mut self, node: u32) {
        let Kind::Flat(mut s) = self.hot[node as usize].kind() else {
            return;
        };
        if (s.len as usize) <= self.capacity {
            return;
        }
        let first = self.alloc_children(node);
        let cell = self.nodes[node as usize].cell;
        for i in 0..s.len as usize {
            let e = *self.arena.entry(&s, i);
            let u = self.arena.unit(&s, i);
            let child = first + cell.quadrant(e.pt.lat(), e.pt.lon()) as u32;
            let loc = self.add_to_leaf(child, e.id, e.pt, u, e.seq);
            if let Some(l) = self.index.get_mut(&e.id) {
                *l = loc;
            }
        }
        self.arena.release(&mut s);
        for c in first..first + 4 {
            self.nodes[c as usize].count = self.leaf_len(c).unwrap_or(0);
            self.split_if_needed(c);
        }
    }

    /// Allocates the four children of leaf `node` (empty leaves) and makes
    /// `node` internal (its own points, if any, are the caller's to move);
    /// returns the first child.
    pub(crate) fn alloc_children(&mut self, node: u32) -> u32 {
        let parent = &self.nodes[node as usize];
        let (cell, depth) = (parent.cell, parent.depth + 1);
        let first = match self.free_blocks.pop() {
            Some(f) => f,
            None => {
                let f = self.nodes.len() as u32;
                for _ in 0..4 {
                    self.nodes.push(Node {
                        cell,
                        parent: NONE,
                        depth: 0,
                        count: 0,
                    });
                    self.hot.push(Hot::UNUSED);
                }
                f
            }
        };
        for q in 0..4u32 {
            let kind = if depth >= MAX_DEPTH {
                Kind::Capped {
                    leaf: self.alloc_capped(),
                }
            } else {
                Kind::Flat(Span::EMPTY)
            };
            let c = cell.child(q as usize);
            self.nodes[(first + q) as usize] = Node {
                cell: c,
                parent: node,
                depth,
                count: 0,
            };
            let mut h = Hot::UNUSED;
            h.set_kind(kind);
            self.hot[(first + q) as usize] = h;
        }
        // The node keeps its box: as a leaf it held every point now moving
        // to the children (and the bulk loader tightens its shape at the end).
        self.hot[node as usize].set_kind(Kind::Internal { first });
        first
    }

    /// Sets every internal node's box below `node` (included) to the union
    /// of its children's boxes, bottom up; returns `node`'s box. The bulk
    /// loader calls it once on the finished shape.
    pub(crate) fn tighten(&mut self, node: u32) -> ([f32; 3], [f32; 3]) {
        if let Kind::Internal { first } = self.hot[node as usize].kind() {
            let mut lo = [f32::INFINITY; 3];
            let mut hi = [f32::NEG_INFINITY; 3];
            for c in first..first + 4 {
                let (l, h) = self.tighten(c);
                for i in 0..3 {
                    lo[i] = lo[i].min(l[i]);
                    hi[i] = hi[i].max(h[i]);
                }
            }
            let h = &mut self.hot[node as usize];
            (h.lo, h.hi) = (lo, hi);
        }
        let h = &self.hot[node as usize];
        (h.lo, h.hi)
    }

    /// After leaf `node`'s box grew to take `u`: grows its ancestors' boxes
    /// to hold `u` too, stopping at the first that already does (every box
    /// holds its children's, so the ones above it do as well).
    #[cold]
    fn grow_above(&mut self, node: u32, u: &[f64; 3]) {
        let mut n = self.nodes[node as usize].parent;
        while n != NONE && self.hot[n as usize].grow(u) {
            n = self.nodes[n as usize].parent;
        }
    }

    pub(crate) fn alloc_capped(&mut self) -> u32 {
        match self.free_capped.pop() {
            Some(l) => l,
            None => {
                self.capped.push(Capped::new());
                (self.capped.len() - 1) as u32
            }
        }
    }

    /// Shape of the tree (for tests, tuning and monitoring).
    pub fn stats(&self) -> Stats {
        let mut s = Stats::default();
        let mut stack = vec![0u32];
        while let Some(n) = stack.pop() {
            s.nodes += 1;
            s.max_depth = s.max_depth.max(self.nodes[n as usize].depth as usize);
            match self.hot[n as usize].kind() {
                Kind::Internal { first } => stack.extend(first..first + 4),
                Kind::Flat(sp) => {
                    s.leaves += 1;
                    s.max_leaf_len = s.max_leaf_len.max(sp.len as usize);
                }
                Kind::Capped { leaf } => {
                    let len = self.capped[leaf as usize].len();
                    s.leaves += 1;
                    s.oversized_leaves += (len > self.capacity) as usize;
                    s.max_leaf_len = s.max_leaf_len.max(len);
                }
            }
        }
        s
    }

    /// Heap bytes the tree holds: the capacity of its node, leaf and free-list
    /// buffers and of its id index (the memory a server pays per place, next
    /// to the 24 bytes a place takes in [`to_bytes`](QuadTree::to_bytes)).
    ///
    /// Computed from capacities, not by asking the allocator: exact for the
    /// vectors, the hash tables' layout (buckets of entries plus one control
    /// byte each) for the id index, and an estimate for the rare leaves at the
    /// depth cap, whose members sit in B-trees.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        fn vec<E>(v: &Vec<E>) -> usize {
            v.capacity() * size_of::<E>()
        }
        let arena =
            vec(&self.arena.coords) + vec(&self.arena.entries) + self.arena.free_heap_bytes();
        let capped: usize = self.capped.iter().map(Capped::heap_bytes).sum();
        vec(&self.nodes)
            + vec(&self.hot)
            + vec(&self.free_blocks)
            + arena
            + vec(&self.capped)
            + capped
            + vec(&self.free_capped)
            + hash_map_bytes(self.index.capacity(), size_of::<(T, Loc)>())
    }
}

/// Heap bytes of a `HashMap` (hashbrown) whose `capacity()` is `capacity` and
/// whose entries take `entry` bytes: its buckets (a power of two, at most 7/8
/// of them usable) and a control byte per bucket plus one SIMD group.
/// `capacity()` falls short of the buckets' capacity by the tombstones left by
/// removals, hence the rounding up to the power of two.
pub(crate) fn hash_map_bytes(capacity: usize, entry: usize) -> usize {
    const GROUP: usize = 16;
    let buckets = match capacity {
        0 => return 0,
        1..=3 => 4,
        4..=7 => 8,
        _ => (capacity * 8).div_ceil(7).next_power_of_two(),
    };
    (buckets * entry).next_multiple_of(GROUP) + buckets + GROUP
}

/// Shape of a tree, from [`QuadTree::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Nodes reachable from the root (internal and leaves).
    pub nodes: usize,
    /// Leaves.
    pub leaves: usize,
    /// Leaves holding more points than the capacity: only leaves at the depth
    /// cap ([`MAX_DEPTH`]), i.e. piles of (near-)identical positions, can.
    pub oversized_leaves: usize,
    /// Deepest node (the root is depth 0).
    pub max_depth: usize,
    /// Most points in one leaf.
    pub max_leaf_len: usize,
}

#[cfg(test)]
impl<T: Copy + Eq + Hash + std::fmt::Debug> QuadTree<T> {
    /// Checks every structural invariant; panics with a message if one fails.
    pub(crate) fn check_invariants(&self) {
        let mut seen = 0usize;
        let mut stack = vec![0u32];
        assert_eq!(self.nodes[0].parent, NONE);
        while let Some(n) = stack.pop() {
            let node = &self.nodes[n as usize];
            let h = &self.hot[n as usize];
            if let Kind::Internal { first } = h.kind() {
                for c in first..first + 4 {
                    let b = &self.hot[c as usize];
                    let empty = (0..3).any(|i| b.lo[i] > b.hi[i]);
                    assert!(
                        empty || (0..3).all(|i| h.lo[i] <= b.lo[i] && b.hi[i] <= h.hi[i]),
                        "box of internal node {n} does not hold its child {c}'s"
                    );
                }
            }
            let inside =
                |u: [f64; 3]| (0..3).all(|i| h.lo[i] as f64 <= u[i] && u[i] <= h.hi[i] as f64);
            match self.hot[n as usize].kind() {
                Kind::Internal { first } => {
                    for q in 0..4u32 {
                        let c = &self.nodes[(first + q) as usize];
                        assert_eq!(c.parent, n);
                        assert_eq!(c.depth, node.depth + 1);
                        assert_eq!(c.cell, node.cell.child(q as usize));
                        stack.push(first + q);
                    }
                    let sum: usize = (first..first + 4)
                        .map(|c| self.nodes[c as usize].count)
                        .sum();
                    assert_eq!(node.count, sum, "count of node {n}");
                    assert!(
                        node.count > self.merge_threshold(),
                        "node {n} should have been collapsed ({} points)",
                        node.count
                    );
                }
                Kind::Flat(s) => {
                    assert!(node.depth < MAX_DEPTH);
                    assert!(
                        s.len as usize <= self.capacity,
                        "leaf over capacity: {}",
                        s.len
                    );
                    assert!(s.len as usize <= s.cap());
                    assert_eq!(node.count, s.len as usize);
                    for i in 0..s.len as usize {
                        let e = self.arena.entry(&s, i);
                        let p = e.pt;
                        assert!(
                            node.cell.contains(p.lat(), p.lon()),
                            "{p:?} outside {:?}",
                            node.cell
                        );
                        assert_eq!(self.arena.unit(&s, i), p.unit());
                        assert!(inside(p.unit()), "point outside its leaf's box");
                        assert_eq!(self.arena.lanes(&s)[3][i].to_bits(), e.seq);
                        let loc = self.index[&e.id];
                        assert_eq!(loc, self.make_loc(n, i as u32, e.seq));
                        assert_eq!((loc.off, loc.class), (s.off, s.class));
                        assert_eq!(Cell::from_key(loc.depth, loc.ilat, loc.ilon), node.cell);
                        seen += 1;
                    }
                }
                Kind::Capped { leaf } => {
                    assert_eq!(node.depth, MAX_DEPTH);
                    let c = &self.capped[leaf as usize];
                    let mut len = 0;
                    for (g, grp) in c.groups.iter().enumerate() {
                        for (&seq, id) in &grp.members {
                            assert!(node.cell.contains(grp.pt.lat(), grp.pt.lon()));
                            assert!(inside(grp.u), "point outside its capped leaf's box");
                            let loc = self.index[id];
                            assert_eq!(loc, self.make_loc(n, g as u32, seq));
                            len += 1;
                        }
                    }
                    assert_eq!(len, c.len());
                    assert_eq!(node.count, len);
                    seen += len;
                }
            }
        }
        assert_eq!(seen, self.index.len());
        assert!(self.index.values().all(|l| l.seq < self.next_seq));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (SplitMix64).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
        fn point(&mut self) -> Point {
            match self.next() % 5 {
                // A cluster, the antimeridian, a pole, a duplicate spot, anywhere.
                0 => Point::new(48.0 + self.unit() * 0.01, 2.0 + self.unit() * 0.01).unwrap(),
                1 => Point::new(
                    self.unit() * 10.0 - 5.0,
                    if self.next().is_multiple_of(2) {
                        180.0
                    } else {
                        -180.0
                    },
                )
                .unwrap(),
                2 => Point::new(89.9 + self.unit() * 0.1, self.unit() * 360.0 - 180.0).unwrap(),
                3 => Point::new(10.0, 20.0).unwrap(),
                _ => Point::new(self.unit() * 180.0 - 90.0, self.unit() * 360.0 - 180.0).unwrap(),
            }
        }
    }

    #[test]
    fn churn_keeps_every_invariant() {
        for capacity in [1, 2, 4, 32] {
            let mut t = QuadTree::with_leaf_capacity(capacity).unwrap();
            let mut rng = Rng(capacity as u64);
            for step in 0..4000 {
                let id = (rng.next() % 300) as u32;
                if rng.next().is_multiple_of(3) {
                    t.remove(&id);
                } else {
                    let p = rng.point();
                    t.insert(id, p);
                    assert_eq!(t.get(&id), Some(p));
                }
                if step % 97 == 0 {
                    t.check_invariants();
                }
            }
            t.check_invariants();
            // Empty it: everything merges back into the root.
            let ids: Vec<u32> = t.ids().collect();
            for id in ids {
                t.remove(&id);
            }
            t.check_invariants();
            assert_eq!(t.stats().nodes, 1);
        }
    }

    #[test]
    fn identical_points_stop_at_the_depth_cap() {
        let mut t = QuadTree::with_leaf_capacity(4).unwrap();
        let p = Point::new(-33.86, 151.21).unwrap();
        for i in 0..10_000u32 {
            t.insert(i, p);
        }
        t.check_invariants();
        let s = t.stats();
        assert_eq!(s.max_depth, MAX_DEPTH as usize);
        assert_eq!(s.oversized_leaves, 1);
        assert_eq!(s.max_leaf_len, 10_000);
        // The earliest inserted win the tie.
        let near = t.nearest(p, 3);
        assert_eq!(near.iter().map(|x| x.0).collect::<Vec<_>>(), [0, 1, 2]);
        for i in 0..10_000u32 {
            if i % 2 == 0 {
                t.remove(&i);
            }
        }
        t.check_invariants();
        assert_eq!(
            t.nearest(p, 2).iter().map(|x| x.0).collect::<Vec<_>>(),
            [1, 3]
        );
        // Moving the stack apart shrinks the tree back.
        for i in 0..10_000u32 {
            if i % 2 == 1 {
                t.insert(i, Point::new(-30.0 + (i as f64) * 1e-3, 150.0).unwrap());
            }
        }
        t.check_invariants();
        assert_eq!(t.stats().oversized_leaves, 0);
        assert!(t.stats().max_depth < MAX_DEPTH as usize);
    }

    #[test]
    fn packed_kinds_round_trip() {
        let big = (MAX_LEAF_CAPACITY + 1) as u32;
        let kinds = [
            Kind::Flat(Span::EMPTY),
            Kind::Flat(Span {
                off: u32::MAX,
                len: big,
                class: Arena::<u32>::class_for(big as usize),
            }),
            Kind::Flat(Span {
                off: 7,
                len: 0,
                class: 2,
            }),
            Kind::Internal { first: u32::MAX },
            Kind::Internal { first: 0 },
            Kind::Capped { leaf: u32::MAX },
            Kind::Capped { leaf: 0 },
        ];
        for k in kinds {
            let mut h = Hot::UNUSED;
            h.set_kind(k);
            assert_eq!(h.kind(), k);
        }
    }

    #[test]
    fn fit_matches_growing_point_by_point() {
        let mut rng = Rng(11);
        for n in 0..40 {
            let us: Vec<[f64; 3]> = (0..n).map(|_| rng.point().unit()).collect();
            let mut grown = Hot::UNUSED;
            for u in &us {
                grown.grow(u);
            }
            let (x, y, z): (Vec<f64>, Vec<f64>, Vec<f64>) =
                us.iter().map(|u| (u[0], u[1], u[2])).fold(
                    (vec![], vec![], vec![]),
                    |(mut a, mut b, mut c), (p, q, r)| {
                        a.push(p);
                        b.push(q);
                        c.push(r);
                        (a, b, c)
                    },
                );
            let mut fitted = Hot::UNUSED;
            fitted.fit(&x, &y, &z);
            assert_eq!((fitted.lo, fitted.hi), (grown.lo, grown.hi), "n = {n}");
            // A point strictly inside cannot have set the box: the others
            // alone fit the same box.
            for i in 0..us.len() {
                if fitted.strictly_holds(&us[i]) {
                    let mut rest = Hot::UNUSED;
                    for (j, u) in us.iter().enumerate() {
                        if j != i {
                            rest.grow(u);
                        }
                    }
                    assert_eq!((rest.lo, rest.hi), (fitted.lo, fitted.hi));
                }
                assert!(fitted.holds(&us[i]));
            }
        }
    }

    #[test]
    fn bulk_load_matches_sequential_inserts() {
        let mut rng = Rng(7);
        let items: Vec<(u32, Point)> = (0..3000)
            .map(|_| ((rng.next() % 2000) as u32, rng.point()))
            .collect();
        let mut seq = QuadTree::with_leaf_capacity(8).unwrap();
        for &(id, p) in &items {
            seq.insert(id, p);
        }
        let bulk = QuadTree::bulk_load_with_leaf_capacity(items.iter().copied(), 8).unwrap();
        bulk.check_invariants();
        assert_eq!(bulk.len(), seq.len());
        assert_eq!(bulk.entries_in_order(), seq.entries_in_order());
        for _ in 0..50 {
            let q = rng.point();
            assert_eq!(bulk.nearest(q, 7), seq.nearest(q, 7));
        }
    }
}
