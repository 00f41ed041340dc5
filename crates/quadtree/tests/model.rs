//! Model tests: every query against a brute-force scan with an independent
//! textbook haversine, on points crowded at the antimeridian, the poles and on
//! exact duplicates; and churned trees against freshly built ones.

use std::collections::{BTreeMap, HashSet};

use hld_quadtree::{Error, Point, QuadTree, EARTH_RADIUS_M};
use proptest::prelude::*;

/// The textbook haversine formula, written independently of the crate.
fn haversine(a: Point, b: Point) -> f64 {
    let (p1, p2) = (a.lat().to_radians(), b.lat().to_radians());
    let dp = p2 - p1;
    let dl = (b.lon() - a.lon()).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// How far two correct great-circle computations may disagree: about a
/// micrometre at short range; near the antipode both formulas lose precision
/// (asin is ill-conditioned at 1), up to a decimetre or so.
fn tol(d: f64) -> f64 {
    1e-6 + 5e-8 * d
}

fn lat() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -90.0..=90.0f64,
        2 => (0.0..1e-3f64).prop_map(|d| 90.0 - d),
        2 => (0.0..1e-3f64).prop_map(|d| -90.0 + d),
        1 => Just(90.0),
        1 => Just(-90.0),
        1 => -1e-3..1e-3f64,
    ]
}

fn lon() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -180.0..=180.0f64,
        2 => (0.0..1e-2f64).prop_map(|d| 180.0 - d),
        2 => (0.0..1e-2f64).prop_map(|d| -180.0 + d),
        1 => Just(180.0),
        1 => Just(-180.0),
        1 => -1e-3..1e-3f64,
    ]
}

fn point() -> impl Strategy<Value = Point> {
    prop_oneof![
        6 => (lat(), lon()).prop_map(|(a, b)| Point::new(a, b).unwrap()),
        // Exact duplicates.
        1 => Just(Point::new(10.0, 20.0).unwrap()),
        1 => Just(Point::new(-45.0, 180.0).unwrap()),
        // A tight cluster (deep subtrees).
        1 => (0.0..1e-6f64, 0.0..1e-6f64).prop_map(|(a, b)| Point::new(48.0 + a, 2.0 + b).unwrap()),
    ]
}

fn points(max: usize) -> impl Strategy<Value = Vec<Point>> {
    prop::collection::vec(point(), 0..max)
}

fn capacity() -> impl Strategy<Value = usize> {
    prop_oneof![Just(1usize), Just(2), Just(4), Just(32), Just(500)]
}

fn build(pts: &[Point], capacity: usize) -> QuadTree<u32> {
    let mut t = QuadTree::with_leaf_capacity(capacity).unwrap();
    for (i, &p) in pts.iter().enumerate() {
        t.insert(i as u32, p);
    }
    t
}

/// kNN answer against brute force: the right count, distinct real ids, each
/// reported distance true, and the sorted distances those of the k nearest.
fn check_nearest(
    pts: &[Point],
    q: Point,
    k: usize,
    got: &[(u32, f64)],
) -> Result<(), TestCaseError> {
    let mut all: Vec<f64> = pts.iter().map(|&p| haversine(q, p)).collect();
    all.sort_by(f64::total_cmp);
    prop_assert_eq!(got.len(), k.min(pts.len()));
    let mut seen = HashSet::new();
    for (i, &(id, d)) in got.iter().enumerate() {
        prop_assert!(seen.insert(id), "id {} twice", id);
        let truth = haversine(q, pts[id as usize]);
        prop_assert!(
            (d - truth).abs() <= tol(truth),
            "id {}: {} vs {}",
            id,
            d,
            truth
        );
        prop_assert!(
            (d - all[i]).abs() <= tol(all[i]),
            "rank {}: {} vs {}",
            i,
            d,
            all[i]
        );
        if i > 0 {
            prop_assert!(got[i - 1].1 <= d);
        }
    }
    Ok(())
}

fn check_within(pts: &[Point], q: Point, r: f64, got: &[(u32, f64)]) -> Result<(), TestCaseError> {
    let ids: HashSet<u32> = got.iter().map(|x| x.0).collect();
    prop_assert_eq!(ids.len(), got.len());
    for (i, &p) in pts.iter().enumerate() {
        let d = haversine(q, p);
        if d < r - tol(d) {
            prop_assert!(
                ids.contains(&(i as u32)),
                "missing id {} at {} <= {}",
                i,
                d,
                r
            );
        }
        if d > r + tol(d) {
            prop_assert!(
                !ids.contains(&(i as u32)),
                "extra id {} at {} > {}",
                i,
                d,
                r
            );
        }
    }
    for (i, &(id, d)) in got.iter().enumerate() {
        let truth = haversine(q, pts[id as usize]);
        prop_assert!((d - truth).abs() <= tol(truth));
        prop_assert!(d <= r);
        if i > 0 {
            prop_assert!(got[i - 1].1 <= d);
        }
    }
    Ok(())
}

/// The box predicate, written out independently: edges included, 180 and
/// -180 the same meridian, a pole inside every box that reaches it.
fn in_box_oracle(p: Point, sw: Point, ne: Point) -> bool {
    if p.lat() < sw.lat() || p.lat() > ne.lat() {
        return false;
    }
    if p.lat().abs() == 90.0 {
        return true;
    }
    let lon_ok = |lon: f64| {
        if sw.lon() <= ne.lon() {
            sw.lon() <= lon && lon <= ne.lon()
        } else {
            lon >= sw.lon() || lon <= ne.lon()
        }
    };
    lon_ok(p.lon()) || (p.lon() == 180.0 && lon_ok(-180.0)) || (p.lon() == -180.0 && lon_ok(180.0))
}

fn radius() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        0.0..10.0f64,
        0.0..100_000.0f64,
        0.0..2.1e7f64,
        Just(f64::INFINITY),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn nearest_matches_brute_force(pts in points(200), qs in prop::collection::vec(point(), 1..6),
                                   k in 0usize..24, cap in capacity()) {
        let t = build(&pts, cap);
        for &q in &qs {
            check_nearest(&pts, q, k, &t.nearest(q, k))?;
        }
        // All of them: a k larger than the tree.
        check_nearest(&pts, qs[0], pts.len() + 3, &t.nearest(qs[0], pts.len() + 3))?;
    }

    #[test]
    fn within_matches_brute_force(pts in points(200), qs in prop::collection::vec(point(), 1..6),
                                  r in radius(), cap in capacity()) {
        let t = build(&pts, cap);
        for &q in &qs {
            check_within(&pts, q, r, &t.within(q, r))?;
            // nearest_within is the prefix of within, k at most.
            let k = 3;
            let nw = t.nearest_within(q, k, r).unwrap();
            let w = t.within(q, r);
            prop_assert_eq!(&nw[..], &w[..k.min(w.len())]);
        }
    }

    #[test]
    fn in_box_matches_brute_force(pts in points(200), a in point(), b in point(), cap in capacity()) {
        let t = build(&pts, cap);
        // Both the box from a to b and, when its longitudes differ, the one
        // going the other way round the globe (crossing the antimeridian).
        let (sw, ne) = (Point::new(a.lat().min(b.lat()), a.lon()).unwrap(),
                        Point::new(a.lat().max(b.lat()), b.lon()).unwrap());
        for (sw, ne) in [(sw, ne), (Point::new(sw.lat(), ne.lon()).unwrap(), Point::new(ne.lat(), sw.lon()).unwrap())] {
            let mut got = t.in_box(sw, ne);
            got.sort_unstable();
            let want: Vec<u32> = (0..pts.len() as u32).filter(|&i| in_box_oracle(pts[i as usize], sw, ne)).collect();
            prop_assert_eq!(got, want);
        }
        // South of north is empty.
        if a.lat() != b.lat() {
            let (hi, lo) = if a.lat() > b.lat() { (a, b) } else { (b, a) };
            prop_assert!(t.in_box(hi, lo).is_empty());
        }
    }

    #[test]
    fn ranked_is_the_best_of_within(pts in points(150), q in point(), r in radius(), n in 0usize..12) {
        let t = build(&pts, 4);
        // A coarse score so that ties (broken by distance, then insertion)
        // are common; one id scores NaN.
        let score = |id: u32, _d: f64| if id == 3 { f64::NAN } else { ((id * 7919) % 5) as f64 };
        let got = t.top_by_score_within(q, r, n, score).unwrap();
        let mut want: Vec<(u32, f64, f64)> = t.within(q, r).into_iter()
            .map(|(id, d)| (id, d, score(id, d))).collect();
        // within is sorted by (distance, insertion); a stable sort by score
        // (NaN last) keeps that order among equal scores.
        want.sort_by(|x, y| match (x.2.is_nan(), y.2.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => y.2.total_cmp(&x.2),
        });
        want.truncate(n);
        prop_assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            prop_assert_eq!(g.0, w.0);
            prop_assert_eq!(g.1, w.1);
        }
    }

    /// After random inserts, moves (near and far) and removals, the tree
    /// answers exactly like a fresh one holding the same ids inserted in the
    /// same order, whether built one by one or in bulk.
    #[test]
    fn churned_tree_answers_like_a_fresh_one(
        ops in prop::collection::vec((0u8..4, 0u32..80, point(), -1e-3..1e-3f64, -1e-3..1e-3f64), 0..600),
        qs in prop::collection::vec(point(), 1..5),
        cap in capacity(),
    ) {
        let mut t = QuadTree::with_leaf_capacity(cap).unwrap();
        // The model: id -> (insertion number, point).
        let mut model: BTreeMap<u32, (u64, Point)> = BTreeMap::new();
        let mut next = 0u64;
        for (op, id, p, dlat, dlon) in ops {
            match op {
                0 => {
                    prop_assert_eq!(t.remove(&id), model.remove(&id).map(|x| x.1));
                }
                1 => {
                    // A small move from where the id is (if present).
                    if let Some(&(s, old)) = model.get(&id) {
                        let np = Point::new((old.lat() + dlat).clamp(-90.0, 90.0),
                                            (old.lon() + dlon).clamp(-180.0, 180.0)).unwrap();
                        prop_assert_eq!(t.insert(id, np), Some(old));
                        model.insert(id, (s, np));
                    }
                }
                _ => {
                    let prev = model.get(&id).copied();
                    prop_assert_eq!(t.insert(id, p), prev.map(|x| x.1));
                    let s = prev.map_or_else(|| { next += 1; next }, |x| x.0);
                    model.insert(id, (s, p));
                }
            }
            prop_assert_eq!(t.len(), model.len());
        }
        let mut order: Vec<(u64, u32, Point)> = model.iter().map(|(&id, &(s, p))| (s, id, p)).collect();
        order.sort_unstable_by_key(|x| x.0);
        let mut fresh = QuadTree::with_leaf_capacity(cap).unwrap();
        for &(_, id, p) in &order {
            fresh.insert(id, p);
        }
        let bulk = QuadTree::bulk_load_with_leaf_capacity(order.iter().map(|&(_, id, p)| (id, p)), cap).unwrap();
        for (&id, &(_, p)) in &model {
            prop_assert_eq!(t.get(&id), Some(p));
        }
        for &q in &qs {
            for k in [1, 5, 100] {
                let a = t.nearest(q, k);
                prop_assert_eq!(&a, &fresh.nearest(q, k));
                prop_assert_eq!(&a, &bulk.nearest(q, k));
            }
            for r in [10.0, 50_000.0, 5e6] {
                let a = t.within(q, r);
                prop_assert_eq!(&a, &fresh.within(q, r));
                prop_assert_eq!(&a, &bulk.within(q, r));
            }
            let (sw, ne) = (Point::new(q.lat().min(0.0), q.lon()).unwrap(), Point::new(q.lat().max(0.0), -q.lon()).unwrap());
            let mut a = t.in_box(sw, ne);
            let mut b = fresh.in_box(sw, ne);
            a.sort_unstable();
            b.sort_unstable();
            prop_assert_eq!(a, b);
        }
        let mut ids: Vec<u32> = t.ids().collect();
        ids.sort_unstable();
        prop_assert_eq!(ids, model.keys().copied().collect::<Vec<_>>());
    }

    #[test]
    fn snapshot_round_trips_and_rejects_damage(pts in points(60), cut in any::<prop::sample::Index>(),
                                               flip in any::<prop::sample::Index>(), bit in 0u8..8) {
        let t = build(&pts, 4);
        let bytes = t.to_bytes();
        let back = QuadTree::<u32>::from_bytes(&bytes).unwrap();
        prop_assert_eq!(back.entries_in_order(), t.entries_in_order());
        prop_assert_eq!(back.leaf_capacity(), 4);
        let q = Point::new(0.0, 0.0).unwrap();
        prop_assert_eq!(back.nearest(q, 10), t.nearest(q, 10));
        // Any truncation and any single bit flip is an error, never a panic.
        let n = cut.index(bytes.len());
        prop_assert!(QuadTree::<u32>::from_bytes(&bytes[..n]).is_err());
        let mut bad = bytes.clone();
        bad[flip.index(bytes.len())] ^= 1 << bit;
        prop_assert!(QuadTree::<u32>::from_bytes(&bad).is_err());
        // A different id width is refused.
        prop_assert!(QuadTree::<u64>::from_bytes(&bytes).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = QuadTree::<u32>::from_bytes(&bytes);
        let mut b = b"HLDQTREE\x01\x00".to_vec();
        b.extend_from_slice(&bytes);
        let _ = QuadTree::<u16>::from_bytes(&b);
    }
}

#[test]
fn empty_tree_answers_nothing() {
    let t: QuadTree<u32> = QuadTree::new();
    let q = Point::new(1.0, 2.0).unwrap();
    assert!(t.nearest(q, 5).is_empty());
    assert!(t.within(q, f64::INFINITY).is_empty());
    assert!(t
        .in_box(
            Point::new(-90.0, -180.0).unwrap(),
            Point::new(90.0, 180.0).unwrap()
        )
        .is_empty());
    assert!(t
        .top_by_score_within(q, 1e9, 3, |_, _| 1.0)
        .unwrap()
        .is_empty());
    assert!(t.is_empty());
    assert_eq!(t.iter().count(), 0);
    assert_eq!(format!("{t:?}"), "{}");
}

#[test]
fn bad_input_is_an_error() {
    assert!(matches!(
        Point::new(f64::NAN, 0.0),
        Err(Error::InvalidLatitude(_))
    ));
    assert!(matches!(
        Point::new(0.0, 180.5),
        Err(Error::InvalidLongitude(_))
    ));
    assert!(matches!(
        QuadTree::<u8>::with_leaf_capacity(0),
        Err(Error::InvalidLeafCapacity(0))
    ));
    assert!(QuadTree::<u8>::with_leaf_capacity(hld_quadtree::MAX_LEAF_CAPACITY + 1).is_err());
    let mut t = QuadTree::new();
    let q = Point::new(0.0, 0.0).unwrap();
    t.insert(1u8, q);
    for r in [-1.0, f64::NAN, f64::NEG_INFINITY, -0.0 - 1e-300] {
        assert!(
            matches!(t.try_within(q, r), Err(Error::InvalidRadius(_))) && t.within(q, r).is_empty(),
            "{r}"
        );
        assert!(t.nearest_within(q, 3, r).is_err());
        assert!(t.top_by_score_within(q, r, 3, |_, _| 0.0).is_err());
    }
    assert!(t.nearest(q, 0).is_empty());
    assert_eq!(t.within(q, 0.0), [(1, 0.0)]);
    let e = Error::InvalidRadius(-1.0);
    assert!(e.to_string().contains("radius"));
}

#[test]
fn ten_thousand_identical_points() {
    let spot = Point::new(51.4700, -0.4543).unwrap(); // one airport pickup spot
    let mut t = QuadTree::new();
    for i in 0..10_000u32 {
        t.insert(i, spot);
    }
    // Plus a sparse background.
    for i in 0..2_000u32 {
        let p = Point::new(50.0 + (i % 50) as f64 * 0.05, -2.0 + (i / 50) as f64 * 0.05).unwrap();
        t.insert(100_000 + i, p);
    }
    assert_eq!(t.len(), 12_000);
    let beside = Point::new(51.4710, -0.4543).unwrap();
    let near = t.nearest(beside, 10);
    assert_eq!(
        near.iter().map(|x| x.0).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    assert!((near[0].1 - spot.distance_m(&beside)).abs() < 1e-9);
    assert_eq!(t.within(spot, 1.0).len(), 10_000);
    let b = t.in_box(
        Point::new(51.0, -1.0).unwrap(),
        Point::new(52.0, 0.0).unwrap(),
    );
    assert!(b.len() >= 10_000);
    // Move half of them away and remove the rest: back to a small tree.
    for i in 0..5_000u32 {
        t.insert(i, Point::new(-10.0, (i as f64) * 0.01).unwrap());
    }
    for i in 5_000..10_000u32 {
        assert_eq!(t.remove(&i), Some(spot));
    }
    assert_eq!(t.stats().oversized_leaves, 0);
    assert_eq!(t.len(), 7_000);
    // Bulk loading a pile is fine too.
    let pile = QuadTree::bulk_load((0..10_000u32).map(|i| (i, spot)));
    assert_eq!(
        pile.nearest(beside, 3)
            .iter()
            .map(|x| x.0)
            .collect::<Vec<_>>(),
        [0, 1, 2]
    );
}

#[cfg(feature = "serde")]
#[test]
fn serde_round_trip() {
    let mut t = QuadTree::with_leaf_capacity(3).unwrap();
    for i in 0..50u64 {
        t.insert(
            i,
            Point::new(i as f64 - 25.0, 179.0 + (i % 3) as f64 * 0.5).unwrap(),
        );
    }
    let json = serde_json::to_string(&t).unwrap();
    let back: QuadTree<u64> = serde_json::from_str(&json).unwrap();
    assert_eq!(back.entries_in_order(), t.entries_in_order());
    assert_eq!(back.leaf_capacity(), 3);
    // Invalid content is refused.
    assert!(serde_json::from_str::<QuadTree<u64>>(r#"{"leaf_capacity":0,"entries":[]}"#).is_err());
    assert!(serde_json::from_str::<QuadTree<u64>>(
        r#"{"leaf_capacity":4,"entries":[[1,{"lat":95.0,"lon":0.0}]]}"#
    )
    .is_err());
    assert!(serde_json::from_str::<QuadTree<u64>>(
        r#"{"leaf_capacity":4,"entries":[[1,{"lat":5.0,"lon":0.0}],[1,{"lat":6.0,"lon":0.0}]]}"#
    )
    .is_err());
    let p: Point = serde_json::from_str(r#"{"lat":1.5,"lon":-2.5}"#).unwrap();
    assert_eq!(p, Point::new(1.5, -2.5).unwrap());
}

#[test]
fn std_like_api() {
    let mut t: QuadTree<u16> = (0..100u16)
        .map(|i| (i, Point::new(i as f64 * 0.5, i as f64).unwrap()))
        .collect();
    assert_eq!(t.len(), 100);
    assert!(t.contains(&7) && !t.contains(&700));
    t.extend([(700u16, Point::new(1.0, 1.0).unwrap())]);
    assert!(t.contains(&700));
    t.retain(|id, _| id % 2 == 0);
    assert_eq!(t.len(), 51);
    assert_eq!(t.iter().len(), 51);
    assert_eq!((&t).into_iter().count(), 51);
    let c = t.clone();
    t.clear();
    assert!(t.is_empty() && c.len() == 51);
    assert_eq!(
        QuadTree::<u16>::default().leaf_capacity(),
        hld_quadtree::DEFAULT_LEAF_CAPACITY
    );
}
