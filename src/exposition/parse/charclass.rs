//! Byte classes of Prometheus's exposition lexers (`promlex.l`, `openmetricslex.l`) as one
//! 256-entry table, so each hot-loop step is a single lookup.

/// Metric name first byte: `[a-zA-Z_:]`.
pub(super) const NAME_START: u8 = 1;
/// Metric name later byte: `[a-zA-Z0-9_:]`.
pub(super) const NAME: u8 = 1 << 1;
/// Label name first byte: `[a-zA-Z_]`.
pub(super) const LNAME_START: u8 = 1 << 2;
/// Label name later byte: `[a-zA-Z0-9_]`.
pub(super) const LNAME: u8 = 1 << 3;
/// Text-format value byte: `[^{ \t\n\0]`.
pub(super) const TEXT_VALUE: u8 = 1 << 4;
/// OpenMetrics value/timestamp byte: `[^ \n\0]`.
pub(super) const OM_VALUE: u8 = 1 << 5;
/// Bytes that stop the fast scan of a quoted label value: `"`, `\`, newline, NUL, >= 0x80.
pub(super) const QUOTED_STOP: u8 = 1 << 6;

/// The class table.
pub(super) static CLASS: [u8; 256] = build();

const fn build() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let alpha = c.is_ascii_alphabetic() || c == b'_';
        let digit = c.is_ascii_digit();
        let mut v = 0;
        if alpha || c == b':' {
            v |= NAME_START | NAME;
        }
        if digit {
            v |= NAME;
        }
        if alpha {
            v |= LNAME_START | LNAME;
        }
        if digit {
            v |= LNAME;
        }
        if c != b'{' && c != b' ' && c != b'\t' && c != b'\n' && c != 0 {
            v |= TEXT_VALUE;
        }
        if c != b' ' && c != b'\n' && c != 0 {
            v |= OM_VALUE;
        }
        if c == b'"' || c == b'\\' || c == b'\n' || c == 0 || c >= 0x80 {
            v |= QUOTED_STOP;
        }
        t[i] = v;
        i += 1;
    }
    t
}

/// Whether `c` is in class `class`.
#[inline(always)]
pub(super) fn is(c: u8, class: u8) -> bool {
    CLASS[c as usize] & class != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let cases: &[(&str, u8, u8, bool)] = &[
            ("colon starts a metric name", b':', NAME_START, true),
            ("colon not in label names", b':', LNAME, false),
            ("digit not a name start", b'7', NAME_START, false),
            ("digit in names", b'7', NAME, true),
            ("brace ends text values", b'{', TEXT_VALUE, false),
            ("brace in OM values", b'{', OM_VALUE, true),
            ("tab ends text values", b'\t', TEXT_VALUE, false),
            ("tab in OM values", b'\t', OM_VALUE, true),
            ("nul ends values", 0, OM_VALUE, false),
            ("high byte stops quoted scan", 0xc3, QUOTED_STOP, true),
            ("letter does not", b'a', QUOTED_STOP, false),
        ];
        for (name, c, class, want) in cases {
            assert_eq!(is(*c, *class), *want, "case {name:?}");
        }
    }
}
