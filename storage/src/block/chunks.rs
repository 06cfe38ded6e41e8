//! Block chunks: the sample encoding of one chunk (timestamps as delta-of-deltas, values as
//! scaled decimal deltas or XORed bits, all byte-aligned) and the chunk files, where chunks of
//! consecutive series are packed into zstd-compressed, CRC-checked pages (docs/format/block.md).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::BlockError;
use super::encoding::{Decbuf, put_uvarint, put_varint};
use crate::mmap::{FAULT_AROUND_BYTES, MAX_MAPPED_BY_READS, MmapRead, ResidentBudget};

/// Most samples one block chunk holds (a read decodes a whole chunk, so this bounds the work
/// of a narrow range query on a long block).
pub const MAX_SAMPLES_PER_CHUNK: usize = 4096;
/// Uncompressed bytes at which a page is compressed and written.
pub const PAGE_BYTES: usize = 256 << 10;
/// Chunk file size at which the next page starts a new file (Prometheus's 512 MiB segments).
pub const MAX_CHUNK_FILE_BYTES: u64 = 512 << 20;
/// Magic at the start of every chunk file.
pub const CHUNKS_MAGIC: [u8; 4] = *b"FSBC";
/// Chunk file format version.
pub const CHUNKS_VERSION: u8 = 1;
/// zstd level of pages: level 3 is zstd's default, and higher levels cost more than they gain
/// on already delta-encoded data.
pub const ZSTD_LEVEL: i32 = 3;
/// Header bytes of a chunk file.
const HEADER_BYTES: u64 = 8;
/// Value mode of chunks whose values are not all short decimals.
const MODE_XOR: u8 = 255;
/// Largest decimal scale tried (10^9).
const MAX_SCALE: u8 = 9;
/// Powers of ten, exact in f64.
const POW10: [f64; 10] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
/// Integers up to this magnitude are exact in f64.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// Where a chunk lives: file number (1-based, `chunks/000001`), the page's file offset, and the
/// chunk's offset and length inside the uncompressed page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRef {
    /// Chunk file number.
    pub file: u32,
    /// Byte offset of the page in the file.
    pub page: u64,
    /// Offset of the chunk in the uncompressed page.
    pub offset: u32,
    /// Length of the encoded chunk.
    pub len: u32,
}

/// A chunk's time range (both inclusive) and location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    /// First timestamp.
    pub mint: i64,
    /// Last timestamp.
    pub maxt: i64,
    /// Location.
    pub r: ChunkRef,
}

/// The decimal scale at which every value is an exact integer, if any.
fn decimal_mode(samples: &[(i64, f64)]) -> Option<u8> {
    'scale: for k in 0..=MAX_SCALE {
        let scale = POW10[k as usize];
        for &(_, v) in samples {
            let x = (v * scale).round();
            // Checked by decoding, so -0.0, NaN and inexact products all fall through.
            if x.is_nan()
                || x.abs() >= MAX_EXACT
                || ((x as i64) as f64 / scale).to_bits() != v.to_bits()
            {
                continue 'scale;
            }
        }
        return Some(k);
    }
    None
}

/// Bytes of `v` as a zigzag varint.
fn varint_len(v: i64) -> usize {
    crate::varint::uvarint_len(((v << 1) ^ (v >> 63)) as u64)
}

/// Encodes `samples` (strictly increasing timestamps, at most [`MAX_SAMPLES_PER_CHUNK`]).
pub fn encode_chunk(samples: &[(i64, f64)], out: &mut Vec<u8>) {
    put_uvarint(out, samples.len() as u64);
    let mode = decimal_mode(samples);
    out.push(mode.unwrap_or(MODE_XOR));
    let (mut prev_t, mut prev_d) = (0i64, 0i64);
    for (i, &(t, _)) in samples.iter().enumerate() {
        match i {
            0 => put_varint(out, t),
            _ => {
                let d = t.wrapping_sub(prev_t);
                put_varint(out, if i == 1 { d } else { d.wrapping_sub(prev_d) });
                prev_d = d;
            }
        }
        prev_t = t;
    }
    match mode {
        Some(k) => {
            let scale = POW10[k as usize];
            let ints: Vec<i64> = samples
                .iter()
                .map(|&(_, v)| (v * scale).round() as i64)
                .collect();
            // Counters grow at a steady rate: store each delta's residual from the chunk's
            // median delta (robust to a counter reset), which is smaller than the delta
            // itself. Irregular increments gain nothing from it, so it is used only where
            // the residuals' varints are shorter than the deltas'.
            let mut deltas: Vec<i64> = ints.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
            let mean = if deltas.is_empty() {
                0
            } else {
                let mid = deltas.len() / 2;
                *deltas.select_nth_unstable(mid).1
            };
            let cost = |base: i64| -> usize {
                ints.windows(2)
                    .map(|w| varint_len(w[1].wrapping_sub(w[0]).wrapping_sub(base)))
                    .sum()
            };
            let base = if mean != 0 && cost(mean) < cost(0) {
                mean
            } else {
                0
            };
            put_varint(out, base);
            let mut prev = 0i64;
            for (i, &x) in ints.iter().enumerate() {
                let d = x.wrapping_sub(prev);
                put_varint(out, if i == 0 { d } else { d.wrapping_sub(base) });
                prev = x;
            }
        }
        None => {
            let mut prev = 0u64;
            for &(_, v) in samples {
                out.extend_from_slice(&(v.to_bits() ^ prev).to_le_bytes());
                prev = v.to_bits();
            }
        }
    }
}

/// Decodes a chunk, appending its samples with `mint <= t <= maxt` to `out`. `None`: the
/// bytes do not decode.
pub fn decode_chunk(buf: &[u8], mint: i64, maxt: i64, out: &mut Vec<(i64, f64)>) -> Option<()> {
    let mut d = Decbuf::new(buf);
    let n = d.len()?;
    if n > MAX_SAMPLES_PER_CHUNK {
        return None;
    }
    let mode = d.u8()?;
    let start = out.len();
    let (mut t, mut delta) = (0i64, 0i64);
    for i in 0..n {
        let x = d.varint()?;
        match i {
            0 => t = x,
            1 => {
                delta = x;
                t = t.wrapping_add(delta);
            }
            _ => {
                delta = delta.wrapping_add(x);
                t = t.wrapping_add(delta);
            }
        }
        out.push((t, 0.0));
    }
    let samples = &mut out[start..];
    if mode == MODE_XOR {
        let mut bits = 0u64;
        for s in samples.iter_mut() {
            bits ^= d.u64()?;
            s.1 = f64::from_bits(bits);
        }
    } else {
        let scale = *POW10.get(mode as usize)?;
        let base = d.varint()?;
        let mut x = 0i64;
        for (i, s) in samples.iter_mut().enumerate() {
            let r = d.varint()?;
            x = x.wrapping_add(if i == 0 { r } else { r.wrapping_add(base) });
            s.1 = x as f64 / scale;
        }
    }
    if !d.is_empty() {
        return None;
    }
    // Chunks are small; filtering after decoding keeps the decoder simple.
    let mut keep = start;
    for i in start..out.len() {
        let (t, _) = out[i];
        if t >= mint && t <= maxt {
            out[keep] = out[i];
            keep += 1;
        }
    }
    out.truncate(keep);
    Some(())
}

/// The path of chunk file `n` in `dir` (`chunks/000001`).
pub fn chunk_file_path(dir: &Path, n: u32) -> PathBuf {
    dir.join("chunks").join(format!("{n:06}"))
}

/// Writes chunk files: packs encoded chunks into pages, compresses and appends them.
pub struct ChunkWriter {
    dir: PathBuf,
    file_no: u32,
    file: Option<std::io::BufWriter<File>>,
    file_len: u64,
    page: Vec<u8>,
    compressed: Vec<u8>,
    encode_buf: Vec<u8>,
    compressor: zstd::bulk::Compressor<'static>,
    /// Total bytes written to chunk files.
    pub bytes_written: u64,
}

impl ChunkWriter {
    /// A writer for block directory `dir` (creates `dir/chunks`).
    pub fn create(dir: &Path) -> Result<ChunkWriter, BlockError> {
        let chunks = dir.join("chunks");
        std::fs::create_dir_all(&chunks).map_err(|e| BlockError::io(&chunks, e))?;
        Ok(ChunkWriter {
            dir: dir.to_owned(),
            file_no: 0,
            file: None,
            file_len: 0,
            page: Vec::with_capacity(PAGE_BYTES * 2),
            compressed: Vec::new(),
            encode_buf: Vec::new(),
            compressor: zstd::bulk::Compressor::new(ZSTD_LEVEL)
                .map_err(|e| BlockError::io(dir, e))?,
            bytes_written: 0,
        })
    }

    /// Encodes `samples` as one chunk and returns its metadata.
    pub fn append(&mut self, samples: &[(i64, f64)]) -> Result<ChunkMeta, BlockError> {
        debug_assert!(!samples.is_empty() && samples.len() <= MAX_SAMPLES_PER_CHUNK);
        if self.page.is_empty() && (self.file.is_none() || self.file_len >= MAX_CHUNK_FILE_BYTES) {
            self.next_file()?;
        }
        self.encode_buf.clear();
        encode_chunk(samples, &mut self.encode_buf);
        let r = ChunkRef {
            file: self.file_no,
            page: self.file_len,
            offset: self.page.len() as u32,
            len: self.encode_buf.len() as u32,
        };
        self.page.extend_from_slice(&self.encode_buf);
        if self.page.len() >= PAGE_BYTES {
            self.flush_page()?;
        }
        Ok(ChunkMeta {
            mint: samples[0].0,
            maxt: samples[samples.len() - 1].0,
            r,
        })
    }

    fn next_file(&mut self) -> Result<(), BlockError> {
        self.finish_file()?;
        self.file_no += 1;
        let path = chunk_file_path(&self.dir, self.file_no);
        let f = File::create(&path).map_err(|e| BlockError::io(&path, e))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        let mut hdr = [0u8; HEADER_BYTES as usize];
        hdr[..4].copy_from_slice(&CHUNKS_MAGIC);
        hdr[4] = CHUNKS_VERSION;
        w.write_all(&hdr).map_err(|e| BlockError::io(&path, e))?;
        self.file = Some(w);
        self.file_len = HEADER_BYTES;
        self.bytes_written += HEADER_BYTES;
        Ok(())
    }

    fn flush_page(&mut self) -> Result<(), BlockError> {
        if self.page.is_empty() {
            return Ok(());
        }
        let path = chunk_file_path(&self.dir, self.file_no);
        self.compressed.clear();
        let bound = zstd::zstd_safe::compress_bound(self.page.len());
        self.compressed.reserve(bound);
        self.compressor
            .compress_to_buffer(&self.page, &mut self.compressed)
            .map_err(|e| BlockError::io(&path, e))?;
        let Some(w) = self.file.as_mut() else {
            return Err(BlockError::io(
                &path,
                std::io::Error::other("no chunk file"),
            ));
        };
        let mut hdr = [0u8; 8];
        hdr[..4].copy_from_slice(&(self.compressed.len() as u32).to_le_bytes());
        hdr[4..].copy_from_slice(&(self.page.len() as u32).to_le_bytes());
        let crc = crc32c::crc32c(&self.compressed);
        w.write_all(&hdr)
            .and_then(|()| w.write_all(&self.compressed))
            .and_then(|()| w.write_all(&crc.to_le_bytes()))
            .map_err(|e| BlockError::io(&path, e))?;
        let n = 12 + self.compressed.len() as u64;
        self.file_len += n;
        self.bytes_written += n;
        self.page.clear();
        Ok(())
    }

    fn finish_file(&mut self) -> Result<(), BlockError> {
        self.flush_page()?;
        if let Some(w) = self.file.take() {
            let path = chunk_file_path(&self.dir, self.file_no);
            let f = w
                .into_inner()
                .map_err(|e| BlockError::io(&path, e.into_error()))?;
            f.sync_all().map_err(|e| BlockError::io(&path, e))?;
        }
        Ok(())
    }

    /// Writes the last page and fsyncs the last file.
    pub fn finish(mut self) -> Result<u64, BlockError> {
        self.finish_file()?;
        Ok(self.bytes_written)
    }
}

/// The mapped chunk files of one block.
#[derive(Debug)]
pub struct ChunkFiles {
    /// Unique per opened block, so one [`PageCache`] can serve several blocks.
    id: u64,
    files: Vec<(PathBuf, MmapRead)>,
    /// What page reads may have mapped since the files' pages were released: a page's bytes
    /// plus a fault-around window at each end. Reads of series scattered over a block would
    /// otherwise map every page they touch until the next compaction round.
    resident: ResidentBudget,
}

/// Source of [`ChunkFiles`] ids.
static NEXT_FILES_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl ChunkFiles {
    /// Unmaps the file pages reads brought into this process; chunks stay readable.
    pub fn release_resident(&self) {
        for (_, map) in &self.files {
            map.release_resident();
        }
    }

    /// Maps `dir/chunks/000001..` and checks each header.
    pub fn open(dir: &Path) -> Result<ChunkFiles, BlockError> {
        let mut files = Vec::new();
        for n in 1.. {
            let path = chunk_file_path(dir, n);
            if !path.exists() {
                break;
            }
            let map = MmapRead::open(&path).map_err(|e| BlockError::io(&path, e))?;
            let b = map.as_bytes();
            if b.len() < HEADER_BYTES as usize || b[..4] != CHUNKS_MAGIC {
                return Err(BlockError::corruption(&path, 0, "bad chunk file header"));
            }
            if b[4] != CHUNKS_VERSION {
                return Err(BlockError::corruption(
                    &path,
                    4,
                    "unsupported chunk file version",
                ));
            }
            files.push((path, map));
        }
        let id = NEXT_FILES_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(ChunkFiles {
            id,
            files,
            resident: ResidentBudget::new(MAX_MAPPED_BY_READS),
        })
    }

    /// Decompresses the page at `page` of file `file` into `cache` (a no-op when the cache
    /// already holds it) after checking its CRC.
    fn load_page(&self, file: u32, page: u64, cache: &mut PageCache) -> Result<(), BlockError> {
        if cache.key == Some((self.id, file, page)) {
            return Ok(());
        }
        cache.key = None;
        let Some((path, map)) = (file as usize)
            .checked_sub(1)
            .and_then(|i| self.files.get(i))
        else {
            return Err(BlockError::Corruption {
                path: PathBuf::from(format!("chunks/{file:06}")),
                offset: page,
                what: "chunk reference to a missing chunk file".to_owned(),
            });
        };
        let bad = |what: &str| BlockError::corruption(path, page, what);
        let bytes = map.as_bytes();
        let start = usize::try_from(page).map_err(|_| bad("page offset out of range"))?;
        let mut d = Decbuf::new(
            bytes
                .get(start..)
                .ok_or_else(|| bad("page offset past the end"))?,
        );
        let hdr = d.bytes(8).ok_or_else(|| bad("page header cut short"))?;
        let clen = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
        let rlen = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
        let frame = d.bytes(clen).ok_or_else(|| bad("page cut short"))?;
        let crc = d.bytes(4).ok_or_else(|| bad("page checksum cut short"))?;
        if crc32c::crc32c(frame).to_le_bytes() != crc {
            return Err(bad("page checksum mismatch"));
        }
        cache.buf.clear();
        cache.buf.reserve(rlen);
        let n = cache
            .decompressor
            .decompress_to_buffer(frame, &mut cache.buf)
            .map_err(|_| bad("page does not decompress"))?;
        if n != rlen {
            return Err(bad("page decompressed to the wrong length"));
        }
        cache.key = Some((self.id, file, page));
        if self.resident.spend(12 + clen + 2 * FAULT_AROUND_BYTES) {
            self.release_resident();
        }
        Ok(())
    }

    /// Appends the samples of chunk `c` with `mint <= t <= maxt` to `out`.
    pub fn read(
        &self,
        c: &ChunkMeta,
        mint: i64,
        maxt: i64,
        cache: &mut PageCache,
        out: &mut Vec<(i64, f64)>,
    ) -> Result<(), BlockError> {
        self.load_page(c.r.file, c.r.page, cache)?;
        let chunk = cache
            .buf
            .get(c.r.offset as usize..(c.r.offset as usize).saturating_add(c.r.len as usize));
        chunk
            .and_then(|b| decode_chunk(b, mint, maxt, out))
            .ok_or_else(|| {
                let path = self.files[c.r.file as usize - 1].0.as_path();
                BlockError::corruption(path, c.r.page, "chunk does not decode")
            })
    }

    /// Total bytes of the chunk files.
    pub fn bytes(&self) -> u64 {
        self.files
            .iter()
            .map(|(_, m)| m.as_bytes().len() as u64)
            .sum()
    }
}

/// The last decompressed page, reused across reads of consecutive series, and the buffers a
/// series read decodes its index entry into (so reading a series allocates nothing once warm).
pub struct PageCache {
    /// (chunk files id, file, page offset) of the page in `buf`.
    key: Option<(u64, u32, u64)>,
    buf: Vec<u8>,
    decompressor: zstd::bulk::Decompressor<'static>,
    /// Label ids of the series being read (see [`PageCache::take_series_buffers`]).
    series_labels: Vec<(u32, u32)>,
    /// Chunk metas of the series being read.
    series_chunks: Vec<ChunkMeta>,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache").field("key", &self.key).finish()
    }
}

impl PageCache {
    /// An empty cache.
    pub fn new() -> Result<PageCache, BlockError> {
        Ok(PageCache {
            key: None,
            buf: Vec::new(),
            decompressor: zstd::bulk::Decompressor::new().map_err(|e| BlockError::io("zstd", e))?,
            series_labels: Vec::new(),
            series_chunks: Vec::new(),
        })
    }

    /// Lends out the series decode buffers (cleared); give them back with
    /// [`PageCache::return_series_buffers`].
    pub(crate) fn take_series_buffers(&mut self) -> (Vec<(u32, u32)>, Vec<ChunkMeta>) {
        let mut l = std::mem::take(&mut self.series_labels);
        let mut c = std::mem::take(&mut self.series_chunks);
        l.clear();
        c.clear();
        (l, c)
    }

    /// Returns the buffers lent by [`PageCache::take_series_buffers`].
    pub(crate) fn return_series_buffers(&mut self, l: Vec<(u32, u32)>, c: Vec<ChunkMeta>) {
        self.series_labels = l;
        self.series_chunks = c;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::STALE_NAN_BITS;

    #[test]
    fn chunk_encodings_round_trip() {
        let stale = f64::from_bits(STALE_NAN_BITS);
        let counter: Vec<(i64, f64)> = (0..120)
            .map(|i| (1_700_000_000_000 + i * 15_000, (i * i * 7) as f64))
            .collect();
        let cents: Vec<(i64, f64)> = (0..50)
            .map(|i| (i * 15_000 + i % 3, i as f64 * 0.37 + 1.01))
            .collect();
        type Case = (&'static str, Vec<(i64, f64)>, Option<u8>);
        let cases: Vec<Case> = vec![
            ("one", vec![(5, 1.5)], Some(1)),
            ("integers", counter, Some(0)),
            ("cents", cents, None),
            ("stale marker", vec![(1, 1.0), (2, stale)], None),
            ("negative zero", vec![(1, -0.0)], None),
            (
                "specials",
                vec![(-5, f64::NAN), (0, f64::INFINITY), (i64::MAX, 1e300)],
                None,
            ),
            (
                "extreme times",
                vec![(i64::MIN, 1.0), (0, 2.0), (i64::MAX, 3.0)],
                Some(0),
            ),
            ("tiny", vec![(1, 5e-324), (2, f64::MIN_POSITIVE)], None),
        ];
        for (name, samples, mode) in &cases {
            if let Some(m) = mode {
                assert_eq!(decimal_mode(samples), Some(*m), "case {name}: mode");
            }
            let mut buf = Vec::new();
            encode_chunk(samples, &mut buf);
            let mut got = Vec::new();
            decode_chunk(&buf, i64::MIN, i64::MAX, &mut got).unwrap();
            let bits =
                |v: &[(i64, f64)]| v.iter().map(|&(t, v)| (t, v.to_bits())).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(samples), "case {name}");
            assert!(
                decode_chunk(&buf[..buf.len() - 1], i64::MIN, i64::MAX, &mut got).is_none(),
                "case {name}: cut"
            );
        }
    }
}
