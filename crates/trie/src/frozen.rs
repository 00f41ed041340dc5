//! The frozen form: a compact, read-only completion index for the rebuild
//! path (aggregate counts, build, ship bytes, load, swap in).
//!
//! Layout. The terms in byte order are the leaves of the trie in order, and
//! every trie node's subtree is a contiguous range of them; so the frozen
//! form stores the sorted terms and answers "top-k of a subtree" as "top-k
//! of a range":
//! - terms are front-coded (each stores the length of the prefix it shares
//!   with the previous term, then the rest) in blocks of [`FC_BLOCK`], each
//!   block starting with a whole term, so a prefix's range is two binary
//!   searches over block heads plus a short scan;
//! - each term's weight is replaced by its *rank* among the distinct
//!   weights (0 = heaviest), bit-packed in `ceil(log2 distinct)` bits;
//!   the distinct weights themselves are delta-coded;
//! - a range-minimum structure over the ranks gives the heaviest term of
//!   any range, and the leftmost one on ties, which is the smallest term in
//!   byte order: exactly the contract's tie rule. Top-k pops `k` minima,
//!   splitting the range around each (`O(k log k)`).

use crate::codec::{fnv1a64, get_varint, put_varint, Reader};
use crate::heavy::{top_k_rmq, top_k_scan, HeavyCache, CACHED, HEAVY};
use crate::packed::{bits_for, words_for, PackedInts};
use crate::rmq::RangeMin;
use crate::Error;

/// Terms per front-coding block: decoding one term scans at most 15
/// entries, while the whole-term block heads stay near 1/16 of the data.
const FC_BLOCK: usize = 16;
/// Distinct weights per delta-coding sample, same trade-off.
const W_BLOCK: usize = 16;

const MAGIC: &[u8; 8] = b"HLDTRIE\0";
const VERSION: u32 = 1;

/// Distinct weights in decreasing order; rank -> weight.
#[derive(Clone, Debug, Default)]
struct WeightTable {
    len: usize,
    /// Every `W_BLOCK`-th weight as a varint, the others as the varint
    /// difference to the previous (larger) one.
    data: Vec<u8>,
    /// Offset in `data` of each sample.
    samples: Vec<u64>,
}

impl WeightTable {
    fn encode(distinct_desc: &[u64]) -> WeightTable {
        let mut data = Vec::with_capacity(distinct_desc.len() * 2);
        let mut samples = Vec::with_capacity(distinct_desc.len().div_ceil(W_BLOCK));
        for (i, &w) in distinct_desc.iter().enumerate() {
            if i % W_BLOCK == 0 {
                samples.push(data.len() as u64);
                put_varint(&mut data, w);
            } else {
                put_varint(&mut data, distinct_desc[i - 1] - w);
            }
        }
        WeightTable {
            len: distinct_desc.len(),
            data,
            samples,
        }
    }

    /// Validates untrusted bytes: `len` strictly decreasing weights.
    fn decode(data: Vec<u8>, len: usize) -> Result<WeightTable, Error> {
        let mut samples = Vec::with_capacity(len.div_ceil(W_BLOCK));
        let mut pos = 0usize;
        let mut prev = 0u64;
        for i in 0..len {
            if i % W_BLOCK == 0 {
                samples.push(pos as u64);
                let w = get_varint(&data, &mut pos).ok_or(Error::Corrupt("weight table"))?;
                if i > 0 && w >= prev {
                    return Err(Error::Corrupt("weights not decreasing"));
                }
                prev = w;
            } else {
                let d = get_varint(&data, &mut pos).ok_or(Error::Corrupt("weight table"))?;
                if d == 0 || d > prev {
                    return Err(Error::Corrupt("weights not decreasing"));
                }
                prev -= d;
            }
        }
        if pos != data.len() {
            return Err(Error::Corrupt("weight table length"));
        }
        Ok(WeightTable { len, data, samples })
    }

    #[inline]
    fn get(&self, rank: u32) -> u64 {
        let r = rank as usize;
        let mut pos = self.samples[r / W_BLOCK] as usize;
        let mut w = get_varint(&self.data, &mut pos).unwrap_or(0);
        for _ in 0..r % W_BLOCK {
            w = w.wrapping_sub(get_varint(&self.data, &mut pos).unwrap_or(0));
        }
        w
    }

    fn heap_bytes(&self) -> usize {
        self.data.capacity() + self.samples.capacity() * 8
    }
}

/// The compact, read-only top-k completion index: what a suggestion server
/// loads after each rebuild.
///
/// Built from sorted `(term, weight)` pairs with [`from_sorted`](FrozenTrie::from_sorted)
/// (or unsorted ones with [`build`](FrozenTrie::build), or from a live trie
/// with [`TopKTrie::freeze`](crate::TopKTrie::freeze)), at several million
/// terms per second; it takes under 16 bytes per term including weights
/// (front-coded terms, bit-packed weight ranks, a range-minimum index).
/// [`top_k`](FrozenTrie::top_k) answers exactly as [`TopKTrie::top_k`](crate::TopKTrie::top_k)
/// does, for any `k`.
///
/// ```
/// use hld_trie::FrozenTrie;
///
/// let f = FrozenTrie::from_sorted([("car", 40u64), ("cart", 7), ("cat", 90), ("dog", 60)])?;
/// assert_eq!(f.top_k("ca", 2), vec![("cat".to_string(), 90), ("car".to_string(), 40)]);
///
/// let bytes = f.to_bytes();           // ship to the servers
/// let g = FrozenTrie::from_bytes(&bytes)?;
/// assert_eq!(g.weight("cart"), Some(7));
/// assert!(FrozenTrie::from_bytes(&bytes[..bytes.len() - 1]).is_err());
/// # Ok::<(), hld_trie::Error>(())
/// ```
#[derive(Clone)]
pub struct FrozenTrie {
    len: usize,
    data: Vec<u8>,
    block_starts: Vec<u64>,
    /// First 8 bytes of each block head, big-endian, zero-padded: the
    /// binary search compares these integers and reads a head only on a tie.
    heads8: Vec<u64>,
    ranks: PackedInts,
    weights: WeightTable,
    rmq: RangeMin,
    heavy: HeavyCache,
}

impl Default for FrozenTrie {
    fn default() -> Self {
        FrozenTrie::from_sorted(std::iter::empty::<(&str, u64)>())
            .expect("the empty input is sorted")
    }
}

impl std::fmt::Debug for FrozenTrie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrozenTrie")
            .field("len", &self.len)
            .field("distinct_weights", &self.weights.len)
            .field("heap_bytes", &self.heap_bytes())
            .finish()
    }
}

impl PartialEq for FrozenTrie {
    fn eq(&self, o: &Self) -> bool {
        self.len == o.len && self.iter().eq(o.iter())
    }
}
impl Eq for FrozenTrie {}

impl FrozenTrie {
    /// Builds from `(term, weight)` pairs sorted by term in byte order
    /// (`str`'s `Ord`), without duplicates: the output of an aggregation
    /// job, or [`TopKTrie::iter`](crate::TopKTrie::iter).
    ///
    /// Errors: [`Error::NotSorted`] at the first term not greater than the
    /// one before it; [`Error::TooLarge`] past `u32::MAX - 1` terms.
    pub fn from_sorted<I, S>(pairs: I) -> Result<FrozenTrie, Error>
    where
        I: IntoIterator<Item = (S, u64)>,
        S: AsRef<str>,
    {
        let iter = pairs.into_iter();
        let mut data = Vec::new();
        let mut block_starts = Vec::new();
        let mut weights = Vec::with_capacity(iter.size_hint().0);
        let mut lcps: Vec<u32> = Vec::with_capacity(iter.size_hint().0);
        let mut heads8 = Vec::new();
        let mut prev: Vec<u8> = Vec::new();
        for (i, (t, w)) in iter.enumerate() {
            let t = t.as_ref().as_bytes();
            if i > 0 && t <= prev.as_slice() {
                return Err(Error::NotSorted { index: i });
            }
            if i >= u32::MAX as usize - 1 || t.len() >= u32::MAX as usize {
                return Err(Error::TooLarge);
            }
            let shared = lcp_len(&prev, t);
            lcps.push(shared as u32);
            let lcp = if i % FC_BLOCK == 0 {
                block_starts.push(data.len() as u64);
                heads8.push(key8(t));
                0
            } else {
                shared
            };
            put_header(&mut data, lcp, t.len() - lcp);
            data.extend_from_slice(&t[lcp..]);
            prev.truncate(lcp);
            prev.extend_from_slice(&t[lcp..]);
            weights.push(w);
        }
        let mut distinct = weights.clone();
        distinct.sort_unstable_by(|a, b| b.cmp(a));
        distinct.dedup();
        let ranks: Vec<u32> = weights
            .iter()
            .map(|&w| distinct.partition_point(|&d| d > w) as u32)
            .collect();
        let ranks = PackedInts::from_values(&ranks, bits_for(distinct.len() as u64));
        let rmq = RangeMin::new(&ranks);
        let heavy = HeavyCache::new(&lcps, &ranks, &rmq);
        data.shrink_to_fit();
        Ok(FrozenTrie {
            len: weights.len(),
            data,
            block_starts,
            heads8,
            ranks,
            weights: WeightTable::encode(&distinct),
            rmq,
            heavy,
        })
    }

    /// Builds from unsorted pairs: sorts them first; a term given twice
    /// keeps its last weight (as repeated inserts would).
    pub fn build<I, S>(pairs: I) -> Result<FrozenTrie, Error>
    where
        I: IntoIterator<Item = (S, u64)>,
        S: Into<String>,
    {
        let v: Vec<(String, u64)> = pairs.into_iter().map(|(s, w)| (s.into(), w)).collect();
        FrozenTrie::from_sorted(crate::query::sort_dedup_last(v))
    }

    /// The number of terms.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there are no terms.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap memory in bytes: everything the structure holds.
    pub fn heap_bytes(&self) -> usize {
        self.data.capacity()
            + self.block_starts.capacity() * 8
            + self.heads8.capacity() * 8
            + self.ranks.heap_bytes()
            + self.weights.heap_bytes()
            + self.rmq.heap_bytes()
            + self.heavy.heap_bytes()
    }

    /// The weight of `term`, if present.
    pub fn weight(&self, term: &str) -> Option<u64> {
        let t = term.as_bytes();
        let pos = self.lower_bound(t, 0);
        (pos < self.len && self.term_bytes(pos) == t).then(|| self.weight_at(pos))
    }

    /// Same as [`weight`](FrozenTrie::weight).
    pub fn get(&self, term: &str) -> Option<u64> {
        self.weight(term)
    }

    /// True if `term` is present.
    pub fn contains(&self, term: &str) -> bool {
        self.weight(term).is_some()
    }

    /// The number of terms starting with `prefix`.
    pub fn count_prefix(&self, prefix: &str) -> usize {
        let (lo, hi) = self.prefix_range(prefix.as_bytes());
        hi - lo
    }

    /// The `k` heaviest terms starting with `prefix`, heaviest first, ties
    /// by term in byte order: the same answer as
    /// [`TopKTrie::top_k`](crate::TopKTrie::top_k) for the same terms.
    pub fn top_k(&self, prefix: &str, k: usize) -> Vec<(String, u64)> {
        let top = self.top_k_positions(prefix.as_bytes(), k);
        // Decode the answers in position order, so that answers sharing a
        // front-coding block (common: a prefix's terms are neighbours) are
        // decoded in one forward pass instead of each from its block head.
        let mut order: Vec<usize> = (0..top.len()).collect();
        order.sort_unstable_by_key(|&i| top[i].0);
        let mut out = vec![(String::new(), 0u64); top.len()];
        let mut buf: Vec<u8> = Vec::with_capacity(32);
        let mut off = 0usize;
        let mut at: Option<usize> = None; // position of the term in `buf`
        for i in order {
            let (pos, rank) = top[i];
            if at.is_none_or(|a| a / FC_BLOCK != pos / FC_BLOCK) {
                let b = pos / FC_BLOCK;
                off = self.block_starts[b] as usize;
                buf.clear();
                self.decode_next(&mut off, &mut buf);
                at = Some(b * FC_BLOCK);
            }
            while let Some(a) = at.filter(|&a| a < pos) {
                self.decode_next(&mut off, &mut buf);
                at = Some(a + 1);
            }
            out[i] = (bytes_to_string(buf.clone()), self.weights.get(rank));
        }
        out
    }

    /// `(position, rank)` of the top `k` in the prefix's range: a cached
    /// answer for a big range, a scan for a small one, range-minimum
    /// queries beyond the cache.
    fn top_k_positions(&self, prefix: &[u8], k: usize) -> Vec<(usize, u32)> {
        let (lo, hi) = self.prefix_range(prefix);
        if lo >= hi || k == 0 {
            return Vec::new();
        }
        if hi - lo <= HEAVY {
            return top_k_scan(&self.ranks, lo, hi, k);
        }
        if k <= CACHED {
            if let Some(top) = self.heavy.get(lo, hi) {
                return top[..k]
                    .iter()
                    .map(|&p| (p as usize, self.ranks.get(p as usize)))
                    .collect();
            }
        }
        top_k_rmq(&self.ranks, &self.rmq, lo, hi, k)
    }

    /// All `(term, weight)` pairs in byte order of the terms.
    pub fn iter(&self) -> FrozenIter<'_> {
        FrozenIter {
            f: self,
            pos: 0,
            off: 0,
            buf: Vec::new(),
        }
    }

    /// Back to a dynamic trie (e.g. to apply live updates on top of the
    /// last rebuild), with the default cache size.
    pub fn thaw(&self) -> crate::TopKTrie {
        crate::TopKTrie::from_sorted_unique(self.iter().collect(), crate::DEFAULT_CACHE_SIZE)
    }

    // ----- lookups ---------------------------------------------------------

    fn weight_at(&self, pos: usize) -> u64 {
        self.weights.get(self.ranks.get(pos))
    }

    /// The whole term at the head of front-coding block `b`.
    #[inline]
    fn head(&self, b: usize) -> &[u8] {
        let mut pos = self.block_starts[b] as usize;
        let (_, l) = get_header(&self.data, &mut pos).unwrap_or((0, 0));
        self.data.get(pos..pos + l).unwrap_or(&[])
    }

    /// Decodes the next entry at `*off` into `buf` (which holds the previous term).
    #[inline]
    fn decode_next(&self, off: &mut usize, buf: &mut Vec<u8>) {
        let (lcp, l) = get_header(&self.data, off).unwrap_or((0, 0));
        buf.truncate(lcp);
        buf.extend_from_slice(self.data.get(*off..*off + l).unwrap_or(&[]));
        *off += l;
    }

    fn term_bytes(&self, pos: usize) -> Vec<u8> {
        let b = pos / FC_BLOCK;
        let mut off = self.block_starts[b] as usize;
        let mut buf = Vec::with_capacity(32);
        for _ in b * FC_BLOCK..=pos {
            self.decode_next(&mut off, &mut buf);
        }
        buf
    }

    /// First position whose term is `>= key`, searching from block `from`.
    fn lower_bound(&self, key: &[u8], from: usize) -> usize {
        let nb = self.block_starts.len();
        let k8 = key8(key);
        // Unequal padded 8-byte prefixes already order the strings.
        let head_below = |b: usize| {
            let h8 = self.heads8[b];
            h8 < k8 || (h8 == k8 && self.head(b) < key)
        };
        // Find the first block at or after `from` whose head is >= key.
        // From a later start (the end of a prefix range, usually close to
        // its start) gallop first: probes from, from+1, from+3, from+7...,
        // at most 6 of them (63 blocks, about 1000 terms; the probes share
        // cache lines), then binary search what is left.
        let (mut lo, mut hi) = (from, nb);
        if from > 0 {
            let mut step = 1usize;
            while step <= 32 {
                let probe = from + step - 1;
                if probe >= nb {
                    break;
                }
                if !head_below(probe) {
                    hi = probe;
                    break;
                }
                lo = probe + 1;
                step *= 2;
            }
        }
        while lo < hi {
            let mid = (lo + hi) / 2;
            if head_below(mid) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if lo == 0 {
            return 0;
        }
        let b = lo - 1;
        let start = b * FC_BLOCK;
        let end = (start + FC_BLOCK).min(self.len);
        let mut off = self.block_starts[b] as usize;
        let mut buf = Vec::with_capacity(32);
        self.decode_next(&mut off, &mut buf); // the head, known < key
        for pos in start + 1..end {
            self.decode_next(&mut off, &mut buf);
            if buf.as_slice() >= key {
                return pos;
            }
        }
        end
    }

    /// Positions `lo..hi` of the terms starting with `p`.
    fn prefix_range(&self, p: &[u8]) -> (usize, usize) {
        let lo = self.lower_bound(p, 0);
        let Some((&last, head)) = p.split_last() else {
            return (0, self.len);
        };
        // The smallest byte string above every extension of `p`: `p` with
        // its last byte incremented (UTF-8 never contains 0xFF, so no carry).
        let mut succ = Vec::with_capacity(p.len());
        succ.extend_from_slice(head);
        succ.push(last.saturating_add(1));
        // Every block before `lo`'s has a head below `p`, hence below `succ`.
        let hi = self.lower_bound(&succ, lo / FC_BLOCK);
        (lo, hi.max(lo))
    }

    // ----- bytes -----------------------------------------------------------

    /// Serializes: magic, format version, lengths, the front-coded terms,
    /// the delta-coded weights, the packed ranks, then an FNV-1a 64
    /// checksum of everything before it. All integers little-endian; the
    /// range-minimum index is rebuilt on load (linear time).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            48 + self.data.len() + self.weights.data.len() + self.ranks.words.len() * 8,
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.len as u64).to_le_bytes());
        out.extend_from_slice(&(self.weights.len as u64).to_le_bytes());
        out.extend_from_slice(&self.ranks.bits.to_le_bytes());
        out.extend_from_slice(&(self.data.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.weights.data.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.weights.data);
        for w in &self.ranks.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        let sum = fnv1a64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Loads what [`to_bytes`](FrozenTrie::to_bytes) wrote. Truncated,
    /// corrupted or foreign bytes give an `Err`, never a panic or a wrong
    /// trie: the checksum catches corruption, and every structural
    /// invariant (sorted UTF-8 terms, decreasing weights, ranks in range)
    /// is checked as well.
    pub fn from_bytes(bytes: &[u8]) -> Result<FrozenTrie, Error> {
        let mut r = Reader::new(bytes);
        if r.take(MAGIC.len())? != MAGIC {
            return Err(Error::BadMagic);
        }
        let version = r.u32()?;
        if version != VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let len = r.len()?;
        let ndistinct = r.len()?;
        let bits = r.u32()?;
        let data_len = r.len()?;
        let wdata_len = r.len()?;
        if len >= u32::MAX as usize - 1 {
            return Err(Error::Corrupt("term count"));
        }
        if ndistinct > len || (len > 0 && ndistinct == 0) {
            return Err(Error::Corrupt("distinct weight count"));
        }
        if bits != bits_for(ndistinct as u64) {
            return Err(Error::Corrupt("rank width"));
        }
        let nwords = words_for(len, bits).ok_or(Error::Corrupt("rank length"))?;
        let body = data_len
            .checked_add(wdata_len)
            .and_then(|x| x.checked_add(nwords.checked_mul(8)?))
            .and_then(|x| x.checked_add(8))
            .ok_or(Error::Truncated)?;
        let expected = r.pos.checked_add(body).ok_or(Error::Truncated)?;
        if bytes.len() < expected {
            return Err(Error::Truncated);
        }
        if bytes.len() > expected {
            return Err(Error::Corrupt("trailing bytes"));
        }
        let (covered, sum) = bytes.split_at(bytes.len() - 8);
        let mut s = [0u8; 8];
        s.copy_from_slice(sum);
        if fnv1a64(covered) != u64::from_le_bytes(s) {
            return Err(Error::ChecksumMismatch);
        }

        let data = r.take(data_len)?.to_vec();
        let wdata = r.take(wdata_len)?.to_vec();
        let mut words = Vec::with_capacity(nwords);
        for _ in 0..nwords {
            words.push(r.u64()?);
        }

        // Terms: front coding consistent, whole terms UTF-8, strictly increasing.
        let mut block_starts = Vec::with_capacity(len.div_ceil(FC_BLOCK));
        let mut heads8 = Vec::with_capacity(len.div_ceil(FC_BLOCK));
        let mut lcps: Vec<u32> = Vec::with_capacity(len);
        let mut off = 0usize;
        let mut prev: Vec<u8> = Vec::new();
        let mut cur: Vec<u8> = Vec::new();
        for i in 0..len {
            if i % FC_BLOCK == 0 {
                block_starts.push(off as u64);
            }
            let (lcp, l) = get_header(&data, &mut off).ok_or(Error::Corrupt("term header"))?;
            if (i % FC_BLOCK == 0 && lcp != 0) || lcp > prev.len() {
                return Err(Error::Corrupt("shared prefix length"));
            }
            let end = off.checked_add(l).ok_or(Error::Corrupt("term length"))?;
            let suffix = data.get(off..end).ok_or(Error::Corrupt("term length"))?;
            off = end;
            cur.clear();
            cur.extend_from_slice(&prev[..lcp]);
            cur.extend_from_slice(suffix);
            if std::str::from_utf8(&cur).is_err() {
                return Err(Error::Corrupt("term is not UTF-8"));
            }
            if i > 0 && cur <= prev {
                return Err(Error::Corrupt("terms not sorted"));
            }
            if cur.len() >= u32::MAX as usize {
                return Err(Error::Corrupt("term length"));
            }
            if i % FC_BLOCK == 0 {
                heads8.push(key8(&cur));
            }
            lcps.push(lcp_len(&prev, &cur) as u32);
            std::mem::swap(&mut prev, &mut cur);
        }
        if off != data.len() {
            return Err(Error::Corrupt("term data length"));
        }
        let weights = WeightTable::decode(wdata, ndistinct)?;
        let ranks = PackedInts { words, bits, len };
        if (0..len).any(|i| ranks.get(i) as usize >= ndistinct) {
            return Err(Error::Corrupt("weight rank out of range"));
        }
        let rmq = RangeMin::new(&ranks);
        let heavy = HeavyCache::new(&lcps, &ranks, &rmq);
        Ok(FrozenTrie {
            len,
            data,
            block_starts,
            heads8,
            ranks,
            weights,
            rmq,
            heavy,
        })
    }
}

/// Bytes shared at the start of `a` and `b`.
fn lcp_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The first 8 bytes of `t` as a big-endian integer, zero-padded: for two
/// strings, unequal keys order them as the strings are ordered.
#[inline]
fn key8(t: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = t.len().min(8);
    b[..n].copy_from_slice(&t[..n]);
    u64::from_be_bytes(b)
}

/// Front-coding entry header: one byte `lcp << 4 | len` when `lcp < 15`
/// and `len < 16` (most entries), else `0xF0` and two varints.
#[inline]
fn put_header(out: &mut Vec<u8>, lcp: usize, len: usize) {
    if lcp < 15 && len < 16 {
        out.push(((lcp as u8) << 4) | len as u8);
    } else {
        out.push(0xF0);
        put_varint(out, lcp as u64);
        put_varint(out, len as u64);
    }
}

#[inline]
fn get_header(data: &[u8], off: &mut usize) -> Option<(usize, usize)> {
    let h = *data.get(*off)?;
    *off += 1;
    if h >> 4 != 15 {
        return Some(((h >> 4) as usize, (h & 15) as usize));
    }
    if h != 0xF0 {
        return None;
    }
    let lcp = usize::try_from(get_varint(data, off)?).ok()?;
    let len = usize::try_from(get_varint(data, off)?).ok()?;
    Some((lcp, len))
}

fn bytes_to_string(b: Vec<u8>) -> String {
    // Terms were checked to be UTF-8 on build and on load.
    String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// An iterator over a [`FrozenTrie`]'s `(term, weight)` pairs in byte order.
#[derive(Clone, Debug)]
pub struct FrozenIter<'a> {
    f: &'a FrozenTrie,
    pos: usize,
    off: usize,
    buf: Vec<u8>,
}

impl Iterator for FrozenIter<'_> {
    type Item = (String, u64);

    fn next(&mut self) -> Option<(String, u64)> {
        if self.pos >= self.f.len {
            return None;
        }
        self.f.decode_next(&mut self.off, &mut self.buf);
        let w = self.f.weight_at(self.pos);
        self.pos += 1;
        Some((bytes_to_string(self.buf.clone()), w))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.f.len - self.pos;
        (n, Some(n))
    }
}

impl ExactSizeIterator for FrozenIter<'_> {}

impl<'a> IntoIterator for &'a FrozenTrie {
    type Item = (String, u64);
    type IntoIter = FrozenIter<'a>;
    fn into_iter(self) -> FrozenIter<'a> {
        self.iter()
    }
}
