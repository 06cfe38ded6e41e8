//! One target's scrape loop (Prometheus 2.42 `scrapeLoop.run`): wait for the target's offset,
//! then scrape every interval with a timeout, hand the body to a blocking thread for parsing
//! and appending, and record the target's health. Stopped by the manager: `Stop` (target
//! removed or changed) writes end-of-run stale markers two intervals later, `Shutdown` does
//! not (the server restarts where it was).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use fedstore_storage::Head;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::config::HttpClientConfig;
use crate::exposition::parse::Format;
use crate::scrape::append::{SampleContext, TargetState, mark_all_stale, scrape_and_report};
use crate::scrape::client::{Client, ScrapeError, ScrapeRequest, gunzip};
use crate::scrape::target::Target;

/// Prometheus `ScrapeTimestampTolerance`: a scrape this close to its ideal tick gets the
/// tick's timestamp (better compression, as `--scrape.adjust-timestamps`).
const TIMESTAMP_TOLERANCE: Duration = Duration::from_millis(2);

/// What the manager tells a loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopCmd {
    /// Keep scraping.
    Run,
    /// Stop; mark the target's series stale after two more intervals.
    Stop,
    /// Stop now, no stale markers (server shutdown).
    Shutdown,
}

/// Health of a target, as `/api/v1/targets` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Not scraped yet.
    Unknown,
    /// Last scrape succeeded.
    Up,
    /// Last scrape failed.
    Down,
}

impl Health {
    /// Prometheus's name: `unknown`, `up`, `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// The last scrape of a target.
#[derive(Debug, Clone)]
pub struct TargetStatus {
    /// Health after the last scrape.
    pub health: Health,
    /// Error of the last scrape, empty when healthy.
    pub last_error: String,
    /// Start of the last scrape (wall clock); `None` before the first.
    pub last_scrape: Option<SystemTime>,
    /// Duration of the last scrape in seconds.
    pub last_duration_s: f64,
    /// Samples parsed by the last scrape.
    pub last_samples: u64,
}

impl Default for TargetStatus {
    fn default() -> Self {
        TargetStatus {
            health: Health::Unknown,
            last_error: String::new(),
            last_scrape: None,
            last_duration_s: 0.0,
            last_samples: 0,
        }
    }
}

/// Everything a loop needs, shared with the manager (which reads `status`).
#[derive(Debug)]
pub struct LoopShared {
    /// The target.
    pub target: Arc<Target>,
    /// Labelling and limits of its samples.
    pub ctx: Arc<SampleContext>,
    /// Authentication settings (files are read at every scrape, as Prometheus does).
    pub http: HttpClientConfig,
    /// How connections to the target are opened (TLS, proxy), shared by the job.
    pub dialer: Arc<crate::scrape::dial::Dialer>,
    /// `body_size_limit` in bytes, `None` for unlimited.
    pub body_limit: Option<u64>,
    /// Status of the last scrape.
    pub status: Mutex<TargetStatus>,
    /// An error every scrape reports instead of scraping (Prometheus `setForcedError`, set
    /// while the pool exceeds `target_limit`).
    pub forced_error: Mutex<Option<String>>,
    /// Counters for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Metadata of the last successful scrape (`/api/v1/metadata`).
    pub metadata: Mutex<Arc<crate::scrape::metadata::TargetMetadata>>,
}

/// Milliseconds since the Unix epoch of `t`.
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The `Authorization` header value for `http`, reading credential files now.
pub fn authorization(http: &HttpClientConfig) -> Result<Option<String>, String> {
    use base64_like::encode;
    if let Some(b) = &http.basic_auth {
        let password = match &b.password_file {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| {
                    format!(
                        "unable to read basic auth password file {}: {e}",
                        p.display()
                    )
                })?
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
            None => b.password.expose().to_owned(),
        };
        let cred = format!("{}:{}", b.username, password);
        return Ok(Some(format!("Basic {}", encode(cred.as_bytes()))));
    }
    if let Some(a) = &http.authorization {
        let creds = match &a.credentials_file {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| {
                    format!(
                        "unable to read authorization credentials file {}: {e}",
                        p.display()
                    )
                })?
                .trim()
                .to_owned(),
            None => a.credentials.expose().to_owned(),
        };
        let kind = if a.kind.is_empty() {
            "Bearer"
        } else {
            a.kind.as_str()
        };
        return Ok(Some(format!("{kind} {creds}")));
    }
    Ok(None)
}

/// Standard base64 (RFC 4648, padded), for basic auth.
mod base64_like {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(input: &[u8]) -> String {
        let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
        for chunk in input.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[cfg(test)]
    #[test]
    fn rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
        ] {
            assert_eq!(encode(i.as_bytes()), o);
        }
    }
}

/// Waits for `d`, returning the command if the manager changed it meanwhile. A dropped
/// sender (the manager forgot the loop after its last command) just lets the time pass.
async fn sleep_or_cmd(d: Duration, cmd: &mut watch::Receiver<LoopCmd>) -> Option<LoopCmd> {
    let sleep = tokio::time::sleep(d);
    tokio::pin!(sleep);
    tokio::select! {
        () = &mut sleep => None,
        r = cmd.changed() => match r {
            Ok(()) => Some(*cmd.borrow()),
            Err(_) => {
                sleep.await;
                None
            }
        },
    }
}

/// Runs the loop until the manager stops it.
pub async fn run(
    head: Arc<Head>,
    shared: Arc<LoopShared>,
    mut cmd: watch::Receiver<LoopCmd>,
    jitter_seed: u64,
) {
    let target = shared.target.clone();
    let interval = target.interval.as_std();
    let now_ns = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let offset = target.offset(target.interval, jitter_seed, now_ns);
    if sleep_or_cmd(offset, &mut cmd).await.is_some() {
        return;
    }
    let mut client = Client::new(shared.dialer.clone());
    let mut state = Some(TargetState::new());
    let mut raw: Vec<u8> = Vec::new();
    let mut plain: Vec<u8> = Vec::new();
    let mut last: Option<SystemTime> = None;
    let mut aligned = SystemTime::now();
    let mut next_tick = tokio::time::Instant::now();
    let stop = loop {
        if *cmd.borrow() != LoopCmd::Run {
            break *cmd.borrow();
        }
        let start = Instant::now();
        let mut scrape_time = SystemTime::now();
        if interval > TIMESTAMP_TOLERANCE * 100 {
            while scrape_time
                .duration_since(aligned)
                .is_ok_and(|d| d >= interval)
            {
                aligned += interval;
            }
            if scrape_time
                .duration_since(aligned)
                .is_ok_and(|d| d <= TIMESTAMP_TOLERANCE)
            {
                scrape_time = aligned;
            }
        }
        let forced = shared.forced_error.lock().clone();
        let fetched = match forced {
            Some(e) => Err(FetchError::Forced(e)),
            None => fetch(&shared, &mut client, &mut raw)
                .await
                .map_err(FetchError::Scrape),
        };
        let (ok_state, r, p, outcome) = {
            let head = head.clone();
            let shared = shared.clone();
            let Some(mut st) = state.take() else {
                break LoopCmd::Shutdown;
            };
            let mut r = std::mem::take(&mut raw);
            let mut p = std::mem::take(&mut plain);
            let t_ms = unix_ms(scrape_time);
            let res = tokio::task::spawn_blocking(move || {
                let scraped = match fetched {
                    Err(e) => Err(e.to_string()),
                    Ok(body) if body.gzip => match gunzip(&r, shared.body_limit, &mut p) {
                        Ok(()) => Ok((&p[..], Format::from_content_type(&body.content_type))),
                        Err(e) => Err(e.to_string()),
                    },
                    Ok(body) => Ok((&r[..], Format::from_content_type(&body.content_type))),
                };
                let outcome = scrape_and_report(
                    &head,
                    &mut st,
                    &shared.ctx,
                    scraped,
                    t_ms,
                    unix_ms(SystemTime::now()),
                    || start.elapsed(),
                );
                r.clear();
                p.clear();
                if outcome.stats.series_created >= TRIM_AFTER_SERIES_CREATED {
                    crate::alloc::trim_soon();
                }
                (st, r, p, outcome)
            })
            .await;
            match res {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(target = %target.url, err = %e, "scrape task failed");
                    break LoopCmd::Shutdown;
                }
            }
        };
        shared.metadata.lock().clone_from(&ok_state.metadata);
        state = Some(ok_state);
        raw = recycle(r);
        plain = recycle(p);
        {
            let mut s = shared.status.lock();
            s.health = if outcome.error.is_none() {
                crate::scrape::scrape_loop::Health::Up
            } else {
                Health::Down
            };
            s.last_error = outcome.error.clone().unwrap_or_default();
            s.last_scrape = Some(scrape_time);
            s.last_duration_s = start.elapsed().as_secs_f64();
            s.last_samples = outcome.counts.total;
            shared
                .metrics
                .record_scrape(outcome.error.is_none(), s.last_duration_s);
            shared
                .metrics
                .record_append(crate::metrics::Source::Scrape, &outcome.stats);
        }
        if let Some(e) = &outcome.error {
            tracing::debug!(target = %target.url, err = %e, "scrape failed");
        }
        last = Some(scrape_time);
        // The next tick; ticks missed by a slow scrape are skipped, as Go's ticker does.
        next_tick += interval;
        let now = tokio::time::Instant::now();
        while next_tick <= now {
            next_tick += interval;
        }
        if let Some(c) = sleep_or_cmd(next_tick - now, &mut cmd).await
            && c != LoopCmd::Run
        {
            break c;
        }
    };
    if stop != LoopCmd::Stop || last.is_none() {
        return;
    }
    let Some(mut state) = state else {
        return;
    };
    // End-of-run staleness: wait for when the next scrape would have been (its time is the
    // markers' timestamp), one more interval (the target may come back), then 10 % more.
    let now = tokio::time::Instant::now();
    let wait = if next_tick > now {
        next_tick - now
    } else {
        Duration::ZERO
    };
    if let Some(LoopCmd::Shutdown) = sleep_or_cmd(wait, &mut cmd).await {
        return;
    }
    let stale_time = unix_ms(SystemTime::now());
    if let Some(LoopCmd::Shutdown) = sleep_or_cmd(interval + interval / 10, &mut cmd).await {
        return;
    }
    if *cmd.borrow() == LoopCmd::Shutdown {
        return;
    }
    let ctx = shared.ctx.clone();
    let _ = tokio::task::spawn_blocking(move || {
        mark_all_stale(&head, &mut state, &ctx, stale_time);
    })
    .await;
}

/// Body buffers up to this capacity are kept for the next scrape; larger ones are freed.
const KEEP_BUFFER_BYTES: usize = 1 << 20;

/// A scrape that created at least this many series returns free heap pages to the kernel
/// afterwards ([`crate::alloc::trim_soon`]): a target's first scrape frees the label sets and
/// appender state of every new series at commit, and the allocator kept the pages (a trim
/// after loading 1M series gave back 76 MiB; docs/benchmarks.md, "Memory and federate speed
/// while scraping").
const TRIM_AFTER_SERIES_CREATED: u64 = 10_000;

/// Keeps a small body buffer for reuse and frees a large one. A target of 100k series sends
/// ~15 MB: kept between scrapes, ten such targets held 150-300 MiB (capacity doubles) for a
/// few tens of milliseconds of use every interval. Freed, the pages go back to the kernel
/// (buffers this size are `mmap`ed, `src/alloc.rs`) and the next scrape maps them again, at
/// the cost of a few page faults per megabyte.
fn recycle(buf: Vec<u8>) -> Vec<u8> {
    if buf.capacity() > KEEP_BUFFER_BYTES {
        Vec::new()
    } else {
        buf
    }
}

/// Why a scrape produced no body.
#[derive(Debug)]
enum FetchError {
    /// The request failed.
    Scrape(ScrapeError),
    /// The manager forced an error (target limit).
    Forced(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Scrape(e) => e.fmt(f),
            FetchError::Forced(e) => f.write_str(e),
        }
    }
}

/// The HTTP part of a scrape, bounded by the target's timeout.
async fn fetch(
    shared: &LoopShared,
    client: &mut Client,
    raw: &mut Vec<u8>,
) -> Result<crate::scrape::client::RawBody, ScrapeError> {
    let target = &shared.target;
    let auth = authorization(&shared.http).map_err(|cause| ScrapeError::Transport {
        url: target.url.clone(),
        cause,
    })?;
    // Through a forwarding proxy an http request names the whole URL (Go's transport).
    let proxied = !target.url.starts_with("https://") && shared.dialer.forwards_http();
    let mut req = ScrapeRequest::new(
        &target.url,
        &target.address,
        if proxied {
            &target.url
        } else {
            &target.path_and_query
        },
        target.timeout.as_secs_f64(),
        auth.as_deref(),
    );
    if proxied && let Some(p) = shared.dialer.proxy_authorization() {
        req = req.with_header("Proxy-Authorization", p);
    }
    match tokio::time::timeout(
        target.timeout.as_std(),
        client.get(&req, shared.body_limit, raw),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => {
            // The connection is in an unknown state: drop it.
            client.reset();
            Err(ScrapeError::Timeout {
                url: target.url.clone(),
            })
        }
    }
}
