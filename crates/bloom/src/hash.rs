//! The stable hash: the same item gives the same 64 bits in every process, run
//! and platform, so a filter written to bytes means the same thing wherever it is
//! read back.
//!
//! # The algorithm ("hld stable hash v1")
//!
//! All arithmetic is on `u64` with wrapping, and `mum(a, b)` is the *folded
//! multiply*: the 128-bit product `a * b` with its two halves XORed together
//! (the mixing step of wyhash by Wang Yi, also used by foldhash and rapidhash).
//! `P0..P3` are wyhash v4's default secret (see the constants below).
//!
//! - start: `acc = seed ^ P0`
//! - an integer of at most 64 bits (`write_u8` .. `write_u64`, `write_usize`, and
//!   the signed ones, always widened to `u64`, so the result does not depend on the
//!   platform's pointer width or byte order): `acc = mum(acc ^ x, P1)`
//! - a `u128`/`i128`: its low then its high 64 bits, as two integers
//! - a byte slice of length `n` (`write`; `str` hashes as its bytes then `0xff`):
//!   read as little-endian words. If `n <= 16`, `a` and `b` are the first and last
//!   8 bytes (`n >= 8`), or the first and last 4 bytes (`4 <= n < 8`), or
//!   `b0 << 16 | b[n/2] << 8 | b[n-1]` and 0 (`1 <= n < 4`), or 0 and 0 (`n = 0`).
//!   If `n > 16`, every full 16-byte block but the last is folded as
//!   `acc = mum(acc ^ a ^ P1, b ^ P2)` (a, b its two words), then `a`, `b` are the
//!   last 16 bytes of the slice. Finally `acc = mum(acc ^ a ^ P1, b ^ P2 ^ n)`.
//! - finish: `mum(acc ^ P2, P3)` (one more folded multiply: without it, one write
//!   of a sequential integer leaves patterns that raise a filter's false-positive
//!   rate by half, as the tests of the crate show)
//!
//! The `Hash` impl of the item decides what is written: std's impls for integers,
//! strings, slices and tuples have been stable for years, and `#[derive(Hash)]`
//! writes the fields in order. If you need a guarantee that outlives any `Hash`
//! impl, hash your own bytes with [`hash_bytes`] and use the `*_hash` methods.
//! The hash is not cryptographic: it resists accidents, not an adversary who knows
//! the seed (pick a secret seed with `with_seed` if inputs are hostile).

use std::hash::{Hash, Hasher};

// wyhash v4 default secret `_wyp` (Wang Yi, public domain / Unlicense).
const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;
const P3: u64 = 0x5899_65cc_7537_4cc3;

/// The seed used unless a filter is built `with_seed`.
pub const DEFAULT_SEED: u64 = 0x6869_6c64_626c_6f6d; // "hldblom" in ASCII

/// Folded multiply: both halves of the 128-bit product, XORed.
#[inline(always)]
pub(crate) fn mum(a: u64, b: u64) -> u64 {
    let r = (a as u128).wrapping_mul(b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline(always)]
fn le64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

#[inline(always)]
fn le32(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w) as u64
}

/// Folds every full 16-byte block of `bytes` (longer than 16) but the last
/// into `acc`. Kept out of line so that the short-input path of `write` (and
/// with it a whole `str` or integer hash) inlines into the caller's loop: a
/// call per hashed key costs more than the hash.
#[inline(never)]
fn fold_long(mut acc: u64, bytes: &[u8]) -> u64 {
    let n = bytes.len();
    let mut i = 0;
    while n - i > 16 {
        acc = mum(acc ^ le64(bytes, i) ^ P1, le64(bytes, i + 8) ^ P2);
        i += 16;
    }
    acc
}

/// A [`Hasher`] computing the stable hash described in the [module docs](self).
///
/// ```
/// use std::hash::{Hash, Hasher};
/// use hld_bloom::StableHasher;
///
/// let mut h = StableHasher::new(7);
/// "https://example.com/".hash(&mut h);
/// // The same in every process, run and platform:
/// assert_eq!(h.finish(), hld_bloom::hash_one(7, "https://example.com/"));
/// ```
#[derive(Clone, Debug)]
pub struct StableHasher {
    acc: u64,
}

impl StableHasher {
    /// A hasher starting from `seed`.
    #[inline]
    pub fn new(seed: u64) -> StableHasher {
        StableHasher { acc: seed ^ P0 }
    }
}

impl Default for StableHasher {
    /// A hasher starting from [`DEFAULT_SEED`].
    fn default() -> StableHasher {
        StableHasher::new(DEFAULT_SEED)
    }
}

impl Hasher for StableHasher {
    #[inline]
    fn finish(&self) -> u64 {
        mum(self.acc ^ P2, P3)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        let (a, b) = if n <= 16 {
            if n >= 8 {
                (le64(bytes, 0), le64(bytes, n - 8))
            } else if n >= 4 {
                (le32(bytes, 0), le32(bytes, n - 4))
            } else if n > 0 {
                let v =
                    ((bytes[0] as u64) << 16) | ((bytes[n / 2] as u64) << 8) | bytes[n - 1] as u64;
                (v, 0)
            } else {
                (0, 0)
            }
        } else {
            self.acc = fold_long(self.acc, bytes);
            (le64(bytes, n - 16), le64(bytes, n - 8))
        };
        self.acc = mum(self.acc ^ a ^ P1, b ^ P2 ^ n as u64);
    }

    #[inline]
    fn write_u8(&mut self, x: u8) {
        self.write_u64(x as u64)
    }
    #[inline]
    fn write_u16(&mut self, x: u16) {
        self.write_u64(x as u64)
    }
    #[inline]
    fn write_u32(&mut self, x: u32) {
        self.write_u64(x as u64)
    }
    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.acc = mum(self.acc ^ x, P1);
    }
    #[inline]
    fn write_u128(&mut self, x: u128) {
        self.write_u64(x as u64);
        self.write_u64((x >> 64) as u64);
    }
    #[inline]
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64)
    }
    #[inline]
    fn write_i8(&mut self, x: i8) {
        self.write_u64(x as i64 as u64)
    }
    #[inline]
    fn write_i16(&mut self, x: i16) {
        self.write_u64(x as i64 as u64)
    }
    #[inline]
    fn write_i32(&mut self, x: i32) {
        self.write_u64(x as i64 as u64)
    }
    #[inline]
    fn write_i64(&mut self, x: i64) {
        self.write_u64(x as u64)
    }
    #[inline]
    fn write_i128(&mut self, x: i128) {
        self.write_u128(x as u128)
    }
    #[inline]
    fn write_isize(&mut self, x: isize) {
        self.write_u64(x as i64 as u64)
    }
}

/// The stable hash of `item` from `seed`: what a filter built with that seed
/// computes before `insert_hash` / `contains_hash`.
#[inline]
pub fn hash_one<T: Hash + ?Sized>(seed: u64, item: &T) -> u64 {
    let mut h = StableHasher::new(seed);
    item.hash(&mut h);
    h.finish()
}

/// The stable hash of raw bytes (no `Hash` impl in between): the most durable
/// way to key a filter that outlives code changes.
#[inline]
pub fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = StableHasher::new(seed);
    h.write(bytes);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_and_signs_hash_as_u64() {
        let s = 99;
        assert_eq!(hash_one(s, &7u8), hash_one(s, &7u64));
        assert_eq!(hash_one(s, &7usize), hash_one(s, &7u64));
        assert_eq!(hash_one(s, &-1i32), hash_one(s, &u64::MAX));
        assert_ne!(hash_one(s, &7u64), hash_one(s + 1, &7u64));
    }

    #[test]
    fn every_length_path_is_distinct() {
        let data: Vec<u8> = (0..64u8).collect();
        let mut seen = std::collections::HashSet::new();
        for n in 0..=64 {
            assert!(
                seen.insert(hash_bytes(1, &data[..n])),
                "length {n} collides"
            );
        }
    }

    #[test]
    fn single_bit_flips_change_about_half_the_output() {
        // A crude avalanche check over the integer and byte paths.
        let mut total = 0u32;
        let mut count = 0u32;
        for x in 0..200u64 {
            let base = hash_one(0, &x);
            for bit in 0..64 {
                total += (base ^ hash_one(0, &(x ^ (1 << bit)))).count_ones();
                count += 1;
            }
            let bytes = x.to_le_bytes();
            let base = hash_bytes(0, &bytes);
            for bit in 0..64 {
                let mut b = bytes;
                b[bit / 8] ^= 1 << (bit % 8);
                total += (base ^ hash_bytes(0, &b)).count_ones();
                count += 1;
            }
        }
        let mean = total as f64 / count as f64;
        assert!((30.0..34.0).contains(&mean), "mean flipped bits {mean}");
    }
}
