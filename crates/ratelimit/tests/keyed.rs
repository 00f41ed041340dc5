//! The keyed limiter: against a model (a HashMap of TATs and the pure GCRA
//! step), under a key budget, under a flood of 10M keys, with keys that
//! count their clones and drops, and with keys that panic.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::Arc;

use hld_ratelimit::{Decision, Error, FullPolicy, KeyedLimiter, Quota};
use proptest::prelude::*;

/// The oracle: every key's TAT in a HashMap, decided by `Quota::step`.
struct Model {
    default: Quota,
    overrides: HashMap<u8, Quota>,
    tats: HashMap<u8, u64>,
    high_water: u64,
}

impl Model {
    fn quota(&self, k: u8) -> Quota {
        *self.overrides.get(&k).unwrap_or(&self.default)
    }
    fn check_n(&mut self, k: u8, n: u32, now: u64) -> Result<Decision, Error> {
        let q = self.quota(k);
        if n == 0 || n > q.burst() {
            return Err(Error::ZeroCells);
        }
        let now = now.max(self.high_water);
        self.high_water = now;
        let tat = self.tats.get(&k).copied().unwrap_or(0);
        let (d, new) = q.step(tat, now, n).unwrap();
        if let Some(t) = new {
            self.tats.insert(k, t);
        }
        Ok(d)
    }
}

#[derive(Clone, Debug)]
enum Op {
    Check(u8),
    CheckN(u8, u32),
    CheckMany(Vec<u8>),
    Peek(u8),
    SetQuota(Quota),
    SetKeyQuota(u8, Quota),
    RemoveKeyQuota(u8),
    Remove(u8),
    EvictIdle,
    Wait(u64),
    Back(u64),
}

fn quota() -> impl Strategy<Value = Quota> {
    (1u32..50, 1u64..20_000, 1u32..8)
        .prop_map(|(n, p, b)| Quota::per_period(n, p).unwrap().with_burst(b).unwrap())
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..12;
    prop_oneof![
        20 => key.clone().prop_map(Op::Check),
        4 => (key.clone(), 0u32..10).prop_map(|(k, n)| Op::CheckN(k, n)),
        3 => prop::collection::vec(key.clone(), 0..20).prop_map(Op::CheckMany),
        2 => key.clone().prop_map(Op::Peek),
        1 => quota().prop_map(Op::SetQuota),
        2 => (key.clone(), quota()).prop_map(|(k, q)| Op::SetKeyQuota(k, q)),
        1 => key.clone().prop_map(Op::RemoveKeyQuota),
        2 => key.clone().prop_map(Op::Remove),
        1 => Just(Op::EvictIdle),
        8 => (0u64..3_000).prop_map(Op::Wait),
        1 => (0u64..3_000).prop_map(Op::Back),
    ]
}

fn run_model(q: Quota, ops: Vec<Op>, shards: usize, backwards: bool) -> Result<(), TestCaseError> {
    let lim = KeyedLimiter::<u8>::builder(q)
        .shards(shards)
        .idle_tick_ns(100)
        .build()
        .unwrap();
    let mut m = Model {
        default: q,
        overrides: HashMap::new(),
        tats: HashMap::new(),
        high_water: 0,
    };
    let mut now = 1_000u64;
    for op in ops {
        match op {
            Op::Check(k) => {
                let want = m.check_n(k, 1, now).unwrap();
                prop_assert_eq!(lim.check(&k, now), want, "key {} at {}", k, now);
            }
            Op::CheckN(k, n) => match (lim.check_n(&k, n, now), m.check_n(k, n, now)) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(_), Err(_)) => {}
                (a, b) => prop_assert!(false, "{:?} vs {:?}", a, b),
            },
            Op::CheckMany(keys) => {
                let got = lim.check_many(&keys, now);
                prop_assert_eq!(got.len(), keys.len());
                for (k, d) in keys.iter().zip(got) {
                    prop_assert_eq!(d, m.check_n(*k, 1, now).unwrap());
                }
            }
            Op::Peek(k) => {
                let at = now.max(m.high_water);
                let tat = m.tats.get(&k).copied().unwrap_or(0);
                let want = m.quota(k).step(tat, at, 1).unwrap().0;
                prop_assert_eq!(lim.peek(&k, now), want);
            }
            Op::SetQuota(q) => {
                lim.set_quota(q);
                m.default = q;
                prop_assert_eq!(lim.quota(), q);
            }
            Op::SetKeyQuota(k, q) => {
                lim.set_key_quota(k, q);
                m.overrides.insert(k, q);
            }
            Op::RemoveKeyQuota(k) => {
                prop_assert_eq!(lim.remove_key_quota(&k), m.overrides.remove(&k));
            }
            Op::Remove(k) => {
                let held = lim.remove(&k);
                let had = m.tats.remove(&k);
                // Held implies the model had it; an active key is held.
                prop_assert!(!held || had.is_some());
                if had.is_some_and(|t| t > m.high_water) {
                    prop_assert!(held);
                }
            }
            Op::EvictIdle => {
                lim.evict_idle(now);
                m.high_water = m.high_water.max(now);
            }
            Op::Wait(d) => now += d,
            Op::Back(d) => {
                if backwards {
                    now = now.saturating_sub(d)
                }
            }
        }
        for k in 0..12u8 {
            prop_assert_eq!(lim.key_quota(&k), m.quota(k));
            let at = m.high_water;
            let active = m.tats.get(&k).copied().filter(|&t| t > at);
            prop_assert_eq!(lim.tat(&k).filter(|&t| t > at), active, "tat of {}", k);
        }
        let active = m.tats.values().filter(|&&t| t > m.high_water).count();
        let len = lim.len();
        prop_assert!(
            active <= len && len <= m.tats.len(),
            "{} <= {} <= {}",
            active,
            len,
            m.tats.len()
        );
    }
    // Long after everything, eviction empties the limiter.
    let end = m.tats.values().copied().max().unwrap_or(0).max(now) + 10_000;
    lim.evict_idle(end);
    prop_assert_eq!(lim.len(), 0);
    prop_assert!(lim.is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn matches_model(q in quota(), ops in prop::collection::vec(op(), 1..200), shards in 0u32..4) {
        run_model(q, ops, 1 << shards, false)?;
    }

    /// With time going backwards too (one shard, so the limiter's
    /// high-water time and the model's are the same clock).
    #[test]
    fn matches_model_with_time_going_backwards(q in quota(), ops in prop::collection::vec(op(), 1..200)) {
        run_model(q, ops, 1, true)?;
    }

    /// `check_many` equals one `check` after another, repeats included.
    #[test]
    fn check_many_is_sequential(
        keys in prop::collection::vec(0u32..200, 0..600),
        times in prop::collection::vec(0u64..5_000, 1..6),
    ) {
        let q = Quota::per_period(3, 3_000).unwrap().with_burst(2).unwrap();
        let a = KeyedLimiter::<u32>::builder(q).shards(8).build().unwrap();
        let b = KeyedLimiter::<u32>::builder(q).shards(4).build().unwrap();
        let mut now = 0;
        let mut out = Vec::new();
        for dt in times {
            now += dt;
            a.check_many_into(&keys, now, &mut out);
            let one_by_one: Vec<Decision> = keys.iter().map(|k| b.check(k, now)).collect();
            prop_assert_eq!(&out, &one_by_one);
        }
    }
}

#[test]
fn bad_config_is_an_error() {
    let q = Quota::per_second(1).unwrap();
    assert!(matches!(
        KeyedLimiter::<u64>::builder(q).max_keys(0).build(),
        Err(Error::InvalidConfig(_))
    ));
    assert!(KeyedLimiter::<u64>::builder(q).shards(0).build().is_err());
    assert!(KeyedLimiter::<u64>::builder(q)
        .idle_tick_ns(0)
        .build()
        .is_err());
    // Shards round up to a power of two and down to the key budget.
    let l = KeyedLimiter::<u64>::builder(q).shards(5).build().unwrap();
    assert_eq!(l.shards(), 8);
    let l = KeyedLimiter::<u64>::builder(q)
        .max_keys(3)
        .shards(64)
        .build()
        .unwrap();
    assert_eq!(l.shards(), 2);
    let l = KeyedLimiter::<u64>::new(q);
    assert_eq!(
        l.check_n(&1, 2, 0),
        Err(Error::InsufficientCapacity {
            requested: 2,
            max: 1
        })
    );
    assert_eq!(l.check_n(&1, 0, 0), Err(Error::ZeroCells));
    assert!(format!("{l:?}").contains("KeyedLimiter"));
}

#[test]
fn set_quota_keeps_state() {
    let lim = KeyedLimiter::<&str>::new(Quota::per_second(10).unwrap());
    for _ in 0..10 {
        assert!(lim.check(&"a", 0).allowed);
    }
    assert!(!lim.check(&"a", 0).allowed);
    // A fresh limiter with the new quota would allow 20 now; this one keeps
    // a's debt of 10 x 100 ms = 1 s, worth 20 requests at 50 ms each.
    lim.set_quota(Quota::per_second(20).unwrap().with_burst(30).unwrap());
    let mut more = 0;
    while lim.check(&"a", 0).allowed {
        more += 1;
    }
    assert_eq!(more, 10);
    // Other keys get the new quota from scratch.
    let mut b = 0;
    while lim.check(&"b", 0).allowed {
        b += 1;
    }
    assert_eq!(b, 30);
}

#[test]
fn per_key_overrides() {
    let lim = KeyedLimiter::<u32>::new(Quota::per_second(2).unwrap());
    lim.set_key_quota(7, Quota::per_second(5).unwrap());
    assert_eq!(lim.key_quota(&7).burst(), 5);
    assert_eq!(lim.key_quota(&8).burst(), 2);
    let count = |k: u32, now| (0..100).take_while(|_| lim.check(&k, now).allowed).count();
    assert_eq!(count(7, 0), 5);
    assert_eq!(count(8, 0), 2);
    assert_eq!(lim.remove_key_quota(&7).map(|q| q.burst()), Some(5));
    assert_eq!(lim.remove_key_quota(&7), None);
    // Back on the default, still owing its debt (5 x 200 ms): nothing yet.
    assert_eq!(count(7, 0), 0);
    // The override outlives the key's state (configuration, not traffic).
    lim.set_key_quota(9, Quota::per_second(4).unwrap());
    assert_eq!(count(9, 0), 4);
    lim.evict_idle(100_000_000_000);
    assert_eq!(lim.tat(&9), None);
    assert_eq!(count(9, 200_000_000_000), 4);
}

#[test]
fn idle_keys_are_evicted_and_memory_returns() {
    let q = Quota::per_second(10).unwrap(); // T = 100 ms, window 1 s
    let lim = KeyedLimiter::<u64>::builder(q)
        .max_keys(1 << 20)
        .build()
        .unwrap();
    let empty = lim.memory_bytes();
    for k in 0..100_000u64 {
        lim.check(&k, 1_000_000_000 + k);
    }
    assert_eq!(lim.len(), 100_000);
    let full = lim.memory_bytes();
    assert!(full > empty + 100_000 * 16);
    // Each key's TAT is its time + 100 ms; half a second later all are idle,
    // and one more check on each shard evicts them as time passes.
    let evicted = lim.evict_idle(2_000_000_000);
    assert_eq!(evicted, 100_000);
    assert_eq!(lim.len(), 0);
    assert!(
        lim.memory_bytes() < empty + 64 * 1024,
        "{} vs {}",
        lim.memory_bytes(),
        empty
    );
    // Checks evict as they go, without evict_idle.
    for k in 0..1_000u64 {
        lim.check(&k, 3_000_000_000);
    }
    for k in 1_000..1_010u64 {
        lim.check(&k, 5_000_000_000);
    }
    assert!(lim.len() < 1_000, "{}", lim.len());
    lim.clear();
    assert!(lim.is_empty());
}

#[test]
fn full_evict_oldest_keeps_keys_with_debt() {
    let q = Quota::per_second(10).unwrap();
    let lim = KeyedLimiter::<u64>::builder(q)
        .max_keys(100)
        .shards(1)
        .build()
        .unwrap();
    // The heavy user spends its whole burst: TAT 1 s ahead.
    let heavy = u64::MAX;
    while lim.check(&heavy, 0).allowed {}
    // A flood of one-request keys (TAT 100 ms ahead) at 10 µs apart.
    for k in 0..10_000u64 {
        let now = k * 10_000;
        assert!(lim.check(&k, now).allowed, "new keys are admitted");
        assert!(lim.len() <= 100);
        if k % 100 == 0 && now < 900_000_000 {
            assert!(
                !lim.check(&heavy, now).allowed,
                "heavy stays limited at {now}"
            );
        }
    }
    assert_eq!(lim.policy(), FullPolicy::EvictOldest);
}

#[test]
fn full_deny_new_denies_until_keys_go_idle() {
    let q = Quota::per_second(10).unwrap();
    let lim = KeyedLimiter::<u64>::builder(q)
        .max_keys(50)
        .shards(1)
        .when_full(FullPolicy::DenyNew)
        .build()
        .unwrap();
    for k in 0..50u64 {
        assert!(lim.check(&k, 0).allowed);
    }
    let d = lim.check(&1_000, 0);
    assert!(!d.allowed && d.retry_after_ns > 0);
    // Known keys still work.
    assert!(lim.check(&3, 0).allowed);
    assert!(lim.len() <= 50);
    // Once the keys are idle, new ones get in.
    assert!(lim.check(&1_000, 1_000_000_000).allowed);
}

/// A flood of 10 million distinct keys against a budget of 100 000: the
/// limiter never holds more keys than the budget, and its memory, counted by
/// capacity, stays under 36 bytes per budgeted key.
#[test]
fn flood_of_ten_million_keys_stays_bounded() {
    const BUDGET: usize = 100_000;
    let q = Quota::per_second(10).unwrap(); // each key idle 100 ms after its request
    let lim = KeyedLimiter::<u64>::builder(q)
        .max_keys(BUDGET)
        .build()
        .unwrap();
    let fixed = lim.memory_bytes();
    let mut max_len = 0;
    let mut max_bytes = 0;
    // 10 M keys at 2 M per second of simulated time: 200 000 would be
    // active at once, twice the budget.
    let mut batch = Vec::with_capacity(1_000);
    for chunk in 0..10_000u64 {
        batch.clear();
        batch
            .extend((0..1_000u64).map(|i| (chunk * 1_000 + i).wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        let now = chunk * 500_000; // 1000 keys per 0.5 ms
        if chunk % 2 == 0 {
            for k in &batch {
                assert!(lim.check(k, now).allowed);
            }
        } else {
            assert!(lim.check_many(&batch, now).iter().all(|d| d.allowed));
        }
        if chunk % 97 == 0 {
            max_len = max_len.max(lim.len());
            max_bytes = max_bytes.max(lim.memory_bytes());
        }
    }
    assert!(max_len <= BUDGET, "{max_len} keys held");
    assert!(
        max_len >= BUDGET * 95 / 100,
        "{max_len}: the budget is used"
    );
    let per_key = (max_bytes - fixed) as f64 / BUDGET as f64;
    assert!(per_key <= 36.0, "{per_key:.1} bytes per key");
}

/// A key that counts its live copies, and can be armed to panic in `hash`
/// or `eq` later (after copies of it are stored).
struct Counted {
    id: u64,
    live: Arc<AtomicIsize>,
    armed: Arc<AtomicBool>,
}

impl Counted {
    fn new(id: u64, live: &Arc<AtomicIsize>, armed: &Arc<AtomicBool>) -> Counted {
        live.fetch_add(1, Ordering::SeqCst);
        Counted {
            id,
            live: Arc::clone(live),
            armed: Arc::clone(armed),
        }
    }
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        Counted::new(self.id, &self.live, &self.armed)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Hash for Counted {
    fn hash<H: Hasher>(&self, h: &mut H) {
        if self.armed.load(Ordering::SeqCst) && self.id % 7 == 3 {
            panic!("armed hash");
        }
        self.id.hash(h);
    }
}

impl PartialEq for Counted {
    fn eq(&self, other: &Self) -> bool {
        if self.armed.load(Ordering::SeqCst) && self.id % 11 == 5 {
            panic!("armed eq");
        }
        self.id == other.id
    }
}

impl Eq for Counted {}

/// Every key stored is dropped exactly once, through growth, eviction of
/// idle keys, eviction when full, removal, reuse of idle slots, clearing,
/// panics in `Hash` and `Eq`, and the limiter's own drop.
#[test]
fn keys_are_dropped_exactly_once_even_through_panics() {
    let live = Arc::new(AtomicIsize::new(0));
    let armed = Arc::new(AtomicBool::new(false));
    {
        let q = Quota::per_period(1, 1_000).unwrap();
        let lim = KeyedLimiter::<Counted>::builder(q)
            .max_keys(300)
            .shards(2)
            .idle_tick_ns(50)
            .build()
            .unwrap();
        let mut now = 0;
        for round in 0..30u64 {
            for i in 0..200u64 {
                let k = Counted::new((round * 37 + i) % 500, &live, &armed);
                lim.check(&k, now);
                now += 3;
            }
            let some: Vec<Counted> = (0..50)
                .map(|i| Counted::new(i * 3, &live, &armed))
                .collect();
            lim.check_many(&some, now);
            for k in some.iter().take(10) {
                lim.remove(k);
            }
            if round % 5 == 4 {
                lim.evict_idle(now + 500);
            }
            if round == 20 {
                lim.clear();
            }
            assert!(lim.len() <= 300);
        }
        // Arm the panics: hashing some keys (during checks and rehashes) and
        // comparing some (during probes) now panics.
        armed.store(true, Ordering::SeqCst);
        let mut panics = 0;
        for i in 0..2_000u64 {
            let k = Counted::new(i, &live, &armed);
            let r = catch_unwind(AssertUnwindSafe(|| lim.check(&k, now)));
            panics += usize::from(r.is_err());
            now += 1;
        }
        assert!(panics > 0);
        armed.store(false, Ordering::SeqCst);
        // Still a working limiter.
        let k = Counted::new(1_000_000, &live, &armed);
        assert!(lim.check(&k, now).allowed);
        assert!(!lim.check(&k, now).allowed);
        let held = lim.len() as isize;
        // Ours: `k`; the limiter's: one per held key (plus none leaked).
        assert_eq!(live.load(Ordering::SeqCst), 1 + held);
        let entries = lim.entries();
        assert_eq!(entries.len() as isize, held);
        drop(entries);
        drop(k);
    }
    assert_eq!(live.load(Ordering::SeqCst), 0);
}

/// String keys (heap-owning) through growth and eviction.
#[test]
fn string_keys() {
    let lim = KeyedLimiter::<String>::builder(Quota::per_period(2, 1_000).unwrap())
        .max_keys(1_000)
        .build()
        .unwrap();
    for round in 0..5u64 {
        for i in 0..3_000u64 {
            let k = format!("user-{}", i % 1_500);
            lim.check(&k, round * 10_000 + i);
        }
    }
    assert!(lim.len() <= 1_000);
    let k = "user-1499".to_string();
    let first = lim.check(&k, 50_000);
    assert!(first.allowed);
    assert!(lim.check(&k, 50_000).allowed);
    assert!(!lim.check(&k, 50_000).allowed);
}

/// Threads running `check_many` (which holds two shard locks at a time,
/// hand over hand) and `check` on the same keys at once: no deadlock, and at
/// one instant each key admits exactly its burst, however the requests
/// interleave.
#[test]
fn concurrent_batches_admit_exactly_the_burst() {
    const KEYS: u64 = 500;
    const BURST: u32 = 5;
    let q = Quota::per_second(1).unwrap().with_burst(BURST).unwrap();
    let lim = KeyedLimiter::<u64>::builder(q).shards(16).build().unwrap();
    let now = 1_000_000_000;
    let admitted: Vec<Vec<u64>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4u64)
            .map(|t| {
                let lim = &lim;
                s.spawn(move || {
                    let mut mine = vec![0u64; KEYS as usize];
                    let mut x = t + 1;
                    for round in 0..200u64 {
                        let batch: Vec<u64> = (0..64)
                            .map(|_| {
                                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                                (x >> 33) % KEYS
                            })
                            .collect();
                        if round % 3 == t % 3 {
                            for k in &batch {
                                mine[*k as usize] += u64::from(lim.check(k, now).allowed);
                            }
                        } else {
                            for (k, d) in batch.iter().zip(lim.check_many(&batch, now)) {
                                mine[*k as usize] += u64::from(d.allowed);
                            }
                        }
                    }
                    mine
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // 4 threads x 200 x 64 requests over 500 keys: every key is asked far
    // more than its burst.
    for k in 0..KEYS as usize {
        let total: u64 = admitted.iter().map(|m| m[k]).sum();
        assert_eq!(total, BURST as u64, "key {k}");
    }
}
