//! FeedCache against a sorted Vec, and pagination while posts arrive.

use std::collections::HashMap;

use hld_lru_feed::{FeedCache, Ranked};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Push(u8, u8, u64),
    Remove(u8, u8),
    Page(u8, Option<u8>, usize),
    PageAfter(u8, Option<(u64, u8)>, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..3, 0u8..40, 0u64..30).prop_map(|(u, p, s)| Op::Push(u, p, s)),
        1 => (0u8..3, 0u8..40).prop_map(|(u, p)| Op::Remove(u, p)),
        2 => (0u8..3, prop::option::of(0u8..40), 0usize..8).prop_map(|(u, a, n)| Op::Page(u, a, n)),
        2 => (0u8..3, prop::option::of((0u64..30, 0u8..40)), 0usize..8)
            .prop_map(|(u, a, n)| Op::PageAfter(u, a, n)),
    ]
}

/// Each feed as a Vec of (score, post), best first, truncated to the bound.
fn model_push(feed: &mut Vec<(u64, u8)>, per_user: usize, post: u8, score: u64) -> Option<u8> {
    if let Some(i) = feed.iter().position(|e| e.1 == post) {
        if feed[i].0 == score {
            return None;
        }
        feed.remove(i);
    }
    feed.push((score, post));
    feed.sort_by(|a, b| b.cmp(a));
    if feed.len() > per_user {
        feed.pop().map(|e| e.1)
    } else {
        None
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn feed_matches_a_sorted_vec(per_user in 1usize..12, ops in prop::collection::vec(op(), 1..200)) {
        let mut f = FeedCache::new(per_user).unwrap();
        let mut m: HashMap<u8, Vec<(u64, u8)>> = HashMap::new();
        for op in ops {
            match op {
                Op::Push(u, p, s) => {
                    let want = model_push(m.entry(u).or_default(), per_user, p, s);
                    prop_assert_eq!(f.push(u, p, s), want);
                }
                Op::Remove(u, p) => {
                    let feed = m.entry(u).or_default();
                    let want = feed.iter().position(|e| e.1 == p).map(|i| feed.remove(i).0);
                    prop_assert_eq!(f.remove(&u, &p), want);
                }
                Op::Page(u, after, n) => {
                    let feed = m.get(&u).cloned().unwrap_or_default();
                    let want: Vec<u8> = match after {
                        None => feed.iter().take(n).map(|e| e.1).collect(),
                        Some(a) => match feed.iter().position(|e| e.1 == a) {
                            Some(i) => feed[i + 1..].iter().take(n).map(|e| e.1).collect(),
                            None => Vec::new(),
                        },
                    };
                    prop_assert_eq!(f.page(&u, after.as_ref(), n), want);
                }
                Op::PageAfter(u, after, n) => {
                    let feed = m.get(&u).cloned().unwrap_or_default();
                    let want: Vec<Ranked<u8>> = feed
                        .iter()
                        .filter(|e| after.is_none_or(|c| **e < c))
                        .take(n)
                        .map(|&(score, post)| Ranked { score, post })
                        .collect();
                    let cursor = after.map(|(score, post)| Ranked { score, post });
                    prop_assert_eq!(f.page_after(&u, cursor.as_ref(), n), want);
                }
            }
            let total: usize = m.values().map(Vec::len).sum();
            prop_assert_eq!(f.len(), total);
            for (u, feed) in &m {
                let got: Vec<(u64, u8)> = f.iter(u).map(|(p, s)| (s, *p)).collect();
                prop_assert_eq!(&got, feed);
            }
        }
    }

    /// Page through a feed while new posts keep arriving on top: every post
    /// that was in the feed when paging started is seen exactly once (the
    /// bound is large enough that none of them is evicted meanwhile).
    #[test]
    fn paging_while_posts_arrive_has_no_repeats_or_gaps(
        initial in 1u64..200,
        page in 1usize..25,
        arrivals in 0u64..5,
    ) {
        let mut f = FeedCache::new(1_200).unwrap();
        for post in 0..initial {
            f.push("u", post, post * 10);
        }
        let mut seen: Vec<u64> = Vec::new();
        let mut next_post = initial;
        let mut cursor: Option<u64> = None;
        loop {
            let got = f.page(&"u", cursor.as_ref(), page);
            if got.is_empty() {
                break;
            }
            seen.extend(&got);
            cursor = got.last().copied();
            for _ in 0..arrivals {
                f.push("u", next_post, next_post * 10);
                next_post += 1;
            }
        }
        let want: Vec<u64> = (0..initial).rev().collect();
        prop_assert_eq!(seen, want);
    }
}
