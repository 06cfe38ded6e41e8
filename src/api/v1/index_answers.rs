//! Answers drawn from the label index alone, kept with the index version they were read at
//! ([`fedstore_storage::Db::index_version`]): the last answers of `/api/v1/labels` and
//! `/api/v1/label/<name>/values` without `match[]`, and `/api/v1/status/tsdb`'s top-10 lists.
//! Dashboards ask the same lookups on every refresh (template variables); while the head's
//! postings and the block list are unchanged the answer is the same bytes, and serving them
//! takes no storage walk, no thread hand-off and no JSON writing (docs/benchmarks.md,
//! "Query API").

use std::sync::{Arc, Mutex};

use fedstore_storage::IndexVersion;

/// Answers kept (the most recently used ones).
const KEPT: usize = 16;
/// Larger answers (a label with ~30k values or more) are not kept: the lookup is then a small
/// part of their cost, and the cache's memory stays bounded.
const MAX_BYTES: usize = 1 << 20;

/// What one answer is for: the label (`None`: the names), the time range and the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    label: Option<String>,
    start: i64,
    end: i64,
    version: IndexVersion,
}

impl Key {
    /// The key of label `label`'s values (`None`: label names) over `[start, end]` at `version`.
    pub fn new(label: Option<&str>, start: i64, end: i64, version: IndexVersion) -> Self {
        Key {
            label: label.map(str::to_owned),
            start,
            end,
            version,
        }
    }
}

/// One server's kept answers (in its state: the keys of two databases are not comparable).
#[derive(Debug, Default)]
pub struct IndexAnswers {
    /// Most recently used last.
    kept: Mutex<Vec<(Key, Arc<Vec<u8>>)>>,
    /// `status/tsdb`'s four top-10 lists (its `headStats` are written anew each time).
    tsdb_lists: Mutex<Option<(IndexVersion, Arc<Vec<u8>>)>>,
}

impl IndexAnswers {
    /// The answer kept for `key`, if any.
    pub fn get(&self, key: &Key) -> Option<Arc<Vec<u8>>> {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let i = kept.iter().position(|(k, _)| k == key)?;
        let entry = kept.remove(i);
        let body = entry.1.clone();
        kept.push(entry);
        Some(body)
    }

    /// Keeps `body` as the answer for `key` (read at `key`'s version or later), unless it is
    /// too large; the least recently used answer goes when [`KEPT`] are kept.
    pub fn put(&self, key: Key, body: Arc<Vec<u8>>) {
        if body.len() > MAX_BYTES {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        // Answers for the same lookup at an older version are never asked for again.
        kept.retain(|(k, _)| !(k.label == key.label && k.start == key.start && k.end == key.end));
        if kept.len() >= KEPT {
            kept.remove(0);
        }
        kept.push((key, body));
    }

    /// The `status/tsdb` lists kept for `version`, if any.
    pub fn tsdb_lists(&self, version: &IndexVersion) -> Option<Arc<Vec<u8>>> {
        let kept = self.tsdb_lists.lock().unwrap_or_else(|e| e.into_inner());
        kept.as_ref()
            .filter(|(v, _)| v == version)
            .map(|(_, lists)| lists.clone())
    }

    /// Keeps `lists`, drawn at `version` or later, replacing the previous ones.
    pub fn keep_tsdb_lists(&self, version: IndexVersion, lists: Arc<Vec<u8>>) {
        *self.tsdb_lists.lock().unwrap_or_else(|e| e.into_inner()) = Some((version, lists));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use fedstore_storage::{Db, DbOptions, HeadOptions, Labels};

    use super::*;

    #[test]
    fn kept_while_the_index_is_unchanged_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), HeadOptions::default(), DbOptions::default()).unwrap();
        let answers = IndexAnswers::default();
        let key = |label: &str| Key::new(Some(label), 0, 10, db.index_version());
        answers.put(key("job"), Arc::new(b"a".to_vec()));
        assert_eq!(answers.get(&key("job")).as_deref(), Some(&b"a".to_vec()));
        assert!(answers.get(&key("instance")).is_none(), "another label");
        assert!(
            answers
                .get(&Key::new(Some("job"), 0, 11, db.index_version()))
                .is_none(),
            "another range"
        );
        // A new series changes the version: the kept answer is not found any more.
        let mut app = db.head().appender();
        app.append(&Labels::from_pairs([("job", "x".to_owned())]), 1, 1.0)
            .unwrap();
        app.commit().unwrap();
        assert!(answers.get(&key("job")).is_none(), "index changed");
        // Replaced, not added, for the same lookup; at most KEPT; large answers not kept.
        answers.put(key("job"), Arc::new(b"b".to_vec()));
        assert_eq!(answers.kept.lock().unwrap().len(), 1);
        for i in 0..KEPT + 3 {
            answers.put(key(&format!("l{i}")), Arc::new(vec![b'x']));
        }
        assert_eq!(answers.kept.lock().unwrap().len(), KEPT);
        answers.put(key("big"), Arc::new(vec![b'x'; MAX_BYTES + 1]));
        assert!(answers.get(&key("big")).is_none());
    }

    #[test]
    fn tsdb_lists_are_kept_for_their_version_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), HeadOptions::default(), DbOptions::default()).unwrap();
        let answers = IndexAnswers::default();
        assert!(answers.tsdb_lists(&db.index_version()).is_none());
        answers.keep_tsdb_lists(db.index_version(), Arc::new(b"lists".to_vec()));
        assert_eq!(
            answers.tsdb_lists(&db.index_version()).as_deref(),
            Some(&b"lists".to_vec())
        );
        let mut app = db.head().appender();
        app.append(&Labels::from_pairs([("__name__", "m".to_owned())]), 1, 1.0)
            .unwrap();
        app.commit().unwrap();
        assert!(
            answers.tsdb_lists(&db.index_version()).is_none(),
            "a new series"
        );
    }
}
