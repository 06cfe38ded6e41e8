//! The open chunk's XOR encoder, writing into a fixed slab slot instead of a growable vector:
//! the same bits as [`crate::chunks::XorAppender`] (a test compares them byte for byte), with
//! the encoder state kept in the series' compact history record.

/// Encoder state of one open chunk (what `XorAppender` keeps beside its bytes). The first
/// timestamp is not kept: it is the varint the bytes start with ([`first_t`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct XorState {
    /// Last timestamp (meaningless when `num == 0`).
    pub(crate) t: i64,
    pub(crate) t_delta: u64,
    pub(crate) v_bits: u64,
    /// Bits written.
    pub(crate) bits: u16,
    /// Samples written.
    pub(crate) num: u16,
    /// 0xff until the first XOR window is written.
    pub(crate) leading: u8,
    pub(crate) trailing: u8,
}

/// Most bits a value takes: control bits, a new window's 5 + 6 bits and 64 significant bits.
const MAX_VALUE_BITS: u32 = 2 + 5 + 6 + 64;

impl XorState {
    /// An empty chunk.
    pub(crate) fn new() -> Self {
        XorState {
            leading: 0xff,
            ..XorState::default()
        }
    }

    /// Bytes written (a partial last byte counts).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        (self.bits as usize).div_ceil(8)
    }

    /// Bytes the chunk may need after appending a sample at `t`: the exact timestamp encoding
    /// plus the largest value encoding.
    #[inline]
    pub(crate) fn bytes_after(&self, t: i64) -> usize {
        let t_bits = match self.num {
            0 => 8 * uvarint_len(zigzag(t)),
            1 => 8 * uvarint_len(t.wrapping_sub(self.t) as u64),
            _ => {
                let d = t.wrapping_sub(self.t) as u64;
                match d.wrapping_sub(self.t_delta) as i64 {
                    0 => 1,
                    -8191..=8192 => 2 + 14,
                    -65535..=65536 => 3 + 17,
                    -524287..=524288 => 4 + 20,
                    _ => 4 + 64,
                }
            }
        };
        let value_bits = if self.num == 0 { 64 } else { MAX_VALUE_BITS };
        (self.bits as usize + t_bits as usize + value_bits as usize).div_ceil(8)
    }

    /// Appends one sample to `buf` (zeroed past the bits written, with room for
    /// [`XorState::bytes_after`] bytes).
    pub(crate) fn append(&mut self, buf: &mut [u8], t: i64, v: f64) {
        let v_bits = v.to_bits();
        let mut w = Writer {
            buf,
            pos: u32::from(self.bits),
        };
        match self.num {
            0 => {
                w.uvarint(zigzag(t));
                w.bits(v_bits, 64);
            }
            1 => {
                let d = t.wrapping_sub(self.t) as u64;
                w.uvarint(d);
                self.write_value(&mut w, v_bits);
                self.t_delta = d;
            }
            _ => {
                let d = t.wrapping_sub(self.t) as u64;
                let dod = d.wrapping_sub(self.t_delta) as i64;
                match dod {
                    0 => w.bits(0, 1),
                    -8191..=8192 => {
                        w.bits(0b10, 2);
                        w.bits(dod as u64, 14);
                    }
                    -65535..=65536 => {
                        w.bits(0b110, 3);
                        w.bits(dod as u64, 17);
                    }
                    -524287..=524288 => {
                        w.bits(0b1110, 4);
                        w.bits(dod as u64, 20);
                    }
                    _ => {
                        w.bits(0b1111, 4);
                        w.bits(dod as u64, 64);
                    }
                }
                self.write_value(&mut w, v_bits);
                self.t_delta = d;
            }
        }
        self.bits = w.pos as u16;
        self.t = t;
        self.v_bits = v_bits;
        self.num += 1;
    }

    fn write_value(&mut self, w: &mut Writer<'_>, v_bits: u64) {
        let delta = v_bits ^ self.v_bits;
        if delta == 0 {
            w.bits(0, 1);
            return;
        }
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            w.bits(0b10, 2);
            let sig = 64 - self.leading - self.trailing;
            w.bits(delta >> self.trailing, sig);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            w.bits(0b11, 2);
            w.bits(u64::from(leading), 5);
            let sig = 64 - leading - trailing;
            // 64 significant bits do not fit in 6 bits: encoded as 0, as Prometheus does.
            w.bits(u64::from(sig) & 0x3f, 6);
            w.bits(delta >> trailing, sig);
        }
    }
}

/// The first timestamp of a chunk's bytes (its leading zigzag varint); 0 when unreadable.
pub(crate) fn first_t(bytes: &[u8]) -> i64 {
    let mut u = 0u64;
    for (k, &b) in bytes.iter().take(10).enumerate() {
        u |= u64::from(b & 0x7f) << (7 * k);
        if b < 0x80 {
            break;
        }
    }
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

#[inline]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
fn uvarint_len(v: u64) -> u32 {
    crate::varint::uvarint_len(v) as u32
}

/// Writes bits, most significant first, into a zeroed byte slice.
struct Writer<'a> {
    buf: &'a mut [u8],
    pos: u32,
}

impl Writer<'_> {
    /// Writes the low `nbits` bits of `v` (`nbits <= 64`).
    #[inline]
    fn bits(&mut self, v: u64, mut nbits: u8) {
        while nbits > 0 {
            let free = 8 - (self.pos % 8) as u8;
            let take = nbits.min(free);
            let chunk = ((v >> (nbits - take)) & ((1u64 << take) - 1)) as u8;
            self.buf[(self.pos / 8) as usize] |= chunk << (free - take);
            self.pos += u32::from(take);
            nbits -= take;
        }
    }

    fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.bits(u64::from((v as u8) | 0x80), 8);
            v >>= 7;
        }
        self.bits(v, 8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunks::XorAppender;

    /// Same bytes as `XorAppender`, and `bytes_after` never short, on regular, jittery,
    /// constant, noisy and extreme samples.
    #[test]
    fn matches_xor_appender() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let cases: Vec<(&str, Vec<(i64, f64)>)> = vec![
            (
                "regular",
                (0..120)
                    .map(|i| (1_700_000_000_000 + i * 15_000, i as f64))
                    .collect(),
            ),
            (
                "jitter",
                (0..120)
                    .map(|i| {
                        (
                            1_700_000_000_000 + i * 15_000 + (i * 7919) % 200,
                            (i as f64).sin(),
                        )
                    })
                    .collect(),
            ),
            ("constant", (0..50).map(|i| (i * 10, 1.5)).collect()),
            (
                "noisy",
                (0..60)
                    .map(|i| {
                        (
                            i * (1 << 40) + (rnd() % 1000) as i64,
                            f64::from_bits(rnd() >> 1),
                        )
                    })
                    .collect(),
            ),
            (
                "negative",
                vec![(-5, -1.0), (i64::MIN + 1, 0.0), (i64::MAX, f64::NAN)],
            ),
            ("one", vec![(1_700_000_000_000, 42.0)]),
        ];
        for (name, samples) in cases {
            let mut want = XorAppender::new();
            let mut st = XorState::new();
            let mut buf = vec![0u8; 4096];
            for &(t, v) in &samples {
                let bound = st.bytes_after(t);
                want.append(t, v);
                st.append(&mut buf, t, v);
                assert!(st.len() <= bound, "{name}: {} > {bound}", st.len());
                assert!(
                    buf[st.len()..].iter().all(|&b| b == 0),
                    "{name}: wrote past"
                );
                assert_eq!(&buf[..st.len()], want.bytes(), "{name} at t={t}");
            }
            assert_eq!(st.num, want.num_samples());
            assert_eq!(first_t(&buf), want.min_t(), "{name}");
        }
    }
}
