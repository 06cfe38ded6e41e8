//! Data generators shared by tests, benches and tools (node-exporter-like series sets).
