//! Content-defined chunking (FastCDC 2020), streaming, manifests and diffs:
//! the chunker of a file-sync client.
//!
//! In the Dropbox design of the notes (section 10), the client's *Chunker*
//! splits each file into chunks, and only the chunks that changed travel to
//! cloud storage; YouTube-style uploads send chunks independently and resume
//! after a disconnect. Both dedupe by chunk fingerprint. Fixed-size blocks
//! would not survive an edit: one inserted byte shifts every later block.
//! *Content-defined* boundaries are chosen by the bytes themselves (a rolling
//! hash passing a mask), so after an insert the boundaries re-synchronise and
//! one edit changes one or two chunks.
//!
//! - [`FastCdc`] finds the boundaries of FastCDC 2020 (Xia et al., IEEE TC
//!   2020) at normalization level 1, bit-identical (offsets, lengths *and*
//!   the reported Gear hash) to the `fastcdc` crate 5.x `v2020` module, so
//!   chunk lists interoperate with other FastCDC tools.
//! - [`StreamChunker`] gives the same chunks from bytes pushed in pieces of
//!   any size, holding at most `max_size` bytes; [`StreamChunker::resume`]
//!   restarts an interrupted upload at a boundary.
//! - [`Manifest`] lists a file's chunks with BLAKE3 fingerprints;
//!   [`Manifest::diff`] says which chunks to upload and how the server
//!   rebuilds the new file from the old one ([`ManifestDiff::rebuild`]).
//!
//! ```
//! use hld_chunker::{FastCdc, Manifest, StreamChunker};
//!
//! let cdc = FastCdc::new(2048, 8192, 65536)?;
//! let file: Vec<u8> = (0..1_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 17) as u8).collect();
//!
//! // Boundaries over a slice: lazy, allocation-free.
//! let chunks: Vec<_> = cdc.chunks(&file).collect();
//! assert_eq!(chunks.iter().map(|c| c.len).sum::<usize>(), file.len());
//!
//! // The same boundaries from a stream, whatever the read sizes.
//! let mut stream = StreamChunker::new(cdc);
//! let mut streamed = Vec::new();
//! for read in file.chunks(4000) {
//!     streamed.extend(stream.push(read));
//! }
//! streamed.extend(stream.finish());
//! assert_eq!(streamed, chunks);
//!
//! // Edit the file: only the chunks around the edit need uploading.
//! let mut edited = file.clone();
//! edited[500_000] ^= 1;
//! let diff = Manifest::new(&cdc, &edited).diff(&Manifest::new(&cdc, &file));
//! assert!(diff.upload.len() <= 2);
//! # Ok::<(), hld_chunker::Error>(())
//! ```
//!
//! # Cost model
//!
//! - [`FastCdc::chunks`]: O(n) time, O(1) space, nothing allocated; each chunk
//!   scans its bytes past `min_size` once (FastCDC's cut-point skipping), plus
//!   a 48-byte lane warm-up per KiB scanned, and re-hashes 64 bytes at each cut.
//! - [`StreamChunker::push`]: the same scan; bytes are copied only for a chunk
//!   that straddles two pushes (at most `max_size` buffered).
//! - [`Manifest::new`]: chunking plus one BLAKE3 pass over the data;
//!   [`Manifest::diff`]: O(chunks) expected, two hash maps;
//!   [`Manifest::to_bytes`]: 40 bytes per chunk plus 37.
//!
//! Measured on one AMD EPYC (Zen 3) core over 256 MiB of random bytes, at
//! 8 KiB and 64 KiB averages: 1.41 and 1.67 times the throughput of the
//! `fastcdc` crate's `v2020` module (2.68 and 2.92 GiB/s against 1.90 and
//! 1.74 GiB/s), with the same chunks; 1.23 to 1.67 times over three runs on
//! the shared machine. See the crate README and `BENCHMARKS.md` for the table
//! and the command.
//!
//! # How it is faster and still identical
//!
//! A Gear scan is one long dependency chain, `h = (h << 1) + GEAR[byte]`, a
//! shift and an add per byte; FastCDC 2020 rolls two bytes per shift. Here:
//!
//! - each lane rolls eight bytes per shift, adding entries of eight
//!   pre-shifted copies of the Gear table and testing against eight shifted
//!   masks (exact because every mask leaves the top 16 bits clear);
//! - the hash is shifted one bit per byte, so the 48 bits any cut test reads
//!   depend only on the last 48 bytes: two lanes scan neighbouring stretches
//!   at once, the second warmed up on the 48 bytes before its stretch, and
//!   the earliest match wins. Two independent chains instead of one, until
//!   the scan is bound by the two loads each byte needs (the byte and its
//!   table entry);
//! - the full 64-bit hash that FastCDC reports is recomputed from the 64
//!   bytes before the cut, shifted once more at even offsets as the 2020
//!   two-byte loop leaves it.
//!
//! All in safe Rust (`#![forbid(unsafe_code)]`). The scanner's stretch
//! lengths are tuned per mask (see `src/scan.rs`).
//!
//! # What it does not do
//!
//! No I/O (feed it bytes), no threads, no compression or encryption of
//! chunks, and no normalization levels other than 1 or keyed (seeded) Gear
//! tables: those would break interoperability, which is the point here.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cdc;
mod error;
mod gear;
mod manifest;
mod scan;
mod stream;

pub use cdc::{Chunk, FastCdc, AVG_SIZE_RANGE, MAX_SIZE_RANGE, MIN_SIZE_RANGE};
pub use error::{Error, SizeParam};
pub use manifest::{Fingerprint, Manifest, ManifestDiff, ManifestEntry, Piece};
pub use stream::StreamChunker;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
