//! Engine tests over dataset D of `prometheus-api.md` §8 (values checked against the 2.42
//! binary) and cases written from reading Prometheus's `promql/testdata`. Expressions are
//! built with small constructors until the parser lands.

use fedstore_storage::{Labels, MatchOp, Matcher, STALE_NAN_BITS};

use crate::ast::*;
use crate::engine::{Engine, EngineOptions, EvalError, labels};
use crate::testutil::MemStorage;
use crate::value::Value;

// ---- expression constructors ----

fn m(name: &str, op: &str, value: &str) -> Matcher {
    let op = match op {
        "=" => MatchOp::Equal,
        "!=" => MatchOp::NotEqual,
        "=~" => MatchOp::Regex,
        _ => MatchOp::NotRegex,
    };
    Matcher::new(op, name, value).expect("valid matcher")
}

fn vsel(name: &str, ms: &[(&str, &str, &str)]) -> VectorSelector {
    let mut matchers: Vec<Matcher> = ms.iter().map(|(n, o, v)| m(n, o, v)).collect();
    if !name.is_empty() {
        matchers.push(m("__name__", "=", name));
    }
    VectorSelector {
        name: (!name.is_empty()).then(|| name.to_owned()),
        matchers,
        offset_ms: 0,
        at: None,
    }
}

fn v(name: &str) -> Expr {
    Expr::Vector(vsel(name, &[]))
}

fn vm(name: &str, ms: &[(&str, &str, &str)]) -> Expr {
    Expr::Vector(vsel(name, ms))
}

/// Sets offset (ms) on a selector, range selector or subquery.
fn offset(e: Expr, o: i64) -> Expr {
    match e {
        Expr::Vector(mut vs) => {
            vs.offset_ms = o;
            Expr::Vector(vs)
        }
        Expr::Matrix(mut ms) => {
            ms.vs.offset_ms = o;
            Expr::Matrix(ms)
        }
        Expr::Subquery(mut sq) => {
            sq.offset_ms = o;
            Expr::Subquery(sq)
        }
        other => other,
    }
}

/// Sets `@` on a selector, range selector or subquery.
fn at(e: Expr, a: AtModifier) -> Expr {
    match e {
        Expr::Vector(mut vs) => {
            vs.at = Some(a);
            Expr::Vector(vs)
        }
        Expr::Matrix(mut ms) => {
            ms.vs.at = Some(a);
            Expr::Matrix(ms)
        }
        Expr::Subquery(mut sq) => {
            sq.at = Some(a);
            Expr::Subquery(sq)
        }
        other => other,
    }
}

fn range(e: Expr, r_ms: i64) -> Expr {
    match e {
        Expr::Vector(vs) => Expr::Matrix(MatrixSelector { vs, range_ms: r_ms }),
        _ => panic!("range of a non-selector"),
    }
}

fn subq(e: Expr, r_ms: i64, step_ms: Option<i64>) -> Expr {
    Expr::Subquery(SubqueryExpr {
        expr: Box::new(e),
        range_ms: r_ms,
        step_ms,
        offset_ms: 0,
        at: None,
    })
}

fn num(x: f64) -> Expr {
    Expr::Number(x)
}

fn s(x: &str) -> Expr {
    Expr::String(x.into())
}

fn call(f: &str, args: Vec<Expr>) -> Expr {
    Expr::Call(Call {
        func: f.into(),
        args,
    })
}

fn agg(op: AggOp, e: Expr) -> Expr {
    agg_full(op, None, e, &[], false)
}

fn agg_by(op: AggOp, by: &[&str], e: Expr) -> Expr {
    agg_full(op, None, e, by, false)
}

fn agg_p(op: AggOp, p: Expr, e: Expr) -> Expr {
    agg_full(op, Some(p), e, &[], false)
}

fn agg_full(op: AggOp, p: Option<Expr>, e: Expr, g: &[&str], without: bool) -> Expr {
    Expr::Aggregate(AggregateExpr {
        op,
        expr: Box::new(e),
        param: p.map(Box::new),
        grouping: g.iter().map(|x| x.to_string()).collect(),
        without,
    })
}

fn is_vec(e: &Expr) -> bool {
    crate::engine::value_type(e) == ValueType::Vector
}

fn bin(op: BinOp, l: Expr, r: Expr) -> Expr {
    let matching = (is_vec(&l) && is_vec(&r)).then(|| VectorMatching {
        card: if op.is_set() {
            Cardinality::ManyToMany
        } else {
            Cardinality::OneToOne
        },
        labels: vec![],
        on: false,
        include: vec![],
    });
    Expr::Binary(BinaryExpr {
        op,
        lhs: Box::new(l),
        rhs: Box::new(r),
        return_bool: false,
        matching,
    })
}

fn bin_bool(op: BinOp, l: Expr, r: Expr) -> Expr {
    match bin(op, l, r) {
        Expr::Binary(mut b) => {
            b.return_bool = true;
            Expr::Binary(b)
        }
        _ => unreachable!(),
    }
}

/// `l op on(on_labels) group_x(include) r`; `card` picks the group modifier.
fn bin_on(
    op: BinOp,
    l: Expr,
    r: Expr,
    on: bool,
    ls: &[&str],
    card: Cardinality,
    inc: &[&str],
) -> Expr {
    Expr::Binary(BinaryExpr {
        op,
        lhs: Box::new(l),
        rhs: Box::new(r),
        return_bool: false,
        matching: Some(VectorMatching {
            card,
            labels: ls.iter().map(|x| x.to_string()).collect(),
            on,
            include: inc.iter().map(|x| x.to_string()).collect(),
        }),
    })
}

fn neg(e: Expr) -> Expr {
    Expr::Unary(UnaryExpr {
        op: UnaryOp::Neg,
        expr: Box::new(e),
    })
}

// ---- dataset D ----

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())))
}

fn named(name: &str, pairs: &[(&str, &str)]) -> Labels {
    let mut p: Vec<(&str, &str)> = pairs.to_vec();
    p.push(("__name__", name));
    l(&p)
}

const S: i64 = 1000;

fn dataset_d() -> MemStorage {
    let mut st = MemStorage::new();
    for (k, val) in [("z", 1.0), ("a", 2.0), ("m", 3.0)] {
        st.append(&named("ord", &[("k", k)]), 100 * S, val);
    }
    let c1 = named("c1", &[("job", "j"), ("i", "1")]);
    for (k, val) in [10., 20., 30., 40., 50., 5., 15., 25., 35., 45.]
        .iter()
        .enumerate()
    {
        st.append(&c1, (10 + 10 * k as i64) * S, *val);
    }
    let c2 = named("c2", &[("job", "j"), ("i", "2")]);
    for k in 0..10 {
        st.append(&c2, (5 + 10 * k) * S, k as f64);
    }
    let c3 = named("c3", &[("job", "j"), ("i", "3")]);
    st.append(&c3, 30 * S, 1.0);
    st.append(&c3, 40 * S, 11.0);
    let c4 = named("c4", &[]);
    st.append(&c4, 30 * S, 8.0);
    st.append(&c4, 40 * S, 18.0);
    for (e, h, j, val) in [
        ("prod", "h1", "x", 10.0),
        ("prod", "h2", "x", 20.0),
        ("dev", "h3", "x", 30.0),
        ("dev", "h4", "y", f64::NAN),
    ] {
        st.append(
            &named("mem", &[("env", e), ("host", h), ("job", j)]),
            100 * S,
            val,
        );
    }
    for (e, h, val) in [("prod", "h1", 1.0), ("prod", "h2", 2.0), ("dev", "h3", 3.0)] {
        st.append(&named("cpu", &[("env", e), ("host", h)]), 100 * S, val);
    }
    st.append(
        &named("info", &[("host", "h1"), ("owner", "alice")]),
        100 * S,
        1.0,
    );
    st.append(
        &named("info", &[("host", "h2"), ("owner", "bob")]),
        100 * S,
        1.0,
    );
    let hist: &[(&str, &[(&str, f64)])] = &[
        (
            "lat_bucket",
            &[("0.1", 10.), ("0.5", 20.), ("1", 30.), ("+Inf", 40.)],
        ),
        ("lat2_bucket", &[("1", 10.), ("2", 8.), ("+Inf", 12.)]),
        ("lat3_bucket", &[("1", 5.), ("2", 10.)]),
        ("lat4_bucket", &[("-1", 5.), ("0", 7.), ("+Inf", 10.)]),
        ("lat5_bucket", &[("1", 5.), ("1.0", 5.), ("+Inf", 20.)]),
    ];
    for (name, buckets) in hist {
        for (le, c) in *buckets {
            st.append(&named(name, &[("job", "x"), ("le", le)]), 100 * S, *c);
        }
    }
    let stl = named("st", &[]);
    st.append(&stl, 100 * S, 1.0);
    st.append(&stl, 110 * S, 2.0);
    st.append(&stl, 120 * S, f64::from_bits(STALE_NAN_BITS));
    st.append(&stl, 200 * S, 3.0);
    st.append(&named("dup_a", &[("x", "1")]), 100 * S, 1.0);
    st.append(&named("dup_b", &[("x", "1")]), 100 * S, 2.0);
    for k in 0..=10 {
        st.append(&named("b", &[]), (100 + 10 * k) * S, k as f64);
    }
    st.append(&named("lb", &[]), 100 * S, 7.0);
    for (k, val) in [
        ("big", 1e21),
        ("e20", 1e20),
        ("long", 123456789012345678.0),
        ("tiny", 1e-7),
        ("small", 1e-6),
        ("tenth", 0.1),
        ("negzero", -0.0),
        ("third", 1.0 / 3.0),
    ] {
        st.append(&named("fmt", &[("k", k)]), 100 * S, val);
    }
    for (k, val) in [5., 26., 45., 66., 85., 106., 125.].iter().enumerate() {
        st.append(&named("lin", &[]), 10 * k as i64 * S, *val);
    }
    for t in 0..=200 {
        st.append(&named("sq", &[]), t * S, t as f64);
    }
    for (t, val) in [(100_001, 1.0), (100_020, 2.0), (100_300, 3.0)] {
        st.append(&named("ms", &[]), t, val);
    }
    st.append(&named("up_l", &[("Zz", "a")]), 100 * S, 1.0);
    st.append(&named("up_l", &[("aa", "a")]), 100 * S, 2.0);
    for (i, val) in [1., 2., 3., 4., 10.].iter().enumerate() {
        st.append(&named("qv", &[("i", &(i + 1).to_string())]), 100 * S, *val);
    }
    for (i, val) in [0.1, 0.2, 0.3, 0.7, 1e16, -1e16].iter().enumerate() {
        st.append(
            &named("prec", &[("i", &(i + 1).to_string())]),
            100 * S,
            *val,
        );
    }
    st.finish();
    st
}

// ---- running and rendering ----

fn fmt_v(x: f64) -> String {
    crate::engine::format::go_format_f(x)
}

/// Renders a result as lines: `{labels} value` (vector), `{labels} t:v t:v` (matrix).
fn render(v: &Value) -> Vec<String> {
    match v {
        Value::Scalar { v, .. } => vec![fmt_v(*v)],
        Value::String { s, .. } => vec![s.clone()],
        Value::Vector(samples) => samples
            .iter()
            .map(|s| format!("{} {}", labels::to_string(&s.labels), fmt_v(s.v)))
            .collect(),
        Value::Matrix(series) => series
            .iter()
            .map(|s| {
                let pts: Vec<String> = s
                    .points
                    .iter()
                    .map(|(t, x)| format!("{}:{}", fmt_t(*t), fmt_v(*x)))
                    .collect();
                format!("{} {}", labels::to_string(&s.labels), pts.join(" "))
            })
            .collect(),
    }
}

fn fmt_t(t: i64) -> String {
    if t % 1000 == 0 {
        (t / 1000).to_string()
    } else {
        format!("{}.{:03}", t / 1000, t % 1000)
    }
}

fn engine() -> Engine {
    Engine::new(EngineOptions::default())
}

fn instant(st: &MemStorage, e: &Expr, t_ms: i64) -> Vec<String> {
    match engine().instant(st, e, t_ms) {
        Ok(v) => render(&v),
        Err(err) => vec![format!("error: {err}")],
    }
}

fn range_q(st: &MemStorage, e: &Expr, start: i64, end: i64, step: i64) -> Vec<String> {
    match engine().range(st, e, start, end, step) {
        Ok(v) => render(&v),
        Err(err) => vec![format!("error: {err}")],
    }
}

fn err_of(st: &MemStorage, e: &Expr, t_ms: i64) -> EvalError {
    engine()
        .instant(st, e, t_ms)
        .expect_err("the query must fail")
}

macro_rules! check {
    ($got:expr, [$($want:expr),* $(,)?]) => {{
        let got: Vec<String> = $got;
        let want: Vec<String> = vec![$($want.to_string()),*];
        assert_eq!(got, want, "\n got: {got:#?}\nwant: {want:#?}");
    }};
}

mod aggregators;
mod at_modifier;
mod d_rows;
mod semantics;
mod subqueries;
