//! Policy text -> AST. One function per grammar rule.
//!
//! Parsing never fails: it returns the items it understood and a diagnostic for each mistake.
//! The file is read one top-level item at a time; after a mistake, reading resumes at the next
//! line that starts (in column 1) with a top-level keyword, so one mistake does not hide the rest.

use std::sync::LazyLock;

use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser as _;

use super::ast::*;
use super::expected;
use super::lexicon;
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::source::{FileId, Span};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/rollguard.pest"]
pub struct Grammar;

/// Deeper bracket nesting than this is refused before pest sees it, so no input can exhaust the
/// stack of the recursive-descent parser or of the passes after it.
const MAX_NESTING: usize = 64;

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    // Lowest precedence first, as CEL orders them; `not` sits between `and` and comparisons.
    PrattParser::new()
        .op(Op::infix(Rule::op_cond, Assoc::Right))
        .op(Op::infix(Rule::op_or, Assoc::Left))
        .op(Op::infix(Rule::op_and, Assoc::Left))
        .op(Op::prefix(Rule::op_not))
        .op(Op::infix(Rule::op_eq, Assoc::Left)
            | Op::infix(Rule::op_ne, Assoc::Left)
            | Op::infix(Rule::op_lt, Assoc::Left)
            | Op::infix(Rule::op_le, Assoc::Left)
            | Op::infix(Rule::op_gt, Assoc::Left)
            | Op::infix(Rule::op_ge, Assoc::Left)
            | Op::infix(Rule::op_in, Assoc::Left)
            | Op::postfix(Rule::op_is)
            | Op::postfix(Rule::op_touches))
        .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
        .op(Op::infix(Rule::op_mul, Assoc::Left)
            | Op::infix(Rule::op_div, Assoc::Left)
            | Op::infix(Rule::op_rem, Assoc::Left))
        .op(Op::prefix(Rule::op_bang) | Op::prefix(Rule::op_neg))
});

/// What starts a top-level item besides a declaration keyword (`lexicon::DECLARATIONS`): an
/// annotation or a doc comment.
const ITEM_MARKS: &[&str] = &["@", "///"];

/// Parses one file. Spans are byte offsets into `text`, tagged with `file`.
pub fn parse_file(file: FileId, text: &str) -> (File, Vec<Diagnostic>) {
    pest::set_error_detail(true);
    let mut out = File::default();
    let mut diags = Vec::new();
    if let Some(at) = too_deep(text) {
        let span = Span::new(file, at, at + 1);
        diags.push(
            Diagnostic::error(
                Code::Syntax,
                span,
                format!("brackets or `? :` nested more than {MAX_NESTING} deep"),
            )
            .label("too deep")
            .help("split the expression with `let` or `fn` declarations"),
        );
        return (out, diags);
    }
    let mut offset = 0;
    while offset <= text.len() {
        let rest = &text[offset..];
        match Grammar::parse(Rule::next_item, rest) {
            Ok(mut pairs) => {
                let top = pairs.next().expect("next_item always yields its own pair");
                let end = top.as_span().end();
                let mut inner = top.into_inner();
                match inner.next() {
                    Some(p) if p.as_rule() == Rule::item => {
                        if cost(&p) > MAX_DEPTH {
                            let start = offset + p.as_span().start();
                            let span = Span::new(file, start, start + 1);
                            diags.push(
                                Diagnostic::error(Code::Syntax, span, format!("this declaration nests operators more than {MAX_DEPTH} deep"))
                                    .label("too deep to evaluate safely")
                                    .help("split the condition into `let` declarations or separate rules"),
                            );
                            out.skipped.push((start, offset + end));
                        } else {
                            let cx = Cx { file, offset };
                            out.items.push(cx.item(p));
                        }
                        offset += end;
                    }
                    _ => break, // EOI: only whitespace and comments remain
                }
            }
            Err(err) => {
                let m = expected::describe(&err, rest);
                let at = offset + m.offset;
                let end = (at + 1).min(text.len()).max(at);
                let mut message = m.message;
                let label = m.label;
                let mut help = m.help;
                let mut open_label = None;
                if let Some(u) = &m.unclosed {
                    let open = offset + u.open;
                    let (line, col) = line_col(text, open);
                    message = format!(
                        "expected `}}` before {}: this `{{` at {line}:{col} is not closed",
                        u.before
                    );
                    help = Some(format!(
                        "add `}}` to close {} {}; a `policy`, `class`, `scope` or `test` ends with its own `}}`",
                        u.owner,
                        if u.at_end {
                            "at the end of the file"
                        } else {
                            "before the next declaration"
                        }
                    ));
                    open_label = Some(Span::new(file, open, open + 1));
                }
                let mut d =
                    Diagnostic::error(Code::Syntax, Span::new(file, at, end), message).label(label);
                if let Some(s) = open_label {
                    d = d.with_label(s, "not closed");
                }
                if let Some(h) = help {
                    d = d.help(h);
                }
                if let Some((start, end, word)) = &m.replace {
                    d = d.replace_with(Span::new(file, offset + start, offset + end), word);
                }
                diags.push(d);
                // Resume at the next declaration after the line of the failed one's keyword:
                // its doc comments and annotations are part of it, not a declaration of their own.
                let item_start = offset + (rest.len() - rest.trim_start().len());
                let keyword_at = expected::declaration_keyword(text, item_start);
                let next = next_top_level(text, keyword_at);
                let range = (item_start, next.unwrap_or(text.len()));
                out.skipped.push(range);
                let mut words = text[keyword_at..].split(|c: char| !expected::is_word(c));
                if let Some(keyword) = words.next().filter(|w| lexicon::DECLARATIONS.contains(w)) {
                    let name = words
                        .next()
                        .filter(|w| w.starts_with(|c: char| c.is_ascii_lowercase() || c == '_'))
                        .map(str::to_string);
                    out.unparsed.push(Unparsed {
                        keyword: keyword.to_string(),
                        name,
                        range,
                    });
                }
                match next {
                    Some(next) => offset = next,
                    None => break,
                }
            }
        }
    }
    (out, diags)
}

/// Parses one expression on its own (for tests and tools). The error is boxed: a diagnostic
/// with its suggestions is large, and the expression is the common case.
pub fn parse_expr(file: FileId, text: &str) -> Result<Expr, Box<Diagnostic>> {
    pest::set_error_detail(true);
    match Grammar::parse(Rule::expr, text) {
        Ok(mut pairs) => {
            let p = pairs.next().expect("expr yields its pair");
            if p.as_span().end() != text.trim_end().len() {
                let at = p.as_span().end();
                return Err(Box::new(Diagnostic::error(
                    Code::Syntax,
                    Span::new(file, at, at + 1),
                    "expected the end of the expression",
                )));
            }
            Ok(Cx { file, offset: 0 }.expr(p))
        }
        Err(err) => {
            let m = expected::describe(&err, text);
            Err(Box::new(
                Diagnostic::error(
                    Code::Syntax,
                    Span::new(file, m.offset, m.offset + 1),
                    m.message,
                )
                .label(m.label),
            ))
        }
    }
}

/// An upper bound on the depth of the expression trees under `p`: each operator of an
/// expression may add a level, and nested expressions stack. Deeper declarations are refused,
/// so that no pass after parsing (all recursive) can exhaust the stack.
const MAX_DEPTH: usize = 256;

fn cost(p: &Pair<Rule>) -> usize {
    let children = p.clone().into_inner();
    let own = if p.as_rule() == Rule::expr {
        children.len()
    } else {
        0
    };
    own + children.map(|c| cost(&c)).max().unwrap_or(0)
}

fn too_deep(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // Brackets inside comments and strings do not nest anything.
        match (b, bytes.get(i + 1)) {
            (b'/', Some(b'/')) => {
                i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
                continue;
            }
            (b'/', Some(b'*')) => {
                i = text[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 2);
                continue;
            }
            (b'"', _) => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                continue;
            }
            _ => {}
        }
        match b {
            // `?` opens a branch that `:` closes: `a ? b : c ? d : ...` nests without brackets.
            b'(' | b'[' | b'{' | b'?' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(i);
                }
            }
            b')' | b']' | b'}' | b':' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// 1-based line and column (in characters) of `offset`, as `Sources::location` counts them.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let head = &text[..offset];
    let line = head.matches('\n').count() + 1;
    let col = head[head.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    (line, col)
}

/// The next line after `from` that starts with a top-level keyword in column 1.
fn next_top_level(text: &str, from: usize) -> Option<usize> {
    let mut pos = text[from..].find('\n').map(|i| from + i + 1)?;
    loop {
        let line = &text[pos..];
        if lexicon::DECLARATIONS.iter().chain(ITEM_MARKS).any(|k| {
            line.starts_with(k)
                && line[k.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_') || *k == "@")
        }) {
            return Some(pos);
        }
        pos = pos + line.find('\n')? + 1;
    }
}

/// The file and the offset of the text pest was given, to turn pest spans into ours.
#[derive(Clone, Copy)]
struct Cx {
    file: FileId,
    offset: usize,
}

fn unquote(raw: &str) -> String {
    // `raw` is the text between the quotes; the grammar admits only `\"`, `\\`, `\n` and
    // any other escaped character, which stands for itself.
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Cx {
    fn span(&self, p: &Pair<Rule>) -> Span {
        // pest ends a rule that closes with a repetition after the whitespace it tried;
        // a span ends at the last character of its own text.
        let s = p.as_span();
        let end = s.start() + p.as_str().trim_end().len();
        Span::new(self.file, self.offset + s.start(), self.offset + end)
    }

    fn ident(&self, p: Pair<Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    /// A `string` pair -> its unescaped contents and span.
    fn string(&self, p: Pair<Rule>) -> (String, Span) {
        let span = self.span(&p);
        let inner = p.into_inner().next().map(|i| i.as_str()).unwrap_or("");
        (unquote(inner), span)
    }

    fn item(&self, p: Pair<Rule>) -> Item {
        let span = self.span(&p);
        let mut attrs = Attrs::default();
        let mut kind = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::doc => attrs.docs.push(self.doc(c)),
                Rule::annotation => attrs.annotations.push(self.annotation(c)),
                Rule::use_decl => kind = Some(self.use_decl(c)),
                Rule::signal_decl => kind = Some(ItemKind::Signal(self.signal(c))),
                Rule::class_decl => kind = Some(ItemKind::Class(self.class(c))),
                Rule::scope_decl => kind = Some(ItemKind::Scope(self.scope(c))),
                Rule::let_decl => kind = Some(ItemKind::Let(self.let_decl(c))),
                Rule::fn_decl => kind = Some(ItemKind::Fn(self.fn_decl(c))),
                Rule::policy_decl => kind = Some(ItemKind::Policy(self.policy(c))),
                Rule::test_decl => kind = Some(ItemKind::Test(self.test(c))),
                r => unreachable!("item holds no {r:?}"),
            }
        }
        Item {
            attrs,
            kind: kind.expect("the grammar requires a declaration in every item"),
            span,
        }
    }

    fn doc(&self, p: Pair<Rule>) -> String {
        let text = p.into_inner().next().map(|t| t.as_str()).unwrap_or("");
        text.strip_prefix(' ')
            .unwrap_or(text)
            .trim_end()
            .to_string()
    }

    fn annotation(&self, p: Pair<Rule>) -> Annotation {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let key = self.ident(inner.next().expect("annotation has a key"));
        let value = inner.next().map(|arg| {
            let a = arg.into_inner().next().expect("annotation_arg has a value");
            match a.as_rule() {
                Rule::string => self.string(a),
                _ => (a.as_str().to_string(), self.span(&a)),
            }
        });
        Annotation { key, value, span }
    }

    fn use_decl(&self, p: Pair<Rule>) -> ItemKind {
        let target = p.into_inner().nth(1).expect("use has a target");
        let target_span = self.span(&target);
        let t = match target.as_rule() {
            Rule::std_path => {
                let w = target.into_inner().next().expect("std path has a module");
                UseTarget::Std(self.ident(w))
            }
            _ => UseTarget::Path(self.string(target).0),
        };
        ItemKind::Use(UseDecl {
            target: t,
            target_span,
        })
    }

    fn type_name(&self, p: Pair<Rule>) -> TypeName {
        TypeName {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    fn signal(&self, p: Pair<Rule>) -> SignalDecl {
        let mut it = p.into_inner().skip(1);
        let name = self.ident(it.next().expect("signal name"));
        let ty = self.type_name(it.next().expect("signal type"));
        let (key, key_span) = self.string(it.next().expect("signal key"));
        SignalDecl {
            name,
            ty,
            key,
            key_span,
        }
    }

    fn class(&self, p: Pair<Rule>) -> ClassDecl {
        let mut it = p.into_inner().skip(1);
        let name = self.ident(it.next().expect("class name"));
        let mut c = ClassDecl {
            name,
            tags: Vec::new(),
            irreversible: false,
            security_fix: false,
        };
        for part in it {
            let inner = part.into_inner().next().expect("class part");
            match inner.as_rule() {
                Rule::class_touches => {
                    c.tags
                        .extend(inner.into_inner().skip(1).map(|w| self.ident(w)));
                }
                Rule::kw_irreversible => c.irreversible = true,
                Rule::kw_security_fix => c.security_fix = true,
                r => unreachable!("class part {r:?}"),
            }
        }
        c
    }

    fn principal(&self, p: Pair<Rule>) -> PrincipalPat {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let kind = self.ident(it.next().expect("principal kind"));
        let id = it.next().map(|s| self.string(s));
        PrincipalPat {
            kind,
            id,
            within: None,
            span,
        }
    }

    /// `human`, or `human in group "sre"`.
    fn principal_pattern(&self, p: Pair<Rule>) -> PrincipalPat {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let mut pat = self.principal(it.next().expect("principal"));
        let _in = it.next();
        pat.within = it.next().map(|q| Box::new(self.principal(q)));
        pat.span = span;
        pat
    }

    fn scope(&self, p: Pair<Rule>) -> ScopeDecl {
        let mut it = p.into_inner().skip(1);
        let name = self.ident(it.next().expect("scope name"));
        let mut s = ScopeDecl {
            name,
            principals: Vec::new(),
            may: Vec::new(),
            envs: None,
            services: None,
            classes: None,
        };
        for part in it {
            let inner = part.into_inner().next().expect("scope part");
            match inner.as_rule() {
                Rule::scope_principals => s.principals.extend(
                    inner
                        .into_inner()
                        .skip(1)
                        .map(|x| self.principal_pattern(x)),
                ),
                Rule::scope_may => s
                    .may
                    .extend(inner.into_inner().skip(1).map(|x| self.ident(x))),
                Rule::scope_in => {
                    let envs = s.envs.get_or_insert_with(Vec::new);
                    for e in inner.into_inner().skip(1) {
                        let v = e.into_inner().next().expect("env value");
                        envs.push(match v.as_rule() {
                            Rule::string => self.string(v),
                            _ => (v.as_str().to_string(), self.span(&v)),
                        });
                    }
                }
                Rule::scope_for => {
                    let list = inner.into_inner().nth(1).expect("scope narrowing");
                    let services = list.as_rule() == Rule::scope_services;
                    let items = list.into_inner().skip(1);
                    if services {
                        let out = s.services.get_or_insert_with(Vec::new);
                        for e in items {
                            let v = e.into_inner().next().expect("service value");
                            out.push(match v.as_rule() {
                                Rule::string => self.string(v),
                                _ => (v.as_str().to_string(), self.span(&v)),
                            });
                        }
                    } else {
                        let out = s.classes.get_or_insert_with(Vec::new);
                        out.extend(items.map(|c| self.ident(c)));
                    }
                }
                r => unreachable!("scope part {r:?}"),
            }
        }
        s
    }

    fn let_decl(&self, p: Pair<Rule>) -> LetDecl {
        let mut it = p.into_inner().skip(1);
        let name = self.ident(it.next().expect("let name"));
        let value = self.expr(it.next().expect("let value"));
        LetDecl { name, value }
    }

    fn fn_decl(&self, p: Pair<Rule>) -> FnDecl {
        let mut it = p.into_inner().skip(1);
        let name = self.ident(it.next().expect("fn name"));
        let mut params = Vec::new();
        let mut ret = None;
        let mut body = None;
        for c in it {
            match c.as_rule() {
                Rule::param => {
                    let mut pi = c.into_inner();
                    let pname = self.ident(pi.next().expect("param name"));
                    let ty = self.type_name(pi.next().expect("param type"));
                    params.push(Param { name: pname, ty });
                }
                Rule::type_name => ret = Some(self.type_name(c)),
                Rule::expr => body = Some(self.expr(c)),
                r => unreachable!("fn part {r:?}"),
            }
        }
        FnDecl {
            name,
            params,
            ret: ret.expect("fn has a return type"),
            body: body.expect("fn has a body"),
        }
    }

    fn policy(&self, p: Pair<Rule>) -> PolicyDecl {
        let mut it = p.into_inner().skip(1);
        let name = self.ident(it.next().expect("policy name"));
        let statements = it.map(|s| self.statement(s)).collect();
        PolicyDecl { name, statements }
    }

    fn statement(&self, p: Pair<Rule>) -> Statement {
        // The span starts at the statement's keyword, after its doc comments and annotations:
        // explanations point there.
        let mut span = self.span(&p);
        let mut attrs = Attrs::default();
        let mut kind = None;
        for c in p.into_inner() {
            if !matches!(c.as_rule(), Rule::doc | Rule::annotation) {
                span = self.span(&c);
            }
            match c.as_rule() {
                Rule::doc => attrs.docs.push(self.doc(c)),
                Rule::annotation => attrs.annotations.push(self.annotation(c)),
                Rule::applies_stmt => {
                    let e = c.into_inner().nth(2).expect("applies condition");
                    kind = Some(StatementKind::Applies(self.expr(e)));
                }
                Rule::require_stmt => {
                    let mut it = c.into_inner().skip(1);
                    let cond = self.expr(it.next().expect("require condition"));
                    let action = self.ident(it.nth(1).expect("require action"));
                    kind = Some(StatementKind::Require { cond, action });
                }
                Rule::rule_stmt => kind = Some(self.rule(c)),
                Rule::approval_stmt => kind = Some(self.approval(c)),
                Rule::forbid_stmt => {
                    let mut it = c.into_inner().skip(1);
                    let action = self.ident(it.next().expect("forbidden action"));
                    let name = self.ident(it.next().expect("forbid name"));
                    let _when = it.next();
                    let when = self.expr(it.next().expect("forbid condition"));
                    let unless = it.nth(1).map(|e| self.expr(e));
                    kind = Some(StatementKind::Forbid {
                        action,
                        name,
                        when,
                        unless,
                    });
                }
                Rule::let_decl => kind = Some(StatementKind::Let(self.let_decl(c))),
                r => unreachable!("statement {r:?}"),
            }
        }
        Statement {
            attrs,
            kind: kind.expect("the grammar requires a statement"),
            span,
        }
    }

    fn rule(&self, p: Pair<Rule>) -> StatementKind {
        let mut it = p.into_inner();
        let action = self.ident(it.next().expect("rule action"));
        let name = self.ident(it.next().expect("rule name"));
        let _when = it.next();
        let when = self.expr(it.next().expect("rule condition"));
        let mut window = None;
        let mut unless = None;
        while let Some(kw) = it.next() {
            let value = it.next().expect("keyword is followed by its operand");
            match kw.as_rule() {
                Rule::kw_for => window = Some(self.window(value)),
                Rule::kw_unless => unless = Some(self.expr(value)),
                r => unreachable!("rule part {r:?}"),
            }
        }
        StatementKind::Rule {
            action,
            name,
            when,
            window,
            unless,
        }
    }

    fn window(&self, p: Pair<Rule>) -> Expr {
        let span = self.span(&p);
        let inner = p.into_inner().next().expect("window value");
        match inner.as_rule() {
            Rule::quantity => self.quantity(inner),
            Rule::ident => Expr {
                kind: ExprKind::Name(self.ident(inner)),
                span,
            },
            _ => self.expr(inner),
        }
    }

    fn approval(&self, p: Pair<Rule>) -> StatementKind {
        let mut it = p.into_inner().skip(1);
        let name = self.ident(it.next().expect("approval name"));
        let _requires = it.next();
        let q = it.next().expect("approval count");
        let qspan = self.span(&q);
        let count = match self.quantity(q).kind {
            ExprKind::Number(n, Unit::None) => n,
            // `2%` or `2m` as a count: NaN makes the checker report E0012.
            _ => f64::NAN,
        };
        let _of = it.next();
        let of = self.principal_pattern(it.next().expect("approval principal"));
        let when = it.nth(1).map(|e| self.expr(e));
        StatementKind::Approval {
            name,
            count: (count, qspan),
            of,
            when,
        }
    }

    fn test(&self, p: Pair<Rule>) -> TestDecl {
        let mut it = p.into_inner().skip(1);
        let (title, _) = self.string(it.next().expect("test title"));
        let _snapshot = it.next();
        let (snapshot, snapshot_span) = self.string(it.next().expect("test snapshot"));
        let _expect = it.next();
        let expect = self.ident(it.next().expect("test action"));
        let mut by = Vec::new();
        let mut authority = Vec::new();
        for c in it {
            match c.as_rule() {
                Rule::rule_ref => by.push(self.ident(c.into_inner().next().expect("rule ref"))),
                Rule::test_authority => {
                    let e = c.into_inner().nth(1).expect("what the test expects");
                    let span = self.span(&e);
                    authority.push(match e.as_rule() {
                        Rule::expect_authorized => TestAuthority::Authorized(
                            !e.into_inner().any(|w| w.as_rule() == Rule::kw_not),
                            span,
                        ),
                        _ => TestAuthority::RequesterMay(
                            e.into_inner().skip(1).map(|w| self.ident(w)).collect(),
                            span,
                        ),
                    });
                }
                _ => {}
            }
        }
        TestDecl {
            title,
            snapshot,
            snapshot_span,
            expect,
            by,
            authority,
        }
    }

    fn quantity(&self, p: Pair<Rule>) -> Expr {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let n: f64 = it
            .next()
            .expect("quantity has a number")
            .as_str()
            .parse()
            .unwrap_or(f64::INFINITY);
        let unit = match it.next().map(|u| u.as_str()) {
            None => Unit::None,
            Some("%") => Unit::Percent,
            Some("ms") => Unit::Millis,
            Some("s") => Unit::Seconds,
            Some("m") => Unit::Minutes,
            Some(_) => Unit::Hours,
        };
        Expr {
            kind: ExprKind::Number(n, unit),
            span,
        }
    }

    fn expr(&self, p: Pair<Rule>) -> Expr {
        let cx = *self;
        PRATT
            .map_primary(move |p| cx.primary(p))
            .map_prefix(move |op, rhs| {
                let span = cx.span(&op).to(rhs.span);
                let op = match op.as_rule() {
                    Rule::op_neg => UnaryOp::Neg,
                    _ => UnaryOp::Not,
                };
                Expr {
                    kind: ExprKind::Unary(op, Box::new(rhs)),
                    span,
                }
            })
            .map_postfix(move |lhs, op| {
                let span = lhs.span.to(cx.span(&op));
                let rule = op.as_rule();
                let target = op.into_inner().nth(1).expect("postfix operand");
                let kind = if rule == Rule::op_is {
                    let t = target.into_inner().next().expect("is target");
                    let it = match t.as_rule() {
                        Rule::kw_irreversible => IsTarget::Irreversible,
                        Rule::kw_security_fix => IsTarget::SecurityFix,
                        _ => IsTarget::Word(cx.principal(t)),
                    };
                    ExprKind::Is(Box::new(lhs), it)
                } else {
                    ExprKind::Touches(Box::new(lhs), cx.ident(target))
                };
                Expr { kind, span }
            })
            .map_infix(move |lhs, op, rhs| {
                let span = lhs.span.to(rhs.span);
                let bin = match op.as_rule() {
                    Rule::op_cond => {
                        let mid = cx.expr(op.into_inner().next().expect("ternary middle"));
                        return Expr {
                            kind: ExprKind::Cond(Box::new(lhs), Box::new(mid), Box::new(rhs)),
                            span,
                        };
                    }
                    Rule::op_or => BinOp::Or,
                    Rule::op_and => BinOp::And,
                    Rule::op_eq => BinOp::Eq,
                    Rule::op_ne => BinOp::Ne,
                    Rule::op_lt => BinOp::Lt,
                    Rule::op_le => BinOp::Le,
                    Rule::op_gt => BinOp::Gt,
                    Rule::op_ge => BinOp::Ge,
                    Rule::op_in => BinOp::In,
                    Rule::op_add => BinOp::Add,
                    Rule::op_sub => BinOp::Sub,
                    Rule::op_mul => BinOp::Mul,
                    Rule::op_div => BinOp::Div,
                    Rule::op_rem => BinOp::Rem,
                    r => unreachable!("infix {r:?}"),
                };
                Expr {
                    kind: ExprKind::Binary(bin, Box::new(lhs), Box::new(rhs)),
                    span,
                }
            })
            .parse(p.into_inner())
    }

    fn primary(&self, p: Pair<Rule>) -> Expr {
        let span = self.span(&p);
        let kind = match p.as_rule() {
            Rule::quantity => return self.quantity(p),
            Rule::string => ExprKind::Str(self.string(p).0),
            Rule::boolean => ExprKind::Bool(p.as_str() == "true"),
            Rule::name => ExprKind::Name(self.ident(p.into_inner().next().expect("name"))),
            Rule::class_ref => ExprKind::Class,
            Rule::paren => {
                ExprKind::Paren(Box::new(self.expr(p.into_inner().next().expect("paren"))))
            }
            Rule::list => ExprKind::List(p.into_inner().map(|e| self.expr(e)).collect()),
            Rule::cel_call => {
                let (src, sspan) = self.string(p.into_inner().next().expect("cel source"));
                ExprKind::Cel(src, sspan)
            }
            Rule::call => {
                let mut it = p.into_inner();
                let name = self.ident(it.next().expect("call name"));
                ExprKind::Call(name, it.map(|e| self.expr(e)).collect())
            }
            Rule::fresh_call => {
                let mut args = Vec::new();
                let mut window = None;
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::expr => args.push(self.expr(c)),
                        Rule::window => window = Some(self.window(c)),
                        _ => {}
                    }
                }
                ExprKind::Fresh(args, Box::new(window.expect("fresh has a window")))
            }
            Rule::window_call => {
                let mut it = p.into_inner();
                let f = match it.next().expect("window fn").as_str() {
                    "max" => WindowFn::Max,
                    "min" => WindowFn::Min,
                    _ => WindowFn::Avg,
                };
                let arg = self.expr(it.next().expect("window arg"));
                let _over = it.next();
                let w = self.window(it.next().expect("window length"));
                ExprKind::Window(f, Box::new(arg), Box::new(w))
            }
            Rule::deployment_path => {
                let parts = p
                    .into_inner()
                    .map(|part| {
                        let inner = part.into_inner().next().expect("path part");
                        match inner.as_rule() {
                            Rule::word => PathPart::Field(self.ident(inner)),
                            _ => {
                                let (s, sp) = self.string(inner);
                                PathPart::Index(s, sp)
                            }
                        }
                    })
                    .collect();
                ExprKind::Deployment(parts)
            }
            r => unreachable!("primary {r:?}"),
        };
        Expr { kind, span }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (File, Vec<Diagnostic>) {
        parse_file(FileId(0), text)
    }

    #[test]
    fn precedence_follows_cel_with_not_below_comparisons() {
        let e = parse_expr(FileId(0), "not a > 1 and b or c").unwrap();
        // ((not (a > 1)) and b) or c
        let ExprKind::Binary(BinOp::Or, l, _) = e.kind else {
            panic!("{e:?}")
        };
        let ExprKind::Binary(BinOp::And, l, _) = l.kind else {
            panic!()
        };
        let ExprKind::Unary(UnaryOp::Not, inner) = l.kind else {
            panic!()
        };
        assert!(matches!(inner.kind, ExprKind::Binary(BinOp::Gt, _, _)));
    }

    #[test]
    fn percent_after_space_is_remainder() {
        let e = parse_expr(FileId(0), "a % 2").unwrap();
        assert!(matches!(e.kind, ExprKind::Binary(BinOp::Rem, _, _)));
        let e = parse_expr(FileId(0), "5%").unwrap();
        assert!(matches!(e.kind, ExprKind::Number(n, Unit::Percent) if n == 5.0));
    }

    #[test]
    fn arithmetic_binds_tighter_than_is() {
        let e = parse_expr(FileId(0), "a * 2 + 1 > b").unwrap();
        let ExprKind::Binary(BinOp::Gt, l, _) = e.kind else {
            panic!()
        };
        assert!(matches!(l.kind, ExprKind::Binary(BinOp::Add, _, _)));
    }

    #[test]
    fn statements_run_to_the_next_keyword_across_lines() {
        let (f, d) = parse(
            "policy p {\n  rollback a when x > 1%\n    and y > 2\n    unless z\n  halt b when q\n}\n",
        );
        assert!(d.is_empty(), "{d:?}");
        let ItemKind::Policy(p) = &f.items[0].kind else {
            panic!()
        };
        assert_eq!(p.statements.len(), 2);
    }

    #[test]
    fn syntax_error_says_what_was_expected_in_words() {
        let (_, d) = parse("policy p {\n  halt slow when p99 >= and x\n}\n");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].message, "expected a value after `>=`");
        let (_, d) = parse("policy p {\n  halt slow when\n}\n");
        assert!(
            d[0].message
                .starts_with("expected a condition after `when`"),
            "{}",
            d[0].message
        );
    }

    #[test]
    fn recovers_at_the_next_top_level_keyword() {
        let (f, d) = parse(
            "signal a: ratio = \nsignal b: ratio = \"b\"\npolicy p { halt x when }\nlet c = 1\n",
        );
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(f.items.len(), 2);
    }

    #[test]
    fn a_doc_comment_ends_an_expression() {
        let (f, d) = parse(
            "let floor = 1%\n\n/// A migration.\nclass m { irreversible }\nlet h = 4 / 2 // half\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(f.items.len(), 3);
        assert_eq!(f.items[1].attrs.docs, ["A migration."]);
    }

    #[test]
    fn a_syntax_error_after_docs_and_annotations_is_reported_once() {
        let text = "/// Doc.\n@severity(\"high\") @allow(W0007)\n@mode(\"dry_run\")\npolicy p {\n  halt x when a >\n}\nlet b = 1\n";
        let (f, d) = parse(text);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(f.items.len(), 1);
        assert_eq!(f.unparsed.len(), 1);
        assert_eq!(f.unparsed[0].keyword, "policy");
        assert_eq!(f.unparsed[0].name.as_deref(), Some("p"));
    }

    #[test]
    fn long_operator_chains_are_refused_not_overflowed() {
        let text = format!("let a = {}1", "!".repeat(5_000));
        let (_, d) = parse(&text);
        assert_eq!(d.len(), 1, "{d:?}");
        let text = format!("let a = 1{}", " + 1".repeat(5_000));
        let (_, d) = parse(&text);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].message.contains("deep"));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = format!("let a = {}1{}", "(".repeat(10_000), ")".repeat(10_000));
        let (_, d) = parse(&text);
        assert_eq!(d.len(), 1);
        assert!(d[0].message.contains("nested"));
    }
}
