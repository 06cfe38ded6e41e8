//! Periodic head snapshots, so that a restart after a crash (`kill -9`, OOM) also loads a
//! recent snapshot and replays only the WAL since (the graceful stop writes one anyway). A
//! snapshot is due every interval if anything was logged since the last one, and sooner once
//! the WAL has grown by a given number of bytes: that bounds what a crash leaves to replay.

use std::sync::Weak;
use std::time::{Duration, Instant};

use super::Head;

/// How often the ticker looks at the WAL's growth.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// A thread writing head snapshots; stopped (and joined) on drop.
#[derive(Debug)]
pub struct SnapshotTicker {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SnapshotTicker {
    /// Starts writing a snapshot of `head` every `every` (when something was logged since the
    /// last) and whenever the WAL grew by `wal_bytes` since the last (while the head lives).
    pub fn start(head: Weak<Head>, every: Duration, wal_bytes: u64) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("head-snapshot".to_owned())
            .spawn(move || {
                let written = |h: &Head| h.wal_stats().map_or(0, |s| s.bytes_written);
                let mut last = (Instant::now(), head.upgrade().map_or(0, |h| written(&h)));
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    rx.recv_timeout(CHECK_EVERY)
                {
                    let Some(head) = head.upgrade() else { return };
                    let now = written(&head);
                    let grown = now.saturating_sub(last.1);
                    if grown == 0 || (grown < wal_bytes && last.0.elapsed() < every) {
                        continue;
                    }
                    // A failed snapshot costs a longer restart, nothing else: log and go on.
                    if let Err(e) = head.write_snapshot() {
                        tracing::warn!(error = %e, "head snapshot failed; retrying next interval");
                    }
                    last = (Instant::now(), now);
                }
            })?;
        Ok(SnapshotTicker {
            stop: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for SnapshotTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
