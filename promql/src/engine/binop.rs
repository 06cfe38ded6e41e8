//! Binary operators (Prometheus 2.42 `VectorBinop`, `VectorscalarBinop`, `VectorAnd/Or/Unless`,
//! `resultMetric`): scalar/scalar, vector/scalar and vector/vector with `on`/`ignoring`,
//! `group_left`/`group_right`, `bool`, 2.42's matching errors and which labels are dropped.
//! Matching signatures are computed once per series and interned; each step then matches
//! the series present at that step.

use std::collections::HashMap;

use fedstore_storage::Labels;

use crate::ast::{BinOp, BinaryExpr, Cardinality, VectorMatching};
use crate::engine::columns::{ABSENT, StepVec, Val, is_absent};
use crate::engine::eval::{Evaluator, merge_same_labels};
use crate::engine::{EvalError, labels};

/// Evaluates `b`.
pub(crate) fn eval(ev: &mut Evaluator, b: &BinaryExpr) -> Result<Val, EvalError> {
    let n = ev.steps();
    let original = ev.cur;
    let lhs = ev.eval(&b.lhs)?;
    let rhs = ev.eval(&b.rhs)?;
    let count = |v: &Val| match v {
        Val::Vector(v) => v.present_per_step(),
        _ => vec![1; n],
    };
    let inputs: Vec<usize> = count(&lhs)
        .iter()
        .zip(count(&rhs))
        .map(|(a, b)| a + b)
        .collect();
    let out = match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => {
            let s: Vec<f64> = l
                .iter()
                .zip(&r)
                .map(|(x, y)| scalar_op(b.op, *x, *y))
                .collect();
            ev.account_steps(original, &inputs, &vec![1; n])?;
            return Ok(Val::Scalar(s));
        }
        (Val::Vector(v), Val::Scalar(s)) => vector_scalar(v, &s, false, b),
        (Val::Scalar(s), Val::Vector(v)) => vector_scalar(v, &s, true, b),
        (Val::Vector(l), Val::Vector(r)) => {
            let default = VectorMatching {
                card: if b.op.is_set() {
                    Cardinality::ManyToMany
                } else {
                    Cardinality::OneToOne
                },
                labels: Vec::new(),
                on: false,
                include: Vec::new(),
            };
            let m = b.matching.as_ref().unwrap_or(&default);
            if b.op.is_set() {
                set_op(b.op, l, r, m)
            } else {
                vector_vector(b, l, r, m)?
            }
        }
        _ => StepVec::new(n),
    };
    ev.account_steps(original, &inputs, &out.present_per_step())?;
    Ok(Val::Vector(merge_same_labels(out)?))
}

/// Whether `op` removes `__name__` from its result (arithmetic except `atan2`).
fn drops_name(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Pow
    )
}

/// Go's `math.Mod`: the result has the sign of `x` (Rust's `%` on floats is the same fmod).
fn go_mod(x: f64, y: f64) -> f64 {
    x % y
}

/// Scalar/scalar (`scalarBinop`): comparisons give 0 or 1.
fn scalar_op(op: BinOp, l: f64, r: f64) -> f64 {
    let (v, keep) = elem_op(op, l, r);
    if op.is_comparison() {
        f64::from(u8::from(keep))
    } else {
        v
    }
}

/// `vectorElemBinop`: the value and, for comparisons, whether the pair is kept.
fn elem_op(op: BinOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinOp::Add => (l + r, true),
        BinOp::Sub => (l - r, true),
        BinOp::Mul => (l * r, true),
        BinOp::Div => (l / r, true),
        BinOp::Pow => (l.powf(r), true),
        BinOp::Mod => (go_mod(l, r), true),
        BinOp::Atan2 => (l.atan2(r), true),
        BinOp::Eql => (l, l == r),
        BinOp::Neq => (l, l != r),
        BinOp::Gtr => (l, l > r),
        BinOp::Lss => (l, l < r),
        BinOp::Gte => (l, l >= r),
        BinOp::Lte => (l, l <= r),
        BinOp::And | BinOp::Or | BinOp::Unless => (l, true),
    }
}

fn vector_scalar(mut v: StepVec, s: &[f64], swap: bool, b: &BinaryExpr) -> StepVec {
    let n = v.n;
    for (j, x) in v.vals.iter_mut().enumerate() {
        if is_absent(*x) {
            continue;
        }
        let (l, r) = if swap { (s[j % n], *x) } else { (*x, s[j % n]) };
        let (mut value, mut keep) = elem_op(b.op, l, r);
        if b.op.is_comparison() && swap {
            value = r;
        }
        if b.return_bool {
            value = f64::from(u8::from(keep));
            keep = true;
        }
        *x = if keep { value } else { ABSENT };
    }
    if drops_name(b.op) || b.return_bool {
        v.name_dropped = true;
    }
    v
}

/// Interns the signatures of `v`'s series: one id per distinct signature.
fn sig_ids(
    v: &StepVec,
    m: &VectorMatching,
    ids: &mut HashMap<Vec<u8>, usize>,
    buf: &mut Vec<u8>,
) -> Vec<usize> {
    v.labels
        .iter()
        .map(|l| {
            let s = labels::signature(l, m.on, &m.labels, buf);
            let next = ids.len();
            *ids.entry(s).or_insert(next)
        })
        .collect()
}

fn set_op(op: BinOp, mut l: StepVec, mut r: StepVec, m: &VectorMatching) -> StepVec {
    let n = l.n;
    // Signatures must see a lazily dropped name as absent when `on(__name__)` asks for it.
    let on_name = m.on && m.labels.iter().any(|x| x == labels::METRIC_NAME);
    if l.name_dropped != r.name_dropped || on_name {
        l.materialize();
        r.materialize();
    }
    let mut ids = HashMap::new();
    let mut buf = Vec::new();
    let ls = sig_ids(&l, m, &mut ids, &mut buf);
    let rs = sig_ids(&r, m, &mut ids, &mut buf);
    // `mark[sig] == step + 1` when the signature is present on the other side at `step`.
    let mut mark = vec![0usize; ids.len()];
    let mut out = StepVec::new(n);
    out.name_dropped = l.name_dropped;
    let mut lvals = l.vals;
    let mut rvals = r.vals;
    for k in 0..n {
        let (probe, probe_sigs, keep_vals, keep_sigs) = match op {
            BinOp::Or => (&lvals, &ls, &mut rvals, &rs),
            _ => (&rvals, &rs, &mut lvals, &ls),
        };
        for (i, &s) in probe_sigs.iter().enumerate() {
            if !is_absent(probe[i * n + k]) {
                mark[s] = k + 1;
            }
        }
        for (i, &s) in keep_sigs.iter().enumerate() {
            let x = &mut keep_vals[i * n + k];
            let matched = mark[s] == k + 1;
            let keep = match op {
                BinOp::And => matched,
                _ => !matched,
            };
            if !keep {
                *x = ABSENT;
            }
        }
    }
    for (i, lab) in l.labels.into_iter().enumerate() {
        out.push(lab, &lvals[i * n..(i + 1) * n]);
    }
    if op == BinOp::Or {
        for (i, lab) in r.labels.into_iter().enumerate() {
            out.push(lab, &rvals[i * n..(i + 1) * n]);
        }
    }
    out
}

/// `MatchLabels`: the labels a match group is named by in the duplicate error.
fn match_labels(l: &Labels, m: &VectorMatching) -> Labels {
    if m.on {
        labels::keep(l, &m.labels)
    } else {
        let mut names = m.labels.clone();
        names.push(labels::METRIC_NAME.to_owned());
        labels::delete(l, &names)
    }
}

/// `resultMetric`: the labels of a matched pair, `many` from the "many" side.
fn result_labels(many: &Labels, one: &Labels, b: &BinaryExpr, m: &VectorMatching) -> Labels {
    let mut l = if drops_name(b.op) {
        labels::drop_name(many)
    } else {
        many.clone()
    };
    if m.card == Cardinality::OneToOne {
        l = if m.on {
            labels::keep(&l, &m.labels)
        } else {
            labels::delete(&l, &m.labels)
        };
    }
    for name in &m.include {
        l = labels::set(&l, name, one.get(name));
    }
    if b.return_bool {
        l = labels::drop_name(&l);
    }
    l
}

fn vector_vector(
    b: &BinaryExpr,
    mut l: StepVec,
    mut r: StepVec,
    m: &VectorMatching,
) -> Result<StepVec, EvalError> {
    let n = l.n;
    l.materialize();
    r.materialize();
    let swap = m.card == Cardinality::OneToMany;
    let (many, one) = if swap { (&r, &l) } else { (&l, &r) };
    let mut ids = HashMap::new();
    let mut buf = Vec::new();
    let many_sigs = sig_ids(many, m, &mut ids, &mut buf);
    let one_sigs = sig_ids(one, m, &mut ids, &mut buf);
    let mut one_at: Vec<Option<usize>> = vec![None; ids.len()];
    let mut matched: Vec<Vec<u64>> = vec![Vec::new(); ids.len()];
    let mut touched: Vec<usize> = Vec::new();
    let mut pairs: HashMap<(usize, usize), usize> = HashMap::new();
    let mut out_labels: Vec<Labels> = Vec::new();
    let mut out_hash: Vec<u64> = Vec::new();
    let mut out_vals: Vec<f64> = Vec::new();
    // 2.42's `VectorBinop` returns nothing at a step where either side is empty, before
    // looking for duplicates.
    let (many_n, one_n) = (many.present_per_step(), one.present_per_step());
    for k in 0..n {
        for &s in &touched {
            one_at[s] = None;
            matched[s].clear();
        }
        touched.clear();
        if many_n[k] == 0 || one_n[k] == 0 {
            continue;
        }
        for (j, &s) in one_sigs.iter().enumerate() {
            if is_absent(one.vals[j * n + k]) {
                continue;
            }
            if let Some(prev) = one_at[s] {
                let side = if swap { "left" } else { "right" };
                return Err(EvalError::Execution(format!(
                    "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    labels::to_string(&match_labels(&one.labels[j], m)),
                    labels::to_string(&one.labels[j]),
                    labels::to_string(&one.labels[prev]),
                )));
            }
            one_at[s] = Some(j);
            touched.push(s);
        }
        for (i, &s) in many_sigs.iter().enumerate() {
            let x = many.vals[i * n + k];
            if is_absent(x) {
                continue;
            }
            let Some(j) = one_at[s] else { continue };
            let y = one.vals[j * n + k];
            let (vl, vr) = if swap { (y, x) } else { (x, y) };
            let (mut value, keep) = elem_op(b.op, vl, vr);
            if b.return_bool {
                value = f64::from(u8::from(keep));
            } else if !keep {
                continue;
            }
            let o = *pairs.entry((i, j)).or_insert_with(|| {
                let lab = result_labels(&many.labels[i], &one.labels[j], b, m);
                out_hash.push(labels::hash(&lab, false, &mut buf));
                out_labels.push(lab);
                out_vals.extend(std::iter::repeat_n(ABSENT, n));
                out_labels.len() - 1
            });
            if m.card == Cardinality::OneToOne {
                if !matched[s].is_empty() {
                    return Err(EvalError::Execution(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                    ));
                }
                matched[s].push(0);
            } else {
                if matched[s].contains(&out_hash[o]) {
                    return Err(EvalError::Execution(
                        "multiple matches for labels: grouping labels must ensure unique matches"
                            .into(),
                    ));
                }
                matched[s].push(out_hash[o]);
            }
            out_vals[o * n + k] = value;
        }
    }
    let mut out = StepVec::new(n);
    for (o, lab) in out_labels.into_iter().enumerate() {
        out.push(lab, &out_vals[o * n..(o + 1) * n]);
    }
    Ok(out)
}
