//! Prometheus YAML configuration (`--config.file`): types, defaults and validation as
//! Prometheus 2.42 `config/config.go`, with errors that lead with `file:line:column`.
//!
//! Parsing is strict (`yaml.UnmarshalStrict`): unknown fields are errors. Sections fedstore
//! does not act on (`remote_read`, `storage`, `tracing`) are accepted loosely
//! and reported by [`Config::ignored_sections`].

pub mod alerting;
pub mod duration;
pub mod error;
pub mod external_labels;
pub mod file_sd;
pub mod fuzz;
pub mod global;
pub mod http_client;
pub mod relabel;
pub mod remote_write;
pub mod scrape;
pub mod size;
pub mod yaml;

use std::collections::HashSet;
use std::path::Path;
use std::sync::LazyLock;

use serde::Deserialize;

pub use duration::{Duration, DurationError};
pub use error::{ConfigError, Location};
pub use external_labels::ExternalLabels;
pub use file_sd::FileSdConfig;
pub use global::GlobalConfig;
pub use http_client::{Authorization, BasicAuth, HttpClientConfig, Secret, TlsConfig};
pub use relabel::{Action, RelabelConfig};
pub use scrape::{ScrapeConfig, TargetGroup};
pub use size::ByteSize;

use error::PathSeg;

/// The configuration used when no `--config.file` is given: fedstore scrapes its own
/// `/metrics` every 15 s as job `fedstore`. [`Config::default_for`] puts the real listen
/// address in place of `localhost:9090`.
pub const DEFAULT_CONFIG: &str = "\
# fedstore's built-in configuration (used when --config.file is not given).
global:
  scrape_interval: 15s
  evaluation_interval: 15s

scrape_configs:
  - job_name: fedstore
    static_configs:
      - targets: ['localhost:9090']
";

/// A loaded configuration: defaults applied, every job's interval and timeout resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The `global` section (defaults when absent).
    pub global: GlobalConfig,
    /// Scrape jobs in file order; job names are unique.
    pub scrape_configs: Vec<ScrapeConfig>,
    /// `rule_files` patterns (globs; relative ones resolved against the file's directory).
    pub rule_files: Vec<String>,
    /// `alerting`: Alertmanagers and alert relabeling.
    pub alerting: alerting::AlertingConfig,
    /// `remote_write`: where the sender (src/remote/sender.rs) forwards the WAL.
    pub remote_write: Vec<remote_write::RemoteWriteConfig>,
    /// Top-level sections present in the file that fedstore ignores, in a fixed order.
    ignored_sections: Vec<&'static str>,
}

/// Top-level sections accepted for compatibility but not acted on.
const IGNORED_SECTIONS: [&str; 3] = ["remote_read", "storage", "tracing"];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename = "Config")]
struct RawConfig {
    #[serde(default)]
    global: Option<GlobalConfig>,
    #[serde(default, deserialize_with = "yaml::strings")]
    rule_files: Vec<String>,
    #[serde(default)]
    scrape_configs: Vec<Option<ScrapeConfig>>,
    #[serde(default)]
    alerting: Option<alerting::AlertingConfig>,
    #[serde(default)]
    remote_write: Vec<Option<remote_write::RemoteWriteConfig>>,
    #[serde(default)]
    remote_read: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    storage: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    tracing: Option<serde_yaml_ng::Value>,
}

/// Prometheus's `patRulePath`: at most one `*`, in the last path element.
static RULE_PATH: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^[^*]*(\*[^/]*)?$").expect("the rule path pattern is valid")
});

impl Default for Config {
    /// Prometheus's `DefaultConfig`: default `global`, no jobs.
    fn default() -> Self {
        Config {
            global: GlobalConfig::default(),
            scrape_configs: Vec::new(),
            rule_files: Vec::new(),
            alerting: alerting::AlertingConfig::default(),
            remote_write: Vec::new(),
            ignored_sections: Vec::new(),
        }
    }
}

impl Config {
    /// Reads, parses and validates the file at `path`, then resolves relative file paths in it
    /// (auth and TLS files, file-SD patterns, rule files) against the file's directory, as
    /// Prometheus's `LoadFile` does. Logs a warning per ignored section.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let yaml = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut cfg = Config::parse(&yaml, &path.to_string_lossy())?;
        let dir = path.parent().unwrap_or(Path::new("."));
        cfg.set_directory(dir);
        for section in cfg.ignored_sections() {
            tracing::warn!(
                file = %path.display(),
                section,
                "configuration section is accepted for compatibility but ignored by fedstore"
            );
        }
        Ok(cfg)
    }

    /// Parses and validates `yaml`; `file_name` only labels errors. Paths are left as written.
    pub fn parse(yaml: &str, file_name: &str) -> Result<Config, ConfigError> {
        // go-yaml v2 reads the first document of a stream and ignores the rest.
        let raw = match serde_yaml_ng::Deserializer::from_str(yaml).next() {
            Some(doc) => RawConfig::deserialize(doc),
            None => Ok(RawConfig::default()),
        }
        .map_err(|e| ConfigError::from_yaml(file_name, &e))?;
        let at = |path: &[PathSeg<'_>], msg: &str| ConfigError::at_path(file_name, yaml, path, msg);

        let mut global = raw.global.unwrap_or_default();
        let explicit_global_timeout = !global.scrape_timeout.is_zero();
        if let Err(e) = global.resolve() {
            let path: &[PathSeg<'_>] = if explicit_global_timeout {
                &[PathSeg::Key("global"), PathSeg::Key("scrape_timeout")]
            } else {
                &[PathSeg::Key("global")]
            };
            return Err(at(path, &e.to_string()));
        }

        for (i, rf) in raw.rule_files.iter().enumerate() {
            if !RULE_PATH.is_match(rf) {
                let path = [PathSeg::Key("rule_files"), PathSeg::Index(i)];
                return Err(at(&path, &format!("invalid rule file path {rf:?}")));
            }
        }

        let mut scrape_configs = Vec::with_capacity(raw.scrape_configs.len());
        for (i, sc) in raw.scrape_configs.into_iter().enumerate() {
            match sc {
                Some(sc) => scrape_configs.push(sc),
                None => {
                    let path = [PathSeg::Key("scrape_configs"), PathSeg::Index(i)];
                    return Err(at(&path, "empty or null scrape config section"));
                }
            }
        }
        let mut job_names: HashSet<String> = HashSet::new();
        for (i, sc) in scrape_configs.iter_mut().enumerate() {
            // Interval first, then check the (explicit or inherited) timeout against it.
            if sc.scrape_interval.is_zero() {
                sc.scrape_interval = global.scrape_interval;
            }
            if sc.scrape_timeout > sc.scrape_interval {
                let path = [
                    PathSeg::Key("scrape_configs"),
                    PathSeg::Index(i),
                    PathSeg::Key("scrape_timeout"),
                ];
                let msg = format!(
                    "scrape timeout greater than scrape interval for scrape config with job name {:?}",
                    sc.job_name
                );
                return Err(at(&path, &msg));
            }
            if sc.scrape_timeout.is_zero() {
                sc.scrape_timeout = global.scrape_timeout.min(sc.scrape_interval);
            }
            if !job_names.insert(sc.job_name.clone()) {
                let path = [
                    PathSeg::Key("scrape_configs"),
                    PathSeg::Index(i),
                    PathSeg::Key("job_name"),
                ];
                let msg = format!(
                    "found multiple scrape configs with job name {:?}",
                    sc.job_name
                );
                return Err(at(&path, &msg));
            }
        }

        let mut remote_write = Vec::with_capacity(raw.remote_write.len());
        let mut rw_names: HashSet<String> = HashSet::new();
        for (i, rw) in raw.remote_write.into_iter().enumerate() {
            let path = [PathSeg::Key("remote_write"), PathSeg::Index(i)];
            let Some(rw) = rw else {
                return Err(at(&path, "empty or null remote write config section"));
            };
            if !rw.name.is_empty() && !rw_names.insert(rw.name.clone()) {
                let msg = format!(
                    "found multiple remote write configs with job name {:?}",
                    rw.name
                );
                return Err(at(&path, &msg));
            }
            remote_write.push(rw);
        }

        let present = [
            raw.remote_read.is_some(),
            raw.storage.is_some(),
            raw.tracing.is_some(),
        ];
        let ignored_sections: Vec<&'static str> = IGNORED_SECTIONS
            .iter()
            .zip(present)
            .filter_map(|(name, p)| p.then_some(*name))
            .collect();
        Ok(Config {
            global,
            scrape_configs,
            rule_files: raw.rule_files,
            alerting: raw.alerting.unwrap_or_default(),
            remote_write,
            ignored_sections,
        })
    }

    /// The built-in [`DEFAULT_CONFIG`] with fedstore's own target set to `listen_addr`
    /// (`--web.listen-address`); an unspecified host (`:9090`, `0.0.0.0:9090`, `[::]:9090`)
    /// becomes `localhost`.
    pub fn default_for(listen_addr: &str) -> Config {
        let mut cfg = Config::parse(DEFAULT_CONFIG, "<built-in configuration>")
            .expect("the built-in configuration is valid");
        let target = self_scrape_target(listen_addr);
        for sc in &mut cfg.scrape_configs {
            for g in &mut sc.static_configs {
                for t in &mut g.targets {
                    t.clone_from(&target);
                }
            }
        }
        cfg
    }

    /// `global.external_labels`, sorted by name (Prometheus sorts them), as (name, value) pairs.
    pub fn external_labels(&self) -> &[(String, String)] {
        &self.global.external_labels
    }

    /// Sections present in the file that fedstore accepts but ignores (`remote_read`,
    /// `storage`, `tracing`).
    pub fn ignored_sections(&self) -> &[&'static str] {
        &self.ignored_sections
    }

    /// The scrape config of job `name`.
    pub fn scrape_config(&self, name: &str) -> Option<&ScrapeConfig> {
        self.scrape_configs.iter().find(|s| s.job_name == name)
    }

    /// Resolves relative file paths against `dir` (Prometheus `Config.SetDirectory`).
    pub fn set_directory(&mut self, dir: &Path) {
        for rf in &mut self.rule_files {
            if !rf.is_empty() && Path::new(rf.as_str()).is_relative() {
                *rf = dir.join(rf.as_str()).to_string_lossy().into_owned();
            }
        }
        for sc in &mut self.scrape_configs {
            sc.set_directory(dir);
        }
        for rw in &mut self.remote_write {
            rw.set_directory(dir);
        }
    }
}

/// `host:port` to scrape ourselves at, from a listen address.
pub fn self_scrape_target(listen_addr: &str) -> String {
    let (host, port) = match listen_addr.rsplit_once(':') {
        Some((h, p)) => (h, p),
        None => ("", listen_addr),
    };
    match host {
        "" | "0.0.0.0" | "[::]" | "::" => format!("localhost:{port}"),
        _ => format!("{host}:{port}"),
    }
}

#[cfg(test)]
mod tests;
