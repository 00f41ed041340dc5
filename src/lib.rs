//! `hld`: fast, correct, embeddable cores for the classic high-level-design problems.
//!
//! This crate is a facade: it only re-exports the cores, each of which is also
//! usable on its own as a `hld-*` crate. See the README for the table of cores and
//! the runnable system examples that compose them.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Consistent hashing for sharding: hash ring, jump hash, bounded loads, AnchorHash.
pub use hld_consistent_hash as consistent_hash;
