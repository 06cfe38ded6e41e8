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
//! This and `storage/src/mmap.rs` are the only `unsafe` code of the workspace.
#![allow(unsafe_code)]

/// Threshold at and above which glibc serves allocations with `mmap` (its initial default).
pub const MMAP_THRESHOLD_BYTES: i32 = 128 * 1024;

/// Applies the tuning. Call first thing in `main`, before any thread starts.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets an allocator parameter; it takes no pointers, is safe to
    // call at any time (glibc locks its arenas), and an unknown parameter is just refused.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
    }
}

/// Gives free heap pages back to the kernel (glibc `malloc_trim(0)`: every arena, including
/// whole free pages between live blocks). Worth its few milliseconds after a burst of
/// short-lived allocations, such as a scrape that created many series (their label sets and
/// appender state are freed at commit, leaving holes among the long-lived index memory).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes no pointers and only returns free memory (glibc locks each
    // arena while it walks it); it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
