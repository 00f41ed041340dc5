//! What every system example shares: a small report table, percentiles, and the
//! real data sets under `data/` (compiled in, so the examples run from any
//! directory of a fresh clone).

use std::fmt;
use std::time::{Duration, Instant};

/// A titled two-column table of what a system did, printed after it runs.
#[derive(Clone, Debug, Default)]
pub struct Table {
    /// The system's name, e.g. "crawl_dedup".
    pub title: String,
    /// One line of context under the title.
    pub subtitle: String,
    /// (what, value) rows.
    pub rows: Vec<(String, String)>,
}

impl Table {
    pub fn new(title: &str, subtitle: &str) -> Table {
        Table {
            title: title.into(),
            subtitle: subtitle.into(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, what: &str, value: impl fmt::Display) -> &mut Table {
        self.rows.push((what.into(), value.to_string()));
        self
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "## {}", self.title)?;
        if !self.subtitle.is_empty() {
            writeln!(f, "{}", self.subtitle)?;
        }
        let w = self
            .rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let v = self
            .rows
            .iter()
            .map(|(_, x)| x.chars().count())
            .max()
            .unwrap_or(0);
        writeln!(f, "| {:<w$} | {:>v$} |", "what", "value")?;
        writeln!(f, "|{}|{}:|", "-".repeat(w + 2), "-".repeat(v + 1))?;
        for (k, x) in &self.rows {
            writeln!(f, "| {k:<w$} | {x:>v$} |")?;
        }
        Ok(())
    }
}

/// Times a closure.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed())
}

/// The `p`-th percentile (0..=100) of samples (durations, counts), nearest
/// rank; sorts in place. Empty samples give the default (zero).
pub fn percentile<T: Ord + Copy + Default>(samples: &mut [T], p: f64) -> T {
    if samples.is_empty() {
        return T::default();
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

/// A duration in milliseconds, one decimal.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// A duration in microseconds, one decimal.
pub fn us(d: Duration) -> String {
    format!("{:.1} us", d.as_secs_f64() * 1e6)
}

/// A latency in µs, or in ms from one millisecond up.
pub fn micros(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1_000.0 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{us:.1} µs")
    }
}

/// `n` with commas between groups of three digits.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Items per second, human-readable.
pub fn per_second(items: usize, took: Duration) -> String {
    let r = items as f64 / took.as_secs_f64().max(1e-9);
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k/s", r / 1e3)
    } else {
        format!("{r:.0} /s")
    }
}

/// Bytes, human-readable (binary units).
pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut x = n;
    let mut u = 0;
    while x >= 1024.0 && u + 1 < UNITS.len() {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{x:.0} {}", UNITS[u])
    } else {
        format!("{x:.1} {}", UNITS[u])
    }
}

/// The texts of `data/fortunes.txt` (Debian fortunes, BSD licence), one per line
/// with `\n` and `\\` escapes undone.
pub fn fortunes() -> Vec<String> {
    include_str!("../../data/fortunes.txt")
        .lines()
        .filter(|l| !l.is_empty())
        .map(unescape)
        .collect()
}

fn unescape(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// SplitMix64: a tiny deterministic generator, so every run of an example does
/// exactly the same thing.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.float() <= p
    }

    /// A float in `[0, 1)`, from the top 53 bits.
    pub fn float(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A float in `(0, 1]`, from the top 53 bits: never 0, so safe under `ln`.
    pub fn float_nonzero(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// An integer in `lo..=hi` (the bounds in either order).
    pub fn between(&mut self, lo: usize, hi: usize) -> usize {
        let (lo, hi) = (lo.min(hi), lo.max(hi));
        lo + self.below(hi - lo + 1)
    }

    /// Shuffles `xs` in place (Fisher-Yates, from the back).
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            xs.swap(i, self.below(i + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let mut xs: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(percentile(&mut xs, 50.0), Duration::from_micros(50));
        assert_eq!(percentile(&mut xs, 99.0), Duration::from_micros(99));
        assert_eq!(percentile(&mut xs, 100.0), Duration::from_micros(100));
        assert_eq!(percentile::<Duration>(&mut [], 50.0), Duration::ZERO);
        assert_eq!(percentile(&mut [3u64, 1, 2], 50.0), 2);
    }

    #[test]
    fn formatters() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(micros(Duration::from_nanos(12_340)), "12.3 µs");
        assert_eq!(micros(Duration::from_micros(2_500)), "2.50 ms");
        assert_eq!(us(Duration::from_nanos(1_250)), "1.2 us");
        assert_eq!(ms(Duration::from_micros(2_250)), "2.2 ms");
    }

    #[test]
    fn fortunes_are_unescaped() {
        let f = fortunes();
        assert!(f.len() > 15_000);
        assert!(f.iter().any(|t| t.contains('\n')));
        assert_eq!(unescape(r"a\nb\\c"), "a\nb\\c");
    }
}

/// Zipf(s) over ranks `0..n` (at least one): rank 0 is the most likely.
#[derive(Clone, Debug)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Zipf {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n.max(1))
            .map(|k| {
                acc += 1.0 / (k as f64).powf(s);
                acc
            })
            .collect();
        for c in &mut cdf {
            *c /= acc;
        }
        Zipf { cdf }
    }

    /// The rank whose step of the CDF holds `u` in `[0, 1]`.
    pub fn rank(&self, u: f64) -> usize {
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }

    /// A rank drawn with [`Rng::float`].
    pub fn sample(&self, rng: &mut Rng) -> usize {
        self.rank(rng.float())
    }
}

/// Locks `m`, going on through a poisoned lock (a panicking thread must not
/// hide the state from the checks).
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
