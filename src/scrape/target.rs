//! Scrape targets as Prometheus 2.42 `scrape/target.go`: target labels from a discovered
//! group (`PopulateLabels`), the scrape URL, the stable per-target offset inside the interval,
//! and the label mutation of scraped and synthetic samples (`mutateSampleLabels`,
//! `mutateReportSampleLabels`, `resolveConflictingExposedLabels`).

use std::fmt::Write as _;

use fedstore_storage::{Labels, METRIC_NAME_LABEL};

use crate::config::duration::Duration;
use crate::config::relabel::{self, RelabelConfig};
use crate::config::{ScrapeConfig, TargetGroup};

/// `__address__`: the `host:port` to scrape.
pub const ADDRESS_LABEL: &str = "__address__";
/// `__scheme__`: `http` or `https`.
pub const SCHEME_LABEL: &str = "__scheme__";
/// `__metrics_path__`: the HTTP path.
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
/// `__scrape_interval__`: the target's interval (Prometheus duration).
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
/// `__scrape_timeout__`: the target's timeout (Prometheus duration).
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
/// Prefix of URL parameter labels (`__param_<name>`).
pub const PARAM_LABEL_PREFIX: &str = "__param_";
/// Prefix of discovery meta labels, deleted after relabeling.
pub const META_LABEL_PREFIX: &str = "__meta_";
/// Prefix given to scraped labels that collide with target labels (`model.ExportedLabelPrefix`).
pub const EXPORTED_LABEL_PREFIX: &str = "exported_";

/// Sorted `(name, value)` pairs without empty values, the form relabeling works on.
pub type LabelPairs = Vec<(String, String)>;

/// A target after relabeling: what the scrape loop needs and what `/api/v1/targets` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Labels before relabeling (`discoveredLabels`), sorted.
    pub discovered: LabelPairs,
    /// Every label after relabeling, `__`-prefixed ones included (meta labels removed), sorted.
    pub labels: LabelPairs,
    /// The public target labels (no `__` prefix): attached to every sample of the target.
    pub public: Labels,
    /// `scheme://address/path?query`.
    pub url: String,
    /// `host:port` to connect to.
    pub address: String,
    /// Path plus `?query` as sent in the request line.
    pub path_and_query: String,
    /// Scrape interval (from `__scrape_interval__`), never zero.
    pub interval: Duration,
    /// Scrape timeout (from `__scrape_timeout__`), never zero, never above `interval`.
    pub timeout: Duration,
}

/// Result of turning one discovered target into a [`Target`].
#[derive(Debug, Clone, PartialEq)]
pub enum Populated {
    /// An active target.
    Active(Target),
    /// Relabeling dropped it; the labels before relabeling.
    Dropped(LabelPairs),
}

fn get<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
    match labels.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
        Ok(i) => &labels[i].1,
        Err(_) => "",
    }
}

fn set(labels: &mut LabelPairs, name: &str, value: String) {
    match labels.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            labels.remove(i);
        }
        Ok(i) => labels[i].1 = value,
        Err(_) if value.is_empty() => {}
        Err(i) => labels.insert(i, (name.to_owned(), value)),
    }
}

/// The targets of one group: `(discovered address, result)`; errors name why a target was
/// skipped (Prometheus logs them and leaves the target out).
pub fn targets_from_group(
    group: &TargetGroup,
    cfg: &ScrapeConfig,
) -> Vec<Result<Populated, String>> {
    group
        .targets
        .iter()
        .map(|addr| {
            let mut lset: LabelPairs = group
                .labels
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .cloned()
                .collect();
            lset.sort();
            set(&mut lset, ADDRESS_LABEL, addr.clone());
            populate_labels(lset, cfg)
        })
        .collect()
}

/// Prometheus's `PopulateLabels`: job/interval/timeout/path/scheme defaults and `__param_*`,
/// relabeling, port defaulting, checks, meta-label removal and the `instance` default.
pub fn populate_labels(mut lset: LabelPairs, cfg: &ScrapeConfig) -> Result<Populated, String> {
    let defaults = [
        ("job", cfg.job_name.clone()),
        (SCRAPE_INTERVAL_LABEL, cfg.scrape_interval.to_string()),
        (SCRAPE_TIMEOUT_LABEL, cfg.scrape_timeout.to_string()),
        (METRICS_PATH_LABEL, cfg.metrics_path.clone()),
        (SCHEME_LABEL, cfg.scheme.clone()),
    ];
    for (name, value) in defaults {
        if get(&lset, name).is_empty() {
            set(&mut lset, name, value);
        }
    }
    for (k, v) in &cfg.params {
        if let Some(first) = v.first() {
            set(
                &mut lset,
                &format!("{PARAM_LABEL_PREFIX}{k}"),
                first.clone(),
            );
        }
    }
    let discovered = lset.clone();
    if !relabel::process(&cfg.relabel_configs, &mut lset) {
        return Ok(Populated::Dropped(discovered));
    }
    let mut addr = get(&lset, ADDRESS_LABEL).to_owned();
    if addr.is_empty() {
        return Err("no address".to_owned());
    }
    if !has_port(&addr) {
        match get(&lset, SCHEME_LABEL) {
            "http" | "" => addr.push_str(":80"),
            "https" => addr.push_str(":443"),
            _ => return Err(format!("invalid scheme: {:?}", cfg.scheme)),
        }
        set(&mut lset, ADDRESS_LABEL, addr.clone());
    }
    if addr.contains('/') {
        return Err(format!("{addr:?} is not a valid hostname"));
    }
    let interval_s = get(&lset, SCRAPE_INTERVAL_LABEL).to_owned();
    let interval =
        Duration::parse(&interval_s).map_err(|e| format!("error parsing scrape interval: {e}"))?;
    if interval.is_zero() {
        return Err("scrape interval cannot be 0".to_owned());
    }
    let timeout_s = get(&lset, SCRAPE_TIMEOUT_LABEL).to_owned();
    let timeout =
        Duration::parse(&timeout_s).map_err(|e| format!("error parsing scrape timeout: {e}"))?;
    if timeout.is_zero() {
        return Err("scrape timeout cannot be 0".to_owned());
    }
    if timeout > interval {
        return Err(format!(
            "scrape timeout cannot be greater than scrape interval ({timeout_s:?} > {interval_s:?})"
        ));
    }
    lset.retain(|(n, _)| !n.starts_with(META_LABEL_PREFIX));
    if get(&lset, "instance").is_empty() {
        set(&mut lset, "instance", addr.clone());
    }
    let public = Labels::from_pairs(
        lset.iter()
            .filter(|(n, _)| !n.starts_with("__"))
            .map(|(n, v)| (n.as_str(), v.as_str())),
    );
    let (url, path_and_query) = build_url(&lset, &cfg.params);
    Ok(Populated::Active(Target {
        discovered,
        address: addr,
        labels: lset,
        public,
        url,
        path_and_query,
        interval,
        timeout,
    }))
}

/// Go's `net.SplitHostPort` succeeding, roughly: `host:port`, `[v6]:port`.
fn has_port(addr: &str) -> bool {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest
            .split_once(']')
            .is_some_and(|(_, p)| p.starts_with(':'));
    }
    addr.matches(':').count() == 1
}

/// The scrape URL and the request target (`path?query`), as Go's `Target.URL().String()`:
/// `params` of the config with `__param_<k>` labels replacing each key's first value, encoded
/// sorted by key as `url.Values.Encode`.
pub fn build_url(
    labels: &[(String, String)],
    params: &[(String, Vec<String>)],
) -> (String, String) {
    let mut values: std::collections::BTreeMap<&str, Vec<&str>> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect()))
        .collect();
    for (n, v) in labels {
        if let Some(k) = n.strip_prefix(PARAM_LABEL_PREFIX) {
            let e = values.entry(k).or_default();
            match e.first_mut() {
                Some(first) => *first = v,
                None => e.push(v),
            }
        }
    }
    let mut query = String::new();
    for (k, vs) in &values {
        for v in vs {
            if !query.is_empty() {
                query.push('&');
            }
            query_escape(k, &mut query);
            query.push('=');
            query_escape(v, &mut query);
        }
    }
    let mut path = String::new();
    let raw_path = get(labels, METRICS_PATH_LABEL);
    if !raw_path.starts_with('/') && !raw_path.is_empty() {
        path.push('/');
    }
    path_escape(raw_path, &mut path);
    if path.is_empty() {
        path.push('/');
    }
    let mut path_and_query = path.clone();
    let mut url = format!(
        "{}://{}{}",
        get(labels, SCHEME_LABEL),
        get(labels, ADDRESS_LABEL),
        if raw_path.is_empty() { "" } else { &path }
    );
    if !query.is_empty() {
        path_and_query.push('?');
        path_and_query.push_str(&query);
        url.push('?');
        url.push_str(&query);
    }
    (url, path_and_query)
}

/// Go's `url.QueryEscape`: unreserved bytes kept, space as `+`, the rest `%XX`.
fn query_escape(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else if b == b' ' {
            out.push('+');
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Go's path escaping (`url.PathEscape` rules for the path of a URL, keeping `/`).
fn path_escape(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_'
                    | b'.'
                    | b'~'
                    | b'/'
                    | b'$'
                    | b'&'
                    | b'+'
                    | b','
                    | b':'
                    | b';'
                    | b'='
                    | b'@'
            )
        {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// 64-bit FNV-1a, as Go's `hash/fnv` (used for target hashes and the jitter seed).
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

impl Target {
    /// A stable identity of the target: its labels and URL (Prometheus `Target.hash`).
    pub fn hash(&self) -> u64 {
        let mut text = String::new();
        for (n, v) in &self.labels {
            text.push_str(n);
            text.push('\u{ff}');
            text.push_str(v);
            text.push('\u{ff}');
        }
        fnv1a(&[text.as_bytes(), self.url.as_bytes()])
    }

    /// How long to wait before the first scrape so that scrapes of this target happen at a
    /// stable phase of the interval (Prometheus `Target.offset`): `base` aligns to absolute
    /// time, the target hash XOR `jitter_seed` picks the phase; the result is in
    /// `(0, interval]`.
    pub fn offset(
        &self,
        interval: Duration,
        jitter_seed: u64,
        now_ns: u128,
    ) -> std::time::Duration {
        offset_ns(self.hash(), interval, jitter_seed, now_ns)
    }
}

/// [`Target::offset`] for a given target hash.
pub fn offset_ns(
    hash: u64,
    interval: Duration,
    jitter_seed: u64,
    now_ns: u128,
) -> std::time::Duration {
    let iv = u128::from(interval.as_millis()) * 1_000_000;
    if iv == 0 {
        return std::time::Duration::ZERO;
    }
    let base = iv - now_ns % iv;
    let offset = u128::from(hash ^ jitter_seed) % iv;
    let mut next = base + offset;
    if next > iv {
        next -= iv;
    }
    std::time::Duration::from_nanos(next as u64)
}

/// Prometheus's `mutateSampleLabels` without metric relabeling: attaches the target labels to
/// a scraped label set. With `honor` the scraped labels win; otherwise the target's win and
/// the scraped non-empty values move to `exported_<name>` (prefix repeated until unused).
///
/// `exposed` is the label set as the parser read it, `__name__` included and **empty values
/// kept**: a label exposed with an empty value is present. Under `honor`, an exposed
/// `instance=""` (what a source's `/federate` sends for its aggregates) keeps the target's
/// `instance` off, as Prometheus 2.42's `lset.Has`; the renaming check of the non-honor path
/// also asks for presence (`exposedLabels.Has`). Then every name with an empty value is
/// dropped, as `labels.Builder` does, so the result has no empty values.
pub fn mutate_sample_labels<V: AsRef<str>>(
    exposed: &[(&str, V)],
    target: &Labels,
    honor: bool,
) -> LabelPairs {
    let has = |name: &str| exposed.iter().any(|(n, _)| *n == name);
    // `lset.Get`: the first value of the name, "" when absent.
    let value_of = |name: &str| {
        exposed
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_ref())
    };
    let mut out: LabelPairs = exposed
        .iter()
        .filter(|(n, _)| !exposed.iter().any(|(m, v)| m == n && v.as_ref().is_empty()))
        .map(|(n, v)| ((*n).to_owned(), v.as_ref().to_owned()))
        .collect();
    out.sort();
    if honor {
        for l in target.iter() {
            if !has(&l.name) {
                set(&mut out, &l.name, l.value.clone());
            }
        }
        return out;
    }
    let mut conflicts: Vec<(String, String)> = Vec::new();
    for l in target.iter() {
        let existing = value_of(&l.name);
        if !existing.is_empty() {
            conflicts.push((l.name.clone(), existing.to_owned()));
        }
        set(&mut out, &l.name, l.value.clone());
    }
    if conflicts.is_empty() {
        return out;
    }
    // resolveConflictingExposedLabels: shortest names first (stable), each prefixed until
    // no exposed label (empty-valued ones included), target label or earlier renamed
    // conflict has the name.
    conflicts.sort_by_key(|(n, _)| n.len());
    for i in 0..conflicts.len() {
        let mut name = conflicts[i].0.clone();
        loop {
            name = format!("{EXPORTED_LABEL_PREFIX}{name}");
            let taken = has(&name)
                || target.iter().any(|l| l.name == name)
                || conflicts[..i].iter().any(|(n, _)| *n == name);
            if !taken {
                conflicts[i].0 = name;
                break;
            }
        }
    }
    for (n, v) in conflicts {
        set(&mut out, &n, v);
    }
    out
}

/// The full sample mutation: target labels, then `metric_relabel_configs` (which, as in
/// Prometheus, see the label set without empty values). `None` when relabeling dropped the
/// sample (or left no labels).
pub fn sample_labels<V: AsRef<str>>(
    exposed: &[(&str, V)],
    target: &Labels,
    honor: bool,
    metric_relabel: &[RelabelConfig],
) -> Option<Labels> {
    let mut pairs = mutate_sample_labels(exposed, target, honor);
    if !metric_relabel.is_empty() && !relabel::process(metric_relabel, &mut pairs) {
        return None;
    }
    if pairs.is_empty() {
        return None;
    }
    Some(Labels::from_pairs(pairs))
}

/// Labels of a synthetic series (`up`, `scrape_*`): `__name__` plus the target labels
/// (Prometheus `mutateReportSampleLabels`; honor_labels and metric relabeling do not apply).
pub fn report_labels(name: &str, target: &Labels) -> Labels {
    Labels::from_pairs(
        std::iter::once((METRIC_NAME_LABEL, name)).chain(
            target
                .iter()
                .filter(|l| l.name != METRIC_NAME_LABEL)
                .map(|l| (l.name.as_str(), l.value.as_str())),
        ),
    )
}

#[cfg(test)]
mod tests;
