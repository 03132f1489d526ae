//! A forgiving tokenizer for highlighting and completion: it never fails, so it also reads the
//! half-written text an editor holds while someone types. (The library's formatter has a lexer
//! of its own, which is private.) Which words are keywords is `rollguard::syntax::lexicon`'s.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `//` or `/* */`.
    Comment,
    /// `///`.
    Doc,
    /// A string, with its quotes (possibly unterminated at the end of its line).
    Str,
    /// A number; `unit` is how many of its last bytes are a unit (`ms`, `s`, `m`, `h`, `%`).
    Number { unit: u8 },
    /// A lowercase word: a name or a keyword.
    Word,
    /// `@`.
    At,
    /// Anything else that is not whitespace.
    Punct,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tok {
    pub kind: Kind,
    pub start: u32,
    pub end: u32,
}

impl Tok {
    pub fn text<'a>(&self, text: &'a str) -> &'a str {
        &text[self.start as usize..self.end as usize]
    }
}

fn word_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b.is_ascii_uppercase()
}

pub fn lex(text: &str) -> Vec<Tok> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let kind = if c.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if text[i..].starts_with("///") && !text[i..].starts_with("////") {
            i = line_end(b, i);
            Kind::Doc
        } else if text[i..].starts_with("//") {
            i = line_end(b, i);
            Kind::Comment
        } else if text[i..].starts_with("/*") {
            i = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            Kind::Comment
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                i += if b[i] == b'\\' && i + 1 < b.len() && b[i + 1] != b'\n' {
                    2
                } else {
                    1
                };
            }
            if i < b.len() && b[i] == b'"' {
                i += 1;
            }
            Kind::Str
        } else if c.is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let rest = &text[i..];
            let unit = if rest.starts_with('%') {
                1
            } else if rest.starts_with("ms") && !rest[2..].bytes().next().is_some_and(word_char) {
                2
            } else if ["s", "m", "h"].iter().any(|u| rest.starts_with(u))
                && !rest[1..].bytes().next().is_some_and(word_char)
            {
                1
            } else {
                0
            };
            i += unit;
            Kind::Number { unit: unit as u8 }
        } else if word_char(c) {
            while i < b.len() && word_char(b[i]) {
                i += 1;
            }
            Kind::Word
        } else if c == b'@' {
            i += 1;
            Kind::At
        } else {
            // One character (which may be several bytes).
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            Kind::Punct
        };
        out.push(Tok {
            kind,
            start: start as u32,
            end: i as u32,
        });
    }
    out
}

fn line_end(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| from + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_units_comments_and_strings() {
        let text = "/// doc\nhalt x when p99 > 800ms and r > 5% // c\n  and s == \"a\\\"b\" and 7 % 2 == 1";
        let toks = lex(text);
        let kinds: Vec<(Kind, &str)> = toks.iter().map(|t| (t.kind, t.text(text))).collect();
        assert_eq!(kinds[0], (Kind::Doc, "/// doc"));
        assert!(kinds.contains(&(Kind::Number { unit: 2 }, "800ms")));
        assert!(kinds.contains(&(Kind::Number { unit: 1 }, "5%")));
        assert!(kinds.contains(&(Kind::Comment, "// c")));
        assert!(kinds.contains(&(Kind::Str, "\"a\\\"b\"")));
        assert!(kinds.contains(&(Kind::Number { unit: 0 }, "7")));
        assert!(kinds.contains(&(Kind::Punct, "%")));
    }
}
