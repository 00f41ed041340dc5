//! Cells of the quadtree.
//!
//! A cell is a latitude/longitude rectangle obtained by halving the world
//! (`-90..=90` × `-180..=180`) `depth` times, so no cell ever crosses the
//! antimeridian. Cells decide where a point goes; pruning uses 3-D boxes of
//! the points themselves (see `tree::Hot`).

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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
