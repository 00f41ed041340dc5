//! Sliding window log: the exact sliding window.

use std::collections::VecDeque;

use parking_lot::Mutex;

use crate::quota::validate_cells;
use crate::{Decision, Error, Quota};

/// Keeps the time of every admitted request still inside the window and
/// admits a request iff fewer than `quota.count()` were admitted in the
/// last `quota.period_ns()` (a request at `t` counts while `now < t + period`).
///
/// Exact, but memory grows with the limit: up to `quota.count()` entries of
/// 16 bytes (requests at the same instant share one entry). It is the
/// reference the approximations are measured against.
///
/// Time going backwards is read as time standing still.
///
/// ```
/// use hld_ratelimit::{Quota, SlidingWindowLog};
/// let w = SlidingWindowLog::new(Quota::per_second(2)?);
/// assert!(w.check(0).allowed);
/// assert!(w.check(600_000_000).allowed);
/// let d = w.check(900_000_000);
/// assert!(!d.allowed);
/// assert_eq!(d.retry_after_ns, 100_000_000); // the request at 0 leaves at 1 s
/// # Ok::<(), hld_ratelimit::Error>(())
/// ```
#[derive(Debug)]
pub struct SlidingWindowLog {
    quota: Quota,
    state: Mutex<LogState>,
}

#[derive(Clone, Debug, Default)]
struct LogState {
    high_water: u64,
    /// (time, cells) of admitted requests, oldest first.
    log: VecDeque<(u64, u32)>,
    /// Sum of the cells in `log`.
    total: u64,
}

impl SlidingWindowLog {
    /// A limiter admitting exactly `quota.count()` requests per sliding
    /// `quota.period_ns()`.
    pub fn new(quota: Quota) -> SlidingWindowLog {
        SlidingWindowLog {
            quota,
            state: Mutex::new(LogState::default()),
        }
    }

    /// The quota.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// One request at `now`.
    pub fn check(&self, now: u64) -> Decision {
        self.run(1, now)
    }

    /// `n` requests at once: all or none. `n` of 0 or above the limit is an
    /// `Err`.
    pub fn check_n(&self, n: u32, now: u64) -> Result<Decision, Error> {
        validate_cells(n, self.quota.count())?;
        Ok(self.run(n, now))
    }

    /// Requests admitted in the window ending at `now`.
    pub fn count(&self, now: u64) -> u64 {
        let mut s = self.state.lock();
        self.expire(&mut s, now);
        s.total
    }

    fn expire(&self, s: &mut LogState, now: u64) -> u64 {
        let now = now.max(s.high_water);
        s.high_water = now;
        let period = self.quota.period_ns();
        while let Some(&(t, n)) = s.log.front() {
            if t.saturating_add(period) > now {
                break;
            }
            s.log.pop_front();
            s.total -= n as u64;
        }
        now
    }

    fn run(&self, n: u32, now: u64) -> Decision {
        let limit = self.quota.count() as u64;
        let period = self.quota.period_ns();
        let mut s = self.state.lock();
        let now = self.expire(&mut s, now);
        let allowed = s.total + n as u64 <= limit;
        let mut retry_after_ns = 0;
        if allowed {
            s.total += n as u64;
            match s.log.back_mut() {
                Some((t, c)) if *t == now => *c += n,
                _ => s.log.push_back((now, n)),
            }
        } else {
            // The wait until enough of the oldest entries leave the window.
            let need = s.total + n as u64 - limit;
            let mut freed = 0;
            for &(t, c) in &s.log {
                freed += c as u64;
                if freed >= need {
                    retry_after_ns = t.saturating_add(period) - now;
                    break;
                }
            }
        }
        let reset_after_ns = s
            .log
            .back()
            .map_or(0, |&(t, _)| t.saturating_add(period) - now);
        Decision {
            allowed,
            limit,
            remaining: limit - s.total,
            retry_after_ns,
            reset_after_ns,
        }
    }

    /// Forget all requests.
    pub fn reset(&self) {
        *self.state.lock() = LogState::default();
    }
}
