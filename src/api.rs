//! HTTP endpoints, one module per family, and the one place errors become responses.
//!
//! Handlers parse the request, call storage and pick the response type; they never build error
//! responses by hand: they return [`ApiError`], rendered by its `ResponseError` impl.

pub mod federate;
pub mod form;
pub mod health;
pub mod import;
pub mod lifecycle;
pub mod peer;
pub mod remote_read;
pub mod remote_write;
pub mod self_metrics;
pub mod starting;
pub mod targets;
pub mod v1;

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
    /// 422 with a plain-text body: the request is valid but over a configured limit.
    #[error("{0}")]
    UnprocessableText(String),
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
        Self::json("bad_data", message)
    }

    /// A JSON error of Prometheus `errorType` `error_type`, with 2.42's status for it
    /// (`respondError`): bad_data 400, execution 422, timeout and canceled 503, not_found
    /// 404, internal and anything else (`unavailable` included) 500.
    pub fn json(error_type: &'static str, message: impl Into<String>) -> Self {
        let status = match error_type {
            "bad_data" => StatusCode::BAD_REQUEST,
            "execution" => StatusCode::UNPROCESSABLE_ENTITY,
            "timeout" | "canceled" => StatusCode::SERVICE_UNAVAILABLE,
            "not_found" => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::Json {
            error_type,
            message: message.into(),
            status,
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
            ApiError::UnprocessableText(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Json { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Json {
                error_type,
                message,
                ..
            } => HttpResponse::build(self.status_code())
                .content_type("application/json")
                .body(v1::json::error_body(error_type, message)),
            other => http_error(self.status_code(), other),
        }
    }
}

/// Go's `http.Error(w, msg, status)`: the message, a newline, and its two headers. Every
/// plain-text error response is rendered here.
pub fn http_error(status: StatusCode, message: &dyn std::fmt::Display) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        ))
        .insert_header((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .body(format!("{message}\n"))
}

/// Registers every endpoint on an actix `App`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/v1/federate/count",
        web::get().to(federate::count::handle),
    )
    .route(
        "/api/v1/federate/count",
        web::post().to(federate::count::handle),
    );
    v1::routes(cfg);
    cfg.route("/federate", web::get().to(federate::handle))
        .route("/federate", web::post().to(federate::handle))
        .service(
            web::resource("/api/v1/import/prometheus")
                .app_data(web::PayloadConfig::new(import::MAX_IMPORT_BYTES))
                .route(web::post().to(import::handle))
                .default_service(web::to(remote_read::method_not_allowed)),
        )
        // Other methods: 405 with `Allow: OPTIONS, POST`, as Prometheus's router answers.
        .service(
            web::resource("/api/v1/write")
                .route(web::post().to(remote_write::handle))
                .default_service(web::to(remote_read::method_not_allowed)),
        )
        .service(
            web::resource("/api/v1/read")
                .route(web::post().to(remote_read::handle))
                .default_service(web::to(remote_read::method_not_allowed)),
        )
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
