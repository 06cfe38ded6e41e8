//! Range functions over counters and gauges (Prometheus 2.42 `functions.go`): extrapolated
//! `rate`/`increase`/`delta` (zero clamp before the threshold test, as 2.42), `irate`/`idelta`,
//! `resets`/`changes`, least-squares `deriv`/`predict_linear` with Kahan sums, `holt_winters`.
//! Each takes the float samples of one window, oldest first.

use crate::engine::EvalError;
use crate::engine::format::go_f;

/// `extrapolatedRate`: the window is `[range_start, range_end]` (ms), `range_ms` its length.
/// `may_reset` false says the caller knows no sample of `p` is below the one before it (the
/// whole series has no counter reset), so the window need not be scanned for resets: the
/// result is the same, in O(1) instead of O(window).
pub(crate) fn extrapolated_rate(
    p: &[(i64, f64)],
    range_start: i64,
    range_end: i64,
    range_ms: i64,
    is_counter: bool,
    is_rate: bool,
    may_reset: bool,
) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (t0, v0) = p[0];
    let (tn, vn) = p[p.len() - 1];
    let mut result = vn - v0;
    if is_counter && may_reset {
        let mut prev = v0;
        for &(_, v) in &p[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let mut to_start = (t0 - range_start) as f64 / 1000.0;
    let to_end = (range_end - tn) as f64 / 1000.0;
    let sampled = (tn - t0) as f64 / 1000.0;
    let avg = sampled / (p.len() - 1) as f64;
    if is_counter && result > 0.0 && v0 >= 0.0 {
        let to_zero = sampled * (v0 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg / 2.0
    };
    let mut factor = interval / sampled;
    if is_rate {
        factor /= range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate` (`is_rate`) and `idelta`: the last two samples.
pub(crate) fn instant_value(p: &[(i64, f64)], is_rate: bool) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (tl, vl) = p[p.len() - 1];
    let (tp, vp) = p[p.len() - 2];
    let mut r = if is_rate && vl < vp { vl } else { vl - vp };
    let dt = tl - tp;
    if dt == 0 {
        return None;
    }
    if is_rate {
        r /= dt as f64 / 1000.0;
    }
    Some(r)
}

/// Number of decreases.
pub(crate) fn resets(p: &[(i64, f64)]) -> f64 {
    p.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64
}

/// Number of changes (two NaNs in a row are no change).
pub(crate) fn changes(p: &[(i64, f64)]) -> f64 {
    p.windows(2)
        .filter(|w| w[1].1 != w[0].1 && !(w[1].1.is_nan() && w[0].1.is_nan()))
        .count() as f64
}

/// Kahan-compensated `sum + inc` (Prometheus `kahanSumInc`).
#[inline]
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Least squares over `x = (t - intercept_time)/1000`: `(slope, intercept)`.
pub(crate) fn linear_regression(p: &[(i64, f64)], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sxy, mut cxy, mut sx2, mut cx2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = p[0].1;
    let mut const_y = true;
    for (i, &(t, v)) in p.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - intercept_time) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(v, sy, cy);
        (sxy, cxy) = kahan_inc(x * v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

/// `deriv`: the slope per second.
pub(crate) fn deriv(p: &[(i64, f64)]) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    Some(linear_regression(p, p[0].0).0)
}

/// `predict_linear(v, d)` at evaluation time `ts`.
pub(crate) fn predict_linear(p: &[(i64, f64)], ts: i64, d: f64) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (slope, intercept) = linear_regression(p, ts);
    Some(slope * d + intercept)
}

/// `holt_winters(v, sf, tf)`; the factors are checked before the sample count, as 2.42 does.
pub(crate) fn holt_winters(p: &[(i64, f64)], sf: f64, tf: f64) -> Result<Option<f64>, EvalError> {
    if sf <= 0.0 || sf >= 1.0 || sf.is_nan() {
        return Err(EvalError::Execution(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
            go_f(sf)
        )));
    }
    if tf <= 0.0 || tf >= 1.0 || tf.is_nan() {
        return Err(EvalError::Execution(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {}",
            go_f(tf)
        )));
    }
    if p.len() < 2 {
        return Ok(None);
    }
    let (mut s0, mut s1) = (0.0, p[0].1);
    let mut b = p[1].1 - p[0].1;
    for (i, &(_, v)) in p.iter().enumerate().skip(1) {
        let x = sf * v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    Ok(Some(s1))
}
