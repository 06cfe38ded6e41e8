//! `--storage.read-nice`: the threads that serve reads (federate rendering, queries, remote
//! read) run that many nice steps below the rest of the server; ingest and the HTTP workers
//! do not.

use std::time::{Duration, Instant};

use crate::serve::Serve;

/// `(thread name, nice value)` of every thread of `pid`, from `/proc/<pid>/task/*/stat`.
fn thread_nices(pid: u32) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue; // the thread ended meanwhile
        };
        let (open, close) = (stat.find('(').unwrap(), stat.rfind(')').unwrap());
        // After the name: state is field 3, nice field 19.
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        out.push((
            stat[open + 1..close].to_owned(),
            fields[16].parse().unwrap(),
        ));
    }
    out
}

/// Whether every thread named `<pool>-<i>` of `threads` has nice `want`, and there is one.
fn pool_at(threads: &[(String, i32)], pool: &str, want: i32) -> bool {
    let prefix = format!("{pool}-");
    let mut of_pool = threads
        .iter()
        .filter(|(n, _)| {
            n.strip_prefix(&prefix)
                .is_some_and(|i| i.parse::<u32>().is_ok())
        })
        .peekable();
    of_pool.peek().is_some() && of_pool.all(|&(_, nice)| nice == want)
}

#[test]
fn read_pools_run_below_ingest_and_http_by_the_flag() {
    for (args, steps) in [
        (vec![], 10), // the default
        (vec!["--storage.read-nice=3"], 3),
        (vec!["--storage.read-nice=0"], 0),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let srv = Serve::start(&dir.path().join("data"), &args);
        // The main thread's own nice is the base (the test may itself run niced).
        let base = thread_nices(srv.pid())
            .first()
            .map(|&(_, n)| n)
            .expect("main thread");
        let read = (base + steps).min(19);
        // Start-up builds some pools twice (defaults, then the flags); the first set's
        // threads exit when their handles drop, so allow them a moment to go.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let threads = thread_nices(srv.pid());
            let ok = ["render", "query", "remote-read"]
                .iter()
                .all(|p| pool_at(&threads, p, read))
                && pool_at(&threads, "ingest", base)
                && threads
                    .iter()
                    .filter(|(n, _)| n.starts_with("actix-rt"))
                    .all(|&(_, nice)| nice == base);
            if ok {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "args {args:?}: want read pools at {read}, the rest at {base}: {threads:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        srv.stop();
    }
}

#[test]
fn a_read_nice_outside_0_to_19_is_refused_naming_the_flag() {
    for bad in ["-3", "20"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fedstore"))
            .args(["serve", &format!("--storage.read-nice={bad}")])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad} accepted");
        assert!(
            err.contains("--storage.read-nice") && err.contains("0..=19"),
            "{bad}: {err}"
        );
    }
}
