//! Recording rules (Prometheus 2.42 `rules/recording.go`): the expression's result renamed to
//! the rule's `record` name with the rule's labels applied.

use std::collections::{BTreeMap, HashSet};

use fedstore_promql::Sample;
use fedstore_storage::Labels;

/// The name label.
const NAME: &str = "__name__";

/// A recording rule's output at one evaluation: samples to append, or Prometheus's error.
pub fn outputs(
    record: &str,
    rule_labels: &BTreeMap<String, String>,
    limit: u64,
    result: Vec<Sample>,
) -> Result<Vec<Sample>, String> {
    let mut out = Vec::with_capacity(result.len());
    let mut seen = HashSet::with_capacity(result.len());
    for s in result {
        let labels = relabel(&s.labels, record, rule_labels);
        if !seen.insert(labels.clone()) {
            return Err(
                "vector contains metrics with the same labelset after applying rule labels".into(),
            );
        }
        out.push(Sample {
            labels,
            t_ms: s.t_ms,
            v: s.v,
        });
    }
    if limit > 0 && out.len() as u64 > limit {
        return Err(format!(
            "exceeded limit of {limit} with {} series",
            out.len()
        ));
    }
    Ok(out)
}

/// `labels` with `__name__` set to `record` and then every rule label set (an empty value
/// deletes the label, as `labels.Builder.Set`).
fn relabel(labels: &Labels, record: &str, rule_labels: &BTreeMap<String, String>) -> Labels {
    let mut pairs: BTreeMap<&str, &str> = labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    pairs.insert(NAME, record);
    for (k, v) in rule_labels {
        pairs.insert(k, v);
    }
    Labels::from_pairs(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(pairs: &[(&str, &str)], v: f64) -> Sample {
        Sample {
            labels: Labels::from_pairs(pairs.iter().copied()),
            t_ms: 1000,
            v,
        }
    }

    #[test]
    fn renames_and_applies_rule_labels() {
        let rl = BTreeMap::from([
            ("team".to_owned(), "a".to_owned()),
            ("instance".to_owned(), String::new()),
        ]);
        let out = outputs(
            "job:up:sum",
            &rl,
            0,
            vec![sample(
                &[("__name__", "up"), ("job", "j"), ("instance", "i")],
                2.0,
            )],
        )
        .expect("ok");
        assert_eq!(
            out[0].labels,
            Labels::from_pairs([("__name__", "job:up:sum"), ("job", "j"), ("team", "a")])
        );
        assert_eq!(out[0].v, 2.0);
    }

    #[test]
    fn duplicate_after_rule_labels_is_an_error() {
        let rl = BTreeMap::from([("job".to_owned(), "x".to_owned())]);
        let err = outputs(
            "r",
            &rl,
            0,
            vec![sample(&[("job", "a")], 1.0), sample(&[("job", "b")], 1.0)],
        )
        .expect_err("dup");
        assert_eq!(
            err,
            "vector contains metrics with the same labelset after applying rule labels"
        );
    }

    #[test]
    fn limit() {
        let err = outputs(
            "r",
            &BTreeMap::new(),
            1,
            vec![sample(&[("a", "1")], 1.0), sample(&[("a", "2")], 1.0)],
        )
        .expect_err("limit");
        assert_eq!(err, "exceeded limit of 1 with 2 series");
    }
}
