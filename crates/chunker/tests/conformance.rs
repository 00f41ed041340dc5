//! Boundaries, lengths and hashes against the reference: the `fastcdc` crate
//! 5.x, `v2020` module, normalization level 1.

use hld_chunker::FastCdc;
use proptest::prelude::*;

mod common;
use common::random;

type Triple = (usize, usize, usize);

fn reference(data: &[u8], (min, avg, max): Triple) -> Vec<(u64, usize, u64)> {
    fastcdc::v2020::FastCDC::new(data, min, avg, max)
        .map(|c| (c.offset as u64, c.length, c.hash))
        .collect()
}

fn ours(data: &[u8], (min, avg, max): Triple) -> Vec<(u64, usize, u64)> {
    FastCdc::new(min, avg, max)
        .expect("valid sizes")
        .chunks(data)
        .map(|c| (c.offset, c.len, c.hash))
        .collect()
}

fn assert_same(data: &[u8], t: Triple, what: &str) {
    let want = reference(data, t);
    let got = ours(data, t);
    if got != want {
        let k = got
            .iter()
            .zip(&want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "{what}, sizes {t:?}, {} bytes: chunk {k} differs: ours {:?}, fastcdc {:?} ({} vs {} chunks)",
            data.len(),
            got.get(k),
            want.get(k),
            got.len(),
            want.len()
        );
    }
}

fn data_file(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Size triples in the shapes people use: powers of two at the usual ratios,
/// odd multiples, equal sizes, and the extremes of the accepted ranges.
const TRIPLES: &[Triple] = &[
    (64, 256, 1024),
    (64, 256, 16 << 20),
    (256, 1024, 4096),
    (2048, 8192, 65536),
    (4096, 16384, 65534),
    (8192, 16384, 32768),
    (3072, 12288, 49152),
    (16384, 65536, 262144),
    (1024, 1024, 1024),
    (1000, 3000, 5000),
    (4096, 4096, 1 << 20),
    (65536, 65536, 65536),
    (1 << 20, 4 << 20, 16 << 20),
    (250_000, 250_002, 250_004),
];

#[test]
fn structured_data_matches_fastcdc() {
    let rnd = random(3 << 20, 1);
    let block = random(5000, 2);
    let repeated: Vec<u8> = block.iter().copied().cycle().take(2 << 20).collect();
    let mut text = data_file("fortunes.txt");
    text.extend(data_file("unigrams-100k.tsv"));
    let low_entropy: Vec<u8> = random(1 << 20, 3).iter().map(|b| b & 1).collect();
    let mut mixed = vec![0u8; 300_000];
    mixed.extend_from_slice(&rnd[..500_000]);
    mixed.extend(std::iter::repeat_n(0xffu8, 70_001));
    mixed.extend_from_slice(&text[..400_001]);
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        ("zeros", vec![0u8; 2 << 20]),
        ("0xff", vec![0xffu8; 1 << 20]),
        ("random", rnd),
        ("repeated 5000-byte block", repeated),
        ("text", text),
        ("low entropy", low_entropy),
        ("mixed", mixed),
    ];
    for (what, data) in &inputs {
        for &t in TRIPLES {
            assert_same(data, t, what);
            // A few odd-length prefixes, so the tail rules get exercised too.
            for cut in [1usize, 63, 64, 65, 4097, 100_001] {
                if cut < data.len() {
                    assert_same(&data[..data.len() - cut], t, what);
                }
            }
        }
    }
}

#[test]
fn big_random_input_matches_fastcdc() {
    let data = random(24 << 20, 42);
    for t in [
        (2048, 8192, 65536),
        (16384, 65536, 262144),
        (1 << 20, 4 << 20, 16 << 20),
    ] {
        assert_same(&data, t, "24 MiB random");
    }
}

/// Any triple `fastcdc` accepts and handles (even sizes within its ranges,
/// `min <= avg <= max`).
fn triple() -> impl Strategy<Value = Triple> {
    (32usize..=2048, 0usize..=8192, 0usize..=32768).prop_map(|(m, a, x)| {
        let min = m * 2;
        let avg = (min.max(256) + a * 2) & !1;
        let max = (avg.max(1024) + x * 2) & !1;
        (min, avg, max)
    })
}

/// Random bytes, or bytes from a small alphabet (more repetitive, so hashes
/// collide with masks in other places), of many lengths.
fn input() -> impl Strategy<Value = Vec<u8>> {
    (0usize..200_000, any::<u64>(), 0u32..4).prop_map(|(n, seed, kind)| {
        let r = random(n, seed);
        match kind {
            0 | 1 => r,
            2 => r.iter().map(|b| b % 4).collect(),
            _ => r.iter().map(|b| if b % 16 == 0 { *b } else { 0 }).collect(),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn random_data_and_sizes_match_fastcdc(data in input(), t in triple()) {
        let want = reference(&data, t);
        let got = ours(&data, t);
        prop_assert_eq!(got, want);
    }

    #[test]
    fn cut_matches_fastcdc_cut(data in input(), t in triple(), start in 0usize..5000) {
        let start = start.min(data.len());
        let (min, avg, max) = t;
        let (mask_s, mask_l) = fastcdc::v2020::select_masks(avg, fastcdc::v2020::Normalization::Level1);
        let (hash, len) = fastcdc::v2020::cut(
            &data[start..], min, avg, max, mask_s, mask_l, mask_s << 1, mask_l << 1,
        );
        let cdc = FastCdc::new(min, avg, max).unwrap();
        prop_assert_eq!(cdc.cut(&data[start..]), (len, hash));
    }
}
