//! fedstore's own `/federate` parameters, beyond Prometheus's `match[]`: `shard`/`shards`
//! (split one federation across several scrapers by a stable series hash) and `metadata`
//! (real `# TYPE` and `# HELP` lines from scraped metadata). Absent, the answer is byte for
//! byte Prometheus's.

use std::collections::HashMap;

use crate::api::ApiError;
use crate::scrape::metadata::TargetMetadata;

/// Most shards a federation may be split into: more is certainly a typo.
pub const MAX_SHARDS: u64 = 1 << 16;

/// One shard of `count`: the series whose label-set hash is `index` modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This scraper's shard, `0..count`.
    pub index: u64,
    /// How many shards the federation is split into.
    pub count: u64,
}

impl Shard {
    /// Whether the series with label-set hash `hash` belongs to this shard.
    #[inline]
    pub fn owns(self, hash: u64) -> bool {
        hash % self.count == self.index
    }
}

/// The extra parameters of one federate request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FederateOptions {
    /// `shard=i&shards=n`; `None`: every series.
    pub shard: Option<Shard>,
    /// `metadata=true`: real `# TYPE`/`# HELP` lines.
    pub metadata: bool,
}

impl FederateOptions {
    /// Reads the options from decoded form pairs; every malformed value is a 400 that says
    /// what is wrong. The last value of a repeated parameter wins.
    pub fn parse(form: &[(Vec<u8>, Vec<u8>)]) -> Result<Self, ApiError> {
        let last = |key: &[u8]| {
            form.iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        let bad = |m: String| ApiError::BadRequestText(m);
        let shard = match (last(b"shard"), last(b"shards")) {
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => {
                return Err(bad(
                    "shard and shards must be given together: shard=i&shards=n with 0 <= i < n"
                        .into(),
                ));
            }
            (Some(i), Some(n)) => {
                let count: u64 = n.parse().map_err(|_| {
                    bad(format!(
                        "invalid shards={n:?}: want a whole number from 1 to {MAX_SHARDS}"
                    ))
                })?;
                if count == 0 || count > MAX_SHARDS {
                    return Err(bad(format!(
                        "invalid shards={count}: want a whole number from 1 to {MAX_SHARDS}"
                    )));
                }
                let index: u64 = i.parse().map_err(|_| {
                    bad(format!(
                        "invalid shard={i:?}: want a whole number from 0 to {}",
                        count - 1
                    ))
                })?;
                if index >= count {
                    return Err(bad(format!(
                        "invalid shard={index}: must be below shards={count} (shards are numbered from 0)"
                    )));
                }
                Some(Shard { index, count })
            }
        };
        let metadata = match last(b"metadata").as_deref() {
            None | Some("" | "0" | "false") => false,
            Some("1" | "true") => true,
            Some(other) => {
                return Err(bad(format!(
                    "invalid metadata={other:?}: want true or false"
                )));
            }
        };
        Ok(FederateOptions { shard, metadata })
    }
}

/// What `metadata=true` writes for one metric name: the text-format type and the help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyInfo {
    /// `counter`, `gauge`, `histogram`, `summary` or `untyped` (the text format's types;
    /// OpenMetrics-only types and `unknown` become `untyped`).
    pub kind: &'static str,
    /// The `# HELP` text; empty: no HELP line.
    pub help: String,
}

/// Metadata by metric name, merged over the targets: see [`merge_metadata`].
pub type FamilyMetadata = HashMap<String, FamilyInfo>;

/// Merges the targets' metadata into one entry per metric family name: the first target's
/// help wins; targets that disagree on the type make it `untyped`, since no single type is
/// true of the merged family.
pub fn merge_metadata<'a>(targets: impl IntoIterator<Item = &'a TargetMetadata>) -> FamilyMetadata {
    let mut out = FamilyMetadata::new();
    for t in targets {
        for (name, m) in t {
            let kind = text_kind(m.kind);
            match out.get_mut(name) {
                None => {
                    out.insert(
                        name.clone(),
                        FamilyInfo {
                            kind,
                            help: m.help.clone(),
                        },
                    );
                }
                Some(e) => {
                    if e.kind != kind {
                        e.kind = "untyped";
                    }
                    if e.help.is_empty() {
                        e.help.clone_from(&m.help);
                    }
                }
            }
        }
    }
    out
}

/// The text format (0.0.4) name of a metadata type.
fn text_kind(kind: &str) -> &'static str {
    match kind {
        "counter" => "counter",
        "gauge" => "gauge",
        "histogram" => "histogram",
        "summary" => "summary",
        _ => "untyped",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::metadata::MetricMetadata;

    fn form(q: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        crate::api::form::parse_query(q, &mut out).unwrap();
        out
    }

    #[test]
    fn parses_and_rejects_with_reasons() {
        let ok: &[(&str, FederateOptions)] = &[
            ("match[]=up", FederateOptions::default()),
            (
                "shard=0&shards=1",
                FederateOptions {
                    shard: Some(Shard { index: 0, count: 1 }),
                    metadata: false,
                },
            ),
            (
                "shards=4&shard=3&metadata=true",
                FederateOptions {
                    shard: Some(Shard { index: 3, count: 4 }),
                    metadata: true,
                },
            ),
            (
                "metadata=1",
                FederateOptions {
                    shard: None,
                    metadata: true,
                },
            ),
            ("metadata=true&metadata=false", FederateOptions::default()),
        ];
        for (q, want) in ok {
            assert_eq!(FederateOptions::parse(&form(q)).unwrap(), *want, "case {q}");
        }
        let bad: &[(&str, &str)] = &[
            ("shard=1", "must be given together"),
            ("shards=2", "must be given together"),
            ("shard=2&shards=2", "must be below shards=2"),
            ("shard=0&shards=0", "invalid shards=0"),
            ("shard=0&shards=x", "invalid shards=\"x\""),
            ("shard=-1&shards=2", "invalid shard=\"-1\""),
            ("shard=0&shards=99999999", "from 1 to 65536"),
            ("metadata=yes", "invalid metadata=\"yes\""),
        ];
        for (q, want) in bad {
            let e = FederateOptions::parse(&form(q)).unwrap_err();
            assert!(
                matches!(e, ApiError::BadRequestText(_)) && e.to_string().contains(want),
                "case {q}: {e}"
            );
        }
    }

    #[test]
    fn merges_targets_and_maps_types() {
        let m = |kind: &'static str, help: &str| MetricMetadata {
            kind,
            help: help.into(),
            unit: String::new(),
        };
        let a: TargetMetadata = [
            ("up_total".to_owned(), m("counter", "")),
            ("temp".to_owned(), m("gauge", "Temperature.")),
            ("info".to_owned(), m("info", "An info.")),
        ]
        .into();
        let b: TargetMetadata = [
            ("up_total".to_owned(), m("counter", "Ups.")),
            ("temp".to_owned(), m("counter", "Other.")),
        ]
        .into();
        let got = merge_metadata([&a, &b]);
        let cases: &[(&str, &str, &str)] = &[
            ("up_total", "counter", "Ups."),
            ("temp", "untyped", "Temperature."),
            ("info", "untyped", "An info."),
        ];
        for (name, kind, help) in cases {
            let e = &got[*name];
            assert_eq!((e.kind, e.help.as_str()), (*kind, *help), "case {name}");
        }
        assert_eq!(got.len(), 3);
    }
}
