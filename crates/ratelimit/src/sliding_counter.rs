//! Sliding window counter: Cloudflare's two-counter approximation.

use parking_lot::Mutex;

use crate::quota::validate_cells;
use crate::{Decision, Error, Quota};

/// Approximates a sliding window with two fixed-window counters, as
/// Cloudflare describes ("How we built rate limiting capable of scaling to
/// millions of domains", 2017): at elapsed fraction `e` of the current
/// window, the load is estimated as
/// `previous * (1 - e) + current`, assuming the previous window's requests
/// were spread evenly. A request is admitted if the estimate plus the request
/// stays within `quota.count()` (`burst` is not used).
///
/// Constant memory (two counters) and no boundary double burst, at the cost
/// of a bounded error: the estimate is off from the exact sliding count by at
/// most the previous window's count times the part of it still inside the
/// window, and a caller never gets more than twice the limit through in any
/// window length (the tests check both against
/// [`SlidingWindowLog`](crate::SlidingWindowLog)). The arithmetic is exact
/// integer arithmetic (no floating point).
///
/// Time going backwards is read as time standing still.
///
/// ```
/// use hld_ratelimit::{Quota, SlidingWindowCounter};
/// let w = SlidingWindowCounter::new(Quota::per_second(10)?);
/// for _ in 0..10 { assert!(w.check(900_000_000).allowed); }
/// // At 1.1 s the previous window still weighs 90%: 9 of 10, one more fits.
/// assert_eq!(w.estimate(1_100_000_000), 9);
/// assert!(w.check(1_100_000_000).allowed);
/// assert!(!w.check(1_100_000_000).allowed);
/// # Ok::<(), hld_ratelimit::Error>(())
/// ```
#[derive(Debug)]
pub struct SlidingWindowCounter {
    quota: Quota,
    state: Mutex<CounterState>,
}

#[derive(Clone, Copy, Debug, Default)]
struct CounterState {
    high_water: u64,
    window: u64,
    previous: u64,
    current: u64,
}

impl SlidingWindowCounter {
    /// A limiter admitting about `quota.count()` requests per sliding
    /// `quota.period_ns()`.
    pub fn new(quota: Quota) -> SlidingWindowCounter {
        SlidingWindowCounter {
            quota,
            state: Mutex::new(CounterState::default()),
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

    /// The current estimate of requests in the sliding window ending at
    /// `now`, rounded up (what `check` compares against the limit).
    pub fn estimate(&self, now: u64) -> u64 {
        let mut s = self.state.lock();
        let now = self.roll(&mut s, now);
        let p = self.quota.period_ns() as u128;
        let e = (now - s.window * self.quota.period_ns()) as u128;
        let scaled = s.previous as u128 * (p - e) + s.current as u128 * p;
        scaled.div_ceil(p) as u64
    }

    /// Advances the two counters to `now`'s window; returns the clamped now.
    fn roll(&self, s: &mut CounterState, now: u64) -> u64 {
        let now = now.max(s.high_water);
        s.high_water = now;
        let window = now / self.quota.period_ns();
        if window != s.window {
            s.previous = if window == s.window + 1 { s.current } else { 0 };
            s.current = 0;
            s.window = window;
        }
        now
    }

    fn run(&self, n: u32, now: u64) -> Decision {
        let limit = self.quota.count() as u64;
        let period = self.quota.period_ns();
        let p = period as u128;
        let mut s = self.state.lock();
        let now = self.roll(&mut s, now);
        let start = s.window * period;
        let e = (now - start) as u128;
        let n = n as u64;
        // All in units of 1/period of a request, to stay exact.
        let prev_weight = s.previous as u128 * (p - e);
        let allowed = prev_weight + (s.current + n) as u128 * p <= limit as u128 * p;
        if allowed {
            s.current += n;
        }
        let used = prev_weight + s.current as u128 * p;
        let remaining = ((limit as u128 * p).saturating_sub(used) / p) as u64;
        let to_end = start.saturating_add(period) - now;
        let reset_after_ns = if s.current > 0 {
            to_end.saturating_add(period)
        } else if s.previous > 0 {
            to_end
        } else {
            0
        };
        let retry_after_ns = if allowed {
            0
        } else {
            self.retry_after(&s, n, now)
        };
        Decision {
            allowed,
            limit,
            remaining,
            retry_after_ns,
            reset_after_ns,
        }
    }

    /// The smallest wait after which `n` requests would be admitted.
    fn retry_after(&self, s: &CounterState, n: u64, now: u64) -> u64 {
        let limit = self.quota.count() as u64;
        let period = self.quota.period_ns();
        let p = period as u128;
        let start = s.window * period;
        // In this window: needs previous * (p - e') <= (limit - current - n) * p.
        if s.current + n <= limit && s.previous > 0 {
            let room = (limit - s.current - n) as u128 * p;
            let e_min = p - (room / s.previous as u128).min(p);
            if e_min < p {
                return (start + e_min as u64) - now;
            }
        }
        // In the next window the current count becomes the previous one:
        // needs current * (p - e'') <= (limit - n) * p.
        let e_min = if s.current == 0 {
            0
        } else {
            let room = (limit - n) as u128 * p;
            p - (room / s.current as u128).min(p)
        };
        start.saturating_add(period).saturating_add(e_min as u64) - now
    }

    /// Forget all counts.
    pub fn reset(&self) {
        *self.state.lock() = CounterState::default();
    }
}
