//! Content-coding of federate bodies: one gzip member (or one zlib stream) assembled from
//! segments compressed in parallel.
//!
//! Each segment is raw deflate ending in a sync flush (byte-aligned, no final block), so the
//! segments concatenate into one deflate stream, as pigz does. The body writes the header,
//! the segments in order, a final empty block and a trailer whose checksum combines the
//! segments' checksums. Clients that read a single member or stream (curl, Python `zlib`,
//! Go `compress/zlib`) see the whole answer, as with Prometheus.

use std::cell::RefCell;
use std::io::Write;

use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::{Compress, Compression, Crc, FlushCompress};

/// gzip level for federate bodies: level 1 compresses ~3x faster than the default with
/// output about 1.3x larger (measured in docs/benchmarks.md, "gzip level"); scrapers accept
/// any level.
pub const GZIP_LEVEL: u32 = 1;

/// gzip header (RFC 1952): no name, no mtime, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// zlib header (RFC 1950): deflate, 32 KiB window, "fastest" level hint; `0x7801 % 31 == 0`.
const ZLIB_HEADER: [u8; 2] = [0x78, 0x01];
/// A final, empty fixed-Huffman block: ends a deflate stream whose last segment ended with
/// a sync flush (what zlib writes on `Z_FINISH` after `Z_SYNC_FLUSH`).
const FINAL_EMPTY_BLOCK: [u8; 2] = [0x03, 0x00];
/// Largest payload of one stored deflate block.
const MAX_STORED: usize = 0xffff;
/// Adler-32 modulus (RFC 1950).
const ADLER_MOD: u32 = 65_521;

/// Content-coding of a federate body, chosen from `Accept-Encoding` like Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// No compression.
    Identity,
    /// gzip (RFC 1952).
    Gzip,
    /// `deflate`, which Go's handler writes as a zlib stream (RFC 1950).
    Deflate,
}

impl Encoding {
    /// Prometheus's rule (`util/httputil/compression.go`): the first comma-separated token
    /// that is exactly `gzip` or `deflate` wins; q-values are not parsed.
    pub fn negotiate(accept_encoding: Option<&str>) -> Encoding {
        for token in accept_encoding.unwrap_or("").split(',') {
            match token.trim() {
                "gzip" => return Encoding::Gzip,
                "deflate" => return Encoding::Deflate,
                _ => {}
            }
        }
        Encoding::Identity
    }

    /// The `Content-Encoding` header value, if any.
    pub fn header_value(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip => Some("gzip"),
            Encoding::Deflate => Some("deflate"),
        }
    }

    /// Compresses a whole small body (error messages) in one go.
    pub fn encode_all(self, data: &[u8]) -> Vec<u8> {
        let level = Compression::new(GZIP_LEVEL);
        // Writing into a Vec<u8> cannot fail.
        match self {
            Encoding::Identity => data.to_vec(),
            Encoding::Gzip => {
                let mut e = GzEncoder::new(Vec::new(), level);
                let _ = e.write_all(data);
                e.finish().unwrap_or_default()
            }
            Encoding::Deflate => {
                let mut e = ZlibEncoder::new(Vec::new(), level);
                let _ = e.write_all(data);
                e.finish().unwrap_or_default()
            }
        }
    }

    /// What the body starts with.
    pub fn stream_header(self) -> &'static [u8] {
        match self {
            Encoding::Identity => &[],
            Encoding::Gzip => &GZIP_HEADER,
            Encoding::Deflate => &ZLIB_HEADER,
        }
    }

    /// What the body ends with, given the checksum of everything sent.
    pub fn stream_trailer(self, total: &Checksum) -> Vec<u8> {
        let mut out = Vec::with_capacity(10);
        match (self, total) {
            (Encoding::Identity, _) => {}
            (Encoding::Gzip, Checksum::Crc(c)) => {
                out.extend_from_slice(&FINAL_EMPTY_BLOCK);
                out.extend_from_slice(&c.sum().to_le_bytes());
                // ISIZE: the length modulo 2^32 (RFC 1952).
                out.extend_from_slice(&c.amount().to_le_bytes());
            }
            (Encoding::Deflate, Checksum::Adler(a)) => {
                out.extend_from_slice(&FINAL_EMPTY_BLOCK);
                #[expect(
                    clippy::big_endian_bytes,
                    reason = "RFC 1950 stores the Adler-32 big-endian"
                )]
                out.extend_from_slice(&a.sum().to_be_bytes());
            }
            // Checksum::new(self) always pairs them as above.
            _ => debug_assert!(false, "checksum kind does not match {self:?}"),
        }
        out
    }
}

/// Adler-32 (RFC 1950) with its length, so that two can be combined.
#[derive(Debug, Clone, Copy)]
pub struct Adler32 {
    a: u32,
    b: u32,
    len: u64,
}

impl Default for Adler32 {
    fn default() -> Self {
        Adler32 { a: 1, b: 0, len: 0 }
    }
}

impl Adler32 {
    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        // 5552 bytes is the most that cannot overflow `b` in u32 before the modulo (zlib NMAX).
        for block in data.chunks(5552) {
            for &x in block {
                self.a += u32::from(x);
                self.b += self.a;
            }
            self.a %= ADLER_MOD;
            self.b %= ADLER_MOD;
        }
        self.len += data.len() as u64;
    }

    /// The checksum of this data followed by `next`'s: `A = A1 + A2 - 1` and
    /// `B = B1 + B2 + len2 * (A1 - 1)`, modulo 65521.
    pub fn combine(&mut self, next: &Adler32) {
        let m = u64::from(ADLER_MOD);
        let (a1, b1) = (u64::from(self.a), u64::from(self.b));
        let (a2, b2) = (u64::from(next.a), u64::from(next.b));
        let a = (a1 + a2 + m - 1) % m;
        let b = (b1 + b2 + (next.len % m) * ((a1 + m - 1) % m)) % m;
        self.a = a as u32;
        self.b = b as u32;
        self.len += next.len;
    }

    /// The checksum value.
    pub fn sum(&self) -> u32 {
        (self.b << 16) | self.a
    }
}

/// The checksum a body's trailer needs, over the uncompressed text.
#[derive(Debug)]
pub enum Checksum {
    /// Identity bodies have none.
    None,
    /// gzip: CRC-32 and length.
    Crc(Crc),
    /// zlib: Adler-32.
    Adler(Adler32),
}

impl Checksum {
    /// An empty checksum of the kind `enc` needs.
    pub fn new(enc: Encoding) -> Self {
        match enc {
            Encoding::Identity => Checksum::None,
            Encoding::Gzip => Checksum::Crc(Crc::new()),
            Encoding::Deflate => Checksum::Adler(Adler32::default()),
        }
    }

    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Checksum::None => {}
            Checksum::Crc(c) => c.update(data),
            Checksum::Adler(a) => a.update(data),
        }
    }

    /// Appends the data `next` was computed over.
    pub fn combine(&mut self, next: &Checksum) {
        match (self, next) {
            (Checksum::Crc(c), Checksum::Crc(n)) => c.combine(n),
            (Checksum::Adler(a), Checksum::Adler(n)) => a.combine(n),
            _ => {}
        }
    }
}

thread_local! {
    /// One deflate state per render thread, reset between segments: a fresh one allocates
    /// and clears a few hundred KiB, which would cost ~1% of a segment.
    static DEFLATE: RefCell<Option<Compress>> = const { RefCell::new(None) };
}

/// Encodes one segment's text: raw deflate ending in a sync flush (or the text itself),
/// plus the checksum of the text.
pub struct SegmentEncoder {
    deflate: Option<Compress>,
    out: Vec<u8>,
    check: Checksum,
}

impl SegmentEncoder {
    /// An encoder for one segment.
    pub fn new(enc: Encoding) -> Self {
        let deflate = match enc {
            Encoding::Identity => None,
            Encoding::Gzip | Encoding::Deflate => Some(
                DEFLATE
                    .with(|d| d.borrow_mut().take())
                    .unwrap_or_else(|| Compress::new(Compression::new(GZIP_LEVEL), false)),
            ),
        };
        SegmentEncoder {
            deflate,
            out: Vec::new(),
            check: Checksum::new(enc),
        }
    }

    /// Encodes `data`.
    pub fn write(&mut self, data: &[u8]) {
        self.check.update(data);
        match &mut self.deflate {
            None => self.out.extend_from_slice(data),
            Some(c) => deflate_into(c, data, &mut self.out, FlushCompress::None),
        }
    }

    /// Encoded bytes not yet taken (the compressor may hold more).
    pub fn pending(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Ends the segment: the remaining bytes (byte-aligned, not final) and the checksum.
    pub fn finish(mut self) -> (Vec<u8>, Checksum) {
        if let Some(c) = &mut self.deflate {
            deflate_into(c, &[], &mut self.out, FlushCompress::Sync);
        }
        let check = std::mem::replace(&mut self.check, Checksum::None);
        (std::mem::take(&mut self.out), check)
    }
}

impl Drop for SegmentEncoder {
    fn drop(&mut self) {
        if let Some(mut c) = self.deflate.take() {
            c.reset();
            DEFLATE.with(|d| *d.borrow_mut() = Some(c));
        }
    }
}

/// Encodes a short text as a self-contained piece of the body (stored deflate blocks, no
/// back-references), so the body may drop it: a segment's first `# TYPE` line.
pub fn encode_fragment(enc: Encoding, data: &[u8]) -> (Vec<u8>, Checksum) {
    let mut check = Checksum::new(enc);
    check.update(data);
    if enc == Encoding::Identity {
        return (data.to_vec(), check);
    }
    let mut out = Vec::with_capacity(data.len() + 5);
    for block in data.chunks(MAX_STORED) {
        let len = block.len() as u16;
        // BFINAL=0, BTYPE=00 (stored), padding to the byte boundary; then LEN, NLEN.
        out.push(0);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    (out, check)
}

/// Feeds `input` to `c` with `flush`, growing `out` as needed, until all input is consumed
/// and (for a flush) all output is written.
fn deflate_into(c: &mut Compress, mut input: &[u8], out: &mut Vec<u8>, flush: FlushCompress) {
    loop {
        // Level-1 output is well under half the input; the margin covers block headers.
        out.reserve(input.len() / 2 + 1024);
        let before = c.total_in();
        c.compress_vec(input, out, flush)
            .expect("deflating into memory with a valid stream state cannot fail");
        let used = usize::try_from(c.total_in() - before).unwrap_or(input.len());
        input = &input[used..];
        // Done when all input is taken and the compressor stopped with room to spare.
        if input.is_empty() && out.len() < out.capacity() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// Builds a body the way the response does: header, pieces, trailer.
    fn body(enc: Encoding, segments: &[&[&str]], fragment: Option<&str>) -> Vec<u8> {
        let mut out = enc.stream_header().to_vec();
        let mut total = Checksum::new(enc);
        if let Some(f) = fragment {
            let (bytes, check) = encode_fragment(enc, f.as_bytes());
            out.extend_from_slice(&bytes);
            total.combine(&check);
        }
        for writes in segments {
            let mut s = SegmentEncoder::new(enc);
            for w in *writes {
                s.write(w.as_bytes());
                out.append(s.pending());
            }
            let (rest, check) = s.finish();
            out.extend_from_slice(&rest);
            total.combine(&check);
        }
        out.extend_from_slice(&enc.stream_trailer(&total));
        out
    }

    #[test]
    fn segments_form_one_member_or_stream() {
        let big = "metric{label=\"value\"} 1 2\n".repeat(20_000);
        /// (name, segments as their writes, optional first fragment)
        type Case<'a> = (&'a str, &'a [&'a [&'a str]], Option<&'a str>);
        let cases: &[Case<'_>] = &[
            ("empty", &[], None),
            ("one segment", &[&["a 1 2\n"]], None),
            ("empty segment", &[&[]], None),
            (
                "fragment first",
                &[&["b 1 2\n"]],
                Some("# TYPE b untyped\n"),
            ),
            (
                "several segments",
                &[&["x 1 1\n", "y 2 2\n"], &[], &["z 3 3\n"]],
                Some("# TYPE x untyped\n"),
            ),
            ("large segments", &[&[&big, &big], &[&big]], None),
        ];
        for &(name, segments, fragment) in cases {
            let want: String = fragment
                .into_iter()
                .chain(segments.iter().flat_map(|s| s.iter().copied()))
                .collect();
            let gz = body(Encoding::Gzip, segments, fragment);
            let mut d = flate2::read::GzDecoder::new(&gz[..]);
            let mut got = String::new();
            d.read_to_string(&mut got).unwrap();
            assert_eq!(got, want, "case {name}: gzip");
            let mut rest = Vec::new();
            d.into_inner().read_to_end(&mut rest).unwrap();
            assert!(rest.is_empty(), "case {name}: bytes after the gzip member");

            let z = body(Encoding::Deflate, segments, fragment);
            let mut d = flate2::read::ZlibDecoder::new(&z[..]);
            let mut got = String::new();
            d.read_to_string(&mut got).unwrap();
            assert_eq!(got, want, "case {name}: zlib");
            assert_eq!(d.total_in() as usize, z.len(), "case {name}: zlib length");

            let id = body(Encoding::Identity, segments, fragment);
            assert_eq!(
                String::from_utf8(id).unwrap(),
                want,
                "case {name}: identity"
            );
        }
    }

    #[test]
    fn fragment_over_one_stored_block() {
        let text = "# TYPE ".to_owned() + &"n".repeat(MAX_STORED + 10) + " untyped\n";
        let mut out = Encoding::Gzip.stream_header().to_vec();
        let (bytes, check) = encode_fragment(Encoding::Gzip, text.as_bytes());
        out.extend_from_slice(&bytes);
        out.extend_from_slice(&Encoding::Gzip.stream_trailer(&check));
        let mut got = String::new();
        flate2::read::GzDecoder::new(&out[..])
            .read_to_string(&mut got)
            .unwrap();
        assert_eq!(got, text);
    }

    #[test]
    fn adler32_matches_known_values_and_combines() {
        // "Wikipedia" is RFC 1950's usual example: 0x11E60398.
        let cases: &[(&[u8], u32)] = &[(b"", 1), (b"a", 0x0062_0062), (b"Wikipedia", 0x11E6_0398)];
        for &(data, want) in cases {
            let mut a = Adler32::default();
            a.update(data);
            assert_eq!(a.sum(), want, "case {:?}", String::from_utf8_lossy(data));
        }
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let mut whole = Adler32::default();
        whole.update(&data);
        for split in [0, 1, 5551, 5552, 65_521, 99_999, 100_000] {
            let (mut x, mut y) = (Adler32::default(), Adler32::default());
            x.update(&data[..split]);
            y.update(&data[split..]);
            x.combine(&y);
            assert_eq!(x.sum(), whole.sum(), "split at {split}");
        }
    }

    #[test]
    fn negotiates_like_prometheus() {
        let cases = [
            (None, Encoding::Identity),
            (Some("gzip"), Encoding::Gzip),
            (Some("br, gzip, deflate"), Encoding::Gzip),
            (Some("deflate,gzip"), Encoding::Deflate),
            (Some("gzip;q=1"), Encoding::Identity),
            (Some(" gzip "), Encoding::Gzip),
            (Some("identity"), Encoding::Identity),
        ];
        for (header, want) in cases {
            assert_eq!(Encoding::negotiate(header), want, "case {header:?}");
        }
    }
}
