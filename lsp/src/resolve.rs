//! Every name in a file and what it refers to, read from the library's AST.
//!
//! The checker resolves names too, but keeps the result to itself (it lowers names straight to
//! slots); this walk follows the same rules (see `docs/language.md` §3): a fn's parameters, then
//! the policy's own lets, then the set's values and the file's imports.

use std::collections::HashMap;

use rollguard::syntax::ast::{
    self, Expr, ExprKind, IsTarget, ItemKind, PathPart, PrincipalPat, StatementKind, UseTarget,
};
use rollguard::syntax::lexicon::{PRINCIPAL_KINDS, SIGNAL_FUNCTIONS};

use crate::db::{DefKind, DefRef, Scope, SourceFile, UseOf};

/// What a name (or a word with a meaning) is, for highlighting and for the features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Token {
    Def(DefKind),
    /// `baseline`, `samples`, `age`, `delta`, `has` (called like fns).
    Builtin,
    /// A `deployment.` field.
    Field,
    /// `human`, `agent`, `service_account`, `group`.
    PrincipalKind,
    /// A rule's or gate's action, a test's expectation, a scope's grant.
    Action,
    /// A type name (`ratio`).
    Type,
    /// An annotation's key (`@severity`).
    Annotation,
    /// A diagnostic code in `@allow(W0005)`.
    Code,
    /// A name that refers to nothing declared.
    Unresolved,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occurrence {
    pub start: u32,
    pub end: u32,
    pub token: Token,
    /// What the name refers to (for a declaration: itself).
    pub def: Option<DefRef>,
    pub is_def: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Resolved {
    /// Sorted by start.
    pub occurrences: Vec<Occurrence>,
}

impl Resolved {
    /// The name at `offset` (its start up to and including its end, so a cursor just after a
    /// name finds it).
    pub fn at(&self, offset: u32) -> Option<&Occurrence> {
        let i = self.occurrences.partition_point(|o| o.start <= offset);
        self.occurrences[..i]
            .iter()
            .rev()
            .take(4)
            .find(|o| o.start <= offset && offset <= o.end)
    }

    pub fn references_to<'a>(&'a self, def: &'a DefRef) -> impl Iterator<Item = &'a Occurrence> {
        self.occurrences
            .iter()
            .filter(move |o| o.def.as_ref() == Some(def))
    }
}

struct Walk<'a> {
    file: SourceFile,
    scope: &'a Scope,
    out: Vec<Occurrence>,
}

/// The names in scope inside an expression, besides the set's.
#[derive(Default, Clone)]
struct Env<'a> {
    /// Parameters of the fn being read, with the fn's name.
    params: Option<(&'a str, HashMap<&'a str, ()>)>,
    /// Lets of the policy being read, with the policy's name.
    locals: Option<(&'a str, HashMap<&'a str, ()>)>,
}

pub fn resolve(
    file: SourceFile,
    ast: &ast::File,
    scope: &Scope,
    imports: &[(UseOf, Option<SourceFile>)],
) -> Resolved {
    let mut w = Walk {
        file,
        scope,
        out: Vec::new(),
    };
    let mut use_index = 0;
    for item in &ast.items {
        w.attrs(&item.attrs);
        match &item.kind {
            ItemKind::Use(u) => {
                let target = imports.get(use_index).and_then(|(_, t)| *t);
                use_index += 1;
                let span = match &u.target {
                    UseTarget::Std(m) => m.span,
                    UseTarget::Path(_) => u.target_span,
                };
                w.push(
                    span,
                    Token::Def(DefKind::Module),
                    target.map(|t| DefRef {
                        file: t,
                        kind: DefKind::Module,
                        container: None,
                        name: String::new(),
                    }),
                    false,
                );
            }
            ItemKind::Signal(s) => {
                w.def(&s.name, DefKind::Signal, None);
                w.push(s.ty.span, Token::Type, None, false);
            }
            ItemKind::Class(c) => {
                w.def(&c.name, DefKind::Class, None);
                for t in &c.tags {
                    w.def(t, DefKind::Tag, Some(&c.name.name));
                }
            }
            ItemKind::Scope(s) => {
                w.def(&s.name, DefKind::Scope, None);
                for p in &s.principals {
                    w.push(p.kind.span, Token::PrincipalKind, None, false);
                }
                for g in &s.may {
                    w.push(g.span, Token::Action, None, false);
                }
            }
            ItemKind::Let(l) => {
                w.def(&l.name, DefKind::Let, None);
                w.expr(&l.value, &Env::default());
            }
            ItemKind::Fn(f) => {
                w.def(&f.name, DefKind::Fn, None);
                let mut params = HashMap::new();
                for p in &f.params {
                    w.def(&p.name, DefKind::Param, Some(&f.name.name));
                    w.push(p.ty.span, Token::Type, None, false);
                    params.insert(p.name.name.as_str(), ());
                }
                w.push(f.ret.span, Token::Type, None, false);
                let env = Env {
                    params: Some((&f.name.name, params)),
                    locals: None,
                };
                w.expr(&f.body, &env);
            }
            ItemKind::Policy(p) => {
                w.def(&p.name, DefKind::Policy, None);
                let locals: HashMap<&str, ()> = p
                    .statements
                    .iter()
                    .filter_map(|s| match &s.kind {
                        StatementKind::Let(l) => Some((l.name.name.as_str(), ())),
                        _ => None,
                    })
                    .collect();
                let env = Env {
                    params: None,
                    locals: Some((&p.name.name, locals)),
                };
                let policy = Some(p.name.name.as_str());
                for s in &p.statements {
                    w.attrs(&s.attrs);
                    match &s.kind {
                        StatementKind::Applies(e) => w.expr(e, &env),
                        StatementKind::Require { cond, action } => {
                            w.expr(cond, &env);
                            w.push(action.span, Token::Action, None, false);
                        }
                        StatementKind::Rule {
                            action,
                            name,
                            when,
                            window,
                            unless,
                        } => {
                            w.push(action.span, Token::Action, None, false);
                            w.def(name, DefKind::Rule, policy);
                            w.expr(when, &env);
                            if let Some(e) = window {
                                w.expr(e, &env);
                            }
                            if let Some(e) = unless {
                                w.expr(e, &env);
                            }
                        }
                        StatementKind::Approval { name, of, when, .. } => {
                            w.def(name, DefKind::Approval, policy);
                            w.principal(of);
                            if let Some(e) = when {
                                w.expr(e, &env);
                            }
                        }
                        StatementKind::Let(l) => {
                            w.def(&l.name, DefKind::Local, policy);
                            w.expr(&l.value, &env);
                        }
                    }
                }
            }
            ItemKind::Test(t) => {
                w.push(t.expect.span, Token::Action, None, false);
                for r in &t.by {
                    let def = scope
                        .set
                        .rules
                        .get(&r.name)
                        .and_then(|defs| defs.first())
                        .cloned();
                    let token = match &def {
                        Some(d) => Token::Def(d.kind),
                        None => Token::Unresolved,
                    };
                    w.push(r.span, token, def, false);
                }
            }
        }
    }
    w.out.sort_by_key(|o| (o.start, o.end));
    w.out.dedup_by(|a, b| a.start == b.start && a.end == b.end);
    Resolved { occurrences: w.out }
}

impl Walk<'_> {
    fn push(
        &mut self,
        span: rollguard::source::Span,
        token: Token,
        def: Option<DefRef>,
        is_def: bool,
    ) {
        if span.end > span.start {
            self.out.push(Occurrence {
                start: span.start,
                end: span.end,
                token,
                def,
                is_def,
            });
        }
    }

    fn def(&mut self, name: &ast::Ident, kind: DefKind, container: Option<&str>) {
        let def = DefRef {
            file: self.file,
            kind,
            container: container.map(str::to_string),
            name: name.name.clone(),
        };
        self.push(name.span, Token::Def(kind), Some(def), true);
    }

    fn attrs(&mut self, attrs: &ast::Attrs) {
        for a in &attrs.annotations {
            self.push(a.key.span, Token::Annotation, None, false);
            if let Some((v, span)) = &a.value {
                if a.key.name == "allow" && rollguard::Code::parse(v).is_some() {
                    // The value's span includes its quotes when it is a string.
                    self.push(*span, Token::Code, None, false);
                }
            }
        }
    }

    fn principal(&mut self, p: &PrincipalPat) {
        self.push(p.kind.span, Token::PrincipalKind, None, false);
    }

    fn name(&mut self, id: &ast::Ident, env: &Env) {
        if let Some((f, params)) = &env.params {
            if params.contains_key(id.name.as_str()) {
                let def = DefRef {
                    file: self.file,
                    kind: DefKind::Param,
                    container: Some(f.to_string()),
                    name: id.name.clone(),
                };
                self.push(id.span, Token::Def(DefKind::Param), Some(def), false);
                return;
            }
        }
        if let Some((p, locals)) = &env.locals {
            if locals.contains_key(id.name.as_str()) {
                let def = DefRef {
                    file: self.file,
                    kind: DefKind::Local,
                    container: Some(p.to_string()),
                    name: id.name.clone(),
                };
                self.push(id.span, Token::Def(DefKind::Local), Some(def), false);
                return;
            }
        }
        match self.scope.value(&id.name) {
            Some(d) => {
                let d = d.clone();
                self.push(id.span, Token::Def(d.kind), Some(d), false);
            }
            None => self.push(id.span, Token::Unresolved, None, false),
        }
    }

    fn expr(&mut self, e: &Expr, env: &Env) {
        match &e.kind {
            ExprKind::Number(..) | ExprKind::Str(_) | ExprKind::Bool(_) | ExprKind::Class => {}
            ExprKind::Cel(..) => {}
            ExprKind::Name(id) => self.name(id, env),
            ExprKind::Deployment(parts) => {
                for p in parts {
                    if let PathPart::Field(id) = p {
                        self.push(id.span, Token::Field, None, false);
                    }
                }
            }
            ExprKind::List(items) => {
                for i in items {
                    self.expr(i, env);
                }
            }
            ExprKind::Call(id, args) => {
                if SIGNAL_FUNCTIONS.contains(&id.name.as_str()) {
                    self.push(id.span, Token::Builtin, None, false);
                } else {
                    self.name(id, env);
                }
                for a in args {
                    self.expr(a, env);
                }
            }
            ExprKind::Fresh(args, window) => {
                for a in args {
                    self.expr(a, env);
                }
                self.expr(window, env);
            }
            ExprKind::Window(_, arg, window) => {
                self.expr(arg, env);
                self.expr(window, env);
            }
            ExprKind::Unary(_, x) | ExprKind::Paren(x) => self.expr(x, env),
            ExprKind::Binary(_, a, b) => {
                self.expr(a, env);
                self.expr(b, env);
            }
            ExprKind::Cond(c, a, b) => {
                self.expr(c, env);
                self.expr(a, env);
                self.expr(b, env);
            }
            ExprKind::Is(x, target) => {
                self.expr(x, env);
                if let IsTarget::Word(p) = target {
                    let word = p.kind.name.as_str();
                    match self.scope.set.classes.get(word) {
                        Some(d) if p.id.is_none() => {
                            let d = d.clone();
                            self.push(p.kind.span, Token::Def(DefKind::Class), Some(d), false);
                        }
                        _ if PRINCIPAL_KINDS.contains(&word) => self.principal(p),
                        _ => self.push(p.kind.span, Token::Unresolved, None, false),
                    }
                }
            }
            ExprKind::Touches(x, tag) => {
                self.expr(x, env);
                match self.scope.set.tags.get(&tag.name) {
                    Some(d) => {
                        let d = d.clone();
                        self.push(tag.span, Token::Def(DefKind::Tag), Some(d), false);
                    }
                    None => self.push(tag.span, Token::Unresolved, None, false),
                }
            }
        }
    }
}
