//! Uber: drivers report where they are every 3 seconds, a sharded
//! DriverLocationService keeps each one's latest position, QuadTree servers
//! are refreshed from it in batches, riders ask for the nearest available
//! drivers, and a NotificationService pushes the cars' moves to the riders
//! watching that area (design notes, section 3).
//!
//! The notes: "it's same as above [the proximity service], but the quadtree
//! will keep changing as the driver will keep moving. So more write heavy".
//! This example runs that design on one machine, in simulated time:
//!
//! - **Drivers** (20,000 by default) work around the 100 largest cities of
//!   `data/cities15000.csv` (GeoNames, CC BY 4.0), each city getting its
//!   population's share. A driver follows a heading at a city speed (up to
//!   15 m/s, 54 km/h; it stops at lights, turns at corners and heads back
//!   when it strays past its city's radius), so it moves 0 to 45 metres
//!   between reports, and sends `DriverMessage::Location { driver, ts, lat,
//!   lon }` every 3 s on a fixed phase. Now and then a driver goes off duty
//!   for minutes: with a `LogOff`, or by simply falling silent (app killed,
//!   tunnel, flat battery).
//! - The **DriverLocationService** (the notes' "driverServer") is 4
//!   `DriverServer`s; an `hld::consistent_hash::HashRing` over driver ids
//!   picks each driver's (the notes: "same driverId based sharding"). Each
//!   keeps the notes' hash table, driver id -> timestamp and latest lat/long,
//!   in an `hld::lru_feed::ExpiryMap` whose deadline is the last report plus
//!   10 s: a driver silent for three reports expires out (a
//!   `DriverEvent::Gone`) without any scan of the table. It refuses a bad
//!   position or an out-of-date report with a typed `ReportError`, and
//!   publishes every accepted report to the NotificationService as a
//!   `DriverEvent::Moved { from, to }`.
//! - Every 15 s (the notes: "around every 15 seconds the quadTree will keep
//!   updating") the DLS flushes the drivers that changed since the last batch
//!   as one `LocationBatch` per **QuadTreeServer**: `Place { driver, pos }`
//!   for an available driver, `Remove` for one who went offline (a booked
//!   driver needs none: dispatch takes it off at once). QuadTree servers
//!   partition drivers by id (a jump hash: the notes' "partition based on
//!   locationId", and "locationId is driverId here"); each holds an
//!   `hld::quadtree::QuadTree`, where placing a driver already present is a
//!   move (in place when it stays in its leaf).
//! - A rider's `RideRequest { at, k, max_radius_m }` goes to the
//!   **Aggregator**, which asks every QuadTree server for its k nearest
//!   within the radius and merges them. The **DispatchService** books the
//!   first candidate the DLS holds as available *and fresh* (reported within
//!   the last 3 s: a driver who fell silent since the last batch is still in
//!   the trees and gets skipped), marks it booked in the DLS and takes it off
//!   its QuadTree server at once, so no rider is offered a booked driver.
//!   When the trip ends the driver is available again and the next batch
//!   puts it back.
//! - The **NotificationService** cuts the map into cells of 1/64 degree
//!   (1.7 km of latitude). A rider who opens the app subscribes to the 3 x 3
//!   cells around them (the proximity notes' grid and its 8 neighbours);
//!   every driver event that starts or ends in a cell is pushed to that
//!   cell's subscribers, once each: the rider sees cars move, arrive, leave
//!   and go offline with 3-second freshness, whatever the batches do.
//!
//! Staleness is the price of batching: between batches a tree lags the DLS
//! by up to one batch interval, so an answered driver is at most max speed x
//! batch interval (15 m/s x 15 s = 225 m; batches fall on report phases, so
//! at most 5 reports of 45 m) from where its tree has it, and at most twice
//! that farther from the rider than the true k-th nearest of the drivers
//! available both at the batch and now (one who came on duty since joins at
//! the next batch). The tests hold every answer to brute-force haversine:
//! exactly the k nearest of the DLS as of the last batch, and within those
//! bounds of the DLS's positions at query time; they check that subscribed
//! riders receive exactly the updates of their area (an oracle replaying the
//! drivers' own messages), and that an offline or booked driver is gone from
//! the answers (booked: at once; offline: from the first batch after the DLS
//! drops it). Reports, batches and queries run interleaved in one thread
//! with the wall clock timing each part, so query latencies are those of
//! trees under that churn.
//!
//! Past one machine: phones hold websockets to gateway servers behind a load
//! balancer; the gateways send reports to the DriverLocationService shard
//! that `HashRing::node_for(&driver_id)` names (a stable hash: every gateway
//! agrees, and adding a shard moves a 1/n share of drivers). Each shard's
//! hash table is persisted (the notes' SSD): Redis with AOF, a hash per
//! driver holding timestamp and lat/long with a key TTL doing the
//! ExpiryMap's job. Accepted reports go to a Kafka topic partitioned by
//! driver id; QuadTree servers consume it in 15-second batches
//! (`QuadTree::insert` of a present id is the move, `remove` the log-off),
//! partitioned by driver id (`JumpHash::bucket_for`) or by region, each with
//! a replica serving reads and a `QuadTree::to_bytes` snapshot to restart
//! from; the Aggregator fans out over RPC and merges plain `(id, metres)`
//! lists. The NotificationService is pub/sub keyed by area: a Redis pub/sub
//! channel (or Kafka topic) per cell, fed from the same report stream, with
//! each rider's websocket subscribed to the nine around them. Dispatch's
//! booking is a compare-and-set on the driver's record (a Redis `WATCH` /
//! `MULTI` or a Lua script) so two dispatchers never book one driver.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use hld::consistent_hash::{HashRing, JumpHash};
use hld::lru_feed::ExpiryMap;
use hld::quadtree::{Error as GeoError, Point, QuadTree, EARTH_RADIUS_M};

use crate::common::{bytes, per_second, percentile, thousands, us, Rng, Table};

/// One second and one millisecond of simulated time, in nanoseconds.
const SEC: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

/// The workload's knobs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Drivers in the fleet.
    pub drivers: usize,
    /// They work around this many of the largest cities of cities15000.
    pub cities: usize,
    /// Simulated minutes.
    pub minutes: u64,
    /// A driver on duty reports this often (the notes: every 3 seconds).
    pub report_every_ms: u64,
    /// The DLS refreshes the QuadTree servers this often (the notes: ~15 s).
    pub batch_every_ms: u64,
    /// The DLS takes a driver as offline after this long without a report.
    pub offline_after_ms: u64,
    /// Resolution of the simulation. Report, batch and offline intervals are
    /// multiples of it, and batches a multiple of reports (so a tree's
    /// staleness is at most one batch interval, see the module doc).
    pub tick_ms: u64,
    /// Top speed of a car in a city, metres per second.
    pub max_speed_mps: f64,
    /// DriverServers the DLS is sharded over.
    pub dls_servers: u32,
    /// QuadTree servers (partitioned by driver id).
    pub quadtree_servers: u32,
    /// Riders opening the app, per simulated second.
    pub riders_per_second: f64,
    /// How long a rider keeps the app open, seconds (uniform in the range).
    pub session_s: (u64, u64),
    /// Share of sessions that ask for a ride (the others only look).
    pub ride_share: f64,
    /// Drivers a ride request asks for.
    pub k: usize,
    /// How far away a driver may be, metres.
    pub max_radius_m: f64,
    /// Trip length, minutes (uniform in the range).
    pub trip_minutes: (u64, u64),
    /// Mean time a driver stays available before going off duty, minutes.
    pub shift_minutes: f64,
    /// Share of off-duty drivers who fall silent instead of logging off.
    pub silent_share: f64,
    /// Time off duty, minutes (uniform in the range).
    pub offline_minutes: (u64, u64),
    /// Share of drivers off duty when the simulation starts.
    pub start_offline: f64,
    /// NotificationService cells per degree (a power of two).
    pub cells_per_degree: u32,
    /// Keep every driver message and every rider's pushes for an oracle to
    /// check (tests: memory grows with the run).
    pub audit: bool,
    /// Seed of the workload (the run is deterministic).
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            drivers: 20_000,
            cities: 100,
            minutes: 10,
            report_every_ms: 3_000,
            batch_every_ms: 15_000,
            offline_after_ms: 9_000,
            tick_ms: 250,
            max_speed_mps: 15.0,
            dls_servers: 4,
            quadtree_servers: 4,
            riders_per_second: 12.0,
            session_s: (20, 90),
            ride_share: 0.7,
            k: 10,
            max_radius_m: 5_000.0,
            trip_minutes: (3, 12),
            shift_minutes: 30.0,
            silent_share: 0.4,
            offline_minutes: (1, 5),
            start_offline: 0.1,
            cells_per_degree: 64,
            audit: false,
            seed: 3,
        }
    }
}

/// What one run did.
#[derive(Clone, Debug)]
pub struct Report {
    /// Drivers and the cities they work around.
    pub drivers: usize,
    pub cities: usize,
    /// Simulated seconds.
    pub simulated_s: u64,
    /// Location reports the DLS accepted, and the wall time it and the
    /// NotificationService spent on them (expiry sweeps and trip ends included).
    pub reports: u64,
    pub report_time: Duration,
    /// Reports the DLS refused (the simulated phones send none).
    pub rejected: u64,
    /// Batches, the tree updates they carried, and the wall time to flush
    /// and apply them.
    pub batches: u64,
    pub tree_updates: u64,
    /// Of those: moves of a driver already in its tree, new drivers placed,
    /// drivers removed.
    pub tree_moves: u64,
    pub tree_inserts: u64,
    pub tree_removes: u64,
    pub batch_time: Duration,
    /// Ride requests (each one an Aggregator query) and their latency.
    pub queries: usize,
    pub query_p50: Duration,
    pub query_p99: Duration,
    /// Rides booked, and requests with no bookable driver in range.
    pub rides_booked: u64,
    pub no_driver: u64,
    /// Candidates the DispatchService skipped as not fresh or not available.
    pub candidates_skipped: u64,
    /// Bookings of a driver the simulation had off duty or on a trip
    /// (dispatch's freshness check keeps this at 0).
    pub booked_off_duty: u64,
    /// Trips under way at the end.
    pub trips_at_end: usize,
    /// Answers naming a driver already off duty (still in its tree until the
    /// next batch).
    pub offline_answered: u64,
    /// Distance between an answered driver's tree position and its DLS
    /// position at query time: p99 and max, against max speed x batch.
    pub error_p99_m: f64,
    pub error_max_m: f64,
    pub error_bound_m: f64,
    /// Drivers who logged off, and who fell silent.
    pub logoffs: u64,
    pub silent: u64,
    /// DLS `Gone` events (log-offs and expiries).
    pub gone_events: u64,
    /// Rider sessions, and notifications pushed to them.
    pub sessions: u64,
    pub pushes: u64,
    /// Drivers the DLS holds per DriverServer at the end.
    pub drivers_per_dls_server: Vec<usize>,
    /// Heap bytes of the DLS's hash tables at the end.
    pub dls_bytes: usize,
    /// Drivers in all the QuadTrees at the end, and the trees' shape.
    pub tree_drivers: usize,
    pub tree_nodes: usize,
    pub tree_leaves: usize,
    pub tree_max_depth: usize,
    /// The printed table.
    pub table: Table,
}

pub type DriverId = u32;
pub type RiderId = u64;

// ---------------------------------------------------------------------------
// Messages.

/// Driver app -> gateway -> DriverLocationService. Positions are raw numbers
/// as a phone sends them; the DLS validates them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DriverMessage {
    Location {
        driver: DriverId,
        ts: u64,
        lat: f64,
        lon: f64,
    },
    LogOff {
        driver: DriverId,
        ts: u64,
    },
}

/// DLS -> NotificationService (a Kafka topic in production).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DriverEvent {
    /// A report: where the driver was (if the DLS held it) and is now.
    Moved {
        driver: DriverId,
        ts: u64,
        from: Option<Point>,
        to: Point,
    },
    /// The driver logged off, or its last report expired.
    Gone {
        driver: DriverId,
        ts: u64,
        at: Point,
    },
}

/// One change to a QuadTree server.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TreeUpdate {
    /// The driver is available at `pos` (a move if its tree has it already).
    Place { driver: DriverId, pos: Point },
    /// The DLS dropped the driver: it logged off or fell silent.
    Remove { driver: DriverId },
}

/// DLS -> one QuadTree server, every batch interval.
#[derive(Clone, Debug, Default)]
pub struct LocationBatch {
    /// The batch reflects the DLS as of this time.
    pub as_of: u64,
    pub updates: Vec<TreeUpdate>,
}

/// Rider app -> Aggregator.
#[derive(Clone, Copy, Debug)]
pub struct RideRequest {
    pub rider: RiderId,
    pub at: Point,
    pub k: usize,
    pub max_radius_m: f64,
}

/// DispatchService -> rider app.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RideOutcome {
    /// `metres`: as far as the driver's tree had it.
    Booked {
        driver: DriverId,
        metres: f64,
        skipped: u32,
    },
    NoDriver {
        skipped: u32,
    },
}

/// NotificationService -> rider app.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Push {
    pub driver: DriverId,
    pub ts: u64,
    pub what: Seen,
}

/// What a push tells the rider's map.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Seen {
    /// The car is now here (it may have left the rider's area).
    MovedTo(Point),
    /// The car went offline.
    Gone,
}

/// Why the DLS refused a report.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReportError {
    /// The phone sent a latitude or longitude that is not one.
    BadPosition(GeoError),
    /// A report no newer than the one held (delivered late or twice).
    Stale {
        driver: DriverId,
        ts: u64,
        latest: u64,
    },
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::BadPosition(e) => write!(f, "bad position: {e}"),
            ReportError::Stale { driver, ts, latest } => write!(
                f,
                "report of driver {driver} at {ts} ns is not newer than {latest} ns"
            ),
        }
    }
}

// ---------------------------------------------------------------------------
// DriverLocationService.

/// What the DLS keeps per driver: the notes' "driverId - timestamp - latest
/// lat long", and whether dispatch may offer the driver.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Location {
    pub ts: u64,
    pub pos: Point,
    pub available: bool,
}

/// One shard of the DLS.
pub struct DriverServer {
    /// Driver -> location; the deadline is the last report + offline_after.
    locations: ExpiryMap<DriverId, Location>,
    /// Drivers changed since the last batch (with repeats; deduplicated when
    /// the batch is cut).
    changed: Vec<DriverId>,
}

pub struct DriverLocationService {
    ring: HashRing<u32>,
    servers: Vec<DriverServer>,
    offline_after: u64,
    partition: JumpHash,
}

impl DriverLocationService {
    /// `servers` DriverServers; batches are cut for `quadtree_servers`.
    pub fn new(servers: u32, quadtree_servers: u32, offline_after: u64) -> DriverLocationService {
        let mut ring = HashRing::new(160).expect("160 points a server");
        ring.extend_weighted((0..servers).map(|s| (s, 1)))
            .expect("distinct servers");
        DriverLocationService {
            ring,
            servers: (0..servers)
                .map(|_| DriverServer {
                    locations: ExpiryMap::new(),
                    changed: Vec::new(),
                })
                .collect(),
            offline_after,
            partition: JumpHash::new(quadtree_servers).expect("at least one QuadTree server"),
        }
    }

    /// The DriverServer that owns `driver`.
    pub fn server_of(&self, driver: DriverId) -> usize {
        *self.ring.node_for(&driver).expect("the ring has servers") as usize
    }

    /// The QuadTree server that owns `driver`.
    pub fn quadtree_of(&self, driver: DriverId) -> usize {
        self.partition.bucket_for(&driver) as usize
    }

    /// A driver's message. A location becomes the driver's latest (a new
    /// driver starts available; a known one keeps its booking state);
    /// a log-off forgets the driver. Returns what the NotificationService
    /// is told, if anything.
    pub fn handle(&mut self, msg: DriverMessage) -> Result<Option<DriverEvent>, ReportError> {
        match msg {
            DriverMessage::Location {
                driver,
                ts,
                lat,
                lon,
            } => {
                let pos = Point::new(lat, lon).map_err(ReportError::BadPosition)?;
                let deadline = ts + self.offline_after;
                let i = self.server_of(driver);
                let s = &mut self.servers[i];
                let old = s.locations.get(&driver).copied();
                if let Some(old) = old {
                    if ts <= old.ts {
                        return Err(ReportError::Stale {
                            driver,
                            ts,
                            latest: old.ts,
                        });
                    }
                }
                let available = old.is_none_or(|o| o.available);
                s.locations
                    .insert(driver, Location { ts, pos, available }, deadline);
                s.changed.push(driver);
                Ok(Some(DriverEvent::Moved {
                    driver,
                    ts,
                    from: old.map(|o| o.pos),
                    to: pos,
                }))
            }
            DriverMessage::LogOff { driver, ts } => {
                let i = self.server_of(driver);
                let s = &mut self.servers[i];
                Ok(s.locations.remove(&driver).map(|old| {
                    s.changed.push(driver);
                    DriverEvent::Gone {
                        driver,
                        ts,
                        at: old.pos,
                    }
                }))
            }
        }
    }

    /// Drops every driver whose last report is `offline_after` old at `now`,
    /// oldest first, each as a `Gone` stamped with its deadline.
    pub fn expire(&mut self, now: u64, out: &mut Vec<DriverEvent>) {
        for s in &mut self.servers {
            let changed = &mut s.changed;
            s.locations.expire_with(now, |driver, loc, deadline| {
                changed.push(driver);
                out.push(DriverEvent::Gone {
                    driver,
                    ts: deadline,
                    at: loc.pos,
                });
            });
        }
    }

    /// The latest location of a driver the DLS holds.
    pub fn location(&self, driver: DriverId) -> Option<Location> {
        self.servers[self.server_of(driver)]
            .locations
            .get(&driver)
            .copied()
    }

    /// Dispatch booked the driver (and took it off its QuadTree server
    /// itself): no batch places it until the trip ends. False if the DLS
    /// holds no such driver.
    pub fn book(&mut self, driver: DriverId) -> bool {
        let i = self.server_of(driver);
        match self.servers[i].locations.get_mut(&driver) {
            Some(loc) => {
                loc.available = false;
                true
            }
            None => false,
        }
    }

    /// The trip ended: the next batch places the driver again. False if the
    /// DLS holds no such driver.
    pub fn free(&mut self, driver: DriverId) -> bool {
        let i = self.server_of(driver);
        let s = &mut self.servers[i];
        match s.locations.get_mut(&driver) {
            Some(loc) => {
                loc.available = true;
                s.changed.push(driver);
                true
            }
            None => false,
        }
    }

    /// The batch: per QuadTree server, the final state of every driver that
    /// changed since the last one: placed if available, removed if the DLS
    /// dropped it (logged off or expired). A booked driver's reports need no
    /// update: dispatch took it off its tree when it booked it.
    pub fn flush(&mut self, now: u64) -> Vec<LocationBatch> {
        let mut out: Vec<LocationBatch> = (0..self.partition.buckets())
            .map(|_| LocationBatch {
                as_of: now,
                updates: Vec::new(),
            })
            .collect();
        for s in &mut self.servers {
            s.changed.sort_unstable();
            s.changed.dedup();
            for &driver in &s.changed {
                let update = match s.locations.get(&driver) {
                    Some(loc) if loc.available => TreeUpdate::Place {
                        driver,
                        pos: loc.pos,
                    },
                    Some(_) => continue,
                    None => TreeUpdate::Remove { driver },
                };
                out[self.partition.bucket_for(&driver) as usize]
                    .updates
                    .push(update);
            }
            s.changed.clear();
        }
        out
    }

    /// Heap bytes of the DriverServers' hash tables.
    pub fn heap_bytes(&self) -> usize {
        self.servers
            .iter()
            .map(|s| s.locations.heap_bytes() + s.changed.capacity() * 4)
            .sum()
    }

    /// Drivers held by each DriverServer.
    pub fn drivers_per_server(&self) -> Vec<usize> {
        self.servers.iter().map(|s| s.locations.len()).collect()
    }
}

// ---------------------------------------------------------------------------
// QuadTree servers and the Aggregator.

/// One QuadTree server: the available drivers of its partition, as of the
/// last batch (minus those booked since).
pub struct QuadTreeServer {
    tree: QuadTree<DriverId>,
    /// The `as_of` of the last batch applied.
    pub as_of: u64,
    pub moves: u64,
    pub inserts: u64,
    pub removes: u64,
}

impl QuadTreeServer {
    pub fn new() -> QuadTreeServer {
        QuadTreeServer {
            tree: QuadTree::new(),
            as_of: 0,
            moves: 0,
            inserts: 0,
            removes: 0,
        }
    }

    pub fn apply(&mut self, batch: &LocationBatch) {
        for u in &batch.updates {
            match *u {
                TreeUpdate::Place { driver, pos } => match self.tree.insert(driver, pos) {
                    Some(_) => self.moves += 1,
                    None => self.inserts += 1,
                },
                TreeUpdate::Remove { driver } => {
                    self.removes += u64::from(self.tree.remove(&driver).is_some())
                }
            }
        }
        self.as_of = batch.as_of;
    }

    /// This server's `k` nearest within the radius: `(driver, metres)`,
    /// nearest first.
    pub fn nearest(&self, req: &RideRequest) -> Result<Vec<(DriverId, f64)>, GeoError> {
        self.tree.nearest_within(req.at, req.k, req.max_radius_m)
    }

    /// Takes a booked driver off at once (not waiting for the batch).
    pub fn take_off(&mut self, driver: DriverId) -> bool {
        self.tree.remove(&driver).is_some()
    }

    pub fn position(&self, driver: DriverId) -> Option<Point> {
        self.tree.get(&driver)
    }

    pub fn len(&self) -> usize {
        self.tree.len()
    }
}

/// Fans a request out to every QuadTree server and merges their answers
/// (the notes' aggregation service).
pub struct Aggregator;

impl Aggregator {
    pub fn nearby(
        &self,
        servers: &[QuadTreeServer],
        req: &RideRequest,
    ) -> Result<Vec<(DriverId, f64)>, GeoError> {
        let mut all = Vec::with_capacity(req.k * servers.len());
        for s in servers {
            all.extend(s.nearest(req)?);
        }
        all.sort_unstable_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        all.truncate(req.k);
        Ok(all)
    }
}

// ---------------------------------------------------------------------------
// DispatchService.

/// Books drivers for riders and ends their trips.
pub struct DispatchService {
    /// A driver whose last report is older than this is not offered.
    report_every: u64,
    /// Driver -> rider, for trips under way.
    trips: HashMap<DriverId, RiderId, Fast>,
}

impl DispatchService {
    /// Books the first candidate the DLS holds as available and fresh: marks
    /// it booked there and takes it off its QuadTree server at once.
    pub fn book(
        &mut self,
        rider: RiderId,
        candidates: &[(DriverId, f64)],
        now: u64,
        dls: &mut DriverLocationService,
        quadtrees: &mut [QuadTreeServer],
    ) -> RideOutcome {
        let mut skipped = 0;
        for &(driver, metres) in candidates {
            match dls.location(driver) {
                Some(loc) if loc.available && loc.ts + self.report_every > now => {
                    dls.book(driver);
                    quadtrees[dls.quadtree_of(driver)].take_off(driver);
                    self.trips.insert(driver, rider);
                    return RideOutcome::Booked {
                        driver,
                        metres,
                        skipped,
                    };
                }
                _ => skipped += 1,
            }
        }
        RideOutcome::NoDriver { skipped }
    }

    /// The driver dropped the rider off: available again from the next batch.
    pub fn trip_ended(&mut self, driver: DriverId, dls: &mut DriverLocationService) {
        self.trips.remove(&driver);
        dls.free(driver);
    }

    pub fn trips(&self) -> usize {
        self.trips.len()
    }
}

// ---------------------------------------------------------------------------
// NotificationService.

/// A cell of the NotificationService's grid: (latitude row, longitude column).
pub type Cell = (i32, i32);

struct Subscriber {
    center: Cell,
    inbox: Vec<Push>,
}

/// A column index brought back into `-columns/2 .. columns/2` (longitude wraps).
fn wrap(columns: i32, col: i32) -> i32 {
    (col + columns / 2).rem_euclid(columns) - columns / 2
}

/// Whether cell `c` is among the nine around `center`.
fn in_area(columns: i32, center: Cell, c: Cell) -> bool {
    (c.0 - center.0).abs() <= 1 && wrap(columns, c.1 - center.1).abs() <= 1
}

/// Riders subscribe to the cells around them; driver events are pushed to
/// the subscribers of the cells they start or end in.
pub struct NotificationService {
    per_degree: f64,
    /// Columns around the globe (360 x per_degree).
    columns: i32,
    channels: HashMap<Cell, Vec<RiderId>, Fast>,
    riders: HashMap<RiderId, Subscriber, Fast>,
    pub pushes: u64,
}

impl NotificationService {
    pub fn new(cells_per_degree: u32) -> NotificationService {
        assert!(
            cells_per_degree.is_power_of_two(),
            "cells_per_degree must be a power of two (exact cell edges)"
        );
        NotificationService {
            per_degree: cells_per_degree as f64,
            columns: 360 * cells_per_degree as i32,
            channels: HashMap::default(),
            riders: HashMap::default(),
            pushes: 0,
        }
    }

    /// The cell of a point; longitude 180 is the column of -180.
    pub fn cell_of(&self, p: Point) -> Cell {
        let row = (p.lat() * self.per_degree).floor() as i32;
        let col = (p.lon() * self.per_degree).floor() as i32;
        (row, self.wrap(col))
    }

    fn wrap(&self, col: i32) -> i32 {
        wrap(self.columns, col)
    }

    /// The cell and its eight neighbours.
    fn area(&self, center: Cell) -> Vec<Cell> {
        (-1..=1)
            .flat_map(|dr| (-1..=1).map(move |dc| (center.0 + dr, center.1 + dc)))
            .map(|(r, c)| (r, self.wrap(c)))
            .collect()
    }

    /// The rider opened the app at `at`.
    pub fn subscribe(&mut self, rider: RiderId, at: Point) {
        let center = self.cell_of(at);
        for c in self.area(center) {
            self.channels.entry(c).or_default().push(rider);
        }
        self.riders.insert(
            rider,
            Subscriber {
                center,
                inbox: Vec::new(),
            },
        );
    }

    /// The rider closed the app: what their phone received.
    pub fn unsubscribe(&mut self, rider: RiderId) -> Option<Vec<Push>> {
        let sub = self.riders.remove(&rider)?;
        for c in self.area(sub.center) {
            if let Some(list) = self.channels.get_mut(&c) {
                if let Some(i) = list.iter().position(|&r| r == rider) {
                    list.swap_remove(i);
                }
                if list.is_empty() {
                    self.channels.remove(&c);
                }
            }
        }
        Some(sub.inbox)
    }

    /// Pushes an event to the riders of the cells it touches, once each;
    /// returns how many pushes.
    pub fn publish(&mut self, ev: &DriverEvent) -> usize {
        let (driver, ts, from, to, what) = match *ev {
            DriverEvent::Moved {
                driver,
                ts,
                from,
                to,
            } => (driver, ts, from, to, Seen::MovedTo(to)),
            DriverEvent::Gone { driver, ts, at } => (driver, ts, None, at, Seen::Gone),
        };
        let push = Push { driver, ts, what };
        let to_cell = self.cell_of(to);
        let mut n = 0;
        if let Some(list) = self.channels.get(&to_cell) {
            for r in list {
                if let Some(s) = self.riders.get_mut(r) {
                    s.inbox.push(push);
                    n += 1;
                }
            }
        }
        // A car leaving an area: its old cell's riders see it go, unless
        // the new cell is in their area too (they just got it).
        if let Some(from_cell) = from.map(|p| self.cell_of(p)).filter(|&c| c != to_cell) {
            if let Some(list) = self.channels.get(&from_cell) {
                for r in list {
                    if let Some(s) = self.riders.get_mut(r) {
                        if !in_area(self.columns, s.center, to_cell) {
                            s.inbox.push(push);
                            n += 1;
                        }
                    }
                }
            }
        }
        self.pushes += n as u64;
        n
    }
}

// ---------------------------------------------------------------------------
// The deployment.

/// Every service of the design, wired together.
pub struct Uber {
    pub dls: DriverLocationService,
    pub quadtrees: Vec<QuadTreeServer>,
    pub aggregator: Aggregator,
    pub dispatch: DispatchService,
    pub notifications: NotificationService,
}

impl Uber {
    pub fn new(cfg: &Config) -> Uber {
        Uber {
            dls: DriverLocationService::new(
                cfg.dls_servers,
                cfg.quadtree_servers,
                cfg.offline_after_ms * MS,
            ),
            quadtrees: (0..cfg.quadtree_servers)
                .map(|_| QuadTreeServer::new())
                .collect(),
            aggregator: Aggregator,
            dispatch: DispatchService {
                report_every: cfg.report_every_ms * MS,
                trips: HashMap::default(),
            },
            notifications: NotificationService::new(cfg.cells_per_degree),
        }
    }

    /// A driver's message through the DLS, and what it publishes through the
    /// NotificationService.
    pub fn driver_message(&mut self, msg: DriverMessage) -> Result<(), ReportError> {
        if let Some(ev) = self.dls.handle(msg)? {
            self.notifications.publish(&ev);
        }
        Ok(())
    }

    /// The DLS's expiry sweep, published; returns how many drivers expired.
    pub fn expire(&mut self, now: u64) -> usize {
        let mut gone = Vec::new();
        self.dls.expire(now, &mut gone);
        for ev in &gone {
            self.notifications.publish(ev);
        }
        gone.len()
    }

    /// Cuts a batch and applies it; returns how many tree updates it carried.
    pub fn batch(&mut self, now: u64) -> usize {
        let batches = self.dls.flush(now);
        let mut n = 0;
        for (server, b) in self.quadtrees.iter_mut().zip(&batches) {
            server.apply(b);
            n += b.updates.len();
        }
        n
    }

    /// The nearest available drivers (as the trees have them).
    pub fn nearby(&self, req: &RideRequest) -> Result<Vec<(DriverId, f64)>, GeoError> {
        self.aggregator.nearby(&self.quadtrees, req)
    }

    /// Books the rider of `req` onto the first bookable candidate.
    pub fn book(
        &mut self,
        req: &RideRequest,
        candidates: &[(DriverId, f64)],
        now: u64,
    ) -> RideOutcome {
        self.dispatch.book(
            req.rider,
            candidates,
            now,
            &mut self.dls,
            &mut self.quadtrees,
        )
    }

    pub fn trip_ended(&mut self, driver: DriverId) {
        self.dispatch.trip_ended(driver, &mut self.dls);
    }

    /// Where a driver's QuadTree server has it.
    pub fn tree_position(&self, driver: DriverId) -> Option<Point> {
        self.quadtrees[self.dls.quadtree_of(driver)].position(driver)
    }
}

// ---------------------------------------------------------------------------
// The world: cities, drivers, riders.

/// A city of cities15000 and how far its drivers roam.
#[derive(Clone, Debug)]
pub struct City {
    pub name: String,
    pub center: Point,
    pub population: u64,
    pub radius_m: f64,
}

/// The `n` most populous cities of `data/cities15000.csv` (GeoNames).
pub fn largest_cities(n: usize) -> Vec<City> {
    let mut cities: Vec<City> = include_str!("../../data/cities15000.csv")
        .lines()
        .skip(1)
        .filter_map(|line| {
            // geonameid,name,latitude,longitude,countrycode,population; a
            // name may be quoted and hold commas, so split from the right.
            let mut f = line.rsplitn(5, ',');
            let population: u64 = f.next()?.parse().ok()?;
            let _country = f.next()?;
            let lon: f64 = f.next()?.parse().ok()?;
            let lat: f64 = f.next()?.parse().ok()?;
            let name = f.next()?.split_once(',')?.1.trim_matches('"').to_string();
            Some(City {
                name,
                center: Point::new(lat, lon).ok()?,
                population,
                // A city of a million: 4 km; bigger ones spread as the root
                // of their population, within 3 to 20 km.
                radius_m: (4_000.0 * (population as f64 / 1e6).sqrt()).clamp(3_000.0, 20_000.0),
            })
        })
        .collect();
    cities.sort_by(|a, b| b.population.cmp(&a.population).then(a.name.cmp(&b.name)));
    cities.truncate(n);
    cities
}

fn between(rng: &mut Rng, lo: u64, hi: u64) -> u64 {
    lo + rng.below((hi - lo + 1) as usize) as u64
}

/// The point `d` metres from `p` along `bearing` (radians clockwise from
/// north) on the sphere: the destination-point formula of Ed Williams'
/// Aviation Formulary.
fn destination(p: Point, bearing: f64, d: f64) -> Point {
    let (lat1, lon1) = (p.lat().to_radians(), p.lon().to_radians());
    let delta = d / EARTH_RADIUS_M;
    let lat2 = (lat1.sin() * delta.cos() + lat1.cos() * delta.sin() * bearing.cos())
        .clamp(-1.0, 1.0)
        .asin();
    let lon2 = lon1
        + (bearing.sin() * delta.sin() * lat1.cos()).atan2(delta.cos() - lat1.sin() * lat2.sin());
    let mut lon = lon2.to_degrees();
    if lon > 180.0 {
        lon -= 360.0;
    } else if lon < -180.0 {
        lon += 360.0;
    }
    Point::new(lat2.to_degrees().clamp(-90.0, 90.0), lon).expect("a point on the sphere")
}

/// Initial bearing from `a` to `b`, radians clockwise from north.
fn bearing(a: Point, b: Point) -> f64 {
    let (la, lb) = (a.lat().to_radians(), b.lat().to_radians());
    let dl = (b.lon() - a.lon()).to_radians();
    (dl.sin() * lb.cos()).atan2(la.cos() * lb.sin() - la.sin() * lb.cos() * dl.cos())
}

/// A point in a city, denser towards the centre.
fn somewhere_in(city: &City, rng: &mut Rng) -> Point {
    let angle = rng.float() * std::f64::consts::TAU;
    destination(city.center, angle, city.radius_m * rng.float())
}

/// A driver as the simulation knows it: the ground truth the tests hold the
/// services to.
#[derive(Clone, Debug)]
struct SimDriver {
    city: usize,
    pos: Point,
    heading: f64,
    duty: Duty,
    /// When it last became available (came on duty or ended a trip).
    available_since: u64,
    /// Its last location report.
    last_report: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Duty {
    Available,
    OnTrip {
        until: u64,
    },
    /// Off duty until `until`; `gone_at`: when the DLS drops it (the log-off,
    /// or the last report + offline_after).
    Off {
        until: u64,
        silent: bool,
        gone_at: u64,
    },
}

/// A rider with the app open.
#[derive(Clone, Debug)]
struct Session {
    rider: RiderId,
    at: Point,
    opened: u64,
    closes: u64,
    request_at: Option<u64>,
}

/// A session after the app closed, with what the phone received (kept when
/// `Config::audit`, for the tests' oracle: a run only counts pushes).
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Clone, Debug)]
struct ClosedSession {
    at: Point,
    opened: u64,
    closed: u64,
    pushes: Vec<Push>,
}

/// What happened, and how long the services took.
#[derive(Clone, Debug, Default)]
struct Tally {
    reports: u64,
    rejected: u64,
    report_time: Duration,
    batches: u64,
    tree_updates: u64,
    batch_time: Duration,
    query_times: Vec<Duration>,
    errors_m: Vec<f64>,
    rides_booked: u64,
    no_driver: u64,
    skipped: u64,
    booked_off_duty: u64,
    offline_answered: u64,
    logoffs: u64,
    silent: u64,
    gone_events: u64,
    sessions: u64,
}

/// The fleet, the riders and the services, advanced one tick at a time.
pub struct Simulation {
    cfg: Config,
    cities: Vec<City>,
    /// Cumulative populations, to pick a city by population.
    weights: Vec<u64>,
    uber: Uber,
    fleet: Vec<SimDriver>,
    /// Drivers by report phase: slot `i` reports at ticks `i` mod slots.
    slots: Vec<Vec<DriverId>>,
    sessions: Vec<Session>,
    next_rider: RiderId,
    rng: Rng,
    /// Ticks done; the last one ran at `(ticks - 1) * tick`.
    ticks: u64,
    tally: Tally,
    /// With `audit`: every driver message, and every closed session.
    driver_log: Vec<DriverMessage>,
    closed: Vec<ClosedSession>,
}

enum Outgoing {
    Driver(DriverMessage),
    TripEnded(DriverId),
}

impl Simulation {
    pub fn new(cfg: &Config) -> Simulation {
        let (tick, report, batch, offline) = (
            cfg.tick_ms,
            cfg.report_every_ms,
            cfg.batch_every_ms,
            cfg.offline_after_ms,
        );
        assert!(
            tick > 0
                && report > 0
                && batch > 0
                && report % tick == 0
                && batch % report == 0
                && offline % tick == 0
                && offline > report,
            "intervals must be positive tick multiples, batches a multiple of reports, offline_after > report"
        );
        let cities = largest_cities(cfg.cities);
        let mut weights = Vec::with_capacity(cities.len());
        let mut total = 0;
        for c in &cities {
            total += c.population;
            weights.push(total);
        }
        let mut rng = Rng(cfg.seed);
        let slots_n = (report / tick) as usize;
        let mut slots = vec![Vec::new(); slots_n];
        let mut fleet = Vec::with_capacity(cfg.drivers);
        for d in 0..cfg.drivers {
            let city = pick_city(&weights, &mut rng);
            let pos = somewhere_in(&cities[city], &mut rng);
            slots[rng.below(slots_n)].push(d as DriverId);
            // Every driver starts off duty, never seen by the DLS; most come
            // on at their first turn, the others some minutes in.
            let until = if rng.chance(cfg.start_offline) {
                between(&mut rng, 1, cfg.offline_minutes.1 * 60) * SEC
            } else {
                0
            };
            let duty = Duty::Off {
                until,
                silent: false,
                gone_at: 0,
            };
            fleet.push(SimDriver {
                city,
                pos,
                heading: rng.float() * std::f64::consts::TAU,
                duty,
                available_since: 0,
                last_report: None,
            });
        }
        Simulation {
            cfg: cfg.clone(),
            cities,
            weights,
            uber: Uber::new(cfg),
            fleet,
            slots,
            sessions: Vec::new(),
            next_rider: 1,
            rng,
            ticks: 0,
            tally: Tally::default(),
            driver_log: Vec::new(),
            closed: Vec::new(),
        }
    }

    /// Ticks in the configured run.
    pub fn total_ticks(&self) -> u64 {
        self.cfg.minutes * 60_000 / self.cfg.tick_ms
    }

    /// The time of the last tick run.
    pub fn now(&self) -> u64 {
        (self.ticks.max(1) - 1) * self.cfg.tick_ms * MS
    }

    fn batch_every(&self) -> u64 {
        self.cfg.batch_every_ms * MS
    }

    /// One tick: drivers due report (or log off, or end a trip), the DLS
    /// expires the silent, a batch goes to the QuadTree servers if one is due,
    /// then riders close the app, ask for rides and open it.
    pub fn tick(&mut self) {
        let now = self.ticks * self.cfg.tick_ms * MS;
        self.ticks += 1;

        let slot = (self.ticks - 1) as usize % self.slots.len();
        let due = std::mem::take(&mut self.slots[slot]);
        let mut out = Vec::with_capacity(due.len());
        for &d in &due {
            self.drive(d, now, &mut out);
        }
        self.slots[slot] = due;
        if self.cfg.audit {
            self.driver_log.extend(out.iter().filter_map(|o| match o {
                Outgoing::Driver(m) => Some(*m),
                Outgoing::TripEnded(_) => None,
            }));
        }

        let start = Instant::now();
        for o in out {
            match o {
                Outgoing::Driver(msg) => {
                    let is_report = matches!(msg, DriverMessage::Location { .. });
                    match self.uber.driver_message(msg) {
                        Ok(()) => self.tally.reports += u64::from(is_report),
                        Err(_) => self.tally.rejected += 1,
                    }
                }
                Outgoing::TripEnded(d) => self.uber.trip_ended(d),
            }
        }
        let expired = self.uber.expire(now);
        self.tally.report_time += start.elapsed();
        self.tally.gone_events += expired as u64;

        if now.is_multiple_of(self.batch_every()) {
            let start = Instant::now();
            let n = self.uber.batch(now);
            self.tally.batch_time += start.elapsed();
            self.tally.batches += 1;
            self.tally.tree_updates += n as u64;
        }

        self.riders(now);
    }

    /// A driver's turn (every report interval): maybe come back on duty, end
    /// a trip, go off duty; move and report.
    fn drive(&mut self, d: DriverId, now: u64, out: &mut Vec<Outgoing>) {
        let cfg = &self.cfg;
        let report = cfg.report_every_ms * MS;
        let p_off = cfg.report_every_ms as f64 / (cfg.shift_minutes * 60_000.0);
        let drv = &mut self.fleet[d as usize];
        match drv.duty {
            Duty::Off { until, .. } if now < until => return,
            Duty::Off { .. } => {
                drv.duty = Duty::Available;
                drv.available_since = now;
            }
            Duty::OnTrip { until } if now >= until => {
                out.push(Outgoing::TripEnded(d));
                drv.duty = Duty::Available;
                drv.available_since = now;
            }
            Duty::OnTrip { .. } => {}
            Duty::Available => {
                if self.rng.chance(p_off) {
                    let silent = self.rng.chance(cfg.silent_share);
                    let until = now
                        + between(
                            &mut self.rng,
                            cfg.offline_minutes.0 * 60,
                            cfg.offline_minutes.1 * 60,
                        ) * SEC;
                    let gone_at = if silent {
                        self.tally.silent += 1;
                        drv.last_report.unwrap_or(now) + cfg.offline_after_ms * MS
                    } else {
                        self.tally.logoffs += 1;
                        self.tally.gone_events += 1;
                        out.push(Outgoing::Driver(DriverMessage::LogOff {
                            driver: d,
                            ts: now,
                        }));
                        now
                    };
                    drv.duty = Duty::Off {
                        until,
                        silent,
                        gone_at,
                    };
                    return;
                }
            }
        }
        // Drive on: stop at a light now and then, turn at a corner, head
        // back towards the centre when past the city's edge.
        let city = &self.cities[drv.city];
        let speed = if self.rng.chance(0.15) {
            0.0
        } else {
            cfg.max_speed_mps * (0.3 + 0.7 * self.rng.float())
        };
        if city.center.distance_m(&drv.pos) > city.radius_m {
            drv.heading = bearing(drv.pos, city.center) + (self.rng.float() - 0.5);
        } else if self.rng.chance(0.15) {
            drv.heading +=
                if self.rng.chance(0.5) { 1.0 } else { -1.0 } * std::f64::consts::FRAC_PI_2;
        } else {
            drv.heading += (self.rng.float() - 0.5) * 0.3;
        }
        drv.pos = destination(drv.pos, drv.heading, speed * report as f64 / SEC as f64);
        drv.last_report = Some(now);
        out.push(Outgoing::Driver(DriverMessage::Location {
            driver: d,
            ts: now,
            lat: drv.pos.lat(),
            lon: drv.pos.lon(),
        }));
    }

    /// Riders: sessions that end close the app, requests due are answered
    /// and booked, new riders open the app.
    fn riders(&mut self, now: u64) {
        let mut i = 0;
        while i < self.sessions.len() {
            if self.sessions[i].closes <= now {
                let s = self.sessions.swap_remove(i);
                self.close(s, now);
            } else {
                i += 1;
            }
        }
        for i in 0..self.sessions.len() {
            if self.sessions[i].request_at.is_some_and(|t| t <= now) {
                self.sessions[i].request_at = None;
                let (rider, at) = (self.sessions[i].rider, self.sessions[i].at);
                self.request_ride(rider, at, now);
            }
        }
        let expected = self.cfg.riders_per_second * self.cfg.tick_ms as f64 / 1e3;
        let arrivals = expected.floor() as usize + usize::from(self.rng.chance(expected.fract()));
        for _ in 0..arrivals {
            let city = pick_city(&self.weights, &mut self.rng);
            let at = somewhere_in(&self.cities[city], &mut self.rng);
            let rider = self.next_rider;
            self.next_rider += 1;
            let (lo, hi) = self.cfg.session_s;
            let length = between(&mut self.rng, lo, hi) * SEC;
            let request_at = self
                .rng
                .chance(self.cfg.ride_share)
                .then(|| now + between(&mut self.rng, 1, (length / SEC).clamp(1, 30)) * SEC);
            self.uber.notifications.subscribe(rider, at);
            self.sessions.push(Session {
                rider,
                at,
                opened: now,
                closes: now + length,
                request_at,
            });
            self.tally.sessions += 1;
        }
    }

    fn close(&mut self, s: Session, now: u64) {
        let pushes = self
            .uber
            .notifications
            .unsubscribe(s.rider)
            .unwrap_or_default();
        if self.cfg.audit {
            self.closed.push(ClosedSession {
                at: s.at,
                opened: s.opened,
                closed: now,
                pushes,
            });
        }
    }

    fn request_ride(&mut self, rider: RiderId, at: Point, now: u64) {
        let req = RideRequest {
            rider,
            at,
            k: self.cfg.k,
            max_radius_m: self.cfg.max_radius_m,
        };
        let start = Instant::now();
        let answer = self.uber.nearby(&req).expect("a valid radius");
        self.tally.query_times.push(start.elapsed());
        for &(d, _) in &answer {
            if let (Some(tree), Some(loc)) = (self.uber.tree_position(d), self.uber.dls.location(d))
            {
                self.tally.errors_m.push(tree.distance_m(&loc.pos));
            }
            if matches!(self.fleet[d as usize].duty, Duty::Off { .. }) {
                self.tally.offline_answered += 1;
            }
        }
        match self.uber.book(&req, &answer, now) {
            RideOutcome::Booked {
                driver, skipped, ..
            } => {
                if self.fleet[driver as usize].duty != Duty::Available {
                    self.tally.booked_off_duty += 1;
                }
                let (lo, hi) = self.cfg.trip_minutes;
                let until = now + between(&mut self.rng, lo * 60, hi * 60) * SEC;
                self.fleet[driver as usize].duty = Duty::OnTrip { until };
                self.tally.rides_booked += 1;
                self.tally.skipped += skipped as u64;
            }
            RideOutcome::NoDriver { skipped } => {
                self.tally.no_driver += 1;
                self.tally.skipped += skipped as u64;
            }
        }
    }

    /// Closes every open session (the end of the run).
    pub fn finish(&mut self) {
        let now = self.now();
        for s in std::mem::take(&mut self.sessions) {
            self.close(s, now);
        }
    }

    /// The report and its table.
    pub fn report(mut self) -> Report {
        let cfg = &self.cfg;
        let t = &mut self.tally;
        let tree_updates: u64 = t.tree_updates;
        let (mut nodes, mut leaves, mut depth) = (0, 0, 0);
        for q in &self.uber.quadtrees {
            let s = q.tree.stats();
            nodes += s.nodes;
            leaves += s.leaves;
            depth = depth.max(s.max_depth);
        }
        let queries = t.query_times.len();
        t.errors_m.sort_unstable_by(f64::total_cmp);
        let err_at = |p: f64| -> f64 {
            if t.errors_m.is_empty() {
                return 0.0;
            }
            let rank = ((p / 100.0) * t.errors_m.len() as f64).ceil() as usize;
            t.errors_m[rank.clamp(1, t.errors_m.len()) - 1]
        };
        let mut r = Report {
            drivers: cfg.drivers,
            cities: self.cities.len(),
            simulated_s: self.ticks * cfg.tick_ms / 1000,
            reports: t.reports,
            report_time: t.report_time,
            rejected: t.rejected,
            batches: t.batches,
            tree_updates,
            tree_moves: self.uber.quadtrees.iter().map(|q| q.moves).sum(),
            tree_inserts: self.uber.quadtrees.iter().map(|q| q.inserts).sum(),
            tree_removes: self.uber.quadtrees.iter().map(|q| q.removes).sum(),
            batch_time: t.batch_time,
            queries,
            query_p50: percentile(&mut t.query_times, 50.0),
            query_p99: percentile(&mut t.query_times, 99.0),
            rides_booked: t.rides_booked,
            no_driver: t.no_driver,
            candidates_skipped: t.skipped,
            booked_off_duty: t.booked_off_duty,
            trips_at_end: self.uber.dispatch.trips(),
            offline_answered: t.offline_answered,
            error_p99_m: err_at(99.0),
            error_max_m: t.errors_m.last().copied().unwrap_or(0.0),
            error_bound_m: cfg.max_speed_mps * cfg.batch_every_ms as f64 / 1e3,
            logoffs: t.logoffs,
            silent: t.silent,
            gone_events: t.gone_events,
            sessions: t.sessions,
            pushes: self.uber.notifications.pushes,
            drivers_per_dls_server: self.uber.dls.drivers_per_server(),
            dls_bytes: self.uber.dls.heap_bytes(),
            tree_drivers: self.uber.quadtrees.iter().map(|q| q.len()).sum(),
            tree_nodes: nodes,
            tree_leaves: leaves,
            tree_max_depth: depth,
            table: Table::default(),
        };
        r.table = table(cfg, &r, &self.cities);
        r
    }
}

fn pick_city(weights: &[u64], rng: &mut Rng) -> usize {
    let total = *weights.last().expect("at least one city");
    let x = rng.below(total as usize) as u64;
    weights.partition_point(|&w| w <= x)
}

/// Runs the configured workload.
pub fn run(cfg: &Config) -> Report {
    let mut sim = Simulation::new(cfg);
    for _ in 0..sim.total_ticks() {
        sim.tick();
    }
    sim.finish();
    sim.report()
}

fn table(cfg: &Config, r: &Report, cities: &[City]) -> Table {
    let mut t = Table::new(
        "uber",
        "drivers around the largest cities of data/cities15000.csv (GeoNames, CC BY 4.0) (notes section 3): hld-quadtree, hld-consistent-hash, hld-lru-feed",
    );
    let min_max = |v: &[usize]| {
        (
            v.iter().copied().min().unwrap_or(0),
            v.iter().copied().max().unwrap_or(0),
        )
    };
    let (dmin, dmax) = min_max(&r.drivers_per_dls_server);
    let sustained = r.reports + r.tree_updates;
    let busy = r.report_time + r.batch_time;
    // Reports per second of one core, counting the batch work they cause.
    let reports_per_s = r.reports as f64 / busy.as_secs_f64().max(1e-9);
    t.row(
        "drivers / cities (largest first)",
        format!(
            "{} / {} ({} ... {})",
            thousands(r.drivers as u64),
            r.cities,
            cities.first().map_or("", |c| c.name.as_str()),
            cities.last().map_or("", |c| c.name.as_str())
        ),
    )
    .row(
        "simulated; report / batch / offline after",
        format!(
            "{} min; {} s / {} s / {} s",
            r.simulated_s / 60,
            cfg.report_every_ms as f64 / 1e3,
            cfg.batch_every_ms as f64 / 1e3,
            cfg.offline_after_ms as f64 / 1e3
        ),
    )
    .row(
        &format!(
            "reports -> DLS ({} DriverServers, hash ring): min / max drivers",
            cfg.dls_servers
        ),
        format!(
            "{} ({} refused); {} / {}",
            thousands(r.reports),
            r.rejected,
            thousands(dmin as u64),
            thousands(dmax as u64)
        ),
    )
    .row(
        "DLS hash tables (ExpiryMap heap): per driver held",
        format!(
            "{} ({})",
            bytes(r.dls_bytes as f64),
            bytes(
                r.dls_bytes as f64 / r.drivers_per_dls_server.iter().sum::<usize>().max(1) as f64
            )
        ),
    )
    .row(
        "DLS + NotificationService: reports processed",
        per_second(r.reports as usize, r.report_time),
    )
    .row(
        &format!(
            "batches to {} QuadTree servers: updates",
            cfg.quadtree_servers
        ),
        format!(
            "{} in {} ({} moves, {} new, {} removed) at {}",
            thousands(r.tree_updates),
            r.batches,
            thousands(r.tree_moves),
            thousands(r.tree_inserts),
            thousands(r.tree_removes),
            per_second(r.tree_updates as usize, r.batch_time)
        ),
    )
    .row(
        "sustained: reports + tree updates (wall time, one core)",
        format!(
            "{} (simulated load: {:.0} reports/s)",
            per_second(sustained as usize, busy),
            r.reports as f64 / r.simulated_s.max(1) as f64
        ),
    )
    .row(
        "drivers one core keeps up with (reports + batches, a report / 3 s)",
        format!(
            "{:.1} M",
            reports_per_s * cfg.report_every_ms as f64 / 1e3 / 1e6
        ),
    )
    .row(
        &format!(
            "ride requests: booked / none within {:.0} km",
            cfg.max_radius_m / 1e3
        ),
        format!(
            "{}: {} / {} ({} stale candidates skipped, {} off duty booked)",
            thousands(r.queries as u64),
            thousands(r.rides_booked),
            thousands(r.no_driver),
            thousands(r.candidates_skipped),
            r.booked_off_duty
        ),
    )
    .row(
        "trips under way at the end",
        thousands(r.trips_at_end as u64),
    )
    .row(
        &format!("query p50 / p99 ({} nearest, under the update load)", cfg.k),
        format!("{} / {}", us(r.query_p50), us(r.query_p99)),
    )
    .row(
        "answered drivers: tree vs DLS position, p99 / max",
        format!(
            "{:.0} m / {:.0} m (bound {:.0} m/s x {:.0} s = {:.0} m)",
            r.error_p99_m,
            r.error_max_m,
            cfg.max_speed_mps,
            cfg.batch_every_ms as f64 / 1e3,
            r.error_bound_m
        ),
    )
    .row(
        "off duty: logged off / fell silent (DLS Gone events)",
        format!(
            "{} / {} ({})",
            thousands(r.logoffs),
            thousands(r.silent),
            thousands(r.gone_events)
        ),
    )
    .row(
        "off-duty drivers named in answers (until the next batch)",
        format!(
            "{} in {} answers",
            thousands(r.offline_answered),
            thousands(r.queries as u64)
        ),
    )
    .row(
        &format!(
            "rider sessions (3 x 3 cells of 1/{} degree)",
            cfg.cells_per_degree
        ),
        thousands(r.sessions),
    )
    .row(
        "notifications pushed (per session)",
        format!(
            "{} ({:.0})",
            thousands(r.pushes),
            r.pushes as f64 / r.sessions.max(1) as f64
        ),
    )
    .row(
        "QuadTrees at the end: drivers / nodes / leaves / depth",
        format!(
            "{} / {} / {} / {}",
            thousands(r.tree_drivers as u64),
            thousands(r.tree_nodes as u64),
            thousands(r.tree_leaves as u64),
            r.tree_max_depth
        ),
    );
    t
}

/// A hasher for the integer keys of the NotificationService and dispatch:
/// FxHash's multiply (rustc's), finished with MurmurHash3's fmix64 so the
/// low bits the table indexes by depend on every input bit.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

type Fast = BuildHasherDefault<FastHasher>;

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }

    fn write_i32(&mut self, n: i32) {
        self.write_u64(n as u32 as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    /// The oracles' metric: the haversine formula written out, independent
    /// of the quadtree's chord arithmetic. They agree to well under 1 mm.
    fn haversine_m(a: Point, b: Point) -> f64 {
        let (p1, p2) = (a.lat().to_radians(), b.lat().to_radians());
        let dp = p2 - p1;
        let dl = (b.lon() - a.lon()).to_radians();
        let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
    }

    const TOL_M: f64 = 1e-3;

    /// A few thousand drivers in a dozen cities for five minutes: dense
    /// enough that answers are full and crowded, small enough for debug;
    /// short shifts, so drivers go off duty often.
    fn small() -> Config {
        Config {
            drivers: 3_000,
            cities: 12,
            minutes: 5,
            riders_per_second: 8.0,
            shift_minutes: 6.0,
            silent_share: 0.5,
            ..Config::default()
        }
    }

    /// What the DLS holds, driver by driver (its truth, read through its
    /// own lookups, never through a tree).
    fn dls_truth(sim: &Simulation) -> HashMap<DriverId, Location> {
        (0..sim.cfg.drivers as DriverId)
            .filter_map(|d| sim.uber.dls.location(d).map(|l| (d, l)))
            .collect()
    }

    /// Asserts `answer` is the k nearest of `points` within `radius` by brute
    /// force: as many as there are (up to k), the same distance rank by
    /// rank, each driver one of `points` at the distance the answer gives
    /// (drivers tied within a millimetre may come in either order).
    fn assert_knn(
        answer: &[(DriverId, f64)],
        at: Point,
        k: usize,
        radius: f64,
        points: &HashMap<DriverId, Point>,
    ) {
        let mut all: Vec<f64> = points
            .values()
            .map(|&p| haversine_m(at, p))
            .filter(|&m| m <= radius + TOL_M)
            .collect();
        all.sort_unstable_by(f64::total_cmp);
        let sure = all.iter().filter(|&&m| m <= radius - TOL_M).count().min(k);
        assert!(
            sure <= answer.len() && answer.len() <= all.len().min(k),
            "{} answered at {at:?}, brute force has {sure}..{}",
            answer.len(),
            all.len().min(k)
        );
        let mut seen = HashSet::new();
        for (i, &(d, m)) in answer.iter().enumerate() {
            assert!(seen.insert(d), "driver {d} answered twice");
            let p = points
                .get(&d)
                .unwrap_or_else(|| panic!("driver {d} answered but not eligible"));
            assert!(
                (haversine_m(at, *p) - m).abs() <= TOL_M,
                "driver {d} at {m} m"
            );
            assert!(
                (all[i] - m).abs() <= TOL_M,
                "rank {i}: {m} m, brute force {} m",
                all[i]
            );
        }
    }

    /// Queries at riders' spots and random city points after every tick,
    /// held to three oracles:
    /// - the trees: right after a batch they hold exactly the drivers the
    ///   DLS holds as available, where it has them; between batches every
    ///   answer is the exact k nearest of that snapshot (less drivers booked
    ///   since);
    /// - the truth now (brute force haversine over the DLS's latest
    ///   positions): an answered driver is at most B = max speed x batch
    ///   interval from where its tree has it, so at most 2B farther than the
    ///   true k-th nearest of the drivers available then and now (capped by
    ///   the radius); with fewer than k answered, none within radius - B is
    ///   left out;
    /// - the drivers themselves: none answered is on a trip, and none whom
    ///   the DLS dropped (log-off, or silence past offline_after) at or
    ///   before the last batch.
    #[test]
    fn answers_are_the_batch_and_within_staleness_of_the_truth() {
        let cfg = small();
        let batch = cfg.batch_every_ms * MS;
        let b = cfg.max_speed_mps * cfg.batch_every_ms as f64 / 1e3;
        let (k, radius) = (cfg.k, cfg.max_radius_m);
        let mut sim = Simulation::new(&cfg);
        let mut probe_rng = Rng(99);
        let mut snapshot: HashMap<DriverId, Point> = HashMap::new();
        let mut last_batch = 0;
        let (mut probes, mut full, mut stale_offline, mut max_drift) = (0, 0, 0, 0.0f64);
        for _ in 0..sim.total_ticks() {
            sim.tick();
            let now = sim.now();
            if now.is_multiple_of(batch) {
                last_batch = now;
                snapshot = dls_truth(&sim)
                    .into_iter()
                    .filter(|(_, l)| l.available)
                    .map(|(d, l)| (d, l.pos))
                    .collect();
                let mut in_trees = HashMap::new();
                for (i, q) in sim.uber.quadtrees.iter().enumerate() {
                    for (d, p) in q.tree.iter() {
                        assert_eq!(sim.uber.dls.quadtree_of(d), i, "driver {d} on server {i}");
                        assert!(in_trees.insert(d, p).is_none());
                        match sim.fleet[d as usize].duty {
                            Duty::Available => {}
                            Duty::Off { gone_at, .. } => assert!(gone_at > now),
                            Duty::OnTrip { .. } => panic!("driver {d} on a trip is in a tree"),
                        }
                    }
                }
                assert_eq!(in_trees, snapshot, "trees after the batch at {now}");
            }
            // Where this tick's probes ask from: two open sessions and a
            // random spot in a random city.
            let mut spots: Vec<Point> = Vec::new();
            for _ in 0..2 {
                if !sim.sessions.is_empty() {
                    spots.push(sim.sessions[probe_rng.below(sim.sessions.len())].at);
                }
            }
            let city = &sim.cities[probe_rng.below(sim.cities.len())];
            spots.push(somewhere_in(city, &mut probe_rng));

            let truth = dls_truth(&sim);
            let eligible: HashMap<DriverId, Point> = snapshot
                .iter()
                .filter(|&(&d, _)| !matches!(sim.fleet[d as usize].duty, Duty::OnTrip { .. }))
                .map(|(&d, &p)| (d, p))
                .collect();
            // Available at the batch and now: what the trees can know of.
            let known: Vec<(DriverId, Point)> = snapshot
                .keys()
                .filter_map(|d| truth.get(d).filter(|l| l.available).map(|l| (*d, l.pos)))
                .collect();
            for at in spots {
                let req = RideRequest {
                    rider: 0,
                    at,
                    k,
                    max_radius_m: radius,
                };
                let answer = sim.uber.nearby(&req).expect("a valid radius");
                probes += 1;
                full += usize::from(answer.len() == k);
                assert_knn(&answer, at, k, radius, &eligible);

                let mut now_m: Vec<f64> = known.iter().map(|&(_, p)| haversine_m(at, p)).collect();
                now_m.sort_unstable_by(f64::total_cmp);
                let kth = now_m.get(k - 1).copied().unwrap_or(f64::INFINITY);
                let limit = (kth + b).min(radius) + b + TOL_M;
                for &(d, _) in &answer {
                    match sim.fleet[d as usize].duty {
                        Duty::OnTrip { .. } => panic!("driver {d} on a trip answered"),
                        Duty::Off { gone_at, .. } => {
                            assert!(gone_at > last_batch, "driver {d} gone at {gone_at} answered after the batch at {last_batch}");
                            stale_offline += 1;
                        }
                        Duty::Available => {}
                    }
                    if let Some(l) = truth.get(&d).filter(|l| l.available) {
                        let drift = haversine_m(snapshot[&d], l.pos);
                        assert!(
                            drift <= b + TOL_M,
                            "driver {d} moved {drift} m since its batch"
                        );
                        max_drift = max_drift.max(drift);
                        let m = haversine_m(at, l.pos);
                        assert!(
                            m <= limit,
                            "driver {d} {m} m away, true k-th nearest {kth} m, bound {limit} m"
                        );
                    }
                }
                if answer.len() < k {
                    for &(d, p) in &known {
                        if haversine_m(at, p) <= radius - b {
                            assert!(answer.iter().any(|a| a.0 == d), "driver {d} left out");
                        }
                    }
                }
            }
        }
        // The oracles had work: answers full and partial, drivers gone
        // since the batch still answered, and drift near its bound.
        assert!(probes > 3_000, "{probes} probes");
        assert!(
            full > probes / 2 && full < probes,
            "{full} of {probes} full"
        );
        assert!(stale_offline > 0);
        assert!(max_drift > b * 0.6, "drift at most {max_drift} m");
        sim.finish();
        let r = sim.report();
        assert!(r.queries > 1_000 && r.rides_booked > 1_000, "{r:?}");
        assert!(r.error_max_m <= r.error_bound_m + TOL_M, "{r:?}");
        assert!(r.offline_answered > 0 && r.candidates_skipped > 0, "{r:?}");
        assert_eq!(r.booked_off_duty, 0);
        assert_eq!(r.rejected, 0);
    }

    /// The oracle's cell of a point: rows and columns of 1/n degree,
    /// longitude wrapping round the antimeridian.
    fn cell(p: Point, per_degree: f64, columns: i64) -> (i64, i64) {
        let row = (p.lat() * per_degree).floor() as i64;
        let col = (p.lon() * per_degree).floor() as i64;
        (row, (col + columns / 2).rem_euclid(columns) - columns / 2)
    }

    /// Every rider receives exactly the updates of the 3 x 3 cells around
    /// them while the app is open: each report of a car that is in, or
    /// just left, that area, and each car there going offline (log-off, or
    /// silence expiring at last report + offline_after). The oracle replays
    /// the drivers' own messages.
    #[test]
    fn subscribed_riders_receive_every_update_of_their_area() {
        let cfg = Config {
            audit: true,
            ..small()
        };
        let mut sim = Simulation::new(&cfg);
        for _ in 0..sim.total_ticks() {
            sim.tick();
        }
        let end = sim.now();
        sim.finish();
        assert!(sim.uber.notifications.channels.is_empty());
        assert!(sim.uber.notifications.riders.is_empty());

        // Replay: the DLS's view of each driver, and every event it publishes
        // with the cells it touches.
        let per_degree = cfg.cells_per_degree as f64;
        let columns = 360 * cfg.cells_per_degree as i64;
        let off = cfg.offline_after_ms * MS;
        const MOVED: u8 = 0;
        const LEFT: u8 = 1;
        const LOGOFF: u8 = 2;
        const EXPIRED: u8 = 3;
        struct Ev {
            push: Push,
            kind: u8,
            to: (i64, i64),
            from: Option<(i64, i64)>,
        }
        let mut held: HashMap<DriverId, (u64, Point)> = HashMap::new();
        let mut events: Vec<Ev> = Vec::new();
        let gone = |driver, ts, at: Point, kind| Ev {
            push: Push {
                driver,
                ts,
                what: Seen::Gone,
            },
            kind,
            to: cell(at, per_degree, columns),
            from: None,
        };
        for m in &sim.driver_log {
            match *m {
                DriverMessage::Location {
                    driver,
                    ts,
                    lat,
                    lon,
                } => {
                    let to = Point::new(lat, lon).expect("phones send valid points");
                    let from = match held.get(&driver) {
                        Some(&(t, p)) if t + off >= ts => {
                            assert!(t < ts);
                            Some(p)
                        }
                        Some(&(t, p)) => {
                            events.push(gone(driver, t + off, p, EXPIRED));
                            None
                        }
                        None => None,
                    };
                    events.push(Ev {
                        push: Push {
                            driver,
                            ts,
                            what: Seen::MovedTo(to),
                        },
                        kind: MOVED,
                        to: cell(to, per_degree, columns),
                        from: from.map(|p| cell(p, per_degree, columns)),
                    });
                    held.insert(driver, (ts, to));
                }
                DriverMessage::LogOff { driver, ts } => {
                    if let Some((t, p)) = held.remove(&driver) {
                        if t + off >= ts {
                            events.push(gone(driver, ts, p, LOGOFF));
                        } else {
                            events.push(gone(driver, t + off, p, EXPIRED));
                        }
                    }
                }
            }
        }
        for (&d, &(t, p)) in &held {
            if t + off <= end {
                events.push(gone(d, t + off, p, EXPIRED));
            }
        }
        let mut by_cell: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
        for (i, e) in events.iter().enumerate() {
            by_cell.entry(e.to).or_default().push(i);
            if let Some(f) = e.from.filter(|&f| f != e.to) {
                by_cell.entry(f).or_default().push(i);
            }
        }
        let near = |a: (i64, i64), c: (i64, i64)| {
            (a.0 - c.0).abs() <= 1
                && ((c.1 - a.1 + columns / 2).rem_euclid(columns) - columns / 2).abs() <= 1
        };

        let mut kinds = [0u64; 4];
        let mut total = 0;
        assert_eq!(sim.closed.len() as u64, sim.tally.sessions);
        for s in &sim.closed {
            let home = cell(s.at, per_degree, columns);
            let mut want: Vec<usize> = Vec::new();
            for dr in -1..=1 {
                for dc in -1..=1 {
                    let c = (
                        home.0 + dr,
                        (home.1 + dc + columns / 2).rem_euclid(columns) - columns / 2,
                    );
                    for &i in by_cell.get(&c).into_iter().flatten() {
                        let ts = events[i].push.ts;
                        if ts > s.opened && ts <= s.closed {
                            want.push(i);
                        }
                    }
                }
            }
            want.sort_unstable();
            want.dedup();
            for &i in &want {
                let e = &events[i];
                let kind = if e.kind == MOVED && !near(home, e.to) {
                    LEFT
                } else {
                    e.kind
                };
                kinds[kind as usize] += 1;
            }
            let mut want: Vec<Push> = want.iter().map(|&i| events[i].push).collect();
            let key = |p: &Push| (p.ts, p.driver);
            want.sort_by_key(key);
            let mut got = s.pushes.clone();
            assert!(
                got.windows(2).all(|w| w[0].ts <= w[1].ts),
                "pushes out of time order"
            );
            got.sort_by_key(key);
            assert_eq!(
                got, want,
                "session at {:?} open {}..{}",
                s.at, s.opened, s.closed
            );
            total += got.len() as u64;
        }
        assert_eq!(total, sim.uber.notifications.pushes);
        // Every kind of update reached someone.
        assert!(kinds.iter().all(|&n| n > 0), "{kinds:?}");
    }

    fn paris() -> Point {
        Point::new(48.8566, 2.3522).unwrap()
    }

    /// Driver `i` of the hand-built scene: 100 m apart on a line east of
    /// the centre of Paris.
    fn spot(i: DriverId) -> Point {
        destination(paris(), std::f64::consts::FRAC_PI_2, 100.0 * (i + 1) as f64)
    }

    fn report(uber: &mut Uber, driver: DriverId, ts: u64) {
        let p = spot(driver);
        uber.driver_message(DriverMessage::Location {
            driver,
            ts,
            lat: p.lat(),
            lon: p.lon(),
        })
        .expect("a fresh, valid report");
    }

    /// A driver who logs off, and one who falls silent, stay in answers only
    /// until the first batch after the DLS drops them (dispatch skips them
    /// meanwhile); a booked driver leaves at once and comes back with the
    /// batch after the trip; the subscribed rider sees both go offline.
    #[test]
    fn offline_drivers_disappear_from_answers() {
        let cfg = Config::default();
        let mut uber = Uber::new(&cfg);
        uber.notifications.subscribe(99, paris());
        let req = RideRequest {
            rider: 99,
            at: paris(),
            k: 10,
            max_radius_m: 5_000.0,
        };
        let ids = |uber: &Uber| -> Vec<DriverId> {
            uber.nearby(&req)
                .unwrap()
                .into_iter()
                .map(|(d, _)| d)
                .collect()
        };
        for d in 0..6 {
            report(&mut uber, d, 0);
        }
        assert_eq!(
            ids(&uber),
            Vec::<DriverId>::new(),
            "nothing before the first batch"
        );
        uber.batch(0);
        let answer = uber.nearby(&req).unwrap();
        assert_eq!(
            answer.iter().map(|a| a.0).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 5]
        );
        for &(d, m) in &answer {
            assert!(
                (m - 100.0 * (d + 1) as f64).abs() < 1e-6,
                "driver {d} at {m} m"
            );
        }

        // Driver 0 logs off at 1 s; driver 1 never reports again.
        uber.driver_message(DriverMessage::LogOff { driver: 0, ts: SEC })
            .unwrap();
        assert_eq!(uber.dls.location(0), None);
        assert_eq!(
            ids(&uber),
            [0, 1, 2, 3, 4, 5],
            "the tree lags until the batch"
        );
        for d in 2..6 {
            report(&mut uber, d, 3 * SEC);
        }
        let answer = uber.nearby(&req).unwrap();
        assert_eq!(
            uber.book(&req, &answer, 4 * SEC),
            RideOutcome::Booked {
                driver: 2,
                metres: answer[2].1,
                skipped: 2
            },
            "0 is gone from the DLS, 1 has not reported for 4 s"
        );
        assert_eq!(
            ids(&uber),
            [0, 1, 3, 4, 5],
            "a booked driver leaves at once"
        );
        for t in [6, 9, 12, 15] {
            for d in 2..6 {
                report(&mut uber, d, t * SEC);
            }
            let expired = uber.expire(t * SEC);
            assert_eq!(expired, usize::from(t == 9), "at {t} s");
        }
        assert_eq!(
            uber.dls.location(1),
            None,
            "silent since 0 s, dropped at 9 s"
        );
        assert_eq!(ids(&uber), [0, 1, 3, 4, 5], "still the batch of 0 s");
        uber.trip_ended(2);
        uber.batch(15 * SEC);
        assert_eq!(ids(&uber), [2, 3, 4, 5]);
        assert_eq!(uber.dispatch.trips(), 0);

        let pushes = uber.notifications.unsubscribe(99).unwrap();
        let gone: Vec<(DriverId, u64)> = pushes
            .iter()
            .filter(|p| p.what == Seen::Gone)
            .map(|p| (p.driver, p.ts))
            .collect();
        assert_eq!(gone, [(0, SEC), (1, 9 * SEC)]);
        // 6 first reports and 4 drivers x 5 reports since.
        assert_eq!(pushes.len(), 2 + 6 + 4 * 5);
    }

    /// The DLS refuses what a phone cannot mean, with typed errors, and
    /// keeps what it held.
    #[test]
    fn bad_reports_are_refused() {
        let mut uber = Uber::new(&Config::default());
        report(&mut uber, 7, 5 * SEC);
        let held = uber.dls.location(7);
        let bad = |lat, lon, ts| DriverMessage::Location {
            driver: 7,
            ts,
            lat,
            lon,
        };
        assert!(matches!(
            uber.driver_message(bad(91.0, 2.0, 6 * SEC)),
            Err(ReportError::BadPosition(GeoError::InvalidLatitude(_)))
        ));
        assert!(matches!(
            uber.driver_message(bad(48.0, f64::NAN, 6 * SEC)),
            Err(ReportError::BadPosition(_))
        ));
        assert_eq!(
            uber.driver_message(bad(48.0, 2.0, 5 * SEC)),
            Err(ReportError::Stale {
                driver: 7,
                ts: 5 * SEC,
                latest: 5 * SEC
            })
        );
        assert_eq!(uber.dls.location(7), held);
        // Logging off a driver the DLS does not hold publishes nothing.
        assert_eq!(
            uber.dls.handle(DriverMessage::LogOff { driver: 8, ts: 0 }),
            Ok(None)
        );
        assert_eq!(uber.notifications.pushes, 0);
    }

    /// The run is deterministic, its DLS shards and trees add up, and its
    /// batches carry only real changes.
    #[test]
    fn runs_are_deterministic_and_add_up() {
        let cfg = Config {
            minutes: 2,
            ..small()
        };
        let a = run(&cfg);
        let b = run(&cfg);
        let key = |r: &Report| {
            (
                r.reports,
                r.batches,
                r.tree_updates,
                r.rides_booked,
                r.no_driver,
                r.pushes,
                r.sessions,
                r.drivers_per_dls_server.clone(),
                r.tree_drivers,
            )
        };
        assert_eq!(key(&a), key(&b));
        assert_eq!(a.batches, 2 * 60 / 15);
        assert_eq!(a.rejected, 0);
        let held: usize = a.drivers_per_dls_server.iter().sum();
        assert!(held > cfg.drivers / 2 && held <= cfg.drivers);
        assert!(
            a.drivers_per_dls_server.iter().all(|&n| n > held / 8),
            "{a:?}"
        );
        // Drivers on a trip keep reporting; the trees hold no one on a trip.
        assert!(a.trips_at_end > 0 && a.trips_at_end + a.tree_drivers <= cfg.drivers);
        let applied = a.tree_moves + a.tree_inserts + a.tree_removes;
        assert!(
            applied <= a.tree_updates && applied * 100 >= a.tree_updates * 99,
            "{a:?}"
        );
        assert!(a.table.to_string().contains("GeoNames"));
    }
}
