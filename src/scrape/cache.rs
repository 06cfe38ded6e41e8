//! The scrape cache of one target (Prometheus `scrapeCache`): raw series text → series ref, so a steady-state scrape appends by ref without building labels; raw texts
//! that metric relabeling dropped; and the staleness bookkeeping (which series the previous
//! and current scrape exposed).
//!
//! Raw texts are keyed by their XXH3-128 hash and hits are trusted without comparing text (as
//! the remote-write series cache does): a collision needs ~2^64 distinct series, and skipping
//! the comparison saves a cold-memory `memcmp` per sample.
//!
//! A target exposes its series in the same order scrape after scrape, so a lookup first
//! tries the entry after the previous one found (entries sit in the order the first scrape
//! added them): a hit there costs one compare on memory read in sequence, where the table's
//! probe is a cache miss per sample (the largest single cost of a steady scrape's append,
//! docs/benchmarks.md "Scrape cost"). The table answers when the guess is wrong.
//!
//! Staleness sets are iteration stamps on the entries instead of Prometheus's two hash maps:
//! an entry is in the current set when `tracked == iter`, in the previous one when
//! `tracked == iter - 1`. Entries a set refers to are never evicted (eviction only drops
//! entries not seen in the current iteration, which are in neither set after the swap).

use fedstore_storage::SeriesRef;
use hashbrown::HashTable;

/// One cached series: 32 bytes (a scraping node holds one per scraped series).
#[derive(Debug)]
struct Entry {
    /// XXH3-128 of the raw `name{labels}` text as two words (a `u128` would align the entry
    /// to 16 bytes and grow it to 48); `[0, 0]` marks a free slot.
    key: [u64; 2],
    /// The series' ref; meaningless when `dropped`.
    series: SeriesRef,
    /// Metric relabeling dropped this series.
    dropped: bool,
    /// Iteration in which this entry was last looked up or added.
    last_iter: u32,
    /// Iteration in which it was last tracked for staleness (0: never).
    tracked: u32,
}

impl Entry {
    fn series(&self) -> Option<SeriesRef> {
        (!self.dropped).then_some(self.series)
    }
}

/// What the cache knows about a raw series text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Not cached: build labels and [`ScrapeCache::add`] it.
    Miss,
    /// Metric relabeling dropped it.
    Dropped,
    /// Cached: entry id (for [`ScrapeCache::track`]) and ref.
    Hit(u32, SeriesRef),
}

/// A target's scrape cache.
#[derive(Debug)]
pub struct ScrapeCache {
    table: HashTable<u32>,
    entries: Vec<Entry>,
    free: Vec<u32>,
    /// Current iteration; starts at 1 so that stamp 0 means "never" (32 bits: 136 years of
    /// one-second scrapes).
    iter: u32,
    /// Entry count after the last successful scrape (cache growth heuristic).
    successful_count: usize,
    /// The entry after the one last found or added: where the next lookup looks first.
    next: u32,
}

impl Default for ScrapeCache {
    fn default() -> Self {
        Self::new()
    }
}

/// The key of a raw series text (never `[0, 0]` in practice; that is mapped to `[1, 0]`).
#[inline]
fn key(raw: &str) -> [u64; 2] {
    let k = xxhash_rust::xxh3::xxh3_128(raw.as_bytes()).max(1);
    [k as u64, (k >> 64) as u64]
}

/// The table hash of a key: its low 64 bits (already uniform).
#[inline]
fn hash(key: [u64; 2]) -> u64 {
    key[0]
}

impl ScrapeCache {
    /// An empty cache.
    pub fn new() -> ScrapeCache {
        ScrapeCache {
            table: HashTable::new(),
            entries: Vec::new(),
            free: Vec::new(),
            iter: 1,
            successful_count: 0,
            next: 0,
        }
    }

    /// Number of cached raw texts (series and dropped ones).
    pub fn len(&self) -> usize {
        self.entries.len() - self.free.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Looks `raw` up, marking it seen in this iteration (Prometheus `get`/`getDropped`).
    #[inline]
    pub fn get(&mut self, raw: &str) -> Lookup {
        let k = key(raw);
        let id = match self.entries.get(self.next as usize) {
            Some(e) if e.key == k => self.next,
            _ => {
                let entries = &self.entries;
                match self
                    .table
                    .find(hash(k), |&id| entries[id as usize].key == k)
                {
                    Some(&id) => id,
                    None => return Lookup::Miss,
                }
            }
        };
        self.next = id + 1;
        let e = &mut self.entries[id as usize];
        e.last_iter = self.iter;
        match e.series() {
            Some(r) => Lookup::Hit(id, r),
            None => Lookup::Dropped,
        }
    }

    /// Caches `raw` as dropped by metric relabeling.
    pub fn add_dropped(&mut self, raw: &str) {
        self.insert(raw, None);
    }

    /// Caches `raw` as series `r`; returns the entry id.
    pub fn add(&mut self, raw: &str, r: SeriesRef) -> u32 {
        self.insert(raw, Some(r))
    }

    fn insert(&mut self, raw: &str, series: Option<SeriesRef>) -> u32 {
        let k = key(raw);
        let h = hash(k);
        let entry = Entry {
            key: k,
            series: series.unwrap_or(SeriesRef(0)),
            dropped: series.is_none(),
            last_iter: self.iter,
            tracked: 0,
        };
        let entries = &self.entries;
        if let Some(&id) = self.table.find(h, |&id| entries[id as usize].key == k) {
            self.entries[id as usize] = entry;
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = entry;
                id
            }
            None => {
                self.entries.push(entry);
                (self.entries.len() - 1) as u32
            }
        };
        let entries = &self.entries;
        self.table
            .insert_unique(h, id, |&i| hash(entries[i as usize].key));
        self.next = id + 1;
        id
    }

    /// Tracks entry `id` as exposed by the current scrape (Prometheus `trackStaleness`).
    #[inline]
    pub fn track(&mut self, id: u32) {
        if let Some(e) = self.entries.get_mut(id as usize) {
            e.tracked = self.iter;
        }
    }

    /// Calls `f(ref)` for every series of the previous scrape that the current one did
    /// not expose (Prometheus `forEachStale`).
    pub fn for_each_stale(&self, mut f: impl FnMut(SeriesRef)) {
        let prev = self.iter - 1;
        if prev == 0 {
            return;
        }
        for e in &self.entries {
            if e.tracked == prev
                && let Some(r) = e.series()
            {
                f(r);
            }
        }
    }

    /// Ends an iteration (Prometheus `iterDone`): after a non-empty successful scrape
    /// (`flush`), or when the cache more than doubled since the last one, entries not seen in
    /// this iteration are evicted; then the current staleness set becomes the previous one.
    pub fn iter_done(&mut self, mut flush: bool) {
        let count = self.len();
        if flush {
            self.successful_count = count;
        } else if count > self.successful_count * 2 + 1000 {
            flush = true;
        }
        if flush {
            let iter = self.iter;
            for id in 0..self.entries.len() {
                let e = &self.entries[id];
                if e.last_iter == iter || e.key == [0, 0] {
                    continue;
                }
                let h = hash(e.key);
                if let Ok(found) = self.table.find_entry(h, |&i| i as usize == id) {
                    found.remove();
                }
                self.entries[id] = Entry {
                    key: [0, 0],
                    series: SeriesRef(0),
                    dropped: true,
                    last_iter: 0,
                    tracked: 0,
                };
                self.free.push(id as u32);
            }
        }
        // Wrapping (after 2^32 scrapes) restarts at 1: one scrape's staleness is lost.
        self.iter = self.iter.checked_add(1).unwrap_or(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One scrape exposing `series` (ids are refs); returns the stale refs.
    fn scrape(c: &mut ScrapeCache, series: &[(&str, u32)], ok: bool) -> Vec<u32> {
        for &(raw, r) in series {
            let id = match c.get(raw) {
                Lookup::Hit(id, got) => {
                    assert_eq!(got, SeriesRef(r));
                    id
                }
                Lookup::Miss => c.add(raw, SeriesRef(r)),
                Lookup::Dropped => panic!("not dropped"),
            };
            c.track(id);
        }
        let mut stale = Vec::new();
        c.for_each_stale(|r| stale.push(r.0));
        stale.sort();
        c.iter_done(ok && !series.is_empty());
        stale
    }

    #[test]
    fn lookups_in_any_order_find_their_own_entry() {
        let mut c = ScrapeCache::new();
        let raws = ["a{x=\"1\"}", "b", "c{y=\"2\"}", "d"];
        for (i, raw) in raws.iter().enumerate() {
            assert_eq!(c.get(raw), Lookup::Miss);
            c.add(raw, SeriesRef(i as u32 + 10));
        }
        // The exposition order (the guess right every time), then orders that defeat it,
        // then an unknown text after a guess that would have been right.
        for order in [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 2, 0, 0]] {
            for i in order {
                match c.get(raws[i]) {
                    Lookup::Hit(id, r) => {
                        assert_eq!((id, r), (i as u32, SeriesRef(i as u32 + 10)), "{order:?}");
                    }
                    other => panic!("{other:?} for {i} in {order:?}"),
                }
            }
        }
        assert_eq!(c.get("a{x=\"1\"}"), Lookup::Hit(0, SeriesRef(10)));
        assert_eq!(c.get("e"), Lookup::Miss);
    }

    #[test]
    fn entries_are_32_bytes() {
        // One per scraped series: 1M series x 16 bytes more is 15 MiB of RSS.
        assert_eq!(std::mem::size_of::<Entry>(), 32);
    }

    #[test]
    fn staleness_bookkeeping() {
        let mut c = ScrapeCache::new();
        type Case<'a> = (&'a str, &'a [(&'a str, u32)], &'a [u32]);
        let cases: &[Case<'_>] = &[
            ("first scrape", &[("a", 1), ("b", 2), ("c", 3)], &[]),
            ("same series", &[("a", 1), ("b", 2), ("c", 3)], &[]),
            ("b vanishes", &[("a", 1), ("c", 3)], &[2]),
            ("b stays gone", &[("a", 1), ("c", 3)], &[]),
            ("b returns, a goes", &[("b", 2), ("c", 3)], &[1]),
            ("failed scrape: all stale", &[], &[2, 3]),
            ("after failure", &[("a", 1)], &[]),
        ];
        for (name, series, want) in cases {
            assert_eq!(scrape(&mut c, series, true), *want, "{name}");
        }
    }

    #[test]
    fn eviction_keeps_current_entries() {
        let mut c = ScrapeCache::new();
        scrape(&mut c, &[("a", 1), ("b", 2)], true);
        assert_eq!(c.len(), 2);
        scrape(&mut c, &[("a", 1)], true);
        assert_eq!(c.len(), 1, "b evicted after a successful scrape without it");
        assert_eq!(c.get("b"), Lookup::Miss);
        // A re-added entry reuses the freed slot and is found again.
        scrape(&mut c, &[("a", 1), ("b", 5)], true);
        assert!(matches!(c.get("b"), Lookup::Hit(_, SeriesRef(5))));
        c.add_dropped("d");
        assert_eq!(c.get("d"), Lookup::Dropped);
    }

    #[test]
    fn parse_error_quirk_keeps_series_before_the_error() {
        // Prometheus: on a failed append iterDone is skipped, so series tracked before the
        // error stay "current" for the empty append that follows.
        let mut c = ScrapeCache::new();
        scrape(&mut c, &[("a", 1), ("b", 2), ("c", 3)], true);
        // Failed scrape: "a" parsed (tracked) before the error; no iter_done.
        if let Lookup::Hit(id, _) = c.get("a") {
            c.track(id);
        }
        // The empty append.
        let mut stale = Vec::new();
        c.for_each_stale(|r| stale.push(r.0));
        stale.sort();
        c.iter_done(false);
        assert_eq!(stale, vec![2, 3]);
    }
}
