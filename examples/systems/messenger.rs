//! Messenger: users on chat servers, a session service, a message store, and
//! exactly-once, in-order delivery across server moves and crashes (design
//! notes, section 9 and the "Websockets" and long-polling paragraphs).
//!
//! The notes' design: every online user holds one persistent connection (a
//! websocket, or a long poll) to a chat server, and "a server can maintain
//! around 50K open connections"; a session service ("the ELB maintains a
//! hashtable containing userId to serverId") tells which box holds a user, so
//! that "user A sends to chat service, the msg is stored and acked, and from
//! sessions we get the chat server where user B's websocket is connected, and
//! it sends the msg to user B". Messages go to HBase ("it buffers messages and
//! dumps them to disk periodically; fetching by row key and prefix scans");
//! order comes from "a sequence number maintained by each client".
//!
//! The services, one struct each, and the frames between them:
//! - [`Client`] (a user's app): `Send(msg)` up its socket with a per-sender,
//!   per-conversation sequence number; keeps the message in an outbox until
//!   `Ack`ed and resends it on every reconnect. It shows each conversation in
//!   sequence order: a message that arrives early waits in a reorder buffer, a
//!   copy of one already shown is dropped.
//! - [`ChatServer`] (holds the sockets, at most `max_connections`): on `Send` it
//!   writes the message to the store, asks the session service where the
//!   recipient is, forwards `Deliver(msg)` to that server, and acks the sender
//!   (section 9 lists deliver, ack, store; this follows the Websockets
//!   paragraph, "stored and acked", so an ack means the message survives the
//!   server); on `Deliver` it pushes the message down the recipient's socket. On a
//!   (re)connect it scans the store after the client's per-conversation cursors
//!   and pushes what the client missed. It sends `Heartbeat` every second.
//! - [`SessionService`] (user -> chat server): places users with consistent
//!   hashing with bounded loads ([`BoundedLoad`]: no server above
//!   `ceil(c * online / servers)`), admits a connection only while that bound
//!   stays under the per-server cap with one spare server's worth of headroom,
//!   and keeps a lease per server in an [`ExpiryMap`]: a server whose
//!   heartbeats stop is declared dead when its lease runs out, and its users
//!   are placed on the others (only its users move).
//! - [`MessageStore`] (the HBase stand-in): rows keyed by conversation, sender
//!   and sequence number, written to a memstore that is flushed to sorted
//!   files; prefix and range scans; a second table lists each user's threads.
//!
//! The simulation is deterministic: one event queue on a simulated nanosecond
//! clock, a seeded [`Rng`]. The network between the services reorders (each
//! frame takes 2-22 ms, a few take up to 300 ms more) and duplicates frames; a
//! closed socket loses what was in flight on it. Users come online and go
//! offline, chat in bursts, and a chat server crashes mid-run; a replacement
//! joins later. Delivery is at-least-once (outbox resends, store scans on
//! reconnect) made exactly-once by the receiver's dedup; two orderings make it
//! complete: the sending server stores a message *before* it looks the
//! recipient up, and the session service moves a user *before* the new server
//! scans the store for them, so a message routed to the old place was already
//! stored when the scan ran. Every message a sender pressed "send" on is kept in
//! an oracle log; the tests check each receiver showed exactly that, in order.
//!
//! Scale: 1:100. 500 connections per server stand for the notes' 50K, 4,000
//! users for 400,000. Message texts are short lines of `data/fortunes.txt`.
//!
//! Past one machine: the chat servers are the gateway fleet holding websockets
//! (the notes' stateless "dumb" gateways); the session service's user -> server
//! map lives in Redis (`HSET sessions <user> <server>`, read by every chat
//! server on send) or is computed by the gateways themselves from the same
//! consistent hashing: [`BoundedLoad`] placement is deterministic (XXH3 with a
//! documented seed), so every gateway given the same membership and the same
//! sequence of joins and leaves agrees on it. Messages go to HBase or Cassandra
//! with the same row key, `conversation (8 bytes, big-endian) | sender (4) |
//! sequence (4)`, so a conversation is one prefix scan and "what did I miss"
//! one range scan; the thread list is a second table keyed `user |
//! conversation`. Heartbeats become ZooKeeper ephemeral nodes or etcd leases
//! (a session with a TTL that a dead server stops renewing); the lease logic
//! here is an [`ExpiryMap`] fed `now` in nanoseconds, sans-I/O, so the same
//! code can sit behind a real timer. The receive side (sequence cursors and a
//! reorder buffer per conversation) is what a real client app keeps.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use hld::consistent_hash::{stable_hash, BoundedLoad, Move};
use hld::lru_feed::ExpiryMap;

use crate::common::{bytes, fortunes, ms, per_second, percentile, timed, Rng, Table};

/// A user.
pub type UserId = u32;
/// A chat server (`chat-<id>`).
pub type ServerId = u32;
/// A one-to-one conversation: the two user ids, smaller first, in one word.
pub type ConvId = u64;
/// One socket (a websocket connection); never reused.
pub type SocketId = u64;

const MS: u64 = 1_000_000;

/// The workload's knobs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Users (the notes' scale divided by 100).
    pub users: u32,
    /// Conversations each user starts with random other users.
    pub contacts: usize,
    /// Chat servers at the start.
    pub servers: u32,
    /// Most sockets one chat server holds (the notes' 50K, divided by 100).
    pub max_connections: usize,
    /// Bounded-load factor `c`: no server holds more than `ceil(c * online / servers)`.
    pub balance: f64,
    /// Servers' worth of headroom kept by admission control, so that the
    /// users of that many failed servers still fit under the cap.
    pub spare_servers: usize,
    /// Share of users online at the start.
    pub online_share: f64,
    /// Mean length of an online session (exponential), ms.
    pub mean_online_ms: u64,
    /// Mean time offline (exponential), ms.
    pub mean_offline_ms: u64,
    /// Mean pause between two bursts of messages of an online user, ms.
    pub mean_think_ms: u64,
    /// Messages per burst: 1 to this many.
    pub max_burst: u32,
    /// Longest gap between two messages of a burst, ms.
    pub burst_gap_ms: u64,
    /// Every frame takes at least this long, ms.
    pub net_min_ms: u64,
    /// Plus up to this much, uniformly, ms.
    pub net_jitter_ms: u64,
    /// Share of frames that take a slow path...
    pub net_slow_share: f64,
    /// ...of up to this much more, ms.
    pub net_slow_ms: u64,
    /// Share of frames delivered twice (a retry below the application).
    pub net_dup_share: f64,
    /// A chat server sends a heartbeat this often, ms.
    pub heartbeat_ms: u64,
    /// A server missing this many heartbeats' worth of time is declared dead.
    pub lease_heartbeats: u32,
    /// The session service checks its leases this often, ms.
    pub sweep_ms: u64,
    /// A disconnected client retries after this long plus up to as much again, ms.
    pub retry_ms: u64,
    /// Crashes: (at ms, server id). The server stops: sockets, heartbeats, all.
    pub crashes: Vec<(u64, ServerId)>,
    /// A new chat server joins at each of these times, ms.
    pub joins: Vec<u64>,
    /// Users chat for this long; then everyone comes online and the run ends
    /// once every message is shown and acked.
    pub duration_ms: u64,
    /// Longest the run may take after `duration_ms` to settle, ms.
    pub drain_limit_ms: u64,
    /// The store flushes its memstore to a sorted file at this many rows.
    pub memstore_rows: usize,
    /// Seed of the workload and the network (the run is deterministic).
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            users: 4_000,
            contacts: 3,
            servers: 11,
            max_connections: 500,
            balance: 1.25,
            spare_servers: 1,
            online_share: 0.75,
            mean_online_ms: 20_000,
            mean_offline_ms: 7_000,
            mean_think_ms: 3_000,
            max_burst: 4,
            burst_gap_ms: 60,
            net_min_ms: 2,
            net_jitter_ms: 20,
            net_slow_share: 0.05,
            net_slow_ms: 300,
            net_dup_share: 0.02,
            heartbeat_ms: 1_000,
            lease_heartbeats: 3,
            sweep_ms: 100,
            retry_ms: 500,
            crashes: vec![(20_000, 3)],
            joins: vec![40_000],
            duration_ms: 60_000,
            drain_limit_ms: 60_000,
            memstore_rows: 4_096,
            seed: 9,
        }
    }
}

/// One server failure as the session service saw it.
#[derive(Clone, Debug)]
pub struct Failover {
    /// The server that crashed.
    pub server: ServerId,
    /// Simulated time from the crash to the session service declaring it dead.
    pub detected_after: Option<Duration>,
    /// Its sockets when it crashed.
    pub users_on_server: usize,
    /// Users placed anywhere when it was declared dead.
    pub placed_users: usize,
    /// Users the session service placed elsewhere (bounded-load consistent hashing).
    pub moved: usize,
    /// Users `hash(user) % servers` would have moved for the same change.
    pub modulo_moved: usize,
    /// Users sent away because the survivors were at the cap (retry later).
    pub evicted: usize,
}

/// What one run did.
#[derive(Clone, Debug)]
pub struct Report {
    /// Users.
    pub users: u32,
    /// One-to-one conversations between them.
    pub conversations: usize,
    /// The per-server socket cap.
    pub max_connections: usize,
    /// The most sockets any server ever held.
    pub peak_connections: usize,
    /// Messages whose sender pressed "send".
    pub sent: usize,
    /// Messages shown by their recipient (each once: a second copy is dropped).
    pub delivered: usize,
    /// Of those, shown after arriving by a live push.
    pub delivered_live: usize,
    /// Of those, shown after arriving by a store scan on (re)connect.
    pub delivered_from_store: usize,
    /// Copies of already-shown or already-waiting messages the receivers dropped.
    pub duplicates_suppressed: usize,
    /// Messages that arrived before an earlier one of their sender and waited.
    pub reordered: usize,
    /// Messages a client sent again after a reconnect (no ack had come).
    pub resent: usize,
    /// Sends whose row the store had already (a resend or a network duplicate).
    pub idempotent_writes: usize,
    /// Frames lost on closed sockets or at dead servers.
    pub frames_lost: usize,
    /// `Deliver`s that reached a dead server or one the user had left (the
    /// message reached the user by a store scan instead).
    pub deliveries_missed: usize,
    /// Connects refused by admission control (cluster at the cap).
    pub refused: usize,
    /// Connects to a dead server the session service did not know was dead yet.
    pub connects_to_dead: usize,
    /// Sockets closed so a user could move (bounded-load sheds, joins, evictions).
    pub live_migrations: usize,
    /// Each crash.
    pub failovers: Vec<Failover>,
    /// Live servers declared dead (0 unless heartbeats are slower than the lease).
    pub false_detections: usize,
    /// Users that moved to a server when it joined.
    pub moved_on_join: usize,
    /// Click-to-shown time of messages that came by a live push (simulated): p50, p99.
    pub latency_live: (Duration, Duration),
    /// The same over every message, including those that waited for an
    /// offline recipient: p50, p99.
    pub latency_all: (Duration, Duration),
    /// Whether every message was shown and acked before the drain limit.
    pub complete: bool,
    /// Simulated time of the run.
    pub simulated: Duration,
    /// Wall time the simulation took.
    pub wall: Duration,
    /// Events the simulation processed.
    pub events: usize,
    /// Rows in the store.
    pub store_rows: usize,
    /// Bytes of those rows (key, timestamp, text).
    pub store_bytes: usize,
    /// Memstore flushes to sorted files.
    pub store_flushes: usize,
    /// Merges of the sorted files.
    pub store_compactions: usize,
    /// Prefix and range scans (catch-ups on connect).
    pub store_scans: usize,
    /// The printed table.
    pub table: Table,
}

// ---------------------------------------------------------------------------
// Messages and the store.

/// One chat message, as the sender's app built it.
#[derive(Debug)]
pub struct Message {
    /// The conversation.
    pub conv: ConvId,
    /// The sender.
    pub from: UserId,
    /// The recipient.
    pub to: UserId,
    /// 1, 2, 3, ... per sender and conversation: the notes' client-kept
    /// sequence number (per conversation, so a gap is visible to the receiver).
    pub seq: u32,
    /// When the sender pressed "send" (simulated ns): for latency only.
    pub sent_at: u64,
    /// The text.
    pub body: Rc<str>,
}

impl Message {
    fn key(&self) -> RowKey {
        RowKey {
            conv: self.conv,
            sender: self.from,
            seq: self.seq,
        }
    }
}

/// The conversation of two users.
pub fn conv_id(a: UserId, b: UserId) -> ConvId {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    (u64::from(lo) << 32) | u64::from(hi)
}

/// The other member of a conversation.
pub fn peer_of(conv: ConvId, me: UserId) -> UserId {
    let (lo, hi) = ((conv >> 32) as UserId, conv as UserId);
    if me == lo {
        hi
    } else {
        lo
    }
}

/// An HBase row key: conversation, sender, sequence number. Ordered as its
/// big-endian bytes `conv(8) | sender(4) | seq(4)` would be, so a
/// conversation is a prefix and a sender's messages after a cursor a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowKey {
    /// The conversation: the prefix.
    pub conv: ConvId,
    /// Who wrote it.
    pub sender: UserId,
    /// The sender's sequence number in the conversation.
    pub seq: u32,
}

/// The HBase stand-in: puts go to a sorted in-memory memstore, flushed to an
/// immutable sorted file when full (the notes: "stores all messages in its
/// buffer and then dumps them to disk periodically"); reads merge the
/// memstore and the files; files are merged when there are too many.
pub struct MessageStore {
    memstore: BTreeMap<RowKey, Rc<Message>>,
    files: Vec<Vec<(RowKey, Rc<Message>)>>,
    memstore_rows: usize,
    /// The thread list: (user, conversation), scanned by user prefix.
    threads: BTreeSet<(UserId, ConvId)>,
    rows: usize,
    bytes: usize,
    flushes: usize,
    compactions: usize,
    scans: usize,
}

/// Files allowed before they are compacted into one.
const MAX_FILES: usize = 6;

impl MessageStore {
    pub fn new(memstore_rows: usize) -> MessageStore {
        MessageStore {
            memstore: BTreeMap::new(),
            files: Vec::new(),
            memstore_rows: memstore_rows.max(1),
            threads: BTreeSet::new(),
            rows: 0,
            bytes: 0,
            flushes: 0,
            compactions: 0,
            scans: 0,
        }
    }

    /// Writes a message; false if its row was already there (a put of the same
    /// row is idempotent, as an HBase put of the same cell value is).
    pub fn put(&mut self, msg: &Rc<Message>) -> bool {
        let key = msg.key();
        if self.get(&key).is_some() {
            return false;
        }
        self.memstore.insert(key, Rc::clone(msg));
        self.threads.insert((msg.from, msg.conv));
        self.threads.insert((msg.to, msg.conv));
        self.rows += 1;
        // Row key, timestamp, body.
        self.bytes += 16 + 8 + msg.body.len();
        if self.memstore.len() >= self.memstore_rows {
            self.flush();
        }
        true
    }

    /// The row at `key`.
    pub fn get(&self, key: &RowKey) -> Option<&Rc<Message>> {
        if let Some(m) = self.memstore.get(key) {
            return Some(m);
        }
        self.files.iter().rev().find_map(|f| {
            f.binary_search_by(|(k, _)| k.cmp(key))
                .ok()
                .map(|i| &f[i].1)
        })
    }

    /// Rows of `sender` in `conv` with a sequence number above `after`, in order.
    pub fn scan_after(&mut self, conv: ConvId, sender: UserId, after: u32) -> Vec<Rc<Message>> {
        let from = RowKey {
            conv,
            sender,
            seq: after.saturating_add(1),
        };
        let to = RowKey {
            conv,
            sender,
            seq: u32::MAX,
        };
        self.scan(from, to)
    }

    /// Every row of a conversation (a prefix scan), in key order.
    #[cfg(test)]
    pub fn scan_conversation(&mut self, conv: ConvId) -> Vec<Rc<Message>> {
        let from = RowKey {
            conv,
            sender: 0,
            seq: 0,
        };
        let to = RowKey {
            conv,
            sender: UserId::MAX,
            seq: u32::MAX,
        };
        self.scan(from, to)
    }

    /// The conversations `user` has a message in (a prefix scan of the thread list).
    pub fn threads_of(&self, user: UserId) -> impl Iterator<Item = ConvId> + '_ {
        self.threads
            .range((user, 0)..=(user, ConvId::MAX))
            .map(|&(_, c)| c)
    }

    /// Rows in `from..=to` from the memstore and every file, merged.
    fn scan(&mut self, from: RowKey, to: RowKey) -> Vec<Rc<Message>> {
        self.scans += 1;
        let mut out: Vec<(RowKey, Rc<Message>)> = self
            .memstore
            .range(from..=to)
            .map(|(k, m)| (*k, Rc::clone(m)))
            .collect();
        for f in &self.files {
            let start = f.partition_point(|(k, _)| *k < from);
            out.extend(
                f[start..]
                    .iter()
                    .take_while(|(k, _)| *k <= to)
                    .map(|(k, m)| (*k, Rc::clone(m))),
            );
        }
        // A row lives in exactly one place (puts check first), so a sort merges.
        out.sort_unstable_by_key(|(k, _)| *k);
        out.into_iter().map(|(_, m)| m).collect()
    }

    fn flush(&mut self) {
        let file: Vec<_> = std::mem::take(&mut self.memstore).into_iter().collect();
        self.files.push(file);
        self.flushes += 1;
        if self.files.len() > MAX_FILES {
            let mut all: Vec<_> = self.files.drain(..).flatten().collect();
            all.sort_unstable_by_key(|(k, _)| *k);
            self.files.push(all);
            self.compactions += 1;
        }
    }
}

// ---------------------------------------------------------------------------
// The client.

/// How a message reached the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Pushed as it was sent (`Deliver` then push).
    Live,
    /// Found by the store scan when the client (re)connected.
    Store,
}

/// What the receive side did with an arriving message.
#[derive(Debug)]
pub enum Receipt {
    /// Already shown or already waiting: dropped.
    Duplicate,
    /// Ahead of a gap: waits for the missing ones.
    Held,
    /// Shown: this one and those that waited behind it, in order, each with
    /// the way it came.
    Shown(Vec<(Rc<Message>, Origin)>),
}

/// One conversation on the receiving side: the peer's messages shown so far
/// (exactly sequence numbers 1..=len) and those that arrived ahead of a gap.
#[derive(Default)]
pub struct Conversation {
    shown: Vec<Rc<Message>>,
    waiting: BTreeMap<u32, (Rc<Message>, Origin)>,
}

impl Conversation {
    /// The last sequence number shown: the cursor sent on reconnect.
    pub fn cursor(&self) -> u32 {
        self.shown.len() as u32
    }

    /// Takes one arriving message: shows it (and any that waited for it),
    /// holds it, or drops a copy.
    pub fn receive(&mut self, msg: Rc<Message>, origin: Origin) -> Receipt {
        let next = self.cursor() + 1;
        if msg.seq < next || self.waiting.contains_key(&msg.seq) {
            return Receipt::Duplicate;
        }
        if msg.seq > next {
            self.waiting.insert(msg.seq, (msg, origin));
            return Receipt::Held;
        }
        self.shown.push(Rc::clone(&msg));
        let mut newly = vec![(msg, origin)];
        while let Some((m, o)) = self.waiting.remove(&(self.cursor() + 1)) {
            self.shown.push(Rc::clone(&m));
            newly.push((m, o));
        }
        Receipt::Shown(newly)
    }

    /// The messages shown, in the order shown.
    #[cfg(test)]
    pub fn shown(&self) -> &[Rc<Message>] {
        &self.shown
    }

    /// Messages waiting behind a gap.
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

/// A user's app.
pub struct Client {
    pub user: UserId,
    contacts: Vec<UserId>,
    online: bool,
    /// Bumped on each online/offline switch: older timers are ignored.
    session: u32,
    /// Token of the one pending connect attempt: older ones are ignored.
    retry: u64,
    socket: Option<(ServerId, SocketId)>,
    next_seq: BTreeMap<ConvId, u32>,
    /// Sent, not acked: (message, whether it already went up some socket).
    outbox: BTreeMap<RowKey, (Rc<Message>, bool)>,
    inbox: BTreeMap<ConvId, Conversation>,
}

impl Client {
    fn new(user: UserId) -> Client {
        Client {
            user,
            contacts: Vec::new(),
            online: false,
            session: 0,
            retry: 0,
            socket: None,
            next_seq: BTreeMap::new(),
            outbox: BTreeMap::new(),
            inbox: BTreeMap::new(),
        }
    }

    /// "Send" pressed: the next sequence number of this conversation.
    fn compose(&mut self, peer: UserId, body: Rc<str>, now: u64) -> Rc<Message> {
        let conv = conv_id(self.user, peer);
        let seq = self.next_seq.entry(conv).or_insert(0);
        *seq += 1;
        let msg = Rc::new(Message {
            conv,
            from: self.user,
            to: peer,
            seq: *seq,
            sent_at: now,
            body,
        });
        self.outbox.insert(msg.key(), (Rc::clone(&msg), false));
        msg
    }

    /// The receive cursor of a conversation.
    pub fn cursor(&self, conv: ConvId) -> u32 {
        self.inbox.get(&conv).map_or(0, Conversation::cursor)
    }

    /// The conversations this client received messages in.
    #[cfg(test)]
    pub fn conversations(&self) -> impl Iterator<Item = (ConvId, &Conversation)> + '_ {
        self.inbox.iter().map(|(c, v)| (*c, v))
    }

    /// Messages not acked yet.
    #[cfg(test)]
    pub fn unacked(&self) -> usize {
        self.outbox.len()
    }
}

// ---------------------------------------------------------------------------
// Chat servers and the session service.

/// Why a connection was not made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// Admission control: another user would push the bounded-load capacity
    /// past the per-server cap (with the spare servers' headroom).
    ClusterFull,
    /// The chosen server is down (the session service does not know yet).
    ServerDown,
    /// The server holds `max_connections` sockets already.
    ServerFull,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectError::ClusterFull => "every chat server is at its connection cap",
            ConnectError::ServerDown => "the chat server does not answer",
            ConnectError::ServerFull => "the chat server is at its connection cap",
        })
    }
}

impl std::error::Error for ConnectError {}

/// A chat server: holds users' sockets, stores and routes what they send.
pub struct ChatServer {
    alive: bool,
    max_connections: usize,
    sockets: BTreeMap<UserId, SocketId>,
}

impl ChatServer {
    fn new(max_connections: usize) -> ChatServer {
        ChatServer {
            alive: true,
            max_connections,
            sockets: BTreeMap::new(),
        }
    }

    /// Open sockets.
    pub fn connections(&self) -> usize {
        self.sockets.len()
    }

    fn accept(&mut self, user: UserId, socket: SocketId) -> Result<(), ConnectError> {
        if !self.alive {
            return Err(ConnectError::ServerDown);
        }
        if self.sockets.len() >= self.max_connections {
            return Err(ConnectError::ServerFull);
        }
        self.sockets.insert(user, socket);
        Ok(())
    }

    fn holds(&self, user: UserId, socket: SocketId) -> bool {
        self.alive && self.sockets.get(&user) == Some(&socket)
    }

    /// `Send` from a client: store, route, ack (see the module doc for why
    /// the store comes first).
    fn on_send(
        &self,
        socket: SocketId,
        msg: Rc<Message>,
        store: &mut MessageStore,
        sessions: &SessionService,
        net: &mut Network,
        stats: &mut Stats,
    ) {
        if !self.holds(msg.from, socket) {
            stats.frames_lost += 1;
            return;
        }
        if !store.put(&msg) {
            stats.idempotent_writes += 1;
        }
        // Offline recipients have no server: the store keeps it for them.
        if let Some(server) = sessions.server_of(msg.to) {
            net.send(Event::Deliver {
                server,
                msg: Rc::clone(&msg),
            });
        }
        net.send(Event::Downstream {
            user: msg.from,
            socket,
            frame: Frame::Ack(msg.key()),
        });
    }

    /// `Deliver` from another chat server: push down the recipient's socket.
    fn on_deliver(&self, msg: Rc<Message>, net: &mut Network, stats: &mut Stats) {
        if !self.alive {
            stats.frames_lost += 1;
            stats.deliveries_missed += 1;
            return;
        }
        match self.sockets.get(&msg.to) {
            Some(&socket) => net.send(Event::Downstream {
                user: msg.to,
                socket,
                frame: Frame::Push(msg, Origin::Live),
            }),
            // Moved or gone offline since the lookup: the store scan of its
            // next connection finds the message.
            None => stats.deliveries_missed += 1,
        }
    }

    /// A client connected: push what it missed, by its cursors.
    fn catch_up(
        &self,
        client: &Client,
        socket: SocketId,
        store: &mut MessageStore,
        net: &mut Network,
    ) {
        let threads: Vec<ConvId> = store.threads_of(client.user).collect();
        for conv in threads {
            let peer = peer_of(conv, client.user);
            for msg in store.scan_after(conv, peer, client.cursor(conv)) {
                net.send(Event::Downstream {
                    user: client.user,
                    socket,
                    frame: Frame::Push(msg, Origin::Store),
                });
            }
        }
    }
}

/// Which chat server holds each online user, and which servers are alive.
pub struct SessionService {
    placement: BoundedLoad<ServerId, UserId>,
    leases: ExpiryMap<ServerId, ()>,
    lease_ns: u64,
    balance: f64,
    max_connections: usize,
    spare_servers: usize,
}

/// What removing a dead server did.
pub struct Removal {
    /// Users placed elsewhere (all were on the dead server) and any users a
    /// bounded-load shed moved after evictions.
    pub moves: Vec<Move<UserId, ServerId>>,
    /// Users on the dead server when it was removed.
    pub displaced: usize,
    /// Users sent away to keep every server under the cap.
    pub evicted: Vec<UserId>,
}

impl SessionService {
    fn new(cfg: &Config) -> Result<SessionService, hld::consistent_hash::Error> {
        Ok(SessionService {
            placement: BoundedLoad::with_seed(cfg.balance, 100, cfg.seed)?,
            leases: ExpiryMap::new(),
            lease_ns: u64::from(cfg.lease_heartbeats) * cfg.heartbeat_ms * MS,
            balance: cfg.balance,
            max_connections: cfg.max_connections,
            spare_servers: cfg.spare_servers,
        })
    }

    /// The server holding (or about to hold) `user`.
    pub fn server_of(&self, user: UserId) -> Option<ServerId> {
        self.placement.node_of(&user).copied()
    }

    /// Users placed on `server` (connected or on their way).
    #[cfg(test)]
    pub fn load(&self, server: ServerId) -> Option<usize> {
        self.placement.load(&server)
    }

    /// The servers the session service believes alive, sorted.
    pub fn servers(&self) -> Vec<ServerId> {
        let mut s: Vec<ServerId> = self.placement.ring().nodes().copied().collect();
        s.sort_unstable();
        s
    }

    /// The largest load the placement allows now.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.placement.capacity()
    }

    /// Where `user` should connect: its current place, or a new one if
    /// admission control lets one more user in. Placing never moves anyone.
    fn connect(&mut self, user: UserId) -> Result<ServerId, ConnectError> {
        if let Some(s) = self.server_of(user) {
            return Ok(s);
        }
        // ceil(c * (m + 1) / (n - spare)) <= cap: bounded loads then keep
        // every server under the cap even after `spare` servers fail.
        let n = self
            .placement
            .node_count()
            .saturating_sub(self.spare_servers);
        if n == 0 {
            return Err(ConnectError::ClusterFull);
        }
        let after = (self.balance * (self.placement.len() + 1) as f64 / n as f64).ceil();
        if after > self.max_connections as f64 {
            return Err(ConnectError::ClusterFull);
        }
        let server = *self
            .placement
            .assign(user)
            .map_err(|_| ConnectError::ClusterFull)?;
        debug_assert!(self.placement.capacity() <= self.max_connections);
        Ok(server)
    }

    /// `user` went offline: the capacity may drop and overfull servers hand
    /// users on (the returned moves).
    fn disconnect(&mut self, user: UserId) -> Vec<Move<UserId, ServerId>> {
        self.placement.release(&user).unwrap_or_default()
    }

    fn heartbeat(&mut self, server: ServerId, now: u64) {
        // A server already declared dead must join again: a late heartbeat
        // (sent before the crash) does not bring it back.
        if self.placement.load(&server).is_some() {
            self.leases.insert(server, (), now + self.lease_ns);
        }
    }

    /// Servers whose lease ran out by `now`.
    fn expired(&mut self, now: u64) -> Vec<ServerId> {
        self.leases
            .expire(now)
            .into_iter()
            .map(|(s, ())| s)
            .collect()
    }

    fn add_server(
        &mut self,
        server: ServerId,
        now: u64,
    ) -> Result<Vec<Move<UserId, ServerId>>, hld::consistent_hash::Error> {
        let moves = self.placement.add_node(server)?;
        self.leases.insert(server, (), now + self.lease_ns);
        Ok(moves)
    }

    /// Takes a dead server out: its users go to the others, and if that puts
    /// the capacity past the cap (more failures than spare servers), users are
    /// sent away, those of the dead server first, until it fits.
    fn remove_server(&mut self, server: ServerId) -> Removal {
        let Some(mut moves) = self.placement.remove_node(&server) else {
            return Removal {
                moves: Vec::new(),
                displaced: 0,
                evicted: Vec::new(),
            };
        };
        let displaced = moves.len();
        let mut victims: Vec<UserId> = moves.iter().map(|m| m.key).collect();
        let mut evicted = Vec::new();
        while self.placement.capacity() > self.max_connections {
            let victim = victims.pop().or_else(|| {
                // The busiest server's most recent user.
                let (busiest, _) = self.placement.loads().max_by_key(|&(s, l)| (l, *s))?;
                self.placement.keys_on(busiest)?.last().copied()
            });
            let Some(u) = victim else { break };
            if let Some(more) = self.placement.release(&u) {
                moves.extend(more);
                evicted.push(u);
            }
        }
        Removal {
            moves,
            displaced,
            evicted,
        }
    }
}

// ---------------------------------------------------------------------------
// The network and the event loop.

/// A frame from a chat server down a client's socket.
#[derive(Clone, Debug)]
enum Frame {
    Push(Rc<Message>, Origin),
    Ack(RowKey),
}

#[derive(Clone, Debug)]
enum Event {
    // A user's own timers.
    GoOnline(UserId, u32),
    GoOffline(UserId, u32),
    Compose(UserId, u32),
    Type {
        user: UserId,
        session: u32,
        peer: UserId,
        left: u32,
    },
    TryConnect(UserId, u64),
    // Frames on the wire.
    Upstream {
        server: ServerId,
        socket: SocketId,
        msg: Rc<Message>,
    },
    Downstream {
        user: UserId,
        socket: SocketId,
        frame: Frame,
    },
    Deliver {
        server: ServerId,
        msg: Rc<Message>,
    },
    Heartbeat(ServerId),
    // Machines' timers and the operator.
    Beat(ServerId),
    Sweep,
    Crash(ServerId),
    Join,
    Stop,
}

struct Scheduled {
    at: u64,
    n: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Scheduled) -> bool {
        (self.at, self.n) == (o.at, o.n)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Scheduled) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    // Earliest first (BinaryHeap is a max-heap); ties in scheduling order.
    fn cmp(&self, o: &Scheduled) -> Ordering {
        (o.at, o.n).cmp(&(self.at, self.n))
    }
}

/// The wire between the services and the clock: timers fire exactly when set;
/// frames take a random time (so they reorder) and are sometimes duplicated.
struct Network {
    now: u64,
    queue: BinaryHeap<Scheduled>,
    n: u64,
    rng: Rng,
    min: u64,
    jitter: u64,
    slow_share: f64,
    slow: u64,
    dup_share: f64,
    frames: usize,
    duplicated: usize,
}

impl Network {
    fn new(cfg: &Config) -> Network {
        Network {
            now: 0,
            queue: BinaryHeap::new(),
            n: 0,
            // "network" in ASCII: a stream of its own, apart from the workload.
            rng: Rng(cfg.seed ^ 0x006E_6574_776F_726B),
            min: cfg.net_min_ms * MS,
            jitter: cfg.net_jitter_ms * MS,
            slow_share: cfg.net_slow_share,
            slow: cfg.net_slow_ms * MS,
            dup_share: cfg.net_dup_share,
            frames: 0,
            duplicated: 0,
        }
    }

    /// A timer at `at`.
    fn at(&mut self, at: u64, event: Event) {
        self.n += 1;
        self.queue.push(Scheduled {
            at,
            n: self.n,
            event,
        });
    }

    /// A frame sent now.
    fn send(&mut self, event: Event) {
        self.frames += 1;
        if self.rng.chance(self.dup_share) {
            self.duplicated += 1;
            let d = self.delay();
            self.at(self.now + d, event.clone());
        }
        let d = self.delay();
        self.at(self.now + d, event);
    }

    fn delay(&mut self) -> u64 {
        let mut d = self.min + self.rng.below(self.jitter as usize + 1) as u64;
        if self.rng.chance(self.slow_share) {
            d += self.rng.below(self.slow as usize + 1) as u64;
        }
        d
    }

    fn pop(&mut self) -> Option<Event> {
        let s = self.queue.pop()?;
        self.now = s.at;
        Some(s.event)
    }
}

/// Counters of what happened.
#[derive(Default)]
struct Stats {
    sent: usize,
    shown: usize,
    shown_live: usize,
    shown_from_store: usize,
    duplicates: usize,
    held: usize,
    resent: usize,
    idempotent_writes: usize,
    frames_lost: usize,
    deliveries_missed: usize,
    refused: usize,
    connects_to_dead: usize,
    live_migrations: usize,
    false_detections: usize,
    moved_on_join: usize,
    peak_connections: usize,
    events: usize,
    latency_live: Vec<Duration>,
    latency_all: Vec<Duration>,
}

/// Every service, the network between them, and the oracle log.
pub struct World {
    cfg: Config,
    net: Network,
    pub sessions: SessionService,
    pub servers: Vec<ChatServer>,
    pub store: MessageStore,
    pub clients: Vec<Client>,
    /// Every message, at the moment its sender pressed "send".
    pub oracle: Vec<Rc<Message>>,
    bodies: Vec<Rc<str>>,
    rng: Rng,
    stats: Stats,
    failovers: Vec<(Failover, u64)>,
    next_socket: SocketId,
    closing: bool,
    done: bool,
    complete: bool,
}

fn exp_ns(rng: &mut Rng, mean_ms: u64) -> u64 {
    let u = rng.float();
    (-(1.0 - u).ln() * (mean_ms * MS) as f64) as u64
}

impl World {
    pub fn new(cfg: &Config) -> World {
        let mut rng = Rng(cfg.seed);
        let bodies: Vec<Rc<str>> = fortunes()
            .into_iter()
            .filter(|t| t.len() <= 160 && !t.contains('\n'))
            .map(Rc::from)
            .collect();
        let mut clients: Vec<Client> = (0..cfg.users).map(Client::new).collect();
        let mut pairs = BTreeSet::new();
        if cfg.users > 1 {
            for u in 0..cfg.users {
                for _ in 0..cfg.contacts {
                    let mut p = rng.below(cfg.users as usize - 1) as UserId;
                    if p >= u {
                        p += 1;
                    }
                    pairs.insert(conv_id(u, p));
                }
            }
        }
        for &c in &pairs {
            let (a, b) = ((c >> 32) as UserId, c as UserId);
            clients[a as usize].contacts.push(b);
            clients[b as usize].contacts.push(a);
        }
        let mut w = World {
            cfg: cfg.clone(),
            net: Network::new(cfg),
            sessions: SessionService::new(cfg).expect("a valid balance factor"),
            servers: Vec::new(),
            store: MessageStore::new(cfg.memstore_rows),
            clients,
            oracle: Vec::new(),
            bodies,
            rng,
            stats: Stats::default(),
            failovers: Vec::new(),
            next_socket: 0,
            closing: false,
            done: false,
            complete: false,
        };
        for _ in 0..cfg.servers {
            w.start_server();
        }
        for u in 0..cfg.users {
            if w.rng.chance(cfg.online_share) {
                w.go_online(u);
            } else {
                let at = exp_ns(&mut w.rng, cfg.mean_offline_ms);
                w.net.at(at, Event::GoOnline(u, 0));
            }
        }
        for &(at, s) in &cfg.crashes {
            w.net.at(at * MS, Event::Crash(s));
        }
        for &at in &cfg.joins {
            w.net.at(at * MS, Event::Join);
        }
        w.net.at(cfg.sweep_ms * MS, Event::Sweep);
        w.net.at(cfg.duration_ms * MS, Event::Stop);
        w
    }

    /// Processes one event; false when the run is over.
    pub fn step(&mut self) -> bool {
        if self.done {
            return false;
        }
        let Some(event) = self.net.pop() else {
            self.done = true;
            return false;
        };
        self.stats.events += 1;
        match event {
            Event::GoOnline(u, s) => {
                let c = &self.clients[u as usize];
                if !c.online && c.session == s {
                    self.go_online(u);
                }
            }
            Event::GoOffline(u, s) => {
                let c = &self.clients[u as usize];
                if c.online && c.session == s && !self.closing {
                    self.go_offline(u);
                }
            }
            Event::Compose(u, s) => self.compose(u, s),
            Event::Type {
                user,
                session,
                peer,
                left,
            } => self.type_message(user, session, peer, left),
            Event::TryConnect(u, token) => self.try_connect(u, token),
            Event::Upstream {
                server,
                socket,
                msg,
            } => self.servers[server as usize].on_send(
                socket,
                msg,
                &mut self.store,
                &self.sessions,
                &mut self.net,
                &mut self.stats,
            ),
            Event::Deliver { server, msg } => {
                self.servers[server as usize].on_deliver(msg, &mut self.net, &mut self.stats)
            }
            Event::Downstream {
                user,
                socket,
                frame,
            } => self.on_frame(user, socket, frame),
            Event::Heartbeat(s) => self.sessions.heartbeat(s, self.net.now),
            Event::Beat(s) => {
                if self.servers[s as usize].alive {
                    self.net.send(Event::Heartbeat(s));
                    let at = self.net.now + self.cfg.heartbeat_ms * MS;
                    self.net.at(at, Event::Beat(s));
                }
            }
            Event::Sweep => self.sweep(),
            Event::Crash(s) => self.crash(s),
            Event::Join => {
                let moves = self.start_server();
                self.stats.moved_on_join += moves;
            }
            Event::Stop => {
                // Chatting stops; everyone comes online to collect what waits.
                self.closing = true;
                for u in 0..self.cfg.users {
                    if !self.clients[u as usize].online {
                        self.go_online(u);
                    }
                }
            }
        }
        true
    }

    /// Runs to the end.
    pub fn run(&mut self) {
        while self.step() {}
    }

    /// A new chat server: joins the placement and starts heartbeating.
    /// Returns the users that moved to it.
    fn start_server(&mut self) -> usize {
        let id = self.servers.len() as ServerId;
        self.servers.push(ChatServer::new(self.cfg.max_connections));
        let moves = self
            .sessions
            .add_server(id, self.net.now)
            .expect("server ids are distinct");
        let n = moves.len();
        self.apply_moves(moves);
        let first = self.net.now + self.rng.below(self.cfg.heartbeat_ms as usize) as u64 * MS;
        self.net.at(first, Event::Beat(id));
        n
    }

    fn go_online(&mut self, u: UserId) {
        let c = &mut self.clients[u as usize];
        c.online = true;
        c.session += 1;
        let s = c.session;
        if !self.closing {
            let off = self.net.now + exp_ns(&mut self.rng, self.cfg.mean_online_ms);
            self.net.at(off, Event::GoOffline(u, s));
            let compose = self.net.now + exp_ns(&mut self.rng, self.cfg.mean_think_ms);
            self.net.at(compose, Event::Compose(u, s));
        }
        self.schedule_connect(u, 0);
    }

    fn go_offline(&mut self, u: UserId) {
        self.close_socket(u);
        let c = &mut self.clients[u as usize];
        c.online = false;
        c.session += 1;
        let s = c.session;
        let moves = self.sessions.disconnect(u);
        self.apply_moves(moves);
        let on = self.net.now + exp_ns(&mut self.rng, self.cfg.mean_offline_ms);
        self.net.at(on, Event::GoOnline(u, s));
    }

    fn compose(&mut self, u: UserId, s: u32) {
        let c = &self.clients[u as usize];
        if !c.online || c.session != s || self.closing || c.contacts.is_empty() {
            return;
        }
        let peer = c.contacts[self.rng.below(c.contacts.len())];
        let left = 1 + self.rng.below(self.cfg.max_burst.max(1) as usize) as u32;
        self.type_message(u, s, peer, left);
        let next = self.net.now + exp_ns(&mut self.rng, self.cfg.mean_think_ms);
        self.net.at(next, Event::Compose(u, s));
    }

    fn type_message(&mut self, u: UserId, s: u32, peer: UserId, left: u32) {
        let c = &self.clients[u as usize];
        if !c.online || c.session != s || self.closing {
            return;
        }
        let body = Rc::clone(&self.bodies[self.rng.below(self.bodies.len())]);
        let c = &mut self.clients[u as usize];
        let msg = c.compose(peer, body, self.net.now);
        self.stats.sent += 1;
        self.oracle.push(Rc::clone(&msg));
        if let Some((server, socket)) = c.socket {
            c.outbox.get_mut(&msg.key()).expect("just queued").1 = true;
            self.net.send(Event::Upstream {
                server,
                socket,
                msg,
            });
        }
        if left > 1 {
            let at = self.net.now + self.rng.below(self.cfg.burst_gap_ms as usize + 1) as u64 * MS;
            self.net.at(
                at,
                Event::Type {
                    user: u,
                    session: s,
                    peer,
                    left: left - 1,
                },
            );
        }
    }

    /// A connect attempt in `after` ns (replacing any pending one).
    fn schedule_connect(&mut self, u: UserId, after: u64) {
        let c = &mut self.clients[u as usize];
        c.retry += 1;
        let token = c.retry;
        self.net
            .at(self.net.now + after, Event::TryConnect(u, token));
    }

    fn schedule_retry(&mut self, u: UserId) {
        let r = self.cfg.retry_ms * MS;
        let after = r + self.rng.below(r as usize + 1) as u64;
        self.schedule_connect(u, after);
    }

    fn try_connect(&mut self, u: UserId, token: u64) {
        let c = &self.clients[u as usize];
        if c.retry != token || !c.online || c.socket.is_some() {
            return;
        }
        // Through the gateway: the session service says where to go.
        let server = match self.sessions.connect(u) {
            Ok(s) => s,
            Err(_) => {
                self.stats.refused += 1;
                return self.schedule_retry(u);
            }
        };
        self.next_socket += 1;
        let socket = self.next_socket;
        match self.servers[server as usize].accept(u, socket) {
            Ok(()) => {}
            Err(ConnectError::ServerDown) => {
                self.stats.connects_to_dead += 1;
                return self.schedule_retry(u);
            }
            Err(_) => {
                self.stats.refused += 1;
                return self.schedule_retry(u);
            }
        }
        let conns = self.servers[server as usize].connections();
        self.stats.peak_connections = self.stats.peak_connections.max(conns);
        let c = &mut self.clients[u as usize];
        c.socket = Some((server, socket));
        // Everything not acked goes up the new socket (a resend if it went
        // up an older one), then the server pushes what the client missed.
        for (msg, tried) in c.outbox.values_mut() {
            if *tried {
                self.stats.resent += 1;
            }
            *tried = true;
            self.net.send(Event::Upstream {
                server,
                socket,
                msg: Rc::clone(msg),
            });
        }
        self.servers[server as usize].catch_up(
            &self.clients[u as usize],
            socket,
            &mut self.store,
            &mut self.net,
        );
    }

    fn on_frame(&mut self, u: UserId, socket: SocketId, frame: Frame) {
        let now = self.net.now;
        let c = &mut self.clients[u as usize];
        if c.socket.map(|(_, s)| s) != Some(socket) {
            self.stats.frames_lost += 1;
            return;
        }
        match frame {
            Frame::Ack(key) => {
                c.outbox.remove(&key);
            }
            Frame::Push(msg, origin) => {
                let conv = c.inbox.entry(msg.conv).or_default();
                match conv.receive(msg, origin) {
                    Receipt::Duplicate => self.stats.duplicates += 1,
                    Receipt::Held => self.stats.held += 1,
                    Receipt::Shown(newly) => {
                        for (m, o) in newly {
                            let lat = Duration::from_nanos(now - m.sent_at);
                            self.stats.shown += 1;
                            self.stats.latency_all.push(lat);
                            if o == Origin::Live {
                                self.stats.shown_live += 1;
                                self.stats.latency_live.push(lat);
                            } else {
                                self.stats.shown_from_store += 1;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Closes `u`'s socket at both ends (anything in flight on it is lost).
    fn close_socket(&mut self, u: UserId) {
        if let Some((server, _)) = self.clients[u as usize].socket.take() {
            self.servers[server as usize].sockets.remove(&u);
        }
    }

    /// Carries out the session service's moves: a connected user is told to
    /// reconnect (its socket closes; the hint takes one network hop).
    fn apply_moves(&mut self, moves: Vec<Move<UserId, ServerId>>) {
        for m in moves {
            let u = m.key;
            if matches!(self.clients[u as usize].socket, Some((s, _)) if s == m.from) {
                self.close_socket(u);
                self.stats.live_migrations += 1;
                let hop = self.net.delay();
                self.schedule_connect(u, hop);
            }
        }
    }

    fn crash(&mut self, s: ServerId) {
        let Some(server) = self.servers.get_mut(s as usize) else {
            return;
        };
        if !server.alive {
            return;
        }
        server.alive = false;
        let users: Vec<UserId> = std::mem::take(&mut server.sockets).into_keys().collect();
        let on_server = users.len();
        for u in users {
            // The client sees its socket drop and retries through the gateway.
            self.clients[u as usize].socket = None;
            self.schedule_retry(u);
        }
        self.failovers.push((
            Failover {
                server: s,
                detected_after: None,
                users_on_server: on_server,
                placed_users: 0,
                moved: 0,
                modulo_moved: 0,
                evicted: 0,
            },
            self.net.now,
        ));
    }

    /// The session service's lease check; also ends the run once it settled.
    fn sweep(&mut self) {
        let now = self.net.now;
        for s in self.sessions.expired(now) {
            if self.servers[s as usize].alive {
                self.stats.false_detections += 1;
            }
            let before = self.sessions.servers();
            let after: Vec<ServerId> = before.iter().copied().filter(|&x| x != s).collect();
            let placed: Vec<UserId> = self
                .sessions
                .placement
                .assignments()
                .map(|(u, _)| *u)
                .collect();
            let modulo_moved = if after.is_empty() {
                placed.len()
            } else {
                placed
                    .iter()
                    .filter(|u| {
                        let h = stable_hash(*u, self.cfg.seed);
                        before[(h % before.len() as u64) as usize]
                            != after[(h % after.len() as u64) as usize]
                    })
                    .count()
            };
            let removal = self.sessions.remove_server(s);
            if let Some((f, crashed_at)) = self
                .failovers
                .iter_mut()
                .find(|(f, _)| f.server == s && f.detected_after.is_none())
            {
                f.detected_after = Some(Duration::from_nanos(now - *crashed_at));
                f.placed_users = placed.len();
                f.moved = removal.displaced;
                f.modulo_moved = modulo_moved;
                f.evicted = removal.evicted.len();
            }
            self.apply_moves(removal.moves);
            for u in removal.evicted {
                if self.clients[u as usize].socket.is_some() {
                    self.close_socket(u);
                    self.schedule_retry(u);
                }
            }
        }
        if self.closing {
            let settled = self.stats.shown == self.stats.sent
                && self.clients.iter().all(|c| c.outbox.is_empty());
            if settled || now > (self.cfg.duration_ms + self.cfg.drain_limit_ms) * MS {
                self.complete = settled;
                self.done = true;
                return;
            }
        }
        self.net.at(now + self.cfg.sweep_ms * MS, Event::Sweep);
    }

    fn report(self, wall: Duration) -> Report {
        let mut st = self.stats;
        let cfg = &self.cfg;
        let conversations = self.clients.iter().map(|c| c.contacts.len()).sum::<usize>() / 2;
        let live = (
            percentile(&mut st.latency_live, 50.0),
            percentile(&mut st.latency_live, 99.0),
        );
        let all = (
            percentile(&mut st.latency_all, 50.0),
            percentile(&mut st.latency_all, 99.0),
        );
        let failovers: Vec<Failover> = self.failovers.into_iter().map(|(f, _)| f).collect();
        let mut r = Report {
            users: cfg.users,
            conversations,
            max_connections: cfg.max_connections,
            peak_connections: st.peak_connections,
            sent: st.sent,
            delivered: st.shown,
            delivered_live: st.shown_live,
            delivered_from_store: st.shown_from_store,
            duplicates_suppressed: st.duplicates,
            reordered: st.held,
            resent: st.resent,
            idempotent_writes: st.idempotent_writes,
            frames_lost: st.frames_lost,
            deliveries_missed: st.deliveries_missed,
            refused: st.refused,
            connects_to_dead: st.connects_to_dead,
            live_migrations: st.live_migrations,
            failovers,
            false_detections: st.false_detections,
            moved_on_join: st.moved_on_join,
            latency_live: live,
            latency_all: all,
            complete: self.complete,
            simulated: Duration::from_nanos(self.net.now),
            wall,
            events: st.events,
            store_rows: self.store.rows,
            store_bytes: self.store.bytes,
            store_flushes: self.store.flushes,
            store_compactions: self.store.compactions,
            store_scans: self.store.scans,
            table: Table::default(),
        };
        r.table = table(cfg, &r, self.net.frames, self.net.duplicated);
        r
    }
}

fn table(cfg: &Config, r: &Report, frames: usize, duplicated: usize) -> Table {
    let mut t = Table::new(
        "messenger",
        "chat servers with a session service (bounded-load consistent hashing, \
         heartbeat leases in an ExpiryMap), an HBase-like store, a reordering and \
         duplicating network, one server crash; texts from data/fortunes.txt",
    );
    t.row(
        "users / conversations / chat servers",
        format!(
            "{} / {} / {} (+{} joining)",
            r.users,
            r.conversations,
            cfg.servers,
            cfg.joins.len()
        ),
    )
    .row(
        "most sockets on a server / cap (50K at 1:100)",
        format!("{} / {}", r.peak_connections, r.max_connections),
    )
    .row(
        "messages sent / shown exactly once in order",
        format!(
            "{} / {}{}",
            r.sent,
            r.delivered,
            if r.complete { "" } else { " (INCOMPLETE)" }
        ),
    )
    .row(
        "shown live / from the store on (re)connect",
        format!("{} / {}", r.delivered_live, r.delivered_from_store),
    )
    .row(
        "frames sent / duplicated by the network",
        format!("{frames} / {duplicated}"),
    )
    .row(
        "frames lost on closed sockets or at a dead server",
        r.frames_lost,
    )
    .row("duplicate arrivals suppressed", r.duplicates_suppressed)
    .row("arrived early, held and put in order", r.reordered)
    .row(
        "resent on reconnect (no ack yet) / row already stored",
        format!("{} / {}", r.resent, r.idempotent_writes),
    )
    .row(
        "deliveries to a dead or left server (recovered by scan)",
        r.deliveries_missed,
    )
    .row(
        "sockets moved live (join, load sheds) / users moved on join",
        format!("{} / {}", r.live_migrations, r.moved_on_join),
    )
    .row(
        "connects refused at the cap / tried on a dead server",
        format!("{} / {}", r.refused, r.connects_to_dead),
    );
    for f in &r.failovers {
        let hb = cfg.heartbeat_ms as f64 * 1e-3;
        match f.detected_after {
            Some(d) => {
                t.row(
                    &format!(
                        "chat-{} crash ({} sockets) detected after",
                        f.server, f.users_on_server
                    ),
                    format!(
                        "{} ({:.2} heartbeats; lease {})",
                        ms(d),
                        d.as_secs_f64() / hb,
                        cfg.lease_heartbeats
                    ),
                );
                let share = |n: usize| 100.0 * n as f64 / f.placed_users.max(1) as f64;
                t.row(
                    "users moved: consistent hashing / modulo",
                    format!(
                        "{} ({:.1}%) / {} ({:.1}%)",
                        f.moved,
                        share(f.moved),
                        f.modulo_moved,
                        share(f.modulo_moved)
                    ),
                );
            }
            None => {
                t.row(&format!("chat-{} crash", f.server), "not detected");
            }
        }
    }
    t.row("live servers declared dead", r.false_detections)
        .row(
            "click to shown, live: p50 / p99 (simulated)",
            format!("{} / {}", ms(r.latency_live.0), ms(r.latency_live.1)),
        )
        .row(
            "click to shown, all (offline waits): p50 / p99",
            format!("{} / {}", ms(r.latency_all.0), ms(r.latency_all.1)),
        )
        .row(
            "store rows / bytes / flushes / compactions / scans",
            format!(
                "{} / {} / {} / {} / {}",
                r.store_rows,
                bytes(r.store_bytes as f64),
                r.store_flushes,
                r.store_compactions,
                r.store_scans
            ),
        )
        .row(
            "simulated / wall time",
            format!(
                "{:.1} s / {:.2} s",
                r.simulated.as_secs_f64(),
                r.wall.as_secs_f64()
            ),
        )
        .row(
            "throughput: messages / events (wall)",
            format!(
                "{} / {}",
                per_second(r.sent, r.wall),
                per_second(r.events, r.wall)
            ),
        );
    t
}

/// Runs the simulation and reports.
pub fn run(cfg: &Config) -> Report {
    let (world, wall) = timed(|| {
        let mut w = World::new(cfg);
        w.run();
        w
    });
    world.report(wall)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smaller world: 1,000 users on 6 servers of 250 sockets (all of them
    /// fit when everyone is online at the end), one crash, one join.
    fn small() -> Config {
        Config {
            users: 1_000,
            servers: 6,
            max_connections: 250,
            crashes: vec![(8_000, 2)],
            joins: vec![16_000],
            duration_ms: 25_000,
            ..Config::default()
        }
    }

    fn simulate(cfg: &Config) -> World {
        let mut w = World::new(cfg);
        w.run();
        w
    }

    /// Against the oracle log of every "send" pressed: each recipient showed
    /// exactly the messages sent to it, per conversation in the sender's
    /// order, each once (the very message object pressed, so the text too),
    /// nothing waits behind a gap, and every sender got every ack.
    fn assert_matches_oracle(w: &World) {
        let mut expected: BTreeMap<(UserId, ConvId), Vec<&Rc<Message>>> = BTreeMap::new();
        for m in &w.oracle {
            expected.entry((m.to, m.conv)).or_default().push(m);
        }
        let mut conversations = 0;
        for c in &w.clients {
            assert_eq!(c.unacked(), 0, "user {} has unacked messages", c.user);
            for (conv, v) in c.conversations() {
                let want = expected
                    .get(&(c.user, conv))
                    .map_or(&[][..], |v| v.as_slice());
                let got = v.shown();
                assert_eq!(
                    got.len(),
                    want.len(),
                    "user {} conversation {conv:x}",
                    c.user
                );
                for (i, (g, e)) in got.iter().zip(want).enumerate() {
                    assert!(
                        Rc::ptr_eq(g, e),
                        "user {} conversation {conv:x}: position {i} shows seq {} of {}, expected seq {} of {}",
                        c.user,
                        g.seq,
                        g.from,
                        e.seq,
                        e.from
                    );
                    assert_eq!(e.seq as usize, i + 1);
                }
                assert_eq!(v.waiting(), 0);
                if !got.is_empty() {
                    conversations += 1;
                }
            }
        }
        assert_eq!(
            conversations,
            expected.len(),
            "a conversation never arrived"
        );
        assert_eq!(w.stats.shown, w.oracle.len());
    }

    #[test]
    fn every_message_is_shown_exactly_once_and_in_order() {
        let w = simulate(&small());
        assert!(w.complete);
        assert_matches_oracle(&w);
        // ... and the run really raced: reorderings, copies, resends, moves,
        // deliveries to a dead server, catch-ups from the store.
        let s = &w.stats;
        assert!(w.oracle.len() > 10_000, "{}", w.oracle.len());
        assert!(s.held > 500, "held {}", s.held);
        assert!(s.duplicates > 200, "duplicates {}", s.duplicates);
        assert!(s.idempotent_writes > 50, "{}", s.idempotent_writes);
        assert!(s.resent > 0, "resent {}", s.resent);
        assert!(s.deliveries_missed > 0 && s.frames_lost > 0);
        assert!(s.live_migrations > 0 && s.moved_on_join > 0);
        assert!(s.connects_to_dead > 0);
        assert!(s.shown_from_store > 1_000 && s.shown_live > 5_000);
        assert_eq!(s.shown_live + s.shown_from_store, s.shown);
    }

    #[test]
    fn exactly_once_holds_on_harsher_networks_and_seeds() {
        for seed in 1..=4 {
            let cfg = Config {
                users: 300,
                servers: 5,
                max_connections: 100,
                net_jitter_ms: 80,
                net_slow_share: 0.3,
                net_slow_ms: 600,
                net_dup_share: 0.25,
                mean_online_ms: 4_000,
                mean_offline_ms: 2_000,
                mean_think_ms: 600,
                crashes: vec![(3_000, 0), (7_000, 4)],
                joins: vec![5_000, 9_000],
                duration_ms: 12_000,
                seed,
                ..Config::default()
            };
            let w = simulate(&cfg);
            assert!(w.complete, "seed {seed}");
            assert_matches_oracle(&w);
            assert!(w.stats.duplicates > 300 && w.stats.held > 300);
            assert_eq!(w.failovers.len(), 2);
        }
    }

    /// Tight capacity: sockets are capped at 40 with 5 servers for 200 users;
    /// two crashes (one more than the spare) force refusals and evictions.
    /// After every single event, no server holds more than the cap, nor does
    /// the placement put more there, and every socket is where the session
    /// service says.
    #[test]
    fn no_server_ever_holds_more_than_its_cap() {
        let cfg = Config {
            users: 200,
            servers: 5,
            max_connections: 40,
            online_share: 0.8,
            mean_online_ms: 6_000,
            mean_offline_ms: 1_500,
            crashes: vec![(4_000, 1), (4_500, 3)],
            joins: vec![9_000, 9_500, 10_000, 10_500, 11_000],
            duration_ms: 15_000,
            ..Config::default()
        };
        let mut w = World::new(&cfg);
        let mut top_capacity = 0;
        let mut steps = 0;
        while w.step() {
            steps += 1;
            for (id, s) in w.servers.iter().enumerate() {
                assert!(s.connections() <= cfg.max_connections, "chat-{id}");
                if let Some(load) = w.sessions.load(id as ServerId) {
                    assert!(s.connections() <= load);
                    assert!(load <= cfg.max_connections, "placement on chat-{id}");
                }
            }
            top_capacity = top_capacity.max(w.sessions.capacity());
            if steps % 97 == 0 {
                for c in &w.clients {
                    if let Some((server, socket)) = c.socket {
                        assert!(w.servers[server as usize].holds(c.user, socket));
                        assert_eq!(w.sessions.server_of(c.user), Some(server));
                    }
                }
            }
        }
        // The cap bound: the placement's bound reached it, admission control
        // refused users, and the second crash sent some away (without that,
        // three servers would have had to take 1.25 * 128 / 3 = 54 each).
        assert_eq!(top_capacity, cfg.max_connections);
        assert!(w.stats.refused > 0);
        assert!(w.failovers.iter().any(|(f, _)| f.evicted > 0));
        assert!(w.stats.peak_connections > cfg.max_connections * 3 / 4);
        // Joins brought the room back: everything arrived all the same.
        assert!(w.complete);
        assert_matches_oracle(&w);
    }

    #[test]
    fn a_crash_is_detected_within_the_lease() {
        for (seed, at) in [(1, 5_000), (2, 5_350), (3, 5_999), (4, 6_420)] {
            let cfg = Config {
                users: 200,
                servers: 4,
                max_connections: 200,
                crashes: vec![(at, 1)],
                joins: vec![],
                duration_ms: 12_000,
                seed,
                ..Config::default()
            };
            let w = simulate(&cfg);
            assert_eq!(w.stats.false_detections, 0);
            let hb = cfg.heartbeat_ms as f64;
            let lease = f64::from(cfg.lease_heartbeats);
            let worst_frame = (cfg.net_min_ms + cfg.net_jitter_ms + cfg.net_slow_ms) as f64;
            let (f, _) = &w.failovers[0];
            let d = f.detected_after.expect("detected").as_secs_f64() * 1e3;
            // The last heartbeat left at most one interval before the crash
            // and arrived at most one slow frame later; the lease then ran
            // `lease` intervals, and a sweep noticed within `sweep_ms`.
            assert!(d >= (lease - 1.0) * hb + cfg.net_min_ms as f64, "{d}");
            assert!(d <= lease * hb + worst_frame + cfg.sweep_ms as f64, "{d}");
            assert!(d <= (lease + 1.0) * hb, "{d}");
            assert!(w.complete);
            assert_matches_oracle(&w);
        }
    }

    /// When heartbeats take longer than the lease (a network stall), live
    /// servers are declared dead: their users move, and still nothing is lost.
    #[test]
    fn stalled_heartbeats_declare_live_servers_dead_and_lose_nothing() {
        let cfg = Config {
            users: 200,
            servers: 6,
            max_connections: 100,
            net_slow_share: 0.5,
            net_slow_ms: 6_000,
            crashes: vec![],
            joins: vec![],
            duration_ms: 15_000,
            ..Config::default()
        };
        let w = simulate(&cfg);
        assert!(w.stats.false_detections > 0);
        assert!(w.complete);
        assert_matches_oracle(&w);
    }

    #[test]
    fn only_the_dead_servers_users_move() {
        let cfg = Config {
            users: 2_000,
            servers: 8,
            max_connections: 1_000,
            ..Config::default()
        };
        let mut s = SessionService::new(&cfg).unwrap();
        for id in 0..8 {
            s.add_server(id, 0).unwrap();
        }
        for u in 0..cfg.users {
            s.connect(u).unwrap();
        }
        let before: Vec<Option<ServerId>> = (0..cfg.users).map(|u| s.server_of(u)).collect();
        let on_dead = before.iter().filter(|&&x| x == Some(5)).count();
        let removal = s.remove_server(5);
        assert_eq!(removal.displaced, on_dead);
        assert_eq!(removal.moves.len(), on_dead);
        assert!(removal.evicted.is_empty());
        for u in 0..cfg.users {
            let now = s.server_of(u);
            if before[u as usize] == Some(5) {
                assert!(now.is_some() && now != Some(5));
            } else {
                assert_eq!(now, before[u as usize], "user {u} moved");
            }
        }
        // About 1/8 of the users, never above the bounded-load capacity.
        assert!(on_dead <= (1.25 * 2_000.0 / 8.0) as usize + 1);
        assert!(on_dead > 100);
        // And in the full run, modulo placement would have moved far more.
        let w = simulate(&small());
        let (f, _) = &w.failovers[0];
        assert!(f.moved > 0 && f.modulo_moved > 4 * f.moved, "{f:?}");
    }

    #[test]
    fn admission_control_keeps_a_spare_servers_headroom() {
        let cfg = Config {
            max_connections: 10,
            balance: 1.25,
            spare_servers: 1,
            ..Config::default()
        };
        let mut s = SessionService::new(&cfg).unwrap();
        for id in 0..3 {
            s.add_server(id, 0).unwrap();
        }
        // ceil(1.25 * m / 2) <= 10 while m <= 16.
        for u in 0..16 {
            assert!(s.connect(u).is_ok(), "user {u}");
        }
        assert_eq!(s.connect(16), Err(ConnectError::ClusterFull));
        assert_eq!(s.connect(3), s.connect(3), "a placed user keeps its place");
        // One server fails: the other two still hold everyone under the cap.
        let removal = s.remove_server(0);
        assert!(removal.evicted.is_empty());
        assert!(s.capacity() <= 10);
        assert!((1..3).all(|id| s.load(id).unwrap() <= 10));
        // A second one: more than the spare, so users are sent away until
        // ceil(1.25 * m / 1) <= 10, i.e. 8 remain.
        let removal = s.remove_server(1);
        assert_eq!(removal.evicted.len(), 8);
        assert_eq!(s.load(2), Some(8));
        assert!((0..16).all(|u| s.server_of(u).is_none() || s.server_of(u) == Some(2)));
        // One server and one spare: nobody new gets in until a server joins.
        assert_eq!(s.connect(100), Err(ConnectError::ClusterFull));
        s.add_server(7, 0).unwrap();
        assert_eq!(s.connect(100), Err(ConnectError::ClusterFull));
        s.add_server(8, 0).unwrap();
        assert!(s.connect(100).is_ok());
    }

    #[test]
    fn the_receiver_orders_and_dedups_any_arrival_order() {
        let mut rng = Rng(7);
        for _ in 0..200 {
            let n = 1 + rng.below(40) as u32;
            let mut arrivals: Vec<u32> = (1..=n).collect();
            for _ in 0..rng.below(20) {
                arrivals.push(1 + rng.below(n as usize) as u32);
            }
            rng.shuffle(&mut arrivals);
            let mut conv = Conversation::default();
            let (mut dups, mut held, mut shown) = (0, 0, 0);
            let mut seen = BTreeSet::new();
            let mut max_seen = 0;
            for &seq in &arrivals {
                let msg = Rc::new(Message {
                    conv: 1,
                    from: 0,
                    to: 1,
                    seq,
                    sent_at: 0,
                    body: Rc::from(format!("m{seq}")),
                });
                // Brute force: a copy iff this seq arrived before; held iff
                // some smaller seq has not arrived yet.
                let dup = !seen.insert(seq);
                let gap = (1..seq).any(|s| !seen.contains(&s));
                match conv.receive(msg, Origin::Live) {
                    Receipt::Duplicate => {
                        assert!(dup);
                        dups += 1;
                    }
                    Receipt::Held => {
                        assert!(!dup && gap);
                        held += 1;
                    }
                    Receipt::Shown(newly) => {
                        assert!(!dup && !gap);
                        assert_eq!(newly[0].0.seq, seq);
                        shown += newly.len();
                    }
                }
                max_seen = max_seen.max(seq);
                // Always a prefix: exactly 1..=k with no gap.
                let k = conv.cursor();
                assert!((1..=k).all(|s| seen.contains(&s)));
                assert!(!seen.contains(&(k + 1)) || k == n);
            }
            assert_eq!(shown, n as usize);
            assert_eq!(dups, arrivals.len() - n as usize);
            assert!(held <= n as usize);
            let got: Vec<u32> = conv.shown().iter().map(|m| m.seq).collect();
            assert_eq!(got, (1..=n).collect::<Vec<_>>());
            assert_eq!(conv.waiting(), 0);
            assert_eq!(max_seen, n);
        }
    }

    #[test]
    fn store_scans_match_a_brute_force_map() {
        let mut rng = Rng(3);
        let mut store = MessageStore::new(50);
        let mut truth: BTreeMap<RowKey, Rc<Message>> = BTreeMap::new();
        let mut next: BTreeMap<(ConvId, UserId), u32> = BTreeMap::new();
        let mut written = Vec::new();
        for i in 0..3_000 {
            // Mostly new messages, some rewrites of old ones.
            let msg = if !written.is_empty() && rng.chance(0.1) {
                Rc::clone(&written[rng.below(written.len())])
            } else {
                let (a, b) = (rng.below(20) as UserId, rng.below(20) as UserId);
                if a == b {
                    continue;
                }
                let conv = conv_id(a, b);
                let seq = next.entry((conv, a)).or_insert(0);
                *seq += 1;
                Rc::new(Message {
                    conv,
                    from: a,
                    to: b,
                    seq: *seq,
                    sent_at: i,
                    body: Rc::from("x"),
                })
            };
            let fresh = !truth.contains_key(&msg.key());
            assert_eq!(store.put(&msg), fresh);
            truth.entry(msg.key()).or_insert_with(|| Rc::clone(&msg));
            written.push(msg);
        }
        assert!(store.flushes > 10 && store.compactions > 0);
        assert_eq!(store.rows, truth.len());
        for a in 0..20 {
            let convs: BTreeSet<ConvId> = truth
                .keys()
                .filter(|k| peer_of(k.conv, a) != a || (k.conv >> 32) as UserId == a)
                .filter(|k| (k.conv >> 32) as UserId == a || k.conv as UserId == a)
                .map(|k| k.conv)
                .collect();
            assert_eq!(store.threads_of(a).collect::<BTreeSet<_>>(), convs);
            for b in 0..20 {
                if a == b {
                    continue;
                }
                let conv = conv_id(a, b);
                let all: Vec<RowKey> = truth
                    .range(
                        RowKey {
                            conv,
                            sender: 0,
                            seq: 0,
                        }..=RowKey {
                            conv,
                            sender: UserId::MAX,
                            seq: u32::MAX,
                        },
                    )
                    .map(|(k, _)| *k)
                    .collect();
                let scanned: Vec<RowKey> = store
                    .scan_conversation(conv)
                    .iter()
                    .map(|m| m.key())
                    .collect();
                assert_eq!(scanned, all);
                let after = rng.below(8) as u32;
                let want: Vec<RowKey> = all
                    .iter()
                    .copied()
                    .filter(|k| k.sender == a && k.seq > after)
                    .collect();
                let got: Vec<RowKey> = store
                    .scan_after(conv, a, after)
                    .iter()
                    .map(|m| m.key())
                    .collect();
                assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn runs_are_deterministic() {
        let cfg = Config {
            users: 300,
            servers: 4,
            max_connections: 250,
            duration_ms: 10_000,
            crashes: vec![(4_000, 0)],
            joins: vec![],
            ..Config::default()
        };
        let (a, b) = (run(&cfg), run(&cfg));
        let key = |r: &Report| {
            (
                r.sent,
                r.delivered,
                r.duplicates_suppressed,
                r.reordered,
                r.resent,
                r.live_migrations,
                r.latency_live,
                r.failovers[0].detected_after,
                r.events,
            )
        };
        assert_eq!(key(&a), key(&b));
        assert!(a.complete);
    }

    #[test]
    fn conversation_ids_name_both_members() {
        let c = conv_id(42, 7);
        assert_eq!(c, conv_id(7, 42));
        assert_eq!((peer_of(c, 7), peer_of(c, 42)), (42, 7));
    }
}
