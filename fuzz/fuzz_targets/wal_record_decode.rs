//! Fuzz target: the WAL record decoder (frames, zstd payloads, series and samples records)
//! must never panic, and what decodes must round-trip through the encoder
//! (`fedstore_storage::testutil::fuzz_wal_decode`, also replayed over the seeds by the unit tests).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fedstore_storage::testutil::fuzz_wal_decode(data);
});
