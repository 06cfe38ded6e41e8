//! PromQL as Prometheus 2.42 speaks it: the language, its parser and its evaluation engine.
//!
//! # Layout
//! - [`ast`]: the expression tree the parser builds and the engine evaluates.
//! - [`parser`]: text to [`ast::Expr`], with 2.42's error texts and positions; printing back
//!   (`format_query`).
//! - [`engine`]: evaluation of instant and range queries over a [`Queryable`] storage.
//! - [`storage`]: what the engine needs from storage ([`Queryable`], [`SeriesSet`]).
//! - [`value`]: query results (scalar, string, vector, matrix).
//! - `testutil` (tests, feature `testutil`): an in-memory [`Queryable`].
//!
//! Nothing here knows about HTTP or JSON; the server crate renders results.
#![deny(clippy::unwrap_used)]

pub mod ast;
pub mod engine;
pub mod parser;
pub mod storage;
#[cfg(any(test, feature = "testutil"))]
pub mod testutil;
pub mod value;

pub use ast::{Expr, ValueType};
pub use engine::{Engine, EngineOptions, EvalError};
pub use parser::{ParseError, parse_expr, parse_selector, parse_selector_bytes};
pub use storage::{Queryable, SeriesSet, StorageError};
pub use value::{Sample, Series, Value};
