//! One `remote_write` entry (Prometheus 2.42 `RemoteWriteConfig`, `QueueConfig`): where the
//! sender (src/remote/sender.rs) posts, how, and how it batches and retries. Defaults and
//! messages are 2.42's `config/config.go`; `oauth2`, `sigv4` and `azuread` are refused as
//! unsupported, `send_exemplars`, `send_native_histograms` and `metadata_config` are
//! accepted and have no effect (fedstore's WAL holds float samples only).

use serde::Deserialize;

use crate::config::duration::Duration;
use crate::config::http_client::{HttpClientConfig, raw_with_http_client};
use crate::config::relabel::RelabelConfig;
use crate::config::yaml;

/// `queue_config`, with 2.42's `DefaultQueueConfig` for what is not set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// Samples buffered per shard.
    pub capacity: u64,
    /// Most shards (parallel senders).
    pub max_shards: u64,
    /// Fewest shards; also the number a queue starts with.
    pub min_shards: u64,
    /// Most samples per request.
    pub max_samples_per_send: u64,
    /// Longest a sample waits in a shard before a partial batch is sent.
    pub batch_send_deadline: Duration,
    /// First retry delay.
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Retry 429 answers (honouring `Retry-After`) instead of dropping the batch.
    pub retry_on_http_429: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 2500,
            max_shards: 200,
            min_shards: 1,
            max_samples_per_send: 500,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: false,
        }
    }
}

/// A `remote_write` entry, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteWriteConfig {
    /// Where `WriteRequest`s are posted (`http://` for now; see docs/configuration.md).
    pub url: String,
    /// `name`: unique among the entries when set; the `remote_name` label.
    pub name: String,
    /// Timeout of one request (default 30s).
    pub remote_timeout: Duration,
    /// Extra request headers, sorted by name.
    pub headers: Vec<(String, String)>,
    /// Relabeling applied to every series before it is sent.
    pub write_relabel_configs: Vec<RelabelConfig>,
    /// Authentication and TLS.
    pub http_client: HttpClientConfig,
    /// Batching, sharding and retries.
    pub queue_config: QueueConfig,
}

/// Headers the sender sets itself (2.42 `reservedHeaders`).
const RESERVED_HEADERS: [&str; 16] = [
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawQueueConfig {
    #[serde(default, deserialize_with = "opt_uint")]
    capacity: Option<u64>,
    #[serde(default, deserialize_with = "opt_uint")]
    max_shards: Option<u64>,
    #[serde(default, deserialize_with = "opt_uint")]
    min_shards: Option<u64>,
    #[serde(default, deserialize_with = "opt_uint")]
    max_samples_per_send: Option<u64>,
    #[serde(default)]
    batch_send_deadline: Option<Duration>,
    #[serde(default)]
    min_backoff: Option<Duration>,
    #[serde(default)]
    max_backoff: Option<Duration>,
    #[serde(default, deserialize_with = "opt_bool")]
    retry_on_http_429: Option<bool>,
}

raw_with_http_client! {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawRemoteWrite {
        #[serde(default, deserialize_with = "yaml::opt_string")]
        url: Option<String>,
        #[serde(default, deserialize_with = "yaml::string")]
        name: String,
        #[serde(default)]
        remote_timeout: Option<Duration>,
        #[serde(default)]
        headers: Option<std::collections::BTreeMap<String, String>>,
        #[serde(default)]
        write_relabel_configs: Vec<Option<RelabelConfig>>,
        #[serde(default)]
        queue_config: Option<RawQueueConfig>,
        #[serde(default, deserialize_with = "opt_bool")]
        send_exemplars: Option<bool>,
        #[serde(default, deserialize_with = "opt_bool")]
        send_native_histograms: Option<bool>,
        #[serde(default)]
        metadata_config: Option<serde_yaml_ng::Value>,
        // Recognised so that the error says "not supported" instead of "unknown field".
        #[serde(default)]
        sigv4: Option<serde_yaml_ng::Value>,
        #[serde(default)]
        azuread: Option<serde_yaml_ng::Value>,
    }
}

fn opt_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    yaml::bool(d).map(Some)
}

fn opt_uint<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    yaml::uint(d).map(Some)
}

impl RawRemoteWrite {
    /// 2.42's `RemoteWriteConfig.UnmarshalYAML` checks, in its order.
    fn validate(mut self) -> Result<RemoteWriteConfig, String> {
        let raw_http = self.take_http_client();
        let url = match self.url {
            Some(u) if !u.is_empty() => u,
            _ => return Err("url for remote_write is empty".into()),
        };
        let mut write_relabel_configs = Vec::with_capacity(self.write_relabel_configs.len());
        for r in self.write_relabel_configs {
            write_relabel_configs
                .push(r.ok_or("empty or null relabeling rule in remote write config")?);
        }
        let headers: Vec<(String, String)> = self.headers.unwrap_or_default().into_iter().collect();
        for (name, _) in &headers {
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(format!(
                    "{name} is a reserved header. It must not be changed"
                ));
            }
        }
        for (field, present) in [
            ("oauth2", raw_http.oauth2.is_some()),
            ("sigv4", self.sigv4.is_some()),
            ("azuread", self.azuread.is_some()),
        ] {
            if present {
                return Err(format!(
                    "{field} is not supported by fedstore's remote_write sender"
                ));
            }
        }
        let http_client = raw_http.validate()?;
        if headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            && (http_client.basic_auth.is_some() || http_client.authorization.is_some())
        {
            return Err("authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, or azuread parameter".into());
        }
        let (scheme, rest) = url.split_once("://").unwrap_or(("", ""));
        if !matches!(scheme, "http" | "https") || rest.is_empty() {
            return Err(format!(
                "remote_write url {url:?} must be an absolute http:// or https:// URL"
            ));
        }
        // Consumed for compatibility; nothing to send them from.
        let _ = (
            self.send_exemplars,
            self.send_native_histograms,
            self.metadata_config,
        );
        let d = QueueConfig::default();
        let q = self.queue_config.unwrap_or_default();
        let queue_config = QueueConfig {
            capacity: q.capacity.unwrap_or(d.capacity),
            max_shards: q.max_shards.unwrap_or(d.max_shards),
            min_shards: q.min_shards.unwrap_or(d.min_shards),
            max_samples_per_send: q.max_samples_per_send.unwrap_or(d.max_samples_per_send),
            batch_send_deadline: q.batch_send_deadline.unwrap_or(d.batch_send_deadline),
            min_backoff: q.min_backoff.unwrap_or(d.min_backoff),
            max_backoff: q.max_backoff.unwrap_or(d.max_backoff),
            retry_on_http_429: q.retry_on_http_429.unwrap_or(d.retry_on_http_429),
        };
        // Not checked by 2.42 (a zero there stalls it); fedstore refuses what cannot work.
        if queue_config.max_samples_per_send == 0 || queue_config.capacity == 0 {
            return Err("queue_config: capacity and max_samples_per_send must be positive".into());
        }
        if queue_config.max_shards == 0 || queue_config.min_shards > queue_config.max_shards {
            return Err(
                "queue_config: need 0 < min_shards <= max_shards (min_shards 0 counts as 1)".into(),
            );
        }
        Ok(RemoteWriteConfig {
            url,
            name: self.name,
            remote_timeout: self.remote_timeout.unwrap_or(Duration::from_secs(30)),
            headers,
            write_relabel_configs,
            http_client,
            queue_config,
        })
    }
}

impl<'de> Deserialize<'de> for RemoteWriteConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        RawRemoteWrite::deserialize(d)?
            .validate()
            .map_err(D::Error::custom)
    }
}

impl RemoteWriteConfig {
    /// Resolves relative file paths against `dir`.
    pub fn set_directory(&mut self, dir: &std::path::Path) {
        self.http_client.set_directory(dir);
    }

    /// The `remote_name` label: `name`, or the first 6 hex digits of a hash of the entry when
    /// unnamed (Prometheus hashes its JSON form, so the digits differ from Prometheus's).
    pub fn remote_name(&self) -> String {
        if !self.name.is_empty() {
            return self.name.clone();
        }
        let h = xxhash_rust::xxh3::xxh3_64(format!("{self:?}").as_bytes());
        format!("{h:016x}")[..6].to_owned()
    }
}
