//! Range-minimum queries over the packed weight ranks: the frozen form's
//! top-k engine. A prefix is a contiguous range of the sorted terms, and
//! its top-k is found by repeatedly taking the minimum rank (= heaviest
//! term) of a range and splitting the range around it.
//!
//! Two levels, the classic block decomposition (Bender and Farach-Colton,
//! "The LCA Problem Revisited", 2000, without the in-block tables): ranks
//! are cut into blocks of [`BLOCK`] terms, a sparse table over the block
//! minima answers whole-block spans in O(1), and the partial blocks at
//! either end are scanned. Memory: one byte per block for the position of
//! its minimum plus `4 * log2(blocks)` bytes per block for the table,
//! about 0.9 bytes per term at a million terms.

use crate::packed::PackedInts;

/// Terms per block: a scan of at most two partial blocks (about 2 x 32
/// values on average) costs about as much as the cache misses of the
/// sparse-table lookup, and 64 keeps the table under a byte per term.
pub(crate) const BLOCK: usize = 64;

#[derive(Clone, Debug)]
pub(crate) struct RangeMin {
    /// Offset of the leftmost minimum inside each block.
    block_min: Vec<u8>,
    /// `levels[j][b]` = the block with the leftmost minimum among blocks
    /// `b .. b + 2^(j+1)` (level 0, single blocks, is implicit).
    levels: Vec<Vec<u32>>,
}

impl RangeMin {
    pub(crate) fn new(ranks: &PackedInts) -> RangeMin {
        let n = ranks.len;
        let nblocks = n.div_ceil(BLOCK);
        let mut block_min = Vec::with_capacity(nblocks);
        for b in 0..nblocks {
            let lo = b * BLOCK;
            let hi = (lo + BLOCK).min(n);
            let (_, pos) = scan(ranks, lo, hi);
            block_min.push((pos - lo) as u8);
        }
        let mut r = RangeMin {
            block_min,
            levels: Vec::new(),
        };
        let mut prev: Vec<u32> = (0..nblocks as u32).collect();
        let mut span = 1usize;
        while span * 2 <= nblocks {
            let next: Vec<u32> = (0..=nblocks - span * 2)
                .map(|b| r.better_block(ranks, prev[b], prev[b + span]))
                .collect();
            r.levels.push(next.clone());
            prev = next;
            span *= 2;
        }
        r
    }

    #[inline]
    fn block_pos(&self, b: u32) -> usize {
        b as usize * BLOCK + self.block_min[b as usize] as usize
    }

    /// Of two blocks, the one with the smaller minimum (the left one on ties).
    #[inline]
    fn better_block(&self, ranks: &PackedInts, a: u32, b: u32) -> u32 {
        let (ra, rb) = (ranks.get(self.block_pos(a)), ranks.get(self.block_pos(b)));
        if rb < ra || (rb == ra && b < a) {
            b
        } else {
            a
        }
    }

    /// `(rank, position)` of the leftmost minimum in `lo..hi` (non-empty).
    pub(crate) fn query(&self, ranks: &PackedInts, lo: usize, hi: usize) -> (u32, usize) {
        debug_assert!(lo < hi && hi <= ranks.len);
        let (bl, br) = (lo / BLOCK, (hi - 1) / BLOCK);
        if bl == br {
            return scan(ranks, lo, hi);
        }
        let mut best = scan(ranks, lo, (bl + 1) * BLOCK);
        if bl + 1 < br {
            let (a, b) = (bl + 1, br - 1);
            let len = b - a + 1;
            let blk = if len == 1 {
                a as u32
            } else {
                let j = (usize::BITS - 1 - len.leading_zeros()) as usize; // floor(log2 len)
                let t = &self.levels[j - 1];
                self.better_block(ranks, t[a], t[b + 1 - (1 << j)])
            };
            let pos = self.block_pos(blk);
            let r = ranks.get(pos);
            if r < best.0 {
                best = (r, pos);
            }
        }
        let right = scan(ranks, br * BLOCK, hi);
        if right.0 < best.0 {
            best = right;
        }
        best
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.block_min.capacity()
            + self.levels.iter().map(|l| l.capacity() * 4).sum::<usize>()
            + self.levels.capacity() * std::mem::size_of::<Vec<u32>>()
    }
}

/// Leftmost minimum of `lo..hi` by linear scan.
#[inline]
fn scan(ranks: &PackedInts, lo: usize, hi: usize) -> (u32, usize) {
    let mut best = (u32::MAX, lo);
    for i in lo..hi {
        let r = ranks.get(i);
        if r < best.0 {
            best = (r, i);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_brute_force() {
        let mut x = 12345u64;
        for n in [1usize, 2, 63, 64, 65, 130, 300, 1000] {
            let vals: Vec<u32> = (0..n)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((x >> 33) % 17) as u32
                })
                .collect();
            let p = PackedInts::from_values(&vals, 5);
            let r = RangeMin::new(&p);
            for lo in (0..n).step_by(7) {
                for hi in (lo + 1..=n).step_by(5) {
                    let want = (lo..hi).map(|i| (vals[i], i)).min().unwrap();
                    assert_eq!(r.query(&p, lo, hi), want, "n {n} {lo}..{hi}");
                }
            }
        }
    }
}
