//! The rule manager (Prometheus 2.42 `rules.Manager`): loads the `rule_files` globs, runs
//! each group on its own thread at the group's slots, and on reload keeps the state of
//! groups that still exist, starts new ones and stops removed ones (whose series are marked
//! stale two intervals later, at the reload's wall-clock time).
//!
//! Locks: `groups` is held to swap the set; each group's state has its own mutex, held by
//! its thread during an evaluation and briefly by the API.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::alerting::AlertingRule;
use super::file::{self, RuleFile};
use super::group::{Group, Rule, RuleEnv, RuleKind, slot_at_or_before, stale_sample};

/// A running group.
pub struct RunningGroup {
    /// The group's state (rules, health, timings).
    pub state: Mutex<Group>,
    stop: AtomicBool,
    wake: Condvar,
    sleep: Mutex<()>,
}

impl RunningGroup {
    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _guard = self.sleep.lock();
        self.wake.notify_all();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Sleeps until `unix_ns` (or until stopped); returns false when stopped.
    fn sleep_until(&self, unix_ns: i64) -> bool {
        let mut guard = self.sleep.lock();
        loop {
            if self.stopped() {
                return false;
            }
            let now = now_ns();
            if now >= unix_ns {
                return true;
            }
            let wait = Duration::from_nanos((unix_ns - now) as u64);
            self.wake.wait_for(&mut guard, wait);
        }
    }
}

/// The rule manager.
pub struct RuleManager {
    env: Arc<dyn RuleEnv>,
    groups: Mutex<Vec<Arc<RunningGroup>>>,
    /// Whether the first load has happened (alert `for` state is restored only then).
    loaded_once: AtomicBool,
    /// Restores alert `for` state from `ALERTS_FOR_STATE` (set by the server).
    restore: Option<Arc<super::restore::Restorer>>,
}

/// Unix time in ns.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// The files a `rule_files` pattern names: the file itself, or for a pattern with `*`/`?`
/// in its last element, the matching files in that directory, sorted (Go `filepath.Glob`).
pub fn expand_pattern(pattern: &str) -> Vec<PathBuf> {
    let path = Path::new(pattern);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return if path.exists() {
            vec![path.to_owned()]
        } else {
            Vec::new()
        };
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| wildcard(&name, &e.file_name().to_string_lossy()))
                .map(|e| dir.join(e.file_name()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// `*` and `?` wildcard match of a whole name.
fn wildcard(pat: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Checks expressions with the PromQL parser.
pub fn check_expr(e: &str) -> Result<(), String> {
    fedstore_promql::parse_expr(e)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Reads and validates every file the patterns name; errors are `promtool check rules` lines.
pub fn load_files(patterns: &[String]) -> Result<Vec<(String, RuleFile)>, Vec<String>> {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for p in patterns {
        for path in expand_pattern(p) {
            match file::load(&path, &check_expr, &super::template::check) {
                Ok(f) => out.push((path.to_string_lossy().into_owned(), f)),
                Err(e) => errs.extend(e),
            }
        }
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
}

/// Builds the groups of loaded files; `default_interval_ns` is `evaluation_interval`.
pub fn build_groups(
    files: Vec<(String, RuleFile)>,
    default_interval_ns: i64,
) -> Result<Vec<Group>, String> {
    let mut groups = Vec::new();
    for (path, f) in files {
        for g in f.groups {
            let interval_ns = if g.interval.is_zero() {
                default_interval_ns
            } else {
                g.interval.as_millis() as i64 * 1_000_000
            };
            let mut rules = Vec::with_capacity(g.rules.len());
            for r in g.rules {
                let expr = fedstore_promql::parse_expr(&r.expr)
                    .map_err(|e| format!("{path}: group {:?}: {e}", g.name))?;
                let query = expr.to_string();
                let kind = if r.is_alert() {
                    RuleKind::Alerting(Box::new(AlertingRule::new(
                        r.alert.clone(),
                        r.for_.as_millis() as i64 * 1_000_000,
                        r.keep_firing_for.as_millis() as i64 * 1_000_000,
                        r.labels.clone(),
                        r.annotations.clone(),
                    )))
                } else {
                    RuleKind::Recording {
                        record: r.record.clone(),
                        labels: r.labels.clone(),
                    }
                };
                rules.push(Rule::new(r.name().to_owned(), expr, query, kind));
            }
            groups.push(Group::new(
                path.clone(),
                g.name,
                interval_ns,
                g.limit,
                rules,
            ));
        }
    }
    Ok(groups)
}

impl RuleManager {
    /// A manager with no groups.
    pub fn new(env: Arc<dyn RuleEnv>, restore: Option<Arc<super::restore::Restorer>>) -> Self {
        RuleManager {
            env,
            groups: Mutex::new(Vec::new()),
            loaded_once: AtomicBool::new(false),
            restore,
        }
    }

    /// Loads `patterns` and replaces the running groups. On error nothing changes and the
    /// error lists every problem (the reload's 500 / start-up's exit 1).
    pub fn apply(&self, patterns: &[String], default_interval_ns: i64) -> Result<(), String> {
        let files = load_files(patterns).map_err(|e| e.join("\n"))?;
        let new_groups = build_groups(files, default_interval_ns)?;
        let first_load = !self.loaded_once.swap(true, Ordering::SeqCst);
        let mut running = self.groups.lock();
        let mut old: HashMap<(String, String), Arc<RunningGroup>> = running
            .drain(..)
            .map(|g| {
                let key = {
                    let s = g.state.lock();
                    (s.file.clone(), s.name.clone())
                };
                (key, g)
            })
            .collect();
        for mut g in new_groups {
            let key = (g.file.clone(), g.name.clone());
            if let Some(prev) = old.remove(&key) {
                prev.stop();
                let prev_state = prev.state.lock().clone();
                g.copy_state(prev_state);
            } else if !first_load {
                for r in &mut g.rules {
                    if let RuleKind::Alerting(a) = &mut r.kind {
                        a.restored = true;
                    }
                }
            }
            running.push(self.spawn(g, first_load));
        }
        // Groups that are gone: stale markers for their series two intervals from now, at
        // the reload's wall-clock time (Prometheus `Group.run`'s deferred clean-up).
        let now = now_ns();
        for (_, g) in old {
            g.stop();
            let (series, interval) = {
                let s = g.state.lock();
                (s.written_series(), s.interval_ns)
            };
            if series.is_empty() {
                continue;
            }
            let env = self.env.clone();
            let _ = std::thread::Builder::new()
                .name("rules-stale".into())
                .spawn(move || {
                    std::thread::sleep(Duration::from_nanos(2 * interval.max(0) as u64));
                    let t_ms = now.div_euclid(1_000_000);
                    let stale: Vec<_> = series.iter().map(|l| stale_sample(l, t_ms)).collect();
                    let _ = env.append(&stale);
                });
        }
        Ok(())
    }

    fn spawn(&self, g: Group, restore_after_second: bool) -> Arc<RunningGroup> {
        let running = Arc::new(RunningGroup {
            state: Mutex::new(g),
            stop: AtomicBool::new(false),
            wake: Condvar::new(),
            sleep: Mutex::new(()),
        });
        let worker = running.clone();
        let env = self.env.clone();
        let restore = self.restore.clone();
        let name = format!("rules-{}", running.state.lock().name);
        let spawned = std::thread::Builder::new().name(name).spawn(move || {
            run_group(&worker, &env, restore_after_second, restore.as_deref());
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a rule group thread");
        }
        running
    }

    /// Snapshots of every group, sorted by (file, name) as the API lists them.
    pub fn groups(&self) -> Vec<Group> {
        let mut out: Vec<Group> = self
            .groups
            .lock()
            .iter()
            .map(|g| g.state.lock().clone())
            .collect();
        out.sort_by(|a, b| (&a.file, &a.name).cmp(&(&b.file, &b.name)));
        out
    }

    /// Stops every group (no stale markers: Prometheus writes none at shutdown).
    pub fn stop(&self) {
        for g in self.groups.lock().drain(..) {
            g.stop();
        }
    }
}

/// A group's loop (Prometheus `Group.run`): first evaluation at the first slot after start,
/// then every interval, skipping (and counting) slots an overrun missed.
fn run_group(
    g: &RunningGroup,
    env: &Arc<dyn RuleEnv>,
    restore_after_second: bool,
    restorer: Option<&super::restore::Restorer>,
) {
    let (interval, offset) = {
        let s = g.state.lock();
        (s.interval_ns.max(1), s.offset_ns())
    };
    let mut slot = slot_at_or_before(now_ns(), interval, offset) + interval;
    let mut evaluations = 0u32;
    loop {
        if !g.sleep_until(slot) {
            return;
        }
        let missed = (now_ns() - slot) / interval;
        if missed > 0 {
            slot += missed * interval;
            g.state.lock().iterations_missed += missed as u64;
        }
        g.state.lock().eval(slot, env);
        evaluations += 1;
        if restore_after_second && evaluations == 2 {
            let mut s = g.state.lock();
            let interval_ns = s.interval_ns;
            for r in &mut s.rules {
                if let RuleKind::Alerting(a) = &mut r.kind {
                    if let Some(restorer) = restorer {
                        restorer.restore(a, now_ns(), interval_ns);
                    }
                    a.restored = true;
                }
            }
        }
        slot += interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        for (p, s, want) in [
            ("*.yml", "a.yml", true),
            ("*.yml", "a.yaml", false),
            ("r?.yml", "r1.yml", true),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
        ] {
            assert_eq!(wildcard(p, s), want, "{p} {s}");
        }
    }

    #[test]
    fn patterns_expand_to_sorted_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        for f in ["b.yml", "a.yml", "c.txt"] {
            std::fs::write(dir.path().join(f), "groups: []\n").expect("write");
        }
        let pat = dir.path().join("*.yml").to_string_lossy().into_owned();
        let got: Vec<String> = expand_pattern(&pat)
            .iter()
            .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
            .collect();
        assert_eq!(got, ["a.yml", "b.yml"]);
        let exact = dir.path().join("c.txt").to_string_lossy().into_owned();
        assert_eq!(expand_pattern(&exact).len(), 1);
        assert!(expand_pattern("/nonexistent/x.yml").is_empty());
    }
}
