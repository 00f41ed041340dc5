//! k-nearest-neighbour search.
//!
//! Depth first: at an internal node the four children's lower bounds (squared
//! distance from the query's unit vector to each child's 3-D box) are computed
//! side by side, sorted with a branch-free network, and visited nearest first
//! while a child can still beat the current k-th best. Leaves are scanned in
//! chunks: squared chords for a whole chunk first (a tight, branch-free loop
//! that vectorises), then a second pass offers only the few that beat the k-th
//! best. The k best live in a sorted array for small k (see [`KBest`]).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::hash::Hash;

use crate::leaf::{Arena, Capped, Span};
use crate::point::{chord2_to_m, m_to_chord2_bound, Point};
use crate::tree::{Hot, Kind, QuadTree};
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
        order_key(self.d2, self.seq).cmp(&order_key(o.d2, o.seq))
    }
}

/// The order key of a candidate: its squared chord's bits above its
/// insertion number. A squared chord is a sum of squares, never negative
/// (and never `-0.0`), and the bits of non-negative `f64`s order like the
/// numbers, so one `u128` comparison is the (distance, insertion) order:
/// [`Cand`]'s, and the sorted array's of [`KBest`].
#[inline(always)]
fn order_key(d2: f64, seq: u64) -> u128 {
    ((d2.to_bits() as u128) << 64) | seq as u128
}

/// The squared chord of an [`order_key`].
#[inline(always)]
fn key_d2(key: u128) -> f64 {
    f64::from_bits((key >> 64) as u64)
}

/// Up to this many neighbours the k best are kept in a sorted array (an
/// insertion shifts on average k / 2 small entries, cheaper than a binary
/// heap's sift with its branchy comparisons; the callgrind profile of 10-NN
/// had the heap at a quarter of all instructions); beyond it, in a binary
/// heap, whose O(log k) wins for large k.
const SORTED_MAX_K: usize = 32;

/// The k best candidates so far, and the squared chord a point must not
/// exceed to be worth offering.
pub(crate) struct KBest<T> {
    k: usize,
    /// For `k <= SORTED_MAX_K`: the first `len` are the candidates' keys,
    /// ascending, and their ids in the same order (on the stack: no
    /// allocation per query).
    len: usize,
    keys: [u128; SORTED_MAX_K],
    whos: [Who<T>; SORTED_MAX_K],
    /// For larger `k`: a max-heap in [`Cand`]'s order.
    heap: BinaryHeap<Cand<T>>,
    /// Offer only points with `d2 <= worst`; prune nodes whose bound is
    /// `> worst`. Equal to the radius bound until k candidates are held, then
    /// to the k-th best's `d2`.
    pub worst: f64,
}

impl<T: Copy> KBest<T> {
    pub fn new(k: usize, limit: f64) -> KBest<T> {
        let small = k <= SORTED_MAX_K;
        KBest {
            k,
            len: 0,
            keys: [0; SORTED_MAX_K],
            whos: [Who::Slot(0); SORTED_MAX_K],
            heap: BinaryHeap::with_capacity(if small { 0 } else { k + 1 }),
            worst: limit,
        }
    }

    /// Offers a candidate (the caller has checked `d2 <= self.worst`);
    /// returns whether it was taken.
    #[inline]
    pub fn offer(&mut self, d2: f64, seq: u64, who: Who<T>) -> bool {
        if self.k <= SORTED_MAX_K {
            self.offer_sorted(order_key(d2, seq), who)
        } else {
            self.offer_heap(Cand { d2, seq, who })
        }
    }

    #[inline]
    fn offer_sorted(&mut self, key: u128, who: Who<T>) -> bool {
        let mut n = self.len;
        if n == self.k {
            if key >= self.keys[n - 1] {
                return false;
            }
            n -= 1;
        } else {
            self.len += 1;
        }
        // Shift the worse ones up by one (dropping the k-th when full).
        let (keys, whos) = (&mut self.keys[..=n], &mut self.whos[..=n]);
        let mut i = n;
        while i > 0 {
            let prev = keys[i - 1];
            if prev <= key {
                break;
            }
            keys[i] = prev;
            whos[i] = whos[i - 1];
            i -= 1;
        }
        keys[i] = key;
        whos[i] = who;
        if self.len == self.k {
            self.worst = key_d2(self.keys[self.k - 1]);
        }
        true
    }

    #[cold]
    fn offer_heap(&mut self, c: Cand<T>) -> bool {
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

    /// `f(squared chord, who)` of each candidate, best first, collected.
    /// Takes `&mut self` rather than `self`: moving the struct (its arrays
    /// are most of a kilobyte) cost a `memcpy` per query.
    pub fn take_sorted_map<R>(&mut self, mut f: impl FnMut(f64, Who<T>) -> R) -> Vec<R> {
        if self.k <= SORTED_MAX_K {
            let n = self.len;
            self.keys[..n]
                .iter()
                .zip(&self.whos[..n])
                .map(|(&k, &w)| f(key_d2(k), w))
                .collect()
        } else {
            std::mem::take(&mut self.heap)
                .into_sorted_vec()
                .into_iter()
                .map(|c| f(c.d2, c.who))
                .collect()
        }
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
        let mut out = self.knn(p, k, m_to_chord2_bound(radius_m));
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

    /// The answer of a k-nearest query whose squared chords are at most
    /// `limit`: ids and metres, nearest first.
    fn knn(&self, p: Point, k: usize, limit: f64) -> Vec<(T, f64)> {
        if k == 0 || self.is_empty() {
            return Vec::new();
        }
        let q = p.unit();
        let mut best = KBest::new(k.min(self.len()), limit);
        // One scratch buffer per query, not one per leaf.
        let mut buf = [0.0f64; SCAN_CHUNK];
        self.knn_node(0, &q, &mut best, &mut buf);
        best.take_sorted_map(|d2, who| (self.id_of(who), chord2_to_m(d2)))
    }

    fn knn_node(&self, node: u32, q: &[f64; 3], best: &mut KBest<T>, buf: &mut [f64; SCAN_CHUNK]) {
        match self.hot[node as usize].kind() {
            Kind::Flat(s) => scan_flat(&self.arena, &s, q, best, buf),
            Kind::Capped { leaf } => scan_capped(&self.capped[leaf as usize], q, best),
            Kind::Internal { first } => {
                let f = first as usize;
                let b: &[Hot; 4] = self.hot[f..f + 4].try_into().expect("four children");
                let mut order = [
                    bound_key(b[0].min_chord2(q), 0),
                    bound_key(b[1].min_chord2(q), 1),
                    bound_key(b[2].min_chord2(q), 2),
                    bound_key(b[3].min_chord2(q), 3),
                ];
                sort4(&mut order);
                for key in order {
                    if f64::from_bits(key & !3) > best.worst {
                        break;
                    }
                    self.knn_node(first + (key & 3) as u32, q, best, buf);
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

/// A child's lower bound and its index (0..4) in one sortable `u64`: the
/// bound's bits with the two lowest replaced by the index. Clearing them makes
/// the bound a few ulps smaller, so it is still a lower bound; the bits of a
/// non-negative `f64` (infinity for an empty leaf included) order like the
/// numbers, so the four children sort with integer min/max and no branch to
/// mispredict.
#[inline(always)]
fn bound_key(lb: f64, child: u64) -> u64 {
    (lb.to_bits() & !3) | child
}

/// Sorts four keys: a five-comparator network of branch-free min/max.
#[inline(always)]
fn sort4(a: &mut [u64; 4]) {
    #[inline(always)]
    fn cswap(a: &mut [u64; 4], i: usize, j: usize) {
        let (x, y) = (a[i], a[j]);
        a[i] = x.min(y);
        a[j] = x.max(y);
    }
    cswap(a, 0, 1);
    cswap(a, 2, 3);
    cswap(a, 0, 2);
    cswap(a, 1, 3);
    cswap(a, 1, 2);
}

#[inline]
fn scan_flat<T: Copy>(
    arena: &Arena<T>,
    s: &Span,
    q: &[f64; 3],
    best: &mut KBest<T>,
    buf: &mut [f64; SCAN_CHUNK],
) {
    let [xs, ys, zs, seqs] = arena.lanes(s);
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
        // Insertion numbers are read only for the few points offered, so a
        // scan touches the x, y, z lanes and not the fourth.
        for (i, &d2) in b.iter().enumerate() {
            if d2 <= best.worst {
                let at = start + i;
                best.offer(d2, seqs[at].to_bits(), Who::Slot(s.off + at as u32));
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
