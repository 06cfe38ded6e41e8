//! The Prometheus HTTP query API under `/api/v1/` (2.42): query and range query, series,
//! label names and values, exemplars, format_query and status. README.md beside this file
//! traces a request; docs/api.md is the operator's reference.

pub mod index_answers;
pub mod json;
pub mod metadata;
pub mod params;
pub mod query;
pub mod respond;
pub mod rules;
pub mod series;
pub mod status;
pub mod streamed;

use actix_web::web;

/// Registers the query API. Each path answers its own methods and 405 for the others;
/// `OPTIONS`, CORS and unknown paths are handled around it (see [`respond`]).
pub fn routes(cfg: &mut web::ServiceConfig) {
    /// A resource answering GET and POST (form) with `$h`, 405 otherwise.
    macro_rules! get_post {
        ($path:expr, $h:expr) => {
            web::resource($path)
                .route(web::get().to($h))
                .route(web::post().to($h))
                .default_service(web::to(respond::method_not_allowed))
        };
    }
    /// A resource answering GET with `$h`, 405 otherwise.
    macro_rules! get_only {
        ($path:expr, $h:expr) => {
            web::resource($path)
                .route(web::get().to($h))
                .default_service(web::to(respond::method_not_allowed))
        };
    }
    cfg.service(get_post!("/api/v1/query", query::instant))
        .service(get_post!("/api/v1/query_range", query::range))
        .service(get_post!("/api/v1/format_query", query::format_query))
        .service(get_post!("/api/v1/query_exemplars", query::exemplars))
        .service(get_post!("/api/v1/series", series::series))
        .service(get_post!("/api/v1/labels", series::labels))
        .service(get_only!(
            "/api/v1/label/{name}/values",
            series::label_values
        ))
        .service(get_only!("/api/v1/metadata", metadata::handle))
        .service(get_only!("/api/v1/rules", rules::rules))
        .service(get_only!("/api/v1/alerts", rules::alerts))
        .service(get_only!("/api/v1/status/buildinfo", status::buildinfo))
        .service(get_only!("/api/v1/status/runtimeinfo", status::runtimeinfo))
        .service(get_only!("/api/v1/status/flags", status::flags))
        .service(get_only!("/api/v1/status/config", status::config))
        .service(get_only!("/api/v1/status/tsdb", status::tsdb));
}
