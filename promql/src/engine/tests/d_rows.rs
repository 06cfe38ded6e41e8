//! The evaluation rows of `prometheus-api.md` §8 (verified against Prometheus 2.42), one test
//! per row or group of rows; the row number is in the test name.

use super::*;

#[test]
fn row01_selector_sorted_by_labels_and_stamped_with_t() {
    let st = dataset_d();
    check!(
        instant(&st, &v("ord"), 100_500),
        [
            r#"{__name__="ord", k="a"} 2"#,
            r#"{__name__="ord", k="m"} 3"#,
            r#"{__name__="ord", k="z"} 1"#,
        ]
    );
    let Value::Vector(s) = engine().instant(&st, &v("ord"), 100_500).unwrap() else {
        panic!()
    };
    assert!(s.iter().all(|x| x.t_ms == 100_500));
}

#[test]
fn row02_uppercase_names_sort_before_metric_name() {
    let st = dataset_d();
    check!(
        instant(&st, &v("up_l"), 100 * S),
        [
            r#"{Zz="a", __name__="up_l"} 1"#,
            r#"{__name__="up_l", aa="a"} 2"#,
        ]
    );
}

#[test]
fn row03_instant_range_selector_gives_raw_samples() {
    let st = dataset_d();
    check!(
        instant(&st, &range(v("ms"), 1000), 100_500),
        [r#"{__name__="ms"} 100.001:1 100.020:2 100.300:3"#]
    );
}

#[test]
fn row05_scalar_and_vector_literals() {
    let st = dataset_d();
    check!(
        instant(&st, &num(1e21), 100_500),
        ["1000000000000000000000"]
    );
    check!(
        instant(&st, &call("vector", vec![num(1e21)]), 100_500),
        ["{} 1000000000000000000000"]
    );
    check!(instant(&st, &s("hello"), 100_500), ["hello"]);
}

#[test]
fn row07_time() {
    let st = dataset_d();
    check!(instant(&st, &call("time", vec![]), 100_001), ["100.001"]);
}

#[test]
fn row08_lookback_window_closed() {
    let st = dataset_d();
    check!(instant(&st, &v("lb"), 400 * S), [r#"{__name__="lb"} 7"#]);
    check!(instant(&st, &v("lb"), 400_001), []);
}

#[test]
fn row09_staleness_marker_hides_older_samples() {
    let st = dataset_d();
    check!(instant(&st, &v("st"), 115 * S), [r#"{__name__="st"} 2"#]);
    check!(instant(&st, &v("st"), 120 * S), []);
    check!(instant(&st, &v("st"), 125 * S), []);
    check!(instant(&st, &v("st"), 200 * S), [r#"{__name__="st"} 3"#]);
    check!(instant(&st, &v("st"), 500 * S), [r#"{__name__="st"} 3"#]);
}

#[test]
fn row10_11_12_range_windows_offset_and_at() {
    let st = dataset_d();
    check!(
        instant(
            &st,
            &call("count_over_time", vec![range(v("b"), 20 * S)]),
            120 * S
        ),
        ["{} 3"]
    );
    check!(
        instant(&st, &offset(range(v("b"), 20 * S), 10 * S), 120 * S),
        [r#"{__name__="b"} 100:0 110:1"#]
    );
    check!(
        instant(
            &st,
            &at(range(v("b"), 20 * S), AtModifier::Timestamp(130 * S)),
            120 * S
        ),
        [r#"{__name__="b"} 110:1 120:2 130:3"#]
    );
    check!(
        instant(&st, &at(v("b"), AtModifier::Timestamp(130 * S)), 120 * S),
        [r#"{__name__="b"} 3"#]
    );
}

#[test]
fn row13_timestamp_of_selector_is_sample_time() {
    let st = dataset_d();
    check!(
        instant(
            &st,
            &call("timestamp", vec![offset(v("st"), 10 * S)]),
            125 * S
        ),
        ["{} 110"]
    );
    check!(
        instant(
            &st,
            &call("timestamp", vec![agg(AggOp::Sum, v("cpu"))]),
            150_500
        ),
        ["{} 150.5"]
    );
    check!(
        instant(
            &st,
            &call("timestamp", vec![vm("cpu", &[("host", "=", "h1")])]),
            150_500
        ),
        [r#"{env="prod", host="h1"} 100"#]
    );
    check!(
        instant(
            &st,
            &call(
                "timestamp",
                vec![at(v("sq"), AtModifier::Timestamp(50 * S))]
            ),
            100 * S
        ),
        ["{} 50"]
    );
}

#[test]
fn row14_to_18_extrapolated_rate() {
    let st = dataset_d();
    let c3 = || v("c3");
    check!(
        instant(&st, &call("rate", vec![range(c3(), 10 * S)]), 40 * S),
        [r#"{i="3", job="j"} 1"#]
    );
    check!(
        instant(&st, &call("rate", vec![range(c3(), 15 * S)]), 40 * S),
        [r#"{i="3", job="j"} 0.7333333333333334"#]
    );
    check!(
        instant(&st, &call("increase", vec![range(c3(), 60 * S)]), 60 * S),
        [r#"{i="3", job="j"} 16"#]
    );
    check!(
        instant(&st, &call("rate", vec![range(c3(), 60 * S)]), 60 * S),
        [r#"{i="3", job="j"} 0.26666666666666666"#]
    );
    check!(
        instant(&st, &call("increase", vec![range(v("c4"), 60 * S)]), 60 * S),
        ["{} 23"]
    );
    check!(
        instant(
            &st,
            &call("increase", vec![range(v("c1"), 100 * S)]),
            100 * S
        ),
        [r#"{i="1", job="j"} 94.44444444444444"#]
    );
    check!(
        instant(&st, &call("rate", vec![range(v("c1"), 100 * S)]), 100 * S),
        [r#"{i="1", job="j"} 0.9444444444444445"#]
    );
}

#[test]
fn row19_20_irate_idelta_resets_changes_delta() {
    let st = dataset_d();
    let c1 = || range(v("c1"), 100 * S);
    for (f, want) in [
        ("irate", "1"),
        ("idelta", "10"),
        ("resets", "1"),
        ("changes", "9"),
    ] {
        check!(
            instant(&st, &call(f, vec![c1()]), 100 * S),
            [format!(r#"{{i="1", job="j"}} {want}"#)]
        );
    }
    check!(
        instant(&st, &call("delta", vec![range(v("c2"), 50 * S)]), 55 * S),
        [r#"{i="2", job="j"} 5"#]
    );
    check!(
        instant(&st, &call("resets", vec![range(v("lb"), 60 * S)]), 100 * S),
        ["{} 0"]
    );
}

#[test]
fn row21_22_deriv_predict_linear_holt_winters() {
    let st = dataset_d();
    let lin = |r| range(v("lin"), r);
    check!(
        instant(
            &st,
            &call("predict_linear", vec![lin(120 * S), num(60.0)]),
            60 * S
        ),
        ["{} 245.42857142857144"]
    );
    check!(
        instant(
            &st,
            &call("predict_linear", vec![lin(60 * S), num(0.0)]),
            60 * S
        ),
        ["{} 125.42857142857143"]
    );
    check!(
        instant(&st, &call("deriv", vec![lin(120 * S)]), 60 * S),
        ["{} 2"]
    );
    check!(
        instant(
            &st,
            &call("holt_winters", vec![lin(120 * S), num(0.5), num(0.5)]),
            60 * S
        ),
        ["{} 125.45703125"]
    );
    assert_eq!(
        err_of(
            &st,
            &call("holt_winters", vec![lin(120 * S), num(1.0), num(0.5)]),
            60 * S
        ),
        EvalError::Execution(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000".into()
        )
    );
}

#[test]
fn row23_quantile_and_stddev_over_time() {
    let st = dataset_d();
    let b = || range(v("b"), 50 * S);
    check!(
        instant(
            &st,
            &call("quantile_over_time", vec![num(0.25), b()]),
            150 * S
        ),
        ["{} 1.25"]
    );
    check!(
        instant(&st, &call("stddev_over_time", vec![b()]), 150 * S),
        ["{} 1.707825127659933"]
    );
    check!(
        instant(&st, &call("stdvar_over_time", vec![b()]), 150 * S),
        ["{} 2.9166666666666665"]
    );
}

#[test]
fn row24_absent_labels() {
    let st = dataset_d();
    let e = call(
        "absent",
        vec![vm(
            "nonexistent",
            &[("job", "=", "x"), ("a", "=~", "y"), ("b", "=", "c")],
        )],
    );
    check!(instant(&st, &e, 100 * S), [r#"{b="c", job="x"} 1"#]);
    let e = call(
        "absent_over_time",
        vec![range(
            vm(
                "nonexistent",
                &[("job", "=", "x"), ("a", "=~", "y"), ("job", "=", "z")],
            ),
            50 * S,
        )],
    );
    check!(instant(&st, &e, 100 * S), ["{} 1"]);
    check!(
        instant(
            &st,
            &call("absent", vec![agg(AggOp::Sum, v("nonexistent"))]),
            100 * S
        ),
        ["{} 1"]
    );
    check!(instant(&st, &call("absent", vec![v("mem")]), 100 * S), []);
}

#[test]
fn row25_to_28_aggregations() {
    let st = dataset_d();
    check!(
        instant(&st, &agg(AggOp::Sum, v("mem")), 100 * S),
        ["{} NaN"]
    );
    check!(instant(&st, &agg(AggOp::Max, v("mem")), 100 * S), ["{} 30"]);
    check!(
        instant(&st, &agg_by(AggOp::Min, &["env"], v("mem")), 100 * S),
        [r#"{env="dev"} 30"#, r#"{env="prod"} 10"#,]
    );
    check!(
        instant(&st, &agg(AggOp::Avg, v("prec")), 100 * S),
        ["{} 0.25"]
    );
    check!(instant(&st, &agg(AggOp::Sum, v("prec")), 100 * S), ["{} 2"]);
    check!(
        instant(&st, &agg_p(AggOp::Quantile, num(0.5), v("mem")), 100 * S),
        ["{} 15"]
    );
    check!(
        instant(&st, &agg_p(AggOp::Quantile, num(1.5), v("qv")), 100 * S),
        ["{} +Inf"]
    );
    check!(
        instant(&st, &agg(AggOp::Stddev, v("qv")), 100 * S),
        ["{} 3.1622776601683795"]
    );
    check!(
        instant(&st, &agg(AggOp::Stdvar, v("qv")), 100 * S),
        ["{} 10"]
    );
}

#[test]
fn row29_30_count_values() {
    let st = dataset_d();
    check!(
        instant(&st, &agg_p(AggOp::CountValues, s("v"), v("mem")), 100 * S),
        [
            r#"{v="30"} 1"#,
            r#"{v="NaN"} 1"#,
            r#"{v="10"} 1"#,
            r#"{v="20"} 1"#,
        ]
    );
    let e = agg_p(
        AggOp::CountValues,
        s("v"),
        vm("fmt", &[("k", "=~", "big|tiny|negzero")]),
    );
    check!(
        instant(&st, &e, 100 * S),
        [
            r#"{v="1000000000000000000000"} 1"#,
            r#"{v="-0"} 1"#,
            r#"{v="0.0000001"} 1"#,
        ]
    );
    assert_eq!(
        err_of(
            &st,
            &agg_p(AggOp::CountValues, s("1bad"), v("mem")),
            100 * S
        ),
        EvalError::Execution(r#"invalid label name "1bad""#.into())
    );
}

#[test]
fn row31_32_33_topk_and_sort_desc() {
    let st = dataset_d();
    check!(
        instant(&st, &agg_p(AggOp::Topk, num(2.0), v("mem")), 100 * S),
        [
            r#"{__name__="mem", env="dev", host="h3", job="x"} 30"#,
            r#"{__name__="mem", env="prod", host="h2", job="x"} 20"#,
        ]
    );
    check!(
        instant(&st, &agg_p(AggOp::Topk, num(2.9), v("qv")), 100 * S),
        [
            r#"{__name__="qv", i="5"} 10"#,
            r#"{__name__="qv", i="4"} 4"#,
        ]
    );
    assert_eq!(
        err_of(&st, &agg_p(AggOp::Topk, num(f64::NAN), v("qv")), 100 * S),
        EvalError::Execution("Scalar value NaN overflows int64".into())
    );
    let got: Vec<String> = instant(&st, &call("sort_desc", vec![v("mem")]), 100 * S)
        .iter()
        .map(|x| x.rsplit(' ').next().unwrap_or_default().to_owned())
        .collect();
    check!(got, ["30", "20", "10", "NaN"]);
}

#[test]
fn row34_to_38_vector_matching() {
    let st = dataset_d();
    use Cardinality::*;
    let e = bin_on(
        BinOp::Mul,
        v("mem"),
        v("info"),
        true,
        &["host"],
        ManyToOne,
        &["owner"],
    );
    check!(
        instant(&st, &e, 100 * S),
        [
            r#"{env="prod", host="h1", job="x", owner="alice"} 10"#,
            r#"{env="prod", host="h2", job="x", owner="bob"} 20"#,
        ]
    );
    let e = bin_on(
        BinOp::Gtr,
        v("mem"),
        v("cpu"),
        true,
        &["host"],
        OneToOne,
        &[],
    );
    check!(
        instant(&st, &e, 100 * S),
        [
            r#"{host="h3"} 30"#,
            r#"{host="h1"} 10"#,
            r#"{host="h2"} 20"#
        ]
    );
    let e = bin_on(
        BinOp::Mul,
        v("mem"),
        v("cpu"),
        true,
        &["env"],
        OneToOne,
        &[],
    );
    assert_eq!(err_of(&st, &e, 100 * S), EvalError::Execution(
        r#"found duplicate series for the match group {env="prod"} on the right hand-side of the operation: [{__name__="cpu", env="prod", host="h2"}, {__name__="cpu", env="prod", host="h1"}];many-to-many matching not allowed: matching labels must be unique on one side"#.into()));
    let e = bin_on(
        BinOp::Mul,
        v("mem"),
        agg_by(AggOp::Sum, &["env"], v("cpu")),
        true,
        &["env"],
        OneToOne,
        &[],
    );
    assert_eq!(err_of(&st, &e, 100 * S), EvalError::Execution(
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into()));
    let dup = || vm("", &[("__name__", "=~", "dup_a|dup_b")]);
    let e = bin_on(BinOp::Mul, dup(), v("dup_a"), true, &["x"], ManyToOne, &[]);
    assert_eq!(
        err_of(&st, &e, 100 * S),
        EvalError::Execution(
            "multiple matches for labels: grouping labels must ensure unique matches".into()
        )
    );
}

#[test]
fn row39_54_same_labelset() {
    let st = dataset_d();
    let dup = || vm("", &[("__name__", "=~", "dup_a|dup_b")]);
    let same = EvalError::Execution("vector cannot contain metrics with the same labelset".into());
    assert_eq!(
        err_of(&st, &bin(BinOp::Mul, dup(), num(2.0)), 100 * S),
        same
    );
    assert_eq!(
        err_of(
            &st,
            &call("count_over_time", vec![range(dup(), 60 * S)]),
            100 * S
        ),
        same
    );
    assert_eq!(instant(&st, &dup(), 100 * S).len(), 2);
    let e = call(
        "label_replace",
        vec![v("mem"), s("host"), s(""), s("host"), s(".*")],
    );
    assert_eq!(err_of(&st, &e, 100 * S), same);
}

#[test]
fn row40_to_43_comparison_values_and_names() {
    let st = dataset_d();
    use Cardinality::*;
    check!(
        instant(&st, &bin(BinOp::Lss, num(15.0), v("mem")), 100 * S),
        [
            r#"{__name__="mem", env="dev", host="h3", job="x"} 30"#,
            r#"{__name__="mem", env="prod", host="h2", job="x"} 20"#,
        ]
    );
    let e = bin_on(
        BinOp::Lss,
        v("cpu"),
        v("mem"),
        true,
        &["host"],
        OneToMany,
        &[],
    );
    check!(
        instant(&st, &e, 100 * S),
        [
            r#"{__name__="mem", env="dev", host="h3", job="x"} 3"#,
            r#"{__name__="mem", env="prod", host="h1", job="x"} 1"#,
            r#"{__name__="mem", env="prod", host="h2", job="x"} 2"#,
        ]
    );
    let e = bin_on(
        BinOp::Add,
        v("cpu"),
        v("mem"),
        true,
        &["host"],
        OneToMany,
        &["job"],
    );
    check!(
        instant(&st, &e, 100 * S),
        [
            r#"{env="dev", host="h3"} 33"#,
            r#"{env="prod", host="h1"} 11"#,
            r#"{env="prod", host="h2"} 22"#,
        ]
    );
    check!(
        instant(
            &st,
            &bin(
                BinOp::Atan2,
                vm("cpu", &[("host", "=", "h1")]),
                vm("cpu", &[("host", "=", "h1")])
            ),
            100 * S
        ),
        [r#"{__name__="cpu", env="prod", host="h1"} 0.7853981633974483"#]
    );
}

#[test]
fn row46_47_histogram_quantile() {
    let st = dataset_d();
    let hq = |q: f64, m: &str| call("histogram_quantile", vec![num(q), v(m)]);
    check!(
        instant(&st, &hq(0.05, "lat_bucket"), 100 * S),
        [r#"{job="x"} 0.020000000000000004"#]
    );
    for (q, want) in [
        (0.5, "0.5"),
        (0.9, "1"),
        (1.0, "1"),
        (0.0, "0"),
        (1.1, "+Inf"),
        (-0.1, "-Inf"),
        (f64::NAN, "NaN"),
    ] {
        check!(
            instant(&st, &hq(q, "lat_bucket"), 100 * S),
            [format!(r#"{{job="x"}} {want}"#)]
        );
    }
    check!(
        instant(&st, &hq(0.5, "lat2_bucket"), 100 * S),
        [r#"{job="x"} 0.6"#]
    );
    check!(
        instant(&st, &hq(0.5, "lat3_bucket"), 100 * S),
        [r#"{job="x"} NaN"#]
    );
    check!(
        instant(&st, &hq(0.3, "lat4_bucket"), 100 * S),
        [r#"{job="x"} -1"#]
    );
    check!(
        instant(&st, &hq(0.6, "lat4_bucket"), 100 * S),
        [r#"{job="x"} -0.5"#]
    );
    check!(
        instant(&st, &hq(0.9, "lat4_bucket"), 100 * S),
        [r#"{job="x"} 0"#]
    );
    check!(
        instant(&st, &hq(0.4, "lat5_bucket"), 100 * S),
        [r#"{job="x"} 0.8"#]
    );
    check!(instant(&st, &hq(0.5, "mem"), 100 * S), []);
}

#[test]
fn row48_49_subqueries() {
    let st = dataset_d();
    check!(
        instant(&st, &subq(v("sq"), 30 * S, Some(7 * S)), 100 * S),
        [r#"{__name__="sq"} 70:70 77:77 84:84 91:91 98:98"#]
    );
    check!(
        instant(&st, &subq(v("sq"), 30 * S, Some(10 * S)), 100 * S),
        [r#"{__name__="sq"} 70:70 80:80 90:90 100:100"#]
    );
    check!(instant(&st, &subq(v("sq"), 20 * S, None), 100 * S), []);
    let e = call(
        "max_over_time",
        vec![offset(subq(v("sq"), 30 * S, Some(7 * S)), 3 * S)],
    );
    check!(instant(&st, &e, 100 * S), ["{} 91"]);
    let e = call("sum_over_time", vec![subq(v("sq"), 5 * S, Some(S))]);
    check!(instant(&st, &e, 100 * S), ["{} 585"]);
    let e = subq(
        call("rate", vec![range(v("sq"), 60 * S)]),
        300 * S,
        Some(60 * S),
    );
    check!(instant(&st, &e, 100 * S), ["{} 60:1"]);
}

#[test]
fn row50_51_53_range_queries() {
    let st = dataset_d();
    check!(
        range_q(
            &st,
            &at(v("sq"), AtModifier::Start),
            100 * S,
            120 * S,
            10 * S
        ),
        [r#"{__name__="sq"} 100:100 110:100 120:100"#]
    );
    check!(
        range_q(&st, &at(v("sq"), AtModifier::End), 100 * S, 120 * S, 10 * S),
        [r#"{__name__="sq"} 100:120 110:120 120:120"#]
    );
    check!(
        range_q(&st, &call("time", vec![]), 100 * S, 101 * S, 333),
        ["{} 100:100 100.333:100.333 100.666:100.666 100.999:100.999"]
    );
    let got = range_q(&st, &call("sort_desc", vec![v("cpu")]), 100 * S, 101 * S, S);
    check!(
        got,
        [
            r#"{__name__="cpu", env="dev", host="h3"} 100:3 101:3"#,
            r#"{__name__="cpu", env="prod", host="h1"} 100:1 101:1"#,
            r#"{__name__="cpu", env="prod", host="h2"} 100:2 101:2"#,
        ]
    );
}

#[test]
fn row55_dates_and_round() {
    let st = dataset_d();
    check!(
        instant(&st, &call("day_of_week", vec![]), 100 * S),
        ["{} 4"]
    );
    let vec_of = |x: f64| call("vector", vec![num(x)]);
    check!(
        instant(
            &st,
            &call("day_of_week", vec![vec_of(86400.0 * 3.0)]),
            100 * S
        ),
        ["{} 0"]
    );
    check!(
        instant(
            &st,
            &call("days_in_month", vec![vec_of(86400.0 * 31.0 + 1.0)]),
            100 * S
        ),
        ["{} 28"]
    );
    check!(
        instant(&st, &call("hour", vec![vec_of(3600.0 * 25.9)]), 100 * S),
        ["{} 1"]
    );
    check!(
        instant(&st, &call("year", vec![vec_of(-1.0)]), 100 * S),
        ["{} 1969"]
    );
    check!(
        instant(&st, &call("round", vec![vec_of(-2.5)]), 100 * S),
        ["{} -2"]
    );
}
