//! Per-user bounded feeds with cursor pagination (news feed, section 4 of
//! the notes).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;

use ahash::RandomState;

use crate::error::{check_capacity, Error};

/// A post with its ranking score: an item of a page, and a cursor for the
/// next one ([`FeedCache::page_after`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ranked<P> {
    /// The score the feed is ordered by (higher first).
    pub score: u64,
    /// The post.
    pub post: P,
}

#[derive(Clone)]
struct UserFeed<P> {
    /// Ascending by `(score, post)`: the back is the top of the feed, the
    /// front the next to fall off. New posts usually rank highest, so they
    /// land at the back in O(1); the front leaves in O(1).
    items: VecDeque<(u64, P)>,
    /// `post -> score`: finds a cursor's place and spots a re-pushed post.
    index: HashMap<P, u64, RandomState>,
}

impl<P: Hash + Ord + Clone> UserFeed<P> {
    fn new() -> UserFeed<P> {
        UserFeed {
            items: VecDeque::new(),
            index: HashMap::default(),
        }
    }

    /// Number of items ranked strictly below `(score, post)`.
    fn below(&self, score: u64, post: &P) -> usize {
        self.items.partition_point(|(s, p)| (*s, p) < (score, post))
    }

    /// Items strictly below `after` (all if `None`), best first.
    fn before(&self, after: Option<(u64, &P)>) -> impl Iterator<Item = &(u64, P)> + '_ {
        let end = match after {
            Some((s, p)) => self.below(s, p),
            None => self.items.len(),
        };
        self.items.range(..end).rev()
    }

    fn remove(&mut self, post: &P) -> Option<u64> {
        let score = self.index.remove(post)?;
        let at = self.below(score, post);
        self.items.remove(at);
        Some(score)
    }
}

/// Per-user feeds, each bounded to the best `per_user` posts, read a page at
/// a time by cursor.
///
/// The news feed in the notes: feeds are generated ahead of time and kept in
/// cache servers sharded by user id, a few hundred posts per user; the client
/// asks for the top of its feed, then sends the last post it has and gets the
/// next 20 ("whenever user scrolls, he will give the last post and next 20
/// posts from that will be given"). The fan-out service pushes each new post
/// into every follower's feed.
///
/// **Order.** Higher score first; equal scores by post, larger first (with
/// post ids that grow over time, newer first). `(score, post)` is a total
/// order, so a page boundary is never ambiguous.
///
/// **Pagination stays consistent while posts arrive.** A page after a cursor
/// holds the posts ranked strictly below the cursor, best first. A new post
/// that ranks above the cursor lands on pages the client has already passed
/// (it sees it when it refreshes the top): no repeats, and no post ranked
/// below the cursor is skipped. A post pushed again with a new score moves.
///
/// **Bounded.** When a feed is full, a push that ranks below all of it is
/// refused and one that ranks above evicts the lowest post; `push` returns
/// the post that fell off. [`page`](Self::page) finds the cursor post's score
/// in the feed; if the cursor has fallen off the bounded feed (or was
/// removed) it returns an empty page: nothing cached ranks below it, and a
/// server then reads older posts from the feed store.
/// [`page_after`](Self::page_after) takes a cursor that carries its score
/// ([`Ranked`]), and keeps paging correctly even after the cursor post left.
///
/// Costs, with n = `per_user`: `push` O(log n) plus a shift of the posts
/// ranked above the new one (none for the newest); `page` O(log n + page).
///
/// ```
/// use hld_lru_feed::FeedCache;
///
/// let mut feeds = FeedCache::new(500)?; // 500 posts a user, as in the notes
/// for post in 1..=50u64 {
///     feeds.push("alice", post, 1_000 + post); // score: creation time
/// }
/// let first = feeds.page(&"alice", None, 20);
/// assert_eq!(first[..3], [50, 49, 48]);
/// feeds.push("alice", 51, 1_051); // a new post arrives while she scrolls
/// let second = feeds.page(&"alice", first.last(), 20);
/// assert_eq!(second[..2], [30, 29]); // no repeat, no gap
/// # Ok::<(), hld_lru_feed::Error>(())
/// ```
#[derive(Clone)]
pub struct FeedCache<U, P> {
    per_user: usize,
    users: HashMap<U, UserFeed<P>, RandomState>,
    posts: usize,
}

impl<U: Hash + Eq, P: Hash + Ord + Clone> FeedCache<U, P> {
    /// An empty cache keeping the best `per_user` posts of each user (zero is
    /// an `Err`).
    pub fn new(per_user: usize) -> Result<FeedCache<U, P>, Error> {
        check_capacity(per_user)?;
        Ok(FeedCache {
            per_user,
            users: HashMap::default(),
            posts: 0,
        })
    }

    /// Puts `post` with `score` into `user`'s feed (re-ranks it if already
    /// there). Returns the post that is not in the feed because of this push:
    /// the lowest one evicted from a full feed, or `post` itself if it ranks
    /// below everything in a full feed.
    pub fn push(&mut self, user: U, post: P, score: u64) -> Option<P> {
        let per_user = self.per_user;
        let feed = self.users.entry(user).or_insert_with(UserFeed::new);
        if let Some(&old) = feed.index.get(&post) {
            if old == score {
                return None;
            }
            feed.remove(&post);
            self.posts -= 1;
        }
        if feed.items.len() >= per_user {
            let (ms, mp) = &feed.items[0];
            if (score, &post) < (*ms, mp) {
                return Some(post);
            }
        }
        let at = feed.below(score, &post);
        feed.index.insert(post.clone(), score);
        feed.items.insert(at, (score, post));
        self.posts += 1;
        if feed.items.len() > per_user {
            let (_, out) = feed.items.pop_front()?;
            feed.index.remove(&out);
            self.posts -= 1;
            return Some(out);
        }
        None
    }

    /// The next `n` posts of `user`'s feed after the post `after` (from the
    /// top if `None`), best first. Empty if the user has no feed, or if
    /// `after` is not in it (fallen off the bounded feed, or removed): use
    /// [`page_after`](Self::page_after) to page past evicted posts.
    pub fn page(&self, user: &U, after: Option<&P>, n: usize) -> Vec<P> {
        let Some(feed) = self.users.get(user) else {
            return Vec::new();
        };
        let after = match after {
            None => None,
            Some(p) => match feed.index.get(p) {
                Some(&s) => Some((s, p)),
                None => return Vec::new(),
            },
        };
        feed.before(after).take(n).map(|(_, p)| p.clone()).collect()
    }

    /// The next `n` entries ranked strictly below the cursor `after` (from the
    /// top if `None`), best first, with their scores; the last one is the
    /// cursor for the next page. Works whether or not the cursor's post is
    /// still cached.
    pub fn page_after(&self, user: &U, after: Option<&Ranked<P>>, n: usize) -> Vec<Ranked<P>> {
        let Some(feed) = self.users.get(user) else {
            return Vec::new();
        };
        feed.before(after.map(|c| (c.score, &c.post)))
            .take(n)
            .map(|(s, p)| Ranked {
                score: *s,
                post: p.clone(),
            })
            .collect()
    }

    /// How many posts of `user`'s feed rank at or above the cursor `after`:
    /// the position where [`page_after`](Self::page_after)`(user,
    /// Some(after), _)` starts. O(log n), whether or not the cursor's post is
    /// in this feed.
    ///
    /// A read that merges several feeds into one (a user's cached feed and
    /// the timelines of the celebrities it follows) sums it over the sources
    /// to find a page's place in the merged feed, e.g. to cut the merged feed
    /// at the same bound as one cached feed.
    pub fn position_after(&self, user: &U, after: &Ranked<P>) -> usize {
        self.users
            .get(user)
            .map_or(0, |f| f.items.len() - f.below(after.score, &after.post))
    }

    /// The cursor for `post` in `user`'s feed (its score with it).
    pub fn cursor(&self, user: &U, post: &P) -> Option<Ranked<P>> {
        self.score(user, post).map(|score| Ranked {
            score,
            post: post.clone(),
        })
    }

    /// The score of `post` in `user`'s feed.
    pub fn score(&self, user: &U, post: &P) -> Option<u64> {
        self.users.get(user)?.index.get(post).copied()
    }

    /// Removes `post` from `user`'s feed (deleted or hidden), returning its
    /// score.
    pub fn remove(&mut self, user: &U, post: &P) -> Option<u64> {
        let feed = self.users.get_mut(user)?;
        let s = feed.remove(post)?;
        self.posts -= 1;
        if feed.items.is_empty() {
            self.users.remove(user);
        }
        Some(s)
    }

    /// Drops `user`'s whole feed (an inactive user); returns whether it existed.
    pub fn remove_user(&mut self, user: &U) -> bool {
        match self.users.remove(user) {
            Some(f) => {
                self.posts -= f.items.len();
                true
            }
            None => false,
        }
    }

    /// `user`'s feed, best first, with scores.
    pub fn iter(&self, user: &U) -> impl Iterator<Item = (&P, u64)> + '_ {
        self.users
            .get(user)
            .into_iter()
            .flat_map(|f| f.items.iter().rev().map(|(s, p)| (p, *s)))
    }

    /// Posts in `user`'s feed.
    pub fn feed_len(&self, user: &U) -> usize {
        self.users.get(user).map_or(0, |f| f.items.len())
    }
}

impl<U, P> FeedCache<U, P> {
    /// Posts across all feeds.
    pub fn len(&self) -> usize {
        self.posts
    }

    /// Whether no feed holds a post.
    pub fn is_empty(&self) -> bool {
        self.posts == 0
    }

    /// Users with a feed.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// The bound on each feed.
    pub fn per_user(&self) -> usize {
        self.per_user
    }

    /// Drops every feed.
    pub fn clear(&mut self) {
        self.users.clear();
        self.posts = 0;
    }
}

impl<U: Hash + Eq, P: Hash + Ord + Clone> Extend<(U, P, u64)> for FeedCache<U, P> {
    fn extend<I: IntoIterator<Item = (U, P, u64)>>(&mut self, iter: I) {
        for (u, p, s) in iter {
            self.push(u, p, s);
        }
    }
}

impl<U: fmt::Debug, P: fmt::Debug> fmt::Debug for FeedCache<U, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeedCache")
            .field("per_user", &self.per_user)
            .field("users", &self.users.len())
            .field("posts", &self.posts)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_feed_evicts_lowest_and_refuses_lower() {
        let mut f = FeedCache::new(3).unwrap();
        assert_eq!(f.push(1, 'a', 10), None);
        assert_eq!(f.push(1, 'b', 20), None);
        assert_eq!(f.push(1, 'c', 30), None);
        assert_eq!(f.push(1, 'd', 5), Some('d'));
        assert_eq!(f.push(1, 'e', 25), Some('a'));
        assert_eq!(f.page(&1, None, 10), ['c', 'e', 'b']);
        assert_eq!(f.page(&1, Some(&'a'), 10), Vec::<char>::new()); // fell off
        assert_eq!(f.len(), 3);
        assert_eq!(
            FeedCache::<u8, u8>::new(0).unwrap_err(),
            Error::ZeroCapacity
        );
    }

    #[test]
    fn ties_break_by_post_and_rescoring_moves() {
        let mut f = FeedCache::new(10).unwrap();
        f.extend([("u", 1, 7), ("u", 3, 7), ("u", 2, 7), ("u", 9, 1)]);
        assert_eq!(f.page(&"u", None, 10), [3, 2, 1, 9]);
        assert_eq!(f.push("u", 9, 100), None);
        assert_eq!(f.push("u", 9, 100), None);
        assert_eq!(f.page(&"u", None, 2), [9, 3]);
        assert_eq!(f.page(&"u", Some(&3), 2), [2, 1]);
        assert_eq!(f.score(&"u", &9), Some(100));
        assert_eq!(f.len(), 4);
        assert_eq!(
            f.iter(&"u").map(|(p, _)| *p).collect::<Vec<_>>(),
            [9, 3, 2, 1]
        );
    }

    #[test]
    fn cursor_with_score_survives_eviction() {
        let mut f = FeedCache::new(4).unwrap();
        for p in 0..4u32 {
            f.push((), p, u64::from(p) * 10);
        }
        let page = f.page_after(&(), None, 2); // 3, 2
        let cur = page.last().unwrap().clone();
        assert_eq!(cur, Ranked { score: 20, post: 2 });
        // New posts push the cursor's own post out of the bounded feed.
        f.push((), 10, 100);
        f.push((), 11, 110);
        f.push((), 12, 120);
        assert_eq!(f.score(&(), &2), None);
        assert!(f.page(&(), Some(&2), 5).is_empty());
        assert!(f.page_after(&(), Some(&cur), 5).is_empty()); // nothing below it left
        f.remove(&(), &10);
        f.push((), 5, 15); // a late post ranking below the cursor
        let rest: Vec<u32> = f
            .page_after(&(), Some(&cur), 5)
            .into_iter()
            .map(|r| r.post)
            .collect();
        assert_eq!(rest, [5]);
        assert_eq!(f.cursor(&(), &5), Some(Ranked { score: 15, post: 5 }));
    }

    #[test]
    fn position_after_counts_posts_at_or_above_the_cursor() {
        let mut f = FeedCache::new(10).unwrap();
        f.extend([("u", 1u32, 10), ("u", 2, 20), ("u", 3, 20), ("u", 4, 30)]);
        let at = |score, post| Ranked { score, post };
        assert_eq!(f.position_after(&"u", &at(40, 0)), 0);
        assert_eq!(f.position_after(&"u", &at(30, 4)), 1); // the cursor itself
        assert_eq!(f.position_after(&"u", &at(20, 3)), 2);
        assert_eq!(f.position_after(&"u", &at(20, 2)), 3); // ties by post
        assert_eq!(f.position_after(&"u", &at(15, 99)), 3); // not in the feed
        assert_eq!(f.position_after(&"u", &at(0, 0)), 4);
        assert_eq!(f.position_after(&"nobody", &at(0, 0)), 0);
        // It is where page_after starts, for every cursor.
        let all = f.page_after(&"u", None, 10);
        for (i, c) in all.iter().enumerate() {
            assert_eq!(f.position_after(&"u", c), i + 1);
            assert_eq!(f.page_after(&"u", Some(c), 10), all[i + 1..]);
        }
    }

    #[test]
    fn users_and_removal() {
        let mut f = FeedCache::new(2).unwrap();
        f.push("a", 1, 1);
        f.push("b", 2, 2);
        f.push("b", 3, 3);
        assert_eq!((f.users(), f.len(), f.feed_len(&"b")), (2, 3, 2));
        assert_eq!(f.remove(&"a", &1), Some(1));
        assert_eq!(f.remove(&"a", &1), None);
        assert_eq!(f.users(), 1);
        assert!(f.remove_user(&"b"));
        assert!(!f.remove_user(&"b"));
        assert!(f.is_empty());
        assert!(f.page(&"zz", None, 3).is_empty());
        assert!(f.page_after(&"zz", None, 3).is_empty());
        assert!(format!("{f:?}").contains("per_user: 2"));
        f.push("c", 1, 1);
        f.clear();
        assert_eq!(f.users(), 0);
    }
}
