//! The slice API allocates nothing: counted with a global allocator that
//! tallies allocations per thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use hld_chunker::FastCdc;

thread_local! {
    // Const-initialised and without a destructor, so reading it never allocates.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; the only addition is a
// thread-local counter update, which neither allocates nor unwinds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(|n| n.get())
}

#[test]
fn chunking_a_slice_allocates_nothing() {
    let mut x = 0x1234_5678_9abc_def1u64;
    let data: Vec<u8> = (0..4_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    for (min, avg, max) in [(64, 256, 1024), (2048, 8192, 65536), (16384, 65536, 262144)] {
        let cdc = FastCdc::new(min, avg, max).unwrap();
        let before = allocations();
        let mut count = 0usize;
        let mut total = 0usize;
        for c in cdc.chunks(&data) {
            count += 1;
            total += c.len;
        }
        let (len, _) = cdc.cut(&data);
        assert_eq!(allocations(), before, "sizes {min}/{avg}/{max}");
        assert_eq!(total, data.len());
        assert!(count > 10 && len > 0);
    }
    // The counter does see allocations: collecting the chunks allocates.
    let before = allocations();
    let cdc = FastCdc::new(2048, 8192, 65536).unwrap();
    let chunks: Vec<_> = cdc.chunks(&data).collect();
    assert!(allocations() > before && !chunks.is_empty());
}
