//! Sorted label sets and Prometheus name validation.
//!
//! A [`Labels`] is sorted by name and never holds an empty value: Prometheus treats an empty
//! label value as an absent label, so builders drop them. Validation (Prometheus's legacy name
//! rules, unique names) lives in `validate` and runs when `Appender::append` creates a series.

pub mod packed;
mod validate;

use std::sync::Arc;

pub use validate::{is_valid_label_name, is_valid_metric_name};

/// The label holding a series' metric name (Prometheus `labels.MetricName`).
pub const METRIC_NAME_LABEL: &str = "__name__";

/// One label pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    /// Label name, e.g. `__name__` or `job`.
    pub name: String,
    /// Label value, never empty inside a [`Labels`].
    pub value: String,
}

/// A label set: sorted by name, unique names, no empty values. Immutable and shared:
/// cloning is a reference-count increment, so the query engine can hand the same set from
/// storage through every stage without copying strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Arc<[Label]>);

impl Labels {
    /// Builds a label set from pairs: drops empty values and sorts by name.
    /// Duplicate names are kept (validation reports them).
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut v: Vec<Label> = pairs
            .into_iter()
            .map(|(n, v)| Label {
                name: n.into(),
                value: v.into(),
            })
            .filter(|l| !l.value.is_empty())
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Labels(v.into())
    }

    /// The value of label `name`, or `""` when absent (Prometheus semantics).
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|l| l.name == name)
            .map_or("", |l| l.value.as_str())
    }

    /// The labels in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.0.iter()
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set has no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks Prometheus's rules: metric name `^[a-zA-Z_:][a-zA-Z0-9_:]*$`, label names
    /// `^[a-zA-Z_][a-zA-Z0-9_]*$`, unique names, at least one label. Values are `String`s and so
    /// always valid UTF-8.
    pub fn validate(&self) -> Result<(), crate::AppendError> {
        validate::validate(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_label_array() {
        let a = Labels::from_pairs([("job", "api"), ("__name__", "up"), ("empty", "")]);
        let b = a.clone();
        assert_eq!(a, b);
        assert_eq!(a.len(), 2, "empty values are dropped");
        assert_eq!(a.iter().next().map(|l| l.name.as_str()), Some("__name__"));
        // The clone points at the same labels: no string was copied.
        assert!(std::ptr::eq(a.0.as_ptr(), b.0.as_ptr()));
    }
}
