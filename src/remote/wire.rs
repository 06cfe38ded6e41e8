//! Hand-written protobuf encoding of the remote-read answers (`ReadResponse`,
//! `ChunkedReadResponse`) and the streamed frame around each message; the remote-write
//! sender's request encoder (`sender::encode`) builds on its varint and label writers.
//!
//! Field for field what gogo-protobuf marshals for Prometheus 2.42: fields in number order,
//! proto3 defaults (`0`, `-0`, `""`) left out, repeated messages always written (even empty).
//! Lengths are computed before writing, so nothing is encoded twice; prost's derived types
//! in [`crate::remote::proto`] are the oracle in the tests.

pub use fedstore_storage::{put_uvarint as put_varint, uvarint_len as varint_len};

/// Bytes of a length-delimited field (key, length, body) whose body is `len` bytes.
pub fn len_field_size(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// Appends the key (one byte: field numbers here are below 16) and length of a
/// length-delimited field; the caller appends the `len` body bytes.
pub fn put_len_header(out: &mut Vec<u8>, field: u8, len: usize) {
    out.push(field << 3 | 2);
    put_varint(out, len as u64);
}

/// Appends a string/bytes field, left out when empty (proto3).
fn put_bytes_field(out: &mut Vec<u8>, field: u8, b: &[u8]) {
    if !b.is_empty() {
        put_len_header(out, field, b.len());
        out.extend_from_slice(b);
    }
}

/// Appends an int64 field as a varint, left out when 0 (proto3).
fn put_int64_field(out: &mut Vec<u8>, field: u8, v: i64) {
    if v != 0 {
        out.push(field << 3);
        // int64 is two's complement in a varint: the cast is the protobuf rule.
        put_varint(out, v as u64);
    }
}

/// Bytes of an int64 field (0 when left out).
fn int64_field_size(v: i64) -> usize {
    if v == 0 { 0 } else { 1 + varint_len(v as u64) }
}

/// Body size of a `Label{name=1, value=2}` (gogo's `Label.Size()`).
pub fn label_size(name: &str, value: &str) -> usize {
    let field = |s: &str| {
        if s.is_empty() {
            0
        } else {
            len_field_size(s.len())
        }
    };
    field(name) + field(value)
}

/// Appends a repeated `Label` entry as field `field` of the enclosing message.
pub fn put_label(out: &mut Vec<u8>, field: u8, name: &str, value: &str) {
    put_len_header(out, field, label_size(name, value));
    put_bytes_field(out, 1, name.as_bytes());
    put_bytes_field(out, 2, value.as_bytes());
}

/// Body size of a `Sample{value=1 double, timestamp=2 int64}`. A value that compares equal to
/// 0 (`-0` included) is left out, as gogo's `if m.Value != 0` does: `-0` reads back as `+0`.
pub fn sample_size(t: i64, v: f64) -> usize {
    let value = if v == 0.0 { 0 } else { 9 };
    value + int64_field_size(t)
}

/// Appends a repeated `Sample` entry as field `field` of the enclosing `TimeSeries`.
pub fn put_sample(out: &mut Vec<u8>, field: u8, t: i64, v: f64) {
    put_len_header(out, field, sample_size(t, v));
    if v != 0.0 {
        out.push(1 << 3 | 1);
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    put_int64_field(out, 2, t);
}

/// `prometheus.Chunk.Encoding` XOR.
const CHUNK_ENCODING_XOR: i64 = 1;

/// Body size of a `Chunk{min_time_ms=1, max_time_ms=2, type=3, data=4}` of XOR type whose
/// data is `data_len` bytes (gogo's `Chunk.Size()`, which the frame budget counts).
pub fn chunk_size(min_t: i64, max_t: i64, data_len: usize) -> usize {
    int64_field_size(min_t)
        + int64_field_size(max_t)
        + int64_field_size(CHUNK_ENCODING_XOR)
        + if data_len == 0 {
            0
        } else {
            len_field_size(data_len)
        }
}

/// Appends a repeated XOR `Chunk` entry as field `field` of the enclosing `ChunkedSeries`.
pub fn put_xor_chunk(out: &mut Vec<u8>, field: u8, min_t: i64, max_t: i64, data: &[u8]) {
    put_len_header(out, field, chunk_size(min_t, max_t, data.len()));
    put_int64_field(out, 1, min_t);
    put_int64_field(out, 2, max_t);
    put_int64_field(out, 3, CHUNK_ENCODING_XOR);
    put_bytes_field(out, 4, data);
}

/// Appends the `query_index=2` field of a `ChunkedReadResponse` (left out when 0).
pub fn put_query_index(out: &mut Vec<u8>, index: i64) {
    put_int64_field(out, 2, index);
}

/// Appends one frame of a streamed answer: `uvarint(len(msg))`, the CRC32-Castagnoli of `msg`
/// (4 bytes, big-endian), then `msg` (Prometheus `ChunkedWriter.Write`).
pub fn put_frame(out: &mut Vec<u8>, msg: &[u8]) {
    put_varint(out, msg.len() as u64);
    let crc = crc32c::crc32c(msg);
    // The frame checksum is big-endian on the wire (Prometheus `binary.BigEndian`); this is
    // a network protocol, not one of our little-endian on-disk formats.
    #[expect(
        clippy::big_endian_bytes,
        reason = "the remote-read frame format says so"
    )]
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(msg);
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::remote::proto;

    #[test]
    fn varint_len_matches_encoding() {
        for v in [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(varint_len(v), out.len(), "value {v}");
        }
    }

    #[test]
    fn labels_samples_and_chunks_match_prost() {
        // (case, label, sample)
        let long = "é".repeat(200);
        type Case<'a> = (&'a str, (&'a str, &'a str), (i64, f64));
        let cases: Vec<Case<'_>> = vec![
            ("plain", ("__name__", "up"), (1_700_000_000_000, 1.5)),
            ("empty value, zero value", ("a", ""), (5, 0.0)),
            ("negative zero and time", ("", "v"), (-1, -0.0)),
            (
                "zero time, stale NaN",
                ("x", "y"),
                (0, f64::from_bits(0x7ff0_0000_0000_0002)),
            ),
            ("long value", ("k", &long), (i64::MIN, f64::MAX)),
        ];
        for (case, (n, v), (t, x)) in cases {
            let mut got = Vec::new();
            put_label(&mut got, 1, n, v);
            put_sample(&mut got, 2, t, x);
            put_xor_chunk(&mut got, 3, t, t.wrapping_add(7), n.as_bytes());
            // A message with fields 1, 2 and 3 of those types, encoded by prost.
            #[derive(Clone, PartialEq, prost::Message)]
            struct Probe {
                #[prost(message, optional, tag = "1")]
                label: Option<proto::Label>,
                #[prost(message, optional, tag = "2")]
                sample: Option<proto::Sample>,
                #[prost(message, optional, tag = "3")]
                chunk: Option<proto::Chunk>,
            }
            let want = Probe {
                label: Some(proto::Label {
                    name: n.into(),
                    value: v.into(),
                }),
                sample: Some(proto::Sample {
                    value: x,
                    timestamp: t,
                }),
                chunk: Some(proto::Chunk {
                    min_time_ms: t,
                    max_time_ms: t.wrapping_add(7),
                    r#type: proto::ChunkEncoding::Xor as i32,
                    data: n.as_bytes().to_vec(),
                }),
            };
            // prost writes `-0.0` (it checks bits); gogo and we do not: compare after the
            // proto3 decode, which reads both as the same sample.
            let decoded = Probe::decode(got.as_slice()).expect("decodes");
            let mut want_norm = want.clone();
            if let Some(s) = want_norm.sample.as_mut()
                && s.value == 0.0
            {
                s.value = 0.0;
            }
            // NaN != NaN: compare re-encoded bytes, which keep the exact bits.
            assert_eq!(
                decoded.encode_to_vec(),
                want_norm.encode_to_vec(),
                "case {case}"
            );
            if x.to_bits() != (-0.0f64).to_bits() {
                assert_eq!(got, want.encode_to_vec(), "case {case}: bytes");
            }
        }
    }

    #[test]
    fn frame_has_length_crc_and_message() {
        let mut out = Vec::new();
        put_frame(&mut out, b"123456789");
        // CRC-32C check value of "123456789" is 0xE3069283.
        assert_eq!(out, b"\x09\xe3\x06\x92\x83123456789");
    }
}
