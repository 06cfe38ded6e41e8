//! Samples payloads (docs/format/wal.md, "Samples payload"): version 2, written since WAL
//! segment format 2, and version 1, still read so that a log written before it replays.
//!
//! Version 2 is columnar and predictive, so that zstd has little left to find: each sample's
//! ref, timestamp and value are coded against the previous sample of the record (the same
//! series in a series-major batch, as remote write sends; the neighbouring series of a scrape),
//! and a value that is a short decimal (what the text exposition mostly carries) is stored as
//! its integer mantissa, as a delta or a delta of deltas when that is shorter. Samples
//! per control byte, ref, time and value bytes go to four streams: similar bytes next to each
//! other compress better than interleaved ones.

use super::{get_uvarint, put_uvarint, unzigzag, zigzag};
use crate::wal::CorruptionReason;

use super::RefSample;

/// Ref coding (control bits 0-1): the previous sample's ref.
const REF_SAME: u8 = 0;
/// The previous sample's ref plus one.
const REF_NEXT: u8 = 1;
/// A zigzag varint delta from the previous sample's ref in the refs stream.
const REF_DELTA: u8 = 2;
const REF_MASK: u8 = 0b11;
/// Time coding (control bit 2): set when a zigzag varint in the times stream corrects the
/// prediction `previous t + previous delta` (clear: the prediction is the time).
const TIME_CORRECTED: u8 = 1 << 2;
/// Value coding (control bits 3-5).
const VALUE_SHIFT: u32 = 3;
const VALUE_MASK: u8 = 0b111;
/// The value's 8 bytes (f64 bits, little-endian) in the values stream.
const VALUE_RAW: u8 = 0;
/// The previous sample's value bits.
const VALUE_REPEAT: u8 = 1;
/// A decimal: exponent byte `e`, then the zigzag varint mantissa `m`; the value is `m / 10^e`.
const VALUE_DECIMAL: u8 = 2;
/// A decimal with the previous exponent: zigzag varint of `m - previous m`.
const VALUE_DELTA: u8 = 3;
/// A decimal with the previous exponent: zigzag varint of `m - previous m - previous delta`.
const VALUE_DOD: u8 = 4;
/// Bits of the control byte that must be zero.
const CONTROL_RESERVED: u8 = 0b1100_0000;

/// Largest decimal exponent: `10^e` is exact in an f64 up to `e = 22`; 15 covers every value a
/// 15-significant-digit exposition writes.
const MAX_EXP: usize = 15;
/// Mantissas are below 2^53 in magnitude: exact in an f64, so `m / 10^e` is one correctly
/// rounded division (the same f64 that parsing the decimal text gives). Integers go up to it.
const MAX_MANTISSA: f64 = 9_007_199_254_740_992.0;
/// Relative distance from an integer (about 4.5 ulps) within which `v * 10^e` may be a
/// decimal's mantissa: the product is off by at most an ulp or two from the exact one.
const NEAR_INTEGER: f64 = 1e-15;
/// Mantissas of decimals with a fraction stay below this (see [`to_decimal`]); there
/// [`near_integer`]'s tolerance is under 0.001.
const MAX_DECIMAL_MANTISSA: f64 = 1e12;
const POW10: [f64; MAX_EXP + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// The value of decimal `(m, e)`: the one function both the encoder's check and the decoder use.
#[inline]
fn decimal_value(m: i64, e: usize) -> f64 {
    m as f64 / POW10[e]
}

/// The integer nearest to `x` (`|x| < 2^63`), without `f64::round` (a libm call on baseline
/// x86-64).
#[inline]
fn nearest(x: f64) -> i64 {
    let t = x as i64;
    let frac = x - t as f64;
    t + i64::from(frac > 0.5) - i64::from(frac < -0.5)
}

/// Whether `x` is within [`NEAR_INTEGER`] (relative) of an integer. Necessary for `x` to be
/// `v * 10^e` of a decimal `v = m / 10^e'` with `e' <= e`: `v` is `m / 10^e'` correctly
/// rounded and the product is rounded once more, so `x` is within about two ulps of the
/// integer `m * 10^(e - e')`, and the nearest integer is at least as close.
#[inline]
fn near_integer(x: f64) -> bool {
    (x - nearest(x) as f64).abs() <= x.abs() * NEAR_INTEGER
}

/// `(m, e)` with `decimal_value(m, e)` bit-identical to `v`, trying exponent `first` before
/// the others from 0 up (a series keeps its exponent, so that usually hits at once).
/// Integers (`e = 0`) up to 2^53, other decimals with mantissas below 10^12 only: a longer
/// mantissa would take as many bytes as the raw value, and mostly belongs to a computed float
/// that happens to be some `m / 10^15`.
#[inline]
fn to_decimal(v: f64, first: Option<usize>) -> Option<(i64, usize)> {
    if !v.is_finite() {
        return None;
    }
    let bits = v.to_bits();
    let try_exp = |e: usize| {
        let x = v * POW10[e];
        let limit = if e == 0 {
            MAX_MANTISSA
        } else {
            MAX_DECIMAL_MANTISSA
        };
        if x.abs() >= limit || !near_integer(x) {
            return None;
        }
        let m = nearest(x);
        (decimal_value(m, e).to_bits() == bits).then_some(m)
    };
    if let Some(e) = first
        && let Some(m) = try_exp(e)
    {
        return Some((m, e));
    }
    // Exponents `0 .. fits` keep the mantissa below 10^12; `near_integer` at the largest of
    // them is necessary for every one (and a real test there: a tolerance under 0.001), so
    // most values that are no short decimal are ruled out by this one test.
    let a = v.abs();
    let fits = POW10
        .iter()
        .take_while(|&&p| a * p < MAX_DECIMAL_MANTISSA)
        .count();
    if fits == 0 {
        // Only an integer beyond 10^12 is left.
        return if first == Some(0) {
            None
        } else {
            try_exp(0).map(|m| (m, 0))
        };
    }
    if !near_integer(v * POW10[fits - 1]) {
        return None;
    }
    (0..fits)
        .filter(|&e| Some(e) != first)
        .find_map(|e| try_exp(e).map(|m| (m, e)))
}

/// What both sides know before a sample: the previous sample's ref, time, time delta, value
/// bits and, if its value was a decimal, its exponent, mantissa and mantissa delta.
#[derive(Default)]
struct Prev {
    r: u32,
    t: i64,
    dt: i64,
    bits: u64,
    /// `(e, m, m - previous m)`; the delta is 0 when the previous value had another exponent.
    dec: Option<(usize, i64, i64)>,
}

impl Prev {
    fn advance(&mut self, r: u32, t: i64, bits: u64, dec: Option<(i64, usize)>) {
        self.r = r;
        self.dt = t.wrapping_sub(self.t);
        self.t = t;
        self.bits = bits;
        self.dec = dec.map(|(m, e)| {
            let dm = match self.dec {
                Some((pe, pm, _)) if pe == e => m.wrapping_sub(pm),
                _ => 0,
            };
            (e, m, dm)
        });
    }
}

use crate::varint::uvarint_len as varint_len;

/// Reusable stream buffers of the version 2 encoder.
#[derive(Default)]
pub(crate) struct SamplesEncoder {
    control: Vec<u8>,
    refs: Vec<u8>,
    times: Vec<u8>,
    values: Vec<u8>,
}

impl SamplesEncoder {
    /// Appends the version 2 payload of `samples` (in append order) to `out`.
    pub(crate) fn encode(
        &mut self,
        samples: impl ExactSizeIterator<Item = (u32, i64, f64)>,
        out: &mut Vec<u8>,
    ) {
        let n = samples.len();
        self.control.clear();
        self.refs.clear();
        self.times.clear();
        self.values.clear();
        self.control.reserve(n);
        let mut p = Prev::default();
        for (r, t, v) in samples {
            let mut c = if r == p.r {
                REF_SAME
            } else if Some(r) == p.r.checked_add(1) {
                REF_NEXT
            } else {
                put_uvarint(
                    &mut self.refs,
                    zigzag(i64::from(r).wrapping_sub(i64::from(p.r))),
                );
                REF_DELTA
            };
            let dod = t.wrapping_sub(p.t).wrapping_sub(p.dt);
            if dod != 0 {
                put_uvarint(&mut self.times, zigzag(dod));
                c |= TIME_CORRECTED;
            }
            let bits = v.to_bits();
            let dec = if bits == p.bits {
                c |= VALUE_REPEAT << VALUE_SHIFT;
                p.dec.map(|(e, m, _)| (m, e))
            } else {
                let dec = to_decimal(v, p.dec.map(|d| d.0));
                c |= self.put_value(bits, dec, &p) << VALUE_SHIFT;
                dec
            };
            self.control.push(c);
            p.advance(r, t, bits, dec);
        }
        put_uvarint(out, n as u64);
        put_uvarint(out, self.refs.len() as u64);
        put_uvarint(out, self.times.len() as u64);
        out.extend_from_slice(&self.control);
        out.extend_from_slice(&self.refs);
        out.extend_from_slice(&self.times);
        out.extend_from_slice(&self.values);
    }

    /// Writes a value that is not a repeat in its shortest coding; returns the coding.
    fn put_value(&mut self, bits: u64, dec: Option<(i64, usize)>, p: &Prev) -> u8 {
        let Some((m, e)) = dec else {
            self.values.extend_from_slice(&bits.to_le_bytes());
            return VALUE_RAW;
        };
        let full = zigzag(m);
        let mut best = (VALUE_DECIMAL, full, 1 + varint_len(full));
        if let Some((pe, pm, pdm)) = p.dec
            && pe == e
        {
            let delta = m.wrapping_sub(pm);
            for (coding, z) in [
                (VALUE_DOD, zigzag(delta.wrapping_sub(pdm))),
                (VALUE_DELTA, zigzag(delta)),
            ] {
                if varint_len(z) < best.2 {
                    best = (coding, z, varint_len(z));
                }
            }
        }
        if best.0 == VALUE_DECIMAL {
            // At most MAX_EXP: fits a byte.
            self.values.push(e as u8);
        }
        put_uvarint(&mut self.values, best.1);
        best.0
    }
}

/// Decodes a version 2 samples payload into `out` (cleared first).
pub(crate) fn decode_v2(mut p: &[u8], out: &mut Vec<RefSample>) -> Result<(), CorruptionReason> {
    out.clear();
    let n = get_uvarint(&mut p)?;
    let refs_len = get_uvarint(&mut p)?;
    let times_len = get_uvarint(&mut p)?;
    // One control byte per sample bounds the count by the payload: a corrupt count cannot
    // make this allocate more than the payload's size.
    let streams = n
        .checked_add(refs_len)
        .and_then(|x| x.checked_add(times_len));
    if streams.is_none_or(|x| x > p.len() as u64) {
        return Err(CorruptionReason::Decode("samples streams past the payload"));
    }
    let (control, rest) = p.split_at(n as usize);
    let (mut refs, rest) = rest.split_at(refs_len as usize);
    let (mut times, mut values) = rest.split_at(times_len as usize);
    out.reserve(control.len());
    let mut prev = Prev::default();
    for &c in control {
        if c & CONTROL_RESERVED != 0 {
            return Err(CorruptionReason::Decode("reserved bits set in a sample"));
        }
        let r = match c & REF_MASK {
            REF_SAME => prev.r,
            REF_NEXT => prev
                .r
                .checked_add(1)
                .ok_or(CorruptionReason::Decode("series ref over u32"))?,
            REF_DELTA => {
                let d = unzigzag(get_uvarint(&mut refs)?);
                u32::try_from(i64::from(prev.r).wrapping_add(d))
                    .map_err(|_| CorruptionReason::Decode("series ref over u32"))?
            }
            _ => return Err(CorruptionReason::Decode("bad ref coding")),
        };
        let mut t = prev.t.wrapping_add(prev.dt);
        if c & TIME_CORRECTED != 0 {
            t = t.wrapping_add(unzigzag(get_uvarint(&mut times)?));
        }
        let (bits, dec) = match (c >> VALUE_SHIFT) & VALUE_MASK {
            VALUE_RAW => {
                let Some((b, rest)) = values.split_first_chunk::<8>() else {
                    return Err(CorruptionReason::Decode("sample value past the payload"));
                };
                values = rest;
                (u64::from_le_bytes(*b), None)
            }
            VALUE_REPEAT => (prev.bits, prev.dec.map(|(e, m, _)| (m, e))),
            VALUE_DECIMAL => {
                let Some((&e, rest)) = values.split_first() else {
                    return Err(CorruptionReason::Decode("sample value past the payload"));
                };
                values = rest;
                let e = usize::from(e);
                if e > MAX_EXP {
                    return Err(CorruptionReason::Decode("decimal exponent out of range"));
                }
                let m = unzigzag(get_uvarint(&mut values)?);
                (decimal_value(m, e).to_bits(), Some((m, e)))
            }
            coding @ (VALUE_DELTA | VALUE_DOD) => {
                let Some((e, pm, pdm)) = prev.dec else {
                    return Err(CorruptionReason::Decode("decimal delta after a raw value"));
                };
                let mut m = pm.wrapping_add(unzigzag(get_uvarint(&mut values)?));
                if coding == VALUE_DOD {
                    m = m.wrapping_add(pdm);
                }
                (decimal_value(m, e).to_bits(), Some((m, e)))
            }
            _ => return Err(CorruptionReason::Decode("bad value coding")),
        };
        out.push(RefSample {
            r,
            t,
            v: f64::from_bits(bits),
        });
        prev.advance(r, t, bits, dec);
    }
    if !refs.is_empty() || !times.is_empty() || !values.is_empty() {
        return Err(CorruptionReason::Decode("bytes after the last sample"));
    }
    Ok(())
}

/// Decodes a version 1 samples payload (written before WAL segment format 2) into `out`
/// (cleared first): `count | base_t i64 | count x { ref uvarint | t - base_t zigzag | f64 }`.
pub(crate) fn decode_v1(mut p: &[u8], out: &mut Vec<RefSample>) -> Result<(), CorruptionReason> {
    out.clear();
    let n = get_uvarint(&mut p)?;
    // Each sample takes at least 10 bytes: a bound that stops a corrupt count from allocating.
    if n > (p.len() / 10 + 1) as u64 {
        return Err(CorruptionReason::Decode("sample count past the payload"));
    }
    out.reserve(n as usize);
    let Some((base, rest)) = p.split_first_chunk::<8>() else {
        return Err(CorruptionReason::Decode("samples payload too short"));
    };
    let base = i64::from_le_bytes(*base);
    p = rest;
    for _ in 0..n {
        let r = u32::try_from(get_uvarint(&mut p)?)
            .map_err(|_| CorruptionReason::Decode("series ref over u32"))?;
        let d = unzigzag(get_uvarint(&mut p)?);
        let Some((v, rest)) = p.split_first_chunk::<8>() else {
            return Err(CorruptionReason::Decode("sample value past the payload"));
        };
        p = rest;
        out.push(RefSample {
            r,
            t: base.wrapping_add(d),
            v: f64::from_bits(u64::from_le_bytes(*v)),
        });
    }
    if !p.is_empty() {
        return Err(CorruptionReason::Decode("bytes after the last sample"));
    }
    Ok(())
}

/// The version 1 payload of `samples`: only tests write it now, to check that a log from
/// before version 2 replays.
#[cfg(test)]
pub(crate) fn encode_v1(samples: &[(u32, i64, f64)], out: &mut Vec<u8>) {
    put_uvarint(out, samples.len() as u64);
    let base = samples.first().map_or(0, |s| s.1);
    out.extend_from_slice(&base.to_le_bytes());
    for &(r, t, v) in samples {
        put_uvarint(out, u64::from(r));
        put_uvarint(out, zigzag(t.wrapping_sub(base)));
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(samples: &[(u32, i64, f64)]) -> usize {
        let mut enc = SamplesEncoder::default();
        let mut buf = Vec::new();
        enc.encode(samples.iter().copied(), &mut buf);
        let mut got = Vec::new();
        decode_v2(&buf, &mut got).unwrap();
        assert_eq!(got.len(), samples.len());
        for (a, b) in got.iter().zip(samples) {
            assert_eq!(
                (a.r, a.t, a.v.to_bits()),
                (b.0, b.1, b.2.to_bits()),
                "{b:?}"
            );
        }
        buf.len()
    }

    #[test]
    fn every_kind_of_value_round_trips_bit_exact() {
        let odd = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            0.29,
            1e-7,
            123_456.789,
            1.234_567_890_123_45e15,
            9_007_199_254_740_993.0,
            1e300,
            -1e-300,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::from_bits(crate::STALE_NAN_BITS),
            1.0 / 3.0,
            std::f64::consts::PI,
        ];
        let mut samples = Vec::new();
        for (i, &v) in odd.iter().enumerate() {
            // Each value after each other one: every coding follows every other.
            for (j, &w) in odd.iter().enumerate() {
                samples.push(((i * 3) as u32, (i * 1000 + j) as i64, v));
                samples.push(((i * 3) as u32, (i * 1000 + j) as i64 + 1, w));
            }
        }
        round_trip(&samples);
    }

    #[test]
    fn refs_times_and_extremes_round_trip() {
        let samples = vec![
            (u32::MAX, i64::MIN, 1.0),
            (0, i64::MAX, 2.0),
            (u32::MAX, i64::MIN + 1, 3.0),
            (u32::MAX - 1, -5, 3.5),
            (u32::MAX, 0, 3.25),
            (7, 0, 3.125),
            (7, 15_000, 3.0),
            (8, 15_000, -3.0),
            (8, 30_000, -3.01),
        ];
        round_trip(&samples);
        round_trip(&[]);
    }

    #[test]
    fn series_major_decimals_take_a_byte_or_two() {
        // Counters at a fixed rate and two-decimal gauges, 120 samples per series in a row:
        // the deltas of deltas are small.
        let mut samples = Vec::new();
        for s in 0..100u32 {
            for k in 0..120i64 {
                let t = 1_700_000_000_000 + k * 15_000;
                let v = if s % 2 == 0 {
                    (f64::from(s) * 1000.0 + 7.5 * k as f64).floor()
                } else {
                    ((f64::from(s) * (1.0 + 0.1 * (k as f64 / 20.0).sin())) * 100.0).round() / 100.0
                };
                samples.push((s * 16, t, v));
            }
        }
        let bytes = round_trip(&samples);
        let per_sample = bytes as f64 / samples.len() as f64;
        // A control byte, and a byte or two of value.
        assert!(per_sample < 3.0, "{per_sample} bytes per sample");
        let mut buf = Vec::new();
        SamplesEncoder::default().encode(samples.iter().copied(), &mut buf);
        let zstd = zstd::bulk::compress(&buf, 1).unwrap().len() as f64 / samples.len() as f64;
        assert!(zstd < 1.5, "{zstd} bytes per sample after zstd");
    }

    #[test]
    fn damaged_payloads_are_errors_not_panics() {
        let samples: Vec<(u32, i64, f64)> = (0..50)
            .map(|i| (i % 5, i64::from(i) * 15_000, f64::from(i) / 4.0))
            .chain([(9, 1, 1.0 / 3.0)])
            .collect();
        let mut buf = Vec::new();
        SamplesEncoder::default().encode(samples.iter().copied(), &mut buf);
        let mut out = Vec::new();
        for cut in 0..buf.len() {
            assert!(decode_v2(&buf[..cut], &mut out).is_err(), "cut at {cut}");
        }
        for at in 0..buf.len() {
            for bit in 0..8 {
                let mut b = buf.clone();
                b[at] ^= 1 << bit;
                // Any result but a panic: the frame CRC is what catches flipped bits.
                let _ = decode_v2(&b, &mut out);
            }
        }
        let mut extra = buf.clone();
        extra.push(0);
        assert!(decode_v2(&extra, &mut out).is_err());
    }

    #[test]
    fn version_1_payloads_still_decode() {
        let samples = [
            (3u32, 1_000i64, 0.5f64),
            (70_000, 900, f64::NAN),
            (3, 16_000, 2.0),
        ];
        let mut buf = Vec::new();
        encode_v1(&samples, &mut buf);
        let mut got = Vec::new();
        decode_v1(&buf, &mut got).unwrap();
        let got: Vec<_> = got.iter().map(|s| (s.r, s.t, s.v.to_bits())).collect();
        let want: Vec<_> = samples.iter().map(|s| (s.0, s.1, s.2.to_bits())).collect();
        assert_eq!(got, want);
    }
}
