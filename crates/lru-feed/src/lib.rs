//! Caches and time-bounded maps for the systems in the notes: a cache in front
//! of a database (write-through, write-back, write-around), per-user news feed
//! caches read page by page, TicketMaster's five-minute seat holds, and upload
//! transaction ids kept "for some time so that duplicate requests are not
//! done".
//!
//! | type | for |
//! |---|---|
//! | [`LruCache`] | exact least-recently-used cache, O(1), safe code |
//! | [`Cache`] | S3-FIFO: scan-resistant, higher hit ratio than LRU, cheaper hits |
//! | [`ConcurrentCache`] | `Cache` shared by many threads (`&self`, lock-striped shards) |
//! | [`CachedStore`] | a `Cache` over the caller's [`BackingStore`] with a [`WritePolicy`] |
//! | [`ExpiryMap`] | map whose entries leave at a deadline, earliest first: holds, sessions |
//! | [`IdempotencyCache`] | request key -> in flight / done(result), same answer on retry |
//! | [`FeedCache`] | per-user bounded feeds ordered by score, cursor pagination |
//!
//! Everything is sans-I/O and deterministic: no threads, no clocks. Time is
//! passed in as `now: u64` nanoseconds on a clock of the caller's choosing.
//!
//! ```
//! use hld_lru_feed::{ExpiryMap, FeedCache, LruCache};
//!
//! // A cache before the database.
//! let mut rows = LruCache::new(10_000)?;
//! rows.put(17u64, "row 17");
//! assert_eq!(rows.get(&17), Some(&"row 17"));
//!
//! // TicketMaster: a hold per booking, released after 5 minutes unless confirmed.
//! const FIVE_MIN: u64 = 5 * 60 * 1_000_000_000;
//! let mut holds = ExpiryMap::new();
//! holds.insert("booking-1", vec!["A1", "A2"], 0 + FIVE_MIN);
//! holds.insert("booking-2", vec!["B7"], 1_000 + FIVE_MIN);
//! holds.remove(&"booking-1"); // confirmed
//! let released = holds.expire(2_000 + FIVE_MIN);
//! assert_eq!(released, [("booking-2", vec!["B7"])]);
//!
//! // News feed: the top 20, then the 20 after the last post the client has.
//! let mut feeds = FeedCache::new(500)?;
//! for post in 0..100u64 { feeds.push("bob", post, post); }
//! let top = feeds.page(&"bob", None, 20);
//! let next = feeds.page(&"bob", top.last(), 20);
//! assert_eq!((top[0], next[0]), (99, 79));
//! # Ok::<(), hld_lru_feed::Error>(())
//! ```
//!
//! # Cost model
//!
//! | operation | cost |
//! |---|---|
//! | `LruCache` get / put / remove | O(1); put allocates nothing once full |
//! | `Cache` get | O(1): one counter update, no relinking |
//! | `Cache` put | O(1) amortized (each entry is passed over at most 3 times per stay) |
//! | `ConcurrentCache` get / insert | `Cache`'s, plus one uncontended lock |
//! | `ExpiryMap` insert / remove | O(1) amortized when deadlines arrive in order (fixed TTL); O(log n) amortized otherwise |
//! | `ExpiryMap::expire(now)` | O(what expires) (times log n for out-of-order entries) |
//! | `FeedCache` push / page | O(log n) plus posts shifted / returned, n = posts per user |
//!
//! The caches and `ExpiryMap` find keys through one open-addressing index of
//! `u32` slot numbers with 32-bit hash tags (linear probing, backward-shift
//! deletion, so no tombstones and no rehash in a cache that evicts forever)
//! and keep their entries in a dense `Vec` linked by indices (the caches) or
//! in a ring buffer in deadline order and a slab for the rest (`ExpiryMap`):
//! no `unsafe` anywhere.
//!
//! Measured on a Zipf(0.99) trace of 10 M accesses over 10 M keys, capacity
//! 100 k, `u64` keys and values, a `get` per access and an insert on a miss
//! (AMD EPYC, 2 cores shared with other jobs, so times move by tens of
//! percent between runs; `BENCHMARKS.md` has every run, the peers, the
//! command and instruction counts):
//!
//! | | hit ratio | ns / access | best peer, same run |
//! |---|---|---|---|
//! | [`LruCache`] | 0.6208 | 36.5 | schnellru 28.1 |
//! | [`Cache`] | 0.6786 | 33.7 | quick_cache 0.6776, 50.2 |
//! | [`ConcurrentCache`], 1 thread | 0.6785 | 56.4 | quick_cache sync 90.1 |
//! | [`ConcurrentCache`], 2 threads | 0.6785 | 32.8 | quick_cache sync 100 |
//!
//! [`ExpiryMap`] (a later run): insert + remove of a hold among 100 k,
//! 54.8 ns (hashlink's `LinkedHashMap` 50.7 ns in the same run); expiring
//! 1 M holds with a fixed TTL, 12.3 ms (a `LinkedHashMap`, as in the notes:
//! 246 ms).
//!
//! # What it does not do
//!
//! Weighted entries (a capacity in bytes), per-entry TTL inside the caches
//! (compose a cache with an [`ExpiryMap`]), async loaders, and persistence:
//! these are caches of data that lives elsewhere, rebuilt from it after a
//! restart.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod concurrent;
mod error;
mod expiry;
mod feed;
mod ghost;
mod idempotency;
mod lru;
#[cfg(test)]
mod proptests;

/// A small deterministic generator for the unit tests: draws in `0..n` from
/// a 64-bit LCG (Knuth's MMIX constants), seeded by the caller.
#[cfg(test)]
pub(crate) fn test_rng(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |n| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    }
}
mod s3fifo;
mod store;
mod table;

pub use concurrent::ConcurrentCache;
pub use error::Error;
pub use expiry::ExpiryMap;
pub use feed::{FeedCache, Ranked};
pub use idempotency::{Begin, IdempotencyCache, Status};
pub use lru::{Iter, LruCache};
pub use s3fifo::Cache;
pub use store::{BackingStore, CachedStore, StoreStats, WritePolicy};

/// The largest capacity of the caches and feeds (2^30 entries): slots are
/// addressed by `u32`, and the index keeps its buckets below 2^31.
pub const MAX_CAPACITY: usize = 1 << 30;
