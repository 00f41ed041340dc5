//! Dropbox: file sync by content-defined chunks (design notes, section 10, and
//! "HOW are objects uploaded from clients").
//!
//! Each [`Client`] has the two components of the notes: a [`Watcher`] that sees
//! local edits (and, later, the notifications of other clients' edits) and a
//! [`Chunker`] that cuts a file into content-defined chunks (FastCDC, hld-chunker)
//! and lists them, with BLAKE3 fingerprints, in a `Manifest`. When a file
//! changes, the client chunks it again and diffs the new manifest against the one
//! the server holds (`Manifest::diff`): only the chunks the old version lacks
//! travel, to the [`ChunkStore`] (the notes' cloud storage, keyed by fingerprint,
//! so identical chunks are stored once whoever uploads them), and a
//! [`FileUpdated`] message with the new manifest goes to the [`UpdateQueue`],
//! partitioned by file id (the notes' "same partition ID per file": one file's
//! updates stay in order). One [`Consumer`] per partition commits each update to
//! the [`MetadataService`] (which checks the base version and that every chunk is
//! stored), asks the [`MapperService`] which clients share the file, and hands a
//! [`FileChanged`] to the [`NotificationService`], whose long-poll servers (each
//! client placed on one by consistent hashing, the notes' "notification svc elb")
//! tell those clients. A notified client fetches the latest manifest, downloads
//! only the chunks its own copy lacks and rebuilds the file from its old bytes and
//! the new chunks (`ManifestDiff::rebuild`, which checks every chunk against its
//! fingerprint). A client that was offline missed its notifications; when it
//! reconnects it asks for the latest version of each of its files and catches up
//! in one download per file, whatever it missed.
//!
//! Messages: client -> `ChunkStore` (missing chunks? / put chunk / get chunk),
//! client -> `UpdateQueue` (`FileUpdated`), `Consumer` -> `MetadataService`
//! (commit), `Consumer` -> `MapperService` (sharers), `Consumer` ->
//! `NotificationService` (`FileChanged`), long poll -> client's `Watcher`, client
//! -> `MetadataService` (latest manifest).
//!
//! The workload: files made of real text from `data/` (the fortunes, the word and
//! phrase counts; a few MB), each shared by a subset of the clients, edited in
//! place by seeded inserts, deletes, appends and one-byte changes, one writer per
//! file at a time (the editor holds the latest version, and the
//! `MetadataService` rejects an update from a stale base). Time is counted in
//! steps: in one step every service handles what reached it. An independent oracle
//! applies every edit to its own copy, so each version a client rebuilds is
//! checked against the truth.
//!
//! Left out: concurrent writers (Dropbox keeps a "conflicted copy"), deletes
//! and renames, chunk garbage collection, and sending the manifest as a diff
//! (each update carries the whole manifest, 40 bytes per chunk: for one-chunk
//! edits of MB-sized files that is a large share of the upload, as the table
//! shows).
//!
//! Past one machine: chunks go to S3 (or any blob store) keyed by their
//! fingerprint's hex (`Fingerprint` is the key, the chunk bytes the object), with
//! the Bloom filter (`BloomFilter::to_bytes`, checkpointed beside it) in front to
//! skip the existence request for chunks that are surely new. The manifests and the
//! mapper's sharing table live in a metadata database (MySQL for the
//! transactional commit "base version = head", Cassandra for the version history):
//! `Manifest::to_bytes` is what is stored and what travels, 40 bytes per chunk,
//! versioned and checksummed. The update queue is Kafka with the file id as the
//! message key (Kafka's partitioner plays `jump_hash`'s part: one file, one
//! partition, in order), consumed by a consumer group with one consumer per
//! partition. The notification service is a fleet of long-poll or websocket
//! servers behind a load balancer that places each client by consistent hashing
//! (`HashRing`), so a client's connection and its notifications meet on one
//! server. The chunker and the manifest diff run in the client: sans-I/O, fed the
//! file's bytes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use hld::bloom::{hash_bytes, BloomFilter};
use hld::chunker::{self, FastCdc, Fingerprint, Manifest};
use hld::consistent_hash::{jump_hash, HashRing};

use crate::common::{bytes, fortunes, per_second, percentile, Rng, Table};

/// A file, as the metadata service names it.
pub type FileId = u64;
/// A client (a device of a user).
pub type ClientId = usize;

/// The workload's knobs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Clients (devices).
    pub clients: usize,
    /// Each file is shared by this many clients at least and at most (its owner
    /// included).
    pub sharers: (usize, usize),
    /// Edits made after the files are created and synced.
    pub edits: usize,
    /// Edits started in one step at most (each on a different file).
    pub max_edits_per_step: usize,
    /// Partitions of the update queue (one consumer each).
    pub partitions: u32,
    /// Updates each consumer commits per step.
    pub consumer_batch: usize,
    /// Long-poll servers behind the notification service.
    pub notification_servers: usize,
    /// FastCDC min / average / max chunk size in bytes.
    pub chunk_sizes: (usize, usize, usize),
    /// Each source file of `data/` is cut to at most this many bytes (at a line
    /// end): a smaller workload for tests.
    pub file_limit: usize,
    /// The client that shares the most files goes offline when this share of
    /// the edits is done and comes back at the second share; `None`: nobody.
    pub offline: Option<(f64, f64)>,
    /// Lock step: after every edit, run until nothing is in flight and compare
    /// every sharer's bytes with the editor's (slower: no pipelining).
    pub settle_each_edit: bool,
    /// Seed of the workload (the run is deterministic).
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            clients: 6,
            sharers: (2, 4),
            edits: 400,
            max_edits_per_step: 3,
            partitions: 4,
            consumer_batch: 1,
            notification_servers: 3,
            chunk_sizes: (2 << 10, 8 << 10, 64 << 10),
            file_limit: usize::MAX,
            offline: Some((0.3, 0.6)),
            settle_each_edit: false,
            seed: 10,
        }
    }
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

/// Client -> update queue: "this file has a new version; its new chunks are
/// already in the chunk store".
#[derive(Clone, Debug)]
pub struct FileUpdated {
    /// Which file.
    pub file: FileId,
    /// Who edited it.
    pub editor: ClientId,
    /// The version the edit started from (the new one is `base_version + 1`).
    pub base_version: u64,
    /// The new manifest, as `Manifest::to_bytes`.
    pub manifest: Vec<u8>,
}

/// Notification service -> client (the answer to its long poll).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileChanged {
    /// Which file.
    pub file: FileId,
    /// Its version now.
    pub version: u64,
}

/// What a client's [`Watcher`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    /// The file changed on this device's disk.
    LocalEdit(FileId),
    /// Another device changed the file (from the long poll).
    Remote(FileChanged),
    /// The device is back online: every file may be behind.
    Reconnected,
}

/// Why the metadata service refused an update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitError {
    /// The update started from an older version than the head: another writer
    /// got there first (or the queue reordered the file's updates).
    Stale {
        /// The file.
        file: FileId,
        /// The version the update started from.
        base: u64,
        /// The version the service holds.
        head: u64,
    },
    /// The manifest names a chunk the chunk store does not hold.
    MissingChunk(Fingerprint),
    /// The manifest bytes are corrupt (the chunker crate's typed error).
    Corrupt(chunker::Error),
}

impl fmt::Display for CommitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommitError::Stale { file, base, head } => {
                write!(f, "file {file}: update from version {base}, head is {head}")
            }
            CommitError::MissingChunk(fp) => write!(f, "chunk {fp} is not stored"),
            CommitError::Corrupt(e) => write!(f, "corrupt manifest: {e}"),
        }
    }
}

impl std::error::Error for CommitError {}

// ---------------------------------------------------------------------------
// Services
// ---------------------------------------------------------------------------

/// The notes' cloud storage: chunks by fingerprint, each stored once. A Bloom
/// filter answers "already stored?" for chunks that are surely new without
/// asking the store (in production a remote request per chunk).
pub struct ChunkStore {
    chunks: HashMap<Fingerprint, Vec<u8>>,
    stored_bytes: u64,
    filter: BloomFilter,
    /// Existence checks asked.
    pub checks: usize,
    /// Of those, answered "new" by the filter alone.
    pub answered_by_filter: usize,
    /// Filter said "maybe", store said "no".
    pub filter_false_positives: usize,
}

impl ChunkStore {
    /// A store whose filter is sized for `expected_chunks`.
    pub fn new(expected_chunks: usize) -> ChunkStore {
        ChunkStore {
            chunks: HashMap::new(),
            stored_bytes: 0,
            filter: BloomFilter::new(expected_chunks.max(1), 0.01).expect("valid filter sizing"),
            checks: 0,
            answered_by_filter: 0,
            filter_false_positives: 0,
        }
    }

    /// The filter's key: the first 8 bytes of the BLAKE3 fingerprint, already
    /// uniform.
    fn key(fp: &Fingerprint) -> u64 {
        u64::from_le_bytes(fp.0[..8].try_into().expect("8 bytes"))
    }

    /// Which of these chunks the store lacks (in the order given).
    pub fn missing(&mut self, wanted: &[Fingerprint]) -> Vec<Fingerprint> {
        let mut out = Vec::new();
        for fp in wanted {
            self.checks += 1;
            if !self.filter.contains_hash(Self::key(fp)) {
                self.answered_by_filter += 1;
                out.push(*fp);
            } else if !self.chunks.contains_key(fp) {
                self.filter_false_positives += 1;
                out.push(*fp);
            }
        }
        out
    }

    /// Stores a chunk (a second put of the same fingerprint keeps the first).
    pub fn put(&mut self, fp: Fingerprint, chunk: &[u8]) {
        if let std::collections::hash_map::Entry::Vacant(v) = self.chunks.entry(fp) {
            self.filter.insert_hash(Self::key(&fp));
            self.stored_bytes += chunk.len() as u64;
            v.insert(chunk.to_vec());
        }
    }

    /// A chunk's bytes.
    pub fn get(&self, fp: &Fingerprint) -> Option<&[u8]> {
        self.chunks.get(fp).map(Vec::as_slice)
    }

    /// True if the chunk is stored (exact).
    pub fn contains(&self, fp: &Fingerprint) -> bool {
        self.chunks.contains_key(fp)
    }

    /// Bytes of distinct chunks stored.
    pub fn stored_bytes(&self) -> u64 {
        self.stored_bytes
    }
}

/// The queue between clients and consumers, partitioned by file id (jump
/// consistent hash), so one file's updates are consumed in the order sent.
pub struct UpdateQueue {
    partitions: Vec<VecDeque<FileUpdated>>,
    /// The largest backlog any partition reached.
    pub max_backlog: usize,
}

impl UpdateQueue {
    /// A queue of `partitions` partitions (at least 1).
    pub fn new(partitions: u32) -> UpdateQueue {
        UpdateQueue {
            partitions: (0..partitions.max(1)).map(|_| VecDeque::new()).collect(),
            max_backlog: 0,
        }
    }

    /// The partition of a file: the same for all its updates.
    pub fn partition_of(&self, file: FileId) -> u32 {
        jump_hash(file, self.partitions.len() as u32)
    }

    /// Appends an update to its file's partition.
    pub fn publish(&mut self, m: FileUpdated) {
        let p = self.partition_of(m.file) as usize;
        self.partitions[p].push_back(m);
        self.max_backlog = self.max_backlog.max(self.partitions[p].len());
    }

    /// The oldest update of a partition.
    pub fn poll(&mut self, partition: u32) -> Option<FileUpdated> {
        self.partitions.get_mut(partition as usize)?.pop_front()
    }

    /// Updates waiting in all partitions.
    pub fn backlog(&self) -> usize {
        self.partitions.iter().map(VecDeque::len).sum()
    }
}

/// File metadata: every version's manifest (as bytes), the last one the head.
#[derive(Default)]
pub struct MetadataService {
    versions: BTreeMap<FileId, Vec<Vec<u8>>>,
}

impl MetadataService {
    /// Commits an update as the file's next version, if it starts from the
    /// head and every chunk it names is stored. Returns the new version.
    pub fn commit(&mut self, m: &FileUpdated, store: &ChunkStore) -> Result<u64, CommitError> {
        let head = self.head(m.file);
        if m.base_version != head {
            return Err(CommitError::Stale {
                file: m.file,
                base: m.base_version,
                head,
            });
        }
        let manifest = Manifest::from_bytes(&m.manifest).map_err(CommitError::Corrupt)?;
        if let Some(e) = manifest.iter().find(|e| !store.contains(&e.fingerprint)) {
            return Err(CommitError::MissingChunk(e.fingerprint));
        }
        let versions = self.versions.entry(m.file).or_default();
        versions.push(m.manifest.clone());
        Ok(versions.len() as u64)
    }

    /// The file's latest version (0: none yet).
    pub fn head(&self, file: FileId) -> u64 {
        self.versions.get(&file).map_or(0, |v| v.len() as u64)
    }

    /// The latest version and its manifest bytes.
    pub fn latest(&self, file: FileId) -> Option<(u64, &[u8])> {
        let v = self.versions.get(&file)?;
        v.last().map(|m| (v.len() as u64, m.as_slice()))
    }

    /// Every version's manifest bytes, oldest first.
    pub fn history(&self, file: FileId) -> &[Vec<u8>] {
        self.versions.get(&file).map_or(&[], Vec::as_slice)
    }
}

/// Which clients share which file (the notes keep it in memory).
#[derive(Default)]
pub struct MapperService {
    sharing: BTreeMap<FileId, Vec<ClientId>>,
}

impl MapperService {
    /// Shares a file with these clients.
    pub fn share(&mut self, file: FileId, clients: &[ClientId]) {
        let s = self.sharing.entry(file).or_default();
        for &c in clients {
            if !s.contains(&c) {
                s.push(c);
            }
        }
        s.sort_unstable();
    }

    /// The clients sharing a file.
    pub fn sharers(&self, file: FileId) -> &[ClientId] {
        self.sharing.get(&file).map_or(&[], Vec::as_slice)
    }
}

/// One long-poll server: the clients connected to it and what it will answer
/// them.
#[derive(Default)]
struct LongPollServer {
    connected: BTreeSet<ClientId>,
    outbox: Vec<(ClientId, FileChanged)>,
}

/// Long-poll servers behind a load balancer that places each client on one by
/// consistent hashing.
pub struct NotificationService {
    ring: HashRing<usize>,
    servers: Vec<LongPollServer>,
    /// Notifications for clients without an open long poll (offline): dropped.
    pub dropped: usize,
    /// Notifications answered.
    pub delivered: usize,
}

impl NotificationService {
    /// `servers` long-poll servers (at least 1).
    pub fn new(servers: usize) -> NotificationService {
        let servers = servers.max(1);
        let mut ring = HashRing::new(64).expect("64 vnodes is valid");
        for s in 0..servers {
            ring.add(s);
        }
        NotificationService {
            ring,
            servers: (0..servers).map(|_| LongPollServer::default()).collect(),
            dropped: 0,
            delivered: 0,
        }
    }

    fn server_of(&self, client: ClientId) -> usize {
        *self
            .ring
            .node_for(&(client as u64))
            .expect("at least one server")
    }

    /// A client opens its long poll.
    pub fn connect(&mut self, client: ClientId) {
        let s = self.server_of(client);
        self.servers[s].connected.insert(client);
    }

    /// A client goes away; what was waiting for it is lost.
    pub fn disconnect(&mut self, client: ClientId) {
        let s = self.server_of(client);
        let server = &mut self.servers[s];
        server.connected.remove(&client);
        let before = server.outbox.len();
        server.outbox.retain(|(c, _)| *c != client);
        self.dropped += before - server.outbox.len();
    }

    /// Queues a notification for each client on its server.
    pub fn notify(&mut self, clients: impl IntoIterator<Item = ClientId>, n: FileChanged) {
        for c in clients {
            let s = self.server_of(c);
            let server = &mut self.servers[s];
            if server.connected.contains(&c) {
                server.outbox.push((c, n));
            } else {
                self.dropped += 1;
            }
        }
    }

    /// Answers every waiting long poll.
    pub fn deliver(&mut self) -> Vec<(ClientId, FileChanged)> {
        let out: Vec<_> = self
            .servers
            .iter_mut()
            .flat_map(|s| s.outbox.drain(..))
            .collect();
        self.delivered += out.len();
        out
    }

    /// Notifications waiting.
    pub fn pending(&self) -> usize {
        self.servers.iter().map(|s| s.outbox.len()).sum()
    }
}

/// The consumer of one queue partition.
pub struct Consumer {
    partition: u32,
}

impl Consumer {
    /// Commits an update, then tells every other client that shares the file.
    fn consume(
        &self,
        m: FileUpdated,
        metadata: &mut MetadataService,
        store: &ChunkStore,
        mapper: &MapperService,
        notifications: &mut NotificationService,
        log: &mut Log,
    ) {
        log.consumed.push((self.partition, m.file, m.base_version));
        match metadata.commit(&m, store) {
            Ok(version) => {
                let others = mapper
                    .sharers(m.file)
                    .iter()
                    .copied()
                    .filter(|&c| c != m.editor);
                notifications.notify(
                    others,
                    FileChanged {
                        file: m.file,
                        version,
                    },
                );
            }
            Err(e) => log.rejected.push(e),
        }
    }
}

// ---------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------

/// Watches the device: local edits (the file system's change events) and the
/// notifications of the long poll, in arrival order.
#[derive(Default)]
pub struct Watcher {
    events: VecDeque<WatchEvent>,
}

impl Watcher {
    fn push(&mut self, e: WatchEvent) {
        self.events.push_back(e);
    }

    fn next(&mut self) -> Option<WatchEvent> {
        self.events.pop_front()
    }

    fn is_idle(&self) -> bool {
        self.events.is_empty()
    }
}

/// Cuts files into content-defined chunks and lists them in a manifest.
#[derive(Clone, Copy)]
pub struct Chunker {
    cdc: FastCdc,
}

impl Chunker {
    /// A chunker with these FastCDC sizes; bad sizes are the chunker crate's
    /// typed error.
    pub fn new(min: usize, avg: usize, max: usize) -> Result<Chunker, chunker::Error> {
        Ok(Chunker {
            cdc: FastCdc::new(min, avg, max)?,
        })
    }

    /// The file's manifest.
    pub fn manifest(&self, file: &[u8]) -> Manifest {
        Manifest::new(&self.cdc, file)
    }
}

/// A file on one device, with what the device knows the server has.
#[derive(Default)]
struct LocalFile {
    bytes: Vec<u8>,
    /// Manifest of `version` (what the server holds of this device's copy).
    manifest: Manifest,
    /// The version the device last synced or published (0: nothing yet).
    version: u64,
}

/// A device: its files, its watcher, its chunker.
pub struct Client {
    id: ClientId,
    online: bool,
    watcher: Watcher,
    chunker: Chunker,
    files: BTreeMap<FileId, LocalFile>,
}

impl Client {
    fn new(id: ClientId, chunker: Chunker) -> Client {
        Client {
            id,
            online: true,
            watcher: Watcher::default(),
            chunker,
            files: BTreeMap::new(),
        }
    }

    /// The file's bytes on this device.
    pub fn file(&self, f: FileId) -> Option<&[u8]> {
        self.files.get(&f).map(|l| l.bytes.as_slice())
    }

    /// The version of the file this device holds.
    pub fn version(&self, f: FileId) -> u64 {
        self.files.get(&f).map_or(0, |l| l.version)
    }

    /// Handles everything the watcher saw.
    fn poll(
        &mut self,
        store: &mut ChunkStore,
        queue: &mut UpdateQueue,
        metadata: &MetadataService,
        log: &mut Log,
    ) {
        while let Some(e) = self.watcher.next() {
            match e {
                WatchEvent::LocalEdit(f) => self.upload(f, store, queue, log),
                WatchEvent::Remote(n) => {
                    if self.version(n.file) >= n.version {
                        log.redundant_notifications += 1;
                    } else {
                        self.download(n.file, store, metadata, log);
                    }
                }
                WatchEvent::Reconnected => {
                    let behind: Vec<FileId> = self
                        .files
                        .iter()
                        .filter(|(f, l)| metadata.head(**f) > l.version)
                        .map(|(f, _)| *f)
                        .collect();
                    for f in behind {
                        self.download(f, store, metadata, log);
                    }
                }
            }
        }
    }

    /// Local edit: chunk, diff against the server's version, upload the chunks
    /// the store lacks, publish the new manifest.
    fn upload(
        &mut self,
        f: FileId,
        store: &mut ChunkStore,
        queue: &mut UpdateQueue,
        log: &mut Log,
    ) {
        let start = Instant::now();
        let Some(local) = self.files.get_mut(&f) else {
            return;
        };
        let manifest = self.chunker.manifest(&local.bytes);
        if manifest == local.manifest && local.version > 0 {
            return; // touched, not changed
        }
        let diff = manifest.diff(&local.manifest);
        let changed: Vec<Fingerprint> = diff.upload.iter().map(|e| e.fingerprint).collect();
        let missing: HashSet<Fingerprint> = store.missing(&changed).into_iter().collect();
        let mut uploaded = Vec::new();
        let mut uploaded_bytes = 0;
        for e in &diff.upload {
            if missing.contains(&e.fingerprint) {
                store.put(
                    e.fingerprint,
                    &local.bytes[e.offset as usize..e.end() as usize],
                );
                uploaded.push(e.fingerprint);
                uploaded_bytes += e.len;
            }
        }
        let wire = manifest.to_bytes();
        let manifest_bytes = wire.len();
        queue.publish(FileUpdated {
            file: f,
            editor: self.id,
            base_version: local.version,
            manifest: wire,
        });
        local.version += 1;
        local.manifest = manifest;
        log.published.push(Published {
            file: f,
            version: local.version,
            file_len: local.bytes.len() as u64,
            diff_bytes: diff.upload_bytes(),
            changed,
            uploaded,
            uploaded_bytes,
            manifest_bytes,
            took: start.elapsed(),
        });
    }

    /// Remote change: fetch the latest manifest, download the chunks this copy
    /// lacks, rebuild from the old bytes and the new chunks.
    fn download(
        &mut self,
        f: FileId,
        store: &ChunkStore,
        metadata: &MetadataService,
        log: &mut Log,
    ) {
        let start = Instant::now();
        let Some(local) = self.files.get_mut(&f) else {
            return;
        };
        let Some((head, wire)) = metadata.latest(f) else {
            return;
        };
        if head <= local.version {
            return;
        }
        let manifest = match Manifest::from_bytes(wire) {
            Ok(m) => m,
            Err(e) => {
                log.errors
                    .push(format!("client {}: file {f}: {e}", self.id));
                return;
            }
        };
        let diff = manifest.diff(&local.manifest);
        let chunks: Option<Vec<&[u8]>> = diff
            .upload
            .iter()
            .map(|e| store.get(&e.fingerprint))
            .collect();
        let Some(chunks) = chunks else {
            log.errors
                .push(format!("client {}: file {f}: a chunk is missing", self.id));
            return;
        };
        match diff.rebuild(&local.bytes, &chunks) {
            Ok(bytes) => {
                local.bytes = bytes;
                local.manifest = manifest;
                local.version = head;
                log.synced.push(Synced {
                    client: self.id,
                    file: f,
                    chunks: diff.upload.len(),
                    downloaded: diff.upload_bytes(),
                    file_len: diff.total_len,
                    took: start.elapsed(),
                });
            }
            Err(e) => log
                .errors
                .push(format!("client {}: file {f}: {e}", self.id)),
        }
    }
}

// ---------------------------------------------------------------------------
// The system
// ---------------------------------------------------------------------------

/// One published update, as the client saw it.
#[derive(Clone, Debug)]
pub struct Published {
    /// Which file.
    pub file: FileId,
    /// The version it became.
    pub version: u64,
    /// Length of the new version.
    pub file_len: u64,
    /// The manifest diff: chunks of the new version the old one lacks.
    pub changed: Vec<Fingerprint>,
    /// Their bytes.
    pub diff_bytes: u64,
    /// Of those, the chunks the store lacked: what was sent.
    pub uploaded: Vec<Fingerprint>,
    /// Their bytes.
    pub uploaded_bytes: u64,
    /// Bytes of the manifest sent to the queue.
    pub manifest_bytes: usize,
    /// Client time: chunk, diff, upload.
    pub took: Duration,
}

/// One file rebuilt by a client from a newer version.
#[derive(Clone, Debug)]
pub struct Synced {
    /// Who.
    pub client: ClientId,
    /// Which file.
    pub file: FileId,
    /// Chunks downloaded.
    pub chunks: usize,
    /// Their bytes.
    pub downloaded: u64,
    /// Length of the file.
    pub file_len: u64,
    /// Client time: fetch manifest, diff, download, rebuild.
    pub took: Duration,
}

#[derive(Default)]
struct Log {
    published: Vec<Published>,
    synced: Vec<Synced>,
    /// (partition, file, base version) in consumption order.
    consumed: Vec<(u32, FileId, u64)>,
    rejected: Vec<CommitError>,
    errors: Vec<String>,
    redundant_notifications: usize,
}

/// Every client and service, advanced one step at a time.
pub struct Dropbox {
    clients: Vec<Client>,
    store: ChunkStore,
    queue: UpdateQueue,
    metadata: MetadataService,
    mapper: MapperService,
    notifications: NotificationService,
    consumers: Vec<Consumer>,
    consumer_batch: usize,
    now: u64,
    log: Log,
}

impl Dropbox {
    /// A system of `cfg.clients` clients, all online.
    pub fn new(cfg: &Config, expected_chunks: usize) -> Result<Dropbox, chunker::Error> {
        let (min, avg, max) = cfg.chunk_sizes;
        let chunker = Chunker::new(min, avg, max)?;
        let mut notifications = NotificationService::new(cfg.notification_servers);
        for c in 0..cfg.clients {
            notifications.connect(c);
        }
        let queue = UpdateQueue::new(cfg.partitions);
        Ok(Dropbox {
            clients: (0..cfg.clients).map(|c| Client::new(c, chunker)).collect(),
            store: ChunkStore::new(expected_chunks),
            consumers: (0..queue.partitions.len() as u32)
                .map(|partition| Consumer { partition })
                .collect(),
            queue,
            metadata: MetadataService::default(),
            mapper: MapperService::default(),
            notifications,
            consumer_batch: cfg.consumer_batch.max(1),
            now: 0,
            log: Log::default(),
        })
    }

    /// The owner creates a file on its device and shares it.
    pub fn create(&mut self, file: FileId, owner: ClientId, sharers: &[ClientId], bytes: Vec<u8>) {
        self.mapper.share(file, sharers);
        for &s in sharers {
            self.clients[s].files.entry(file).or_default();
        }
        self.clients[owner].files.entry(file).or_default().bytes = bytes;
        self.clients[owner]
            .watcher
            .push(WatchEvent::LocalEdit(file));
    }

    /// A client edits its copy of a file (the watcher sees it).
    pub fn edit(&mut self, client: ClientId, file: FileId, edit: &Edit) {
        if let Some(local) = self.clients[client].files.get_mut(&file) {
            edit.apply(&mut local.bytes);
            self.clients[client]
                .watcher
                .push(WatchEvent::LocalEdit(file));
        }
    }

    /// A client goes offline or comes back.
    pub fn set_online(&mut self, client: ClientId, online: bool) {
        let c = &mut self.clients[client];
        if c.online == online {
            return;
        }
        c.online = online;
        if online {
            self.notifications.connect(client);
            c.watcher.push(WatchEvent::Reconnected);
        } else {
            self.notifications.disconnect(client);
        }
    }

    /// One step: long polls answer, clients act on what their watchers saw,
    /// each consumer commits from its partition.
    pub fn step(&mut self) {
        self.now += 1;
        for (c, n) in self.notifications.deliver() {
            self.clients[c].watcher.push(WatchEvent::Remote(n));
        }
        for c in self.clients.iter_mut().filter(|c| c.online) {
            c.poll(
                &mut self.store,
                &mut self.queue,
                &self.metadata,
                &mut self.log,
            );
        }
        for consumer in &self.consumers {
            for _ in 0..self.consumer_batch {
                let Some(m) = self.queue.poll(consumer.partition) else {
                    break;
                };
                consumer.consume(
                    m,
                    &mut self.metadata,
                    &self.store,
                    &self.mapper,
                    &mut self.notifications,
                    &mut self.log,
                );
            }
        }
    }

    /// True if nothing is in flight.
    pub fn is_quiet(&self) -> bool {
        self.queue.backlog() == 0
            && self.notifications.pending() == 0
            && self
                .clients
                .iter()
                .all(|c| !c.online || c.watcher.is_idle())
    }
}

// ---------------------------------------------------------------------------
// The workload
// ---------------------------------------------------------------------------

/// What an edit does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EditKind {
    /// New lines in the middle.
    Insert,
    /// Lines removed.
    Delete,
    /// New lines at the end.
    Append,
    /// One byte changed in place.
    OneByte,
}

/// An edit of a file's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    /// Insert `text` before byte `at`.
    Insert {
        /// Where.
        at: usize,
        /// What.
        text: Vec<u8>,
    },
    /// Remove `len` bytes from `at`.
    Delete {
        /// Where.
        at: usize,
        /// How many.
        len: usize,
    },
    /// Add `text` at the end.
    Append {
        /// What.
        text: Vec<u8>,
    },
    /// Replace the byte at `at`.
    Overwrite {
        /// Where.
        at: usize,
        /// The new byte.
        byte: u8,
    },
}

impl Edit {
    /// Its kind.
    pub fn kind(&self) -> EditKind {
        match self {
            Edit::Insert { .. } => EditKind::Insert,
            Edit::Delete { .. } => EditKind::Delete,
            Edit::Append { .. } => EditKind::Append,
            Edit::Overwrite { .. } => EditKind::OneByte,
        }
    }

    /// Applies the edit.
    pub fn apply(&self, file: &mut Vec<u8>) {
        match self {
            Edit::Insert { at, text } => {
                file.splice(*at..*at, text.iter().copied());
            }
            Edit::Delete { at, len } => {
                file.drain(*at..*at + *len);
            }
            Edit::Append { text } => file.extend_from_slice(text),
            Edit::Overwrite { at, byte } => file[*at] = *byte,
        }
    }

    /// A random edit of `file` that changes it: lines of `text` inserted at a
    /// line start or appended, whole lines deleted, or one byte changed.
    pub fn random(file: &[u8], text: &[String], rng: &mut Rng) -> Edit {
        let lines = |rng: &mut Rng, n: usize| -> Vec<u8> {
            let mut out = Vec::new();
            for _ in 0..n {
                out.extend_from_slice(text[rng.below(text.len())].as_bytes());
                out.push(b'\n');
            }
            out
        };
        let line_start = |at: usize| -> usize {
            file[at..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(file.len(), |i| at + i + 1)
        };
        let roll = rng.below(100);
        if roll < 30 && !file.is_empty() {
            let at = line_start(rng.below(file.len()));
            let n = 1 + rng.below(3);
            return Edit::Insert {
                at,
                text: lines(rng, n),
            };
        }
        if roll < 55 && file.len() > 16 << 10 {
            let at = line_start(rng.below(file.len()));
            let mut end = at;
            for _ in 0..1 + rng.below(3) {
                if end < file.len() {
                    end = line_start(end);
                }
            }
            if end > at {
                return Edit::Delete { at, len: end - at };
            }
        }
        if roll < 75 || file.is_empty() {
            let n = 1 + rng.below(20);
            return Edit::Append {
                text: lines(rng, n),
            };
        }
        let at = rng.below(file.len());
        let old = file[at];
        let byte = if old.is_ascii_alphabetic() {
            old ^ 0x20 // flip its case
        } else if old == b'x' {
            b'y'
        } else {
            b'x'
        };
        Edit::Overwrite { at, byte }
    }
}

/// One source file: its bytes, and whether it copies another one.
struct Source {
    bytes: Vec<u8>,
    is_copy: bool,
}

/// The files: the fortunes in two halves, the unigram and the bigram counts,
/// and a copy of the bigrams (shared into another folder), each cut to `limit`
/// bytes at a line end.
fn sources(limit: usize) -> Vec<Source> {
    let cut = |s: &str| -> Vec<u8> {
        let b = s.as_bytes();
        if b.len() <= limit {
            return b.to_vec();
        }
        let end = b[..limit]
            .iter()
            .rposition(|&x| x == b'\n')
            .map_or(limit, |i| i + 1);
        b[..end].to_vec()
    };
    let fortunes = include_str!("../../data/fortunes.txt");
    let mid = fortunes.len() / 2;
    let mid = mid + fortunes[mid..].find('\n').map_or(0, |i| i + 1);
    let bigrams = cut(include_str!("../../data/bigrams-100k.tsv"));
    vec![
        Source {
            bytes: cut(&fortunes[..mid]),
            is_copy: false,
        },
        Source {
            bytes: cut(&fortunes[mid..]),
            is_copy: false,
        },
        Source {
            bytes: cut(include_str!("../../data/unigrams-100k.tsv")),
            is_copy: false,
        },
        Source {
            bytes: bigrams.clone(),
            is_copy: false,
        },
        Source {
            bytes: bigrams,
            is_copy: true,
        },
    ]
}

/// Each file's owner and sharers: file `i` is owned by client `i % clients`
/// and shared with a random subset.
fn sharing(cfg: &Config, files: usize, rng: &mut Rng) -> Vec<(ClientId, Vec<ClientId>)> {
    let (lo, hi) = cfg.sharers;
    let hi = hi.clamp(1, cfg.clients);
    let lo = lo.clamp(1, hi);
    (0..files)
        .map(|i| {
            let owner = i % cfg.clients;
            let n = lo + rng.below(hi - lo + 1);
            let mut s = vec![owner];
            while s.len() < n {
                let c = rng.below(cfg.clients);
                if !s.contains(&c) {
                    s.push(c);
                }
            }
            s.sort_unstable();
            (owner, s)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

/// How the offline client caught up.
#[derive(Clone, Debug)]
pub struct CatchUp {
    /// The client.
    pub client: ClientId,
    /// Versions committed while it was away (over its files).
    pub missed_versions: u64,
    /// Its files that were behind when it came back.
    pub files_behind: usize,
    /// Chunk bytes it downloaded to catch up.
    pub downloaded: u64,
    /// What replaying every missed update would have downloaded (their diffs).
    pub replay_bytes: u64,
    /// Bytes of the files it caught up (a full download of each).
    pub full_bytes: u64,
    /// Steps from reconnecting to holding every head of that moment.
    pub steps: u64,
    /// True if, once caught up, it held exactly the latest bytes.
    pub identical: bool,
}

/// What one run did.
#[derive(Clone, Debug)]
pub struct Report {
    /// Files and clients.
    pub files: usize,
    /// Clients.
    pub clients: usize,
    /// Mean sharers per file.
    pub sharers_per_file: f64,
    /// Bytes and chunks of the files as created.
    pub initial_bytes: u64,
    /// Chunks of the files as created.
    pub initial_chunks: usize,
    /// Chunk bytes uploaded to create the original files.
    pub initial_upload: u64,
    /// Size of the copied file, and chunk bytes its creation uploaded.
    pub copy_bytes: u64,
    /// Chunk bytes uploaded to create the copy.
    pub copy_upload: u64,
    /// Edits made, by kind.
    pub edits: BTreeMap<EditKind, usize>,
    /// Changed chunks (manifest diff) per edit, in publish order, with the kind.
    pub chunks_per_edit: Vec<(EditKind, usize)>,
    /// Chunks and chunk bytes in the edits' manifest diffs.
    pub diff_chunks: usize,
    /// Chunk bytes in the edits' manifest diffs.
    pub diff_bytes: u64,
    /// Chunks the edits uploaded (the diffs' chunks the store lacked).
    pub uploaded_chunks: usize,
    /// Chunk bytes uploaded by the edits (diffs minus chunks already stored).
    pub uploaded_bytes: u64,
    /// Manifest bytes sent with the edits.
    pub manifest_bytes: u64,
    /// What re-uploading each edited file whole would have sent.
    pub full_reupload_bytes: u64,
    /// Chunks the other clients downloaded for the edits.
    pub downloaded_chunks: usize,
    /// Their bytes.
    pub downloaded_bytes: u64,
    /// What downloading each new version whole would have taken.
    pub full_download_bytes: u64,
    /// Distinct chunk bytes stored.
    pub stored_bytes: u64,
    /// Bytes of every version of every file (what a store without dedup keeps).
    pub logical_bytes: u64,
    /// Existence checks, and how many the Bloom filter answered alone.
    pub store_checks: usize,
    /// Existence checks the filter answered alone.
    pub answered_by_filter: usize,
    /// Steps from an edit to every online sharer holding that version or newer.
    pub sync_steps: Vec<u64>,
    /// Versions never seen synced (0 unless something is broken).
    pub unsynced_versions: usize,
    /// Rebuilt versions whose bytes differ from the oracle's.
    pub mismatches: usize,
    /// Rebuilds checked against the oracle.
    pub checked_rebuilds: usize,
    /// Lock step only: byte comparisons of sharers against the editor after an
    /// edit, and how many differed.
    pub lockstep_checks: usize,
    /// Lock-step comparisons that differed.
    pub lockstep_mismatches: usize,
    /// After the run, every sharer of every file holds the oracle's bytes.
    pub final_identical: bool,
    /// (partition, file, base version) of every update, in consumption order.
    pub consumed: Vec<(u32, FileId, u64)>,
    /// Each file's partition.
    pub partition_of: BTreeMap<FileId, u32>,
    /// Updates the metadata service refused.
    pub rejected: Vec<CommitError>,
    /// Client-side failures (a chunk missing or wrong).
    pub errors: Vec<String>,
    /// Largest partition backlog.
    pub max_backlog: usize,
    /// Notifications dropped (client offline) and delivered.
    pub notifications_dropped: usize,
    /// Notifications answered.
    pub notifications_delivered: usize,
    /// The offline client's catch-up.
    pub catch_up: Option<CatchUp>,
    /// Client time per published edit (chunk, diff, upload).
    pub publish_times: Vec<Duration>,
    /// Client time per rebuild (fetch, diff, download, rebuild).
    pub rebuild_times: Vec<Duration>,
    /// Wall time of the run.
    pub took: Duration,
    /// The printed table.
    pub table: Table,
}

/// The oracle: every file's true bytes and a hash of every version.
struct Truth {
    bytes: BTreeMap<FileId, Vec<u8>>,
    digests: BTreeMap<FileId, Vec<u64>>,
}

impl Truth {
    fn record(&mut self, f: FileId, bytes: Vec<u8>) {
        self.digests
            .entry(f)
            .or_insert_with(|| vec![hash_bytes(0, b"")])
            .push(hash_bytes(0, &bytes));
        self.bytes.insert(f, bytes);
    }

    fn version(&self, f: FileId) -> u64 {
        self.digests.get(&f).map_or(0, |d| d.len() as u64 - 1)
    }
}

/// Updates consumed out of their file's order: base version not the one
/// after the previous update's.
fn out_of_order(consumed: &[(u32, FileId, u64)]) -> usize {
    let mut next: BTreeMap<FileId, u64> = BTreeMap::new();
    consumed
        .iter()
        .filter(|(_, f, base)| {
            let want = next.entry(*f).or_insert(0);
            let bad = base != want;
            *want = base + 1;
            bad
        })
        .count()
}

/// The offline client's absence: what it held when it left, then its
/// catch-up once back.
struct Absence {
    client: ClientId,
    /// Versions held when it left (while away).
    held: Option<BTreeMap<FileId, u64>>,
    /// While catching up: the step it came back, the heads it must reach, and
    /// where its downloads start in the sync log.
    catching: Option<(u64, BTreeMap<FileId, u64>, usize)>,
    result: Option<CatchUp>,
}

/// Runs the system and watches it: checks each rebuild against the oracle,
/// times each version's sync, follows the offline client.
struct Driver {
    sys: Dropbox,
    truth: Truth,
    /// Versions not yet on every online sharer: (file, version, edit step).
    pending: VecDeque<(FileId, u64, u64)>,
    sync_steps: Vec<u64>,
    checked: usize,
    mismatches: usize,
    absence: Absence,
}

impl Driver {
    /// One step of the system, then the checks.
    fn step(&mut self) {
        let from = self.sys.log.synced.len();
        self.sys.step();
        let sys = &self.sys;

        // Every (client, file) rebuilt in this step holds the oracle's bytes
        // of the version it claims.
        let touched: BTreeSet<(ClientId, FileId)> = sys.log.synced[from..]
            .iter()
            .map(|s| (s.client, s.file))
            .collect();
        for (c, f) in touched {
            let v = sys.clients[c].version(f) as usize;
            let held = sys.clients[c].file(f).unwrap_or_default();
            self.checked += 1;
            if self.truth.digests[&f].get(v) != Some(&hash_bytes(0, held)) {
                self.mismatches += 1;
            }
        }

        // A version is synced once committed and on every online sharer.
        let sync_steps = &mut self.sync_steps;
        self.pending.retain(|&(f, v, at)| {
            let synced = sys.metadata.head(f) >= v
                && sys
                    .mapper
                    .sharers(f)
                    .iter()
                    .all(|&c| !sys.clients[c].online || sys.clients[c].version(f) >= v);
            if synced {
                sync_steps.push(sys.now - at);
            }
            !synced
        });

        let a = &mut self.absence;
        if let Some((back, heads, idx)) = &a.catching {
            let c = &sys.clients[a.client];
            if heads.iter().all(|(f, v)| c.version(*f) >= *v) {
                let cu = a.result.as_mut().expect("set on reconnect");
                cu.steps = sys.now - back;
                cu.downloaded = sys.log.synced[*idx..]
                    .iter()
                    .filter(|s| s.client == a.client)
                    .map(|s| s.downloaded)
                    .sum();
                cu.identical = heads.iter().all(|(f, v)| {
                    c.version(*f) != *v
                        || self.truth.digests[f][*v as usize]
                            == hash_bytes(0, c.file(*f).unwrap_or_default())
                });
                a.catching = None;
            }
        }
    }

    /// Steps until nothing is in flight.
    fn settle(&mut self) {
        let start = self.sys.now;
        while !self.sys.is_quiet() {
            self.step();
            assert!(self.sys.now - start < 100_000, "the system does not settle");
        }
    }

    /// The offline client leaves (between steps: nothing of its own is in
    /// flight).
    fn leave(&mut self) {
        let a = &mut self.absence;
        a.held = Some(
            self.sys.clients[a.client]
                .files
                .iter()
                .map(|(f, l)| (*f, l.version))
                .collect(),
        );
        self.sys.set_online(a.client, false);
    }

    /// The offline client comes back; `edits_from` is where the edits start in
    /// the publish log.
    fn come_back(&mut self, edits_from: usize) {
        let a = &mut self.absence;
        let Some(held) = a.held.take() else {
            return;
        };
        let sys = &mut self.sys;
        let heads: BTreeMap<FileId, u64> =
            held.keys().map(|f| (*f, sys.metadata.head(*f))).collect();
        let behind = |f: &FileId, v: &u64| *v > held[f];
        let replay_bytes = sys.log.published[edits_from..]
            .iter()
            .filter(|p| {
                held.get(&p.file)
                    .is_some_and(|&v| p.version > v && p.version <= heads[&p.file])
            })
            .map(|p| p.diff_bytes)
            .sum();
        a.result = Some(CatchUp {
            client: a.client,
            missed_versions: heads.iter().map(|(f, v)| v - held[f]).sum(),
            files_behind: heads.iter().filter(|(f, v)| behind(f, v)).count(),
            downloaded: 0,
            replay_bytes,
            full_bytes: heads
                .iter()
                .filter(|(f, v)| behind(f, v))
                .map(|(f, _)| self.truth.bytes[f].len() as u64)
                .sum(),
            steps: 0,
            identical: false,
        });
        a.catching = Some((sys.now, heads, sys.log.synced.len()));
        sys.set_online(a.client, true);
    }
}

/// Runs the workload and reports.
pub fn run(cfg: &Config) -> Report {
    assert!(
        cfg.clients >= 2,
        "Config::clients: sharing needs two clients"
    );
    let start = Instant::now();
    let texts = fortunes();
    let mut rng = Rng(cfg.seed);
    let sources = sources(cfg.file_limit);
    let share = sharing(cfg, sources.len(), &mut rng);
    let total: usize = sources.iter().map(|s| s.bytes.len()).sum();
    let expected_chunks = total / cfg.chunk_sizes.0.max(1) + 8 * cfg.edits + 64;
    let ids: Vec<FileId> = (0..sources.len() as u64).map(|i| 100 + i).collect();
    // The offline client: the one sharing the most files.
    let offline_client = (0..cfg.clients)
        .max_by_key(|&c| {
            (
                share.iter().filter(|(_, s)| s.contains(&c)).count(),
                std::cmp::Reverse(c),
            )
        })
        .unwrap_or(0);
    let mut d = Driver {
        sys: Dropbox::new(cfg, expected_chunks)
            .expect("Config::chunk_sizes must be valid FastCDC sizes"),
        truth: Truth {
            bytes: BTreeMap::new(),
            digests: BTreeMap::new(),
        },
        pending: VecDeque::new(),
        sync_steps: Vec::new(),
        checked: 0,
        mismatches: 0,
        absence: Absence {
            client: offline_client,
            held: None,
            catching: None,
            result: None,
        },
    };

    // Create the original files and sync them, then the copy.
    let create = |d: &mut Driver, copies: bool| -> u64 {
        let from = d.sys.log.published.len();
        for (i, s) in sources.iter().enumerate() {
            if s.is_copy == copies {
                let (owner, ref sharers) = share[i];
                d.sys.create(ids[i], owner, sharers, s.bytes.clone());
                d.truth.record(ids[i], s.bytes.clone());
            }
        }
        d.settle();
        d.sys.log.published[from..]
            .iter()
            .map(|p| p.uploaded_bytes)
            .sum()
    };
    let initial_upload = create(&mut d, false);
    let copy_upload = create(&mut d, true);
    let initial_published = d.sys.log.published.len();
    let initial_synced = d.sys.log.synced.len();
    let initial_chunks: usize = d.sys.log.published.iter().map(|p| p.changed.len()).sum();

    let (off_at, on_at) = cfg.offline.map_or((usize::MAX, usize::MAX), |(a, b)| {
        let a = (a * cfg.edits as f64) as usize;
        (a, ((b * cfg.edits as f64) as usize).max(a + 1))
    });
    let mut edits: BTreeMap<EditKind, usize> = BTreeMap::new();
    let mut kinds: HashMap<(FileId, u64), EditKind> = HashMap::new();
    let mut lockstep_checks = 0;
    let mut lockstep_mismatches = 0;
    let mut done = 0;
    while done < cfg.edits {
        d.step();
        if done >= off_at && d.absence.held.is_none() && d.absence.result.is_none() {
            d.leave();
        }
        if done >= on_at {
            d.come_back(initial_published);
        }

        // New edits, each on a different file, by a client holding its latest
        // version (one writer at a time).
        let n = rng.below(cfg.max_edits_per_step + 1).min(cfg.edits - done);
        let mut touched = BTreeSet::new();
        for _ in 0..n {
            let f = ids[rng.below(ids.len())];
            if !touched.insert(f) {
                continue;
            }
            let head = d.truth.version(f);
            let sys = &d.sys;
            let writers: Vec<ClientId> = sys
                .mapper
                .sharers(f)
                .iter()
                .copied()
                .filter(|&c| sys.clients[c].online && sys.clients[c].version(f) == head)
                .collect();
            if writers.is_empty() {
                continue;
            }
            let editor = writers[rng.below(writers.len())];
            let mut bytes = d.truth.bytes[&f].clone();
            let edit = Edit::random(&bytes, &texts, &mut rng);
            edit.apply(&mut bytes);
            d.sys.edit(editor, f, &edit);
            d.truth.record(f, bytes);
            *edits.entry(edit.kind()).or_default() += 1;
            kinds.insert((f, head + 1), edit.kind());
            d.pending.push_back((f, head + 1, d.sys.now));
            done += 1;

            if cfg.settle_each_edit {
                d.settle();
                let sys = &d.sys;
                let mine = sys.clients[editor].file(f).unwrap_or_default();
                for &c in sys.mapper.sharers(f) {
                    if c != editor && sys.clients[c].online {
                        lockstep_checks += 1;
                        if sys.clients[c].file(f) != Some(mine) {
                            lockstep_mismatches += 1;
                        }
                    }
                }
            }
        }
    }
    // Whoever is still away comes back; everything settles.
    d.come_back(initial_published);
    d.settle();
    let Driver {
        sys,
        truth,
        pending,
        sync_steps,
        checked,
        mismatches,
        absence,
    } = d;
    let catch_up = absence.result;

    let final_identical = ids.iter().all(|f| {
        sys.mapper
            .sharers(*f)
            .iter()
            .all(|&c| sys.clients[c].file(*f) == Some(truth.bytes[f].as_slice()))
    });

    // Edit-phase traffic.
    let published = &sys.log.published[initial_published..];
    let synced = &sys.log.synced[initial_synced..];
    let logical_bytes = ids
        .iter()
        .flat_map(|f| sys.metadata.history(*f))
        .map(|m| Manifest::from_bytes(m).map_or(0, |m| m.total_len()))
        .sum();
    let mut r = Report {
        files: ids.len(),
        clients: cfg.clients,
        sharers_per_file: share.iter().map(|(_, s)| s.len()).sum::<usize>() as f64
            / share.len() as f64,
        initial_bytes: sources.iter().map(|s| s.bytes.len() as u64).sum(),
        initial_chunks,
        initial_upload,
        copy_bytes: sources
            .iter()
            .filter(|s| s.is_copy)
            .map(|s| s.bytes.len() as u64)
            .sum(),
        copy_upload,
        edits,
        chunks_per_edit: published
            .iter()
            .map(|p| (kinds[&(p.file, p.version)], p.changed.len()))
            .collect(),
        diff_chunks: published.iter().map(|p| p.changed.len()).sum(),
        diff_bytes: published.iter().map(|p| p.diff_bytes).sum(),
        uploaded_chunks: published.iter().map(|p| p.uploaded.len()).sum(),
        uploaded_bytes: published.iter().map(|p| p.uploaded_bytes).sum(),
        manifest_bytes: published.iter().map(|p| p.manifest_bytes as u64).sum(),
        full_reupload_bytes: published.iter().map(|p| p.file_len).sum(),
        downloaded_chunks: synced.iter().map(|s| s.chunks).sum(),
        downloaded_bytes: synced.iter().map(|s| s.downloaded).sum(),
        full_download_bytes: synced.iter().map(|s| s.file_len).sum(),
        stored_bytes: sys.store.stored_bytes(),
        logical_bytes,
        store_checks: sys.store.checks,
        answered_by_filter: sys.store.answered_by_filter,
        unsynced_versions: pending.len(),
        sync_steps,
        mismatches,
        checked_rebuilds: checked,
        lockstep_checks,
        lockstep_mismatches,
        final_identical,
        consumed: sys.log.consumed.clone(),
        partition_of: ids
            .iter()
            .map(|&f| (f, sys.queue.partition_of(f)))
            .collect(),
        rejected: sys.log.rejected.clone(),
        errors: sys.log.errors.clone(),
        max_backlog: sys.queue.max_backlog,
        notifications_dropped: sys.notifications.dropped,
        notifications_delivered: sys.notifications.delivered,
        catch_up,
        publish_times: published.iter().map(|p| p.took).collect(),
        rebuild_times: synced.iter().map(|s| s.took).collect(),
        took: start.elapsed(),
        table: Table::default(),
    };
    r.table = table(cfg, &r, &sources, published);
    r
}

fn table(cfg: &Config, r: &Report, sources: &[Source], published: &[Published]) -> Table {
    let pct_of = |a: u64, b: u64| 100.0 * a as f64 / b.max(1) as f64;
    let mut per_edit: Vec<u64> = r.chunks_per_edit.iter().map(|(_, n)| *n as u64).collect();
    let mut one_byte: Vec<u64> = r
        .chunks_per_edit
        .iter()
        .filter(|(k, _)| *k == EditKind::OneByte)
        .map(|(_, n)| *n as u64)
        .collect();
    let mut publish = r.publish_times.clone();
    let mut rebuild = r.rebuild_times.clone();
    let mut sync_steps = r.sync_steps.clone();
    let chunked: u64 = published.iter().map(|p| p.file_len).sum();
    let chunk_time: Duration = r.publish_times.iter().sum();
    let (min, avg, max) = cfg.chunk_sizes;
    let mut t = Table::new(
        "dropbox",
        &format!(
            "{} files of data/ text (fortunes, unigrams, bigrams, a copy) shared by {} clients, \
             seeded edits; hld-chunker FastCDC {}/{}/{} KiB and manifest diffs",
            sources.len(),
            cfg.clients,
            min >> 10,
            avg >> 10,
            max >> 10,
        ),
    );
    let k = |kind| r.edits.get(&kind).copied().unwrap_or(0);
    t.row(
        "files / clients / sharers per file",
        format!("{} / {} / {:.1}", r.files, r.clients, r.sharers_per_file),
    )
    .row(
        "files as created: bytes / chunks / uploaded",
        format!(
            "{} / {} / {}",
            bytes(r.initial_bytes as f64),
            r.initial_chunks,
            bytes(r.initial_upload as f64)
        ),
    )
    .row(
        "a copy of a stored file: uploaded",
        format!(
            "{} of {}",
            bytes(r.copy_upload as f64),
            bytes(r.copy_bytes as f64)
        ),
    )
    .row(
        "edits: insert / delete / append / 1-byte",
        format!(
            "{} / {} / {} / {}",
            k(EditKind::Insert),
            k(EditKind::Delete),
            k(EditKind::Append),
            k(EditKind::OneByte)
        ),
    )
    .row(
        "changed chunks per edit: mean / p50 / p99 / max",
        format!(
            "{:.2} / {} / {} / {}",
            per_edit.iter().sum::<u64>() as f64 / per_edit.len().max(1) as f64,
            percentile(&mut per_edit, 50.0),
            percentile(&mut per_edit, 99.0),
            percentile(&mut per_edit, 100.0)
        ),
    )
    .row(
        "changed chunks per 1-byte edit: mean / max",
        format!(
            "{:.2} / {}",
            one_byte.iter().sum::<u64>() as f64 / one_byte.len().max(1) as f64,
            percentile(&mut one_byte, 100.0)
        ),
    )
    .row(
        "changed chunks / uploaded (store lacked them)",
        format!(
            "{} ({}) / {} ({})",
            r.diff_chunks,
            bytes(r.diff_bytes as f64),
            r.uploaded_chunks,
            bytes(r.uploaded_bytes as f64)
        ),
    )
    .row(
        "uploaded: chunks + manifests vs full re-upload",
        format!(
            "{} + {} vs {} ({:.2}%)",
            bytes(r.uploaded_bytes as f64),
            bytes(r.manifest_bytes as f64),
            bytes(r.full_reupload_bytes as f64),
            pct_of(r.uploaded_bytes + r.manifest_bytes, r.full_reupload_bytes)
        ),
    )
    .row(
        "downloaded by sharers vs full download",
        format!(
            "{} chunks, {} vs {} ({:.2}%)",
            r.downloaded_chunks,
            bytes(r.downloaded_bytes as f64),
            bytes(r.full_download_bytes as f64),
            pct_of(r.downloaded_bytes, r.full_download_bytes)
        ),
    )
    .row(
        "stored (unique chunks) vs every version: dedup",
        format!(
            "{} vs {} ({:.1}x)",
            bytes(r.stored_bytes as f64),
            bytes(r.logical_bytes as f64),
            r.logical_bytes as f64 / r.stored_bytes.max(1) as f64
        ),
    )
    .row(
        "\"already stored?\" answered by the Bloom filter",
        format!("{} of {}", r.answered_by_filter, r.store_checks),
    )
    .row(
        "sync latency in steps: p50 / p99 / max",
        format!(
            "{} / {} / {}",
            percentile(&mut sync_steps, 50.0),
            percentile(&mut sync_steps, 99.0),
            percentile(&mut sync_steps, 100.0)
        ),
    )
    .row(
        "versions synced / never synced",
        format!("{} / {}", r.sync_steps.len(), r.unsynced_versions),
    )
    .row(
        "queue: partitions (used) / max backlog / out of order",
        format!(
            "{} ({}) / {} / {}",
            cfg.partitions,
            r.partition_of.values().collect::<BTreeSet<_>>().len(),
            r.max_backlog,
            out_of_order(&r.consumed)
        ),
    )
    .row(
        "commits refused / client errors",
        format!("{} / {}", r.rejected.len(), r.errors.len()),
    )
    .row(
        "notifications delivered / dropped (offline)",
        format!(
            "{} / {}",
            r.notifications_delivered, r.notifications_dropped
        ),
    );
    if let Some(c) = &r.catch_up {
        t.row(
            &format!("client {} offline: versions missed / files", c.client),
            format!("{} / {}", c.missed_versions, c.files_behind),
        )
        .row(
            "  back: steps / downloaded vs replay vs full",
            format!(
                "{} / {} vs {} vs {}",
                c.steps,
                bytes(c.downloaded as f64),
                bytes(c.replay_bytes as f64),
                bytes(c.full_bytes as f64)
            ),
        );
    }
    if cfg.settle_each_edit {
        t.row(
            "lock step: sharers compared to the editor / differing",
            format!("{} / {}", r.lockstep_checks, r.lockstep_mismatches),
        );
    }
    t.row(
        "client: chunk + diff + upload p50 / p99",
        format!(
            "{:.2?} / {:.2?}",
            percentile(&mut publish, 50.0),
            percentile(&mut publish, 99.0)
        ),
    )
    .row(
        "client: download + rebuild p50 / p99",
        format!(
            "{:.2?} / {:.2?}",
            percentile(&mut rebuild, 50.0),
            percentile(&mut rebuild, 99.0)
        ),
    )
    .row(
        "client chunking + fingerprinting",
        format!(
            "{}/s",
            bytes(chunked as f64 / chunk_time.as_secs_f64().max(1e-9))
        ),
    )
    .row(
        "rebuilds checked against the oracle / wrong",
        format!("{} / {}", r.checked_rebuilds, r.mismatches),
    )
    .row(
        "every sharer byte-identical at the end",
        if r.final_identical { "yes" } else { "NO" },
    )
    .row(
        "edits made and synced (wall)",
        per_second(per_edit.len(), r.took),
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smaller workload: the same files cut to 384 KiB each.
    fn small() -> Config {
        Config {
            edits: 150,
            file_limit: 384 << 10,
            ..Config::default()
        }
    }

    /// The oracle's chunk list: FastCDC boundaries and BLAKE3 of each chunk,
    /// without the crate's `Manifest`.
    fn chunk_list(cfg: &Config, bytes: &[u8]) -> Vec<(Fingerprint, usize)> {
        let (min, avg, max) = cfg.chunk_sizes;
        let cdc = FastCdc::new(min, avg, max).unwrap();
        cdc.chunks(bytes)
            .map(|c| {
                let s = &bytes[c.offset as usize..c.offset as usize + c.len];
                (Fingerprint::of(s), c.len)
            })
            .collect()
    }

    fn settle(sys: &mut Dropbox) {
        while !sys.is_quiet() {
            sys.step();
        }
    }

    fn assert_clean(r: &Report) {
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
        assert_eq!(r.mismatches, 0);
        assert_eq!(r.unsynced_versions, 0);
        assert!(r.final_identical);
    }

    #[test]
    fn every_sharer_holds_the_editors_bytes_after_every_edit() {
        let cfg = Config {
            edits: 80,
            settle_each_edit: true,
            offline: None,
            ..small()
        };
        let r = run(&cfg);
        assert_clean(&r);
        // Every file has at least two sharers, all online: each edit is
        // compared on every other sharer.
        assert!(r.lockstep_checks >= cfg.edits, "{}", r.lockstep_checks);
        assert_eq!(r.lockstep_mismatches, 0);
        // Nothing else in flight: every version takes the pipeline's minimum,
        // publish and commit in one step, notify and rebuild in the next.
        assert_eq!(r.sync_steps.len(), cfg.edits);
        assert!(r.sync_steps.iter().all(|&s| s == 2), "{:?}", r.sync_steps);
    }

    #[test]
    fn pipelined_sync_converges_to_the_oracle() {
        let cfg = small();
        let r = run(&cfg);
        assert_clean(&r);
        // Every rebuilt version was compared with the oracle's hash of it.
        assert!(r.checked_rebuilds > cfg.edits, "{}", r.checked_rebuilds);
        assert_eq!(r.sync_steps.len(), cfg.edits);
        // At least a step to publish and commit; two when another sharer is
        // online to be told (one while the only other sharer is away).
        assert!(r.sync_steps.iter().all(|&s| s >= 1));
        assert!(r.sync_steps.iter().filter(|&&s| s >= 2).count() * 2 > cfg.edits);
        assert_eq!(r.edits.values().sum::<usize>(), cfg.edits);
        assert!(
            r.edits.len() == 4,
            "every kind of edit is made: {:?}",
            r.edits
        );
    }

    #[test]
    fn only_changed_chunks_are_uploaded() {
        let cfg = small();
        let mut sys = Dropbox::new(&cfg, 10_000).unwrap();
        let f: FileId = 7;
        let mut truth = include_bytes!("../../data/fortunes.txt")[..512 << 10].to_vec();
        sys.create(f, 0, &[0, 1, 2], truth.clone());
        settle(&mut sys);
        let mut stored: HashMap<Fingerprint, usize> =
            chunk_list(&cfg, &truth).into_iter().collect();
        assert_eq!(sys.log.published[0].uploaded.len(), stored.len());

        let texts = fortunes();
        let mut rng = Rng(3);
        // 60 random edits, then an insert and its undo: the undo's changed
        // chunks are all stored already (they are the chunks of the version
        // before), so none travels.
        const RANDOM: usize = 60;
        let undo = b"Inserted, then deleted again.\n".to_vec();
        let mut one_byte = 0;
        for i in 0..RANDOM + 2 {
            let edit = match i {
                _ if i < RANDOM => Edit::random(&truth, &texts, &mut rng),
                _ if i == RANDOM => Edit::Insert {
                    at: 4096,
                    text: undo.clone(),
                },
                _ => Edit::Delete {
                    at: 4096,
                    len: undo.len(),
                },
            };
            let old: HashSet<Fingerprint> = chunk_list(&cfg, &truth).iter().map(|c| c.0).collect();
            edit.apply(&mut truth);
            let new = chunk_list(&cfg, &truth);
            let mut changed = Vec::new();
            for (fp, _) in &new {
                if !old.contains(fp) && !changed.contains(fp) {
                    changed.push(*fp);
                }
            }
            let uploaded: Vec<Fingerprint> = changed
                .iter()
                .copied()
                .filter(|fp| !stored.contains_key(fp))
                .collect();

            let editor = i % 3;
            sys.edit(editor, f, &edit);
            settle(&mut sys);
            let p = sys.log.published.last().unwrap();
            assert_eq!(p.changed, changed, "edit {i}: {edit:?}");
            assert_eq!(p.uploaded, uploaded, "edit {i}: {edit:?}");
            if edit.kind() == EditKind::OneByte {
                one_byte += 1;
                assert!(p.changed.len() <= 3, "edit {i}: {} chunks", p.changed.len());
            }
            if i == RANDOM + 1 {
                assert!(!p.changed.is_empty() && p.uploaded.is_empty());
            }
            stored.extend(new);
            for c in 0..3 {
                assert_eq!(sys.clients[c].file(f), Some(truth.as_slice()), "client {c}");
            }
        }
        assert!(one_byte > 5);
        assert_eq!(
            sys.store.stored_bytes(),
            stored.values().map(|&l| l as u64).sum::<u64>()
        );
    }

    #[test]
    fn edits_move_a_small_fraction_of_the_bytes() {
        let r = run(&small());
        assert_clean(&r);
        let one_byte: Vec<usize> = r
            .chunks_per_edit
            .iter()
            .filter(|(k, _)| *k == EditKind::OneByte)
            .map(|(_, n)| *n)
            .collect();
        assert!(!one_byte.is_empty());
        assert!(
            one_byte.iter().all(|&n| (1..=3).contains(&n)),
            "{one_byte:?}"
        );
        assert!(r.chunks_per_edit.iter().all(|(_, n)| *n >= 1 && *n <= 6));
        assert!(r.uploaded_bytes <= r.diff_bytes);
        // 384 KiB files, 8 KiB chunks: an edit moves a few percent at most.
        assert!(
            (r.uploaded_bytes + r.manifest_bytes) * 20 < r.full_reupload_bytes,
            "{} + {} vs {}",
            r.uploaded_bytes,
            r.manifest_bytes,
            r.full_reupload_bytes
        );
        assert!(r.downloaded_bytes * 20 < r.full_download_bytes);
        // Versions share almost all their chunks, and the copied file shares
        // all of them with its original.
        assert!(r.stored_bytes * 5 < r.logical_bytes);
        assert!(r.copy_bytes > 0 && r.copy_upload == 0);
        assert_eq!(r.initial_upload + r.copy_bytes, r.initial_bytes);
        // New chunks are answered by the filter alone; the copy's are not.
        assert!(r.answered_by_filter >= r.uploaded_chunks);
        assert!(r.answered_by_filter < r.store_checks);
    }

    #[test]
    fn an_offline_client_catches_up_in_one_download_per_file() {
        let r = run(&small());
        assert_clean(&r);
        let c = r
            .catch_up
            .expect("the default workload has an offline client");
        assert!(c.missed_versions > 0 && c.files_behind > 0, "{c:?}");
        assert!(r.notifications_dropped > 0);
        assert!(c.identical, "{c:?}");
        // Reconnecting asks for every head at once.
        assert_eq!(c.steps, 1);
        // The chunks it lacks all come from some missed update's diff; chunks
        // changed twice while it was away are downloaded once.
        assert!(c.downloaded <= c.replay_bytes, "{c:?}");
        assert!(c.downloaded * 2 < c.full_bytes, "{c:?}");
    }

    #[test]
    fn each_files_updates_stay_in_one_partition_in_order() {
        let cfg = small();
        let r = run(&cfg);
        assert!(
            r.max_backlog > 1,
            "the workload queues updates behind each other"
        );
        let mut next: BTreeMap<FileId, u64> = BTreeMap::new();
        let mut used = BTreeSet::new();
        for &(p, f, base) in &r.consumed {
            assert_eq!(p, jump_hash(f, cfg.partitions), "file {f}");
            let want = next.entry(f).or_insert(0);
            assert_eq!(base, *want, "file {f}: consumed out of order");
            *want += 1;
            used.insert(p);
        }
        assert!(used.len() > 1);
        assert_eq!(out_of_order(&r.consumed), 0);
        assert_eq!(out_of_order(&[(0, 1, 0), (0, 1, 2), (1, 2, 0)]), 1);
    }

    #[test]
    fn the_metadata_service_refuses_bad_updates() {
        let chunker = Chunker::new(2048, 8192, 65536).unwrap();
        let file = include_bytes!("../../data/unigrams-100k.tsv")[..200_000].to_vec();
        let manifest = chunker.manifest(&file);
        let mut store = ChunkStore::new(1000);
        let mut meta = MetadataService::default();
        let update = |base, wire: Vec<u8>| FileUpdated {
            file: 1,
            editor: 0,
            base_version: base,
            manifest: wire,
        };
        // No chunk stored yet.
        let first = manifest.get(0).unwrap().fingerprint;
        assert_eq!(
            meta.commit(&update(0, manifest.to_bytes()), &store),
            Err(CommitError::MissingChunk(first))
        );
        for e in &manifest {
            store.put(e.fingerprint, &file[e.offset as usize..e.end() as usize]);
        }
        assert_eq!(meta.commit(&update(0, manifest.to_bytes()), &store), Ok(1));
        // A second update from version 0: another writer got there first.
        assert_eq!(
            meta.commit(&update(0, manifest.to_bytes()), &store),
            Err(CommitError::Stale {
                file: 1,
                base: 0,
                head: 1
            })
        );
        // Corrupt bytes are the chunker's typed error.
        let mut wire = manifest.to_bytes();
        wire[30] ^= 1;
        assert_eq!(
            meta.commit(&update(1, wire), &store),
            Err(CommitError::Corrupt(chunker::Error::ChecksumMismatch))
        );
        assert_eq!(meta.commit(&update(1, manifest.to_bytes()), &store), Ok(2));
        assert_eq!(meta.head(1), 2);
        assert_eq!(meta.history(1).len(), 2);
        assert!(CommitError::Stale {
            file: 1,
            base: 0,
            head: 1
        }
        .to_string()
        .contains("head is 1"));
    }

    #[test]
    fn bad_chunk_sizes_are_typed_errors() {
        assert!(matches!(
            Chunker::new(8192, 2048, 65536),
            Err(chunker::Error::MinAboveAvg { .. })
        ));
        let cfg = Config {
            chunk_sizes: (2048, 8193, 65536),
            ..small()
        };
        assert!(matches!(
            Dropbox::new(&cfg, 10),
            Err(chunker::Error::OddSize { .. })
        ));
    }

    #[test]
    fn the_chunk_store_answers_existence_exactly() {
        let mut store = ChunkStore::new(2000);
        let chunks: Vec<Vec<u8>> = (0..1000u32)
            .map(|i| format!("chunk {i}").into_bytes())
            .collect();
        for c in &chunks[..500] {
            store.put(Fingerprint::of(c), c);
        }
        store.put(Fingerprint::of(&chunks[0]), &chunks[0]); // stored once
        let all: Vec<Fingerprint> = chunks.iter().map(|c| Fingerprint::of(c)).collect();
        assert_eq!(store.missing(&all), all[500..].to_vec());
        // Nearly all of the absent half is answered by the filter (1% target).
        assert!(
            store.answered_by_filter >= 480,
            "{}",
            store.answered_by_filter
        );
        assert_eq!(store.answered_by_filter + store.filter_false_positives, 500);
        let stored: u64 = chunks[..500].iter().map(|c| c.len() as u64).sum();
        assert_eq!(store.stored_bytes(), stored);
        assert_eq!(store.get(&all[1]), Some(chunks[1].as_slice()));
        assert_eq!(store.get(&all[700]), None);
    }

    #[test]
    fn runs_are_deterministic() {
        let cfg = Config {
            edits: 60,
            ..small()
        };
        let (a, b) = (run(&cfg), run(&cfg));
        assert_eq!(a.consumed, b.consumed);
        assert_eq!(a.sync_steps, b.sync_steps);
        assert_eq!(a.chunks_per_edit, b.chunks_per_edit);
        assert_eq!(
            (a.uploaded_bytes, a.downloaded_bytes, a.stored_bytes),
            (b.uploaded_bytes, b.downloaded_bytes, b.stored_bytes)
        );
    }
}
