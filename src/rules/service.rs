//! The rules as the server runs them: the manager, its environment and the notifier,
//! applied from the configuration at start and on every reload.

use std::collections::BTreeMap;
use std::sync::Arc;

use fedstore_promql::Engine;
use fedstore_storage::Db;
use parking_lot::RwLock;

use super::env::{EnvSettings, NodeEnv};
use super::group::Group;
use super::manager::RuleManager;
use super::notifier::Notifier;
use super::restore::Restorer;
use crate::config::Config;
use crate::query::storage::DbQueryable;

/// Rule-related flags.
#[derive(Debug, Clone)]
pub struct RulesOptions {
    /// `--web.external-url` (the alerts' `generatorURL` and `$externalURL`).
    pub external_url: String,
    /// `--rules.alert.resend-delay` in ms (default 1m).
    pub resend_delay_ms: i64,
    /// `--rules.alert.for-outage-tolerance` in ms (default 1h).
    pub outage_tolerance_ms: i64,
    /// `--rules.alert.for-grace-period` in ms (default 10m).
    pub grace_period_ms: i64,
}

impl Default for RulesOptions {
    fn default() -> Self {
        RulesOptions {
            external_url: String::new(),
            resend_delay_ms: 60_000,
            outage_tolerance_ms: 3_600_000,
            grace_period_ms: 600_000,
        }
    }
}

/// Running rules.
pub struct RulesService {
    manager: RuleManager,
    env: Arc<NodeEnv>,
    notifier: Notifier,
}

const MS: i64 = 1_000_000;

fn external_labels(cfg: &Config) -> BTreeMap<String, String> {
    cfg.external_labels().iter().cloned().collect()
}

impl RulesService {
    /// Starts the notifier and loads `cfg`'s rule files; an invalid rule file is an error
    /// (start-up exits with it).
    pub fn start(
        db: Arc<Db>,
        engine: Engine,
        cfg: &Config,
        opts: &RulesOptions,
    ) -> Result<Arc<RulesService>, String> {
        let notifier = Notifier::start(&cfg.alerting, cfg.external_labels());
        let storage: Arc<dyn fedstore_promql::Queryable> = Arc::new(DbQueryable::new(db.clone()));
        let env = Arc::new(NodeEnv {
            engine,
            storage: storage.clone(),
            head: db.head().clone(),
            notifier: notifier.clone(),
            settings: RwLock::new(EnvSettings {
                external_labels: external_labels(cfg),
                external_url: opts.external_url.clone(),
            }),
            resend_delay_ns: opts.resend_delay_ms * MS,
        });
        let restorer = Arc::new(Restorer {
            storage,
            outage_tolerance_ns: opts.outage_tolerance_ms * MS,
            grace_ns: opts.grace_period_ms * MS,
        });
        let manager = RuleManager::new(env.clone(), Some(restorer));
        let svc = Arc::new(RulesService {
            manager,
            env,
            notifier,
        });
        svc.apply(cfg)?;
        Ok(svc)
    }

    /// Applies a (re)loaded configuration: rule files, Alertmanagers, external labels. On an
    /// invalid rule file nothing changes.
    pub fn apply(&self, cfg: &Config) -> Result<(), String> {
        let interval_ns = cfg.global.evaluation_interval.as_millis() as i64 * MS;
        self.manager.apply(&cfg.rule_files, interval_ns)?;
        self.notifier.apply(&cfg.alerting, cfg.external_labels());
        self.env.settings.write().external_labels = external_labels(cfg);
        Ok(())
    }

    /// Snapshots of the groups, sorted by file and name.
    pub fn groups(&self) -> Vec<Group> {
        self.manager.groups()
    }

    /// The notifier (for `/metrics`).
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// Stops the groups and the notifier.
    pub fn stop(&self) {
        self.manager.stop();
        self.notifier.stop();
    }
}
