//! Idempotency keys: a retried request gets the first attempt's answer.

use std::fmt;
use std::hash::Hash;

use crate::error::Error;
use crate::expiry::ExpiryMap;

#[derive(Clone, Debug)]
enum State<R> {
    InFlight,
    Done(R),
}

#[derive(Clone, Debug)]
struct Record<R> {
    fingerprint: u64,
    state: State<R>,
}

/// What [`IdempotencyCache::begin`] tells the caller to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Begin<'a, R> {
    /// First time this key is seen (or its record expired): do the work, then
    /// call [`complete`](IdempotencyCache::complete) (or
    /// [`abandon`](IdempotencyCache::abandon) if it failed and may be retried).
    Started,
    /// Another attempt with this key is still running: do not start a second
    /// one (answer "409, try again" or wait).
    InFlight,
    /// Already done: answer with this result, do not do the work again.
    Done(&'a R),
}

/// The state of a key, as [`IdempotencyCache::get`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<'a, R> {
    /// An attempt is running.
    InFlight,
    /// Done with this result.
    Done(&'a R),
}

/// Idempotency keys over an [`ExpiryMap`]: `key -> in flight | done(result)`,
/// kept for a while so that a retried request gets the same answer instead of
/// being executed twice.
///
/// The upload flow in the notes: the client makes a transaction id per upload;
/// the server answers with a job id and keeps `txnId -> jobId` "for some time
/// so that duplicate requests are not done". A payment API does the same with
/// its `Idempotency-Key` header, and refuses a key reused for a *different*
/// request: each key stores a fingerprint of its request (a stable hash of
/// the method, path and body, computed by the caller) and a mismatch is
/// [`Error::FingerprintMismatch`].
///
/// Time is passed in. A record whose deadline has passed is treated as gone
/// even before [`expire`](Self::expire) sweeps it. An in-flight record lives
/// for the *lease*: if the worker dies without completing, the key frees up
/// when the lease runs out.
///
/// ```
/// use hld_lru_feed::{Begin, IdempotencyCache};
///
/// const SEC: u64 = 1_000_000_000;
/// let mut jobs = IdempotencyCache::new(60 * SEC)?; // keep answers 1 minute
/// let (txn, body_hash) = ("txn-42", 0xfeed);
///
/// assert_eq!(jobs.begin(txn, body_hash, 0)?, Begin::Started);
/// assert_eq!(jobs.begin(txn, body_hash, SEC)?, Begin::InFlight); // a retry, too early
/// jobs.complete(&txn, "job-7", 2 * SEC)?;
/// assert_eq!(jobs.begin(txn, body_hash, 3 * SEC)?, Begin::Done(&"job-7")); // same answer
/// assert!(jobs.begin(txn, 0xbad, 3 * SEC).is_err()); // same key, other request
/// assert_eq!(jobs.begin(txn, body_hash, 63 * SEC)?, Begin::Started); // forgotten
/// # Ok::<(), hld_lru_feed::Error>(())
/// ```
#[derive(Clone)]
pub struct IdempotencyCache<K, R> {
    map: ExpiryMap<K, Record<R>>,
    ttl: u64,
    lease: u64,
}

impl<K: Hash + Eq, R> IdempotencyCache<K, R> {
    /// Keeps results for `ttl` ns after completion; an in-flight attempt
    /// holds its key for the same time. Zero is an `Err`.
    pub fn new(ttl: u64) -> Result<IdempotencyCache<K, R>, Error> {
        IdempotencyCache::with_lease(ttl, ttl)
    }

    /// Keeps results for `ttl` ns and in-flight attempts for `lease` ns.
    pub fn with_lease(ttl: u64, lease: u64) -> Result<IdempotencyCache<K, R>, Error> {
        if ttl == 0 || lease == 0 {
            return Err(Error::ZeroTtl);
        }
        Ok(IdempotencyCache {
            map: ExpiryMap::new(),
            ttl,
            lease,
        })
    }

    /// Starts a request with idempotency key `key` and request `fingerprint`
    /// at `now`: [`Begin::Started`] means "do the work", the other answers say
    /// what to reply instead. The same key with another fingerprint is an
    /// `Err` (nothing changes).
    pub fn begin(&mut self, key: K, fingerprint: u64, now: u64) -> Result<Begin<'_, R>, Error> {
        let live = match self.map.get_live(&key, now) {
            Some(rec) if rec.fingerprint != fingerprint => {
                return Err(Error::FingerprintMismatch {
                    stored: rec.fingerprint,
                    given: fingerprint,
                })
            }
            Some(_) => true,
            None => false,
        };
        if live {
            return Ok(match self.map.get(&key).map(|r| &r.state) {
                Some(State::Done(r)) => Begin::Done(r),
                _ => Begin::InFlight,
            });
        }
        let record = Record {
            fingerprint,
            state: State::InFlight,
        };
        // Replaces an expired record that the sweep has not removed yet.
        self.map.insert(key, record, now.saturating_add(self.lease));
        Ok(Begin::Started)
    }

    /// Records the result of the in-flight request `key` at `now`; it is kept
    /// until `now + ttl`. `Err(NotInFlight)` if no attempt with this key is
    /// running (never begun, already completed, or forgotten).
    pub fn complete(&mut self, key: &K, result: R, now: u64) -> Result<(), Error> {
        match self.map.get_mut(key) {
            Some(rec) if matches!(rec.state, State::InFlight) => {
                rec.state = State::Done(result);
            }
            _ => return Err(Error::NotInFlight),
        }
        self.map.set_deadline(key, now.saturating_add(self.ttl));
        Ok(())
    }

    /// Forgets the in-flight request `key` (it failed in a way that a retry
    /// may fix), so that the next attempt starts afresh.
    pub fn abandon(&mut self, key: &K) -> Result<(), Error> {
        match self.map.get(key) {
            Some(rec) if matches!(rec.state, State::InFlight) => {
                self.map.remove(key);
                Ok(())
            }
            _ => Err(Error::NotInFlight),
        }
    }

    /// The state of `key` at `now` (`None` if unknown or expired).
    pub fn get(&self, key: &K, now: u64) -> Option<Status<'_, R>> {
        self.map.get_live(key, now).map(|rec| match &rec.state {
            State::InFlight => Status::InFlight,
            State::Done(r) => Status::Done(r),
        })
    }

    /// Drops every record whose time ran out at `now`; returns how many.
    /// Cost proportional to that number.
    pub fn expire(&mut self, now: u64) -> usize {
        self.map.expire_with(now, |_, _, _| {})
    }

    /// When the next record runs out.
    pub fn next_deadline(&self) -> Option<u64> {
        self.map.next_deadline()
    }

    /// Records held (including expired ones not swept yet).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl<K: fmt::Debug, R: fmt::Debug> fmt::Debug for IdempotencyCache<K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdempotencyCache")
            .field("ttl", &self.ttl)
            .field("lease", &self.lease)
            .field("records", &self.map)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_runs_out_for_a_dead_worker() {
        let mut c = IdempotencyCache::with_lease(100, 10).unwrap();
        assert_eq!(c.begin(1, 7, 0), Ok(Begin::Started));
        assert_eq!(c.get(&1, 9), Some(Status::InFlight));
        assert_eq!(c.begin(1, 7, 9), Ok(Begin::InFlight));
        assert_eq!(c.get(&1, 10), None);
        assert_eq!(c.begin(1, 7, 10), Ok(Begin::Started)); // the lease ran out
        c.complete(&1, "r", 12).unwrap();
        assert_eq!(c.next_deadline(), Some(112));
        assert_eq!(c.get(&1, 111), Some(Status::Done(&"r")));
        assert_eq!(c.complete(&1, "again", 13), Err(Error::NotInFlight));
        assert_eq!(c.expire(111), 0);
        assert_eq!(c.expire(112), 1);
        assert!(c.is_empty());
    }

    #[test]
    fn abandon_allows_a_fresh_attempt_and_errors_are_typed() {
        let mut c: IdempotencyCache<&str, u32> = IdempotencyCache::new(50).unwrap();
        assert_eq!(c.abandon(&"k"), Err(Error::NotInFlight));
        assert_eq!(c.complete(&"k", 1, 0), Err(Error::NotInFlight));
        c.begin("k", 1, 0).unwrap();
        assert_eq!(
            c.begin("k", 2, 1),
            Err(Error::FingerprintMismatch {
                stored: 1,
                given: 2
            })
        );
        c.abandon(&"k").unwrap();
        assert_eq!(c.begin("k", 2, 1), Ok(Begin::Started)); // a new request may take it
        assert_eq!(c.len(), 1);
        assert!(IdempotencyCache::<u8, u8>::new(0).is_err());
        assert!(IdempotencyCache::<u8, u8>::with_lease(1, 0).is_err());
        assert!(format!("{c:?}").contains("ttl: 50"));
    }
}
