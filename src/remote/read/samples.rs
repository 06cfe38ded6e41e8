//! The SAMPLES answer: one `ReadResponse` with a `QueryResult` per query, each series with its
//! raw samples in the selected range (staleness markers included), as 2.42's
//! `remoteReadSamples`/`ToQueryResult` build it. The caller snappy-compresses the bytes.

use fedstore_promql::storage::Queryable;

use super::{ExternalLabels, ReadError, plan};
use crate::remote::proto;
use crate::remote::wire::{
    label_size, len_field_size, put_label, put_len_header, put_sample, sample_size,
};

/// Encodes the uncompressed `ReadResponse` for `queries`. A query selecting more than
/// `sample_limit` samples (0: no limit) fails the whole request with 400
/// `exceeded sample limit (N)`, as 2.42 counts them: per query.
pub fn encode(
    storage: &dyn Queryable,
    queries: &[proto::Query],
    ext: &ExternalLabels,
    sample_limit: usize,
) -> Result<Vec<u8>, ReadError> {
    let mut out = Vec::new();
    let mut result = Vec::new();
    let mut samples = Vec::new();
    for query in queries {
        let planned = plan(query, ext)?;
        let set = storage
            .select(
                &planned.matchers,
                planned.mint_ms,
                planned.maxt_ms,
                &planned.hints,
            )
            .map_err(|e| ReadError::internal(e.to_string()))?;
        result.clear();
        let mut count = 0usize;
        for i in 0..set.len() {
            // A client gone stops the walk (the answer is dropped anyway).
            if i % fedstore_storage::CHECK_EVERY == 0 {
                storage
                    .check_stop()
                    .map_err(|e| ReadError::internal(e.to_string()))?;
            }
            set.samples(i, &mut samples)
                .map_err(|e| ReadError::internal(e.to_string()))?;
            // A selected series without samples in the range is not answered (2.42 selects
            // series by their chunks in the range).
            if samples.is_empty() {
                continue;
            }
            count += samples.len();
            if sample_limit > 0 && count > sample_limit {
                return Err(ReadError::bad_request(format!(
                    "exceeded sample limit ({sample_limit})"
                )));
            }
            let stored = set
                .labels(i)
                .map_err(|e| ReadError::internal(e.to_string()))?;
            let mut labels = Vec::with_capacity(stored.len() + 4);
            ext.merge(&stored, &mut labels);
            let body: usize = labels
                .iter()
                .map(|(n, v)| len_field_size(label_size(n, v)))
                .chain(
                    samples
                        .iter()
                        .map(|&(t, v)| len_field_size(sample_size(t, v))),
                )
                .sum();
            // QueryResult.timeseries = 1; TimeSeries.labels = 1, samples = 2.
            put_len_header(&mut result, 1, body);
            for (n, v) in &labels {
                put_label(&mut result, 1, n, v);
            }
            for &(t, v) in &samples {
                put_sample(&mut result, 2, t, v);
            }
        }
        // ReadResponse.results = 1.
        put_len_header(&mut out, 1, result.len());
        out.extend_from_slice(&result);
    }
    Ok(out)
}
