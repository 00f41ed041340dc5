//! Bytes for the structures a system rebuilds after a crash: the ring's
//! configuration and AnchorHash's removal history.
//!
//! Format (all integers little-endian):
//!
//! ```text
//! magic   4 bytes   "HLDR" (HashRing) or "HLDA" (AnchorHash)
//! version u8        1
//! body              see below
//! check   u64       XXH3-64 (seed 0) of every byte before it
//! ```
//!
//! - HashRing body: `vnodes_per_node u32, seed u64, count u32`, then per node
//!   `weight u32, len u32, len bytes` (the node's [`NodeCodec`] encoding).
//!   Points are not stored: they are recomputed, and come out identical
//!   because placement depends only on this configuration.
//! - AnchorHash body: `capacity u32, seed u64, removed u32, removed x u32`
//!   (the removal stack, oldest first), then for each working bucket in
//!   increasing order `len u32, len bytes`. Loading replays the removals on a
//!   full anchor, so no byte pattern can produce an inconsistent state.
//!
//! Any corruption, truncation, trailing byte or invalid content is an `Err`.

use crate::anchor::AnchorHash;
use crate::ring::HashRing;
use crate::stable::{hash_bytes, stable_hash};
use crate::Error;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const VERSION: u8 = 1;
const RING_MAGIC: &[u8; 4] = b"HLDR";
const ANCHOR_MAGIC: &[u8; 4] = b"HLDA";

/// How a node is written to bytes for [`HashRing::to_bytes`] and
/// [`AnchorHash::to_bytes`]. Implemented for strings, byte vectors, integers
/// and socket/IP addresses; implement it for your own node type.
pub trait NodeCodec: Sized {
    /// Appends the node's encoding to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// The node from exactly the bytes `encode` wrote; `None` if invalid.
    fn decode(bytes: &[u8]) -> Option<Self>;
}

impl NodeCodec for String {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(bytes: &[u8]) -> Option<String> {
        String::from_utf8(bytes.to_vec()).ok()
    }
}

impl NodeCodec for Vec<u8> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn decode(bytes: &[u8]) -> Option<Vec<u8>> {
        Some(bytes.to_vec())
    }
}

macro_rules! int_codec {
    ($($t:ty),*) => {$(
        impl NodeCodec for $t {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn decode(bytes: &[u8]) -> Option<$t> {
                Some(<$t>::from_le_bytes(bytes.try_into().ok()?))
            }
        }
    )*};
}
int_codec!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128);

impl NodeCodec for usize {
    /// As a `u64`, so the bytes are the same on every platform.
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as u64).encode(out);
    }
    fn decode(bytes: &[u8]) -> Option<usize> {
        usize::try_from(u64::decode(bytes)?).ok()
    }
}

impl NodeCodec for Ipv4Addr {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.octets());
    }
    fn decode(bytes: &[u8]) -> Option<Ipv4Addr> {
        Some(Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?))
    }
}

impl NodeCodec for Ipv6Addr {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.octets());
    }
    fn decode(bytes: &[u8]) -> Option<Ipv6Addr> {
        Some(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?))
    }
}

impl NodeCodec for IpAddr {
    /// 4 or 16 octets: the length tells the family.
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            IpAddr::V4(a) => a.encode(out),
            IpAddr::V6(a) => a.encode(out),
        }
    }
    fn decode(bytes: &[u8]) -> Option<IpAddr> {
        match bytes.len() {
            4 => Some(IpAddr::V4(Ipv4Addr::decode(bytes)?)),
            16 => Some(IpAddr::V6(Ipv6Addr::decode(bytes)?)),
            _ => None,
        }
    }
}

impl NodeCodec for SocketAddr {
    /// The IP's octets then the port (u16 little-endian). IPv6 flow info and
    /// scope id are not kept.
    fn encode(&self, out: &mut Vec<u8>) {
        self.ip().encode(out);
        out.extend_from_slice(&self.port().to_le_bytes());
    }
    fn decode(bytes: &[u8]) -> Option<SocketAddr> {
        let (ip, port) = bytes.split_at_checked(bytes.len().checked_sub(2)?)?;
        Some(SocketAddr::new(
            IpAddr::decode(ip)?,
            u16::from_le_bytes(port.try_into().ok()?),
        ))
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let (head, rest) = self
            .bytes
            .split_at_checked(n)
            .ok_or(Error::Corrupt("truncated"))?;
        self.bytes = rest;
        Ok(head)
    }
    fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().unwrap_or_default(),
        ))
    }
    fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().unwrap_or_default(),
        ))
    }
    fn node<N: NodeCodec>(&mut self) -> Result<N, Error> {
        let len = self.u32()? as usize;
        N::decode(self.take(len)?).ok_or(Error::Corrupt("a node does not decode"))
    }
}

fn frame(magic: &[u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(magic);
    out.push(VERSION);
    out
}

fn seal(mut out: Vec<u8>) -> Vec<u8> {
    let check = hash_bytes(&out, 0);
    out.extend_from_slice(&check.to_le_bytes());
    out
}

/// Checks magic, version and checksum; returns a reader over the body.
fn open<'a>(bytes: &'a [u8], magic: &[u8; 4]) -> Result<Reader<'a>, Error> {
    if bytes.len() < 4 + 1 + 8 {
        return Err(Error::Corrupt("truncated"));
    }
    let (content, check) = bytes.split_at(bytes.len() - 8);
    let want = u64::from_le_bytes(check.try_into().unwrap_or_default());
    if hash_bytes(content, 0) != want {
        return Err(Error::Corrupt("checksum mismatch"));
    }
    if &content[..4] != magic {
        return Err(Error::Corrupt("wrong magic"));
    }
    if content[4] != VERSION {
        return Err(Error::Corrupt("unknown version"));
    }
    Ok(Reader {
        bytes: &content[5..],
    })
}

fn put_node<N: NodeCodec>(out: &mut Vec<u8>, node: &N, scratch: &mut Vec<u8>) {
    scratch.clear();
    node.encode(scratch);
    out.extend_from_slice(&(scratch.len() as u32).to_le_bytes());
    out.extend_from_slice(scratch);
}

impl<N: NodeCodec + Hash + Eq> HashRing<N> {
    /// The ring's configuration (seed, vnodes, nodes and weights) as versioned,
    /// checksummed bytes; see the format in the crate's `persist` docs.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = frame(RING_MAGIC);
        out.extend_from_slice(&(self.vnodes_per_node() as u32).to_le_bytes());
        out.extend_from_slice(&self.seed().to_le_bytes());
        out.extend_from_slice(&(self.len() as u32).to_le_bytes());
        let mut scratch = Vec::new();
        for (node, weight) in self.iter() {
            out.extend_from_slice(&weight.to_le_bytes());
            put_node(&mut out, node, &mut scratch);
        }
        seal(out)
    }

    /// Rebuilds a ring from [`to_bytes`](Self::to_bytes): same placement for
    /// every key. Corrupt, truncated or inconsistent bytes are an `Err`.
    pub fn from_bytes(bytes: &[u8]) -> Result<HashRing<N>, Error> {
        let mut r = open(bytes, RING_MAGIC)?;
        let vnodes = r.u32()?;
        let seed = r.u64()?;
        let count = r.u32()? as usize;
        let mut ring = HashRing::with_seed(vnodes as usize, seed)
            .map_err(|_| Error::Corrupt("bad vnodes_per_node"))?;
        // Each node takes at least 8 bytes: a corrupt count cannot make us
        // reserve more than the input justifies.
        let mut nodes = Vec::with_capacity(count.min(r.bytes.len() / 8));
        for _ in 0..count {
            let weight = r.u32()?;
            let node: N = r.node()?;
            nodes.push((node, weight));
        }
        if !r.bytes.is_empty() {
            return Err(Error::Corrupt("trailing bytes"));
        }
        let added = ring
            .extend_weighted(nodes)
            .map_err(|_| Error::Corrupt("invalid node weight"))?;
        if added != count {
            return Err(Error::Corrupt("duplicate node"));
        }
        Ok(ring)
    }
}

impl<N: NodeCodec + Hash + Eq> AnchorHash<N> {
    /// Capacity, seed, removal history and the node of each working bucket as
    /// versioned, checksummed bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = frame(ANCHOR_MAGIC);
        out.extend_from_slice(&(self.capacity() as u32).to_le_bytes());
        out.extend_from_slice(&self.seed().to_le_bytes());
        let removed = self.removed_buckets();
        out.extend_from_slice(&(removed.len() as u32).to_le_bytes());
        for &b in removed {
            out.extend_from_slice(&b.to_le_bytes());
        }
        let mut scratch = Vec::new();
        for (_, node) in self.iter() {
            put_node(&mut out, node, &mut scratch);
        }
        seal(out)
    }

    /// Rebuilds from [`to_bytes`](Self::to_bytes) by replaying the removals:
    /// the same bucket, hence node, for every key. Corrupt input is an `Err`.
    pub fn from_bytes(bytes: &[u8]) -> Result<AnchorHash<N>, Error> {
        let mut r = open(bytes, ANCHOR_MAGIC)?;
        let capacity = r.u32()? as usize;
        let seed = r.u64()?;
        let mut a: AnchorHash<N> =
            AnchorHash::full(capacity, seed).map_err(|_| Error::Corrupt("bad capacity"))?;
        let removed = r.u32()? as usize;
        if removed > capacity {
            return Err(Error::Corrupt("more removed buckets than capacity"));
        }
        for _ in 0..removed {
            let b = r.u32()?;
            if !a.replay_remove(b) {
                return Err(Error::Corrupt("invalid removal history"));
            }
        }
        let working: Vec<u32> = (0..capacity as u32)
            .filter(|&b| a.bucket_is_working(b))
            .collect();
        for b in working {
            let node: N = r.node()?;
            let h = stable_hash(&node, seed);
            if a.index_has(h) {
                return Err(Error::Corrupt("duplicate node"));
            }
            a.attach(b, node, h);
        }
        if !r.bytes.is_empty() {
            return Err(Error::Corrupt("trailing bytes"));
        }
        Ok(a)
    }
}
