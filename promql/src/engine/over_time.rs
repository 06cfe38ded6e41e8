//! The `*_over_time` functions (Prometheus 2.42 `functions.go`) over one window's values.

use crate::engine::quantile::quantile;
use crate::engine::rate::kahan_inc;

/// `sum_over_time`: Kahan sum.
pub(crate) fn sum(p: &[(i64, f64)]) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    for &(_, v) in p {
        (s, c) = kahan_inc(v, s, c);
    }
    if s.is_infinite() { s } else { s + c }
}

/// `avg_over_time`: incremental mean with Kahan compensation and 2.42's Inf rules.
pub(crate) fn avg(p: &[(i64, f64)]) -> f64 {
    let (mut mean, mut count, mut c) = (0.0f64, 0.0, 0.0);
    for &(_, v) in p {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_inc(v / count - mean / count, mean, c);
    }
    if mean.is_infinite() { mean } else { mean + c }
}

/// `min_over_time` (`max = false`) and `max_over_time`: NaN loses to any later value.
pub(crate) fn min_max(p: &[(i64, f64)], max: bool) -> f64 {
    let mut m = p[0].1;
    for &(_, v) in p {
        if (if max { v > m } else { v < m }) || m.is_nan() {
            m = v;
        }
    }
    m
}

/// `stdvar_over_time` (population, Kahan-compensated Welford); `stddev` is its root.
pub(crate) fn stdvar(p: &[(i64, f64)]) -> f64 {
    let (mut count, mut mean, mut cm, mut aux, mut ca) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(_, v) in p {
        count += 1.0;
        let delta = v - (mean + cm);
        (mean, cm) = kahan_inc(delta / count, mean, cm);
        (aux, ca) = kahan_inc(delta * (v - (mean + cm)), aux, ca);
    }
    (aux + ca) / count
}

/// `quantile_over_time(q, ...)`; `scratch` is reused between windows.
pub(crate) fn quantile_of(q: f64, p: &[(i64, f64)], scratch: &mut Vec<f64>) -> f64 {
    scratch.clear();
    scratch.extend(p.iter().map(|x| x.1));
    quantile(q, scratch)
}
