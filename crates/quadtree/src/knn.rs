//! k-nearest-neighbour search.
//!
//! Depth first: at an internal node the four children's lower bounds (squared
//! distance from the query's unit vector to each child's 3-D box) are computed
//! side by side, sorted, and visited nearest first while a child can still
//! beat the current k-th best. Leaves are scanned in chunks: squared chords for
//! a whole chunk first (a tight, branch-free loop that vectorises), then a
//! second pass offers only the few that beat the k-th best.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::hash::Hash;

use crate::leaf::{Arena, Capped, Span};
use crate::point::{chord2_to_m, m_to_chord2_bound, Point};
use crate::tree::{Kind, QuadTree};
use crate::Error;

/// Points per scan chunk: 64 f64 distances are 512 bytes of stack, and
/// covers a default leaf (32) in one chunk.
const SCAN_CHUNK: usize = 64;

/// A candidate answer ordered by (squared chord, insertion number); `who`
/// finds its id once it is known to be an answer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cand<T> {
    pub d2: f64,
    pub seq: u64,
    pub who: Who<T>,
}

/// Where a candidate's id is: an arena slot (read at the end, so a scan never
/// touches the ids of points that lose) or the id itself.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Who<T> {
    Slot(u32),
    Id(T),
}

impl<T> PartialEq for Cand<T> {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl<T> Eq for Cand<T> {}
impl<T> PartialOrd for Cand<T> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Cand<T> {
    #[inline]
    fn cmp(&self, o: &Self) -> Ordering {
        self.d2.total_cmp(&o.d2).then(self.seq.cmp(&o.seq))
    }
}

/// The k best candidates so far (a max-heap on (d2, seq)), and the squared
/// chord a point must not exceed to be worth offering.
pub(crate) struct KBest<T> {
    k: usize,
    heap: BinaryHeap<Cand<T>>,
    /// Offer only points with `d2 <= worst`; prune nodes whose bound is
    /// `> worst`. Equal to the radius bound until the heap is full, then to
    /// the k-th best's `d2`.
    pub worst: f64,
}

impl<T> KBest<T> {
    pub fn new(k: usize, limit: f64) -> KBest<T> {
        KBest {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
            worst: limit,
        }
    }

    /// Offers a candidate (the caller has checked `d2 <= self.worst`);
    /// returns whether it was taken.
    #[inline]
    pub fn offer(&mut self, d2: f64, seq: u64, who: Who<T>) -> bool {
        let c = Cand { d2, seq, who };
        if self.heap.len() < self.k {
            self.heap.push(c);
        } else if let Some(mut top) = self.heap.peek_mut() {
            if c < *top {
                *top = c;
            } else {
                return false;
            }
        }
        if self.heap.len() == self.k {
            if let Some(top) = self.heap.peek() {
                self.worst = top.d2;
            }
        }
        true
    }

    pub fn into_sorted(self) -> Vec<Cand<T>> {
        self.heap.into_sorted_vec()
    }
}

impl<T: Copy + Eq + Hash> QuadTree<T> {
    /// The `k` ids nearest to `p` by great-circle distance, nearest first, with
    /// their distances in metres. Ties are broken by insertion order (earlier
    /// first). `k = 0` or an empty tree gives an empty answer; `k` larger than
    /// the tree gives every id.
    ///
    /// ```
    /// use hld_quadtree::{Point, QuadTree};
    /// let mut t = QuadTree::new();
    /// t.insert("fiji", Point::new(-17.7, 178.0)?);
    /// t.insert("samoa", Point::new(-13.8, -172.1)?);
    /// t.insert("lima", Point::new(-12.0, -77.0)?);
    /// // Across the antimeridian, Samoa is the nearer to Tonga.
    /// let tonga = Point::new(-21.2, -175.2)?;
    /// let near = t.nearest(tonga, 2);
    /// assert_eq!(near[0].0, "fiji");
    /// assert_eq!(near[1].0, "samoa");
    /// assert!(near[0].1 < near[1].1);
    /// # Ok::<(), hld_quadtree::Error>(())
    /// ```
    pub fn nearest(&self, p: Point, k: usize) -> Vec<(T, f64)> {
        self.knn(p, k, f64::INFINITY)
            .into_iter()
            .map(|c| (self.id_of(c.who), chord2_to_m(c.d2)))
            .collect()
    }

    /// The `k` ids nearest to `p` among those at most `radius_m` metres away
    /// (the notes' "look in neighbours till the limit is reached or the max
    /// radius is touched"), nearest first.
    ///
    /// # Errors
    /// [`Error::InvalidRadius`] if `radius_m` is NaN or negative.
    pub fn nearest_within(
        &self,
        p: Point,
        k: usize,
        radius_m: f64,
    ) -> Result<Vec<(T, f64)>, Error> {
        check_radius(radius_m)?;
        let mut out: Vec<(T, f64)> = self
            .knn(p, k, m_to_chord2_bound(radius_m))
            .into_iter()
            .map(|c| (self.id_of(c.who), chord2_to_m(c.d2)))
            .collect();
        // The chord bound is a hair generous; the answer is exactly those
        // whose reported distance is <= radius_m, and they are a prefix.
        while out.last().is_some_and(|&(_, d)| d > radius_m) {
            out.pop();
        }
        Ok(out)
    }

    #[inline]
    pub(crate) fn id_of(&self, who: Who<T>) -> T {
        match who {
            Who::Slot(i) => self.arena.entries[i as usize].id,
            Who::Id(id) => id,
        }
    }

    pub(crate) fn knn(&self, p: Point, k: usize, limit: f64) -> Vec<Cand<T>> {
        if k == 0 || self.is_empty() {
            return Vec::new();
        }
        let q = p.unit();
        let mut best = KBest::new(k.min(self.len()), limit);
        self.knn_node(0, &q, &mut best);
        best.into_sorted()
    }

    fn knn_node(&self, node: u32, q: &[f64; 3], best: &mut KBest<T>) {
        match self.hot[node as usize].kind {
            Kind::Flat(s) => scan_flat(&self.arena, &s, q, best),
            Kind::Capped { leaf } => scan_capped(&self.capped[leaf as usize], q, best),
            Kind::Internal { first } => {
                let f = first as usize;
                let boxes = &self.hot[f..f + 4];
                let mut order = [
                    (boxes[0].min_chord2(q), 0u32),
                    (boxes[1].min_chord2(q), 1),
                    (boxes[2].min_chord2(q), 2),
                    (boxes[3].min_chord2(q), 3),
                ];
                sort4(&mut order);
                for (lb, c) in order {
                    if lb > best.worst {
                        break;
                    }
                    self.knn_node(first + c, q, best);
                }
            }
        }
    }
}

pub(crate) fn check_radius(radius_m: f64) -> Result<(), Error> {
    if radius_m.is_nan() || radius_m < 0.0 {
        return Err(Error::InvalidRadius(radius_m));
    }
    Ok(())
}

/// Sorts four (bound, child) pairs by bound: a five-comparator network.
#[inline(always)]
fn sort4(a: &mut [(f64, u32); 4]) {
    #[inline(always)]
    fn cswap(a: &mut [(f64, u32); 4], i: usize, j: usize) {
        if a[j].0 < a[i].0 {
            a.swap(i, j);
        }
    }
    cswap(a, 0, 1);
    cswap(a, 2, 3);
    cswap(a, 0, 2);
    cswap(a, 1, 3);
    cswap(a, 1, 2);
}

#[inline]
fn scan_flat<T: Copy>(arena: &Arena<T>, s: &Span, q: &[f64; 3], best: &mut KBest<T>) {
    let [xs, ys, zs, seqs] = arena.lanes(s);
    let mut buf = [0.0f64; SCAN_CHUNK];
    let mut start = 0;
    while start < xs.len() {
        let end = (start + SCAN_CHUNK).min(xs.len());
        let b = &mut buf[..end - start];
        // The same expression as `point::chord2`, so answers are bit-identical
        // to `Point::distance_m`.
        for (((d, &x), &y), &z) in b
            .iter_mut()
            .zip(&xs[start..end])
            .zip(&ys[start..end])
            .zip(&zs[start..end])
        {
            let dx = q[0] - x;
            let dy = q[1] - y;
            let dz = q[2] - z;
            *d = dx * dx + dy * dy + dz * dz;
        }
        for (i, (&d2, &seq)) in b.iter().zip(&seqs[start..end]).enumerate() {
            if d2 <= best.worst {
                best.offer(d2, seq.to_bits(), Who::Slot(s.off + (start + i) as u32));
            }
        }
        start = end;
    }
}

fn scan_capped<T: Copy>(leaf: &Capped<T>, q: &[f64; 3], best: &mut KBest<T>) {
    for g in leaf.live_groups() {
        let d2 = crate::point::chord2(q, &g.u);
        if d2 > best.worst {
            continue;
        }
        // Members tie on distance and come in insertion order: once one is
        // turned away, so are all later ones.
        for (&seq, &id) in &g.members {
            if d2 > best.worst || !best.offer(d2, seq, Who::Id(id)) {
                break;
            }
        }
    }
}
