//! Label-set helpers for the engine: dropping `__name__`, setting, keeping and deleting labels,
//! match signatures and grouping keys, and Prometheus's `labels.String()` text for messages.

use fedstore_storage::Labels;
use xxhash_rust::xxh3::xxh3_64;

/// The metric-name label.
pub(crate) const METRIC_NAME: &str = "__name__";

/// Separator between names and values in signatures (Prometheus `seps`, 0xff: not UTF-8).
const SEP: u8 = 0xff;

/// `l` without `__name__`.
pub(crate) fn drop_name(l: &Labels) -> Labels {
    if l.get(METRIC_NAME).is_empty() {
        return l.clone();
    }
    rebuild(
        l.iter()
            .filter(|x| x.name != METRIC_NAME)
            .map(|x| (x.name.as_str(), x.value.as_str())),
    )
}

/// `l` with `name` set to `value` (deleted when `value` is empty).
pub(crate) fn set(l: &Labels, name: &str, value: &str) -> Labels {
    let mut pairs: Vec<(&str, &str)> = l
        .iter()
        .filter(|x| x.name != name)
        .map(|x| (x.name.as_str(), x.value.as_str()))
        .collect();
    if !value.is_empty() {
        pairs.push((name, value));
    }
    rebuild(pairs)
}

/// `l` restricted to `names`.
pub(crate) fn keep(l: &Labels, names: &[String]) -> Labels {
    rebuild(
        l.iter()
            .filter(|x| names.contains(&x.name))
            .map(|x| (x.name.as_str(), x.value.as_str())),
    )
}

/// `l` without `names`.
pub(crate) fn delete(l: &Labels, names: &[String]) -> Labels {
    rebuild(
        l.iter()
            .filter(|x| !names.contains(&x.name))
            .map(|x| (x.name.as_str(), x.value.as_str())),
    )
}

fn rebuild<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Labels {
    Labels::from_pairs(pairs.into_iter().map(|(n, v)| (n.to_owned(), v.to_owned())))
}

/// Appends the bytes of `name=value` pairs selected by `pick` to `buf`: the key that matching
/// and grouping compare (Prometheus `BytesWithLabels`/`BytesWithoutLabels`).
fn key_bytes(l: &Labels, buf: &mut Vec<u8>, pick: impl Fn(&str) -> bool) {
    buf.clear();
    for x in l.iter() {
        if pick(&x.name) {
            push_pair(buf, &x.name, &x.value);
        }
    }
}

/// The matching signature of `l` for `on(names)` (`on = true`) or `ignoring(names)`; `ignoring`
/// always ignores `__name__` too.
pub(crate) fn signature(l: &Labels, on: bool, names: &[String], buf: &mut Vec<u8>) -> Vec<u8> {
    if on {
        key_bytes(l, buf, |n| names.iter().any(|x| x == n));
    } else {
        key_bytes(l, buf, |n| {
            n != METRIC_NAME && !names.iter().any(|x| x == n)
        });
    }
    buf.clone()
}

/// The grouping key of `l` for `by(names)` or `without(names)` (which always drops
/// `__name__`); `skip_name` treats `__name__` as absent (a lazily dropped name).
pub(crate) fn grouping_key(
    l: &Labels,
    without: bool,
    names: &[String],
    skip_name: bool,
    buf: &mut Vec<u8>,
) -> u64 {
    if without {
        key_bytes(l, buf, |n| {
            n != METRIC_NAME && !names.iter().any(|x| x == n)
        });
    } else {
        key_bytes(l, buf, |n| {
            !(skip_name && n == METRIC_NAME) && names.iter().any(|x| x == n)
        });
    }
    xxh3_64(buf)
}

/// Series `i` of `set` projected on `by(names)`: its labels named in `names` (`__name__`
/// included if named), its grouping key and, with `hash`, the hash of its whole label set,
/// both as [`grouping_key`] and [`hash`] compute them on the whole set (`skip_name` treating
/// `__name__` as absent), read without building the whole set. Series with the same
/// projected labels get clones of one label set (`bufs.built`).
pub(crate) fn project(
    set: &dyn crate::storage::SeriesSet,
    i: usize,
    names: &[String],
    hash: bool,
    skip_name: bool,
    bufs: &mut crate::engine::columns::ProjectBufs,
) -> Result<(Labels, u64, Option<u64>), crate::engine::EvalError> {
    bufs.key.clear();
    bufs.hash.clear();
    bufs.kept.clear();
    let (key, hbuf, kept) = (&mut bufs.key, &mut bufs.hash, &mut bufs.kept);
    set.for_each_label(i, &mut |n, v| {
        let skip = skip_name && n == METRIC_NAME;
        if hash && !skip {
            push_pair(hbuf, n, v);
        }
        if names.iter().any(|x| x == n) {
            if !skip {
                push_pair(key, n, v);
            }
            push_pair(kept, n, v);
        }
    })
    .map_err(crate::storage::StorageError::into_eval)?;
    let l = match bufs.built.get(kept.as_slice()) {
        Some(l) => l.clone(),
        None => {
            let l = from_pair_bytes(kept);
            bufs.built.insert(kept.clone(), l.clone());
            l
        }
    };
    Ok((l, xxh3_64(key), hash.then(|| xxh3_64(hbuf))))
}

/// The label set whose pairs [`push_pair`] wrote into `buf` (whole `&str`s, so the
/// bytes between separators are valid UTF-8 and the lossy conversion never replaces any).
fn from_pair_bytes(buf: &[u8]) -> Labels {
    let mut parts = buf.split(|&b| b == SEP);
    let mut pairs = Vec::new();
    while let (Some(n), Some(v)) = (parts.next(), parts.next()) {
        pairs.push((
            String::from_utf8_lossy(n).into_owned(),
            String::from_utf8_lossy(v).into_owned(),
        ));
    }
    Labels::from_pairs(pairs)
}

fn push_pair(buf: &mut Vec<u8>, n: &str, v: &str) {
    buf.extend_from_slice(n.as_bytes());
    buf.push(SEP);
    buf.extend_from_slice(v.as_bytes());
    buf.push(SEP);
}

/// A hash of the whole label set (minus `__name__` when `skip_name`).
pub(crate) fn hash(l: &Labels, skip_name: bool, buf: &mut Vec<u8>) -> u64 {
    key_bytes(l, buf, |n| !(skip_name && n == METRIC_NAME));
    xxh3_64(buf)
}

/// Prometheus's `labels.Labels.String()`: `{a="b", c="d"}` with Go-quoted values.
pub(crate) fn to_string(l: &Labels) -> String {
    let mut s = String::from("{");
    for (i, x) in l.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&x.name);
        s.push('=');
        go_quote(&x.value, &mut s);
    }
    s.push('}');
    s
}

/// Go's `strconv.Quote` for valid UTF-8 text.
pub(crate) fn go_quote(v: &str, out: &mut String) {
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                let u = c as u32;
                if u <= 0xffff {
                    out.push_str(&format!("\\u{u:04x}"));
                } else {
                    out.push_str(&format!("\\U{u:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether `s` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub(crate) fn is_valid_name(s: &str) -> bool {
    fedstore_storage::is_valid_label_name(s)
}
