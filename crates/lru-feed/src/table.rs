//! An open-addressing index from a key's hash to a slot number.
//!
//! The caches keep their entries in a `Vec` of nodes linked by `u32` indices,
//! `ExpiryMap` in a ring buffer and a slab (safe code, no pointers); each finds
//! a key's entry through this table. A table word packs 32 bits of the key's
//! hash (the *tag*) with the entry's index, so a lookup touches one cache line
//! of the table and only compares keys for words whose tag matches (a false
//! tag match is about one in 2^(32 - log2(buckets)) probes).
//!
//! Linear probing with backward-shift deletion (Knuth, TAOCP vol. 3, 6.4,
//! Algorithm R): no tombstones, so a cache that inserts and evicts forever
//! never degrades and never needs a rehash. The bucket is derived from the tag
//! alone, which lets the table grow without touching the keys.

/// A word with this index is an empty bucket. No index reaches `u32::MAX`:
/// the caches' stay below [`crate::MAX_CAPACITY`], and `ExpiryMap`'s top
/// one (its `MOVING` sentinel) is `u32::MAX - 1`.
const EMPTY: u64 = u64::MAX;

/// The 32 bits of a 64-bit hash that the tables use (the high half: the low
/// half picks the shard in `ConcurrentCache`, so the two stay independent).
#[inline]
pub(crate) fn tag_of(hash: u64) -> u32 {
    (hash >> 32) as u32
}

#[inline]
fn pack(tag: u32, idx: u32) -> u64 {
    ((tag as u64) << 32) | idx as u64
}

#[inline]
fn idx_of(word: u64) -> u32 {
    word as u32
}

#[inline]
fn word_tag(word: u64) -> u32 {
    (word >> 32) as u32
}

#[inline]
fn is_empty(word: u64) -> bool {
    idx_of(word) == u32::MAX
}

/// Buckets for `n` entries: at most half full, so a miss probes about 2.5
/// words on average, nearly always within one 64-byte line.
fn buckets_for(n: usize) -> usize {
    (n.max(4) * 2).next_power_of_two()
}

#[derive(Clone, Debug)]
pub(crate) struct IndexTable {
    words: Box<[u64]>,
    mask: usize,
    len: usize,
}

impl IndexTable {
    /// A table that holds `n` entries without growing.
    pub(crate) fn with_capacity(n: usize) -> IndexTable {
        let b = buckets_for(n);
        IndexTable {
            words: vec![EMPTY; b].into_boxed_slice(),
            mask: b - 1,
            len: 0,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Buckets (words) in the table.
    pub(crate) fn buckets(&self) -> usize {
        self.words.len()
    }

    /// Bytes of heap memory the table uses.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.buckets() * std::mem::size_of::<u64>()
    }

    /// The position of the first word with `tag` whose index satisfies `eq`.
    #[inline]
    pub(crate) fn find(&self, tag: u32, mut eq: impl FnMut(u32) -> bool) -> Option<usize> {
        let mut pos = tag as usize & self.mask;
        loop {
            let w = self.words[pos];
            if is_empty(w) {
                return None;
            }
            if word_tag(w) == tag && eq(idx_of(w)) {
                return Some(pos);
            }
            pos = (pos + 1) & self.mask;
        }
    }

    /// Like [`find`](Self::find), but a miss returns `Err` with the empty
    /// position the probe stopped at, where the key's word belongs: an insert
    /// after a miss then writes there ([`insert_at`](Self::insert_at))
    /// instead of probing the run a second time.
    #[inline]
    pub(crate) fn probe(&self, tag: u32, mut eq: impl FnMut(u32) -> bool) -> Result<usize, usize> {
        let mut pos = tag as usize & self.mask;
        loop {
            let w = self.words[pos];
            if is_empty(w) {
                return Err(pos);
            }
            if word_tag(w) == tag && eq(idx_of(w)) {
                return Ok(pos);
            }
            pos = (pos + 1) & self.mask;
        }
    }

    /// Adds `(tag, idx)` at `vacant`, the `Err` of a [`probe`](Self::probe)
    /// for `tag` with no change to the table since. Grows the table (and then
    /// probes afresh) when it would pass half full.
    #[inline]
    pub(crate) fn insert_at(&mut self, vacant: usize, tag: u32, idx: u32) {
        if (self.len + 1) * 2 > self.words.len() {
            self.insert(tag, idx);
            return;
        }
        debug_assert!(is_empty(self.words[vacant]));
        self.len += 1;
        self.words[vacant] = pack(tag, idx);
    }

    /// Moves node `idx` from `old_tag` to `tag`: a full cache reusing its
    /// victim's node for a new key. `vacant` is the `Err` of a
    /// [`probe`](Self::probe) for `tag` with no change to the table since.
    /// The new word goes in first, where the probe stopped (removing the old
    /// one first could shift the run and move that spot); both words then
    /// name `idx`, so removing `(old_tag, idx)` removes the old word, or an
    /// identical twin when the tags are equal. Never grows: the table has at
    /// least twice the capacity's buckets, so it holds the extra word for
    /// that moment.
    #[inline]
    pub(crate) fn retag_at(&mut self, vacant: usize, tag: u32, old_tag: u32, idx: u32) {
        debug_assert!(is_empty(self.words[vacant]));
        debug_assert!(self.len + 1 < self.words.len());
        self.len += 1;
        self.words[vacant] = pack(tag, idx);
        let removed = self.remove_idx(old_tag, idx);
        debug_assert!(removed);
    }

    /// The node index stored at a position returned by [`find`](Self::find).
    #[inline]
    pub(crate) fn idx_at(&self, pos: usize) -> u32 {
        idx_of(self.words[pos])
    }

    /// Repoints the word at `pos` to another node (after a node moved).
    #[inline]
    pub(crate) fn set_idx(&mut self, pos: usize, idx: u32) {
        let w = self.words[pos];
        self.words[pos] = pack(word_tag(w), idx);
    }

    /// Adds `(tag, idx)`; the caller knows the key is not present. Grows the
    /// table when it would pass half full.
    #[inline]
    pub(crate) fn insert(&mut self, tag: u32, idx: u32) {
        if (self.len + 1) * 2 > self.words.len() {
            self.rebuild(self.words.len() * 2);
        }
        self.len += 1;
        let mut pos = tag as usize & self.mask;
        while !is_empty(self.words[pos]) {
            pos = (pos + 1) & self.mask;
        }
        self.words[pos] = pack(tag, idx);
    }

    /// Deletes the word at `pos`, moving later words of the same run into the
    /// gap when their home bucket allows it, so that no probe sequence is
    /// broken (Knuth's Algorithm R).
    #[inline]
    pub(crate) fn remove_at(&mut self, pos: usize) {
        self.len -= 1;
        let mask = self.mask;
        let mut gap = pos;
        let mut j = pos;
        loop {
            j = (j + 1) & mask;
            let w = self.words[j];
            if is_empty(w) {
                break;
            }
            // The word may fill the gap unless its home lies in (gap, j].
            // Selected without a branch (it goes either way about equally
            // often; cachegrind: 0.6 fewer mispredicted branches per
            // ExpiryMap insert + remove; LLVM turns a plain `if` or a bit
            // mask back into a branch): a word that stays is written back in
            // place.
            let home = word_tag(w) as usize & mask;
            let moves = (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(gap) & mask);
            let to = std::hint::select_unpredictable(moves, gap, j);
            gap = std::hint::select_unpredictable(moves, j, gap);
            self.words[to] = w;
        }
        self.words[gap] = EMPTY;
    }

    /// Finds `(tag, idx)` and removes it; returns whether it was there.
    #[inline]
    pub(crate) fn remove_idx(&mut self, tag: u32, idx: u32) -> bool {
        match self.find(tag, |i| i == idx) {
            Some(pos) => {
                self.remove_at(pos);
                true
            }
            None => false,
        }
    }

    /// Finds `(tag, from)` and repoints it to `to`.
    #[inline]
    pub(crate) fn move_idx(&mut self, tag: u32, from: u32, to: u32) {
        if let Some(pos) = self.find(tag, |i| i == from) {
            self.set_idx(pos, to);
        }
    }

    /// Empties the table, keeping its buckets.
    pub(crate) fn clear(&mut self) {
        self.words.fill(EMPTY);
        self.len = 0;
    }

    /// Re-sizes for `n` entries (shrinks or grows), keeping the contents.
    pub(crate) fn reserve_for(&mut self, n: usize) {
        let b = buckets_for(n.max(self.len));
        if b != self.words.len() {
            self.rebuild(b);
        }
    }

    fn rebuild(&mut self, buckets: usize) {
        let old = std::mem::replace(&mut self.words, vec![EMPTY; buckets].into_boxed_slice());
        self.mask = buckets - 1;
        for w in old.iter().copied().filter(|&w| !is_empty(w)) {
            let mut pos = word_tag(w) as usize & self.mask;
            while !is_empty(self.words[pos]) {
                pos = (pos + 1) & self.mask;
            }
            self.words[pos] = w;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn colliding_tags_insert_find_remove() {
        // All tags share a home bucket: long runs exercise backward shifts.
        let mut t = IndexTable::with_capacity(4);
        let mut model = HashMap::new();
        for i in 0..40u32 {
            let tag = (i % 3) << 20;
            t.insert(tag, i);
            model.insert(i, tag);
        }
        for i in (0..40u32).step_by(3) {
            assert!(t.remove_idx(model[&i], i));
            model.remove(&i);
        }
        assert_eq!(t.len(), model.len());
        for (&i, &tag) in &model {
            assert!(t.find(tag, |j| j == i).is_some(), "lost {i}");
        }
        assert!(!t.remove_idx(0, 0));
        t.reserve_for(1);
        for (&i, &tag) in &model {
            assert!(t.find(tag, |j| j == i).is_some(), "lost {i} after shrink");
        }
        t.clear();
        assert_eq!(t.len(), 0);
        assert!(t.find(0, |_| true).is_none());
    }

    #[test]
    fn random_churn_matches_a_model() {
        // Inserts, removals, retags and moves on a small table with few
        // home buckets: long runs, backward shifts across the wrap, growth.
        let mut rnd = crate::test_rng(0x1234_5678_9abc_def0);
        for cap in [4usize, 16, 64] {
            let mut t = IndexTable::with_capacity(cap);
            // idx -> tag; ordered, so that a seed replays the same run.
            let mut model: std::collections::BTreeMap<u32, u32> = Default::default();
            let mut next = 0u32;
            for step in 0..20_000 {
                let tag = (rnd(12) as u32) * 7 + ((rnd(4) as u32) << 28);
                match rnd(4) {
                    0 | 1 if model.len() < cap => {
                        let v = t.probe(tag, |_| false).unwrap_err();
                        t.insert_at(v, tag, next);
                        model.insert(next, tag);
                        next += 1;
                    }
                    2 if !model.is_empty() && model.len() < cap => {
                        let (&i, &old) =
                            model.iter().nth(rnd(model.len() as u64) as usize).unwrap();
                        let v = t.probe(tag, |_| false).unwrap_err();
                        t.retag_at(v, tag, old, i);
                        model.insert(i, tag);
                    }
                    _ if !model.is_empty() => {
                        let (&i, &old) =
                            model.iter().nth(rnd(model.len() as u64) as usize).unwrap();
                        let pos = t.find(old, |j| j == i).expect("word lost");
                        t.remove_at(pos);
                        model.remove(&i);
                        if let Some((&j, &tj)) = model.iter().next() {
                            // Renumber a survivor, as a dense node Vec does.
                            t.move_idx(tj, j, next);
                            model.remove(&j);
                            model.insert(next, tj);
                            next += 1;
                        }
                    }
                    _ => {}
                }
                assert_eq!(t.len(), model.len(), "step {step}");
                for (&i, &tag) in &model {
                    assert!(t.find(tag, |j| j == i).is_some(), "lost {i} at step {step}");
                }
            }
        }
    }

    #[test]
    fn removal_keeps_words_behind_an_at_home_word() {
        // A (home 0), B (home 1), C (home 0, displaced to 2): removing A must
        // move C back, though B in between sits at home.
        let mut t = IndexTable::with_capacity(4);
        t.insert(0, 0);
        t.insert(1, 1);
        t.insert(0, 2);
        assert!(t.remove_idx(0, 0));
        assert!(t.find(0, |i| i == 2).is_some());
        assert!(t.find(1, |i| i == 1).is_some());
    }

    #[test]
    fn probe_then_insert_at_the_vacant_word() {
        let mut t = IndexTable::with_capacity(4); // 8 buckets
        let mut model: Vec<(u32, u32)> = Vec::new();
        for i in 0..40u32 {
            // Few distinct tags: long runs, wrapping past the end.
            let tag = [7, 6, 7, 0, 3][i as usize % 5];
            assert_eq!(
                t.probe(tag, |j| j == i),
                Err(t.probe(tag, |_| false).unwrap_err())
            );
            let vacant = t.probe(tag, |j| j == i).unwrap_err();
            t.insert_at(vacant, tag, i); // grows past half full
            model.push((tag, i));
            if i % 3 == 2 {
                let (tag, j) = model.remove(0);
                assert!(t.remove_idx(tag, j));
            }
            assert_eq!(t.len(), model.len());
            for &(tag, j) in &model {
                let pos = t.probe(tag, |x| x == j).expect("word lost");
                assert_eq!(t.idx_at(pos), j);
            }
        }
        // retag_at writes into a table that is already half full, with the
        // old and new tags equal (twin words) and different.
        let mut t = IndexTable::with_capacity(4);
        for i in 0..4 {
            let v = t.probe(5, |_| false).unwrap_err();
            t.insert_at(v, 5, i);
        }
        let buckets = t.words.len();
        let v = t.probe(5, |_| false).unwrap_err();
        t.retag_at(v, 5, 5, 0);
        let v = t.probe(7, |_| false).unwrap_err();
        t.retag_at(v, 7, 5, 1);
        assert_eq!((t.words.len(), t.len()), (buckets, 4));
        assert!(t.find(7, |j| j == 1).is_some());
        assert!(t.find(5, |j| j == 1).is_none());
        for i in [0, 2, 3] {
            assert!(t.find(5, |j| j == i).is_some());
        }
    }

    #[test]
    fn wraps_around_the_end() {
        let mut t = IndexTable::with_capacity(4); // 8 buckets
        let last = t.mask as u32;
        for i in 0..3 {
            t.insert(last, i);
        }
        t.insert(0, 9);
        assert!(t.remove_idx(last, 0));
        for i in 1..3 {
            assert!(t.find(last, |j| j == i).is_some());
        }
        assert!(t.find(0, |j| j == 9).is_some());
    }
}

/// A hasher that sends every key to one value, for tests: every tag
/// collides, so each probe walks one long run and an evicting put's new word
/// and its victim's old one are identical twins.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct OneHash;

#[cfg(test)]
impl std::hash::Hasher for OneHash {
    fn finish(&self) -> u64 {
        0x1234_5678_0000_0000
    }
    fn write(&mut self, _: &[u8]) {}
}
