//! Sine and cosine of an angle in degrees, for the unit vectors.
//!
//! Every insert, move and query turns a latitude and a longitude into a unit
//! vector: two sine/cosine pairs. Through `to_radians().sin_cos()` those two
//! calls were about 40% of a move's instructions (callgrind), because the
//! library routine must first reduce any radian argument modulo π/2.
//!
//! Here the argument is in degrees and small (`|x| <= 180`), so the reduction
//! is exact and cheap: `x = 90·n + r` with `|r| <= 45` (see [`sin_cos_deg`]
//! for why the subtraction is exact), then one rounding to radians and two
//! short polynomials on `|t| <= π/4`. The result is within a couple of ulps
//! of the true sine and cosine of `x` degrees, and is exact where it should
//! be: `sin 0 = 0`, `cos 90 = 0`, `sin 90 = 1`, `cos 180 = -1` (the library
//! route gives `cos 90° = 6.1e-17`, because `90.to_radians()` is not π/2).
//! The tests check it against `f64::sin_cos` on many angles.

/// π/180 rounded to the nearest `f64` (the same constant `f64::to_radians`
/// multiplies by).
const RAD_PER_DEG: f64 = std::f64::consts::PI / 180.0;

/// Minimax coefficients of `sin t ≈ t + t³·(S1 + t²·S2 + ... + t¹⁰·S6)` on
/// `|t| <= π/4`, error below 2^-58 relative: fdlibm's `k_sin.c` (Sun
/// Microsystems, 1993; the same constants are in musl and in Go's and
/// Rust's `libm`), written as the shortest decimals that round to the same
/// `f64`s.
const S1: f64 = -0.16666666666666632;
const S2: f64 = 0.00833333333332249;
const S3: f64 = -0.0001984126982985795;
const S4: f64 = 2.7557313707070068e-06;
const S5: f64 = -2.5050760253406863e-08;
const S6: f64 = 1.58969099521155e-10;

/// Minimax coefficients of `cos t ≈ 1 - t²/2 + t⁴·(C1 + t²·C2 + ... +
/// t¹⁰·C6)` on `|t| <= π/4`, error below 2^-58: fdlibm's `k_cos.c` (same
/// source and form as the sine's).
const C1: f64 = 0.0416666666666666;
const C2: f64 = -0.001388888888887411;
const C3: f64 = 2.480158728947673e-05;
const C4: f64 = -2.7557314351390663e-07;
const C5: f64 = 2.087572321298175e-09;
const C6: f64 = -1.1359647557788195e-11;

/// `1.5 · 2^52`: adding and subtracting it rounds an `f64` of magnitude below
/// 2^51 to the nearest integer (ties to even), without a call to `round`
/// (which baseline x86-64 has no instruction for).
const ROUNDER: f64 = 6_755_399_441_055_744.0;

/// Sine of `t` radians, `|t| <= π/4` (a hair more is fine).
#[inline(always)]
fn sin_kernel(t: f64) -> f64 {
    let z = t * t;
    let r = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)));
    t + t * z * (S1 + z * r)
}

/// Cosine of `t` radians, `|t| <= π/4`. `1 - z/2` is formed so that its
/// rounding error is added back (`(1 - w) - z/2` is exact), as fdlibm does.
#[inline(always)]
fn cos_kernel(t: f64) -> f64 {
    let z = t * t;
    let r = z * (C1 + z * (C2 + z * C3)) + (z * z) * (z * z) * (C4 + z * (C5 + z * C6));
    let hz = 0.5 * z;
    let w = 1.0 - hz;
    w + (((1.0 - w) - hz) + z * r)
}

/// `(sin x, cos x)` for `x` in degrees, `|x| <= 180` (latitudes and
/// longitudes; larger magnitudes lose accuracy but stay finite).
///
/// `n = round(x / 90)` and `r = x - 90·n` with `|r| <= 45` (up to rounding of
/// the quotient, which only moves `|r|` a hair past 45). The subtraction is
/// exact: for `n = ±1` both operands are within a factor of two of each
/// other (`45 <= |x| <= 180`), for `n = ±2` likewise (`90 <= |x| <= 360`),
/// so Sterbenz's lemma applies, and `90·n` is exact. The only rounding
/// before the polynomials is `r · π/180`.
#[inline]
pub(crate) fn sin_cos_deg(x: f64) -> (f64, f64) {
    let n = (x * (1.0 / 90.0) + ROUNDER) - ROUNDER;
    let r = x - n * 90.0;
    let t = r * RAD_PER_DEG;
    let (s, c) = (sin_kernel(t).to_bits(), cos_kernel(t).to_bits());
    // sin(r + 90n), cos(r + 90n) by the quadrant q = n mod 4: (s, c),
    // (c, -s), (-s, -c), (-c, s). Done with bit masks rather than a match:
    // a longitude's quadrant is a coin toss for the branch predictor.
    let q = n as i64 as u64;
    let odd = 0u64.wrapping_sub(q & 1); // all ones for q = 1, 3: swap
    let (a, b) = ((s & !odd) | (c & odd), (c & !odd) | (s & odd));
    let sin_sign = (q & 2) << 62; // q = 2, 3
    let cos_sign = (q.wrapping_add(1) & 2) << 62; // q = 1, 2
    (f64::from_bits(a ^ sin_sign), f64::from_bits(b ^ cos_sign))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Largest absolute error against the library over `xs`.
    fn max_err(xs: impl Iterator<Item = f64>) -> f64 {
        let mut worst = 0.0f64;
        for x in xs {
            let (s, c) = sin_cos_deg(x);
            let (ls, lc) = x.to_radians().sin_cos();
            worst = worst.max((s - ls).abs()).max((c - lc).abs());
        }
        worst
    }

    #[test]
    fn exact_at_the_quadrant_points() {
        assert_eq!(sin_cos_deg(0.0), (0.0, 1.0));
        assert_eq!(sin_cos_deg(90.0), (1.0, 0.0));
        assert_eq!(sin_cos_deg(-90.0), (-1.0, 0.0));
        let (s, c) = sin_cos_deg(180.0);
        assert_eq!((s.abs(), c), (0.0, -1.0));
        let (s, c) = sin_cos_deg(-180.0);
        assert_eq!((s.abs(), c), (0.0, -1.0));
    }

    #[test]
    fn matches_the_library_on_a_fine_grid() {
        // Every 1/1000 degree over the whole range, plus the octant edges
        // and their neighbours.
        let grid = (-180_000..=180_000).map(|i| i as f64 / 1000.0);
        assert!(max_err(grid) <= 1e-15);
        let edges = (-8..=8).flat_map(|k| {
            let e = k as f64 * 22.5;
            [e.next_down(), e, e.next_up()]
        });
        assert!(max_err(edges.filter(|x| x.abs() <= 180.0)) <= 1e-15);
    }

    /// Distance in ulps between two finite `f64`s of the same sign.
    fn ulps(a: f64, b: f64) -> u64 {
        a.to_bits().abs_diff(b.to_bits())
    }

    proptest::proptest! {
        #[test]
        fn close_to_the_library(x in -180.0f64..=180.0) {
            let (s, c) = sin_cos_deg(x);
            let (ls, lc) = x.to_radians().sin_cos();
            // The library's argument is x·π/180 rounded once, which alone
            // moves its answer by up to |x·π/180|·2^-53 (3.5e-16 at 180°).
            proptest::prop_assert!((s - ls).abs() <= 1e-15, "sin {} {} {}", x, s, ls);
            proptest::prop_assert!((c - lc).abs() <= 1e-15, "cos {} {} {}", x, c, lc);
            // Within the first octant both round x·π/180 the same way, so
            // the answers agree to a couple of ulps, relative.
            if x.abs() <= 45.0 && x != 0.0 {
                proptest::prop_assert!(ulps(s, ls) <= 2, "sin {} {} {}", x, s, ls);
                proptest::prop_assert!(ulps(c, lc) <= 2, "cos {} {} {}", x, c, lc);
            }
        }
    }

    #[test]
    fn tiny_angles_keep_their_precision() {
        for x in [1e-300, 1e-12, 3e-8, -2e-5] {
            let (s, c) = sin_cos_deg(x);
            let (ls, lc) = x.to_radians().sin_cos();
            assert!((s - ls).abs() <= ls.abs() * 2.3e-16, "{x}");
            assert_eq!(c, lc, "{x}");
        }
    }
}
