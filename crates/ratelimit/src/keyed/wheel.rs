//! A timing wheel of slot indices, bucketed by theoretical arrival time, so
//! idle keys are found without scanning the table.
//!
//! Every live slot of a shard's table has exactly one entry here (plus
//! tombstones marked `TOMB_WITH_ENTRY`). An entry is filed under the tick of
//! its key's TAT when it is filed; later checks move the TAT forward but not
//! the entry (that would cost a search per check). When a tick is due, each
//! of its entries is looked at once: a key whose TAT has passed is evicted,
//! one whose TAT moved on is filed again under its current tick. So the work
//! is the expired keys plus at most one re-filing per key per tick it was
//! checked in: proportional to what expires and to the checks already made,
//! never a scan of the table.

/// Buckets in the wheel. With the default tick (a 32nd of the quota's burst
/// window) the wheel spans two burst windows, so an entry is re-filed at
/// most once per window it stays busy.
pub(crate) const BUCKETS: u64 = 64;

pub(crate) struct Wheel {
    buckets: Vec<Vec<u32>>,
    /// Nanoseconds per bucket.
    tick: u64,
    /// The tick (time / `tick`) of the earliest bucket not yet processed.
    cursor: u64,
    /// Entries held.
    entries: usize,
}

impl Wheel {
    pub(crate) fn new(tick: u64) -> Wheel {
        Wheel::with_cursor(tick, 0)
    }

    /// An empty wheel whose earliest bucket is tick `cursor`.
    pub(crate) fn with_cursor(tick: u64, cursor: u64) -> Wheel {
        Wheel {
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            tick: tick.max(1),
            cursor,
            entries: 0,
        }
    }

    #[inline]
    pub(crate) fn tick(&self) -> u64 {
        self.tick
    }

    #[inline]
    pub(crate) fn cursor(&self) -> u64 {
        self.cursor
    }

    /// The bucket for a tick, clamped into the wheel's span: a TAT already
    /// past goes in the next bucket due, one beyond the span in the last
    /// (to be re-filed when it comes round).
    #[inline]
    fn bucket_of(&self, tick: u64) -> usize {
        let t = tick.clamp(self.cursor, self.cursor.saturating_add(BUCKETS - 1));
        (t % BUCKETS) as usize
    }

    /// Files slot `idx`, whose key has this TAT.
    #[inline]
    pub(crate) fn file(&mut self, idx: u32, tat: u64) {
        let b = self.bucket_of(tat / self.tick);
        self.buckets[b].push(idx);
        self.entries += 1;
    }

    /// The first time at which a bucket is due: every TAT in the bucket of
    /// tick `k` is below `(k + 1) * tick`.
    #[inline]
    pub(crate) fn next_due(&self) -> u64 {
        (self.cursor + 1).saturating_mul(self.tick)
    }

    /// Moves the cursor to `now` and returns the ticks now due, oldest first
    /// (at most one full turn: each bucket once).
    pub(crate) fn advance(&mut self, now: u64) -> std::ops::Range<u64> {
        let target = now / self.tick;
        if target <= self.cursor {
            return self.cursor..self.cursor;
        }
        let first = self.cursor;
        let steps = (target - first).min(BUCKETS);
        self.cursor = target;
        first..first + steps
    }

    /// Takes the entries of the bucket of tick `k`.
    pub(crate) fn take(&mut self, k: u64) -> Vec<u32> {
        let v = std::mem::take(&mut self.buckets[(k % BUCKETS) as usize]);
        self.entries -= v.len();
        v
    }

    /// Gives back a drained vector so its allocation can be reused, unless
    /// the bucket already got new entries or the vector is far larger than
    /// a bucket's fair share (memory must fall after a flood).
    pub(crate) fn give_back(&mut self, k: u64, mut v: Vec<u32>) {
        v.clear();
        let fair = self.entries / BUCKETS as usize;
        let slot = &mut self.buckets[(k % BUCKETS) as usize];
        if slot.capacity() == 0 && v.capacity() <= 2 * fair + 16 {
            *slot = v;
        }
    }

    /// Pops one entry from the bucket `step` buckets after the cursor.
    #[inline]
    pub(crate) fn pop(&mut self, step: u64) -> Option<u32> {
        let b = ((self.cursor + step) % BUCKETS) as usize;
        let e = self.buckets[b].pop();
        if e.is_some() {
            self.entries -= 1;
        }
        e
    }

    /// Forgets every entry.
    pub(crate) fn clear(&mut self) {
        for b in &mut self.buckets {
            *b = Vec::new();
        }
        self.entries = 0;
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<Vec<u32>>()
            + self
                .buckets
                .iter()
                .map(|b| b.capacity() * std::mem::size_of::<u32>())
                .sum::<usize>()
    }
}
