//! `GET /metrics`: fedstore's own metrics in the text format.

use actix_web::{HttpResponse, web};

use super::federate::TEXT_CONTENT_TYPE;
use crate::server::AppState;

/// Renders [`crate::metrics::Metrics`].
pub async fn handle(state: web::Data<AppState>) -> HttpResponse {
    let mut buf = Vec::with_capacity(8 << 10);
    state.metrics.render(state.head(), &mut buf);
    if let Some(rules) = &state.rules {
        crate::rules::metrics::render(rules, &mut buf);
    }
    if let Some(s) = &state.remote_sender {
        s.render(&mut buf);
    }
    if let Some(p) = &state.startup {
        super::starting::render_replay_metrics(p, &mut buf);
    }
    HttpResponse::Ok().content_type(TEXT_CONTENT_TYPE).body(buf)
}
