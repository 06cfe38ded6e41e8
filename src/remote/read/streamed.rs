//! The STREAMED_XOR_CHUNKS answer: per query, per series (sorted by labels), frames of
//! `ChunkedReadResponse{chunked_series: [one series], query_index}`, as 2.42's
//! `StreamChunkedReadResponses`.
//!
//! The chunks are cut and encoded as Prometheus would send them ([`super::chunking`]); frames
//! are split by the `--storage.remote.read-max-bytes-in-frame` budget as 2.42 splits them.

use fedstore_promql::storage::Queryable;

use super::chunking::{Chunker, window_start};
use super::{ExternalLabels, ReadError, plan};
use crate::remote::proto;
use crate::remote::wire::{
    chunk_size, label_size, len_field_size, put_frame, put_label, put_len_header, put_query_index,
    put_xor_chunk,
};

/// Frames are handed out in batches of about this many bytes (fewer, larger writes).
const BATCH_BYTES: usize = 64 << 10;

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
    let result = stream_into(
        storage,
        queries,
        ext,
        max_bytes_in_frame,
        chunk_range_ms,
        &mut batch,
        emit,
    );
    // Frames cut before an error are sent before it, as 2.42 flushes every frame.
    if !batch.is_empty() {
        emit(batch);
    }
    result
}

/// [`stream`] with the pending batch owned by the caller; `Ok` also when the client has gone.
fn stream_into(
    storage: &dyn Queryable,
    queries: &[proto::Query],
    ext: &ExternalLabels,
    max_bytes_in_frame: usize,
    chunk_range_ms: i64,
    batch: &mut Vec<u8>,
    emit: &mut dyn FnMut(Vec<u8>) -> bool,
) -> Result<(), ReadError> {
    let mut msg = Vec::new();
    let mut series_chunks = Vec::new();
    let mut samples = Vec::new();
    let mut chunker = Chunker::default();
    for (index, query) in queries.iter().enumerate() {
        let planned = plan(query, ext)?;
        // From the start of the chunk range: the samples there decide where chunks are cut.
        let from = window_start(planned.mint_ms, chunk_range_ms).min(planned.mint_ms);
        let set = storage
            .select(&planned.matchers, from, planned.maxt_ms, &planned.hints)
            .map_err(|e| ReadError::internal(e.to_string()))?;
        for i in 0..set.len() {
            set.samples(i, &mut samples)
                .map_err(|e| ReadError::internal(e.to_string()))?;
            let stored = set
                .labels(i)
                .map_err(|e| ReadError::internal(e.to_string()))?;
            let mut labels = Vec::with_capacity(stored.len() + 4);
            ext.merge(&stored, &mut labels);
            chunker.cut(&samples, planned.mint_ms, chunk_range_ms);
            let (data, chunks) = (&chunker.data, &chunker.chunks);
            if chunks.is_empty() {
                continue;
            }
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
                put_frame(batch, &msg);
                series_chunks.clear();
                left = budget;
                if batch.len() >= BATCH_BYTES
                    && !emit(std::mem::replace(batch, Vec::with_capacity(BATCH_BYTES)))
                {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}
