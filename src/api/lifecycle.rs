//! `/-/reload` (Prometheus 2.42 `web/web.go`): `POST`/`PUT` re-read `--config.file` when
//! `--web.enable-lifecycle` is set (403 otherwise), `GET` is 405. [`reload`] is also what
//! SIGHUP runs. A bad file keeps the running configuration.

use std::sync::Arc;

use actix_web::{HttpResponse, web};

use crate::api::ApiError;
use crate::config::Config;
use crate::config::ExternalLabels;
use crate::server::AppState;

/// Re-reads the configuration file and applies it: scrape jobs and external labels. The
/// error text is what Prometheus reports (`couldn't load configuration (--config.file=..)`).
pub fn reload_config(state: &AppState) -> Result<(), String> {
    let Some(path) = &state.config_file else {
        // The built-in configuration never changes.
        return Ok(());
    };
    let cfg = Config::load(path).map_err(|e| {
        format!(
            "couldn't load configuration (--config.file={:?}): {e}",
            path.display().to_string()
        )
    })?;
    // Rules first: a bad rule file keeps everything as it was.
    if let Some(r) = &state.rules {
        r.apply(&cfg).map_err(|e| {
            format!(
                "one or more errors occurred while applying the new configuration (--config.file={:?}): {e}",
                path.display().to_string()
            )
        })?;
    }
    if let Some(m) = &state.scrape {
        m.apply_config(&cfg).map_err(|e| {
            format!(
                "one or more errors occurred while applying the new configuration (--config.file={:?}): {e}",
                path.display().to_string()
            )
        })?;
    }
    if let Some(s) = &state.remote_sender {
        s.apply_config(&cfg).map_err(|e| {
            format!(
                "one or more errors occurred while applying the new configuration (--config.file={:?}): {e}",
                path.display().to_string()
            )
        })?;
    }
    *state.external_labels.write() = Arc::new(ExternalLabels::new(cfg.external_labels()));
    tracing::info!(file = %path.display(), "completed loading of configuration file");
    Ok(())
}

/// `POST|PUT /-/reload`.
pub async fn reload(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if !state.enable_lifecycle {
        return Ok(HttpResponse::Forbidden()
            .content_type("text/plain; charset=utf-8")
            .body("Lifecycle API is not enabled."));
    }
    let st = state.into_inner();
    let res = web::block(move || reload_config(&st))
        .await
        .map_err(|e| ApiError::InternalText(format!("failed to reload config: {e}")))?;
    match res {
        Ok(()) => Ok(HttpResponse::Ok().finish()),
        Err(e) => Err(ApiError::InternalText(format!(
            "failed to reload config: {e}"
        ))),
    }
}

/// `GET /-/reload`: 405 as Prometheus.
pub async fn get_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .content_type("text/plain; charset=utf-8")
        .body("Only POST or PUT requests allowed")
}

/// Reloads the configuration on every SIGHUP (Prometheus's `reloadConfig` on `syscall.SIGHUP`)
/// until the process ends; failures are logged and the old configuration keeps running.
pub async fn reload_on_sighup(state: Arc<AppState>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::error!("cannot install the SIGHUP handler; reload with POST /-/reload");
        return;
    };
    while hup.recv().await.is_some() {
        let st = state.clone();
        match tokio::task::spawn_blocking(move || reload_config(&st)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(err = %e, "error reloading config"),
            Err(e) => tracing::error!(err = %e, "reload task failed"),
        }
    }
}
