#![allow(unsafe_code)]
//! An open-addressing (linear probing) table from key to theoretical arrival
//! time, one per shard.
//!
//! This is the crate's one module with `unsafe`, for two measured reasons:
//!
//! 1. **16-byte slots.** A slot is `(tat: u64, key: MaybeUninit<K>)`: 16
//!    bytes for a `u64` key, where the safe `Option<u64>` makes it 24 (an
//!    integer has no niche for `None`). Bytes per key is a target (at most
//!    36 for `u64` keys). Measured on 1M `u64` keys, the benchmark's
//!    workload, in four alternating runs: these slots hold 29.0-29.3 bytes
//!    per key; the same table with `Option<K>` slots (8 per 192-byte bucket,
//!    the tightest safe packing) holds 38.1-38.6, over the target, and its
//!    checks are slower, 1.35x single and 1.9x batched (medians), since a
//!    bucket spans three cache lines. Keys with a niche (`String`, `Box`)
//!    would lose nothing to `Option`, but integer keys (user ids, IPs) are
//!    the common case.
//! 2. **Software prefetch** (`prefetch_line`): batched checks ask for the
//!    bucket of a key 16 places ahead while checking this one. The safe
//!    alternative, loading a chunk of 32 lines and waiting for them, was
//!    about 20% slower per key on 1M keys (medians of four alternating
//!    runs: 54-76 ns against 51-59 ns).
//!
//! Each `unsafe` block has a `// SAFETY:` comment; the tests at the end of
//! this file and `tests/keyed.rs` (keys that count their drops and panic in
//! `Hash` and `Eq`) exercise every one of them.
//!
//! The slot's `tat` says whether `key` is initialised:
//!
//! | `tat`             | meaning                                   | key    |
//! |-------------------|-------------------------------------------|--------|
//! | `VACANT` (0)      | never used since the last rehash: ends a probe | uninit |
//! | `1..=MAX_TAT`     | a live key and its TAT                    | init   |
//! | `TOMB_WITH_ENTRY` | deleted; the expiry wheel still names it  | uninit |
//! | `TOMB_NO_ENTRY`   | deleted; the wheel does not name it       | uninit |
//!
//! A live TAT is never 0: a key is only stored after an allowed request,
//! which sets `max(tat, now) + n * T >= 1`. Every write of `tat` that changes
//! the initialised state happens *before* a key is dropped or read out and
//! *after* one is written, so a panic in user code (`Hash`, `Eq`, `Drop`)
//! at any point leaves the table consistent.
//!
//! Slots never move while the table lives (deletion leaves tombstones
//! rather than shifting), so the wheel can name a slot by its index.

use std::mem::MaybeUninit;

use crate::quota::MAX_TAT;

pub(crate) const VACANT: u64 = 0;
pub(crate) const TOMB_WITH_ENTRY: u64 = u64::MAX - 1;
pub(crate) const TOMB_NO_ENTRY: u64 = u64::MAX;
const _: () = assert!(MAX_TAT < TOMB_WITH_ENTRY);

struct Slot<K> {
    tat: u64,
    key: MaybeUninit<K>,
}

impl<K> Slot<K> {
    #[inline]
    fn is_live(&self) -> bool {
        self.tat != VACANT && self.tat <= MAX_TAT
    }

    #[inline]
    fn key(&self) -> Option<&K> {
        if self.is_live() {
            // SAFETY: a live `tat` means `key` was written (see `place`) and
            // not yet read out or dropped (every path that does either first
            // sets `tat` to a non-live value).
            Some(unsafe { self.key.assume_init_ref() })
        } else {
            None
        }
    }

    /// Marks the slot `mark` (not live) and returns the key it held.
    #[inline]
    fn take(&mut self, mark: u64) -> K {
        debug_assert!(self.is_live() && !(1..=MAX_TAT).contains(&mark));
        self.tat = mark;
        // SAFETY: the slot was live, so `key` is initialised (see `key`); the
        // new `tat` is not live, so nothing reads or drops it again until
        // `place` writes a new key.
        unsafe { self.key.assume_init_read() }
    }
}

/// What a probe found.
pub(crate) enum Probe {
    /// The key lives at this index, with this TAT.
    Found(usize, u64),
    /// The key is absent. `reuse`: the first slot on its probe path that a
    /// new key may take (a tombstone, or a live key whose TAT is at or
    /// before `now`, which is the same as no state). `vacant`: the vacant
    /// slot that ended the probe (`None` if the table has no slots).
    Absent {
        reuse: Option<usize>,
        vacant: Option<usize>,
    },
}

/// How `place` filled a slot: whether the wheel must now name it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Placed {
    /// The slot was vacant or a tombstone the wheel forgot: file it.
    NeedsEntry,
    /// The wheel already names this slot.
    HasEntry,
}

/// Slots per bucket: four 16-byte slots (a `u64` key) fill one 64-byte
/// cache line.
const BUCKET: usize = 4;

/// Four slots on their own cache line(s). Probes start at the first slot of
/// a key's home bucket (blocked linear probing), so a lookup reads fewer
/// lines: by simulation, 1.08 / 1.19 / 1.38 lines per hit at 56% / 70% /
/// 80% load, against 1.16 / 1.29 / 1.50 for linear probing from a random
/// slot (the extra slot comparisons are on a line already loaded).
#[repr(align(64))]
struct Bucket<K>([Slot<K>; BUCKET]);

pub(crate) struct Table<K> {
    buckets: Box<[Bucket<K>]>,
    /// `buckets.len() * BUCKET`.
    cap: usize,
    live: usize,
    tombs: usize,
}

impl<K> Table<K> {
    /// A table of at least `cap` slots (rounded up to whole buckets).
    pub(crate) fn with_capacity(cap: usize) -> Table<K> {
        let nb = cap.div_ceil(BUCKET);
        assert!(nb * BUCKET <= u32::MAX as usize, "slot indices are u32");
        Table {
            buckets: (0..nb)
                .map(|_| {
                    Bucket(std::array::from_fn(|_| Slot {
                        tat: VACANT,
                        key: MaybeUninit::uninit(),
                    }))
                })
                .collect(),
            cap: nb * BUCKET,
            live: 0,
            tombs: 0,
        }
    }

    #[inline]
    fn slot(&self, i: usize) -> &Slot<K> {
        &self.buckets[i / BUCKET].0[i % BUCKET]
    }

    #[inline]
    fn slot_mut(&mut self, i: usize) -> &mut Slot<K> {
        &mut self.buckets[i / BUCKET].0[i % BUCKET]
    }

    fn slots_mut(&mut self) -> impl Iterator<Item = &mut Slot<K>> + '_ {
        self.buckets.iter_mut().flat_map(|b| b.0.iter_mut())
    }

    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    #[inline]
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    #[cfg(test)]
    pub(crate) fn tombs(&self) -> usize {
        self.tombs
    }

    /// Bytes of slot storage.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.buckets.len() * std::mem::size_of::<Bucket<K>>()
    }

    /// The home slot of a hash (0 for a table without slots): the first slot
    /// of its home bucket, chosen by Lemire's multiply-shift range reduction
    /// on the high 32 bits (the low bits choose the shard), so capacities
    /// need not be powers of two and the table can grow by less than 2x.
    #[inline]
    pub(crate) fn home(&self, hash: u64) -> usize {
        (((hash >> 32) * self.buckets.len() as u64) >> 32) as usize * BUCKET
    }

    /// Asks the CPU to bring slot `i`'s bucket into cache without waiting
    /// for it (nothing past the end).
    #[inline(always)]
    pub(crate) fn prefetch(&self, i: usize) {
        if let Some(b) = self.buckets.get(i / BUCKET) {
            prefetch_line(b);
        }
    }

    /// Whether the load (live keys and tombstones) would stay at or under
    /// 80% after one more slot is used. Linear probing stays short below
    /// that (Knuth: about 3 probes per hit, 13 per miss at 0.8).
    #[inline]
    pub(crate) fn has_room(&self) -> bool {
        (self.live + self.tombs + 1) * 5 <= self.cap * 4
    }

    /// Looks `key` up. The loop that runs on every check only compares
    /// keys and stops at a vacant slot; which slot a new key could reuse is
    /// worked out afterwards, on a miss, by [`reuse_before`](Self::reuse_before)
    /// (the probed lines are cached by then). Tracking it during the probe
    /// cost about a fifth of a hit's instructions, measured by cachegrind.
    #[inline]
    pub(crate) fn find(&self, hash: u64, key: &K, now: u64) -> Probe
    where
        K: Eq,
    {
        let nb = self.buckets.len();
        if nb == 0 {
            return Probe::Absent {
                reuse: None,
                vacant: None,
            };
        }
        let home = self.home(hash) / BUCKET;
        let mut b = home;
        // Ends: the load invariant (`has_room` before every new slot) keeps
        // at least one vacant slot.
        loop {
            for (j, slot) in self.buckets[b].0.iter().enumerate() {
                if slot.tat == VACANT {
                    let vacant = b * BUCKET + j;
                    return Probe::Absent {
                        reuse: self.reuse_before(home * BUCKET, vacant, now),
                        vacant: Some(vacant),
                    };
                }
                if slot.key() == Some(key) {
                    return Probe::Found(b * BUCKET + j, slot.tat);
                }
            }
            b += 1;
            if b == nb {
                b = 0;
            }
        }
    }

    /// The first slot from `start` up to (not including) `vacant` that a new
    /// key may take: a tombstone, or a live key whose TAT is at or before
    /// `now` (the same as no state).
    fn reuse_before(&self, start: usize, vacant: usize, now: u64) -> Option<usize> {
        let mut i = start;
        while i != vacant {
            let t = self.slot(i).tat;
            // Not vacant here, so either a tombstone or a live TAT.
            if t > MAX_TAT || t <= now {
                return Some(i);
            }
            i += 1;
            if i == self.cap {
                i = 0;
            }
        }
        None
    }

    /// The first vacant slot on `hash`'s probe path (for keys known absent,
    /// e.g. while rehashing).
    fn vacant_for(&self, hash: u64) -> usize {
        let cap = self.cap;
        let mut i = self.home(hash);
        while self.slot(i).tat != VACANT {
            i += 1;
            if i == cap {
                i = 0;
            }
        }
        i
    }

    /// The stored TAT at `i`, or `None` if the slot holds no key.
    #[inline]
    pub(crate) fn tat(&self, i: usize) -> Option<u64> {
        let s = self.slot(i);
        s.is_live().then_some(s.tat)
    }

    /// The raw marker or TAT at `i`.
    #[inline]
    pub(crate) fn raw(&self, i: usize) -> u64 {
        self.slot(i).tat
    }

    #[cfg(test)]
    pub(crate) fn key(&self, i: usize) -> Option<&K> {
        self.slot(i).key()
    }

    /// Updates the TAT of the live key at `i`.
    #[inline]
    pub(crate) fn set_tat(&mut self, i: usize, tat: u64) {
        debug_assert!(self.slot(i).is_live() && (1..=MAX_TAT).contains(&tat));
        self.slot_mut(i).tat = tat;
    }

    /// Puts `key` with `tat` at `i`, a slot `find` returned as `reuse` or
    /// `vacant`. A live (expired) key there is dropped first.
    pub(crate) fn place(&mut self, i: usize, key: K, tat: u64) -> Placed {
        debug_assert!((1..=MAX_TAT).contains(&tat));
        let placed = match self.slot(i).tat {
            VACANT | TOMB_NO_ENTRY => Placed::NeedsEntry,
            _ => Placed::HasEntry,
        };
        if self.slot(i).is_live() {
            // An expired key gives up its slot. It becomes a tombstone, with
            // the counts to match, before its drop runs (which may panic).
            drop(self.delete(i, true));
        }
        if self.slot(i).tat != VACANT {
            self.tombs -= 1;
        }
        self.live += 1;
        let slot = self.slot_mut(i);
        slot.key.write(key);
        slot.tat = tat;
        placed
    }

    /// Deletes the key at `i` (which must be live) and returns it; `named`
    /// says whether the wheel still holds an entry for the slot.
    pub(crate) fn delete(&mut self, i: usize, named: bool) -> K {
        let mark = if named {
            TOMB_WITH_ENTRY
        } else {
            TOMB_NO_ENTRY
        };
        let key = self.slot_mut(i).take(mark);
        self.live -= 1;
        self.tombs += 1;
        key
    }

    /// The wheel dropped its entry for tombstone `i`.
    pub(crate) fn forget_entry(&mut self, i: usize) {
        let slot = self.slot_mut(i);
        if slot.tat == TOMB_WITH_ENTRY {
            slot.tat = TOMB_NO_ENTRY;
        }
    }

    /// Inserts a key known to be absent into a vacant slot, for rehashing.
    /// The caller keeps the load invariant.
    pub(crate) fn insert_new(&mut self, hash: u64, key: K, tat: u64) -> usize {
        let i = self.vacant_for(hash);
        self.place(i, key, tat);
        i
    }

    /// Moves every live key out, leaving the table empty.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (K, u64)> + '_ {
        let live = &mut self.live;
        let tombs = &mut self.tombs;
        self.buckets
            .iter_mut()
            .flat_map(|b| b.0.iter_mut())
            .filter_map(move |slot| {
                if slot.is_live() {
                    let tat = slot.tat;
                    *live -= 1;
                    Some((slot.take(VACANT), tat))
                } else {
                    if slot.tat != VACANT {
                        *tombs -= 1;
                        slot.tat = VACANT;
                    }
                    None
                }
            })
    }

    /// Live keys and their TATs.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, u64)> + '_ {
        self.buckets
            .iter()
            .flat_map(|b| b.0.iter())
            .filter_map(|s| s.key().map(|k| (k, s.tat)))
    }
}

/// A software prefetch of the cache line holding `r`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_line<T>(r: &T) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: `_mm_prefetch` is only a hint: it never faults, and it reads
    // and writes nothing the program can observe, whatever the address (here
    // a live reference anyway). Its one requirement, the `sse` target
    // feature, is part of every x86_64 target's baseline.
    unsafe { _mm_prefetch::<_MM_HINT_T0>((r as *const T).cast::<i8>()) }
}

/// Elsewhere, a plain read that the optimizer must keep: it stalls until the
/// line arrives, but batches still overlap the misses of a few keys.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn prefetch_line<T>(r: &T) {
    std::hint::black_box(r);
}

impl<K> Drop for Table<K> {
    fn drop(&mut self) {
        for slot in self.slots_mut() {
            if slot.is_live() {
                drop(slot.take(VACANT));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(k: &str) -> u64 {
        // FNV-1a (Fowler, Noll, Vo): any fixed hash will do here.
        k.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        })
    }

    /// Every unsafe block: `key` (reads), `take` (via `delete`, `place` over
    /// an expired key, `drain` and `Drop`), with heap-owning keys so a
    /// double drop or a read of a dropped key would be caught by the
    /// allocator or show as wrong contents.
    #[test]
    fn slots_hold_keys_exactly_while_live() {
        let mut t: Table<String> = Table::with_capacity(16);
        assert!(matches!(
            t.find(hash("a"), &"a".into(), 0),
            Probe::Absent { .. }
        ));
        let mut at = Vec::new();
        for (i, k) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            let Probe::Absent {
                vacant: Some(v), ..
            } = t.find(hash(k), &k.to_string(), 0)
            else {
                panic!("absent")
            };
            assert_eq!(t.place(v, k.to_string(), 10 + i as u64), Placed::NeedsEntry);
            at.push(v);
        }
        assert_eq!((t.live(), t.tombs()), (5, 0));
        for (i, k) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            let Probe::Found(j, _) = t.find(hash(k), &k.to_string(), 0) else {
                panic!()
            };
            assert_eq!(t.key(j).map(String::as_str), Some(*k));
            assert_eq!(t.tat(j), Some(10 + i as u64));
        }
        // Delete "b" with the wheel still naming it, "c" without.
        assert_eq!(t.delete(at[1], true), "b");
        assert_eq!(t.delete(at[2], false), "c");
        assert_eq!(t.key(at[1]), None);
        assert_eq!(t.raw(at[1]), TOMB_WITH_ENTRY);
        assert_eq!(t.raw(at[2]), TOMB_NO_ENTRY);
        assert_eq!((t.live(), t.tombs()), (3, 2));
        // Reusing the named tombstone needs no new wheel entry; the other does.
        assert_eq!(t.place(at[1], "x".into(), 50), Placed::HasEntry);
        assert_eq!(t.place(at[2], "y".into(), 50), Placed::NeedsEntry);
        assert_eq!((t.live(), t.tombs()), (5, 0));
        // An expired key (TAT 10 <= now 20) gives its slot to a new key.
        assert_eq!(t.place(at[0], "z".into(), 60), Placed::HasEntry);
        assert_eq!(t.key(at[0]).map(String::as_str), Some("z"));
        assert_eq!((t.live(), t.tombs()), (5, 0));
        t.delete(at[3], true);
        t.forget_entry(at[3]);
        assert_eq!(t.raw(at[3]), TOMB_NO_ENTRY);
        let mut drained: Vec<(String, u64)> = t.drain().collect();
        drained.sort();
        assert_eq!(
            drained,
            vec![
                ("e".into(), 14),
                ("x".into(), 50),
                ("y".into(), 50),
                ("z".into(), 60)
            ]
        );
        assert_eq!((t.live(), t.tombs()), (0, 0));
        assert_eq!(t.iter().count(), 0);
        // Dropped with keys inside.
        let mut t: Table<String> = Table::with_capacity(20);
        for k in ["p", "q"] {
            t.insert_new(hash(k), k.into(), 5);
        }
        assert_eq!(t.iter().count(), 2);
        drop(t);
    }

    /// A partly consumed drain leaves a consistent table whose drop frees
    /// the rest.
    #[test]
    fn partial_drain_then_drop() {
        let mut t: Table<String> = Table::with_capacity(32);
        for i in 0..20 {
            let k = format!("k{i}");
            t.insert_new(hash(&k), k, 7);
        }
        let i = t.insert_new(hash("gone"), "gone".into(), 7);
        t.delete(i, false);
        let first: Vec<_> = t.drain().take(5).collect();
        assert_eq!(first.len(), 5);
        assert_eq!(t.live(), 15);
        assert_eq!(t.iter().count(), 15);
        drop(t);
    }

    /// A key that counts live copies in a shared counter: a double drop
    /// drives it below the number of keys held, a leak leaves it above.
    #[derive(Debug)]
    struct Counted(u64, std::rc::Rc<std::cell::Cell<i64>>);

    impl PartialEq for Counted {
        fn eq(&self, other: &Counted) -> bool {
            self.0 == other.0
        }
    }

    impl Eq for Counted {}

    impl Counted {
        fn new(id: u64, live: &std::rc::Rc<std::cell::Cell<i64>>) -> Counted {
            live.set(live.get() + 1);
            Counted(id, live.clone())
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.1.set(self.1.get() - 1);
        }
    }

    /// Every path that ends a key's life (delete, place over an expired
    /// key, drain, partial drain, the table's drop) drops it exactly once,
    /// checked against a count of live keys after each step.
    #[test]
    fn counted_keys_are_dropped_exactly_once() {
        let live = std::rc::Rc::new(std::cell::Cell::new(0i64));
        let h = |id: u64| id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        {
            let mut t: Table<Counted> = Table::with_capacity(64);
            let mut at = Vec::new();
            for id in 0..40u64 {
                let k = Counted::new(id, &live);
                let Probe::Absent {
                    reuse,
                    vacant: Some(v),
                    ..
                } = t.find(h(id), &k, 0)
                else {
                    panic!("{id} is new")
                };
                assert_eq!(reuse, None);
                t.place(v, k, 100 + id);
                at.push(v);
            }
            assert_eq!(live.get(), 40);
            // Looking up with a probe key creates and drops only the probe.
            let probe = Counted::new(7, &live);
            assert!(matches!(t.find(h(7), &probe, 0), Probe::Found(i, 107) if i == at[7]));
            drop(probe);
            assert_eq!(live.get(), 40);
            // Deleting hands the key back: one copy, then none.
            let k = t.delete(at[3], false);
            assert_eq!((k.0, live.get()), (3, 40));
            drop(k);
            assert_eq!(live.get(), 39);
            // A new key placed over a live (expired) key drops that key.
            t.place(at[5], Counted::new(1_005, &live), 300);
            assert_eq!(live.get(), 39);
            assert_eq!(t.live(), 39);
            // Over a tombstone: nothing to drop.
            t.place(at[3], Counted::new(1_003, &live), 300);
            assert_eq!(live.get(), 40);
            // A partial drain moves keys out; the rest stay owned.
            let moved: Vec<(Counted, u64)> = t.drain().take(10).collect();
            assert_eq!(live.get(), 40);
            drop(moved);
            assert_eq!(live.get(), 30);
            assert_eq!(t.live(), 30);
        }
        // The table's drop frees the 30 it held, once each.
        assert_eq!(live.get(), 0);
    }

    /// The prefetch hint on every slot, past the end, and on a table without
    /// slots: never a fault, never a change.
    #[test]
    fn prefetch_anywhere_is_harmless() {
        let empty: Table<u64> = Table::with_capacity(0);
        for i in [0, 1, 4, usize::MAX] {
            empty.prefetch(i);
        }
        let mut t: Table<u64> = Table::with_capacity(16);
        let i = t.insert_new(42, 7, 9);
        for j in (0..t.capacity() + 8).chain([usize::MAX]) {
            t.prefetch(j);
        }
        assert_eq!((t.tat(i), t.live()), (Some(9), 1));
    }
}
