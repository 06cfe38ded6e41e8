//! Small fixed pools of threads for CPU-heavy request work (federate rendering; decoding and
//! appending remote writes and imports), so the async HTTP workers never walk storage. Jobs
//! queue FIFO; a flood of requests waits in the queue instead of spawning threads or exhausting
//! memory. A fixed thread set also keeps memory steady: every thread that allocates gets its own
//! malloc arena and buffers, so a pool that grows and shrinks with load (like the HTTP
//! layer's blocking pool) leaves RSS depending on how many threads a burst happened to start.

use std::sync::Arc;

use crossbeam::channel::{Sender, unbounded};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A pool job panicked (the panic is logged); its request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("worker job panicked")]
pub struct JobPanicked;

/// A cloneable handle to the pool; threads exit when every handle is dropped.
#[derive(Clone)]
pub struct WorkPool {
    tx: Arc<Sender<Job>>,
    threads: usize,
}

impl WorkPool {
    /// Starts `threads` worker threads (at least one) named `<name>-<i>`.
    pub fn new(name: &str, threads: usize) -> Self {
        let threads = threads.max(1);
        let (tx, rx) = unbounded::<Job>();
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        // A panicking job must not take the worker down with it.
                        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                            tracing::error!("pool job panicked");
                        }
                    }
                })
                .expect("spawning a pool thread at start-up");
        }
        WorkPool {
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

    /// Runs `job` on the pool and waits for its result without blocking the async worker;
    /// `Err` if the job panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, JobPanicked> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.spawn(move || {
            let _ = tx.send(job());
        });
        rx.await.map_err(|_| JobPanicked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_jobs_and_survives_panics() {
        let pool = WorkPool::new("test", 2);
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

    #[test]
    fn run_returns_results_and_reports_panics() {
        let pool = WorkPool::new("test", 1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(pool.run(|| 6 * 7)), Ok(42));
        assert_eq!(
            rt.block_on(pool.run(|| -> u8 { panic!("boom") })),
            Err(JobPanicked)
        );
        assert_eq!(rt.block_on(pool.run(|| "alive")), Ok("alive"));
    }
}
