//! Prometheus YAML configuration (`--config.file`): types, defaults and validation.
