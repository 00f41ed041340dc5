//! Limits shared by several processes (pods) through a store that holds
//! each key's GCRA state: one integer.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::quota::Gcra;
use crate::{Decision, Error, Quota, StoreError};

/// Where pods keep shared limiter state: each key's theoretical arrival time
/// (TAT), a `u64`, 0 meaning "no state". The crate does no I/O; a store is
/// what you plug in: [`InMemoryStore`] here, Redis or a database in
/// production.
///
/// A store needs two operations, `get` and an atomic `compare_and_set`. On
/// those, [`gcra_update`](Store::gcra_update) runs GCRA as a retry loop.
/// A network store should also override `gcra_update` to do the whole step in
/// one round trip: with Redis, one `EVALSHA` of a script that reads the TAT,
/// applies the arithmetic of [`Quota::step`] and writes it back (Redis runs
/// scripts atomically), e.g.:
///
/// ```text
/// -- KEYS[1] = key; ARGV = now, T, tau, cells   (integers, ns)
/// local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
/// local now, t, tau, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
/// if now < math.max(tat + (n - 1) * t - tau, 0) then return {0, tat} end
/// local new = math.max(tat, now) + n * t
/// redis.call('SET', KEYS[1], new, 'PXAT', math.ceil(new / 1e6))  -- now = unix ns
/// return {1, new}
/// ```
///
/// (Lua numbers are doubles, exact below 2^53: unix nanoseconds need an
/// epoch offset or integer strings; the example that ships the real script
/// deals with that.) Keys may expire once their TAT has passed: a missing
/// key and an idle key decide the same.
pub trait Store {
    /// The TAT stored under `key`; 0 if there is none.
    fn get(&self, key: &[u8]) -> Result<u64, StoreError>;

    /// Atomically: if the value under `key` is `current` (0: absent), set it
    /// to `new` and return `Ok(Ok(()))`; otherwise return `Ok(Err(actual))`
    /// with the value found. The store may drop the key once time passes
    /// `new`.
    fn compare_and_set(
        &self,
        key: &[u8],
        current: u64,
        new: u64,
    ) -> Result<Result<(), u64>, StoreError>;

    /// One GCRA step for `cells` requests at `now`, atomically: allowed or
    /// not, and the TAT after (allowed) or the TAT that denied. `cells` is
    /// already within `1..=quota.burst()`. The default retries
    /// `get` + `compare_and_set`; a network store overrides it with one
    /// round trip.
    fn gcra_update(
        &self,
        key: &[u8],
        quota: &Quota,
        cells: u32,
        now: u64,
    ) -> Result<GcraOutcome, StoreError> {
        let g = Gcra::new(quota);
        let mut current = self.get(key)?;
        loop {
            match g.step(current, now, cells).1 {
                None => {
                    return Ok(GcraOutcome {
                        allowed: false,
                        tat: current,
                    })
                }
                Some(new) => match self.compare_and_set(key, current, new)? {
                    Ok(()) => {
                        return Ok(GcraOutcome {
                            allowed: true,
                            tat: new,
                        })
                    }
                    Err(actual) => current = actual,
                },
            }
        }
    }
}

/// What a store's [`gcra_update`](Store::gcra_update) found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GcraOutcome {
    /// Whether the cells were granted.
    pub allowed: bool,
    /// The TAT stored after the step when allowed; the TAT that denied it
    /// otherwise.
    pub tat: u64,
}

// A reference to a store, or a shared or boxed one, is a store: every method
// forwards, so a store's own one-round-trip `gcra_update` is kept.
macro_rules! forward_store {
    ($($ptr:ty),*) => {$(
        impl<S: Store + ?Sized> Store for $ptr {
            fn get(&self, key: &[u8]) -> Result<u64, StoreError> {
                (**self).get(key)
            }
            fn compare_and_set(
                &self,
                key: &[u8],
                c: u64,
                n: u64,
            ) -> Result<Result<(), u64>, StoreError> {
                (**self).compare_and_set(key, c, n)
            }
            fn gcra_update(
                &self,
                k: &[u8],
                q: &Quota,
                n: u32,
                now: u64,
            ) -> Result<GcraOutcome, StoreError> {
                (**self).gcra_update(k, q, n, now)
            }
        }
    )*};
}

forward_store!(&S, Arc<S>, Box<S>);

/// Shards of the in-memory store (a power of two).
const STORE_SHARDS: usize = 16;

type StoreMap = HashMap<Box<[u8]>, u64, ahash::RandomState>;

/// A [`Store`] in this process's memory: the reference implementation, for
/// tests and for pods simulated as threads. It never fails.
///
/// Keys are not expired by themselves (a network store expires them with a
/// TTL); call [`purge`](InMemoryStore::purge) to drop idle ones.
#[derive(Debug)]
pub struct InMemoryStore {
    shards: Box<[Mutex<StoreMap>]>,
    hasher: ahash::RandomState,
}

impl Default for InMemoryStore {
    fn default() -> Self {
        InMemoryStore::new()
    }
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> InMemoryStore {
        let hasher = ahash::RandomState::new();
        InMemoryStore {
            shards: (0..STORE_SHARDS)
                .map(|_| Mutex::new(HashMap::with_hasher(hasher.clone())))
                .collect(),
            hasher,
        }
    }

    fn shard(&self, key: &[u8]) -> &Mutex<StoreMap> {
        &self.shards[self.hasher.hash_one(key) as usize & (STORE_SHARDS - 1)]
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every key whose TAT is at or before `now` (idle: the same as
    /// absent); returns how many. A scan: this store is a reference, not a
    /// production store.
    pub fn purge(&self, now: u64) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let mut m = s.lock();
                let before = m.len();
                m.retain(|_, tat| *tat > now);
                before - m.len()
            })
            .sum()
    }
}

/// Stores `tat` under `key` (0, the same as absent, removes it), copying
/// the key only when it is new.
fn put(m: &mut StoreMap, key: &[u8], tat: u64) {
    if tat == 0 {
        m.remove(key);
    } else if let Some(v) = m.get_mut(key) {
        *v = tat;
    } else {
        m.insert(key.into(), tat);
    }
}

impl Store for InMemoryStore {
    fn get(&self, key: &[u8]) -> Result<u64, StoreError> {
        Ok(self.shard(key).lock().get(key).copied().unwrap_or(0))
    }

    fn compare_and_set(
        &self,
        key: &[u8],
        current: u64,
        new: u64,
    ) -> Result<Result<(), u64>, StoreError> {
        let mut m = self.shard(key).lock();
        let actual = m.get(key).copied().unwrap_or(0);
        if actual != current {
            return Ok(Err(actual));
        }
        put(&mut m, key, new);
        Ok(Ok(()))
    }

    /// One locked step (what a script does in a network store).
    fn gcra_update(
        &self,
        key: &[u8],
        quota: &Quota,
        cells: u32,
        now: u64,
    ) -> Result<GcraOutcome, StoreError> {
        let g = Gcra::new(quota);
        let mut m = self.shard(key).lock();
        let current = m.get(key).copied().unwrap_or(0);
        Ok(match g.step(current, now, cells).1 {
            None => GcraOutcome {
                allowed: false,
                tat: current,
            },
            Some(new) => {
                put(&mut m, key, new);
                GcraOutcome {
                    allowed: true,
                    tat: new,
                }
            }
        })
    }
}

/// A limiter whose state lives in a [`Store`] shared by several pods: every
/// check is one atomic step on the store, so the pods together admit exactly
/// what one limiter would (at most `burst + floor(W / T)` requests per key
/// in any interval of length `W`, whatever the pods' interleaving; tested).
/// It costs one store round trip per check; [`LeasedLimiter`](crate::LeasedLimiter)
/// trades a bounded over-admission for fewer.
///
/// ```
/// use hld_ratelimit::{InMemoryStore, Quota, SharedLimiter};
/// use std::sync::Arc;
/// let store = Arc::new(InMemoryStore::new());
/// let quota = Quota::per_second(2)?;
/// let pod_a = SharedLimiter::new(Arc::clone(&store), quota);
/// let pod_b = SharedLimiter::new(Arc::clone(&store), quota);
/// assert!(pod_a.check(b"user:7", 0)?.allowed);
/// assert!(pod_b.check(b"user:7", 0)?.allowed);
/// assert!(!pod_a.check(b"user:7", 0)?.allowed); // the two pods share 2/s
/// # Ok::<(), hld_ratelimit::Error>(())
/// ```
#[derive(Debug)]
pub struct SharedLimiter<S> {
    store: S,
    quota: Quota,
    gcra: Gcra,
}

impl<S: Store> SharedLimiter<S> {
    /// A limiter on `store` giving every key `quota`.
    pub fn new(store: S, quota: Quota) -> SharedLimiter<S> {
        SharedLimiter {
            store,
            quota,
            gcra: Gcra::new(&quota),
        }
    }

    /// The quota.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// One request from `key` at `now`.
    pub fn check(&self, key: &[u8], now: u64) -> Result<Decision, Error> {
        self.check_n(key, 1, now)
    }

    /// `n` requests from `key` at once: all or none. `n` of 0 or above the
    /// burst is an `Err`, as is a store failure.
    pub fn check_n(&self, key: &[u8], n: u32, now: u64) -> Result<Decision, Error> {
        self.gcra.validate_cells(n)?;
        let out = self.store.gcra_update(key, &self.quota, n, now)?;
        Ok(decision_from(&self.gcra, out, n, now))
    }
}

/// The decision a store's outcome stands for (the same numbers `step` gives).
pub(crate) fn decision_from(g: &Gcra, out: GcraOutcome, n: u32, now: u64) -> Decision {
    if out.allowed {
        g.allowed(out.tat, now)
    } else {
        g.step(out.tat, now, n).0
    }
}
