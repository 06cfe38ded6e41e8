//! The Prometheus text exposition format (0.0.4): Go-exact floats, writer and parser.

pub mod float;
pub mod parse;
