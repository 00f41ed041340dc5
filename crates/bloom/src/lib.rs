//! Seen-before filters: "have I crawled this URL, stored this checksum?" for
//! billions of items in a few bits each.
//!
//! The web crawler of the design notes (section 5) must not fetch a URL twice nor
//! keep a document whose content it already has, over 15 billion pages: storing
//! every URL or checksum takes terabytes, a Bloom filter takes about ten bits per
//! item at a 1% false-positive rate (15 billion URLs: ~19 GB instead of ~1 TB).
//! YouTube and Dropbox ask the same question of video and chunk fingerprints.
//!
//! ```
//! use hld_bloom::BloomFilter;
//!
//! let mut seen = BloomFilter::new(1_000_000, 0.01)?;
//! for url in ["https://a.example/", "https://b.example/", "https://a.example/"] {
//!     if seen.insert(url) {
//!         // first time: fetch it
//!     } else {
//!         // seen before (or, 1% of the time, a false positive): skip
//!     }
//! }
//! assert!(seen.contains("https://b.example/"));
//!
//! // Checkpoint it; after a crash, read it back (corrupt bytes are an error).
//! let bytes = seen.to_bytes();
//! let restored = hld_bloom::BloomFilter::from_bytes(&bytes)?;
//! assert!(restored.contains("https://a.example/"));
//! # Ok::<(), hld_bloom::Error>(())
//! ```
//!
//! # Layout: one cache line per operation
//!
//! A classic Bloom filter sets `k` bits anywhere in a large array: `k` cache misses
//! per insert or lookup. This one is *blocked* (Putze, Sanders, Singler 2007) in the
//! split-block style of Apache Parquet, Impala and Kudu: the hash picks one 256-bit
//! block (32 bytes, 32-byte aligned, so inside one cache line) and sets one bit in
//! each of its eight 32-bit words (`k = 8`). For rates below about 1e-3, where
//! that takes less space, an item owns a 64-byte line of two blocks instead and
//! sets one bit (`k = 16`) or, below about 1e-10, two bits (`k = 32`) in each of
//! its sixteen words. An insert or lookup is one hash, one cache miss and a few
//! instructions, with no loops and no data-dependent branches: at `k = 8` the
//! eight positions come from two multiplies of the hash and the eight one-bit
//! masks from one pass of SSE2 over four 32-bit lanes (on x86-64; a scalar loop
//! computing the same bits elsewhere): 49 instructions per lookup from key to
//! answer for a `u64` key, 69 for a 16-byte string (counted in the
//! disassembly, BENCHMARKS.md).
//!
//! Blocks fill unevenly, so a blocked filter needs a little more space than a
//! classic one for the same rate; [`BloomFilter::new`] accounts for it exactly
//! (the Poisson-weighted rate over block loads) and sizes the filter so the
//! measured rate at capacity stays at or under the target: at 1%, 10.7 bits per
//! item (a classic filter: 9.6). Bit and block indexes are 64-bit throughout.
//!
//! # The hash is stable
//!
//! Items are hashed with [`StableHasher`], a documented 64-bit hash (see
//! [`hash`](mod@hash)) that is the same in every process, run and platform, with
//! a seed stored in the serialized form. A filter written by one crawler process
//! means the same to every other. Pre-hashed keys go through
//! [`BloomFilter::insert_hash`] and [`BloomFilter::contains_hash`].
//!
//! # Cost model
//!
//! | operation | cost |
//! |---|---|
//! | `insert`, `contains` | O(1): one hash, one cache line |
//! | `new` | O(bits) to zero the array |
//! | `union`, `to_bytes`, `from_bytes`, `estimated_fp_rate` | O(bits) |
//! | memory | `bit_len / 8` bytes: 10.7 bits per item at 1%, 17.1 at 0.1%, 39.6 at 1e-6 |
//!
//! Filters of 4 MiB and more are reserved, advised onto transparent huge pages
//! (`madvise(MADV_HUGEPAGE)`, Linux) and only then zeroed, as are their clones,
//! snapshots and `from_bytes` copies: at 10M items (13.4 MB) a random lookup on
//! 4 KiB pages also pays a TLB miss and a page walk, on 2 MiB pages it does not.
//! In six paired runs of 10M random hits on a shared 2-core AMD EPYC VM that
//! took a hit from 55-85 ns (median 72.5) to 48-72 ns (median 53.5), faster in
//! every pair (measured with the format 1 layout). Where the kernel has no THP
//! or declines, nothing changes. The crate's `unsafe` code is this one system
//! call (module `pages`) and the aligned SSE2 load and store of a block's two
//! halves (module `block`), each with its `SAFETY` argument and tests.
//!
//! Measured (BENCHMARKS.md, `cargo bench -p hld-benches --bench bloom`, 10M keys
//! at 1% on a shared 2-core AMD EPYC, three runs on 2026-11-28): insert 21-37 ns
//! and lookup 19-29 ns per `u64` key, 48-50 and 41-69 ns per 16-byte string,
//! against 103-188 and 77-181 ns for fastbloom with its default hash (0.17-0.28x
//! for `u64`, 0.26-0.42x for strings) and 37-98 and 42-120 ns for fastbloom
//! with ahash. At that size the filter outgrows the cache and each operation's
//! one cache miss dominates. [`AtomicBloomFilter`] does the same from many
//! threads with `&self`.
//!
//! # What it does not do
//!
//! No deletion (use a counting or cuckoo filter), no growth past the expected items
//! (the rate degrades gracefully; size for the peak, or chain a new filter), and no
//! protection against someone who knows the seed and crafts colliding inputs.
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod atomic;
mod block;
mod codec;
mod error;
mod filter;
pub mod hash;
mod pages;
mod sizing;

pub use atomic::AtomicBloomFilter;
pub use error::Error;
pub use filter::BloomFilter;
pub use hash::{hash_bytes, hash_one, StableHasher, DEFAULT_SEED};

// The README's example is compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
