//! The golden federate case format of `tests/data/federate/<case>/` (see its README.md):
//! `selectors.txt` parsing and timestamp re-basing of exposition text.
//!
//! Inputs and expected bodies carry timestamps near [`INPUT_BASE_MS`]; a capture or a
//! comparison shifts them to "now" and back with [`shift_timestamps`].

/// The timestamp base of every `input.prom` and `expected/*.txt`: 2023-11-14T22:13:20Z.
pub const INPUT_BASE_MS: i64 = 1_700_000_000_000;

/// Metric names of Prometheus's per-target synthetic series, dropped from golden bodies.
pub const SYNTHETIC_FAMILIES: &[&str] = &[
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// Line meaning "a request without any `match[]` parameter".
pub const NO_MATCH_LINE: &str = "<no-match>";
/// Element meaning "a `match[]` parameter with an empty value".
pub const EMPTY_ELEMENT: &str = "<empty>";
/// Separator of the `match[]` values of one request.
pub const SEPARATOR: &str = " && ";

/// Parses `selectors.txt`: one request per line (lines starting with `#` and empty lines are
/// skipped, nothing is trimmed); returns each request's `match[]` values in order.
pub fn parse_selectors(text: &str) -> Vec<Vec<String>> {
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            if l == NO_MATCH_LINE {
                Vec::new()
            } else {
                l.split(SEPARATOR)
                    .map(|e| {
                        if e == EMPTY_ELEMENT {
                            String::new()
                        } else {
                            e.to_string()
                        }
                    })
                    .collect()
            }
        })
        .collect()
}

/// Splits a sample line into `(series text, value, timestamp)`; `None` for comments, empty
/// lines and lines that do not scan (quoted label values may contain spaces and braces).
pub fn split_sample_line(line: &str) -> Option<(&str, &str, Option<&str>)> {
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() && !matches!(bytes[i], b'{' | b' ' | b'\t') {
        i += 1;
    }
    if i < bytes.len() && bytes[i] == b'{' {
        let mut in_str = false;
        let mut escaped = false;
        loop {
            i += 1;
            let b = *bytes.get(i)?;
            if in_str {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_str = false;
                }
            } else if b == b'"' {
                in_str = true;
            } else if b == b'}' {
                i += 1;
                break;
            }
        }
    }
    let (series, rest) = line.split_at(i);
    let mut parts = rest.split_ascii_whitespace();
    let value = parts.next()?;
    let ts = parts.next();
    if parts.next().is_some() {
        return None;
    }
    Some((series, value, ts))
}

/// Adds `delta_ms` to the timestamp of every sample line that has one; other lines are kept.
/// Fails on a timestamp that is not an integer.
pub fn shift_timestamps(text: &str, delta_ms: i64) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let body = line.strip_suffix('\n').unwrap_or(line);
        match split_sample_line(body) {
            Some((series, value, Some(ts))) => {
                let t: i64 = ts
                    .parse()
                    .map_err(|_| format!("line {}: bad timestamp {ts:?}", n + 1))?;
                out.push_str(&format!("{series} {value} {}", t + delta_ms));
                if line.ends_with('\n') {
                    out.push('\n');
                }
            }
            _ => out.push_str(line),
        }
    }
    Ok(out)
}

/// Removes the families named in [`SYNTHETIC_FAMILIES`] (their `# TYPE` line and samples)
/// from a federate body; returns the body and the number of sample lines removed.
pub fn drop_synthetic(body: &str) -> (String, usize) {
    let mut out = String::with_capacity(body.len());
    let mut dropped = 0;
    for line in body.split_inclusive('\n') {
        let name = match line.strip_prefix("# TYPE ") {
            Some(rest) => rest.split(' ').next().unwrap_or(""),
            None => split_sample_line(line.trim_end_matches('\n'))
                .map(|(s, _, _)| s.split('{').next().unwrap_or(s))
                .unwrap_or(""),
        };
        if SYNTHETIC_FAMILIES.contains(&name) {
            if !line.starts_with('#') {
                dropped += 1;
            }
        } else {
            out.push_str(line);
        }
    }
    (out, dropped)
}

/// The Prometheus configuration of a capture: `global` (a case's `config.yml`, possibly empty)
/// followed by one 1 s scrape job `job` of `target` (`host:port`) with `honor_labels: true` and
/// metric relabeling that removes the target's `job`/`instance` labels again where they were
/// added by the scrape, so the stored series are exactly the label sets of `input.prom`.
pub fn capture_config(global: &str, job: &str, target: &str) -> String {
    format!(
        "{global}\nscrape_configs:\n  - job_name: {job}\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    honor_labels: true\n    static_configs:\n      - targets: ['{target}']\n    metric_relabel_configs:\n      - source_labels: [job]\n        regex: '{job}'\n        target_label: job\n        replacement: ''\n      - source_labels: [instance]\n        regex: '{}'\n        target_label: instance\n        replacement: ''\n",
        target.replace('.', "\\.")
    )
}

/// Checks a case input: every sample line has a timestamp and no sample uses a name from
/// [`SYNTHETIC_FAMILIES`]; the error names the 1-based line.
pub fn validate_input(input: &str) -> Result<(), String> {
    for (n, line) in input.lines().enumerate() {
        if let Some((series, _, ts)) = split_sample_line(line) {
            if ts.is_none() {
                return Err(format!(
                    "input.prom line {}: sample without timestamp",
                    n + 1
                ));
            }
            let name = series.split('{').next().unwrap_or(series);
            if SYNTHETIC_FAMILIES.contains(&name) {
                return Err(format!("input.prom line {}: {name} is reserved", n + 1));
            }
        } else if !line.is_empty() && !line.starts_with('#') {
            return Err(format!(
                "input.prom line {}: does not scan: {line:?}",
                n + 1
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_selector_lines() {
        let text =
            "# comment\nup\n\n{a=\"b\"} && {c=~\".+\"}\n<no-match>\n<empty>\n \nfoo && <empty>\r\n";
        let want: Vec<Vec<String>> = vec![
            vec!["up".into()],
            vec!["{a=\"b\"}".into(), "{c=~\".+\"}".into()],
            vec![],
            vec!["".into()],
            vec![" ".into()],
            vec!["foo".into(), "".into()],
        ];
        assert_eq!(parse_selectors(text), want);
    }

    #[test]
    fn splits_sample_lines() {
        let cases = [
            ("m 1 2", Some(("m", "1", Some("2")))),
            ("m 1", Some(("m", "1", None))),
            (
                "m{a=\"x y} 3 4\"} 5 6",
                Some(("m{a=\"x y} 3 4\"}", "5", Some("6"))),
            ),
            (
                "m{a=\"q\\\"} 1\"} NaN 7",
                Some(("m{a=\"q\\\"} 1\"}", "NaN", Some("7"))),
            ),
            (
                "m{a=\"\\\\\"} -Inf 8",
                Some(("m{a=\"\\\\\"}", "-Inf", Some("8"))),
            ),
            ("# TYPE m untyped", None),
            ("", None),
            ("m{a=\"unterminated", None),
        ];
        for (line, want) in cases {
            assert_eq!(split_sample_line(line), want, "case {line:?}");
        }
    }

    #[test]
    fn shifts_only_timestamps() {
        let text = "# TYPE m untyped\nm{a=\"1 2\"} 123456789 1700000000000\nn 5 1699999999000\n";
        let shifted = shift_timestamps(text, 1000).unwrap();
        assert_eq!(
            shifted,
            "# TYPE m untyped\nm{a=\"1 2\"} 123456789 1700000001000\nn 5 1700000000000\n"
        );
        assert_eq!(shift_timestamps(&shifted, -1000).unwrap(), text);
        assert!(shift_timestamps("m 1 x\n", 1).is_err());
    }

    #[test]
    fn drops_synthetic_families() {
        let body = "# TYPE a untyped\na 1 2\n# TYPE up untyped\nup{job=\"x\"} 1 2\n# TYPE upx untyped\nupx 1 2\n";
        let (kept, n) = drop_synthetic(body);
        assert_eq!(
            kept,
            "# TYPE a untyped\na 1 2\n# TYPE upx untyped\nupx 1 2\n"
        );
        assert_eq!(n, 1);
    }

    #[test]
    fn validates_inputs() {
        let cases = [
            ("m 1 2\n# c\n\nn{a=\"b\"} 3 4\n", Ok(())),
            (
                "m 1 2\nn 3\n",
                Err("input.prom line 2: sample without timestamp"),
            ),
            (
                "up{a=\"b\"} 1 2\n",
                Err("input.prom line 1: up is reserved"),
            ),
            (
                "m{a=\"x 1 2\n",
                Err("input.prom line 1: does not scan: \"m{a=\\\"x 1 2\""),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                validate_input(input),
                want.map_err(str::to_string),
                "case {input:?}"
            );
        }
    }

    #[test]
    fn capture_config_relabels_target_labels_away() {
        let y = capture_config("global:\n  external_labels: {a: b}\n", "cap", "127.0.0.1:1");
        assert!(y.starts_with("global:\n  external_labels: {a: b}\n\nscrape_configs:\n"));
        assert!(y.contains("  - job_name: cap\n    scrape_interval: 1s\n"));
        assert!(y.contains("honor_labels: true"));
        assert!(y.contains("- targets: ['127.0.0.1:1']"));
        assert!(y.contains("regex: '127\\.0\\.0\\.1:1'"));
        assert!(y.contains("regex: 'cap'"));
    }
}
