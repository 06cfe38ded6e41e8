//! What range reads of the head's chunk files copy, per query thread: the file blocks read
//! with `pread` (a small cache, so the chunks of neighbouring series come with one read) and
//! the wanted chunks' bytes. Nothing here is mapped, so nothing here counts in RSS beyond the
//! buffers themselves (see [`super::ChunkFiles::for_each_chunk_in`]).

use super::{ChunkMeta, RECORD_HEADER, body_len};
use crate::mmap::AppendFile;

/// Bytes copied per `pread` by [`super::ChunkFiles::for_each_chunk_in`], aligned: the
/// chunks of series appended one after the other (the series of one scrape or remote-write
/// request) lie side by side, so a query reading them in label order finds most in a block
/// read for a neighbour.
pub(super) const COPY_BLOCK: usize = 4096;
/// Blocks each thread keeps: one per file a series' chain crosses (a 2 h head is 4-8 chunks
/// in as many files), so the next series' chain finds them.
const CACHED_BLOCKS: usize = 16;

thread_local! {
    /// The buffers of [`super::ChunkFiles::for_each_chunk_in`], kept by each query thread so
    /// a read allocates nothing once warm.
    pub(super) static COPIES: std::cell::Cell<Copies> = std::cell::Cell::new(Copies::default());
}

/// What one chain read copies: the file blocks read, and the wanted chunks' bytes.
#[derive(Default)]
pub(super) struct Copies {
    pub(super) blocks: BlockCache,
    /// XOR bytes of the chunks read so far (the unwanted ones cut off again).
    pub(super) kept: Vec<u8>,
    /// The wanted chunks, newest first: header and their bytes' range in `kept`.
    pub(super) wanted: Vec<(ChunkMeta, usize, usize)>,
}

/// The last [`CACHED_BLOCKS`] file blocks a thread copied, replaced in turn. Written bytes
/// never change and a file number is never reused by the same [`super::ChunkFiles`], so a block
/// stays right for as long as it is kept; one cut short by the written end is read again
/// when a record needs more.
#[derive(Default)]
pub(super) struct BlockCache {
    /// `(chunk files id, file, block offset)` and the bytes copied from there.
    slots: Vec<((u64, u32, usize), Vec<u8>)>,
    next: usize,
}

impl BlockCache {
    /// The record at `off` in file `seq` of chunk files `id` (header, body, maybe more), from
    /// a cached block or a new read; `None` when it is not all written.
    pub(super) fn record(
        &mut self,
        id: u64,
        seq: u32,
        file: &AppendFile,
        off: usize,
    ) -> Option<&[u8]> {
        let block = off & !(COPY_BLOCK - 1);
        let at = off - block;
        let key = (id, seq, block);
        // Whether `buf` (block bytes) holds the whole record.
        let holds = |buf: &[u8]| {
            buf.get(at..at + RECORD_HEADER)
                .is_some_and(|h| buf.len() >= at + RECORD_HEADER + body_len(h))
        };
        let slot = match self
            .slots
            .iter()
            .position(|(k, buf)| *k == key && holds(buf))
        {
            Some(i) => i,
            None => {
                let i = if self.slots.len() < CACHED_BLOCKS {
                    self.slots.push((key, Vec::with_capacity(COPY_BLOCK)));
                    self.slots.len() - 1
                } else {
                    self.next = (self.next + 1) % CACHED_BLOCKS;
                    self.next
                };
                let (k, buf) = &mut self.slots[i];
                *k = key;
                if !file.copy_at(block, COPY_BLOCK.max(at + RECORD_HEADER), buf) {
                    buf.clear();
                    return None;
                }
                // A record running past the block: read up to its end.
                if !holds(buf) {
                    let need = buf
                        .get(at..at + RECORD_HEADER)
                        .map(|h| at + RECORD_HEADER + body_len(h))?;
                    if !file.copy_at(block, need, buf) || !holds(buf) {
                        buf.clear();
                        return None;
                    }
                }
                i
            }
        };
        self.slots[slot].1.get(at..)
    }
}

impl Copies {
    /// Notes chunk `m`, whose bytes were appended to `kept` at `start`: kept when it overlaps
    /// `[mint, maxt]`, cut off otherwise. Returns whether older chunks may overlap: not once
    /// one ends before `mint` or starts at or before it (the older ones end before it starts).
    pub(super) fn step(&mut self, m: ChunkMeta, start: usize, mint: i64, maxt: i64) -> bool {
        if m.max_t < mint {
            self.kept.truncate(start);
            return false;
        }
        if m.min_t <= maxt {
            self.wanted.push((m, start, self.kept.len()));
        } else {
            self.kept.truncate(start);
        }
        m.min_t > mint
    }
}
