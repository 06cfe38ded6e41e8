//! Go RE2 syntax (`regexp/syntax`, Perl flags, as in go1.19 used by Prometheus 2.42) checked
//! and rewritten into an equivalent pattern for Rust's `regex` crate.
//!
//! The scanner follows Go's parser step by step, so a pattern Go rejects is rejected here with
//! Go's error code and offending text (`error parsing regexp: missing closing ): `^(?:()$``),
//! and an accepted pattern is emitted with Go's meaning: ASCII `\d \s \w \b`, `\<` as a literal,
//! `\Q…\E`, octal escapes, literal `{` when not a repeat, Go's Unicode class names only, nested
//! repetition and counts above 1000 rejected, `(?<name>` and `(?x)` rejected. Every group is
//! emitted non-capturing (captures don't change whether a value matches), every literal escaped.
//! Not reproduced: Go's size and nesting-depth limits (`expression too large`/`nests too deeply`).

mod class;
mod escape;
mod flags;
mod repeat;
mod tables;
mod tree;

use std::fmt;

use super::quote::{RUNE_ERROR, decode_rune};
use class::{class_text, literal_text, perl_class};
use flags::Flags;
use repeat::RepeatNode;
use tables::{GO_CATEGORIES, GO_SCRIPTS, POSIX_CLASSES};
use tree::{Level, Piece, Shape};

/// Go's `syntax.ErrInvalidCharRange` text.
const INVALID_CHAR_RANGE: &str = "invalid character class range";
/// Go's `syntax.ErrInvalidEscape` text.
const INVALID_ESCAPE: &str = "invalid escape sequence";
/// Go's `syntax.ErrInvalidNamedCapture` text.
const INVALID_NAMED_CAPTURE: &str = "invalid named capture";
/// Go's `syntax.ErrInvalidPerlOp` text.
const INVALID_PERL_OP: &str = "invalid or unsupported Perl syntax";
/// Go's `syntax.ErrInvalidRepeatOp` text.
const INVALID_REPEAT_OP: &str = "invalid nested repetition operator";
/// Go's `syntax.ErrInvalidRepeatSize` text.
const INVALID_REPEAT_SIZE: &str = "invalid repeat count";
/// Go's `syntax.ErrInvalidUTF8` text.
const INVALID_UTF8: &str = "invalid UTF-8";
/// Go's `syntax.ErrMissingBracket` text.
const MISSING_BRACKET: &str = "missing closing ]";
/// Go's `syntax.ErrMissingParen` text.
const MISSING_PAREN: &str = "missing closing )";
/// Go's `syntax.ErrMissingRepeatArgument` text.
const MISSING_REPEAT_ARGUMENT: &str = "missing argument to repetition operator";
/// Go's `syntax.ErrTrailingBackslash` text.
const TRAILING_BACKSLASH: &str = "trailing backslash at end of expression";
/// Go's `syntax.ErrNestingDepth` text.
const NESTING_DEPTH: &str = "expression nests too deeply";
/// Go's `syntax.ErrUnexpectedParen` text.
const UNEXPECTED_PAREN: &str = "unexpected )";

/// Go's `maxHeight`: the tallest parse tree Go accepts.
const MAX_HEIGHT: u32 = 1000;

/// Go's `maxRepeat`: the largest count in `x{n,m}`, also bounding nested counts' product.
const MAX_REPEAT: i32 = 1000;

/// The largest Unicode code point (`unicode.MaxRune`).
const MAX_RUNE: u32 = 0x10_FFFF;

/// A Go regexp parse error: `error parsing regexp: <code>: `<expr>``.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GoRegexError {
    /// Go's `ErrorCode` text.
    pub code: &'static str,
    /// The offending part of the pattern (bytes: may be invalid UTF-8).
    pub expr: Vec<u8>,
}

impl fmt::Display for GoRegexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "error parsing regexp: {}: `{}`",
            self.code,
            String::from_utf8_lossy(&self.expr)
        )
    }
}

fn err(code: &'static str, expr: &[u8]) -> GoRegexError {
    GoRegexError {
        code,
        expr: expr.to_vec(),
    }
}

/// A translated pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Translation {
    /// The Rust `regex` pattern.
    pub pattern: String,
    /// The height of Go's parse tree (at most Go's limit of 1000): bounds how deeply Rust's
    /// compiler will recurse.
    pub height: u32,
}

/// Translates the Go pattern `s` into a Rust `regex` pattern with the same matches, or fails
/// with Go's error.
pub(crate) fn translate(s: &[u8]) -> Result<Translation, GoRegexError> {
    Translator {
        s,
        flags: Flags::default(),
        levels: vec![Level::default()],
    }
    .run()
}

struct Translator<'a> {
    s: &'a [u8],
    flags: Flags,
    levels: Vec<Level>,
}

impl Translator<'_> {
    fn level(&mut self) -> &mut Level {
        self.levels
            .last_mut()
            .expect("the root level is never popped")
    }

    fn push_atom(&mut self, text: String) {
        self.push_shaped(text, Shape::CharClass);
    }

    fn push_literal(&mut self, r: u32) {
        let shape = Shape::Literal {
            fold: self.flags.fold_case,
            single: true,
        };
        self.push_shaped(literal_text(r), shape);
    }

    fn push_shaped(&mut self, text: String, shape: Shape) {
        self.level().items.push(Piece {
            text,
            is_atom: true,
            repeats: Vec::new(),
            shape,
        });
    }

    /// Go's `checkHeight`: a tree taller than `MAX_HEIGHT` fails the whole pattern.
    fn check_height(&self, shape: Shape) -> Result<(), GoRegexError> {
        if shape.height() > MAX_HEIGHT {
            return Err(err(NESTING_DEPTH, self.s));
        }
        Ok(())
    }

    /// Go's `nextRune`: the rune at `i` and its width; an invalid byte is an error.
    fn next_rune(&self, i: usize) -> Result<(char, usize), GoRegexError> {
        match decode_rune(&self.s[i..]) {
            Some((RUNE_ERROR, 1)) => Err(err(INVALID_UTF8, &self.s[i..])),
            Some(rw) => Ok(rw),
            None => Ok((RUNE_ERROR, 0)),
        }
    }

    fn run(mut self) -> Result<Translation, GoRegexError> {
        let s = self.s;
        let mut i = 0;
        let mut last_repeat: Option<usize> = None;
        while i < s.len() {
            let mut repeat = None;
            match s[i] {
                b'(' if s.get(i + 1) == Some(&b'?') => i = self.perl_flags(i)?,
                b'(' => {
                    self.levels.push(Level {
                        open: "(?:".to_string(),
                        capture: true,
                        saved_flags: self.flags,
                        ..Level::default()
                    });
                    i += 1;
                }
                b'|' => {
                    let shape = self.level().finish_alternative();
                    self.check_height(shape)?;
                    i += 1;
                }
                b')' => {
                    if self.levels.len() < 2 {
                        return Err(err(UNEXPECTED_PAREN, s));
                    }
                    let mut level = self.levels.pop().expect("checked above");
                    let no_flags = level.items.iter().all(|p| p.is_atom);
                    let last = level.finish_alternative();
                    self.check_height(last)?;
                    self.flags = level.saved_flags;
                    let mut shape = Shape::alternate(&level.shapes);
                    if level.capture {
                        shape = Shape::Node(1 + shape.height());
                    }
                    self.check_height(shape)?;
                    // A group without alternatives or flag changes needs no brackets (a
                    // repetition wraps its operand anyway): keeps Rust's nesting depth near
                    // Go's tree height, since Go hoists such groups.
                    let bare = level.alternatives.len() == 1 && level.open == "(?:" && no_flags;
                    let text = if bare {
                        level.alternatives.pop().unwrap_or_default()
                    } else {
                        format!("{}{})", level.open, level.alternatives.join("|"))
                    };
                    self.level().items.push(Piece {
                        text,
                        is_atom: true,
                        repeats: level.repeats,
                        shape,
                    });
                    i += 1;
                }
                b'^' | b'$' => {
                    self.push_shaped(char::from(s[i]).to_string(), Shape::Node(1));
                    i += 1;
                }
                b'.' => {
                    self.push_atom(".".to_string());
                    i += 1;
                }
                b'[' => i = self.class(i)?,
                b'*' | b'+' | b'?' => {
                    let op = char::from(s[i]).to_string();
                    repeat = Some(i);
                    i = self.repeat(&op, None, i, i + 1, last_repeat)?;
                }
                b'{' => match self.parse_repeat(i) {
                    None => {
                        self.push_literal(u32::from(b'{'));
                        i += 1;
                    }
                    Some((min, max, after)) => {
                        if !(0..=MAX_REPEAT).contains(&min)
                            || max > MAX_REPEAT
                            || (max >= 0 && min > max)
                        {
                            return Err(err(INVALID_REPEAT_SIZE, &s[i..after]));
                        }
                        let op = match max {
                            -1 => format!("{{{min},}}"),
                            m if m == min => format!("{{{min}}}"),
                            m => format!("{{{min},{m}}}"),
                        };
                        repeat = Some(i);
                        i = self.repeat(&op, Some((min, max)), i, after, last_repeat)?;
                    }
                },
                b'\\' => i = self.backslash(i)?,
                _ => {
                    let (c, w) = self.next_rune(i)?;
                    self.push_literal(u32::from(c));
                    i += w;
                }
            }
            last_repeat = repeat;
        }
        if self.levels.len() != 1 {
            return Err(err(MISSING_PAREN, s));
        }
        let mut root = self.levels.pop().expect("exactly one level");
        root.finish_alternative();
        let shape = Shape::alternate(&root.shapes);
        self.check_height(shape)?;
        Ok(Translation {
            pattern: root.alternatives.join("|"),
            height: shape.height(),
        })
    }
}

/// Go's `checkUTF8`: the first invalid byte and everything after it is the error text.
fn check_utf8(b: &[u8]) -> Result<(), GoRegexError> {
    match std::str::from_utf8(b) {
        Ok(_) => Ok(()),
        Err(e) => Err(err(INVALID_UTF8, &b[e.valid_up_to()..])),
    }
}

#[cfg(test)]
mod tests;
