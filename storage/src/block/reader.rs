//! An open block: its meta, mapped index and chunk files. Immutable and `Sync`: queries
//! share it through an `Arc` and keep it (and its mappings) alive while they read.

use std::path::{Path, PathBuf};

use roaring::RoaringBitmap;

use super::BlockError;
use super::chunks::{ChunkFiles, PageCache};
use super::index::{INDEX_FILE, Index};
use super::meta::BlockMeta;
use crate::labels::Labels;
use crate::matcher::Matcher;

/// A persistent block opened for reading.
#[derive(Debug)]
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    index: Index,
    chunks: ChunkFiles,
    size_bytes: u64,
}

impl Block {
    /// Opens the block in `dir`, checking the index checksums and chunk file headers.
    pub fn open(dir: &Path) -> Result<Block, BlockError> {
        let meta = BlockMeta::read(dir)?;
        let index_path = dir.join(INDEX_FILE);
        let index = Index::open(&index_path)?;
        let chunks = ChunkFiles::open(dir)?;
        let index_bytes = std::fs::metadata(&index_path).map_or(0, |m| m.len());
        let meta_bytes = std::fs::metadata(dir.join(super::meta::META_FILE)).map_or(0, |m| m.len());
        Ok(Block {
            dir: dir.to_owned(),
            size_bytes: index_bytes + meta_bytes + chunks.bytes(),
            meta,
            index,
            chunks,
        })
    }

    /// Unmaps the chunk pages reads brought into this process (the index stays mapped: every
    /// select reads it).
    pub fn release_mapped_pages(&self) {
        self.chunks.release_resident();
    }

    /// The block's metadata.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// The block's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes on disk (index, chunks, meta).
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Number of series.
    pub fn num_series(&self) -> u32 {
        self.index.num_series() as u32
    }

    /// Whether the block holds samples in `[mint, maxt]` (inclusive).
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.meta.min_time <= maxt && mint < self.meta.max_time
    }

    /// Ids of the series matching any of `sets`; ascending ids are federation order.
    pub fn select(&self, sets: &[Vec<Matcher>]) -> Result<RoaringBitmap, BlockError> {
        let mut out = RoaringBitmap::new();
        for set in sets {
            out |= self.index.postings_for_matchers(set)?;
        }
        Ok(out)
    }

    /// The label names of the block's series, sorted bytewise.
    pub fn label_names(&self) -> Vec<&str> {
        self.index.label_names()
    }

    /// The values of label `name` in the block, sorted bytewise.
    pub fn label_values(&self, name: &str) -> Vec<&str> {
        self.index.label_values(name)
    }

    /// The label set of series `id` (`id < num_series()`).
    pub fn labels(&self, id: u32) -> Result<Labels, BlockError> {
        self.index.labels(id)
    }

    /// Calls `f(name, value)` for every label of series `id`, in label order, without
    /// building a label set.
    pub fn for_each_label(&self, id: u32, f: &mut dyn FnMut(&str, &str)) -> Result<(), BlockError> {
        let (mut l, mut c) = (Vec::new(), Vec::new());
        self.index.series(id, &mut l, &mut c)?;
        for &(n, v) in &l {
            f(self.index.symbol(n), self.index.symbol(v));
        }
        Ok(())
    }

    /// Appends series `id`'s samples with `mint <= t <= maxt` to `out`, in time order.
    pub fn samples(
        &self,
        id: u32,
        mint: i64,
        maxt: i64,
        cache: &mut PageCache,
        out: &mut Vec<(i64, f64)>,
    ) -> Result<(), BlockError> {
        let (mut l, mut chunks) = cache.take_series_buffers();
        let res = self.index.series(id, &mut l, &mut chunks).and_then(|()| {
            chunks
                .iter()
                .filter(|c| c.maxt >= mint && c.mint <= maxt)
                .try_for_each(|c| self.chunks.read(c, mint, maxt, cache, out))
        });
        cache.return_series_buffers(l, chunks);
        res
    }
}
