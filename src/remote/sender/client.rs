//! One remote-write endpoint: the HTTP request (Prometheus 2.42 `remote.Client.Store`
//! headers), how an answer is classified, and the retry delays of
//! `sendWriteRequestWithBackoff`.
//!
//! Plain `http://` only for now. TLS SEAM: an `https://` URL (with `tls_config`) is refused by
//! [`Endpoint::new`]; when the shared rustls client builder exists, build the agent's TLS
//! configuration from `cfg.http_client.tls_config` there and drop the refusal.

use std::time::Duration;

use crate::config::HttpClientConfig;
use crate::config::remote_write::RemoteWriteConfig;

/// `User-Agent` of remote-write requests.
pub const USER_AGENT: &str = concat!("fedstore/", env!("CARGO_PKG_VERSION"));

/// Longest error text kept from a refusing receiver (2.42's `maxErrMsgLen`).
const MAX_ERR_MSG_LEN: u64 = 1024;

/// What one attempt came to.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// 2xx.
    Sent,
    /// Network error, timeout, 5xx, or 429 with `retry_on_http_429`: retry after the delay
    /// given (`None`: the backoff's next step).
    Retry(String, Option<Duration>),
    /// Any other answer: the batch is dropped.
    Drop(String),
}

/// The client side of one `remote_write` entry.
pub struct Endpoint {
    agent: ureq::Agent,
    url: String,
    headers: Vec<(String, String)>,
    http_client: HttpClientConfig,
    retry_on_429: bool,
}

impl Endpoint {
    /// A client for `cfg`; fails on what it cannot do yet (https, see the module doc).
    pub fn new(cfg: &RemoteWriteConfig) -> Result<Endpoint, String> {
        if cfg.url.starts_with("https://") {
            // TLS SEAM (see the module doc).
            return Err(format!(
                "remote_write url {:?}: https is not wired into the sender yet",
                cfg.url
            ));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(cfg.remote_timeout.as_std()))
            .max_redirects(if cfg.http_client.follow_redirects {
                10
            } else {
                0
            })
            .build()
            .into();
        Ok(Endpoint {
            agent,
            url: cfg.url.clone(),
            headers: cfg.headers.clone(),
            http_client: cfg.http_client.clone(),
            retry_on_429: cfg.queue_config.retry_on_http_429,
        })
    }

    /// Posts one snappy-compressed `WriteRequest`.
    pub fn store(&self, body: &[u8]) -> Outcome {
        let mut req = self
            .agent
            .post(&self.url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("User-Agent", USER_AGENT)
            .header("X-Prometheus-Remote-Write-Version", "0.1.0");
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        match self.http_client.authorization_header() {
            Ok(Some(a)) => req = req.header("Authorization", a),
            Ok(None) => {}
            Err(e) => return Outcome::Retry(e, None),
        }
        let mut resp = match req.send(body) {
            Ok(r) => r,
            Err(e) => return Outcome::Retry(e.to_string(), None),
        };
        let status = resp.status();
        if status.is_success() {
            // Read the (usually empty) body so the connection goes back to the pool.
            let _ = resp.body_mut().with_config().limit(1 << 20).read_to_vec();
            return Outcome::Sent;
        }
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_ERR_MSG_LEN)
            .read_to_string()
            .unwrap_or_default();
        let line = text.lines().next().unwrap_or("");
        let msg = format!("server returned HTTP status {status}: {line}");
        if status.is_server_error() {
            // 2.42 honours Retry-After on 429 only.
            Outcome::Retry(msg, None)
        } else if status.as_u16() == 429 && self.retry_on_429 {
            Outcome::Retry(
                msg,
                retry_after
                    .as_deref()
                    .and_then(|h| retry_after_delay(h, now_secs())),
            )
        } else {
            Outcome::Drop(msg)
        }
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A `Retry-After` value as 2.42's `retryAfterDuration`: whole seconds or an HTTP date;
/// `None` (use the backoff) when it is unreadable or not in the future.
pub fn retry_after_delay(h: &str, now_secs: i64) -> Option<Duration> {
    let h = h.trim();
    let secs = match h.parse::<i64>() {
        Ok(s) => s,
        Err(_) => http_date_secs(h)? - now_secs,
    };
    (secs > 0).then(|| Duration::from_secs(secs as u64))
}

/// Seconds since the epoch of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date_secs(s: &str) -> Option<i64> {
    let rest = s.split_once(", ")?.1;
    let mut it = rest.split(' ');
    let day: i64 = it.next()?.parse().ok()?;
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mon = it.next()?;
    let month = months.iter().position(|m| *m == mon)? as i64 + 1;
    let year: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if it.next()? != "GMT" {
        return None;
    }
    // Days from civil (proleptic Gregorian), as in Howard Hinnant's algorithm.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

/// The delays between attempts: `min_backoff`, doubling up to `max_backoff`; a `Retry-After`
/// replaces the current step and the doubling continues from it (2.42).
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at `min`.
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff { next: min, max }
    }

    /// How long to sleep before the next attempt.
    pub fn step(&mut self, retry_after: Option<Duration>) -> Duration {
        let sleep = retry_after.unwrap_or(self.next);
        self.next = (sleep * 2).min(self.max);
        sleep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_max_and_retry_after_replaces_a_step() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(30), ms(200));
        let got: Vec<_> = (0..5).map(|_| b.step(None)).collect();
        assert_eq!(got, [ms(30), ms(60), ms(120), ms(200), ms(200)]);
        let mut b = Backoff::new(ms(30), Duration::from_secs(5));
        assert_eq!(b.step(Some(Duration::from_secs(2))), Duration::from_secs(2));
        assert_eq!(b.step(None), Duration::from_secs(4));
        assert_eq!(b.step(None), Duration::from_secs(5));
    }

    #[test]
    fn retry_after_values() {
        // 1994-11-06T08:49:37Z is 784111777.
        let now = 784_111_777;
        assert_eq!(retry_after_delay("3", now), Some(Duration::from_secs(3)));
        assert_eq!(retry_after_delay("0", now), None);
        assert_eq!(retry_after_delay("soon", now), None);
        assert_eq!(
            retry_after_delay("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            retry_after_delay("Sun, 06 Nov 1994 08:49:30 GMT", now),
            None
        );
        assert_eq!(http_date_secs("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            http_date_secs("Tue, 29 Feb 2000 12:00:00 GMT"),
            Some(951_825_600)
        );
    }
}
