//! Manifests: persistence (round trip, truncation, bit flips), diff against a
//! set-difference oracle, rebuild and reassembly giving identical bytes.

use std::collections::{HashMap, HashSet};

use hld_chunker::{Error, FastCdc, Fingerprint, Manifest, Piece};
use proptest::prelude::*;

mod common;
use common::random;

fn cdc() -> FastCdc {
    FastCdc::new(256, 1024, 4096).unwrap()
}

/// One edit: insert, delete or overwrite a few bytes somewhere.
#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Overwrite(usize, Vec<u8>),
}

fn apply(data: &mut Vec<u8>, edit: &Edit) {
    match edit {
        Edit::Insert(at, bytes) => {
            let at = at % (data.len() + 1);
            data.splice(at..at, bytes.iter().copied());
        }
        Edit::Delete(at, len) => {
            if !data.is_empty() {
                let at = at % data.len();
                let end = (at + len).min(data.len());
                data.drain(at..end);
            }
        }
        Edit::Overwrite(at, bytes) => {
            if !data.is_empty() {
                let at = at % data.len();
                for (k, b) in bytes.iter().enumerate() {
                    if let Some(slot) = data.get_mut(at + k) {
                        *slot = *b;
                    }
                }
            }
        }
    }
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..300))
            .prop_map(|(a, b)| Edit::Insert(a, b)),
        (any::<usize>(), 1usize..3000).prop_map(|(a, l)| Edit::Delete(a, l)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..300))
            .prop_map(|(a, b)| Edit::Overwrite(a, b)),
    ]
}

fn upload_bytes_of<'a>(new: &'a [u8], diff: &hld_chunker::ManifestDiff) -> Vec<&'a [u8]> {
    diff.upload
        .iter()
        .map(|e| &new[e.offset as usize..e.end() as usize])
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn diff_uploads_exactly_the_new_chunks_and_rebuilds(
        n in 0usize..60_000,
        seed in any::<u64>(),
        edits in prop::collection::vec(edit(), 0..6),
    ) {
        let old = random(n, seed);
        let mut new = old.clone();
        for e in &edits {
            apply(&mut new, e);
        }
        let (om, nm) = (Manifest::new(&cdc(), &old), Manifest::new(&cdc(), &new));
        let diff = nm.diff(&om);

        // Oracle: the set of new fingerprints minus the old ones, in order of
        // first appearance, each once.
        let old_set: HashSet<Fingerprint> = om.iter().map(|e| e.fingerprint).collect();
        let mut seen = HashSet::new();
        let want: Vec<Fingerprint> = nm
            .iter()
            .map(|e| e.fingerprint)
            .filter(|f| !old_set.contains(f) && seen.insert(*f))
            .collect();
        let got: Vec<Fingerprint> = diff.upload.iter().map(|e| e.fingerprint).collect();
        prop_assert_eq!(got, want);

        // The recipe covers the new file exactly.
        let covered: u64 = diff
            .recipe
            .iter()
            .map(|p| match p {
                Piece::Old { len, .. } => *len,
                Piece::New { index } => diff.upload[*index].len,
            })
            .sum();
        prop_assert_eq!(covered, new.len() as u64);
        prop_assert_eq!(diff.reused_bytes() + diff.recipe.iter().filter_map(|p| match p {
            Piece::New { index } => Some(diff.upload[*index].len),
            Piece::Old { .. } => None,
        }).sum::<u64>(), new.len() as u64);

        let rebuilt = diff.rebuild(&old, &upload_bytes_of(&new, &diff)).unwrap();
        prop_assert_eq!(&rebuilt, &new);
        prop_assert!(nm.verify(&rebuilt).is_ok());
    }

    #[test]
    fn bytes_round_trip(n in 0usize..50_000, seed in any::<u64>()) {
        let m = Manifest::new(&cdc(), &random(n, seed));
        prop_assert_eq!(Manifest::from_bytes(&m.to_bytes()).unwrap(), m);
    }

    #[test]
    fn truncated_bytes_are_rejected(n in 0usize..20_000, seed in any::<u64>(), cut in any::<prop::sample::Index>()) {
        let bytes = Manifest::new(&cdc(), &random(n, seed)).to_bytes();
        let keep = cut.index(bytes.len());
        prop_assert!(Manifest::from_bytes(&bytes[..keep]).is_err());
    }

    #[test]
    fn flipped_bits_are_rejected(n in 0usize..20_000, seed in any::<u64>(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = Manifest::new(&cdc(), &random(n, seed)).to_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        prop_assert!(Manifest::from_bytes(&bytes).is_err());
    }

    #[test]
    fn garbage_is_rejected_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        prop_assert!(Manifest::from_bytes(&bytes).is_err());
    }
}

#[test]
fn corrupt_inputs_name_the_problem() {
    let m = Manifest::new(&cdc(), &random(10_000, 5));
    let good = m.to_bytes();
    assert_eq!(Manifest::from_bytes(&good[..3]), Err(Error::Truncated));
    let mut b = good.clone();
    b[0] = b'X';
    assert_eq!(Manifest::from_bytes(&b), Err(Error::BadMagic));
    let mut b = good.clone();
    b[4] = 9;
    assert_eq!(Manifest::from_bytes(&b), Err(Error::UnsupportedVersion(9)));
    let mut b = good.clone();
    let last = b.len() - 1;
    b[last] ^= 0x80;
    assert_eq!(Manifest::from_bytes(&b), Err(Error::ChecksumMismatch));
    let mut b = good.clone();
    b.push(0);
    assert!(matches!(Manifest::from_bytes(&b), Err(Error::Malformed(_))));
    assert_eq!(
        Manifest::from_bytes(&good[..good.len() - 1]),
        Err(Error::Truncated)
    );
    assert_eq!(
        Manifest::from_bytes(&Manifest::default().to_bytes()),
        Ok(Manifest::default())
    );
}

#[test]
fn reassemble_from_a_chunk_store_and_detect_bad_chunks() {
    let data = random(200_000, 9);
    let m = Manifest::new(&cdc(), &data);
    let mut store: HashMap<Fingerprint, Vec<u8>> = HashMap::new();
    for e in &m {
        store.insert(
            e.fingerprint,
            data[e.offset as usize..e.end() as usize].to_vec(),
        );
    }
    assert_eq!(
        m.reassemble(|f| store.get(f).map(|v| v.as_slice()))
            .unwrap(),
        data
    );

    // A store returning wrong bytes, or missing a chunk, is an error.
    let victim = m.get(3).unwrap().fingerprint;
    store.get_mut(&victim).unwrap()[0] ^= 1;
    assert!(matches!(
        m.reassemble(|f| store.get(f).map(|v| v.as_slice())),
        Err(Error::Mismatch(_))
    ));
    store.remove(&victim);
    assert!(matches!(
        m.reassemble(|f| store.get(f).map(|v| v.as_slice())),
        Err(Error::Mismatch(_))
    ));

    let mut bad = data.clone();
    bad[100_000] ^= 1;
    assert!(m.verify(&bad).is_err());
    assert!(m.verify(&data[1..]).is_err());
    assert!(m.verify(&data).is_ok());
}

#[test]
fn rebuild_rejects_wrong_uploads_and_short_old_files() {
    let old = random(100_000, 1);
    let mut new = old.clone();
    new.splice(50_000..50_000, *b"hello");
    let (om, nm) = (Manifest::new(&cdc(), &old), Manifest::new(&cdc(), &new));
    let diff = nm.diff(&om);
    assert!(!diff.upload.is_empty());
    let good = upload_bytes_of(&new, &diff);
    assert_eq!(diff.rebuild(&old, &good).unwrap(), new);
    assert!(diff.rebuild(&old, &good[1..]).is_err());
    let mut wrong: Vec<Vec<u8>> = good.iter().map(|b| b.to_vec()).collect();
    wrong[0][0] ^= 1;
    assert!(matches!(
        diff.rebuild(&old, &wrong),
        Err(Error::Mismatch(_))
    ));
    assert!(matches!(
        diff.rebuild(&old[..10_000], &good),
        Err(Error::Mismatch(_))
    ));
}

#[test]
fn repeated_content_is_uploaded_once() {
    let block = random(50_000, 3);
    let new: Vec<u8> = block.iter().copied().cycle().take(400_000).collect();
    let nm = Manifest::new(&cdc(), &new);
    let diff = nm.diff(&Manifest::default());
    assert!(
        diff.upload_bytes() < 120_000,
        "uploaded {}",
        diff.upload_bytes()
    );
    assert!(nm.unique_bytes() < 120_000);
    assert_eq!(diff.reused_bytes(), 0);
    assert_eq!(
        diff.rebuild(&[], &upload_bytes_of(&new, &diff)).unwrap(),
        new
    );
}

#[test]
fn std_like_api() {
    let data = random(30_000, 4);
    let m = Manifest::new(&cdc(), &data);
    assert_eq!(m.len(), m.iter().count());
    assert!(!m.is_empty());
    assert_eq!(m.total_len(), 30_000);
    assert_eq!(m.entries().first().map(|e| e.offset), Some(0));
    let e = m.entry_at(12_345).unwrap();
    assert!(e.offset <= 12_345 && 12_345 < e.end());
    assert!(m.entry_at(30_000).is_none());
    // Built from chunk slices directly, or from a stream of pieces.
    let chunks: Vec<&[u8]> = cdc()
        .chunks(&data)
        .map(|c| c.bytes(&data).unwrap())
        .collect();
    assert_eq!(chunks.iter().copied().collect::<Manifest>(), m);
    assert_eq!(Manifest::from_pieces(&cdc(), data.chunks(1000)), m);
    let mut m2 = Manifest::default();
    assert!(m2.push(&[]).is_none());
    assert!(m2.is_empty());
    assert_eq!(Fingerprint::of(b"abc").to_string().len(), 64);
    // BLAKE3("abc"), from the BLAKE3 reference test vectors.
    assert!(Fingerprint::of(b"abc")
        .to_string()
        .starts_with("6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"));
}

#[cfg(feature = "serde")]
#[test]
fn serde_round_trips_and_validates() {
    let m = Manifest::new(&cdc(), &random(20_000, 8));
    let json = serde_json::to_string(&m).unwrap();
    assert_eq!(serde_json::from_str::<Manifest>(&json).unwrap(), m);
    let cdc = cdc();
    let json = serde_json::to_string(&cdc).unwrap();
    assert_eq!(serde_json::from_str::<FastCdc>(&json).unwrap(), cdc);
    assert!(serde_json::from_str::<FastCdc>(
        r#"{"min_size":4096,"avg_size":2048,"max_size":8192}"#
    )
    .is_err());
    let chunk = cdc.chunks(&[1u8; 5000]).next().unwrap();
    let json = serde_json::to_string(&chunk).unwrap();
    assert_eq!(
        serde_json::from_str::<hld_chunker::Chunk>(&json).unwrap(),
        chunk
    );
}
