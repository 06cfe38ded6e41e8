//! The server while the head opens (snapshot load and WAL replay): the listener is bound
//! first, so `/-/ready` answers 503 ("Service Unavailable", as Prometheus before its TSDB is
//! up) instead of refusing connections, `/-/healthy` answers 200, and `/metrics` shows how far
//! start-up is (`fedstore_head_replay_*`). Every other path answers 503 too. Once the head is
//! open it stops and the full API takes over the same socket.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use fedstore_storage::StartupProgress;

use super::federate::TEXT_CONTENT_TYPE;

/// The start-up server, running on its own thread.
pub struct StartingServer {
    handle: actix_web::dev::ServerHandle,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
}

impl StartingServer {
    /// Serves `listener` (a clone of the one the API will use) until [`StartingServer::stop`].
    pub fn start(listener: TcpListener, progress: Arc<StartupProgress>) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("starting-http".to_owned())
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let data = web::Data::from(progress);
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(data.clone())
                            .route("/-/ready", web::get().to(not_ready))
                            .route("/-/ready", web::head().to(not_ready))
                            .route("/-/healthy", web::get().to(super::health::healthy))
                            .route("/-/healthy", web::head().to(super::health::healthy))
                            .route("/metrics", web::get().to(metrics))
                            .default_service(web::to(not_ready))
                    })
                    .workers(1)
                    // Every answer closes its connection: a client must not keep one to this
                    // server, which stops (closing it) when the real one takes the socket.
                    .keep_alive(actix_web::http::KeepAlive::Disabled)
                    .disable_signals()
                    .listen(listener)?
                    .run();
                    let _ = tx.send(server.handle());
                    server.await
                })
            })?;
        let handle = rx
            .recv()
            .map_err(|_| std::io::Error::other("the start-up HTTP server did not start"))?;
        Ok(StartingServer { handle, thread })
    }

    /// Stops it (requests in flight finish first); the socket stays open for the API.
    pub fn stop(self) {
        let handle = self.handle;
        let stopper = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(handle.stop(true));
        });
        let _ = stopper.join();
        match self.thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "start-up HTTP server"),
            Err(_) => tracing::warn!("start-up HTTP server panicked"),
        }
    }
}

async fn not_ready() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .content_type("text/plain; charset=utf-8")
        .body("Service Unavailable")
}

async fn metrics(progress: web::Data<StartupProgress>) -> HttpResponse {
    let mut buf = Vec::new();
    render_replay_metrics(&progress, &mut buf);
    HttpResponse::Ok().content_type(TEXT_CONTENT_TYPE).body(buf)
}

/// Appends the `fedstore_head_replay_*` gauges of `p` to `out` (text format).
pub fn render_replay_metrics(p: &StartupProgress, out: &mut Vec<u8>) {
    use std::io::Write;
    let (bytes_read, bytes) = p.wal_bytes();
    let (segments_read, segments) = p.segments();
    let gauges: [(&str, &str, f64); 9] = [
        (
            "fedstore_head_replay_in_progress",
            "1 while the head is being loaded and the WAL replayed, then 0.",
            f64::from(u8::from(!p.is_done())),
        ),
        (
            "fedstore_head_replay_snapshot_used",
            "1 if start-up loaded a head snapshot.",
            f64::from(u8::from(p.snapshot_used())),
        ),
        (
            "fedstore_head_replay_snapshot_series",
            "Series restored from the head snapshot.",
            p.series_loaded() as f64,
        ),
        (
            "fedstore_head_replay_wal_segments",
            "WAL files (checkpoint and segments) start-up replays.",
            segments as f64,
        ),
        (
            "fedstore_head_replay_wal_segments_read",
            "WAL files replayed so far.",
            segments_read as f64,
        ),
        (
            "fedstore_head_replay_wal_bytes",
            "WAL bytes start-up replays.",
            bytes as f64,
        ),
        (
            "fedstore_head_replay_wal_bytes_read",
            "WAL bytes replayed so far.",
            bytes_read as f64,
        ),
        (
            "fedstore_head_replay_samples",
            "Samples replayed from the WAL so far.",
            p.samples_replayed() as f64,
        ),
        (
            "fedstore_head_replay_seconds",
            "Time start-up has taken (final once done).",
            p.elapsed().as_secs_f64(),
        ),
    ];
    for (name, help, v) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    }
}
