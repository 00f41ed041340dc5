//! [`Manifest`]: a file as an ordered list of fingerprinted chunks, and
//! [`ManifestDiff`]: what to upload, and how to rebuild, when it changes.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::cdc::FastCdc;
use crate::error::Error;
use crate::stream::StreamChunker;

/// A chunk's strong content fingerprint: the 32-byte BLAKE3 hash of its bytes.
///
/// Equal fingerprints mean equal bytes (to cryptographic certainty), so a
/// chunk store keyed by fingerprint deduplicates across files, versions and
/// users, and a receiver can verify every chunk it is sent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of `bytes`.
    #[inline]
    pub fn of(bytes: &[u8]) -> Fingerprint {
        Fingerprint(*blake3::hash(bytes).as_bytes())
    }

    /// The 32 raw bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    /// Lower-case hex, 64 digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// One chunk of a [`Manifest`]: where it lies in the file, and its fingerprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ManifestEntry {
    /// Offset of the chunk in the file.
    pub offset: u64,
    /// Length of the chunk in bytes (at least 1).
    pub len: u64,
    /// BLAKE3 of the chunk's bytes.
    pub fingerprint: Fingerprint,
}

impl ManifestEntry {
    /// The offset one past the chunk's last byte.
    #[inline]
    pub fn end(&self) -> u64 {
        self.offset + self.len
    }
}

/// A file described as its chunks, in order, each with a strong fingerprint.
///
/// The Dropbox client of the notes keeps one per file: when the file changes
/// it chunks it again, [`diff`](Manifest::diff)s against the manifest the
/// server holds, uploads only the chunks the server lacks, and sends the new
/// manifest (as [`to_bytes`](Manifest::to_bytes)) for the server and the other
/// clients to rebuild from.
///
/// ```
/// use hld_chunker::{FastCdc, Manifest};
/// let cdc = FastCdc::new(1024, 4096, 16384)?;
/// let old: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
/// let mut new = old.clone();
/// new.splice(150_000..150_000, *b"an edit in the middle");
///
/// let (old_m, new_m) = (Manifest::new(&cdc, &old), Manifest::new(&cdc, &new));
/// let diff = new_m.diff(&old_m);
/// assert!(diff.upload_bytes() < 40_000); // one or two chunks, not 300 KB
///
/// // The server rebuilds the new file from the old one plus the uploads.
/// let uploads: Vec<&[u8]> = diff.upload.iter().map(|e| &new[e.offset as usize..e.end() as usize]).collect();
/// assert_eq!(diff.rebuild(&old, &uploads)?, new);
///
/// let bytes = new_m.to_bytes();
/// assert_eq!(Manifest::from_bytes(&bytes)?, new_m);
/// # Ok::<(), hld_chunker::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    entries: Vec<ManifestEntry>,
    total_len: u64,
}

/// Serialized format: magic, version, count, entries, checksum.
const MAGIC: [u8; 4] = *b"HLDM";
const VERSION: u8 = 1;
/// Magic (4) + version (1) + entry count (8) + total length (8).
const HEADER_LEN: usize = 4 + 1 + 8 + 8;
/// Length (8) + fingerprint (32).
const ENTRY_LEN: usize = 8 + 32;
/// BLAKE3 of everything before it, truncated to 16 bytes: ample to catch
/// corruption (the fingerprints inside protect the content itself).
const CHECKSUM_LEN: usize = 16;

impl Manifest {
    /// The manifest of `data` chunked by `cdc`.
    pub fn new(cdc: &FastCdc, data: &[u8]) -> Manifest {
        let mut m = Manifest::default();
        for c in cdc.chunks(data) {
            let end = c.offset as usize + c.len;
            m.push(&data[c.offset as usize..end]);
        }
        m
    }

    /// The manifest of a stream read piece by piece (for example a file too
    /// large to hold in memory): chunks and fingerprints each piece as it
    /// comes, holding at most `max_size` bytes.
    ///
    /// ```
    /// use hld_chunker::{FastCdc, Manifest};
    /// let cdc = FastCdc::new(256, 1024, 4096)?;
    /// let data = vec![42u8; 10_000];
    /// let streamed = Manifest::from_pieces(&cdc, data.chunks(333));
    /// assert_eq!(streamed, Manifest::new(&cdc, &data));
    /// # Ok::<(), hld_chunker::Error>(())
    /// ```
    pub fn from_pieces<'a, I: IntoIterator<Item = &'a [u8]>>(cdc: &FastCdc, pieces: I) -> Manifest {
        let mut m = Manifest::default();
        let mut stream = StreamChunker::new(*cdc);
        for piece in pieces {
            stream.push_with(piece, |_, bytes| {
                m.push(bytes);
            });
        }
        stream.finish_with(|_, bytes| {
            m.push(bytes);
        });
        m
    }

    /// Appends a chunk with these bytes at the end of the file; returns its
    /// entry. Empty input appends nothing and returns `None`.
    pub fn push(&mut self, chunk_bytes: &[u8]) -> Option<&ManifestEntry> {
        self.push_entry(chunk_bytes.len() as u64, Fingerprint::of(chunk_bytes))
    }

    /// Appends a chunk of `len` bytes with a known fingerprint (computed
    /// elsewhere, or read from a server); `len == 0` appends nothing.
    pub fn push_entry(&mut self, len: u64, fingerprint: Fingerprint) -> Option<&ManifestEntry> {
        if len == 0 {
            return None;
        }
        self.entries.push(ManifestEntry {
            offset: self.total_len,
            len,
            fingerprint,
        });
        self.total_len += len;
        self.entries.last()
    }

    /// Number of chunks.
    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the file is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Length of the whole file in bytes.
    #[inline]
    pub fn total_len(&self) -> u64 {
        self.total_len
    }

    /// The `i`-th chunk.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&ManifestEntry> {
        self.entries.get(i)
    }

    /// The chunks, in file order.
    #[inline]
    pub fn entries(&self) -> &[ManifestEntry] {
        &self.entries
    }

    /// Iterates over the chunks in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, ManifestEntry> {
        self.entries.iter()
    }

    /// The chunk holding byte `offset` of the file (binary search).
    pub fn entry_at(&self, offset: u64) -> Option<&ManifestEntry> {
        let i = self.entries.partition_point(|e| e.end() <= offset);
        self.entries.get(i).filter(|e| e.offset <= offset)
    }

    /// Bytes in distinct chunks: what a deduplicating store keeps for this
    /// file alone.
    pub fn unique_bytes(&self) -> u64 {
        let mut seen = HashSet::with_capacity(self.entries.len());
        self.entries
            .iter()
            .filter(|e| seen.insert(e.fingerprint))
            .map(|e| e.len)
            .sum()
    }

    /// Checks that `data` is exactly the file this manifest describes.
    pub fn verify(&self, data: &[u8]) -> Result<(), Error> {
        if data.len() as u64 != self.total_len {
            return Err(Error::Mismatch(format!(
                "data is {} bytes, manifest says {}",
                data.len(),
                self.total_len
            )));
        }
        for (i, e) in self.entries.iter().enumerate() {
            if Fingerprint::of(&data[e.offset as usize..e.end() as usize]) != e.fingerprint {
                return Err(Error::Mismatch(format!(
                    "chunk {i} at offset {} differs",
                    e.offset
                )));
            }
        }
        Ok(())
    }

    /// Rebuilds the file from a chunk store: `lookup` returns a chunk's bytes
    /// by fingerprint. Every chunk is checked against its length and
    /// fingerprint, so a store that returns wrong bytes is an `Err`, never a
    /// silently corrupt file.
    pub fn reassemble<'s, F>(&self, mut lookup: F) -> Result<Vec<u8>, Error>
    where
        F: FnMut(&Fingerprint) -> Option<&'s [u8]>,
    {
        let mut out = Vec::with_capacity(usize::try_from(self.total_len).unwrap_or(0));
        for (i, e) in self.entries.iter().enumerate() {
            let bytes = lookup(&e.fingerprint).ok_or_else(|| {
                Error::Mismatch(format!("chunk {i} ({}) is missing", e.fingerprint))
            })?;
            check_chunk(i, e, bytes)?;
            out.extend_from_slice(bytes);
        }
        Ok(out)
    }

    /// What changed from `older` to `self`: the chunks to upload (those whose
    /// fingerprint `older` lacks, each once), and the recipe that rebuilds
    /// this file from `older`'s bytes plus those uploads.
    ///
    /// Linear in the number of chunks of both manifests.
    pub fn diff(&self, older: &Manifest) -> ManifestDiff {
        let mut in_old: HashMap<Fingerprint, &ManifestEntry> = HashMap::with_capacity(older.len());
        for e in &older.entries {
            in_old.entry(e.fingerprint).or_insert(e);
        }
        let mut uploaded: HashMap<Fingerprint, usize> = HashMap::new();
        let mut upload = Vec::new();
        let mut recipe: Vec<Piece> = Vec::new();
        for e in &self.entries {
            let piece = match in_old.get(&e.fingerprint) {
                Some(old) => Piece::Old {
                    offset: old.offset,
                    len: e.len,
                },
                None => {
                    let index = *uploaded.entry(e.fingerprint).or_insert_with(|| {
                        upload.push(*e);
                        upload.len() - 1
                    });
                    Piece::New { index }
                }
            };
            // Runs of unchanged chunks become one copy.
            match (recipe.last_mut(), piece) {
                (Some(Piece::Old { offset, len }), Piece::Old { offset: o, len: l })
                    if *offset + *len == o =>
                {
                    *len += l;
                }
                _ => recipe.push(piece),
            }
        }
        ManifestDiff {
            upload,
            recipe,
            total_len: self.total_len,
        }
    }

    /// The manifest as bytes: versioned and checksummed (40 bytes per chunk
    /// plus 37), for a server or a crash-safe local index.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(HEADER_LEN + self.entries.len() * ENTRY_LEN + CHECKSUM_LEN);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.total_len.to_le_bytes());
        for e in &self.entries {
            out.extend_from_slice(&e.len.to_le_bytes());
            out.extend_from_slice(&e.fingerprint.0);
        }
        let sum = blake3::hash(&out);
        out.extend_from_slice(&sum.as_bytes()[..CHECKSUM_LEN]);
        out
    }

    /// Reads a manifest written by [`to_bytes`](Self::to_bytes). Truncated,
    /// corrupted or foreign bytes are an `Err`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Manifest, Error> {
        if bytes.len() < 5 {
            return Err(Error::Truncated);
        }
        if bytes[..4] != MAGIC {
            return Err(Error::BadMagic);
        }
        if bytes[4] != VERSION {
            return Err(Error::UnsupportedVersion(bytes[4]));
        }
        if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
            return Err(Error::Truncated);
        }
        let count = read_u64(&bytes[5..13]);
        let total_len = read_u64(&bytes[13..21]);
        let expected = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(ENTRY_LEN))
            .and_then(|b| b.checked_add(HEADER_LEN + CHECKSUM_LEN))
            .ok_or(Error::Malformed("chunk count overflows"))?;
        if bytes.len() < expected {
            return Err(Error::Truncated);
        }
        if bytes.len() > expected {
            return Err(Error::Malformed("trailing bytes after the checksum"));
        }
        let (body, sum) = bytes.split_at(expected - CHECKSUM_LEN);
        if blake3::hash(body).as_bytes()[..CHECKSUM_LEN] != *sum {
            return Err(Error::ChecksumMismatch);
        }
        let mut m = Manifest {
            entries: Vec::with_capacity(count as usize),
            total_len: 0,
        };
        for raw in body[HEADER_LEN..].chunks_exact(ENTRY_LEN) {
            let len = read_u64(&raw[..8]);
            if len == 0 {
                return Err(Error::Malformed("empty chunk"));
            }
            let end = m
                .total_len
                .checked_add(len)
                .ok_or(Error::Malformed("chunk lengths overflow"))?;
            let mut fp = [0u8; 32];
            fp.copy_from_slice(&raw[8..]);
            m.entries.push(ManifestEntry {
                offset: m.total_len,
                len,
                fingerprint: Fingerprint(fp),
            });
            m.total_len = end;
        }
        if m.total_len != total_len {
            return Err(Error::Malformed(
                "chunk lengths do not add up to the file length",
            ));
        }
        Ok(m)
    }
}

fn read_u64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b.try_into().expect("8 bytes"))
}

fn check_chunk(i: usize, e: &ManifestEntry, bytes: &[u8]) -> Result<(), Error> {
    if bytes.len() as u64 != e.len {
        return Err(Error::Mismatch(format!(
            "chunk {i} is {} bytes, expected {}",
            bytes.len(),
            e.len
        )));
    }
    if Fingerprint::of(bytes) != e.fingerprint {
        return Err(Error::Mismatch(format!(
            "chunk {i} does not match fingerprint {}",
            e.fingerprint
        )));
    }
    Ok(())
}

impl<'a> IntoIterator for &'a Manifest {
    type Item = &'a ManifestEntry;
    type IntoIter = std::slice::Iter<'a, ManifestEntry>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl<'a> Extend<&'a [u8]> for Manifest {
    /// Appends one chunk per item (empty items are skipped).
    fn extend<I: IntoIterator<Item = &'a [u8]>>(&mut self, chunks: I) {
        for c in chunks {
            self.push(c);
        }
    }
}

impl<'a> FromIterator<&'a [u8]> for Manifest {
    /// A manifest with one chunk per item, in order (empty items are skipped).
    fn from_iter<I: IntoIterator<Item = &'a [u8]>>(chunks: I) -> Manifest {
        let mut m = Manifest::default();
        m.extend(chunks);
        m
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    use super::{Fingerprint, Manifest};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Serialized as the list of `(len, fingerprint)`: offsets follow from it,
    /// so a deserialized manifest is consistent by construction.
    impl Serialize for Manifest {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let list: Vec<(u64, Fingerprint)> = self
                .entries
                .iter()
                .map(|e| (e.len, e.fingerprint))
                .collect();
            list.serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for Manifest {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Manifest, D::Error> {
            let list = Vec::<(u64, Fingerprint)>::deserialize(d)?;
            let mut m = Manifest::default();
            for (len, fp) in list {
                if len == 0 {
                    return Err(serde::de::Error::custom("empty chunk in manifest"));
                }
                if m.total_len.checked_add(len).is_none() {
                    return Err(serde::de::Error::custom("chunk lengths overflow"));
                }
                m.push_entry(len, fp);
            }
            Ok(m)
        }
    }
}

/// One step of a [`ManifestDiff`] recipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Piece {
    /// Copy `len` bytes of the old file starting at `offset` (one or more
    /// unchanged chunks).
    Old {
        /// Where the bytes start in the old file.
        offset: u64,
        /// How many bytes.
        len: u64,
    },
    /// The bytes of uploaded chunk `upload[index]`.
    New {
        /// Index into [`ManifestDiff::upload`].
        index: usize,
    },
}

/// The result of [`Manifest::diff`]: what to send, and how to rebuild.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ManifestDiff {
    /// Chunks of the new file the old one lacks, each distinct fingerprint
    /// once, in order of first appearance; offsets are in the new file.
    pub upload: Vec<ManifestEntry>,
    /// The new file, piece by piece, in order.
    pub recipe: Vec<Piece>,
    /// Length of the new file.
    pub total_len: u64,
}

impl ManifestDiff {
    /// Bytes to upload.
    pub fn upload_bytes(&self) -> u64 {
        self.upload.iter().map(|e| e.len).sum()
    }

    /// Bytes of the new file copied from the old one.
    pub fn reused_bytes(&self) -> u64 {
        self.recipe
            .iter()
            .map(|p| match p {
                Piece::Old { len, .. } => *len,
                Piece::New { .. } => 0,
            })
            .sum()
    }

    /// Rebuilds the new file from the old file's bytes and the uploaded
    /// chunks (`uploaded[i]` holds the bytes of `upload[i]`). Uploaded chunks
    /// are checked against their length and fingerprint; an old file too short
    /// for the recipe is an `Err`.
    pub fn rebuild<B: AsRef<[u8]>>(&self, old: &[u8], uploaded: &[B]) -> Result<Vec<u8>, Error> {
        if uploaded.len() != self.upload.len() {
            return Err(Error::Mismatch(format!(
                "{} uploaded chunks given, {} expected",
                uploaded.len(),
                self.upload.len()
            )));
        }
        for (i, (e, bytes)) in self.upload.iter().zip(uploaded).enumerate() {
            check_chunk(i, e, bytes.as_ref())?;
        }
        let mut out = Vec::with_capacity(usize::try_from(self.total_len).unwrap_or(0));
        for p in &self.recipe {
            match *p {
                Piece::Old { offset, len } => {
                    let range = usize::try_from(offset)
                        .ok()
                        .zip(usize::try_from(offset.saturating_add(len)).ok())
                        .and_then(|(a, b)| old.get(a..b))
                        .ok_or_else(|| {
                            Error::Mismatch(format!(
                                "old file has no bytes {offset}..{}",
                                offset.saturating_add(len)
                            ))
                        })?;
                    out.extend_from_slice(range);
                }
                Piece::New { index } => {
                    let bytes = uploaded
                        .get(index)
                        .ok_or_else(|| Error::Mismatch(format!("no uploaded chunk {index}")))?;
                    out.extend_from_slice(bytes.as_ref());
                }
            }
        }
        if out.len() as u64 != self.total_len {
            return Err(Error::Mismatch(format!(
                "recipe yields {} bytes, expected {}",
                out.len(),
                self.total_len
            )));
        }
        Ok(out)
    }
}
