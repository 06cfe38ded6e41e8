//! Child processes of the tools: killed when their guard drops, when the tool errors out and
//! on Ctrl-C/SIGTERM (a global registry of live pids), plus `/proc` memory readings.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Kills every registered child (SIGKILL via `kill`); used by the signal handler.
pub fn kill_all_registered() {
    let pids: Vec<u32> = LIVE.lock().map(|v| v.clone()).unwrap_or_default();
    for pid in pids {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .status();
    }
}

/// Installs a Ctrl-C/SIGTERM handler that kills registered children and exits with 130.
pub fn install_signal_handler() -> Result<()> {
    ctrlc::set_handler(|| {
        eprintln!("interrupted: killing child processes");
        kill_all_registered();
        std::process::exit(130);
    })
    .context("installing signal handler")
}

/// A running child process, killed (SIGTERM, then SIGKILL after 10 s) on drop.
pub struct ChildGuard {
    name: String,
    child: Child,
}

impl ChildGuard {
    /// Spawns `cmd` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Self> {
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name}: {cmd:?}"))?;
        if let Ok(mut v) = LIVE.lock() {
            v.push(child.id());
        }
        Ok(ChildGuard {
            name: name.to_string(),
            child,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails if the process has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            anyhow::bail!("{} exited early: {status}", self.name);
        }
        Ok(())
    }

    /// Kills the process with SIGKILL at once (a crash: no shutdown code runs) and reaps it.
    pub fn kill(&mut self) {
        let pid = self.child.id();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Ok(mut v) = LIVE.lock() {
            v.retain(|&p| p != pid);
        }
    }

    /// Stops the process: SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub fn stop(&mut self, grace: Duration) {
        let pid = self.child.id();
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if self.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Ok(mut v) = LIVE.lock() {
            v.retain(|&p| p != pid);
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(10));
    }
}

/// Memory of a process in KiB: `(VmRSS, VmHWM)` from `/proc/<pid>/status`.
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some((
        status_field(&text, "VmRSS:")?,
        status_field(&text, "VmHWM:")?,
    ))
}

/// `(RssAnon, RssFile + RssShmem)` of a process in KiB: heap versus mapped file pages (the
/// kernel can drop clean file pages under pressure; anonymous memory it cannot).
pub fn rss_split_kib(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some((
        status_field(&text, "RssAnon:")?,
        status_field(&text, "RssFile:")? + status_field(&text, "RssShmem:")?,
    ))
}

/// Number of threads of a process.
pub fn threads(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_field(&text, "Threads:")
}

/// CPU time (user + system, all threads) a process has used, from `/proc/<pid>/stat`,
/// assuming the usual 100 clock ticks per second.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name start at field 3 (state).
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time (user + system) of a process's threads whose name starts with `prefix`, from
/// `/proc/<pid>/task/*/stat` (threads that ended are not counted), at 100 ticks per second.
pub fn threads_cpu_time(pid: u32, prefix: &str) -> Option<Duration> {
    let mut ticks = 0u64;
    for e in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let Ok(text) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (text.find('('), text.rfind(')')) else {
            continue;
        };
        if !text[open + 1..close].starts_with(prefix) {
            continue;
        }
        let f: Vec<&str> = text[close + 1..].split_whitespace().collect();
        ticks += f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    }
    Some(Duration::from_millis(ticks * 10))
}

/// Sets the calling thread's nice value to `nice` (Linux keeps one per thread) with
/// `renice`, so a load generator can stand aside for the server it loads.
pub fn renice_this_thread(nice: i32) -> Result<()> {
    // `/proc/thread-self` links to `<pid>/task/<tid>`.
    let link = std::fs::read_link("/proc/thread-self")?;
    let tid = link
        .file_name()
        .and_then(|t| t.to_str())
        .ok_or_else(|| anyhow::anyhow!("/proc/thread-self -> {}", link.display()))?
        .to_owned();
    let out = std::process::Command::new("renice")
        .args(["-n", &nice.to_string(), "-p", &tid])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "renice -n {nice} -p {tid}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// `MemAvailable` of the machine in KiB.
pub fn mem_available_kib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    status_field(&text, "MemAvailable:")
}

fn status_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The 1-minute load average: other work on the machine skews every number.
pub fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Polls `check` every 2 s until it returns `Ok(true)`, failing when `child` exits (pointing
/// at its `log`) or after `timeout`.
pub fn wait_until(
    child: &mut ChildGuard,
    log: &Path,
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        child
            .check_alive()
            .with_context(|| format!("see {}", log.display()))?;
        if let Ok(true) = check() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            anyhow::bail!("timed out after {}s waiting for {what}", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_memory() {
        let (rss, hwm) = rss_kib(std::process::id()).expect("own /proc status");
        assert!(rss > 0 && hwm >= rss, "rss {rss} hwm {hwm}");
        assert!(mem_available_kib().expect("meminfo") > 0);
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let me = std::process::id();
        let before = cpu_time(me).expect("own /proc stat");
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(300) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let after = cpu_time(me).expect("own /proc stat");
        assert!(after > before, "before {before:?} after {after:?}");
    }

    #[test]
    fn guard_kills_child_on_drop() {
        let dir = std::env::temp_dir().join(format!("procs-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new("sleep");
        cmd.arg("600");
        let guard = ChildGuard::spawn("sleep", cmd, &dir.join("log")).unwrap();
        let pid = guard.pid();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        drop(guard);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "child {pid} still alive"
        );
        assert!(!LIVE.lock().unwrap().contains(&pid));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
