//! `histogram_quantile` over classic `le` buckets: series are grouped by all labels except
//! `le` (the metric name included), and each group's buckets at each step give one value.

use std::collections::HashMap;

use crate::engine::columns::{ABSENT, StepVec, is_absent};
use crate::engine::quantile::bucket_quantile;
use crate::engine::{EvalError, labels};

/// `histogram_quantile(q, v)` with `q` per step. Output groups come in order of first
/// appearance (2.42 uses Go map order, which is random).
pub(crate) fn histogram_quantile(q: &[f64], v: StepVec) -> Result<StepVec, EvalError> {
    let n = v.n;
    let mut groups: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut group_labels = Vec::new();
    let mut members: Vec<Vec<(usize, f64)>> = Vec::new();
    let mut key = Vec::new();
    for (i, l) in v.labels.iter().enumerate() {
        let Some(le) = parse_go_float(l.get("le")) else {
            continue;
        };
        key.clear();
        for x in l.iter() {
            if x.name == "le" || (v.name_dropped && x.name == labels::METRIC_NAME) {
                continue;
            }
            key.extend_from_slice(x.name.as_bytes());
            key.push(0xff);
            key.extend_from_slice(x.value.as_bytes());
            key.push(0xff);
        }
        let g = *groups.entry(key.clone()).or_insert_with(|| {
            let out = labels::delete(l, &["le".to_owned(), labels::METRIC_NAME.to_owned()]);
            group_labels.push(out);
            members.push(Vec::new());
            members.len() - 1
        });
        members[g].push((i, le));
    }
    let mut out = StepVec::new(n);
    let mut buckets = Vec::new();
    let mut col = vec![ABSENT; n];
    for (g, l) in group_labels.into_iter().enumerate() {
        for (k, slot) in col.iter_mut().enumerate() {
            buckets.clear();
            for &(i, le) in &members[g] {
                let x = v.vals[i * n + k];
                if !is_absent(x) {
                    buckets.push((le, x));
                }
            }
            *slot = if buckets.is_empty() {
                ABSENT
            } else {
                bucket_quantile(q[k], &mut buckets)
            };
        }
        out.push(l, &col);
    }
    Ok(out)
}

/// Go's `strconv.ParseFloat` for the forms bucket bounds use (decimal, exponent, `+Inf`,
/// `Inf`, `NaN`, any case).
fn parse_go_float(s: &str) -> Option<f64> {
    if s.is_empty() || s.contains('_') {
        return None;
    }
    s.parse::<f64>().ok()
}
