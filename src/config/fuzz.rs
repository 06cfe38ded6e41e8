//! The fuzzing entry of the configuration loader, used by
//! `fuzz/fuzz_targets/config_yaml.rs` and replayed over the committed corpus by the unit tests.

use super::Config;

/// Parses `data` as a `--config.file` (UTF-8 only, as Prometheus reads it). Panics (the
/// fuzzer's finding) when parsing panics, or when an accepted configuration breaks what
/// validation promises: unique, non-empty job names and timeouts within intervals.
pub fn fuzz_parse(data: &[u8]) {
    let Ok(yaml) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cfg) = Config::parse(yaml, "fuzz.yml") else {
        return;
    };
    let mut names = std::collections::HashSet::new();
    for sc in &cfg.scrape_configs {
        assert!(!sc.job_name.is_empty(), "empty job name accepted");
        assert!(
            names.insert(sc.job_name.as_str()),
            "duplicate job {:?} accepted",
            sc.job_name
        );
        assert!(
            sc.scrape_timeout <= sc.scrape_interval,
            "job {:?}: timeout above interval accepted",
            sc.job_name
        );
    }
}

#[cfg(test)]
mod tests {
    /// Every committed seed (and regression input) of the fuzz target passes.
    #[test]
    fn seeds_replay() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/config_yaml");
        let mut n = 0;
        for e in std::fs::read_dir(dir).expect("seed dir") {
            super::fuzz_parse(&std::fs::read(e.expect("entry").path()).expect("seed"));
            n += 1;
        }
        assert!(n >= 3, "{n} seeds");
    }
}
