//! S3-FIFO's ghost queue: which keys were evicted recently, without their
//! values.

/// Bits per remembered key: with 4 bits set in one 64-bit word per key this
/// gives a false-positive rate near 1% (Putze, Sanders, Singler, "Cache-,
/// Hash- and Space-Efficient Bloom Filters", 2007, blocked filters need a few
/// more bits than classic ones for the same rate).
const BITS_PER_KEY: usize = 16;

/// Smallest filter, in 64-bit words per generation: keeps tiny caches'
/// ghosts exact in practice (a handful of keys in 4096 bits).
const MIN_WORDS: usize = 64;

/// Remembers roughly the last `cap` fingerprints inserted, as two
/// generations of a blocked Bloom filter: inserts go to the young one; when it
/// has taken `cap / 2`, it becomes the old one and a cleared filter the young
/// one. A fingerprint is remembered while either generation has it, so for
/// the last `cap / 2` to `cap` insertions.
///
/// The two generations' words for one block sit side by side (`words[2b]`
/// and `words[2b + 1]`, which of them is young alternates), so a lookup reads
/// one 16-byte pair in one cache line instead of a line in each of two
/// arrays: every miss of the cache asks the ghost, and with the index and the
/// nodes competing for L2, the second line was a second cache miss.
///
/// Why not an exact FIFO of fingerprints: a hash table of them costs a random
/// memory access to insert, another to expire the oldest, and its size; the
/// filter takes 16 bits per key of each generation (180 KB for a 100 k
/// cache, whose ghost remembers 90 k keys), one cache line per probe, and
/// expiring a whole generation is one strided pass. A false positive (about 1%) lets a
/// new key skip the small queue, which costs at most a slightly worse
/// eviction.
#[derive(Clone, Debug)]
pub(crate) struct Ghost {
    /// Pairs of words: block `b`'s generation-0 word at `2b`, generation-1
    /// word at `2b + 1`.
    words: Vec<u64>,
    /// Which generation (0 or 1) is young.
    young: usize,
    in_young: usize,
    generation: usize,
}

impl Ghost {
    /// A ghost remembering about the last `cap` evicted keys.
    pub(crate) fn new(cap: usize) -> Ghost {
        let generation = (cap / 2).max(1);
        let blocks = (generation * BITS_PER_KEY).div_ceil(64).max(MIN_WORDS);
        Ghost {
            words: vec![0; 2 * blocks],
            young: 0,
            in_young: 0,
            generation,
        }
    }

    /// The block and the 4-bit mask of a fingerprint. The 32-bit tag
    /// is spread over 64 bits by a multiplication with 2^64 / golden ratio
    /// (Knuth's multiplicative hashing), whose top 32 bits pick the block
    /// (multiply-shift range reduction, Lemire 2016, so the block count
    /// need not be a power of two) and whose low bits pick the four bits.
    #[inline]
    fn locate(&self, tag: u32) -> (usize, u64) {
        let x = (tag as u64 | 1 << 32).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let blocks = (self.words.len() / 2) as u64;
        let block = (((x >> 32) * blocks) >> 32) as usize;
        let mask = 1u64 << (x & 63)
            | 1u64 << ((x >> 6) & 63)
            | 1u64 << ((x >> 12) & 63)
            | 1u64 << ((x >> 18) & 63);
        (2 * block, mask)
    }

    /// Remembers `tag`.
    #[inline]
    pub(crate) fn insert(&mut self, tag: u32) {
        if self.in_young == self.generation {
            // The old generation is forgotten and becomes the young one.
            self.young ^= 1;
            for pair in self.words.chunks_exact_mut(2) {
                pair[self.young] = 0;
            }
            self.in_young = 0;
        }
        let (w, m) = self.locate(tag);
        self.words[w + self.young] |= m;
        self.in_young += 1;
    }

    /// Whether `tag` is remembered (or a false positive).
    #[inline]
    pub(crate) fn contains(&self, tag: u32) -> bool {
        let (w, m) = self.locate(tag);
        let pair = &self.words[w..w + 2];
        pair[0] & m == m || pair[1] & m == m
    }

    pub(crate) fn clear(&mut self) {
        self.words.fill(0);
        self.in_young = 0;
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.words.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_between_half_and_all_of_the_last_cap() {
        let mut g = Ghost::new(100);
        for t in 0..1000u32 {
            g.insert(t.wrapping_mul(2_654_435_761));
        }
        let remembered = |g: &Ghost, t: u32| g.contains(t.wrapping_mul(2_654_435_761));
        // The last 50 (the young generation) and the 50 before them.
        assert!((900..1000).all(|t| remembered(&g, t)));
        let stale = (0..850).filter(|&t| remembered(&g, t)).count();
        assert!(
            stale < 20,
            "{stale} false positives among 850 forgotten keys"
        );
        g.clear();
        assert!(!(900..1000).any(|t| remembered(&g, t)));
    }
}
