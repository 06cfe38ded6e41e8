//! The remote-write body: a `prometheus.WriteRequest` (src/remote/proto.rs is its schema and
//! the oracle of the tests here) with one `TimeSeries` per sample, as Prometheus 2.42 sends it,
//! snappy-compressed.
//!
//! Encoded by hand rather than through prost's owned types: a series' labels are encoded once,
//! when its series record is read, and copied into every request that carries one of its
//! samples, instead of cloning label strings per sample.

use crate::remote::wire::{put_label, put_varint, varint_len};

/// A series as sent: its labels after external labels and `write_relabel_configs`, already in
/// protobuf form (the `labels` fields of a `TimeSeries`), and a hash that picks its shard.
#[derive(Debug)]
pub struct SeriesOut {
    /// Encoded `repeated Label labels = 1` fields.
    pub labels: Box<[u8]>,
    /// Stable hash of the label set.
    pub hash: u64,
}

impl SeriesOut {
    /// Encodes `labels` (sorted by name).
    pub fn new(labels: &[(String, String)]) -> SeriesOut {
        let mut buf = Vec::with_capacity(labels.iter().map(|(n, v)| n.len() + v.len() + 6).sum());
        for (n, v) in labels {
            put_label(&mut buf, 1, n, v);
        }
        let hash = xxhash_rust::xxh3::xxh3_64(&buf);
        SeriesOut {
            labels: buf.into_boxed_slice(),
            hash,
        }
    }
}

/// Most bytes a sample adds to its series' labels in [`put_sample`]: the `TimeSeries` tag and
/// length (1 + up to 5), the `Sample` tag and length (2), value (9) and timestamp (1 + 10).
pub const MAX_SAMPLE_OVERHEAD: usize = 28;

/// Appends one `TimeSeries` (field 1 of `WriteRequest`) holding one sample to `out`.
pub fn put_sample(out: &mut Vec<u8>, series: &SeriesOut, t: i64, v: f64) {
    // Sample: value (fixed64, field 1) and timestamp (varint, field 2).
    let mut sample = [0u8; 1 + 8 + 1 + 10];
    sample[0] = 0x09;
    sample[1..9].copy_from_slice(&v.to_le_bytes());
    sample[9] = 0x10;
    let n = 10 + fedstore_storage::put_uvarint_into(&mut sample[10..], t as u64);
    let sample = &sample[..n];
    let ts_len = series.labels.len() + 1 + varint_len(n as u64) + n;
    out.push(0x0a);
    put_varint(out, ts_len as u64);
    out.extend_from_slice(&series.labels);
    out.push(0x12);
    put_varint(out, n as u64);
    out.extend_from_slice(sample);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::proto::{TimeSeries, WriteRequest};
    use prost::Message as _;

    #[test]
    fn hand_encoding_decodes_as_the_proto_types() {
        let a = SeriesOut::new(&[
            ("__name__".into(), "up".into()),
            ("job".into(), "é".repeat(100)),
        ]);
        let b = SeriesOut::new(&[("__name__".into(), "x".into())]);
        let samples = [
            (&a, 1_700_000_000_123i64, 1.5f64),
            (&b, -5, f64::NAN),
            (&a, 0, -0.0),
            (&b, i64::MAX, f64::INFINITY),
        ];
        let mut body = Vec::new();
        for (s, t, v) in samples {
            put_sample(&mut body, s, t, v);
        }
        let req = WriteRequest::decode(body.as_slice()).expect("decodes");
        assert_eq!(req.timeseries.len(), 4);
        let long = "é".repeat(100);
        let want_a = TimeSeries::from_pairs(
            &[("__name__", "up"), ("job", &long)],
            &[(1_700_000_000_123, 1.5)],
        );
        assert_eq!(req.timeseries[0], want_a);
        let got = &req.timeseries[1];
        assert_eq!(
            got.labels,
            TimeSeries::from_pairs(&[("__name__", "x")], &[]).labels
        );
        assert_eq!(got.samples[0].timestamp, -5);
        assert!(got.samples[0].value.is_nan());
        assert_eq!(
            req.timeseries[2].samples[0].value.to_bits(),
            (-0.0f64).to_bits()
        );
        assert_eq!(req.timeseries[3].samples[0].timestamp, i64::MAX);
        for v in [0u64, 1, 127, 128, 16383, 16384, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
        }
    }
}
