//! Character classes: `[...]` (Go's `parseClass`, `parseClassChar`), `\p{..}` names, Perl and
//! POSIX classes, and how a class or a literal rune is written for Rust's `regex`.

use super::*;

/// A Rust class (`[...]` body items) for one code point, escaped; empty for a surrogate.
pub(super) fn class_item(lo: u32, hi: u32) -> String {
    // Surrogates can't occur in a Rust (or valid UTF-8) string; Go can name them but they never
    // match valid input, so they are clipped out of ranges.
    let lo = if (0xD800..=0xDFFF).contains(&lo) {
        0xE000
    } else {
        lo
    };
    let hi = if (0xD800..=0xDFFF).contains(&hi) {
        0xD7FF
    } else {
        hi
    };
    if lo > hi {
        String::new()
    } else if lo == hi {
        format!("\\x{{{lo:X}}}")
    } else {
        format!("\\x{{{lo:X}}}-\\x{{{hi:X}}}")
    }
}

/// A complete Rust class from body items; empty bodies become "nothing" or "anything".
pub(super) fn class_text(body: &str, negated: bool) -> String {
    match (body.is_empty(), negated) {
        (true, false) => "[^\\x{0}-\\x{10FFFF}]".to_string(),
        (true, true) => "[\\x{0}-\\x{10FFFF}]".to_string(),
        (false, false) => format!("[{body}]"),
        (false, true) => format!("[^{body}]"),
    }
}

/// The Rust text of a literal rune: ASCII alphanumerics as they are, the rest escaped.
pub(super) fn literal_text(r: u32) -> String {
    match char::from_u32(r) {
        Some(c) if c.is_ascii_alphanumeric() => c.to_string(),
        Some(_) => format!("\\x{{{r:X}}}"),
        None => class_text("", false),
    }
}

/// Go's Perl classes (ASCII only): the class body and whether it is negated.
pub(super) fn perl_class(c: u8) -> Option<(&'static str, bool)> {
    match c {
        b'd' => Some(("0-9", false)),
        b'D' => Some(("0-9", true)),
        b's' => Some(("\\t\\n\\x0C\\r\\x20", false)),
        b'S' => Some(("\\t\\n\\x0C\\r\\x20", true)),
        b'w' => Some(("0-9A-Za-z_", false)),
        b'W' => Some(("0-9A-Za-z_", true)),
        _ => None,
    }
}

/// The Rust class body for a Go Unicode class name, `None` if Go doesn't know the name.
pub(super) fn unicode_class_body(name: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(name).ok()?;
    match name {
        "Any" => Some("\\x{0}-\\x{10FFFF}".to_string()),
        // Go's C is Cc|Cf|Co|Cs (no unassigned code points, unlike Rust's \p{C}); surrogates
        // never occur in valid UTF-8, so Cs matches nothing.
        "C" => Some("\\p{Cc}\\p{Cf}\\p{Co}".to_string()),
        "Cs" => Some(String::new()),
        n if GO_CATEGORIES.contains(&n) || GO_SCRIPTS.contains(&n) => Some(format!("\\p{{{n}}}")),
        _ => None,
    }
}

impl Translator<'_> {
    /// Go's `parseUnicodeClass` at `\p`/`\P` (index `i`): (Rust class body, negated, next).
    pub(super) fn unicode_class(&self, i: usize) -> Result<(String, bool, usize), GoRegexError> {
        let s = self.s;
        let mut negated = s[i + 1] == b'P';
        let t = i + 2;
        let (c, w) = self.next_rune(t)?;
        let (seq, name) = if c != '{' {
            (&s[i..t + w], &s[t..t + w])
        } else {
            let Some(end) = s[i..].iter().position(|&b| b == b'}') else {
                check_utf8(&s[i..])?;
                return Err(err(INVALID_CHAR_RANGE, &s[i..]));
            };
            let name = &s[i + 3..i + end];
            check_utf8(name)?;
            (&s[i..=i + end], name)
        };
        let mut name = name;
        if name.first() == Some(&b'^') {
            negated = !negated;
            name = &name[1..];
        }
        let body = unicode_class_body(name).ok_or_else(|| err(INVALID_CHAR_RANGE, seq))?;
        Ok((body, negated, i + seq.len()))
    }

    /// Go's `parseClass` at `[` (index `i`); returns the index after the closing `]`.
    pub(super) fn class(&mut self, i: usize) -> Result<usize, GoRegexError> {
        let s = self.s;
        let mut t = i + 1;
        let mut negated = false;
        if s.get(t) == Some(&b'^') {
            negated = true;
            t += 1;
        }
        let mut body = String::new();
        let mut first = true;
        loop {
            if t >= s.len() {
                return Err(err(MISSING_BRACKET, &s[i..]));
            }
            if s[t] == b']' && !first {
                break;
            }
            first = false;
            if s.len() - t > 2
                && s[t] == b'['
                && s[t + 1] == b':'
                && let Some(k) = s[t + 2..].windows(2).position(|w| w == b":]")
            {
                let name = &s[t..t + 2 + k + 2];
                let inner = &name[2..name.len() - 2];
                let plain = inner.strip_prefix(b"^").unwrap_or(inner);
                let known = std::str::from_utf8(plain).is_ok_and(|p| POSIX_CLASSES.contains(&p));
                if !known {
                    return Err(err(INVALID_CHAR_RANGE, name));
                }
                body.push_str(&String::from_utf8_lossy(name));
                t += name.len();
                continue;
            }
            if s[t] == b'\\' && matches!(s.get(t + 1), Some(b'p' | b'P')) {
                let (inner, neg, next) = self.unicode_class(t)?;
                body.push_str(&nested_class(&inner, neg));
                t = next;
                continue;
            }
            if s[t] == b'\\'
                && let Some((inner, neg)) = s.get(t + 1).and_then(|&c| perl_class(c))
            {
                body.push_str(&nested_class(inner, neg));
                t += 2;
                continue;
            }
            let range_start = t;
            let (lo, next) = self.class_char(t, i)?;
            t = next;
            let mut hi = lo;
            if s.len() - t >= 2 && s[t] == b'-' && s[t + 1] != b']' {
                let (h, next) = self.class_char(t + 1, i)?;
                t = next;
                hi = h;
                if hi < lo {
                    return Err(err(INVALID_CHAR_RANGE, &s[range_start..t]));
                }
            }
            body.push_str(&class_item(lo, hi));
        }
        self.push_atom(class_text(&body, negated));
        Ok(t + 1)
    }

    /// Go's `parseClassChar`: one (possibly escaped) rune inside a class.
    pub(super) fn class_char(
        &self,
        t: usize,
        class_start: usize,
    ) -> Result<(u32, usize), GoRegexError> {
        let s = self.s;
        if t >= s.len() {
            return Err(err(MISSING_BRACKET, &s[class_start..]));
        }
        if s[t] == b'\\' {
            return self.escape(t);
        }
        let (c, w) = self.next_rune(t)?;
        Ok((u32::from(c), t + w))
    }
}

/// A class body (possibly negated) as an item nested inside another class.
pub(super) fn nested_class(body: &str, negated: bool) -> String {
    match (body.is_empty(), negated) {
        (true, false) => String::new(),
        (false, false) => body.to_string(),
        (_, true) => class_text(body, true),
    }
}
