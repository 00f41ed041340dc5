//! With the `serde` feature: quotas, decisions and configurations round
//! trip, and invalid values are refused on the way in.
#![cfg(feature = "serde")]

use hld_ratelimit::{Backoff, BreakerConfig, BreakerState, Decision, FullPolicy, Quota};

#[test]
fn round_trips() {
    let q = Quota::per_minute(90).unwrap().with_burst(7).unwrap();
    let s = serde_json::to_string(&q).unwrap();
    assert_eq!(serde_json::from_str::<Quota>(&s).unwrap(), q);

    let d = Decision {
        allowed: false,
        limit: 7,
        remaining: 0,
        retry_after_ns: 123,
        reset_after_ns: 456,
    };
    let s = serde_json::to_string(&d).unwrap();
    assert_eq!(serde_json::from_str::<Decision>(&s).unwrap(), d);

    let b = Backoff::new(5, 500).unwrap().with_factor(3).unwrap();
    let s = serde_json::to_string(&b).unwrap();
    assert_eq!(serde_json::from_str::<Backoff>(&s).unwrap(), b);

    let c = BreakerConfig::default();
    let s = serde_json::to_string(&c).unwrap();
    assert_eq!(serde_json::from_str::<BreakerConfig>(&s).unwrap(), c);

    for v in [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
    ] {
        let s = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<BreakerState>(&s).unwrap(), v);
    }
    let s = serde_json::to_string(&FullPolicy::DenyNew).unwrap();
    assert_eq!(
        serde_json::from_str::<FullPolicy>(&s).unwrap(),
        FullPolicy::DenyNew
    );
}

#[test]
fn invalid_values_are_refused() {
    for bad in [
        r#"{"count":0,"period_ns":1000,"burst":1}"#,
        r#"{"count":1,"period_ns":0,"burst":1}"#,
        r#"{"count":1,"period_ns":1000,"burst":0}"#,
        r#"{"count":1,"period_ns":2305843009213693952,"burst":3}"#,
        r#"{"count":1}"#,
    ] {
        assert!(serde_json::from_str::<Quota>(bad).is_err(), "{bad}");
    }
    assert!(serde_json::from_str::<Backoff>(r#"{"base_ns":0,"cap_ns":1,"factor":2}"#).is_err());
    assert!(serde_json::from_str::<Backoff>(r#"{"base_ns":2,"cap_ns":1,"factor":2}"#).is_err());
    assert!(serde_json::from_str::<Backoff>(r#"{"base_ns":1,"cap_ns":1,"factor":1}"#).is_err());
}
