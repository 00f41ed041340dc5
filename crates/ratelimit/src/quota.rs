//! Quotas, and the GCRA arithmetic every limiter built on them shares.

use crate::{Decision, Error};

/// Nanoseconds per second.
const SECOND_NS: u64 = 1_000_000_000;

/// The longest burst window (`burst` x emission interval) a quota may have:
/// 2^62 ns, about 146 years. It keeps every sum of a time and a window below
/// `u64::MAX`, so the arithmetic never wraps.
pub(crate) const MAX_WINDOW_NS: u64 = 1 << 62;

/// The largest theoretical arrival time a limiter stores. Times saturate here
/// rather than wrap; the two values above it are free for a table to use as
/// markers (see `keyed::table`).
pub(crate) const MAX_TAT: u64 = u64::MAX - 2;

/// How many requests are allowed: `count` per `period`, in bursts of at most
/// `burst` (which defaults to `count`).
///
/// For the token bucket (GCRA) this means one request every *emission
/// interval* `T = floor(period / count)` (at least 1 ns), with a tolerance of
/// `(burst - 1) * T`: exactly the quota of the `governor` crate, so the same
/// arrivals get the same decisions. The window limiters admit `count`
/// requests per window of length `period` and ignore `burst`.
///
/// ```
/// use hld_ratelimit::Quota;
/// let q = Quota::per_second(100)?.with_burst(10)?;
/// assert_eq!(q.emission_interval_ns(), 10_000_000); // one every 10 ms
/// assert_eq!(q.tolerance_ns(), 90_000_000); // 9 more at once
/// assert!(Quota::per_second(0).is_err());
/// # Ok::<(), hld_ratelimit::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "QuotaRepr", into = "QuotaRepr"))]
pub struct Quota {
    count: u32,
    period_ns: u64,
    burst: u32,
}

impl Quota {
    /// `n` requests per second, in bursts of up to `n`.
    pub fn per_second(n: u32) -> Result<Quota, Error> {
        Quota::per_period(n, SECOND_NS)
    }

    /// `n` requests per minute, in bursts of up to `n`.
    pub fn per_minute(n: u32) -> Result<Quota, Error> {
        Quota::per_period(n, 60 * SECOND_NS)
    }

    /// `n` requests per hour, in bursts of up to `n`.
    pub fn per_hour(n: u32) -> Result<Quota, Error> {
        Quota::per_period(n, 3600 * SECOND_NS)
    }

    /// `n` requests per `period_ns` nanoseconds, in bursts of up to `n`.
    pub fn per_period(n: u32, period_ns: u64) -> Result<Quota, Error> {
        if n == 0 {
            return Err(Error::ZeroRate);
        }
        if period_ns == 0 {
            return Err(Error::ZeroPeriod);
        }
        Quota {
            count: n,
            period_ns,
            burst: n,
        }
        .validated()
    }

    /// The same rate with a burst of `b` requests at once.
    pub fn with_burst(self, b: u32) -> Result<Quota, Error> {
        if b == 0 {
            return Err(Error::ZeroBurst);
        }
        Quota { burst: b, ..self }.validated()
    }

    fn validated(self) -> Result<Quota, Error> {
        // `burst * T` is the longest a theoretical arrival time can run ahead
        // of `now`; keeping it under 2^62 keeps all sums below u64::MAX.
        let window = (self.emission_interval_ns() as u128) * (self.burst as u128);
        if window > MAX_WINDOW_NS as u128 {
            return Err(Error::QuotaOverflow);
        }
        Ok(self)
    }

    /// Requests per period (the rate's numerator).
    #[inline]
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The period in nanoseconds.
    #[inline]
    pub fn period_ns(&self) -> u64 {
        self.period_ns
    }

    /// The most requests allowed at once.
    #[inline]
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// GCRA's emission interval `T = floor(period / count)`, at least 1 ns:
    /// the time one request "costs".
    #[inline]
    pub fn emission_interval_ns(&self) -> u64 {
        (self.period_ns / self.count as u64).max(1)
    }

    /// GCRA's tolerance `tau = (burst - 1) * T`: how far ahead of `now` the
    /// theoretical arrival time may run before requests are denied.
    #[inline]
    pub fn tolerance_ns(&self) -> u64 {
        self.emission_interval_ns() * (self.burst as u64 - 1)
    }

    /// The pure GCRA step on a stored theoretical arrival time (TAT): the
    /// decision for `cells` requests at `now`, and the TAT to store if they
    /// are allowed (`None`: store nothing). `tat` is 0 for a caller never
    /// seen; any `tat <= now` means "bucket full".
    ///
    /// This is the one piece of arithmetic every limiter here runs, exposed
    /// for state kept elsewhere (a database row, a Redis script).
    ///
    /// ```
    /// use hld_ratelimit::Quota;
    /// let q = Quota::per_second(2)?; // T = 500 ms, burst 2
    /// let (d, tat) = q.step(0, 1_000, 1)?;
    /// assert!(d.allowed && d.remaining == 1);
    /// let (d, tat) = q.step(tat.unwrap(), 1_000, 1)?;
    /// assert!(d.allowed && d.remaining == 0);
    /// let (d, none) = q.step(tat.unwrap(), 1_000, 1)?;
    /// assert!(!d.allowed && none.is_none());
    /// assert_eq!(d.retry_after_ns, 500_000_000);
    /// # Ok::<(), hld_ratelimit::Error>(())
    /// ```
    pub fn step(&self, tat: u64, now: u64, cells: u32) -> Result<(Decision, Option<u64>), Error> {
        let g = Gcra::new(self);
        g.validate_cells(cells)?;
        Ok(g.step(tat, now, cells))
    }
}

#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
struct QuotaRepr {
    count: u32,
    period_ns: u64,
    burst: u32,
}

#[cfg(feature = "serde")]
impl TryFrom<QuotaRepr> for Quota {
    type Error = Error;
    fn try_from(r: QuotaRepr) -> Result<Quota, Error> {
        Quota::per_period(r.count, r.period_ns)?.with_burst(r.burst)
    }
}

#[cfg(feature = "serde")]
impl From<Quota> for QuotaRepr {
    fn from(q: Quota) -> QuotaRepr {
        QuotaRepr {
            count: q.count,
            period_ns: q.period_ns,
            burst: q.burst,
        }
    }
}

/// `n` cells must be in `1..=max` (the burst of a GCRA limiter, the
/// per-window limit of a window limiter): an `Err` otherwise, since waiting
/// could never make more than `max` conform at once.
#[inline]
pub(crate) fn validate_cells(n: u32, max: u32) -> Result<(), Error> {
    if n == 0 {
        Err(Error::ZeroCells)
    } else if n > max {
        Err(Error::InsufficientCapacity { requested: n, max })
    } else {
        Ok(())
    }
}

/// A quota's GCRA parameters, precomputed for the hot path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Gcra {
    /// Emission interval `T`.
    pub(crate) t: u64,
    /// Tolerance `tau = (burst - 1) * T`.
    pub(crate) tau: u64,
    /// Burst, the `limit` reported in decisions.
    pub(crate) burst: u32,
    /// `ceil(2^(63 + shift) / T)`: division by `T` as a multiply (see `div_t`).
    magic: u64,
    /// `ceil(log2 T)`.
    shift: u32,
}

impl Gcra {
    #[inline]
    pub(crate) fn new(q: &Quota) -> Gcra {
        let t = q.emission_interval_ns();
        let shift = 64 - (t - 1).leading_zeros();
        let magic = (1u128 << (63 + shift)).div_ceil(t as u128);
        Gcra {
            t,
            tau: q.tolerance_ns(),
            burst: q.burst,
            magic: magic as u64,
            shift,
        }
    }

    /// `floor(x / T)` for `x < 2^63`, as one 64x64->128 multiply and a
    /// shift instead of a 64-bit division (which costs 10-20 cycles and sat
    /// on every check's path). Exact by Granlund and Montgomery, "Division
    /// by Invariant Integers using Multiplication" (PLDI 1994), Theorem 4.2
    /// with N = 63 and l = ceil(log2 T): `m = ceil(2^(N+l) / T)` satisfies
    /// `2^(N+l) <= m * T <= 2^(N+l) + 2^l`, and `m < 2^64`.
    ///
    /// Written as `mulhi(2x, m) >> l` (`2x` fits as `x < 2^63`, and nested
    /// floors of divisions compose), which keeps the shift a plain 64-bit
    /// one rather than a 128-bit double shift.
    #[inline]
    pub(crate) fn div_t(&self, x: u64) -> u64 {
        debug_assert!(x < 1 << 63);
        let hi = ((((x << 1) as u128) * self.magic as u128) >> 64) as u64;
        hi >> self.shift
    }

    /// `n` must be in `1..=burst` (governor's `InsufficientCapacity` check:
    /// `(n - 1) * T > tau` exactly when `n > burst`).
    #[inline]
    pub(crate) fn validate_cells(&self, n: u32) -> Result<(), Error> {
        validate_cells(n, self.burst)
    }

    /// The GCRA step (governor's `test_n_all_and_update`): with
    /// `add = (n - 1) * T`, the request conforms iff
    /// `now >= (tat + add) - tau` (saturating), and then the new TAT is
    /// `max(tat, now) + n * T`. `n` must already be validated.
    #[inline]
    pub(crate) fn step(&self, tat: u64, now: u64, n: u32) -> (Decision, Option<u64>) {
        match self.conform(tat, now, n) {
            Ok(new) => (self.allowed(new, now), Some(new)),
            Err(earliest) => (self.denied(tat, earliest, now, n), None),
        }
    }

    /// The bare test: `Ok(new TAT)` if `n` cells conform at `now`, else
    /// `Err(earliest time they would)`. The hot paths decide with this and
    /// build the [`Decision`] only once the outcome is settled.
    #[inline(always)]
    pub(crate) fn conform(&self, tat: u64, now: u64, n: u32) -> Result<u64, u64> {
        // n <= burst and burst * T <= 2^62: no overflow.
        let weight = self.t * n as u64;
        let earliest = tat.saturating_add(weight - self.t).saturating_sub(self.tau);
        if now < earliest {
            return Err(earliest);
        }
        let base = tat.max(now);
        // Saturate at MAX_TAT (one compare: weight <= 2^62 < MAX_TAT).
        Ok(if base > MAX_TAT - weight {
            MAX_TAT
        } else {
            base + weight
        })
    }

    /// The decision for cells just allowed, the TAT now being `new`.
    #[inline(always)]
    pub(crate) fn allowed(&self, new: u64, now: u64) -> Decision {
        Decision {
            allowed: true,
            limit: self.burst as u64,
            remaining: self.available(new, now),
            retry_after_ns: 0,
            reset_after_ns: new.saturating_sub(now),
        }
    }

    /// The decision for `n` cells denied at `now` (TAT `tat`, first
    /// conforming at `earliest`).
    #[inline(always)]
    pub(crate) fn denied(&self, tat: u64, earliest: u64, now: u64, n: u32) -> Decision {
        Decision {
            allowed: false,
            limit: self.burst as u64,
            // One denied cell means less than one is available:
            // now < tat - tau implies now + tau + T - tat < T.
            remaining: if n == 1 { 0 } else { self.available(tat, now) },
            retry_after_ns: earliest - now,
            reset_after_ns: tat.saturating_sub(now),
        }
    }

    /// Single requests that would conform at `now` given `tat`: governor's
    /// `remaining_burst_capacity`, `min(now + tau + T - tat, tau + T) / T`.
    #[inline]
    pub(crate) fn available(&self, tat: u64, now: u64) -> u64 {
        let window = self.tau + self.t;
        let room = now.saturating_add(window).saturating_sub(tat).min(window);
        if room < self.t {
            // Always so for a denied single request: no multiply needed.
            0
        } else {
            // room <= burst * T <= 2^62.
            self.div_t(room)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gcra(t: u64) -> Gcra {
        Gcra::new(&Quota::per_period(1, t).unwrap())
    }

    #[test]
    fn div_t_edges() {
        for t in [
            1u64,
            2,
            3,
            7,
            10,
            1 << 20,
            (1 << 20) + 1,
            1_000_000_000,
            (1 << 62) - 1,
            1 << 62,
        ] {
            let g = gcra(t);
            for x in [
                0,
                1,
                t - 1,
                t,
                t + 1,
                2 * t - 1,
                (1 << 63) - 1,
                (1 << 63) - 2,
                (1 << 62) + 5,
            ] {
                if x < 1 << 63 {
                    assert_eq!(g.div_t(x), x / t, "{x} / {t}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn div_t_is_exact(t in 1u64..=(1 << 62), x in 0u64..(1 << 63), k in 0u64..1000) {
            let g = gcra(t);
            prop_assert_eq!(g.div_t(x), x / t);
            // Multiples and their neighbours, where rounding would show.
            if let Some(m) = t.checked_mul(k).filter(|m| *m < (1 << 63) - 1) {
                prop_assert_eq!(g.div_t(m), k);
                prop_assert_eq!(g.div_t(m + 1), (m + 1) / t);
                prop_assert_eq!(g.div_t(m.saturating_sub(1)), m.saturating_sub(1) / t);
            }
        }
    }
}
