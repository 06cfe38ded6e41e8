//! Limits that refuse work cleanly instead of running out of memory: bounded queues in front
//! of expensive endpoints ([`Gate`]), per-request size limits ([`RequestLimit`]), and the
//! count of every refusal by endpoint and reason ([`Refusals`], on `/metrics` as
//! `fedstore_http_refusals_total`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::exposition::write::write_sample;

/// Default number of requests that may wait for a federate or query slot before more are
/// refused with 503: enough to absorb a burst of scrapers starting at once.
pub const DEFAULT_MAX_QUEUE: usize = 64;

/// A bounded number of requests at work and a bounded line of waiting ones.
#[derive(Debug)]
pub struct Gate {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// The line in front of a [`Gate`] is full (or the server is stopping): answer 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull {
    /// How many may wait.
    pub max_waiting: usize,
}

impl Gate {
    /// A gate over `slots` (shared with whoever else hands them out) letting `max_waiting`
    /// requests wait.
    pub fn new(slots: Arc<Semaphore>, max_waiting: usize) -> Self {
        Gate {
            slots,
            waiting: AtomicUsize::new(0),
            max_waiting,
        }
    }

    /// Waits for a slot, unless `max_waiting` requests are already waiting.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, QueueFull> {
        let full = QueueFull {
            max_waiting: self.max_waiting,
        };
        if let Ok(p) = self.slots.clone().try_acquire_owned() {
            return Ok(p);
        }
        // Reserve a place in line first, so concurrent arrivals cannot overshoot the bound.
        let reserved = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                (w < self.max_waiting).then_some(w + 1)
            });
        if reserved.is_err() {
            return Err(full);
        }
        // Leaves the line however the wait ends (slot, shutdown, or the request dropped).
        struct Leave<'a>(&'a AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let _leave = Leave(&self.waiting);
        self.slots.clone().acquire_owned().await.map_err(|_| full)
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }
}

/// Series and samples one request may carry; `None`: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestLimit {
    /// Most series in one request.
    pub max_series: Option<usize>,
    /// Most samples in one request.
    pub max_samples: Option<usize>,
}

impl RequestLimit {
    /// The refusal text when a request of `series` series and `samples` samples is over the
    /// limit (`what` names the flag family), `None` when it fits.
    pub fn check(&self, series: usize, samples: usize, flag: &str) -> Option<String> {
        if let Some(max) = self.max_series
            && series > max
        {
            return Some(format!(
                "request has {series} series, over the limit of {max} (--{flag}.max-series-per-request); nothing stored"
            ));
        }
        if let Some(max) = self.max_samples
            && samples > max
        {
            return Some(format!(
                "request has {samples} samples, over the limit of {max} (--{flag}.max-samples-per-request); nothing stored"
            ));
        }
        None
    }
}

/// Refusals counted by endpoint and reason.
#[derive(Debug, Default)]
pub struct Refusals {
    counts: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl Refusals {
    /// Counts one refusal of `handler` (an endpoint path) for `reason` (a short word:
    /// `queue_full`, `too_many_series`, `too_large`, ...).
    pub fn count(&self, handler: &'static str, reason: &'static str) {
        *self.counts.lock().entry((handler, reason)).or_insert(0) += 1;
    }

    /// How many times `handler` refused for `reason`.
    pub fn get(&self, handler: &str, reason: &str) -> u64 {
        self.counts
            .lock()
            .iter()
            .find(|((h, r), _)| *h == handler && *r == reason)
            .map_or(0, |(_, n)| *n)
    }

    /// Writes `fedstore_http_refusals_total` (family header included, even when empty).
    pub fn render(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(
            b"# HELP fedstore_http_refusals_total Requests refused by a limit, by endpoint and reason.\n\
              # TYPE fedstore_http_refusals_total counter\n",
        );
        for ((h, r), n) in self.counts.lock().iter() {
            write_sample(
                buf,
                "fedstore_http_refusals_total",
                [("handler", *h), ("reason", *r)],
                *n as f64,
                None,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_refuses_once_the_line_is_full_and_frees_places() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let gate = Arc::new(Gate::new(Arc::new(Semaphore::new(1)), 2));
            let held = gate.enter().await.unwrap();
            let mut waiters = Vec::new();
            for _ in 0..2 {
                let g = gate.clone();
                waiters.push(tokio::spawn(async move { g.enter().await.map(drop) }));
            }
            while gate.waiting() < 2 {
                tokio::task::yield_now().await;
            }
            assert_eq!(
                gate.enter().await.unwrap_err(),
                QueueFull { max_waiting: 2 }
            );
            drop(held);
            for w in waiters {
                assert_eq!(w.await.unwrap(), Ok(()));
            }
            assert_eq!(gate.waiting(), 0);
            assert!(gate.enter().await.is_ok());
        });
    }

    #[test]
    fn request_limit_names_the_limit_and_the_count() {
        let l = RequestLimit {
            max_series: Some(10),
            max_samples: Some(100),
        };
        let cases: &[(usize, usize, Option<&str>)] = &[
            (10, 100, None),
            (
                11,
                1,
                Some("request has 11 series, over the limit of 10 (--x.max-series-per-request)"),
            ),
            (
                1,
                101,
                Some(
                    "request has 101 samples, over the limit of 100 (--x.max-samples-per-request)",
                ),
            ),
        ];
        for &(series, samples, want) in cases {
            let got = l.check(series, samples, "x");
            match want {
                None => assert_eq!(got, None),
                Some(w) => assert!(got.as_deref().unwrap_or("").starts_with(w), "{got:?}"),
            }
        }
        assert_eq!(
            RequestLimit::default().check(usize::MAX, usize::MAX, "x"),
            None
        );
    }

    #[test]
    fn refusals_render_by_handler_and_reason() {
        let r = Refusals::default();
        r.count("/federate", "queue_full");
        r.count("/federate", "queue_full");
        r.count("/api/v1/write", "too_many_series");
        let mut buf = Vec::new();
        r.render(&mut buf);
        let text = String::from_utf8(buf).unwrap();
        assert!(
            text.contains(
                "fedstore_http_refusals_total{handler=\"/federate\",reason=\"queue_full\"} 2\n"
            ),
            "{text}"
        );
        assert!(text.contains("fedstore_http_refusals_total{handler=\"/api/v1/write\",reason=\"too_many_series\"} 1\n"), "{text}");
        assert_eq!(r.get("/federate", "queue_full"), 2);
    }
}
