//! AnchorHash (Mendelson, Vargaftik, Barabash, Lorenz, Keslassy, Orda,
//! "AnchorHash: A Scalable Consistent Hash", IEEE/ACM ToN 2020, arXiv:1812.09674).
//!
//! Jump hash can only drop its *last* bucket. AnchorHash fixes a capacity `a`
//! (the "anchor") up front and keeps a working set inside it; any working
//! bucket can be removed and removed buckets can be added back, with:
//! - minimal disruption: removing a bucket moves only its keys, adding one
//!   moves only keys onto it (each about `1/(N+1)` of all keys);
//! - perfect balance: every working bucket gets `1/N` of the keys;
//! - O(1) expected lookup while the working set is a fair share of the
//!   capacity (`1 + ln(a/N)` expected steps, each one hash and two reads);
//! - O(1) updates, and `a` 32-bit words times four of state.
//!
//! Lookup (the paper's `GETBUCKET`): a key's first bucket is `hash mod a`; while
//! that bucket is removed, rehash the key with the bucket's own hash into the
//! working set as it was when the bucket was removed (`A[b]` buckets), and
//! follow the replacement chain `K` past buckets removed even earlier.
//!
//! State is fully determined by the capacity and the stack of removed buckets
//! (an add re-enables the most recently removed bucket and undoes its removal
//! exactly), which is what [`to_bytes`](AnchorHash::to_bytes) stores.

use crate::stable::{fast_range, stable_hash, HashIndex};
use crate::Error;
use std::fmt;
use std::hash::Hash;

/// The per-bucket rehash: wyhash's 64x64->128 multiply-fold ("mum") of the key
/// hash and the bucket number, each xored with a wyhash constant
/// (Wang Yi, wyhash final version 4, `_wyp[0]` and `_wyp[1]`). One multiply,
/// and different for every (key, bucket) pair, which is all GETBUCKET needs.
#[inline]
fn bucket_hash(key_hash: u64, bucket: u32) -> u64 {
    const WYP0: u64 = 0xa076_1d64_78bd_642f;
    const WYP1: u64 = 0xe703_7ed1_a0b4_28db;
    let r = ((key_hash ^ WYP0) as u128) * ((bucket as u64 ^ WYP1) as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

/// Consistent hashing onto a fixed capacity of buckets where any node can be
/// removed: the nodes `N` sit in buckets `0..capacity`.
///
/// ```
/// use hld_consistent_hash::AnchorHash;
///
/// // Room for up to 16 servers; 4 now.
/// let mut servers = AnchorHash::new(16)?;
/// for s in ["db-a", "db-b", "db-c", "db-d"] {
///     servers.add(s)?;
/// }
/// let before = *servers.node_for("user:7").unwrap();
///
/// // Any server can leave, not only the last one; only its keys move.
/// servers.remove(&"db-b");
/// let after = *servers.node_for("user:7").unwrap();
/// assert!(before == "db-b" || after == before);
///
/// // Adding back the most recently removed reuses its bucket: every key returns.
/// servers.add("db-b")?;
/// assert_eq!(*servers.node_for("user:7").unwrap(), before);
/// # Ok::<(), hld_consistent_hash::Error>(())
/// ```
#[derive(Clone)]
pub struct AnchorHash<N> {
    seed: u64,
    // [A[b], K[b]]: read together by lookups. A[b] = 0 for a working bucket,
    // else the working-set size just after b was removed; K[b] = b's successor.
    ak: Vec<[u32; 2]>,
    // W: the working buckets in positions 0..n; L: each bucket's position in W.
    w: Vec<u32>,
    l: Vec<u32>,
    // Removed buckets, most recent on top.
    removed: Vec<u32>,
    n: u32,
    nodes: Vec<Option<N>>,
    index: HashIndex<u32>,
}

impl<N> AnchorHash<N> {
    /// The largest capacity: 2^26 buckets (about 1.6 GiB of state with the
    /// nodes); consistent hashing over more shards than that is rare.
    pub const MAX_CAPACITY: u64 = 1 << 26;

    /// Room for up to `capacity` nodes, none yet; keys hashed with seed 0.
    /// Zero (or more than [`MAX_CAPACITY`](Self::MAX_CAPACITY)) is an `Err`.
    pub fn new(capacity: usize) -> Result<AnchorHash<N>, Error> {
        AnchorHash::with_seed(capacity, 0)
    }

    /// As [`new`](Self::new), with the seed of the key hash.
    pub fn with_seed(capacity: usize, seed: u64) -> Result<AnchorHash<N>, Error> {
        let mut a = AnchorHash::full(capacity, seed)?;
        // The paper's INITANCHOR with no working bucket: removing a-1, ..., 0 in
        // turn from a full anchor, so that adds hand out 0, 1, 2, ...
        for b in (0..capacity as u32).rev() {
            a.remove_bucket_raw(b);
        }
        Ok(a)
    }

    /// Every bucket working (no nodes attached yet): the start of a replay.
    pub(crate) fn full(capacity: usize, seed: u64) -> Result<AnchorHash<N>, Error> {
        if capacity == 0 || capacity as u64 > Self::MAX_CAPACITY {
            return Err(Error::BadCapacity(capacity as u64));
        }
        let a = capacity as u32;
        Ok(AnchorHash {
            seed,
            ak: (0..a).map(|b| [0, b]).collect(),
            w: (0..a).collect(),
            l: (0..a).collect(),
            removed: Vec::with_capacity(capacity),
            n: a,
            nodes: (0..capacity).map(|_| None).collect(),
            index: HashIndex::default(),
        })
    }

    /// The number of buckets, working or not.
    pub fn capacity(&self) -> usize {
        self.ak.len()
    }

    /// The number of nodes (working buckets).
    pub fn len(&self) -> usize {
        self.n as usize
    }

    /// True if there is no node (lookups answer `None`).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The key-hash seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The removed buckets, oldest removal first (the next [`add`](Self::add)
    /// takes the last one).
    pub fn removed_buckets(&self) -> &[u32] {
        &self.removed
    }

    /// The node in bucket `b`, if it is working.
    pub fn node_at(&self, bucket: u32) -> Option<&N> {
        self.nodes.get(bucket as usize)?.as_ref()
    }

    /// `(bucket, node)` for every node, in bucket order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &N)> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(b, n)| n.as_ref().map(|n| (b as u32, n)))
    }

    /// The hash of `key` as this structure sees it (XXH3-64 with its seed).
    #[inline]
    pub fn key_hash<K: Hash + ?Sized>(&self, key: &K) -> u64 {
        stable_hash(key, self.seed)
    }

    /// The node for `key`; `None` when there is no node.
    #[inline]
    pub fn node_for<K: Hash + ?Sized>(&self, key: &K) -> Option<&N> {
        self.node_for_hash(stable_hash(key, self.seed))
    }

    /// The node for a key hash (see [`key_hash`](Self::key_hash)).
    #[inline]
    pub fn node_for_hash(&self, key_hash: u64) -> Option<&N> {
        let b = self.bucket_for_hash(key_hash)?;
        self.nodes[b as usize].as_ref()
    }

    /// The working bucket for `key`; `None` when there is none.
    #[inline]
    pub fn bucket_for<K: Hash + ?Sized>(&self, key: &K) -> Option<u32> {
        self.bucket_for_hash(stable_hash(key, self.seed))
    }

    /// The working bucket for a key hash: the paper's GETBUCKET.
    #[inline]
    pub fn bucket_for_hash(&self, key_hash: u64) -> Option<u32> {
        if self.n == 0 {
            return None;
        }
        let mut b = fast_range(key_hash, self.ak.len() as u32);
        loop {
            let ab = self.ak[b as usize][0];
            if ab == 0 {
                return Some(b);
            }
            // Rehash into the working set as it was when b was removed (size
            // A[b]); a bucket removed before b (A >= A[b]) is replaced by its
            // successor K until one that was still working then.
            let mut h = fast_range(bucket_hash(key_hash, b), ab);
            loop {
                let [ah, kh] = self.ak[h as usize];
                if ah < ab {
                    break;
                }
                h = kh;
            }
            b = h;
        }
    }

    /// Paper's REMOVEBUCKET; `b` must be working.
    fn remove_bucket_raw(&mut self, b: u32) {
        self.removed.push(b);
        self.n -= 1;
        let n = self.n;
        let last = self.w[n as usize];
        let lb = self.l[b as usize];
        self.ak[b as usize] = [n, last];
        self.w[lb as usize] = last;
        self.l[last as usize] = lb;
    }

    /// Paper's ADDBUCKET: re-enables the most recently removed bucket.
    fn add_bucket_raw(&mut self) -> Option<u32> {
        let b = self.removed.pop()?;
        let n = self.n;
        self.ak[b as usize] = [0, b];
        let at_n = self.w[n as usize];
        self.l[at_n as usize] = n;
        self.w[self.l[b as usize] as usize] = b;
        self.n += 1;
        Some(b)
    }

    /// Working in the anchor (a node may not be attached yet during a replay).
    pub(crate) fn bucket_is_working(&self, b: u32) -> bool {
        self.n > 0 && self.ak.get(b as usize).is_some_and(|x| x[0] == 0)
    }

    pub(crate) fn index_has(&self, node_hash: u64) -> bool {
        self.index.contains_key(&node_hash)
    }

    pub(crate) fn replay_remove(&mut self, b: u32) -> bool {
        if (b as usize) >= self.ak.len() || self.ak[b as usize][0] != 0 || self.n == 0 {
            return false;
        }
        // A bucket with A = 0 that is already removed is the one removed when
        // the count reached zero; n == 0 then, caught above.
        self.remove_bucket_raw(b);
        true
    }

    pub(crate) fn attach(&mut self, bucket: u32, node: N, hash: u64) {
        self.nodes[bucket as usize] = Some(node);
        self.index.insert(hash, bucket);
    }
}

impl<N: Hash + Eq> AnchorHash<N> {
    /// The bucket of `node`, if it is present.
    pub fn bucket_of(&self, node: &N) -> Option<u32> {
        let &b = self.index.get(&stable_hash(node, self.seed))?;
        (self.nodes[b as usize].as_ref() == Some(node)).then_some(b)
    }

    /// True if `node` is present.
    pub fn contains(&self, node: &N) -> bool {
        self.bucket_of(node).is_some()
    }

    /// Adds `node` in the most recently freed bucket (a fresh structure hands
    /// out 0, 1, 2, ...): `Ok(true)` if added, `Ok(false)` if already present.
    /// `Err(CapacityExhausted)` when every bucket is in use. O(1).
    pub fn add(&mut self, node: N) -> Result<bool, Error> {
        let h = stable_hash(&node, self.seed);
        if let Some(&b) = self.index.get(&h) {
            return if self.nodes[b as usize].as_ref() == Some(&node) {
                Ok(false)
            } else {
                Err(Error::HashCollision)
            };
        }
        let b = self.add_bucket_raw().ok_or(Error::CapacityExhausted)?;
        self.attach(b, node, h);
        Ok(true)
    }

    /// Removes `node` (any one, not just the last added); true if it was
    /// present. Only its keys move. O(1).
    pub fn remove(&mut self, node: &N) -> bool {
        match self.bucket_of(node) {
            Some(b) => self.remove_bucket(b).is_some(),
            None => false,
        }
    }

    /// Removes the node in bucket `b`, returning it; `None` if `b` is not working.
    pub fn remove_bucket(&mut self, bucket: u32) -> Option<N> {
        let node = self.nodes.get_mut(bucket as usize)?.take()?;
        self.index.remove(&stable_hash(&node, self.seed));
        self.remove_bucket_raw(bucket);
        Some(node)
    }
}

impl<N: fmt::Debug> fmt::Debug for AnchorHash<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnchorHash")
            .field("capacity", &self.ak.len())
            .field("seed", &self.seed)
            .field("nodes", &self.iter().collect::<Vec<_>>())
            .finish()
    }
}

impl<N: PartialEq> PartialEq for AnchorHash<N> {
    /// Same capacity, seed, removal history and nodes per bucket: the same
    /// placement of every key.
    fn eq(&self, other: &AnchorHash<N>) -> bool {
        self.seed == other.seed
            && self.ak.len() == other.ak.len()
            && self.removed == other.removed
            && self.nodes == other.nodes
    }
}

impl<N: Eq> Eq for AnchorHash<N> {}
