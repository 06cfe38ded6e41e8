//! XOR chunks of a streamed remote-read answer, as Prometheus 2.42 would send them.
//!
//! - Cut points: where 2.42's head cuts (`appendPreprocessor`): at multiples of the chunk
//!   range, at an end time predicted after 30 samples, after 240 samples at most. The cuts in a
//!   range window depend only on the samples since the window's start, so the caller selects
//!   from [`window_start`] and the chunks match Prometheus's from any query start.
//! - Trimming: a chunk crossing the query start keeps only the samples from there on,
//!   re-encoded, as 2.42's chunk querier re-encodes a chunk it trims.
//! - Bytes: a 2-byte big-endian sample count, the Gorilla bits, and the zero byte Prometheus's
//!   `bstream` leaves after a whole byte written on a byte boundary (see [`PromBits`]).
#![expect(
    clippy::big_endian_bytes,
    reason = "Prometheus's XOR chunk bytes start with a big-endian sample count"
)]

use fedstore_storage::XorAppender;

/// Samples per chunk Prometheus aims at (`samplesPerChunk`).
const SAMPLES_PER_CHUNK: usize = 120;

/// One chunk of the answer: its time range and where its data sits in the data buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutChunk {
    /// First sample time.
    pub min_t: i64,
    /// Last sample time.
    pub max_t: i64,
    /// Start of the chunk's bytes in the data buffer.
    pub start: usize,
    /// End (exclusive) of the chunk's bytes.
    pub end: usize,
}

/// End of the chunk range holding `t` (Prometheus `rangeForTimestamp`, Go's truncating
/// division).
fn range_end(t: i64, width: i64) -> i64 {
    (t / width).saturating_mul(width).saturating_add(width)
}

/// The earliest time whose samples can decide the chunk cuts at or after `t`: the start of
/// `t`'s chunk range (one range earlier for negative times, where Go's division truncates
/// toward zero and a range spans zero).
pub fn window_start(t: i64, width: i64) -> i64 {
    let width = width.max(1);
    let start = (t / width).saturating_mul(width);
    if t < 0 {
        start.saturating_sub(width)
    } else {
        start
    }
}

/// Prometheus `computeChunkEndTime`: an end for the chunk that spreads the rest of the range
/// evenly over chunks of ~120 samples.
fn predicted_end(start: i64, cur: i64, max: i64) -> i64 {
    let n = (max - start) / ((cur - start + 1) * 4);
    if n <= 1 {
        max
    } else {
        start + (max - start) / n
    }
}

/// Tracks what Prometheus's `bstream` does at the end of an XOR chunk: `writeByte` on a byte
/// boundary appends the next (zero) byte at once, so a chunk whose last write was a whole byte
/// landing on a boundary carries one more zero byte than its bits need. That happens after
/// the first sample (varint time + 64 value bits) and after a value whose significant bits
/// are a multiple of 8 ending on a boundary.
#[derive(Debug, Default)]
struct PromBits {
    num: usize,
    bits: u64,
    t: i64,
    t_delta: u64,
    v_bits: u64,
    leading: u8,
    trailing: u8,
    ends_with_whole_byte: bool,
}

impl PromBits {
    fn new() -> Self {
        PromBits {
            leading: 0xff,
            ..PromBits::default()
        }
    }

    fn append(&mut self, t: i64, v: f64) {
        let v_bits = v.to_bits();
        match self.num {
            0 => {
                let zigzag = ((t << 1) ^ (t >> 63)) as u64;
                self.bits = 8 * crate::remote::wire::varint_len(zigzag) as u64 + 64;
                self.ends_with_whole_byte = true;
            }
            1 => {
                let d = t.wrapping_sub(self.t) as u64;
                self.bits += 8 * crate::remote::wire::varint_len(d) as u64;
                self.value(v_bits);
                self.t_delta = d;
            }
            _ => {
                let d = t.wrapping_sub(self.t) as u64;
                let dod = d.wrapping_sub(self.t_delta) as i64;
                self.bits += match dod {
                    0 => 1,
                    -8191..=8192 => 2 + 14,
                    -65535..=65536 => 3 + 17,
                    -524287..=524288 => 4 + 20,
                    _ => 4 + 64,
                };
                self.value(v_bits);
                self.t_delta = d;
            }
        }
        self.t = t;
        self.v_bits = v_bits;
        self.num += 1;
    }

    fn value(&mut self, v_bits: u64) {
        let delta = v_bits ^ self.v_bits;
        if delta == 0 {
            self.bits += 1;
            self.ends_with_whole_byte = false;
            return;
        }
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        let sig = if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.bits += 2;
            64 - self.leading - self.trailing
        } else {
            self.leading = leading;
            self.trailing = trailing;
            self.bits += 2 + 5 + 6;
            64 - leading - trailing
        };
        self.bits += u64::from(sig);
        self.ends_with_whole_byte = sig.is_multiple_of(8);
    }

    /// Whether Prometheus's bytes end with one extra zero byte.
    fn has_trailing_zero_byte(&self) -> bool {
        self.num > 0 && self.ends_with_whole_byte && self.bits.is_multiple_of(8)
    }
}

/// Reused buffers for cutting and encoding the chunks of one series after another.
#[derive(Debug, Default)]
pub struct Chunker {
    app: XorAppender,
    bounds: Vec<(usize, usize)>,
    /// Encoded chunk bytes, indexed by [`CutChunk`].
    pub data: Vec<u8>,
    /// The chunks of the last [`Chunker::cut`].
    pub chunks: Vec<CutChunk>,
}

impl Chunker {
    /// Cuts `samples` (time order, starting no later than [`window_start`] of `mint_ms`) as
    /// the 2.42 head would, and encodes the parts at or after `mint_ms` into
    /// [`Chunker::chunks`] and [`Chunker::data`].
    pub fn cut(&mut self, samples: &[(i64, f64)], mint_ms: i64, range_ms: i64) {
        let range_ms = range_ms.max(1);
        self.bounds.clear();
        self.data.clear();
        self.chunks.clear();
        let (mut start, mut min_t, mut next_at) = (0usize, 0i64, 0i64);
        for (i, &(t, _)) in samples.iter().enumerate() {
            let n = i - start;
            if n == 0 {
                min_t = t;
                next_at = range_end(t, range_ms);
                continue;
            }
            if n == SAMPLES_PER_CHUNK / 4 {
                next_at = predicted_end(min_t, samples[i - 1].0, next_at);
            }
            if t >= next_at || n >= SAMPLES_PER_CHUNK * 2 {
                self.bounds.push((start, i));
                start = i;
                min_t = t;
                next_at = range_end(t, range_ms);
            }
        }
        if start < samples.len() {
            self.bounds.push((start, samples.len()));
        }
        for &(from, to) in &self.bounds {
            let part = &samples[from..to];
            let part = &part[part.partition_point(|&(t, _)| t < mint_ms)..];
            let (Some(first), Some(last)) = (part.first(), part.last()) else {
                continue;
            };
            self.app.reset();
            let mut bits = PromBits::new();
            for &(t, v) in part {
                self.app.append(t, v);
                bits.append(t, v);
            }
            let start = self.data.len();
            self.data
                .extend_from_slice(&self.app.num_samples().to_be_bytes());
            self.data.extend_from_slice(self.app.bytes());
            if bits.has_trailing_zero_byte() {
                self.data.push(0);
            }
            self.chunks.push(CutChunk {
                min_t: first.0,
                max_t: last.0,
                start,
                end: self.data.len(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(step: i64, n: i64, from: i64) -> Vec<(i64, f64)> {
        (0..n).map(|i| (from + i * step, i as f64)).collect()
    }

    #[test]
    fn cuts_where_the_head_cuts() {
        type Case = (&'static str, Vec<(i64, f64)>, i64, Vec<u16>);
        // (case, samples, mint, chunk sample counts)
        let cases: Vec<Case> = vec![
            ("empty", vec![], 0, vec![]),
            (
                "15 s for 2 h: 4 x 120",
                every(15_000, 480, 0),
                0,
                vec![120; 4],
            ),
            ("10 samples", every(10_000, 10, 0), 0, vec![10]),
            (
                "crosses a 2 h boundary",
                every(60_000, 10, 7_200_000 - 300_000),
                0,
                vec![5, 5],
            ),
            (
                "rate jumps after the prediction: capped at 240",
                every(60_000, 31, 0)
                    .into_iter()
                    .chain(every(1_000, 300, 1_860_000))
                    .collect(),
                0,
                vec![240, 91],
            ),
            (
                "1 s samples: 117 per predicted chunk",
                every(1_000, 234, 0),
                0,
                vec![117, 117],
            ),
            (
                "trimmed at mint, later cuts unchanged",
                every(1_000, 201, 0),
                50_000,
                vec![67, 84],
            ),
        ];
        let mut c = Chunker::default();
        for (case, samples, mint, want) in cases {
            c.cut(&samples, mint, 7_200_000);
            let got: Vec<u16> = c
                .chunks
                .iter()
                .map(|k| u16::from_be_bytes([c.data[k.start], c.data[k.start + 1]]))
                .collect();
            assert_eq!(got, want, "case {case}");
        }
    }

    #[test]
    fn window_starts() {
        let w = 7_200_000;
        assert_eq!(window_start(0, w), 0);
        assert_eq!(window_start(7_199_999, w), 0);
        assert_eq!(window_start(7_200_000, w), w);
        assert_eq!(window_start(-1, w), -w);
    }

    #[test]
    fn trailing_zero_byte_as_bstream() {
        // (case, samples, Prometheus's data length: 2 count bytes + bstream bytes)
        type Case = (&'static str, Vec<(i64, f64)>, usize);
        let cases: Vec<Case> = vec![
            // varint(100000) is 3 bytes, the value 8: 11 bytes, then bstream's extra byte.
            ("one sample", vec![(100_000, 7.0)], 14),
            // Repeated value: one bit after the aligned first sample.
            (
                "two equal samples",
                vec![(0, 1.0), (1000, 1.0)],
                2 + 1 + 8 + 2 + 1,
            ),
        ];
        let mut c = Chunker::default();
        for (case, samples, want) in cases {
            c.cut(&samples, i64::MIN, 7_200_000);
            assert_eq!(c.chunks.len(), 1, "case {case}");
            assert_eq!(c.chunks[0].end - c.chunks[0].start, want, "case {case}");
        }
    }
}
