//! Per-key limits: one GCRA state per key (per user, IP, API key) in a
//! sharded, memory-bounded table.

mod shard;
mod table;
mod wheel;

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;

use parking_lot::Mutex;

use crate::quota::Gcra;
use crate::{Decision, Error, Quota};
use shard::Shard;

/// How many keys ahead of the one being checked a batch prefetches: the
/// checks of 16 keys (20-30 ns each) cover a memory miss (130-250 ns on the
/// benchmark VM). Measured on 1M keys: 8, 16 and 32 are within noise of
/// each other, and all beat loading a chunk of 32 lines and waiting for them
/// (the safe alternative) by about 20%.
const AHEAD: usize = 16;

/// The default key budget: 2^20 keys (about 26 MiB for `u64` keys).
pub const DEFAULT_MAX_KEYS: usize = 1 << 20;

/// The default number of shards: enough that threads rarely meet on one
/// lock on a many-core gateway, few enough that each shard's table stays
/// large (the fixed cost per shard is about 2 KiB).
pub const DEFAULT_SHARDS: usize = 32;

/// What a full [`KeyedLimiter`] does with a key it has never seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum FullPolicy {
    /// Forget the key whose theoretical arrival time is earliest (to within
    /// one wheel tick) and admit the new key. That key's state is the
    /// closest to "never seen", so forgetting it lets the fewest extra
    /// requests through: at most `(tat - now) / T` (rounded up) for that one
    /// key, never more than its burst. A flood of new keys therefore churns
    /// among the flood's own one-request keys while keys with real debt stay.
    #[default]
    EvictOldest,
    /// Deny requests from new keys until keys expire (fail closed). Nothing
    /// is ever forgotten early, but a flood of new keys locks out new
    /// legitimate callers until the flood's keys go idle.
    DenyNew,
}

/// A rate limiter with one GCRA bucket per key.
///
/// Decisions for each key equal those of a [`TokenBucket`](crate::TokenBucket)
/// for that key alone, and of `governor`'s keyed limiter (tests run both).
///
/// * **Sharded**: keys are spread over `shards` locks by hash; a check locks
///   one shard for a few dozen nanoseconds.
/// * **Compact**: a shard is an open-addressing table of `(TAT, key)` slots
///   (16 bytes for a `u64` key) kept between 56% and 80% full, plus a 4-byte
///   entry in an expiry wheel: 25 to 35 bytes per `u64` key, measured.
///   Keys are stored and compared in full: distinct keys never share a limit.
/// * **Idle keys are evicted** as time passes, at a cost proportional to
///   what expires (a timing wheel, never a scan). A key is idle once its TAT
///   is at or before `now`, and forgetting it then is exact: an idle key and
///   an unseen key get the same decisions.
/// * **Bounded**: at most `max_keys` keys are held (each shard holds its
///   share, `max_keys / shards`, so the total never exceeds `max_keys`; a
///   shard may reach its share slightly before the total does). What happens
///   when full is the [`FullPolicy`].
/// * **Quotas change at run time** ([`set_quota`](Self::set_quota),
///   [`set_key_quota`](Self::set_key_quota)) and keep every key's state: its
///   TAT, a debt measured in time, carries over and is judged by the new
///   quota from then on.
/// * Time going backwards is read as time standing still (each shard decides
///   at the largest `now` it has seen), so it never admits more.
///
/// ```
/// use hld_ratelimit::{KeyedLimiter, Quota};
/// let limiter = KeyedLimiter::new(Quota::per_second(2)?);
/// let now = 1_000_000_000;
/// assert!(limiter.check(&"alice", now).allowed);
/// assert!(limiter.check(&"alice", now).allowed);
/// assert!(!limiter.check(&"alice", now).allowed);
/// assert!(limiter.check(&"bob", now).allowed); // a separate bucket
///
/// // A paying customer gets more, without losing what they used: her 1 s
/// // of debt is worth 10 of the new burst of 20, so 10 more pass now.
/// limiter.set_key_quota("alice", Quota::per_second(10)?.with_burst(20)?);
/// let more = (0..100).take_while(|_| limiter.check(&"alice", now).allowed).count();
/// assert_eq!(more, 10);
/// # Ok::<(), hld_ratelimit::Error>(())
/// ```
pub struct KeyedLimiter<K, S = ahash::RandomState> {
    shards: Box<[ShardCell<K, S>]>,
    hasher: S,
    mask: u64,
    max_keys: usize,
    policy: FullPolicy,
}

type ShardCell<K, S> = Padded<Mutex<Shard<K, S>>>;

/// Keeps each shard's lock on its own cache lines (128 bytes: adjacent-line
/// prefetchers pair lines), so threads on different shards do not contend.
#[repr(align(128))]
struct Padded<T>(T);

/// Builds a [`KeyedLimiter`] with non-default settings.
///
/// ```
/// use hld_ratelimit::{FullPolicy, KeyedLimiter, Quota};
/// let limiter = KeyedLimiter::<u64>::builder(Quota::per_minute(60)?)
///     .max_keys(100_000)
///     .shards(16)
///     .when_full(FullPolicy::DenyNew)
///     .build()?;
/// assert_eq!(limiter.max_keys(), 100_000);
/// # Ok::<(), hld_ratelimit::Error>(())
/// ```
pub struct KeyedLimiterBuilder<K, S = ahash::RandomState> {
    quota: Quota,
    max_keys: usize,
    shards: usize,
    policy: FullPolicy,
    tick_ns: Option<u64>,
    hasher: S,
    key: PhantomData<fn() -> K>,
}

impl<K, S: Clone> Clone for KeyedLimiterBuilder<K, S> {
    fn clone(&self) -> Self {
        KeyedLimiterBuilder {
            hasher: self.hasher.clone(),
            key: PhantomData,
            ..*self
        }
    }
}

impl<K, S> fmt::Debug for KeyedLimiterBuilder<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedLimiterBuilder")
            .field("quota", &self.quota)
            .field("max_keys", &self.max_keys)
            .field("shards", &self.shards)
            .field("policy", &self.policy)
            .field("tick_ns", &self.tick_ns)
            .finish_non_exhaustive()
    }
}

impl<K> KeyedLimiterBuilder<K, ahash::RandomState> {
    fn new(quota: Quota) -> Self {
        KeyedLimiterBuilder {
            quota,
            max_keys: DEFAULT_MAX_KEYS,
            shards: DEFAULT_SHARDS,
            policy: FullPolicy::default(),
            tick_ns: None,
            hasher: ahash::RandomState::new(),
            key: PhantomData,
        }
    }
}

impl<K, S> KeyedLimiterBuilder<K, S> {
    /// The most keys held at once (default [`DEFAULT_MAX_KEYS`]).
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n;
        self
    }

    /// Shards (locks); rounded up to a power of two, and down to at most
    /// `max_keys` so every shard may hold a key (default [`DEFAULT_SHARDS`]).
    pub fn shards(mut self, n: usize) -> Self {
        self.shards = n;
        self
    }

    /// What to do with new keys when full (default
    /// [`FullPolicy::EvictOldest`]).
    pub fn when_full(mut self, policy: FullPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The expiry wheel's granularity: idle keys are evicted within about
    /// this long after they go idle. Default: a 32nd of the quota's burst
    /// window (`burst * T`), at least 1 µs.
    pub fn idle_tick_ns(mut self, ns: u64) -> Self {
        self.tick_ns = Some(ns);
        self
    }

    /// The hasher that spreads keys over shards and slots (default: `ahash`
    /// with per-process random keys, so callers cannot aim keys at one slot).
    pub fn hasher<S2: BuildHasher + Clone>(self, hasher: S2) -> KeyedLimiterBuilder<K, S2> {
        KeyedLimiterBuilder {
            quota: self.quota,
            max_keys: self.max_keys,
            shards: self.shards,
            policy: self.policy,
            tick_ns: self.tick_ns,
            hasher,
            key: PhantomData,
        }
    }

    /// The limiter. Zero `max_keys`, zero shards or a zero tick is an `Err`.
    pub fn build(self) -> Result<KeyedLimiter<K, S>, Error>
    where
        K: Hash + Eq + Clone,
        S: BuildHasher + Clone,
    {
        if self.max_keys == 0 {
            return Err(Error::InvalidConfig("max_keys must be at least 1"));
        }
        if self.shards == 0 {
            return Err(Error::InvalidConfig("shards must be at least 1"));
        }
        if self.tick_ns == Some(0) {
            return Err(Error::InvalidConfig("idle_tick_ns must be at least 1"));
        }
        let mut shards = self.shards.min(1 << 16).next_power_of_two();
        while shards > self.max_keys {
            shards /= 2;
        }
        let window = self.quota.emission_interval_ns() * self.quota.burst() as u64;
        // 1 µs floor: finer ticks only add wheel turns without freeing
        // memory sooner in any way that matters.
        let tick = self.tick_ns.unwrap_or((window / 32).max(1_000));
        let base = self.max_keys / shards;
        let extra = self.max_keys % shards;
        let shards_vec = (0..shards)
            .map(|i| {
                let max_live = base + usize::from(i < extra);
                Padded(Mutex::new(Shard::new(
                    self.quota,
                    max_live,
                    self.policy,
                    tick,
                    self.hasher.clone(),
                )))
            })
            .collect();
        Ok(KeyedLimiter {
            shards: shards_vec,
            hasher: self.hasher,
            mask: shards as u64 - 1,
            max_keys: self.max_keys,
            policy: self.policy,
        })
    }
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// A limiter giving every key `quota`, with the default key budget
    /// ([`DEFAULT_MAX_KEYS`]), shards and policy.
    pub fn new(quota: Quota) -> KeyedLimiter<K> {
        KeyedLimiterBuilder::new(quota)
            .build()
            .expect("the default settings are valid")
    }
}

impl<K> KeyedLimiter<K> {
    /// A builder for non-default settings.
    pub fn builder(quota: Quota) -> KeyedLimiterBuilder<K> {
        KeyedLimiterBuilder::new(quota)
    }
}

impl<K: Hash + Eq + Clone, S: BuildHasher + Clone> KeyedLimiter<K, S> {
    #[inline]
    fn shard(&self, hash: u64) -> &Mutex<Shard<K, S>> {
        &self.shards[(hash & self.mask) as usize].0
    }

    /// One request from `key` at `now`.
    #[inline]
    pub fn check(&self, key: &K, now: u64) -> Decision {
        let hash = self.hasher.hash_one(key);
        let mut shard = self.shard(hash).lock();
        let now = shard.clamp(now);
        let gcra = shard.gcra_for(key);
        shard.run(hash, key, gcra, 1, now)
    }

    /// `n` requests from `key` at once: all or none. `n` of 0 or above the
    /// key's burst is an `Err`.
    pub fn check_n(&self, key: &K, n: u32, now: u64) -> Result<Decision, Error> {
        let hash = self.hasher.hash_one(key);
        let mut shard = self.shard(hash).lock();
        let gcra = shard.gcra_for(key);
        gcra.validate_cells(n)?;
        let now = shard.clamp(now);
        Ok(shard.run(hash, key, gcra, n, now))
    }

    /// One request from each key, in order, as if by `check` one at a time
    /// (a key repeated in the batch sees its earlier requests). Keys are
    /// grouped by shard so each shard is locked once, and each group's
    /// table slots are loaded ahead of use, so a batch overlaps its cache
    /// misses instead of paying them one after another.
    pub fn check_many(&self, keys: &[K], now: u64) -> Vec<Decision> {
        let mut out = Vec::new();
        self.check_many_into(keys, now, &mut out);
        out
    }

    /// [`check_many`](Self::check_many) into a caller's buffer (cleared
    /// first), to reuse its allocation.
    pub fn check_many_into(&self, keys: &[K], now: u64, out: &mut Vec<Decision>) {
        out.clear();
        out.resize(keys.len(), Decision::default());
        let hashes: Vec<u64> = keys.iter().map(|k| self.hasher.hash_one(k)).collect();
        // A stable counting sort of key positions by shard keeps each key's
        // requests in order (a key always maps to one shard).
        let nshards = self.shards.len();
        let mut starts = vec![0u32; nshards + 1];
        for &h in &hashes {
            starts[(h & self.mask) as usize + 1] += 1;
        }
        for s in 0..nshards {
            starts[s + 1] += starts[s];
        }
        let mut fill = starts.clone();
        let mut order = vec![0u32; keys.len()];
        for (i, &h) in hashes.iter().enumerate() {
            let s = (h & self.mask) as usize;
            order[fill[s] as usize] = i as u32;
            fill[s] += 1;
        }
        let group_of = |s: usize| &order[starts[s] as usize..starts[s + 1] as usize];
        let mut shards = (0..nshards).filter(|&s| !group_of(s).is_empty());
        // Locks a shard and prefetches the home buckets of its group's first
        // keys.
        let open = |s: usize| {
            let mut shard = self.shards[s].0.lock();
            let now = shard.clamp(now);
            let group = group_of(s);
            for &i in &group[..group.len().min(AHEAD)] {
                shard.table.prefetch(shard.table.home(hashes[i as usize]));
            }
            (shard, now, group)
        };
        let Some(first) = shards.next() else { return };
        let mut current = open(first);
        loop {
            // Hand over hand, in ascending shard order (so two batches never
            // wait on each other): the next group's first loads are in
            // flight while this group is checked, and no group starts cold.
            let next = shards.next().map(open);
            let (shard, now, group) = &mut current;
            let now = *now;
            // Without per-key quotas every key of the group has the default.
            let (plain, default) = (shard.overrides.is_empty(), shard.gcra);
            for (j, &i) in group.iter().enumerate() {
                // The home bucket of the key AHEAD places on is fetched
                // while this one is checked, so the loads overlap the work.
                if let Some(&ahead) = group.get(j + AHEAD) {
                    shard
                        .table
                        .prefetch(shard.table.home(hashes[ahead as usize]));
                }
                let i = i as usize;
                let gcra = if plain {
                    default
                } else {
                    shard.gcra_for(&keys[i])
                };
                out[i] = shard.run(hashes[i], &keys[i], gcra, 1, now);
            }
            match next {
                Some(n) => current = n,
                None => break,
            }
        }
    }

    /// What a check of `key` at `now` would decide, consuming nothing.
    pub fn peek(&self, key: &K, now: u64) -> Decision {
        let hash = self.hasher.hash_one(key);
        let shard = self.shard(hash).lock();
        let now = now.max(shard.high_water);
        let tat = shard.tat_of(hash, key).unwrap_or(0);
        shard.gcra_for(key).step(tat, now, 1).0
    }

    /// The stored theoretical arrival time of `key`, if it holds state that
    /// is not yet idle.
    pub fn tat(&self, key: &K) -> Option<u64> {
        let hash = self.hasher.hash_one(key);
        self.shard(hash).lock().tat_of(hash, key)
    }

    /// Forgets `key`'s state (it starts afresh); true if it was held.
    pub fn remove(&self, key: &K) -> bool {
        let hash = self.hasher.hash_one(key);
        self.shard(hash).lock().remove(hash, key)
    }

    /// Evicts keys idle at `now` whose wheel ticks are due; returns how
    /// many. Checks do this as they go; call it to reclaim memory while
    /// traffic is quiet. Costs what expires, not the number of keys.
    pub fn evict_idle(&self, now: u64) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let mut s = s.0.lock();
                let now = now.max(s.high_water);
                s.high_water = now;
                s.expire(now)
            })
            .sum()
    }

    /// Keys whose state is held (idle keys count until evicted).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.0.lock().table.live()).sum()
    }

    /// Whether no key's state is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every key's state (quotas and overrides stay).
    pub fn clear(&self) {
        for s in self.shards.iter() {
            s.0.lock().clear();
        }
    }

    /// The held keys and their TATs, in no particular order (a snapshot,
    /// shard by shard).
    pub fn entries(&self) -> Vec<(K, u64)> {
        let mut out = Vec::new();
        for s in self.shards.iter() {
            let s = s.0.lock();
            out.extend(s.table.iter().map(|(k, t)| (k.clone(), t)));
        }
        out
    }

    /// The default quota.
    pub fn quota(&self) -> Quota {
        self.shards[0].0.lock().quota
    }

    /// Changes the default quota at run time. Every key keeps its state (its
    /// TAT), judged by the new quota from now on; keys with their own quota
    /// keep it.
    pub fn set_quota(&self, quota: Quota) {
        for s in self.shards.iter() {
            s.0.lock().set_quota(quota);
        }
    }

    /// Gives `key` its own quota (replacing any earlier one); its state is
    /// kept. Overrides are held apart from the key budget, even while the
    /// key is idle: they are configuration, not traffic.
    pub fn set_key_quota(&self, key: K, quota: Quota) {
        let hash = self.hasher.hash_one(&key);
        self.shard(hash)
            .lock()
            .overrides
            .insert(key, (quota, Gcra::new(&quota)));
    }

    /// Removes `key`'s own quota, returning it; the key is back on the default.
    pub fn remove_key_quota(&self, key: &K) -> Option<Quota> {
        let hash = self.hasher.hash_one(key);
        self.shard(hash).lock().overrides.remove(key).map(|o| o.0)
    }

    /// The quota `key` is checked against.
    pub fn key_quota(&self, key: &K) -> Quota {
        let hash = self.hasher.hash_one(key);
        let s = self.shard(hash).lock();
        s.overrides.get(key).map_or(s.quota, |o| o.0)
    }

    /// The key budget.
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    /// The number of shards.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// The policy for new keys when full.
    pub fn policy(&self) -> FullPolicy {
        self.policy
    }

    /// Bytes of memory held: the struct, every shard's table, wheel and
    /// overrides (by capacity, not length). Memory a key owns on the heap
    /// (a `String`'s bytes) is not counted.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.shards.len() * std::mem::size_of::<ShardCell<K, S>>()
            + self
                .shards
                .iter()
                .map(|s| s.0.lock().heap_bytes())
                .sum::<usize>()
    }
}

impl<K, S> fmt::Debug for KeyedLimiter<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedLimiter")
            .field("shards", &self.shards.len())
            .field("max_keys", &self.max_keys)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}
