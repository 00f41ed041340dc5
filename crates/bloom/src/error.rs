use std::fmt;

/// Everything that can go wrong building, combining or reading a filter.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// `expected_items` was 0: a filter must be sized for at least one item.
    ZeroItems,
    /// The false-positive rate was not strictly between 0 and 1 (or was NaN).
    InvalidFalsePositiveRate(f64),
    /// The requested filter would not fit in memory (or in addressable sizes).
    TooLarge {
        /// The items the filter was sized for.
        expected_items: u64,
        /// The rate it was sized for.
        false_positive_rate: f64,
    },
    /// `union` of two filters whose shape or seed differ: their bits mean
    /// different things, so OR-ing them would be wrong.
    Incompatible {
        /// The parameter that differs.
        what: &'static str,
    },
    /// Serialized bytes that are not a filter this version can read: truncated,
    /// corrupted, or from an unknown format version.
    Corrupt {
        /// Why the bytes were refused.
        reason: &'static str,
    },
    /// Intact serialized bytes of an older format version whose bits this
    /// version reads differently (version 1: 512-bit blocks, before
    /// 2026-11-28). Rebuild the filter from its items.
    UnsupportedVersion {
        /// The version found in the header.
        found: u32,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ZeroItems => write!(f, "expected_items must be at least 1"),
            Error::InvalidFalsePositiveRate(p) => {
                write!(f, "false-positive rate must be > 0 and < 1, got {p}")
            }
            Error::TooLarge {
                expected_items,
                false_positive_rate,
            } => write!(
                f,
                "a filter for {expected_items} items at rate {false_positive_rate} does not fit in memory"
            ),
            Error::Incompatible { what } => {
                write!(f, "filters are incompatible: different {what}")
            }
            Error::Corrupt { reason } => write!(f, "not a valid serialized filter: {reason}"),
            Error::UnsupportedVersion { found } => write!(
                f,
                "serialized filter format version {found} is no longer read; rebuild the filter"
            ),
        }
    }
}

impl std::error::Error for Error {}
