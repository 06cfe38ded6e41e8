//! Asking two servers the same query and comparing the answers as the API defines them:
//! labels and timestamps equal, values within 1e-9 relative (NaN equals NaN), errors with the
//! same `errorType` and text; instant vectors as sets unless the outermost function defines an
//! order (`sort`, `sort_desc`, `topk`, `bottomk`), matrices in order (sorted by labels).

use std::fmt::Write as _;
use std::io::Read as _;

use serde_json::Value;

use super::corpus::Query;

/// How a query is run.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// `GET /api/v1/query?time=<ms>`.
    Instant(i64),
    /// `POST /api/v1/query_range` (form) with start, end and step in ms.
    Range(i64, i64, i64),
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mode::Instant(t) => write!(f, "instant time={}", secs(*t)),
            Mode::Range(s, e, st) => {
                write!(
                    f,
                    "range start={} end={} step={}",
                    secs(*s),
                    secs(*e),
                    secs(*st)
                )
            }
        }
    }
}

fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// A labelled series of an answer: labels sorted by name, points as `(ms, value text)`.
type Row = (Vec<(String, String)>, Vec<(i64, String)>);

/// An answer reduced to what is compared.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// `status: success`.
    Ok {
        /// `resultType`.
        kind: String,
        /// Series (a scalar or string is one row without labels).
        rows: Vec<Row>,
    },
    /// `status: error`.
    Err {
        /// HTTP status code.
        status: u16,
        /// `errorType`.
        error_type: String,
        /// `error`.
        error: String,
    },
    /// Not a Prometheus API answer at all.
    Broken(String),
}

/// A client for one server's query API.
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client for `base` (`http://127.0.0.1:port`).
    pub fn new(base: &str) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(60)))
            .build()
            .into();
        Client {
            base: base.to_owned(),
            agent,
        }
    }

    /// Runs `expr` in `mode`.
    pub fn run(&self, expr: &str, mode: Mode) -> Outcome {
        let enc = crate::support::enc;
        let resp = match mode {
            Mode::Instant(t) => self
                .agent
                .get(&format!(
                    "{}/api/v1/query?query={}&time={}",
                    self.base,
                    enc(expr),
                    secs(t)
                ))
                .call(),
            Mode::Range(s, e, st) => {
                let form = format!(
                    "query={}&start={}&end={}&step={}",
                    enc(expr),
                    secs(s),
                    secs(e),
                    secs(st)
                );
                self.agent
                    .post(&format!("{}/api/v1/query_range", self.base))
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .send(form.as_bytes())
            }
        };
        let resp = match resp {
            Ok(r) => r,
            Err(e) => return Outcome::Broken(format!("request failed: {e}")),
        };
        let status = resp.status().as_u16();
        let mut body = String::new();
        if let Err(e) = resp.into_body().into_reader().read_to_string(&mut body) {
            return Outcome::Broken(format!("reading body: {e}"));
        }
        parse(status, &body)
    }
}

/// Reduces an API answer to an [`Outcome`].
pub fn parse(status: u16, body: &str) -> Outcome {
    let v: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return Outcome::Broken(format!("HTTP {status}, not JSON ({e}): {body:.200}")),
    };
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    if v["status"] == "error" {
        return Outcome::Err {
            status,
            error_type: text(&v["errorType"]),
            error: text(&v["error"]),
        };
    }
    if v["status"] != "success" {
        return Outcome::Broken(format!("HTTP {status}, no status: {body:.200}"));
    }
    let kind = text(&v["data"]["resultType"]);
    let result = &v["data"]["result"];
    let point = |p: &Value| -> Option<(i64, String)> {
        let t = p.get(0)?.as_f64()?;
        Some(((t * 1000.0).round() as i64, p.get(1)?.as_str()?.to_owned()))
    };
    let labels = |m: &Value| -> Vec<(String, String)> {
        let mut l: Vec<(String, String)> = m
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), text(v))).collect())
            .unwrap_or_default();
        l.sort();
        l
    };
    let rows = match kind.as_str() {
        "scalar" | "string" => match point(result) {
            Some(p) => vec![(Vec::new(), vec![p])],
            None => return Outcome::Broken(format!("bad {kind}: {result}")),
        },
        "vector" => result
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| {
                        (
                            labels(&s["metric"]),
                            point(&s["value"]).into_iter().collect(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        "matrix" => result
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| {
                        let pts = s["values"]
                            .as_array()
                            .map(|p| p.iter().filter_map(point).collect())
                            .unwrap_or_default();
                        (labels(&s["metric"]), pts)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        other => return Outcome::Broken(format!("unknown resultType {other:?}")),
    };
    Outcome::Ok { kind, rows }
}

/// Whether two value texts are the same number: equal, both NaN, or within 1e-9 relative.
pub fn same_value(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let num = |s: &str| -> Option<f64> {
        match s {
            "NaN" => Some(f64::NAN),
            "+Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            _ => s.parse().ok(),
        }
    };
    match (num(a), num(b)) {
        (Some(x), Some(y)) if x.is_nan() && y.is_nan() => true,
        (Some(x), Some(y)) if x == y => true,
        (Some(x), Some(y)) if x.is_finite() && y.is_finite() => {
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
        }
        _ => false,
    }
}

/// The outermost function call of `expr` if the whole text is one call (`sort(...)`).
fn outer_call(expr: &str) -> Option<&str> {
    let e = expr.trim();
    let open = e.find('(')?;
    let name = e[..open].trim();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    // The parenthesis opened after the name must close at the very end.
    let (mut depth, mut quote): (i32, Option<char>) = (0, None);
    let mut escaped = false;
    for (i, c) in e.char_indices().skip_while(|(i, _)| *i < open) {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return (i == e.len() - 1).then_some(name);
                }
            }
            _ => {}
        }
    }
    None
}

/// Compares the answers of the reference `want` and the server under test `got`; `None` when
/// they agree, else a block describing the first difference with context.
pub fn diff(
    q: &Query,
    mode: Mode,
    want: &Outcome,
    got: &Outcome,
    names: (&str, &str),
) -> Option<String> {
    let (wn, gn) = names;
    let head = |what: &str| {
        format!(
            "--- {} [{}] {mode}\n    {}\n    {what}\n",
            q.origin, q.expr, ""
        )
        .replace("\n    \n", "\n")
    };
    match (want, got) {
        (Outcome::Broken(e), _) => Some(head(&format!("{wn} answered no API response: {e}"))),
        (_, Outcome::Broken(e)) => Some(head(&format!("{gn} answered no API response: {e}"))),
        (Outcome::Ok { .. }, _) if q.must_fail => Some(head(&format!(
            "the corpus marks this as an error case but {wn} answered it"
        ))),
        (
            Outcome::Err {
                status: ws,
                error_type: wt,
                error: we,
            },
            Outcome::Err {
                status: gs,
                error_type: gt,
                error: ge,
            },
        ) => {
            if ws != gs || wt != gt || (!q.loose_error_text && stable_error(we) != stable_error(ge))
            {
                Some(head(&format!(
                    "errors differ\n      {wn}: {ws} {wt}: {we}\n      {gn}: {gs} {gt}: {ge}"
                )))
            } else {
                None
            }
        }
        (
            Outcome::Err {
                status,
                error_type,
                error,
            },
            Outcome::Ok { kind, rows },
        ) => Some(head(&format!(
            "{wn} failed ({status} {error_type}: {error}) but {gn} answered a {kind} of {} series",
            rows.len()
        ))),
        (
            Outcome::Ok { kind, rows },
            Outcome::Err {
                status,
                error_type,
                error,
            },
        ) => Some(head(&format!(
            "{wn} answered a {kind} of {} series but {gn} failed ({status} {error_type}: {error})",
            rows.len()
        ))),
        (Outcome::Ok { kind: wk, rows: wr }, Outcome::Ok { kind: gk, rows: gr }) => {
            if wk != gk {
                return Some(head(&format!("result types differ: {wn} {wk}, {gn} {gk}")));
            }
            let ordered = match mode {
                Mode::Range(..) => Order::Labels,
                Mode::Instant(_) => match outer_call(&q.expr) {
                    Some("sort" | "sort_desc" | "topk" | "bottomk") => Order::Values,
                    _ => Order::None,
                },
            };
            if let Some(d) = order_diff(wr, gr, ordered, names) {
                return Some(head(&d));
            }
            if q.expr.contains("topk") || q.expr.contains("bottomk") {
                // Which of several equal values topk/bottomk keep is not defined (Prometheus
                // picks differently from run to run): compare the values per timestamp only.
                return values_diff(wr, gr, names).map(|d| head(&d));
            }
            rows_diff(wr, gr, ordered, names).map(|d| head(&d))
        }
    }
}

/// What order of rows is defined.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    /// Rows in label order (range queries): compare in order.
    Labels,
    /// Values in order (ties may swap labels): compare the value sequence, then as sets.
    Values,
    /// No defined order: compare as sets.
    None,
}

fn label_text(l: &[(String, String)]) -> String {
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// An error text without the parts Prometheus fills from Go map iteration order (the match
/// group and the duplicate series of a many-to-many matching error differ from run to run).
fn stable_error(e: &str) -> String {
    let mut s = e.to_owned();
    for (from, to) in [("for the match group ", " on the "), ("operation: [", "];")] {
        if let Some(a) = s.find(from) {
            let start = a + from.len();
            if let Some(b) = s[start..].find(to) {
                s.replace_range(start..start + b, "<...>");
            }
        }
    }
    s
}

/// All `(timestamp, value)` points of `rows`, sorted, compared as multisets.
fn values_diff(want: &[Row], got: &[Row], names: (&str, &str)) -> Option<String> {
    let flat = |r: &[Row]| -> Vec<(i64, f64)> {
        let mut v: Vec<(i64, f64)> = r
            .iter()
            .flat_map(|(_, p)| {
                p.iter()
                    .map(|(t, x)| (*t, x.parse::<f64>().unwrap_or(f64::NAN)))
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        v
    };
    let (w, g) = (flat(want), flat(got));
    let bad = (0..w.len().max(g.len())).find(|&i| match (w.get(i), g.get(i)) {
        (Some(a), Some(b)) => a.0 != b.0 || !same_value(&a.1.to_string(), &b.1.to_string()),
        _ => true,
    })?;
    Some(format!(
        "values differ (compared per timestamp, labels ignored: ties) at {bad}: {} {:?}, {} {:?} ({} vs {} points)",
        names.0,
        w.get(bad),
        names.1,
        g.get(bad),
        w.len(),
        g.len()
    ))
}

/// The value order of a result whose order is defined by value (sort, topk).
fn order_diff(want: &[Row], got: &[Row], order: Order, names: (&str, &str)) -> Option<String> {
    let (wn, gn) = names;
    let mut out = String::new();
    if order == Order::Values {
        let vals = |r: &[Row]| -> Vec<String> {
            r.iter()
                .map(|(_, p)| p.first().map_or(String::new(), |x| x.1.clone()))
                .collect()
        };
        let (wv, gv) = (vals(want), vals(got));
        if let Some(i) = (0..wv.len().min(gv.len())).find(|&i| !same_value(&wv[i], &gv[i])) {
            let _ = write!(
                out,
                "value order differs at position {i}: {wn} {} ({}), {gn} {} ({})",
                wv[i],
                label_text(&want[i].0),
                gv[i],
                label_text(&got[i].0)
            );
            return Some(out);
        }
    }
    None
}

fn rows_diff(want: &[Row], got: &[Row], order: Order, names: (&str, &str)) -> Option<String> {
    let (wn, gn) = names;
    let mut out = String::new();
    let (mut w, mut g) = (want.to_vec(), got.to_vec());
    if order != Order::Labels {
        w.sort_by(|a, b| a.0.cmp(&b.0));
        g.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let wl: Vec<&Vec<(String, String)>> = w.iter().map(|r| &r.0).collect();
    let gl: Vec<&Vec<(String, String)>> = g.iter().map(|r| &r.0).collect();
    if wl != gl {
        let only_w: Vec<String> = wl
            .iter()
            .filter(|l| !gl.contains(l))
            .take(3)
            .map(|l| label_text(l))
            .collect();
        let only_g: Vec<String> = gl
            .iter()
            .filter(|l| !wl.contains(l))
            .take(3)
            .map(|l| label_text(l))
            .collect();
        if only_w.is_empty() && only_g.is_empty() {
            let i = wl.iter().zip(&gl).position(|(a, b)| a != b).unwrap_or(0);
            let _ = write!(
                out,
                "series order differs at position {i}: {wn} {}, {gn} {}",
                label_text(wl[i]),
                label_text(gl[i])
            );
        } else {
            let _ = write!(
                out,
                "series differ ({wn} {}, {gn} {})\n      only in {wn}: {}\n      only in {gn}: {}",
                wl.len(),
                gl.len(),
                only_w.join(" "),
                only_g.join(" ")
            );
        }
        return Some(out);
    }
    for ((labels, wp), (_, gp)) in w.iter().zip(&g) {
        let n = wp.len().max(gp.len());
        let bad = (0..n).find(|&i| match (wp.get(i), gp.get(i)) {
            (Some(a), Some(b)) => a.0 != b.0 || !same_value(&a.1, &b.1),
            _ => true,
        });
        if let Some(i) = bad {
            let ctx = |p: &[(i64, String)]| -> String {
                let from = i.saturating_sub(2);
                let to = (i + 3).min(p.len());
                p.get(from..to)
                    .unwrap_or_default()
                    .iter()
                    .map(|(t, v)| format!("{}@{}", v, secs(*t)))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let _ = write!(
                out,
                "series {} differs at point {i} ({wn} {} points, {gn} {})\n      {wn}: ..{}..\n      {gn}: ..{}..",
                label_text(labels),
                wp.len(),
                gp.len(),
                ctx(wp),
                ctx(gp)
            );
            return Some(out);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(expr: &str) -> Query {
        Query {
            expr: expr.into(),
            origin: "t".into(),
            must_fail: false,
            loose_error_text: false,
        }
    }

    #[test]
    fn map_order_parts_of_errors_are_ignored() {
        let a = "found duplicate series for the match group {job=\"api\"} on the right hand-side of the operation: [{a=\"1\"}, {a=\"2\"}];many-to-many matching not allowed";
        let b = "found duplicate series for the match group {job=\"web\"} on the right hand-side of the operation: [{a=\"3\"}];many-to-many matching not allowed";
        assert_eq!(stable_error(a), stable_error(b));
        assert_ne!(stable_error(a), stable_error(&b.replace("right", "left")));
    }

    #[test]
    fn values_compare_with_tolerance_and_nan() {
        assert!(same_value("NaN", "NaN"));
        assert!(same_value("1", "1.0000000000001"));
        assert!(!same_value("1", "1.00001"));
        assert!(same_value("+Inf", "+Inf"));
        assert!(!same_value("+Inf", "-Inf"));
        assert!(!same_value("NaN", "1"));
        assert!(same_value("0", "-0"));
    }

    #[test]
    fn outer_call_sees_whole_calls_only() {
        assert_eq!(outer_call("sort(x)"), Some("sort"));
        assert_eq!(outer_call(" topk(3, rate(x[5m])) "), Some("topk"));
        assert_eq!(outer_call("sort(x) + sort(y)"), None);
        assert_eq!(outer_call("sort(x{a=\")\"})"), Some("sort"));
        assert_eq!(outer_call("{a=\"b\"}"), None);
    }

    #[test]
    fn vectors_compare_as_sets_and_sorted_ones_in_order() {
        let a = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"a":"1"},"value":[10,"1"]},{"metric":{"a":"2"},"value":[10,"2"]}]}}"#;
        let b = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"a":"2"},"value":[10,"2"]},{"metric":{"a":"1"},"value":[10,"1"]}]}}"#;
        let (a, b) = (parse(200, a), parse(200, b));
        let names = ("prometheus", "fedstore");
        assert!(diff(&q("x"), Mode::Instant(10_000), &a, &b, names).is_none());
        let d = diff(&q("sort(x)"), Mode::Instant(10_000), &a, &b, names).unwrap();
        assert!(d.contains("value order differs at position 0"), "{d}");
    }

    #[test]
    fn differences_are_found_and_described() {
        let a = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"a":"1"},"values":[[10,"1"],[20,"2"],[30,"NaN"]]}]}}"#;
        let b = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"a":"1"},"values":[[10,"1"],[20,"2.5"],[30,"NaN"]]}]}}"#;
        let c = r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        let names = ("prometheus", "fedstore");
        let mode = Mode::Range(10_000, 30_000, 10_000);
        let (a, b, c) = (parse(200, a), parse(200, b), parse(400, c));
        assert!(diff(&q("x"), mode, &a, &a, names).is_none());
        let d = diff(&q("x"), mode, &a, &b, names).unwrap();
        assert!(
            d.contains("differs at point 1") && d.contains("2.5@20.000"),
            "{d}"
        );
        let d = diff(&q("x"), mode, &a, &c, names).unwrap();
        assert!(
            d.contains("fedstore failed (400 bad_data: parse error)"),
            "{d}"
        );
        assert!(diff(&q("x"), mode, &c, &c, names).is_none());
        let mut must = q("x");
        must.must_fail = true;
        assert!(diff(&must, mode, &a, &a, names).is_some());
    }
}
