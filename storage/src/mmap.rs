//! Memory-mapped files (memmap2), and the cache prefetch hint their readers use: the engine's
//! only `unsafe` code (the server's is in `src/alloc.rs` and `src/thread_nice.rs`).
//!
//! [`MmapColumn`] is a growable array of `u64` words backed by a file: a 64-byte header
//! (magic, version, element count, padding) then the words, little-endian (see
//! docs/format/head.md).
//! It grows by extending the file and remapping; callers serialize growth with their own
//! lock (`&mut self`), and all reads borrow `&self`, so no view outlives a remap.
#![allow(unsafe_code)]

#[cfg(target_endian = "big")]
compile_error!(
    "fedstore's memory-mapped formats are little-endian; big-endian targets are unsupported"
);

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

use crate::error::Error;

/// Magic number at the start of every column file (`FSC1` read as little-endian u32).
pub const COLUMN_MAGIC: u32 = u32::from_le_bytes(*b"FSC1");
/// Format version of column files (2: the header is padded to 64 bytes).
pub const COLUMN_VERSION: u32 = 2;
/// Header size in bytes: magic u32, version u32, count u64, then zeros to one cache line, so
/// the words start cache-line aligned and a 32-byte record never straddles two lines (with
/// version 1's 16-byte header every odd record did).
const HEADER_BYTES: usize = 64;
/// Header size in words.
const HEADER_WORDS: usize = HEADER_BYTES / 8;
/// Smallest capacity (in elements) a column file is created with.
const MIN_CAPACITY: usize = 1024;

/// Asks the CPU to start loading the cache line holding `*p`, without waiting for it: a walk
/// over scattered series issues the loads of the next ones while it renders the current ones.
/// Only a hint (no effect where the target has no stable prefetch instruction).
#[inline(always)]
pub fn prefetch<T: ?Sized>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing architecturally and never faults; `p` is a live reference.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((p as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// A file-backed, growable `[u64]`.
///
/// Invariant: `map` maps the whole file, `map.len() == (HEADER_WORDS + cap) * 8`, and the
/// first `len` words after the header are initialized (file bytes are zero-filled on growth).
pub struct MmapColumn {
    path: PathBuf,
    file: File,
    map: MmapMut,
    len: usize,
    cap: usize,
}

impl std::fmt::Debug for MmapColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmapColumn")
            .field("path", &self.path)
            .field("len", &self.len)
            .field("cap", &self.cap)
            .finish()
    }
}

impl MmapColumn {
    /// Creates `path` (truncating any previous content) as an empty column.
    pub fn create(path: &Path) -> Result<MmapColumn, Error> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let cap = MIN_CAPACITY;
        file.set_len(((HEADER_WORDS + cap) * 8) as u64)
            .map_err(|e| Error::io(path, e))?;
        let map = map_file(&file, path)?;
        let mut col = MmapColumn {
            path: path.to_owned(),
            file,
            map,
            len: 0,
            cap,
        };
        col.write_header();
        Ok(col)
    }

    /// Number of elements.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the column has no elements.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements.
    #[inline]
    pub fn as_slice(&self) -> &[u64] {
        &self.words()[HEADER_WORDS..HEADER_WORDS + self.len]
    }

    /// The elements, mutably.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u64] {
        let len = self.len;
        &mut self.words_mut()[HEADER_WORDS..HEADER_WORDS + len]
    }

    /// Appends one element, growing (remapping) the file when full.
    #[cfg(test)]
    pub fn push(&mut self, v: u64) -> Result<(), Error> {
        if self.len == self.cap {
            self.grow(self.cap * 2)?;
        }
        let i = HEADER_WORDS + self.len;
        self.words_mut()[i] = v;
        self.len += 1;
        self.write_len();
        Ok(())
    }

    /// Appends `words`, growing (remapping) the file when full.
    pub fn extend_from_slice(&mut self, words: &[u64]) -> Result<(), Error> {
        let need = self.len + words.len();
        if need > self.cap {
            self.grow(need.next_power_of_two().max(self.cap * 2))?;
        }
        let start = HEADER_WORDS + self.len;
        self.words_mut()[start..start + words.len()].copy_from_slice(words);
        self.len = need;
        self.write_len();
        Ok(())
    }

    /// Bytes of the mapping (header included).
    pub fn mapped_bytes(&self) -> usize {
        self.map.len()
    }

    fn grow(&mut self, new_cap: usize) -> Result<(), Error> {
        let bytes = ((HEADER_WORDS + new_cap) * 8) as u64;
        self.file
            .set_len(bytes)
            .map_err(|e| Error::io(&self.path, e))?;
        self.map = map_file(&self.file, &self.path)?;
        self.cap = new_cap;
        Ok(())
    }

    fn write_header(&mut self) {
        let hdr = u64::from(COLUMN_MAGIC) | (u64::from(COLUMN_VERSION) << 32);
        self.words_mut()[0] = hdr;
        self.write_len();
    }

    fn write_len(&mut self) {
        self.words_mut()[1] = self.len as u64;
    }

    #[inline]
    fn words(&self) -> &[u64] {
        let bytes: &[u8] = &self.map;
        // SAFETY: the mapping is page-aligned (so 8-aligned) and `bytes.len()` is a multiple
        // of 8 by the struct invariant; every bit pattern is a valid u64; the slice borrows
        // `self`, so the mapping cannot be replaced while it lives.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<u64>(), bytes.len() / 8) }
    }

    #[inline]
    fn words_mut(&mut self) -> &mut [u64] {
        let bytes: &mut [u8] = &mut self.map;
        // SAFETY: as in `words`; the unique borrow of `self` makes this the only view.
        unsafe { std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<u64>(), bytes.len() / 8) }
    }
}

fn map_file(file: &File, path: &Path) -> Result<MmapMut, Error> {
    // SAFETY: the file lives in the head directory, which this process owns exclusively
    // while the head is open (nothing else truncates or writes it); the mapping covers
    // exactly the file's current length, which only we change, and only while holding
    // `&mut MmapColumn`, remapping right after.
    let map = unsafe { MmapMut::map_mut(file) }.map_err(|e| Error::io(path, e))?;
    debug_assert_eq!(map.as_ptr().align_offset(8), 0);
    Ok(map)
}

/// A read-only mapping of a whole immutable file (block index and chunk files, see
/// docs/format/block.md). Added for `block/`: blocks are never written after their rename.
pub struct MmapRead {
    map: memmap2::Mmap,
}

impl std::fmt::Debug for MmapRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmapRead")
            .field("len", &self.map.len())
            .finish()
    }
}

impl MmapRead {
    /// Maps `path` read-only.
    pub fn open(path: &Path) -> std::io::Result<MmapRead> {
        let file = File::open(path)?;
        // SAFETY: block files are immutable once their directory is renamed into place: this
        // process never writes, truncates or renames them while mapped (deletion unlinks the
        // directory, which keeps existing mappings valid on Unix).
        let map = unsafe { memmap2::Mmap::map(&file) }?;
        Ok(MmapRead { map })
    }

    /// The file's bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.map
    }

    /// See [`release_resident`].
    pub fn release_resident(&self) {
        release_resident(&self.map);
    }
}

/// Drops this process's page-table entries for the file pages read through `map`, so they
/// stop counting in its RSS; the pages stay in the kernel's page cache and the next read maps
/// them again with a minor fault. Without it, a node whose queries read the head's chunk files
/// saw RSS climb by every page any query ever touched (docs/benchmarks.md, "Soak").
fn release_resident(map: &memmap2::Mmap) {
    // SAFETY: `map` is a shared, read-only mapping of a file this process never writes through
    // a mapping: MADV_DONTNEED only unmaps its pages, and any later read (including through a
    // slice borrowed now) faults the same file bytes back in. Nothing is lost or changed.
    let r = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
    if let Err(e) = r {
        tracing::debug!(err = %e, "madvise(MADV_DONTNEED) on a chunk file failed");
    }
}

/// The window the kernel maps around a read fault in a file mapping (Linux's default
/// `fault_around_bytes`): one read of a few bytes makes this much of the file resident.
pub const FAULT_AROUND_BYTES: usize = 64 << 10;

/// Most bytes reads may leave mapped in one set of mappings (the head's chunk files, one
/// block's chunk files) before their pages are released: a query reading the chunks of many
/// series, scattered over the files, otherwise mapped every page of its time range (a 1 h
/// rate over 10k of 1M series grew RSS by 625 MiB; docs/benchmarks.md, "Query API").
pub const MAX_MAPPED_BY_READS: usize = 64 << 20;

/// Counts the bytes reads may have mapped through a set of mappings since their pages were
/// last released, and says when to release them again ([`release_resident`] on each), so
/// reads keep at most about [`MAX_MAPPED_BY_READS`] of them resident. Shared by all readers:
/// callers add their reads in batches (one atomic add per batch).
#[derive(Debug)]
pub struct ResidentBudget {
    spent: std::sync::atomic::AtomicUsize,
    limit: usize,
    releases: std::sync::atomic::AtomicU64,
}

impl ResidentBudget {
    /// A budget of `limit` bytes.
    pub const fn new(limit: usize) -> Self {
        ResidentBudget {
            spent: std::sync::atomic::AtomicUsize::new(0),
            limit,
            releases: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Adds `bytes` that reads may have mapped; `true` (to one caller only) when the budget is
    /// spent: that caller releases the mappings' pages, and the count starts again.
    #[inline]
    pub fn spend(&self, bytes: usize) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        if bytes == 0 || self.spent.fetch_add(bytes, Relaxed) + bytes < self.limit {
            return false;
        }
        // Of the callers that saw the limit pass, the one that takes the count releases.
        if self.spent.swap(0, Relaxed) < self.limit {
            return false;
        }
        self.releases.fetch_add(1, Relaxed);
        true
    }

    /// How many times [`ResidentBudget::spend`] asked for a release.
    #[cfg(test)]
    pub fn releases(&self) -> u64 {
        self.releases.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// An append-only file read through a fixed-size mapping (the head's chunk files, see
/// docs/format/head.md): bytes are written with `pwrite` under the caller's lock and become
/// readable through the mapping once [`AppendFile::append_at`] has published them.
///
/// Invariant: `written <= file length` and `written <= map.len()`; [`AppendFile::read`] hands
/// out only bytes below `written`, so no access ever reaches past the end of the file (which
/// would raise SIGBUS): the mapping may be longer than the file.
pub struct AppendFile {
    path: PathBuf,
    file: File,
    map: memmap2::Mmap,
    written: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for AppendFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppendFile")
            .field("path", &self.path)
            .field("written", &self.written())
            .field("mapped", &self.map.len())
            .finish()
    }
}

impl AppendFile {
    /// Creates `path` empty (truncating any previous content) and maps `map_len` bytes of it.
    pub fn create(path: &Path, map_len: usize) -> std::io::Result<AppendFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        // SAFETY: the file is private to this process (the head's `chunks_head` directory,
        // emptied at open) and only ever grows through `append_at`; it is never truncated while
        // mapped (deletion unlinks it, which keeps the pages valid). Bytes past the end of the
        // file are never read (see the invariant), so the longer mapping cannot fault.
        let map = unsafe { memmap2::MmapOptions::new().len(map_len).map(&file) }?;
        Ok(AppendFile {
            path: path.to_owned(),
            file,
            map,
            written: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Opens an existing `path`, cuts it to its first `keep` bytes (they become the readable
    /// bytes) and maps `map_len` bytes of it; appends go on at `keep`. A head snapshot reuses
    /// its chunk files this way (docs/format/snapshot.md).
    pub fn open_existing(path: &Path, map_len: usize, keep: usize) -> std::io::Result<AppendFile> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        file.set_len(keep as u64)?;
        // SAFETY: as in `create`: the file is private to this process, cut to `keep` before it
        // is mapped and only grows afterwards; bytes past `written` (= `keep`) are never read.
        let map = unsafe {
            memmap2::MmapOptions::new()
                .len(map_len.max(keep))
                .map(&file)
        }?;
        Ok(AppendFile {
            path: path.to_owned(),
            file,
            map,
            written: std::sync::atomic::AtomicUsize::new(keep),
        })
    }

    /// Makes the written bytes durable (`fdatasync`).
    pub fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    /// Bytes readable so far.
    #[inline]
    pub fn written(&self) -> usize {
        self.written.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Writes `bytes` at `offset`, which must be [`AppendFile::written`] (callers serialize
    /// appends with their own lock), then publishes them to readers. On error nothing is
    /// published; a retry at the same offset overwrites any partial write.
    pub fn append_at(&self, offset: usize, bytes: &[u8]) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let end = offset + bytes.len();
        if offset != self.written() || end > self.map.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "append at {offset}..{end} of {} (written {}, mapped {})",
                    self.path.display(),
                    self.written(),
                    self.map.len()
                ),
            ));
        }
        self.file.write_all_at(bytes, offset as u64)?;
        self.written
            .store(end, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// `len` bytes at `offset`, if they are all written.
    #[inline]
    pub fn read(&self, offset: usize, len: usize) -> Option<&[u8]> {
        let end = offset.checked_add(len)?;
        if end > self.written() {
            return None;
        }
        self.map.get(offset..end)
    }

    /// Copies up to `max` written bytes at `offset` into `buf` (replacing its contents) with
    /// `pread`, not through the mapping, so nothing is mapped into the process; `false` when
    /// `offset` is not written yet or the read fails.
    pub fn copy_at(&self, offset: usize, max: usize, buf: &mut Vec<u8>) -> bool {
        use std::os::unix::fs::FileExt;
        let written = self.written();
        if offset >= written {
            return false;
        }
        buf.clear();
        buf.resize(max.min(written - offset), 0);
        self.file.read_exact_at(buf, offset as u64).is_ok()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// See [`release_resident`].
    pub fn release_resident(&self) {
        release_resident(&self.map);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_grow_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c");
        let mut c = MmapColumn::create(&path).unwrap();
        assert!(c.is_empty());
        let n = MIN_CAPACITY * 5 + 3;
        for i in 0..n as u64 {
            c.push(i * 7).unwrap();
        }
        assert_eq!(c.len(), n);
        assert!(
            c.as_slice()
                .iter()
                .enumerate()
                .all(|(i, &v)| v == i as u64 * 7)
        );
        assert_eq!(
            c.as_slice().as_ptr().align_offset(64),
            0,
            "words cache-line aligned"
        );
        c.extend_from_slice(&[1, 2, 3]).unwrap();
        assert_eq!(&c.as_slice()[n..], &[1, 2, 3]);
        c.as_mut_slice()[3] = u64::MAX;
        assert_eq!(c.as_slice()[3], u64::MAX);
        drop(c);
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(&raw[0..4], b"FSC1");
        assert_eq!(
            u32::from_le_bytes(raw[4..8].try_into().unwrap()),
            COLUMN_VERSION
        );
        assert_eq!(
            u64::from_le_bytes(raw[8..16].try_into().unwrap()),
            n as u64 + 3
        );
        assert_eq!(
            u64::from_le_bytes(raw[HEADER_BYTES + 8..HEADER_BYTES + 16].try_into().unwrap()),
            7
        );
        assert!(
            raw[16..HEADER_BYTES].iter().all(|&b| b == 0),
            "header padding"
        );
    }

    #[test]
    fn resident_budget_asks_for_one_release_per_limit() {
        let b = ResidentBudget::new(100);
        let asked: Vec<bool> = [0, 40, 40, 40, 99, 1, 250]
            .iter()
            .map(|&n| b.spend(n))
            .collect();
        // 40+40+40 passes 100 (released, count restarts), 99+1 reaches it, 250 passes it.
        assert_eq!(asked, [false, false, false, true, false, true, true]);
        assert_eq!(b.releases(), 3);
    }

    #[test]
    fn append_file_publishes_only_written_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let f = AppendFile::create(&dir.path().join("a"), 1 << 20).unwrap();
        assert_eq!(f.written(), 0);
        assert_eq!(f.read(0, 1), None, "nothing written yet");
        f.append_at(0, b"hello").unwrap();
        assert_eq!(f.read(0, 5), Some(&b"hello"[..]));
        assert_eq!(f.read(3, 3), None, "past the written end");
        assert!(f.append_at(2, b"x").is_err(), "not at the end");
        assert!(
            f.append_at(5, &vec![0u8; 1 << 20]).is_err(),
            "past the mapping"
        );
        f.append_at(5, b" world").unwrap();
        assert_eq!(f.read(0, 11), Some(&b"hello world"[..]));
        assert_eq!(std::fs::read(f.path()).unwrap(), b"hello world");
        assert_eq!(f.read(usize::MAX, 2), None);
    }
}
