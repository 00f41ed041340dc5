//! Jump hash: bit-exact with the paper's loop, monotone, balanced.

use hld_consistent_hash::{jump_hash, try_jump_hash, Error, JumpHash};
use proptest::prelude::*;

/// Lamping & Veach 2014, figure 1, transcribed literally (C++ int64 semantics).
fn reference(mut key: u64, num_buckets: i32) -> i32 {
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < num_buckets as i64 {
        b = j;
        key = key.wrapping_mul(2862933555777941757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1i64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as i32
}

#[test]
fn guava_consistent_hash_vectors() {
    let want = [
        0, 55, 62, 8, 45, 59, 86, 97, 82, 59, 73, 37, 17, 56, 86, 21, 90, 37, 38, 83,
    ];
    for (i, &w) in want.iter().enumerate() {
        assert_eq!(jump_hash(i as u64, 100), w, "key {i}");
    }
    assert_eq!(jump_hash(10_863_919_174_838_991, 11), 6);
    assert_eq!(jump_hash(2, 100_001), 80_343);
    assert_eq!(jump_hash(2201, 100_001), 22_152);
}

#[test]
fn zero_buckets() {
    assert_eq!(jump_hash(5, 0), u32::MAX);
    assert_eq!(try_jump_hash(5, 0), Err(Error::ZeroBuckets));
    assert_eq!(JumpHash::with_seed(0, 1), Err(Error::ZeroBuckets));
}

#[test]
fn balanced_over_100_buckets() {
    let mut counts = [0u32; 100];
    let mut x = 0x1234_5678u64;
    for _ in 0..1_000_000 {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        counts[jump_hash(x, 100) as usize] += 1;
    }
    let max = *counts.iter().max().unwrap() as f64;
    let min = *counts.iter().min().unwrap() as f64;
    assert!(
        max / 10_000.0 < 1.05 && min / 10_000.0 > 0.95,
        "{min} {max}"
    );
}

#[test]
fn jump_hash_type() {
    let mut j = JumpHash::with_seed(10, 99).unwrap();
    assert_eq!(j.buckets(), 10);
    assert_eq!(j.seed(), 99);
    let b = j.bucket_for("key");
    assert_eq!(
        b,
        jump_hash(hld_consistent_hash::stable_hash("key", 99), 10)
    );
    assert_eq!(j.bucket_for_hash(7), jump_hash(7, 10));
    j.set_buckets(11).unwrap();
    let b2 = j.bucket_for("key");
    assert!(b2 == b || b2 == 10);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn equals_reference_loop(key in any::<u64>(), n in 1..i32::MAX) {
        prop_assert_eq!(jump_hash(key, n as u32) as i32, reference(key, n));
    }

    #[test]
    fn monotone_growth_moves_keys_only_to_the_new_bucket(key in any::<u64>(), n in 1..5000u32) {
        let before = jump_hash(key, n);
        let after = jump_hash(key, n + 1);
        prop_assert!(before < n);
        prop_assert!(after == before || after == n);
    }
}
