//! Validated coordinates and the great-circle metric.
//!
//! Distances are great-circle distances on a sphere of radius
//! [`EARTH_RADIUS_M`]. They are computed from the chord between the two points'
//! unit vectors: with `c` the chord length on the unit sphere, the haversine
//! quantity is `h = sin²(θ/2) = c²/4`, so `d = 2R·asin(√h) = 2R·asin(c/2)` is
//! exactly the haversine distance. The chord is computed from coordinate
//! differences, which keeps haversine's accuracy at short range (no `1 - cos θ`
//! cancellation), and it lets the index compare squared chords (three
//! multiply-adds per point, no trigonometry) and convert only the answers to
//! metres.

/// Mean Earth radius in metres: the IUGG mean radius R1 = (2a + b) / 3 of the
/// WGS 84 ellipsoid (Moritz, "Geodetic Reference System 1980", Bulletin
/// Géodésique 54, 1980), the value most haversine libraries use.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A position on the Earth: latitude and longitude in degrees (WGS 84 as a
/// sphere).
///
/// A `Point` is always valid: latitude within `-90..=90`, longitude within
/// `-180..=180`, never NaN. `-0.0` is stored as `0.0`, so `Eq` and `Hash`
/// agree.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "RawPoint", into = "RawPoint")
)]
pub struct Point {
    lat: f64,
    lon: f64,
}

impl Eq for Point {}

impl std::hash::Hash for Point {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.lat.to_bits().hash(state);
        self.lon.to_bits().hash(state);
    }
}

impl Point {
    /// A point at `lat`, `lon` degrees.
    ///
    /// # Errors
    /// [`Error::InvalidLatitude`](crate::Error::InvalidLatitude) unless
    /// `-90 <= lat <= 90`, [`Error::InvalidLongitude`](crate::Error::InvalidLongitude)
    /// unless `-180 <= lon <= 180` (NaN and infinities fail both).
    ///
    /// ```
    /// use hld_quadtree::Point;
    /// let paris = Point::new(48.8566, 2.3522)?;
    /// assert_eq!(paris.lat(), 48.8566);
    /// assert!(Point::new(91.0, 0.0).is_err());
    /// assert!(Point::new(0.0, f64::NAN).is_err());
    /// # Ok::<(), hld_quadtree::Error>(())
    /// ```
    pub fn new(lat: f64, lon: f64) -> Result<Point, crate::Error> {
        if !(-90.0..=90.0).contains(&lat) {
            return Err(crate::Error::InvalidLatitude(lat));
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(crate::Error::InvalidLongitude(lon));
        }
        // `x + 0.0` turns -0.0 into 0.0 and leaves every other value alone.
        Ok(Point {
            lat: lat + 0.0,
            lon: lon + 0.0,
        })
    }

    /// Latitude in degrees, within `-90..=90`.
    #[inline]
    pub fn lat(&self) -> f64 {
        self.lat
    }

    /// Longitude in degrees, within `-180..=180`.
    #[inline]
    pub fn lon(&self) -> f64 {
        self.lon
    }

    /// Great-circle distance to `other` in metres (the haversine distance on a
    /// sphere of radius [`EARTH_RADIUS_M`]). Queries report exactly this value.
    ///
    /// ```
    /// use hld_quadtree::Point;
    /// let london = Point::new(51.5074, -0.1278)?;
    /// let paris = Point::new(48.8566, 2.3522)?;
    /// let d = london.distance_m(&paris);
    /// assert!((d - 343_900.0).abs() < 1_000.0);
    /// # Ok::<(), hld_quadtree::Error>(())
    /// ```
    #[inline]
    pub fn distance_m(&self, other: &Point) -> f64 {
        chord2_to_m(chord2(&self.unit(), &other.unit()))
    }

    /// The unit vector (x towards 0°N 0°E, y towards 0°N 90°E, z towards the
    /// north pole).
    #[inline]
    pub(crate) fn unit(&self) -> [f64; 3] {
        unit(self.lat, self.lon)
    }
}

/// The unit vector of `lat`, `lon` degrees.
#[inline]
pub(crate) fn unit(lat: f64, lon: f64) -> [f64; 3] {
    // Degrees reduced exactly, not `to_radians().sin_cos()`: see `trig`.
    let (sin_lat, cos_lat) = crate::trig::sin_cos_deg(lat);
    let (sin_lon, cos_lon) = crate::trig::sin_cos_deg(lon);
    [cos_lat * cos_lon, cos_lat * sin_lon, sin_lat]
}

/// Squared chord between two unit vectors. The index's leaf scans compute the
/// very same expression, in the same order, so their answers are bit-identical
/// to [`Point::distance_m`].
#[inline(always)]
pub(crate) fn chord2(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    let dx = a[0] - b[0];
    let dy = a[1] - b[1];
    let dz = a[2] - b[2];
    dx * dx + dy * dy + dz * dz
}

/// Metres along the great circle for a squared chord on the unit sphere.
#[inline]
pub(crate) fn chord2_to_m(c2: f64) -> f64 {
    2.0 * EARTH_RADIUS_M * (c2.sqrt() * 0.5).min(1.0).asin()
}

/// The squared chord of a great-circle distance of `m` metres (`m >= 0`),
/// enlarged by a few ulps so that every point whose distance in metres is
/// `<= m` passes a `chord2 <= threshold` pre-filter; callers confirm with
/// [`chord2_to_m`]. Anything at or past half the circumference gives 4 (the
/// antipode), or infinity for an infinite radius.
#[inline]
pub(crate) fn m_to_chord2_bound(m: f64) -> f64 {
    if m.is_infinite() {
        return f64::INFINITY;
    }
    let theta = m / EARTH_RADIUS_M;
    if theta >= std::f64::consts::PI {
        return 4.0 + 1e-9;
    }
    let c = 2.0 * (theta * 0.5).sin();
    // Relative slack 1e-9 dwarfs the few-ulp errors of sin/asin/sqrt; the
    // absolute 1e-24 keeps a zero radius matching exact duplicates.
    c * c * (1.0 + 1e-9) + 1e-24
}

#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
struct RawPoint {
    lat: f64,
    lon: f64,
}

#[cfg(feature = "serde")]
impl TryFrom<RawPoint> for Point {
    type Error = crate::Error;
    fn try_from(r: RawPoint) -> Result<Point, crate::Error> {
        Point::new(r.lat, r.lon)
    }
}

#[cfg(feature = "serde")]
impl From<Point> for RawPoint {
    fn from(p: Point) -> RawPoint {
        RawPoint {
            lat: p.lat,
            lon: p.lon,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_coordinates() {
        for (lat, lon) in [
            (f64::NAN, 0.0),
            (0.0, f64::NAN),
            (90.000001, 0.0),
            (-90.000001, 0.0),
            (0.0, 180.000001),
            (0.0, -180.000001),
            (f64::INFINITY, 0.0),
            (0.0, f64::NEG_INFINITY),
        ] {
            assert!(Point::new(lat, lon).is_err(), "{lat} {lon}");
        }
        for (lat, lon) in [(90.0, 180.0), (-90.0, -180.0), (0.0, 0.0)] {
            assert!(Point::new(lat, lon).is_ok());
        }
    }

    #[test]
    fn negative_zero_is_normalised() {
        let a = Point::new(-0.0, -0.0).unwrap();
        assert!(a.lat().is_sign_positive() && a.lon().is_sign_positive());
    }

    #[test]
    fn known_distances() {
        let p = |a, b| Point::new(a, b).unwrap();
        // A quarter of the meridian.
        let q = p(0.0, 0.0).distance_m(&p(90.0, 0.0));
        assert!((q - EARTH_RADIUS_M * std::f64::consts::FRAC_PI_2).abs() < 1e-6);
        // Across the antimeridian: one degree of longitude at the equator.
        let d = p(0.0, 179.5).distance_m(&p(0.0, -179.5));
        assert!((d - EARTH_RADIUS_M * 1f64.to_radians()).abs() < 1e-6);
        // Antipodes: asin is ill-conditioned at 1, as in the haversine
        // formula itself; the error stays around a decimetre in 20,000 km.
        let a = p(10.0, 20.0).distance_m(&p(-10.0, -160.0));
        assert!((a - EARTH_RADIUS_M * std::f64::consts::PI).abs() < 0.5);
        // Both poles are one point whatever the longitude.
        assert!(p(90.0, 10.0).distance_m(&p(90.0, -170.0)) < 1e-6);
    }

    #[test]
    fn radius_bound_covers_the_distance() {
        let a = Point::new(-89.0, 34.0).unwrap();
        for m in [0.0, 1e-3, 1.0, 1234.5, 1e6, 1.9e7] {
            // A point straight north at about m metres.
            let b = Point::new(-89.0 + (m / EARTH_RADIUS_M).to_degrees(), 34.0).unwrap();
            let d = a.distance_m(&b);
            let c2 = chord2(&a.unit(), &b.unit());
            assert!(c2 <= m_to_chord2_bound(d), "{m}");
        }
    }
}
