//! Circuit breaker: stop calling a failing service, probe it, resume.

use parking_lot::Mutex;

use crate::Error;

/// Buckets of the rolling failure window: the window slides a tenth at a
/// time (the granularity Hystrix and resilience4j default to).
const WINDOW_BUCKETS: usize = 10;

/// When a [`CircuitBreaker`] trips and how it recovers. All times in
/// nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BreakerConfig {
    /// Length of the rolling window over which outcomes are counted
    /// (at least 10 ns; it slides in tenths).
    pub window_ns: u64,
    /// Trip when at least this share of the window's calls failed
    /// (in `(0, 1]`)...
    pub failure_ratio: f64,
    /// ...and the window holds at least this many calls (so one failure out
    /// of one call does not trip it).
    pub min_calls: u32,
    /// Also trip when the window holds this many failures, whatever the
    /// ratio (0: off).
    pub failure_count: u32,
    /// How long the breaker stays open before letting probes through.
    pub cool_down_ns: u64,
    /// Probe calls let through when half-open; all must succeed to close,
    /// and one failure opens the breaker again (at least 1).
    pub probes: u32,
}

impl Default for BreakerConfig {
    /// 50% failures over at least 20 calls in 10 s, 5 s cool-down, 3 probes.
    fn default() -> Self {
        BreakerConfig {
            window_ns: 10_000_000_000,
            failure_ratio: 0.5,
            min_calls: 20,
            failure_count: 0,
            cool_down_ns: 5_000_000_000,
            probes: 3,
        }
    }
}

impl BreakerConfig {
    fn validate(&self) -> Result<(), Error> {
        if self.window_ns < WINDOW_BUCKETS as u64 {
            return Err(Error::InvalidConfig("window_ns must be at least 10"));
        }
        if !(self.failure_ratio > 0.0 && self.failure_ratio <= 1.0) {
            return Err(Error::InvalidConfig("failure_ratio must be in (0, 1]"));
        }
        if self.min_calls == 0 {
            return Err(Error::InvalidConfig("min_calls must be at least 1"));
        }
        if self.cool_down_ns == 0 {
            return Err(Error::InvalidConfig("cool_down_ns must be at least 1"));
        }
        if self.probes == 0 {
            return Err(Error::InvalidConfig("probes must be at least 1"));
        }
        Ok(())
    }
}

/// Where a [`CircuitBreaker`] stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum BreakerState {
    /// Calls go through; outcomes are counted.
    Closed,
    /// Calls are refused until the cool-down ends.
    Open,
    /// A few probe calls go through to test the service.
    HalfOpen,
}

/// Admission control for a flaky dependency: closed while it mostly works,
/// **open** (refusing calls at once, so a failing service is not buried
/// under retries) after too many failures in a rolling window, then
/// **half-open** after a cool-down: a few probe calls decide whether it
/// closes again or reopens for another cool-down.
///
/// A probe that never reports back would leave the breaker half-open with
/// no probes left; after another cool-down without a report the probes are
/// issued again. Outcomes recorded while open (calls admitted before it
/// opened) are ignored. Time going backwards is read as time standing
/// still.
///
/// ```
/// use hld_ratelimit::{BreakerConfig, BreakerState, CircuitBreaker};
/// let cb = CircuitBreaker::new(BreakerConfig {
///     min_calls: 4, failure_ratio: 0.5, cool_down_ns: 1_000, probes: 1,
///     ..BreakerConfig::default()
/// })?;
/// for t in 0..4 {
///     assert!(cb.allow(t));
///     cb.record(t % 2 == 0, t); // half of them fail
/// }
/// assert_eq!(cb.state(4), BreakerState::Open);
/// assert!(!cb.allow(5));
/// assert!(cb.allow(1_004)); // cool-down over: one probe
/// cb.record(true, 1_005);
/// assert_eq!(cb.state(1_005), BreakerState::Closed);
/// # Ok::<(), hld_ratelimit::Error>(())
/// ```
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    bucket_ns: u64,
    inner: Mutex<Inner>,
}

#[derive(Clone, Debug)]
struct Inner {
    high_water: u64,
    state: BreakerState,
    /// When it opened (Open), or when the last probe was issued (HalfOpen).
    since: u64,
    /// Per-bucket (tick, calls, failures): a ring indexed by tick.
    window: [(u64, u32, u32); WINDOW_BUCKETS],
    probes_issued: u32,
    probes_passed: u32,
}

impl CircuitBreaker {
    /// A closed breaker; an out-of-range setting is an `Err`.
    pub fn new(config: BreakerConfig) -> Result<CircuitBreaker, Error> {
        config.validate()?;
        Ok(CircuitBreaker {
            config,
            bucket_ns: config.window_ns / WINDOW_BUCKETS as u64,
            inner: Mutex::new(Inner {
                high_water: 0,
                state: BreakerState::Closed,
                since: 0,
                window: [(u64::MAX, 0, 0); WINDOW_BUCKETS],
                probes_issued: 0,
                probes_passed: 0,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> BreakerConfig {
        self.config
    }

    /// Whether a call may go ahead at `now`. In half-open state each `true`
    /// is a probe, whose outcome must be [`record`](Self::record)ed.
    pub fn allow(&self, now: u64) -> bool {
        let mut s = self.inner.lock();
        let now = s.clamp(now);
        self.advance(&mut s, now);
        match s.state {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen => {
                if s.probes_issued < self.config.probes {
                    s.probes_issued += 1;
                    s.since = now;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Records the outcome of a call made at (or finishing at) `now`.
    pub fn record(&self, success: bool, now: u64) {
        let mut s = self.inner.lock();
        let now = s.clamp(now);
        self.advance(&mut s, now);
        match s.state {
            BreakerState::Closed => {
                let tick = now / self.bucket_ns;
                let b = &mut s.window[(tick % WINDOW_BUCKETS as u64) as usize];
                if b.0 != tick {
                    *b = (tick, 0, 0);
                }
                b.1 += 1;
                b.2 += u32::from(!success);
                let (calls, failures) = s.counts(tick);
                let by_ratio = calls >= self.config.min_calls as u64
                    && failures as f64 >= self.config.failure_ratio * calls as f64;
                let by_count =
                    self.config.failure_count > 0 && failures >= self.config.failure_count as u64;
                if by_ratio || by_count {
                    s.open(now);
                }
            }
            BreakerState::Open => {}
            BreakerState::HalfOpen => {
                if success {
                    s.probes_passed += 1;
                    if s.probes_passed >= self.config.probes {
                        s.close();
                    }
                } else {
                    s.open(now);
                }
            }
        }
    }

    /// The state at `now` (moving from open to half-open once the
    /// cool-down has passed).
    pub fn state(&self, now: u64) -> BreakerState {
        let mut s = self.inner.lock();
        let now = s.clamp(now);
        self.advance(&mut s, now);
        s.state
    }

    /// Calls and failures in the rolling window at `now` (closed state).
    pub fn window_counts(&self, now: u64) -> (u64, u64) {
        let mut s = self.inner.lock();
        let now = s.clamp(now);
        s.counts(now / self.bucket_ns)
    }

    /// Back to closed with an empty window.
    pub fn reset(&self) {
        self.inner.lock().close();
    }

    fn advance(&self, s: &mut Inner, now: u64) {
        let waited = now - s.since >= self.config.cool_down_ns;
        match s.state {
            BreakerState::Open if waited => {
                s.state = BreakerState::HalfOpen;
                s.since = now;
                s.probes_issued = 0;
                s.probes_passed = 0;
            }
            // Probes issued but not all reported for a whole cool-down:
            // presumed lost, so issue them again.
            BreakerState::HalfOpen if waited && s.probes_issued >= self.config.probes => {
                s.since = now;
                s.probes_issued = s.probes_passed;
            }
            _ => {}
        }
    }
}

impl Inner {
    fn clamp(&mut self, now: u64) -> u64 {
        self.high_water = self.high_water.max(now);
        self.high_water
    }

    /// Calls and failures in the buckets of ticks `tick - 9 ..= tick`.
    fn counts(&self, tick: u64) -> (u64, u64) {
        let oldest = tick.saturating_sub(WINDOW_BUCKETS as u64 - 1);
        self.window
            .iter()
            .filter(|b| b.0 != u64::MAX && b.0 >= oldest && b.0 <= tick)
            .fold((0, 0), |(c, f), b| (c + b.1 as u64, f + b.2 as u64))
    }

    fn open(&mut self, now: u64) {
        self.state = BreakerState::Open;
        self.since = now;
        self.probes_issued = 0;
        self.probes_passed = 0;
    }

    fn close(&mut self) {
        self.state = BreakerState::Closed;
        self.window = [(u64::MAX, 0, 0); WINDOW_BUCKETS];
        self.probes_issued = 0;
        self.probes_passed = 0;
    }
}
