//! BoundedLoad: the cap holds under churn, assignment follows the paper's
//! rule, reported moves are exactly what changed.

use hld_consistent_hash::{BoundedLoad, Error, Move};
use proptest::prelude::*;
use std::collections::HashMap;

fn cap(c: f64, keys: usize, nodes: usize) -> usize {
    if nodes == 0 {
        0
    } else {
        ((c * keys as f64 / nodes as f64).ceil() as usize).max(keys.div_ceil(nodes))
    }
}

#[test]
fn bad_input() {
    for c in [f64::NAN, 0.5, 0.0, -1.0, f64::INFINITY] {
        assert_eq!(
            BoundedLoad::<u32, u32>::new(c, 10).unwrap_err(),
            Error::BadBalance
        );
    }
    assert_eq!(
        BoundedLoad::<u32, u32>::new(1.25, 0).unwrap_err(),
        Error::ZeroVnodes
    );
    let mut b: BoundedLoad<u32, u32> = BoundedLoad::new(1.25, 10).unwrap();
    assert_eq!(b.assign(1).unwrap_err(), Error::NoNodes);
    assert_eq!(b.release(&1), None);
    assert_eq!(b.remove_node(&1), None);
    assert_eq!(b.capacity(), 0);
    assert_eq!(b.node_of(&1), None);
}

#[test]
fn last_node_leaving_unassigns_its_keys() {
    let mut b: BoundedLoad<&str, u32> = BoundedLoad::new(1.5, 10).unwrap();
    b.add_node("only").unwrap();
    for k in 0..5 {
        assert_eq!(*b.assign(k).unwrap(), "only");
    }
    let moves = b.remove_node(&"only").unwrap();
    assert_eq!(moves.len(), 5);
    assert!(moves.iter().all(|m| m.from == "only" && m.to.is_none()));
    assert!(b.is_empty());
}

/// The whole state checked against a model map that only learns through the
/// returned moves, plus the cap.
fn check(
    b: &BoundedLoad<u32, u32>,
    model: &HashMap<u32, u32>,
    c: f64,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(b.len(), model.len());
    let cap = cap(c, b.len(), b.node_count());
    prop_assert_eq!(b.capacity(), cap);
    let mut sum = 0;
    for (node, load) in b.loads() {
        prop_assert!(load <= cap, "node {} load {} cap {}", node, load, cap);
        let keys = b.keys_on(node).unwrap();
        prop_assert_eq!(keys.len(), load);
        for k in keys {
            prop_assert_eq!(model.get(k), Some(node));
        }
        sum += load;
    }
    prop_assert_eq!(sum, model.len());
    for (k, n) in model {
        prop_assert_eq!(b.node_of(k), Some(n));
    }
    Ok(())
}

fn apply(model: &mut HashMap<u32, u32>, moves: &[Move<u32, u32>]) -> Result<(), TestCaseError> {
    for m in moves {
        prop_assert_eq!(model.get(&m.key), Some(&m.from));
        match m.to {
            Some(t) => {
                prop_assert_ne!(t, m.from);
                model.insert(m.key, t);
            }
            None => {
                model.remove(&m.key);
            }
        }
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum Op {
    Assign(u32),
    Release(u32),
    AddNode(u32),
    RemoveNode(u32),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn cap_holds_under_churn(
        c in prop_oneof![Just(1.0), Just(1.1), Just(1.25), Just(2.0)],
        ops in proptest::collection::vec(prop_oneof![
            6 => (0..300u32).prop_map(Op::Assign),
            4 => (0..300u32).prop_map(Op::Release),
            1 => (0..12u32).prop_map(Op::AddNode),
            1 => (0..12u32).prop_map(Op::RemoveNode),
        ], 1..400),
    ) {
        let mut b: BoundedLoad<u32, u32> = BoundedLoad::new(c, 8).unwrap();
        let mut model: HashMap<u32, u32> = HashMap::new();
        for op in ops {
            match op {
                Op::Assign(k) => {
                    if b.node_count() == 0 {
                        prop_assert_eq!(b.assign(k).unwrap_err(), Error::NoNodes);
                        continue;
                    }
                    if let Some(&n) = model.get(&k) {
                        prop_assert_eq!(*b.assign(k).unwrap(), n);
                        continue;
                    }
                    // The paper's rule: first node clockwise below the new cap.
                    let newcap = cap(c, model.len() + 1, b.node_count());
                    let order = b.ring().nodes_for(&k, b.node_count());
                    let want = **order
                        .iter()
                        .find(|n| b.load(n).unwrap() < newcap)
                        .unwrap();
                    let got = *b.assign(k).unwrap();
                    prop_assert_eq!(got, want);
                    model.insert(k, got);
                }
                Op::Release(k) => {
                    let r = b.release(&k);
                    prop_assert_eq!(r.is_some(), model.remove(&k).is_some());
                    if let Some(moves) = r {
                        apply(&mut model, &moves)?;
                    }
                }
                Op::AddNode(n) => {
                    let moves = b.add_node(n).unwrap();
                    apply(&mut model, &moves)?;
                    for m in &moves {
                        prop_assert!(m.to.is_some());
                    }
                }
                Op::RemoveNode(n) => {
                    if let Some(moves) = b.remove_node(&n) {
                        prop_assert!(moves.iter().all(|m| m.from == n));
                        apply(&mut model, &moves)?;
                    }
                }
            }
            check(&b, &model, c)?;
        }
    }
}

#[test]
fn long_churn_keeps_the_cap_and_moves_little() {
    let c = 1.25;
    let mut b: BoundedLoad<u32, u64> = BoundedLoad::new(c, 50).unwrap();
    for n in 0..20 {
        b.add_node(n).unwrap();
    }
    let mut x = 1u64;
    let mut live: Vec<u64> = Vec::new();
    let mut moved = 0usize;
    let mut releases = 0usize;
    for step in 0..40_000u64 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        if live.len() < 2000 || (x >> 60) < 9 {
            b.assign(step).unwrap();
            live.push(step);
        } else {
            let i = ((x >> 20) as usize) % live.len();
            let k = live.swap_remove(i);
            moved += b.release(&k).unwrap().len();
            releases += 1;
        }
        if step % 997 == 0 {
            let cap = cap(c, b.len(), b.node_count());
            assert!(b.loads().all(|(_, l)| l <= cap));
        }
    }
    let cap = cap(c, b.len(), b.node_count());
    assert!(b.loads().all(|(_, l)| l <= cap));
    // Moves per release stay O(1) (paper: O(1/(c-1)^2) expected).
    assert!(releases > 10_000);
    assert!(
        moved < releases,
        "{moved} moves for about {releases} releases"
    );
}
