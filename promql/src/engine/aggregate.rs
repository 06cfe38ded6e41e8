//! Aggregations (Prometheus 2.42 `engine.go` `aggregation`): groups by `by`/`without`, in
//! order of first appearance; `sum` is plain addition in input order, `avg` the incremental
//! mean, `stddev`/`stdvar` Welford; `topk`/`bottomk` keep Go's heap order; `quantile` and
//! `count_values` as 2.42. Every group keeps one accumulator per step.

use std::collections::HashMap;

use fedstore_storage::Labels;

use crate::ast::{AggOp, AggregateExpr, Expr};
use crate::engine::columns::{ABSENT, StepVec, Val, is_absent};
use crate::engine::eval::{Evaluator, merge_same_labels};
use crate::engine::format::{go_format_f, go_v};
use crate::engine::functions::unparen;
use crate::engine::quantile::quantile;
use crate::engine::{EvalError, labels, topk};

/// Evaluates an aggregation.
pub(crate) fn eval(ev: &mut Evaluator, a: &AggregateExpr) -> Result<Val, EvalError> {
    let n = ev.steps();
    let original = ev.cur;
    let mut value_label = None;
    let mut param = None;
    if let Some(p) = &a.param {
        match unparen(p) {
            Expr::String(s) => value_label = Some(s.clone()),
            p => {
                if let Val::Scalar(s) = ev.eval(p)? {
                    param = Some(s);
                }
            }
        }
    }
    let mut input = match ev.eval(&a.expr)? {
        Val::Vector(v) => v,
        _ => StepVec::new(n),
    };
    let mut inputs = input.present_per_step();
    if param.is_some() {
        inputs.iter_mut().for_each(|x| *x += 1);
    }
    let mut grouping = a.grouping.clone();
    grouping.sort();
    if input.name_dropped && !a.without && grouping.iter().any(|g| g == labels::METRIC_NAME) {
        input.materialize();
    }
    let out = match a.op {
        AggOp::Topk | AggOp::Bottomk => {
            let k = param.unwrap_or_else(|| vec![f64::NAN; n]);
            let groups = group_ids(&input, a.without, &grouping);
            topk::eval(input, &groups.0, &k, a.op == AggOp::Bottomk)?
        }
        AggOp::CountValues => {
            let l = value_label.unwrap_or_default();
            count_values(input, a.without, &grouping, &l)?
        }
        op => simple(op, input, a.without, &grouping, param.as_deref())?,
    };
    ev.account_steps(original, &inputs, &out.present_per_step())?;
    Ok(Val::Vector(merge_same_labels(out)?))
}

/// The group of every series (by first appearance) and each group's first series.
pub(crate) fn group_ids(
    v: &StepVec,
    without: bool,
    grouping: &[String],
) -> (Vec<usize>, Vec<usize>) {
    let mut buf = Vec::new();
    let mut map: HashMap<u64, usize> = HashMap::new();
    let mut ids = Vec::with_capacity(v.len());
    let mut firsts = Vec::new();
    for (i, l) in v.labels.iter().enumerate() {
        let key = labels::grouping_key(l, without, grouping, v.name_dropped, &mut buf);
        let g = *map.entry(key).or_insert_with(|| {
            firsts.push(i);
            firsts.len() - 1
        });
        ids.push(g);
    }
    (ids, firsts)
}

/// The labels of a group whose first member is `l`.
fn group_labels(l: &Labels, without: bool, grouping: &[String]) -> Labels {
    if without {
        let mut names = grouping.to_vec();
        names.push(labels::METRIC_NAME.to_owned());
        labels::delete(l, &names)
    } else if grouping.is_empty() {
        Labels::default()
    } else {
        labels::keep(l, grouping)
    }
}

/// One group's state at one step.
#[derive(Clone, Copy)]
struct Acc {
    value: f64,
    mean: f64,
    count: u32,
}

fn simple(
    op: AggOp,
    v: StepVec,
    without: bool,
    grouping: &[String],
    param: Option<&[f64]>,
) -> Result<StepVec, EvalError> {
    let n = v.n;
    let (ids, firsts) = group_ids(&v, without, grouping);
    let zero = Acc {
        value: 0.0,
        mean: 0.0,
        count: 0,
    };
    let mut acc = vec![zero; firsts.len() * n];
    let mut qvals: Vec<Vec<f64>> = Vec::new();
    if op == AggOp::Quantile {
        qvals = vec![Vec::new(); firsts.len() * n];
    }
    for (i, &g) in ids.iter().enumerate() {
        let col = v.col(i);
        let accs = &mut acc[g * n..(g + 1) * n];
        for (k, (&x, s)) in col.iter().zip(accs.iter_mut()).enumerate() {
            if is_absent(x) {
                continue;
            }
            if op == AggOp::Quantile {
                qvals[g * n + k].push(x);
            }
            if s.count == 0 {
                *s = Acc {
                    value: x,
                    mean: x,
                    count: 1,
                };
                match op {
                    AggOp::Stddev | AggOp::Stdvar => s.value = 0.0,
                    AggOp::Group => s.value = 1.0,
                    _ => {}
                }
                continue;
            }
            s.count += 1;
            match op {
                AggOp::Sum => s.value += x,
                AggOp::Avg => {
                    if s.mean.is_infinite() {
                        if x.is_infinite() && (s.mean > 0.0) == (x > 0.0) {
                            continue;
                        }
                        if !x.is_infinite() && !x.is_nan() {
                            continue;
                        }
                    }
                    let c = f64::from(s.count);
                    s.mean += x / c - s.mean / c;
                }
                AggOp::Max if s.value < x || s.value.is_nan() => s.value = x,
                AggOp::Min if s.value > x || s.value.is_nan() => s.value = x,
                AggOp::Stddev | AggOp::Stdvar => {
                    let delta = x - s.mean;
                    s.mean += delta / f64::from(s.count);
                    s.value += delta * (x - s.mean);
                }
                _ => {}
            }
        }
    }
    let mut out = StepVec::new(n);
    let mut col = vec![ABSENT; n];
    for (g, &first) in firsts.iter().enumerate() {
        for (k, slot) in col.iter_mut().enumerate() {
            let s = acc[g * n + k];
            *slot = if s.count == 0 {
                ABSENT
            } else {
                match op {
                    AggOp::Avg => s.mean,
                    AggOp::Count => f64::from(s.count),
                    AggOp::Stdvar => s.value / f64::from(s.count),
                    AggOp::Stddev => (s.value / f64::from(s.count)).sqrt(),
                    AggOp::Quantile => {
                        let q = param.map_or(f64::NAN, |p| p[k]);
                        quantile(q, &mut qvals[g * n + k])
                    }
                    _ => s.value,
                }
            };
        }
        let mut l = v.labels[first].clone();
        if v.name_dropped {
            l = labels::drop_name(&l);
        }
        out.push(group_labels(&l, without, grouping), &col);
    }
    Ok(out)
}

/// `count_values(label, v)`.
fn count_values(
    mut v: StepVec,
    without: bool,
    grouping: &[String],
    value_label: &str,
) -> Result<StepVec, EvalError> {
    if !labels::is_valid_name(value_label) {
        let mut q = String::new();
        labels::go_quote(value_label, &mut q);
        return Err(EvalError::Execution(format!("invalid label name {q}")));
    }
    let mut grouping = grouping.to_vec();
    if !without {
        grouping.push(value_label.to_owned());
        grouping.sort();
    }
    v.materialize();
    let n = v.n;
    let mut buf = Vec::new();
    let mut map: HashMap<u64, usize> = HashMap::new();
    let mut out_labels: Vec<Labels> = Vec::new();
    let mut counts: Vec<f64> = Vec::new();
    // Steps outer, series inner: groups appear in the order a one-step query sees them.
    for k in 0..n {
        for (i, l) in v.labels.iter().enumerate() {
            let x = v.vals[i * n + k];
            if is_absent(x) {
                continue;
            }
            let m = labels::set(l, value_label, &go_format_f(x));
            let key = labels::grouping_key(&m, without, &grouping, false, &mut buf);
            let g = *map.entry(key).or_insert_with(|| {
                out_labels.push(group_labels(&m, without, &grouping));
                counts.extend(std::iter::repeat_n(0.0, n));
                out_labels.len() - 1
            });
            counts[g * n + k] += 1.0;
        }
    }
    let mut out = StepVec::new(n);
    for (g, l) in out_labels.into_iter().enumerate() {
        let col: Vec<f64> = counts[g * n..(g + 1) * n]
            .iter()
            .map(|c| if *c == 0.0 { ABSENT } else { *c })
            .collect();
        out.push(l, &col);
    }
    Ok(out)
}

/// The `topk`/`bottomk` parameter as an int, or 2.42's overflow error.
pub(crate) fn k_param(f: f64) -> Result<i64, EvalError> {
    // Go: `f <= math.MaxInt64 && f >= math.MinInt64` in float64 (so 2^63 passes).
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !(-LIMIT..=LIMIT).contains(&f) {
        return Err(EvalError::Execution(format!(
            "Scalar value {} overflows int64",
            go_v(f)
        )));
    }
    Ok(f as i64)
}
