//! Fuzz target: the PromQL parser must never panic, and an accepted expression printed back
//! must parse to the same text (`fedstore_promql::parser::fuzz::fuzz_parse_expr`, also
//! replayed over the seeds by the unit tests).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fedstore_promql::parser::fuzz::fuzz_parse_expr(data);
});
