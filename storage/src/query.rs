//! PromQL instant-vector selectors: parser, label matchers and their regex fast paths.

pub mod select;

/// How a matcher compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

/// One label matcher; a missing label has the value `""`.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The operator.
    pub op: MatchOp,
    /// The right-hand side as written (unescaped), the regex source for `=~`/`!~`.
    pub value: String,
}

impl Matcher {
    /// Whether a label value `v` satisfies the matcher.
    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
            MatchOp::Regex | MatchOp::NotRegex => false,
        }
    }
}

/// An invalid selector; `Display` is Prometheus's text, e.g.
/// `1:11: parse error: unexpected end of input inside braces`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

/// Parses an instant-vector selector as Prometheus's `parser.ParseMetricSelector` does.
pub fn parse_selector(input: &str) -> Result<Vec<Matcher>, SelectorError> {
    Err(SelectorError(format!("not implemented: {input}")))
}
