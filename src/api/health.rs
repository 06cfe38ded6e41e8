//! `/-/healthy` and `/-/ready`, with Prometheus's bodies.

use actix_web::HttpResponse;

/// `GET /-/healthy`: the process is up.
pub async fn healthy() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("Prometheus Server is Healthy.\n")
}

/// `GET /-/ready`: the head is open and serving.
pub async fn ready() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("Prometheus Server is Ready.\n")
}
