//! Writing a tree to bytes and reading it back: rebuilding a quadtree server
//! from a snapshot instead of re-querying the database (notes, section 2:
//! "what if both die? We can rebuild the quad tree ...").
//!
//! Format (version 1, all integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `HLDQTREE` |
//! | 2 | format version (1) |
//! | 2 | id width in bytes ([`IdBytes::WIDTH`]) |
//! | 4 | leaf capacity |
//! | 8 | number of entries `n` |
//! | n × (width + 16) | entries in insertion order: id, latitude and longitude as `f64` bits |
//! | 8 | checksum of everything before it |
//!
//! Entries are in insertion order, so the rebuilt tree breaks distance ties
//! exactly as the original did. The checksum is a word-wise multiply-xor
//! (FNV-1a's 64-bit prime over 8-byte words): every step is a bijection of
//! the running state, so any single changed word, and hence any single
//! flipped bit, always changes it. It is stable across processes, platforms
//! and versions of this crate.

use std::hash::Hash;

use crate::point::Point;
use crate::tree::{QuadTree, MAX_LEAF_CAPACITY};
use crate::Error;

const MAGIC: &[u8; 8] = b"HLDQTREE";
const VERSION: u16 = 1;
const HEADER: usize = 8 + 2 + 2 + 4 + 8;

/// Ids that [`QuadTree::to_bytes`] can write: fixed-width integers.
pub trait IdBytes: Copy + Eq + Hash {
    /// Width in bytes.
    const WIDTH: usize;
    /// Appends the little-endian bytes.
    fn write_le(&self, out: &mut Vec<u8>);
    /// Reads from exactly `WIDTH` little-endian bytes.
    fn read_le(bytes: &[u8]) -> Self;
}

macro_rules! id_bytes {
    ($($t:ty),*) => {$(
        impl IdBytes for $t {
            const WIDTH: usize = std::mem::size_of::<$t>();
            fn write_le(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn read_le(bytes: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(bytes);
                <$t>::from_le_bytes(a)
            }
        }
    )*};
}
id_bytes!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128);

/// The checksum described in the module docs.
fn checksum(bytes: &[u8]) -> u64 {
    // FNV-1a 64-bit offset basis and prime (Fowler, Noll, Vo; IETF draft
    // draft-eastlake-fnv).
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h ^ w).wrapping_mul(PRIME);
    }
    for &b in chunks.remainder() {
        h = (h ^ b as u64).wrapping_mul(PRIME);
    }
    // Fold in the length so that truncation to a prefix cannot collide.
    (h ^ bytes.len() as u64).wrapping_mul(PRIME)
}

impl<T: IdBytes> QuadTree<T> {
    /// The tree as bytes (see the module docs for the format).
    ///
    /// ```
    /// use hld_quadtree::{Point, QuadTree};
    /// let mut t = QuadTree::new();
    /// t.insert(42u64, Point::new(1.0, 2.0)?);
    /// let bytes = t.to_bytes();
    /// let back = QuadTree::<u64>::from_bytes(&bytes)?;
    /// assert_eq!(back.get(&42), Some(Point::new(1.0, 2.0)?));
    /// assert!(QuadTree::<u64>::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    /// # Ok::<(), hld_quadtree::Error>(())
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        let entries = self.entries_in_order();
        let mut out = Vec::with_capacity(HEADER + entries.len() * (T::WIDTH + 16) + 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(T::WIDTH as u16).to_le_bytes());
        out.extend_from_slice(&(self.capacity as u32).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
        for (id, p) in entries {
            id.write_le(&mut out);
            out.extend_from_slice(&p.lat().to_bits().to_le_bytes());
            out.extend_from_slice(&p.lon().to_bits().to_le_bytes());
        }
        let sum = checksum(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Reads a tree written by [`to_bytes`](QuadTree::to_bytes).
    ///
    /// # Errors
    /// [`Error::Truncated`], [`Error::BadMagic`], [`Error::UnsupportedVersion`],
    /// [`Error::ChecksumMismatch`] or [`Error::Corrupt`] for anything that is not
    /// exactly such bytes; never panics.
    pub fn from_bytes(bytes: &[u8]) -> Result<QuadTree<T>, Error> {
        if bytes.len() < 8 {
            return Err(Error::Truncated);
        }
        if &bytes[..8] != MAGIC {
            return Err(Error::BadMagic);
        }
        if bytes.len() < HEADER + 8 {
            return Err(Error::Truncated);
        }
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        let version = u16_at(8);
        if version != VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        let mut s = [0u8; 8];
        s.copy_from_slice(sum);
        if checksum(body) != u64::from_le_bytes(s) {
            // A truncated snapshot fails here too: its last 8 bytes are not
            // the checksum of the rest.
            return Err(Error::ChecksumMismatch);
        }
        if u16_at(10) as usize != T::WIDTH {
            return Err(Error::Corrupt(
                "id width differs from the requested id type",
            ));
        }
        let mut c4 = [0u8; 4];
        c4.copy_from_slice(&body[12..16]);
        let capacity = u32::from_le_bytes(c4) as usize;
        if capacity == 0 || capacity > MAX_LEAF_CAPACITY {
            return Err(Error::Corrupt("leaf capacity out of range"));
        }
        let mut c8 = [0u8; 8];
        c8.copy_from_slice(&body[16..24]);
        let n = u64::from_le_bytes(c8);
        let rec = T::WIDTH + 16;
        let expected = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(rec))
            .ok_or(Error::Corrupt("entry count too large"))?;
        let data = &body[HEADER..];
        if data.len() != expected {
            return Err(Error::Corrupt("entry count does not match the length"));
        }
        let mut items = Vec::with_capacity(data.len() / rec);
        let mut seen = std::collections::HashSet::with_capacity_and_hasher(
            items.capacity(),
            ahash::RandomState::default(),
        );
        for r in data.chunks_exact(rec) {
            let id = T::read_le(&r[..T::WIDTH]);
            let f = |o: usize| {
                let mut a = [0u8; 8];
                a.copy_from_slice(&r[o..o + 8]);
                f64::from_bits(u64::from_le_bytes(a))
            };
            let p = Point::new(f(T::WIDTH), f(T::WIDTH + 8))
                .map_err(|_| Error::Corrupt("invalid coordinate"))?;
            if !seen.insert(id) {
                return Err(Error::Corrupt("repeated id"));
            }
            items.push((id, p));
        }
        QuadTree::bulk_load_with_leaf_capacity(items, capacity)
    }
}

impl<T: Copy + Eq + Hash> QuadTree<T> {
    /// Every `(id, point)` in insertion order (how snapshots are written, so a
    /// rebuilt tree orders ties the same way).
    pub fn entries_in_order(&self) -> Vec<(T, Point)> {
        let mut v: Vec<(u64, T, Point)> = self
            .iter()
            .map(|(id, p)| (self.index[&id].seq, id, p))
            .collect();
        v.sort_unstable_by_key(|e| e.0);
        v.into_iter().map(|(_, id, p)| (id, p)).collect()
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    use super::*;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize)]
    struct Out<T> {
        leaf_capacity: usize,
        entries: Vec<(T, Point)>,
    }

    #[derive(Deserialize)]
    struct In<T> {
        leaf_capacity: usize,
        entries: Vec<(T, Point)>,
    }

    /// Serialized as `{ leaf_capacity, entries: [(id, {lat, lon}), ...] }`,
    /// entries in insertion order.
    impl<T: Copy + Eq + Hash + Serialize> Serialize for QuadTree<T> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            Out {
                leaf_capacity: self.capacity,
                entries: self.entries_in_order(),
            }
            .serialize(s)
        }
    }

    /// Validates everything: coordinates (through [`Point`]'s own
    /// deserializer), the leaf capacity, and that no id repeats.
    impl<'de, T: Copy + Eq + Hash + Deserialize<'de>> Deserialize<'de> for QuadTree<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let raw = In::<T>::deserialize(d)?;
            let mut seen = std::collections::HashSet::with_capacity_and_hasher(
                raw.entries.len(),
                ahash::RandomState::default(),
            );
            if !raw.entries.iter().all(|(id, _)| seen.insert(*id)) {
                return Err(D::Error::custom("repeated id in a serialized quadtree"));
            }
            QuadTree::bulk_load_with_leaf_capacity(raw.entries, raw.leaf_capacity)
                .map_err(D::Error::custom)
        }
    }
}
