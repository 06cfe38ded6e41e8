//! HTTP endpoints, one module per family, and the single place errors become responses.
