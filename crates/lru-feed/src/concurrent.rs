//! The S3-FIFO cache shared between threads, in lock-striped shards.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};

use ahash::RandomState;
use parking_lot::Mutex;

use crate::error::{check_capacity, Error};
use crate::s3fifo::Cache;

/// One shard on its own pair of cache lines, so that two threads working on
/// neighbouring shards do not fight over one line (128 bytes: adjacent-line
/// prefetchers pull lines in pairs on current x86; crossbeam's `CachePadded`
/// uses the same figure).
#[repr(align(128))]
struct Shard<K, V, S>(Mutex<Cache<K, V, S>>);

/// A [`Cache`] (S3-FIFO) that many threads use at once through `&self`.
///
/// Keys are spread over independent shards by hash, each a `Cache` behind a
/// `parking_lot` mutex; an operation hashes once, picks the shard from the
/// hash's low bits, and holds that one lock for a few dozen nanoseconds. Two
/// threads collide only when they touch the same shard at the same moment
/// (one chance in the shard count). Each shard gets an equal share of the
/// capacity, so [`len`](Self::len) never exceeds [`capacity`](Self::capacity).
///
/// Values are returned by clone (`get(&self) -> Option<V>`): wrap big values
/// in `Arc`.
///
/// ```
/// use hld_lru_feed::ConcurrentCache;
/// use std::sync::Arc;
///
/// let cache = Arc::new(ConcurrentCache::new(1_000)?);
/// std::thread::scope(|s| {
///     for t in 0..2u64 {
///         let cache = &cache;
///         s.spawn(move || {
///             for k in 0..100 { cache.insert(t * 1000 + k, k); }
///         });
///     }
/// });
/// assert_eq!(cache.get(&1_005), Some(5));
/// assert_eq!(cache.len(), 200);
/// # Ok::<(), hld_lru_feed::Error>(())
/// ```
pub struct ConcurrentCache<K, V, S = RandomState> {
    shards: Box<[Shard<K, V, S>]>,
    mask: usize,
    capacity: usize,
    hasher: S,
}

/// Shards used by [`ConcurrentCache::new`]: enough that two to eight threads
/// rarely meet on a lock, few enough that each shard keeps about a thousand
/// entries (a per-shard S3-FIFO needs some room for its small queue and
/// ghost to work as in the unsharded cache).
fn default_shards(capacity: usize) -> usize {
    (capacity / 1024).clamp(1, 64).next_power_of_two().min(64)
}

impl<K: Hash + Eq, V> ConcurrentCache<K, V> {
    /// An empty cache holding at most `capacity` entries in total.
    pub fn new(capacity: usize) -> Result<ConcurrentCache<K, V>, Error> {
        ConcurrentCache::with_shards_and_hasher(
            capacity,
            default_shards(capacity),
            RandomState::new(),
        )
    }

    /// An empty cache with an explicit shard count (a power of two, at most
    /// `capacity`).
    pub fn with_shards(capacity: usize, shards: usize) -> Result<ConcurrentCache<K, V>, Error> {
        ConcurrentCache::with_shards_and_hasher(capacity, shards, RandomState::new())
    }
}

impl<K: Hash + Eq, V, S: BuildHasher + Clone> ConcurrentCache<K, V, S> {
    /// An empty cache with an explicit shard count and hasher.
    pub fn with_shards_and_hasher(
        capacity: usize,
        shards: usize,
        hasher: S,
    ) -> Result<ConcurrentCache<K, V, S>, Error> {
        check_capacity(capacity)?;
        if shards == 0 || !shards.is_power_of_two() || shards > capacity {
            return Err(Error::InvalidShards { shards, capacity });
        }
        let base = capacity / shards;
        let extra = capacity % shards;
        let shards = (0..shards)
            .map(|i| {
                let cap = base + usize::from(i < extra);
                Cache::with_hasher(cap, hasher.clone()).map(|c| Shard(Mutex::new(c)))
            })
            .collect::<Result<Vec<_>, Error>>()?
            .into_boxed_slice();
        Ok(ConcurrentCache {
            mask: shards.len() - 1,
            shards,
            capacity,
            hasher,
        })
    }
}

impl<K: Hash + Eq, V, S: BuildHasher> ConcurrentCache<K, V, S> {
    #[inline]
    fn shard<Q: Hash + ?Sized>(&self, k: &Q) -> (u64, &Mutex<Cache<K, V, S>>) {
        let h = self.hasher.hash_one(k);
        (h, &self.shards[h as usize & self.mask].0)
    }

    /// A clone of the value of `k`, counting a hit.
    #[inline]
    pub fn get<Q>(&self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        let (h, shard) = self.shard(k);
        shard.lock().get_hashed(h, k).cloned()
    }

    /// Calls `f` on the value of `k` under the shard's lock (no clone),
    /// counting a hit.
    pub fn get_with<Q, R>(&self, k: &Q, f: impl FnOnce(&V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (h, shard) = self.shard(k);
        shard.lock().get_hashed(h, k).map(f)
    }

    /// A clone of the value of `k` without counting a hit.
    pub fn peek<Q>(&self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        let (h, shard) = self.shard(k);
        shard.lock().peek_hashed(h, k).cloned()
    }

    /// Whether `k` is cached (not counted as a hit).
    pub fn contains_key<Q>(&self, k: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (h, shard) = self.shard(k);
        shard.lock().peek_hashed(h, k).is_some()
    }

    /// Caches `v` under `k`.
    #[inline]
    pub fn insert(&self, k: K, v: V) {
        self.put(k, v);
    }

    /// Caches `v` under `k`; returns what left the cache, as
    /// [`Cache::put`] does.
    #[inline]
    pub fn put(&self, k: K, v: V) -> Option<(K, V)> {
        let (h, shard) = self.shard(&k);
        shard.lock().put_hashed(h, k, v)
    }

    /// Changes the value of `k` in place with `f` under the shard's lock (an
    /// atomic read-modify-write: no update is lost to a concurrent one).
    /// Returns `f`'s result, or `None` if `k` is not cached.
    pub fn update<Q, R>(&self, k: &Q, f: impl FnOnce(&mut V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (h, shard) = self.shard(k);
        shard.lock().get_mut_hashed(h, k).map(f)
    }

    /// The value of `k`, computing and caching `f()` if absent. The shard's
    /// lock is held while `f` runs, so concurrent callers for one key compute
    /// it once (keep `f` short: it blocks the shard).
    pub fn get_or_insert_with(&self, k: K, f: impl FnOnce() -> V) -> V
    where
        V: Clone,
    {
        let (h, shard) = self.shard(&k);
        let mut c = shard.lock();
        if let Some(v) = c.get_hashed(h, &k) {
            return v.clone();
        }
        let v = f();
        c.put_hashed(h, k, v.clone());
        v
    }

    /// Removes `k`, returning its value.
    pub fn remove<Q>(&self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (h, shard) = self.shard(k);
        shard.lock().remove_hashed(h, k).map(|(_, v)| v)
    }
}

impl<K, V, S> ConcurrentCache<K, V, S> {
    /// Entries cached (summed over shards, each read under its lock: exact
    /// when no other thread is writing).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.0.lock().len()).sum()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|s| s.0.lock().is_empty())
    }

    /// The most entries the cache holds in total.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// Removes everything.
    pub fn clear(&self) {
        for s in self.shards.iter() {
            s.0.lock().clear();
        }
    }

    /// Calls `f` on every entry, one shard at a time (each shard is locked
    /// while it is visited).
    pub fn for_each(&self, mut f: impl FnMut(&K, &V)) {
        for s in self.shards.iter() {
            for (k, v) in s.0.lock().iter() {
                f(k, v);
            }
        }
    }

    /// Heap bytes used by all shards.
    pub fn heap_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.0.lock().heap_bytes())
            .sum::<usize>()
            + self.shards.len() * std::mem::size_of::<Shard<K, V, S>>()
    }
}

impl<K, V, S> fmt::Debug for ConcurrentCache<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrentCache")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .field("shards", &self.shards.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_errors() {
        assert!(matches!(
            ConcurrentCache::<u8, u8>::with_shards(8, 3),
            Err(Error::InvalidShards { .. })
        ));
        assert!(matches!(
            ConcurrentCache::<u8, u8>::with_shards(2, 4),
            Err(Error::InvalidShards { .. })
        ));
        assert_eq!(
            ConcurrentCache::<u8, u8>::new(0).unwrap_err(),
            Error::ZeroCapacity
        );
        assert_eq!(default_shards(1), 1);
        assert_eq!(default_shards(100_000), 64);
        assert_eq!(default_shards(5_000), 4);
    }

    #[test]
    fn capacity_split_is_exact() {
        let c = ConcurrentCache::with_shards(10, 4).unwrap();
        for k in 0..1000 {
            c.insert(k, k);
            assert!(c.len() <= 10);
        }
        assert_eq!(c.len(), 10);
        c.clear();
        assert!(c.is_empty());
    }

    #[test]
    fn single_thread_ops() {
        let c = ConcurrentCache::new(100).unwrap();
        c.insert("a".to_string(), 1);
        assert_eq!(c.get("a"), Some(1));
        assert_eq!(
            c.update("a", |v| {
                *v += 1;
                *v
            }),
            Some(2)
        );
        assert_eq!(c.get_or_insert_with("b".to_string(), || 7), 7);
        assert_eq!(c.get_or_insert_with("b".to_string(), || 8), 7);
        assert_eq!(c.get_with("b", |v| v * 2), Some(14));
        assert!(c.contains_key("b"));
        assert_eq!(c.peek("a"), Some(2));
        assert_eq!(c.remove("a"), Some(2));
        assert_eq!(c.get("a"), None);
        let mut n = 0;
        c.for_each(|_, _| n += 1);
        assert_eq!(n, 1);
        assert!(format!("{c:?}").contains("len: 1"));
    }
}
