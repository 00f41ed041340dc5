//! The filter many threads insert into at once.

use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use crate::block::{masks, Block, BLOCK_BITS, WORDS};
use crate::filter::{alloc_blocks, BloomFilter, Params};
use crate::hash::{hash_one, DEFAULT_SEED};
use crate::Error;

/// A block of atomic words, aligned like [`Block`] (within one cache line).
#[derive(Default)]
#[repr(C, align(32))]
struct AtomicBlock([AtomicU32; WORDS]);

impl Clone for AtomicBlock {
    fn clone(&self) -> Self {
        AtomicBlock::from(self.load())
    }
}

impl AtomicBlock {
    fn load(&self) -> Block {
        Block(std::array::from_fn(|w| self.0[w].load(Relaxed)))
    }
}

impl From<Block> for AtomicBlock {
    fn from(b: Block) -> Self {
        AtomicBlock(b.0.map(AtomicU32::new))
    }
}

/// A [`BloomFilter`] that many threads share: `insert(&self)` and
/// `contains(&self)`, lock-free (one `fetch_or` per word that gains a bit, none
/// for bits already set). Same sizing, hash, bits and serialized form as
/// `BloomFilter`, so one converts into the other for free in either direction.
///
/// An insert that returns is seen by every `contains` that happens after it (in
/// the usual happens-before sense): there is never a false negative. Two threads
/// inserting the same new item at once may both be told it was new.
///
/// ```
/// use std::sync::Arc;
/// use hld_bloom::AtomicBloomFilter;
///
/// let seen = Arc::new(AtomicBloomFilter::new(10_000, 0.01)?);
/// let workers: Vec<_> = (0..2u64)
///     .map(|t| {
///         let seen = Arc::clone(&seen);
///         std::thread::spawn(move || {
///             for i in 0..1_000u64 {
///                 seen.insert(&(t * 1_000 + i));
///             }
///         })
///     })
///     .collect();
/// for w in workers {
///     w.join().unwrap();
/// }
/// assert!((0..2_000u64).all(|i| seen.contains(&i)));
/// # Ok::<(), hld_bloom::Error>(())
/// ```
pub struct AtomicBloomFilter {
    params: Params,
    blocks: Vec<AtomicBlock>,
}

impl AtomicBloomFilter {
    /// A filter for `expected_items` at `false_positive_rate`; the same sizing and
    /// errors as [`BloomFilter::new`].
    pub fn new(
        expected_items: usize,
        false_positive_rate: f64,
    ) -> Result<AtomicBloomFilter, Error> {
        Self::with_seed(expected_items, false_positive_rate, DEFAULT_SEED)
    }

    /// Like [`new`](Self::new) with a chosen hash seed.
    pub fn with_seed(
        expected_items: usize,
        false_positive_rate: f64,
        seed: u64,
    ) -> Result<AtomicBloomFilter, Error> {
        let params = Params::new(expected_items, false_positive_rate, seed)?;
        let blocks = alloc_blocks(&params)?;
        Ok(AtomicBloomFilter { params, blocks })
    }

    /// The stable hash of `item` with this filter's seed.
    #[inline]
    pub fn hash<T: Hash + ?Sized>(&self, item: &T) -> u64 {
        hash_one(self.params.seed, item)
    }

    /// Adds `item`; true if this call set at least one bit.
    #[inline]
    pub fn insert<T: Hash + ?Sized>(&self, item: &T) -> bool {
        self.insert_hash(self.hash(item))
    }

    /// Whether `item` may have been inserted: false means certainly not.
    #[inline]
    pub fn contains<T: Hash + ?Sized>(&self, item: &T) -> bool {
        self.contains_hash(self.hash(item))
    }

    /// Adds a pre-hashed key (a well-mixed 64-bit hash).
    #[inline]
    pub fn insert_hash(&self, h: u64) -> bool {
        let (first, span) = self.params.unit_of(h);
        let mut new = false;
        for (half, block) in self.blocks[first..first + span].iter().enumerate() {
            let mask = masks(h, self.params.rounds, half);
            for (word, &m) in block.0.iter().zip(&mask) {
                // Read first: a word that already has the bits needs no write, so
                // hot blocks are not bounced between cores for nothing.
                if word.load(Relaxed) & m != m {
                    new |= word.fetch_or(m, Relaxed) & m != m;
                }
            }
        }
        new
    }

    /// Whether a pre-hashed key may have been inserted.
    #[inline]
    pub fn contains_hash(&self, h: u64) -> bool {
        let (first, span) = self.params.unit_of(h);
        self.blocks[first..first + span]
            .iter()
            .enumerate()
            .all(|(half, block)| {
                let mask = masks(h, self.params.rounds, half);
                block
                    .0
                    .iter()
                    .zip(&mask)
                    .all(|(word, &m)| word.load(Relaxed) & m == m)
            })
    }

    /// Bits in the filter.
    pub fn bit_len(&self) -> usize {
        self.blocks.len() * BLOCK_BITS as usize
    }

    /// Bits set (and tested) per item.
    pub fn num_hashes(&self) -> u32 {
        self.params.rounds * WORDS as u32
    }

    /// The false-positive rate the filter has now, from its bits. O(bits).
    pub fn estimated_fp_rate(&self) -> f64 {
        self.params
            .estimated_fp_rate(self.blocks.iter().map(AtomicBlock::load))
    }

    /// Distinct items held, estimated from the bits. O(bits).
    pub fn estimated_items(&self) -> f64 {
        self.params
            .estimated_items(self.blocks.iter().map(AtomicBlock::load))
    }

    /// Adds every item of `other` (bitwise OR), while other threads keep working.
    ///
    /// # Errors
    /// [`Error::Incompatible`] unless both have the same size, hashes and seed.
    pub fn union(&self, other: &BloomFilter) -> Result<(), Error> {
        self.params.compatible(&other.params)?;
        for (a, b) in self.blocks.iter().zip(&other.blocks) {
            for (word, &bits) in a.0.iter().zip(&b.0) {
                if bits != 0 {
                    word.fetch_or(bits, Relaxed);
                }
            }
        }
        Ok(())
    }

    /// A copy of the current bits as a plain filter (each word read atomically;
    /// inserts racing with the copy may or may not be in it).
    pub fn snapshot(&self) -> BloomFilter {
        BloomFilter {
            params: self.params,
            blocks: crate::pages::collect(
                self.blocks.len(),
                self.blocks.iter().map(AtomicBlock::load),
            ),
        }
    }

    /// The bits as a plain filter (reusing the allocation).
    pub fn into_inner(self) -> BloomFilter {
        BloomFilter {
            params: self.params,
            blocks: self
                .blocks
                .into_iter()
                .map(|b| Block(b.0.map(AtomicU32::into_inner)))
                .collect(),
        }
    }

    /// The serialized form: identical to [`BloomFilter::to_bytes`] of a snapshot.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.snapshot().to_bytes()
    }

    /// Reads what [`to_bytes`](Self::to_bytes) (or `BloomFilter::to_bytes`) wrote.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for anything but an intact serialized filter,
    /// [`Error::UnsupportedVersion`] for one of format version 1.
    pub fn from_bytes(bytes: &[u8]) -> Result<AtomicBloomFilter, Error> {
        BloomFilter::from_bytes(bytes).map(AtomicBloomFilter::from)
    }
}

impl From<BloomFilter> for AtomicBloomFilter {
    fn from(f: BloomFilter) -> Self {
        AtomicBloomFilter {
            params: f.params,
            blocks: f.blocks.into_iter().map(AtomicBlock::from).collect(),
        }
    }
}

impl Clone for AtomicBloomFilter {
    fn clone(&self) -> Self {
        // On memory advised like the original's (see `BloomFilter::clone`).
        AtomicBloomFilter {
            params: self.params,
            blocks: crate::pages::collect(self.blocks.len(), self.blocks.iter().cloned()),
        }
    }
}

impl fmt::Debug for AtomicBloomFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AtomicBloomFilter")
            .field("bit_len", &self.bit_len())
            .field("num_hashes", &self.num_hashes())
            .field("expected_items", &self.params.expected_items)
            .field("false_positive_rate", &self.params.fp_rate)
            .field("seed", &self.params.seed)
            .finish_non_exhaustive()
    }
}
