//! `hld`: fast, correct, embeddable cores for the classic high-level-design problems.
//!
//! This crate is a facade: it only re-exports the cores, each of which is also
//! usable on its own as a `hld-*` crate. See the README for the table of cores and
//! the runnable system examples that compose them.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Seen-before filters: cache-line-blocked Bloom filters with a stable hash.
pub use hld_bloom as bloom;
/// Content-defined chunking (FastCDC 2020), streaming, manifests and diffs: the Dropbox chunker.
pub use hld_chunker as chunker;
/// Consistent hashing for sharding: hash ring, jump hash, bounded loads, AnchorHash.
pub use hld_consistent_hash as consistent_hash;
/// Inverted index for tweet search: compressed postings, AND/OR/NOT, newest-first and BM25 top-k.
pub use hld_inverted_index as inverted_index;
/// Caches (exact LRU, scan-resistant S3-FIFO, sharded), expiry map, idempotency, feed cache, write policies.
pub use hld_lru_feed as lru_feed;
/// Dynamic geo index: great-circle kNN, radius and box queries, fast moves.
pub use hld_quadtree as quadtree;
/// Rate limiting: GCRA token bucket, fixed and sliding windows, keyed and shared limits, circuit breaker, backoff.
pub use hld_ratelimit as ratelimit;
/// Top-k completion trie for type-ahead (dynamic and frozen), weight-balanced sharding.
pub use hld_trie as trie;
