//! LEB128 varints as Go's `encoding/binary` and protobuf write them: the one writer every
//! format of the engine (WAL records, head chunk records, snapshots, block files) and the
//! server's protobuf encoders use.

/// Appends `v` as an unsigned varint.
#[inline]
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Writes `v` as an unsigned varint at the start of `out` (10 bytes hold any u64) and
/// returns its length: for fixed-size headers built on the stack.
#[inline]
pub fn put_uvarint_into(out: &mut [u8], mut v: u64) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        out[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    out[i] = v as u8;
    i + 1
}

/// Appends `v` zigzag-encoded as a varint.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Bytes of `v` as an unsigned varint.
#[inline]
pub fn uvarint_len(v: u64) -> usize {
    // One byte per started group of 7 bits; 0 still takes one byte.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_match_what_is_written() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, 1 << 35, u64::MAX] {
            let mut a = Vec::new();
            put_uvarint(&mut a, v);
            let mut b = [0u8; 10];
            let n = put_uvarint_into(&mut b, v);
            assert_eq!(&b[..n], a.as_slice(), "{v}");
            assert_eq!(uvarint_len(v), a.len(), "{v}");
        }
        let mut z = Vec::new();
        put_varint(&mut z, -1);
        assert_eq!(z, [1]);
    }
}
