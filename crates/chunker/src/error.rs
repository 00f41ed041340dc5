//! The crate's one error type.

use std::fmt;

/// Which of the three chunk-size parameters an [`Error`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SizeParam {
    /// The minimum chunk size.
    Min,
    /// The average (target) chunk size.
    Avg,
    /// The maximum chunk size.
    Max,
}

impl fmt::Display for SizeParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SizeParam::Min => "min_size",
            SizeParam::Avg => "avg_size",
            SizeParam::Max => "max_size",
        })
    }
}

/// Everything that can go wrong: bad chunker sizes, malformed manifest bytes,
/// and rebuild inputs that do not match their manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A size lies outside the range FastCDC supports (`lo..=hi`).
    SizeOutOfRange {
        /// Which size.
        param: SizeParam,
        /// The value given.
        value: usize,
        /// The smallest accepted value.
        lo: usize,
        /// The largest accepted value.
        hi: usize,
    },
    /// A size is odd: the two-bytes-at-a-time FastCDC 2020 scan needs even
    /// sizes, or its boundaries silently move by one byte.
    OddSize {
        /// Which size.
        param: SizeParam,
        /// The value given.
        value: usize,
    },
    /// `min_size > avg_size`.
    MinAboveAvg {
        /// The minimum size given.
        min: usize,
        /// The average size given.
        avg: usize,
    },
    /// `avg_size > max_size`.
    AvgAboveMax {
        /// The average size given.
        avg: usize,
        /// The maximum size given.
        max: usize,
    },
    /// Serialized bytes end before the structure does.
    Truncated,
    /// Serialized bytes do not start with this crate's magic number.
    BadMagic,
    /// Serialized bytes use a format version this build does not read.
    UnsupportedVersion(u8),
    /// The checksum over the serialized bytes does not match: they were
    /// corrupted in storage or transit.
    ChecksumMismatch,
    /// Serialized bytes are well framed but describe an impossible value.
    Malformed(&'static str),
    /// A rebuild input does not match the manifest (wrong length, wrong
    /// fingerprint, or an old file too short for the recipe).
    Mismatch(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::SizeOutOfRange {
                param,
                value,
                lo,
                hi,
            } => write!(f, "{param} = {value} is outside the supported range {lo}..={hi}"),
            Error::OddSize { param, value } => write!(
                f,
                "{param} = {value} is odd; FastCDC 2020 scans two bytes at a time and needs even sizes"
            ),
            Error::MinAboveAvg { min, avg } => {
                write!(f, "min_size = {min} is larger than avg_size = {avg}")
            }
            Error::AvgAboveMax { avg, max } => {
                write!(f, "avg_size = {avg} is larger than max_size = {max}")
            }
            Error::Truncated => f.write_str("serialized manifest is truncated"),
            Error::BadMagic => f.write_str("not a serialized manifest (bad magic number)"),
            Error::UnsupportedVersion(v) => {
                write!(f, "serialized manifest has unsupported format version {v}")
            }
            Error::ChecksumMismatch => f.write_str("serialized manifest fails its checksum"),
            Error::Malformed(why) => write!(f, "serialized manifest is malformed: {why}"),
            Error::Mismatch(why) => write!(f, "rebuild input does not match the manifest: {why}"),
        }
    }
}

impl std::error::Error for Error {}
