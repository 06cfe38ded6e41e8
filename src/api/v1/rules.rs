//! `GET /api/v1/rules[?type=alert|record]` and `GET /api/v1/alerts` (Prometheus 2.42
//! `api.rules`, `api.alerts`).

use actix_web::{HttpRequest, HttpResponse, web};

use super::json;
use super::params::Form;
use super::respond;
use crate::api::ApiError;
use crate::rules::json::{RuleFilter, alerts as alerts_json, rules as rules_json};
use crate::server::AppState;

/// Handles `/api/v1/rules`.
pub async fn rules(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let form = Form::parse(&req, &[]);
    let filter = match form.value("type").as_str() {
        "" => RuleFilter::All,
        "alert" => RuleFilter::Alert,
        "record" => RuleFilter::Record,
        other => {
            return Err(ApiError::bad_data(format!(
                "invalid parameter \"type\": not supported value {other:?}"
            )));
        }
    };
    let groups = state.rules.as_ref().map(|r| r.groups()).unwrap_or_default();
    let mut buf = json::begin_success(4096);
    rules_json(&mut buf, &groups, filter);
    Ok(respond::json(&req, json::finish(buf)))
}

/// Handles `/api/v1/alerts`.
pub async fn alerts(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let groups = state.rules.as_ref().map(|r| r.groups()).unwrap_or_default();
    let mut buf = json::begin_success(1024);
    alerts_json(&mut buf, &groups);
    respond::json(&req, json::finish(buf))
}
