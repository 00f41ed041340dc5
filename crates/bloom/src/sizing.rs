//! Sizing a blocked filter so its false-positive rate stays at or under a target.
//!
//! A blocked filter sends each item to one *unit* of its bits and sets `k = 8m`
//! bits there (see `block`): with `m = 1` the unit is one 256-bit block, one bit
//! in each of its eight 32-bit words; with `m = 2` or 4 it is a 512-bit line (two
//! blocks, 16 words) with `q = m / 2` bits in each word. Items land in units
//! unevenly (the count per unit is Poisson with mean `λ = n / units`), and the
//! fuller units dominate the false positives, so a blocked filter needs a little
//! more space than a classic one for the same rate. We account for it exactly:
//! the expected rate is the Poisson-weighted rate of a unit holding `j` items,
//! `Σ_j Pois(j; λ) · hit(1 − (31/32)^(q·j), q)^W` over its `W` words (`hit` counts
//! coinciding positions, see [`word_hit`]), and we take the fewest units (and the
//! best `m`) that bring it to the target (Putze, Sanders, Singler,
//! "Cache-, hash- and space-efficient Bloom filters", 2007, section 3).

use crate::block::{BLOCK_BITS, WORDS, WORD_BITS};

/// The rounds `m` a filter may have (`k = 8m`). 3 would split unevenly over a
/// line's two blocks; beyond 4 the extra bits cost more space than they save at
/// any rate a `f64` can ask for.
pub(crate) const ROUNDS: [u32; 3] = [1, 2, 4];

/// The most bits per word any shape sets per item (`q` of `m = 4`); `word_hit`
/// works up to one more.
const MAX_Q: usize = 2;

/// Blocks in an item's unit: 1 for `m = 1`, a 64-byte line of 2 otherwise.
pub(crate) fn span(m: u32) -> u64 {
    if m == 1 {
        1
    } else {
        2
    }
}

/// Bits each item sets per word of its unit: `q = 1` for `m <= 2`, 2 for 4.
pub(crate) fn per_word(m: u32) -> u32 {
    m.div_ceil(2)
}

/// The most blocks a filter may have: 2^52 blocks of 32 bytes is 2^57 bytes, far
/// beyond any machine yet still addressable, so sizes never overflow.
pub(crate) const MAX_BLOCKS: u64 = 1 << 52;

/// Expected false-positive rate of a blocked filter holding on average `lambda`
/// items per unit, with `m` rounds.
pub(crate) fn expected_fp_rate(lambda: f64, m: u32) -> f64 {
    if lambda <= 0.0 {
        return 0.0;
    }
    let per_bit_clear = 1.0 - 1.0 / WORD_BITS as f64;
    let q = per_word(m);
    let words = WORDS as i32 * span(m) as i32;
    // Sum the Poisson terms outwards from the mode, in log space so large lambdas
    // neither underflow exp(-lambda) nor overflow lambda^j.
    let mode = lambda.floor();
    let log_pois = |j: f64| j * lambda.ln() - lambda - ln_factorial(j);
    let term = |j: f64| {
        let fill = 1.0 - per_bit_clear.powf(q as f64 * j);
        log_pois(j).exp() * word_hit(fill, q).powi(words)
    };
    let mut sum = term(mode);
    let mut j = mode + 1.0;
    loop {
        let t = term(j);
        sum += t;
        if log_pois(j) < -60.0 {
            break;
        }
        j += 1.0;
    }
    let mut j = mode - 1.0;
    while j >= 0.0 {
        sum += term(j);
        if log_pois(j) < -60.0 {
            break;
        }
        j -= 1.0;
    }
    sum
}

/// Probability that one word passes a lookup when a fraction `fill` of its
/// bits is set and the item put `q` (at most 3) positions in it: uniform
/// positions may coincide, so it tests `d` distinct bits with probability
/// `S(q, d) · 32!/(32 − d)! / 32^q` (Stirling numbers of the second kind),
/// and passes with probability `fill^d`. (Treating the `q` bits as distinct
/// would understate the rate for `q ≥ 2` by a few percent.)
pub(crate) fn word_hit(fill: f64, q: u32) -> f64 {
    let w = WORD_BITS as f64;
    // p[d]: probability of exactly d distinct positions after the draws so far.
    let mut p = [0.0f64; MAX_Q + 2];
    p[0] = 1.0;
    for _ in 0..q {
        for d in (0..=MAX_Q).rev() {
            let new = p[d] * (w - d as f64) / w;
            p[d + 1] += new;
            p[d] -= new;
        }
    }
    p.iter()
        .enumerate()
        .map(|(d, &pd)| pd * fill.powi(d as i32))
        .sum()
}

/// ln(j!) for a non-negative integer `j` given as `f64` (exact sum below 64,
/// Stirling's series above, where its error is under 1e-12).
fn ln_factorial(j: f64) -> f64 {
    if j < 64.0 {
        (2..=j as u64).map(|i| (i as f64).ln()).sum()
    } else {
        let x = j + 1.0;
        (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + 1.0 / (12.0 * x)
            - 1.0 / (360.0 * x * x * x)
    }
}

/// The chosen shape of a filter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Shape {
    pub blocks: u64,
    pub rounds: u32,
}

/// The smallest filter (over every `m`) whose expected rate at `items` is at most
/// `fp_rate`, or `None` if the block count would not fit in memory addressing.
pub(crate) fn shape_for(items: u64, fp_rate: f64) -> Option<Shape> {
    // Under the target by a margin: the formula is an expectation that treats the
    // words of a unit as independent, and a filter's measured rate scatters
    // around it. (The margin dates from format 1, whose formula ignored coinciding
    // positions, see `word_hit`; measured rates then ran up to ~6% above it.)
    // 0.93 keeps every measured rate in the tests at or under the target for ~1%
    // more space.
    let target = fp_rate * 0.93;
    let mut best: Option<Shape> = None;
    for m in ROUNDS {
        let Some(blocks) = min_units(items, target, m)
            .map(|u| u * span(m))
            .filter(|&b| b <= MAX_BLOCKS)
        else {
            continue;
        };
        if best.is_none_or(|b| blocks < b.blocks) {
            best = Some(Shape { blocks, rounds: m });
        }
    }
    best
}

/// Binary search for the fewest units that reach `target` with `m` rounds.
fn min_units(items: u64, target: f64, m: u32) -> Option<u64> {
    const LIMIT: u64 = 1 << 61;
    let ok = |units: u64| expected_fp_rate(items as f64 / units as f64, m) <= target;
    let unit_bits = BLOCK_BITS as u64 * span(m);
    let mut hi = items.div_ceil(unit_bits / 64).max(1); // 64 bits per item
    while !ok(hi) {
        if hi >= LIMIT {
            return None;
        }
        hi = hi.saturating_mul(2).min(LIMIT);
    }
    let mut lo = 0; // not ok (0 blocks hold nothing)
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if ok(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_direct_poisson_sum() {
        // The log-space sum outwards from the mode against the plain forward
        // recurrence `p(j + 1) = p(j) * lambda / (j + 1)`, where that one is exact.
        for lambda in [0.5f64, 3.0, 12.5, 40.0] {
            for m in ROUNDS {
                let (q, words) = (per_word(m), WORDS as i32 * span(m) as i32);
                let mut p = (-lambda).exp();
                let mut direct = 0.0;
                for j in 0..400 {
                    let fill = 1.0 - (1.0 - 1.0 / WORD_BITS as f64).powi((q * j) as i32);
                    direct += p * word_hit(fill, q).powi(words);
                    p *= lambda / (j + 1) as f64;
                }
                let got = expected_fp_rate(lambda, m);
                assert!(
                    (got - direct).abs() <= 1e-9 * direct,
                    "lambda {lambda}, m {m}: {got} vs {direct}"
                );
            }
        }
    }

    #[test]
    fn one_percent_needs_about_ten_bits() {
        let s = shape_for(1_000_000, 0.01).unwrap();
        let bits_per_item = s.blocks as f64 * BLOCK_BITS as f64 / 1e6;
        assert_eq!(s.rounds, 1);
        assert!((10.4..11.0).contains(&bits_per_item), "{bits_per_item}");
    }

    #[test]
    fn word_hit_counts_coinciding_positions() {
        // One position: the fill itself. Two: both distinct (31/32) or one
        // bit twice (1/32).
        assert_eq!(word_hit(0.3, 1), 0.3);
        let two = 31.0 / 32.0 * 0.09 + 1.0 / 32.0 * 0.3;
        assert!((word_hit(0.3, 2) - two).abs() < 1e-15);
        // Against counting the distinct positions of every draw of three.
        let mut exact = 0.0;
        for a in 0..32u32 {
            for b in 0..32u32 {
                for c in 0..32u32 {
                    let d = (1u32 << a | 1 << b | 1 << c).count_ones();
                    exact += 0.4f64.powi(d as i32) / 32768.0;
                }
            }
        }
        assert!((word_hit(0.4, 3) - exact).abs() < 1e-12);
    }

    #[test]
    fn lower_rates_pick_more_rounds_in_a_line() {
        let s = shape_for(1_000_000, 1e-6).unwrap();
        assert_eq!(s.rounds, 2);
        assert_eq!(s.blocks % 2, 0);
        // A 512-bit line at k = 16: about 39.6 bits per item, where 256-bit
        // blocks would need about 52.
        let bits_per_item = s.blocks as f64 * BLOCK_BITS as f64 / 1e6;
        assert!((39.0..40.5).contains(&bits_per_item), "{bits_per_item}");
    }

    #[test]
    fn rate_falls_as_blocks_grow() {
        let mut last = 1.0;
        for blocks in [1_000u64, 2_000, 4_000, 8_000] {
            let r = expected_fp_rate(100_000.0 / blocks as f64, 1);
            assert!(r < last);
            last = r;
        }
    }

    #[test]
    fn absurd_sizes_are_refused_not_overflowed() {
        assert!(shape_for(u64::MAX, 1e-300).is_none());
    }

    #[test]
    fn factorial_series_is_continuous() {
        let exact: f64 = (2..=64u64).map(|i| (i as f64).ln()).sum();
        assert!((ln_factorial(64.0) - exact).abs() < 1e-9);
    }
}
