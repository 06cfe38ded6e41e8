//! One `scrape_configs` entry (Prometheus 2.42 `ScrapeConfig`) and the target groups of
//! `static_configs`. Per-entry checks run while parsing; interval/timeout inheritance from
//! `global` and duplicate job names are checked by the top-level parse.

use std::fmt;
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use crate::config::duration::Duration;
use crate::config::file_sd::FileSdConfig;
use crate::config::http_client::{HttpClientConfig, raw_with_http_client};
use crate::config::relabel::RelabelConfig;
use crate::config::size::ByteSize;
use crate::config::yaml;

/// Prometheus's default `metrics_path`.
pub const DEFAULT_METRICS_PATH: &str = "/metrics";
/// Prometheus's default `scheme`.
pub const DEFAULT_SCHEME: &str = "http";

/// A scrape job, with Prometheus's defaults applied and intervals resolved against `global`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeConfig {
    /// The job name, unique within the configuration, never empty; the default `job` label.
    pub job_name: String,
    /// Keep the scraped value when a scraped label collides with a target label.
    pub honor_labels: bool,
    /// Keep timestamps exposed by the target (default true).
    pub honor_timestamps: bool,
    /// URL query parameters (`__param_<name>` gets the first value), in file order.
    pub params: Vec<(String, Vec<String>)>,
    /// How often to scrape; after `Config::parse` never zero (inherits `global`).
    pub scrape_interval: Duration,
    /// Scrape timeout; after `Config::parse` never zero and never above `scrape_interval`.
    pub scrape_timeout: Duration,
    /// The HTTP path (default `/metrics`).
    pub metrics_path: String,
    /// `http` (default) or `https`; Prometheus 2.42 does not validate it at load time.
    pub scheme: String,
    /// Uncompressed body size limit; [`ByteSize::limit`] is `None` for "unlimited".
    pub body_size_limit: ByteSize,
    /// Samples per scrape after metric relabeling; 0 = unlimited.
    pub sample_limit: u64,
    /// Targets after target relabeling; 0 = unlimited.
    pub target_limit: u64,
    /// Labels per sample after metric relabeling; 0 = unlimited.
    pub label_limit: u64,
    /// Label name length after metric relabeling; 0 = unlimited.
    pub label_name_length_limit: u64,
    /// Label value length after metric relabeling; 0 = unlimited.
    pub label_value_length_limit: u64,
    /// Authentication, TLS and redirect settings.
    pub http_client: HttpClientConfig,
    /// Static target groups; `source` is the group's index as Prometheus numbers them.
    pub static_configs: Vec<TargetGroup>,
    /// File-based service discovery.
    pub file_sd_configs: Vec<FileSdConfig>,
    /// Target relabeling, applied to discovered labels.
    pub relabel_configs: Vec<RelabelConfig>,
    /// Metric relabeling, applied to every scraped sample.
    pub metric_relabel_configs: Vec<RelabelConfig>,
}

impl ScrapeConfig {
    /// A job with Prometheus's defaults and no targets; intervals zero (unset).
    pub fn new(job_name: impl Into<String>) -> ScrapeConfig {
        ScrapeConfig {
            job_name: job_name.into(),
            honor_labels: false,
            honor_timestamps: true,
            params: Vec::new(),
            scrape_interval: Duration::ZERO,
            scrape_timeout: Duration::ZERO,
            metrics_path: DEFAULT_METRICS_PATH.to_owned(),
            scheme: DEFAULT_SCHEME.to_owned(),
            body_size_limit: ByteSize::default(),
            sample_limit: 0,
            target_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            http_client: HttpClientConfig::default(),
            static_configs: Vec::new(),
            file_sd_configs: Vec::new(),
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
        }
    }

    /// Resolves relative file paths (auth files, TLS files, file-SD patterns) against `dir`.
    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client.set_directory(dir);
        for sd in &mut self.file_sd_configs {
            sd.set_directory(dir);
        }
    }
}

/// A group of targets sharing labels (`static_configs` entry or file-SD group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroup {
    /// `host:port` addresses; each becomes a target's `__address__`.
    pub targets: Vec<String>,
    /// Labels of every target in the group, sorted by name, valid names.
    pub labels: Vec<(String, String)>,
    /// Identifies the group within its provider: the index for static configs,
    /// `<file>:<index>` for file SD (Prometheus `Group.Source`).
    pub source: String,
}

/// A target group as written (`targets`, `labels`), shared with file SD.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTargetGroup {
    #[serde(default, deserialize_with = "yaml::strings")]
    pub targets: Vec<String>,
    #[serde(default, deserialize_with = "yaml::label_map")]
    pub labels: Vec<(String, String)>,
}

raw_with_http_client! {
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScrapeConfig {
    #[serde(default, deserialize_with = "yaml::string")]
    job_name: String,
    #[serde(default, deserialize_with = "yaml::bool")]
    honor_labels: bool,
    #[serde(default, deserialize_with = "crate::config::http_client::opt_bool")]
    honor_timestamps: Option<bool>,
    #[serde(default, deserialize_with = "yaml::params")]
    params: Vec<(String, Vec<String>)>,
    #[serde(default)]
    scrape_interval: Duration,
    #[serde(default)]
    scrape_timeout: Duration,
    #[serde(default, deserialize_with = "yaml::opt_string")]
    metrics_path: Option<String>,
    #[serde(default, deserialize_with = "yaml::opt_string")]
    scheme: Option<String>,
    #[serde(default)]
    body_size_limit: ByteSize,
    #[serde(default, deserialize_with = "yaml::uint")]
    sample_limit: u64,
    #[serde(default, deserialize_with = "yaml::uint")]
    target_limit: u64,
    #[serde(default, deserialize_with = "yaml::uint")]
    label_limit: u64,
    #[serde(default, deserialize_with = "yaml::uint")]
    label_name_length_limit: u64,
    #[serde(default, deserialize_with = "yaml::uint")]
    label_value_length_limit: u64,
    // Null entries are kept to report them as Prometheus does.
    #[serde(default)]
    static_configs: Vec<Option<RawTargetGroup>>,
    #[serde(default)]
    file_sd_configs: Vec<Option<FileSdConfig>>,
    #[serde(default)]
    relabel_configs: Vec<Option<RelabelConfig>>,
    #[serde(default)]
    metric_relabel_configs: Vec<Option<RelabelConfig>>,
}
}

/// The entries of a list, or `msg` if one of them is null.
fn non_null<T>(entries: Vec<Option<T>>, msg: &str) -> Result<Vec<T>, String> {
    entries
        .into_iter()
        .map(|e| e.ok_or_else(|| msg.to_owned()))
        .collect()
}

impl RawScrapeConfig {
    /// Prometheus's `ScrapeConfig.UnmarshalYAML` checks, in its order.
    fn validate(mut self) -> Result<ScrapeConfig, String> {
        let raw_http = self.take_http_client();
        let static_groups = non_null(
            self.static_configs,
            "empty or null section in static_configs",
        )?;
        let file_sd_configs = non_null(
            self.file_sd_configs,
            "empty or null section in file_sd_configs",
        )?;
        if self.job_name.is_empty() {
            return Err("job_name is empty".to_owned());
        }
        let http_client = raw_http.validate()?;
        // Prometheus rejects URLs in static targets unless relabeling could rewrite them.
        if self.relabel_configs.is_empty() {
            for t in static_groups.iter().flat_map(|g| &g.targets) {
                if t.contains('/') {
                    return Err(format!("{t:?} is not a valid hostname"));
                }
            }
        }
        let relabel_configs = non_null(
            self.relabel_configs,
            "empty or null target relabeling rule in scrape config",
        )?;
        let metric_relabel_configs = non_null(
            self.metric_relabel_configs,
            "empty or null metric relabeling rule in scrape config",
        )?;
        let static_configs = static_groups
            .into_iter()
            .enumerate()
            .map(|(i, g)| TargetGroup {
                targets: g.targets,
                labels: g.labels,
                source: i.to_string(),
            })
            .collect();
        Ok(ScrapeConfig {
            job_name: self.job_name,
            honor_labels: self.honor_labels,
            honor_timestamps: self.honor_timestamps.unwrap_or(true),
            params: self.params,
            scrape_interval: self.scrape_interval,
            scrape_timeout: self.scrape_timeout,
            metrics_path: self
                .metrics_path
                .unwrap_or_else(|| DEFAULT_METRICS_PATH.to_owned()),
            scheme: self.scheme.unwrap_or_else(|| DEFAULT_SCHEME.to_owned()),
            body_size_limit: self.body_size_limit,
            sample_limit: self.sample_limit,
            target_limit: self.target_limit,
            label_limit: self.label_limit,
            label_name_length_limit: self.label_name_length_limit,
            label_value_length_limit: self.label_value_length_limit,
            http_client,
            static_configs,
            file_sd_configs,
            relabel_configs,
            metric_relabel_configs,
        })
    }
}

impl<'de> Deserialize<'de> for ScrapeConfig {
    /// Reads and checks one entry; `scrape_interval`/`scrape_timeout` stay zero when unset
    /// until the top-level parse resolves them against `global`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ScrapeConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scrape config")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ScrapeConfig, A::Error> {
                let raw = RawScrapeConfig::deserialize(de::value::MapAccessDeserializer::new(map))?;
                raw.validate().map_err(de::Error::custom)
            }
        }
        d.deserialize_map(V)
    }
}
