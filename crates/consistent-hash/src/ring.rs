//! A consistent-hash ring with virtual nodes and weights (Karger et al. 1997;
//! virtual nodes as in Dynamo and libketama).
//!
//! Each node owns `weight * vnodes_per_node` points on a 64-bit circle; a key
//! belongs to the owner of the first point at or after the key's hash
//! (clockwise), and its replicas to the next distinct owners. Adding a node
//! moves only the keys that now land on the new node's points (about `1/N`);
//! removing one moves only that node's keys.
//!
//! Layout: the points are one sorted `Vec<u64>` with a parallel `Vec<u32>` of
//! owners, plus a lookup table on the top `b` bits of the hash (`2^b` is a
//! quarter of the point count, rounded up to a power of two: 16 KiB for 10k
//! points, small enough to stay in L1). The table says where each
//! `2^(64-b)`-wide slice of the circle starts in the sorted array, so a lookup
//! reads two adjacent table entries and scans the 2 to 4 points of one slice
//! (one cache line): no binary search at all.
//!
//! Placement, documented so that other processes and languages can agree:
//! - a node's hash is [`stable_hash`](crate::stable_hash)`(node, seed)` (XXH3-64);
//! - its virtual node `i` (0-based, `i < weight * vnodes_per_node`) sits at the
//!   `i`-th output of SplitMix64 seeded with the node's hash, i.e.
//!   `mix(node_hash + (i + 1) * 0x9E3779B97F4A7C15)` with SplitMix64's `mix`;
//! - a key at hash `h` goes to the first point `p >= h`, wrapping past `u64::MAX`
//!   to the smallest point; equal points are ordered by node hash.
//!
//! Placement depends on the set of (node, weight) pairs, `vnodes_per_node` and
//! the seed only, never on insertion order.

use crate::stable::{splitmix64_nth, stable_hash, HashIndex};
use crate::Error;
use std::fmt;
use std::hash::Hash;

/// Virtual nodes per node for [`HashRing::default`] and `FromIterator`: 160,
/// libketama's choice (40 MD5 digests x 4 points per server), which keeps the
/// busiest of 100 nodes within about 25% of the mean.
pub const DEFAULT_VNODES: usize = 160;

/// The most ring points one node may own (`weight * vnodes_per_node`): 2^24,
/// 16 million points, 200 MiB of ring for a single node.
pub const MAX_POINTS_PER_NODE: u64 = 1 << 24;

/// The most points a whole ring may hold: point indices are `u32`.
pub const MAX_RING_POINTS: u64 = u32::MAX as u64;

#[derive(Clone)]
pub(crate) struct Member<N> {
    pub(crate) node: N,
    pub(crate) hash: u64,
    pub(crate) weight: u32,
}

/// A consistent-hash ring of nodes `N` with virtual nodes and weights.
///
/// ```
/// use hld_consistent_hash::HashRing;
///
/// let mut ring = HashRing::new(100)?;
/// for shard in ["cache-a", "cache-b", "cache-c"] {
///     ring.add(shard.to_string());
/// }
/// ring.add_weighted("cache-big".to_string(), 2)?; // twice the share
///
/// let owner = ring.node_for("session:42").unwrap();
/// let replicas = ring.nodes_for("session:42", 3); // 3 distinct nodes
/// assert_eq!(replicas[0], owner);
/// assert_eq!(replicas.len(), 3);
///
/// ring.remove(&"cache-b".to_string());
/// assert_eq!(ring.len(), 3);
/// # Ok::<(), hld_consistent_hash::Error>(())
/// ```
#[derive(Clone)]
pub struct HashRing<N> {
    vnodes: u32,
    seed: u64,
    pub(crate) members: Vec<Member<N>>,
    // Node hash -> index in `members` (the hash is already uniform; collisions
    // between different nodes are refused, see Error::HashCollision).
    index: HashIndex<u32>,
    points: Vec<u64>,
    owners: Vec<u32>,
    // table[b] = first index in `points` whose top `bits` bits are >= b; len 2^bits + 1.
    table: Vec<u32>,
    shift: u32,
}

impl<N> HashRing<N> {
    /// An empty ring whose nodes get `vnodes_per_node` points each (times their
    /// weight), keys hashed with seed 0. Zero is an `Err`.
    pub fn new(vnodes_per_node: usize) -> Result<HashRing<N>, Error> {
        HashRing::with_seed(vnodes_per_node, 0)
    }

    /// An empty ring with an explicit hash seed. Every process that must agree
    /// on placement uses the same seed.
    pub fn with_seed(vnodes_per_node: usize, seed: u64) -> Result<HashRing<N>, Error> {
        if vnodes_per_node == 0 {
            return Err(Error::ZeroVnodes);
        }
        if vnodes_per_node as u64 > MAX_POINTS_PER_NODE {
            return Err(Error::TooManyPoints {
                requested: vnodes_per_node as u64,
                max: MAX_POINTS_PER_NODE,
            });
        }
        Ok(HashRing::empty(vnodes_per_node as u32, seed))
    }

    fn empty(vnodes: u32, seed: u64) -> HashRing<N> {
        HashRing {
            vnodes,
            seed,
            members: Vec::new(),
            index: HashIndex::default(),
            points: Vec::new(),
            owners: Vec::new(),
            table: vec![0; 3],
            shift: 63,
        }
    }

    /// The number of nodes.
    #[inline]
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True if the ring has no node (every lookup answers `None`).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Virtual nodes per unit of weight.
    pub fn vnodes_per_node(&self) -> usize {
        self.vnodes as usize
    }

    /// The seed of the placement hash.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The number of points on the ring (sum of `weight * vnodes_per_node`).
    pub fn point_count(&self) -> usize {
        self.points.len()
    }

    /// Removes every node.
    pub fn clear(&mut self) {
        self.members.clear();
        self.index.clear();
        self.points.clear();
        self.owners.clear();
        self.rebuild_table();
    }

    /// The nodes with their weights, in no particular order.
    pub fn iter(&self) -> Iter<'_, N> {
        Iter {
            inner: self.members.iter(),
        }
    }

    /// The nodes, in no particular order.
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = &N> + '_ {
        self.members.iter().map(|m| &m.node)
    }

    /// The hash of a key as the ring sees it (XXH3-64 with the ring's seed);
    /// pass it to [`node_for_hash`](Self::node_for_hash) to route many times
    /// without rehashing.
    #[inline]
    pub fn key_hash<K: Hash + ?Sized>(&self, key: &K) -> u64 {
        stable_hash(key, self.seed)
    }

    /// The node owning `key`, `None` on an empty ring.
    #[inline]
    pub fn node_for<K: Hash + ?Sized>(&self, key: &K) -> Option<&N> {
        self.node_for_hash(stable_hash(key, self.seed))
    }

    /// The node owning the key whose hash is `key_hash` (see [`key_hash`](Self::key_hash)).
    #[inline]
    pub fn node_for_hash(&self, key_hash: u64) -> Option<&N> {
        let i = self.point_index(key_hash)?;
        Some(&self.members[self.owners[i] as usize].node)
    }

    /// Up to `n` distinct nodes for `key`, owner first, then the next distinct
    /// owners clockwise (the usual replica placement). Returns `min(n, len())`
    /// nodes; empty for an empty ring or `n == 0`.
    pub fn nodes_for<K: Hash + ?Sized>(&self, key: &K, n: usize) -> Vec<&N> {
        self.nodes_for_hash(stable_hash(key, self.seed), n)
    }

    /// [`nodes_for`](Self::nodes_for) from a key hash.
    pub fn nodes_for_hash(&self, key_hash: u64, n: usize) -> Vec<&N> {
        let want = n.min(self.members.len());
        let mut out = Vec::with_capacity(want);
        if want == 0 {
            return out;
        }
        let mut seen_small: Vec<u32> = Vec::new();
        let mut seen_big: Vec<bool> = Vec::new();
        // A linear check is fastest for the usual 2-5 replicas; a bitmap keeps
        // large `n` linear.
        let small = want <= 16;
        if !small {
            seen_big = vec![false; self.members.len()];
        }
        for owner in self.walk(key_hash) {
            let fresh = if small {
                if seen_small.contains(&owner) {
                    false
                } else {
                    seen_small.push(owner);
                    true
                }
            } else if seen_big[owner as usize] {
                false
            } else {
                seen_big[owner as usize] = true;
                true
            };
            if fresh {
                out.push(&self.members[owner as usize].node);
                if out.len() == want {
                    break;
                }
            }
        }
        out
    }

    /// The index in `points` of the first point at or after `h` (wrapping).
    #[inline]
    fn point_index(&self, h: u64) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        let b = (h >> self.shift) as usize;
        let lo = self.table[b] as usize;
        let hi = self.table[b + 1] as usize;
        // Points before `lo` have smaller top bits than `h`, points from `hi` on
        // larger ones: the answer is in lo..=hi. A slice holds 2 to 4 points on average.
        let i = lo + self.points[lo..hi].iter().take_while(|&&p| p < h).count();
        Some(if i == self.points.len() { 0 } else { i })
    }

    /// Owners of the points clockwise from `h`, once around the ring.
    pub(crate) fn walk(&self, h: u64) -> impl Iterator<Item = u32> + '_ {
        let start = self.point_index(h).unwrap_or(0);
        let (a, b) = self.owners.split_at(start.min(self.owners.len()));
        b.iter().chain(a.iter()).copied()
    }
}

impl<N: Hash + Eq> HashRing<N> {
    pub(crate) fn find(&self, node: &N) -> Option<usize> {
        let h = stable_hash(node, self.seed);
        let &i = self.index.get(&h)?;
        (self.members[i as usize].node == *node).then_some(i as usize)
    }

    /// True if `node` is on the ring.
    pub fn contains(&self, node: &N) -> bool {
        self.find(node).is_some()
    }

    /// The weight of `node`, `None` if it is not on the ring.
    pub fn weight(&self, node: &N) -> Option<u32> {
        self.find(node).map(|i| self.members[i].weight)
    }

    /// Adds `node` with weight 1; true if it was not already there (an existing
    /// node is left as it is, like `HashSet::insert`). Also false in the
    /// never-seen-in-practice cases [`add_weighted`](Self::add_weighted) reports as
    /// errors (a 64-bit node-hash collision, more than [`MAX_RING_POINTS`]).
    pub fn add(&mut self, node: N) -> bool {
        self.add_weighted(node, 1).unwrap_or(false)
    }

    /// Adds `node` owning `weight * vnodes_per_node` points: `Ok(true)` if added,
    /// `Ok(false)` if it was already there (its weight is unchanged; see
    /// [`set_weight`](Self::set_weight)). Zero weight is an `Err`.
    ///
    /// Costs O(P) for a ring of P points (one merge, no re-sort); add many nodes
    /// at once with [`extend_weighted`](Self::extend_weighted) or `Extend`.
    pub fn add_weighted(&mut self, node: N, weight: u32) -> Result<bool, Error> {
        let added = self.push_members(std::iter::once((node, weight)))?;
        Ok(added == 1)
    }

    /// Adds many `(node, weight)` pairs, sorting the new points once. Nodes
    /// already present are skipped. On `Err` (a zero weight, too many points, a
    /// hash collision) the ring is unchanged. Returns how many were added.
    pub fn extend_weighted<I: IntoIterator<Item = (N, u32)>>(
        &mut self,
        nodes: I,
    ) -> Result<usize, Error> {
        self.push_members(nodes)
    }

    fn push_members<I: IntoIterator<Item = (N, u32)>>(&mut self, nodes: I) -> Result<usize, Error> {
        let first_new = self.members.len();
        let mut total = self.points.len() as u64;
        let mut result = Ok(());
        for (node, weight) in nodes {
            if let Err(e) = self.check_weight(weight) {
                result = Err(e);
                break;
            }
            let hash = stable_hash(&node, self.seed);
            if let Some(&i) = self.index.get(&hash) {
                if self.members[i as usize].node == node {
                    continue; // already present
                }
                result = Err(Error::HashCollision);
                break;
            }
            total += weight as u64 * self.vnodes as u64;
            if total > MAX_RING_POINTS {
                result = Err(Error::TooManyPoints {
                    requested: total,
                    max: MAX_RING_POINTS,
                });
                break;
            }
            self.index.insert(hash, self.members.len() as u32);
            self.members.push(Member { node, hash, weight });
        }
        if let Err(e) = result {
            // Leave the ring as it was.
            for m in self.members.drain(first_new..) {
                self.index.remove(&m.hash);
            }
            return Err(e);
        }
        let added = self.members.len() - first_new;
        if added > 0 {
            self.rebuild_points();
        }
        Ok(added)
    }

    fn check_weight(&self, weight: u32) -> Result<(), Error> {
        if weight == 0 {
            return Err(Error::ZeroWeight);
        }
        let requested = weight as u64 * self.vnodes as u64;
        if requested > MAX_POINTS_PER_NODE {
            return Err(Error::TooManyPoints {
                requested,
                max: MAX_POINTS_PER_NODE,
            });
        }
        Ok(())
    }

    /// Removes `node`; true if it was there. Only its keys move (each to the
    /// next owner clockwise). O(P).
    pub fn remove(&mut self, node: &N) -> bool {
        match self.find(node) {
            Some(i) => {
                self.remove_index(i);
                true
            }
            None => false,
        }
    }

    /// Removes the member at `i` (swap-remove: the last member takes index `i`).
    pub(crate) fn remove_index(&mut self, i: usize) -> Member<N> {
        let last = (self.members.len() - 1) as u32;
        let gone = i as u32;
        let mut w = 0;
        for r in 0..self.points.len() {
            let o = self.owners[r];
            if o != gone {
                self.points[w] = self.points[r];
                self.owners[w] = if o == last { gone } else { o };
                w += 1;
            }
        }
        self.points.truncate(w);
        self.owners.truncate(w);
        let m = self.members.swap_remove(i);
        self.index.remove(&m.hash);
        if i < self.members.len() {
            self.index.insert(self.members[i].hash, gone);
        }
        self.rebuild_table();
        m
    }

    /// Changes the weight of `node`, returning the old one (`Ok(None)` if the
    /// node is not on the ring). The node keeps its first `min(old, new) *
    /// vnodes_per_node` points, so only the difference moves. Zero is an `Err`.
    pub fn set_weight(&mut self, node: &N, weight: u32) -> Result<Option<u32>, Error> {
        self.check_weight(weight)?;
        let Some(i) = self.find(node) else {
            return Ok(None);
        };
        let old = self.members[i].weight;
        if old == weight {
            return Ok(Some(old));
        }
        let new_total = self.points.len() as u64 - old as u64 * self.vnodes as u64
            + weight as u64 * self.vnodes as u64;
        if new_total > MAX_RING_POINTS {
            return Err(Error::TooManyPoints {
                requested: new_total,
                max: MAX_RING_POINTS,
            });
        }
        self.members[i].weight = weight;
        self.rebuild_points();
        Ok(Some(old))
    }
}

impl<N> HashRing<N> {
    /// Regenerates every point from the members with one counting sort on
    /// the top bits of the point (the same bits the lookup table uses, so the
    /// histogram's prefix sum *is* the table), then an insertion sort inside
    /// each slot (2 to 4 points: the points are uniform). O(P), no
    /// O(P log P) sort, and the buffers are reused from one change to the next.
    fn rebuild_points(&mut self) {
        let vnodes = self.vnodes as u64;
        let total: usize = self
            .members
            .iter()
            .map(|m| (m.weight as u64 * vnodes) as usize)
            .sum();
        let (bits, shift) = table_shape(total);
        self.shift = shift;
        let slots = 1usize << bits;
        let table = &mut self.table;
        table.clear();
        table.resize(slots + 1, 0);
        // Histogram at b + 1, then prefix sums: table[b] = start of slot b.
        for m in &self.members {
            for v in 0..m.weight as u64 * vnodes {
                table[(splitmix64_nth(m.hash, v) >> shift) as usize + 1] += 1;
            }
        }
        for b in 0..slots {
            table[b + 1] += table[b];
        }
        // Scatter from the back of each slot: afterwards table[b + 1] holds
        // the start of slot b, so one rotation restores the table.
        self.points.clear();
        self.points.resize(total, 0);
        self.owners.clear();
        self.owners.resize(total, 0);
        let (points, owners) = (&mut self.points[..], &mut self.owners[..]);
        for (i, m) in self.members.iter().enumerate() {
            for v in 0..m.weight as u64 * vnodes {
                let p = splitmix64_nth(m.hash, v);
                let cursor = &mut table[(p >> shift) as usize + 1];
                *cursor -= 1;
                let at = *cursor as usize;
                points[at] = p;
                owners[at] = i as u32;
            }
        }
        table.rotate_left(1);
        table[slots] = total as u32;
        for b in 0..slots {
            let (s, e) = (table[b] as usize, table[b + 1] as usize);
            if e - s > 1 {
                sort_slot(
                    &mut self.points[s..e],
                    &mut self.owners[s..e],
                    &self.members,
                );
            }
        }
    }

    /// Recomputes the lookup table from the (sorted) points.
    fn rebuild_table(&mut self) {
        let (bits, shift) = table_shape(self.points.len());
        self.shift = shift;
        let slots = 1usize << bits;
        self.table.clear();
        self.table.resize(slots + 1, 0);
        for &p in &self.points {
            self.table[(p >> shift) as usize + 1] += 1;
        }
        for b in 0..slots {
            self.table[b + 1] += self.table[b];
        }
    }
}

/// log2 of the target points per table slot. 2 to 4 points per slot keep the
/// table small enough for L1 (16 KiB at 10k points) while the scan inside a
/// slot stays within one or two cache lines of `points`.
const SLOT_LOAD_LOG2: u32 = 2;

/// Table bits and shift for `points` points: `2^bits` is `points / 4` rounded up
/// to a power of two (at least 2, so the shift stays below 64).
fn table_shape(points: usize) -> (u32, u32) {
    let slots = (points >> SLOT_LOAD_LOG2).max(2).next_power_of_two();
    let bits = slots.trailing_zeros().min(32);
    (bits, 64 - bits)
}

/// Insertion sort of one table slot by (point, node hash), points and owners
/// together. Node hashes are only read for equal points (2^-64 per pair).
fn sort_slot<N>(points: &mut [u64], owners: &mut [u32], members: &[Member<N>]) {
    for i in 1..points.len() {
        let (p, o) = (points[i], owners[i]);
        let mut j = i;
        while j > 0 {
            let (q, r) = (points[j - 1], owners[j - 1]);
            let before = p < q || (p == q && members[o as usize].hash < members[r as usize].hash);
            if !before {
                break;
            }
            points[j] = q;
            owners[j] = r;
            j -= 1;
        }
        points[j] = p;
        owners[j] = o;
    }
}

/// Iterator over a ring's `(node, weight)` pairs; see [`HashRing::iter`].
#[derive(Clone, Debug)]
pub struct Iter<'a, N> {
    inner: std::slice::Iter<'a, Member<N>>,
}

impl<'a, N> Iterator for Iter<'a, N> {
    type Item = (&'a N, u32);
    fn next(&mut self) -> Option<(&'a N, u32)> {
        self.inner.next().map(|m| (&m.node, m.weight))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<N> ExactSizeIterator for Iter<'_, N> {}

impl<'a, N> IntoIterator for &'a HashRing<N> {
    type Item = (&'a N, u32);
    type IntoIter = Iter<'a, N>;
    fn into_iter(self) -> Iter<'a, N> {
        self.iter()
    }
}

impl<N: fmt::Debug> fmt::Debug for Member<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} (weight {})", self.node, self.weight)
    }
}

impl<N: fmt::Debug> fmt::Debug for HashRing<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashRing")
            .field("vnodes_per_node", &self.vnodes)
            .field("seed", &self.seed)
            .field("points", &self.points.len())
            .field("nodes", &self.members)
            .finish()
    }
}

impl<N> Default for HashRing<N> {
    /// An empty ring with [`DEFAULT_VNODES`] and seed 0.
    fn default() -> HashRing<N> {
        HashRing::empty(DEFAULT_VNODES as u32, 0)
    }
}

impl<N: Hash + Eq> Extend<N> for HashRing<N> {
    /// Adds the nodes with weight 1, sorting the new points once. Nodes already
    /// present are skipped; so is the whole batch in the `Err` cases of
    /// [`extend_weighted`](HashRing::extend_weighted) (use it to see them).
    fn extend<I: IntoIterator<Item = N>>(&mut self, iter: I) {
        let _ = self.push_members(iter.into_iter().map(|n| (n, 1)));
    }
}

impl<N: Hash + Eq> FromIterator<N> for HashRing<N> {
    /// A ring of the nodes with weight 1, [`DEFAULT_VNODES`] and seed 0, built
    /// with one sort.
    fn from_iter<I: IntoIterator<Item = N>>(iter: I) -> HashRing<N> {
        let mut ring = HashRing::default();
        ring.extend(iter);
        ring
    }
}

impl<N: Hash + Eq> PartialEq for HashRing<N> {
    /// Same seed, same `vnodes_per_node` and the same nodes with the same
    /// weights: hence the same placement of every key.
    fn eq(&self, other: &HashRing<N>) -> bool {
        self.vnodes == other.vnodes
            && self.seed == other.seed
            && self.len() == other.len()
            && self
                .members
                .iter()
                .all(|m| other.weight(&m.node) == Some(m.weight))
    }
}

impl<N: Hash + Eq> Eq for HashRing<N> {}
