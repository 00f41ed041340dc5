//! Consistent hashing for sharding: which server owns a key, such that adding
//! or removing a server moves only about `K/N` of the keys.
//!
//! In the system-design notes this is how shards are picked everywhere: the
//! load balancer routes every request for a TicketMaster show to the same
//! booking servers, type-ahead tries and cache servers are split by key, and
//! the messenger routes a user's session to one chat server. "When a new cache
//! server is added, only K/N of the keys have to be redistributed." Hot shards
//! are the notes' recurring worry, hence the bounded-load variant.
//!
//! Four schemes, one per trade-off:
//!
//! | scheme | state | remove any node | balance | lookup |
//! |---|---|---|---|---|
//! | [`HashRing`] (vnodes, weights, replicas) | nodes x vnodes points | yes | peak 1.28x mean at 100 vnodes | O(1): table + 2-4 points |
//! | [`jump_hash`] / [`JumpHash`] | none | only the last | perfect | O(ln n) |
//! | [`AnchorHash`] | 4 words per bucket of a fixed capacity | yes | perfect | O(1) expected |
//! | [`BoundedLoad`] | the assignment itself | yes | <= `ceil(c * mean)` guaranteed | walk to a non-full node |
//!
//! ```
//! use hld_consistent_hash::{jump_hash, AnchorHash, BoundedLoad, HashRing};
//!
//! // A ring: virtual nodes, weights, replicas.
//! let mut ring = HashRing::new(100)?;
//! ring.extend(["cache-1", "cache-2", "cache-3"]);
//! let owner = *ring.node_for("show:1234").unwrap();
//! let replicas = ring.nodes_for("show:1234", 2);
//! assert_eq!(*replicas[0], owner);
//!
//! // Jump hash: numbered shards, no state.
//! assert!(jump_hash(0xFEED, 10) < 10);
//!
//! // AnchorHash: any server can leave.
//! let mut pool = AnchorHash::with_seed(8, 0)?;
//! for s in ["a", "b", "c"] { pool.add(s)?; }
//! pool.remove(&"a");
//! assert!(pool.node_for(&42u64).is_some());
//!
//! // Bounded loads: no chat server above 1.25x the mean.
//! let mut chat = BoundedLoad::new(1.25, 100)?;
//! for s in ["chat-1", "chat-2"] { chat.add_node(s)?; }
//! for user in 0..100u32 { chat.assign(user)?; }
//! assert!(chat.loads().all(|(_, n)| n <= 63));
//! # Ok::<(), hld_consistent_hash::Error>(())
//! ```
//!
//! # Placement is stable
//! Routing is shared state: every process must send a key to the same node.
//! All placement goes through one documented hash, XXH3-64 with a seed over a
//! platform-independent byte encoding of the key's `Hash` stream (see
//! [`StableHasher`]); ring points come from SplitMix64 (see [`HashRing`]).
//! Nothing depends on the process, the platform or insertion order, and tests
//! pin concrete placements. For routing from other languages, hash the key's
//! bytes with XXH3 yourself and use the `*_for_hash` lookups.
//!
//! # Cost model
//! With `P` ring points (nodes x vnodes x weight) and `N` nodes:
//! - `HashRing`: lookup O(1) expected (the top bits of the key hash index a
//!   table of `P/4..P/2` slots, then the 2-4 points of one slot are scanned);
//!   build O(P) (a counting sort on the same top bits: the histogram's prefix
//!   sum is the table); add/remove/reweight O(P), no O(P log P) re-sort;
//!   memory about 13.6 bytes per point. `nodes_for(key, r)` walks clockwise,
//!   O(r) points for small `r`.
//! - `jump_hash`: O(ln N) expected steps of an LCG and a float division; no memory.
//! - `AnchorHash`: lookup O(1 + ln(a/N)) expected for capacity `a`; add/remove
//!   O(1); 16 bytes per bucket plus the nodes.
//! - `BoundedLoad`: assign O(walk to a non-full node), O(1/(c-1)) expected;
//!   release O(1) amortized moves; node changes O(keys).
//!
//! Measured on a shared 2-core AMD EPYC VM (BENCHMARKS.md has the table and
//! the command), 100 nodes x 100 vnodes, u64 keys, medians: ring lookup 6 ns
//! (the `hashring` crate 66 ns), ring build 119 us (`hashring`'s `batch_add`
//! 449 us); jump hash at 100 buckets 28 ns; AnchorHash with 100 of 128
//! buckets 4.2 ns including the key hash (the `anchorhash` crate 18 ns).
//!
//! # Bad input
//! Zero vnodes, zero weight, zero buckets, zero capacity, a NaN or < 1 balance,
//! and corrupt bytes are `Err(`[`Error`]`)`; lookups on an empty structure
//! answer `None`. Nothing panics.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod anchor;
mod bounded;
mod error;
mod jump;
pub mod persist;
mod ring;
#[cfg(feature = "serde")]
mod serde_impl;
mod stable;

pub use anchor::AnchorHash;
pub use bounded::{BoundedLoad, Move};
pub use error::Error;
pub use jump::{jump_hash, try_jump_hash, JumpHash};
pub use persist::NodeCodec;
pub use ring::{HashRing, Iter, DEFAULT_VNODES, MAX_POINTS_PER_NODE, MAX_RING_POINTS};
pub use stable::{hash_bytes, stable_hash, StableBuildHasher, StableHasher};

// The README's example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
