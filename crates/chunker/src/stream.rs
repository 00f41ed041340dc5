//! [`StreamChunker`]: the same chunks, from bytes that arrive in pieces.

use crate::cdc::{Chunk, FastCdc};

/// Chunks a stream pushed in pieces of any size, with exactly the boundaries
/// [`FastCdc::chunks`] finds over the concatenation.
///
/// It holds back at most `max_size` bytes: the start of the chunk whose end is
/// not decided yet. A chunk lying wholly inside a pushed piece is cut straight
/// from that piece, without copying it. Offsets count from the start of the
/// stream (or from the offset given to [`resume`](Self::resume)).
///
/// ```
/// use hld_chunker::{FastCdc, StreamChunker};
/// let data: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
/// let cdc = FastCdc::new(1024, 4096, 16384)?;
/// let mut stream = StreamChunker::new(cdc);
/// let mut chunks = Vec::new();
/// for piece in data.chunks(1500) {
///     chunks.extend(stream.push(piece)); // e.g. network reads
/// }
/// chunks.extend(stream.finish());
/// assert_eq!(chunks, cdc.chunks(&data).collect::<Vec<_>>());
/// # Ok::<(), hld_chunker::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct StreamChunker {
    cdc: FastCdc,
    /// Bytes of the chunk in progress; always shorter than `max_size`
    /// between calls.
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`: everything before it has been emitted.
    offset: u64,
    /// Positions of `buf` below this were tested and are not cuts.
    scanned: usize,
}

impl StreamChunker {
    /// A chunker for a stream starting at offset 0.
    pub fn new(cdc: FastCdc) -> StreamChunker {
        StreamChunker::resume(cdc, 0)
    }

    /// A chunker for the rest of a stream from `offset`, which must be a chunk
    /// boundary (for example the end of the last chunk a server acknowledged
    /// before a disconnect). FastCDC boundaries depend only on the bytes after
    /// the previous boundary, so the chunks it finds are exactly those a
    /// chunker that saw the whole stream would have found from there.
    pub fn resume(cdc: FastCdc, offset: u64) -> StreamChunker {
        StreamChunker {
            cdc,
            buf: Vec::new(),
            offset,
            scanned: 0,
        }
    }

    /// The chunker's parameters.
    pub fn fast_cdc(&self) -> FastCdc {
        self.cdc
    }

    /// Stream offset where the pending (not yet emitted) bytes start: the end
    /// of the last chunk emitted.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The pending bytes: pushed, not yet part of an emitted chunk. Never more
    /// than `max_size` bytes.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Pushes the next piece of the stream; returns the chunks it completes.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Chunk> {
        let mut out = Vec::new();
        self.push_with(bytes, |c, _| out.push(c));
        out
    }

    /// Pushes the next piece of the stream, calling `on_chunk` with each chunk
    /// it completes and that chunk's bytes (contiguous, whatever the pieces
    /// were): hash them, upload them, store them. Allocates nothing unless a
    /// chunk straddles pieces.
    pub fn push_with<F: FnMut(Chunk, &[u8])>(&mut self, bytes: &[u8], mut on_chunk: F) {
        let max = self.cdc.max_size();
        let mut input = bytes;
        loop {
            if self.buf.is_empty() {
                // Cut straight from the caller's bytes while chunks fit.
                while let Ok((len, hash)) = self.try_cut(input, 0) {
                    on_chunk(self.chunk(len, hash), &input[..len]);
                    input = &input[len..];
                }
                // Undecided tail, shorter than `max_size`: keep it.
                self.buf.extend_from_slice(input);
                self.scanned = self.resume_point(input.len());
                return;
            }
            let take = (max - self.buf.len()).min(input.len());
            self.buf.extend_from_slice(&input[..take]);
            input = &input[take..];
            match self.try_cut(&self.buf, self.scanned) {
                Ok((len, hash)) => {
                    on_chunk(self.chunk(len, hash), &self.buf[..len]);
                    self.buf.drain(..len);
                    self.scanned = 0;
                }
                Err(scanned) => {
                    // Undecided means the buffer is below `max_size`, so it
                    // took all of the input.
                    debug_assert!(input.is_empty());
                    self.scanned = scanned;
                    return;
                }
            }
        }
    }

    /// Ends the stream: the last chunk (the pending bytes), if any.
    pub fn finish(self) -> Option<Chunk> {
        self.finish_with(|_, _| ())
    }

    /// Ends the stream, calling `on_chunk` with the last chunk and its bytes
    /// if there is one; returns it too.
    pub fn finish_with<F: FnOnce(Chunk, &[u8])>(mut self, on_chunk: F) -> Option<Chunk> {
        if self.buf.is_empty() {
            return None;
        }
        // No cut was found among the positions already tested, and the end of
        // the stream adds none: the pending bytes are one chunk.
        let (len, hash) = self.cdc.cut_from(&self.buf, self.scanned);
        debug_assert_eq!(len, self.buf.len());
        let chunk = self.chunk(len, hash);
        on_chunk(chunk, &self.buf[..len]);
        Some(chunk)
    }

    fn chunk(&mut self, len: usize, hash: u64) -> Chunk {
        let c = Chunk {
            offset: self.offset,
            len,
            hash,
        };
        self.offset += len as u64;
        c
    }

    /// The first chunk of `data` if more bytes cannot change it, else the
    /// position from which to resume testing once more bytes arrive.
    #[inline]
    fn try_cut(&self, data: &[u8], from: usize) -> Result<(usize, u64), usize> {
        let n = data.len();
        if n >= self.cdc.max_size() {
            // Every candidate lies below `max_size`: decided either way.
            return Ok(self.cdc.cut_from(data, from));
        }
        if n <= self.cdc.min_size() {
            return Err(from);
        }
        match self.cdc.find(data, from) {
            // A cut at `i` only needs bytes up to `i`, all present.
            Some(i) => Ok((i, self.cdc.hash_at(data, i))),
            None => Err(self.resume_point(n)),
        }
    }

    /// Positions tested in `n` buffered bytes: FastCDC tests in pairs, so an
    /// odd last byte waits for its partner.
    #[inline]
    fn resume_point(&self, n: usize) -> usize {
        (n & !1).max(self.cdc.min_size())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> Vec<u8> {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn byte_at_a_time_matches_slice() {
        let d = data(40_000);
        let cdc = FastCdc::new(64, 256, 1024).unwrap();
        let mut s = StreamChunker::new(cdc);
        let mut got = Vec::new();
        for b in &d {
            got.extend(s.push(std::slice::from_ref(b)));
            assert!(s.pending().len() < 1024);
        }
        got.extend(s.finish());
        assert_eq!(got, cdc.chunks(&d).collect::<Vec<_>>());
    }

    #[test]
    fn resume_from_a_boundary() {
        let d = data(100_000);
        let cdc = FastCdc::new(256, 1024, 4096).unwrap();
        let all: Vec<_> = cdc.chunks(&d).collect();
        let k = all.len() / 2;
        let at = all[k].offset;
        let mut s = StreamChunker::resume(cdc, at);
        let mut got = s.push(&d[at as usize..]);
        got.extend(s.finish());
        assert_eq!(got, all[k..].to_vec());
    }

    #[test]
    fn chunk_bytes_are_handed_out() {
        let d = data(50_000);
        let cdc = FastCdc::new(256, 1024, 4096).unwrap();
        let mut s = StreamChunker::new(cdc);
        let mut rebuilt = Vec::new();
        for piece in d.chunks(777) {
            s.push_with(piece, |c, bytes| {
                assert_eq!(c.len, bytes.len());
                assert_eq!(c.offset as usize, rebuilt.len());
                rebuilt.extend_from_slice(bytes);
            });
        }
        s.finish_with(|_, bytes| rebuilt.extend_from_slice(bytes));
        assert_eq!(rebuilt, d);
    }

    #[test]
    fn empty_stream_has_no_chunk() {
        let cdc = FastCdc::new(64, 256, 1024).unwrap();
        let mut s = StreamChunker::new(cdc);
        assert!(s.push(&[]).is_empty());
        assert_eq!(s.finish(), None);
    }
}
