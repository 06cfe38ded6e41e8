//! `/api/v1/status/{buildinfo,runtimeinfo,flags,config,tsdb}` (Prometheus 2.42
//! `api.serveBuildInfo`, `serveRuntimeInfo`, `serveFlags`, `serveConfig`, `serveTSDBStatus`).
//!
//! `tsdb` is the cardinality view; unlike 2.42 (head only) it counts every series stored,
//! head and blocks, each once, as issue 10 asks (`Db::label_pair_counts`), and its
//! `headStats` describe the head.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use fedstore_storage::LabelPairCounts;

use super::json;
use super::respond;
use crate::api::{ApiError, peer};
use crate::server::AppState;

/// Entries per `status/tsdb` list (2.42 shows the top 10).
const TSDB_TOP: usize = 10;

fn object(req: &HttpRequest, fields: &[(&str, Field<'_>)]) -> HttpResponse {
    let mut buf = json::begin_success(256);
    write_object(&mut buf, fields);
    respond::json(req, json::finish(buf))
}

/// A JSON field value of the status objects.
enum Field<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
}

fn write_object(buf: &mut Vec<u8>, fields: &[(&str, Field<'_>)]) {
    buf.push(b'{');
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        json::write_str(buf, k);
        buf.push(b':');
        match v {
            Field::Str(s) => json::write_str(buf, s),
            Field::Int(n) => buf.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
            Field::Bool(b) => buf.extend_from_slice(if *b { b"true" } else { b"false" }),
        }
    }
    buf.push(b'}');
}

/// `GET /api/v1/status/buildinfo`.
pub async fn buildinfo(req: HttpRequest) -> HttpResponse {
    object(
        &req,
        &[
            ("version", Field::Str(env!("CARGO_PKG_VERSION"))),
            (
                "revision",
                Field::Str(option_env!("FEDSTORE_REVISION").unwrap_or("unknown")),
            ),
            (
                "branch",
                Field::Str(option_env!("FEDSTORE_BRANCH").unwrap_or("unknown")),
            ),
            (
                "buildUser",
                Field::Str(option_env!("FEDSTORE_BUILD_USER").unwrap_or("unknown")),
            ),
            (
                "buildDate",
                Field::Str(option_env!("FEDSTORE_BUILD_DATE").unwrap_or("unknown")),
            ),
            // The field name is Prometheus's; fedstore is not Go: the toolchain it needs.
            (
                "goVersion",
                Field::Str(concat!("rust", env!("CARGO_PKG_RUST_VERSION"))),
            ),
        ],
    )
}

/// `GET /api/v1/status/runtimeinfo`.
pub async fn runtimeinfo(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let start = rfc3339_ms(state.start_time_ms);
    // 2.42 records the config time in whole seconds.
    let config_time = rfc3339_ms(state.start_time_ms.div_euclid(1000) * 1000);
    let threads = std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count() as i64);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as i64);
    let retention = state
        .flags
        .iter()
        .find(|(k, _)| k == "storage.tsdb.retention.time")
        .map_or("15d", |(_, v)| v.as_str());
    object(
        &req,
        &[
            ("startTime", Field::Str(&start)),
            ("CWD", Field::Str(&cwd)),
            ("reloadConfigSuccess", Field::Bool(true)),
            ("lastConfigTime", Field::Str(&config_time)),
            ("corruptionCount", Field::Int(0)),
            // fedstore has threads, not goroutines: the process's thread count.
            ("goroutineCount", Field::Int(threads)),
            ("GOMAXPROCS", Field::Int(cores)),
            ("GOGC", Field::Str("")),
            ("GODEBUG", Field::Str("")),
            ("storageRetention", Field::Str(retention)),
        ],
    )
}

/// `GET /api/v1/status/flags`: every flag (name without `--`) and its value, sorted.
pub async fn flags(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let mut flags: Vec<&(String, String)> = state.flags.iter().collect();
    flags.sort();
    let mut buf = json::begin_success(1024);
    buf.push(b'{');
    for (i, (k, v)) in flags.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        json::write_str(&mut buf, k);
        buf.push(b':');
        json::write_str(&mut buf, v);
    }
    buf.push(b'}');
    respond::json(&req, json::finish(buf))
}

/// `GET /api/v1/status/config`: the configuration file as loaded (the built-in one when
/// none was given).
pub async fn config(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let yaml = match &state.config_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| ApiError::json("internal", format!("reading {}: {e}", path.display())))?,
        None => state.config_yaml.clone(),
    };
    Ok(object(&req, &[("yaml", Field::Str(&yaml))]))
}

/// `GET /api/v1/status/tsdb`.
pub async fn tsdb(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    // Read before the counts, so kept lists are never newer than their version says.
    let version = state.db.index_version();
    if let Some(lists) = state.index_answers.tsdb_lists(&version) {
        // What is left is a few counters: cheaper on this worker than the two thread hops
        // to a query thread and back (docs/benchmarks.md, "status/tsdb on the worker").
        return Ok(respond::json(&req, tsdb_body(state.db.head(), &lists)));
    }
    let db = state.db.clone();
    let deadline = state.query.deadline(None);
    let (body, lists) = state
        .query
        .run(deadline, peer::of(&req), move |_, _| {
            // Every series once, head and blocks: the head's postings plus what the blocks
            // add, kept by the database between requests. Sorting the label pairs for the
            // top-10 lists is most of the work, and they change only with the index.
            let pairs = db.label_pair_counts().map_err(crate::query::eval_error)?;
            let lists = Arc::new(render_top_lists(&pairs));
            Ok((tsdb_body(db.head(), &lists), lists))
        })
        .await
        .map_err(|e| e.api_error())?;
    state.index_answers.keep_tsdb_lists(version, lists);
    Ok(respond::json(&req, body))
}

/// The answer: the head's counters now, then the four top-10 `lists`.
fn tsdb_body(head: &fedstore_storage::Head, lists: &[u8]) -> Vec<u8> {
    let (min_t, max_t) = head.time_bounds().unwrap_or((i64::MAX, i64::MIN));
    let chunks = head.chunk_file_stats().chunks_written + head.num_series() as u64;
    let mut buf = json::begin_success(4096);
    buf.extend_from_slice(b"{\"headStats\":");
    write_object(
        &mut buf,
        &[
            ("numSeries", Field::Int(head.num_series() as i64)),
            ("numLabelPairs", Field::Int(head.num_label_pairs() as i64)),
            ("chunkCount", Field::Int(chunks as i64)),
            ("minTime", Field::Int(min_t)),
            ("maxTime", Field::Int(max_t)),
        ],
    );
    buf.extend_from_slice(lists);
    buf.push(b'}');
    json::finish(buf)
}

/// The top-10 lists of `pairs`, as JSON members (`,"seriesCountByMetricName":[...]...`).
fn render_top_lists(pairs: &LabelPairCounts) -> Vec<u8> {
    // Each pair is listed once: distinct values per label name and their bytes, with no
    // string copied (only the ten entries of each list are written).
    let mut per_name: HashMap<&str, (u64, u64)> = HashMap::new();
    for (n, v, _) in pairs.iter() {
        let e = per_name.entry(n.as_str()).or_default();
        e.0 += 1;
        e.1 += v.len() as u64;
    }
    let mut buf = Vec::with_capacity(2048);
    let by_name = pairs
        .iter()
        .filter(|p| p.0 == "__name__")
        .map(|(_, v, c)| (Key::One(v), *c));
    write_top(&mut buf, "seriesCountByMetricName", by_name.collect());
    let values = per_name.iter().map(|(n, v)| (Key::One(n), v.0));
    write_top(&mut buf, "labelValueCountByLabelName", values.collect());
    let bytes = per_name.iter().map(|(n, v)| (Key::One(n), v.1));
    write_top(&mut buf, "memoryInBytesByLabelName", bytes.collect());
    let by_pair = pairs.iter().map(|(n, v, c)| (Key::Pair(n, v), *c));
    write_top(&mut buf, "seriesCountByLabelValuePair", by_pair.collect());
    buf
}

/// The name of a `status/tsdb` entry: a label name or value, or a pair printed `name=value`.
#[derive(Clone, Copy)]
enum Key<'a> {
    One(&'a str),
    Pair(&'a str, &'a str),
}

impl Key<'_> {
    /// The bytes of the printed name, without building it.
    fn bytes(self) -> impl Iterator<Item = u8> {
        let (a, b) = match self {
            Key::One(s) => (s, None),
            Key::Pair(n, v) => (n, Some(v)),
        };
        a.bytes()
            .chain(b.map(|_| b'='))
            .chain(b.into_iter().flat_map(str::bytes))
    }
}

/// `,"key":[...]` with the ten largest `items`, ties by name (2.42's order).
fn write_top(buf: &mut Vec<u8>, key: &str, mut items: Vec<(Key<'_>, u64)>) {
    let order = |a: &(Key<'_>, u64), b: &(Key<'_>, u64)| {
        b.1.cmp(&a.1).then_with(|| a.0.bytes().cmp(b.0.bytes()))
    };
    if items.len() > TSDB_TOP {
        items.select_nth_unstable_by(TSDB_TOP - 1, order);
        items.truncate(TSDB_TOP);
    }
    items.sort_by(order);
    buf.push(b',');
    json::write_str(buf, key);
    buf.extend_from_slice(b":[");
    let mut name = String::new();
    for (i, (k, value)) in items.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(b"{\"name\":");
        match *k {
            Key::One(s) => json::write_str(buf, s),
            Key::Pair(n, v) => {
                name.clear();
                name.push_str(n);
                name.push('=');
                name.push_str(v);
                json::write_str(buf, &name);
            }
        }
        buf.extend_from_slice(b",\"value\":");
        buf.extend_from_slice(itoa::Buffer::new().format(*value).as_bytes());
        buf.push(b'}');
    }
    buf.push(b']');
}

/// A duration in ms as Prometheus prints one (`15d`, `5m`, `1h30m`, `0s`).
pub fn format_duration_ms(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    let mut rest = ms;
    if rest < 0 {
        out.push('-');
        rest = -rest;
    }
    // As prometheus/common `model.Duration.String`: years and weeks only when exact (`90d`,
    // not `12w6d`).
    for (unit, len, exact) in [
        ("y", 365 * 86_400_000, true),
        ("w", 7 * 86_400_000, true),
        ("d", 86_400_000, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ] {
        if exact && rest % len != 0 {
            continue;
        }
        if rest >= len {
            out.push_str(&format!("{}{unit}", rest / len));
            rest %= len;
        }
    }
    out
}

/// `ms` as Go's RFC 3339 (nano) in UTC: the fraction without trailing zeros, none when zero
/// (`2026-12-07T01:10:24.12Z`, `1970-01-01T00:00:00Z`).
fn rfc3339_ms(ms: i64) -> String {
    crate::time::rfc3339_utc(ms.div_euclid(1000), ms.rem_euclid(1000) as u32 * 1_000_000)
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_print_as_prometheus() {
        for (ms, want) in [
            (15 * 86_400_000, "15d"),
            (14 * 86_400_000, "2w"),
            (300_000, "5m"),
            (5_400_000, "1h30m"),
            (0, "0s"),
        ] {
            assert_eq!(super::format_duration_ms(ms), want);
        }
    }

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(super::rfc3339_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            super::rfc3339_ms(1_796_605_824_123),
            "2026-12-07T01:10:24.123Z"
        );
        assert_eq!(
            super::rfc3339_ms(1_796_605_824_120),
            "2026-12-07T01:10:24.12Z"
        );
    }
}
