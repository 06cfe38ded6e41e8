//! Prometheus 2.42 name validation (`model.IsValidMetricName`, `LabelName.IsValid`) and the
//! unique-name rule of series creation (`label name "a" is not unique: invalid sample`).

use super::Labels;
use super::METRIC_NAME_LABEL;
use crate::AppendError;

/// Whether `s` matches `^[a-zA-Z_:][a-zA-Z0-9_:]*$`.
pub fn is_valid_metric_name(s: &str) -> bool {
    let b = s.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b':' => {}
        _ => return false,
    }
    b[1..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

/// Whether `s` matches `^[a-zA-Z_][a-zA-Z0-9_]*$`.
pub fn is_valid_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return false,
    }
    b[1..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Validates a sorted label set; the error text names the offending label.
pub(super) fn validate(labels: &Labels) -> Result<(), AppendError> {
    if labels.is_empty() {
        return Err(AppendError::InvalidLabels(
            "empty labelset: invalid sample".to_owned(),
        ));
    }
    let mut prev: Option<&str> = None;
    for l in labels.iter() {
        if prev == Some(l.name.as_str()) {
            return Err(AppendError::InvalidLabels(format!(
                "label name {:?} is not unique: invalid sample",
                l.name
            )));
        }
        prev = Some(&l.name);
        if l.name == METRIC_NAME_LABEL {
            if !is_valid_metric_name(&l.value) {
                return Err(AppendError::InvalidLabels(format!(
                    "invalid metric name {:?}: invalid sample",
                    l.value
                )));
            }
        } else if !is_valid_label_name(&l.name) {
            return Err(AppendError::InvalidLabels(format!(
                "invalid label name {:?}: invalid sample",
                l.name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let cases = [
            ("a", true, true),
            ("_", true, true),
            (":", true, false),
            ("a:b", true, false),
            ("A9_", true, true),
            ("9a", false, false),
            ("", false, false),
            ("a-b", false, false),
            ("ä", false, false),
            ("job:rate5m:sum", true, false),
        ];
        for (s, metric, label) in cases {
            assert_eq!(is_valid_metric_name(s), metric, "metric name {s:?}");
            assert_eq!(is_valid_label_name(s), label, "label name {s:?}");
        }
    }

    #[test]
    fn label_sets() {
        type Pairs = &'static [(&'static str, &'static str)];
        let cases: [(Pairs, Option<&str>); 8] = [
            (&[("__name__", "up"), ("job", "x")], None),
            (&[("job", "x")], None),
            (
                &[("__name__", "up"), ("a", "1"), ("a", "2")],
                Some(r#"label name "a" is not unique"#),
            ),
            (&[("__name__", "1up")], Some(r#"invalid metric name "1up""#)),
            (
                &[("__name__", "up"), ("a-b", "1")],
                Some(r#"invalid label name "a-b""#),
            ),
            (
                &[("__name__", "up"), ("a:b", "1")],
                Some(r#"invalid label name "a:b""#),
            ),
            (&[("__name__", "")], Some("empty labelset")),
            (&[("__name__", "ns:up"), ("Zed", "1")], None),
        ];
        for (pairs, want) in cases {
            let got = Labels::from_pairs(pairs.iter().copied()).validate();
            match (want, got) {
                (None, Ok(())) => {}
                (Some(w), Err(AppendError::InvalidLabels(msg))) => {
                    assert!(msg.contains(w), "{pairs:?}: {msg:?} lacks {w:?}")
                }
                (w, g) => panic!("{pairs:?}: want {w:?}, got {g:?}"),
            }
        }
    }
}
