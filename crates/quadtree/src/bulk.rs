//! Bulk construction.
//!
//! Each point gets its path from the root to the depth cap as a Z-order key
//! (two bits per level); the keys are radix-sorted a byte (four levels) at a
//! time, top down, stopping in any bucket small enough to be a leaf. Then
//! every node's points are one contiguous run, its children are found by
//! binary search, and every leaf is filled in one go: no descent and no
//! cascade of splits per point.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

use ahash::RandomState;

use crate::leaf::{Arena, Entry};
use crate::point::Point;
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
        let n = items.len();
        let mut recs: Vec<(u64, u32)> = items
            .iter()
            .enumerate()
            .map(|(i, (_, p))| (path_key(p), i as u32))
            .collect();
        let mut scratch = vec![(0u64, 0u32); n];
        radix_sort(&mut recs, &mut scratch, 56, self.capacity);
        let base = self.next_seq;
        self.next_seq += n as u64;

        // The shape first, then the arena in one allocation of the right size.
        let mut leaves: Vec<(u32, usize, usize)> = Vec::new();
        self.build_range(0, &recs, 0, &mut leaves);
        let slots: usize = leaves
            .iter()
            .filter(|&&(node, s, e)| {
                matches!(self.hot[node as usize].kind(), Kind::Flat(_)) && e > s
            })
            .map(|&(_, s, e)| 1usize << Arena::<T>::class_for(e - s))
            .sum();
        self.arena.reserve(slots);

        // Gather the points in tree order in a tight loop (independent loads
        // overlap; a loop that also calls sin_cos would wait for each).
        let sorted: Vec<(T, Point)> = recs.iter().map(|&(_, i)| items[i as usize]).collect();

        // Fill the leaves; remember each record's id and location (record r's
        // are `placed[r]`).
        let mut placed: Vec<(T, Loc)> = Vec::with_capacity(n);
        for &(node, s, e) in &leaves {
            let run = &recs[s..e];
            match self.hot[node as usize].kind() {
                Kind::Flat(_) => {
                    let span = self.fill_leaf(
                        node,
                        run.iter().zip(&sorted[s..e]).map(|(&(_, i), &(id, pt))| {
                            (
                                Entry {
                                    pt,
                                    seq: base + i as u64,
                                    id,
                                },
                                pt.unit(),
                            )
                        }),
                    );
                    let proto = self.make_loc(node, 0, 0);
                    let entries = self.arena.entries(&span);
                    placed.extend(entries.iter().enumerate().map(|(slot, e)| {
                        (
                            e.id,
                            Loc {
                                slot: slot as u32,
                                seq: e.seq,
                                ..proto
                            },
                        )
                    }));
                }
                _ => {
                    for (&(_, i), &(id, p)) in run.iter().zip(&sorted[s..e]) {
                        let loc = self.add_to_leaf(node, id, p, p.unit(), base + i as u64);
                        placed.push((id, loc));
                    }
                }
            }
        }

        // Internal nodes' boxes: the union of their children's (tighter than
        // their cells', which is what makes clustered data cheap to search).
        self.tighten(0);

        // The index, filled in the order of the hash table's buckets: each
        // insert then lands next to the previous one instead of on a random
        // cache line (a third of the build time otherwise). The bucket count
        // is hashbrown's for this capacity (the next power of two of 8/7 of
        // it); were it different, only the locality would suffer.
        self.index.reserve(n);
        let buckets = (n.max(8) * 8 / 7).next_power_of_two() as u64;
        let bits = buckets.trailing_zeros();
        let hasher = self.index.hasher().clone();
        let mut order: Vec<(u64, u32)> = placed
            .iter()
            .enumerate()
            .map(|(r, (id, _))| {
                let h = BuildHasher::hash_one(&hasher, id) & (buckets - 1);
                (h << (64 - bits.max(1)), r as u32)
            })
            .collect();
        radix_sort(&mut order, &mut scratch, 56, 64);
        let in_order: Vec<(T, Loc)> = order.iter().map(|&(_, r)| placed[r as usize]).collect();
        drop(placed);
        for (id, loc) in in_order {
            if self.index.insert(id, loc).is_some() {
                return Err(());
            }
        }
        Ok(())
    }

    /// Shapes the subtree of `node` for `recs` (sorted by path key as far as
    /// needed, see [`radix_sort`]), whose first record is `recs_at` in the
    /// whole array; lists its leaves as (node, start, end) runs.
    fn build_range(
        &mut self,
        node: u32,
        recs: &[(u64, u32)],
        at: usize,
        leaves: &mut Vec<(u32, usize, usize)>,
    ) {
        let depth = self.nodes[node as usize].depth;
        self.nodes[node as usize].count = recs.len();
        if recs.len() <= self.capacity || depth >= MAX_DEPTH {
            leaves.push((node, at, at + recs.len()));
            return;
        }
        let first = self.alloc_children(node);
        let shift = quadrant_shift(depth);
        let q = |r: &(u64, u32)| (r.0 >> shift) & 3;
        let cuts = [
            0,
            recs.partition_point(|r| q(r) < 1),
            recs.partition_point(|r| q(r) < 2),
            recs.partition_point(|r| q(r) < 3),
            recs.len(),
        ];
        for c in 0..4 {
            self.build_range(
                first + c as u32,
                &recs[cuts[c]..cuts[c + 1]],
                at + cuts[c],
                leaves,
            );
        }
    }
}

/// Cells per axis at the depth cap.
const GRID: u64 = 1 << MAX_DEPTH;

/// The index `k` of the depth-cap row (or column) holding `v`: the one with
/// `lo + k·step <= v < lo + (k+1)·step`, clamped so that the world's north
/// and east edges fall in the last. The boundaries are exact in `f64` (see
/// [`Cell::from_key`](crate::geom::Cell::from_key)), and every cell's
/// midpoint is one of them, so bit `29 - d` of `k` is exactly the comparison
/// `v >= mid` that [`QuadTree::descend`] makes at depth `d`.
#[inline]
fn grid_index(v: f64, lo: f64, span: f64) -> u64 {
    let top = GRID as i64 - 1;
    let step = span / GRID as f64;
    // A first guess (within one of the answer), then exact corrections:
    // `b` is always the exact boundary `lo + k·step`.
    let mut k = (((v - lo) * (GRID as f64 / span)) as i64).clamp(0, top);
    let mut b = lo + k as f64 * step;
    while k > 0 && v < b {
        k -= 1;
        b -= step;
    }
    while k < top && v >= b + step {
        k += 1;
        b += step;
    }
    k as u64
}

/// Spreads the low 32 bits of `x` to the even bit positions.
fn spread(mut x: u64) -> u64 {
    x &= 0xFFFF_FFFF;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// A point's path from the root to the depth cap as a Z-order key: two bits
/// per level, (north, east) = the child quadrant, most significant first,
/// shifted to the top of the word (bits 4..64).
fn path_key(p: &Point) -> u64 {
    let ilat = grid_index(p.lat(), -90.0, 180.0);
    let ilon = grid_index(p.lon(), -180.0, 360.0);
    ((spread(ilat) << 1) | spread(ilon)) << 4
}

/// Where the quadrant bits of depth `d` sit in a [`path_key`].
#[inline]
fn quadrant_shift(d: u8) -> u32 {
    2 * (MAX_DEPTH as u32 - 1 - d as u32) + 4
}

/// Most-significant-digit radix sort of `(key, index)` records by key, a byte
/// (four tree levels) at a time from bit `shift` down, stably (so each leaf
/// keeps insertion order). A bucket of at most `cap` records is left as it
/// is: it will be one leaf, or lie inside one, so its order does not matter.
fn radix_sort(recs: &mut [(u64, u32)], scratch: &mut [(u64, u32)], shift: u32, cap: usize) {
    if recs.len() <= cap {
        return;
    }
    let mut counts = [0usize; 256];
    for r in recs.iter() {
        counts[((r.0 >> shift) & 255) as usize] += 1;
    }
    let mut starts = [0usize; 256];
    let mut acc = 0;
    for (s, &c) in starts.iter_mut().zip(&counts) {
        *s = acc;
        acc += c;
    }
    // All in one bucket (a cluster): no need to move anything at this digit.
    if counts.contains(&recs.len()) {
        if shift > 0 {
            radix_sort(recs, scratch, shift - 8, cap);
        }
        return;
    }
    let mut next = starts;
    for &r in recs.iter() {
        let b = ((r.0 >> shift) & 255) as usize;
        scratch[next[b]] = r;
        next[b] += 1;
    }
    recs.copy_from_slice(scratch);
    if shift == 0 {
        return;
    }
    for b in 0..256 {
        let (s, e) = (starts[b], starts[b] + counts[b]);
        if e - s > cap {
            radix_sort(&mut recs[s..e], &mut scratch[s..e], shift - 8, cap);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::Cell;

    /// The key's quadrant bits agree with descending by comparisons, at every
    /// depth, including points exactly on and one ulp beside cell edges.
    #[test]
    fn path_key_follows_descent() {
        let mut lats = vec![
            -90.0,
            90.0,
            0.0,
            45.0,
            -45.0,
            12.345678901234,
            89.99999999999,
        ];
        let mut lons = vec![-180.0, 180.0, 0.0, 90.0, -90.0, 179.9999999999, -0.0000001];
        for d in [1u32, 2, 7, 19, 29, 30] {
            let h = 180.0 / (1u64 << d) as f64;
            let w = 360.0 / (1u64 << d) as f64;
            for k in [1u64, 3, 5] {
                let (a, b) = (-90.0 + k as f64 * h, -180.0 + k as f64 * w);
                lats.extend([a, a.next_down(), a.next_up()]);
                lons.extend([b, b.next_down(), b.next_up()]);
            }
        }
        for &lat in &lats {
            for &lon in &lons {
                let Ok(p) = Point::new(lat, lon) else {
                    continue;
                };
                let key = path_key(&p);
                let mut cell = Cell::WORLD;
                for d in 0..MAX_DEPTH {
                    let q = cell.quadrant(p.lat(), p.lon());
                    assert_eq!(
                        ((key >> quadrant_shift(d)) & 3) as usize,
                        q,
                        "{lat} {lon} depth {d}"
                    );
                    cell = cell.child(q);
                }
                assert!(cell.contains(p.lat(), p.lon()));
            }
        }
    }
}
