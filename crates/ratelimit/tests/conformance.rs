//! Decisions equal governor's: the same quota and the same arrivals on
//! governor's fake clock give the same allow/deny, the same wait, and the
//! same remaining burst.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, FakeRelativeClock};
use governor::middleware::StateInformationMiddleware;
use governor::{Quota as GQuota, RateLimiter};
use hld_ratelimit::{InMemoryStore, KeyedLimiter, Quota, SharedLimiter, TokenBucket};
use proptest::prelude::*;

/// The governor quota with the same emission interval and burst.
fn gquota(q: &Quota) -> GQuota {
    GQuota::with_period(Duration::from_nanos(q.emission_interval_ns()))
        .expect("T >= 1 ns")
        .allow_burst(NonZeroU32::new(q.burst()).expect("burst >= 1"))
}

fn quota_strategy() -> impl Strategy<Value = Quota> {
    (1u32..2_000, 1u64..20_000_000_000, 1u32..64).prop_map(|(n, period, burst)| {
        Quota::per_period(n, period)
            .and_then(|q| q.with_burst(burst))
            .expect("in range")
    })
}

/// A gap between arrivals: zero (a burst), a multiple of the emission
/// interval give or take a nanosecond (to land on the exact boundaries), or
/// anything up to `max`.
#[derive(Clone, Debug)]
enum Gap {
    Zero,
    Intervals(u64, i8),
    Raw(u64),
}

impl Gap {
    fn ns(&self, q: &Quota) -> u64 {
        match *self {
            Gap::Zero => 0,
            Gap::Intervals(k, d) => (k * q.emission_interval_ns()).saturating_add_signed(d as i64),
            Gap::Raw(n) => n,
        }
    }
}

fn gap(max: u64) -> impl Strategy<Value = Gap> {
    prop_oneof![
        3 => Just(Gap::Zero),
        3 => (0u64..4, -1i8..=1).prop_map(|(k, d)| Gap::Intervals(k, d)),
        3 => (0..max).prop_map(Gap::Raw),
        1 => (0..max * 40).prop_map(Gap::Raw),
    ]
}

/// Arrivals: gaps and a cell count for check_n.
fn arrivals(max_gap: u64) -> impl Strategy<Value = Vec<(Gap, u32)>> {
    prop::collection::vec(
        (gap(max_gap), prop_oneof![6 => Just(1u32), 1 => 1u32..80]),
        1..150,
    )
}

fn advance_to(clock: &FakeRelativeClock, t: u64) {
    let now = clock.now().as_u64();
    clock.advance(Duration::from_nanos(t - now));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn token_bucket_matches_governor(
        q in quota_strategy(),
        start in 0u64..1_000_000_000,
        gaps in arrivals(200_000_000),
    ) {
        let clock = FakeRelativeClock::default();
        let gov = RateLimiter::direct_with_clock(gquota(&q), clock.clone())
            .with_middleware::<StateInformationMiddleware>();
        let ours = TokenBucket::new(q);
        let mut t = start;
        for (gap, n) in gaps {
            t += gap.ns(&q);
            advance_to(&clock, t);
            let n_nz = NonZeroU32::new(n).unwrap();
            match (gov.check_n(n_nz), ours.check_n(n, t)) {
                (Err(_), Err(_)) => prop_assert!(n > q.burst()),
                (Ok(Ok(snap)), Ok(d)) => {
                    prop_assert!(d.allowed, "t={} n={}", t, n);
                    prop_assert_eq!(d.remaining, snap.remaining_burst_capacity() as u64);
                    prop_assert_eq!(d.retry_after_ns, 0);
                }
                (Ok(Err(not_until)), Ok(d)) => {
                    prop_assert!(!d.allowed, "t={} n={}", t, n);
                    let wait = not_until.wait_time_from(clock.now());
                    prop_assert_eq!(d.retry_after_ns as u128, wait.as_nanos());
                }
                (g, o) => prop_assert!(false, "governor {:?} vs ours {:?} at t={} n={}", g.is_ok(), o, t, n),
            }
        }
    }

    #[test]
    fn single_checks_match_governor(
        q in quota_strategy(),
        gaps in prop::collection::vec(gap(50_000_000), 1..200),
    ) {
        let clock = FakeRelativeClock::default();
        let gov = RateLimiter::direct_with_clock(gquota(&q), clock.clone());
        let ours = TokenBucket::new(q);
        let mut t = 0;
        for gap in gaps {
            t += gap.ns(&q);
            advance_to(&clock, t);
            prop_assert_eq!(gov.check().is_ok(), ours.check(t).allowed, "t={}", t);
        }
    }

    #[test]
    fn keyed_matches_governor_keyed(
        q in quota_strategy(),
        ops in prop::collection::vec((gap(20_000_000), 0u8..6, 1u32..4), 1..250),
        shards in 0usize..4,
    ) {
        let clock = FakeRelativeClock::default();
        let gov = RateLimiter::hashmap_with_clock(gquota(&q), clock.clone());
        let ours = KeyedLimiter::<u8>::builder(q).shards(1 << shards).build().unwrap();
        let store = InMemoryStore::new();
        let shared = SharedLimiter::new(&store, q);
        let mut t = 0;
        for (gap, key, n) in ops {
            t += gap.ns(&q);
            advance_to(&clock, t);
            let g = gov.check_key_n(&key, NonZeroU32::new(n).unwrap());
            let o = ours.check_n(&key, n, t);
            let s = shared.check_n(&[key], n, t);
            match g {
                Err(_) => prop_assert!(o.is_err() && s.is_err()),
                Ok(g) => {
                    let (o, s) = (o.unwrap(), s.unwrap());
                    prop_assert_eq!(g.is_ok(), o.allowed, "key {} t={}", key, t);
                    prop_assert_eq!(o, s);
                }
            }
        }
    }
}

/// The three cases the contract names, spelled out.
#[test]
fn contract_examples() {
    // T = floor(period / n): 1 s / 3 = 333_333_333 ns.
    let q = Quota::per_second(3).unwrap();
    assert_eq!(q.emission_interval_ns(), 333_333_333);
    assert_eq!(q.tolerance_ns(), 2 * 333_333_333);
    // At least 1 ns.
    let q = Quota::per_period(10, 3).unwrap();
    assert_eq!(q.emission_interval_ns(), 1);
    // A fresh limiter starts at the first now, whatever it is.
    let b = TokenBucket::new(Quota::per_second(1).unwrap());
    assert!(b.check(u64::MAX / 2).allowed);
    assert!(!b.check(u64::MAX / 2).allowed);
}
