//! S3-FIFO's ghost queue: which keys were evicted recently, without their
//! values.

/// Bits per remembered key: with 4 bits set in one 64-bit word per key this
/// gives a false-positive rate near 1% (Putze, Sanders, Singler, "Cache-,
/// Hash- and Space-Efficient Bloom Filters", 2007, blocked filters need a few
/// more bits than classic ones for the same rate).
const BITS_PER_KEY: usize = 16;

/// Smallest filter, in 64-bit words: keeps tiny caches' ghosts exact in
/// practice (a handful of keys in 4096 bits).
const MIN_WORDS: usize = 64;

/// Remembers roughly the last `cap` fingerprints inserted, as two
/// generations of a blocked Bloom filter: inserts go to the young one; when it
/// has taken `cap / 2`, it becomes the old one and a cleared filter the young
/// one. A fingerprint is remembered while either generation has it, so for
/// the last `cap / 2` to `cap` insertions.
///
/// Why not an exact FIFO of fingerprints: a hash table of them costs a random
/// memory access to insert, another to expire the oldest, and its size; the
/// two filters take 2 * 16 bits per remembered key (a few dozen KB for a
/// 100 k cache, resident in L2), one cache line per probe, and expiring a
/// whole generation is one `memset`. A false positive (about 1%) lets a new
/// key skip the small queue, which costs at most a slightly worse eviction.
#[derive(Clone, Debug)]
pub(crate) struct Ghost {
    young: Vec<u64>,
    old: Vec<u64>,
    /// `log2(words)`, for picking a word from the top bits of a mixed hash.
    shift: u32,
    in_young: usize,
    generation: usize,
}

impl Ghost {
    /// A ghost remembering about the last `cap` evicted keys.
    pub(crate) fn new(cap: usize) -> Ghost {
        let generation = (cap / 2).max(1);
        let words = (generation * BITS_PER_KEY)
            .div_ceil(64)
            .next_power_of_two()
            .max(MIN_WORDS);
        Ghost {
            young: vec![0; words],
            old: vec![0; words],
            shift: 64 - words.trailing_zeros(),
            in_young: 0,
            generation,
        }
    }

    /// The filter word and the 4-bit mask of a fingerprint. The 32-bit tag
    /// is spread over 64 bits by a multiplication with 2^64 / golden ratio
    /// (Knuth's multiplicative hashing), whose top bits pick the word and
    /// whose low bits pick the four bits.
    #[inline]
    fn locate(&self, tag: u32) -> (usize, u64) {
        let x = (tag as u64 | 1 << 32).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let word = (x >> self.shift) as usize;
        let mask = 1u64 << (x & 63)
            | 1u64 << ((x >> 6) & 63)
            | 1u64 << ((x >> 12) & 63)
            | 1u64 << ((x >> 18) & 63);
        (word, mask)
    }

    /// Remembers `tag`.
    #[inline]
    pub(crate) fn insert(&mut self, tag: u32) {
        if self.in_young == self.generation {
            std::mem::swap(&mut self.young, &mut self.old);
            self.young.fill(0);
            self.in_young = 0;
        }
        let (w, m) = self.locate(tag);
        self.young[w] |= m;
        self.in_young += 1;
    }

    /// Whether `tag` is remembered (or a false positive).
    #[inline]
    pub(crate) fn contains(&self, tag: u32) -> bool {
        let (w, m) = self.locate(tag);
        self.young[w] & m == m || self.old[w] & m == m
    }

    pub(crate) fn clear(&mut self) {
        self.young.fill(0);
        self.old.fill(0);
        self.in_young = 0;
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        (self.young.capacity() + self.old.capacity()) * 8
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
