//! One block: a 256-bit, 32-byte-aligned group of eight 32-bit words (the
//! "split block" of Apache Parquet, Impala and Kudu). A block never straddles
//! two cache lines, so every insert or lookup touches exactly one.
//!
//! # Which bits an item sets (format version 2)
//!
//! A filter sets `k = 8m` bits per item in `m` rounds of eight (`m` is 1, 2
//! or 4; the sizing picks it from the rate: 1 down to about 1e-3). From the
//! item's 64-bit hash `h` (all arithmetic wrapping on `u64`):
//!
//! - `m = 1`: the item's one block is `(h * blocks) >> 64` on the full 128-bit
//!   product (Lemire's multiply-shift range reduction), so it comes from the
//!   high bits of `h` and reaches every block of a filter of any size.
//! - `m = 2, 4`: the item's *line* is `(h * (blocks / 2)) >> 64` and it owns
//!   the line's two blocks `2 line` and `2 line + 1` (one 64-byte cache
//!   line): round `r` goes to block `2 line + r % 2`. Below ~1e-3 a 512-bit
//!   unit needs far less space than a 256-bit one (39.6 against 52 bits per
//!   item at 1e-6).
//! - round `r` takes `a = h * MUL[2r]` and `b = h * MUL[2r + 1]` (low 64 bits
//!   of each product) and reads them as four 32-bit lanes
//!   `d = [a, a >> 32, b, b >> 32]`; word `w < 4` of the round's block gets
//!   bit `d[w] >> 27` and word `4 + w` gets bit `(d[w] >> 22) & 31`.
//!
//! Multiply-shift hashing with distinct odd multipliers: each position is the
//! top bits of its own product, so positions are uniform and independent of
//! each other and of the block. Why this shape: the positions need two
//! multiplies and no loop, and (on x86-64) the eight one-bit masks come out of
//! four 32-bit lanes with SSE2 (a float's exponent field builds `1 << p` in
//! each lane at once, see [`simd`]): a `u64` lookup in the bench loop is 49
//! instructions, hash included, against 65 with eight scalar variable shifts
//! (counted in the disassembly; BENCHMARKS.md, "Follow-up: split blocks and
//! SSE2 masks"). At 13.4 MB a
//! filter lives in DRAM and lookups overlap only as far as the reorder buffer
//! reaches: fewer instructions per lookup means more of them in flight.

/// Words in a block.
pub(crate) const WORDS: usize = 8;
/// Bits in a word.
pub(crate) const WORD_BITS: u32 = 32;
/// Bits in a block: half a 64-byte cache line.
pub(crate) const BLOCK_BITS: u32 = WORDS as u32 * WORD_BITS;

/// The multipliers of the positions, two per round (`m` rounds of eight bits):
/// hexadecimal digits of pi (as in Blowfish's P-array and many hash designs:
/// any odd constant with well-spread bits serves), each forced odd.
pub(crate) const MUL: [u64; 8] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7345,
    0xa409_3822_299f_31d1,
    0x082e_fa98_ec4e_6c89,
    0x4528_21e6_38d0_1377,
    0xbe54_66cf_34e9_0c6d,
    0xc0ac_29b7_c97c_50dd,
    0x3f84_d5b5_b547_0917,
];

/// A block of the filter, aligned so that it never straddles two cache lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, align(32))]
pub(crate) struct Block(pub [u32; WORDS]);

/// Which block `h` lands in, out of `blocks`: Lemire's multiply-shift range
/// reduction on the full 64 bits, so a filter of any size (past 2^32 blocks or
/// bits) uses every block.
#[inline(always)]
pub(crate) fn block_index(h: u64, blocks: u64) -> u64 {
    ((h as u128 * blocks as u128) >> 64) as u64
}

/// The eight bit positions of round `round` (see the module docs): the
/// definition the SIMD path must match bit for bit.
#[inline(always)]
pub(crate) fn positions(h: u64, round: usize) -> [u32; WORDS] {
    let a = h.wrapping_mul(MUL[2 * round]);
    let b = h.wrapping_mul(MUL[2 * round + 1]);
    let d = [a as u32, (a >> 32) as u32, b as u32, (b >> 32) as u32];
    std::array::from_fn(|w| {
        if w < 4 {
            d[w] >> 27
        } else {
            (d[w - 4] >> 22) & 31
        }
    })
}

/// The bits item `h` sets in block `half` (0 or 1) of its line, for a filter
/// of `m` rounds: those of rounds `half, half + 2, ...` (with `m = 1`, half 0
/// is the item's one block). Positions of a word may coincide across rounds,
/// so a word gets between 1 and `m / 2` bits (1 for `m <= 2`).
#[inline(always)]
pub(crate) fn masks(h: u64, m: u32, half: usize) -> [u32; WORDS] {
    let mut out = [0u32; WORDS];
    for round in (half..m as usize).step_by(2) {
        for (word, p) in out.iter_mut().zip(positions(h, round)) {
            *word |= 1 << p;
        }
    }
    out
}

impl Block {
    /// Sets the bits of item `h` in a one-round (`k = 8`) filter; true if any
    /// of them was clear.
    #[inline(always)]
    pub(crate) fn set1(&mut self, h: u64) -> bool {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        return simd::set1(self, h);
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        return self.set_mask(&masks(h, 1, 0));
    }

    /// Whether all bits of item `h` are set, in a one-round filter.
    #[inline(always)]
    pub(crate) fn has1(&self, h: u64) -> bool {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        return simd::has1(self, h);
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        return self.has_mask(&masks(h, 1, 0));
    }

    /// ORs `mask` in; true if any of its bits was clear.
    #[inline(always)]
    pub(crate) fn set_mask(&mut self, mask: &[u32; WORDS]) -> bool {
        let mut missing = 0u32;
        for (word, &m) in self.0.iter_mut().zip(mask) {
            missing |= m & !*word;
            *word |= m;
        }
        missing != 0
    }

    /// Whether every bit of `mask` is set. Branch-free: the missing bits of
    /// all eight words ORed, tested once.
    #[inline(always)]
    pub(crate) fn has_mask(&self, mask: &[u32; WORDS]) -> bool {
        let mut missing = 0u32;
        for (&word, &m) in self.0.iter().zip(mask) {
            missing |= m & !word;
        }
        missing == 0
    }

    /// Probability that a random item's bits in this block are all set, `q`
    /// rounds landing here: each of its (up to `q`) distinct bits in a word
    /// lands on a set bit with probability popcount / 32.
    pub(crate) fn hit_probability(&self, q: u32) -> f64 {
        self.0
            .iter()
            .map(|w| crate::sizing::word_hit(w.count_ones() as f64 / WORD_BITS as f64, q))
            .product()
    }
}

/// The one-round (`k = 8`) masks, set and test with SSE2, which every x86-64
/// CPU has: the same bits as [`positions`] round 0, four words per register.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[allow(unsafe_code)]
pub(crate) mod simd {
    use super::{Block, MUL};
    use std::arch::x86_64::*;

    /// The masks of words 0-3 and 4-7 for round 0.
    ///
    /// `1 << p` per 32-bit lane without variable shifts (SSE2 has none): put
    /// `127 + p` in a float's exponent field (bits 23..31) and convert to an
    /// integer, giving `2^p` exactly. For `p = 31`, 2^31 overflows `i32` and
    /// the conversion returns its "integer indefinite" 0x8000_0000, which is
    /// `1 << 31` as well.
    #[inline(always)]
    fn masks1(h: u64) -> (__m128i, __m128i) {
        // Bits 23..27 of a lane: the low five bits of a float's exponent.
        const FIELD: i32 = 0x0F80_0000;
        // 1.0f32: exponent 127, mantissa 0.
        const ONE: i32 = 0x3F80_0000;
        // SAFETY: SSE2 arithmetic on registers only (the `cfg` guarantees
        // SSE2); no memory is read or written.
        unsafe {
            let a = h.wrapping_mul(MUL[0]) as i64;
            let b = h.wrapping_mul(MUL[1]) as i64;
            // Lanes [a, a >> 32, b, b >> 32].
            let d = _mm_set_epi64x(b, a);
            let field = _mm_set1_epi32(FIELD);
            let one = _mm_set1_epi32(ONE);
            // Words 0-3: bits 27..31 of each lane, moved down to 23..27.
            let lo = _mm_add_epi32(_mm_and_si128(_mm_srli_epi32(d, 4), field), one);
            // Words 4-7: bits 22..26, moved up to 23..27.
            let hi = _mm_add_epi32(_mm_and_si128(_mm_slli_epi32(d, 1), field), one);
            (
                _mm_cvttps_epi32(_mm_castsi128_ps(lo)),
                _mm_cvttps_epi32(_mm_castsi128_ps(hi)),
            )
        }
    }

    /// The block's two 16-byte halves.
    #[inline(always)]
    fn load(b: &Block) -> (__m128i, __m128i) {
        let p = b.0.as_ptr() as *const __m128i;
        // SAFETY: `Block` is `repr(C, align(32))` over `[u32; 8]`: 32 bytes
        // at a 32-byte-aligned address, so both 16-byte aligned loads at `p`
        // and `p + 1` are in bounds, aligned and of initialized memory.
        unsafe { (_mm_load_si128(p), _mm_load_si128(p.add(1))) }
    }

    /// Whether any bit of masks `(m0, m1)` is clear in words `(w0, w1)`:
    /// branch-free, the missing bits of the eight words ORed and tested once.
    #[inline(always)]
    fn any_missing((w0, w1): (__m128i, __m128i), (m0, m1): (__m128i, __m128i)) -> bool {
        // SAFETY: SSE2 register arithmetic only.
        unsafe {
            let missing = _mm_or_si128(_mm_andnot_si128(w0, m0), _mm_andnot_si128(w1, m1));
            _mm_movemask_epi8(_mm_cmpeq_epi32(missing, _mm_setzero_si128())) != 0xffff
        }
    }

    /// Whether all round-0 bits of `h` are set in `b`.
    #[inline(always)]
    pub(crate) fn has1(b: &Block, h: u64) -> bool {
        let m = masks1(h);
        !any_missing(load(b), m)
    }

    /// Sets the round-0 bits of `h` in `b`; true if any was clear.
    #[inline(always)]
    pub(crate) fn set1(b: &mut Block, h: u64) -> bool {
        let (m0, m1) = masks1(h);
        let (w0, w1) = load(b);
        let p = b.0.as_mut_ptr() as *mut __m128i;
        // SAFETY: as in `load`, `p` and `p + 1` are the block's two aligned,
        // in-bounds 16-byte halves, and `b` is borrowed mutably, so nothing
        // else reads or writes them meanwhile.
        unsafe {
            _mm_store_si128(p, _mm_or_si128(w0, m0));
            _mm_store_si128(p.add(1), _mm_or_si128(w1, m1));
        }
        any_missing((w0, w1), (m0, m1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few thousand well-spread hashes plus the edges.
    fn hashes() -> impl Iterator<Item = u64> {
        let mut x = 0u64;
        [0, 1, u64::MAX, 1 << 63, 0xdead_beef_cafe_f00d]
            .into_iter()
            .chain(std::iter::repeat_with(move || {
                x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
                crate::hash::mum(x, 0xe703_7ed1_a0b4_28db)
            }))
            .take(5_000)
    }

    #[test]
    fn masks_set_one_bit_per_word_and_round() {
        for h in hashes().take(100) {
            for m in [1, 2, 4] {
                for half in 0..2 {
                    let rounds = (half..m as usize).step_by(2).count() as u32;
                    for w in masks(h, m, half) {
                        assert!(w.count_ones() <= rounds && (rounds == 0) == (w == 0));
                    }
                }
            }
        }
    }

    #[test]
    fn every_position_is_reached_in_every_word() {
        let mut seen = [0u32; WORDS];
        for h in hashes() {
            for (s, p) in seen.iter_mut().zip(positions(h, 0)) {
                *s |= 1 << p;
            }
        }
        assert_eq!(seen, [u32::MAX; WORDS]);
    }

    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[test]
    fn simd_masks_are_the_scalar_definition() {
        for h in hashes() {
            // Set into an empty block, the SSE2 masks are the block's words.
            let mut b = Block::default();
            simd::set1(&mut b, h);
            assert_eq!(b.0, masks(h, 1, 0), "hash {h:#x}");
        }
    }

    #[test]
    fn set_reports_new_bits_and_has_sees_them() {
        for h in hashes().take(500) {
            let mut b = Block::default();
            assert!(!b.has1(h));
            assert!(b.set1(h));
            assert!(b.has1(h));
            assert!(!b.set1(h));
            // The fast path sets exactly the scalar definition's bits.
            let mut c = Block::default();
            assert!(c.set_mask(&masks(h, 1, 0)));
            assert_eq!(b, c);
            assert!(c.has_mask(&masks(h, 1, 0)));
            // One bit short, in any word, is a miss.
            for (w, mask) in masks(h, 1, 0).into_iter().enumerate() {
                let mut d = b;
                d.0[w] &= !mask;
                assert!(!d.has1(h), "word {w}");
                assert!(!d.has_mask(&masks(h, 1, 0)), "word {w}");
            }
        }
    }

    #[test]
    fn block_index_spans_past_32_bits() {
        // 2^28 blocks = 2^36 bits: indexes must reach the top of the range.
        let blocks = 1u64 << 28;
        assert_eq!(block_index(u64::MAX, blocks), blocks - 1);
        assert_eq!(block_index(0, blocks), 0);
        assert_eq!(block_index(1 << 63, blocks), blocks / 2);
    }
}
