//! Backing memory for big filters: reserved, then (on Linux) advised onto
//! transparent huge pages before the first write.
//!
//! Why: a filter of 10M items at 1% is 13.4 MB. On 4 KiB pages that is over
//! 3,000 pages, more than a core's second-level TLB holds, so a random lookup
//! pays a page walk on top of its one cache miss; on a virtual machine the
//! walk is two-dimensional and costs more than the miss. On 2 MiB pages the
//! same filter needs 7 TLB entries. Many Linux systems (this project's CI
//! machine among them) run transparent huge pages in `madvise` mode: a region
//! only gets them when asked with `madvise(MADV_HUGEPAGE)`, and only for pages
//! not yet touched. So the blocks are reserved, advised, and only then
//! written. Everywhere else, or when the kernel says no, this is a plain
//! reservation: the advice changes neither contents nor validity of memory.
//!
//! The `unsafe` here is one call into the C library (module `sys`); the
//! crate's only other `unsafe` is the SSE2 code of `block::simd`.

use std::collections::TryReserveError;

/// Regions smaller than this are left alone: a few TLB entries cover them,
/// and advising small regions only fragments the process's mappings.
pub(crate) const HUGE_MIN_BYTES: usize = 4 << 20;

/// An empty vector with room for exactly `n` items; when the room is at
/// least [`HUGE_MIN_BYTES`], advised onto huge pages (Linux). Fill it
/// afterwards (`extend`, `resize`): pages written before the advice would
/// stay small.
pub(crate) fn reserve<B>(n: usize) -> Result<Vec<B>, TryReserveError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)?;
    advise_huge(&v);
    Ok(v)
}

/// `items` (exactly `n` of them) collected into advised memory, as `collect`
/// would but with the advice before the first write. Aborts like `collect`
/// when the memory cannot be had.
pub(crate) fn collect<B>(n: usize, items: impl Iterator<Item = B>) -> Vec<B> {
    let mut v = reserve(n).unwrap_or_else(|_| {
        std::alloc::handle_alloc_error(
            std::alloc::Layout::array::<B>(n).unwrap_or(std::alloc::Layout::new::<B>()),
        )
    });
    v.extend(items);
    v
}

/// Advises the whole 4 KiB pages inside `v`'s allocation onto huge pages.
/// True when the kernel took the advice; false when the region is small,
/// the system is not Linux or the kernel declined (no THP support).
pub(crate) fn advise_huge<B>(v: &Vec<B>) -> bool {
    let bytes = v.capacity().saturating_mul(std::mem::size_of::<B>());
    if bytes < HUGE_MIN_BYTES {
        return false;
    }
    sys::advise_huge(v.as_ptr() as usize, bytes)
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod sys {
    use std::ffi::{c_int, c_void};

    /// `MADV_HUGEPAGE` from `<linux/mman.h>` (asm-generic/mman-common.h): the
    /// same value on every Linux architecture.
    const MADV_HUGEPAGE: c_int = 14;
    /// `madvise` wants page-aligned starts; 4 KiB is the smallest page size of
    /// every architecture Linux runs on, and larger pages are multiples of it,
    /// so rounding inward to 4 KiB never leaves the allocation.
    const PAGE: usize = 4096;

    extern "C" {
        /// POSIX `madvise(2)`, from the C library std already links.
        fn madvise(addr: *mut c_void, len: usize, advice: c_int) -> c_int;
    }

    pub(super) fn advise_huge(start: usize, bytes: usize) -> bool {
        // Only whole pages inside [start, start + bytes): the advice never
        // reaches memory we do not own.
        let lo = start.next_multiple_of(PAGE);
        let hi = (start + bytes) / PAGE * PAGE;
        if hi <= lo {
            return false;
        }
        // SAFETY: `[lo, hi)` is page-aligned and lies inside one live
        // allocation the caller owns (a `Vec`'s reserved capacity). With
        // MADV_HUGEPAGE the kernel only records a preference for how future
        // faults in the range are backed: contents, permissions and validity
        // of the memory are unchanged, whatever the kernel decides. The call
        // reads and writes no Rust memory, and an error return is harmless.
        let rc = unsafe { madvise(lo as *mut c_void, hi - lo, MADV_HUGEPAGE) };
        rc == 0
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    pub(super) fn advise_huge(_start: usize, _bytes: usize) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_regions_are_left_alone() {
        let v: Vec<u64> = reserve(1000).unwrap();
        assert!(v.capacity() >= 1000 && v.is_empty());
        assert!(!advise_huge(&v));
    }

    #[test]
    fn big_regions_are_advised_and_usable() {
        let n = (HUGE_MIN_BYTES * 2) / 8;
        let mut v: Vec<u64> = reserve(n).unwrap();
        let took = advise_huge(&v);
        // Where the kernel has transparent huge pages, it must accept the
        // advice on our own, page-aligned range.
        if cfg!(target_os = "linux")
            && std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists()
        {
            assert!(took, "madvise(MADV_HUGEPAGE) refused on a THP kernel");
        }
        v.extend((0..n as u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        assert_eq!(v.len(), n);
        assert_eq!(v[n - 1], (n as u64 - 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        assert_eq!(v.iter().filter(|&&x| x == 0).count(), 1);
    }

    #[test]
    fn big_filters_on_advised_memory_behave() {
        // 4M items at 1% is about 5 MB: past HUGE_MIN_BYTES, so new, clone,
        // from_bytes and the atomic clone all take the advised path.
        let mut f = crate::BloomFilter::new(4_000_000, 0.01).unwrap();
        assert!(f.byte_len() >= HUGE_MIN_BYTES);
        for i in 0..20_000u64 {
            f.insert(&i);
        }
        let g = f.clone();
        assert!(g == f);
        let h = crate::BloomFilter::from_bytes(&f.to_bytes()).unwrap();
        assert!(h == f);
        let a = crate::AtomicBloomFilter::from(h);
        let b = a.clone();
        a.insert(&u64::MAX);
        assert!((0..20_000u64).all(|i| g.contains(&i) && b.contains(&i)));
        assert!(a.contains(&u64::MAX) && a.snapshot().contains(&u64::MAX));
        assert!(b.into_inner() == f);
    }
}
