//! Relabeling (`relabel_configs`, `metric_relabel_configs`) as Prometheus 2.42
//! `model/relabel/relabel.go`: config validation with its messages and [`process`], which applies
//! every action exactly as `relabel.Process` does. Regexes are anchored `^(?:re)$`.

use std::fmt;
use std::sync::LazyLock;

use fedstore_storage::is_valid_label_name;
use fedstore_storage::{MatchOp, Matcher};
use md5::{Digest, Md5};
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use crate::config::yaml;

/// The relabel actions of Prometheus 2.42 (names are matched case-insensitively in YAML).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Set `target_label` to the expanded `replacement` when `regex` matches (the default).
    Replace,
    /// Drop the label set unless `regex` matches the joined source values.
    Keep,
    /// Drop the label set when `regex` matches the joined source values.
    Drop,
    /// Drop the label set unless the joined source values equal the `target_label` value.
    KeepEqual,
    /// Drop the label set when the joined source values equal the `target_label` value.
    DropEqual,
    /// Set `target_label` to `md5(joined) mod modulus`.
    HashMod,
    /// Copy every label whose name matches `regex` to the name given by `replacement`.
    LabelMap,
    /// Remove every label whose name matches `regex`.
    LabelDrop,
    /// Remove every label whose name does not match `regex`.
    LabelKeep,
    /// Set `target_label` to the lower-cased joined source values.
    Lowercase,
    /// Set `target_label` to the upper-cased joined source values.
    Uppercase,
}

impl Action {
    /// The name as Prometheus prints it (`replace`, `keepequal`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    /// Parses an action name case-insensitively, as `Action.UnmarshalYAML`.
    pub fn parse(s: &str) -> Option<Action> {
        const ALL: [Action; 11] = [
            Action::Replace,
            Action::Keep,
            Action::Drop,
            Action::KeepEqual,
            Action::DropEqual,
            Action::HashMod,
            Action::LabelMap,
            Action::LabelDrop,
            Action::LabelKeep,
            Action::Lowercase,
            Action::Uppercase,
        ];
        let lower = s.to_lowercase();
        ALL.into_iter().find(|a| a.as_str() == lower)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A relabel regex, anchored as `^(?:source)$`, remembering its source text.
///
/// Every pattern is checked by fedstore-storage's [`Matcher`], which implements Go's RE2 syntax
/// (Go's acceptance and error messages). Matching then uses the fastest engine that gives Go's
/// answer: the default `(.*)` needs no regex; a pattern without `\`, POSIX classes or nested
/// or set-operation brackets means the same to Rust's `regex` as to Go, so `regex` both matches
/// and reports groups; anything else (`\d`, `\w`, `\s`, `\b` are ASCII in Go, `\Q..\E`) is
/// matched by the [`Matcher`] (as are literal alternations, which it answers by binary
/// search), with group positions from `regex` when it compiles the pattern
/// and matches too, else group 0 (the whole value) only.
#[derive(Clone)]
pub struct Regexp {
    source: String,
    engine: Engine,
}

#[derive(Clone)]
enum Engine {
    /// `(.*)`: any value without a newline; groups 0 and 1 are the value.
    AnyLine,
    /// Same meaning in Rust's `regex` as in Go.
    Rust(regex::Regex),
    /// Go semantics from the matcher; `regex` (when it compiles) only for group positions.
    Go(Matcher, Option<regex::Regex>),
}

impl Regexp {
    /// Compiles `source` anchored; the error text is Go's,
    /// `error parsing regexp: missing closing ): `^(?:()$``.
    pub fn new(source: &str) -> Result<Regexp, String> {
        let matcher = Matcher::new(MatchOp::Regex, "", source)?;
        let rust = regex::Regex::new(&format!("^(?:{source})$")).ok();
        let engine = match rust {
            _ if source == DEFAULT_REGEX => Engine::AnyLine,
            // Finite literal sets (`a|b|c`) are a binary search in the matcher, faster still.
            Some(re) if same_in_rust(source) && matcher.set_matches().is_none() => Engine::Rust(re),
            rust => Engine::Go(matcher, rust),
        };
        Ok(Regexp {
            source: source.to_owned(),
            engine,
        })
    }

    /// The regex as written in the configuration (without the anchors).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the whole of `s` matches (Go semantics).
    pub fn is_match(&self, s: &str) -> bool {
        match &self.engine {
            Engine::AnyLine => !s.contains('\n'),
            Engine::Rust(re) => re.is_match(s),
            Engine::Go(m, _) => m.matches(s),
        }
    }

    /// The groups of the match of `s`, or `None` when `s` does not match; for use with
    /// [`Regexp::expand`].
    pub fn captures<'h>(&self, s: &'h str) -> Option<Groups<'h>> {
        let inner = match &self.engine {
            Engine::AnyLine if s.contains('\n') => return None,
            Engine::AnyLine => GroupsInner::WholeTwice,
            Engine::Rust(re) => GroupsInner::Caps(re.captures(s)?),
            Engine::Go(m, _) if !m.matches(s) => return None,
            Engine::Go(_, re) => match re.as_ref().and_then(|re| re.captures(s)) {
                Some(caps) => GroupsInner::Caps(caps),
                None => GroupsInner::Whole,
            },
        };
        Some(Groups { whole: s, inner })
    }

    /// Expands `template` with the groups of `caps` exactly as Go's `Regexp.Expand`: `$$` is a
    /// literal `$`; `$name` takes the longest run of letters, digits and `_` (so `$1x` names the
    /// group `1x`, which is empty); `${name}` delimits; numbers with leading zeros and unknown
    /// names expand to nothing; a `$` not followed by a name is kept literally.
    pub fn expand(&self, template: &str, groups: &Groups<'_>, out: &mut String) {
        let mut rest = template;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            rest = &rest[i + 1..];
            if let Some(r) = rest.strip_prefix('$') {
                out.push('$');
                rest = r;
                continue;
            }
            let Some((name, after)) = template_name(rest) else {
                out.push('$');
                continue;
            };
            rest = after;
            let group = match (&groups.inner, group_number(name)) {
                (GroupsInner::Caps(caps), Some(n)) => caps.get(n).map(|m| m.as_str()),
                (GroupsInner::Caps(caps), None) => caps.name(name).map(|m| m.as_str()),
                (GroupsInner::Whole, Some(0)) | (GroupsInner::WholeTwice, Some(0 | 1)) => {
                    Some(groups.whole)
                }
                _ => None,
            };
            if let Some(text) = group {
                out.push_str(text);
            }
        }
        out.push_str(rest);
    }
}

/// The groups of one match of a [`Regexp`].
pub struct Groups<'h> {
    whole: &'h str,
    inner: GroupsInner<'h>,
}

enum GroupsInner<'h> {
    Caps(regex::Captures<'h>),
    /// Only group 0 is known.
    Whole,
    /// `(.*)`: groups 0 and 1 are the whole value.
    WholeTwice,
}

/// Whether `source` (already accepted by Go's syntax) means the same to Rust's `regex`: no
/// escapes (Go's `\d \w \s \b` are ASCII, `\Q` etc. are Go-only) and no bracket syntax that
/// Rust reads differently (`[[:alpha:]]`, a `[` inside a class, `&&`/`--`/`~~` set operations).
fn same_in_rust(source: &str) -> bool {
    if source.contains('\\') {
        return false;
    }
    let b = source.as_bytes();
    let mut i = 0;
    let mut in_class = false;
    while i < b.len() {
        match b[i] {
            b'[' if in_class => return false,
            b'[' => {
                in_class = true;
                // A `]` right after `[` or `[^` is a literal in both.
                if b.get(i + 1) == Some(&b'^') {
                    i += 1;
                }
                if b.get(i + 1) == Some(&b']') {
                    i += 1;
                }
            }
            b']' if in_class => in_class = false,
            c @ (b'&' | b'-' | b'~') if in_class && b.get(i + 1) == Some(&c) => return false,
            _ => {}
        }
        i += 1;
    }
    true
}

/// Go's `regexp.extract`: the name after a `$` and the rest of the template.
fn template_name(s: &str) -> Option<(&str, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let end = body
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    let mut rest = &body[end..];
    if braced {
        rest = rest.strip_prefix('}')?;
    }
    Some((name, rest))
}

/// A group number as Go reads it: ASCII digits, no leading zero, below 10^8.
fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    let mut n: usize = 0;
    for b in name.bytes() {
        if n >= 100_000_000 {
            return None;
        }
        n = n * 10 + usize::from(b - b'0');
    }
    Some(n)
}

impl fmt::Debug for Regexp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Regexp({:?})", self.source)
    }
}

impl PartialEq for Regexp {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// The default `separator`.
pub const DEFAULT_SEPARATOR: &str = ";";
/// The default `regex`.
pub const DEFAULT_REGEX: &str = "(.*)";
/// The default `replacement`.
pub const DEFAULT_REPLACEMENT: &str = "$1";

/// Prometheus's `relabelTarget`: a label name that may contain `$1`/`${name}` references.
static RELABEL_TARGET: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{[0-9A-Za-z_]+\}|[0-9A-Za-z_]+))+[0-9A-Za-z_]*)+$")
        .expect("the relabel target pattern is valid")
});

/// One relabeling step, validated as Prometheus's `relabel.Config.UnmarshalYAML`.
#[derive(Debug, Clone, PartialEq)]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` (a missing label is `""`).
    pub source_labels: Vec<String>,
    /// Joins the source values; default `;`.
    pub separator: String,
    /// Matched against the joined values (or label names for the label* actions);
    /// default `(.*)`.
    pub regex: Regexp,
    /// For `hashmod`; non-zero there.
    pub modulus: u64,
    /// The label written; for `replace` it may contain `$1`/`${name}` references.
    pub target_label: String,
    /// The value template for `replace`, the name template for `labelmap`; default `$1`.
    pub replacement: String,
    /// What to do; default `replace`.
    pub action: Action,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: DEFAULT_SEPARATOR.to_owned(),
            regex: Regexp::new(DEFAULT_REGEX).expect("the default regex is valid"),
            modulus: 0,
            target_label: String::new(),
            replacement: DEFAULT_REPLACEMENT.to_owned(),
            action: Action::Replace,
        }
    }
}

/// The fields as written; `None` means absent (Go keeps its default).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelabelConfig {
    #[serde(default, deserialize_with = "yaml::opt_strings")]
    source_labels: Option<Vec<String>>,
    #[serde(default, deserialize_with = "yaml::opt_string")]
    separator: Option<String>,
    #[serde(default, deserialize_with = "deserialize_regex")]
    regex: Option<Regexp>,
    #[serde(default, deserialize_with = "yaml::uint")]
    modulus: u64,
    #[serde(default, deserialize_with = "yaml::string")]
    target_label: String,
    #[serde(default, deserialize_with = "yaml::opt_string")]
    replacement: Option<String>,
    #[serde(default, deserialize_with = "deserialize_action")]
    action: Option<Option<Action>>,
}

fn deserialize_regex<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Regexp>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Regexp>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a regular expression")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Regexp::new(v).map(Some).map_err(E::custom)
        }
        // A null regex is Go's nil regex, which Prometheus replaces by the empty regex.
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            self.visit_str("")
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(self)
        }
    }
    d.deserialize_option(V)
}

/// `Some(None)` is an explicit empty action (`action:`), which Prometheus rejects.
fn deserialize_action<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Action>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Option<Action>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a relabel action")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if v.is_empty() {
                return Ok(Some(None));
            }
            match Action::parse(v) {
                Some(a) => Ok(Some(Some(a))),
                None => Err(E::custom(format_args!("unknown relabel action {v:?}"))),
            }
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Some(None))
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(self)
        }
    }
    d.deserialize_option(V)
}

impl RawRelabelConfig {
    /// Applies defaults and Prometheus's checks, in its order and with its messages.
    fn validate(self) -> Result<RelabelConfig, String> {
        let regex_set = self.regex.is_some();
        let source_labels_set = self.source_labels.is_some();
        let d = RelabelConfig::default();
        let c = RelabelConfig {
            source_labels: self.source_labels.unwrap_or_default(),
            separator: self.separator.unwrap_or(d.separator),
            regex: self.regex.unwrap_or(d.regex),
            modulus: self.modulus,
            target_label: self.target_label,
            replacement: self.replacement.unwrap_or(d.replacement),
            action: match self.action {
                None => Action::Replace,
                Some(None) => return Err("relabel action cannot be empty".to_owned()),
                Some(Some(a)) => a,
            },
        };
        c.validate(regex_set, source_labels_set)?;
        Ok(c)
    }
}

impl RelabelConfig {
    /// Prometheus's checks; `regex_set`/`source_labels_set` say whether the field was written
    /// (Go compares the regex by pointer, so any written regex counts as changed).
    fn validate(&self, regex_set: bool, source_labels_set: bool) -> Result<(), String> {
        use Action::*;
        let a = self.action;
        if self.modulus == 0 && a == HashMod {
            return Err("relabel configuration for hashmod requires non-zero modulus".to_owned());
        }
        if matches!(
            a,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        ) && self.target_label.is_empty()
        {
            return Err(format!(
                "relabel configuration for {a} action requires 'target_label' value"
            ));
        }
        if matches!(a, Replace | Lowercase | Uppercase | KeepEqual | DropEqual)
            && !RELABEL_TARGET.is_match(&self.target_label)
        {
            return Err(format!(
                "{:?} is invalid 'target_label' for {a} action",
                self.target_label
            ));
        }
        if matches!(a, Lowercase | Uppercase | KeepEqual | DropEqual)
            && self.replacement != DEFAULT_REPLACEMENT
        {
            return Err(format!("'replacement' can not be set for {a} action"));
        }
        if a == LabelMap && !RELABEL_TARGET.is_match(&self.replacement) {
            return Err(format!(
                "{:?} is invalid 'replacement' for {a} action",
                self.replacement
            ));
        }
        if a == HashMod && !is_valid_label_name(&self.target_label) {
            return Err(format!(
                "{:?} is invalid 'target_label' for {a} action",
                self.target_label
            ));
        }
        if matches!(a, DropEqual | KeepEqual)
            && (regex_set
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!(
                "{a} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(a, LabelDrop | LabelKeep)
            && (source_labels_set
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!(
                "{a} action requires only 'regex', and no other fields"
            ));
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for RelabelConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RelabelConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a relabel configuration")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RelabelConfig, A::Error> {
                let raw =
                    RawRelabelConfig::deserialize(de::value::MapAccessDeserializer::new(map))?;
                raw.validate().map_err(de::Error::custom)
            }
        }
        d.deserialize_map(V)
    }
}

/// Applies `configs` in order to `labels` (sorted by name, no empty values) as Prometheus's
/// `relabel.Process`. Returns whether the label set is kept; on `false` `labels` is cleared.
/// On `true` `labels` is the result, sorted by name, labels with empty values removed.
pub fn process(configs: &[RelabelConfig], labels: &mut Vec<(String, String)>) -> bool {
    let mut scratch = String::new();
    for cfg in configs {
        if !relabel(cfg, labels, &mut scratch) {
            labels.clear();
            return false;
        }
    }
    true
}

fn get<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
    match labels.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
        Ok(i) => &labels[i].1,
        Err(_) => "",
    }
}

/// Sets `name` to `value`, deleting it when `value` is empty (Prometheus `Builder.Set`).
fn set(labels: &mut Vec<(String, String)>, name: &str, value: String) {
    match labels.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            labels.remove(i);
        }
        Ok(i) => labels[i].1 = value,
        Err(_) if value.is_empty() => {}
        Err(i) => labels.insert(i, (name.to_owned(), value)),
    }
}

fn del(labels: &mut Vec<(String, String)>, name: &str) {
    if let Ok(i) = labels.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
        labels.remove(i);
    }
}

/// One step; `val` is a reused buffer for the joined source values.
fn relabel(cfg: &RelabelConfig, labels: &mut Vec<(String, String)>, val: &mut String) -> bool {
    val.clear();
    for (i, name) in cfg.source_labels.iter().enumerate() {
        if i > 0 {
            val.push_str(&cfg.separator);
        }
        val.push_str(get(labels, name));
    }
    match cfg.action {
        Action::Drop => return !cfg.regex.is_match(val),
        Action::Keep => return cfg.regex.is_match(val),
        Action::DropEqual => return get(labels, &cfg.target_label) != val,
        Action::KeepEqual => return get(labels, &cfg.target_label) == val,
        Action::Replace => {
            let Some(caps) = cfg.regex.captures(val) else {
                return true;
            };
            let mut target = String::new();
            cfg.regex.expand(&cfg.target_label, &caps, &mut target);
            if !is_valid_label_name(&target) {
                // Prometheus deletes the label named by the unexpanded template here.
                del(labels, &cfg.target_label);
                return true;
            }
            let mut value = String::new();
            cfg.regex.expand(&cfg.replacement, &caps, &mut value);
            if value.is_empty() {
                // Prometheus deletes the unexpanded target_label, not the expanded one.
                del(labels, &cfg.target_label);
                return true;
            }
            set(labels, &target, value);
        }
        Action::Lowercase => {
            let v: String = val.chars().flat_map(char::to_lowercase).collect();
            set(labels, &cfg.target_label, v);
        }
        Action::Uppercase => {
            let v: String = val.chars().flat_map(char::to_uppercase).collect();
            set(labels, &cfg.target_label, v);
        }
        Action::HashMod => {
            let v = hashmod(val, cfg.modulus);
            set(labels, &cfg.target_label, v.to_string());
        }
        Action::LabelMap => {
            // Names are read from the step's input and written to its output, as with
            // Prometheus's labels.Builder; collect first so reads never see writes.
            let mut adds: Vec<(String, String)> = Vec::new();
            for (name, value) in labels.iter() {
                if let Some(caps) = cfg.regex.captures(name) {
                    let mut new_name = String::new();
                    cfg.regex.expand(&cfg.replacement, &caps, &mut new_name);
                    adds.push((new_name, value.clone()));
                }
            }
            for (name, value) in adds {
                set(labels, &name, value);
            }
        }
        Action::LabelDrop => labels.retain(|(name, _)| !cfg.regex.is_match(name)),
        Action::LabelKeep => labels.retain(|(name, _)| cfg.regex.is_match(name)),
    }
    true
}

/// Prometheus's hashmod: the last 8 bytes of `md5(value)` as a big-endian integer, mod `modulus`.
pub fn hashmod(value: &str, modulus: u64) -> u64 {
    let sum = Md5::digest(value.as_bytes());
    let mut last8 = [0u8; 8];
    last8.copy_from_slice(&sum[8..16]);
    // Prometheus's sum64 shifts all 16 bytes into a uint64; Go's shifts of 64 or more bits
    // yield zero, leaving exactly these 8 bytes, big-endian.
    #[expect(
        clippy::big_endian_bytes,
        reason = "Prometheus defines the hash as big-endian"
    )]
    let h = u64::from_be_bytes(last8);
    h % modulus
}

#[cfg(test)]
mod tests;
