//! Compressed series history: delta-of-delta timestamps and XOR floats, ~120 samples a chunk.
//!
//! A series' [`SeriesChunks`] is a list of sealed [`XorChunk`]s plus one open
//! [`XorAppender`]. The head keeps a series' *latest* sample in its columns, not here: a sample
//! moves into the chunks when a newer one replaces it, so a series with one sample owns no
//! chunk memory at all. Sealed chunks are immutable (the future mmapped-chunk boundary).

pub mod bstream;
pub mod xor;

pub use xor::{XorAppender, XorChunk, XorIter};

/// Samples per chunk before it is sealed (Prometheus `samplesPerChunk` = 120).
pub const MAX_SAMPLES_PER_CHUNK: u16 = 120;

/// The history of one series: sealed chunks (oldest first) and the open chunk.
///
/// Invariant: timestamps strictly increase across `sealed` then `open`.
#[derive(Debug, Clone, Default)]
pub struct SeriesChunks {
    sealed: Vec<XorChunk>,
    open: XorAppender,
}

impl SeriesChunks {
    /// An empty history.
    pub fn new() -> Self {
        SeriesChunks {
            sealed: Vec::new(),
            open: XorAppender::new(),
        }
    }

    /// Appends a sample newer than every sample held.
    pub fn append(&mut self, t: i64, v: f64) {
        if self.open.num_samples() >= MAX_SAMPLES_PER_CHUNK {
            let full = std::mem::replace(&mut self.open, XorAppender::new());
            self.sealed.push(full.seal());
        }
        self.open.append(t, v);
    }

    /// Number of samples held.
    pub fn num_samples(&self) -> usize {
        self.sealed.iter().map(|c| c.num as usize).sum::<usize>() + self.open.num_samples() as usize
    }

    /// The sealed chunks, oldest first.
    pub fn sealed(&self) -> &[XorChunk] {
        &self.sealed
    }

    /// Calls `f(t, v)` for every sample with `mint <= t <= maxt`, in time order.
    pub fn for_each_in(&self, mint: i64, maxt: i64, f: &mut dyn FnMut(i64, f64)) {
        for c in &self.sealed {
            if c.max_t < mint || c.min_t > maxt {
                continue;
            }
            for (t, v) in c.iter() {
                if t > maxt {
                    return;
                }
                if t >= mint {
                    f(t, v);
                }
            }
        }
        if self.open.num_samples() == 0 || self.open.min_t() > maxt || self.open.max_t() < mint {
            return;
        }
        for (t, v) in self.open.iter() {
            if t > maxt {
                return;
            }
            if t >= mint {
                f(t, v);
            }
        }
    }

    /// The latest sample with `t <= maxt`, if any.
    pub fn latest_at_or_before(&self, maxt: i64) -> Option<(i64, f64)> {
        if self.open.num_samples() > 0 && self.open.min_t() <= maxt {
            return self.open.iter().take_while(|&(t, _)| t <= maxt).last();
        }
        let c = self.sealed.iter().rev().find(|c| c.min_t <= maxt)?;
        c.iter().take_while(|&(t, _)| t <= maxt).last()
    }

    /// The first timestamp held, if any. (Added for compaction: the head's min time.)
    pub fn min_time(&self) -> Option<i64> {
        match self.sealed.first() {
            Some(c) => Some(c.min_t),
            None => (self.open.num_samples() > 0).then(|| self.open.min_t()),
        }
    }

    /// Drops the sealed chunks whose samples are all before `t` (compaction persisted them
    /// in a block); returns the samples dropped. The open chunk is kept.
    pub fn truncate_before(&mut self, t: i64) -> usize {
        let n = self.sealed.iter().take_while(|c| c.max_t < t).count();
        self.sealed.drain(..n).map(|c| c.num as usize).sum()
    }

    /// Approximate heap bytes used.
    pub fn heap_bytes(&self) -> usize {
        self.sealed.capacity() * std::mem::size_of::<XorChunk>()
            + self.sealed.iter().map(|c| c.data.len()).sum::<usize>()
            + self.open.bytes().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::STALE_NAN_BITS;

    fn round_trip(name: &str, samples: &[(i64, f64)]) {
        let mut a = XorAppender::new();
        for &(t, v) in samples {
            a.append(t, v);
        }
        let got: Vec<(i64, u64)> = a.iter().map(|(t, v)| (t, v.to_bits())).collect();
        let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(got, want, "case {name}: open chunk");
        let c = a.seal();
        let got: Vec<(i64, u64)> = c.iter().map(|(t, v)| (t, v.to_bits())).collect();
        assert_eq!(got, want, "case {name}: sealed chunk");
    }

    #[test]
    fn xor_round_trips() {
        let stale = f64::from_bits(STALE_NAN_BITS);
        let regular: Vec<(i64, f64)> = (0..120).map(|i| (1_000 + i * 15_000, i as f64)).collect();
        let jitter: Vec<(i64, f64)> = (0..120)
            .map(|i| (i * 15_000 + (i * 7919) % 200, (i as f64).sin()))
            .collect();
        let buckets: Vec<(i64, f64)> = [
            0i64,
            1,
            2,
            8195,
            8195 * 2 + 8192,
            200_000,
            1_000_000,
            1 << 40,
        ]
        .iter()
        .scan(0i64, |acc, d| {
            *acc += d + 1;
            Some((*acc, *acc as f64))
        })
        .collect();
        let cases: Vec<(&str, Vec<(i64, f64)>)> = vec![
            ("empty", vec![]),
            ("one", vec![(5, 1.5)]),
            ("two", vec![(5, 1.5), (6, 2.5)]),
            ("regular", regular),
            ("jitter", jitter),
            ("dod buckets incl. +8192", buckets),
            (
                "special floats",
                vec![
                    (1, f64::NAN),
                    (2, stale),
                    (3, -0.0),
                    (4, 0.0),
                    (5, f64::INFINITY),
                    (6, f64::NEG_INFINITY),
                    (7, f64::MIN_POSITIVE),
                    (8, 5e-324),
                    (9, f64::MAX),
                    (10, stale),
                    (11, f64::from_bits(0x7ff8_0000_0000_0001)),
                ],
            ),
            (
                "negative timestamps",
                vec![(-5_000_000, 1.0), (-4_000, 2.0), (-1, 3.0), (0, 4.0)],
            ),
            (
                "extreme deltas",
                vec![(i64::MIN + 1, 1.0), (0, 2.0), (i64::MAX, 3.0)],
            ),
            (
                "dod -8191 and large negative",
                vec![
                    (0, 0.0),
                    (10_000, 0.0),
                    (10_000 + 1_809, 0.0),
                    (10_000 + 1_809 + 1, 0.0),
                ],
            ),
        ];
        for (name, samples) in &cases {
            round_trip(name, samples);
        }
    }

    #[test]
    fn series_chunks_seal_and_query() {
        let mut h = SeriesChunks::new();
        let n = 1000i64;
        for i in 0..n {
            h.append(i * 10, i as f64);
        }
        assert_eq!(h.num_samples(), n as usize);
        assert_eq!(
            h.sealed().len(),
            (n as usize - 1) / MAX_SAMPLES_PER_CHUNK as usize
        );
        let cases = [
            (0, 9_990, 1000usize, Some((9_990, 999.0))),
            (-100, -1, 0, None),
            (1195, 1205, 1, Some((1200, 120.0))),
            (1199, 1199, 0, Some((1190, 119.0))),
            (5_000, 100_000, 500, Some((9_990, 999.0))),
        ];
        for (mint, maxt, count, latest) in cases {
            let mut got = Vec::new();
            h.for_each_in(mint, maxt, &mut |t, v| got.push((t, v)));
            assert_eq!(got.len(), count, "range [{mint}, {maxt}]");
            assert!(
                got.iter()
                    .all(|&(t, v)| t >= mint && t <= maxt && v == (t / 10) as f64)
            );
            assert_eq!(h.latest_at_or_before(maxt), latest, "latest <= {maxt}");
        }
    }
}
