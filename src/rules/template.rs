//! Alert label and annotation templates: Go `text/template` syntax (through the gtmpl crate)
//! with the data and functions Prometheus 2.42's `template/template.go` provides: `$labels`,
//! `$externalLabels`, `$externalURL`, `$value`, `humanize*`, `query`, `first`, `label`,
//! `value`, `reReplaceAll`, `title`, `toUpper`, ...
//!
//! gtmpl functions are plain `fn` pointers, so `query` reads the evaluation context (the
//! engine and the evaluation time) from a thread-local set around each expansion.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use gtmpl::{Context, Func, FuncError, Template, Value};

/// Runs an instant query at the evaluation time for the `query` template function:
/// `(labels, value)` per sample.
pub type QueryFn = Rc<dyn Fn(&str) -> Result<Vec<(BTreeMap<String, String>, f64)>, String>>;

thread_local! {
    static QUERY: RefCell<Option<QueryFn>> = const { RefCell::new(None) };
}

/// The variables every alert template starts with (Prometheus prepends the same defs).
const DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// What a template sees.
pub struct TemplateData<'a> {
    /// The alert's labels (`$labels`).
    pub labels: &'a BTreeMap<String, String>,
    /// `global.external_labels` (`$externalLabels`).
    pub external_labels: &'a BTreeMap<String, String>,
    /// `--web.external-url` (`$externalURL`).
    pub external_url: &'a str,
    /// The sample value (`$value`).
    pub value: f64,
}

fn template(rule: &str, text: &str) -> Result<Template, String> {
    let mut t = Template::with_name(format!("__alert_{rule}"));
    t.add_funcs(FUNCS);
    t.parse(format!("{DEFS}{text}"))
        .map_err(|e| format!("template: __alert_{rule}:{e}"))?;
    Ok(t)
}

/// Checks that `text` parses (`promtool check rules`, rule loading).
pub fn check(rule: &str, text: &str) -> Result<(), String> {
    template(rule, text).map(|_| ())
}

/// Expands `text` for alerting rule `rule`. On error the result is Prometheus's
/// `<error expanding template: ...>` text, as the rule manager stores it.
pub fn expand(rule: &str, text: &str, data: &TemplateData<'_>, query: Option<QueryFn>) -> String {
    let t = match template(rule, text) {
        Ok(t) => t,
        Err(e) => return format!("<error expanding template: {e}>"),
    };
    let map = |m: &BTreeMap<String, String>| {
        Value::Map(
            m.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect::<HashMap<_, _>>(),
        )
    };
    let mut dot = HashMap::new();
    dot.insert("Labels".to_owned(), map(data.labels));
    dot.insert("ExternalLabels".to_owned(), map(data.external_labels));
    dot.insert(
        "ExternalURL".to_owned(),
        Value::String(data.external_url.to_owned()),
    );
    dot.insert("Value".to_owned(), Value::from(data.value));
    QUERY.with(|q| *q.borrow_mut() = query);
    let out = t.render(&Context::from(Value::Object(dot)));
    QUERY.with(|q| *q.borrow_mut() = None);
    match out {
        // Prometheus expands with `missingkey=zero`: a missing label is "" (gtmpl prints Go's
        // default `<no value>`).
        Ok(s) => s.replace("<no value>", ""),
        Err(e) => format!("<error expanding template: template: __alert_{rule}: {e}>"),
    }
}

/// The functions Prometheus adds to templates (those that make sense without a web UI).
const FUNCS: &[(&str, Func)] = &[
    ("query", query),
    ("first", first),
    ("label", label),
    ("value", value),
    ("strvalue", strvalue),
    ("args", args),
    ("reReplaceAll", re_replace_all),
    ("safeHtml", identity),
    ("match", re_match),
    ("title", title),
    ("toUpper", to_upper),
    ("toLower", to_lower),
    ("sortByLabel", sort_by_label),
    ("stripPort", strip_port),
    ("stripDomain", strip_domain),
    ("humanize", humanize),
    ("humanize1024", humanize1024),
    ("humanizeDuration", humanize_duration),
    ("humanizePercentage", humanize_percentage),
    ("humanizeTimestamp", humanize_timestamp),
    ("toTime", to_time),
    ("parseDuration", parse_duration),
];

fn err(msg: impl Into<String>) -> FuncError {
    FuncError::Generic(msg.into())
}

fn arg<'a>(args: &'a [Value], i: usize, name: &str) -> Result<&'a Value, FuncError> {
    args.get(i)
        .ok_or_else(|| FuncError::ExactlyXArgs(name.to_owned(), i + 1))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => go_v(num(n)),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn num(n: &gtmpl_value::Number) -> f64 {
    n.as_f64()
        .or_else(|| n.as_i64().map(|i| i as f64))
        .or_else(|| n.as_u64().map(|u| u as f64))
        .unwrap_or(f64::NAN)
}

/// Prometheus's `convertToFloat`: numbers, and strings through `strconv.ParseFloat`.
fn float(v: &Value) -> Result<f64, FuncError> {
    match v {
        Value::Number(n) => Ok(num(n)),
        Value::String(s) => s
            .trim_start_matches('+')
            .parse::<f64>()
            .map_err(|_| err(format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"))),
        _ => Err(err("can't convert value to float")),
    }
}

fn sample_value(labels: &BTreeMap<String, String>, v: f64) -> Value {
    let mut m = HashMap::new();
    m.insert(
        "Labels".to_owned(),
        Value::Map(
            labels
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        ),
    );
    m.insert("Value".to_owned(), Value::from(v));
    Value::Object(m)
}

fn query(args: &[Value]) -> Result<Value, FuncError> {
    let q = text(arg(args, 0, "query")?);
    let f = QUERY
        .with(|c| c.borrow().clone())
        .ok_or_else(|| err("query is not available here"))?;
    let rows = f(&q).map_err(err)?;
    Ok(Value::Array(
        rows.iter().map(|(l, v)| sample_value(l, *v)).collect(),
    ))
}

fn first(args: &[Value]) -> Result<Value, FuncError> {
    match arg(args, 0, "first")? {
        Value::Array(a) if !a.is_empty() => Ok(a[0].clone()),
        _ => Err(err("first() called on vector with no elements")),
    }
}

fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) | Value::Map(m) => m.get(name),
        _ => None,
    }
}

fn label(args: &[Value]) -> Result<Value, FuncError> {
    let name = text(arg(args, 0, "label")?);
    let s = arg(args, 1, "label")?;
    Ok(field(s, "Labels")
        .and_then(|l| field(l, &name))
        .cloned()
        .unwrap_or_else(|| Value::String(String::new())))
}

fn value(args: &[Value]) -> Result<Value, FuncError> {
    Ok(field(arg(args, 0, "value")?, "Value")
        .cloned()
        .unwrap_or(Value::Nil))
}

fn strvalue(args: &[Value]) -> Result<Value, FuncError> {
    Ok(field(arg(args, 0, "strvalue")?, "Labels")
        .and_then(|l| field(l, "__value__"))
        .cloned()
        .unwrap_or_else(|| Value::String(String::new())))
}

fn args(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Map(
        args.iter()
            .enumerate()
            .map(|(i, a)| (format!("arg{i}"), a.clone()))
            .collect(),
    ))
}

fn go_regex(pattern: &str) -> Result<regex::Regex, FuncError> {
    regex::Regex::new(pattern).map_err(|e| err(format!("error parsing regexp: {e}")))
}

fn re_replace_all(args: &[Value]) -> Result<Value, FuncError> {
    let re = go_regex(&text(arg(args, 0, "reReplaceAll")?))?;
    let repl = text(arg(args, 1, "reReplaceAll")?);
    let s = text(arg(args, 2, "reReplaceAll")?);
    Ok(Value::String(
        re.replace_all(&s, repl.as_str()).into_owned(),
    ))
}

fn re_match(args: &[Value]) -> Result<Value, FuncError> {
    let re = go_regex(&text(arg(args, 0, "match")?))?;
    Ok(Value::Bool(re.is_match(&text(arg(args, 1, "match")?))))
}

fn identity(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(text(arg(args, 0, "safeHtml")?)))
}

/// Go's deprecated `strings.Title`: upper-cases the first letter of each word.
fn title(args: &[Value]) -> Result<Value, FuncError> {
    let s = text(arg(args, 0, "title")?);
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        let is_letter = c.is_alphanumeric() || c == '_' || c == '\'';
        if is_letter && !prev_letter {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = is_letter;
    }
    Ok(Value::String(out))
}

fn to_upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(text(arg(args, 0, "toUpper")?).to_uppercase()))
}

fn to_lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(text(arg(args, 0, "toLower")?).to_lowercase()))
}

fn sort_by_label(args: &[Value]) -> Result<Value, FuncError> {
    let name = text(arg(args, 0, "sortByLabel")?);
    let Value::Array(mut rows) = arg(args, 1, "sortByLabel")?.clone() else {
        return Err(err("sortByLabel needs a query result"));
    };
    let key = |v: &Value| {
        field(v, "Labels")
            .and_then(|l| field(l, &name))
            .map(text)
            .unwrap_or_default()
    };
    rows.sort_by_key(key);
    Ok(Value::Array(rows))
}

/// Go's `net.SplitHostPort`, enough for `host:port` and `[v6]:port`.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        return Some((host, port));
    }
    let (host, port) = s.rsplit_once(':')?;
    (!host.contains(':')).then_some((host, port))
}

fn strip_port(args: &[Value]) -> Result<Value, FuncError> {
    let s = text(arg(args, 0, "stripPort")?);
    Ok(Value::String(
        split_host_port(&s).map_or(s.clone(), |(h, _)| h.to_owned()),
    ))
}

fn strip_domain(args: &[Value]) -> Result<Value, FuncError> {
    let s = text(arg(args, 0, "stripDomain")?);
    let (host, port) = split_host_port(&s).unwrap_or((s.as_str(), ""));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(Value::String(s.clone()));
    }
    let short = host.split('.').next().unwrap_or_default();
    Ok(Value::String(if port.is_empty() {
        short.to_owned()
    } else if short.contains(':') {
        format!("[{short}]:{port}")
    } else {
        format!("{short}:{port}")
    }))
}

fn scaled(mut v: f64, up: &[&str], step: f64, down: &[&str], down_step: f64) -> String {
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in up {
            if v.abs() < step {
                break;
            }
            prefix = p;
            v /= step;
        }
    } else {
        for p in down {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= down_step;
        }
    }
    format!("{}{prefix}", go_g4(v))
}

const SI_UP: [&str; 8] = ["k", "M", "G", "T", "P", "E", "Z", "Y"];
const SI_DOWN: [&str; 8] = ["m", "u", "n", "p", "f", "a", "z", "y"];

fn humanize(args: &[Value]) -> Result<Value, FuncError> {
    let v = float(arg(args, 0, "humanize")?)?;
    if v == 0.0 || !v.is_finite() {
        return Ok(Value::String(go_g4(v)));
    }
    Ok(Value::String(scaled(v, &SI_UP, 1000.0, &SI_DOWN, 1000.0)))
}

fn humanize1024(args: &[Value]) -> Result<Value, FuncError> {
    let v = float(arg(args, 0, "humanize1024")?)?;
    if v.abs() <= 1.0 || !v.is_finite() {
        return Ok(Value::String(go_g4(v)));
    }
    let up = ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"];
    Ok(Value::String(scaled(v, &up, 1024.0, &[], 1.0)))
}

fn humanize_duration(args: &[Value]) -> Result<Value, FuncError> {
    let v = float(arg(args, 0, "humanizeDuration")?)?;
    if !v.is_finite() {
        return Ok(Value::String(go_g4(v)));
    }
    if v == 0.0 {
        return Ok(Value::String(format!("{}s", go_g4(v))));
    }
    if v.abs() >= 1.0 {
        let (sign, v) = if v < 0.0 { ("-", -v) } else { ("", v) };
        let d = v as i64;
        let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        return Ok(Value::String(if days != 0 {
            format!("{sign}{days}d {h}h {m}m {s}s")
        } else if h != 0 {
            format!("{sign}{h}h {m}m {s}s")
        } else if m != 0 {
            format!("{sign}{m}m {s}s")
        } else {
            format!("{sign}{}s", go_g4(v))
        }));
    }
    Ok(Value::String(format!(
        "{}s",
        scaled(v, &[], 1.0, &SI_DOWN, 1000.0)
    )))
}

fn humanize_percentage(args: &[Value]) -> Result<Value, FuncError> {
    let v = float(arg(args, 0, "humanizePercentage")?)?;
    Ok(Value::String(format!("{}%", go_g4(v * 100.0))))
}

fn humanize_timestamp(args: &[Value]) -> Result<Value, FuncError> {
    let v = float(arg(args, 0, "humanizeTimestamp")?)?;
    if !v.is_finite() {
        return Ok(Value::String(go_g4(v)));
    }
    Ok(Value::String(go_time_string(v)))
}

fn to_time(args: &[Value]) -> Result<Value, FuncError> {
    let v = float(arg(args, 0, "toTime")?)?;
    if !v.is_finite() {
        return Err(err("value is NaN or Inf"));
    }
    Ok(Value::String(go_time_string(v)))
}

fn parse_duration(args: &[Value]) -> Result<Value, FuncError> {
    let s = text(arg(args, 0, "parseDuration")?);
    let d = crate::config::Duration::parse(&s).map_err(|e| err(e.to_string()))?;
    Ok(Value::from(d.as_secs_f64()))
}

/// Go's `fmt.Sprint(time.Time)` in UTC: `2006-01-02 15:04:05.999999999 +0000 UTC`.
fn go_time_string(secs: f64) -> String {
    let whole = secs.floor();
    let nanos = ((secs - whole) * 1e9).round() as u32;
    let s = crate::time::rfc3339_utc(whole as i64, nanos);
    // rfc3339_utc gives `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
    let body = s.trim_end_matches('Z').replacen('T', " ", 1);
    format!("{body} +0000 UTC")
}

/// Go `fmt.Sprintf("%.4g", v)`.
pub fn go_g4(v: f64) -> String {
    go_g(v, 4)
}

/// Go `%.<prec>g`: shortest of `%e`/`%f` with `prec` significant digits, trailing zeros
/// dropped; `%e` when the exponent is < -4 or >= prec.
fn go_g(v: f64, prec: usize) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e = format!("{:.*e}", prec - 1, v);
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{v:.decimals$}")).to_owned()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Go `fmt.Sprint(float64)` (`%v`): shortest digits, `%e` when the exponent is < -4 or >= 21.
pub fn go_v(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return go_g(v, 1);
    }
    let e = format!("{v:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..21).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str, value: f64) -> String {
        let labels: BTreeMap<String, String> =
            [("instance".to_owned(), "web-1.example.com:9100".to_owned())].into();
        let ext = BTreeMap::from([("zone".to_owned(), "eu".to_owned())]);
        let data = TemplateData {
            labels: &labels,
            external_labels: &ext,
            external_url: "http://fed:9090",
            value,
        };
        expand("A", text, &data, None)
    }

    #[test]
    fn prometheus_examples() {
        let cases = [
            ("{{ 3661 | humanizeDuration }}", 0.0, "1h 1m 1s"),
            ("{{ 0.1234 | humanizePercentage }}", 0.0, "12.34%"),
            ("{{ 1048576 | humanize1024 }}", 0.0, "1Mi"),
            ("{{ 1234567 | humanize }}", 0.0, "1.235M"),
            ("{{ 0.0012 | humanize }}", 0.0, "1.2m"),
            ("{{ $value }}", 5.0, "5"),
            ("{{ $value }}", 0.25, "0.25"),
            ("{{ $labels.instance }}", 0.0, "web-1.example.com:9100"),
            (
                "{{ $externalLabels.zone }}/{{ $externalURL }}",
                0.0,
                "eu/http://fed:9090",
            ),
            (
                "{{ $labels.instance | stripPort }}",
                0.0,
                "web-1.example.com",
            ),
            ("{{ $labels.instance | stripDomain }}", 0.0, "web-1:9100"),
            (
                "{{ \"hello world\" | title }} {{ \"a\" | toUpper }}",
                0.0,
                "Hello World A",
            ),
            (
                "{{ reReplaceAll \"(.*):.*\" \"$1\" $labels.instance }}",
                0.0,
                "web-1.example.com",
            ),
            ("{{ 0.5 | humanizeDuration }}", 0.0, "500ms"),
            ("{{ 0 | humanizeDuration }}", 0.0, "0s"),
            ("{{ 90061 | humanizeDuration }}", 0.0, "1d 1h 1m 1s"),
            (
                "{{ 1 | humanizeTimestamp }}",
                0.0,
                "1970-01-01 00:00:01 +0000 UTC",
            ),
            ("{{ $labels.missing }}", 0.0, ""),
        ];
        for (text, value, want) in cases {
            assert_eq!(render(text, value), want, "{text}");
        }
    }

    #[test]
    fn go_number_formats() {
        let cases = [
            (1234567.0, "1.235e+06"),
            (1.0, "1"),
            (0.0001234, "0.0001234"),
            (0.00001234, "1.234e-05"),
            (1234.0, "1234"),
            (12345.0, "1.234e+04"),
        ];
        for (v, want) in cases {
            assert_eq!(go_g4(v), want, "{v}");
        }
        assert_eq!(go_v(123456789.0), "123456789");
        assert_eq!(go_v(0.00001), "1e-05");
    }

    #[test]
    fn parse_errors_are_reported() {
        assert!(check("A", "{{ .Labels").is_err());
        assert!(check("A", "{{ $labels.x }}").is_ok());
    }

    #[test]
    fn query_reads_the_thread_context() {
        let q: QueryFn = Rc::new(|q: &str| {
            assert_eq!(q, "sum(m)");
            Ok(vec![(BTreeMap::new(), 6.0)])
        });
        let labels = BTreeMap::new();
        let data = TemplateData {
            labels: &labels,
            external_labels: &labels,
            external_url: "",
            value: 0.0,
        };
        let out = expand(
            "A",
            "{{ query \"sum(m)\" | first | value }}",
            &data,
            Some(q),
        );
        assert_eq!(out, "6");
    }
}
