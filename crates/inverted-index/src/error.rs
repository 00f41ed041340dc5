//! The crate's error type.

use std::fmt;

/// Everything that can go wrong in this crate, except query parsing (which has
/// its own [`ParseError`](crate::ParseError) that says where the query is wrong).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// [`InvertedIndex::add`](crate::InvertedIndex::add) with a doc id that is
    /// already in the index (remove it first to replace it).
    DuplicateDoc(u64),
    /// The index holds [`MAX_DOCS`](crate::MAX_DOCS) documents (live ones and
    /// tombstones); [`compact`](crate::InvertedIndex::compact) or shard.
    Full,
    /// [`PostingList::push`](crate::PostingList::push) or
    /// [`PostingList::from_sorted`](crate::PostingList::from_sorted) with an id
    /// that is not larger than the previous one.
    NotIncreasing {
        /// The last id in the list.
        last: u32,
        /// The id that was offered.
        got: u32,
    },
    /// A [`PostingList`](crate::PostingList) id at or above
    /// [`MAX_DOCS`](crate::MAX_DOCS), or a zero term frequency.
    OutOfRange(u64),
    /// [`InvertedIndex::with_bm25`](crate::InvertedIndex::with_bm25) with `k1`
    /// negative or not finite, or `b` outside `0..=1`.
    InvalidBm25,
    /// [`InvertedIndex::from_bytes`](crate::InvertedIndex::from_bytes): the bytes
    /// are not an index written by this crate.
    BadMagic,
    /// The bytes were written by a format version this build does not read.
    UnsupportedVersion(u32),
    /// The bytes end early.
    Truncated,
    /// The checksum does not match: the bytes were corrupted.
    ChecksumMismatch,
    /// The checksum matches but the content breaks an invariant (the string says
    /// which one).
    Corrupt(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::DuplicateDoc(d) => write!(f, "document {d} is already in the index"),
            Error::Full => write!(f, "the index is full ({} documents)", crate::MAX_DOCS),
            Error::NotIncreasing { last, got } => {
                write!(f, "posting ids must increase: {got} after {last}")
            }
            Error::OutOfRange(v) => write!(f, "value {v} is out of range"),
            Error::InvalidBm25 => write!(f, "BM25 needs a finite k1 >= 0 and b in 0..=1"),
            Error::BadMagic => write!(f, "not a serialized hld inverted index (bad magic)"),
            Error::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
            Error::Truncated => write!(f, "serialized index is truncated"),
            Error::ChecksumMismatch => write!(f, "serialized index is corrupt (checksum mismatch)"),
            Error::Corrupt(why) => write!(f, "serialized index is corrupt: {why}"),
        }
    }
}

impl std::error::Error for Error {}
