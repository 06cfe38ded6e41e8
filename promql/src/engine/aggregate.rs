//! Aggregations (Prometheus 2.42 `engine.go` `aggregation`): groups by `by`/`without`, in
//! order of first appearance; `sum` is plain addition in input order, `avg` the incremental
//! mean, `stddev`/`stdvar` Welford; `topk`/`bottomk` keep Go's heap order; `quantile` and
//! `count_values` as 2.42. Every group keeps one accumulator per step.

use std::collections::HashMap;

use fedstore_storage::Labels;

use crate::ast::{AggOp, AggregateExpr, Expr};
use crate::engine::columns::{ABSENT, Prep, StepVec, Val, is_absent};
use crate::engine::eval::{Evaluator, is_step_invariant, merge_same_labels};
use crate::engine::format::{go_format_f, go_v};
use crate::engine::functions::unparen;
use crate::engine::quantile::quantile;
use crate::engine::selectors::{self, Sink};
use crate::engine::windows::{self, RangeFn};
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
    let mut grouping = a.grouping.clone();
    grouping.sort();
    if matches!(a.op, AggOp::Topk | AggOp::Bottomk) {
        // Only the k best of each group and step are held, never the whole input.
        let has_param = param.is_some();
        let k = param.unwrap_or_else(|| vec![f64::NAN; n]);
        let mut folder =
            topk::TopkFolder::new(k, a.op == AggOp::Bottomk, a.without, grouping.clone());
        let streamed = stream_into(ev, &a.expr, (&grouping, a.without), false, &mut |part| {
            folder.add(&part);
            Ok(())
        })?;
        if !streamed && let Val::Vector(v) = ev.eval(&a.expr)? {
            folder.add(&v);
        }
        let mut inputs = folder.present().to_vec();
        if has_param {
            inputs.iter_mut().for_each(|x| *x += 1);
        }
        let out = folder.finish()?;
        ev.account_steps(original, &inputs, &out.present_per_step())?;
        return Ok(Val::Vector(merge_same_labels(out)?));
    }
    if a.op != AggOp::CountValues {
        let mut folder = Folder::new(a.op, n, a.without, grouping);
        let spec = (a.grouping.clone(), a.without);
        let mut spec_sorted = spec.0;
        spec_sorted.sort();
        if !stream_into(ev, &a.expr, (&spec_sorted, spec.1), !spec.1, &mut |part| {
            folder.add(&part);
            Ok(())
        })? {
            let input = match ev.eval(&a.expr)? {
                Val::Vector(v) => v,
                _ => StepVec::new(n),
            };
            folder.add(&input);
        }
        let mut inputs = std::mem::take(&mut folder.present);
        if param.is_some() {
            inputs.iter_mut().for_each(|x| *x += 1);
        }
        let out = folder.finish(param.as_deref());
        ev.account_steps(original, &inputs, &out.present_per_step())?;
        return Ok(Val::Vector(merge_same_labels(out)?));
    }
    let input = match ev.eval(&a.expr)? {
        Val::Vector(v) => v,
        _ => StepVec::new(n),
    };
    let mut inputs = input.present_per_step();
    if param.is_some() {
        inputs.iter_mut().for_each(|x| *x += 1);
    }
    let l = value_label.unwrap_or_default();
    let out = count_values(input, a.without, &grouping, &l)?;
    ev.account_steps(original, &inputs, &out.present_per_step())?;
    Ok(Val::Vector(merge_same_labels(out)?))
}

/// Evaluates `e` into `sink` batch by batch when it is a selector or a range function of a
/// range selector (the shapes whose output can be folded without being held); `false` when
/// `e` has another shape and was not evaluated. `project`: the consumer needs only the
/// grouping labels of each series (a `by` fold), not whole label sets.
fn stream_into(
    ev: &mut Evaluator,
    e: &Expr,
    grouping: (&[String], bool),
    project: bool,
    sink: &mut Sink,
) -> Result<bool, EvalError> {
    if ev.start != ev.end && is_step_invariant(e) {
        return Ok(false);
    }
    match unparen(e) {
        Expr::Vector(vs) => {
            selectors::eval_vector_into(
                ev,
                vs,
                false,
                Prep {
                    grouping: Some(grouping),
                    hash: false,
                    project,
                },
                sink,
            )?;
            Ok(true)
        }
        Expr::Call(c) => match RangeFn::from_name(&c.func) {
            Some((f, mi))
                if f != RangeFn::Absent
                    && matches!(c.args.get(mi).map(unparen), Some(Expr::Matrix(_))) =>
            {
                windows::eval_into(ev, c, f, mi, Some(grouping), project, sink)?;
                Ok(true)
            }
            _ => Ok(false),
        },
        _ => Ok(false),
    }
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

/// Folds series into per-group, per-step accumulators, batch by batch: the input of
/// `sum`/`avg`/`min`/`max`/`count`/`group`/`stddev`/`stdvar`/`quantile` need not be held
/// whole. Groups are numbered in order of first appearance.
pub(crate) struct Folder {
    op: AggOp,
    n: usize,
    groups: GroupIds,
    labels: Vec<Labels>,
    acc: Vec<Acc>,
    qvals: Vec<Vec<f64>>,
    /// Input samples per step, for the sample accounting.
    pub present: Vec<usize>,
}

/// Numbers the groups of `by`/`without` in order of first appearance.
pub(crate) struct GroupIds {
    without: bool,
    grouping: Vec<String>,
    ids: HashMap<u64, usize>,
    buf: Vec<u8>,
}

impl GroupIds {
    /// Groups of `grouping` (sorted), or of all labels but those with `without`.
    pub fn new(without: bool, grouping: Vec<String>) -> GroupIds {
        GroupIds {
            without,
            grouping,
            ids: HashMap::new(),
            buf: Vec::new(),
        }
    }

    /// The group of series `i` of `v`, and whether it is the group's first series.
    pub fn of(&mut self, v: &StepVec, i: usize) -> (usize, bool) {
        // A streaming selector's workers computed the keys in parallel (`Prep`).
        let key = if v.group_keys.len() == v.labels.len() {
            v.group_keys[i]
        } else {
            labels::grouping_key(
                &v.labels[i],
                self.without,
                &self.grouping,
                v.name_dropped,
                &mut self.buf,
            )
        };
        let next = self.ids.len();
        let g = *self.ids.entry(key).or_insert(next);
        (g, g == next)
    }
}

impl Folder {
    /// An empty fold of `op` over `n` steps (`grouping` sorted).
    pub fn new(op: AggOp, n: usize, without: bool, grouping: Vec<String>) -> Folder {
        Folder {
            op,
            n,
            groups: GroupIds::new(without, grouping),
            labels: Vec::new(),
            acc: Vec::new(),
            qvals: Vec::new(),
            present: vec![0; n],
        }
    }

    /// Adds the series of `v`, in order.
    pub fn add(&mut self, v: &StepVec) {
        let (n, op) = (self.n, self.op);
        let zero = Acc {
            value: 0.0,
            mean: 0.0,
            count: 0,
        };
        for (i, l) in v.labels.iter().enumerate() {
            let (g, new) = self.groups.of(v, i);
            if new {
                let l = if v.name_dropped {
                    labels::drop_name(l)
                } else {
                    l.clone()
                };
                self.labels
                    .push(group_labels(&l, self.groups.without, &self.groups.grouping));
                self.acc.extend(std::iter::repeat_n(zero, n));
                if op == AggOp::Quantile {
                    self.qvals.extend(std::iter::repeat_n(Vec::new(), n));
                }
            }
            let accs = &mut self.acc[g * n..(g + 1) * n];
            for (k, (&x, s)) in v.col(i).iter().zip(accs.iter_mut()).enumerate() {
                if is_absent(x) {
                    continue;
                }
                self.present[k] += 1;
                if op == AggOp::Quantile {
                    self.qvals[g * n + k].push(x);
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
    }

    /// The aggregated vector (`param`: the quantile's φ per step).
    pub fn finish(mut self, param: Option<&[f64]>) -> StepVec {
        let n = self.n;
        let mut out = StepVec::new(n);
        let mut col = vec![ABSENT; n];
        for (g, l) in std::mem::take(&mut self.labels).into_iter().enumerate() {
            for (k, slot) in col.iter_mut().enumerate() {
                let s = self.acc[g * n + k];
                *slot = if s.count == 0 {
                    ABSENT
                } else {
                    match self.op {
                        AggOp::Avg => s.mean,
                        AggOp::Count => f64::from(s.count),
                        AggOp::Stdvar => s.value / f64::from(s.count),
                        AggOp::Stddev => (s.value / f64::from(s.count)).sqrt(),
                        AggOp::Quantile => {
                            let q = param.map_or(f64::NAN, |p| p[k]);
                            quantile(q, &mut self.qvals[g * n + k])
                        }
                        _ => s.value,
                    }
                };
            }
            out.push(l, &col);
        }
        out
    }
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
