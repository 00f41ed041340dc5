//! Bytes and serde: round trips keep placement; corrupt input is an `Err`.

use hld_consistent_hash::{AnchorHash, Error, HashRing, NodeCodec};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

fn ring() -> HashRing<String> {
    let mut r = HashRing::with_seed(40, 0xABCD).unwrap();
    r.extend_weighted((0..12).map(|i| (format!("10.0.0.{i}:6379"), 1 + i % 3)))
        .unwrap();
    r
}

fn anchor() -> AnchorHash<u64> {
    let mut a = AnchorHash::with_seed(32, 5).unwrap();
    for n in 0..20u64 {
        a.add(n * 1000).unwrap();
    }
    for n in [3u64, 17, 8, 11] {
        a.remove(&(n * 1000));
    }
    a.add(999).unwrap();
    a
}

#[test]
fn ring_round_trip_keeps_placement() {
    let r = ring();
    let bytes = r.to_bytes();
    let back = HashRing::<String>::from_bytes(&bytes).unwrap();
    assert_eq!(back, r);
    for k in 0..10_000u64 {
        assert_eq!(back.node_for(&k), r.node_for(&k));
    }
    let empty: HashRing<String> = HashRing::new(3).unwrap();
    assert_eq!(
        HashRing::<String>::from_bytes(&empty.to_bytes()).unwrap(),
        empty
    );
}

#[test]
fn anchor_round_trip_keeps_placement() {
    let a = anchor();
    let back = AnchorHash::<u64>::from_bytes(&a.to_bytes()).unwrap();
    assert_eq!(back, a);
    for k in 0..10_000u64 {
        assert_eq!(back.node_for(&k), a.node_for(&k));
    }
    // And keeps evolving the same way.
    let (mut a, mut back) = (a, back);
    a.remove(&5000);
    back.remove(&5000);
    assert_eq!(a.add(77), back.add(77));
    assert_eq!(a.bucket_of(&77), back.bucket_of(&77));
    let empty: AnchorHash<u64> = AnchorHash::new(4).unwrap();
    assert_eq!(
        AnchorHash::<u64>::from_bytes(&empty.to_bytes()).unwrap(),
        empty
    );
}

#[test]
fn node_codecs_round_trip() {
    fn rt<N: NodeCodec + PartialEq + std::fmt::Debug>(n: N) {
        let mut b = Vec::new();
        n.encode(&mut b);
        assert_eq!(N::decode(&b), Some(n));
    }
    rt(String::from("héllo"));
    rt(vec![1u8, 2, 3]);
    rt(u64::MAX);
    rt(-5i32);
    rt(usize::MAX);
    rt(IpAddr::V6(Ipv6Addr::LOCALHOST));
    rt("127.0.0.1:8080".parse::<SocketAddr>().unwrap());
    rt("[::1]:443".parse::<SocketAddr>().unwrap());
    assert_eq!(u32::decode(&[1, 2, 3]), None);
    assert_eq!(String::decode(&[0xff]), None);
    assert_eq!(SocketAddr::decode(&[1]), None);
}

#[test]
fn invalid_content_with_a_valid_checksum_is_rejected() {
    fn sealed(body: &[u8], magic: &[u8; 4]) -> Vec<u8> {
        let mut v = magic.to_vec();
        v.push(1);
        v.extend_from_slice(body);
        let c = hld_consistent_hash::hash_bytes(&v, 0);
        v.extend_from_slice(&c.to_le_bytes());
        v
    }
    // vnodes 0
    let mut body = 0u32.to_le_bytes().to_vec();
    body.extend(0u64.to_le_bytes());
    body.extend(0u32.to_le_bytes());
    assert!(matches!(
        HashRing::<u32>::from_bytes(&sealed(&body, b"HLDR")),
        Err(Error::Corrupt(_))
    ));
    // Duplicate node, zero weight.
    for (w2, n2) in [(1u32, 7u32), (0, 8)] {
        let mut body = 5u32.to_le_bytes().to_vec();
        body.extend(0u64.to_le_bytes());
        body.extend(2u32.to_le_bytes());
        for (w, n) in [(1u32, 7u32), (w2, n2)] {
            body.extend(w.to_le_bytes());
            body.extend(4u32.to_le_bytes());
            body.extend(n.to_le_bytes());
        }
        assert!(matches!(
            HashRing::<u32>::from_bytes(&sealed(&body, b"HLDR")),
            Err(Error::Corrupt(_))
        ));
    }
    // Anchor: removing a bucket twice, or out of range.
    for removed in [[1u32, 1], [1, 9]] {
        let mut body = 4u32.to_le_bytes().to_vec();
        body.extend(0u64.to_le_bytes());
        body.extend(2u32.to_le_bytes());
        for r in removed {
            body.extend(r.to_le_bytes());
        }
        assert!(matches!(
            AnchorHash::<u32>::from_bytes(&sealed(&body, b"HLDA")),
            Err(Error::Corrupt(_))
        ));
    }
    // Wrong magic and version.
    let good = ring().to_bytes();
    assert!(AnchorHash::<String>::from_bytes(&good).is_err());
    let mut v = sealed(&[], b"HLDR");
    v[4] = 2;
    assert!(HashRing::<u32>::from_bytes(&v).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn truncated_or_flipped_ring_bytes_are_rejected(cut in any::<prop::sample::Index>(), bit in any::<prop::sample::Index>()) {
        let bytes = ring().to_bytes();
        let n = cut.index(bytes.len());
        prop_assert!(HashRing::<String>::from_bytes(&bytes[..n]).is_err());
        let mut flipped = bytes.clone();
        let b = bit.index(bytes.len() * 8);
        flipped[b / 8] ^= 1 << (b % 8);
        prop_assert!(HashRing::<String>::from_bytes(&flipped).is_err());
    }

    #[test]
    fn truncated_or_flipped_anchor_bytes_are_rejected(cut in any::<prop::sample::Index>(), bit in any::<prop::sample::Index>()) {
        let bytes = anchor().to_bytes();
        let n = cut.index(bytes.len());
        prop_assert!(AnchorHash::<u64>::from_bytes(&bytes[..n]).is_err());
        let mut flipped = bytes.clone();
        let b = bit.index(bytes.len() * 8);
        flipped[b / 8] ^= 1 << (b % 8);
        prop_assert!(AnchorHash::<u64>::from_bytes(&flipped).is_err());
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = HashRing::<String>::from_bytes(&bytes);
        let _ = AnchorHash::<u32>::from_bytes(&bytes);
    }
}

#[cfg(feature = "serde")]
mod serde_tests {
    use super::*;
    use hld_consistent_hash::BoundedLoad;

    #[test]
    fn ring_and_anchor_via_json() {
        let r = ring();
        let json = serde_json::to_string(&r).unwrap();
        let back: HashRing<String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let a = anchor();
        let back: AnchorHash<u64> =
            serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
        for k in 0..2000u64 {
            assert_eq!(back.node_for(&k), a.node_for(&k));
        }
    }

    #[test]
    fn bad_json_is_an_error() {
        assert!(serde_json::from_str::<HashRing<u32>>(
            r#"{"vnodes_per_node":0,"seed":0,"nodes":[]}"#
        )
        .is_err());
        assert!(serde_json::from_str::<HashRing<u32>>(
            r#"{"vnodes_per_node":2,"seed":0,"nodes":[[1,1],[1,2]]}"#
        )
        .is_err());
        assert!(serde_json::from_str::<AnchorHash<u32>>(
            r#"{"capacity":2,"seed":0,"removed":[0,0],"nodes":[]}"#
        )
        .is_err());
        assert!(serde_json::from_str::<AnchorHash<u32>>(
            r#"{"capacity":2,"seed":0,"removed":[],"nodes":[1]}"#
        )
        .is_err());
        assert!(serde_json::from_str::<BoundedLoad<u32, u32>>(
            r#"{"balance":1.0,"vnodes_per_node":2,"seed":0,"nodes":[[1,[1,2,3]],[2,[]]]}"#
        )
        .is_err());
        assert!(serde_json::from_str::<BoundedLoad<u32, u32>>(
            r#"{"balance":1.0,"vnodes_per_node":2,"seed":0,"nodes":[[1,[1]],[2,[1]]]}"#
        )
        .is_err());
    }

    #[test]
    fn bounded_via_json_keeps_assignment() {
        let mut b: BoundedLoad<String, u32> = BoundedLoad::new(1.25, 20).unwrap();
        for n in ["a", "b", "c"] {
            b.add_node(n.to_string()).unwrap();
        }
        for k in 0..300 {
            b.assign(k).unwrap();
        }
        let mut back: BoundedLoad<String, u32> =
            serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        for k in 0..300 {
            assert_eq!(back.node_of(&k), b.node_of(&k));
        }
        // Same future: the same release sheds the same keys.
        for k in 0..40 {
            assert_eq!(back.release(&k), b.release(&k));
        }
    }
}
