//! Web crawler (design notes, section 5): a breadth-first crawl through the
//! notes' services, over a generated web with mirrors, link cycles, broken
//! links, dead hosts and large documents, with hld-bloom answering both "seen
//! before?" questions.
//!
//! ```text
//!  seed URLs
//!     |
//!     v                       FetchRequest (one per host at a time)
//!  UrlFrontier --------------------------------------> FetcherWorker x N
//!  per-host FIFO queues, a ready-queue                 |  DnsResolver: LRU cache with TTLs
//!  by next allowed time (politeness),                  |  HtmlFetcher (trait): generated web,
//!  hosts split across workers by a hash ring           |    or a local directory of HTML
//!     ^                                                v
//!     |                                     DocumentInputStream: small documents in
//!     |                                     memory, large ones spilled to temp files
//!     |                                                | Fetched { doc }
//!     |                                                v
//!     |                                     DocumentDedup: checksum cache (Bloom),
//!     |                                     checksum DB on a "maybe"
//!     |                                                | new document -> DocumentStore
//!     |                                                v
//!     +---- new URL ---- UrlDedup <---- UrlFilter <---- Extractor (links, read from the DIS)
//!                        (Bloom)
//! ```
//!
//! The services, as the notes name them:
//! - [`UrlFrontier`]: URLs wait in one FIFO queue per host, in the order they
//!   were found (breadth first within a host); a host waits in its worker's
//!   ready-queue (an `hld::lru_feed::ExpiryMap` keyed by host, deadline = the
//!   next time it may be fetched) and leaves it while a fetch of it is in
//!   flight. So a host is never fetched twice at once, and never again before
//!   `politeness` nanoseconds (simulated) after its last fetch ended. This is
//!   Mercator's front/back queue design with the front queue kept FIFO. Hosts
//!   are split across the fetcher workers by consistent hashing
//!   (`hld::consistent_hash::HashRing`), so each host has one owner.
//! - [`DnsResolver`]: one per worker, host -> IP in an `hld::lru_feed::LruCache`
//!   with the answer's TTL (failed lookups cached for a shorter, negative TTL);
//!   hits, misses, expiries and evictions are counted. Since a host has one
//!   owner, the per-worker caches never hold the same host twice.
//! - [`HtmlFetcher`] (with [`DnsServer`]) is the web as the crawler sees it.
//!   [`GeneratedWeb`] (the default) is deterministic: origin hosts of skewed
//!   sizes whose pages carry text from `data/fortunes.txt`, hosts that mirror
//!   another host's pages, the same boilerplate page on every host, alias URLs
//!   (`?ref=` tracking parameters), link cycles (every page links back to its
//!   home and section), orphan pages nobody links to, broken links (404), links
//!   to hosts DNS does not know, links the filter must drop, relative and
//!   absolute links in several spellings, and some documents of hundreds of
//!   KiB. [`LocalSite`] serves a directory of real HTML files instead (e.g.
//!   Debian's python3.11-doc at `/usr/share/doc/python3.11/html`); it is only
//!   crawled when `Config::local_html` exists.
//! - [`DocumentInputStream`]: "a cache where the documents are stored ... for
//!   small files and in a db for big", so that several modules read a
//!   document without downloading it again. Here small documents stay in
//!   memory and documents above `spill_threshold` are written to real files in
//!   a directory of their own under `std::env::temp_dir()`, read back through
//!   a `BufRead` (the checksum and the link extractor both stream), deleted as
//!   soon as the pipeline is done with them, and the directory is removed when
//!   the crawl ends.
//! - [`DocumentDedup`]: "checksum of current doc and if present in checkSum
//!   cache (/ checkSum db if cache miss) we remove this doc". The checksum
//!   cache is a Bloom filter: its "no" is certain, so a new document is stored
//!   at once; only its "maybe" asks the checksum DB (an exact set standing in
//!   for a key-value store). Duplicates are never stored, and no new document
//!   is lost to a false positive: those cost one DB lookup each, counted. The
//!   checksum is taken over the document with whitespace runs collapsed, so a
//!   mirror that re-indents a page is still a duplicate.
//! - [`Extractor`] pulls the links out of a document in the DIS (`<a href>`,
//!   resolved against the page's URL: relative paths, `..`, fragments, case).
//! - [`UrlFilter`]: allowed schemes, blocked file extensions, robots-like
//!   disallowed path prefixes, blacklisted hosts, optionally a crawl scope. The
//!   rules are given, not read from each host's robots.txt (which would be
//!   fetched through the frontier like any page): the filter's place in the
//!   pipeline is what the notes show.
//! - [`UrlDedup`]: a Bloom filter over the URL, as in the notes ("checks from url
//!   checksum"). A false positive means a new URL is taken for a seen one and
//!   never crawled, and with it any page reachable only through it. An exact set
//!   runs beside it as an audit (not consulted) so the report can say how many.
//!
//! What the run reports: pages fetched, duplicates and repeats skipped, the
//! URLs the Bloom filter wrongly skipped and the reachable pages lost behind
//! them (against an exact breadth-first search over the generated web), the
//! DNS cache's hits and misses, the politeness gap, documents spilled,
//! simulated and wall-clock rates, and the notes' sizing (15 billion pages, a
//! 120 GB checksum cache) next to the filters' bits per item.
//!
//! Past one machine: the frontier is a Kafka topic partitioned by host (the
//! producer picks the partition with consistent hashing, as `HashRing` does
//! here), so one consumer owns each host and politeness stays a local
//! decision; fetchers are many workers, each consuming its partitions with
//! thousands of connections; the DNS cache is local to each worker (it only
//! ever resolves its own hosts); the URL and checksum filters are per-partition
//! `BloomFilter`s, checkpointed with `to_bytes` to S3 and reloaded with
//! `from_bytes` after a crash (the hash is stable across processes), with the
//! exact checksum DB in Cassandra or HBase behind the checksum filter; the
//! documents go to S3 or HDFS, and the DocumentInputStream is each worker's
//! local disk.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::fs;
use std::hash::Hasher;
use std::io::{self, BufRead, BufReader, Read as _};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hld::bloom::{BloomFilter, StableHasher};
use hld::consistent_hash::HashRing;
use hld::lru_feed::{ExpiryMap, LruCache};

use crate::common::{bytes, per_second, percentile, timed, Rng, Table};

#[path = "web_crawler/web.rs"]
mod web;
pub use web::{Access, GeneratedWeb, LocalSite, Reach};

/// One millisecond of simulated time, in nanoseconds.
const MS: u64 = 1_000_000;
/// One second of simulated time, in nanoseconds.
const SEC: u64 = 1_000 * MS;
/// Transfer time per byte: a 10 MB/s connection.
const NS_PER_BYTE: u64 = 100;
/// Virtual nodes per worker on the hash ring that splits hosts.
const RING_VNODES: usize = 100;
/// Never-seen items asked of each full filter at the end of a crawl.
const PROBES: usize = 100_000;
/// Seed of the document checksum (a stable hash, see `checksum`).
const CHECKSUM_SEED: u64 = 0x5745_4243_5241_574c; // "WEBCRAWL"
/// The notes' crawl: 15 billion pages in four weeks.
const NOTES_PAGES: f64 = 15e9;
const NOTES_SECONDS: f64 = 28.0 * 86_400.0;

/// The workload's and the crawler's knobs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Origin hosts of the generated web (sites with pages of their own).
    pub hosts: usize,
    /// Hosts that mirror an origin host's pages (same content, other URLs).
    pub mirror_hosts: usize,
    /// Host names that links point at but DNS does not know.
    pub dead_hosts: usize,
    /// Content pages over all origin hosts (each host also has a home page, a
    /// terms page and one index per section of 40 pages).
    pub pages: usize,
    /// Share of content pages that are large documents.
    pub large_share: f64,
    /// Size of a large document, about, in bytes.
    pub large_bytes: usize,
    /// The crawl starts from the home pages of this many hosts.
    pub seeds: usize,
    /// Seed of the generated web (the run is deterministic).
    pub seed: u64,
    /// Fetcher workers; hosts are split across them by consistent hashing.
    pub workers: usize,
    /// Fetches each worker keeps in flight at once.
    pub connections: usize,
    /// Politeness: simulated nanoseconds between the end of a fetch from a host
    /// and the start of the next one.
    pub politeness: u64,
    /// Entries of each worker's DNS cache.
    pub dns_cache: usize,
    /// Simulated time of a DNS lookup that misses the cache.
    pub dns_latency: u64,
    /// How long a failed lookup (unknown host) is cached.
    pub dns_negative_ttl: u64,
    /// Target false-positive rate of both Bloom filters at capacity.
    pub fp_rate: f64,
    /// Items the URL filter (and checksum cache) are sized for; `None`: every
    /// URL the generated web links to (the crawl plan).
    pub url_capacity: Option<usize>,
    /// Documents above this many bytes are spilled to a temp file.
    pub spill_threshold: usize,
    /// A directory of real HTML pages to crawl as well, if it exists.
    pub local_html: Option<PathBuf>,
    /// At most this many URLs are taken from the frontier in the local crawl.
    pub local_max_urls: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            hosts: 160,
            mirror_hosts: 8,
            dead_hosts: 6,
            pages: 100_000,
            large_share: 0.002,
            large_bytes: 256 << 10,
            seeds: 3,
            seed: 5,
            workers: 4,
            connections: 8,
            politeness: SEC,
            dns_cache: 64,
            dns_latency: 30 * MS,
            dns_negative_ttl: 60 * SEC,
            fp_rate: 0.01,
            url_capacity: None,
            spill_threshold: 64 << 10,
            local_html: Some(PathBuf::from("/usr/share/doc/python3.11/html")),
            local_max_urls: 20_000,
        }
    }
}

/// A configuration the crawler cannot run with.
#[derive(Debug)]
pub enum Error {
    /// The Bloom filters cannot be sized (a rate outside (0, 1), zero items).
    Bloom(hld::bloom::Error),
    /// A DNS cache of zero (or too many) entries.
    Cache(hld::lru_feed::Error),
    /// The hash ring that splits hosts across workers.
    Ring(hld::consistent_hash::Error),
    /// No fetcher workers, or workers without connections.
    NoFetchers,
    /// A generated web without origin hosts or pages.
    EmptyWeb,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Bloom(e) => write!(f, "Bloom filter: {e}"),
            Error::Cache(e) => write!(f, "DNS cache: {e}"),
            Error::Ring(e) => write!(f, "host partitioning: {e}"),
            Error::NoFetchers => write!(f, "at least one worker with one connection is needed"),
            Error::EmptyWeb => write!(f, "the generated web needs hosts and pages"),
        }
    }
}

impl std::error::Error for Error {}

impl From<hld::bloom::Error> for Error {
    fn from(e: hld::bloom::Error) -> Error {
        Error::Bloom(e)
    }
}

impl From<hld::lru_feed::Error> for Error {
    fn from(e: hld::lru_feed::Error) -> Error {
        Error::Cache(e)
    }
}

impl From<hld::consistent_hash::Error> for Error {
    fn from(e: hld::consistent_hash::Error) -> Error {
        Error::Ring(e)
    }
}

// ---------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------

/// A canonical absolute URL: scheme and host lower-cased, no fragment, dot
/// segments of the path removed, an empty path written `/`. URLs without an
/// authority (`mailto:`, `javascript:`) keep everything after the colon as
/// their path and have an empty host.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Url {
    text: String,
    scheme_end: usize,
    host: (usize, usize),
}

impl Url {
    /// Parses an absolute URL; `None` if it has no scheme or an empty host.
    pub fn parse(s: &str) -> Option<Url> {
        let s = s.trim();
        let s = s.split('#').next().unwrap_or("");
        let colon = scheme_len(s)?;
        let rest = &s[colon + 1..];
        let mut text = String::with_capacity(s.len() + 1);
        text.push_str(&s[..colon].to_ascii_lowercase());
        text.push(':');
        let Some(after) = rest.strip_prefix("//") else {
            text.push_str(rest);
            return Some(Url {
                text,
                scheme_end: colon,
                host: (colon + 1, colon + 1),
            });
        };
        let end = after.find(['/', '?']).unwrap_or(after.len());
        let host = &after[..end];
        if host.is_empty() || host.contains(char::is_whitespace) {
            return None;
        }
        text.push_str("//");
        let h0 = text.len();
        text.push_str(&host.to_ascii_lowercase());
        let h1 = text.len();
        let tail = &after[end..];
        let (path, query) = tail.split_at(tail.find('?').unwrap_or(tail.len()));
        push_without_dot_segments(&mut text, path);
        text.push_str(query);
        Some(Url {
            text,
            scheme_end: colon,
            host: (h0, h1),
        })
    }

    /// Resolves a link found on this page: absolute, scheme-relative (`//h/p`),
    /// root-relative (`/p`), query-only (`?q`) or relative to this page's
    /// directory. `None` for an empty or fragment-only link (this same page)
    /// and for what cannot be resolved.
    pub fn join(&self, href: &str) -> Option<Url> {
        let href = href.trim();
        if href.is_empty() || href.starts_with('#') {
            return None;
        }
        if scheme_len(href).is_some() {
            return Url::parse(href);
        }
        if self.host().is_empty() {
            return None;
        }
        let origin = &self.text[..self.host.1];
        let absolute = if href.starts_with("//") {
            format!("{}:{href}", self.scheme())
        } else if href.starts_with('/') {
            format!("{origin}{href}")
        } else if href.starts_with('?') {
            format!("{origin}{}{href}", self.path_only())
        } else {
            let path = self.path_only();
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            format!("{origin}{dir}{href}")
        };
        Url::parse(&absolute)
    }

    /// The whole canonical URL.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `https`, `mailto`, ...
    pub fn scheme(&self) -> &str {
        &self.text[..self.scheme_end]
    }

    /// The host, lower-cased (with its port, if any); empty for `mailto:` and the like.
    pub fn host(&self) -> &str {
        &self.text[self.host.0..self.host.1]
    }

    /// The path and query.
    pub fn path(&self) -> &str {
        &self.text[self.host.1..]
    }

    /// The path without the query.
    pub fn path_only(&self) -> &str {
        let p = self.path();
        &p[..p.find('?').unwrap_or(p.len())]
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The length of `s`'s scheme if `s` starts with one (`[A-Za-z][A-Za-z0-9+.-]*:`).
fn scheme_len(s: &str) -> Option<usize> {
    let colon = s.find(':')?;
    let scheme = &s.as_bytes()[..colon];
    let ok = scheme.first()?.is_ascii_alphabetic()
        && scheme
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
    ok.then_some(colon)
}

/// Appends `path` with `.` and `..` segments resolved (RFC 3986, 5.2.4); an
/// empty path becomes `/`.
fn push_without_dot_segments(out: &mut String, path: &str) {
    if path.is_empty() {
        out.push('/');
        return;
    }
    if !path.contains("/.") {
        out.push_str(path);
        return;
    }
    let mut segments: Vec<&str> = Vec::new();
    let mut last_was_dot = false;
    for seg in path.split('/').skip(1) {
        last_was_dot = matches!(seg, "." | "..");
        match seg {
            "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    if last_was_dot {
        segments.push("");
    }
    out.push('/');
    out.push_str(&segments.join("/"));
}

// ---------------------------------------------------------------------------
// UrlFilter
// ---------------------------------------------------------------------------

/// What the [`UrlFilter`] says of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Crawl it (if the URL dedup has not seen it).
    Allow,
    /// Not http(s): `mailto:`, `javascript:`, `ftp:`.
    Scheme,
    /// A host on the blacklist (ads, trackers).
    Blacklisted,
    /// Outside the crawl's scope (a focused crawl of some hosts only).
    OutOfScope,
    /// A path the robots-like rules disallow.
    Robots,
    /// A file type the crawler does not want (images, archives, scripts).
    Extension,
}

/// The notes' URL Filter: drops links by scheme, host blacklist, scope,
/// robots-like path rules and file extension, in that order.
#[derive(Clone, Debug)]
pub struct UrlFilter {
    /// Allowed schemes.
    pub schemes: Vec<String>,
    /// Hosts never crawled.
    pub blacklist: HashSet<String>,
    /// If set, only these hosts are crawled.
    pub scope: Option<HashSet<String>>,
    /// Path prefixes no host may be crawled under (robots.txt `Disallow:`).
    pub disallow: Vec<String>,
    /// File extensions (lower case, no dot) never fetched.
    pub blocked_extensions: Vec<String>,
}

impl UrlFilter {
    /// The rules of the default crawl.
    pub fn standard() -> UrlFilter {
        let owned = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect();
        UrlFilter {
            schemes: owned(&["http", "https"]),
            blacklist: ["ads.example", "tracker.example"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            scope: None,
            disallow: owned(&["/private/", "/cgi-bin/"]),
            blocked_extensions: owned(&[
                "jpg", "jpeg", "png", "gif", "svg", "ico", "css", "js", "pdf", "zip", "gz", "tar",
                "exe", "mp3", "mp4", "woff", "woff2", "txt",
            ]),
        }
    }

    /// The rules applied to one link.
    pub fn check(&self, url: &Url) -> Verdict {
        let host = url.host();
        if !self.schemes.iter().any(|s| s == url.scheme()) {
            Verdict::Scheme
        } else if self.blacklist.contains(host) {
            Verdict::Blacklisted
        } else if self.scope.as_ref().is_some_and(|s| !s.contains(host)) {
            Verdict::OutOfScope
        } else if self
            .disallow
            .iter()
            .any(|p| url.path().starts_with(p.as_str()))
        {
            Verdict::Robots
        } else if extension(url.path_only()).is_some_and(|e| {
            self.blocked_extensions
                .iter()
                .any(|b| b.eq_ignore_ascii_case(e))
        }) {
            Verdict::Extension
        } else {
            Verdict::Allow
        }
    }
}

/// The extension of the last path segment, if it has one.
fn extension(path: &str) -> Option<&str> {
    let file = &path[path.rfind('/').map_or(0, |i| i + 1)..];
    let dot = file.rfind('.')?;
    (dot + 1 < file.len()).then(|| &file[dot + 1..])
}

/// How many links got each verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilterCounts {
    pub allowed: usize,
    pub scheme: usize,
    pub blacklisted: usize,
    pub out_of_scope: usize,
    pub robots: usize,
    pub extension: usize,
}

impl FilterCounts {
    fn add(&mut self, v: Verdict) {
        *match v {
            Verdict::Allow => &mut self.allowed,
            Verdict::Scheme => &mut self.scheme,
            Verdict::Blacklisted => &mut self.blacklisted,
            Verdict::OutOfScope => &mut self.out_of_scope,
            Verdict::Robots => &mut self.robots,
            Verdict::Extension => &mut self.extension,
        } += 1;
    }

    /// Links dropped, all reasons.
    pub fn dropped(&self) -> usize {
        self.scheme + self.blacklisted + self.out_of_scope + self.robots + self.extension
    }
}

// ---------------------------------------------------------------------------
// DNS
// ---------------------------------------------------------------------------

/// An authoritative answer: the host's address and how long it may be cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsAnswer {
    pub ip: Ipv4Addr,
    /// Time to live, simulated nanoseconds.
    pub ttl: u64,
}

/// The DNS the resolver asks on a cache miss; `None`: no such host.
pub trait DnsServer {
    fn lookup(&mut self, host: &str) -> Option<DnsAnswer>;
}

/// What a resolver did, summed over lookups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DnsStats {
    pub lookups: usize,
    /// Answered from the cache, still within the TTL.
    pub hits: usize,
    /// Asked of the DNS server (the rest).
    pub misses: usize,
    /// Of the misses, those whose cached answer had expired.
    pub expired: usize,
    /// Answers pushed out of a full cache (least recently used first).
    pub evicted: usize,
    /// Lookups answered "no such host" (from the cache or the server).
    pub failures: usize,
}

impl DnsStats {
    fn add(&mut self, o: &DnsStats) {
        self.lookups += o.lookups;
        self.hits += o.hits;
        self.misses += o.misses;
        self.expired += o.expired;
        self.evicted += o.evicted;
        self.failures += o.failures;
    }
}

#[derive(Clone, Copy, Debug)]
struct CachedAnswer {
    ip: Option<Ipv4Addr>,
    expires: u64,
}

/// The notes' DNS resolver: host -> IP through a bounded LRU cache whose
/// entries carry the answer's TTL (absence is cached too, for a shorter time).
pub struct DnsResolver {
    cache: LruCache<String, CachedAnswer>,
    negative_ttl: u64,
    lookup_time: u64,
    pub stats: DnsStats,
}

impl DnsResolver {
    /// A resolver caching `entries` hosts; a miss costs `lookup_time`.
    pub fn new(entries: usize, negative_ttl: u64, lookup_time: u64) -> Result<DnsResolver, Error> {
        Ok(DnsResolver {
            cache: LruCache::new(entries)?,
            negative_ttl,
            lookup_time,
            stats: DnsStats::default(),
        })
    }

    /// The host's address at `now` (`None`: no such host) and the simulated
    /// time the lookup took (zero on a hit).
    pub fn resolve<D: DnsServer + ?Sized>(
        &mut self,
        host: &str,
        now: u64,
        dns: &mut D,
    ) -> (Option<Ipv4Addr>, u64) {
        self.stats.lookups += 1;
        if let Some(c) = self.cache.get(host) {
            if now < c.expires {
                self.stats.hits += 1;
                self.stats.failures += usize::from(c.ip.is_none());
                return (c.ip, 0);
            }
            self.stats.expired += 1;
        }
        self.stats.misses += 1;
        let (ip, ttl) = match dns.lookup(host) {
            Some(a) => (Some(a.ip), a.ttl),
            None => (None, self.negative_ttl),
        };
        self.stats.failures += usize::from(ip.is_none());
        let answer = CachedAnswer {
            ip,
            expires: now + self.lookup_time + ttl,
        };
        if let Some((gone, _)) = self.cache.put(host.to_owned(), answer) {
            self.stats.evicted += usize::from(gone != host);
        }
        (ip, self.lookup_time)
    }
}

// ---------------------------------------------------------------------------
// HtmlFetcher
// ---------------------------------------------------------------------------

/// A server's answer to a fetch.
#[derive(Clone, Debug)]
pub struct Response {
    /// HTTP status: 200, 404, or 421 (asked at an address that is not the host's).
    pub status: u16,
    pub body: Vec<u8>,
    /// Simulated time the transfer took.
    pub latency: u64,
}

/// The notes' HTML Fetcher, as a trait: given the address the resolver found,
/// download the URL (starting at simulated time `now`).
pub trait HtmlFetcher {
    fn fetch(&mut self, ip: Ipv4Addr, url: &Url, now: u64) -> Response;
}

// ---------------------------------------------------------------------------
// DocumentInputStream
// ---------------------------------------------------------------------------

/// A document's handle in the [`DocumentInputStream`].
pub type DocId = u64;

enum Held {
    Memory(Vec<u8>),
    Spilled(PathBuf),
}

/// What the DIS held and spilled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DisStats {
    /// Most bytes held in memory at once.
    pub peak_in_memory: usize,
    /// Documents written to a spill file, and their bytes.
    pub spilled_docs: usize,
    pub spilled_bytes: usize,
    /// Spills that failed (the document stayed in memory).
    pub spill_failures: usize,
}

/// Tells the spill directories of crawls in one process apart.
static SPILL_DIRS: AtomicU64 = AtomicU64::new(0);

/// The notes' Document Input Stream: documents downloaded once and read by
/// several modules. Small ones are kept in memory; those above the threshold
/// are spilled to a file under `std::env::temp_dir()` (in a directory of
/// their own, removed when the stream is dropped) and streamed back.
pub struct DocumentInputStream {
    threshold: usize,
    dir: PathBuf,
    dir_created: bool,
    docs: HashMap<DocId, (Held, usize)>,
    next: DocId,
    in_memory: usize,
    pub stats: DisStats,
}

impl DocumentInputStream {
    pub fn new(threshold: usize) -> DocumentInputStream {
        let n = SPILL_DIRS.fetch_add(1, Ordering::Relaxed);
        DocumentInputStream {
            threshold,
            dir: std::env::temp_dir().join(format!("hld-web-crawler-{}-{n}", std::process::id())),
            dir_created: false,
            docs: HashMap::new(),
            next: 0,
            in_memory: 0,
            stats: DisStats::default(),
        }
    }

    /// Takes a downloaded document; spills it if it is large.
    pub fn put(&mut self, body: Vec<u8>) -> DocId {
        let id = self.next;
        self.next += 1;
        let len = body.len();
        let held = if len > self.threshold {
            match self.spill(id, &body) {
                Ok(path) => {
                    self.stats.spilled_docs += 1;
                    self.stats.spilled_bytes += len;
                    Held::Spilled(path)
                }
                Err(_) => {
                    self.stats.spill_failures += 1;
                    Held::Memory(body)
                }
            }
        } else {
            Held::Memory(body)
        };
        if matches!(held, Held::Memory(_)) {
            self.in_memory += len;
            self.stats.peak_in_memory = self.stats.peak_in_memory.max(self.in_memory);
        }
        self.docs.insert(id, (held, len));
        id
    }

    fn spill(&mut self, id: DocId, body: &[u8]) -> io::Result<PathBuf> {
        if !self.dir_created {
            fs::create_dir_all(&self.dir)?;
            self.dir_created = true;
        }
        let path = self.dir.join(format!("{id}.html"));
        fs::write(&path, body)?;
        Ok(path)
    }

    /// A reader over the document, wherever it is held.
    pub fn open(&self, id: DocId) -> io::Result<Box<dyn BufRead + '_>> {
        match self.docs.get(&id) {
            Some((Held::Memory(body), _)) => Ok(Box::new(body.as_slice())),
            Some((Held::Spilled(path), _)) => Ok(Box::new(BufReader::with_capacity(
                64 << 10,
                fs::File::open(path)?,
            ))),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("document {id} is not in the stream"),
            )),
        }
    }

    /// The document's size in bytes.
    pub fn len_of(&self, id: DocId) -> Option<usize> {
        self.docs.get(&id).map(|&(_, len)| len)
    }

    /// Every module is done with the document: forget it (and its file).
    pub fn release(&mut self, id: DocId) {
        match self.docs.remove(&id) {
            Some((Held::Memory(_), len)) => self.in_memory -= len,
            Some((Held::Spilled(path), _)) => {
                // A file that cannot be removed now goes with the directory.
                let _ = fs::remove_file(path);
            }
            None => {}
        }
    }

    /// Where large documents are spilled.
    pub fn spill_dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for DocumentInputStream {
    fn drop(&mut self) {
        if self.dir_created {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

// ---------------------------------------------------------------------------
// DocumentDedup and DocumentStore
// ---------------------------------------------------------------------------

/// The 8-byte checksum of a document, read as a stream: every run of ASCII
/// whitespace counts as one space and leading or trailing whitespace not at
/// all, so a copy that only re-indents the page has the same checksum. The
/// normalised bytes go to the stable hash in fixed 4 KiB blocks, so the result
/// does not depend on how the reader splits its reads.
pub fn checksum(mut doc: impl BufRead) -> io::Result<u64> {
    struct Blocks {
        h: StableHasher,
        block: [u8; 4096],
        n: usize,
        total: u64,
    }
    impl Blocks {
        #[inline]
        fn push(&mut self, b: u8) {
            self.block[self.n] = b;
            self.n += 1;
            if self.n == self.block.len() {
                self.h.write(&self.block);
                self.total += self.n as u64;
                self.n = 0;
            }
        }
    }
    let mut out = Blocks {
        h: StableHasher::new(CHECKSUM_SEED),
        block: [0; 4096],
        n: 0,
        total: 0,
    };
    let (mut started, mut pending_space) = (false, false);
    loop {
        let buf = doc.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        for &b in buf {
            if b.is_ascii_whitespace() {
                pending_space = started;
            } else {
                if pending_space {
                    out.push(b' ');
                    pending_space = false;
                }
                out.push(b);
                started = true;
            }
        }
        let n = buf.len();
        doc.consume(n);
    }
    if out.n > 0 {
        out.h.write(&out.block[..out.n]);
        out.total += out.n as u64;
    }
    out.h.write_u64(out.total);
    Ok(out.h.finish())
}

/// The notes' Document De-dup: a Bloom filter as the checksum cache and an
/// exact checksum DB asked only when the cache says "maybe".
pub struct DocumentDedup {
    cache: BloomFilter,
    db: HashSet<u64>,
    pub db_lookups: usize,
    /// "Maybe" answers of the cache that the DB found new.
    pub cache_false_positives: usize,
}

impl DocumentDedup {
    pub fn new(expected_docs: usize, fp_rate: f64) -> Result<DocumentDedup, Error> {
        Ok(DocumentDedup {
            cache: BloomFilter::new(expected_docs, fp_rate)?,
            db: HashSet::new(),
            db_lookups: 0,
            cache_false_positives: 0,
        })
    }

    /// True if no document with this checksum was stored before (and
    /// remembers it).
    pub fn admit(&mut self, checksum: u64) -> bool {
        if self.cache.insert_hash(checksum) {
            // The filter's "no" is certain: new, no DB round trip.
            self.db.insert(checksum);
            return true;
        }
        self.db_lookups += 1;
        let new = self.db.insert(checksum);
        self.cache_false_positives += usize::from(new);
        new
    }
}

/// A document kept by the crawl (the content itself goes to a blob store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDoc {
    pub url: String,
    pub checksum: u64,
    pub bytes: usize,
}

/// Where new documents go: S3 or HDFS past one machine; here, their record.
#[derive(Default)]
pub struct DocumentStore {
    pub docs: Vec<StoredDoc>,
    pub bytes: usize,
}

impl DocumentStore {
    pub fn put(&mut self, url: &Url, checksum: u64, bytes: usize) {
        self.bytes += bytes;
        self.docs.push(StoredDoc {
            url: url.as_str().to_owned(),
            checksum,
            bytes,
        });
    }
}

// ---------------------------------------------------------------------------
// Extractor
// ---------------------------------------------------------------------------

/// The notes' extractor: reads a document from the DIS, tag by tag, and
/// resolves the `href` of every `<a>` against the page's URL.
#[derive(Default)]
pub struct Extractor {
    tag: Vec<u8>,
    /// `href`s that are not links to another document (fragments, garbage).
    pub skipped: usize,
}

/// Tags longer than this are not links (and are not buffered further).
const MAX_TAG: usize = 8 << 10;

impl Extractor {
    /// Appends the links of `doc` (found at `base`) to `out`; returns how many
    /// `href`s it saw.
    pub fn links(
        &mut self,
        mut doc: impl BufRead,
        base: &Url,
        out: &mut Vec<Url>,
    ) -> io::Result<usize> {
        let mut seen = 0;
        loop {
            doc.skip_until(b'<')?;
            self.tag.clear();
            if (&mut doc)
                .take(MAX_TAG as u64)
                .read_until(b'>', &mut self.tag)?
                == 0
            {
                return Ok(seen);
            }
            let Some(href) = href_of(&self.tag) else {
                continue;
            };
            seen += 1;
            let href = String::from_utf8_lossy(href);
            let href = if href.contains('&') {
                href.replace("&amp;", "&").replace("&#38;", "&")
            } else {
                href.into_owned()
            };
            match base.join(&href) {
                Some(url) => out.push(url),
                None => self.skipped += 1,
            }
        }
    }
}

/// The value of the `href` attribute if `tag` (the bytes after `<`) is an `a` tag.
fn href_of(tag: &[u8]) -> Option<&[u8]> {
    if tag.len() < 2 || !tag[0].eq_ignore_ascii_case(&b'a') || !tag[1].is_ascii_whitespace() {
        return None;
    }
    let skip_ws = |mut j: usize| {
        while tag.get(j).is_some_and(|c| c.is_ascii_whitespace()) {
            j += 1;
        }
        j
    };
    let mut i = 1;
    while i + 4 <= tag.len() {
        if tag[i - 1].is_ascii_whitespace() && tag[i..i + 4].eq_ignore_ascii_case(b"href") {
            let j = skip_ws(i + 4);
            if tag.get(j) == Some(&b'=') {
                let j = skip_ws(j + 1);
                return match *tag.get(j)? {
                    q @ (b'"' | b'\'') => {
                        let len = tag[j + 1..].iter().position(|&c| c == q)?;
                        Some(&tag[j + 1..j + 1 + len])
                    }
                    _ => {
                        let len = tag[j..]
                            .iter()
                            .position(|&c| c.is_ascii_whitespace() || c == b'>')
                            .unwrap_or(tag.len() - j);
                        Some(&tag[j..j + len])
                    }
                };
            }
        }
        i += 1;
    }
    None
}

// ---------------------------------------------------------------------------
// UrlDedup
// ---------------------------------------------------------------------------

/// The notes' URL Dedup: a Bloom filter over the canonical URL. Beside it, an
/// exact set audits its answers (it is never consulted for a decision).
pub struct UrlDedup {
    seen: BloomFilter,
    exact: HashSet<String>,
    /// Links whose URL the filter took as seen (repeats and false positives).
    pub skipped: usize,
    /// URLs met for the first time (exact).
    pub new_urls: usize,
    /// New URLs the filter wrongly took as seen: never crawled.
    pub lost: Vec<String>,
}

impl UrlDedup {
    pub fn new(expected_urls: usize, fp_rate: f64) -> Result<UrlDedup, Error> {
        Ok(UrlDedup {
            seen: BloomFilter::new(expected_urls, fp_rate)?,
            exact: HashSet::new(),
            skipped: 0,
            new_urls: 0,
            lost: Vec::new(),
        })
    }

    /// True if the URL is new to the filter (and remembers it).
    pub fn admit(&mut self, url: &Url) -> bool {
        let admitted = self.seen.insert(url.as_str());
        let truly_new = !self.exact.contains(url.as_str());
        if truly_new {
            self.exact.insert(url.as_str().to_owned());
            self.new_urls += 1;
            if !admitted {
                self.lost.push(url.as_str().to_owned());
            }
        }
        self.skipped += usize::from(!admitted);
        admitted
    }
}

// ---------------------------------------------------------------------------
// UrlFrontier
// ---------------------------------------------------------------------------

/// A message from the frontier to a fetcher: fetch this URL of this host.
#[derive(Clone, Debug)]
pub struct FetchRequest {
    /// The host's slot in the frontier.
    pub host: u32,
    pub url: Url,
}

struct HostQueue {
    partition: usize,
    urls: VecDeque<Url>,
    /// No fetch of the host may start before this (simulated ns).
    next_allowed: u64,
    /// A fetch of the host is in flight.
    busy: bool,
}

/// The notes' URL Frontier: per-host FIFO queues, and per worker a
/// ready-queue of hosts ordered by the time they may next be fetched.
pub struct UrlFrontier {
    ring: HashRing<usize>,
    slots: HashMap<String, u32>,
    hosts: Vec<HostQueue>,
    /// Per worker: its hosts that have URLs waiting and no fetch in flight,
    /// keyed by host slot, deadline = next allowed fetch time.
    ready: Vec<ExpiryMap<u32, ()>>,
    queued: usize,
    pub peak_queued: usize,
}

impl UrlFrontier {
    /// A frontier whose hosts are split across `workers` by consistent hashing.
    pub fn new(workers: usize, seed: u64) -> Result<UrlFrontier, Error> {
        let mut ring = HashRing::with_seed(RING_VNODES, seed)?;
        ring.extend(0..workers);
        Ok(UrlFrontier {
            ring,
            slots: HashMap::new(),
            hosts: Vec::new(),
            ready: (0..workers).map(|_| ExpiryMap::new()).collect(),
            queued: 0,
            peak_queued: 0,
        })
    }

    /// Queues a URL behind the others of its host.
    pub fn push(&mut self, url: Url) {
        let slot = match self.slots.get(url.host()) {
            Some(&s) => s,
            None => {
                let s = self.hosts.len() as u32;
                self.hosts.push(HostQueue {
                    partition: self.ring.node_for(url.host()).copied().unwrap_or(0),
                    urls: VecDeque::new(),
                    next_allowed: 0,
                    busy: false,
                });
                self.slots.insert(url.host().to_owned(), s);
                s
            }
        };
        let h = &mut self.hosts[slot as usize];
        h.urls.push_back(url);
        if h.urls.len() == 1 && !h.busy {
            self.ready[h.partition].insert(slot, (), h.next_allowed);
        }
        self.queued += 1;
        self.peak_queued = self.peak_queued.max(self.queued);
    }

    /// The next URL worker `partition` may fetch at `now`: the first URL of
    /// its host that has been allowed again for longest. The host is busy
    /// until [`done`](Self::done).
    pub fn pop(&mut self, partition: usize, now: u64) -> Option<FetchRequest> {
        let (slot, (), _) = self.ready[partition].pop_expired(now)?;
        let h = &mut self.hosts[slot as usize];
        let url = h.urls.pop_front()?;
        h.busy = true;
        self.queued -= 1;
        Some(FetchRequest { host: slot, url })
    }

    /// When the worker's next host becomes ready, if it has any waiting.
    pub fn next_ready(&self, partition: usize) -> Option<u64> {
        self.ready[partition].next_deadline()
    }

    /// The fetch of a host is over; it may be fetched again from `next_allowed`.
    pub fn done(&mut self, host: u32, next_allowed: u64) {
        let h = &mut self.hosts[host as usize];
        h.busy = false;
        h.next_allowed = next_allowed;
        if !h.urls.is_empty() {
            self.ready[h.partition].insert(host, (), next_allowed);
        }
    }

    /// Hosts known to each worker.
    pub fn hosts_per_worker(&self) -> Vec<usize> {
        let mut n = vec![0; self.ready.len()];
        for h in &self.hosts {
            n[h.partition] += 1;
        }
        n
    }
}

// ---------------------------------------------------------------------------
// The crawler: services wired together, driven by simulated time
// ---------------------------------------------------------------------------

/// A message from a fetcher to the pipeline: the document is in the DIS.
#[derive(Debug)]
pub struct Fetched {
    pub worker: usize,
    pub request: FetchRequest,
    pub start: u64,
    pub end: u64,
    pub status: u16,
    /// The body, for a 200.
    pub doc: Option<DocId>,
}

/// One fetcher worker: its DNS cache and its connections.
pub struct FetcherWorker {
    pub dns: DnsResolver,
    free: usize,
    pub fetches: usize,
}

/// What a crawl did.
#[derive(Clone, Debug, Default)]
pub struct CrawlStats {
    /// Every URL taken from the frontier, in order.
    pub attempted: Vec<String>,
    pub pages_fetched: usize,
    pub not_found: usize,
    /// Other statuses (421: a fetch at the wrong address).
    pub other_status: usize,
    pub dns_failures: usize,
    pub duplicate_docs: usize,
    pub stored: Vec<StoredDoc>,
    pub stored_bytes: usize,
    pub checksum_db_lookups: usize,
    pub checksum_cache_false_positives: usize,
    /// `href`s seen in stored documents, and those that were no link.
    pub hrefs: usize,
    pub hrefs_skipped: usize,
    pub filtered: FilterCounts,
    /// Allowed links the URL dedup skipped (its filter said "seen").
    pub urls_seen: usize,
    /// URLs offered to the URL dedup for the first time (exact).
    pub new_urls: usize,
    /// New URLs skipped by a Bloom false positive.
    pub lost_urls: Vec<String>,
    /// False-positive rates of the full URL filter and checksum cache, over
    /// `PROBES` never-seen items.
    pub url_fpr_at_end: f64,
    pub doc_fpr_at_end: f64,
    pub url_capacity: usize,
    pub url_bits_per_item: f64,
    pub filter_bytes: usize,
    pub dns: DnsStats,
    pub dis: DisStats,
    pub spill_dir: PathBuf,
    pub io_errors: usize,
    pub worker_fetches: Vec<usize>,
    pub worker_hosts: Vec<usize>,
    pub peak_in_flight: usize,
    pub peak_frontier: usize,
    /// Simulated time of a fetch (connection and transfer), p50 and p99.
    pub fetch_p50: Duration,
    pub fetch_p99: Duration,
    /// Simulated time from the first fetch to the end of the last.
    pub sim_time: u64,
    /// Wall-clock time of the crawl loop.
    pub wall: Duration,
}

/// The notes' services, wired as in the diagram.
pub struct Crawler {
    frontier: UrlFrontier,
    workers: Vec<FetcherWorker>,
    dis: DocumentInputStream,
    doc_dedup: DocumentDedup,
    store: DocumentStore,
    extractor: Extractor,
    filter: UrlFilter,
    url_dedup: UrlDedup,
    politeness: u64,
    links: Vec<Url>,
    fetch_times: Vec<Duration>,
    stats: CrawlStats,
}

impl Crawler {
    /// A crawler whose URL filter and checksum cache are sized for `capacity` items.
    pub fn new(cfg: &Config, filter: UrlFilter, capacity: usize) -> Result<Crawler, Error> {
        if cfg.workers == 0 || cfg.connections == 0 {
            return Err(Error::NoFetchers);
        }
        let workers = (0..cfg.workers)
            .map(|_| {
                Ok(FetcherWorker {
                    dns: DnsResolver::new(cfg.dns_cache, cfg.dns_negative_ttl, cfg.dns_latency)?,
                    free: cfg.connections,
                    fetches: 0,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Crawler {
            frontier: UrlFrontier::new(cfg.workers, cfg.seed)?,
            workers,
            dis: DocumentInputStream::new(cfg.spill_threshold),
            doc_dedup: DocumentDedup::new(capacity, cfg.fp_rate)?,
            store: DocumentStore::default(),
            extractor: Extractor::default(),
            filter,
            url_dedup: UrlDedup::new(capacity, cfg.fp_rate)?,
            politeness: cfg.politeness,
            links: Vec::new(),
            fetch_times: Vec::new(),
            stats: CrawlStats {
                url_capacity: capacity,
                ..CrawlStats::default()
            },
        })
    }

    /// Crawls from `seeds` until the frontier is empty or `max_urls` URLs were
    /// taken from it.
    pub fn crawl<W: HtmlFetcher + DnsServer>(
        mut self,
        web: &mut W,
        seeds: &[String],
        max_urls: usize,
    ) -> CrawlStats {
        let (sim_time, wall) = timed(|| self.run(web, seeds, max_urls));
        self.stats.sim_time = sim_time;
        self.stats.wall = wall;
        self.finish()
    }

    /// The event loop over simulated time: dispatch what the frontier allows,
    /// then jump to the next fetch to end or host to become ready.
    fn run<W: HtmlFetcher + DnsServer>(
        &mut self,
        web: &mut W,
        seeds: &[String],
        max_urls: usize,
    ) -> u64 {
        for seed in seeds {
            if let Some(url) = Url::parse(seed) {
                self.offer(url);
            }
        }
        let mut in_flight: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::new();
        let mut jobs: HashMap<u64, Fetched> = HashMap::new();
        let mut seq = 0u64;
        let mut now = 0u64;
        loop {
            let dispatching = self.stats.attempted.len() < max_urls;
            if dispatching {
                for w in 0..self.workers.len() {
                    while self.workers[w].free > 0 && self.stats.attempted.len() < max_urls {
                        let Some(request) = self.frontier.pop(w, now) else {
                            break;
                        };
                        if let Some(f) = self.fetch(w, request, now, web) {
                            in_flight.push(Reverse((f.end, seq)));
                            jobs.insert(seq, f);
                            seq += 1;
                        }
                    }
                }
                self.stats.peak_in_flight = self.stats.peak_in_flight.max(jobs.len());
            }
            let next_end = in_flight.peek().map(|&Reverse((t, _))| t);
            let next_ready = if dispatching {
                (0..self.workers.len())
                    .filter(|&w| self.workers[w].free > 0)
                    .filter_map(|w| self.frontier.next_ready(w))
                    .min()
            } else {
                None
            };
            let Some(t) = next_end.into_iter().chain(next_ready).min() else {
                return now;
            };
            now = now.max(t);
            while let Some(&Reverse((end, s))) = in_flight.peek() {
                if end > now {
                    break;
                }
                in_flight.pop();
                if let Some(f) = jobs.remove(&s) {
                    self.complete(f);
                }
            }
        }
    }

    /// FetcherWorker `w`: resolve, download into the DIS.
    fn fetch<W: HtmlFetcher + DnsServer>(
        &mut self,
        w: usize,
        request: FetchRequest,
        now: u64,
        web: &mut W,
    ) -> Option<Fetched> {
        self.stats.attempted.push(request.url.as_str().to_owned());
        let worker = &mut self.workers[w];
        let (ip, dns_time) = worker.dns.resolve(request.url.host(), now, web);
        let Some(ip) = ip else {
            self.stats.dns_failures += 1;
            self.frontier.done(request.host, now);
            return None;
        };
        let start = now + dns_time;
        let response = web.fetch(ip, &request.url, start);
        worker.free -= 1;
        worker.fetches += 1;
        let doc = (response.status == 200).then(|| self.dis.put(response.body));
        Some(Fetched {
            worker: w,
            end: start + response.latency,
            start,
            status: response.status,
            request,
            doc,
        })
    }

    /// A fetch ended: free the connection and the host, run the pipeline.
    fn complete(&mut self, f: Fetched) {
        self.workers[f.worker].free += 1;
        self.frontier.done(f.request.host, f.end + self.politeness);
        self.fetch_times.push(Duration::from_nanos(f.end - f.start));
        match f.status {
            200 => self.stats.pages_fetched += 1,
            404 => self.stats.not_found += 1,
            _ => self.stats.other_status += 1,
        }
        if let Some(doc) = f.doc {
            if self.process(doc, &f.request.url).is_err() {
                self.stats.io_errors += 1;
            }
            self.dis.release(doc);
        }
    }

    /// DocumentDedup -> DocumentStore -> Extractor -> UrlFilter -> UrlDedup -> UrlFrontier.
    fn process(&mut self, doc: DocId, url: &Url) -> io::Result<()> {
        let sum = checksum(self.dis.open(doc)?)?;
        if !self.doc_dedup.admit(sum) {
            self.stats.duplicate_docs += 1;
            return Ok(());
        }
        self.store.put(url, sum, self.dis.len_of(doc).unwrap_or(0));
        let mut links = std::mem::take(&mut self.links);
        self.stats.hrefs += self.extractor.links(self.dis.open(doc)?, url, &mut links)?;
        for link in links.drain(..) {
            self.offer(link);
        }
        self.links = links;
        Ok(())
    }

    /// UrlFilter, then UrlDedup, then the frontier.
    fn offer(&mut self, url: Url) {
        let verdict = self.filter.check(&url);
        self.stats.filtered.add(verdict);
        if verdict == Verdict::Allow && self.url_dedup.admit(&url) {
            self.frontier.push(url);
        }
    }

    fn finish(mut self) -> CrawlStats {
        let mut s = std::mem::take(&mut self.stats);
        s.hrefs_skipped = self.extractor.skipped;
        s.urls_seen = self.url_dedup.skipped;
        s.new_urls = self.url_dedup.new_urls;
        s.lost_urls = std::mem::take(&mut self.url_dedup.lost);
        s.checksum_db_lookups = self.doc_dedup.db_lookups;
        s.checksum_cache_false_positives = self.doc_dedup.cache_false_positives;
        s.stored = std::mem::take(&mut self.store.docs);
        s.stored_bytes = self.store.bytes;
        let url_filter = &self.url_dedup.seen;
        s.url_fpr_at_end = (0..PROBES)
            .filter(|i| url_filter.contains(&format!("https://probe.example/{i}")))
            .count() as f64
            / PROBES as f64;
        let mut rng = Rng(0x0050_524f_4245); // "PROBE"
        let cache = &self.doc_dedup.cache;
        s.doc_fpr_at_end = (0..PROBES)
            .filter(|_| cache.contains_hash(rng.next_u64()))
            .count() as f64
            / PROBES as f64;
        s.url_bits_per_item = url_filter.bit_len() as f64 / s.url_capacity as f64;
        s.filter_bytes = url_filter.byte_len() + cache.byte_len();
        for w in &self.workers {
            s.dns.add(&w.dns.stats);
        }
        s.worker_fetches = self.workers.iter().map(|w| w.fetches).collect();
        s.worker_hosts = self.frontier.hosts_per_worker();
        s.peak_frontier = self.frontier.peak_queued;
        s.fetch_p50 = percentile(&mut self.fetch_times, 50.0);
        s.fetch_p99 = percentile(&mut self.fetch_times, 99.0);
        s.dis = self.dis.stats;
        s.spill_dir = self.dis.spill_dir().to_owned();
        s
    }
}

// ---------------------------------------------------------------------------
// A local directory of real HTML
// ---------------------------------------------------------------------------

/// Crawls a local directory of HTML (scope: that one host).
pub fn crawl_local(cfg: &Config, root: &Path) -> Result<Option<CrawlStats>, Error> {
    let Some(mut site) = LocalSite::open(root) else {
        return Ok(None);
    };
    let mut filter = UrlFilter::standard();
    filter.scope = Some([LocalSite::HOST.to_owned()].into_iter().collect());
    let capacity = site.file_count(1 << 20).max(1_000);
    let crawler = Crawler::new(cfg, filter, capacity)?;
    let seeds = [site.seed()];
    Ok(Some(crawler.crawl(&mut site, &seeds, cfg.local_max_urls)))
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

/// What the crawl did, and what the exact search says it should have done.
#[derive(Clone, Debug)]
pub struct Report {
    pub crawl: CrawlStats,
    /// Origin, mirror and dead hosts of the generated web.
    pub hosts: (usize, usize, usize),
    pub web_pages: usize,
    /// Distinct URLs the web links to (the filters' sizing).
    pub linked_urls: usize,
    /// The exact BFS from the seeds: URLs and pages reachable.
    pub reachable_urls: usize,
    pub reachable_pages: usize,
    /// Reachable pages the crawl never fetched (behind Bloom false positives).
    pub pages_lost: usize,
    /// Smallest time between the end of a fetch from a host and the start of
    /// the next (from the servers' log).
    pub min_host_gap: Option<u64>,
    /// Every request the web served.
    pub server_log: Vec<Access>,
    /// Lookups that reached the web's DNS.
    pub dns_queries: usize,
    /// The local HTML crawl, if its directory exists.
    pub local: Option<(PathBuf, CrawlStats)>,
    pub table: Table,
}

/// The smallest gap between consecutive fetches of one host in a log.
pub fn min_host_gap(log: &[Access]) -> Option<u64> {
    let mut by_host: HashMap<&str, Vec<(u64, u64)>> = HashMap::new();
    for a in log {
        by_host.entry(&a.host).or_default().push((a.start, a.end));
    }
    by_host
        .values_mut()
        .filter_map(|v| {
            v.sort_unstable();
            v.windows(2).map(|w| w[1].0 as i128 - w[0].1 as i128).min()
        })
        .min()
        .map(|g| g.max(0) as u64)
}

/// Runs the crawl over the generated web (and the local HTML, if present).
pub fn try_run(cfg: &Config) -> Result<Report, Error> {
    let mut web = GeneratedWeb::new(cfg)?;
    let seeds = web.seeds(cfg.seeds);
    let linked_urls = web.linked_urls(cfg.seeds);
    let capacity = cfg.url_capacity.unwrap_or(linked_urls);
    let crawler = Crawler::new(cfg, UrlFilter::standard(), capacity)?;
    let crawl = crawler.crawl(&mut web, &seeds, usize::MAX);

    let reach = web.reachable(cfg.seeds, &HashSet::new());
    let attempted: HashSet<&str> = crawl.attempted.iter().map(String::as_str).collect();
    let reachable_pages = reach.values().filter(|&&r| r == Reach::Page).count();
    let pages_lost = reach
        .iter()
        .filter(|&(u, &r)| r == Reach::Page && !attempted.contains(u.as_str()))
        .count();
    let local = match &cfg.local_html {
        Some(path) => crawl_local(cfg, path)?.map(|c| (path.clone(), c)),
        None => None,
    };
    let server_log = std::mem::take(&mut web.log);
    let mut r = Report {
        hosts: web.host_counts(),
        web_pages: web.page_count(),
        linked_urls,
        reachable_urls: reach.len(),
        reachable_pages,
        pages_lost,
        min_host_gap: min_host_gap(&server_log),
        server_log,
        dns_queries: web.dns_queries,
        crawl,
        local,
        table: Table::default(),
    };
    r.table = table(cfg, &r);
    Ok(r)
}

/// Runs the crawl; panics on a configuration [`try_run`] refuses.
pub fn run(cfg: &Config) -> Report {
    try_run(cfg).unwrap_or_else(|e| panic!("web_crawler: {e}"))
}

fn pct(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

fn secs(ns: u64) -> String {
    let s = ns as f64 / SEC as f64;
    if s >= 3600.0 {
        format!(
            "{}h{:02}m",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    } else if s >= 60.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.3} s")
    }
}

fn gb(b: f64) -> String {
    format!("{:.0} GB", b / 1e9)
}

fn table(cfg: &Config, r: &Report) -> Table {
    let c = &r.crawl;
    let mut t = Table::new(
        "web_crawler",
        &format!(
            "BFS crawl of a generated web (text: data/fortunes.txt), {} workers x {} connections, {} between fetches of a host",
            cfg.workers,
            cfg.connections,
            secs(cfg.politeness)
        ),
    );
    let (origins, mirrors, dead) = r.hosts;
    let sim_rate = c.pages_fetched as f64 / (c.sim_time as f64 / SEC as f64).max(1e-9);
    let avg_url =
        c.attempted.iter().map(String::len).sum::<usize>() as f64 / c.attempted.len().max(1) as f64;
    let notes_rate = NOTES_PAGES / NOTES_SECONDS;
    t.row(
        "web: origin / mirror / dead hosts; pages",
        format!("{origins} / {mirrors} / {dead}; {}", r.web_pages),
    )
    .row(
        "URLs linked / reachable from the seeds (exact BFS)",
        format!("{} / {}", r.linked_urls, r.reachable_urls),
    )
    .row(
        "URLs crawled: 200 / 404 / DNS failure",
        format!("{} / {} / {}", c.pages_fetched, c.not_found, c.dns_failures),
    )
    .row(
        "duplicate documents skipped / stored",
        format!(
            "{} / {} ({})",
            c.duplicate_docs,
            c.stored.len(),
            bytes(c.stored_bytes as f64)
        ),
    )
    .row(
        "checksum cache said maybe: DB lookups / new after all",
        format!(
            "{} / {}",
            c.checksum_db_lookups, c.checksum_cache_false_positives
        ),
    )
    .row(
        "links extracted / dropped by the URL filter",
        format!("{} / {}", c.hrefs, c.filtered.dropped()),
    )
    .row(
        "  dropped: scheme / blacklist / robots / extension",
        format!(
            "{} / {} / {} / {}",
            c.filtered.scheme, c.filtered.blacklisted, c.filtered.robots, c.filtered.extension
        ),
    )
    .row("links skipped by the URL dedup as seen", c.urls_seen)
    .row(
        "new URLs wrongly skipped (Bloom false positives)",
        format!(
            "{} of {} ({:.3}%)",
            c.lost_urls.len(),
            c.new_urls,
            pct(c.lost_urls.len(), c.new_urls)
        ),
    )
    .row(
        "reachable pages never fetched (lost behind them)",
        format!("{} of {}", r.pages_lost, r.reachable_pages),
    )
    .row(
        "Bloom filters full: FP rate URLs / checksums; bits per item",
        format!(
            "{:.2}% / {:.2}% (target {:.2}%); {:.2}",
            c.url_fpr_at_end * 100.0,
            c.doc_fpr_at_end * 100.0,
            cfg.fp_rate * 100.0,
            c.url_bits_per_item
        ),
    )
    .row(
        "DNS caches: hits / misses (expired, evicted) / DNS queries",
        format!(
            "{} / {} ({}, {}) / {}",
            c.dns.hits, c.dns.misses, c.dns.expired, c.dns.evicted, r.dns_queries
        ),
    )
    .row(
        "server log: requests / for a URL twice / at a wrong address",
        format!(
            "{} / {} / {}",
            r.server_log.len(),
            r.server_log.len()
                - r.server_log
                    .iter()
                    .map(|a| a.url.as_str())
                    .collect::<HashSet<_>>()
                    .len(),
            r.server_log.iter().filter(|a| a.status == 421).count()
        ),
    )
    .row(
        "politeness: shortest gap between fetches of a host",
        r.min_host_gap.map_or("-".into(), secs),
    )
    .row(
        "simulated fetch time p50 / p99; peak fetches in flight",
        format!(
            "{} / {}; {}",
            secs(c.fetch_p50.as_nanos() as u64),
            secs(c.fetch_p99.as_nanos() as u64),
            c.peak_in_flight
        ),
    )
    .row(
        "per worker (hosts by consistent hashing): hosts / fetches",
        format!(
            "{}-{} / {}-{}",
            c.worker_hosts.iter().min().unwrap_or(&0),
            c.worker_hosts.iter().max().unwrap_or(&0),
            c.worker_fetches.iter().min().unwrap_or(&0),
            c.worker_fetches.iter().max().unwrap_or(&0)
        ),
    )
    .row("UrlFrontier: most URLs queued at once", c.peak_frontier)
    .row(
        "DocumentInputStream: peak in memory / spilled to temp files",
        format!(
            "{} / {} docs, {}",
            bytes(c.dis.peak_in_memory as f64),
            c.dis.spilled_docs,
            bytes(c.dis.spilled_bytes as f64)
        ),
    )
    .row(
        "simulated crawl: time / pages per second",
        format!("{} / {sim_rate:.1}", secs(c.sim_time)),
    )
    .row(
        "notes: 15B pages in 4 weeks; hosts busy at this delay",
        format!(
            "{notes_rate:.0} pages/s; {:.0}",
            notes_rate * (cfg.politeness + c.fetch_p50.as_nanos() as u64) as f64 / SEC as f64
        ),
    )
    .row(
        "crawl pipeline, wall clock (incl. generating pages)",
        per_second(c.pages_fetched, c.wall),
    )
    .row(
        "both filters here; notes' 15B pages: checksums vs Bloom",
        format!(
            "{}; {} vs {}",
            bytes(c.filter_bytes as f64),
            gb(NOTES_PAGES * 8.0),
            gb(NOTES_PAGES * c.url_bits_per_item / 8.0)
        ),
    )
    .row(
        "notes' 15B URLs: exact set vs Bloom",
        format!(
            "{} ({avg_url:.0} B/URL) vs {}",
            gb(NOTES_PAGES * avg_url),
            gb(NOTES_PAGES * c.url_bits_per_item / 8.0)
        ),
    );
    match &r.local {
        Some((path, l)) => {
            t.row(
                &format!("local HTML {}: 200 / 404; duplicates", path.display()),
                format!(
                    "{} / {}; {}",
                    l.pages_fetched, l.not_found, l.duplicate_docs
                ),
            )
            .row(
                "  links: extracted / out of scope / other drops",
                format!(
                    "{} / {} / {}",
                    l.hrefs,
                    l.filtered.out_of_scope,
                    l.filtered.dropped() - l.filtered.out_of_scope
                ),
            )
            .row(
                "  pipeline, wall clock",
                per_second(l.pages_fetched, l.wall),
            );
        }
        None => {
            let what = match &cfg.local_html {
                Some(p) => format!("local HTML {}", p.display()),
                None => "local HTML".to_string(),
            };
            t.row(&what, "absent: skipped");
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::web::relative;
    use super::*;

    /// A web small enough for the test profile, with every feature present.
    fn small() -> Config {
        Config {
            hosts: 24,
            mirror_hosts: 3,
            dead_hosts: 2,
            pages: 6_000,
            large_share: 0.004,
            large_bytes: 96 << 10,
            local_html: None,
            ..Config::default()
        }
    }

    fn reach_of(cfg: &Config, avoid: &HashSet<String>) -> HashMap<String, Reach> {
        GeneratedWeb::new(cfg).unwrap().reachable(cfg.seeds, avoid)
    }

    #[test]
    fn every_reachable_page_is_fetched_exactly_once() {
        let cfg = small();
        let r = run(&cfg);
        let c = &r.crawl;
        // Taken from the frontier at most once, fetched by a server at most once.
        let attempted: HashSet<&str> = c.attempted.iter().map(String::as_str).collect();
        assert_eq!(
            attempted.len(),
            c.attempted.len(),
            "a URL was crawled twice"
        );
        let served: HashSet<&str> = r.server_log.iter().map(|a| a.url.as_str()).collect();
        assert_eq!(served.len(), r.server_log.len(), "a URL was fetched twice");

        // The exact BFS over the generator's own link lists.
        let reach = reach_of(&cfg, &HashSet::new());
        assert!(
            reach.len() > 5_000 && reach.len() < r.linked_urls,
            "{}",
            reach.len()
        );
        assert!(attempted.iter().all(|u| reach.contains_key(*u)));
        // What is missing is exactly what lies behind the URLs the Bloom
        // filter wrongly skipped: the BFS that avoids them gives the crawl.
        let lost: HashSet<String> = c.lost_urls.iter().cloned().collect();
        assert!(lost.iter().all(|u| reach.contains_key(u)));
        let behind = reach_of(&cfg, &lost);
        let expected: HashSet<&str> = behind.keys().map(String::as_str).collect();
        assert_eq!(attempted, expected);
        let missing_pages = reach
            .iter()
            .filter(|&(u, &k)| k == Reach::Page && !attempted.contains(u.as_str()))
            .count();
        assert_eq!(missing_pages, r.pages_lost);
        // Each lost URL costs at least itself (all lost URLs here are pages or
        // 404s), and the count stays within the rate the full filter measures.
        assert!(r.pages_lost <= reach.len() - attempted.len());
        assert!(
            c.lost_urls.len() as f64 <= c.url_fpr_at_end * c.new_urls as f64 + 1.0,
            "{} lost of {} at a measured rate of {}",
            c.lost_urls.len(),
            c.new_urls,
            c.url_fpr_at_end
        );
        // Every status accounted for; nothing was asked at a wrong address.
        let ok = r.server_log.iter().filter(|a| a.status == 200).count();
        assert_eq!(ok, c.pages_fetched);
        assert_eq!(c.other_status, 0);
        assert_eq!(
            c.pages_fetched + c.not_found + c.dns_failures,
            c.attempted.len()
        );
        let dead = reach.values().filter(|&&k| k == Reach::DeadHost).count();
        let dead_lost = lost
            .iter()
            .filter(|u| reach[u.as_str()] == Reach::DeadHost)
            .count();
        assert_eq!(c.dns_failures, dead - dead_lost);
    }

    #[test]
    fn pages_behind_false_positives_are_the_only_ones_lost() {
        // A filter sized for a tenth of the URLs at a 5% target: it fills up
        // and loses many URLs, and the accounting must still be exact.
        let cfg = Config {
            url_capacity: Some(800),
            fp_rate: 0.05,
            ..small()
        };
        let r = run(&cfg);
        let c = &r.crawl;
        assert!(c.lost_urls.len() > 100, "{}", c.lost_urls.len());
        let lost: HashSet<String> = c.lost_urls.iter().cloned().collect();
        let expected: HashSet<String> = reach_of(&cfg, &lost).into_keys().collect();
        let attempted: HashSet<String> = c.attempted.iter().cloned().collect();
        assert_eq!(attempted, expected);
        // Pages lost include those only reachable through a lost URL.
        let reach = reach_of(&cfg, &HashSet::new());
        let lost_pages = lost
            .iter()
            .filter(|u| reach[u.as_str()] == Reach::Page)
            .count();
        assert!(r.pages_lost >= lost_pages);
        assert!(c.lost_urls.len() as f64 <= c.url_fpr_at_end * c.new_urls as f64 + 1.0);
        // The full filter is far over capacity: its measured rate shows it.
        assert!(c.url_fpr_at_end > 0.2, "{}", c.url_fpr_at_end);
    }

    #[test]
    fn politeness_is_never_violated() {
        let cfg = small();
        let r = run(&cfg);
        let mut by_host: HashMap<&str, Vec<&Access>> = HashMap::new();
        for a in &r.server_log {
            by_host.entry(&a.host).or_default().push(a);
        }
        let mut tightest = u64::MAX;
        for (host, fetches) in &mut by_host {
            fetches.sort_by_key(|a| a.start);
            for w in fetches.windows(2) {
                assert!(
                    w[1].start >= w[0].end + cfg.politeness,
                    "{host}: fetch at {} ns after one that ended at {} ns",
                    w[1].start,
                    w[0].end
                );
                tightest = tightest.min(w[1].start - w[0].end);
            }
        }
        // The crawler waits exactly the delay when a host has work, and it
        // does fetch many hosts at once: politeness is not bought by going slow.
        assert_eq!(tightest, cfg.politeness);
        assert_eq!(r.min_host_gap, Some(cfg.politeness));
        let mut events: Vec<(u64, i32)> = r
            .server_log
            .iter()
            .flat_map(|a| [(a.start, 1), (a.end, -1)])
            .collect();
        events.sort_unstable_by_key(|&(t, d)| (t, d));
        let (mut live, mut peak) = (0i32, 0i32);
        for (_, d) in events {
            live += d;
            peak = peak.max(live);
        }
        assert!(peak > 4, "peak concurrency {peak}");
        assert!(peak as usize <= cfg.workers * cfg.connections);
    }

    #[test]
    fn duplicate_documents_are_never_stored_twice() {
        let cfg = small();
        let r = run(&cfg);
        let c = &r.crawl;
        // Re-fetch every page the crawl saw from a fresh copy of the web, and
        // compare contents directly (whitespace-normalised), no checksums.
        let mut web = GeneratedWeb::new(&cfg).unwrap();
        let mut content_of = |url: &str| {
            let url = Url::parse(url).unwrap();
            let ip = web.lookup(url.host()).unwrap().ip;
            let body = web.fetch(ip, &url, 0).body;
            String::from_utf8(body)
                .unwrap()
                .split_ascii_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let stored: Vec<String> = c.stored.iter().map(|d| content_of(&d.url)).collect();
        let distinct_stored: HashSet<&String> = stored.iter().collect();
        assert_eq!(
            distinct_stored.len(),
            stored.len(),
            "a document was stored twice"
        );
        let fetched: HashSet<String> = r
            .server_log
            .iter()
            .filter(|a| a.status == 200)
            .map(|a| content_of(&a.url))
            .collect();
        // ... and no new document was dropped.
        assert_eq!(fetched.len(), stored.len());
        assert_eq!(c.duplicate_docs, c.pages_fetched - c.stored.len());
        // Mirrors, aliases and the boilerplate page produced duplicates, some
        // of which only differ in whitespace.
        assert!(c.duplicate_docs > 50, "{}", c.duplicate_docs);
        let mirror_hits = r
            .server_log
            .iter()
            .filter(|a| a.status == 200 && a.host.starts_with("mirror"))
            .count();
        assert!(mirror_hits > 5, "{mirror_hits}");
    }

    #[test]
    fn the_url_filter_keeps_the_crawler_out() {
        let r = run(&small());
        let f = &r.crawl.filtered;
        assert!(
            f.scheme > 0 && f.blacklisted > 0 && f.robots > 0 && f.extension > 0,
            "{f:?}"
        );
        for a in &r.server_log {
            let u = Url::parse(&a.url).unwrap();
            assert!(!u.path().starts_with("/private/"), "{}", a.url);
            assert_eq!(UrlFilter::standard().check(&u), Verdict::Allow, "{}", a.url);
            assert!(!a.url.contains("missing") || a.status == 404);
        }
    }

    #[test]
    fn dns_is_cached_within_ttl_and_asked_again_after() {
        let cfg = small();
        let r = run(&cfg);
        let d = &r.crawl.dns;
        assert_eq!(d.lookups, d.hits + d.misses);
        assert_eq!(d.lookups, r.crawl.attempted.len());
        // Only misses reach the DNS server, counted on its side.
        assert_eq!(r.dns_queries, d.misses);
        assert!(d.hits > 10 * d.misses, "{d:?}");
        assert!(d.expired > 0 && d.evicted == 0, "{d:?}");
        // Every fetch was sent to the address DNS gives for its host (the
        // servers answer 421 otherwise).
        assert!(r.server_log.iter().all(|a| a.status != 421));
        // A small cache evicts.
        let r = run(&Config {
            dns_cache: 2,
            ..cfg
        });
        assert!(r.crawl.dns.evicted > 0, "{:?}", r.crawl.dns);
    }

    struct CountingDns(usize);

    impl DnsServer for CountingDns {
        fn lookup(&mut self, host: &str) -> Option<DnsAnswer> {
            self.0 += 1;
            (host != "gone.example").then_some(DnsAnswer {
                ip: Ipv4Addr::new(10, 0, 0, host.len() as u8),
                ttl: 10 * SEC,
            })
        }
    }

    #[test]
    fn resolver_honours_ttl_lru_and_negative_answers() {
        let mut dns = CountingDns(0);
        let mut r = DnsResolver::new(2, 3 * SEC, 5 * MS).unwrap();
        assert_eq!(
            r.resolve("a.example", 0, &mut dns),
            (Some(Ipv4Addr::new(10, 0, 0, 9)), 5 * MS)
        );
        // Cached until lookup time + TTL, not a nanosecond longer.
        assert_eq!(r.resolve("a.example", 10 * SEC + 5 * MS - 1, &mut dns).1, 0);
        assert_eq!(
            r.resolve("a.example", 10 * SEC + 5 * MS, &mut dns).1,
            5 * MS
        );
        assert_eq!((dns.0, r.stats.expired), (2, 1));
        // Unknown hosts: cached for the negative TTL.
        assert_eq!(r.resolve("gone.example", 0, &mut dns).0, None);
        assert_eq!(r.resolve("gone.example", SEC, &mut dns), (None, 0));
        assert_eq!(dns.0, 3);
        // A third host evicts the least recently used (a.example).
        r.resolve("bb.example", 2 * SEC, &mut dns);
        assert_eq!(r.stats.evicted, 1);
        r.resolve("a.example", 11 * SEC, &mut dns);
        assert_eq!(dns.0, 5);
        assert_eq!(r.stats.lookups, r.stats.hits + r.stats.misses);
        assert_eq!(r.stats.failures, 2);
        assert!(DnsResolver::new(0, SEC, MS).is_err());
    }

    #[test]
    fn large_documents_are_spilled_then_removed() {
        let r = run(&small());
        let c = &r.crawl;
        assert!(c.dis.spilled_docs > 5, "{:?}", c.dis);
        assert_eq!(c.dis.spill_failures, 0);
        assert_eq!(c.io_errors, 0);
        // Small documents only in memory, at most one per connection.
        assert!(c.dis.peak_in_memory < 32 * (64 << 10));
        assert!(
            !c.spill_dir.exists(),
            "{} left behind",
            c.spill_dir.display()
        );
        let big = c.stored.iter().filter(|d| d.bytes > 64 << 10).count();
        assert!(big > 0 && big <= c.dis.spilled_docs);
    }

    #[test]
    fn document_input_stream_reads_back_what_it_holds() {
        let mut dis = DocumentInputStream::new(100);
        let small = dis.put(b"<p>small</p>".to_vec());
        let large_body: Vec<u8> = (0..5_000u32).flat_map(|i| i.to_le_bytes()).collect();
        assert!(!dis.spill_dir().exists(), "nothing spilled yet");
        let large = dis.put(large_body.clone());
        assert_eq!(fs::read_dir(dis.spill_dir()).unwrap().count(), 1);
        assert_eq!(
            (dis.stats.spilled_docs, dis.stats.spilled_bytes),
            (1, 20_000)
        );
        let mut back = Vec::new();
        dis.open(large).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, large_body);
        // Read twice (the checksum and the extractor both do).
        assert_eq!(
            checksum(dis.open(large).unwrap()).unwrap(),
            checksum(large_body.as_slice()).unwrap()
        );
        let dir = dis.spill_dir().to_owned();
        assert!(dir.exists());
        dis.release(large);
        assert!(dis.open(large).is_err());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        dis.release(small);
        assert_eq!(dis.in_memory, 0);
        drop(dis);
        assert!(!dir.exists());
    }

    #[test]
    fn checksum_ignores_whitespace_and_read_sizes() {
        let page = "<html>\n  <p>A  visit to a strange place</p>\n</html>\n";
        let reindented = "  <html>\r\n\t<p>A visit\nto a strange place</p> </html>";
        let whole = checksum(page.as_bytes()).unwrap();
        assert_eq!(whole, checksum(reindented.as_bytes()).unwrap());
        assert_ne!(
            whole,
            checksum("<html><p>A visit to a strange place</p></html>".as_bytes()).unwrap()
        );
        // Byte-at-a-time reads and one read agree, for documents longer than
        // the hashing block too.
        let long: String = (0..3_000).map(|i| format!("w{i} ")).collect();
        let tiny = BufReader::with_capacity(1, long.as_bytes());
        assert_eq!(checksum(tiny).unwrap(), checksum(long.as_bytes()).unwrap());
        assert_ne!(
            checksum(long.as_bytes()).unwrap(),
            checksum(&long.as_bytes()[1..]).unwrap()
        );
    }

    #[test]
    fn urls_resolve_like_a_browser() {
        let base = Url::parse("HTTPS://Site1.Example/s2/p3.html?x=1#frag").unwrap();
        assert_eq!(base.as_str(), "https://site1.example/s2/p3.html?x=1");
        assert_eq!((base.scheme(), base.host()), ("https", "site1.example"));
        let j = |h: &str| base.join(h).map(|u| u.as_str().to_owned());
        assert_eq!(
            j("p7.html").as_deref(),
            Some("https://site1.example/s2/p7.html")
        );
        assert_eq!(
            j("./p7.html#top").as_deref(),
            Some("https://site1.example/s2/p7.html")
        );
        assert_eq!(j("../").as_deref(), Some("https://site1.example/"));
        assert_eq!(
            j("../../../s1/").as_deref(),
            Some("https://site1.example/s1/")
        );
        assert_eq!(j("..").as_deref(), Some("https://site1.example/"));
        assert_eq!(
            j("/a/./b/../c").as_deref(),
            Some("https://site1.example/a/c")
        );
        assert_eq!(
            j("?ref=2").as_deref(),
            Some("https://site1.example/s2/p3.html?ref=2")
        );
        assert_eq!(
            j("//OTHER.example").as_deref(),
            Some("https://other.example/")
        );
        assert_eq!(j("#top"), None);
        assert_eq!(j(""), None);
        let mail = base.join("mailto:a@b.example").unwrap();
        assert_eq!((mail.scheme(), mail.host()), ("mailto", ""));
        assert_eq!(Url::parse("no-scheme/path"), None);
        assert_eq!(Url::parse("https:///path"), None);
        // The generator's relative links and the resolver agree.
        for (from, to) in [
            ("/s1/p3.html", "/s1/p7.html"),
            ("/s1/p3.html", "/"),
            ("/s1/p3.html", "/s2/"),
            ("/", "/s0/p1.html"),
            ("/", "/"),
            ("/s4/", "/s4/p0.html"),
            ("/s4/", "/terms.html"),
        ] {
            let b = Url::parse(&format!("https://h.example{from}")).unwrap();
            let href = relative(from, to);
            assert_eq!(b.join(&href).unwrap().path(), to, "{from} -> {href}");
        }
    }

    #[test]
    fn url_filter_rules() {
        let f = UrlFilter::standard();
        let v = |s: &str| f.check(&Url::parse(s).unwrap());
        assert_eq!(v("https://a.example/s1/p2.html"), Verdict::Allow);
        assert_eq!(v("http://a.example/"), Verdict::Allow);
        assert_eq!(v("https://a.example/v1.2/"), Verdict::Allow);
        assert_eq!(v("mailto:x@a.example"), Verdict::Scheme);
        assert_eq!(v("javascript:void(0)"), Verdict::Scheme);
        assert_eq!(v("ftp://a.example/x.html"), Verdict::Scheme);
        assert_eq!(v("https://ADS.example/click"), Verdict::Blacklisted);
        assert_eq!(v("https://a.example/private/x.html"), Verdict::Robots);
        assert_eq!(v("https://a.example/img/1.JPG"), Verdict::Extension);
        assert_eq!(v("https://a.example/r.pdf?dl=1"), Verdict::Extension);
        let mut scoped = UrlFilter::standard();
        scoped.scope = Some(["a.example".to_string()].into_iter().collect());
        assert_eq!(
            scoped.check(&Url::parse("https://b.example/").unwrap()),
            Verdict::OutOfScope
        );
    }

    #[test]
    fn extractor_finds_links_in_any_spelling() {
        let html = "<html><head><link href=\"x.css\"><title>t</title></head>\
            <body><a href=\"a.html\">a</a> <A CLASS=x HREF='/b?x=1&amp;y=2'>b</A>\
            <a name=n href=c.html>c</a><a href=\"#frag\">self</a><a title=href>none</a>\
            <img src=\"i.png\"><a\nhref = \"//o.example/d\">d</a></body></html>";
        let base = Url::parse("https://h.example/dir/page.html").unwrap();
        for cap in [1, 7, 4096] {
            let mut out = Vec::new();
            let mut ex = Extractor::default();
            let seen = ex
                .links(
                    BufReader::with_capacity(cap, html.as_bytes()),
                    &base,
                    &mut out,
                )
                .unwrap();
            let got: Vec<&str> = out.iter().map(Url::as_str).collect();
            assert_eq!(
                got,
                [
                    "https://h.example/dir/a.html",
                    "https://h.example/b?x=1&y=2",
                    "https://h.example/dir/c.html",
                    "https://o.example/d",
                ]
            );
            assert_eq!((seen, ex.skipped), (5, 1));
        }
    }

    #[test]
    fn frontier_is_fifo_per_host_and_polite() {
        let mut f = UrlFrontier::new(1, 0).unwrap();
        for u in [
            "https://a.example/1",
            "https://b.example/1",
            "https://a.example/2",
        ] {
            f.push(Url::parse(u).unwrap());
        }
        let first = f.pop(0, 0).unwrap();
        let second = f.pop(0, 0).unwrap();
        assert_eq!(first.url.as_str(), "https://a.example/1");
        assert_eq!(second.url.as_str(), "https://b.example/1");
        // a.example is busy: nothing until its fetch is done, then not before
        // the politeness delay.
        assert!(f.pop(0, 0).is_none());
        f.done(first.host, 5 * SEC);
        assert!(f.pop(0, 5 * SEC - 1).is_none());
        assert_eq!(f.next_ready(0), Some(5 * SEC));
        assert_eq!(
            f.pop(0, 5 * SEC).unwrap().url.as_str(),
            "https://a.example/2"
        );
        f.done(second.host, SEC);
        assert!(f.pop(0, u64::MAX).is_none());
    }

    #[test]
    fn a_local_directory_of_html_is_crawled() {
        let root = std::env::temp_dir().join(format!(
            "hld-web-crawler-site-{}-{}",
            std::process::id(),
            SPILL_DIRS.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(root.join("sub")).unwrap();
        let a = "<html><p>Page A</p><a href=\"sub/b.html\">b</a> <a href=\"../\">home</a></html>";
        let pages = [
            (
                "index.html",
                "<html><a href=\"a.html\">a</a><a href=\"sub/\">sub</a>\
                 <a href=\"missing.html\">x</a><a href=\"logo.png\">img</a>\
                 <a href=\"https://elsewhere.example/\">out</a><a href=\"a.html#s\">a</a>\
                 <a href=\"mailto:me@local.docs\">mail</a></html>",
            ),
            ("a.html", a),
            ("copy.html", &a.replace(' ', "\n\n ")),
            (
                "sub/index.html",
                "<html><a href=\"b.html\">b</a><a href=\"../a.html\">a</a></html>",
            ),
            (
                "sub/b.html",
                "<html><p>B</p><a href=\"/copy.html\">copy</a></html>",
            ),
            ("orphan.html", "<html><p>nobody links here</p></html>"),
        ];
        for (p, body) in pages {
            fs::write(root.join(p), body).unwrap();
        }
        let c = crawl_local(&small(), &root).unwrap().unwrap();
        fs::remove_dir_all(&root).unwrap();
        let mut got = c.attempted.clone();
        got.sort();
        let want: Vec<String> = [
            "/",
            "/a.html",
            "/copy.html",
            "/missing.html",
            "/sub/",
            "/sub/b.html",
        ]
        .iter()
        .map(|p| format!("https://local.docs{p}"))
        .collect();
        assert_eq!(got, want);
        assert_eq!((c.pages_fetched, c.not_found, c.duplicate_docs), (5, 1, 1));
        assert_eq!(
            (
                c.filtered.out_of_scope,
                c.filtered.extension,
                c.filtered.scheme
            ),
            (1, 1, 1)
        );
        assert!(crawl_local(&small(), Path::new("/nonexistent/hld"))
            .unwrap()
            .is_none());
        // The site never serves outside its root.
        let mut site = LocalSite::open(Path::new("/usr")).unwrap();
        let escape = Url::parse("https://local.docs/../etc/passwd").unwrap();
        assert_eq!(escape.path(), "/etc/passwd");
        assert!(site.file_for("/a/../b").is_none());
        assert_eq!(
            site.fetch(
                Ipv4Addr::LOCALHOST,
                &Url::parse("https://local.docs/nope/x").unwrap(),
                0
            )
            .status,
            404
        );
    }

    #[test]
    fn bad_configurations_are_typed_errors() {
        let bad_rate = try_run(&Config {
            fp_rate: 1.5,
            ..small()
        });
        assert!(matches!(
            bad_rate,
            Err(Error::Bloom(hld::bloom::Error::InvalidFalsePositiveRate(_)))
        ));
        assert!(matches!(
            try_run(&Config {
                dns_cache: 0,
                ..small()
            }),
            Err(Error::Cache(hld::lru_feed::Error::ZeroCapacity))
        ));
        assert!(matches!(
            try_run(&Config {
                workers: 0,
                ..small()
            }),
            Err(Error::NoFetchers)
        ));
        assert!(matches!(
            try_run(&Config {
                pages: 0,
                ..small()
            }),
            Err(Error::EmptyWeb)
        ));
    }

    #[test]
    fn the_run_is_deterministic() {
        let a = run(&small());
        let b = run(&small());
        assert_eq!(a.crawl.attempted, b.crawl.attempted);
        assert_eq!(a.crawl.sim_time, b.crawl.sim_time);
        assert_eq!(a.crawl.stored, b.crawl.stored);
    }
}
