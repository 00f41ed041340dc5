//! The crate's one error type.

use std::fmt;

/// Everything that can go wrong in this crate: bad construction parameters and
/// misuse of the idempotency protocol. No operation panics on bad input.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A capacity (cache size, posts per user) of zero was asked for.
    ZeroCapacity,
    /// A capacity above [`MAX_CAPACITY`](crate::MAX_CAPACITY) was asked for
    /// (slots are addressed by `u32` indices).
    CapacityTooLarge {
        /// The capacity asked for.
        requested: usize,
        /// The largest capacity supported.
        max: usize,
    },
    /// A shard count that is zero, not a power of two, or above the capacity.
    InvalidShards {
        /// The shard count asked for.
        shards: usize,
        /// The capacity it was asked for.
        capacity: usize,
    },
    /// A time-to-live of zero nanoseconds.
    ZeroTtl,
    /// An idempotency key was reused with a different request: the same key
    /// must always carry the same request (the same fingerprint).
    FingerprintMismatch {
        /// The fingerprint stored with the key.
        stored: u64,
        /// The fingerprint of the new request.
        given: u64,
    },
    /// `complete` or `abandon` for a key that has no request in flight.
    NotInFlight,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ZeroCapacity => f.write_str("capacity must be at least 1"),
            Error::CapacityTooLarge { requested, max } => {
                write!(f, "capacity {requested} is above the maximum {max}")
            }
            Error::InvalidShards { shards, capacity } => write!(
                f,
                "shard count {shards} must be a power of two between 1 and the capacity {capacity}"
            ),
            Error::ZeroTtl => f.write_str("time-to-live must be at least 1 ns"),
            Error::FingerprintMismatch { stored, given } => write!(
                f,
                "idempotency key reused with a different request (fingerprint {given:#x}, stored {stored:#x})"
            ),
            Error::NotInFlight => f.write_str("no request with this idempotency key is in flight"),
        }
    }
}

impl std::error::Error for Error {}

/// Checks a capacity against the crate's bounds.
pub(crate) fn check_capacity(capacity: usize) -> Result<(), Error> {
    if capacity == 0 {
        Err(Error::ZeroCapacity)
    } else if capacity > crate::MAX_CAPACITY {
        Err(Error::CapacityTooLarge {
            requested: capacity,
            max: crate::MAX_CAPACITY,
        })
    } else {
        Ok(())
    }
}
