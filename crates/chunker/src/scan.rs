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
//! when a lane finds one, only the lanes before it can hold an earlier one, and
//! they are finished (from where they stopped) before the answer is given.
//! Bit-identical boundaries, with the instruction-level parallelism a single
//! chain lacks.

use crate::gear::{gear_fold_fast, BLOCK, GEAR, SHIFTED, TESTED_BITS};

/// Stretches scanned at once. Three independent chains keep the adders of a
/// four-ALU core busy; more lanes only add warm-up and wasted look-ahead.
const LANES: usize = 3;

/// Upper bound on one lane's stretch. Past a cut, the later lanes' work is
/// wasted, and on average a chunk's cut falls mid-window: short stretches
/// waste less, long ones warm up less often. 512 bytes per lane measured best
/// at 8 KiB and 64 KiB averages (see `benches/chunker.rs`).
const STRETCH_MAX: usize = 512;

/// Below this, a window is not worth three warm-ups: scan it with one chain.
const STRETCH_MIN: usize = 128;

/// Bytes of warm-up that reproduce the tested bits of the hash exactly.
const WARM: usize = TESTED_BITS as usize;

const _: () = assert!(STRETCH_MIN >= WARM && STRETCH_MIN % BLOCK == 0);

/// The masks to test the block accumulator against: `a_r` holds
/// `h_r << (BLOCK - 1 - r)`, so byte `r` of a block tests `mask << (BLOCK - 1 - r)`.
#[inline]
fn shifted_masks(mask: u64) -> [u64; BLOCK] {
    std::array::from_fn(|r| mask << (BLOCK - 1 - r))
}

/// The hash state just before `pos`, exact in its tested bits, for a hash
/// that started from zero at `base` (FastCDC starts it at the minimum size).
#[inline]
fn warm(data: &[u8], base: usize, pos: usize) -> u64 {
    let from = pos.saturating_sub(WARM).max(base);
    gear_fold_fast(0, &data[from..pos])
}

/// The first `i` in `lo..hi` where the Gear hash of `data[base..=i]` has no
/// bit of `mask` set, if any. Requires `base <= lo <= hi <= data.len()` and
/// `mask < 2^48`.
pub(crate) fn first_match(data: &[u8], base: usize, lo: usize, hi: usize, mask: u64) -> Option<usize> {
    debug_assert!(base <= lo && lo <= hi && hi <= data.len());
    let masks = shifted_masks(mask);
    let mut pos = lo;
    let mut h = warm(data, base, pos);
    loop {
        let stretch = ((hi - pos) / LANES).min(STRETCH_MAX) & !(BLOCK - 1);
        if stretch < STRETCH_MIN {
            break;
        }
        // Lane 0 continues the running hash; lane j > 0 starts `j * stretch`
        // further on and warms up on the 48 bytes before it (all at or past
        // `pos >= base`, since `stretch >= WARM`).
        let mut states = [h; LANES];
        for (j, s) in states.iter_mut().enumerate().skip(1) {
            *s = warm(data, base, pos + j * stretch);
        }
        let window = &data[pos..pos + LANES * stretch];
        match scan_lanes(window, stretch, states, &masks) {
            Ok(last) => {
                h = last;
                pos += LANES * stretch;
            }
            Err(hit) => {
                // Lanes before the hit lane finished the hit's block without
                // a match; any match they hold lies before the hit, so finish
                // them in order from where they stopped.
                for (j, &state) in hit.states.iter().enumerate().take(hit.lane) {
                    let start = pos + j * stretch;
                    if let Ok(i) = scan_one(data, start + hit.block_end, start + stretch, state, &masks) {
                        return Some(i);
                    }
                }
                return Some(pos + hit.lane * stretch + hit.at);
            }
        }
    }
    scan_one(data, pos, hi, h, &masks).ok()
}

/// A match found by [`scan_lanes`], with what is needed to finish the lanes
/// before it.
struct LaneHit {
    /// The lane that matched.
    lane: usize,
    /// Offset of the match within its lane's stretch.
    at: usize,
    /// Offset (within every stretch) where the block holding the match ends:
    /// lanes before `lane` have scanned up to here without a match.
    block_end: usize,
    /// Each lane's hash state; for lanes before `lane`, the state at `block_end`.
    states: [u64; LANES],
}

/// Scans `LANES` consecutive stretches of `stretch` bytes (a multiple of
/// [`BLOCK`]) of `window` interleaved, lane `j` starting from hash `states[j]`.
/// Returns the last lane's final state, or the first match in program order
/// (lane-major within each block, so every lane before the hit lane has
/// completed that block).
#[inline]
fn scan_lanes(
    window: &[u8],
    stretch: usize,
    mut states: [u64; LANES],
    masks: &[u64; BLOCK],
) -> Result<u64, LaneHit> {
    let lanes: [&[u8]; LANES] = std::array::from_fn(|j| &window[j * stretch..(j + 1) * stretch]);
    let mut t = 0;
    while t < stretch {
        for j in 0..LANES {
            let block: &[u8; BLOCK] = lanes[j][t..t + BLOCK].try_into().expect("BLOCK-sized");
            let mut a = states[j] << BLOCK;
            for r in 0..BLOCK {
                a = a.wrapping_add(SHIFTED[r][block[r] as usize]);
                if a & masks[r] == 0 {
                    return Err(LaneHit {
                        lane: j,
                        at: t + r,
                        block_end: t + BLOCK,
                        states,
                    });
                }
            }
            states[j] = a;
        }
        t += BLOCK;
    }
    Ok(states[LANES - 1])
}

/// One chain over `data[lo..hi]`, starting from the state `h` just before
/// `lo`. Returns the first match, or the final state.
#[inline]
fn scan_one(data: &[u8], lo: usize, hi: usize, mut h: u64, masks: &[u64; BLOCK]) -> Result<usize, u64> {
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
        for &mask in &[0x1u64, 0x3, 0x0f, 0x0000_0000_1803_5100, 0x0000_d903_0353_0000] {
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
                    assert_eq!(first_match(&data, base, lo, hi, mask), want, "mask {mask:#x} lo {lo}");
                    match want {
                        Some(i) => lo = i + 1,
                        None => break,
                    }
                }
            }
        }
    }

    #[test]
    fn zeros_never_match_a_real_mask() {
        let data = vec![0u8; 50_000];
        assert_eq!(first_match(&data, 0, 0, 50_000, 0x0000_d903_0353_0000), None);
    }
}
