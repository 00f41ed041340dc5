//! The public contract of DESIGN.md, checked by the compiler: every name and
//! signature written there must exist as written (coercing each function to the
//! exact fn-pointer type fails to compile otherwise), and a short run of each
//! shows it does what the contract says.
#![allow(clippy::type_complexity)] // the point is to spell the types out

use std::collections::HashSet;

use hld::bloom::{self, AtomicBloomFilter, BloomFilter};
use hld::chunker::{self, Chunk, FastCdc, Manifest, StreamChunker};
use hld::consistent_hash::{self as ch, HashRing};
use hld::inverted_index::{self as ii, InvertedIndex, Query};
use hld::lru_feed::{self as lf, Cache, ConcurrentCache, ExpiryMap, FeedCache, LruCache};
use hld::quadtree::{self as qt, Point, QuadTree};
use hld::ratelimit::{
    self as rl, Backoff, CircuitBreaker, Decision, FixedWindow, KeyedLimiter, Quota,
    SlidingWindowCounter, SlidingWindowLog, TokenBucket,
};
use hld::trie::TopKTrie;

#[test]
fn bloom_contract() {
    let _: fn(usize, f64) -> Result<BloomFilter, bloom::Error> = BloomFilter::new;
    let _: fn(&mut BloomFilter, &str) -> bool = BloomFilter::insert::<str>;
    let _: fn(&BloomFilter, &u64) -> bool = BloomFilter::contains::<u64>;
    let _: fn(&mut BloomFilter, u64) -> bool = BloomFilter::insert_hash;
    let _: fn(&BloomFilter, u64) -> bool = BloomFilter::contains_hash;
    let _: fn(&BloomFilter) -> usize = BloomFilter::bit_len;
    let _: fn(&BloomFilter) -> u32 = BloomFilter::num_hashes;
    let _: fn(&BloomFilter) -> f64 = BloomFilter::estimated_fp_rate;
    let _: fn(&mut BloomFilter, &BloomFilter) -> Result<(), bloom::Error> = BloomFilter::union;
    let _: fn(&BloomFilter) -> Vec<u8> = BloomFilter::to_bytes;
    let _: fn(&[u8]) -> Result<BloomFilter, bloom::Error> = BloomFilter::from_bytes;
    let _: fn(usize, f64) -> Result<AtomicBloomFilter, bloom::Error> = AtomicBloomFilter::new;
    let _: fn(&AtomicBloomFilter, &str) -> bool = AtomicBloomFilter::insert::<str>;
    let _: fn(&AtomicBloomFilter, &str) -> bool = AtomicBloomFilter::contains::<str>;

    let mut f = BloomFilter::new(100, 0.01).unwrap();
    assert!(f.insert("a") && !f.insert("a") && f.contains("a"));
    assert!(BloomFilter::from_bytes(&f.to_bytes())
        .unwrap()
        .contains("a"));
    assert!(BloomFilter::new(0, 0.01).is_err());
}

#[test]
fn chunker_contract() {
    let _: fn(usize, usize, usize) -> Result<FastCdc, chunker::Error> = FastCdc::new;
    let _: fn(FastCdc) -> StreamChunker = StreamChunker::new;
    let _: fn(&mut StreamChunker, &[u8]) -> Vec<Chunk> = StreamChunker::push;
    let _: fn(StreamChunker) -> Option<Chunk> = StreamChunker::finish;
    let cdc = FastCdc::new(256, 1024, 8192).unwrap();
    let data: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let chunks: Vec<Chunk> = cdc.chunks(&data).collect();
    let Chunk { offset, len, hash } = chunks[0];
    let _: (u64, usize, u64) = (offset, len, hash);
    let mut stream = StreamChunker::new(cdc);
    let mut streamed = stream.push(&data[..20_000]);
    streamed.extend(stream.push(&data[20_000..]));
    streamed.extend(stream.finish());
    assert_eq!(streamed, chunks);
    let old = Manifest::new(&cdc, &data);
    let mut edited = data.clone();
    edited[25_000] ^= 1;
    let new = Manifest::new(&cdc, &edited);
    let diff = new.diff(&old);
    assert!(!diff.upload.is_empty() && diff.upload.len() <= 3);
    assert!(FastCdc::new(4096, 1024, 8192).is_err());
}

#[test]
fn consistent_hash_contract() {
    let _: fn(usize) -> Result<HashRing<String>, ch::Error> = HashRing::new;
    let _: fn(&mut HashRing<String>, String) -> bool = HashRing::add;
    let _: fn(&mut HashRing<String>, String, u32) -> Result<bool, ch::Error> =
        HashRing::add_weighted;
    let _: fn(&mut HashRing<String>, &String) -> bool = HashRing::remove;
    let _: for<'a, 'b> fn(&'a HashRing<String>, &'b str) -> Option<&'a String> =
        HashRing::node_for::<str>;
    let _: for<'a, 'b> fn(&'a HashRing<String>, &'b str, usize) -> Vec<&'a String> =
        HashRing::nodes_for::<str>;
    let _: fn(&HashRing<String>) -> usize = HashRing::len;
    let _: fn(u64, u32) -> u32 = ch::jump_hash;

    let mut ring = HashRing::new(100).unwrap();
    assert_eq!(ring.node_for("k"), None);
    for n in ["a", "b", "c"] {
        assert!(ring.add(n.to_string()));
    }
    let replicas: HashSet<&String> = ring.nodes_for("key", 3).into_iter().collect();
    assert_eq!((ring.len(), replicas.len()), (3, 3));
    assert!(HashRing::<String>::new(0).is_err());
    assert_eq!(ch::jump_hash(10_863_919_174_838_991, 11), 6);
    let _ = std::any::type_name::<ch::BoundedLoad<String, u64>>();
    let _ = std::any::type_name::<ch::AnchorHash<String>>();
}

#[test]
fn inverted_index_contract() {
    let _: fn() -> InvertedIndex = InvertedIndex::new;
    let _: fn(&mut InvertedIndex, u64, &str) -> Result<(), ii::Error> = InvertedIndex::add;
    let _: fn(&mut InvertedIndex, u64) -> bool = InvertedIndex::remove;
    let _: fn(&InvertedIndex) -> usize = InvertedIndex::len;
    let _: fn(&str) -> Result<Query, ii::ParseError> = Query::parse;
    let _: fn(&InvertedIndex, &Query, usize) -> Vec<u64> = InvertedIndex::search;
    let _: fn(&InvertedIndex, &Query) -> usize = InvertedIndex::count;
    let _: fn(&InvertedIndex, &Query, usize) -> Vec<(u64, f32)> = InvertedIndex::search_ranked;

    let words: Vec<String> = ii::tokenize("Ask @Alice about #Rust, or NOT").collect();
    assert_eq!(words, ["ask", "@alice", "about", "#rust", "or", "not"]);
    let mut idx = InvertedIndex::new();
    idx.add(1, "rust is fast").unwrap();
    idx.add(2, "go is fast too").unwrap();
    assert!(idx.add(2, "again").is_err());
    let q = Query::parse("fast -rust").unwrap();
    assert_eq!(idx.search(&q, 10), vec![2]);
    assert_eq!(idx.search(&Query::parse("fast").unwrap(), 10), vec![2, 1]);
    assert!(Query::parse("(fast").is_err() && Query::parse("").is_err());
}

#[test]
fn lru_feed_contract() {
    let _: fn(usize) -> Result<LruCache<u64, u64>, lf::Error> = LruCache::new;
    let _: for<'a, 'b> fn(&'a mut LruCache<u64, u64>, &'b u64) -> Option<&'a u64> =
        LruCache::get::<u64>;
    let _: fn(&mut LruCache<u64, u64>, u64, u64) -> Option<(u64, u64)> = LruCache::put;
    let _: fn(usize) -> Result<Cache<u64, u64>, lf::Error> = Cache::new;
    let _: fn(&mut Cache<u64, u64>, u64, u64) -> Option<(u64, u64)> = Cache::put;
    let _: fn(usize) -> Result<ConcurrentCache<u64, u64>, lf::Error> = ConcurrentCache::new;
    let _: fn(&ConcurrentCache<u64, u64>, &u64) -> Option<u64> = ConcurrentCache::get::<u64>;
    let _: fn(&ConcurrentCache<u64, u64>, u64, u64) = ConcurrentCache::insert;
    let _: fn() -> ExpiryMap<u64, u64> = ExpiryMap::new;
    let _: fn(&mut ExpiryMap<u64, u64>, &u64) -> Option<u64> = ExpiryMap::remove::<u64>;
    let _: fn(&mut ExpiryMap<u64, u64>, u64) -> Vec<(u64, u64)> = ExpiryMap::expire;
    let _: fn(&ExpiryMap<u64, u64>) -> Option<u64> = ExpiryMap::next_deadline;
    let _: fn(usize) -> Result<FeedCache<u64, u64>, lf::Error> = FeedCache::new;
    let _: fn(&FeedCache<u64, u64>, &u64, Option<&u64>, usize) -> Vec<u64> = FeedCache::page;

    let mut lru = LruCache::new(2).unwrap();
    lru.put(1, 1);
    lru.put(2, 2);
    assert_eq!(lru.get(&1), Some(&1));
    assert_eq!(lru.put(3, 3), Some((2, 2))); // 2 was least recently used
    assert_eq!((lru.len(), lru.capacity(), lru.peek(&1)), (2, 2, Some(&1)));
    assert!(LruCache::<u64, u64>::new(0).is_err());
    let mut holds = ExpiryMap::new();
    holds.insert("seat-2", 2, 200);
    holds.insert("seat-1", 1, 100);
    assert_eq!(holds.next_deadline(), Some(100));
    assert_eq!(holds.expire(150), vec![("seat-1", 1)]);
    assert_eq!(holds.get(&"seat-2"), Some(&2));
    let mut feed = FeedCache::new(500).unwrap();
    for p in 0..50u64 {
        feed.push(7u64, p, p);
    }
    let first = feed.page(&7, None, 20);
    assert_eq!(first, (30..50).rev().collect::<Vec<_>>());
    assert_eq!(
        feed.page(&7, first.last(), 20),
        (10..30).rev().collect::<Vec<_>>()
    );
}

#[test]
fn trie_contract() {
    let _: fn() -> TopKTrie = TopKTrie::new;
    let _: fn(&mut TopKTrie, &str, u64) = TopKTrie::insert;
    let _: fn(&mut TopKTrie, &str, u64) = TopKTrie::add;
    let _: fn(&mut TopKTrie, &str) -> Option<u64> = TopKTrie::remove;
    let _: fn(&TopKTrie, &str) -> Option<u64> = TopKTrie::weight;
    let _: fn(&TopKTrie) -> usize = TopKTrie::len;
    let _: fn(&TopKTrie, &str, usize) -> Vec<(String, u64)> = TopKTrie::top_k;

    let mut t: TopKTrie = [
        ("tea".to_string(), 5u64),
        ("ten".to_string(), 5),
        ("to".to_string(), 9),
    ]
    .into_iter()
    .collect();
    t.add("tea", 1);
    assert_eq!(
        t.top_k("t", 3),
        vec![("to".into(), 9), ("tea".into(), 6), ("ten".into(), 5)]
    );
    t.insert("ten", 6);
    // Ties by term in byte order.
    assert_eq!(t.top_k("te", 2), vec![("tea".into(), 6), ("ten".into(), 6)]);
    assert_eq!(t.remove("to"), Some(9));
    assert_eq!((t.len(), t.weight("to")), (2, None));
}

#[test]
fn quadtree_contract() {
    let _: fn(f64, f64) -> Result<Point, qt::Error> = Point::new;
    let _: fn(&Point) -> f64 = Point::lat;
    let _: fn(&Point) -> f64 = Point::lon;
    let _: fn() -> QuadTree<u32> = QuadTree::new;
    let _: fn(usize) -> Result<QuadTree<u32>, qt::Error> = QuadTree::with_leaf_capacity;
    let _: fn(&mut QuadTree<u32>, u32, Point) -> Option<Point> = QuadTree::insert;
    let _: fn(&mut QuadTree<u32>, &u32) -> Option<Point> = QuadTree::remove;
    let _: fn(&QuadTree<u32>, &u32) -> Option<Point> = QuadTree::get;
    let _: fn(&QuadTree<u32>) -> usize = QuadTree::len;
    let _: fn(&QuadTree<u32>, Point, usize) -> Vec<(u32, f64)> = QuadTree::nearest;
    let _: fn(&QuadTree<u32>, Point, f64) -> Vec<(u32, f64)> = QuadTree::within;
    let _: fn(&QuadTree<u32>, Point, Point) -> Vec<u32> = QuadTree::in_box;

    let p = |lat, lon| Point::new(lat, lon).unwrap();
    let mut t = QuadTree::new();
    t.insert(1u32, p(0.0, 179.99));
    t.insert(2, p(0.0, -179.99));
    t.insert(3, p(0.0, 0.0));
    // Across the antimeridian: 2 is ~2.2 km from 1, 3 is half the world away.
    let near = t.nearest(p(0.0, 179.99), 2);
    assert_eq!(near.iter().map(|&(id, _)| id).collect::<Vec<_>>(), [1, 2]);
    assert!((near[1].1 - 2_223.9).abs() < 1.0, "{near:?}");
    assert_eq!(t.within(p(0.0, 180.0), 5_000.0).len(), 2);
    assert_eq!(t.in_box(p(-1.0, 179.0), p(1.0, -179.0)).len(), 2); // crosses 180
    assert_eq!(t.insert(3, p(1.0, 1.0)), Some(p(0.0, 0.0))); // a move
    assert!(Point::new(f64::NAN, 0.0).is_err() && Point::new(91.0, 0.0).is_err());
    assert!(QuadTree::<u32>::with_leaf_capacity(0).is_err());
    assert!(t.nearest(p(0.0, 0.0), 0).is_empty());
}

#[test]
fn ratelimit_contract() {
    let _: fn(u32) -> Result<Quota, rl::Error> = Quota::per_second;
    let _: fn(u32) -> Result<Quota, rl::Error> = Quota::per_minute;
    let _: fn(u32, u64) -> Result<Quota, rl::Error> = Quota::per_period;
    let _: fn(Quota, u32) -> Result<Quota, rl::Error> = Quota::with_burst;
    let _: fn(Quota) -> TokenBucket = TokenBucket::new;
    let _: fn(&TokenBucket, u64) -> Decision = TokenBucket::check;
    let _: fn(&TokenBucket, u32, u64) -> Result<Decision, rl::Error> = TokenBucket::check_n;
    // The windows have the same shape.
    let _: fn(Quota) -> FixedWindow = FixedWindow::new;
    let _: fn(&FixedWindow, u64) -> Decision = FixedWindow::check;
    let _: fn(&FixedWindow, u32, u64) -> Result<Decision, rl::Error> = FixedWindow::check_n;
    let _: fn(Quota) -> SlidingWindowCounter = SlidingWindowCounter::new;
    let _: fn(&SlidingWindowCounter, u64) -> Decision = SlidingWindowCounter::check;
    let _: fn(&SlidingWindowCounter, u32, u64) -> Result<Decision, rl::Error> =
        SlidingWindowCounter::check_n;
    let _: fn(Quota) -> SlidingWindowLog = SlidingWindowLog::new;
    let _: fn(&SlidingWindowLog, u64) -> Decision = SlidingWindowLog::check;
    let _: fn(&SlidingWindowLog, u32, u64) -> Result<Decision, rl::Error> =
        SlidingWindowLog::check_n;
    let _: fn(&KeyedLimiter<u64>, &u64, u64) -> Decision = KeyedLimiter::check;
    let _: fn(&CircuitBreaker, u64) -> bool = CircuitBreaker::allow;
    let _: fn(&CircuitBreaker, bool, u64) = CircuitBreaker::record;

    // Decision is the plain struct DESIGN.md writes.
    let Decision {
        allowed,
        limit,
        remaining,
        retry_after_ns,
        reset_after_ns,
    } = Decision::default();
    let _: (bool, u64, u64, u64, u64) = (allowed, limit, remaining, retry_after_ns, reset_after_ns);

    // GCRA as governor defines it: T = floor(period / n), burst defaults to n.
    let q = Quota::per_second(3).unwrap();
    assert_eq!((q.emission_interval_ns(), q.burst()), (333_333_333, 3));
    let b = TokenBucket::new(Quota::per_second(2).unwrap());
    let t0 = 7_000_000_000; // a fresh bucket starts at the first `now`
    assert!(b.check(t0).allowed && b.check(t0).allowed);
    let d = b.check(t0);
    assert!(!d.allowed && d.retry_after_ns == 500_000_000 && d.remaining == 0);
    assert_eq!(b.check(t0).limit, 2);
    assert_eq!(b.check(t0 + 500_000_000).retry_after_ns, 0);
    assert!(b.check_n(3, t0).is_err()); // above the burst: an error, not a forever-deny
    assert!(Quota::per_second(0).is_err() && Quota::per_period(1, 0).is_err());
    assert!(q.with_burst(0).is_err());
    let w = FixedWindow::new(Quota::per_minute(1).unwrap());
    assert!(w.check(0).allowed && !w.check(1).allowed);

    let keyed = KeyedLimiter::<u64>::new(Quota::per_second(1).unwrap());
    assert!(keyed.check(&1, 0).allowed && !keyed.check(&1, 0).allowed);
    assert!(keyed.check(&2, 0).allowed);
    keyed.set_quota(Quota::per_second(10).unwrap()); // at run time, state kept
    assert!(keyed.check(&1, 100_000_000).allowed);

    let cb = CircuitBreaker::new(rl::BreakerConfig {
        min_calls: 2,
        cool_down_ns: 10,
        probes: 1,
        ..rl::BreakerConfig::default()
    })
    .unwrap();
    cb.record(false, 0);
    cb.record(false, 1);
    assert!(!cb.allow(2) && cb.allow(12));
    let backoff = Backoff::new(100, 1_000).unwrap();
    assert!(backoff.delay(20, u64::MAX) == 1_000 && backoff.delay(0, 0) == 0);
}
