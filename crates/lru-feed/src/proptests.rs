//! Model-based property tests that also check internal invariants after
//! every operation (so they live inside the crate).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use proptest::prelude::*;

use crate::{Cache, ExpiryMap, LruCache};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

#[derive(Clone, Debug)]
enum LruOp {
    Get(u8),
    GetMut(u8),
    Put(u8, u16),
    Peek(u8),
    Remove(u8),
    PopLru,
    Resize(usize),
}

fn lru_op() -> impl Strategy<Value = LruOp> {
    prop_oneof![
        4 => any::<u8>().prop_map(|k| LruOp::Get(k % 24)),
        1 => any::<u8>().prop_map(|k| LruOp::GetMut(k % 24)),
        5 => (any::<u8>(), any::<u16>()).prop_map(|(k, v)| LruOp::Put(k % 24, v)),
        1 => any::<u8>().prop_map(|k| LruOp::Peek(k % 24)),
        2 => any::<u8>().prop_map(|k| LruOp::Remove(k % 24)),
        1 => Just(LruOp::PopLru),
        1 => (0usize..12).prop_map(LruOp::Resize),
    ]
}

/// The obvious LRU: a Vec, most recently used first.
struct VecLru {
    items: Vec<(u8, u16)>,
    cap: usize,
}

impl VecLru {
    fn touch(&mut self, k: u8) -> Option<u16> {
        let i = self.items.iter().position(|e| e.0 == k)?;
        let e = self.items.remove(i);
        self.items.insert(0, e);
        Some(e.1)
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn lru_matches_a_vec_model(cap in 1usize..10, ops in prop::collection::vec(lru_op(), 1..200)) {
        let mut c = LruCache::new(cap).unwrap();
        let mut m = VecLru { items: Vec::new(), cap };
        for op in ops {
            match op {
                LruOp::Get(k) => prop_assert_eq!(c.get(&k).copied(), m.touch(k)),
                LruOp::GetMut(k) => {
                    let got = c.get_mut(&k).map(|v| { *v = v.wrapping_add(1); *v });
                    let want = m.touch(k).map(|_| { m.items[0].1 = m.items[0].1.wrapping_add(1); m.items[0].1 });
                    prop_assert_eq!(got, want);
                }
                LruOp::Put(k, v) => {
                    let want = if let Some(old) = m.touch(k) {
                        m.items[0].1 = v;
                        Some((k, old))
                    } else {
                        m.items.insert(0, (k, v));
                        if m.items.len() > m.cap { m.items.pop() } else { None }
                    };
                    prop_assert_eq!(c.put(k, v), want);
                }
                LruOp::Peek(k) => prop_assert_eq!(
                    c.peek(&k).copied(),
                    m.items.iter().find(|e| e.0 == k).map(|e| e.1)
                ),
                LruOp::Remove(k) => {
                    let want = m.items.iter().position(|e| e.0 == k).map(|i| m.items.remove(i).1);
                    prop_assert_eq!(c.remove(&k), want);
                }
                LruOp::PopLru => prop_assert_eq!(c.pop_lru(), m.items.pop()),
                LruOp::Resize(n) => {
                    let got = c.resize(n);
                    if n == 0 {
                        prop_assert!(got.is_err());
                    } else {
                        let mut want = Vec::new();
                        while m.items.len() > n { want.push(m.items.pop().unwrap()); }
                        m.cap = n;
                        prop_assert_eq!(got.unwrap(), want);
                    }
                }
            }
            prop_assert_eq!(c.len(), m.items.len());
            prop_assert_eq!(c.capacity(), m.cap);
            let order: Vec<(u8, u16)> = c.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(&order, &m.items);
            let back: Vec<(u8, u16)> = c.iter().rev().map(|(k, v)| (*k, *v)).collect();
            prop_assert!(back.iter().eq(m.items.iter().rev()));
            prop_assert_eq!(c.peek_lru().map(|(k, v)| (*k, *v)), m.items.last().copied());
        }
    }
}

/// S3-FIFO written the obvious way, from the paper: VecDeques for the
/// queues, exact sets for the ghost's two generations.
struct S3Model {
    cap: usize,
    small_target: usize,
    small: VecDeque<u8>,
    main: VecDeque<u8>,
    values: HashMap<u8, (u16, u8)>,
    ghost_young: HashSet<u8>,
    ghost_old: HashSet<u8>,
    in_young: usize,
    generation: usize,
}

impl S3Model {
    fn new(cap: usize) -> S3Model {
        S3Model {
            cap,
            small_target: (cap / 10).max(1),
            small: VecDeque::new(),
            main: VecDeque::new(),
            values: HashMap::new(),
            ghost_young: HashSet::new(),
            ghost_old: HashSet::new(),
            in_young: 0,
            generation: (cap * 90 / 100 / 2).max(1),
        }
    }

    fn hit(&mut self, k: u8) -> Option<u16> {
        let e = self.values.get_mut(&k)?;
        e.1 = (e.1 + 1).min(3);
        Some(e.0)
    }

    fn ghost_insert(&mut self, k: u8) {
        if self.in_young == self.generation {
            self.ghost_old = std::mem::take(&mut self.ghost_young);
            self.in_young = 0;
        }
        self.ghost_young.insert(k);
        self.in_young += 1;
    }

    fn evict(&mut self) -> u8 {
        loop {
            if self.small.len() >= self.small_target || self.main.is_empty() {
                let k = self.small.pop_front().unwrap();
                let e = self.values.get_mut(&k).unwrap();
                if e.1 > 0 {
                    e.1 = 0;
                    self.main.push_back(k);
                    continue;
                }
                self.ghost_insert(k);
                return k;
            }
            loop {
                let k = self.main.pop_front().unwrap();
                let e = self.values.get_mut(&k).unwrap();
                if e.1 > 0 {
                    e.1 -= 1;
                    self.main.push_back(k);
                } else {
                    return k;
                }
            }
        }
    }

    /// `ghost_says`: what the cache's (probabilistic) ghost answered; it must
    /// agree with the exact one except for false positives.
    fn put(&mut self, k: u8, v: u16, ghost_says: bool) -> Result<Option<(u8, u16)>, String> {
        if let Some(e) = self.values.get_mut(&k) {
            e.1 = (e.1 + 1).min(3);
            let old = std::mem::replace(&mut e.0, v);
            return Ok(Some((k, old)));
        }
        let exact = self.ghost_young.contains(&k) || self.ghost_old.contains(&k);
        if exact && !ghost_says {
            return Err(format!("ghost forgot {k}"));
        }
        let mut evicted = None;
        if self.values.len() == self.cap {
            let victim = self.evict();
            let (val, _) = self.values.remove(&victim).unwrap();
            evicted = Some((victim, val));
        }
        self.values.insert(k, (v, 0));
        if ghost_says {
            self.main.push_back(k);
        } else {
            self.small.push_back(k);
        }
        Ok(evicted)
    }

    fn remove(&mut self, k: u8) -> Option<u16> {
        let (v, _) = self.values.remove(&k)?;
        self.small.retain(|&x| x != k);
        self.main.retain(|&x| x != k);
        Some(v)
    }
}

#[derive(Clone, Debug)]
enum CacheOp {
    Get(u8),
    Put(u8, u16),
    Peek(u8),
    Remove(u8),
}

fn cache_op(keys: u8) -> impl Strategy<Value = CacheOp> {
    prop_oneof![
        5 => any::<u8>().prop_map(move |k| CacheOp::Get(k % keys)),
        5 => (any::<u8>(), any::<u16>()).prop_map(move |(k, v)| CacheOp::Put(k % keys, v)),
        1 => any::<u8>().prop_map(move |k| CacheOp::Peek(k % keys)),
        1 => any::<u8>().prop_map(move |k| CacheOp::Remove(k % keys)),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn s3fifo_matches_the_paper_model(
        cap in 1usize..24,
        ops in prop::collection::vec(cache_op(40), 1..300),
    ) {
        let mut c = Cache::new(cap).unwrap();
        let mut m = S3Model::new(cap);
        for op in ops {
            match op {
                CacheOp::Get(k) => prop_assert_eq!(c.get(&k).copied(), m.hit(k)),
                CacheOp::Put(k, v) => {
                    let ghost_says = !c.contains_key(&k) && c.ghost_contains(&k);
                    let want = m.put(k, v, ghost_says).map_err(TestCaseError::fail)?;
                    prop_assert_eq!(c.put(k, v), want);
                }
                CacheOp::Peek(k) => prop_assert_eq!(
                    c.peek(&k).copied(),
                    m.values.get(&k).map(|e| e.0)
                ),
                CacheOp::Remove(k) => prop_assert_eq!(c.remove(&k), m.remove(k)),
            }
            c.check_invariants();
            prop_assert_eq!(c.len(), m.values.len());
            prop_assert!(c.len() <= cap);
            let mut got: Vec<(u8, u16)> = c.iter().map(|(k, v)| (*k, *v)).collect();
            got.sort_unstable();
            let mut want: Vec<(u8, u16)> = m.values.iter().map(|(k, e)| (*k, e.0)).collect();
            want.sort_unstable();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn s3fifo_basic_invariants_on_larger_runs(
        cap in 1usize..200,
        ops in prop::collection::vec(cache_op(255), 1..1500),
    ) {
        let mut c = Cache::new(cap).unwrap();
        let mut last_put = HashMap::new();
        for op in ops {
            match op {
                CacheOp::Get(k) | CacheOp::Peek(k) => {
                    // Whatever is cached holds the value last put.
                    if let Some(v) = c.get(&k) {
                        prop_assert_eq!(Some(v), last_put.get(&k));
                    }
                }
                CacheOp::Put(k, v) => {
                    let out = c.put(k, v);
                    if let Some((ek, ev)) = out {
                        if ek != k {
                            prop_assert_eq!(Some(&ev), last_put.get(&ek));
                            prop_assert!(!c.contains_key(&ek));
                        }
                    }
                    last_put.insert(k, v);
                    prop_assert_eq!(c.peek(&k), Some(&v));
                }
                CacheOp::Remove(k) => {
                    let got = c.remove(&k);
                    if let Some(v) = got {
                        prop_assert_eq!(Some(&v), last_put.get(&k));
                    }
                    prop_assert!(!c.contains_key(&k));
                }
            }
            prop_assert!(c.len() <= cap);
        }
        c.check_invariants();
    }
}

#[derive(Clone, Debug)]
enum ExpOp {
    Insert(u8, u16, u64),
    Remove(u8),
    Get(u8),
    SetDeadline(u8, u64),
    Expire(u64),
    PopExpired(u64),
    Clear,
}

fn exp_op(in_order: bool) -> impl Strategy<Value = ExpOp> {
    let deadline = if in_order { 0u64..4 } else { 0u64..200 };
    prop_oneof![
        5 => (any::<u8>(), any::<u16>(), deadline.clone()).prop_map(|(k, v, d)| ExpOp::Insert(k % 32, v, d)),
        3 => any::<u8>().prop_map(|k| ExpOp::Remove(k % 32)),
        1 => any::<u8>().prop_map(|k| ExpOp::Get(k % 32)),
        1 => (any::<u8>(), deadline).prop_map(|(k, d)| ExpOp::SetDeadline(k % 32, d)),
        1 => (0u64..220).prop_map(ExpOp::Expire),
        1 => (0u64..220).prop_map(ExpOp::PopExpired),
        1 => Just(ExpOp::Clear),
    ]
}

/// `(deadline, insertion number) -> key` plus `key -> (value, order key)`.
#[derive(Default)]
struct ExpModel {
    order: BTreeMap<(u64, u64), u8>,
    entries: HashMap<u8, (u16, (u64, u64))>,
    seq: u64,
}

impl ExpModel {
    fn insert(&mut self, k: u8, v: u16, d: u64) -> Option<u16> {
        let old = self.remove(k);
        self.order.insert((d, self.seq), k);
        self.entries.insert(k, (v, (d, self.seq)));
        self.seq += 1;
        old
    }
    fn remove(&mut self, k: u8) -> Option<u16> {
        let (v, at) = self.entries.remove(&k)?;
        self.order.remove(&at);
        Some(v)
    }
    fn pop_expired(&mut self, now: u64) -> Option<(u8, u16, u64)> {
        let (&(d, s), &k) = self.order.iter().next()?;
        if d > now {
            return None;
        }
        self.order.remove(&(d, s));
        let (v, _) = self.entries.remove(&k).unwrap();
        Some((k, v, d))
    }
}

fn run_expiry(ops: Vec<ExpOp>, in_order: bool) -> Result<(), TestCaseError> {
    let mut m = ExpiryMap::new();
    let mut model = ExpModel::default();
    // In-order runs add a clock that only moves forward, so that most
    // deadlines arrive sorted (the ring) with small reorderings.
    let mut clock = 0;
    for op in ops {
        match op {
            ExpOp::Insert(k, v, d) => {
                let d = if in_order { clock + d } else { d };
                clock += u64::from(in_order);
                prop_assert_eq!(m.insert(k, v, d), model.insert(k, v, d));
            }
            ExpOp::Remove(k) => prop_assert_eq!(m.remove(&k), model.remove(k)),
            ExpOp::Get(k) => {
                prop_assert_eq!(m.get(&k), model.entries.get(&k).map(|e| &e.0));
                prop_assert_eq!(m.deadline(&k), model.entries.get(&k).map(|e| e.1 .0));
            }
            ExpOp::SetDeadline(k, d) => {
                let d = if in_order { clock + d } else { d };
                let had = model.entries.get(&k).map(|e| e.0);
                if let Some(v) = had {
                    model.insert(k, v, d);
                }
                prop_assert_eq!(m.set_deadline(&k, d), had.is_some());
            }
            ExpOp::Expire(now) => {
                let now = if in_order { clock / 2 + now / 8 } else { now };
                let mut want = Vec::new();
                while let Some((k, v, _)) = model.pop_expired(now) {
                    want.push((k, v));
                }
                prop_assert_eq!(m.expire(now), want);
            }
            ExpOp::PopExpired(now) => {
                let now = if in_order { clock / 2 + now / 8 } else { now };
                prop_assert_eq!(m.pop_expired(now), model.pop_expired(now));
            }
            ExpOp::Clear => {
                m.clear();
                model.order.clear();
                model.entries.clear();
            }
        }
        m.check_invariants();
        prop_assert_eq!(m.len(), model.entries.len());
        prop_assert_eq!(m.next_deadline(), model.order.keys().next().map(|k| k.0));
    }
    let all: Vec<(u8, u16)> = m.expire(u64::MAX);
    let mut want = Vec::new();
    while let Some((k, v, _)) = model.pop_expired(u64::MAX) {
        want.push((k, v));
    }
    prop_assert_eq!(all, want);
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn expiry_matches_a_btreemap_with_arbitrary_deadlines(ops in prop::collection::vec(exp_op(false), 1..300)) {
        run_expiry(ops, false)?;
    }

    #[test]
    fn expiry_matches_a_btreemap_with_mostly_ordered_deadlines(ops in prop::collection::vec(exp_op(true), 1..300)) {
        run_expiry(ops, true)?;
    }
}
