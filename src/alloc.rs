//! Allocator tuning, once at start (glibc only; other C libraries are left alone).
//!
//! glibc raises its mmap threshold each time a large block is freed, up to 32 MiB, so after a
//! few remote-write or import requests their multi-megabyte transient buffers come from the
//! heap arenas instead of `mmap`, interleave with long-lived series memory and leave holes the
//! arenas never return. Pinning the threshold at 128 KiB sends them back to the kernel when
//! freed, at the cost of a few page faults per large request. `main` calls [`tune`] first
//! thing (from issue 9 on: before, nothing called it); what it changes in RSS per series is
//! measured in docs/benchmarks.md "Durability".
//!
//! With `crate::thread_nice` and `storage/src/mmap.rs`, the only `unsafe` code of the workspace.
#![allow(unsafe_code)]

use std::sync::Once;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// Threshold at and above which glibc serves allocations with `mmap` (its initial default).
pub const MMAP_THRESHOLD_BYTES: i32 = 128 * 1024;

/// Applies the tuning (the mmap threshold and [`arena_max`]). Call first thing in `main`,
/// before any thread starts.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets an allocator parameter; it takes no pointers, is safe to
    // call at any time (glibc locks its arenas), and an unknown parameter is just refused.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            libc::mallopt(libc::M_ARENA_MAX, arena_max());
        }
    }
}

/// Heap arenas glibc may create: one per core instead of its default eight per core.
///
/// Each arena keeps what was freed in it for its own next use, and a thread sticks to one, so
/// the transient memory of a query grows with the arenas its threads touched: `topk(5, m)`
/// over 200k series peaked at +66 MiB with the default, +28 MiB with 4 arenas and +19 MiB
/// with 2, on this 2-core machine (docs/benchmarks.md, "Soak"). With one arena per core, at
/// most as many threads allocate at once as there are arenas. `MALLOC_ARENA_MAX` in the
/// environment still wins.
fn arena_max() -> i32 {
    std::thread::available_parallelism().map_or(2, |n| i32::try_from(n.get()).unwrap_or(64))
}

/// Gives free heap pages back to the kernel (glibc `malloc_trim(0)`: every arena, including
/// whole free pages between live blocks), now, on the calling thread: the trimmer's work.
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes no pointers and only returns free memory (glibc locks each
    // arena while it walks it); it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Trims still owed by the trimmer thread (see [`trim_soon`]).
static TRIMS_OWED: AtomicU8 = AtomicU8::new(0);

/// How often the trimmer thread looks for owed trims.
const TRIM_TICK: Duration = Duration::from_millis(500);

/// Asks for free heap pages to go back to the kernel shortly, off the calling thread.
///
/// Call after a burst of short-lived allocations: a query, a remote read or a rule group over
/// many series, a scrape that created many series. glibc gives each thread its own arena (up
/// to 8 per core) and keeps what a thread freed there for that thread's next use, so without
/// trims the query pool's threads each held on to their largest query's memory: 20
/// `topk(5, m)` over 200k series left 800 MiB of free heap in the process (docs/benchmarks.md,
/// "Soak"). The trimmer runs two trims for each request, a tick apart, so memory freed just
/// after the request (an answer's label sets, dropped once the HTTP worker has written them)
/// goes back too; a stream of requests costs at most one trim per tick.
pub fn trim_soon() {
    TRIMS_OWED.store(2, Ordering::Relaxed);
}

/// Starts the thread that runs the trims [`trim_soon`] asks for (once per process).
pub fn spawn_trimmer() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("malloc-trim".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(TRIM_TICK);
                    if take_owed_trim() {
                        let started = Instant::now();
                        trim();
                        tracing::debug!(
                            ms = started.elapsed().as_secs_f64() * 1e3,
                            "free heap returned to the kernel"
                        );
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(err = %e, "no malloc-trim thread: freed heap stays with the process");
        }
    });
}

/// Takes one owed trim, if any.
fn take_owed_trim() -> bool {
    TRIMS_OWED
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_owes_two_trims_and_requests_do_not_pile_up() {
        TRIMS_OWED.store(0, Ordering::Relaxed);
        assert!(!take_owed_trim());
        trim_soon();
        trim_soon();
        trim_soon();
        assert!(take_owed_trim());
        assert!(take_owed_trim());
        assert!(!take_owed_trim());
    }
}
