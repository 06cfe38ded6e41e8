//! Aggregation corner cases from reading Prometheus's `promql/testdata/aggregators.test`:
//! topk/bottomk order with NaN, count_values overwriting a label, avg with infinities.

use super::*;

fn hr(instance: &str, group: &str, job: &str) -> Labels {
    named(
        "http_requests",
        &[("instance", instance), ("group", group), ("job", job)],
    )
}

fn store() -> MemStorage {
    let mut st = MemStorage::new();
    let t = 3000 * S;
    for (i, g, j, val) in [
        ("0", "production", "api-server", 100.0),
        ("1", "production", "api-server", 200.0),
        ("2", "production", "api-server", f64::NAN),
        ("0", "canary", "api-server", 300.0),
        ("1", "canary", "api-server", 400.0),
        ("0", "production", "app-server", 500.0),
        ("1", "production", "app-server", 600.0),
        ("0", "canary", "app-server", 700.0),
        ("1", "canary", "app-server", 800.0),
    ] {
        st.append(&hr(i, g, j), t, val);
    }
    for (i, g, j, val) in [
        ("0", "production", "api-server", 6.0),
        ("1", "production", "api-server", 6.0),
        ("0", "canary", "api-server", 8.0),
        ("0", "production", "app-server", 6.0),
        ("0", "canary", "app-server", 7.0),
    ] {
        st.append(
            &named("version", &[("instance", i), ("group", g), ("job", j)]),
            t,
            val,
        );
    }
    for (test, vals) in [
        ("inf", &[0.0, f64::INFINITY, f64::INFINITY, 0.0][..]),
        (
            "inf3",
            &[f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY][..],
        ),
        ("nan", &[f64::NEG_INFINITY, 0.0, f64::INFINITY][..]),
        ("big", &[9.98846567431158e307; 4][..]),
        (
            "bigzero",
            &[
                -9.98846567431158e307,
                -9.98846567431158e307,
                9.98846567431158e307,
                9.98846567431158e307,
            ][..],
        ),
    ] {
        for (k, x) in vals.iter().enumerate() {
            st.append(
                &named("data", &[("test", test), ("point", &k.to_string())]),
                t,
                *x,
            );
        }
    }
    st.finish();
    st
}

#[test]
fn topk_bottomk_order_and_nan() {
    let st = store();
    let t = 3000 * S;
    check!(
        instant(&st, &agg_p(AggOp::Topk, num(3.0), v("http_requests")), t),
        [
            r#"{__name__="http_requests", group="canary", instance="1", job="app-server"} 800"#,
            r#"{__name__="http_requests", group="canary", instance="0", job="app-server"} 700"#,
            r#"{__name__="http_requests", group="production", instance="1", job="app-server"} 600"#,
        ]
    );
    check!(
        instant(&st, &agg_p(AggOp::Bottomk, num(3.0), v("http_requests")), t),
        [
            r#"{__name__="http_requests", group="production", instance="0", job="api-server"} 100"#,
            r#"{__name__="http_requests", group="production", instance="1", job="api-server"} 200"#,
            r#"{__name__="http_requests", group="canary", instance="0", job="api-server"} 300"#,
        ]
    );
    let prod_api = || {
        vm(
            "http_requests",
            &[("job", "=", "api-server"), ("group", "=", "production")],
        )
    };
    for (op, k) in [(AggOp::Topk, 3.0), (AggOp::Topk, 9999999999.0)] {
        check!(
            instant(&st, &agg_p(op, num(k), prod_api()), t),
            [
                r#"{__name__="http_requests", group="production", instance="1", job="api-server"} 200"#,
                r#"{__name__="http_requests", group="production", instance="0", job="api-server"} 100"#,
                r#"{__name__="http_requests", group="production", instance="2", job="api-server"} NaN"#,
            ]
        );
    }
    check!(
        instant(&st, &agg_p(AggOp::Bottomk, num(3.0), prod_api()), t),
        [
            r#"{__name__="http_requests", group="production", instance="0", job="api-server"} 100"#,
            r#"{__name__="http_requests", group="production", instance="1", job="api-server"} 200"#,
            r#"{__name__="http_requests", group="production", instance="2", job="api-server"} NaN"#,
        ]
    );
}

#[test]
fn count_values_may_overwrite_a_label() {
    let st = store();
    let t = 3000 * S;
    let e = agg_full(
        AggOp::CountValues,
        Some(s("job")),
        v("version"),
        &["instance"],
        true,
    );
    check!(
        instant(&st, &e, t),
        [
            r#"{group="canary", job="8"} 1"#,
            r#"{group="canary", job="7"} 1"#,
            r#"{group="production", job="6"} 3"#,
        ]
    );
    let e = agg_full(
        AggOp::CountValues,
        Some(s("job")),
        v("version"),
        &["job", "group"],
        false,
    );
    check!(
        instant(&st, &e, t),
        [
            r#"{group="canary", job="8"} 1"#,
            r#"{group="canary", job="7"} 1"#,
            r#"{group="production", job="6"} 3"#,
        ]
    );
}

#[test]
fn avg_with_infinities_and_big_values() {
    let st = store();
    let t = 3000 * S;
    for (test, want) in [
        ("inf", "+Inf"),
        ("inf3", "NaN"),
        ("nan", "NaN"),
        ("big", "big"),
        ("bigzero", "0"),
    ] {
        let want = if want == "big" {
            fmt_v(9.98846567431158e307)
        } else {
            want.to_owned()
        };
        let e = agg(AggOp::Avg, vm("data", &[("test", "=", test)]));
        check!(instant(&st, &e, t), [format!("{{}} {want}")]);
    }
}
