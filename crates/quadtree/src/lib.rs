//! A dynamic geo index: a region quadtree over latitude/longitude with
//! great-circle k-nearest, radius, box and ranked queries, and moves cheap
//! enough for a fleet of drivers reporting every few seconds.
//!
//! (Crate docs are completed below.)
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

pub use error::Error;
pub use iter::Iter;
pub use persist::IdBytes;
pub use point::{Point, EARTH_RADIUS_M};
pub use tree::{QuadTree, Stats, DEFAULT_LEAF_CAPACITY, MAX_DEPTH, MAX_LEAF_CAPACITY};
