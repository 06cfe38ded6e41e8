//! Sealed head chunks on disk (`<storage.tsdb.path>/chunks_head/`), read back through
//! memory maps (single chunks) or copied with `pread` (range reads), so the head's RSS holds
//! only open chunks, the index and the latest-sample columns (Prometheus's "m-mapped head
//! chunks"), and what reads map is released as they go.
//!
//! Each sealed chunk is one record in an append-only file; its position (`seq << 32 | offset`)
//! is all a series keeps of it, because every record names the position of the same series'
//! previous chunk: a series' history is a backwards chain through the files. Records are
//! gathered in a write buffer and written in large `pwrite`s; a record is readable from the
//! buffer until it is on disk, and from the mapping after. A failing disk leaves records in
//! memory (counted, logged once) and retries later: nothing is lost, RSS grows instead.
//!
//! The files are a cache of what the WAL holds. They are emptied at open unless a head
//! snapshot (docs/format/snapshot.md) lists them with their lengths and checksums
//! ([`ChunkFiles::reopen`]); a snapshot fsyncs them first ([`ChunkFiles::sync_for_snapshot`]),
//! and each file's CRC-32C is kept up to date as bytes are written, so that costs no re-read.
//! Truncation (after compaction persisted a range) deletes whole files whose
//! chunks all end before the cut; walks stop at a deleted file or a chunk before the cut.
//! Format: docs/format/head.md.

mod copied;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

#[cfg(test)]
use crate::chunks::XorAppender;
use crate::chunks::XorIter;
use crate::error::Error;
use crate::mmap::AppendFile;

use self::copied::{BlockCache, COPIES, Copies};

/// "No chunk" position.
pub(crate) const NO_CHUNK: u64 = u64::MAX;
/// File magic, `FSHC` read as little-endian u32.
const MAGIC: u32 = u32::from_le_bytes(*b"FSHC");
/// 2: the compact record header below (version 1 had `prev, min_t, max_t, num u16, len u32`,
/// 30 bytes: a fifth of a 128-byte chunk). Files of another version are not reused.
const VERSION: u32 = 2;
/// File header: magic u32, version u32.
const FILE_HEADER: usize = 8;
/// Record header: prev u64, num u16, len u16 (bytes after the header: the `max_t - min_t`
/// uvarint, then the XOR bytes, whose first timestamp is `min_t`).
const RECORD_HEADER: usize = 12;
/// Buffered bytes that trigger a write (half a file for tiny test files).
const FLUSH_BYTES: usize = 1 << 20;
/// Default file size (Prometheus's head chunk files are 128 MiB too).
pub(crate) const DEFAULT_FILE_BYTES: usize = 128 << 20;

/// The header of one chunk record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkMeta {
    /// Position of the series' previous chunk, [`NO_CHUNK`] for its first.
    pub prev: u64,
    pub min_t: i64,
    pub max_t: i64,
    pub num: u16,
}

/// One chunk file as a head snapshot records it (docs/format/snapshot.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SnapshotFile {
    pub seq: u32,
    /// Bytes written when the snapshot was taken.
    pub len: u64,
    /// CRC-32C of those bytes.
    pub crc: u32,
    /// Newest chunk end in the file.
    pub max_t: i64,
}

/// The chunk files as a head snapshot records them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FilesState {
    pub files: Vec<SnapshotFile>,
    /// The file the writer was appending to, and where.
    pub seq: u32,
    pub end: u64,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChunkFileStats {
    /// Chunk files on disk.
    pub files: u64,
    /// Bytes in the chunk files on disk (counted by `--storage.tsdb.retention.size`).
    pub disk_bytes: u64,
    /// Chunks sealed into the files since open.
    pub chunks_written: u64,
    /// Bytes written to the files since open.
    pub bytes_written: u64,
    /// Bytes waiting in memory to be written (normally under 1 MiB; more while the disk fails).
    pub pending_bytes: u64,
    /// Failed file creations or writes.
    pub write_errors: u64,
}

/// Bytes not yet on disk: file `seq` from offset `start`.
struct Pending {
    seq: u32,
    start: usize,
    buf: Vec<u8>,
}

struct Writer {
    /// The file new records go to, and where the next one starts in it.
    seq: u32,
    end: usize,
    /// Unwritten bytes, oldest first (more than one only while writes fail).
    pending: Vec<Pending>,
    /// Newest chunk end of every live file, for truncation.
    max_t: BTreeMap<u32, i64>,
    /// CRC-32C of every live file's written bytes, updated at each write.
    crcs: BTreeMap<u32, u32>,
    /// Pending bytes at which the next write is tried after a failure.
    retry_at: usize,
    failing: bool,
    stats: ChunkFileStats,
}

/// The head's chunk files. Shared by all shards; appends take a short mutex (a memcpy, and a
/// write every megabyte), reads of written chunks take no lock but the file list's.
pub(crate) struct ChunkFiles {
    dir: PathBuf,
    file_bytes: usize,
    flush_bytes: usize,
    files: RwLock<BTreeMap<u32, Arc<AppendFile>>>,
    writer: Mutex<Writer>,
    /// Chunks ending before this are gone (persisted in a block).
    truncated_before: AtomicI64,
    chunks_written: AtomicU64,
    /// Unique per instance: names these files in the threads' block caches ([`copied`]).
    id: u64,
}

/// Source of [`ChunkFiles`] ids.
static NEXT_FILES_ID: AtomicU64 = AtomicU64::new(0);

impl std::fmt::Debug for ChunkFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkFiles")
            .field("dir", &self.dir)
            .finish()
    }
}

impl ChunkFiles {
    /// Empties (or creates) `dir` and starts file 1. `file_bytes` is clamped to 4 KiB..4 GiB
    /// (a file holds at least one chunk: at most ~2.2 KiB).
    pub(crate) fn open(dir: &Path, file_bytes: usize) -> Result<ChunkFiles, Error> {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(dir, e)),
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let file_bytes = file_bytes.clamp(4 << 10, u32::MAX as usize);
        let flush_bytes = FLUSH_BYTES.min(file_bytes / 2);
        let files = ChunkFiles {
            dir: dir.to_owned(),
            file_bytes,
            flush_bytes,
            files: RwLock::new(BTreeMap::new()),
            writer: Mutex::new(Writer {
                seq: 0,
                end: 0,
                pending: Vec::new(),
                max_t: BTreeMap::new(),
                crcs: BTreeMap::new(),
                retry_at: flush_bytes,
                failing: false,
                stats: ChunkFileStats::default(),
            }),
            truncated_before: AtomicI64::new(i64::MIN),
            chunks_written: AtomicU64::new(0),
            id: NEXT_FILES_ID.fetch_add(1, Ordering::Relaxed),
        };
        files.start_file(&mut files.writer.lock());
        Ok(files)
    }

    /// Reuses the files of `dir` as a head snapshot recorded them (docs/format/snapshot.md):
    /// every listed file must be there with at least its recorded length and checksum, except
    /// files whose chunks all end before `gone_before` (compaction may have deleted them since).
    /// Bytes past the recorded lengths and unlisted files are removed; appends go to a new
    /// file. `Err` says why the files cannot be trusted (the caller then replays the WAL).
    pub(crate) fn reopen(
        dir: &Path,
        file_bytes: usize,
        state: &FilesState,
        gone_before: i64,
        truncated_before: i64,
    ) -> Result<ChunkFiles, String> {
        let file_bytes = file_bytes.clamp(4 << 10, u32::MAX as usize);
        let flush_bytes = FLUSH_BYTES.min(file_bytes / 2);
        let mut files = BTreeMap::new();
        let (mut max_t, mut crcs) = (BTreeMap::new(), BTreeMap::new());
        for f in &state.files {
            let path = dir.join(format!("{:06}", f.seq));
            let on_disk = match std::fs::metadata(&path) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && f.max_t < gone_before => {
                    continue;
                }
                Err(e) => return Err(format!("chunk file {}: {e}", path.display())),
            };
            if on_disk < f.len {
                return Err(format!(
                    "chunk file {} is torn: {on_disk} bytes, the snapshot wrote {}",
                    path.display(),
                    f.len
                ));
            }
            let len = usize::try_from(f.len).map_err(|e| e.to_string())?;
            let file = AppendFile::open_existing(&path, file_bytes.max(len), len)
                .map_err(|e| format!("chunk file {}: {e}", path.display()))?;
            let bytes = file.read(0, len).unwrap_or_default();
            let header_ok = bytes.len() >= FILE_HEADER && bytes[0..4] == MAGIC.to_le_bytes();
            if header_ok && bytes[4..8] != VERSION.to_le_bytes() {
                return Err(format!(
                    "chunk file {} has format version {} (this build reads {VERSION})",
                    path.display(),
                    u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]])
                ));
            }
            if !header_ok || crc32c::crc32c(bytes) != f.crc {
                return Err(format!(
                    "chunk file {}: checksum mismatch over its first {len} bytes",
                    path.display()
                ));
            }
            files.insert(f.seq, Arc::new(file));
            max_t.insert(f.seq, f.max_t);
            crcs.insert(f.seq, f.crc);
        }
        // Chunks sealed after the snapshot are in files it does not list: replay seals them
        // again, so they go.
        let listed: std::collections::HashSet<String> = state
            .files
            .iter()
            .map(|f| format!("{:06}", f.seq))
            .collect();
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
            if !entry
                .file_name()
                .to_str()
                .is_some_and(|n| listed.contains(n))
            {
                std::fs::remove_file(entry.path())
                    .map_err(|e| format!("{}: {e}", entry.path().display()))?;
            }
        }
        let stats = ChunkFileStats::default();
        let seq = files
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
            .max(state.seq);
        let chunk_files = ChunkFiles {
            dir: dir.to_owned(),
            file_bytes,
            flush_bytes,
            files: RwLock::new(files),
            writer: Mutex::new(Writer {
                seq,
                end: 0,
                pending: Vec::new(),
                max_t,
                crcs,
                retry_at: flush_bytes,
                failing: false,
                stats,
            }),
            truncated_before: AtomicI64::new(truncated_before),
            chunks_written: AtomicU64::new(0),
            id: NEXT_FILES_ID.fetch_add(1, Ordering::Relaxed),
        };
        // A new file for new chunks: the snapshot's current file may have lost bytes past its
        // recorded length, and starting clean is simpler than resuming mid-file.
        chunk_files.start_file(&mut chunk_files.writer.lock());
        Ok(chunk_files)
    }

    /// Writes every pending chunk, fsyncs the files and returns their lengths, checksums and
    /// newest chunk ends, for a head snapshot. Every position handed out before the call is
    /// below the returned lengths. Fails when pending bytes cannot be written (full disk).
    pub(crate) fn sync_for_snapshot(&self) -> Result<FilesState, Error> {
        let (state, to_sync) = {
            let mut w = self.writer.lock();
            self.flush(&mut w);
            if !w.pending.is_empty() {
                return Err(Error::io(
                    &self.dir,
                    std::io::Error::other("head chunks could not be written"),
                ));
            }
            let files = self.files.read();
            let mut list = Vec::new();
            let mut to_sync = Vec::new();
            for (&seq, &max_t) in &w.max_t {
                let Some(f) = files.get(&seq) else { continue };
                list.push(SnapshotFile {
                    seq,
                    len: f.written() as u64,
                    crc: w.crcs.get(&seq).copied().unwrap_or(0),
                    max_t,
                });
                to_sync.push(f.clone());
            }
            let state = FilesState {
                files: list,
                seq: w.seq,
                end: w.end as u64,
            };
            (state, to_sync)
        };
        for f in to_sync {
            f.sync().map_err(|e| Error::io(f.path(), e))?;
        }
        Ok(state)
    }

    /// Chunks ending before this are no longer read.
    pub(crate) fn truncated_before(&self) -> i64 {
        self.truncated_before.load(Ordering::Acquire)
    }

    /// Seals `chunk` (the series' chunk after `prev`) into the files; returns its position.
    /// Never fails: a chunk that cannot be written stays in memory (see the module doc).
    #[cfg(test)]
    pub(crate) fn append(&self, prev: u64, chunk: &XorAppender) -> u64 {
        self.append_parts(
            prev,
            chunk.min_t(),
            chunk.max_t(),
            chunk.num_samples(),
            chunk.bytes(),
        )
    }

    /// Seals a chunk given as its time range, sample count and bytes (the series' chunk after
    /// `prev`) into the files; returns its position. Never fails: a chunk that cannot be
    /// written stays in memory (see the module doc).
    pub(crate) fn append_parts(
        &self,
        prev: u64,
        min_t: i64,
        max_t: i64,
        num: u16,
        data: &[u8],
    ) -> u64 {
        let mut span = [0u8; 10];
        let span_len = crate::varint::put_uvarint_into(&mut span, max_t.wrapping_sub(min_t) as u64);
        let body = span_len + data.len();
        let len = RECORD_HEADER + body;
        let mut w = self.writer.lock();
        if w.end + len > self.file_bytes && w.end > FILE_HEADER {
            self.start_file(&mut w);
        }
        let pos = (u64::from(w.seq) << 32) | w.end as u64;
        let mut header = [0u8; RECORD_HEADER];
        header[0..8].copy_from_slice(&prev.to_le_bytes());
        header[8..10].copy_from_slice(&num.to_le_bytes());
        // A chunk stops below MAX_OPEN_CHUNK_BYTES plus one sample: far below 64 KiB.
        header[10..12].copy_from_slice(&(body as u16).to_le_bytes());
        let seq = w.seq;
        let last = w.pending.last_mut().filter(|p| p.seq == seq);
        let buf = match last {
            Some(p) => &mut p.buf,
            None => {
                let start = w.end;
                w.pending.push(Pending {
                    seq,
                    start,
                    buf: Vec::with_capacity(self.flush_bytes + 4096),
                });
                &mut w.pending.last_mut().expect("just pushed").buf
            }
        };
        buf.extend_from_slice(&header);
        buf.extend_from_slice(&span[..span_len]);
        buf.extend_from_slice(data);
        w.end += len;
        let newest = w.max_t.entry(seq).or_insert(i64::MIN);
        *newest = (*newest).max(max_t);
        w.stats.pending_bytes += len as u64;
        self.chunks_written.fetch_add(1, Ordering::Relaxed);
        if w.stats.pending_bytes as usize >= w.retry_at {
            self.flush(&mut w);
        }
        pos
    }

    /// Starts a new file: a header record in the write buffer; the file itself is created at
    /// the next write.
    fn start_file(&self, w: &mut Writer) {
        w.seq += 1;
        let mut buf = Vec::with_capacity(self.flush_bytes + 4096);
        buf.extend_from_slice(&MAGIC.to_le_bytes());
        buf.extend_from_slice(&VERSION.to_le_bytes());
        w.pending.push(Pending {
            seq: w.seq,
            start: 0,
            buf,
        });
        w.end = FILE_HEADER;
        w.max_t.insert(w.seq, i64::MIN);
        w.stats.pending_bytes += FILE_HEADER as u64;
    }

    /// Writes pending bytes, oldest first, stopping at the first failure.
    fn flush(&self, w: &mut Writer) {
        while let Some(p) = w.pending.first() {
            match self.write_pending(p) {
                Ok(()) => {
                    let p = w.pending.remove(0);
                    let crc = w.crcs.entry(p.seq).or_insert(0);
                    *crc = crc32c::crc32c_append(*crc, &p.buf);
                    w.stats.pending_bytes -= p.buf.len() as u64;
                    w.stats.bytes_written += p.buf.len() as u64;
                    if w.failing {
                        tracing::info!(dir = %self.dir.display(), "head chunk files writable again");
                        w.failing = false;
                    }
                }
                Err(e) => {
                    w.stats.write_errors += 1;
                    if !w.failing {
                        tracing::error!(
                            dir = %self.dir.display(), error = %e,
                            "cannot write head chunks; keeping them in memory and retrying"
                        );
                        w.failing = true;
                    }
                    break;
                }
            }
        }
        w.retry_at = w.stats.pending_bytes as usize + self.flush_bytes;
    }

    fn write_pending(&self, p: &Pending) -> std::io::Result<()> {
        let file = self.files.read().get(&p.seq).cloned();
        let file = match file {
            Some(f) => f,
            None => {
                let f = Arc::new(AppendFile::create(
                    &self.dir.join(format!("{:06}", p.seq)),
                    self.file_bytes.max(p.start + p.buf.len()),
                )?);
                self.files.write().insert(p.seq, f.clone());
                f
            }
        };
        file.append_at(p.start, &p.buf)
    }

    /// Calls `f` with every chunk of the chain ending at `newest` that overlaps
    /// `[mint, maxt]`, oldest first: the walk back stops at the first chunk starting at or
    /// before `mint` (older ones end before it) or truncated away.
    ///
    /// Records in files are copied with `pread` ([`copied::COPY_BLOCK`] bytes at a time,
    /// which hold the chunks of neighbouring series, written together) into buffers reused by
    /// the thread, not read through the mappings: a range query reads the chunks of many
    /// series, scattered over the files, and through the mappings each read made the kernel
    /// map the 64 KiB around it, so a 1 h rate over 10k of 1M series mapped 625 MiB (and
    /// faulting them in again after a release costs more than the copies: docs/benchmarks.md,
    /// "Query API"). Records still in
    /// the write buffer (the newest) are read there.
    pub(crate) fn for_each_chunk_in(
        &self,
        newest: u64,
        mint: i64,
        maxt: i64,
        f: &mut dyn FnMut(ChunkMeta, &[u8]),
    ) {
        let cut = self.truncated_before.load(Ordering::Acquire);
        let mut b = COPIES.take();
        b.kept.clear();
        b.wanted.clear();
        let mut pos = newest;
        'walk: while pos != NO_CHUNK {
            {
                let files = self.files.read();
                let mut cached: Option<(u32, &AppendFile)> = None;
                while pos != NO_CHUNK {
                    let (seq, off) = ((pos >> 32) as u32, (pos & 0xffff_ffff) as usize);
                    let file = match cached {
                        Some((s, file)) if s == seq => file,
                        _ => match files.get(&seq) {
                            Some(file) => {
                                cached = Some((seq, file));
                                file
                            }
                            None => break,
                        },
                    };
                    let Some(rec) = b.blocks.record(self.id, seq, file, off) else {
                        break;
                    };
                    let Some((m, data)) = decode_record(rec, cut) else {
                        break 'walk;
                    };
                    let start = b.kept.len();
                    b.kept.extend_from_slice(data);
                    if !b.step(m, start, mint, maxt) {
                        break 'walk;
                    }
                    pos = m.prev;
                }
            }
            // Not in its file at the look above.
            let (seq, off) = ((pos >> 32) as u32, (pos & 0xffff_ffff) as usize);
            let start = b.kept.len();
            let Copies { blocks, kept, .. } = &mut b;
            match self.read_after_miss(blocks, seq, off, cut, |m, data| {
                kept.extend_from_slice(data);
                m
            }) {
                Some(m) if b.step(m, start, mint, maxt) => pos = m.prev,
                _ => break,
            }
        }
        for &(m, from, to) in b.wanted.iter().rev() {
            f(m, &b.kept[from..to]);
        }
        COPIES.set(b);
    }

    /// Calls `f` with the chunk at `pos` (header and XOR bytes); `None` when it was truncated
    /// away. `f` must not call back into the chunk files. A record in a file is copied with
    /// `pread` (through the thread's block cache), never read through the mapping: the
    /// single-chunk reads of `/federate` and instant selectors while writes go on (a series
    /// whose newest sample is later than the request) hit just-sealed chunks scattered over
    /// the files and, through the mapping, mapped the 64 KiB around each (docs/benchmarks.md,
    /// "Soak").
    pub(crate) fn with_chunk<R>(
        &self,
        pos: u64,
        f: impl FnOnce(ChunkMeta, &[u8]) -> R,
    ) -> Option<R> {
        if pos == NO_CHUNK {
            return None;
        }
        let (seq, off) = ((pos >> 32) as u32, (pos & 0xffff_ffff) as usize);
        let cut = self.truncated_before.load(Ordering::Acquire);
        let mut b = COPIES.take();
        let read = match self.read_in_file(&mut b.blocks, seq, off, cut, f) {
            Ok(read) => read,
            Err(f) => self.read_after_miss(&mut b.blocks, seq, off, cut, f),
        };
        COPIES.set(b);
        read
    }

    /// Calls `f` with record `off` of file `seq` copied from its file through `blocks`;
    /// `Err(f)` when the file does not hold all of it (yet, or any more).
    fn read_in_file<R, F: FnOnce(ChunkMeta, &[u8]) -> R>(
        &self,
        blocks: &mut BlockCache,
        seq: u32,
        off: usize,
        cut: i64,
        f: F,
    ) -> Result<Option<R>, F> {
        let files = self.files.read();
        match files
            .get(&seq)
            .and_then(|file| blocks.record(self.id, seq, file, off))
        {
            Some(rec) => Ok(decode_record(rec, cut).map(|(m, data)| f(m, data))),
            None => Err(f),
        }
    }

    /// Reads a record its file did not hold at the caller's look: from the write buffer,
    /// unless written since (writes happen under the writer lock), and then copied from the
    /// file. Never through the mapping: a record just written is in pages no read has mapped
    /// yet (docs/benchmarks.md, "Soak", the run of 2026-12-08 03:08).
    fn read_after_miss<R, F: FnOnce(ChunkMeta, &[u8]) -> R>(
        &self,
        blocks: &mut BlockCache,
        seq: u32,
        off: usize,
        cut: i64,
        f: F,
    ) -> Option<R> {
        match self.in_write_buffer(seq, off, cut, f) {
            Ok(read) => read,
            Err(f) => self.read_in_file(blocks, seq, off, cut, f).ok().flatten(),
        }
    }

    /// Calls `f` with record `off` of file `seq` while it is still in the write buffer (not
    /// yet in its file), under the writer lock; `Err(f)` when it is not there, so it is in
    /// its file now (writes happen under that lock) or gone.
    fn in_write_buffer<R, F: FnOnce(ChunkMeta, &[u8]) -> R>(
        &self,
        seq: u32,
        off: usize,
        cut: i64,
        f: F,
    ) -> Result<Option<R>, F> {
        let w = self.writer.lock();
        match w
            .pending
            .iter()
            .find(|p| p.seq == seq && off >= p.start && off < p.start + p.buf.len())
        {
            Some(p) => Ok(decode_record(&p.buf[off - p.start..], cut).map(|(m, data)| f(m, data))),
            None => Err(f),
        }
    }

    /// The header of the chunk at `pos`, `None` when it was truncated away (tests walk
    /// chains with it).
    #[cfg(test)]
    pub(crate) fn meta(&self, pos: u64) -> Option<ChunkMeta> {
        self.with_chunk(pos, |meta, _| meta)
    }

    /// [`ChunkFiles::with_chunk`] reading a record in a file through its mapping: the tests'
    /// oracle for the copied reads. The server never reads the mappings: each read there may
    /// map the 64 KiB around it into the process (docs/benchmarks.md, "Soak").
    #[cfg(test)]
    pub(crate) fn with_chunk_mapped<R>(
        &self,
        pos: u64,
        f: impl FnOnce(ChunkMeta, &[u8]) -> R,
    ) -> Option<R> {
        if pos == NO_CHUNK {
            return None;
        }
        let seq = (pos >> 32) as u32;
        let off = (pos & 0xffff_ffff) as usize;
        let cut = self.truncated_before.load(Ordering::Acquire);
        let file = self.files.read().get(&seq).cloned();
        if let Some(file) = &file
            && let Some(rec) = record_at(file, off)
        {
            return decode_record(rec, cut).map(|(meta, data)| f(meta, data));
        }
        // Not written yet: look in the write buffers. Writes happen under this lock, so the
        // record is now either still buffered or written (a write may have finished since the
        // look above).
        let f = match self.in_write_buffer(seq, off, cut, f) {
            Ok(read) => return read,
            Err(f) => f,
        };
        let file = self.files.read().get(&seq).cloned()?;
        let rec = record_at(&file, off)?;
        decode_record(rec, cut).map(|(meta, data)| f(meta, data))
    }

    /// Forgets chunks ending before `t` and deletes the files holding only such chunks (all
    /// but the current one); returns how many files it deleted.
    pub(crate) fn truncate_before(&self, t: i64) -> Result<u64, Error> {
        self.truncated_before.fetch_max(t, Ordering::AcqRel);
        let doomed: Vec<u32> = {
            let mut w = self.writer.lock();
            let current = w.seq;
            let doomed: Vec<u32> = w
                .max_t
                .iter()
                .filter(|&(&seq, &max_t)| seq != current && max_t < t)
                .map(|(&seq, _)| seq)
                .collect();
            for seq in &doomed {
                w.max_t.remove(seq);
                w.crcs.remove(seq);
            }
            let before = w.pending.len();
            let mut dropped = 0u64;
            w.pending.retain(|p| {
                let keep = !doomed.contains(&p.seq);
                if !keep {
                    dropped += p.buf.len() as u64;
                }
                keep
            });
            if w.pending.len() != before {
                w.stats.pending_bytes -= dropped;
            }
            doomed
        };
        for seq in &doomed {
            if let Some(file) = self.files.write().remove(seq) {
                std::fs::remove_file(file.path()).map_err(|e| Error::io(file.path(), e))?;
            }
        }
        Ok(doomed.len() as u64)
    }

    /// Unmaps the file pages reads brought into this process (see
    /// [`crate::mmap::AppendFile::release_resident`]); chunks stay readable.
    pub(crate) fn release_resident(&self) {
        for f in self.files.read().values() {
            f.release_resident();
        }
    }

    /// Counters for `/metrics`.
    pub(crate) fn stats(&self) -> ChunkFileStats {
        let w = self.writer.lock();
        let files = self.files.read();
        ChunkFileStats {
            files: files.len() as u64,
            disk_bytes: files.values().map(|f| f.written() as u64).sum(),
            chunks_written: self.chunks_written.load(Ordering::Relaxed),
            ..w.stats
        }
    }
}

/// The written bytes of the record at `off` in `file` (header and body), if all written.
#[cfg(test)]
fn record_at(file: &AppendFile, off: usize) -> Option<&[u8]> {
    let h = file.read(off, RECORD_HEADER)?;
    file.read(off, RECORD_HEADER + body_len(h))
}

/// The body length a record header declares.
fn body_len(h: &[u8]) -> usize {
    usize::from(u16::from_le_bytes([h[10], h[11]]))
}

/// A record's header and XOR bytes (`rec` may run on past it), `None` when it ends before
/// `cut` (or does not decode, which only a bug could cause: the files are checksummed).
fn decode_record(rec: &[u8], cut: i64) -> Option<(ChunkMeta, &[u8])> {
    let h = rec.get(..RECORD_HEADER)?;
    let mut body = rec.get(RECORD_HEADER..RECORD_HEADER + body_len(h))?;
    let span = get_uvarint(&mut body)?;
    let num = u16::from_le_bytes([h[8], h[9]]);
    let (min_t, _) = XorIter::new(body, num).next()?;
    let max_t = min_t.wrapping_add(span as i64);
    if max_t < cut {
        return None;
    }
    let meta = ChunkMeta {
        prev: u64::from_le_bytes(h[0..8].try_into().expect("8 bytes")),
        min_t,
        max_t,
        num,
    };
    Some((meta, body))
}

/// Reads a LEB128 value from the front of `p`.
fn get_uvarint(p: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for (i, &b) in p.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            *p = &p[i + 1..];
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(from: i64, n: i64) -> XorAppender {
        let mut c = XorAppender::new();
        for i in 0..n {
            c.append(from + i * 10, (from + i) as f64);
        }
        c
    }

    /// KiB of `files`' mappings resident in this process (`Rss` in `/proc/self/smaps` of
    /// the mappings of files under its directory; the page cache does not count).
    fn mapped_pages(files: &ChunkFiles) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let dir = files.dir.to_str().unwrap();
        let mut ours = false;
        let mut kib = 0;
        for line in smaps.lines() {
            if let Some(rss) = line.strip_prefix("Rss:") {
                if ours {
                    kib += rss
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .unwrap();
                }
            } else if line
                .split_whitespace()
                .next()
                .is_some_and(|f| f.contains('-'))
            {
                // A mapping's first line: `start-end perms offset dev inode path`.
                ours = line
                    .split_whitespace()
                    .nth(5)
                    .is_some_and(|p| p.starts_with(dir));
            }
        }
        kib
    }

    fn samples(files: &ChunkFiles, pos: u64) -> Option<Vec<(i64, f64)>> {
        files.with_chunk(pos, |m, data| XorIter::new(data, m.num).collect())
    }

    /// Chunk files of 4 KiB holding one series' chain of 40 chunks, chunk k holding
    /// t = k*10_000 .. k*10_000 + 1190; the chunks' positions, oldest first.
    fn forty_chunks() -> (tempfile::TempDir, ChunkFiles, Vec<u64>) {
        let dir = tempfile::tempdir().unwrap();
        let files = ChunkFiles::open(&dir.path().join("chunks_head"), 4096).unwrap();
        let mut positions = Vec::new();
        let mut newest = NO_CHUNK;
        for k in 0..40i64 {
            newest = files.append(newest, &chunk(k * 10_000, 120));
            positions.push(newest);
        }
        (dir, files, positions)
    }

    /// A range read gets only the chunks overlapping it, oldest first, found by their
    /// headers (the others are not handed out, so not decoded), over chains longer than the
    /// positions kept inline.
    #[test]
    fn range_reads_skip_chunks_outside_the_range() {
        let (_dir, files, positions) = forty_chunks();
        let newest = positions[39];
        for (mint, maxt, want) in [
            (i64::MIN, i64::MAX, (0..40).collect::<Vec<i64>>()),
            (391_000, i64::MAX, vec![39]),
            (395_000, i64::MAX, vec![]),
            (391_190, 391_190, vec![39]),
            (11_190, 11_190, vec![1]),
            (5_000, 25_000, vec![1, 2]),
            (1_191, 9_999, vec![]),
            (0, 0, vec![0]),
        ] {
            let mut got = Vec::new();
            files.for_each_chunk_in(newest, mint, maxt, &mut |m, _| got.push(m.min_t / 10_000));
            assert_eq!(got, want, "[{mint}, {maxt}]");
        }
    }

    /// Single reads copied with `pread` hand out what reads through the mapping do, for
    /// records in files and still in the write buffer, map nothing into the process, and
    /// find nothing for truncated chunks.
    #[test]
    fn copied_single_reads_match_mapped_ones() {
        let (_dir, files, positions) = forty_chunks();
        // Some records are in files now, the newest ones still buffered.
        let read = |m: ChunkMeta, data: &[u8]| (m, XorIter::new(data, m.num).collect::<Vec<_>>());
        let mut in_files = 0;
        for &pos in &positions {
            let copied = files.with_chunk(pos, read);
            assert!(copied.is_some());
            in_files += usize::from(files.files.read().contains_key(&((pos >> 32) as u32)));
        }
        assert!(in_files > 0, "some records were read from files");
        assert_eq!(mapped_pages(&files), 0, "copied reads map nothing");
        for &pos in &positions {
            assert_eq!(
                files.with_chunk(pos, read),
                files.with_chunk_mapped(pos, read),
                "{pos:x}"
            );
        }
        assert!(mapped_pages(&files) > 0, "the oracle reads the mappings");
        files.truncate_before(200_000).unwrap();
        assert_eq!(files.with_chunk(positions[0], read), None);
        assert_eq!(files.with_chunk(NO_CHUNK, read), None);
        assert!(files.with_chunk(positions[39], read).is_some());
    }

    /// Range reads (copied in blocks, kept by the thread) hand out the same bytes as single
    /// reads: for records across block boundaries, records still in the write buffer, and
    /// two chunk files whose positions coincide read by one thread in turn.
    #[test]
    fn copied_range_reads_match_single_reads() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let mut sets = Vec::new();
        for (n, dir) in dirs.iter().enumerate() {
            let files = ChunkFiles::open(&dir.path().join("c"), 64 << 10).unwrap();
            // Chunks of 1..150 samples: records of ~20 to ~1,400 bytes, many crossing 4 KiB.
            let mut newest = NO_CHUNK;
            for k in 0..300i64 {
                let from = k * 10_000 + n as i64;
                newest = files.append(newest, &chunk(from, 1 + (k * 37 + n as i64) % 150));
            }
            sets.push((files, newest));
        }
        for round in 0..2 {
            for (n, (files, newest)) in sets.iter().enumerate() {
                let mut got = Vec::new();
                files.for_each_chunk_in(*newest, i64::MIN, i64::MAX, &mut |m, data| {
                    got.push((m, data.to_vec()));
                });
                assert_eq!(got.len(), 300, "round {round} files {n}");
                let mut pos = *newest;
                for (m, data) in got.iter().rev() {
                    let want = files
                        .with_chunk_mapped(pos, |wm, wd| (wm, wd.to_vec()))
                        .unwrap();
                    assert_eq!((*m, data), (want.0, &want.1), "round {round} files {n}");
                    pos = m.prev;
                }
            }
            // Everything written: the second round reads only files.
            for (files, _) in &sets {
                files.flush(&mut files.writer.lock());
            }
        }
    }

    #[test]
    fn chains_survive_buffering_rotation_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let files = ChunkFiles::open(&dir.path().join("chunks_head"), 4096).unwrap();
        // Three series interleaved, 40 chunks each of 120 samples: several files, several
        // flushes; every chain walks back intact.
        let mut last = [NO_CHUNK; 3];
        let mut all: Vec<(u64, i64)> = Vec::new();
        for k in 0..40i64 {
            for (s, l) in last.iter_mut().enumerate() {
                let c = chunk(k * 10_000 + s as i64, 120);
                *l = files.append(*l, &c);
                all.push((*l, k * 10_000 + s as i64));
            }
        }
        let stats = files.stats();
        assert!(stats.files >= 2, "{stats:?}");
        assert_eq!(stats.chunks_written, 120);
        assert_eq!(stats.write_errors, 0);
        let on_disk: u64 = std::fs::read_dir(dir.path().join("chunks_head"))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert_eq!(stats.disk_bytes, on_disk);
        assert_eq!(stats.disk_bytes, stats.bytes_written, "nothing deleted yet");
        for &(pos, from) in &all {
            let got = samples(&files, pos).expect("readable");
            assert_eq!(got.len(), 120);
            assert_eq!(got[0], (from, from as f64));
        }
        for (s, &l) in last.iter().enumerate() {
            let mut pos = l;
            let mut k = 40;
            while let Some(m) = files.meta(pos) {
                k -= 1;
                assert_eq!(m.min_t, k * 10_000 + s as i64);
                pos = m.prev;
            }
            assert_eq!(k, 0, "series {s}: whole chain walked");
        }
        // Unmapping the pages read so far loses nothing: they come back from the file.
        files.release_resident();
        for &(pos, from) in &all {
            assert_eq!(
                samples(&files, pos).map(|v| v[119]),
                Some((from + 1190, (from + 119) as f64))
            );
        }
        // Cut in the middle: earlier chunks vanish, later stay, old files are deleted.
        let deleted = files.truncate_before(20 * 10_000).unwrap();
        assert!(deleted >= 1);
        for &(pos, from) in &all {
            assert_eq!(samples(&files, pos).is_some(), from + 1190 >= 20 * 10_000);
        }
        assert!(files.stats().files < stats.files);
    }

    #[test]
    fn unwritable_dir_keeps_chunks_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chunks_head");
        let files = ChunkFiles::open(&path, 64 << 10).unwrap();
        // A plain file where the directory was: every file creation fails.
        std::fs::remove_dir_all(&path).unwrap();
        std::fs::write(&path, b"in the way").unwrap();
        let mut last = NO_CHUNK;
        let mut positions = Vec::new();
        for k in 0..8000 {
            last = files.append(last, &chunk(k * 10_000, 120));
            positions.push(last);
        }
        let stats = files.stats();
        assert!(stats.write_errors > 0, "{stats:?}");
        assert!(stats.pending_bytes > files.flush_bytes as u64, "{stats:?}");
        for (k, &pos) in positions.iter().enumerate() {
            assert_eq!(samples(&files, pos).unwrap()[0].0, k as i64 * 10_000);
        }
        // The disk comes back: the next flush writes everything out.
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let mut w = files.writer.lock();
        files.flush(&mut w);
        assert!(w.pending.is_empty());
        drop(w);
        for (k, &pos) in positions.iter().enumerate() {
            assert_eq!(samples(&files, pos).unwrap()[0].0, k as i64 * 10_000);
        }
        assert!(files.stats().files > 1);
    }

    #[test]
    fn readers_racing_writes_and_rotations_always_find_the_chunk() {
        let dir = tempfile::tempdir().unwrap();
        // Tiny files: a write every 2 KiB and a new file every ~45 chunks.
        let files = Arc::new(ChunkFiles::open(&dir.path().join("c"), 4096).unwrap());
        let written = Arc::new(parking_lot::Mutex::new(Vec::<(u64, i64)>::new()));
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (files, written, done) = (files.clone(), written.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut checked = 0u64;
                    while !done.load(Ordering::Acquire) {
                        let recent: Vec<(u64, i64)> =
                            written.lock().iter().rev().take(8).copied().collect();
                        for (pos, from) in recent {
                            let got = samples(&files, pos).expect("a written chunk is readable");
                            assert_eq!(got[0].0, from);
                            checked += 1;
                        }
                    }
                    checked
                })
            })
            .collect();
        for k in 0..20_000i64 {
            let pos = files.append(NO_CHUNK, &chunk(k * 10_000, 20));
            written.lock().push((pos, k * 10_000));
        }
        done.store(true, Ordering::Release);
        for r in readers {
            assert!(r.join().unwrap() > 0);
        }
        assert!(files.stats().files > 100);
    }
}
