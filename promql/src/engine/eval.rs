//! The evaluator: walks the expression tree once, evaluating every node at all steps of the
//! query (`start + k*interval`), and keeps Prometheus's sample accounting (`max_samples`),
//! timeout checks, step invariance of `@` and the "same labelset" checks.

use std::collections::HashMap;
use std::time::Instant;

use crate::ast::{AtModifier, Expr, UnaryOp};
use crate::engine::columns::{StepVec, Val, is_absent};
use crate::engine::{EngineOptions, EvalError, labels};
use crate::storage::Queryable;
use crate::value::Series;

/// Prometheus's `ErrTooManySamples` text for the execution environment.
pub(crate) const TOO_MANY_SAMPLES: &str =
    "query processing would load too many samples into memory in query execution";

/// The text of a duplicate-series error (`ContainsSameLabelset`).
pub(crate) const SAME_LABELSET: &str = "vector cannot contain metrics with the same labelset";

/// Series a worker evaluates between two [`StopCheck::check_at`] checks: a batch of
/// `BATCH_SERIES` over many steps (a subquery) takes seconds, a check tens of ns.
pub(crate) const STOP_CHECK_SERIES: usize = 64;

/// The deadline and the storage's stop signal, checked by worker threads every
/// [`STOP_CHECK_SERIES`] series, so a query over its time stops within a batch.
#[derive(Clone, Copy)]
pub(crate) struct StopCheck<'a> {
    deadline: Instant,
    q: &'a dyn Queryable,
}

impl StopCheck<'_> {
    /// [`Evaluator::check_deadline`] for the `k`th series of a worker's run (every
    /// [`STOP_CHECK_SERIES`]th one).
    #[inline]
    pub fn check_at(&self, k: usize) -> Result<(), EvalError> {
        if !k.is_multiple_of(STOP_CHECK_SERIES) {
            return Ok(());
        }
        stop_now(self.deadline, self.q)
    }
}

/// An error if `deadline` passed or the storage says the request must stop (its own deadline,
/// a cancellation).
fn stop_now(deadline: Instant, q: &dyn Queryable) -> Result<(), EvalError> {
    if Instant::now() >= deadline {
        return Err(EvalError::Timeout(
            crate::storage::TIMED_OUT_IN_EVALUATION.into(),
        ));
    }
    q.check_stop()
        .map_err(crate::storage::StorageError::into_eval)
}

/// One evaluation over a range of steps (the query's, or a subquery's).
pub(crate) struct Evaluator<'a> {
    /// The storage.
    pub q: &'a dyn Queryable,
    /// Engine settings.
    pub opts: &'a EngineOptions,
    /// When the query times out.
    pub deadline: Instant,
    /// First step (ms).
    pub start: i64,
    /// Last step (ms), `start + k*interval` for some k.
    pub end: i64,
    /// Step (ms, > 0).
    pub interval: i64,
    /// The query's own start and end, for `@ start()` and `@ end()`.
    pub query_start: i64,
    /// See `query_start`.
    pub query_end: i64,
    /// Samples held in memory now (Prometheus `currentSamples`).
    pub cur: usize,
}

impl<'a> Evaluator<'a> {
    /// Number of steps.
    pub fn steps(&self) -> usize {
        ((self.end - self.start) / self.interval) as usize + 1
    }

    /// Timestamp of step `k`.
    pub fn ts(&self, k: usize) -> i64 {
        self.start + k as i64 * self.interval
    }

    /// An error if the query ran out of time.
    pub fn check_deadline(&self) -> Result<(), EvalError> {
        // The request's own deadline and cancellation are the storage's to know.
        stop_now(self.deadline, self.q)
    }

    /// What a worker thread checks inside a batch ([`StopCheck`]): the deadline and the
    /// storage's stop signal, without the evaluator (which the batch's caller holds).
    pub fn stop_check(&self) -> StopCheck<'a> {
        StopCheck {
            deadline: self.deadline,
            q: self.q,
        }
    }

    /// The `max_samples` error.
    pub fn too_many() -> EvalError {
        EvalError::Execution(TOO_MANY_SAMPLES.into())
    }

    /// An evaluator over other steps sharing this one's limits and sample count.
    pub fn sub(&self, start: i64, end: i64, interval: i64) -> Evaluator<'a> {
        Evaluator {
            q: self.q,
            opts: self.opts,
            deadline: self.deadline,
            start,
            end,
            interval,
            query_start: self.query_start,
            query_end: self.query_end,
            cur: self.cur,
        }
    }

    /// The time an `@` modifier pins to, in ms.
    pub fn at_ms(&self, at: AtModifier) -> i64 {
        match at {
            AtModifier::Timestamp(t) => t,
            AtModifier::Start => self.query_start,
            AtModifier::End => self.query_end,
        }
    }

    /// Accounts a step-wise node as Prometheus's `rangeEval` does: after its arguments were
    /// evaluated (`self.cur` holds them), each step loads its input samples and appends its
    /// outputs; at the end only the outputs stay counted on top of `original`.
    pub fn account_steps(
        &mut self,
        original: usize,
        inputs: &[usize],
        outputs: &[usize],
    ) -> Result<(), EvalError> {
        let max = self.opts.max_samples;
        let mut temp = self.cur;
        let mut total_out = 0;
        for (k, out) in outputs.iter().enumerate() {
            let inp = inputs.get(k).copied().unwrap_or(0);
            if temp + inp > max || temp + inp + out > max {
                return Err(Self::too_many());
            }
            temp += out;
            total_out += out;
            if self.steps() == 1 {
                break;
            }
        }
        self.cur = original + total_out;
        Ok(())
    }

    /// Evaluates `e` at every step.
    pub fn eval(&mut self, e: &Expr) -> Result<Val, EvalError> {
        self.check_deadline()?;
        if self.start != self.end
            && !matches!(
                e,
                Expr::Number(_) | Expr::String(_) | Expr::Matrix(_) | Expr::Subquery(_)
            )
            && is_step_invariant(e)
        {
            return self.eval_step_invariant(e);
        }
        match e {
            Expr::Number(v) => {
                let n = self.steps();
                let original = self.cur;
                self.account_steps(original, &[], &vec![1; n])?;
                Ok(Val::Scalar(vec![*v; n]))
            }
            Expr::String(s) => Ok(Val::Str(s.clone())),
            Expr::Paren(inner) => self.eval(inner),
            Expr::Vector(vs) => Ok(Val::Vector(crate::engine::selectors::eval_vector(
                self, vs, false,
            )?)),
            Expr::Matrix(ms) => crate::engine::selectors::eval_matrix_instant(self, ms),
            Expr::Subquery(sq) => {
                let (inner, t0, step) = crate::engine::subquery::eval(self, sq)?;
                Ok(Val::Matrix(crate::engine::subquery::to_series(
                    inner, t0, step,
                )))
            }
            Expr::Unary(u) => {
                let v = self.eval(&u.expr)?;
                if u.op == UnaryOp::Plus {
                    return Ok(v);
                }
                match v {
                    Val::Scalar(mut s) => {
                        s.iter_mut().for_each(|x| *x = -*x);
                        Ok(Val::Scalar(s))
                    }
                    Val::Vector(mut sv) => {
                        sv.vals
                            .iter_mut()
                            .filter(|x| !is_absent(**x))
                            .for_each(|x| *x = -*x);
                        sv.name_dropped = true;
                        check_unique(&sv)?;
                        Ok(Val::Vector(sv))
                    }
                    other => Ok(other),
                }
            }
            Expr::Binary(b) => crate::engine::binop::eval(self, b),
            Expr::Aggregate(a) => crate::engine::aggregate::eval(self, a),
            Expr::Call(c) => crate::engine::functions::eval(self, c),
        }
    }

    /// Evaluates a step-invariant expression once at the first step and repeats the result
    /// (Prometheus `StepInvariantExpr`).
    fn eval_step_invariant(&mut self, e: &Expr) -> Result<Val, EvalError> {
        let n = self.steps();
        let mut one = self.sub(self.start, self.start, self.interval);
        let v = one.eval(e)?;
        self.cur = one.cur;
        match v {
            Val::Scalar(s) => Ok(Val::Scalar(vec![s[0]; n])),
            Val::Vector(sv) => {
                self.cur += sv.len() * (n - 1);
                if self.cur > self.opts.max_samples {
                    return Err(Self::too_many());
                }
                let mut out = StepVec::new(n);
                out.name_dropped = sv.name_dropped;
                out.vals.reserve(sv.len() * n);
                for (i, l) in sv.labels.into_iter().enumerate() {
                    out.labels.push(l);
                    let v = sv.vals[i];
                    out.vals.extend(std::iter::repeat_n(v, n));
                }
                Ok(Val::Vector(out))
            }
            other => Ok(other),
        }
    }
}

/// Whether `e` gives the same result at every step (Prometheus `preprocessExprHelper`): it
/// reads only selectors and subqueries with `@`, and calls no time-dependent function.
pub(crate) fn is_step_invariant(e: &Expr) -> bool {
    match e {
        Expr::Number(_) | Expr::String(_) => true,
        Expr::Vector(vs) => vs.at.is_some(),
        Expr::Matrix(ms) => ms.vs.at.is_some(),
        Expr::Subquery(sq) => sq.at.is_some(),
        Expr::Paren(inner) => is_step_invariant(inner),
        Expr::Unary(u) => is_step_invariant(&u.expr),
        Expr::Binary(b) => is_step_invariant(&b.lhs) && is_step_invariant(&b.rhs),
        Expr::Aggregate(a) => is_step_invariant(&a.expr),
        Expr::Call(c) => {
            !matches!(
                c.func.as_str(),
                "days_in_month"
                    | "day_of_month"
                    | "day_of_week"
                    | "day_of_year"
                    | "hour"
                    | "minute"
                    | "month"
                    | "year"
                    | "predict_linear"
                    | "time"
                    | "timestamp"
            ) && c.args.iter().all(is_step_invariant)
        }
    }
}

/// Fails if two series of `v` have the same label set (checked over the whole matrix, as
/// Prometheus does for range-vector functions and unary minus).
pub(crate) fn check_unique(v: &StepVec) -> Result<(), EvalError> {
    if v.len() < 2 {
        return Ok(());
    }
    let mut buf = Vec::new();
    let mut seen = HashMap::with_capacity(v.len());
    for l in &v.labels {
        if seen
            .insert(labels::hash(l, v.name_dropped, &mut buf), ())
            .is_some()
        {
            return Err(EvalError::Execution(SAME_LABELSET.into()));
        }
    }
    Ok(())
}

/// Merges series with equal label sets, failing if two of them have a value at the same step
/// (Prometheus checks every step's vector, then joins the steps by label set).
pub(crate) fn merge_same_labels(v: StepVec) -> Result<StepVec, EvalError> {
    if v.len() < 2 {
        return Ok(v);
    }
    let mut buf = Vec::new();
    let mut first: HashMap<u64, usize> = HashMap::with_capacity(v.len());
    let mut target: Vec<usize> = Vec::with_capacity(v.len());
    let mut merged = false;
    for (i, l) in v.labels.iter().enumerate() {
        let h = labels::hash(l, v.name_dropped, &mut buf);
        let t = *first.entry(h).or_insert(i);
        merged |= t != i;
        target.push(t);
    }
    if !merged {
        return Ok(v);
    }
    let n = v.n;
    let mut vals = v.vals;
    for (i, &t) in target.iter().enumerate() {
        if t == i {
            continue;
        }
        for k in 0..n {
            let x = vals[i * n + k];
            if is_absent(x) {
                continue;
            }
            if !is_absent(vals[t * n + k]) {
                return Err(EvalError::Execution(SAME_LABELSET.into()));
            }
            vals[t * n + k] = x;
        }
    }
    let mut out = StepVec::new(n);
    out.name_dropped = v.name_dropped;
    for (i, l) in v.labels.into_iter().enumerate() {
        if target[i] == i {
            out.labels.push(l);
            out.vals.extend_from_slice(&vals[i * n..(i + 1) * n]);
        }
    }
    Ok(out)
}

/// Converts a final vector into matrix series (range queries), points at the step times.
pub(crate) fn to_matrix(mut v: StepVec, start: i64, interval: i64) -> Vec<Series> {
    v.materialize();
    let n = v.n;
    let mut out = Vec::with_capacity(v.len());
    for (i, l) in v.labels.into_iter().enumerate() {
        let col = &v.vals[i * n..(i + 1) * n];
        let points: Vec<(i64, f64)> = col
            .iter()
            .enumerate()
            .filter(|(_, x)| !is_absent(**x))
            .map(|(k, x)| (start + k as i64 * interval, *x))
            .collect();
        if !points.is_empty() {
            out.push(Series { labels: l, points });
        }
    }
    out
}
