//! Model tests: the filter against a `HashSet` oracle. A Bloom filter may say yes
//! to an item it never saw, but never no to one it did.

use std::collections::HashSet;

use hld_bloom::{AtomicBloomFilter, BloomFilter};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Insert(u16),
    InsertStr(String),
    Contains(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<u16>().prop_map(Op::Insert),
        "[a-z]{0,12}".prop_map(Op::InsertStr),
        any::<u16>().prop_map(Op::Contains),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn never_a_false_negative(
        ops in proptest::collection::vec(op(), 1..400),
        expected in 1usize..2_000,
        rate in prop_oneof![Just(0.5), Just(0.1), Just(0.01), Just(1e-5), Just(1e-12)],
        seed in any::<u64>(),
    ) {
        let mut f = BloomFilter::with_seed(expected, rate, seed).unwrap();
        let a = AtomicBloomFilter::with_seed(expected, rate, seed).unwrap();
        let mut nums = HashSet::new();
        let mut strs = HashSet::new();
        for op in ops {
            match op {
                Op::Insert(x) => {
                    let was_new = f.insert(&x);
                    prop_assert_eq!(a.insert(&x), was_new);
                    if !nums.insert(x) {
                        // Inserting again never reports new.
                        prop_assert!(!was_new);
                    }
                }
                Op::InsertStr(s) => {
                    let was_new = f.insert(s.as_str());
                    a.insert(s.as_str());
                    if !strs.insert(s) {
                        prop_assert!(!was_new);
                    }
                }
                Op::Contains(x) => {
                    let hit = f.contains(&x);
                    prop_assert_eq!(a.contains(&x), hit);
                    if nums.contains(&x) {
                        prop_assert!(hit);
                    }
                }
            }
            for x in &nums {
                prop_assert!(f.contains(x));
            }
            for s in &strs {
                prop_assert!(f.contains(s.as_str()));
            }
        }
        // The atomic filter holds exactly the same bits.
        prop_assert!(a.snapshot() == f);
    }

    #[test]
    fn union_contains_both_sides(
        left in proptest::collection::hash_set(any::<u64>(), 0..300),
        right in proptest::collection::hash_set(any::<u64>(), 0..300),
    ) {
        let mut a = BloomFilter::new(600, 0.01).unwrap();
        let mut b = BloomFilter::new(600, 0.01).unwrap();
        a.extend(&left);
        b.extend(&right);
        let atomic = AtomicBloomFilter::from(a.clone());
        a.union(&b).unwrap();
        atomic.union(&b).unwrap();
        for x in left.iter().chain(&right) {
            prop_assert!(a.contains(x));
            prop_assert!(atomic.contains(x));
        }
        // Union is the OR of the bits: the same as inserting everything in one.
        let mut all = BloomFilter::new(600, 0.01).unwrap();
        all.extend(left.iter().chain(&right));
        prop_assert!(all == a);
        prop_assert!(atomic.into_inner() == a);
    }
}

#[test]
fn many_threads_never_lose_an_insert() {
    let f = std::sync::Arc::new(AtomicBloomFilter::new(200_000, 0.01).unwrap());
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let f = f.clone();
            std::thread::spawn(move || {
                for i in 0..50_000u64 {
                    f.insert(&(i * 4 + t));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!((0..200_000u64).all(|i| f.contains(&i)));
    // Same bits as inserting serially.
    let mut serial = BloomFilter::new(200_000, 0.01).unwrap();
    serial.extend(0..200_000u64);
    assert!(f.snapshot() == serial);
}

#[test]
fn clear_and_is_empty() {
    let mut f = BloomFilter::new(100, 0.01).unwrap();
    assert!(f.is_empty());
    f.insert("x");
    assert!(!f.is_empty());
    f.clear();
    assert!(f.is_empty());
    assert!(!f.contains("x"));
}
