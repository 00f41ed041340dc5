//! Radius, box and ranked queries.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::hash::Hash;

use crate::geom::Cell;
use crate::knn::{check_radius, Cand, Who};
use crate::point::{chord2_to_m, m_to_chord2_bound, Point};
use crate::tree::{Kind, QuadTree};
use crate::Error;

impl<T: Copy + Eq + Hash> QuadTree<T> {
    /// Every id at most `radius_m` metres (great-circle) from `p`, nearest
    /// first (ties by insertion order), with its distance. An infinite radius
    /// returns every id. No point lies within a negative or NaN radius, so
    /// those give an empty answer; [`try_within`](Self::try_within) reports
    /// them as an error instead.
    ///
    /// ```
    /// use hld_quadtree::{Point, QuadTree};
    /// let mut t = QuadTree::new();
    /// t.insert(1u64, Point::new(51.5007, -0.1246)?); // Big Ben
    /// t.insert(2, Point::new(51.5014, -0.1419)?);    // Buckingham Palace
    /// t.insert(3, Point::new(48.8584, 2.2945)?);     // Eiffel Tower
    /// let near = t.within(Point::new(51.5033, -0.1196)?, 2_000.0);
    /// assert_eq!(near.iter().map(|&(id, _)| id).collect::<Vec<_>>(), [1, 2]);
    /// assert!(t.within(Point::new(0.0, 0.0)?, -1.0).is_empty());
    /// # Ok::<(), hld_quadtree::Error>(())
    /// ```
    pub fn within(&self, p: Point, radius_m: f64) -> Vec<(T, f64)> {
        self.try_within(p, radius_m).unwrap_or_default()
    }

    /// [`within`](Self::within) that refuses a bad radius.
    ///
    /// # Errors
    /// [`Error::InvalidRadius`] if `radius_m` is NaN or negative.
    ///
    /// ```
    /// use hld_quadtree::{Error, Point, QuadTree};
    /// let mut t = QuadTree::new();
    /// t.insert(1u64, Point::new(51.5007, -0.1246)?);
    /// assert_eq!(t.try_within(Point::new(51.5, -0.12)?, 1_000.0)?.len(), 1);
    /// assert!(matches!(
    ///     t.try_within(Point::new(0.0, 0.0)?, f64::NAN),
    ///     Err(Error::InvalidRadius(_))
    /// ));
    /// # Ok::<(), hld_quadtree::Error>(())
    /// ```
    pub fn try_within(&self, p: Point, radius_m: f64) -> Result<Vec<(T, f64)>, Error> {
        check_radius(radius_m)?;
        let mut found: Vec<(Cand<T>, f64)> = Vec::new();
        self.for_each_within(p, radius_m, |c, m| found.push((c, m)));
        found.sort_unstable_by_key(|a| a.0);
        Ok(found
            .into_iter()
            .map(|(c, m)| (self.id_of(c.who), m))
            .collect())
    }

    /// The `n` best ids within `radius_m` metres of `p` by a caller's score
    /// (highest first), e.g. places by rating: the notes' ranked proximity
    /// search. `score` gets each id in range and its distance in metres, so it
    /// can also blend rating and distance. Returns `(id, distance_m, score)`;
    /// equal scores are ordered by distance, then insertion order. A NaN score
    /// ranks below every number.
    ///
    /// # Errors
    /// [`Error::InvalidRadius`] if `radius_m` is NaN or negative.
    ///
    /// ```
    /// use hld_quadtree::{Point, QuadTree};
    /// use std::collections::HashMap;
    /// let rating: HashMap<u32, f64> = [(1, 4.1), (2, 4.8), (3, 3.9)].into();
    /// let mut t = QuadTree::new();
    /// t.insert(1u32, Point::new(37.7749, -122.4194)?);
    /// t.insert(2, Point::new(37.7790, -122.4140)?);
    /// t.insert(3, Point::new(37.7700, -122.4200)?);
    /// let top = t.top_by_score_within(Point::new(37.775, -122.418)?, 1_500.0, 2, |id, _d| rating[&id])?;
    /// assert_eq!(top.iter().map(|r| r.0).collect::<Vec<_>>(), [2, 1]);
    /// # Ok::<(), hld_quadtree::Error>(())
    /// ```
    pub fn top_by_score_within(
        &self,
        p: Point,
        radius_m: f64,
        n: usize,
        mut score: impl FnMut(T, f64) -> f64,
    ) -> Result<Vec<(T, f64, f64)>, Error> {
        check_radius(radius_m)?;
        if n == 0 {
            return Ok(Vec::new());
        }
        // A heap whose top is the worst of the n kept so far.
        let mut heap: BinaryHeap<Scored<T>> = BinaryHeap::with_capacity(n + 1);
        self.for_each_within(p, radius_m, |c, m| {
            let s = Scored {
                score: score(self.id_of(c.who), m),
                m,
                c,
            };
            if heap.len() < n {
                heap.push(s);
            } else if let Some(mut worst) = heap.peek_mut() {
                if s < *worst {
                    *worst = s;
                }
            }
        });
        Ok(heap
            .into_sorted_vec()
            .into_iter()
            .map(|s| (self.id_of(s.c.who), s.m, s.score))
            .collect())
    }

    /// Every id inside the latitude/longitude box from `south_west` to
    /// `north_east` (edges included), in no particular order.
    ///
    /// A box with `south_west.lon() > north_east.lon()` crosses the
    /// antimeridian (e.g. 170°E to 170°W). Longitudes 180 and -180 are the same
    /// meridian, and a pole is inside every box that reaches its latitude,
    /// whatever the longitudes. A box whose south edge is north of its north
    /// edge is empty.
    ///
    /// ```
    /// use hld_quadtree::{Point, QuadTree};
    /// let mut t = QuadTree::new();
    /// t.insert('a', Point::new(-17.7, 178.0)?);  // Fiji
    /// t.insert('b', Point::new(-13.8, -172.1)?); // Samoa
    /// t.insert('c', Point::new(-12.0, -77.0)?);  // Lima
    /// let mut pacific = t.in_box(Point::new(-25.0, 170.0)?, Point::new(-10.0, -170.0)?);
    /// pacific.sort();
    /// assert_eq!(pacific, ['a', 'b']);
    /// # Ok::<(), hld_quadtree::Error>(())
    /// ```
    pub fn in_box(&self, south_west: Point, north_east: Point) -> Vec<T> {
        let mut out = Vec::new();
        if south_west.lat() > north_east.lat() {
            return out;
        }
        let b = GeoBox::new(south_west, north_east);
        self.box_node(0, &b, &mut out);
        out
    }

    /// Calls `f` with every point whose distance is `<= radius_m` (unordered).
    pub(crate) fn for_each_within(&self, p: Point, radius_m: f64, mut f: impl FnMut(Cand<T>, f64)) {
        if self.is_empty() {
            return;
        }
        let q = p.unit();
        let bound = m_to_chord2_bound(radius_m);
        let mut stack = vec![0u32];
        while let Some(node) = stack.pop() {
            match self.hot[node as usize].kind() {
                Kind::Internal { first } => {
                    for c in first..first + 4 {
                        if self.hot[c as usize].min_chord2(&q) <= bound {
                            stack.push(c);
                        }
                    }
                }
                Kind::Flat(s) => {
                    let [xs, ys, zs, seqs] = self.arena.lanes(&s);
                    for i in 0..xs.len() {
                        let d2 = crate::point::chord2(&q, &[xs[i], ys[i], zs[i]]);
                        if d2 <= bound {
                            let m = chord2_to_m(d2);
                            if m <= radius_m {
                                let who = Who::Slot(s.off + i as u32);
                                f(
                                    Cand {
                                        d2,
                                        seq: seqs[i].to_bits(),
                                        who,
                                    },
                                    m,
                                );
                            }
                        }
                    }
                }
                Kind::Capped { leaf } => {
                    for g in self.capped[leaf as usize].live_groups() {
                        let d2 = crate::point::chord2(&q, &g.u);
                        if d2 <= bound {
                            let m = chord2_to_m(d2);
                            if m <= radius_m {
                                for (&seq, &id) in &g.members {
                                    f(
                                        Cand {
                                            d2,
                                            seq,
                                            who: Who::Id(id),
                                        },
                                        m,
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn box_node(&self, node: u32, b: &GeoBox, out: &mut Vec<T>) {
        let cell = &self.nodes[node as usize].cell;
        if !b.touches(cell) {
            return;
        }
        if b.holds(cell) {
            return self.all_below(node, out);
        }
        match self.hot[node as usize].kind() {
            Kind::Internal { first } => {
                for c in first..first + 4 {
                    self.box_node(c, b, out);
                }
            }
            Kind::Flat(s) => out.extend(
                self.arena
                    .entries(&s)
                    .iter()
                    .filter(|e| b.contains(&e.pt))
                    .map(|e| e.id),
            ),
            Kind::Capped { leaf } => {
                for g in self.capped[leaf as usize].live_groups() {
                    if b.contains(&g.pt) {
                        out.extend(g.members.values().copied());
                    }
                }
            }
        }
    }

    fn all_below(&self, node: u32, out: &mut Vec<T>) {
        match self.hot[node as usize].kind() {
            Kind::Internal { first } => {
                for c in first..first + 4 {
                    self.all_below(c, out);
                }
            }
            Kind::Flat(s) => out.extend(self.arena.entries(&s).iter().map(|e| e.id)),
            Kind::Capped { leaf } => {
                for g in self.capped[leaf as usize].live_groups() {
                    out.extend(g.members.values().copied());
                }
            }
        }
    }
}

/// A query box: a latitude range and one or two longitude ranges.
struct GeoBox {
    lat_lo: f64,
    lat_hi: f64,
    /// One range, or two when the box crosses the antimeridian; the second is
    /// then `-180..=lon_hi` and the first `lon_lo..=180`.
    lons: [(f64, f64); 2],
    n_lons: usize,
}

impl GeoBox {
    fn new(sw: Point, ne: Point) -> GeoBox {
        let (lons, n_lons) = if sw.lon() <= ne.lon() {
            ([(sw.lon(), ne.lon()), (0.0, 0.0)], 1)
        } else {
            ([(sw.lon(), 180.0), (-180.0, ne.lon())], 2)
        };
        GeoBox {
            lat_lo: sw.lat(),
            lat_hi: ne.lat(),
            lons,
            n_lons,
        }
    }

    fn lon_ranges(&self) -> &[(f64, f64)] {
        &self.lons[..self.n_lons]
    }

    fn has_lon(&self, lon: f64) -> bool {
        self.lon_ranges().iter().any(|&(a, b)| a <= lon && lon <= b)
    }

    /// Membership of a point: 180 and -180 are one meridian; a pole has every
    /// longitude.
    fn contains(&self, p: &Point) -> bool {
        let (lat, lon) = (p.lat(), p.lon());
        if lat < self.lat_lo || lat > self.lat_hi {
            return false;
        }
        lat.abs() == 90.0
            || self.has_lon(lon)
            || (lon == 180.0 && self.has_lon(-180.0))
            || (lon == -180.0 && self.has_lon(180.0))
    }

    /// Whether some point of the cell might be in the box (conservative).
    fn touches(&self, c: &Cell) -> bool {
        if c.lat_lo > self.lat_hi || c.lat_hi < self.lat_lo {
            return false;
        }
        self.lon_ranges()
            .iter()
            .any(|&(a, b)| c.lon_lo <= b && a <= c.lon_hi)
            || (self.lat_hi == 90.0 && c.lat_hi == 90.0)
            || (self.lat_lo == -90.0 && c.lat_lo == -90.0)
            || (c.lon_hi == 180.0 && self.has_lon(-180.0))
            || (c.lon_lo == -180.0 && self.has_lon(180.0))
    }

    /// Whether every point of the cell is in the box.
    fn holds(&self, c: &Cell) -> bool {
        self.lat_lo <= c.lat_lo
            && c.lat_hi <= self.lat_hi
            && self
                .lon_ranges()
                .iter()
                .any(|&(a, b)| a <= c.lon_lo && c.lon_hi <= b)
    }
}

/// A candidate of a ranked query, ordered worst-last: higher score first, then
/// nearer, then earlier.
struct Scored<T> {
    score: f64,
    m: f64,
    c: Cand<T>,
}

fn cmp_score(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.total_cmp(&b),
    }
}

impl<T> Ord for Scored<T> {
    fn cmp(&self, o: &Self) -> Ordering {
        cmp_score(o.score, self.score).then_with(|| self.c.cmp(&o.c))
    }
}
impl<T> PartialOrd for Scored<T> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> PartialEq for Scored<T> {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl<T> Eq for Scored<T> {}
