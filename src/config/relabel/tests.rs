//! Relabel tests: every action, Prometheus's validation messages, Go template expansion, hashmod.

use super::*;

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}

fn parse(yaml: &str) -> Result<Vec<RelabelConfig>, String> {
    serde_yaml_ng::from_str::<Vec<RelabelConfig>>(yaml).map_err(|e| e.to_string())
}

/// (name, config YAML, input, expected output or None for dropped)
type ProcessCase = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<&'static [(&'static str, &'static str)]>,
);

#[test]
fn process_table() {
    let abc: &[(&str, &str)] = &[("a", "foo"), ("b", "bar"), ("c", "baz")];
    let cases: &[ProcessCase] = &[
        (
            "replace with braces",
            "- {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch${1}-ch${1}'}",
            abc,
            Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")]),
        ),
        (
            "chained replaces see earlier output",
            "- {source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: a, replacement: 'b${1}${2}m'}\n- {source_labels: [c, a], regex: '(b).*b(.*)ba(.*)', target_label: d, replacement: '$1$2$2$3'}",
            abc,
            Some(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")]),
        ),
        (
            "drop stops processing",
            "- {source_labels: [a], regex: '.*o.*', action: drop}\n- {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch$1-ch$1'}",
            &[("a", "foo")],
            None,
        ),
        (
            "replace takes the group inside a greedy match",
            "- {source_labels: [a], regex: '.*(b).*', target_label: d}",
            &[("a", "abc")],
            Some(&[("a", "abc"), ("d", "b")]),
        ),
        (
            "drop without match",
            "- {source_labels: [a], regex: no-match, action: drop}",
            &[("a", "foo")],
            Some(&[("a", "foo")]),
        ),
        (
            "regex is anchored",
            "- {source_labels: [a], regex: 'f|o', action: drop}",
            &[("a", "foo")],
            Some(&[("a", "foo")]),
        ),
        (
            "keep without match",
            "- {source_labels: [a], regex: no-match, action: keep}",
            &[("a", "foo")],
            None,
        ),
        (
            "keep with match",
            "- {source_labels: [a], regex: 'f.*', action: keep}",
            &[("a", "foo")],
            Some(&[("a", "foo")]),
        ),
        (
            "no replacement without match",
            "- {source_labels: [a], regex: f, target_label: b, replacement: bar}",
            &[("a", "boo")],
            Some(&[("a", "boo")]),
        ),
        (
            "missing source label joins as empty",
            "- {source_labels: [a, zz, b], target_label: j, replacement: '[$1]'}",
            abc,
            Some(&[
                ("a", "foo"),
                ("b", "bar"),
                ("c", "baz"),
                ("j", "[foo;;bar]"),
            ]),
        ),
        (
            "custom separator",
            "- {source_labels: [a, b], separator: '-', target_label: j}",
            abc,
            Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("j", "foo-bar")]),
        ),
        (
            "empty replacement deletes the target",
            "- {source_labels: [a], regex: '(.*)', target_label: b, replacement: ''}",
            abc,
            Some(&[("a", "foo"), ("c", "baz")]),
        ),
        (
            "target label from a group",
            "- {source_labels: [a], regex: 'f(o+)', target_label: 'x_${1}', replacement: 'v'}",
            abc,
            Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("x_oo", "v")]),
        ),
        (
            "invalid expanded target deletes the raw target_label",
            "- {source_labels: [a], regex: '(.*)', target_label: '$1', replacement: 'v'}",
            &[("a", "1bad"), ("$1", "x")],
            Some(&[("a", "1bad")]),
        ),
        (
            "named groups and $$",
            "- {source_labels: [a], regex: '(?P<first>f)(?P<rest>.*)', target_label: n, replacement: '${rest}$$${first}'}",
            abc,
            Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("n", "oo$f")]),
        ),
        (
            "$1x names a missing group",
            "- {source_labels: [a], regex: '(f)oo', target_label: n, replacement: '$1x-${1}x'}",
            abc,
            Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("n", "-fx")]),
        ),
        (
            "unset default replace copies the value",
            "- {source_labels: [c], target_label: c2}",
            abc,
            Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("c2", "baz")]),
        ),
        (
            "static replacement with no source labels",
            "- {target_label: cluster, replacement: dev-us}",
            &[("a", "foo")],
            Some(&[("a", "foo"), ("cluster", "dev-us")]),
        ),
        (
            "hashmod of c",
            "- {source_labels: [c], target_label: d, action: hashmod, modulus: 1000}",
            abc,
            Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "976")]),
        ),
        (
            "hashmod with a newline",
            "- {source_labels: [a], target_label: b, action: hashmod, modulus: 1000}",
            &[("a", "foo\nbar")],
            Some(&[("a", "foo\nbar"), ("b", "734")]),
        ),
        (
            "labelmap copies matching names",
            "- {regex: 'b(.*)', action: labelmap, replacement: 'x_$1'}",
            &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            Some(&[
                ("a", "foo"),
                ("b1", "bar"),
                ("b2", "baz"),
                ("x_1", "bar"),
                ("x_2", "baz"),
            ]),
        ),
        (
            "labelmap of meta labels overwrites",
            "- {regex: '__meta_(.+)', action: labelmap}",
            &[("__meta_my_name", "aaa"), ("my_name", "old")],
            Some(&[("__meta_my_name", "aaa"), ("my_name", "aaa")]),
        ),
        (
            "labelmap reads the step's input only",
            "- {regex: '(a|b)', action: labelmap, replacement: 'c'}",
            &[("a", "1"), ("b", "2")],
            Some(&[("a", "1"), ("b", "2"), ("c", "2")]),
        ),
        (
            "labeldrop",
            "- {regex: 'b.*', action: labeldrop}",
            &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            Some(&[("a", "foo")]),
        ),
        (
            "labelkeep",
            "- {regex: 'b.*', action: labelkeep}",
            &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            Some(&[("b1", "bar"), ("b2", "baz")]),
        ),
        (
            "lowercase",
            "- {source_labels: [a, b], target_label: l, action: lowercase}",
            &[("a", "FoO"), ("b", "ÄBC")],
            Some(&[("a", "FoO"), ("b", "ÄBC"), ("l", "foo;äbc")]),
        ),
        (
            "uppercase",
            "- {source_labels: [a], target_label: a, action: uppercase}",
            &[("a", "foo")],
            Some(&[("a", "FOO")]),
        ),
        (
            "lowercase of nothing deletes",
            "- {source_labels: [zz], target_label: a, action: lowercase}",
            &[("a", "foo")],
            Some(&[]),
        ),
        (
            "keepequal keeps",
            "- {source_labels: [a], target_label: b, action: keepequal}",
            &[("a", "x"), ("b", "x")],
            Some(&[("a", "x"), ("b", "x")]),
        ),
        (
            "keepequal drops",
            "- {source_labels: [a], target_label: b, action: keepequal}",
            &[("a", "x"), ("b", "y")],
            None,
        ),
        (
            "dropequal drops",
            "- {source_labels: [a], target_label: b, action: dropequal}",
            &[("a", "x"), ("b", "x")],
            None,
        ),
        (
            "dropequal keeps; missing target equals an empty join",
            "- {source_labels: [a], target_label: zz, action: DropEqual}",
            &[("a", "x")],
            Some(&[("a", "x")]),
        ),
        (
            "dropequal with both missing drops",
            "- {source_labels: [yy], target_label: zz, action: dropequal}",
            &[("a", "x")],
            None,
        ),
        (
            "dot does not match a newline",
            "- {source_labels: [a], regex: '.*', action: keep}",
            &[("a", "foo\nbar")],
            None,
        ),
        (
            "case-insensitive action name",
            "- {source_labels: [a], regex: foo, action: DROP}",
            &[("a", "foo")],
            None,
        ),
        (
            "\\d is ASCII-only as in Go",
            "- {source_labels: [a], regex: '\\d+', action: keep}",
            &[("a", "١٢")],
            None,
        ),
        (
            "Go-only \\Q..\\E quoting",
            "- {source_labels: [a], regex: '\\Qa.b\\E', action: drop}",
            &[("a", "a.b")],
            None,
        ),
        (
            "explicit null regex matches only the empty string",
            "- {source_labels: [zz], regex: , action: keep}",
            &[("a", "foo")],
            Some(&[("a", "foo")]),
        ),
        (
            "regex: ~ is the empty regex too",
            "- {source_labels: [a], regex: ~, action: keep}",
            &[("a", "foo")],
            None,
        ),
    ];
    for (name, yaml, input, want) in cases {
        let cfgs = parse(yaml).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut got = labels(input);
        let kept = process(&cfgs, &mut got);
        match want {
            Some(out) => {
                assert!(kept, "{name}: dropped");
                assert_eq!(got, labels(out), "{name}");
            }
            None => {
                assert!(!kept, "{name}: kept {got:?}");
                assert!(got.is_empty(), "{name}");
            }
        }
    }
}

#[test]
fn prometheus_sharding_pipeline() {
    // The Loki/Kubernetes pipeline from Prometheus's relabel_test.go, in our own words.
    let yaml = "
- {source_labels: [__meta_kubernetes_pod_container_name], target_label: container}
- {source_labels: [__meta_kubernetes_pod_name, __meta_kubernetes_pod_container_port_name], separator: ':', target_label: instance}
- {target_label: cluster, replacement: dev-us-central-0}
- {source_labels: [__meta_kubernetes_namespace], regex: hosted-grafana, action: drop}
- {source_labels: [__address__], target_label: __tmp_hash, modulus: 3, action: hashmod}
- {source_labels: [__tmp_hash], regex: '^0$', action: keep}
- {regex: __tmp_hash, action: labeldrop}
";
    let cfgs = parse(yaml).expect("valid");
    let mut got = labels(&[
        ("__address__", "10.132.183.40:80"),
        ("__meta_kubernetes_namespace", "loki"),
        ("__meta_kubernetes_pod_container_name", "promtail"),
        ("__meta_kubernetes_pod_container_port_name", "http-metrics"),
        ("__meta_kubernetes_pod_name", "promtail-jgtr7"),
        ("job", "kubernetes-pods"),
    ]);
    let want_kept = hashmod("10.132.183.40:80", 3) == 0;
    assert_eq!(process(&cfgs, &mut got), want_kept);
    if want_kept {
        assert_eq!(get(&got, "instance"), "promtail-jgtr7:http-metrics");
        assert_eq!(get(&got, "__tmp_hash"), "");
    }
}

#[test]
fn hashmod_known_values() {
    // md5("baz") = 73feffa4b7f6bb68e44cf984c85f6e88; last 8 bytes e44cf984c85f6e88.
    let cases: &[(&str, u64, u64)] = &[
        ("baz", 1000, 976),
        ("foo\nbar", 1000, 734),
        ("baz", u64::MAX, 0xe44c_f984_c85f_6e88),
        ("baz", 1 << 32, 0xc85f_6e88),
        ("", 1 << 63, 0x6980_0998_ecf8_427e),
        ("", 1000, 958),
    ];
    for (value, modulus, want) in cases {
        assert_eq!(hashmod(value, *modulus), *want, "{value:?} mod {modulus}");
    }
}

#[test]
fn validation_messages() {
    let cases: &[(&str, &str)] = &[
        (
            "- {action: hashmod, target_label: a}",
            "relabel configuration for hashmod requires non-zero modulus",
        ),
        (
            "- {action: replace}",
            "relabel configuration for replace action requires 'target_label' value",
        ),
        (
            "- {action: lowercase}",
            "relabel configuration for lowercase action requires 'target_label' value",
        ),
        (
            "- {action: keepequal}",
            "relabel configuration for keepequal action requires 'target_label' value",
        ),
        (
            "- {target_label: '1a'}",
            "\"1a\" is invalid 'target_label' for replace action",
        ),
        (
            "- {target_label: 'a-b', action: uppercase}",
            "\"a-b\" is invalid 'target_label' for uppercase action",
        ),
        (
            "- {target_label: a, action: lowercase, replacement: x}",
            "'replacement' can not be set for lowercase action",
        ),
        (
            "- {action: labelmap, replacement: 'a-$1'}",
            "\"a-$1\" is invalid 'replacement' for labelmap action",
        ),
        (
            "- {action: hashmod, modulus: 2, target_label: '${1}'}",
            "\"${1}\" is invalid 'target_label' for hashmod action",
        ),
        (
            "- {action: keepequal, target_label: a, regex: '(.*)'}",
            "keepequal action requires only 'source_labels' and `target_label`, and no other fields",
        ),
        (
            "- {action: dropequal, target_label: a, separator: ','}",
            "dropequal action requires only 'source_labels' and `target_label`, and no other fields",
        ),
        (
            "- {action: labeldrop, regex: a, source_labels: []}",
            "labeldrop action requires only 'regex', and no other fields",
        ),
        (
            "- {action: labelkeep, regex: a, target_label: b}",
            "labelkeep action requires only 'regex', and no other fields",
        ),
        (
            "- {action: frobnicate}",
            "unknown relabel action \"frobnicate\"",
        ),
        ("- {action: }", "relabel action cannot be empty"),
        ("- {action: ~}", "relabel action cannot be empty"),
        ("- {action: ''}", "relabel action cannot be empty"),
        (
            "- {regex: '(', target_label: a}",
            "error parsing regexp: missing closing ): `^(?:()$`",
        ),
        (
            "- {regex: 'a)|(b', target_label: a}",
            "error parsing regexp: unexpected ): `a)|(b`",
        ),
        (
            "- {regex: 'a**', target_label: a}",
            "error parsing regexp: invalid nested repetition operator: `**`",
        ),
        ("- {target_label: a, bogus: 1}", "unknown field `bogus`"),
    ];
    for (yaml, want) in cases {
        let err = parse(yaml).expect_err(yaml);
        assert!(err.contains(want), "{yaml}\n  got:  {err}\n  want: {want}");
    }
}

#[test]
fn valid_configs() {
    let cases = [
        "- {target_label: '${1}_x', regex: '(a)', source_labels: [a]}",
        "- {target_label: 'a$1', action: replace}",
        "- {action: keepequal, target_label: a, separator: ';', replacement: '$1'}",
        "- {action: labeldrop, regex: 'a|b'}",
        "- {action: labelmap, regex: '__meta_(.+)'}",
        "- {action: hashmod, modulus: 8, target_label: __tmp_hash}",
        "- {action: keep}",
    ];
    for yaml in cases {
        parse(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
    }
}

#[test]
fn defaults() {
    let cfgs = parse("- {target_label: a}").expect("valid");
    let c = &cfgs[0];
    assert_eq!(c.action, Action::Replace);
    assert_eq!(c.separator, ";");
    assert_eq!(c.regex.as_str(), "(.*)");
    assert_eq!(c.replacement, "$1");
    assert_eq!(c.modulus, 0);
    assert!(c.source_labels.is_empty());
}

#[test]
fn go_template_expansion() {
    let re = Regexp::new("(?P<x>a)(b)?(c)").expect("valid");
    let caps = re.captures("ac").expect("matches");
    let cases = [
        ("$1", "a"),
        ("${1}", "a"),
        ("$x", "a"),
        ("${x}", "a"),
        ("$2", ""),
        ("$3$1", "ca"),
        ("$01", ""),
        ("$9", ""),
        ("$$1", "$1"),
        ("$", "$"),
        ("a$-b", "a$-b"),
        ("${1", "${1"),
        ("${}", "${}"),
        ("$1_suffix", ""),
        ("${1}_suffix", "a_suffix"),
        ("plain", "plain"),
    ];
    for (template, want) in cases {
        let mut out = String::new();
        re.expand(template, &caps, &mut out);
        assert_eq!(out, want, "{template:?}");
    }
}

/// Throughput of typical `metric_relabel_configs` (run with `--release -- --ignored`).
#[test]
#[ignore = "measurement, not a check"]
fn relabel_throughput() {
    let cfgs = parse(
        "- {source_labels: [__name__], regex: 'go_.*|process_.*', action: drop}\n\
         - {regex: 'pod_template_hash|controller_revision_hash', action: labeldrop}\n\
         - {source_labels: [namespace, pod], separator: '/', target_label: workload, regex: '(.*)/(.*)-[a-z0-9]+', replacement: '$1/$2'}\n\
         - {source_labels: [instance], target_label: shard, modulus: 16, action: hashmod}",
    )
    .expect("valid");
    let base = labels(&[
        ("__name__", "http_requests_total"),
        ("code", "200"),
        ("controller_revision_hash", "5d8f9c7b6"),
        ("instance", "10.1.2.3:8080"),
        ("job", "kubernetes-pods"),
        ("method", "GET"),
        ("namespace", "shop"),
        ("pod", "frontend-7d9f8c6b5-x2x9z"),
    ]);
    let n = 1_000_000;
    let mut lbls = base.clone();
    let start = std::time::Instant::now();
    let mut kept = 0usize;
    for _ in 0..n {
        lbls.clone_from(&base);
        kept += usize::from(process(&cfgs, &mut lbls));
    }
    let elapsed = start.elapsed();
    assert_eq!(kept, n);
    eprintln!(
        "relabel_throughput: {n} label sets x 4 steps in {elapsed:?} = {:.0} ns/label set",
        elapsed.as_nanos() as f64 / n as f64
    );
}

#[test]
fn engine_choice() {
    let cases = [
        ("(.*)", "any"),
        ("go_.*", "rust"),
        ("(.+):([0-9]+)", "rust"),
        ("[^:]+", "rust"),
        ("[]a]+", "rust"),
        ("[^]a]+", "rust"),
        ("a-b+|c--d", "rust"),
        ("pod_template_hash|controller_revision_hash", "go"),
        (r"(.*):\d+", "go"),
        ("[[:alpha:]]+", "go"),
        ("[a&&b]", "go"),
        ("[+--]", "go"),
        ("[a~~b]", "go"),
        ("[[a]]", "go"),
        (r"\Qa.b\E", "go"),
    ];
    for (pattern, want) in cases {
        let re = Regexp::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        let got = match re.engine {
            Engine::AnyLine => "any",
            Engine::Rust(_) => "rust",
            Engine::Go(..) => "go",
        };
        assert_eq!(got, want, "{pattern}");
    }
}

#[test]
fn every_engine_agrees_with_go_semantics() {
    let patterns = [
        "(.*)",
        "go_.*",
        "(.+):([0-9]+)",
        "[^:]+",
        "[]a]+",
        "a|b|",
        "(?i)kelvin",
        "x{2,3}",
        r"(.*):\d+",
        r"\w+",
        r"\s",
        "[[:alpha:]]+",
        "[a&&b]",
        "[[a]]",
        r"\Qa.b\E",
        "(a)(b)?",
        ".",
        "",
        "(?s:.)*",
        "a.*b",
    ];
    let values = [
        "",
        "a",
        "b",
        "ab",
        "aab",
        "a.b",
        "a&b",
        "[a]",
        "]]a",
        "go_x",
        "host:9100",
        "host:١٢",
        "xx",
        "xxxx",
        "KELVIN",
        "\u{212a}elvin",
        "é",
        "a\nb",
        "\n",
        " ",
        "\u{a0}",
        "a[",
        "&",
    ];
    for p in patterns {
        let re = Regexp::new(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        let go = Matcher::new(MatchOp::Regex, "", p).expect("valid");
        for v in values {
            let want = go.matches(v);
            assert_eq!(re.is_match(v), want, "{p:?} on {v:?}");
            assert_eq!(re.captures(v).is_some(), want, "{p:?} captures on {v:?}");
            if let Some(groups) = re.captures(v) {
                let mut whole = String::new();
                re.expand("$0", &groups, &mut whole);
                assert_eq!(whole, v, "{p:?} group 0 on {v:?}");
            }
        }
    }
}
