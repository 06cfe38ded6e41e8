//! Function calls (Prometheus 2.42 `functions.go`): dispatch to the range-vector functions
//! (`windows`), and the step-wise functions over instant vectors and scalars here: math,
//! clamps, rounding, `timestamp`, `time`, `vector`, `scalar`, `sort`, `absent`, dates; the label
//! functions live in `label_fns`, `histogram_quantile` in `histogram`.

use fedstore_storage::{Labels, MatchOp};

use crate::ast::{Call, Expr};
use crate::engine::columns::{ABSENT, StepVec, Val, is_absent};
use crate::engine::eval::{Evaluator, merge_same_labels};
use crate::engine::windows::{self, RangeFn};
use crate::engine::{EvalError, date, histogram, label_fns, labels, selectors};

/// Evaluates a function call.
pub(crate) fn eval(ev: &mut Evaluator, call: &Call) -> Result<Val, EvalError> {
    if let Some((f, mi)) = RangeFn::from_name(&call.func) {
        return windows::eval(ev, call, f, mi);
    }
    let n = ev.steps();
    let name = call.func.as_str();
    // timestamp(selector) reads the samples' own times.
    if let ("timestamp", Some(Expr::Vector(vs))) = (name, call.args.first().map(unparen)) {
        let original = ev.cur;
        let v = selectors::eval_vector(ev, vs, true)?;
        let out = v.present_per_step();
        ev.account_steps(original, &[], &out)?;
        return finish(v);
    }
    let original = ev.cur;
    let mut args = Vec::with_capacity(call.args.len());
    for a in &call.args {
        args.push(ev.eval(a)?);
    }
    // Inputs held at each step: every vector sample and one per scalar argument.
    let mut inputs = vec![0usize; n];
    for a in &args {
        match a {
            Val::Vector(v) => {
                for (i, c) in v.present_per_step().into_iter().enumerate() {
                    inputs[i] += c;
                }
            }
            Val::Scalar(_) => inputs.iter_mut().for_each(|x| *x += 1),
            _ => {}
        }
    }
    let out = apply(ev, name, call, args)?;
    let outputs = match &out {
        Val::Vector(v) => v.present_per_step(),
        _ => vec![1; n],
    };
    ev.account_steps(original, &inputs, &outputs)?;
    match out {
        Val::Vector(v) => finish(v),
        other => Ok(other),
    }
}

fn finish(v: StepVec) -> Result<Val, EvalError> {
    Ok(Val::Vector(merge_same_labels(v)?))
}

/// `e` without enclosing parentheses.
pub(crate) fn unparen(mut e: &Expr) -> &Expr {
    while let Expr::Paren(inner) = e {
        e = inner;
    }
    e
}

fn take_vec(v: Val, n: usize) -> StepVec {
    match v {
        Val::Vector(v) => v,
        _ => StepVec::new(n),
    }
}

fn scalar(v: Option<&Val>, n: usize) -> Vec<f64> {
    match v {
        Some(Val::Scalar(s)) => s.clone(),
        _ => vec![f64::NAN; n],
    }
}

/// Takes argument `i` out (an empty vector if the call has fewer arguments; the parser
/// checks arity, so this only keeps a malformed tree from panicking).
fn take_arg(args: &mut Vec<Val>, i: usize) -> Val {
    if i < args.len() {
        args.swap_remove(i)
    } else {
        Val::Vector(StepVec::default())
    }
}

fn string_arg(call: &Call, i: usize) -> &str {
    match call.args.get(i).map(unparen) {
        Some(Expr::String(s)) => s,
        _ => "",
    }
}

/// Maps every present value with `f` and drops `__name__`.
fn map_values(mut v: StepVec, f: impl Fn(f64) -> f64) -> StepVec {
    v.vals
        .iter_mut()
        .filter(|x| !is_absent(**x))
        .for_each(|x| *x = f(*x));
    v.name_dropped = true;
    v
}

/// Maps every present value with `f(value, step)` and drops `__name__`.
fn map_steps(mut v: StepVec, f: impl Fn(f64, usize) -> f64) -> StepVec {
    let n = v.n;
    for (j, x) in v.vals.iter_mut().enumerate() {
        if !is_absent(*x) {
            *x = f(*x, j % n.max(1));
        }
    }
    v.name_dropped = true;
    v
}

fn apply(ev: &Evaluator, name: &str, call: &Call, mut args: Vec<Val>) -> Result<Val, EvalError> {
    let n = ev.steps();
    let math: Option<fn(f64) -> f64> = match name {
        "abs" => Some(f64::abs),
        "ceil" => Some(f64::ceil),
        "floor" => Some(f64::floor),
        "exp" => Some(f64::exp),
        "sqrt" => Some(f64::sqrt),
        "ln" => Some(go_ln),
        "log2" => Some(go_log2),
        "log10" => Some(go_log10),
        "sin" => Some(f64::sin),
        "cos" => Some(f64::cos),
        "tan" => Some(f64::tan),
        "asin" => Some(f64::asin),
        "acos" => Some(f64::acos),
        "atan" => Some(f64::atan),
        "sinh" => Some(f64::sinh),
        "cosh" => Some(f64::cosh),
        "tanh" => Some(f64::tanh),
        "asinh" => Some(go_asinh),
        "acosh" => Some(go_acosh),
        "atanh" => Some(f64::atanh),
        "rad" => Some(|v| v * std::f64::consts::PI / 180.0),
        "deg" => Some(|v| v * 180.0 / std::f64::consts::PI),
        "sgn" => Some(|v: f64| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        }),
        _ => None,
    };
    if let Some(f) = math {
        let v = take_vec(take_arg(&mut args, 0), n);
        return Ok(Val::Vector(map_values(v, f)));
    }
    Ok(match name {
        "time" => Val::Scalar((0..n).map(|k| ev.ts(k) as f64 / 1000.0).collect()),
        "pi" => Val::Scalar(vec![std::f64::consts::PI; n]),
        "vector" => {
            let s = scalar(args.first(), n);
            let mut v = StepVec::new(n);
            v.push(Labels::default(), &s);
            Val::Vector(v)
        }
        "scalar" => {
            let v = take_vec(take_arg(&mut args, 0), n);
            let mut out = vec![f64::NAN; n];
            let mut count = vec![0u32; n];
            for i in 0..v.len() {
                for (k, x) in v.col(i).iter().enumerate() {
                    if !is_absent(*x) {
                        count[k] += 1;
                        out[k] = *x;
                    }
                }
            }
            for (o, c) in out.iter_mut().zip(count) {
                if c != 1 {
                    *o = f64::NAN;
                }
            }
            Val::Scalar(out)
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let p1 = scalar(args.get(1), n);
            let p2 = if name == "clamp" {
                scalar(args.get(2), n)
            } else {
                Vec::new()
            };
            let v = take_vec(take_arg(&mut args, 0), n);
            Val::Vector(map_steps(v, |x, k| match name {
                "clamp" if p2[k] < p1[k] => ABSENT,
                "clamp" => go_max(p1[k], go_min(p2[k], x)),
                "clamp_min" => go_max(p1[k], x),
                _ => go_min(p1[k], x),
            }))
        }
        "round" => {
            let to = if args.len() > 1 {
                scalar(args.get(1), n)
            } else {
                vec![1.0; n]
            };
            let v = take_vec(take_arg(&mut args, 0), n);
            Val::Vector(map_steps(v, |x, k| {
                let inv = 1.0 / to[k];
                (x * inv + 0.5).floor() / inv
            }))
        }
        "timestamp" => {
            let v = take_vec(take_arg(&mut args, 0), n);
            let (start, interval) = (ev.start, ev.interval);
            Val::Vector(map_steps(v, |_, k| {
                (start + k as i64 * interval) as f64 / 1000.0
            }))
        }
        "sort" | "sort_desc" => {
            let v = take_vec(take_arg(&mut args, 0), n);
            Val::Vector(if n == 1 {
                sort(v, name == "sort_desc")
            } else {
                v
            })
        }
        "absent" => {
            let v = take_vec(take_arg(&mut args, 0), n);
            let present = v.present_per_step();
            let col: Vec<f64> = present
                .iter()
                .map(|c| if *c > 0 { ABSENT } else { 1.0 })
                .collect();
            let mut out = StepVec::new(n);
            let labels = call.args.first().map(absent_labels).unwrap_or_default();
            out.push(labels, &col);
            Val::Vector(out)
        }
        "label_replace" => {
            let v = take_vec(take_arg(&mut args, 0), n);
            let a: Vec<&str> = (1..5).map(|i| string_arg(call, i)).collect();
            Val::Vector(label_fns::label_replace(v, a[0], a[1], a[2], a[3])?)
        }
        "label_join" => {
            let v = take_vec(take_arg(&mut args, 0), n);
            let src: Vec<&str> = (3..call.args.len()).map(|i| string_arg(call, i)).collect();
            Val::Vector(label_fns::label_join(
                v,
                string_arg(call, 1),
                string_arg(call, 2),
                &src,
            )?)
        }
        "histogram_quantile" => {
            let q = scalar(args.first(), n);
            let v = take_vec(take_arg(&mut args, 1), n);
            Val::Vector(histogram::histogram_quantile(&q, v)?)
        }
        // Native histograms are not stored, so these never have input.
        "histogram_count" | "histogram_sum" | "histogram_fraction" => Val::Vector(StepVec::new(n)),
        "days_in_month" | "day_of_month" | "day_of_week" | "day_of_year" | "hour" | "minute"
        | "month" | "year" => {
            let f = date::by_name(name);
            if args.is_empty() {
                let col: Vec<f64> = (0..n).map(|k| f(ev.ts(k).div_euclid(1000))).collect();
                let mut out = StepVec::new(n);
                out.push(Labels::default(), &col);
                Val::Vector(out)
            } else {
                let v = take_vec(take_arg(&mut args, 0), n);
                Val::Vector(map_values(v, |x| f(date::go_f64_to_i64(x))))
            }
        }
        other => {
            return Err(EvalError::Execution(format!(
                "function \"{other}\" is not supported"
            )));
        }
    })
}

/// Go's `math.Log2` (`Frexp`, exact for powers of two, else `Log(frac)/Ln2 + exp`): libm's
/// `log2` differs in the last bit for some inputs (`log2(3)`: 2.42 gives 1.5849625007211563,
/// libm 1.584962500721156). For `log10` libm agreed with the 2.42 binary on more of the
/// inputs we tried (1000, 7, 123.456, 1e-5; not 3) than this formula did.
fn go_log2(x: f64) -> f64 {
    let (frac, exp) = frexp(x);
    if frac == 0.5 {
        return f64::from(exp - 1);
    }
    frac.ln() * std::f64::consts::LOG2_E + f64::from(exp)
}

/// Go's `math.Log` as the amd64 binary computes it. Normal inputs: libm agrees. Subnormal
/// inputs: the amd64 assembly reads the exponent field (0) as if the number were normal, so
/// it answers `-1022*ln2 + ln(0.5 + mantissa)`, e.g. `ln(1e-323)` = -709.0895657128241 in
/// 2.42 where the true value is -743.75.
fn go_ln(x: f64) -> f64 {
    if x > 0.0 && x < f64::MIN_POSITIVE {
        let mantissa = x.to_bits() & ((1u64 << 52) - 1);
        let mut f1 = f64::from_bits(mantissa | 0x3FE0_0000_0000_0000);
        let mut k = -1022.0;
        if f1 < std::f64::consts::FRAC_1_SQRT_2 {
            f1 *= 2.0;
            k -= 1.0;
        }
        return k * std::f64::consts::LN_2 + f1.ln();
    }
    x.ln()
}

/// Go's `math.Log10` (`Log(x) * (1/Ln10)`), with [`go_ln`]'s subnormal behaviour.
fn go_log10(x: f64) -> f64 {
    if x > 0.0 && x < f64::MIN_POSITIVE {
        return go_ln(x) * std::f64::consts::LOG10_E;
    }
    x.log10()
}

/// Go's `math.Asinh` (fdlibm's case split): finite for every finite input, where
/// `f64::asinh` overflows to infinity near `f64::MAX`.
fn go_asinh(x: f64) -> f64 {
    const LARGE: f64 = (1u64 << 28) as f64;
    const NEAR_ZERO: f64 = 1.0 / LARGE;
    if x.is_nan() || x.is_infinite() {
        return x;
    }
    let a = x.abs();
    let t = if a > LARGE {
        go_ln(a) + std::f64::consts::LN_2
    } else if a > 2.0 {
        go_ln(2.0 * a + 1.0 / ((a * a + 1.0).sqrt() + a))
    } else if a < NEAR_ZERO {
        a
    } else {
        (a + a * a / (1.0 + (1.0 + a * a).sqrt())).ln_1p()
    };
    if x < 0.0 { -t } else { t }
}

/// Go's `math.Acosh` (fdlibm's case split), finite for every finite input `>= 1`.
fn go_acosh(x: f64) -> f64 {
    const LARGE: f64 = (1u64 << 28) as f64;
    if x < 1.0 || x.is_nan() {
        f64::NAN
    } else if x == 1.0 {
        0.0
    } else if x >= LARGE {
        go_ln(x) + std::f64::consts::LN_2
    } else if x > 2.0 {
        go_ln(2.0 * x - 1.0 / (x + (x * x - 1.0).sqrt()))
    } else {
        let t = x - 1.0;
        (t + (2.0 * t + t * t).sqrt()).ln_1p()
    }
}

/// Go's `math.Frexp`: `x = frac * 2^exp` with `0.5 <= |frac| < 1`; zeros, infinities and
/// NaN come back unchanged with exponent 0.
fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || x.is_infinite() || x.is_nan() {
        return (x, 0);
    }
    let (mut x, mut exp) = (x, 0i32);
    if x.abs() < f64::MIN_POSITIVE {
        // Subnormal: scale into the normal range first.
        x *= (1u64 << 52) as f64;
        exp = -52;
    }
    let bits = x.to_bits();
    exp += ((bits >> 52) & 0x7ff) as i32 - 1022;
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, exp)
}

/// Go's `math.Max`: +Inf wins, then NaN wins (Rust's `f64::max` ignores NaN), +0 over -0.
fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        f64::INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && x == y {
        if x.is_sign_negative() { y } else { x }
    } else if x > y {
        x
    } else {
        y
    }
}

/// Go's `math.Min`: -Inf wins, then NaN wins, -0 over +0.
fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && x == y {
        if x.is_sign_negative() { x } else { y }
    } else if x < y {
        x
    } else {
        y
    }
}

/// `sort`/`sort_desc` of a one-step vector: by value, NaN last, ties in input order.
fn sort(v: StepVec, desc: bool) -> StepVec {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| {
        let (x, y) = (v.vals[a], v.vals[b]);
        match (x.is_nan(), y.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ if desc => y.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal),
            _ => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        }
    });
    let mut out = StepVec::new(1);
    out.name_dropped = v.name_dropped;
    let mut labels: Vec<Option<Labels>> = v.labels.into_iter().map(Some).collect();
    for i in idx {
        if let Some(l) = labels[i].take() {
            out.labels.push(l);
            out.vals.push(v.vals[i]);
        }
    }
    out
}

/// The labels of `absent(selector)`: the `=` matchers' pairs (not `__name__`); any other
/// matcher on a name, or a second `=` on it, removes that name.
pub(crate) fn absent_labels(arg: &Expr) -> Labels {
    let matchers = match unparen(arg) {
        Expr::Vector(vs) => &vs.matchers,
        Expr::Matrix(ms) => &ms.vs.matchers,
        _ => return Labels::default(),
    };
    let mut set: Vec<(String, String)> = Vec::new();
    let mut removed: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name == labels::METRIC_NAME {
            continue;
        }
        if m.op == MatchOp::Equal && !set.iter().any(|(n, _)| *n == m.name) {
            set.push((m.name.clone(), m.value.clone()));
        } else {
            removed.push(&m.name);
        }
    }
    set.retain(|(n, _)| !removed.contains(&n.as_str()));
    Labels::from_pairs(set)
}
