//! Shared helpers for the hld benchmarks: deterministic workloads and the data
//! sets under `data/`, so every bench file feeds each contender the same input.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::path::PathBuf;

/// The workspace's `data/` directory.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data")
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, deterministic generator so
/// that every contender in a benchmark sees exactly the same keys.
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64-bit value.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (Lemire's multiply-shift; `n` must be non-zero).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// A float in `[0, 1)`.
    #[inline]
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// `n` distinct pseudo-random `u64` keys from `seed`.
pub fn distinct_u64(n: usize, seed: u64) -> Vec<u64> {
    let mut rng = SplitMix64(seed);
    let mut seen = std::collections::HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let k = rng.next_u64();
        if seen.insert(k) {
            out.push(k);
        }
    }
    out
}

/// A Zipf(`s`) sampler over ranks `0..n` (rank 0 most frequent), by inverse CDF
/// over a precomputed table: exact, and fast enough to precompute traces.
#[derive(Clone, Debug)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// A sampler over `n` ranks with exponent `s`.
    pub fn new(n: usize, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut acc = 0.0;
        for r in 1..=n {
            acc += 1.0 / (r as f64).powf(s);
            cdf.push(acc);
        }
        for c in &mut cdf {
            *c /= acc;
        }
        Zipf { cdf }
    }

    /// One rank in `0..n`.
    pub fn sample(&self, rng: &mut SplitMix64) -> usize {
        let u = rng.unit_f64();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// The machine, for the header of a results table: CPU model and core count.
pub fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{model}, {cores} cores")
}

/// One contender of an interleaved measurement: a name and a closure that runs
/// one timed pass (setup outside the timer) and returns how long the pass took.
pub struct Pass<'a> {
    /// Shown in the table.
    pub name: String,
    /// Runs one pass and returns its timed part.
    pub run: Box<dyn FnMut() -> std::time::Duration + 'a>,
}

impl<'a> Pass<'a> {
    /// A contender named `name`.
    pub fn new(name: impl Into<String>, run: impl FnMut() -> std::time::Duration + 'a) -> Pass<'a> {
        Pass {
            name: name.into(),
            run: Box::new(run),
        }
    }
}

/// Runs the contenders' passes in interleaved rounds (A B C, A B C, ...) and
/// returns each one's median pass time in seconds. On a shared, noisy machine
/// load comes and goes; interleaving makes every contender see the same weather,
/// so the ratios between them hold even when absolute times drift.
pub fn interleaved(rounds: usize, passes: &mut [Pass<'_>]) -> Vec<f64> {
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); passes.len()];
    for _ in 0..rounds {
        for (p, t) in passes.iter_mut().zip(&mut times) {
            t.push((p.run)().as_secs_f64());
        }
    }
    times.iter_mut().map(|t| quantile(t, 0.5)).collect()
}

/// `n` distinct English-looking pseudo-words from `seed`, in generation
/// order (which is random with respect to the alphabet). First letters
/// follow the skew of English dictionary words (about 11% start with 's',
/// 0.2% with 'x'); later letters follow English text letter frequencies
/// (Lewand, "Cryptological Mathematics", 2000); lengths are 4 to 12.
pub fn pseudo_words(n: usize, seed: u64) -> Vec<String> {
    // Per-mille weights for a..z.
    const FIRST: [u32; 26] = [
        60, 60, 90, 60, 40, 40, 30, 40, 40, 10, 10, 30, 60, 20, 30, 80, 5, 60, 110, 50, 20, 20, 20,
        2, 4, 3,
    ];
    const REST: [u32; 26] = [
        82, 15, 28, 43, 127, 22, 20, 61, 70, 2, 8, 40, 24, 67, 75, 19, 1, 60, 63, 91, 28, 10, 24,
        2, 20, 1,
    ];
    fn cdf(w: &[u32; 26]) -> Vec<u32> {
        w.iter()
            .scan(0, |acc, &x| {
                *acc += x;
                Some(*acc)
            })
            .collect()
    }
    let (first, rest) = (cdf(&FIRST), cdf(&REST));
    let pick = |rng: &mut SplitMix64, c: &[u32]| -> char {
        let r = rng.below(u64::from(*c.last().unwrap())) as u32;
        (b'a' + c.partition_point(|&x| x <= r) as u8) as char
    };
    let mut rng = SplitMix64(seed);
    let mut seen = std::collections::HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let len = 4 + rng.below(9) as usize;
        let mut w = String::with_capacity(len);
        w.push(pick(&mut rng, &first));
        for _ in 1..len {
            w.push(pick(&mut rng, &rest));
        }
        if seen.insert(w.clone()) {
            out.push(w);
        }
    }
    out
}

/// Zipf weights for `n` items in the given order: item `i` weighs
/// `floor(scale / (i + 1)^s)` (at least 1).
pub fn zipf_weights(n: usize, s: f64, scale: f64) -> Vec<u64> {
    (0..n)
        .map(|i| ((scale / ((i + 1) as f64).powf(s)) as u64).max(1))
        .collect()
}

/// Reads a `term<TAB>count` file from `data/` (e.g. `unigrams-100k.tsv`).
pub fn read_counts(file: &str) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(data_dir().join(file)).expect("data file");
    text.lines()
        .filter_map(|l| {
            let (t, c) = l.split_once('\t')?;
            Some((t.to_string(), c.trim().parse().ok()?))
        })
        .collect()
}

/// The `q`-quantile (0..=1) of a set of durations (sorts in place); `q = 0.5`
/// is the median (the upper one for an even count).
pub fn quantile(xs: &mut [f64], q: f64) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    let i = ((xs.len() as f64 - 1.0) * q).round() as usize;
    xs[i.min(xs.len() - 1)]
}
