//! One remote-write endpoint: the HTTP request (Prometheus 2.42 `remote.Client.Store`
//! headers), how an answer is classified, and the retry delays of
//! `sendWriteRequestWithBackoff`. `https://` URLs go through the shared rustls client
//! configuration built from `tls_config` (src/tls_client.rs), as https scrapes do.

use std::time::Duration;

use crate::config::HttpClientConfig;
use crate::config::remote_write::RemoteWriteConfig;
use crate::http_post::Client;

/// `User-Agent` of remote-write requests.
pub const USER_AGENT: &str = concat!("fedstore/", env!("CARGO_PKG_VERSION"));

/// Longest error text kept from a refusing receiver (2.42's `maxErrMsgLen`).
const MAX_ERR_MSG_LEN: usize = 1024;

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
    client: Client,
    headers: Vec<(String, String)>,
    http_client: HttpClientConfig,
    retry_on_429: bool,
}

impl Endpoint {
    /// A client for `cfg`; fails when the URL or the TLS files cannot be used.
    pub fn new(cfg: &RemoteWriteConfig) -> Result<Endpoint, String> {
        let client = Client::new(&cfg.url, &cfg.http_client, cfg.remote_timeout.as_std())
            .map_err(|e| format!("remote_write url {:?}: {e}", cfg.url))?;
        Ok(Endpoint {
            client,
            headers: cfg.headers.clone(),
            http_client: cfg.http_client.clone(),
            retry_on_429: cfg.queue_config.retry_on_http_429,
        })
    }

    /// Posts one snappy-compressed `WriteRequest`.
    pub fn store(&self, body: &[u8]) -> Outcome {
        let auth = match self.http_client.authorization_header() {
            Ok(a) => a,
            Err(e) => return Outcome::Retry(e, None),
        };
        let mut headers: Vec<(&str, &str)> = vec![
            ("Content-Encoding", "snappy"),
            ("Content-Type", "application/x-protobuf"),
            ("User-Agent", USER_AGENT),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ];
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        for (k, v) in &self.headers {
            headers.push((k, v));
        }
        let answer = match self.client.post(&headers, body) {
            Ok(a) => a,
            Err(e) => return Outcome::Retry(e, None),
        };
        let status = answer.status;
        if (200..300).contains(&status) {
            return Outcome::Sent;
        }
        let text = String::from_utf8_lossy(&answer.body[..answer.body.len().min(MAX_ERR_MSG_LEN)])
            .into_owned();
        let line = text.lines().next().unwrap_or("");
        let msg = format!("server returned HTTP status {status}: {line}");
        if (500..600).contains(&status) {
            // 2.42 honours Retry-After on 429 only.
            Outcome::Retry(msg, None)
        } else if status == 429 && self.retry_on_429 {
            let after = answer
                .retry_after
                .as_deref()
                .and_then(|h| retry_after_delay(h, now_secs()));
            Outcome::Retry(msg, after)
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
