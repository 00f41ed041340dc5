//! The crate's one error type.

use std::fmt;

/// Everything that can go wrong in this crate: bad coordinates, bad query
/// parameters, bad configuration and malformed serialized bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A latitude that is NaN, infinite or outside `-90..=90` degrees.
    InvalidLatitude(f64),
    /// A longitude that is NaN, infinite or outside `-180..=180` degrees.
    InvalidLongitude(f64),
    /// A radius that is NaN or negative (metres). Infinity is allowed: it means
    /// "the whole sphere".
    InvalidRadius(f64),
    /// A leaf capacity outside `1..=MAX_LEAF_CAPACITY`.
    InvalidLeafCapacity(usize),
    /// Serialized bytes too short for what their header announces.
    Truncated,
    /// Serialized bytes that do not start with this crate's magic number.
    BadMagic,
    /// Serialized bytes written by a format version this build cannot read.
    UnsupportedVersion(u16),
    /// Serialized bytes whose checksum does not match their content.
    ChecksumMismatch,
    /// Serialized bytes whose content is inconsistent (trailing bytes, a count
    /// that does not fit, an invalid coordinate inside).
    Corrupt(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidLatitude(v) => {
                write!(
                    f,
                    "invalid latitude {v}: must be finite and within -90..=90 degrees"
                )
            }
            Error::InvalidLongitude(v) => {
                write!(
                    f,
                    "invalid longitude {v}: must be finite and within -180..=180 degrees"
                )
            }
            Error::InvalidRadius(v) => {
                write!(f, "invalid radius {v} m: must be a non-negative number")
            }
            Error::InvalidLeafCapacity(n) => write!(
                f,
                "invalid leaf capacity {n}: must be within 1..={}",
                crate::MAX_LEAF_CAPACITY
            ),
            Error::Truncated => write!(f, "serialized quadtree is truncated"),
            Error::BadMagic => write!(f, "not a serialized quadtree (bad magic number)"),
            Error::UnsupportedVersion(v) => {
                write!(f, "serialized quadtree has unsupported format version {v}")
            }
            Error::ChecksumMismatch => {
                write!(f, "serialized quadtree is corrupt (checksum mismatch)")
            }
            Error::Corrupt(why) => write!(f, "serialized quadtree is corrupt: {why}"),
        }
    }
}

impl std::error::Error for Error {}
