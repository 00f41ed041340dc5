//! Exact least-recently-used cache in safe code.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::iter::FusedIterator;

use ahash::RandomState;

use crate::error::{check_capacity, Error};
use crate::table::{tag_of, IndexTable};

/// "No node": the end of a list.
const NIL: u32 = u32::MAX;

#[derive(Clone)]
struct Node<K, V> {
    key: K,
    value: V,
    /// Towards the most recently used end.
    prev: u32,
    /// Towards the least recently used end.
    next: u32,
}

/// An exact LRU cache: when full, `put` evicts the entry used least recently.
///
/// Entries live densely in one `Vec`, doubly linked in recency order by `u32`
/// indices; an [open-addressing index](crate) finds a key's node. Every
/// operation is O(1) and allocation-free once the cache is full; there is no
/// `unsafe` (the popular `lru` crate's raw-pointer list has had a
/// use-after-free advisory, RUSTSEC-2021-0130, and an unsoundness one,
/// RUSTSEC-2026-0002).
///
/// "Used" means [`get`](Self::get), [`get_mut`](Self::get_mut) or
/// [`put`](Self::put); [`peek`](Self::peek) and
/// [`contains_key`](Self::contains_key) leave the order alone.
///
/// ```
/// use hld_lru_feed::LruCache;
///
/// let mut c = LruCache::new(2)?;
/// c.put("a", 1);
/// c.put("b", 2);
/// c.get(&"a"); // "a" is now the most recently used
/// assert_eq!(c.put("c", 3), Some(("b", 2))); // evicts the LRU entry
/// assert_eq!(c.iter().collect::<Vec<_>>(), [(&"c", &3), (&"a", &1)]);
/// # Ok::<(), hld_lru_feed::Error>(())
/// ```
#[derive(Clone)]
pub struct LruCache<K, V, S = RandomState> {
    table: IndexTable,
    nodes: Vec<Node<K, V>>,
    /// Most recently used.
    head: u32,
    /// Least recently used.
    tail: u32,
    capacity: usize,
    hasher: S,
}

impl<K: Hash + Eq, V> LruCache<K, V> {
    /// An empty cache holding at most `capacity` entries (1 ..=
    /// [`MAX_CAPACITY`](crate::MAX_CAPACITY), else an `Err`). Memory for all
    /// of them is reserved up front.
    pub fn new(capacity: usize) -> Result<LruCache<K, V>, Error> {
        LruCache::with_hasher(capacity, RandomState::new())
    }
}

impl<K: Hash + Eq, V, S: BuildHasher> LruCache<K, V, S> {
    /// An empty cache that hashes keys with `hasher`.
    pub fn with_hasher(capacity: usize, hasher: S) -> Result<LruCache<K, V, S>, Error> {
        check_capacity(capacity)?;
        Ok(LruCache {
            table: IndexTable::with_capacity(capacity),
            nodes: Vec::with_capacity(capacity),
            head: NIL,
            tail: NIL,
            capacity,
            hasher,
        })
    }

    #[inline]
    fn tag<Q: Hash + ?Sized>(&self, k: &Q) -> u32 {
        tag_of(self.hasher.hash_one(k))
    }

    #[inline]
    fn find<Q>(&self, k: &Q) -> Option<(usize, u32)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let nodes = &self.nodes;
        let pos = self
            .table
            .find(self.tag(k), |i| nodes[i as usize].key.borrow() == k)?;
        Some((pos, self.table.idx_at(pos)))
    }

    /// The value of `k`, marking it most recently used.
    #[inline]
    pub fn get<Q>(&mut self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (_, i) = self.find(k)?;
        self.promote(i);
        Some(&self.nodes[i as usize].value)
    }

    /// The value of `k`, mutably, marking it most recently used.
    #[inline]
    pub fn get_mut<Q>(&mut self, k: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (_, i) = self.find(k)?;
        self.promote(i);
        Some(&mut self.nodes[i as usize].value)
    }

    /// The value of `k` without touching the recency order.
    #[inline]
    pub fn peek<Q>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.find(k).map(|(_, i)| &self.nodes[i as usize].value)
    }

    /// The value of `k`, mutably, without touching the recency order.
    pub fn peek_mut<Q>(&mut self, k: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (_, i) = self.find(k)?;
        Some(&mut self.nodes[i as usize].value)
    }

    /// Whether `k` is cached (does not touch the recency order).
    pub fn contains_key<Q>(&self, k: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.find(k).is_some()
    }

    /// Caches `v` under `k` as the most recently used entry.
    ///
    /// Returns what left the cache: `Some((k, old_value))` if `k` was already
    /// cached (the stored key is kept, the given one handed back), else
    /// `Some(lru_entry)` if the cache was full, else `None`. A write-back cache
    /// writes that evicted entry to its store.
    #[inline]
    pub fn put(&mut self, k: K, v: V) -> Option<(K, V)> {
        let tag = self.tag(&k);
        let nodes = &self.nodes;
        let vacant = match self.table.probe(tag, |i| nodes[i as usize].key == k) {
            Ok(pos) => {
                let i = self.table.idx_at(pos);
                self.promote(i);
                let old = std::mem::replace(&mut self.nodes[i as usize].value, v);
                return Some((k, old));
            }
            Err(vacant) => vacant,
        };
        if self.nodes.len() < self.capacity {
            let i = self.nodes.len() as u32;
            self.nodes.push(Node {
                key: k,
                value: v,
                prev: NIL,
                next: NIL,
            });
            self.table.insert_at(vacant, tag, i);
            self.push_front(i);
            return None;
        }
        // Full: the LRU node is reused in place for the new entry.
        let i = self.tail;
        let old_tag = self.tag(&self.nodes[i as usize].key);
        self.table.retag_at(vacant, tag, old_tag, i);
        self.promote(i);
        let node = &mut self.nodes[i as usize];
        let old_k = std::mem::replace(&mut node.key, k);
        let old_v = std::mem::replace(&mut node.value, v);
        Some((old_k, old_v))
    }

    /// The value of `k`, inserting `f()` first if absent (which may evict the
    /// LRU entry; use [`put`](Self::put) to see it). Marks `k` most recently used.
    pub fn get_or_insert_with(&mut self, k: K, f: impl FnOnce() -> V) -> &V {
        let i = match self.find(&k) {
            Some((_, i)) => {
                self.promote(i);
                i
            }
            None => {
                self.put(k, f());
                self.head
            }
        };
        &self.nodes[i as usize].value
    }

    /// Removes `k`, returning its value.
    pub fn remove<Q>(&mut self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove_entry(k).map(|(_, v)| v)
    }

    /// Removes `k`, returning the stored key and its value.
    pub fn remove_entry<Q>(&mut self, k: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (pos, i) = self.find(k)?;
        self.table.remove_at(pos);
        Some(self.take_node(i))
    }

    /// Removes and returns the least recently used entry.
    pub fn pop_lru(&mut self) -> Option<(K, V)> {
        if self.tail == NIL {
            return None;
        }
        let i = self.tail;
        let tag = self.tag(&self.nodes[i as usize].key);
        self.table.remove_idx(tag, i);
        Some(self.take_node(i))
    }

    /// The least recently used entry (the next to be evicted).
    pub fn peek_lru(&self) -> Option<(&K, &V)> {
        self.nodes
            .get(self.tail as usize)
            .map(|n| (&n.key, &n.value))
    }

    /// The most recently used entry.
    pub fn peek_mru(&self) -> Option<(&K, &V)> {
        self.nodes
            .get(self.head as usize)
            .map(|n| (&n.key, &n.value))
    }

    /// Changes the capacity, evicting least recently used entries as needed;
    /// returns them, least recently used first.
    pub fn resize(&mut self, capacity: usize) -> Result<Vec<(K, V)>, Error> {
        check_capacity(capacity)?;
        let mut evicted = Vec::new();
        while self.nodes.len() > capacity {
            if let Some(e) = self.pop_lru() {
                evicted.push(e);
            }
        }
        self.capacity = capacity;
        self.table.reserve_for(capacity);
        if capacity < self.nodes.capacity() {
            self.nodes.shrink_to(capacity);
        } else {
            self.nodes.reserve_exact(capacity - self.nodes.len());
        }
        Ok(evicted)
    }

    /// Unlinks node `i`, moves the last node into its slot (keeping the
    /// `Vec` dense) and returns `i`'s entry. `i`'s table word is already gone.
    fn take_node(&mut self, i: u32) -> (K, V) {
        self.unlink(i);
        let last = (self.nodes.len() - 1) as u32;
        if i != last {
            let tag = self.tag(&self.nodes[last as usize].key);
            self.table.move_idx(tag, last, i);
            let (prev, next) = {
                let n = &self.nodes[last as usize];
                (n.prev, n.next)
            };
            self.relink_moved(prev, next, i);
        }
        let n = self.nodes.swap_remove(i as usize);
        (n.key, n.value)
    }

    /// Points the neighbours of a node that moved to slot `to` at it.
    fn relink_moved(&mut self, prev: u32, next: u32, to: u32) {
        if prev == NIL {
            self.head = to;
        } else {
            self.nodes[prev as usize].next = to;
        }
        if next == NIL {
            self.tail = to;
        } else {
            self.nodes[next as usize].prev = to;
        }
    }
}

impl<K, V, S> LruCache<K, V, S> {
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

    /// Removes everything (keeps the memory).
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.table.clear();
        self.head = NIL;
        self.tail = NIL;
    }

    /// Entries from the most to the least recently used.
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter {
            nodes: &self.nodes,
            front: self.head,
            back: self.tail,
            left: self.nodes.len(),
        }
    }

    /// Keys from the most to the least recently used.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// Values from the most to the least recently used.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator + '_ {
        self.iter().map(|(_, v)| v)
    }

    /// Heap bytes used (nodes reserved for the full capacity, and the index).
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node<K, V>>() + self.table.heap_bytes()
    }

    /// Marks node `i` most recently used.
    #[inline]
    fn promote(&mut self, i: u32) {
        if i != self.head {
            self.unlink(i);
            self.push_front(i);
        }
    }

    #[inline]
    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let n = &self.nodes[i as usize];
            (n.prev, n.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
    }

    #[inline]
    fn push_front(&mut self, i: u32) {
        let head = self.head;
        {
            let n = &mut self.nodes[i as usize];
            n.prev = NIL;
            n.next = head;
        }
        if head == NIL {
            self.tail = i;
        } else {
            self.nodes[head as usize].prev = i;
        }
        self.head = i;
    }
}

/// Iterator over an [`LruCache`] from the most to the least recently used
/// (reversible).
pub struct Iter<'a, K, V> {
    nodes: &'a [Node<K, V>],
    front: u32,
    back: u32,
    left: usize,
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let n = &self.nodes[self.front as usize];
        self.front = n.next;
        self.left -= 1;
        Some((&n.key, &n.value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<K, V> DoubleEndedIterator for Iter<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let n = &self.nodes[self.back as usize];
        self.back = n.prev;
        self.left -= 1;
        Some((&n.key, &n.value))
    }
}

impl<K, V> ExactSizeIterator for Iter<'_, K, V> {}
impl<K, V> FusedIterator for Iter<'_, K, V> {}

impl<'a, K, V, S> IntoIterator for &'a LruCache<K, V, S> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Iter<'a, K, V> {
        self.iter()
    }
}

impl<K: Hash + Eq, V, S: BuildHasher> Extend<(K, V)> for LruCache<K, V, S> {
    /// Puts each pair in turn (later pairs are more recent; evictions dropped).
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.put(k, v);
        }
    }
}

impl<K: fmt::Debug, V: fmt::Debug, S> fmt::Debug for LruCache<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_with_colliding_tags_matches_a_vec_model() {
        // The evicting `put` writes the new word before removing the old one;
        // with equal tags both words read (tag, i) for a moment.
        let hasher = std::hash::BuildHasherDefault::<crate::table::OneHash>::default();
        for cap in [1usize, 2, 3, 4, 7, 8] {
            let mut c = LruCache::with_hasher(cap, hasher.clone()).unwrap();
            let mut model: Vec<(u32, u32)> = Vec::new(); // most recent first
            for step in 0..200u32 {
                let k = step.wrapping_mul(7) % 13;
                if step % 3 == 0 {
                    let got = c.get(&k).copied();
                    let want = model.iter().position(|e| e.0 == k).map(|p| {
                        let e = model.remove(p);
                        model.insert(0, e);
                        e.1
                    });
                    assert_eq!(got, want);
                } else {
                    let out = c.put(k, step);
                    let want = match model.iter().position(|e| e.0 == k) {
                        Some(p) => {
                            let e = model.remove(p);
                            model.insert(0, (k, step));
                            Some(e)
                        }
                        None => {
                            model.insert(0, (k, step));
                            (model.len() > cap).then(|| model.pop().unwrap())
                        }
                    };
                    assert_eq!(out, want);
                }
                let got: Vec<(u32, u32)> = c.iter().map(|(k, v)| (*k, *v)).collect();
                assert_eq!(got, model);
                assert_eq!(c.table.len(), c.len());
                for &(k, v) in &model {
                    assert_eq!(c.peek(&k), Some(&v));
                }
            }
        }
    }

    #[test]
    fn zero_capacity_is_an_error() {
        assert_eq!(LruCache::<u8, u8>::new(0).unwrap_err(), Error::ZeroCapacity);
        assert!(matches!(
            LruCache::<u8, u8>::new(crate::MAX_CAPACITY + 1),
            Err(Error::CapacityTooLarge { .. })
        ));
    }

    #[test]
    fn capacity_one() {
        let mut c = LruCache::new(1).unwrap();
        assert_eq!(c.put(1, 'a'), None);
        assert_eq!(c.put(2, 'b'), Some((1, 'a')));
        assert_eq!(c.get(&1), None);
        assert_eq!(c.get(&2), Some(&'b'));
        assert_eq!(c.put(2, 'c'), Some((2, 'b')));
        assert_eq!(c.len(), 1);
        assert_eq!(c.remove(&2), Some('c'));
        assert!(c.is_empty());
        assert_eq!(c.pop_lru(), None);
    }

    #[test]
    fn remove_keeps_links_and_index_consistent() {
        let mut c = LruCache::new(5).unwrap();
        c.extend((0..5).map(|i| (i, i * 10)));
        assert_eq!(c.remove(&0), Some(0)); // the LRU; node 4 moves into slot 0
        assert_eq!(c.remove(&3), Some(30));
        assert_eq!(c.keys().copied().collect::<Vec<_>>(), [4, 2, 1]);
        assert_eq!(c.keys().rev().copied().collect::<Vec<_>>(), [1, 2, 4]);
        assert_eq!(c.get(&4), Some(&40));
        assert_eq!(c.get(&1), Some(&10));
        assert_eq!(c.peek_mru(), Some((&1, &10)));
        assert_eq!(c.peek_lru(), Some((&2, &20)));
        c.put(7, 70);
        c.put(8, 80);
        assert_eq!(c.put(9, 90), Some((2, 20)));
        assert_eq!(format!("{c:?}"), "{9: 90, 8: 80, 7: 70, 1: 10, 4: 40}");
    }

    #[test]
    fn resize_evicts_lru_first() {
        let mut c = LruCache::new(4).unwrap();
        c.extend((0..4).map(|i| (i, ())));
        c.get(&0);
        assert_eq!(c.resize(2).unwrap(), [(1, ()), (2, ())]);
        assert_eq!(c.capacity(), 2);
        assert_eq!(c.keys().copied().collect::<Vec<_>>(), [0, 3]);
        assert_eq!(c.resize(0), Err(Error::ZeroCapacity));
        c.resize(10).unwrap();
        c.extend((10..18).map(|i| (i, ())));
        assert_eq!(c.len(), 10);
    }

    #[test]
    fn borrowed_lookups_and_get_or_insert() {
        let mut c: LruCache<String, usize> = LruCache::new(2).unwrap();
        assert_eq!(*c.get_or_insert_with("x".to_string(), || 1), 1);
        assert_eq!(*c.get_or_insert_with("x".to_string(), || 2), 1);
        assert!(c.contains_key("x"));
        *c.get_mut("x").unwrap() += 5;
        assert_eq!(c.peek("x"), Some(&6));
        c.clear();
        assert!(c.is_empty() && c.peek("x").is_none());
    }
}
