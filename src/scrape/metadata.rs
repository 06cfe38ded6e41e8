//! Metric metadata kept from scrapes (`# TYPE`, `# HELP`, `# UNIT` per metric family per
//! target), as Prometheus's scrape cache keeps it for `/api/v1/metadata`: an entry appears
//! when a scrape declares it and is replaced by each successful scrape's declarations.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::exposition::parse::{Entry, MetricType};

/// One metric family's metadata.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricMetadata {
    /// `counter`, `gauge`, ... (`unknown` for `untyped` or no `# TYPE`).
    pub kind: &'static str,
    /// The `# HELP` text, `""` if none.
    pub help: String,
    /// The `# UNIT` (OpenMetrics), `""` if none.
    pub unit: String,
}

/// Metadata of one target by metric family name, sorted by name.
pub type TargetMetadata = BTreeMap<String, MetricMetadata>;

/// Collects the metadata entries of one scrape.
#[derive(Debug, Default)]
pub struct MetadataBuilder {
    map: TargetMetadata,
}

impl MetadataBuilder {
    /// Records a `# TYPE`, `# HELP` or `# UNIT` entry; other entries are ignored.
    pub fn record(&mut self, e: &Entry<'_>) {
        let (name, update): (&str, &dyn Fn(&mut MetricMetadata)) = match e {
            Entry::Type { name, kind } => (name, &|m| m.kind = kind.as_str()),
            Entry::Help { name, help } => (name, &|m| m.help = help.to_string()),
            Entry::Unit { name, unit } => (name, &|m| m.unit = unit.to_string()),
            _ => return,
        };
        let m = match self.map.get_mut(name) {
            Some(m) => m,
            None => self
                .map
                .entry((*name).to_owned())
                .or_insert_with(|| MetricMetadata {
                    kind: MetricType::Unknown.as_str(),
                    help: String::new(),
                    unit: String::new(),
                }),
        };
        update(m);
    }

    /// The scrape's metadata.
    pub fn finish(self) -> Arc<TargetMetadata> {
        Arc::new(self.map)
    }
}
