//! `/api/v1/query`, `/api/v1/query_range`, `/api/v1/format_query` and
//! `/api/v1/query_exemplars` (Prometheus 2.42 `api.query`, `api.queryRange`, ...): parameters
//! and their errors in 2.42's order, then evaluation on the query threads, which also render
//! the JSON (a big result is never formatted on an HTTP worker).

use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use fedstore_promql::{EvalError, Expr, Value, ValueType, parse_expr};

use super::json;
use super::params::{Form, MAX_TIME_MS, MIN_TIME_MS, parse_duration_ns, parse_time};
use super::respond;
use crate::api::{ApiError, peer};
use crate::query::QueryFailure;
use crate::query::storage::DbQueryable;
use crate::server::AppState;

/// Most points a range query may return per series (`end - start) / step`).
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// `GET|POST /api/v1/query`.
pub async fn instant(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let form = Form::parse(&req, &body);
    let time = form.value("time");
    let t_ms = if time.is_empty() {
        (state.clock)()
    } else {
        parse_time(&time).map_err(|e| {
            ApiError::bad_data(format!(
                "invalid parameter \"time\": Invalid time value for 'time': {e}"
            ))
        })?
    };
    let timeout = parse_timeout(&form)?;
    let expr = parse_expr(&form.value("query"))
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))?;
    let stats = !form.value("stats").is_empty();
    run(&state, &req, timeout, stats, move |engine, q| {
        engine.instant(q, &expr, t_ms)
    })
    .await
}

/// `GET|POST /api/v1/query_range`.
pub async fn range(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let form = Form::parse(&req, &body);
    let start = parse_time(&form.value("start"))
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"start\": {e}")))?;
    let end = parse_time(&form.value("end"))
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"end\": {e}")))?;
    if end < start {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let step_ns = parse_duration_ns(&form.value("step"))
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"step\": {e}")))?;
    if step_ns <= 0 {
        return Err(ApiError::bad_data(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    // Go divides the nanosecond durations (`end.Sub(start)` saturates at its bounds).
    let span_ns = (i128::from(end) - i128::from(start)) * 1_000_000;
    let span_ns = span_ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX));
    if span_ns / i128::from(step_ns) > i128::from(MAX_POINTS_PER_SERIES) {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let timeout = parse_timeout(&form)?;
    let expr = parse_expr(&form.value("query")).map_err(|e| ApiError::bad_data(e.to_string()))?;
    check_range_type(&expr)?;
    // The engine works in whole ms: a sub-ms step truncates (to at least 1 ms).
    let step_ms = (step_ns / 1_000_000).max(1);
    let stats = !form.value("stats").is_empty();
    run(&state, &req, timeout, stats, move |engine, q| {
        engine.range(q, &expr, start, end, step_ms)
    })
    .await
}

/// Parses `timeout` (`invalid parameter "timeout": ...`); `None` when absent.
fn parse_timeout(form: &Form) -> Result<Option<Duration>, ApiError> {
    let to = form.value("timeout");
    if to.is_empty() {
        return Ok(None);
    }
    let ns = parse_duration_ns(&to)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"timeout\": {e}")))?;
    Ok(Some(Duration::from_nanos(ns.max(0) as u64)))
}

/// Evaluates on the query threads and renders the answer there.
async fn run(
    state: &AppState,
    req: &HttpRequest,
    timeout: Option<Duration>,
    stats: bool,
    eval: impl FnOnce(&fedstore_promql::Engine, &DbQueryable) -> Result<Value, EvalError>
    + Send
    + 'static,
) -> Result<HttpResponse, ApiError> {
    if timeout == Some(Duration::ZERO) {
        // A context already past its deadline: 2.42 reports it from the execution step.
        return Err(QueryFailure::ExecTimeout.api_error());
    }
    let queued = Instant::now();
    let deadline = state.query.deadline(timeout);
    let db = state.db.clone();
    let body = state
        .query
        .run(deadline, peer::of(req), move |engine, cancel| {
            let started = Instant::now();
            let q = DbQueryable::new(db).with_cancel(cancel.clone());
            let value = eval(engine, &q)?;
            let evaluated = started.elapsed();
            let mut buf = json::begin_success(4096);
            json::write_result(&mut buf, &value);
            if stats {
                let timings = Timings {
                    queue: started.duration_since(queued),
                    eval: evaluated,
                };
                write_stats(&mut buf, &timings, q.samples_read(), result_samples(&value));
            }
            buf.push(b'}');
            Ok(json::finish(buf))
        })
        .await
        .map_err(|e| e.api_error())?;
    Ok(respond::json(req, body))
}

struct Timings {
    queue: Duration,
    eval: Duration,
}

/// Samples in a result (a scalar or string counts one).
fn result_samples(v: &Value) -> u64 {
    match v {
        Value::Scalar { .. } | Value::String { .. } => 1,
        Value::Vector(s) => s.len() as u64,
        Value::Matrix(m) => m.iter().map(|s| s.points.len() as u64).sum(),
    }
}

/// Appends `,"stats":{...}` in 2.42's shape. The timings are measured here (evaluation
/// includes reading storage; preparation and sorting are part of it); the samples are those
/// storage handed the engine, and the peak is the larger of that and the result's size.
fn write_stats(buf: &mut Vec<u8>, t: &Timings, loaded: u64, result: u64) {
    let secs = |d: Duration| d.as_secs_f64();
    let num = |buf: &mut Vec<u8>, key: &str, v: f64| {
        json::write_str(buf, key);
        buf.push(b':');
        json::write_json_number(buf, v);
    };
    buf.extend_from_slice(b",\"stats\":{\"timings\":{");
    num(buf, "evalTotalTime", secs(t.eval));
    buf.push(b',');
    num(buf, "resultSortTime", 0.0);
    buf.push(b',');
    num(buf, "queryPreparationTime", 0.0);
    buf.push(b',');
    num(buf, "innerEvalTime", secs(t.eval));
    buf.push(b',');
    num(buf, "execQueueTime", secs(t.queue));
    buf.push(b',');
    num(buf, "execTotalTime", secs(t.queue + t.eval));
    buf.extend_from_slice(b"},\"samples\":{\"totalQueryableSamples\":");
    let mut b = itoa::Buffer::new();
    buf.extend_from_slice(b.format(loaded).as_bytes());
    buf.extend_from_slice(b",\"peakSamples\":");
    buf.extend_from_slice(b.format(loaded.max(result)).as_bytes());
    buf.extend_from_slice(b"}}");
}

/// `GET|POST /api/v1/format_query`: the expression pretty-printed.
pub async fn format_query(
    req: HttpRequest,
    body: web::Bytes,
    _state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let form = Form::parse(&req, &body);
    let expr = parse_expr(&form.value("query"))
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))?;
    let mut buf = json::begin_success(256);
    json::write_str(&mut buf, &fedstore_promql::parser::pretty(&expr));
    Ok(respond::json(&req, json::finish(buf)))
}

/// `GET|POST /api/v1/query_exemplars`: fedstore keeps no exemplars (2.42's default), so a
/// valid query answers `[]`, one without a selector 204.
pub async fn exemplars(
    req: HttpRequest,
    body: web::Bytes,
    _state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let form = Form::parse(&req, &body);
    let time = |name: &str, default: i64| -> Result<i64, ApiError> {
        let v = form.value(name);
        if v.is_empty() {
            return Ok(default);
        }
        parse_time(&v).map_err(|e| {
            ApiError::bad_data(format!(
                "invalid parameter \"{name}\": Invalid time value for '{name}': {e}"
            ))
        })
    };
    let start = time("start", MIN_TIME_MS)?;
    let end = time("end", MAX_TIME_MS)?;
    if end < start {
        return Err(ApiError::bad_data(
            "end timestamp must not be before start timestamp",
        ));
    }
    let expr = parse_expr(&form.value("query")).map_err(|e| ApiError::bad_data(e.to_string()))?;
    if !has_selector(&expr) {
        return Ok(HttpResponse::NoContent().finish());
    }
    Ok(respond::json(&req, empty_list()))
}

fn empty_list() -> Vec<u8> {
    let mut buf = json::begin_success(8);
    buf.extend_from_slice(b"[]");
    json::finish(buf)
}

/// Whether `e` reads any series.
fn has_selector(e: &Expr) -> bool {
    match e {
        Expr::Number(_) | Expr::String(_) => false,
        Expr::Vector(_) | Expr::Matrix(_) => true,
        Expr::Subquery(s) => has_selector(&s.expr),
        Expr::Paren(x) => has_selector(x),
        Expr::Unary(u) => has_selector(&u.expr),
        Expr::Binary(b) => has_selector(&b.lhs) || has_selector(&b.rhs),
        Expr::Aggregate(a) => has_selector(&a.expr) || a.param.as_deref().is_some_and(has_selector),
        Expr::Call(c) => c.args.iter().any(has_selector),
    }
}

/// A range query evaluates scalars and instant vectors only; 2.42 refuses anything else when
/// it creates the query, before evaluation, so the answer is `bad_data` (400), not `execution`.
fn check_range_type(expr: &Expr) -> Result<(), ApiError> {
    let ty = expr.value_type();
    if matches!(ty, ValueType::Scalar | ValueType::Vector) {
        return Ok(());
    }
    Err(ApiError::bad_data(format!(
        "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
        ty.as_str()
    )))
}
