//! The engine's intermediate values: every expression is evaluated at all steps at once, so an
//! instant vector is a set of series, each with one value per step (series-major, one flat
//! buffer), and a scalar is one value per step.
//!
//! A missing value is the staleness-marker bit pattern: stale markers never survive a selector,
//! and IEEE arithmetic only produces quiet NaNs, so no computed value can carry these bits.

use std::collections::HashMap;

use fedstore_storage::{Labels, STALE_NAN_BITS};

use crate::engine::EvalError;
use crate::storage::SeriesSet;
use crate::value::Series;

/// Scratch buffers a worker reuses for [`Prep::push_series`].
#[derive(Debug, Default)]
pub(crate) struct ProjectBufs {
    /// Grouping-key bytes.
    pub key: Vec<u8>,
    /// Whole-label-set hash bytes.
    pub hash: Vec<u8>,
    /// The kept pairs, as `name 0xff value 0xff` bytes.
    pub kept: Vec<u8>,
    /// The label sets built from `kept` so far: the series of one group share one (a `by`
    /// fold over many series costs an allocation per group, not several per series).
    pub built: HashMap<Vec<u8>, Labels>,
}

/// The "no value at this step" marker inside a [`StepVec`].
pub(crate) const ABSENT: f64 = f64::from_bits(STALE_NAN_BITS);

/// Whether `v` is the [`ABSENT`] marker.
#[inline]
pub(crate) fn is_absent(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// An instant vector over all steps: series `i` has `vals[i*n..(i+1)*n]`.
#[derive(Debug, Clone, Default)]
pub(crate) struct StepVec {
    /// Steps per series.
    pub n: usize,
    /// One label set per series, in the engine's output order.
    pub labels: Vec<Labels>,
    /// `labels.len() * n` values, [`ABSENT`] where a series has no value.
    pub vals: Vec<f64>,
    /// `__name__` is logically removed from every label set but not yet taken out (dropping it
    /// costs an allocation per series, which an enclosing aggregation does not need).
    pub name_dropped: bool,
    /// Per series, the grouping key of the enclosing aggregation when the worker that
    /// produced the series computed it ([`Prep`]); empty otherwise.
    pub group_keys: Vec<u64>,
    /// Per series, the label-set hash for the duplicate check, when computed by the worker.
    pub hashes: Vec<u64>,
}

/// Per-series work a selector's worker threads do for the consumer of their output, so it
/// runs in parallel: the enclosing aggregation's grouping key, the duplicate-check hash.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Prep<'a> {
    /// `(grouping, without)` of the enclosing aggregation.
    pub grouping: Option<(&'a [String], bool)>,
    /// Whether to hash every label set (`name_dropped` applied).
    pub hash: bool,
    /// The consumer is a `by` aggregation, which looks at no label outside its grouping:
    /// keep only those (keys and hashes still come from the whole label set), so a series
    /// costs one small label set instead of its whole one.
    pub project: bool,
}

impl Prep<'_> {
    /// Records the keys `self` asks for of the series just pushed with labels `l`.
    /// Pushes series `i` of `set` onto `part` with the keys `self` asks for: its label set,
    /// or with `project` only its grouping labels, read from storage without building the
    /// whole set.
    pub fn push_series(
        &self,
        part: &mut StepVec,
        set: &dyn SeriesSet,
        i: usize,
        name_dropped: bool,
        bufs: &mut ProjectBufs,
    ) -> Result<(), EvalError> {
        match self.grouping {
            Some((grouping, false)) if self.project => {
                let (l, key, hash) = crate::engine::labels::project(
                    set,
                    i,
                    grouping,
                    self.hash,
                    name_dropped,
                    bufs,
                )?;
                part.group_keys.push(key);
                if let Some(h) = hash {
                    part.hashes.push(h);
                }
                part.labels.push(l);
            }
            _ => {
                let l = crate::engine::selectors::labels_of(set, i)?;
                self.apply(part, &l, name_dropped, &mut bufs.key);
                part.labels.push(l);
            }
        }
        Ok(())
    }

    /// Records the keys `self` asks for of the series just pushed with labels `l`.
    pub fn apply(&self, part: &mut StepVec, l: &Labels, name_dropped: bool, buf: &mut Vec<u8>) {
        if let Some((grouping, without)) = self.grouping {
            part.group_keys.push(crate::engine::labels::grouping_key(
                l,
                without,
                grouping,
                name_dropped,
                buf,
            ));
        }
        if self.hash {
            part.hashes
                .push(crate::engine::labels::hash(l, name_dropped, buf));
        }
    }
}

impl StepVec {
    /// An empty vector over `n` steps.
    pub fn new(n: usize) -> Self {
        StepVec {
            n,
            ..StepVec::default()
        }
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// The values of series `i`.
    pub fn col(&self, i: usize) -> &[f64] {
        &self.vals[i * self.n..(i + 1) * self.n]
    }

    /// Appends a series unless it has no value at any step.
    pub fn push(&mut self, labels: Labels, col: &[f64]) {
        if col.iter().all(|v| is_absent(*v)) {
            return;
        }
        self.labels.push(labels);
        self.vals.extend_from_slice(col);
    }

    /// Appends all series of `other` (same `n`, same name state).
    pub fn append(&mut self, other: StepVec) {
        self.labels.extend(other.labels);
        self.vals.extend(other.vals);
        self.group_keys.extend(other.group_keys);
        self.hashes.extend(other.hashes);
    }

    /// Takes `__name__` out of the label sets if it was dropped lazily.
    pub fn materialize(&mut self) {
        if self.name_dropped {
            for l in &mut self.labels {
                *l = crate::engine::labels::drop_name(l);
            }
            self.name_dropped = false;
        }
    }

    /// Number of values present at each step.
    pub fn present_per_step(&self) -> Vec<usize> {
        let mut out = vec![0usize; self.n];
        for c in self.vals.chunks_exact(self.n.max(1)) {
            for (o, v) in out.iter_mut().zip(c) {
                *o += usize::from(!is_absent(*v));
            }
        }
        out
    }
}

/// A value of any PromQL type, at every step of the current evaluation.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    /// One value per step.
    Scalar(Vec<f64>),
    /// A string literal.
    Str(String),
    /// An instant vector.
    Vector(StepVec),
    /// A range vector (only as the result of an instant query of a selector or subquery).
    Matrix(Vec<Series>),
}
