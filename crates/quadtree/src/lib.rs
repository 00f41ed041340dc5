//! A dynamic geo index: a region quadtree over latitude/longitude with
//! great-circle k-nearest, radius, box and ranked queries, and moves cheap
//! enough for a fleet of drivers reporting every few seconds.
//!
//! # Where it sits in a system
//!
//! The notes' **proximity service** ("given a lat/long, give me nearby
//! restaurants") keeps every place in an in-memory quadtree whose leaves split
//! past a few hundred places, answers "nearest" and "within a radius" from it,
//! and ranks by rating; a crashed server rebuilds its tree from a snapshot.
//! **Uber** is the same tree under a write-heavy load: every driver reports a
//! position every few seconds, so a move must cost next to nothing. This crate
//! is that tree: [`QuadTree::nearest`], [`QuadTree::within`],
//! [`QuadTree::top_by_score_within`] (places by rating),
//! [`QuadTree::in_box`] (what is on the map), [`QuadTree::insert`] (which is
//! also the move), and [`QuadTree::to_bytes`] / [`QuadTree::from_bytes`] for
//! the snapshot.
//!
//! ```
//! use hld_quadtree::{Point, QuadTree};
//!
//! // The proximity service: places by id, with a rating on the side.
//! let mut places = QuadTree::new();
//! places.insert(1u64, Point::new(40.7580, -73.9855)?); // Times Square
//! places.insert(2, Point::new(40.7484, -73.9857)?);    // Empire State
//! places.insert(3, Point::new(40.6892, -74.0445)?);    // Liberty Island
//! let me = Point::new(40.7527, -73.9772)?;             // Grand Central
//! let near = places.nearest(me, 2);
//! assert_eq!(near.iter().map(|&(id, _)| id).collect::<Vec<_>>(), [2, 1]);
//! assert!(near[0].1 < 1_000.0); // metres, great-circle
//! let rating = |id: u64| [0.0, 4.5, 4.7, 4.9][id as usize];
//! let best = places.top_by_score_within(me, 2_000.0, 1, |id, _| rating(id))?;
//! assert_eq!(best[0].0, 2);
//!
//! // Uber: a driver's update is an insert of an id already present.
//! places.insert(2, Point::new(40.7486, -73.9856)?);
//! assert_eq!(places.len(), 3);
//! # Ok::<(), hld_quadtree::Error>(())
//! ```
//!
//! # Geometry
//!
//! Distances are great-circle metres on a sphere of radius [`EARTH_RADIUS_M`]
//! (the haversine distance, computed through the chord between unit vectors:
//! see [`Point::distance_m`]). Cells are latitude/longitude rectangles, but
//! pruning uses each node's 3-D bounding box of its points' unit vectors
//! (rounded outwards), a lower bound that is right by construction across
//! the antimeridian and at the poles.
//! Ties in distance go to the id inserted first, whatever the tree's shape.
//!
//! # Cost model
//!
//! n points, leaf capacity B (default [`DEFAULT_LEAF_CAPACITY`] = 32), depth
//! h (about log4(n / B) for spread-out data, at most [`MAX_DEPTH`]):
//!
//! | operation | cost |
//! |---|---|
//! | `insert` of a new id | O(h) + amortised O(B) for splits |
//! | `insert` of a present id (a move) staying in its leaf | O(1): one hash probe and the writes |
//! | a move to another leaf, `remove` | O(h) + amortised O(B) for collapses |
//! | `nearest(p, k)` | O(h + k log k + B · leaves visited) |
//! | `within`, `in_box` | O(h + cells touched · B + answers) |
//! | `bulk_load` | O(n) radix passes + O(n) leaf fills |
//! | memory | about 184 bytes per point (183-185 measured, id index included), see BENCHMARKS.md; a tree's own: [`QuadTree::heap_bytes`] |
//!
//! Measured on 1M points (2-core AMD EPYC shared with other jobs, so read the
//! ratios; `benches/quadtree.rs`, full tables in `BENCHMARKS.md`), each
//! contender starting from latitude/longitude and answering in metres (one
//! run of the build, 10-NN, radius and move groups, 2026-11-28: pair 1,
//! "after", of the 10-NN and move follow-up in `BENCHMARKS.md`):
//!
//! | task (uniform / real cities) | hld-quadtree | rstar 0.14 | kiddo 5.3 |
//! |---|---|---|---|
//! | bulk build | 493 / 403 ms | 569 / 591 ms | 455 / 443 ms |
//! | 10 nearest | 3.7 / 3.1 µs | 8.1 / 7.6 µs | 3.6 / 3.4 µs |
//! | within 1 km | 0.61 / 3.5 µs | 0.80 / 4.9 µs | 0.47 / 2.9 µs |
//! | move ~100 m | 0.61 / 0.57 µs | 3.3 / 4.1 µs (remove + insert) | 0.71 / 0.72 µs (mutable tree) |
//! | heap bytes per point | 183-185 | 94 | 29 (immutable) |
//!
//! In that run 10-NN took 0.45 / 0.41x rstar's time and a move 0.19 /
//! 0.14x; on clustered data 0.56x and 0.24x. Two runs of only the 10-NN and
//! move groups gave 0.26-0.43x and 0.14-0.15x on all three data sets: the
//! machine's noise is of the size of the margins.
//!
//! Why the default capacity is 32, not the notes' 500 (which works, see
//! [`QuadTree::with_leaf_capacity`]): a 10-NN query scans every point of every
//! leaf it visits, so big leaves cost scan time, while very small leaves cost
//! tree walking and make bulk builds slower. The capacity sweep in the bench
//! (8 to 500) puts the best overall at 32: the fastest 10-NN on both uniform
//! and real data (2.6 and 4.0 µs against 5.1 and 4.8 at 64, 8.7 and 5.9 at
//! 500) and the fastest build; moves are within noise of each other.
//!
//! # Surprises
//!
//! - A point's insertion order matters for ties only; a move keeps it.
//! - Any number of identical points is fine: they end in one leaf at the
//!   depth cap (an oversized leaf), grouped by position, and a query beside
//!   them takes the first k and stops.
//! - The index holds each id once; `insert` of a present id moves it.
//! - `within` (the contract's form) answers a negative or NaN radius with
//!   nothing; `try_within`, `nearest_within` and `top_by_score_within` return
//!   `Result` and call such a radius an error.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod bulk;
mod error;
mod geom;
mod iter;
mod knn;
mod leaf;
mod persist;
mod point;
mod range;
mod tree;
mod trig;

pub use error::Error;
pub use iter::Iter;
pub use persist::IdBytes;
pub use point::{Point, EARTH_RADIUS_M};
pub use tree::{QuadTree, Stats, DEFAULT_LEAF_CAPACITY, MAX_DEPTH, MAX_LEAF_CAPACITY};
