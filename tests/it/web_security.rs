//! `--web.config.file` end to end: TLS with client certificates, basic auth with bcrypt
//! hashes, response headers; curl with and without credentials and certificates, and a real
//! Prometheus 2.42 federating from fedstore over TLS with `basic_auth` and `tls_config`.
//! Certificates are made in each test with the openssl CLI.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use fedstore::web_config::WebConfig;
use fedstore_storage::Labels;

use crate::prometheus::{Prometheus, free_port};
use crate::support::{Options, TestServer, skip, wall_ms};

/// A CA, a server certificate for 127.0.0.1 and two client certificates: one from the CA,
/// one self-signed (not trusted).
pub(crate) struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub(crate) fn make(test: &str) -> Option<Pki> {
        if Command::new("openssl").arg("version").output().is_err() {
            skip(test, "openssl CLI not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let key = |name: &str| {
            run(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                name,
            ])
        };
        key("ca.key");
        run(&[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=fedstore test CA",
            "-days",
            "2",
            "-out",
            "ca.pem",
        ]);
        std::fs::write(d.join("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
        std::fs::write(
            d.join("client.ext"),
            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
        )
        .unwrap();
        for (name, ext) in [("server", "server.ext"), ("client", "client.ext")] {
            key(&format!("{name}.key"));
            run(&[
                "req",
                "-new",
                "-key",
                &format!("{name}.key"),
                "-subj",
                &format!("/CN={name}"),
                "-out",
                &format!("{name}.csr"),
            ]);
            run(&[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                ext,
                "-out",
                &format!("{name}.pem"),
            ]);
        }
        key("rogue.key");
        run(&[
            "req",
            "-x509",
            "-new",
            "-key",
            "rogue.key",
            "-subj",
            "/CN=rogue",
            "-days",
            "2",
            "-out",
            "rogue.pem",
        ]);
        Some(Pki { dir })
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

const PASSWORD: &str = "s3cret pass";

/// A server with TLS (client certificates as `client_auth`), user `alice` and a header.
fn server(pki: &Pki, client_auth: &str) -> (TestServer, String) {
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let yaml = format!(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: {client_auth}\n  client_ca_file: ca.pem\n  min_version: TLS12\nbasic_auth_users:\n  alice: {hash}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n"
    );
    let file = pki.path("web.yml");
    std::fs::write(&file, yaml).unwrap();
    let wc = Arc::new(WebConfig::load(&file).unwrap());
    let srv = TestServer::start_with(Options {
        state: Some(Box::new(move |s: &mut fedstore::server::AppState| {
            s.web_config = Some(wc)
        })),
        ..Options::default()
    });
    let mut app = srv.head.appender();
    let l = Labels::from_pairs([("__name__", "secured_metric"), ("job", "app")]);
    app.append(&l, wall_ms() - 1000, 42.0).unwrap();
    app.commit().unwrap();
    let https = srv.url().replacen("http://", "https://", 1);
    (srv, https)
}

/// curl's answer: (exit code, status, headers and body).
fn curl(args: &[&str], url: &str) -> (i32, u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "10"])
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (out.status.code().unwrap_or(-1), status, text)
}

fn cert_args<'a>(pki: &'a Pki, paths: &'a mut Vec<String>, client: Option<&str>) -> Vec<&'a str> {
    paths.push(pki.path("ca.pem").display().to_string());
    if let Some(c) = client {
        paths.push(pki.path(&format!("{c}.pem")).display().to_string());
        paths.push(pki.path(&format!("{c}.key")).display().to_string());
    }
    let mut args = vec!["--cacert", paths[0].as_str()];
    if client.is_some() {
        args.extend(["--cert", paths[1].as_str(), "--key", paths[2].as_str()]);
    }
    args
}

#[test]
fn curl_needs_credentials_and_a_trusted_client_certificate() {
    let Some(pki) = Pki::make("web_security::curl") else {
        return;
    };
    if Command::new("curl").arg("--version").output().is_err() {
        skip("web_security::curl", "curl not installed");
        return;
    }
    let (srv, https) = server(&pki, "RequireAndVerifyClientCert");
    let good = format!("alice:{PASSWORD}");
    // (client cert, credentials, path, curl exit code, status, body or header expected)
    type Case<'a> = (Option<&'a str>, Option<&'a str>, &'a str, i32, u16, &'a str);
    let cases: &[Case<'_>] = &[
        (Some("client"), Some(&good), "/-/healthy", 0, 200, "Healthy"),
        (
            Some("client"),
            Some(&good),
            "/federate?match[]=secured_metric",
            0,
            200,
            "secured_metric{job=\"app\",instance=\"\"} 42",
        ),
        (
            Some("client"),
            None,
            "/-/healthy",
            0,
            401,
            "www-authenticate: Basic",
        ),
        (
            Some("client"),
            Some("alice:wrong"),
            "/federate?match[]=secured_metric",
            0,
            401,
            "Unauthorized",
        ),
        (
            Some("client"),
            Some("mallory:s3cret pass"),
            "/-/ready",
            0,
            401,
            "x-frame-options: deny",
        ),
        (
            Some("client"),
            Some(&good),
            "/metrics",
            0,
            200,
            "x-frame-options: deny",
        ),
        (None, Some(&good), "/-/healthy", -1, 0, ""), // no client certificate
        (Some("rogue"), Some(&good), "/-/healthy", -1, 0, ""), // untrusted certificate
    ];
    for &(client, creds, path, code, status, want) in cases {
        let mut paths = Vec::new();
        let mut args = cert_args(&pki, &mut paths, client);
        if let Some(c) = creds {
            args.extend(["-u", c]);
        }
        let (rc, got_status, text) = curl(&args, &format!("{https}{path}"));
        if code == 0 {
            assert_eq!(rc, 0, "{client:?} {creds:?} {path}: {text}");
            assert_eq!(got_status, status, "{client:?} {creds:?} {path}: {text}");
            assert!(
                text.to_lowercase().contains(&want.to_lowercase()),
                "{client:?} {creds:?} {path}: {text}"
            );
        } else {
            assert_ne!(
                rc, 0,
                "{client:?} {creds:?} {path}: handshake should fail: {text}"
            );
        }
    }
    // Plain HTTP on the TLS port is not answered.
    let (rc, status, text) = curl(&["-u", &good], srv.url());
    assert!(rc != 0 || status == 400, "plain http: {text}");
}

#[test]
fn optional_client_certificates_and_tls_version_bounds() {
    let Some(pki) = Pki::make("web_security::optional") else {
        return;
    };
    let (_srv, https) = server(&pki, "VerifyClientCertIfGiven");
    let good = format!("alice:{PASSWORD}");
    let mut paths = Vec::new();
    let mut args = cert_args(&pki, &mut paths, None);
    args.extend(["-u", &good]);
    let (rc, status, text) = curl(&args, &format!("{https}/-/healthy"));
    assert_eq!((rc, status), (0, 200), "{text}");
    // TLS 1.1 is never offered.
    let mut a2 = args.clone();
    a2.extend(["--tlsv1.1", "--tls-max", "1.1"]);
    let (rc, _, text) = curl(&a2, &format!("{https}/-/healthy"));
    assert_ne!(rc, 0, "TLS 1.1 accepted: {text}");
}

/// The subject of the certificate the server at `addr` presents (openssl s_client).
fn served_subject(addr: &str) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", addr, "-servername", "localhost"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-subject"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    x509.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let out = x509.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn certificates_users_and_client_auth_follow_the_file() {
    let Some(pki) = Pki::make("web_security::reload") else {
        return;
    };
    if Command::new("curl").arg("--version").output().is_err() {
        skip("web_security::reload", "curl not installed");
        return;
    }
    let (_srv, https) = server(&pki, "NoClientCert");
    let addr = https.trim_start_matches("https://").to_owned();
    let healthy = format!("{https}/-/healthy");
    let ask = |client: Option<&str>, creds: &str| {
        let mut paths = Vec::new();
        let mut args = cert_args(&pki, &mut paths, client);
        args.extend(["-u", creds]);
        let (rc, status, _) = curl(&args, &healthy);
        (rc, status)
    };
    let alice = format!("alice:{PASSWORD}");
    assert_eq!(ask(None, &alice), (0, 200));
    assert!(
        served_subject(&addr).contains("CN = server"),
        "{}",
        served_subject(&addr)
    );

    // Rotate the certificate in place: the next handshake presents the new one.
    crate::scrape_tls::issue(&pki, "rotated", "IP:127.0.0.1,DNS:localhost");
    for ext in ["key", "pem"] {
        std::fs::copy(
            pki.path(&format!("rotated.{ext}")),
            pki.path(&format!("server.{ext}")),
        )
        .unwrap();
    }
    let subject = served_subject(&addr);
    assert!(subject.contains("CN = rotated"), "{subject}");
    assert_eq!(
        ask(None, &alice),
        (0, 200),
        "the rotated certificate is trusted"
    );

    // Users change: alice is gone, bob is in.
    let web = pki.path("web.yml");
    let text = std::fs::read_to_string(&web).unwrap();
    let bob_hash = bcrypt::hash("bob pass", 4).unwrap();
    let alice_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("alice:"))
        .unwrap()
        .to_owned();
    let text = text.replace(&alice_line, &format!("  bob: {bob_hash}"));
    std::fs::write(&web, &text).unwrap();
    assert_eq!(ask(None, &alice), (0, 401));
    assert_eq!(ask(None, "bob:bob pass"), (0, 200));

    // Client certificates become required.
    let text = text.replace(
        "client_auth_type: NoClientCert",
        "client_auth_type: RequireAndVerifyClientCert",
    );
    std::fs::write(&web, &text).unwrap();
    assert_ne!(ask(None, "bob:bob pass").0, 0, "no client certificate");
    assert_eq!(ask(Some("client"), "bob:bob pass"), (0, 200));

    // A broken file refuses handshakes (nothing served with stale settings) until fixed.
    std::fs::write(&web, "tls_server_config: [broken\n").unwrap();
    assert_ne!(ask(Some("client"), "bob:bob pass").0, 0, "broken file");
    std::fs::write(&web, &text).unwrap();
    assert_eq!(ask(Some("client"), "bob:bob pass"), (0, 200));
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn real_prometheus_federates_over_tls_with_basic_auth() {
    let test = "web_security::real_prometheus";
    if !crate::prometheus::installed(test) {
        return;
    }
    let Some(pki) = Pki::make(test) else { return };
    let (_srv, https) = server(&pki, "RequireAndVerifyClientCert");
    let addr = https.trim_start_matches("https://").to_owned();
    let pw = write(pki.dir.path(), "pw", PASSWORD);
    let job = |name: &str, password_file: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    metrics_path: /federate\n    honor_labels: true\n    params:\n      'match[]': ['secured_metric']\n    basic_auth:\n      username: alice\n      password_file: {password_file}\n    tls_config:\n      ca_file: {ca}\n      cert_file: {cert}\n      key_file: {key}\n    static_configs:\n      - targets: ['{addr}']\n",
            ca = pki.path("ca.pem").display(),
            cert = pki.path("client.pem").display(),
            key = pki.path("client.key").display(),
        )
    };
    let bad_pw = write(pki.dir.path(), "badpw", "nope");
    let yaml = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{}{}",
        job("fed", &pw),
        job("fed_badpw", &bad_pw)
    );
    let port = free_port();
    let Some(mut prom) = Prometheus::start(test, port, &yaml, &[]) else {
        return;
    };
    prom.wait_scraped("fed", 30);
    // Prometheus's own /federate writes instance="" for a series without one.
    let got = prom.series(&["secured_metric"]);
    assert_eq!(
        got,
        vec!["secured_metric{job=\"app\",instance=\"\"}".to_owned()]
    );
    let body = String::from_utf8(prom.federate(&["secured_metric".to_owned()]).body).unwrap();
    assert!(body.contains("instance=\"\"} 42 "), "{body}");
    // The job with the wrong password is down.
    let body = crate::support::get(&format!("{}/api/v1/targets", prom.url()), &[]).text();
    assert!(body.contains("401 Unauthorized"), "{body}");
}
