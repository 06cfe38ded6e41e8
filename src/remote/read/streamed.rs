//! The STREAMED_XOR_CHUNKS answer: per query, per series (sorted by labels), frames of
//! `ChunkedReadResponse{chunked_series: [one series], query_index}`, as 2.42's
//! `StreamChunkedReadResponses`.
//!
//! Samples are cut into XOR chunks where Prometheus 2.42's head cuts them (`appendPreprocessor`:
//! at multiples of the chunk range, at an end time predicted after 30 samples, at 240 samples
//! at most), so a series read from its first sample gets the chunks Prometheus would send.
//! Chunk data carries the 2-byte big-endian sample count Prometheus's `XORChunk.Bytes()` has.
#![expect(
    clippy::big_endian_bytes,
    reason = "Prometheus's XOR chunk bytes start with a big-endian sample count"
)]

use fedstore_promql::storage::Queryable;
use fedstore_storage::chunks::XorAppender;

use super::wire::{
    chunk_size, label_size, len_field_size, put_frame, put_label, put_len_header, put_query_index,
    put_xor_chunk,
};
use super::{ExternalLabels, ReadError, plan};
use crate::remote::proto;

/// Samples per chunk Prometheus aims at (`samplesPerChunk`).
const SAMPLES_PER_CHUNK: u16 = 120;

/// Frames are handed out in batches of about this many bytes (fewer, larger writes).
const BATCH_BYTES: usize = 64 << 10;

/// One cut chunk: its time range and where its data sits in the shared data buffer.
#[derive(Debug, Clone, Copy)]
struct CutChunk {
    min_t: i64,
    max_t: i64,
    start: usize,
    end: usize,
}

/// End of the chunk range holding `t` (Prometheus `rangeForTimestamp`, Go's truncating division).
fn range_end(t: i64, width: i64) -> i64 {
    (t / width) * width + width
}

/// Prometheus `computeChunkEndTime`: an end for the chunk that spreads the samples of the rest of
/// the range evenly over chunks of ~120 samples.
fn predicted_end(start: i64, cur: i64, max: i64) -> i64 {
    let n = (max - start) / ((cur - start + 1) * 4);
    if n <= 1 {
        max
    } else {
        start + (max - start) / n
    }
}

/// Cuts `samples` (in time order) into XOR chunks as the 2.42 head does, appending each chunk's
/// data (count header + bits) to `data` and its entry to `chunks`.
fn cut_chunks(
    samples: &[(i64, f64)],
    range_ms: i64,
    app: &mut XorAppender,
    data: &mut Vec<u8>,
    chunks: &mut Vec<CutChunk>,
) {
    let range_ms = range_ms.max(1);
    data.clear();
    chunks.clear();
    app.reset();
    let mut next_at = 0i64;
    let flush = |app: &mut XorAppender, data: &mut Vec<u8>, chunks: &mut Vec<CutChunk>| {
        let start = data.len();
        data.extend_from_slice(&app.num_samples().to_be_bytes());
        data.extend_from_slice(app.bytes());
        chunks.push(CutChunk {
            min_t: app.min_t(),
            max_t: app.max_t(),
            start,
            end: data.len(),
        });
        app.reset();
    };
    for &(t, v) in samples {
        let n = app.num_samples();
        if n == 0 {
            next_at = range_end(t, range_ms);
        } else {
            if n == SAMPLES_PER_CHUNK / 4 {
                next_at = predicted_end(app.min_t(), app.max_t(), next_at);
            }
            if t >= next_at || n >= SAMPLES_PER_CHUNK * 2 {
                flush(app, data, chunks);
                next_at = range_end(t, range_ms);
            }
        }
        app.append(t, v);
    }
    if app.num_samples() > 0 {
        flush(app, data, chunks);
    }
}

/// Streams the answer to `queries`: `emit` receives batches of whole frames in order and returns
/// `false` when the client has gone (streaming then stops quietly). An error ends the stream;
/// frames already emitted stay sent (2.42 appends the error text to the 200 body).
pub fn stream(
    storage: &dyn Queryable,
    queries: &[proto::Query],
    ext: &ExternalLabels,
    max_bytes_in_frame: usize,
    chunk_range_ms: i64,
    emit: &mut dyn FnMut(Vec<u8>) -> bool,
) -> Result<(), ReadError> {
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    let mut msg = Vec::new();
    let mut series_chunks = Vec::new();
    let mut samples = Vec::new();
    let mut app = XorAppender::new();
    let mut data = Vec::new();
    let mut chunks = Vec::new();
    for (index, query) in queries.iter().enumerate() {
        let planned = plan(query, ext)?;
        let set = storage
            .select(
                &planned.matchers,
                planned.mint_ms,
                planned.maxt_ms,
                &planned.hints,
            )
            .map_err(|e| ReadError::internal(e.0))?;
        for i in 0..set.len() {
            set.samples(i, &mut samples)
                .map_err(|e| ReadError::internal(e.0))?;
            let stored = set.labels(i);
            let mut labels = Vec::with_capacity(stored.len() + 4);
            ext.merge(&stored, &mut labels);
            cut_chunks(&samples, chunk_range_ms, &mut app, &mut data, &mut chunks);
            let labels_bytes: usize = labels
                .iter()
                .map(|(n, v)| len_field_size(label_size(n, v)))
                .sum();
            // Prometheus's budget: the limit minus each label's size; a chunk is added before
            // the check, so a frame may exceed the limit by one chunk.
            let budget = max_bytes_in_frame as i64
                - labels
                    .iter()
                    .map(|(n, v)| label_size(n, v) as i64)
                    .sum::<i64>();
            let mut left = budget;
            series_chunks.clear();
            for (k, c) in chunks.iter().enumerate() {
                let bytes = &data[c.start..c.end];
                put_xor_chunk(&mut series_chunks, 2, c.min_t, c.max_t, bytes);
                left -= chunk_size(c.min_t, c.max_t, bytes.len()) as i64;
                if left > 0 && k + 1 < chunks.len() {
                    continue;
                }
                // ChunkedReadResponse{chunked_series = 1: ChunkedSeries{labels = 1, chunks = 2},
                // query_index = 2}.
                msg.clear();
                put_len_header(&mut msg, 1, labels_bytes + series_chunks.len());
                for (n, v) in &labels {
                    put_label(&mut msg, 1, n, v);
                }
                msg.extend_from_slice(&series_chunks);
                put_query_index(&mut msg, index as i64);
                put_frame(&mut batch, &msg);
                series_chunks.clear();
                left = budget;
                if batch.len() >= BATCH_BYTES
                    && !emit(std::mem::replace(
                        &mut batch,
                        Vec::with_capacity(BATCH_BYTES),
                    ))
                {
                    return Ok(());
                }
            }
        }
    }
    if !batch.is_empty() {
        emit(batch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chunk sample counts for `samples` cut with a 2 h range.
    fn counts(samples: &[(i64, f64)]) -> Vec<u16> {
        let (mut app, mut data, mut chunks) = (XorAppender::new(), Vec::new(), Vec::new());
        cut_chunks(samples, 7_200_000, &mut app, &mut data, &mut chunks);
        chunks
            .iter()
            .map(|c| u16::from_be_bytes([data[c.start], data[c.start + 1]]))
            .collect()
    }

    #[test]
    fn cuts_where_the_head_cuts() {
        let every = |step: i64, n: i64, from: i64| -> Vec<(i64, f64)> {
            (0..n).map(|i| (from + i * step, i as f64)).collect()
        };
        // (case, samples, chunk sample counts)
        type Case = (&'static str, Vec<(i64, f64)>, Vec<u16>);
        let cases: Vec<Case> = vec![
            ("empty", vec![], vec![]),
            ("15 s for 2 h: 4 x 120", every(15_000, 480, 0), vec![120; 4]),
            ("10 samples", every(10_000, 10, 0), vec![10]),
            (
                "crosses a 2 h boundary",
                every(60_000, 10, 7_200_000 - 300_000),
                vec![5, 5],
            ),
            (
                "rate jumps after the prediction: capped at 240",
                every(60_000, 31, 0)
                    .into_iter()
                    .chain(every(1_000, 300, 1_860_000))
                    .collect(),
                vec![240, 91],
            ),
            (
                "1 s samples: ~117 per predicted chunk",
                every(1_000, 234, 0),
                vec![117, 117],
            ),
        ];
        for (case, samples, want) in cases {
            assert_eq!(counts(&samples), want, "case {case}");
        }
    }
}
