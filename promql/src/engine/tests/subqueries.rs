//! Subquery step alignment, offsets and nesting, from reading Prometheus's
//! `promql/testdata/subquery.test`.

use super::*;

fn store() -> MemStorage {
    let mut st = MemStorage::new();
    st.add_series(named("metric", &[]), vec![(0, 1.0), (10 * S, 2.0)]);
    for (name, f) in [("metric1", 1.0), ("metric2", 2.0), ("metric3", 3.0)] {
        let samples = (0..=1000).map(|k| (k * 10 * S, k as f64 * f)).collect();
        st.add_series(named(name, &[]), samples);
    }
    st.finish();
    st
}

fn sot(e: Expr) -> Expr {
    call("sum_over_time", vec![e])
}

#[test]
fn alignment_and_lookback_inside_subqueries() {
    let st = store();
    let sq = |step| subq(v("metric"), 50 * S, Some(step));
    check!(instant(&st, &sot(sq(10 * S)), 10 * S), ["{} 3"]);
    check!(instant(&st, &sot(sq(5 * S)), 10 * S), ["{} 4"]);
    check!(instant(&st, &sot(sq(10 * S)), 300 * S), ["{} 12"]);
    check!(instant(&st, &sot(sq(10 * S)), 360 * S), ["{} 2"]);
    let e = call("rate", vec![subq(v("metric"), 20 * S, Some(10 * S))]);
    check!(instant(&st, &e, 10 * S), ["{} 0.1"]);
    let e = call("rate", vec![subq(v("metric"), 20 * S, Some(5 * S))]);
    check!(instant(&st, &e, 20 * S), ["{} 0.05"]);
}

#[test]
fn offsets_align_to_the_step() {
    let st = store();
    let sq = |step| subq(v("metric1"), 30 * S, Some(step));
    check!(instant(&st, &sot(sq(10 * S)), 1000 * S), ["{} 394"]);
    check!(instant(&st, &sot(sq(5 * S)), 1000 * S), ["{} 688"]);
    check!(
        instant(&st, &sot(offset(sq(10 * S), 10 * S)), 1010 * S),
        ["{} 394"]
    );
    for o in [9, 7, 5, 3] {
        check!(
            instant(&st, &sot(offset(sq(10 * S), o * S)), 1010 * S),
            ["{} 297"]
        );
    }
}

#[test]
fn nested_subqueries() {
    let st = store();
    for (m, want) in [("metric1", "0.4"), ("metric2", "0.8"), ("metric3", "1.2")] {
        let inner = sot(subq(v(m), 30 * S, Some(10 * S)));
        let e = call("rate", vec![subq(inner, 50 * S, Some(10 * S))]);
        check!(instant(&st, &e, 1000 * S), [format!("{{}} {want}")]);
    }
    let all = bin(
        BinOp::Add,
        bin(BinOp::Add, v("metric1"), v("metric2")),
        v("metric3"),
    );
    let inner = sot(subq(all, 30 * S, Some(10 * S)));
    let e = call("rate", vec![subq(inner, 30 * S, Some(10 * S))]);
    check!(instant(&st, &e, 1000 * S), ["{} 2.4"]);
}
