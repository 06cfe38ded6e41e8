//! `label_replace` and `label_join` (Prometheus 2.42 `functions.go`), with 2.42's argument
//! errors; they keep `__name__` and the values, and change label sets only.

use fedstore_storage::{MatchOp, Matcher};

use crate::engine::columns::StepVec;
use crate::engine::{EvalError, labels};

/// `label_replace(v, dst, replacement, src, regex)`.
pub(crate) fn label_replace(
    mut v: StepVec,
    dst: &str,
    repl: &str,
    src: &str,
    regex: &str,
) -> Result<StepVec, EvalError> {
    let bad_regex = || {
        EvalError::Execution(format!(
            "invalid regular expression in label_replace(): {regex}"
        ))
    };
    // Go's syntax decides what is valid; Rust's engine then does the capturing.
    Matcher::new(MatchOp::Regex, "x", regex).map_err(|_| bad_regex())?;
    let re = regex::Regex::new(&format!("^(?:{regex})$")).map_err(|_| bad_regex())?;
    if !labels::is_valid_name(dst) {
        return Err(EvalError::Execution(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    v.materialize();
    let mut out = String::new();
    for l in &mut v.labels {
        let value = l.get(src);
        let Some(caps) = re.captures(value) else {
            continue;
        };
        out.clear();
        caps.expand(repl, &mut out);
        *l = labels::set(l, dst, &out);
    }
    Ok(v)
}

/// `label_join(v, dst, separator, src...)`.
pub(crate) fn label_join(
    mut v: StepVec,
    dst: &str,
    sep: &str,
    src: &[&str],
) -> Result<StepVec, EvalError> {
    for s in src {
        if !labels::is_valid_name(s) {
            return Err(EvalError::Execution(format!(
                "invalid source label name in label_join(): {s}"
            )));
        }
    }
    if !labels::is_valid_name(dst) {
        return Err(EvalError::Execution(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    v.materialize();
    for l in &mut v.labels {
        let joined = src.iter().map(|s| l.get(s)).collect::<Vec<_>>().join(sep);
        *l = labels::set(l, dst, &joined);
    }
    Ok(v)
}
