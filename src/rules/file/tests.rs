//! Rule-file validation: `promtool check rules` messages and positions (checked against
//! promtool 2.42 where marked in the live test).

use super::*;

fn no_expr_check(e: &str) -> Result<(), String> {
    if e.contains('(') && !e.contains(')') {
        Err("1:5: parse error: unclosed left parenthesis".into())
    } else {
        Ok(())
    }
}

fn templates(rule: &str, t: &str) -> Result<(), String> {
    crate::rules::template::check(rule, t)
}

fn errors(yaml: &str) -> Vec<String> {
    parse(yaml, &no_expr_check, &templates).expect_err("invalid")
}

#[test]
fn valid_file_parses() {
    let yaml = "groups:\n  - name: g\n    interval: 30s\n    limit: 10\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n        labels: {team: a}\n      - alert: Down\n        expr: up == 0\n        for: 5m\n        keep_firing_for: 1m\n        labels: {severity: page}\n        annotations: {summary: '{{ $labels.instance }} down'}\n";
    let f = parse(yaml, &no_expr_check, &templates).expect("valid");
    assert_eq!(f.groups.len(), 1);
    let g = &f.groups[0];
    assert_eq!(
        (g.name.as_str(), g.interval.to_string(), g.limit),
        ("g", "30s".into(), 10)
    );
    assert_eq!(g.rules[0].name(), "job:up:sum");
    assert!(g.rules[1].is_alert());
    assert_eq!(g.rules[1].for_.to_string(), "5m");
}

#[test]
fn empty_file_has_no_groups() {
    assert!(
        parse("", &no_expr_check, &templates)
            .expect("valid")
            .groups
            .is_empty()
    );
}

#[test]
fn promtool_messages() {
    let cases: &[(&str, &str)] = &[
        (
            "groups:\n  - name: g1\n    rules:\n      - record: a\n        alert: b\n        expr: up\n",
            "4:17: 5:16: group \"g1\", rule 1, \"b\": only one of 'record' and 'alert' must be set",
        ),
        (
            "groups:\n  - name: g1\n    rules:\n      - expr: up\n",
            "0:0: group \"g1\", rule 1, \"\": one of 'record' or 'alert' must be set",
        ),
        (
            "groups:\n  - name: g1\n    rules:\n      - record: r\n",
            "0:0: group \"g1\", rule 1, \"r\": field 'expr' must be set in rule",
        ),
        (
            "groups:\n  - name: g1\n    rules:\n      - record: r\n        expr: sum(up\n",
            "5:15: group \"g1\", rule 1, \"r\": could not parse expression: 1:5: parse error: unclosed left parenthesis",
        ),
        (
            "groups:\n  - name: g1\n    rules:\n      - record: bad name\n        expr: up\n",
            "4:17: group \"g1\", rule 1, \"bad name\": invalid recording rule name: bad name",
        ),
        (
            "groups:\n  - name: g1\n    rules:\n      - record: r\n        expr: up\n        for: 1m\n",
            "4:17: group \"g1\", rule 1, \"r\": invalid field 'for' in recording rule",
        ),
        (
            "groups:\n  - name: g1\n    rules:\n      - record: r\n        expr: up\n        labels: {1bad: x}\n",
            "group \"g1\", rule 1, \"r\": invalid label name: 1bad",
        ),
        (
            "groups:\n  - name: g1\n    rules: []\n  - name: g1\n    rules: []\n",
            "4:5: groupname: \"g1\" is repeated in the same file",
        ),
        (
            "groups:\n  - name: ''\n    rules: []\n",
            "2:5: Groupname must not be empty",
        ),
        (
            "groups:\n  - name: g\n    unknown_field: 1\n",
            "yaml: unmarshal errors:\n  line 3: field unknown_field not found in type rulefmt.RuleGroup",
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up\n        nope: 1\n",
            "yaml: unmarshal errors:\n  line 6: field nope not found in type rulefmt.RuleNode",
        ),
    ];
    for (yaml, want) in cases {
        let got = errors(yaml);
        assert_eq!(got.first().map(String::as_str), Some(*want), "{yaml}");
    }
}

#[test]
fn bad_template_is_named() {
    let yaml = "groups:\n  - name: g1\n    rules:\n      - alert: X\n        expr: up\n        labels: {sev: '{{ .Labels'}\n";
    let got = errors(yaml);
    assert!(
        got[0].starts_with("group \"g1\", rule 1, \"X\": label \"sev\": template: __alert_X:"),
        "{got:?}"
    );
}
