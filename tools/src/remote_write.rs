//! Prometheus remote write for loading servers: protobuf `WriteRequest` encoding by hand (no
//! generated code: two messages, four fields) and a snappy-compressed POST.

use std::time::Duration;

use anyhow::{Context, Result, bail};

/// Appends the protobuf of `labels` as `TimeSeries.labels` entries (field 1) to `out`: the
/// part of a series that does not change between requests, worth encoding once.
pub fn encode_labels<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>, out: &mut Vec<u8>) {
    for (n, v) in labels {
        let len = 2 + n.len() + varint_len(n.len() as u64) + v.len() + varint_len(v.len() as u64);
        out.push(0x0a);
        put_varint(out, len as u64);
        put_bytes_field(out, 0x0a, n.as_bytes());
        put_bytes_field(out, 0x12, v.as_bytes());
    }
}

/// Appends one `WriteRequest.timeseries` entry (field 1): `labels` as made by
/// [`encode_labels`], then the samples (field 2: double value, int64 ms timestamp).
/// `scratch` is reused between calls.
pub fn encode_series(
    labels: &[u8],
    samples: &[(i64, f64)],
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) {
    scratch.clear();
    scratch.extend_from_slice(labels);
    for &(t, v) in samples {
        // Sample: 0x09 + 8 bytes of the double, 0x10 + varint of the timestamp.
        scratch.push(0x12);
        scratch.push((10 + varint_len(t as u64)) as u8);
        scratch.push(0x09);
        scratch.extend_from_slice(&v.to_le_bytes());
        scratch.push(0x10);
        put_varint(scratch, t as u64);
    }
    put_bytes_field(out, 0x0a, scratch);
}

/// Writes a length-delimited field.
pub fn put_bytes_field(out: &mut Vec<u8>, tag: u8, b: &[u8]) {
    out.push(tag);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Writes a protobuf varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes of the varint of `v`.
pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// An HTTP agent for remote-write posts (long timeout, statuses as values).
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(300)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Snappy-compresses the `WriteRequest` bytes `pb` and posts them to `url`; fails on a
/// non-2xx answer with its body.
pub fn post(agent: &ureq::Agent, url: &str, pb: &[u8], enc: &mut snap::raw::Encoder) -> Result<()> {
    let body = enc.compress_vec(pb)?;
    let mut resp = agent
        .post(url)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .send(&body[..])
        .with_context(|| format!("POST {url}"))?;
    let status = resp.status().as_u16();
    if status / 100 != 2 {
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        bail!("POST {url}: {status} {text}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_protobuf() {
        for (v, want) in [
            (0u64, vec![0u8]),
            (1, vec![1]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (300, vec![0xac, 0x02]),
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out, want, "{v}");
            assert_eq!(varint_len(v), want.len(), "{v}");
        }
    }

    #[test]
    fn series_encoding_is_well_formed() {
        let mut labels = Vec::new();
        encode_labels([("__name__", "up"), ("job", "x")], &mut labels);
        // Label 1: tag, len 8 (2 + 8 bytes of name), name field, value field.
        assert_eq!(&labels[..4], &[0x0a, 14, 0x0a, 8]);
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        encode_series(
            &labels,
            &[(1_000_000, 1.5), (1_015_000, 2.0)],
            &mut scratch,
            &mut out,
        );
        assert_eq!(out[0], 0x0a);
        let body = &out[2..];
        assert_eq!(usize::from(out[1]), body.len());
        // After the labels: two samples of 13 bytes each (3-byte timestamps).
        let samples = &body[labels.len()..];
        assert_eq!(samples.len(), 2 * 15);
        assert_eq!(&samples[..3], &[0x12, 13, 0x09]);
        assert_eq!(&samples[3..11], &1.5f64.to_le_bytes());
        assert_eq!(samples[11], 0x10);
    }
}
