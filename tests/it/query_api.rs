//! The query side of the HTTP API: the test server's storage and, as they land, the
//! `/api/v1/*` query endpoints checked against Prometheus 2.42's answers.

use crate::support::{TestServer, post, wall_ms};

/// The in-process server opens its storage as `fedstore serve` does: imported samples go
/// through the WAL, and the database answers range selects over them.
#[test]
fn test_server_storage_is_the_serve_database() {
    let srv = TestServer::start();
    let now = wall_ms();
    let body = format!("up{{job=\"a\"}} 1 {now}\nup{{job=\"b\"}} 0 {now}\n");
    let a = post(
        &format!("{}/api/v1/import/prometheus", srv.url()),
        "text/plain",
        body.as_bytes(),
    );
    assert_eq!(a.status, 204, "{}", a.text());
    let wal = srv
        .db
        .head()
        .wal_stats()
        .expect("the test server has a WAL");
    assert!(wal.bytes_written > 0, "{wal:?}");
    let sets = vec![fedstore_promql::parse_selector("up").unwrap()];
    let got = srv.db.select_range(&sets, now - 1000, now + 1000).unwrap();
    let jobs: Vec<&str> = got.iter().map(|s| s.labels.get("job")).collect();
    assert_eq!(jobs, ["a", "b"]);
}
