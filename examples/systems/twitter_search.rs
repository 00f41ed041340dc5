//! Twitter search: an in-memory inverted index sharded by tweet id, an
//! aggregator over it, and an index builder that can rebuild a lost server
//! (design notes, section 6).
//!
//! The notes size it at 400M tweets a day kept for two years (292B tweets),
//! 15 significant words a tweet and a 5-byte tweet id per posting: 21 TB of
//! postings, 152 index servers of 144 GB. This example runs the same design
//! on one machine:
//!
//! - **Tweets** are the texts of `data/fortunes.txt` (Debian fortunes, cut to
//!   280 characters) and, on top, generated tweets that recombine fragments of
//!   those texts with hashtags and @mentions, posted by users of Zipf-skewed
//!   activity. They arrive at the notes' rate (400M a day, in simulated time)
//!   and get Snowflake ids: milliseconds since Twitter's epoch, then worker,
//!   then a sequence number, so ids grow with time and "newest first" is
//!   "largest id first".
//! - The **TweetStore** (the notes' database) keeps every tweet's metadata
//!   (text, user) by id.
//! - The **IndexBuilder** routes each new tweet (`IndexTweet { id, text }`) to
//!   an **IndexServer** and keeps the notes' map *index server id -> tweet
//!   ids*. Servers are picked by a jump hash of the tweet id (not by word: the
//!   report shows, in numbers, how a word split would overload the server that
//!   holds "the"; and not by id range: ids grow with time, so a range split
//!   would send every new tweet and most newest-first reads to the last
//!   server). Jump hash needs no state and balances perfectly; its one
//!   limitation (only the last bucket can be removed) does not bite here,
//!   because a failed server is rebuilt in place, never dropped.
//! - Each **IndexServer** holds an `hld::inverted_index::InvertedIndex` of its
//!   tweets and answers a `SearchRequest { query, limit, order }` with its own
//!   newest (`search`) or best BM25 (`search_ranked`) matches: a
//!   `ShardResponse`.
//! - The **Aggregator** fans every request out to all index servers, merges
//!   the shard responses (`merge_newest` or `merge_top_k`), and hydrates the
//!   winning ids into tweets through the **MetadataCache** (an
//!   `hld::lru_feed::Cache`, S3-FIFO) in front of the TweetStore.
//!
//! The run ingests the tweets, compares sharding by id with sharding by word,
//! sets the notes' sizing next to the measured bits per posting, answers a few
//! AND/OR/NOT queries (and one malformed query, which is a typed
//! `ParseError`), replays a Zipf-skewed query workload for latency and the
//! cache's hit ratio, then kills one index server, shows the answers going
//! incomplete, and rebuilds it from the IndexBuilder's map (re-reading its
//! tweets from the TweetStore), checking that it answers exactly as before.
//! The aggregator calls the servers one after another, so its latency is the
//! sum of the shards' work; across machines the fan-out is parallel and the
//! latency is the slowest shard's plus the network.
//!
//! Bits per posting come in three figures. The whole index, divided by its
//! postings, is dominated here by per-term costs: a server of a few tens of
//! thousands of tweets holds nearly as many distinct terms, and each term
//! pays for its vocabulary entry, its list header and an uncompressed tail of
//! under 128 postings.
//! Lists seal into compressed blocks of 128 postings, and those cost a few
//! bits a posting (`InvertedIndex::sealed_postings`). At the notes' 1.9B
//! tweets a server nearly every posting sits in a sealed block, so that is
//! the density the notes' 21 TB is recomputed with, plus the 12 bytes a
//! tweet (id and length) the index keeps beside its postings.
//!
//! Past one machine: each IndexServer is its own machine (152 of them in the
//! notes, with replicas), loading its shard from an `InvertedIndex::to_bytes`
//! snapshot (kept in S3) at start and applying the tweets since; the TweetStore
//! is Cassandra (Twitter's Manhattan); the MetadataCache is Redis or memcached
//! holding the same id -> metadata entries; tweets arrive through Kafka, and
//! the IndexBuilder is a Kafka consumer that routes with `JumpHash::bucket_for`
//! (a stable hash, so every process agrees) and keeps its map in its own
//! replicated store; the Aggregator fans out over RPC and merges with
//! `merge_newest` / `merge_top_k`, which take plain `(id, score)` lists.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::Duration;

use hld::consistent_hash::JumpHash;
use hld::inverted_index::{merge_newest, merge_top_k, InvertedIndex, ParseError, Query, Tokens};
use hld::lru_feed::Cache;

use crate::common::{bytes, fortunes, per_second, percentile, thousands, timed, Rng, Table};

/// The workload's knobs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Generated tweets on top of the fortunes (every fortune is a tweet).
    pub generated_tweets: usize,
    /// Index servers (shards by tweet id).
    pub index_servers: u32,
    /// Users who post (and can be @mentioned).
    pub users: usize,
    /// Tweets per second of simulated time (the notes: 400M a day).
    pub tweets_per_second: u64,
    /// Queries replayed through the aggregator for latency and cache hit ratio.
    pub queries: usize,
    /// Distinct queries they are drawn from (Zipf: some are asked a lot).
    pub query_pool: usize,
    /// Results per query (a page of the timeline).
    pub page: usize,
    /// Share of queries ranked by BM25 (the rest: newest first).
    pub ranked_share: f64,
    /// Tweets the MetadataCache holds.
    pub cache_capacity: usize,
    /// The index server that dies and is rebuilt.
    pub kill_server: u32,
    /// Seed of the workload (the run is deterministic).
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            generated_tweets: 285_000,
            index_servers: 8,
            users: 20_000,
            tweets_per_second: 4_630,
            queries: 10_000,
            query_pool: 2_000,
            page: 20,
            ranked_share: 0.3,
            cache_capacity: 10_000,
            kill_server: 3,
            seed: 6,
        }
    }
}

/// What one run did.
#[derive(Clone, Debug)]
pub struct Report {
    /// Tweets indexed (fortunes + generated).
    pub tweets: usize,
    /// Of which texts of `data/fortunes.txt`.
    pub fortune_tweets: usize,
    /// Time to ingest them all (id, store write, routing, indexing).
    pub ingest_time: Duration,
    /// Postings held by each index server.
    pub postings_per_server: Vec<usize>,
    /// Busiest server's postings over the mean, sharding by tweet id.
    pub id_shard_max_over_mean: f64,
    /// The same if the same postings were sharded by word (same servers).
    pub word_shard_max_over_mean: f64,
    /// The same by word on the notes' 152 servers.
    pub word_shard_max_over_mean_152: f64,
    /// The most frequent word and its share of all postings.
    pub top_word: (String, f64),
    /// Postings in all servers.
    pub postings: usize,
    /// Bits per posting of the whole index memory (postings, vocabulary, ids,
    /// lengths): at this size, mostly the per-term cost of ~35k terms a server.
    pub bits_per_posting: f64,
    /// Bits per posting of the posting lists' heap (uncompressed tails included).
    pub lists_bits_per_posting: f64,
    /// Bits per posting of the sealed (compressed) blocks: what long lists cost.
    pub sealed_bits_per_posting: f64,
    /// Each showcase query and its match count (or why it did not parse).
    pub showcase: Vec<(String, Result<usize, ParseError>)>,
    /// Queries replayed through the aggregator.
    pub queries: usize,
    /// Their latency (fan-out, merge, hydration), p50 and p99.
    pub query_p50: Duration,
    /// See `query_p50`.
    pub query_p99: Duration,
    /// Metadata cache hits and misses during the replay.
    pub cache_hits: u64,
    /// See `cache_hits`.
    pub cache_misses: u64,
    /// Check answers that changed while `kill_server` was down.
    pub answers_changed_during_outage: usize,
    /// Check answers: each check query asked newest-first and ranked.
    pub check_answers: usize,
    /// Tweets the rebuilt server re-read from the TweetStore.
    pub rebuilt_tweets: usize,
    /// Time to rebuild it from the IndexBuilder's map and the TweetStore.
    pub rebuild_time: Duration,
    /// Time to load it from its `to_bytes` snapshot instead.
    pub snapshot_load_time: Duration,
    /// Size of that snapshot.
    pub snapshot_bytes: usize,
    /// The rebuilt server's `to_bytes` equals the lost server's.
    pub rebuilt_identical: bool,
    /// Check answers exactly as before the failure (after the rebuild).
    pub answers_equal_after_rebuild: usize,
    /// The printed table.
    pub table: Table,
}

// ---------------------------------------------------------------------------
// Messages and the tweet store.

/// A tweet's metadata, as the TweetStore keeps it and the aggregator returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tweet {
    /// Snowflake id.
    pub id: u64,
    /// Handle of the author, without the `@`.
    pub user: String,
    /// Up to 280 characters.
    pub text: String,
}

/// A tweet as the write path receives it (from Kafka, in production).
#[derive(Clone, Debug)]
pub struct PostTweet {
    /// The author's handle.
    pub user: String,
    /// The text.
    pub text: String,
    /// Arrival time, nanoseconds since the Unix epoch (simulated).
    pub at: u64,
}

/// Twitter's Snowflake ids: 41 bits of milliseconds since Twitter's epoch, 10
/// bits of worker, 12 bits of sequence within the millisecond.
#[derive(Clone, Debug)]
pub struct Snowflake {
    worker: u64,
    last_ms: u64,
    seq: u64,
}

impl Snowflake {
    /// Twitter's Snowflake epoch, 2010-11-04T01:42:54.657Z in Unix milliseconds
    /// (the `twepoch` constant of twitter-archive/snowflake).
    pub const EPOCH_MS: u64 = 1_288_834_974_657;
    const SEQ_BITS: u32 = 12;
    const WORKER_BITS: u32 = 10;

    pub fn new(worker: u64) -> Snowflake {
        Snowflake {
            worker: worker & ((1 << Self::WORKER_BITS) - 1),
            last_ms: 0,
            seq: 0,
        }
    }

    /// The id of a tweet arriving at `now` (Unix nanoseconds, after the epoch).
    /// Ids strictly increase: a clock that stands still or steps back reuses
    /// the last millisecond, and a full millisecond borrows the next one.
    pub fn next_id(&mut self, now: u64) -> u64 {
        let ms = (now / 1_000_000).max(self.last_ms);
        if ms == self.last_ms {
            self.seq += 1;
            if self.seq >> Self::SEQ_BITS != 0 {
                self.last_ms += 1;
                self.seq = 0;
            }
        } else {
            self.last_ms = ms;
            self.seq = 0;
        }
        ((self.last_ms - Self::EPOCH_MS) << (Self::WORKER_BITS + Self::SEQ_BITS))
            | (self.worker << Self::SEQ_BITS)
            | self.seq
    }

    /// The Unix millisecond an id was made in.
    pub fn millis_of(id: u64) -> u64 {
        (id >> (Self::WORKER_BITS + Self::SEQ_BITS)) + Self::EPOCH_MS
    }
}

/// The notes' database of tweets: id -> metadata.
#[derive(Default)]
pub struct TweetStore {
    rows: HashMap<u64, Arc<Tweet>>,
}

impl TweetStore {
    pub fn write(&mut self, tweet: Tweet) {
        self.rows.insert(tweet.id, Arc::new(tweet));
    }

    pub fn read(&self, id: u64) -> Option<Arc<Tweet>> {
        self.rows.get(&id).cloned()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Every tweet, in no particular order (a full scan: for statistics and
    /// for checks against brute force, never on the query path).
    pub fn scan(&self) -> impl Iterator<Item = &Tweet> + '_ {
        self.rows.values().map(|t| &**t)
    }
}

// ---------------------------------------------------------------------------
// Index servers, the index builder, the aggregator.

/// How a search orders its results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Newest (largest id) first: the "Latest" tab.
    Newest,
    /// Best BM25 score first: the "Top" tab.
    Ranked,
}

/// Aggregator -> IndexServer.
#[derive(Clone, Debug)]
pub struct SearchRequest {
    pub query: Query,
    pub limit: usize,
    pub order: Order,
}

/// IndexServer -> Aggregator: the shard's best `limit` matches.
#[derive(Clone, Debug, PartialEq)]
pub enum ShardResponse {
    Newest(Vec<u64>),
    Ranked(Vec<(u64, f32)>),
}

/// One index server: the inverted index of the tweets of its shard.
pub struct IndexServer {
    pub id: u32,
    index: InvertedIndex,
}

impl IndexServer {
    pub fn new(id: u32) -> IndexServer {
        IndexServer {
            id,
            index: InvertedIndex::new(),
        }
    }

    /// A server started from a snapshot another one wrote.
    pub fn from_snapshot(id: u32, bytes: &[u8]) -> Result<IndexServer, hld::inverted_index::Error> {
        Ok(IndexServer {
            id,
            index: InvertedIndex::from_bytes(bytes)?,
        })
    }

    pub fn index(&mut self, id: u64, text: &str) -> Result<(), hld::inverted_index::Error> {
        self.index.add(id, text)
    }

    pub fn handle(&self, req: &SearchRequest) -> ShardResponse {
        match req.order {
            Order::Newest => ShardResponse::Newest(self.index.search(&req.query, req.limit)),
            Order::Ranked => ShardResponse::Ranked(self.index.search_ranked(&req.query, req.limit)),
        }
    }

    pub fn count(&self, q: &Query) -> usize {
        self.index.count(q)
    }

    pub fn snapshot(&self) -> Vec<u8> {
        self.index.to_bytes()
    }

    pub fn tweets(&self) -> usize {
        self.index.len()
    }

    pub fn postings(&self) -> usize {
        self.index.num_postings()
    }

    pub fn memory_bytes(&self) -> usize {
        self.index.memory_bytes()
    }

    pub fn postings_bytes(&self) -> usize {
        self.index.postings_bytes()
    }

    /// Postings in compressed blocks and their bytes (see
    /// `InvertedIndex::sealed_postings`).
    pub fn sealed_postings(&self) -> (usize, usize) {
        self.index.sealed_postings()
    }

    pub fn terms(&self) -> usize {
        self.index.num_terms()
    }
}

/// Why a rebuild failed.
#[derive(Debug)]
pub enum RebuildError {
    /// The map names a tweet the TweetStore does not have.
    MissingTweet(u64),
    /// The index refused a tweet.
    Index(hld::inverted_index::Error),
}

impl std::fmt::Display for RebuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RebuildError::MissingTweet(id) => write!(f, "tweet {id} is not in the TweetStore"),
            RebuildError::Index(e) => write!(f, "the index refused a tweet: {e}"),
        }
    }
}

/// Routes new tweets to index servers and remembers which server has which
/// tweets (the notes: "indexServerId to HashSet of tweetIds"), so a lost
/// server can be rebuilt from the TweetStore.
pub struct IndexBuilder {
    shards: JumpHash,
    /// Per server, its tweet ids. Ids arrive increasing, so each list is sorted
    /// by construction: a `Vec` does the notes' `HashSet` job at 8 bytes an id.
    tweets_of: Vec<Vec<u64>>,
}

impl IndexBuilder {
    pub fn new(servers: u32) -> IndexBuilder {
        IndexBuilder {
            shards: JumpHash::new(servers).expect("at least one index server"),
            tweets_of: vec![Vec::new(); servers as usize],
        }
    }

    /// The server that owns a tweet.
    pub fn server_for(&self, id: u64) -> u32 {
        self.shards.bucket_for(&id)
    }

    /// `IndexTweet { id, text }`: records the tweet under its server and sends
    /// it there. A server that is down gets it when it is rebuilt.
    pub fn route(
        &mut self,
        servers: &mut [Option<IndexServer>],
        id: u64,
        text: &str,
    ) -> Result<u32, hld::inverted_index::Error> {
        let s = self.server_for(id);
        self.tweets_of[s as usize].push(id);
        if let Some(server) = &mut servers[s as usize] {
            server.index(id, text)?;
        }
        Ok(s)
    }

    pub fn tweets_of(&self, server: u32) -> &[u64] {
        &self.tweets_of[server as usize]
    }

    /// A fresh server with every tweet the map lists for `server`, re-read from
    /// the TweetStore in id order (the order they first arrived in).
    pub fn rebuild(&self, server: u32, store: &TweetStore) -> Result<IndexServer, RebuildError> {
        let mut fresh = IndexServer::new(server);
        for &id in self.tweets_of(server) {
            let tweet = store.read(id).ok_or(RebuildError::MissingTweet(id))?;
            fresh.index(id, &tweet.text).map_err(RebuildError::Index)?;
        }
        Ok(fresh)
    }
}

/// The cache in front of the TweetStore: tweet id -> metadata. Tweets do not
/// change once posted, so entries never go stale; it is filled on reads only.
pub struct MetadataCache {
    cache: Cache<u64, Arc<Tweet>>,
    pub hits: u64,
    pub misses: u64,
}

impl MetadataCache {
    pub fn new(capacity: usize) -> MetadataCache {
        MetadataCache {
            cache: Cache::new(capacity).expect("a cache of at least one tweet"),
            hits: 0,
            misses: 0,
        }
    }

    pub fn get(&mut self, id: u64, store: &TweetStore) -> Option<Arc<Tweet>> {
        if let Some(t) = self.cache.get(&id) {
            self.hits += 1;
            return Some(Arc::clone(t));
        }
        self.misses += 1;
        let t = store.read(id)?;
        self.cache.put(id, Arc::clone(&t));
        Some(t)
    }
}

/// One result: the tweet, and its BM25 score for a ranked search.
#[derive(Clone, Debug)]
pub struct Hit {
    pub tweet: Arc<Tweet>,
    pub score: Option<f32>,
}

/// Aggregator -> client.
#[derive(Clone, Debug)]
pub struct SearchResponse {
    pub hits: Vec<Hit>,
    /// Index servers that answered (fewer than all: the results may be incomplete).
    pub servers_answered: usize,
}

/// Fans a query out to every index server, merges their top results and
/// hydrates them through the metadata cache.
pub struct Aggregator {
    pub cache: MetadataCache,
}

impl Aggregator {
    pub fn search(
        &mut self,
        servers: &[Option<IndexServer>],
        store: &TweetStore,
        req: &SearchRequest,
    ) -> SearchResponse {
        let responses: Vec<ShardResponse> =
            servers.iter().flatten().map(|s| s.handle(req)).collect();
        let servers_answered = responses.len();
        let merged: Vec<(u64, Option<f32>)> = match req.order {
            Order::Newest => merge_newest(
                responses.into_iter().map(|r| match r {
                    ShardResponse::Newest(ids) => ids,
                    ShardResponse::Ranked(hits) => hits.into_iter().map(|(id, _)| id).collect(),
                }),
                req.limit,
            )
            .into_iter()
            .map(|id| (id, None))
            .collect(),
            Order::Ranked => merge_top_k(
                responses.into_iter().map(|r| match r {
                    ShardResponse::Ranked(hits) => hits,
                    ShardResponse::Newest(ids) => ids.into_iter().map(|id| (id, 0.0)).collect(),
                }),
                req.limit,
            )
            .into_iter()
            .map(|(id, s)| (id, Some(s)))
            .collect(),
        };
        // A tweet deleted after it was indexed has no metadata: it is dropped.
        let hits = merged
            .into_iter()
            .filter_map(|(id, score)| self.cache.get(id, store).map(|tweet| Hit { tweet, score }))
            .collect();
        SearchResponse {
            hits,
            servers_answered,
        }
    }

    /// Matches in all servers that are up.
    pub fn count(&self, servers: &[Option<IndexServer>], q: &Query) -> usize {
        servers.iter().flatten().map(|s| s.count(q)).sum()
    }
}

/// The whole deployment: the write path (ids, store, builder), the index
/// servers and the read path (aggregator).
pub struct TwitterSearch {
    pub ids: Snowflake,
    pub store: TweetStore,
    pub builder: IndexBuilder,
    pub servers: Vec<Option<IndexServer>>,
    pub aggregator: Aggregator,
}

impl TwitterSearch {
    pub fn new(cfg: &Config) -> TwitterSearch {
        TwitterSearch {
            ids: Snowflake::new(1),
            store: TweetStore::default(),
            builder: IndexBuilder::new(cfg.index_servers),
            servers: (0..cfg.index_servers)
                .map(|i| Some(IndexServer::new(i)))
                .collect(),
            aggregator: Aggregator {
                cache: MetadataCache::new(cfg.cache_capacity),
            },
        }
    }

    /// The write path: a Snowflake id, the TweetStore, then the index.
    pub fn post(&mut self, p: PostTweet) -> u64 {
        let id = self.ids.next_id(p.at);
        self.builder
            .route(&mut self.servers, id, &p.text)
            .expect("Snowflake ids are unique and increasing");
        self.store.write(Tweet {
            id,
            user: p.user,
            text: p.text,
        });
        id
    }

    pub fn search(&mut self, req: &SearchRequest) -> SearchResponse {
        self.aggregator.search(&self.servers, &self.store, req)
    }

    pub fn count(&self, q: &Query) -> usize {
        self.aggregator.count(&self.servers, q)
    }
}

// ---------------------------------------------------------------------------
// The workload.

/// Hashtags of the generated tweets, most popular first (Zipf).
const HASHTAGS: [&str; 24] = [
    "#life",
    "#love",
    "#unix",
    "#work",
    "#quotes",
    "#science",
    "#politics",
    "#music",
    "#coffee",
    "#linux",
    "#books",
    "#history",
    "#math",
    "#startup",
    "#space",
    "#cats",
    "#dogs",
    "#beer",
    "#monday",
    "#rust",
    "#chess",
    "#poetry",
    "#travel",
    "#startrek",
];

/// Picks ranks `0..n` with probability proportional to `1 / (rank + 1)^s`.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut acc = 0.0;
        let cdf = (0..n)
            .map(|r| {
                acc += 1.0 / ((r + 1) as f64).powf(s);
                acc
            })
            .collect();
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let total = *self.cdf.last().expect("non-empty");
        let u = rng.float() * total;
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// At most `max` characters, cut at a word boundary.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.trim_end().to_string(),
        Some((cut, _)) => {
            let head = &text[..cut];
            let at = head.rfind(char::is_whitespace).unwrap_or(cut);
            head[..at].trim_end().to_string()
        }
    }
}

fn handles(n: usize, words: &[&str], rng: &mut Rng) -> Vec<String> {
    let names: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| (4..=8).contains(&w.len()) && w.bytes().all(|b| b.is_ascii_lowercase()))
        .collect();
    (0..n)
        .map(|_| format!("{}{}", names[rng.below(names.len())], rng.below(1000)))
        .collect()
}

/// The tweets in arrival order: every fortune once, and `generated_tweets`
/// recombined ones, uniformly interleaved; arrival gaps average
/// `1 / tweets_per_second`.
pub fn tweet_stream(cfg: &Config) -> Vec<PostTweet> {
    let mut rng = Rng(cfg.seed);
    let mut texts = fortunes();
    rng.shuffle(&mut texts);
    // Words of the fortunes (not their ASCII art: a word has a letter in it).
    let words: Vec<&str> = texts
        .iter()
        .flat_map(|t| t.split_whitespace())
        .filter(|w| w.chars().any(char::is_alphabetic))
        .collect();
    let users = handles(cfg.users.max(1), &words, &mut rng);
    let posters = Zipf::new(users.len(), 0.8);
    let tags = Zipf::new(HASHTAGS.len(), 1.0);
    let total = texts.len() + cfg.generated_tweets;
    let gap = 1_000_000_000 / cfg.tweets_per_second.max(1);
    let mut now: u64 = 1_712_510_739_000_000_000; // 2024-04-07T17:25:39Z
    let mut next_fortune = 0;
    let mut out = Vec::with_capacity(total);
    for i in 0..total {
        now += rng.below(2 * gap as usize + 1) as u64;
        let user = users[posters.sample(&mut rng)].clone();
        let text = if rng.below(total - i) < texts.len() - next_fortune {
            next_fortune += 1;
            clip(&texts[next_fortune - 1], 280)
        } else {
            let mut t = String::new();
            if rng.chance(0.2) {
                t.push('@');
                t.push_str(&users[posters.sample(&mut rng)]);
            }
            let target = 6 + rng.below(19);
            let mut n = 0;
            while n < target {
                let at = rng.below(words.len());
                for w in &words[at..(at + 2 + rng.below(5)).min(words.len())] {
                    if !t.is_empty() {
                        t.push(' ');
                    }
                    t.push_str(w);
                    n += 1;
                }
            }
            let mut tagged = 0;
            while tagged < 2 && rng.chance(if tagged == 0 { 0.5 } else { 0.3 }) {
                t.push(' ');
                t.push_str(HASHTAGS[tags.sample(&mut rng)]);
                tagged += 1;
            }
            clip(&t, 280)
        };
        out.push(PostTweet {
            user,
            text,
            at: now,
        });
    }
    out
}

/// FxHash as in rustc-hash 2 (`hash = (hash + word) * 0xf1357aea2e62a9c5`,
/// finished by `rotate_left(26)`), eight bytes at a time: counting millions of
/// short words, SipHash's flood resistance buys nothing and costs half the time.
#[derive(Clone, Copy, Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.0 = self
                .0
                .wrapping_add(u64::from_le_bytes(w))
                .wrapping_mul(0xf135_7aea_2e62_a9c5);
        }
    }

    fn write_u8(&mut self, b: u8) {
        self.write(&[b]);
    }

    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

/// Document frequency of every token over all tweets (one per tweet that has
/// it: exactly the postings an index holds), most frequent first.
fn document_frequencies<'a>(texts: impl Iterator<Item = &'a str>) -> Vec<(String, u64)> {
    let mut df: HashMap<String, (u64, usize), BuildHasherDefault<FxHasher>> = HashMap::default();
    let mut tok = String::new();
    for (i, text) in texts.enumerate() {
        let mut it = Tokens::new(text);
        while it.next_into(&mut tok).is_some() {
            match df.get_mut(tok.as_str()) {
                Some(e) if e.1 == i => {}
                Some(e) => *e = (e.0 + 1, i),
                None => {
                    df.insert(tok.clone(), (1, i));
                }
            }
        }
    }
    let mut out: Vec<(String, u64)> = df.into_iter().map(|(t, (n, _))| (t, n)).collect();
    out.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// Postings per server if each word's whole posting list lived on one server
/// (jump hash of the word over `servers`).
fn postings_by_word(df: &[(String, u64)], servers: u32) -> Vec<u64> {
    let ring = JumpHash::new(servers).expect("at least one server");
    let mut load = vec![0u64; servers as usize];
    for (t, n) in df {
        load[ring.bucket_for(t.as_str()) as usize] += n;
    }
    load
}

fn max_over_mean(loads: &[u64]) -> f64 {
    let max = loads.iter().copied().max().unwrap_or(0) as f64;
    let mean = loads.iter().sum::<u64>() as f64 / loads.len().max(1) as f64;
    max / mean.max(1e-9)
}

/// The showcase queries (AND, OR, NOT, groups, hashtags) and one malformed one.
pub const SHOWCASE: [&str; 8] = [
    "love",
    "computer OR unix",
    "life death",
    "(cat OR dog) -food",
    "women AND NOT men",
    "#unix linux",
    "#beer OR #coffee",
    "(love OR money",
];

/// Distinct search-box queries, built from the words tweets use (skipping the
/// commonest, which nobody searches alone), hashtags and handles: single
/// words, `a b`, `a OR b`, `a -b`, `(a OR b) -c`, `#tag`, `#tag a`, `@user`.
pub fn query_pool(df: &[(String, u64)], n: usize, rng: &mut Rng) -> Vec<String> {
    let words: Vec<&str> = df
        .iter()
        .skip(30)
        .map(|(t, _)| t.as_str())
        .filter(|t| t.len() >= 3 && t.bytes().all(|b| b.is_ascii_lowercase()))
        .take(5_000)
        .collect();
    let tags: Vec<&str> = df
        .iter()
        .map(|(t, _)| t.as_str())
        .filter(|t| t.starts_with('#'))
        .collect();
    let users: Vec<&str> = df
        .iter()
        .map(|(t, _)| t.as_str())
        .filter(|t| t.starts_with('@'))
        .collect();
    let wz = Zipf::new(words.len(), 0.9);
    let w = |rng: &mut Rng| words[wz.sample(rng)];
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    let mut tries = 0;
    while out.len() < n && tries < 20 * n {
        tries += 1;
        let q = match rng.below(100) {
            0..=34 => w(rng).to_string(),
            35..=54 => format!("{} {}", w(rng), w(rng)),
            55..=69 => format!("{} OR {}", w(rng), w(rng)),
            70..=79 => format!("{} -{}", w(rng), w(rng)),
            80..=84 => format!("({} OR {}) -{}", w(rng), w(rng), w(rng)),
            85..=89 if !tags.is_empty() => tags[rng.below(tags.len())].to_string(),
            90..=94 if !tags.is_empty() => format!("{} {}", tags[rng.below(tags.len())], w(rng)),
            _ if !users.is_empty() => users[rng.below(users.len().min(500))].to_string(),
            _ => w(rng).to_string(),
        };
        if seen.insert(q.clone()) {
            out.push(q);
        }
    }
    out
}

fn snippet(t: &Tweet, chars: usize) -> String {
    let flat: String = t.text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut s: String = flat.chars().take(chars).collect();
    if flat.chars().count() > chars {
        s.push('…');
    }
    format!("@{}: \"{s}\"", t.user)
}

fn micros(d: Duration) -> String {
    format!("{:.0} us", d.as_secs_f64() * 1e6)
}

fn millis(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

/// The notes' sizing: 400M tweets a day for two years, 15 words a tweet,
/// 5-byte ids, 144 GB servers.
const NOTES_TWEETS: f64 = 400e6 * 730.0;
const NOTES_WORDS: f64 = 15.0;
const NOTES_ID_BYTES: f64 = 5.0;
const NOTES_SERVER_BYTES: f64 = 144e9;
const NOTES_SERVERS: u32 = 152;

/// Both orders of every check query, as the aggregator answers them.
fn answers(
    sys: &mut TwitterSearch,
    queries: &[Query],
    limit: usize,
) -> Vec<Vec<(u64, Option<f32>)>> {
    let mut out = Vec::new();
    for q in queries {
        for order in [Order::Newest, Order::Ranked] {
            let r = sys.search(&SearchRequest {
                query: q.clone(),
                limit,
                order,
            });
            out.push(r.hits.iter().map(|h| (h.tweet.id, h.score)).collect());
        }
    }
    out
}

/// Runs the whole scenario and reports.
pub fn run(cfg: &Config) -> Report {
    let stream = tweet_stream(cfg);
    let fortune_tweets = fortunes().len();
    let (first_at, last_at) = (stream[0].at, stream[stream.len() - 1].at);
    let mut sys = TwitterSearch::new(cfg);

    // Ingest: the write path for every tweet.
    let (ids, ingest_time) = timed(|| {
        stream
            .into_iter()
            .map(|p| sys.post(p))
            .collect::<Vec<u64>>()
    });
    let tweets = sys.store.len();
    let span_ms = Snowflake::millis_of(ids[ids.len() - 1]) - Snowflake::millis_of(ids[0]);
    debug_assert_eq!(span_ms, last_at / 1_000_000 - first_at / 1_000_000);

    // Sharding by tweet id vs by word, over the same postings.
    let servers: Vec<&IndexServer> = sys.servers.iter().flatten().collect();
    let postings_per_server: Vec<usize> = servers.iter().map(|s| s.postings()).collect();
    let postings: usize = postings_per_server.iter().sum();
    let memory: usize = servers.iter().map(|s| s.memory_bytes()).sum();
    let lists_memory: usize = servers.iter().map(|s| s.postings_bytes()).sum();
    let (sealed, sealed_bytes) = servers
        .iter()
        .map(|s| s.sealed_postings())
        .fold((0, 0), |(n, b), (n2, b2)| (n + n2, b + b2));
    let terms_per_server = servers.iter().map(|s| s.terms()).sum::<usize>() / servers.len().max(1);
    let id_loads: Vec<u64> = postings_per_server.iter().map(|&p| p as u64).collect();
    let df = document_frequencies(sys.store.scan().map(|t| t.text.as_str()));
    debug_assert_eq!(df.iter().map(|(_, n)| *n as usize).sum::<usize>(), postings);
    let word_loads = postings_by_word(&df, cfg.index_servers);
    let word_loads_152 = postings_by_word(&df, NOTES_SERVERS);
    let top_word = df
        .first()
        .map(|(t, n)| (t.clone(), *n as f64 / postings as f64))
        .unwrap_or_default();

    // Showcase queries: count, and the newest match.
    let mut showcase = Vec::new();
    let mut newest_of = Vec::new();
    for s in SHOWCASE {
        match Query::parse(s) {
            Ok(q) => {
                showcase.push((s.to_string(), Ok(sys.count(&q))));
                let newest = sys.search(&SearchRequest {
                    query: q,
                    limit: 1,
                    order: Order::Newest,
                });
                newest_of.push(newest.hits.first().map(|h| snippet(&h.tweet, 36)));
            }
            Err(e) => {
                showcase.push((s.to_string(), Err(e)));
                newest_of.push(None);
            }
        }
    }

    // The query workload: Zipf over a pool of distinct queries.
    let mut rng = Rng(cfg.seed ^ 0x5EA5C4);
    let pool: Vec<Query> = query_pool(&df, cfg.query_pool, &mut rng)
        .iter()
        .map(|s| Query::parse(s).expect("generated queries parse"))
        .collect();
    let pick = Zipf::new(pool.len(), 1.0);
    let (h0, m0) = (sys.aggregator.cache.hits, sys.aggregator.cache.misses);
    let mut lat = Vec::with_capacity(cfg.queries);
    for _ in 0..cfg.queries {
        let req = SearchRequest {
            query: pool[pick.sample(&mut rng)].clone(),
            limit: cfg.page,
            order: if rng.chance(cfg.ranked_share) {
                Order::Ranked
            } else {
                Order::Newest
            },
        };
        let (r, took) = timed(|| sys.search(&req));
        std::hint::black_box(r);
        lat.push(took);
    }
    let query_time: Duration = lat.iter().sum();
    let cache_hits = sys.aggregator.cache.hits - h0;
    let cache_misses = sys.aggregator.cache.misses - m0;
    let query_p50 = percentile(&mut lat, 50.0);
    let query_p99 = percentile(&mut lat, 99.0);

    // Kill an index server, watch answers go incomplete, rebuild it.
    let check: Vec<Query> = SHOWCASE
        .iter()
        .filter_map(|s| Query::parse(s).ok())
        .chain(pool.iter().take(200).cloned())
        .collect();
    let before = answers(&mut sys, &check, cfg.page);
    let k = cfg.kill_server;
    let lost = sys.servers[k as usize].take().expect("the server is up");
    let lost_bytes = lost.snapshot();
    drop(lost);
    let outage = sys.search(&SearchRequest {
        query: check[0].clone(),
        limit: cfg.page,
        order: Order::Newest,
    });
    let during = answers(&mut sys, &check, cfg.page);
    let answers_changed_during_outage = before.iter().zip(&during).filter(|(a, b)| a != b).count();
    let (rebuilt, rebuild_time) = timed(|| sys.builder.rebuild(k, &sys.store));
    let rebuilt = rebuilt.unwrap_or_else(|e| panic!("rebuilding server {k}: {e}"));
    let rebuilt_tweets = rebuilt.tweets();
    let rebuilt_identical = rebuilt.snapshot() == lost_bytes;
    let (from_snapshot, snapshot_load_time) = timed(|| IndexServer::from_snapshot(k, &lost_bytes));
    let from_snapshot = from_snapshot.expect("a snapshot this build wrote");
    debug_assert_eq!(from_snapshot.tweets(), rebuilt_tweets);
    let slot = rebuilt.id as usize;
    sys.servers[slot] = Some(rebuilt);
    let after = answers(&mut sys, &check, cfg.page);
    let answers_equal_after_rebuild = before.iter().zip(&after).filter(|(a, b)| a == b).count();

    let mut r = Report {
        tweets,
        fortune_tweets,
        ingest_time,
        id_shard_max_over_mean: max_over_mean(&id_loads),
        word_shard_max_over_mean: max_over_mean(&word_loads),
        word_shard_max_over_mean_152: max_over_mean(&word_loads_152),
        postings_per_server,
        top_word,
        postings,
        bits_per_posting: memory as f64 * 8.0 / postings as f64,
        lists_bits_per_posting: lists_memory as f64 * 8.0 / postings as f64,
        sealed_bits_per_posting: sealed_bytes as f64 * 8.0 / sealed.max(1) as f64,
        showcase,
        queries: cfg.queries,
        query_p50,
        query_p99,
        cache_hits,
        cache_misses,
        answers_changed_during_outage,
        check_answers: before.len(),
        rebuilt_tweets,
        rebuild_time,
        snapshot_load_time,
        snapshot_bytes: lost_bytes.len(),
        rebuilt_identical,
        answers_equal_after_rebuild,
        table: Table::default(),
    };

    // The notes' sizing, and the same tweets at the measured density: sealed
    // blocks (at 1.9B tweets a server every list that matters is long) plus
    // the 12 bytes a tweet of id and length the index keeps beside them.
    let notes_bytes = NOTES_TWEETS * NOTES_WORDS * NOTES_ID_BYTES;
    let sealed_total = NOTES_TWEETS * NOTES_WORDS * r.sealed_bits_per_posting / 8.0;
    let doc_table = NOTES_TWEETS * 12.0;
    let tb = |b: f64| format!("{:.1} TB", b / 1e12);
    let share = |n: u64| n as f64 * 100.0 / r.postings as f64;
    let top3: Vec<String> = df
        .iter()
        .take(3)
        .map(|(t, n)| format!("{t} {:.1}%", share(*n)))
        .collect();
    let busiest = |loads: &[u64]| loads.iter().copied().max().unwrap_or(0);
    let (pmin, pmax) = (
        r.postings_per_server.iter().min().copied().unwrap_or(0),
        r.postings_per_server.iter().max().copied().unwrap_or(0),
    );
    let lookups = r.cache_hits + r.cache_misses;

    let mut t = Table::new(
        "twitter_search",
        "tweet search sharded by tweet id (notes section 6): hld-inverted-index, hld-lru-feed, hld-consistent-hash",
    );
    t.row(
        "tweets indexed (data/fortunes.txt + generated)",
        format!(
            "{} ({} + {})",
            thousands(r.tweets as u64),
            thousands(r.fortune_tweets as u64),
            thousands((r.tweets - r.fortune_tweets) as u64)
        ),
    )
    .row(
        "Snowflake ids span (simulated, 400M tweets/day)",
        format!("{:.1} s", span_ms as f64 / 1e3),
    )
    .row(
        "ingest: id, TweetStore, IndexBuilder, IndexServer",
        per_second(r.tweets, r.ingest_time),
    )
    .row("index servers (jump hash of tweet id)", cfg.index_servers)
    .row(
        "postings per server: min / max (max/mean)",
        format!(
            "{} / {} ({:.3}x)",
            thousands(pmin as u64),
            thousands(pmax as u64),
            r.id_shard_max_over_mean
        ),
    )
    .row(
        &format!(
            "commonest words' share of postings (`{}` first)",
            r.top_word.0
        ),
        top3.join(", "),
    )
    .row(
        &format!("sharded by word on {} servers: busiest", cfg.index_servers),
        format!(
            "{:.1}% of postings ({:.2}x mean)",
            share(busiest(&word_loads)),
            r.word_shard_max_over_mean
        ),
    )
    .row(
        "by word on the notes' 152 servers: busiest",
        format!(
            "{:.2}% ({:.1}x mean) = {:.0} GB of {}",
            share(busiest(&word_loads_152)),
            r.word_shard_max_over_mean_152,
            share(busiest(&word_loads_152)) / 100.0 * notes_bytes / 1e9,
            tb(notes_bytes)
        ),
    )
    .row(
        "index memory / postings / terms a server",
        format!(
            "{} / {} / {}",
            bytes(memory as f64),
            thousands(r.postings as u64),
            thousands(terms_per_server as u64)
        ),
    )
    .row(
        "bits per posting: whole index / lists / sealed blocks",
        format!(
            "{:.1} / {:.1} / {:.1}",
            r.bits_per_posting, r.lists_bits_per_posting, r.sealed_bits_per_posting
        ),
    )
    .row(
        "notes: 292B tweets x 15 words x 40-bit ids",
        format!(
            "{} = {:.1} servers of 144 GB",
            tb(notes_bytes),
            notes_bytes / NOTES_SERVER_BYTES
        ),
    )
    .row(
        "same postings at sealed density + 12 B/tweet ids",
        format!(
            "{} + {} = {:.1} servers",
            tb(sealed_total),
            tb(doc_table),
            (sealed_total + doc_table) / NOTES_SERVER_BYTES
        ),
    )
    .row(
        "postings per tweet measured (no stop words dropped)",
        format!("{:.1} (notes: 15)", r.postings as f64 / r.tweets as f64),
    );
    for ((q, res), newest) in r.showcase.iter().zip(newest_of) {
        let value = match res {
            Ok(n) => format!(
                "{} matches; newest {}",
                thousands(*n as u64),
                newest.unwrap_or_default()
            ),
            Err(e) => format!("ParseError: {e}"),
        };
        t.row(&format!("query `{q}`"), value);
    }
    t.row(
        &format!(
            "queries (Zipf over {}, {:.0}% BM25, top {})",
            pool.len(),
            cfg.ranked_share * 100.0,
            cfg.page
        ),
        format!(
            "{} at {}",
            thousands(r.queries as u64),
            per_second(r.queries, query_time)
        ),
    )
    .row(
        "query p50 / p99 (fan-out, merge, hydrate)",
        format!("{} / {}", micros(r.query_p50), micros(r.query_p99)),
    )
    .row(
        &format!(
            "MetadataCache hit ratio ({} tweets)",
            thousands(cfg.cache_capacity as u64)
        ),
        format!(
            "{:.1}% of {} lookups",
            r.cache_hits as f64 * 100.0 / lookups.max(1) as f64,
            thousands(lookups)
        ),
    )
    .row(
        &format!("server {k} killed: servers answering / answers changed"),
        format!(
            "{} of {} / {} of {}",
            outage.servers_answered,
            cfg.index_servers,
            r.answers_changed_during_outage,
            r.check_answers
        ),
    )
    .row(
        &format!("rebuild server {k} from the IndexBuilder map"),
        format!(
            "{} tweets re-read in {}",
            thousands(r.rebuilt_tweets as u64),
            millis(r.rebuild_time)
        ),
    )
    .row(
        "or load its to_bytes snapshot",
        format!(
            "{} in {}",
            bytes(r.snapshot_bytes as f64),
            millis(r.snapshot_load_time)
        ),
    )
    .row(
        "rebuilt server: same to_bytes / same answers",
        format!(
            "{} / {} of {}",
            if r.rebuilt_identical { "yes" } else { "NO" },
            r.answers_equal_after_rebuild,
            r.check_answers
        ),
    );
    r.table = t;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use hld::inverted_index::{tokenize, ParseErrorKind};
    use std::collections::HashSet;

    fn small() -> Config {
        Config {
            generated_tweets: 15_000,
            index_servers: 6,
            users: 2_000,
            queries: 2_000,
            query_pool: 300,
            cache_capacity: 1_000,
            kill_server: 2,
            ..Config::default()
        }
    }

    fn deploy(cfg: &Config) -> TwitterSearch {
        let mut sys = TwitterSearch::new(cfg);
        for p in tweet_stream(cfg) {
            sys.post(p);
        }
        sys
    }

    /// The oracle: a query evaluated on one tweet's token set.
    fn matches(q: &Query, tokens: &HashSet<String>) -> bool {
        match q {
            Query::Term(t) => tokens.contains(t),
            Query::And(k) => k.iter().all(|q| matches(q, tokens)),
            Query::Or(k) => k.iter().any(|q| matches(q, tokens)),
            Query::Not(k) => !matches(k, tokens),
        }
    }

    fn check_queries(sys: &TwitterSearch, cfg: &Config) -> Vec<Query> {
        let df = document_frequencies(sys.store.scan().map(|t| t.text.as_str()));
        let mut rng = Rng(99);
        SHOWCASE
            .iter()
            .filter_map(|s| Query::parse(s).ok())
            .chain(
                query_pool(&df, cfg.query_pool, &mut rng)
                    .iter()
                    .map(|s| Query::parse(s).unwrap()),
            )
            .chain(
                ["NOT the", "-#love -#life", "@nobody OR zzzzqqq"]
                    .iter()
                    .map(|s| Query::parse(s).unwrap()),
            )
            .collect()
    }

    #[test]
    fn aggregator_equals_brute_force_over_all_tweets() {
        let cfg = small();
        let mut sys = deploy(&cfg);
        let all: Vec<(u64, HashSet<String>)> = sys
            .store
            .scan()
            .map(|t| (t.id, tokenize(&t.text).collect()))
            .collect();
        let queries = check_queries(&sys, &cfg);
        assert!(queries.len() > 200);
        let mut nonempty = 0;
        for q in &queries {
            let mut want: Vec<u64> = all
                .iter()
                .filter(|(_, t)| matches(q, t))
                .map(|(id, _)| *id)
                .collect();
            want.sort_unstable_by(|a, b| b.cmp(a));
            nonempty += usize::from(!want.is_empty());
            assert_eq!(sys.count(q), want.len(), "count of {q}");

            let limit = 50;
            let newest = sys.search(&SearchRequest {
                query: q.clone(),
                limit,
                order: Order::Newest,
            });
            assert_eq!(newest.servers_answered, cfg.index_servers as usize);
            let ids: Vec<u64> = newest.hits.iter().map(|h| h.tweet.id).collect();
            assert_eq!(ids, want[..want.len().min(limit)], "newest of {q}");
            for h in &newest.hits {
                assert_eq!(
                    *h.tweet,
                    *sys.store.read(h.tweet.id).unwrap(),
                    "hydrated metadata"
                );
            }

            // Ranked: every result matches, best first, and the global top k
            // equals the top k of every server's full ranked list (cutting each
            // shard at k loses nothing).
            let ranked = sys.search(&SearchRequest {
                query: q.clone(),
                limit,
                order: Order::Ranked,
            });
            let want_set: HashSet<u64> = want.iter().copied().collect();
            assert_eq!(
                ranked.hits.len(),
                want.len().min(limit),
                "ranked size of {q}"
            );
            assert!(
                ranked.hits.iter().all(|h| want_set.contains(&h.tweet.id)),
                "ranked of {q}"
            );
            assert!(ranked.hits.windows(2).all(|w| w[0].score >= w[1].score));
            let full: Vec<(u64, f32)> = sys
                .servers
                .iter()
                .flatten()
                .flat_map(|s| {
                    match s.handle(&SearchRequest {
                        query: q.clone(),
                        limit: usize::MAX,
                        order: Order::Ranked,
                    }) {
                        ShardResponse::Ranked(h) => h,
                        ShardResponse::Newest(_) => unreachable!(),
                    }
                })
                .collect();
            assert_eq!(full.len(), want.len());
            let mut full_sorted = full;
            full_sorted.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
            full_sorted.truncate(limit);
            let got: Vec<(u64, f32)> = ranked
                .hits
                .iter()
                .map(|h| (h.tweet.id, h.score.unwrap()))
                .collect();
            assert_eq!(got, full_sorted, "ranked merge of {q}");
        }
        assert!(
            nonempty * 10 > queries.len() * 8,
            "{nonempty} of {}",
            queries.len()
        );
    }

    #[test]
    fn rebuilt_server_answers_exactly_as_before() {
        let cfg = small();
        let mut sys = deploy(&cfg);
        let queries = check_queries(&sys, &cfg);
        let k = cfg.kill_server;
        let per_server = |s: &IndexServer| -> Vec<ShardResponse> {
            queries
                .iter()
                .flat_map(|q| {
                    [Order::Newest, Order::Ranked].map(|order| {
                        s.handle(&SearchRequest {
                            query: q.clone(),
                            limit: 30,
                            order,
                        })
                    })
                })
                .collect()
        };
        let before = answers(&mut sys, &queries, 30);
        let lost = sys.servers[k as usize].take().unwrap();
        let (lost_bytes, lost_answers, lost_tweets) =
            (lost.snapshot(), per_server(&lost), lost.tweets());
        drop(lost);
        assert_eq!(sys.builder.tweets_of(k).len(), lost_tweets);

        // Without it, results are missing.
        let during = answers(&mut sys, &queries, 30);
        assert!(before.iter().zip(&during).filter(|(a, b)| a != b).count() > queries.len() / 2);

        let rebuilt = sys.builder.rebuild(k, &sys.store).unwrap();
        assert_eq!(rebuilt.snapshot(), lost_bytes);
        assert_eq!(per_server(&rebuilt), lost_answers);
        sys.servers[k as usize] = Some(rebuilt);
        assert_eq!(answers(&mut sys, &queries, 30), before);

        // A server loaded from the snapshot answers the same too.
        let loaded = IndexServer::from_snapshot(k, &lost_bytes).unwrap();
        assert_eq!(per_server(&loaded), lost_answers);

        // A map naming a tweet the store lacks is an error, not a bad index.
        let mut broken = IndexBuilder::new(cfg.index_servers);
        let mut none: Vec<Option<IndexServer>> = (0..cfg.index_servers).map(|_| None).collect();
        let s = broken.route(&mut none, 7, "never stored").unwrap();
        assert!(matches!(
            broken.rebuild(s, &sys.store),
            Err(RebuildError::MissingTweet(7))
        ));
    }

    #[test]
    fn sharding_by_id_balances_postings_and_by_word_does_not() {
        let cfg = small();
        let sys = deploy(&cfg);
        let loads: Vec<u64> = sys
            .servers
            .iter()
            .flatten()
            .map(|s| s.postings() as u64)
            .collect();
        let tweets: Vec<usize> = sys.servers.iter().flatten().map(|s| s.tweets()).collect();
        assert_eq!(tweets.iter().sum::<usize>(), sys.store.len());
        for (i, s) in sys.servers.iter().flatten().enumerate() {
            assert_eq!(sys.builder.tweets_of(i as u32).len(), s.tweets());
        }
        // ~5k tweets a server: the share of each is a binomial sample with a
        // standard deviation near 1.3%; 8% above the mean is > 5 sigma.
        assert!(max_over_mean(&loads) < 1.08, "{loads:?}");

        let df = document_frequencies(sys.store.scan().map(|t| t.text.as_str()));
        assert_eq!(
            df.iter().map(|(_, n)| n).sum::<u64>(),
            loads.iter().sum::<u64>()
        );
        // By word, the server holding the commonest words carries several
        // times its share on the notes' 152 servers.
        assert!(max_over_mean(&postings_by_word(&df, NOTES_SERVERS)) > 3.0);
        assert!(max_over_mean(&postings_by_word(&df, cfg.index_servers)) > max_over_mean(&loads));
    }

    #[test]
    fn tweet_ids_are_snowflakes_in_arrival_order() {
        let cfg = small();
        let mut ids = Snowflake::new(1);
        let stream = tweet_stream(&cfg);
        let got: Vec<u64> = stream.iter().map(|p| ids.next_id(p.at)).collect();
        assert!(got.windows(2).all(|w| w[0] < w[1]));
        for (p, &id) in stream.iter().zip(&got) {
            assert_eq!(Snowflake::millis_of(id), p.at / 1_000_000);
            assert_eq!((id >> 12) & 0x3FF, 1, "worker bits");
        }
        // A burst in one millisecond: the sequence runs out and borrows the next.
        let mut burst = Snowflake::new(0);
        let t = 1_712_510_739_000_000_000;
        let b: Vec<u64> = (0..5000).map(|_| burst.next_id(t)).collect();
        assert!(b.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Snowflake::millis_of(b[4095]), t / 1_000_000);
        assert_eq!(Snowflake::millis_of(b[4096]), t / 1_000_000 + 1);
        assert!(stream.iter().all(|p| p.text.chars().count() <= 280));
        assert_eq!(stream.len(), fortunes().len() + cfg.generated_tweets);
    }

    #[test]
    fn a_bad_query_is_a_typed_error() {
        let e = Query::parse("(love OR money").unwrap_err();
        assert_eq!((e.pos, e.kind), (0, ParseErrorKind::UnclosedParen));
        let e = Query::parse("love AND").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::MissingRightOperand);
    }

    #[test]
    fn run_reports_what_happened() {
        let cfg = small();
        let r = run(&cfg);
        assert_eq!(r.tweets, r.fortune_tweets + cfg.generated_tweets);
        assert_eq!(r.postings_per_server.len(), cfg.index_servers as usize);
        assert!(r.rebuilt_identical);
        assert_eq!(r.answers_equal_after_rebuild, r.check_answers);
        assert!(r.answers_changed_during_outage > 0);
        // Every replayed query hydrates at most a page of ids, and popular
        // queries repeat, so some of them are hits.
        assert!(r.cache_hits + r.cache_misses <= (cfg.queries * cfg.page) as u64);
        assert!(r.cache_hits > 0 && r.cache_misses > 0);
        // Long lists compress far below the notes' 40-bit ids; a small index's
        // whole heap is dominated by tails and per-term costs.
        assert!(
            r.sealed_bits_per_posting < 16.0,
            "{}",
            r.sealed_bits_per_posting
        );
        assert!(r.sealed_bits_per_posting < r.lists_bits_per_posting);
        assert!(r.lists_bits_per_posting < r.bits_per_posting);
        let bad: Vec<_> = r.showcase.iter().filter(|(_, res)| res.is_err()).collect();
        assert_eq!(bad.len(), 1);
        assert!(r
            .showcase
            .iter()
            .filter_map(|(_, res)| res.as_ref().ok())
            .all(|&n| n > 0));
        assert!(r.table.to_string().contains("this '(' is never closed"));
    }
}
