//! Text-format (0.0.4) and OpenMetrics parser for import and scrape: zero-copy, Prometheus's errors.
