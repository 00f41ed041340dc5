//! The single-threaded filter.

use std::fmt;
use std::hash::Hash;

use crate::block::{block_index, masks, Block, BLOCK_BITS, WORDS, WORD_BITS};
use crate::hash::{hash_one, DEFAULT_SEED};
use crate::sizing::{per_word, shape_for, span};
use crate::Error;

/// What a filter was built for and how it hashes: everything but the bits.
/// Two filters can be combined when their `Params` (but for the sizing inputs)
/// agree.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Params {
    pub blocks: u64,
    /// Rounds `m` of eight bits (`k = 8m`): 1, 2 or 4.
    pub rounds: u32,
    pub seed: u64,
    pub expected_items: u64,
    pub fp_rate: f64,
}

impl Params {
    pub(crate) fn new(expected_items: usize, fp_rate: f64, seed: u64) -> Result<Params, Error> {
        if expected_items == 0 {
            return Err(Error::ZeroItems);
        }
        // `!(0 < p < 1)` also catches NaN.
        if !(fp_rate > 0.0 && fp_rate < 1.0) {
            return Err(Error::InvalidFalsePositiveRate(fp_rate));
        }
        let too_large = Error::TooLarge {
            expected_items: expected_items as u64,
            false_positive_rate: fp_rate,
        };
        let shape = shape_for(expected_items as u64, fp_rate).ok_or(too_large)?;
        Ok(Params {
            blocks: shape.blocks,
            rounds: shape.rounds,
            seed,
            expected_items: expected_items as u64,
            fp_rate,
        })
    }

    /// The block `h` goes to in a one-round filter.
    #[inline(always)]
    pub(crate) fn block_of(&self, h: u64) -> usize {
        block_index(h, self.blocks) as usize
    }

    /// The first block of `h`'s unit (its block, or its line's first block),
    /// and how many blocks the unit has.
    #[inline(always)]
    pub(crate) fn unit_of(&self, h: u64) -> (usize, usize) {
        let span = span(self.rounds);
        (
            (block_index(h, self.blocks / span) * span) as usize,
            span as usize,
        )
    }

    pub(crate) fn compatible(&self, other: &Params) -> Result<(), Error> {
        if self.blocks != other.blocks {
            return Err(Error::Incompatible { what: "sizes" });
        }
        if self.rounds != other.rounds {
            return Err(Error::Incompatible {
                what: "numbers of hashes",
            });
        }
        if self.seed != other.seed {
            return Err(Error::Incompatible { what: "hash seeds" });
        }
        Ok(())
    }

    /// The chance that a random item's bits are all set in its unit, averaged
    /// over the units.
    pub(crate) fn estimated_fp_rate(&self, blocks: impl Iterator<Item = Block>) -> f64 {
        let (q, span) = (per_word(self.rounds), span(self.rounds) as usize);
        let (mut sum, mut unit) = (0.0, 1.0);
        for (i, b) in blocks.enumerate() {
            unit *= b.hit_probability(q);
            if (i + 1) % span == 0 {
                sum += unit;
                unit = 1.0;
            }
        }
        sum / (self.blocks / span as u64) as f64
    }

    /// Items per unit from each word's fill (the maximum-likelihood estimate
    /// `ln(1 - c/32) / (q ln(1 - 1/32))` for `c` set bits, `q` bits per item
    /// and word), averaged over the unit's words, summed over the units.
    pub(crate) fn estimated_items(&self, blocks: impl Iterator<Item = Block>) -> f64 {
        let span = span(self.rounds) as f64;
        let per_bit = (1.0 - 1.0 / WORD_BITS as f64).ln() * per_word(self.rounds) as f64;
        let per_word = |c: u32| {
            // A full word says "at least this many": use 31.5 set bits.
            let c = (c as f64).min(WORD_BITS as f64 - 0.5);
            (1.0 - c / WORD_BITS as f64).ln() / per_bit
        };
        blocks
            .map(|b| b.0.iter().map(|w| per_word(w.count_ones())).sum::<f64>() / WORDS as f64)
            .sum::<f64>()
            / span
    }
}

/// Allocates the filter's zeroed blocks, or reports that they do not fit.
pub(crate) fn alloc_blocks<B: Clone + Default>(p: &Params) -> Result<Vec<B>, Error> {
    let too_large = || Error::TooLarge {
        expected_items: p.expected_items,
        false_positive_rate: p.fp_rate,
    };
    let n = usize::try_from(p.blocks).map_err(|_| too_large())?;
    // Reserved (and advised onto huge pages when big) before the zeroes
    // are written: see `pages`.
    let mut v = crate::pages::reserve(n).map_err(|_| too_large())?;
    v.resize(n, B::default());
    Ok(v)
}

/// A cache-line-blocked Bloom filter: "have I seen this before?" in about ten
/// bits per item at a 1% false-positive rate, with one cache miss per operation.
///
/// It never forgets an item it was given (no false negatives); it sometimes says
/// yes to one it was not (a false positive), at most at the target rate while it
/// holds no more than the expected items. See the [crate docs](crate) for the
/// layout, sizing and cost model.
///
/// ```
/// use hld_bloom::BloomFilter;
///
/// let mut seen = BloomFilter::new(1_000, 0.01)?;
/// assert!(seen.insert("https://example.com/a")); // new
/// assert!(!seen.insert("https://example.com/a")); // already there
/// assert!(seen.contains("https://example.com/a"));
/// # Ok::<(), hld_bloom::Error>(())
/// ```
#[derive(PartialEq)]
pub struct BloomFilter {
    pub(crate) params: Params,
    pub(crate) blocks: Vec<Block>,
}

impl Clone for BloomFilter {
    /// A copy on memory of its own, advised onto huge pages like the original
    /// (a derived clone would write every page before it could be advised).
    fn clone(&self) -> BloomFilter {
        BloomFilter {
            params: self.params,
            blocks: crate::pages::collect(self.blocks.len(), self.blocks.iter().copied()),
        }
    }
}

impl BloomFilter {
    /// A filter for `expected_items` items whose false-positive rate stays at or
    /// under `false_positive_rate` until it holds that many, hashing with
    /// [`DEFAULT_SEED`](crate::DEFAULT_SEED).
    ///
    /// # Errors
    /// [`Error::ZeroItems`] for 0 items, [`Error::InvalidFalsePositiveRate`] for a
    /// rate that is NaN or not strictly between 0 and 1, [`Error::TooLarge`] when
    /// the filter cannot be allocated.
    pub fn new(expected_items: usize, false_positive_rate: f64) -> Result<BloomFilter, Error> {
        Self::with_seed(expected_items, false_positive_rate, DEFAULT_SEED)
    }

    /// Like [`new`](Self::new) with a chosen hash seed. Filters only combine
    /// (`union`) with filters of the same seed. A secret seed makes the bits
    /// hard to predict for someone choosing hostile inputs.
    pub fn with_seed(
        expected_items: usize,
        false_positive_rate: f64,
        seed: u64,
    ) -> Result<BloomFilter, Error> {
        let params = Params::new(expected_items, false_positive_rate, seed)?;
        let blocks = alloc_blocks(&params)?;
        Ok(BloomFilter { params, blocks })
    }

    /// The hash this filter computes for `item` (its seed, the stable hash): feed
    /// it to [`insert_hash`](Self::insert_hash) / [`contains_hash`](Self::contains_hash),
    /// for example to hash once and ask several filters.
    #[inline(always)]
    pub fn hash<T: Hash + ?Sized>(&self, item: &T) -> u64 {
        hash_one(self.params.seed, item)
    }

    /// Adds `item`; true if it was not already present (at least one of its bits
    /// was clear). A false positive makes this return false for a new item.
    #[inline(always)]
    pub fn insert<T: Hash + ?Sized>(&mut self, item: &T) -> bool {
        self.insert_hash(self.hash(item))
    }

    /// Whether `item` may have been inserted: false means certainly not.
    #[inline(always)]
    pub fn contains<T: Hash + ?Sized>(&self, item: &T) -> bool {
        self.contains_hash(self.hash(item))
    }

    /// Adds a pre-hashed key. `h` must be a well-mixed 64-bit hash (from
    /// [`hash`](Self::hash), [`hash_bytes`](crate::hash_bytes) or another good
    /// hash): the filter uses its bits as they are.
    #[inline(always)]
    pub fn insert_hash(&mut self, h: u64) -> bool {
        if self.params.rounds == 1 {
            let i = self.params.block_of(h);
            return self.blocks[i].set1(h);
        }
        self.insert_line(h)
    }

    /// Whether a pre-hashed key may have been inserted.
    #[inline(always)]
    pub fn contains_hash(&self, h: u64) -> bool {
        if self.params.rounds == 1 {
            let i = self.params.block_of(h);
            return self.blocks[i].has1(h);
        }
        self.contains_line(h)
    }

    // k = 16 and 32 (rates below ~1e-3): a 64-byte line of two blocks, out of
    // line so that the k = 8 path inlines small.
    #[inline(never)]
    fn insert_line(&mut self, h: u64) -> bool {
        let (first, _) = self.params.unit_of(h);
        let m = self.params.rounds;
        let lo = self.blocks[first].set_mask(&masks(h, m, 0));
        let hi = self.blocks[first + 1].set_mask(&masks(h, m, 1));
        lo | hi
    }

    #[inline(never)]
    fn contains_line(&self, h: u64) -> bool {
        let (first, _) = self.params.unit_of(h);
        let m = self.params.rounds;
        // Both halves tested, no early exit: the line is one cache miss either way.
        let lo = self.blocks[first].has_mask(&masks(h, m, 0));
        let hi = self.blocks[first + 1].has_mask(&masks(h, m, 1));
        lo & hi
    }

    /// Bits in the filter (256 per block).
    pub fn bit_len(&self) -> usize {
        self.blocks.len() * BLOCK_BITS as usize
    }

    /// Bits set (and tested) per item: `k` = 8, 16 or 32.
    pub fn num_hashes(&self) -> u32 {
        self.params.rounds * WORDS as u32
    }

    /// Bytes the filter's bits occupy (`bit_len / 8`).
    pub fn byte_len(&self) -> usize {
        self.blocks.len() * std::mem::size_of::<Block>()
    }

    /// The item count the filter was sized for.
    pub fn expected_items(&self) -> usize {
        self.params.expected_items as usize
    }

    /// The false-positive rate the filter was sized for.
    pub fn false_positive_rate(&self) -> f64 {
        self.params.fp_rate
    }

    /// The hash seed.
    pub fn seed(&self) -> u64 {
        self.params.seed
    }

    /// The false-positive rate the filter has now, from its bits: for each unit
    /// (block, or two-block line at `k` = 16 or 32), the chance that a random
    /// item's bits are all set, averaged over units. O(bits).
    pub fn estimated_fp_rate(&self) -> f64 {
        self.params.estimated_fp_rate(self.blocks.iter().copied())
    }

    /// How many distinct items the filter holds, estimated from its bits (within a
    /// few percent up to several times the expected items). O(bits).
    pub fn estimated_items(&self) -> f64 {
        self.params.estimated_items(self.blocks.iter().copied())
    }

    /// True if no item was ever inserted (no bit is set). O(bits).
    pub fn is_empty(&self) -> bool {
        self.blocks.iter().all(|b| b.0 == [0; WORDS])
    }

    /// Forgets every item, keeping the size and seed.
    pub fn clear(&mut self) {
        self.blocks.fill(Block::default());
    }

    /// Adds every item of `other` (bitwise OR): afterwards this filter contains
    /// whatever either contained.
    ///
    /// # Errors
    /// [`Error::Incompatible`] unless both have the same size, number of hashes
    /// and seed (build them with the same arguments).
    pub fn union(&mut self, other: &BloomFilter) -> Result<(), Error> {
        self.params.compatible(&other.params)?;
        for (a, b) in self.blocks.iter_mut().zip(&other.blocks) {
            for (x, y) in a.0.iter_mut().zip(&b.0) {
                *x |= y;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for BloomFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BloomFilter")
            .field("bit_len", &self.bit_len())
            .field("num_hashes", &self.num_hashes())
            .field("expected_items", &self.params.expected_items)
            .field("false_positive_rate", &self.params.fp_rate)
            .field("seed", &self.params.seed)
            .finish_non_exhaustive()
    }
}

/// Inserts every item; `&str`, `&[u8]` and other references work as items too.
impl<T: Hash> Extend<T> for BloomFilter {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        for item in iter {
            self.insert(&item);
        }
    }
}
