//! `to_bytes` / `from_bytes`: round trips, and every truncation, bit flip or
//! re-checksummed corruption is an `Err` or a consistent index, never a panic.

use hld_inverted_index::{Error, InvertedIndex, Query};
use proptest::prelude::*;

fn sample() -> InvertedIndex {
    let mut idx = InvertedIndex::new();
    let words = ["tweet", "rust", "#go", "@bob", "search", "index", "été"];
    for i in 0..400u64 {
        let text: Vec<&str> = (0..1 + i % 6)
            .map(|k| words[((i * 7 + k * 3) % 7) as usize])
            .collect();
        idx.add(i * 5 + 1_000_000, &text.join(" ")).unwrap();
    }
    // Stragglers (side segment) and tombstones in both segments.
    for i in 0..30u64 {
        idx.add(i * 11, "late rust tweet").unwrap();
    }
    for i in (0..2000u64).step_by(17) {
        idx.remove(i * 5 + 1_000_000);
        idx.remove(i);
    }
    idx
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn exercise(idx: &InvertedIndex) {
    for q in [
        "rust",
        "rust OR #go",
        "-tweet",
        "search (index OR -rust)",
        "late",
    ] {
        let q = Query::parse(q).unwrap();
        let n = idx.count(&q);
        assert_eq!(idx.search(&q, usize::MAX).len(), n);
        assert!(idx.search_ranked(&q, 10).len() <= n);
    }
    let _ = idx.to_bytes();
}

#[test]
fn round_trip_is_exact() {
    let idx = sample();
    let bytes = idx.to_bytes();
    let copy = InvertedIndex::from_bytes(&bytes).unwrap();
    assert_eq!(copy.to_bytes(), bytes);
    assert_eq!(copy.len(), idx.len());
    assert_eq!(copy.tombstones(), idx.tombstones());
    for q in ["rust", "rust OR #go", "-tweet", "late -rust", "été"] {
        let q = Query::parse(q).unwrap();
        assert_eq!(copy.search(&q, 1000), idx.search(&q, 1000));
        assert_eq!(copy.search_ranked(&q, 50), idx.search_ranked(&q, 50));
    }
    let empty = InvertedIndex::new();
    assert_eq!(
        InvertedIndex::from_bytes(&empty.to_bytes()).unwrap().len(),
        0
    );
}

#[test]
fn header_errors() {
    let bytes = sample().to_bytes();
    assert_eq!(InvertedIndex::from_bytes(b"").err(), Some(Error::Truncated));
    assert_eq!(
        InvertedIndex::from_bytes(b"HLDI").err(),
        Some(Error::Truncated)
    );
    assert_eq!(
        InvertedIndex::from_bytes(b"not an index at all, no").err(),
        Some(Error::BadMagic)
    );
    let mut v = bytes.clone();
    v[8] = 9;
    assert_eq!(
        InvertedIndex::from_bytes(&v).err(),
        Some(Error::UnsupportedVersion(9))
    );
    let mut v = bytes.clone();
    let n = v.len();
    v[n - 1] ^= 1;
    assert_eq!(
        InvertedIndex::from_bytes(&v).err(),
        Some(Error::ChecksumMismatch)
    );
}

#[test]
fn every_truncation_fails() {
    let bytes = sample().to_bytes();
    for cut in 0..bytes.len() {
        assert!(
            InvertedIndex::from_bytes(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn bit_flips_fail(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = sample().to_bytes();
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        prop_assert!(InvertedIndex::from_bytes(&bytes).is_err());
    }

    /// Corruption that also fixes the checksum (a hostile or buggy writer):
    /// still no panic, and an accepted index answers queries.
    #[test]
    fn rechecksummed_garbage_never_panics(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = sample().to_bytes();
        let body_len = bytes.len() - 8;
        for (at, val) in edits {
            let i = 20 + at.index(body_len - 20);
            bytes[i] = val;
        }
        let mut body = bytes[..body_len].to_vec();
        if cut.index(4) == 0 {
            body.truncate(20 + cut.index(body_len - 20));
        }
        let h = fnv1a(&body);
        body.extend_from_slice(&h.to_le_bytes());
        if let Ok(idx) = InvertedIndex::from_bytes(&body) {
            exercise(&idx);
            let again = InvertedIndex::from_bytes(&idx.to_bytes()).unwrap();
            prop_assert_eq!(again.len(), idx.len());
        }
    }
}

#[cfg(feature = "serde")]
#[test]
fn serde_round_trip() {
    let idx = sample();
    let json = serde_json::to_string(&idx).unwrap();
    let back: InvertedIndex = serde_json::from_str(&json).unwrap();
    assert_eq!(back.to_bytes(), idx.to_bytes());
    let q = Query::parse("rust -(#go OR late)").unwrap();
    let qj = serde_json::to_string(&q).unwrap();
    assert_eq!(qj, "\"rust -(#go OR late)\"");
    assert_eq!(serde_json::from_str::<Query>(&qj).unwrap(), q);
    assert!(serde_json::from_str::<Query>("\"a OR\"").is_err());
    assert!(serde_json::from_str::<InvertedIndex>("[1,2,3]").is_err());
}
