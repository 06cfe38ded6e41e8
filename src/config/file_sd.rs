//! File-based service discovery (`file_sd_configs`), as Prometheus 2.42 `discovery/file`:
//! the config and its pattern check, glob expansion as Go's `filepath.Glob`, and reading one
//! JSON or YAML target file into target groups labelled `__meta_filepath`.
//! Watching and the refresh loop belong to the scrape manager.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use crate::config::duration::Duration;
use crate::config::error::{ConfigError, Location};
use crate::config::scrape::{RawTargetGroup, TargetGroup};
use crate::config::yaml;

/// Prometheus's default `refresh_interval` for file SD (`DefaultSDConfig`).
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(300);

/// The label file SD adds to every group: the file it came from.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// Prometheus's `patFileSDName`: at most one `*`, in the last path element, and a
/// `.json`/`.yml`/`.yaml` extension.
static FILE_SD_NAME: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$")
        .expect("the file SD name pattern is valid")
});

/// One `file_sd_configs` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSdConfig {
    /// File patterns (a `*` allowed in the last element); at least one. Relative patterns are
    /// resolved against the configuration file's directory by `Config::load`.
    pub files: Vec<String>,
    /// How often to re-read the files (default 5m); Prometheus also watches them.
    pub refresh_interval: Duration,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFileSdConfig {
    #[serde(default, deserialize_with = "yaml::strings")]
    files: Vec<String>,
    #[serde(default)]
    refresh_interval: Option<Duration>,
}

impl RawFileSdConfig {
    fn validate(self) -> Result<FileSdConfig, String> {
        if self.files.is_empty() {
            return Err("file service discovery config must contain at least one path name".into());
        }
        if let Some(bad) = self.files.iter().find(|f| !FILE_SD_NAME.is_match(f)) {
            return Err(format!("path name {bad:?} is not valid for file discovery"));
        }
        Ok(FileSdConfig {
            files: self.files,
            // An explicit zero is kept, as in Prometheus (it then refreshes only on change).
            refresh_interval: self.refresh_interval.unwrap_or(DEFAULT_REFRESH_INTERVAL),
        })
    }
}

impl<'de> Deserialize<'de> for FileSdConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FileSdConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a file_sd_configs entry")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FileSdConfig, A::Error> {
                let raw = RawFileSdConfig::deserialize(de::value::MapAccessDeserializer::new(map))?;
                raw.validate().map_err(de::Error::custom)
            }
        }
        d.deserialize_map(V)
    }
}

impl FileSdConfig {
    /// Resolves relative patterns against `dir` (Prometheus `SetDirectory`).
    pub fn set_directory(&mut self, dir: &Path) {
        for f in &mut self.files {
            if !f.is_empty() && Path::new(f.as_str()).is_relative() {
                *f = dir.join(f.as_str()).to_string_lossy().into_owned();
            }
        }
    }

    /// The files currently matching the patterns, in pattern order, each pattern's matches
    /// sorted (Prometheus `listFiles`). A malformed pattern matches nothing.
    pub fn list_files(&self) -> Vec<PathBuf> {
        self.files.iter().flat_map(|p| glob(p)).collect()
    }
}

/// Reads one target file (`.json`, or `.yml`/`.yaml`; by extension, case-insensitively) into
/// target groups, adding `__meta_filepath` and the source `<file>:<index>` to each.
pub fn read_target_file(path: &Path) -> Result<Vec<TargetGroup>, ConfigError> {
    let content = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let name = path.to_string_lossy().into_owned();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let groups: Vec<Option<RawTargetGroup>> = match ext.as_str() {
        "json" => serde_json::from_str(&content).map_err(|e| ConfigError::Invalid {
            file: name.clone(),
            location: Some(Location {
                line: e.line(),
                column: e.column(),
            }),
            message: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or("")
                .to_owned(),
        })?,
        "yml" | "yaml" => {
            serde_yaml_ng::from_str(&content).map_err(|e| ConfigError::from_yaml(&name, &e))?
        }
        other => {
            return Err(ConfigError::Invalid {
                file: name,
                location: None,
                message: format!("unhandled file extension {:?}", format!(".{other}")),
            });
        }
    };
    let mut out = Vec::with_capacity(groups.len());
    for (i, g) in groups.into_iter().enumerate() {
        let Some(g) = g else {
            return Err(ConfigError::Invalid {
                file: name,
                location: None,
                message: "nil target group item found".to_owned(),
            });
        };
        let mut labels = g.labels;
        match labels.binary_search_by(|(n, _)| n.as_str().cmp(FILEPATH_LABEL)) {
            Ok(j) => labels[j].1 = name.clone(),
            Err(j) => labels.insert(j, (FILEPATH_LABEL.to_owned(), name.clone())),
        }
        out.push(TargetGroup {
            targets: g.targets,
            labels,
            source: format!("{name}:{i}"),
        });
    }
    Ok(out)
}

/// Go's `filepath.Glob`: `*`, `?`, `[...]` and `\` escapes, matched per path element; results
/// sorted per directory. A pattern without metacharacters matches the file if it exists.
pub fn glob(pattern: &str) -> Vec<PathBuf> {
    if !has_meta(pattern) {
        let p = PathBuf::from(pattern);
        return if p.symlink_metadata().is_ok() {
            vec![p]
        } else {
            Vec::new()
        };
    }
    let (dir, file) = match pattern.rfind('/') {
        Some(0) => ("/", &pattern[1..]),
        Some(i) => (&pattern[..i], &pattern[i + 1..]),
        None => (".", pattern),
    };
    let dirs: Vec<PathBuf> = if has_meta(dir) {
        glob(dir)
    } else {
        vec![PathBuf::from(dir)]
    };
    let mut out = Vec::new();
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| match_pattern(file, n).unwrap_or(false))
            .collect();
        names.sort();
        for n in names {
            out.push(if pattern.contains('/') {
                d.join(n)
            } else {
                PathBuf::from(n)
            });
        }
    }
    out
}

fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '[', '\\'])
}

/// Go's `filepath.Match` for one path element; `None` for a malformed pattern.
fn match_pattern(pattern: &str, name: &str) -> Option<bool> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> Option<bool> {
    match p.first() {
        None => Some(n.is_empty()),
        Some('*') => {
            // `*` matches any run of non-separator characters, including none.
            for i in 0..=n.len() {
                if i > 0 && n[i - 1] == '/' {
                    break;
                }
                if match_from(&p[1..], &n[i..])? {
                    return Some(true);
                }
            }
            Some(false)
        }
        Some('?') => match n.first() {
            Some(&c) if c != '/' => match_from(&p[1..], &n[1..]),
            _ => Some(false),
        },
        Some('[') => {
            let (matched, rest) = match_class(&p[1..], n.first().copied())?;
            if matched {
                match_from(rest, &n[1..])
            } else {
                Some(false)
            }
        }
        Some('\\') => {
            let c = *p.get(1)?;
            if n.first() == Some(&c) {
                match_from(&p[2..], &n[1..])
            } else {
                Some(false)
            }
        }
        Some(&c) => {
            if n.first() == Some(&c) {
                match_from(&p[1..], &n[1..])
            } else {
                Some(false)
            }
        }
    }
}

/// A `[...]` class after the `[`: whether `c` matches and the pattern after the `]`.
fn match_class(p: &[char], c: Option<char>) -> Option<(bool, &[char])> {
    let mut i = 0;
    let negated = p.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = match p.get(i)? {
            ']' if !first => break,
            '\\' => {
                i += 1;
                *p.get(i)?
            }
            '-' => return None,
            &ch => ch,
        };
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&ch| ch != ']') {
            i += 1;
            hi = match p.get(i)? {
                '\\' => {
                    i += 1;
                    *p.get(i)?
                }
                &ch => ch,
            };
            i += 1;
        }
        if let Some(c) = c
            && lo <= c
            && c <= hi
        {
            matched = true;
        }
        first = false;
    }
    let ok = c.is_some_and(|c| c != '/') && matched != negated;
    Some((ok, &p[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_matching() {
        let cases = [
            ("*.json", "a.json", Some(true)),
            ("*.json", "a.yml", Some(false)),
            ("targets-*.yml", "targets-1.yml", Some(true)),
            ("targets-*.yml", "targets-.yml", Some(true)),
            ("a?c", "abc", Some(true)),
            ("a[b-d]c", "acc", Some(true)),
            ("a[^b]c", "abc", Some(false)),
            ("a\\*c", "a*c", Some(true)),
            ("a[", "a", None),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(match_pattern(pattern, name), want, "{pattern} vs {name}");
        }
    }

    fn parse(yaml: &str) -> Result<FileSdConfig, String> {
        serde_yaml_ng::from_str::<FileSdConfig>(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn config_validation() {
        let ok = parse("files: [targets/*.json, 'x.yml']").expect("valid");
        assert_eq!(ok.refresh_interval, DEFAULT_REFRESH_INTERVAL);
        let ok = parse("files: [a.YAML]\nrefresh_interval: 30s").expect("valid");
        assert_eq!(ok.refresh_interval, Duration::from_secs(30));
        let cases = [
            (
                "files: []",
                "file service discovery config must contain at least one path name",
            ),
            (
                "refresh_interval: 1m",
                "file service discovery config must contain at least one path name",
            ),
            (
                "files: [a.txt]",
                "path name \"a.txt\" is not valid for file discovery",
            ),
            (
                "files: ['*/a.json']",
                "path name \"*/a.json\" is not valid for file discovery",
            ),
            ("files: [a.json]\nbogus: 1", "unknown field `bogus`"),
        ];
        for (yaml, want) in cases {
            let err = parse(yaml).expect_err(yaml);
            assert!(err.contains(want), "{yaml}: {err}");
        }
    }

    #[test]
    fn reads_json_and_yaml_target_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let json = dir.path().join("a.json");
        std::fs::write(
            &json,
            r#"[{"targets": ["h1:9100", "h2:9100"], "labels": {"env": "prod"}}, {"targets": ["h3:1"]}]"#,
        )
        .expect("write");
        let yml = dir.path().join("b.yml");
        std::fs::write(
            &yml,
            "- targets: [h4:80]\n  labels:\n    zone: eu\n    env: dev\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("c.txt"), "ignored").expect("write");

        let sd = FileSdConfig {
            files: vec![
                format!("{}/*.json", dir.path().display()),
                format!("{}/b.yml", dir.path().display()),
            ],
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
        };
        assert_eq!(sd.list_files(), vec![json.clone(), yml.clone()]);

        let groups = read_target_file(&json).expect("json");
        let jname = json.display().to_string();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].targets, vec!["h1:9100", "h2:9100"]);
        assert_eq!(
            groups[0].labels,
            vec![
                (FILEPATH_LABEL.to_owned(), jname.clone()),
                ("env".to_owned(), "prod".to_owned())
            ]
        );
        assert_eq!(groups[1].source, format!("{jname}:1"));

        let groups = read_target_file(&yml).expect("yaml");
        assert_eq!(groups[0].targets, vec!["h4:80"]);
        let names: Vec<&str> = groups[0].labels.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec![FILEPATH_LABEL, "env", "zone"]);
    }

    #[test]
    fn target_file_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cases = [
            (
                "bad.json",
                "[{\"targets\": [\"a:1\"], \"bogus\": 1}]",
                "unknown field `bogus`",
                Some(1),
            ),
            (
                "bad.yml",
                "- targets: [a:1]\n  labels: {1x: y}\n",
                "\"1x\" is not a valid label name",
                Some(2),
            ),
            (
                "null.yml",
                "- targets: [a:1]\n- ~\n",
                "nil target group item found",
                None,
            ),
            ("syntax.json", "[{", "EOF while parsing", Some(1)),
        ];
        for (file, content, want, line) in cases {
            let path = dir.path().join(file);
            std::fs::write(&path, content).expect("write");
            let err = read_target_file(&path).expect_err(file);
            assert!(err.to_string().contains(want), "{file}: {err}");
            assert!(
                err.to_string().starts_with(&path.display().to_string()),
                "{file}: {err}"
            );
            assert_eq!(err.line(), line, "{file}: {err}");
        }
        assert!(matches!(
            read_target_file(&dir.path().join("missing.json")),
            Err(ConfigError::Read { .. })
        ));
    }
}
