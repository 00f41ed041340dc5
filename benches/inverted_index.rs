//! hld-inverted-index against its peers, on the same inputs in one run:
//! - set operations on posting lists: `roaring` (and a plain `Vec<u32>` with
//!   galloping as the floor);
//! - ingest and BM25 top-10: a tantivy RAM index (behind the `tantivy` feature
//!   of hld-benches, off by default because tantivy is heavy to build).
//!
//! Corpora: data/fortunes.txt (15k real short texts) and a 1M-document Zipf
//! corpus of tweet-sized texts over the 100k most frequent English words.
//! Sizes (bits per posting) are printed once to stderr.
//!
//! `cargo bench -p hld-benches --bench inverted_index [--features tantivy]`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hld_benches::{data_dir, SplitMix64, Zipf};
use hld_inverted_index::{InvertedIndex, PostingList, Query};
use roaring::RoaringBitmap;
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn fortunes() -> Vec<String> {
    let raw = std::fs::read_to_string(data_dir().join("fortunes.txt")).expect("data/fortunes.txt");
    raw.lines()
        .map(|l| {
            // `\n` inside a text is written `\n`, a backslash `\\`.
            let mut s = String::with_capacity(l.len());
            let mut it = l.chars();
            while let Some(c) = it.next() {
                if c == '\\' {
                    match it.next() {
                        Some('n') => s.push('\n'),
                        Some(o) => s.push(o),
                        None => {}
                    }
                } else {
                    s.push(c);
                }
            }
            s
        })
        .collect()
}

fn vocabulary() -> Vec<String> {
    let raw = std::fs::read_to_string(data_dir().join("unigrams-100k.tsv")).expect("unigrams");
    raw.lines()
        .filter_map(|l| l.split('\t').next())
        .map(str::to_owned)
        .collect()
}

/// 1M tweet-sized documents: 8 to 24 words drawn Zipf(1.0) from the 100k most
/// frequent English words (about 100 bytes, like a tweet).
fn zipf_corpus() -> &'static (Vec<String>, Vec<String>) {
    static C: OnceLock<(Vec<String>, Vec<String>)> = OnceLock::new();
    C.get_or_init(|| {
        let vocab = vocabulary();
        let z = Zipf::new(vocab.len(), 1.0);
        let mut rng = SplitMix64(42);
        let docs = (0..1_000_000)
            .map(|_| {
                let n = 8 + rng.below(17) as usize;
                let mut s = String::with_capacity(n * 7);
                for i in 0..n {
                    if i > 0 {
                        s.push(' ');
                    }
                    s.push_str(&vocab[z.sample(&mut rng)]);
                }
                s
            })
            .collect();
        (vocab, docs)
    })
}

fn build_ours(docs: &[String]) -> InvertedIndex {
    let mut idx = InvertedIndex::new();
    for (i, d) in docs.iter().enumerate() {
        idx.add(i as u64, d).unwrap();
    }
    idx
}

fn ours_index() -> &'static InvertedIndex {
    static I: OnceLock<InvertedIndex> = OnceLock::new();
    I.get_or_init(|| {
        let (_, docs) = zipf_corpus();
        let t = Instant::now();
        let idx = build_ours(docs);
        let secs = t.elapsed().as_secs_f64();
        eprintln!(
            "[size] hld 1M zipf corpus: built in {secs:.2} s ({:.0} docs/s), {} terms, {} postings, \
             postings {:.2} bits/posting, whole index {:.1} MB",
            docs.len() as f64 / secs,
            idx.num_terms(),
            idx.num_postings(),
            idx.postings_bytes() as f64 * 8.0 / idx.num_postings() as f64,
            idx.memory_bytes() as f64 / 1e6
        );
        idx
    })
}

#[cfg(feature = "tantivy")]
mod tv {
    use tantivy::collector::TopDocs;
    use tantivy::query::QueryParser;
    use tantivy::schema::{IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST};
    use tantivy::{doc, Index, IndexReader, IndexWriter, TantivyDocument};

    pub struct Tv {
        pub index: Index,
        pub reader: IndexReader,
        pub text: tantivy::schema::Field,
    }

    /// A RAM index with the same content as ours: the text indexed with
    /// frequencies (no positions: we keep none) and the id as a fast field.
    pub fn build(docs: &[String]) -> Tv {
        let mut sb = Schema::builder();
        let id = sb.add_u64_field("id", FAST);
        let opts = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("default")
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let text = sb.add_text_field("text", opts);
        let index = Index::create_in_ram(sb.build());
        let mut w: IndexWriter<TantivyDocument> =
            index.writer_with_num_threads(1, 1_000_000_000).unwrap();
        for (i, d) in docs.iter().enumerate() {
            w.add_document(doc!(id => i as u64, text => d.as_str()))
                .unwrap();
        }
        w.commit().unwrap();
        w.wait_merging_threads().unwrap();
        let reader = index.reader().unwrap();
        Tv {
            index,
            reader,
            text,
        }
    }

    pub fn top10(t: &Tv, q: &str) -> usize {
        let qp = QueryParser::for_index(&t.index, vec![t.text]);
        let q = qp.parse_query(q).unwrap();
        let s = t.reader.searcher();
        s.search(&q, &TopDocs::with_limit(10).order_by_score())
            .unwrap()
            .len()
    }
}

/// True when the criterion filter names another group of this file: skips
/// building the 1M-document corpus for runs that do not need it.
fn skip(group: &str) -> bool {
    std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .is_some_and(|f| {
            !f.contains(group)
                && ["set_ops", "zipf_1m", "ingest"]
                    .iter()
                    .any(|g| f.contains(g))
        })
}

fn bench_ingest(c: &mut Criterion) {
    if skip("ingest") {
        return;
    }
    let f = fortunes();
    let (_, docs) = zipf_corpus();
    let tweets = &docs[..100_000];
    let mut g = c.benchmark_group("inverted_index/ingest");
    g.sample_size(10).measurement_time(Duration::from_secs(6));
    for (name, set) in [("fortunes", &f[..]), ("zipf_tweets_100k", tweets)] {
        g.throughput(Throughput::Elements(set.len() as u64));
        g.bench_with_input(BenchmarkId::new("hld", name), set, |b, set| {
            b.iter(|| black_box(build_ours(set)))
        });
        #[cfg(feature = "tantivy")]
        g.bench_with_input(BenchmarkId::new("tantivy", name), set, |b, set| {
            b.iter(|| black_box(tv::build(set)))
        });
    }
    g.finish();
}

/// `n` distinct random ids below `universe`, sorted.
fn random_ids(n: usize, universe: u32, seed: u64) -> Vec<u32> {
    let mut rng = SplitMix64(seed);
    let mut bits = vec![false; universe as usize];
    let mut k = 0;
    while k < n {
        let i = rng.below(universe as u64) as usize;
        if !bits[i] {
            bits[i] = true;
            k += 1;
        }
    }
    (0..universe).filter(|&i| bits[i as usize]).collect()
}

/// Galloping intersection of sorted vectors: the uncompressed floor.
fn gallop_count(small: &[u32], large: &[u32]) -> usize {
    let mut n = 0;
    let mut lo = 0;
    for &x in small {
        let mut step = 1;
        let mut hi = lo;
        while hi < large.len() && large[hi] < x {
            lo = hi;
            hi += step;
            step *= 2;
        }
        let hi = hi.min(large.len());
        lo += large[lo..hi].partition_point(|&y| y < x);
        if lo < large.len() && large[lo] == x {
            n += 1;
        }
    }
    n
}

fn bench_set_ops(c: &mut Criterion) {
    if skip("set_ops") {
        return;
    }
    const U: u32 = 10_000_000;
    let a = random_ids(1_000_000, U, 1);
    let b = random_ids(100_000, U, 2);
    let k = random_ids(1_000, U, 3);
    let a1 = random_ids(100_000, U, 4); // 1% density, for the size figure
    let pa = PostingList::from_sorted(&a).unwrap();
    let pb = PostingList::from_sorted(&b).unwrap();
    let pk = PostingList::from_sorted(&k).unwrap();
    let p1 = PostingList::from_sorted(&a1).unwrap();
    let ra = RoaringBitmap::from_sorted_iter(a.iter().copied()).unwrap();
    let rb = RoaringBitmap::from_sorted_iter(b.iter().copied()).unwrap();
    let rk = RoaringBitmap::from_sorted_iter(k.iter().copied()).unwrap();
    let r1 = RoaringBitmap::from_sorted_iter(a1.iter().copied()).unwrap();
    for (name, p, r, n) in [("10%", &pa, &ra, a.len()), ("1%", &p1, &r1, a1.len())] {
        eprintln!(
            "[size] density {name}: hld {:.2} bits/posting (compressed blocks + skip data), roaring {:.2} (serialized)",
            p.compressed_bytes() as f64 * 8.0 / n as f64,
            r.serialized_size() as f64 * 8.0 / n as f64
        );
    }
    assert_eq!(pa.intersection_len(&pb), (&ra & &rb).len() as usize);
    assert_eq!(pa.intersection_len(&pb), gallop_count(&b, &a));
    assert_eq!(pa.union_len(&pb), (&ra | &rb).len() as usize);

    let mut g = c.benchmark_group("inverted_index/set_ops");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.bench_function("iter_1m/hld", |x| {
        x.iter(|| black_box(&pa).iter().fold(0u32, |a, b| a ^ b))
    });
    g.bench_function("and_1m_100k/hld", |x| {
        x.iter(|| pa.intersection_len(black_box(&pb)))
    });
    g.bench_function("and_1m_100k/roaring", |x| {
        x.iter(|| ra.intersection_len(black_box(&rb)))
    });
    g.bench_function("and_1m_100k/vec_gallop", |x| {
        x.iter(|| gallop_count(black_box(&b), &a))
    });
    g.bench_function("and_1m_1k/hld", |x| {
        x.iter(|| pa.intersection_len(black_box(&pk)))
    });
    g.bench_function("and_1m_1k/roaring", |x| {
        x.iter(|| ra.intersection_len(black_box(&rk)))
    });
    g.bench_function("and_1m_1k/vec_gallop", |x| {
        x.iter(|| gallop_count(black_box(&k), &a))
    });
    g.bench_function("or_count_1m_100k/hld", |x| {
        x.iter(|| pa.union_len(black_box(&pb)))
    });
    g.bench_function("or_count_1m_100k/roaring", |x| {
        x.iter(|| ra.union_len(black_box(&rb)))
    });
    g.finish();
}

fn bench_queries(c: &mut Criterion) {
    if !std::env::args().any(|a| a.contains("zipf") || a == "--bench")
        || std::env::args().any(|a| a.contains("set_ops") || a.contains("ingest"))
    {
        return;
    }
    let (vocab, docs) = zipf_corpus();
    let idx = ours_index();
    // Mid-frequency terms: rank 30 (~2% of docs... see stderr) and rank 300.
    let (t1, t2) = (&vocab[30], &vocab[300]);
    let or_q = format!("{t1} {t2}");
    let ours_or = Query::parse(&format!("{t1} OR {t2}")).unwrap();
    let ours_and = Query::parse(&format!("{} {}", vocab[5], vocab[50])).unwrap();
    eprintln!(
        "[size] query terms: '{t1}' in {} docs, '{t2}' in {} docs; AND '{}' x '{}' = {}",
        idx.doc_freq(t1),
        idx.doc_freq(t2),
        vocab[5],
        vocab[50],
        idx.count(&ours_and)
    );
    let mut g = c.benchmark_group("inverted_index/zipf_1m");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.bench_function("bm25_top10_or/hld", |b| {
        b.iter(|| idx.search_ranked(black_box(&ours_or), 10))
    });
    #[cfg(feature = "tantivy")]
    {
        let t = Instant::now();
        let tvi = tv::build(docs);
        eprintln!(
            "[size] tantivy 1M zipf corpus: built in {:.2} s",
            t.elapsed().as_secs_f64()
        );
        g.bench_function("bm25_top10_or/tantivy", |b| {
            b.iter(|| tv::top10(&tvi, black_box(&or_q)))
        });
    }
    let _ = (&or_q, docs);
    g.bench_function("newest10_and/hld", |b| {
        b.iter(|| idx.search(black_box(&ours_and), 10))
    });
    g.bench_function("count_and/hld", |b| {
        b.iter(|| idx.count(black_box(&ours_and)))
    });
    g.bench_function("count_or/hld", |b| {
        b.iter(|| idx.count(black_box(&ours_or)))
    });
    g.finish();
}

criterion_group!(benches, bench_set_ops, bench_queries, bench_ingest);
criterion_main!(benches);
