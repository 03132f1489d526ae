//! The token lexer: policy text to tokens, comments included. The formatter lays its tokens
//! out; the language server colours, completes and hovers on them.
//!
//! It follows `grammar/rollguard.pest` token for token, so that printing the tokens back with
//! other whitespace between them reads as the same program. It never fails, so it also reads the
//! half-written text an editor holds while someone types: what no rule accepts is a
//! [`Kind::Other`] token, an unterminated string ends with its line and an unterminated `/*`
//! with the text. Each token knows how many line breaks stood before it, which is how the
//! formatter keeps the author's comments and chosen breaks. Which words are keywords is
//! [`lexicon`]'s business, not this module's.

use super::lexicon;

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A name or keyword: `[a-z_][a-z0-9_]*`.
    Word,
    /// A number with its unit, if one is written right after it: `5`, `0.5%`, `800ms`
    /// ([`Tok::unit`]).
    Number,
    /// A string literal, quotes and escapes as written.
    Str,
    /// An operator or punctuation: `==`, `::`, `@`, `(`, ...
    Punct,
    /// `// ...` up to the end of the line.
    LineComment,
    /// `/* ... */`, possibly over several lines.
    BlockComment,
    /// `/// ...` up to the end of the line.
    Doc,
    /// The bare argument of an annotation: `@allow(W0007)`.
    AnnotationWord,
    /// A character no rule accepts; such a file does not parse.
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tok<'a> {
    pub kind: Kind,
    pub text: &'a str,
    /// Byte offset of the token in the source, as in a [`Span`](crate::source::Span).
    pub start: u32,
    /// Line breaks in the whitespace between the previous token and this one.
    pub breaks: usize,
}

impl<'a> Tok<'a> {
    /// Byte offset just past the token.
    pub fn end(&self) -> u32 {
        self.start + self.text.len() as u32
    }

    pub fn is_comment(&self) -> bool {
        matches!(self.kind, Kind::LineComment | Kind::BlockComment)
    }

    /// True for a word or punctuation written exactly `text` (not inside a string or comment).
    pub fn is(&self, text: &str) -> bool {
        !self.is_comment() && !matches!(self.kind, Kind::Str | Kind::Doc) && self.text == text
    }

    /// The unit written at the end of a number (`ms` of `800ms`), empty for a bare number or
    /// any other token.
    pub fn unit(&self) -> &'a str {
        if self.kind != Kind::Number {
            return "";
        }
        let digits = self
            .text
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        &self.text[digits..]
    }
}

fn ident_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'
}

/// True when `s` is one whole name token: what a declaration may be called (if not reserved).
pub fn is_name(s: &str) -> bool {
    s.bytes()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == b'_')
        && s.bytes().all(ident_char)
}

fn annotation_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

const PUNCT2: &[&str] = &["==", "!=", "<=", ">=", "&&", "||", "->", "::"];
const PUNCT1: &[u8] = b"+-*/%<>=!?:()[]{},.@";

/// Splits `text` into tokens. Never fails: what no rule accepts becomes a [`Kind::Other`] token.
pub fn lex(text: &str) -> Vec<Tok<'_>> {
    let bytes = text.as_bytes();
    let mut toks: Vec<Tok> = Vec::new();
    let mut i = 0;
    let mut breaks = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            if c == b'\n' {
                breaks += 1;
            }
            i += 1;
            continue;
        }
        let start = i;
        let rest = &bytes[i..];
        let kind = if rest.starts_with(b"//") {
            // `///` followed by anything but another `/` is a doc comment; `////` is a comment.
            let doc = rest.get(2) == Some(&b'/') && rest.get(3) != Some(&b'/');
            i += rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            if doc {
                Kind::Doc
            } else {
                Kind::LineComment
            }
        } else if rest.starts_with(b"/*") {
            i += text[i + 2..].find("*/").map_or(rest.len(), |e| e + 4);
            Kind::BlockComment
        } else if c == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                // `\` escapes any character, a line break included.
                if bytes[i] == b'\\' && i + 1 < bytes.len() {
                    i += 1;
                }
                i += 1;
            }
            if i < bytes.len() && bytes[i] == b'"' {
                i += 1;
            }
            Kind::Str
        } else if in_annotation_argument(&toks) && annotation_char(c) {
            while i < bytes.len() && annotation_char(bytes[i]) {
                i += 1;
            }
            Kind::AnnotationWord
        } else if c.is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
            i += unit_len(&bytes[i..]);
            Kind::Number
        } else if c.is_ascii_lowercase() || c == b'_' {
            while i < bytes.len() && ident_char(bytes[i]) {
                i += 1;
            }
            Kind::Word
        } else if let Some(p) = PUNCT2.iter().find(|p| rest.starts_with(p.as_bytes())) {
            i += p.len();
            Kind::Punct
        } else if PUNCT1.contains(&c) {
            i += 1;
            Kind::Punct
        } else {
            // One whole character, so that the text stays valid UTF-8.
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            Kind::Other
        };
        toks.push(Tok {
            kind,
            text: &text[start..i],
            start: start as u32,
            breaks,
        });
        breaks = 0;
    }
    toks
}

/// The length of the unit written right after a number, as `quantity` reads it: one of
/// [`lexicon::UNITS`], tried in its order, and a letter unit only when no name character follows.
/// The choice is ordered and does not backtrack: in `5msx`, `ms` is tried, refused, and no unit is
/// read.
fn unit_len(rest: &[u8]) -> usize {
    let Some((unit, _)) = lexicon::UNITS
        .iter()
        .find(|(u, _)| rest.starts_with(u.as_bytes()))
    else {
        return 0;
    };
    let letters = unit.as_bytes()[0].is_ascii_lowercase();
    match rest.get(unit.len()) {
        Some(&c) if letters && ident_char(c) => 0,
        _ => unit.len(),
    }
}

/// True right after `@ key (`: an annotation's bare argument may hold capitals, digits first and
/// dashes (`@allow(W0007)`), which no other token does.
fn in_annotation_argument(toks: &[Tok]) -> bool {
    let mut sig = toks.iter().rev().filter(|t| !t.is_comment());
    matches!(
        (sig.next(), sig.next(), sig.next()),
        (Some(open), Some(key), Some(at))
            if open.is("(") && key.kind == Kind::Word && at.is("@")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, &str)> {
        lex(text).into_iter().map(|t| (t.kind, t.text)).collect()
    }

    #[test]
    fn units_attach_only_without_space() {
        assert_eq!(
            kinds("5% 5 % 2 800ms 5msx 1.5h"),
            vec![
                (Kind::Number, "5%"),
                (Kind::Number, "5"),
                (Kind::Punct, "%"),
                (Kind::Number, "2"),
                (Kind::Number, "800ms"),
                (Kind::Number, "5"),
                (Kind::Word, "msx"),
                (Kind::Number, "1.5h"),
            ]
        );
    }

    #[test]
    fn comments_docs_and_strings() {
        assert_eq!(
            kinds("/// doc\n//// not a doc\n/* a\n b */ \"x\\\"y\" // c"),
            vec![
                (Kind::Doc, "/// doc"),
                (Kind::LineComment, "//// not a doc"),
                (Kind::BlockComment, "/* a\n b */"),
                (Kind::Str, "\"x\\\"y\""),
                (Kind::LineComment, "// c"),
            ]
        );
        let t = lex("a\n\n  b");
        assert_eq!(t[1].breaks, 2);
    }

    #[test]
    fn annotation_words() {
        assert_eq!(
            kinds("@allow( W0007 ) x-y"),
            vec![
                (Kind::Punct, "@"),
                (Kind::Word, "allow"),
                (Kind::Punct, "("),
                (Kind::AnnotationWord, "W0007"),
                (Kind::Punct, ")"),
                (Kind::Word, "x"),
                (Kind::Punct, "-"),
                (Kind::Word, "y"),
            ]
        );
    }

    #[test]
    fn units_and_ends() {
        let toks = lex("800ms 5% 1.5h 7 x");
        let units: Vec<&str> = toks.iter().map(Tok::unit).collect();
        assert_eq!(units, ["ms", "%", "h", "", ""]);
        assert_eq!((toks[1].start, toks[1].end()), (6, 8));
    }

    #[test]
    fn half_written_text() {
        // What an editor holds while someone types: an unterminated string ends with its line,
        // an unterminated block comment with the text.
        assert_eq!(
            kinds("x == \"ab\ny /* c"),
            vec![
                (Kind::Word, "x"),
                (Kind::Punct, "=="),
                (Kind::Str, "\"ab"),
                (Kind::Word, "y"),
                (Kind::BlockComment, "/* c"),
            ]
        );
        assert_eq!(
            kinds("std::"),
            vec![(Kind::Word, "std"), (Kind::Punct, "::")]
        );
    }

    #[test]
    fn names() {
        assert!(is_name("error_rate") && is_name("_x1"));
        assert!(!is_name("") && !is_name("1x") && !is_name("Ab") && !is_name("a-b"));
    }
}
