//! Block-at-a-time intersection of posting lists: the AND of plain terms.
//!
//! The leapfrog of `eval.rs` pays, per candidate, a walk down the node tree,
//! a skip search and a select in an Elias-Fano block, each set up from
//! scratch. Here the rarest list is decoded a block (128 ids) at a time and
//! that run of candidates is filtered through each longer list in turn,
//! cheapest first. In a longer list ([`Prober`]) the block of the next
//! candidate is found by galloping forward over the skip data, and all the
//! run's candidates that fall in that block are checked together: by probing
//! an Elias-Fano block in place, resuming the select where the previous
//! candidate left it, when they are few; by decoding the block once and
//! merging when they are many (or the block is bit-packed, which has no
//! random access).

use crate::codec::{self, BLOCK, EF_FLAG};
use crate::postings::{PostingList, END};

/// Candidates in one Elias-Fano block of a longer list above which decoding
/// the block whole and merging beats probing it in place. Counted with
/// callgrind on the benchmark's 10%-density list (`and_1m_100k` in
/// `benches/inverted_index.rs`): a block decode costs about 4,000
/// instructions, a probe about 170, so the break-even is near 25 candidates
/// plus the merge; decoding every block there (about 13 candidates each)
/// made the whole intersection 1.8x more instructions and 2.3x slower.
const DECODE_MIN: usize = 32;

/// 64-bit words of the high part of an Elias-Fano block, at most: 128 ones
/// and `(vmax >> l) + 1 <= 256` zeros, as `l = floor(log2((vmax + 1) / 128))`
/// makes `vmax >> l < 256` (codec.rs).
const EF_HIGH_WORDS: usize = 6;

/// How the current block of a [`Prober`] is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Not looked at yet.
    Fresh,
    /// Decoded into `buf[..n]`, scanned from `pos`.
    Decoded,
    /// An Elias-Fano block probed in place.
    Ef,
}

/// One longer list of an intersection: answers "which of these increasing
/// candidates are in the list?" for runs of candidates that only move forward.
pub(crate) struct Prober<'a> {
    list: &'a PostingList,
    /// Blocks, the tail counting as one when non-empty.
    nb: usize,
    /// Current block (`nb` past the end).
    block: usize,
    /// Last id of the current block ([`END`] past the end).
    last: u32,
    /// First id the current block can hold.
    base: u32,
    mode: Mode,
    n: usize,
    pos: usize,
    /// Elias-Fano state: low bits, word offset of the low part in the
    /// list's data, the high part copied into 64-bit words (at most 384 bits:
    /// 128 ones and at most 256 zeros, see [`EF_HIGH_WORDS`]; zero-padded)
    /// and the zeros before each word.
    l: u32,
    low: usize,
    hw: [u64; EF_HIGH_WORDS + 2],
    cz: [u32; EF_HIGH_WORDS + 1],
    buf: [u32; BLOCK],
}

/// Last id of block `b < list.n_blocks()`.
#[inline]
fn block_last(list: &PostingList, b: usize) -> u32 {
    let meta = list.blocks();
    if b < meta.len() {
        meta[b].last
    } else {
        list.tail()[list.tail().len() - 1]
    }
}

/// First block at or after `from` whose last id is `>= t` (`n_blocks` if
/// none): a look at `from` itself, then galloping and a binary search over
/// the skip data, so runs of nearby targets cost one comparison each.
#[inline]
fn find_block(list: &PostingList, from: usize, t: u32) -> usize {
    let meta = list.blocks();
    let nm = meta.len();
    if from >= nm {
        return if from == nm && list.tail().last().is_some_and(|&l| l >= t) {
            nm
        } else {
            list.n_blocks()
        };
    }
    if meta[from].last >= t {
        return from;
    }
    let mut lo = from + 1;
    let mut step = 1;
    while lo + step <= nm && meta[lo + step - 1].last < t {
        lo += step;
        step *= 2;
    }
    let hi = (lo + step).min(nm);
    let b = lo + meta[lo..hi].partition_point(|m| m.last < t);
    if b < nm {
        b
    } else {
        find_block(list, nm, t)
    }
}

impl<'a> Prober<'a> {
    pub(crate) fn new(list: &'a PostingList) -> Prober<'a> {
        let nb = list.n_blocks();
        let mut p = Prober {
            list,
            nb,
            block: nb,
            last: END,
            base: 0,
            mode: Mode::Fresh,
            n: 0,
            pos: 0,
            l: 0,
            low: 0,
            hw: [0; EF_HIGH_WORDS + 2],
            cz: [0; EF_HIGH_WORDS + 1],
            buf: [0; BLOCK],
        };
        if nb > 0 {
            p.enter(0);
        }
        p
    }

    fn enter(&mut self, b: usize) {
        self.block = b;
        self.mode = Mode::Fresh;
        if b < self.nb {
            self.last = block_last(self.list, b);
            self.base = if b == 0 {
                0
            } else {
                block_last(self.list, b - 1) + 1
            };
        } else {
            self.last = END;
        }
    }

    /// Keeps the candidates `c` (strictly increasing, and no smaller than any
    /// candidate of an earlier call) that are in the list, packed at the
    /// front in order; returns how many.
    pub(crate) fn filter(&mut self, c: &mut [u32]) -> usize {
        let n = c.len();
        let mut w = 0;
        let mut i = 0;
        while i < n {
            let t = c[i];
            if t > self.last {
                let b = find_block(self.list, self.block + 1, t);
                self.enter(b);
            }
            if self.block >= self.nb {
                break;
            }
            let last = self.last;
            let mut j = i + 1;
            while j < n && c[j] <= last {
                j += 1;
            }
            w = self.filter_block(c, i, j, w);
            i = j;
        }
        w
    }

    /// Filters `c[i..j]`, all in the current block, writing keepers from
    /// `c[w]` on (`w <= i`); returns the new `w`.
    #[inline]
    fn filter_block(&mut self, c: &mut [u32], i: usize, j: usize, mut w: usize) -> usize {
        let meta = self.list.blocks();
        if self.mode != Mode::Decoded {
            let ef_probe = self.block < meta.len()
                && meta[self.block].fmt & EF_FLAG != 0
                && (self.mode == Mode::Ef || j - i <= DECODE_MIN);
            if ef_probe {
                if self.mode == Mode::Fresh {
                    self.ef_enter();
                }
                for k in i..j {
                    let t = c[k];
                    c[w] = t;
                    w += usize::from(self.ef_contains(t));
                }
                return w;
            }
            self.n = self.list.decode_block(self.block, &mut self.buf);
            self.pos = 0;
            self.mode = Mode::Decoded;
        }
        // Merge: the block's last id is >= every candidate, so the scan stops
        // inside the block.
        let b = &self.buf[..self.n];
        let mut p = self.pos;
        for k in i..j {
            let t = c[k];
            while b[p] < t {
                p += 1;
            }
            c[w] = t;
            w += usize::from(b[p] == t);
        }
        self.pos = p;
        w
    }

    /// Sets up in-place probing of the current (Elias-Fano) block: copies the
    /// high part into 64-bit words and counts the zeros before each.
    fn ef_enter(&mut self) {
        let m = self.list.blocks()[self.block];
        let l = (m.fmt & !EF_FLAG) as u32;
        let low_words = codec::ef_low_words(l);
        let high_start = m.offset as usize + low_words;
        let high_words = codec::ef_words(m.last - self.base) - low_words;
        let hs = &self.list.data()[high_start..high_start + high_words];
        self.l = l;
        self.low = m.offset as usize;
        for (k, w) in self.hw.iter_mut().enumerate() {
            let lo = hs.get(2 * k).copied().unwrap_or(0) as u64;
            let hi = hs.get(2 * k + 1).copied().unwrap_or(0) as u64;
            *w = lo | hi << 32;
        }
        // Words past the high part read as zeros; they only ever count after
        // the zero a probe looks for, which is inside the high part.
        for k in 0..EF_HIGH_WORDS {
            self.cz[k + 1] = self.cz[k] + (!self.hw[k]).count_ones();
        }
        self.mode = Mode::Ef;
    }

    /// Low bits of element `i` of the current Elias-Fano block. Also called
    /// with `i` up to 129 for elements that are then ignored: those read the
    /// start of the high part, which has at least 4 words.
    #[inline(always)]
    fn ef_low(&self, low: &[u32], i: u32) -> u32 {
        let l = self.l;
        let bit = i * l;
        let wd = (bit / 32) as usize;
        let x = low[wd] as u64 | (low[wd + 1] as u64) << 32;
        (x >> (bit % 32)) as u32 & ((1u32 << l) - 1)
    }

    /// True if `t` (in the current Elias-Fano block) is in it.
    ///
    /// The high part holds element `i` with high bits `h` as a one at bit
    /// `h + i`, so bucket `h` (the elements whose high bits are `h`) is the run
    /// of ones right after the `h`-th zero. Without branches on the data in
    /// the common case: the word holding that zero by comparing the per-word
    /// zero counts, the zero by a broadword select, the bucket's length by
    /// counting trailing ones, and the position of `t`'s low bits among the
    /// bucket's first three elements by comparisons summed (buckets hold 0.8
    /// elements on average at 10% density; longer ones take a loop).
    #[inline]
    fn ef_contains(&self, t: u32) -> bool {
        let l = self.l;
        let v = t - self.base;
        let h = v >> l;
        let lt = v & ((1u32 << l) - 1);
        let start = if h == 0 {
            0
        } else {
            let mut w = 0usize;
            for k in 1..=EF_HIGH_WORDS {
                w += usize::from(self.cz[k] < h);
            }
            let r = h - self.cz[w] - 1;
            w as u32 * 64 + codec::select64(!self.hw[w], r) + 1
        };
        let i0 = start - h;
        // `start <= 384`, so `sw <= 6`: the masks only spare bounds checks.
        let (sw, sb) = ((start / 64) as usize & 7, start % 64);
        let win = self.hw[sw] >> sb | (self.hw[(sw + 1) & 7] << 1) << (63 - sb);
        let s = (!win).trailing_zeros();
        let low = &self.list.data()[self.low..];
        if s > 3 {
            // A long bucket: walk it.
            return (i0..i0 + s)
                .map(|i| self.ef_low(low, i))
                .find(|&lo| lo >= lt)
                .map_or_else(
                    || s == 64 && self.ef_scan(start + s, i0 + s, lt),
                    |lo| lo == lt,
                );
        }
        // The low bits are distinct inside a bucket: `t` is in the block iff
        // one of the bucket's (at most 3) elements has its low bits.
        let (l0, l1, l2) = if l <= 11 {
            // All three in one 64-bit read: 31 + 3 * 11 bits.
            let bit = i0 * l;
            let wd = (bit / 32) as usize;
            let x = (low[wd] as u64 | (low[wd + 1] as u64) << 32) >> (bit % 32);
            let m = (1u64 << l) - 1;
            (x & m, x >> l & m, x >> (2 * l) & m)
        } else {
            (
                self.ef_low(low, i0) as u64,
                self.ef_low(low, i0 + 1) as u64,
                self.ef_low(low, i0 + 2) as u64,
            )
        };
        let lt = lt as u64;
        ((s > 0) & (l0 == lt)) | ((s > 1) & (l1 == lt)) | ((s > 2) & (l2 == lt))
    }

    /// The rest of a bucket longer than 64 elements, from bit `p` (element `i`) on.
    #[cold]
    fn ef_scan(&self, mut p: u32, mut i: u32, lt: u32) -> bool {
        let low = &self.list.data()[self.low..];
        while self.hw[(p / 64) as usize] >> (p % 64) & 1 == 1 {
            let lo = self.ef_low(low, i);
            if lo >= lt {
                return lo == lt;
            }
            p += 1;
            i += 1;
        }
        false
    }
}

/// A lazy AND of plain terms: a block of the rarest list at a time, filtered
/// through the others (see the module docs). Matches come out in increasing
/// order through [`doc`](Conj::doc) / [`advance`](Conj::advance).
pub(crate) struct Conj<'a> {
    lists: Vec<&'a PostingList>,
    lead: &'a PostingList,
    lead_nb: usize,
    /// Next lead block to decode.
    next_block: usize,
    others: Vec<Prober<'a>>,
    /// The current batch of matches is `buf[pos..hi]`.
    pos: usize,
    hi: usize,
    doc: u32,
    buf: [u32; BLOCK],
}

impl<'a> Conj<'a> {
    /// The AND of `lists` (at least one, none empty), on its first match.
    pub(crate) fn new(mut lists: Vec<&'a PostingList>) -> Conj<'a> {
        lists.sort_by_key(|l| l.len());
        let lead = lists[0];
        let others = lists[1..].iter().map(|l| Prober::new(l)).collect();
        let mut c = Conj {
            lead,
            lead_nb: lead.n_blocks(),
            lists,
            next_block: 0,
            others,
            pos: 0,
            hi: 0,
            doc: END,
            buf: [0; BLOCK],
        };
        c.refill(0);
        c
    }

    /// The lists, rarest first.
    pub(crate) fn lists(&self) -> &[&'a PostingList] {
        &self.lists
    }

    /// Length of the rarest list: an upper bound of the matches.
    pub(crate) fn cost(&self) -> u64 {
        self.lead.len() as u64
    }

    #[inline]
    pub(crate) fn doc(&self) -> u32 {
        self.doc
    }

    /// The next batch of matches `>= t` into `buf[pos..hi]`; sets `doc`.
    fn refill(&mut self, t: u32) -> u32 {
        loop {
            let b = find_block(self.lead, self.next_block, t);
            if b >= self.lead_nb {
                self.next_block = self.lead_nb;
                self.pos = 0;
                self.hi = 0;
                self.doc = END;
                return END;
            }
            self.next_block = b + 1;
            let n = self.lead.decode_block(b, &mut self.buf);
            let start = self.buf[..n].partition_point(|&x| x < t);
            let run = &mut self.buf[start..n];
            let mut m = run.len();
            for p in &mut self.others {
                m = p.filter(&mut run[..m]);
                if m == 0 {
                    break;
                }
            }
            if m > 0 {
                self.pos = start;
                self.hi = start + m;
                self.doc = self.buf[start];
                return self.doc;
            }
        }
    }

    /// Moves to the first match `>= t` and returns it ([`END`] if none).
    #[inline]
    pub(crate) fn advance(&mut self, t: u32) -> u32 {
        if t <= self.doc {
            return self.doc;
        }
        let mut p = self.pos + 1;
        while p < self.hi {
            if self.buf[p] >= t {
                self.pos = p;
                self.doc = self.buf[p];
                return self.doc;
            }
            p += 1;
        }
        self.refill(t)
    }

    /// Moves to the next match.
    #[inline]
    pub(crate) fn next(&mut self) -> u32 {
        if self.doc == END {
            return END;
        }
        if self.pos + 1 < self.hi {
            self.pos += 1;
            self.doc = self.buf[self.pos];
            return self.doc;
        }
        self.refill(self.doc + 1)
    }

    /// Calls `f` with every batch of matches, in order, from the current
    /// position on; leaves the conjunction exhausted.
    pub(crate) fn for_each_batch(&mut self, mut f: impl FnMut(&[u32])) {
        while self.doc != END {
            f(&self.buf[self.pos..self.hi]);
            let last = self.buf[self.hi - 1];
            self.refill(last + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    fn ids(x: &mut u64, n: usize, universe: u64) -> Vec<u32> {
        let mut v: Vec<u32> = (0..n).map(|_| (rng(x) % universe) as u32).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// `advance` to random increasing targets, against a scan of the
    /// intersection, for 2 and 3 lists.
    #[test]
    fn conj_advance_against_scan() {
        let mut x = 0x1234_5678_9abc_def1;
        for round in 0..30 {
            let k = 2 + round % 2;
            let vs: Vec<Vec<u32>> = (0..k)
                .map(|i| ids(&mut x, 500 + 4000 * i, 20_000 + 500 * round as u64))
                .collect();
            let lists: Vec<PostingList> = vs
                .iter()
                .map(|v| PostingList::from_sorted(v).unwrap())
                .collect();
            let want: Vec<u32> = vs[0]
                .iter()
                .copied()
                .filter(|d| vs[1..].iter().all(|v| v.binary_search(d).is_ok()))
                .collect();
            let mut c = Conj::new(lists.iter().collect());
            let mut got = Vec::new();
            let mut d = c.doc();
            while d != END {
                got.push(d);
                d = c.next();
            }
            assert_eq!(got, want);
            let mut c = Conj::new(lists.iter().collect());
            let mut t = 0u32;
            while t < 30_000 {
                let w = want[want.partition_point(|&d| d < t)..]
                    .first()
                    .copied()
                    .unwrap_or(END);
                assert_eq!(c.advance(t), w, "round {round} target {t}");
                t += 1 + (rng(&mut x) % 300) as u32;
            }
        }
    }

    /// A bucket of more than 64 elements (a dense run inside a sparse
    /// Elias-Fano block) is walked to its end.
    #[test]
    fn long_bucket() {
        let mut v: Vec<u32> = (1000..1100).collect();
        // 27 more in the same 4096-wide bucket, then one far away: the
        // largest gap makes bit-packing dearer than Elias-Fano.
        v.extend((0..27).map(|i| 1_200 + i * 100));
        v.push(1_000_000);
        v.extend((0..200).map(|i| 2_000_000 + i * 7));
        let l = PostingList::from_sorted(&v).unwrap();
        assert!(l.blocks()[0].fmt & EF_FLAG != 0);
        let probes: Vec<u32> = (900..4_000)
            .chain([999_999, 1_000_000, 1_500_000])
            .collect();
        let mut p = Prober::new(&l);
        let mut c = probes.clone();
        let n = p.filter(&mut c);
        let want: Vec<u32> = probes
            .iter()
            .copied()
            .filter(|x| v.binary_search(x).is_ok())
            .collect();
        assert_eq!(&c[..n], &want[..]);
        // One at a time: every probe is alone in its run.
        let mut p = Prober::new(&l);
        for &t in &probes {
            let mut one = [t];
            assert_eq!(p.filter(&mut one) == 1, v.binary_search(&t).is_ok(), "{t}");
        }
    }
}
