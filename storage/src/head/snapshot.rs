//! Head snapshots: the whole in-memory head at one point of the WAL, so a restart loads it and
//! replays only the WAL written after it (Prometheus's `chunk_snapshot`). A cache, never the
//! source of truth: anything wrong with it or the chunk files it points into makes start-up
//! ignore it and replay the whole WAL. Format and life cycle: docs/format/snapshot.md.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::labels::packed::PackedLabels;
use crate::postings::MemPostings;
use crate::symbols::{SymbolId, SymbolTable};

use super::chunk_files::{ChunkFiles, FilesState, SnapshotFile};
use super::shard::ShardData;
use super::startup::StartupProgress;
use super::{Head, Ordering};
use crate::varint::put_uvarint;

/// File magic, `FSHS` read as little-endian u32.
const MAGIC: u32 = u32::from_le_bytes(*b"FSHS");
const VERSION: u32 = 1;
const HEADER_BYTES: usize = 56;
/// Section header: kind u8, len u64; trailer: crc u32.
const SECTION_HEADER: usize = 9;
const KIND_SHARD: u8 = 1;
const KIND_SYMBOLS: u8 = 2;
const KIND_CHUNKS: u8 = 3;
const PREFIX: &str = "snapshot.";

/// What [`Head::write_snapshot`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    /// The WAL segment a restart from it replays from.
    pub wal_segment: u64,
    /// Series written (tombstones and sample-less series included).
    pub series: u64,
    /// Size of the snapshot file.
    pub bytes: u64,
    /// Wall time of the whole snapshot.
    pub elapsed: Duration,
}

/// The path of the snapshot that resumes at WAL segment `k`.
fn snapshot_path(dir: &Path, k: u64) -> PathBuf {
    dir.join(format!("{PREFIX}{k:08}"))
}

/// Complete snapshots in `dir`, ascending; `.tmp` leftovers are deleted.
fn list_snapshots(dir: &Path) -> Result<Vec<u64>, Error> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        if rest.ends_with(".tmp") {
            std::fs::remove_file(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
        } else if rest.len() >= 8
            && rest.bytes().all(|b| b.is_ascii_digit())
            && let Ok(k) = rest.parse()
        {
            out.push(k);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Deletes the snapshots of `dir` below `keep` (all of them for `u64::MAX`).
pub(crate) fn remove_snapshots_below(dir: &Path, keep: u64) -> Result<(), Error> {
    for k in list_snapshots(dir)?.into_iter().filter(|&k| k < keep) {
        let p = snapshot_path(dir, k);
        std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
    }
    Ok(())
}

impl Head {
    /// Writes a head snapshot (docs/format/snapshot.md) and deletes older ones; the next
    /// start-up loads it and replays only the WAL after it. `None` without a WAL (nothing
    /// to resume). Commits pause for an instant (while the WAL starts a new segment) and
    /// otherwise go on; each shard is copied under its read lock.
    pub fn write_snapshot(&self) -> Result<Option<SnapshotStats>, Error> {
        let Some(wal) = &self.wal else {
            return Ok(None);
        };
        let _one_at_a_time = self.snapshot_lock.lock();
        let t0 = Instant::now();
        // Every record below `k` is applied once no commit holds the gate.
        let k = {
            let _gate = self.commit_gate.write();
            wal.roll_now()?
        };
        let tmp = self.dir.join(format!("{PREFIX}{k:08}.tmp"));
        let result = self.write_snapshot_file(&tmp, k);
        let stats = match result {
            Ok(mut stats) => {
                stats.elapsed = t0.elapsed();
                stats
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let path = snapshot_path(&self.dir, k);
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        sync_dir(&self.dir)?;
        remove_snapshots_below(&self.dir, k)?;
        tracing::info!(
            wal_segment = k,
            series = stats.series,
            bytes = stats.bytes,
            elapsed_ms = stats.elapsed.as_millis() as u64,
            "head snapshot written"
        );
        Ok(Some(stats))
    }

    fn write_snapshot_file(&self, tmp: &Path, k: u64) -> Result<SnapshotStats, Error> {
        let file = std::fs::File::create(tmp).map_err(|e| Error::io(tmp, e))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let io = |e| Error::io(tmp, e);
        let sections = self.shards.len() as u32 + 2;
        let mut header = Vec::with_capacity(HEADER_BYTES);
        put_u32(&mut header, MAGIC);
        put_u32(&mut header, VERSION);
        put_u64(&mut header, k);
        put_u32(&mut header, self.shards.len() as u32);
        put_u32(&mut header, sections);
        put_u64(&mut header, self.min_valid_time() as u64);
        put_u64(&mut header, self.chunks.truncated_before() as u64);
        put_u64(&mut header, self.min_t.load(Ordering::Acquire) as u64);
        put_u64(&mut header, self.max_t.load(Ordering::Acquire) as u64);
        out.write_all(&header).map_err(io)?;
        let mut stats = SnapshotStats {
            wal_segment: k,
            ..SnapshotStats::default()
        };
        let mut buf = Vec::new();
        for (i, shard) in self.shards.iter().enumerate() {
            buf.clear();
            put_u32(&mut buf, i as u32);
            stats.series += shard.read().write_snapshot(&mut buf);
            write_section(&mut out, KIND_SHARD, &buf).map_err(io)?;
        }
        // After the shards: every symbol they name was interned before they were copied.
        buf.clear();
        {
            let symbols = self.symbols.read();
            put_u32(&mut buf, symbols.len() as u32);
            for id in 0..symbols.len() as u32 {
                let s = symbols.resolve(SymbolId(id));
                put_uvarint(&mut buf, s.len() as u64);
                buf.extend_from_slice(s.as_bytes());
            }
        }
        write_section(&mut out, KIND_SYMBOLS, &buf).map_err(io)?;
        // And the chunk files last: every position the shards hold is below these lengths.
        let files = self.chunks.sync_for_snapshot()?;
        buf.clear();
        put_u32(&mut buf, files.files.len() as u32);
        for f in &files.files {
            put_u32(&mut buf, f.seq);
            put_u64(&mut buf, f.len);
            put_u32(&mut buf, f.crc);
            put_u64(&mut buf, f.max_t as u64);
        }
        put_u32(&mut buf, files.seq);
        put_u64(&mut buf, files.end);
        write_section(&mut out, KIND_CHUNKS, &buf).map_err(io)?;
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        stats.bytes = file.metadata().map_or(0, |m| m.len());
        Ok(stats)
    }
}

fn write_section(out: &mut impl Write, kind: u8, payload: &[u8]) -> std::io::Result<()> {
    let mut h = [0u8; SECTION_HEADER];
    h[0] = kind;
    h[1..9].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&h), payload);
    out.write_all(&h)?;
    out.write_all(payload)?;
    out.write_all(&crc.to_le_bytes())
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// A snapshot loaded into fresh head parts, ready to become a [`Head`].
pub(crate) struct Loaded {
    /// WAL segment to resume replay at.
    pub wal_segment: u64,
    pub min_valid_ms: i64,
    pub min_t: i64,
    pub max_t: i64,
    pub chunks: Arc<ChunkFiles>,
    pub shards: Vec<ShardData>,
    pub symbols: SymbolTable,
    pub postings: MemPostings,
    pub series: u64,
}

/// What start-up needs to know to load a snapshot.
pub(crate) struct LoadOptions<'a> {
    pub dir: &'a Path,
    pub chunks_dir: &'a Path,
    pub shards: usize,
    pub chunk_file_bytes: usize,
    /// Chunk files whose chunks all end before this may be gone (compacted since).
    pub gone_before: i64,
    pub progress: &'a StartupProgress,
}

/// Loads the newest snapshot of `opts.dir`, if there is one and everything it needs is
/// intact. Otherwise logs why, deletes the snapshots (the WAL replay that follows is the
/// truth; a later snapshot replaces them) and returns `None`.
pub(crate) fn load(opts: &LoadOptions<'_>) -> Result<Option<Loaded>, Error> {
    let Some(&k) = list_snapshots(opts.dir)?.last() else {
        return Ok(None);
    };
    let path = snapshot_path(opts.dir, k);
    let t0 = Instant::now();
    match load_file(&path, opts) {
        Ok(loaded) => {
            tracing::info!(
                snapshot = %path.display(),
                series = loaded.series,
                wal_segment = loaded.wal_segment,
                elapsed_ms = t0.elapsed().as_millis() as u64,
                "head snapshot loaded; replaying the WAL after it"
            );
            Ok(Some(loaded))
        }
        Err(reason) => {
            tracing::warn!(
                snapshot = %path.display(),
                reason = %reason,
                "head snapshot not used; replaying the whole WAL"
            );
            remove_snapshots_below(opts.dir, u64::MAX)?;
            Ok(None)
        }
    }
}

fn load_file(path: &Path, opts: &LoadOptions<'_>) -> Result<Loaded, String> {
    let data = std::fs::read(path).map_err(|e| format!("reading it: {e}"))?;
    let mut r = Reader::new(&data);
    if r.u32()? != MAGIC {
        return Err("bad magic".to_owned());
    }
    let version = r.u32()?;
    if version != VERSION {
        return Err(format!(
            "format version {version}; this build reads {VERSION}"
        ));
    }
    let wal_segment = r.u64()?;
    let shards = r.u32()? as usize;
    if shards != opts.shards {
        return Err(format!(
            "written by a head of {shards} shards, this one has {}",
            opts.shards
        ));
    }
    let sections = r.u32()? as usize;
    let min_valid_ms = r.u64()? as i64;
    let truncated_ms = r.u64()? as i64;
    let min_t = r.u64()? as i64;
    let max_t = r.u64()? as i64;
    // Every section checked before anything is used.
    let mut shard_sections = Vec::with_capacity(shards);
    let (mut symbols_section, mut chunks_section) = (None, None);
    for _ in 0..sections {
        let start = r.at;
        let kind = r.u8()?;
        let len = usize::try_from(r.u64()?).map_err(|e| e.to_string())?;
        let payload = r.bytes(len)?;
        let crc = r.u32()?;
        if crc32c::crc32c(&data[start..start + SECTION_HEADER + len]) != crc {
            return Err(format!("section at offset {start}: checksum mismatch"));
        }
        match kind {
            KIND_SHARD => shard_sections.push(payload),
            KIND_SYMBOLS => symbols_section = Some(payload),
            KIND_CHUNKS => chunks_section = Some(payload),
            _ => return Err(format!("unknown section kind {kind}")),
        }
    }
    if r.at != data.len() {
        return Err("trailing bytes after the last section".to_owned());
    }
    let (Some(symbols_section), Some(chunks_section)) = (symbols_section, chunks_section) else {
        return Err("torn: sections missing".to_owned());
    };
    if shard_sections.len() != shards {
        return Err("torn: shard sections missing".to_owned());
    }

    let mut r = Reader::new(symbols_section);
    let mut symbols = SymbolTable::new();
    let count = r.u32()?;
    for id in 0..count {
        let len = usize::try_from(r.uvarint()?).map_err(|e| e.to_string())?;
        let s = std::str::from_utf8(r.bytes(len)?).map_err(|_| "symbol is not UTF-8")?;
        if symbols.intern(s) != SymbolId(id) {
            return Err(format!("symbol {id} is a duplicate"));
        }
    }

    let mut r = Reader::new(chunks_section);
    let mut files = FilesState::default();
    for _ in 0..r.u32()? {
        files.files.push(SnapshotFile {
            seq: r.u32()?,
            len: r.u64()?,
            crc: r.u32()?,
            max_t: r.u64()? as i64,
        });
    }
    files.seq = r.u32()?;
    files.end = r.u64()?;
    let chunks = Arc::new(ChunkFiles::reopen(
        opts.chunks_dir,
        opts.chunk_file_bytes,
        &files,
        opts.gone_before,
        truncated_ms,
    )?);

    // Shards in parallel, two threads (series are independent; symbols are read-only now).
    let mut shards_out: Vec<Option<ShardData>> = (0..shards).map(|_| None).collect();
    let n_symbols = symbols.len() as u32;
    let restore = |payload: &[u8]| -> Result<(usize, ShardData), String> {
        let mut r = Reader::new(payload);
        let i = r.u32()? as usize;
        if i >= shards {
            return Err(format!("shard {i} out of range"));
        }
        let mut s = ShardData::create(opts.dir, i, chunks.clone()).map_err(|e| e.to_string())?;
        s.restore_snapshot(&mut r, n_symbols)?;
        opts.progress.add_series(s.len() as u64);
        Ok((i, s))
    };
    let (even, odd): (Vec<_>, Vec<_>) = shard_sections
        .iter()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let (a, b) = std::thread::scope(|scope| {
        let other = scope.spawn(|| {
            odd.iter()
                .map(|(_, p)| restore(p))
                .collect::<Result<Vec<_>, _>>()
        });
        let mine = even
            .iter()
            .map(|(_, p)| restore(p))
            .collect::<Result<Vec<_>, _>>();
        (mine, other.join())
    });
    let b = b.map_err(|_| "restoring a shard panicked".to_owned())?;
    for (i, s) in a?.into_iter().chain(b?) {
        if shards_out[i].replace(s).is_some() {
            return Err(format!("shard {i} appears twice"));
        }
    }
    let shards_out: Vec<ShardData> = shards_out
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or("a shard is missing")?;

    // The index: every series holding a sample.
    let bits = shards.trailing_zeros();
    let mask = (1u32 << bits) - 1;
    let labels_of = |r: u32| shards_out[(r & mask) as usize].labels((r >> bits) as usize);
    let mut batch: Vec<(u32, PackedLabels<'_>)> = Vec::new();
    let mut series = 0u64;
    for (s, shard) in shards_out.iter().enumerate() {
        series += shard.len() as u64;
        for i in 0..shard.len() {
            if shard.latest(i).is_some() {
                let r =
                    u32::try_from((i as u64) << bits | s as u64).map_err(|_| "ref out of range")?;
                batch.push((r, shard.labels(i)));
            }
        }
    }
    batch.sort_unstable_by_key(|&(r, _)| r);
    let mut postings = MemPostings::new();
    postings.add_batch(&batch, &symbols, &labels_of);
    drop(batch);
    Ok(Loaded {
        wal_segment,
        min_valid_ms,
        min_t,
        max_t,
        chunks,
        shards: shards_out,
        symbols,
        postings,
        series,
    })
}

pub(crate) fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Reads little-endian fields; running out of bytes is an error (a torn snapshot).
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data, at: 0 }
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| format!("torn: {n} bytes wanted at offset {}", self.at))?;
        let b = &self.data[self.at..end];
        self.at = end;
        Ok(b)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let b = self.bytes(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn uvarint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".to_owned())
    }
}

#[cfg(test)]
mod tests;
