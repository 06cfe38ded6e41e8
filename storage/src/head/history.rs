//! One series' samples before its latest: sealed chunks in the chunk files (a backwards chain
//! from the newest) and the open chunk in memory.
//!
//! The head keeps a series' *latest* sample in its columns, not here: a sample moves into the
//! open chunk when a newer one replaces it, so a series with one sample owns no history.

use crate::chunks::{MAX_SAMPLES_PER_CHUNK, XorAppender, XorIter};

use super::chunk_files::{ChunkFiles, NO_CHUNK};

/// Bytes at which an open chunk is sealed even before [`MAX_SAMPLES_PER_CHUNK`] samples: the
/// open chunk is most of a series' memory, so it is bounded in bytes. Typical data (~1.3
/// bytes per sample, 120 samples ~ 160 bytes) is barely affected; noisy gauges (7+ bytes per
/// sample) get chunks of ~18 samples. 128 rather than 256: with 1M series the open chunks'
/// buffers are 150 MiB instead of 275 MiB (docs/benchmarks.md, "Memory while scraping").
pub(crate) const MAX_OPEN_CHUNK_BYTES: usize = 128;

/// The most bytes one sample adds to a chunk: a 64-bit delta-of-delta with its 4-bit prefix
/// plus a value with a new XOR window (2 + 5 + 6 + 64 bits): 145 bits.
const MAX_SAMPLE_BYTES: usize = 19;

/// The open chunk's buffer sizes. A series starts with [`FIRST_CHUNK_CAPACITY`] bytes (its
/// first one or two samples, which is all a freshly scraped series holds) and moves once to
/// [`OPEN_CHUNK_CAPACITY`] when that is full; the buffer is then reused chunk after chunk,
/// never freed or regrown. Two sizes and one move per series keep the heap from fragmenting:
/// growing and freeing 100k buffers in step, as scrapes do, cost 20-60% more RSS than the data
/// (measured with the `head_rss_two_hours` test).
const FIRST_CHUNK_CAPACITY: usize = 32;
/// A chunk stops below [`MAX_OPEN_CHUNK_BYTES`] plus one sample, so it never outgrows this.
const OPEN_CHUNK_CAPACITY: usize = MAX_OPEN_CHUNK_BYTES + MAX_SAMPLE_BYTES + 5;

/// The history of one series: the position of its newest sealed chunk and its open chunk.
///
/// Invariant: timestamps strictly increase along the chain (oldest first), then the open chunk.
#[derive(Debug)]
pub(crate) struct History {
    newest_sealed: u64,
    open: XorAppender,
}

impl History {
    pub(crate) fn new() -> Self {
        History {
            newest_sealed: NO_CHUNK,
            open: XorAppender::with_capacity(FIRST_CHUNK_CAPACITY),
        }
    }

    /// A history restored from a head snapshot: the newest sealed chunk's position and the
    /// open chunk's `num` XOR-encoded samples (re-encoded here, so the snapshot does not
    /// depend on the open chunk's memory layout).
    pub(crate) fn restore(newest_sealed: u64, open: &[u8], num: u16) -> Self {
        let mut h = History::new();
        h.newest_sealed = newest_sealed;
        for (t, v) in XorIter::new(open, num) {
            h.open.append(t, v);
        }
        h
    }

    /// The newest sealed chunk's position ([`NO_CHUNK`] for none) and the open chunk, for a
    /// head snapshot.
    pub(crate) fn parts(&self) -> (u64, &XorAppender) {
        (self.newest_sealed, &self.open)
    }

    /// Appends a sample newer than every sample held; a full open chunk is sealed into `files`
    /// first (and its memory freed).
    pub(crate) fn append(&mut self, t: i64, v: f64, files: &ChunkFiles) {
        if self.open.num_samples() >= MAX_SAMPLES_PER_CHUNK
            || self.open.bytes().len() >= MAX_OPEN_CHUNK_BYTES
        {
            self.newest_sealed = files.append(self.newest_sealed, &self.open);
            self.open.reset();
        }
        let len = self.open.bytes().len();
        if self.open.capacity() - len < MAX_SAMPLE_BYTES {
            self.open.reserve_exact(OPEN_CHUNK_CAPACITY - len);
        }
        self.open.append(t, v);
    }

    /// Calls `f(t, v)` for every sample with `mint <= t <= maxt`, in time order.
    pub(crate) fn for_each_in(
        &self,
        files: &ChunkFiles,
        mint: i64,
        maxt: i64,
        f: &mut dyn FnMut(i64, f64),
    ) {
        // Walk back to the oldest chunk that can overlap, then read forwards.
        let mut wanted = Vec::new();
        let mut pos = self.newest_sealed;
        while let Some(m) = files.meta(pos) {
            if m.max_t < mint {
                break;
            }
            if m.min_t <= maxt {
                wanted.push(pos);
            }
            pos = m.prev;
        }
        for &pos in wanted.iter().rev() {
            files.with_chunk(pos, |m, data| {
                for (t, v) in XorIter::new(data, m.num) {
                    if t > maxt {
                        break;
                    }
                    if t >= mint {
                        f(t, v);
                    }
                }
            });
        }
        if self.open.num_samples() == 0 || self.open.min_t() > maxt || self.open.max_t() < mint {
            return;
        }
        for (t, v) in self.open.iter() {
            if t > maxt {
                return;
            }
            if t >= mint {
                f(t, v);
            }
        }
    }

    /// The latest sample with `t <= maxt`, if any.
    pub(crate) fn latest_at_or_before(&self, files: &ChunkFiles, maxt: i64) -> Option<(i64, f64)> {
        if self.open.num_samples() > 0 && self.open.min_t() <= maxt {
            return self.open.iter().take_while(|&(t, _)| t <= maxt).last();
        }
        let mut pos = self.newest_sealed;
        while let Some(m) = files.meta(pos) {
            if m.min_t <= maxt {
                return files
                    .with_chunk(pos, |m, data| {
                        XorIter::new(data, m.num)
                            .take_while(|&(t, _)| t <= maxt)
                            .last()
                    })
                    .flatten();
            }
            pos = m.prev;
        }
        None
    }

    /// Heap bytes of the open chunk (sealed chunks are on disk).
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of::<History>() + self.open.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_to_files_and_reads_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let files = ChunkFiles::open(dir.path(), 64 << 10).unwrap();
        let mut h = History::new();
        let n = 1000i64;
        for i in 0..n {
            h.append(i * 10, i as f64, &files);
        }
        let cases = [
            (0, 9_990, 1000usize, Some((9_990, 999.0))),
            (-100, -1, 0, None),
            (1195, 1205, 1, Some((1200, 120.0))),
            (1199, 1199, 0, Some((1190, 119.0))),
            (5_000, 100_000, 500, Some((9_990, 999.0))),
        ];
        for (mint, maxt, count, latest) in cases {
            let mut got = Vec::new();
            h.for_each_in(&files, mint, maxt, &mut |t, v| got.push((t, v)));
            assert_eq!(got.len(), count, "range [{mint}, {maxt}]");
            assert!(
                got.iter()
                    .all(|&(t, v)| t >= mint && t <= maxt && v == (t / 10) as f64)
            );
            assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "time order");
            assert_eq!(
                h.latest_at_or_before(&files, maxt),
                latest,
                "latest <= {maxt}"
            );
        }
        // The chain of sealed chunks, oldest first: (min_t, max_t, samples).
        let mut chain = Vec::new();
        let mut pos = h.newest_sealed;
        while let Some(m) = files.meta(pos) {
            chain.push((m.min_t, m.max_t, m.num));
            pos = m.prev;
        }
        chain.reverse();
        assert_eq!(files.stats().chunks_written, chain.len() as u64);
        assert!(chain.len() >= 8, "1000 samples: at least 8 sealed chunks");
        assert!(chain.iter().all(|c| c.2 <= MAX_SAMPLES_PER_CHUNK));
        let sealed: u64 = chain.iter().map(|c| u64::from(c.2)).sum();
        assert_eq!(sealed + u64::from(h.open.num_samples()), 1000);
        assert!(h.open.bytes().len() < MAX_OPEN_CHUNK_BYTES + MAX_SAMPLE_BYTES);
        // A truncation hides the chunks ending before the cut; the open chunk stays.
        files.truncate_before(5_000).unwrap();
        let oldest_left = chain.iter().find(|c| c.1 >= 5_000).map(|c| c.0).unwrap();
        assert!(oldest_left <= 5_000);
        let mut got = Vec::new();
        h.for_each_in(&files, 0, 100_000, &mut |t, _| got.push(t));
        assert_eq!(got.first(), Some(&oldest_left), "oldest chunk left");
        assert_eq!(got.len() as i64, 1000 - oldest_left / 10);
        assert_eq!(h.latest_at_or_before(&files, 100), None);
    }

    #[test]
    fn open_chunk_buffer_grows_once_then_never() {
        let dir = tempfile::tempdir().unwrap();
        let files = ChunkFiles::open(dir.path(), 64 << 10).unwrap();
        let mut h = History::new();
        assert_eq!(h.open.capacity(), FIRST_CHUNK_CAPACITY);
        let mut moved_at = None;
        // The costliest samples: 64-bit timestamp jumps and values with no shared bits.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut t = 0i64;
        for i in 0..2000i64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            t += if i % 2 == 0 { 1 } else { 1 << 40 };
            h.append(t, f64::from_bits(x >> 2), &files);
            match (h.open.capacity(), moved_at) {
                (FIRST_CHUNK_CAPACITY, None) => {}
                (OPEN_CHUNK_CAPACITY, None) => moved_at = Some(i),
                (OPEN_CHUNK_CAPACITY, Some(_)) => {}
                (cap, _) => panic!("capacity {cap} at sample {i}"),
            }
        }
        // Two samples this costly fill the first buffer: it moves once, early.
        assert!(moved_at.is_some_and(|i| i <= 2), "moved at {moved_at:?}");
        let mut n = 0;
        h.for_each_in(&files, i64::MIN, i64::MAX, &mut |_, _| n += 1);
        assert_eq!(n, 2000);
    }
}
