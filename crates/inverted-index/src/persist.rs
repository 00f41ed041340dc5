//! `to_bytes` / `from_bytes`: rebuild or ship an index server.
//!
//! Format (version 1), all integers LEB128 varints unless noted:
//!
//! ```text
//! magic "HLDINVIX" (8 bytes) | version u32 LE | k1, b (f32 LE bits)
//! main segment | side segment | FNV-1a 64 of everything before, u64 LE
//! segment: n_docs | per doc: id (main: gap to the previous id; side: the id)
//!          and token count | n_tombstones | tombstone numbers (gaps)
//!        | n_terms | per term, in byte order: length, UTF-8 bytes,
//!          n_postings, per posting: gap to the previous number and tf
//! ```
//!
//! The postings are written logically (gaps and tfs), not as the in-memory
//! blocks, and re-encoded on load: reading validates every invariant (ids in
//! order, numbers in range, terms unique) through the same append path, so no
//! byte string can build an index that misbehaves later. FNV-1a (Fowler, Noll,
//! Vo; 64-bit offset basis 0xcbf29ce484222325, prime 0x100000001b3) is stable
//! across processes and catches every error confined to one byte (each step is
//! a bijection of the state); the varints keep the file near the in-memory
//! size (about one byte per posting for tweets).

use crate::bm25::Bm25;
use crate::index::InvertedIndex;
use crate::postings::{PostingList, MAX_DOCS};
use crate::segment::Segment;
use crate::Error;

const MAGIC: &[u8; 8] = b"HLDINVIX";
const VERSION: u32 = 1;

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn get(&mut self) -> Result<u64, Error> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.i).ok_or(Error::Truncated)?;
            self.i += 1;
            let bits = (byte & 0x7f) as u64;
            if shift == 63 && bits > 1 {
                return Err(Error::Corrupt("varint overflows 64 bits"));
            }
            v |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::Corrupt("varint longer than 10 bytes"))
    }

    fn get_u32(&mut self, what: &'static str) -> Result<u32, Error> {
        u32::try_from(self.get()?).map_err(|_| Error::Corrupt(what))
    }

    /// A count, bounded by what the remaining bytes can hold (each item takes
    /// at least `min_bytes`), so a bad count cannot make us allocate wildly.
    fn count(&mut self, min_bytes: usize, what: &'static str) -> Result<usize, Error> {
        let n = self.get()?;
        let left = (self.b.len() - self.i) / min_bytes.max(1);
        if n > left as u64 {
            return Err(Error::Corrupt(what));
        }
        Ok(n as usize)
    }

    /// The next number of a strictly increasing run below `n`, written as
    /// its gap to `prev` (the first one, `prev == None`, as is).
    fn next_in_run(
        &mut self,
        prev: Option<u32>,
        n: usize,
        not_increasing: &'static str,
        out_of_range: &'static str,
    ) -> Result<u32, Error> {
        let g = self.get_u32(out_of_range)?;
        let d = match prev {
            None => g,
            Some(_) if g == 0 => return Err(Error::Corrupt(not_increasing)),
            Some(p) => p.checked_add(g).ok_or(Error::Corrupt(out_of_range))?,
        };
        if d as usize >= n {
            return Err(Error::Corrupt(out_of_range));
        }
        Ok(d)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let b: &'a [u8] = self.b;
        let s = b.get(self.i..self.i + n).ok_or(Error::Truncated)?;
        self.i += n;
        Ok(s)
    }
}

fn write_segment(out: &mut Vec<u8>, s: &Segment, sorted_ids: bool) {
    put(out, s.n_docs() as u64);
    let mut prev = 0u64;
    for (i, (&e, &len)) in s.ext.iter().zip(&s.lens).enumerate() {
        if sorted_ids && i > 0 {
            put(out, e - prev);
        } else {
            put(out, e);
        }
        prev = e;
        put(out, len as u64);
    }
    put(out, s.n_deleted as u64);
    let mut prev = 0u32;
    let mut first = true;
    for d in 0..s.n_docs() as u32 {
        if s.is_deleted(d) {
            put(out, if first { d } else { d - prev } as u64);
            prev = d;
            first = false;
        }
    }
    let mut terms: Vec<(&str, u32)> = s.vocab.iter().map(|(k, &v)| (&**k, v)).collect();
    terms.sort_unstable();
    put(out, terms.len() as u64);
    for (t, id) in terms {
        put(out, t.len() as u64);
        out.extend_from_slice(t.as_bytes());
        let l = &s.lists[id as usize];
        put(out, l.len() as u64);
        let mut prev = 0u32;
        for (i, (d, tf)) in l.iter_with_tf().enumerate() {
            put(out, if i == 0 { d } else { d - prev } as u64);
            put(out, tf as u64);
            prev = d;
        }
    }
}

fn read_segment(r: &mut Reader<'_>, sorted_ids: bool) -> Result<Segment, Error> {
    let mut s = Segment::default();
    let n = r.count(2, "document count exceeds the data")?;
    if n > MAX_DOCS {
        return Err(Error::Corrupt("more documents than an index holds"));
    }
    s.ext.reserve_exact(n);
    s.lens.reserve_exact(n);
    let mut prev = 0u64;
    for i in 0..n {
        let v = r.get()?;
        let e = if sorted_ids && i > 0 {
            if v == 0 {
                return Err(Error::Corrupt("main segment ids not increasing"));
            }
            prev.checked_add(v)
                .ok_or(Error::Corrupt("id overflows u64"))?
        } else {
            v
        };
        prev = e;
        let len = r.get_u32("document length above u32")?;
        s.push_doc(e, len);
    }
    let dead = r.count(1, "tombstone count exceeds the data")?;
    let mut prev = None;
    for _ in 0..dead {
        let d = r.next_in_run(
            prev,
            n,
            "tombstones not increasing",
            "tombstone out of range",
        )?;
        s.delete(d);
        prev = Some(d);
    }
    let n_terms = r.count(3, "term count exceeds the data")?;
    let mut last_term: Option<&str> = None;
    for _ in 0..n_terms {
        let len = r.count(1, "term length exceeds the data")?;
        let bytes = r.bytes(len)?;
        let t = std::str::from_utf8(bytes).map_err(|_| Error::Corrupt("term is not UTF-8"))?;
        if t.is_empty() || last_term.is_some_and(|p| p >= t) {
            return Err(Error::Corrupt("terms empty, repeated or out of order"));
        }
        last_term = Some(t);
        let np = r.count(2, "posting count exceeds the data")?;
        if np == 0 {
            return Err(Error::Corrupt("term without postings"));
        }
        let mut l = PostingList::new();
        let mut prev = None;
        for _ in 0..np {
            let d = r.next_in_run(prev, n, "postings not increasing", "posting out of range")?;
            let tf = r.get()?;
            if tf == 0 || tf > u16::MAX as u64 {
                return Err(Error::Corrupt("term frequency out of range"));
            }
            l.push_unchecked(d, tf as u32, s.lens[d as usize]);
            prev = Some(d);
        }
        s.vocab.insert(t.into(), s.lists.len() as u32);
        s.lists.push(l);
    }
    Ok(s)
}

impl InvertedIndex {
    /// The index as bytes (format version 1, checksummed); deterministic for a
    /// given index state.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.num_postings() * 2 + 64);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.bm25.k1.to_bits().to_le_bytes());
        out.extend_from_slice(&self.bm25.b.to_bits().to_le_bytes());
        write_segment(&mut out, &self.main, true);
        write_segment(&mut out, &self.side, false);
        let h = fnv1a(&out);
        out.extend_from_slice(&h.to_le_bytes());
        out
    }

    /// Reads an index written by [`to_bytes`](InvertedIndex::to_bytes). Any
    /// truncation, corruption or unknown version is an `Err`, never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<InvertedIndex, Error> {
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(if MAGIC.starts_with(bytes) {
                Error::Truncated
            } else {
                Error::BadMagic
            });
        }
        if bytes.len() < 28 {
            return Err(Error::Truncated);
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().map_err(|_| Error::Truncated)?);
        if version != VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        let want = u64::from_le_bytes(sum.try_into().map_err(|_| Error::Truncated)?);
        if fnv1a(body) != want {
            return Err(Error::ChecksumMismatch);
        }
        let f = |i: usize| {
            body[i..i + 4]
                .try_into()
                .map(|b| f32::from_bits(u32::from_le_bytes(b)))
                .map_err(|_| Error::Truncated)
        };
        let bm25 = Bm25 {
            k1: f(12)?,
            b: f(16)?,
        };
        if !bm25.is_valid() {
            return Err(Error::Corrupt("invalid BM25 parameters"));
        }
        let mut r = Reader { b: body, i: 20 };
        let main = read_segment(&mut r, true)?;
        let mut side = read_segment(&mut r, false)?;
        if r.i != body.len() {
            return Err(Error::Corrupt("trailing bytes"));
        }
        if main.n_docs() + side.n_docs() > MAX_DOCS {
            return Err(Error::Corrupt("more documents than an index holds"));
        }
        // Side invariants: its live ids are distinct, not live in the main
        // segment, and below the main segment's largest id (the append path
        // relies on it).
        let max_main = main.ext.last().copied();
        for d in 0..side.n_docs() as u32 {
            if side.is_deleted(d) {
                continue;
            }
            let e = side.ext[d as usize];
            if max_main.is_none_or(|m| e > m) {
                return Err(Error::Corrupt("side segment id above the main segment"));
            }
            if let Ok(i) = main.ext.binary_search(&e) {
                if !main.is_deleted(i as u32) {
                    return Err(Error::Corrupt("document live in both segments"));
                }
            }
            if side.by_ext.insert(e, d).is_some() {
                return Err(Error::Corrupt("document live twice in the side segment"));
            }
        }
        Ok(InvertedIndex::from_segments(main, side, bm25))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for InvertedIndex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.to_bytes())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for InvertedIndex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<InvertedIndex, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = InvertedIndex;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("the bytes of a serialized InvertedIndex")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<InvertedIndex, E> {
                InvertedIndex::from_bytes(v).map_err(E::custom)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<InvertedIndex, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(b) = seq.next_element::<u8>()? {
                    v.push(b);
                }
                InvertedIndex::from_bytes(&v).map_err(serde::de::Error::custom)
            }
        }
        d.deserialize_bytes(V)
    }
}
