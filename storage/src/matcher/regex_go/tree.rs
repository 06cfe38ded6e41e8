//! What the translator keeps of Go's parse tree: each open group's alternatives and pieces, and
//! the tree's shape, so Go's height limit (`checkHeight`) is applied as Go applies it.

use super::*;

/// What a piece becomes in Go's parse tree, as far as the tree's height goes: Go merges
/// adjacent literal runes into one node, merges alternations of single characters into a class,
/// and hoists the items of a non-capturing group into the enclosing concatenation/alternation.
/// (Go's prefix factoring of alternations is not modelled.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
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
    pub(super) fn height(self) -> u32 {
        match self {
            Shape::Literal { .. } | Shape::CharClass => 1,
            Shape::Node(h) => h,
            Shape::Concat(m) | Shape::Alternate(m) => 1 + m,
        }
    }

    /// Go's `concat()` of these shapes.
    pub(super) fn concat(items: impl Iterator<Item = Shape>) -> Shape {
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
    pub(super) fn alternate(branches: &[Shape]) -> Shape {
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
pub(super) struct Piece {
    pub(super) text: String,
    pub(super) is_atom: bool,
    pub(super) repeats: Vec<RepeatNode>,
    pub(super) shape: Shape,
}

/// An open group (or the root): finished alternatives and the current concatenation.
#[derive(Debug, Default)]
pub(super) struct Level {
    pub(super) open: String,
    pub(super) capture: bool,
    pub(super) saved_flags: Flags,
    pub(super) alternatives: Vec<String>,
    pub(super) shapes: Vec<Shape>,
    pub(super) repeats: Vec<RepeatNode>,
    pub(super) items: Vec<Piece>,
}

impl Level {
    /// Ends the current alternative; returns its shape.
    pub(super) fn finish_alternative(&mut self) -> Shape {
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
