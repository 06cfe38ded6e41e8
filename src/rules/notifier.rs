//! The Alertmanager client (Prometheus 2.42 `notifier/notifier.go`): a bounded queue (the
//! oldest alerts dropped when full), external labels added and `alert_relabel_configs`
//! applied to each alert, batches of at most 64 posted as JSON to every Alertmanager's
//! `/api/v2/alerts` from one background thread.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::api::v1::json::write_str as string;
use crate::config::alerting::AlertingConfig;
use crate::config::{HttpClientConfig, RelabelConfig};

/// Prometheus's `--alertmanager.notification-queue-capacity` default.
pub const QUEUE_CAPACITY: usize = 10_000;
/// Prometheus's `maxBatchSize`.
pub const MAX_BATCH: usize = 64;

/// An alert as posted to Alertmanager (`notifier.Alert`). Times are Unix ms.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyAlert {
    /// Labels (external labels and relabeling are applied by the notifier).
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// `startsAt`: when the alert fired.
    pub starts_at_ms: i64,
    /// `endsAt`: resolution time, or how long the alert stays valid without a resend.
    pub ends_at_ms: i64,
    /// `generatorURL`.
    pub generator_url: String,
}

/// Counters for `/metrics` (Prometheus's `prometheus_notifications_*`).
#[derive(Debug, Default)]
pub struct NotifierStats {
    /// Alerts sent (per Alertmanager).
    pub sent: AtomicU64,
    /// Alerts whose send failed.
    pub errors: AtomicU64,
    /// Alerts dropped (queue overflow or relabeled away).
    pub dropped: AtomicU64,
}

struct Settings {
    external_labels: Vec<(String, String)>,
    relabel: Vec<RelabelConfig>,
    targets: Vec<Target>,
}

/// One Alertmanager endpoint with its own client, built once per configuration so
/// connections are kept alive between batches (`https` through the `tls_config`).
struct Target {
    url: String,
    client: HttpClientConfig,
    http: Result<crate::http_post::Client, String>,
}

struct Shared {
    queue: Mutex<VecDeque<NotifyAlert>>,
    wake: Condvar,
    settings: Mutex<Arc<Settings>>,
    stop: std::sync::atomic::AtomicBool,
    stats: NotifierStats,
}

/// The notifier: cheap to clone; the sender thread stops when [`Notifier::stop`] is called.
#[derive(Clone)]
pub struct Notifier {
    shared: Arc<Shared>,
}

impl Notifier {
    /// Starts the sender thread with `cfg`'s Alertmanagers.
    pub fn start(cfg: &AlertingConfig, external_labels: &[(String, String)]) -> Notifier {
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            wake: Condvar::new(),
            settings: Mutex::new(Arc::new(settings(cfg, external_labels))),
            stop: std::sync::atomic::AtomicBool::new(false),
            stats: NotifierStats::default(),
        });
        let worker = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("notifier".into())
            .spawn(move || run(&worker));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the notifier thread; alerts are not sent");
        }
        Notifier { shared }
    }

    /// Applies a reloaded configuration.
    pub fn apply(&self, cfg: &AlertingConfig, external_labels: &[(String, String)]) {
        *self.shared.settings.lock() = Arc::new(settings(cfg, external_labels));
    }

    /// Queues alerts; the oldest are dropped beyond [`QUEUE_CAPACITY`].
    pub fn send(&self, alerts: Vec<NotifyAlert>) {
        if alerts.is_empty() {
            return;
        }
        let mut q = self.shared.queue.lock();
        q.extend(alerts);
        while q.len() > QUEUE_CAPACITY {
            q.pop_front();
            self.shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
        drop(q);
        self.shared.wake.notify_one();
    }

    /// Counters.
    pub fn stats(&self) -> &NotifierStats {
        &self.shared.stats
    }

    /// Alerts waiting to be sent.
    pub fn queue_len(&self) -> usize {
        self.shared.queue.lock().len()
    }

    /// Stops the sender thread after its current batch.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
    }
}

fn settings(cfg: &AlertingConfig, external_labels: &[(String, String)]) -> Settings {
    let mut targets = Vec::new();
    for am in &cfg.alertmanagers {
        for url in am.urls() {
            let timeout: Duration = am.timeout.into();
            let http = crate::http_post::Client::new(&url, &am.http_client, timeout);
            targets.push(Target {
                url,
                client: am.http_client.clone(),
                http,
            });
        }
    }
    Settings {
        external_labels: external_labels.to_vec(),
        relabel: cfg.alert_relabel_configs.clone(),
        targets,
    }
}

fn run(shared: &Shared) {
    loop {
        let batch: Vec<NotifyAlert> = {
            let mut q = shared.queue.lock();
            while q.is_empty() && !shared.stop.load(Ordering::SeqCst) {
                shared.wake.wait(&mut q);
            }
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            let n = q.len().min(MAX_BATCH);
            q.drain(..n).collect()
        };
        let settings = shared.settings.lock().clone();
        let mut alerts = Vec::with_capacity(batch.len());
        for mut a in batch {
            for (k, v) in &settings.external_labels {
                a.labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            if !settings.relabel.is_empty() {
                let mut pairs: Vec<(String, String)> = a.labels.into_iter().collect();
                if !crate::config::relabel::process(&settings.relabel, &mut pairs) {
                    shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                a.labels = pairs.into_iter().collect();
            }
            alerts.push(a);
        }
        if alerts.is_empty() {
            continue;
        }
        let body = encode(&alerts);
        for t in &settings.targets {
            match post(t, &body) {
                Ok(()) => {
                    shared
                        .stats
                        .sent
                        .fetch_add(alerts.len() as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    shared
                        .stats
                        .errors
                        .fetch_add(alerts.len() as u64, Ordering::Relaxed);
                    tracing::warn!(alertmanager = %t.url, count = alerts.len(), error = %e, "error sending alerts");
                }
            }
        }
    }
}

fn post(t: &Target, body: &[u8]) -> Result<(), String> {
    let http = t.http.as_ref().map_err(Clone::clone)?;
    let auth = t.client.authorization_header()?;
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("User-Agent", crate::scrape::client::USER_AGENT),
    ];
    if let Some(a) = auth.as_deref() {
        headers.push(("Authorization", a));
    }
    let answer = http.post(&headers, body)?;
    if (200..300).contains(&answer.status) {
        Ok(())
    } else {
        Err(format!("bad response status {}", answer.status))
    }
}

/// The v2 API body: `[{"annotations":{..},"endsAt":..,"startsAt":..,"generatorURL":..,
/// "labels":{..}}]`, keys in Prometheus's order, annotations left out when empty, strings
/// escaped as Go's encoder does (`&` as `\u0026`).
pub fn encode(alerts: &[NotifyAlert]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 * alerts.len());
    out.push(b'[');
    for (i, a) in alerts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        if !a.annotations.is_empty() {
            out.extend_from_slice(b"\"annotations\":");
            map(&mut out, &a.annotations);
            out.push(b',');
        }
        out.extend_from_slice(b"\"endsAt\":");
        string(&mut out, &crate::time::rfc3339_millis(a.ends_at_ms));
        out.extend_from_slice(b",\"startsAt\":");
        string(&mut out, &crate::time::rfc3339_millis(a.starts_at_ms));
        out.extend_from_slice(b",\"generatorURL\":");
        string(&mut out, &a.generator_url);
        out.extend_from_slice(b",\"labels\":");
        map(&mut out, &a.labels);
        out.push(b'}');
    }
    out.push(b']');
    out
}

fn map(out: &mut Vec<u8>, m: &BTreeMap<String, String>) {
    out.push(b'{');
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, k);
        out.push(b':');
        string(out, v);
    }
    out.push(b'}');
}

/// `generatorURL`: `<external URL>/graph?g0.expr=<QueryEscape(expr)>&g0.tab=1`.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    let mut q = String::with_capacity(expr.len() * 2);
    for b in expr.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                q.push(b as char);
            }
            b' ' => q.push('+'),
            _ => q.push_str(&format!("%{b:02X}")),
        }
    }
    format!("{external_url}/graph?g0.expr={q}&g0.tab=1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_matches_prometheus() {
        let a = NotifyAlert {
            labels: BTreeMap::from([
                ("alertname".to_owned(), "High".to_owned()),
                ("zone".to_owned(), "a&b".to_owned()),
            ]),
            annotations: BTreeMap::new(),
            starts_at_ms: 1_796_605_896_767,
            ends_at_ms: 1_796_606_136_767,
            generator_url: generator_url("http://h:9090", "m > 2"),
        };
        assert_eq!(
            String::from_utf8(encode(&[a])).expect("utf8"),
            r#"[{"endsAt":"2026-12-07T01:15:36.767Z","startsAt":"2026-12-07T01:11:36.767Z","generatorURL":"http://h:9090/graph?g0.expr=m+%3E+2\u0026g0.tab=1","labels":{"alertname":"High","zone":"a\u0026b"}}]"#
        );
    }
}
