//! A map whose entries leave at a deadline: ticket holds, idempotency keys,
//! sessions.

use std::borrow::Borrow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::num::NonZeroU64;

use ahash::RandomState;

use crate::table::{tag_of, IndexTable};

const NIL: u32 = u32::MAX;

/// How many ring places back from the newest an insert may walk (and shift
/// entries by one) to keep the ring in deadline order: absorbs small
/// reorderings (requests that reach the map slightly out of timestamp order)
/// at a bounded O(1) cost before falling back to the heap.
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
    /// Insertion number: orders equal deadlines (first in, first out) across
    /// the ring and the heap, and tells live heap entries from stale ones.
    /// Never zero, so that `Option<Node>` (a ring slot) needs no extra word.
    seq: NonZeroU64,
    tag: u32,
}

#[derive(Clone)]
enum Slot<K, V> {
    Full(Node<K, V>),
    /// Free slot, linking to the next free one.
    Free(u32),
}

/// An index word names a ring position (31 bits, wrapping) or, with this
/// bit set, a heap slot.
const IN_HEAP: u32 = 1 << 31;
const POS_MASK: u32 = IN_HEAP - 1;
/// What an entry's index word names while the entry is being moved: no
/// node (heap slots stay below it), so that no other word's (tag, index)
/// pair is ever the same as this one's.
const MOVING: u32 = IN_HEAP | (POS_MASK - 1);

/// Most entries the ring holds: positions are 31-bit numbers, and a ring
/// of 2^30 slots keeps every live position distinct.
const MAX_RING: usize = 1 << 30;

/// The node an index word names, if any.
#[inline]
fn node_in<'a, K, V>(
    ring: &'a [Option<Node<K, V>>],
    slots: &'a [Slot<K, V>],
    i: u32,
) -> Option<&'a Node<K, V>> {
    if i & IN_HEAP != 0 {
        match slots.get((i & POS_MASK) as usize) {
            Some(Slot::Full(n)) => Some(n),
            _ => None,
        }
    } else {
        ring.get(i as usize & ring.len().wrapping_sub(1))?.as_ref()
    }
}

/// Whether a sweep that expired `expired` entries, leaving `survivors`,
/// drops their index words by clearing and refilling an index of `buckets`
/// words (no probing) rather than one by one: when no more survive than
/// expired, and the expired fill a quarter of the buckets, so that a small
/// sweep of a map that was once large does not pass over its whole index.
fn sweep_rebuilds(expired: usize, survivors: usize, buckets: usize) -> bool {
    expired >= survivors && expired * 4 >= buckets
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
/// How: a hash index finds an entry in one of two stores, which also keep
/// the deadline order.
/// - A ring buffer in deadline order takes every entry whose deadline is not
///   before the newest one (or fits among the last 8 places): with a fixed TTL
///   and a clock that moves forward, that is every entry. An insert writes at
///   the back, a removal leaves a hole (skipped when it reaches the front)
///   and expiry reads from the front: O(1) with no links to update and
///   entries side by side in memory. The ring doubles when full, or is
///   compacted in place when holes fill half of it (amortized O(1)).
/// - A slab and a binary heap take the rest (shorter TTLs mixed with longer
///   ones): O(log n) insert; removal marks the heap entry stale in O(1),
///   stale entries are dropped when they reach the top and the heap is
///   compacted when they pass half of it, so memory stays bounded.
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
    /// In-order entries at positions `head..tail` (wrapping `u32`s; position
    /// `p` lives in `ring[p % ring.len()]`, a power of two), `None` where one
    /// was removed. The front, when there is one, is never `None`.
    ring: Vec<Option<Node<K, V>>>,
    head: u32,
    tail: u32,
    ring_live: usize,
    /// No ring entry has a later deadline.
    ring_max: u64,
    /// Out-of-order entries; each has an entry in `heap`.
    slots: Vec<Slot<K, V>>,
    free: u32,
    /// `(deadline, seq, slot)`; may hold stale entries, but never on top.
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
    heap_live: usize,
    /// No heap entry has a later deadline (an upper bound: lets a sweep past
    /// it take the whole heap in bulk at once).
    heap_max: u64,
    len: usize,
    /// The next insertion number.
    seq: NonZeroU64,
    hasher: S,
}

impl<K: Hash + Eq, V> ExpiryMap<K, V> {
    /// An empty map.
    pub fn new() -> ExpiryMap<K, V> {
        ExpiryMap::with_hasher(RandomState::new())
    }

    /// An empty map with room for `n` entries (in deadline order) before it
    /// reallocates.
    pub fn with_capacity(n: usize) -> ExpiryMap<K, V> {
        let mut m = ExpiryMap::new();
        m.table = IndexTable::with_capacity(n);
        if n > 0 {
            m.grow_ring(n.min(MAX_RING).next_power_of_two());
        }
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
            ring: Vec::new(),
            head: 0,
            tail: 0,
            ring_live: 0,
            ring_max: 0,
            slots: Vec::new(),
            free: NIL,
            heap: BinaryHeap::new(),
            heap_live: 0,
            heap_max: 0,
            len: 0,
            seq: NonZeroU64::MIN,
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
        let ring = self.front().map(|n| n.deadline);
        let heap = self.heap.peek().map(|Reverse((d, _, _))| *d);
        match (ring, heap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.table.clear();
        self.ring.iter_mut().for_each(|e| *e = None);
        self.head = 0;
        self.tail = 0;
        self.ring_live = 0;
        self.ring_max = 0;
        self.slots.clear();
        self.free = NIL;
        self.heap.clear();
        self.heap_max = 0;
        self.heap_live = 0;
        self.len = 0;
    }

    /// Entries with their deadlines, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V, u64)> + '_ {
        let ring = self.ring.iter().flatten();
        let heap = self.slots.iter().filter_map(|s| match s {
            Slot::Full(n) => Some(n),
            Slot::Free(_) => None,
        });
        ring.chain(heap).map(|n| (&n.key, &n.value, n.deadline))
    }

    /// Heap bytes used (ring, slab, index and heap; the ring and the slab
    /// keep their peak sizes).
    pub fn heap_bytes(&self) -> usize {
        self.ring.capacity() * std::mem::size_of::<Option<Node<K, V>>>()
            + self.slots.capacity() * std::mem::size_of::<Slot<K, V>>()
            + self.table.heap_bytes()
            + self.heap.capacity() * std::mem::size_of::<(u64, u64, u32)>()
    }

    /// Slot of ring position `p`.
    #[inline]
    fn rslot(&self, p: u32) -> usize {
        p as usize & (self.ring.len() - 1)
    }

    /// The ring's earliest entry.
    #[inline]
    fn front(&self) -> Option<&Node<K, V>> {
        if self.head == self.tail {
            return None;
        }
        self.ring[self.rslot(self.head)].as_ref()
    }

    /// The node an index word names (it must name one).
    #[inline]
    fn node(&self, i: u32) -> &Node<K, V> {
        node_in(&self.ring, &self.slots, i).expect("an index word names a node")
    }

    #[inline]
    fn node_mut(&mut self, i: u32) -> &mut Node<K, V> {
        let n = if i & IN_HEAP != 0 {
            match self.slots.get_mut((i & POS_MASK) as usize) {
                Some(Slot::Full(n)) => Some(n),
                _ => None,
            }
        } else {
            let r = self.rslot(i);
            self.ring[r].as_mut()
        };
        n.expect("an index word names a node")
    }

    fn is_live(&self, &Reverse((_, seq, slot)): &Reverse<(u64, u64, u32)>) -> bool {
        matches!(self.slots.get(slot as usize), Some(Slot::Full(n)) if n.seq.get() == seq)
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

    /// Moves the ring's front past holes.
    #[inline]
    fn skip_holes(&mut self) {
        while self.head != self.tail && self.ring[self.rslot(self.head)].is_none() {
            self.head = self.head.wrapping_add(1);
        }
    }

    /// Makes room for one more ring position: doubles the ring when it is
    /// mostly live, else compacts it in place.
    fn reserve_ring(&mut self) {
        let cap = self.ring.len();
        if self.tail.wrapping_sub(self.head) as usize == cap {
            if cap > 0 && self.ring_live <= cap / 2 {
                self.compact_ring();
            } else {
                assert!(cap < MAX_RING, "ExpiryMap: more than 2^30 entries in order");
                self.grow_ring((2 * cap).max(8));
            }
        }
    }

    /// A ring of `cap` slots (a power of two, at least the current), each
    /// entry at the same position: the index needs no change.
    #[cold]
    fn grow_ring(&mut self, cap: usize) {
        let mut ring: Vec<Option<Node<K, V>>> = Vec::new();
        ring.resize_with(cap, || None);
        let mut p = self.head;
        while p != self.tail {
            let r = self.rslot(p);
            ring[p as usize & (cap - 1)] = self.ring[r].take();
            p = p.wrapping_add(1);
        }
        self.ring = ring;
    }

    /// Slides the live ring entries together towards the front (renumbering
    /// their index words), dropping the holes between them.
    #[cold]
    fn compact_ring(&mut self) {
        let mut w = self.head;
        let mut p = self.head;
        while p != self.tail {
            let r = self.rslot(p);
            if let Some(n) = self.ring[r].take() {
                if p != w {
                    self.table.move_idx(n.tag, p & POS_MASK, w & POS_MASK);
                }
                let wr = self.rslot(w);
                self.ring[wr] = Some(n);
                w = w.wrapping_add(1);
            }
            p = p.wrapping_add(1);
        }
        self.tail = w;
    }

    /// Stores `n` in deadline order (its deadline set; it gets a new
    /// insertion number) and returns the index word that names it. Inlined
    /// for the common case, a deadline no earlier than the ring's newest and
    /// room at the ring's back.
    #[inline]
    fn place(&mut self, n: Node<K, V>) -> u32 {
        let (head, tail) = (self.head, self.tail);
        let room = (tail.wrapping_sub(head) as usize) < self.ring.len();
        if room && (head == tail || n.deadline >= self.ring_max) {
            self.ring_max = n.deadline;
            let seq = self.seq;
            self.seq = seq.saturating_add(1);
            let r = self.rslot(tail);
            self.ring[r] = Some(Node { seq, ..n });
            self.tail = tail.wrapping_add(1);
            self.ring_live += 1;
            return tail & POS_MASK;
        }
        self.place_slow(n)
    }

    /// [`place`](Self::place) when the ring is full or the deadline is
    /// early: grows or compacts the ring, then walks back, or uses the heap.
    #[inline(never)]
    fn place_slow(&mut self, mut n: Node<K, V>) -> u32 {
        let d = n.deadline;
        n.seq = self.seq;
        self.seq = self.seq.saturating_add(1);
        self.reserve_ring();
        if self.head == self.tail || d >= self.ring_max {
            let p = self.tail;
            let r = self.rslot(p);
            self.ring[r] = Some(n);
            self.tail = p.wrapping_add(1);
            self.ring_live += 1;
            self.ring_max = d;
            return p & POS_MASK;
        }
        // Walk back from the newest entry to the last one due no later.
        let mut q = self.tail;
        let mut steps = 0;
        while q != self.head {
            let p = q.wrapping_sub(1);
            if matches!(&self.ring[self.rslot(p)], Some(e) if e.deadline <= d) {
                break;
            }
            if steps == MAX_WALK {
                return self.push_heap(n);
            }
            steps += 1;
            q = p;
        }
        // Shift the entries after it one place back (at most MAX_WALK).
        let mut p = self.tail;
        while p != q {
            let from = p.wrapping_sub(1);
            let (rf, rp) = (self.rslot(from), self.rslot(p));
            let moved = self.ring[rf].take();
            if let Some(e) = &moved {
                self.table.move_idx(e.tag, from & POS_MASK, p & POS_MASK);
            }
            self.ring[rp] = moved;
            p = from;
        }
        let r = self.rslot(q);
        self.ring[r] = Some(n);
        self.tail = self.tail.wrapping_add(1);
        self.ring_live += 1;
        q & POS_MASK
    }

    /// Stores `n` (seq set) in the slab, with a heap entry.
    fn push_heap(&mut self, n: Node<K, V>) -> u32 {
        let (d, seq) = (n.deadline, n.seq.get());
        let s = if self.free != NIL {
            let s = self.free;
            match std::mem::replace(&mut self.slots[s as usize], Slot::Full(n)) {
                Slot::Free(next) => self.free = next,
                Slot::Full(_) => unreachable!("free list points at a full slot"),
            }
            s
        } else {
            self.slots.push(Slot::Full(n));
            (self.slots.len() - 1) as u32
        };
        assert!(
            s < POS_MASK - 1,
            "ExpiryMap: more than 2^31 entries out of order"
        );
        self.heap_live += 1;
        self.heap_max = self.heap_max.max(d);
        self.heap.push(Reverse((d, seq, s)));
        s | IN_HEAP
    }

    /// [`take`](Self::take) for a heap entry: its slot freed, its heap entry
    /// left stale.
    #[inline(never)]
    fn take_from_heap(&mut self, s: u32) -> Node<K, V> {
        let n = self.free_slot(s);
        self.heap_live -= 1;
        self.clean_heap_top();
        n
    }

    /// Frees heap slot `s` (its heap entry already popped or stale).
    fn free_slot(&mut self, s: u32) -> Node<K, V> {
        match std::mem::replace(&mut self.slots[s as usize], Slot::Free(self.free)) {
            Slot::Full(n) => {
                self.free = s;
                n
            }
            Slot::Free(_) => unreachable!("released slot {s} is free"),
        }
    }

    /// Moves the entry whose index word is at `pos` to its place for
    /// `deadline` (as the newest among equal deadlines), letting `f` change
    /// it on the way. Its word names [`MOVING`] meanwhile, so that renumbering
    /// other entries (a compaction, a shift) never mistakes it for theirs.
    fn reschedule<R>(
        &mut self,
        pos: usize,
        deadline: u64,
        f: impl FnOnce(&mut Node<K, V>) -> R,
    ) -> R {
        let i = self.table.idx_at(pos);
        self.table.set_idx(pos, MOVING);
        let mut n = self.take(i);
        n.deadline = deadline;
        let r = f(&mut n);
        let i = self.place(n);
        self.table.set_idx(pos, i);
        r
    }

    /// Takes the node an index word names out of its store (its index word
    /// is the caller's to change).
    #[inline]
    fn take(&mut self, i: u32) -> Node<K, V> {
        if i & IN_HEAP != 0 {
            return self.take_from_heap(i & POS_MASK);
        }
        let r = self.rslot(i);
        let n = self.ring[r].take().expect("an index word names a node");
        self.ring_live -= 1;
        if i == self.head & POS_MASK {
            self.skip_holes();
        }
        n
    }

    /// Removes and returns the entry with the earliest deadline if it is due
    /// at `now` (deadline <= now), with its deadline. Lets a caller handle
    /// expiries one by one without collecting them.
    pub fn pop_expired(&mut self, now: u64) -> Option<(K, V, u64)> {
        // The earlier of the ring's front and the heap's (live) top; they
        // never tie, as insertion numbers are unique.
        let ring = self.front().map(|n| (n.deadline, n.seq.get()));
        let heap = self.heap.peek().map(|&Reverse(e)| e);
        let from_ring = match (ring, heap) {
            (Some(r), Some((d, s, _))) => r < (d, s),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        let i = if from_ring {
            if ring.is_some_and(|(d, _)| d > now) {
                return None;
            }
            self.head & POS_MASK
        } else {
            let (d, _, s) = heap.expect("the heap has a top");
            if d > now {
                return None;
            }
            self.heap.pop();
            self.heap_live -= 1;
            let n = self.free_slot(s);
            self.clean_heap_top();
            self.table.remove_idx(n.tag, s | IN_HEAP);
            self.len -= 1;
            return Some((n.key, n.value, n.deadline));
        };
        let n = self.take(i);
        self.table.remove_idx(n.tag, i);
        self.len -= 1;
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
    /// when fewer entries survive than expire and they fill a quarter of the
    /// index's buckets), and once the heap has given
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
            let ring = self
                .front()
                .map(|n| (n.deadline, n.seq.get()))
                .filter(|&(d, _)| d <= now);
            let s = match (ring, heap) {
                (None, None) => break,
                (Some(r), Some((d, q, s))) if (d, q) < r => s,
                (Some(_), _) => {
                    let i = self.head & POS_MASK;
                    let n = self.take(i);
                    self.len -= 1;
                    freed.push((n.tag, i));
                    f(n.key, n.value, n.deadline);
                    continue;
                }
                (None, Some((_, _, s))) => s,
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
            let n = self.free_slot(s);
            if bulk.is_none() {
                self.clean_heap_top();
            }
            self.len -= 1;
            freed.push((n.tag, s | IN_HEAP));
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

    /// Removes the index words of expired entries: one by one when few,
    /// else by rebuilding the index from the survivors (no probing). A
    /// rebuild passes over every bucket (and over the ring's window and the
    /// slab, at most twice as long), so it also needs the expired entries to
    /// fill a quarter of the buckets: after a peak, small sweeps of a large
    /// index stay O(what expires).
    fn drop_words(&mut self, freed: &[(u32, u32)]) {
        if !sweep_rebuilds(freed.len(), self.len, self.table.buckets()) {
            for &(tag, i) in freed {
                self.table.remove_idx(tag, i);
            }
            return;
        }
        self.table.clear();
        if self.len == 0 {
            self.slots.clear();
            self.free = NIL;
            return;
        }
        let mut p = self.head;
        while p != self.tail {
            if let Some(n) = &self.ring[self.rslot(p)] {
                self.table.insert(n.tag, p & POS_MASK);
            }
            p = p.wrapping_add(1);
        }
        for (s, slot) in self.slots.iter().enumerate() {
            if let Slot::Full(n) = slot {
                self.table.insert(n.tag, s as u32 | IN_HEAP);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let mut live = 0;
        let mut last = (0, 0);
        let mut p = self.head;
        if self.head != self.tail {
            assert!(self.front().is_some(), "the ring's front is a hole");
        }
        assert!(self.tail.wrapping_sub(self.head) as usize <= self.ring.len());
        while p != self.tail {
            if let Some(n) = &self.ring[self.rslot(p)] {
                assert!((n.deadline, n.seq.get()) >= last, "ring out of order");
                assert!(n.deadline <= self.ring_max);
                last = (n.deadline, n.seq.get());
                let w = self.table.find(n.tag, |j| j == p & POS_MASK);
                assert!(w.is_some(), "ring entry {p} has no index word");
                live += 1;
            }
            p = p.wrapping_add(1);
        }
        assert_eq!(live, self.ring_live);
        assert_eq!(
            self.ring.iter().flatten().count(),
            live,
            "an entry outside the ring's window"
        );
        let heap_live = self.heap.iter().filter(|e| self.is_live(e)).count();
        assert_eq!(heap_live, self.heap_live);
        let full = self
            .slots
            .iter()
            .filter(|s| matches!(s, Slot::Full(_)))
            .count();
        assert_eq!(full, self.heap_live);
        assert_eq!(self.ring_live + self.heap_live, self.len);
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
        let (ring, slots) = (&self.ring, &self.slots);
        let pos = self.table.find(tag, |i| {
            node_in(ring, slots, i).is_some_and(|n| n.key.borrow() == k)
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
    // `always`: with a plain `#[inline]` LLVM keeps this out of line in a
    // caller's loop; inlined, an insert + remove pair runs 25 fewer
    // instructions (277 -> 252, callgrind) and about 5% faster.
    #[inline(always)]
    pub fn insert(&mut self, k: K, v: V, deadline: u64) -> Option<V> {
        let tag = tag_of(self.hasher.hash_one(&k));
        let (ring, slots) = (&self.ring, &self.slots);
        let found = self
            .table
            .probe(tag, |i| node_in(ring, slots, i).is_some_and(|n| n.key == k));
        match found {
            Ok(pos) => Some(self.reschedule(pos, deadline, |n| std::mem::replace(&mut n.value, v))),
            Err(vacant) => {
                let i = self.place(Node {
                    key: k,
                    value: v,
                    deadline,
                    seq: NonZeroU64::MIN,
                    tag,
                });
                self.table.insert_at(vacant, tag, i);
                self.len += 1;
                None
            }
        }
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
        let Some((pos, _)) = self.lookup(k) else {
            return false;
        };
        self.reschedule(pos, deadline, |_| ());
        true
    }

    /// Removes `k` before its deadline (a hold confirmed), returning its value.
    #[inline]
    pub fn remove<Q>(&mut self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove_entry(k).map(|(_, v, _)| v)
    }

    /// Removes `k`, returning the stored key, value and deadline.
    #[inline]
    pub fn remove_entry<Q>(&mut self, k: &Q) -> Option<(K, V, u64)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (pos, i) = self.lookup(k)?;
        self.table.remove_at(pos);
        let n = self.take(i);
        self.len -= 1;
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
    use std::collections::HashMap;

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
        for (n, cut) in [(6_000u64, 9_000u64), (6_000, 2_000), (3_000, 20_000)] {
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
    fn ring_wraps_grows_and_compacts_like_a_model() {
        ring_model_run(ExpiryMap::new());
        // Every tag the same: index words are told apart only by the
        // positions they name.
        ring_model_run(ExpiryMap::with_hasher(std::hash::BuildHasherDefault::<
            crate::table::OneHash,
        >::default()));
    }

    fn ring_model_run<S: BuildHasher>(mut m: ExpiryMap<u64, u64, S>) {
        // Positions start just below 2^32 so they wrap; removals leave holes
        // (compactions), inserts past the ring's size grow it, replacements
        // and small reorderings move entries, and a sweep runs now and then.
        m.head = u32::MAX - 40;
        m.tail = m.head;
        let mut model: std::collections::BTreeMap<(u64, u64), u64> = Default::default();
        let mut at: HashMap<u64, (u64, u64)> = HashMap::new();
        let mut seq = 0u64;
        let mut rnd = crate::test_rng(7);
        for step in 0..6_000u64 {
            let k = rnd(200);
            // Long stretches without a sweep let holes fill the ring.
            let sweep = step % 1_000 > 900 && rnd(5) == 0;
            match if sweep { 9 } else { rnd(9) } {
                0..=4 => {
                    let d = step + rnd(3); // mostly in order, a little jitter
                    let old = at.insert(k, (d, seq)).map(|a| model.remove(&a).unwrap());
                    model.insert((d, seq), k);
                    seq += 1;
                    assert_eq!(m.insert(k, k, d).is_some(), old.is_some());
                }
                5..=7 => {
                    let want = at.remove(&k).map(|a| model.remove(&a).unwrap());
                    assert_eq!(m.remove(&k), want);
                }
                8 => assert_eq!(m.deadline(&k), at.get(&k).map(|a| a.0)),
                _ => {
                    let now = step.saturating_sub(300);
                    let mut want = Vec::new();
                    while let Some((&(d, s), &k)) = model.iter().next() {
                        if d > now {
                            break;
                        }
                        model.remove(&(d, s));
                        at.remove(&k);
                        want.push((k, k));
                    }
                    assert_eq!(m.expire(now), want);
                }
            }
            m.check_invariants();
            assert_eq!(m.len(), model.len());
        }
        let all: Vec<u64> = m.expire(u64::MAX).into_iter().map(|e| e.0).collect();
        assert_eq!(all, model.values().copied().collect::<Vec<_>>());
    }

    #[test]
    fn small_sweeps_of_a_once_large_map_drop_words_one_by_one() {
        // An index sized for a million entries (2 M buckets): a sweep that
        // expires one entry of two, the last one, or nothing must not pass
        // over it; a sweep of the whole million may.
        let buckets = IndexTable::with_capacity(1 << 20).buckets();
        assert!(!sweep_rebuilds(1, 1, buckets));
        assert!(!sweep_rebuilds(1, 0, buckets));
        assert!(!sweep_rebuilds(0, 0, buckets));
        assert!(!sweep_rebuilds(1 << 19, 1 << 20, buckets));
        assert!(sweep_rebuilds(1 << 20, 0, buckets));
        assert!(sweep_rebuilds(1 << 19, 1 << 18, buckets));
        // And the map stays exact through such sweeps.
        let mut m = ExpiryMap::with_capacity(1 << 20);
        for k in 0..500u64 {
            m.insert(2 * k, (), 2 * k);
            m.insert(2 * k + 1, (), 2 * k + 1);
            assert_eq!(m.expire(2 * k), [(2 * k, ())]);
            assert_eq!(m.expire(2 * k + 1), [(2 * k + 1, ())]);
            assert_eq!(m.expire(2 * k + 1), []);
        }
        m.check_invariants();
        assert!(m.is_empty());
    }

    #[test]
    fn moving_an_entry_renumbers_the_others_by_their_own_words() {
        // Every tag the same, so an index word is told from another only by
        // the position it names. Key 1 leaves position 1 to be placed again
        // earlier; the full ring is compacted (key 5 moves into position 1)
        // and then shifted to make room (key 5 moves on to 2): renumbering
        // key 5 must change its own word, not key 1's (named `MOVING` then).
        for by_insert in [true, false] {
            let hasher = std::hash::BuildHasherDefault::<crate::table::OneHash>::default();
            let mut m = ExpiryMap::with_hasher(hasher);
            for k in 0..8u64 {
                m.insert(k, k, 10 * (k + 1));
            }
            for k in 2..5 {
                m.remove(&k);
            }
            assert_eq!(m.ring.len(), 8);
            if by_insert {
                assert_eq!(m.insert(1, 1, 55), Some(1));
            } else {
                assert!(m.set_deadline(&1, 55));
            }
            m.check_invariants();
            for (k, d) in [(0, 10), (1, 55), (5, 60), (6, 70), (7, 80)] {
                assert_eq!(m.deadline(&k), Some(d), "key {k}");
            }
            let keys: Vec<u64> = m.expire(u64::MAX).into_iter().map(|e| e.0).collect();
            assert_eq!(keys, [0, 1, 5, 6, 7]);
        }
    }

    #[test]
    fn a_ring_slot_is_no_bigger_than_its_node() {
        // `seq` is never zero, so `None` needs no tag word of its own.
        assert_eq!(
            std::mem::size_of::<Option<Node<u64, u64>>>(),
            std::mem::size_of::<Node<u64, u64>>()
        );
        assert_eq!(std::mem::size_of::<Node<u64, u64>>(), 40);
    }

    #[test]
    fn small_reorderings_stay_in_the_ring() {
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
