//! `/federate` differential test against a running Prometheus 2.42: every case under
//! `tests/data/federate/` plus a generated randomized case goes into a real Prometheus (scrape of
//! a fixture target served by the test) and into a fedstore `TestServer` (import), with the same
//! re-based timestamps; then both `/federate` answers (status, Content-Type, body) are compared
//! byte for byte for every request. Only the documented deviations are tolerated (see
//! `docs/` and `tests/data/federate/README.md`): no `match[]` is a 400 in fedstore, and series
//! order within a family may differ when a result holds label names sorting before `__name__`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use fedstore_tools::golden::{self, INPUT_BASE_MS};
use fedstore_tools::serve::{StaticBody, Targets};

use crate::prometheus::{self, Prometheus, federate_url};
use crate::support::{Answer, Options, TestServer, assert_text_eq, get, post, wall_ms};

/// Prometheus of case `i` listens on `PROM_PORT_BASE + i` (this file's range is 19800-19839).
const PROM_PORT_BASE: u16 = 19800;
/// The fixture target of case `i` listens on `TARGET_PORT_BASE + i`.
const TARGET_PORT_BASE: u16 = 19820;
/// Scrape job name of every case (its target labels are relabeled away, see `golden`).
const JOB: &str = "fedlive";
/// Seed of the randomized case unless `FEDSTORE_LIVEDIFF_SEED` is set.
const DEFAULT_SEED: u64 = 0x5eed_2042;

/// One differential case: an exposition with explicit timestamps near [`INPUT_BASE_MS`], a
/// `global:` config section, and the requests (`match[]` lists).
struct Case {
    name: String,
    input: String,
    config: String,
    requests: Vec<Vec<String>>,
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/federate")
}

fn golden_cases() -> Vec<Case> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("input.prom").exists())
        .collect();
    dirs.sort();
    dirs.iter()
        .map(|d| Case {
            name: d.file_name().unwrap().to_string_lossy().into_owned(),
            input: std::fs::read_to_string(d.join("input.prom")).unwrap(),
            config: std::fs::read_to_string(d.join("config.yml")).unwrap_or_default(),
            requests: golden::parse_selectors(
                &std::fs::read_to_string(d.join("selectors.txt")).unwrap(),
            ),
        })
        .collect()
}

fn external_labels(config: &str) -> Vec<(String, String)> {
    if config.is_empty() {
        return Vec::new();
    }
    fedstore::config::Config::parse(config, "config.yml")
        .unwrap()
        .external_labels()
        .to_vec()
}

/// A case with both servers loaded.
struct Running {
    case: Case,
    // Field order is drop order: Prometheus goes before its target.
    prom: Prometheus,
    _target: Targets,
    srv: TestServer,
}

/// One difference between Prometheus and fedstore.
struct Diff {
    case: String,
    request: usize,
    matches: Vec<String>,
    what: &'static str,
    prometheus: String,
    fedstore: String,
}

/// Outcome counters of a run.
#[derive(Default)]
struct Tally {
    identical: usize,
    /// Identical 200 answers with at least one sample line.
    nonempty: usize,
    /// Sample lines in identical 200 answers.
    samples: usize,
    /// Identical non-200 answers.
    errors: usize,
    no_match_deviation: usize,
    order_deviation: usize,
    /// Protobuf `Accept` answered with text (documented deviation).
    protobuf_deviation: usize,
    /// Error messages quoting invalid UTF-8: fedstore's are UTF-8, with U+FFFD (documented).
    utf8_deviation: usize,
    /// Raw `"`, `<`, `>` in the URL refused by the HTTP layer (documented).
    uri_deviation: usize,
    diffs: Vec<Diff>,
}

fn start_case(i: usize, case: Case, delta: i64) -> Running {
    golden::validate_input(&case.input).unwrap_or_else(|e| panic!("case {}: {e}", case.name));
    let shifted = golden::shift_timestamps(&case.input, delta).unwrap();
    let port = TARGET_PORT_BASE + u16::try_from(i).unwrap();
    let prom_port = PROM_PORT_BASE + u16::try_from(i).unwrap();
    prometheus::wait_port_free(port, 90);
    prometheus::wait_port_free(prom_port, 90);
    let target = Targets::start(Arc::new(StaticBody(shifted.clone().into_bytes())), port, 1)
        .unwrap_or_else(|e| panic!("case {}: fixture target: {e:#}", case.name));
    let yaml = golden::capture_config(&case.config, JOB, &format!("127.0.0.1:{port}"));
    let prom = Prometheus::spawn(prom_port, &yaml, &[]);
    let srv = TestServer::start_with(Options {
        external_labels: external_labels(&case.config),
        now_ms: Some(wall_ms()),
        ..Options::default()
    });
    let a = post(
        &format!("{}/api/v1/import/prometheus", srv.url()),
        "text/plain",
        shifted.as_bytes(),
    );
    assert_eq!(
        a.status,
        204,
        "case {}: import failed: {}",
        case.name,
        a.text()
    );
    Running {
        case,
        prom,
        _target: target,
        srv,
    }
}

/// The body as text; bodies that are not UTF-8 (error messages quoting raw bytes of a
/// selector) are shown with their bytes escaped, so that two of them compare exactly.
fn text(a: &Answer) -> String {
    match std::str::from_utf8(&a.body) {
        Ok(s) => s.to_owned(),
        Err(_) => format!("(not UTF-8) {}", a.body.escape_ascii()),
    }
}

/// Label names of a federate sample line (`name{a="..",b=".."} v t`), in written order.
fn label_names(line: &str) -> Vec<String> {
    let Some(open) = line.find('{') else {
        return Vec::new();
    };
    let b = line.as_bytes();
    let mut names = Vec::new();
    let mut i = open + 1;
    while i < b.len() && b[i] != b'}' {
        let start = i;
        while i < b.len() && b[i] != b'=' {
            i += 1;
        }
        names.push(line[start..i].to_owned());
        // `="`, then the escaped value up to the closing quote.
        i += 2;
        while i < b.len() && b[i] != b'"' {
            i += if b[i] == b'\\' { 2 } else { 1 };
        }
        i += 1;
        if i < b.len() && b[i] == b',' {
            i += 1;
        }
    }
    names
}

/// Whether a body holds a label name sorting before `__name__` (an uppercase first letter):
/// then Prometheus's order within a family is an artefact of Go's unstable sort (documented
/// deviation, `prometheus-behaviour.md` §1.4).
fn has_label_before_name(body: &str) -> bool {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(label_names)
        .any(|n| n.as_str() < "__name__")
}

/// The body as families (`# TYPE` line, sample lines sorted).
fn families_sorted(body: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in body.lines() {
        if line.starts_with("# TYPE ") {
            out.push((line.to_owned(), Vec::new()));
        } else if let Some(last) = out.last_mut() {
            last.1.push(line.to_owned());
        } else {
            out.push((String::new(), vec![line.to_owned()]));
        }
    }
    for f in &mut out {
        f.1.sort();
    }
    out
}

/// With `FEDSTORE_LIVEDIFF_DUMP=<dir>`, appends the input and every request with
/// Prometheus's answer to `<dir>/<case>.txt` (to inspect what was compared).
fn dump(r: &Running, n: usize, matches: &[String], prometheus: &str) {
    let Some(dir) = std::env::var_os("FEDSTORE_LIVEDIFF_DUMP") else {
        return;
    };
    let path = Path::new(&dir).join(format!("{}.txt", r.case.name));
    let mut out = if n == 1 {
        format!("=== input\n{}", r.case.input)
    } else {
        String::new()
    };
    let _ = writeln!(out, "=== request {n} {matches:?}\n{prometheus}");
    let mut old = std::fs::read_to_string(&path).unwrap_or_default();
    if n == 1 {
        old.clear();
    }
    std::fs::write(&path, old + &out).unwrap();
}

/// Runs request `n` against both servers and records the outcome.
fn compare(r: &Running, n: usize, matches: &[String], tally: &mut Tally) {
    r.srv.now_ms.store(wall_ms(), Ordering::SeqCst);
    let p = r.prom.federate(matches);
    let f = get(&federate_url(r.srv.url(), matches), &[]);
    let mut diff = |what: &'static str, prometheus: String, fedstore: String| {
        tally.diffs.push(Diff {
            case: r.case.name.clone(),
            request: n,
            matches: matches.to_vec(),
            what,
            prometheus,
            fedstore,
        });
    };
    if matches.is_empty() {
        // Documented deviation: Prometheus answers an empty 200, fedstore a 400 naming match[].
        let p_body = golden::drop_synthetic(&text(&p)).0;
        if p.status == 200 && p_body.is_empty() && f.status == 400 && text(&f).contains("match[]") {
            tally.no_match_deviation += 1;
        } else {
            diff(
                "no match[]",
                format!("{} {p_body:?}", p.status),
                format!("{} {:?}", f.status, text(&f)),
            );
        }
        return;
    }
    if p.status != f.status {
        diff(
            "status",
            format!("{} {:?}", p.status, text(&p)),
            format!("{} {:?}", f.status, text(&f)),
        );
        return;
    }
    if p.content_type != f.content_type {
        diff(
            "content-type",
            p.content_type.clone(),
            f.content_type.clone(),
        );
        return;
    }
    if p.status != 200 {
        dump(r, n, matches, &text(&p));
        if p.body == f.body {
            tally.identical += 1;
            tally.errors += 1;
        } else if std::str::from_utf8(&p.body).is_err()
            && String::from_utf8_lossy(&p.body) == String::from_utf8_lossy(&f.body)
        {
            tally.utf8_deviation += 1;
        } else {
            diff("error body", text(&p), text(&f));
        }
        return;
    }
    let (p_body, _) = golden::drop_synthetic(&text(&p));
    let f_body = text(&f);
    dump(r, n, matches, &p_body);
    if p_body == f_body {
        tally.identical += 1;
        let n = p_body.lines().filter(|l| !l.starts_with('#')).count();
        tally.nonempty += usize::from(n > 0);
        tally.samples += n;
    } else if has_label_before_name(&p_body) && families_sorted(&p_body) == families_sorted(&f_body)
    {
        tally.order_deviation += 1;
    } else {
        diff("body", p_body, f_body);
    }
}

/// Raw query strings (after `/federate?`) sent byte for byte to both servers of the `basic`
/// case: form decoding errors, non-UTF-8 bytes, NUL, `+`, `;`, encoded brackets, bare keys.
const RAW_QUERIES: &[&str] = &[
    "match[]=%7Ba%3D%22%FF%22%7D",
    "match[]=%7Ba%3D~%22%FF%22%7D",
    "match[]=%7Ba%3D%22%C3%22%7D",
    "match[]=%FF",
    "match[]=node_load1%FF",
    "match[]=node_load1%zz",
    "match[]=node_load1%",
    "match[]=node_load1;match[]=x",
    "match[]=node_load1&match[]=%",
    "match%5B%5D=node_load1",
    "match[]=node_load1+foo",
    "match[]=%2Bnode_load1",
    "match[]=node_load1&&match[]=%7Bjob%3D%22api%22%7D",
    "match[]",
    "match[]&match[]=node_load1",
    "=x&match[]=node_load1",
    "match[]=%00",
    "match[]=%7Bjob%3D%22%00%22%7D",
    "match[]=node_load1%0A",
    "match[]=%E2%80%A8node_load1",
    "match=node_load1",
    "match[]=node_load1&foo=%zz",
    "foo=%zz&match[]=node_load1",
    "match[]=node_load1&match[]=node_load1",
    "match[]=%7Bjob=%22api%22%7D",
    "match[]={job=\"node\"}",
    "match[]={job=~'node|x'}",
    "match[]=node_load1<",
    "match[]=node_load1>",
    "match[]=node_load1^",
    "match[]=node_load1`",
];

/// Request headers tried on the `basic` case's requests (compared decoded).
const HEADER_VARIANTS: &[(&str, &str)] = &[
    ("Accept-Encoding", "gzip"),
    ("Accept-Encoding", "deflate"),
    ("Accept-Encoding", "br, deflate;q=0.5, gzip"),
    ("Accept-Encoding", "gzip;q=1"),
    ("Accept-Encoding", " gzip , deflate"),
    ("Accept", "application/openmetrics-text; version=1.0.0"),
    ("Accept", "text/plain;version=0.0.5, */*;q=0.1"),
    (
        "Accept",
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
    ),
];

/// The body decoded per `Content-Encoding` (gzip, zlib "deflate") as curl and browsers do:
/// one gzip member, one zlib stream (Prometheus writes exactly one); as text.
fn decoded(a: &Answer) -> String {
    use std::io::Read as _;
    let mut out = Vec::new();
    match a.content_encoding.as_str() {
        "gzip" => {
            flate2::read::GzDecoder::new(&a.body[..])
                .read_to_end(&mut out)
                .unwrap();
        }
        "deflate" => {
            flate2::read::ZlibDecoder::new(&a.body[..])
                .read_to_end(&mut out)
                .unwrap();
        }
        _ => out.clone_from(&a.body),
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => format!("(not UTF-8) {}", e.as_bytes().escape_ascii()),
    }
}

/// `GET <path>` written verbatim on the wire (an HTTP library would refuse or re-encode some
/// of [`RAW_QUERIES`]).
fn raw_get(base: &str, path: &str) -> Answer {
    let addr = base.strip_prefix("http://").unwrap().parse().unwrap();
    let (resp, body) =
        fedstore_tools::http::get_body(addr, path, &[], std::time::Duration::from_secs(30))
            .unwrap();
    Answer {
        status: resp.status,
        content_type: resp.header("content-type").unwrap_or("").to_owned(),
        content_encoding: resp.header("content-encoding").unwrap_or("").to_owned(),
        body,
    }
}

/// Sends `/federate?<raw>` to both servers; compares status, Content-Type and body.
fn compare_raw(r: &Running, n: usize, raw: &str, tally: &mut Tally) {
    r.srv.now_ms.store(wall_ms(), Ordering::SeqCst);
    let p = raw_get(r.prom.url(), &format!("/federate?{raw}"));
    let f = raw_get(r.srv.url(), &format!("/federate?{raw}"));
    let (pt, ft) = (golden::drop_synthetic(&text(&p)).0, text(&f));
    let (want, got) = (
        format!("{} {} {pt}", p.status, p.content_type),
        format!("{} {} {ft}", f.status, f.content_type),
    );
    if want == got {
        tally.identical += 1;
        tally.errors += usize::from(p.status != 200);
    } else if p.status == 200 && pt.is_empty() && f.status == 400 && ft.contains("match[]") {
        // No `match[]` parameter (e.g. `match=`): the documented 400.
        tally.no_match_deviation += 1;
    } else if raw.contains(['"', '<', '>']) && f.status == 400 && ft.is_empty() {
        tally.uri_deviation += 1;
    } else if std::str::from_utf8(&p.body).is_err()
        && p.status == f.status
        && String::from_utf8_lossy(&p.body) == String::from_utf8_lossy(&f.body)
    {
        tally.utf8_deviation += 1;
    } else {
        tally.diffs.push(Diff {
            case: r.case.name.clone(),
            request: n,
            matches: vec![format!("raw query {raw}")],
            what: "raw query",
            prometheus: want,
            fedstore: got,
        });
    }
}

/// Sends request `matches` with one extra header to both servers; compares status,
/// Content-Type, Content-Encoding and the decoded body. Skips requests whose Prometheus
/// answer holds synthetic series (they cannot be dropped from a protobuf body).
fn compare_headers(r: &Running, n: usize, matches: &[String], tally: &mut Tally) {
    if matches.is_empty() || golden::drop_synthetic(&text(&r.prom.federate(matches))).1 > 0 {
        return;
    }
    let url_p = federate_url(r.prom.url(), matches);
    let url_f = federate_url(r.srv.url(), matches);
    for &(name, value) in HEADER_VARIANTS {
        r.srv.now_ms.store(wall_ms(), Ordering::SeqCst);
        let p = get(&url_p, &[(name, value)]);
        let f = get(&url_f, &[(name, value)]);
        let want = format!(
            "{} [{}] [{}] {}",
            p.status,
            p.content_type,
            p.content_encoding,
            decoded(&p)
        );
        let got = format!(
            "{} [{}] [{}] {}",
            f.status,
            f.content_type,
            f.content_encoding,
            decoded(&f)
        );
        if want == got {
            tally.identical += 1;
        } else if value.contains("vnd.google.protobuf")
            && p.content_type.contains("vnd.google.protobuf")
            && f.content_type == "text/plain; version=0.0.4; charset=utf-8"
            && decoded(&f) == text(&get(&url_f, &[]))
        {
            // Documented: fedstore answers protobuf requests with the text format.
            tally.protobuf_deviation += 1;
        } else {
            tally.diffs.push(Diff {
                case: r.case.name.clone(),
                request: n,
                matches: matches.to_vec(),
                what: if name == "Accept" {
                    "with Accept header"
                } else {
                    "with Accept-Encoding header"
                },
                prometheus: format!("{name}: {value} -> {want}"),
                fedstore: got,
            });
        }
    }
}

/// Runs every case against live Prometheus processes (one per case, in parallel).
fn run_live(test: &str, cases: Vec<Case>) -> Tally {
    let started = Instant::now();
    // Whole seconds keep re-based timestamps readable; 5 s before now as in the goldens.
    let now = wall_ms() / 1000 * 1000;
    let delta = now - 5000 - INPUT_BASE_MS;
    let mut running: Vec<Running> = cases
        .into_iter()
        .enumerate()
        .map(|(i, c)| start_case(i, c, delta))
        .collect();
    for r in &mut running {
        r.prom.wait_ready(20);
    }
    // Prometheus's scrape manager applies targets on a 5 s tick: the first scrape comes late.
    for r in &mut running {
        r.prom.wait_scraped(JOB, 30);
    }
    let loaded = started.elapsed();
    let mut tally = Tally::default();
    let mut requests = 0;
    for r in &running {
        for (i, matches) in r.case.requests.iter().enumerate() {
            compare(r, i + 1, matches, &mut tally);
            requests += 1;
            if r.case.name == "basic" {
                compare_headers(r, i + 1, matches, &mut tally);
                requests += HEADER_VARIANTS.len();
            }
        }
        if r.case.name == "basic" {
            for (i, raw) in RAW_QUERIES.iter().enumerate() {
                compare_raw(r, i + 1, raw, &mut tally);
                requests += 1;
            }
        }
    }
    eprintln!(
        "{test}: {} cases, {requests} requests: {} identical ({} with samples, {} sample lines, \
         {} errors), {} no-match[] deviations, {} order deviations, {} protobuf deviations, {} \
         utf-8 message deviations, {} raw-URI deviations, {} differences (loaded in {:.1}s, \
         total {:.1}s)",
        running.len(),
        tally.identical,
        tally.nonempty,
        tally.samples,
        tally.errors,
        tally.no_match_deviation,
        tally.order_deviation,
        tally.protobuf_deviation,
        tally.utf8_deviation,
        tally.uri_deviation,
        tally.diffs.len(),
        loaded.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    tally
}

/// Fails listing every difference (each with both outputs).
#[track_caller]
fn assert_no_diffs(tally: &Tally) {
    if tally.diffs.is_empty() {
        return;
    }
    let mut msg = format!(
        "{} differences between Prometheus 2.42 and fedstore:\n",
        tally.diffs.len()
    );
    for d in &tally.diffs {
        let _ = writeln!(
            msg,
            "--- case {} request {} {:?}: {}\n  prometheus: {}\n  fedstore:   {}",
            d.case,
            d.request,
            d.matches,
            d.what,
            clip(&d.prometheus),
            clip(&d.fedstore)
        );
    }
    panic!("{msg}");
}

fn clip(s: &str) -> String {
    const MAX: usize = 1500;
    if s.len() <= MAX {
        return format!("{s:?}");
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}... ({} bytes)", &s[..end], s.len())
}

#[test]
fn federate_matches_live_prometheus() {
    const TEST: &str = "federate_matches_live_prometheus";
    if !prometheus::installed(TEST) {
        return;
    }
    let seed = std::env::var("FEDSTORE_LIVEDIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    eprintln!("{TEST}: randomized case seed {seed} (set FEDSTORE_LIVEDIFF_SEED to change)");
    let mut cases = golden_cases();
    assert!(cases.len() >= 5, "golden cases missing");
    cases.push(random::case(
        seed,
        "global:\n  external_labels:\n    zone: ie\n    a: \"ext\\\"q\"\n",
    ));
    cases.push(random::case(
        seed.wrapping_add(1),
        "global:\n  external_labels:\n    instance: \"ext ü\"\n    _x: \"\\\\\"\n",
    ));
    let tally = run_live(TEST, cases);
    assert!(
        tally.identical > 200,
        "too few comparisons: {}",
        tally.identical
    );
    assert_no_diffs(&tally);
}

// ---------------------------------------------------------------------------------------
// Differences found by the live test, as tests that need no Prometheus

/// Selectors whose regex is not UTF-8 after unquoting, with Prometheus 2.42's exact 400 body:
/// Go's regexp error quotes the pattern's raw bytes from the first invalid one (anchors
/// included), not U+FFFD replacements. Captured from `/usr/bin/prometheus` 2.42.0+ds.
const REGEX_NOT_UTF8: &[(&str, &[u8])] = &[
    (
        "{a=~\"\\xff\"}",
        b"1:2: parse error: error parsing regexp: invalid UTF-8: `\xff)$`\n",
    ),
    (
        "{a=~\"x\\xc3\"}",
        b"1:2: parse error: error parsing regexp: invalid UTF-8: `\xc3)$`\n",
    ),
    (
        "{a=~\"\\xff|\\u00fc\"}",
        b"1:2: parse error: error parsing regexp: invalid UTF-8: `\xff|\xc3\xbc)$`\n",
    ),
    (
        "{a=~\"(\\xff\"}",
        b"1:2: parse error: error parsing regexp: invalid UTF-8: `\xff)$`\n",
    ),
];

/// Found by `federate_matches_live_prometheus` (seed 11): fedstore writes U+FFFD where
/// Prometheus writes the raw bytes of a non-UTF-8 regex in its 400 body.
#[test]
fn federate_regex_error_quotes_raw_bytes_like_prometheus() {
    // Documented deviation (docs/api.md): Prometheus echoes the raw invalid bytes of the
    // regex in its message; fedstore's messages are UTF-8, so each invalid byte is U+FFFD.
    // Everything else of the message is Prometheus's, byte for byte.
    let srv = TestServer::start();
    for (sel, want) in REGEX_NOT_UTF8 {
        let a = get(&federate_url(srv.url(), &[(*sel).to_owned()]), &[]);
        assert_eq!(a.status, 400, "{sel}");
        assert_eq!(
            String::from_utf8_lossy(&a.body),
            String::from_utf8_lossy(want),
            "{sel}: 400 body differs from Prometheus 2.42's (with invalid bytes as U+FFFD)"
        );
    }
}

/// A fedstore with a few families (enough for a multi-chunk streamed body).
fn small_server() -> TestServer {
    let srv = TestServer::start();
    let now = srv.now_ms.load(Ordering::SeqCst);
    let mut body = String::new();
    for f in 0..20 {
        for s in 0..5 {
            let _ = writeln!(body, "fam_{f}{{s=\"{s}\"}} {f}.{s} {}", now - 1000);
        }
    }
    let a = post(
        &format!("{}/api/v1/import/prometheus", srv.url()),
        "text/plain",
        body.as_bytes(),
    );
    assert_eq!(a.status, 204, "{}", a.text());
    srv
}

/// Found by `federate_matches_live_prometheus` (`basic` with `Accept-Encoding: deflate`):
/// fedstore's deflate body was a series of zlib streams; a zlib stream has no successor, so
/// clients (Go `compress/zlib`, Python `zlib`, curl) read only the first one, here just
/// `# TYPE fam_0 untyped`. `curl --compressed` sends `deflate, gzip, br, zstd` and gets
/// deflate. Prometheus 2.42 writes one zlib stream. Fixed by b6bf678.
#[test]
fn federate_deflate_body_is_one_zlib_stream() {
    use std::io::Read as _;
    let srv = small_server();
    let m = ["{__name__=~\"fam_.*\"}".to_owned()];
    let plain = get(&federate_url(srv.url(), &m), &[]);
    assert_eq!(plain.status, 200);
    let a = get(
        &federate_url(srv.url(), &m),
        &[("Accept-Encoding", "deflate")],
    );
    assert_eq!((a.status, a.content_encoding.as_str()), (200, "deflate"));
    let mut d = flate2::read::ZlibDecoder::new(&a.body[..]);
    let mut out = Vec::new();
    d.read_to_end(&mut out).unwrap();
    let used = d.total_in() as usize;
    assert_eq!(
        (
            String::from_utf8_lossy(&out).into_owned(),
            a.body.len() - used
        ),
        (plain.text(), 0),
        "first zlib stream (and bytes left after it)"
    );
}

/// Found with the same comparison: the gzip body was several gzip members. Valid gzip, and
/// Go's reader (Prometheus scraping) reads them all, but curl stops after the first member
/// (`curl --compressed -H 'Accept-Encoding: gzip'` printed `# TYPE fam_0 untyped` and exited
/// 23). Prometheus 2.42 writes one member. Fixed by b6bf678.
#[test]
fn federate_gzip_body_is_one_gzip_member() {
    use std::io::Read as _;
    let srv = small_server();
    let m = ["{__name__=~\"fam_.*\"}".to_owned()];
    let plain = get(&federate_url(srv.url(), &m), &[]);
    let a = get(&federate_url(srv.url(), &m), &[("Accept-Encoding", "gzip")]);
    assert_eq!((a.status, a.content_encoding.as_str()), (200, "gzip"));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&a.body[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_text_eq(
        &String::from_utf8_lossy(&out),
        &plain.text(),
        "first gzip member",
    );
}

/// Found by the raw queries of `federate_matches_live_prometheus`: a raw `"`, `<` or `>` in
/// the request target (`curl -g 'http://h/federate?match[]={job="node"}'`) is served by
/// Prometheus (Go's server takes the bytes as they are) but refused by fedstore's HTTP layer
/// with an empty 400 before the handler runs.
#[test]
fn federate_accepts_raw_quotes_in_request_target() {
    // Documented deviation (docs/api.md): the HTTP layer refuses raw `"`, `<` and `>` in the
    // request target (RFC 3986); Prometheus's Go server tolerates them. The same requests
    // percent-encoded get Prometheus 2.42's answers (captured by the live test).
    let srv = small_server();
    let a = raw_get(srv.url(), "/federate?match[]={s=\"1\",__name__=\"fam_0\"}");
    assert_eq!(a.status, 400, "{:?}", text(&a));
    let a = raw_get(
        srv.url(),
        "/federate?match[]={s=%221%22,__name__=%22fam_0%22}",
    );
    assert_eq!(a.status, 200, "{:?}", text(&a));
    assert!(
        text(&a).contains("fam_0{s=\"1\",instance=\"\"} 0.1 "),
        "{}",
        text(&a)
    );
    for (raw, want) in [
        (
            "/federate?match[]=fam_0%3C",
            "1:6: parse error: unexpected <op:<>\n",
        ),
        (
            "/federate?match[]=fam_0%3E",
            "1:6: parse error: unexpected <op:>>\n",
        ),
    ] {
        let a = raw_get(srv.url(), raw);
        assert_eq!((a.status, text(&a)), (400, want.to_owned()), "{raw}");
    }
}

// ---------------------------------------------------------------------------------------
// The randomized case

mod random {
    //! A generated case: a few hundred series with awkward names, values and special floats,
    //! and selectors built from the data (equality, regex prefixes, alternations, `.*x`,
    //! negations, empty values, string escapes, overlapping unions, truncated selectors).

    use std::collections::BTreeSet;

    use fedstore_tools::golden::INPUT_BASE_MS;

    use super::{Case, REGEX_NOT_UTF8};

    /// SplitMix64: small, seedable, good enough for test data.
    pub(super) struct Rng(u64);

    impl Rng {
        pub(super) fn new(seed: u64) -> Rng {
            Rng(seed)
        }

        pub(super) fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        pub(super) fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        pub(super) fn chance(&mut self, pct: usize) -> bool {
            self.below(100) < pct
        }

        pub(super) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
            &xs[self.below(xs.len())]
        }
    }

    /// Metric names: keywords, `:`, leading `_`, an uppercase family.
    const NAMES: &[&str] = &[
        "live_a",
        "live_b_total",
        "live:rate5m",
        "_live_under",
        "Live_Upper",
        "sum",
        "le",
        "live_c",
    ];
    /// Label names (lowercase: no effect on Prometheus's family-internal order).
    const LABEL_NAMES: &[&str] = &[
        "a",
        "b",
        "job",
        "instance",
        "le",
        "zone",
        "_x",
        "long_label_name_1",
    ];
    /// Uppercase label names, used on some `live_c` series only (a family not sorting first, so
    /// that Go's unstable sort in Prometheus has work to do).
    const UPPER_LABEL_NAMES: &[&str] = &["A", "Zed"];
    /// Characters label values are drawn from.
    const VALUE_CHARS: &[&str] = &[
        "a", "b", "x", "A", "\"", "\\", "\n", "{", "}", "=", ",", " ", "\t", "ü", "日", "✓", "#",
        ".", "*", "+", "(", ")", "|", "^", "$", "[", "]", "?", "'", "`", "𝄞", "é", "-", "/", ":",
        "0", "9", "K", "ſ", "ß", "S", "k", "Σ", "ς",
    ];
    /// Values shared by many series so that selectors match groups.
    const COMMON_VALUES: &[&str] = &[
        "x",
        "a\"b",
        "back\\slash",
        "new\nline",
        "",
        "ü",
        "{}=,",
        "x.y",
        "A",
        "a",
        "日本",
    ];
    /// Sample values as written in the exposition (Go `ParseFloat` spellings).
    const SPECIAL_FLOATS: &[&str] = &[
        "NaN",
        "nan",
        "+Inf",
        "-Inf",
        "Inf",
        "-inf",
        "-0",
        "0",
        "1",
        "-1",
        "5e-324",
        "1.7976931348623157e+308",
        "2.2250738585072014e-308",
        "1e21",
        "1e+06",
        "999999",
        "123456789",
        "0.1",
        "1e-05",
        "0.0001",
        "9007199254740993",
        ".5",
        "+7",
        "1E3",
        "-1.5e-7",
        "100000",
    ];
    /// Exotic regexes (RE2 syntax beyond the basics), sent as they are.
    const EXOTIC_REGEXES: &[&str] = &[
        r"\Qx.y\E",
        r"\pL+",
        r"[[:alpha:]]+",
        r"\d+",
        r"(?s:.*)",
        r"(?s).+",
        r"x{1}",
        r"x*?",
        r"\x{fc}",
        r"[^\n]*",
        r"(?i)X",
        r"(?U)a+",
        r"\C",
        r"a++",
        r"\b",
        r"x|",
        r"(?P<n>x)",
        r"\z",
        r".{2}",
        r"[[:^alpha:]]+",
        r"\pN+",
        r"\p{Greek}",
        r"\PL*",
        r"[a-]+",
        r"[]a]+",
        r"a{,3}",
        r"x{1001}",
        r"x{2}{3}",
        r"**",
        r"(?<n>x)",
        r"(x)\1",
        r"(?=x)",
        r"[z-a]",
        r"\8",
        r"\Qx",
        r"(?i)k",
        r"(?i)s+",
        r"(?i)ß",
        r"[\d\-x]+",
        r"\x41",
        r"(?m)^x$",
        r"\A\z",
        r"[^\x00-\x7f]+",
        r"\",
        r"(",
        r"a)",
        r"[[:word:]]",
        r"[[:foo:]]",
        r"(?z)x",
    ];

    /// A generated series: metric name and non-empty labels, as written in the input.
    struct Series {
        name: String,
        labels: Vec<(String, String)>,
    }

    fn value(rng: &mut Rng) -> String {
        if rng.chance(40) {
            return (*rng.pick(COMMON_VALUES)).to_owned();
        }
        let len = 1 + rng.below(8);
        (0..len).map(|_| *rng.pick(VALUE_CHARS)).collect()
    }

    fn float(rng: &mut Rng) -> String {
        match rng.below(4) {
            0 | 1 => (*rng.pick(SPECIAL_FLOATS)).to_owned(),
            2 => {
                let f = f64::from_bits(rng.next());
                if f.is_finite() {
                    format!("{f:e}")
                } else {
                    "42".to_owned()
                }
            }
            _ => format!("{}", rng.next() as i64 % 1_000_000_000),
        }
    }

    /// Exposition escaping of a label value (`\`, `"`, newline).
    fn expo_escape(v: &str) -> String {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    }

    /// A PromQL string literal for `s` in a random style (double, single, raw) with random
    /// equivalent escapes (`\x`, octal, `\u`, `\U`, UTF-8 bytes as `\x`).
    fn promql_str(rng: &mut Rng, s: &str) -> String {
        let style = rng.below(10);
        if style == 0 && !s.contains('`') {
            return format!("`{s}`");
        }
        let quote = if style <= 2 { '\'' } else { '"' };
        let mut out = String::new();
        out.push(quote);
        for c in s.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' if rng.chance(50) => out.push_str("\\t"),
                c if c == quote => {
                    out.push('\\');
                    out.push(c);
                }
                c if c.is_ascii_alphanumeric() && rng.chance(5) => {
                    let _ =
                        std::fmt::Write::write_fmt(&mut out, format_args!("\\x{:02x}", c as u32));
                }
                c if c.is_ascii_alphanumeric() && rng.chance(5) => {
                    let _ =
                        std::fmt::Write::write_fmt(&mut out, format_args!("\\{:03o}", c as u32));
                }
                c if !c.is_ascii() && rng.chance(30) => {
                    let code = c as u32;
                    match rng.below(3) {
                        0 if code <= 0xffff => {
                            let _ =
                                std::fmt::Write::write_fmt(&mut out, format_args!("\\u{code:04x}"));
                        }
                        1 => {
                            let _ =
                                std::fmt::Write::write_fmt(&mut out, format_args!("\\U{code:08X}"));
                        }
                        _ => {
                            let mut buf = [0u8; 4];
                            for b in c.encode_utf8(&mut buf).bytes() {
                                let _ = std::fmt::Write::write_fmt(
                                    &mut out,
                                    format_args!("\\x{b:02x}"),
                                );
                            }
                        }
                    }
                }
                c => out.push(c),
            }
        }
        out.push(quote);
        out
    }

    /// Escapes RE2 metacharacters.
    fn re_escape(s: &str) -> String {
        let mut out = String::new();
        for c in s.chars() {
            if "\\.+*?()|[]{}^$".contains(c) {
                out.push('\\');
            }
            out.push(c);
        }
        out
    }

    fn prefix(rng: &mut Rng, s: &str) -> String {
        let n = s.chars().count();
        s.chars().take(1 + rng.below(n.max(1))).collect()
    }

    fn generate_series(rng: &mut Rng, count: usize) -> Vec<Series> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        while out.len() < count {
            let name = (*rng.pick(NAMES)).to_owned();
            let mut labels: Vec<(String, String)> = Vec::new();
            let mut pool: Vec<&str> = LABEL_NAMES.to_vec();
            for _ in 0..rng.below(5) {
                let l = pool.remove(rng.below(pool.len()));
                labels.push((l.to_owned(), value(rng)));
            }
            if name == "live_c" && rng.chance(6) {
                let l = *rng.pick(UPPER_LABEL_NAMES);
                labels.push((l.to_owned(), format!("up{}", rng.below(4))));
            }
            let mut key: Vec<(String, String)> = labels
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .cloned()
                .collect();
            key.sort();
            if seen.insert((name.clone(), key)) {
                out.push(Series { name, labels });
            }
        }
        out
    }

    fn input(rng: &mut Rng, series: &[Series]) -> String {
        let mut out = String::new();
        for s in series {
            out.push_str(&s.name);
            // Empty braces sometimes, labels in generation (unsorted) order.
            if !s.labels.is_empty() || rng.chance(10) {
                out.push('{');
                let parts: Vec<String> = s
                    .labels
                    .iter()
                    .map(|(l, v)| format!("{l}=\"{}\"", expo_escape(v)))
                    .collect();
                out.push_str(&parts.join(","));
                out.push('}');
            }
            // Mostly inside the 5 m lookback (with a margin for the test's own duration),
            // a few well outside it.
            let age = if rng.chance(6) {
                400_000 + rng.below(300_000)
            } else {
                rng.below(180_000)
            };
            out.push_str(&format!(" {} {}\n", float(rng), INPUT_BASE_MS - age as i64));
        }
        out
    }

    /// One matcher-based selector built from the data.
    fn selector(rng: &mut Rng, series: &[Series]) -> String {
        let s = rng.pick(series);
        let labelled: Vec<&(String, String)> =
            s.labels.iter().filter(|(_, v)| !v.is_empty()).collect();
        let name_part = |rng: &mut Rng| -> String {
            match rng.below(3) {
                0 => s.name.clone(),
                1 => String::new(),
                _ => format!("{{__name__={}}}", promql_str(rng, &s.name)),
            }
        };
        if labelled.is_empty() || rng.chance(10) {
            return match rng.below(6) {
                0 => s.name.clone(),
                1 => {
                    let re = format!("{}.*", re_escape(&prefix(rng, &s.name)));
                    format!("{{__name__=~{}}}", promql_str(rng, &re))
                }
                2 => format!("{{__name__=~\"(?i){}\"}}", s.name.to_uppercase()),
                3 => "{__name__!~\"live_.*\",__name__=~\".+\"}".to_owned(),
                4 => "no_such_metric".to_owned(),
                _ => format!("{}{{}}", s.name),
            };
        }
        let (l, v) = *rng.pick(&labelled);
        let other = {
            let t = rng.pick(series);
            t.labels
                .iter()
                .find(|(n, _)| n == l)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| value(rng))
        };
        let (op, pattern): (&str, String) = match rng.below(17) {
            0 | 1 => ("=", v.clone()),
            2 => ("!=", v.clone()),
            3 => ("=~", re_escape(v)),
            4 | 5 => ("=~", format!("{}.*", re_escape(&prefix(rng, v)))),
            6 => {
                let last = v.chars().last().map(String::from).unwrap_or_default();
                ("=~", format!(".*{}", re_escape(&last)))
            }
            7 | 8 => ("=~", format!("{}|{}", re_escape(v), re_escape(&other))),
            9 => ("!~", format!("{}.*", re_escape(&prefix(rng, v)))),
            10 => (*rng.pick(&["=", "=~"]), String::new()),
            11 => ("!=", String::new()),
            12 => (
                *rng.pick(&["=~", "!~"]),
                rng.pick(&[".*", ".+"]).to_string(),
            ),
            // `.` per character: newline (not matched by `.` in 2.42) and non-ASCII chars.
            13 => ("=~", ".".repeat(v.chars().count())),
            14 => ("=~", format!("(?i){}", re_escape(&v.to_uppercase()))),
            15 => ("=~", ".*[{}\"\\\\\\n].*".to_owned()),
            _ => (
                *rng.pick(&["=~", "!~"]),
                (*rng.pick(EXOTIC_REGEXES)).to_owned(),
            ),
        };
        let m = format!("{l}{op}{}", promql_str(rng, &pattern));
        let n = name_part(rng);
        if let Some(inner) = n.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
            if rng.chance(50) {
                format!("{{{m},{inner}}}")
            } else {
                format!("{{{inner},{m}}}")
            }
        } else if rng.chance(10) {
            format!("{n}{{ {m} , }}")
        } else {
            format!("{n}{{{m}}}")
        }
    }

    fn requests(rng: &mut Rng, series: &[Series], count: usize) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = vec![
            vec!["{__name__=~\".+\"}".to_owned()],
            vec![String::new()],
            Vec::new(),
        ];
        // Regexes that are not UTF-8 once unquoted (see the regression test below).
        out.extend(
            REGEX_NOT_UTF8
                .iter()
                .map(|(sel, _)| vec![(*sel).to_owned()]),
        );
        while out.len() < count {
            let r = match rng.below(10) {
                // Unions: overlap comes from the shared values and from name + name{..}.
                0..=2 => {
                    let first = selector(rng, series);
                    let mut v = vec![first.clone()];
                    for _ in 0..1 + rng.below(2) {
                        v.push(if rng.chance(30) {
                            first.clone()
                        } else {
                            selector(rng, series)
                        });
                    }
                    v
                }
                // A selector cut short, or with a stray character: parse errors.
                3 | 4 => {
                    let s = selector(rng, series);
                    let chars: Vec<char> = s.chars().collect();
                    let cut = rng.below(chars.len());
                    let mut bad: String = chars[..cut].iter().collect();
                    if rng.chance(40) {
                        bad.push(
                            *rng.pick(&['}', '{', '"', '=', '!', '~', ',', '(', '@', 'ü', '\n']),
                        );
                        bad.extend(chars[cut..].iter());
                    }
                    vec![bad]
                }
                _ => vec![selector(rng, series)],
            };
            out.push(r);
        }
        out
    }

    /// The randomized case for `seed`, with `config` (a `global:` section).
    pub(super) fn case(seed: u64, config: &str) -> Case {
        let mut rng = Rng::new(seed);
        let series = generate_series(&mut rng, 300);
        let input = input(&mut rng, &series);
        let requests = requests(&mut rng, &series, 400);
        Case {
            name: format!("random(seed={seed})"),
            input,
            config: config.to_owned(),
            requests,
        }
    }
}
