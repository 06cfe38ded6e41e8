//! Subqueries `expr[range:step] offset o @ t`: the inner expression is evaluated at the
//! multiples of the step (absolute time) inside `[T-o-range, T-o]`, with the default step
//! (`evaluation_interval`) when none is written.

use crate::ast::{AtModifier, SubqueryExpr};
use crate::engine::EvalError;
use crate::engine::columns::{StepVec, Val, is_absent};
use crate::engine::eval::Evaluator;
use crate::value::Series;

/// The end of the window at step `ts` for a node with `offset` and `@` (Prometheus keeps `@`
/// as an offset relative to the evaluator's start, so inside a step-dependent call the
/// window moves with the step; at the first step it is exactly `@ - offset`).
pub(crate) fn window_end(ev: &Evaluator, at: Option<AtModifier>, offset_ms: i64, ts: i64) -> i64 {
    match at {
        Some(a) => ev.at_ms(a) - offset_ms + (ts - ev.start),
        None => ts - offset_ms,
    }
}

/// Evaluates the inner expression of `sq` over the steps every outer step needs. Returns the
/// inner vector, its first step and its step (an empty vector when no step fits).
pub(crate) fn eval(
    ev: &mut Evaluator,
    sq: &SubqueryExpr,
) -> Result<(StepVec, i64, i64), EvalError> {
    let step = sq
        .step_ms
        .unwrap_or(ev.opts.default_eval_interval_ms)
        .max(1);
    let end = window_end(ev, sq.at, sq.offset_ms, ev.end);
    let lo = window_end(ev, sq.at, sq.offset_ms, ev.start) - sq.range_ms;
    // The first multiple of the step at or after `lo` (Go truncating division, then up).
    let mut start = step * (lo / step);
    if start < lo {
        start += step;
    }
    if start > end {
        return Ok((StepVec::new(0), start, step));
    }
    let mut inner = ev.sub(start, end, step);
    let v = inner.eval(&sq.expr)?;
    ev.cur = inner.cur;
    let mut sv = match v {
        Val::Vector(sv) => sv,
        Val::Scalar(s) => {
            let mut sv = StepVec::new(s.len());
            sv.push(fedstore_storage::Labels::default(), &s);
            sv
        }
        _ => StepVec::new(inner.steps()),
    };
    sv.materialize();
    Ok((sv, start, step))
}

/// The inner vector as matrix series with their step timestamps.
pub(crate) fn to_series(v: StepVec, start: i64, step: i64) -> Vec<Series> {
    let n = v.n;
    let mut out = Vec::with_capacity(v.len());
    for (i, l) in v.labels.into_iter().enumerate() {
        let points: Vec<(i64, f64)> = v.vals[i * n..(i + 1) * n]
            .iter()
            .enumerate()
            .filter(|(_, x)| !is_absent(**x))
            .map(|(k, x)| (start + k as i64 * step, *x))
            .collect();
        if !points.is_empty() {
            out.push(Series { labels: l, points });
        }
    }
    out
}
