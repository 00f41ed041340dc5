//! A cache in front of a database, with the three write policies of the
//! notes: write-through, write-back, write-around.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::hash::{BuildHasher, Hash};

use ahash::RandomState;

use crate::error::Error;
use crate::s3fifo::Cache;

/// The database behind a [`CachedStore`]: whatever the caller has (a SQL
/// table, a key-value store, a test double). Calls may fail with the store's
/// own error type.
pub trait BackingStore<K, V> {
    /// The store's error.
    type Error;
    /// Reads `key`.
    fn read(&mut self, key: &K) -> Result<Option<V>, Self::Error>;
    /// Writes `key = value`.
    fn write(&mut self, key: &K, value: &V) -> Result<(), Self::Error>;
    /// Deletes `key` (deleting an absent key is fine).
    fn delete(&mut self, key: &K) -> Result<(), Self::Error>;
}

/// An in-memory `HashMap` as a store that never fails (tests, examples).
impl<K: Hash + Eq + Clone, V: Clone, S: BuildHasher> BackingStore<K, V> for HashMap<K, V, S> {
    type Error = Infallible;

    fn read(&mut self, key: &K) -> Result<Option<V>, Infallible> {
        Ok(self.get(key).cloned())
    }

    fn write(&mut self, key: &K, value: &V) -> Result<(), Infallible> {
        self.insert(key.clone(), value.clone());
        Ok(())
    }

    fn delete(&mut self, key: &K) -> Result<(), Infallible> {
        self.remove(key);
        Ok(())
    }
}

/// When a write reaches the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WritePolicy {
    /// Write to the store, then to the cache, before returning: slower writes,
    /// nothing lost if the cache dies, reads of fresh writes hit the cache.
    /// For modest write volumes where every write must be durable.
    WriteThrough,
    /// Write to the cache only, marking the entry dirty; the store gets it
    /// when the entry is evicted or on [`flush`](CachedStore::flush). Fast
    /// writes, and repeated writes to a key reach the store once; the dirty
    /// entries are lost if the process dies before they are written.
    WriteBack,
    /// Write to the store only and drop any cached copy: a burst of writes
    /// does not flood the cache, at the cost of a miss on the first read of
    /// fresh data.
    WriteAround,
}

/// Counters of what a [`CachedStore`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Reads served from the cache.
    pub hits: u64,
    /// Reads that went to the store.
    pub misses: u64,
    /// Writes sent to the store (any policy, including write-backs).
    pub store_writes: u64,
    /// Dirty entries written because they were evicted (write-back).
    pub evicted_writes: u64,
}

#[derive(Clone, Debug)]
struct Slot<V> {
    value: V,
    dirty: bool,
}

/// A read-through [`Cache`] (S3-FIFO) in front of a caller's
/// [`BackingStore`], with a [`WritePolicy`].
///
/// Reads try the cache, then the store (caching what it returns). Writes
/// follow the policy. A write-back entry evicted while dirty is written to
/// the store on the way out; if that write fails, the entry is kept aside
/// (still readable, retried by [`flush`](Self::flush)) and the error
/// returned, so a failing store loses nothing either.
///
/// Errors are the store's own (`B::Error`): a failed write-through or
/// write-around leaves the cache as it was.
///
/// ```
/// use hld_lru_feed::{CachedStore, WritePolicy};
/// use std::collections::HashMap;
///
/// let db: HashMap<u32, String> = HashMap::new();
/// let mut users = CachedStore::new(db, 1_000, WritePolicy::WriteBack)?;
/// users.put(1, "ada".to_string()).unwrap();
/// users.put(1, "ada lovelace".to_string()).unwrap(); // only the cache so far
/// assert_eq!(users.store().get(&1), None);
/// assert_eq!(users.dirty_len(), 1);
/// users.flush().unwrap(); // one write reaches the database
/// assert_eq!(users.store()[&1], "ada lovelace");
/// assert_eq!(users.stats().store_writes, 1);
/// # Ok::<(), hld_lru_feed::Error>(())
/// ```
pub struct CachedStore<K, V, B> {
    cache: Cache<K, Slot<V>>,
    store: B,
    policy: WritePolicy,
    /// Dirty entries evicted while the store was failing.
    spilled: HashMap<K, V, RandomState>,
    dirty: usize,
    stats: StoreStats,
}

impl<K, V, B> CachedStore<K, V, B>
where
    K: Hash + Eq + Clone,
    V: Clone,
    B: BackingStore<K, V>,
{
    /// A cache of `capacity` entries over `store` (zero capacity is an `Err`).
    pub fn new(store: B, capacity: usize, policy: WritePolicy) -> Result<Self, Error> {
        Ok(CachedStore {
            cache: Cache::new(capacity)?,
            store,
            policy,
            spilled: HashMap::default(),
            dirty: 0,
            stats: StoreStats::default(),
        })
    }

    /// The value of `key`: from the cache, else from the store (then cached).
    pub fn get(&mut self, key: &K) -> Result<Option<V>, B::Error> {
        if let Some(slot) = self.cache.get(key) {
            self.stats.hits += 1;
            return Ok(Some(slot.value.clone()));
        }
        if let Some(v) = self.spilled.get(key) {
            self.stats.hits += 1;
            return Ok(Some(v.clone()));
        }
        self.stats.misses += 1;
        let Some(v) = self.store.read(key)? else {
            return Ok(None);
        };
        self.insert(key.clone(), v.clone(), false)?;
        Ok(Some(v))
    }

    /// Writes `key = value` according to the policy.
    pub fn put(&mut self, key: K, value: V) -> Result<(), B::Error> {
        match self.policy {
            WritePolicy::WriteThrough => {
                self.store.write(&key, &value)?;
                self.stats.store_writes += 1;
                self.spilled.remove(&key);
                self.insert(key, value, false)
            }
            WritePolicy::WriteBack => {
                self.spilled.remove(&key);
                self.insert(key, value, true)
            }
            WritePolicy::WriteAround => {
                self.store.write(&key, &value)?;
                self.stats.store_writes += 1;
                self.spilled.remove(&key);
                self.drop_cached(&key);
                Ok(())
            }
        }
    }

    /// Deletes `key` from the store and the cache.
    pub fn remove(&mut self, key: &K) -> Result<(), B::Error> {
        self.store.delete(key)?;
        self.spilled.remove(key);
        self.drop_cached(key);
        Ok(())
    }

    /// Writes every dirty entry to the store; returns how many. Stops at the
    /// first failure (entries not yet written stay dirty).
    pub fn flush(&mut self) -> Result<usize, B::Error> {
        let mut written = 0;
        let spilled: Vec<K> = self.spilled.keys().cloned().collect();
        for k in spilled {
            if let Some(v) = self.spilled.get(&k) {
                self.store.write(&k, v)?;
                self.stats.store_writes += 1;
                self.spilled.remove(&k);
                written += 1;
            }
        }
        if self.dirty == 0 {
            return Ok(written);
        }
        let store = &mut self.store;
        let mut result = Ok(());
        for (k, slot) in self.cache.iter_mut() {
            if slot.dirty {
                if let Err(e) = store.write(k, &slot.value) {
                    result = Err(e);
                    break;
                }
                slot.dirty = false;
                written += 1;
                self.dirty -= 1;
                self.stats.store_writes += 1;
            }
        }
        result.map(|()| written)
    }

    /// Simulates a crash: the cache is gone and the store is left as it is,
    /// without a flush. Returns the store and how many dirty writes were lost.
    pub fn crash(self) -> (B, usize) {
        let lost = self.dirty_len();
        (self.store, lost)
    }

    /// Caches `key = value` (dirty or clean) and writes back what it evicts.
    fn insert(&mut self, key: K, value: V, dirty: bool) -> Result<(), B::Error> {
        let old = self.cache.put(key, Slot { value, dirty });
        self.dirty += usize::from(dirty);
        let Some((k, old)) = old else {
            return Ok(());
        };
        if old.dirty {
            self.dirty -= 1;
            // `k` still cached means it was replaced, not evicted: the new
            // value supersedes the old dirty one.
            if !self.cache.contains_key(&k) {
                if let Err(e) = self.store.write(&k, &old.value) {
                    self.spilled.insert(k, old.value);
                    return Err(e);
                }
                self.stats.store_writes += 1;
                self.stats.evicted_writes += 1;
            }
        }
        Ok(())
    }

    fn drop_cached(&mut self, key: &K) {
        if let Some(slot) = self.cache.remove(key) {
            self.dirty -= usize::from(slot.dirty);
        }
    }
}

impl<K, V, B> CachedStore<K, V, B> {
    /// Entries written to the cache but not yet to the store (a crash now
    /// loses exactly these).
    pub fn dirty_len(&self) -> usize {
        self.dirty + self.spilled.len()
    }

    /// Entries cached.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// The write policy.
    pub fn policy(&self) -> WritePolicy {
        self.policy
    }

    /// What the cache did so far.
    pub fn stats(&self) -> StoreStats {
        self.stats
    }

    /// The backing store (to inspect it; writes that bypass the cache make
    /// cached copies stale).
    pub fn store(&self) -> &B {
        &self.store
    }

    /// The backing store, mutably.
    pub fn store_mut(&mut self) -> &mut B {
        &mut self.store
    }
}

impl<K, V, B> fmt::Debug for CachedStore<K, V, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedStore")
            .field("policy", &self.policy)
            .field("cached", &self.cache.len())
            .field("dirty", &self.dirty_len())
            .field("stats", &self.stats)
            .finish()
    }
}
