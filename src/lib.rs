//! fedstore: a Prometheus-compatible storage node built for federation.
//!
//! # Layout
//! - [`cli`]: command-line flags, named as Prometheus names them.
//! - [`config`]: Prometheus YAML configuration.
//! - [`server`]: actix-web wiring; [`server::run`] serves a bound listener.
//! - [`time`]: Go's RFC 3339 layouts of UTC times (the server's one civil-date conversion).
//! - [`api`]: one module per HTTP endpoint family (`/federate`, import, remote write, health).
//! - [`exposition`]: the text exposition format: Go-exact float formatting, writer, parser.
//! - [`remote`]: remote-write protobuf and snappy decoding.
//! - [`scrape`]: the scrape manager: targets, per-target loops, staleness, reload.
//! - [`metrics`]: fedstore's own `/metrics`.
//! - [`query`]: PromQL for the HTTP API: engine settings, the query queue, storage adapter.
//! - [`tls_client`], [`http_post`], [`proxy`]: rustls client configuration from `tls_config`,
//!   the blocking HTTP/1.1 POST client of the remote-write sender and the notifier, and the
//!   `proxy_url` requests both it and the scrape dialer send.
//! - [`pool`]: the render threads that keep CPU-heavy work off the HTTP workers.
//! - [`import_cli`]: `fedstore import FILE...`.
//!
//! The storage engine lives in the `fedstore-storage` crate.

pub mod alloc;
pub mod api;
pub mod check_cli;
pub mod cli;
pub mod config;
pub mod exposition;
pub mod http_post;
pub mod import_cli;
pub mod limits;
pub mod metrics;
pub mod pool;
pub mod proxy;
pub mod query;
pub mod remote;
pub mod rules;
pub mod scrape;
pub mod server;
pub mod thread_nice;
pub mod time;
pub mod tls_client;
pub mod web_config;
