//! Scrapes over https and through a proxy, against fedstore itself served with a web config
//! (TLS, client certificates, basic auth): CA verification, `server_name`,
//! `insecure_skip_verify`, client certificates, a wrong CA and a name mismatch failing with
//! Prometheus's `lastError` wording, `proxy_url` as CONNECT (https) and absolute-URI (http).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;

use fedstore::web_config::WebConfig;
use parking_lot::Mutex;

use crate::scrape::ScrapeServer;
use crate::support::{Options, TestServer, get};
use crate::web_security::Pki;

const PASSWORD: &str = "tls pass";

/// Issues `<name>.pem`/`<name>.key` (subject `CN=<name>`) from the test CA with `san` as
/// subjectAltName.
pub(crate) fn issue(pki: &Pki, name: &str, san: &str) {
    let dir = pki.path("");
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let pem = format!("{name}.pem");
    let ext = format!("{name}.ext");
    std::fs::write(
        pki.path(&ext),
        format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &key,
    ]);
    run(&[
        "req",
        "-new",
        "-key",
        &key,
        "-subj",
        &format!("/CN={name}"),
        "-out",
        &csr,
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &ext,
        "-out",
        &pem,
    ]);
}

/// A fedstore served over TLS with `cert` and, when `client_auth`, client certificates
/// required and user `alice` needed.
fn tls_server(pki: &Pki, cert: &str, client_auth: bool) -> (TestServer, String) {
    let mut yaml = format!("tls_server_config:\n  cert_file: {cert}.pem\n  key_file: {cert}.key\n");
    if client_auth {
        let hash = bcrypt::hash(PASSWORD, 4).unwrap();
        yaml.push_str(&format!(
            "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\nbasic_auth_users:\n  alice: {hash}\n"
        ));
    }
    let file = pki.path(&format!("web-{cert}.yml"));
    std::fs::write(&file, yaml).unwrap();
    let wc = Arc::new(WebConfig::load(&file).unwrap());
    let srv = TestServer::start_with(Options {
        state: Some(Box::new(move |s: &mut fedstore::server::AppState| {
            s.web_config = Some(wc)
        })),
        ..Options::default()
    });
    let addr = srv.url().trim_start_matches("http://").to_owned();
    (srv, addr)
}

/// A forwarding proxy: `CONNECT host:port` tunnels, absolute-URI requests (with their body)
/// are forwarded in origin form. Records each request line it received. Also used by the
/// remote-write sender's test (tests/it/remote_write_sender.rs).
pub(crate) struct Proxy {
    pub(crate) addr: String,
    pub(crate) seen: Arc<Mutex<Vec<String>>>,
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 << 10];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

impl Proxy {
    pub(crate) fn start() -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            while let Ok((c, _)) = l.accept() {
                let s = s.clone();
                std::thread::spawn(move || serve_proxy(c, &s));
            }
        });
        Proxy { addr, seen }
    }
}

fn serve_proxy(client: TcpStream, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let end = line == "\r\n";
        head.push(line);
        if end {
            break;
        }
    }
    let request_line = head[0].trim_end().to_owned();
    seen.lock().push(request_line.clone());
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut client = client;
    if method == "CONNECT" {
        let Ok(up) = TcpStream::connect(target) else {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
            return;
        };
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .unwrap();
        pipe(up.try_clone().unwrap(), client.try_clone().unwrap());
        pipe(client, up);
        return;
    }
    // Absolute URI: http://host:port/path -> origin form to host:port.
    let rest = target.strip_prefix("http://").unwrap_or(target);
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Ok(mut up) = TcpStream::connect(host) else {
        return;
    };
    // One request per connection here: the target is asked to close after it, which the
    // scrape client sees as a connection to open afresh next time.
    let mut out = format!("{method} {path} HTTP/1.1\r\n");
    for h in &head[1..head.len() - 1] {
        let lower = h.to_ascii_lowercase();
        if lower.starts_with("proxy-authorization:") {
            seen.lock().push(format!("proxy auth {}", h.trim_end()));
        } else if !lower.starts_with("connection:") {
            out.push_str(h);
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    up.write_all(out.as_bytes()).unwrap();
    // What the reader already holds of a body, then the rest as it comes.
    up.write_all(reader.buffer()).unwrap();
    pipe(client.try_clone().unwrap(), up.try_clone().unwrap());
    pipe(up, client);
}

/// The active target of `job` in `/api/v1/targets`.
fn target(srv: &ScrapeServer, job: &str) -> serde_json::Value {
    let a = get(&format!("{}/api/v1/targets", srv.url()), &[]);
    assert_eq!(a.status, 200);
    let v: serde_json::Value = serde_json::from_str(&a.text()).unwrap();
    v["data"]["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["labels"]["job"] == job)
        .unwrap_or_else(|| panic!("no target for job {job}"))
        .clone()
}

/// Waits until `job`'s target has been scraped with `health` and returns
/// (health, lastError, scrapeUrl) (the last seen when it never gets there).
fn scraped(srv: &ScrapeServer, job: &str, health: &str) -> (String, String, String) {
    // The first scrapes of a busy debug build may time out: give the target a few.
    let mut last = None;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let t = target(srv, job);
        last = (t["health"] != "unknown").then(|| {
            (
                t["health"].as_str().unwrap().to_owned(),
                t["lastError"].as_str().unwrap().to_owned(),
                t["scrapeUrl"].as_str().unwrap().to_owned(),
            )
        });
        if last.as_ref().is_some_and(|l| l.0 == health) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    last.unwrap_or_else(|| panic!("{job} never scraped"))
}

#[test]
fn https_scrapes_verify_the_server_and_present_client_certificates() {
    let Some(pki) = Pki::make("scrape_tls::https") else {
        return;
    };
    issue(&pki, "named", "DNS:fed.example");
    let (_secure, a) = tls_server(&pki, "server", true);
    let (_named, b) = tls_server(&pki, "named", false);
    let plain = TestServer::start();
    let c = plain.url().trim_start_matches("http://").to_owned();
    let proxy = Proxy::start();
    let p = |n: &str| pki.path(n).display().to_string();
    let (ca, rogue, cert, key) = (
        p("ca.pem"),
        p("rogue.pem"),
        p("client.pem"),
        p("client.key"),
    );
    let auth = format!("    basic_auth: {{username: alice, password: '{PASSWORD}'}}\n");
    let client = format!("cert_file: {cert}, key_file: {key}");
    let job = |name: &str, target: &str, extra: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n{extra}    static_configs:\n      - targets: ['{target}']\n"
        )
    };
    let jobs = [
        job(
            "verified",
            &a,
            &format!("{auth}    tls_config: {{ca_file: {ca}, {client}, min_version: TLS12}}\n"),
        ),
        job(
            "no_client_cert",
            &a,
            &format!("{auth}    tls_config: {{ca_file: {ca}}}\n"),
        ),
        job(
            "wrong_ca",
            &a,
            &format!("{auth}    tls_config: {{ca_file: {rogue}, {client}}}\n"),
        ),
        job(
            "insecure",
            &a,
            &format!("{auth}    tls_config: {{insecure_skip_verify: true, {client}}}\n"),
        ),
        job(
            "server_name",
            &b,
            &format!("    tls_config: {{ca_file: {ca}, server_name: fed.example}}\n"),
        ),
        job(
            "ip_without_san",
            &b,
            &format!("    tls_config: {{ca_file: {ca}}}\n"),
        ),
        job(
            "name_mismatch",
            &b,
            &format!("    tls_config: {{ca_file: {ca}, server_name: other.example}}\n"),
        ),
        job(
            "tls13_only",
            &a,
            &format!(
                "{auth}    tls_config: {{ca_file: {ca}, {client}, min_version: TLS13, max_version: TLS13}}\n"
            ),
        ),
        job(
            "via_connect",
            &a,
            &format!(
                "{auth}    proxy_url: http://{}\n    tls_config: {{ca_file: {ca}, {client}}}\n",
                proxy.addr
            ),
        ),
        format!(
            "  - job_name: via_forward\n    proxy_url: http://u:pw@{}\n    static_configs:\n      - targets: ['{c}']\n",
            proxy.addr
        ),
    ];
    let yaml = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{}",
        jobs.concat()
    );
    let srv = ScrapeServer::start(&yaml);
    let url = |host: &str| format!("https://{host}/metrics");
    let ok = |job: &str, host: &str| {
        let (health, err, scrape_url) = scraped(&srv, job, "up");
        assert_eq!((health.as_str(), err.as_str()), ("up", ""), "{job}");
        assert_eq!(scrape_url, url(host), "{job}");
    };
    ok("verified", &a);
    ok("insecure", &a);
    ok("server_name", &b);
    ok("tls13_only", &a);
    ok("via_connect", &a);
    let down = |job: &str, host: &str, cause: &str| {
        let (health, err, _) = scraped(&srv, job, "down");
        assert_eq!(health, "down", "{job}: {err}");
        assert_eq!(err, format!("Get \"{}\": {cause}", url(host)), "{job}");
    };
    down(
        "wrong_ca",
        &a,
        "x509: certificate signed by unknown authority",
    );
    down(
        "ip_without_san",
        &b,
        "x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs",
    );
    down(
        "name_mismatch",
        &b,
        "x509: certificate is valid for fed.example, not other.example",
    );
    // The server refuses the handshake without a client certificate; with TLS 1.3 the
    // client learns it on its first read, as Go's `remote error: tls: ...`.
    let (health, err, _) = scraped(&srv, "no_client_cert", "down");
    assert_eq!(health, "down");
    assert!(
        err.starts_with(&format!("Get \"{}\": remote error: tls: ", url(&a))),
        "{err}"
    );
    let (health, err, scrape_url) = scraped(&srv, "via_forward", "up");
    assert_eq!((health.as_str(), err.as_str()), ("up", ""));
    assert_eq!(scrape_url, format!("http://{c}/metrics"));
    let seen = proxy.seen.lock().clone();
    assert!(seen.contains(&format!("CONNECT {a} HTTP/1.1")), "{seen:?}");
    assert!(
        seen.contains(&format!("GET http://{c}/metrics HTTP/1.1")),
        "{seen:?}"
    );
    // base64("u:pw")
    assert!(
        seen.contains(&"proxy auth Proxy-Authorization: Basic dTpwdw==".to_owned()),
        "{seen:?}"
    );
    // The verified scrape stored the target's own series.
    let body = get(
        &format!(
            "{}/federate?match[]={}",
            srv.url(),
            crate::support::enc("up{job=\"verified\"}")
        ),
        &[],
    )
    .text();
    assert!(body.contains("up{instance=\""), "{body}");
    assert!(body.contains("\"} 1 "), "{body}");
}
