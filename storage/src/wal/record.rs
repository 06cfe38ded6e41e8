//! WAL record encoding: series and samples payloads, and the checksummed, optionally
//! zstd-compressed frame around them (docs/format/wal.md).
//!
//! Encoding appends to caller-owned buffers; decoding borrows the segment bytes and reports
//! what is wrong as a [`CorruptionReason`] (the caller adds segment and offset).

mod samples;

use crate::labels::Labels;

use super::CorruptionReason;
use samples::SamplesEncoder;

/// Record type of a series record.
pub(crate) const TYPE_SERIES: u8 = 1;
/// Record type of a samples record in the version 1 payload (read only; see `samples.rs`).
pub(crate) const TYPE_SAMPLES_V1: u8 = 2;
/// Record type of a samples record in the version 2 payload (what the writer writes).
pub(crate) const TYPE_SAMPLES: u8 = 3;

/// Whether `ty` is a samples record of either payload version.
pub(crate) fn is_samples(ty: u8) -> bool {
    ty == TYPE_SAMPLES || ty == TYPE_SAMPLES_V1
}
/// Type bit: the payload is a zstd frame.
const FLAG_ZSTD: u8 = 0x80;
/// Bytes before the checksummed part of a frame: `len u32`, `crc u32`.
pub(crate) const FRAME_HEADER_BYTES: usize = 8;
/// Checksummed bytes before the payload: `type u8`, `raw_len u32`.
const FRAME_PREFIX_BYTES: usize = 5;
/// Largest `len` a frame may declare; larger values are corruption (a commit of tens of millions
/// of samples still fits).
pub(crate) const MAX_FRAME_LEN: usize = 1 << 30;
/// Payloads shorter than this are stored uncompressed (zstd's frame overhead would win).
const MIN_COMPRESS_BYTES: usize = 64;
/// zstd level: 1 is the fastest standard level (docs/storage.md, "Compression choice").
const ZSTD_LEVEL: i32 = 1;

/// One decoded sample: series ref (of the writing process), timestamp, value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RefSample {
    pub(crate) r: u32,
    pub(crate) t: i64,
    pub(crate) v: f64,
}

/// Reusable encoder state: scratch for the raw payload, the samples streams and a zstd
/// compressor.
pub(crate) struct Encoder {
    raw: Vec<u8>,
    samples: SamplesEncoder,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    compress: bool,
}

impl Encoder {
    /// An encoder; `compress` enables zstd for payloads where it pays.
    pub(crate) fn new(compress: bool) -> Self {
        Encoder {
            raw: Vec::new(),
            samples: SamplesEncoder::default(),
            zstd: None,
            compress,
        }
    }

    /// Turns compression on or off for the next frames.
    pub(crate) fn set_compress(&mut self, compress: bool) {
        self.compress = compress;
    }

    /// Appends a samples frame for `samples` (in append order) to `out`. Nothing is written for
    /// an empty batch.
    pub(crate) fn samples_frame(
        &mut self,
        samples: impl ExactSizeIterator<Item = (u32, i64, f64)>,
        out: &mut Vec<u8>,
    ) {
        if samples.len() == 0 {
            return;
        }
        self.raw.clear();
        self.samples.encode(samples, &mut self.raw);
        self.finish_frame(TYPE_SAMPLES, out);
    }

    /// Appends a samples frame in the version 1 payload: how logs were written before
    /// version 2, for the tests that replay such a log.
    #[cfg(test)]
    pub(crate) fn samples_frame_v1(&mut self, samples: &[(u32, i64, f64)], out: &mut Vec<u8>) {
        if samples.is_empty() {
            return;
        }
        self.raw.clear();
        samples::encode_v1(samples, &mut self.raw);
        self.finish_frame(TYPE_SAMPLES_V1, out);
    }

    /// Appends a series frame for `series` to `out`. Nothing is written for an empty list.
    pub(crate) fn series_frame(&mut self, series: &[(u32, Labels)], out: &mut Vec<u8>) {
        if series.is_empty() {
            return;
        }
        self.raw.clear();
        put_uvarint(&mut self.raw, series.len() as u64);
        for (r, labels) in series {
            put_uvarint(&mut self.raw, u64::from(*r));
            put_uvarint(&mut self.raw, labels.len() as u64);
            for l in labels.iter() {
                put_bytes(&mut self.raw, l.name.as_bytes());
                put_bytes(&mut self.raw, l.value.as_bytes());
            }
        }
        self.finish_frame(TYPE_SERIES, out);
    }

    /// Wraps `self.raw` as a frame of type `ty` at the end of `out`.
    fn finish_frame(&mut self, ty: u8, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0u8; FRAME_HEADER_BYTES]);
        let raw_len = u32::try_from(self.raw.len()).unwrap_or(u32::MAX);
        let mut stored = false;
        if self.compress && self.raw.len() >= MIN_COMPRESS_BYTES {
            if self.zstd.is_none() {
                self.zstd = zstd::bulk::Compressor::new(ZSTD_LEVEL).ok();
            }
            let raw = &self.raw;
            let compressed = self
                .zstd
                .as_mut()
                .and_then(|c| c.compress(raw).ok())
                .filter(|c| c.len() < raw.len());
            if let Some(c) = compressed {
                out.push(ty | FLAG_ZSTD);
                out.extend_from_slice(&raw_len.to_le_bytes());
                out.extend_from_slice(&c);
                stored = true;
            }
        }
        if !stored {
            out.push(ty);
            out.extend_from_slice(&raw_len.to_le_bytes());
            out.extend_from_slice(&self.raw);
        }
        let body = &out[start + FRAME_HEADER_BYTES..];
        let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
        let crc = crc32c::crc32c(body);
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }
}

/// A frame found in a segment: its type and payload (still compressed if flagged).
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    /// Record type without the compression bit.
    pub(crate) ty: u8,
    compressed: bool,
    raw_len: usize,
    payload: &'a [u8],
}

/// Reads the frame at the start of `buf`; returns it and its total size in bytes.
pub(crate) fn read_frame(buf: &[u8]) -> Result<(Frame<'_>, usize), CorruptionReason> {
    let Some(header) = buf.get(..FRAME_HEADER_BYTES) else {
        return Err(CorruptionReason::TornFrame);
    };
    let len = u32_at(header, 0) as usize;
    let crc = u32_at(header, 4);
    if len == 0 && buf.iter().all(|&b| b == 0) {
        return Err(CorruptionReason::ZeroFill);
    }
    if !(FRAME_PREFIX_BYTES..=MAX_FRAME_LEN).contains(&len) {
        return Err(CorruptionReason::BadLength(len as u64));
    }
    let Some(body) = buf.get(FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + len) else {
        return Err(CorruptionReason::TornFrame);
    };
    if crc32c::crc32c(body) != crc {
        return Err(CorruptionReason::ChecksumMismatch);
    }
    let ty = body[0];
    let raw_len = u32_at(body, 1) as usize;
    let frame = Frame {
        ty: ty & !FLAG_ZSTD,
        compressed: ty & FLAG_ZSTD != 0,
        raw_len,
        payload: &body[FRAME_PREFIX_BYTES..],
    };
    if !frame.compressed && raw_len != frame.payload.len() {
        return Err(CorruptionReason::Decode(
            "raw length differs from payload length",
        ));
    }
    if raw_len > MAX_FRAME_LEN * 8 {
        return Err(CorruptionReason::Decode("raw length over 8 GiB"));
    }
    Ok((frame, FRAME_HEADER_BYTES + len))
}

/// Reusable decoder state: a zstd decompressor and its output buffer.
#[derive(Default)]
pub(crate) struct Decoder {
    zstd: Option<zstd::bulk::Decompressor<'static>>,
    raw: Vec<u8>,
}

impl Decoder {
    /// The uncompressed payload of `frame`.
    pub(crate) fn payload<'a>(
        &'a mut self,
        frame: &'a Frame<'_>,
    ) -> Result<&'a [u8], CorruptionReason> {
        if !frame.compressed {
            return Ok(frame.payload);
        }
        if self.zstd.is_none() {
            self.zstd = Some(
                zstd::bulk::Decompressor::new()
                    .map_err(|_| CorruptionReason::Decode("cannot create a zstd decompressor"))?,
            );
        }
        let z = self.zstd.as_mut().ok_or(CorruptionReason::Decode(
            "cannot create a zstd decompressor",
        ))?;
        self.raw.clear();
        self.raw.reserve(frame.raw_len);
        let n = z
            .decompress_to_buffer(frame.payload, &mut self.raw)
            .map_err(|_| CorruptionReason::Decode("zstd payload does not decompress"))?;
        if n != frame.raw_len {
            return Err(CorruptionReason::Decode(
                "zstd payload has the wrong length",
            ));
        }
        Ok(&self.raw)
    }
}

/// Decodes a series payload, calling `f(ref, labels)` per series.
pub(crate) fn decode_series(
    mut p: &[u8],
    mut f: impl FnMut(u32, Labels) -> Result<(), CorruptionReason>,
) -> Result<(), CorruptionReason> {
    let n = get_uvarint(&mut p)?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for _ in 0..n {
        let r = get_u32(&mut p)?;
        let nl = get_uvarint(&mut p)?;
        if nl > p.len() as u64 {
            return Err(CorruptionReason::Decode("label count past the payload"));
        }
        pairs.clear();
        for _ in 0..nl {
            let name = get_str(&mut p)?;
            let value = get_str(&mut p)?;
            pairs.push((name.to_owned(), value.to_owned()));
        }
        f(r, Labels::from_pairs(pairs.drain(..)))?;
    }
    if !p.is_empty() {
        return Err(CorruptionReason::Decode("bytes after the last series"));
    }
    Ok(())
}

/// Decodes the payload of a samples record of type `ty` (either version) into `out`
/// (cleared first).
pub(crate) fn decode_samples(
    ty: u8,
    p: &[u8],
    out: &mut Vec<RefSample>,
) -> Result<(), CorruptionReason> {
    match ty {
        TYPE_SAMPLES => samples::decode_v2(p, out),
        TYPE_SAMPLES_V1 => samples::decode_v1(p, out),
        t => Err(CorruptionReason::UnknownType(t)),
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

pub(crate) use crate::varint::put_uvarint;

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Reads a LEB128 value from the front of `p`.
#[inline]
pub(crate) fn get_uvarint(p: &mut &[u8]) -> Result<u64, CorruptionReason> {
    let mut v = 0u64;
    for (i, &b) in p.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            *p = &p[i + 1..];
            return Ok(v);
        }
    }
    Err(CorruptionReason::Decode("bad varint"))
}

#[inline]
fn get_u32(p: &mut &[u8]) -> Result<u32, CorruptionReason> {
    u32::try_from(get_uvarint(p)?).map_err(|_| CorruptionReason::Decode("series ref over u32"))
}

fn get_str<'a>(p: &mut &'a [u8]) -> Result<&'a str, CorruptionReason> {
    let n = get_uvarint(p)?;
    if n > p.len() as u64 {
        return Err(CorruptionReason::Decode("string past the payload"));
    }
    let (s, rest) = p.split_at(n as usize);
    *p = rest;
    std::str::from_utf8(s).map_err(|_| CorruptionReason::Decode("label is not UTF-8"))
}

#[inline]
pub(super) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
pub(super) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::must_labels;

    #[test]
    fn varint_and_zigzag_round_trip() {
        let cases: [i64; 9] = [0, 1, -1, 63, -64, 1 << 40, -(1 << 40), i64::MAX, i64::MIN];
        for v in cases {
            let mut buf = Vec::new();
            put_uvarint(&mut buf, zigzag(v));
            let mut p = buf.as_slice();
            assert_eq!(unzigzag(get_uvarint(&mut p).unwrap()), v, "case {v}");
            assert!(p.is_empty(), "case {v}");
        }
    }

    #[test]
    fn frames_round_trip_compressed_and_not() {
        for compress in [false, true] {
            let mut enc = Encoder::new(compress);
            let mut out = Vec::new();
            let series = vec![
                (3, must_labels(&[("__name__", "up"), ("job", "a")])),
                (
                    70_000,
                    must_labels(&[("__name__", "x"), ("ünï", "v".repeat(300).as_str())]),
                ),
            ];
            enc.series_frame(&series, &mut out);
            let samples: Vec<(u32, i64, f64)> = (0..500)
                .map(|i| {
                    (
                        i % 7,
                        1_700_000_000_000 + i64::from(i) * 15_000 - 40_000,
                        f64::from(i),
                    )
                })
                .chain([(1, i64::MIN + 1, f64::NAN), (2, i64::MAX, -0.0)])
                .collect();
            enc.samples_frame(samples.iter().copied(), &mut out);
            enc.samples_frame(std::iter::empty::<(u32, i64, f64)>(), &mut out);

            let mut dec = Decoder::default();
            let (f, n1) = read_frame(&out).unwrap();
            assert_eq!(f.ty, TYPE_SERIES);
            let mut got = Vec::new();
            decode_series(dec.payload(&f).unwrap(), |r, l| {
                got.push((r, l));
                Ok(())
            })
            .unwrap();
            assert_eq!(got, series, "compress {compress}");
            let (f, n2) = read_frame(&out[n1..]).unwrap();
            assert_eq!(f.ty, TYPE_SAMPLES);
            assert_eq!(f.compressed, compress, "compression used when asked");
            let mut s = Vec::new();
            decode_samples(f.ty, dec.payload(&f).unwrap(), &mut s).unwrap();
            assert_eq!(s.len(), samples.len());
            for (a, b) in s.iter().zip(&samples) {
                assert_eq!((a.r, a.t, a.v.to_bits()), (b.0, b.1, b.2.to_bits()));
            }
            assert_eq!(n1 + n2, out.len(), "empty batch writes nothing");
        }
    }

    #[test]
    fn damaged_frames_are_reported() {
        let mut enc = Encoder::new(true);
        let mut good = Vec::new();
        enc.samples_frame([(1u32, 5i64, 1.0f64); 40].into_iter(), &mut good);
        let flip = |at: usize| {
            let mut b = good.clone();
            b[at] ^= 0x10;
            b
        };
        let cases: Vec<(&str, Vec<u8>, CorruptionReason)> = vec![
            (
                "short header",
                good[..5].to_vec(),
                CorruptionReason::TornFrame,
            ),
            (
                "short body",
                good[..good.len() - 1].to_vec(),
                CorruptionReason::TornFrame,
            ),
            ("crc", flip(5), CorruptionReason::ChecksumMismatch),
            (
                "payload",
                flip(good.len() - 2),
                CorruptionReason::ChecksumMismatch,
            ),
            ("zero fill", vec![0; 32], CorruptionReason::ZeroFill),
            (
                "zero len",
                [&[0u8; 8][..], b"x"].concat(),
                CorruptionReason::BadLength(0),
            ),
        ];
        for (name, buf, want) in cases {
            let got = read_frame(&buf).map(|_| ()).unwrap_err();
            assert_eq!(got, want, "case {name}");
        }
    }
}
