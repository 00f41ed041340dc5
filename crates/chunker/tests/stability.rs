//! Boundary stability: content-defined cuts re-synchronise after an edit, so
//! an edit costs one or two chunks, not the rest of the file.

use std::collections::HashSet;

use hld_chunker::{FastCdc, Fingerprint, Manifest};

mod common;
use common::random;

/// Chunks of `a` whose content does not occur in `b`.
fn changed(a: &Manifest, b: &Manifest) -> usize {
    let in_b: HashSet<Fingerprint> = b.iter().map(|e| e.fingerprint).collect();
    a.iter().filter(|e| !in_b.contains(&e.fingerprint)).count()
}

#[test]
fn one_byte_insert_into_8_mib_changes_at_most_two_chunks() {
    let data = random(8 << 20, 77);
    for (min, avg, max) in [(2048, 8192, 65536), (16384, 65536, 262144)] {
        let cdc = FastCdc::new(min, avg, max).unwrap();
        let old = Manifest::new(&cdc, &data);
        let mut pick = random(8 * 24, 99).into_iter();
        for _ in 0..24 {
            let r = u64::from_le_bytes(std::array::from_fn(|_| pick.next().unwrap()));
            let at = (r % data.len() as u64) as usize;
            let mut edited = data.clone();
            edited.insert(at, (r >> 56) as u8);
            let new = Manifest::new(&cdc, &edited);
            let (added, removed) = (changed(&new, &old), changed(&old, &new));
            assert!(
                added <= 2 && removed <= 2,
                "insert at {at} with avg {avg}: {added} chunks added, {removed} removed"
            );
            assert!(added >= 1, "an insert must change the chunk holding it");
            let diff = new.diff(&old);
            assert_eq!(diff.upload.len(), added);
            assert!(diff.upload_bytes() <= 2 * max as u64);
        }
    }
}

#[test]
fn ten_scattered_edits_reuse_at_least_95_percent() {
    let cdc = FastCdc::new(2048, 8192, 65536).unwrap();
    for seed in 1..=4u64 {
        let data = random(8 << 20, seed);
        let old = Manifest::new(&cdc, &data);
        let mut edited = data.clone();
        let mut pick = random(8 * 30, seed * 1000).into_iter();
        let mut next = || u64::from_le_bytes(std::array::from_fn(|_| pick.next().unwrap()));
        for k in 0..10 {
            let at = (next() % edited.len() as u64) as usize;
            let len = 1 + (next() % 200) as usize;
            match k % 3 {
                0 => {
                    edited.splice(at..at, random(len, next()));
                }
                1 => {
                    let end = (at + len).min(edited.len());
                    edited.drain(at..end);
                }
                _ => {
                    let end = (at + len).min(edited.len());
                    edited[at..end].copy_from_slice(&random(end - at, next()));
                }
            }
        }
        let new = Manifest::new(&cdc, &edited);
        let diff = new.diff(&old);
        let reused = diff.reused_bytes() as f64 / edited.len() as f64;
        assert!(
            reused >= 0.95,
            "seed {seed}: only {:.2}% reused",
            reused * 100.0
        );
        let uploads: Vec<&[u8]> = diff
            .upload
            .iter()
            .map(|e| &edited[e.offset as usize..e.end() as usize])
            .collect();
        assert_eq!(diff.rebuild(&data, &uploads).unwrap(), edited);
    }
}

#[test]
fn fixed_size_blocks_would_not_survive_the_same_insert() {
    // The contrast the chunker exists for: with equal min/avg/max (fixed
    // blocks), one inserted byte near the start changes nearly every block.
    let data = random(1 << 20, 5);
    let fixed = FastCdc::new(8192, 8192, 8192).unwrap();
    let mut edited = data.clone();
    edited.insert(100, 0);
    let (old, new) = (Manifest::new(&fixed, &data), Manifest::new(&fixed, &edited));
    assert!(changed(&new, &old) > old.len() - 2);
    let cdc = FastCdc::new(2048, 8192, 65536).unwrap();
    let (old, new) = (Manifest::new(&cdc, &data), Manifest::new(&cdc, &edited));
    assert!(changed(&new, &old) <= 2);
}
