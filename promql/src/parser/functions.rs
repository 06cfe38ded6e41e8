//! The PromQL function table of Prometheus 2.42 (`promql/parser/functions.go`): each function's
//! argument types, how many optional or repeated arguments it takes and its return type.
//! The parser checks calls against it; the engine looks functions up in it too.

use crate::ast::ValueType as V;

/// One function's signature (`parser.Function`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionDef {
    /// The name as called.
    pub name: &'static str,
    /// The argument types; with `variadic != 0` the last one is optional or repeated.
    pub arg_types: &'static [V],
    /// 0: exactly `arg_types`; n > 0: up to n optional trailing arguments of the last type;
    /// -1: any number of trailing arguments of the last type.
    pub variadic: i32,
    /// The result type.
    pub return_type: V,
}

/// Every 2.42 function, sorted by name.
pub static FUNCTIONS: &[FunctionDef] = &[
    FunctionDef {
        name: "abs",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "absent",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "absent_over_time",
        arg_types: &[V::Matrix],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "acos",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "acosh",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "asin",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "asinh",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "atan",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "atanh",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "avg_over_time",
        arg_types: &[V::Matrix],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "ceil",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "changes",
        arg_types: &[V::Matrix],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "clamp",
        arg_types: &[V::Vector, V::Scalar, V::Scalar],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "clamp_max",
        arg_types: &[V::Vector, V::Scalar],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "clamp_min",
        arg_types: &[V::Vector, V::Scalar],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "cos",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "cosh",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "count_over_time",
        arg_types: &[V::Matrix],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "day_of_month",
        arg_types: &[V::Vector],
        variadic: 1,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "day_of_week",
        arg_types: &[V::Vector],
        variadic: 1,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "day_of_year",
        arg_types: &[V::Vector],
        variadic: 1,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "days_in_month",
        arg_types: &[V::Vector],
        variadic: 1,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "deg",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "delta",
        arg_types: &[V::Matrix],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "deriv",
        arg_types: &[V::Matrix],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "exp",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "floor",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "histogram_count",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "histogram_fraction",
        arg_types: &[V::Scalar, V::Scalar, V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "histogram_quantile",
        arg_types: &[V::Scalar, V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "histogram_sum",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "holt_winters",
        arg_types: &[V::Matrix, V::Scalar, V::Scalar],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "hour",
        arg_types: &[V::Vector],
        variadic: 1,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "idelta",
        arg_types: &[V::Matrix],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "increase",
        arg_types: &[V::Matrix],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "irate",
        arg_types: &[V::Matrix],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "label_join",
        arg_types: &[V::Vector, V::String, V::String, V::String],
        variadic: -1,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "label_replace",
        arg_types: &[V::Vector, V::String, V::String, V::String, V::String],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "last_over_time",
        arg_types: &[V::Matrix],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "ln",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "log10",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "log2",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "max_over_time",
        arg_types: &[V::Matrix],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "min_over_time",
        arg_types: &[V::Matrix],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "minute",
        arg_types: &[V::Vector],
        variadic: 1,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "month",
        arg_types: &[V::Vector],
        variadic: 1,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "pi",
        arg_types: &[],
        variadic: 0,
        return_type: V::Scalar,
    },
    FunctionDef {
        name: "predict_linear",
        arg_types: &[V::Matrix, V::Scalar],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "present_over_time",
        arg_types: &[V::Matrix],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "quantile_over_time",
        arg_types: &[V::Scalar, V::Matrix],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "rad",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "rate",
        arg_types: &[V::Matrix],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "resets",
        arg_types: &[V::Matrix],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "round",
        arg_types: &[V::Vector, V::Scalar],
        variadic: 1,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "scalar",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Scalar,
    },
    FunctionDef {
        name: "sgn",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "sin",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "sinh",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "sort",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "sort_desc",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "sqrt",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "stddev_over_time",
        arg_types: &[V::Matrix],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "stdvar_over_time",
        arg_types: &[V::Matrix],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "sum_over_time",
        arg_types: &[V::Matrix],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "tan",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "tanh",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "time",
        arg_types: &[],
        variadic: 0,
        return_type: V::Scalar,
    },
    FunctionDef {
        name: "timestamp",
        arg_types: &[V::Vector],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "vector",
        arg_types: &[V::Scalar],
        variadic: 0,
        return_type: V::Vector,
    },
    FunctionDef {
        name: "year",
        arg_types: &[V::Vector],
        variadic: 1,
        return_type: V::Vector,
    },
];

/// The function called `name` (case-sensitive, as `getFunction`).
pub fn lookup(name: &str) -> Option<&'static FunctionDef> {
    FUNCTIONS
        .binary_search_by(|f| f.name.cmp(name))
        .ok()
        .map(|i| &FUNCTIONS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_complete() {
        assert!(FUNCTIONS.windows(2).all(|w| w[0].name < w[1].name));
        assert_eq!(FUNCTIONS.len(), 70);
        let rate = lookup("rate").expect("rate");
        assert_eq!(rate.arg_types, &[V::Matrix]);
        assert_eq!(lookup("label_join").map(|f| f.variadic), Some(-1));
        assert_eq!(lookup("round").map(|f| f.variadic), Some(1));
        assert!(lookup("Rate").is_none());
    }
}
