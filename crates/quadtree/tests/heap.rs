//! `QuadTree::heap_bytes` against the allocator: a global allocator that keeps
//! each thread's live heap bytes, so the tests (one tree per thread) can
//! compare what the tree says it holds with what it really holds.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use hld_quadtree::{Point, QuadTree};

thread_local! {
    // Const-initialised and without a destructor, so touching it never allocates.
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

struct Counting;

fn add(n: isize) {
    // `try_with`: a thread being torn down may still free memory.
    let _ = LIVE.try_with(|l| l.set(l.get() + n));
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; the only addition is a
// thread-local counter update, which neither allocates nor unwinds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as isize));
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size as isize - layout.size() as isize);
        // SAFETY: `ptr` came from `System` with `layout`; same contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What building `f` leaves on the heap, and the tree.
fn measured(f: impl FnOnce() -> QuadTree<u64>) -> (QuadTree<u64>, usize) {
    // The hasher's process-wide seed is allocated once, by the first tree:
    // not this tree's memory.
    drop(QuadTree::<u64>::new());
    let before = LIVE.with(Cell::get);
    let t = f();
    let after = LIVE.with(Cell::get);
    (t, (after - before) as usize)
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn point(&mut self) -> Point {
        let lat = (2.0 * self.unit() - 1.0).asin().to_degrees();
        Point::new(lat.clamp(-90.0, 90.0), 360.0 * self.unit() - 180.0).unwrap()
    }
}

fn points(n: usize, seed: u64) -> Vec<(u64, Point)> {
    let mut rng = Rng(seed);
    (0..n as u64).map(|i| (i, rng.point())).collect()
}

fn close(said: usize, real: usize, tolerance: f64) {
    let ratio = said as f64 / real as f64;
    assert!(
        (1.0 - tolerance..=1.0 + tolerance).contains(&ratio),
        "heap_bytes {said} vs allocator {real} (ratio {ratio:.3})"
    );
}

#[test]
fn empty_tree() {
    let (t, real) = measured(QuadTree::new);
    assert_eq!(t.heap_bytes(), real);
}

#[test]
fn bulk_loaded_trees() {
    for cap in [8, 32, 500] {
        let items = points(100_000, cap as u64);
        let (t, real) = measured(|| {
            QuadTree::bulk_load_with_leaf_capacity(items.iter().copied(), cap).unwrap()
        });
        close(t.heap_bytes(), real, 0.01);
    }
}

#[test]
fn trees_grown_and_churned_one_point_at_a_time() {
    let mut rng = Rng(7);
    let (t, real) = measured(|| {
        let mut t = QuadTree::with_leaf_capacity(64).unwrap();
        for (id, p) in points(50_000, 3) {
            t.insert(id, p);
        }
        for i in 0..40_000u64 {
            // Moves, removals and re-insertions.
            match i % 4 {
                0 => {
                    t.remove(&(rng.next() % 50_000));
                }
                _ => {
                    t.insert(rng.next() % 60_000, rng.point());
                }
            }
        }
        t
    });
    close(t.heap_bytes(), real, 0.01);
}

#[test]
fn piles_of_identical_positions_are_estimated() {
    let mut rng = Rng(11);
    let piles: Vec<Point> = (0..5).map(|_| rng.point()).collect();
    let (t, real) = measured(|| {
        let mut t = QuadTree::new();
        for id in 0..20_000u64 {
            t.insert(id, piles[id as usize % piles.len()]);
        }
        for id in 20_000..21_000u64 {
            t.insert(id, rng.point());
        }
        t
    });
    close(t.heap_bytes(), real, 0.15);
}
