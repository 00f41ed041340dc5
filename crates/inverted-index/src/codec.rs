//! Block codecs for 128 sorted doc ids: bit-packed gaps (frame of reference over
//! d-gaps) or Elias-Fano, whichever is smaller for the block.
//!
//! Why two: Elias-Fano costs `2 + log2(span / n)` bits per id whatever the
//! largest gap is (5.3 bits at 10% density, 8.6 at 1%), while packed gaps cost
//! the width of the *largest* gap in the block (about 6.1 bits at 10% density)
//! but pack runs of consecutive ids into 0 bits and decode a little faster. The
//! encoder keeps the smaller, ties going to packing. Both decode without
//! branches on the data in the inner loops, from `u32` words.
//!
//! Layouts (all little-endian bit order inside `u32` words, a block starts on a
//! word boundary):
//! - packed, width `w`: 128 values `gap_i = id_i - id_{i-1} - 1` (the first
//!   relative to the block's base, the previous block's last id + 1), `w` bits
//!   each: exactly `4 * w` words.
//! - Elias-Fano with `l` low bits: the 128 low parts (`4 * l` words), then the
//!   high parts in unary: bit `(v_i >> l) + i` is set, `v_i = id_i - base`
//!   (Elias 1974, Fano 1971; as in Vigna, "Quasi-succinct indices", WSDM 2013).
//!   `l = floor(log2(span / 128))`, computable from the block's last id, so the
//!   format byte only needs a flag.

/// Ids per sealed block. 128 is the block size of Lucene's and tantivy's
/// postings and of Lemire's SIMD-BP128: big enough to amortise per-block skip
/// data (12 bytes, 0.75 bits per posting), small enough that skipping helps.
pub(crate) const BLOCK: usize = 128;

/// Format byte flag: the block is Elias-Fano coded.
pub(crate) const EF_FLAG: u8 = 0x80;

/// Bits needed to write `v` (0 for 0).
#[inline]
pub(crate) fn bits(v: u32) -> u32 {
    32 - v.leading_zeros()
}

/// Appends `width`-bit values to a word vector.
pub(crate) struct BitWriter<'a> {
    out: &'a mut Vec<u32>,
    acc: u64,
    n: u32,
}

impl<'a> BitWriter<'a> {
    pub(crate) fn new(out: &'a mut Vec<u32>) -> Self {
        BitWriter { out, acc: 0, n: 0 }
    }

    #[inline]
    pub(crate) fn put(&mut self, v: u32, width: u32) {
        if width == 0 {
            return;
        }
        debug_assert!(width == 32 || v < (1 << width));
        self.acc |= (v as u64) << self.n;
        self.n += width;
        if self.n >= 32 {
            self.out.push(self.acc as u32);
            self.acc >>= 32;
            self.n -= 32;
        }
    }

    pub(crate) fn finish(self) {
        if self.n > 0 {
            self.out.push(self.acc as u32);
        }
    }
}

/// Unpacks 32 values of `W` bits from exactly `W` words.
///
/// Written out 32 times by a macro rather than looped: with `W` and the
/// index both constants, each value's word, shift and whether it straddles
/// two words are decided at compile time, leaving a load, a shift (or a
/// double-word shift) and a mask per value and no bounds checks. LLVM does
/// not unroll the loop form by itself (callgrind: 11-12 instructions a value
/// looped, against about 4 here).
#[inline(always)]
fn unpack32<const W: u32>(src: &[u32], out: &mut [u32]) {
    let src: &[u32] = &src[..W as usize];
    let out: &mut [u32] = &mut out[..32];
    let mask: u64 = (1u64 << W) - 1;
    macro_rules! values {
        ($($i:literal)*) => {$({
            let bit = $i * W as usize;
            let (wi, sh) = (bit >> 5, bit & 31);
            let lo = src[wi] as u64;
            let x = if sh + W as usize > 32 {
                lo | (src[wi + 1] as u64) << 32
            } else {
                lo
            };
            out[$i] = (x >> sh & mask) as u32;
        })*};
    }
    values!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31);
}

#[inline(always)]
fn unpack_w<const W: u32>(src: &[u32], out: &mut [u32; BLOCK]) {
    for g in 0..4 {
        unpack32::<W>(&src[g * W as usize..], &mut out[g * 32..]);
    }
}

/// Unpacks 128 values of `width` bits (0..=32) from `4 * width` words of `src`.
/// `src` must hold at least that many words (callers check).
pub(crate) fn unpack(width: u32, src: &[u32], out: &mut [u32; BLOCK]) {
    macro_rules! dispatch {
        ($($w:literal)*) => {
            match width {
                0 => out.fill(0),
                $($w => unpack_w::<$w>(src, out),)*
                _ => unreachable!("bit width above 32"),
            }
        };
    }
    dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32)
}

/// Elias-Fano low-bit count for a block whose values are `0..=vmax`.
#[inline]
pub(crate) fn ef_low_bits(vmax: u32) -> u32 {
    let u = (vmax as u64 + 1) / BLOCK as u64;
    if u == 0 {
        0
    } else {
        63 - u.leading_zeros()
    }
}

/// Words of an Elias-Fano block with values `0..=vmax`.
#[inline]
pub(crate) fn ef_words(vmax: u32) -> usize {
    let l = ef_low_bits(vmax);
    let high_bits = BLOCK + (vmax >> l) as usize + 1;
    4 * l as usize + high_bits.div_ceil(32)
}

/// Encodes 128 strictly increasing ids, all `>= base`, appending words to `out`.
/// Returns the format byte.
pub(crate) fn encode_ids(ids: &[u32; BLOCK], base: u32, out: &mut Vec<u32>) -> u8 {
    let mut max_gap = ids[0] - base;
    for w in ids.windows(2) {
        max_gap = max_gap.max(w[1] - w[0] - 1);
    }
    let width = bits(max_gap);
    let vmax = ids[BLOCK - 1] - base;
    let packed_words = 4 * width as usize;
    if ef_words(vmax) < packed_words {
        let l = ef_low_bits(vmax);
        let mut w = BitWriter::new(out);
        let mask = if l == 32 { u32::MAX } else { (1u32 << l) - 1 };
        for &id in ids {
            w.put((id - base) & mask, l);
        }
        w.finish();
        let high_bits = BLOCK + (vmax >> l) as usize + 1;
        let start = out.len();
        out.resize(start + high_bits.div_ceil(32), 0);
        for (i, &id) in ids.iter().enumerate() {
            let pos = ((id - base) >> l) as usize + i;
            out[start + pos / 32] |= 1 << (pos % 32);
        }
        EF_FLAG | l as u8
    } else {
        let mut w = BitWriter::new(out);
        let mut prev = base;
        for &id in ids {
            w.put(id - prev, width);
            prev = id + 1;
        }
        w.finish();
        width as u8
    }
}

/// Words the id part of a block takes, from its format byte and value range.
#[inline]
pub(crate) fn id_words(fmt: u8, base: u32, last: u32) -> usize {
    if fmt & EF_FLAG != 0 {
        ef_words(last - base)
    } else {
        4 * fmt as usize
    }
}

/// Words of the low part of an Elias-Fano block with `l` low bits.
#[inline]
pub(crate) fn ef_low_words(l: u32) -> usize {
    4 * l as usize
}

/// Decodes the id part of a block written by [`encode_ids`]. `src` starts at the
/// block and holds at least [`id_words`] words.
#[inline]
pub(crate) fn decode_ids(fmt: u8, base: u32, last: u32, src: &[u32], out: &mut [u32; BLOCK]) {
    if fmt & EF_FLAG != 0 {
        let l = (fmt & !EF_FLAG) as u32;
        let low_words = 4 * l as usize;
        unpack(l, src, out);
        let high_bits = BLOCK + ((last - base) >> l) as usize + 1;
        let high = &src[low_words..low_words + high_bits.div_ceil(32)];
        // Walk the set bits 64 at a time; `hi_minus_i` is the high part of
        // element i plus i, i.e. the bit position: subtracting the running
        // count gives the high part.
        let mut i = 0usize;
        let mut chunks = high.chunks_exact(2);
        let mut word_base = 0u32;
        let emit = |mut w: u64, word_base: u32, i: &mut usize, out: &mut [u32; BLOCK]| {
            while w != 0 {
                let pos = word_base + w.trailing_zeros();
                if let Some(o) = out.get_mut(*i) {
                    *o = base + (((pos - *i as u32) << l) | *o);
                }
                *i += 1;
                w &= w - 1;
            }
        };
        for c in &mut chunks {
            emit(c[0] as u64 | (c[1] as u64) << 32, word_base, &mut i, out);
            word_base += 64;
        }
        if let [last_word] = chunks.remainder() {
            emit(*last_word as u64, word_base, &mut i, out);
        }
    } else {
        unpack(fmt as u32, src, out);
        let mut next = base;
        for v in out.iter_mut() {
            let id = next + *v;
            *v = id;
            next = id + 1;
        }
    }
}

/// Position of the `k`-th set bit (from 0) of a byte, at `SELECT_IN_BYTE[k << 8 | byte]`
/// (8 for none): the last step of [`select64`].
static SELECT_IN_BYTE: [u8; 2048] = {
    let mut t = [8u8; 2048];
    let mut b = 0;
    while b < 256 {
        let mut k = 0;
        let mut bit = 0;
        while bit < 8 {
            if b >> bit & 1 == 1 {
                t[k << 8 | b] = bit as u8;
                k += 1;
            }
            bit += 1;
        }
        b += 1;
    }
    t
};

/// Position of the `r`-th set bit (from 0) of `x`, which has more than `r`
/// set bits. Branch-free broadword select (Vigna, "Broadword implementation
/// of rank/select queries", WEA 2008): byte popcounts summed by a multiply,
/// the byte holding the bit found by a parallel comparison, then a table.
#[inline]
pub(crate) fn select64(x: u64, r: u32) -> u32 {
    const L8: u64 = 0x0101_0101_0101_0101;
    const H8: u64 = 0x8080_8080_8080_8080;
    debug_assert!(r < x.count_ones());
    let mut s = x - ((x >> 1) & 0x5555_5555_5555_5555);
    s = (s & 0x3333_3333_3333_3333) + ((s >> 2) & 0x3333_3333_3333_3333);
    s = (s + (s >> 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    // Byte j: set bits in bytes 0..=j (at most 64, so no carry between bytes).
    let cum = s.wrapping_mul(L8);
    // Byte j's top bit: cum_j <= r (128 + r - cum_j never borrows).
    let le = ((r as u64 * L8) | H8).wrapping_sub(cum) & H8;
    let byte = ((le >> 7).wrapping_mul(L8) >> 56) as u32;
    let before = ((cum << 8) >> (byte * 8)) as u32 & 0xff;
    let b = (x >> (byte * 8)) as usize & 0xff;
    byte * 8 + SELECT_IN_BYTE[((r - before) as usize) << 8 | b] as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(ids: &[u32; BLOCK], base: u32) -> u8 {
        let mut words = vec![7u32; 3]; // a block need not start at word 0
        let fmt = encode_ids(ids, base, &mut words);
        assert_eq!(words.len() - 3, id_words(fmt, base, ids[BLOCK - 1]));
        let mut out = [0u32; BLOCK];
        decode_ids(fmt, base, ids[BLOCK - 1], &words[3..], &mut out);
        assert_eq!(&out, ids);
        fmt
    }

    #[test]
    fn dense_run_packs_to_zero_bits() {
        let ids: [u32; BLOCK] = std::array::from_fn(|i| 1000 + i as u32);
        assert_eq!(roundtrip(&ids, 1000), 0);
    }

    #[test]
    fn sparse_uses_elias_fano() {
        let mut x = 12345u64;
        // Random ids at 10% density: geometric gaps, whose largest sets the
        // packed width, so Elias-Fano is smaller.
        let mut ids = [0u32; BLOCK];
        let mut cur = 5u32;
        for id in ids.iter_mut() {
            loop {
                cur += 1;
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                if (x >> 33).is_multiple_of(10) {
                    break;
                }
            }
            *id = cur;
        }
        let fmt = roundtrip(&ids, 3);
        assert!(fmt & EF_FLAG != 0);
    }

    #[test]
    fn extremes() {
        let ids: [u32; BLOCK] = std::array::from_fn(|i| (i as u32) * (u32::MAX / 256));
        roundtrip(&ids, 0);
        let mut ids: [u32; BLOCK] = std::array::from_fn(|i| i as u32);
        ids[BLOCK - 1] = u32::MAX - 1;
        roundtrip(&ids, 0);
        let ids: [u32; BLOCK] = std::array::from_fn(|i| u32::MAX - 128 + i as u32);
        roundtrip(&ids, 0);
    }

    #[test]
    fn select64_against_scan() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut words = vec![u64::MAX, 1, 1 << 63, 0x8000_0000_0000_0001];
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            words.push(x);
            words.push(x & (x >> 3) & (x >> 7)); // sparse
            words.push(x | (x >> 2) | (x << 5)); // dense
        }
        for &w in &words {
            let ones: Vec<u32> = (0..64).filter(|b| w >> b & 1 == 1).collect();
            for (r, &pos) in ones.iter().enumerate() {
                assert_eq!(select64(w, r as u32), pos, "word {w:#x}, rank {r}");
            }
        }
    }

    #[test]
    fn unpack_all_widths() {
        for w in 0..=32u32 {
            let vals: [u32; BLOCK] = std::array::from_fn(|i| {
                let v = (i as u64 * 2654435761) as u32;
                if w == 32 {
                    v
                } else {
                    v & ((1u32 << w) - 1)
                }
            });
            let mut words = Vec::new();
            let mut bw = BitWriter::new(&mut words);
            for &v in &vals {
                bw.put(v, w);
            }
            bw.finish();
            assert_eq!(words.len(), 4 * w as usize);
            let mut out = [1u32; BLOCK];
            unpack(w, &words, &mut out);
            assert_eq!(out, vals, "width {w}");
        }
    }
}
