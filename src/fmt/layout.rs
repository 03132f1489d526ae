//! Lays out the tokens of one top-level declaration (or a run of comments) as lines.
//!
//! The printer walks the tokens once, tracking where it is (outside or inside a declaration's
//! `{}`, which statement, how many brackets are open, inside an annotation or a `deployment`
//! path), and decides for each token whether it joins the current line (with or without a
//! space) or starts a new one, at which indentation. Comments stay between the same two tokens
//! they stood between; only the whitespace around them changes.

use crate::syntax::lex::{Kind, Tok};
use crate::syntax::lexicon::{self, ACTIONS};

/// A class or scope body goes on one line only if that line stays within this many columns.
pub(crate) const MAX_INLINE_WIDTH: usize = 100;

fn is_keyword(word: &str) -> bool {
    lexicon::is_reserved(word)
}

/// Which declaration a run of tokens is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decl {
    Use,
    Signal,
    Class,
    Scope,
    Let,
    Fn,
    Policy,
    Test,
}

/// One output line: indentation, code, and an end-of-line `//` comment kept apart so that the
/// comments of consecutive lines can be aligned.
#[derive(Clone, Debug)]
pub(crate) struct Line {
    pub indent: usize,
    pub code: String,
    pub comment: Option<String>,
    pub blank_before: bool,
}

impl Line {
    pub fn width(&self) -> usize {
        self.indent + self.code.chars().count()
    }
}

pub(crate) struct Rendered {
    pub lines: Vec<Line>,
    /// The line that holds the declaration's keyword.
    pub keyword_line: Option<usize>,
}

impl Rendered {
    /// The declaration itself (without its comments, docs and annotations) is one line.
    pub fn one_line(&self) -> bool {
        self.keyword_line.is_some_and(|k| k + 1 == self.lines.len())
    }
}

/// Lays out `toks`: one declaration with the comments before it and after it on its last line,
/// or (with `decl` `None`) comments alone. `inline_parts` puts a class or scope body on one line.
pub(crate) fn render(toks: &[Tok], decl: Option<Decl>, inline_parts: bool) -> Rendered {
    let mut p = Printer {
        toks,
        decl,
        inline_parts,
        lines: Vec::new(),
        keyword_line: None,
        only_comments: false,
        force_line: false,
        glue_after: true,
        after_open: false,
        after_comment: false,
        block: Block::Outside,
        inline: false,
        stmt: Stmt::None,
        paren: 0,
        qmarks: vec![0],
        annotation: Annotation::None,
        path: PathState::None,
        plain: false,
        head: false,
        keyword_seen: false,
        prev_operand: false,
        prev_callee: false,
        prev_else: false,
    };
    for (i, t) in toks.iter().enumerate() {
        if t.is_comment() {
            p.comment(i);
        } else {
            p.significant(i);
        }
    }
    Rendered {
        lines: p.lines,
        keyword_line: p.keyword_line,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Block {
    /// At top level: the declaration's head, or all of a declaration without braces.
    Outside,
    Policy,
    Test,
    Class,
    Scope,
}

/// The statement being printed, for the places where an author's line break is kept.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stmt {
    None,
    Applies,
    Require,
    Rule,
    Approval,
    Let,
    Other,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Annotation {
    None,
    /// After `@`: the key comes next.
    Key,
    /// After the key, with `(` next.
    Open,
    /// Inside the parentheses.
    Argument,
}

/// Inside `deployment.labels["team"]`, an atomic rule that admits no comments.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum PathState {
    None,
    /// After `deployment`, a field or `]`: `.` or `[` may continue the path.
    Part,
    /// After `.`: a field name comes next.
    Dot,
    /// After `[`: a string comes next.
    Open,
    /// After the string: `]` comes next.
    Key,
}

/// Why a token starts a line of its own.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Start {
    /// The first token of a declaration or statement: a doc, an annotation or the keyword.
    Begin,
    /// A later doc or annotation, or the keyword after them.
    Head,
    /// A part of a class, scope or test body.
    Part,
    /// The `}` that closes a body laid out one part per line.
    Close,
}

struct Printer<'t, 'a> {
    toks: &'t [Tok<'a>],
    decl: Option<Decl>,
    inline_parts: bool,
    lines: Vec<Line>,
    keyword_line: Option<usize>,
    /// The current line holds only comments so far.
    only_comments: bool,
    /// The next significant token must start a line (after a line comment, a doc, an annotation).
    force_line: bool,
    /// No space after the last token (`(`, `[`, `.`, `::`, `@`, a prefix operator).
    glue_after: bool,
    /// The last token printed is a `{`.
    after_open: bool,
    /// The last token printed is a comment.
    after_comment: bool,
    block: Block,
    /// The current body is printed on one line.
    inline: bool,
    stmt: Stmt,
    /// `(` and `[` open in the current statement.
    paren: usize,
    /// Per open bracket, the `?` waiting for their `:`.
    qmarks: Vec<usize>,
    annotation: Annotation,
    path: PathState,
    /// The next word is a plain word (a field, a tag, a principal kind, a type, an annotation
    /// key), never a keyword.
    plain: bool,
    /// Docs or annotations printed, the keyword they belong to not yet.
    head: bool,
    /// The declaration's keyword has been printed.
    keyword_seen: bool,
    /// The last significant token ends an operand, so a `-` after it subtracts.
    prev_operand: bool,
    /// The last significant token is a name, so a `(` after it calls it.
    prev_callee: bool,
    /// The last significant token is the `else` of a gate or a `forbid`: an action after it
    /// does not start a rule.
    prev_else: bool,
}

impl Printer<'_, '_> {
    fn next_significant(&self, i: usize) -> Option<usize> {
        (i + 1..self.toks.len()).find(|&j| !self.toks[j].is_comment())
    }

    fn level_indent(&self) -> usize {
        if self.block == Block::Outside {
            0
        } else {
            2
        }
    }

    fn cont_indent(&self, t: &Tok) -> usize {
        let base = if self.block == Block::Outside { 0 } else { 2 };
        let mut depth = self.paren;
        if t.is(")") || t.is("]") {
            depth = depth.saturating_sub(1);
        }
        base + 4 + 2 * depth
    }

    /// Whether the significant token `j` starts a line, in the current state (comments do not
    /// change the state, so this also answers for the token after a run of comments).
    fn line_start(&self, j: usize) -> Option<Start> {
        let t = &self.toks[j];
        if self.annotation != Annotation::None || self.paren > 0 || self.plain || self.inline {
            return None;
        }
        let begin = if self.head { Start::Head } else { Start::Begin };
        if t.kind == Kind::Doc || t.is("@") {
            return match self.block {
                Block::Outside if self.keyword_seen => None,
                Block::Outside | Block::Policy => Some(begin),
                _ => None,
            };
        }
        match self.block {
            Block::Outside => {
                (!self.keyword_seen && t.kind == Kind::Word && self.decl.is_some()).then_some(begin)
            }
            Block::Policy => {
                if t.is("}") {
                    return Some(Start::Close);
                }
                if t.kind != Kind::Word {
                    return None;
                }
                let statement = match t.text {
                    "applies" | "require" | "approval" | "forbid" | "let" => true,
                    // A rule's action, not a gate's (`require c else halt`) nor the action a
                    // `forbid` names (`forbid rollback x when ...`).
                    a if ACTIONS.contains(&a) && !self.prev_else => {
                        self.next_significant(j).is_some_and(|n| {
                            let n = &self.toks[n];
                            n.kind == Kind::Word && !is_keyword(n.text)
                        })
                    }
                    _ => false,
                };
                statement.then_some(begin)
            }
            Block::Test | Block::Class | Block::Scope => {
                if t.is("}") {
                    return Some(Start::Close);
                }
                let parts: &[&str] = match self.block {
                    Block::Test => &["snapshot", "expect"],
                    Block::Class => &["touches", "irreversible", "security_fix"],
                    _ => &["principals", "may", "in", "for"],
                };
                (t.kind == Kind::Word && parts.contains(&t.text)).then_some(Start::Part)
            }
        }
    }

    /// Whether the author's line break before token `i` (or after it, for `and` and `or`) is
    /// kept: before `when`, `for`, `unless`, `else` of a statement, and `and`/`or` anywhere in
    /// a statement or a top-level `let` or `fn`.
    fn keeps_break(&self, i: usize) -> bool {
        let in_statement = match self.block {
            Block::Policy => self.stmt != Stmt::None,
            Block::Outside => self.stmt == Stmt::Let,
            _ => false,
        };
        if !in_statement || self.plain || self.annotation != Annotation::None {
            return false;
        }
        let t = &self.toks[i];
        if !matches!(t.kind, Kind::Word | Kind::Punct) {
            return false;
        }
        let before = t.breaks > 0;
        match t.text {
            "and" | "or" | "&&" | "||" => {
                before
                    || self
                        .toks
                        .get(i + 1)
                        .is_some_and(|n| !n.is_comment() && n.breaks > 0)
            }
            "when" => before && self.paren == 0 && matches!(self.stmt, Stmt::Rule | Stmt::Approval),
            "for" | "unless" => before && self.paren == 0 && self.stmt == Stmt::Rule,
            "else" => before && self.paren == 0 && self.stmt == Stmt::Require,
            _ => false,
        }
    }

    fn line_open(&self) -> bool {
        self.lines.last().is_some_and(|l| l.comment.is_none())
    }

    fn new_line(&mut self, indent: usize, blank: bool) {
        let blank_before = blank && !self.lines.is_empty();
        self.lines.push(Line {
            indent,
            code: String::new(),
            comment: None,
            blank_before,
        });
        self.only_comments = true;
        self.glue_after = true;
        self.force_line = false;
    }

    fn push(&mut self, text: &str, space: bool) {
        let line = self.lines.last_mut().expect("a line is open");
        if space && !line.code.is_empty() {
            line.code.push(' ');
        }
        line.code.push_str(text);
    }

    fn comment(&mut self, i: usize) {
        let t = self.toks[i];
        let text = comment_text(&t);
        if t.breaks == 0 && self.line_open() {
            if t.kind == Kind::LineComment {
                self.lines.last_mut().expect("a line is open").comment = Some(text);
                self.force_line = true;
            } else {
                let space = !self.glue_after;
                self.push(&text, space);
                self.glue_after = false;
                self.after_comment = true;
            }
            return;
        }
        // A comment on a line of its own: at the indentation of what follows it, when that
        // starts a line; else inside a statement, as a continuation.
        let next = self.next_significant(i);
        let start = next.and_then(|j| self.line_start(j));
        let (indent, boundary) = match (next, start) {
            (None, _) | (_, Some(_)) => (self.level_indent(), true),
            (Some(_), None) => (self.cont_indent(&t), false),
        };
        let blank = t.breaks >= 2 && boundary && !self.after_open;
        self.new_line(indent, blank);
        self.push(&text, false);
        self.glue_after = false;
        self.after_open = false;
        self.after_comment = true;
        if t.kind == Kind::LineComment {
            self.force_line = true;
        }
    }

    fn significant(&mut self, i: usize) {
        let t = self.toks[i];
        // A trailing comma before `)` or `]` is dropped: the grammar reads the list the same.
        if t.is(",")
            && self
                .next_significant(i)
                .is_some_and(|n| self.toks[n].is(")") || self.toks[n].is("]"))
        {
            return;
        }
        let start = self.line_start(i);
        if let Some(start) = start {
            let join = self.line_open() && self.only_comments && t.breaks == 0 && !self.force_line;
            if !join {
                let indent = if start == Start::Close {
                    0
                } else {
                    self.level_indent()
                };
                let blank = t.breaks >= 2
                    && matches!(start, Start::Begin | Start::Part)
                    && !self.after_open;
                self.new_line(indent, blank);
            }
        } else if self.lines.is_empty() {
            self.new_line(self.level_indent(), false);
        } else if self.force_line || !self.line_open() || self.keeps_break(i) {
            let indent = self.cont_indent(&t);
            self.new_line(indent, false);
        }
        let text = match t.text {
            "&&" if t.kind == Kind::Punct => "and".to_string(),
            "||" if t.kind == Kind::Punct => "or".to_string(),
            _ if t.kind == Kind::Doc => doc_text(t.text),
            _ => t.text.to_string(),
        };
        // After a comment, only `,` and closing brackets keep to it.
        let glue_before = if self.after_comment {
            t.is(",") || t.is(")") || t.is("]")
        } else {
            self.glue_before(&t)
        };
        let space = !(self.glue_after || glue_before);
        self.push(&text, space);
        self.only_comments = false;
        self.after_open = false;
        self.after_comment = false;
        self.advance(i, start);
    }

    fn glue_before(&self, t: &Tok) -> bool {
        if self.annotation == Annotation::Open || self.annotation == Annotation::Argument {
            return true;
        }
        if t.kind != Kind::Punct {
            return false;
        }
        match t.text {
            "," | ")" | "]" | "." | "::" => true,
            "(" => self.prev_callee,
            "[" => self.path == PathState::Part,
            ":" => self.qmarks.last().is_none_or(|&q| q == 0),
            "}" => self.after_open,
            _ => false,
        }
    }

    /// Updates the state after printing significant token `i`.
    fn advance(&mut self, i: usize, start: Option<Start>) {
        let t = self.toks[i];
        let plain = std::mem::take(&mut self.plain);
        self.glue_after = false;

        match self.annotation {
            Annotation::Key => {
                let open = self
                    .next_significant(i)
                    .is_some_and(|n| self.toks[n].is("("));
                if open {
                    self.annotation = Annotation::Open;
                } else {
                    self.end_annotation();
                }
                return;
            }
            Annotation::Open => {
                self.annotation = Annotation::Argument;
                self.glue_after = true;
                return;
            }
            Annotation::Argument => {
                if t.is(")") {
                    self.end_annotation();
                }
                return;
            }
            Annotation::None => {}
        }
        if t.is("@") {
            self.annotation = Annotation::Key;
            self.glue_after = true;
            self.plain = true;
            return;
        }
        if t.kind == Kind::Doc {
            self.head = true;
            self.force_line = true;
            return;
        }

        // The path of `deployment`: `.field` and `["key"]`, no spaces.
        let in_path = match (self.path, t.text) {
            (PathState::Part, ".") => {
                self.path = PathState::Dot;
                self.plain = true;
                self.glue_after = true;
                true
            }
            (PathState::Part, "[") => {
                self.path = PathState::Open;
                self.glue_after = true;
                true
            }
            (PathState::Dot, _) => {
                self.path = PathState::Part;
                true
            }
            (PathState::Open, _) => {
                self.path = PathState::Key;
                true
            }
            (PathState::Key, _) => {
                self.path = PathState::Part;
                true
            }
            _ => {
                self.path = PathState::None;
                false
            }
        };
        if in_path {
            self.prev_operand = true;
            self.prev_callee = false;
            return;
        }

        if t.kind == Kind::Word && !plain && matches!(start, Some(Start::Begin | Start::Head)) {
            self.begin_statement(t.text);
        }
        let keyword = t.kind == Kind::Word && !plain && is_keyword(t.text);
        let unary = !self.prev_operand;
        match t.text {
            _ if t.kind != Kind::Word && t.kind != Kind::Punct => {}
            "(" | "[" => {
                self.paren += 1;
                self.qmarks.push(0);
                self.glue_after = true;
            }
            ")" | "]" => {
                self.paren = self.paren.saturating_sub(1);
                if self.qmarks.len() > 1 {
                    self.qmarks.pop();
                }
            }
            "{" => self.open_body(i),
            "}" => {
                self.block = Block::Outside;
                self.inline = false;
                self.stmt = Stmt::None;
            }
            "?" => {
                if let Some(q) = self.qmarks.last_mut() {
                    *q += 1;
                }
            }
            ":" => match self.qmarks.last_mut() {
                Some(q) if *q > 0 => *q -= 1,
                _ => self.plain = true,
            },
            "->" => self.plain = true,
            "::" => self.glue_after = true,
            "!" => self.glue_after = true,
            "-" => self.glue_after = unary,
            "is" | "touches" | "of" if keyword => self.plain = true,
            "deployment" if t.kind == Kind::Word => self.path = PathState::Part,
            _ => {}
        }
        let (operand, callee) = match t.kind {
            Kind::Number | Kind::Str => (true, false),
            Kind::Word if !keyword => (true, !plain),
            Kind::Word => (matches!(t.text, "true" | "false" | "class"), false),
            Kind::Punct => (t.is(")") || t.is("]"), false),
            _ => (false, false),
        };
        self.prev_operand = operand;
        self.prev_callee = callee;
        self.prev_else = keyword && (t.text == "else" || t.text == "forbid");
    }

    fn end_annotation(&mut self) {
        self.annotation = Annotation::None;
        self.head = true;
        self.force_line = true;
        self.prev_operand = false;
        self.prev_callee = false;
    }

    fn begin_statement(&mut self, keyword: &str) {
        self.head = false;
        self.paren = 0;
        self.qmarks = vec![0];
        if self.block == Block::Outside {
            self.keyword_seen = true;
            self.keyword_line = Some(self.lines.len() - 1);
            self.stmt = match self.decl {
                Some(Decl::Let | Decl::Fn) => Stmt::Let,
                _ => Stmt::Other,
            };
        } else {
            self.stmt = match keyword {
                "applies" => Stmt::Applies,
                "require" => Stmt::Require,
                "approval" => Stmt::Approval,
                "let" => Stmt::Let,
                _ => Stmt::Rule,
            };
        }
    }

    fn open_body(&mut self, i: usize) {
        self.block = match self.decl {
            Some(Decl::Test) => Block::Test,
            Some(Decl::Class) => Block::Class,
            Some(Decl::Scope) => Block::Scope,
            _ => Block::Policy,
        };
        let empty = self.toks.get(i + 1).is_some_and(|n| n.is("}"));
        self.inline =
            empty || (self.inline_parts && matches!(self.block, Block::Class | Block::Scope));
        self.stmt = Stmt::None;
        self.paren = 0;
        self.qmarks = vec![0];
        self.after_open = true;
    }
}

/// A comment's text with the trailing whitespace of each of its lines removed.
fn comment_text(t: &Tok) -> String {
    let mut out = String::with_capacity(t.text.len());
    for (n, line) in t.text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        out.push_str(line.trim_end());
    }
    out
}

/// `///text` as `/// text`: the parser drops one space after `///`, so both document "text".
fn doc_text(raw: &str) -> String {
    let body = raw["///".len()..].trim_end();
    if body.is_empty() || body.starts_with(' ') {
        format!("///{body}")
    } else {
        format!("/// {body}")
    }
}
