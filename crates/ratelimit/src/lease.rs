//! Lease mode: each pod takes tokens from the shared store in batches and
//! spends them locally.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;

use crate::quota::{Gcra, MAX_TAT};
use crate::{Decision, Error, Quota, Store};

/// A shared limit where each pod leases `lease_cells` tokens at a time from
/// the [`Store`] and admits requests from its lease without a round trip
/// (the notes' "pods tell each other their buckets", as batches taken from
/// one shared bucket). A lease lasts `lease_ttl_ns`; tokens left when it
/// ends are dropped, never returned.
///
/// Leasing trades accuracy for round trips, with a bound. Per key, in any
/// interval of length `W`, all `P` pods together admit at most
///
/// `burst + floor(W / T) + min(P * (lease_cells - 1), ceil(lease_ttl / T))`
///
/// requests, against `burst + floor(W / T)` for one exact limiter: tokens
/// are only ever taken from the shared GCRA, and the excess is what the
/// pods hold but have not yet spent, which is at most a lease less one per
/// pod, and at most what the shared bucket refilled during one lease
/// lifetime. It can also under-admit: unspent tokens of an expired lease
/// are lost for that interval. Round trips drop by up to `lease_cells`
/// times. Tests check the bound on every interval of random runs.
///
/// When the shared bucket has fewer than `lease_cells` tokens, the lease
/// takes what there is (at least one), so a pod never denies a request the
/// shared bucket could have admitted at that moment.
///
/// ```
/// use hld_ratelimit::{InMemoryStore, LeasedLimiter, Quota};
/// let store = InMemoryStore::new();
/// let pod = LeasedLimiter::new(&store, Quota::per_second(100)?, 10, 50_000_000)?;
/// for _ in 0..10 {
///     assert!(pod.check(b"api", 0)?.allowed); // one store round trip, ten requests
/// }
/// # Ok::<(), hld_ratelimit::Error>(())
/// ```
#[derive(Debug)]
pub struct LeasedLimiter<S> {
    store: S,
    quota: Quota,
    gcra: Gcra,
    lease_cells: u32,
    lease_ttl_ns: u64,
    state: Mutex<LeaseState>,
}

#[derive(Debug, Default)]
struct LeaseState {
    high_water: u64,
    leases: HashMap<Box<[u8]>, Lease, ahash::RandomState>,
    /// (expiry, key) in expiry order: leases are made at non-decreasing
    /// (clamped) times with one TTL, so this queue is sorted and expired
    /// leases are dropped at a cost of what expires.
    expiries: VecDeque<(u64, Box<[u8]>)>,
}

#[derive(Clone, Copy, Debug)]
struct Lease {
    left: u32,
    expires_at: u64,
    /// The shared TAT right after this lease was taken.
    tat: u64,
}

impl<S: Store> LeasedLimiter<S> {
    /// A pod's limiter on `store` with `quota` shared by all pods, leasing
    /// `lease_cells` tokens (1 to the burst) for `lease_ttl_ns` (at least 1)
    /// at a time.
    pub fn new(
        store: S,
        quota: Quota,
        lease_cells: u32,
        lease_ttl_ns: u64,
    ) -> Result<LeasedLimiter<S>, Error> {
        let gcra = Gcra::new(&quota);
        gcra.validate_cells(lease_cells)?;
        if lease_ttl_ns == 0 {
            return Err(Error::InvalidConfig("lease_ttl_ns must be at least 1"));
        }
        Ok(LeasedLimiter {
            store,
            quota,
            gcra,
            lease_cells,
            lease_ttl_ns,
            state: Mutex::new(LeaseState::default()),
        })
    }

    /// The shared quota.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// Tokens per lease.
    pub fn lease_cells(&self) -> u32 {
        self.lease_cells
    }

    /// How long a lease lasts.
    pub fn lease_ttl_ns(&self) -> u64 {
        self.lease_ttl_ns
    }

    /// The extra requests per key all `pods` may admit in any interval,
    /// beyond an exact limiter's `burst + floor(W / T)` (see the type docs).
    pub fn over_admission_bound(&self, pods: u64) -> u64 {
        let by_leases = pods.saturating_mul(self.lease_cells as u64 - 1);
        let by_ttl = self.lease_ttl_ns.div_ceil(self.gcra.t);
        by_leases.min(by_ttl)
    }

    /// Tokens this pod holds for `key` at `now`.
    pub fn leased(&self, key: &[u8], now: u64) -> u32 {
        let s = self.state.lock();
        let now = now.max(s.high_water);
        s.leases
            .get(key)
            .filter(|l| now < l.expires_at)
            .map_or(0, |l| l.left)
    }

    /// One request from `key` at `now`: from this pod's lease if it has a
    /// token, else from a new lease (one store round trip, or a few under
    /// contention). A store failure is an `Err`.
    pub fn check(&self, key: &[u8], now: u64) -> Result<Decision, Error> {
        let now = {
            let mut s = self.state.lock();
            let now = now.max(s.high_water);
            s.high_water = now;
            s.drop_expired(now);
            if let Some(l) = s.leases.get_mut(key) {
                if l.left > 0 && now < l.expires_at {
                    l.left -= 1;
                    return Ok(Decision {
                        allowed: true,
                        limit: self.gcra.burst as u64,
                        remaining: l.left as u64,
                        retry_after_ns: 0,
                        reset_after_ns: l.tat.saturating_sub(now),
                    });
                }
            }
            now
        };
        // Take up to a lease of tokens from the shared bucket, without
        // holding the pod's lock across the store's round trips.
        let g = self.gcra;
        let mut current = self.store.get(key)?;
        loop {
            let take = (g.available(current, now) as u32).min(self.lease_cells);
            if take == 0 {
                return Ok(g.step(current, now, 1).0);
            }
            let new = current
                .max(now)
                .saturating_add(take as u64 * g.t)
                .min(MAX_TAT);
            match self.store.compare_and_set(key, current, new)? {
                Err(actual) => current = actual,
                Ok(()) => {
                    let expires_at = now.saturating_add(self.lease_ttl_ns);
                    let mut s = self.state.lock();
                    // A lease taken meanwhile by another thread for the same
                    // key is replaced: its tokens are lost, never doubled, so
                    // a pod holds at most one lease per key.
                    s.leases.insert(
                        key.into(),
                        Lease {
                            left: take - 1,
                            expires_at,
                            tat: new,
                        },
                    );
                    s.expiries.push_back((expires_at, key.into()));
                    return Ok(Decision {
                        allowed: true,
                        limit: g.burst as u64,
                        remaining: g.available(new, now) + (take - 1) as u64,
                        retry_after_ns: 0,
                        reset_after_ns: new.saturating_sub(now),
                    });
                }
            }
        }
    }
}

impl LeaseState {
    /// Drops leases that ended by `now`, at a cost of what ended.
    fn drop_expired(&mut self, now: u64) {
        while self.expiries.front().is_some_and(|(at, _)| *at <= now) {
            let Some((at, k)) = self.expiries.pop_front() else {
                break;
            };
            if self.leases.get(&k).is_some_and(|l| l.expires_at == at) {
                self.leases.remove(&k);
            }
        }
    }
}
