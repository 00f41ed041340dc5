//! Top-k completion tries for type-ahead suggestions.
//!
//! **Where it sits.** In the type-ahead suggester (notes, section 11) every
//! word end carries how often it was searched, and a prefix returns its
//! top-k completions. A collection service logs what users type, an
//! aggregator turns the logs into `term -> count`, a trie builder rebuilds
//! the trie from those counts, and cache servers load it and answer
//! prefixes; the key space is partitioned across servers (`A-M` on one,
//! ...). This crate is the trie and the pieces around it:
//!
//! - [`TopKTrie`]: the dynamic trie. [`insert`](TopKTrie::insert) sets a
//!   weight, [`add`](TopKTrie::add) increments it, [`remove`](TopKTrie::remove)
//!   drops a term; every node caches its subtree's `K` heaviest terms and
//!   updates keep those caches exact, so [`top_k`](TopKTrie::top_k) costs
//!   the prefix length plus `k`.
//! - [`FrozenTrie`]: the compact read-only form for the rebuild path, built
//!   from sorted `(term, weight)` pairs or by [`TopKTrie::freeze`], written
//!   with [`to_bytes`](FrozenTrie::to_bytes) and loaded with
//!   [`from_bytes`](FrozenTrie::from_bytes) (versioned, checksummed), so a
//!   server loads a rebuilt trie and swaps it in. [`TopKTrie::to_bytes`]
//!   writes the same format.
//! - [`ShardMap`] and [`merge_top_k`]: split the key space into ranges of
//!   equal total weight and merge the per-shard answers.
//! - [`TopKTrie::top_k_fuzzy`]: completions of anything within one typo
//!   (edit distance 1, by characters) of the prefix.
//! - [`normalize`]: the case and whitespace folding to apply on both sides.
//!
//! ```
//! use hld_trie::{FrozenTrie, TopKTrie};
//!
//! // The aggregator's counts.
//! let counts = [("the", 230u64), ("then", 40), ("there", 90), ("this", 120), ("tea", 15)];
//! let mut trie: TopKTrie = counts.iter().map(|&(t, w)| (t, w)).collect();
//! assert_eq!(trie.top_k("th", 2), vec![("the".into(), 230), ("this".into(), 120)]);
//!
//! // Live updates as searches come in.
//! trie.add("tea", 200);
//! assert_eq!(trie.top_k("t", 1), vec![("the".into(), 230)]);
//! assert_eq!(trie.top_k("te", 1), vec![("tea".into(), 215)]);
//!
//! // The rebuild path: freeze, ship the bytes, load and swap in.
//! let bytes = trie.freeze().to_bytes();
//! let served = FrozenTrie::from_bytes(&bytes)?;
//! assert_eq!(served.top_k("th", 3), trie.top_k("th", 3));
//! # Ok::<(), hld_trie::Error>(())
//! ```
//!
//! # Text
//!
//! Terms are UTF-8 `&str` compared as bytes (which is the order of Unicode
//! scalar values). Prefixes are `&str`, so a prefix always ends on a
//! character boundary and never matches half a character; the fuzzy search
//! counts edits in characters. The trie is **case-sensitive**: it stores
//! what it is given. Apply [`normalize`] (Unicode lowercase, whitespace
//! collapsed) to terms on insert and to prefixes on query for the usual
//! case-insensitive type-ahead box.
//!
//! # Cost model
//!
//! | operation | cost |
//! |---|---|
//! | [`TopKTrie::top_k`], `k <= K` | descent `O(prefix)` + copy `k` |
//! | [`TopKTrie::top_k`], `k > K` | best-first: `O(k log k)` node visits x fan-out |
//! | [`TopKTrie::insert`] / [`add`](TopKTrie::add) | descent + `O(K)` per node whose list changes (stops early) |
//! | weight decrease / [`remove`](TopKTrie::remove) of a cached term | + `O(K x children)` refill per full list |
//! | `FromIterator` | sort + `O(total bytes + nodes x K)` |
//! | [`FrozenTrie::top_k`] | two binary searches over block heads + `k` range-minimum queries |
//! | [`FrozenTrie::from_sorted`] | `O(n log distinct)` |
//!
//! Measured on a shared 2-core AMD EPYC over 1M terms with Zipf weights
//! (`BENCHMARKS.md` has the full table, the real-data runs and the command):
//!
//! | top-10, prefix of | 1 char | 2 chars | 4 chars |
//! |---|---|---|---|
//! | `TopKTrie` | 0.51 us | 1.11 us | 3.03 us |
//! | `FrozenTrie` | 1.90 us | 4.04 us | 2.44 us |
//! | fst, best-first over inverted weights | 28.1 us | 21.4 us | 5.63 us |
//! | fst, stream the range + heap | 9.9 ms | 691 us | 6.09 us |
//!
//! The frozen form takes 9.7 bytes per term in memory (weights included;
//! 7.5 as bytes) and builds at about 4 M terms/s; the dynamic trie takes
//! about 177 bytes per term and applies 444k-877k updates per second.
//!
//! # What it does not do
//!
//! No I/O, no threads, no clocks: loading, shipping and swapping bytes is
//! the caller's. No scoring beyond the weight (recency, personalisation,
//! context are the caller's, e.g. by folding them into the weight).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod codec;
mod error;
mod frozen;
mod fuzzy;
mod heavy;
mod normalize;
mod packed;
mod partition;
mod query;
mod rmq;
#[cfg(feature = "serde")]
mod serde_impl;
mod trie;

pub use error::Error;
pub use frozen::{FrozenIter, FrozenTrie};
pub use normalize::normalize;
pub use partition::{merge_top_k, ShardMap};
pub use query::Iter;
pub use trie::{TopKTrie, DEFAULT_CACHE_SIZE, MAX_CACHE_SIZE};
