//! Cache from a series' encoded label fields to its [`SeriesRef`] in one head.
//!
//! Keys are XXH3-128 of the raw label bytes (equal bytes decode to equal labels), of which 96
//! bits are stored: a collision has probability ~n²/2^97 (6e-18 at a million series), so hits
//! are trusted without comparing labels. Entries are only inserted for label sets that passed
//! validation and were appended. An entry takes 16 bytes plus hash-table overhead.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crossbeam::utils::CachePadded;
use fedstore_storage::SeriesRef;
use parking_lot::RwLock;

/// Number of independently locked shards (a power of two).
const SHARDS: usize = 64;

/// Entries per shard before the shard is cleared (bounds memory under series churn:
/// 64 × 256 Ki × ~32 B ≈ 512 MiB at the very worst, ~16 M series).
const MAX_ENTRIES_PER_SHARD: usize = 256 << 10;

/// The stored part of a key: bits 0..64 and 64..96 of the XXH3-128 hash.
type StoredKey = (u64, u32);

fn stored(key: u128) -> StoredKey {
    (key as u64, (key >> 64) as u32)
}

/// The keys are already uniform hashes: the low 64 bits are the map hash.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
    fn write_u32(&mut self, _: u32) {
        // The high key part only disambiguates equal low parts; it need not hash.
    }
}

/// High bits pick the shard; the low 64 bits hash inside it.
fn shard_index(key: u128) -> usize {
    (key >> 122) as usize % SHARDS
}

type Shard = HashMap<StoredKey, SeriesRef, BuildHasherDefault<KeyHasher>>;

/// A sharded, concurrently readable map from label-bytes hash to series ref.
pub struct SeriesCache {
    shards: Box<[CachePadded<RwLock<Shard>>]>,
    /// Entries per shard before it is cleared.
    max_per_shard: usize,
}

impl Default for SeriesCache {
    fn default() -> Self {
        Self::new()
    }
}

impl SeriesCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::with_max_entries_per_shard(MAX_ENTRIES_PER_SHARD)
    }

    /// An empty cache clearing a shard once it holds `max` entries.
    pub fn with_max_entries_per_shard(max: usize) -> Self {
        SeriesCache {
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(RwLock::default()))
                .collect(),
            max_per_shard: max.max(1),
        }
    }

    /// The key of an encoded label run (never 0 for a non-empty run in practice; 0 means
    /// "uncacheable" to callers).
    pub fn key(labels_raw: &[u8]) -> u128 {
        xxhash_rust::xxh3::xxh3_128(labels_raw)
    }

    fn shard(&self, key: u128) -> &RwLock<Shard> {
        &self.shards[shard_index(key)]
    }

    /// The cached ref for `key`.
    pub fn get(&self, key: u128) -> Option<SeriesRef> {
        self.shard(key).read().get(&stored(key)).copied()
    }

    /// Looks up every key of `entries` (key 0 = uncacheable, skipped) and stores the cached ref
    /// beside it. Lookups are grouped by shard so each shard is locked once per batch: the lock's
    /// atomic operations would otherwise serialize the cache misses that dominate lookups in a
    /// large table, where grouped lookups overlap. `order` is scratch space.
    pub fn get_batch(&self, entries: &mut [(u128, Option<SeriesRef>)], order: &mut Vec<u32>) {
        let mut starts = [0u32; SHARDS + 1];
        for &(key, _) in entries.iter() {
            starts[shard_index(key) + 1] += 1;
        }
        for i in 0..SHARDS {
            starts[i + 1] += starts[i];
        }
        order.clear();
        order.resize(entries.len(), 0);
        let mut next = starts;
        for (i, &(key, _)) in entries.iter().enumerate() {
            let s = shard_index(key);
            order[next[s] as usize] = i as u32;
            next[s] += 1;
        }
        for s in 0..SHARDS {
            let group = &order[starts[s] as usize..starts[s + 1] as usize];
            if group.is_empty() {
                continue;
            }
            let shard = self.shards[s].read();
            for &i in group {
                let e = &mut entries[i as usize];
                e.1 = if e.0 == 0 {
                    None
                } else {
                    shard.get(&stored(e.0)).copied()
                };
            }
        }
    }

    /// Caches `r` for `key`.
    pub fn insert(&self, key: u128, r: SeriesRef) {
        let mut shard = self.shard(key).write();
        if shard.len() >= self.max_per_shard {
            shard.clear();
        }
        shard.insert(stored(key), r);
    }

    /// Number of cached series.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_insert_and_overflow() {
        let c = SeriesCache::with_max_entries_per_shard(100);
        let k1 = SeriesCache::key(b"\x0a\x02a");
        let k2 = SeriesCache::key(b"\x0a\x02b");
        assert_ne!(k1, k2);
        assert_eq!(c.get(k1), None);
        c.insert(k1, SeriesRef(7));
        assert_eq!(c.get(k1), Some(SeriesRef(7)));
        assert_eq!(c.get(k2), None);
        c.insert(k1, SeriesRef(8));
        assert_eq!((c.get(k1), c.len()), (Some(SeriesRef(8)), 1));
        // A full shard is cleared rather than grown.
        let shard_of = shard_index;
        let mut n = 0u64;
        let mut inserted = 0;
        while inserted <= 100 {
            n += 1;
            let k = SeriesCache::key(&n.to_le_bytes());
            if shard_of(k) == shard_of(k1) {
                c.insert(k, SeriesRef(1));
                inserted += 1;
            }
        }
        assert!(c.len() <= 100);
        assert_eq!(c.get(k1), None);
    }

    #[test]
    fn batch_lookup_matches_single_lookups() {
        let c = SeriesCache::new();
        let keys: Vec<u128> = (0..500u32)
            .map(|i| SeriesCache::key(&i.to_le_bytes()))
            .collect();
        for (i, &k) in keys.iter().enumerate().filter(|(i, _)| i % 3 != 0) {
            c.insert(k, SeriesRef(i as u32));
        }
        let mut entries: Vec<(u128, Option<SeriesRef>)> = keys.iter().map(|&k| (k, None)).collect();
        entries.push((0, Some(SeriesRef(9))));
        let mut order = Vec::new();
        c.get_batch(&mut entries, &mut order);
        for (i, &(k, got)) in entries.iter().enumerate() {
            let want = if k == 0 { None } else { c.get(k) };
            assert_eq!(got, want, "entry {i}");
            if i < keys.len() {
                assert_eq!(got.is_some(), i % 3 != 0, "entry {i}");
            }
        }
    }
}
