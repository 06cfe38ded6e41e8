//! `GET /api/v1/metadata?metric=&limit=` (Prometheus 2.42 `api.metricMetadata`): the metadata
//! active targets declared in their last scrape, a deduplicated list per metric family.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::{HttpRequest, HttpResponse, web};

use super::json;
use super::params::Form;
use super::respond;
use crate::api::ApiError;
use crate::scrape::metadata::MetricMetadata;
use crate::server::AppState;

/// Handles `/api/v1/metadata`.
pub async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let form = Form::parse(&req, &[]);
    let limit = match form.value("limit") {
        s if s.is_empty() => -1,
        // Go `strconv.Atoi`: an optional sign and decimal digits.
        s => s
            .parse::<i64>()
            .map_err(|_| ApiError::bad_data("limit must be a number"))?,
    };
    let metric = form.value("metric");
    let mut metrics: BTreeMap<String, BTreeSet<MetricMetadata>> = BTreeMap::new();
    for target in state.scrape.iter().flat_map(|s| s.metadata()) {
        if metric.is_empty() {
            for (name, m) in target.iter() {
                metrics.entry(name.clone()).or_default().insert(m.clone());
            }
        } else if let Some(m) = target.get(&metric) {
            metrics.entry(metric.clone()).or_default().insert(m.clone());
        }
    }
    // 2.42 stops once `limit` metrics are in (which ones is Go's map order; here the first
    // by name).
    let mut buf = json::begin_success(256);
    buf.push(b'{');
    for (i, (name, set)) in metrics.iter().enumerate() {
        if limit >= 0 && i as i64 >= limit {
            break;
        }
        if i > 0 {
            buf.push(b',');
        }
        json::write_str(&mut buf, name);
        buf.extend_from_slice(b":[");
        for (k, m) in set.iter().enumerate() {
            if k > 0 {
                buf.push(b',');
            }
            buf.extend_from_slice(b"{\"type\":");
            json::write_str(&mut buf, m.kind);
            buf.extend_from_slice(b",\"help\":");
            json::write_str(&mut buf, &m.help);
            buf.extend_from_slice(b",\"unit\":");
            json::write_str(&mut buf, &m.unit);
            buf.push(b'}');
        }
        buf.push(b']');
    }
    buf.push(b'}');
    Ok(respond::json(&req, json::finish(buf)))
}
