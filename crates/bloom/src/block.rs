//! One block: a 512-bit, cache-line-aligned group of eight 64-bit words. Every
//! insert or lookup touches exactly one block, so it costs one cache miss.

use crate::hash::mum;

/// Words in a block.
pub(crate) const WORDS: usize = 8;
/// Bits in a word.
pub(crate) const WORD_BITS: u32 = 64;
/// Bits in a block: one 64-byte cache line.
pub(crate) const BLOCK_BITS: u32 = WORDS as u32 * WORD_BITS;

/// A block of the filter, aligned so that it never straddles two cache lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, align(64))]
pub(crate) struct Block(pub [u64; WORDS]);

/// Multipliers that re-mix the hash into fresh bits for the positions inside a
/// block, one per 48 bits of positions (fractional digits of pi, as in many hash
/// designs: any odd constant with well-spread bits serves).
const ROUND: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7345,
    0xa409_3822_299f_31d1,
    0x082e_fa98_ec4e_6c89,
];

/// Which block `h` lands in, out of `blocks`: Lemire's multiply-shift range
/// reduction on the full 64 bits, so a filter of any size (past 2^32 blocks or
/// bits) uses every block.
#[inline(always)]
pub(crate) fn block_index(h: u64, blocks: u64) -> u64 {
    ((h as u128 * blocks as u128) >> 64) as u64
}

/// The bits item `h` sets in its block, `m` per word. The block index came from
/// the high bits of `h`; the positions come from a re-mix of `h` (one folded
/// multiply per round), six bits per position: word `w` gets bit
/// `(r >> 6w) & 63` of round value `r`. Shifts and masks only, no per-word
/// multiply, so the eight positions cost a handful of instructions.
#[inline(always)]
pub(crate) fn masks(h: u64, m: u32) -> [u64; WORDS] {
    let mut out = [0u64; WORDS];
    for &round in ROUND.iter().take(m as usize) {
        let r = mum(h, round);
        for (w, word) in out.iter_mut().enumerate() {
            *word |= 1u64 << position(r, w);
        }
    }
    out
}

/// Word `w`'s bit position in round value `r`.
#[inline(always)]
fn position(r: u64, w: usize) -> u64 {
    (r >> (6 * w)) & 63
}

impl Block {
    /// Sets item `h`'s bits (`m` per word); true if any of them was clear.
    #[inline(always)]
    pub(crate) fn set(&mut self, h: u64, m: u32) -> bool {
        if m != 1 {
            return self.set_mask(&masks(h, m));
        }
        // The common case (k = 8) without building a mask array.
        let r = mum(h, ROUND[0]);
        let mut missing = 0u64;
        for (w, word) in self.0.iter_mut().enumerate() {
            let bit = 1u64 << position(r, w);
            missing |= bit & !*word;
            *word |= bit;
        }
        missing != 0
    }

    /// Whether all of item `h`'s bits are set.
    #[inline(always)]
    pub(crate) fn has(&self, h: u64, m: u32) -> bool {
        if m != 1 {
            return self.has_mask(&masks(h, m));
        }
        let r = mum(h, ROUND[0]);
        let mut all = 1u64;
        for (w, word) in self.0.iter().enumerate() {
            all &= *word >> position(r, w);
        }
        all & 1 == 1
    }

    #[inline(never)]
    fn set_mask(&mut self, mask: &[u64; WORDS]) -> bool {
        let mut missing = 0u64;
        for (word, &m) in self.0.iter_mut().zip(mask) {
            missing |= m & !*word;
            *word |= m;
        }
        missing != 0
    }

    #[inline(never)]
    fn has_mask(&self, mask: &[u64; WORDS]) -> bool {
        self.0.iter().zip(mask).all(|(word, &m)| word & m == m)
    }

    /// Probability that a random item's bits are all set here: each of the
    /// `8 * m` tested bits lands on a set bit with probability popcount / 64.
    pub(crate) fn hit_probability(&self, m: u32) -> f64 {
        self.0
            .iter()
            .map(|w| (w.count_ones() as f64 / WORD_BITS as f64).powi(m as i32))
            .product()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_set_m_bits_per_word_at_most() {
        for h in [0u64, 1, u64::MAX, 0xdead_beef_cafe_f00d] {
            for m in 1..=4 {
                for w in masks(h, m) {
                    assert!((1..=m).contains(&w.count_ones()));
                }
            }
        }
    }

    #[test]
    fn set_reports_new_bits_and_has_sees_them() {
        for m in 1..=4 {
            let mut b = Block::default();
            assert!(!b.has(12345, m));
            assert!(b.set(12345, m));
            assert!(b.has(12345, m));
            assert!(!b.set(12345, m));
            // The fast path and the mask path agree on which bits.
            let mut c = Block::default();
            c.set_mask(&masks(12345, m));
            assert_eq!(b, c);
        }
    }

    #[test]
    fn block_index_spans_past_32_bits() {
        // 2^27 blocks = 2^36 bits: indexes must reach the top of the range.
        let blocks = 1u64 << 27;
        assert_eq!(block_index(u64::MAX, blocks), blocks - 1);
        assert_eq!(block_index(0, blocks), 0);
        assert_eq!(block_index(1 << 63, blocks), blocks / 2);
    }
}
