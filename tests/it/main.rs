//! Integration tests: one binary, topic modules; each starts the real server on loopback.

mod blocks;
mod diskfull;
mod durability;
mod federate;
mod federate_golden;
mod federate_live;
mod prometheus;
mod promql_parse_live;
mod query_api;
mod remote_write;
mod remote_write_live;
mod scrape;
mod support;
