//! `@` and subqueries nested with `@` and offsets, from reading Prometheus's
//! `promql/testdata/at_modifier.test`: the window of every level is pinned by its own `@`.

use super::*;

/// `metric{job="1"}` = k and `metric{job="2"}` = 2k at 10k s (k = 0..1000); `metric_ms` = k
/// at k ms (k = 0..10000).
fn store() -> MemStorage {
    let mut st = MemStorage::new();
    for (job, f) in [("1", 1.0), ("2", 2.0)] {
        let samples = (0..=1000).map(|k| (k * 10 * S, k as f64 * f)).collect();
        st.add_series(named("metric", &[("job", job)]), samples);
    }
    st.add_series(
        named("metric_ms", &[]),
        (0..=10_000).map(|k| (k, k as f64)).collect(),
    );
    st.finish();
    st
}

fn job1() -> Expr {
    vm("metric", &[("job", "=", "1")])
}

fn at_s(e: Expr, secs: i64) -> Expr {
    at(e, AtModifier::Timestamp(secs * S))
}

fn sot(e: Expr) -> Expr {
    call("sum_over_time", vec![e])
}

#[test]
fn instant_selectors_with_at_and_offset() {
    let st = store();
    check!(
        instant(&st, &at_s(v("metric"), 100), 10 * S),
        [
            r#"{__name__="metric", job="1"} 10"#,
            r#"{__name__="metric", job="2"} 20"#,
        ]
    );
    check!(
        instant(&st, &offset(at_s(v("metric"), 100), 50 * S), 10 * S),
        [
            r#"{__name__="metric", job="1"} 5"#,
            r#"{__name__="metric", job="2"} 10"#,
        ]
    );
    check!(
        instant(&st, &offset(at_s(v("metric"), 0), -50 * S), 10 * S),
        [
            r#"{__name__="metric", job="1"} 5"#,
            r#"{__name__="metric", job="2"} 10"#,
        ]
    );
    check!(
        instant(&st, &neg(at_s(job1(), 100)), 10 * S),
        [r#"{job="1"} -10"#]
    );
    check!(
        instant(
            &st,
            &at(v("metric_ms"), AtModifier::Timestamp(1234)),
            100 * S
        ),
        [r#"{__name__="metric_ms"} 1234"#]
    );
}

#[test]
fn range_selectors_and_subqueries_with_at() {
    let st = store();
    check!(
        instant(&st, &sot(at_s(range(job1(), 100 * S), 100)), 25 * S),
        [r#"{job="1"} 55"#]
    );
    let e = sot(offset(at_s(range(job1(), 100 * S), 100), 50 * S));
    check!(instant(&st, &e, 25 * S), [r#"{job="1"} 15"#]);
    check!(
        instant(&st, &sot(at_s(subq(job1(), 100 * S, Some(S)), 100)), 25 * S),
        [r#"{job="1"} 460"#]
    );
    let e = sot(offset(at_s(subq(job1(), 100 * S, Some(S)), 100), 20 * S));
    check!(instant(&st, &e, 25 * S), [r#"{job="1"} 288"#]);
}

#[test]
fn nested_subqueries_each_pinned_by_their_at() {
    let st = store();
    let inner = sot(at_s(range(job1(), 100 * S), 100));
    let e = sot(at_s(subq(inner.clone(), 100 * S, Some(25 * S)), 50));
    check!(instant(&st, &e, 100 * S), [r#"{job="1"} 275"#]);
    let e = sot(at_s(subq(e, 3 * S, Some(S)), 3000));
    check!(instant(&st, &e, 0), [r#"{job="1"} 1100"#]);
    let ten = || sot(range(job1(), 10 * S));
    let e = sot(at_s(
        subq(
            sot(at_s(subq(ten(), 100 * S, Some(25 * S)), 50)),
            3 * S,
            Some(S),
        ),
        200,
    ));
    check!(instant(&st, &e, 0), [r#"{job="1"} 44"#]);
    let e = sot(at_s(
        subq(
            sot(at_s(subq(ten(), 100 * S, Some(25 * S)), 200)),
            3 * S,
            Some(S),
        ),
        50,
    ));
    check!(instant(&st, &e, 0), [r#"{job="1"} 464"#]);
    let twenty = sot(range(job1(), 20 * S));
    let mid = sot(offset(subq(twenty, 20 * S, Some(10 * S)), 10 * S));
    let e = sot(at_s(subq(mid, 100 * S, Some(25 * S)), 1000));
    check!(instant(&st, &e, 0), [r#"{job="1"} 3588"#]);
}

#[test]
fn time_functions_under_at() {
    let st = store();
    check!(
        instant(&st, &call("minute", vec![at_s(v("metric"), 1500)]), 10 * S),
        [r#"{job="1"} 2"#, r#"{job="2"} 5"#,]
    );
    check!(
        instant(&st, &call("timestamp", vec![at_s(job1(), 10)]), 600 * S),
        [r#"{job="1"} 10"#]
    );
    let tt = || call("timestamp", vec![call("timestamp", vec![at_s(job1(), 10)])]);
    check!(instant(&st, &tt(), 600 * S), [r#"{job="1"} 600"#]);
    check!(instant(&st, &tt(), 900 * S), [r#"{job="1"} 900"#]);
    let e = sot(subq(
        call("minute", vec![at_s(v("metric"), 1500)]),
        100 * S,
        Some(10 * S),
    ));
    check!(instant(&st, &e, 0), [r#"{job="1"} 22"#, r#"{job="2"} 55"#]);
    let minute_sq = || subq(call("minute", vec![]), 3000 * S, Some(60 * S));
    check!(instant(&st, &sot(at_s(minute_sq(), 6000)), 0), ["{} 1365"]);
    check!(
        instant(&st, &sot(offset(at_s(minute_sq(), 6000), 300 * S)), 0),
        ["{} 1410"]
    );
    let time_sq = || subq(call("vector", vec![call("time", vec![])]), 100 * S, Some(S));
    check!(instant(&st, &sot(at_s(time_sq(), 3000)), 0), ["{} 297950"]);
    check!(
        instant(&st, &sot(offset(at_s(time_sq(), 3000), 600 * S)), 0),
        ["{} 237350"]
    );
    let e = sot(at_s(
        subq(
            call("timestamp", vec![at_s(job1(), 10)]),
            100 * S,
            Some(10 * S),
        ),
        3000,
    ));
    check!(instant(&st, &e, 0), [r#"{job="1"} 110"#]);
    let e = call(
        "timestamp",
        vec![call("timestamp", vec![at_s(job1(), 999)])],
    );
    check!(
        instant(&st, &sot(at_s(subq(e, 10 * S, Some(S)), 10)), 0),
        [r#"{job="1"} 55"#]
    );
}
