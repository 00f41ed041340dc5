//! The crate's one error type.

use std::fmt;

/// Everything that can go wrong in this crate: bad parameters, a full
/// [`AnchorHash`](crate::AnchorHash), unusable serialized bytes.
///
/// No operation panics on bad input; it returns one of these instead.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// [`try_jump_hash`](crate::try_jump_hash) was asked for a bucket among zero buckets.
    ZeroBuckets,
    /// A ring was asked for zero virtual nodes per node.
    ZeroVnodes,
    /// A node was given weight zero (it would own no point on the ring).
    ZeroWeight,
    /// `weight * vnodes_per_node` is above [`MAX_POINTS_PER_NODE`](crate::MAX_POINTS_PER_NODE).
    TooManyPoints {
        /// The number of ring points that were asked for.
        requested: u64,
        /// The most one node may have.
        max: u64,
    },
    /// An [`AnchorHash`](crate::AnchorHash) was created with capacity zero or
    /// above [`AnchorHash::MAX_CAPACITY`](crate::AnchorHash::MAX_CAPACITY).
    BadCapacity(u64),
    /// Every bucket of an [`AnchorHash`](crate::AnchorHash) is already in use.
    CapacityExhausted,
    /// A [`BoundedLoad`](crate::BoundedLoad) balance factor that is not a finite number >= 1.
    BadBalance,
    /// The operation needs at least one node and there is none.
    NoNodes,
    /// A different node has the same 64-bit placement hash as one already
    /// present: it would get exactly the same ring points, so it is refused.
    /// (Probability about `nodes^2 / 2^65`.)
    HashCollision,
    /// Serialized bytes are not a valid encoding: wrong magic, unknown
    /// version, bad checksum, truncated, or inconsistent content.
    Corrupt(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ZeroBuckets => f.write_str("jump hash needs at least one bucket"),
            Error::ZeroVnodes => {
                f.write_str("a hash ring needs at least one virtual node per node")
            }
            Error::ZeroWeight => f.write_str("a node's weight must be at least 1"),
            Error::TooManyPoints { requested, max } => write!(
                f,
                "a node would own {requested} ring points; at most {max} are allowed"
            ),
            Error::BadCapacity(c) => write!(
                f,
                "AnchorHash capacity must be between 1 and {}, got {c}",
                crate::AnchorHash::<()>::MAX_CAPACITY
            ),
            Error::CapacityExhausted => f.write_str("every AnchorHash bucket is already in use"),
            Error::BadBalance => {
                f.write_str("the bounded-load balance factor must be a finite number >= 1")
            }
            Error::NoNodes => f.write_str("there are no nodes to assign to"),
            Error::HashCollision => f.write_str(
                "a different node already has the same 64-bit placement hash (use another seed)",
            ),
            Error::Corrupt(why) => write!(f, "corrupt serialized bytes: {why}"),
        }
    }
}

impl std::error::Error for Error {}
