//! Top-level configuration tests: defaults, inheritance, validation errors with their lines,
//! the seed federation config, ignored sections, `load` path resolution, `default_for`.

use super::*;

fn parse(yaml: &str) -> Config {
    Config::parse(yaml, "test.yml").unwrap_or_else(|e| panic!("{e}\n--- input ---\n{yaml}"))
}

fn ms(s: &str) -> Duration {
    Duration::parse(s).expect("valid duration")
}

#[test]
fn defaults_without_global() {
    for yaml in [
        "",
        "global:\n",
        "global: {}\n",
        "# only a comment\n",
        "scrape_configs:\n",
    ] {
        let cfg = parse(yaml);
        assert_eq!(cfg.global, GlobalConfig::default(), "{yaml:?}");
        assert_eq!(cfg.global.scrape_interval, ms("1m"));
        assert_eq!(cfg.global.scrape_timeout, ms("10s"));
        assert_eq!(cfg.global.evaluation_interval, ms("1m"));
        assert!(cfg.scrape_configs.is_empty());
        assert!(cfg.external_labels().is_empty());
    }
}

#[test]
fn scrape_config_defaults() {
    let cfg = parse("scrape_configs:\n  - job_name: j\n");
    let sc = &cfg.scrape_configs[0];
    let mut want = ScrapeConfig::new("j");
    want.scrape_interval = ms("1m");
    want.scrape_timeout = ms("10s");
    assert_eq!(*sc, want);
    assert_eq!(sc.metrics_path, "/metrics");
    assert_eq!(sc.scheme, "http");
    assert!(sc.honor_timestamps && !sc.honor_labels);
    assert!(sc.http_client.follow_redirects && sc.http_client.enable_http2);
    assert_eq!(sc.body_size_limit.limit(), None);
}

#[test]
fn interval_and_timeout_inheritance() {
    // (global section, job section, want global interval/timeout, want job interval/timeout)
    type Case = (
        &'static str,
        &'static str,
        (&'static str, &'static str),
        (&'static str, &'static str),
    );
    let cases: &[Case] = &[
        ("", "", ("1m", "10s"), ("1m", "10s")),
        ("scrape_interval: 1s", "", ("1s", "1s"), ("1s", "1s")),
        ("scrape_interval: 15s", "", ("15s", "10s"), ("15s", "10s")),
        (
            "scrape_interval: 15s",
            "scrape_interval: 5s",
            ("15s", "10s"),
            ("5s", "5s"),
        ),
        (
            "scrape_interval: 15s",
            "scrape_interval: 30s",
            ("15s", "10s"),
            ("30s", "10s"),
        ),
        (
            "scrape_interval: 15s\n  scrape_timeout: 3s",
            "scrape_interval: 30s",
            ("15s", "3s"),
            ("30s", "3s"),
        ),
        (
            "scrape_interval: 15s",
            "scrape_timeout: 15s",
            ("15s", "10s"),
            ("15s", "15s"),
        ),
        (
            "scrape_timeout: 1m",
            "scrape_interval: 2m\n    scrape_timeout: 90s",
            ("1m", "1m"),
            ("2m", "1m30s"),
        ),
        (
            "scrape_interval: 0",
            "scrape_interval: 0",
            ("1m", "10s"),
            ("1m", "10s"),
        ),
        (
            "scrape_interval:",
            "scrape_timeout:",
            ("1m", "10s"),
            ("1m", "10s"),
        ),
        ("evaluation_interval: 30s", "", ("1m", "10s"), ("1m", "10s")),
    ];
    for (global, job, (gi, gt), (ji, jt)) in cases {
        let yaml = format!("global:\n  {global}\nscrape_configs:\n  - job_name: j\n    {job}\n");
        let cfg = parse(&yaml);
        let sc = &cfg.scrape_configs[0];
        assert_eq!(
            (cfg.global.scrape_interval, cfg.global.scrape_timeout),
            (ms(gi), ms(gt)),
            "global of {yaml}"
        );
        assert_eq!(
            (sc.scrape_interval, sc.scrape_timeout),
            (ms(ji), ms(jt)),
            "job of {yaml}"
        );
    }
    assert_eq!(
        parse("global:\n  evaluation_interval: 30s\n")
            .global
            .evaluation_interval,
        ms("30s")
    );
}

/// (case name, YAML, expected line, expected message part)
type ErrorCase = (&'static str, &'static str, Option<usize>, &'static str);

#[test]
fn validation_errors() {
    let cases: &[ErrorCase] = &[
        (
            "global timeout above interval",
            "global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n",
            Some(3),
            "global.scrape_timeout: global scrape timeout greater than scrape interval",
        ),
        (
            "global timeout above the default interval",
            "global:\n  scrape_timeout: 2m\n",
            Some(2),
            "global scrape timeout greater than scrape interval",
        ),
        (
            "job timeout above job interval",
            "scrape_configs:\n  - job_name: a\n  - job_name: x\n    scrape_interval: 5s\n    scrape_timeout: 6s\n",
            Some(5),
            "scrape_configs[1].scrape_timeout: scrape timeout greater than scrape interval for scrape config with job name \"x\"",
        ),
        (
            "job timeout above inherited interval",
            "global:\n  scrape_interval: 10s\nscrape_configs:\n  - job_name: x\n    scrape_timeout: 11s\n",
            Some(5),
            "scrape timeout greater than scrape interval for scrape config with job name \"x\"",
        ),
        (
            "duplicate job name",
            "scrape_configs:\n  - job_name: x\n  - job_name: y\n  - job_name: x\n",
            Some(4),
            "scrape_configs[2].job_name: found multiple scrape configs with job name \"x\"",
        ),
        (
            "empty job name",
            "scrape_configs:\n  - job_name: ''\n",
            Some(2),
            "job_name is empty",
        ),
        (
            "missing job name",
            "scrape_configs:\n  - scrape_interval: 1s\n",
            Some(2),
            "job_name is empty",
        ),
        (
            "bad global duration",
            "global:\n  scrape_interval: 15x\n",
            Some(2),
            "global.scrape_interval: not a valid duration string: \"15x\"",
        ),
        (
            "bad job duration",
            "scrape_configs:\n  - job_name: a\n    scrape_interval: 1h30\n",
            Some(3),
            "scrape_configs[0].scrape_interval: not a valid duration string: \"1h30\"",
        ),
        (
            "empty duration",
            "global:\n  scrape_interval: ''\n",
            Some(2),
            "empty duration string",
        ),
        (
            "unknown top-level field",
            "global: {}\nscrape_config:\n  - job_name: a\n",
            Some(2),
            "unknown field `scrape_config`",
        ),
        (
            "unknown global field",
            "global:\n  scrape_intervall: 1s\n",
            Some(2),
            "unknown field `scrape_intervall`",
        ),
        (
            "unknown job field",
            "scrape_configs:\n  - job_name: a\n    honour_labels: true\n",
            Some(3),
            "unknown field `honour_labels`",
        ),
        (
            "unsupported service discovery",
            "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs: [{role: pod}]\n",
            Some(3),
            "unknown field `kubernetes_sd_configs`",
        ),
        (
            "unknown static config field",
            "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [a:1]\n        label: {a: b}\n",
            Some(5),
            "unknown field `label`",
        ),
        (
            "bad relabel regex",
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [a]\n        regex: '(x'\n        target_label: b\n",
            Some(5),
            "scrape_configs[0].relabel_configs[0].regex: error parsing regexp: missing closing ): `^(?:(x)$`",
        ),
        (
            "relabel needs target_label",
            "scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n      - source_labels: [a]\n        action: replace\n",
            Some(4),
            "relabel configuration for replace action requires 'target_label' value",
        ),
        (
            "invalid external label name",
            "global:\n  external_labels:\n    ok: 1\n    not-ok: 2\n",
            Some(4),
            "\"not-ok\" is not a valid label name",
        ),
        (
            "duplicate external label",
            "global:\n  external_labels:\n    a: 1\n    a: 2\n",
            Some(4),
            "label name \"a\" is defined twice",
        ),
        (
            "invalid target label name",
            "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [a:1]\n        labels: {__x: 1, 9: x}\n",
            Some(5),
            "\"9\" is not a valid label name",
        ),
        (
            "url as a static target",
            "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['http://a:1/metrics']\n",
            Some(2),
            "\"http://a:1/metrics\" is not a valid hostname",
        ),
        (
            "bad body size",
            "scrape_configs:\n  - job_name: a\n    body_size_limit: 10kB\n",
            Some(3),
            "units: unknown unit kB in 10kB",
        ),
        (
            "bare body size",
            "scrape_configs:\n  - job_name: a\n    body_size_limit: 1000\n",
            Some(3),
            "units: unknown unit  in 1000",
        ),
        (
            "negative sample limit",
            "scrape_configs:\n  - job_name: a\n    sample_limit: -1\n",
            Some(3),
            "cannot unmarshal -1 into uint",
        ),
        (
            "bad boolean",
            "scrape_configs:\n  - job_name: a\n    honor_labels: maybe\n",
            Some(3),
            "cannot unmarshal \"maybe\" into a boolean",
        ),
        (
            "basic auth and bearer token",
            "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: p}\n    bearer_token: t\n",
            Some(2),
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        ),
        (
            "bearer token and file",
            "scrape_configs:\n  - job_name: a\n    bearer_token: t\n    bearer_token_file: f\n",
            Some(2),
            "at most one of bearer_token & bearer_token_file must be configured",
        ),
        (
            "password and password file",
            "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: p, password_file: f}\n",
            Some(2),
            "at most one of basic_auth password & password_file must be configured",
        ),
        (
            "authorization and bearer token",
            "scrape_configs:\n  - job_name: a\n    authorization: {credentials: c}\n    bearer_token: t\n",
            Some(2),
            "authorization is not compatible with bearer_token & bearer_token_file",
        ),
        (
            "authorization credentials and file",
            "scrape_configs:\n  - job_name: a\n    authorization: {credentials: c, credentials_file: f}\n",
            Some(2),
            "at most one of authorization credentials & credentials_file must be configured",
        ),
        (
            "authorization type basic",
            "scrape_configs:\n  - job_name: a\n    authorization: {type: ' Basic ', credentials: c}\n",
            Some(2),
            "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
        ),
        (
            "authorization and basic auth",
            "scrape_configs:\n  - job_name: a\n    authorization: {credentials: c}\n    basic_auth: {username: u}\n",
            Some(2),
            "at most one of basic_auth, oauth2 & authorization must be configured",
        ),
        (
            "oauth2",
            "scrape_configs:\n  - job_name: a\n    oauth2: {client_id: x}\n",
            Some(2),
            "oauth2 is not supported by fedstore",
        ),
        (
            "unknown tls field",
            "scrape_configs:\n  - job_name: a\n    tls_config: {ca: x}\n",
            Some(3),
            "unknown field `ca`",
        ),
        (
            "file sd without files",
            "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - refresh_interval: 1m\n",
            Some(4),
            "file service discovery config must contain at least one path name",
        ),
        (
            "invalid rule file",
            "rule_files:\n  - ok.yml\n  - 'a*/b*.yml'\n",
            Some(3),
            "rule_files[1]: invalid rule file path \"a*/b*.yml\"",
        ),
        (
            "yaml syntax error",
            "global:\n  external_labels: {a: 1, b\n",
            Some(3),
            "did not find expected ',' or '}'",
        ),
        (
            "not a mapping",
            "- a\n- b\n",
            Some(1),
            "invalid type: sequence",
        ),
        (
            "null scrape config",
            "scrape_configs:\n  - job_name: a\n  -\n",
            Some(3),
            "scrape_configs[1]: empty or null scrape config section",
        ),
        (
            "null static config",
            "scrape_configs:\n  - job_name: a\n    static_configs:\n      -\n",
            Some(2),
            "empty or null section in static_configs",
        ),
        (
            "null file sd config",
            "scrape_configs:\n  - job_name: a\n    file_sd_configs: [~]\n",
            Some(2),
            "empty or null section in file_sd_configs",
        ),
        (
            "null relabel rule",
            "scrape_configs:\n  - job_name: a\n    relabel_configs: [~]\n",
            Some(2),
            "empty or null target relabeling rule in scrape config",
        ),
        (
            "null metric relabel rule",
            "scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n      - ~\n",
            Some(2),
            "empty or null metric relabeling rule in scrape config",
        ),
    ];
    for (name, yaml, line, want) in cases {
        let err = Config::parse(yaml, "test.yml").expect_err(name);
        let text = err.to_string();
        if std::env::var_os("FEDSTORE_PRINT_ERRORS").is_some() {
            eprintln!("{name}: {text}");
        }
        assert!(
            text.contains(want),
            "{name}\n  got:  {text}\n  want: {want}"
        );
        assert_eq!(err.line(), *line, "{name}: {text}");
        let prefix = match line {
            Some(l) => format!("test.yml:{l}:"),
            None => "test.yml: ".to_owned(),
        };
        assert!(text.starts_with(&prefix), "{name}: {text}");
    }
}

#[test]
fn error_display_format() {
    let yaml = "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [a:1]\n  - job_name: b\n    scrape_interval: 15x\n";
    let err = Config::parse(yaml, "config.yml").expect_err("bad duration");
    assert_eq!(
        err.to_string(),
        "config.yml:8:22: scrape_configs[1].scrape_interval: not a valid duration string: \"15x\""
    );
}

#[test]
fn full_scrape_config() {
    let yaml = r#"
global:
  scrape_interval: 15s
  external_labels: {zone: ie, foo: baz, a: '1.10'}
scrape_configs:
  - job_name: full
    honor_labels: yes
    honor_timestamps: off
    params:
      'match[]': ['{job="x"}', 'up']
      empty:
    scrape_interval: 30s
    scrape_timeout: 20s
    metrics_path: /federate
    scheme: https
    body_size_limit: 10MB
    sample_limit: 1000
    target_limit: 5
    label_limit: 30
    label_name_length_limit: 200
    label_value_length_limit: 2000
    basic_auth:
      username: u
      password_file: secrets/pw
    tls_config:
      ca_file: ca.pem
      insecure_skip_verify: true
      min_version: TLS12
    follow_redirects: false
    enable_http2: false
    static_configs:
      - targets: ['a:1', 'b:2']
        labels: {env: prod}
      - targets: ['c:3']
    file_sd_configs:
      - files: ['targets/*.json']
        refresh_interval: 1m
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
    metric_relabel_configs:
      - regex: 'go_.*'
        source_labels: [__name__]
        action: drop
  - job_name: bearer
    bearer_token: sekrit
  - job_name: bearer_file
    bearer_token_file: /etc/token
  - job_name: authz
    authorization: {credentials: c}
"#;
    let cfg = parse(yaml);
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        cfg.external_labels(),
        pairs(&[("a", "1.10"), ("foo", "baz"), ("zone", "ie")])
    );
    let sc = cfg.scrape_config("full").expect("job");
    assert!(sc.honor_labels);
    assert!(!sc.honor_timestamps);
    assert_eq!(
        sc.params,
        vec![
            (
                "match[]".to_owned(),
                vec!["{job=\"x\"}".to_owned(), "up".to_owned()]
            ),
            ("empty".to_owned(), vec![])
        ]
    );
    assert_eq!(
        (sc.scrape_interval, sc.scrape_timeout),
        (ms("30s"), ms("20s"))
    );
    assert_eq!(
        (sc.metrics_path.as_str(), sc.scheme.as_str()),
        ("/federate", "https")
    );
    assert_eq!(sc.body_size_limit.limit(), Some(10 << 20));
    assert_eq!(
        (sc.sample_limit, sc.target_limit, sc.label_limit),
        (1000, 5, 30)
    );
    assert_eq!(
        (sc.label_name_length_limit, sc.label_value_length_limit),
        (200, 2000)
    );
    let auth = sc.http_client.basic_auth.as_ref().expect("basic auth");
    assert_eq!(auth.username, "u");
    assert_eq!(auth.password_file.as_deref(), Some(Path::new("secrets/pw")));
    assert!(sc.http_client.tls_config.insecure_skip_verify);
    assert_eq!(sc.http_client.tls_config.min_version, "TLS12");
    assert!(!sc.http_client.follow_redirects && !sc.http_client.enable_http2);
    assert_eq!(sc.static_configs.len(), 2);
    assert_eq!(sc.static_configs[0].targets, vec!["a:1", "b:2"]);
    assert_eq!(sc.static_configs[0].labels, pairs(&[("env", "prod")]));
    assert_eq!(
        (
            sc.static_configs[0].source.as_str(),
            sc.static_configs[1].source.as_str()
        ),
        ("0", "1")
    );
    assert_eq!(sc.file_sd_configs[0].refresh_interval, ms("1m"));
    assert_eq!(sc.relabel_configs[0].target_label, "__param_target");
    assert_eq!(sc.metric_relabel_configs[0].action, Action::Drop);

    let authz = |job: &str| {
        cfg.scrape_config(job)
            .and_then(|s| s.http_client.authorization.clone())
    };
    let bearer = authz("bearer").expect("folded bearer token");
    assert_eq!(
        (bearer.kind.as_str(), bearer.credentials.expose()),
        ("Bearer", "sekrit")
    );
    assert!(
        !format!("{bearer:?}").contains("sekrit"),
        "secrets are not printed"
    );
    let file = authz("bearer_file").expect("folded bearer token file");
    assert_eq!(
        file.credentials_file.as_deref(),
        Some(Path::new("/etc/token"))
    );
    assert_eq!(authz("authz").expect("authorization").kind, "Bearer");
}

#[test]
fn go_yaml_quirks() {
    // Only the first document counts; the second is not even checked.
    let cfg = parse("global:\n  scrape_interval: 7s\n---\nglobal: {bogus: 1}\n");
    assert_eq!(cfg.global.scrape_interval, ms("7s"));
    // A float in an integer field is truncated.
    let cfg = parse("scrape_configs:\n  - job_name: a\n    sample_limit: 1.5\n");
    assert_eq!(cfg.scrape_configs[0].sample_limit, 1);
    // Any scalar fills a string field with its text.
    let cfg = parse("scrape_configs:\n  - job_name: 123\n  - job_name: yes\n  - job_name: 1.10\n");
    let names: Vec<&str> = cfg
        .scrape_configs
        .iter()
        .map(|s| s.job_name.as_str())
        .collect();
    assert_eq!(names, ["123", "yes", "1.10"]);
}

#[test]
fn yaml_booleans() {
    let cases = [
        ("yes", true),
        ("no", false),
        ("on", true),
        ("off", false),
        ("True", true),
        ("false", false),
        ("", false),
    ];
    for (word, want) in cases {
        let yaml = format!(
            "scrape_configs:\n  - job_name: a\n    honor_labels: {word}\n    honor_timestamps: {word}\n"
        );
        let sc = &parse(&yaml).scrape_configs[0];
        assert_eq!(
            (sc.honor_labels, sc.honor_timestamps),
            (want, want),
            "{word:?}"
        );
    }
}

/// The federation example from the operator docs (docs/federation.md), byte for byte.
const SEED_FEDERATION: &str = r#"scrape_configs:
  - job_name: "federate"
    scrape_interval: 15s

    honor_labels: true
    metrics_path: "/federate"

    params:
      "match[]":
        - '{job="prometheus"}'
        - '{__name__=~"job:.*"}'

    static_configs:
      - targets:
          - "source-prometheus-1:9090"
          - "source-prometheus-2:9090"
          - "source-prometheus-3:9090"
"#;

#[test]
fn seed_federation_config() {
    let cfg = parse(SEED_FEDERATION);
    let sc = cfg.scrape_config("federate").expect("job");
    assert!(sc.honor_labels);
    assert_eq!(sc.metrics_path, "/federate");
    assert_eq!(
        (sc.scrape_interval, sc.scrape_timeout),
        (ms("15s"), ms("10s"))
    );
    assert_eq!(
        sc.params,
        vec![(
            "match[]".to_owned(),
            vec![
                r#"{job="prometheus"}"#.to_owned(),
                r#"{__name__=~"job:.*"}"#.to_owned()
            ]
        )]
    );
    assert_eq!(
        sc.static_configs[0].targets,
        vec![
            "source-prometheus-1:9090",
            "source-prometheus-2:9090",
            "source-prometheus-3:9090"
        ]
    );
}

#[test]
fn ignored_sections_are_accepted_and_alerting_is_read() {
    let yaml = r#"
rule_files: [rules/*.yml]
alerting:
  alertmanagers:
    - static_configs: [{targets: ['am:9093']}]
remote_write:
  - url: http://remote/api/v1/write
remote_read:
  - url: http://remote/api/v1/read
storage:
  tsdb: {out_of_order_time_window: 10m}
tracing:
  endpoint: localhost:4317
scrape_configs:
  - job_name: a
"#;
    let cfg = parse(yaml);
    assert_eq!(
        cfg.ignored_sections(),
        ["remote_read", "storage", "tracing"]
    );
    assert_eq!(cfg.remote_write[0].url, "http://remote/api/v1/write");
    assert_eq!(cfg.rule_files, vec!["rules/*.yml"]);
    assert_eq!(
        cfg.alerting.alertmanagers[0].urls(),
        ["http://am:9093/api/v2/alerts"]
    );
    assert!(parse("global: {}").ignored_sections().is_empty());
}

#[test]
fn load_resolves_relative_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("prometheus.yml");
    let yaml = "rule_files: [r.yml, /abs/r.yml]\nscrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password_file: pw}\n    tls_config: {ca_file: ca.pem, cert_file: /abs/c.pem}\n    file_sd_configs:\n      - files: ['sd/*.json', /abs/x.yml]\n  - job_name: b\n    bearer_token_file: tok\n";
    std::fs::write(&path, yaml).expect("write");
    let cfg = Config::load(&path).expect("load");
    let d = dir.path();
    assert_eq!(
        cfg.rule_files,
        vec![
            d.join("r.yml").to_string_lossy().into_owned(),
            "/abs/r.yml".to_owned()
        ]
    );
    let a = &cfg.scrape_configs[0];
    assert_eq!(
        a.http_client
            .basic_auth
            .as_ref()
            .and_then(|b| b.password_file.clone()),
        Some(d.join("pw"))
    );
    assert_eq!(a.http_client.tls_config.ca_file, Some(d.join("ca.pem")));
    assert_eq!(
        a.http_client.tls_config.cert_file,
        Some("/abs/c.pem".into())
    );
    assert_eq!(
        a.file_sd_configs[0].files,
        vec![
            d.join("sd/*.json").to_string_lossy().into_owned(),
            "/abs/x.yml".to_owned()
        ]
    );
    let b = &cfg.scrape_configs[1];
    let tok = b
        .http_client
        .authorization
        .as_ref()
        .and_then(|a| a.credentials_file.clone());
    assert_eq!(tok, Some(d.join("tok")));

    let err = Config::load(&d.join("missing.yml")).expect_err("missing file");
    assert!(matches!(err, ConfigError::Read { .. }), "{err}");
    std::fs::write(&path, "global:\n  scrape_interval: 1x\n").expect("write");
    let err = Config::load(&path).expect_err("bad file");
    assert!(
        err.to_string()
            .starts_with(&format!("{}:2:", path.display())),
        "{err}"
    );
}

#[test]
fn default_config() {
    let cases = [
        ("0.0.0.0:9090", "localhost:9090"),
        (":9090", "localhost:9090"),
        ("[::]:9091", "localhost:9091"),
        ("127.0.0.1:19420", "127.0.0.1:19420"),
        ("myhost:80", "myhost:80"),
    ];
    for (listen, target) in cases {
        let cfg = Config::default_for(listen);
        let sc = cfg.scrape_config("fedstore").expect("self-scrape job");
        assert_eq!(sc.static_configs[0].targets, vec![target], "{listen}");
        assert_eq!(sc.scrape_interval, ms("15s"));
        assert_eq!(sc.metrics_path, "/metrics");
        assert_eq!(cfg.scrape_configs.len(), 1);
    }
}

/// `tests/data/config/{valid,invalid}/*.yml`, cross-checked with Prometheus 2.42's promtool.
fn data_files(kind: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/config")
        .join(kind);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

#[test]
fn data_files_valid() {
    let files = data_files("valid");
    assert!(files.len() >= 6);
    for f in files {
        Config::load(&f).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn data_files_invalid_with_prometheus_messages() {
    // File → the message promtool 2.42 prints after "parsing YAML file <f>: " (for the three
    // go-yaml messages marked *, fedstore's own wording and the line go-yaml reports).
    let cases: &[(&str, &str, usize)] = &[
        (
            "authorization-basic.yml",
            "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            2,
        ),
        (
            "bad-boolean.yml",
            "*cannot unmarshal \"maybe\" into a boolean",
            3,
        ),
        (
            "bad-duration.yml",
            "not a valid duration string: \"15x\"",
            2,
        ),
        (
            "bad-external-label.yml",
            "\"not-valid\" is not a valid label name",
            3,
        ),
        (
            "bad-regex.yml",
            "error parsing regexp: missing closing ): `^(?:(x)$`",
            5,
        ),
        (
            "basic-and-bearer.yml",
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
            2,
        ),
        ("body-size-bare.yml", "units: unknown unit  in 1000", 3),
        (
            "duplicate-external-label.yml",
            "*label name \"a\" is defined twice",
            4,
        ),
        (
            "duplicate-job.yml",
            "found multiple scrape configs with job name \"x\"",
            5,
        ),
        ("empty-job-name.yml", "job_name is empty", 2),
        (
            "file-sd-bad-name.yml",
            "path name \"targets.txt\" is not valid for file discovery",
            4,
        ),
        (
            "float-duration.yml",
            "not a valid duration string: \"1.5m\"",
            2,
        ),
        (
            "global-timeout.yml",
            "global scrape timeout greater than scrape interval",
            3,
        ),
        (
            "hashmod-no-modulus.yml",
            "relabel configuration for hashmod requires non-zero modulus",
            4,
        ),
        (
            "null-static-config.yml",
            "empty or null section in static_configs",
            2,
        ),
        (
            "job-timeout.yml",
            "scrape timeout greater than scrape interval for scrape config with job name \"slow\"",
            5,
        ),
        (
            "keepequal-regex.yml",
            "keepequal action requires only 'source_labels' and `target_label`, and no other fields",
            4,
        ),
        (
            "relabel-no-target.yml",
            "relabel configuration for replace action requires 'target_label' value",
            4,
        ),
        (
            "unknown-action.yml",
            "unknown relabel action \"frobnicate\"",
            5,
        ),
        ("unknown-field.yml", "*unknown field `honour_labels`", 3),
        (
            "url-target.yml",
            "\"http://localhost:9090/metrics\" is not a valid hostname",
            2,
        ),
    ];
    let files = data_files("invalid");
    assert_eq!(files.len(), cases.len(), "every invalid file has a case");
    for (file, want, line) in cases {
        let path = files
            .iter()
            .find(|p| p.ends_with(file))
            .unwrap_or_else(|| panic!("{file} missing"));
        let err = Config::load(path).expect_err(file);
        let want = want.trim_start_matches('*');
        assert!(
            err.to_string().ends_with(want) || err.to_string().contains(want),
            "{file}: {err}"
        );
        assert_eq!(err.line(), Some(*line), "{file}: {err}");
    }
}

#[test]
fn data_files_agree_with_promtool() {
    let promtool = Path::new("/usr/bin/promtool");
    if !fedstore_tools::skips::peer_installed("data_files_agree_with_promtool", "/usr/bin/promtool")
    {
        return;
    }
    for (kind, want_ok) in [("valid", true), ("invalid", false)] {
        for f in data_files(kind) {
            let out = std::process::Command::new(promtool)
                .args(["check", "config", "--syntax-only"])
                .arg(&f)
                .output()
                .expect("run promtool");
            assert_eq!(
                out.status.success(),
                want_ok,
                "promtool on {}: {out:?}",
                f.display()
            );
            assert_eq!(
                Config::load(&f).is_ok(),
                want_ok,
                "fedstore on {}",
                f.display()
            );
        }
    }
}

/// Target labels computed by Prometheus 2.42 for `relabel-golden/prometheus.yml` (every action,
/// hashmod with several moduli) against ours: `PopulateLabels` reduced to what static targets
/// with ports need, then [`relabel::process`].
#[test]
fn relabel_matches_prometheus_target_labels() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config/relabel-golden");
    let cfg = Config::load(&dir.join("prometheus.yml")).unwrap_or_else(|e| panic!("{e}"));
    let golden = std::fs::read_to_string(dir.join("targets.json")).expect("golden file");
    let want: Vec<std::collections::BTreeMap<String, String>> =
        serde_json::from_str(&golden).expect("golden json");

    let mut got: Vec<std::collections::BTreeMap<String, String>> = Vec::new();
    for sc in &cfg.scrape_configs {
        for group in &sc.static_configs {
            for target in &group.targets {
                let mut labels = group.labels.clone();
                let defaults = [
                    ("__address__", target.clone()),
                    ("job", sc.job_name.clone()),
                    ("__scrape_interval__", sc.scrape_interval.to_string()),
                    ("__scrape_timeout__", sc.scrape_timeout.to_string()),
                    ("__metrics_path__", sc.metrics_path.clone()),
                    ("__scheme__", sc.scheme.clone()),
                ];
                for (name, value) in defaults {
                    if !labels.iter().any(|(n, _)| n == name) {
                        labels.push((name.to_owned(), value));
                    }
                }
                labels.sort();
                if !relabel::process(&sc.relabel_configs, &mut labels) {
                    continue;
                }
                let address = labels
                    .iter()
                    .find(|(n, _)| n == "__address__")
                    .map(|(_, v)| v.clone());
                let mut public: std::collections::BTreeMap<String, String> = labels
                    .into_iter()
                    .filter(|(n, _)| !n.starts_with("__"))
                    .collect();
                if let Some(address) = address {
                    public.entry("instance".to_owned()).or_insert(address);
                }
                got.push(public);
            }
        }
    }
    got.sort_by(|a, b| (&a["job"], &a["instance"]).cmp(&(&b["job"], &b["instance"])));
    assert_eq!(got.len(), want.len(), "targets kept: {got:#?}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
}

#[test]
fn config_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Config>();
    assert_send_sync::<RelabelConfig>();
    assert_send_sync::<ConfigError>();
}

#[test]
fn remote_write_defaults_fields_and_errors() {
    use crate::config::remote_write::QueueConfig;
    let cfg = parse("remote_write:\n  - url: http://a/api/v1/write\n");
    let rw = &cfg.remote_write[0];
    // Prometheus 2.42's DefaultRemoteWriteConfig / DefaultQueueConfig.
    assert_eq!(rw.remote_timeout, ms("30s"));
    assert_eq!(
        rw.queue_config,
        QueueConfig {
            capacity: 2500,
            max_shards: 200,
            min_shards: 1,
            max_samples_per_send: 500,
            batch_send_deadline: ms("5s"),
            min_backoff: ms("30ms"),
            max_backoff: ms("5s"),
            retry_on_http_429: false,
        }
    );
    assert_eq!(rw.remote_name().len(), 6);

    let yaml = r#"
remote_write:
  - url: http://mimir:9009/api/v1/push
    name: mimir
    remote_timeout: 10s
    headers: {X-Scope-OrgID: tenant-1}
    basic_auth: {username: u, password: p}
    send_exemplars: true
    metadata_config: {send: false}
    proxy_url: http://proxy.local:3128
    proxy_connect_header: {X-Tenant: [a]}
    write_relabel_configs:
      - source_labels: [__name__]
        regex: 'go_.*'
        action: drop
    queue_config:
      capacity: 10000
      min_shards: 2
      max_shards: 50
      max_samples_per_send: 2000
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 10s
      retry_on_http_429: true
"#;
    let cfg = parse(yaml);
    let rw = &cfg.remote_write[0];
    assert_eq!(rw.remote_name(), "mimir");
    assert_eq!(
        rw.headers,
        [("X-Scope-OrgID".to_owned(), "tenant-1".to_owned())]
    );
    assert_eq!(rw.write_relabel_configs.len(), 1);
    assert!(rw.http_client.basic_auth.is_some());
    assert_eq!(
        rw.http_client
            .proxy_url
            .as_ref()
            .map(|p| p.address.as_str()),
        Some("proxy.local:3128")
    );
    assert_eq!(rw.http_client.proxy_connect_header.len(), 1);
    let q = &rw.queue_config;
    assert_eq!(
        (
            q.capacity,
            q.min_shards,
            q.max_shards,
            q.max_samples_per_send
        ),
        (10000, 2, 50, 2000)
    );
    assert_eq!(
        (q.batch_send_deadline, q.min_backoff, q.max_backoff),
        (ms("1s"), ms("100ms"), ms("10s"))
    );
    assert!(q.retry_on_http_429);

    let cases: &[(&str, &str, usize, &str)] = &[
        (
            "no url",
            "remote_write:\n  - name: a\n",
            2,
            "url for remote_write is empty",
        ),
        (
            "null entry",
            "remote_write:\n  - ~\n",
            2,
            "empty or null remote write config section",
        ),
        (
            "duplicate name",
            "remote_write:\n  - url: http://a/\n    name: x\n  - url: http://b/\n    name: x\n",
            4,
            "found multiple remote write configs with job name \"x\"",
        ),
        (
            "reserved header",
            "remote_write:\n  - url: http://a/\n    headers: {User-Agent: me}\n",
            2,
            "User-Agent is a reserved header. It must not be changed",
        ),
        (
            "oauth2",
            "remote_write:\n  - url: http://a/\n    oauth2: {client_id: x}\n",
            2,
            "oauth2 is not supported by fedstore's remote_write sender",
        ),
        (
            "proxy scheme",
            "remote_write:\n  - url: http://a/\n    proxy_url: socks5://p:1080\n",
            2,
            "scheme \"socks5\" is not supported by fedstore (http only)",
        ),
        (
            "proxy header alone",
            "remote_write:\n  - url: http://a/\n    proxy_connect_header: {X: [y]}\n",
            2,
            "if proxy_connect_header is configured proxy_url must also be configured",
        ),
        (
            "two auths",
            "remote_write:\n  - url: http://a/\n    basic_auth: {username: u}\n    bearer_token: t\n",
            2,
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        ),
        (
            "null relabel",
            "remote_write:\n  - url: http://a/\n    write_relabel_configs: [~]\n",
            2,
            "empty or null relabeling rule in remote write config",
        ),
        (
            "unknown queue field",
            "remote_write:\n  - url: http://a/\n    queue_config:\n      shards: 3\n",
            4,
            "unknown field `shards`",
        ),
        (
            "bad duration",
            "remote_write:\n  - url: http://a/\n    queue_config:\n      min_backoff: 3x\n",
            4,
            "3x",
        ),
        (
            "relative url",
            "remote_write:\n  - url: /api/v1/write\n",
            2,
            "must be an absolute http",
        ),
    ];
    for (name, yaml, line, want) in cases {
        let err = Config::parse(yaml, "test.yml").expect_err(name);
        let text = err.to_string();
        assert!(
            text.contains(want),
            "{name}\n  got:  {text}\n  want: {want}"
        );
        assert!(
            text.starts_with(&format!("test.yml:{line}:")),
            "{name}: {text}"
        );
    }
}
