//! Bit streams: a big-endian-bit-order writer over a growable byte vector and a reader over a
//! byte slice, as Prometheus's `tsdb/chunkenc/bstream.go` (most significant bit first).

/// Appends bits, most significant first.
///
/// Invariant: `free` is the number of unused low bits of the last byte (0 when the stream is
/// empty or its last byte is full).
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    free: u8,
}

impl BitWriter {
    /// An empty stream.
    #[cfg(test)]
    pub fn new() -> Self {
        BitWriter {
            bytes: Vec::new(),
            free: 0,
        }
    }

    /// An empty stream with room for `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        BitWriter {
            bytes: Vec::with_capacity(bytes),
            free: 0,
        }
    }

    /// The bytes written so far (a partial last byte is zero-padded).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Heap bytes allocated.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// Adds a zero byte, growing by a quarter rather than doubling (less slack in long-lived
    /// buffers).
    #[inline]
    fn push_byte(&mut self) {
        if self.bytes.len() == self.bytes.capacity() {
            self.bytes.reserve_exact((self.bytes.len() / 4).max(16));
        }
        self.bytes.push(0);
    }

    /// Makes room for at least `additional` more bytes, allocating exactly that much.
    pub fn reserve_exact(&mut self, additional: usize) {
        self.bytes.reserve_exact(additional);
    }

    /// Empties the stream, keeping its allocation.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.free = 0;
    }

    /// Consumes the writer, returning its bytes with spare capacity dropped.
    pub fn into_boxed(self) -> Box<[u8]> {
        self.bytes.into_boxed_slice()
    }

    /// Writes one bit.
    #[inline]
    pub fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.push_byte();
            self.free = 8;
        }
        self.free -= 1;
        if bit && let Some(last) = self.bytes.last_mut() {
            *last |= 1 << self.free;
        }
    }

    /// Writes the low `nbits` bits of `v` (`nbits <= 64`), most significant first.
    #[inline]
    pub fn write_bits(&mut self, v: u64, mut nbits: u8) {
        debug_assert!(nbits <= 64);
        while nbits > 0 {
            if self.free == 0 {
                self.push_byte();
                self.free = 8;
            }
            let take = nbits.min(self.free);
            let chunk = ((v >> (nbits - take)) & ((1u64 << take) - 1)) as u8;
            self.free -= take;
            if let Some(last) = self.bytes.last_mut() {
                *last |= chunk << self.free;
            }
            nbits -= take;
        }
    }

    /// Writes a whole byte.
    pub fn write_byte(&mut self, b: u8) {
        self.write_bits(u64::from(b), 8);
    }

    /// Writes `v` as a LEB128 unsigned varint.
    pub fn write_uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.write_byte((v as u8) | 0x80);
            v >>= 7;
        }
        self.write_byte(v as u8);
    }

    /// Writes `v` zigzag-encoded as a varint (Go `binary.PutVarint`).
    pub fn write_varint(&mut self, v: i64) {
        self.write_uvarint(((v << 1) ^ (v >> 63)) as u64);
    }
}

/// Reads bits, most significant first, through a 64-bit buffer refilled a word at a time
/// (one load per ~7 bytes instead of one per read).
///
/// Invariant: the high `avail` bits of `buf` are the stream's next bits; the bits below them
/// are either the bits that follow in the stream or zero, so refilling with OR is exact.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    /// Next byte of `bytes` not yet in `buf`.
    next: usize,
    buf: u64,
    avail: u32,
}

impl<'a> BitReader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        BitReader {
            bytes,
            next: 0,
            buf: 0,
            avail: 0,
        }
    }

    /// Tops `buf` up to at least 56 bits, or to the end of the stream.
    #[inline(always)]
    fn refill(&mut self) {
        if self.avail >= 56 {
            return;
        }
        if let Some(b) = self.bytes.get(self.next..self.next + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(b);
            // The stream's first byte is the word's high byte.
            let w = u64::from_le_bytes(w).swap_bytes();
            self.buf |= w >> self.avail;
            let whole = (63 - self.avail) / 8;
            self.next += whole as usize;
            self.avail += whole * 8;
        } else {
            while self.avail <= 56 && self.next < self.bytes.len() {
                self.buf |= u64::from(self.bytes[self.next]) << (56 - self.avail);
                self.next += 1;
                self.avail += 8;
            }
        }
    }

    /// Consumes `n` (1..=63) bits known to be buffered.
    #[inline]
    fn take(&mut self, n: u32) -> u64 {
        let v = self.buf >> (64 - n);
        self.buf = if n == 64 { 0 } else { self.buf << n };
        self.avail -= n;
        v
    }

    /// Reads one bit.
    #[inline]
    #[cfg(test)]
    pub fn read_bit(&mut self) -> Option<bool> {
        Some(self.read_bits(1)? == 1)
    }

    /// Reads `nbits` (`<= 64`) bits as the low bits of a u64.
    #[inline]
    pub fn read_bits(&mut self, nbits: u8) -> Option<u64> {
        debug_assert!(nbits <= 64);
        let n = u32::from(nbits);
        self.refill();
        match n {
            0 => Some(0),
            _ if n <= self.avail => Some(self.take(n)),
            // Only reads above 56 bits can outgrow a refilled buffer: two halves.
            57.. if self.avail >= n - 32 => {
                let hi = self.take(n - 32);
                self.refill();
                (self.avail >= 32).then(|| (hi << 32) | self.take(32))
            }
            _ => None,
        }
    }

    /// The next bits, most significant first, and how many of them are the stream's (at
    /// least 56 unless it ends sooner): for a decoder that reads several fields from one
    /// refill. [`BitReader::consume`] then takes what it used.
    #[inline(always)]
    pub fn peek(&mut self) -> (u64, u32) {
        self.refill();
        (self.buf, self.avail)
    }

    /// Consumes `n` of the bits [`BitReader::peek`] counted as the stream's (all 64 of them
    /// at a stream's end, where a refill byte by byte can fill the whole buffer).
    #[inline(always)]
    pub fn consume(&mut self, n: u32) {
        debug_assert!(n <= self.avail);
        self.buf = self.buf.checked_shl(n).unwrap_or(0);
        self.avail -= n;
    }

    /// Reads a unary prefix of at most `max` (`<= 8`) one bits: the number of ones before the
    /// first zero (which is consumed too), or `max` when the first `max` bits are all ones.
    #[inline]
    pub fn read_ones(&mut self, max: u8) -> Option<u8> {
        debug_assert!(max <= 8);
        self.refill();
        let ones = self.buf.leading_ones().min(u32::from(max));
        let used = if ones < u32::from(max) {
            ones + 1
        } else {
            ones
        };
        if used > self.avail {
            return None;
        }
        self.take(used);
        Some(ones as u8)
    }

    /// Bits consumed so far.
    #[cfg(test)]
    fn position(&self) -> usize {
        self.next * 8 - self.avail as usize
    }

    /// Reads a LEB128 unsigned varint.
    pub fn read_uvarint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = self.read_bits(8)? as u8;
            if shift == 63 && b > 1 {
                return None;
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    /// Reads a zigzag varint.
    pub fn read_varint(&mut self) -> Option<i64> {
        let u = self.read_uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At a stream's end the buffer can hold all 64 remaining bits (refilled byte by byte),
    /// and `consume` takes them all (a shift by 64 must empty the buffer, not leave it as it
    /// was).
    #[test]
    fn peek_and_consume_to_the_end() {
        let bytes = [0xa5u8, 1, 2, 3, 4, 5, 6, 0xff, 0x80];
        for split in [false, true] {
            let mut r = BitReader::new(&bytes);
            assert_eq!(r.read_bits(8), Some(0xa5));
            let (w, avail) = r.peek();
            assert_eq!(
                (w, avail),
                (0x0102_0304_0506_ff80, 64),
                "8 bytes left, all buffered"
            );
            if split {
                r.consume(60);
                assert_eq!(r.peek(), (0, 4));
                r.consume(4);
            } else {
                r.consume(64);
            }
            assert_eq!(r.peek(), (0, 0), "split {split}");
            assert_eq!(r.read_bits(1), None);
        }
    }

    #[test]
    fn bits_round_trip() {
        let cases: &[(u64, u8)] = &[
            (1, 1),
            (0, 1),
            (0b101, 3),
            (0x3fff, 14),
            (u64::MAX, 64),
            (0, 64),
            (0x1234_5678_9abc_def0, 64),
            (5, 7),
            (0xff, 8),
        ];
        let mut w = BitWriter::new();
        for &(v, n) in cases {
            w.write_bits(v, n);
        }
        w.write_bit(true);
        let mut r = BitReader::new(w.bytes());
        for &(v, n) in cases {
            assert_eq!(r.read_bits(n), Some(v), "case ({v:#x}, {n})");
        }
        assert_eq!(r.read_bit(), Some(true));
    }

    #[test]
    fn unary_prefixes_and_the_stream_end() {
        // (bits written, max, ones read, bits consumed)
        let cases: &[(&[bool], u8, Option<u8>, usize)] = &[
            (&[false], 4, Some(0), 1),
            (&[true, false], 4, Some(1), 2),
            (&[true, true, true, false], 4, Some(3), 4),
            (&[true, true, true, true, false], 4, Some(4), 4),
            (
                &[true, true, true, true, true, true, true, true],
                4,
                Some(4),
                4,
            ),
            (
                &[true, true, true, true, true, true, true, true],
                8,
                Some(8),
                8,
            ),
        ];
        for (i, &(bits, max, want, used)) in cases.iter().enumerate() {
            let mut w = BitWriter::new();
            for &b in bits {
                w.write_bit(b);
            }
            let mut r = BitReader::new(w.bytes());
            assert_eq!(r.read_ones(max), want, "case {i}");
            assert_eq!(r.position(), used, "case {i}");
        }
        // Ones up to the end of the bytes and no terminating zero: cut short.
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.read_ones(4), Some(4));
        assert_eq!(r.read_ones(4), Some(4));
        assert_eq!(r.read_ones(4), None);
        let mut r = BitReader::new(&[0x0f]);
        assert_eq!(r.read_bits(4), Some(0));
        assert_eq!(r.read_ones(8), None);
    }

    #[test]
    fn bits_at_every_alignment_and_past_the_end() {
        let bytes: Vec<u8> = (0..24u8).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
        let bit = |p: usize| u64::from((bytes[p / 8] >> (7 - p % 8)) & 1);
        for start in 0..16 {
            for n in 0..=64u8 {
                let mut r = BitReader::new(&bytes);
                for _ in 0..start {
                    r.read_bit();
                }
                let want = (start..start + n as usize).fold(0u64, |v, p| (v << 1) | bit(p));
                assert_eq!(r.read_bits(n), Some(want), "start {start}, {n} bits");
            }
        }
        let mut r = BitReader::new(&bytes[..2]);
        r.read_bits(9);
        assert_eq!(r.read_bits(8), None);
        assert_eq!(r.read_bits(7), Some(u64::from(bytes[1] & 0x7f)));
        assert_eq!(r.read_bits(1), None);
        assert_eq!(r.read_bits(0), Some(0));
    }

    #[test]
    fn varints_round_trip() {
        let cases = [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            1 << 40,
            -(1 << 40),
            i64::MAX,
            i64::MIN,
        ];
        let mut w = BitWriter::new();
        w.write_bit(true); // misalign on purpose
        for v in cases {
            w.write_varint(v);
            w.write_uvarint(v as u64);
        }
        let mut r = BitReader::new(w.bytes());
        assert_eq!(r.read_bit(), Some(true));
        for v in cases {
            assert_eq!(r.read_varint(), Some(v), "varint {v}");
            assert_eq!(r.read_uvarint(), Some(v as u64), "uvarint {v}");
        }
    }
}
