//! The serialized form: round trips, a pinned encoding, and corrupt input.

use hld_bloom::{hash_bytes, hash_one, AtomicBloomFilter, BloomFilter, Error};
use proptest::prelude::*;

fn small() -> BloomFilter {
    let mut f = BloomFilter::new(3, 0.01).unwrap();
    for s in ["a", "b", "c"] {
        f.insert(s);
    }
    f
}

#[test]
fn round_trip_keeps_everything() {
    let mut f = BloomFilter::with_seed(10_000, 0.001, 42).unwrap();
    f.extend(0..10_000u32);
    let g = BloomFilter::from_bytes(&f.to_bytes()).unwrap();
    assert!(f == g);
    assert_eq!(g.seed(), 42);
    assert_eq!(g.expected_items(), 10_000);
    assert_eq!(g.false_positive_rate(), 0.001);
    assert!((0..10_000u32).all(|i| g.contains(&i)));
    let a = AtomicBloomFilter::from_bytes(&f.to_bytes()).unwrap();
    assert_eq!(a.to_bytes(), f.to_bytes());
    // A line-layout filter (k = 16, rate 1e-6) round-trips too.
    let mut f = BloomFilter::with_seed(5_000, 1e-6, 9).unwrap();
    assert_eq!(f.num_hashes(), 16);
    f.extend(0..5_000u32);
    let g = BloomFilter::from_bytes(&f.to_bytes()).unwrap();
    assert!(f == g && g.num_hashes() == 16);
    assert!((0..5_000u32).all(|i| g.contains(&i)));
}

/// The stable hash and the encoding are pinned: the same item must set the same
/// bits in every process, run, platform and release. If this test fails, the
/// on-disk format changed and needs a new version number.
#[test]
fn pinned_hash_and_bytes() {
    assert_eq!(hash_one(0, &0u64), 0x2afa_3043_c0fb_b4d2);
    assert_eq!(hash_one(0, "hld"), 0x376f_94a0_6c52_5c04);
    assert_eq!(
        hash_bytes(0, b"https://example.com/"),
        0x0fb0_b7ff_d2d6_31c4
    );
    let bytes = small().to_bytes();
    assert_eq!(bytes.len(), 48 + 32 + 8);
    assert_eq!(
        hex(&bytes),
        concat!(
            "484c44424c4f4f4d", // magic
            "02000000",         // version 2
            "01000000",         // one bit per word (k = 8)
            "0100000000000000", // one block
            "6d6f6c62646c6968", // DEFAULT_SEED
            "0300000000000000", // 3 expected items
            "7b14ae47e17a843f", // 0.01
            "0404400040000800848000004000408020200010040022001020200000200009",
            "9ff1c6713c7c579c", // checksum
        )
    );
}

/// A filter of format version 1 (512-bit blocks; the pinned bytes of the
/// releases before 2026-11-28) is refused with a typed error, not misread.
#[test]
fn version_1_is_refused_by_name() {
    let v1 = concat!(
        "484c44424c4f4f4d01000000010000000100000000000000",
        "6d6f6c62646c696803000000000000007b14ae47e17a843f",
        "0008000200800000800001000000000100000000200808000010000000500000",
        "00c0004000000000000000044000020010000000004010000000001008000008",
        "9c5f656dc3627406",
    );
    let bytes: Vec<u8> = (0..v1.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&v1[i..i + 2], 16).unwrap())
        .collect();
    let err = BloomFilter::from_bytes(&bytes).unwrap_err();
    assert_eq!(err, Error::UnsupportedVersion { found: 1 });
    assert!(err.to_string().contains("version 1"), "{err}");
    assert!(matches!(
        AtomicBloomFilter::from_bytes(&bytes),
        Err(Error::UnsupportedVersion { found: 1 })
    ));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn bad_arguments_are_errors() {
    assert_eq!(BloomFilter::new(0, 0.01).unwrap_err(), Error::ZeroItems);
    for p in [0.0, 1.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            BloomFilter::new(10, p),
            Err(Error::InvalidFalsePositiveRate(_))
        ));
        assert!(AtomicBloomFilter::new(10, p).is_err());
    }
    assert!(matches!(
        BloomFilter::new(usize::MAX, 1e-12),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn union_refuses_different_shapes_and_seeds() {
    let mut a = BloomFilter::new(1000, 0.01).unwrap();
    let b = BloomFilter::new(2000, 0.01).unwrap();
    let c = BloomFilter::with_seed(1000, 0.01, 7).unwrap();
    let d = BloomFilter::new(1000, 1e-6).unwrap();
    assert!(matches!(
        a.union(&b),
        Err(Error::Incompatible { what: "sizes" })
    ));
    assert!(matches!(
        a.union(&c),
        Err(Error::Incompatible { what: "hash seeds" })
    ));
    assert!(matches!(a.union(&d), Err(Error::Incompatible { .. })));
    let msg = a.union(&c).unwrap_err().to_string();
    assert!(msg.contains("seed"), "{msg}");
}

#[test]
fn empty_and_garbage_inputs_are_errors() {
    assert!(BloomFilter::from_bytes(&[]).is_err());
    assert!(BloomFilter::from_bytes(&[0u8; 200]).is_err());
    let mut b = small().to_bytes();
    b[8] = 3; // a future version
    assert!(matches!(
        BloomFilter::from_bytes(&b),
        Err(Error::Corrupt { .. })
    ));
    // A header claiming an enormous filter allocates nothing and fails.
    let mut b = small().to_bytes();
    b[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(BloomFilter::from_bytes(&b).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_truncation_is_an_error(cut in 0usize..88) {
        let b = small().to_bytes();
        prop_assume!(cut < b.len());
        prop_assert!(BloomFilter::from_bytes(&b[..cut]).is_err());
    }

    #[test]
    fn every_bit_flip_is_an_error(bit in 0usize..(88 * 8)) {
        let mut b = small().to_bytes();
        b[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(BloomFilter::from_bytes(&b).is_err());
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = BloomFilter::from_bytes(&bytes);
    }

    #[test]
    fn a_valid_header_over_random_payload_never_panics(payload in proptest::collection::vec(any::<u8>(), 32..33)) {
        let mut b = small().to_bytes();
        b[48..80].copy_from_slice(&payload);
        let n = b.len();
        let sum = hash_bytes(0, &b[..n - 8]);
        b[n - 8..].copy_from_slice(&sum.to_le_bytes());
        // Any payload is a valid set of bits.
        prop_assert!(BloomFilter::from_bytes(&b).is_ok());
    }
}

#[cfg(feature = "serde")]
#[test]
fn serde_round_trip_is_checked() {
    let f = small();
    let json = serde_json::to_string(&f).unwrap();
    let g: BloomFilter = serde_json::from_str(&json).unwrap();
    assert!(f == g);
    let a: AtomicBloomFilter = serde_json::from_str(&json).unwrap();
    assert!(a.contains("a"));
    // Corrupt JSON payload: a serde error, not a panic.
    let broken = json.replacen("72", "73", 1);
    assert!(serde_json::from_str::<BloomFilter>(&broken).is_err());
}
