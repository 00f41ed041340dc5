//! Type-ahead suggester (design notes, section 11), on real word and phrase counts.
//!
//! Every term carries how often it was searched, and each keystroke asks for the
//! ten heaviest completions of what the user has typed so far. The services, as
//! the notes name them:
//!
//! - **CollectionService** logs every search a user makes ([`SearchEvent`]) and
//!   dumps the log to object storage once per simulated minute ([`LogBatch`]).
//! - **Aggregator** periodically picks up the sealed batches and counts them
//!   map-reduce style: each batch is *mapped* to partial counts, the partials are
//!   *reduced* by merging, and the result is added to the counts store
//!   ([`CountsStore`], the notes' `term -> frequency` table in Cassandra).
//! - **TrieBuilder** rebuilds the tries from the counts: it cuts the sorted terms
//!   into weight-balanced ranges (`ShardMap::balanced`), freezes one
//!   `FrozenTrie` per range (`FrozenTrie::from_sorted`) and ships its bytes
//!   ([`LoadTrie`], `FrozenTrie::to_bytes`) to the TrieServers; when all have
//!   loaded it, it flips the load balancer to the new generation.
//! - **TrieServer**s hold their range's frozen trie, and load the next
//!   generation beside the one being served, so no reader ever waits for a
//!   rebuild or sees a half-swapped system: a swap is an `Arc` pushed under a
//!   write lock that is held only for that push.
//! - **LoadBalancer** routes a prefix to the servers whose ranges can hold its
//!   completions (`ShardMap::shards_for_prefix`: usually one) and merges their
//!   answers (`merge_top_k`), all from the one generation it read when the
//!   request came in.
//!
//! The workload: the counts store starts from `data/unigrams-100k.tsv` and
//! `data/bigrams-100k.tsv` (Google Web Trillion Word corpus counts via Peter
//! Norvig's lists; sentence markers `<s>` dropped, terms `normalize`d), read as
//! one search per [`Config::occurrences_per_search`] occurrences. One simulated
//! hour of searches is logged, drawn in proportion to those counts, plus a few
//! new phrases that start trending (not in the data: the logs bring them in). A
//! typing session runs throughout: users type queries one character at a time
//! and get suggestions per keystroke, timed; halfway through, the Aggregator
//! and the TrieBuilder run on another thread while the session keeps typing
//! against the old tries, and then the new ones. The notes split the servers by
//! first letter (A-M, N-Z); the report shows how unequal that would be next to
//! the weight-balanced ranges.
//!
//! Past one machine: the CollectionService appends to Kafka and a consumer
//! dumps each minute to S3; the Aggregator is a MapReduce or Spark job over
//! those files that writes `term -> count` to Cassandra; the TrieBuilder is a
//! batch job that reads the counts in key order (what `FrozenTrie::from_sorted`
//! wants), computes the `ShardMap`, and ships each range's
//! `FrozenTrie::to_bytes` to its trie servers (or stores it in Redis as one
//! value per range and generation), where `FrozenTrie::from_bytes` checks and
//! loads it; the load balancer (or the client library) holds the `ShardMap`
//! with its generation number and routes each prefix by `shards_for_prefix`.
//! The cores do no I/O: bytes in, bytes out, so any transport fits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use hld::trie::{merge_top_k, normalize, Error, FrozenTrie, ShardMap};

use crate::common::{bytes, per_second, percentile, timed, Rng, Table};

/// Suggestions per keystroke.
pub const K: usize = 10;

/// Nanoseconds in a simulated minute: the CollectionService's dump period.
const MINUTE: u64 = 60_000_000_000;

/// The workload's knobs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Lines taken from the top of each data file (both hold 100,000).
    pub terms_per_file: usize,
    /// The data's counts are occurrences in a web corpus; the counts store starts
    /// with `count / occurrences_per_search` searches per term (at least 1).
    pub occurrences_per_search: u64,
    /// TrieServers (the notes: "partitioned say into 4 servers").
    pub servers: usize,
    /// Searches logged by everyone in the simulated hour.
    pub log_events: usize,
    /// New phrases that start trending in the logs.
    pub trending: usize,
    /// Share of the logged searches that go to the trending phrases.
    pub trending_share: f64,
    /// Queries typed keystroke by keystroke in the measured session: half
    /// before the rebuild, half after it, and as many as fit while it runs.
    pub typed_queries: usize,
    /// Seed of the workload (the run is deterministic up to how many keystrokes
    /// land while the rebuild thread runs).
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            terms_per_file: 100_000,
            occurrences_per_search: 1_000,
            servers: 4,
            log_events: 1_000_000,
            trending: 20,
            trending_share: 0.05,
            typed_queries: 20_000,
            seed: 11,
        }
    }
}

/// What one run did.
#[derive(Clone, Debug)]
pub struct Report {
    /// Terms loaded from the two data files (after normalising and merging).
    pub terms: usize,
    /// Searches logged by the CollectionService.
    pub events_logged: usize,
    /// Searches the Aggregator counted (those in sealed batches).
    pub events_aggregated: usize,
    /// Sealed batches it counted.
    pub batches: usize,
    /// Time of the map-reduce over the batches, including the store update.
    pub aggregate_time: Duration,
    /// Terms the rebuild froze, and the time it took (snapshot of the counts,
    /// sort, `ShardMap::balanced`, `FrozenTrie::from_sorted`, `to_bytes`).
    pub rebuild_terms: usize,
    /// See `rebuild_terms`.
    pub rebuild_time: Duration,
    /// Time for every TrieServer to check and load its bytes.
    pub ship_time: Duration,
    /// The longest any write lock was held during the swap.
    pub swap_lock_max: Duration,
    /// Frozen trie bytes per term, as shipped (`to_bytes`).
    pub shipped_bytes_per_term: f64,
    /// Frozen trie bytes per term, loaded (`heap_bytes`).
    pub heap_bytes_per_term: f64,
    /// The balanced map's boundaries.
    pub balanced_bounds: Vec<String>,
    /// Per server under `ShardMap::balanced` and under equal first-letter
    /// ranges: share of the searches (weight), of the session's keystroke
    /// requests, and of the terms (memory).
    pub balanced: Shares,
    /// See `balanced`.
    pub letters: Shares,
    /// Two servers: balanced, then the notes' A-M / N-Z.
    pub two_balanced: Vec<f64>,
    /// See `two_balanced`.
    pub two_am_nz: Vec<f64>,
    /// Queries typed and keystrokes (suggestion requests) in the session.
    pub typed_queries: usize,
    /// See `typed_queries`.
    pub keystrokes: usize,
    /// Keystrokes answered by the old tries while the rebuild ran.
    pub reads_during_rebuild: usize,
    /// Keystrokes answered by the new tries after the swap.
    pub reads_after_swap: usize,
    /// Requests that found their generation already retired and were re-routed.
    pub rerouted: u64,
    /// Keystroke latency percentiles over the whole session.
    pub p50: Duration,
    /// See `p50`.
    pub p99: Duration,
    /// p99 of the keystrokes answered while the rebuild ran.
    pub p99_during_rebuild: Duration,
    /// Suggestion requests per second of request time (one thread).
    pub suggestions_per_sec: f64,
    /// Share of typed characters a user saves by picking the query as soon as it
    /// is suggested.
    pub keystrokes_saved: f64,
    /// The heaviest trending phrase, its logged searches, and the characters
    /// typed before it is suggested after the rebuild.
    pub trending_top: (String, u64, Option<usize>),
    /// The printed table.
    pub table: Table,
}

// ----- messages ------------------------------------------------------------

/// One search a user made, as the CollectionService logs it.
#[derive(Clone, Debug)]
pub struct SearchEvent {
    /// Simulated time, nanoseconds.
    pub at: u64,
    /// What the user searched for (normalised).
    pub query: String,
}

/// One dump of the log to object storage: a minute of searches.
#[derive(Clone, Debug)]
pub struct LogBatch {
    /// The minute (since the start) the batch covers.
    pub minute: u64,
    /// Its searches, in time order.
    pub events: Vec<SearchEvent>,
}

/// `term -> searches`, as the Aggregator's map and reduce steps pass them on.
pub type PartialCounts = HashMap<String, u64>;

/// The TrieBuilder's message to one TrieServer: a generation of its range.
#[derive(Clone, Copy, Debug)]
pub struct LoadTrie<'a> {
    /// Rebuild number (1, 2, ...).
    pub generation: u64,
    /// The generation the balancer routes to now: the server keeps it (requests
    /// are still arriving for it) and retires any other.
    pub serving: u64,
    /// `FrozenTrie::to_bytes` of the server's range.
    pub bytes: &'a [u8],
}

/// The load balancer's answer to one keystroke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suggestions {
    /// The generation of tries every part of the answer came from (0: none yet).
    pub generation: u64,
    /// Up to `K` completions, heaviest first, ties by term.
    pub terms: Vec<(String, u64)>,
}

// ----- services --------------------------------------------------------------

/// Logs what users search and dumps the log once per simulated minute.
#[derive(Debug, Default)]
pub struct CollectionService {
    open: Option<LogBatch>,
    /// Sealed batches not yet picked up: the object store.
    object_store: Vec<LogBatch>,
    logged: usize,
}

impl CollectionService {
    /// Logs one search at `now`; a search in a new minute seals the open batch.
    pub fn log(&mut self, now: u64, query: &str) {
        let minute = now / MINUTE;
        if self.open.as_ref().is_some_and(|b| b.minute != minute) {
            let sealed = self.open.take().expect("checked above");
            self.object_store.push(sealed);
        }
        self.open
            .get_or_insert_with(|| LogBatch {
                minute,
                events: Vec::new(),
            })
            .events
            .push(SearchEvent {
                at: now,
                query: query.to_string(),
            });
        self.logged += 1;
    }

    /// Hands over every sealed batch (the open minute keeps filling).
    pub fn take_sealed(&mut self) -> Vec<LogBatch> {
        std::mem::take(&mut self.object_store)
    }

    /// Searches logged so far.
    pub fn logged(&self) -> usize {
        self.logged
    }
}

/// The counts table: `term -> searches` (Cassandra in the notes).
#[derive(Clone, Debug, Default)]
pub struct CountsStore {
    counts: HashMap<String, u64>,
}

impl CountsStore {
    /// Adds partial counts (the Aggregator's output).
    pub fn add(&mut self, partial: PartialCounts) {
        for (term, n) in partial {
            *self.counts.entry(term).or_insert(0) += n;
        }
    }

    /// Number of terms.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Searches of `term` so far.
    pub fn get(&self, term: &str) -> Option<u64> {
        self.counts.get(term).copied()
    }

    /// Every `(term, count)` in byte order of the terms: a full scan in key
    /// order, what the TrieBuilder reads.
    pub fn sorted(&self) -> Vec<(&str, u64)> {
        let mut v: Vec<(&str, u64)> = self.counts.iter().map(|(t, &n)| (t.as_str(), n)).collect();
        v.sort_unstable();
        v
    }
}

/// What one aggregation did.
#[derive(Clone, Debug)]
pub struct Aggregation {
    /// Batches and events counted.
    pub batches: usize,
    /// See `batches`.
    pub events: usize,
    /// Distinct terms in the reduced counts.
    pub distinct: usize,
    /// The counts include every search up to this time (ns).
    pub through: u64,
    /// Map, reduce and store update.
    pub time: Duration,
}

/// Counts the sealed log batches, map-reduce style.
#[derive(Debug, Default)]
pub struct Aggregator;

impl Aggregator {
    /// Map: one batch to its partial counts.
    pub fn map(&self, batch: &LogBatch) -> PartialCounts {
        let mut out = PartialCounts::new();
        for e in &batch.events {
            // Clone a query only the first time the batch sees it.
            match out.get_mut(e.query.as_str()) {
                Some(n) => *n += 1,
                None => {
                    out.insert(e.query.clone(), 1);
                }
            }
        }
        out
    }

    /// Reduce: merges partial counts (the bigger one absorbs the others).
    pub fn reduce(&self, parts: impl IntoIterator<Item = PartialCounts>) -> PartialCounts {
        let mut parts: Vec<PartialCounts> = parts.into_iter().collect();
        let Some(big) = (0..parts.len()).max_by_key(|&i| parts[i].len()) else {
            return PartialCounts::new();
        };
        let mut total = parts.swap_remove(big);
        for part in parts {
            for (term, n) in part {
                *total.entry(term).or_insert(0) += n;
            }
        }
        total
    }

    /// Counts `batches` and adds the result to `store`.
    pub fn aggregate(&self, batches: &[LogBatch], store: &mut CountsStore) -> Aggregation {
        let start = Instant::now();
        let total = self.reduce(batches.iter().map(|b| self.map(b)));
        let distinct = total.len();
        store.add(total);
        Aggregation {
            batches: batches.len(),
            events: batches.iter().map(|b| b.events.len()).sum(),
            distinct,
            through: batches
                .iter()
                .flat_map(|b| b.events.last())
                .map(|e| e.at)
                .max()
                .unwrap_or(0),
            time: start.elapsed(),
        }
    }
}

/// A rebuilt set of tries, ready to ship.
#[derive(Clone, Debug)]
pub struct TrieBuild {
    /// The rebuild number.
    pub generation: u64,
    /// Which server holds which range.
    pub map: ShardMap,
    /// `FrozenTrie::to_bytes` of each server's range (a server beyond the
    /// map's ranges gets an empty trie).
    pub shards: Vec<Vec<u8>>,
    /// Terms frozen.
    pub terms: usize,
    /// `heap_bytes` of the frozen tries.
    pub heap_bytes: usize,
    /// Snapshot, sort, balance, freeze and serialise.
    pub time: Duration,
}

/// What shipping and flipping a build cost.
#[derive(Clone, Copy, Debug)]
pub struct Swap {
    /// Until every server had checked and loaded its bytes.
    pub ship_time: Duration,
    /// The longest any write lock was held (a server's push, the balancer's flip).
    pub lock_max: Duration,
}

/// Rebuilds frozen tries from the counts and swaps them in.
#[derive(Debug)]
pub struct TrieBuilder {
    servers: usize,
}

impl TrieBuilder {
    /// A builder for `servers` TrieServers.
    pub fn new(servers: usize) -> TrieBuilder {
        TrieBuilder { servers }
    }

    /// Freezes the counts into one trie per weight-balanced range.
    pub fn build(&self, generation: u64, store: &CountsStore) -> Result<TrieBuild, Error> {
        let start = Instant::now();
        let sorted = store.sorted();
        let map = ShardMap::balanced(sorted.iter().copied(), self.servers)?;
        let mut shards = Vec::with_capacity(self.servers);
        let mut heap_bytes = 0;
        let mut from = 0;
        for s in 0..self.servers {
            // The map's ranges are contiguous in the sorted terms.
            let to = match map.bounds().get(s) {
                Some(bound) => sorted.partition_point(|(t, _)| *t < bound.as_str()),
                None if s < map.shards() => sorted.len(),
                None => from,
            };
            let trie = FrozenTrie::from_sorted(sorted[from..to].iter().copied())?;
            heap_bytes += trie.heap_bytes();
            shards.push(trie.to_bytes());
            from = to;
        }
        Ok(TrieBuild {
            generation,
            map,
            shards,
            terms: sorted.len(),
            heap_bytes,
            time: start.elapsed(),
        })
    }

    /// Sends each server its range. Any server refusing its bytes stops the
    /// rollout: the balancer is not flipped and the old generation keeps serving.
    pub fn ship(&self, build: &TrieBuild, lb: &LoadBalancer) -> Result<Swap, Error> {
        let start = Instant::now();
        let serving = lb.routing().generation;
        let mut lock_max = Duration::ZERO;
        for (server, bytes) in lb.servers.iter().zip(&build.shards) {
            lock_max = lock_max.max(server.load(&LoadTrie {
                generation: build.generation,
                serving,
                bytes,
            })?);
        }
        Ok(Swap {
            ship_time: start.elapsed(),
            lock_max,
        })
    }

    /// Points the balancer at the new generation (every server has it).
    pub fn flip(&self, build: &TrieBuild, lb: &LoadBalancer) -> Duration {
        lb.route(Routing {
            generation: build.generation,
            map: build.map.clone(),
        })
    }

    /// Ship, then flip.
    pub fn deploy(&self, build: &TrieBuild, lb: &LoadBalancer) -> Result<Swap, Error> {
        let swap = self.ship(build, lb)?;
        let flip = self.flip(build, lb);
        Ok(Swap {
            lock_max: swap.lock_max.max(flip),
            ..swap
        })
    }
}

/// One generation of a server's range, loaded.
struct Loaded {
    generation: u64,
    trie: Arc<FrozenTrie>,
}

/// Holds the frozen trie of one key range: the generation being served, and
/// the next one while a rollout is under way.
pub struct TrieServer {
    tries: RwLock<Vec<Loaded>>,
}

impl TrieServer {
    /// A server with nothing loaded yet.
    pub fn new() -> TrieServer {
        TrieServer {
            tries: RwLock::new(Vec::new()),
        }
    }

    /// Checks and loads a generation (outside any lock), then installs it beside
    /// the one being served (`msg.serving`), retiring any other (a failed
    /// rollout's, or the one before); returns how long the write lock was held.
    /// Bad bytes are the trie's typed error, and leave the server as it was.
    pub fn load(&self, msg: &LoadTrie) -> Result<Duration, Error> {
        let trie = Arc::new(FrozenTrie::from_bytes(msg.bytes)?);
        let (retired, held) = {
            let mut tries = self.tries.write().unwrap_or_else(PoisonError::into_inner);
            timed(|| {
                let (kept, retired): (Vec<Loaded>, Vec<Loaded>) = std::mem::take(&mut *tries)
                    .into_iter()
                    .partition(|l| l.generation == msg.serving && l.generation != msg.generation);
                *tries = kept;
                tries.push(Loaded {
                    generation: msg.generation,
                    trie,
                });
                retired
            })
        };
        // Freeing a retired trie happens after the lock is released (and only
        // once the last reader still holding it is done).
        drop(retired);
        Ok(held)
    }

    /// The top `k` completions of `prefix` in `generation`, or `None` if this
    /// server no longer (or not yet) has it.
    pub fn top_k(&self, generation: u64, prefix: &str, k: usize) -> Option<Vec<(String, u64)>> {
        let trie = {
            let tries = self.tries.read().unwrap_or_else(PoisonError::into_inner);
            tries
                .iter()
                .find(|l| l.generation == generation)?
                .trie
                .clone()
        };
        Some(trie.top_k(prefix, k))
    }
}

impl Default for TrieServer {
    fn default() -> TrieServer {
        TrieServer::new()
    }
}

/// Which generation is served, and which server holds which range of it.
#[derive(Clone, Debug, Default)]
pub struct Routing {
    generation: u64,
    map: ShardMap,
}

/// Routes each keystroke to the servers that may hold its completions.
pub struct LoadBalancer {
    servers: Vec<TrieServer>,
    routing: RwLock<Arc<Routing>>,
    rerouted: AtomicU64,
}

impl LoadBalancer {
    /// A balancer in front of `servers` (nothing served until the first flip).
    pub fn new(servers: usize) -> LoadBalancer {
        LoadBalancer {
            servers: (0..servers).map(|_| TrieServer::new()).collect(),
            routing: RwLock::new(Arc::new(Routing::default())),
            rerouted: AtomicU64::new(0),
        }
    }

    /// Serves `routing` from now on; returns how long the write lock was held.
    fn route(&self, routing: Routing) -> Duration {
        let next = Arc::new(routing);
        let (previous, held) = {
            let mut current = self.routing.write().unwrap_or_else(PoisonError::into_inner);
            timed(|| std::mem::replace(&mut *current, next))
        };
        drop(previous);
        held
    }

    /// The generation and map being served.
    fn routing(&self) -> Arc<Routing> {
        self.routing
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The top `K` completions of what the user typed: normalised, routed to the
    /// servers whose ranges may hold them, merged. Every part of the answer comes
    /// from one generation; if a server has already retired it (the request was
    /// routed before a flip, and the next rollout has begun since), the request
    /// is routed again.
    pub fn suggest(&self, typed: &str) -> Suggestions {
        let key = prefix_key(typed);
        loop {
            let routing = self.routing();
            if routing.generation == 0 {
                return Suggestions {
                    generation: 0,
                    terms: Vec::new(),
                };
            }
            let shards = routing.map.shards_for_prefix(&key);
            let asked = shards.len();
            let mut lists = Vec::with_capacity(asked);
            for s in shards {
                match self.servers[s].top_k(routing.generation, &key, K) {
                    Some(list) => lists.push(list),
                    None => break,
                }
            }
            if lists.len() == asked {
                let terms = if lists.len() == 1 {
                    lists.pop().expect("one list")
                } else {
                    merge_top_k(lists, K)
                };
                return Suggestions {
                    generation: routing.generation,
                    terms,
                };
            }
            self.rerouted.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The trie key for what a user has typed so far: `normalize`d, keeping one
/// trailing space if the user typed one ("new " completes to "new york", not
/// to "newton").
pub fn prefix_key(typed: &str) -> String {
    let mut key = normalize(typed);
    if !key.is_empty() && typed.ends_with(char::is_whitespace) {
        key.push(' ');
    }
    key
}

// ----- the workload ------------------------------------------------------------

/// The counts store's starting point from the two data files.
fn load_terms(cfg: &Config) -> CountsStore {
    let mut store = CountsStore::default();
    for file in [
        include_str!("../../data/unigrams-100k.tsv"),
        include_str!("../../data/bigrams-100k.tsv"),
    ] {
        for line in file.lines().take(cfg.terms_per_file) {
            let (term, count) = line.split_once('\t').expect("data: term<TAB>count");
            if term.contains("<s>") {
                continue; // a sentence-start marker of the corpus, not a query
            }
            let count: u64 = count.parse().expect("data: count is an integer");
            let searches = (count / cfg.occurrences_per_search.max(1)).max(1);
            *store.counts.entry(normalize(term)).or_insert(0) += searches;
        }
    }
    store.counts.remove("");
    store
}

/// Draws what users search: terms in proportion to their counts, and with
/// `trending_share` one of the trending phrases (the first the most searched).
struct QuerySampler {
    terms: Vec<String>,
    cumulative: Vec<u64>,
    trending: Vec<String>,
    trending_cumulative: Vec<f64>,
    trending_share: f64,
}

impl QuerySampler {
    fn new(store: &CountsStore, cfg: &Config, rng: &mut Rng) -> QuerySampler {
        let sorted = store.sorted();
        let mut cumulative = Vec::with_capacity(sorted.len());
        let mut sum = 0u64;
        for &(_, n) in &sorted {
            sum += n;
            cumulative.push(sum);
        }
        // New phrases: two common words that the bigram list does not pair.
        let mut by_weight = sorted.clone();
        by_weight.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let words: Vec<&str> = by_weight
            .iter()
            .map(|&(t, _)| t)
            .filter(|t| !t.contains(' ') && t.len() >= 4)
            .take(3_000)
            .collect();
        let mut trending: Vec<String> = Vec::new();
        for _ in 0..cfg.trending * 100 {
            if trending.len() == cfg.trending || words.is_empty() {
                break;
            }
            let phrase = format!(
                "{} {}",
                words[rng.below(words.len())],
                words[rng.below(words.len())]
            );
            if store.get(&phrase).is_none() && !trending.contains(&phrase) {
                trending.push(phrase);
            }
        }
        // Zipf over the trending phrases: the r-th gets 1/r of the first's share.
        let mut trending_cumulative = Vec::with_capacity(trending.len());
        let mut acc = 0.0;
        for r in 1..=trending.len() {
            acc += 1.0 / r as f64;
            trending_cumulative.push(acc);
        }
        QuerySampler {
            terms: sorted.iter().map(|&(t, _)| t.to_string()).collect(),
            cumulative,
            trending,
            trending_cumulative,
            trending_share: cfg.trending_share,
        }
    }

    fn sample(&self, rng: &mut Rng) -> &str {
        if !self.trending.is_empty() && rng.chance(self.trending_share) {
            let total = self.trending_cumulative[self.trending.len() - 1];
            let x = rng.float() * total;
            let i = self.trending_cumulative.partition_point(|&c| c <= x);
            return &self.trending[i.min(self.trending.len() - 1)];
        }
        let total = self.cumulative[self.cumulative.len() - 1];
        let x = rng.next_u64() % total;
        &self.terms[self.cumulative.partition_point(|&c| c <= x)]
    }
}

/// Latencies and counts of the users typing.
#[derive(Default)]
struct TypingSession {
    latencies: Vec<Duration>,
    during_rebuild: Vec<Duration>,
    queries: usize,
    typed_chars: usize,
    saved_chars: usize,
    reads_by_generation: HashMap<u64, usize>,
}

impl TypingSession {
    /// Types `query` one character at a time, asking for suggestions at each
    /// keystroke; `rebuilding` marks keystrokes made while a rebuild runs.
    fn type_query(&mut self, lb: &LoadBalancer, query: &str, rebuilding: bool) {
        let ends = query.char_indices().map(|(i, c)| i + c.len_utf8());
        let chars = query.chars().count();
        let mut suggested_at = None;
        for (typed, end) in ends.enumerate() {
            let (s, took) = timed(|| lb.suggest(&query[..end]));
            self.latencies.push(took);
            if rebuilding {
                self.during_rebuild.push(took);
            }
            *self.reads_by_generation.entry(s.generation).or_insert(0) += 1;
            if suggested_at.is_none() && s.terms.iter().any(|(t, _)| t == query) {
                suggested_at = Some(typed + 1);
            }
        }
        self.queries += 1;
        self.typed_chars += chars;
        self.saved_chars += suggested_at.map_or(0, |k| chars - k);
    }
}

/// How a partition loads its servers: each server's share of each measure.
#[derive(Clone, Debug, Default)]
pub struct Shares {
    /// Of the searches (the counts): the traffic `ShardMap::balanced` evens out.
    pub weight: Vec<f64>,
    /// Of the keystroke requests of the typed queries (a prefix spanning two
    /// ranges asks both servers).
    pub requests: Vec<f64>,
    /// Of the terms: each server's memory.
    pub terms: Vec<f64>,
}

impl Shares {
    fn of(map: &ShardMap, store: &CountsStore, typed: &[String]) -> Shares {
        let mut weight = vec![0u128; map.shards()];
        let mut terms = vec![0u128; map.shards()];
        for (t, &n) in &store.counts {
            weight[map.shard_for(t)] += u128::from(n);
            terms[map.shard_for(t)] += 1;
        }
        let mut requests = vec![0u128; map.shards()];
        for q in typed {
            for (i, c) in q.char_indices() {
                for s in map.shards_for_prefix(&prefix_key(&q[..i + c.len_utf8()])) {
                    requests[s] += 1;
                }
            }
        }
        let share = |v: Vec<u128>| {
            let total: u128 = v.iter().sum();
            v.iter().map(|&x| x as f64 / total.max(1) as f64).collect()
        };
        Shares {
            weight: share(weight),
            requests: share(requests),
            terms: share(terms),
        }
    }
}

/// The notes' split: equal first-letter ranges (a-m | n-z for two servers).
fn letter_map(servers: usize) -> ShardMap {
    let mut bounds: Vec<String> = (1..servers.min(26))
        .map(|i| char::from(b'a' + (26 * i / servers) as u8).to_string())
        .collect();
    bounds.dedup();
    ShardMap::from_bounds(bounds).expect("distinct single letters in order")
}

fn letter_ranges(map: &ShardMap) -> String {
    let mut starts = vec!['a'];
    starts.extend(map.bounds().iter().filter_map(|b| b.chars().next()));
    let ends = starts.iter().skip(1).map(|&c| char::from(c as u8 - 1));
    let ends: Vec<char> = ends.chain(['z']).collect();
    starts
        .iter()
        .zip(ends)
        .map(|(s, e)| format!("{s}-{e}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn percents(shares: &[f64]) -> String {
    shares
        .iter()
        .map(|s| format!("{:.1}", s * 100.0))
        .collect::<Vec<_>>()
        .join(" / ")
        + " %"
}

/// Characters of `phrase` typed before the balancer suggests it.
fn first_suggested(lb: &LoadBalancer, phrase: &str) -> Option<usize> {
    phrase
        .char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .position(|end| {
            lb.suggest(&phrase[..end])
                .terms
                .iter()
                .any(|(t, _)| t == phrase)
        })
        .map(|p| p + 1)
}

/// Everything `run` set up, for the tests to examine (only they read it).
#[cfg_attr(not(test), allow(dead_code))]
struct World {
    lb: LoadBalancer,
    store: CountsStore,
    typed: Vec<String>,
    trending: Vec<String>,
}

/// Runs the system and reports.
pub fn run(cfg: &Config) -> Report {
    simulate(cfg).0
}

fn simulate(cfg: &Config) -> (Report, World) {
    assert!(
        cfg.terms_per_file > 0 && cfg.servers > 0,
        "the workload needs terms and servers"
    );
    let mut rng = Rng(cfg.seed);
    let mut store = load_terms(cfg);
    let terms = store.len();
    let sampler = QuerySampler::new(&store, cfg, &mut rng);

    // Generation 1: the tries as the last rebuild left them.
    let lb = LoadBalancer::new(cfg.servers);
    let builder = TrieBuilder::new(cfg.servers);
    let first = builder.build(1, &store).expect("servers > 0");
    builder.deploy(&first, &lb).expect("bytes we just wrote");

    // One hour of everyone's searches, spread evenly, logged and dumped each minute.
    let mut collection = CollectionService::default();
    let gap = 60 * MINUTE / cfg.log_events.max(1) as u64;
    let mut now = 0u64;
    for _ in 0..cfg.log_events {
        collection.log(now, sampler.sample(&mut rng));
        now += gap;
    }

    // The typing session: users type queries (and search them); between its
    // halves the Aggregator and the TrieBuilder run on another thread, and the
    // typing goes on until the new tries are swapped in.
    let mut session = TypingSession::default();
    let mut typed = Vec::new();
    let mut type_one = |session: &mut TypingSession,
                        collection: &mut CollectionService,
                        now: &mut u64,
                        rebuilding: bool| {
        let q = sampler.sample(&mut rng).to_string();
        session.type_query(&lb, &q, rebuilding);
        collection.log(*now, &q);
        *now += gap;
        typed.push(q);
    };
    for _ in 0..cfg.typed_queries / 2 {
        type_one(&mut session, &mut collection, &mut now, false);
    }
    let batches = collection.take_sealed();
    let aggregator = Aggregator;
    let swapped = AtomicBool::new(false);
    let (aggregation, second, swap) = std::thread::scope(|s| {
        let rebuild = s.spawn(|| {
            let aggregation = aggregator.aggregate(&batches, &mut store);
            let build = builder.build(2, &store).expect("servers > 0");
            let swap = builder.deploy(&build, &lb).expect("bytes we just wrote");
            swapped.store(true, Ordering::Release);
            (aggregation, build, swap)
        });
        // Reads go on while the rebuild runs.
        while !swapped.load(Ordering::Acquire) {
            type_one(&mut session, &mut collection, &mut now, true);
        }
        rebuild.join().expect("the rebuild thread does not panic")
    });
    for _ in cfg.typed_queries / 2..cfg.typed_queries {
        type_one(&mut session, &mut collection, &mut now, false);
    }

    let request_time: Duration = session.latencies.iter().sum();
    let keystrokes = session.latencies.len();
    let shipped: usize = second.shards.iter().map(Vec::len).sum();
    let trending_top = sampler
        .trending
        .first()
        .map_or((String::new(), 0, None), |p| {
            let logged: u64 = batches
                .iter()
                .flat_map(|b| &b.events)
                .filter(|e| &e.query == p)
                .count() as u64;
            (p.clone(), logged, first_suggested(&lb, p))
        });
    let mut r = Report {
        terms,
        events_logged: collection.logged(),
        events_aggregated: aggregation.events,
        batches: aggregation.batches,
        aggregate_time: aggregation.time,
        rebuild_terms: second.terms,
        rebuild_time: second.time,
        ship_time: swap.ship_time,
        swap_lock_max: swap.lock_max,
        shipped_bytes_per_term: shipped as f64 / second.terms.max(1) as f64,
        heap_bytes_per_term: second.heap_bytes as f64 / second.terms.max(1) as f64,
        balanced_bounds: second.map.bounds().to_vec(),
        balanced: Shares::of(&second.map, &store, &typed),
        letters: Shares::of(&letter_map(cfg.servers), &store, &typed),
        two_balanced: Shares::of(
            &ShardMap::balanced(store.sorted(), 2).expect("2 > 0"),
            &store,
            &[],
        )
        .weight,
        two_am_nz: Shares::of(&letter_map(2), &store, &[]).weight,
        typed_queries: session.queries,
        keystrokes,
        reads_during_rebuild: session.during_rebuild.len(),
        reads_after_swap: session.reads_by_generation.get(&2).copied().unwrap_or(0),
        rerouted: lb.rerouted.load(Ordering::Relaxed),
        p50: percentile(&mut session.latencies, 50.0),
        p99: percentile(&mut session.latencies, 99.0),
        p99_during_rebuild: percentile(&mut session.during_rebuild, 99.0),
        suggestions_per_sec: keystrokes as f64 / request_time.as_secs_f64().max(1e-9),
        keystrokes_saved: session.saved_chars as f64 / session.typed_chars.max(1) as f64,
        trending_top,
        table: Table::default(),
    };
    r.table = table(cfg, &r, &aggregation, &first);
    let world = World {
        lb,
        store,
        typed,
        trending: sampler.trending,
    };
    (r, world)
}

fn table(cfg: &Config, r: &Report, agg: &Aggregation, first: &TrieBuild) -> Table {
    let mut t = Table::new(
        "typeahead",
        "type-ahead over data/unigrams-100k.tsv + bigrams-100k.tsv with hld-trie: logs -> map-reduce counts -> frozen tries, swapped in while serving",
    );
    let us = |d: Duration| format!("{:.1} us", d.as_secs_f64() * 1e6);
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    let (phrase, logged, at) = &r.trending_top;
    t.row("terms loaded (searches = occurrences / 1000)", r.terms)
        .row(
            "searches logged / aggregated (1-minute batches)",
            format!(
                "{} / {} in {} batches (to minute {})",
                r.events_logged,
                r.events_aggregated,
                r.batches,
                agg.through.div_ceil(MINUTE)
            ),
        )
        .row(
            "Aggregator map-reduce: distinct terms, time",
            format!(
                "{}, {} ({})",
                agg.distinct,
                ms(r.aggregate_time),
                per_second(r.events_aggregated, r.aggregate_time)
            ),
        )
        .row(
            "TrieBuilder rebuild: terms, time",
            format!(
                "{} (was {}), {} ({} terms)",
                r.rebuild_terms,
                first.terms,
                ms(r.rebuild_time),
                per_second(r.rebuild_terms, r.rebuild_time)
            ),
        )
        .row(
            "frozen trie bytes per term: shipped / loaded",
            format!(
                "{:.1} / {:.1} ({} shipped)",
                r.shipped_bytes_per_term,
                r.heap_bytes_per_term,
                bytes(r.shipped_bytes_per_term * r.rebuild_terms as f64)
            ),
        )
        .row(
            "swap: servers load bytes / longest write lock",
            format!("{} / {}", ms(r.ship_time), us(r.swap_lock_max)),
        )
        .row(
            "keystrokes served by the old tries during rebuild",
            format!(
                "{} (then {} by the new; {} re-routed)",
                r.reads_during_rebuild, r.reads_after_swap, r.rerouted
            ),
        )
        .row(
            &format!("{} servers: weight-balanced bounds", cfg.servers),
            format!("{:?}", r.balanced_bounds),
        )
        .row(
            &format!(
                "searches per server: balanced vs {}",
                letter_ranges(&letter_map(cfg.servers))
            ),
            format!(
                "{} vs {}",
                percents(&r.balanced.weight),
                percents(&r.letters.weight)
            ),
        )
        .row(
            "keystroke requests per server: balanced vs letters",
            format!(
                "{} vs {}",
                percents(&r.balanced.requests),
                percents(&r.letters.requests)
            ),
        )
        .row(
            "terms (memory) per server: balanced vs letters",
            format!(
                "{} vs {}",
                percents(&r.balanced.terms),
                percents(&r.letters.terms)
            ),
        )
        .row(
            "2 servers, searches: balanced vs notes' A-M, N-Z",
            format!(
                "{} vs {}",
                percents(&r.two_balanced),
                percents(&r.two_am_nz)
            ),
        )
        .row(
            "typing session: queries / keystrokes",
            format!("{} / {}", r.typed_queries, r.keystrokes),
        )
        .row(
            "keystroke p50 / p99 (top-10, routed, merged)",
            format!("{} / {}", us(r.p50), us(r.p99)),
        )
        .row("keystroke p99 while rebuilding", us(r.p99_during_rebuild))
        .row(
            "suggestions per second (one thread)",
            format!("{:.0}", r.suggestions_per_sec),
        )
        .row(
            "characters saved by picking the suggestion",
            format!("{:.1}%", r.keystrokes_saved * 100.0),
        )
        .row(
            "top new phrase: searches; suggested after typing",
            match at {
                Some(k) => format!(
                    "{phrase:?}: {logged}; {:?}",
                    phrase.chars().take(*k).collect::<String>()
                ),
                None => format!("{phrase:?}: {logged}; not in the top 10"),
            },
        );
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicUsize;

    /// A smaller workload: 2,000 words and 2,000 phrases, and searches that
    /// weigh a lot against the scaled-down history, so the rebuild changes many
    /// answers.
    fn small() -> Config {
        Config {
            terms_per_file: 2_000,
            occurrences_per_search: 10_000_000,
            servers: 4,
            log_events: 60_000,
            trending: 10,
            trending_share: 0.2,
            typed_queries: 1_000,
            seed: 3,
        }
    }

    /// The oracle: filter every term by prefix, sort by count (descending),
    /// then term.
    fn brute_force(counts: &HashMap<String, u64>, prefix: &str, k: usize) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = counts
            .iter()
            .filter(|(t, _)| t.starts_with(prefix))
            .map(|(t, &n)| (t.clone(), n))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(k);
        v
    }

    /// Prefixes worth asking: every prefix of the given terms, every one- and
    /// two-letter prefix, the empty one, the shard bounds and their prefixes
    /// (which span two shards), and some that match nothing.
    fn prefixes<'a>(terms: impl IntoIterator<Item = &'a str>, bounds: &'a [String]) -> Vec<String> {
        let mut out = vec![String::new(), "zzzz".into(), "qx".into(), "é".into()];
        for a in 'a'..='z' {
            out.push(a.to_string());
            for b in ('a'..='z').chain([' ']) {
                out.push(format!("{a}{b}"));
            }
        }
        for t in terms.into_iter().chain(bounds.iter().map(String::as_str)) {
            for (i, c) in t.char_indices() {
                out.push(t[..i + c.len_utf8()].to_string());
            }
        }
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn suggestions_equal_brute_force_after_a_rebuild() {
        let cfg = small();
        let initial = load_terms(&cfg);
        let (r, w) = simulate(&cfg);
        // The hour of logs ends on a minute boundary, and the first half of the
        // session's searches fall in the next (still open) minute.
        assert_eq!(r.events_aggregated, cfg.log_events);
        assert_eq!(r.events_logged, cfg.log_events + r.typed_queries);
        let bounds = w.lb.routing().map.bounds().to_vec();
        let ps = prefixes(w.typed.iter().map(String::as_str), &bounds);
        let mut changed = 0;
        for p in &ps {
            let got = w.lb.suggest(p);
            assert_eq!(got.generation, 2);
            let want = brute_force(&w.store.counts, p, K);
            assert_eq!(got.terms, want, "prefix {p:?}");
            changed += usize::from(want != brute_force(&initial.counts, p, K));
        }
        // The rebuild mattered: the logs changed many answers, and brought the
        // trending phrases in.
        assert!(changed > ps.len() / 10, "{changed} of {}", ps.len());
        for phrase in &w.trending {
            assert!(w.store.get(phrase).is_some() && initial.get(phrase).is_none());
        }
        assert_eq!(r.trending_top.0, w.trending[0]);
        assert!(r.trending_top.2.is_some());
    }

    #[test]
    fn a_routed_query_equals_one_unpartitioned_trie() {
        let store = load_terms(&Config {
            terms_per_file: 5_000,
            ..Config::default()
        });
        let sorted = store.sorted();
        let whole = FrozenTrie::from_sorted(sorted.iter().copied()).unwrap();
        for servers in [1, 2, 3, 4, 7, 16] {
            let lb = LoadBalancer::new(servers);
            let builder = TrieBuilder::new(servers);
            let build = builder.build(1, &store).unwrap();
            builder.deploy(&build, &lb).unwrap();
            assert_eq!(build.map.shards(), servers);
            let sample = sorted.iter().step_by(23).map(|&(t, _)| t);
            for p in prefixes(sample, build.map.bounds()) {
                let routed = lb.suggest(&p);
                assert_eq!(routed.terms, whole.top_k(&p, K), "{servers} servers, {p:?}");
                assert_eq!(routed.terms, brute_force(&store.counts, &p, K));
            }
        }
    }

    #[test]
    fn reads_during_a_rebuild_answer_from_one_generation() {
        let cfg = Config {
            terms_per_file: 3_000,
            ..Config::default()
        };
        let old = load_terms(&cfg);
        // The next generation: every count changes (the order of the words is
        // reversed), and new terms arrive, so the ranges move.
        let mut new = old.clone();
        let mut by_weight: Vec<(String, u64)> =
            old.counts.iter().map(|(t, &n)| (t.clone(), n)).collect();
        by_weight.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let n = by_weight.len();
        for (i, (t, _)) in by_weight.iter().enumerate() {
            new.counts.insert(t.clone(), by_weight[n - 1 - i].1);
        }
        for i in 0..500u64 {
            new.counts.insert(format!("zz trend {i}"), 1_000_000 + i);
        }

        let builder = TrieBuilder::new(4);
        let lb = LoadBalancer::new(4);
        let g1 = builder.build(1, &old).unwrap();
        builder.deploy(&g1, &lb).unwrap();
        let g2 = builder.build(2, &new).unwrap();
        assert_ne!(g1.map, g2.map, "the ranges move between generations");

        let ps = prefixes(
            by_weight.iter().step_by(31).map(|(t, _)| t.as_str()),
            &[g1.map.bounds(), g2.map.bounds()].concat(),
        );
        let reads = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let wait_for_reads = |more: usize| {
            let until = reads.load(Ordering::SeqCst) + more;
            while reads.load(Ordering::SeqCst) < until {
                std::thread::yield_now();
            }
        };
        let (seen, during) = std::thread::scope(|s| {
            let readers: Vec<_> = (0..2)
                .map(|id| {
                    let (lb, ps, reads, stop) = (&lb, &ps, &reads, &stop);
                    s.spawn(move || {
                        let mut seen = Vec::new();
                        let mut i = id * 7;
                        while !stop.load(Ordering::SeqCst) {
                            let p = &ps[i % ps.len()];
                            seen.push((i % ps.len(), lb.suggest(p)));
                            reads.fetch_add(1, Ordering::SeqCst);
                            i += 1;
                        }
                        seen
                    })
                })
                .collect();
            wait_for_reads(200);
            // Ship to one server at a time with reads in between: a balancer
            // that mixed generations, or routed by a map the servers do not
            // hold, would answer wrongly here.
            let before = reads.load(Ordering::SeqCst);
            for (server, bytes) in lb.servers.iter().zip(&g2.shards) {
                let msg = LoadTrie {
                    generation: 2,
                    serving: 1,
                    bytes,
                };
                server.load(&msg).unwrap();
                wait_for_reads(200);
            }
            let during = reads.load(Ordering::SeqCst) - before;
            builder.flip(&g2, &lb);
            wait_for_reads(2_000);
            stop.store(true, Ordering::SeqCst);
            let seen: Vec<_> = readers
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect();
            (seen, during)
        });

        let mut oracle: HashMap<(u64, usize), Vec<(String, u64)>> = HashMap::new();
        let mut by_generation = [0usize; 3];
        for (p, got) in &seen {
            let counts = match got.generation {
                1 => &old.counts,
                2 => &new.counts,
                g => panic!("generation {g}"),
            };
            let want = oracle
                .entry((got.generation, *p))
                .or_insert_with(|| brute_force(counts, &ps[*p], K));
            assert_eq!(
                &got.terms, want,
                "generation {}, {:?}",
                got.generation, ps[*p]
            );
            by_generation[got.generation as usize] += 1;
        }
        assert!(during >= 800, "{during} reads while shipping");
        assert!(
            by_generation[1] >= 1_000 && by_generation[2] >= 1,
            "{by_generation:?}"
        );
        assert_eq!(lb.rerouted.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_request_routed_to_a_retired_generation_is_routed_again() {
        let mut store = load_terms(&Config {
            terms_per_file: 500,
            ..Config::default()
        });
        let builder = TrieBuilder::new(2);
        let lb = LoadBalancer::new(2);
        for g in 1..=3 {
            store.add(PartialCounts::from([(format!("new {g}"), 1u64 << 40)]));
            builder
                .deploy(&builder.build(g, &store).unwrap(), &lb)
                .unwrap();
        }
        // Servers keep generations 2 and 3; 1 is gone.
        assert!(lb.servers[0].top_k(1, "n", K).is_none());
        assert!(lb.servers[0].top_k(2, "n", K).is_some());
        // A balancer still on generation 1 (a request routed before two flips)
        // retries with the current routing.
        let stale = Routing {
            generation: 1,
            map: lb.routing().map.clone(),
        };
        let current = lb.routing();
        lb.route(stale);
        let flipper = std::thread::scope(|s| {
            let h = s.spawn(|| {
                while lb.rerouted.load(Ordering::SeqCst) == 0 {
                    std::thread::yield_now();
                }
                lb.route((*current).clone());
            });
            let got = lb.suggest("new");
            h.join().unwrap();
            got
        });
        assert_eq!(flipper.generation, 3);
        assert_eq!(flipper.terms, brute_force(&store.counts, "new", K));
        assert!(lb.rerouted.load(Ordering::SeqCst) >= 1);
    }

    #[test]
    fn corrupt_bytes_are_refused_and_the_old_tries_keep_serving() {
        let mut store = load_terms(&Config {
            terms_per_file: 1_000,
            ..Config::default()
        });
        let builder = TrieBuilder::new(3);
        let lb = LoadBalancer::new(3);
        builder
            .deploy(&builder.build(1, &store).unwrap(), &lb)
            .unwrap();
        let before = lb.suggest("th");
        store.add(PartialCounts::from([("thx".to_string(), u64::MAX / 4)]));
        let everything = lb.suggest("");
        let mut bad = builder.build(2, &store).unwrap();
        let last = bad.shards[1].len() - 1;
        bad.shards[1][last] ^= 0x40; // the checksum
        assert_eq!(
            builder.deploy(&bad, &lb).unwrap_err(),
            Error::ChecksumMismatch
        );
        bad.shards[1][last / 2] ^= 0x40;
        assert!(builder.deploy(&bad, &lb).is_err());
        bad.shards[1].truncate(10);
        assert_eq!(builder.deploy(&bad, &lb).unwrap_err(), Error::Truncated);
        // Server 0 loaded generation 2 three times, server 1 never: generation 1
        // still answers everywhere.
        assert_eq!(before.generation, 1);
        assert_eq!(lb.suggest("th"), before);
        assert_eq!(lb.suggest(""), everything);
        // The next good rollout goes through.
        let good = builder.build(3, &store).unwrap();
        builder.deploy(&good, &lb).unwrap();
        let after = lb.suggest("th");
        assert_eq!(after.generation, 3);
        assert_eq!(after.terms[0], ("thx".to_string(), u64::MAX / 4));
    }

    #[test]
    fn the_aggregator_counts_exactly_what_was_logged() {
        let mut rng = Rng(9);
        let words = ["new york", "new", "news", "newton", "nevada", "ne"];
        let mut collection = CollectionService::default();
        let mut direct: BTreeMap<String, u64> = BTreeMap::new();
        let mut now = 0;
        for _ in 0..50_000 {
            let q = words[rng.below(words.len())];
            collection.log(now, q);
            now += 1 + rng.below(5_000_000) as u64; // ~2.5 ms apart: ~24k a minute
        }
        let batches = collection.take_sealed();
        assert!(batches.len() >= 2);
        // Each batch is one minute, in order.
        for b in &batches {
            assert!(b.events.iter().all(|e| e.at / MINUTE == b.minute));
        }
        let sealed: usize = batches.iter().map(|b| b.events.len()).sum();
        assert!(
            sealed < collection.logged(),
            "the open minute is not handed over"
        );
        for e in batches.iter().flat_map(|b| &b.events) {
            *direct.entry(e.query.clone()).or_insert(0) += 1;
        }
        let mut store = CountsStore::default();
        store.add(PartialCounts::from([("new".to_string(), 7)]));
        let agg = Aggregator.aggregate(&batches, &mut store);
        assert_eq!(agg.events, sealed);
        assert_eq!(agg.batches, batches.len());
        for (t, n) in &direct {
            let extra = if t == "new" { 7 } else { 0 };
            assert_eq!(store.get(t), Some(n + extra), "{t}");
        }
        assert_eq!(store.len(), direct.len());
        // The reduce does not depend on how the log was cut into batches.
        let one = Aggregator.map(&LogBatch {
            minute: 0,
            events: batches.iter().flat_map(|b| b.events.clone()).collect(),
        });
        assert_eq!(
            one,
            Aggregator.reduce(batches.iter().map(|b| Aggregator.map(b)))
        );
    }

    #[test]
    fn balanced_ranges_are_even_and_letter_ranges_are_not() {
        let r = run(&small());
        let n = r.balanced.weight.len();
        assert_eq!(n, 4);
        assert!((r.balanced.weight.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let max = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
        // A range never splits a term: a share exceeds 1/n by at most about the
        // heaviest term's weight.
        assert!(
            max(&r.balanced.weight) < 1.0 / n as f64 + 0.06,
            "{:?}",
            r.balanced
        );
        assert!(
            max(&r.letters.weight) > max(&r.balanced.weight),
            "{:?}",
            r.letters
        );
        assert!(max(&r.two_balanced) < 0.56, "{:?}", r.two_balanced);
        assert!(
            max(&r.two_am_nz) > max(&r.two_balanced),
            "{:?}",
            r.two_am_nz
        );
        // Every keystroke of the session was answered, by one generation or the other.
        assert!(r.reads_during_rebuild >= 1);
        assert!(r.keystrokes >= r.reads_during_rebuild + r.reads_after_swap);
        assert!(r.typed_queries >= small().typed_queries);
    }

    #[test]
    fn prefixes_are_normalised_like_the_terms() {
        let cfg = Config {
            terms_per_file: 2_000,
            ..Config::default()
        };
        let store = load_terms(&cfg);
        let builder = TrieBuilder::new(2);
        let lb = LoadBalancer::new(2);
        assert_eq!(lb.suggest("th").generation, 0);
        builder
            .deploy(&builder.build(1, &store).unwrap(), &lb)
            .unwrap();
        assert_eq!(lb.suggest("  New   Y").terms, lb.suggest("new y").terms);
        assert_eq!(prefix_key("New "), "new ");
        assert_eq!(prefix_key("   "), "");
        // "of " completes to phrases only; "of" also to words.
        let phrases = lb.suggest("of ").terms;
        assert!(!phrases.is_empty() && phrases.iter().all(|(t, _)| t.starts_with("of ")));
        assert!(lb.suggest("of").terms.iter().any(|(t, _)| t == "of"));
    }
}
