//! String interning for label names and values: `SymbolId` and the `SymbolTable`.
//!
//! Strings live once in an append-only arena and are found again through a
//! `hashbrown::HashTable<u32>` keyed by xxh3, so the table holds no second copy of any key.
//! Ids are dense and never reused; the table only grows.

use hashbrown::HashTable;
use xxhash_rust::xxh3::xxh3_64;

/// The id of an interned string; dense, stable for the life of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SymbolId(pub u32);

use crate::labels::METRIC_NAME_LABEL;

/// The id of `__name__` ([`METRIC_NAME_LABEL`], the symbol every table interns first) in every
/// [`SymbolTable`].
pub const NAME_SYMBOL: SymbolId = SymbolId(0);

/// An append-only string interner.
///
/// Invariant: `ends[i]` is the end offset in `arena` of symbol `i`; symbol `i` starts at
/// `ends[i - 1]` (or 0). The arena is a `String`, so every slice on those offsets is UTF-8.
#[derive(Debug)]
pub struct SymbolTable {
    arena: String,
    ends: Vec<u32>,
    table: HashTable<u32>,
}

impl Default for SymbolTable {
    fn default() -> Self {
        Self::new()
    }
}

impl SymbolTable {
    /// An empty table holding only [`METRIC_NAME_LABEL`] (as [`NAME_SYMBOL`]).
    pub fn new() -> Self {
        let mut t = SymbolTable {
            arena: String::new(),
            ends: Vec::new(),
            table: HashTable::new(),
        };
        let id = t.intern(METRIC_NAME_LABEL);
        debug_assert_eq!(id, NAME_SYMBOL);
        t
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the table is empty (never true: `__name__` is always interned).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes of string data held.
    pub fn arena_bytes(&self) -> usize {
        self.arena.len()
    }

    /// The string of `id`. Panics on an id this table never handed out (a logic error).
    #[inline]
    pub fn resolve(&self, id: SymbolId) -> &str {
        let i = id.0 as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.arena[start..self.ends[i] as usize]
    }

    /// The id of `s`, if interned.
    pub fn get(&self, s: &str) -> Option<SymbolId> {
        let h = xxh3_64(s.as_bytes());
        self.table
            .find(h, |&id| self.resolve(SymbolId(id)) == s)
            .map(|&id| SymbolId(id))
    }

    /// The id of `s`, interning it if new.
    pub fn intern(&mut self, s: &str) -> SymbolId {
        let h = xxh3_64(s.as_bytes());
        if let Some(&id) = self.table.find(h, |&id| {
            let i = id as usize;
            let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
            &self.arena[start..self.ends[i] as usize] == s
        }) {
            return SymbolId(id);
        }
        let id = u32::try_from(self.ends.len()).expect("fewer than 2^32 symbols");
        self.arena.push_str(s);
        let end = u32::try_from(self.arena.len()).expect("symbol arena below 4 GiB");
        self.ends.push(end);
        let (arena, ends) = (&self.arena, &self.ends);
        self.table.insert_unique(h, id, |&id| {
            let i = id as usize;
            let start = if i == 0 { 0 } else { ends[i - 1] as usize };
            xxh3_64(&arena.as_bytes()[start..ends[i] as usize])
        });
        SymbolId(id)
    }

    /// Approximate heap bytes used.
    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity() + self.ends.capacity() * 4 + self.table.capacity() * 5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intern_resolve_round_trip() {
        let mut t = SymbolTable::new();
        let cases = [
            "a",
            "",
            "job",
            "a",
            "ünïcode",
            "job",
            "x".repeat(300).leak(),
        ];
        let ids: Vec<SymbolId> = cases.iter().map(|s| t.intern(s)).collect();
        for (s, id) in cases.iter().zip(&ids) {
            assert_eq!(t.resolve(*id), *s, "case {s:?}");
            assert_eq!(t.get(s), Some(*id), "case {s:?}");
        }
        assert_eq!(ids[0], ids[3]);
        assert_eq!(ids[2], ids[5]);
        // __name__ + 5 distinct strings.
        assert_eq!(t.len(), 6);
        assert_eq!(t.get("missing"), None);
        assert_eq!(t.get(METRIC_NAME_LABEL), Some(NAME_SYMBOL));
    }

    #[test]
    fn many_symbols_survive_rehash() {
        let mut t = SymbolTable::new();
        let ids: Vec<SymbolId> = (0..10_000).map(|i| t.intern(&format!("v{i}"))).collect();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(t.resolve(*id), format!("v{i}"));
            assert_eq!(t.get(&format!("v{i}")), Some(*id));
        }
    }
}
