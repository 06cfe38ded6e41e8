//! JSON as Prometheus 2.42 writes it (`util/jsonutil`, `promql/value.go`, Go `encoding/json`):
//! HTML-safe string escaping, sample timestamps as `<s>[.mmm]`, values as Go float strings,
//! label objects in label order, and the `status`/`data`/`errorType`/`error` envelope.
//!
//! Written by hand into one buffer: key order and number layout are part of the contract.

use fedstore_promql::{Sample, Series, Value};
use fedstore_storage::Labels;

use crate::exposition::float::write_go_float;

/// Bytes [`write_str`] stops at: the ASCII it escapes, and 0xE2, the first byte of U+2028 and
/// U+2029 (and of other characters, which it then copies).
const STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'&' as usize] = true;
    t[0xE2] = true;
    t
};

/// Appends `s` as a JSON string with Go's escaping: `<`, `>`, `&`, U+2028 and U+2029 as
/// `\uXXXX`, control characters as `\n`, `\r`, `\t` or `\u00XX`, everything else raw.
///
/// Byte by byte against a table, copying runs of plain bytes at once: every label and value
/// of a `/series` or query answer passes through here (307 MB for `/series` over 1M series).
pub fn write_str(buf: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    buf.reserve(bytes.len() + 2);
    buf.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !STOP[usize::from(b)] {
            i += 1;
            continue;
        }
        let (esc, len): (&[u8], usize) = match b {
            b'"' => (b"\\\"", 1),
            b'\\' => (b"\\\\", 1),
            b'\n' => (b"\\n", 1),
            b'\r' => (b"\\r", 1),
            b'\t' => (b"\\t", 1),
            // `s` is UTF-8, so 0xE2 leads a three-byte character: escape only U+2028/U+2029.
            0xE2 => match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(0x80), Some(0xA8)) => (b"\\u2028", 3),
                (Some(0x80), Some(0xA9)) => (b"\\u2029", 3),
                _ => {
                    i += 1;
                    continue;
                }
            },
            _ => (b"", 1),
        };
        buf.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            // `<`, `>`, `&` and the other control characters.
            buf.extend_from_slice(b"\\u00");
            buf.push(HEX[usize::from(b >> 4)]);
            buf.push(HEX[usize::from(b & 0xf)]);
        } else {
            buf.extend_from_slice(esc);
        }
        i += len;
        start = i;
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

/// Appends a sample timestamp: whole seconds, then `.` and three digits when the ms part is
/// not zero (`100`, `100.020`, `-0.001`).
pub fn write_timestamp(buf: &mut Vec<u8>, t_ms: i64) {
    if t_ms < 0 {
        buf.push(b'-');
    }
    let abs = t_ms.unsigned_abs();
    let mut b = itoa::Buffer::new();
    buf.extend_from_slice(b.format(abs / 1000).as_bytes());
    let ms = abs % 1000;
    if ms != 0 {
        buf.push(b'.');
        buf.push(b'0' + (ms / 100) as u8);
        buf.push(b'0' + (ms / 10 % 10) as u8);
        buf.push(b'0' + (ms % 10) as u8);
    }
}

/// Appends a sample value as a quoted Go float: `'e'` layout for non-zero values below 1e-6
/// or from 1e21 on, `'f'` otherwise (`jsonutil.MarshalValue`).
pub fn write_value(buf: &mut Vec<u8>, v: f64) {
    buf.push(b'"');
    let a = v.abs();
    write_go_float(buf, v, v != 0.0 && !(1e-6..1e21).contains(&a));
    buf.push(b'"');
}

/// Appends a number as Go's `encoding/json` writes a float64 (scalar and string results'
/// time): shortest digits, exponent only below 1e-6 or from 1e21 on, as `1e-7`, `1e+21`.
pub fn write_json_number(buf: &mut Vec<u8>, v: f64) {
    let a = v.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let at = buf.len();
        write_go_float(buf, v, true);
        // Go trims a one-digit negative exponent's zero: `1e-07` becomes `1e-7`.
        let n = buf.len();
        if n - at >= 4 && buf[n - 4] == b'e' && buf[n - 3] == b'-' && buf[n - 2] == b'0' {
            buf.remove(n - 2);
        }
    } else {
        write_go_float(buf, v, false);
    }
}

/// Appends a label set as an object (keys in label order, which is byte order).
pub fn write_labels(buf: &mut Vec<u8>, labels: &Labels) {
    buf.push(b'{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        write_str(buf, &l.name);
        buf.push(b':');
        write_str(buf, &l.value);
    }
    buf.push(b'}');
}

/// Appends `[<ts>,"<v>"]`.
fn write_point(buf: &mut Vec<u8>, t_ms: i64, v: f64) {
    buf.push(b'[');
    write_timestamp(buf, t_ms);
    buf.push(b',');
    write_value(buf, v);
    buf.push(b']');
}

/// Appends `{"resultType":..,"result":..` (the caller closes the object, after `stats`).
pub fn write_result(buf: &mut Vec<u8>, value: &Value) {
    buf.extend_from_slice(b"{\"resultType\":\"");
    buf.extend_from_slice(match value {
        Value::Scalar { .. } => b"scalar",
        Value::String { .. } => b"string",
        Value::Vector(_) => b"vector",
        Value::Matrix(_) => b"matrix",
    });
    buf.extend_from_slice(b"\",\"result\":");
    match value {
        Value::Scalar { t_ms, v } => {
            // Scalars are written with `'f'` whatever their size (`1e21` in full).
            buf.push(b'[');
            write_json_number(buf, *t_ms as f64 / 1000.0);
            buf.extend_from_slice(b",\"");
            write_go_float(buf, *v, false);
            buf.extend_from_slice(b"\"]");
        }
        Value::String { t_ms, s } => {
            buf.push(b'[');
            write_json_number(buf, *t_ms as f64 / 1000.0);
            buf.push(b',');
            write_str(buf, s);
            buf.push(b']');
        }
        Value::Vector(samples) => write_vector(buf, samples),
        Value::Matrix(series) => write_matrix(buf, series),
    }
}

fn write_vector(buf: &mut Vec<u8>, samples: &[Sample]) {
    buf.push(b'[');
    for (i, s) in samples.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(b"{\"metric\":");
        write_labels(buf, &s.labels);
        buf.extend_from_slice(b",\"value\":");
        write_point(buf, s.t_ms, s.v);
        buf.push(b'}');
    }
    buf.push(b']');
}

fn write_matrix(buf: &mut Vec<u8>, series: &[Series]) {
    buf.push(b'[');
    for (i, s) in series.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(b"{\"metric\":");
        write_labels(buf, &s.labels);
        buf.extend_from_slice(b",\"values\":[");
        for (k, &(t, v)) in s.points.iter().enumerate() {
            if k > 0 {
                buf.push(b',');
            }
            write_point(buf, t, v);
        }
        buf.extend_from_slice(b"]}");
    }
    buf.push(b']');
}

/// Appends a JSON array of strings.
pub fn write_str_array<S: AsRef<str>>(buf: &mut Vec<u8>, items: &[S]) {
    buf.push(b'[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        write_str(buf, s.as_ref());
    }
    buf.push(b']');
}

/// Opens a success envelope: `{"status":"success","data":` (close it with [`finish`]).
pub fn begin_success(capacity: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(capacity.max(64));
    buf.extend_from_slice(SUCCESS_PREFIX);
    buf
}

/// What a success envelope starts with, up to its `data` value.
pub const SUCCESS_PREFIX: &[u8] = b"{\"status\":\"success\",\"data\":";

/// Closes an envelope opened by [`begin_success`].
pub fn finish(mut buf: Vec<u8>) -> Vec<u8> {
    buf.push(b'}');
    buf
}

/// The error envelope: `{"status":"error","errorType":..,"error":..}`.
pub fn error_body(error_type: &str, message: &str) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64 + message.len());
    buf.extend_from_slice(b"{\"status\":\"error\",\"errorType\":");
    write_str(&mut buf, error_type);
    buf.extend_from_slice(b",\"error\":");
    write_str(&mut buf, message);
    buf.push(b'}');
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut b = Vec::new();
        f(&mut b);
        String::from_utf8(b).unwrap()
    }

    /// Go's `encoding/json` string escaping, one character at a time: the spec the byte-wise
    /// [`write_str`] must agree with.
    fn go_escaped(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                }
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn strings_escape_as_go_for_every_ascii_byte_and_the_e2_characters() {
        let mut cases: Vec<String> = (0u8..0x80).map(|b| format!("a{}b", b as char)).collect();
        cases.extend(
            [
                "",
                "plain",
                "\u{2028}",
                "\u{2029}",
                "x\u{2028}y\u{2029}z",
                "€",
                "…",
                "\u{2027}",
                "\u{202a}",
                "é<ü>&",
                "ends with \u{2028}",
                "\u{2029}starts",
                "\u{1}\u{1f}\u{7f}",
            ]
            .map(str::to_owned),
        );
        for s in &cases {
            let mut buf = Vec::new();
            write_str(&mut buf, s);
            assert_eq!(String::from_utf8(buf).unwrap(), go_escaped(s), "{s:?}");
        }
    }

    #[test]
    fn timestamps_values_and_strings_as_2_42() {
        let ts = [
            (100_000, "100"),
            (100_500, "100.500"),
            (100_020, "100.020"),
            (-1_500, "-1.500"),
            (-1, "-0.001"),
            (0, "0"),
        ];
        for (t, want) in ts {
            assert_eq!(text(|b| write_timestamp(b, t)), want, "{t}");
        }
        let vs = [
            (1e21, "\"1e+21\""),
            (1e20, "\"100000000000000000000\""),
            (1e-7, "\"1e-07\""),
            (0.000001, "\"0.000001\""),
            (-0.0, "\"-0\""),
            (f64::INFINITY, "\"+Inf\""),
        ];
        for (v, want) in vs {
            assert_eq!(text(|b| write_value(b, v)), want, "{v}");
        }
        assert_eq!(
            text(|b| write_str(b, "<a>&\"\\\n\t\u{1}\u{2028}é")),
            r#""\u003ca\u003e\u0026\"\\\n\t\u0001\u2028é""#
        );
        assert_eq!(text(|b| write_json_number(b, 100.5)), "100.5");
        assert_eq!(text(|b| write_json_number(b, 1e-7)), "1e-7");
        assert_eq!(text(|b| write_json_number(b, 1e21)), "1e+21");
        let scalar = Value::Scalar {
            t_ms: 100_500,
            v: 1e21,
        };
        assert_eq!(
            text(|b| write_result(b, &scalar)),
            r#"{"resultType":"scalar","result":[100.5,"1000000000000000000000"]"#
        );
        assert_eq!(
            String::from_utf8(error_body("bad_data", "x <y>")).unwrap(),
            r#"{"status":"error","errorType":"bad_data","error":"x \u003cy\u003e"}"#
        );
    }
}
