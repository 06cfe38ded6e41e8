//! A query whose client disconnects stops (issue 10): actix-web does not drop the handler, so
//! the server watches the connection and raises the query's stop signal, which frees its
//! slot.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use fedstore::query::QueryService;
use fedstore_storage::Labels;

use crate::support::{Options, TestServer, enc, get};

const T0: i64 = 1_700_000_000_000;
const SERIES: usize = 2_000;
const SAMPLES: i64 = 250;

/// A server with one query slot, holding `SERIES` series of `SAMPLES` samples 1 s apart.
fn slow_server() -> TestServer {
    let srv = TestServer::start_with(Options {
        state: Some(Box::new(|state| {
            let opts = fedstore_promql::EngineOptions {
                timeout: Duration::from_secs(600),
                ..Default::default()
            };
            state.query = QueryService::new(opts, 1).with_queue(16, state.metrics.clone());
        })),
        ..Default::default()
    });
    let mut app = srv.head.appender();
    for t in 0..SAMPLES {
        for i in 0..SERIES {
            let l = Labels::from_pairs([("__name__", "slow"), ("i", i.to_string().as_str())]);
            app.append(&l, T0 + t * 1000, (t * i as i64 % 97) as f64)
                .unwrap();
        }
    }
    app.commit().unwrap();
    srv
}

/// A range query of `steps` steps, each sorting every series' samples: about 0.3 s per step
/// in a debug build (the engine checks its stop signal every 64 series, ~2 s here).
fn slow_query_path(steps: i64) -> String {
    let (start, end) = (T0 / 1000 + SAMPLES, T0 / 1000 + SAMPLES + steps - 1);
    format!(
        "/api/v1/query_range?query={}&start={start}&end={end}&step=1",
        enc("sum(quantile_over_time(0.5, slow[1h]))")
    )
}

fn abandoned(srv: &TestServer) -> f64 {
    let m = get(&format!("{}/metrics", srv.url()), &[]).text();
    m.lines()
        .find_map(|l| l.strip_prefix("fedstore_queries_abandoned_total "))
        .expect("fedstore_queries_abandoned_total on /metrics")
        .parse()
        .unwrap()
}

#[test]
fn a_query_whose_client_leaves_stops_and_frees_its_slot() {
    let srv = slow_server();
    // A client waiting quietly for a query of several probe periods is not taken for gone.
    let a = get(&format!("{}{}", srv.url(), slow_query_path(3)), &[]);
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(abandoned(&srv), 0.0);
    let addr = srv.url().trim_start_matches("http://").to_owned();
    let mut client = TcpStream::connect(&addr).unwrap();
    write!(
        client,
        "GET {} HTTP/1.1\r\nHost: {addr}\r\n\r\n",
        slow_query_path(200)
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(client);
    let t = Instant::now();
    while abandoned(&srv) < 1.0 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "disconnect never seen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(abandoned(&srv), 1.0);
    // The only slot comes free once the walk sees the stop; a query left running would hold
    // it for far longer than this query may wait.
    let (status, body) = {
        let a = get(
            &format!(
                "{}/api/v1/query?query={}&time={}&timeout=30s",
                srv.url(),
                enc("count(slow)"),
                T0 / 1000 + SAMPLES
            ),
            &[],
        );
        (a.status, a.text())
    };
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("\"{SERIES}\"")), "{body}");
}
