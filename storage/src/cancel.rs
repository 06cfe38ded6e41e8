//! A query's stop signal ([`Cancel`]): a deadline and a flag the server raises when the
//! query's request was dropped. Storage loops that walk many series check it every
//! [`CHECK_EVERY`] series and stop with [`Error::Stopped`], so a query past its time
//! releases its thread and slot instead of walking on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::error::Error;

/// How many series a loop walks between two checks: a check is a clock read and an atomic
/// load (tens of ns), a series at least a label-set read, so the checks cost well under 1%.
pub const CHECK_EVERY: usize = 256;

/// Why a walk stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stop {
    /// The query's deadline passed.
    Timeout,
    /// The query was canceled (its request was dropped).
    Canceled,
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stop::Timeout => "deadline passed",
            Stop::Canceled => "canceled",
        })
    }
}

/// A stop signal shared by a query's threads; clones share the flag. The default has no
/// deadline: it stops only when canceled.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    deadline: Option<Instant>,
    flag: Arc<AtomicBool>,
}

impl Cancel {
    /// A signal that stops at `deadline` (never when `None`) or when [`Cancel::cancel`] is
    /// called on it or a clone.
    pub fn new(deadline: Option<Instant>) -> Self {
        Cancel {
            deadline,
            flag: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Stops every walk checking this signal (or a clone) from its next check on.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }

    /// Why to stop now, if at all: the deadline first (a query past it timed out, even if
    /// its client left too), then the flag.
    pub fn stopped(&self) -> Option<Stop> {
        if let Some(d) = self.deadline
            && Instant::now() >= d
        {
            return Some(Stop::Timeout);
        }
        self.flag.load(Ordering::Relaxed).then_some(Stop::Canceled)
    }

    /// [`Error::Stopped`] when the walk must stop.
    pub fn check(&self) -> Result<(), Error> {
        match self.stopped() {
            Some(s) => Err(Error::Stopped(s)),
            None => Ok(()),
        }
    }

    /// [`Cancel::check`] every [`CHECK_EVERY`]th `i` (loops call it with their index).
    #[inline]
    pub fn check_at(&self, i: usize) -> Result<(), Error> {
        if i.is_multiple_of(CHECK_EVERY) {
            self.check()
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stops_at_the_deadline_or_when_canceled() {
        assert_eq!(Cancel::default().stopped(), None);
        let later = Cancel::new(Some(Instant::now() + Duration::from_secs(3600)));
        assert_eq!(later.stopped(), None);
        assert!(later.check_at(0).is_ok());
        let clone = later.clone();
        clone.cancel();
        assert_eq!(later.stopped(), Some(Stop::Canceled));
        assert!(matches!(
            later.check_at(CHECK_EVERY),
            Err(Error::Stopped(Stop::Canceled))
        ));
        // Between checks nothing is looked at.
        assert!(later.check_at(1).is_ok());
        let past = Cancel::new(Some(Instant::now()));
        assert!(matches!(past.check(), Err(Error::Stopped(Stop::Timeout))));
    }
}
