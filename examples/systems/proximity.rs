//! Proximity service (design notes, section 2): "given a lat/long, give me
//! nearby restaurants", over real cities.
//!
//! The places are the world's cities of `data/cities15000.csv` (city data ©
//! GeoNames, CC BY 4.0) plus restaurants generated around each, one per
//! [`Config::people_per_restaurant`] inhabitants, scattered within a few
//! kilometres of the centre, each with a rating. The services, as the notes
//! draw them:
//!
//! - The **places DB** ([`PlacesDb`]: location id -> [`PlaceRow`]) is the
//!   source of truth; a **cache** sits in front of it for the place details a
//!   client shows ([`DetailsCache`]: hld-lru-feed's S3-FIFO `CachedStore`,
//!   write-through), since "the db is the one which gives us meta details from
//!   a locationId".
//! - **QuadTreeServer**s each hold a quadtree (hld-quadtree, leaves split past
//!   500 places as in the notes) of the places whose location id the hash
//!   ring (hld-consistent-hash) assigns to them, and their ratings ("store
//!   rating of place in both db and quad tree"). They answer two messages:
//!   [`NearestWithin`] and [`TopRatedWithin`], each with a list of [`Hit`]s.
//! - The **Aggregator** takes a [`SearchRequest`], fans each step out to every
//!   server and merges the best. It widens as the notes say ("if the current
//!   grid contains the required number of results return it, or else keep
//!   looking in neighbours till the limit is reached or the max radius is
//!   touched"): it asks for the k nearest within 1 km, and doubles the radius
//!   until k places are in it or the maximum radius is reached. Then it ranks
//!   ("add ranking"): the best rated within the radius it found.
//! - **Fault tolerance**: each server is a [`QuadTreeShard`], a primary and a
//!   replica. The primary takes the writes (places opened and closed,
//!   [`Change`]) and appends them to its [`ChangeLog`]; the replica serves the
//!   reads and follows the log in order, a bounded number of entries per tick,
//!   so it lags under a burst of writes and then catches up.
//! - The **reverse index** ([`ReverseIndex`]: server id -> location ids) lets a
//!   server whose primary and replica both died be rebuilt without hashing
//!   every location id of the DB: its ids, their coordinates and ratings from
//!   the DB, one bulk load; the replica then starts from the new primary's
//!   snapshot (`QuadTree::to_bytes`).
//!
//! Location ids are handed out in increasing order and every server inserts in
//! id order (bulk loads sort by id, new places get the next id), so the
//! quadtree's tie-break (insertion order) is id order: the order the
//! Aggregator merges by, and the order a rebuilt server has too. That is why a
//! rebuilt server answers bit for bit as the one it replaces.
//!
//! The report sets the notes' sizing (500M places x 24 bytes ~ 12 GB, 1M full
//! leaves, 10 MB of inner nodes) against what this run measures: snapshot
//! bytes per place (the notes' 24), heap bytes per place in a server
//! (`QuadTree::heap_bytes`: unit vectors for the scans, the id index), and
//! how full the leaves really are.
//!
//! Past one machine: each QuadTreeServer is a machine (a primary and a replica
//! machine per shard) holding a `QuadTree` in memory; its change log is a Kafka
//! topic (or the places DB's binlog, read by a CDC consumer), which the replica
//! consumes in order, its lag being the consumer's offset lag. The reverse
//! index is a key-value store (Redis or DynamoDB: server id -> set of location
//! ids), the places' details live in MySQL or Cassandra behind Redis or
//! memcached, and the Aggregator runs behind a load balancer that fans each
//! request out to every shard and merges. The ring (`HashRing`, stable XXH3
//! placement) is shared configuration, so every writer routes a location id to
//! the same server. `QuadTree::to_bytes` snapshots (24 bytes a place, checked
//! on load) go to S3 periodically: a dead server then restores the latest
//! snapshot and replays the log from its offset, faster than a rebuild from
//! the DB.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::time::Duration;

use hld::consistent_hash::HashRing;
use hld::lru_feed::{CachedStore, WritePolicy};
use hld::quadtree::{Error, Point, QuadTree, Stats, EARTH_RADIUS_M};

use crate::common::{bytes, ms, per_second, percentile, timed, us, Rng, Table};

/// A place's id in the DB (what the notes call a location id).
pub type LocationId = u64;
/// A quadtree server (shard) number: its index in [`Proximity::shards`].
pub type ServerId = u32;
/// Tenths of a star, 10 (1.0) to 50 (5.0): integers, so equal ratings are
/// exactly equal when ranking.
pub type Rating = u8;

/// Metres per degree of latitude on the crate's sphere.
const M_PER_DEG: f64 = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;

/// The workload's knobs.
#[derive(Clone, Debug)]
pub struct Config {
    /// One generated restaurant per this many inhabitants of each city.
    pub people_per_restaurant: u64,
    /// Quadtree servers (shards), each a primary and a replica.
    pub servers: u32,
    /// Places per leaf before it splits (the notes: 500).
    pub leaf_capacity: usize,
    /// Nearest places per search (the limit).
    pub k: usize,
    /// Best-rated places per search, within the radius that held k.
    pub top_rated: usize,
    /// First radius the Aggregator tries (metres); it doubles from there.
    pub start_radius_m: f64,
    /// The radius it never goes past (metres).
    pub max_radius_m: f64,
    /// Searches in the measured run.
    pub searches: usize,
    /// Share of searches from anywhere on Earth (mostly ocean: the widening
    /// runs to the maximum radius); the rest come from near a city chosen
    /// by population.
    pub remote_share: f64,
    /// Capacity of the place-details cache (entries).
    pub cache_capacity: usize,
    /// Ticks of the write burst.
    pub write_ticks: usize,
    /// Writes (openings and closings) per tick, over all shards.
    pub writes_per_tick: usize,
    /// Share of writes that close a restaurant (the rest open one).
    pub close_share: f64,
    /// Log entries each replica applies per tick.
    pub replica_apply_per_tick: usize,
    /// Searches per tick compared between replicas and primaries.
    pub lag_probes_per_tick: usize,
    /// Searches compared before and after a rebuild, and after catch-up.
    pub probes: usize,
    /// Seed of the workload (the run is deterministic).
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            people_per_restaurant: 10_000,
            servers: 4,
            leaf_capacity: 500,
            k: 10,
            top_rated: 10,
            start_radius_m: 1_000.0,
            max_radius_m: 50_000.0,
            searches: 20_000,
            remote_share: 0.1,
            cache_capacity: 20_000,
            write_ticks: 20,
            writes_per_tick: 200,
            close_share: 0.3,
            replica_apply_per_tick: 40,
            lag_probes_per_tick: 50,
            probes: 500,
            seed: 2,
        }
    }
}

// ---------------------------------------------------------------------------
// Data: cities and the places DB.

/// A city of `data/cities15000.csv` (GeoNames).
#[derive(Clone, Copy, Debug)]
pub struct City {
    pub geonameid: u32,
    pub at: Point,
    pub population: u64,
}

/// Every city of `data/cities15000.csv`, in file order. Names may hold commas
/// (quoted), so the numeric fields are taken from the right.
pub fn cities() -> Vec<City> {
    include_str!("../../data/cities15000.csv")
        .lines()
        .skip(1)
        .filter_map(|line| {
            // population, countrycode, longitude, latitude, "geonameid,name"
            let f: Vec<&str> = line.rsplitn(5, ',').collect();
            let (id, _name) = f.get(4)?.split_once(',')?;
            Some(City {
                geonameid: id.parse().ok()?,
                at: Point::new(f[3].parse().ok()?, f[2].parse().ok()?).ok()?,
                population: f[0].parse().ok()?,
            })
        })
        .collect()
}

/// What a place is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    City,
    Restaurant,
}

/// A row of the places DB: what the notes keep in SQL or Mongo.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlaceRow {
    pub kind: Kind,
    /// The GeoNames city it is (or is near).
    pub geonameid: u32,
    pub at: Point,
    pub rating: Rating,
}

/// The places DB: location id -> row.
pub type PlacesDb = HashMap<LocationId, PlaceRow>;

/// The cache before the DB that serves place details (S3-FIFO, write-through:
/// openings and closings go to the DB and the cache together).
pub type DetailsCache = CachedStore<LocationId, PlaceRow, PlacesDb>;

/// A rating: most places between 3 and 4.5 stars.
fn rating(rng: &mut Rng) -> Rating {
    (22 + rng.below(15) + rng.below(15)).min(50) as Rating
}

/// How far around its centre a city's restaurants spread: about 1 km for a
/// small town, growing with the square root of the population, at most 8 km.
fn scatter_m(population: u64) -> f64 {
    (500.0 + 2_000.0 * (population as f64 / 1e5).sqrt()).min(8_000.0)
}

/// A point uniformly in the disc of `radius_m` around `at` (flat-Earth offsets:
/// exact enough at a few kilometres, and any valid point will do).
fn scatter(at: Point, radius_m: f64, rng: &mut Rng) -> Point {
    let d = radius_m * rng.float().sqrt();
    let bearing = std::f64::consts::TAU * rng.float();
    let lat = (at.lat() + d * bearing.cos() / M_PER_DEG).clamp(-90.0, 90.0);
    let cos_lat = at.lat().to_radians().cos().max(0.01);
    let mut lon = at.lon() + d * bearing.sin() / (M_PER_DEG * cos_lat);
    if lon > 180.0 {
        lon -= 360.0;
    } else if lon < -180.0 {
        lon += 360.0;
    }
    Point::new(lat, lon).expect("clamped and wrapped into range")
}

/// Every city as a place, then its restaurants, city by city: row `i` gets
/// location id `i`.
pub fn places(cfg: &Config, cities: &[City], rng: &mut Rng) -> Vec<PlaceRow> {
    let mut rows: Vec<PlaceRow> = cities
        .iter()
        .map(|c| PlaceRow {
            kind: Kind::City,
            geonameid: c.geonameid,
            at: c.at,
            rating: rating(rng),
        })
        .collect();
    for c in cities {
        for _ in 0..c.population / cfg.people_per_restaurant.max(1) {
            rows.push(restaurant(c, rng));
        }
    }
    rows
}

fn restaurant(c: &City, rng: &mut Rng) -> PlaceRow {
    PlaceRow {
        kind: Kind::Restaurant,
        geonameid: c.geonameid,
        at: scatter(c.at, scatter_m(c.population), rng),
        rating: rating(rng),
    }
}

/// Picks cities in proportion to their population.
struct ByPopulation {
    cumulative: Vec<u64>,
}

impl ByPopulation {
    fn new(cities: &[City]) -> ByPopulation {
        let mut acc = 0;
        ByPopulation {
            cumulative: cities
                .iter()
                .map(|c| {
                    acc += c.population.max(1);
                    acc
                })
                .collect(),
        }
    }

    fn pick(&self, rng: &mut Rng) -> usize {
        let total = *self.cumulative.last().expect("at least one city");
        let x = rng.below(total as usize) as u64;
        self.cumulative.partition_point(|&c| c <= x)
    }
}

/// Where a user searches from: near a city chosen by population, or (with
/// probability `remote_share`) anywhere on the sphere.
fn user_location(cfg: &Config, cities: &[City], pick: &ByPopulation, rng: &mut Rng) -> Point {
    if rng.chance(cfg.remote_share) {
        let lat = (2.0 * rng.float() - 1.0).asin().to_degrees();
        let lon = 360.0 * rng.float() - 180.0;
        Point::new(lat.clamp(-90.0, 90.0), lon.clamp(-180.0, 180.0)).expect("in range")
    } else {
        let c = &cities[pick.pick(rng)];
        scatter(c.at, scatter_m(c.population), rng)
    }
}

// ---------------------------------------------------------------------------
// Messages.

/// A write the primary takes and logs: a place opened or closed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Change {
    Open {
        id: LocationId,
        at: Point,
        rating: Rating,
    },
    Close {
        id: LocationId,
    },
}

/// Aggregator -> QuadTreeServer: up to `limit` nearest places within
/// `radius_m`.
#[derive(Clone, Copy, Debug)]
pub struct NearestWithin {
    pub at: Point,
    pub limit: usize,
    pub radius_m: f64,
}

/// Aggregator -> QuadTreeServer: the `n` best rated within `radius_m`.
#[derive(Clone, Copy, Debug)]
pub struct TopRatedWithin {
    pub at: Point,
    pub radius_m: f64,
    pub n: usize,
}

/// One place in an answer (server -> Aggregator, Aggregator -> client).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    pub id: LocationId,
    pub distance_m: f64,
    pub rating: Rating,
}

/// Client -> Aggregator.
#[derive(Clone, Copy, Debug)]
pub struct SearchRequest {
    pub at: Point,
    /// Nearest places wanted.
    pub k: usize,
    /// Best-rated places wanted within the radius that held `k`.
    pub top_rated: usize,
}

/// Aggregator -> client.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchResponse {
    /// The k nearest within the maximum radius, nearest first (ties by id).
    pub nearest: Vec<Hit>,
    /// The best rated within `radius_m`: highest rating first, then nearest,
    /// then by id.
    pub top_rated: Vec<Hit>,
    /// The radius the widening stopped at.
    pub radius_m: f64,
    /// Fan-out rounds it took (1 = the first radius held k).
    pub rounds: u32,
}

/// What can go wrong serving a request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ServiceError {
    /// Bad coordinates or radius (from the quadtree core), or a corrupt snapshot.
    Geo(Error),
    /// Both machines of a shard are down: no answer can be complete.
    ShardDown(ServerId),
    /// The reverse index names a place the DB does not have.
    MissingPlace(LocationId),
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceError::Geo(e) => write!(f, "{e}"),
            ServiceError::ShardDown(s) => write!(f, "quadtree server {s} is down"),
            ServiceError::MissingPlace(id) => write!(f, "place {id} is not in the DB"),
        }
    }
}

impl std::error::Error for ServiceError {}

impl From<Error> for ServiceError {
    fn from(e: Error) -> ServiceError {
        ServiceError::Geo(e)
    }
}

/// Nearest first, ties by id.
fn by_distance(a: &Hit, b: &Hit) -> Ordering {
    a.distance_m.total_cmp(&b.distance_m).then(a.id.cmp(&b.id))
}

/// Best rated first, then nearest, then by id.
fn by_rating(a: &Hit, b: &Hit) -> Ordering {
    b.rating.cmp(&a.rating).then_with(|| by_distance(a, b))
}

// ---------------------------------------------------------------------------
// Services.

/// The primary's change log (a Kafka topic, or the DB's binlog): entry `i`
/// has sequence number `i + 1`.
#[derive(Clone, Debug, Default)]
pub struct ChangeLog {
    entries: Vec<Change>,
}

impl ChangeLog {
    pub fn append(&mut self, c: Change) {
        self.entries.push(c);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Up to `max` entries after the first `from`.
    pub fn read(&self, from: usize, max: usize) -> &[Change] {
        let from = from.min(self.entries.len());
        &self.entries[from..(from + max).min(self.entries.len())]
    }
}

/// A server's state as bytes: its tree (`QuadTree::to_bytes`) and its
/// ratings, one byte per place in the tree's insertion order.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub tree: Vec<u8>,
    pub ratings: Vec<u8>,
    /// Change-log entries it includes.
    pub applied: usize,
}

/// A quadtree server: the places of its shard in a quadtree, their ratings,
/// and how far into the change log it is.
#[derive(Clone)]
pub struct QuadTreeServer {
    pub id: ServerId,
    tree: QuadTree<LocationId>,
    ratings: HashMap<LocationId, Rating>,
    applied: usize,
}

impl QuadTreeServer {
    /// Bulk-loads `places` (in id order) with the given leaf capacity; the
    /// server has applied the first `applied` entries of its change log.
    pub fn build(
        id: ServerId,
        leaf_capacity: usize,
        places: impl IntoIterator<Item = (LocationId, Point, Rating)>,
        applied: usize,
    ) -> Result<QuadTreeServer, Error> {
        let mut ratings = HashMap::new();
        let tree = QuadTree::bulk_load_with_leaf_capacity(
            places.into_iter().map(|(place, at, r)| {
                ratings.insert(place, r);
                (place, at)
            }),
            leaf_capacity,
        )?;
        Ok(QuadTreeServer {
            id,
            tree,
            ratings,
            applied,
        })
    }

    pub fn len(&self) -> usize {
        self.tree.len()
    }

    pub fn stats(&self) -> Stats {
        self.tree.stats()
    }

    /// Heap bytes of the quadtree (the ratings map beside it not included).
    pub fn heap_bytes(&self) -> usize {
        self.tree.heap_bytes()
    }

    /// Every place in insertion order, with its rating.
    pub fn entries(&self) -> Vec<(LocationId, Point, Rating)> {
        self.tree
            .entries_in_order()
            .into_iter()
            .map(|(id, at)| (id, at, self.ratings[&id]))
            .collect()
    }

    /// Answers [`NearestWithin`]: nearest first, ties by insertion (= id) order.
    pub fn nearest_within(&self, q: &NearestWithin) -> Result<Vec<Hit>, Error> {
        Ok(self
            .tree
            .nearest_within(q.at, q.limit, q.radius_m)?
            .into_iter()
            .map(|(id, d)| self.hit(id, d))
            .collect())
    }

    /// Answers [`TopRatedWithin`]: best rated first, then nearest, then id.
    pub fn top_rated_within(&self, q: &TopRatedWithin) -> Result<Vec<Hit>, Error> {
        Ok(self
            .tree
            .top_by_score_within(q.at, q.radius_m, q.n, |id, _| f64::from(self.ratings[&id]))?
            .into_iter()
            .map(|(id, d, _)| self.hit(id, d))
            .collect())
    }

    fn hit(&self, id: LocationId, distance_m: f64) -> Hit {
        Hit {
            id,
            distance_m,
            rating: self.ratings[&id],
        }
    }

    /// Applies one change (the primary on a write, the replica from the log).
    pub fn apply(&mut self, c: &Change) {
        match *c {
            Change::Open { id, at, rating } => {
                self.tree.insert(id, at);
                self.ratings.insert(id, rating);
            }
            Change::Close { id } => {
                self.tree.remove(&id);
                self.ratings.remove(&id);
            }
        }
        self.applied += 1;
    }

    /// Applies up to `max` log entries after those already applied, in order;
    /// returns how many.
    pub fn follow(&mut self, log: &ChangeLog, max: usize) -> usize {
        let batch = log.read(self.applied, max);
        for c in batch {
            self.apply(c);
        }
        batch.len()
    }

    /// Change-log entries applied so far.
    pub fn applied(&self) -> usize {
        self.applied
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            tree: self.tree.to_bytes(),
            ratings: self
                .tree
                .entries_in_order()
                .iter()
                .map(|(id, _)| self.ratings[id])
                .collect(),
            applied: self.applied,
        }
    }

    /// A server from a snapshot; corrupt bytes are an `Err`.
    pub fn restore(id: ServerId, s: &Snapshot) -> Result<QuadTreeServer, Error> {
        let tree = QuadTree::<LocationId>::from_bytes(&s.tree)?;
        let order = tree.entries_in_order();
        if order.len() != s.ratings.len() {
            return Err(Error::Corrupt("ratings do not match the tree"));
        }
        let ratings = order
            .iter()
            .zip(&s.ratings)
            .map(|(&(place, _), &r)| (place, r))
            .collect();
        Ok(QuadTreeServer {
            id,
            tree,
            ratings,
            applied: s.applied,
        })
    }
}

/// Which machine of a shard a read goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadFrom {
    /// The replica (the notes: "the slave will do reads"), or the primary
    /// while the replica is down.
    Replica,
    /// The primary: always current.
    Primary,
}

/// One quadtree server as deployed: a primary, a replica, the change log
/// between them. `None` is a dead machine.
pub struct QuadTreeShard {
    pub primary: Option<QuadTreeServer>,
    pub replica: Option<QuadTreeServer>,
    pub log: ChangeLog,
}

impl QuadTreeShard {
    /// A write: the primary applies it and logs it.
    pub fn write(&mut self, id: ServerId, c: Change) -> Result<(), ServiceError> {
        let primary = self.primary.as_mut().ok_or(ServiceError::ShardDown(id))?;
        primary.apply(&c);
        self.log.append(c);
        Ok(())
    }

    /// One tick of replication: the replica applies up to `max` entries.
    pub fn replicate(&mut self, max: usize) -> usize {
        match &mut self.replica {
            Some(r) => r.follow(&self.log, max),
            None => 0,
        }
    }

    /// Log entries the replica has not applied yet.
    pub fn lag(&self) -> usize {
        self.replica
            .as_ref()
            .map_or(0, |r| self.log.len() - r.applied())
    }

    pub fn reader(&self, read: ReadFrom) -> Option<&QuadTreeServer> {
        match read {
            ReadFrom::Replica => self.replica.as_ref().or(self.primary.as_ref()),
            ReadFrom::Primary => self.primary.as_ref(),
        }
    }
}

/// The reverse index: quadtree server id -> the location ids on it (a
/// key-value store in production).
#[derive(Clone, Debug, Default)]
pub struct ReverseIndex {
    by_server: HashMap<ServerId, BTreeSet<LocationId>>,
}

impl ReverseIndex {
    pub fn add(&mut self, server: ServerId, id: LocationId) {
        self.by_server.entry(server).or_default().insert(id);
    }

    pub fn remove(&mut self, server: ServerId, id: LocationId) -> bool {
        self.by_server
            .get_mut(&server)
            .is_some_and(|ids| ids.remove(&id))
    }

    /// The server's location ids, ascending.
    pub fn ids(&self, server: ServerId) -> impl Iterator<Item = LocationId> + '_ {
        self.by_server.get(&server).into_iter().flatten().copied()
    }

    pub fn len(&self, server: ServerId) -> usize {
        self.by_server.get(&server).map_or(0, BTreeSet::len)
    }
}

/// The Aggregator: fans a search out to every shard and merges the best,
/// widening the radius until k places are found or the maximum is reached.
#[derive(Clone, Copy, Debug)]
pub struct Aggregator {
    start_radius_m: f64,
    max_radius_m: f64,
}

/// The k nearest and where the widening stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct Widened {
    pub hits: Vec<Hit>,
    pub radius_m: f64,
    pub rounds: u32,
}

impl Aggregator {
    /// Widening from `start_radius_m` (positive, finite) by doubling, up to
    /// `max_radius_m` (at least the start; infinity means no limit).
    pub fn new(start_radius_m: f64, max_radius_m: f64) -> Result<Aggregator, Error> {
        if !(start_radius_m > 0.0 && start_radius_m.is_finite()) {
            return Err(Error::InvalidRadius(start_radius_m));
        }
        if max_radius_m.is_nan() || max_radius_m < start_radius_m {
            return Err(Error::InvalidRadius(max_radius_m));
        }
        Ok(Aggregator {
            start_radius_m,
            max_radius_m,
        })
    }

    /// The k nearest within the maximum radius, by rounds: each asks every
    /// shard for its k nearest within the current radius; once the merge
    /// holds k, they are the k nearest anywhere (k places lie within the
    /// radius, so nothing outside it can beat them).
    pub fn nearest(
        &self,
        shards: &[QuadTreeShard],
        at: Point,
        k: usize,
        read: ReadFrom,
    ) -> Result<Widened, ServiceError> {
        let mut radius_m = self.start_radius_m;
        let mut rounds = 1;
        loop {
            let q = NearestWithin {
                at,
                limit: k,
                radius_m,
            };
            let hits = merge(shards, read, k, by_distance, |s| s.nearest_within(&q))?;
            if hits.len() >= k || radius_m >= self.max_radius_m {
                return Ok(Widened {
                    hits,
                    radius_m,
                    rounds,
                });
            }
            radius_m = (radius_m * 2.0).min(self.max_radius_m);
            rounds += 1;
        }
    }

    /// The `n` best rated within `radius_m`, merged from every shard.
    pub fn top_rated(
        &self,
        shards: &[QuadTreeShard],
        at: Point,
        radius_m: f64,
        n: usize,
        read: ReadFrom,
    ) -> Result<Vec<Hit>, ServiceError> {
        let q = TopRatedWithin { at, radius_m, n };
        merge(shards, read, n, by_rating, |s| s.top_rated_within(&q))
    }

    /// Both: the k nearest, then the best rated within the radius they took.
    pub fn search(
        &self,
        shards: &[QuadTreeShard],
        req: &SearchRequest,
        read: ReadFrom,
    ) -> Result<SearchResponse, ServiceError> {
        let w = self.nearest(shards, req.at, req.k, read)?;
        let top_rated = self.top_rated(shards, req.at, w.radius_m, req.top_rated, read)?;
        Ok(SearchResponse {
            nearest: w.hits,
            top_rated,
            radius_m: w.radius_m,
            rounds: w.rounds,
        })
    }
}

/// Asks every shard's server (`read`), merges the answers by `order` and
/// keeps the first `n`.
fn merge(
    shards: &[QuadTreeShard],
    read: ReadFrom,
    n: usize,
    order: fn(&Hit, &Hit) -> Ordering,
    ask: impl Fn(&QuadTreeServer) -> Result<Vec<Hit>, Error>,
) -> Result<Vec<Hit>, ServiceError> {
    let mut hits = Vec::new();
    for (s, shard) in shards.iter().enumerate() {
        let server = shard
            .reader(read)
            .ok_or(ServiceError::ShardDown(s as ServerId))?;
        hits.extend(ask(server)?);
    }
    hits.sort_unstable_by(order);
    hits.truncate(n);
    Ok(hits)
}

/// How long the deployment took to come up.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuildTimes {
    /// Loading the DB (and its cache) and the reverse index.
    pub db: Duration,
    /// Bulk-loading every primary's quadtree.
    pub trees: Duration,
    /// Writing each primary's snapshot (`QuadTree::to_bytes` and ratings).
    pub snapshot_write: Duration,
    /// Restoring each replica from those bytes (`QuadTree::from_bytes`).
    pub snapshot_restore: Duration,
    /// Bytes of all tree snapshots (`QuadTree::to_bytes`).
    pub snapshot_tree_bytes: usize,
}

/// The whole deployment: the ring that partitions location ids, the shards,
/// the reverse index, the DB behind its cache, and the Aggregator.
pub struct Proximity {
    pub ring: HashRing<ServerId>,
    pub shards: Vec<QuadTreeShard>,
    pub reverse: ReverseIndex,
    pub details: DetailsCache,
    pub aggregator: Aggregator,
    leaf_capacity: usize,
    next_id: LocationId,
}

impl Proximity {
    /// Stores `rows` (row `i` is location id `i`), partitions them by id over
    /// `cfg.servers` shards, builds every primary and its replica.
    pub fn build(cfg: &Config, rows: &[PlaceRow]) -> Result<(Proximity, BuildTimes), Error> {
        let mut ring = HashRing::new(100).expect("100 vnodes is valid");
        for s in 0..cfg.servers.max(1) {
            ring.add(s);
        }
        let aggregator = Aggregator::new(cfg.start_radius_m, cfg.max_radius_m)?;
        let ((details, reverse, per_server), db) = timed(|| {
            let db: PlacesDb = (0..).zip(rows.iter().copied()).collect();
            let details =
                CachedStore::new(db, cfg.cache_capacity.max(1), WritePolicy::WriteThrough)
                    .expect("capacity >= 1");
            let mut reverse = ReverseIndex::default();
            let mut per_server = vec![Vec::new(); ring.len()];
            for (id, row) in (0..).zip(rows) {
                let s = *ring.node_for(&id).expect("ring is not empty");
                reverse.add(s, id);
                per_server[s as usize].push((id, row.at, row.rating));
            }
            (details, reverse, per_server)
        });
        let (primaries, trees) = timed(|| {
            (0..)
                .zip(per_server)
                .map(|(s, places)| QuadTreeServer::build(s, cfg.leaf_capacity, places, 0))
                .collect::<Result<Vec<_>, Error>>()
        });
        let primaries = primaries?;
        let mut times = BuildTimes {
            db,
            trees,
            ..BuildTimes::default()
        };
        let mut shards = Vec::new();
        for p in primaries {
            let (snap, write) = timed(|| p.snapshot());
            let (replica, restore) = timed(|| QuadTreeServer::restore(p.id, &snap));
            times.snapshot_write += write;
            times.snapshot_restore += restore;
            times.snapshot_tree_bytes += snap.tree.len();
            shards.push(QuadTreeShard {
                primary: Some(p),
                replica: Some(replica?),
                log: ChangeLog::default(),
            });
        }
        Ok((
            Proximity {
                ring,
                shards,
                reverse,
                details,
                aggregator,
                leaf_capacity: cfg.leaf_capacity,
                next_id: rows.len() as LocationId,
            },
            times,
        ))
    }

    /// The server a location id lives on.
    pub fn owner(&self, id: LocationId) -> ServerId {
        *self.ring.node_for(&id).expect("ring is not empty")
    }

    /// Opens a place: the next location id, written to the DB, the reverse
    /// index and the owning primary (which logs it).
    pub fn open(&mut self, row: PlaceRow) -> Result<LocationId, ServiceError> {
        let id = self.next_id;
        let s = self.owner(id);
        let shard = &mut self.shards[s as usize];
        if shard.primary.is_none() {
            return Err(ServiceError::ShardDown(s));
        }
        self.next_id += 1;
        let Ok(()) = self.details.put(id, row);
        self.reverse.add(s, id);
        shard.write(
            s,
            Change::Open {
                id,
                at: row.at,
                rating: row.rating,
            },
        )?;
        Ok(id)
    }

    /// Closes a place; false if it was not open.
    pub fn close(&mut self, id: LocationId) -> Result<bool, ServiceError> {
        let s = self.owner(id);
        let shard = &mut self.shards[s as usize];
        if shard.primary.is_none() {
            return Err(ServiceError::ShardDown(s));
        }
        if !self.reverse.remove(s, id) {
            return Ok(false);
        }
        let Ok(()) = self.details.remove(&id);
        shard.write(s, Change::Close { id })?;
        Ok(true)
    }

    /// A search through the Aggregator.
    pub fn search(
        &self,
        req: &SearchRequest,
        read: ReadFrom,
    ) -> Result<SearchResponse, ServiceError> {
        self.aggregator.search(&self.shards, req, read)
    }

    /// Both machines of a shard die.
    pub fn kill(&mut self, s: ServerId) {
        let shard = &mut self.shards[s as usize];
        shard.primary = None;
        shard.replica = None;
    }

    /// Rebuilds a dead shard: the primary from the reverse index (its ids,
    /// ascending) and the DB (their coordinates and ratings, read directly, as
    /// a batch job would, not through the cache), then the replica from the
    /// new primary's snapshot.
    pub fn rebuild(&mut self, s: ServerId) -> Result<RebuildTimes, ServiceError> {
        let applied = self.shards[s as usize].log.len();
        let (primary, primary_time) = timed(|| {
            let db = self.details.store();
            let places = self
                .reverse
                .ids(s)
                .map(|id| {
                    db.get(&id)
                        .map(|row| (id, row.at, row.rating))
                        .ok_or(ServiceError::MissingPlace(id))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, ServiceError>(QuadTreeServer::build(
                s,
                self.leaf_capacity,
                places,
                applied,
            )?)
        });
        let primary = primary?;
        let (snap, snapshot_write) = timed(|| primary.snapshot());
        let (replica, snapshot_restore) = timed(|| QuadTreeServer::restore(s, &snap));
        let shard = &mut self.shards[s as usize];
        shard.replica = Some(replica?);
        shard.primary = Some(primary);
        Ok(RebuildTimes {
            primary: primary_time,
            snapshot_write,
            snapshot_restore,
        })
    }
}

/// How long a rebuild took.
#[derive(Clone, Copy, Debug, Default)]
pub struct RebuildTimes {
    /// The primary, from the reverse index and the DB.
    pub primary: Duration,
    /// Its snapshot, then the replica restored from it.
    pub snapshot_write: Duration,
    pub snapshot_restore: Duration,
}

// ---------------------------------------------------------------------------
// The run.

/// What one run did.
#[derive(Clone, Debug)]
pub struct Report {
    pub cities: usize,
    pub restaurants: usize,
    /// Places at the start (cities + restaurants).
    pub places: usize,
    /// Places per server at the start.
    pub per_server: Vec<usize>,
    pub build: BuildTimes,
    /// Leaves, inner nodes, deepest node and fullest leaf over all primaries.
    pub leaves: usize,
    pub inner_nodes: usize,
    pub max_depth: usize,
    pub max_leaf_len: usize,
    /// Heap bytes of every primary's quadtree (`QuadTree::heap_bytes`).
    pub tree_heap_bytes: usize,
    pub searches: usize,
    /// Fan-out rounds of the widening: total and most in one search.
    pub rounds_total: u64,
    pub rounds_max: u32,
    /// Searches answered by the first radius.
    pub first_round: usize,
    /// Searches that reached the maximum radius with fewer than k places.
    pub short_of_k: usize,
    pub nearest_p50: Duration,
    pub nearest_p99: Duration,
    pub ranked_p50: Duration,
    pub ranked_p99: Duration,
    /// Time of all searches (nearest + ranked).
    pub search_time: Duration,
    /// Details reads served by the cache, and all details reads.
    pub cache_hits: u64,
    pub details_reads: u64,
    pub opened: usize,
    pub closed: usize,
    /// Most log entries any replica was behind its primary after a tick.
    pub max_lag: usize,
    /// Searches during the burst compared replica vs primary, and how many differed.
    pub lag_probes: usize,
    pub lag_probes_stale: usize,
    /// Ticks (no new writes) until every replica caught up.
    pub catch_up_ticks: usize,
    /// Probes after catch-up whose replica answer equals the primary's.
    pub caught_up_identical: usize,
    /// Replicas whose contents (entries in order, ratings) equal their primary's.
    pub replicas_equal: usize,
    pub probes: usize,
    /// The error a search got while shard 0 was down.
    pub outage_error: Option<ServiceError>,
    /// Ids in the reverse index of the rebuilt server, and the rebuild times.
    pub rebuilt_ids: usize,
    pub rebuild: RebuildTimes,
    /// Probes answered identically before the kill and after the rebuild: by
    /// the server alone, and by the whole system.
    pub rebuilt_server_identical: usize,
    pub rebuilt_system_identical: usize,
    /// Whether the rebuilt primary holds exactly what the dead one held, in
    /// the same order with the same ratings.
    pub rebuilt_entries_equal: bool,
    pub table: Table,
}

/// What a probe asks one server: its k nearest within the maximum radius and
/// its best rated within 10 km.
fn server_probe(
    server: &QuadTreeServer,
    cfg: &Config,
    at: Point,
) -> Result<(Vec<Hit>, Vec<Hit>), Error> {
    Ok((
        server.nearest_within(&NearestWithin {
            at,
            limit: cfg.k,
            radius_m: cfg.max_radius_m,
        })?,
        server.top_rated_within(&TopRatedWithin {
            at,
            radius_m: 10_000.0,
            n: cfg.top_rated,
        })?,
    ))
}

/// Runs the workload and reports.
pub fn run(cfg: &Config) -> Report {
    let mut rng = Rng(cfg.seed);
    let cities = cities();
    let pick = ByPopulation::new(&cities);
    let rows = places(cfg, &cities, &mut rng);
    let (mut sys, build) = Proximity::build(cfg, &rows).expect("valid configuration");
    let request = |at| SearchRequest {
        at,
        k: cfg.k,
        top_rated: cfg.top_rated,
    };

    let mut r = Report {
        cities: cities.len(),
        restaurants: rows.len() - cities.len(),
        places: rows.len(),
        per_server: sys
            .shards
            .iter()
            .map(|s| s.primary.as_ref().map_or(0, QuadTreeServer::len))
            .collect(),
        build,
        leaves: 0,
        inner_nodes: 0,
        max_depth: 0,
        max_leaf_len: 0,
        tree_heap_bytes: 0,
        searches: cfg.searches,
        rounds_total: 0,
        rounds_max: 0,
        first_round: 0,
        short_of_k: 0,
        nearest_p50: Duration::ZERO,
        nearest_p99: Duration::ZERO,
        ranked_p50: Duration::ZERO,
        ranked_p99: Duration::ZERO,
        search_time: Duration::ZERO,
        cache_hits: 0,
        details_reads: 0,
        opened: 0,
        closed: 0,
        max_lag: 0,
        lag_probes: 0,
        lag_probes_stale: 0,
        catch_up_ticks: 0,
        caught_up_identical: 0,
        replicas_equal: 0,
        probes: cfg.probes,
        outage_error: None,
        rebuilt_ids: 0,
        rebuild: RebuildTimes::default(),
        rebuilt_server_identical: 0,
        rebuilt_system_identical: 0,
        rebuilt_entries_equal: false,
        table: Table::default(),
    };
    for p in sys.shards.iter().filter_map(|s| s.primary.as_ref()) {
        let st = p.stats();
        r.leaves += st.leaves;
        r.inner_nodes += st.nodes - st.leaves;
        r.max_depth = r.max_depth.max(st.max_depth);
        r.max_leaf_len = r.max_leaf_len.max(st.max_leaf_len);
        r.tree_heap_bytes += p.heap_bytes();
    }

    // Searches: the k nearest (widening), then the best rated within the
    // radius found, then the client reads the shown places' details.
    let mut nearest_t = Vec::with_capacity(cfg.searches);
    let mut ranked_t = Vec::with_capacity(cfg.searches);
    for _ in 0..cfg.searches {
        let at = user_location(cfg, &cities, &pick, &mut rng);
        let (w, t1) = timed(|| {
            sys.aggregator
                .nearest(&sys.shards, at, cfg.k, ReadFrom::Replica)
        });
        let w = w.expect("every shard is up");
        let (top, t2) = timed(|| {
            sys.aggregator.top_rated(
                &sys.shards,
                at,
                w.radius_m,
                cfg.top_rated,
                ReadFrom::Replica,
            )
        });
        let top = top.expect("every shard is up");
        nearest_t.push(t1);
        ranked_t.push(t2);
        r.search_time += t1 + t2;
        r.rounds_total += u64::from(w.rounds);
        r.rounds_max = r.rounds_max.max(w.rounds);
        r.first_round += usize::from(w.rounds == 1);
        r.short_of_k += usize::from(w.hits.len() < cfg.k);
        for h in w.hits.iter().chain(&top) {
            let Ok(_) = sys.details.get(&h.id);
        }
    }
    r.nearest_p50 = percentile(&mut nearest_t, 50.0);
    r.nearest_p99 = percentile(&mut nearest_t, 99.0);
    r.ranked_p50 = percentile(&mut ranked_t, 50.0);
    r.ranked_p99 = percentile(&mut ranked_t, 99.0);
    let st = sys.details.stats();
    r.cache_hits = st.hits;
    r.details_reads = st.hits + st.misses;

    // A burst of writes: primaries take them at once, replicas apply a
    // bounded number of log entries per tick and fall behind.
    let mut open_restaurants: Vec<LocationId> = (0..)
        .zip(&rows)
        .filter(|(_, row)| row.kind == Kind::Restaurant)
        .map(|(id, _)| id)
        .collect();
    for _ in 0..cfg.write_ticks {
        for _ in 0..cfg.writes_per_tick {
            if !open_restaurants.is_empty() && rng.chance(cfg.close_share) {
                let id = open_restaurants.swap_remove(rng.below(open_restaurants.len()));
                assert!(sys.close(id).expect("primaries are up"));
                r.closed += 1;
            } else {
                let row = restaurant(&cities[pick.pick(&mut rng)], &mut rng);
                open_restaurants.push(sys.open(row).expect("primaries are up"));
                r.opened += 1;
            }
        }
        for shard in &mut sys.shards {
            shard.replicate(cfg.replica_apply_per_tick);
        }
        r.max_lag = r
            .max_lag
            .max(sys.shards.iter().map(QuadTreeShard::lag).max().unwrap_or(0));
        for _ in 0..cfg.lag_probes_per_tick {
            let req = request(user_location(cfg, &cities, &pick, &mut rng));
            let stale = sys.search(&req, ReadFrom::Replica) != sys.search(&req, ReadFrom::Primary);
            r.lag_probes += 1;
            r.lag_probes_stale += usize::from(stale);
        }
    }
    while sys.shards.iter().any(|s| s.lag() > 0) {
        for shard in &mut sys.shards {
            shard.replicate(cfg.replica_apply_per_tick);
        }
        r.catch_up_ticks += 1;
    }
    let probes: Vec<Point> = (0..cfg.probes)
        .map(|_| user_location(cfg, &cities, &pick, &mut rng))
        .collect();
    r.caught_up_identical = probes
        .iter()
        .filter(|&&at| {
            sys.search(&request(at), ReadFrom::Replica)
                == sys.search(&request(at), ReadFrom::Primary)
        })
        .count();
    r.replicas_equal = sys
        .shards
        .iter()
        .filter(|s| match (&s.primary, &s.replica) {
            (Some(p), Some(q)) => p.entries() == q.entries(),
            _ => false,
        })
        .count();

    // Both machines of server 0 die; it is rebuilt from the reverse index.
    let victim: ServerId = 0;
    let dead = sys.shards[victim as usize].primary.as_ref().expect("up");
    let dead_entries = dead.entries();
    let server_before: Vec<_> = probes
        .iter()
        .map(|&at| server_probe(dead, cfg, at).expect("valid probe"))
        .collect();
    let system_before: Vec<_> = probes
        .iter()
        .map(|&at| sys.search(&request(at), ReadFrom::Replica))
        .collect();
    sys.kill(victim);
    r.outage_error = sys.search(&request(probes[0]), ReadFrom::Replica).err();
    r.rebuilt_ids = sys.reverse.len(victim);
    r.rebuild = sys.rebuild(victim).expect("consistent reverse index");
    let rebuilt = sys.shards[victim as usize]
        .primary
        .as_ref()
        .expect("rebuilt");
    r.rebuilt_entries_equal = rebuilt.entries() == dead_entries;
    r.rebuilt_server_identical = probes
        .iter()
        .zip(&server_before)
        .filter(|&(&at, before)| server_probe(rebuilt, cfg, at).expect("valid probe") == *before)
        .count();
    r.rebuilt_system_identical = probes
        .iter()
        .zip(&system_before)
        .filter(|&(&at, before)| sys.search(&request(at), ReadFrom::Replica) == *before)
        .count();

    r.table = table(cfg, &r);
    r
}

fn table(cfg: &Config, r: &Report) -> Table {
    let mut t = Table::new(
        "proximity",
        "nearby places over GeoNames cities (CC BY 4.0) + generated restaurants: quadtree servers \
         by location id, aggregator, replicas, rebuild from the reverse index",
    );
    let servers = r.per_server.len();
    let min = r.per_server.iter().min().copied().unwrap_or(0);
    let max = r.per_server.iter().max().copied().unwrap_or(0);
    let fill = r.places as f64 / r.leaves.max(1) as f64;
    let inner_per_leaf = r.inner_nodes as f64 / r.leaves.max(1) as f64;
    let snapshot_per_place = r.build.snapshot_tree_bytes as f64 / r.places.max(1) as f64;
    let heap_per_place = r.tree_heap_bytes as f64 / r.places.max(1) as f64;
    // The notes: 500M places of 24 bytes; 1M leaves of 500; a third as many
    // inner nodes of four 8-byte pointers.
    const NOTES_PLACES: f64 = 500e6;
    let notes_leaves = NOTES_PLACES / 500.0;
    let leaves_500m = NOTES_PLACES / fill;
    let gb = |b: f64| format!("{:.1} GB", b / 1e9);
    let mb = |b: f64| format!("{:.1} MB", b / 1e6);
    t.row(
        "places: GeoNames cities + generated restaurants",
        format!("{} + {} = {}", r.cities, r.restaurants, r.places),
    )
    .row(
        &format!("{servers} quadtree servers by location id: places min / max"),
        format!("{min} / {max}"),
    )
    .row(
        &format!("load DB / bulk-load trees (leaf cap {})", cfg.leaf_capacity),
        format!(
            "{} / {} ({})",
            ms(r.build.db),
            ms(r.build.trees),
            per_second(r.places, r.build.trees)
        ),
    )
    .row(
        "replicas: write / restore to_bytes snapshots",
        format!(
            "{} / {} ({})",
            ms(r.build.snapshot_write),
            ms(r.build.snapshot_restore),
            bytes(r.build.snapshot_tree_bytes as f64)
        ),
    )
    .row(
        "leaves / mean fill / fullest / depth",
        format!(
            "{} / {:.0} / {} / {}",
            r.leaves, fill, r.max_leaf_len, r.max_depth
        ),
    )
    .row(
        &format!(
            "searches ({:.0}% from anywhere on Earth)",
            cfg.remote_share * 100.0
        ),
        r.searches,
    )
    .row(
        &format!(
            "{} nearest, widening {} km x2 to {} km: p50 / p99",
            cfg.k,
            cfg.start_radius_m / 1e3,
            cfg.max_radius_m / 1e3
        ),
        format!("{} / {}", us(r.nearest_p50), us(r.nearest_p99)),
    )
    .row(
        "rounds: mean / max; first radius held k; max radius short of k",
        format!(
            "{:.2} / {}; {:.1}%; {}",
            r.rounds_total as f64 / r.searches.max(1) as f64,
            r.rounds_max,
            100.0 * r.first_round as f64 / r.searches.max(1) as f64,
            r.short_of_k
        ),
    )
    .row(
        &format!(
            "top {} by rating within that radius: p50 / p99",
            cfg.top_rated
        ),
        format!("{} / {}", us(r.ranked_p50), us(r.ranked_p99)),
    )
    .row(
        "searches per second (nearest + ranked, one thread)",
        per_second(r.searches, r.search_time),
    )
    .row(
        &format!("details cache ({} entries) hit ratio", cfg.cache_capacity),
        format!(
            "{:.1}% of {}",
            100.0 * r.cache_hits as f64 / r.details_reads.max(1) as f64,
            r.details_reads
        ),
    )
    .row(
        "writes to primaries: opened / closed",
        format!("{} / {}", r.opened, r.closed),
    )
    .row(
        &format!(
            "replica lag, max log entries ({}/tick); catch-up ticks",
            cfg.replica_apply_per_tick
        ),
        format!("{}; {}", r.max_lag, r.catch_up_ticks),
    )
    .row(
        "searches differing replica vs primary: lagging / caught up",
        format!(
            "{} of {} / {} of {}",
            r.lag_probes_stale,
            r.lag_probes,
            r.probes - r.caught_up_identical,
            r.probes
        ),
    )
    .row(
        "server 0 (primary + replica) killed: a search gets",
        r.outage_error.map_or("an answer".into(), |e| e.to_string()),
    )
    .row(
        "rebuild from reverse index + DB; replica: snapshot + restore",
        format!(
            "{} ids: {}; {} + {}",
            r.rebuilt_ids,
            ms(r.rebuild.primary),
            ms(r.rebuild.snapshot_write),
            ms(r.rebuild.snapshot_restore)
        ),
    )
    .row(
        "answers identical after rebuild: server / system",
        format!(
            "{} / {} of {}",
            r.rebuilt_server_identical, r.rebuilt_system_identical, r.probes
        ),
    )
    .row(
        "notes: 500M places x 24 B; measured B/place: snapshot / heap",
        format!(
            "{}; {:.2} / {:.1} B ({} / {} at 500M)",
            gb(NOTES_PLACES * 24.0),
            snapshot_per_place,
            heap_per_place,
            gb(NOTES_PLACES * snapshot_per_place),
            gb(NOTES_PLACES * heap_per_place)
        ),
    )
    .row(
        "notes: 1M full leaves, inner 1/3 x 1M x 32 B; measured",
        format!(
            "{}; fill {:.0}/500, inner/leaf {:.2}: {:.1}M leaves, {} at 500M",
            mb(notes_leaves / 3.0 * 32.0),
            fill,
            inner_per_leaf,
            leaves_500m / 1e6,
            mb(leaves_500m * inner_per_leaf * 32.0)
        ),
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smaller world: fewer restaurants, fewer searches.
    fn small() -> Config {
        Config {
            people_per_restaurant: 200_000,
            searches: 300,
            cache_capacity: 2_000,
            write_ticks: 6,
            writes_per_tick: 100,
            replica_apply_per_tick: 15,
            lag_probes_per_tick: 10,
            probes: 150,
            ..Config::default()
        }
    }

    /// Great-circle metres by the haversine formula, written out here as the
    /// oracle (independent of the crate's chord-based computation), on the
    /// same sphere: R = 6,371,008.8 m, the IUGG mean radius.
    fn haversine_m(a: Point, b: Point) -> f64 {
        const R: f64 = 6_371_008.8;
        let (p1, p2) = (a.lat().to_radians(), b.lat().to_radians());
        let dp = p2 - p1;
        let dl = (b.lon() - a.lon()).to_radians();
        let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * R * h.sqrt().min(1.0).asin()
    }

    /// The two formulas agree to well under a micrometre.
    const EPS_M: f64 = 1e-6;

    /// Every open place in the DB with its distance from `at`.
    fn brute(sys: &Proximity, at: Point) -> Vec<Hit> {
        sys.details
            .store()
            .iter()
            .map(|(&id, row)| Hit {
                id,
                distance_m: haversine_m(at, row.at),
                rating: row.rating,
            })
            .collect()
    }

    fn same(got: &[Hit], want: &[Hit], what: &str) {
        assert_eq!(
            got.iter().map(|h| (h.id, h.rating)).collect::<Vec<_>>(),
            want.iter().map(|h| (h.id, h.rating)).collect::<Vec<_>>(),
            "{what}"
        );
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g.distance_m - w.distance_m).abs() <= EPS_M,
                "{what}: {g:?} vs {w:?}"
            );
        }
    }

    fn world(cfg: &Config) -> (Vec<City>, ByPopulation, Vec<PlaceRow>, Proximity) {
        let cities = cities();
        let pick = ByPopulation::new(&cities);
        let rows = places(cfg, &cities, &mut Rng(cfg.seed));
        let (sys, _) = Proximity::build(cfg, &rows).unwrap();
        (cities, pick, rows, sys)
    }

    /// Opens and closes places, leaving replicas behind.
    fn churn(sys: &mut Proximity, cities: &[City], pick: &ByPopulation, rng: &mut Rng, n: usize) {
        for i in 0..n {
            if i % 3 == 2 {
                let id = rng.below(sys.next_id as usize) as LocationId;
                sys.close(id).unwrap();
            } else {
                let row = restaurant(&cities[pick.pick(rng)], rng);
                sys.open(row).unwrap();
            }
        }
    }

    #[test]
    fn cities_parse_including_quoted_names() {
        let c = cities();
        assert_eq!(c.len(), 34_006);
        // "Mianzhu, Deyang, Sichuan" has commas inside quotes.
        let m = c.iter().find(|c| c.geonameid == 12_492_662).unwrap();
        assert_eq!(
            (m.at.lat(), m.at.lon(), m.population),
            (31.33786, 104.22057, 510_000)
        );
    }

    #[test]
    fn leaves_split_past_the_notes_500() {
        let cfg = small();
        let (_, _, _, sys) = world(&cfg);
        for shard in &sys.shards {
            let p = shard.primary.as_ref().unwrap();
            let st = p.stats();
            // Each server holds many leaves' worth, and no leaf holds more.
            assert!(p.len() > 10 * 500, "{}", p.len());
            assert!(st.leaves >= p.len() / 500, "{st:?}");
            assert!(st.max_leaf_len <= 500 && st.oversized_leaves == 0, "{st:?}");
        }
    }

    #[test]
    fn aggregator_matches_brute_force_nearest_and_ranked() {
        let cfg = small();
        let (cities, pick, _, mut sys) = world(&cfg);
        let mut rng = Rng(99);
        // Some writes first, so the answers cover opened and closed places.
        churn(&mut sys, &cities, &pick, &mut rng, 300);
        let mut widened = 0;
        let mut short = 0;
        for i in 0..200 {
            let at = user_location(&cfg, &cities, &pick, &mut rng);
            let k = [1, 5, 10, 40][i % 4];
            let got = sys
                .search(
                    &SearchRequest {
                        at,
                        k,
                        top_rated: 7,
                    },
                    ReadFrom::Primary,
                )
                .unwrap();
            let mut all = brute(&sys, at);
            all.sort_by(by_distance);
            // The radius: the first doubling that holds k, or the maximum.
            let mut radius = cfg.start_radius_m;
            while all.iter().filter(|h| h.distance_m <= radius).count() < k
                && radius < cfg.max_radius_m
            {
                radius = (radius * 2.0).min(cfg.max_radius_m);
            }
            assert_eq!(got.radius_m, radius);
            let nearest: Vec<Hit> = all
                .iter()
                .copied()
                .filter(|h| h.distance_m <= cfg.max_radius_m)
                .take(k)
                .collect();
            same(&got.nearest, &nearest, "nearest");
            let mut ranked: Vec<Hit> = all
                .iter()
                .copied()
                .filter(|h| h.distance_m <= radius)
                .collect();
            ranked.sort_by(by_rating);
            ranked.truncate(7);
            same(&got.top_rated, &ranked, "top rated");
            widened += usize::from(got.rounds > 1);
            short += usize::from(got.nearest.len() < k);
        }
        // The workload exercises both widening and the maximum radius.
        assert!(widened > 20 && short > 5, "{widened} {short}");
    }

    #[test]
    fn partitioning_covers_every_place_exactly_once() {
        let cfg = small();
        let (cities, pick, _, mut sys) = world(&cfg);
        churn(&mut sys, &cities, &pick, &mut Rng(5), 500);
        let db = sys.details.store();
        let mut seen = HashMap::new();
        for (s, shard) in (0..).zip(&sys.shards) {
            let p = shard.primary.as_ref().unwrap();
            let ids: Vec<LocationId> = p.entries().iter().map(|e| e.0).collect();
            // The reverse index lists exactly this server's places.
            assert_eq!(ids, sys.reverse.ids(s).collect::<Vec<_>>());
            for id in ids {
                assert_eq!(sys.owner(id), s);
                assert!(db.contains_key(&id));
                assert!(seen.insert(id, s).is_none(), "{id} on two servers");
            }
        }
        assert_eq!(seen.len(), db.len());
        assert!(sys
            .shards
            .iter()
            .all(|s| s.primary.as_ref().unwrap().len() > db.len() / 6));
    }

    #[test]
    fn caught_up_replica_answers_like_the_primary() {
        let cfg = small();
        let (cities, pick, _, mut sys) = world(&cfg);
        let mut rng = Rng(7);
        churn(&mut sys, &cities, &pick, &mut rng, 600);
        for shard in &mut sys.shards {
            shard.replicate(20);
        }
        // Behind: the replica misses entries, and its contents differ.
        for shard in &sys.shards {
            assert!(shard.lag() > 0);
            let (p, q) = (
                shard.primary.as_ref().unwrap(),
                shard.replica.as_ref().unwrap(),
            );
            assert_ne!(p.entries(), q.entries());
        }
        while sys.shards.iter().any(|s| s.lag() > 0) {
            for shard in &mut sys.shards {
                shard.replicate(20);
            }
        }
        for shard in &sys.shards {
            let (p, q) = (
                shard.primary.as_ref().unwrap(),
                shard.replica.as_ref().unwrap(),
            );
            assert_eq!(p.entries(), q.entries());
            assert_eq!(q.applied(), shard.log.len());
        }
        for _ in 0..100 {
            let req = SearchRequest {
                at: user_location(&cfg, &cities, &pick, &mut rng),
                k: 10,
                top_rated: 10,
            };
            assert_eq!(
                sys.search(&req, ReadFrom::Replica).unwrap(),
                sys.search(&req, ReadFrom::Primary).unwrap()
            );
        }
    }

    #[test]
    fn rebuilt_server_answers_exactly_like_the_original() {
        let cfg = small();
        let (cities, pick, _, mut sys) = world(&cfg);
        let mut rng = Rng(11);
        churn(&mut sys, &cities, &pick, &mut rng, 400);
        let probes: Vec<Point> = (0..150)
            .map(|_| user_location(&cfg, &cities, &pick, &mut rng))
            .collect();
        let victim = 2;
        let old = sys.shards[victim as usize].primary.clone().unwrap();
        let before: Vec<_> = probes
            .iter()
            .map(|&at| server_probe(&old, &cfg, at).unwrap())
            .collect();
        let req = |at| SearchRequest {
            at,
            k: 10,
            top_rated: 10,
        };
        let system_before: Vec<_> = probes
            .iter()
            .map(|&at| sys.search(&req(at), ReadFrom::Primary).unwrap())
            .collect();
        sys.kill(victim);
        assert_eq!(
            sys.search(&req(probes[0]), ReadFrom::Replica),
            Err(ServiceError::ShardDown(victim))
        );
        // Writes to the dead shard fail and change nothing.
        let on_victim = sys.reverse.ids(victim).next().unwrap();
        assert_eq!(sys.close(on_victim), Err(ServiceError::ShardDown(victim)));
        sys.rebuild(victim).unwrap();
        let shard = &sys.shards[victim as usize];
        for new in [
            shard.primary.as_ref().unwrap(),
            shard.replica.as_ref().unwrap(),
        ] {
            assert_eq!(new.entries(), old.entries());
            for (&at, b) in probes.iter().zip(&before) {
                assert_eq!(server_probe(new, &cfg, at).unwrap(), *b);
            }
        }
        // The whole system too (other shards' replicas still lag: read primaries).
        for (&at, b) in probes.iter().zip(&system_before) {
            assert_eq!(sys.search(&req(at), ReadFrom::Primary).unwrap(), *b);
        }
    }

    #[test]
    fn the_run_reports_consistent_numbers() {
        let cfg = small();
        let r = run(&cfg);
        assert_eq!(r.per_server.iter().sum::<usize>(), r.places);
        assert_eq!(r.places, r.cities + r.restaurants);
        assert!(r.max_lag > 0, "the burst outpaces the replicas");
        assert_eq!(r.caught_up_identical, r.probes);
        assert_eq!(r.replicas_equal, cfg.servers as usize);
        assert_eq!(r.outage_error, Some(ServiceError::ShardDown(0)));
        assert!(r.rebuilt_entries_equal);
        assert_eq!(r.rebuilt_server_identical, r.probes);
        assert_eq!(r.rebuilt_system_identical, r.probes);
        assert!(r.rebuilt_ids > r.places / 6);
        assert!(r.rounds_max > 1 && r.short_of_k > 0);
        // 24 bytes a place (id, lat, long) and a small header per server.
        let per_place = r.build.snapshot_tree_bytes as f64 / r.places as f64;
        assert!((24.0..24.01).contains(&per_place), "{per_place}");
        // In memory a place costs more: its unit vector and insertion number
        // for the scans, its entry, its slot in the id index.
        let heap = r.tree_heap_bytes as f64 / r.places as f64;
        assert!((48.0..400.0).contains(&heap), "{heap}");
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert!(matches!(
            Point::new(f64::NAN, 0.0),
            Err(Error::InvalidLatitude(_))
        ));
        assert!(matches!(
            Aggregator::new(0.0, 1e3),
            Err(Error::InvalidRadius(_))
        ));
        assert!(matches!(
            Aggregator::new(1e3, 10.0),
            Err(Error::InvalidRadius(_))
        ));
        assert!(matches!(
            Aggregator::new(1e3, f64::NAN),
            Err(Error::InvalidRadius(_))
        ));
        let cfg = Config {
            leaf_capacity: 0,
            ..small()
        };
        assert!(matches!(
            Proximity::build(&cfg, &[]),
            Err(Error::InvalidLeafCapacity(0))
        ));
        let (_, _, _, sys) = world(&small());
        let at = Point::new(48.85, 2.35).unwrap();
        assert_eq!(
            sys.aggregator
                .top_rated(&sys.shards, at, -1.0, 5, ReadFrom::Replica),
            Err(ServiceError::Geo(Error::InvalidRadius(-1.0)))
        );
        // A corrupt snapshot is refused, not half-loaded.
        let mut snap = sys.shards[0].primary.as_ref().unwrap().snapshot();
        snap.tree[40] ^= 1;
        assert!(QuadTreeServer::restore(0, &snap).is_err());
        let mut snap = sys.shards[0].primary.as_ref().unwrap().snapshot();
        snap.ratings.pop();
        assert!(matches!(
            QuadTreeServer::restore(0, &snap),
            Err(Error::Corrupt(_))
        ));
    }
}
