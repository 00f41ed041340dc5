//! [`FastCdc`]: the chunker's parameters and the slice API.

use std::iter::FusedIterator;

use crate::error::{Error, SizeParam};
use crate::gear::{gear_fold_fast, masks_for};
use crate::scan::{scan_from, warm};

/// Accepted `min_size` range (the `fastcdc` crate's `MINIMUM_MIN..=MINIMUM_MAX`).
pub const MIN_SIZE_RANGE: (usize, usize) = (64, 1 << 20);
/// Accepted `avg_size` range (the `fastcdc` crate's `AVERAGE_MIN..=AVERAGE_MAX`).
pub const AVG_SIZE_RANGE: (usize, usize) = (256, 4 << 20);
/// Accepted `max_size` range (the `fastcdc` crate's `MAXIMUM_MIN..=MAXIMUM_MAX`).
pub const MAX_SIZE_RANGE: (usize, usize) = (1024, 16 << 20);

/// One chunk of the input: where it starts, how long it is, and the Gear
/// hash at its cut.
///
/// `hash` is exactly what the `fastcdc` crate's `v2020::Chunk::hash` holds:
/// the rolling hash as of the cut, which (as in FastCDC) includes the byte
/// just after the chunk when the cut was content-defined, and is 0 for a
/// final chunk no longer than `min_size`. It is a cheap, weak value; use a
/// [`Manifest`](crate::Manifest) fingerprint to identify content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Chunk {
    /// Offset of the chunk's first byte in the input (in the whole stream,
    /// for a [`StreamChunker`](crate::StreamChunker)).
    pub offset: u64,
    /// Length in bytes: at least 1, at most `max_size`.
    pub len: usize,
    /// The Gear hash at the cut point.
    pub hash: u64,
}

impl Chunk {
    /// The offset one past the chunk's last byte.
    #[inline]
    pub fn end(&self) -> u64 {
        self.offset + self.len as u64
    }

    /// The chunk's bytes within `data` (the input it was cut from), or `None`
    /// if `data` is too short.
    pub fn bytes<'a>(&self, data: &'a [u8]) -> Option<&'a [u8]> {
        let start = usize::try_from(self.offset).ok()?;
        data.get(start..start.checked_add(self.len)?)
    }
}

/// A FastCDC 2020 content-defined chunker (normalization level 1).
///
/// Boundaries, lengths and hashes are identical to the `fastcdc` crate 5.x
/// `v2020::FastCDC::new(data, min, avg, max)`, found with a faster scanner
/// (see the crate docs). The value holds only the parameters: it is `Copy`,
/// and one instance chunks any number of inputs, from any number of threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "SizesRepr", into = "SizesRepr"))]
pub struct FastCdc {
    pub(crate) min: usize,
    pub(crate) avg: usize,
    pub(crate) max: usize,
    /// Strict mask, before `avg` bytes: more bits, fewer cuts.
    mask_s: u64,
    /// Loose mask, from `avg` bytes on: fewer bits, more cuts.
    mask_l: u64,
}

/// The serialized form of a [`FastCdc`]: its three sizes, validated on the way in.
#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
struct SizesRepr {
    min_size: usize,
    avg_size: usize,
    max_size: usize,
}

#[cfg(feature = "serde")]
impl TryFrom<SizesRepr> for FastCdc {
    type Error = Error;
    fn try_from(r: SizesRepr) -> Result<FastCdc, Error> {
        FastCdc::new(r.min_size, r.avg_size, r.max_size)
    }
}

#[cfg(feature = "serde")]
impl From<FastCdc> for SizesRepr {
    fn from(c: FastCdc) -> SizesRepr {
        SizesRepr {
            min_size: c.min,
            avg_size: c.avg,
            max_size: c.max,
        }
    }
}

impl Default for FastCdc {
    /// 16 KiB / 64 KiB / 256 KiB: casync's defaults, a common choice for
    /// file sync (a few thousand chunks per 100 MB file).
    fn default() -> FastCdc {
        FastCdc::new(16 << 10, 64 << 10, 256 << 10).expect("valid default sizes")
    }
}

fn check_range(param: SizeParam, value: usize, (lo, hi): (usize, usize)) -> Result<(), Error> {
    if value < lo || value > hi {
        return Err(Error::SizeOutOfRange {
            param,
            value,
            lo,
            hi,
        });
    }
    if value % 2 == 1 {
        return Err(Error::OddSize { param, value });
    }
    Ok(())
}

impl FastCdc {
    /// A chunker that cuts chunks of at least `min_size` and at most
    /// `max_size` bytes, `avg_size` on average.
    ///
    /// Accepts exactly the triples the `fastcdc` crate's `v2020` module
    /// handles correctly: each size within its range ([`MIN_SIZE_RANGE`],
    /// [`AVG_SIZE_RANGE`], [`MAX_SIZE_RANGE`]), each even, and
    /// `min_size <= avg_size <= max_size`. Anything else is an `Err` naming
    /// the offending size.
    ///
    /// ```
    /// use hld_chunker::{Error, FastCdc};
    /// assert!(FastCdc::new(2048, 8192, 65536).is_ok());
    /// assert!(matches!(FastCdc::new(8192, 2048, 65536), Err(Error::MinAboveAvg { .. })));
    /// assert!(matches!(FastCdc::new(2048, 8193, 65536), Err(Error::OddSize { .. })));
    /// ```
    pub fn new(min_size: usize, avg_size: usize, max_size: usize) -> Result<FastCdc, Error> {
        check_range(SizeParam::Min, min_size, MIN_SIZE_RANGE)?;
        check_range(SizeParam::Avg, avg_size, AVG_SIZE_RANGE)?;
        check_range(SizeParam::Max, max_size, MAX_SIZE_RANGE)?;
        if min_size > avg_size {
            return Err(Error::MinAboveAvg {
                min: min_size,
                avg: avg_size,
            });
        }
        if avg_size > max_size {
            return Err(Error::AvgAboveMax {
                avg: avg_size,
                max: max_size,
            });
        }
        let (mask_s, mask_l) = masks_for(avg_size);
        Ok(FastCdc {
            min: min_size,
            avg: avg_size,
            max: max_size,
            mask_s,
            mask_l,
        })
    }

    /// The minimum chunk size (only a final chunk may be shorter).
    #[inline]
    pub fn min_size(&self) -> usize {
        self.min
    }

    /// The target average chunk size.
    #[inline]
    pub fn avg_size(&self) -> usize {
        self.avg
    }

    /// The maximum chunk size.
    #[inline]
    pub fn max_size(&self) -> usize {
        self.max
    }

    /// The chunks of `data`, in order, covering it exactly. Lazy, and
    /// allocation-free: each chunk costs one scan of its bytes past `min_size`.
    ///
    /// ```
    /// use hld_chunker::FastCdc;
    /// let data: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    /// let cdc = FastCdc::new(1024, 4096, 16384)?;
    /// let chunks: Vec<_> = cdc.chunks(&data).collect();
    /// assert_eq!(chunks.iter().map(|c| c.len).sum::<usize>(), data.len());
    /// assert!(chunks.iter().all(|c| c.len <= 16384));
    /// # Ok::<(), hld_chunker::Error>(())
    /// ```
    pub fn chunks<'a>(&self, data: &'a [u8]) -> impl Iterator<Item = Chunk> + 'a {
        Chunks {
            cdc: *self,
            data,
            pos: 0,
        }
    }

    /// The first chunk of `data`: its length and hash (`(0, 0)` for empty
    /// input). `data` is taken to end where the input ends.
    pub fn cut(&self, data: &[u8]) -> (usize, u64) {
        self.cut_from(data, self.min)
    }

    /// [`cut`](Self::cut), for a caller that knows no position before `from`
    /// is a cut (the stream chunker, resuming a scan).
    #[inline]
    pub(crate) fn cut_from(&self, data: &[u8], from: usize) -> (usize, u64) {
        let n = data.len();
        if n <= self.min {
            // FastCDC skips sub-minimum tails without hashing them.
            return (n, 0);
        }
        let end = n.min(self.max);
        match self.find(&data[..end], from) {
            Some(i) => (i, self.hash_at(data, i)),
            None => (end, self.window_hash(data, end)),
        }
    }

    /// The first content-defined cut position of `data` (already clipped to
    /// `max_size`) at or after `from`, if any. FastCDC tests positions
    /// `min..len` rounded down to even (pairs of bytes), with the strict mask
    /// before `avg` and the loose one after.
    pub(crate) fn find(&self, data: &[u8], from: usize) -> Option<usize> {
        let tested_end = data.len() & !1;
        let from = from.max(self.min);
        let strict_end = self.avg.min(tested_end);
        let mut carried = None;
        if from < strict_end {
            match scan_from(
                data,
                self.min,
                from,
                strict_end,
                warm(data, self.min, from),
                self.mask_s,
            ) {
                Ok(i) => return Some(i),
                Err(h) => carried = Some(h),
            }
        }
        let lo = from.max(self.avg);
        if lo < tested_end {
            // The strict scan, if any, stopped exactly at `avg == lo`: its
            // final state is the loose scan's starting state.
            let h = carried.unwrap_or_else(|| warm(data, self.min, lo));
            return scan_from(data, self.min, lo, tested_end, h, self.mask_l).ok();
        }
        None
    }

    /// FastCDC's reported hash for a cut at `i`: the full 64-bit Gear hash of
    /// `data[min..=i]` (the last 64 bytes suffice), shifted left once more at
    /// even positions, where the 2020 loop tests the doubled hash against the
    /// doubled mask (`GEAR_LS`, `mask << 1`) and returns it as is.
    #[inline]
    pub(crate) fn hash_at(&self, data: &[u8], i: usize) -> u64 {
        let h = self.window_hash(data, i + 1);
        if i.is_multiple_of(2) {
            h << 1
        } else {
            h
        }
    }

    /// The Gear hash of `data[min..end]`, from its last 64 bytes.
    #[inline]
    pub(crate) fn window_hash(&self, data: &[u8], end: usize) -> u64 {
        let from = end.saturating_sub(64).max(self.min);
        gear_fold_fast(0, &data[from..end])
    }
}

/// The iterator behind [`FastCdc::chunks`].
#[derive(Clone, Debug)]
struct Chunks<'a> {
    cdc: FastCdc,
    data: &'a [u8],
    pos: usize,
}

impl Iterator for Chunks<'_> {
    type Item = Chunk;

    #[inline]
    fn next(&mut self) -> Option<Chunk> {
        let rest = &self.data[self.pos..];
        if rest.is_empty() {
            return None;
        }
        let (len, hash) = self.cdc.cut(rest);
        let chunk = Chunk {
            offset: self.pos as u64,
            len,
            hash,
        };
        self.pos += len;
        Some(chunk)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let rest = self.data.len() - self.pos;
        if rest == 0 {
            (0, Some(0))
        } else {
            (
                rest.div_ceil(self.cdc.max),
                Some(rest.div_ceil(self.cdc.min)),
            )
        }
    }
}

impl FusedIterator for Chunks<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_each_bad_size_by_name() {
        let e = FastCdc::new(32, 256, 1024).unwrap_err();
        assert!(matches!(
            e,
            Error::SizeOutOfRange {
                param: SizeParam::Min,
                ..
            }
        ));
        assert!(e.to_string().contains("min_size"));
        let e = FastCdc::new(64, 128, 1024).unwrap_err();
        assert!(matches!(
            e,
            Error::SizeOutOfRange {
                param: SizeParam::Avg,
                ..
            }
        ));
        let e = FastCdc::new(64, 256, 512).unwrap_err();
        assert!(matches!(
            e,
            Error::SizeOutOfRange {
                param: SizeParam::Max,
                ..
            }
        ));
        let e = FastCdc::new(64, 256, (16 << 20) + 2).unwrap_err();
        assert!(e.to_string().contains("max_size"));
        let e = FastCdc::new(65, 256, 1024).unwrap_err();
        assert_eq!(
            e,
            Error::OddSize {
                param: SizeParam::Min,
                value: 65
            }
        );
        assert!(e.to_string().contains("odd"));
        let e = FastCdc::new(64, 257, 1024).unwrap_err();
        assert_eq!(
            e,
            Error::OddSize {
                param: SizeParam::Avg,
                value: 257
            }
        );
        let e = FastCdc::new(64, 256, 1025).unwrap_err();
        assert_eq!(
            e,
            Error::OddSize {
                param: SizeParam::Max,
                value: 1025
            }
        );
        let e = FastCdc::new(4096, 2048, 8192).unwrap_err();
        assert_eq!(
            e,
            Error::MinAboveAvg {
                min: 4096,
                avg: 2048
            }
        );
        assert!(e.to_string().contains("larger than avg_size"));
        let e = FastCdc::new(1024, 8192, 4096).unwrap_err();
        assert_eq!(
            e,
            Error::AvgAboveMax {
                avg: 8192,
                max: 4096
            }
        );
        assert!(e.to_string().contains("larger than max_size"));
        assert!(FastCdc::new(1 << 20, 4 << 20, 16 << 20).is_ok());
        assert!(FastCdc::new(64, 256, 1024).is_ok());
        assert!(FastCdc::new(1024, 1024, 1024).is_ok());
    }

    #[test]
    fn empty_and_tiny_inputs() {
        let cdc = FastCdc::new(64, 256, 1024).unwrap();
        assert_eq!(cdc.chunks(&[]).count(), 0);
        assert_eq!(cdc.cut(&[]), (0, 0));
        let c: Vec<_> = cdc.chunks(&[7u8; 64]).collect();
        assert_eq!(
            c,
            vec![Chunk {
                offset: 0,
                len: 64,
                hash: 0
            }]
        );
        // One byte past the minimum: hashed, never a cut candidate.
        let (len, hash) = cdc.cut(&[0u8; 65]);
        assert_eq!((len, hash), (65, crate::gear::GEAR[0]));
    }

    #[test]
    fn all_zeros_cut_at_max_with_the_published_hash() {
        // The `fastcdc` crate's own test: zeros, 64/256/1024, every chunk is
        // 1024 bytes with hash 14169102344523991076.
        let data = vec![0u8; 10240];
        let cdc = FastCdc::new(64, 256, 1024).unwrap();
        let chunks: Vec<_> = cdc.chunks(&data).collect();
        assert_eq!(chunks.len(), 10);
        for (k, c) in chunks.iter().enumerate() {
            assert_eq!(c.offset, k as u64 * 1024);
            assert_eq!(c.len, 1024);
            assert_eq!(c.hash, 14169102344523991076);
        }
    }

    #[test]
    fn equal_sizes_make_fixed_chunks() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 256) as u8).collect();
        let cdc = FastCdc::new(1024, 1024, 1024).unwrap();
        let lens: Vec<_> = cdc.chunks(&data).map(|c| c.len).collect();
        assert_eq!(lens, vec![1024, 1024, 1024, 1024, 904]);
    }

    #[test]
    fn size_hint_brackets_the_count() {
        let data: Vec<u8> = (0..300_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
            .collect();
        let cdc = FastCdc::new(256, 1024, 4096).unwrap();
        let it = cdc.chunks(&data);
        let (lo, hi) = it.size_hint();
        let n = it.count();
        assert!(lo <= n && n <= hi.unwrap());
    }

    #[test]
    fn chunk_bytes_and_end() {
        let c = Chunk {
            offset: 2,
            len: 3,
            hash: 0,
        };
        assert_eq!(c.end(), 5);
        assert_eq!(c.bytes(b"abcdefg"), Some(&b"cde"[..]));
        assert_eq!(c.bytes(b"abcd"), None);
    }
}
