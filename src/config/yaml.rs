//! go-yaml v2 decoding rules that serde_yaml_ng does not share, as field deserializers:
//! `key:` with no value is the Go zero value, YAML 1.1 booleans (`yes`, `on`), any scalar may fill
//! a string field, and duplicate map keys are errors (`yaml.UnmarshalStrict`).
//! Errors are raised inside visitors so that serde_yaml_ng attaches the exact position.

use std::fmt;

use fedstore_storage::is_valid_label_name;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// Visits any YAML scalar as its text, the way go-yaml v2 fills a Go `string`.
struct ScalarText;

impl<'de> Visitor<'de> for ScalarText {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
    fn visit_none<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
    // Reached through `deserialize_option`: a non-null node is read as its source text.
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

/// A string field: any scalar as its source text (`1.10` stays `1.10`); null (`key:`, `~`,
/// `null`) is `""`, Go's zero value.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_option(ScalarText)
}

/// An optional string field: absent stays `None` (via `#[serde(default)]`), null is `Some("")`.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_option(ScalarText).map(Some)
}

/// A list of strings; null is the empty list.
pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of strings")
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<StringSeed>()? {
                out.push(s.0);
            }
            Ok(out)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<String>, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Vec<String>, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(V)
}

/// An optional list of strings: absent is `None`, null or `[]` is `Some(vec![])` (Go keeps the
/// difference between a nil and an empty slice, and relabel validation looks at it).
pub fn opt_strings<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    strings(d).map(Some)
}

/// A string element deserialized with go-yaml's scalar rules.
struct StringSeed(String);

impl<'de> serde::Deserialize<'de> for StringSeed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_option(ScalarText).map(StringSeed)
    }
}

/// YAML 1.1 booleans as go-yaml v2 resolves them; null is `false` (Go's zero value).
pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a boolean")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
            match v {
                "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On"
                | "ON" => Ok(true),
                "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off"
                | "OFF" => Ok(false),
                _ => Err(E::custom(format_args!(
                    "cannot unmarshal {v:?} into a boolean"
                ))),
            }
        }
        fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_none<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
    }
    d.deserialize_any(V)
}

/// An unsigned integer; null is 0.
pub fn uint<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a non-negative integer")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format_args!("cannot unmarshal {v} into uint")))
        }
        // go-yaml v2 truncates a non-negative float into an unsigned field.
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
            if (0.0..=u64::MAX as f64).contains(&v) {
                Ok(v as u64)
            } else {
                Err(E::custom(format_args!("cannot unmarshal {v} into uint")))
            }
        }
        fn visit_unit<E: de::Error>(self) -> Result<u64, E> {
            Ok(0)
        }
        fn visit_none<E: de::Error>(self) -> Result<u64, E> {
            Ok(0)
        }
    }
    d.deserialize_any(V)
}

/// A label set written as a YAML map (`external_labels`, target `labels`): names must be valid
/// label names, values are any scalar's text, keys must be unique. Returned sorted by name.
pub fn label_map<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of label names to values")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out: Vec<(String, String)> = Vec::new();
            while let Some(LabelNameKey(name)) = map.next_key_seed(LabelNameSeed { seen: &out })? {
                let StringSeed(value) = map.next_value()?;
                out.push((name, value));
            }
            out.sort();
            Ok(out)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(V)
}

/// A map key that must be a valid label name (Prometheus `model.LabelName.UnmarshalYAML`).
struct LabelNameKey(String);

/// Reads a [`LabelNameKey`] not among `seen`, so that both errors point at the key itself.
struct LabelNameSeed<'a> {
    seen: &'a [(String, String)],
}

impl<'de> de::DeserializeSeed<'de> for LabelNameSeed<'_> {
    type Value = LabelNameKey;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<LabelNameKey, D::Error> {
        struct V<'a>(&'a [(String, String)]);
        impl Visitor<'_> for V<'_> {
            type Value = LabelNameKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a label name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LabelNameKey, E> {
                if !is_valid_label_name(v) {
                    Err(E::custom(format_args!("{v:?} is not a valid label name")))
                } else if self.0.iter().any(|(n, _)| n == v) {
                    Err(E::custom(format_args!("label name {v:?} is defined twice")))
                } else {
                    Ok(LabelNameKey(v.to_owned()))
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LabelNameKey, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LabelNameKey, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LabelNameKey, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_unit<E: de::Error>(self) -> Result<LabelNameKey, E> {
                self.visit_str("")
            }
        }
        d.deserialize_str(V(self.seen))
    }
}

/// URL query parameters (`params`): a map of names to lists of values; keys unique, null values
/// are empty lists. Kept in file order.
pub fn params<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, Vec<String>)>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<(String, Vec<String>)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of parameter names to lists of values")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out: Vec<(String, Vec<String>)> = Vec::new();
            while let Some(StringSeed(name)) = map.next_key()? {
                let StringList(values) = map.next_value()?;
                if out.iter().any(|(n, _)| *n == name) {
                    return Err(de::Error::custom(format_args!(
                        "parameter {name:?} is defined twice"
                    )));
                }
                out.push((name, values));
            }
            Ok(out)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(V)
}

/// A list of strings as a map value.
struct StringList(Vec<String>);

impl<'de> serde::Deserialize<'de> for StringList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        strings(d).map(StringList)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Flags {
        #[serde(default, deserialize_with = "bool")]
        b: bool,
        #[serde(default, deserialize_with = "string")]
        s: String,
        #[serde(default, deserialize_with = "label_map")]
        l: Vec<(String, String)>,
    }

    #[test]
    fn yaml_1_1_booleans() {
        let cases = [
            ("b: yes", Ok(true)),
            ("b: on", Ok(true)),
            ("b: Y", Ok(true)),
            ("b: TRUE", Ok(true)),
            ("b: true", Ok(true)),
            ("b: no", Ok(false)),
            ("b: off", Ok(false)),
            ("b: false", Ok(false)),
            ("b:", Ok(false)),
            ("b: maybe", Err(())),
            ("b: 1", Err(())),
        ];
        for (yaml, want) in cases {
            let got = serde_yaml_ng::from_str::<Flags>(yaml)
                .map(|f| f.b)
                .map_err(|_| ());
            assert_eq!(got, want, "{yaml}");
        }
    }

    #[test]
    fn scalars_fill_strings_and_labels() {
        let f: Flags =
            serde_yaml_ng::from_str("s: 123\nl: {b: 1, a: true, c: 1.10, d: x}\n").expect("valid");
        assert_eq!(f.s, "123");
        let want: Vec<(String, String)> = [("a", "true"), ("b", "1"), ("c", "1.10"), ("d", "x")]
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(f.l, want);
        for nulls in ["s:\nl:\n", "s: ~\nl: null\n", "s: null\nl: ~\n"] {
            let f: Flags = serde_yaml_ng::from_str(nulls).expect("nulls");
            assert_eq!((f.s.as_str(), f.l.len()), ("", 0), "{nulls:?}");
        }
        let f: Flags =
            serde_yaml_ng::from_str("s: 'null'\nl: {a: ~, b: 'null'}\n").expect("quoted");
        assert_eq!(f.s, "null");
        assert_eq!(
            f.l,
            vec![
                ("a".to_owned(), String::new()),
                ("b".to_owned(), "null".to_owned())
            ]
        );
    }

    #[test]
    fn label_map_errors() {
        let cases = [
            ("l: {a: 1, a: 2}", "label name \"a\" is defined twice"),
            ("l: {a-b: 1}", "\"a-b\" is not a valid label name"),
            ("l: {1a: 1}", "\"1a\" is not a valid label name"),
        ];
        for (yaml, want) in cases {
            let err = serde_yaml_ng::from_str::<Flags>(yaml).expect_err(yaml);
            assert!(err.to_string().contains(want), "{yaml}: {err}");
        }
    }
}
