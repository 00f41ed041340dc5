//! The token bucket, as GCRA in one atomic word.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::quota::Gcra;
use crate::{Decision, Error, Quota};

/// A token bucket for one caller (or one whole service), run as GCRA: the
/// state is a single theoretical arrival time in one `AtomicU64`, so checks
/// are lock-free and `&self` from any number of threads.
///
/// Decisions equal those of `governor`'s direct rate limiter for the same
/// quota and the same arrivals (this crate's conformance tests run both).
/// A denied check writes nothing, so a flood of denied requests only reads
/// the shared cache line.
///
/// Time going backwards is safe: an earlier `now` only ever makes a check
/// stricter, never admits more, and never panics. Times saturate near
/// `u64::MAX` instead of wrapping.
///
/// ```
/// use hld_ratelimit::{Quota, TokenBucket};
/// let bucket = TokenBucket::new(Quota::per_second(10)?.with_burst(2)?);
/// let t = 5_000_000_000; // any epoch, in nanoseconds
/// assert!(bucket.check(t).allowed);
/// assert!(bucket.check(t).allowed);
/// let d = bucket.check(t);
/// assert!(!d.allowed);
/// assert_eq!(d.retry_after_ns, 100_000_000); // one every 100 ms
/// assert!(bucket.check(t + d.retry_after_ns).allowed);
/// # Ok::<(), hld_ratelimit::Error>(())
/// ```
pub struct TokenBucket {
    tat: AtomicU64,
    gcra: Gcra,
    quota: Quota,
}

impl TokenBucket {
    /// A full bucket for `quota`.
    pub fn new(quota: Quota) -> TokenBucket {
        TokenBucket::from_tat(quota, 0)
    }

    /// A bucket resumed from a stored theoretical arrival time (see
    /// [`tat`](TokenBucket::tat)); 0 is a full bucket.
    pub fn from_tat(quota: Quota, tat: u64) -> TokenBucket {
        TokenBucket {
            tat: AtomicU64::new(tat.min(crate::quota::MAX_TAT)),
            gcra: Gcra::new(&quota),
            quota,
        }
    }

    /// The quota.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// One request at `now` (nanoseconds).
    #[inline]
    pub fn check(&self, now: u64) -> Decision {
        self.run(now, 1)
    }

    /// `n` requests at once: all of them or none. `n` above the burst (or 0)
    /// is an `Err`, since waiting could never make it conform.
    #[inline]
    pub fn check_n(&self, n: u32, now: u64) -> Result<Decision, Error> {
        self.gcra.validate_cells(n)?;
        Ok(self.run(now, n))
    }

    #[inline]
    fn run(&self, now: u64, n: u32) -> Decision {
        // Relaxed is enough: the word publishes no other memory, and the
        // read-modify-write sequence on one location is totally ordered.
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            match self.gcra.conform(tat, now, n) {
                Err(earliest) => return self.gcra.denied(tat, earliest, now, n),
                Ok(new) => match self.tat.compare_exchange_weak(
                    tat,
                    new,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return self.gcra.allowed(new, now),
                    Err(actual) => tat = actual,
                },
            }
        }
    }

    /// What a check at `now` would decide, without consuming anything.
    pub fn peek(&self, now: u64) -> Decision {
        self.gcra.step(self.tat(), now, 1).0
    }

    /// The state as a plain integer (the theoretical arrival time, 0 if
    /// never used): what a shared store keeps, see [`Store`](crate::Store).
    pub fn tat(&self) -> u64 {
        self.tat.load(Ordering::Relaxed)
    }

    /// Back to a full bucket.
    pub fn reset(&self) {
        self.tat.store(0, Ordering::Relaxed);
    }
}

impl Clone for TokenBucket {
    fn clone(&self) -> Self {
        TokenBucket::from_tat(self.quota, self.tat())
    }
}

impl fmt::Debug for TokenBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBucket")
            .field("quota", &self.quota)
            .field("tat", &self.tat())
            .finish()
    }
}
