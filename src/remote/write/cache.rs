//! Cache from a series' encoded label fields to its [`SeriesRef`] in one head.
//!
//! Keys are XXH3-128 of the raw label bytes (equal bytes decode to equal labels); a collision
//! would need ~2^64 distinct series, so hits are trusted without comparing labels. Entries
//! are only inserted for label sets that passed validation and were appended.

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

/// The keys are already uniform hashes: use their low bits as the map hash.
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
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

type Shard = HashMap<u128, SeriesRef, BuildHasherDefault<KeyHasher>>;

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
        // High bits pick the shard, low bits hash inside it.
        &self.shards[(key >> 122) as usize % SHARDS]
    }

    /// The cached ref for `key`.
    pub fn get(&self, key: u128) -> Option<SeriesRef> {
        self.shard(key).read().get(&key).copied()
    }

    /// Caches `r` for `key`.
    pub fn insert(&self, key: u128, r: SeriesRef) {
        let mut shard = self.shard(key).write();
        if shard.len() >= self.max_per_shard {
            shard.clear();
        }
        shard.insert(key, r);
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
        let shard_of = |k: u128| (k >> 122) as usize % SHARDS;
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
}
