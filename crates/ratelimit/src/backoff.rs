//! Exponential backoff with full jitter.

use crate::Error;

/// Retry delays that grow exponentially up to a cap, with **full jitter**
/// (Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog, 2015):
/// the delay before retry `attempt` (0-based) is uniform in
/// `[0, min(cap, base * factor^attempt)]`. Spreading retries over the whole
/// range is what keeps a crowd of clients that failed together from
/// retrying together.
///
/// The random number comes from the caller (a `u64` from any generator, or
/// a float in `[0, 1)`), so backoff stays deterministic under test and the
/// crate needs no generator.
///
/// ```
/// use hld_ratelimit::Backoff;
/// let b = Backoff::new(100_000_000, 10_000_000_000)?; // 100 ms, capped at 10 s
/// assert_eq!(b.ceiling(0), 100_000_000);
/// assert_eq!(b.ceiling(3), 800_000_000);
/// assert_eq!(b.ceiling(40), 10_000_000_000);
/// assert!(b.delay(3, 0xDEAD_BEEF_u64.wrapping_mul(0x9E37_79B9_7F4A_7C15)) <= 800_000_000);
/// assert_eq!(b.delay(3, 0), 0);
/// assert_eq!(b.delay(3, u64::MAX), 800_000_000);
/// # Ok::<(), hld_ratelimit::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(try_from = "BackoffRepr", into = "BackoffRepr")
)]
pub struct Backoff {
    base_ns: u64,
    cap_ns: u64,
    factor: u32,
}

impl Backoff {
    /// Doubling delays from `base_ns` up to `cap_ns`. A zero base or a cap
    /// below the base is an `Err`.
    pub fn new(base_ns: u64, cap_ns: u64) -> Result<Backoff, Error> {
        if base_ns == 0 {
            return Err(Error::InvalidConfig("backoff base must be at least 1 ns"));
        }
        if cap_ns < base_ns {
            return Err(Error::InvalidConfig(
                "backoff cap must be at least the base",
            ));
        }
        Ok(Backoff {
            base_ns,
            cap_ns,
            factor: 2,
        })
    }

    /// The same with growth `factor` per attempt (at least 2).
    pub fn with_factor(self, factor: u32) -> Result<Backoff, Error> {
        if factor < 2 {
            return Err(Error::InvalidConfig("backoff factor must be at least 2"));
        }
        Ok(Backoff { factor, ..self })
    }

    /// The base delay.
    pub fn base_ns(&self) -> u64 {
        self.base_ns
    }

    /// The cap.
    pub fn cap_ns(&self) -> u64 {
        self.cap_ns
    }

    /// The growth factor.
    pub fn factor(&self) -> u32 {
        self.factor
    }

    /// The largest delay before retry `attempt`:
    /// `min(cap, base * factor^attempt)`, without overflow.
    pub fn ceiling(&self, attempt: u32) -> u64 {
        let mut d = self.base_ns;
        for _ in 0..attempt {
            d = d.saturating_mul(self.factor as u64);
            if d >= self.cap_ns {
                return self.cap_ns;
            }
        }
        d.min(self.cap_ns)
    }

    /// The delay before retry `attempt` from a uniformly random `u64`:
    /// `random` scaled onto `[0, ceiling]` (multiply-shift, so every value
    /// of the range is reachable and 0 and `u64::MAX` map to the ends).
    pub fn delay(&self, attempt: u32, random: u64) -> u64 {
        let c = self.ceiling(attempt) as u128;
        ((random as u128 * (c + 1)) >> 64) as u64
    }

    /// The delay before retry `attempt` from a uniform float in `[0, 1)`;
    /// anything else (NaN, negative, 1 or more) is an `Err`.
    pub fn delay_f64(&self, attempt: u32, unit: f64) -> Result<u64, Error> {
        if !(0.0..1.0).contains(&unit) {
            return Err(Error::InvalidConfig("random unit must be in [0, 1)"));
        }
        let c = self.ceiling(attempt);
        Ok(((unit * (c as f64 + 1.0)) as u64).min(c))
    }
}

#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
struct BackoffRepr {
    base_ns: u64,
    cap_ns: u64,
    factor: u32,
}

#[cfg(feature = "serde")]
impl TryFrom<BackoffRepr> for Backoff {
    type Error = Error;
    fn try_from(r: BackoffRepr) -> Result<Backoff, Error> {
        Backoff::new(r.base_ns, r.cap_ns)?.with_factor(r.factor)
    }
}

#[cfg(feature = "serde")]
impl From<Backoff> for BackoffRepr {
    fn from(b: Backoff) -> BackoffRepr {
        BackoffRepr {
            base_ns: b.base_ns,
            cap_ns: b.cap_ns,
            factor: b.factor,
        }
    }
}
