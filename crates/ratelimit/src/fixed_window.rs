//! Fixed window counter: the simplest limiter, and its known flaw.

use parking_lot::Mutex;

use crate::quota::validate_cells;
use crate::{Decision, Error, Quota};

/// Counts requests in fixed windows `[k * period, (k + 1) * period)` and
/// admits up to `quota.count()` per window (`burst` is not used).
///
/// One counter, one comparison: cheap and easy to share, but a caller can
/// get **twice** the limit through in a short time by sending it at the end
/// of one window and again at the start of the next (see the tests). Use
/// [`SlidingWindowCounter`](crate::SlidingWindowCounter) or
/// [`TokenBucket`](crate::TokenBucket) when that matters.
///
/// Time going backwards is read as time standing still (the largest `now`
/// seen is used), so it never admits more.
///
/// ```
/// use hld_ratelimit::{FixedWindow, Quota};
/// let w = FixedWindow::new(Quota::per_second(2)?);
/// assert!(w.check(0).allowed);
/// assert!(w.check(1).allowed);
/// let d = w.check(2);
/// assert!(!d.allowed);
/// assert_eq!(d.retry_after_ns, 1_000_000_000 - 2); // the next window
/// # Ok::<(), hld_ratelimit::Error>(())
/// ```
#[derive(Debug)]
pub struct FixedWindow {
    quota: Quota,
    state: Mutex<FixedState>,
}

#[derive(Clone, Copy, Debug, Default)]
struct FixedState {
    high_water: u64,
    window: u64,
    count: u64,
}

impl FixedWindow {
    /// A limiter admitting `quota.count()` requests per `quota.period_ns()`.
    pub fn new(quota: Quota) -> FixedWindow {
        FixedWindow {
            quota,
            state: Mutex::new(FixedState::default()),
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

    /// `n` requests at once: all or none. `n` of 0 or above the per-window
    /// limit is an `Err`.
    pub fn check_n(&self, n: u32, now: u64) -> Result<Decision, Error> {
        validate_cells(n, self.quota.count())?;
        Ok(self.run(n, now))
    }

    fn run(&self, n: u32, now: u64) -> Decision {
        let limit = self.quota.count() as u64;
        let period = self.quota.period_ns();
        let mut s = self.state.lock();
        let now = now.max(s.high_water);
        s.high_water = now;
        let window = now / period;
        if window != s.window {
            s.window = window;
            s.count = 0;
        }
        let to_end = (window * period).saturating_add(period) - now;
        let allowed = s.count + n as u64 <= limit;
        if allowed {
            s.count += n as u64;
        }
        Decision {
            allowed,
            limit,
            remaining: limit - s.count,
            retry_after_ns: if allowed { 0 } else { to_end },
            reset_after_ns: if s.count > 0 { to_end } else { 0 },
        }
    }

    /// Forget all counts.
    pub fn reset(&self) {
        *self.state.lock() = FixedState::default();
    }
}
