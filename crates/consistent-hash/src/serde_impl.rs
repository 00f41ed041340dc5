//! `serde` support (feature `serde`): each structure serializes as its
//! configuration (what [`to_bytes`](crate::HashRing::to_bytes) stores), and
//! deserializing validates it and rebuilds, so bad input is an error, never an
//! inconsistent structure.

use crate::anchor::AnchorHash;
use crate::bounded::BoundedLoad;
use crate::ring::HashRing;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::hash::Hash;

#[derive(Serialize)]
struct RingRef<'a, N> {
    vnodes_per_node: usize,
    seed: u64,
    nodes: Vec<(&'a N, u32)>,
}

#[derive(Deserialize)]
struct RingOwned<N> {
    vnodes_per_node: usize,
    seed: u64,
    nodes: Vec<(N, u32)>,
}

impl<N: Serialize> Serialize for HashRing<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RingRef {
            vnodes_per_node: self.vnodes_per_node(),
            seed: self.seed(),
            nodes: self.iter().collect(),
        }
        .serialize(s)
    }
}

impl<'de, N: Deserialize<'de> + Hash + Eq> Deserialize<'de> for HashRing<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<HashRing<N>, D::Error> {
        let r = RingOwned::<N>::deserialize(d)?;
        let count = r.nodes.len();
        let mut ring = HashRing::with_seed(r.vnodes_per_node, r.seed).map_err(D::Error::custom)?;
        let added = ring.extend_weighted(r.nodes).map_err(D::Error::custom)?;
        if added != count {
            return Err(D::Error::custom("duplicate node in hash ring"));
        }
        Ok(ring)
    }
}

#[derive(Serialize)]
struct AnchorRef<'a, N> {
    capacity: usize,
    seed: u64,
    removed: &'a [u32],
    nodes: Vec<&'a N>,
}

#[derive(Deserialize)]
struct AnchorOwned<N> {
    capacity: usize,
    seed: u64,
    removed: Vec<u32>,
    nodes: Vec<N>,
}

impl<N: Serialize> Serialize for AnchorHash<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        AnchorRef {
            capacity: self.capacity(),
            seed: self.seed(),
            removed: self.removed_buckets(),
            nodes: self.iter().map(|(_, n)| n).collect(),
        }
        .serialize(s)
    }
}

impl<'de, N: Deserialize<'de> + Hash + Eq> Deserialize<'de> for AnchorHash<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AnchorHash<N>, D::Error> {
        let r = AnchorOwned::<N>::deserialize(d)?;
        let mut a = AnchorHash::full(r.capacity, r.seed).map_err(D::Error::custom)?;
        for b in r.removed {
            if !a.replay_remove(b) {
                return Err(D::Error::custom("invalid AnchorHash removal history"));
            }
        }
        let working: Vec<u32> = (0..r.capacity as u32)
            .filter(|&b| a.bucket_is_working(b))
            .collect();
        if working.len() != r.nodes.len() {
            return Err(D::Error::custom(
                "AnchorHash node count does not match its buckets",
            ));
        }
        for (b, node) in working.into_iter().zip(r.nodes) {
            let h = crate::stable_hash(&node, r.seed);
            if a.index_has(h) {
                return Err(D::Error::custom("duplicate node in AnchorHash"));
            }
            a.attach(b, node, h);
        }
        Ok(a)
    }
}

#[derive(Serialize)]
struct BoundedRef<'a, N, K> {
    balance: f64,
    vnodes_per_node: usize,
    seed: u64,
    nodes: Vec<(&'a N, &'a [K])>,
}

#[derive(Deserialize)]
struct BoundedOwned<N, K> {
    balance: f64,
    vnodes_per_node: usize,
    seed: u64,
    nodes: Vec<(N, Vec<K>)>,
}

impl<N, K> Serialize for BoundedLoad<N, K>
where
    N: Serialize + Hash + Eq + Clone,
    K: Serialize + Hash + Eq + Clone,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        BoundedRef {
            balance: self.balance(),
            vnodes_per_node: self.ring().vnodes_per_node(),
            seed: self.ring().seed(),
            nodes: self
                .ring()
                .nodes()
                .map(|n| (n, self.keys_on(n).unwrap_or(&[])))
                .collect(),
        }
        .serialize(s)
    }
}

impl<'de, N, K> Deserialize<'de> for BoundedLoad<N, K>
where
    N: Deserialize<'de> + Hash + Eq + Clone,
    K: Deserialize<'de> + Hash + Eq + Clone,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<BoundedLoad<N, K>, D::Error> {
        let r = BoundedOwned::<N, K>::deserialize(d)?;
        BoundedLoad::from_parts(r.balance, r.vnodes_per_node, r.seed, r.nodes)
            .map_err(D::Error::custom)
    }
}
