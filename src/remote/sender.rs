//! The remote-write sender: forwards what fedstore's WAL holds to `remote_write` receivers
//! (Prometheus, Mimir, Thanos Receive, Cortex, VictoriaMetrics), as Prometheus 2.42's
//! `storage/remote` does, in our own design (docs/architecture.md, "remote-write sender"):
//!
//! - [`watcher`] tails the WAL (series records into a ref map, samples records into the
//!   queue) and follows new segments;
//! - [`queue`] spreads samples over shards by series hash, reshards by throughput and
//!   persists the acknowledged WAL position ([`position`], tracked by [`ledger`]);
//! - [`shard`] batches, encodes ([`encode`]), posts ([`crate::http_post`], TLS through the
//!   shared rustls configuration) and retries ([`client`]);
//! - a [`fedstore_storage::wal::WalHold`] keeps checkpoints from deleting segments a
//!   queue has not finished, up to `--storage.remote.max-wal-lag-segments`.
//!
//! Delivery is at least once: a sample is resent after a restart when it was acknowledged by
//! the receiver but its position had not been written yet (at most ~200 ms of sends).

pub mod client;
pub mod encode;
pub mod ledger;
pub mod metrics;
pub mod position;
pub mod queue;
pub mod shard;
pub mod watcher;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use fedstore_storage::Head;
use fedstore_storage::wal::WalPosition;
use parking_lot::Mutex;

use crate::config::Config;
use crate::config::remote_write::RemoteWriteConfig;
use metrics::{QueueMetrics, QueueView};
use queue::Queue;

/// Directory under the data directory holding the queues' position files.
pub const POSITION_DIR: &str = "remote_write";

/// Registers, before compaction starts, a WAL hold for every position file under `data_dir`,
/// so that no checkpoint deletes what a queue of the previous run had not sent before the
/// configuration is applied. Holds no queue claims are released by the first
/// [`RemoteWriteSender::apply_config`].
pub fn preload_holds(head: &Head, data_dir: &Path) {
    let dir = data_dir.join(POSITION_DIR);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in rd.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("position") {
            continue;
        }
        let (Some(stem), Some(pos)) = (
            path.file_stem().and_then(|s| s.to_str()),
            position::load(&path),
        ) else {
            continue;
        };
        head.wal_hold().set(stem, pos);
    }
}

struct Running {
    cfg: RemoteWriteConfig,
    external_labels: Vec<(String, String)>,
    queue: Arc<Queue>,
    threads: Vec<JoinHandle<()>>,
}

impl Running {
    fn stop(self) {
        self.queue.stop();
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// The queues of the `remote_write` entries in force.
pub struct RemoteWriteSender {
    head: Arc<Head>,
    data_dir: PathBuf,
    running: Mutex<HashMap<String, Running>>,
    /// Metrics survive a queue's restart on reload (counters do not go back).
    metrics: Mutex<HashMap<String, Arc<QueueMetrics>>>,
}

impl RemoteWriteSender {
    /// A sender with no queues over `head`, keeping positions under `data_dir`.
    pub fn new(head: Arc<Head>, data_dir: &Path) -> RemoteWriteSender {
        RemoteWriteSender {
            head,
            data_dir: data_dir.to_owned(),
            running: Mutex::new(HashMap::new()),
            metrics: Mutex::new(HashMap::new()),
        }
    }

    /// Makes the running queues those of `cfg.remote_write`: an entry whose configuration and
    /// external labels are unchanged keeps running (Prometheus compares hashes); changed ones
    /// restart from their persisted position; removed ones stop and release their WAL hold.
    pub fn apply_config(&self, cfg: &Config) -> Result<(), String> {
        let Some(wal_dir) = self.head.wal_dir().map(Path::to_owned) else {
            if cfg.remote_write.is_empty() {
                return Ok(());
            }
            return Err("remote_write needs the WAL, and this head has none".into());
        };
        // Check every new entry before stopping anything.
        let mut wanted = Vec::new();
        for rw in &cfg.remote_write {
            client::Endpoint::new(rw)?;
            wanted.push((rw.remote_name(), rw.clone()));
        }
        let ext = cfg.external_labels().to_vec();
        let mut running = self.running.lock();
        let keep: Vec<String> = running
            .iter()
            .filter(|(name, r)| {
                wanted
                    .iter()
                    .any(|(n, c)| n == *name && *c == r.cfg && r.external_labels == ext)
            })
            .map(|(n, _)| n.clone())
            .collect();
        let stale: Vec<String> = running
            .keys()
            .filter(|n| !keep.contains(n))
            .cloned()
            .collect();
        for name in stale {
            if let Some(r) = running.remove(&name) {
                let hold = r.queue.hold_name().to_owned();
                r.stop();
                if !wanted.iter().any(|(n, _)| *n == name) {
                    self.head.wal_hold().release(&hold);
                }
                tracing::info!(remote_name = %name, "remote-write queue stopped");
            }
        }
        for (name, rw) in wanted {
            if running.contains_key(&name) {
                continue;
            }
            let r = self.start(&wal_dir, &name, rw, ext.clone())?;
            running.insert(name, r);
        }
        // Holds preloaded for queues no longer configured.
        let names: Vec<String> = running
            .values()
            .map(|r| r.queue.hold_name().to_owned())
            .collect();
        self.release_others(&names);
        Ok(())
    }

    fn release_others(&self, keep: &[String]) {
        let dir = self.data_dir.join(POSITION_DIR);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return;
        };
        for entry in rd.flatten() {
            let p = entry.path();
            if let Some(stem) = p.file_stem().and_then(|s| s.to_str())
                && p.extension().and_then(|e| e.to_str()) == Some("position")
                && !keep.iter().any(|k| k == stem)
            {
                self.head.wal_hold().release(stem);
            }
        }
    }

    fn start(
        &self,
        wal_dir: &Path,
        name: &str,
        rw: RemoteWriteConfig,
        ext: Vec<(String, String)>,
    ) -> Result<Running, String> {
        let pos_file = position::path(&self.data_dir.join(POSITION_DIR), name);
        let hold_name = pos_file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(name)
            .to_owned();
        let start = position::load(&pos_file).unwrap_or_else(|| {
            let newest = fedstore_storage::wal::segments(wal_dir)
                .ok()
                .and_then(|s| s.last().copied())
                .unwrap_or(0);
            WalPosition {
                segment: newest,
                offset: 0,
            }
        });
        let metrics = self
            .metrics
            .lock()
            .entry(name.to_owned())
            .or_default()
            .clone();
        let queue = Arc::new(Queue::new(
            rw.clone(),
            start,
            self.head.wal_hold().clone(),
            hold_name,
            pos_file,
            metrics,
        )?);
        queue.start_shards(rw.queue_config.min_shards.max(1));
        let w = watcher::Watcher::new(queue.clone(), wal_dir, start, ext.clone());
        let mut threads = Vec::new();
        let spawn = |n: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(n.to_owned())
                .spawn(f)
                .map_err(|e| format!("starting the remote-write {n} thread: {e}"))
        };
        threads.push(spawn("rw-watcher", Box::new(move || w.run()))?);
        let q = queue.clone();
        threads.push(spawn(
            "rw-housekeeping",
            Box::new(move || q.housekeeping()),
        )?);
        tracing::info!(remote_name = %name, url = %rw.url, segment = start.segment, offset = start.offset, "remote-write queue started");
        Ok(Running {
            cfg: rw,
            external_labels: ext,
            queue,
            threads,
        })
    }

    /// Stops every queue, writing their final positions.
    pub fn stop(&self) {
        let all: Vec<Running> = self.running.lock().drain().map(|(_, r)| r).collect();
        for r in all {
            r.stop();
        }
    }

    /// Appends the `fedstore_remote_storage_*` metrics to `buf`.
    pub fn render(&self, buf: &mut Vec<u8>) {
        let running = self.running.lock();
        let mut names: Vec<&String> = running.keys().collect();
        names.sort();
        let views: Vec<QueueView<'_>> = names
            .iter()
            .filter_map(|n| running.get(*n))
            .map(|r| {
                let q = &r.cfg.queue_config;
                QueueView {
                    name: &r.queue.name,
                    url: &r.cfg.url,
                    m: &r.queue.metrics,
                    min_shards: q.min_shards,
                    max_shards: q.max_shards,
                    capacity: q.capacity,
                    pending: r.queue.ledger.pending(),
                    wal_dropped: self.head.wal_hold().dropped(r.queue.hold_name()),
                }
            })
            .collect();
        metrics::render(&views, buf);
    }
}
