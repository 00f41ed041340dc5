//! Compressed posting lists: sealed blocks of 128 ids with skip data, and a
//! mutable tail that appends in O(1) and seals into a block when it fills.

use crate::codec::{self, BLOCK};
use crate::intersect::Conj;
use crate::Error;
use std::fmt;

/// Largest number of documents one index (or one [`PostingList`]) holds:
/// internal doc numbers are `u32` below 2^31, which keeps every block offset
/// inside a `u32` and leaves `u32::MAX` free as the end-of-list sentinel.
pub const MAX_DOCS: usize = 1 << 31;

/// End-of-list sentinel of cursors.
pub(crate) const END: u32 = u32::MAX;

/// Skip data of one sealed block: 12 bytes per 128 postings (0.75 bits each).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BlockMeta {
    /// Largest id in the block: skipping compares against it.
    pub last: u32,
    /// Where the block starts in `data`, in words.
    pub offset: u32,
    /// Smallest document length in the block (saturated at `u16::MAX`, which
    /// only loosens the bound): with `tf_w` it bounds the block's BM25 score.
    pub min_dl: u16,
    /// Codec byte ([`codec::EF_FLAG`] | low bits, or the packed width).
    pub fmt: u8,
    /// Bit width of `tf - 1` in the block; `tf <= 2^tf_w`.
    pub tf_w: u8,
}

impl BlockMeta {
    /// Largest term frequency the block can hold.
    #[inline]
    pub(crate) fn max_tf(&self) -> u32 {
        1u32 << self.tf_w
    }
}

/// A compressed, append-only list of increasing document numbers (`u32` below
/// [`MAX_DOCS`]), each with a term frequency.
///
/// This is the posting list of one term in an [`InvertedIndex`](crate::InvertedIndex),
/// usable on its own as a compressed sorted set with fast intersection.
/// Every 128 ids are sealed into a block coded with Elias-Fano or bit-packed
/// gaps (whichever is smaller) plus 12 bytes of skip data (last id, offset,
/// block-max score inputs); the last partial block is a plain tail.
///
/// ```
/// use hld_inverted_index::PostingList;
/// let a = PostingList::from_sorted(&(0..1000).step_by(3).collect::<Vec<u32>>()).unwrap();
/// let b = PostingList::from_sorted(&(0..1000).step_by(5).collect::<Vec<u32>>()).unwrap();
/// assert_eq!(a.intersection(&b), (0..1000).step_by(15).collect::<Vec<u32>>());
/// assert_eq!(a.union_len(&b), 334 + 200 - 67);
/// assert!(a.contains(999) && !a.contains(998));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PostingList {
    meta: Vec<BlockMeta>,
    data: Vec<u32>,
    tail: Vec<u32>,
    tail_tf: Vec<u16>,
    tail_min_dl: u16,
    max_tf: u16,
    min_dl: u16,
}

impl fmt::Debug for PostingList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostingList")
            .field("len", &self.len())
            .field("blocks", &self.meta.len())
            .field("bytes", &self.size_bytes())
            .finish()
    }
}

impl PostingList {
    /// An empty list.
    pub fn new() -> PostingList {
        PostingList {
            tail_min_dl: u16::MAX,
            min_dl: u16::MAX,
            ..PostingList::default()
        }
    }

    /// A list of `ids` (strictly increasing, below [`MAX_DOCS`]), each with term
    /// frequency 1.
    pub fn from_sorted(ids: &[u32]) -> Result<PostingList, Error> {
        let mut l = PostingList::new();
        for &id in ids {
            l.push(id)?;
        }
        Ok(l)
    }

    /// Appends `id` with term frequency 1. `id` must be larger than the last id
    /// and below [`MAX_DOCS`].
    pub fn push(&mut self, id: u32) -> Result<(), Error> {
        self.push_with(id, 1, 0)
    }

    /// Appends `id` with term frequency `tf` (saturated at `u16::MAX`) in a
    /// document of `doc_len` tokens (used only for block-max score bounds).
    pub fn push_with(&mut self, id: u32, tf: u32, doc_len: u32) -> Result<(), Error> {
        if id as usize >= MAX_DOCS {
            return Err(Error::OutOfRange(id as u64));
        }
        if tf == 0 {
            return Err(Error::OutOfRange(0));
        }
        if let Some(last) = self.last() {
            if id <= last {
                return Err(Error::NotIncreasing { last, got: id });
            }
        }
        self.push_unchecked(id, tf, doc_len);
        Ok(())
    }

    /// The append path of the index: `id` is known to be larger than the last.
    #[inline]
    pub(crate) fn push_unchecked(&mut self, id: u32, tf: u32, doc_len: u32) {
        debug_assert!(self.last().is_none_or(|l| l < id));
        let tf = tf.min(u16::MAX as u32) as u16;
        let dl = doc_len.min(u16::MAX as u32) as u16;
        self.tail.push(id);
        self.tail_tf.push(tf);
        self.tail_min_dl = self.tail_min_dl.min(dl);
        self.max_tf = self.max_tf.max(tf);
        self.min_dl = self.min_dl.min(dl);
        if self.tail.len() == BLOCK {
            self.seal();
        }
    }

    fn seal(&mut self) {
        let base = self.meta.last().map_or(0, |m| m.last + 1);
        let ids: &[u32; BLOCK] = self.tail.as_slice().try_into().expect("tail holds a block");
        let offset = self.data.len() as u32;
        let fmt = codec::encode_ids(ids, base, &mut self.data);
        let max_tf = self.tail_tf.iter().copied().max().unwrap_or(1) as u32;
        let tf_w = codec::bits(max_tf - 1);
        let mut w = codec::BitWriter::new(&mut self.data);
        for &tf in &self.tail_tf {
            w.put(tf as u32 - 1, tf_w);
        }
        w.finish();
        self.meta.push(BlockMeta {
            last: ids[BLOCK - 1],
            offset,
            min_dl: self.tail_min_dl,
            fmt,
            tf_w: tf_w as u8,
        });
        self.tail.clear();
        self.tail_tf.clear();
        self.tail_min_dl = u16::MAX;
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.meta.len() * BLOCK + self.tail.len()
    }

    /// Number of ids in sealed (compressed) blocks.
    pub(crate) fn sealed_len(&self) -> usize {
        self.meta.len() * BLOCK
    }

    /// True when the list holds no id.
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty() && self.tail.is_empty()
    }

    /// The largest id.
    pub fn last(&self) -> Option<u32> {
        self.tail
            .last()
            .copied()
            .or_else(|| self.meta.last().map(|m| m.last))
    }

    /// True if `id` is in the list (skip data, then one block decode).
    pub fn contains(&self, id: u32) -> bool {
        Cursor::new(self).advance(id) == id
    }

    /// The ids, ascending.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            list: self,
            next_block: 0,
            pos: 0,
            n: 0,
            buf: [0; BLOCK],
        }
    }

    /// The ids with their term frequencies, ascending.
    pub fn iter_with_tf(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        let mut c = Cursor::new(self);
        std::iter::from_fn(move || {
            let d = c.doc();
            if d == END {
                return None;
            }
            let tf = c.tf();
            c.next();
            Some((d, tf))
        })
    }

    /// Heap bytes held (blocks, skip data and tail).
    pub fn size_bytes(&self) -> usize {
        self.meta.capacity() * std::mem::size_of::<BlockMeta>()
            + self.data.capacity() * 4
            + self.tail.capacity() * 4
            + self.tail_tf.capacity() * 2
    }

    /// Bytes of the compressed blocks and their skip data, without allocator
    /// slack and without the uncompressed tail: what `bits per posting` figures
    /// measure.
    pub fn compressed_bytes(&self) -> usize {
        self.meta.len() * std::mem::size_of::<BlockMeta>() + self.data.len() * 4
    }

    /// Frees allocator slack.
    pub fn shrink_to_fit(&mut self) {
        self.meta.shrink_to_fit();
        self.data.shrink_to_fit();
        self.tail.shrink_to_fit();
        self.tail_tf.shrink_to_fit();
    }

    /// The ids in both lists, ascending.
    ///
    /// Block at a time: the shorter list is decoded 128 ids at a time and
    /// each run is checked against the longer list's block it falls in,
    /// found through the skip data (see `intersect.rs`).
    pub fn intersection(&self, other: &PostingList) -> Vec<u32> {
        let mut out = Vec::new();
        if !self.is_empty() && !other.is_empty() {
            Conj::new(vec![self, other]).for_each_batch(|b| out.extend_from_slice(b));
        }
        out
    }

    /// How many ids are in both lists (as [`intersection`](Self::intersection),
    /// without collecting them).
    pub fn intersection_len(&self, other: &PostingList) -> usize {
        let mut c = 0;
        if !self.is_empty() && !other.is_empty() {
            Conj::new(vec![self, other]).for_each_batch(|b| c += b.len());
        }
        c
    }

    /// How many ids are in either list: `|a| + |b| - |a AND b|`.
    pub fn union_len(&self, other: &PostingList) -> usize {
        self.len() + other.len() - self.intersection_len(other)
    }

    /// Blocks, the tail counting as one when non-empty.
    #[inline]
    pub(crate) fn n_blocks(&self) -> usize {
        self.meta.len() + usize::from(!self.tail.is_empty())
    }

    /// Decodes block `b < n_blocks()` (the tail when `b == meta.len()`) into
    /// `out`; returns its length.
    #[inline]
    pub(crate) fn decode_block(&self, b: usize, out: &mut [u32; BLOCK]) -> usize {
        if b < self.meta.len() {
            let m = self.meta[b];
            let base = if b == 0 { 0 } else { self.meta[b - 1].last + 1 };
            codec::decode_ids(m.fmt, base, m.last, &self.data[m.offset as usize..], out);
            BLOCK
        } else {
            out[..self.tail.len()].copy_from_slice(&self.tail);
            self.tail.len()
        }
    }

    /// Skip data of the sealed blocks.
    #[inline]
    pub(crate) fn blocks(&self) -> &[BlockMeta] {
        &self.meta
    }

    /// The sealed blocks' words.
    #[inline]
    pub(crate) fn data(&self) -> &[u32] {
        &self.data
    }

    /// The ids not yet sealed into a block.
    #[inline]
    pub(crate) fn tail(&self) -> &[u32] {
        &self.tail
    }

    pub(crate) fn max_tf(&self) -> u32 {
        self.max_tf as u32
    }

    pub(crate) fn min_dl(&self) -> u16 {
        self.min_dl
    }
}

/// Iterator over a [`PostingList`]'s ids, ascending: a block (128 ids) is
/// decoded at a time and then read like a slice.
#[derive(Clone)]
pub struct Iter<'a> {
    list: &'a PostingList,
    /// Next block to decode (`meta.len()` is the tail).
    next_block: usize,
    /// The current block is `buf[pos..n]`.
    pos: usize,
    n: usize,
    buf: [u32; BLOCK],
}

impl fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").field("left", &self.len()).finish()
    }
}

impl Iter<'_> {
    /// Decodes the next block; false at the end.
    #[cold]
    fn refill(&mut self) -> bool {
        if self.next_block >= self.list.n_blocks() {
            return false;
        }
        self.n = self.list.decode_block(self.next_block, &mut self.buf);
        self.next_block += 1;
        self.pos = 0;
        true
    }
}

impl Iterator for Iter<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        if self.pos == self.n && !self.refill() {
            return None;
        }
        let d = self.buf[self.pos];
        self.pos += 1;
        Some(d)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Every block before the current one holds BLOCK ids.
        let done = self.next_block.saturating_sub(1) * BLOCK + self.pos;
        let left = self.list.len() - done;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl std::iter::FusedIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a PostingList {
    type Item = u32;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// A forward cursor over a list: the current block decoded into `buf`, or, in
/// probe mode on an Elias-Fano block, read in place by random access.
pub(crate) struct Cursor<'a> {
    list: &'a PostingList,
    /// Probe mode: the cursor is a non-leading child of an AND, so it only
    /// jumps to candidates; an Elias-Fano block is then searched in place
    /// (select in the high bits) instead of decoded whole.
    probe: bool,
    /// `buf` holds the current block.
    decoded: bool,
    base: u32,
    ef_l: u32,
    /// Word offsets of the current EF block's low and high parts in `data`.
    ef_low: usize,
    ef_high: usize,
    /// Bit position of the current element in the high part.
    ef_bit: u32,
    /// Current block; `list.meta.len()` is the tail.
    block: usize,
    pos: usize,
    n: usize,
    doc: u32,
    tf_block: usize,
    buf: [u32; BLOCK],
    tfs: [u32; BLOCK],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(list: &'a PostingList) -> Cursor<'a> {
        let mut c = Cursor {
            list,
            probe: false,
            decoded: true,
            base: 0,
            ef_l: 0,
            ef_low: 0,
            ef_high: 0,
            ef_bit: 0,
            block: 0,
            pos: 0,
            n: 0,
            doc: END,
            tf_block: usize::MAX,
            buf: [0; BLOCK],
            tfs: [0; BLOCK],
        };
        c.load(0);
        c
    }

    #[inline]
    pub(crate) fn doc(&self) -> u32 {
        self.doc
    }

    pub(crate) fn list(&self) -> &'a PostingList {
        self.list
    }

    /// Decodes block `b` (the tail when `b == meta.len()`) and stands on its
    /// first id.
    fn load(&mut self, b: usize) {
        let meta = &self.list.meta;
        self.block = b;
        self.pos = 0;
        if b < meta.len() {
            let m = meta[b];
            let base = if b == 0 { 0 } else { meta[b - 1].last + 1 };
            self.base = base;
            if self.probe && m.fmt & codec::EF_FLAG != 0 {
                let l = (m.fmt & !codec::EF_FLAG) as u32;
                self.decoded = false;
                self.n = BLOCK;
                self.ef_l = l;
                self.ef_low = m.offset as usize;
                self.ef_high = m.offset as usize + codec::ef_low_words(l);
                let p = self.next_one(0);
                self.ef_bit = p;
                self.doc = base + ((p << l) | self.low(0));
                return;
            }
        }
        self.decoded = true;
        self.n = self.list.decode_block(b, &mut self.buf);
        self.doc = if self.n > 0 { self.buf[0] } else { END };
    }

    #[inline]
    fn block_last(&self) -> u32 {
        let meta = &self.list.meta;
        if self.block < meta.len() {
            meta[self.block].last
        } else {
            self.list.tail.last().copied().unwrap_or(END)
        }
    }

    /// Switches to probe mode (see the field).
    pub(crate) fn set_probe(&mut self) {
        self.probe = true;
    }

    /// Position of the first set bit at or after bit `from` of the current EF
    /// block's high part. Only called while an element remains there.
    #[inline]
    fn next_one(&self, from: u32) -> u32 {
        let high = &self.list.data[self.ef_high..];
        let mut q = from;
        loop {
            let wi = (q / 32) as usize;
            let w = high[wi] >> (q % 32);
            if w != 0 {
                return q + w.trailing_zeros();
            }
            q = (wi as u32 + 1) * 32;
        }
    }

    /// Low bits of element `i` of the current EF block.
    #[inline]
    fn low(&self, i: u32) -> u32 {
        let l = self.ef_l;
        if l == 0 {
            return 0;
        }
        let bit = i * l;
        let w = self.ef_low + (bit / 32) as usize;
        // The high part follows the low part, so `w + 1` is in bounds.
        let lo = self.list.data[w] as u64 | (self.list.data[w + 1] as u64) << 32;
        (lo >> (bit % 32)) as u32 & ((1u32 << l) - 1)
    }

    /// `advance` inside the current EF block, in place: skip whole buckets
    /// of the high part by counting zeros (each zero closes a bucket), then
    /// compare the few elements of the target's bucket. `t` is above the
    /// current id and at most the block's last.
    fn ef_advance(&mut self, t: u32) -> u32 {
        let l = self.ef_l;
        let h = (t - self.base) >> l;
        let mut i = self.pos as u32;
        let mut p = self.ef_bit;
        let cur_h = p - i;
        if h > cur_h {
            // Pass `h - cur_h` zeros after the current element's bit.
            let high = &self.list.data[self.ef_high..];
            let mut need = h - cur_h;
            let mut q = p + 1;
            loop {
                let wi = (q / 32) as usize;
                let z = !high[wi] >> (q % 32);
                let c = z.count_ones();
                if c >= need {
                    let mut x = z;
                    for _ in 1..need {
                        x &= x - 1;
                    }
                    q += x.trailing_zeros() + 1;
                    break;
                }
                need -= c;
                q = (wi as u32 + 1) * 32;
            }
            // `h` zeros precede bit q, so the elements before it number q - h.
            i = q - h;
            p = self.next_one(q);
        }
        loop {
            let v = self.base + (((p - i) << l) | self.low(i));
            if v >= t {
                self.pos = i as usize;
                self.ef_bit = p;
                self.doc = v;
                return v;
            }
            i += 1;
            p = self.next_one(p + 1);
        }
    }

    /// Moves to the next id.
    #[inline]
    pub(crate) fn next(&mut self) -> u32 {
        if self.doc == END {
            return END;
        }
        if !self.decoded {
            self.list.decode_block(self.block, &mut self.buf);
            self.decoded = true;
        }
        self.pos += 1;
        if self.pos < self.n {
            self.doc = self.buf[self.pos];
        } else if self.block < self.list.meta.len() {
            self.load(self.block + 1);
        } else {
            self.doc = END;
        }
        self.doc
    }

    /// First block at or after `from` whose last id is `>= t`
    /// (`meta.len()` for the tail), galloping over the skip data.
    #[inline]
    fn find_block(&self, from: usize, t: u32) -> usize {
        let meta = &self.list.meta;
        let nb = meta.len();
        let mut b = from;
        if b < nb && meta[b].last < t {
            let mut lo = b;
            let mut step = 1;
            while b + step < nb && meta[b + step].last < t {
                lo = b + step;
                step *= 2;
            }
            let hi = (b + step).min(nb);
            b = lo + meta[lo..hi].partition_point(|m| m.last < t);
        }
        b
    }

    /// Moves to the first id `>= t` and returns it ([`END`] if none).
    #[inline]
    pub(crate) fn advance(&mut self, t: u32) -> u32 {
        if t <= self.doc {
            return self.doc;
        }
        if t > self.block_last() {
            if self.block >= self.list.meta.len() {
                self.doc = END;
                return END;
            }
            let b = self.find_block(self.block + 1, t);
            if b == self.list.meta.len() && self.list.tail.last().is_none_or(|&l| l < t) {
                self.block = b;
                self.n = 0;
                self.doc = END;
                return END;
            }
            self.load(b);
        }
        if !self.decoded {
            return self.ef_advance(t);
        }
        // The block's last id is >= t, so this stops inside the block.
        let mut p = self.pos;
        while self.buf[p] < t {
            p += 1;
        }
        self.pos = p;
        self.doc = self.buf[p];
        self.doc
    }

    /// Term frequency of the current id.
    #[inline]
    pub(crate) fn tf(&mut self) -> u32 {
        if self.tf_block != self.block {
            self.load_tfs();
        }
        self.tfs[self.pos]
    }

    fn load_tfs(&mut self) {
        let meta = &self.list.meta;
        let b = self.block;
        if b < meta.len() {
            let m = meta[b];
            let base = if b == 0 { 0 } else { meta[b - 1].last + 1 };
            let start = m.offset as usize + codec::id_words(m.fmt, base, m.last);
            codec::unpack(m.tf_w as u32, &self.list.data[start..], &mut self.tfs);
            for t in self.tfs.iter_mut() {
                *t += 1;
            }
        } else {
            for (o, &t) in self.tfs.iter_mut().zip(&self.list.tail_tf) {
                *o = t as u32;
            }
        }
        self.tf_block = b;
    }

    /// Block-max inputs for the block holding the first id `>= t`, without
    /// decoding: `(max_tf, min_dl, first id the block covers, last id)`, or
    /// `None` past the end.
    #[inline]
    pub(crate) fn block_bound(&self, t: u32) -> Option<(u32, u16, u32, u32)> {
        let meta = &self.list.meta;
        let from = self.block.min(meta.len());
        let b = self.find_block(from, t);
        if b < meta.len() {
            let m = meta[b];
            let first = if b == 0 { 0 } else { meta[b - 1].last + 1 };
            Some((
                m.max_tf().min(self.list.max_tf as u32),
                m.min_dl,
                first,
                m.last,
            ))
        } else {
            let last = *self.list.tail.last()?;
            if last < t {
                return None;
            }
            let max_tf = self.list.tail_tf.iter().copied().max().unwrap_or(1);
            let first = meta.last().map_or(0, |m| m.last + 1);
            Some((max_tf as u32, self.list.tail_min_dl, first, last))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 33
    }

    #[test]
    fn roundtrip_and_advance() {
        let mut s = 1;
        for density in [1u64, 3, 10, 100, 1000] {
            let ids: Vec<u32> = (0..50_000u32)
                .filter(|_| rng(&mut s).is_multiple_of(density))
                .collect();
            let mut l = PostingList::new();
            for (i, &id) in ids.iter().enumerate() {
                l.push_with(id, 1 + (i as u32 % 7), 10).unwrap();
            }
            assert_eq!(l.len(), ids.len());
            assert_eq!(l.iter().collect::<Vec<_>>(), ids);
            let tfs: Vec<u32> = l.iter_with_tf().map(|(_, t)| t).collect();
            assert!(tfs
                .iter()
                .enumerate()
                .all(|(i, &t)| t == 1 + (i as u32 % 7)));
            let mut c = Cursor::new(&l);
            let mut t = 0u32;
            while t < 50_100 {
                let got = c.advance(t);
                let want = ids[ids.partition_point(|&x| x < t)..]
                    .first()
                    .copied()
                    .unwrap_or(END);
                assert_eq!(got, want);
                t += 1 + (rng(&mut s) % 700) as u32;
            }
        }
    }

    #[test]
    fn iter_is_exact_size_and_fused() {
        for n in [0usize, 1, 127, 128, 129, 256, 300] {
            let ids: Vec<u32> = (0..n as u32).map(|i| i * 7 + (i % 3)).collect();
            let l = PostingList::from_sorted(&ids).unwrap();
            let mut it = l.iter();
            for (k, &id) in ids.iter().enumerate() {
                assert_eq!(it.len(), n - k);
                assert_eq!(it.next(), Some(id));
            }
            assert_eq!(it.len(), 0);
            assert_eq!(it.next(), None);
            assert_eq!(it.next(), None);
            // A clone resumes where the original stood.
            let mut a = l.iter();
            a.nth(n / 2);
            assert_eq!(a.clone().collect::<Vec<_>>(), ids[(n / 2 + 1).min(n)..]);
        }
    }

    #[test]
    fn errors() {
        let mut l = PostingList::new();
        l.push(5).unwrap();
        assert_eq!(l.push(5), Err(Error::NotIncreasing { last: 5, got: 5 }));
        assert_eq!(
            l.push(MAX_DOCS as u32),
            Err(Error::OutOfRange(MAX_DOCS as u64))
        );
        assert_eq!(l.push_with(9, 0, 1), Err(Error::OutOfRange(0)));
        assert!(PostingList::from_sorted(&[3, 2]).is_err());
    }

    #[test]
    fn bits_per_posting_targets() {
        // 10% and 1% density in a 10M universe, as in the benchmark.
        let mut s = 7;
        for (den, max_bits) in [(10u64, 6.5), (100, 10.0)] {
            let mut l = PostingList::new();
            for id in 0..2_000_000u32 {
                if rng(&mut s).is_multiple_of(den) {
                    l.push(id).unwrap();
                }
            }
            let bits = l.compressed_bytes() as f64 * 8.0 / l.len() as f64;
            assert!(
                bits <= max_bits,
                "density 1/{den}: {bits:.2} bits per posting"
            );
        }
    }
}
