//! `global.external_labels` in the form every consumer applies them: sorted by name, one value
//! per name, and always with an `instance` entry.

/// External labels as `/federate` applies them: sorted by name, and always with an
/// `instance` entry (`""` unless configured), so that a global server scraping with
/// `honor_labels: true` does not stamp the source's address onto aggregated series.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalLabels {
    pairs: Vec<(String, String)>,
}

impl ExternalLabels {
    /// Builds the federate view of the configured `global.external_labels`.
    pub fn new(configured: &[(String, String)]) -> Self {
        let mut pairs: Vec<(String, String)> = configured.to_vec();
        if !pairs.iter().any(|(n, _)| n == "instance") {
            pairs.push(("instance".to_owned(), String::new()));
        }
        pairs.sort();
        pairs.dedup_by(|a, b| a.0 == b.0);
        ExternalLabels { pairs }
    }

    /// The labels in name order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_always_present_and_sorted() {
        let own = |p: &[(&str, &str)]| -> Vec<(String, String)> {
            p.iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect()
        };
        type Pairs = &'static [(&'static str, &'static str)];
        let cases: [(Pairs, Pairs); 3] = [
            (&[], &[("instance", "")]),
            (
                &[("zone", "eu"), ("dc", "1")],
                &[("dc", "1"), ("instance", ""), ("zone", "eu")],
            ),
            (&[("instance", "global-1")], &[("instance", "global-1")]),
        ];
        for (configured, want) in cases {
            assert_eq!(
                ExternalLabels::new(&own(configured)).pairs(),
                own(want).as_slice(),
                "{configured:?}"
            );
        }
    }
}
