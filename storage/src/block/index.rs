//! The block index: sorted symbols, series (label ids and chunk metas) in federation order,
//! and roaring postings per label pair; each section CRC-checked (docs/format/block.md).
//!
//! [`Index`] maps the file, checks every checksum once at open, and keeps only offsets in
//! memory: symbols, series entries and postings are decoded from the mapping on demand.

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};

use hashbrown::HashMap;
use roaring::RoaringBitmap;

use super::BlockError;
use super::chunks::{ChunkMeta, ChunkRef};
use super::encoding::{Decbuf, put_uvarint, put_varint};
use crate::index_reader::{IndexReader, NameValues};
use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::mmap::MmapRead;

/// File name of the index.
pub const INDEX_FILE: &str = "index";
/// Magic at the start and end of the index.
pub const INDEX_MAGIC: [u8; 4] = *b"FSBI";
/// Index format version.
pub const INDEX_VERSION: u8 = 1;
const HEADER_BYTES: usize = 8;
/// TOC: three u64 offsets, CRC u32, magic.
const TOC_BYTES: usize = 32;

/// Appends one series entry (label ids, chunk metas) to a series section being built.
pub fn encode_series(labels: &[(u32, u32)], chunks: &[ChunkMeta], out: &mut Vec<u8>) {
    put_uvarint(out, labels.len() as u64);
    for &(n, v) in labels {
        put_uvarint(out, u64::from(n));
        put_uvarint(out, u64::from(v));
    }
    put_uvarint(out, chunks.len() as u64);
    let mut prev = 0i64;
    for (i, c) in chunks.iter().enumerate() {
        put_varint(
            out,
            if i == 0 {
                c.mint
            } else {
                c.mint.wrapping_sub(prev)
            },
        );
        put_uvarint(out, c.maxt.wrapping_sub(c.mint) as u64);
        put_uvarint(out, u64::from(c.r.file));
        put_uvarint(out, c.r.page);
        put_uvarint(out, u64::from(c.r.offset));
        put_uvarint(out, u64::from(c.r.len));
        prev = c.maxt;
    }
}

/// Decodes one series entry; `None` on bad bytes.
pub fn decode_series(
    d: &mut Decbuf<'_>,
    labels: &mut Vec<(u32, u32)>,
    chunks: &mut Vec<ChunkMeta>,
) -> Option<()> {
    labels.clear();
    chunks.clear();
    let n = d.len()?;
    for _ in 0..n {
        let name = u32::try_from(d.uvarint()?).ok()?;
        let value = u32::try_from(d.uvarint()?).ok()?;
        labels.push((name, value));
    }
    let n = d.len()?;
    let mut prev = 0i64;
    for i in 0..n {
        let x = d.varint()?;
        let mint = if i == 0 { x } else { prev.wrapping_add(x) };
        let maxt = mint.wrapping_add(d.uvarint()? as i64);
        let r = ChunkRef {
            file: u32::try_from(d.uvarint()?).ok()?,
            page: d.uvarint()?,
            offset: u32::try_from(d.uvarint()?).ok()?,
            len: u32::try_from(d.uvarint()?).ok()?,
        };
        chunks.push(ChunkMeta { mint, maxt, r });
        prev = maxt;
    }
    Some(())
}

/// Series entries per compressed page of the series section: a lookup decodes at most this
/// many entries, and a page is big enough for zstd to find the repetition between
/// neighbouring label sets.
pub const SERIES_PER_PAGE: usize = 256;

/// Decoded series pages kept per block index.
const SERIES_CACHE_PAGES: usize = 4;

/// One decoded series page.
#[derive(Debug, Default)]
struct SeriesPage {
    page: usize,
    /// The page's raw bytes.
    buf: Vec<u8>,
    /// Where each series entry starts in `buf`.
    starts: Vec<usize>,
}

/// Appends one series page (the concatenated entries of up to [`SERIES_PER_PAGE`] series)
/// to `out`: `raw len uvarint │ compressed len uvarint │ zstd frame`.
pub fn encode_series_page(
    raw: &[u8],
    out: &mut Vec<u8>,
    c: &mut zstd::bulk::Compressor<'static>,
) -> std::io::Result<()> {
    let frame = c.compress(raw)?;
    put_uvarint(out, raw.len() as u64);
    put_uvarint(out, frame.len() as u64);
    out.extend_from_slice(&frame);
    Ok(())
}

/// Writes an index file: `symbols` sorted and unique, `series` the pages (see
/// [`encode_series_page`]) of `count` series' entries (ids into `symbols`), `postings` keyed
/// by (name id, value id).
pub fn write_index(
    path: &Path,
    symbols: &[String],
    series: &[u8],
    count: usize,
    postings: &std::collections::BTreeMap<(u32, u32), RoaringBitmap>,
) -> Result<u64, BlockError> {
    let io = |e| BlockError::io(path, e);
    let file = std::fs::File::create(path).map_err(io)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut hdr = [0u8; HEADER_BYTES];
    hdr[..4].copy_from_slice(&INDEX_MAGIC);
    hdr[4] = INDEX_VERSION;
    w.write_all(&hdr).map_err(io)?;
    let mut off = HEADER_BYTES as u64;
    let mut toc = [0u64; 3];
    let mut buf = Vec::new();
    // Symbols.
    put_uvarint(&mut buf, symbols.len() as u64);
    for s in symbols {
        put_uvarint(&mut buf, s.len() as u64);
        buf.extend_from_slice(s.as_bytes());
    }
    toc[0] = off;
    off += write_section(&mut w, &buf).map_err(io)?;
    // Series.
    buf.clear();
    put_uvarint(&mut buf, count as u64);
    buf.extend_from_slice(series);
    toc[1] = off;
    off += write_section(&mut w, &buf).map_err(io)?;
    // Postings.
    buf.clear();
    put_uvarint(&mut buf, postings.len() as u64);
    let mut bm = Vec::new();
    for (&(n, v), p) in postings {
        bm.clear();
        p.serialize_into(&mut bm).map_err(io)?;
        put_uvarint(&mut buf, u64::from(n));
        put_uvarint(&mut buf, u64::from(v));
        put_uvarint(&mut buf, bm.len() as u64);
        buf.extend_from_slice(&bm);
    }
    toc[2] = off;
    off += write_section(&mut w, &buf).map_err(io)?;
    let mut t = Vec::with_capacity(TOC_BYTES);
    for o in toc {
        t.extend_from_slice(&o.to_le_bytes());
    }
    let crc = crc32c::crc32c(&t);
    t.extend_from_slice(&crc.to_le_bytes());
    t.extend_from_slice(&INDEX_MAGIC);
    w.write_all(&t).map_err(io)?;
    off += TOC_BYTES as u64;
    let f = w.into_inner().map_err(|e| io(e.into_error()))?;
    f.sync_all().map_err(io)?;
    Ok(off)
}

fn write_section(w: &mut impl Write, data: &[u8]) -> std::io::Result<u64> {
    w.write_all(&(data.len() as u64).to_le_bytes())?;
    w.write_all(data)?;
    w.write_all(&crc32c::crc32c(data).to_le_bytes())?;
    Ok(data.len() as u64 + 12)
}

/// A mapped, checked index.
///
/// Invariants (established by [`Index::open`]): every section's checksum matched; symbol
/// spans lie inside the mapping and are UTF-8; series pages lie inside the mapping (their
/// entries are checked when a page is first decoded).
#[derive(Debug)]
pub struct Index {
    path: PathBuf,
    map: MmapRead,
    /// (start, len) of each symbol in `map`, in symbol order (sorted bytewise).
    symbols: Vec<(usize, usize)>,
    /// Number of series.
    num_series: usize,
    /// (frame start in `map`, frame length, raw length) of each series page.
    series_pages: Vec<(usize, usize, usize)>,
    /// The last decoded series pages, most recent first: the query workers read two regions
    /// of a selection at once, so a single page would be decompressed again on every read.
    series_cache: parking_lot::Mutex<Vec<SeriesPage>>,
    /// Per label name id: (value id, start, len) of each value's serialised bitmap, by value.
    postings: HashMap<u32, Vec<(u32, usize, usize)>>,
}

impl Index {
    /// Maps `path` and checks it.
    pub fn open(path: &Path) -> Result<Index, BlockError> {
        let map = MmapRead::open(path).map_err(|e| BlockError::io(path, e))?;
        let b = map.as_bytes();
        let bad = |off: usize, what: &str| BlockError::corruption(path, off as u64, what);
        if b.len() < HEADER_BYTES + TOC_BYTES || b[..4] != INDEX_MAGIC {
            return Err(bad(0, "bad index header"));
        }
        if b[4] != INDEX_VERSION {
            return Err(bad(4, "unsupported index version"));
        }
        let toc_at = b.len() - TOC_BYTES;
        let toc = &b[toc_at..];
        if toc[28..] != INDEX_MAGIC || crc32c::crc32c(&toc[..24]).to_le_bytes()[..] != toc[24..28] {
            return Err(bad(toc_at, "index TOC checksum mismatch"));
        }
        let mut offs = [0usize; 3];
        for (i, o) in offs.iter_mut().enumerate() {
            let v = u64::from_le_bytes(
                toc[i * 8..i * 8 + 8]
                    .try_into()
                    .map_err(|_| bad(toc_at, "TOC"))?,
            );
            *o = usize::try_from(v).map_err(|_| bad(toc_at, "TOC offset out of range"))?;
        }
        let section = |off: usize| -> Result<(usize, &[u8]), BlockError> {
            let mut d = Decbuf::new(
                b.get(off..toc_at)
                    .ok_or_else(|| bad(off, "section offset past the end"))?,
            );
            let len = d
                .u64()
                .and_then(|l| usize::try_from(l).ok())
                .ok_or_else(|| bad(off, "section length cut short"))?;
            let data = d.bytes(len).ok_or_else(|| bad(off, "section cut short"))?;
            let crc = d
                .bytes(4)
                .ok_or_else(|| bad(off, "section checksum cut short"))?;
            if crc32c::crc32c(data).to_le_bytes()[..] != *crc {
                return Err(bad(off, "section checksum mismatch"));
            }
            Ok((off + 8, data))
        };
        // Symbols.
        let (base, data) = section(offs[0])?;
        let mut d = Decbuf::new(data);
        let undecodable = |what: &str| bad(offs[0], what);
        let n = d.len().ok_or_else(|| undecodable("symbols count"))?;
        let mut symbols = Vec::with_capacity(n.min(data.len()));
        for _ in 0..n {
            let len = d.len().ok_or_else(|| undecodable("symbol length"))?;
            let start = d.pos();
            let s = d
                .bytes(len)
                .ok_or_else(|| undecodable("symbol cut short"))?;
            std::str::from_utf8(s).map_err(|_| undecodable("symbol is not UTF-8"))?;
            symbols.push((base + start, len));
        }
        // Series: record where each page is.
        let (base, data) = section(offs[1])?;
        let mut d = Decbuf::new(data);
        let undecodable = |what: &str| bad(offs[1], what);
        let num_series = d.len().ok_or_else(|| undecodable("series count"))?;
        let pages = num_series.div_ceil(SERIES_PER_PAGE);
        let mut series_pages = Vec::with_capacity(pages.min(data.len()));
        for _ in 0..pages {
            let (Some(raw), Some(len)) = (d.len(), d.len()) else {
                return Err(undecodable("series page header"));
            };
            let start = d.pos();
            d.bytes(len)
                .ok_or_else(|| undecodable("series page cut short"))?;
            series_pages.push((base + start, len, raw));
        }
        // Postings.
        let (base, data) = section(offs[2])?;
        let mut d = Decbuf::new(data);
        let undecodable = |what: &str| bad(offs[2], what);
        let n = d.len().ok_or_else(|| undecodable("postings count"))?;
        let mut postings: HashMap<u32, Vec<(u32, usize, usize)>> = HashMap::new();
        for _ in 0..n {
            let name = d.uvarint().and_then(|x| u32::try_from(x).ok());
            let value = d.uvarint().and_then(|x| u32::try_from(x).ok());
            let (Some(name), Some(value), Some(len)) = (name, value, d.len()) else {
                return Err(undecodable("postings entry"));
            };
            let start = d.pos();
            d.bytes(len)
                .ok_or_else(|| undecodable("postings cut short"))?;
            postings
                .entry(name)
                .or_default()
                .push((value, base + start, len));
        }
        Ok(Index {
            path: path.to_owned(),
            map,
            symbols,
            num_series,
            series_pages,
            series_cache: parking_lot::Mutex::new(Vec::new()),
            postings,
        })
    }

    /// Number of series.
    pub fn num_series(&self) -> usize {
        self.num_series
    }

    /// Symbol `id` (checked UTF-8 at open).
    pub fn symbol(&self, id: u32) -> &str {
        let (s, l) = self.symbols[id as usize];
        let bytes: &[u8] = self.map.as_bytes();
        std::str::from_utf8(&bytes[s..s + l]).unwrap_or("")
    }

    /// The id of symbol `s`, by binary search.
    pub fn symbol_id(&self, s: &str) -> Option<u32> {
        let i = self
            .symbols
            .binary_search_by(|&(o, l)| self.map.as_bytes()[o..o + l].cmp(s.as_bytes()))
            .ok()?;
        Some(i as u32)
    }

    /// Decodes series `id` (`< num_series()`) into label ids and chunk metas.
    pub fn series(
        &self,
        id: u32,
        labels: &mut Vec<(u32, u32)>,
        chunks: &mut Vec<ChunkMeta>,
    ) -> Result<(), BlockError> {
        let page = id as usize / SERIES_PER_PAGE;
        let &(start, len, raw) = self
            .series_pages
            .get(page)
            .ok_or_else(|| BlockError::corruption(&self.path, 0, "series id out of range"))?;
        let bad =
            || BlockError::corruption(&self.path, start as u64, "series page does not decode");
        let mut cache = self.series_cache.lock();
        if let Some(k) = cache.iter().position(|p| p.page == page) {
            let hit = cache.remove(k);
            cache.insert(0, hit);
        } else {
            // Reuse the least recent slot's buffers once the cache is full.
            let mut p = if cache.len() >= SERIES_CACHE_PAGES {
                cache.pop()
            } else {
                None
            }
            .unwrap_or_default();
            p.buf = zstd::bulk::decompress(&self.map.as_bytes()[start..start + len], raw)
                .map_err(|_| bad())?;
            p.starts.clear();
            let (buf, starts) = (&p.buf, &mut p.starts);
            let mut d = Decbuf::new(buf);
            let n = SERIES_PER_PAGE.min(self.num_series - page * SERIES_PER_PAGE);
            for _ in 0..n {
                starts.push(d.pos());
                decode_series(&mut d, labels, chunks).ok_or_else(bad)?;
                let nsym = self.symbols.len();
                if labels
                    .iter()
                    .any(|&(n, v)| n as usize >= nsym || v as usize >= nsym)
                {
                    return Err(bad());
                }
            }
            p.page = page;
            cache.insert(0, p);
        }
        let p = &cache[0];
        let mut d = Decbuf::new(&p.buf[p.starts[id as usize % SERIES_PER_PAGE]..]);
        decode_series(&mut d, labels, chunks).ok_or_else(bad)
    }

    /// The label set of series `id`.
    pub fn labels(&self, id: u32) -> Result<Labels, BlockError> {
        let (mut l, mut c) = (Vec::new(), Vec::new());
        self.series(id, &mut l, &mut c)?;
        Ok(Labels::from_pairs(
            l.iter().map(|&(n, v)| (self.symbol(n), self.symbol(v))),
        ))
    }

    /// The label names of the block's series, sorted bytewise.
    pub fn label_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.postings.keys().map(|&n| self.symbol(n)).collect();
        names.sort_unstable();
        names
    }

    /// The values of label `name` over the block's series, sorted bytewise.
    pub fn label_values(&self, name: &str) -> Vec<&str> {
        let Some(values) = self.symbol_id(name).and_then(|n| self.postings.get(&n)) else {
            return Vec::new();
        };
        let mut out: Vec<&str> = values.iter().map(|&(v, _, _)| self.symbol(v)).collect();
        // Symbol ids follow byte order, so this is normally sorted already.
        out.sort_unstable();
        out.dedup();
        out
    }

    fn bitmap(&self, start: usize, len: usize) -> Result<RoaringBitmap, BlockError> {
        RoaringBitmap::deserialize_from(&self.map.as_bytes()[start..start + len])
            .map_err(|_| BlockError::corruption(&self.path, start as u64, "postings do not decode"))
    }

    /// Series ids matching every matcher of `set`, through the one matchers-to-postings
    /// function the head uses too (`index_reader::postings_for_matchers`).
    pub fn postings_for_matchers(&self, set: &[Matcher]) -> Result<RoaringBitmap, BlockError> {
        crate::index_reader::postings_for_matchers(&BlockIndex(self), set).map(Cow::into_owned)
    }
}

/// A block index as an [`IndexReader`]: bitmaps are decoded from the mapping on demand.
struct BlockIndex<'a>(&'a Index);

/// One name's values in a block index: (value symbol id, bitmap start, bitmap length),
/// in symbol order, which is byte order.
struct BlockValues<'a> {
    index: &'a Index,
    values: &'a [(u32, usize, usize)],
}

impl<'a> IndexReader<'a> for BlockIndex<'a> {
    type Name = BlockValues<'a>;

    fn name(&self, name: &str) -> Option<BlockValues<'a>> {
        let index = self.0;
        let values = index.symbol_id(name).and_then(|n| index.postings.get(&n))?;
        Some(BlockValues { index, values })
    }

    fn all(&self) -> Cow<'a, RoaringBitmap> {
        let mut all = RoaringBitmap::new();
        all.insert_range(0..self.0.num_series as u32);
        Cow::Owned(all)
    }
}

impl<'a> NameValues<'a> for BlockValues<'a> {
    fn len(&self) -> usize {
        self.values.len()
    }

    fn value(&self, i: usize) -> &'a str {
        self.index.symbol(self.values[i].0)
    }

    fn find(&self, v: &str) -> Option<usize> {
        let id = self.index.symbol_id(v)?;
        self.values.binary_search_by_key(&id, |&(x, _, _)| x).ok()
    }

    fn postings(&self, i: usize) -> Result<Cow<'a, RoaringBitmap>, BlockError> {
        let (_, start, len) = self.values[i];
        self.index.bitmap(start, len).map(Cow::Owned)
    }

    fn any(&self) -> Result<Cow<'a, RoaringBitmap>, BlockError> {
        let mut out = RoaringBitmap::new();
        for &(_, start, len) in self.values {
            out |= self.index.bitmap(start, len)?;
        }
        Ok(Cow::Owned(out))
    }
}
