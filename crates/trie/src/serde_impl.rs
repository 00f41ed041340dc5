//! `serde` support (feature `serde`).
//!
//! A [`TopKTrie`] is its `(term, weight)` pairs in byte order (the caches
//! are rebuilt on load); a [`FrozenTrie`] is its checksummed
//! [`to_bytes`](FrozenTrie::to_bytes) form, validated by
//! [`from_bytes`](FrozenTrie::from_bytes) on load.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{FrozenTrie, TopKTrie};

impl Serialize for TopKTrie {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for pair in self.iter() {
            seq.serialize_element(&pair)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for TopKTrie {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TopKTrie, D::Error> {
        let pairs: Vec<(String, u64)> = Vec::deserialize(d)?;
        Ok(pairs.into_iter().collect())
    }
}

impl Serialize for FrozenTrie {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.to_bytes())
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = FrozenTrie;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the bytes of a serialized hld-trie FrozenTrie")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<FrozenTrie, E> {
        FrozenTrie::from_bytes(v).map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FrozenTrie, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
        while let Some(b) = seq.next_element::<u8>()? {
            v.push(b);
        }
        FrozenTrie::from_bytes(&v).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for FrozenTrie {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FrozenTrie, D::Error> {
        d.deserialize_bytes(BytesVisitor)
    }
}
