//! YouTube uploads (design notes, section 8 and "How are objects uploaded from
//! clients"): `uploadVideo()` as a transaction, the blob sent in resumable
//! chunks straight to an object store, a VideoDedupService at upload time, and
//! a bounded queue to the Encoder and ThumbnailGenerator workers.
//!
//! The notes' design: "when the uploadVideo() api is hit, the meta data is hit
//! to the elb and meta data stored in db. But the actual blob which is video,
//! is directly uploaded to the blob storage, say original storage, from this
//! the transcoding servers pull and do thumbNail generation / Encoding". An
//! upload is "a txn. For each upload, a unique id has to be generated and once
//! the server receives the image, it has to return a jobId back to client. Now
//! server also need to cache the txnId and this job id for some time. So that
//! duplicate requests are not done." Chunked transfer "allows you to resume an
//! upload (after a pause or an internet disconnection)". Then "via queue -> its
//! picked by encoder that encodes it into multiple formats and thumbNailGenSvc
//! ... and a video deDup service at the upload time which will prevent any
//! existing video upload"; metadata is "sharded based on videoID as if done on
//! userId, it can become hot. But hot video can also happen, so use cache".
//! From the general notes: back pressure ("the consumer signals the producer to
//! slow down, preventing message overload and potential data loss"), "retry
//! mechanisms with exponential backoff and jitter", idempotent operations, and
//! "circuit breakers to prevent a single failing service from bringing down
//! the entire system".
//!
//! The services, one struct each, and the messages between them:
//! - [`Client`] (the uploader's app): sends [`UploadVideo`] (its transaction
//!   id and the metadata) and gets an [`UploadTicket`] (video id, upload
//!   session); reads its file in pieces through a [`StreamChunker`] (FastCDC
//!   from hld-chunker) and sends each chunk as a [`PutChunk`] to the
//!   [`ObjectStore`], which answers a [`ChunkAck`] with the bytes committed so
//!   far; then sends [`FinishUpload`] and gets an [`UploadOutcome`] (the job id,
//!   or "a duplicate of video v"). A lost request or response is a dropped
//!   connection: the client reconnects after a backoff with full jitter, asks
//!   the session how far it got, and resumes from the last acknowledged chunk
//!   ([`StreamChunker::resume`] finds the same boundaries from there). A lost
//!   answer to `UploadVideo` or `FinishUpload` is retried with the same
//!   transaction id; some clients also send `UploadVideo` again after they are
//!   done (a double click).
//! - [`UploadService`] (the `uploadVideo()` API behind the ELB): keeps `txn id
//!   -> in flight | done(job id)` in an [`IdempotencyCache`] (hld-lru-feed), so
//!   a retried request gets the first answer and does no work twice, and the
//!   same txn id with other metadata is refused (`FingerprintMismatch`). On
//!   finish it asks the VideoDedupService, commits the blob, writes the
//!   metadata and pushes a [`TranscodeJob`] to both queues.
//! - [`MetadataService`]: video rows in [`MetadataDb`] shards placed by video id
//!   on a [`HashRing`] (hld-consistent-hash), behind a write-through hot-video
//!   cache ([`CachedStore`], S3-FIFO, hld-lru-feed).
//! - [`ObjectStore`] ("original storage"): resumable upload sessions that only
//!   commit whole chunks at the expected offset (so a resent chunk is stored
//!   once), then blobs as [`Manifest`]s over a content-addressed chunk store.
//! - [`VideoDedupService`]: an index from chunk fingerprint (BLAKE3) to video,
//!   with a [`BloomFilter`] (hld-bloom) in front so that the chunks of a new
//!   video skip the index; an upload whose bytes lie mostly (`dedup_threshold`)
//!   in one existing video's chunks is rejected. Content-defined chunks
//!   re-synchronise after a cut or an inserted intro, so a trimmed copy or one
//!   with an intro is caught as surely as a byte-for-byte copy, and a video
//!   that only quotes a clip of another is not.
//! - [`JobQueue`] (two of them: one per consumer group): bounded; a push waits
//!   while the queue is full, so the producer slows down when the workers fall
//!   behind and nothing is dropped. It logs every push and pop in the order
//!   they happened, so a test replays the log to check the bound and that every
//!   job left the queue exactly once.
//! - [`Encoder`] and [`ThumbnailGenerator`] workers (threads: here concurrency
//!   is the point): pull a job, fetch the original, call a transcoder of the
//!   [`TranscoderFarm`] through a [`TranscoderClient`] that keeps a
//!   [`CircuitBreaker`] per transcoder and retries with [`Backoff`] (full
//!   jitter; hld-ratelimit). One transcoder keeps failing (each call hangs until
//!   a timeout): the breakers open and stop calling it. Outputs go to
//!   [`TranscodedStorage`], completions back to the MetadataService (video
//!   ready).
//!
//! Time: the uploads run on a simulated nanosecond clock (one event queue, a
//! seeded [`Rng`]), and each worker keeps its own simulated clock for its
//! transcoder calls, timeouts and backoff waits, so every core sees `now: u64`
//! and every decision is reproducible. Workers sleep one wall nanosecond per
//! `time_scale` simulated ones, so they really are slower than the uploads and
//! the queue really pushes back; which worker takes which job is up to the
//! threads, and the tests check only what holds whatever the interleaving.
//!
//! Scale: 1:1000. A video of 256 KiB to 1 MiB stands for 256 MB to 1 GB, an
//! 8 KiB chunk for 8 MB. Videos are random bytes (incompressible, like encoded
//! video); a rendition at 1/k of the bitrate is every k-th byte and a thumbnail
//! a sample of a frame: the transcoder stands for ffmpeg. Titles are lines of
//! `data/fortunes.txt`.
//!
//! Past one machine: original and transcoded storage are S3 (or GCS): an
//! upload session is a resumable upload (S3 multipart upload, or a GCS session
//! URI answering "308, Range: bytes=0-N" to a status query), with chunks keyed
//! by their BLAKE3 fingerprint and the [`Manifest`] (`Manifest::to_bytes`, 40
//! bytes per chunk) stored as the video's object; the client-side chunker is
//! the same [`StreamChunker`] code. The idempotency records live in Redis
//! (`SET txn <job> NX EX 86400`; the cache here takes `now` and holds plain
//! values, so its state is what such a store keeps). The metadata rows go to
//! MySQL (Vitess) or Cassandra sharded by video id, the ring being the routing
//! table of the ELB or a proxy (its placement is a stable hash, so every
//! router agrees); the hot-video cache is memcached or Redis in front, with
//! CDNs before that. The chunk-fingerprint index is a key-value table (HBase or
//! DynamoDB), and the Bloom filter (`BloomFilter::to_bytes`) is shipped to each
//! upload server so that new chunks never touch it. The queues are Kafka topics
//! with one consumer group each (Encoder, ThumbnailGenerator); back pressure is
//! the producer's bounded buffer (`max.block.ms`) and consumer lag. The circuit
//! breaker and backoff are sans-I/O (`allow(now)`, `record(ok, now)`,
//! `delay(attempt, random)`), so they sit in each worker's RPC client.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use hld::bloom::{self, BloomFilter};
use hld::chunker::{self, Chunk, FastCdc, Fingerprint, Manifest, StreamChunker};
use hld::consistent_hash::{self, stable_hash, HashRing};
use hld::lru_feed::{
    self, BackingStore, Begin, CachedStore, IdempotencyCache, Status as TxnStatus, WritePolicy,
};
use hld::ratelimit::{self, Backoff, BreakerConfig, BreakerState, CircuitBreaker};

use crate::common::{bytes, fortunes, lock, per_second, percentile, Rng, Table, Zipf};

/// A video (its metadata row and its blob).
pub type VideoId = u64;
/// A processing job: one accepted upload.
pub type JobId = u64;
/// A client's transaction id for one upload.
pub type TxnId = u64;
/// An uploader (a channel).
pub type UserId = u32;
/// A resumable upload session of the object store.
pub type SessionId = u64;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000 * MS;

/// The workload's knobs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Seed of every random choice.
    pub seed: u64,
    /// Uploads (each a client with its own video and transaction id).
    pub uploads: usize,
    /// Uploads in progress at once.
    pub concurrent_uploads: usize,
    /// Uploaders; how many videos each uploads follows a Zipf law.
    pub uploaders: u32,
    /// Zipf exponent of uploader activity (a few channels upload most).
    pub uploader_skew: f64,
    /// Length of an original video, uniform in this range (bytes).
    pub video_len: (usize, usize),
    /// FastCDC min / average / max chunk size (bytes).
    pub chunk_sizes: (usize, usize, usize),
    /// Bytes a client reads from its file at a time.
    pub read_size: usize,
    /// Share of uploads that re-upload an existing video byte for byte...
    pub exact_copies: f64,
    /// ...trimmed (80-100% of it kept)...
    pub trimmed_copies: f64,
    /// ...or with an intro of 3-10% of its length in front.
    pub intro_copies: f64,
    /// Share of uploads that quote a clip (15-35% of their bytes) of an
    /// existing video: not duplicates.
    pub remixes: f64,
    /// Share of uploads whose client (a bug) reuses an earlier upload's
    /// transaction id for another video.
    pub reused_txns: f64,
    /// Share of clients that send `uploadVideo` again once they have their
    /// answer (a double click).
    pub double_clicks: f64,
    /// Probability that a request is lost (the connection drops before it
    /// arrives)...
    pub request_loss: f64,
    /// ...and that a response is lost (after the server did the work).
    pub response_loss: f64,
    /// Round trip between a client and the services, ms.
    pub rtt_ms: u64,
    /// Upload speed of a client: simulated ns per byte.
    pub upload_ns_per_byte: u64,
    /// A client gives up waiting for an answer after this long, ms.
    pub client_timeout_ms: u64,
    /// Client reconnect backoff: base and cap, ms (full jitter).
    pub client_backoff_ms: (u64, u64),
    /// How long the UploadService keeps a finished txn's answer, s.
    pub txn_ttl_s: u64,
    /// How long an upload may stay in flight before its txn id is freed, s.
    pub txn_lease_s: u64,
    /// Metadata shards.
    pub metadata_shards: u32,
    /// Virtual nodes per shard on the ring.
    pub vnodes: usize,
    /// Rows in the hot-video metadata cache.
    pub hot_cache: usize,
    /// An upload whose bytes lie at least this much in one existing video's
    /// chunks is a duplicate of it.
    pub dedup_threshold: f64,
    /// Target false-positive rate of the dedup Bloom filter.
    pub bloom_fp_rate: f64,
    /// Capacity of each job queue.
    pub queue_capacity: usize,
    /// Encoder worker threads.
    pub encoders: usize,
    /// ThumbnailGenerator worker threads.
    pub thumbnailers: usize,
    /// Transcoders in the farm.
    pub transcoders: usize,
    /// The transcoder that keeps failing (every call times out), if any.
    pub failing_transcoder: Option<usize>,
    /// Probability that a call to a healthy transcoder fails (transiently).
    pub transient_failure: f64,
    /// Simulated transcoding cost of an encode, ns per byte of video.
    pub encode_ns_per_byte: u64,
    /// Simulated cost of making the thumbnails of a video, ms.
    pub thumbnail_ms: u64,
    /// A call to a hung transcoder fails after this long, ms.
    pub transcoder_timeout_ms: u64,
    /// Each worker's breaker per transcoder; `None`: no breakers.
    pub breaker: Option<BreakerConfig>,
    /// Workers' retry backoff: base and cap, ms (full jitter).
    pub retry_backoff_ms: (u64, u64),
    /// A job that failed this many times goes to the dead letters.
    pub max_attempts: u32,
    /// Workers sleep one wall ns per this many simulated ns (0: no sleep).
    pub time_scale: u64,
    /// Watch-page metadata reads after the uploads.
    pub reads: usize,
    /// Zipf exponent of video popularity.
    pub read_skew: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 0x7973_7562_6554,
            uploads: 320,
            concurrent_uploads: 16,
            uploaders: 60,
            uploader_skew: 1.1,
            video_len: (256 << 10, 1 << 20),
            chunk_sizes: (2 << 10, 8 << 10, 32 << 10),
            read_size: 16 << 10,
            exact_copies: 0.05,
            trimmed_copies: 0.04,
            intro_copies: 0.04,
            remixes: 0.05,
            reused_txns: 0.02,
            double_clicks: 0.1,
            request_loss: 0.004,
            response_loss: 0.004,
            rtt_ms: 60,
            upload_ns_per_byte: 2_000,
            client_timeout_ms: 2_000,
            client_backoff_ms: (100, 5_000),
            txn_ttl_s: 24 * 3600,
            txn_lease_s: 3600,
            metadata_shards: 8,
            vnodes: 160,
            hot_cache: 32,
            dedup_threshold: 0.7,
            bloom_fp_rate: 0.01,
            queue_capacity: 8,
            encoders: 2,
            thumbnailers: 1,
            transcoders: 4,
            failing_transcoder: Some(2),
            transient_failure: 0.05,
            encode_ns_per_byte: 8_000,
            thumbnail_ms: 1_500,
            transcoder_timeout_ms: 10_000,
            // Each worker's breaker per transcoder: open when three quarters
            // of at least 4 calls in 5 minutes failed, probe once a minute.
            breaker: Some(BreakerConfig {
                window_ns: 300 * SEC,
                failure_ratio: 0.75,
                min_calls: 4,
                failure_count: 0,
                cool_down_ns: 60 * SEC,
                probes: 1,
            }),
            retry_backoff_ms: (500, 30_000),
            max_attempts: 40,
            time_scale: 1_000,
            reads: 200_000,
            read_skew: 1.0,
        }
    }
}

/// A configuration the cores refuse, with their typed error.
#[derive(Debug)]
pub enum SetupError {
    /// Chunk sizes FastCDC does not accept.
    Chunker(chunker::Error),
    /// A zero cache size or time-to-live.
    Cache(lru_feed::Error),
    /// A bad breaker or backoff setting.
    Resilience(ratelimit::Error),
    /// A bad ring setting.
    Ring(consistent_hash::Error),
    /// A bad Bloom filter size or rate.
    Bloom(bloom::Error),
    /// Something else out of range (which knob, and why).
    Config(&'static str),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Chunker(e) => write!(f, "chunker: {e}"),
            SetupError::Cache(e) => write!(f, "cache: {e}"),
            SetupError::Resilience(e) => write!(f, "breaker or backoff: {e}"),
            SetupError::Ring(e) => write!(f, "ring: {e}"),
            SetupError::Bloom(e) => write!(f, "bloom filter: {e}"),
            SetupError::Config(why) => write!(f, "config: {why}"),
        }
    }
}

impl std::error::Error for SetupError {}

// ---------------------------------------------------------------------------
// The workload: who uploads what.

/// What an upload is, for the workload and the oracle (the system never sees
/// this: it sees only bytes and metadata).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A new video.
    Original,
    /// Upload `of` again, byte for byte.
    ExactCopy {
        /// The upload copied (an accepted original).
        of: usize,
    },
    /// Bytes `start..end` of upload `of`.
    Trimmed {
        /// The upload copied.
        of: usize,
        /// First byte kept.
        start: usize,
        /// One past the last byte kept.
        end: usize,
    },
    /// `own_len` new bytes, then all of upload `of`.
    Intro {
        /// The upload copied.
        of: usize,
    },
    /// New bytes with a clip of upload `of` in the middle.
    Remix {
        /// The upload quoted.
        of: usize,
        /// Where the clip starts in `of`.
        clip_start: usize,
        /// Its length.
        clip_len: usize,
    },
    /// A new video sent with the transaction id of upload `of` (a client bug).
    ReusedTxn {
        /// The upload whose txn id is reused.
        of: usize,
    },
}

/// One upload of the workload.
#[derive(Clone, Debug)]
pub struct UploadSpec {
    /// Its place in the workload.
    pub index: usize,
    /// The client's transaction id.
    pub txn: TxnId,
    /// Who uploads it.
    pub user: UserId,
    /// Its title.
    pub title: String,
    /// What it is.
    pub kind: Kind,
    /// Seed of its own new bytes.
    pub seed: u64,
    /// How many new bytes it has of its own.
    pub own_len: usize,
    /// Whether the client sends `uploadVideo` again once done.
    pub double_click: bool,
}

impl UploadSpec {
    /// The file's bytes, rebuilt from the workload (the oracle's copy).
    pub fn bytes(&self, specs: &[UploadSpec]) -> Vec<u8> {
        match self.kind {
            Kind::Original | Kind::ReusedTxn { .. } => video_bytes(self.seed, self.own_len),
            Kind::ExactCopy { of } => specs[of].bytes(specs),
            Kind::Trimmed { of, start, end } => specs[of].bytes(specs)[start..end].to_vec(),
            Kind::Intro { of } => {
                let mut v = video_bytes(self.seed, self.own_len);
                v.extend_from_slice(&specs[of].bytes(specs));
                v
            }
            Kind::Remix {
                of,
                clip_start,
                clip_len,
            } => {
                let own = video_bytes(self.seed, self.own_len);
                let src = specs[of].bytes(specs);
                let at = own.len() / 2;
                let mut v = Vec::with_capacity(own.len() + clip_len);
                v.extend_from_slice(&own[..at]);
                v.extend_from_slice(&src[clip_start..clip_start + clip_len]);
                v.extend_from_slice(&own[at..]);
                v
            }
        }
    }

    /// The upload this one re-uploads, if it is a re-upload.
    pub fn duplicate_of(&self) -> Option<usize> {
        match self.kind {
            Kind::ExactCopy { of } | Kind::Trimmed { of, .. } | Kind::Intro { of } => Some(of),
            _ => None,
        }
    }
}

/// Incompressible bytes from a seed (encoded video looks like this).
fn video_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        v.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Makes the uploads one at a time: a re-upload copies an original whose
/// uploader already has its job id, so "existing" is well defined.
struct Workload {
    rng: Rng,
    titles: Vec<String>,
    uploaders: Zipf,
    cfg: Config,
}

impl Workload {
    fn new(cfg: &Config) -> Workload {
        let titles = fortunes()
            .into_iter()
            .map(|t| {
                let line = t.lines().next().unwrap_or("").trim();
                line.chars().take(60).collect::<String>()
            })
            .filter(|t| !t.is_empty())
            .collect();
        Workload {
            rng: Rng(cfg.seed ^ 0x5eed),
            titles,
            uploaders: Zipf::new(cfg.uploaders as usize, cfg.uploader_skew),
            cfg: cfg.clone(),
        }
    }

    /// Upload number `index`; `originals` are the accepted originals so far,
    /// `finished` the uploads that have their answer.
    fn next(
        &mut self,
        index: usize,
        specs: &[UploadSpec],
        originals: &[usize],
        finished: &[usize],
    ) -> UploadSpec {
        let c = &self.cfg;
        let r = &mut self.rng;
        let (lo, hi) = c.video_len;
        let mut spec = UploadSpec {
            index,
            txn: ((index as u64) << 32) | (r.next_u64() & 0xffff_ffff),
            user: self.uploaders.sample(r) as UserId,
            title: self.titles[r.below(self.titles.len())].clone(),
            kind: Kind::Original,
            seed: r.next_u64(),
            own_len: r.between(lo, hi),
            double_click: r.chance(c.double_clicks),
        };
        let u = r.float();
        let cuts = [
            c.exact_copies,
            c.trimmed_copies,
            c.intro_copies,
            c.remixes,
            c.reused_txns,
        ];
        let mut acc = 0.0;
        let mut pick = cuts.len();
        for (i, share) in cuts.iter().enumerate() {
            acc += share;
            if u < acc {
                pick = i;
                break;
            }
        }
        if pick < 4 && !originals.is_empty() {
            let of = originals[r.below(originals.len())];
            let src_len = specs[of].own_len;
            spec.kind = match pick {
                0 => Kind::ExactCopy { of },
                1 => {
                    let start = r.between(0, src_len / 10);
                    let end = src_len - r.between(0, src_len / 10);
                    Kind::Trimmed { of, start, end }
                }
                2 => {
                    spec.own_len = r.between(src_len * 3 / 100, src_len / 10);
                    Kind::Intro { of }
                }
                _ => {
                    let clip_len = r.between(src_len * 15 / 100, src_len * 35 / 100);
                    spec.own_len = spec.own_len.max(clip_len * 2);
                    Kind::Remix {
                        of,
                        clip_start: r.below(src_len - clip_len + 1),
                        clip_len,
                    }
                }
            };
        } else if pick == 4 && !finished.is_empty() {
            let of = finished[r.below(finished.len())];
            spec.txn = specs[of].txn;
            spec.kind = Kind::ReusedTxn { of };
        }
        spec
    }
}

// ---------------------------------------------------------------------------
// Messages.

/// The metadata a client sends with `uploadVideo`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NewVideo {
    /// The uploader.
    pub uploader: UserId,
    /// The title.
    pub title: String,
    /// The file's length in bytes.
    pub len: u64,
}

/// `uploadVideo(txn, metadata)`: the client's first call, and every retry.
#[derive(Clone, Debug)]
pub struct UploadVideo {
    /// The client's transaction id for this upload.
    pub txn: TxnId,
    /// The video's metadata.
    pub meta: NewVideo,
}

/// Where to send the bytes: the video's id and its upload session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadTicket {
    /// The video's id (its metadata row and blob).
    pub video: VideoId,
    /// The object store's resumable upload session.
    pub session: SessionId,
}

/// The UploadService's answer to `uploadVideo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadReply {
    /// Send the bytes here (a new upload, or the retry of one in flight).
    Ticket(UploadTicket),
    /// This transaction is already finished: its answer.
    Finished(UploadOutcome),
}

/// How an upload ended: what `finishUpload` (and any retry) answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UploadOutcome {
    /// Stored and queued for processing as `job`.
    Accepted {
        /// The video.
        video: VideoId,
        /// Its processing job.
        job: JobId,
    },
    /// Rejected by the VideoDedupService: the content exists as `of`.
    Duplicate {
        /// The rejected video id.
        video: VideoId,
        /// The existing video.
        of: VideoId,
    },
}

/// One chunk, straight to the object store.
#[derive(Clone, Copy, Debug)]
pub struct PutChunk<'a> {
    /// The upload session.
    pub session: SessionId,
    /// The chunk's offset in the file.
    pub offset: u64,
    /// BLAKE3 of the bytes, computed by the client (checked by the store).
    pub fingerprint: Fingerprint,
    /// The bytes.
    pub bytes: &'a [u8],
}

/// The object store's answer to a chunk or a status query: bytes committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkAck {
    /// Bytes of the file committed so far (always a chunk boundary).
    pub committed: u64,
}

/// `finishUpload(txn, session)`: every byte is acknowledged; make it a video.
#[derive(Clone, Copy, Debug)]
pub struct FinishUpload {
    /// The transaction.
    pub txn: TxnId,
    /// Its upload session.
    pub session: SessionId,
}

/// A transcoding job, pushed to both queues.
#[derive(Clone, Debug)]
pub struct TranscodeJob {
    /// The job.
    pub job: JobId,
    /// The video to process.
    pub video: VideoId,
    /// Its length.
    pub len: u64,
    /// When it was pushed (wall clock, for the report's latencies).
    pub enqueued: Instant,
}

/// What a worker sends back when a job's task is done.
#[derive(Clone, Debug)]
pub struct Processed {
    /// The job.
    pub job: JobId,
    /// Its video.
    pub video: VideoId,
    /// Which task.
    pub task: Task,
    /// Transcoder calls it took.
    pub attempts: u32,
    /// Wall time from push to done.
    pub latency: Duration,
}

/// Errors of the object store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// No such upload session (never created, or discarded).
    NoSession,
    /// The chunk's bytes do not match its fingerprint.
    Corrupt {
        /// Where the chunk was to go.
        offset: u64,
    },
    /// The chunk would run past the length the upload declared.
    TooLong {
        /// The declared length.
        expected: u64,
    },
    /// Not every byte is committed yet.
    Incomplete {
        /// Bytes committed.
        committed: u64,
        /// Bytes declared.
        expected: u64,
    },
    /// No such video blob.
    NoBlob,
    /// A stored blob does not rebuild (a chunk missing or wrong).
    Damaged(String),
}

/// Errors of the UploadService.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// The txn id was already used for another request
    /// (`FingerprintMismatch` from the idempotency cache).
    TxnReused {
        /// The transaction id.
        txn: TxnId,
    },
    /// No upload with this txn id is in flight or remembered.
    UnknownTxn,
    /// The session is not this transaction's.
    WrongSession,
    /// The object store refused (for example, not every byte is there yet).
    Store(StoreError),
    /// The job queue is shut down.
    QueueClosed,
    /// Any other idempotency-cache error.
    Txn(lru_feed::Error),
}

// ---------------------------------------------------------------------------
// MetadataService: shards by video id, a hot-video cache in front.

/// Where a video stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoStatus {
    /// Bytes are arriving.
    Uploading,
    /// Stored; the job is in the queue or with the workers.
    Processing {
        /// Its job.
        job: JobId,
    },
    /// Encoded and thumbnailed: watchable.
    Ready {
        /// Its job.
        job: JobId,
    },
    /// Refused as a re-upload.
    Rejected {
        /// The existing video.
        duplicate_of: VideoId,
    },
}

/// A video's metadata row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoMeta {
    /// Its id (the shard key).
    pub video: VideoId,
    /// The uploader.
    pub uploader: UserId,
    /// The title.
    pub title: String,
    /// Length of the original in bytes.
    pub len: u64,
    /// Where it stands.
    pub status: VideoStatus,
}

/// One metadata shard (a database node).
#[derive(Debug, Default)]
pub struct MetadataShard {
    rows: HashMap<VideoId, VideoMeta>,
    /// Reads that reached this shard.
    pub reads: u64,
    /// Writes that reached it.
    pub writes: u64,
}

/// The metadata database: shards placed by video id on a hash ring.
#[derive(Debug)]
pub struct MetadataDb {
    ring: HashRing<u32>,
    shards: Vec<MetadataShard>,
}

impl MetadataDb {
    /// `shards` shards with `vnodes` points each on the ring.
    pub fn new(shards: u32, vnodes: usize) -> Result<MetadataDb, SetupError> {
        if shards == 0 {
            return Err(SetupError::Config("metadata_shards must be at least 1"));
        }
        let mut ring = HashRing::new(vnodes).map_err(SetupError::Ring)?;
        for s in 0..shards {
            ring.add(s);
        }
        Ok(MetadataDb {
            ring,
            shards: (0..shards).map(|_| MetadataShard::default()).collect(),
        })
    }

    /// The shard that holds `video`.
    pub fn shard_of(&self, video: VideoId) -> u32 {
        *self
            .ring
            .node_for(&video)
            .expect("the ring has every shard")
    }

    /// The shard `key` would go to (any key: used to compare shard keys).
    pub fn shard_for<K: std::hash::Hash>(&self, key: &K) -> u32 {
        *self.ring.node_for(key).expect("the ring has every shard")
    }

    /// The shards.
    pub fn shards(&self) -> &[MetadataShard] {
        &self.shards
    }

    /// A row as stored, without counting a read (for the service's own
    /// read-modify-write and for checks).
    pub fn row(&self, video: VideoId) -> Option<&VideoMeta> {
        self.shards[self.shard_of(video) as usize].rows.get(&video)
    }
}

impl BackingStore<VideoId, VideoMeta> for MetadataDb {
    type Error = Infallible;

    fn read(&mut self, key: &VideoId) -> Result<Option<VideoMeta>, Infallible> {
        let i = self.shard_of(*key) as usize;
        let s = &mut self.shards[i];
        s.reads += 1;
        Ok(s.rows.get(key).cloned())
    }

    fn write(&mut self, key: &VideoId, value: &VideoMeta) -> Result<(), Infallible> {
        let i = self.shard_of(*key) as usize;
        let s = &mut self.shards[i];
        s.writes += 1;
        s.rows.insert(*key, value.clone());
        Ok(())
    }

    fn delete(&mut self, key: &VideoId) -> Result<(), Infallible> {
        let i = self.shard_of(*key) as usize;
        let s = &mut self.shards[i];
        s.writes += 1;
        s.rows.remove(key);
        Ok(())
    }
}

/// Video metadata: a write-through hot-video cache over the sharded database.
pub struct MetadataService {
    rows: CachedStore<VideoId, VideoMeta, MetadataDb>,
}

impl MetadataService {
    /// A service over `db` with a cache of `hot_cache` rows.
    pub fn new(db: MetadataDb, hot_cache: usize) -> Result<MetadataService, SetupError> {
        Ok(MetadataService {
            rows: CachedStore::new(db, hot_cache, WritePolicy::WriteThrough)
                .map_err(SetupError::Cache)?,
        })
    }

    /// Writes a row (to its shard, then the cache).
    pub fn put(&mut self, meta: VideoMeta) {
        let Ok(()) = self.rows.put(meta.video, meta);
    }

    /// Sets a video's status.
    pub fn set_status(&mut self, video: VideoId, status: VideoStatus) {
        let mut row = self
            .rows
            .store()
            .row(video)
            .cloned()
            .expect("a status is set only on a video that has a row");
        row.status = status;
        self.put(row);
    }

    /// A watch page's read: the cache, else the video's shard.
    pub fn get(&mut self, video: VideoId) -> Option<VideoMeta> {
        let Ok(row) = self.rows.get(&video);
        row
    }

    /// The database behind the cache.
    pub fn db(&self) -> &MetadataDb {
        self.rows.store()
    }

    /// Cache hits and misses so far.
    pub fn cache_stats(&self) -> lru_feed::StoreStats {
        self.rows.stats()
    }
}

// ---------------------------------------------------------------------------
// ObjectStore: resumable upload sessions, blobs over content-addressed chunks.

#[derive(Debug)]
struct UploadSession {
    video: VideoId,
    expected_len: u64,
    manifest: Manifest,
    staged: Vec<Arc<[u8]>>,
}

/// What the object store did.
#[derive(Clone, Copy, Debug, Default)]
pub struct ObjectStoreStats {
    /// Chunk PUTs received.
    pub chunk_puts: u64,
    /// Bytes in them.
    pub bytes_received: u64,
    /// PUTs of a chunk already committed (acknowledged again, not stored).
    pub repeated_puts: u64,
    /// PUTs at an offset past the committed end (refused with the offset).
    pub out_of_order_puts: u64,
    /// Status queries (a client resuming).
    pub status_queries: u64,
    /// Blobs committed.
    pub blobs: u64,
    /// Bytes of committed blobs.
    pub blob_bytes: u64,
    /// Of those, bytes in chunks the store did not have yet.
    pub new_chunk_bytes: u64,
    /// Sessions discarded (duplicates).
    pub discarded: u64,
}

#[derive(Debug, Default)]
struct StoreInner {
    chunks: HashMap<Fingerprint, Arc<[u8]>>,
    blobs: HashMap<VideoId, Arc<Manifest>>,
    sessions: HashMap<SessionId, UploadSession>,
    next_session: SessionId,
    stats: ObjectStoreStats,
}

/// Original storage: the blob store the clients upload to and the workers
/// read from. Shared between threads (an `RwLock`: many readers).
#[derive(Debug)]
pub struct ObjectStore {
    max_chunk: usize,
    inner: RwLock<StoreInner>,
}

impl ObjectStore {
    /// A store taking chunks of at most `max_chunk` bytes.
    pub fn new(max_chunk: usize) -> ObjectStore {
        ObjectStore {
            max_chunk,
            inner: RwLock::new(StoreInner::default()),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, StoreInner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read_lock(&self) -> std::sync::RwLockReadGuard<'_, StoreInner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a resumable upload of `expected_len` bytes for `video`.
    pub fn create_session(&self, video: VideoId, expected_len: u64) -> SessionId {
        let mut s = self.write();
        s.next_session += 1;
        let id = s.next_session;
        s.sessions.insert(
            id,
            UploadSession {
                video,
                expected_len,
                manifest: Manifest::default(),
                staged: Vec::new(),
            },
        );
        id
    }

    /// Takes a chunk if it starts at the committed end; always answers with
    /// the committed length, so a resent or early chunk changes nothing and
    /// tells the client where to go on.
    pub fn put_chunk(&self, req: PutChunk<'_>) -> Result<ChunkAck, StoreError> {
        let mut s = self.write();
        s.stats.chunk_puts += 1;
        s.stats.bytes_received += req.bytes.len() as u64;
        let max_chunk = self.max_chunk;
        let inner = &mut *s;
        let session = inner
            .sessions
            .get_mut(&req.session)
            .ok_or(StoreError::NoSession)?;
        let committed = session.manifest.total_len();
        if req.offset != committed {
            if req.offset < committed {
                inner.stats.repeated_puts += 1;
            } else {
                inner.stats.out_of_order_puts += 1;
            }
            return Ok(ChunkAck { committed });
        }
        if req.bytes.is_empty() || req.bytes.len() > max_chunk {
            return Err(StoreError::Corrupt { offset: req.offset });
        }
        if committed + req.bytes.len() as u64 > session.expected_len {
            return Err(StoreError::TooLong {
                expected: session.expected_len,
            });
        }
        if Fingerprint::of(req.bytes) != req.fingerprint {
            return Err(StoreError::Corrupt { offset: req.offset });
        }
        session
            .manifest
            .push_entry(req.bytes.len() as u64, req.fingerprint);
        session.staged.push(req.bytes.into());
        Ok(ChunkAck {
            committed: session.manifest.total_len(),
        })
    }

    /// How far an upload got (a client asks after reconnecting).
    pub fn status(&self, session: SessionId) -> Result<ChunkAck, StoreError> {
        let mut s = self.write();
        s.stats.status_queries += 1;
        let committed = s
            .sessions
            .get(&session)
            .ok_or(StoreError::NoSession)?
            .manifest
            .total_len();
        Ok(ChunkAck { committed })
    }

    /// The manifest of a complete upload (every declared byte committed).
    pub fn sealed_manifest(&self, session: SessionId) -> Result<Manifest, StoreError> {
        let s = self.read_lock();
        let up = s.sessions.get(&session).ok_or(StoreError::NoSession)?;
        let committed = up.manifest.total_len();
        if committed != up.expected_len {
            return Err(StoreError::Incomplete {
                committed,
                expected: up.expected_len,
            });
        }
        Ok(up.manifest.clone())
    }

    /// Makes a complete upload its video's blob: its chunks join the
    /// content-addressed store (each distinct chunk kept once).
    pub fn commit(&self, session: SessionId) -> Result<Arc<Manifest>, StoreError> {
        let mut s = self.write();
        let up = s.sessions.remove(&session).ok_or(StoreError::NoSession)?;
        if up.manifest.total_len() != up.expected_len {
            let (committed, expected) = (up.manifest.total_len(), up.expected_len);
            s.sessions.insert(session, up);
            return Err(StoreError::Incomplete {
                committed,
                expected,
            });
        }
        let mut new_bytes = 0;
        for (e, bytes) in up.manifest.iter().zip(up.staged) {
            s.chunks.entry(e.fingerprint).or_insert_with(|| {
                new_bytes += e.len;
                bytes
            });
        }
        let manifest = Arc::new(up.manifest);
        s.stats.blobs += 1;
        s.stats.blob_bytes += manifest.total_len();
        s.stats.new_chunk_bytes += new_bytes;
        s.blobs.insert(up.video, Arc::clone(&manifest));
        Ok(manifest)
    }

    /// Drops an upload (a rejected duplicate): its staged chunks go.
    pub fn discard(&self, session: SessionId) {
        let mut s = self.write();
        if s.sessions.remove(&session).is_some() {
            s.stats.discarded += 1;
        }
    }

    /// A video's bytes, rebuilt from its manifest (every chunk checked).
    pub fn read(&self, video: VideoId) -> Result<Vec<u8>, StoreError> {
        // Only the look-ups under the lock; the copying after it.
        let (manifest, chunks) = {
            let s = self.read_lock();
            let manifest = Arc::clone(s.blobs.get(&video).ok_or(StoreError::NoBlob)?);
            let chunks: HashMap<Fingerprint, Arc<[u8]>> = manifest
                .iter()
                .filter_map(|e| Some((e.fingerprint, Arc::clone(s.chunks.get(&e.fingerprint)?))))
                .collect();
            (manifest, chunks)
        };
        manifest
            .reassemble(|fp| chunks.get(fp).map(|b| &b[..]))
            .map_err(|e| StoreError::Damaged(e.to_string()))
    }

    /// A video's manifest.
    #[cfg(test)]
    pub fn manifest(&self, video: VideoId) -> Option<Arc<Manifest>> {
        self.read_lock().blobs.get(&video).cloned()
    }

    /// Bytes held in distinct chunks.
    pub fn chunk_bytes(&self) -> u64 {
        self.read_lock()
            .chunks
            .values()
            .map(|c| c.len() as u64)
            .sum()
    }

    /// What it did.
    pub fn stats(&self) -> ObjectStoreStats {
        self.read_lock().stats
    }
}

// ---------------------------------------------------------------------------
// VideoDedupService: chunk fingerprints, a Bloom filter in front of the index.

/// The VideoDedupService's answer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// Not a re-upload; `share` of its bytes lie in the best-matching video.
    Unique {
        /// The largest share found.
        share: f64,
    },
    /// At least `dedup_threshold` of its bytes lie in `of`'s chunks.
    Duplicate {
        /// The existing video.
        of: VideoId,
        /// The share of the upload's bytes found in it.
        share: f64,
    },
}

/// What the VideoDedupService did.
#[derive(Clone, Copy, Debug, Default)]
pub struct DedupStats {
    /// Uploads checked.
    pub checks: u64,
    /// Chunks checked.
    pub chunks: u64,
    /// Chunks the Bloom filter answered "never seen" (no index lookup).
    pub bloom_skipped: u64,
    /// Index lookups that found nothing (Bloom false positives).
    pub bloom_false_positives: u64,
    /// Uploads rejected.
    pub rejected: u64,
}

/// Rejects a re-upload of existing content by its chunk fingerprints.
pub struct VideoDedupService {
    filter: BloomFilter,
    index: HashMap<Fingerprint, VideoId>,
    threshold: f64,
    stats: DedupStats,
}

/// A fingerprint's first 8 bytes: BLAKE3 output is uniform, so they are a
/// well-mixed 64-bit hash for the filter as they are.
fn fp_hash(fp: &Fingerprint) -> u64 {
    let b = fp.as_bytes();
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

impl VideoDedupService {
    /// Sized for `expected_chunks` distinct chunks at `fp_rate`.
    pub fn new(
        expected_chunks: usize,
        fp_rate: f64,
        threshold: f64,
    ) -> Result<VideoDedupService, SetupError> {
        if !(threshold > 0.0 && threshold <= 1.0) {
            return Err(SetupError::Config("dedup_threshold must be in (0, 1]"));
        }
        Ok(VideoDedupService {
            filter: BloomFilter::new(expected_chunks, fp_rate).map_err(SetupError::Bloom)?,
            index: HashMap::new(),
            threshold,
            stats: DedupStats::default(),
        })
    }

    /// Is the upload described by `manifest` a re-upload? Its bytes are
    /// counted against each existing video that holds the same chunks.
    pub fn check(&mut self, manifest: &Manifest) -> Verdict {
        self.stats.checks += 1;
        let mut seen = HashSet::with_capacity(manifest.len());
        let mut shared: HashMap<VideoId, u64> = HashMap::new();
        for e in manifest {
            if !seen.insert(e.fingerprint) {
                continue;
            }
            self.stats.chunks += 1;
            if !self.filter.contains_hash(fp_hash(&e.fingerprint)) {
                self.stats.bloom_skipped += 1;
                continue;
            }
            match self.index.get(&e.fingerprint) {
                Some(&v) => *shared.entry(v).or_default() += e.len,
                None => self.stats.bloom_false_positives += 1,
            }
        }
        let total = manifest.total_len().max(1) as f64;
        let best = shared
            .into_iter()
            .map(|(v, b)| (b, Reverse(v)))
            .max()
            .map(|(b, Reverse(v))| (v, b as f64 / total));
        match best {
            Some((of, share)) if share >= self.threshold => {
                self.stats.rejected += 1;
                Verdict::Duplicate { of, share }
            }
            Some((_, share)) => Verdict::Unique { share },
            None => Verdict::Unique { share: 0.0 },
        }
    }

    /// Adds an accepted video's chunks.
    pub fn register(&mut self, video: VideoId, manifest: &Manifest) {
        for e in manifest {
            self.filter.insert_hash(fp_hash(&e.fingerprint));
            self.index.entry(e.fingerprint).or_insert(video);
        }
    }

    /// What it did.
    pub fn stats(&self) -> DedupStats {
        self.stats
    }
}

// ---------------------------------------------------------------------------
// JobQueue: bounded, blocking, logged.

/// One operation on a [`JobQueue`], in the order the queue performed them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueOp {
    /// A job went in.
    Push(JobId),
    /// A job came out.
    Pop(JobId),
}

/// What a queue saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct QueueStats {
    /// Jobs pushed.
    pub pushed: u64,
    /// The most jobs it ever held.
    pub high_water: usize,
    /// Pushes that had to wait for room (back pressure).
    pub waits: u64,
    /// Wall time producers spent waiting.
    pub waited: Duration,
}

#[derive(Debug, Default)]
struct QueueState {
    items: VecDeque<TranscodeJob>,
    closed: bool,
    log: Vec<QueueOp>,
    pushers_waiting: usize,
    stats: QueueStats,
}

/// A bounded FIFO between the UploadService and one pool of workers.
///
/// `push` waits while the queue is full: the producer slows to the workers'
/// pace and nothing is dropped. (A `Mutex` and two `Condvar`s rather than a
/// channel so that every push and pop is logged in the order it happened,
/// under the same lock: the tests replay that log.)
#[derive(Debug)]
pub struct JobQueue {
    capacity: usize,
    state: Mutex<QueueState>,
    not_full: Condvar,
    not_empty: Condvar,
}

impl JobQueue {
    /// A queue of at most `capacity` jobs (at least 1).
    pub fn new(capacity: usize) -> Result<JobQueue, SetupError> {
        if capacity == 0 {
            return Err(SetupError::Config("queue_capacity must be at least 1"));
        }
        Ok(JobQueue {
            capacity,
            state: Mutex::new(QueueState::default()),
            not_full: Condvar::new(),
            not_empty: Condvar::new(),
        })
    }

    /// Adds a job, waiting while the queue is full; `Err` (with the job) if
    /// the queue was closed.
    pub fn push(&self, job: TranscodeJob) -> Result<(), TranscodeJob> {
        let mut s = lock(&self.state);
        if s.items.len() >= self.capacity && !s.closed {
            let start = Instant::now();
            s.stats.waits += 1;
            s.pushers_waiting += 1;
            while s.items.len() >= self.capacity && !s.closed {
                s = self.not_full.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            s.pushers_waiting -= 1;
            s.stats.waited += start.elapsed();
        }
        if s.closed {
            return Err(job);
        }
        s.log.push(QueueOp::Push(job.job));
        s.items.push_back(job);
        s.stats.pushed += 1;
        s.stats.high_water = s.stats.high_water.max(s.items.len());
        drop(s);
        self.not_empty.notify_one();
        Ok(())
    }

    /// Takes the oldest job, waiting while the queue is empty; `None` once it
    /// is closed and drained.
    pub fn pop(&self) -> Option<TranscodeJob> {
        let mut s = lock(&self.state);
        while s.items.is_empty() && !s.closed {
            s = self.not_empty.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        let job = s.items.pop_front()?;
        s.log.push(QueueOp::Pop(job.job));
        drop(s);
        self.not_full.notify_one();
        Some(job)
    }

    /// No more pushes: waiting workers finish what is left, then stop.
    pub fn close(&self) {
        lock(&self.state).closed = true;
        self.not_full.notify_all();
        self.not_empty.notify_all();
    }

    /// Jobs in the queue now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        lock(&self.state).items.len()
    }

    /// Producers waiting for room now.
    #[cfg(test)]
    pub fn pushers_waiting(&self) -> usize {
        lock(&self.state).pushers_waiting
    }

    /// What it saw.
    pub fn stats(&self) -> QueueStats {
        lock(&self.state).stats
    }

    /// Every push and pop, in order.
    #[cfg(test)]
    pub fn log(&self) -> Vec<QueueOp> {
        lock(&self.state).log.clone()
    }
}

/// Closes the queues when dropped, so that workers stop even if the
/// producer unwinds.
struct CloseOnDrop<'a>(&'a [Arc<JobQueue>]);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        for q in self.0 {
            q.close();
        }
    }
}

// ---------------------------------------------------------------------------
// Transcoders, the client with breakers and backoff, and the workers.

/// What a worker asks a transcoder to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Task {
    /// Encode into several formats (the Encoder).
    Encode,
    /// Make thumbnails (the ThumbnailGenerator).
    Thumbnails,
}

/// The outcome of one transcoder call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallOutcome {
    /// Whether it worked.
    pub ok: bool,
    /// Simulated time it took (a timeout if the transcoder hung).
    pub took: u64,
}

/// The transcoding servers. A call's outcome is a pure function of (job,
/// task, attempt, transcoder), so a replay makes the same calls fail.
#[derive(Debug)]
pub struct TranscoderFarm {
    transcoders: usize,
    failing: Option<usize>,
    transient_failure: f64,
    encode_ns_per_byte: u64,
    thumbnail_ns: u64,
    timeout_ns: u64,
    seed: u64,
    calls: Vec<AtomicU64>,
}

impl TranscoderFarm {
    /// The farm of `cfg`.
    pub fn new(cfg: &Config) -> Result<TranscoderFarm, SetupError> {
        if cfg.transcoders == 0 {
            return Err(SetupError::Config("transcoders must be at least 1"));
        }
        if cfg.failing_transcoder.is_some_and(|f| f >= cfg.transcoders) {
            return Err(SetupError::Config("failing_transcoder is not in the farm"));
        }
        Ok(TranscoderFarm {
            transcoders: cfg.transcoders,
            failing: cfg.failing_transcoder,
            transient_failure: cfg.transient_failure,
            encode_ns_per_byte: cfg.encode_ns_per_byte,
            thumbnail_ns: cfg.thumbnail_ms * MS,
            timeout_ns: cfg.transcoder_timeout_ms * MS,
            seed: cfg.seed,
            calls: (0..cfg.transcoders).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    /// Transcoders in the farm.
    pub fn len(&self) -> usize {
        self.transcoders
    }

    /// Calls transcoder `t`.
    pub fn call(&self, t: usize, task: Task, job: JobId, attempt: u32, len: u64) -> CallOutcome {
        self.calls[t].fetch_add(1, Ordering::Relaxed);
        if self.failing == Some(t) {
            return CallOutcome {
                ok: false,
                took: self.timeout_ns,
            };
        }
        let work = match task {
            Task::Encode => len * self.encode_ns_per_byte,
            Task::Thumbnails => self.thumbnail_ns,
        };
        let h = stable_hash(&(self.seed, job, task as u8, attempt, t as u64), 0x7c);
        if ((h >> 11) as f64 / (1u64 << 53) as f64) < self.transient_failure {
            CallOutcome {
                ok: false,
                took: work / 2,
            }
        } else {
            CallOutcome {
                ok: true,
                took: work,
            }
        }
    }

    /// Calls each transcoder received.
    pub fn calls(&self) -> Vec<u64> {
        self.calls
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}

/// What a [`TranscoderClient`] did.
#[derive(Clone, Debug, Default)]
pub struct CallStats {
    /// Calls made to each transcoder.
    pub calls: Vec<u64>,
    /// Of those, failed.
    pub failures: Vec<u64>,
    /// Times each transcoder's breaker refused a call.
    pub refused: Vec<u64>,
    /// Times every breaker refused (the worker waited).
    pub all_open: u64,
    /// Breakers that opened.
    pub trips: u64,
    /// Retries (each after a backoff wait).
    pub retries: u64,
    /// Simulated time spent in backoff waits.
    pub backoff_ns: u64,
    /// Simulated time spent in failed calls.
    pub failed_call_ns: u64,
    /// Each wait: (attempt, delay).
    pub waits: Vec<(u32, u64)>,
    /// Jobs that succeeded.
    pub done: u64,
}

impl CallStats {
    fn add(&mut self, o: &CallStats) {
        for (a, b) in [
            (&mut self.calls, &o.calls),
            (&mut self.failures, &o.failures),
            (&mut self.refused, &o.refused),
        ] {
            a.resize(a.len().max(b.len()), 0);
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        self.all_open += o.all_open;
        self.trips += o.trips;
        self.retries += o.retries;
        self.backoff_ns += o.backoff_ns;
        self.failed_call_ns += o.failed_call_ns;
        self.done += o.done;
    }
}

/// A job that failed `max_attempts` times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// The job.
    pub job: JobId,
    /// The task.
    pub task: Task,
    /// Attempts made.
    pub attempts: u32,
}

/// A worker's RPC client for the farm: round robin over the transcoders whose
/// breaker lets a call through, exponential backoff with full jitter between
/// attempts. It runs on its own simulated clock.
pub struct TranscoderClient<'a> {
    farm: &'a TranscoderFarm,
    breakers: Option<Vec<CircuitBreaker>>,
    backoff: Backoff,
    rng: Rng,
    now: u64,
    next: usize,
    max_attempts: u32,
    stats: CallStats,
}

impl<'a> TranscoderClient<'a> {
    /// A client of `farm` with `cfg`'s breakers and backoff; `seed` drives
    /// its jitter.
    pub fn new(
        farm: &'a TranscoderFarm,
        cfg: &Config,
        seed: u64,
    ) -> Result<TranscoderClient<'a>, SetupError> {
        let breakers = match cfg.breaker {
            Some(b) => Some(
                (0..farm.len())
                    .map(|_| CircuitBreaker::new(b))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(SetupError::Resilience)?,
            ),
            None => None,
        };
        let (base, cap) = cfg.retry_backoff_ms;
        let n = farm.len();
        Ok(TranscoderClient {
            farm,
            breakers,
            backoff: Backoff::new(base * MS, cap * MS).map_err(SetupError::Resilience)?,
            rng: Rng(seed),
            now: 0,
            next: 0,
            max_attempts: cfg.max_attempts.max(1),
            stats: CallStats {
                calls: vec![0; n],
                failures: vec![0; n],
                refused: vec![0; n],
                ..CallStats::default()
            },
        })
    }

    /// The next transcoder whose breaker allows a call now.
    fn pick(&mut self) -> Option<usize> {
        let n = self.farm.len();
        for i in 0..n {
            let t = (self.next + i) % n;
            let allowed = self.breakers.as_ref().is_none_or(|b| b[t].allow(self.now));
            if allowed {
                self.next = (t + 1) % n;
                return Some(t);
            }
            self.stats.refused[t] += 1;
        }
        None
    }

    /// Runs `task` for `job` until a transcoder succeeds; returns the calls
    /// it took, or a dead letter after `max_attempts` failures.
    pub fn transcode(&mut self, job: JobId, task: Task, len: u64) -> Result<u32, DeadLetter> {
        let mut attempt = 0;
        loop {
            if let Some(t) = self.pick() {
                let out = self.farm.call(t, task, job, attempt, len);
                self.now += out.took;
                self.stats.calls[t] += 1;
                if let Some(b) = &self.breakers {
                    b[t].record(out.ok, self.now);
                    if b[t].state(self.now) == BreakerState::Open && !out.ok {
                        // A failure recorded while closed or half-open
                        // that leaves it open has just tripped it.
                        self.stats.trips += 1;
                    }
                }
                if out.ok {
                    self.stats.done += 1;
                    return Ok(attempt + 1);
                }
                self.stats.failures[t] += 1;
                self.stats.failed_call_ns += out.took;
            } else {
                self.stats.all_open += 1;
            }
            if attempt + 1 >= self.max_attempts {
                return Err(DeadLetter {
                    job,
                    task,
                    attempts: attempt + 1,
                });
            }
            let delay = self.backoff.delay(attempt, self.rng.next_u64());
            self.stats.waits.push((attempt, delay));
            self.stats.retries += 1;
            self.stats.backoff_ns += delay;
            self.now += delay;
            attempt += 1;
        }
    }

    /// Its simulated clock.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// What it did.
    pub fn stats(&self) -> &CallStats {
        &self.stats
    }
}

/// A rendition of a video in one format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendition {
    /// The format.
    pub format: &'static str,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The Encoder service: a video into several formats.
pub struct Encoder;

impl Encoder {
    /// The formats, with the share of the original's bitrate each keeps
    /// (one byte in `k`).
    pub const FORMATS: [(&'static str, usize); 3] = [("720p", 2), ("360p", 4), ("144p", 8)];

    /// Encodes `original` into every format.
    pub fn encode(original: &[u8]) -> Vec<Rendition> {
        Encoder::FORMATS
            .iter()
            .map(|&(format, k)| Rendition {
                format,
                bytes: original.iter().step_by(k).copied().collect(),
            })
            .collect()
    }
}

/// The ThumbnailGenerator service: a few frames of a video, downsampled.
pub struct ThumbnailGenerator;

impl ThumbnailGenerator {
    /// Thumbnails per video (frames at 1/4, 1/2 and 3/4 of it).
    pub const COUNT: usize = 3;
    /// Bytes of one frame.
    pub const FRAME: usize = 4096;

    /// The thumbnails of `original`: each frame, one byte in 16.
    pub fn generate(original: &[u8]) -> Vec<Vec<u8>> {
        (1..=Self::COUNT)
            .map(|i| {
                let at = original.len() * i / (Self::COUNT + 1);
                let end = (at + Self::FRAME).min(original.len());
                original[at..end].iter().step_by(16).copied().collect()
            })
            .collect()
    }
}

/// A worker's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// The Encoder's renditions.
    Renditions(Vec<Rendition>),
    /// The ThumbnailGenerator's thumbnails.
    Thumbnails(Vec<Vec<u8>>),
}

impl Output {
    fn len(&self) -> usize {
        match self {
            Output::Renditions(r) => r.iter().map(|r| r.bytes.len()).sum(),
            Output::Thumbnails(t) => t.iter().map(Vec::len).sum(),
        }
    }
}

#[derive(Debug)]
struct Stored {
    #[cfg_attr(not(test), allow(dead_code))]
    video: VideoId,
    output: Output,
    writes: u32,
}

/// Transcoded storage (and the CDN origin): each job's outputs.
#[derive(Debug, Default)]
pub struct TranscodedStorage {
    inner: Mutex<HashMap<(JobId, Task), Stored>>,
}

impl TranscodedStorage {
    /// Stores a job's output for `task`.
    pub fn put(&self, job: JobId, video: VideoId, task: Task, output: Output) {
        let mut m = lock(&self.inner);
        let e = m.entry((job, task)).or_insert(Stored {
            video,
            output: Output::Thumbnails(Vec::new()),
            writes: 0,
        });
        e.output = output;
        e.writes += 1;
    }

    /// A job's output for `task`, the video it is of, and how many times it
    /// was written.
    #[cfg(test)]
    pub fn get(&self, job: JobId, task: Task) -> Option<(VideoId, Output, u32)> {
        lock(&self.inner)
            .get(&(job, task))
            .map(|s| (s.video, s.output.clone(), s.writes))
    }

    /// Outputs stored (per job and task).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        lock(&self.inner).len()
    }

    /// Bytes stored.
    pub fn bytes(&self) -> u64 {
        lock(&self.inner)
            .values()
            .map(|s| s.output.len() as u64)
            .sum()
    }
}

/// One worker thread of the Encoder or the ThumbnailGenerator.
struct Worker<'a> {
    task: Task,
    queue: &'a JobQueue,
    originals: &'a ObjectStore,
    transcoded: &'a TranscodedStorage,
    client: TranscoderClient<'a>,
    done: mpsc::Sender<Processed>,
    time_scale: u64,
}

/// What a worker thread did.
#[derive(Clone, Debug)]
pub struct WorkerReport {
    /// Its transcoder calls.
    pub calls: CallStats,
    /// Jobs it gave up on.
    pub dead: Vec<DeadLetter>,
}

impl Worker<'_> {
    fn run(mut self) -> WorkerReport {
        let mut dead = Vec::new();
        while let Some(job) = self.queue.pop() {
            let before = self.client.now();
            // The transcoder pulls the original from original storage.
            let original = self
                .originals
                .read(job.video)
                .expect("a job is queued only after its video is committed");
            let result = self.client.transcode(job.job, self.task, job.len);
            if let Ok(attempts) = result {
                let output = match self.task {
                    Task::Encode => Output::Renditions(Encoder::encode(&original)),
                    Task::Thumbnails => Output::Thumbnails(ThumbnailGenerator::generate(&original)),
                };
                self.transcoded.put(job.job, job.video, self.task, output);
                let _ = self.done.send(Processed {
                    job: job.job,
                    video: job.video,
                    task: self.task,
                    attempts,
                    latency: job.enqueued.elapsed(),
                });
            }
            if let Err(d) = result {
                dead.push(d);
            }
            // Pace the thread: one wall ns per `time_scale` simulated ns.
            if let Some(ns) = (self.client.now() - before).checked_div(self.time_scale) {
                thread::sleep(Duration::from_nanos(ns));
            }
        }
        WorkerReport {
            calls: self.client.stats().clone(),
            dead,
        }
    }
}

// ---------------------------------------------------------------------------
// UploadService: the uploadVideo() API.

#[derive(Clone, Debug)]
struct Pending {
    ticket: UploadTicket,
    meta: NewVideo,
}

/// What the UploadService did.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApiStats {
    /// `uploadVideo` calls.
    pub upload_calls: u64,
    /// ...that started a new upload.
    pub started: u64,
    /// ...that were retries of an upload in flight (the same ticket again).
    pub retried_in_flight: u64,
    /// ...answered with a finished upload's outcome (no work done).
    pub answered_done: u64,
    /// ...refused: the txn id was used for another video.
    pub txn_reused: u64,
    /// `finishUpload` calls.
    pub finish_calls: u64,
    /// ...answered from the idempotency cache (a retry; no work done).
    pub finish_answered_done: u64,
    /// ...refused because bytes were missing.
    pub finish_incomplete: u64,
    /// Jobs created.
    pub jobs: u64,
    /// Uploads rejected as duplicates.
    pub duplicates: u64,
}

/// The `uploadVideo()` API: transactions, metadata, dedup, and the producer
/// of the job queues.
pub struct UploadService {
    txns: IdempotencyCache<TxnId, UploadOutcome>,
    pending: HashMap<TxnId, Pending>,
    metadata: MetadataService,
    dedup: VideoDedupService,
    store: Arc<ObjectStore>,
    queues: [Arc<JobQueue>; 2],
    next_video: VideoId,
    next_job: JobId,
    jobs: BTreeMap<JobId, (VideoId, u64)>,
    stats: ApiStats,
}

/// The idempotency fingerprint of a request: a stable hash of its metadata.
fn request_fingerprint(meta: &NewVideo) -> u64 {
    stable_hash(meta, 0x75_706c)
}

impl UploadService {
    fn new(
        cfg: &Config,
        store: Arc<ObjectStore>,
        queues: [Arc<JobQueue>; 2],
    ) -> Result<UploadService, SetupError> {
        let db = MetadataDb::new(cfg.metadata_shards, cfg.vnodes)?;
        let avg_chunk = cfg.chunk_sizes.1.max(1);
        let expected_chunks = (cfg.uploads * cfg.video_len.1 / avg_chunk).max(1024);
        Ok(UploadService {
            txns: IdempotencyCache::with_lease(cfg.txn_ttl_s * SEC, cfg.txn_lease_s * SEC)
                .map_err(SetupError::Cache)?,
            pending: HashMap::new(),
            metadata: MetadataService::new(db, cfg.hot_cache)?,
            dedup: VideoDedupService::new(expected_chunks, cfg.bloom_fp_rate, cfg.dedup_threshold)?,
            store,
            queues,
            next_video: 1,
            next_job: 1,
            jobs: BTreeMap::new(),
            stats: ApiStats::default(),
        })
    }

    /// `uploadVideo(txn, metadata)`: a new upload gets a video id, a metadata
    /// row and an upload session; a retry gets the first answer.
    pub fn upload_video(&mut self, req: UploadVideo, now: u64) -> Result<UploadReply, ApiError> {
        self.stats.upload_calls += 1;
        enum Seen {
            Started,
            InFlight,
            Done(UploadOutcome),
        }
        let seen = match self
            .txns
            .begin(req.txn, request_fingerprint(&req.meta), now)
        {
            Ok(Begin::Started) => Seen::Started,
            Ok(Begin::InFlight) => Seen::InFlight,
            Ok(Begin::Done(o)) => Seen::Done(*o),
            Err(lru_feed::Error::FingerprintMismatch { .. }) => {
                self.stats.txn_reused += 1;
                return Err(ApiError::TxnReused { txn: req.txn });
            }
            Err(e) => return Err(ApiError::Txn(e)),
        };
        match seen {
            Seen::Done(o) => {
                self.stats.answered_done += 1;
                Ok(UploadReply::Finished(o))
            }
            Seen::InFlight => {
                self.stats.retried_in_flight += 1;
                let p = self.pending.get(&req.txn).ok_or(ApiError::UnknownTxn)?;
                Ok(UploadReply::Ticket(p.ticket))
            }
            Seen::Started => {
                self.stats.started += 1;
                // An earlier attempt whose lease ran out: its session goes.
                if let Some(old) = self.pending.remove(&req.txn) {
                    self.store.discard(old.ticket.session);
                }
                let video = self.next_video;
                self.next_video += 1;
                self.metadata.put(VideoMeta {
                    video,
                    uploader: req.meta.uploader,
                    title: req.meta.title.clone(),
                    len: req.meta.len,
                    status: VideoStatus::Uploading,
                });
                let session = self.store.create_session(video, req.meta.len);
                let ticket = UploadTicket { video, session };
                self.pending.insert(
                    req.txn,
                    Pending {
                        ticket,
                        meta: req.meta,
                    },
                );
                Ok(UploadReply::Ticket(ticket))
            }
        }
    }

    /// `finishUpload(txn, session)`: dedup, commit, job id, queue; a retry
    /// gets the first answer and does nothing.
    pub fn finish_upload(
        &mut self,
        req: FinishUpload,
        now: u64,
    ) -> Result<UploadOutcome, ApiError> {
        self.stats.finish_calls += 1;
        match self.txns.get(&req.txn, now) {
            None => return Err(ApiError::UnknownTxn),
            Some(TxnStatus::Done(o)) => {
                self.stats.finish_answered_done += 1;
                return Ok(*o);
            }
            Some(TxnStatus::InFlight) => {}
        }
        let p = self
            .pending
            .get(&req.txn)
            .ok_or(ApiError::UnknownTxn)?
            .clone();
        if p.ticket.session != req.session {
            return Err(ApiError::WrongSession);
        }
        let manifest = self.store.sealed_manifest(req.session).map_err(|e| {
            if matches!(e, StoreError::Incomplete { .. }) {
                self.stats.finish_incomplete += 1;
            }
            ApiError::Store(e)
        })?;
        let video = p.ticket.video;
        let outcome = match self.dedup.check(&manifest) {
            Verdict::Duplicate { of, .. } => {
                self.store.discard(req.session);
                self.metadata
                    .set_status(video, VideoStatus::Rejected { duplicate_of: of });
                self.stats.duplicates += 1;
                UploadOutcome::Duplicate { video, of }
            }
            Verdict::Unique { .. } => {
                let manifest = self.store.commit(req.session).map_err(ApiError::Store)?;
                self.dedup.register(video, &manifest);
                let job = self.next_job;
                self.next_job += 1;
                self.stats.jobs += 1;
                self.jobs.insert(job, (video, p.meta.len));
                self.metadata
                    .set_status(video, VideoStatus::Processing { job });
                let t = TranscodeJob {
                    job,
                    video,
                    len: p.meta.len,
                    enqueued: Instant::now(),
                };
                // Blocks while a queue is full: back pressure on uploads.
                for q in &self.queues {
                    q.push(t.clone()).map_err(|_| ApiError::QueueClosed)?;
                }
                UploadOutcome::Accepted { video, job }
            }
        };
        self.txns
            .complete(&req.txn, outcome, now)
            .map_err(ApiError::Txn)?;
        self.pending.remove(&req.txn);
        Ok(outcome)
    }

    /// The workers' completions: a video whose job has both its renditions
    /// and its thumbnails is ready.
    fn on_processed(&mut self, done: &[Processed]) {
        let mut tasks: BTreeMap<(JobId, VideoId), HashSet<Task>> = BTreeMap::new();
        for p in done {
            tasks.entry((p.job, p.video)).or_default().insert(p.task);
        }
        for ((job, video), t) in tasks {
            if t.len() == 2 {
                self.metadata.set_status(video, VideoStatus::Ready { job });
            }
        }
    }

    /// Drops transaction records whose time ran out; returns how many.
    pub fn expire(&mut self, now: u64) -> usize {
        self.txns.expire(now)
    }
}

// ---------------------------------------------------------------------------
// Clients and the network between them and the services.

/// What happened to one exchange on the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Delivered,
    RequestLost,
    ResponseLost,
}

struct Network {
    rng: Rng,
    request_loss: f64,
    response_loss: f64,
    rtt: u64,
    ns_per_byte: u64,
    timeout: u64,
    backoff: Backoff,
}

impl Network {
    fn fate(&mut self) -> Fate {
        if self.rng.chance(self.request_loss) {
            Fate::RequestLost
        } else if self.rng.chance(self.response_loss) {
            Fate::ResponseLost
        } else {
            Fate::Delivered
        }
    }

    /// When a client that sent `bytes` at `now` hears back (or times out).
    fn answer_at(&self, now: u64, bytes: usize, fate: Fate) -> u64 {
        let sent = now + bytes as u64 * self.ns_per_byte;
        match fate {
            Fate::Delivered => sent + self.rtt,
            _ => sent + self.timeout,
        }
    }
}

/// Every answer a client received, for the oracle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A ticket from `uploadVideo`.
    Ticket(UploadTicket),
    /// An outcome (from `finishUpload`, or `uploadVideo` once finished).
    Outcome(UploadOutcome),
    /// An error.
    Error(ApiError),
}

/// What one client saw.
#[derive(Clone, Debug, Default)]
pub struct ClientStats {
    /// Requests sent.
    pub requests: u64,
    /// Requests or responses lost (connection drops).
    pub drops: u64,
    /// Times it resumed from the store's committed offset.
    pub resumes: u64,
    /// ...from an offset past the start.
    pub mid_file_resumes: u64,
    /// Bytes of chunks sent.
    pub bytes_sent: u64,
    /// Of those, bytes sent again (at an offset sent before).
    pub bytes_resent: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Init,
    Upload,
    Reconnect,
    Finish,
    Again,
    Done,
}

/// The uploader's app: one video, one transaction.
pub struct Client {
    spec: UploadSpec,
    file: Vec<u8>,
    meta: NewVideo,
    phase: Phase,
    cdc: FastCdc,
    read_size: usize,
    ticket: Option<UploadTicket>,
    chunker: Option<StreamChunker>,
    read_pos: usize,
    pending: VecDeque<Chunk>,
    sent_end: u64,
    failures: u32,
    answers: Vec<Answer>,
    stats: ClientStats,
}

/// Wall-clock latencies of the calls, for the report.
#[derive(Debug, Default)]
struct Latencies {
    upload_video: Vec<Duration>,
    put_chunk: Vec<Duration>,
    finish: Vec<Duration>,
}

impl Client {
    fn new(spec: UploadSpec, specs: &[UploadSpec], cdc: FastCdc, read_size: usize) -> Client {
        let file = spec.bytes(specs);
        let meta = NewVideo {
            uploader: spec.user,
            title: spec.title.clone(),
            len: file.len() as u64,
        };
        Client {
            spec,
            file,
            meta,
            phase: Phase::Init,
            cdc,
            read_size,
            ticket: None,
            chunker: None,
            read_pos: 0,
            pending: VecDeque::new(),
            sent_end: 0,
            failures: 0,
            answers: Vec::new(),
            stats: ClientStats::default(),
        }
    }

    /// Restarts the chunker at `committed`, the end of the last chunk the
    /// store acknowledged: FastCDC finds the same boundaries from there.
    fn resume_at(&mut self, committed: u64) {
        self.chunker = Some(StreamChunker::resume(self.cdc, committed));
        self.read_pos = committed as usize;
        self.pending.clear();
    }

    /// Reads the file until a chunk is ready or the file is all chunked.
    fn fill(&mut self) {
        while self.pending.is_empty() {
            let Some(chunker) = self.chunker.as_mut() else {
                return;
            };
            if self.read_pos < self.file.len() {
                let end = (self.read_pos + self.read_size).min(self.file.len());
                self.pending
                    .extend(chunker.push(&self.file[self.read_pos..end]));
                self.read_pos = end;
            } else if let Some(c) = self.chunker.take().and_then(StreamChunker::finish) {
                self.pending.push_back(c);
            }
        }
    }

    /// Sends a request: what the network does with it.
    fn send(&mut self, net: &mut Network) -> Fate {
        self.stats.requests += 1;
        net.fate()
    }

    /// A lost request or answer: wait for the timeout (already in `at`),
    /// then a backoff with full jitter, and reconnect.
    fn dropped(&mut self, at: u64, net: &mut Network) -> u64 {
        self.stats.drops += 1;
        let wait = net.backoff.delay(self.failures, net.rng.next_u64());
        self.failures += 1;
        at + wait
    }

    /// One exchange with the services at `now`; the time of the next one,
    /// or `None` when the upload is over.
    fn step(
        &mut self,
        api: &mut UploadService,
        store: &ObjectStore,
        net: &mut Network,
        now: u64,
        lat: &mut Latencies,
    ) -> Option<u64> {
        match self.phase {
            Phase::Done => None,
            Phase::Init | Phase::Again => {
                let fate = self.send(net);
                let at = net.answer_at(now, 0, fate);
                if fate == Fate::RequestLost {
                    return self.after_lost_call(at, net);
                }
                let req = UploadVideo {
                    txn: self.spec.txn,
                    meta: self.meta.clone(),
                };
                let t = Instant::now();
                let reply = api.upload_video(req, now);
                lat.upload_video.push(t.elapsed());
                if fate == Fate::ResponseLost {
                    return self.after_lost_call(at, net);
                }
                self.failures = 0;
                match reply {
                    Ok(UploadReply::Ticket(ticket)) => {
                        self.answers.push(Answer::Ticket(ticket));
                        if self.phase == Phase::Init {
                            self.ticket = Some(ticket);
                            self.resume_at(0);
                            self.phase = Phase::Upload;
                        } else {
                            self.phase = Phase::Done;
                        }
                    }
                    Ok(UploadReply::Finished(o)) => {
                        self.answers.push(Answer::Outcome(o));
                        self.phase = Phase::Done;
                    }
                    Err(e) => {
                        self.answers.push(Answer::Error(e));
                        self.phase = Phase::Done;
                    }
                }
                Some(at)
            }
            Phase::Upload => {
                self.fill();
                let Some(&c) = self.pending.front() else {
                    self.phase = Phase::Finish;
                    return Some(now);
                };
                let ticket = self.ticket.expect("uploading with a ticket");
                self.stats.bytes_sent += c.len as u64;
                if c.offset < self.sent_end {
                    self.stats.bytes_resent += c.len as u64;
                }
                self.sent_end = self.sent_end.max(c.end());
                let fate = self.send(net);
                let at = net.answer_at(now, c.len, fate);
                if fate == Fate::RequestLost {
                    self.phase = Phase::Reconnect;
                    return Some(self.dropped(at, net));
                }
                let bytes = &self.file[c.offset as usize..c.end() as usize];
                let t = Instant::now();
                let ack = store.put_chunk(PutChunk {
                    session: ticket.session,
                    offset: c.offset,
                    fingerprint: Fingerprint::of(bytes),
                    bytes,
                });
                lat.put_chunk.push(t.elapsed());
                if fate == Fate::ResponseLost {
                    self.phase = Phase::Reconnect;
                    return Some(self.dropped(at, net));
                }
                self.failures = 0;
                match ack {
                    Ok(a) if a.committed == c.end() => {
                        self.pending.pop_front();
                    }
                    Ok(a) => self.resume_at(a.committed),
                    Err(StoreError::NoSession) => self.phase = Phase::Init,
                    Err(e) => {
                        self.answers.push(Answer::Error(ApiError::Store(e)));
                        self.phase = Phase::Done;
                    }
                }
                Some(at)
            }
            Phase::Reconnect => {
                let ticket = self.ticket.expect("reconnecting with a ticket");
                let fate = self.send(net);
                let at = net.answer_at(now, 0, fate);
                if fate == Fate::RequestLost {
                    return Some(self.dropped(at, net));
                }
                let status = store.status(ticket.session);
                if fate == Fate::ResponseLost {
                    return Some(self.dropped(at, net));
                }
                self.failures = 0;
                match status {
                    Ok(a) => {
                        self.stats.resumes += 1;
                        if a.committed > 0 {
                            self.stats.mid_file_resumes += 1;
                        }
                        self.resume_at(a.committed);
                        self.phase = Phase::Upload;
                    }
                    Err(_) => self.phase = Phase::Init,
                }
                Some(at)
            }
            Phase::Finish => {
                let ticket = self.ticket.expect("finishing with a ticket");
                let fate = self.send(net);
                let at = net.answer_at(now, 0, fate);
                if fate == Fate::RequestLost {
                    return self.after_lost_call(at, net);
                }
                let req = FinishUpload {
                    txn: self.spec.txn,
                    session: ticket.session,
                };
                let t = Instant::now();
                let outcome = api.finish_upload(req, now);
                lat.finish.push(t.elapsed());
                if fate == Fate::ResponseLost {
                    return self.after_lost_call(at, net);
                }
                self.failures = 0;
                match outcome {
                    Ok(o) => {
                        self.answers.push(Answer::Outcome(o));
                        self.phase = if self.spec.double_click {
                            Phase::Again
                        } else {
                            Phase::Done
                        };
                    }
                    Err(ApiError::Store(StoreError::Incomplete { committed, .. })) => {
                        self.resume_at(committed);
                        self.phase = Phase::Upload;
                    }
                    Err(e) => {
                        self.answers.push(Answer::Error(e));
                        self.phase = Phase::Done;
                    }
                }
                Some(at)
            }
        }
    }

    /// `uploadVideo` or `finishUpload` got no answer: send it again, with
    /// the same txn id, after a backoff. A double click that gets no answer
    /// is simply over.
    fn after_lost_call(&mut self, at: u64, net: &mut Network) -> Option<u64> {
        if self.phase == Phase::Again {
            self.stats.drops += 1;
            self.phase = Phase::Done;
            return None;
        }
        Some(self.dropped(at, net))
    }
}

/// A finished client: its upload and everything it was told.
#[derive(Clone, Debug)]
pub struct ClientRecord {
    /// The upload.
    pub spec: UploadSpec,
    /// Every answer, in order.
    pub answers: Vec<Answer>,
    /// What it saw.
    pub stats: ClientStats,
}

impl ClientRecord {
    /// The upload's outcome, if it got one.
    pub fn outcome(&self) -> Option<UploadOutcome> {
        self.answers.iter().find_map(|a| match a {
            Answer::Outcome(o) => Some(*o),
            _ => None,
        })
    }
}

// ---------------------------------------------------------------------------
// The whole system, run.

/// Everything a run leaves, for the report and the tests.
pub struct Simulation {
    cfg: Config,
    specs: Vec<UploadSpec>,
    clients: Vec<ClientRecord>,
    api: UploadService,
    store: Arc<ObjectStore>,
    queues: [Arc<JobQueue>; 2],
    transcoded: Arc<TranscodedStorage>,
    farm_calls: Vec<u64>,
    workers: Vec<WorkerReport>,
    processed: Vec<Processed>,
    lat: Latencies,
    sim_ns: u64,
    upload_wall: Duration,
    total_wall: Duration,
    reads: ReadStats,
}

#[derive(Debug, Default)]
struct ReadStats {
    reads: usize,
    wrong: usize,
    per_shard_uncached: Vec<u64>,
    per_shard_cached: Vec<u64>,
    latencies: Vec<Duration>,
    wall: Duration,
}

fn validate(cfg: &Config) -> Result<FastCdc, SetupError> {
    let (min, avg, max) = cfg.chunk_sizes;
    let cdc = FastCdc::new(min, avg, max).map_err(SetupError::Chunker)?;
    if cfg.video_len.0 == 0 || cfg.video_len.0 > cfg.video_len.1 {
        return Err(SetupError::Config(
            "video_len must be a range of positive lengths",
        ));
    }
    if cfg.concurrent_uploads == 0 || cfg.read_size == 0 {
        return Err(SetupError::Config(
            "concurrent_uploads and read_size must be at least 1",
        ));
    }
    if cfg.encoders == 0 || cfg.thumbnailers == 0 {
        return Err(SetupError::Config("each worker pool needs a thread"));
    }
    let (base, cap) = cfg.client_backoff_ms;
    Backoff::new(base * MS, cap * MS).map_err(SetupError::Resilience)?;
    Ok(cdc)
}

/// Runs the uploads (this thread, the producer) while the worker threads
/// drain the queues, then the watch-page reads.
pub fn simulate(cfg: &Config) -> Result<Simulation, SetupError> {
    let start = Instant::now();
    let cdc = validate(cfg)?;
    let store = Arc::new(ObjectStore::new(cdc.max_size()));
    let queues = [
        Arc::new(JobQueue::new(cfg.queue_capacity)?),
        Arc::new(JobQueue::new(cfg.queue_capacity)?),
    ];
    let mut api = UploadService::new(cfg, Arc::clone(&store), queues.clone())?;
    let transcoded = Arc::new(TranscodedStorage::default());
    let farm = TranscoderFarm::new(cfg)?;
    let (done_tx, done_rx) = mpsc::channel();

    let mut workers = Vec::new();
    for (task, n) in [
        (Task::Encode, cfg.encoders),
        (Task::Thumbnails, cfg.thumbnailers),
    ] {
        for w in 0..n {
            let seed = stable_hash(&(cfg.seed, task as u8, w as u64), 0xb0);
            workers.push((task, TranscoderClient::new(&farm, cfg, seed)?));
        }
    }

    let (uploads, reports) = thread::scope(|s| {
        let handles: Vec<_> = workers
            .into_iter()
            .map(|(task, client)| {
                let worker = Worker {
                    task,
                    queue: if task == Task::Encode {
                        &queues[0]
                    } else {
                        &queues[1]
                    },
                    originals: &store,
                    transcoded: &transcoded,
                    client,
                    done: done_tx.clone(),
                    time_scale: cfg.time_scale,
                };
                s.spawn(move || worker.run())
            })
            .collect();
        let uploads = {
            let _close = CloseOnDrop(&queues);
            run_uploads(cfg, cdc, &mut api, &store)
        };
        let reports: Vec<WorkerReport> = handles
            .into_iter()
            .map(|h| h.join().expect("a worker panicked"))
            .collect();
        (uploads, reports)
    });
    drop(done_tx);
    let mut processed: Vec<Processed> = done_rx.into_iter().collect();
    processed.sort_by_key(|p| (p.job, p.task));
    api.on_processed(&processed);
    let reads = watch_pages(cfg, &mut api, &uploads.clients);
    Ok(Simulation {
        cfg: cfg.clone(),
        specs: uploads.specs,
        clients: uploads.clients,
        api,
        store,
        queues,
        transcoded,
        farm_calls: farm.calls(),
        workers: reports,
        processed,
        lat: uploads.lat,
        sim_ns: uploads.sim_ns,
        upload_wall: uploads.wall,
        total_wall: start.elapsed(),
        reads,
    })
}

/// What the upload phase leaves.
struct Uploads {
    specs: Vec<UploadSpec>,
    clients: Vec<ClientRecord>,
    lat: Latencies,
    sim_ns: u64,
    wall: Duration,
}

/// The upload event loop: `concurrent_uploads` clients at a time, each
/// exchange at its simulated time, the next upload starting when one ends.
struct UploadLoop<'c> {
    cfg: &'c Config,
    cdc: FastCdc,
    workload: Workload,
    specs: Vec<UploadSpec>,
    records: Vec<Option<ClientRecord>>,
    /// Accepted originals (what a re-upload may copy).
    originals: Vec<usize>,
    /// Uploads that got their outcome (whose txn id a buggy client may reuse).
    finished: Vec<usize>,
    slots: Vec<Option<Client>>,
    events: BinaryHeap<Reverse<(u64, usize)>>,
}

impl UploadLoop<'_> {
    /// Starts the next upload of the workload in `slot` at `at`, if any is left.
    fn start(&mut self, slot: usize, at: u64) {
        if self.specs.len() >= self.cfg.uploads {
            return;
        }
        let spec = self.workload.next(
            self.specs.len(),
            &self.specs,
            &self.originals,
            &self.finished,
        );
        self.specs.push(spec.clone());
        self.records.push(None);
        self.slots[slot] = Some(Client::new(spec, &self.specs, self.cdc, self.cfg.read_size));
        self.events.push(Reverse((at, slot)));
    }

    fn end(&mut self, c: Client) {
        let i = c.spec.index;
        let outcome = c.answers.iter().find_map(|a| match a {
            Answer::Outcome(o) => Some(*o),
            _ => None,
        });
        if c.spec.kind == Kind::Original && matches!(outcome, Some(UploadOutcome::Accepted { .. }))
        {
            self.originals.push(i);
        }
        if outcome.is_some() {
            self.finished.push(i);
        }
        self.records[i] = Some(ClientRecord {
            spec: c.spec,
            answers: c.answers,
            stats: c.stats,
        });
    }
}

fn run_uploads(
    cfg: &Config,
    cdc: FastCdc,
    api: &mut UploadService,
    store: &ObjectStore,
) -> Uploads {
    let wall = Instant::now();
    let (base, cap) = cfg.client_backoff_ms;
    let mut net = Network {
        rng: Rng(cfg.seed ^ 0xbad_cafe),
        request_loss: cfg.request_loss,
        response_loss: cfg.response_loss,
        rtt: cfg.rtt_ms * MS,
        ns_per_byte: cfg.upload_ns_per_byte,
        timeout: cfg.client_timeout_ms * MS,
        backoff: Backoff::new(base * MS, cap * MS).expect("validated"),
    };
    let slots = cfg.concurrent_uploads.min(cfg.uploads);
    let mut l = UploadLoop {
        cfg,
        cdc,
        workload: Workload::new(cfg),
        specs: Vec::with_capacity(cfg.uploads),
        records: Vec::with_capacity(cfg.uploads),
        originals: Vec::new(),
        finished: Vec::new(),
        slots: (0..slots).map(|_| None).collect(),
        events: BinaryHeap::new(),
    };
    // Clients arrive 50 ms apart, then each slot starts its next upload
    // 200 ms after the last one ends.
    for slot in 0..slots {
        l.start(slot, slot as u64 * 50 * MS);
    }
    let mut lat = Latencies::default();
    let mut now = 0;
    let mut next_sweep = 3600 * SEC;
    while let Some(Reverse((t, slot))) = l.events.pop() {
        now = t;
        if now >= next_sweep {
            api.expire(now);
            next_sweep += 3600 * SEC;
        }
        let client = l.slots[slot].as_mut().expect("an event for a live client");
        match client.step(api, store, &mut net, now, &mut lat) {
            Some(next) => l.events.push(Reverse((next, slot))),
            None => {
                let c = l.slots[slot].take().expect("live");
                l.end(c);
                l.start(slot, now + 200 * MS);
            }
        }
    }
    Uploads {
        specs: l.specs,
        clients: l
            .records
            .into_iter()
            .map(|r| r.expect("every upload ran to its end"))
            .collect(),
        lat,
        sim_ns: now,
        wall: wall.elapsed(),
    }
}

/// Watch-page reads of the accepted videos, Zipf popularity: the hot-video
/// cache in front of the shards.
fn watch_pages(cfg: &Config, api: &mut UploadService, clients: &[ClientRecord]) -> ReadStats {
    let mut videos: Vec<VideoId> = clients
        .iter()
        .filter_map(|c| match c.outcome() {
            Some(UploadOutcome::Accepted { video, .. }) => Some(video),
            _ => None,
        })
        .collect();
    let shards = cfg.metadata_shards as usize;
    let mut r = ReadStats {
        per_shard_uncached: vec![0; shards],
        per_shard_cached: vec![0; shards],
        ..ReadStats::default()
    };
    if videos.is_empty() || cfg.reads == 0 {
        return r;
    }
    let mut rng = Rng(cfg.seed ^ 0x0a7c4);
    // Popularity has nothing to do with upload order.
    for i in (1..videos.len()).rev() {
        videos.swap(i, rng.below(i + 1));
    }
    let zipf = Zipf::new(videos.len(), cfg.read_skew);
    let before: Vec<u64> = api.metadata.db().shards().iter().map(|s| s.reads).collect();
    let wall = Instant::now();
    for i in 0..cfg.reads {
        let v = videos[zipf.sample(&mut rng)];
        let shard = api.metadata.db().shard_of(v) as usize;
        r.per_shard_uncached[shard] += 1;
        let t = (i % 16 == 0).then(Instant::now);
        let row = api.metadata.get(v);
        if let Some(t) = t {
            r.latencies.push(t.elapsed());
        }
        if row.as_ref().map(|m| m.video) != Some(v) {
            r.wrong += 1;
        }
    }
    r.wall = wall.elapsed();
    r.reads = cfg.reads;
    for (i, s) in api.metadata.db().shards().iter().enumerate() {
        r.per_shard_cached[i] = s.reads - before[i];
    }
    r
}

// ---------------------------------------------------------------------------
// The report.

/// What a run showed.
#[cfg_attr(not(test), allow(dead_code))]
pub struct Report {
    /// The table printed.
    pub table: Table,
    /// Uploads in the workload.
    pub uploads: usize,
    /// Uploads accepted (a job each).
    pub accepted: usize,
    /// Re-uploads in the workload / rejected as duplicates of the right video.
    pub reuploads: usize,
    /// Re-uploads caught, naming the video they copy.
    pub reuploads_caught: usize,
    /// Uploads rejected that are not re-uploads (originals, remixes).
    pub false_rejections: usize,
    /// Uploads with a reused txn id, refused.
    pub txn_reuse_refused: usize,
    /// Connection drops.
    pub drops: u64,
    /// Uploads resumed from a committed offset past the start.
    pub mid_file_resumes: u64,
    /// Accepted videos whose stored bytes differ from the client's file.
    pub stored_mismatches: usize,
    /// Requests answered from the idempotency cache (retries, double clicks).
    pub retries_answered: u64,
    /// Jobs created.
    pub jobs: u64,
    /// Transactions whose answers disagree (two job ids, or two videos).
    pub conflicting_answers: usize,
    /// Queue capacity.
    pub queue_capacity: usize,
    /// The most jobs either queue held.
    pub queue_high_water: usize,
    /// Jobs not processed by both pools exactly once.
    pub jobs_lost_or_repeated: usize,
    /// Jobs given up on.
    pub dead_letters: usize,
    /// Calls that reached the failing transcoder.
    pub failing_transcoder_calls: u64,
    /// Calls the breakers refused to the failing transcoder.
    pub breaker_refusals: u64,
    /// Share of metadata reads served by the hot-video cache.
    pub cache_hit_ratio: f64,
}

impl Simulation {
    fn accepted(&self) -> impl Iterator<Item = (&ClientRecord, VideoId, JobId)> + '_ {
        self.clients.iter().filter_map(|c| match c.outcome() {
            Some(UploadOutcome::Accepted { video, job }) => Some((c, video, job)),
            _ => None,
        })
    }

    /// The video id each upload index got (from its client's answers).
    fn video_of(&self, index: usize) -> Option<VideoId> {
        self.clients[index].answers.iter().find_map(|a| match a {
            Answer::Ticket(t) => Some(t.video),
            Answer::Outcome(UploadOutcome::Accepted { video, .. })
            | Answer::Outcome(UploadOutcome::Duplicate { video, .. }) => Some(*video),
            _ => None,
        })
    }

    /// Transactions whose answers name two different videos or outcomes.
    fn conflicting_answers(&self) -> usize {
        let mut by_txn: BTreeMap<TxnId, (HashSet<VideoId>, HashSet<UploadOutcome>)> =
            BTreeMap::new();
        for c in &self.clients {
            if matches!(c.spec.kind, Kind::ReusedTxn { .. }) {
                continue;
            }
            let e = by_txn.entry(c.spec.txn).or_default();
            for a in &c.answers {
                match a {
                    Answer::Ticket(t) => {
                        e.0.insert(t.video);
                    }
                    Answer::Outcome(o) => {
                        e.1.insert(*o);
                        let (UploadOutcome::Accepted { video, .. }
                        | UploadOutcome::Duplicate { video, .. }) = o;
                        e.0.insert(*video);
                    }
                    Answer::Error(_) => {}
                }
            }
        }
        by_txn
            .values()
            .filter(|(v, o)| v.len() > 1 || o.len() > 1)
            .count()
    }

    fn report(&self) -> Report {
        let cfg = &self.cfg;
        let mut reuploads = 0;
        let mut caught = 0;
        let mut false_rejections = 0;
        let mut txn_reuse_refused = 0;
        let mut kinds = [0usize; 6];
        for c in &self.clients {
            let k = match c.spec.kind {
                Kind::Original => 0,
                Kind::ExactCopy { .. } => 1,
                Kind::Trimmed { .. } => 2,
                Kind::Intro { .. } => 3,
                Kind::Remix { .. } => 4,
                Kind::ReusedTxn { .. } => 5,
            };
            kinds[k] += 1;
            if let Kind::ReusedTxn { .. } = c.spec.kind {
                if c.answers
                    .iter()
                    .any(|a| matches!(a, Answer::Error(ApiError::TxnReused { .. })))
                {
                    txn_reuse_refused += 1;
                }
                continue;
            }
            let rejected_as = match c.outcome() {
                Some(UploadOutcome::Duplicate { of, .. }) => Some(of),
                _ => None,
            };
            match c.spec.duplicate_of() {
                Some(src) => {
                    reuploads += 1;
                    if rejected_as.is_some() && rejected_as == self.video_of(src) {
                        caught += 1;
                    }
                }
                None => false_rejections += usize::from(rejected_as.is_some()),
            }
        }
        let mut stored_mismatches = 0;
        let mut accepted = 0;
        for (c, video, _) in self.accepted() {
            accepted += 1;
            let want = c.spec.bytes(&self.specs);
            if self.store.read(video).ok().as_deref() != Some(&want[..]) {
                stored_mismatches += 1;
            }
        }
        let drops: u64 = self.clients.iter().map(|c| c.stats.drops).sum();
        let resumes: u64 = self.clients.iter().map(|c| c.stats.resumes).sum();
        let mid: u64 = self.clients.iter().map(|c| c.stats.mid_file_resumes).sum();
        let sent: u64 = self.clients.iter().map(|c| c.stats.bytes_sent).sum();
        let resent: u64 = self.clients.iter().map(|c| c.stats.bytes_resent).sum();
        let file_bytes: u64 = self
            .clients
            .iter()
            .filter(|c| !matches!(c.spec.kind, Kind::ReusedTxn { .. }))
            .map(|c| c.spec.bytes(&self.specs).len() as u64)
            .sum();
        let api = self.api.stats;
        let retries_answered = api.retried_in_flight + api.answered_done + api.finish_answered_done;
        let qs: Vec<QueueStats> = self.queues.iter().map(|q| q.stats()).collect();
        let mut per_job: BTreeMap<JobId, Vec<Task>> = BTreeMap::new();
        for p in &self.processed {
            per_job.entry(p.job).or_default().push(p.task);
        }
        let lost_or_repeated = self
            .api
            .jobs
            .keys()
            .filter(|j| {
                per_job.get(j).is_none_or(|t| {
                    t.len() != 2 || !t.contains(&Task::Encode) || !t.contains(&Task::Thumbnails)
                })
            })
            .count()
            + per_job
                .keys()
                .filter(|j| !self.api.jobs.contains_key(j))
                .count();
        let mut calls = CallStats::default();
        for w in &self.workers {
            calls.add(&w.calls);
        }
        let dead: usize = self.workers.iter().map(|w| w.dead.len()).sum();
        let failing = cfg.failing_transcoder;
        let failing_calls = failing.map_or(0, |f| self.farm_calls[f]);
        let refusals = failing.map_or(0, |f| calls.refused.get(f).copied().unwrap_or(0));
        let dstats = self.api.dedup.stats();
        let ostats = self.store.stats();
        let cstats = self.api.metadata.cache_stats();
        let hit_ratio = cstats.hits as f64 / (cstats.hits + cstats.misses).max(1) as f64;

        // The notes' point: rows sharded by video id vs by uploader id.
        let db = self.api.metadata.db();
        let shards = cfg.metadata_shards as usize;
        let mut by_video = vec![0u64; shards];
        let mut by_user = vec![0u64; shards];
        for c in &self.clients {
            if let Some(v) = self.video_of(c.spec.index) {
                by_video[db.shard_of(v) as usize] += 1;
                by_user[db.shard_for(&(c.spec.user as u64)) as usize] += 1;
            }
        }
        let skew = |v: &[u64]| {
            let total: u64 = v.iter().sum();
            let max = v.iter().copied().max().unwrap_or(0);
            max as f64 * v.len() as f64 / total.max(1) as f64
        };
        let top_user = {
            let mut per_user: HashMap<UserId, u64> = HashMap::new();
            for c in &self.clients {
                *per_user.entry(c.spec.user).or_default() += 1;
            }
            per_user.values().copied().max().unwrap_or(0)
        };

        let replay = replay_breakers(self);
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
        let us = |d: Duration| format!("{:.1} µs", d.as_secs_f64() * 1e6);
        let mut lat_up = self.lat.upload_video.clone();
        let mut lat_put = self.lat.put_chunk.clone();
        let mut lat_fin = self.lat.finish.clone();
        let mut lat_job: Vec<Duration> = self.processed.iter().map(|p| p.latency).collect();
        let mut lat_read = self.reads.latencies.clone();
        let sim_s = |ns: u64| format!("{:.0} s", ns as f64 / 1e9);

        let mut t = Table::new(
            "youtube",
            "uploadVideo() as a transaction (hld-lru-feed IdempotencyCache), resumable \
             chunks (hld-chunker) to an object store, VideoDedupService (hld-bloom), \
             MetadataService on an hld-consistent-hash ring with a hot-video cache, \
             bounded queues to Encoder / ThumbnailGenerator threads with breakers and \
             backoff (hld-ratelimit)",
        );
        t.row(
            "uploads: originals / re-uploads (exact, trimmed, intro) / remixes",
            format!(
                "{} / {} ({}, {}, {}) / {}",
                kinds[0],
                kinds[1] + kinds[2] + kinds[3],
                kinds[1],
                kinds[2],
                kinds[3],
                kinds[4]
            ),
        )
        .row(
            "video bytes / chunk bytes sent (resent after drops)",
            format!(
                "{} / {} ({})",
                bytes(file_bytes as f64),
                bytes(sent as f64),
                bytes(resent as f64)
            ),
        )
        .row(
            "connection drops / resumes from the last acked chunk",
            format!("{drops} / {resumes} ({mid} mid-file)"),
        )
        .row(
            "accepted videos stored byte-identical to the file",
            format!("{} of {}", accepted - stored_mismatches, accepted),
        )
        .row(
            "retried calls answered from the idempotency cache",
            format!(
                "{retries_answered} ({} in flight, {} done, {} finish)",
                api.retried_in_flight, api.answered_done, api.finish_answered_done
            ),
        )
        .row(
            "jobs created / accepted uploads / txns with two answers",
            format!(
                "{} / {} / {}",
                api.jobs,
                accepted,
                self.conflicting_answers()
            ),
        )
        .row(
            "txn id reused for another video: refused",
            format!("{txn_reuse_refused} of {}", kinds[5]),
        )
        .row(
            "re-uploads rejected by VideoDedupService / false rejections",
            format!("{caught} of {reuploads} / {false_rejections}"),
        )
        .row(
            "dedup: chunk lookups skipped by the Bloom filter",
            format!(
                "{:.1}% of {} ({} false positives)",
                100.0 * dstats.bloom_skipped as f64 / dstats.chunks.max(1) as f64,
                dstats.chunks,
                dstats.bloom_false_positives
            ),
        )
        .row(
            "original storage: blob bytes / distinct chunk bytes",
            format!(
                "{} / {}",
                bytes(ostats.blob_bytes as f64),
                bytes(self.store.chunk_bytes() as f64)
            ),
        )
        .row(
            "transcoded storage (3 renditions + thumbnails)",
            bytes(self.transcoded.bytes() as f64),
        )
        .row(
            "queues (encode, thumbnail): capacity / high water",
            format!(
                "{} / {}, {}",
                cfg.queue_capacity, qs[0].high_water, qs[1].high_water
            ),
        )
        .row(
            "back pressure: pushes that waited / producer wait (wall)",
            format!(
                "{} / {}",
                qs[0].waits + qs[1].waits,
                ms(qs[0].waited + qs[1].waited)
            ),
        )
        .row(
            "jobs lost or repeated / dead letters",
            format!("{lost_or_repeated} / {dead}"),
        )
        .row(
            "workers: encoders / thumbnailers / transcoders (1 failing)",
            format!(
                "{} / {} / {}",
                cfg.encoders, cfg.thumbnailers, cfg.transcoders
            ),
        )
        .row(
            "calls to the failing transcoder / refused by breakers",
            format!("{failing_calls} / {refusals} ({} trips)", calls.trips),
        )
        .row(
            "retries / backoff waited / time in failed calls (sim)",
            format!(
                "{} / {} / {}",
                calls.retries,
                sim_s(calls.backoff_ns),
                sim_s(calls.failed_call_ns)
            ),
        )
        .row(
            "transcoder calls per task: mean / most",
            format!(
                "{:.2} / {}",
                self.processed
                    .iter()
                    .map(|p| p.attempts as f64)
                    .sum::<f64>()
                    / self.processed.len().max(1) as f64,
                self.processed.iter().map(|p| p.attempts).max().unwrap_or(0)
            ),
        )
        .row(
            "replay, 1 worker: failing-transcoder calls, breaker / none",
            format!(
                "{} / {} (time lost {} / {})",
                replay.0.calls_to_failing,
                replay.1.calls_to_failing,
                sim_s(replay.0.lost_ns),
                sim_s(replay.1.lost_ns)
            ),
        )
        .row(
            "metadata rows per shard, max/mean: by video id / by uploader",
            format!(
                "{:.2}x / {:.2}x ({} shards; top uploader {} videos)",
                skew(&by_video),
                skew(&by_user),
                shards,
                top_user
            ),
        )
        .row(
            "watch-page reads / hot-video cache hit ratio",
            format!(
                "{} / {:.1}% ({} rows cached)",
                self.reads.reads,
                100.0 * hit_ratio,
                cfg.hot_cache
            ),
        )
        .row(
            "busiest shard's reads: no cache / with cache",
            format!(
                "{} / {}",
                self.reads.per_shard_uncached.iter().max().unwrap_or(&0),
                self.reads.per_shard_cached.iter().max().unwrap_or(&0)
            ),
        )
        .row(
            "uploadVideo p50 / p99 (wall)",
            format!(
                "{} / {}",
                us(percentile(&mut lat_up, 50.0)),
                us(percentile(&mut lat_up, 99.0))
            ),
        )
        .row(
            "chunk PUT p50 / p99 (wall)",
            format!(
                "{} / {}",
                us(percentile(&mut lat_put, 50.0)),
                us(percentile(&mut lat_put, 99.0))
            ),
        )
        .row(
            "finishUpload p50 / p99 (wall, incl. waiting for room)",
            format!(
                "{} / {}",
                us(percentile(&mut lat_fin, 50.0)),
                ms(percentile(&mut lat_fin, 99.0))
            ),
        )
        .row(
            "job, queued -> done p50 / p99 (wall)",
            format!(
                "{} / {}",
                ms(percentile(&mut lat_job, 50.0)),
                ms(percentile(&mut lat_job, 99.0))
            ),
        )
        .row(
            "metadata read p50 / p99 (wall)",
            format!(
                "{} / {} ({})",
                us(percentile(&mut lat_read, 50.0)),
                us(percentile(&mut lat_read, 99.0)),
                per_second(self.reads.reads, self.reads.wall)
            ),
        )
        .row(
            "upload phase, simulated / wall; whole run, wall",
            format!(
                "{} / {}, {}",
                sim_s(self.sim_ns),
                ms(self.upload_wall),
                ms(self.total_wall)
            ),
        )
        .row(
            "ingest throughput (wall)",
            format!(
                "{}/s",
                bytes(sent as f64 / self.upload_wall.as_secs_f64().max(1e-9))
            ),
        );

        Report {
            table: t,
            uploads: self.clients.len(),
            accepted,
            reuploads,
            reuploads_caught: caught,
            false_rejections,
            txn_reuse_refused,
            drops,
            mid_file_resumes: mid,
            stored_mismatches,
            retries_answered,
            jobs: api.jobs,
            conflicting_answers: self.conflicting_answers(),
            queue_capacity: cfg.queue_capacity,
            queue_high_water: qs.iter().map(|q| q.high_water).max().unwrap_or(0),
            jobs_lost_or_repeated: lost_or_repeated,
            dead_letters: dead,
            failing_transcoder_calls: failing_calls,
            breaker_refusals: refusals,
            cache_hit_ratio: hit_ratio,
        }
    }
}

/// One worker's transcoder calls for a job list, replayed.
#[derive(Clone, Copy, Debug, Default)]
struct Replay {
    calls_to_failing: u64,
    /// Simulated time in failed calls and backoff waits.
    lost_ns: u64,
}

/// The run's jobs (both tasks, in job order) replayed by one worker with
/// breakers and without: what the breakers save, deterministically.
fn replay_breakers(sim: &Simulation) -> (Replay, Replay) {
    let jobs: Vec<(JobId, u64)> = sim
        .api
        .jobs
        .iter()
        .map(|(&j, &(_, len))| (j, len))
        .collect();
    let with = replay(&sim.cfg, &jobs);
    let without = replay(
        &Config {
            breaker: None,
            ..sim.cfg.clone()
        },
        &jobs,
    );
    (with, without)
}

fn replay(cfg: &Config, jobs: &[(JobId, u64)]) -> Replay {
    let farm = TranscoderFarm::new(cfg).expect("validated");
    let mut client = TranscoderClient::new(&farm, cfg, cfg.seed).expect("validated");
    for &(job, len) in jobs {
        for task in [Task::Encode, Task::Thumbnails] {
            // A dead letter here would be one in the live run too, which
            // the report counts.
            let _ = client.transcode(job, task, len);
        }
    }
    let s = client.stats();
    Replay {
        calls_to_failing: cfg.failing_transcoder.map_or(0, |f| farm.calls()[f]),
        lost_ns: s.backoff_ns + s.failed_call_ns,
    }
}

/// Runs the system on `cfg`; a configuration the cores refuse is an `Err`.
pub fn try_run(cfg: &Config) -> Result<Report, SetupError> {
    Ok(simulate(cfg)?.report())
}

/// Runs the system on `cfg` and reports (panics on a configuration the cores
/// refuse: see [`try_run`]).
pub fn run(cfg: &Config) -> Report {
    try_run(cfg).unwrap_or_else(|e| panic!("youtube: bad config: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::sync::OnceLock;

    /// A small, lossy world: 80 uploads of 96-256 KiB in 4 KiB chunks, 2%
    /// of requests and 2% of responses lost, many re-uploads, retries and
    /// double clicks, and queues of 2. (Whether the producer waits here is
    /// up to the threads' timing; `a_full_queue_makes_the_producer_wait`
    /// checks back pressure deterministically.)
    fn small() -> Config {
        Config {
            uploads: 80,
            concurrent_uploads: 8,
            uploaders: 12,
            video_len: (96 << 10, 256 << 10),
            chunk_sizes: (1024, 4096, 16384),
            read_size: 8 << 10,
            exact_copies: 0.08,
            trimmed_copies: 0.08,
            intro_copies: 0.08,
            remixes: 0.08,
            reused_txns: 0.06,
            double_clicks: 0.3,
            request_loss: 0.02,
            response_loss: 0.02,
            queue_capacity: 2,
            time_scale: 4_000,
            reads: 20_000,
            hot_cache: 8,
            ..Config::default()
        }
    }

    /// One run of `small()` shared by the tests that only look at it.
    fn sim() -> &'static Simulation {
        static SIM: OnceLock<Simulation> = OnceLock::new();
        SIM.get_or_init(|| simulate(&small()).expect("valid config"))
    }

    fn cdc(cfg: &Config) -> FastCdc {
        let (min, avg, max) = cfg.chunk_sizes;
        FastCdc::new(min, avg, max).unwrap()
    }

    /// Every accepted video's stored bytes are the client's file, and its
    /// manifest is the file's own chunking from scratch: an upload resumed
    /// after drops (with chunks resent) stored exactly what an uninterrupted
    /// one would have.
    #[test]
    fn interrupted_and_resumed_uploads_store_identical_bytes() {
        let s = sim();
        let cdc = cdc(&s.cfg);
        let mut resumed = 0;
        let mut resent = 0;
        let mut checked = 0;
        for (c, video, _) in s.accepted() {
            let file = c.spec.bytes(&s.specs);
            assert_eq!(
                s.store.read(video).expect("stored"),
                file,
                "upload {} stored other bytes",
                c.spec.index
            );
            assert_eq!(
                *s.store.manifest(video).expect("a manifest"),
                Manifest::new(&cdc, &file),
                "upload {} chunked differently",
                c.spec.index
            );
            checked += 1;
            resumed += usize::from(c.stats.mid_file_resumes > 0);
            resent += usize::from(c.stats.bytes_resent > 0);
        }
        assert!(checked > 40, "{checked} accepted uploads");
        assert!(resumed >= 10, "only {resumed} uploads resumed mid-file");
        assert!(resent >= 5, "only {resent} uploads resent a chunk");
    }

    /// A session commits a chunk only at its committed end: a chunk sent
    /// twice, or one sent ahead, is answered with the committed length and
    /// stored once; a chunk whose bytes do not match its fingerprint, or one
    /// past the declared length, is refused.
    #[test]
    fn the_object_store_commits_each_chunk_once() {
        let store = ObjectStore::new(16);
        let session = store.create_session(7, 10);
        let put = |offset: u64, bytes: &[u8]| {
            store.put_chunk(PutChunk {
                session,
                offset,
                fingerprint: Fingerprint::of(bytes),
                bytes,
            })
        };
        assert_eq!(put(0, b"abcd"), Ok(ChunkAck { committed: 4 }));
        assert_eq!(put(0, b"abcd"), Ok(ChunkAck { committed: 4 })); // resent
        assert_eq!(put(8, b"ij"), Ok(ChunkAck { committed: 4 })); // ahead
        assert_eq!(
            put(4, b"efghijk"),
            Err(StoreError::TooLong { expected: 10 })
        );
        let corrupt = store.put_chunk(PutChunk {
            session,
            offset: 4,
            fingerprint: Fingerprint::of(b"efgh"),
            bytes: b"efgX",
        });
        assert_eq!(corrupt, Err(StoreError::Corrupt { offset: 4 }));
        assert_eq!(
            store.sealed_manifest(session),
            Err(StoreError::Incomplete {
                committed: 4,
                expected: 10
            })
        );
        assert_eq!(put(4, b"efghij"), Ok(ChunkAck { committed: 10 }));
        let st = store.stats();
        assert_eq!((st.repeated_puts, st.out_of_order_puts), (1, 1));
        store.commit(session).unwrap();
        assert_eq!(store.read(7).unwrap(), b"abcdefghij");
        assert_eq!(store.chunk_bytes(), 10);
        assert_eq!(store.status(session), Err(StoreError::NoSession));
    }

    /// The answers every client got, per transaction, all agree (one video,
    /// one outcome), and the jobs are exactly the accepted uploads of the
    /// workload: one each, though many calls were retries.
    #[test]
    fn retries_never_create_a_second_job() {
        let s = sim();
        assert_eq!(s.conflicting_answers(), 0);
        // The oracle: the workload's originals and remixes are the videos
        // that must get a job, nothing else.
        let expected: BTreeSet<usize> = s
            .specs
            .iter()
            .filter(|sp| matches!(sp.kind, Kind::Original | Kind::Remix { .. }))
            .map(|sp| sp.index)
            .collect();
        let mut jobs_seen: BTreeMap<JobId, usize> = BTreeMap::new();
        for c in &s.clients {
            let jobs: BTreeSet<JobId> = c
                .answers
                .iter()
                .filter_map(|a| match a {
                    Answer::Outcome(UploadOutcome::Accepted { job, .. }) => Some(*job),
                    _ => None,
                })
                .collect();
            assert!(jobs.len() <= 1, "upload {} got jobs {jobs:?}", c.spec.index);
            assert_eq!(
                jobs.len() == 1,
                expected.contains(&c.spec.index),
                "upload {} ({:?})",
                c.spec.index,
                c.spec.kind
            );
            for j in jobs {
                assert!(jobs_seen.insert(j, c.spec.index).is_none(), "job {j} twice");
            }
        }
        let created: Vec<JobId> = s.api.jobs.keys().copied().collect();
        assert_eq!(created, jobs_seen.keys().copied().collect::<Vec<_>>());
        // Retries really happened: answered from the cache, not redone.
        let a = s.api.stats;
        assert!(
            a.answered_done + a.finish_answered_done + a.retried_in_flight >= 10,
            "{a:?}"
        );
        assert_eq!(a.started as usize, s.api.next_video as usize - 1);
        let with_ticket = s
            .clients
            .iter()
            .filter(|c| c.answers.iter().any(|a| matches!(a, Answer::Ticket(_))))
            .count();
        assert_eq!(a.started as usize, with_ticket, "one video per transaction");
        for q in &s.queues {
            let pushed: Vec<JobId> = q
                .log()
                .iter()
                .filter_map(|op| match op {
                    QueueOp::Push(j) => Some(*j),
                    QueueOp::Pop(_) => None,
                })
                .collect();
            assert_eq!(pushed, created, "each job pushed once, in order");
        }
    }

    /// Every re-upload (exact, trimmed, with an intro) is rejected as a copy
    /// of the very video it copies; no original or remix is rejected.
    #[test]
    fn a_duplicate_video_is_detected() {
        let s = sim();
        let mut kinds = [0; 3];
        for c in &s.clients {
            if matches!(c.spec.kind, Kind::ReusedTxn { .. }) {
                continue;
            }
            match c.spec.duplicate_of() {
                Some(src) => {
                    let of = s.video_of(src).expect("the source has a video");
                    assert!(
                        matches!(c.outcome(), Some(UploadOutcome::Duplicate { of: o, .. }) if o == of),
                        "upload {} ({:?}) got {:?}",
                        c.spec.index,
                        c.spec.kind,
                        c.outcome()
                    );
                    let k = match c.spec.kind {
                        Kind::ExactCopy { .. } => 0,
                        Kind::Trimmed { .. } => 1,
                        _ => 2,
                    };
                    kinds[k] += 1;
                }
                None => assert!(
                    matches!(c.outcome(), Some(UploadOutcome::Accepted { .. })),
                    "upload {} ({:?}) got {:?}",
                    c.spec.index,
                    c.spec.kind,
                    c.outcome()
                ),
            }
        }
        assert!(
            kinds.iter().all(|&k| k >= 2),
            "re-uploads by kind: {kinds:?}"
        );
        let remixes = s
            .clients
            .iter()
            .filter(|c| matches!(c.spec.kind, Kind::Remix { .. }))
            .count();
        assert!(remixes >= 2);
        // A rejected upload leaves nothing behind: its session is gone and
        // no blob was made.
        for c in &s.clients {
            if let Some(UploadOutcome::Duplicate { video, .. }) = c.outcome() {
                assert_eq!(s.store.read(video), Err(StoreError::NoBlob));
            }
        }
    }

    /// Replays each queue's log (every push and pop in the order the queue
    /// did them): it never held more than its capacity, every job pushed was
    /// popped exactly once, and each job's outputs are in transcoded storage,
    /// written once, equal to encoding the client's own file.
    #[test]
    fn the_queue_never_exceeds_its_bound_and_loses_no_job() {
        let s = sim();
        let cap = s.cfg.queue_capacity;
        for q in &s.queues {
            let mut depth = 0usize;
            let mut inside: BTreeSet<JobId> = BTreeSet::new();
            let mut popped: BTreeSet<JobId> = BTreeSet::new();
            let mut high = 0;
            for op in q.log() {
                match op {
                    QueueOp::Push(j) => {
                        depth += 1;
                        assert!(inside.insert(j), "job {j} pushed twice");
                    }
                    QueueOp::Pop(j) => {
                        depth -= 1;
                        assert!(inside.remove(&j), "job {j} popped but not inside");
                        assert!(popped.insert(j), "job {j} popped twice");
                    }
                }
                assert!(depth <= cap, "depth {depth} over capacity {cap}");
                high = high.max(depth);
            }
            assert!(inside.is_empty(), "jobs left behind: {inside:?}");
            assert_eq!(popped, s.api.jobs.keys().copied().collect());
            assert_eq!(high, q.stats().high_water);
            assert_eq!(q.len(), 0);
        }
        assert!(s.workers.iter().all(|w| w.dead.is_empty()));
        let by_video: HashMap<VideoId, &ClientRecord> =
            s.accepted().map(|(c, v, _)| (v, c)).collect();
        for (&job, &(video, _)) in &s.api.jobs {
            let file = by_video[&video].spec.bytes(&s.specs);
            let (v, out, writes) = s.transcoded.get(job, Task::Encode).expect("encoded");
            assert_eq!((v, writes), (video, 1));
            assert_eq!(out, Output::Renditions(Encoder::encode(&file)));
            let (v, out, writes) = s.transcoded.get(job, Task::Thumbnails).expect("thumbnails");
            assert_eq!((v, writes), (video, 1));
            assert_eq!(out, Output::Thumbnails(ThumbnailGenerator::generate(&file)));
        }
        assert_eq!(s.transcoded.len(), 2 * s.api.jobs.len());
        assert_eq!(s.processed.len(), 2 * s.api.jobs.len());
    }

    /// Waits (up to 10 s) until a producer is blocked in `push`.
    fn wait_for_a_blocked_push(q: &JobQueue) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while q.pushers_waiting() == 0 {
            assert!(
                Instant::now() < deadline,
                "the push into a full queue did not wait"
            );
            thread::yield_now();
        }
    }

    /// With the workers held back, a push into a full queue waits until a
    /// pop makes room; closing wakes a waiting producer with its job back.
    #[test]
    fn a_full_queue_makes_the_producer_wait() {
        let job = |j: JobId| TranscodeJob {
            job: j,
            video: j,
            len: 1,
            enqueued: Instant::now(),
        };
        let q = JobQueue::new(2).unwrap();
        q.push(job(1)).unwrap();
        q.push(job(2)).unwrap();
        thread::scope(|s| {
            let producer = s.spawn(|| q.push(job(3)));
            wait_for_a_blocked_push(&q);
            assert_eq!(q.len(), 2, "the third job must wait");
            assert_eq!(q.pop().map(|j| j.job), Some(1));
            producer.join().unwrap().unwrap();
        });
        assert_eq!(
            q.log(),
            [
                QueueOp::Push(1),
                QueueOp::Push(2),
                QueueOp::Pop(1),
                QueueOp::Push(3)
            ]
        );
        assert_eq!(q.stats().waits, 1);
        thread::scope(|s| {
            let producer = s.spawn(|| q.push(job(4)));
            wait_for_a_blocked_push(&q);
            q.close();
            assert_eq!(producer.join().unwrap().map_err(|j| j.job), Err(4));
        });
        assert_eq!(q.pop().map(|j| j.job), Some(2));
        assert_eq!(q.pop().map(|j| j.job), Some(3));
        assert!(q.pop().is_none());
    }

    /// One worker, 300 jobs, a transcoder that always times out: with
    /// breakers it is called at most `min_calls` times plus one probe per
    /// cool-down; without, about a quarter of all first calls go to it. Every
    /// job still gets done, and every backoff wait lies in `[0, min(cap,
    /// base * 2^attempt)]` with the jitter spread over that range.
    #[test]
    fn the_circuit_breaker_stops_calls_to_a_failing_transcoder() {
        let cfg = Config::default();
        let b = cfg.breaker.unwrap();
        let jobs: Vec<(JobId, u64)> = (1..=300).map(|j| (j, 512 << 10)).collect();
        let run = |cfg: &Config| {
            let farm = TranscoderFarm::new(cfg).unwrap();
            let mut client = TranscoderClient::new(&farm, cfg, 7).unwrap();
            for &(job, len) in &jobs {
                for task in [Task::Encode, Task::Thumbnails] {
                    client
                        .transcode(job, task, len)
                        .expect("a healthy transcoder takes it");
                }
            }
            let failing = farm.calls()[cfg.failing_transcoder.unwrap()];
            (failing, client.now(), client.stats().clone())
        };
        let (with, elapsed, stats) = run(&cfg);
        let (without, elapsed_without, stats_without) = run(&Config {
            breaker: None,
            ..cfg.clone()
        });
        let bound = b.min_calls as u64 + b.probes as u64 * (elapsed / b.cool_down_ns + 1);
        assert!(with <= bound, "{with} calls, bound {bound}");
        assert!(without >= 600 / 4, "{without} calls without breakers");
        assert!(with * 5 < without, "{with} vs {without}");
        assert!(elapsed < elapsed_without);
        assert!(stats.refused[cfg.failing_transcoder.unwrap()] > 0);
        assert_eq!(stats_without.refused.iter().sum::<u64>(), 0);
        let (base, cap) = (cfg.retry_backoff_ms.0 * MS, cfg.retry_backoff_ms.1 * MS);
        let mut ratio = 0.0;
        for &(attempt, delay) in stats.waits.iter().chain(&stats_without.waits) {
            let ceiling = base.saturating_mul(1u64 << attempt.min(40)).min(cap);
            assert!(delay <= ceiling, "attempt {attempt}: {delay} > {ceiling}");
            ratio += delay as f64 / ceiling as f64;
        }
        let n = stats.waits.len() + stats_without.waits.len();
        let mean = ratio / n as f64;
        assert!(
            n > 50 && (0.35..0.65).contains(&mean),
            "{n} waits, mean {mean}"
        );
    }

    /// A client that reuses a finished upload's txn id for another video is
    /// refused with the idempotency cache's typed error, and gets nothing.
    #[test]
    fn a_reused_txn_id_is_refused() {
        let s = sim();
        let reused: Vec<&ClientRecord> = s
            .clients
            .iter()
            .filter(|c| matches!(c.spec.kind, Kind::ReusedTxn { .. }))
            .collect();
        assert!(reused.len() >= 2);
        for c in reused {
            assert_eq!(
                c.answers,
                [Answer::Error(ApiError::TxnReused { txn: c.spec.txn })],
                "upload {}",
                c.spec.index
            );
        }
        assert_eq!(
            s.api.stats.txn_reused as usize,
            s.clients
                .iter()
                .map(|c| c
                    .answers
                    .iter()
                    .filter(|a| matches!(a, Answer::Error(ApiError::TxnReused { .. })))
                    .count())
                .sum::<usize>()
        );
    }

    /// Every metadata row lives on the shard a ring built from scratch
    /// names, holds the status the client's answer implies, and the
    /// watch-page reads through the cache returned the right rows.
    #[test]
    fn metadata_is_sharded_by_video_id_and_reads_return_the_row() {
        let s = sim();
        let mut ring = HashRing::new(s.cfg.vnodes).unwrap();
        for shard in 0..s.cfg.metadata_shards {
            ring.add(shard);
        }
        let db = s.api.metadata.db();
        let mut rows = 0;
        for (i, shard) in db.shards().iter().enumerate() {
            for (video, row) in &shard.rows {
                assert_eq!(*ring.node_for(video).unwrap() as usize, i);
                assert_eq!(row.video, *video);
                rows += 1;
            }
        }
        let mut expected_rows = 0;
        for c in &s.clients {
            let Some(video) = s.video_of(c.spec.index) else {
                continue;
            };
            expected_rows += 1;
            let row = db.row(video).expect("a row per video");
            assert_eq!(row.uploader, c.spec.user);
            assert_eq!(row.len, c.spec.bytes(&s.specs).len() as u64);
            let want = match c.outcome() {
                Some(UploadOutcome::Accepted { job, .. }) => VideoStatus::Ready { job },
                Some(UploadOutcome::Duplicate { of, .. }) => {
                    VideoStatus::Rejected { duplicate_of: of }
                }
                None => VideoStatus::Uploading,
            };
            assert_eq!(row.status, want, "upload {}", c.spec.index);
        }
        assert_eq!(rows, expected_rows);
        assert_eq!(s.reads.reads, s.cfg.reads);
        assert_eq!(s.reads.wrong, 0);
        assert!(s.api.metadata.cache_stats().hits > 0);
    }

    /// The report's numbers agree with the checks above.
    #[test]
    fn the_report_is_clean() {
        let r = sim().report();
        assert_eq!(r.reuploads_caught, r.reuploads);
        assert_eq!(r.false_rejections, 0);
        assert_eq!(r.stored_mismatches, 0);
        assert_eq!(r.conflicting_answers, 0);
        assert_eq!(r.jobs_lost_or_repeated, 0);
        assert_eq!(r.dead_letters, 0);
        assert_eq!(r.jobs as usize, r.accepted);
        assert!(r.queue_high_water <= r.queue_capacity);
        assert!(r.txn_reuse_refused >= 2);
        assert!(r.drops > 0 && r.mid_file_resumes > 0 && r.retries_answered > 0);
        assert!(r.failing_transcoder_calls > 0 && r.breaker_refusals > 0);
        assert_eq!(r.uploads, small().uploads);
        assert!(r.cache_hit_ratio > 0.3, "{}", r.cache_hit_ratio);
        assert!(r.table.rows.len() > 20);
    }

    /// Settings the cores refuse come back as their typed errors.
    #[test]
    fn bad_configs_are_typed_errors() {
        let bad = |f: fn(&mut Config)| {
            let mut c = small();
            c.uploads = 4;
            f(&mut c);
            try_run(&c).err().expect("refused")
        };
        assert!(matches!(
            bad(|c| c.chunk_sizes = (1024, 4095, 16384)),
            SetupError::Chunker(_)
        ));
        assert!(matches!(
            bad(|c| c.hot_cache = 0),
            SetupError::Cache(lru_feed::Error::ZeroCapacity)
        ));
        assert!(matches!(
            bad(|c| c.txn_ttl_s = 0),
            SetupError::Cache(lru_feed::Error::ZeroTtl)
        ));
        assert!(matches!(
            bad(|c| c.bloom_fp_rate = 0.0),
            SetupError::Bloom(_)
        ));
        assert!(matches!(
            bad(|c| c.breaker = Some(BreakerConfig {
                failure_ratio: 0.0,
                ..BreakerConfig::default()
            })),
            SetupError::Resilience(_)
        ));
        assert!(matches!(
            bad(|c| c.retry_backoff_ms = (10, 1)),
            SetupError::Resilience(_)
        ));
        assert!(matches!(bad(|c| c.vnodes = 0), SetupError::Ring(_)));
        assert!(matches!(
            bad(|c| c.queue_capacity = 0),
            SetupError::Config(_)
        ));
        assert!(matches!(
            bad(|c| c.failing_transcoder = Some(9)),
            SetupError::Config(_)
        ));
    }
}
