//! Expressions: the dispatch over expression kinds, and the kinds that need no name look-up of
//! their own (literals, lists, `not`, `? :`, `cel(...)`, `is`, `touches`). Types and units are
//! checked and IR nodes built in the same step.

use std::collections::HashMap;

use super::analysis::Role;
use super::lower::{Lower, Lowered};
use super::ty::Ty;
use crate::codes::Code;
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::ir::{self, value, Field, Node, NodeId, PrincipalKind};
use crate::source::Span;
use crate::syntax::ast::{self, ExprKind, IsTarget, UnaryOp, Unit as LitUnit};
use crate::syntax::lexicon::PRINCIPAL_KINDS;

/// Where an expression stands, which decides whether `fresh` and `has` may appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// A `let` or `fn` body checked on its own: judged where it is used.
    Anywhere,
    Applies,
    Require,
    ApprovalWhen,
    Rule,
}

#[derive(Clone, Debug)]
pub(crate) enum Binding {
    /// A `fn` parameter while the body is checked on its own, with the span of its name.
    Typed(Ty, Span),
    /// A `fn` parameter bound to an argument while the call is inlined.
    Bound(NodeId, Ty),
}

#[derive(Clone)]
pub(crate) struct Env<'e> {
    pub unit: usize,
    pub place: Place,
    pub params: HashMap<String, Binding>,
    /// The policy's local lets, and the policy's index among declarations.
    pub locals: Option<(&'e HashMap<String, &'e ast::LetDecl>, usize)>,
}

/// The column and the gist of a CEL parse error, without the parser's token names.
pub(super) fn cel_error(message: &str) -> (usize, String) {
    let line = message
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let line = line.strip_prefix("ERROR: ").unwrap_or(line);
    let mut column = 1;
    let mut rest = line;
    if let Some(tail) = line.strip_prefix("<input>:") {
        let mut parts = tail.splitn(3, ':');
        let _line = parts.next();
        column = parts
            .next()
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(1);
        rest = parts.next().unwrap_or("").trim();
    }
    let gist = rest.split(" expecting ").next().unwrap_or(rest).trim();
    let gist = gist.strip_prefix("Syntax error: ").unwrap_or(gist);
    let gist = if gist.contains("'<EOF>'") {
        "the expression ends too early"
    } else {
        gist
    };
    (
        column,
        if gist.is_empty() {
            "syntax error".to_string()
        } else {
            gist.to_string()
        },
    )
}

impl Lower<'_> {
    pub fn expr(&mut self, e: &ast::Expr, env: &Env) -> Lowered {
        match &e.kind {
            ExprKind::Number(n, unit) => {
                let (ty, v) = match unit {
                    LitUnit::None => (Ty::Number, *n),
                    LitUnit::Percent => (Ty::Ratio, value::exact(*n, 1, 100)),
                    LitUnit::Millis => (Ty::Duration, value::exact(*n, 1, 1000)),
                    LitUnit::Seconds => (Ty::Duration, *n),
                    LitUnit::Minutes => (Ty::Duration, value::exact(*n, 60, 1)),
                    LitUnit::Hours => (Ty::Duration, value::exact(*n, 3600, 1)),
                };
                (ty, self.push(Node::Num(v)))
            }
            ExprKind::Str(s) => (Ty::Str, self.push(Node::Str(s.clone()))),
            ExprKind::Bool(b) => (Ty::Bool, self.push(Node::Bool(*b))),
            ExprKind::Paren(inner) => self.expr(inner, env),
            ExprKind::Name(id) => self.name(id, env),
            ExprKind::Class => (Ty::Class, self.push(Node::Field(Field::Class))),
            ExprKind::Deployment(parts) => self.deployment(e, parts),
            ExprKind::List(items) => {
                let mut ty: Option<Ty> = None;
                let mut nodes = Vec::new();
                for it in items {
                    let (t, n) = self.expr(it, env);
                    match &ty {
                        Some(prev)
                            if *prev != Ty::Error && t != Ty::Error && !prev.same_kind(&t) =>
                        {
                            let d = Diagnostic::error(
                                Code::TypeMismatch,
                                it.span,
                                format!(
                                    "a list holds one type: `{}` is {}, the first item {}",
                                    self.text(it),
                                    t.article(),
                                    prev.article()
                                ),
                            )
                            .label(t.article())
                            .help("make every item of the list the same type");
                            self.err(d);
                        }
                        None => ty = Some(t),
                        _ => {}
                    }
                    nodes.push(n);
                }
                (
                    Ty::List(Box::new(ty.unwrap_or(Ty::Error))),
                    self.push(Node::List(nodes)),
                )
            }
            ExprKind::Call(name, args) => self.call(e, name, args, env),
            ExprKind::Fresh(args, within) => self.fresh(e, args, within, env),
            ExprKind::Window(f, arg, over) => self.window_fn(e, *f, arg, over, env),
            ExprKind::Cel(src, span) => {
                let compiled = match cel::Program::compile(src) {
                    Ok(p) => p,
                    Err(err) => {
                        let (column, what) = cel_error(&err.to_string());
                        // Point inside the string: one past the opening quote, plus the column.
                        let at = (span.start + column as u32).min(span.end.saturating_sub(1));
                        let d = Diagnostic::error(
                        Code::CelSyntax,
                        Span { start: at, end: at + 1, ..*span },
                        format!("the CEL expression does not parse: {what}"),
                    )
                    .label("here")
                    .help("CEL conditions are parsed when the policy is compiled; complete the expression, or write the condition in rollguard");
                        self.err(d);
                        return (Ty::Error, self.push(Node::Bool(false)));
                    }
                };
                // Kept for the evaluator, so a condition is compiled once.
                self.program.cel.push(src.clone());
                self.cel.push(compiled);
                let id = (self.program.cel.len() - 1) as u32;
                (Ty::Bool, self.push(Node::Cel(id)))
            }
            ExprKind::Unary(op, inner) => {
                let (t, n) = self.expr(inner, env);
                match op {
                    UnaryOp::Not => {
                        self.expect_bool(inner, &t, "`not` takes a condition");
                        (Ty::Bool, self.not(n))
                    }
                    UnaryOp::Neg => {
                        if t != Ty::Error && !t.is_numeric() {
                            let d = Diagnostic::error(
                                Code::TypeMismatch,
                                inner.span,
                                format!(
                                    "cannot negate `{}`: it is {}",
                                    self.text(inner),
                                    t.article()
                                ),
                            )
                            .label(t.article())
                            .help("`-` applies to numbers, ratios and durations");
                            self.err(d);
                            return (Ty::Error, n);
                        }
                        let ty = if t.is_plain() { Ty::Number } else { t };
                        let node = match self.num(n) {
                            Some(v) => self.push(Node::Num(-v)),
                            None => self.push(Node::Neg(n)),
                        };
                        (ty, node)
                    }
                }
            }
            ExprKind::Binary(op, l, r) => self.binary(e, *op, l, r, env),
            ExprKind::Cond(c, a, b) => {
                let (ct, cn) = self.expr(c, env);
                self.expect_bool(c, &ct, "the condition of `? :` must be a bool");
                let (at, an) = self.expr(a, env);
                let (bt, bn) = self.expr(b, env);
                let ty = if at == Ty::Error || bt == Ty::Error {
                    Ty::Error
                } else if at.same_kind(&bt) {
                    if at == bt {
                        at
                    } else {
                        Ty::Number
                    }
                } else {
                    let d = Diagnostic::error(
                        Code::TypeMismatch,
                        b.span,
                        format!(
                            "both branches of `? :` must have one type: `{}` is {}, `{}` is {}",
                            self.text(a),
                            at.article(),
                            self.text(b),
                            bt.article()
                        ),
                    )
                    .label(bt.article())
                    .help("make both branches the same type");
                    self.err(d);
                    Ty::Error
                };
                let node = match self.boolean(cn) {
                    Some(true) => an,
                    Some(false) => bn,
                    None => self.push(Node::Cond(cn, an, bn)),
                };
                (ty, node)
            }
            ExprKind::Is(lhs, target) => self.is(e, lhs, target, env),
            ExprKind::Touches(lhs, tag) => {
                if self.recording() {
                    self.analysis.tag(tag.span, &tag.name);
                }
                let (t, n) = self.expr(lhs, env);
                if t != Ty::Class && t != Ty::Error {
                    let d = Diagnostic::error(
                        Code::TypeMismatch,
                        lhs.span,
                        format!(
                            "`touches` tests a class, and `{}` is {}",
                            self.text(lhs),
                            t.article()
                        ),
                    )
                    .label(t.article())
                    .help("write `class touches secrets`");
                    self.err(d);
                    return (Ty::Error, n);
                }
                match self.tag_ids.get(&tag.name) {
                    Some(&id) => {
                        self.used_tags.insert(id);
                        (Ty::Bool, self.push(Node::ClassTouches(id)))
                    }
                    None if self.in_unparsed("class", &tag.name) => {
                        (Ty::Error, self.push(Node::Bool(false)))
                    }
                    None => {
                        let mut d = Diagnostic::error(
                            Code::UnknownTag,
                            tag.span,
                            format!("no class of the set touches `{}`", tag.name),
                        )
                        .label("unknown tag");
                        let tags: Vec<&str> =
                            self.program.tags.iter().map(String::as_str).collect();
                        d = match did_you_mean(&tag.name, tags.iter().copied()) {
                            Some(s) => d.help(format!("did you mean `{s}`? (this condition could never hold)")).replace_with(tag.span, &s),
                            None if tags.is_empty() => d.help("declare a class that touches it, e.g. `class vault_change { touches [secrets] }`, or `use std::classes`"),
                            None => d.help(format!("declared tags: {}", tags.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "))),
                        };
                        self.err(d);
                        (Ty::Error, self.push(Node::Bool(false)))
                    }
                }
            }
        }
    }

    pub fn expect_bool(&mut self, e: &ast::Expr, t: &Ty, what: &str) {
        if *t != Ty::Bool && *t != Ty::Error {
            let help = if t.is_numeric() {
                format!("compare it, e.g. `{} > ...`", self.text(e))
            } else {
                "write a condition that is true or false".to_string()
            };
            let d = Diagnostic::error(
                Code::TypeMismatch,
                e.span,
                format!("{what}; `{}` is {}", self.text(e), t.article()),
            )
            .label(format!("{}, not a bool", t.article()))
            .help(help);
            self.err(d);
        }
    }

    pub(super) fn is(
        &mut self,
        e: &ast::Expr,
        lhs: &ast::Expr,
        target: &IsTarget,
        env: &Env,
    ) -> Lowered {
        if let (IsTarget::Word(p), true) = (target, self.recording()) {
            let word = p.kind.name.as_str();
            match self.class_spans.get(word) {
                Some(&class) if p.id.is_none() => {
                    self.analysis.name(p.kind.span, Some(class), &Ty::Class)
                }
                _ if PRINCIPAL_KINDS.contains(&word) => {
                    self.analysis.word(p.kind.span, Role::PrincipalKind, None)
                }
                _ => self.analysis.name(p.kind.span, None, &Ty::Error),
            }
        }
        let (t, n) = self.expr(lhs, env);
        match (&t, target) {
            (Ty::Error, _) => (Ty::Error, n),
            (Ty::Class, IsTarget::Irreversible) => (Ty::Bool, self.push(Node::ClassIrreversible)),
            (Ty::Class, IsTarget::SecurityFix) => (Ty::Bool, self.push(Node::ClassSecurityFix)),
            (Ty::Class, IsTarget::Word(p)) if p.id.is_none() => {
                match self.class_ids.get(&p.kind.name) {
                    Some(&id) => {
                        self.used_classes.insert(id);
                        (Ty::Bool, self.push(Node::ClassIs(id)))
                    }
                    None if self.in_unparsed("class", &p.kind.name) => {
                        (Ty::Error, self.push(Node::Bool(false)))
                    }
                    None => {
                        let mut names: Vec<&str> = self
                            .program
                            .classes
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect();
                        names.extend(["irreversible", "security_fix"]);
                        let mut d = Diagnostic::error(
                            Code::UnknownClass,
                            p.kind.span,
                            format!("the set declares no class `{}`", p.kind.name),
                        )
                        .label("unknown class");
                        d = match did_you_mean(&p.kind.name, names) {
                        Some(s) => d.help(format!("did you mean `{s}`?")).replace_with(p.kind.span, &s),
                        None => d.help("declare it with `class NAME { ... }`, or `use std::classes` for the standard classes"),
                    };
                        self.err(d);
                        (Ty::Error, self.push(Node::Bool(false)))
                    }
                }
            }
            (Ty::Principal, IsTarget::Word(p)) => match self.principal_pat(p) {
                Some(pat) => (Ty::Bool, self.push(Node::PrincipalIs(n, pat))),
                None => (Ty::Error, self.push(Node::Bool(false))),
            },
            _ => {
                let d = Diagnostic::error(
                    Code::TypeMismatch,
                    e.span,
                    format!("`is` does not apply here: `{}` is {}", self.text(lhs), t.article()),
                )
                .label("cannot test this")
                .help("`class is schema_migration`, `class is irreversible` and `deployment.actor is agent` are the forms of `is`");
                self.err(d);
                (Ty::Error, self.push(Node::Bool(false)))
            }
        }
    }

    /// A principal pattern as written: `human`, `agent "x"`, `group "sre"`.
    pub fn principal_pat(&mut self, p: &ast::PrincipalPat) -> Option<ir::PrincipalPat> {
        let Some(within) = &p.within else {
            return self.simple_principal_pat(p);
        };
        let outer = self.simple_principal_pat(p);
        // Only a group can follow `in`: a principal has one kind and one id, so `human in agent`
        // could never match, and `human in human` says nothing more than `human`.
        if within.kind.name != "group" {
            let d = Diagnostic::error(
                Code::UnknownPrincipalKind,
                within.span,
                format!(
                    "`in` takes a group, and `{}` is not one",
                    self.sources.text(within.span)
                ),
            )
            .label("not a group")
            .help(format!(
                "name the group the principal must be in: `{} in group \"sre\"`",
                self.sources.text(p.kind.span)
            ));
            self.err(d);
            return None;
        }
        let group = self.simple_principal_pat(within)?;
        Some(ir::PrincipalPat::In(Box::new(outer?), Box::new(group)))
    }

    fn simple_principal_pat(&mut self, p: &ast::PrincipalPat) -> Option<ir::PrincipalPat> {
        let kind = p.kind.name.as_str();
        if kind == "group" {
            return match &p.id {
                Some((g, _)) => Some(ir::PrincipalPat::Group(g.clone())),
                None => {
                    let d = Diagnostic::error(
                        Code::UnknownPrincipalKind,
                        p.span,
                        "`group` needs the group's name",
                    )
                    .label("which group?")
                    .help("write `group \"sre-oncall\"`");
                    self.err(d);
                    None
                }
            };
        }
        match PrincipalKind::parse(kind) {
            Some(k) => Some(match &p.id {
                Some((id, _)) => ir::PrincipalPat::Identity(k, id.clone()),
                None => ir::PrincipalPat::Kind(k),
            }),
            None => {
                let kinds = ["human", "agent", "service_account", "group"];
                let mut d = Diagnostic::error(
                    Code::UnknownPrincipalKind,
                    p.kind.span,
                    format!("`{kind}` is not a kind of principal"),
                )
                .label("unknown principal kind");
                d = match did_you_mean(kind, kinds) {
                    Some(s) => d.help(format!("did you mean `{s}`?")).replace_with(p.kind.span, &s),
                    None => d.help("principals are `human`, `agent`, `service_account` (optionally with an id in quotes) or `group \"name\"`"),
                };
                self.err(d);
                None
            }
        }
    }
}
