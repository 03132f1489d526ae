//! The formatter: policy text in, the same policy in one canonical layout out.
//!
//! [`format()`] never changes what a file means. It refuses a file with syntax errors (returning
//! them), and before it returns it parses its own output and compares the result with the
//! input's syntax tree, ignoring spans; if they differ it returns an internal error instead of
//! wrong output. Every comment (`//`, `/* */`) and doc comment (`///`) is kept, in order,
//! between the same two tokens it stood between (the comments of a `use` declaration move to
//! the top of the file with it).
//!
//! # Layout
//!
//! - **File.** A comment block at the start of the file that is followed by a blank line is the
//!   file's header and stays first. Then come the `use` declarations, in their original relative
//!   order, one per line with no blank line between them, each with the comments that stood
//!   before it. Then every other declaration in its original order, and the comments after the
//!   last one. A comment on its own line belongs to the declaration after it; one at the end of
//!   a line, to that line.
//! - **Blank lines.** Exactly one blank line between top-level declarations, with one exception:
//!   consecutive one-line declarations of the same kind (`signal`, `let`, `fn`, `class`,
//!   `scope`) that the author wrote without a blank line between them stay together, as a group.
//!   Inside a body (and among comments), a blank line the author left before a statement, a
//!   part or a comment is kept (several become one); blank lines anywhere else are removed,
//!   as is a blank line right after `{`.
//! - **Indentation.** Two spaces per level inside `{}`. A statement continued on further lines is
//!   indented four spaces relative to the statement, plus two per open `(` or `[`.
//! - **Lines.** Each doc comment and each annotation is on its own line, before what it
//!   annotates; each policy statement starts its own line, as does each part of a test body
//!   (`snapshot`, `expect`). A class or scope body is written on one line
//!   (`class c { touches [secrets] security_fix }`) when it holds at most one `[...]` list, no
//!   comment, and the line fits in 100 columns; otherwise one part per line. An empty body is
//!   `{}`.
//! - **Breaks the author chose.** A statement (or a top-level `let` or `fn`) is otherwise
//!   joined onto one line, except where its author broke the line before `when`, `for`,
//!   `unless` or `else` (outside brackets), or before or after `and`/`or`: there the break is
//!   kept, always before the keyword. A comment on a line of its own keeps its own line; a line
//!   comment always ends its line.
//! - **Spaces.** One space between tokens, around binary operators, `=`, `->`, `?` and the
//!   ternary `:`, and after commas. None inside `()` and `[]`, before `,`, before the `:` of a
//!   type (`signal x: ratio`), after a prefix `-` or `!`, around `.` and `::`, between a called
//!   name and its `(`, inside `@key(value)` and `deployment.labels["team"]`. A `/* */` comment
//!   within a line has one space on each side, except after an opening bracket or a prefix
//!   operator and before a closing bracket or a comma.
//! - **Commas.** A trailing comma before `)` or `]` is dropped (`[a, b,]` is `[a, b]`).
//! - **Operators.** `&&` and `||` are written `and` and `or` (the grammar reads them as the same
//!   operators at the same precedence). `!` is kept as written: `not` binds looser than
//!   comparisons, so `!a == b` and `not a == b` are different conditions.
//! - **Comments.** End-of-line `//` comments on consecutive lines of the same indentation are
//!   aligned, two spaces after the longest line. Doc comments are written `/// text` (the
//!   parser reads `///text` the same). Comment text is kept as written, except for trailing
//!   whitespace; the later lines of a `/* */` comment are not re-indented.
//! - **Whitespace.** No trailing whitespace; the file ends with exactly one newline (a file with
//!   nothing but whitespace formats to the empty string).

mod layout;

use std::fmt;

use crate::diagnostic::Diagnostic;
use crate::source::FileId;
use crate::syntax::ast::{File, ItemKind};
use crate::syntax::parse::parse_file;

use crate::syntax::lex::{lex, Kind, Tok};
use layout::{render, Decl, Line, Rendered, MAX_INLINE_WIDTH};

/// Why a file was not formatted.
#[derive(Clone, Debug)]
pub enum FormatError {
    /// The file has syntax errors (given here, with places in the input); it is left as it is.
    Syntax(Vec<Diagnostic>),
    /// The formatter could not lay the file out without changing what it means: a bug in the
    /// formatter, never in the file.
    Internal(String),
}

const INTERNAL: &str =
    "internal error: the formatter would change this file's meaning; please report it";

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Syntax(d) => {
                let n = d.len();
                write!(
                    f,
                    "the file has {n} syntax error{}; it was not formatted",
                    if n == 1 { "" } else { "s" }
                )?;
                if let Some(first) = d.first() {
                    write!(f, " (first: {})", first.message)?;
                }
                Ok(())
            }
            FormatError::Internal(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for FormatError {}

/// Formats one policy file in the canonical layout (see the [module documentation](self)).
pub fn format(text: &str) -> Result<String, FormatError> {
    // A byte-order mark is whitespace to the parser; the canonical layout has none.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (before, diagnostics) = parse_file(FileId(0), text);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(FormatError::Syntax(diagnostics));
    }
    let toks = lex(text);
    if toks.iter().any(|t| t.kind == Kind::Other) {
        return Err(FormatError::Internal(INTERNAL.to_string()));
    }
    let out = lay_out(&toks, &before).ok_or_else(|| FormatError::Internal(INTERNAL.into()))?;
    let (after, diagnostics) = parse_file(FileId(0), &out);
    if !diagnostics.is_empty() || !same_meaning(&before, &after) {
        return Err(FormatError::Internal(INTERNAL.to_string()));
    }
    Ok(out)
}

fn decl(kind: &ItemKind) -> Decl {
    match kind {
        ItemKind::Use(_) => Decl::Use,
        ItemKind::Signal(_) => Decl::Signal,
        ItemKind::Class(_) => Decl::Class,
        ItemKind::Scope(_) => Decl::Scope,
        ItemKind::Let(_) => Decl::Let,
        ItemKind::Fn(_) => Decl::Fn,
        ItemKind::Policy(_) => Decl::Policy,
        ItemKind::Test(_) => Decl::Test,
    }
}

/// One top-level declaration's tokens: the comments before it, the declaration, and the
/// comments on its last line.
struct Range {
    decl: Decl,
    /// First token (a comment before the declaration, or its first doc, annotation or keyword).
    start: usize,
    /// The declaration's first doc, annotation or keyword.
    first: usize,
    end: usize,
}

/// Lays the file out; `None` when the tokens and the tree disagree (a formatter bug).
fn lay_out(toks: &[Tok], file: &File) -> Option<String> {
    if toks.is_empty() {
        return Some(String::new());
    }
    // Where each declaration starts, from the parser's spans.
    let mut firsts = Vec::with_capacity(file.items.len());
    for item in &file.items {
        let at = item.span.start;
        let i = toks.binary_search_by_key(&at, |t| t.start).ok()?;
        if firsts.last().is_some_and(|&last| last >= i) {
            return None;
        }
        firsts.push(i);
    }
    let mut ranges: Vec<Range> = Vec::with_capacity(firsts.len());
    let mut start = 0;
    for (k, item) in file.items.iter().enumerate() {
        let first = firsts[k];
        let limit = firsts.get(k + 1).copied().unwrap_or(toks.len());
        let last = (first..limit).rev().find(|&j| !toks[j].is_comment())?;
        let mut end = last + 1;
        while end < limit && toks[end].is_comment() && toks[end].breaks == 0 {
            end += 1;
        }
        ranges.push(Range {
            decl: decl(&item.kind),
            start,
            first,
            end,
        });
        start = end;
    }

    // The header: comments at the start of the file, up to the last blank line before the first
    // declaration.
    let header_end = match ranges.first() {
        Some(r) => (1..=r.first)
            .rev()
            .find(|&j| toks[j].breaks >= 2)
            .unwrap_or(0),
        None => 0,
    };
    if let Some(r) = ranges.first_mut() {
        r.start = header_end;
    }

    let mut out: Vec<Line> = Vec::new();
    if header_end > 0 {
        out.extend(render(&toks[..header_end], None, false).lines);
    }
    let order = ranges
        .iter()
        .enumerate()
        .filter(|(_, r)| r.decl == Decl::Use)
        .chain(
            ranges
                .iter()
                .enumerate()
                .filter(|(_, r)| r.decl != Decl::Use),
        )
        .map(|(k, _)| k);
    let mut prev: Option<(usize, bool)> = None;
    for k in order {
        let r = &ranges[k];
        let rendered = render_decl(&toks[r.start..r.end], r.decl);
        let one_line = rendered.one_line();
        let mut lines = rendered.lines;
        let blank = match prev {
            None => !out.is_empty(),
            Some((p, p_one_line)) => {
                let q = &ranges[p];
                if q.decl == Decl::Use && r.decl == Decl::Use {
                    false
                } else {
                    let grouped = q.decl == r.decl
                        && matches!(
                            r.decl,
                            Decl::Signal | Decl::Let | Decl::Fn | Decl::Class | Decl::Scope
                        )
                        && p_one_line
                        && one_line
                        && p + 1 == k
                        && toks[r.start..=r.first].iter().all(|t| t.breaks < 2);
                    !grouped
                }
            }
        };
        if let Some(first) = lines.first_mut() {
            first.blank_before = blank;
        }
        out.extend(lines);
        prev = Some((k, one_line));
    }
    let tail = ranges.last().map_or(header_end, |r| r.end);
    if tail < toks.len() {
        let mut lines = render(&toks[tail..], None, false).lines;
        if let Some(first) = lines.first_mut() {
            first.blank_before = !out.is_empty() && toks[tail].breaks >= 2;
        }
        out.extend(lines);
    }
    Some(to_text(&out))
}

/// Lays out one declaration; a class or scope body goes on one line when the rules allow.
fn render_decl(toks: &[Tok], decl: Decl) -> Rendered {
    if matches!(decl, Decl::Class | Decl::Scope) {
        let open = toks.iter().position(|t| t.is("{"));
        let close = toks.iter().rposition(|t| t.is("}"));
        if let (Some(open), Some(close)) = (open, close) {
            let body = &toks[open + 1..close];
            let lists = body.iter().filter(|t| t.is("[")).count();
            if lists <= 1 && !body.iter().any(Tok::is_comment) {
                let r = render(toks, Some(decl), true);
                let fits = r
                    .keyword_line
                    .is_some_and(|k| r.lines[k].width() <= MAX_INLINE_WIDTH);
                if fits {
                    return r;
                }
            }
        }
    }
    render(toks, Some(decl), false)
}

/// Joins the lines, aligning the end-of-line comments of consecutive lines.
fn to_text(lines: &[Line]) -> String {
    let alignable = |l: &Line| l.comment.is_some() && !l.code.contains('\n');
    let mut columns = vec![0; lines.len()];
    let mut i = 0;
    while i < lines.len() {
        if !alignable(&lines[i]) {
            columns[i] = lines[i].width() + 2;
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < lines.len()
            && alignable(&lines[j])
            && !lines[j].blank_before
            && lines[j].indent == lines[i].indent
        {
            j += 1;
        }
        let column = lines[i..j].iter().map(Line::width).max().unwrap_or(0) + 2;
        columns[i..j].fill(column);
        i = j;
    }
    let mut out = String::new();
    for (line, column) in lines.iter().zip(columns) {
        if line.blank_before {
            out.push('\n');
        }
        out.push_str(&" ".repeat(line.indent));
        out.push_str(&line.code);
        if let Some(c) = &line.comment {
            let width = if line.code.contains('\n') {
                line.code
                    .rsplit('\n')
                    .next()
                    .map_or(0, |l| l.chars().count())
            } else {
                line.width()
            };
            out.push_str(&" ".repeat(column.saturating_sub(width).max(2)));
            out.push_str(c);
        }
        out.push('\n');
    }
    let mut text: String = out
        .split('\n')
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    let trimmed = text.trim_end().len();
    text.truncate(trimmed);
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

/// Whether two parses of a file declare the same things, spans aside. The formatter moves `use`
/// declarations first, so they are compared in that order.
fn same_meaning(before: &File, after: &File) -> bool {
    let uses_first = |f: &File| {
        let (uses, rest): (Vec<_>, Vec<_>) = f
            .items
            .iter()
            .partition(|i| matches!(i.kind, ItemKind::Use(_)));
        uses.into_iter()
            .chain(rest)
            .map(|i| strip_spans(&format!("{i:?}")))
            .collect::<Vec<_>>()
    };
    uses_first(before) == uses_first(after)
}

/// Removes every `Span { file: FileId(N), start: N, end: N }` from a `Debug` rendering.
fn strip_spans(debug: &str) -> String {
    const OPEN: &str = "Span { file: FileId(";
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        match span_len(after) {
            Some(n) => rest = &after[n..],
            None => {
                out.push_str(OPEN);
                rest = &after[OPEN.len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The length of the span rendering at the start of `s`, if one is there.
fn span_len(s: &str) -> Option<usize> {
    let mut rest = s.strip_prefix("Span { file: FileId(")?;
    for after_digits in ["), start: ", ", end: ", " }"] {
        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = rest[n..].strip_prefix(after_digits)?;
    }
    Some(s.len() - rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_spans_only() {
        let s = "Ident { name: \"a\", span: Span { file: FileId(0), start: 3, end: 4 } }";
        assert_eq!(strip_spans(s), "Ident { name: \"a\", span:  }");
        assert_eq!(
            strip_spans("Span { file: FileId(x"),
            "Span { file: FileId(x"
        );
    }

    #[test]
    fn meaning_ignores_layout_and_use_order_only() {
        let parse = |t: &str| parse_file(FileId(0), t).0;
        let a = parse("signal a: ratio = \"a\"\nuse std::http\npolicy p { halt x when a > 1% }");
        let b = parse("use std::http\n\nsignal a: ratio = \"a\"\n\npolicy p {\n  halt x\n    when a > 1%\n}\n");
        assert!(same_meaning(&a, &b));
        let c = parse("use std::http\nsignal a: ratio = \"a\"\npolicy p { halt x when a > 2% }");
        assert!(!same_meaning(&a, &c));
        let d = parse("use std::http\nsignal a: ratio = \"a\"\npolicy p { halt x when (a > 1%) }");
        assert!(!same_meaning(&a, &d));
    }

    #[test]
    fn refuses_syntax_errors() {
        assert!(matches!(
            format("policy p { halt x when }"),
            Err(FormatError::Syntax(_))
        ));
    }

    #[test]
    fn empty_and_blank_files() {
        assert_eq!(format("").unwrap(), "");
        assert_eq!(format(" \n\n\t").unwrap(), "");
        assert_eq!(
            format("// only\n\n\n/* comments */").unwrap(),
            "// only\n\n/* comments */\n"
        );
    }
}
