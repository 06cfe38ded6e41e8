//! Fuzz target: the configuration loader (`Config::parse` of a YAML string) must never panic
//! and what it accepts must be valid (`fedstore::config::fuzz::fuzz_parse`, also replayed over
//! the seeds by the unit tests).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fedstore::config::fuzz::fuzz_parse(data);
});
