//! `hld`: fast, correct, embeddable cores for the classic high-level-design problems.
//!
//! This crate is a facade: it only re-exports the cores, each of which is also
//! usable on its own as a `hld-*` crate. See the README for the table of cores and
//! the runnable system examples that compose them.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Rate limiting: GCRA token bucket, fixed and sliding windows, keyed and shared limits, circuit breaker, backoff.
pub use hld_ratelimit as ratelimit;
