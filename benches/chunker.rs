//! hld-chunker against the `fastcdc` crate (v2020 and v2016) on the same
//! inputs: 256 MiB of random bytes and ~30 MiB of real text (the data sets
//! under `data/`, repeated), at average chunk sizes 8 KiB and 64 KiB
//! (min = avg / 4, max = avg * 4); then manifest building (chunking plus a
//! BLAKE3 fingerprint per chunk) against fastcdc v2020 plus the same hashing.
//!
//! Run: `cargo bench -p hld-benches --bench chunker`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hld_benches::{data_dir, SplitMix64};
use hld_chunker::{FastCdc, Manifest};

/// `n` deterministic pseudo-random bytes.
fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64(seed);
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(n);
    out
}

/// The real text data sets concatenated, repeated to at least 24 MiB.
fn real_text() -> Vec<u8> {
    let mut one = Vec::new();
    for name in [
        "fortunes.txt",
        "unigrams-100k.tsv",
        "bigrams-100k.tsv",
        "cities15000.csv",
    ] {
        let path = data_dir().join(name);
        one.extend(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    }
    let mut out = Vec::with_capacity(one.len() * 4);
    while out.len() < 24 << 20 {
        out.extend_from_slice(&one);
    }
    out
}

fn sizes(avg: usize) -> (usize, usize, usize) {
    (avg / 4, avg, avg * 4)
}

fn chunking(c: &mut Criterion) {
    let inputs = [
        ("random-256MiB", random_bytes(256 << 20, 0x5eed)),
        ("text", real_text()),
    ];
    for (name, data) in &inputs {
        for avg in [8 << 10, 64 << 10] {
            let (min, avg, max) = sizes(avg);
            let cdc = FastCdc::new(min, avg, max).unwrap();
            // The claim being measured: identical boundaries.
            assert!(cdc
                .chunks(data)
                .map(|c| (c.offset as usize, c.len, c.hash))
                .eq(fastcdc::v2020::FastCDC::new(data, min, avg, max)
                    .map(|c| (c.offset, c.length, c.hash))));

            let mut g = c.benchmark_group(format!("chunker/{name}/avg-{}KiB", avg >> 10));
            g.throughput(Throughput::Bytes(data.len() as u64));
            g.sample_size(10);
            g.warm_up_time(Duration::from_millis(500));
            g.measurement_time(Duration::from_secs(3));
            g.bench_function("hld-chunker", |b| {
                b.iter(|| {
                    cdc.chunks(black_box(data))
                        .map(|c| c.len ^ c.hash as usize)
                        .fold(0, usize::wrapping_add)
                })
            });
            g.bench_function("fastcdc-v2020", |b| {
                b.iter(|| {
                    fastcdc::v2020::FastCDC::new(black_box(data), min, avg, max)
                        .map(|c| c.length ^ c.hash as usize)
                        .fold(0, usize::wrapping_add)
                })
            });
            g.bench_function("fastcdc-v2016", |b| {
                b.iter(|| {
                    fastcdc::v2016::FastCDC::new(black_box(data), min, avg, max)
                        .map(|c| c.length ^ c.hash as usize)
                        .fold(0, usize::wrapping_add)
                })
            });
            g.finish();
        }
    }
}

fn fingerprinting(c: &mut Criterion) {
    let data = random_bytes(64 << 20, 0xf1f0);
    let mut g = c.benchmark_group("chunker/manifest-64MiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    for avg in [8 << 10, 64 << 10] {
        let (min, avg, max) = sizes(avg);
        let cdc = FastCdc::new(min, avg, max).unwrap();
        g.bench_with_input(BenchmarkId::new("hld-chunker", avg >> 10), &data, |b, d| {
            b.iter(|| Manifest::new(&cdc, d).len())
        });
        g.bench_with_input(
            BenchmarkId::new("fastcdc-v2020+blake3", avg >> 10),
            &data,
            |b, d| {
                b.iter(|| {
                    fastcdc::v2020::FastCDC::new(d, min, avg, max)
                        .map(|c| *blake3::hash(&d[c.offset..c.offset + c.length]).as_bytes())
                        .collect::<Vec<[u8; 32]>>()
                        .len()
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, chunking, fingerprinting);
criterion_main!(benches);
