//! Byte-level encoding shared by the block files: LEB128 varints, zigzag (written by
//! [`crate::varint`]), and a bounds-checked reader ([`Decbuf`]) whose errors say what ran out,
//! never panic on corrupt input.

pub use crate::varint::{put_uvarint, put_varint};

/// A cursor over bytes read from a block file. Every read returns `None` past the end or on
/// an overlong varint; callers turn that into a corruption error with their own location.
#[derive(Debug, Clone)]
pub struct Decbuf<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decbuf<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Decbuf { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// An unsigned LEB128 varint.
    #[inline]
    pub fn uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    /// A zigzag varint.
    #[inline]
    pub fn varint(&mut self) -> Option<i64> {
        let u = self.uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A varint that must fit a `usize` (lengths and counts).
    #[inline]
    pub fn len(&mut self) -> Option<usize> {
        usize::try_from(self.uvarint()?).ok()
    }

    /// The next `n` bytes.
    #[inline]
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let b = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }

    /// One byte.
    #[inline]
    pub fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// A little-endian u64.
    #[inline]
    pub fn u64(&mut self) -> Option<u64> {
        let b = self.bytes(8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        let cases: [i64; 9] = [0, 1, -1, 63, -64, 64, i64::MAX, i64::MIN, 15_000];
        let mut buf = Vec::new();
        for &v in &cases {
            put_varint(&mut buf, v);
            put_uvarint(&mut buf, v as u64);
        }
        let mut d = Decbuf::new(&buf);
        for &v in &cases {
            assert_eq!(d.varint(), Some(v), "zigzag {v}");
            assert_eq!(d.uvarint(), Some(v as u64), "uvarint {v}");
        }
        assert!(d.is_empty());
        assert_eq!(d.uvarint(), None, "past the end");
        let overlong = [0xffu8; 11];
        assert_eq!(Decbuf::new(&overlong).uvarint(), None, "overlong varint");
    }
}
