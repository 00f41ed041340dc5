//! One shard of a keyed limiter: a table, its expiry wheel, and the shard's
//! share of the key budget, all behind one lock.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

use super::table::{Placed, Probe, Table, TOMB_WITH_ENTRY};
use super::wheel::{Wheel, BUCKETS};
use super::FullPolicy;
use crate::quota::{Gcra, MAX_TAT};
use crate::{Decision, Quota};

/// Smallest table allocated: one 16-slot table is 256 bytes for `u64` keys.
const MIN_CAPACITY: usize = 16;

pub(crate) struct Shard<K, S> {
    pub(crate) table: Table<K>,
    pub(crate) wheel: Wheel,
    /// The largest `now` seen: time going backwards is read as standing still.
    pub(crate) high_water: u64,
    pub(crate) quota: Quota,
    pub(crate) gcra: Gcra,
    pub(crate) overrides: HashMap<K, (Quota, Gcra), S>,
    pub(crate) max_live: usize,
    pub(crate) policy: FullPolicy,
    pub(crate) hasher: S,
}

impl<K: Hash + Eq + Clone, S: BuildHasher + Clone> Shard<K, S> {
    pub(crate) fn new(
        quota: Quota,
        max_live: usize,
        policy: FullPolicy,
        tick: u64,
        hasher: S,
    ) -> Self {
        Shard {
            table: Table::with_capacity(0),
            wheel: Wheel::new(tick),
            high_water: 0,
            quota,
            gcra: Gcra::new(&quota),
            overrides: HashMap::with_hasher(hasher.clone()),
            max_live,
            policy,
            hasher,
        }
    }

    /// The time this shard decides at (never earlier than before), after
    /// evicting whatever expired by then.
    #[inline]
    pub(crate) fn clamp(&mut self, now: u64) -> u64 {
        let now = now.max(self.high_water);
        self.high_water = now;
        if now >= self.wheel.next_due() {
            self.expire(now);
        }
        now
    }

    #[inline]
    pub(crate) fn gcra_for(&self, key: &K) -> Gcra {
        if self.overrides.is_empty() {
            self.gcra
        } else {
            self.overrides.get(key).map_or(self.gcra, |o| o.1)
        }
    }

    /// One check of `n` cells, `n` already validated against `gcra`, at a
    /// clamped `now`.
    #[inline]
    pub(crate) fn run(&mut self, hash: u64, key: &K, gcra: Gcra, n: u32, now: u64) -> Decision {
        match self.table.find(hash, key, now) {
            Probe::Found(i, tat) => {
                let (d, new) = gcra.step(tat, now, n);
                if let Some(new) = new {
                    self.table.set_tat(i, new);
                }
                d
            }
            Probe::Absent { reuse, vacant } => {
                let (d, new) = gcra.step(0, now, n);
                // A fresh key always conforms (n <= burst); keep the types honest.
                let Some(tat) = new else { return d };
                if self.insert(hash, key, tat, now, reuse, vacant) {
                    d
                } else {
                    Decision {
                        allowed: false,
                        limit: gcra.burst as u64,
                        remaining: 0,
                        retry_after_ns: self.wheel.next_due().saturating_sub(now).max(1),
                        reset_after_ns: 0,
                    }
                }
            }
        }
    }

    /// Stores a new key; false if the shard is full and the policy says no.
    fn insert(
        &mut self,
        hash: u64,
        key: &K,
        tat: u64,
        now: u64,
        reuse: Option<usize>,
        vacant: Option<usize>,
    ) -> bool {
        // An idle key on the probe path: its state equals no state, so the
        // new key takes its slot (and its wheel entry) at no cost.
        if let Some(i) = reuse {
            if self.table.tat(i).is_some() {
                self.table.place(i, key.clone(), tat);
                return true;
            }
        }
        if self.table.live() >= self.max_live {
            match self.policy {
                FullPolicy::DenyNew => return false,
                FullPolicy::EvictOldest => {
                    if !self.evict_oldest(now) {
                        return false;
                    }
                }
            }
        }
        // A tombstone on the path keeps the load as it is; a vacant slot
        // raises it, which may call for a bigger (or cleaner) table first.
        let i = match (reuse, vacant) {
            (Some(i), _) => i,
            (None, Some(i)) if self.table.has_room() => i,
            _ => {
                self.rehash(now, self.table.live() + 1);
                let i = self.table.insert_new(hash, key.clone(), tat);
                self.wheel.file(i as u32, tat);
                return true;
            }
        };
        if self.table.place(i, key.clone(), tat) == Placed::NeedsEntry {
            self.wheel.file(i as u32, tat);
        }
        true
    }

    /// Evicts every key whose TAT is at or before `now` among the wheel's
    /// due buckets; returns how many.
    pub(crate) fn expire(&mut self, now: u64) -> usize {
        let mut evicted = 0;
        for k in self.wheel.advance(now) {
            let mut entries = self.wheel.take(k);
            for &idx in &entries {
                let idx = idx as usize;
                if idx >= self.table.capacity() {
                    continue;
                }
                match self.table.tat(idx) {
                    Some(tat) if tat <= now => {
                        drop(self.table.delete(idx, false));
                        evicted += 1;
                    }
                    Some(tat) => self.wheel.file(idx as u32, tat),
                    None => self.table.forget_entry(idx),
                }
            }
            entries.clear();
            self.wheel.give_back(k, entries);
        }
        // Mostly empty after a wave of expiries (a flood gone quiet): give
        // the memory back. Reaching 1/8 load from the 9/16 a rehash leaves
        // takes evicting 7/16 of the slots, which pays for the rebuild.
        let cap = self.table.capacity();
        if cap > MIN_CAPACITY && self.table.live() * 8 < cap {
            self.rehash(now, self.table.live());
        }
        evicted
    }

    /// Forgets the key with the earliest TAT (to within one wheel tick):
    /// the key whose state is closest to "no state", so forgetting it
    /// admits the fewest extra requests. False if the shard holds no key.
    fn evict_oldest(&mut self, now: u64) -> bool {
        let tick = self.wheel.tick();
        for step in 0..BUCKETS {
            let bucket_tick = self.wheel.cursor().saturating_add(step);
            while let Some(idx) = self.wheel.pop(step) {
                let idx = idx as usize;
                if idx >= self.table.capacity() {
                    continue;
                }
                match self.table.tat(idx) {
                    Some(tat) if tat <= now || tat / tick <= bucket_tick || step == BUCKETS - 1 => {
                        drop(self.table.delete(idx, false));
                        return true;
                    }
                    // Its TAT moved on: file it where it belongs now (a
                    // later bucket of this same scan).
                    Some(tat) => self.wheel.file(idx as u32, tat),
                    None => self.table.forget_entry(idx),
                }
            }
        }
        false
    }

    /// Rebuilds the table for `want` live keys (growing, shrinking or just
    /// clearing tombstones), dropping keys already expired at `now`.
    pub(crate) fn rehash(&mut self, now: u64, want: usize) {
        // After a rehash the load is 9/16, so the table grows by about 1.4x
        // before reaching the 4/5 limit; at the key budget the table stays
        // at 7/10 load, leaving a tenth of it for tombstones between rebuilds.
        let limit = (self.max_live.saturating_mul(10) / 7)
            .saturating_add(1)
            .clamp(MIN_CAPACITY, u32::MAX as usize);
        let cap = (want.saturating_mul(16) / 9)
            .saturating_add(1)
            .clamp(MIN_CAPACITY, limit);
        let mut table = Table::with_capacity(cap);
        let mut wheel = Wheel::with_cursor(self.wheel.tick(), self.wheel.cursor());
        for (key, tat) in self.table.drain() {
            if tat <= now {
                continue;
            }
            let hash = self.hasher.hash_one(&key);
            let i = table.insert_new(hash, key, tat);
            wheel.file(i as u32, tat);
        }
        self.table = table;
        self.wheel = wheel;
    }

    pub(crate) fn set_quota(&mut self, quota: Quota) {
        self.quota = quota;
        self.gcra = Gcra::new(&quota);
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.table.heap_bytes()
            + self.wheel.heap_bytes()
            + self.overrides.capacity() * (std::mem::size_of::<(K, (Quota, Gcra))>() + 1)
    }

    /// Stored TAT of a key (`None` if absent or idle at the high-water time).
    pub(crate) fn tat_of(&self, hash: u64, key: &K) -> Option<u64> {
        match self.table.find(hash, key, 0) {
            Probe::Found(_, tat) => Some(tat).filter(|&t| t > self.high_water),
            Probe::Absent { .. } => None,
        }
    }

    pub(crate) fn remove(&mut self, hash: u64, key: &K) -> bool {
        match self.table.find(hash, key, 0) {
            Probe::Found(i, _) => {
                // The wheel still names the slot: mark it so.
                drop(self.table.delete(i, true));
                debug_assert_eq!(self.table.raw(i), TOMB_WITH_ENTRY);
                true
            }
            Probe::Absent { .. } => false,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.table = Table::with_capacity(0);
        self.wheel.clear();
    }
}

const _: () = assert!(MAX_TAT < u64::MAX);
