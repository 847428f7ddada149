//! Truthful memory attribution for workers that share one process.
//!
//! Process RSS (sysinfo) says how much the node uses, not which worker uses it. To
//! attribute memory honestly, the binary installs [`AccountingAllocator`]: every heap
//! allocation carries a 16-byte header naming the *accounting slot* of the thread that
//! made it, and the slot's live-byte counter goes up on allocation and down on free —
//! whichever thread frees it. A worker runs on its own thread under its own slot (and
//! database calls it makes on blocking threads carry the slot along, see
//! [`AccountingScope`]), so a worker's figure is exactly the heap it allocated and has
//! not yet freed. Slot 0 collects everything not done on behalf of a worker.
//!
//! Without the allocator installed (library unit tests) every figure reads 0.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

/// Number of accounting slots; slot 0 is "not a worker".
pub const MAX_SLOTS: usize = 1024;
const HEADER: usize = 16;

/// A counter alone on its cache line, so busy slots do not slow each other.
#[repr(align(64))]
struct Counter(AtomicI64);

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: Counter = Counter(AtomicI64::new(0));
static LIVE: [Counter; MAX_SLOTS] = [ZERO; MAX_SLOTS];
static INSTALLED: AtomicBool = AtomicBool::new(false);
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    static SLOT: Cell<u16> = const { Cell::new(0) };
}

fn current_slot() -> u16 {
    SLOT.try_with(Cell::get).unwrap_or(0)
}

/// The global allocator that keeps the per-slot counts. Install it in the binary:
/// `#[global_allocator] static A: AccountingAllocator = AccountingAllocator;`
#[derive(Clone, Copy)]
pub struct AccountingAllocator;

impl AccountingAllocator {
    /// Layout with room for the header in front, keeping the caller's alignment.
    fn padded(layout: Layout) -> Option<(Layout, usize)> {
        let offset = layout.align().max(HEADER);
        let size = layout.size().checked_add(offset)?;
        Layout::from_size_align(size, offset)
            .ok()
            .map(|l| (l, offset))
    }
}

// SAFETY: every block handed out is `offset` bytes into a block obtained from
// `System` with the padded layout; the header (slot number) sits in the 8 bytes just
// before the returned pointer, inside that block. `dealloc`/`realloc` recompute the
// same padded layout from the caller's layout, as `GlobalAlloc` guarantees it is the
// one used to allocate.
unsafe impl GlobalAlloc for AccountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Ordering::Relaxed);
        let Some((padded, offset)) = Self::padded(layout) else {
            return std::ptr::null_mut();
        };
        let base = unsafe { System.alloc(padded) };
        if base.is_null() {
            return base;
        }
        let slot = current_slot();
        unsafe {
            let user = base.add(offset);
            (user.sub(8) as *mut u64).write(u64::from(slot));
            LIVE[slot as usize]
                .0
                .fetch_add(layout.size() as i64, Ordering::Relaxed);
            user
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some((padded, offset)) = Self::padded(layout) else {
            return;
        };
        unsafe {
            let slot = (ptr.sub(8) as *const u64).read() as usize % MAX_SLOTS;
            LIVE[slot]
                .0
                .fetch_sub(layout.size() as i64, Ordering::Relaxed);
            System.dealloc(ptr.sub(offset), padded);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some((padded, offset)) = Self::padded(layout) else {
            return std::ptr::null_mut();
        };
        let Some(new_total) = new_size.checked_add(offset) else {
            return std::ptr::null_mut();
        };
        unsafe {
            let slot = (ptr.sub(8) as *const u64).read() as usize % MAX_SLOTS;
            let base = System.realloc(ptr.sub(offset), padded, new_total);
            if base.is_null() {
                return base;
            }
            // The block keeps its owner; only the size changes.
            LIVE[slot]
                .0
                .fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
            base.add(offset)
        }
    }
}

/// Whether the accounting allocator is the process's allocator.
pub fn is_installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// Live heap bytes allocated under `slot`.
pub fn live_bytes(slot: u16) -> i64 {
    LIVE[slot as usize % MAX_SLOTS].0.load(Ordering::Relaxed)
}

/// Live heap bytes of the whole process allocated through Rust (every slot); C
/// libraries that call `malloc` themselves (SQLite, libpq) are not counted.
pub fn total_live_bytes() -> i64 {
    LIVE.iter().map(|c| c.0.load(Ordering::Relaxed)).sum()
}

/// Tunes glibc's allocator (under [`AccountingAllocator`]) so that a long-running node
/// gives memory back. Measured with `steward bench soak` (1,000 pods churning, SQLite):
/// glibc's defaults kept 150 MB of RSS for 1.3 MB of live heap and kept growing — a
/// heap per thread that touched memory (up to 8 × cores of them), and a `mmap`
/// threshold that rises after large frees, so multi-MB Prometheus answers and refresh
/// pages end up inside heaps that never shrink. With two arenas, a fixed 64 KiB `mmap`
/// threshold (larger blocks are mapped and unmapped on free) and a 128 KiB trim
/// threshold, the same run holds about 55 MB. An operator's own `MALLOC_ARENA_MAX`,
/// `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_` wins. Call first thing in `main`.
pub fn tune_system_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let unset = |var: &str| std::env::var_os(var).is_none();
        // SAFETY: mallopt only changes glibc's malloc parameters; called before any
        // thread of ours exists.
        unsafe {
            if unset("MALLOC_ARENA_MAX") {
                libc::mallopt(libc::M_ARENA_MAX, 2);
            }
            if unset("MALLOC_MMAP_THRESHOLD_") {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
            }
            if unset("MALLOC_TRIM_THRESHOLD_") {
                libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024);
            }
        }
    }
}

/// Returns free pages inside the allocator's heaps to the system (glibc's
/// `malloc_trim`): what a removed provider or a finished large refresh freed stops
/// counting as RSS. Takes milliseconds; call it off the reactor, now and then.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim is thread-safe and only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A fresh slot for a new worker incarnation (slots are reused round-robin past
/// `MAX_SLOTS`; a reused slot starts from what its previous owner left live).
pub fn allocate_slot() -> u16 {
    let n = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
    (1 + (n - 1) % (MAX_SLOTS - 1)) as u16
}

/// Allocations on this thread count against `slot` from now on.
pub fn set_thread_slot(slot: u16) {
    let _ = SLOT.try_with(|s| s.set(slot));
}

/// The slot this thread counts against.
pub fn thread_slot() -> u16 {
    current_slot()
}

/// Makes a blocking thread count against the slot of the worker it works for, for
/// the life of the scope (used by `Db::run`).
pub struct AccountingScope {
    previous: u16,
}

impl AccountingScope {
    pub fn enter(slot: u16) -> Self {
        let previous = current_slot();
        set_thread_slot(slot);
        Self { previous }
    }
}

impl Drop for AccountingScope {
    fn drop(&mut self) {
        set_thread_slot(self.previous);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The allocator is exercised directly here: unit tests run on the system allocator.
    #[test]
    fn blocks_are_attributed_to_the_slot_that_allocated_them() {
        let a = AccountingAllocator;
        let slot = allocate_slot();
        let before = live_bytes(slot);
        let layout = Layout::from_size_align(1000, 8).expect("layout");
        let ptr = std::thread::spawn(move || {
            set_thread_slot(slot);
            unsafe { a.alloc(layout) as usize }
        })
        .join()
        .expect("thread");
        assert_eq!(live_bytes(slot) - before, 1000);
        // Grown and freed on another thread: still charged to, then released from, `slot`.
        let grown = unsafe { a.realloc(ptr as *mut u8, layout, 5000) };
        assert!(!grown.is_null());
        assert_eq!(live_bytes(slot) - before, 5000);
        unsafe { a.dealloc(grown, Layout::from_size_align(5000, 8).expect("layout")) };
        assert_eq!(live_bytes(slot) - before, 0);
    }

    #[test]
    fn large_alignments_are_honoured() {
        let a = AccountingAllocator;
        for align in [1usize, 8, 16, 64, 4096] {
            let layout = Layout::from_size_align(100, align).expect("layout");
            let ptr = unsafe { a.alloc(layout) };
            assert!(!ptr.is_null());
            assert_eq!(ptr as usize % align, 0, "align {align}");
            unsafe { a.dealloc(ptr, layout) };
        }
    }

    #[test]
    fn scopes_restore_the_previous_slot() {
        set_thread_slot(0);
        {
            let _scope = AccountingScope::enter(7);
            assert_eq!(thread_slot(), 7);
        }
        assert_eq!(thread_slot(), 0);
    }
}
