//! Rate limiting and admission control cores: the GCRA token bucket, fixed
//! and sliding windows, per-key limits with bounded memory, limits shared
//! by several pods, a circuit breaker and retry backoff. No I/O, no threads,
//! no clocks: every call takes `now: u64` nanoseconds from an epoch you
//! choose, so decisions are deterministic and testable.
//!
//! # Where it sits
//!
//! The API gateway of the system-design notes does "routing, authentication,
//! rate limiting" and protects services "from overload and DoS" (notes §7:
//! fixed window, sliding window, token bucket, and "how do distributed pods
//! work?"). A gateway pod keeps a [`KeyedLimiter`] keyed by user, API key or
//! IP; when one pod is not enough, pods share each key's state through a
//! [`Store`] (Redis in production) with [`SharedLimiter`], or take tokens in
//! batches with [`LeasedLimiter`]. Around flaky downstream services, a
//! [`CircuitBreaker`] sheds calls and [`Backoff`] spaces the retries.
//!
//! ```
//! use hld_ratelimit::{KeyedLimiter, Quota, TokenBucket};
//!
//! // 100 requests per second per user, bursts of 20.
//! let quota = Quota::per_second(100)?.with_burst(20)?;
//! let per_user = KeyedLimiter::<u64>::builder(quota).max_keys(1_000_000).build()?;
//! // And the whole service takes 10 000 per second.
//! let global = TokenBucket::new(Quota::per_second(10_000)?);
//!
//! let now = 1_700_000_000_000_000_000; // e.g. unix time in ns
//! let user = 42;
//! let d = per_user.check(&user, now);
//! if d.allowed && global.check(now).allowed {
//!     // serve; send `RateLimit-Remaining: {d.remaining}`
//! } else {
//!     // 429 with `Retry-After` from d.retry_after_ns
//! }
//! for _ in 0..19 { per_user.check(&user, now); }
//! let d = per_user.check(&user, now);
//! assert!(!d.allowed);
//! assert_eq!(d.retry_after_ns, 10_000_000); // one every 10 ms
//! # Ok::<(), hld_ratelimit::Error>(())
//! ```
//!
//! # What is here
//!
//! | type | state | use |
//! |---|---|---|
//! | [`TokenBucket`] | one `AtomicU64` (GCRA) | one limit, lock-free, many threads |
//! | [`FixedWindow`] | a counter | simplest; allows 2x at window edges |
//! | [`SlidingWindowCounter`] | two counters | Cloudflare's approximation, bounded error |
//! | [`SlidingWindowLog`] | a log of admitted times | exact sliding window, memory O(limit) |
//! | [`KeyedLimiter`] | a TAT per key, sharded | per-user / per-IP limits, bounded memory |
//! | [`SharedLimiter`] | a TAT per key in a [`Store`] | one limit across pods |
//! | [`LeasedLimiter`] | leases from a [`Store`] | fewer round trips, bounded over-admission |
//! | [`CircuitBreaker`] | window of outcomes | stop calling a failing service |
//! | [`Backoff`] | none | exponential, capped, full jitter |
//!
//! The token bucket is GCRA (the generic cell rate algorithm) exactly as
//! the `governor` crate defines it: emission interval
//! `T = floor(period / count)` (at least 1 ns), tolerance
//! `tau = (burst - 1) * T`, a fresh limiter's theoretical arrival time
//! starting at the first `now`. The tests run `governor` on a fake clock
//! beside these limiters and require identical decisions. Each key's whole
//! state is one integer (its theoretical arrival time, TAT), which is why a
//! store can hold it with one compare-and-set or one script call.
//!
//! # Cost model
//!
//! * [`TokenBucket::check`]: O(1), one load and (when allowed) one
//!   compare-and-swap; denied checks do not write.
//! * [`KeyedLimiter::check`]: O(1) expected: one shard lock, one hash, a
//!   blocked linear probe (1.1 to 1.4 cache lines per lookup at the table's
//!   56-80% load).
//!   Memory: 16-byte slots (for a `u64` key) at 56-80% load plus 4 bytes in
//!   the expiry wheel: 25-35 bytes per key. Idle keys are evicted at a cost
//!   proportional to what expires. [`KeyedLimiter::check_many`] locks each
//!   shard once per batch and prefetches the bucket of the key 16 places
//!   ahead, so the cache misses of a batch overlap.
//! * Windows: O(1) each ([`SlidingWindowLog`]: amortized O(1), memory up
//!   to the limit).
//!
//! Measured against `governor` 0.10 (its direct limiter, and its keyed
//! DashMap limiter with its default SipHash) on the same fake clock: medians
//! of one criterion run on a shared 2-core AMD EPYC VM, 2026-11-28
//! (`cargo bench -p hld-benches --bench ratelimit`; the crate README and
//! `BENCHMARKS.md` have the full table):
//!
//! | check | hld | governor | ratio |
//! |---|---|---|---|
//! | direct, allowed | 3.88 ns | 4.21 ns | 0.92x |
//! | direct, denied | 2.17 ns | 1.90 ns | 1.14x |
//! | direct, 2 threads contending | 21.7 ns | 26.9 ns | 0.81x |
//! | keyed, random key of 1M `u64` | 179 ns | 302 ns | 0.59x |
//! | keyed, `check_many` batches of 1024 | 57.3 ns/key | 267 ns/key | 0.21x |
//! | memory, 1M `u64` keys | 29.4 B/key | 34.0 B/key | 0.86x |
//!
//! A denied direct check is a load and a compare for both crates, about
//! five cycles, and which one wins by a cycle changes from build to build.

//! # Time
//!
//! Times are `u64` nanoseconds; sums saturate rather than wrap. Going
//! backwards never panics and never admits more: the token bucket's
//! arithmetic is stricter for an earlier `now`, and the other limiters
//! treat an earlier `now` as the latest one they have seen.
#![deny(missing_docs)]
// One module uses `unsafe`: `keyed::table`, for 16-byte slots and a software
// prefetch, both measured (see there).
#![deny(unsafe_code)]

mod backoff;
mod breaker;
mod bucket;
mod decision;
mod error;
mod fixed_window;
mod keyed;
mod lease;
mod quota;
mod sliding_counter;
mod sliding_log;
mod store;

pub use backoff::Backoff;
pub use breaker::{BreakerConfig, BreakerState, CircuitBreaker};
pub use bucket::TokenBucket;
pub use decision::Decision;
pub use error::{Error, StoreError};
pub use fixed_window::FixedWindow;
pub use keyed::{FullPolicy, KeyedLimiter, KeyedLimiterBuilder, DEFAULT_MAX_KEYS, DEFAULT_SHARDS};
pub use lease::LeasedLimiter;
pub use quota::Quota;
pub use sliding_counter::SlidingWindowCounter;
pub use sliding_log::SlidingWindowLog;
pub use store::{GcraOutcome, InMemoryStore, SharedLimiter, Store};

// The README's example is compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
