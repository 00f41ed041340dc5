//! `StreamChunker` against the slice API (the oracle): the same chunks for any
//! split of the input, never more than `max_size` bytes held back.

use hld_chunker::{Chunk, FastCdc, StreamChunker};
use proptest::prelude::*;

mod common;
use common::random;

/// Pushes `data` split at `cuts` (piece lengths, cycled), checking the
/// buffer bound and that each chunk's bytes are handed out correctly.
fn stream(cdc: FastCdc, data: &[u8], pieces: &[usize]) -> Vec<Chunk> {
    let mut s = StreamChunker::new(cdc);
    let mut out = Vec::new();
    let mut pos = 0;
    let mut k = 0;
    while pos < data.len() {
        let len = pieces[k % pieces.len()].min(data.len() - pos);
        k += 1;
        s.push_with(&data[pos..pos + len], |c, bytes| {
            assert_eq!(bytes, c.bytes(data).expect("chunk inside the data"));
            out.push(c);
        });
        pos += len;
        assert!(
            s.pending().len() <= cdc.max_size(),
            "buffered {} > max",
            s.pending().len()
        );
        assert_eq!(s.offset() + s.pending().len() as u64, pos as u64);
    }
    if let Some(last) = s.finish_with(|c, bytes| assert_eq!(bytes, c.bytes(data).unwrap())) {
        out.push(last);
    }
    out
}

fn triple() -> impl Strategy<Value = (usize, usize, usize)> {
    (32usize..=600, 0usize..=2000, 0usize..=8000).prop_map(|(m, a, x)| {
        let min = m * 2;
        let avg = min.max(256) + a * 2;
        let max = avg.max(1024) + x * 2;
        (min, avg, max)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_split_gives_the_slice_chunks(
        n in 0usize..120_000,
        seed in any::<u64>(),
        (min, avg, max) in triple(),
        pieces in prop::collection::vec(1usize..20_000, 1..12),
        low_entropy in any::<bool>(),
    ) {
        let mut data = random(n, seed);
        if low_entropy {
            for b in &mut data {
                *b &= 3;
            }
        }
        let cdc = FastCdc::new(min, avg, max).unwrap();
        let want: Vec<Chunk> = cdc.chunks(&data).collect();
        prop_assert_eq!(stream(cdc, &data, &pieces), want);
    }

    #[test]
    fn tiny_pieces_give_the_slice_chunks(n in 0usize..20_000, seed in any::<u64>(), piece in 1usize..7) {
        let data = random(n, seed);
        let cdc = FastCdc::new(64, 256, 1024).unwrap();
        let want: Vec<Chunk> = cdc.chunks(&data).collect();
        prop_assert_eq!(stream(cdc, &data, &[piece]), want);
    }

    #[test]
    fn resuming_at_any_boundary_gives_the_rest(n in 1usize..100_000, seed in any::<u64>(), pick in any::<prop::sample::Index>()) {
        let data = random(n, seed);
        let cdc = FastCdc::new(256, 1024, 8192).unwrap();
        let all: Vec<Chunk> = cdc.chunks(&data).collect();
        let k = pick.index(all.len());
        let mut s = StreamChunker::resume(cdc, all[k].offset);
        let mut got = Vec::new();
        for piece in data[all[k].offset as usize..].chunks(3000) {
            got.extend(s.push(piece));
        }
        got.extend(s.finish());
        prop_assert_eq!(got, all[k..].to_vec());
    }
}

#[test]
fn zeros_and_max_sized_pieces() {
    // Forced max-size cuts, pieces exactly the maximum and off by one.
    let data = vec![0u8; 100_000];
    let cdc = FastCdc::new(1024, 4096, 16384).unwrap();
    let want: Vec<Chunk> = cdc.chunks(&data).collect();
    for pieces in [[16384usize], [16383], [16385], [1]] {
        assert_eq!(stream(cdc, &data, &pieces), want);
    }
}
