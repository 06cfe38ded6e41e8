//! Repetition: `*`, `+`, `?` and counted `{n,m}` (Go's `parser.repeat`, `parseRepeat` and the
//! nested-count limit `repeatIsValid`).

use super::*;

/// A counted repetition (`OpRepeat`) in the parsed tree, with the counted repetitions below it.
#[derive(Debug, Clone)]
pub(super) struct RepeatNode {
    pub(super) min: i32,
    pub(super) max: i32,
    pub(super) subs: Vec<RepeatNode>,
}

/// Go's `repeatIsValid`: nested counts may not multiply past `n` copies.
pub(super) fn repeat_is_valid(node: &RepeatNode, mut n: i32) -> bool {
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

impl Translator<'_> {
    /// Go's `parser.repeat`: applies `op` to the last atom; returns the index after it.
    pub(super) fn repeat(
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
    pub(super) fn parse_repeat(&self, i: usize) -> Option<(i32, i32, usize)> {
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
    pub(super) fn parse_int(&self, i: usize) -> Option<(i32, usize)> {
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
}
