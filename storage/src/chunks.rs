//! Compressed series history: delta-of-delta timestamps and XOR floats, ~120 samples a chunk.
//!
//! The head appends to an open [`XorAppender`] per series and seals it after
//! [`MAX_SAMPLES_PER_CHUNK`] samples into its chunk files (storage/src/head/history.rs).

pub mod bstream;
pub mod xor;

pub use xor::{XorAppender, XorIter};

/// Samples per chunk before it is sealed (Prometheus `samplesPerChunk` = 120).
pub const MAX_SAMPLES_PER_CHUNK: u16 = 120;

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
        // The callback loop decodes the same, and stops when told to.
        for stop in [usize::MAX, 0, 1, 2, samples.len() / 2] {
            let mut got = Vec::new();
            a.iter().for_each_while(|t, v| {
                got.push((t, v.to_bits()));
                got.len() <= stop
            });
            let n = want.len().min(stop.saturating_add(1));
            assert_eq!(
                got,
                want[..n],
                "case {name}: for_each_while stopping after {stop}"
            );
        }
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
        // Steady scrapes: every sample takes the one-refill path of the decoder (an XOR
        // inside the previous window, or the same value), up to the stream's last bits.
        let steady: Vec<(i64, f64)> = (0..120i64)
            .map(|i| (i * 15_000, (100_000 + 37 * i + (i * i * 7) % 37) as f64))
            .collect();
        // Random bits under a fixed exponent, then anywhere: windows of every width, some too
        // wide for one refill (the general path), mixed with repeats and jittered times.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let wide: Vec<(i64, f64)> = (0..120i64)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let bits = match i % 5 {
                    0 => x,
                    1 | 2 => 0x4100_0000_0000_0000 | (x >> (12 + (x % 40))),
                    _ => 0x4100_0000_0000_0000 | (x >> 20),
                };
                let t = i * 15_000 + if i % 11 == 0 { 3 } else { 0 };
                (
                    t,
                    f64::from_bits(if i % 7 == 0 {
                        0x4100_0000_0000_0000
                    } else {
                        bits
                    }),
                )
            })
            .collect();
        let cases: Vec<(&str, Vec<(i64, f64)>)> = vec![
            ("empty", vec![]),
            ("steady", steady),
            ("wide windows", wide),
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
}
