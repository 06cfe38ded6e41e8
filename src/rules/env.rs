//! The node's [`RuleEnv`]: rules query the PromQL engine over the database, append through
//! the head's appender (WAL, head, visible to `/federate`), and notify through the
//! [`Notifier`].

use std::collections::BTreeMap;
use std::sync::Arc;

use fedstore_promql::{Engine, Expr, Queryable, Sample, Value};
use fedstore_storage::Head;
use parking_lot::RwLock;

use super::alerting::Alert;
use super::group::RuleEnv;
use super::notifier::{Notifier, NotifyAlert, generator_url};

/// Settings that follow configuration reloads.
#[derive(Debug, Clone, Default)]
pub struct EnvSettings {
    /// `global.external_labels`.
    pub external_labels: BTreeMap<String, String>,
    /// `--web.external-url`.
    pub external_url: String,
}

/// The rules' view of the node.
pub struct NodeEnv {
    /// The engine.
    pub engine: Engine,
    /// What the engine reads.
    pub storage: Arc<dyn Queryable>,
    /// Where outputs go.
    pub head: Arc<Head>,
    /// Alertmanager client.
    pub notifier: Notifier,
    /// Reloadable settings.
    pub settings: RwLock<EnvSettings>,
    /// `--rules.alert.resend-delay` in ns.
    pub resend_delay_ns: i64,
}

impl RuleEnv for NodeEnv {
    fn query(&self, expr: &Expr, t_ms: i64) -> Result<Vec<Sample>, String> {
        match self
            .engine
            .instant(self.storage.as_ref(), expr, t_ms)
            .map_err(|e| e.to_string())?
        {
            Value::Vector(v) => Ok(v),
            Value::Scalar { t_ms, v } => Ok(vec![Sample {
                labels: fedstore_storage::Labels::default(),
                t_ms,
                v,
            }]),
            _ => Err("rule result is not a vector or scalar".into()),
        }
    }

    fn query_text(&self, q: &str, t_ms: i64) -> Result<Vec<Sample>, String> {
        let expr = fedstore_promql::parse_expr(q).map_err(|e| e.to_string())?;
        self.query(&expr, t_ms)
    }

    fn append(&self, samples: &[Sample]) -> Result<(), String> {
        let mut app = self.head.appender();
        let mut first_err = None;
        for s in samples {
            if let Err(e) = app.append(&s.labels, s.t_ms, s.v) {
                first_err.get_or_insert_with(|| e.to_string());
            }
        }
        let stats = app.commit().map_err(|e| e.to_string())?;
        if let Some(e) = first_err {
            return Err(e);
        }
        // Stale markers of series that already moved on are refused silently, as Prometheus
        // ignores out-of-order errors on stale markers; real outputs report them.
        let real = samples
            .iter()
            .filter(|s| !fedstore_storage::is_stale_nan(s.v))
            .count();
        if real > 0 && stats.out_of_order > 0 {
            return Err("out of order sample".into());
        }
        if real > 0 && stats.duplicate > 0 {
            return Err("duplicate sample for timestamp".into());
        }
        Ok(())
    }

    fn notify(&self, expr: &str, alerts: Vec<Alert>) {
        let url = generator_url(&self.settings.read().external_url, expr);
        let out = alerts
            .into_iter()
            .map(|a| NotifyAlert {
                labels: a
                    .labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect(),
                annotations: a.annotations,
                starts_at_ms: a.fired_at_ns.div_euclid(1_000_000),
                ends_at_ms: if a.resolved_at_ns != 0 {
                    a.resolved_at_ns
                } else {
                    a.valid_until_ns
                }
                .div_euclid(1_000_000),
                generator_url: url.clone(),
            })
            .collect();
        self.notifier.send(out);
    }

    fn external_labels(&self) -> BTreeMap<String, String> {
        self.settings.read().external_labels.clone()
    }

    fn external_url(&self) -> String {
        self.settings.read().external_url.clone()
    }

    fn resend_delay_ns(&self) -> i64 {
        self.resend_delay_ns
    }
}
