//! Circuit breaker against a naive model that keeps every outcome, plus
//! the scenarios spelled out; and backoff's properties.

use hld_ratelimit::{Backoff, BreakerConfig, BreakerState, CircuitBreaker, Error};
use proptest::prelude::*;

/// The specification, naively: every outcome since the breaker last closed.
struct Model {
    c: BreakerConfig,
    state: BreakerState,
    since: u64,
    issued: u32,
    passed: u32,
    outcomes: Vec<(u64, bool)>,
    high_water: u64,
}

impl Model {
    fn new(c: BreakerConfig) -> Model {
        Model {
            c,
            state: BreakerState::Closed,
            since: 0,
            issued: 0,
            passed: 0,
            outcomes: Vec::new(),
            high_water: 0,
        }
    }
    fn now(&mut self, now: u64) -> u64 {
        self.high_water = self.high_water.max(now);
        let now = self.high_water;
        let waited = now - self.since >= self.c.cool_down_ns;
        if self.state == BreakerState::Open && waited {
            self.state = BreakerState::HalfOpen;
            self.since = now;
            self.issued = 0;
            self.passed = 0;
        } else if self.state == BreakerState::HalfOpen && waited && self.issued >= self.c.probes {
            self.since = now;
            self.issued = self.passed;
        }
        now
    }
    fn allow(&mut self, now: u64) -> bool {
        let now = self.now(now);
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen if self.issued < self.c.probes => {
                self.issued += 1;
                self.since = now;
                true
            }
            BreakerState::HalfOpen => false,
        }
    }
    fn record(&mut self, ok: bool, now: u64) {
        let now = self.now(now);
        let bucket = self.c.window_ns / 10;
        match self.state {
            BreakerState::Closed => {
                self.outcomes.push((now, ok));
                let tick = now / bucket;
                let in_window: Vec<bool> = self
                    .outcomes
                    .iter()
                    .filter(|(t, _)| t / bucket + 10 > tick)
                    .map(|&(_, ok)| ok)
                    .collect();
                let calls = in_window.len() as f64;
                let fails = in_window.iter().filter(|ok| !**ok).count();
                let trip = (in_window.len() >= self.c.min_calls as usize
                    && fails as f64 >= self.c.failure_ratio * calls)
                    || (self.c.failure_count > 0 && fails >= self.c.failure_count as usize);
                if trip {
                    self.state = BreakerState::Open;
                    self.since = now;
                }
            }
            BreakerState::Open => {}
            BreakerState::HalfOpen if ok => {
                self.passed += 1;
                if self.passed >= self.c.probes {
                    self.state = BreakerState::Closed;
                    self.outcomes.clear();
                    self.issued = 0;
                    self.passed = 0;
                }
            }
            BreakerState::HalfOpen => {
                self.state = BreakerState::Open;
                self.since = now;
                self.issued = 0;
                self.passed = 0;
            }
        }
    }
}

fn config() -> impl Strategy<Value = BreakerConfig> {
    (
        10u64..2_000,
        1u32..=10,
        1u32..8,
        0u32..6,
        1u64..3_000,
        1u32..4,
    )
        .prop_map(
            |(window_ns, tenths, min_calls, failure_count, cool_down_ns, probes)| BreakerConfig {
                window_ns,
                failure_ratio: tenths as f64 / 10.0,
                min_calls,
                failure_count,
                cool_down_ns,
                probes,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn breaker_matches_model(
        c in config(),
        ops in prop::collection::vec((0u8..3, 0u64..400, prop::bool::weighted(0.02)), 1..300),
    ) {
        let cb = CircuitBreaker::new(c).unwrap();
        let mut m = Model::new(c);
        let mut now = 0u64;
        for (op, dt, back) in ops {
            now = if back { now.saturating_sub(dt) } else { now + dt };
            match op {
                0 => prop_assert_eq!(cb.allow(now), m.allow(now)),
                1 => { cb.record(true, now); m.record(true, now); }
                _ => { cb.record(false, now); m.record(false, now); }
            }
            let at = m.now(now);
            prop_assert_eq!(cb.state(now), m.state, "at {}", at);
        }
    }
}

#[test]
fn trips_by_ratio_then_probes_then_closes_or_reopens() {
    let cb = CircuitBreaker::new(BreakerConfig {
        window_ns: 1_000,
        failure_ratio: 0.5,
        min_calls: 4,
        failure_count: 0,
        cool_down_ns: 100,
        probes: 2,
    })
    .unwrap();
    // Three failures alone do not trip it: too few calls.
    for t in 0..3 {
        cb.record(false, t);
    }
    assert_eq!(cb.state(3), BreakerState::Closed);
    assert_eq!(cb.window_counts(3), (3, 3));
    cb.record(true, 4); // 3 of 4 failed
    assert_eq!(cb.state(4), BreakerState::Open);
    assert!(!cb.allow(50));
    // Cool-down over: two probes, not three.
    assert!(cb.allow(104));
    assert!(cb.allow(105));
    assert!(!cb.allow(106));
    assert_eq!(cb.state(106), BreakerState::HalfOpen);
    cb.record(true, 107);
    cb.record(false, 108); // one probe fails: open again
    assert_eq!(cb.state(108), BreakerState::Open);
    assert!(!cb.allow(150));
    assert!(cb.allow(208));
    assert!(cb.allow(208));
    cb.record(true, 209);
    cb.record(true, 210);
    assert_eq!(cb.state(210), BreakerState::Closed);
    assert_eq!(cb.window_counts(210), (0, 0));
}

#[test]
fn trips_by_count_and_old_failures_slide_out() {
    let cb = CircuitBreaker::new(BreakerConfig {
        window_ns: 1_000,
        failure_ratio: 1.0,
        min_calls: 1_000,
        failure_count: 3,
        cool_down_ns: 100,
        probes: 1,
    })
    .unwrap();
    cb.record(false, 0);
    cb.record(false, 500);
    // The first failure left the window (1 000 ns in tenths) by 1 100.
    cb.record(false, 1_100);
    assert_eq!(cb.state(1_100), BreakerState::Closed);
    cb.record(false, 1_200);
    assert_eq!(cb.state(1_200), BreakerState::Open);
}

#[test]
fn lost_probes_are_reissued_after_a_cool_down() {
    let cb = CircuitBreaker::new(BreakerConfig {
        min_calls: 1,
        failure_ratio: 1.0,
        cool_down_ns: 100,
        probes: 1,
        ..BreakerConfig::default()
    })
    .unwrap();
    cb.record(false, 0);
    assert!(cb.allow(100)); // the probe, never reported
    assert!(!cb.allow(150));
    assert!(cb.allow(200)); // presumed lost: another probe
    cb.reset();
    assert_eq!(cb.state(200), BreakerState::Closed);
    assert_eq!(cb.config().probes, 1);
}

#[test]
fn bad_breaker_config() {
    let ok = BreakerConfig::default();
    for bad in [
        BreakerConfig { window_ns: 9, ..ok },
        BreakerConfig {
            failure_ratio: 0.0,
            ..ok
        },
        BreakerConfig {
            failure_ratio: 1.5,
            ..ok
        },
        BreakerConfig {
            failure_ratio: f64::NAN,
            ..ok
        },
        BreakerConfig { min_calls: 0, ..ok },
        BreakerConfig {
            cool_down_ns: 0,
            ..ok
        },
        BreakerConfig { probes: 0, ..ok },
    ] {
        assert!(
            matches!(CircuitBreaker::new(bad), Err(Error::InvalidConfig(_))),
            "{bad:?}"
        );
    }
    assert!(CircuitBreaker::new(ok).is_ok());
}

#[test]
fn backoff_bad_input() {
    assert!(Backoff::new(0, 10).is_err());
    assert!(Backoff::new(10, 9).is_err());
    let b = Backoff::new(10, 1_000).unwrap();
    assert!(b.with_factor(1).is_err());
    for bad in [f64::NAN, -0.1, 1.0, f64::INFINITY] {
        assert!(b.delay_f64(3, bad).is_err());
    }
    assert_eq!(b.with_factor(3).unwrap().ceiling(2), 90);
    assert_eq!((b.base_ns(), b.cap_ns(), b.factor()), (10, 1_000, 2));
}

proptest! {
    #[test]
    fn backoff_properties(
        base in 1u64..1_000_000,
        extra in 0u64..1_000_000_000,
        factor in 2u32..5,
        attempt in 0u32..200,
        r in any::<u64>(),
        u in 0.0f64..1.0,
    ) {
        let b = Backoff::new(base, base + extra).unwrap().with_factor(factor).unwrap();
        let c = b.ceiling(attempt);
        // min(cap, base * factor^attempt), computed without overflow.
        let exact = (base as u128).saturating_mul((factor as u128).saturating_pow(attempt));
        prop_assert_eq!(c as u128, exact.min((base + extra) as u128));
        prop_assert!(b.ceiling(attempt + 1) >= c);
        prop_assert!(b.delay(attempt, r) <= c);
        prop_assert!(b.delay_f64(attempt, u).unwrap() <= c);
        prop_assert_eq!(b.delay(attempt, 0), 0);
        prop_assert_eq!(b.delay(attempt, u64::MAX), c);
    }
}

/// Full jitter is uniform: the mean delay is half the ceiling.
#[test]
fn backoff_jitter_is_uniform() {
    let b = Backoff::new(1_000, 1 << 40).unwrap();
    let mut x = 0x1234_5678_u64;
    let mut sum = 0u128;
    const N: u128 = 100_000;
    for _ in 0..N {
        // SplitMix64 (Steele, Lea, Flood 2014).
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        sum += b.delay(10, z ^ (z >> 31)) as u128;
    }
    let mean = (sum / N) as f64;
    let half = b.ceiling(10) as f64 / 2.0;
    assert!((mean - half).abs() < half * 0.01, "{mean} vs {half}");
}
