//! A small fixed pool of threads for CPU-heavy request work (federate rendering), so the async
//! HTTP workers never walk storage. Jobs queue FIFO; a flood of requests waits in the queue
//! instead of spawning threads or exhausting memory.

use std::sync::Arc;

use crossbeam::channel::{Sender, unbounded};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A cloneable handle to the pool; threads exit when every handle is dropped.
#[derive(Clone)]
pub struct RenderPool {
    tx: Arc<Sender<Job>>,
    threads: usize,
}

impl RenderPool {
    /// Starts `threads` worker threads (at least one).
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        let (tx, rx) = unbounded::<Job>();
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("render-{i}"))
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        // A panicking job must not take the worker down with it.
                        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                            tracing::error!("render job panicked");
                        }
                    }
                })
                .expect("spawning a render thread at start-up");
        }
        RenderPool {
            tx: Arc::new(tx),
            threads,
        }
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Queues a job.
    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        // Send fails only when no worker is left, which cannot happen while we hold `tx`.
        let _ = self.tx.send(Box::new(job));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_jobs_and_survives_panics() {
        let pool = RenderPool::new(2);
        let (tx, rx) = std::sync::mpsc::channel();
        pool.spawn(|| panic!("boom"));
        for i in 0..10 {
            let tx = tx.clone();
            pool.spawn(move || tx.send(i).unwrap());
        }
        let mut got: Vec<i32> = (0..10).map(|_| rx.recv().unwrap()).collect();
        got.sort();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    }
}
