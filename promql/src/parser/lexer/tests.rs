//! Lexer tests: token kinds and texts, and lexer errors with Go's texts and positions.

use super::*;

fn lex_all(input: &str) -> Vec<(Kind, String)> {
    let mut l = Lexer::new(input.as_bytes());
    let mut out = Vec::new();
    loop {
        match l.next_token() {
            Ok(t) => {
                out.push((
                    t.kind,
                    String::from_utf8_lossy(t.val(input.as_bytes())).into(),
                ));
                if t.kind == Kind::Eof {
                    return out;
                }
            }
            Err(e) => {
                out.push((Kind::Eof, format!("ERR@{}: {}", e.pos, e.msg)));
                return out;
            }
        }
    }
}

#[test]
fn tokens() {
    use Kind::*;
    let cases: &[(&str, &[(Kind, &str)])] = &[
        ("foo", &[(Ident, "foo"), (Eof, "")]),
        ("a:b", &[(MetricIdent, "a:b"), (Eof, "")]),
        ("SUM by", &[(Aggr, "SUM"), (Keyword, "by"), (Eof, "")]),
        (
            "{a=~'b'}",
            &[
                (LeftBrace, "{"),
                (Ident, "a"),
                (EqlRegex, "=~"),
                (Str, "'b'"),
                (RightBrace, "}"),
                (Eof, ""),
            ],
        ),
        (
            "{a!~`b`,}",
            &[
                (LeftBrace, "{"),
                (Ident, "a"),
                (NeqRegex, "!~"),
                (Str, "`b`"),
                (Comma, ","),
                (RightBrace, "}"),
                (Eof, ""),
            ],
        ),
        (
            "{sum!=\"x\"}",
            &[
                (LeftBrace, "{"),
                (Ident, "sum"),
                (Neq, "!="),
                (Str, "\"x\""),
                (RightBrace, "}"),
                (Eof, ""),
            ],
        ),
        ("x # c\n", &[(Ident, "x"), (Eof, "")]),
        (
            "1.5e3 5m 0x1f",
            &[
                (Number, "1.5e3"),
                (Duration, "5m"),
                (Number, "0x1f"),
                (Eof, ""),
            ],
        ),
        ("Inf", &[(Number, "Inf"), (Eof, "")]),
        (
            "== != <= >",
            &[(Op, "=="), (Neq, "!="), (Op, "<="), (Op, ">"), (Eof, "")],
        ),
        (
            "5x",
            &[(Eof, "ERR@0: bad number or duration syntax: \"5\"")],
        ),
        (
            "5mx",
            &[(Eof, "ERR@0: bad number or duration syntax: \"5mx\"")],
        ),
        (
            "x )",
            &[
                (Ident, "x"),
                (Eof, "ERR@3: unexpected right parenthesis ')'"),
            ],
        ),
        (
            "foo[5m:1m]",
            &[
                (Ident, "foo"),
                (LeftBracket, "["),
                (Duration, "5m"),
                (Colon, ":"),
                (Duration, "1m"),
                (RightBracket, "]"),
                (Eof, ""),
            ],
        ),
        (
            "x[ 5m a]",
            &[
                (Ident, "x"),
                (LeftBracket, "["),
                (Duration, "5m"),
                (Colon, "a"),
                (RightBracket, "]"),
                (Eof, ""),
            ],
        ),
        (
            "x[5]",
            &[
                (Ident, "x"),
                (LeftBracket, "["),
                (Eof, "ERR@2: missing unit character in duration"),
            ],
        ),
        (
            "x[5m::",
            &[
                (Ident, "x"),
                (LeftBracket, "["),
                (Duration, "5m"),
                (Colon, ":"),
                (Eof, "ERR@5: unexpected colon ':'"),
            ],
        ),
        (
            "x[5m",
            &[
                (Ident, "x"),
                (LeftBracket, "["),
                (Duration, "5m"),
                (Eof, "ERR@4: unclosed left bracket"),
            ],
        ),
        (
            "x[5m[",
            &[
                (Ident, "x"),
                (LeftBracket, "["),
                (Duration, "5m"),
                (Eof, "ERR@4: unexpected left bracket '['"),
            ],
        ),
        (
            "(x",
            &[
                (LeftParen, "("),
                (Ident, "x"),
                (Eof, "ERR@2: unclosed left parenthesis"),
            ],
        ),
        (
            "(x) ",
            &[(LeftParen, "("), (Ident, "x"), (RightParen, ")"), (Eof, "")],
        ),
        ("@ start", &[(At, "@"), (Preprocessor, "start"), (Eof, "")]),
        (
            "!",
            &[(Eof, "ERR@0: unexpected character after '!': '\u{FFFD}'")],
        ),
    ];
    for (input, want) in cases {
        let got = lex_all(input);
        let want: Vec<(Kind, String)> = want.iter().map(|(k, s)| (*k, s.to_string())).collect();
        assert_eq!(got, want, "case {input:?}");
    }
}
