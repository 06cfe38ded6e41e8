//! Query results, as Prometheus's `promql.Value`: scalar, string, vector, matrix.

use fedstore_storage::Labels;

/// One point of an instant vector: labels, the evaluation timestamp and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The label set (may lack `__name__`).
    pub labels: Labels,
    /// Timestamp in ms.
    pub t_ms: i64,
    /// The value.
    pub v: f64,
}

/// One series of a matrix: labels and `(t_ms, value)` points in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The label set.
    pub labels: Labels,
    /// The points in time order.
    pub points: Vec<(i64, f64)>,
}

/// The result of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `[t, "v"]`.
    Scalar {
        /// Timestamp in ms.
        t_ms: i64,
        /// The value.
        v: f64,
    },
    /// `[t, "text"]`.
    String {
        /// Timestamp in ms.
        t_ms: i64,
        /// The text.
        s: String,
    },
    /// An instant vector, in the engine's output order.
    Vector(Vec<Sample>),
    /// A range vector (from an instant query of a range selector or subquery) or the result
    /// of a range query (sorted by labels).
    Matrix(Vec<Series>),
}
