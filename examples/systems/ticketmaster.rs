//! TicketMaster: seats for film shows, held for five minutes while the user
//! pays, never sold twice (design notes, "TicketMaster").
//!
//! The notes' data model: "a city will have multiple cinemas and each cinema
//! will have multiple halls and each hall will have multiple shows; each show
//! is mapped to a movie". Their design: shard by show id ("to prevent movie id
//! hot sharding"); an ActiveReservationService keeps each show's on-hold
//! bookings in memory, `<ShowId, <BookingId, timestamp>>` in timestamp order,
//! drops a hold when its head is more than 5 minutes old and as soon as the
//! booking is confirmed, and stores each booking's status (reserved or booked)
//! in the database; a WaitingUserService keeps the waiting users of a show in
//! FIFO order and long-polls them when seats free up; booking runs as a
//! serializable transaction, a write lock taken while booking; the ELB sends a
//! show's requests to the same app servers by consistent hashing.
//!
//! The services, one struct each, and the messages between them:
//! - [`Catalog`]: city -> cinemas -> halls -> shows -> seats. The cities are
//!   the biggest of one country in `data/cities15000.csv` (GeoNames, CC BY
//!   4.0: credit "GeoNames"), cinemas per city by population.
//! - [`Gateway`] (the ELB and API gateway): takes a client's [`Request`],
//!   checks the user's rate limit ([`KeyedLimiter`], 429 with `Retry-After`
//!   as [`Response::RateLimited`]), and routes it by show id over a
//!   [`HashRing`] of app servers. Notifications for waiting users come back
//!   through it ([`Notify`], the answer to their long poll).
//! - [`AppServer`]: owns the shows the ring gives it. Each show's state sits
//!   behind one lock (the notes' serializable transaction: every hold, payment,
//!   cancel and sweep of a show runs one at a time, so two requests can never
//!   both see a seat free): its seat map, its slice of the
//!   [`ActiveReservationService`] (holds in an [`ExpiryMap`], 5 minutes, in
//!   deadline order), its slice of the [`WaitingUserService`] (FIFO waiters),
//!   and two [`IdempotencyCache`]s keyed by the client's reservation id, so a
//!   repeated click on "hold" or "pay" gets the first click's answer and books
//!   once. A sweep every second releases the seats of holds that ran out and
//!   hands freed seats to the head of the waiting queue.
//! - [`ReservationsStore`] (the database: booking id -> status Reserved,
//!   Booked, Cancelled or Expired) and [`PaymentsStore`] (charges, idempotent
//!   by booking id): the two stores a booking spans. A payment is a Saga:
//!   T1 hold the seats (a Reserved row), T2 charge the card, T3 mark it Booked
//!   and drop the hold; if the charge fails, the compensation C1 releases the
//!   seats (and a charge that lands after the hold ran out is refunded).
//!
//! Three parts run:
//! 1. A booking day, deterministic on a simulated clock: users of the cities
//!    arrive, look at a show's seat map, pick seats (the best block, or any),
//!    hold, and pay, abandon, pay too late, cancel, or pay with a declined
//!    card; some click twice; sold-out shows queue their users, who give up
//!    after a while; refresh bots hammer the hot show and meet the gateway's
//!    limit. Every answer a client gets goes into a [`Ledger`], the clients'
//!    own record, and at the end the ledger is checked against the stores.
//! 2. A rush on threads: many threads book the hottest shows at once through
//!    the same gateway, with duplicate clicks arriving from another thread,
//!    and the per-show lock is all that keeps a seat from being sold twice.
//! 3. A drill, Saga beside two-phase commit (2PC), message by message on a
//!    simulated network, with the payments store down, the reservations store
//!    down, or the coordinator down: messages per booking, seats locked by
//!    bookings that fail, and how long a participant is blocked in doubt.
//!    What it shows: a Saga booking is three round trips in turn (6
//!    messages), 2PC two rounds to both stores (8); with a store down both
//!    fail the bookings after the timeout, but the Saga must retry its
//!    compensations (refund, release) until the store is back, while 2PC's
//!    presumed abort sends the silent store one abort; with the coordinator
//!    down, 2PC's prepared stores hold seats and card authorisations for the
//!    whole outage and cannot decide alone, while the Saga's holds are
//!    committed with a deadline and the reservations store releases them
//!    after 5 minutes (its `ExpiryMap`), whatever the coordinator does.
//!
//! Past one machine: the gateway is an Envoy or NGINX tier whose upstream
//! choice is the same ring (`HashRing` placement is a stable XXH3 hash, so
//! every gateway agrees on a show's app server); the per-user limit lives in
//! Redis when several gateways share it (each key's state is one integer, the
//! GCRA theoretical arrival time, one compare-and-set per request). The
//! reservations store is PostgreSQL or MySQL with a row per seat per show and
//! `SELECT ... FOR UPDATE` (or SERIALIZABLE) as the write lock, and the
//! in-memory holds are a cache of its Reserved rows with their deadlines: an
//! app server that restarts rebuilds its `ExpiryMap` from them (entries are a
//! booking id and a `u64` deadline). The idempotency records go to Redis
//! (`SET key value NX PX ttl`) so a retried click that reaches another app
//! server after a failover still gets the first answer. Waiting users hold a
//! long poll or a websocket on the gateway; the freed-seat event travels from
//! the show's app server to the gateway holding the user's connection. The
//! payments store is the payment provider's API with an `Idempotency-Key`
//! header (the booking id). Saga steps and their compensations run from a
//! durable log (a Kafka topic or an outbox table); 2PC would need XA
//! transactions across the two databases and a coordinator that must not be
//! lost. Every core here is sans-I/O and takes `now` in nanoseconds, so the
//! same code runs behind real timers.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hld::consistent_hash::{self, stable_hash, HashRing, DEFAULT_VNODES};
use hld::lru_feed::{self, Begin, ExpiryMap, IdempotencyCache};
use hld::ratelimit::{self, Backoff, KeyedLimiter, Quota};

use crate::common::{lock, micros, per_second, percentile, timed, Rng, Table, Zipf};

/// A show (one screening of one movie in one hall); its index in [`Catalog::shows`].
pub type ShowId = u32;
/// A movie.
pub type MovieId = u32;
/// A seat of a show's hall: `row * seats_per_row + column`.
pub type SeatNo = u16;
/// A user.
pub type UserId = u32;
/// A booking: a Reserved row in the reservations store.
pub type BookingId = u64;
/// The client's idempotency key for one action (a hold, a payment).
pub type ReservationId = u64;
/// An app server.
pub type ServerId = u32;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000 * MS;
const MIN: u64 = 60 * SEC;

/// Most seats in one booking.
pub const MAX_SEATS_PER_BOOKING: usize = 8;

/// The workload's knobs.
#[derive(Clone, Debug)]
pub struct Config {
    /// GeoNames country code whose biggest cities get cinemas.
    pub country: String,
    /// How many of its cities.
    pub cities: usize,
    /// One cinema per this many inhabitants (at least one a city).
    pub people_per_cinema: u64,
    /// Most cinemas in one city.
    pub max_cinemas: usize,
    /// Halls per cinema: from, to (inclusive).
    pub halls: (usize, usize),
    /// Rows per hall: from, to.
    pub rows: (u16, u16),
    /// Seats per row: from, to.
    pub seats_per_row: (u16, u16),
    /// Shows per hall.
    pub shows_per_hall: usize,
    /// Movies playing.
    pub movies: usize,
    /// Zipf exponent of how many shows a movie gets.
    pub supply_skew: f64,
    /// Zipf exponent of which movie a user wants (above the supply: the hit sells out).
    pub demand_skew: f64,
    /// App servers on the ring.
    pub app_servers: u32,
    /// Users who come to book.
    pub users: usize,
    /// Simulated time over which they arrive.
    pub span_ms: u64,
    /// How long a hold lasts (the notes' 5 minutes).
    pub hold_ms: u64,
    /// How long an idempotency record answers repeated clicks.
    pub click_memory_ms: u64,
    /// App servers sweep expired holds this often.
    pub sweep_ms: u64,
    /// Gateway limit per user: requests per minute...
    pub per_user_per_minute: u32,
    /// ...in bursts of at most this many.
    pub per_user_burst: u32,
    /// Refresh bots hammering the hottest show.
    pub bots: usize,
    /// A bot asks for the seat map this often.
    pub bot_every_ms: u64,
    /// For this long.
    pub bot_for_ms: u64,
    /// Share of users who hold seats and never pay.
    pub abandon_share: f64,
    /// Share who pay after the hold ran out.
    pub late_share: f64,
    /// Share who cancel their hold.
    pub cancel_share: f64,
    /// Share of cards the payment provider declines.
    pub decline_share: f64,
    /// Share of holds and payments clicked twice (same reservation id).
    pub double_click_share: f64,
    /// Share of users who join the waiting list when the show looks full.
    pub wait_share: f64,
    /// A waiter gives up after up to this long.
    pub max_patience_ms: u64,
    /// Share of users who pick the best block of seats (the rest pick any).
    pub best_block_share: f64,
    /// Threads in the rush.
    pub rush_threads: usize,
    /// Users in the rush.
    pub rush_users: usize,
    /// Hot shows they all want.
    pub rush_shows: usize,
    /// The Saga / 2PC drill.
    pub drill: DrillConfig,
    /// Seed of everything random (runs are deterministic but for the rush's
    /// thread interleaving).
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            country: "IN".into(),
            cities: 8,
            people_per_cinema: 2_500_000,
            max_cinemas: 6,
            halls: (2, 4),
            rows: (6, 12),
            seats_per_row: (10, 18),
            shows_per_hall: 4,
            movies: 12,
            supply_skew: 0.6,
            demand_skew: 1.1,
            app_servers: 8,
            users: 30_000,
            span_ms: 2 * 60 * 60 * 1_000,
            hold_ms: 5 * 60 * 1_000,
            click_memory_ms: 10 * 60 * 1_000,
            sweep_ms: 1_000,
            per_user_per_minute: 20,
            per_user_burst: 10,
            bots: 4,
            bot_every_ms: 100,
            bot_for_ms: 10 * 60 * 1_000,
            abandon_share: 0.12,
            late_share: 0.03,
            cancel_share: 0.03,
            decline_share: 0.05,
            double_click_share: 0.10,
            wait_share: 0.7,
            max_patience_ms: 30 * 60 * 1_000,
            best_block_share: 0.6,
            rush_threads: 4,
            rush_users: 20_000,
            rush_shows: 8,
            drill: DrillConfig::default(),
            seed: 10,
        }
    }
}

// ---------------------------------------------------------------------------
// The catalog: city -> cinemas -> halls -> shows -> seats.

/// A city (from GeoNames).
#[derive(Clone, Debug)]
pub struct City {
    /// Its name.
    pub name: String,
    /// Its population.
    pub population: u64,
    /// Its cinemas (indices into [`Catalog::cinemas`]).
    pub cinemas: Vec<usize>,
}

/// A cinema.
#[derive(Clone, Debug)]
pub struct Cinema {
    /// Its city.
    pub city: usize,
    /// Its name.
    pub name: String,
    /// Its halls (indices into [`Catalog::halls`]).
    pub halls: Vec<usize>,
}

/// A hall: a grid of seats.
#[derive(Clone, Debug)]
pub struct Hall {
    /// Its cinema.
    pub cinema: usize,
    /// Rows of seats.
    pub rows: u16,
    /// Seats per row.
    pub per_row: u16,
    /// Its shows.
    pub shows: Vec<ShowId>,
}

/// A show: one movie in one hall at one time.
#[derive(Clone, Debug)]
pub struct Show {
    /// Its hall.
    pub hall: usize,
    /// Its movie (0 is the most wanted).
    pub movie: MovieId,
    /// Price of a seat, in cents.
    pub price_cents: u64,
}

/// Cities, cinemas, halls, shows.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// The cities, biggest first.
    pub cities: Vec<City>,
    /// The cinemas.
    pub cinemas: Vec<Cinema>,
    /// The halls.
    pub halls: Vec<Hall>,
    /// The shows, indexed by [`ShowId`].
    pub shows: Vec<Show>,
    /// Movies playing.
    pub movies: usize,
}

impl Catalog {
    /// Builds the catalog over the `cfg.cities` biggest cities of `cfg.country`.
    pub fn build(cfg: &Config, rng: &mut Rng) -> Catalog {
        let supply = Zipf::new(cfg.movies.max(1), cfg.supply_skew);
        let mut cat = Catalog {
            movies: cfg.movies.max(1),
            ..Catalog::default()
        };
        for (name, population) in biggest_cities(&cfg.country, cfg.cities) {
            let city = cat.cities.len();
            let n =
                (1 + population / cfg.people_per_cinema.max(1)).min(cfg.max_cinemas.max(1) as u64);
            let mut cinemas = Vec::new();
            for c in 0..n {
                let cinema = cat.cinemas.len();
                let mut halls = Vec::new();
                for _ in 0..rng.between(cfg.halls.0, cfg.halls.1) {
                    let hall = cat.halls.len();
                    let rows = rng.between(cfg.rows.0 as usize, cfg.rows.1 as usize) as u16;
                    let per_row = rng
                        .between(cfg.seats_per_row.0 as usize, cfg.seats_per_row.1 as usize)
                        as u16;
                    let mut shows = Vec::new();
                    for _ in 0..cfg.shows_per_hall {
                        shows.push(cat.shows.len() as ShowId);
                        cat.shows.push(Show {
                            hall,
                            movie: supply.rank(rng.float_nonzero()) as MovieId,
                            price_cents: 800 + 100 * rng.below(8) as u64,
                        });
                    }
                    cat.halls.push(Hall {
                        cinema,
                        rows: rows.max(1),
                        per_row: per_row.max(1),
                        shows,
                    });
                    halls.push(hall);
                }
                cat.cinemas.push(Cinema {
                    city,
                    name: format!("{name} Screens {}", c + 1),
                    halls,
                });
                cinemas.push(cinema);
            }
            cat.cities.push(City {
                name,
                population,
                cinemas,
            });
        }
        cat
    }

    /// The hall of a show.
    pub fn hall(&self, show: ShowId) -> &Hall {
        &self.halls[self.shows[show as usize].hall]
    }

    /// Seats of a show.
    pub fn seats(&self, show: ShowId) -> usize {
        let h = self.hall(show);
        h.rows as usize * h.per_row as usize
    }

    /// Seats of every show together, walking city -> cinemas -> halls -> shows.
    pub fn total_seats(&self) -> usize {
        self.cities
            .iter()
            .flat_map(|c| &c.cinemas)
            .flat_map(|&c| &self.cinemas[c].halls)
            .flat_map(|&h| &self.halls[h].shows)
            .map(|&s| self.seats(s))
            .sum()
    }

    /// Where a show plays: "city / cinema / hall n".
    pub fn place(&self, show: ShowId) -> String {
        let h = self.shows[show as usize].hall;
        let cinema = &self.cinemas[self.halls[h].cinema];
        let n = cinema.halls.iter().position(|&x| x == h).unwrap_or(0) + 1;
        format!(
            "{} / {} / hall {n}",
            self.cities[cinema.city].name, cinema.name
        )
    }

    /// The city of a show.
    pub fn city_of(&self, show: ShowId) -> usize {
        self.cinemas[self.hall(show).cinema].city
    }
}

/// The `n` most populous cities of `country` in `data/cities15000.csv`.
fn biggest_cities(country: &str, n: usize) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = include_str!("../../data/cities15000.csv")
        .lines()
        .skip(1)
        .filter_map(|line| {
            // geonameid,name,latitude,longitude,countrycode,population; a
            // name with a comma is quoted, so split the last five off the right.
            let mut f = line.rsplitn(5, ',');
            let population = f.next()?.parse().ok()?;
            let cc = f.next()?;
            f.next()?;
            f.next()?;
            let name = f.next()?.split_once(',')?.1.trim_matches('"');
            (cc == country).then(|| (name.to_string(), population))
        })
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out.truncate(n);
    out
}

// ---------------------------------------------------------------------------
// Messages between clients, the gateway and the app servers.

/// A seat of one show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seat {
    /// Anyone may hold it.
    Free,
    /// Held for a booking that is not paid yet.
    Held(BookingId),
    /// Sold to a booking.
    Sold(BookingId),
}

/// A card as the payment provider sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Card {
    /// Charges go through.
    Good,
    /// Charges are declined.
    Declined,
}

/// What a client sends (through the gateway).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// The free seats of a show and how many users wait for it.
    SeatMap {
        /// Who asks.
        user: UserId,
        /// Which show.
        show: ShowId,
    },
    /// Hold these seats for five minutes.
    Hold {
        /// The click's idempotency key: a repeated click sends the same one.
        rid: ReservationId,
        /// Who holds.
        user: UserId,
        /// Which show.
        show: ShowId,
        /// Which seats.
        seats: Vec<SeatNo>,
    },
    /// Pay for a held booking: the Saga.
    Pay {
        /// The click's idempotency key.
        rid: ReservationId,
        /// Who pays (must hold the booking).
        user: UserId,
        /// The booking's show.
        show: ShowId,
        /// The booking.
        booking: BookingId,
        /// The card.
        card: Card,
    },
    /// Give a held booking back.
    Cancel {
        /// Who cancels (must hold it).
        user: UserId,
        /// The booking's show.
        show: ShowId,
        /// The booking.
        booking: BookingId,
    },
    /// Join the show's waiting list for `want` seats (long poll).
    Wait {
        /// Who waits.
        user: UserId,
        /// Which show.
        show: ShowId,
        /// How many seats.
        want: u16,
    },
    /// Leave the waiting list.
    Leave {
        /// Who leaves.
        user: UserId,
        /// Which show.
        show: ShowId,
    },
}

impl Request {
    /// The user who sent it (the gateway's rate-limit key).
    pub fn user(&self) -> UserId {
        match *self {
            Request::SeatMap { user, .. }
            | Request::Hold { user, .. }
            | Request::Pay { user, .. }
            | Request::Cancel { user, .. }
            | Request::Wait { user, .. }
            | Request::Leave { user, .. } => user,
        }
    }

    /// The show it is about (the routing key).
    pub fn show(&self) -> ShowId {
        match *self {
            Request::SeatMap { show, .. }
            | Request::Hold { show, .. }
            | Request::Pay { show, .. }
            | Request::Cancel { show, .. }
            | Request::Wait { show, .. }
            | Request::Leave { show, .. } => show,
        }
    }
}

/// What the client gets back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// The free seats, and how many users wait.
    SeatMap {
        /// Free seats, ascending.
        free: Vec<SeatNo>,
        /// Users on the waiting list.
        waiting: usize,
    },
    /// The seats are held for this booking until `expires_at`.
    Held {
        /// The booking.
        booking: BookingId,
        /// Its seats.
        seats: Vec<SeatNo>,
        /// When the hold runs out.
        expires_at: u64,
    },
    /// One of the seats is held or sold already.
    SeatsTaken,
    /// Users are waiting for this show: join the queue behind them.
    QueueAhead {
        /// How many.
        waiting: usize,
    },
    /// On the waiting list at this position (1 is next).
    Waiting {
        /// Position in the queue.
        position: usize,
    },
    /// Paid: the seats are sold to this booking.
    Booked {
        /// The booking.
        booking: BookingId,
        /// Its seats.
        seats: Vec<SeatNo>,
    },
    /// The charge was declined; the seats were released (the compensation).
    PaymentFailed {
        /// The booking.
        booking: BookingId,
    },
    /// The hold ran out before the payment; nothing was charged, or it was refunded.
    HoldExpired {
        /// The booking.
        booking: BookingId,
    },
    /// The hold was given back.
    Cancelled {
        /// The booking.
        booking: BookingId,
    },
    /// Off the waiting list.
    Left,
    /// Was not on the waiting list.
    NotWaiting,
    /// The same click is being processed: wait for its answer.
    InProgress,
    /// 429: too many requests from this user.
    RateLimited {
        /// When to retry (`Retry-After`).
        retry_after_ns: u64,
    },
    /// The reservation id was used for another request (the idempotency
    /// cache's typed error).
    Conflict(lru_feed::Error),
    /// The request makes no sense (no such seat, not your booking...).
    BadRequest(&'static str),
    /// No such show.
    UnknownShow,
}

/// A waiting user's long poll answered: seats are held for them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notify {
    /// The waiter.
    pub user: UserId,
    /// The show.
    pub show: ShowId,
    /// The booking made for them.
    pub booking: BookingId,
    /// Its seats.
    pub seats: Vec<SeatNo>,
    /// When the hold runs out.
    pub expires_at: u64,
}

// ---------------------------------------------------------------------------
// The two stores a booking spans.

/// A booking's status in the reservations store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Seats held, not paid.
    Reserved,
    /// Paid: the seats are sold.
    Booked,
    /// Given back, or the payment failed.
    Cancelled,
    /// The hold ran out.
    Expired,
}

/// A row of the reservations store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookingRow {
    /// Who booked.
    pub user: UserId,
    /// The show.
    pub show: ShowId,
    /// The seats.
    pub seats: Vec<SeatNo>,
    /// The hold click's reservation id (none for a waiting-list hold).
    pub rid: Option<ReservationId>,
    /// Its status.
    pub status: Status,
}

const STORE_SHARDS: usize = 16;

/// The reservations database: booking id -> row (sharded by booking id, as a
/// real one would partition).
pub struct ReservationsStore {
    next: AtomicU64,
    shards: Vec<Mutex<HashMap<BookingId, BookingRow>>>,
}

impl ReservationsStore {
    fn new() -> ReservationsStore {
        ReservationsStore {
            next: AtomicU64::new(1),
            shards: (0..STORE_SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    fn shard(&self, b: BookingId) -> MutexGuard<'_, HashMap<BookingId, BookingRow>> {
        lock(&self.shards[b as usize % STORE_SHARDS])
    }

    /// Inserts a Reserved row; returns its new booking id.
    fn insert(&self, row: BookingRow) -> BookingId {
        let b = self.next.fetch_add(1, Ordering::Relaxed);
        self.shard(b).insert(b, row);
        b
    }

    /// Moves a Reserved row to `status`; a row already out of Reserved stays.
    fn finish(&self, b: BookingId, status: Status) -> bool {
        match self.shard(b).get_mut(&b) {
            Some(row) if row.status == Status::Reserved => {
                row.status = status;
                true
            }
            _ => false,
        }
    }

    /// A booking's row.
    pub fn row(&self, b: BookingId) -> Option<BookingRow> {
        self.shard(b).get(&b).cloned()
    }

    /// Every row.
    pub fn rows(&self) -> HashMap<BookingId, BookingRow> {
        let mut out = HashMap::new();
        for s in &self.shards {
            out.extend(lock(s).iter().map(|(k, v)| (*k, v.clone())));
        }
        out
    }
}

/// A payment's state at the provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentStatus {
    /// The money was taken.
    Captured,
    /// The card was declined.
    Declined,
    /// Taken, then given back (a Saga compensation).
    Refunded,
}

/// A row of the payments store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaymentRow {
    /// Amount, cents.
    pub amount_cents: u64,
    /// Its state.
    pub status: PaymentStatus,
    /// Times money actually moved in (must never exceed 1).
    pub captures: u32,
}

/// The payment provider: charges are idempotent by booking id (its
/// `Idempotency-Key`), so a retried charge never takes the money twice.
pub struct PaymentsStore {
    shards: Vec<Mutex<HashMap<BookingId, PaymentRow>>>,
}

impl PaymentsStore {
    fn new() -> PaymentsStore {
        PaymentsStore {
            shards: (0..STORE_SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// Charges `amount` for `booking`; true if the money was (or already had
    /// been) captured.
    fn charge(&self, booking: BookingId, amount_cents: u64, card: Card) -> bool {
        let mut s = lock(&self.shards[booking as usize % STORE_SHARDS]);
        let row = s.entry(booking).or_insert_with(|| PaymentRow {
            amount_cents,
            status: match card {
                Card::Good => PaymentStatus::Captured,
                Card::Declined => PaymentStatus::Declined,
            },
            captures: u32::from(card == Card::Good),
        });
        row.status == PaymentStatus::Captured
    }

    /// Gives a captured charge back.
    fn refund(&self, booking: BookingId) {
        let mut s = lock(&self.shards[booking as usize % STORE_SHARDS]);
        if let Some(row) = s.get_mut(&booking) {
            if row.status == PaymentStatus::Captured {
                row.status = PaymentStatus::Refunded;
            }
        }
    }

    /// Every row.
    pub fn rows(&self) -> HashMap<BookingId, PaymentRow> {
        let mut out = HashMap::new();
        for s in &self.shards {
            out.extend(lock(s).iter().map(|(k, v)| (*k, *v)));
        }
        out
    }
}

// ---------------------------------------------------------------------------
// The app server's per-show services.

/// A hold: seats kept for a user until its deadline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// Who holds.
    pub user: UserId,
    /// The seats.
    pub seats: Vec<SeatNo>,
    /// A payment for it is running (no second payment, no cancel meanwhile).
    pub paying: bool,
}

/// One show's on-hold bookings in deadline order: the notes'
/// `<BookingId, timestamp>` map of one show id, as an [`ExpiryMap`]. A
/// confirmed booking leaves at once; a sweep takes the holds whose five
/// minutes are up, oldest first, at a cost proportional to what expires.
pub struct ActiveReservationService {
    holds: ExpiryMap<BookingId, Hold>,
}

impl ActiveReservationService {
    fn new() -> ActiveReservationService {
        ActiveReservationService {
            holds: ExpiryMap::new(),
        }
    }

    fn hold(&mut self, booking: BookingId, hold: Hold, deadline: u64) {
        self.holds.insert(booking, hold, deadline);
    }

    /// The hold of `booking` if it has not run out at `now`.
    fn live(&self, booking: BookingId, now: u64) -> Option<&Hold> {
        self.holds.get_live(&booking, now)
    }

    fn live_mut(&mut self, booking: BookingId, now: u64) -> Option<&mut Hold> {
        match self.holds.deadline(&booking) {
            Some(d) if d > now => self.holds.get_mut(&booking),
            _ => None,
        }
    }

    /// Removes a hold (confirmed, cancelled, or its payment failed).
    fn remove(&mut self, booking: BookingId) -> Option<Hold> {
        self.holds.remove(&booking)
    }

    /// The holds that ran out at `now`, oldest first.
    fn expire(&mut self, now: u64) -> Vec<(BookingId, Hold)> {
        self.holds.expire(now)
    }

    fn due(&self, now: u64) -> bool {
        self.holds.next_deadline().is_some_and(|d| d <= now)
    }

    /// Holds kept.
    pub fn len(&self) -> usize {
        self.holds.len()
    }
}

/// A user on a waiting list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiter {
    /// Who.
    pub user: UserId,
    /// Seats wanted.
    pub want: u16,
}

/// One show's waiting users in FIFO order: the notes' linked hash map, as an
/// ordered map by arrival number plus an index by user, so leaving is
/// O(log n) and the head is first.
pub struct WaitingUserService {
    next: u64,
    queue: BTreeMap<u64, Waiter>,
    by_user: HashMap<UserId, u64>,
}

impl WaitingUserService {
    fn new() -> WaitingUserService {
        WaitingUserService {
            next: 0,
            queue: BTreeMap::new(),
            by_user: HashMap::new(),
        }
    }

    /// Adds `user` at the tail (or keeps its place); returns its position (1 is next).
    fn join(&mut self, user: UserId, want: u16) -> usize {
        let seq = *self.by_user.entry(user).or_insert_with(|| {
            let s = self.next;
            self.next += 1;
            self.queue.insert(s, Waiter { user, want });
            s
        });
        self.queue.range(..=seq).count()
    }

    fn leave(&mut self, user: UserId) -> bool {
        match self.by_user.remove(&user) {
            Some(seq) => self.queue.remove(&seq).is_some(),
            None => false,
        }
    }

    fn head(&self) -> Option<Waiter> {
        self.queue.first_key_value().map(|(_, w)| *w)
    }

    fn pop(&mut self) -> Option<Waiter> {
        let (_, w) = self.queue.pop_first()?;
        self.by_user.remove(&w.user);
        Some(w)
    }

    /// Users waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// Everything an app server keeps for one show, behind the show's lock.
struct ShowDesk {
    show: ShowId,
    rows: u16,
    per_row: u16,
    price_cents: u64,
    seats: Vec<Seat>,
    free: usize,
    active: ActiveReservationService,
    waiting: WaitingUserService,
    hold_clicks: IdempotencyCache<ReservationId, Response>,
    pay_clicks: IdempotencyCache<ReservationId, Response>,
}

impl ShowDesk {
    fn free_list(&self) -> Vec<SeatNo> {
        (0..self.seats.len())
            .filter(|&i| self.seats[i] == Seat::Free)
            .map(|i| i as SeatNo)
            .collect()
    }

    fn take(&mut self, seats: &[SeatNo], booking: BookingId) {
        for &s in seats {
            debug_assert_eq!(self.seats[s as usize], Seat::Free);
            self.seats[s as usize] = Seat::Held(booking);
        }
        self.free -= seats.len();
    }

    fn release(&mut self, seats: &[SeatNo], booking: BookingId) {
        for &s in seats {
            if self.seats[s as usize] == Seat::Held(booking) {
                self.seats[s as usize] = Seat::Free;
                self.free += 1;
            }
        }
    }

    fn sell(&mut self, seats: &[SeatNo], booking: BookingId) {
        for &s in seats {
            debug_assert_eq!(self.seats[s as usize], Seat::Held(booking));
            self.seats[s as usize] = Seat::Sold(booking);
        }
    }

    /// T1 of the Saga: hold the seats (a Reserved row and a 5-minute hold).
    fn try_hold(
        &mut self,
        rid: ReservationId,
        user: UserId,
        seats: &[SeatNo],
        now: u64,
        ttl: u64,
        store: &ReservationsStore,
    ) -> Response {
        if seats.is_empty() || seats.len() > MAX_SEATS_PER_BOOKING {
            return Response::BadRequest("a booking has 1 to 8 seats");
        }
        if seats.iter().any(|&s| s as usize >= self.seats.len()) {
            return Response::BadRequest("no such seat");
        }
        let mut sorted = seats.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != seats.len() {
            return Response::BadRequest("a seat twice");
        }
        // Strict FIFO: while users wait, freed seats are theirs.
        if !self.waiting.is_empty() {
            return Response::QueueAhead {
                waiting: self.waiting.len(),
            };
        }
        if seats.iter().any(|&s| self.seats[s as usize] != Seat::Free) {
            return Response::SeatsTaken;
        }
        let booking = store.insert(BookingRow {
            user,
            show: self.show,
            seats: seats.to_vec(),
            rid: Some(rid),
            status: Status::Reserved,
        });
        self.take(seats, booking);
        let expires_at = now + ttl;
        self.active.hold(
            booking,
            Hold {
                user,
                seats: seats.to_vec(),
                paying: false,
            },
            expires_at,
        );
        Response::Held {
            booking,
            seats: seats.to_vec(),
            expires_at,
        }
    }

    /// Hands free seats to the head of the waiting list while the head's
    /// wish fits (and stops at the first that does not: nobody overtakes).
    fn serve_waiters(&mut self, now: u64, ttl: u64, store: &ReservationsStore) -> Vec<Notify> {
        let mut out = Vec::new();
        while let Some(w) = self.waiting.head() {
            if w.want as usize > self.free {
                break;
            }
            self.waiting.pop();
            let seats = best_block(
                |i| self.seats[i] == Seat::Free,
                self.rows,
                self.per_row,
                w.want,
            )
            .unwrap_or_else(|| self.free_list()[..w.want as usize].to_vec());
            let booking = store.insert(BookingRow {
                user: w.user,
                show: self.show,
                seats: seats.clone(),
                rid: None,
                status: Status::Reserved,
            });
            self.take(&seats, booking);
            let expires_at = now + ttl;
            self.active.hold(
                booking,
                Hold {
                    user: w.user,
                    seats: seats.clone(),
                    paying: false,
                },
                expires_at,
            );
            out.push(Notify {
                user: w.user,
                show: self.show,
                booking,
                seats,
                expires_at,
            });
        }
        out
    }
}

/// The best block of `want` adjacent free seats: rows from two-thirds back
/// (the best view) outwards, the block nearest the middle of the row.
fn best_block(
    is_free: impl Fn(usize) -> bool,
    rows: u16,
    per_row: u16,
    want: u16,
) -> Option<Vec<SeatNo>> {
    let (rows, per_row, want) = (rows as usize, per_row as usize, want as usize);
    if want == 0 || want > per_row {
        return None;
    }
    let sweet = rows * 2 / 3;
    let mut order: Vec<usize> = (0..rows).collect();
    order.sort_by_key(|&r| (r.abs_diff(sweet), r));
    for r in order {
        let mut best: Option<usize> = None;
        let mut run = 0;
        for c in 0..per_row {
            run = if is_free(r * per_row + c) { run + 1 } else { 0 };
            if run >= want {
                let start = c + 1 - want;
                let off = |s: usize| (2 * s + want).abs_diff(per_row);
                if best.is_none_or(|b| off(start) < off(b)) {
                    best = Some(start);
                }
            }
        }
        if let Some(start) = best {
            return Some(
                (start..start + want)
                    .map(|c| (r * per_row + c) as SeatNo)
                    .collect(),
            );
        }
    }
    None
}

/// A stable fingerprint of a request's body, for the idempotency caches.
fn fingerprint(parts: &[u64]) -> u64 {
    stable_hash(parts, 0x7106_7e75)
}

/// An app server: the shows the ring gives it, each behind its own lock.
pub struct AppServer {
    desks: BTreeMap<ShowId, Mutex<ShowDesk>>,
    hold_ttl: u64,
    outbox: Mutex<Vec<Notify>>,
    handled: AtomicU64,
}

impl AppServer {
    /// Shows it owns.
    pub fn shows(&self) -> impl Iterator<Item = ShowId> + '_ {
        self.desks.keys().copied()
    }

    /// Requests it handled.
    pub fn handled(&self) -> u64 {
        self.handled.load(Ordering::Relaxed)
    }

    fn handle(
        &self,
        req: Request,
        now: u64,
        store: &ReservationsStore,
        payments: &PaymentsStore,
    ) -> Response {
        let Some(desk) = self.desks.get(&req.show()) else {
            return Response::UnknownShow;
        };
        self.handled.fetch_add(1, Ordering::Relaxed);
        let ttl = self.hold_ttl;
        match req {
            Request::SeatMap { .. } => {
                let d = lock(desk);
                Response::SeatMap {
                    free: d.free_list(),
                    waiting: d.waiting.len(),
                }
            }
            Request::Hold {
                rid,
                user,
                show,
                seats,
            } => {
                let mut fp = vec![u64::from(user), u64::from(show)];
                fp.extend(seats.iter().map(|&s| u64::from(s)));
                let mut d = lock(desk);
                match d.hold_clicks.begin(rid, fingerprint(&fp), now) {
                    Err(e) => return Response::Conflict(e),
                    Ok(Begin::Done(r)) => return r.clone(),
                    Ok(Begin::InFlight) => return Response::InProgress,
                    Ok(Begin::Started) => {}
                }
                let r = d.try_hold(rid, user, &seats, now, ttl, store);
                d.hold_clicks
                    .complete(&rid, r.clone(), now)
                    .expect("begun above under the same lock");
                r
            }
            Request::Pay {
                rid,
                user,
                booking,
                card,
                ..
            } => self.pay(desk, rid, user, booking, card, now, store, payments),
            Request::Cancel { user, booking, .. } => {
                let mut d = lock(desk);
                match d.active.live(booking, now) {
                    Some(h) if h.user == user && !h.paying => {
                        let h = d.active.remove(booking).expect("live above");
                        d.release(&h.seats, booking);
                        store.finish(booking, Status::Cancelled);
                        let notes = d.serve_waiters(now, ttl, store);
                        lock(&self.outbox).extend(notes);
                        Response::Cancelled { booking }
                    }
                    Some(h) if h.user == user => Response::InProgress,
                    _ => Response::BadRequest("no live hold of yours"),
                }
            }
            Request::Wait { user, want, .. } => {
                let mut d = lock(desk);
                if want == 0 || want as usize > MAX_SEATS_PER_BOOKING || want > d.per_row {
                    return Response::BadRequest("a booking has 1 to 8 seats");
                }
                let position = d.waiting.join(user, want);
                let notes = d.serve_waiters(now, ttl, store);
                lock(&self.outbox).extend(notes);
                Response::Waiting { position }
            }
            Request::Leave { user, .. } => {
                let mut d = lock(desk);
                if !d.waiting.leave(user) {
                    return Response::NotWaiting;
                }
                // The head may have changed to a waiter whose wish fits.
                let notes = d.serve_waiters(now, ttl, store);
                lock(&self.outbox).extend(notes);
                Response::Left
            }
        }
    }

    /// The Saga of one payment: T1 (the hold) is done; T2 charges the card
    /// outside the show's lock (the payments store is another machine), T3
    /// confirms under the lock; a declined charge runs the compensation,
    /// releasing the seats to the waiting list, and a charge whose hold is
    /// gone is refunded.
    #[allow(clippy::too_many_arguments)]
    fn pay(
        &self,
        desk: &Mutex<ShowDesk>,
        rid: ReservationId,
        user: UserId,
        booking: BookingId,
        card: Card,
        now: u64,
        store: &ReservationsStore,
        payments: &PaymentsStore,
    ) -> Response {
        let fp = fingerprint(&[u64::from(user), booking, card as u64]);
        let amount = {
            let mut d = lock(desk);
            match d.pay_clicks.begin(rid, fp, now) {
                Err(e) => return Response::Conflict(e),
                Ok(Begin::Done(r)) => return r.clone(),
                Ok(Begin::InFlight) => return Response::InProgress,
                Ok(Begin::Started) => {}
            }
            let price = d.price_cents;
            let refused = match d.active.live_mut(booking, now) {
                Some(h) if h.user == user && !h.paying => {
                    h.paying = true;
                    None
                }
                Some(h) if h.user == user => Some(Response::InProgress),
                Some(_) => Some(Response::BadRequest("not your booking")),
                None => Some(match store.row(booking) {
                    Some(row) if row.user == user => match row.status {
                        Status::Reserved | Status::Expired => Response::HoldExpired { booking },
                        Status::Booked => Response::BadRequest("already paid"),
                        Status::Cancelled => Response::BadRequest("cancelled"),
                    },
                    _ => Response::BadRequest("no such booking"),
                }),
            };
            if let Some(r) = refused {
                if r == Response::InProgress {
                    // Another payment of this booking runs: this click may
                    // be retried, so its key is not kept.
                    d.pay_clicks
                        .abandon(&rid)
                        .expect("begun above under the same lock");
                } else {
                    d.pay_clicks
                        .complete(&rid, r.clone(), now)
                        .expect("begun above under the same lock");
                }
                return r;
            }
            let seats = d.active.live(booking, now).map_or(0, |h| h.seats.len());
            price * seats as u64
        };
        // T2, with no lock held: other users keep booking this show meanwhile.
        let captured = payments.charge(booking, amount, card);
        let mut d = lock(desk);
        let r = match d.active.remove(booking) {
            Some(h) if captured => {
                // T3: sold; the hold leaves the map at once.
                d.sell(&h.seats, booking);
                store.finish(booking, Status::Booked);
                Response::Booked {
                    booking,
                    seats: h.seats,
                }
            }
            Some(h) => {
                // C1: the charge failed, so the seats go back.
                d.release(&h.seats, booking);
                store.finish(booking, Status::Cancelled);
                let notes = d.serve_waiters(now, self.hold_ttl, store);
                lock(&self.outbox).extend(notes);
                Response::PaymentFailed { booking }
            }
            None => {
                // The hold was swept while the card was charged: refund.
                if captured {
                    payments.refund(booking);
                }
                store.finish(booking, Status::Expired);
                Response::HoldExpired { booking }
            }
        };
        d.pay_clicks
            .complete(&rid, r.clone(), now)
            .expect("begun above, and only this call completes it");
        r
    }

    /// Releases the seats of every hold that ran out at `now` and serves
    /// the waiting lists; forgets old clicks. Returns the holds expired.
    fn sweep(&self, now: u64, store: &ReservationsStore) -> usize {
        let mut expired = 0;
        let mut notes = Vec::new();
        for desk in self.desks.values() {
            let mut d = lock(desk);
            if d.active.due(now) {
                for (booking, h) in d.active.expire(now) {
                    d.release(&h.seats, booking);
                    store.finish(booking, Status::Expired);
                    expired += 1;
                }
                notes.extend(d.serve_waiters(now, self.hold_ttl, store));
            }
            d.hold_clicks.expire(now);
            d.pay_clicks.expire(now);
        }
        lock(&self.outbox).extend(notes);
        expired
    }
}

/// Why a gateway cannot be built: a core refused its settings.
#[derive(Debug)]
pub enum SetupError {
    /// No app servers to route to.
    NoAppServers,
    /// The ring refused its settings.
    Ring(consistent_hash::Error),
    /// The rate limit is invalid (zero rate or burst).
    Limit(ratelimit::Error),
    /// The idempotency cache refused its time-to-live (zero).
    Clicks(lru_feed::Error),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::NoAppServers => f.write_str("at least one app server is needed"),
            SetupError::Ring(e) => write!(f, "hash ring: {e}"),
            SetupError::Limit(e) => write!(f, "rate limit: {e}"),
            SetupError::Clicks(e) => write!(f, "idempotency cache: {e}"),
        }
    }
}

impl std::error::Error for SetupError {}

/// The ELB / API gateway in front of the app servers: a per-user rate limit,
/// then routing by show id on a consistent-hash ring.
pub struct Gateway {
    limiter: KeyedLimiter<UserId>,
    ring: HashRing<ServerId>,
    servers: Vec<AppServer>,
    /// The reservations database.
    pub reservations: ReservationsStore,
    /// The payment provider.
    pub payments: PaymentsStore,
}

impl Gateway {
    /// App servers for every show of `cat`, placed by the ring.
    pub fn new(cat: &Catalog, cfg: &Config) -> Result<Gateway, SetupError> {
        if cfg.app_servers == 0 {
            return Err(SetupError::NoAppServers);
        }
        let quota = Quota::per_minute(cfg.per_user_per_minute)
            .and_then(|q| q.with_burst(cfg.per_user_burst))
            .map_err(SetupError::Limit)?;
        let limiter = KeyedLimiter::<UserId>::builder(quota)
            .build()
            .map_err(SetupError::Limit)?;
        let mut ring = HashRing::new(DEFAULT_VNODES).map_err(SetupError::Ring)?;
        ring.extend(0..cfg.app_servers);
        let mut desks: Vec<BTreeMap<ShowId, Mutex<ShowDesk>>> =
            (0..cfg.app_servers).map(|_| BTreeMap::new()).collect();
        for show in 0..cat.shows.len() as ShowId {
            let owner = *ring.node_for(&show).expect("the ring has servers");
            let hall = cat.hall(show);
            let clicks = || {
                IdempotencyCache::with_lease(cfg.click_memory_ms * MS, 30 * SEC)
                    .map_err(SetupError::Clicks)
            };
            desks[owner as usize].insert(
                show,
                Mutex::new(ShowDesk {
                    show,
                    rows: hall.rows,
                    per_row: hall.per_row,
                    price_cents: cat.shows[show as usize].price_cents,
                    seats: vec![Seat::Free; cat.seats(show)],
                    free: cat.seats(show),
                    active: ActiveReservationService::new(),
                    waiting: WaitingUserService::new(),
                    hold_clicks: clicks()?,
                    pay_clicks: clicks()?,
                }),
            );
        }
        let servers = desks
            .into_iter()
            .map(|desks| AppServer {
                desks,
                hold_ttl: cfg.hold_ms * MS,
                outbox: Mutex::default(),
                handled: AtomicU64::new(0),
            })
            .collect();
        Ok(Gateway {
            limiter,
            ring,
            servers,
            reservations: ReservationsStore::new(),
            payments: PaymentsStore::new(),
        })
    }

    /// One request at `now`.
    pub fn handle(&self, req: Request, now: u64) -> Response {
        let d = self.limiter.check(&req.user(), now);
        if !d.allowed {
            return Response::RateLimited {
                retry_after_ns: d.retry_after_ns,
            };
        }
        match self.ring.node_for(&req.show()) {
            Some(&s) => {
                self.servers[s as usize].handle(req, now, &self.reservations, &self.payments)
            }
            None => Response::UnknownShow,
        }
    }

    /// The app server that owns a key (a show id, or anything hashable).
    pub fn owner<K: std::hash::Hash + ?Sized>(&self, key: &K) -> ServerId {
        *self.ring.node_for(key).expect("the ring has servers")
    }

    /// The app servers.
    pub fn servers(&self) -> &[AppServer] {
        &self.servers
    }

    /// Long-poll answers ready for waiting users, in the order they were made.
    pub fn take_notifications(&self) -> Vec<Notify> {
        let mut out = Vec::new();
        for s in &self.servers {
            out.append(&mut lock(&s.outbox));
        }
        out
    }

    /// Holds kept over all shows.
    pub fn active_holds(&self) -> usize {
        self.servers
            .iter()
            .flat_map(|s| s.desks.values())
            .map(|d| lock(d).active.len())
            .sum()
    }

    /// The seat map of every show, its waiting list's length and its holds.
    pub fn snapshot(&self) -> FinalState {
        let mut seats = HashMap::new();
        let mut waiting = 0;
        let mut holds = 0;
        for s in &self.servers {
            for (&show, desk) in &s.desks {
                let d = lock(desk);
                seats.insert(show, d.seats.clone());
                waiting += d.waiting.len();
                holds += d.active.len();
            }
        }
        FinalState {
            seats,
            bookings: self.reservations.rows(),
            payments: self.payments.rows(),
            waiting,
            holds,
        }
    }
}

/// The stores and seat maps after a run.
#[derive(Clone, Debug, Default)]
pub struct FinalState {
    /// Each show's seats.
    pub seats: HashMap<ShowId, Vec<Seat>>,
    /// The reservations store's rows.
    pub bookings: HashMap<BookingId, BookingRow>,
    /// The payments store's rows.
    pub payments: HashMap<BookingId, PaymentRow>,
    /// Users still on waiting lists.
    pub waiting: usize,
    /// Holds still kept.
    pub holds: usize,
}

// ---------------------------------------------------------------------------
// The booking day: clients on a simulated clock, and their ledger.

/// What a user means to do once seats are held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    Pay,
    Abandon,
    PayLate,
    Cancel,
}

/// One user's visit, as their client app sees it.
#[derive(Clone, Debug)]
struct Session {
    show: ShowId,
    want: u16,
    plan: Plan,
    card: Card,
    best: bool,
    bot: bool,
    double_click: bool,
    rid: ReservationId,
    seats: Vec<SeatNo>,
    booking: Option<BookingId>,
    click: Option<Request>,
    tries: u8,
    waiting: bool,
}

/// Client-side events on the simulated clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    /// Opens the show's seat map.
    Arrive(UserId),
    /// Clicks "hold" on the seats picked.
    Hold(UserId),
    /// Clicks "pay".
    Pay(UserId),
    /// Clicks the same button again.
    Click(UserId),
    /// Gives the hold back.
    Cancel(UserId),
    /// Joins the waiting list.
    Wait(UserId),
    /// Runs out of patience on the waiting list.
    Leave(UserId),
    /// A refresh bot's next request.
    Bot(UserId),
    /// The app servers' sweep.
    Sweep,
}

/// A hold a client was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Granted {
    /// Who.
    pub user: UserId,
    /// Which show.
    pub show: ShowId,
    /// Which seats.
    pub seats: Vec<SeatNo>,
    /// When it was granted.
    pub at: u64,
    /// When it runs out.
    pub expires_at: u64,
    /// Whether it came from the waiting list.
    pub from_waiting_list: bool,
}

/// The clients' own record of what they were told and what they did: the
/// oracle the stores are checked against.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// Every hold given, by booking.
    pub holds: HashMap<BookingId, Granted>,
    /// Bookings answered `Booked`, with their seats.
    pub booked: HashMap<BookingId, Vec<SeatNo>>,
    /// Bookings paid with a card the provider declines.
    pub declined_cards: HashSet<BookingId>,
    /// Bookings answered `PaymentFailed`.
    pub payment_failed: HashSet<BookingId>,
    /// Holds the client did not pay in time (abandoned, or paid too late).
    pub unpaid: HashSet<BookingId>,
    /// Bookings answered `HoldExpired`.
    pub hold_expired: HashSet<BookingId>,
    /// Bookings answered `Cancelled`.
    pub cancelled: HashSet<BookingId>,
    /// The first answer to each click: (show, is a payment, reservation id).
    pub answers: HashMap<(ShowId, bool, ReservationId), Response>,
    /// Repeated clicks answered (not rate limited).
    pub repeated_clicks: usize,
    /// ...whose answer differed from the first click's.
    pub repeated_mismatch: usize,
    /// Users in the order they joined each show's waiting list.
    pub joined: HashMap<ShowId, Vec<UserId>>,
    /// (show, user) who left a waiting list unserved.
    pub left: HashSet<(ShowId, UserId)>,
    /// Users in the order their long poll was answered with seats.
    pub served: HashMap<ShowId, Vec<UserId>>,
    /// Per user: first and last allowed request time, and how many.
    pub allowed: HashMap<UserId, (u64, u64, u64)>,
    /// 429s to ordinary users.
    pub limited_users: usize,
    /// 429s to bots.
    pub limited_bots: usize,
    /// Answers a client could not make sense of.
    pub unexpected: Vec<String>,
}

struct Day<'a> {
    cfg: &'a Config,
    cat: &'a Catalog,
    gw: &'a Gateway,
    rng: Rng,
    queue: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    live: usize,
    sessions: Vec<Session>,
    bots_until: HashMap<UserId, u64>,
    ledger: Ledger,
    show_owner: Vec<ServerId>,
    movie_owner: Vec<ServerId>,
    by_show_key: Vec<u64>,
    by_movie_key: Vec<u64>,
    map_times: Vec<Duration>,
    hold_times: Vec<Duration>,
    pay_times: Vec<Duration>,
    sweep_times: Vec<Duration>,
    expired: usize,
    turned_away: usize,
    peak_holds: usize,
    end: u64,
}

impl Day<'_> {
    fn at(&mut self, t: u64, ev: Ev) {
        if ev != Ev::Sweep {
            self.live += 1;
        }
        self.seq += 1;
        self.queue.push(Reverse((t, self.seq, ev)));
    }

    fn ns(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.rng.next_u64() % (hi - lo + 1)
    }

    fn s(&mut self, u: UserId) -> &mut Session {
        &mut self.sessions[u as usize]
    }

    /// Sends a request through the gateway, timing it and counting where it went.
    fn call(&mut self, req: Request, now: u64) -> Response {
        let (user, show) = (req.user(), req.show());
        let kind = match req {
            Request::Hold { .. } => 1,
            Request::Pay { .. } => 2,
            Request::SeatMap { .. } => 0,
            _ => 3,
        };
        let (resp, took) = timed(|| self.gw.handle(req, now));
        match kind {
            0 => self.map_times.push(took),
            1 => self.hold_times.push(took),
            2 => self.pay_times.push(took),
            _ => {}
        }
        if matches!(resp, Response::RateLimited { .. }) {
            if self.sessions[user as usize].bot {
                self.ledger.limited_bots += 1;
            } else {
                self.ledger.limited_users += 1;
            }
        } else {
            let e = self.ledger.allowed.entry(user).or_insert((now, now, 0));
            e.1 = now;
            e.2 += 1;
            self.by_show_key[self.show_owner[show as usize] as usize] += 1;
            let movie = self.cat.shows[show as usize].movie;
            self.by_movie_key[self.movie_owner[movie as usize] as usize] += 1;
        }
        resp
    }

    fn unexpected(&mut self, u: UserId, what: &str, r: &Response) {
        self.ledger
            .unexpected
            .push(format!("user {u}, {what}: {r:?}"));
    }

    /// Keeps the first answer to a click; compares a repeated click's.
    fn remember(&mut self, u: UserId, pay: bool, repeat: bool, r: &Response) {
        if matches!(r, Response::RateLimited { .. }) {
            return;
        }
        let s = &self.sessions[u as usize];
        let key = (s.show, pay, s.rid);
        match self.ledger.answers.get(&key) {
            Some(first) if repeat => {
                self.ledger.repeated_clicks += 1;
                if first != r {
                    self.ledger.repeated_mismatch += 1;
                }
            }
            Some(_) => {}
            None => {
                self.ledger.answers.insert(key, r.clone());
            }
        }
    }

    fn run(&mut self) {
        while let Some(Reverse((now, _, ev))) = self.queue.pop() {
            if ev != Ev::Sweep {
                self.live -= 1;
            }
            self.end = now;
            match ev {
                Ev::Arrive(u) => self.arrive(u, now),
                Ev::Hold(u) => self.hold(u, now),
                Ev::Pay(u) => self.pay(u, now),
                Ev::Click(u) => self.click(u, now),
                Ev::Cancel(u) => self.cancel(u, now),
                Ev::Wait(u) => self.wait(u, now),
                Ev::Leave(u) => self.leave(u, now),
                Ev::Bot(u) => self.bot(u, now),
                Ev::Sweep => self.sweep(now),
            }
            self.notifications(now);
        }
    }

    fn arrive(&mut self, u: UserId, now: u64) {
        let show = self.s(u).show;
        match self.call(Request::SeatMap { user: u, show }, now) {
            Response::SeatMap { free, waiting } => {
                let (want, best) = (self.s(u).want, self.s(u).best);
                if waiting == 0 && free.len() >= want as usize {
                    let hall = self.cat.hall(show);
                    let seats =
                        pick_seats(&free, hall.rows, hall.per_row, want, best, &mut self.rng);
                    let rid = self.rng.next_u64();
                    let s = self.s(u);
                    s.seats = seats;
                    s.rid = rid;
                    let think = self.ns(2 * SEC, 20 * SEC);
                    self.at(now + think, Ev::Hold(u));
                } else {
                    self.wait_or_go(u, now);
                }
            }
            Response::RateLimited { retry_after_ns } => {
                self.at(now + retry_after_ns.max(MS), Ev::Arrive(u))
            }
            r => self.unexpected(u, "seat map", &r),
        }
    }

    fn wait_or_go(&mut self, u: UserId, now: u64) {
        if self.rng.chance(self.cfg.wait_share) {
            self.at(now, Ev::Wait(u));
        } else {
            self.turned_away += 1;
        }
    }

    fn hold(&mut self, u: UserId, now: u64) {
        let s = &self.sessions[u as usize];
        let req = Request::Hold {
            rid: s.rid,
            user: u,
            show: s.show,
            seats: s.seats.clone(),
        };
        let resp = self.call(req.clone(), now);
        self.remember(u, false, false, &resp);
        if self.s(u).double_click && !matches!(resp, Response::RateLimited { .. }) {
            self.s(u).click = Some(req);
            self.at(now + 300 * MS, Ev::Click(u));
        }
        match resp {
            Response::Held {
                booking,
                seats,
                expires_at,
            } => self.granted(u, booking, seats, now, expires_at, false),
            Response::SeatsTaken => {
                self.s(u).tries += 1;
                if self.s(u).tries < 3 {
                    self.at(now + 2 * SEC, Ev::Arrive(u));
                } else {
                    self.wait_or_go(u, now);
                }
            }
            Response::QueueAhead { .. } => self.wait_or_go(u, now),
            Response::RateLimited { retry_after_ns } => {
                self.at(now + retry_after_ns.max(MS), Ev::Hold(u))
            }
            r => self.unexpected(u, "hold", &r),
        }
    }

    /// Seats held for `u` (by a hold or from the waiting list): the plan runs.
    fn granted(
        &mut self,
        u: UserId,
        booking: BookingId,
        seats: Vec<SeatNo>,
        now: u64,
        expires_at: u64,
        from_waiting_list: bool,
    ) {
        let s = self.s(u);
        s.booking = Some(booking);
        let (show, plan) = (s.show, s.plan);
        self.ledger.holds.insert(
            booking,
            Granted {
                user: u,
                show,
                seats,
                at: now,
                expires_at,
                from_waiting_list,
            },
        );
        match plan {
            Plan::Pay => {
                let t = now + self.ns(10 * SEC, 4 * MIN);
                self.at(t, Ev::Pay(u));
            }
            Plan::PayLate => {
                self.ledger.unpaid.insert(booking);
                let t = expires_at + self.ns(SEC, 2 * MIN);
                self.at(t, Ev::Pay(u));
            }
            Plan::Cancel => {
                let t = now + self.ns(10 * SEC, 3 * MIN);
                self.at(t, Ev::Cancel(u));
            }
            Plan::Abandon => {
                self.ledger.unpaid.insert(booking);
            }
        }
    }

    fn pay(&mut self, u: UserId, now: u64) {
        let s = &self.sessions[u as usize];
        let Some(booking) = s.booking else { return };
        let req = Request::Pay {
            rid: s.rid,
            user: u,
            show: s.show,
            booking,
            card: s.card,
        };
        if s.card == Card::Declined {
            self.ledger.declined_cards.insert(booking);
        }
        let resp = self.call(req.clone(), now);
        self.remember(u, true, false, &resp);
        if self.s(u).double_click && !matches!(resp, Response::RateLimited { .. }) {
            self.s(u).click = Some(req);
            self.at(now + 300 * MS, Ev::Click(u));
        }
        match resp {
            Response::Booked { booking, seats } => {
                self.ledger.booked.insert(booking, seats);
            }
            Response::PaymentFailed { booking } => {
                self.ledger.payment_failed.insert(booking);
            }
            Response::HoldExpired { booking } => {
                self.ledger.hold_expired.insert(booking);
            }
            Response::RateLimited { retry_after_ns } => {
                self.at(now + retry_after_ns.max(MS), Ev::Pay(u))
            }
            r => self.unexpected(u, "pay", &r),
        }
    }

    /// The same click again, 300 ms later: must get the same answer.
    fn click(&mut self, u: UserId, now: u64) {
        let Some(req) = self.s(u).click.take() else {
            return;
        };
        let pay = matches!(req, Request::Pay { .. });
        let resp = self.call(req, now);
        self.remember(u, pay, true, &resp);
    }

    fn cancel(&mut self, u: UserId, now: u64) {
        let s = &self.sessions[u as usize];
        let Some(booking) = s.booking else { return };
        let req = Request::Cancel {
            user: u,
            show: s.show,
            booking,
        };
        match self.call(req, now) {
            Response::Cancelled { booking } => {
                self.ledger.cancelled.insert(booking);
            }
            Response::RateLimited { retry_after_ns } => {
                self.at(now + retry_after_ns.max(MS), Ev::Cancel(u))
            }
            r => self.unexpected(u, "cancel", &r),
        }
    }

    fn wait(&mut self, u: UserId, now: u64) {
        let (show, want) = (self.s(u).show, self.s(u).want);
        match self.call(
            Request::Wait {
                user: u,
                show,
                want,
            },
            now,
        ) {
            Response::Waiting { .. } => {
                self.ledger.joined.entry(show).or_default().push(u);
                self.s(u).waiting = true;
                let patience = self.ns(MIN, self.cfg.max_patience_ms.max(60_000) * MS);
                self.at(now + patience, Ev::Leave(u));
            }
            Response::RateLimited { retry_after_ns } => {
                self.at(now + retry_after_ns.max(MS), Ev::Wait(u))
            }
            r => self.unexpected(u, "wait", &r),
        }
    }

    fn leave(&mut self, u: UserId, now: u64) {
        if !self.s(u).waiting {
            return; // served before patience ran out
        }
        let show = self.s(u).show;
        match self.call(Request::Leave { user: u, show }, now) {
            Response::Left => {
                self.ledger.left.insert((show, u));
                self.s(u).waiting = false;
            }
            Response::RateLimited { retry_after_ns } => {
                self.at(now + retry_after_ns.max(MS), Ev::Leave(u))
            }
            r => self.unexpected(u, "leave", &r),
        }
    }

    fn bot(&mut self, u: UserId, now: u64) {
        let show = self.s(u).show;
        self.call(Request::SeatMap { user: u, show }, now);
        let next = now + self.cfg.bot_every_ms.max(1) * MS;
        if next < self.bots_until[&u] {
            self.at(next, Ev::Bot(u));
        }
    }

    fn sweep(&mut self, now: u64) {
        for s in self.gw.servers() {
            let (n, took) = timed(|| s.sweep(now, &self.gw.reservations));
            self.expired += n;
            self.sweep_times.push(took);
        }
        let holds = self.gw.active_holds();
        self.peak_holds = self.peak_holds.max(holds);
        if self.live > 0 || holds > 0 {
            self.at(now + self.cfg.sweep_ms.max(1) * MS, Ev::Sweep);
        }
    }

    /// Answers to waiting users' long polls.
    fn notifications(&mut self, now: u64) {
        for n in self.gw.take_notifications() {
            self.ledger.served.entry(n.show).or_default().push(n.user);
            let s = self.s(n.user);
            if !s.waiting || s.show != n.show {
                let what = format!("{n:?}");
                self.ledger
                    .unexpected
                    .push(format!("seats for a user not waiting: {what}"));
            }
            self.s(n.user).waiting = false;
            self.granted(n.user, n.booking, n.seats, now, n.expires_at, true);
        }
    }
}

/// The client picks seats from the map it saw: the best block, or any free ones.
fn pick_seats(
    free: &[SeatNo],
    rows: u16,
    per_row: u16,
    want: u16,
    best: bool,
    rng: &mut Rng,
) -> Vec<SeatNo> {
    if best {
        let set: HashSet<SeatNo> = free.iter().copied().collect();
        if let Some(b) = best_block(|i| set.contains(&(i as SeatNo)), rows, per_row, want) {
            return b;
        }
    }
    let mut pool = free.to_vec();
    let k = (want as usize).min(pool.len());
    for i in 0..k {
        let j = i + rng.below(pool.len() - i);
        pool.swap(i, j);
    }
    pool.truncate(k);
    pool.sort_unstable();
    pool
}

/// The sessions of the day: who comes when, for which show, meaning to do what.
fn sessions(cfg: &Config, cat: &Catalog, rng: &mut Rng) -> (Vec<(u64, Session)>, ShowId) {
    let demand = Zipf::new(cat.movies, cfg.demand_skew);
    let total_pop: u64 = cat.cities.iter().map(|c| c.population).sum();
    let mut by_city: Vec<Vec<ShowId>> = vec![Vec::new(); cat.cities.len()];
    let mut by_city_movie: HashMap<(usize, MovieId), Vec<ShowId>> = HashMap::new();
    for s in 0..cat.shows.len() as ShowId {
        let city = cat.city_of(s);
        by_city[city].push(s);
        by_city_movie
            .entry((city, cat.shows[s as usize].movie))
            .or_default()
            .push(s);
    }
    // The hottest show: the biggest hall showing the most wanted movie in the biggest city.
    let hot = by_city_movie
        .get(&(0, 0))
        .and_then(|v| {
            v.iter()
                .copied()
                .max_by_key(|&s| (cat.seats(s), Reverse(s)))
        })
        .unwrap_or(0);
    let mean_gap = cfg.span_ms as f64 * MS as f64 / cfg.users.max(1) as f64;
    let mut t = 0.0;
    let mut out = Vec::with_capacity(cfg.users + cfg.bots);
    for _ in 0..cfg.users {
        t += -rng.float_nonzero().ln() * mean_gap;
        let mut pick = rng.below(total_pop.max(1) as usize) as u64;
        let mut city = 0;
        while city + 1 < cat.cities.len() && pick >= cat.cities[city].population {
            pick -= cat.cities[city].population;
            city += 1;
        }
        let movie = demand.rank(rng.float_nonzero()) as MovieId;
        let shows = by_city_movie.get(&(city, movie)).unwrap_or(&by_city[city]);
        let show = shows[rng.below(shows.len())];
        let p = rng.float_nonzero();
        let plan = if p < cfg.abandon_share {
            Plan::Abandon
        } else if p < cfg.abandon_share + cfg.late_share {
            Plan::PayLate
        } else if p < cfg.abandon_share + cfg.late_share + cfg.cancel_share {
            Plan::Cancel
        } else {
            Plan::Pay
        };
        let want = [1, 2, 2, 2, 2, 3, 3, 4, 4, 2][rng.below(10)];
        out.push((
            t as u64,
            Session {
                show,
                want,
                plan,
                card: if rng.chance(cfg.decline_share) {
                    Card::Declined
                } else {
                    Card::Good
                },
                best: rng.chance(cfg.best_block_share),
                bot: false,
                double_click: rng.chance(cfg.double_click_share),
                rid: rng.next_u64(),
                seats: Vec::new(),
                booking: None,
                click: None,
                tries: 0,
                waiting: false,
            },
        ));
    }
    (out, hot)
}

// ---------------------------------------------------------------------------
// The rush: many threads book the hottest shows at once.

/// One answer a rush client got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RushEntry {
    /// Who asked.
    pub user: UserId,
    /// Which show.
    pub show: ShowId,
    /// The click's reservation id.
    pub rid: ReservationId,
    /// A payment (else a hold).
    pub pay: bool,
    /// The answer.
    pub resp: Response,
}

/// What the rush did.
#[derive(Clone, Debug, Default)]
pub struct RushReport {
    /// Threads.
    pub threads: usize,
    /// Users.
    pub users: usize,
    /// The hot shows.
    pub shows: Vec<ShowId>,
    /// Their seats together.
    pub capacity: usize,
    /// Requests sent (seat maps, holds, payments, repeated clicks).
    pub requests: u64,
    /// Wall time.
    pub took: Duration,
    /// Hold latency under contention: median.
    pub hold_p50: Duration,
    /// ...and 99th percentile.
    pub hold_p99: Duration,
    /// Holds refused because a seat was taken meanwhile.
    pub conflicts: usize,
    /// Repeated clicks (sent by another thread) answered with the first click's booking.
    pub repeats_same: usize,
    /// Repeated clicks answered "in progress" (the first was still running).
    pub in_progress: usize,
    /// Every hold and payment answer.
    pub entries: Vec<RushEntry>,
    /// Stores and seat maps after the rush.
    pub state: FinalState,
}

/// Rush users who look at the seat map together before clicking.
const RUSH_BATCH: usize = 16;

struct RushUser {
    user: UserId,
    show: ShowId,
    want: u16,
    best: bool,
    card: Card,
    twice: bool,
    free: Vec<SeatNo>,
    done: bool,
}

#[allow(clippy::too_many_arguments)]
fn rush_thread(
    cfg: &Config,
    cat: &Catalog,
    gw: &Gateway,
    clock: &AtomicU64,
    hot: &[ShowId],
    t: usize,
    threads: usize,
    tx: mpsc::Sender<Request>,
    rx: mpsc::Receiver<Request>,
) -> (Vec<RushEntry>, Vec<Duration>, u64) {
    let mut rng = Rng(cfg.seed ^ (t as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut log = Vec::new();
    let mut lat = Vec::new();
    let mut sent = 0u64;
    // 50 µs of simulated time per request, shared by all threads.
    let mut send = |req: Request, log: &mut Vec<RushEntry>| -> Response {
        sent += 1;
        let now = clock.fetch_add(50_000, Ordering::Relaxed);
        let (user, show) = (req.user(), req.show());
        let (rid, pay) = match req {
            Request::Hold { rid, .. } => (Some(rid), false),
            Request::Pay { rid, .. } => (Some(rid), true),
            _ => (None, false),
        };
        let (resp, took) = timed(|| gw.handle(req, now));
        if let Some(rid) = rid {
            if !pay {
                lat.push(took);
            }
            log.push(RushEntry {
                user,
                show,
                rid,
                pay,
                resp: resp.clone(),
            });
        }
        resp
    };
    let mine: Vec<usize> = (t..cfg.rush_users).step_by(threads).collect();
    for batch in mine.chunks(RUSH_BATCH) {
        // Repeated clicks from the users of the thread before this one.
        while let Ok(req) = rx.try_recv() {
            send(req, &mut log);
        }
        let mut users: Vec<RushUser> = batch
            .iter()
            .map(|&u| RushUser {
                user: u as UserId,
                show: hot[u % hot.len()],
                want: 1 + rng.below(4) as u16,
                best: rng.chance(0.7),
                card: if rng.chance(cfg.decline_share) {
                    Card::Declined
                } else {
                    Card::Good
                },
                twice: rng.chance(cfg.double_click_share),
                free: Vec::new(),
                done: false,
            })
            .collect();
        // Up to three rounds: the whole batch looks at the seat map, then
        // clicks, so each view is stale by the click, as a real user's is.
        for _ in 0..3 {
            for ru in users.iter_mut().filter(|ru| !ru.done) {
                let (user, show) = (ru.user, ru.show);
                match send(Request::SeatMap { user, show }, &mut log) {
                    Response::SeatMap { free, .. } if free.len() >= ru.want as usize => {
                        ru.free = free
                    }
                    _ => ru.done = true,
                }
            }
            for ru in users.iter_mut().filter(|ru| !ru.done) {
                let hall = cat.hall(ru.show);
                let seats = pick_seats(
                    &ru.free,
                    hall.rows,
                    hall.per_row,
                    ru.want,
                    ru.best,
                    &mut rng,
                );
                let rid = rng.next_u64();
                let (user, show) = (ru.user, ru.show);
                let hold = Request::Hold {
                    rid,
                    user,
                    show,
                    seats,
                };
                if ru.twice {
                    let _ = tx.send(hold.clone());
                }
                match send(hold, &mut log) {
                    Response::Held { booking, .. } => {
                        let pay = Request::Pay {
                            rid,
                            user,
                            show,
                            booking,
                            card: ru.card,
                        };
                        if ru.twice {
                            let _ = tx.send(pay.clone());
                        }
                        send(pay, &mut log);
                        ru.done = true;
                    }
                    Response::SeatsTaken => {} // look again next round
                    _ => ru.done = true,
                }
            }
        }
    }
    drop(tx);
    // The thread before this one may still be sending repeated clicks.
    for req in rx {
        send(req, &mut log);
    }
    (log, lat, sent)
}

/// Many threads book the `cfg.rush_shows` biggest shows of the hottest movie.
pub fn rush(cfg: &Config, cat: &Catalog) -> RushReport {
    let gw = Gateway::new(cat, cfg).expect("a valid config");
    let mut hot: Vec<ShowId> = (0..cat.shows.len() as ShowId)
        .filter(|&s| cat.shows[s as usize].movie == 0)
        .collect();
    hot.sort_by_key(|&s| (Reverse(cat.seats(s)), s));
    hot.truncate(cfg.rush_shows.max(1));
    if hot.is_empty() {
        hot.push(0);
    }
    let threads = cfg.rush_threads.max(1);
    let clock = AtomicU64::new(SEC);
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..threads).map(|_| mpsc::channel::<Request>()).unzip();
    let start = Instant::now();
    let results: Vec<_> = std::thread::scope(|sc| {
        let handles: Vec<_> = rxs
            .into_iter()
            .enumerate()
            .map(|(t, rx)| {
                let tx = txs[(t + 1) % threads].clone();
                let (gw, clock, hot) = (&gw, &clock, &hot);
                sc.spawn(move || rush_thread(cfg, cat, gw, clock, hot, t, threads, tx, rx))
            })
            .collect();
        drop(txs);
        handles
            .into_iter()
            .map(|h| h.join().expect("a rush thread panicked"))
            .collect()
    });
    let took = start.elapsed();
    let mut rep = RushReport {
        threads,
        users: cfg.rush_users,
        capacity: hot.iter().map(|&s| cat.seats(s)).sum(),
        shows: hot,
        took,
        ..RushReport::default()
    };
    let mut lat = Vec::new();
    for (log, l, sent) in results {
        rep.entries.extend(log);
        lat.extend(l);
        rep.requests += sent;
    }
    rep.hold_p50 = percentile(&mut lat, 50.0);
    rep.hold_p99 = percentile(&mut lat, 99.0);
    let mut first: HashMap<(ShowId, bool, ReservationId), &Response> = HashMap::new();
    for e in &rep.entries {
        match e.resp {
            Response::SeatsTaken => rep.conflicts += 1,
            Response::InProgress => rep.in_progress += 1,
            _ => {}
        }
        if e.resp == Response::InProgress {
            continue;
        }
        match first.get(&(e.show, e.pay, e.rid)) {
            Some(r) if **r == e.resp => rep.repeats_same += 1,
            Some(_) => {}
            None => {
                first.insert((e.show, e.pay, e.rid), &e.resp);
            }
        }
    }
    rep.state = gw.snapshot();
    rep
}

// ---------------------------------------------------------------------------
// The drill: Saga beside two-phase commit, message by message.

/// How a booking spans the two stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Local transactions in turn, compensations on failure.
    Saga,
    /// Prepare both, then commit both (presumed abort).
    TwoPhaseCommit,
}

/// Who is down in a drill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Nobody.
    None,
    /// The payments store, for `participant_down_ms`.
    PaymentsDown,
    /// The reservations store, for `participant_down_ms`.
    ReservationsDown,
    /// The booking service running the Saga or 2PC, for `coordinator_down_ms`,
    /// crashing while a booking is in flight.
    CoordinatorDown,
}

impl Fault {
    /// Every fault, in the order the report prints them.
    pub const ALL: [Fault; 4] = [
        Fault::None,
        Fault::PaymentsDown,
        Fault::ReservationsDown,
        Fault::CoordinatorDown,
    ];
}

/// The drill's knobs.
#[derive(Clone, Debug)]
pub struct DrillConfig {
    /// Seats on sale (a stadium).
    pub seats: u32,
    /// Bookings.
    pub bookings: usize,
    /// Bookings per second (Poisson).
    pub per_second: f64,
    /// One-way network delay.
    pub net_ms: u64,
    /// How long a sender waits for an answer.
    pub timeout_ms: u64,
    /// A Saga hold's lifetime (the notes' 5 minutes).
    pub hold_ms: u64,
    /// When the fault starts.
    pub down_at_ms: u64,
    /// How long a store is down.
    pub participant_down_ms: u64,
    /// How long the coordinator is down.
    pub coordinator_down_ms: u64,
    /// Share of declined cards.
    pub decline_share: f64,
    /// Share of bookings that want the seats of the booking before them.
    pub clash_share: f64,
    /// Retries of undelivered decisions and compensations: first delay...
    pub retry_base_ms: u64,
    /// ...capped at (exponential, full jitter).
    pub retry_cap_ms: u64,
    /// The reservations store sweeps expired holds this often.
    pub sweep_ms: u64,
    /// Seed.
    pub seed: u64,
}

impl Default for DrillConfig {
    fn default() -> DrillConfig {
        DrillConfig {
            seats: 50_000,
            bookings: 12_000,
            per_second: 200.0,
            net_ms: 5,
            timeout_ms: 1_000,
            hold_ms: 5 * 60 * 1_000,
            down_at_ms: 20_000,
            participant_down_ms: 30_000,
            coordinator_down_ms: 10 * 60 * 1_000,
            decline_share: 0.03,
            clash_share: 0.02,
            retry_base_ms: 200,
            retry_cap_ms: 5_000,
            sweep_ms: 1_000,
            seed: 7,
        }
    }
}

/// A party to a booking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Node {
    /// The booking service: Saga orchestrator or 2PC coordinator.
    Coordinator,
    /// The reservations store.
    Reservations,
    /// The payments store.
    Payments,
}

/// A drill booking (its index in the booking list).
pub type Txn = u32;

/// A drill's result: the run, each seat's buyer, and whether each booking's
/// money was taken.
pub type DrillOutcome = (DrillRun, Vec<Option<Txn>>, HashMap<Txn, bool>);

/// Messages on the drill's network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Msg {
    Hold(Txn),
    HoldOk(Txn),
    HoldRefused(Txn),
    Charge(Txn),
    Charged(Txn),
    Declined(Txn),
    Confirm(Txn),
    Confirmed(Txn),
    ConfirmExpired(Txn),
    Release(Txn),
    Released(Txn),
    Refund(Txn),
    Refunded(Txn),
    Prepare(Txn),
    Vote(Txn, Node, bool),
    Commit(Txn),
    Abort(Txn),
    Ack(Txn, Node),
    Inquire(Txn, Node),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum DEv {
    Arrive(Txn),
    Deliver(Node, Msg),
    /// The coordinator's timer for a step (with its epoch: a crash voids timers).
    Timeout(Txn, u8, u32),
    /// Resend an unacknowledged decision or compensation.
    Retry(Txn, Node, u32, u32),
    /// A prepared participant asks the coordinator for the decision.
    Inquiry(Txn, Node, u32),
    Sweep,
    Down(Node),
    Up(Node),
}

/// How a drill booking ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Seats sold, money taken.
    Booked,
    /// A seat was taken already.
    Taken,
    /// The card was declined.
    Declined,
    /// A store or the coordinator did not answer in time.
    Failed,
    /// The coordinator was down when the booking came.
    Refused,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    New,
    AwaitHold,
    AwaitCharge,
    AwaitConfirm,
    Voting,
    Decided(bool),
    Done,
}

#[derive(Clone, Debug)]
struct CoTxn {
    step: Step,
    outcome: Option<Outcome>,
    /// Decisions and compensations sent until acknowledged: node -> (message, attempt).
    pending: BTreeMap<Node, (Msg, u32)>,
    votes: [Option<bool>; 2],
    recovered: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DSeat {
    Free,
    Locked(Txn),
    Sold(Txn),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RState {
    Held,
    Prepared,
    Sold,
    Released,
    Expired,
    Refused,
    Aborted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PState {
    Captured,
    Declined,
    Refunded,
    Authorized,
    Voided,
}

/// One drill booking: when, which seats, which card.
#[derive(Clone, Debug)]
pub struct DrillBooking {
    /// Arrival, ns.
    pub at: u64,
    /// Seats wanted.
    pub seats: Vec<u32>,
    /// The card.
    pub card: Card,
}

/// One drill: a protocol under a fault.
#[derive(Clone, Debug)]
pub struct DrillRun {
    /// Saga or 2PC.
    pub protocol: Protocol,
    /// Who was down.
    pub fault: Fault,
    /// Bookings tried.
    pub bookings: usize,
    /// Booked.
    pub booked: usize,
    /// Refused: a seat was taken.
    pub taken: usize,
    /// Refused: the card was declined.
    pub declined: usize,
    /// Failed: no answer in time.
    pub failed: usize,
    /// Refused: the coordinator was down.
    pub refused: usize,
    /// Messages sent (including lost ones and retries).
    pub messages: u64,
    /// Median time from arrival to booked, simulated ms.
    pub booked_p50_ms: f64,
    /// Seat-seconds locked by bookings that did not book.
    pub locked_seat_s: f64,
    /// Longest a booking that did not book kept its seats locked, ms.
    pub longest_lock_ms: u64,
    /// Longest a participant stayed prepared without knowing the outcome, ms.
    pub longest_in_doubt_ms: u64,
    /// Participant-bookings in doubt for longer than the timeout (blocked).
    pub blocked: usize,
    /// Charges taken and then refunded.
    pub refunds: usize,
    /// Seats sold.
    pub sold_seats: usize,
    /// Bookings whose seats and money disagree at the end, or are still
    /// locked, in doubt or undecided.
    pub inconsistent: usize,
    /// Bookings with a declined card that own a seat at the end.
    pub declined_seated: usize,
}

struct Drill<'a> {
    cfg: &'a DrillConfig,
    proto: Protocol,
    queue: BinaryHeap<Reverse<(u64, u64, DEv)>>,
    seq: u64,
    live: usize,
    now: u64,
    down: [bool; 3],
    epoch: u32,
    book: &'a [DrillBooking],
    co: Vec<CoTxn>,
    seats: Vec<DSeat>,
    rstate: HashMap<Txn, RState>,
    holds: ExpiryMap<Txn, ()>,
    pstate: HashMap<Txn, PState>,
    locked_at: HashMap<Txn, u64>,
    prepared_at: HashMap<(Txn, Node), u64>,
    backoff: Backoff,
    rng: Rng,
    out: DrillRun,
    booked_ms: Vec<f64>,
}

fn idx(n: Node) -> usize {
    match n {
        Node::Coordinator => 0,
        Node::Reservations => 1,
        Node::Payments => 2,
    }
}

impl Drill<'_> {
    fn at(&mut self, t: u64, ev: DEv) {
        if ev != DEv::Sweep {
            self.live += 1;
        }
        self.seq += 1;
        self.queue.push(Reverse((t, self.seq, ev)));
    }

    fn net(&self) -> u64 {
        self.cfg.net_ms * MS
    }

    fn timeout(&self) -> u64 {
        self.cfg.timeout_ms * MS
    }

    /// Sends `msg` to `to`; it is lost if `to` is down when it arrives.
    fn send(&mut self, to: Node, msg: Msg) {
        self.out.messages += 1;
        let t = self.now + self.net();
        self.at(t, DEv::Deliver(to, msg));
    }

    /// Sends `msg` to `to` until `to` acknowledges it.
    fn reliable(&mut self, txn: Txn, to: Node, msg: Msg) {
        self.co[txn as usize].pending.insert(to, (msg, 0));
        self.send(to, msg);
        let t = self.now + self.timeout();
        self.at(t, DEv::Retry(txn, to, 0, self.epoch));
    }

    fn acked(&mut self, txn: Txn, from: Node) {
        let c = &mut self.co[txn as usize];
        c.pending.remove(&from);
        if c.pending.is_empty() && matches!(c.step, Step::Decided(_)) {
            c.step = Step::Done;
        }
    }

    fn finish(&mut self, txn: Txn, o: Outcome) {
        let c = &mut self.co[txn as usize];
        if c.outcome.is_none() {
            c.outcome = Some(o);
            if o == Outcome::Booked {
                let ms = (self.now - self.book[txn as usize].at) as f64 / MS as f64;
                self.booked_ms.push(ms);
            }
        }
    }

    fn step_timer(&mut self, txn: Txn, step: u8) {
        let t = self.now + self.timeout();
        self.at(t, DEv::Timeout(txn, step, self.epoch));
    }

    fn run(&mut self) {
        while let Some(Reverse((t, _, ev))) = self.queue.pop() {
            if ev != DEv::Sweep {
                self.live -= 1;
            }
            self.now = t;
            match ev {
                DEv::Arrive(txn) => self.arrive(txn),
                DEv::Deliver(to, msg) => {
                    if !self.down[idx(to)] {
                        match to {
                            Node::Coordinator => self.coordinator(msg),
                            Node::Reservations => self.reservations(msg),
                            Node::Payments => self.payments(msg),
                        }
                    }
                }
                DEv::Timeout(txn, step, epoch) => {
                    if epoch == self.epoch && !self.down[0] {
                        self.timed_out(txn, step);
                    }
                }
                DEv::Retry(txn, to, attempt, epoch) => {
                    if epoch == self.epoch && !self.down[0] {
                        self.retry(txn, to, attempt);
                    }
                }
                DEv::Inquiry(txn, node, attempt) => self.inquiry(txn, node, attempt),
                DEv::Sweep => self.sweep(),
                DEv::Down(n) => {
                    self.down[idx(n)] = true;
                    if n == Node::Coordinator {
                        self.epoch += 1; // its timers die with it
                    }
                }
                DEv::Up(n) => {
                    self.down[idx(n)] = false;
                    if n == Node::Coordinator {
                        self.recover();
                    }
                }
            }
        }
    }

    fn arrive(&mut self, txn: Txn) {
        if self.down[0] {
            self.co[txn as usize].step = Step::Done;
            self.finish(txn, Outcome::Refused);
            return;
        }
        match self.proto {
            Protocol::Saga => {
                self.co[txn as usize].step = Step::AwaitHold;
                self.send(Node::Reservations, Msg::Hold(txn));
                self.step_timer(txn, 0);
            }
            Protocol::TwoPhaseCommit => {
                self.co[txn as usize].step = Step::Voting;
                self.send(Node::Reservations, Msg::Prepare(txn));
                self.send(Node::Payments, Msg::Prepare(txn));
                self.step_timer(txn, 0);
            }
        }
    }

    fn retry(&mut self, txn: Txn, to: Node, attempt: u32) {
        let Some(&(msg, a)) = self.co[txn as usize].pending.get(&to) else {
            return;
        };
        if a != attempt {
            return;
        }
        self.co[txn as usize].pending.insert(to, (msg, a + 1));
        self.send(to, msg);
        let wait = self.timeout() + self.backoff.delay(a, self.rng.next_u64());
        let t = self.now + wait;
        self.at(t, DEv::Retry(txn, to, a + 1, self.epoch));
    }

    fn timed_out(&mut self, txn: Txn, step: u8) {
        let st = self.co[txn as usize].step;
        match (self.proto, st, step) {
            // The hold's answer is lost: the hold may exist, so release it.
            (Protocol::Saga, Step::AwaitHold, 0) => {
                self.co[txn as usize].step = Step::Done;
                self.finish(txn, Outcome::Failed);
                self.reliable(txn, Node::Reservations, Msg::Release(txn));
            }
            // The charge's answer is lost: it may have gone through, so
            // refund it and release the seats.
            (Protocol::Saga, Step::AwaitCharge, 1) => {
                self.co[txn as usize].step = Step::Done;
                self.finish(txn, Outcome::Failed);
                self.reliable(txn, Node::Payments, Msg::Refund(txn));
                self.reliable(txn, Node::Reservations, Msg::Release(txn));
            }
            (Protocol::TwoPhaseCommit, Step::Voting, 0) => self.decide(txn, false),
            _ => {}
        }
    }

    /// 2PC: the decision is made (and logged); tell the participants.
    fn decide(&mut self, txn: Txn, commit: bool) {
        let votes = self.co[txn as usize].votes;
        self.co[txn as usize].step = Step::Decided(commit);
        let o = if commit {
            Outcome::Booked
        } else if votes[1] == Some(false) {
            Outcome::Declined
        } else if votes[0] == Some(false) {
            Outcome::Taken
        } else {
            Outcome::Failed
        };
        self.finish(txn, o);
        for (i, node) in [Node::Reservations, Node::Payments].into_iter().enumerate() {
            let msg = if commit {
                Msg::Commit(txn)
            } else {
                Msg::Abort(txn)
            };
            if votes[i] == Some(true) {
                self.reliable(txn, node, msg);
            } else if !commit {
                // Presumed abort: a participant that did not vote yes gets
                // one abort; if it did prepare, its inquiries learn the rest.
                self.send(node, msg);
            }
        }
        if self.co[txn as usize].pending.is_empty() {
            self.co[txn as usize].step = Step::Done;
        }
    }

    fn coordinator(&mut self, msg: Msg) {
        match msg {
            Msg::HoldOk(txn) if self.co[txn as usize].step == Step::AwaitHold => {
                self.co[txn as usize].step = Step::AwaitCharge;
                self.send(Node::Payments, Msg::Charge(txn));
                self.step_timer(txn, 1);
            }
            Msg::HoldRefused(txn) if self.co[txn as usize].step == Step::AwaitHold => {
                self.co[txn as usize].step = Step::Done;
                let o = if self.co[txn as usize].recovered {
                    Outcome::Failed // the hold ran out while the coordinator was down
                } else {
                    Outcome::Taken
                };
                self.finish(txn, o);
            }
            Msg::Charged(txn) if self.co[txn as usize].step == Step::AwaitCharge => {
                self.co[txn as usize].step = Step::AwaitConfirm;
                self.reliable(txn, Node::Reservations, Msg::Confirm(txn));
            }
            Msg::Declined(txn) if self.co[txn as usize].step == Step::AwaitCharge => {
                // Compensate T1.
                self.co[txn as usize].step = Step::Done;
                self.finish(txn, Outcome::Declined);
                self.reliable(txn, Node::Reservations, Msg::Release(txn));
            }
            Msg::Confirmed(txn) => {
                self.co[txn as usize].pending.remove(&Node::Reservations);
                self.co[txn as usize].step = Step::Done;
                self.finish(txn, Outcome::Booked);
            }
            Msg::ConfirmExpired(txn) => {
                // The hold ran out: compensate T2.
                self.co[txn as usize].pending.remove(&Node::Reservations);
                self.co[txn as usize].step = Step::Done;
                self.finish(txn, Outcome::Failed);
                self.reliable(txn, Node::Payments, Msg::Refund(txn));
            }
            Msg::Released(txn) => {
                self.acked(txn, Node::Reservations);
            }
            Msg::Refunded(txn) => {
                self.acked(txn, Node::Payments);
            }
            Msg::Vote(txn, from, yes) => {
                let c = &mut self.co[txn as usize];
                if c.step != Step::Voting {
                    return;
                }
                c.votes[usize::from(from == Node::Payments)] = Some(yes);
                if !yes {
                    self.decide(txn, false);
                } else if c.votes == [Some(true), Some(true)] {
                    self.decide(txn, true);
                }
            }
            Msg::Ack(txn, from) => self.acked(txn, from),
            Msg::Inquire(txn, from) => {
                let c = &self.co[txn as usize];
                let commit = match c.step {
                    Step::Voting => return, // still deciding: its own timer will
                    Step::Decided(commit) => commit,
                    _ => c.outcome == Some(Outcome::Booked),
                };
                self.send(
                    from,
                    if commit {
                        Msg::Commit(txn)
                    } else {
                        Msg::Abort(txn)
                    },
                );
            }
            _ => {}
        }
    }

    /// Seats of `txn` go back; the lock they had counts against the booking
    /// if it did not book.
    fn unlock(&mut self, txn: Txn) {
        for &s in &self.book[txn as usize].seats {
            if self.seats[s as usize] == DSeat::Locked(txn) {
                self.seats[s as usize] = DSeat::Free;
            }
        }
        if let Some(t0) = self.locked_at.remove(&txn) {
            let held = self.now - t0;
            let n = self.book[txn as usize].seats.len() as f64;
            self.out.locked_seat_s += n * held as f64 / SEC as f64;
            self.out.longest_lock_ms = self.out.longest_lock_ms.max(held / MS);
        }
    }

    fn lock_seats(&mut self, txn: Txn) -> bool {
        let seats = &self.book[txn as usize].seats;
        if seats.iter().any(|&s| self.seats[s as usize] != DSeat::Free) {
            return false;
        }
        for &s in seats {
            self.seats[s as usize] = DSeat::Locked(txn);
        }
        self.locked_at.insert(txn, self.now);
        true
    }

    fn sell(&mut self, txn: Txn) {
        for &s in &self.book[txn as usize].seats {
            self.seats[s as usize] = DSeat::Sold(txn);
        }
        self.locked_at.remove(&txn);
    }

    fn prepared(&mut self, txn: Txn, node: Node) {
        self.prepared_at.insert((txn, node), self.now);
        let t = self.now + self.timeout();
        self.at(t, DEv::Inquiry(txn, node, 0));
    }

    fn decided(&mut self, txn: Txn, node: Node) {
        if let Some(t0) = self.prepared_at.remove(&(txn, node)) {
            let d = self.now - t0;
            self.out.longest_in_doubt_ms = self.out.longest_in_doubt_ms.max(d / MS);
            if d > self.timeout() {
                self.out.blocked += 1;
            }
        }
    }

    fn reservations(&mut self, msg: Msg) {
        let r = Node::Reservations;
        match msg {
            Msg::Hold(txn) => {
                let reply = match self.rstate.get(&txn).copied() {
                    Some(RState::Held | RState::Sold) => Msg::HoldOk(txn),
                    Some(_) => Msg::HoldRefused(txn),
                    None if self.lock_seats(txn) => {
                        self.rstate.insert(txn, RState::Held);
                        let deadline = self.now + self.cfg.hold_ms * MS;
                        self.holds.insert(txn, (), deadline);
                        Msg::HoldOk(txn)
                    }
                    None => {
                        self.rstate.insert(txn, RState::Refused);
                        Msg::HoldRefused(txn)
                    }
                };
                self.send(Node::Coordinator, reply);
            }
            Msg::Confirm(txn) => {
                let reply = match self.rstate.get(&txn) {
                    Some(RState::Held) => {
                        self.holds.remove(&txn);
                        self.sell(txn);
                        self.rstate.insert(txn, RState::Sold);
                        Msg::Confirmed(txn)
                    }
                    Some(RState::Sold) => Msg::Confirmed(txn),
                    _ => Msg::ConfirmExpired(txn),
                };
                self.send(Node::Coordinator, reply);
            }
            Msg::Release(txn) => {
                match self.rstate.get(&txn) {
                    Some(RState::Held) => {
                        self.holds.remove(&txn);
                        self.unlock(txn);
                        self.rstate.insert(txn, RState::Released);
                    }
                    None => {
                        // A tombstone: a hold arriving late is refused.
                        self.rstate.insert(txn, RState::Released);
                    }
                    _ => {}
                }
                self.send(Node::Coordinator, Msg::Released(txn));
            }
            Msg::Prepare(txn) => {
                let yes = match self.rstate.get(&txn).copied() {
                    Some(RState::Prepared) => true,
                    Some(_) => false,
                    None if self.lock_seats(txn) => {
                        self.rstate.insert(txn, RState::Prepared);
                        self.prepared(txn, r);
                        true
                    }
                    None => {
                        self.rstate.insert(txn, RState::Refused);
                        false
                    }
                };
                self.send(Node::Coordinator, Msg::Vote(txn, r, yes));
            }
            Msg::Commit(txn) => {
                if self.rstate.get(&txn) == Some(&RState::Prepared) {
                    self.sell(txn);
                    self.rstate.insert(txn, RState::Sold);
                    self.decided(txn, r);
                }
                self.send(Node::Coordinator, Msg::Ack(txn, r));
            }
            Msg::Abort(txn) => {
                match self.rstate.get(&txn) {
                    Some(RState::Prepared) => {
                        self.unlock(txn);
                        self.rstate.insert(txn, RState::Aborted);
                        self.decided(txn, r);
                    }
                    None => {
                        self.rstate.insert(txn, RState::Aborted);
                    }
                    _ => {}
                }
                self.send(Node::Coordinator, Msg::Ack(txn, r));
            }
            _ => {}
        }
    }

    fn payments(&mut self, msg: Msg) {
        let p = Node::Payments;
        match msg {
            Msg::Charge(txn) => {
                let st = match self.pstate.get(&txn) {
                    Some(&s) => s,
                    None => {
                        let s = match self.book[txn as usize].card {
                            Card::Good => PState::Captured,
                            Card::Declined => PState::Declined,
                        };
                        self.pstate.insert(txn, s);
                        s
                    }
                };
                let reply = if st == PState::Captured {
                    Msg::Charged(txn)
                } else {
                    Msg::Declined(txn)
                };
                self.send(Node::Coordinator, reply);
            }
            Msg::Refund(txn) => {
                match self.pstate.get(&txn) {
                    Some(PState::Captured) => {
                        self.out.refunds += 1;
                        self.pstate.insert(txn, PState::Refunded);
                    }
                    None => {
                        self.pstate.insert(txn, PState::Refunded);
                    }
                    _ => {}
                }
                self.send(Node::Coordinator, Msg::Refunded(txn));
            }
            Msg::Prepare(txn) => {
                let yes = match self.pstate.get(&txn) {
                    Some(PState::Authorized) => true,
                    Some(_) => false,
                    None if self.book[txn as usize].card == Card::Good => {
                        self.pstate.insert(txn, PState::Authorized);
                        self.prepared(txn, p);
                        true
                    }
                    None => {
                        self.pstate.insert(txn, PState::Declined);
                        false
                    }
                };
                self.send(Node::Coordinator, Msg::Vote(txn, p, yes));
            }
            Msg::Commit(txn) => {
                if self.pstate.get(&txn) == Some(&PState::Authorized) {
                    self.pstate.insert(txn, PState::Captured);
                    self.decided(txn, p);
                }
                self.send(Node::Coordinator, Msg::Ack(txn, p));
            }
            Msg::Abort(txn) => {
                match self.pstate.get(&txn) {
                    Some(PState::Authorized) => {
                        self.pstate.insert(txn, PState::Voided);
                        self.decided(txn, p);
                    }
                    None => {
                        self.pstate.insert(txn, PState::Voided);
                    }
                    _ => {}
                }
                self.send(Node::Coordinator, Msg::Ack(txn, p));
            }
            _ => {}
        }
    }

    /// A prepared participant that heard nothing asks again, with backoff,
    /// for as long as it stays in doubt.
    fn inquiry(&mut self, txn: Txn, node: Node, attempt: u32) {
        if !self.prepared_at.contains_key(&(txn, node)) {
            return;
        }
        if !self.down[idx(node)] {
            self.send(Node::Coordinator, Msg::Inquire(txn, node));
        }
        let wait = self.timeout() + self.backoff.delay(attempt, self.rng.next_u64());
        let t = self.now + wait;
        self.at(t, DEv::Inquiry(txn, node, attempt + 1));
    }

    /// The reservations store releases the seats of Saga holds that ran out.
    fn sweep(&mut self) {
        if !self.down[1] {
            for (txn, ()) in self.holds.expire(self.now) {
                self.unlock(txn);
                self.rstate.insert(txn, RState::Expired);
            }
        }
        if self.live > 0 || !self.holds.is_empty() {
            let t = self.now + self.cfg.sweep_ms.max(1) * MS;
            self.at(t, DEv::Sweep);
        }
    }

    /// The coordinator restarts and reads its log.
    fn recover(&mut self) {
        for txn in 0..self.co.len() as Txn {
            let step = self.co[txn as usize].step;
            match step {
                Step::New | Step::Done if self.co[txn as usize].pending.is_empty() => continue,
                Step::AwaitHold => {
                    self.co[txn as usize].recovered = true;
                    self.send(Node::Reservations, Msg::Hold(txn));
                    self.step_timer(txn, 0);
                }
                Step::AwaitCharge => {
                    self.co[txn as usize].recovered = true;
                    self.send(Node::Payments, Msg::Charge(txn));
                    self.step_timer(txn, 1);
                }
                // Presumed abort: no decision logged means abort.
                Step::Voting => {
                    self.co[txn as usize].votes = [None, None];
                    self.decide(txn, false);
                }
                _ => {}
            }
            let pending: Vec<(Node, Msg)> = self.co[txn as usize]
                .pending
                .iter()
                .map(|(&n, &(m, _))| (n, m))
                .collect();
            for (node, msg) in pending {
                self.reliable(txn, node, msg);
            }
        }
    }
}

/// The drill's bookings: Poisson arrivals of 1-4 seats from a shuffled
/// stadium, so that bookings rarely meet, except `clash_share` of them that
/// want the seats of the booking just before (two fans on the same block).
pub fn drill_bookings(cfg: &DrillConfig) -> Vec<DrillBooking> {
    let mut rng = Rng(cfg.seed);
    let mut order: Vec<u32> = (0..cfg.seats.max(4)).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let mut next = 0;
    let mut t = 0.0;
    let gap = SEC as f64 / cfg.per_second.max(1e-3);
    let mut out: Vec<DrillBooking> = Vec::with_capacity(cfg.bookings);
    for _ in 0..cfg.bookings {
        t += -rng.float_nonzero().ln() * gap;
        let n = 1 + rng.below(4);
        let seats = match out.last() {
            Some(prev) if rng.chance(cfg.clash_share) => prev.seats.clone(),
            _ => {
                let s: Vec<u32> = (0..n).map(|k| order[(next + k) % order.len()]).collect();
                next += n;
                s
            }
        };
        out.push(DrillBooking {
            at: t as u64,
            seats,
            card: if rng.chance(cfg.decline_share) {
                Card::Declined
            } else {
                Card::Good
            },
        });
    }
    out
}

/// Runs one protocol under one fault over `book`; returns the run and the
/// final seats and payments (for the tests' own checks).
pub fn drill(
    cfg: &DrillConfig,
    book: &[DrillBooking],
    proto: Protocol,
    fault: Fault,
) -> DrillOutcome {
    let mut d = Drill {
        cfg,
        proto,
        queue: BinaryHeap::new(),
        seq: 0,
        live: 0,
        now: 0,
        down: [false; 3],
        epoch: 0,
        book,
        co: vec![
            CoTxn {
                step: Step::New,
                outcome: None,
                pending: BTreeMap::new(),
                votes: [None, None],
                recovered: false,
            };
            book.len()
        ],
        seats: vec![DSeat::Free; cfg.seats.max(4) as usize],
        rstate: HashMap::new(),
        holds: ExpiryMap::new(),
        pstate: HashMap::new(),
        locked_at: HashMap::new(),
        prepared_at: HashMap::new(),
        backoff: Backoff::new(cfg.retry_base_ms.max(1) * MS, cfg.retry_cap_ms.max(1) * MS)
            .expect("a positive base and cap"),
        rng: Rng(cfg.seed ^ 0xD1CE),
        out: DrillRun {
            protocol: proto,
            fault,
            bookings: book.len(),
            booked: 0,
            taken: 0,
            declined: 0,
            failed: 0,
            refused: 0,
            messages: 0,
            booked_p50_ms: 0.0,
            locked_seat_s: 0.0,
            longest_lock_ms: 0,
            longest_in_doubt_ms: 0,
            blocked: 0,
            refunds: 0,
            sold_seats: 0,
            inconsistent: 0,
            declined_seated: 0,
        },
        booked_ms: Vec::new(),
    };
    for (i, b) in book.iter().enumerate() {
        d.at(b.at, DEv::Arrive(i as Txn));
    }
    let down_at = cfg.down_at_ms * MS;
    match fault {
        Fault::None => {}
        Fault::PaymentsDown | Fault::ReservationsDown => {
            let n = if fault == Fault::PaymentsDown {
                Node::Payments
            } else {
                Node::Reservations
            };
            d.at(down_at, DEv::Down(n));
            d.at(down_at + cfg.participant_down_ms * MS, DEv::Up(n));
        }
        Fault::CoordinatorDown => {
            // Crash just after a booking's first messages were delivered and
            // before their answers arrive, so that one is caught in flight.
            let first = book
                .iter()
                .map(|b| b.at)
                .find(|&t| t >= down_at)
                .unwrap_or(down_at);
            let crash = first + d.net() + MS / 2;
            d.at(crash, DEv::Down(Node::Coordinator));
            d.at(
                crash + cfg.coordinator_down_ms * MS,
                DEv::Up(Node::Coordinator),
            );
        }
    }
    d.at(0, DEv::Sweep);
    d.run();

    // Tally, and check each booking: its seats sold if and only if its money taken.
    let mut run = d.out;
    let mut booked_ms = d.booked_ms;
    run.booked_p50_ms = median_f64(&mut booked_ms);
    for (txn, c) in d.co.iter().enumerate() {
        match c.outcome {
            Some(Outcome::Booked) => run.booked += 1,
            Some(Outcome::Taken) => run.taken += 1,
            Some(Outcome::Declined) => run.declined += 1,
            Some(Outcome::Failed) => run.failed += 1,
            Some(Outcome::Refused) => run.refused += 1,
            None => run.inconsistent += 1,
        }
        let txn = txn as Txn;
        let seats = &book[txn as usize].seats;
        let sold = seats
            .iter()
            .filter(|&&s| d.seats[s as usize] == DSeat::Sold(txn))
            .count();
        let paid = d.pstate.get(&txn) == Some(&PState::Captured);
        let whole = sold == 0 || sold == seats.len();
        let told_booked = c.outcome == Some(Outcome::Booked);
        if !whole || (sold > 0) != paid || told_booked != paid || !c.pending.is_empty() {
            run.inconsistent += 1;
        }
        if sold > 0 && book[txn as usize].card == Card::Declined {
            run.declined_seated += 1;
        }
    }
    run.inconsistent += d
        .seats
        .iter()
        .filter(|s| matches!(s, DSeat::Locked(_)))
        .count();
    run.inconsistent += d.prepared_at.len();
    run.sold_seats = d
        .seats
        .iter()
        .filter(|s| matches!(s, DSeat::Sold(_)))
        .count();
    let owners = d
        .seats
        .iter()
        .map(|s| match s {
            DSeat::Sold(t) => Some(*t),
            _ => None,
        })
        .collect();
    let captured = d
        .pstate
        .iter()
        .map(|(&t, &s)| (t, s == PState::Captured))
        .collect();
    (run, owners, captured)
}

fn median_f64(xs: &mut [f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    xs[(xs.len() - 1) / 2]
}

// ---------------------------------------------------------------------------
// The run, the audit and the report.

/// The ledger held against the stores and seat maps after the day. Every
/// field counts violations; all are zero when the system is right.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Audit {
    /// Seats that two `Booked` answers both claim.
    pub double_sold: usize,
    /// Seats (or booking rows) whose final state disagrees with the `Booked` answers.
    pub sold_mismatch: usize,
    /// Seats still held after the last sweep.
    pub held_at_end: usize,
    /// Payment rows that disagree with the `Booked` answers, or captured twice.
    pub charge_mismatch: usize,
    /// Unpaid holds whose seats were given out before their deadline, sold
    /// to them, or not back at the end.
    pub unpaid_not_released: usize,
    /// Waiting-list answers out of FIFO order.
    pub fifo_violations: usize,
    /// Bookings paid with a declined card that own a seat or were charged,
    /// or good cards told the payment failed.
    pub declined_but_seated: usize,
    /// Hold clicks (reservation ids) that made more than one booking.
    pub rid_rebooked: usize,
    /// Users let through the gateway more often than their limit allows.
    pub over_limit: usize,
}

/// Checks the clients' ledger against the final stores.
pub fn audit(cfg: &Config, ledger: &Ledger, st: &FinalState) -> Audit {
    let mut a = Audit::default();
    // Who the clients were told owns each seat.
    let mut owner: HashMap<(ShowId, SeatNo), BookingId> = HashMap::new();
    for (&b, seats) in &ledger.booked {
        let show = ledger.holds.get(&b).map_or(u32::MAX, |g| g.show);
        for &s in seats {
            if owner.insert((show, s), b).is_some_and(|o| o != b) {
                a.double_sold += 1;
            }
        }
    }
    for (&show, seats) in &st.seats {
        for (i, seat) in seats.iter().enumerate() {
            let told = owner.get(&(show, i as SeatNo)).copied();
            match *seat {
                Seat::Sold(b) if told != Some(b) => a.sold_mismatch += 1,
                Seat::Free if told.is_some() => a.sold_mismatch += 1,
                Seat::Held(_) => a.held_at_end += 1,
                _ => {}
            }
        }
    }
    for (&b, row) in &st.bookings {
        if (row.status == Status::Booked) != ledger.booked.contains_key(&b) {
            a.sold_mismatch += 1;
        }
    }
    for (&b, p) in &st.payments {
        if p.captures > 1 || (p.status == PaymentStatus::Captured) != ledger.booked.contains_key(&b)
        {
            a.charge_mismatch += 1;
        }
    }
    a.charge_mismatch += ledger
        .booked
        .keys()
        .filter(|b| !st.payments.contains_key(b))
        .count();
    // Holds on each seat in the order they were given.
    let mut grants: HashMap<(ShowId, SeatNo), Vec<(u64, BookingId)>> = HashMap::new();
    for (&b, g) in &ledger.holds {
        for &s in &g.seats {
            grants.entry((g.show, s)).or_default().push((g.at, b));
        }
    }
    for v in grants.values_mut() {
        v.sort_unstable();
    }
    for &b in &ledger.unpaid {
        let g = &ledger.holds[&b];
        let sold_to_it = ledger.booked.contains_key(&b)
            || st
                .bookings
                .get(&b)
                .is_some_and(|r| r.status == Status::Booked);
        let mut bad = sold_to_it;
        for &s in &g.seats {
            // The seat stayed held until the deadline, then came back: free
            // at the end, or given to a hold made at or after the deadline.
            let later = &grants[&(g.show, s)];
            let pos = later.iter().position(|&(_, x)| x == b).expect("granted");
            if let Some(&(t, _)) = later.get(pos + 1) {
                bad |= t < g.expires_at;
            }
            match st.seats[&g.show][s as usize] {
                Seat::Free => {}
                Seat::Held(o) | Seat::Sold(o) => {
                    bad |= o == b || ledger.holds.get(&o).is_none_or(|h| h.at < g.expires_at);
                }
            }
        }
        a.unpaid_not_released += usize::from(bad);
    }
    // Strict FIFO: the users served are the first of those who joined and did not leave.
    for (show, joined) in &ledger.joined {
        let stayed: Vec<UserId> = joined
            .iter()
            .copied()
            .filter(|&u| !ledger.left.contains(&(*show, u)))
            .collect();
        let served = ledger.served.get(show).map_or(&[][..], |v| &v[..]);
        a.fifo_violations += served
            .iter()
            .enumerate()
            .filter(|&(i, u)| stayed.get(i) != Some(u))
            .count();
    }
    a.fifo_violations += ledger
        .served
        .iter()
        .filter(|(show, _)| !ledger.joined.contains_key(show))
        .map(|(_, v)| v.len())
        .sum::<usize>();
    for &b in &ledger.declined_cards {
        let seated = st
            .seats
            .values()
            .flatten()
            .any(|s| *s == Seat::Sold(b) || *s == Seat::Held(b));
        let charged = st.payments.get(&b).is_some_and(|p| p.captures > 0);
        a.declined_but_seated += usize::from(seated || charged || ledger.booked.contains_key(&b));
    }
    a.declined_but_seated += ledger
        .payment_failed
        .iter()
        .filter(|b| !ledger.declined_cards.contains(b))
        .count();
    let mut rids: HashMap<(ShowId, ReservationId), usize> = HashMap::new();
    for row in st.bookings.values() {
        if let Some(rid) = row.rid {
            *rids.entry((row.show, rid)).or_default() += 1;
        }
    }
    a.rid_rebooked = rids.values().filter(|&&n| n > 1).count();
    // GCRA admits at most the burst plus one per emission interval.
    let interval = 60 * SEC / u64::from(cfg.per_user_per_minute.max(1));
    a.over_limit = ledger
        .allowed
        .values()
        .filter(|&&(first, last, n)| n > u64::from(cfg.per_user_burst) + (last - first) / interval)
        .count();
    a
}

/// What the booking day did.
#[derive(Clone, Debug, Default)]
pub struct DayReport {
    /// Users who came.
    pub users: usize,
    /// Refresh bots.
    pub bots: usize,
    /// The show the bots hammer.
    pub hot_show: ShowId,
    /// Simulated hours from the first arrival to the last sweep.
    pub sim_hours: f64,
    /// Requests that reached an app server.
    pub requests: u64,
    /// 429s to ordinary users.
    pub limited_users: usize,
    /// 429s to bots.
    pub limited_bots: usize,
    /// Bot requests let through.
    pub bot_allowed: u64,
    /// Holds given (by a click or from a waiting list).
    pub holds: usize,
    /// ...of which from a waiting list.
    pub from_waiting_list: usize,
    /// Bookings paid.
    pub booked: usize,
    /// Seats sold.
    pub seats_sold: usize,
    /// Seats of all shows.
    pub seats_total: usize,
    /// Holds that ran out (released by a sweep).
    pub expired: usize,
    /// Holds given back.
    pub cancelled: usize,
    /// Payments declined, seats released (the Saga's compensation).
    pub payment_failed: usize,
    /// Payments after the hold ran out.
    pub paid_late: usize,
    /// Repeated clicks.
    pub repeated_clicks: usize,
    /// ...answered differently from the first click.
    pub repeated_mismatch: usize,
    /// Users who joined a waiting list.
    pub joined: usize,
    /// ...were served seats.
    pub served: usize,
    /// ...gave up.
    pub left: usize,
    /// Users who found the show full and did not wait.
    pub turned_away: usize,
    /// Most holds kept at once.
    pub peak_holds: usize,
    /// Seat-map latency: median.
    pub map_p50: Duration,
    /// ...99th percentile.
    pub map_p99: Duration,
    /// Hold latency: median.
    pub hold_p50: Duration,
    /// ...99th percentile.
    pub hold_p99: Duration,
    /// Payment (the Saga) latency: median.
    pub pay_p50: Duration,
    /// ...99th percentile.
    pub pay_p99: Duration,
    /// One app server's sweep: median.
    pub sweep_p50: Duration,
    /// ...99th percentile.
    pub sweep_p99: Duration,
    /// Calls through the gateway and their total time (one thread).
    pub calls: usize,
    /// See `calls`.
    pub calls_took: Duration,
    /// Requests per app server, fullest over mean, sharded by show id.
    pub by_show_peak: f64,
    /// The same if the ring were keyed by movie id.
    pub by_movie_peak: f64,
    /// Shows per app server: fewest, most.
    pub shows_per_server: (usize, usize),
    /// Answers a client could not make sense of.
    pub unexpected: usize,
    /// The ledger against the stores.
    pub audit: Audit,
    /// The clients' ledger (read by the tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub ledger: Ledger,
    /// The stores at the end.
    pub state: FinalState,
}

fn peak_over_mean(xs: &[u64]) -> f64 {
    let mean = xs.iter().sum::<u64>() as f64 / xs.len().max(1) as f64;
    xs.iter().copied().max().unwrap_or(0) as f64 / mean.max(1e-9)
}

fn session(show: ShowId) -> Session {
    Session {
        show,
        want: 1,
        plan: Plan::Pay,
        card: Card::Good,
        best: false,
        bot: false,
        double_click: false,
        rid: 0,
        seats: Vec::new(),
        booking: None,
        click: None,
        tries: 0,
        waiting: false,
    }
}

/// Runs the booking day on `cat`.
pub fn booking_day(cfg: &Config, cat: &Catalog) -> DayReport {
    let gw = Gateway::new(cat, cfg).expect("a valid config");
    let mut rng = Rng(cfg.seed ^ 0xDA7);
    let (plan, hot) = sessions(cfg, cat, &mut rng);
    let servers = cfg.app_servers as usize;
    let mut day = Day {
        cfg,
        cat,
        gw: &gw,
        rng: Rng(cfg.seed ^ 0xC11E),
        queue: BinaryHeap::new(),
        seq: 0,
        live: 0,
        sessions: Vec::new(),
        bots_until: HashMap::new(),
        ledger: Ledger::default(),
        show_owner: (0..cat.shows.len() as ShowId)
            .map(|s| gw.owner(&s))
            .collect(),
        movie_owner: (0..cat.movies)
            .map(|m| gw.owner(&format!("movie-{m}")))
            .collect(),
        by_show_key: vec![0; servers],
        by_movie_key: vec![0; servers],
        map_times: Vec::new(),
        hold_times: Vec::new(),
        pay_times: Vec::new(),
        sweep_times: Vec::new(),
        expired: 0,
        turned_away: 0,
        peak_holds: 0,
        end: 0,
    };
    for (t, s) in plan {
        let u = day.sessions.len() as UserId;
        day.sessions.push(s);
        day.at(t, Ev::Arrive(u));
    }
    let bot_for = cfg.bot_for_ms * MS;
    for _ in 0..cfg.bots {
        let u = day.sessions.len() as UserId;
        let mut s = session(hot);
        s.bot = true;
        day.sessions.push(s);
        let start = rng.next_u64() % (cfg.span_ms * MS).saturating_sub(bot_for).max(1);
        day.bots_until.insert(u, start + bot_for);
        day.at(start, Ev::Bot(u));
    }
    day.at(0, Ev::Sweep);
    day.run();

    let state = gw.snapshot();
    let a = audit(cfg, &day.ledger, &state);
    let l = &day.ledger;
    let bot_allowed = l
        .allowed
        .iter()
        .filter(|(u, _)| day.sessions[**u as usize].bot)
        .map(|(_, x)| x.2)
        .sum();
    let per_server: Vec<usize> = gw.servers().iter().map(|s| s.shows().count()).collect();
    let calls = day.map_times.len() + day.hold_times.len() + day.pay_times.len();
    let calls_took = day
        .map_times
        .iter()
        .chain(&day.hold_times)
        .chain(&day.pay_times)
        .sum();
    let seats_sold = state
        .seats
        .values()
        .flatten()
        .filter(|s| matches!(s, Seat::Sold(_)))
        .count();
    DayReport {
        users: cfg.users,
        bots: cfg.bots,
        hot_show: hot,
        sim_hours: day.end as f64 / (3600 * SEC) as f64,
        requests: gw.servers().iter().map(|s| s.handled()).sum(),
        limited_users: l.limited_users,
        limited_bots: l.limited_bots,
        bot_allowed,
        holds: l.holds.len(),
        from_waiting_list: l.holds.values().filter(|g| g.from_waiting_list).count(),
        booked: l.booked.len(),
        seats_sold,
        seats_total: cat.total_seats(),
        expired: day.expired,
        cancelled: l.cancelled.len(),
        payment_failed: l.payment_failed.len(),
        paid_late: l.hold_expired.len(),
        repeated_clicks: l.repeated_clicks,
        repeated_mismatch: l.repeated_mismatch,
        joined: l.joined.values().map(Vec::len).sum(),
        served: l.served.values().map(Vec::len).sum(),
        left: l.left.len(),
        turned_away: day.turned_away,
        peak_holds: day.peak_holds,
        map_p50: percentile(&mut day.map_times, 50.0),
        map_p99: percentile(&mut day.map_times, 99.0),
        hold_p50: percentile(&mut day.hold_times, 50.0),
        hold_p99: percentile(&mut day.hold_times, 99.0),
        pay_p50: percentile(&mut day.pay_times, 50.0),
        pay_p99: percentile(&mut day.pay_times, 99.0),
        sweep_p50: percentile(&mut day.sweep_times, 50.0),
        sweep_p99: percentile(&mut day.sweep_times, 99.0),
        calls,
        calls_took,
        by_show_peak: peak_over_mean(&day.by_show_key),
        by_movie_peak: peak_over_mean(&day.by_movie_key),
        shows_per_server: (
            per_server.iter().copied().min().unwrap_or(0),
            per_server.iter().copied().max().unwrap_or(0),
        ),
        unexpected: l.unexpected.len(),
        audit: a,
        ledger: day.ledger,
        state,
    }
}

/// Everything the example did.
#[derive(Clone, Debug)]
pub struct Report {
    /// The catalog.
    pub catalog: Catalog,
    /// The booking day.
    pub day: DayReport,
    /// The rush on threads.
    pub rush: RushReport,
    /// Seats that two `Booked` answers of the rush both claim.
    pub rush_double_sold: usize,
    /// Rush seats, rows or payments that disagree with its answers.
    pub rush_mismatch: usize,
    /// Saga and 2PC under each fault.
    pub drill: Vec<DrillRun>,
    /// The printed table.
    pub table: Table,
}

/// The rush's answers against its final stores: (double-sold seats, mismatches).
pub fn rush_audit(r: &RushReport) -> (usize, usize) {
    let mut owner: HashMap<(ShowId, SeatNo), BookingId> = HashMap::new();
    let mut booked: HashMap<BookingId, (ShowId, &[SeatNo])> = HashMap::new();
    let mut rid_booking: HashMap<(ShowId, ReservationId), BookingId> = HashMap::new();
    let mut double = 0;
    let mut mismatch = 0;
    for e in &r.entries {
        match &e.resp {
            Response::Booked { booking, seats } => {
                if let Some(&(_, prev)) = booked.get(booking) {
                    mismatch += usize::from(prev != &seats[..]);
                    continue;
                }
                booked.insert(*booking, (e.show, seats));
                for &s in seats {
                    if owner
                        .insert((e.show, s), *booking)
                        .is_some_and(|o| o != *booking)
                    {
                        double += 1;
                    }
                }
            }
            Response::Held { booking, .. } => {
                let first = *rid_booking.entry((e.show, e.rid)).or_insert(*booking);
                mismatch += usize::from(first != *booking);
            }
            _ => {}
        }
    }
    for (&show, seats) in &r.state.seats {
        for (i, seat) in seats.iter().enumerate() {
            let told = owner.get(&(show, i as SeatNo)).copied();
            match *seat {
                Seat::Sold(b) if told != Some(b) => mismatch += 1,
                Seat::Held(_) => mismatch += 1,
                Seat::Free if told.is_some() => mismatch += 1,
                _ => {}
            }
        }
    }
    for (&b, p) in &r.state.payments {
        if p.captures > 1 || (p.status == PaymentStatus::Captured) != booked.contains_key(&b) {
            mismatch += 1;
        }
    }
    (double, mismatch)
}

/// Runs the day, the rush and the drill; builds the table.
pub fn run(cfg: &Config) -> Report {
    let catalog = Catalog::build(cfg, &mut Rng(cfg.seed));
    let day = booking_day(cfg, &catalog);
    let rush = rush(cfg, &catalog);
    let (rush_double_sold, rush_mismatch) = rush_audit(&rush);
    let book = drill_bookings(&cfg.drill);
    let mut runs = Vec::new();
    for fault in Fault::ALL {
        for proto in [Protocol::Saga, Protocol::TwoPhaseCommit] {
            runs.push(drill(&cfg.drill, &book, proto, fault).0);
        }
    }
    let mut rep = Report {
        catalog,
        day,
        rush,
        rush_double_sold,
        rush_mismatch,
        drill: runs,
        table: Table::default(),
    };
    rep.table = table(cfg, &rep);
    rep
}

fn secs(ms: u64) -> String {
    if ms >= 60_000 {
        format!("{:.1} min", ms as f64 / 60_000.0)
    } else {
        format!("{:.1} s", ms as f64 / 1_000.0)
    }
}

fn table(cfg: &Config, r: &Report) -> Table {
    let c = &r.catalog;
    let d = &r.day;
    let mut t = Table::new(
        "ticketmaster",
        &format!(
            "shows sharded by hld-consistent-hash, 5-minute holds in hld-lru-feed ExpiryMaps, \
             repeated clicks in IdempotencyCaches, a per-user hld-ratelimit limit; \
             cities of {} from GeoNames",
            cfg.country
        ),
    );
    let names: Vec<&str> = c.cities.iter().take(4).map(|c| c.name.as_str()).collect();
    t.row(
        "cities (GeoNames)",
        format!("{} ({}, ...)", c.cities.len(), names.join(", ")),
    )
    .row(
        "cinemas / halls / shows / seats",
        format!(
            "{} / {} / {} / {}",
            c.cinemas.len(),
            c.halls.len(),
            c.shows.len(),
            d.seats_total
        ),
    )
    .row(
        "app servers on the ring / shows each",
        format!(
            "{} / {}-{}",
            cfg.app_servers, d.shows_per_server.0, d.shows_per_server.1
        ),
    )
    .row(
        "requests per app server, most/mean: by show id / by movie id",
        format!("{:.2}x / {:.2}x", d.by_show_peak, d.by_movie_peak),
    )
    .row(
        "users / simulated / requests to app servers",
        format!("{} / {:.1} h / {}", d.users, d.sim_hours, d.requests),
    )
    .row(
        "refresh bots on the hottest show",
        format!("{} on {}", d.bots, c.place(d.hot_show)),
    )
    .row(
        "gateway 429s: users / bots (bot requests let through)",
        format!(
            "{} / {} ({})",
            d.limited_users, d.limited_bots, d.bot_allowed
        ),
    )
    .row(
        "holds: all / from a waiting list / most at once",
        format!("{} / {} / {}", d.holds, d.from_waiting_list, d.peak_holds),
    )
    .row(
        "booked / seats sold of all",
        format!(
            "{} / {} of {} ({:.0}%)",
            d.booked,
            d.seats_sold,
            d.seats_total,
            100.0 * d.seats_sold as f64 / d.seats_total.max(1) as f64
        ),
    )
    .row(
        "holds expired / cancelled / card declined (released) / paid too late",
        format!(
            "{} / {} / {} / {}",
            d.expired, d.cancelled, d.payment_failed, d.paid_late
        ),
    )
    .row(
        "repeated clicks answered as the first",
        format!(
            "{} of {}",
            d.repeated_clicks - d.repeated_mismatch,
            d.repeated_clicks
        ),
    )
    .row(
        "waiting lists: joined / served in FIFO / gave up / turned away",
        format!(
            "{} / {} / {} / {}",
            d.joined, d.served, d.left, d.turned_away
        ),
    )
    .row(
        "seat map p50 / p99",
        format!("{} / {}", micros(d.map_p50), micros(d.map_p99)),
    )
    .row(
        "hold p50 / p99",
        format!("{} / {}", micros(d.hold_p50), micros(d.hold_p99)),
    )
    .row(
        "pay (the Saga) p50 / p99",
        format!("{} / {}", micros(d.pay_p50), micros(d.pay_p99)),
    )
    .row(
        "one app server's sweep p50 / p99; calls on one thread",
        format!(
            "{} / {}; {}",
            micros(d.sweep_p50),
            micros(d.sweep_p99),
            per_second(d.calls, d.calls_took)
        ),
    );
    let a = &d.audit;
    t.row(
        "left at the end: holds / waiters / answers clients did not expect",
        format!("{} / {} / {}", d.state.holds, d.state.waiting, d.unexpected),
    )
    .row(
        "ledger vs stores: seats sold twice / wrong owner / held at end",
        format!(
            "{} / {} / {}",
            a.double_sold, a.sold_mismatch, a.held_at_end
        ),
    )
    .row(
        "ledger vs stores: bad charges / unpaid kept / FIFO breaks / declined seated",
        format!(
            "{} / {} / {} / {}",
            a.charge_mismatch, a.unpaid_not_released, a.fifo_violations, a.declined_but_seated
        ),
    );
    let rr = &r.rush;
    t.row(
        "rush: threads x users on the hit's biggest shows",
        format!(
            "{} x {} on {} shows ({} seats)",
            rr.threads,
            rr.users,
            rr.shows.len(),
            rr.capacity
        ),
    )
    .row(
        "rush: requests / wall / throughput",
        format!(
            "{} / {:.2} s / {}",
            rr.requests,
            rr.took.as_secs_f64(),
            per_second(rr.requests as usize, rr.took)
        ),
    )
    .row(
        "rush: hold p50 / p99 under contention",
        format!("{} / {}", micros(rr.hold_p50), micros(rr.hold_p99)),
    )
    .row(
        "rush: seat conflicts / repeats same answer / in progress",
        format!(
            "{} / {} / {}",
            rr.conflicts, rr.repeats_same, rr.in_progress
        ),
    )
    .row(
        "rush: seats sold / double-sold / ledger mismatches",
        format!(
            "{} of {} / {} / {}",
            rr.state
                .seats
                .values()
                .flatten()
                .filter(|s| matches!(s, Seat::Sold(_)))
                .count(),
            rr.capacity,
            r.rush_double_sold,
            r.rush_mismatch
        ),
    );
    let dc = &cfg.drill;
    t.row(
        &format!(
            "Saga vs 2PC: {} bookings at {}/s, {} ms hops, {} s timeout",
            dc.bookings,
            dc.per_second,
            dc.net_ms,
            dc.timeout_ms as f64 / 1e3
        ),
        "booked / failed / msgs each / failed seat-s (longest) / in doubt",
    );
    for run in &r.drill {
        let fault = match run.fault {
            Fault::None => "all up".to_string(),
            Fault::PaymentsDown => format!("payments down {}", secs(dc.participant_down_ms)),
            Fault::ReservationsDown => {
                format!("reservations down {}", secs(dc.participant_down_ms))
            }
            Fault::CoordinatorDown => format!("coordinator down {}", secs(dc.coordinator_down_ms)),
        };
        let proto = match run.protocol {
            Protocol::Saga => "saga",
            Protocol::TwoPhaseCommit => "2PC",
        };
        let tried = (run.bookings - run.refused).max(1);
        t.row(
            &format!("{proto}, {fault}"),
            format!(
                "{} / {} / {:.1} / {:.0} ({}) / {}",
                run.booked,
                run.failed,
                run.messages as f64 / tried as f64,
                run.locked_seat_s,
                secs(run.longest_lock_ms),
                secs(run.longest_in_doubt_ms)
            ),
        );
    }
    t.row(
        "Saga vs 2PC: bookings whose seats and money disagree at the end",
        r.drill
            .iter()
            .map(|d| d.inconsistent + d.declined_seated)
            .sum::<usize>(),
    );
    t
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use super::*;

    /// A day small enough for the test profile, still with sold-out shows,
    /// queues, bots and every kind of client.
    fn small() -> Config {
        Config {
            cities: 3,
            users: 5_000,
            span_ms: 40 * 60 * 1_000,
            app_servers: 4,
            bots: 2,
            bot_for_ms: 5 * 60 * 1_000,
            rush_users: 4_000,
            rush_shows: 3,
            drill: DrillConfig {
                seats: 5_000,
                bookings: 1_500,
                per_second: 100.0,
                down_at_ms: 5_000,
                participant_down_ms: 5_000,
                coordinator_down_ms: 6 * 60 * 1_000,
                ..DrillConfig::default()
            },
            ..Config::default()
        }
    }

    fn day() -> &'static (Config, Catalog, DayReport) {
        static DAY: OnceLock<(Config, Catalog, DayReport)> = OnceLock::new();
        DAY.get_or_init(|| {
            let cfg = small();
            let cat = Catalog::build(&cfg, &mut Rng(cfg.seed));
            let rep = booking_day(&cfg, &cat);
            (cfg, cat, rep)
        })
    }

    /// One hall of `rows` x `per_row` seats with one show, behind a gateway.
    fn tiny(rows: u16, per_row: u16) -> Gateway {
        let cat = Catalog {
            cities: vec![City {
                name: "Pune".into(),
                population: 3_124_458,
                cinemas: vec![0],
            }],
            cinemas: vec![Cinema {
                city: 0,
                name: "Pune Screens 1".into(),
                halls: vec![0],
            }],
            halls: vec![Hall {
                cinema: 0,
                rows,
                per_row,
                shows: vec![0],
            }],
            shows: vec![Show {
                hall: 0,
                movie: 0,
                price_cents: 1_000,
            }],
            movies: 1,
        };
        Gateway::new(&cat, &small()).expect("valid")
    }

    fn sweep(gw: &Gateway, now: u64) -> usize {
        gw.servers()
            .iter()
            .map(|s| s.sweep(now, &gw.reservations))
            .sum()
    }

    fn hold(
        gw: &Gateway,
        rid: ReservationId,
        user: UserId,
        seats: &[SeatNo],
        now: u64,
    ) -> Response {
        gw.handle(
            Request::Hold {
                rid,
                user,
                show: 0,
                seats: seats.to_vec(),
            },
            now,
        )
    }

    fn pay(
        gw: &Gateway,
        rid: ReservationId,
        user: UserId,
        booking: BookingId,
        card: Card,
        now: u64,
    ) -> Response {
        gw.handle(
            Request::Pay {
                rid,
                user,
                show: 0,
                booking,
                card,
            },
            now,
        )
    }

    fn booking_of(r: &Response) -> BookingId {
        match r {
            Response::Held { booking, .. } => *booking,
            other => panic!("expected a hold, got {other:?}"),
        }
    }

    /// (show, seat) -> the booking the clients were told owns it; panics on a seat told twice.
    fn told_owners(l: &Ledger) -> HashMap<(ShowId, SeatNo), BookingId> {
        let mut owner = HashMap::new();
        for (&b, seats) in &l.booked {
            let show = l.holds[&b].show;
            assert_eq!(
                &l.holds[&b].seats, seats,
                "booked seats differ from the hold's"
            );
            for &s in seats {
                let prev = owner.insert((show, s), b);
                assert!(
                    prev.is_none(),
                    "seat {s} of show {show} sold to {prev:?} and {b}"
                );
            }
        }
        owner
    }

    #[test]
    fn no_seat_is_sold_twice_and_both_stores_agree_with_the_clients() {
        let (_, _, d) = day();
        let owner = told_owners(&d.ledger);
        assert!(owner.len() > 1_000, "the day sells seats: {}", owner.len());
        for (&show, seats) in &d.state.seats {
            for (i, s) in seats.iter().enumerate() {
                let told = owner.get(&(show, i as SeatNo));
                match s {
                    Seat::Sold(b) => assert_eq!(told, Some(b), "show {show} seat {i}"),
                    _ => assert_eq!(told, None, "show {show} seat {i} told sold, is {s:?}"),
                }
            }
        }
        for (b, row) in &d.state.bookings {
            assert_eq!(
                row.status == Status::Booked,
                d.ledger.booked.contains_key(b),
                "{row:?}"
            );
        }
        for (b, p) in &d.state.payments {
            assert!(p.captures <= 1, "booking {b} charged {} times", p.captures);
            assert_eq!(
                p.status == PaymentStatus::Captured,
                d.ledger.booked.contains_key(b)
            );
        }
        assert_eq!(d.audit, Audit::default());
        assert_eq!(
            d.unexpected,
            0,
            "{:?}",
            &d.ledger.unexpected[..d.unexpected.min(5)]
        );
    }

    #[test]
    fn every_seat_ends_sold_or_free() {
        let (_, cat, d) = day();
        let (mut sold, mut free) = (0, 0);
        for seats in d.state.seats.values() {
            for s in seats {
                match s {
                    Seat::Sold(_) => sold += 1,
                    Seat::Free => free += 1,
                    Seat::Held(b) => panic!("seat still held by {b}"),
                }
            }
        }
        assert_eq!(sold + free, cat.total_seats());
        assert_eq!(sold, d.ledger.booked.values().map(Vec::len).sum::<usize>());
        assert_eq!((d.state.holds, d.state.waiting), (0, 0));
        assert!(d
            .state
            .bookings
            .values()
            .all(|r| r.status != Status::Reserved));
        assert!(free > 0 && sold > 0);
    }

    #[test]
    fn unpaid_holds_last_five_minutes_then_release_their_seats() {
        let (cfg, _, d) = day();
        let l = &d.ledger;
        assert!(l.unpaid.len() > 100 && d.expired >= l.unpaid.len());
        // Every grant on a seat, in time order, from the clients' ledger.
        let mut grants: HashMap<(ShowId, SeatNo), Vec<(u64, BookingId)>> = HashMap::new();
        for (&b, g) in &l.holds {
            assert_eq!(g.expires_at, g.at + cfg.hold_ms * MS);
            for &s in &g.seats {
                grants.entry((g.show, s)).or_default().push((g.at, b));
            }
        }
        for v in grants.values_mut() {
            v.sort_unstable();
        }
        let mut came_back = 0;
        for b in &l.unpaid {
            let g = &l.holds[b];
            assert_eq!(d.state.bookings[b].status, Status::Expired);
            assert!(!d
                .state
                .payments
                .get(b)
                .is_some_and(|p| p.status == PaymentStatus::Captured));
            for &s in &g.seats {
                let on_seat = &grants[&(g.show, s)];
                let i = on_seat.iter().position(|(_, x)| x == b).unwrap();
                if let Some(&(t, _)) = on_seat.get(i + 1) {
                    assert!(
                        t >= g.expires_at,
                        "seat re-held {} ns early",
                        g.expires_at - t
                    );
                    came_back += 1;
                }
                assert_ne!(d.state.seats[&g.show][s as usize], Seat::Sold(*b));
            }
        }
        assert!(came_back > 0, "some expired seats were held again");
        // Paying too late is refused, and costs nothing.
        for b in &l.hold_expired {
            assert!(l.unpaid.contains(b));
        }
    }

    #[test]
    fn a_hold_blocks_its_seat_for_five_minutes_exactly() {
        let gw = tiny(2, 5);
        let t0 = SEC;
        let a = hold(&gw, 1, 10, &[3, 4], t0);
        let booking = booking_of(&a);
        let deadline = t0 + 5 * MIN;
        assert_eq!(sweep(&gw, deadline - 1), 0);
        assert_eq!(hold(&gw, 2, 11, &[4], deadline - 1), Response::SeatsTaken);
        assert_eq!(sweep(&gw, deadline), 1);
        assert!(matches!(
            hold(&gw, 3, 11, &[4], deadline),
            Response::Held { .. }
        ));
        assert_eq!(
            pay(&gw, 4, 10, booking, Card::Good, deadline + SEC),
            Response::HoldExpired { booking }
        );
        assert!(
            !gw.payments.rows().contains_key(&booking),
            "nothing charged"
        );
        assert_eq!(
            gw.reservations.row(booking).unwrap().status,
            Status::Expired
        );
        // Confirming removes the hold at once: no later sweep touches it.
        let c = booking_of(&hold(&gw, 5, 12, &[0], deadline));
        assert!(matches!(
            pay(&gw, 6, 12, c, Card::Good, deadline + SEC),
            Response::Booked { .. }
        ));
        assert_eq!(sweep(&gw, deadline + 20 * MIN), 1); // only user 11's hold
        assert_eq!(gw.snapshot().seats[&0][0], Seat::Sold(c));
    }

    #[test]
    fn waiters_are_served_in_fifo_order_on_the_day() {
        let (_, _, d) = day();
        let l = &d.ledger;
        let mut served = 0;
        for (show, joined) in &l.joined {
            let stayed: Vec<UserId> = joined
                .iter()
                .copied()
                .filter(|&u| !l.left.contains(&(*show, u)))
                .collect();
            let got = l.served.get(show).cloned().unwrap_or_default();
            assert_eq!(got[..], stayed[..got.len()], "show {show}");
            served += got.len();
        }
        assert!(served > 20, "waiting lists were served: {served}");
        assert!(l.served.keys().all(|s| l.joined.contains_key(s)));
    }

    #[test]
    fn freed_seats_go_to_the_head_of_the_queue_and_nobody_overtakes() {
        let gw = tiny(1, 4);
        let t = SEC;
        let all = booking_of(&hold(&gw, 1, 1, &[0, 1, 2, 3], t));
        let wait = |user, want| {
            gw.handle(
                Request::Wait {
                    user,
                    show: 0,
                    want,
                },
                t,
            )
        };
        assert_eq!(wait(2, 3), Response::Waiting { position: 1 });
        assert_eq!(wait(3, 2), Response::Waiting { position: 2 });
        assert_eq!(wait(4, 1), Response::Waiting { position: 3 });
        assert_eq!(
            wait(3, 2),
            Response::Waiting { position: 2 },
            "joining twice keeps the place"
        );
        assert!(gw.take_notifications().is_empty());
        // A newcomer may not take seats from under the queue.
        let cancel = gw.handle(
            Request::Cancel {
                user: 1,
                show: 0,
                booking: all,
            },
            t,
        );
        assert_eq!(cancel, Response::Cancelled { booking: all });
        let n = gw.take_notifications();
        assert_eq!(n.iter().map(|n| n.user).collect::<Vec<_>>(), [2]);
        assert_eq!(n[0].seats.len(), 3);
        // One seat is free, but user 3 wants two: user 4 does not overtake.
        assert_eq!(
            hold(&gw, 9, 9, &[n[0].seats[0] ^ 3], t),
            Response::QueueAhead { waiting: 2 }
        );
        // User 2 lets the hold run out: 3 + 1 seats free, users 3 then 4.
        sweep(&gw, n[0].expires_at);
        let m = gw.take_notifications();
        assert_eq!(
            m.iter()
                .map(|n| (n.user, n.seats.len()))
                .collect::<Vec<_>>(),
            [(3, 2), (4, 1)]
        );
        assert_eq!(
            gw.handle(Request::Leave { user: 4, show: 0 }, t),
            Response::NotWaiting
        );
    }

    #[test]
    fn repeated_clicks_book_once() {
        let (_, _, d) = day();
        assert!(d.ledger.repeated_clicks > 100);
        assert_eq!(d.ledger.repeated_mismatch, 0);
        let mut per_rid: HashMap<(ShowId, ReservationId), usize> = HashMap::new();
        for row in d.state.bookings.values() {
            if let Some(rid) = row.rid {
                *per_rid.entry((row.show, rid)).or_default() += 1;
            }
        }
        assert!(per_rid.values().all(|&n| n == 1));

        let gw = tiny(2, 5);
        let t = SEC;
        let first = hold(&gw, 77, 5, &[1, 2], t);
        assert_eq!(hold(&gw, 77, 5, &[1, 2], t + 300 * MS), first);
        let other = hold(&gw, 77, 5, &[3], t + 400 * MS);
        assert!(matches!(
            other,
            Response::Conflict(lru_feed::Error::FingerprintMismatch { .. })
        ));
        let b = booking_of(&first);
        let paid = pay(&gw, 78, 5, b, Card::Good, t + SEC);
        assert!(matches!(paid, Response::Booked { .. }));
        assert_eq!(pay(&gw, 78, 5, b, Card::Good, t + 2 * SEC), paid);
        assert_eq!(gw.reservations.rows().len(), 1);
        assert_eq!(gw.payments.rows()[&b].captures, 1);
    }

    #[test]
    fn a_failed_payment_leaves_no_seat_taken() {
        let (_, _, d) = day();
        let l = &d.ledger;
        assert!(l.payment_failed.len() > 20);
        assert!(l.payment_failed.is_subset(&l.declined_cards));
        for b in &l.declined_cards {
            assert!(!l.booked.contains_key(b));
            assert!(d
                .state
                .seats
                .values()
                .flatten()
                .all(|s| *s != Seat::Sold(*b) && *s != Seat::Held(*b)));
            assert!(d.state.payments.get(b).is_none_or(|p| p.captures == 0));
            assert_ne!(d.state.bookings[b].status, Status::Booked);
        }

        let gw = tiny(1, 6);
        let t = SEC;
        let b = booking_of(&hold(&gw, 1, 1, &[2, 3], t));
        assert_eq!(
            pay(&gw, 2, 1, b, Card::Declined, t),
            Response::PaymentFailed { booking: b }
        );
        assert_eq!(gw.reservations.row(b).unwrap().status, Status::Cancelled);
        assert_eq!(gw.payments.rows()[&b].status, PaymentStatus::Declined);
        assert!(
            matches!(hold(&gw, 3, 2, &[2, 3], t), Response::Held { .. }),
            "the seats are free again"
        );
        assert_eq!(gw.active_holds(), 1);
    }

    #[test]
    fn the_rush_on_threads_never_sells_a_seat_twice() {
        let cfg = small();
        let cat = Catalog::build(&cfg, &mut Rng(cfg.seed));
        let r = rush(&cfg, &cat);
        let mut owner: HashMap<(ShowId, SeatNo), BookingId> = HashMap::new();
        let mut held: HashMap<(ShowId, ReservationId), BookingId> = HashMap::new();
        let mut booked = HashSet::new();
        for e in &r.entries {
            match &e.resp {
                Response::Booked { booking, seats } => {
                    booked.insert(*booking);
                    for &s in seats {
                        let o = *owner.entry((e.show, s)).or_insert(*booking);
                        assert_eq!(o, *booking, "seat {s} of show {} sold twice", e.show);
                    }
                }
                Response::Held { booking, .. } => {
                    assert_eq!(*held.entry((e.show, e.rid)).or_insert(*booking), *booking);
                }
                _ => {}
            }
        }
        let mut sold = 0;
        for (&show, seats) in &r.state.seats {
            for (i, s) in seats.iter().enumerate() {
                assert!(!matches!(s, Seat::Held(_)), "a hold left after the rush");
                if let Seat::Sold(b) = s {
                    assert_eq!(owner.get(&(show, i as SeatNo)), Some(b));
                    sold += 1;
                }
            }
        }
        assert_eq!(sold, owner.len());
        assert!(sold > 0);
        for (b, p) in &r.state.payments {
            assert!(p.captures <= 1);
            assert_eq!(p.status == PaymentStatus::Captured, booked.contains(b));
        }
        assert_eq!(rush_audit(&r), (0, 0));
    }

    #[test]
    fn the_gateway_limits_each_user() {
        let (cfg, _, d) = day();
        let l = &d.ledger;
        assert!(
            l.limited_bots > 1_000,
            "bots hit the limit: {}",
            l.limited_bots
        );
        assert_eq!(l.limited_users, 0, "ordinary users stay under it");
        let interval = 60 * SEC / u64::from(cfg.per_user_per_minute);
        for &(first, last, n) in l.allowed.values() {
            assert!(n <= u64::from(cfg.per_user_burst) + (last - first) / interval);
        }
        // Bad settings are the cores' typed errors.
        let cat = Catalog::build(cfg, &mut Rng(1));
        let zero_rate = Config {
            per_user_per_minute: 0,
            ..small()
        };
        assert!(matches!(
            Gateway::new(&cat, &zero_rate),
            Err(SetupError::Limit(_))
        ));
        let zero_ttl = Config {
            click_memory_ms: 0,
            ..small()
        };
        assert!(matches!(
            Gateway::new(&cat, &zero_ttl),
            Err(SetupError::Clicks(lru_feed::Error::ZeroTtl))
        ));
        let none = Config {
            app_servers: 0,
            ..small()
        };
        assert!(matches!(
            Gateway::new(&cat, &none),
            Err(SetupError::NoAppServers)
        ));
    }

    #[test]
    fn shows_live_on_the_app_server_the_ring_names() {
        let cfg = small();
        let cat = Catalog::build(&cfg, &mut Rng(cfg.seed));
        let gw = Gateway::new(&cat, &cfg).unwrap();
        let mut seen = HashSet::new();
        for (i, s) in gw.servers().iter().enumerate() {
            for show in s.shows() {
                assert_eq!(gw.owner(&show) as usize, i);
                assert!(seen.insert(show));
            }
        }
        assert_eq!(seen.len(), cat.shows.len());
        let show = 5;
        let before: Vec<u64> = gw.servers().iter().map(|s| s.handled()).collect();
        gw.handle(Request::SeatMap { user: 1, show }, SEC);
        for (i, s) in gw.servers().iter().enumerate() {
            let grew = s.handled() - before[i];
            assert_eq!(grew, u64::from(i as ServerId == gw.owner(&show)));
        }
        assert_eq!(
            gw.handle(
                Request::SeatMap {
                    user: 1,
                    show: 1 << 30
                },
                SEC
            ),
            Response::UnknownShow
        );
        let gw1 = tiny(1, 4);
        assert_eq!(
            hold(&gw1, 1, 1, &[4], SEC),
            Response::BadRequest("no such seat")
        );
        assert_eq!(
            hold(&gw1, 2, 1, &[], SEC),
            Response::BadRequest("a booking has 1 to 8 seats")
        );
        assert_eq!(
            hold(&gw1, 3, 1, &[1, 1], SEC),
            Response::BadRequest("a seat twice")
        );
    }

    #[test]
    fn the_catalog_is_built_from_geonames() {
        let (_, cat, _) = day();
        let names: Vec<&str> = cat.cities.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Mumbai", "Delhi", "Bengaluru"]);
        assert!(cat.cities[0].cinemas.len() > cat.cities[2].cinemas.len());
        let jp = biggest_cities("JP", usize::MAX);
        assert!(
            jp.iter().any(|(n, _)| n == "Misato, Saitama"),
            "quoted names parse"
        );
        assert!(jp.windows(2).all(|w| w[0].1 >= w[1].1));
        assert_eq!(
            cat.total_seats(),
            (0..cat.shows.len() as ShowId)
                .map(|s| cat.seats(s))
                .sum::<usize>()
        );
    }

    #[test]
    fn the_day_is_deterministic() {
        let (cfg, cat, d) = day();
        let again = booking_day(cfg, cat);
        assert_eq!(
            (
                again.holds,
                again.booked,
                again.expired,
                again.served,
                again.left,
                again.limited_bots
            ),
            (
                d.holds,
                d.booked,
                d.expired,
                d.served,
                d.left,
                d.limited_bots
            )
        );
        assert_eq!(again.ledger.booked, d.ledger.booked);
    }

    fn drills() -> &'static Vec<DrillOutcome> {
        static RUNS: OnceLock<Vec<DrillOutcome>> = OnceLock::new();
        RUNS.get_or_init(|| {
            let cfg = small().drill;
            let book = drill_bookings(&cfg);
            let mut out = Vec::new();
            for fault in Fault::ALL {
                for proto in [Protocol::Saga, Protocol::TwoPhaseCommit] {
                    out.push(drill(&cfg, &book, proto, fault));
                }
            }
            out
        })
    }

    #[test]
    fn saga_and_two_phase_commit_stay_atomic_under_every_fault() {
        let cfg = small().drill;
        let book = drill_bookings(&cfg);
        for (run, owners, captured) in drills() {
            let what = format!("{:?} {:?}", run.protocol, run.fault);
            assert_eq!((run.inconsistent, run.declined_seated), (0, 0), "{what}");
            // Seats sold if and only if paid, whole bookings only.
            let mut seats_of: HashMap<Txn, usize> = HashMap::new();
            for t in owners.iter().flatten() {
                *seats_of.entry(*t).or_default() += 1;
            }
            for (&t, &n) in &seats_of {
                assert_eq!(
                    n,
                    book[t as usize].seats.len(),
                    "{what}: booking {t} partly sold"
                );
                assert_eq!(
                    captured.get(&t),
                    Some(&true),
                    "{what}: seats of {t} sold unpaid"
                );
                assert_eq!(book[t as usize].card, Card::Good, "{what}");
            }
            for (&t, &paid) in captured {
                assert_eq!(
                    paid,
                    seats_of.contains_key(&t),
                    "{what}: {t} paid without seats"
                );
            }
            assert_eq!(run.booked, seats_of.len(), "{what}");
            assert!(
                run.booked > (book.len() - run.refused) / 2,
                "{what}: {run:?}"
            );
            assert_eq!(
                run.booked + run.taken + run.declined + run.failed + run.refused,
                book.len()
            );
        }
    }

    #[test]
    fn two_phase_commit_blocks_while_the_coordinator_is_down_and_the_saga_does_not() {
        let cfg = small().drill;
        let get = |p, f| {
            &drills()
                .iter()
                .find(|(r, _, _)| r.protocol == p && r.fault == f)
                .unwrap()
                .0
        };
        let tpc = get(Protocol::TwoPhaseCommit, Fault::CoordinatorDown);
        let saga = get(Protocol::Saga, Fault::CoordinatorDown);
        assert!(
            tpc.longest_in_doubt_ms >= cfg.coordinator_down_ms,
            "{tpc:?}"
        );
        assert!(tpc.longest_lock_ms >= cfg.coordinator_down_ms && tpc.blocked > 0);
        assert_eq!((saga.longest_in_doubt_ms, saga.blocked), (0, 0));
        // The hold's five minutes bound how long the saga keeps seats.
        assert!(
            saga.longest_lock_ms >= cfg.hold_ms,
            "a booking was caught in flight"
        );
        assert!(saga.longest_lock_ms <= cfg.hold_ms + cfg.sweep_ms + 2 * cfg.net_ms);
        // No fault: the saga takes three round trips, 2PC two, with more messages.
        let (s, t) = (
            get(Protocol::Saga, Fault::None),
            get(Protocol::TwoPhaseCommit, Fault::None),
        );
        assert!(s.messages < t.messages);
        assert!(s.booked_p50_ms > t.booked_p50_ms);
        // A store down: the saga retries its compensations until the store is
        // back; 2PC's presumed abort sends the silent participant one abort.
        let (s0, t0) = (s.messages, t.messages);
        let (s, t) = (
            get(Protocol::Saga, Fault::PaymentsDown),
            get(Protocol::TwoPhaseCommit, Fault::PaymentsDown),
        );
        assert!(s.failed > 0 && t.failed > 0);
        assert!(s.messages - s0 > t.messages - t0, "{s:?} {t:?}");
    }

    #[test]
    fn the_whole_run_reports_no_violation() {
        let mut cfg = small();
        cfg.users = 1_500;
        cfg.rush_users = 1_000;
        cfg.drill.bookings = 300;
        let r = run(&cfg);
        assert_eq!(r.day.audit, Audit::default());
        assert_eq!((r.rush_double_sold, r.rush_mismatch), (0, 0));
        assert_eq!(r.drill.len(), 8);
        assert!(r.table.rows.len() > 20);
        assert!(r
            .table
            .rows
            .iter()
            .all(|(k, v)| !k.contains('|') && !v.contains('|')));
    }
}
