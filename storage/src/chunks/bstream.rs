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

/// Reads bits written by [`BitWriter`]. Reads past the end yield `None`.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, pos: 0 }
    }

    /// Reads one bit.
    #[inline]
    pub fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.pos / 8)?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1 == 1;
        self.pos += 1;
        Some(bit)
    }

    /// Reads `nbits` (`<= 64`) bits as the low bits of a u64.
    #[inline]
    pub fn read_bits(&mut self, mut nbits: u8) -> Option<u64> {
        debug_assert!(nbits <= 64);
        if self.pos + nbits as usize > self.bytes.len() * 8 {
            return None;
        }
        let mut v: u64 = 0;
        while nbits > 0 {
            let byte = self.bytes[self.pos / 8];
            let avail = 8 - (self.pos % 8) as u8;
            let take = nbits.min(avail);
            let chunk = (byte >> (avail - take)) & (((1u16 << take) - 1) as u8);
            v = (v << take) | u64::from(chunk);
            self.pos += take as usize;
            nbits -= take;
        }
        Some(v)
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
