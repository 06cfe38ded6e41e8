//! Go's regexp flags: the flag state the translator carries and `(?flags)` / `(?:` / `(?P<name>`
//! groups (`parsePerlFlags`).

use super::*;

/// Go's parse flags that change meaning: `FoldCase`, multi-line (not `OneLine`), `DotNL`,
/// `NonGreedy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Flags {
    pub(super) fold_case: bool,
    pub(super) multi_line: bool,
    pub(super) dot_nl: bool,
    pub(super) non_greedy: bool,
}

impl Flags {
    /// The absolute Rust flag list, e.g. `i-msU`.
    fn rust(self) -> String {
        let all = [
            (self.fold_case, 'i'),
            (self.multi_line, 'm'),
            (self.dot_nl, 's'),
            (self.non_greedy, 'U'),
        ];
        let mut out: String = all.iter().filter(|(on, _)| *on).map(|(_, c)| *c).collect();
        let off: String = all.iter().filter(|(on, _)| !*on).map(|(_, c)| *c).collect();
        if !off.is_empty() {
            out.push('-');
            out.push_str(&off);
        }
        out
    }
}

impl Translator<'_> {
    /// Go's `parsePerlFlags` at `(?`: named captures, flag changes and non-capturing groups.
    pub(super) fn perl_flags(&mut self, i: usize) -> Result<usize, GoRegexError> {
        let s = self.s;
        let t = &s[i..];
        if t.len() > 4 && t[2] == b'P' && t[3] == b'<' {
            let Some(end) = t.iter().position(|&b| b == b'>') else {
                check_utf8(t)?;
                return Err(err(INVALID_NAMED_CAPTURE, t));
            };
            let name = &t[4..end];
            check_utf8(name)?;
            if name.is_empty() || !name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_') {
                return Err(err(INVALID_NAMED_CAPTURE, &t[..=end]));
            }
            self.levels.push(Level {
                open: "(?:".to_string(),
                capture: true,
                saved_flags: self.flags,
                ..Level::default()
            });
            return Ok(i + end + 1);
        }
        let mut j = i + 2;
        let mut flags = self.flags;
        let mut negate = false;
        let mut saw_flag = false;
        while j < s.len() {
            let (c, w) = self.next_rune(j)?;
            j += w;
            match c {
                'i' => flags.fold_case = !negate,
                'm' => flags.multi_line = !negate,
                's' => flags.dot_nl = !negate,
                'U' => flags.non_greedy = !negate,
                '-' if !negate => {
                    negate = true;
                    saw_flag = false;
                    continue;
                }
                ':' | ')' if !negate || saw_flag => {
                    if c == ':' {
                        self.levels.push(Level {
                            open: if flags == self.flags {
                                "(?:".to_string()
                            } else {
                                format!("(?{}:", flags.rust())
                            },
                            saved_flags: self.flags,
                            ..Level::default()
                        });
                    } else {
                        let text = format!("(?{})", flags.rust());
                        self.level().items.push(Piece {
                            text,
                            is_atom: false,
                            repeats: vec![],
                            shape: Shape::Node(0),
                        });
                    }
                    self.flags = flags;
                    return Ok(j);
                }
                _ => break,
            }
            saw_flag = true;
        }
        Err(err(INVALID_PERL_OP, &s[i..j]))
    }
}
