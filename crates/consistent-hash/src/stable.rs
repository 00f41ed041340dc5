//! The stable hash behind every placement: XXH3-64 over a platform-independent
//! byte encoding of a key's [`Hash`] stream.
//!
//! Placement is shared state: every process that routes a key must pick the same
//! node, across runs, machines, platforms and Rust versions of *this* crate. So
//! the hash is never `std`'s per-process-seeded `RandomState` (nor `ahash`), but
//! XXH3-64 (Yann Collet, xxHash spec <https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md>),
//! with a caller-chosen seed, over these bytes:
//!
//! - `write(bytes)` feeds the bytes as they are;
//! - every integer is fed in **little-endian** order, whatever the platform;
//! - `usize`/`isize` are widened to 64 bits first, so 32- and 64-bit targets agree.
//!
//! The bytes a type feeds are decided by its `Hash` impl: integers feed
//! themselves, `str` feeds its UTF-8 bytes then `0xff`, tuples and derived
//! structs feed their fields in order, slices feed their length (as a `u64`)
//! then their items. Keys hashed through [`stable_hash`] therefore match keys
//! hashed by another language's XXH3 when it is given the same bytes; for
//! cross-language routing, hash the raw bytes with [`hash_bytes`] (or hash
//! yourself) and use the `*_hash` lookups (`HashRing::node_for_hash`, ...).

use std::hash::{BuildHasher, Hash, Hasher};
use xxhash_rust::xxh3::{xxh3_64_with_seed, Xxh3};

/// Bytes kept inline before the hasher spills to a streaming XXH3 state.
/// 128 covers ids, names, host:port pairs and most URLs; XXH3's one-shot path
/// for up to 240 bytes is faster than its streaming one.
const INLINE: usize = 128;

/// A [`Hasher`] whose output is the same in every process, run and platform:
/// XXH3-64 (xxHash spec, Yann Collet) with a seed, over these bytes:
///
/// - `write(bytes)` feeds the bytes as they are;
/// - every integer is fed in **little-endian** order, whatever the platform;
/// - `usize`/`isize` are widened to 64 bits first, so 32- and 64-bit targets agree.
///
/// What a type feeds is decided by its `Hash` impl: integers feed themselves,
/// `str` feeds its UTF-8 bytes then `0xff`, tuples and derived structs feed
/// their fields in order, slices feed their length (as a `u64`) then their
/// items. So `"abc"` hashes as XXH3 of `61 62 63 ff`, and `42u64` as XXH3 of
/// `2a 00 00 00 00 00 00 00`: another language's XXH3 library gives the same
/// numbers for the same bytes. For routing from outside Rust, hash the key's
/// raw bytes with [`hash_bytes`] and use the `*_for_hash` lookups.
///
/// ```
/// use hld_consistent_hash::{hash_bytes, StableHasher};
/// use std::hash::Hasher;
///
/// let mut h = StableHasher::with_seed(7);
/// h.write_u32(0x0403_0201);
/// // Integers are fed little-endian, so this is XXH3 of the bytes 01 02 03 04.
/// assert_eq!(h.finish(), hash_bytes(&[1, 2, 3, 4], 7));
/// ```
#[derive(Clone)]
pub struct StableHasher {
    seed: u64,
    len: usize,
    buf: [u8; INLINE],
    // Keys longer than INLINE bytes stream through a boxed XXH3 state (it is
    // about 600 bytes; boxing keeps the common short-key hasher small).
    spill: Option<Box<Xxh3>>,
}

impl StableHasher {
    /// A hasher with seed 0.
    #[inline]
    pub fn new() -> StableHasher {
        StableHasher::with_seed(0)
    }

    /// A hasher with the given seed.
    #[inline(always)]
    pub fn with_seed(seed: u64) -> StableHasher {
        StableHasher {
            seed,
            len: 0,
            buf: [0; INLINE],
            spill: None,
        }
    }
}

impl StableHasher {
    /// Past `INLINE` bytes: stream through a boxed XXH3 state. Streaming XXH3
    /// with a seed gives the same digest as the one-shot function over the
    /// concatenation (a property of the spec, tested below).
    #[cold]
    #[inline(never)]
    fn write_spilled(&mut self, bytes: &[u8]) {
        if self.spill.is_none() {
            let mut state = Box::new(Xxh3::with_seed(self.seed));
            state.update(&self.buf[..self.len]);
            self.spill = Some(state);
        }
        if let Some(state) = &mut self.spill {
            state.update(bytes);
        }
    }
}

impl Default for StableHasher {
    fn default() -> StableHasher {
        StableHasher::new()
    }
}

impl std::fmt::Debug for StableHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StableHasher")
            .field("seed", &self.seed)
            .field("buffered", &self.len)
            .field("streaming", &self.spill.is_some())
            .finish()
    }
}

impl Hasher for StableHasher {
    #[inline(always)]
    fn finish(&self) -> u64 {
        match &self.spill {
            None => xxh3_64_with_seed(&self.buf[..self.len], self.seed),
            Some(state) => state.digest(),
        }
    }

    // Always inlined: for a key of known shape (one integer, a short string)
    // the length folds to a constant and XXH3 reduces to its short-input path.
    #[inline(always)]
    fn write(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if self.spill.is_none() && end <= INLINE {
            self.buf[self.len..end].copy_from_slice(bytes);
            self.len = end;
        } else {
            self.write_spilled(bytes);
        }
    }

    #[inline(always)]
    fn write_u8(&mut self, i: u8) {
        self.write(&[i]);
    }
    #[inline(always)]
    fn write_u16(&mut self, i: u16) {
        self.write(&i.to_le_bytes());
    }
    #[inline(always)]
    fn write_u32(&mut self, i: u32) {
        self.write(&i.to_le_bytes());
    }
    #[inline(always)]
    fn write_u64(&mut self, i: u64) {
        self.write(&i.to_le_bytes());
    }
    #[inline(always)]
    fn write_u128(&mut self, i: u128) {
        self.write(&i.to_le_bytes());
    }
    #[inline(always)]
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    #[inline(always)]
    fn write_i8(&mut self, i: i8) {
        self.write_u8(i as u8);
    }
    #[inline(always)]
    fn write_i16(&mut self, i: i16) {
        self.write_u16(i as u16);
    }
    #[inline(always)]
    fn write_i32(&mut self, i: i32) {
        self.write_u32(i as u32);
    }
    #[inline(always)]
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }
    #[inline(always)]
    fn write_i128(&mut self, i: i128) {
        self.write_u128(i as u128);
    }
    #[inline(always)]
    fn write_isize(&mut self, i: isize) {
        self.write_u64(i as i64 as u64);
    }
}

/// A [`BuildHasher`] of [`StableHasher`]s with a fixed seed (e.g. for a
/// `HashMap` whose layout must be reproducible, or to pre-hash keys).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StableBuildHasher {
    /// The XXH3 seed.
    pub seed: u64,
}

impl BuildHasher for StableBuildHasher {
    type Hasher = StableHasher;
    #[inline]
    fn build_hasher(&self) -> StableHasher {
        StableHasher::with_seed(self.seed)
    }
}

/// The stable 64-bit hash of `key` with `seed` (see [`StableHasher`]).
///
/// ```
/// use hld_consistent_hash::{hash_bytes, stable_hash};
/// // A u64 is its 8 little-endian bytes.
/// assert_eq!(stable_hash(&42u64, 0), hash_bytes(&42u64.to_le_bytes(), 0));
/// ```
#[inline(always)]
pub fn stable_hash<K: Hash + ?Sized>(key: &K, seed: u64) -> u64 {
    let mut h = StableHasher::with_seed(seed);
    key.hash(&mut h);
    h.finish()
}

/// XXH3-64 of raw bytes with `seed`: what [`stable_hash`] computes for keys
/// whose `Hash` feeds exactly these bytes, and what other languages' XXH3
/// libraries compute, for routing from outside Rust.
#[inline]
pub fn hash_bytes(bytes: &[u8], seed: u64) -> u64 {
    xxh3_64_with_seed(bytes, seed)
}

/// SplitMix64's increment, the golden-ratio constant `2^64 / phi`
/// (Steele, Lea, Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014).
pub(crate) const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function (Steele et al. 2014; the constants are
/// Stafford's "Mix13" variant used by `java.util.SplittableRandom`).
#[inline]
pub(crate) fn splitmix64_mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `i`-th (0-based) output of SplitMix64 seeded with `seed`: the ring
/// point of virtual node `i` of a node whose hash is `seed`.
#[inline]
pub(crate) fn splitmix64_nth(seed: u64, i: u64) -> u64 {
    splitmix64_mix(seed.wrapping_add(GOLDEN_GAMMA.wrapping_mul(i.wrapping_add(1))))
}

/// Maps a uniform 64-bit hash onto `0..n` without division: the high word of
/// `h * n` (Lemire, "Fast Random Integer Generation in an Interval", 2019).
#[inline]
pub(crate) fn fast_range(h: u64, n: u32) -> u32 {
    ((h as u128 * n as u128) >> 64) as u32
}

/// A map keyed by node hashes. They are XXH3 outputs already, so the map's
/// hasher passes them through instead of hashing them again.
pub(crate) type HashIndex<V> =
    std::collections::HashMap<u64, V, std::hash::BuildHasherDefault<PassThrough>>;

/// The identity hasher behind [`HashIndex`] (only ever fed one `u64`).
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    #[inline(always)]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Not reached for u64 keys; fold anything else rather than ignore it.
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    #[inline(always)]
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_xxh3_vectors() {
        // From the xxHash repository's sanity checks (tests/sanity_test_vectors.h):
        // XXH3_64bits of the empty input, seed 0 and seed PRIME64 = 0x9E3779B185EBCA8D.
        assert_eq!(hash_bytes(b"", 0), 0x2D06_8005_38D3_94C2);
        assert_eq!(stable_hash(&(), 0), 0x2D06_8005_38D3_94C2);
    }

    #[test]
    fn integers_are_little_endian_and_usize_is_u64() {
        let want = hash_bytes(&0x0102_0304_0506_0708u64.to_le_bytes(), 9);
        assert_eq!(stable_hash(&0x0102_0304_0506_0708u64, 9), want);
        assert_eq!(stable_hash(&0x0102_0304_0506_0708usize, 9), want);
        assert_eq!(stable_hash(&0x0102_0304_0506_0708i64, 9), want);
        assert_eq!(stable_hash(&-1isize, 1), hash_bytes(&[0xff; 8], 1));
        assert_eq!(stable_hash(&1u16, 1), hash_bytes(&[1, 0], 1));
        assert_eq!(stable_hash(&7u128, 1), hash_bytes(&7u128.to_le_bytes(), 1));
    }

    #[test]
    fn str_feeds_bytes_then_ff() {
        assert_eq!(stable_hash("abc", 3), hash_bytes(b"abc\xff", 3));
        assert_eq!(
            stable_hash(&String::from("abc"), 3),
            hash_bytes(b"abc\xff", 3)
        );
    }

    #[test]
    fn streaming_matches_one_shot_across_the_spill() {
        for len in [0usize, 1, 16, 17, 127, 128, 129, 240, 241, 1000, 5000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            for split in [0, len / 3, len / 2, len] {
                let mut h = StableHasher::with_seed(0xDEAD_BEEF);
                h.write(&data[..split]);
                h.write(&data[split..]);
                assert_eq!(
                    h.finish(),
                    hash_bytes(&data, 0xDEAD_BEEF),
                    "len {len} split {split}"
                );
            }
        }
    }

    #[test]
    fn splitmix_matches_reference_stream() {
        // First outputs of SplitMix64 seeded with 0 (same as benches' SplitMix64(0)
        // and the Java SplittableRandom reference): 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4.
        assert_eq!(splitmix64_nth(0, 0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64_nth(0, 1), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn fast_range_stays_in_range() {
        for h in [0, 1, u64::MAX / 2, u64::MAX] {
            for n in [1u32, 2, 7, 100, u32::MAX] {
                assert!(fast_range(h, n) < n);
            }
        }
    }
}
