//! The head's cardinality statistics (`/api/v1/status/tsdb`), read from the postings alone as
//! Prometheus 2.42's `MemPostings.Stats` does: no series is visited and no label set built;
//! only the entries that make a top list are turned into strings.

use std::cmp::Ordering;

use super::Head;
use crate::labels::METRIC_NAME_LABEL;

/// Cardinality of the head's index: every list sorted by count (descending), then name, and
/// cut to the length asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostingsStats {
    /// Label pairs in the index (distinct values summed over names).
    pub num_label_pairs: u64,
    /// Series per metric name.
    pub series_count_by_metric_name: Vec<(String, u64)>,
    /// Distinct values per label name.
    pub label_value_count_by_label_name: Vec<(String, u64)>,
    /// Bytes of the distinct values per label name.
    pub memory_in_bytes_by_label_name: Vec<(String, u64)>,
    /// Series per label pair, named `name=value`.
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
}

/// One entry of a top list: a count and its name (a label pair: name and value).
#[derive(Debug, Clone, Copy)]
struct Entry<'a> {
    count: u64,
    name: &'a str,
    value: Option<&'a str>,
}

impl<'a> Entry<'a> {
    /// The name's bytes as the list shows it (`name=value` for a pair).
    fn key(&self) -> impl Iterator<Item = u8> + 'a {
        let sep = self.value.map(|_| b'=');
        let value = self.value.map(str::bytes).into_iter().flatten();
        self.name.bytes().chain(sep).chain(value)
    }

    /// List order: larger counts first, then by name.
    fn cmp(&self, other: &Entry<'_>) -> Ordering {
        other
            .count
            .cmp(&self.count)
            .then_with(|| self.key().cmp(other.key()))
    }
}

/// The `top` first entries seen, in list order.
struct Top<'a> {
    top: usize,
    items: Vec<Entry<'a>>,
}

impl<'a> Top<'a> {
    fn new(top: usize) -> Self {
        Top {
            top,
            items: Vec::with_capacity(top + 1),
        }
    }

    fn push(&mut self, count: u64, name: &'a str, value: Option<&'a str>) {
        let e = Entry { count, name, value };
        if self.items.len() >= self.top
            && self
                .items
                .last()
                .is_none_or(|worst| e.cmp(worst) != Ordering::Less)
        {
            return;
        }
        let at = self.items.partition_point(|x| x.cmp(&e) == Ordering::Less);
        self.items.insert(at, e);
        self.items.truncate(self.top);
    }

    fn into_list(self) -> Vec<(String, u64)> {
        self.items
            .into_iter()
            .map(|e| match e.value {
                Some(v) => (format!("{}={v}", e.name), e.count),
                None => (e.name.to_owned(), e.count),
            })
            .collect()
    }
}

impl Head {
    /// The head's cardinality statistics, each list cut to `top` entries. Counts are postings
    /// sizes; should a series without a metric name exist, counts are of named series only
    /// and values no named series has are left out.
    pub fn postings_stats(&self, top: usize) -> PostingsStats {
        let postings = self.postings.read();
        let symbols = self.symbols.read();
        let mut stats = PostingsStats::default();
        let Some(named) = symbols
            .get(METRIC_NAME_LABEL)
            .and_then(|n| postings.name(n))
            .map(|np| np.any())
        else {
            return stats;
        };
        // Every series has a name (the usual case): a postings list's size is its count.
        let all_named = named.len() == postings.all().len();
        let (mut by_metric, mut values, mut bytes, mut pairs) =
            (Top::new(top), Top::new(top), Top::new(top), Top::new(top));
        for &n in postings.label_names() {
            let Some(np) = postings.name(n) else { continue };
            let name = symbols.resolve(n);
            let (mut distinct, mut size) = (0u64, 0u64);
            for &v in np.values() {
                let Some(b) = np.get(v) else { continue };
                let c = if all_named {
                    b.len()
                } else {
                    b.intersection_len(named)
                };
                if c == 0 {
                    continue;
                }
                let value = symbols.resolve(v);
                distinct += 1;
                size += value.len() as u64;
                if name == METRIC_NAME_LABEL {
                    by_metric.push(c, value, None);
                }
                pairs.push(c, name, Some(value));
            }
            if distinct > 0 {
                values.push(distinct, name, None);
                bytes.push(size, name, None);
            }
            stats.num_label_pairs += distinct;
        }
        stats.series_count_by_metric_name = by_metric.into_list();
        stats.label_value_count_by_label_name = values.into_list();
        stats.memory_in_bytes_by_label_name = bytes.into_list();
        stats.series_count_by_label_value_pair = pairs.into_list();
        stats
    }
}
