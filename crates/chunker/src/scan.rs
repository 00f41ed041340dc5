//! The cut-point scanner: finds the first position whose Gear hash passes a
//! mask, several stretches at a time.
//!
//! # Why lanes
//!
//! The textbook loop `h = (h << 1) + GEAR[b]; if h & mask == 0 { cut }` is one
//! long dependency chain: every byte waits for the previous byte's shift and
//! add, so a core that could retire four or more simple operations per cycle
//! sits mostly idle. FastCDC 2020 shortens the chain by rolling two bytes per
//! shift; this scanner rolls [`BLOCK`] bytes per shift (see
//! [`SHIFTED`](crate::gear::SHIFTED)) and, more importantly, breaks the chain
//! itself.
//!
//! The Gear hash is shifted left one bit per byte, so a byte's contribution
//! leaves the 64-bit hash after 64 more bytes, and leaves the 48 low bits that
//! any cut test reads after 48 ([`TESTED_BITS`]). The tested bits at position
//! `i` are therefore a function of `data[i - 47..=i]` alone. So [`LANES`]
//! lanes each take a separate stretch of the window, each warmed up on the 48
//! bytes before its stretch, and run interleaved: independent chains the CPU
//! executes side by side. The cut is still the *earliest* qualifying position:
//! when a lane finds one, the lanes are rescanned in order from the block
//! where it was found, so an earlier match in an earlier lane wins.
//! Bit-identical boundaries, with the instruction-level parallelism a single
//! chain lacks.

use crate::gear::{gear_fold_fast, BLOCK, GEAR, SHIFTED, TESTED_BITS};

/// Stretches scanned at once. Two independent chains already saturate the
/// load ports (two loads per byte: the byte, then its table entry), which is
/// the real bound of a Gear scan; a third lane would add warm-ups and wasted
/// look-ahead past the cut without adding throughput.
const LANES: usize = 2;

/// Bytes of warm-up that reproduce the tested bits of the hash exactly.
const WARM: usize = TESTED_BITS as usize;

/// The smallest stretch worth a warm-up; shorter ranges take one chain.
const STRETCH_MIN: usize = 128;

/// The longest stretch. The second lane's next stretch starts this far past
/// the furthest byte read so far, so a longer stretch risks a cache miss the
/// hardware prefetcher did not cover, stalling the lane's warm-up; on inputs
/// larger than the caches, 512 bytes scanned faster than 1 and 2 KiB in most
/// of our (noisy, shared-machine) runs, despite twice the warm-ups of 1 KiB.
const STRETCH_MAX: usize = 512;

const _: () = assert!(
    STRETCH_MIN >= WARM && STRETCH_MIN.is_multiple_of(BLOCK) && STRETCH_MAX == 4 * STRETCH_MIN
);

/// The masks to test the block accumulator against: `a_r` holds
/// `h_r << (BLOCK - 1 - r)`, so byte `r` of a block tests `mask << (BLOCK - 1 - r)`.
#[inline]
fn shifted_masks(mask: u64) -> [u64; BLOCK] {
    std::array::from_fn(|r| mask << (BLOCK - 1 - r))
}

/// The hash state just before `pos`, exact in its tested bits, for a hash
/// that started from zero at `base` (FastCDC starts it at the minimum size).
#[inline]
pub(crate) fn warm(data: &[u8], base: usize, pos: usize) -> u64 {
    let from = pos.saturating_sub(WARM).max(base);
    gear_fold_fast(0, &data[from..pos])
}

/// The stretch length that balances the scanner's two overheads for a mask
/// matching with probability `p = 2^-popcount`: a warm-up of 48 bytes per
/// window (`24 / s` per byte) against the look-ahead wasted past the cut
/// (about `s / 4` bytes once per cut, `p * s / 4` per byte). The optimum
/// `s = sqrt(96 / p)` is taken as the power of two `2^((popcount + 6) / 2)`
/// (which rounds it down), capped at [`STRETCH_MAX`]: 512 bytes at 8 KiB and
/// 64 KiB averages, 256 bytes at 2 KiB, 128 bytes at 256 B.
#[inline]
fn stretch_for(mask: u64) -> usize {
    (1usize << ((mask.count_ones() + 6) / 2)).clamp(STRETCH_MIN, STRETCH_MAX)
}

/// The first `i` in `lo..hi` where the Gear hash of `data[base..=i]` has no
/// bit of `mask` set, if any. Requires `base <= lo <= hi <= data.len()` and
/// `mask < 2^48`.
pub(crate) fn first_match(
    data: &[u8],
    base: usize,
    lo: usize,
    hi: usize,
    mask: u64,
) -> Option<usize> {
    scan_from(data, base, lo, hi, warm(data, base, lo), mask).ok()
}

/// [`first_match`], given the hash state `h` just before `lo` (exact in its
/// tested bits); without a match, returns the state at `hi - 1`, so that a
/// scan with another mask can continue from `hi` without a warm-up.
pub(crate) fn scan_from(
    data: &[u8],
    base: usize,
    lo: usize,
    hi: usize,
    mut h: u64,
    mask: u64,
) -> Result<usize, u64> {
    debug_assert!(base <= lo && lo <= hi && hi <= data.len());
    let masks = shifted_masks(mask);
    let longest = stretch_for(mask);
    let mut pos = lo;
    loop {
        // The longest window that fits, up to the tuned stretch.
        let stretch = power_of_two_below(((hi - pos) / LANES).min(longest));
        let step = match stretch {
            STRETCH_MAX => scan_window::<{ STRETCH_MAX * LANES }>(data, base, pos, h, &masks),
            256 => scan_window::<{ 256 * LANES }>(data, base, pos, h, &masks),
            STRETCH_MIN => scan_window::<{ STRETCH_MIN * LANES }>(data, base, pos, h, &masks),
            _ => break,
        };
        match step {
            Ok((end, state)) => {
                pos = end;
                h = state;
            }
            Err(t) => {
                // Some lane matched in the block at offset `t` of its
                // stretch, and no lane matched before `t`. The earliest match
                // is in the first lane, in order, that has one from `t` on.
                // Finding it recursively costs a re-warm of each lane (its
                // state depends on the last 48 bytes only), once per chunk.
                for j in 0..LANES {
                    let start = pos + j * stretch;
                    if let Some(i) = first_match(data, base, start + t, start + stretch, mask) {
                        return Ok(i);
                    }
                }
                unreachable!("a lane reported a match that a rescan does not find")
            }
        }
    }
    scan_one(data, pos, hi, h, &masks)
}

/// The largest power of two not above `n` (0 for 0).
#[inline]
fn power_of_two_below(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        1 << (usize::BITS - 1 - n.leading_zeros())
    }
}

/// Scans the `W` bytes from `pos` as `LANES` lanes; `h` is the state before
/// `pos`. Returns the window's end and the state there, or the offset within
/// the stretches of the first block where any lane matched.
#[inline]
fn scan_window<const W: usize>(
    data: &[u8],
    base: usize,
    pos: usize,
    h: u64,
    masks: &[u64; BLOCK],
) -> Result<(usize, u64), usize> {
    let stretch = W / LANES;
    // Lane 0 continues the running hash; lane j > 0 starts `j * stretch`
    // further on and warms up on the 48 bytes before it (all at or past
    // `pos >= base`, since `stretch >= WARM`).
    let mut states = [h; LANES];
    for (j, s) in states.iter_mut().enumerate().skip(1) {
        *s = warm(data, base, pos + j * stretch);
    }
    let window: &[u8; W] = data[pos..pos + W].try_into().expect("W bytes");
    scan_lanes(window, states, masks).map(|last| (pos + W, last))
}

/// Scans the `LANES` consecutive stretches of `window` interleaved, lane `j`
/// starting from hash `states[j]`. Returns the last lane's final state, or
/// the offset within the stretches of the first block where any lane matched.
///
/// `W` is a compile-time constant, so each lane's bytes sit at a constant
/// displacement from one base pointer and the whole loop (accumulators,
/// index, table base, the eight block masks) stays in registers. The loop
/// carries nothing else; where exactly the match lies is worked out by the
/// caller. Kept out of line so that the caller's bookkeeping does not compete
/// for those registers.
#[inline(never)]
fn scan_lanes<const W: usize>(
    window: &[u8; W],
    mut states: [u64; LANES],
    masks: &[u64; BLOCK],
) -> Result<u64, usize> {
    let stretch = W / LANES;
    let mut t = 0;
    while t < stretch {
        for (j, state) in states.iter_mut().enumerate() {
            let at = j * stretch + t;
            let mut a = *state << BLOCK;
            for r in 0..BLOCK {
                a = a.wrapping_add(SHIFTED[r][window[at + r] as usize]);
                if a & masks[r] == 0 {
                    return Err(t);
                }
            }
            *state = a;
        }
        t += BLOCK;
    }
    Ok(states[LANES - 1])
}

/// One chain over `data[lo..hi]`, starting from the state `h` just before
/// `lo`. Returns the first match, or the final state.
#[inline]
fn scan_one(
    data: &[u8],
    lo: usize,
    hi: usize,
    mut h: u64,
    masks: &[u64; BLOCK],
) -> Result<usize, u64> {
    let bytes = &data[lo..hi];
    let mut blocks = bytes.chunks_exact(BLOCK);
    let mut at = lo;
    for block in &mut blocks {
        let mut a = h << BLOCK;
        for r in 0..BLOCK {
            a = a.wrapping_add(SHIFTED[r][block[r] as usize]);
            if a & masks[r] == 0 {
                return Ok(at + r);
            }
        }
        h = a;
        at += BLOCK;
    }
    // The unshifted mask is the last of the block masks.
    let mask = masks[BLOCK - 1];
    for &b in blocks.remainder() {
        h = (h << 1).wrapping_add(GEAR[b as usize]);
        if h & mask == 0 {
            return Ok(at);
        }
        at += 1;
    }
    Err(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gear::gear_fold;

    /// The definition, one byte at a time.
    fn naive(data: &[u8], base: usize, lo: usize, hi: usize, mask: u64) -> Option<usize> {
        let mut h = gear_fold(0, &data[base..lo]);
        for (i, &b) in data.iter().enumerate().take(hi).skip(lo) {
            h = (h << 1).wrapping_add(GEAR[b as usize]);
            if h & mask == 0 {
                return Some(i);
            }
        }
        None
    }

    fn bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn lanes_find_the_earliest_match() {
        // Loose masks make matches frequent, so every lane and every
        // finishing path is exercised, including hits in several lanes of
        // one window.
        let data = bytes(20_000, 7);
        for &mask in &[
            0x1u64,
            0x3,
            0x0f,
            0x0000_0000_1803_5100,
            0x0000_d903_0353_0000,
        ] {
            for &(base, lo, hi) in &[
                (0, 0, 20_000),
                (64, 64, 20_000),
                (100, 160, 19_999),
                (2048, 3000, 12_001),
                (0, 5000, 5003),
                (10, 10, 10),
            ] {
                let mut lo = lo;
                while lo < hi {
                    let want = naive(&data, base, lo, hi, mask);
                    assert_eq!(
                        first_match(&data, base, lo, hi, mask),
                        want,
                        "mask {mask:#x} lo {lo}"
                    );
                    match want {
                        Some(i) => lo = i + 1,
                        None => break,
                    }
                }
            }
        }
    }

    #[test]
    fn long_windows_find_the_earliest_match() {
        // Strict masks pick the longest stretches; enough data makes their
        // matches land in every lane and at every offset.
        let data = bytes(3 << 20, 11);
        for &mask in &[
            0x0000_d903_1353_0000u64,
            0x0000_d903_0353_7000,
            0x0000_d901_0353_0000,
        ] {
            let mut lo = 1000;
            let mut found = 0;
            while let Some(i) = naive(&data, 1000, lo, data.len(), mask) {
                assert_eq!(first_match(&data, 1000, lo, data.len(), mask), Some(i));
                lo = i + 1;
                found += 1;
            }
            assert_eq!(first_match(&data, 1000, lo, data.len(), mask), None);
            assert!(found > 20, "mask {mask:#x}: only {found} matches");
        }
    }

    #[test]
    fn stretches_follow_the_mask() {
        assert_eq!(stretch_for(0x1), STRETCH_MIN);
        // 8 KiB average: strict 14 bits, loose 12 bits.
        assert_eq!(stretch_for(0x0000_d903_1353_0000), STRETCH_MAX);
        assert_eq!(stretch_for(0x0000_d901_0353_0000), 512);
        // 2 KiB average, loose mask: 10 bits.
        assert_eq!(stretch_for(0x0000_5900_0353_0000), 256);
    }

    #[test]
    fn zeros_never_match_a_real_mask() {
        let data = vec![0u8; 50_000];
        assert_eq!(
            first_match(&data, 0, 0, 50_000, 0x0000_d903_0353_0000),
            None
        );
    }
}
