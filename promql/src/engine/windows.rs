//! Functions of a range vector (`rate(x[5m])`, `max_over_time(q[1h:1m])`, ...): each series is
//! read once, and a window `[end-range, end]` (closed both ends, stale markers dropped) slides
//! over its samples from step to step. Series are split between the worker threads.

use std::collections::HashSet;

use fedstore_storage::{Labels, is_stale_nan};

use crate::ast::{Call, Expr};
use crate::engine::columns::{ABSENT, Prep, ProjectBufs, StepVec, Val};
use crate::engine::eval::{Evaluator, SAME_LABELSET};
use crate::engine::parallel::{BATCH_SERIES, PREFETCH_SERIES, run_halves};
use crate::engine::selectors::{Sink, read, select};
use crate::engine::subquery::{self, window_end};
use crate::engine::{EvalError, labels, over_time, rate};
use crate::storage::SeriesSet;
use crate::value::Series;

/// A function whose argument is a range vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeFn {
    Rate,
    Increase,
    Delta,
    Irate,
    Idelta,
    Resets,
    Changes,
    Deriv,
    PredictLinear,
    HoltWinters,
    Avg,
    Sum,
    Count,
    Min,
    Max,
    Last,
    Present,
    Stddev,
    Stdvar,
    Quantile,
    Absent,
}

impl RangeFn {
    /// The function called `name` and the index of its range-vector argument.
    pub fn from_name(name: &str) -> Option<(RangeFn, usize)> {
        use RangeFn::*;
        Some(match name {
            "rate" => (Rate, 0),
            "increase" => (Increase, 0),
            "delta" => (Delta, 0),
            "irate" => (Irate, 0),
            "idelta" => (Idelta, 0),
            "resets" => (Resets, 0),
            "changes" => (Changes, 0),
            "deriv" => (Deriv, 0),
            "predict_linear" => (PredictLinear, 0),
            "holt_winters" => (HoltWinters, 0),
            "avg_over_time" => (Avg, 0),
            "sum_over_time" => (Sum, 0),
            "count_over_time" => (Count, 0),
            "min_over_time" => (Min, 0),
            "max_over_time" => (Max, 0),
            "last_over_time" => (Last, 0),
            "present_over_time" => (Present, 0),
            "stddev_over_time" => (Stddev, 0),
            "stdvar_over_time" => (Stdvar, 0),
            "quantile_over_time" => (Quantile, 1),
            "absent_over_time" => (Absent, 0),
            _ => return None,
        })
    }

    /// The function's value for one non-empty window.
    fn apply(self, w: &Window, scratch: &mut Vec<f64>) -> Result<Option<f64>, EvalError> {
        use RangeFn::*;
        let p = w.points;
        Ok(match self {
            Rate => rate::extrapolated_rate(p, w.start, w.end, w.range_ms, true, true, w.resets),
            Increase => {
                rate::extrapolated_rate(p, w.start, w.end, w.range_ms, true, false, w.resets)
            }
            Delta => rate::extrapolated_rate(p, w.start, w.end, w.range_ms, false, false, true),
            Irate => rate::instant_value(p, true),
            Idelta => rate::instant_value(p, false),
            Resets => Some(rate::resets(p)),
            Changes => Some(rate::changes(p)),
            Deriv => rate::deriv(p),
            PredictLinear => rate::predict_linear(p, w.ts, w.params[0]),
            HoltWinters => rate::holt_winters(p, w.params[0], w.params[1])?,
            Avg => Some(over_time::avg(p)),
            Sum => Some(over_time::sum(p)),
            Count => Some(p.len() as f64),
            Min => Some(over_time::min_max(p, false)),
            Max => Some(over_time::min_max(p, true)),
            Last => Some(p[p.len() - 1].1),
            Present | Absent => Some(1.0),
            Stddev => Some(over_time::stdvar(p).sqrt()),
            Stdvar => Some(over_time::stdvar(p)),
            Quantile => Some(over_time::quantile_of(w.params[0], p, scratch)),
        })
    }
}

/// One step's window of one series.
struct Window<'a> {
    points: &'a [(i64, f64)],
    ts: i64,
    start: i64,
    end: i64,
    range_ms: i64,
    params: [f64; 2],
    /// Whether the series has a sample below the one before it anywhere (a counter reset
    /// some window may contain); false lets `rate`/`increase` skip the per-window scan.
    resets: bool,
}

/// What one worker returns for its series: the output part, per series the widest window
/// and the number of outputs, and per step whether any window had samples.
type Part = (StepVec, Vec<(u32, u32)>, Vec<bool>);

/// Where the series of the range argument come from.
enum Source<'s> {
    Set(&'s dyn SeriesSet),
    Mem(&'s [Series]),
}

impl Source<'_> {
    fn len(&self) -> usize {
        match self {
            Source::Set(s) => s.len(),
            Source::Mem(m) => m.len(),
        }
    }
    fn labels(&self, i: usize) -> Result<Labels, EvalError> {
        match self {
            Source::Set(s) => crate::engine::selectors::labels_of(*s, i),
            Source::Mem(m) => Ok(m[i].labels.clone()),
        }
    }
    /// See [`SeriesSet::prefetch`].
    fn prefetch(&self, range: std::ops::Range<usize>) {
        if let Source::Set(s) = self {
            s.prefetch(range, true);
        }
    }
    fn load(&self, i: usize, buf: &mut Vec<(i64, f64)>) -> Result<(), EvalError> {
        match self {
            Source::Set(s) => {
                read(*s, i, buf)?;
                buf.retain(|(_, v)| !is_stale_nan(*v));
            }
            Source::Mem(m) => {
                buf.clear();
                buf.extend_from_slice(&m[i].points);
            }
        }
        Ok(())
    }
}

/// Evaluates `call` (a range-vector function `f` with its range argument at `mi`).
pub(crate) fn eval(
    ev: &mut Evaluator,
    call: &Call,
    f: RangeFn,
    mi: usize,
) -> Result<Val, EvalError> {
    let n = ev.steps();
    let mut out = StepVec::new(n);
    out.name_dropped = f != RangeFn::Last;
    let any = eval_into(ev, call, f, mi, None, false, &mut |part| {
        if f != RangeFn::Absent {
            out.append(part);
        }
        Ok(())
    })?;
    // The duplicate-check hashes were for `eval_into` only.
    out.hashes = Vec::new();
    if f == RangeFn::Absent {
        let mut res = StepVec::new(n);
        let col: Vec<f64> = any.iter().map(|a| if *a { ABSENT } else { 1.0 }).collect();
        let labels = match call.args.get(mi) {
            Some(arg) => crate::engine::functions::absent_labels(arg),
            None => Labels::default(),
        };
        res.push(labels, &col);
        return Ok(Val::Vector(res));
    }
    Ok(Val::Vector(out))
}

/// [`eval`] handing the output series to `sink` batch by batch (for an enclosing
/// aggregation); returns, per step, whether any window had samples. Fails as soon as two
/// output series have the same label set (2.42 checks the whole result).
pub(crate) fn eval_into(
    ev: &mut Evaluator,
    call: &Call,
    f: RangeFn,
    mi: usize,
    grouping: Option<(&[String], bool)>,
    project: bool,
    sink: &mut Sink,
) -> Result<Vec<bool>, EvalError> {
    // Series of one metric name stay distinct without it: no output can repeat a label
    // set, and hashing every one for the check would be wasted.
    let one_name = matches!(
        call.args.get(mi).map(crate::engine::functions::unparen),
        Some(Expr::Matrix(ms)) if ms.vs.matchers.iter().any(|m| {
            m.name == labels::METRIC_NAME && m.op == fedstore_storage::MatchOp::Equal
        })
    );
    let check = f != RangeFn::Absent && !one_name;
    let prep = Prep {
        grouping,
        hash: check,
        project,
    };
    let n = ev.steps();
    // Scalar parameters, one value per step.
    let mut params: Vec<Vec<f64>> = Vec::new();
    for (i, a) in call.args.iter().enumerate() {
        if i == mi {
            continue;
        }
        match ev.eval(a)? {
            Val::Scalar(s) => params.push(s),
            _ => params.push(vec![f64::NAN; n]),
        }
    }
    let Some(arg) = call.args.get(mi) else {
        return Err(EvalError::Execution(format!(
            "expected a range vector argument in call to function \"{}\"",
            call.func
        )));
    };
    let arg = crate::engine::functions::unparen(arg);
    let (at, offset_ms, range_ms) = match arg {
        Expr::Matrix(ms) => (ms.vs.at, ms.vs.offset_ms, ms.range_ms),
        Expr::Subquery(sq) => (sq.at, sq.offset_ms, sq.range_ms),
        _ => {
            return Err(EvalError::Execution(
                "expected a range vector argument".into(),
            ));
        }
    };
    let ends: Vec<i64> = (0..n)
        .map(|k| window_end(ev, at, offset_ms, ev.ts(k)))
        .collect();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut buf = Vec::new();
    let mut checked = |part: StepVec| -> Result<(), EvalError> {
        if check {
            for (i, l) in part.labels.iter().enumerate() {
                let h = match part.hashes.get(i) {
                    Some(h) => *h,
                    None => labels::hash(l, part.name_dropped, &mut buf),
                };
                if !seen.insert(h) {
                    return Err(EvalError::Execution(SAME_LABELSET.into()));
                }
            }
        }
        sink(part)
    };
    match arg {
        Expr::Matrix(ms) => {
            let set = select(ev, &ms.vs, ends[0] - range_ms, ends[n - 1], range_ms)?;
            run(
                ev,
                f,
                &Source::Set(&*set),
                &Spec {
                    ends: &ends,
                    range_ms,
                    params: &params,
                },
                prep,
                &mut checked,
            )
        }
        Expr::Subquery(sq) => {
            let before = ev.cur;
            let (inner, t0, step) = subquery::eval(ev, sq)?;
            let series = subquery::to_series(inner, t0, step);
            let held = ev.cur - before;
            let r = run(
                ev,
                f,
                &Source::Mem(&series),
                &Spec {
                    ends: &ends,
                    range_ms,
                    params: &params,
                },
                prep,
                &mut checked,
            )?;
            ev.cur -= held;
            Ok(r)
        }
        _ => unreachable!("checked above"),
    }
}

/// The windows of one call: their ends per step, their length, the scalar parameters.
struct Spec<'a> {
    ends: &'a [i64],
    range_ms: i64,
    params: &'a [Vec<f64>],
}

/// Applies `f` to every series of `src`, handing the results to `sink`; returns, per step,
/// whether any series had a window with samples (for `absent_over_time`).
fn run(
    ev: &mut Evaluator,
    f: RangeFn,
    src: &Source,
    spec: &Spec,
    prep: Prep,
    sink: &mut Sink,
) -> Result<Vec<bool>, EvalError> {
    let Spec {
        ends,
        range_ms,
        params,
    } = *spec;
    let name_dropped = f != RangeFn::Last;
    let n = ends.len();
    let start = ev.start;
    let interval = ev.interval;
    let mut any = vec![false; n];
    let stop = ev.stop_check();
    let work = |r: std::ops::Range<usize>| -> Result<Part, EvalError> {
        let mut part = StepVec::new(n);
        let mut counts = Vec::with_capacity(r.len());
        let mut any = vec![false; n];
        let mut buf = Vec::new();
        let mut scratch = Vec::new();
        let mut bufs = ProjectBufs::default();
        let mut col = vec![ABSENT; n];
        for i in r.clone() {
            stop.check_at(i)?;
            if (i - r.start).is_multiple_of(PREFETCH_SERIES) {
                src.prefetch(i..r.end.min(i + PREFETCH_SERIES));
            }
            src.load(i, &mut buf)?;
            // Windows are runs of `buf`: without a decrease in the series, none has one.
            let resets = matches!(f, RangeFn::Rate | RangeFn::Increase)
                && buf.windows(2).any(|w| w[1].1 < w[0].1);
            let (mut lo, mut hi) = (0, 0);
            let (mut widest, mut outputs) = (0u32, 0u32);
            for k in 0..n {
                let end = ends[k];
                let begin = end - range_ms;
                while hi < buf.len() && buf[hi].0 <= end {
                    hi += 1;
                }
                while lo < hi && buf[lo].0 < begin {
                    lo += 1;
                }
                col[k] = ABSENT;
                if lo >= hi {
                    continue;
                }
                any[k] = true;
                widest = widest.max((hi - lo) as u32);
                let w = Window {
                    points: &buf[lo..hi],
                    ts: start + k as i64 * interval,
                    start: begin,
                    end,
                    range_ms,
                    params: [
                        params.first().map_or(f64::NAN, |p| p[k]),
                        params.get(1).map_or(f64::NAN, |p| p[k]),
                    ],
                    resets,
                };
                if let Some(v) = f.apply(&w, &mut scratch)? {
                    col[k] = v;
                    outputs += 1;
                }
            }
            if outputs > 0 {
                match src {
                    Source::Set(s) => {
                        prep.push_series(&mut part, *s, i, name_dropped, &mut bufs)?
                    }
                    Source::Mem(_) => {
                        let l = src.labels(i)?;
                        prep.apply(&mut part, &l, name_dropped, &mut bufs.key);
                        part.labels.push(l);
                    }
                }
                part.vals.extend_from_slice(&col);
            }
            counts.push((widest, outputs));
        }
        Ok((part, counts, any))
    };
    let mut b = 0;
    while b < src.len() {
        ev.check_deadline()?;
        let e = (b + BATCH_SERIES).min(src.len());
        for (mut part, counts, part_any) in run_halves(b..e, &work)? {
            for (widest, outputs) in counts {
                if ev.cur + widest as usize > ev.opts.max_samples
                    || ev.cur + outputs as usize > ev.opts.max_samples
                {
                    return Err(Evaluator::too_many());
                }
                ev.cur += outputs as usize;
            }
            part.name_dropped = name_dropped;
            sink(part)?;
            any.iter_mut().zip(part_any).for_each(|(a, p)| *a |= p);
        }
        b = e;
    }
    Ok(any)
}
