//! The Gear hash's constants: the 256-entry table, the normalized-chunking
//! masks, and the pre-shifted tables the fast scanner uses.
//!
//! The table is *generated* here, at compile time, the way the FastCDC
//! reference implementation generates it, rather than transcribed: entry `i`
//! is the first eight bytes (read big-endian) of the MD5 digest of 64 bytes
//! that all equal `i`. That is how the C reference implementation (destor,
//! `src/chunking/fascdc_chunking.c`) and the `fastcdc` crate (its
//! `examples/table64.rs`, which produces `v2020::GEAR`) build it, so chunk
//! boundaries interoperate with theirs. A unit test pins a few published
//! entries, and the conformance tests check every boundary against `fastcdc`.

/// How many bytes the fast scanner consumes between two shifts of its hash
/// accumulator (see [`SHIFTED`]). Eight keeps the eight shifted masks, two
/// lane accumulators, the index and the table base in registers on x86-64,
/// and the eight 2 KiB tables in L1.
pub(crate) const BLOCK: usize = 8;

/// The Gear table: `GEAR[b]` is added to the hash (after a one-bit shift) for
/// every input byte `b`.
pub(crate) const GEAR: [u64; 256] = build_gear();

/// `SHIFTED[r][b] == GEAR[b] << (BLOCK - 1 - r)`.
///
/// The Gear recurrence `h = (h << 1) + GEAR[b]` is one dependent shift and
/// one dependent add per byte. Over a block of `BLOCK` bytes the scanner keeps
/// `a_r = h_r << (BLOCK - 1 - r)` instead, so each byte costs one add of a
/// pre-shifted entry and the shift happens once per block. The cut test still
/// holds exactly, because `(h << s) & (m << s) == (h & m) << s` whenever the
/// mask `m` keeps its top `s` bits clear (all masks are below 2^48). This is
/// the FastCDC 2020 paper's "rolling two bytes each time" (section 3.7, the
/// `GEAR_LS` table) taken to `BLOCK` bytes.
pub(crate) const SHIFTED: [[u64; 256]; BLOCK] = build_shifted();

/// Bits of the hash that any cut test reads: every mask is below `2^48`, and
/// the low 48 bits of the Gear hash depend on the last 48 bytes only (each
/// byte's entry is shifted left once per later byte), so 48 bytes of warm-up
/// reproduce them exactly.
pub(crate) const TESTED_BITS: u32 = 48;

/// The cut-point masks of FastCDC, indexed by `log2(average size)` rounded,
/// plus or minus the normalization level. Normalization level 1 uses
/// `MASKS[bits + 1]` (strict, before the average size) and `MASKS[bits - 1]`
/// (loose, after it), so averages from 256 B (bits 8) to 4 MiB (bits 22) read
/// indexes 7 through 23.
///
/// Source: the values for 64 B through 128 KiB are those of the C reference
/// implementation (destor); the larger ones come from restic-FastCDC; both as
/// collected in the `fastcdc` crate 5.x, `v2020::MASKS`. They are data of the
/// published algorithm (bits spread evenly, as the FastCDC paper recommends),
/// reproduced here exactly. Indexes 0 to 6 are never read at level 1.
pub(crate) const MASKS: [u64; 24] = [
    0,                     // unused
    0,                     // unused
    0,                     // unused
    0,                     // unused
    0,                     // unused
    0,                     // unused
    0,                     // unused
    0x0000_0000_1803_5100, // 128 B
    0x0000_0018_0003_5300, // 256 B
    0x0000_0190_0035_3000, // 512 B
    0x0000_5900_0353_0000, // 1 KiB
    0x0000_d900_0353_0000, // 2 KiB
    0x0000_d901_0353_0000, // 4 KiB
    0x0000_d903_0353_0000, // 8 KiB
    0x0000_d903_1353_0000, // 16 KiB
    0x0000_d90f_0353_0000, // 32 KiB
    0x0000_d903_0353_7000, // 64 KiB
    0x0000_d907_0353_7000, // 128 KiB
    0x0000_d907_0753_7000, // 256 KiB
    0x0000_d917_0753_7000, // 512 KiB
    0x0000_d917_4753_7000, // 1 MiB
    0x0000_d917_6753_7000, // 2 MiB
    0x0000_d937_6753_7000, // 4 MiB
    0x0000_d937_7753_7000, // 8 MiB
];

// Every mask must keep its top 16 bits clear: the shifted tests and the
// 48-byte warm-up both rely on it.
const _: () = {
    let mut i = 0;
    while i < MASKS.len() {
        assert!(MASKS[i] >> TESTED_BITS == 0);
        assert!(BLOCK as u32 <= 64 - TESTED_BITS);
        i += 1;
    }
};

/// The strict and loose masks for an average size, at normalization level 1.
///
/// `log2` is rounded to the nearest integer with `f64`, exactly as `fastcdc`
/// 5.x does (so 12 KiB picks the 16 KiB bucket, not the 8 KiB one).
pub(crate) fn masks_for(avg_size: usize) -> (u64, u64) {
    let bits = (avg_size as f64).log2().round() as usize;
    (MASKS[bits + 1], MASKS[bits - 1])
}

/// The plain Gear hash of `bytes`, starting from zero: what FastCDC computes
/// from the minimum size onwards.
#[inline]
pub(crate) fn gear_fold(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, &b| (h << 1).wrapping_add(GEAR[b as usize]))
}

/// The Gear hash of `bytes`, `BLOCK` bytes per step with the pre-shifted tables:
/// equal to [`gear_fold`] with a shorter dependency chain (one add per byte,
/// one shift per block). Used to warm scanner lanes up.
#[inline]
pub(crate) fn gear_fold_fast(mut h: u64, bytes: &[u8]) -> u64 {
    let mut blocks = bytes.chunks_exact(BLOCK);
    for block in &mut blocks {
        let mut a = h << BLOCK;
        for (r, &b) in block.iter().enumerate() {
            a = a.wrapping_add(SHIFTED[r][b as usize]);
        }
        h = a;
    }
    gear_fold(h, blocks.remainder())
}

const fn build_shifted() -> [[u64; 256]; BLOCK] {
    let mut t = [[0u64; 256]; BLOCK];
    let mut r = 0;
    while r < BLOCK {
        let mut b = 0;
        while b < 256 {
            t[r][b] = GEAR[b] << (BLOCK - 1 - r);
            b += 1;
        }
        r += 1;
    }
    t
}

const fn build_gear() -> [u64; 256] {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = md5_head_of_repeated(i as u8);
        i += 1;
    }
    t
}

/// MD5 (RFC 1321) of the 64-byte message `[byte; 64]`, returning the first
/// eight digest bytes read as a big-endian integer.
const fn md5_head_of_repeated(byte: u8) -> u64 {
    // RFC 1321 section 3.3: the initial state.
    let mut state = [0x6745_2301u32, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    // First block: the message itself, sixteen little-endian words.
    let word = u32::from_le_bytes([byte; 4]);
    state = md5_compress(state, [word; 16]);
    // Second block: padding (0x80, zeros) and the bit length, 512, little-endian.
    let mut pad = [0u32; 16];
    pad[0] = 0x80;
    pad[14] = 512;
    state = md5_compress(state, pad);
    let a = state[0].to_le_bytes();
    let b = state[1].to_le_bytes();
    u64::from_be_bytes([a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]])
}

/// RFC 1321 section 3.4: the per-round shift amounts.
const MD5_S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, //
    5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, //
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, //
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

/// RFC 1321 section 3.4: `T[i] = floor(2^32 * |sin(i + 1)|)`.
const MD5_T: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

const fn md5_compress(state: [u32; 4], m: [u32; 16]) -> [u32; 4] {
    let [mut a, mut b, mut c, mut d] = state;
    let mut i = 0;
    while i < 64 {
        let (f, g) = match i / 16 {
            0 => ((b & c) | (!b & d), i),
            1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
            2 => (b ^ c ^ d, (3 * i + 5) % 16),
            _ => (c ^ (b | !d), (7 * i) % 16),
        };
        let f = f.wrapping_add(a).wrapping_add(MD5_T[i]).wrapping_add(m[g]);
        a = d;
        d = c;
        c = b;
        b = b.wrapping_add(f.rotate_left(MD5_S[i]));
        i += 1;
    }
    [
        state[0].wrapping_add(a),
        state[1].wrapping_add(b),
        state[2].wrapping_add(c),
        state[3].wrapping_add(d),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_matches_rfc_1321_test_vector_shape() {
        // MD5("") = d41d8cd98f00b204e9800998ecf8427e (RFC 1321 appendix A.5):
        // one block of padding only.
        let mut pad = [0u32; 16];
        pad[0] = 0x80;
        let s = md5_compress([0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476], pad);
        let a = s[0].to_le_bytes();
        let b = s[1].to_le_bytes();
        let head = u64::from_be_bytes([a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]);
        assert_eq!(head, 0xd41d_8cd9_8f00_b204);
    }

    #[test]
    fn gear_table_matches_published_entries() {
        // Entries of `fastcdc` 5.x `v2020::GEAR` (also the destor table).
        assert_eq!(GEAR[0], 0x3b5d_3c7d_207e_37dc);
        assert_eq!(GEAR[1], 0x784d_68ba_9112_3086);
        assert_eq!(GEAR[2], 0xcd52_880f_882e_7298);
        assert_eq!(GEAR[128], 0xc0ce_47f8_8933_6346);
        assert_eq!(GEAR[255], 0xaabd_2b2a_4515_04e1);
        // And the whole published table, through a polynomial digest
        // (`d = d * 31 + entry`, wrapping) computed from its source text.
        let digest = GEAR
            .iter()
            .fold(0u64, |d, &g| d.wrapping_mul(31).wrapping_add(g));
        assert_eq!(digest, 0xc497_074e_4dbe_7f5d);
        // All distinct: a sanity check that the generator did not collapse.
        let mut v = GEAR.to_vec();
        v.sort_unstable();
        v.dedup();
        assert_eq!(v.len(), 256);
    }

    #[test]
    fn shifted_fold_equals_plain_fold() {
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i * 7919 % 251) as u8).collect();
        for len in [0, 1, 3, 4, 5, 63, 64, 65, 999, 1000] {
            for start in [0u64, 1, 0xdead_beef] {
                assert_eq!(
                    gear_fold(start, &bytes[..len]),
                    gear_fold_fast(start, &bytes[..len])
                );
            }
        }
    }

    #[test]
    fn masks_follow_rounded_log2() {
        assert_eq!(masks_for(256), (MASKS[9], MASKS[7]));
        assert_eq!(masks_for(16384), (MASKS[15], MASKS[13]));
        assert_eq!(masks_for(12288), (MASKS[15], MASKS[13]));
        assert_eq!(masks_for(4_194_304), (MASKS[23], MASKS[21]));
    }
}
