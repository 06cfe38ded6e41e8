//! Recording and alerting rules, as Prometheus 2.42's `rules/` package: rule files
//! ([`file`]), groups on their own tickers ([`group`]), alert state ([`alerting`]), templates
//! ([`template`]), the Alertmanager client ([`notifier`]) and the manager that loads and reloads
//! them with the configuration ([`manager`]).

pub mod alerting;
pub mod env;
pub mod file;
pub mod group;
pub mod json;
pub mod manager;
pub mod metrics;
pub mod notifier;
pub mod recording;
pub mod restore;
pub mod service;
pub mod template;
