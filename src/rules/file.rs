//! Rule files as Prometheus 2.42 reads them (`model/rulefmt`): groups of recording and
//! alerting rules, strict YAML (unknown fields are errors), and `promtool check rules`'s
//! validation with its messages and positions
//! (`rules.yml: 7:11: group "g", rule 2, "job:up": invalid recording rule name: bad name`).

use std::collections::BTreeMap;
use std::path::Path;

use fedstore_storage::{is_valid_label_name, is_valid_metric_name};
use serde::Deserialize;

use crate::config::Duration;
use crate::config::error::{PathSeg, locate};

/// One rule as written.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    /// `record`: the output metric name of a recording rule.
    #[serde(default, deserialize_with = "crate::config::yaml::string")]
    pub record: String,
    /// `alert`: the name of an alerting rule.
    #[serde(default, deserialize_with = "crate::config::yaml::string")]
    pub alert: String,
    /// `expr`: the PromQL expression.
    #[serde(default, deserialize_with = "crate::config::yaml::string")]
    pub expr: String,
    /// `for`: how long an alert is pending before it fires.
    #[serde(default, rename = "for")]
    pub for_: Duration,
    /// `keep_firing_for`: how long a firing alert keeps firing after its condition cleared.
    #[serde(default)]
    pub keep_firing_for: Duration,
    /// `labels` (templates for alerting rules).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `annotations` (alerting rules only; templates).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl RuleDef {
    /// The rule's name: `alert` or `record`.
    pub fn name(&self) -> &str {
        if self.alert.is_empty() {
            &self.record
        } else {
            &self.alert
        }
    }

    /// Whether this is an alerting rule.
    pub fn is_alert(&self) -> bool {
        !self.alert.is_empty()
    }
}

/// One group as written.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupDef {
    /// `name`, unique in its file.
    #[serde(default, deserialize_with = "crate::config::yaml::string")]
    pub name: String,
    /// `interval`; zero means the global `evaluation_interval`.
    #[serde(default)]
    pub interval: Duration,
    /// `limit`: the most series a rule may produce (0: no limit).
    #[serde(default)]
    pub limit: u64,
    /// The rules in evaluation order.
    #[serde(default)]
    pub rules: Vec<RuleDef>,
}

/// A rule file: its groups in file order.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// The groups.
    #[serde(default)]
    pub groups: Vec<GroupDef>,
}

/// Checks an expression; the rules module passes the PromQL parser.
pub type ExprCheck<'a> = &'a dyn Fn(&str) -> Result<(), String>;
/// Checks a template; `Err` carries the template error text.
pub type TemplateCheck<'a> = &'a dyn Fn(&str, &str) -> Result<(), String>;

/// Reads and validates the rule file at `path`. Errors are complete lines as `promtool check
/// rules` prints them, each led by the file name.
pub fn load(
    path: &Path,
    check_expr: ExprCheck<'_>,
    check_template: TemplateCheck<'_>,
) -> Result<RuleFile, Vec<String>> {
    let name = path.to_string_lossy();
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{name}: {e}")])?;
    parse(&text, check_expr, check_template)
        .map_err(|errs| errs.into_iter().map(|e| format!("{name}: {e}")).collect())
}

/// Parses and validates a rule file's text. Errors carry no file name.
pub fn parse(
    text: &str,
    check_expr: ExprCheck<'_>,
    check_template: TemplateCheck<'_>,
) -> Result<RuleFile, Vec<String>> {
    let file = match serde_yaml_ng::Deserializer::from_str(text).next() {
        Some(doc) => RuleFile::deserialize(doc).map_err(|e| vec![yaml_error(&e)])?,
        None => RuleFile::default(),
    };
    let errs = validate(&file, text, check_expr, check_template);
    if errs.is_empty() { Ok(file) } else { Err(errs) }
}

/// go-yaml v3's wording for decoding errors: unknown fields name the Go type they were
/// looked up in (`field x not found in type rulefmt.RuleGroup`).
fn yaml_error(e: &serde_yaml_ng::Error) -> String {
    let mut msg = e.to_string();
    let line = e.location().map_or(0, |l| l.line());
    if let Some(l) = e.location() {
        let suffix = format!(" at line {} column {}", l.line(), l.column());
        if let Some(stripped) = msg.strip_suffix(&suffix) {
            msg.truncate(stripped.len());
        }
    }
    // serde_yaml_ng leads with the node's path (`groups[0].rules[1]: ...`).
    let (path, body) = match msg.split_once(": ") {
        Some((p, b)) if !p.contains(' ') => (p.to_owned(), b.to_owned()),
        _ => (String::new(), msg.clone()),
    };
    if let Some(rest) = body.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or_default();
        let ty = if path.contains(".rules[") {
            "rulefmt.RuleNode"
        } else if path.starts_with("groups[") {
            "rulefmt.RuleGroup"
        } else {
            "rulefmt.RuleGroups"
        };
        return format!(
            "yaml: unmarshal errors:\n  line {line}: field {field} not found in type {ty}"
        );
    }
    body
}

/// `line:col` of the node at `path`, or `0:0` when the last key is absent (go-yaml leaves an
/// absent node zero).
fn pos(text: &str, path: &[PathSeg<'_>]) -> String {
    let Some(loc) = locate(text, path) else {
        return "0:0".into();
    };
    if let Some((PathSeg::Key(_), parent)) = path.split_last()
        && locate(text, parent) == Some(loc)
    {
        return "0:0".into();
    }
    format!("{}:{}", loc.line, loc.column)
}

fn validate(
    file: &RuleFile,
    text: &str,
    check_expr: ExprCheck<'_>,
    check_template: TemplateCheck<'_>,
) -> Vec<String> {
    let mut errs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (j, g) in file.groups.iter().enumerate() {
        let gpath = [PathSeg::Key("groups"), PathSeg::Index(j)];
        if g.name.is_empty() {
            errs.push(format!(
                "{}: Groupname must not be empty",
                pos(text, &gpath)
            ));
        }
        if !seen.insert(g.name.as_str()) {
            errs.push(format!(
                "{}: groupname: \"{}\" is repeated in the same file",
                pos(text, &gpath),
                g.name
            ));
        }
        for (i, r) in g.rules.iter().enumerate() {
            let rpath = |key: &'static str| {
                [
                    PathSeg::Key("groups"),
                    PathSeg::Index(j),
                    PathSeg::Key("rules"),
                    PathSeg::Index(i),
                    PathSeg::Key(key),
                ]
            };
            let head = format!("group {:?}, rule {}, {:?}", g.name, i + 1, r.name());
            if !r.record.is_empty() && !r.alert.is_empty() {
                errs.push(format!(
                    "{}: {}: {head}: only one of 'record' and 'alert' must be set",
                    pos(text, &rpath("record")),
                    pos(text, &rpath("alert"))
                ));
            }
            let mut at = |node: Option<&'static str>, msg: String| {
                errs.push(match node {
                    Some(key) => format!("{}: {head}: {msg}", pos(text, &rpath(key))),
                    None => format!("{head}: {msg}"),
                });
            };
            if r.record.is_empty() && r.alert.is_empty() {
                at(
                    Some("record"),
                    "one of 'record' or 'alert' must be set".into(),
                );
            }
            if r.expr.is_empty() {
                at(Some("expr"), "field 'expr' must be set in rule".into());
            } else if let Err(e) = check_expr(&r.expr) {
                at(Some("expr"), format!("could not parse expression: {e}"));
            }
            if !r.record.is_empty() {
                if !r.annotations.is_empty() {
                    at(
                        Some("record"),
                        "invalid field 'annotations' in recording rule".into(),
                    );
                }
                if !r.for_.is_zero() {
                    at(
                        Some("record"),
                        "invalid field 'for' in recording rule".into(),
                    );
                }
                if !r.keep_firing_for.is_zero() {
                    at(
                        Some("record"),
                        "invalid field 'keep_firing_for' in recording rule".into(),
                    );
                }
                if !is_valid_metric_name(&r.record) {
                    at(
                        Some("record"),
                        format!("invalid recording rule name: {}", r.record),
                    );
                }
            }
            for k in r.labels.keys() {
                if !is_valid_label_name(k) || k == "__name__" {
                    at(None, format!("invalid label name: {k}"));
                }
            }
            for k in r.annotations.keys() {
                if !is_valid_label_name(k) {
                    at(None, format!("invalid annotation name: {k}"));
                }
            }
            if r.is_alert() {
                for (kind, map) in [("label", &r.labels), ("annotation", &r.annotations)] {
                    for (k, v) in map {
                        if let Err(e) = check_template(&r.alert, v) {
                            at(None, format!("{kind} {k:?}: {e}"));
                        }
                    }
                }
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests;
