//! hld-quadtree against rstar (R*-tree) and kiddo (k-d tree) on 1M points:
//! uniform on the sphere, clustered (Gaussian blobs) and real (GeoNames cities
//! with population >= 15,000, sampled by population, with jitter).
//!
//! Same task for everyone: the input is latitude/longitude, the answer is ids
//! with great-circle metres. Neither peer has a great-circle metric, so they
//! index the points' 3-D unit vectors (ECEF on the unit sphere) under squared
//! Euclidean distance: the chord between two unit vectors is a monotone
//! function of their great-circle distance, so chord order *is* great-circle
//! order and a radius becomes a chord. Every contender pays the same
//! conversions in the timed code: lat/lon -> unit vector on the way in (build,
//! query, move) and chord -> metres on the way out.
//!
//! - build: from a `Vec` of (id, lat, lon). hld `bulk_load`; rstar
//!   `RTree::bulk_load`; kiddo `ImmutableKdTree::new_from_slice`.
//! - 10-NN: hld `nearest`; rstar `nearest_neighbor_iter().take(10)`; kiddo
//!   immutable `nearest_n` (and the mutable `KdTree`, for reference).
//! - radius 1 km / 50 km, nearest first: hld `within`; rstar
//!   `locate_within_distance` then a sort; kiddo immutable `within` (sorted).
//! - move ~100 m: hld `insert` (replaces); rstar `remove` + `insert`; kiddo
//!   mutable `remove` + `add`. The peers are handed the old position for free
//!   (a real caller would look it up in a map).
//!
//! Memory is measured with a counting global allocator: heap bytes held by
//! each structure right after its build, divided by the number of points.
//!
//! Run: `cargo bench -p hld-benches --bench quadtree` (a few minutes).
//! Filters work as usual, e.g. `-- knn` or `-- capacity`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::num::NonZero;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hld_benches::{data_dir, SplitMix64};
use hld_quadtree::{Point, QuadTree, EARTH_RADIUS_M};
use kiddo::float::kdtree::KdTree as KiddoMut;
use kiddo::immutable::float::kdtree::ImmutableKdTree;
use kiddo::SquaredEuclidean;
use rstar::primitives::GeomWithData;
use rstar::RTree;

/// Counts live heap bytes so each structure's footprint can be reported.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` unchanged (same layout, same
// pointer), only keeping a running total of the bytes it handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: `p` came from `System.alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: `p` came from `System` with layout `l`.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const N: usize = 1_000_000;
const QUERIES: usize = 1_000;

type RPoint = GeomWithData<[f64; 3], u32>;
type Kiddo = ImmutableKdTree<f64, u32, 3, 32>;
type KiddoM = KiddoMut<f64, u32, 3, 32, u32>;

#[inline]
fn unit(lat: f64, lon: f64) -> [f64; 3] {
    let (sa, ca) = lat.to_radians().sin_cos();
    let (so, co) = lon.to_radians().sin_cos();
    [ca * co, ca * so, sa]
}

#[inline]
fn chord2_to_m(c2: f64) -> f64 {
    2.0 * EARTH_RADIUS_M * (c2.sqrt() * 0.5).min(1.0).asin()
}

#[inline]
fn m_to_chord2(m: f64) -> f64 {
    let c = 2.0 * (m / EARTH_RADIUS_M * 0.5).sin();
    c * c
}

fn gauss(rng: &mut SplitMix64) -> f64 {
    // Box-Muller.
    let u = rng.unit_f64().max(1e-300);
    let v = rng.unit_f64();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn uniform_point(rng: &mut SplitMix64) -> Point {
    let lat = (2.0 * rng.unit_f64() - 1.0).asin().to_degrees();
    Point::new(lat, rng.unit_f64() * 360.0 - 180.0).unwrap()
}

/// `p` moved `north_m` metres north and `east_m` metres east (flat-earth
/// steps, longitude wrapped across the antimeridian).
fn offset(p: Point, north_m: f64, east_m: f64) -> Point {
    let dlat = north_m / 111_195.0;
    let coslat = p.lat().to_radians().cos().max(0.01);
    let dlon = east_m / (111_195.0 * coslat);
    let lat = (p.lat() + dlat).clamp(-90.0, 90.0);
    let lon = p.lon() + dlon;
    let lon = if lon > 180.0 {
        lon - 360.0
    } else if lon < -180.0 {
        lon + 360.0
    } else {
        lon
    };
    Point::new(lat, lon.clamp(-180.0, 180.0)).unwrap()
}

/// `p` moved by Gaussian offsets of `sigma_m` metres north and east.
fn jitter(p: Point, sigma_m: f64, rng: &mut SplitMix64) -> Point {
    let north = gauss(rng) * sigma_m;
    offset(p, north, gauss(rng) * sigma_m)
}

/// `p` moved `m` metres on a random bearing.
fn step(p: Point, m: f64, rng: &mut SplitMix64) -> Point {
    let b = rng.unit_f64() * std::f64::consts::TAU;
    offset(p, m * b.cos(), m * b.sin())
}

struct Cities {
    pts: Vec<Point>,
    cum_pop: Vec<f64>,
}

fn cities() -> Cities {
    let text =
        std::fs::read_to_string(data_dir().join("cities15000.csv")).expect("data/cities15000.csv");
    let mut pts = Vec::new();
    let mut cum_pop = Vec::new();
    let mut acc = 0.0;
    for line in text.lines().skip(1) {
        // geonameid,name,latitude,longitude,countrycode,population; names
        // have no commas in this file, but parse from the right to be safe.
        let f: Vec<&str> = line.rsplitn(5, ',').collect();
        let (Ok(pop), Ok(lon), Ok(lat)) = (
            f[0].parse::<f64>(),
            f[2].parse::<f64>(),
            f[3].parse::<f64>(),
        ) else {
            continue;
        };
        if let Ok(p) = Point::new(lat, lon) {
            acc += pop.max(1.0);
            pts.push(p);
            cum_pop.push(acc);
        }
    }
    Cities { pts, cum_pop }
}

#[derive(Clone, Copy)]
enum Kind {
    Uniform,
    Clustered,
    Real,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Uniform => "uniform",
            Kind::Clustered => "clustered",
            Kind::Real => "real",
        }
    }
}

/// A sampler for one distribution (points and queries come from the same one).
struct Gen<'a> {
    kind: Kind,
    centres: Vec<Point>,
    cities: &'a Cities,
}

impl Gen<'_> {
    fn sample(&self, rng: &mut SplitMix64) -> Point {
        match self.kind {
            Kind::Uniform => uniform_point(rng),
            // 1,000 blobs, sigma 20 km: a metro area each.
            Kind::Clustered => {
                let c = self.centres[rng.below(self.centres.len() as u64) as usize];
                jitter(c, 20_000.0, rng)
            }
            // A city drawn by population, sigma 3 km around its centre.
            Kind::Real => {
                let total = *self.cities.cum_pop.last().unwrap();
                let x = rng.unit_f64() * total;
                let i = self
                    .cities
                    .cum_pop
                    .partition_point(|&c| c < x)
                    .min(self.cities.pts.len() - 1);
                jitter(self.cities.pts[i], 3_000.0, rng)
            }
        }
    }
}

struct Data {
    items: Vec<(u32, Point)>,
    queries: Vec<Point>,
}

fn dataset(kind: Kind, cities: &Cities) -> Data {
    let mut rng = SplitMix64(0x5EED_0000 + kind as u64);
    let centres = (0..1000).map(|_| uniform_point(&mut rng)).collect();
    let g = Gen {
        kind,
        centres,
        cities,
    };
    let items = (0..N as u32).map(|i| (i, g.sample(&mut rng))).collect();
    let queries = (0..QUERIES).map(|_| g.sample(&mut rng)).collect();
    Data { items, queries }
}

fn build_hld(items: &[(u32, Point)], cap: usize) -> QuadTree<u32> {
    QuadTree::bulk_load_with_leaf_capacity(items.iter().copied(), cap).unwrap()
}

fn build_rstar(items: &[(u32, Point)]) -> RTree<RPoint> {
    RTree::bulk_load(
        items
            .iter()
            .map(|&(id, p)| RPoint::new(unit(p.lat(), p.lon()), id))
            .collect(),
    )
}

fn build_kiddo(items: &[(u32, Point)]) -> Kiddo {
    // kiddo's items are positions in the slice; ids here are 0..n.
    let pts: Vec<[f64; 3]> = items.iter().map(|&(_, p)| unit(p.lat(), p.lon())).collect();
    Kiddo::new_from_slice(&pts)
}

fn build_kiddo_mut(items: &[(u32, Point)]) -> KiddoM {
    let mut t = KiddoM::with_capacity(items.len());
    for &(id, p) in items {
        t.add(&unit(p.lat(), p.lon()), id);
    }
    t
}

/// Heap bytes per point held by what `f` builds.
fn bytes_per_point<S>(n: usize, f: impl FnOnce() -> S) -> (S, f64) {
    let before = LIVE.load(Ordering::Relaxed);
    let s = f();
    let after = LIVE.load(Ordering::Relaxed);
    (s, after.saturating_sub(before) as f64 / n as f64)
}

/// Cycles through `qs`, one per iteration.
fn cycle<'a, T>(qs: &'a [T]) -> impl FnMut() -> &'a T {
    let i = Cell::new(0usize);
    move || {
        let k = i.get();
        i.set(if k + 1 == qs.len() { 0 } else { k + 1 });
        &qs[k]
    }
}

/// A cyclic trace of ~100 m moves: `ids` move out one by one, then back in
/// another order, so after a full cycle every point is exactly where it
/// started and the trace can run again.
struct Move {
    id: u32,
    old_unit: [f64; 3],
    new: Point,
}

fn move_trace(items: &[(u32, Point)], n: usize, seed: u64) -> Vec<Move> {
    let mut rng = SplitMix64(seed);
    let ids: Vec<u32> = (0..n)
        .map(|_| rng.below(items.len() as u64) as u32)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut out = Vec::with_capacity(ids.len() * 2);
    let mut there = Vec::with_capacity(ids.len());
    for &id in &ids {
        let a = items[id as usize].1;
        let b = step(a, 100.0, &mut rng);
        out.push(Move {
            id,
            old_unit: unit(a.lat(), a.lon()),
            new: b,
        });
        there.push((id, a, b));
    }
    // Back, in a different order.
    for i in (0..there.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        there.swap(i, j);
    }
    for (id, a, b) in there {
        out.push(Move {
            id,
            old_unit: unit(b.lat(), b.lon()),
            new: a,
        });
    }
    out
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1200))
        .without_plots()
}

fn bench_datasets(c: &mut Criterion) {
    let cities = cities();
    for kind in [Kind::Uniform, Kind::Clustered, Kind::Real] {
        let data = dataset(kind, &cities);
        let name = kind.name();
        let items = &data.items;

        let mut g = c.benchmark_group(format!("build/{name}"));
        g.sample_size(10);
        g.bench_function("hld", |b| {
            b.iter(|| build_hld(black_box(items), hld_quadtree::DEFAULT_LEAF_CAPACITY))
        });
        g.bench_function("rstar", |b| b.iter(|| build_rstar(black_box(items))));
        g.bench_function("kiddo", |b| b.iter(|| build_kiddo(black_box(items))));
        g.finish();

        let (hld, hld_b) =
            bytes_per_point(N, || build_hld(items, hld_quadtree::DEFAULT_LEAF_CAPACITY));
        let (rs, rs_b) = bytes_per_point(N, || build_rstar(items));
        let (kd, kd_b) = bytes_per_point(N, || build_kiddo(items));
        let (kdm, kdm_b) = bytes_per_point(N, || build_kiddo_mut(items));
        println!("memory/{name}: hld {hld_b:.1} B/point, rstar {rs_b:.1}, kiddo immutable {kd_b:.1}, kiddo mutable {kdm_b:.1}");

        let mut g = c.benchmark_group(format!("knn10/{name}"));
        let mut next = cycle(&data.queries);
        g.bench_function("hld", |b| b.iter(|| hld.nearest(*next(), 10)));
        g.bench_function("rstar", |b| {
            b.iter(|| {
                let q = next();
                let u = unit(q.lat(), q.lon());
                rs.nearest_neighbor_iter(u)
                    .take(10)
                    .map(|e| (e.data, chord2_to_m(rstar::PointDistance::distance_2(e, &u))))
                    .collect::<Vec<_>>()
            })
        });
        let ten = NonZero::new(10).unwrap();
        g.bench_function("kiddo", |b| {
            b.iter(|| {
                let q = next();
                kd.nearest_n::<SquaredEuclidean>(&unit(q.lat(), q.lon()), ten)
                    .into_iter()
                    .map(|n| (n.item, chord2_to_m(n.distance)))
                    .collect::<Vec<_>>()
            })
        });
        g.bench_function("kiddo-mutable", |b| {
            b.iter(|| {
                let q = next();
                kdm.nearest_n::<SquaredEuclidean>(&unit(q.lat(), q.lon()), 10)
                    .into_iter()
                    .map(|n| (n.item, chord2_to_m(n.distance)))
                    .collect::<Vec<_>>()
            })
        });
        g.finish();

        for r in [1_000.0, 50_000.0] {
            let mut g = c.benchmark_group(format!("radius{}km/{name}", r as u32 / 1000));
            let r2 = m_to_chord2(r);
            g.bench_function("hld", |b| b.iter(|| hld.within(*next(), r)));
            g.bench_function("rstar", |b| {
                b.iter(|| {
                    let q = next();
                    let u = unit(q.lat(), q.lon());
                    let mut v: Vec<(u32, f64)> = rs
                        .locate_within_distance(u, r2)
                        .map(|e| (e.data, rstar::PointDistance::distance_2(e, &u)))
                        .collect();
                    v.sort_unstable_by(|a, b| a.1.total_cmp(&b.1));
                    v.into_iter()
                        .map(|(id, c2)| (id, chord2_to_m(c2)))
                        .collect::<Vec<_>>()
                })
            });
            g.bench_function("kiddo", |b| {
                b.iter(|| {
                    let q = next();
                    kd.within::<SquaredEuclidean>(&unit(q.lat(), q.lon()), r2)
                        .into_iter()
                        .map(|n| (n.item, chord2_to_m(n.distance)))
                        .collect::<Vec<_>>()
                })
            });
            g.finish();
        }
        drop(kd);

        // Moves: each contender replays the same cyclic trace of ~100 m steps.
        let trace = move_trace(items, 100_000, 0xBEEF + kind as u64);
        let mut g = c.benchmark_group(format!("move100m/{name}"));
        let mut hld = hld;
        let mut rs = rs;
        let mut kdm = kdm;
        {
            let mut next = cycle(&trace);
            g.bench_function("hld", |b| {
                b.iter(|| {
                    let m = next();
                    hld.insert(m.id, m.new)
                })
            });
        }
        {
            let mut next = cycle(&trace);
            g.bench_function("rstar", |b| {
                b.iter(|| {
                    let m = next();
                    let old = rs.remove(&RPoint::new(m.old_unit, m.id));
                    rs.insert(RPoint::new(unit(m.new.lat(), m.new.lon()), m.id));
                    old
                })
            });
        }
        {
            let mut next = cycle(&trace);
            g.bench_function("kiddo-mutable", |b| {
                b.iter(|| {
                    let m = next();
                    let n = kdm.remove(&m.old_unit, m.id);
                    kdm.add(&unit(m.new.lat(), m.new.lon()), m.id);
                    n
                })
            });
        }
        g.finish();
    }
}

/// 10,000 drivers on one spot: a 10-NN query beside them (within 1 km)
/// against the same queries on the tree without the pile.
fn bench_identical(c: &mut Criterion) {
    let mut rng = SplitMix64(77);
    let base: Vec<(u32, Point)> = (0..N as u32)
        .map(|i| (i, uniform_point(&mut rng)))
        .collect();
    let spot = Point::new(51.4700, -0.4543).unwrap();
    let mut with_pile = base.clone();
    with_pile.extend((0..10_000u32).map(|i| (N as u32 + i, spot)));
    let plain = QuadTree::bulk_load(base.iter().copied());
    let piled = QuadTree::bulk_load(with_pile.iter().copied());
    let beside: Vec<Point> = (0..QUERIES)
        .map(|_| step(spot, 1_000.0 * rng.unit_f64(), &mut rng))
        .collect();
    let mut g = c.benchmark_group("identical10k/knn10-beside");
    let mut next = cycle(&beside);
    g.bench_function("without-pile", |b| b.iter(|| plain.nearest(*next(), 10)));
    g.bench_function("with-pile", |b| b.iter(|| piled.nearest(*next(), 10)));
    g.bench_function("with-pile-radius1km", |b| {
        b.iter(|| piled.nearest_within(*next(), 10, 1_000.0).unwrap())
    });
    g.finish();
    // Random queries elsewhere are unaffected too.
    let elsewhere: Vec<Point> = (0..QUERIES).map(|_| uniform_point(&mut rng)).collect();
    let mut g = c.benchmark_group("identical10k/knn10-elsewhere");
    let mut next = cycle(&elsewhere);
    g.bench_function("without-pile", |b| b.iter(|| plain.nearest(*next(), 10)));
    g.bench_function("with-pile", |b| b.iter(|| piled.nearest(*next(), 10)));
    g.finish();
}

/// 200,000 random moves (teleports to new positions from the same
/// distribution) on the real data set, then queries against a fresh tree of
/// the same final points.
fn bench_churn(c: &mut Criterion) {
    let cities = cities();
    let data = dataset(Kind::Real, &cities);
    let mut rng = SplitMix64(99);
    let mut churned = QuadTree::bulk_load(data.items.iter().copied());
    let g = Gen {
        kind: Kind::Real,
        centres: Vec::new(),
        cities: &cities,
    };
    let t0 = Instant::now();
    for _ in 0..200_000 {
        let id = rng.below(N as u64) as u32;
        churned.insert(id, g.sample(&mut rng));
    }
    println!("churn: 200k teleports took {:?}", t0.elapsed());
    let fresh: QuadTree<u32> = QuadTree::bulk_load(churned.entries_in_order());
    println!(
        "churn: churned {:?}\nchurn: fresh   {:?}",
        churned.stats(),
        fresh.stats()
    );
    let mut grp = c.benchmark_group("churn200k/knn10");
    let mut next = cycle(&data.queries);
    grp.bench_function("fresh", |b| b.iter(|| fresh.nearest(*next(), 10)));
    grp.bench_function("churned", |b| b.iter(|| churned.nearest(*next(), 10)));
    grp.finish();
    let mut grp = c.benchmark_group("churn200k/radius50km");
    grp.bench_function("fresh", |b| b.iter(|| fresh.within(*next(), 50_000.0)));
    grp.bench_function("churned", |b| b.iter(|| churned.within(*next(), 50_000.0)));
    grp.finish();
}

/// The leaf capacity: build, 10-NN and moves for a range of capacities
/// (500 is the notes' figure).
fn bench_capacity(c: &mut Criterion) {
    let cities = cities();
    for kind in [Kind::Uniform, Kind::Real] {
        let data = dataset(kind, &cities);
        let trace = move_trace(&data.items, 100_000, 0xCAFE);
        for cap in [8usize, 16, 32, 64, 128, 500] {
            let mut g = c.benchmark_group(format!("capacity/{}", kind.name()));
            let mut t = build_hld(&data.items, cap);
            g.bench_with_input(BenchmarkId::new("build", cap), &cap, |b, &cap| {
                b.iter(|| build_hld(&data.items, cap))
            });
            let mut next = cycle(&data.queries);
            g.bench_with_input(BenchmarkId::new("knn10", cap), &cap, |b, _| {
                b.iter(|| t.nearest(*next(), 10))
            });
            g.bench_with_input(BenchmarkId::new("radius50km", cap), &cap, |b, _| {
                b.iter(|| t.within(*next(), 50_000.0))
            });
            let mut next = cycle(&trace);
            g.bench_with_input(BenchmarkId::new("move100m", cap), &cap, |b, _| {
                b.iter(|| {
                    let m = next();
                    t.insert(m.id, m.new)
                })
            });
            g.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_datasets, bench_identical, bench_churn, bench_capacity
}
criterion_main!(benches);
