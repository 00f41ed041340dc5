//! The serialized form: what a crawler writes at a checkpoint and reads back after
//! a crash, or ships to another process.
//!
//! Layout (all integers little-endian), version 2:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `b"HLDBLOOM"` |
//! | 8 | 4 | format version (2) |
//! | 12 | 4 | rounds `m` (1, 2 or 4; `k = 8m`; with 2 or 4, `B` is even) |
//! | 16 | 8 | blocks `B` (each 32 bytes) |
//! | 24 | 8 | hash seed |
//! | 32 | 8 | expected items |
//! | 40 | 8 | target false-positive rate (IEEE 754 bits) |
//! | 48 | 32·B | the blocks, eight `u32` words each |
//! | 48 + 32·B | 8 | checksum: [`hash_bytes`](crate::hash_bytes) with seed 0 of all bytes before it |
//!
//! Reading checks the length first (nothing is allocated for a size the input
//! does not hold), then the checksum, then every field: truncated, corrupted or
//! foreign bytes are an [`Error::Corrupt`], never a panic.
//!
//! Version 1 (hld-bloom before 2026-11-28: 512-bit blocks of eight `u64` words,
//! other bit positions) is refused with [`Error::UnsupportedVersion`]: its
//! bits mean something else to this version, so reading them as version 2
//! would lose items. Rebuild such a filter from its items.

use crate::block::{Block, WORDS};
use crate::filter::{BloomFilter, Params};
use crate::hash::hash_bytes;
use crate::sizing::{MAX_BLOCKS, ROUNDS};
use crate::Error;

const MAGIC: &[u8; 8] = b"HLDBLOOM";
const VERSION: u32 = 2;
const HEADER: usize = 48;
const CHECKSUM: usize = 8;
const BLOCK_BYTES: usize = WORDS * 4;

fn corrupt(reason: &'static str) -> Error {
    Error::Corrupt { reason }
}

/// Reads fixed-size little-endian fields from a slice already known to be long
/// enough.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.0[at..at + 4].try_into().expect("4 bytes"))
    }
    fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.0[at..at + 8].try_into().expect("8 bytes"))
    }
}

impl BloomFilter {
    /// The filter as bytes: a versioned header, the bits, and a checksum. The
    /// same filter gives the same bytes on every platform.
    pub fn to_bytes(&self) -> Vec<u8> {
        let p = &self.params;
        let mut out = Vec::with_capacity(HEADER + self.blocks.len() * BLOCK_BYTES + CHECKSUM);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&p.rounds.to_le_bytes());
        out.extend_from_slice(&p.blocks.to_le_bytes());
        out.extend_from_slice(&p.seed.to_le_bytes());
        out.extend_from_slice(&p.expected_items.to_le_bytes());
        out.extend_from_slice(&p.fp_rate.to_bits().to_le_bytes());
        for b in &self.blocks {
            for w in b.0 {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
        let sum = hash_bytes(0, &out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Reads a filter written by [`to_bytes`](Self::to_bytes).
    ///
    /// # Errors
    /// [`Error::Corrupt`] if the bytes are truncated, altered (checksum), of an
    /// unknown version, or describe an impossible filter;
    /// [`Error::UnsupportedVersion`] for a filter written in format version 1.
    pub fn from_bytes(bytes: &[u8]) -> Result<BloomFilter, Error> {
        if bytes.len() < HEADER + CHECKSUM {
            return Err(corrupt("shorter than the header"));
        }
        let r = Reader(bytes);
        if &bytes[..8] != MAGIC {
            return Err(corrupt("not a hld-bloom filter (bad magic)"));
        }
        match r.u32(8) {
            VERSION => {}
            1 => return Err(Error::UnsupportedVersion { found: 1 }),
            _ => return Err(corrupt("unknown format version")),
        }
        let blocks = r.u64(16);
        if blocks == 0 || blocks > MAX_BLOCKS {
            return Err(corrupt("impossible block count"));
        }
        let payload = usize::try_from(blocks)
            .ok()
            .and_then(|b| b.checked_mul(BLOCK_BYTES))
            .ok_or(corrupt("impossible block count"))?;
        if bytes.len() != HEADER + payload + CHECKSUM {
            return Err(corrupt(
                "length does not match the block count (truncated?)",
            ));
        }
        let body = &bytes[..HEADER + payload];
        if hash_bytes(0, body) != r.u64(HEADER + payload) {
            return Err(corrupt("checksum mismatch"));
        }
        let rounds = r.u32(12);
        if !ROUNDS.contains(&rounds) || (rounds > 1 && blocks % 2 != 0) {
            return Err(corrupt("impossible number of hashes"));
        }
        let expected_items = r.u64(32);
        let fp_rate = f64::from_bits(r.u64(40));
        if expected_items == 0 || !(fp_rate > 0.0 && fp_rate < 1.0) {
            return Err(corrupt("impossible sizing parameters"));
        }
        let params = Params {
            blocks,
            rounds,
            seed: r.u64(24),
            expected_items,
            fp_rate,
        };
        let mut out =
            crate::pages::reserve(blocks as usize).map_err(|_| corrupt("too large to allocate"))?;
        out.extend(body[HEADER..].chunks_exact(BLOCK_BYTES).map(|c| {
            Block(std::array::from_fn(|w| {
                u32::from_le_bytes(c[w * 4..w * 4 + 4].try_into().expect("4 bytes"))
            }))
        }));
        Ok(BloomFilter {
            params,
            blocks: out,
        })
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    //! Serde goes through the checked byte form, so a deserialized filter is
    //! validated exactly like `from_bytes`.
    use super::BloomFilter;
    use crate::AtomicBloomFilter;
    use serde::de::{Error as _, Visitor};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::fmt;

    impl Serialize for BloomFilter {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.to_bytes())
        }
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = BloomFilter;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("the bytes of a serialized hld-bloom filter")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<BloomFilter, E> {
            BloomFilter::from_bytes(v).map_err(E::custom)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<BloomFilter, A::Error> {
            // Formats without a bytes type (JSON) send a sequence of numbers.
            let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
            while let Some(b) = seq.next_element::<u8>()? {
                v.push(b);
            }
            BloomFilter::from_bytes(&v).map_err(A::Error::custom)
        }
    }

    impl<'de> Deserialize<'de> for BloomFilter {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<BloomFilter, D::Error> {
            d.deserialize_bytes(BytesVisitor)
        }
    }

    impl Serialize for AtomicBloomFilter {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.to_bytes())
        }
    }

    impl<'de> Deserialize<'de> for AtomicBloomFilter {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AtomicBloomFilter, D::Error> {
            BloomFilter::deserialize(d).map(AtomicBloomFilter::from)
        }
    }
}
