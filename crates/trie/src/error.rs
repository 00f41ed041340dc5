//! The crate's one error type.

use std::fmt;

/// Everything that can go wrong in `hld-trie`: bad parameters, unsorted input
/// to a sorted builder, and malformed serialized bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The per-node cache size was 0 or above [`MAX_CACHE_SIZE`](crate::MAX_CACHE_SIZE).
    CacheSize(usize),
    /// A partition into 0 shards was asked for.
    ZeroShards,
    /// Input to a sorted builder was not strictly increasing in byte order:
    /// `index` is the position of the first term that is not greater than
    /// the one before it (a duplicate or an out-of-order term).
    NotSorted {
        /// Position (0-based) of the offending term in the input.
        index: usize,
    },
    /// Shard bounds were not strictly increasing, or one was empty.
    BadBounds,
    /// More terms than the frozen form can address (`u32::MAX`).
    TooLarge,
    /// Serialized bytes ended before the structure did.
    Truncated,
    /// Serialized bytes do not start with this crate's magic number.
    BadMagic,
    /// Serialized bytes were written by an unknown format version.
    UnsupportedVersion(u32),
    /// The checksum over the serialized bytes does not match: they were
    /// corrupted in storage or transit.
    ChecksumMismatch,
    /// The bytes passed the checksum but describe an impossible structure.
    Corrupt(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::CacheSize(k) => write!(
                f,
                "cache size {k} is out of range 1..={}",
                crate::MAX_CACHE_SIZE
            ),
            Error::ZeroShards => f.write_str("cannot partition into 0 shards"),
            Error::NotSorted { index } => write!(
                f,
                "term at index {index} is not strictly greater than the one before it (input must be sorted by bytes, without duplicates)"
            ),
            Error::BadBounds => {
                f.write_str("shard bounds must be non-empty and strictly increasing")
            }
            Error::TooLarge => f.write_str("too many terms for the frozen form (at most u32::MAX)"),
            Error::Truncated => f.write_str("serialized trie is truncated"),
            Error::BadMagic => f.write_str("not a serialized hld-trie (bad magic number)"),
            Error::UnsupportedVersion(v) => {
                write!(f, "unsupported serialized trie format version {v}")
            }
            Error::ChecksumMismatch => f.write_str("serialized trie checksum mismatch (corrupted)"),
            Error::Corrupt(why) => write!(f, "corrupt serialized trie: {why}"),
        }
    }
}

impl std::error::Error for Error {}
