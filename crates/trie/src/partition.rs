//! Partitioning the key space across suggestion servers, and merging their
//! answers.
//!
//! The notes split by first letter (`A-M` on server 1, ...), but first
//! letters are skewed ('s' starts about 11% of English words, 'x' about
//! 0.2%), so equal letter ranges give very unequal servers. [`ShardMap`]
//! instead cuts the sorted terms into contiguous ranges of equal total
//! weight (weight ~ query traffic), at the shortest boundary strings that
//! separate them. A prefix then maps to a run of shards (usually one), and
//! [`merge_top_k`] combines their answers.

use std::ops::Range;

use crate::Error;

/// Contiguous key ranges, one per shard: shard `i` holds the terms `t`
/// with `bounds[i-1] <= t < bounds[i]` (byte order; the first shard is
/// unbounded below, the last above).
///
/// ```
/// use hld_trie::{merge_top_k, ShardMap, TopKTrie};
///
/// let terms = [("apple", 50u64), ("banana", 30), ("cherry", 10), ("date", 10)];
/// let map = ShardMap::balanced(terms, 2)?;
/// assert_eq!(map.bounds(), ["b"]);            // 50 | 50
/// let mut shards = vec![TopKTrie::new(), TopKTrie::new()];
/// for (t, w) in terms {
///     shards[map.shard_for(t)].insert(t, w);
/// }
/// let answers: Vec<_> = map.shards_for_prefix("").map(|s| shards[s].top_k("", 3)).collect();
/// assert_eq!(merge_top_k(answers, 2), vec![("apple".into(), 50), ("banana".into(), 30)]);
/// # Ok::<(), hld_trie::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ShardMap {
    bounds: Vec<String>,
}

impl ShardMap {
    /// Cuts the terms into at most `shards` contiguous ranges of about
    /// equal total weight (all weights 0: equal term counts). Weights of a
    /// term given twice add up. A range never splits a term, so one very
    /// heavy term can leave its shard above the average; there are fewer
    /// than `shards` ranges only when there are fewer distinct terms.
    ///
    /// Each cut is placed at the prefix sum closest to `i / shards` of the
    /// total, and the boundary string is the shortest character prefix of
    /// the next term that sorts after the previous one (`"b"` rather than
    /// `"banana"`), so new terms land sensibly.
    ///
    /// Error: [`Error::ZeroShards`] if `shards == 0`.
    pub fn balanced<I, S>(terms: I, shards: usize) -> Result<ShardMap, Error>
    where
        I: IntoIterator<Item = (S, u64)>,
        S: AsRef<str>,
    {
        if shards == 0 {
            return Err(Error::ZeroShards);
        }
        let mut v: Vec<(S, u64)> = terms.into_iter().collect();
        v.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        let mut keys: Vec<&str> = Vec::with_capacity(v.len());
        let mut weights: Vec<u128> = Vec::with_capacity(v.len());
        for (t, w) in &v {
            let t = t.as_ref();
            if keys.last() == Some(&t) {
                *weights.last_mut().expect("parallel to keys") += u128::from(*w);
            } else {
                keys.push(t);
                weights.push(u128::from(*w));
            }
        }
        if weights.iter().all(|&w| w == 0) {
            weights.iter_mut().for_each(|w| *w = 1);
        }
        let n = keys.len();
        // prefix[j] = total weight of keys[..j].
        let mut prefix = Vec::with_capacity(n + 1);
        prefix.push(0u128);
        for &w in &weights {
            prefix.push(prefix[prefix.len() - 1] + w);
        }
        let total = prefix[n];
        let mut bounds = Vec::new();
        let mut last = 0usize; // the previous cut (shard start index)
        for i in 1..shards {
            let target = total * i as u128 / shards as u128;
            // prefix[j] <= target < prefix[j + 1]
            let j = prefix.partition_point(|&p| p <= target) - 1;
            let mut cut = if j < n && prefix[j + 1] - target < target - prefix[j] {
                j + 1
            } else {
                j
            };
            // Keep every shard non-empty: after the previous cut, and
            // leaving one term for each shard still to come.
            let remaining = shards - i;
            cut = cut.max(last + 1);
            if n < remaining || cut > n - remaining {
                cut = n.saturating_sub(remaining);
            }
            if cut <= last || cut >= n {
                continue;
            }
            bounds.push(separator(keys[cut - 1], keys[cut]).to_string());
            last = cut;
        }
        Ok(ShardMap { bounds })
    }

    /// A map from explicit bounds (each non-empty, strictly increasing):
    /// `n` bounds make `n + 1` shards.
    pub fn from_bounds(bounds: Vec<String>) -> Result<ShardMap, Error> {
        if bounds.iter().any(|b| b.is_empty()) || bounds.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::BadBounds);
        }
        Ok(ShardMap { bounds })
    }

    /// The boundary strings: shard `i > 0` starts at `bounds()[i - 1]`.
    pub fn bounds(&self) -> &[String] {
        &self.bounds
    }

    /// The number of shards (`bounds().len() + 1`).
    pub fn shards(&self) -> usize {
        self.bounds.len() + 1
    }

    /// The shard that holds `term`.
    pub fn shard_for(&self, term: &str) -> usize {
        self.bounds.partition_point(|b| b.as_str() <= term)
    }

    /// The shards that may hold terms starting with `prefix` (usually
    /// one; the empty prefix gives all): query each, then [`merge_top_k`].
    pub fn shards_for_prefix(&self, prefix: &str) -> Range<usize> {
        let first = self.shard_for(prefix);
        let Some((&last_byte, head)) = prefix.as_bytes().split_last() else {
            return 0..self.shards();
        };
        // Terms starting with `prefix` are below `succ` (no 0xFF in UTF-8).
        let mut succ = head.to_vec();
        succ.push(last_byte.saturating_add(1));
        let last = self
            .bounds
            .partition_point(|b| b.as_bytes() < succ.as_slice());
        first..last.max(first) + 1
    }
}

/// The shortest character prefix of `b` that sorts after `a` (`a < b`).
fn separator<'b>(a: &str, b: &'b str) -> &'b str {
    let lcp = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    // End of the character of `b` containing byte `lcp`.
    let end = (lcp + 1..=b.len())
        .find(|&i| b.is_char_boundary(i))
        .unwrap_or(b.len());
    &b[..end]
}

/// Merges per-shard (or per-replica) top-k answers into one: heaviest
/// first, ties by term in byte order, at most `k`. A term in several lists
/// counts once, with its largest weight.
pub fn merge_top_k<I, L>(lists: I, k: usize) -> Vec<(String, u64)>
where
    I: IntoIterator<Item = L>,
    L: IntoIterator<Item = (String, u64)>,
{
    let mut all: Vec<(String, u64)> = lists.into_iter().flatten().collect();
    all.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    all.dedup_by(|later, first| later.0 == first.0);
    all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_are_short_and_separate() {
        assert_eq!(separator("apple", "banana"), "b");
        assert_eq!(separator("apple", "apply"), "apply");
        assert_eq!(separator("app", "apple"), "appl");
        assert_eq!(separator("a", "é"), "é");
        assert_eq!(separator("éa", "éb"), "éb");
        assert_eq!(separator("", "x"), "x");
    }
}
