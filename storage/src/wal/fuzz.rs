//! The fuzzing entry of the WAL record decoder ([`fuzz_decode`]): hostile segment bytes
//! must never panic or allocate without bound, and whatever decodes must survive an
//! encode/decode round trip unchanged. Used by `fuzz/fuzz_targets/wal_record_decode.rs` and
//! by the unit tests (the committed corpus is replayed on every `cargo test`).

use crate::labels::Labels;

use super::record::{
    Decoder, Encoder, FRAME_HEADER_BYTES, RefSample, TYPE_SAMPLES, TYPE_SAMPLES_V1, TYPE_SERIES,
    decode_samples, decode_series, is_samples, read_frame,
};

/// Decodes `data` as WAL input. The first byte picks the view, so that the fuzzer reaches
/// the payload decoders without forging checksums:
/// - `0`: a segment: frames read one after another until the first corrupt one;
/// - `1`: the rest is a frame body (type, raw length, payload) given a valid header and
///   checksum, so zstd and the type dispatch are reached;
/// - `2`: a series payload; `3`: a samples payload (the next byte's low bit picks the
///   format: version 2 or the older version 1).
///
/// Panics (the fuzzer's finding) when decoding panics or a decoded record does not
/// round-trip through the encoder.
pub fn fuzz_decode(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => segment(rest),
        1 => {
            let mut framed = Vec::with_capacity(rest.len() + FRAME_HEADER_BYTES);
            let len = u32::try_from(rest.len()).unwrap_or(u32::MAX);
            framed.extend_from_slice(&len.to_le_bytes());
            framed.extend_from_slice(&crc32c::crc32c(rest).to_le_bytes());
            framed.extend_from_slice(rest);
            segment(&framed);
        }
        2 => series(rest),
        _ => {
            let Some((&v, payload)) = rest.split_first() else {
                return;
            };
            let ty = if v & 1 == 0 {
                TYPE_SAMPLES
            } else {
                TYPE_SAMPLES_V1
            };
            samples(ty, payload)
        }
    }
}

fn segment(mut buf: &[u8]) {
    let mut dec = Decoder::default();
    while let Ok((frame, size)) = read_frame(buf) {
        assert!(
            size > 0 && size <= buf.len(),
            "frame size {size} of {}",
            buf.len()
        );
        if let Ok(payload) = dec.payload(&frame) {
            let payload = payload.to_vec();
            match frame.ty {
                TYPE_SERIES => series(&payload),
                ty if is_samples(ty) => samples(ty, &payload),
                _ => {}
            }
        }
        buf = &buf[size..];
    }
}

fn series(payload: &[u8]) {
    let mut got: Vec<(u32, Labels)> = Vec::new();
    if decode_series(payload, |r, l| {
        got.push((r, l));
        Ok(())
    })
    .is_err()
    {
        return;
    }
    // Replay refuses invalid label sets; valid ones must come back the same.
    got.retain(|(_, l)| l.validate().is_ok());
    for compress in [false, true] {
        let mut out = Vec::new();
        Encoder::new(compress).series_frame(&got, &mut out);
        if got.is_empty() {
            assert!(out.is_empty());
            continue;
        }
        let (frame, size) = read_frame(&out).expect("own series frame");
        assert_eq!(size, out.len());
        let mut dec = Decoder::default();
        let payload = dec.payload(&frame).expect("own payload");
        let mut again = Vec::new();
        decode_series(payload, |r, l| {
            again.push((r, l));
            Ok(())
        })
        .expect("own series payload");
        assert_eq!(again, got, "series round trip");
    }
}

fn samples(ty: u8, payload: &[u8]) {
    let mut got: Vec<RefSample> = Vec::new();
    if decode_samples(ty, payload, &mut got).is_err() {
        return;
    }
    for compress in [false, true] {
        let mut out = Vec::new();
        Encoder::new(compress).samples_frame(got.iter().map(|s| (s.r, s.t, s.v)), &mut out);
        if got.is_empty() {
            assert!(out.is_empty());
            continue;
        }
        let (frame, _) = read_frame(&out).expect("own samples frame");
        let mut dec = Decoder::default();
        let payload = dec.payload(&frame).expect("own payload");
        let mut again = Vec::new();
        decode_samples(frame.ty, payload, &mut again).expect("own samples payload");
        let bits = |v: &[RefSample]| -> Vec<(u32, i64, u64)> {
            v.iter().map(|s| (s.r, s.t, s.v.to_bits())).collect()
        };
        assert_eq!(bits(&again), bits(&got), "samples round trip");
    }
}

#[cfg(test)]
mod tests {
    /// Every committed seed (and regression input) of the fuzz target decodes without panic.
    #[test]
    fn seeds_replay() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fuzz/seeds/wal_record_decode"
        );
        let mut n = 0;
        for e in std::fs::read_dir(dir).expect("seed dir") {
            let data = std::fs::read(e.expect("entry").path()).expect("seed");
            super::fuzz_decode(&data);
            n += 1;
        }
        assert!(n >= 5, "{n} seeds");
    }
}
