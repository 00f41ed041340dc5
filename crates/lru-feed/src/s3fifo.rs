//! Scan-resistant cache: S3-FIFO (Yang, Zhang, Qiu, Yue, Rashmi, "FIFO queues
//! are all you need for cache eviction", SOSP 2023).

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};

use ahash::RandomState;

use crate::error::{check_capacity, Error};
use crate::ghost::Ghost;
use crate::table::{tag_of, IndexTable};

const NIL: u32 = u32::MAX;

/// Hits counted per entry saturate here: two bits, as in the paper.
const MAX_FREQ: u8 = 3;

/// The small queue's share of the capacity: 10%, the paper's choice across
/// its traces ("10% generalizes well").
const SMALL_PERCENT: usize = 10;

/// Keys the ghost remembers, as a share of the capacity: as many as the main
/// queue holds, as in the paper. (quick_cache's default is half of that,
/// for half the filter memory.)
const GHOST_PERCENT: usize = 90;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Queue {
    Small,
    Main,
}

/// Field order is fixed (`repr(C)`) so that what a hit touches, the key
/// and `freq`, sits in the node's first bytes: with the default layout
/// `freq` came last, and a 32-byte node starting 48 bytes into a cache line
/// (half of them, as a large `Vec` starts 16 bytes into a page) put the
/// key and `freq` on two lines, two cache misses for one hit.
#[derive(Clone)]
#[repr(C)]
struct Node<K, V> {
    key: K,
    freq: u8,
    queue: Queue,
    /// 32 bits of the key's hash: re-finds the node's table word on eviction
    /// without re-hashing, and is the ghost's fingerprint.
    tag: u32,
    prev: u32,
    next: u32,
    value: V,
}

/// A FIFO queue as a circular doubly-linked list of node indices; `head` is
/// the oldest entry, `head.prev` the newest.
#[derive(Clone, Copy, Debug)]
struct Ring {
    head: u32,
    len: usize,
}

impl Ring {
    const EMPTY: Ring = Ring { head: NIL, len: 0 };
}

/// A cache with the S3-FIFO eviction policy: higher hit ratios than LRU on
/// skewed (Zipf) traffic, resistant to scans, and a hit costs one counter
/// update instead of relinking a list.
///
/// Three FIFO queues: new keys enter a small queue (10% of the capacity);
/// those hit again while there move on to the main queue, the rest are
/// evicted early and remembered (key fingerprint only) in a ghost queue; a key
/// that returns while in the ghost goes straight to main. Main evicts in FIFO
/// order but gives each hit entry another round (a two-bit CLOCK). A scan of
/// one-time keys therefore only churns the small queue and never flushes the
/// working set in main, which is what an LRU in front of a database suffers
/// from when a batch job reads every row once.
///
/// Same shape as [`LruCache`](crate::LruCache): every operation is O(1)
/// (amortized for eviction: each entry is passed over at most three times per
/// stay in main), no `unsafe`.
///
/// ```
/// use hld_lru_feed::Cache;
///
/// let mut c = Cache::new(100)?;
/// for k in 0..10 { c.put(k, k * k); }
/// for _ in 0..3 { for k in 0..10 { c.get(&k); } } // a hot working set
/// for k in 1000..2000 { c.put(k, 0); }             // a one-pass scan
/// assert!((0..10).all(|k| c.contains_key(&k)));    // the hot keys survive
/// # Ok::<(), hld_lru_feed::Error>(())
/// ```
#[derive(Clone)]
pub struct Cache<K, V, S = RandomState> {
    table: IndexTable,
    nodes: Vec<Node<K, V>>,
    small: Ring,
    main: Ring,
    ghost: Ghost,
    capacity: usize,
    small_target: usize,
    hasher: S,
}

impl<K: Hash + Eq, V> Cache<K, V> {
    /// An empty cache holding at most `capacity` entries (1 ..=
    /// [`MAX_CAPACITY`](crate::MAX_CAPACITY), else an `Err`).
    pub fn new(capacity: usize) -> Result<Cache<K, V>, Error> {
        Cache::with_hasher(capacity, RandomState::new())
    }
}

impl<K: Hash + Eq, V, S: BuildHasher> Cache<K, V, S> {
    /// An empty cache that hashes keys with `hasher`.
    pub fn with_hasher(capacity: usize, hasher: S) -> Result<Cache<K, V, S>, Error> {
        check_capacity(capacity)?;
        let small_target = (capacity * SMALL_PERCENT / 100).max(1);
        Ok(Cache {
            table: IndexTable::with_capacity(capacity),
            nodes: Vec::with_capacity(capacity),
            small: Ring::EMPTY,
            main: Ring::EMPTY,
            ghost: Ghost::new(capacity * GHOST_PERCENT / 100),
            capacity,
            small_target,
            hasher,
        })
    }

    #[inline]
    fn hash<Q: Hash + ?Sized>(&self, k: &Q) -> u64 {
        self.hasher.hash_one(k)
    }

    #[inline]
    fn find_hashed<Q>(&self, hash: u64, k: &Q) -> Option<(usize, u32)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let nodes = &self.nodes;
        let pos = self
            .table
            .find(tag_of(hash), |i| nodes[i as usize].key.borrow() == k)?;
        Some((pos, self.table.idx_at(pos)))
    }

    /// The value of `k`, counting a hit.
    #[inline]
    pub fn get<Q>(&mut self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_hashed(self.hash(k), k)
    }

    #[inline]
    pub(crate) fn get_hashed<Q>(&mut self, hash: u64, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let (_, i) = self.find_hashed(hash, k)?;
        let n = &mut self.nodes[i as usize];
        n.freq = (n.freq + 1).min(MAX_FREQ);
        Some(&n.value)
    }

    /// The value of `k`, mutably, counting a hit.
    pub fn get_mut<Q>(&mut self, k: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_mut_hashed(self.hash(k), k)
    }

    pub(crate) fn get_mut_hashed<Q>(&mut self, hash: u64, k: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let (_, i) = self.find_hashed(hash, k)?;
        let n = &mut self.nodes[i as usize];
        n.freq = (n.freq + 1).min(MAX_FREQ);
        Some(&mut n.value)
    }

    /// The value of `k` without counting a hit.
    pub fn peek<Q>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.peek_hashed(self.hash(k), k)
    }

    pub(crate) fn peek_hashed<Q>(&self, hash: u64, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.find_hashed(hash, k)
            .map(|(_, i)| &self.nodes[i as usize].value)
    }

    /// Whether `k` is cached (not counted as a hit).
    pub fn contains_key<Q>(&self, k: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.find_hashed(self.hash(k), k).is_some()
    }

    /// Caches `v` under `k`.
    ///
    /// Returns what left the cache: `Some((k, old_value))` if `k` was already
    /// cached (counted as a hit; the stored key is kept, the given one handed
    /// back), else `Some(victim)` if the cache was full, else `None`.
    #[inline]
    pub fn put(&mut self, k: K, v: V) -> Option<(K, V)> {
        self.put_hashed(self.hash(&k), k, v)
    }

    pub(crate) fn put_hashed(&mut self, hash: u64, k: K, v: V) -> Option<(K, V)> {
        let tag = tag_of(hash);
        let nodes = &self.nodes;
        let vacant = match self.table.probe(tag, |i| nodes[i as usize].key == k) {
            Ok(pos) => {
                let n = &mut self.nodes[self.table.idx_at(pos) as usize];
                n.freq = (n.freq + 1).min(MAX_FREQ);
                let old = std::mem::replace(&mut n.value, v);
                return Some((k, old));
            }
            Err(vacant) => vacant,
        };
        // A key remembered by the ghost was evicted too early: give it main.
        let queue = if self.ghost.contains(tag) {
            Queue::Main
        } else {
            Queue::Small
        };
        if self.nodes.len() < self.capacity {
            let i = self.nodes.len() as u32;
            self.nodes.push(Node {
                key: k,
                value: v,
                prev: NIL,
                next: NIL,
                tag,
                freq: 0,
                queue,
            });
            self.table.insert_at(vacant, tag, i);
            self.enqueue(i, queue);
            return None;
        }
        // The victim's node is reused in place.
        let i = self.evict();
        let n = &mut self.nodes[i as usize];
        let old_tag = std::mem::replace(&mut n.tag, tag);
        n.freq = 0;
        let old_k = std::mem::replace(&mut n.key, k);
        let old_v = std::mem::replace(&mut n.value, v);
        self.table.retag_at(vacant, tag, old_tag, i);
        self.enqueue(i, queue);
        Some((old_k, old_v))
    }

    /// Removes `k`, returning its value.
    pub fn remove<Q>(&mut self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove_hashed(self.hash(k), k).map(|(_, v)| v)
    }

    /// Removes `k`, returning the stored key and its value.
    pub fn remove_entry<Q>(&mut self, k: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove_hashed(self.hash(k), k)
    }

    pub(crate) fn remove_hashed<Q>(&mut self, hash: u64, k: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let (pos, i) = self.find_hashed(hash, k)?;
        self.table.remove_at(pos);
        self.dequeue(i);
        // Keep `nodes` dense: the last node moves into slot `i`.
        let last = (self.nodes.len() - 1) as u32;
        if i != last {
            let (tag, prev, next, queue) = {
                let n = &self.nodes[last as usize];
                (n.tag, n.prev, n.next, n.queue)
            };
            self.table.move_idx(tag, last, i);
            let ring = match queue {
                Queue::Small => &mut self.small,
                Queue::Main => &mut self.main,
            };
            if ring.head == last {
                ring.head = i;
            }
            if next == last {
                // `last` is alone in its ring: it now points at itself as `i`.
                let n = &mut self.nodes[last as usize];
                n.prev = i;
                n.next = i;
            } else {
                self.nodes[prev as usize].next = i;
                self.nodes[next as usize].prev = i;
            }
        }
        let n = self.nodes.swap_remove(i as usize);
        Some((n.key, n.value))
    }

    /// Whether the ghost remembers `k` (tests compare it with an exact model).
    #[cfg(test)]
    pub(crate) fn ghost_contains<Q: Hash + ?Sized>(&self, k: &Q) -> bool {
        self.ghost.contains(tag_of(self.hash(k)))
    }

    /// Picks a victim and unlinks it (its table word stays, for the caller to
    /// drop); returns its slot. Only called when the cache is full (so some
    /// queue is non-empty).
    fn evict(&mut self) -> u32 {
        loop {
            if self.small.len >= self.small_target || self.main.len == 0 {
                let i = self.small.head;
                self.dequeue(i);
                let n = &mut self.nodes[i as usize];
                if n.freq > 0 {
                    // Hit while in the small queue: promote, history cleared.
                    n.freq = 0;
                    self.enqueue(i, Queue::Main);
                    continue;
                }
                let tag = n.tag;
                self.ghost.insert(tag);
                return i;
            }
            // Main is a CLOCK: advancing the hand past an entry is the same as
            // re-inserting it at the tail, without relinking anything.
            loop {
                let i = self.main.head;
                let n = &mut self.nodes[i as usize];
                if n.freq > 0 {
                    n.freq -= 1;
                    self.main.head = n.next;
                } else {
                    self.dequeue(i);
                    return i;
                }
            }
        }
    }

    /// Appends node `i` as the newest entry of `queue`.
    #[inline]
    fn enqueue(&mut self, i: u32, queue: Queue) {
        let ring = match queue {
            Queue::Small => &mut self.small,
            Queue::Main => &mut self.main,
        };
        ring.len += 1;
        let head = ring.head;
        if head == NIL {
            ring.head = i;
            let n = &mut self.nodes[i as usize];
            n.prev = i;
            n.next = i;
        } else {
            let tail = self.nodes[head as usize].prev;
            self.nodes[tail as usize].next = i;
            self.nodes[head as usize].prev = i;
            let n = &mut self.nodes[i as usize];
            n.prev = tail;
            n.next = head;
        }
        self.nodes[i as usize].queue = queue;
    }

    /// Unlinks node `i` from its queue.
    #[inline]
    fn dequeue(&mut self, i: u32) {
        let (prev, next, queue) = {
            let n = &self.nodes[i as usize];
            (n.prev, n.next, n.queue)
        };
        let ring = match queue {
            Queue::Small => &mut self.small,
            Queue::Main => &mut self.main,
        };
        ring.len -= 1;
        if next == i {
            ring.head = NIL;
        } else {
            if ring.head == i {
                ring.head = next;
            }
            self.nodes[prev as usize].next = next;
            self.nodes[next as usize].prev = prev;
        }
    }
}

impl<K, V, S> Cache<K, V, S> {
    /// Entries cached.
    #[inline]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether nothing is cached.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The most entries the cache holds.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Removes everything, including the ghost's memory of evicted keys.
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.table.clear();
        self.ghost.clear();
        self.small = Ring::EMPTY;
        self.main = Ring::EMPTY;
    }

    /// Entries in no particular order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&K, &V)> + '_ {
        self.nodes.iter().map(|n| (&n.key, &n.value))
    }

    /// Entries with mutable values, in no particular order (not counted as hits).
    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = (&K, &mut V)> + '_ {
        self.nodes.iter_mut().map(|n| (&n.key, &mut n.value))
    }

    /// Heap bytes used (nodes reserved for the full capacity, index, ghost).
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node<K, V>>()
            + self.table.heap_bytes()
            + self.ghost.heap_bytes()
    }

    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let mut seen = vec![false; self.nodes.len()];
        for (ring, queue) in [(self.small, Queue::Small), (self.main, Queue::Main)] {
            let mut i = ring.head;
            for _ in 0..ring.len {
                let n = &self.nodes[i as usize];
                assert_eq!(n.queue, queue);
                assert!(!seen[i as usize], "node {i} linked twice");
                seen[i as usize] = true;
                assert_eq!(self.nodes[n.next as usize].prev, i);
                assert!(self.table.find(n.tag, |j| j == i).is_some());
                i = n.next;
            }
            assert_eq!(i, ring.head, "ring of {queue:?} does not close");
        }
        assert!(seen.iter().all(|&s| s), "a node is in no queue");
        assert_eq!(self.table.len(), self.nodes.len());
        assert!(self.nodes.len() <= self.capacity);
    }
}

impl<K: Hash + Eq, V, S: BuildHasher> Extend<(K, V)> for Cache<K, V, S> {
    /// Puts each pair in turn (evictions dropped).
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.put(k, v);
        }
    }
}

impl<K: fmt::Debug, V: fmt::Debug, S> fmt::Debug for Cache<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_capacity_one() {
        assert_eq!(Cache::<u8, u8>::new(0).unwrap_err(), Error::ZeroCapacity);
        let mut c = Cache::new(1).unwrap();
        assert_eq!(c.put(1, 1), None);
        assert_eq!(c.put(2, 2), Some((1, 1)));
        assert_eq!(c.put(2, 3), Some((2, 2)));
        assert_eq!(c.get(&2), Some(&3));
        assert_eq!(c.put(1, 1), Some((2, 3)));
        c.check_invariants();
        assert_eq!(c.remove(&1), Some(1));
        assert!(c.is_empty());
        c.check_invariants();
    }

    #[test]
    fn ghost_hit_goes_to_main() {
        let mut c = Cache::new(10).unwrap(); // small target 1, ghost 9
        c.extend((0..10).map(|k| (k, ())));
        c.put(10, ()); // evicts 0 (never hit) into the ghost
        assert!(!c.contains_key(&0));
        c.put(0, ()); // remembered: admitted to main
        let i = c.find_hashed(c.hash(&0), &0).unwrap().1;
        assert_eq!(c.nodes[i as usize].queue, Queue::Main);
        c.check_invariants();
    }

    #[test]
    fn evicting_puts_with_colliding_tags_keep_the_index_exact() {
        let hasher = std::hash::BuildHasherDefault::<crate::table::OneHash>::default();
        for cap in [1usize, 2, 3, 8, 13] {
            let mut c = Cache::with_hasher(cap, hasher.clone()).unwrap();
            let mut last = std::collections::HashMap::new();
            for step in 0..300u32 {
                let k = step.wrapping_mul(7) % 23;
                if step % 4 == 0 {
                    if let Some(&v) = c.get(&k) {
                        assert_eq!(Some(&v), last.get(&k));
                    }
                } else {
                    if let Some((gone, _)) = c.put(k, step) {
                        if gone != k {
                            last.remove(&gone);
                        }
                    }
                    last.insert(k, step);
                }
                if step % 37 == 5 {
                    c.remove(&((step + 3) % 23));
                    last.remove(&((step + 3) % 23));
                }
                c.check_invariants();
                assert_eq!(c.len(), last.len());
                for (k, v) in &last {
                    assert_eq!(c.peek(k), Some(v), "cap {cap} step {step} key {k}");
                }
            }
        }
    }

    #[test]
    fn removal_fixes_moved_nodes() {
        let mut c = Cache::new(8).unwrap();
        for round in 0..50u32 {
            for k in 0..12u32 {
                c.put(k * 7 + round % 3, k);
                if k % 3 == 0 {
                    c.get(&(k * 7));
                }
                if (k + round) % 5 == 0 {
                    c.remove(&(k * 7 + 1));
                }
                c.check_invariants();
            }
        }
        c.clear();
        c.check_invariants();
        assert_eq!(c.iter().count(), 0);
    }
}
