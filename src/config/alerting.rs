//! The `alerting` section (Prometheus 2.42 `AlertingConfig`): Alertmanagers from static
//! configs with path prefix, timeout, API version and HTTP client settings, and the
//! `alert_relabel_configs` applied to every alert sent.

use serde::Deserialize;

use crate::config::duration::Duration;
use crate::config::http_client::{HttpClientConfig, raw_with_http_client};
use crate::config::relabel::RelabelConfig;
use crate::config::scrape::{RawTargetGroup, TargetGroup};

/// Prometheus's default Alertmanager request timeout.
pub const DEFAULT_ALERTMANAGER_TIMEOUT: Duration = Duration::from_secs(10);

/// `alerting`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlertingConfig {
    /// Relabeling applied to each alert before it is sent.
    pub alert_relabel_configs: Vec<RelabelConfig>,
    /// Where alerts go.
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

/// One `alertmanagers` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertmanagerConfig {
    /// `http` or `https`.
    pub scheme: String,
    /// Prefix of the API path (`/` by default).
    pub path_prefix: String,
    /// Request timeout.
    pub timeout: Duration,
    /// `v2` (the only version 2.42 accepts besides the deprecated `v1`).
    pub api_version: String,
    /// Authentication and TLS.
    pub http_client: HttpClientConfig,
    /// The Alertmanagers' addresses.
    pub static_configs: Vec<TargetGroup>,
    /// Relabeling of the Alertmanager targets.
    pub relabel_configs: Vec<RelabelConfig>,
}

impl AlertmanagerConfig {
    /// The URLs alerts are posted to: `<scheme>://<address><path_prefix>/api/v2/alerts`.
    pub fn urls(&self) -> Vec<String> {
        let prefix = self.path_prefix.trim_end_matches('/');
        self.static_configs
            .iter()
            .flat_map(|g| g.targets.iter())
            .map(|t| format!("{}://{t}{prefix}/api/v2/alerts", self.scheme))
            .collect()
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAlerting {
    #[serde(default)]
    alert_relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    alertmanagers: Vec<RawAlertmanager>,
}

raw_with_http_client! {
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAlertmanager {
    #[serde(default)]
    scheme: Option<String>,
    #[serde(default)]
    path_prefix: Option<String>,
    #[serde(default)]
    timeout: Option<Duration>,
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    static_configs: Vec<RawTargetGroup>,
    #[serde(default)]
    relabel_configs: Vec<RelabelConfig>,
}
}

impl<'de> Deserialize<'de> for AlertingConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let raw = Option::<RawAlerting>::deserialize(d)?.unwrap_or_default();
        let mut alertmanagers = Vec::with_capacity(raw.alertmanagers.len());
        for mut am in raw.alertmanagers {
            let http_client = am.take_http_client();
            let api_version = am.api_version.unwrap_or_else(|| "v2".into());
            if api_version != "v2" && api_version != "v1" {
                return Err(D::Error::custom(format!(
                    "expected Alertmanager api version to be one of [v1 v2] but got {api_version}"
                )));
            }
            if api_version == "v1" {
                return Err(D::Error::custom(
                    "fedstore sends alerts with Alertmanager's v2 API only (api_version: v1 is not supported)",
                ));
            }
            let http_client = http_client.validate().map_err(D::Error::custom)?;
            let static_configs = am
                .static_configs
                .into_iter()
                .enumerate()
                .map(|(i, g)| TargetGroup {
                    targets: g.targets,
                    labels: g.labels,
                    source: i.to_string(),
                })
                .collect();
            alertmanagers.push(AlertmanagerConfig {
                scheme: am.scheme.unwrap_or_else(|| "http".into()),
                path_prefix: am.path_prefix.unwrap_or_else(|| "/".into()),
                timeout: am.timeout.unwrap_or(DEFAULT_ALERTMANAGER_TIMEOUT),
                api_version,
                http_client,
                static_configs,
                relabel_configs: am.relabel_configs,
            });
        }
        Ok(AlertingConfig {
            alert_relabel_configs: raw.alert_relabel_configs,
            alertmanagers,
        })
    }
}
