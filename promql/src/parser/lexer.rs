//! The PromQL lexer (Prometheus 2.42 `promql/parser/lex.go`): top-level statements, the inside
//! of braces and brackets, strings, numbers, durations and comments.
//!
//! Tokens are lexed lazily, one per [`Lexer::next_token`] call, because the parser stops at the
//! first error: lexer errors that Go would hit only after a parse error never surface here.
//! Token descriptions ([`Token::desc`]) reproduce Go's `Item.desc()` for error messages.

use super::quote::go_unicode_format;
use super::quote::{RUNE_ERROR, decode_rune, go_quote, go_quote_rune, go_quote_truncated};

/// The goyacc token number of `@` (`AT`): Prometheus 2.42 prints it in messages as
/// `"<Item 57385>"` because `AT` is missing from `ItemTypeStr`.
const AT_ITEM_NUMBER: u32 = 57385;

/// What a token is, grouped by how Go describes it in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// End of input (`EOF`).
    Eof,
    /// An identifier without `:`.
    Ident,
    /// An identifier containing `:` (top level only).
    MetricIdent,
    /// A quoted string, quotes included.
    Str,
    /// A number (also the words `inf` and `nan`).
    Number,
    /// A duration such as `5m`.
    Duration,
    /// `{`
    LeftBrace,
    /// `}`
    RightBrace,
    /// `(`
    LeftParen,
    /// `)`
    RightParen,
    /// `[`
    LeftBracket,
    /// `]`
    RightBracket,
    /// `:` inside brackets (Go also lexes any letter there as a colon).
    Colon,
    /// `,`
    Comma,
    /// `=`
    Eql,
    /// `!=`
    Neq,
    /// `=~`
    EqlRegex,
    /// `!~`
    NeqRegex,
    /// `@`
    At,
    /// Another operator (`+`, `==`, `and`, `atan2`...), described as `<op:x>`.
    Op,
    /// An aggregator word (`sum`...), described as `<aggr:x>`.
    Aggr,
    /// A keyword (`by`, `offset`...), described as `<x>`.
    Keyword,
    /// `start` / `end`: in `ItemTypeStr` but neither keyword nor operator, described as `"x"`.
    Preprocessor,
}

/// One token: its kind and byte range in the input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    /// What the token is.
    pub kind: Kind,
    /// Byte offset of the first byte.
    pub pos: usize,
    /// Byte offset past the last byte.
    pub end: usize,
    /// Whether the grammar's `metric_identifier` accepts it (identifiers and most keywords).
    pub is_metric_name: bool,
}

/// A lexer error: Go's message and the byte offset Prometheus reports it at (`l.start`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexError {
    /// Byte offset of the start of the token being lexed.
    pub pos: usize,
    /// Go's message, e.g. `unterminated quoted string`.
    pub msg: String,
}

impl Token {
    /// The token's text.
    pub fn val<'a>(&self, input: &'a [u8]) -> &'a [u8] {
        &input[self.pos..self.end]
    }

    /// Go's `Item.desc()`, e.g. `identifier "bar"`, `"("`, `<op:->`, `end of input`.
    pub fn desc(&self, input: &[u8]) -> String {
        let val = self.val(input);
        let text = String::from_utf8_lossy(val);
        match self.kind {
            Kind::Eof => "end of input".to_string(),
            Kind::Ident => format!("identifier {}", go_quote(val)),
            Kind::MetricIdent => format!("metric identifier {}", go_quote(val)),
            Kind::Str => format!("string {}", item_string(val)),
            Kind::Number => format!("number {}", item_string(val)),
            Kind::Duration => format!("duration {}", item_string(val)),
            Kind::At => format!("\"<Item {AT_ITEM_NUMBER}>\" <op:{text}>"),
            Kind::Op | Kind::Neq | Kind::EqlRegex | Kind::NeqRegex => format!("<op:{text}>"),
            Kind::Aggr => format!("<aggr:{text}>"),
            Kind::Keyword => format!("<{text}>"),
            Kind::LeftBrace
            | Kind::RightBrace
            | Kind::LeftParen
            | Kind::RightParen
            | Kind::LeftBracket
            | Kind::RightBracket
            | Kind::Colon
            | Kind::Comma
            | Kind::Eql
            | Kind::Preprocessor => item_string(val),
        }
    }
}

/// Go's `Item.String()` fallback: `%q`, or `%.10q...` when longer than 10 bytes.
fn item_string(val: &[u8]) -> String {
    if val.len() > 10 {
        format!("{}...", go_quote_truncated(val, 10))
    } else {
        go_quote(val)
    }
}

/// The keyword table of `lex.go` (`key`), matched case-insensitively:
/// (word, kind, accepted as a metric name by `metric_identifier`).
const KEYWORDS: &[(&str, Kind, bool)] = &[
    ("and", Kind::Op, true),
    ("or", Kind::Op, true),
    ("unless", Kind::Op, true),
    ("atan2", Kind::Op, false),
    ("sum", Kind::Aggr, true),
    ("avg", Kind::Aggr, true),
    ("count", Kind::Aggr, true),
    ("min", Kind::Aggr, true),
    ("max", Kind::Aggr, true),
    ("group", Kind::Aggr, true),
    ("stddev", Kind::Aggr, true),
    ("stdvar", Kind::Aggr, true),
    ("topk", Kind::Aggr, true),
    ("bottomk", Kind::Aggr, true),
    ("count_values", Kind::Aggr, true),
    ("quantile", Kind::Aggr, true),
    ("offset", Kind::Keyword, true),
    ("by", Kind::Keyword, true),
    ("without", Kind::Keyword, true),
    ("on", Kind::Keyword, false),
    ("ignoring", Kind::Keyword, false),
    ("group_left", Kind::Keyword, false),
    ("group_right", Kind::Keyword, false),
    ("bool", Kind::Keyword, false),
    ("start", Kind::Preprocessor, true),
    ("end", Kind::Preprocessor, true),
    ("inf", Kind::Number, false),
    ("nan", Kind::Number, false),
];

fn is_space(c: Option<char>) -> bool {
    matches!(c, Some(' ' | '\t' | '\n' | '\r'))
}

fn is_alpha(c: Option<char>) -> bool {
    matches!(c, Some('_' | 'a'..='z' | 'A'..='Z'))
}

fn is_digit(c: Option<char>) -> bool {
    matches!(c, Some('0'..='9'))
}

fn is_alnum(c: Option<char>) -> bool {
    is_alpha(c) || is_digit(c)
}

/// The selector lexer over raw bytes (input may be invalid UTF-8 via the bytes API).
pub(crate) struct Lexer<'a> {
    input: &'a [u8],
    pos: usize,
    start: usize,
    width: usize,
    brace_open: bool,
    string_open: char,
    paren_depth: usize,
    bracket_open: bool,
    got_colon: bool,
    /// Set by `[`: the next token is lexed as a duration (`lexDuration`).
    duration_next: bool,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Lexer {
            input,
            pos: 0,
            start: 0,
            width: 0,
            brace_open: false,
            string_open: '"',
            paren_depth: 0,
            bracket_open: false,
            got_colon: false,
            duration_next: false,
        }
    }

    /// Go's `l.next()`: the next rune (`RUNE_ERROR` for an invalid byte), `None` at the end.
    fn next(&mut self) -> Option<char> {
        match decode_rune(&self.input[self.pos..]) {
            Some((c, w)) => {
                self.width = w;
                self.pos += w;
                Some(c)
            }
            None => {
                self.width = 0;
                None
            }
        }
    }

    fn backup(&mut self) {
        self.pos -= self.width;
    }

    fn peek(&mut self) -> Option<char> {
        let c = self.next();
        self.backup();
        c
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.next() {
            Some(c) if valid.contains(c) => true,
            _ => {
                self.backup();
                false
            }
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn emit(&mut self, kind: Kind) -> Token {
        let t = Token {
            kind,
            pos: self.start,
            end: self.pos,
            is_metric_name: false,
        };
        self.start = self.pos;
        t
    }

    fn error(&self, msg: String) -> LexError {
        LexError {
            pos: self.start,
            msg,
        }
    }

    /// The next token, skipping whitespace and comments.
    pub fn next_token(&mut self) -> Result<Token, LexError> {
        loop {
            let tok = if self.duration_next {
                self.duration_next = false;
                Some(self.duration()?)
            } else if self.brace_open {
                self.inside_braces()?
            } else {
                self.statements()?
            };
            if let Some(t) = tok {
                return Ok(t);
            }
        }
    }

    /// Skips a `#` comment to the end of the line (`lexLineComment`).
    fn skip_comment(&mut self) {
        self.pos += 1;
        loop {
            match self.next() {
                None | Some('\r' | '\n') => break,
                Some(_) => {}
            }
        }
        self.backup();
        self.start = self.pos;
    }

    fn skip_spaces(&mut self) {
        while is_space(self.peek()) {
            self.next();
        }
        self.start = self.pos;
    }

    /// `lexStatements`; `Ok(None)` means something was skipped.
    fn statements(&mut self) -> Result<Option<Token>, LexError> {
        if self.input[self.pos..].starts_with(b"#") {
            self.skip_comment();
            return Ok(None);
        }
        let r = self.next();
        let tok = match r {
            None if self.paren_depth != 0 => {
                return Err(self.error("unclosed left parenthesis".to_string()));
            }
            None if self.bracket_open => {
                return Err(self.error("unclosed left bracket".to_string()));
            }
            None => self.emit(Kind::Eof),
            Some(',') => self.emit(Kind::Comma),
            c if is_space(c) => {
                self.skip_spaces();
                return Ok(None);
            }
            Some('*' | '/' | '%' | '+' | '-' | '^') => self.emit(Kind::Op),
            Some('=') => match self.peek() {
                Some('=') => {
                    self.next();
                    self.emit(Kind::Op)
                }
                Some('~') => {
                    return Err(self.error(format!(
                        "unexpected character after '=': {}",
                        go_quote_rune(Some('~'))
                    )));
                }
                _ => self.emit(Kind::Eql),
            },
            Some('!') => match self.next() {
                Some('=') => self.emit(Kind::Neq),
                t => {
                    return Err(self.error(format!(
                        "unexpected character after '!': {}",
                        go_quote_rune(t)
                    )));
                }
            },
            Some('<' | '>') => {
                if self.peek() == Some('=') {
                    self.next();
                }
                self.emit(Kind::Op)
            }
            c if is_digit(c) || (c == Some('.') && is_digit(self.peek())) => {
                self.backup();
                return self.number_or_duration().map(Some);
            }
            Some(q @ ('"' | '\'')) => {
                self.string_open = q;
                return self.string().map(Some);
            }
            Some('`') => return self.raw_string().map(Some),
            Some(c) if (is_alpha(Some(c)) || c == ':') && self.bracket_open => {
                // lex.go: inside brackets any letter or `:` is the subquery colon.
                if self.got_colon {
                    return Err(self.error(format!("unexpected colon {}", go_quote_rune(Some(c)))));
                }
                self.got_colon = true;
                self.emit(Kind::Colon)
            }
            c if is_alpha(c) || c == Some(':') => {
                self.backup();
                return Ok(Some(self.keyword_or_identifier()));
            }
            Some('(') => {
                self.paren_depth += 1;
                self.emit(Kind::LeftParen)
            }
            Some(')') => {
                let t = self.emit(Kind::RightParen);
                if self.paren_depth == 0 {
                    // Go emits RIGHT_PAREN, then overwrites it with this error because the
                    // paren depth went negative; the error is therefore reported after the `)`.
                    return Err(self.error("unexpected right parenthesis ')'".to_string()));
                }
                self.paren_depth -= 1;
                t
            }
            Some('{') => {
                self.brace_open = true;
                self.emit(Kind::LeftBrace)
            }
            Some('[') => {
                if self.bracket_open {
                    return Err(self.error("unexpected left bracket '['".to_string()));
                }
                self.got_colon = false;
                let t = self.emit(Kind::LeftBracket);
                self.skip_spaces();
                self.bracket_open = true;
                self.duration_next = true;
                t
            }
            Some(']') => {
                if !self.bracket_open {
                    return Err(self.error("unexpected right bracket ']'".to_string()));
                }
                self.bracket_open = false;
                self.emit(Kind::RightBracket)
            }
            Some('@') => self.emit(Kind::At),
            Some(c) => {
                return Err(self.error(format!("unexpected character: {}", go_quote_rune(Some(c)))));
            }
        };
        Ok(Some(tok))
    }

    /// `lexInsideBraces`; `Ok(None)` means something was skipped.
    fn inside_braces(&mut self) -> Result<Option<Token>, LexError> {
        if self.input[self.pos..].starts_with(b"#") {
            self.skip_comment();
            return Ok(None);
        }
        let r = self.next();
        let tok = match r {
            None => {
                return Err(self.error("unexpected end of input inside braces".to_string()));
            }
            c if is_space(c) => {
                self.skip_spaces();
                return Ok(None);
            }
            c if is_alpha(c) => {
                while is_alnum(self.next()) {}
                self.backup();
                self.emit(Kind::Ident)
            }
            Some(',') => self.emit(Kind::Comma),
            Some(q @ ('"' | '\'')) => {
                self.string_open = q;
                return self.string().map(Some);
            }
            Some('`') => return self.raw_string().map(Some),
            Some('=') => {
                if self.next() == Some('~') {
                    self.emit(Kind::EqlRegex)
                } else {
                    self.backup();
                    self.emit(Kind::Eql)
                }
            }
            Some('!') => match self.next() {
                Some('~') => self.emit(Kind::NeqRegex),
                Some('=') => self.emit(Kind::Neq),
                nr => {
                    return Err(self.error(format!(
                        "unexpected character after '!' inside braces: {}",
                        go_quote_rune(nr)
                    )));
                }
            },
            Some('{') => {
                return Err(self.error("unexpected left brace '{'".to_string()));
            }
            Some('}') => {
                self.brace_open = false;
                self.emit(Kind::RightBrace)
            }
            Some(c) => {
                return Err(self.error(format!(
                    "unexpected character inside braces: {}",
                    go_quote_rune(Some(c))
                )));
            }
        };
        Ok(Some(tok))
    }

    /// `lexString`: a `"` or `'` string whose opening quote has been read.
    fn string(&mut self) -> Result<Token, LexError> {
        loop {
            match self.next() {
                Some('\\') => self.escape()?,
                // Go compares the decoded rune with utf8.RuneError, so a literal U+FFFD in a
                // string is rejected just like an invalid byte.
                Some(RUNE_ERROR) => return Err(self.error("invalid UTF-8 rune".to_string())),
                None | Some('\n') => {
                    return Err(self.error("unterminated quoted string".to_string()));
                }
                Some(c) if c == self.string_open => break,
                Some(_) => {}
            }
        }
        Ok(self.emit(Kind::Str))
    }

    /// `lexRawString`: a backquoted string whose opening quote has been read.
    fn raw_string(&mut self) -> Result<Token, LexError> {
        loop {
            match self.next() {
                Some(RUNE_ERROR) => return Err(self.error("invalid UTF-8 rune".to_string())),
                None => return Err(self.error("unterminated raw string".to_string())),
                Some('`') => break,
                Some(_) => {}
            }
        }
        Ok(self.emit(Kind::Str))
    }

    /// `lexEscape`: validates one escape sequence after a backslash.
    fn escape(&mut self) -> Result<(), LexError> {
        let mut ch = self.next();
        let (mut n, base, max): (u32, u64, u64) = match ch {
            Some('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\') => return Ok(()),
            Some(c) if c == self.string_open => return Ok(()),
            Some('0'..='7') => (3, 8, 255),
            Some('x') => {
                ch = self.next();
                (2, 16, 255)
            }
            Some('u') => {
                ch = self.next();
                (4, 16, 0x10_FFFF)
            }
            Some('U') => {
                ch = self.next();
                (8, 16, 0x10_FFFF)
            }
            None => return Err(self.error("escape sequence not terminated".to_string())),
            Some(c) => {
                return Err(self.error(format!("unknown escape sequence {}", go_unicode_format(c))));
            }
        };
        let mut x: u64 = 0;
        while n > 0 {
            let d = ch.and_then(|c| c.to_digit(16)).map_or(16, u64::from);
            if d >= base {
                return Err(match ch {
                    None => self.error("escape sequence not terminated".to_string()),
                    Some(c) => self.error(format!(
                        "illegal character {} in escape sequence",
                        go_unicode_format(c)
                    )),
                });
            }
            x = x * base + d;
            n -= 1;
            if n > 0 {
                ch = self.next();
            }
        }
        if x > max || (0xD800..0xE000).contains(&x) {
            return Err(self.error("escape sequence is an invalid Unicode code point".to_string()));
        }
        Ok(())
    }

    /// `lexDuration`: the token after `[`.
    fn duration(&mut self) -> Result<Token, LexError> {
        if self.scan_number() {
            return Err(self.error("missing unit character in duration".to_string()));
        }
        if !self.accept_remaining_duration() {
            let text = &self.input[self.start..self.pos];
            return Err(self.error(format!("bad duration syntax: {}", go_quote(text))));
        }
        self.backup();
        Ok(self.emit(Kind::Duration))
    }

    /// `lexNumberOrDuration`.
    fn number_or_duration(&mut self) -> Result<Token, LexError> {
        if self.scan_number() {
            return Ok(self.emit(Kind::Number));
        }
        if self.accept_remaining_duration() {
            self.backup();
            return Ok(self.emit(Kind::Duration));
        }
        let text = &self.input[self.start..self.pos];
        Err(self.error(format!("bad number or duration syntax: {}", go_quote(text))))
    }

    /// `scanNumber`: whether a number not followed by an alphanumeric was scanned.
    fn scan_number(&mut self) -> bool {
        let mut digits = "0123456789";
        if self.accept("0") && self.accept("xX") {
            digits = "0123456789abcdefABCDEF";
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789");
        }
        !is_alnum(self.peek())
    }

    /// `acceptRemainingDuration`.
    fn accept_remaining_duration(&mut self) -> bool {
        if !self.accept("smhdwy") {
            return false;
        }
        self.accept("s");
        while self.accept("0123456789") {
            while self.accept("0123456789") {}
            if !self.accept("smhdw") {
                return false;
            }
            self.accept("s");
        }
        !is_alnum(self.next())
    }

    /// `lexKeywordOrIdentifier`: the next rune is known to be a letter, `_` or `:`.
    fn keyword_or_identifier(&mut self) -> Token {
        loop {
            let c = self.next();
            if !(is_alnum(c) || c == Some(':')) {
                break;
            }
        }
        self.backup();
        let word = &self.input[self.start..self.pos];
        let keyword = KEYWORDS
            .iter()
            .find(|(k, _, _)| k.as_bytes().eq_ignore_ascii_case(word));
        let (kind, is_metric_name) = match keyword {
            Some(&(_, kind, ok)) => (kind, ok),
            None if word.contains(&b':') => (Kind::MetricIdent, true),
            None => (Kind::Ident, true),
        };
        let mut t = self.emit(kind);
        t.is_metric_name = is_metric_name;
        t
    }
}

#[cfg(test)]
mod tests;
