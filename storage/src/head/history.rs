//! Every series' samples before its latest, for one shard: sealed chunks in the chunk files (a
//! backwards chain from the newest) and the open chunk in a size-classed slab.
//!
//! The head keeps a series' *latest* sample in its columns, not here: a sample moves into the
//! open chunk when a newer one replaces it, so a series with one sample owns no history.

mod encode;
mod slab;

use crate::chunks::{MAX_SAMPLES_PER_CHUNK, XorIter};

use super::chunk_files::{ChunkFiles, NO_CHUNK};
use encode::{XorState, first_t};
use slab::{Moved, Slab, class_bytes, class_for};

/// Bytes at which an open chunk is sealed even before [`MAX_SAMPLES_PER_CHUNK`] samples:
/// typical data (~1.3 bytes per sample, 120 samples ~ 160 bytes) is barely affected; noisy
/// gauges (7+ bytes per sample) get chunks of ~18 samples. With one sample's worst case
/// (20 bytes) on top it fits the slab's largest slot (docs/benchmarks.md, "Memory while
/// scraping").
pub(crate) const MAX_OPEN_CHUNK_BYTES: usize = 128;

/// Marks a record without an open-chunk slot.
const NO_CLASS: u8 = 0xff;

/// One series' history: 48 bytes, no heap allocation of its own.
///
/// Invariant: timestamps strictly increase along the sealed chain (oldest first), then the
/// open chunk; `class == NO_CLASS` exactly when the open chunk is empty (`open.num == 0`);
/// otherwise slot `slot` of class `class` holds the open chunk's `open.len()` bytes, zeroed
/// after them, and `open.len()` plus one more sample fits it.
#[derive(Debug, Clone, Copy)]
struct Rec {
    newest_sealed: u64,
    open: XorState,
    slot: u32,
    class: u8,
}

impl Rec {
    const EMPTY: Rec = Rec {
        newest_sealed: NO_CHUNK,
        open: XorState {
            t: 0,
            t_delta: 0,
            v_bits: 0,
            bits: 0,
            num: 0,
            leading: 0xff,
            trailing: 0,
        },
        slot: 0,
        class: NO_CLASS,
    };

    fn is_empty(&self) -> bool {
        self.newest_sealed == NO_CHUNK && self.open.num == 0
    }
}

/// The histories of one shard's series, indexed by local index.
#[derive(Debug, Default)]
pub(crate) struct Histories {
    recs: Vec<Rec>,
    slab: Slab,
}

impl Histories {
    /// Number of series.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.recs.len()
    }

    /// Adds a series without history.
    pub(crate) fn push(&mut self) {
        self.recs.push(Rec::EMPTY);
    }

    /// Makes room for `n` more series.
    pub(crate) fn reserve(&mut self, n: usize) {
        self.recs.reserve(n);
    }

    /// The open chunk's bytes of `r`.
    fn open_bytes<'a>(&'a self, r: &Rec) -> &'a [u8] {
        if r.class == NO_CLASS {
            return &[];
        }
        &self.slab.get(r.class, r.slot)[..r.open.len()]
    }

    /// Appends a sample to series `i`, newer than every sample it holds; a full open chunk is
    /// sealed into `files` first and its slot freed.
    pub(crate) fn append(&mut self, i: usize, t: i64, v: f64, files: &ChunkFiles) {
        let mut r = self.recs[i];
        if r.open.num >= MAX_SAMPLES_PER_CHUNK || r.open.len() >= MAX_OPEN_CHUNK_BYTES {
            let data = self.open_bytes(&r);
            r.newest_sealed =
                files.append_parts(r.newest_sealed, first_t(data), r.open.t, r.open.num, data);
            let moved = self.slab.free(r.class, r.slot);
            self.repoint(moved);
            r.open = XorState::new();
            r.class = NO_CLASS;
        }
        let need = r.open.bytes_after(t);
        if r.class == NO_CLASS || need > class_bytes(r.class) {
            // The largest slot holds MAX_OPEN_CHUNK_BYTES plus any one sample.
            let to = class_for(need).unwrap_or(slab::CLASSES as u8 - 1);
            r.slot = if r.class == NO_CLASS {
                self.slab.alloc(to, i as u32)
            } else {
                let (slot, moved) = self.slab.move_to(r.class, r.slot, to, r.open.len());
                // The moved slot is another series' (series i's old one was its class's last).
                self.repoint(moved);
                slot
            };
            r.class = to;
        }
        r.open.append(self.slab.get_mut(r.class, r.slot), t, v);
        self.recs[i] = r;
    }

    /// Points the owner of a slot the slab moved at its new place.
    fn repoint(&mut self, moved: Option<Moved>) {
        if let Some(m) = moved {
            self.recs[m.owner as usize].slot = m.slot;
        }
    }

    /// Calls `f(t, v)` for every sample of series `i` with `mint <= t <= maxt`, in time order.
    pub(crate) fn for_each_in(
        &self,
        i: usize,
        files: &ChunkFiles,
        mint: i64,
        maxt: i64,
        f: &mut impl FnMut(i64, f64),
    ) {
        let r = &self.recs[i];
        let open = self.open_bytes(r);
        let open_min = (r.open.num > 0).then(|| first_t(open));
        // Sealed chunks end before the open one starts: when it starts at or before `mint`,
        // none can overlap, and the walk (a read of the chunk files per series) is skipped.
        if open_min.is_none_or(|t| t > mint) {
            files.for_each_chunk_in(r.newest_sealed, mint, maxt, &mut |m, data| {
                XorIter::new(data, m.num).for_each_while(|t, v| {
                    if t >= mint && t <= maxt {
                        f(t, v);
                    }
                    t < maxt
                });
            });
        }
        let Some(open_min) = open_min else { return };
        if open_min > maxt || r.open.t < mint {
            return;
        }
        XorIter::new(open, r.open.num).for_each_while(|t, v| {
            if t >= mint && t <= maxt {
                f(t, v);
            }
            t < maxt
        });
    }

    /// Reads series `i`'s record (the first step of [`Histories::for_each_in`]); the value
    /// only feeds [`crate::head::Head::warm`]'s fold.
    #[inline]
    pub(crate) fn touch_record(&self, i: usize) -> u64 {
        let r = self.recs[i];
        r.newest_sealed ^ u64::from(r.slot) ^ u64::from(r.class)
    }

    /// Reads the first and last byte of series `i`'s open chunk (the second step).
    #[inline]
    pub(crate) fn touch_open(&self, i: usize) -> u64 {
        let open = self.open_bytes(&self.recs[i]);
        match (open.first(), open.last()) {
            (Some(&a), Some(&b)) => u64::from(a) ^ u64::from(b),
            _ => 0,
        }
    }

    /// The latest sample of series `i` with `t <= maxt`, if any.
    pub(crate) fn latest_at_or_before(
        &self,
        i: usize,
        files: &ChunkFiles,
        maxt: i64,
    ) -> Option<(i64, f64)> {
        let r = &self.recs[i];
        latest_in_parts(r.newest_sealed, r.open.num, self.open_bytes(r), files, maxt)
    }

    /// Drops series `i`'s history (series garbage collection): its slot goes back to the
    /// slab for the next series that needs one.
    pub(crate) fn clear(&mut self, i: usize) {
        let r = self.recs[i];
        if r.class != NO_CLASS {
            let moved = self.slab.free(r.class, r.slot);
            self.repoint(moved);
        }
        self.recs[i] = Rec::EMPTY;
    }

    /// Series `i`'s newest sealed chunk ([`NO_CHUNK`] for none), open-chunk sample count and
    /// bytes, for a head snapshot; `None` without history.
    pub(crate) fn parts(&self, i: usize) -> Option<(u64, u16, &[u8])> {
        let r = &self.recs[i];
        (!r.is_empty()).then(|| (r.newest_sealed, r.open.num, self.open_bytes(r)))
    }

    /// Adds a series whose history is restored from a head snapshot: the newest sealed chunk's
    /// position and the open chunk's `num` XOR-encoded samples, re-encoded here (so the
    /// snapshot does not depend on this layout; an open chunk larger than this build's limit,
    /// from another build, is sealed into `files` on the way).
    pub(crate) fn push_restored(
        &mut self,
        newest_sealed: u64,
        open: &[u8],
        num: u16,
        files: &ChunkFiles,
    ) {
        let i = self.recs.len();
        self.recs.push(Rec {
            newest_sealed,
            ..Rec::EMPTY
        });
        for (t, v) in XorIter::new(open, num) {
            self.append(i, t, v, files);
        }
    }

    /// Bytes held: the records (with spare capacity) and the slab's pages.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.recs.capacity() * std::mem::size_of::<Rec>() + self.slab.heap_bytes()
    }

    /// Bytes of the open chunks' slots in use.
    #[cfg(test)]
    pub(crate) fn open_bytes_used(&self) -> usize {
        self.slab.used_bytes()
    }
}

/// The latest sample with `t <= maxt` of a history given by its parts (see
/// [`Histories::parts`]): the newest sealed chunk's position, the open chunk's sample count
/// and bytes. The parts may be copies taken under the shard lock: sealed chunks never change,
/// so this needs no lock (`Head::latest` reads them after releasing it).
pub(crate) fn latest_in_parts(
    newest_sealed: u64,
    open_num: u16,
    open: &[u8],
    files: &ChunkFiles,
    maxt: i64,
) -> Option<(i64, f64)> {
    if open_num > 0 && first_t(open) <= maxt {
        return XorIter::new(open, open_num)
            .take_while(|&(t, _)| t <= maxt)
            .last();
    }
    // Copied, not mapped: these reads come from federates and instant selectors racing
    // writes, one scattered chunk per series ([`ChunkFiles::with_chunk`]).
    // One read per chunk: the newest one starting at or before `maxt` is decoded, a later
    // one only hands back where the one before it is.
    let mut pos = newest_sealed;
    while let Some(step) = files.with_chunk(pos, |m, data| {
        if m.min_t <= maxt {
            Ok(XorIter::new(data, m.num)
                .take_while(|&(t, _)| t <= maxt)
                .last())
        } else {
            Err(m.prev)
        }
    }) {
        match step {
            Ok(latest) => return latest,
            Err(prev) => pos = prev,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_is_48_bytes() {
        assert_eq!(std::mem::size_of::<Rec>(), 48);
    }

    #[test]
    fn seals_to_files_and_reads_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let files = ChunkFiles::open(dir.path(), 64 << 10).unwrap();
        let mut h = Histories::default();
        h.push();
        h.push();
        let n = 1000i64;
        for i in 0..n {
            h.append(1, i * 10, i as f64, &files);
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
            h.for_each_in(1, &files, mint, maxt, &mut |t, v| got.push((t, v)));
            assert_eq!(got.len(), count, "range [{mint}, {maxt}]");
            assert!(
                got.iter()
                    .all(|&(t, v)| t >= mint && t <= maxt && v == (t / 10) as f64)
            );
            assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "time order");
            assert_eq!(
                h.latest_at_or_before(1, &files, maxt),
                latest,
                "latest <= {maxt}"
            );
        }
        assert!(h.parts(0).is_none(), "series 0 has no history");
        // The chain of sealed chunks, oldest first: (min_t, max_t, samples).
        let mut chain = Vec::new();
        let mut pos = h.recs[1].newest_sealed;
        while let Some(m) = files.meta(pos) {
            chain.push((m.min_t, m.max_t, m.num));
            pos = m.prev;
        }
        chain.reverse();
        assert_eq!(files.stats().chunks_written, chain.len() as u64);
        assert!(chain.len() >= 8, "1000 samples: at least 8 sealed chunks");
        assert!(chain.iter().all(|c| c.2 <= MAX_SAMPLES_PER_CHUNK));
        let sealed: u64 = chain.iter().map(|c| u64::from(c.2)).sum();
        let open = h.recs[1].open;
        assert_eq!(sealed + u64::from(open.num), 1000);
        assert!(open.len() < MAX_OPEN_CHUNK_BYTES + 20);
        // A truncation hides the chunks ending before the cut; the open chunk stays.
        files.truncate_before(5_000).unwrap();
        let oldest_left = chain.iter().find(|c| c.1 >= 5_000).map(|c| c.0).unwrap();
        assert!(oldest_left <= 5_000);
        let mut got = Vec::new();
        h.for_each_in(1, &files, 0, 100_000, &mut |t, _| got.push(t));
        assert_eq!(got.first(), Some(&oldest_left), "oldest chunk left");
        assert_eq!(got.len() as i64, 1000 - oldest_left / 10);
        assert_eq!(h.latest_at_or_before(1, &files, 100), None);
    }

    /// Every window over a chain of sealed chunks and an open one, with its ends on, just
    /// before and just after chunk boundaries, reads exactly the samples in it (the walk back
    /// stops at the first chunk starting at or before `mint`); the cache warm-up reads of a
    /// series ask for the chunk the walk starts with.
    #[test]
    fn windows_at_chunk_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let files = ChunkFiles::open(dir.path(), 64 << 10).unwrap();
        let mut h = Histories::default();
        h.push();
        // Varying values: chunks are cut by bytes as well as by count.
        let all: Vec<(i64, f64)> = (0..700i64)
            .map(|i| (i * 15, (i * 1_000 + (i * i) % 997) as f64))
            .collect();
        for &(t, v) in &all {
            h.append(0, t, v, &files);
        }
        let mut starts = Vec::new();
        let mut pos = h.recs[0].newest_sealed;
        while let Some(m) = files.meta(pos) {
            starts.push(m.min_t);
            pos = m.prev;
        }
        assert!(starts.len() >= 5, "several sealed chunks");
        let open_min = first_t(h.open_bytes(&h.recs[0]));
        starts.push(open_min);
        let mut ends: Vec<i64> = starts
            .iter()
            .flat_map(|&t| [t - 15, t - 1, t, t + 1, t + 15])
            .collect();
        ends.extend([-100, 0, 10_485, 100_000]);
        for &mint in &ends {
            for &maxt in &ends {
                let mut got = Vec::new();
                h.for_each_in(0, &files, mint, maxt, &mut |t, v| got.push((t, v)));
                let want: Vec<(i64, f64)> = all
                    .iter()
                    .copied()
                    .filter(|&(t, _)| t >= mint && t <= maxt)
                    .collect();
                assert_eq!(got, want, "[{mint}, {maxt}]");
            }
        }
    }

    /// The costliest samples (64-bit timestamp jumps, values with no shared bits) walk an open
    /// chunk through every class up to the largest without overflowing it; the slots follow
    /// the data, a restored copy reads the same, and cleared slots are reused.
    #[test]
    fn slots_follow_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let files = ChunkFiles::open(dir.path(), 1 << 20).unwrap();
        let mut h = Histories::default();
        let series = 2000;
        for _ in 0..series {
            h.push();
        }
        let mut classes_seen = [false; slab::CLASSES];
        let load = |h: &mut Histories, classes_seen: &mut [bool; slab::CLASSES]| {
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            let mut t = vec![0i64; series];
            for k in 0..300i64 {
                for (i, ti) in t.iter_mut().enumerate() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    *ti += if (k + i as i64) % 2 == 0 { 1 } else { 1 << 40 };
                    h.append(i, *ti, f64::from_bits(x >> 2), &files);
                    let r = h.recs[i];
                    assert!(class_bytes(r.class) >= r.open.len());
                    classes_seen[r.class as usize] = true;
                }
            }
        };
        load(&mut h, &mut classes_seen);
        assert!(classes_seen.iter().all(|&s| s), "{classes_seen:?}");
        // Every series moved through the classes in step; each class's pages follow its use.
        let held = h.slab.pages() * slab::PAGE_BYTES;
        let used = h.open_bytes_used();
        assert!(
            held <= used + 2 * slab::CLASSES * slab::PAGE_BYTES,
            "held {held} for {used} in use"
        );
        // The slots in use are those of the records, never more.
        let used: usize = h.recs.iter().map(|r| class_bytes(r.class)).sum();
        assert_eq!(h.open_bytes_used(), used);
        let mut all = Vec::new();
        h.for_each_in(7, &files, i64::MIN, i64::MAX, &mut |t, v| {
            all.push((t, v.to_bits()))
        });
        assert_eq!(all.len(), 300);
        let (sealed, num, open) = h.parts(7).unwrap();
        let (sealed, open) = (sealed, open.to_vec());
        let mut r = Histories::default();
        r.push_restored(sealed, &open, num, &files);
        let mut again = Vec::new();
        r.for_each_in(0, &files, i64::MIN, i64::MAX, &mut |t, v| {
            again.push((t, v.to_bits()))
        });
        assert_eq!(again, all, "restored");
        // Cleared series give their slots and pages back (one spare page per class stays);
        // the series whose slots moved into the holes read the same.
        for i in (0..series).step_by(2) {
            h.clear(i);
            assert!(h.parts(i).is_none());
        }
        let mut all_again = Vec::new();
        h.for_each_in(7, &files, i64::MIN, i64::MAX, &mut |t, v| {
            all_again.push((t, v.to_bits()))
        });
        assert_eq!(
            all_again, all,
            "series 7 intact after its neighbours' slots moved"
        );
        for i in (1..series).step_by(2) {
            h.clear(i);
        }
        assert_eq!(h.open_bytes_used(), 0);
        assert!(h.slab.pages() <= slab::CLASSES);
    }
}
