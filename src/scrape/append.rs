//! Parsing a scrape body into the head (Prometheus 2.42 `scrapeLoop.append`,
//! `scrapeAndReport`, `report`, `reportStale`): the CPU-bound part of a scrape, run off the
//! async workers. Steady state appends by cached ref; new series get the target labels and
//! metric relabeling once. Stale markers for series that vanished, the five synthetic series,
//! and Prometheus's failure rules (rollback, then an empty append for staleness).

use std::time::Duration;

use fedstore_storage::{
    AppendStats, Appender, Head, Labels, METRIC_NAME_LABEL, STALE_NAN_BITS, SeriesRef,
};

use crate::config::RelabelConfig;
use crate::exposition::parse::{Entry, Format, Parser, exposed_labels};
use crate::scrape::cache::{Lookup, ScrapeCache};
use crate::scrape::target::{report_labels, sample_labels};

/// Samples further than this ahead of "now" are refused as out of bounds (Prometheus
/// `maxAheadTime`, 10 minutes).
pub const MAX_AHEAD_MS: i64 = 10 * 60 * 1000;

/// The synthetic series written after every scrape, in Prometheus's order.
pub const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// How a target's samples are labelled and limited; immutable for the life of a loop.
#[derive(Debug, Clone)]
pub struct SampleContext {
    /// Public target labels (`job`, `instance`, ...).
    pub target: Labels,
    /// `honor_labels`.
    pub honor_labels: bool,
    /// `honor_timestamps`.
    pub honor_timestamps: bool,
    /// `metric_relabel_configs`.
    pub metric_relabel: Vec<RelabelConfig>,
    /// `sample_limit` (0: none).
    pub sample_limit: u64,
    /// `label_limit` (0: none).
    pub label_limit: u64,
    /// `label_name_length_limit` (0: none).
    pub label_name_length_limit: u64,
    /// `label_value_length_limit` (0: none).
    pub label_value_length_limit: u64,
    /// Label sets of [`REPORT_NAMES`].
    report: [Labels; 5],
}

impl SampleContext {
    /// A context for `target` labels with no limits, honoring nothing, no relabeling.
    pub fn new(target: Labels) -> SampleContext {
        let report = REPORT_NAMES.map(|n| report_labels(n, &target));
        SampleContext {
            target,
            honor_labels: false,
            honor_timestamps: true,
            metric_relabel: Vec::new(),
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            report,
        }
    }

    /// Prometheus `verifyLabelLimits`.
    fn verify_label_limits(&self, l: &Labels) -> Result<(), String> {
        let met = l.get(METRIC_NAME_LABEL);
        let met50: String = met.chars().take(50).collect();
        if self.label_limit > 0 && l.len() as u64 > self.label_limit {
            return Err(format!(
                "label_limit exceeded (metric: {met50}, number of labels: {}, limit: {})",
                l.len(),
                self.label_limit
            ));
        }
        if self.label_name_length_limit == 0 && self.label_value_length_limit == 0 {
            return Ok(());
        }
        for lb in l.iter() {
            let name50: String = lb.name.chars().take(50).collect();
            if self.label_name_length_limit > 0
                && lb.name.len() as u64 > self.label_name_length_limit
            {
                return Err(format!(
                    "label_name_length_limit exceeded (metric: {met50}, label name: {name50}, length: {}, limit: {})",
                    lb.name.len(),
                    self.label_name_length_limit
                ));
            }
            let chars = lb.value.chars().count() as u64;
            if self.label_value_length_limit > 0 && chars > self.label_value_length_limit {
                let value50: String = lb.value.chars().take(50).collect();
                return Err(format!(
                    "label_value_length_limit exceeded (metric: {met50}, label name: {name50}, value: {value50:?}, length: {chars}, limit: {})",
                    self.label_value_length_limit
                ));
            }
        }
        Ok(())
    }
}

/// A target's scrape state that survives between scrapes: the cache and the refs of the
/// synthetic series.
#[derive(Debug, Default)]
pub struct TargetState {
    /// The scrape cache.
    pub cache: ScrapeCache,
    /// Metadata declared by the last successful scrape.
    pub metadata: std::sync::Arc<crate::scrape::metadata::TargetMetadata>,
    report_refs: [Option<SeriesRef>; 5],
}

impl TargetState {
    /// A fresh state (empty cache).
    pub fn new() -> TargetState {
        TargetState::default()
    }
}

/// Counts of one append, as the synthetic series report them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendCounts {
    /// Samples parsed (`scrape_samples_scraped`), including those before an error.
    pub total: u64,
    /// Samples left after metric relabeling (`scrape_samples_post_metric_relabeling`).
    pub added: u64,
    /// Series not in the cache before this scrape (`scrape_series_added`).
    pub series_added: u64,
}

/// The result of one scrape, for the target's status.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `None` when `up` is 1; else the error (`lastError`).
    pub error: Option<String>,
    /// What the scrape appended.
    pub counts: AppendCounts,
    /// Samples the head refused at commit (out of order, duplicate, out of bounds).
    pub refused: u64,
    /// What the commit stored and refused, synthetic series included (for `/metrics`).
    pub stats: AppendStats,
}

/// Prometheus `scrapeLoop.append`: parses `body` and appends its samples, then stale markers
/// for series of the previous scrape missing from this one. On error the caller rolls back;
/// the cache keeps what was tracked before the error (Prometheus's quirk, see
/// [`scrape_and_report`]).
pub fn append_body(
    app: &mut Appender<'_>,
    state: &mut TargetState,
    ctx: &SampleContext,
    body: &[u8],
    format: Format,
    t_ms: i64,
    now_ms: i64,
) -> (AppendCounts, Result<(), String>) {
    let cache = &mut state.cache;
    let mut counts = AppendCounts::default();
    // A cached series text passed the label checks when it was added: only misses are
    // checked (Prometheus too checks labels only on a cache miss).
    let mut parser = Parser::new(body, format).defer_label_checks();
    let max_t = now_ms + MAX_AHEAD_MS;
    let mut appended: u64 = 0;
    let mut limit_hit = false;
    let mut err: Option<String> = None;
    let mut metadata = crate::scrape::metadata::MetadataBuilder::default();
    loop {
        let sample = match parser.next() {
            Ok(Some(Entry::Sample(s))) => s,
            Ok(Some(other)) => {
                metadata.record(&other);
                continue;
            }
            Ok(None) => break,
            Err(e) => {
                err = Some(e.message());
                break;
            }
        };
        counts.total += 1;
        let explicit = if ctx.honor_timestamps {
            sample.timestamp_ms
        } else {
            None
        };
        let t = explicit.unwrap_or(t_ms);
        let over_limit = {
            appended += 1;
            ctx.sample_limit > 0 && appended > ctx.sample_limit
        };
        match cache.get(sample.series) {
            Lookup::Dropped => {
                appended -= 1;
                continue;
            }
            Lookup::Hit(id, r) => {
                if over_limit {
                    limit_hit = true;
                } else if t > max_t {
                    // Out of bounds: skipped, not tracked.
                } else {
                    if let Err(e) = app.append_ref(r, t, sample.value) {
                        err = Some(e.to_string());
                        break;
                    }
                    if explicit.is_none() {
                        cache.track(id);
                    }
                }
            }
            Lookup::Miss => {
                if let Err(e) = parser.check_labels(&sample) {
                    err = Some(e.message());
                    break;
                }
                let scraped = exposed_labels(&sample);
                let Some(labels) =
                    sample_labels(&scraped, &ctx.target, ctx.honor_labels, &ctx.metric_relabel)
                else {
                    cache.add_dropped(sample.series);
                    appended -= 1;
                    continue;
                };
                if labels.get(METRIC_NAME_LABEL).is_empty() {
                    err = Some("missing metric name (__name__ label)".to_owned());
                    break;
                }
                if let Err(e) = ctx.verify_label_limits(&labels) {
                    err = Some(e);
                    break;
                }
                if t > max_t {
                    counts.added += 1;
                    continue;
                }
                // Over the limit the sample is appended only to learn its ref: the scrape
                // fails and the batch is rolled back.
                let r = match app.append(&labels, t, sample.value) {
                    Ok(r) => r,
                    Err(e) => {
                        err = Some(e.to_string());
                        break;
                    }
                };
                let id = cache.add(sample.series, r);
                if explicit.is_none() {
                    cache.track(id);
                }
                if over_limit {
                    limit_hit = true;
                } else if !limit_hit {
                    counts.series_added += 1;
                }
            }
        }
        counts.added += 1;
    }
    if limit_hit && err.is_none() {
        err = Some("sample limit exceeded".to_owned());
    }
    if let Some(e) = err {
        return (counts, Err(e));
    }
    let stale = f64::from_bits(STALE_NAN_BITS);
    cache.for_each_stale(|r| {
        // Out-of-order or duplicate markers are expected (a recreated target) and ignored
        // by the head's commit counting.
        let _ = app.append_ref(r, t_ms, stale);
    });
    cache.iter_done(!body.is_empty());
    state.metadata = metadata.finish();
    (counts, Ok(()))
}

/// Appends the synthetic series (Prometheus `report`); `up` is 1 without `error`.
fn report(
    app: &mut Appender<'_>,
    state: &mut TargetState,
    ctx: &SampleContext,
    t_ms: i64,
    values: [f64; 5],
) {
    for ((slot, labels), v) in state.report_refs.iter_mut().zip(&ctx.report).zip(values) {
        *slot = match *slot {
            Some(r) if app.append_ref(r, t_ms, v).is_ok() => Some(r),
            _ => app.append(labels, t_ms, v).ok(),
        };
    }
}

/// One scrape's storage work (Prometheus `scrapeAndReport` after the HTTP request): append
/// `scraped` (the body and its format, or the scrape error), on failure roll back and append
/// an empty body so the previous series go stale, then the synthetic series, then commit.
/// `elapsed` gives the duration reported as `scrape_duration_seconds`.
///
/// Prometheus's parse-error quirk is kept on purpose: series tracked before the failing line
/// count as exposed, so they do not get stale markers (they linger until the lookback ends).
pub fn scrape_and_report(
    head: &Head,
    state: &mut TargetState,
    ctx: &SampleContext,
    scraped: Result<(&[u8], Format), String>,
    t_ms: i64,
    now_ms: i64,
    elapsed: impl FnOnce() -> Duration,
) -> Outcome {
    let mut app = head.appender();
    let (body, format, mut error) = match scraped {
        Ok((b, f)) => (b, f, None),
        Err(e) => (&[][..], Format::Text, Some(e)),
    };
    let (counts, res) = append_body(&mut app, state, ctx, body, format, t_ms, now_ms);
    if let Err(e) = res {
        app.rollback();
        app = head.appender();
        // The empty append cannot fail.
        let _ = append_body(&mut app, state, ctx, &[], Format::Text, t_ms, now_ms);
        error.get_or_insert(e);
    }
    let up = if error.is_none() { 1.0 } else { 0.0 };
    let duration = elapsed().as_secs_f64();
    report(
        &mut app,
        state,
        ctx,
        t_ms,
        [
            up,
            duration,
            counts.total as f64,
            counts.added as f64,
            counts.series_added as f64,
        ],
    );
    let stats = match app.commit() {
        Ok(stats) => stats,
        Err(e) => {
            // A commit is all or nothing: none of this scrape was stored. Report the scrape
            // as failed with the cause (Prometheus 2.42 only logs "Scrape commit failed" and
            // keeps the health it reported before the commit), and try to store `up` 0 in a
            // commit of its own: it lands when the failure was transient, and a poisoned WAL
            // refuses it too.
            let cause = format!("scrape commit failed: {e}");
            tracing::error!(err = %e, "scrape commit failed");
            error = Some(cause);
            let mut app = head.appender();
            report(
                &mut app,
                state,
                ctx,
                t_ms,
                [
                    0.0,
                    duration,
                    counts.total as f64,
                    counts.added as f64,
                    counts.series_added as f64,
                ],
            );
            if let Err(e) = app.commit() {
                tracing::debug!(err = %e, "storing up 0 after a failed scrape commit failed");
            }
            AppendStats::default()
        }
    };
    Outcome {
        error,
        counts,
        refused: stats.out_of_order + stats.duplicate + stats.out_of_bounds,
        stats,
    }
}

/// Stale markers for everything the target exposed, at `t_ms` (Prometheus's end-of-run
/// staleness: an empty append plus `reportStale`).
pub fn mark_all_stale(head: &Head, state: &mut TargetState, ctx: &SampleContext, t_ms: i64) {
    let mut app = head.appender();
    let _ = append_body(&mut app, state, ctx, &[], Format::Text, t_ms, t_ms);
    let stale = f64::from_bits(STALE_NAN_BITS);
    report(&mut app, state, ctx, t_ms, [stale; 5]);
    if let Err(e) = app.commit() {
        tracing::warn!(err = %e, "stale commit failed");
    }
}

#[cfg(test)]
mod tests;
