//! Snappy block format (not the framed stream format), as remote write uses it.
//!
//! The decompressed length is read from the block header first, so an oversized body is
//! refused before any decompression work or allocation.

/// Why a body could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnappyError {
    /// Not a snappy block (golang/snappy `ErrCorrupt`, the text Prometheus returns).
    #[error("snappy: corrupt input")]
    Corrupt,
    /// The header announces more decompressed bytes than allowed.
    #[error("decompressed body of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Decompressed length announced by the header.
        len: u64,
        /// The configured limit.
        max: usize,
    },
}

/// The decompressed length announced by a block's header, read as golang/snappy `decodedLen`
/// does: an unsigned varint of at most 10 bytes and at most `u32::MAX`. An empty body has no
/// header and is corrupt (Go's rule; the snap crate would call it empty and valid).
pub fn decompressed_len(block: &[u8]) -> Result<u64, SnappyError> {
    let mut value = 0u64;
    for (i, &b) in block.iter().take(10).enumerate() {
        if b < 0x80 {
            // The 10th byte may only contribute its lowest bit (`binary.Uvarint` overflow).
            if i == 9 && b > 1 {
                return Err(SnappyError::Corrupt);
            }
            value |= u64::from(b) << (7 * i);
            return if value > u64::from(u32::MAX) {
                Err(SnappyError::Corrupt)
            } else {
                Ok(value)
            };
        }
        value |= u64::from(b & 0x7f) << (7 * i);
    }
    Err(SnappyError::Corrupt)
}

/// Whether the first bytes of a body already hold a complete header (so the length can be
/// checked while the rest is still being received).
pub fn has_complete_header(prefix: &[u8]) -> bool {
    prefix.iter().take(10).any(|&b| b < 0x80) || prefix.len() >= 10
}

/// The largest compressed size of a block that decompresses to at most `max` bytes
/// (snappy's worst case: literals with their tags, plus the header).
pub fn max_compressed_len(max: usize) -> usize {
    32 + max + max / 6
}

/// Decompresses `block` into the front of `out` and returns the decompressed length, refusing
/// blocks announcing more than `max` bytes before decompressing anything. `out` only grows
/// (its allocation and length are reused: no zeroing per request); bytes past the returned
/// length are stale.
pub fn decompress_into(block: &[u8], max: usize, out: &mut Vec<u8>) -> Result<usize, SnappyError> {
    let len = decompressed_len(block)?;
    if len > max as u64 {
        return Err(SnappyError::TooLarge { len, max });
    }
    // `len <= max`, a usize.
    let len = len as usize;
    if out.len() < len {
        out.resize(len, 0);
    }
    snap::raw::Decoder::new()
        .decompress(block, &mut out[..len])
        .map_err(|_| SnappyError::Corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (case, block, max, expected)
    type Case<'a> = (&'a str, Vec<u8>, usize, Result<&'a [u8], SnappyError>);

    #[test]
    fn decompress_cases() {
        let valid = snap::raw::Encoder::new()
            .compress_vec(b"hello hello hello")
            .expect("encode");
        let framed = b"\xff\x06\x00\x00sNaPpY".to_vec();
        let mut truncated = valid.clone();
        truncated.pop();
        let cases: Vec<Case<'_>> = vec![
            ("valid", valid.clone(), 100, Ok(b"hello hello hello")),
            (
                "exactly at the limit",
                valid.clone(),
                17,
                Ok(b"hello hello hello"),
            ),
            (
                "one over the limit",
                valid.clone(),
                16,
                Err(SnappyError::TooLarge { len: 17, max: 16 }),
            ),
            ("empty body", vec![], 100, Err(SnappyError::Corrupt)),
            ("empty block", vec![0x00], 100, Ok(b"")),
            ("framed stream", framed, 1 << 20, Err(SnappyError::Corrupt)),
            ("truncated", truncated, 100, Err(SnappyError::Corrupt)),
            (
                "garbage",
                b"not snappy at all".to_vec(),
                1 << 20,
                Err(SnappyError::Corrupt),
            ),
            ("header only", vec![0x05], 100, Err(SnappyError::Corrupt)),
            (
                "unterminated header",
                vec![0x80; 3],
                100,
                Err(SnappyError::Corrupt),
            ),
            (
                "over u32",
                vec![0x80, 0x80, 0x80, 0x80, 0x10],
                usize::MAX,
                Err(SnappyError::Corrupt),
            ),
            (
                "huge announced length refused before decompressing",
                vec![0xff, 0xff, 0xff, 0xff, 0x0f, 0x00],
                32 << 20,
                Err(SnappyError::TooLarge {
                    len: u64::from(u32::MAX),
                    max: 32 << 20,
                }),
            ),
        ];
        let mut out = Vec::new();
        for (case, block, max, want) in cases {
            let got = decompress_into(&block, max, &mut out).map(|n| &out[..n]);
            assert_eq!(got, want, "case {case}");
        }
    }

    #[test]
    fn header_completeness() {
        assert!(!has_complete_header(&[]));
        assert!(!has_complete_header(&[0x80, 0x80]));
        assert!(has_complete_header(&[0x80, 0x01]));
        assert!(has_complete_header(&[0x80; 10]));
    }
}
