//! Test harness: a real fedstore server on a loopback port, and HTTP helpers.

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use fedstore::config::ExternalLabels;
use fedstore::server::{self, AppState, StorageOptions};
use fedstore_storage::{Db, Head};

/// Records that `test` could not run on this machine and why (`target/test-skips.log`,
/// listed by `make test`).
pub use fedstore_tools::skips::skip;

/// A free loopback port in `base..base + 100` (each test module that starts its own binaries
/// owns one such range, so parallel tests do not collide).
pub fn free_port_in(base: u16) -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    for _ in 0..100 {
        let p = base + (NEXT.fetch_add(1, Ordering::SeqCst) + std::process::id() as u16) % 100;
        if TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
    panic!("no free port in {base}-{}", base + 99);
}

/// A server on `127.0.0.1:<free port>`, stopped on drop.
pub struct TestServer {
    url: String,
    /// The head the server serves (tests may append directly).
    pub head: Arc<Head>,
    /// The database (head and blocks) the server answers queries from.
    pub db: Arc<Db>,
    /// "Now" as the server sees it, in ms; tests move it.
    pub now_ms: Arc<AtomicI64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

/// Changes made to the server state before it starts.
pub type StateAdjust = Box<dyn FnOnce(&mut AppState) + Send>;

/// Options for [`TestServer::start_with`].
#[derive(Default)]
pub struct Options {
    /// `global.external_labels`.
    pub external_labels: Vec<(String, String)>,
    /// Fixed "now" in ms; None means the wall clock at start.
    pub now_ms: Option<i64>,
    /// Remote-read limits; None means the defaults.
    pub remote_read: Option<fedstore::remote::read::ReadLimits>,
    /// Adjusts the storage options (data in a temporary directory) before opening.
    pub storage: Option<fn(&mut StorageOptions)>,
    /// Adjusts the server state (limits, ...) just before the server starts.
    pub state: Option<StateAdjust>,
    /// Engine settings (`--query.*`); `None`: the defaults.
    pub engine: Option<fedstore_promql::EngineOptions>,
}

/// Opens storage in `dir` exactly as `fedstore serve` does (WAL, blocks, compaction).
pub fn open_db(dir: &std::path::Path, adjust: Option<fn(&mut StorageOptions)>) -> Arc<Db> {
    let mut opts = StorageOptions::new(dir.join("data"));
    if let Some(f) = adjust {
        f(&mut opts);
    }
    server::open_storage(&opts).unwrap()
}

impl TestServer {
    /// Starts a server with default options.
    pub fn start() -> TestServer {
        Self::start_with(Options::default())
    }

    /// Starts a server.
    pub fn start_with(opts: Options) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let db = open_db(dir.path(), opts.storage);
        let head = db.head().clone();
        let now_ms = Arc::new(AtomicI64::new(opts.now_ms.unwrap_or_else(wall_ms)));
        let mut state = AppState::new(db.clone());
        if let Some(engine) = opts.engine {
            state.query = fedstore::query::QueryService::new(engine, 4);
        }
        state.external_labels =
            parking_lot::RwLock::new(Arc::new(ExternalLabels::new(&opts.external_labels)));
        if let Some(limits) = opts.remote_read {
            state.remote_read = Arc::new(fedstore::remote::read::RemoteRead::new(
                Arc::new(fedstore::query::storage::DbQueryable::new(db.clone())),
                limits,
            ));
        }
        let clock_now = now_ms.clone();
        state.clock = Arc::new(move || clock_now.load(Ordering::SeqCst));
        if let Some(f) = opts.state {
            f(&mut state);
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let state = Arc::new(state);
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new()
                .block_on(server::run(listener, state, async {
                    let _ = stop_rx.await;
                }))
                .unwrap();
        });
        TestServer {
            url,
            head,
            db,
            now_ms,
            stop: Some(stop_tx),
            thread: Some(thread),
            _dir: dir,
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:12345`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Milliseconds since the epoch.
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// An HTTP answer.
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Header `Content-Type`.
    pub content_type: String,
    /// Header `Content-Encoding`.
    pub content_encoding: String,
    /// Raw body bytes (not decompressed).
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn answer(resp: ureq::http::Response<ureq::Body>) -> Answer {
    let status = resp.status().as_u16();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let content_type = header("content-type");
    let content_encoding = header("content-encoding");
    let mut body = Vec::new();
    resp.into_body()
        .into_reader()
        .read_to_end(&mut body)
        .unwrap();
    Answer {
        status,
        content_type,
        content_encoding,
        body,
    }
}

/// Whether `GET <base>/-/ready` answers 200 now. A connection error counts as "not yet": while
/// the head opens a start-up server answers on the socket and hands it over when done, and a
/// connection caught in the hand-over is closed.
pub fn is_ready(base: &str) -> bool {
    agent()
        .get(&format!("{base}/-/ready"))
        .call()
        .is_ok_and(|r| r.status().as_u16() == 200)
}

/// `GET url` with optional extra headers.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    answer(req.call().unwrap())
}

/// `POST url` with a body and content type.
pub fn post(url: &str, content_type: &str, body: &[u8]) -> Answer {
    answer(
        agent()
            .post(url)
            .header("Content-Type", content_type)
            .send(body)
            .unwrap(),
    )
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `GET /federate` with these `match[]` values.
pub fn federate(srv: &TestServer, matches: &[&str]) -> Answer {
    let q: Vec<String> = matches
        .iter()
        .map(|m| format!("match[]={}", enc(m)))
        .collect();
    get(&format!("{}/federate?{}", srv.url(), q.join("&")), &[])
}

/// Decompresses a (possibly multi-member) gzip body.
pub fn gunzip(data: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_string(&mut out)
        .unwrap();
    out
}

/// Asserts two texts are equal, printing the first differing line with its number.
#[track_caller]
pub fn assert_text_eq(got: &str, want: &str, what: &str) {
    if got == want {
        return;
    }
    let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    let i = g
        .iter()
        .zip(&w)
        .position(|(a, b)| a != b)
        .unwrap_or(g.len().min(w.len()));
    panic!(
        "{what}: texts differ at line {}\n  got:  {:?}\n  want: {:?}\n--- got ({} lines)\n{}\n--- want ({} lines)\n{}",
        i + 1,
        g.get(i),
        w.get(i),
        g.len(),
        got,
        w.len(),
        want
    );
}
