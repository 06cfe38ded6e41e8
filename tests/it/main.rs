//! Integration tests: one binary, topic modules; each starts the real server on loopback.

mod federate;
mod federate_golden;
mod scrape;
mod support;
