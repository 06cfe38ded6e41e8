//! Cases written from the language reference and from reading Prometheus's
//! `promql/testdata/*.test` (operators, staleness, subqueries, aggregators, limits), plus the
//! property that a range query equals the instant queries at its steps.

use std::time::Duration;

use super::*;

#[test]
fn nan_comparisons_and_bool() {
    let st = dataset_d();
    check!(
        instant(&st, &bin(BinOp::Eql, v("mem"), num(f64::NAN)), 100 * S),
        []
    );
    check!(
        instant(&st, &bin_bool(BinOp::Neq, v("cpu"), num(f64::NAN)), 100 * S),
        [
            r#"{env="dev", host="h3"} 1"#,
            r#"{env="prod", host="h1"} 1"#,
            r#"{env="prod", host="h2"} 1"#,
        ]
    );
    check!(
        instant(&st, &bin_bool(BinOp::Gtr, num(1.0), num(2.0)), 100 * S),
        ["0"]
    );
    check!(
        instant(&st, &bin_bool(BinOp::Gtr, v("cpu"), num(1.5)), 100 * S),
        [
            r#"{env="dev", host="h3"} 1"#,
            r#"{env="prod", host="h1"} 0"#,
            r#"{env="prod", host="h2"} 1"#,
        ]
    );
    // Arithmetic drops the name, comparisons keep it.
    check!(
        instant(
            &st,
            &bin(BinOp::Gte, vm("cpu", &[("host", "=", "h2")]), num(2.0)),
            100 * S
        ),
        [r#"{__name__="cpu", env="prod", host="h2"} 2"#]
    );
    check!(
        instant(
            &st,
            &bin(BinOp::Mod, vm("cpu", &[("host", "=", "h3")]), num(-2.0)),
            100 * S
        ),
        [r#"{env="dev", host="h3"} 1"#]
    );
    check!(
        instant(&st, &bin(BinOp::Pow, num(2.0), num(10.0)), 100 * S),
        ["1024"]
    );
}

#[test]
fn set_operators() {
    let st = dataset_d();
    let got = instant(
        &st,
        &bin(BinOp::Or, call("vector", vec![num(0.0)]), v("cpu")),
        100 * S,
    );
    assert_eq!(got.len(), 4);
    assert_eq!(got[0], "{} 0");
    assert_eq!(
        instant(&st, &bin(BinOp::Or, v("cpu"), v("mem")), 100 * S).len(),
        7
    );
    check!(
        instant(&st, &bin(BinOp::And, v("mem"), v("cpu")), 100 * S),
        []
    );
    use Cardinality::ManyToMany;
    let e = bin_on(
        BinOp::And,
        v("mem"),
        v("cpu"),
        true,
        &["host"],
        ManyToMany,
        &[],
    );
    check!(
        instant(&st, &e, 100 * S),
        [
            r#"{__name__="mem", env="dev", host="h3", job="x"} 30"#,
            r#"{__name__="mem", env="prod", host="h1", job="x"} 10"#,
            r#"{__name__="mem", env="prod", host="h2", job="x"} 20"#,
        ]
    );
    let e = bin_on(
        BinOp::Unless,
        v("mem"),
        v("cpu"),
        true,
        &["host"],
        ManyToMany,
        &[],
    );
    check!(
        instant(&st, &e, 100 * S),
        [r#"{__name__="mem", env="dev", host="h4", job="y"} NaN"#]
    );
    let e = bin_on(
        BinOp::Unless,
        v("mem"),
        v("cpu"),
        false,
        &["job"],
        ManyToMany,
        &[],
    );
    check!(
        instant(&st, &e, 100 * S),
        [r#"{__name__="mem", env="dev", host="h4", job="y"} NaN"#]
    );
}

#[test]
fn unary_minus_drops_name_and_checks_duplicates() {
    let st = dataset_d();
    check!(
        instant(&st, &neg(vm("cpu", &[("host", "=", "h1")])), 100 * S),
        [r#"{env="prod", host="h1"} -1"#]
    );
    let dup = vm("", &[("__name__", "=~", "dup_a|dup_b")]);
    assert_eq!(
        err_of(&st, &neg(dup), 100 * S),
        EvalError::Execution("vector cannot contain metrics with the same labelset".into())
    );
}

#[test]
fn grouping_without_and_by_name() {
    let st = dataset_d();
    let e = agg_full(AggOp::Sum, None, v("mem"), &["host"], true);
    check!(
        instant(&st, &e, 100 * S),
        [
            r#"{env="dev", job="x"} 30"#,
            r#"{env="dev", job="y"} NaN"#,
            r#"{env="prod", job="x"} 30"#,
        ]
    );
    let e = agg_by(
        AggOp::Count,
        &["__name__"],
        vm("", &[("__name__", "=~", "cpu|mem")]),
    );
    check!(
        instant(&st, &e, 100 * S),
        [r#"{__name__="cpu"} 3"#, r#"{__name__="mem"} 4"#]
    );
    // After a function that drops the name, `by (__name__)` sees no name.
    let e = agg_by(AggOp::Count, &["__name__"], call("abs", vec![v("cpu")]));
    check!(instant(&st, &e, 100 * S), ["{} 3"]);
    check!(
        instant(&st, &agg(AggOp::Group, v("mem")), 100 * S),
        ["{} 1"]
    );
    check!(
        instant(&st, &agg_p(AggOp::Bottomk, num(1.0), v("mem")), 100 * S),
        [r#"{__name__="mem", env="prod", host="h1", job="x"} 10"#]
    );
    check!(
        instant(&st, &agg_p(AggOp::Topk, num(0.0), v("mem")), 100 * S),
        []
    );
    let e = agg_full(AggOp::Topk, Some(num(1.0)), v("mem"), &["env"], false);
    check!(
        instant(&st, &e, 100 * S),
        [
            r#"{__name__="mem", env="dev", host="h3", job="x"} 30"#,
            r#"{__name__="mem", env="prod", host="h2", job="x"} 20"#,
        ]
    );
}

#[test]
fn label_functions() {
    let st = dataset_d();
    let e = call(
        "label_replace",
        vec![
            vm("cpu", &[("host", "=", "h1")]),
            s("dst"),
            s("$1-x"),
            s("host"),
            s("h(.*)"),
        ],
    );
    check!(
        instant(&st, &e, 100 * S),
        [r#"{__name__="cpu", dst="1-x", env="prod", host="h1"} 1"#]
    );
    let e = call(
        "label_replace",
        vec![v("cpu"), s("dst"), s("x"), s("host"), s("(.*")],
    );
    assert_eq!(
        err_of(&st, &e, 100 * S),
        EvalError::Execution("invalid regular expression in label_replace(): (.*".into())
    );
    let e = call(
        "label_replace",
        vec![v("cpu"), s("1new"), s("x"), s("host"), s(".*")],
    );
    assert_eq!(
        err_of(&st, &e, 100 * S),
        EvalError::Execution("invalid destination label name in label_replace(): 1new".into())
    );
    let e = call(
        "label_join",
        vec![
            vm("cpu", &[("host", "=", "h1")]),
            s("j"),
            s("-"),
            s("env"),
            s("host"),
        ],
    );
    check!(
        instant(&st, &e, 100 * S),
        [r#"{__name__="cpu", env="prod", host="h1", j="prod-h1"} 1"#]
    );
    let e = call("label_join", vec![v("cpu"), s("j"), s("-"), s("1bad")]);
    assert_eq!(
        err_of(&st, &e, 100 * S),
        EvalError::Execution("invalid source label name in label_join(): 1bad".into())
    );
}

#[test]
fn scalar_clamp_and_misc_functions() {
    let st = dataset_d();
    check!(
        instant(&st, &call("scalar", vec![v("cpu")]), 100 * S),
        ["NaN"]
    );
    check!(
        instant(
            &st,
            &call("scalar", vec![vm("cpu", &[("host", "=", "h2")])]),
            100 * S
        ),
        ["2"]
    );
    check!(
        instant(
            &st,
            &call("clamp", vec![v("cpu"), num(2.0), num(1.0)]),
            100 * S
        ),
        []
    );
    check!(
        instant(
            &st,
            &call("clamp", vec![v("cpu"), num(1.5), num(2.5)]),
            100 * S
        ),
        [
            r#"{env="dev", host="h3"} 2.5"#,
            r#"{env="prod", host="h1"} 1.5"#,
            r#"{env="prod", host="h2"} 2"#,
        ]
    );
    // Go's own `math.Sin` gives ...515e-16, libm ...532e-16: equal within the differential
    // test's 1e-9 relative tolerance, not to the last bit.
    let sin = call("sin", vec![call("vector", vec![call("pi", vec![])])]);
    let Value::Vector(got) = engine().instant(&st, &sin, 100 * S).unwrap() else {
        panic!("a vector")
    };
    assert!((got[0].v - 1.2246467991473515e-16).abs() < 1e-12 * 1.2246467991473515e-16);
    check!(
        instant(
            &st,
            &call("last_over_time", vec![range(v("b"), 30 * S)]),
            150 * S
        ),
        [r#"{__name__="b"} 5"#]
    );
    check!(
        instant(&st, &call("sort", vec![v("mem")]), 100 * S)
            .iter()
            .map(|x| x.rsplit(' ').next().unwrap_or_default().to_owned())
            .collect::<Vec<_>>(),
        ["10", "20", "30", "NaN"]
    );
}

#[test]
fn staleness_and_offsets_in_range_queries() {
    let st = dataset_d();
    check!(
        range_q(&st, &v("st"), 100 * S, 220 * S, 10 * S),
        [r#"{__name__="st"} 100:1 110:2 200:3 210:3 220:3"#]
    );
    check!(
        range_q(&st, &offset(v("b"), -10 * S), 100 * S, 120 * S, 10 * S),
        [r#"{__name__="b"} 100:1 110:2 120:3"#]
    );
    let e = call("absent_over_time", vec![range(v("lb"), 10 * S)]);
    check!(range_q(&st, &e, 90 * S, 120 * S, 10 * S), ["{} 90:1 120:1"]);
    check!(
        range_q(&st, &call("absent", vec![v("st")]), 115 * S, 125 * S, 5 * S),
        ["{} 120:1 125:1"]
    );
}

#[test]
fn max_samples_limit() {
    let st = dataset_d();
    let e = Engine::new(EngineOptions {
        max_samples: 5,
        ..EngineOptions::default()
    });
    assert!(e.instant(&st, &v("qv"), 100 * S).is_ok());
    let too_many = EvalError::Execution(
        "query processing would load too many samples into memory in query execution".into(),
    );
    assert_eq!(
        e.instant(&st, &agg(AggOp::Sum, v("qv")), 100 * S),
        Err(too_many.clone())
    );
    assert_eq!(
        e.range(&st, &v("cpu"), 100 * S, 101 * S, S),
        Err(too_many.clone())
    );
    assert_eq!(
        e.instant(&st, &range(v("sq"), 10 * S), 100 * S),
        Err(too_many)
    );
}

#[test]
fn timeout() {
    let st = dataset_d();
    let e = Engine::new(EngineOptions {
        timeout: Duration::ZERO,
        ..EngineOptions::default()
    });
    assert_eq!(
        e.instant(&st, &v("cpu"), 100 * S),
        Err(EvalError::Timeout(
            "query timed out in expression evaluation".into()
        ))
    );
}

#[test]
fn step_invariant_and_at_in_range_queries() {
    let st = dataset_d();
    let e = agg(AggOp::Sum, at(v("sq"), AtModifier::Timestamp(50 * S)));
    check!(
        range_q(&st, &e, 100 * S, 120 * S, 10 * S),
        ["{} 100:50 110:50 120:50"]
    );
    let e = call("rate", vec![at(range(v("sq"), 60 * S), AtModifier::End)]);
    check!(
        range_q(&st, &e, 100 * S, 120 * S, 10 * S),
        ["{} 100:1 110:1 120:1"]
    );
    // A subquery inside a range query: inner steps aligned to absolute multiples.
    let e = call("count_over_time", vec![subq(v("sq"), 30 * S, Some(7 * S))]);
    check!(
        range_q(&st, &e, 100 * S, 102 * S, S),
        ["{} 100:5 101:4 102:4"]
    );
}

/// Expressions whose range evaluation must agree with instant evaluation at every step.
fn consistency_cases() -> Vec<Expr> {
    use Cardinality::*;
    vec![
        v("b"),
        v("st"),
        call("rate", vec![range(v("c1"), 30 * S)]),
        call("irate", vec![range(v("c1"), 30 * S)]),
        call("deriv", vec![range(v("sq"), 20 * S)]),
        call("predict_linear", vec![range(v("lin"), 30 * S), num(10.0)]),
        call("avg_over_time", vec![range(v("b"), 25 * S)]),
        call("quantile_over_time", vec![num(0.3), range(v("b"), 25 * S)]),
        call(
            "max_over_time",
            vec![offset(subq(v("sq"), 30 * S, Some(7 * S)), 3 * S)],
        ),
        call(
            "sum_over_time",
            vec![subq(
                call("rate", vec![range(v("c2"), 20 * S)]),
                40 * S,
                None,
            )],
        ),
        agg_by(
            AggOp::Sum,
            &["job"],
            call("rate", vec![range(vm("", &[("job", "=", "j")]), 40 * S)]),
        ),
        agg_p(
            AggOp::Topk,
            num(2.0),
            vm("", &[("__name__", "=~", "c1|c2|b")]),
        ),
        agg_p(
            AggOp::Quantile,
            num(0.7),
            vm("", &[("__name__", "=~", "c1|c2|b|sq")]),
        ),
        agg_p(
            AggOp::CountValues,
            s("val"),
            vm("", &[("__name__", "=~", "c1|c2")]),
        ),
        agg(AggOp::Stddev, vm("", &[("__name__", "=~", "c1|c2|b")])),
        bin(BinOp::Sub, v("c1"), v("c2")),
        bin_on(BinOp::Div, v("c1"), v("c2"), true, &["job"], OneToOne, &[]),
        bin(BinOp::Or, v("c1"), v("b")),
        bin_on(
            BinOp::Unless,
            v("c1"),
            v("c2"),
            true,
            &["job"],
            ManyToMany,
            &[],
        ),
        bin_bool(BinOp::Gtr, v("c1"), v("c2")),
        bin(BinOp::Gtr, v("sq"), call("scalar", vec![v("b")])),
        call("absent", vec![v("st")]),
        call("absent_over_time", vec![range(v("lb"), 10 * S)]),
        call("timestamp", vec![v("st")]),
        call("histogram_quantile", vec![num(0.5), v("lat_bucket")]),
        call(
            "label_replace",
            vec![v("c1"), s("x"), s("$1"), s("job"), s("(.*)")],
        ),
        call("hour", vec![v("sq")]),
        call("time", vec![]),
    ]
}

#[test]
fn range_query_equals_instant_queries_at_each_step() {
    let st = dataset_d();
    let eng = engine();
    let (start, end, step) = (0, 260 * S, 7 * S);
    for e in consistency_cases() {
        let Value::Matrix(series) = eng.range(&st, &e, start, end, step).unwrap() else {
            panic!("range result is a matrix")
        };
        let mut t = start;
        while t <= end {
            let mut from_range: Vec<String> = series
                .iter()
                .filter_map(|s| {
                    s.points
                        .iter()
                        .find(|(pt, _)| *pt == t)
                        .map(|(_, x)| format!("{} {}", labels::to_string(&s.labels), fmt_v(*x)))
                })
                .collect();
            let mut from_instant = match eng.instant(&st, &e, t).unwrap() {
                Value::Scalar { v, .. } => vec![format!("{{}} {}", fmt_v(v))],
                other => render(&other),
            };
            from_range.sort();
            from_instant.sort();
            assert_eq!(from_range, from_instant, "{e:?} at {t}");
            t += step;
        }
    }
}

#[test]
fn on_name_sees_names_dropped_by_functions() {
    let st = dataset_d();
    let r = |m: &str| call("rate", vec![range(v(m), 100 * S)]);
    let e = bin_on(
        BinOp::And,
        r("c1"),
        r("c2"),
        true,
        &["__name__"],
        Cardinality::ManyToMany,
        &[],
    );
    check!(
        instant(&st, &e, 100 * S),
        [r#"{i="1", job="j"} 0.9444444444444445"#]
    );
}

/// Enough series for the selector work to be split between the two worker threads.
fn many_series() -> MemStorage {
    let mut st = MemStorage::new();
    for i in 0..1500 {
        let l = named(
            "m",
            &[("i", &format!("{i:04}")), ("g", &(i % 3).to_string())],
        );
        let samples = (0..=40)
            .map(|k| (k * 15 * S, (k * (i + 1)) as f64))
            .collect();
        st.add_series(l, samples);
    }
    st.finish();
    st
}

#[test]
fn parallel_workers_keep_series_order_and_values() {
    let st = many_series();
    let got = instant(&st, &v("m"), 300 * S);
    assert_eq!(got.len(), 1500);
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(got, sorted, "selector output in label order");
    assert_eq!(got[1499], r#"{__name__="m", g="2", i="1499"} 30000"#);
    // rate of a counter growing by (i+1) every 15 s is (i+1)/15; summed per g.
    let e = agg_by(
        AggOp::Sum,
        &["g"],
        call("rate", vec![range(v("m"), 60 * S)]),
    );
    let Value::Vector(s) = engine().instant(&st, &e, 300 * S).unwrap() else {
        panic!()
    };
    for x in &s {
        let g: usize = x.labels.get("g").parse().unwrap();
        let want: f64 = (0..1500)
            .filter(|i| i % 3 == g)
            .map(|i| (i + 1) as f64 / 15.0)
            .sum();
        assert!((x.v - want).abs() < 1e-9 * want, "{x:?} vs {want}");
    }
    for e in [
        e,
        call("rate", vec![range(v("m"), 60 * S)]),
        agg_p(AggOp::Topk, num(3.0), v("m")),
        bin(BinOp::Gtr, v("m"), num(5000.0)),
    ] {
        let Value::Matrix(series) = engine().range(&st, &e, 0, 600 * S, 45 * S).unwrap() else {
            panic!("a matrix")
        };
        let mut t = 0;
        while t <= 600 * S {
            let mut from_range: Vec<String> = series
                .iter()
                .filter_map(|s| {
                    let p = s.points.iter().find(|(pt, _)| *pt == t)?;
                    Some(format!("{} {}", labels::to_string(&s.labels), fmt_v(p.1)))
                })
                .collect();
            let mut from_instant = instant(&st, &e, t);
            from_range.sort();
            from_instant.sort();
            assert_eq!(from_range, from_instant, "{e:?} at {t}");
            t += 45 * S;
        }
    }
}

#[test]
fn clamp_propagates_nan_as_go_math_does() {
    let st = dataset_d();
    let h1 = || vm("cpu", &[("host", "=", "h1")]);
    check!(
        instant(
            &st,
            &call("clamp", vec![h1(), num(0.0), num(f64::NAN)]),
            100 * S
        ),
        [r#"{env="prod", host="h1"} NaN"#]
    );
    check!(
        instant(&st, &call("clamp_min", vec![h1(), num(f64::NAN)]), 100 * S),
        [r#"{env="prod", host="h1"} NaN"#]
    );
    check!(
        instant(
            &st,
            &call("clamp_max", vec![h1(), num(f64::NEG_INFINITY)]),
            100 * S
        ),
        [r#"{env="prod", host="h1"} -Inf"#]
    );
    let nan = vm("mem", &[("host", "=", "h4")]);
    check!(
        instant(
            &st,
            &call("clamp_max", vec![nan, num(f64::INFINITY)]),
            100 * S
        ),
        [r#"{env="dev", host="h4", job="y"} NaN"#]
    );
}

#[test]
fn log_functions_follow_go_math() {
    let st = dataset_d();
    let f = |name: &str, x: f64| {
        instant(
            &st,
            &call(name, vec![call("vector", vec![num(x)])]),
            100 * S,
        )
    };
    // Values checked against the 2.42 binary.
    check!(f("log10", 1000.0), ["{} 3"]);
    check!(f("log2", 3.0), ["{} 1.5849625007211563"]);
    check!(f("log2", 1e-5), ["{} -16.609640474436812"]);
    check!(f("log10", 123.456), ["{} 2.0915122016277716"]);
    check!(f("log2", 8.0), ["{} 3"]);
    check!(f("log2", 0.0), ["{} -Inf"]);
    check!(f("log10", -1.0), ["{} NaN"]);
    check!(f("log2", 5e-324), ["{} -1074"]);
    check!(f("log10", f64::INFINITY), ["{} +Inf"]);
    // Subnormals: the amd64 `math.Log` of the 2.42 binary, not the true logarithm.
    check!(f("ln", 1e-323), ["{} -709.0895657128241"]);
    check!(f("log10", 1e-323), ["{} -307.9536855642528"]);
    check!(f("ln", 1e-300), ["{} -690.7755278982137"]);
}

#[test]
fn inverse_hyperbolics_stay_finite_for_huge_values() {
    let st = dataset_d();
    let f = |name: &str, x: f64| {
        instant(
            &st,
            &call(name, vec![call("vector", vec![num(x)])]),
            100 * S,
        )
    };
    // `ln(x) + ln 2` for x > 2^28, as Go's `math.Acosh`/`Asinh` (2.42 answered 710.42 for
    // `special_values{kind="huge"}`, about 1.7e308, where `f64::acosh` gives +Inf).
    check!(f("acosh", 1e308), ["{} 709.889355822726"]);
    check!(f("asinh", 1e308), ["{} 709.889355822726"]);
    check!(f("asinh", -1e308), ["{} -709.889355822726"]);
    check!(f("acosh", 0.5), ["{} NaN"]);
    check!(f("acosh", 1.0), ["{} 0"]);
}

#[test]
fn parenthesised_string_fails_as_in_2_42() {
    let st = dataset_d();
    let e = Expr::Paren(Box::new(Expr::Paren(Box::new(Expr::String("s".into())))));
    let got = Engine::new(EngineOptions::default()).instant(&st, &e, 100 * S);
    assert_eq!(
        got,
        Err(EvalError::Execution(
            "unexpected result in StepInvariantExpr evaluation: *parser.StepInvariantExpr".into()
        ))
    );
    let bare =
        Engine::new(EngineOptions::default()).instant(&st, &Expr::String("s".into()), 100 * S);
    assert!(bare.is_ok(), "{bare:?}");
}

#[test]
fn empty_side_short_circuits_before_the_duplicate_check() {
    let st = dataset_d();
    // `on()` gives all three `cpu` series one signature: duplicates on the right.
    let with = |lhs: Expr| {
        bin_on(
            BinOp::Add,
            lhs,
            v("cpu"),
            true,
            &[],
            Cardinality::OneToOne,
            &[],
        )
    };
    // 2.42 answers nothing when the left side is empty at the step ...
    check!(instant(&st, &with(v("nonexistent")), 100 * S), []);
    check!(
        range_q(&st, &with(v("nonexistent")), 100 * S, 200 * S, 50 * S),
        []
    );
    // ... and the duplicate error once it is not.
    let e = err_of(&st, &with(vm("info", &[("host", "=", "h1")])), 100 * S);
    assert!(
        e.to_string()
            .starts_with("found duplicate series for the match group {} on the right hand-side"),
        "{e}"
    );
}

/// A `by` aggregation keeps only its grouping labels per input series, but the duplicate
/// check of a name-dropping range function still sees whole label sets, and `by(__name__)`
/// still groups by name.
#[test]
fn by_aggregation_projects_labels_but_checks_whole_sets() {
    let st = dataset_d();
    let dup = || vm("", &[("__name__", "=~", "dup_a|dup_b")]);
    let over = call("max_over_time", vec![range(dup(), 60 * S)]);
    assert_eq!(
        err_of(&st, &agg_by(AggOp::Sum, &["x"], over), 100 * S),
        EvalError::Execution("vector cannot contain metrics with the same labelset".into())
    );
    // Series sharing their `env` but not their whole label set are no duplicates.
    let cpu = call("max_over_time", vec![range(v("cpu"), 60 * S)]);
    let by_env = engine().instant(&st, &agg_by(AggOp::Count, &["env"], cpu), 100 * S);
    assert!(by_env.is_ok(), "{by_env:?}");
    check!(
        instant(&st, &agg_by(AggOp::Count, &["__name__"], dup()), 100 * S),
        [r#"{__name__="dup_a"} 1"#, r#"{__name__="dup_b"} 1"#]
    );
    check!(
        instant(&st, &agg_by(AggOp::Sum, &["x"], dup()), 100 * S),
        [r#"{x="1"} 3"#]
    );
}

/// A storage that asks the engine to stop once 100 series were read, counting the reads.
struct StopsAfterReads {
    inner: MemStorage,
    reads: std::sync::atomic::AtomicUsize,
}

struct CountingSet<'a> {
    inner: Box<dyn crate::storage::SeriesSet + 'a>,
    reads: &'a std::sync::atomic::AtomicUsize,
}

impl crate::storage::Queryable for StopsAfterReads {
    fn select(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        hints: &crate::storage::SelectHints,
    ) -> Result<Box<dyn crate::storage::SeriesSet + '_>, crate::storage::StorageError> {
        let inner = self.inner.select(matchers, mint_ms, maxt_ms, hints)?;
        Ok(Box::new(CountingSet {
            inner,
            reads: &self.reads,
        }))
    }

    fn check_stop(&self) -> Result<(), crate::storage::StorageError> {
        if self.reads.load(std::sync::atomic::Ordering::Relaxed) >= 100 {
            return Err(crate::storage::StorageError::Timeout);
        }
        Ok(())
    }
}

impl crate::storage::SeriesSet for CountingSet<'_> {
    fn len(&self) -> usize {
        self.inner.len()
    }

    fn labels(&self, i: usize) -> Result<Labels, crate::storage::StorageError> {
        self.inner.labels(i)
    }

    fn samples(
        &self,
        i: usize,
        out: &mut Vec<(i64, f64)>,
    ) -> Result<(), crate::storage::StorageError> {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.samples(i, out)
    }

    fn last_sample(
        &self,
        i: usize,
        buf: &mut Vec<(i64, f64)>,
    ) -> Result<Option<(i64, f64)>, crate::storage::StorageError> {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.last_sample(i, buf)
    }
}

/// The storage's stop signal is checked inside a batch of series, not only between batches:
/// a range query over 4,000 series (one batch) stops after about 100 reads with 2.42's
/// evaluation timeout, in the selector and in the range-function loops.
#[test]
fn a_stop_from_storage_ends_the_walk_inside_a_batch() {
    let mut mem = MemStorage::new();
    let n = 4000;
    for i in 0..n {
        let l = Labels::from_pairs([("__name__", "m"), ("i", i.to_string().as_str())]);
        for k in 0..40 {
            mem.append(&l, k * 15 * S, k as f64);
        }
    }
    mem.finish();
    let e = Engine::new(EngineOptions::default());
    for q in ["m", "rate(m[5m])"] {
        let st = StopsAfterReads {
            inner: mem.clone(),
            reads: Default::default(),
        };
        let expr = crate::parser::parse_expr(q).unwrap();
        assert_eq!(
            e.range(&st, &expr, 300 * S, 585 * S, 15 * S),
            Err(EvalError::Timeout(
                "query timed out in expression evaluation".into()
            )),
            "{q}"
        );
        let reads = st.reads.load(std::sync::atomic::Ordering::Relaxed);
        assert!(reads < n / 4, "{q}: {reads} series read after the stop");
    }
}
