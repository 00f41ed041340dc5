//! A map whose entries leave at a deadline: ticket holds, idempotency keys,
//! sessions.

use std::borrow::Borrow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::hash::{BuildHasher, Hash};

use ahash::RandomState;

use crate::table::{tag_of, IndexTable};

const NIL: u32 = u32::MAX;

/// How far back from the newest deadline an insert may walk to keep the
/// deadline-ordered list sorted: absorbs small reorderings (requests that
/// reach the map slightly out of timestamp order) at a bounded O(1) cost
/// before falling back to the heap.
const MAX_WALK: usize = 8;

/// Heap entries an `expire` pops one by one before it may switch to taking
/// all the due ones out at once (see [`ExpiryMap::expire_with`]).
const BULK_MIN: usize = 1024;

/// Stale heap entries tolerated beyond the live ones before a compaction:
/// the heap never holds more than twice its live entries plus this.
const HEAP_SLACK: usize = 64;

#[derive(Clone)]
struct Node<K, V> {
    key: K,
    value: V,
    deadline: u64,
    /// Insertion number: orders equal deadlines (first in, first out) and
    /// tells live heap entries from stale ones.
    seq: u64,
    prev: u32,
    next: u32,
    tag: u32,
    in_heap: bool,
}

#[derive(Clone)]
enum Slot<K, V> {
    Full(Node<K, V>),
    /// Free slot, linking to the next free one.
    Free(u32),
}

/// A hash map whose entries carry a deadline, and that hands back everything
/// due in deadline order.
///
/// TicketMaster's hold service keeps `booking -> hold` for five minutes: a
/// confirmed booking leaves early ([`remove`](Self::remove)), and a sweep
/// ([`expire`](Self::expire)) releases the seats of holds that ran out, oldest
/// first. An upload service keeps `txnId -> jobId` "for some time so that
/// duplicate requests are not done" (see
/// [`IdempotencyCache`](crate::IdempotencyCache)).
///
/// How: entries live in a slab, found through a hash index; their order is
/// kept by two structures.
/// - A deadline-sorted doubly-linked list takes every entry whose deadline is
///   not before the newest one (or fits within the last 8): with a fixed TTL
///   and a clock that moves forward, that is every entry, and insert, remove
///   and expire are all O(1) with no heap at all.
/// - A binary heap takes the rest (shorter TTLs mixed with longer ones):
///   O(log n) insert; removal marks the heap entry stale in O(1), stale
///   entries are dropped when they reach the top and the heap is compacted
///   when they pass half of it, so memory stays bounded.
///
/// [`expire`](Self::expire) merges the two, so its cost is proportional to
/// what expires (times log n for heap entries). Equal deadlines leave in
/// insertion order.
///
/// ```
/// use hld_lru_feed::ExpiryMap;
///
/// const MIN: u64 = 60_000_000_000; // one minute in ns
/// let mut holds = ExpiryMap::new();
/// holds.insert("booking-1", "seat A1", 0 + 5 * MIN);
/// holds.insert("booking-2", "seat A2", MIN + 5 * MIN);
/// holds.insert("booking-3", "seat A3", 2 * MIN + 5 * MIN);
/// assert_eq!(holds.remove(&"booking-2"), Some("seat A2")); // confirmed
/// assert_eq!(holds.next_deadline(), Some(5 * MIN));
/// // Seven minutes in: both remaining holds ran out, oldest first.
/// assert_eq!(holds.expire(7 * MIN), [("booking-1", "seat A1"), ("booking-3", "seat A3")]);
/// assert!(holds.is_empty());
/// ```
#[derive(Clone)]
pub struct ExpiryMap<K, V, S = RandomState> {
    table: IndexTable,
    slots: Vec<Slot<K, V>>,
    free: u32,
    len: usize,
    /// Earliest entry of the sorted list.
    head: u32,
    /// Latest entry of the sorted list.
    tail: u32,
    /// `(deadline, seq, slot)`; may hold stale entries, but never on top.
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
    heap_live: usize,
    /// No heap entry has a later deadline (an upper bound: lets a sweep past
    /// it take the whole heap in bulk at once).
    heap_max: u64,
    seq: u64,
    hasher: S,
}

impl<K: Hash + Eq, V> ExpiryMap<K, V> {
    /// An empty map.
    pub fn new() -> ExpiryMap<K, V> {
        ExpiryMap::with_hasher(RandomState::new())
    }

    /// An empty map with room for `n` entries before it reallocates.
    pub fn with_capacity(n: usize) -> ExpiryMap<K, V> {
        let mut m = ExpiryMap::new();
        m.table = IndexTable::with_capacity(n);
        m.slots.reserve(n);
        m
    }
}

impl<K: Hash + Eq, V> Default for ExpiryMap<K, V> {
    fn default() -> Self {
        ExpiryMap::new()
    }
}

impl<K, V, S> ExpiryMap<K, V, S> {
    /// An empty map that hashes keys with `hasher`.
    pub fn with_hasher(hasher: S) -> ExpiryMap<K, V, S> {
        ExpiryMap {
            table: IndexTable::with_capacity(0),
            slots: Vec::new(),
            free: NIL,
            len: 0,
            head: NIL,
            tail: NIL,
            heap: BinaryHeap::new(),
            heap_live: 0,
            heap_max: 0,
            seq: 0,
            hasher,
        }
    }

    /// Entries held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the map is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The earliest deadline held, if any: when the next
    /// [`expire`](Self::expire) has something to do (a timer sleeps until it).
    pub fn next_deadline(&self) -> Option<u64> {
        let list = self.node_opt(self.head).map(|n| n.deadline);
        let heap = self.heap.peek().map(|Reverse((d, _, _))| *d);
        match (list, heap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.table.clear();
        self.slots.clear();
        self.free = NIL;
        self.len = 0;
        self.head = NIL;
        self.tail = NIL;
        self.heap.clear();
        self.heap_max = 0;
        self.heap_live = 0;
    }

    /// Entries with their deadlines, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V, u64)> + '_ {
        self.slots.iter().filter_map(|s| match s {
            Slot::Full(n) => Some((&n.key, &n.value, n.deadline)),
            Slot::Free(_) => None,
        })
    }

    /// Heap bytes used (slab, index and heap; the slab keeps its peak size).
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot<K, V>>()
            + self.table.heap_bytes()
            + self.heap.capacity() * std::mem::size_of::<(u64, u64, u32)>()
    }

    #[inline]
    fn node_opt(&self, i: u32) -> Option<&Node<K, V>> {
        match self.slots.get(i as usize) {
            Some(Slot::Full(n)) => Some(n),
            _ => None,
        }
    }

    /// The node in a slot the structure links to (always full).
    #[inline]
    fn node(&self, i: u32) -> &Node<K, V> {
        match &self.slots[i as usize] {
            Slot::Full(n) => n,
            Slot::Free(_) => unreachable!("linked slot {i} is free"),
        }
    }

    #[inline]
    fn node_mut(&mut self, i: u32) -> &mut Node<K, V> {
        match &mut self.slots[i as usize] {
            Slot::Full(n) => n,
            Slot::Free(_) => unreachable!("linked slot {i} is free"),
        }
    }

    fn is_live(&self, &Reverse((_, seq, slot)): &Reverse<(u64, u64, u32)>) -> bool {
        matches!(self.node_opt(slot), Some(n) if n.in_heap && n.seq == seq)
    }

    /// Drops stale entries from the heap's top, so that it is live.
    fn clean_heap_top(&mut self) {
        while let Some(top) = self.heap.peek() {
            if self.is_live(top) {
                break;
            }
            self.heap.pop();
        }
        if self.heap.len() > 2 * self.heap_live + HEAP_SLACK {
            let heap = std::mem::take(&mut self.heap);
            let mut live = heap.into_vec();
            live.retain(|e| self.is_live(e));
            self.heap = BinaryHeap::from(live);
        }
    }

    /// Links node `i` (its deadline set) into the order.
    fn attach(&mut self, i: u32) {
        let seq = self.seq;
        self.seq += 1;
        let deadline = {
            let n = self.node_mut(i);
            n.seq = seq;
            n.in_heap = false;
            n.deadline
        };
        // Walk back from the newest entry to the last one due no later.
        let mut after = self.tail;
        let mut steps = 0;
        while after != NIL && self.node(after).deadline > deadline {
            if steps == MAX_WALK {
                self.node_mut(i).in_heap = true;
                self.heap_live += 1;
                self.heap_max = self.heap_max.max(deadline);
                self.heap.push(Reverse((deadline, seq, i)));
                return;
            }
            after = self.node(after).prev;
            steps += 1;
        }
        let before = if after == NIL {
            self.head
        } else {
            self.node(after).next
        };
        {
            let n = self.node_mut(i);
            n.prev = after;
            n.next = before;
        }
        if after == NIL {
            self.head = i;
        } else {
            self.node_mut(after).next = i;
        }
        if before == NIL {
            self.tail = i;
        } else {
            self.node_mut(before).prev = i;
        }
    }

    /// Unlinks node `i` from the order. Inlined for the list case (every
    /// entry with a fixed TTL); the heap case is out of line.
    #[inline]
    fn detach(&mut self, i: u32) {
        let (in_heap, prev, next) = {
            let n = self.node_mut(i);
            let in_heap = n.in_heap;
            n.in_heap = false;
            (in_heap, n.prev, n.next)
        };
        if in_heap {
            self.detach_from_heap();
            return;
        }
        if prev == NIL {
            self.head = next;
        } else {
            self.node_mut(prev).next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.node_mut(next).prev = prev;
        }
    }

    /// The heap half of [`detach`](Self::detach): the node's heap entry
    /// turned stale.
    #[inline(never)]
    fn detach_from_heap(&mut self) {
        self.heap_live -= 1;
        self.clean_heap_top();
    }

    /// Frees slot `i` (already detached, its table word gone).
    fn release(&mut self, i: u32) -> Node<K, V> {
        self.len -= 1;
        match std::mem::replace(&mut self.slots[i as usize], Slot::Free(self.free)) {
            Slot::Full(n) => {
                self.free = i;
                n
            }
            Slot::Free(_) => unreachable!("released slot {i} is free"),
        }
    }

    /// Removes and returns the entry with the earliest deadline if it is due
    /// at `now` (deadline <= now), with its deadline. Lets a caller handle
    /// expiries one by one without collecting them.
    pub fn pop_expired(&mut self, now: u64) -> Option<(K, V, u64)> {
        // The earlier of the list's head and the heap's (live) top; they
        // never tie, as insertion numbers are unique.
        let list = self
            .node_opt(self.head)
            .map(|n| (n.deadline, n.seq, self.head));
        let heap = self.heap.peek().map(|&Reverse(e)| e);
        let (deadline, _, i) = match (list, heap) {
            (Some(l), Some(h)) => l.min(h),
            (l, h) => l.or(h)?,
        };
        if deadline > now {
            return None;
        }
        if self.node(i).in_heap {
            self.heap.pop();
        }
        self.detach(i);
        let tag = self.node(i).tag;
        self.table.remove_idx(tag, i);
        let n = self.release(i);
        Some((n.key, n.value, n.deadline))
    }

    /// Removes and returns every entry whose deadline is at or before `now`,
    /// earliest first (equal deadlines in insertion order). Costs what
    /// expires, not what the map holds.
    pub fn expire(&mut self, now: u64) -> Vec<(K, V)> {
        let mut out = Vec::new();
        self.expire_with(now, |k, v, _| out.push((k, v)));
        out
    }

    /// Removes every entry due at `now` like [`expire`](Self::expire), calling
    /// `f(key, value, deadline)` for each in order instead of collecting them;
    /// returns how many expired.
    ///
    /// A sweep that expires many entries is done in bulk: their index words
    /// are dropped together at the end (by clearing and refilling the index
    /// when fewer entries survive than expire), and once the heap has given
    /// up a sixteenth of its entries, its remaining due ones are taken out in
    /// one partition and sorted, instead of one sift-down each.
    pub fn expire_with(&mut self, now: u64, mut f: impl FnMut(K, V, u64)) -> usize {
        let mut freed: Vec<(u32, u32)> = Vec::new();
        let mut bulk: Option<std::iter::Peekable<std::vec::IntoIter<(u64, u64, u32)>>> = None;
        let mut from_heap = 0usize;
        loop {
            let many = (from_heap >= BULK_MIN && from_heap * 16 >= self.heap.len())
                || (now >= self.heap_max && self.heap_live >= BULK_MIN);
            if bulk.is_none() && many {
                bulk = Some(self.take_due(now).into_iter().peekable());
            }
            let heap = match &mut bulk {
                Some(due) => due.peek().copied(),
                None => self
                    .heap
                    .peek()
                    .map(|&Reverse(e)| e)
                    .filter(|&(d, _, _)| d <= now),
            };
            let list = self
                .node_opt(self.head)
                .map(|n| (n.deadline, n.seq))
                .filter(|&(d, _)| d <= now);
            let i = match (list, heap) {
                (None, None) => break,
                (Some(l), Some((d, s, slot))) if (d, s) < l => slot,
                (Some(_), _) => {
                    let i = self.head;
                    self.detach(i);
                    freed.push((self.node(i).tag, i));
                    let n = self.release(i);
                    f(n.key, n.value, n.deadline);
                    continue;
                }
                (None, Some((_, _, slot))) => slot,
            };
            // From the heap.
            match &mut bulk {
                Some(due) => {
                    due.next();
                }
                None => {
                    self.heap.pop();
                    self.heap_live -= 1;
                }
            }
            from_heap += 1;
            self.node_mut(i).in_heap = false;
            if bulk.is_none() {
                self.clean_heap_top();
            }
            freed.push((self.node(i).tag, i));
            let n = self.release(i);
            f(n.key, n.value, n.deadline);
        }
        self.drop_words(&freed);
        freed.len()
    }

    /// Takes every due entry out of the heap, sorted; the heap keeps the
    /// live entries that are not due.
    fn take_due(&mut self, now: u64) -> Vec<(u64, u64, u32)> {
        let entries = std::mem::take(&mut self.heap).into_vec();
        let mut due = Vec::new();
        let mut rest = Vec::with_capacity(entries.len());
        for e in entries {
            if self.is_live(&e) {
                if e.0 .0 <= now {
                    due.push(e.0);
                } else {
                    rest.push(e);
                }
            }
        }
        if rest.is_empty() {
            self.heap_max = 0;
        }
        self.heap = BinaryHeap::from(rest);
        self.heap_live -= due.len();
        due.sort_unstable();
        due
    }

    /// Removes the index words of freed slots: one by one when few, else by
    /// rebuilding the index from the survivors (sequential, no probing).
    fn drop_words(&mut self, freed: &[(u32, u32)]) {
        if self.len == 0 {
            self.table.clear();
            self.slots.clear();
            self.free = NIL;
        } else if freed.len() >= self.slots.len() / 2 {
            self.table.clear();
            for (i, s) in self.slots.iter().enumerate() {
                if let Slot::Full(n) = s {
                    self.table.insert(n.tag, i as u32);
                }
            }
        } else {
            for &(tag, i) in freed {
                self.table.remove_idx(tag, i);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let mut count = 0;
        let mut i = self.head;
        let mut prev = NIL;
        let mut last = (0, 0);
        while i != NIL {
            let n = self.node(i);
            assert!(!n.in_heap);
            assert_eq!(n.prev, prev);
            assert!((n.deadline, n.seq) >= last, "list out of order");
            last = (n.deadline, n.seq);
            prev = i;
            i = n.next;
            count += 1;
        }
        assert_eq!(self.tail, prev);
        let live = self.heap.iter().filter(|e| self.is_live(e)).count();
        assert_eq!(live, self.heap_live);
        assert_eq!(count + live, self.len);
        assert!(self.heap.len() <= 2 * self.heap_live + HEAP_SLACK + 1);
        if let Some(top) = self.heap.peek() {
            assert!(self.is_live(top));
        }
        assert_eq!(self.table.len(), self.len);
    }
}

impl<K: Hash + Eq, V, S: BuildHasher> ExpiryMap<K, V, S> {
    #[inline]
    fn find<Q>(&self, tag: u32, k: &Q) -> Option<(usize, u32)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let slots = &self.slots;
        let pos = self.table.find(tag, |i| match &slots[i as usize] {
            Slot::Full(n) => n.key.borrow() == k,
            Slot::Free(_) => false,
        })?;
        Some((pos, self.table.idx_at(pos)))
    }

    #[inline]
    fn lookup<Q>(&self, k: &Q) -> Option<(usize, u32)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.find(tag_of(self.hasher.hash_one(k)), k)
    }

    /// Holds `v` under `k` until `deadline` (ns, on the caller's clock).
    /// Replaces an existing entry (value and deadline), returning its value.
    pub fn insert(&mut self, k: K, v: V, deadline: u64) -> Option<V> {
        let tag = tag_of(self.hasher.hash_one(&k));
        let slots = &self.slots;
        let found = self.table.probe(tag, |i| match &slots[i as usize] {
            Slot::Full(n) => n.key == k,
            Slot::Free(_) => false,
        });
        let vacant = match found {
            Ok(pos) => {
                let i = self.table.idx_at(pos);
                self.detach(i);
                let n = self.node_mut(i);
                n.deadline = deadline;
                let old = std::mem::replace(&mut n.value, v);
                self.attach(i);
                return Some(old);
            }
            Err(vacant) => vacant,
        };
        let node = Node {
            key: k,
            value: v,
            deadline,
            seq: 0,
            prev: NIL,
            next: NIL,
            tag,
            in_heap: false,
        };
        let i = if self.free != NIL {
            let i = self.free;
            match std::mem::replace(&mut self.slots[i as usize], Slot::Full(node)) {
                Slot::Free(next) => self.free = next,
                Slot::Full(_) => unreachable!("free list points at a full slot"),
            }
            i
        } else {
            // Indices stay below u32::MAX (NIL); a map that large would
            // need 4 G entries of memory first.
            self.slots.push(Slot::Full(node));
            (self.slots.len() - 1) as u32
        };
        self.len += 1;
        self.table.insert_at(vacant, tag, i);
        self.attach(i);
        None
    }

    /// The value of `k`, even if its deadline has passed but
    /// [`expire`](Self::expire) has not run yet (see [`get_live`](Self::get_live)).
    pub fn get<Q>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lookup(k).map(|(_, i)| &self.node(i).value)
    }

    /// The value of `k` if its deadline is after `now`.
    pub fn get_live<Q>(&self, k: &Q, now: u64) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (_, i) = self.lookup(k)?;
        let n = self.node(i);
        (n.deadline > now).then_some(&n.value)
    }

    /// The value of `k`, mutably (the deadline is unchanged).
    pub fn get_mut<Q>(&mut self, k: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (_, i) = self.lookup(k)?;
        Some(&mut self.node_mut(i).value)
    }

    /// The deadline of `k`.
    pub fn deadline<Q>(&self, k: &Q) -> Option<u64>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lookup(k).map(|(_, i)| self.node(i).deadline)
    }

    /// Whether `k` is held (whatever its deadline).
    pub fn contains_key<Q>(&self, k: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lookup(k).is_some()
    }

    /// Moves the deadline of `k` (extend a hold, refresh a session); returns
    /// whether `k` was there. The entry counts as newest among equal deadlines.
    pub fn set_deadline<Q>(&mut self, k: &Q, deadline: u64) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some((_, i)) = self.lookup(k) else {
            return false;
        };
        self.detach(i);
        self.node_mut(i).deadline = deadline;
        self.attach(i);
        true
    }

    /// Removes `k` before its deadline (a hold confirmed), returning its value.
    pub fn remove<Q>(&mut self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove_entry(k).map(|(_, v, _)| v)
    }

    /// Removes `k`, returning the stored key, value and deadline.
    pub fn remove_entry<Q>(&mut self, k: &Q) -> Option<(K, V, u64)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (pos, i) = self.lookup(k)?;
        self.table.remove_at(pos);
        self.detach(i);
        let n = self.release(i);
        Some((n.key, n.value, n.deadline))
    }
}

impl<K: Hash + Eq, V, S: BuildHasher> Extend<(K, V, u64)> for ExpiryMap<K, V, S> {
    fn extend<I: IntoIterator<Item = (K, V, u64)>>(&mut self, iter: I) {
        for (k, v, d) in iter {
            self.insert(k, v, d);
        }
    }
}

impl<K: Hash + Eq, V> FromIterator<(K, V, u64)> for ExpiryMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V, u64)>>(iter: I) -> Self {
        let mut m = ExpiryMap::new();
        m.extend(iter);
        m
    }
}

impl<K: fmt::Debug, V: fmt::Debug, S> fmt::Debug for ExpiryMap<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(k, v, d)| (k, (v, d))))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_deadlines_use_the_heap_and_come_out_sorted() {
        let mut m = ExpiryMap::new();
        for k in 0..100u64 {
            m.insert(k, (), 1000 - k * 7 % 500);
        }
        assert!(m.heap_live > 0);
        m.check_invariants();
        let out: Vec<u64> = std::iter::from_fn(|| m.pop_expired(u64::MAX).map(|e| e.2)).collect();
        assert!(out.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(out.len(), 100);
        m.check_invariants();
    }

    #[test]
    fn bulk_expiry_matches_one_by_one() {
        // Enough out-of-order entries for the bulk paths (heap partition and
        // index rebuild), mixed with in-order ones and removals.
        for (n, cut) in [(6_000u64, 7_000u64), (6_000, 2_000), (3_000, 20_000)] {
            let mut a = ExpiryMap::new();
            let mut b = ExpiryMap::new();
            for k in 0..n {
                let d = if k % 3 == 0 {
                    k
                } else {
                    k.wrapping_mul(7919) % 10_000
                };
                a.insert(k, k, d);
                b.insert(k, k, d);
            }
            for k in (0..n).step_by(5) {
                a.remove(&k);
                b.remove(&k);
            }
            let bulk = a.expire(cut);
            let mut one = Vec::new();
            while let Some((k, v, _)) = b.pop_expired(cut) {
                one.push((k, v));
            }
            assert_eq!(bulk, one);
            a.check_invariants();
            for k in 0..n {
                assert_eq!(a.get(&k), b.get(&k));
            }
            a.insert(n, n, 0);
            assert_eq!(a.expire(0), [(n, n)]);
            assert_eq!(a.expire(u64::MAX).len(), b.expire(u64::MAX).len());
            a.check_invariants();
            assert!(a.is_empty());
        }
    }

    #[test]
    fn small_reorderings_stay_in_the_list() {
        let mut m = ExpiryMap::new();
        for k in 0..50u64 {
            m.insert(k, (), k * 10 + (k % 3) * 7);
        }
        assert_eq!(m.heap_live, 0);
        m.check_invariants();
    }

    #[test]
    fn removals_keep_the_heap_bounded() {
        let mut m = ExpiryMap::new();
        m.insert(u64::MAX, (), 1_000_000); // forces the rest out of order
        for round in 0..100u64 {
            for k in 0..100u64 {
                m.insert(k, (), 500_000 - round * 100 - k);
            }
            for k in 0..100u64 {
                assert!(m.remove(&k).is_some());
            }
            m.check_invariants();
        }
        assert!(m.heap.len() <= HEAP_SLACK * 2);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn equal_deadlines_leave_in_insertion_order_and_replace_moves_to_back() {
        let mut m = ExpiryMap::new();
        for k in 0..5 {
            m.insert(k, k, 10);
        }
        assert_eq!(m.insert(1, 11, 10), Some(1));
        assert!(m.set_deadline(&2, 10));
        assert!(!m.set_deadline(&9, 10));
        let keys: Vec<_> = m.expire(10).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, [0, 3, 4, 1, 2]);
    }

    #[test]
    fn reads_and_deadlines() {
        let mut m: ExpiryMap<String, u32> = [("a".to_string(), 1, 5)].into_iter().collect();
        assert_eq!(m.get("a"), Some(&1));
        assert_eq!(m.get_live("a", 4), Some(&1));
        assert_eq!(m.get_live("a", 5), None);
        assert_eq!(m.deadline("a"), Some(5));
        *m.get_mut("a").unwrap() = 2;
        assert_eq!(m.expire(4), []);
        assert_eq!(m.next_deadline(), Some(5));
        assert_eq!(m.expire(5), [("a".to_string(), 2)]);
        assert_eq!(m.next_deadline(), None);
        assert_eq!(m.pop_expired(u64::MAX), None);
        m.insert("b".into(), 3, 1);
        assert!(format!("{m:?}").contains("\"b\": (3, 1)"));
        m.clear();
        assert!(m.is_empty() && !m.contains_key("b"));
    }
}
