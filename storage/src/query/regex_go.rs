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

mod tables;

use std::fmt;

use super::quote::{RUNE_ERROR, decode_rune};
use tables::{GO_CATEGORIES, GO_SCRIPTS, POSIX_CLASSES};

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

/// Go's parse flags that change meaning: `FoldCase`, multi-line (not `OneLine`), `DotNL`,
/// `NonGreedy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Flags {
    fold_case: bool,
    multi_line: bool,
    dot_nl: bool,
    non_greedy: bool,
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

/// A counted repetition (`OpRepeat`) in the parsed tree, with the counted repetitions below it.
#[derive(Debug, Clone)]
struct RepeatNode {
    min: i32,
    max: i32,
    subs: Vec<RepeatNode>,
}

/// Go's `repeatIsValid`: nested counts may not multiply past `n` copies.
fn repeat_is_valid(node: &RepeatNode, mut n: i32) -> bool {
    let mut m = node.max;
    if m == 0 {
        return true;
    }
    if m < 0 {
        m = node.min;
    }
    if m > n {
        return false;
    }
    if m > 0 {
        n /= m;
    }
    node.subs.iter().all(|s| repeat_is_valid(s, n))
}

/// What a piece becomes in Go's parse tree, as far as the tree's height goes: Go merges
/// adjacent literal runes into one node, merges alternations of single characters into a class,
/// and hoists the items of a non-capturing group into the enclosing concatenation/alternation.
/// (Go's prefix factoring of alternations is not modelled.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A literal; `single` when it is one rune. Neighbours with the same `fold` merge.
    Literal { fold: bool, single: bool },
    /// A one-character class (`[..]`, `.`, `\d`...).
    CharClass,
    /// Any other node, with its height.
    Node(u32),
    /// A concatenation whose tallest item has the given height (hoisted into a parent concat).
    Concat(u32),
    /// An alternation whose tallest branch has the given height (hoisted into a parent one).
    Alternate(u32),
}

impl Shape {
    fn height(self) -> u32 {
        match self {
            Shape::Literal { .. } | Shape::CharClass => 1,
            Shape::Node(h) => h,
            Shape::Concat(m) | Shape::Alternate(m) => 1 + m,
        }
    }

    /// Go's `concat()` of these shapes.
    fn concat(items: impl Iterator<Item = Shape>) -> Shape {
        let (mut count, mut max, mut last) = (0, 0, None::<Shape>);
        for shape in items {
            if let (Some(Shape::Literal { fold: a, .. }), Shape::Literal { fold: b, .. }) =
                (last, shape)
                && a == b
            {
                last = Some(Shape::Literal {
                    fold: a,
                    single: false,
                });
                continue;
            }
            let (n, h) = match shape {
                Shape::Concat(m) => (2, m),
                other => (1, other.height()),
            };
            count += n;
            max = max.max(h);
            last = Some(shape);
        }
        match (count, last) {
            (0, _) => Shape::Node(1),
            (1, Some(only)) => only,
            _ => Shape::Concat(max),
        }
    }

    /// Go's `alternate()` of these branch shapes.
    fn alternate(branches: &[Shape]) -> Shape {
        if let [only] = branches {
            return *only;
        }
        let char_like =
            |s: &Shape| matches!(s, Shape::CharClass | Shape::Literal { single: true, .. });
        if branches.iter().all(char_like) {
            return Shape::CharClass;
        }
        let max = branches
            .iter()
            .map(|s| match s {
                Shape::Alternate(m) => *m,
                other => other.height(),
            })
            .max()
            .unwrap_or(0);
        Shape::Alternate(max)
    }
}

/// One element of a concatenation: an atom (repeatable) or a flag change (not).
#[derive(Debug)]
struct Piece {
    text: String,
    is_atom: bool,
    repeats: Vec<RepeatNode>,
    shape: Shape,
}

/// An open group (or the root): finished alternatives and the current concatenation.
#[derive(Debug, Default)]
struct Level {
    open: String,
    capture: bool,
    saved_flags: Flags,
    alternatives: Vec<String>,
    shapes: Vec<Shape>,
    repeats: Vec<RepeatNode>,
    items: Vec<Piece>,
}

impl Level {
    /// Ends the current alternative; returns its shape.
    fn finish_alternative(&mut self) -> Shape {
        let text: String = self.items.iter().map(|p| p.text.as_str()).collect();
        self.alternatives.push(text);
        let shape = Shape::concat(self.items.iter().filter(|p| p.is_atom).map(|p| p.shape));
        self.shapes.push(shape);
        for p in self.items.drain(..) {
            self.repeats.extend(p.repeats);
        }
        shape
    }
}

/// A Rust class (`[...]` body items) for one code point, escaped; empty for a surrogate.
fn class_item(lo: u32, hi: u32) -> String {
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
fn class_text(body: &str, negated: bool) -> String {
    match (body.is_empty(), negated) {
        (true, false) => "[^\\x{0}-\\x{10FFFF}]".to_string(),
        (true, true) => "[\\x{0}-\\x{10FFFF}]".to_string(),
        (false, false) => format!("[{body}]"),
        (false, true) => format!("[^{body}]"),
    }
}

/// The Rust text of a literal rune: ASCII alphanumerics as they are, the rest escaped.
fn literal_text(r: u32) -> String {
    match char::from_u32(r) {
        Some(c) if c.is_ascii_alphanumeric() => c.to_string(),
        Some(_) => format!("\\x{{{r:X}}}"),
        None => class_text("", false),
    }
}

/// Go's Perl classes (ASCII only): the class body and whether it is negated.
fn perl_class(c: u8) -> Option<(&'static str, bool)> {
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
fn unicode_class_body(name: &[u8]) -> Option<String> {
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

    /// Go's `parser.repeat`: applies `op` to the last atom; returns the index after it.
    fn repeat(
        &mut self,
        op: &str,
        counts: Option<(i32, i32)>,
        before: usize,
        mut after: usize,
        last_repeat: Option<usize>,
    ) -> Result<usize, GoRegexError> {
        let s = self.s;
        let mut lazy = "";
        if s.get(after) == Some(&b'?') {
            after += 1;
            lazy = "?";
        }
        if let Some(lr) = last_repeat {
            return Err(err(INVALID_REPEAT_OP, &s[lr..after]));
        }
        let Some(piece) = self.level().items.iter_mut().rev().find(|p| p.is_atom) else {
            return Err(err(MISSING_REPEAT_ARGUMENT, &s[before..after]));
        };
        piece.text = format!("(?:{}){op}{lazy}", piece.text);
        piece.shape = Shape::Node(1 + piece.shape.height());
        let shape = piece.shape;
        if let Some((min, max)) = counts {
            let node = RepeatNode {
                min,
                max,
                subs: std::mem::take(&mut piece.repeats),
            };
            let valid = !(min >= 2 || max >= 2) || repeat_is_valid(&node, MAX_REPEAT);
            piece.repeats.push(node);
            if !valid {
                return Err(err(INVALID_REPEAT_SIZE, &s[before..after]));
            }
        }
        self.check_height(shape)?;
        Ok(after)
    }

    /// Go's `parseRepeat`: `{n}`, `{n,}` or `{n,m}` at `i` → (min, max or -1, index after);
    /// `None` when the text is not a repeat (the `{` is then a literal). Too-large numbers give
    /// min = -1.
    fn parse_repeat(&self, i: usize) -> Option<(i32, i32, usize)> {
        let s = self.s;
        let (mut min, mut j) = self.parse_int(i + 1)?;
        let max;
        match s.get(j)? {
            b',' => {
                j += 1;
                if *s.get(j)? == b'}' {
                    max = -1;
                } else {
                    let (m, k) = self.parse_int(j)?;
                    j = k;
                    max = m;
                    if max < 0 {
                        min = -1;
                    }
                }
            }
            _ => max = min,
        }
        (*s.get(j)? == b'}').then_some((min, max, j + 1))
    }

    /// Go's `parseInt`: decimal digits without a leading zero; -1 if too large.
    fn parse_int(&self, i: usize) -> Option<(i32, usize)> {
        let s = self.s;
        if !s.get(i)?.is_ascii_digit() {
            return None;
        }
        if s[i] == b'0' && s.get(i + 1).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let end = i + s[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let mut n: i32 = 0;
        for &d in &s[i..end] {
            if n >= 100_000_000 {
                n = -1;
                break;
            }
            n = n * 10 + i32::from(d - b'0');
        }
        Some((n, end))
    }

    /// Go's `parsePerlFlags` at `(?`: named captures, flag changes and non-capturing groups.
    fn perl_flags(&mut self, i: usize) -> Result<usize, GoRegexError> {
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

    /// A backslash outside a class at `i`.
    fn backslash(&mut self, i: usize) -> Result<usize, GoRegexError> {
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
    fn escape(&self, i: usize) -> Result<(u32, usize), GoRegexError> {
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

    /// Go's `parseUnicodeClass` at `\p`/`\P` (index `i`): (Rust class body, negated, next).
    fn unicode_class(&self, i: usize) -> Result<(String, bool, usize), GoRegexError> {
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
    fn class(&mut self, i: usize) -> Result<usize, GoRegexError> {
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
    fn class_char(&self, t: usize, class_start: usize) -> Result<(u32, usize), GoRegexError> {
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
fn nested_class(body: &str, negated: bool) -> String {
    match (body.is_empty(), negated) {
        (true, false) => String::new(),
        (false, false) => body.to_string(),
        (_, true) => class_text(body, true),
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
