//! Which WAL records are fully acknowledged: each samples record the watcher hands to the
//! shards gets an id and a count of samples in flight; shards report the samples they finished
//! (sent, or dropped for good) per id; the position after the longest finished prefix of
//! records is what the position file may say.
//!
//! Records finish out of order (shards send independently); only a prefix moves the position,
//! so a restart resends at most the records after it, never skips one.

use std::collections::VecDeque;

use fedstore_storage::wal::WalPosition;
use parking_lot::Mutex;

/// The records in flight and the committed position.
#[derive(Debug)]
pub struct Ledger {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Id of `entries[0]`.
    first_id: u64,
    /// Per record: samples not finished yet, and the position after the record.
    entries: VecDeque<(u64, WalPosition)>,
    /// Position after the last record of the finished prefix.
    committed: WalPosition,
}

impl Ledger {
    /// A ledger whose records so far are finished up to `start`.
    pub fn new(start: WalPosition) -> Ledger {
        Ledger {
            inner: Mutex::new(Inner {
                first_id: 0,
                entries: VecDeque::new(),
                committed: start,
            }),
        }
    }

    /// Registers a record of `samples` samples in flight ending at `end`; returns its id.
    /// A record with no samples (or a segment boundary) is finished at once when it is next in
    /// line.
    pub fn open(&self, samples: u64, end: WalPosition) -> u64 {
        let mut g = self.inner.lock();
        let id = g.first_id + g.entries.len() as u64;
        g.entries.push_back((samples, end));
        g.advance();
        id
    }

    /// Marks `n` samples of record `id` finished.
    pub fn finish(&self, runs: &[(u64, u64)]) {
        let mut g = self.inner.lock();
        for &(id, n) in runs {
            let Some(i) = id.checked_sub(g.first_id) else {
                continue;
            };
            if let Some(e) = g.entries.get_mut(i as usize) {
                e.0 = e.0.saturating_sub(n);
            }
        }
        g.advance();
    }

    /// The position every sample before which is finished.
    pub fn committed(&self) -> WalPosition {
        self.inner.lock().committed
    }

    /// Samples in flight (read from the WAL, not finished).
    pub fn pending(&self) -> u64 {
        self.inner.lock().entries.iter().map(|e| e.0).sum()
    }
}

impl Inner {
    fn advance(&mut self) {
        while let Some(&(0, end)) = self.entries.front() {
            self.entries.pop_front();
            self.first_id += 1;
            self.committed = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: u64) -> WalPosition {
        WalPosition { segment: 3, offset }
    }

    #[test]
    fn only_a_finished_prefix_moves_the_position() {
        let l = Ledger::new(at(8));
        let a = l.open(2, at(100));
        let b = l.open(3, at(200));
        let c = l.open(0, at(250));
        assert_eq!((a, b, c), (0, 1, 2));
        l.finish(&[(b, 3)]);
        assert_eq!(l.committed(), at(8), "b finished but a is not");
        assert_eq!(l.pending(), 2);
        l.finish(&[(a, 1)]);
        assert_eq!(l.committed(), at(8));
        l.finish(&[(a, 1)]);
        assert_eq!(l.committed(), at(250), "a, b and the empty c are done");
        let d = l.open(0, at(300));
        assert_eq!(d, 3);
        assert_eq!(l.committed(), at(300));
        // Unknown or already finished ids are ignored.
        l.finish(&[(0, 5), (99, 1)]);
        assert_eq!(l.committed(), at(300));
    }
}
