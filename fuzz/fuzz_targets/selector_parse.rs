//! Fuzz target: the `match[]` selector parser over raw (possibly non-UTF-8) bytes must never
//! panic (`fedstore_promql::parser::fuzz::fuzz_parse_selector`, also replayed over the seeds
//! by the unit tests).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fedstore_promql::parser::fuzz::fuzz_parse_selector(data);
});
