//! Periodic head snapshots, so that a restart after a crash (`kill -9`, OOM) also loads a
//! recent snapshot and replays only the WAL since; the graceful stop writes one anyway.

use std::sync::Weak;
use std::time::Duration;

use super::Head;

/// A thread writing a head snapshot every interval; stopped (and joined) on drop.
#[derive(Debug)]
pub struct SnapshotTicker {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SnapshotTicker {
    /// Starts writing a snapshot of `head` every `every` (while the head lives).
    pub fn start(head: Weak<Head>, every: Duration) -> std::io::Result<SnapshotTicker> {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("head-snapshot".to_owned())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                    let Some(head) = head.upgrade() else { return };
                    // A failed snapshot costs a longer restart, nothing else: log and go on.
                    if let Err(e) = head.write_snapshot() {
                        tracing::warn!(error = %e, "head snapshot failed; retrying next interval");
                    }
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
