//! The web config as it is on disk now. exporter-toolkit re-reads `--web.config.file` for
//! every TLS handshake and every request, so rotated certificates, a new client CA and
//! changed `basic_auth_users` or headers take effect without a restart; [`Live`] gives the
//! same, re-parsing the file only when its size or modification time changed.
//!
//! A file that became invalid is not silently replaced by the last good one: as in
//! exporter-toolkit, requests then fail (500) and handshakes are refused until it is fixed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;

use super::WebConfig;

/// What identifies a version of the file: modification time, size and inode.
type Stamp = Option<(SystemTime, u64, u64)>;

fn stamp(path: &std::path::Path) -> Stamp {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

/// The current web config: fixed (no file) or followed on disk.
#[derive(Debug)]
pub struct Live {
    path: Option<PathBuf>,
    state: Mutex<(Stamp, Result<Arc<WebConfig>, String>)>,
}

impl Live {
    /// Follows `cfg.source` when set (a config from [`WebConfig::load`]); otherwise `cfg`
    /// stays as it is.
    pub fn new(cfg: Arc<WebConfig>) -> Live {
        let path = cfg.source.clone();
        let st = path.as_deref().and_then(stamp);
        Live {
            path,
            state: Mutex::new((st, Ok(cfg))),
        }
    }

    /// The configuration now: re-read when the file changed since the last call. The error
    /// says why the file cannot be used (it is logged once per change).
    pub fn current(&self) -> Result<Arc<WebConfig>, String> {
        let Some(path) = &self.path else {
            return self.state.lock().1.clone();
        };
        let now = stamp(path);
        let mut st = self.state.lock();
        if now != st.0 {
            st.0 = now;
            st.1 = WebConfig::load(path)
                .map(Arc::new)
                .map_err(|e| e.to_string());
            match &st.1 {
                Ok(_) => tracing::info!(file = %path.display(), "web config reloaded"),
                Err(e) => {
                    tracing::error!(file = %path.display(), err = %e, "web config invalid: requests fail until it is fixed")
                }
            }
        }
        st.1.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_file_and_reports_a_broken_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("web.yml");
        std::fs::write(&p, "basic_auth_users:\n  alice: $2y$04$aaaa\n").unwrap();
        let live = Live::new(Arc::new(WebConfig::load(&p).unwrap()));
        assert!(
            live.current()
                .unwrap()
                .basic_auth_users
                .contains_key("alice")
        );
        // A different size is a different stamp even within the same mtime tick.
        std::fs::write(&p, "basic_auth_users:\n  bob: $2y$04$bbbbbb\n").unwrap();
        let now = live.current().unwrap();
        assert!(now.basic_auth_users.contains_key("bob"));
        assert!(!now.basic_auth_users.contains_key("alice"));
        std::fs::write(&p, "basic_auth_users: [not a map\n").unwrap();
        assert!(live.current().unwrap_err().contains("parsing"));
        let fixed = Live::new(Arc::new(WebConfig::default()));
        assert!(fixed.current().unwrap().basic_auth_users.is_empty());
    }
}
