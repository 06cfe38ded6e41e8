//! Gorilla XOR chunks, as Prometheus's `tsdb/chunkenc/xor.go`: the first timestamp as a
//! varint, the second as a uvarint delta, then delta-of-deltas in 1/14/17/20/64-bit buckets;
//! the first value raw, then XOR with the previous value (leading/trailing zero windows).
//! The sample count is kept beside the bytes, not in them.

use super::bstream::{BitReader, BitWriter};

/// Encodes samples into one chunk. Timestamps must strictly increase (the head guarantees it);
/// all arithmetic wraps, so any i64 sequence round-trips.
#[derive(Debug, Clone, Default)]
pub struct XorAppender {
    bw: BitWriter,
    num: u16,
    min_t: i64,
    t: i64,
    t_delta: u64,
    v_bits: u64,
    /// 0xff until the first XOR window is written.
    leading: u8,
    trailing: u8,
}

impl XorAppender {
    /// An empty chunk.
    pub fn new() -> Self {
        XorAppender {
            leading: 0xff,
            ..Default::default()
        }
    }

    /// An empty chunk with room for `bytes` encoded bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        XorAppender {
            bw: BitWriter::with_capacity(bytes),
            ..XorAppender::new()
        }
    }

    /// Empties the chunk for reuse, keeping its allocation (the head reuses a series' buffer
    /// chunk after chunk instead of freeing and regrowing it).
    pub fn reset(&mut self) {
        self.bw.clear();
        *self = XorAppender {
            bw: std::mem::take(&mut self.bw),
            ..XorAppender::new()
        };
    }

    /// Number of samples.
    pub fn num_samples(&self) -> u16 {
        self.num
    }

    /// First timestamp (meaningless when empty).
    pub fn min_t(&self) -> i64 {
        self.min_t
    }

    /// Last timestamp (meaningless when empty).
    pub fn max_t(&self) -> i64 {
        self.t
    }

    /// The encoded bytes so far.
    pub fn bytes(&self) -> &[u8] {
        self.bw.bytes()
    }

    /// Heap bytes allocated for the encoding.
    pub fn capacity(&self) -> usize {
        self.bw.capacity()
    }

    /// Makes room for at least `additional` more encoded bytes, allocating exactly that much
    /// (the head sizes open chunks itself; see `storage/src/head/history.rs`).
    pub fn reserve_exact(&mut self, additional: usize) {
        self.bw.reserve_exact(additional);
    }

    /// Appends one sample.
    pub fn append(&mut self, t: i64, v: f64) {
        let v_bits = v.to_bits();
        match self.num {
            0 => {
                self.bw.write_varint(t);
                self.bw.write_bits(v_bits, 64);
                self.min_t = t;
            }
            1 => {
                let d = t.wrapping_sub(self.t) as u64;
                self.bw.write_uvarint(d);
                self.write_value(v_bits);
                self.t_delta = d;
            }
            _ => {
                let d = t.wrapping_sub(self.t) as u64;
                let dod = d.wrapping_sub(self.t_delta) as i64;
                match dod {
                    0 => self.bw.write_bit(false),
                    -8191..=8192 => {
                        self.bw.write_bits(0b10, 2);
                        self.bw.write_bits(dod as u64, 14);
                    }
                    -65535..=65536 => {
                        self.bw.write_bits(0b110, 3);
                        self.bw.write_bits(dod as u64, 17);
                    }
                    -524287..=524288 => {
                        self.bw.write_bits(0b1110, 4);
                        self.bw.write_bits(dod as u64, 20);
                    }
                    _ => {
                        self.bw.write_bits(0b1111, 4);
                        self.bw.write_bits(dod as u64, 64);
                    }
                }
                self.write_value(v_bits);
                self.t_delta = d;
            }
        }
        self.t = t;
        self.v_bits = v_bits;
        self.num += 1;
    }

    fn write_value(&mut self, v_bits: u64) {
        let delta = v_bits ^ self.v_bits;
        if delta == 0 {
            self.bw.write_bit(false);
            return;
        }
        self.bw.write_bit(true);
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.bw.write_bit(false);
            let sig = 64 - self.leading - self.trailing;
            self.bw.write_bits(delta >> self.trailing, sig);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            self.bw.write_bit(true);
            self.bw.write_bits(u64::from(leading), 5);
            let sig = 64 - leading - trailing;
            // 64 significant bits do not fit in 6 bits: encoded as 0, as Prometheus does.
            self.bw.write_bits(u64::from(sig) & 0x3f, 6);
            self.bw.write_bits(delta >> trailing, sig);
        }
    }

    /// Finishes the chunk.
    pub fn seal(self) -> XorChunk {
        XorChunk {
            min_t: self.min_t,
            max_t: self.t,
            num: self.num,
            data: self.bw.into_boxed(),
        }
    }

    /// Iterates the samples so far.
    pub fn iter(&self) -> XorIter<'_> {
        XorIter::new(self.bw.bytes(), self.num)
    }
}

/// A sealed, immutable chunk in memory.
#[derive(Debug, Clone)]
pub struct XorChunk {
    /// First timestamp.
    pub min_t: i64,
    /// Last timestamp.
    pub max_t: i64,
    /// Number of samples.
    pub num: u16,
    /// The encoded bits.
    pub data: Box<[u8]>,
}

impl XorChunk {
    /// Iterates the samples.
    pub fn iter(&self) -> XorIter<'_> {
        XorIter::new(&self.data, self.num)
    }
}

/// Decodes a chunk, yielding `(t, v)` in order; stops early on corrupt input.
#[derive(Debug, Clone)]
pub struct XorIter<'a> {
    br: BitReader<'a>,
    left: u16,
    read: u16,
    t: i64,
    t_delta: u64,
    v_bits: u64,
    leading: u8,
    trailing: u8,
}

impl<'a> XorIter<'a> {
    /// An iterator over the `num` samples encoded in `data`.
    pub fn new(data: &'a [u8], num: u16) -> Self {
        XorIter {
            br: BitReader::new(data),
            left: num,
            read: 0,
            t: 0,
            t_delta: 0,
            v_bits: 0,
            leading: 0,
            trailing: 0,
        }
    }

    fn decode(&mut self) -> Option<(i64, f64)> {
        match self.read {
            0 => {
                self.t = self.br.read_varint()?;
                self.v_bits = self.br.read_bits(64)?;
            }
            1 => {
                self.t_delta = self.br.read_uvarint()?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
            _ => {
                let dod = match self.dod_in_one_refill() {
                    Some(dod) => dod,
                    None => self.read_dod()?,
                };
                self.t_delta = self.t_delta.wrapping_add(dod as u64);
                self.t = self.t.wrapping_add(self.t_delta as i64);
                if !self.value_in_one_refill() {
                    self.read_value()?;
                }
            }
        }
        self.read += 1;
        Some((self.t, f64::from_bits(self.v_bits)))
    }

    /// Calls `f` with each sample in order until it returns false or the chunk ends: the
    /// samples the iterator yields, decoded in one loop whose state the compiler keeps in
    /// registers (through `next`, a call per sample, the state went to memory and back each
    /// time, a large part of a sample's few nanoseconds). The general paths are calls that
    /// take and give back the state by value, so they do not pin it in memory.
    #[inline]
    pub fn for_each_while(self, mut f: impl FnMut(i64, f64) -> bool) {
        let mut it = self;
        while it.left > 0 {
            it.left -= 1;
            let ok = if it.read >= 2
                && let Some(dod) = it.dod_in_one_refill()
            {
                it.t_delta = it.t_delta.wrapping_add(dod as u64);
                it.t = it.t.wrapping_add(it.t_delta as i64);
                it.read += 1;
                it.value_in_one_refill() || {
                    let (next, ok) = it.value_general();
                    it = next;
                    ok
                }
            } else {
                let (next, s) = it.decode_general();
                it = next;
                s.is_some()
            };
            if !ok || !f(it.t, f64::from_bits(it.v_bits)) {
                return;
            }
        }
    }

    /// [`XorIter::decode`] by value, out of line (see [`XorIter::for_each_while`]).
    #[inline(never)]
    fn decode_general(mut self) -> (Self, Option<(i64, f64)>) {
        let s = self.decode();
        (self, s)
    }

    /// [`XorIter::read_value`] by value, out of line.
    #[inline(never)]
    fn value_general(mut self) -> (Self, bool) {
        let ok = self.read_value().is_some();
        (self, ok)
    }

    /// Reads a delta-of-delta field by field.
    fn read_dod(&mut self) -> Option<i64> {
        Some(match self.br.read_ones(4)? {
            0 => 0,
            1 => sign_extend(self.br.read_bits(14)?, 14),
            2 => sign_extend(self.br.read_bits(17)?, 17),
            3 => sign_extend(self.br.read_bits(20)?, 20),
            _ => self.br.read_bits(64)? as i64,
        })
    }

    /// A delta-of-delta decoded from one refill of the reader (`0`, or a 14/17/20-bit
    /// bucket: at most 24 bits); `None`, with nothing consumed, for a 64-bit one or too few
    /// bits left. The value [`XorIter::read_dod`] reads field by field, with one refill and
    /// one check instead of two or three of each.
    #[inline(always)]
    fn dod_in_one_refill(&mut self) -> Option<i64> {
        let (w, avail) = self.br.peek();
        let (dod, used) = match w.leading_ones() {
            0 => (0, 1),
            1 => (sign_extend((w << 2) >> (64 - 14), 14), 2 + 14),
            2 => (sign_extend((w << 3) >> (64 - 17), 17), 3 + 17),
            3 => (sign_extend((w << 4) >> (64 - 20), 20), 4 + 20),
            _ => return None,
        };
        if used > avail {
            return None;
        }
        self.br.consume(used);
        Some(dod)
    }

    /// A value decoded from one refill of the reader: the same as the previous (`0`), XOR
    /// bits inside the previous window (`10`) or in a new window (`11`, 5 bits of leading
    /// zeros, 6 of width, then the bits) as wide as what is left in the buffer (~40 bits).
    /// False, with nothing consumed, for a wider one (or a window only corrupt data has):
    /// then [`XorIter::read_value`] reads it field by field, to the same result.
    #[inline(always)]
    fn value_in_one_refill(&mut self) -> bool {
        let (w, avail) = self.br.peek();
        if w >> 63 == 0 {
            if avail < 1 {
                return false;
            }
            self.br.consume(1);
            return true;
        }
        if (w >> 62) & 1 == 0 {
            let window = u32::from(self.leading) + u32::from(self.trailing);
            if window >= 64 || 2 + (64 - window) > avail {
                return false;
            }
            let sig = 64 - window;
            self.v_bits ^= ((w << 2) >> (64 - sig)) << self.trailing;
            self.br.consume(2 + sig);
            return true;
        }
        let leading = ((w >> (64 - 7)) & 0x1f) as u32;
        let sig = match ((w >> (64 - 13)) & 0x3f) as u32 {
            0 => 64,
            s => s,
        };
        if leading + sig > 64 || 13 + sig > avail {
            return false;
        }
        self.leading = leading as u8;
        self.trailing = (64 - leading - sig) as u8;
        self.v_bits ^= ((w << 13) >> (64 - sig)) << self.trailing;
        self.br.consume(13 + sig);
        true
    }

    fn read_value(&mut self) -> Option<()> {
        // `0`: the same value; `10`: XOR bits in the previous window; `11`: a new window.
        match self.br.read_ones(2)? {
            0 => return Some(()),
            1 => {}
            _ => {
                self.leading = self.br.read_bits(5)? as u8;
                let mut sig = self.br.read_bits(6)? as u8;
                if sig == 0 {
                    sig = 64;
                }
                self.trailing = 64 - self.leading - sig;
            }
        }
        let sig = 64 - self.leading - self.trailing;
        let bits = self.br.read_bits(sig)?;
        self.v_bits ^= bits << self.trailing;
        Some(())
    }
}

/// Decodes an `n`-bit bucket value: Prometheus's buckets hold `-(2^(n-1) - 1)..=2^(n-1)`, so
/// the raw value `2^(n-1)` is positive and anything above it is negative.
fn sign_extend(v: u64, n: u32) -> i64 {
    let v = v as i64;
    if v > 1 << (n - 1) { v - (1 << n) } else { v }
}

impl Iterator for XorIter<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let s = self.decode();
        if s.is_none() {
            self.left = 0;
        }
        s
    }
}
