//! News feed (design notes, section 4): each user's home feed of the posts of
//! the accounts it follows, ranked, read a page at a time.
//!
//! The notes start from the obvious design, "go to all [followees], get latest
//! posts ... rank them", which is too slow at read time, and move to feeds
//! generated ahead of time and kept in cache servers sharded by user id, 500
//! posts per user: a read gets the top of the feed, then "the last post and
//! next 20 posts from that". A new post goes to the FeedGenerationService,
//! which stores it and updates the followers' cached feeds. Pushing to every
//! follower is hard for celebrities, so the notes end with a hybrid: "push for
//! non celebs and pull for celebs". This example builds that and measures the
//! three choices on one workload.
//!
//! The services, and the messages between them:
//! - [`FollowGraph`]: who follows whom, with a power-law follower count (Zipf
//!   popularity, Pareto-distributed followee counts); an author with at least
//!   `celebrity_followers` followers is a celebrity.
//! - [`RankingService`]: one score per post, fixed when the post is written:
//!   its creation time in milliseconds plus a relevance term worth up to
//!   `relevance_ms` of freshness (the relevance is what a ranking model would
//!   make of the post; here the workload draws it). Ties go to the newer post.
//!   The score does not depend on the reader, so a post pushed into a feed at
//!   write time and the same post pulled at read time rank the same.
//! - [`PostStore`]: the posts table, and each author's timeline (its best
//!   `feed_len` posts, a [`FeedCache`] keyed by author) that pulls read.
//! - [`FeedGenerationService`]: takes a [`NewPost`], stores it, then sends a
//!   [`FeedInsert`] to the cache server of every follower: for every author
//!   (push-only), for none (pull-only) or for non-celebrities (hybrid).
//! - [`FeedCacheCluster`]: the cache servers, each a [`FeedCache`] of
//!   `feed_len` (500) posts per user from hld-lru-feed; users are sharded
//!   across them by a [`HashRing`] from hld-consistent-hash.
//! - [`FeedService`]: answers a [`PageRequest`] (user, cursor, how many) with
//!   a [`Page`]: push-only reads the user's cached feed; pull-only merges the
//!   timelines of everyone the user follows; hybrid merges the cached feed
//!   with the timelines of the celebrities the user follows. Every mode serves
//!   the same feed: the best `feed_len` posts of the user's followees, ranked,
//!   paged strictly below the cursor (the cursor carries its score, so a page
//!   boundary is exact even when the cursor's post came from a celebrity or
//!   fell off a cache). A merged read cuts at `feed_len` exactly with
//!   [`FeedCache::position_after`]; an author timeline bounded to `feed_len`
//!   loses nothing, since a post that is not among its author's best
//!   `feed_len` cannot be among a reader's best `feed_len`.
//!
//! The workload: posts arrive over simulated time from random authors while
//! reading sessions (a random user reads the top 10, then scrolls 20 at a time
//! with a pause between pages) run in between; the same event list is
//! replayed for push-only, pull-only and hybrid. The report gives the feed
//! entries written per post (write amplification), the time to publish a post
//! (its fan-out) and to serve a page, the feed caches' entries and an estimate
//! of their bytes, and the notes' sizing (300M DAU x 500 posts x 1 KB = 150
//! TB, 1500 machines of 100 GB) next to what one cached entry takes here: a
//! post id and a score, the bodies stored once in the post store.
//!
//! Past one machine: the feed caches are Redis (or memcached) clusters sharded
//! by user id with consistent hashing (a sorted set per user, `ZADD` and
//! `ZREVRANGEBYSCORE` with the cursor's score, trimmed to 500); the ring here
//! is the routing table the clients or a proxy hold. Posts and author
//! timelines live in Cassandra, partitioned by author and clustered by
//! (score, post id) descending, so a pull is one partition read. New posts go
//! to a Kafka topic; fan-out workers consume it and write the followers'
//! feeds, so a celebrity's post never blocks its author's request and a slow
//! cache server only delays its own shard. Celebrities are not fanned out:
//! their recent posts are read from their own timelines, hot enough to be
//! cached and replicated on several nodes. Every core used is sans-I/O and
//! keyed by integers (`u32` users, `u64` post ids and scores), so the same
//! `FeedCache` and `HashRing` logic runs inside such a worker or proxy.

use std::fmt;
use std::time::Duration;

use hld::consistent_hash::{self, HashRing, DEFAULT_VNODES};
use hld::lru_feed::{self, FeedCache, Ranked};

use crate::common::{bytes, fortunes, micros, per_second, percentile, timed, Rng, Table};

/// A user (an account that follows and posts).
pub type UserId = u32;
/// A post; ids grow with time.
pub type PostId = u64;
/// A feed entry, a page item and a cursor: a post with its score.
pub type Entry = Ranked<PostId>;

/// The workload's knobs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Users.
    pub users: usize,
    /// The fewest accounts a user follows (the Pareto distribution's minimum).
    pub min_followees: usize,
    /// Tail exponent of the followee counts (Pareto; smaller: heavier tail).
    pub followee_tail: f64,
    /// Zipf exponent of popularity: whom a follow goes to.
    pub popularity: f64,
    /// Followers from which an author is a celebrity (pulled, not pushed, in
    /// the hybrid).
    pub celebrity_followers: usize,
    /// Posts published.
    pub posts: usize,
    /// Simulated time over which the posts arrive, milliseconds.
    pub span_ms: u64,
    /// The most the relevance term adds to a post's score, in milliseconds of
    /// freshness (zero: rank by time only).
    pub relevance_ms: u64,
    /// Reading sessions.
    pub sessions: usize,
    /// Chance that a reader scrolls to the next page.
    pub scroll_on: f64,
    /// Mean pause between two pages of a session, milliseconds.
    pub page_gap_ms: u64,
    /// Posts kept per user feed (the notes: 500).
    pub feed_len: usize,
    /// Posts on the first page (the notes: "we give top 10").
    pub first_page: usize,
    /// Posts on each next page (the notes: "next 20").
    pub page: usize,
    /// Feed cache servers.
    pub cache_servers: usize,
    /// Seed of the workload (the run is deterministic).
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            users: 10_000,
            min_followees: 12,
            followee_tail: 1.7,
            popularity: 1.0,
            celebrity_followers: 1_000,
            posts: 60_000,
            span_ms: 2 * 3_600_000,
            relevance_ms: 15 * 60_000,
            sessions: 20_000,
            scroll_on: 0.6,
            page_gap_ms: 20_000,
            feed_len: 500,
            first_page: 10,
            page: 20,
            cache_servers: 16,
            seed: 4,
        }
    }
}

/// How posts reach feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fanout {
    /// Fan-out on write for every author.
    PushOnly,
    /// No fan-out: every read merges the followees' timelines.
    PullOnly,
    /// Push for ordinary authors, pull for celebrities (the notes' choice).
    Hybrid,
}

impl Fanout {
    /// The three, in the order the report lists them.
    pub const ALL: [Fanout; 3] = [Fanout::PushOnly, Fanout::PullOnly, Fanout::Hybrid];

    fn name(self) -> &'static str {
        match self {
            Fanout::PushOnly => "push-only",
            Fanout::PullOnly => "pull-only",
            Fanout::Hybrid => "hybrid",
        }
    }
}

/// A cache or ring the cores refuse to build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetupError {
    /// From hld-lru-feed (e.g. a feed length of zero).
    Feed(lru_feed::Error),
    /// From hld-consistent-hash (e.g. no cache servers).
    Ring(consistent_hash::Error),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Feed(e) => write!(f, "feed cache: {e}"),
            SetupError::Ring(e) => write!(f, "cache ring: {e}"),
        }
    }
}

impl From<lru_feed::Error> for SetupError {
    fn from(e: lru_feed::Error) -> SetupError {
        SetupError::Feed(e)
    }
}

impl From<consistent_hash::Error> for SetupError {
    fn from(e: consistent_hash::Error) -> SetupError {
        SetupError::Ring(e)
    }
}

// ---------------------------------------------------------------------------
// Messages

/// A user publishes a post (client -> FeedGenerationService).
#[derive(Clone, Debug)]
pub struct NewPost {
    /// Who posts.
    pub author: UserId,
    /// When, simulated milliseconds.
    pub created_ms: u64,
    /// What the ranking model makes of the post, in `[0, 1)`; drawn by the
    /// workload, since this example has no model.
    pub relevance: f64,
    /// The body: a line of `data/fortunes.txt`.
    pub body: u32,
}

/// Put a post into a user's cached feed (FeedGenerationService -> the cache
/// server owning `user`).
#[derive(Clone, Debug)]
pub struct FeedInsert {
    /// Whose feed.
    pub user: UserId,
    /// The post and its score.
    pub entry: Entry,
}

/// A read of a user's feed (client -> FeedService): the `limit` posts ranked
/// strictly below `after`, or the top if `after` is `None`.
#[derive(Clone, Debug)]
pub struct PageRequest {
    /// Whose feed.
    pub user: UserId,
    /// The last post the client has, with its score.
    pub after: Option<Entry>,
    /// How many posts.
    pub limit: usize,
}

/// The answer to a [`PageRequest`], best first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// The posts with their scores.
    pub items: Vec<Entry>,
}

impl Page {
    /// The cursor for the next page: the last post of this one.
    pub fn cursor(&self) -> Option<&Entry> {
        self.items.last()
    }
}

// ---------------------------------------------------------------------------
// Services

/// Who follows whom.
#[derive(Clone, Debug)]
pub struct FollowGraph {
    followees: Vec<Vec<UserId>>,
    followers: Vec<Vec<UserId>>,
    celebrity: Vec<bool>,
    celebrity_followees: Vec<Vec<UserId>>,
}

impl FollowGraph {
    /// A power-law graph: each user follows a Pareto-distributed number of
    /// accounts (at least `min_followees`, at most a tenth of the users),
    /// each picked with Zipf(`popularity`) probability by a popularity rank
    /// (a random permutation, so celebrities are spread over the id space).
    pub fn generate(cfg: &Config, rng: &mut Rng) -> FollowGraph {
        let n = cfg.users;
        let mut by_rank: Vec<UserId> = (0..n as UserId).collect();
        rng.shuffle(&mut by_rank);
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for r in 0..n {
            total += 1.0 / ((r + 1) as f64).powf(cfg.popularity);
            cdf.push(total);
        }
        let most = (n / 10).max(cfg.min_followees.min(n.saturating_sub(1)));
        let mut followees = Vec::with_capacity(n);
        let mut mark = vec![u32::MAX; n];
        for u in 0..n {
            let want = ((cfg.min_followees as f64
                / rng.float_nonzero().powf(1.0 / cfg.followee_tail))
                as usize)
                .min(most);
            let mut mine = Vec::with_capacity(want);
            // Popular accounts are drawn again and again; the cap on attempts
            // only matters for tiny graphs.
            let mut attempts = 0;
            while mine.len() < want && attempts < 64 * want + 64 {
                attempts += 1;
                let x = rng.float_nonzero() * total;
                let r = cdf.partition_point(|&c| c < x).min(n - 1);
                let v = by_rank[r];
                if v as usize != u && mark[v as usize] != u as u32 {
                    mark[v as usize] = u as u32;
                    mine.push(v);
                }
            }
            mine.sort_unstable();
            followees.push(mine);
        }
        let mut followers = vec![Vec::new(); n];
        for (u, fs) in followees.iter().enumerate() {
            for &v in fs {
                followers[v as usize].push(u as UserId);
            }
        }
        let celebrity: Vec<bool> = followers
            .iter()
            .map(|f| f.len() >= cfg.celebrity_followers)
            .collect();
        let celebrity_followees = followees
            .iter()
            .map(|fs| {
                fs.iter()
                    .copied()
                    .filter(|&v| celebrity[v as usize])
                    .collect()
            })
            .collect();
        FollowGraph {
            followees,
            followers,
            celebrity,
            celebrity_followees,
        }
    }

    /// Users.
    pub fn users(&self) -> usize {
        self.followees.len()
    }

    /// The accounts `user` follows.
    pub fn followees(&self, user: UserId) -> &[UserId] {
        &self.followees[user as usize]
    }

    /// The accounts following `user`.
    pub fn followers(&self, user: UserId) -> &[UserId] {
        &self.followers[user as usize]
    }

    /// Whether `user`'s posts are pulled rather than pushed in the hybrid.
    pub fn is_celebrity(&self, user: UserId) -> bool {
        self.celebrity[user as usize]
    }

    /// The celebrities `user` follows.
    pub fn celebrity_followees(&self, user: UserId) -> &[UserId] {
        &self.celebrity_followees[user as usize]
    }

    /// Follow edges.
    pub fn edges(&self) -> usize {
        self.followees.iter().map(Vec::len).sum()
    }
}

/// The notes' ranking service, reduced to what a cache can keep: one score
/// per post, fixed when it is written, higher first.
#[derive(Clone, Debug)]
pub struct RankingService {
    relevance_ms: u64,
}

impl RankingService {
    /// Scores with a relevance term worth up to `relevance_ms`.
    pub fn new(relevance_ms: u64) -> RankingService {
        RankingService { relevance_ms }
    }

    /// Creation time plus relevance, both in milliseconds.
    pub fn score(&self, post: &NewPost) -> u64 {
        post.created_ms + (post.relevance * self.relevance_ms as f64) as u64
    }
}

/// A stored post: the row as a store keeps it (rendering reads the body,
/// the tests the rest).
#[allow(dead_code)]
#[derive(Clone, Debug)]
pub struct Post {
    /// Its id (the order of arrival).
    pub id: PostId,
    /// Who posted it.
    pub author: UserId,
    /// When, simulated milliseconds.
    pub created_ms: u64,
    /// Its ranking score.
    pub score: u64,
    /// The body: a line of `data/fortunes.txt`.
    pub body: u32,
}

/// The posts table and the author timelines (the notes' DB).
pub struct PostStore {
    posts: Vec<Post>,
    timelines: FeedCache<UserId, PostId>,
}

impl PostStore {
    /// An empty store keeping each author's best `timeline_len` posts in its
    /// timeline.
    pub fn new(timeline_len: usize) -> Result<PostStore, SetupError> {
        Ok(PostStore {
            posts: Vec::new(),
            timelines: FeedCache::new(timeline_len)?,
        })
    }

    /// Stores a post with its score; returns its entry.
    pub fn insert(&mut self, post: &NewPost, score: u64) -> Entry {
        let id = self.posts.len() as PostId;
        self.posts.push(Post {
            id,
            author: post.author,
            created_ms: post.created_ms,
            score,
            body: post.body,
        });
        self.timelines.push(post.author, id, score);
        Ranked { score, post: id }
    }

    /// A post by id.
    pub fn get(&self, id: PostId) -> Option<&Post> {
        self.posts.get(id as usize)
    }

    /// Every post, in order of arrival.
    pub fn posts(&self) -> &[Post] {
        &self.posts
    }

    /// The author timelines, keyed by author.
    pub fn timelines(&self) -> &FeedCache<UserId, PostId> {
        &self.timelines
    }
}

/// The feed cache servers, users sharded across them by consistent hashing.
pub struct FeedCacheCluster {
    ring: HashRing<usize>,
    servers: Vec<FeedCache<UserId, PostId>>,
}

impl FeedCacheCluster {
    /// `servers` cache servers keeping `feed_len` posts per user.
    pub fn new(servers: usize, feed_len: usize) -> Result<FeedCacheCluster, SetupError> {
        if servers == 0 {
            return Err(SetupError::Ring(consistent_hash::Error::NoNodes));
        }
        let mut ring = HashRing::new(DEFAULT_VNODES)?;
        ring.extend(0..servers);
        let servers = (0..servers)
            .map(|_| FeedCache::new(feed_len))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FeedCacheCluster { ring, servers })
    }

    /// The server owning `user`'s feed.
    pub fn route(&self, user: UserId) -> usize {
        *self
            .ring
            .node_for(&user)
            .expect("the ring has at least one server")
    }

    /// The feeds on `user`'s server.
    pub fn server_for(&self, user: UserId) -> &FeedCache<UserId, PostId> {
        &self.servers[self.route(user)]
    }

    /// Applies a [`FeedInsert`] on the owning server.
    pub fn insert(&mut self, msg: FeedInsert) {
        let s = self.route(msg.user);
        self.servers[s].push(msg.user, msg.entry.post, msg.entry.score);
    }

    /// Entries per server.
    pub fn server_entries(&self) -> Vec<usize> {
        self.servers.iter().map(FeedCache::len).collect()
    }

    /// Entries across all servers.
    pub fn entries(&self) -> usize {
        self.servers.iter().map(FeedCache::len).sum()
    }

    /// Heap bytes of all feeds, estimated from their lengths (see
    /// [`feed_bytes_estimate`]).
    pub fn bytes_estimate(&self, users: usize) -> f64 {
        (0..users as UserId)
            .map(|u| {
                let f = self.server_for(u);
                feed_bytes_estimate(f.feed_len(&u), f.per_user())
            })
            .sum()
    }
}

/// Estimated heap bytes of one cached feed of `len` entries bounded to
/// `per_user`, from `FeedCache`'s layout (a `VecDeque<(u64, u64)>` in rank
/// order and a `HashMap<u64, u64>` index, per user) and std's growth rules: a
/// deque doubles its capacity; the index (hashbrown) holds at most 7/8 of its
/// power-of-two buckets, each 16 bytes plus a control byte. Feeds only grow
/// here, so the peak length is `len`, or `len + 1` for a full feed (a push
/// inserts before it evicts). Plus about 128 bytes per user for the two
/// headers, the hasher state and the user's slot in the outer map.
pub fn feed_bytes_estimate(len: usize, per_user: usize) -> f64 {
    if len == 0 {
        return 0.0;
    }
    let peak = if len >= per_user { len + 1 } else { len };
    let deque = peak.next_power_of_two().max(4) * 16;
    let buckets = if peak < 8 {
        if peak < 4 {
            4
        } else {
            8
        }
    } else {
        (peak * 8).div_ceil(7).next_power_of_two()
    };
    let index = buckets * 17 + 16;
    (deque + index + 128) as f64
}

/// The notes' FeedGenerationService: stores a new post and fans it out.
#[derive(Clone, Debug)]
pub struct FeedGenerationService {
    fanout: Fanout,
    ranking: RankingService,
}

impl FeedGenerationService {
    /// A service fanning out as `fanout` says, scoring with `ranking`.
    pub fn new(fanout: Fanout, ranking: RankingService) -> FeedGenerationService {
        FeedGenerationService { fanout, ranking }
    }

    /// Whether a post by `author` is pushed into its followers' feeds.
    pub fn pushes(&self, graph: &FollowGraph, author: UserId) -> bool {
        match self.fanout {
            Fanout::PushOnly => true,
            Fanout::PullOnly => false,
            Fanout::Hybrid => !graph.is_celebrity(author),
        }
    }

    /// Stores `post`, then sends a [`FeedInsert`] to every follower's cache
    /// server if its author is pushed. Returns the feed entries written (the
    /// write amplification of this post).
    pub fn publish(
        &self,
        post: &NewPost,
        graph: &FollowGraph,
        store: &mut PostStore,
        caches: &mut FeedCacheCluster,
    ) -> usize {
        let entry = store.insert(post, self.ranking.score(post));
        let mut feed_writes = 0;
        if self.pushes(graph, post.author) {
            for &user in graph.followers(post.author) {
                caches.insert(FeedInsert {
                    user,
                    entry: entry.clone(),
                });
                feed_writes += 1;
            }
        }
        feed_writes
    }
}

/// The read path: serves pages of a user's feed.
#[derive(Clone, Debug)]
pub struct FeedService {
    fanout: Fanout,
    feed_len: usize,
}

impl FeedService {
    /// Serves feeds of `feed_len` posts built as `fanout` says.
    pub fn new(fanout: Fanout, feed_len: usize) -> FeedService {
        FeedService { fanout, feed_len }
    }

    /// Answers a [`PageRequest`].
    pub fn page(
        &self,
        req: &PageRequest,
        graph: &FollowGraph,
        store: &PostStore,
        caches: &FeedCacheCluster,
    ) -> Page {
        let after = req.after.as_ref();
        let timelines = store.timelines();
        let items = match self.fanout {
            // One cached feed, already bounded to `feed_len`.
            Fanout::PushOnly => caches
                .server_for(req.user)
                .page_after(&req.user, after, req.limit),
            Fanout::PullOnly => merge_page(
                graph.followees(req.user).iter().map(|&f| (timelines, f)),
                after,
                req.limit,
                self.feed_len,
            ),
            Fanout::Hybrid => merge_page(
                std::iter::once((caches.server_for(req.user), req.user)).chain(
                    graph
                        .celebrity_followees(req.user)
                        .iter()
                        .map(|&f| (timelines, f)),
                ),
                after,
                req.limit,
                self.feed_len,
            ),
        };
        Page { items }
    }
}

/// The `limit` best entries strictly below `after` of the feed made of
/// `sources` (disjoint feeds: (cache, key)), cut at its `feed_len` best.
fn merge_page<'a, I>(sources: I, after: Option<&Entry>, limit: usize, feed_len: usize) -> Vec<Entry>
where
    I: Iterator<Item = (&'a FeedCache<UserId, PostId>, UserId)> + Clone,
{
    let mut total = 0;
    let mut items = Vec::new();
    for (feed, key) in sources.clone() {
        total += feed.feed_len(&key);
        items.extend(feed.page_after(&key, after, limit));
    }
    items.sort_unstable_by(|a, b| b.cmp(a));
    items.truncate(limit);
    if total > feed_len {
        // The page starts at position `above` of the merged feed.
        let above: usize = after.map_or(0, |c| {
            sources
                .map(|(feed, key)| feed.position_after(&key, c))
                .sum()
        });
        items.truncate(feed_len.saturating_sub(above));
    }
    items
}

/// The whole system for one fan-out mode: the services wired together.
pub struct NewsFeed<'g> {
    graph: &'g FollowGraph,
    store: PostStore,
    caches: FeedCacheCluster,
    generation: FeedGenerationService,
    feeds: FeedService,
}

impl<'g> NewsFeed<'g> {
    /// The services for `fanout`, sized by `cfg`.
    pub fn new(
        graph: &'g FollowGraph,
        fanout: Fanout,
        cfg: &Config,
    ) -> Result<NewsFeed<'g>, SetupError> {
        Ok(NewsFeed {
            graph,
            store: PostStore::new(cfg.feed_len)?,
            caches: FeedCacheCluster::new(cfg.cache_servers, cfg.feed_len)?,
            generation: FeedGenerationService::new(fanout, RankingService::new(cfg.relevance_ms)),
            feeds: FeedService::new(fanout, cfg.feed_len),
        })
    }

    /// A client posts; returns the feed entries written.
    pub fn publish(&mut self, post: &NewPost) -> usize {
        self.generation
            .publish(post, self.graph, &mut self.store, &mut self.caches)
    }

    /// A client reads a page.
    pub fn read(&self, req: &PageRequest) -> Page {
        self.feeds.page(req, self.graph, &self.store, &self.caches)
    }

    /// The post store.
    pub fn store(&self) -> &PostStore {
        &self.store
    }

    /// The feed caches.
    pub fn caches(&self) -> &FeedCacheCluster {
        &self.caches
    }
}

// ---------------------------------------------------------------------------
// Workload and replay

/// One thing that happens, in simulated time order.
#[derive(Clone, Debug)]
pub enum Event {
    /// A user posts.
    Post(NewPost),
    /// A reading session asks for its next page (the first: the top).
    Read {
        /// The session.
        session: usize,
        /// Its reader.
        user: UserId,
        /// The first page of the session (no cursor).
        first: bool,
    },
}

/// The graph and the events every mode replays.
pub struct Workload {
    /// Who follows whom.
    pub graph: FollowGraph,
    /// Posts and page reads in time order.
    pub events: Vec<Event>,
    /// Bytes of each body a post may carry (`NewPost::body` indexes it).
    pub body_bytes: Vec<u32>,
    /// Mean bytes of a post body.
    pub mean_body_bytes: f64,
}

impl Workload {
    /// The workload of `cfg`.
    pub fn generate(cfg: &Config) -> Workload {
        let mut rng = Rng(cfg.seed);
        let graph = FollowGraph::generate(cfg, &mut rng);
        let bodies = fortunes();
        let mut timed: Vec<(u64, u8, Event)> = Vec::new();
        let mut body_bytes = 0usize;
        for i in 0..cfg.posts {
            let body = rng.below(bodies.len());
            body_bytes += bodies[body].len();
            let u = rng.float_nonzero();
            let created_ms = i as u64 * cfg.span_ms / cfg.posts.max(1) as u64;
            timed.push((
                created_ms,
                0,
                Event::Post(NewPost {
                    author: rng.below(cfg.users) as UserId,
                    created_ms,
                    // Most posts are ordinary, a few rank well above their age.
                    relevance: u * u * u * (1.0 - f64::EPSILON),
                    body: body as u32,
                }),
            ));
        }
        for session in 0..cfg.sessions {
            let user = rng.below(cfg.users) as UserId;
            let mut at = rng.below(cfg.span_ms as usize + 1) as u64;
            let mut first = true;
            loop {
                timed.push((
                    at,
                    1,
                    Event::Read {
                        session,
                        user,
                        first,
                    },
                ));
                first = false;
                if !rng.chance(cfg.scroll_on) {
                    break;
                }
                at += cfg.page_gap_ms / 2 + rng.below(cfg.page_gap_ms as usize + 1) as u64;
            }
        }
        // Stable: at equal times posts first, then reads in generation order.
        timed.sort_by_key(|(at, kind, _)| (*at, *kind));
        Workload {
            graph,
            events: timed.into_iter().map(|(_, _, e)| e).collect(),
            body_bytes: bodies.iter().map(|b| b.len() as u32).collect(),
            mean_body_bytes: body_bytes as f64 / cfg.posts.max(1) as f64,
        }
    }
}

/// One page a session was served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    /// The session.
    pub session: usize,
    /// Its reader.
    pub user: UserId,
    /// Posts published before this read (ids `0..posts_before`).
    pub posts_before: usize,
    /// The request's cursor.
    pub after: Option<Entry>,
    /// The request's limit.
    pub limit: usize,
    /// What was served.
    pub items: Vec<Entry>,
}

/// What one mode did with the workload.
pub struct Replay {
    /// Feed entries written in all.
    pub feed_writes: usize,
    /// The most written for one post.
    pub max_post_writes: usize,
    /// Time to publish each post (store + fan-out).
    pub post_times: Vec<Duration>,
    /// Time to serve each page.
    pub read_times: Vec<Duration>,
    /// Posts served across all pages.
    pub items_served: usize,
    /// Bytes of the bodies of the posts served (read from the post store
    /// when a page is rendered).
    pub body_bytes_served: usize,
    /// A digest of every page served, in order.
    pub digest: u64,
    /// Cached feed entries at the end.
    pub cache_entries: usize,
    /// Estimated heap bytes of the feed caches at the end.
    pub cache_bytes: f64,
    /// Cached entries per server at the end.
    pub server_entries: Vec<usize>,
    /// Every page served (only if asked for).
    pub pages: Vec<Served>,
}

/// Replays `w` with `fanout`; keeps every page served if `keep_pages`.
pub fn replay(
    w: &Workload,
    cfg: &Config,
    fanout: Fanout,
    keep_pages: bool,
) -> Result<Replay, SetupError> {
    let mut sys = NewsFeed::new(&w.graph, fanout, cfg)?;
    let mut cursor: Vec<Option<Entry>> = vec![None; cfg.sessions];
    let mut ended = vec![false; cfg.sessions];
    let mut r = Replay {
        feed_writes: 0,
        max_post_writes: 0,
        post_times: Vec::with_capacity(cfg.posts),
        read_times: Vec::new(),
        items_served: 0,
        body_bytes_served: 0,
        digest: FNV_OFFSET,
        cache_entries: 0,
        cache_bytes: 0.0,
        server_entries: Vec::new(),
        pages: Vec::new(),
    };
    for ev in &w.events {
        match ev {
            Event::Post(p) => {
                let (writes, took) = timed(|| sys.publish(p));
                r.post_times.push(took);
                r.feed_writes += writes;
                r.max_post_writes = r.max_post_writes.max(writes);
            }
            &Event::Read {
                session,
                user,
                first,
            } => {
                if !first && ended[session] {
                    continue; // scrolled to the end of the feed
                }
                let req = PageRequest {
                    user,
                    after: if first { None } else { cursor[session].clone() },
                    limit: if first { cfg.first_page } else { cfg.page },
                };
                let (page, took) = timed(|| sys.read(&req));
                r.read_times.push(took);
                r.digest = fnv(r.digest, session as u64);
                for e in &page.items {
                    r.digest = fnv(fnv(r.digest, e.post), e.score);
                }
                r.items_served += page.items.len();
                // The client renders the page: bodies come from the post
                // store, stored once, not from the feed cache.
                for e in &page.items {
                    let post = sys.store().get(e.post).expect("served posts are stored");
                    r.body_bytes_served += w.body_bytes[post.body as usize] as usize;
                }
                ended[session] = page.items.is_empty();
                cursor[session] = page.cursor().cloned();
                if keep_pages {
                    r.pages.push(Served {
                        session,
                        user,
                        posts_before: sys.store().posts().len(),
                        after: req.after,
                        limit: req.limit,
                        items: page.items,
                    });
                }
            }
        }
    }
    r.cache_entries = sys.caches().entries();
    r.cache_bytes = sys.caches().bytes_estimate(w.graph.users());
    r.server_entries = sys.caches().server_entries();
    Ok(r)
}

/// What the three modes did with the same workload.
#[derive(Clone, Debug)]
pub struct ModeReport {
    /// The mode.
    pub fanout: Fanout,
    /// Feed entries written per post (write amplification).
    pub writes_per_post: f64,
    /// The most written for one post.
    pub max_post_writes: usize,
    /// Publish time (store + fan-out): median, 99th and 99.9th percentiles
    /// (celebrities post a few per thousand posts).
    pub post_p50: Duration,
    /// See `post_p50`.
    pub post_p99: Duration,
    /// See `post_p50`.
    pub post_p999: Duration,
    /// Page read time: median and 99th percentile.
    pub read_p50: Duration,
    /// See `read_p50`.
    pub read_p99: Duration,
    /// Pages served per second of read time.
    pub read_rate: String,
    /// Cached feed entries at the end.
    pub cache_entries: usize,
    /// Estimated heap bytes of the feed caches.
    pub cache_bytes: f64,
    /// Cached entries per server: the fullest over the mean.
    pub server_peak_over_mean: f64,
    /// Digest of every page served.
    pub digest: u64,
    /// Posts served across all pages.
    pub items_served: usize,
    /// Bytes of post bodies rendered across all pages.
    pub body_bytes_served: usize,
}

/// The run.
#[derive(Clone, Debug)]
pub struct Report {
    /// Users.
    pub users: usize,
    /// Follow edges.
    pub follows: usize,
    /// Celebrities (pulled in the hybrid).
    pub celebrities: usize,
    /// Followers: median, 99th percentile, most.
    pub followers_p50: usize,
    /// See `followers_p50`.
    pub followers_p99: usize,
    /// See `followers_p50`.
    pub followers_max: usize,
    /// Share of follow edges that go to celebrities.
    pub celebrity_edge_share: f64,
    /// Posts published.
    pub posts: usize,
    /// Pages read.
    pub page_reads: usize,
    /// Push-only, pull-only, hybrid.
    pub modes: Vec<ModeReport>,
    /// Whether the three modes served exactly the same pages.
    pub same_pages: bool,
    /// Estimated bytes per cached entry (push-only caches).
    pub bytes_per_entry: f64,
    /// Mean post body, bytes.
    pub mean_body_bytes: f64,
    /// The printed table.
    pub table: Table,
}

impl Report {
    /// The report of one mode.
    pub fn mode(&self, fanout: Fanout) -> &ModeReport {
        self.modes
            .iter()
            .find(|m| m.fanout == fanout)
            .expect("every mode runs")
    }
}

/// Runs the workload under all three modes and reports. Panics on a config
/// the cores refuse (zero feed length or cache servers): see [`replay`].
pub fn run(cfg: &Config) -> Report {
    let w = Workload::generate(cfg);
    let g = &w.graph;
    let mut fcount: Vec<usize> = (0..g.users() as UserId)
        .map(|u| g.followers(u).len())
        .collect();
    fcount.sort_unstable();
    let at = |p: f64| fcount[((p * fcount.len() as f64) as usize).min(fcount.len() - 1)];
    let celeb_edges: usize = (0..g.users() as UserId)
        .map(|u| g.celebrity_followees(u).len())
        .sum();

    let mut modes = Vec::new();
    let mut page_reads = 0;
    for fanout in Fanout::ALL {
        let mut r = replay(&w, cfg, fanout, false).expect("a valid config");
        page_reads = r.read_times.len();
        let read_total: Duration = r.read_times.iter().sum();
        let mean = r.cache_entries as f64 / r.server_entries.len() as f64;
        let peak = r.server_entries.iter().copied().max().unwrap_or(0) as f64;
        modes.push(ModeReport {
            fanout,
            writes_per_post: r.feed_writes as f64 / cfg.posts.max(1) as f64,
            max_post_writes: r.max_post_writes,
            post_p50: percentile(&mut r.post_times, 50.0),
            post_p99: percentile(&mut r.post_times, 99.0),
            post_p999: percentile(&mut r.post_times, 99.9),
            read_p50: percentile(&mut r.read_times, 50.0),
            read_p99: percentile(&mut r.read_times, 99.0),
            read_rate: per_second(page_reads, read_total),
            cache_entries: r.cache_entries,
            cache_bytes: r.cache_bytes,
            server_peak_over_mean: if mean > 0.0 { peak / mean } else { 0.0 },
            digest: r.digest,
            items_served: r.items_served,
            body_bytes_served: r.body_bytes_served,
        });
    }
    let same_pages = modes
        .windows(2)
        .all(|m| m[0].digest == m[1].digest && m[0].items_served == m[1].items_served);
    let push = modes[0].clone();
    let mut rep = Report {
        users: g.users(),
        follows: g.edges(),
        celebrities: (0..g.users() as UserId)
            .filter(|&u| g.is_celebrity(u))
            .count(),
        followers_p50: at(0.5),
        followers_p99: at(0.99),
        followers_max: *fcount.last().unwrap_or(&0),
        celebrity_edge_share: celeb_edges as f64 / g.edges().max(1) as f64,
        posts: cfg.posts,
        page_reads,
        same_pages,
        bytes_per_entry: push.cache_bytes / push.cache_entries.max(1) as f64,
        mean_body_bytes: w.mean_body_bytes,
        modes,
        table: Table::default(),
    };
    rep.table = table(cfg, &rep);
    rep
}

fn table(cfg: &Config, r: &Report) -> Table {
    let mut t = Table::new(
        "news_feed",
        "FeedGenerationService fan-out into hld-lru-feed FeedCaches sharded by an \
         hld-consistent-hash ring: push-only, pull-only and hybrid on one workload",
    );
    t.row(
        "users / follow edges / celebrities",
        format!(
            "{} / {} / {} (>= {} followers)",
            r.users, r.follows, r.celebrities, cfg.celebrity_followers
        ),
    )
    .row(
        "followers: median / p99 / most",
        format!(
            "{} / {} / {}",
            r.followers_p50, r.followers_p99, r.followers_max
        ),
    )
    .row(
        "follow edges to celebrities",
        format!("{:.1}%", r.celebrity_edge_share * 100.0),
    )
    .row(
        "posts / page reads",
        format!(
            "{} / {} (top {}, then {} per page)",
            r.posts, r.page_reads, cfg.first_page, cfg.page
        ),
    );
    for m in &r.modes {
        let name = m.fanout.name();
        t.row(
            &format!("{name}: feed writes per post (mean / most)"),
            format!("{:.1} / {}", m.writes_per_post, m.max_post_writes),
        )
        .row(
            &format!("{name}: publish p50 / p99 / p99.9"),
            format!(
                "{} / {} / {}",
                micros(m.post_p50),
                micros(m.post_p99),
                micros(m.post_p999)
            ),
        )
        .row(
            &format!("{name}: page read p50 / p99"),
            format!(
                "{} / {} ({})",
                micros(m.read_p50),
                micros(m.read_p99),
                m.read_rate
            ),
        );
    }
    let push = r.mode(Fanout::PushOnly);
    let hybrid = r.mode(Fanout::Hybrid);
    t.row(
        "feed cache entries: push-only / hybrid",
        format!("{} / {}", push.cache_entries, hybrid.cache_entries),
    )
    .row(
        "feed cache bytes (estimate): push-only / hybrid",
        format!(
            "{} / {}",
            bytes(push.cache_bytes),
            bytes(hybrid.cache_bytes)
        ),
    )
    .row(
        "bytes per cached entry (id + score, estimate)",
        format!("{:.1}", r.bytes_per_entry),
    )
    .row(
        &format!(
            "hybrid: fullest of {} cache servers / mean",
            cfg.cache_servers
        ),
        format!("{:.2}x", hybrid.server_peak_over_mean),
    )
    .row(
        "all three modes served the same pages",
        if r.same_pages { "yes" } else { "NO" },
    )
    .row(
        "post bodies (data/fortunes.txt): mean / per page read",
        format!(
            "{:.0} B / {}",
            r.mean_body_bytes,
            bytes(hybrid.body_bytes_served as f64 / r.page_reads.max(1) as f64)
        ),
    );
    // The notes' sizing: 300M DAU x 500 posts x 1 KB (decimal units, as there).
    let notes: f64 = 300e6 * 500.0 * 1e3;
    let ours = 300e6 * 500.0 * r.bytes_per_entry;
    t.row(
        "notes: 300M DAU x 500 posts x 1 KB",
        format!(
            "{:.0} TB = {:.0} x 100 GB",
            notes / 1e12,
            (notes / 100e9).ceil()
        ),
    )
    .row(
        &format!(
            "same at {:.0} B per entry (ids, not bodies)",
            r.bytes_per_entry
        ),
        format!(
            "{:.1} TB = {:.0} x 100 GB",
            ours / 1e12,
            (ours / 100e9).ceil()
        ),
    );
    t
}

const FNV_OFFSET: u64 = 0xCBF2_9CE4_8422_2325;

/// FNV-1a over the bytes of `x`: a digest of the pages served, to compare modes.
fn fnv(mut h: u64, x: u64) -> u64 {
    for b in x.to_le_bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
    }
    h
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// A workload small enough for brute force, where feeds overflow their
    /// bound (`feed_len` 60 against ~100 followee posts a user).
    fn small() -> Config {
        Config {
            users: 1_500,
            min_followees: 8,
            celebrity_followers: 150,
            posts: 8_000,
            span_ms: 3_600_000,
            sessions: 600,
            feed_len: 60,
            cache_servers: 4,
            ..Config::default()
        }
    }

    /// The posts of a workload, rescored from the events by the ranking's
    /// definition: (author, entry), in id order.
    fn posts_of(w: &Workload, cfg: &Config) -> Vec<(UserId, Entry)> {
        w.events
            .iter()
            .filter_map(|e| match e {
                Event::Post(p) => Some(p),
                Event::Read { .. } => None,
            })
            .enumerate()
            .map(|(id, p)| {
                let score = p.created_ms + (p.relevance * cfg.relevance_ms as f64) as u64;
                (
                    p.author,
                    Ranked {
                        score,
                        post: id as PostId,
                    },
                )
            })
            .collect()
    }

    /// The feed from scratch: every post of the followees, best first, not cut.
    fn from_scratch(posts: &[(UserId, Entry)], graph: &FollowGraph, user: UserId) -> Vec<Entry> {
        let follows: HashSet<UserId> = graph.followees(user).iter().copied().collect();
        let mut feed: Vec<Entry> = posts
            .iter()
            .filter(|(a, _)| follows.contains(a))
            .map(|(_, e)| e.clone())
            .collect();
        feed.sort_by(|a, b| b.cmp(a));
        feed
    }

    /// The page below `after` of a ranked feed.
    fn page_of(feed: &[Entry], after: Option<&Entry>, limit: usize) -> Vec<Entry> {
        feed.iter()
            .filter(|e| after.is_none_or(|c| *e < c))
            .take(limit)
            .cloned()
            .collect()
    }

    #[test]
    fn hybrid_feed_equals_the_feed_from_scratch() {
        let cfg = small();
        let w = Workload::generate(&cfg);
        let posts = posts_of(&w, &cfg);
        let r = replay(&w, &cfg, Fanout::Hybrid, true).unwrap();
        let (mut cut, mut deep, mut celeb, mut ordinary) = (0, 0, 0, 0);
        for s in &r.pages {
            let full = from_scratch(&posts[..s.posts_before], &w.graph, s.user);
            let feed = &full[..full.len().min(cfg.feed_len)];
            let want = page_of(feed, s.after.as_ref(), s.limit);
            assert_eq!(s.items, want, "session {} of user {}", s.session, s.user);
            cut += usize::from(page_of(&full, s.after.as_ref(), s.limit).len() > want.len());
            deep += usize::from(s.after.is_some() && !s.items.is_empty());
            for e in &s.items {
                if w.graph.is_celebrity(posts[e.post as usize].0) {
                    celeb += 1;
                } else {
                    ordinary += 1;
                }
            }
        }
        // Not vacuous: pages past the first, pages cut at the feed's bound,
        // and both pulled (celebrity) and pushed posts served.
        assert!(deep > 200, "{deep} deep pages");
        assert!(cut > 10, "{cut} cut pages");
        assert!(celeb > 1_000 && ordinary > 1_000, "{celeb} / {ordinary}");
    }

    #[test]
    fn push_only_and_pull_only_serve_the_hybrids_pages() {
        let cfg = small();
        let w = Workload::generate(&cfg);
        let hybrid = replay(&w, &cfg, Fanout::Hybrid, true).unwrap();
        for fanout in [Fanout::PushOnly, Fanout::PullOnly] {
            let other = replay(&w, &cfg, fanout, true).unwrap();
            assert_eq!(other.pages.len(), hybrid.pages.len());
            for (a, b) in other.pages.iter().zip(&hybrid.pages) {
                assert_eq!(a, b, "{fanout:?}");
            }
            assert_eq!(other.digest, hybrid.digest);
        }
        let r = run(&cfg);
        assert!(r.same_pages);
        assert_eq!(r.page_reads, hybrid.pages.len());
    }

    #[test]
    fn pagination_never_repeats_or_skips_while_posts_arrive() {
        // Relevance dominates time here (an hour of relevance, a post a
        // second), so arriving posts land both above and below the cursor.
        let cfg = Config {
            relevance_ms: 3_600_000,
            feed_len: 200,
            ..small()
        };
        let graph = FollowGraph::generate(&cfg, &mut Rng(cfg.seed));
        let reader = (0..graph.users() as UserId)
            .find(|&u| {
                let c = graph.celebrity_followees(u).len();
                c >= 2 && graph.followees(u).len() >= c + 8
            })
            .expect("a reader following celebrities and others");
        let follows = graph.followees(reader).to_vec();
        for fanout in Fanout::ALL {
            let mut sys = NewsFeed::new(&graph, fanout, &cfg).unwrap();
            let mut rng = Rng(11);
            let mut posts: Vec<(UserId, Entry)> = Vec::new();
            // A post a second, mostly by the reader's followees.
            let mut publish = |sys: &mut NewsFeed, posts: &mut Vec<(UserId, Entry)>| {
                let author = if rng.chance(0.8) {
                    follows[rng.below(follows.len())]
                } else {
                    rng.below(graph.users()) as UserId
                };
                let now = (posts.len() as u64 + 1) * 1_000;
                let relevance = rng.float_nonzero() * 0.999;
                sys.publish(&NewPost {
                    author,
                    created_ms: now,
                    relevance,
                    body: 0,
                });
                let entry = Ranked {
                    score: now + (relevance * cfg.relevance_ms as f64) as u64,
                    post: posts.len() as PostId,
                };
                let stored = sys.store().posts().last().unwrap();
                assert_eq!((stored.id, stored.score), (entry.post, entry.score));
                posts.push((author, entry.clone()));
                entry
            };
            for _ in 0..3 * cfg.feed_len {
                publish(&mut sys, &mut posts);
            }
            let before_scroll = posts.len() as PostId;
            let mut served: Vec<Entry> = Vec::new();
            let mut arrived_below = HashSet::new();
            let mut arrived_above = 0;
            let mut after: Option<Entry> = None;
            loop {
                let req = PageRequest {
                    user: reader,
                    after: after.clone(),
                    limit: if after.is_none() { 10 } else { 20 },
                };
                let page = sys.read(&req);
                let full = from_scratch(&posts, &graph, reader);
                let feed = &full[..full.len().min(cfg.feed_len)];
                assert_eq!(page.items, page_of(feed, req.after.as_ref(), req.limit));
                let Some(cursor) = page.cursor().cloned() else {
                    break;
                };
                served.extend(page.items);
                // New posts arrive between two pages.
                for _ in 0..5 {
                    let e = publish(&mut sys, &mut posts);
                    if e < cursor {
                        arrived_below.insert(e.post);
                    } else {
                        arrived_above += 1;
                    }
                }
                after = Some(cursor);
            }
            // No repeats: strictly descending.
            assert!(served.windows(2).all(|p| p[0] > p[1]), "{fanout:?}");
            // No skips: every post still in the feed at the end that was there
            // when the scroll began, or arrived below the reader's cursor, and
            // ranks at or below the first post shown, was served.
            let shown: HashSet<PostId> = served.iter().map(|e| e.post).collect();
            let full = from_scratch(&posts, &graph, reader);
            let mut checked = 0;
            for e in full.iter().take(cfg.feed_len).filter(|e| **e <= served[0]) {
                if e.post < before_scroll || arrived_below.contains(&e.post) {
                    assert!(shown.contains(&e.post), "{fanout:?} skipped {e:?}");
                    checked += 1;
                }
            }
            let late_shown = arrived_below.iter().filter(|p| shown.contains(p)).count();
            assert!(checked > 100, "{checked}");
            assert!(
                late_shown > 5 && arrived_above > 5,
                "{late_shown} {arrived_above}"
            );
        }
    }

    #[test]
    fn write_amplification_is_the_followers_of_pushed_authors() {
        let cfg = small();
        let w = Workload::generate(&cfg);
        let posts = posts_of(&w, &cfg);
        let followers = |a: UserId| w.graph.followers(a).len();
        let all: usize = posts.iter().map(|(a, _)| followers(*a)).sum();
        let ordinary: usize = posts
            .iter()
            .map(|(a, _)| followers(*a))
            .filter(|&f| f < cfg.celebrity_followers)
            .sum();
        let push = replay(&w, &cfg, Fanout::PushOnly, false).unwrap();
        let pull = replay(&w, &cfg, Fanout::PullOnly, false).unwrap();
        let hybrid = replay(&w, &cfg, Fanout::Hybrid, false).unwrap();
        assert_eq!(push.feed_writes, all);
        assert_eq!(pull.feed_writes, 0);
        assert_eq!(hybrid.feed_writes, ordinary);
        assert!(ordinary < all);
        assert!(push.max_post_writes >= cfg.celebrity_followers);
        assert!(hybrid.max_post_writes < cfg.celebrity_followers);
        assert_eq!(pull.cache_entries, 0);
        assert!(hybrid.cache_entries < push.cache_entries);
    }

    #[test]
    fn feeds_live_on_the_server_the_ring_names() {
        let cfg = small();
        let w = Workload::generate(&cfg);
        let posts = posts_of(&w, &cfg);
        let mut sys = NewsFeed::new(&w.graph, Fanout::PushOnly, &cfg).unwrap();
        for e in &w.events {
            if let Event::Post(p) = e {
                sys.publish(p);
            }
        }
        let caches = sys.caches();
        let mut expected = 0;
        for u in 0..w.graph.users() as UserId {
            let home = caches.route(u);
            for (i, server) in caches.servers.iter().enumerate() {
                if i != home {
                    assert_eq!(server.feed_len(&u), 0, "user {u} on server {i}");
                }
            }
            // Each cached feed is the top of the feed from scratch.
            let full = from_scratch(&posts, &w.graph, u);
            let want = &full[..full.len().min(cfg.feed_len)];
            let got: Vec<Entry> = caches.servers[home]
                .iter(&u)
                .map(|(p, score)| Ranked { score, post: *p })
                .collect();
            assert_eq!(got, want, "user {u}");
            expected += want.len();
        }
        assert_eq!(caches.entries(), expected);
        let loads = caches.server_entries();
        let mean = expected as f64 / loads.len() as f64;
        assert!(loads.iter().all(|&l| (l as f64) < 1.6 * mean), "{loads:?}");
    }

    #[test]
    fn bad_config_is_the_cores_typed_error() {
        let cfg = small();
        let graph = FollowGraph::generate(&cfg, &mut Rng(1));
        let zero_feed = Config {
            feed_len: 0,
            ..small()
        };
        assert_eq!(
            NewsFeed::new(&graph, Fanout::Hybrid, &zero_feed).err(),
            Some(SetupError::Feed(lru_feed::Error::ZeroCapacity))
        );
        let no_servers = Config {
            cache_servers: 0,
            ..small()
        };
        let err = NewsFeed::new(&graph, Fanout::PushOnly, &no_servers).err();
        assert_eq!(err, Some(SetupError::Ring(consistent_hash::Error::NoNodes)));
        assert!(err.unwrap().to_string().starts_with("cache ring:"));
    }

    #[test]
    fn the_follow_graph_has_a_power_law_and_celebrities() {
        let cfg = Config::default();
        let g = FollowGraph::generate(&cfg, &mut Rng(cfg.seed));
        assert_eq!(
            g.followees,
            FollowGraph::generate(&cfg, &mut Rng(cfg.seed)).followees
        );
        let mut counts: Vec<usize> = g.followers.iter().map(Vec::len).collect();
        counts.sort_unstable();
        let median = counts[counts.len() / 2];
        let most = *counts.last().unwrap();
        assert!(most > 100 * median.max(1), "{most} vs {median}");
        let celebs = (0..g.users() as UserId)
            .filter(|&u| g.is_celebrity(u))
            .count();
        assert!((5..=100).contains(&celebs), "{celebs}");
        for u in 0..g.users() as UserId {
            let fs = g.followees(u);
            assert!(fs.len() >= cfg.min_followees);
            assert!(fs.windows(2).all(|p| p[0] < p[1]) && !fs.contains(&u));
            for &v in fs {
                assert!(g.followers(v).binary_search(&u).is_ok());
            }
        }
        assert_eq!(g.edges(), counts.iter().sum::<usize>());
    }

    #[test]
    fn memory_estimate_follows_the_growth_rules() {
        assert_eq!(feed_bytes_estimate(0, 500), 0.0);
        // 500 full: the deque peaks at 501 (512 slots), the index needs 1024
        // buckets (512 * 7/8 = 448 < 501).
        assert_eq!(
            feed_bytes_estimate(500, 500),
            (512 * 16 + 1024 * 17 + 16 + 128) as f64
        );
        assert_eq!(
            feed_bytes_estimate(100, 500),
            (128 * 16 + 128 * 17 + 16 + 128) as f64
        );
        assert_eq!(
            feed_bytes_estimate(3, 500),
            (4 * 16 + 4 * 17 + 16 + 128) as f64
        );
    }
}
