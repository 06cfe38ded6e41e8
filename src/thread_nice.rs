//! Per-thread nice values (Linux keeps one per thread): the pools that serve reads lower
//! theirs so scrapes and ingest win the cores when both want them (`--storage.read-nice`).
//! Elsewhere these do nothing: other systems' nice values are per process.
//!
//! With `crate::alloc` and `storage/src/mmap.rs`, the only `unsafe` code of the workspace.
#![allow(unsafe_code)]

/// Lowers the calling thread's priority by `steps` nice values (at most to 19). A failure
/// (a sandbox without `setpriority`) leaves the thread as it was: priority is a preference,
/// never a reason to refuse work.
pub fn lower(steps: i32) {
    #[cfg(target_os = "linux")]
    {
        let now = current();
        // SAFETY: `setpriority` on the calling thread's own id takes no pointers.
        let rc = unsafe {
            libc::setpriority(
                libc::PRIO_PROCESS,
                libc::gettid() as libc::id_t,
                (now + steps).min(19),
            )
        };
        if rc != 0 {
            tracing::debug!("could not lower the priority of a pool thread");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = steps;
}

/// The calling thread's nice value (-20..=19; 0 where threads have none of their own).
pub fn current() -> i32 {
    #[cfg(target_os = "linux")]
    // SAFETY: `getpriority` on the calling thread's own id takes no pointers. Its -1 is also
    // a valid nice value; with our own id it cannot fail.
    unsafe {
        libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t)
    }
    #[cfg(not(target_os = "linux"))]
    0
}
