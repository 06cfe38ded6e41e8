//! Fuzzing entries of the parsers, used by `fuzz/fuzz_targets/` and replayed over the
//! committed corpora by the unit tests.

/// Parses `data` as a PromQL expression. Panics (the fuzzer's finding) when parsing panics,
/// or when an accepted expression printed back (`Expr`'s `Display`, Prometheus's
/// `String()`) does not parse again to the same printed text.
pub fn fuzz_parse_expr(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(expr) = super::parse_expr(text) else {
        return;
    };
    let printed = expr.to_string();
    match super::parse_expr(&printed) {
        Ok(again) => assert_eq!(
            again.to_string(),
            printed,
            "printing is not a fixed point for {text:?}"
        ),
        Err(e) => panic!("{text:?} printed as {printed:?}, which does not parse: {e}"),
    }
}

/// Parses `data` as a `match[]` selector (raw bytes, as a percent-decoded parameter).
/// Panics when parsing panics or is not deterministic. An accepted selector may have no
/// matcher at all: `{}` parses to none, as 2.42's `ParseMetricSelector` (whose callers
/// decide: the series API refuses it, `/federate` answers nothing).
pub fn fuzz_parse_selector(data: &[u8]) {
    let first = super::parse_selector_bytes(data);
    let again = super::parse_selector_bytes(data);
    assert_eq!(format!("{first:?}"), format!("{again:?}"), "{data:?}");
}

#[cfg(test)]
mod tests {
    fn replay(target: &str, f: fn(&[u8])) -> usize {
        let dir = format!("{}/../fuzz/seeds/{target}", env!("CARGO_MANIFEST_DIR"));
        let mut n = 0;
        for e in std::fs::read_dir(dir).expect("seed dir") {
            f(&std::fs::read(e.expect("entry").path()).expect("seed"));
            n += 1;
        }
        n
    }

    /// The first fuzz finding (`{}`) was the harness's wrong assumption: 2.42's
    /// `ParseMetricSelector` accepts empty braces and returns no matchers.
    #[test]
    fn empty_braces_are_a_selector_without_matchers() {
        assert_eq!(super::super::parse_selector("{}"), Ok(vec![]));
        super::fuzz_parse_selector(b"{}");
    }

    /// Every committed seed (and regression input) of the fuzz targets passes.
    #[test]
    fn seeds_replay() {
        assert!(replay("promql_parse", super::fuzz_parse_expr) >= 5);
        assert!(replay("selector_parse", super::fuzz_parse_selector) >= 3);
    }
}
