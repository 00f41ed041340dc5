//! The crate's one error type.

use std::fmt;

/// Everything that can go wrong in this crate: bad configuration, a request
/// that can never be satisfied, or a failure reported by a shared [`Store`](crate::Store).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A quota with zero requests per period.
    ZeroRate,
    /// A quota with a zero-length period.
    ZeroPeriod,
    /// A quota with a burst of zero.
    ZeroBurst,
    /// `check_n` asked for zero cells.
    ZeroCells,
    /// A quota whose burst window (`burst` emission intervals) does not fit in
    /// 2^62 nanoseconds (about 146 years).
    QuotaOverflow,
    /// `check_n` asked for more cells than the limiter could ever grant at
    /// once: waiting would not help, so this is an error, never a forever-deny.
    InsufficientCapacity {
        /// The cells asked for.
        requested: u32,
        /// The most cells one call can ever be granted.
        max: u32,
    },
    /// A configuration value out of its range (the message says which).
    InvalidConfig(&'static str),
    /// A shared store failed (network, script, decoding...).
    Store(StoreError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ZeroRate => f.write_str("a quota needs at least one request per period"),
            Error::ZeroPeriod => f.write_str("a quota needs a period longer than zero"),
            Error::ZeroBurst => f.write_str("a quota needs a burst of at least one"),
            Error::ZeroCells => f.write_str("check_n needs at least one cell"),
            Error::QuotaOverflow => {
                f.write_str("the quota's burst window (burst x interval) exceeds 2^62 ns")
            }
            Error::InsufficientCapacity { requested, max } => write!(
                f,
                "{requested} cells requested but at most {max} can ever be granted at once"
            ),
            Error::InvalidConfig(why) => write!(f, "invalid configuration: {why}"),
            Error::Store(e) => write!(f, "store error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

/// A failure reported by a [`Store`](crate::Store) implementation: the crate
/// does no I/O itself, so this only carries the implementation's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError {
    message: String,
}

impl StoreError {
    /// A store error with a message (e.g. the network or script error).
    pub fn new(message: impl Into<String>) -> StoreError {
        StoreError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}
