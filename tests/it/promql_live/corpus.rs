//! The query corpus: `tests/data/promql/*.promql`, templates expanded over named lists.
//!
//! File format (line-based):
//! - `# ...` comments and blank lines are ignored;
//! - `@name` starts a list; the indented lines after it are its values (one per line);
//! - any other line is a template: every `{name}` naming a list defined earlier in the same file
//!   expands to each of its values (the cartesian product over all names used); `{` followed by
//!   anything else is left alone, so selectors need no escaping;
//! - a template starting with `! ` must make Prometheus answer an error (a check that the error
//!   cases still test errors); `~ ` compares only the `errorType` of errors, not their text.

use std::collections::BTreeMap;
use std::path::Path;

/// One query after expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The PromQL text.
    pub expr: String,
    /// Where it comes from (`file:line`, or `random#n`).
    pub origin: String,
    /// The reference must answer an error.
    pub must_fail: bool,
    /// Only the error type must match, not the error text.
    pub loose_error_text: bool,
}

/// Reads and expands every `*.promql` file of `dir` (sorted by name).
pub fn load_dir(dir: &Path) -> Result<Vec<Query>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "promql"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let name = f
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
        out.extend(expand(&name, &text)?);
    }
    Ok(out)
}

/// Expands one file's text; `name` is used in origins and errors.
pub fn expand(name: &str, text: &str) -> Result<Vec<Query>, String> {
    let mut lists: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        if raw.starts_with(' ') || raw.starts_with('\t') {
            let Some(list) = &current else {
                if raw.trim().is_empty() {
                    continue;
                }
                return Err(format!("{name}:{line_no}: indented line outside a list"));
            };
            if !raw.trim().is_empty() {
                lists
                    .entry(list.clone())
                    .or_default()
                    .push(raw.trim().to_owned());
            }
            continue;
        }
        current = None;
        let line = raw.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(list) = line.strip_prefix('@') {
            let list = list.trim().to_owned();
            if list.is_empty() || lists.contains_key(&list) {
                return Err(format!("{name}:{line_no}: bad or repeated list name"));
            }
            lists.insert(list.clone(), Vec::new());
            current = Some(list);
            continue;
        }
        let (must_fail, loose, template) = if let Some(t) = line.strip_prefix("! ") {
            (true, false, t)
        } else if let Some(t) = line.strip_prefix("~ ") {
            (true, true, t)
        } else {
            (false, false, line)
        };
        let origin = format!("{name}:{line_no}");
        for expr in expand_template(template, &lists) {
            out.push(Query {
                expr,
                origin: origin.clone(),
                must_fail,
                loose_error_text: loose,
            });
        }
    }
    Ok(out)
}

/// Every expansion of one template, in order (the first placeholder varies slowest).
fn expand_template(t: &str, lists: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    // Find the first `{name}` naming a list; expand it and recurse on each result.
    let mut pos = 0;
    while let Some(open) = t[pos..].find('{').map(|o| o + pos) {
        if let Some(close) = t[open + 1..].find('}').map(|c| c + open + 1) {
            let key = &t[open + 1..close];
            if let Some(values) = lists.get(key) {
                let mut out = Vec::new();
                for v in values {
                    let next = format!("{}{}{}", &t[..open], v, &t[close + 1..]);
                    // Values are not re-expanded past their own text.
                    let head_len = open + v.len();
                    for rest in expand_template(&next[head_len..], lists) {
                        out.push(format!("{}{}", &next[..head_len], rest));
                    }
                }
                return out;
            }
        }
        pos = open + 1;
    }
    vec![t.to_owned()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand_over_lists() {
        let text =
            "# c\n@fn\n  rate\n  irate\n@r\n  1m\n  5m\n{fn}(x{a=\"b\"}[{r}])\n! foo(\n~ {fn}(1)\n";
        let q = expand("t.promql", text).unwrap();
        let exprs: Vec<&str> = q.iter().map(|q| q.expr.as_str()).collect();
        assert_eq!(
            exprs,
            [
                "rate(x{a=\"b\"}[1m])",
                "rate(x{a=\"b\"}[5m])",
                "irate(x{a=\"b\"}[1m])",
                "irate(x{a=\"b\"}[5m])",
                "foo(",
                "rate(1)",
                "irate(1)"
            ]
        );
        assert_eq!(q[0].origin, "t.promql:8");
        assert!(q[4].must_fail && !q[4].loose_error_text);
        assert!(q[5].must_fail && q[5].loose_error_text);
    }

    #[test]
    fn list_values_are_not_expanded_again() {
        let text = "@a\n  {b}\n@b\n  x\n{a}+{b}\n";
        let q = expand("t", text).unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].expr, "{b}+x");
    }
}
