//! Fuzz target: the exposition parser (text and OpenMetrics) must never panic, must always make
//! progress, and must keep its invariants (`fedstore::exposition::parse::fuzz_parse`, also run
//! by the unit tests over every table case).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fedstore::exposition::parse::fuzz_parse(data);
});
