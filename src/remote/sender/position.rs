//! The sender's position file: the WAL position up to which every sample was acknowledged by
//! the receiver (or dropped for good), so a restart, even after `kill -9`, resumes there.
//!
//! Format: one line `<segment> <offset> <crc32c of "<segment> <offset>">`. Written to a
//! temporary file, fsynced, renamed over the old one and the directory fsynced: a crash leaves
//! the old or the new position, never a torn one. A damaged file is ignored with a warning
//! (the sender then starts at the newest segment, as without a file).

use std::io::Write;
use std::path::{Path, PathBuf};

use fedstore_storage::wal::WalPosition;

/// Where the position of the queue `remote_name` is kept under `dir`.
pub fn path(dir: &Path, remote_name: &str) -> PathBuf {
    let safe: String = remote_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{safe}.position"))
}

/// The stored position, `None` when there is none or it is damaged.
pub fn load(path: &Path) -> Option<WalPosition> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot read the remote-write position");
            return None;
        }
    };
    let parsed = parse(text.trim_end());
    if parsed.is_none() {
        tracing::warn!(file = %path.display(), "damaged remote-write position file ignored");
    }
    parsed
}

fn parse(line: &str) -> Option<WalPosition> {
    let mut it = line.split(' ');
    let (seg, off, crc) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some()
        || crc.parse::<u32>().ok()? != crc32c::crc32c(format!("{seg} {off}").as_bytes())
    {
        return None;
    }
    Some(WalPosition {
        segment: seg.parse().ok()?,
        offset: off.parse().ok()?,
    })
}

/// Stores `pos` durably (see the module doc).
pub fn store(path: &Path, pos: WalPosition) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let body = format!("{} {}", pos.segment, pos.offset);
    let line = format!("{body} {}\n", crc32c::crc32c(body.as_bytes()));
    let tmp = path.with_extension("position.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(line.as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(dir.path(), "vm/1 a");
        assert_eq!(
            p.file_name().and_then(|n| n.to_str()),
            Some("vm_1_a.position")
        );
        assert_eq!(load(&p), None);
        let pos = WalPosition {
            segment: 7,
            offset: 12345,
        };
        store(&p, pos).expect("store");
        assert_eq!(load(&p), Some(pos));
        let pos2 = WalPosition {
            segment: 8,
            offset: 8,
        };
        store(&p, pos2).expect("store");
        assert_eq!(load(&p), Some(pos2));
        std::fs::write(&p, "8 9 123\n").expect("write");
        assert_eq!(load(&p), None);
        std::fs::write(&p, "8 ").expect("write");
        assert_eq!(load(&p), None);
    }
}
