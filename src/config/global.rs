//! The `global` section: default scrape interval and timeout, evaluation interval and the
//! external labels `/federate` appends. Defaults as Prometheus 2.42 `DefaultGlobalConfig`.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use crate::config::duration::Duration;
use crate::config::yaml;

/// Prometheus's default global scrape interval (`DefaultGlobalConfig.ScrapeInterval`).
pub const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(60);
/// Prometheus's default global scrape timeout (`DefaultGlobalConfig.ScrapeTimeout`).
pub const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// Prometheus's default rule evaluation interval (`DefaultGlobalConfig.EvaluationInterval`).
pub const DEFAULT_EVALUATION_INTERVAL: Duration = Duration::from_secs(60);

/// The `global` section with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalConfig {
    /// Default scrape interval of every job; never zero.
    pub scrape_interval: Duration,
    /// Default scrape timeout; never zero and never above `scrape_interval`.
    pub scrape_timeout: Duration,
    /// Rule evaluation interval (accepted; fedstore has no rules yet).
    pub evaluation_interval: Duration,
    /// `query_log_file` (accepted and ignored: fedstore has no PromQL engine).
    pub query_log_file: String,
    /// External labels, sorted by name; names are valid label names.
    pub external_labels: Vec<(String, String)>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: DEFAULT_SCRAPE_INTERVAL,
            scrape_timeout: DEFAULT_SCRAPE_TIMEOUT,
            evaluation_interval: DEFAULT_EVALUATION_INTERVAL,
            query_log_file: String::new(),
            external_labels: Vec::new(),
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlobalConfig {
    #[serde(default)]
    scrape_interval: Duration,
    #[serde(default)]
    scrape_timeout: Duration,
    #[serde(default)]
    evaluation_interval: Duration,
    #[serde(default, deserialize_with = "yaml::string")]
    query_log_file: String,
    #[serde(default, deserialize_with = "yaml::label_map")]
    external_labels: Vec<(String, String)>,
}

/// Why the `global` section is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GlobalError {
    /// An explicit `scrape_timeout` above the (possibly defaulted) `scrape_interval`.
    TimeoutAboveInterval,
}

impl fmt::Display for GlobalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GlobalError::TimeoutAboveInterval => {
                f.write_str("global scrape timeout greater than scrape interval")
            }
        }
    }
}

impl GlobalConfig {
    /// Applies Prometheus's `GlobalConfig.UnmarshalYAML` defaulting to a parsed section.
    /// A timeout written explicitly above the interval is an error.
    pub(crate) fn resolve(&mut self) -> Result<(), GlobalError> {
        if self.scrape_interval.is_zero() {
            self.scrape_interval = DEFAULT_SCRAPE_INTERVAL;
        }
        if self.scrape_timeout > self.scrape_interval {
            return Err(GlobalError::TimeoutAboveInterval);
        }
        if self.scrape_timeout.is_zero() {
            self.scrape_timeout = DEFAULT_SCRAPE_TIMEOUT.min(self.scrape_interval);
        }
        if self.evaluation_interval.is_zero() {
            self.evaluation_interval = DEFAULT_EVALUATION_INTERVAL;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for GlobalConfig {
    /// Reads the section as written (zero durations mean "unset"); defaults are applied by
    /// [`GlobalConfig::resolve`], called by the top-level parse so that its error can point at
    /// the `scrape_timeout` line.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = GlobalConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the global section")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<GlobalConfig, A::Error> {
                let raw = RawGlobalConfig::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(GlobalConfig {
                    scrape_interval: raw.scrape_interval,
                    scrape_timeout: raw.scrape_timeout,
                    evaluation_interval: raw.evaluation_interval,
                    query_log_file: raw.query_log_file,
                    external_labels: raw.external_labels,
                })
            }
        }
        d.deserialize_map(V)
    }
}
