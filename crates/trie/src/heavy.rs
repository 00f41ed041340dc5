//! The frozen form's answer cache for big prefixes.
//!
//! Short prefixes ("s", "st") cover huge ranges, where even `k`
//! range-minimum queries cost microseconds. But a prefix's range is always
//! the range of one trie node (an *lcp-interval* of the sorted terms:
//! Abouelhoda, Kurtz, Ohlebusch, "Replacing suffix trees with enhanced
//! suffix arrays", 2004), and there are few nodes with many terms: about
//! `2n / HEAVY` of them hold more than [`HEAVY`] terms. For those the top
//! [`CACHED`] positions are precomputed at build time, so a big prefix
//! costs its two binary searches and a lookup; a small range is scanned
//! directly. Everything here is derived data, rebuilt on load.

use crate::packed::PackedInts;
use crate::rmq::RangeMin;

/// Ranges above this many terms get a cached answer; ranges up to it are
/// scanned (64 packed ranks are a few cache lines and about 100 ns).
pub(crate) const HEAVY: usize = 64;
/// Answers cached per heavy range: what a type-ahead box shows.
pub(crate) const CACHED: usize = crate::DEFAULT_CACHE_SIZE;

#[derive(Clone, Debug, Default)]
pub(crate) struct HeavyCache {
    /// `(lo, hi)` of every heavy lcp-interval, sorted.
    keys: Vec<(u32, u32)>,
    /// `CACHED` positions per key, best first.
    tops: Vec<u32>,
}

impl HeavyCache {
    /// `lcp[i]` = bytes shared by terms `i - 1` and `i` (`lcp[0]` unused).
    pub(crate) fn new(lcp: &[u32], ranks: &PackedInts, rmq: &RangeMin) -> HeavyCache {
        let n = lcp.len();
        let mut keys: Vec<(u32, u32)> = Vec::new();
        // Enumerate lcp-intervals bottom-up with a stack of (lcp, left end).
        let mut stack: Vec<(u32, usize)> = vec![(0, 0)];
        // A final 0 closes every open interval.
        for (i, &l) in lcp.iter().chain(std::iter::once(&0)).enumerate().skip(1) {
            let mut lb = i - 1;
            while let Some(&(tl, tlb)) = stack.last() {
                if l >= tl {
                    break;
                }
                stack.pop();
                if i - tlb > HEAVY {
                    keys.push((tlb as u32, i as u32));
                }
                lb = tlb;
            }
            if stack.last().is_none_or(|&(tl, _)| l > tl) {
                stack.push((l, lb));
            }
        }
        if n > HEAVY {
            keys.push((0, n as u32));
        }
        keys.sort_unstable();
        keys.dedup();
        let mut tops = Vec::with_capacity(keys.len() * CACHED);
        for &(lo, hi) in &keys {
            let got = top_k_rmq(ranks, rmq, lo as usize, hi as usize, CACHED);
            debug_assert_eq!(got.len(), CACHED);
            tops.extend(got.iter().map(|&(p, _)| p as u32));
        }
        HeavyCache { keys, tops }
    }

    /// The cached best positions of range `lo..hi`, if it is a heavy node.
    #[inline]
    pub(crate) fn get(&self, lo: usize, hi: usize) -> Option<&[u32]> {
        let i = self.keys.binary_search(&(lo as u32, hi as u32)).ok()?;
        Some(&self.tops[i * CACHED..(i + 1) * CACHED])
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.keys.capacity() * 8 + self.tops.capacity() * 4
    }
}

/// Exact top-`k` of `lo..hi` as `(position, rank)`, best first: pop the
/// range minimum, split the range around it, repeat (`O(k log k)` RMQs).
pub(crate) fn top_k_rmq(
    ranks: &PackedInts,
    rmq: &RangeMin,
    lo: usize,
    hi: usize,
    k: usize,
) -> Vec<(usize, u32)> {
    use std::cmp::Reverse;
    if lo >= hi || k == 0 {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(k.min(hi - lo));
    let mut heap = std::collections::BinaryHeap::with_capacity(2 * k.min(hi - lo) + 1);
    let (r, p) = rmq.query(ranks, lo, hi);
    heap.push(Reverse((r, p, lo, hi)));
    while let Some(Reverse((r, p, lo, hi))) = heap.pop() {
        out.push((p, r));
        if out.len() == k {
            break;
        }
        if lo < p {
            let (r, q) = rmq.query(ranks, lo, p);
            heap.push(Reverse((r, q, lo, p)));
        }
        if p + 1 < hi {
            let (r, q) = rmq.query(ranks, p + 1, hi);
            heap.push(Reverse((r, q, p + 1, hi)));
        }
    }
    out
}

/// Exact top-`k` of a small range by one scan, keeping a sorted array of
/// the best `(rank, position)` so far.
pub(crate) fn top_k_scan(ranks: &PackedInts, lo: usize, hi: usize, k: usize) -> Vec<(usize, u32)> {
    let mut best: Vec<(u32, usize)> = Vec::with_capacity(k + 1);
    for p in lo..hi {
        let r = ranks.get(p);
        if best.len() == k {
            // Positions rise, so an equal rank never beats a kept one.
            if r >= best[k - 1].0 {
                continue;
            }
            best.pop();
        }
        let at = best.partition_point(|&(br, _)| br <= r);
        best.insert(at, (r, p));
    }
    best.into_iter().map(|(r, p)| (p, r)).collect()
}
