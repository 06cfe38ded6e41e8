//! HTTP endpoints, one module per family, and the one place errors become responses.
//!
//! Handlers parse the request, call storage and pick the response type; they never build error
//! responses by hand: they return [`ApiError`], rendered by its `ResponseError` impl.

pub mod federate;
pub mod form;
pub mod health;
pub mod import;
pub mod lifecycle;
pub mod remote_write;
pub mod self_metrics;
pub mod starting;
pub mod targets;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError, web};

/// An error answered to an HTTP client.
///
/// Prometheus answers some endpoints with plain text (`http.Error`: the message plus `\n`) and
/// the JSON API with its envelope; each variant says which.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 with a plain-text body, as Prometheus's `http.Error(w, msg, 400)`.
    #[error("{0}")]
    BadRequestText(String),
    /// 500 with a plain-text body.
    #[error("{0}")]
    InternalText(String),
    /// 503 with a plain-text body (not ready, overloaded).
    #[error("{0}")]
    UnavailableText(String),
    /// 413 with a plain-text body: the request body is over the configured limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A JSON API error: `{"status":"error","errorType":..,"error":..}`.
    #[error("{message}")]
    Json {
        /// Prometheus `errorType` (`bad_data`, `execution`, `internal`, ...).
        error_type: &'static str,
        /// Human-readable message.
        message: String,
        /// HTTP status.
        status: StatusCode,
    },
}

impl ApiError {
    /// A JSON `bad_data` error (400).
    pub fn bad_data(message: impl Into<String>) -> Self {
        ApiError::Json {
            error_type: "bad_data",
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequestText(_) => StatusCode::BAD_REQUEST,
            ApiError::InternalText(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::UnavailableText(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Json { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status_code());
        match self {
            ApiError::Json {
                error_type,
                message,
                ..
            } => {
                let body = serde_json::json!({
                    "status": "error",
                    "errorType": error_type,
                    "error": message,
                });
                resp.content_type("application/json").body(body.to_string())
            }
            other => {
                // Go's http.Error: the message, a newline, and these two headers.
                resp.insert_header((
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ))
                .insert_header((
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .body(format!("{other}\n"))
            }
        }
    }
}

/// Registers every endpoint on an actix `App`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/federate", web::get().to(federate::handle))
        .route("/federate", web::post().to(federate::handle))
        .service(
            web::resource("/api/v1/import/prometheus")
                .app_data(web::PayloadConfig::new(import::MAX_IMPORT_BYTES))
                .route(web::post().to(import::handle)),
        )
        .route("/api/v1/write", web::post().to(remote_write::handle))
        .route("/metrics", web::get().to(self_metrics::handle))
        .route("/-/healthy", web::get().to(health::healthy))
        .route("/-/healthy", web::head().to(health::healthy))
        .route("/-/ready", web::get().to(health::ready))
        .route("/-/ready", web::head().to(health::ready))
        .route("/api/v1/targets", web::get().to(targets::handle))
        .service(
            web::resource("/-/reload")
                .route(web::post().to(lifecycle::reload))
                .route(web::put().to(lifecycle::reload))
                .route(web::get().to(lifecycle::get_not_allowed)),
        );
}
