//! Jump consistent hash (Lamping & Veach, "A Fast, Minimal Memory, Consistent
//! Hash Algorithm", 2014, arXiv:1406.2294).
//!
//! No state at all: a key and a bucket count give a bucket in
//! `O(ln buckets)` steps, perfectly balanced, and growing from `n` to `n + 1`
//! buckets moves exactly the keys that land in the new bucket `n` (about
//! `1/(n+1)` of them). The catch: buckets are numbered `0..n` and only the last
//! one can be removed; to remove an arbitrary node, use [`AnchorHash`](crate::AnchorHash).

use crate::Error;
use std::hash::Hash;

/// The paper's 64-bit linear congruential step multiplier
/// (Lamping & Veach 2014, figure 1: `key * 2862933555777941757 + 1`).
const LCG_MULTIPLIER: u64 = 2_862_933_555_777_941_757;

/// The bucket of `key` among `buckets`, bit-exact with the paper's C++ code
/// (and so with Guava's `Hashing.consistentHash` and every faithful port).
///
/// With `buckets == 0` there is no valid answer: this returns `u32::MAX`
/// (the reference code's `-1` as an unsigned number), never a panic. Use
/// [`try_jump_hash`] to get an `Err` instead.
///
/// ```
/// use hld_consistent_hash::jump_hash;
/// // Guava's consistentHash(i, 100) for i = 0..5.
/// let got: Vec<u32> = (0..5).map(|i| jump_hash(i, 100)).collect();
/// assert_eq!(got, [0, 55, 62, 8, 45]);
/// ```
#[inline]
pub fn jump_hash(mut key: u64, buckets: u32) -> u32 {
    // The reference loop, with its exact floating-point arithmetic: every
    // implementation that agrees with the paper computes `j` this way, and a
    // "faster" reciprocal or integer variant rounds differently for some keys.
    let buckets = buckets as i64;
    let mut b: i64 = -1;
    let mut j: i64 = 0;
    while j < buckets {
        b = j;
        key = key.wrapping_mul(LCG_MULTIPLIER).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

/// [`jump_hash`], with `Err(Error::ZeroBuckets)` for zero buckets.
///
/// ```
/// use hld_consistent_hash::{try_jump_hash, Error};
/// assert_eq!(try_jump_hash(10863919174838991, 11), Ok(6));
/// assert_eq!(try_jump_hash(1, 0), Err(Error::ZeroBuckets));
/// ```
#[inline]
pub fn try_jump_hash(key: u64, buckets: u32) -> Result<u32, Error> {
    if buckets == 0 {
        Err(Error::ZeroBuckets)
    } else {
        Ok(jump_hash(key, buckets))
    }
}

/// Jump hash over any hashable key: the key goes through the stable XXH3 hash
/// ([`stable_hash`](crate::stable_hash) with `seed`) and then [`jump_hash`].
///
/// A bucket count of `n` means shard ids `0..n`: keep the shards in a `Vec`
/// and only ever add or remove at the end.
///
/// ```
/// use hld_consistent_hash::JumpHash;
/// let shards = JumpHash::new(8)?;
/// let s = shards.bucket_for("user:42");
/// assert!(s < 8);
/// assert_eq!(s, shards.bucket_for("user:42"));
/// # Ok::<(), hld_consistent_hash::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct JumpHash {
    buckets: u32,
    seed: u64,
}

impl JumpHash {
    /// `buckets` shards, seed 0. Zero buckets is an `Err`.
    pub fn new(buckets: u32) -> Result<JumpHash, Error> {
        JumpHash::with_seed(buckets, 0)
    }

    /// `buckets` shards, keys hashed with `seed`. Zero buckets is an `Err`.
    pub fn with_seed(buckets: u32, seed: u64) -> Result<JumpHash, Error> {
        if buckets == 0 {
            return Err(Error::ZeroBuckets);
        }
        Ok(JumpHash { buckets, seed })
    }

    /// The number of buckets.
    pub fn buckets(&self) -> u32 {
        self.buckets
    }

    /// The key-hash seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Changes the number of buckets (zero is an `Err`). Growing by one moves
    /// only the keys that now belong to the new last bucket.
    pub fn set_buckets(&mut self, buckets: u32) -> Result<(), Error> {
        if buckets == 0 {
            return Err(Error::ZeroBuckets);
        }
        self.buckets = buckets;
        Ok(())
    }

    /// The bucket in `0..buckets` of `key`.
    #[inline]
    pub fn bucket_for<K: Hash + ?Sized>(&self, key: &K) -> u32 {
        jump_hash(crate::stable_hash(key, self.seed), self.buckets)
    }

    /// The bucket in `0..buckets` of an already hashed key.
    #[inline]
    pub fn bucket_for_hash(&self, key_hash: u64) -> u32 {
        jump_hash(key_hash, self.buckets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_buckets() {
        assert_eq!(jump_hash(123, 0), u32::MAX);
        assert_eq!(try_jump_hash(123, 0), Err(Error::ZeroBuckets));
        assert_eq!(JumpHash::new(0), Err(Error::ZeroBuckets));
        let mut j = JumpHash::new(3).unwrap();
        assert_eq!(j.set_buckets(0), Err(Error::ZeroBuckets));
        assert_eq!(j.buckets(), 3);
    }

    #[test]
    fn one_bucket_and_huge_counts() {
        for k in 0..1000 {
            assert_eq!(jump_hash(k, 1), 0);
            assert!(jump_hash(k.wrapping_mul(GOLD), u32::MAX) < u32::MAX);
        }
    }
    const GOLD: u64 = 0x9E37_79B9_7F4A_7C15;
}
