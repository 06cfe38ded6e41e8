//! Selectors: instant-vector selectors over all steps (lookback, staleness, offset, `@`) and
//! the raw range-vector result of an instant query. Each series is read once into a buffer the
//! worker reuses, and its value at every step is found with a cursor moving forward.

use fedstore_storage::{Labels, is_stale_nan};

use crate::ast::{MatrixSelector, VectorSelector};
use crate::engine::EvalError;
use crate::engine::columns::{ABSENT, Prep, ProjectBufs, StepVec, Val};
use crate::engine::eval::Evaluator;
use crate::engine::parallel::{BATCH_SERIES, PREFETCH_SERIES, run_halves};
use crate::storage::{SelectHints, SeriesSet, StorageError};
use crate::value::Series;

/// Receives the output of a selector or range function batch by batch.
pub(crate) type Sink<'s> = dyn FnMut(StepVec) -> Result<(), EvalError> + 's;

/// Selects the series of `vs` with samples in `[mint, maxt]`.
pub(crate) fn select<'q>(
    ev: &Evaluator<'q>,
    vs: &VectorSelector,
    mint: i64,
    maxt: i64,
    range_ms: i64,
) -> Result<Box<dyn SeriesSet + 'q>, EvalError> {
    let hints = SelectHints {
        start_ms: mint,
        end_ms: maxt,
        step_ms: if ev.start == ev.end { 0 } else { ev.interval },
        range_ms,
        ..SelectHints::default()
    };
    ev.q.select(&vs.matchers, mint, maxt, &hints)
        .map_err(|e| match e.into_eval() {
            EvalError::Storage(m) => EvalError::Storage(format!("expanding series: {m}")),
            stop => stop,
        })
}

/// The label set of series `i`.
pub(crate) fn labels_of(set: &dyn SeriesSet, i: usize) -> Result<Labels, EvalError> {
    set.labels(i).map_err(StorageError::into_eval)
}

/// Reads series `i` into `buf`.
pub(crate) fn read(
    set: &dyn SeriesSet,
    i: usize,
    buf: &mut Vec<(i64, f64)>,
) -> Result<(), EvalError> {
    set.samples(i, buf).map_err(StorageError::into_eval)
}

/// The reference time of each step for `vs` (`ts - offset`, or the `@` time; `timestamp()`
/// uses the `@` time without the offset, as 2.42 does).
fn refs(ev: &Evaluator, vs: &VectorSelector, for_timestamp: bool) -> (i64, i64, Option<i64>) {
    match vs.at {
        Some(at) => {
            let at = ev.at_ms(at);
            let r = if for_timestamp { at } else { at - vs.offset_ms };
            (r, r, Some(r))
        }
        None => (ev.start - vs.offset_ms, ev.end - vs.offset_ms, None),
    }
}

/// Evaluates an instant-vector selector at every step. With `timestamps` the value is the
/// sample's own time in seconds and `__name__` is dropped (`timestamp(selector)`).
pub(crate) fn eval_vector(
    ev: &mut Evaluator,
    vs: &VectorSelector,
    timestamps: bool,
) -> Result<StepVec, EvalError> {
    let mut out = StepVec::new(ev.steps());
    out.name_dropped = timestamps;
    eval_vector_into(ev, vs, timestamps, Prep::default(), &mut |part| {
        out.append(part);
        Ok(())
    })?;
    Ok(out)
}

/// [`eval_vector`], handing the series to `sink` batch by batch (in selector order), so an
/// enclosing aggregation never holds all of them.
pub(crate) fn eval_vector_into(
    ev: &mut Evaluator,
    vs: &VectorSelector,
    timestamps: bool,
    prep: Prep,
    sink: &mut Sink,
) -> Result<(), EvalError> {
    let n = ev.steps();
    let lookback = ev.opts.lookback_ms;
    let (first_ref, last_ref, fixed) = refs(ev, vs, timestamps);
    let set = select(ev, vs, first_ref - lookback, last_ref, 0)?;
    let (start, interval) = (ev.start, ev.interval);
    let set_ref: &dyn SeriesSet = &*set;
    let stop = ev.stop_check();
    let work = |r: std::ops::Range<usize>| -> Result<(StepVec, Vec<u32>), EvalError> {
        let mut part = StepVec::new(n);
        let mut counts = Vec::with_capacity(r.len());
        let mut buf = Vec::new();
        let mut bufs = ProjectBufs::default();
        let mut col = vec![ABSENT; n];
        for i in r.clone() {
            stop.check_at(i)?;
            if (i - r.start).is_multiple_of(PREFETCH_SERIES) {
                set_ref.prefetch(i..r.end.min(i + PREFETCH_SERIES), n > 1);
            }
            let mut count = 0u32;
            if n == 1 {
                // One step: only the newest sample at or before it matters (the select
                // ends there), which storage may have without decoding any chunk.
                col[0] = ABSENT;
                let last = set_ref
                    .last_sample(i, &mut buf)
                    .map_err(StorageError::into_eval)?;
                if let Some((t, v)) = last
                    && t >= first_ref - lookback
                    && !is_stale_nan(v)
                {
                    col[0] = if timestamps { t as f64 / 1000.0 } else { v };
                    count = 1;
                }
            } else {
                read(set_ref, i, &mut buf)?;
                let mut j = 0;
                for (k, slot) in col.iter_mut().enumerate() {
                    let rt = fixed.unwrap_or(start + k as i64 * interval - vs.offset_ms);
                    while j < buf.len() && buf[j].0 <= rt {
                        j += 1;
                    }
                    *slot = ABSENT;
                    if j == 0 {
                        continue;
                    }
                    let (t, v) = buf[j - 1];
                    if t < rt - lookback || is_stale_nan(v) {
                        continue;
                    }
                    *slot = if timestamps { t as f64 / 1000.0 } else { v };
                    count += 1;
                }
            }
            if count > 0 {
                prep.push_series(&mut part, set_ref, i, timestamps, &mut bufs)?;
                part.vals.extend_from_slice(&col);
            }
            counts.push(count);
        }
        Ok((part, counts))
    };
    let mut b = 0;
    while b < set.len() {
        ev.check_deadline()?;
        let e = (b + BATCH_SERIES).min(set.len());
        for (mut part, counts) in run_halves(b..e, &work)? {
            for c in counts {
                ev.cur += c as usize;
                if ev.cur > ev.opts.max_samples {
                    return Err(Evaluator::too_many());
                }
            }
            part.name_dropped = timestamps;
            sink(part)?;
        }
        b = e;
    }
    Ok(())
}

/// An instant query of `selector[range]`: the raw samples in `[T-o-range, T-o]`, stale
/// markers dropped, series without samples left out, in selector order.
pub(crate) fn eval_matrix_instant(
    ev: &mut Evaluator,
    ms: &MatrixSelector,
) -> Result<Val, EvalError> {
    if ev.start != ev.end {
        return Err(EvalError::Execution(
            "cannot do range evaluation of matrix selector".into(),
        ));
    }
    let maxt = match ms.vs.at {
        Some(at) => ev.at_ms(at) - ms.vs.offset_ms,
        None => ev.start - ms.vs.offset_ms,
    };
    let mint = maxt - ms.range_ms;
    let set = select(ev, &ms.vs, mint, maxt, ms.range_ms)?;
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for i in 0..set.len() {
        if i % 1024 == 0 {
            ev.check_deadline()?;
        }
        read(&*set, i, &mut buf)?;
        let points: Vec<(i64, f64)> = buf
            .iter()
            .filter(|(t, v)| *t >= mint && *t <= maxt && !is_stale_nan(*v))
            .copied()
            .collect();
        if points.is_empty() {
            continue;
        }
        ev.cur += points.len();
        if ev.cur > ev.opts.max_samples {
            return Err(Evaluator::too_many());
        }
        out.push(Series {
            labels: labels_of(&*set, i)?,
            points,
        });
    }
    Ok(Val::Matrix(out))
}
