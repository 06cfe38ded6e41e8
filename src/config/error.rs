//! Configuration errors, always naming the file and, where known, the line and column first:
//! `config.yml:7:5: scrape_configs[0]: not a valid duration string: "15x"`.
//! Also finds the position of a YAML path for errors found after deserialization.

use std::fmt;
use std::path::PathBuf;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A 1-based position in a configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

/// Why a configuration (or a file-SD target file) could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration.
    #[error("{}", InvalidDisplay { file, location, message })]
    Invalid {
        /// The file name as given to [`crate::config::Config::parse`] or `load`.
        file: String,
        /// Where in the file, when known.
        location: Option<Location>,
        /// What is wrong, led by the YAML path of the offending node where known
        /// (`scrape_configs[0].scrape_interval: ...`); Prometheus's wording where it has one.
        message: String,
    },
}

struct InvalidDisplay<'a> {
    file: &'a str,
    location: &'a Option<Location>,
    message: &'a str,
}

impl fmt::Display for InvalidDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(l) => write!(f, "{}:{}:{}: {}", self.file, l.line, l.column, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl ConfigError {
    /// The line of the error, when known (1-based).
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Invalid {
                location: Some(l), ..
            } => Some(l.line),
            _ => None,
        }
    }

    /// The message without the file and position prefix.
    pub fn message(&self) -> String {
        match self {
            ConfigError::Invalid { message, .. } => message.clone(),
            ConfigError::Read { source, .. } => source.to_string(),
        }
    }

    /// Converts a serde_yaml_ng error for `file`, moving its position to the front.
    pub(crate) fn from_yaml(file: &str, err: &serde_yaml_ng::Error) -> ConfigError {
        let mut message = err.to_string();
        let location = err.location().map(|l| Location {
            line: l.line(),
            column: l.column(),
        });
        if let Some(l) = location {
            // serde_yaml_ng appends " at line L column C"; libyaml syntax errors embed several
            // positions and are left whole.
            let suffix = format!(" at line {} column {}", l.line, l.column);
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message.truncate(stripped.len());
            }
        }
        ConfigError::Invalid {
            file: file.to_owned(),
            location,
            message,
        }
    }

    /// An error found after deserialization at `path`, positioned by looking the path up in
    /// `yaml`. The message is prefixed with the path.
    pub(crate) fn at_path(file: &str, yaml: &str, path: &[PathSeg<'_>], msg: &str) -> Self {
        let mut message = String::new();
        for (i, seg) in path.iter().enumerate() {
            match seg {
                PathSeg::Key(k) if i == 0 => message.push_str(k),
                PathSeg::Key(k) => {
                    message.push('.');
                    message.push_str(k);
                }
                PathSeg::Index(n) => message.push_str(&format!("[{n}]")),
            }
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(msg);
        ConfigError::Invalid {
            file: file.to_owned(),
            location: locate(yaml, path),
            message,
        }
    }
}

/// One step of a YAML path: a mapping key or a sequence index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathSeg<'a> {
    /// A mapping key.
    Key(&'a str),
    /// A sequence index, from 0.
    Index(usize),
}

/// The marker message of the deliberate error that carries the position out of serde_yaml_ng.
const FOUND: &str = "\u{0}found";

/// The position of the deepest node along `path` in `yaml` (the node itself when it exists).
///
/// serde_yaml_ng has no spans, but it attaches the start of the current node to any error a
/// visitor raises; walking the document and failing on purpose at the target reads it out.
pub(crate) fn locate(yaml: &str, path: &[PathSeg<'_>]) -> Option<Location> {
    let de = serde_yaml_ng::Deserializer::from_str(yaml).next()?;
    let err = Seek { path }.deserialize(de).err()?;
    if !err.to_string().contains(FOUND) {
        return None;
    }
    err.location().map(|l| Location {
        line: l.line(),
        column: l.column(),
    })
}

struct Seek<'p, 'a> {
    path: &'p [PathSeg<'a>],
}

impl<'de> DeserializeSeed<'de> for Seek<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if let Some((PathSeg::Key(want), rest)) = self.path.split_first() {
            while let Some(key) = map.next_key::<KeyText>()? {
                if key.0 == *want {
                    return map.next_value_seed(Seek { path: rest });
                }
                map.next_value::<IgnoredAny>()?;
            }
        }
        Err(de::Error::custom(FOUND))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if let Some((PathSeg::Index(want), rest)) = self.path.split_first() {
            for _ in 0..*want {
                if seq.next_element::<IgnoredAny>()?.is_none() {
                    return Err(de::Error::custom(FOUND));
                }
            }
            if let Some(()) = seq.next_element_seed(Seek { path: rest })? {
                return Ok(());
            }
        }
        Err(de::Error::custom(FOUND))
    }
}

/// A mapping key of any scalar type, as text.
struct KeyText(String);

impl<'de> serde::Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::config::yaml::string(d).map(KeyText)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_table() {
        let yaml = "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_timeout: 1m\n  - {job_name: c, scrape_timeout: 2m}\n";
        type Case<'a> = (&'a [PathSeg<'a>], Option<(usize, usize)>);
        let cases: &[Case<'_>] = &[
            (&[PathSeg::Key("global")], Some((2, 3))),
            (
                &[PathSeg::Key("global"), PathSeg::Key("scrape_interval")],
                Some((2, 20)),
            ),
            (
                &[PathSeg::Key("scrape_configs"), PathSeg::Index(1)],
                Some((5, 5)),
            ),
            (
                &[
                    PathSeg::Key("scrape_configs"),
                    PathSeg::Index(1),
                    PathSeg::Key("scrape_timeout"),
                ],
                Some((6, 21)),
            ),
            (
                &[
                    PathSeg::Key("scrape_configs"),
                    PathSeg::Index(2),
                    PathSeg::Key("scrape_timeout"),
                ],
                Some((7, 35)),
            ),
            // Missing keys resolve to the deepest existing node.
            (
                &[
                    PathSeg::Key("scrape_configs"),
                    PathSeg::Index(0),
                    PathSeg::Key("scrape_timeout"),
                ],
                Some((4, 5)),
            ),
            (
                &[PathSeg::Key("scrape_configs"), PathSeg::Index(9)],
                Some((4, 3)),
            ),
        ];
        for (path, want) in cases {
            let got = locate(yaml, path).map(|l| (l.line, l.column));
            assert_eq!(got, *want, "{path:?}");
        }
    }

    #[test]
    fn display_puts_position_first() {
        let err = ConfigError::Invalid {
            file: "config.yml".into(),
            location: Some(Location { line: 7, column: 5 }),
            message: "scrape_configs[0].scrape_interval: not a valid duration string: \"15x\""
                .into(),
        };
        assert_eq!(
            err.to_string(),
            "config.yml:7:5: scrape_configs[0].scrape_interval: not a valid duration string: \"15x\""
        );
        assert_eq!(err.line(), Some(7));
    }
}
