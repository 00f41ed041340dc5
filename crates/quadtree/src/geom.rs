//! Cells of the quadtree and the lower bound from a point to a cell.
//!
//! A cell is a latitude/longitude rectangle obtained by halving the world
//! (`-90..=90` × `-180..=180`) `depth` times, so no cell ever crosses the
//! antimeridian. For pruning, each cell also carries the axis-aligned box of its
//! patch of the unit sphere in 3-D (x, y, z). Every point of the cell lies in that
//! box, so the Euclidean distance from a query's unit vector to the box is a
//! lower bound on the chord to any point of the cell, and the chord orders
//! points exactly as the great-circle distance does. The bound needs no special
//! case at the antimeridian (it is a 3-D box) or at the poles (a polar cell's box
//! simply contains the pole), and it costs six comparisons.

/// A latitude/longitude rectangle in degrees. Points belong to a cell when
/// `lat_lo <= lat < lat_hi` and `lon_lo <= lon < lon_hi`, except that the
/// world's upper edges (`lat == 90`, `lon == 180`) belong to the cells touching
/// them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Cell {
    pub lat_lo: f64,
    pub lat_hi: f64,
    pub lon_lo: f64,
    pub lon_hi: f64,
}

impl Cell {
    pub const WORLD: Cell = Cell {
        lat_lo: -90.0,
        lat_hi: 90.0,
        lon_lo: -180.0,
        lon_hi: 180.0,
    };

    /// The cell at `depth` whose south-west corner is `ilat`, `ilon` cell
    /// heights and widths from the world's. Every bound is a multiple of
    /// 45·2^-28 degrees below 2^8 in magnitude, hence exact in `f64`, and
    /// equal to the bound reached by halving.
    #[inline]
    pub fn from_key(depth: u8, ilat: u32, ilon: u32) -> Cell {
        // 2^-depth straight from its exponent bits (depth <= 30), so the
        // cell's size is two exact multiplications rather than divisions on
        // a move's path.
        let inv_scale = f64::from_bits((1023 - depth as u64) << 52);
        let (h, w) = (180.0 * inv_scale, 360.0 * inv_scale);
        let lat_lo = -90.0 + ilat as f64 * h;
        let lon_lo = -180.0 + ilon as f64 * w;
        Cell {
            lat_lo,
            lat_hi: lat_lo + h,
            lon_lo,
            lon_hi: lon_lo + w,
        }
    }

    /// The inverse of [`Cell::from_key`] for a cell at `depth`.
    #[inline]
    pub fn key(&self, depth: u8) -> (u32, u32) {
        let scale = (1u64 << depth) as f64;
        // (lat_lo + 90) / 180 is exactly k / 2^depth, so this is exact.
        (
            ((self.lat_lo + 90.0) / 180.0 * scale) as u32,
            ((self.lon_lo + 180.0) / 360.0 * scale) as u32,
        )
    }

    #[inline]
    pub fn mid_lat(&self) -> f64 {
        (self.lat_lo + self.lat_hi) * 0.5
    }

    #[inline]
    pub fn mid_lon(&self) -> f64 {
        (self.lon_lo + self.lon_hi) * 0.5
    }

    /// Which child (0..4) holds `lat`, `lon`: bit 1 = northern half, bit 0 =
    /// eastern half.
    #[inline]
    pub fn quadrant(&self, lat: f64, lon: f64) -> usize {
        (((lat >= self.mid_lat()) as usize) << 1) | (lon >= self.mid_lon()) as usize
    }

    /// The child cell `q` (see [`Cell::quadrant`]). Halving is exact in binary
    /// floating point, so children tile their parent without gaps.
    #[inline]
    pub fn child(&self, q: usize) -> Cell {
        let (ml, mn) = (self.mid_lat(), self.mid_lon());
        let (lat_lo, lat_hi) = if q & 2 != 0 {
            (ml, self.lat_hi)
        } else {
            (self.lat_lo, ml)
        };
        let (lon_lo, lon_hi) = if q & 1 != 0 {
            (mn, self.lon_hi)
        } else {
            (self.lon_lo, mn)
        };
        Cell {
            lat_lo,
            lat_hi,
            lon_lo,
            lon_hi,
        }
    }

    /// Whether the point belongs to this cell (half-open, closed at the world's
    /// north and east edges), consistent with descending by [`Cell::quadrant`].
    #[inline]
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        lat >= self.lat_lo
            && (lat < self.lat_hi || (self.lat_hi == 90.0 && lat == 90.0))
            && lon >= self.lon_lo
            && (lon < self.lon_hi || (self.lon_hi == 180.0 && lon == 180.0))
    }

    /// The 3-D box around this cell's patch of the unit sphere, widened by a
    /// margin that absorbs rounding in the points' own unit vectors.
    pub fn aabb(&self) -> Aabb {
        let (p1, p2) = (self.lat_lo.to_radians(), self.lat_hi.to_radians());
        let (l1, l2) = (self.lon_lo.to_radians(), self.lon_hi.to_radians());
        let (s1, c1) = p1.sin_cos();
        let (s2, c2) = p2.sin_cos();
        // cos(lat) over [p1, p2]: largest where |lat| is smallest.
        let cos_lat_lo = c1.min(c2);
        let cos_lat_hi = if p1 <= 0.0 && 0.0 <= p2 {
            1.0
        } else {
            c1.max(c2)
        };
        let (sl1, cl1) = l1.sin_cos();
        let (sl2, cl2) = l2.sin_cos();
        let half_pi = std::f64::consts::FRAC_PI_2;
        // Extremes of cos and sin over [l1, l2] are at the ends or where the
        // interval crosses 0 / ±180 (cos) and ±90 (sin).
        let cos_lon_hi = if self.lon_lo <= 0.0 && 0.0 <= self.lon_hi {
            1.0
        } else {
            cl1.max(cl2)
        };
        let cos_lon_lo = if self.lon_lo == -180.0 || self.lon_hi == 180.0 {
            -1.0
        } else {
            cl1.min(cl2)
        };
        let sin_lon_hi = if l1 <= half_pi && half_pi <= l2 {
            1.0
        } else {
            sl1.max(sl2)
        };
        let sin_lon_lo = if l1 <= -half_pi && -half_pi <= l2 {
            -1.0
        } else {
            sl1.min(sl2)
        };
        // x = cos(lat)·cos(lon), y = cos(lat)·sin(lon) with cos(lat) >= 0: the
        // extremes of a product of ranges are at its corners.
        let x_lo = (cos_lat_lo * cos_lon_lo).min(cos_lat_hi * cos_lon_lo);
        let x_hi = (cos_lat_lo * cos_lon_hi).max(cos_lat_hi * cos_lon_hi);
        let y_lo = (cos_lat_lo * sin_lon_lo).min(cos_lat_hi * sin_lon_lo);
        let y_hi = (cos_lat_lo * sin_lon_hi).max(cos_lat_hi * sin_lon_hi);
        // 1e-12 on the unit sphere is 6 µm on the Earth: far above the ~1e-16
        // rounding of sin_cos and the products, far below anything that would
        // weaken pruning.
        const MARGIN: f64 = 1e-12;
        Aabb {
            lo: [x_lo - MARGIN, y_lo - MARGIN, s1 - MARGIN],
            hi: [x_hi + MARGIN, y_hi + MARGIN, s2 + MARGIN],
        }
    }
}

/// An axis-aligned box in 3-D around a cell's patch of the unit sphere.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Aabb {
    pub lo: [f64; 3],
    pub hi: [f64; 3],
}

impl Aabb {
    /// Squared Euclidean distance from `q` to the box: a lower bound on the
    /// squared chord from `q` to every point of the cell. (The tree keeps
    /// these boxes as `f32`, see `tree::Hot`; this is the exact version the
    /// tests check the geometry with.)
    #[cfg(test)]
    pub fn min_chord2(&self, q: &[f64; 3]) -> f64 {
        let mut s = 0.0;
        for ((&lo, &hi), &x) in self.lo.iter().zip(&self.hi).zip(q) {
            let d = (lo - x).max(x - hi).max(0.0);
            s += d * d;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::point::{chord2, unit};

    fn cells(depth: u32) -> Vec<Cell> {
        let mut v = vec![Cell::WORLD];
        for _ in 0..depth {
            v = v
                .iter()
                .flat_map(|c| (0..4).map(move |q| c.child(q)))
                .collect();
        }
        v
    }

    #[test]
    fn keys_round_trip() {
        let mut v = vec![(Cell::WORLD, 0u8)];
        for d in 0..30u8 {
            // Follow a zig-zag path down to the depth cap.
            let (c, _) = v[v.len() - 1];
            v.push((c.child((d as usize * 7) % 4), d + 1));
        }
        for (c, d) in v {
            let (a, b) = c.key(d);
            assert_eq!(Cell::from_key(d, a, b), c, "depth {d}");
        }
    }

    #[test]
    fn children_tile_the_parent() {
        for c in cells(3) {
            for (lat, lon) in [(c.lat_lo, c.lon_lo), (c.mid_lat(), c.mid_lon())] {
                let q = c.quadrant(lat, lon);
                assert!(c.child(q).contains(lat, lon));
                for o in 0..4 {
                    if o != q {
                        assert!(!c.child(o).contains(lat, lon));
                    }
                }
            }
        }
        assert!(Cell::WORLD.contains(90.0, 180.0));
        assert!(Cell::WORLD.child(3).contains(90.0, 180.0));
    }

    #[test]
    fn box_holds_every_point_of_its_cell() {
        // Sample each cell densely, including its edges and corners; the box
        // must hold every sample (so the bound is never too large).
        for c in cells(2).into_iter().chain(cells(4)) {
            let b = c.aabb();
            for i in 0..=16 {
                for j in 0..=16 {
                    let lat = c.lat_lo + (c.lat_hi - c.lat_lo) * i as f64 / 16.0;
                    let lon = c.lon_lo + (c.lon_hi - c.lon_lo) * j as f64 / 16.0;
                    let u = unit(lat, lon);
                    assert_eq!(b.min_chord2(&u), 0.0, "{c:?} {lat} {lon}");
                }
            }
        }
    }

    #[test]
    fn bound_never_exceeds_a_true_distance() {
        let qs = [
            (0.0, 179.9),
            (89.99, 0.0),
            (-89.99, 45.0),
            (10.0, -180.0),
            (0.0, 0.0),
        ];
        for c in cells(3) {
            let b = c.aabb();
            for &(qlat, qlon) in &qs {
                let q = unit(qlat, qlon);
                let lb = b.min_chord2(&q);
                for i in 0..=8 {
                    for j in 0..=8 {
                        let lat = c.lat_lo + (c.lat_hi - c.lat_lo) * i as f64 / 8.0;
                        let lon = c.lon_lo + (c.lon_hi - c.lon_lo) * j as f64 / 8.0;
                        assert!(lb <= chord2(&q, &unit(lat, lon)));
                    }
                }
            }
        }
    }
}
