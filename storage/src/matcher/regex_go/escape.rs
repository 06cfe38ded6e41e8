//! Backslash escapes outside classes: Perl classes, `\p{..}`, `\Q..\E`, anchors, and single
//! escaped runes (Go's `parseEscape`).

use super::*;

impl Translator<'_> {
    /// A backslash outside a class at `i`.
    pub(super) fn backslash(&mut self, i: usize) -> Result<usize, GoRegexError> {
        let s = self.s;
        if let Some(&c) = s.get(i + 1) {
            let special = match c {
                b'A' => Some("\\A"),
                b'z' => Some("\\z"),
                // Go's \b is an ASCII word boundary.
                b'b' => Some("(?-u:\\b)"),
                b'B' => Some("(?-u:\\B)"),
                _ => None,
            };
            if let Some(text) = special {
                self.push_shaped(text.to_string(), Shape::Node(1));
                return Ok(i + 2);
            }
            if c == b'C' {
                return Err(err(INVALID_ESCAPE, &s[i..i + 2]));
            }
            if c == b'Q' {
                let lit_start = i + 2;
                let (lit_end, next) = match s[lit_start..].windows(2).position(|w| w == b"\\E") {
                    Some(k) => (lit_start + k, lit_start + k + 2),
                    None => (s.len(), s.len()),
                };
                let mut j = lit_start;
                while j < lit_end {
                    match decode_rune(&s[j..lit_end]) {
                        Some((RUNE_ERROR, 1)) => return Err(err(INVALID_UTF8, &s[j..lit_end])),
                        Some((c, w)) => {
                            self.push_literal(u32::from(c));
                            j += w;
                        }
                        None => break,
                    }
                }
                return Ok(next);
            }
            if c == b'p' || c == b'P' {
                let (body, negated, next) = self.unicode_class(i)?;
                self.push_atom(class_text(&body, negated));
                return Ok(next);
            }
            if let Some((body, negated)) = perl_class(c) {
                self.push_atom(class_text(body, negated));
                return Ok(i + 2);
            }
        }
        let (r, next) = self.escape(i)?;
        self.push_literal(r);
        Ok(next)
    }

    /// Go's `parseEscape` at the backslash `i`: a single escaped rune.
    pub(super) fn escape(&self, i: usize) -> Result<(u32, usize), GoRegexError> {
        let s = self.s;
        let mut t = i + 1;
        if t >= s.len() {
            return Err(err(TRAILING_BACKSLASH, b""));
        }
        let (c, w) = self.next_rune(t)?;
        t += w;
        let is_octal = |b: Option<&u8>| b.is_some_and(|b| (b'0'..=b'7').contains(b));
        match c {
            '1'..='7' if !is_octal(s.get(t)) => {}
            '0'..='7' => {
                let mut r = u32::from(c) - u32::from('0');
                for _ in 1..3 {
                    if !is_octal(s.get(t)) {
                        break;
                    }
                    r = r * 8 + u32::from(s[t] - b'0');
                    t += 1;
                }
                return Ok((r, t));
            }
            'x' if t < s.len() => {
                let (c, w) = self.next_rune(t)?;
                t += w;
                if c == '{' {
                    let mut nhex = 0;
                    let mut r: u32 = 0;
                    loop {
                        if t >= s.len() {
                            return Err(err(INVALID_ESCAPE, &s[i..t]));
                        }
                        let (c, w) = self.next_rune(t)?;
                        t += w;
                        if c == '}' {
                            break;
                        }
                        let Some(v) = c.to_digit(16) else {
                            return Err(err(INVALID_ESCAPE, &s[i..t]));
                        };
                        r = r * 16 + v;
                        if r > MAX_RUNE {
                            return Err(err(INVALID_ESCAPE, &s[i..t]));
                        }
                        nhex += 1;
                    }
                    if nhex == 0 {
                        return Err(err(INVALID_ESCAPE, &s[i..t]));
                    }
                    return Ok((r, t));
                }
                let x = c.to_digit(16);
                let (c, w) = self.next_rune(t)?;
                t += w;
                if let (Some(x), Some(y)) = (x, c.to_digit(16)) {
                    return Ok((x * 16 + y, t));
                }
            }
            'a' => return Ok((0x07, t)),
            'f' => return Ok((0x0c, t)),
            'n' => return Ok((0x0a, t)),
            'r' => return Ok((0x0d, t)),
            't' => return Ok((0x09, t)),
            'v' => return Ok((0x0b, t)),
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => return Ok((u32::from(c), t)),
            _ => {}
        }
        Err(err(INVALID_ESCAPE, &s[i..t]))
    }
}
