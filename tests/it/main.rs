//! Integration tests: one binary, topic modules; each starts the real server on loopback.

mod blocks;
mod diskfull;
mod durability;
mod federate;
mod federate_extra;
mod federate_golden;
mod federate_live;
mod federation_hierarchy;
mod limits;
mod malformed;
mod prometheus;
mod promql_live;
mod promql_parse_live;
mod query_api;
mod remote_read;
mod remote_read_live;
mod remote_write;
mod remote_write_live;
mod remote_write_sender;
mod rules;
mod rules_live;
mod scrape;
mod scrape_tls;
mod serve;
mod support;
mod web_security;
