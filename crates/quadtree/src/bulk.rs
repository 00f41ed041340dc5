//! Bulk construction.
//!
//! All points are partitioned top-down: a node's points are split into its
//! four quadrants with one counting pass and one stable scatter, and a node
//! becomes a leaf as soon as it holds at most the leaf capacity (or reaches the
//! depth cap). Each point is touched once per level and every leaf is filled
//! in one go, instead of one descent and a cascade of splits per point.

use std::collections::HashMap;
use std::hash::Hash;

use ahash::RandomState;

use crate::point::Point;
use crate::leaf::Entry;
use crate::tree::{Kind, Loc, QuadTree, MAX_DEPTH};
use crate::Error;

impl<T: Copy + Eq + Hash> QuadTree<T> {
    /// Builds a tree (default leaf capacity) from `(id, point)` pairs, much
    /// faster than inserting them one by one. The result is the same as
    /// inserting them in order: a repeated id ends at its last point and keeps
    /// the insertion order of its first.
    ///
    /// ```
    /// use hld_quadtree::{Point, QuadTree};
    /// let cities = [("oslo", 59.91, 10.75), ("rome", 41.90, 12.50), ("cairo", 30.04, 31.24)];
    /// let t = QuadTree::bulk_load(cities.iter().map(|&(n, la, lo)| (n, Point::new(la, lo).unwrap())));
    /// assert_eq!(t.nearest(Point::new(45.0, 10.0)?, 1)[0].0, "rome");
    /// # Ok::<(), hld_quadtree::Error>(())
    /// ```
    pub fn bulk_load<I: IntoIterator<Item = (T, Point)>>(items: I) -> QuadTree<T> {
        let mut t = QuadTree::empty(crate::DEFAULT_LEAF_CAPACITY);
        t.build(items.into_iter().collect());
        t
    }

    /// [`bulk_load`](QuadTree::bulk_load) with a leaf capacity.
    ///
    /// # Errors
    /// [`Error::InvalidLeafCapacity`] unless `1 <= capacity <= MAX_LEAF_CAPACITY`.
    pub fn bulk_load_with_leaf_capacity<I: IntoIterator<Item = (T, Point)>>(
        items: I,
        capacity: usize,
    ) -> Result<QuadTree<T>, Error> {
        let mut t = QuadTree::with_leaf_capacity(capacity)?;
        t.build(items.into_iter().collect());
        Ok(t)
    }

    /// Fills an empty tree.
    fn build(&mut self, items: Vec<(T, Point)>) {
        debug_assert!(self.is_empty());
        if items.len() >= u32::MAX as usize {
            // Beyond the u32 scratch indices: fall back to one by one.
            for (id, p) in items {
                self.insert(id, p);
            }
            return;
        }
        let capacity = self.capacity;
        if self.try_build(&items).is_err() {
            // A repeated id: keep the first occurrence's place in the order and
            // the last occurrence's point, exactly as sequential inserts would.
            let mut first: HashMap<T, usize, RandomState> =
                HashMap::with_capacity_and_hasher(items.len(), RandomState::default());
            let mut unique: Vec<(T, Point)> = Vec::with_capacity(items.len());
            for (id, p) in items {
                match first.get(&id) {
                    Some(&i) => unique[i].1 = p,
                    None => {
                        first.insert(id, unique.len());
                        unique.push((id, p));
                    }
                }
            }
            *self = QuadTree::empty(capacity);
            let built = self.try_build(&unique);
            debug_assert!(built.is_ok());
        }
    }

    /// Builds from `items`, whose position is their insertion number; fails
    /// (leaving a half-built tree) on a repeated id.
    fn try_build(&mut self, items: &[(T, Point)]) -> Result<(), ()> {
        let units: Vec<[f64; 3]> = items.iter().map(|(_, p)| p.unit()).collect();
        let mut order: Vec<u32> = (0..items.len() as u32).collect();
        let mut scratch: Vec<u32> = vec![0; items.len()];
        self.index.reserve(items.len());
        let base = self.next_seq;
        self.next_seq += items.len() as u64;
        let mut ctx = Ctx { items, units: &units, base };
        self.build_node(0, &mut order, &mut scratch, &mut ctx)
    }

    fn build_node(
        &mut self,
        node: u32,
        idx: &mut [u32],
        scratch: &mut [u32],
        ctx: &mut Ctx<'_, T>,
    ) -> Result<(), ()> {
        let depth = self.nodes[node as usize].depth;
        self.nodes[node as usize].count = idx.len();
        if idx.len() <= self.capacity || depth >= MAX_DEPTH {
            return self.fill_leaf(node, idx, ctx);
        }
        let cell = self.nodes[node as usize].cell;
        // Stable four-way partition by quadrant.
        let mut counts = [0usize; 4];
        for &i in idx.iter() {
            let p = ctx.items[i as usize].1;
            counts[cell.quadrant(p.lat(), p.lon())] += 1;
        }
        let mut offs = [0, counts[0], counts[0] + counts[1], counts[0] + counts[1] + counts[2]];
        let starts = offs;
        for &i in idx.iter() {
            let p = ctx.items[i as usize].1;
            let q = cell.quadrant(p.lat(), p.lon());
            scratch[offs[q]] = i;
            offs[q] += 1;
        }
        idx.copy_from_slice(&scratch[..idx.len()]);
        let first = self.alloc_children(node);
        for q in 0..4 {
            let (s, e) = (starts[q], starts[q] + counts[q]);
            self.build_node(first + q as u32, &mut idx[s..e], &mut scratch[s..e], ctx)?;
        }
        Ok(())
    }

    fn fill_leaf(&mut self, node: u32, idx: &[u32], ctx: &mut Ctx<'_, T>) -> Result<(), ()> {
        match self.hot[node as usize].kind {
            Kind::Flat(_) => {
                let span = self.arena.fill(idx.iter().map(|&i| {
                    let (id, pt) = ctx.items[i as usize];
                    (Entry { pt, seq: ctx.base + i as u64, id }, ctx.units[i as usize])
                }));
                self.hot[node as usize].kind = Kind::Flat(span);
                for (slot, &i) in idx.iter().enumerate() {
                    let loc = Loc { node, slot: slot as u32, seq: ctx.base + i as u64 };
                    if self.index.insert(ctx.items[i as usize].0, loc).is_some() {
                        return Err(());
                    }
                }
            }
            _ => {
                for &i in idx {
                    let (id, p) = ctx.items[i as usize];
                    let loc = self.add_to_leaf(node, id, p, ctx.units[i as usize], ctx.base + i as u64);
                    if self.index.insert(id, loc).is_some() {
                        return Err(());
                    }
                }
            }
        }
        Ok(())
    }
}

struct Ctx<'a, T> {
    items: &'a [(T, Point)],
    units: &'a [[f64; 3]],
    base: u64,
}

impl<T: Copy + Eq + Hash> FromIterator<(T, Point)> for QuadTree<T> {
    /// Same as [`QuadTree::bulk_load`].
    fn from_iter<I: IntoIterator<Item = (T, Point)>>(iter: I) -> Self {
        QuadTree::bulk_load(iter)
    }
}

impl<T: Copy + Eq + Hash> Extend<(T, Point)> for QuadTree<T> {
    /// Inserts each pair (a bulk build when the tree is empty).
    fn extend<I: IntoIterator<Item = (T, Point)>>(&mut self, iter: I) {
        if self.is_empty() {
            let capacity = self.capacity;
            *self = QuadTree::empty(capacity);
            self.build(iter.into_iter().collect());
        } else {
            for (id, p) in iter {
                self.insert(id, p);
            }
        }
    }
}
