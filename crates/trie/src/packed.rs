//! Fixed-width bit-packed integers: the frozen form stores each term's
//! weight *rank* in `ceil(log2(distinct weights))` bits.

/// `len` integers of `bits` bits each, packed little-endian into `u64`s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PackedInts {
    pub(crate) words: Vec<u64>,
    pub(crate) bits: u32,
    pub(crate) len: usize,
}

/// Bits needed to store every value below `n` (at least 1).
pub(crate) fn bits_for(n: u64) -> u32 {
    (64 - n.saturating_sub(1).leading_zeros()).max(1)
}

/// Words needed for `len` values of `bits` bits.
pub(crate) fn words_for(len: usize, bits: u32) -> Option<usize> {
    len.checked_mul(bits as usize).map(|b| b.div_ceil(64))
}

impl PackedInts {
    pub(crate) fn from_values(values: &[u32], bits: u32) -> PackedInts {
        debug_assert!((1..=32).contains(&bits));
        let mut words = vec![0u64; words_for(values.len(), bits).unwrap_or(0)];
        for (i, &v) in values.iter().enumerate() {
            let bit = i * bits as usize;
            let (w, o) = (bit / 64, (bit % 64) as u32);
            let v = u64::from(v);
            words[w] |= v << o;
            if o + bits > 64 {
                words[w + 1] |= v >> (64 - o);
            }
        }
        PackedInts {
            words,
            bits,
            len: values.len(),
        }
    }

    /// The value at `i` (`i < len`).
    #[inline]
    pub(crate) fn get(&self, i: usize) -> u32 {
        let bit = i * self.bits as usize;
        let (w, o) = (bit / 64, (bit % 64) as u32);
        let mut v = self.words[w] >> o;
        if o + self.bits > 64 {
            v |= self.words[w + 1] << (64 - o);
        }
        (v & ((1u64 << self.bits) - 1)) as u32
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.words.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_width() {
        for bits in 1..=32u32 {
            let max = if bits == 32 {
                u32::MAX
            } else {
                (1u32 << bits) - 1
            };
            let vals: Vec<u32> = (0..200u32)
                .map(|i| i.wrapping_mul(2_654_435_761) & max)
                .collect();
            let p = PackedInts::from_values(&vals, bits);
            for (i, &v) in vals.iter().enumerate() {
                assert_eq!(p.get(i), v, "bits {bits} index {i}");
            }
        }
    }

    #[test]
    fn bits_for_counts() {
        assert_eq!(bits_for(0), 1);
        assert_eq!(bits_for(1), 1);
        assert_eq!(bits_for(2), 1);
        assert_eq!(bits_for(3), 2);
        assert_eq!(bits_for(256), 8);
        assert_eq!(bits_for(257), 9);
    }
}
