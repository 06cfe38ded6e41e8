//! Small fixed pools of threads for CPU-heavy request work (federate rendering; decoding and
//! appending remote writes and imports), so the async HTTP workers never walk storage. Jobs
//! queue FIFO; a flood of requests waits in the queue instead of spawning threads or exhausting
//! memory. A fixed thread set also keeps memory steady: every thread that allocates gets its own
//! malloc arena and buffers, so a pool that grows and shrinks with load (like the HTTP
//! layer's blocking pool) leaves RSS depending on how many threads a burst happened to start.

use std::sync::Arc;

use crossbeam::channel::{Sender, unbounded};

/// Default of `--storage.read-nice`: at nice 10 a thread gets about a tenth of a core's
/// share against one at nice 0 (CFS weights 110 and 1024) when both are runnable.
pub const DEFAULT_READ_NICE: i32 = 10;

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
        Self::with_nice(name, threads, 0)
    }

    /// As [`WorkPool::new`], with threads that run `nice` steps below the thread that starts
    /// them (Linux nice values are per thread; 0: the same priority). Read work (federate
    /// rendering, queries) runs this way so that scrapes and ingest, which lose data when
    /// they fall behind, take the cores first when both want them; alone, a lowered thread
    /// runs at full speed.
    pub fn with_nice(name: &str, threads: usize, nice: i32) -> Self {
        let threads = threads.max(1);
        let (tx, rx) = unbounded::<Job>();
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    if nice != 0 {
                        crate::thread_nice::lower(nice);
                    }
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
    fn a_niced_pool_runs_below_its_starter_and_a_plain_one_at_its_level() {
        let here = crate::thread_nice::current();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let niced = WorkPool::with_nice("test-nice", 1, 5);
        assert_eq!(
            rt.block_on(niced.run(crate::thread_nice::current)),
            Ok((here + 5).min(19))
        );
        let plain = WorkPool::new("test-plain", 1);
        assert_eq!(
            rt.block_on(plain.run(crate::thread_nice::current)),
            Ok(here)
        );
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
