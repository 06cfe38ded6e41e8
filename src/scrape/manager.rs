//! The scrape manager (Prometheus 2.42 `scrape.Manager` + `scrapePool`): one pool per job,
//! one loop per target on a dedicated tokio runtime, reload by diffing configurations, file
//! service discovery by polling, and the snapshot `/api/v1/targets` renders.
//!
//! Reload rules: a job whose scrape settings are unchanged (target discovery aside) keeps
//! the loops of its targets whose labels are unchanged; everything else stops (its series get
//! end-of-run stale markers) and new loops start. (Prometheus restarts every loop of a job
//! whose configuration changed in any way, reusing their caches.) Locks: `state` is held only to diff and
//! spawn, never across an await.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use fedstore_storage::Head;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::config::file_sd::read_target_file;
use crate::config::{Config, ScrapeConfig, TargetGroup};
use crate::metrics::Metrics;
use crate::scrape::append::SampleContext;
use crate::scrape::dial::Dialer;
use crate::scrape::scrape_loop::{self, LoopCmd, LoopShared, TargetStatus};
use crate::scrape::target::{LabelPairs, Populated, Target, fnv1a, targets_from_group};

/// How often file-SD files are checked for changes (besides `refresh_interval`).
const FILE_SD_POLL: Duration = Duration::from_secs(1);

/// Why a configuration cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// A job uses a scheme fedstore cannot scrape (`http` and `https` are).
    #[error(
        "scrape config with job name {job:?}: scheme {scheme:?} is not supported by fedstore (only http and https)"
    )]
    UnsupportedScheme {
        /// The job.
        job: String,
        /// The scheme.
        scheme: String,
    },
    /// The job's HTTP client cannot be built (its `tls_config` files, ...).
    #[error("scrape config with job name {job:?}: error creating HTTP client: {message}")]
    HttpClient {
        /// The job.
        job: String,
        /// What is wrong, in Prometheus's words.
        message: String,
    },
    /// The manager was stopped.
    #[error("the scrape manager is stopped")]
    Stopped,
}

/// One running target loop.
struct ActiveTarget {
    shared: Arc<LoopShared>,
    cmd: watch::Sender<LoopCmd>,
}

/// One job.
struct Pool {
    cfg: Arc<ScrapeConfig>,
    /// How the job's targets are reached (TLS, proxy).
    dialer: Arc<Dialer>,
    /// Distinguishes this pool from a later one of the same job (for the file-SD task).
    generation: u64,
    /// File-SD groups per file, as last read successfully.
    file_groups: BTreeMap<PathBuf, Vec<TargetGroup>>,
    /// Active targets in discovery order.
    active: Vec<ActiveTarget>,
    /// Labels before relabeling of targets relabeling dropped.
    dropped: Vec<LabelPairs>,
    /// The file-SD polling task.
    sd_task: Option<tokio::task::JoinHandle<()>>,
}

struct State {
    /// Pools in configuration order.
    pools: Vec<Pool>,
    jitter_seed: u64,
    stopped: bool,
}

struct Inner {
    head: Arc<Head>,
    /// Where loops count scrapes (`/metrics`).
    metrics: Arc<Metrics>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    state: Mutex<State>,
    generation: AtomicU64,
}

/// The scrape manager. Cheap to share (`Arc` inside); stops its loops when [`stop`] is
/// called or the last handle drops.
///
/// [`stop`]: ScrapeManager::stop
#[derive(Clone)]
pub struct ScrapeManager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ScrapeManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeManager").finish_non_exhaustive()
    }
}

/// One active target as `/api/v1/targets` shows it.
#[derive(Debug, Clone)]
pub struct ActiveView {
    /// Job name.
    pub scrape_pool: String,
    /// Labels before relabeling.
    pub discovered: LabelPairs,
    /// Public target labels.
    pub labels: Vec<(String, String)>,
    /// Scrape URL.
    pub scrape_url: String,
    /// Interval as written in `__scrape_interval__`.
    pub interval: String,
    /// Timeout as written in `__scrape_timeout__`.
    pub timeout: String,
    /// Last scrape.
    pub status: TargetStatus,
}

/// A snapshot of every pool's targets.
#[derive(Debug, Clone, Default)]
pub struct TargetsView {
    /// Active targets, pools sorted by name, targets in discovery order.
    pub active: Vec<ActiveView>,
    /// Dropped targets' labels before relabeling, with their pool.
    pub dropped: Vec<(String, LabelPairs)>,
}

/// The machine's host name (for the jitter seed and `globalUrl`).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}

impl ScrapeManager {
    /// A manager appending to `head`, running its loops on a new runtime of `threads` worker
    /// threads (parsing runs on that runtime's blocking pool). No jobs until
    /// [`ScrapeManager::apply_config`].
    pub fn new(
        head: Arc<Head>,
        threads: usize,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<ScrapeManager> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .max_blocking_threads(cores.max(2) * 2)
            .thread_name("scrape")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        Ok(ScrapeManager {
            inner: Arc::new(Inner {
                head,
                metrics,
                runtime: Mutex::new(Some(runtime)),
                handle,
                state: Mutex::new(State {
                    pools: Vec::new(),
                    jitter_seed: 0,
                    stopped: false,
                }),
                generation: AtomicU64::new(1),
            }),
        })
    }

    /// Applies `cfg`: jobs added, changed (restarted) or removed; unchanged jobs keep their
    /// loops. On error nothing changes.
    pub fn apply_config(&self, cfg: &Config) -> Result<(), ApplyError> {
        // Every job's client first (Prometheus's newScrapePool): on error nothing changes.
        let mut dialers: HashMap<&str, Arc<Dialer>> = HashMap::new();
        for sc in &cfg.scrape_configs {
            if sc.scheme != "http" && sc.scheme != "https" {
                return Err(ApplyError::UnsupportedScheme {
                    job: sc.job_name.clone(),
                    scheme: sc.scheme.clone(),
                });
            }
            let d = Dialer::new(&sc.http_client).map_err(|message| ApplyError::HttpClient {
                job: sc.job_name.clone(),
                message,
            })?;
            dialers.insert(&sc.job_name, Arc::new(d));
        }
        let mut state = self.inner.state.lock();
        if state.stopped {
            return Err(ApplyError::Stopped);
        }
        let mut ext = String::new();
        for (n, v) in cfg.external_labels() {
            ext.push_str(&format!("{n}={v:?}, "));
        }
        state.jitter_seed = fnv1a(&[hostname().as_bytes(), ext.as_bytes()]);
        let mut old: HashMap<String, Pool> = state
            .pools
            .drain(..)
            .map(|p| (p.cfg.job_name.clone(), p))
            .collect();
        let mut pools = Vec::with_capacity(cfg.scrape_configs.len());
        for sc in &cfg.scrape_configs {
            match old.remove(&sc.job_name) {
                Some(p) if *p.cfg == *sc => pools.push(p),
                Some(mut p) if same_scrape_settings(&p.cfg, sc) => {
                    // Only the discovery changed: re-sync, keeping the loops of unchanged
                    // targets.
                    if let Some(t) = p.sd_task.take() {
                        t.abort();
                    }
                    p.cfg = Arc::new(sc.clone());
                    p.generation = self.inner.generation.fetch_add(1, Ordering::Relaxed);
                    p.file_groups.clear();
                    self.start_file_sd(&mut p);
                    self.sync_pool(&mut p, state.jitter_seed);
                    pools.push(p);
                }
                prev => {
                    if let Some(p) = prev {
                        stop_pool(p, LoopCmd::Stop);
                    }
                    let dialer = match dialers.get(sc.job_name.as_str()) {
                        Some(d) => d.clone(),
                        None => continue,
                    };
                    pools.push(self.new_pool(sc.clone(), dialer, state.jitter_seed));
                }
            }
        }
        for (_, p) in old {
            stop_pool(p, LoopCmd::Stop);
        }
        state.pools = pools;
        Ok(())
    }

    /// A new pool for `cfg`: static and file-SD targets started, file-SD polling running.
    fn new_pool(&self, cfg: ScrapeConfig, dialer: Arc<Dialer>, jitter_seed: u64) -> Pool {
        let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed);
        let mut pool = Pool {
            cfg: Arc::new(cfg),
            dialer,
            generation,
            file_groups: BTreeMap::new(),
            active: Vec::new(),
            dropped: Vec::new(),
            sd_task: None,
        };
        self.start_file_sd(&mut pool);
        self.sync_pool(&mut pool, jitter_seed);
        pool
    }

    /// Reads the pool's file-SD files and starts polling them.
    fn start_file_sd(&self, pool: &mut Pool) {
        if pool.cfg.file_sd_configs.is_empty() {
            return;
        }
        refresh_files(pool);
        let weak = Arc::downgrade(&self.inner);
        let job = pool.cfg.job_name.clone();
        pool.sd_task = Some(
            self.inner
                .handle
                .spawn(file_sd_task(weak, job, pool.generation)),
        );
    }

    /// Brings the pool's loops in line with its current groups.
    fn sync_pool(&self, pool: &mut Pool, jitter_seed: u64) {
        let cfg = pool.cfg.clone();
        let groups = cfg
            .static_configs
            .iter()
            .chain(pool.file_groups.values().flatten());
        let mut targets: Vec<Target> = Vec::new();
        let mut seen: HashSet<u64> = HashSet::new();
        let mut dropped = Vec::new();
        for g in groups {
            for r in targets_from_group(g, &cfg) {
                match r {
                    Ok(Populated::Active(t))
                        if !t.url.starts_with("http://") && !t.url.starts_with("https://") =>
                    {
                        tracing::warn!(
                            job = %cfg.job_name, url = %t.url,
                            "target skipped: only the http and https schemes are supported by fedstore"
                        );
                    }
                    Ok(Populated::Active(t)) => {
                        if seen.insert(t.hash()) {
                            targets.push(t);
                        }
                    }
                    Ok(Populated::Dropped(l)) => dropped.push(l),
                    Err(e) => {
                        tracing::warn!(job = %cfg.job_name, err = %e, "creating target failed");
                    }
                }
            }
        }
        pool.dropped = dropped;
        let mut old: Vec<Option<ActiveTarget>> = pool.active.drain(..).map(Some).collect();
        let mut active = Vec::with_capacity(targets.len());
        for t in targets {
            let keep = old
                .iter_mut()
                .find(|o| o.as_ref().is_some_and(|o| *o.shared.target == t))
                .and_then(Option::take);
            match keep {
                Some(a) => active.push(a),
                None => active.push(self.start_loop(&cfg, &pool.dialer, t, jitter_seed)),
            }
        }
        for o in old.into_iter().flatten() {
            let _ = o.cmd.send(LoopCmd::Stop);
        }
        // Prometheus `checkTargetLimit`: over the limit every target of the pool fails.
        let forced = (cfg.target_limit > 0 && active.len() as u64 > cfg.target_limit).then(|| {
            format!(
                "target_limit exceeded (number of targets: {}, limit: {})",
                active.len(),
                cfg.target_limit
            )
        });
        for a in &active {
            a.shared.forced_error.lock().clone_from(&forced);
        }
        pool.active = active;
    }

    fn start_loop(
        &self,
        cfg: &ScrapeConfig,
        dialer: &Arc<Dialer>,
        target: Target,
        jitter_seed: u64,
    ) -> ActiveTarget {
        let mut ctx = SampleContext::new(target.public.clone());
        ctx.honor_labels = cfg.honor_labels;
        ctx.honor_timestamps = cfg.honor_timestamps;
        ctx.metric_relabel = cfg.metric_relabel_configs.clone();
        ctx.sample_limit = cfg.sample_limit;
        ctx.label_limit = cfg.label_limit;
        ctx.label_name_length_limit = cfg.label_name_length_limit;
        ctx.label_value_length_limit = cfg.label_value_length_limit;
        let shared = Arc::new(LoopShared {
            target: Arc::new(target),
            ctx: Arc::new(ctx),
            http: cfg.http_client.clone(),
            dialer: dialer.clone(),
            body_limit: cfg.body_size_limit.limit(),
            status: Mutex::new(TargetStatus::default()),
            forced_error: Mutex::new(None),
            metrics: self.inner.metrics.clone(),
            metadata: Mutex::new(Arc::default()),
        });
        let (tx, rx) = watch::channel(LoopCmd::Run);
        self.inner.handle.spawn(scrape_loop::run(
            self.inner.head.clone(),
            shared.clone(),
            rx,
            jitter_seed,
        ));
        ActiveTarget { shared, cmd: tx }
    }

    /// A snapshot of all targets for `/api/v1/targets`.
    pub fn targets(&self) -> TargetsView {
        let state = self.inner.state.lock();
        let mut pools: Vec<&Pool> = state.pools.iter().collect();
        pools.sort_by(|a, b| a.cfg.job_name.cmp(&b.cfg.job_name));
        let mut view = TargetsView::default();
        for p in pools {
            for a in &p.active {
                let t = &a.shared.target;
                let get = |n: &str| {
                    t.labels
                        .iter()
                        .find(|(k, _)| k == n)
                        .map_or(String::new(), |(_, v)| v.clone())
                };
                view.active.push(ActiveView {
                    scrape_pool: p.cfg.job_name.clone(),
                    discovered: t.discovered.clone(),
                    labels: t
                        .public
                        .iter()
                        .map(|l| (l.name.clone(), l.value.clone()))
                        .collect(),
                    scrape_url: t.url.clone(),
                    interval: get(crate::scrape::target::SCRAPE_INTERVAL_LABEL),
                    timeout: get(crate::scrape::target::SCRAPE_TIMEOUT_LABEL),
                    status: a.shared.status.lock().clone(),
                });
            }
            for d in &p.dropped {
                view.dropped.push((p.cfg.job_name.clone(), d.clone()));
            }
        }
        view
    }

    /// The metadata of every active target's last successful scrape (`/api/v1/metadata`).
    pub fn metadata(&self) -> Vec<Arc<crate::scrape::metadata::TargetMetadata>> {
        let state = self.inner.state.lock();
        state
            .pools
            .iter()
            .flat_map(|p| p.active.iter())
            .map(|a| a.shared.metadata.lock().clone())
            .collect()
    }

    /// Stops every loop without stale markers (shutdown) and the runtime. Idempotent.
    pub fn stop(&self) {
        {
            let mut state = self.inner.state.lock();
            state.stopped = true;
            for p in state.pools.drain(..) {
                stop_pool(p, LoopCmd::Shutdown);
            }
        }
        if let Some(rt) = self.inner.runtime.lock().take() {
            rt.shutdown_background();
        }
    }

    /// Re-reads the file-SD files of job `job` (pool `generation`) and re-syncs its targets
    /// when they changed.
    fn refresh_job(&self, job: &str, generation: u64, force: bool) -> bool {
        let mut state = self.inner.state.lock();
        if state.stopped {
            return false;
        }
        let seed = state.jitter_seed;
        let Some(pool) = state
            .pools
            .iter_mut()
            .find(|p| p.cfg.job_name == job && p.generation == generation)
        else {
            return false;
        };
        if refresh_files(pool) || force {
            self.sync_pool(pool, seed);
        }
        true
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.get_mut().take() {
            rt.shutdown_background();
        }
    }
}

/// Whether two jobs scrape alike, ignoring their target discovery (`static_configs`,
/// `file_sd_configs`): then the loops of unchanged targets can keep running.
fn same_scrape_settings(a: &ScrapeConfig, b: &ScrapeConfig) -> bool {
    let strip = |c: &ScrapeConfig| {
        let mut c = c.clone();
        c.static_configs.clear();
        c.file_sd_configs.clear();
        c
    };
    strip(a) == strip(b)
}

fn stop_pool(mut p: Pool, cmd: LoopCmd) {
    if let Some(t) = p.sd_task.take() {
        t.abort();
    }
    for a in p.active.drain(..) {
        let _ = a.cmd.send(cmd);
    }
}

/// Re-reads the pool's file-SD files; returns whether the groups changed. A file that fails
/// to read keeps its previous groups (Prometheus logs and keeps them); a vanished file's
/// groups are removed.
fn refresh_files(pool: &mut Pool) -> bool {
    let mut files: Vec<PathBuf> = Vec::new();
    for sd in &pool.cfg.file_sd_configs {
        files.extend(sd.list_files());
    }
    let mut next: BTreeMap<PathBuf, Vec<TargetGroup>> = BTreeMap::new();
    for f in files {
        match read_target_file(&f) {
            Ok(groups) => {
                next.insert(f, groups);
            }
            Err(e) => {
                tracing::error!(file = %f.display(), err = %e, "error reading file-SD file");
                if let Some(g) = pool.file_groups.get(&f) {
                    next.insert(f, g.clone());
                }
            }
        }
    }
    let changed = next != pool.file_groups;
    pool.file_groups = next;
    changed
}

/// Polls the files of a job's file SD: on any mtime/size change, and every
/// `refresh_interval`, the files are re-read.
async fn file_sd_task(inner: std::sync::Weak<Inner>, job: String, generation: u64) {
    let mut last_sig: Vec<(PathBuf, Option<(SystemTime, u64)>)> = Vec::new();
    let mut last_full = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(FILE_SD_POLL).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let mgr = ScrapeManager { inner };
        let (patterns, refresh) = {
            let state = mgr.inner.state.lock();
            let Some(p) = state
                .pools
                .iter()
                .find(|p| p.cfg.job_name == job && p.generation == generation)
            else {
                return;
            };
            let refresh = p
                .cfg
                .file_sd_configs
                .iter()
                .map(|c| c.refresh_interval.as_std())
                .filter(|d| !d.is_zero())
                .min();
            (p.cfg.file_sd_configs.clone(), refresh)
        };
        let mut sig = Vec::new();
        for sd in &patterns {
            for f in sd.list_files() {
                let meta = std::fs::metadata(&f)
                    .ok()
                    .and_then(|m| m.modified().ok().map(|t| (t, m.len())));
                sig.push((f, meta));
            }
        }
        let due = refresh.is_some_and(|r| last_full.elapsed() >= r);
        if sig != last_sig || due {
            last_sig = sig;
            last_full = tokio::time::Instant::now();
            if !mgr.refresh_job(&job, generation, false) {
                return;
            }
        }
        // Drop our strong handle before sleeping, so the manager can go away.
        drop(mgr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager() -> (tempfile::TempDir, ScrapeManager) {
        let dir = tempfile::tempdir().unwrap();
        let head = Arc::new(Head::open(&dir.path().join("head"), Default::default()).unwrap());
        (
            dir,
            ScrapeManager::new(head, 1, Default::default()).unwrap(),
        )
    }

    fn cfg(jobs: &str) -> Config {
        Config::parse(&format!("scrape_configs:\n{jobs}"), "t.yml").unwrap()
    }

    /// The loop state of every target, by (job, instance).
    fn loops(m: &ScrapeManager) -> Vec<(String, String, Arc<LoopShared>)> {
        let st = m.inner.state.lock();
        st.pools
            .iter()
            .flat_map(|p| {
                p.active.iter().map(|a| {
                    (
                        p.cfg.job_name.clone(),
                        a.shared.target.public.get("instance").to_owned(),
                        a.shared.clone(),
                    )
                })
            })
            .collect()
    }

    #[test]
    fn unknown_schemes_and_bad_tls_files_are_rejected_and_nothing_changes() {
        let (_d, m) = manager();
        m.apply_config(&cfg(
            "- job_name: a\n  static_configs: [{targets: ['127.0.0.1:1']}]\n",
        ))
        .unwrap();
        let err = m
            .apply_config(&cfg(
                "- job_name: b\n  scheme: ftp\n  static_configs: [{targets: ['h:1']}]\n",
            ))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "scrape config with job name \"b\": scheme \"ftp\" is not supported by fedstore (only http and https)"
        );
        let err = m
            .apply_config(&cfg(
                "- job_name: c\n  scheme: https\n  tls_config: {ca_file: /nonexistent/ca.pem}\n  static_configs: [{targets: ['h:1']}]\n",
            ))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "scrape config with job name \"c\": error creating HTTP client: unable to load specified CA cert /nonexistent/ca.pem: No such file or directory (os error 2)"
        );
        assert_eq!(m.targets().active.len(), 1);
        assert_eq!(m.targets().active[0].scrape_pool, "a");
        m.stop();
        assert_eq!(m.apply_config(&cfg("")), Err(ApplyError::Stopped));
    }

    #[test]
    fn reload_keeps_unchanged_loops_and_restarts_changed_ones() {
        let (_d, m) = manager();
        let a = "- job_name: a\n  static_configs: [{targets: ['127.0.0.1:1', '127.0.0.1:2']}]\n";
        let b = "- job_name: b\n  static_configs: [{targets: ['127.0.0.1:3']}]\n";
        m.apply_config(&cfg(&format!("{a}{b}"))).unwrap();
        let before = loops(&m);
        assert_eq!(before.len(), 3);
        // a: one target kept, one removed, one added; b: config changed; c: new.
        let a2 = "- job_name: a\n  static_configs: [{targets: ['127.0.0.1:1', '127.0.0.1:4']}]\n";
        let b2 = "- job_name: b\n  scrape_interval: 5s\n  static_configs: [{targets: ['127.0.0.1:3']}]\n";
        let c = "- job_name: c\n  static_configs: [{targets: ['127.0.0.1:5']}]\n";
        m.apply_config(&cfg(&format!("{a2}{b2}{c}"))).unwrap();
        let after = loops(&m);
        let find = |v: &[(String, String, Arc<LoopShared>)], job: &str, inst: &str| {
            v.iter()
                .find(|(j, i, _)| j == job && i == inst)
                .map(|(_, _, s)| s.clone())
        };
        let cases = [
            ("a", "127.0.0.1:1", "kept"),
            ("a", "127.0.0.1:2", "removed"),
            ("a", "127.0.0.1:4", "added"),
            ("b", "127.0.0.1:3", "restarted"),
            ("c", "127.0.0.1:5", "added"),
        ];
        for (job, inst, what) in cases {
            let (old, new) = (find(&before, job, inst), find(&after, job, inst));
            match what {
                "kept" => assert!(Arc::ptr_eq(&old.unwrap(), &new.unwrap()), "{job} {inst}"),
                "removed" => assert!(old.is_some() && new.is_none(), "{job} {inst}"),
                "added" => assert!(old.is_none() && new.is_some(), "{job} {inst}"),
                _ => assert!(!Arc::ptr_eq(&old.unwrap(), &new.unwrap()), "{job} {inst}"),
            }
        }
        m.stop();
    }
}
