//! `GET /api/v1/targets[?state=active|dropped|any]` in Prometheus 2.42's JSON shape
//! (`web/api/v1/api.go` `targets`): active targets with their last scrape, dropped targets
//! with their labels before relabeling. Key order follows Prometheus's struct order.

use std::collections::BTreeMap;
use std::time::SystemTime;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::scrape::manager::hostname;
use crate::server::AppState;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActiveTarget<'a> {
    discovered_labels: BTreeMap<&'a str, &'a str>,
    labels: BTreeMap<&'a str, &'a str>,
    scrape_pool: &'a str,
    scrape_url: &'a str,
    global_url: String,
    last_error: &'a str,
    last_scrape: String,
    last_scrape_duration: f64,
    health: &'static str,
    scrape_interval: &'a str,
    scrape_timeout: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DroppedTarget<'a> {
    discovered_labels: BTreeMap<&'a str, &'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Data<'a> {
    active_targets: Vec<ActiveTarget<'a>>,
    dropped_targets: Vec<DroppedTarget<'a>>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    status: &'static str,
    data: Data<'a>,
}

/// Go's `time.Time` in RFC 3339 with nanoseconds, trailing zeros trimmed, UTC (`Z`);
/// `None` prints Go's zero time.
pub fn rfc3339_nano(t: Option<SystemTime>) -> String {
    let Some(d) = t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()) else {
        return "0001-01-01T00:00:00Z".to_owned();
    };
    crate::time::rfc3339_utc(d.as_secs() as i64, d.subsec_nanos())
}

fn as_map(pairs: &[(String, String)]) -> BTreeMap<&str, &str> {
    pairs
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// `scrapeUrl` with a loopback host replaced by the machine's host name (`globalUrl`).
fn global_url(url: &str, host: &str) -> String {
    for local in ["127.0.0.1", "localhost"] {
        let prefix = format!("://{local}");
        if let Some(i) = url.find(&prefix) {
            let rest = &url[i + prefix.len()..];
            if rest.is_empty() || rest.starts_with([':', '/', '?']) {
                return format!("{}://{host}{rest}", &url[..i]);
            }
        }
    }
    url.to_owned()
}

/// `GET /api/v1/targets`.
pub async fn handle(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let query = web::Query::<BTreeMap<String, String>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default();
    let which = query
        .get("state")
        .map(|s| s.to_lowercase())
        .unwrap_or_default();
    let show_active = matches!(which.as_str(), "" | "any" | "active");
    let show_dropped = matches!(which.as_str(), "" | "any" | "dropped");
    let view = state
        .scrape
        .as_ref()
        .map(|m| m.targets())
        .unwrap_or_default();
    let host = hostname();
    let active_targets = if show_active {
        view.active
            .iter()
            .map(|a| ActiveTarget {
                discovered_labels: as_map(&a.discovered),
                labels: as_map(&a.labels),
                scrape_pool: &a.scrape_pool,
                scrape_url: &a.scrape_url,
                global_url: global_url(&a.scrape_url, &host),
                last_error: &a.status.last_error,
                last_scrape: rfc3339_nano(a.status.last_scrape),
                last_scrape_duration: a.status.last_duration_s,
                health: a.status.health.as_str(),
                scrape_interval: &a.interval,
                scrape_timeout: &a.timeout,
            })
            .collect()
    } else {
        Vec::new()
    };
    let dropped_targets = if show_dropped {
        view.dropped
            .iter()
            .map(|(_, d)| DroppedTarget {
                discovered_labels: as_map(d),
            })
            .collect()
    } else {
        Vec::new()
    };
    let body = Envelope {
        status: "success",
        data: Data {
            active_targets,
            dropped_targets,
        },
    };
    match serde_json::to_string(&body) {
        Ok(json) => HttpResponse::Ok()
            .content_type("application/json")
            .body(json),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_nano_like_go() {
        let at = |s: u64, n: u32| Some(SystemTime::UNIX_EPOCH + std::time::Duration::new(s, n));
        let cases = [
            (None, "0001-01-01T00:00:00Z"),
            (at(0, 0), "1970-01-01T00:00:00Z"),
            (
                at(1_795_665_011, 163_037_778),
                "2026-11-26T03:50:11.163037778Z",
            ),
            (at(1_795_665_011, 500_000_000), "2026-11-26T03:50:11.5Z"),
            (at(951_782_400, 1_000), "2000-02-29T00:00:00.000001Z"),
        ];
        for (t, want) in cases {
            assert_eq!(rfc3339_nano(t), want);
        }
    }

    #[test]
    fn global_url_replaces_loopback() {
        let cases = [
            ("http://127.0.0.1:9/m", "http://h:9/m"),
            ("http://localhost:9/m", "http://h:9/m"),
            ("http://localhostx:9/m", "http://localhostx:9/m"),
            ("http://10.0.0.1:9/m", "http://10.0.0.1:9/m"),
        ];
        for (url, want) in cases {
            assert_eq!(global_url(url, "h"), want);
        }
    }
}
