//! Fuzz target: the zero-copy remote-write decoder must accept and reject exactly what prost
//! accepts and rejects, and decode the same series, labels and samples
//! (`fedstore::remote::decode::must_match_prost`, also run by the unit tests).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fedstore::remote::decode::must_match_prost(data);
});
