//! Writes one block: series arrive in federation order with their samples; chunks stream to
//! the chunk files, the index and `meta.json` are written at [`BlockWriter::finish`], and the
//! temp directory is renamed into place (docs/format/block.md "Atomic creation").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hashbrown::HashMap;
use roaring::RoaringBitmap;

use super::chunks::{ChunkMeta, ChunkWriter, MAX_SAMPLES_PER_CHUNK};
use super::encoding::Decbuf;
use super::index::{
    INDEX_FILE, SERIES_PER_PAGE, decode_series, encode_series, encode_series_page, write_index,
};
use super::meta::{BlockMeta, BlockStats, Compaction, META_VERSION};
use super::{BlockError, TMP_CREATION_SUFFIX, sync_dir};
use crate::labels::Labels;

/// Builds a block in `<parent>/<ULID>.tmp-for-creation`.
pub struct BlockWriter {
    parent: PathBuf,
    ulid: ulid::Ulid,
    tmp: PathBuf,
    /// Removes the temp directory unless the block was renamed into place.
    guard: TmpDirGuard,
    min_time: i64,
    max_time: i64,
    chunks: ChunkWriter,
    symbol_ids: HashMap<String, u32>,
    symbols: Vec<String>,
    /// Series entries with provisional symbol ids (remapped to sorted ids at finish).
    series: Vec<u8>,
    count: u32,
    postings: HashMap<(u32, u32), RoaringBitmap>,
    stats: BlockStats,
    level: u32,
    sources: Vec<String>,
    label_buf: Vec<(u32, u32)>,
    chunk_buf: Vec<ChunkMeta>,
}

/// Deletes a temp block directory when dropped while armed: a failed or abandoned block
/// (a full disk, an error while merging) leaves nothing behind (Prometheus does the same).
/// `Db::open` still removes leftovers of a crash.
struct TmpDirGuard(Option<PathBuf>);

impl Drop for TmpDirGuard {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take()
            && let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove temporary block directory");
        }
    }
}

impl std::fmt::Debug for BlockWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockWriter")
            .field("tmp", &self.tmp)
            .finish()
    }
}

impl BlockWriter {
    /// Starts a block for `[min_time, max_time)` under `parent` (level 1, its own source).
    pub fn create(parent: &Path, min_time: i64, max_time: i64) -> Result<BlockWriter, BlockError> {
        let ulid = ulid::Ulid::generate();
        let tmp = parent.join(format!("{ulid}{TMP_CREATION_SUFFIX}"));
        std::fs::create_dir_all(&tmp).map_err(|e| BlockError::io(&tmp, e))?;
        Ok(BlockWriter {
            parent: parent.to_owned(),
            ulid,
            chunks: ChunkWriter::create(&tmp)?,
            guard: TmpDirGuard(Some(tmp.clone())),
            tmp,
            min_time,
            max_time,
            symbol_ids: HashMap::new(),
            symbols: Vec::new(),
            series: Vec::new(),
            count: 0,
            postings: HashMap::new(),
            stats: BlockStats::default(),
            level: 1,
            sources: vec![ulid.to_string()],
            label_buf: Vec::new(),
            chunk_buf: Vec::new(),
        })
    }

    /// Sets the compaction level and source blocks (for merges).
    pub fn with_compaction(mut self, level: u32, mut sources: Vec<String>) -> Self {
        sources.sort();
        sources.dedup();
        self.level = level;
        self.sources = sources;
        self
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.symbol_ids.get(s) {
            return id;
        }
        let id = self.symbols.len() as u32;
        self.symbols.push(s.to_owned());
        self.symbol_ids.insert(s.to_owned(), id);
        id
    }

    /// Adds a series. Calls must come in federation order (metric name, then label set);
    /// `samples` must have strictly increasing timestamps inside the block's range. A series
    /// without samples is skipped.
    pub fn add_series(
        &mut self,
        labels: &Labels,
        samples: &[(i64, f64)],
    ) -> Result<(), BlockError> {
        if samples.is_empty() {
            return Ok(());
        }
        debug_assert!(samples.first().is_some_and(|s| s.0 >= self.min_time));
        debug_assert!(samples.last().is_some_and(|s| s.0 < self.max_time));
        let mut label_buf = std::mem::take(&mut self.label_buf);
        label_buf.clear();
        for l in labels.iter() {
            let pair = (self.intern(&l.name), self.intern(&l.value));
            label_buf.push(pair);
        }
        self.chunk_buf.clear();
        for part in samples.chunks(MAX_SAMPLES_PER_CHUNK) {
            let c = self.chunks.append(part)?;
            self.chunk_buf.push(c);
        }
        encode_series(&label_buf, &self.chunk_buf, &mut self.series);
        for &pair in &label_buf {
            self.postings.entry(pair).or_default().insert(self.count);
        }
        self.label_buf = label_buf;
        self.count += 1;
        self.stats.num_series += 1;
        self.stats.num_samples += samples.len() as u64;
        self.stats.num_chunks += self.chunk_buf.len() as u64;
        Ok(())
    }

    /// Writes the index and meta, renames the block into place and returns its meta; a block
    /// without series is not created (`None`, the temp directory removed).
    pub fn finish(self) -> Result<Option<BlockMeta>, BlockError> {
        let BlockWriter {
            parent,
            ulid,
            tmp,
            mut guard,
            min_time,
            max_time,
            chunks,
            symbols,
            series,
            count,
            postings,
            stats,
            level,
            sources,
            ..
        } = self;
        chunks.finish()?;
        if count == 0 {
            guard.0 = None;
            std::fs::remove_dir_all(&tmp).map_err(|e| BlockError::io(&tmp, e))?;
            return Ok(None);
        }
        // Symbols sorted bytewise: remap the provisional ids.
        let mut order: Vec<u32> = (0..symbols.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| symbols[a as usize].cmp(&symbols[b as usize]));
        let mut remap = vec![0u32; symbols.len()];
        for (new, &old) in order.iter().enumerate() {
            remap[old as usize] = new as u32;
        }
        let sorted: Vec<String> = order.iter().map(|&o| symbols[o as usize].clone()).collect();
        drop(symbols);
        let mut out = Vec::with_capacity(series.len() / 4);
        let mut page = Vec::new();
        let mut compressor = zstd::bulk::Compressor::new(super::chunks::ZSTD_LEVEL)
            .map_err(|e| BlockError::io(&tmp, e))?;
        let mut d = Decbuf::new(&series);
        let (mut l, mut c) = (Vec::new(), Vec::new());
        for i in 0..count as usize {
            decode_series(&mut d, &mut l, &mut c)
                .ok_or_else(|| BlockError::corruption(&tmp, 0, "series buffer"))?;
            for p in l.iter_mut() {
                *p = (remap[p.0 as usize], remap[p.1 as usize]);
            }
            encode_series(&l, &c, &mut page);
            if (i + 1) % SERIES_PER_PAGE == 0 || i + 1 == count as usize {
                encode_series_page(&page, &mut out, &mut compressor)
                    .map_err(|e| BlockError::io(&tmp, e))?;
                page.clear();
            }
        }
        drop(series);
        let postings: BTreeMap<(u32, u32), RoaringBitmap> = postings
            .into_iter()
            .map(|((n, v), mut p)| {
                // Series of one name are contiguous: run containers shrink most postings.
                p.optimize();
                ((remap[n as usize], remap[v as usize]), p)
            })
            .collect();
        write_index(
            &tmp.join(INDEX_FILE),
            &sorted,
            &out,
            count as usize,
            &postings,
        )?;
        let meta = BlockMeta {
            ulid: ulid.to_string(),
            min_time,
            max_time,
            stats,
            compaction: Compaction { level, sources },
            version: META_VERSION,
        };
        meta.write(&tmp)?;
        sync_dir(&tmp.join("chunks"))?;
        sync_dir(&tmp)?;
        let dst = parent.join(ulid.to_string());
        std::fs::rename(&tmp, &dst).map_err(|e| BlockError::io(&dst, e))?;
        guard.0 = None;
        sync_dir(&parent)?;
        Ok(Some(meta))
    }
}
