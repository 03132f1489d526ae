//! Expressions: names, types and units checked, IR nodes built, lets and fns inlined.

use std::collections::{HashMap, HashSet};

use super::decls::{item, Decls};
use super::ty::Ty;
use super::{DeclRef, Unit};
use crate::codes::Code;
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::ir::{self, value, ArithOp, CmpOp, Field, Node, NodeId, PrincipalKind, Program, SlotId};
use crate::source::{Sources, Span};
use crate::syntax::ast::{
    self, BinOp, ExprKind, IsTarget, ItemKind, PathPart, UnaryOp, Unit as LitUnit,
};

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
    /// A `fn` parameter while the body is checked on its own.
    Typed(Ty),
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

/// What the inliner is expanding, to find cycles.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Frame {
    Decl(DeclRef),
    Local(usize, String),
}

pub(crate) struct Lower<'a> {
    pub units: &'a [Unit],
    pub sources: &'a Sources,
    pub decls: &'a mut Decls,
    diags: &'a mut Vec<Diagnostic>,
    /// Above zero while inlining: errors there were reported where the let or fn was declared.
    muted: u32,
    /// The outermost place where inlining started, for errors that only show at a use site.
    inline_site: Option<Span>,
    stack: Vec<(Frame, String, Span)>,
    cycles: HashSet<Vec<String>>,
    /// Set once the program grew too large; reported once.
    too_big: bool,
    pub program: Program,
    /// The depth of each node's tree, indexed like `program.nodes`.
    depths: Vec<u32>,
    sizes: Vec<u32>,
    pushed: usize,
    pub slots: HashMap<DeclRef, SlotId>,
    pub class_ids: HashMap<String, ir::ClassId>,
    pub tag_ids: HashMap<String, ir::TagId>,
    pub scope_marks: Vec<ir::Mark>,
    /// Signals, lets and fns some expression reads; classes some condition names.
    pub used: HashSet<DeclRef>,
    pub used_classes: HashSet<ir::ClassId>,
    pub used_tags: HashSet<ir::TagId>,
}

pub(crate) type Lowered = (Ty, NodeId);

const MAX_INLINE_DEPTH: usize = 32;
const MAX_IR_DEPTH: u32 = 1024;
/// Operations in one condition once expanded, counting shared operands once per use.
const MAX_TREE: u32 = 1 << 20;
/// Nodes built in one compilation, scratch included.
const MAX_PUSHED: usize = 1 << 23;

fn plain_literal(e: &ast::Expr) -> Option<f64> {
    match &e.kind {
        ExprKind::Number(n, LitUnit::None) => Some(*n),
        ExprKind::Unary(UnaryOp::Neg, inner) => plain_literal(inner).map(|n| -n),
        ExprKind::Paren(inner) => plain_literal(inner),
        _ => None,
    }
}

/// The column and the gist of a CEL parse error, without the parser's token names.
fn cel_error(message: &str) -> (usize, String) {
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

/// The literals a bare number could have been meant as where `want` is expected, the one the
/// message names first: `5%` for the fraction `0.05`; `800ms`, then `800s`, for `800`.
fn unit_literals(n: Option<f64>, want: &Ty) -> Vec<String> {
    match (n, want) {
        (Some(n), Ty::Ratio) => vec![format!("{}%", tidy(n * 100.0))],
        (Some(n), Ty::Duration) => vec![format!("{}ms", tidy(n)), format!("{}s", tidy(n))],
        _ => Vec::new(),
    }
}

fn tidy(n: f64) -> String {
    let r = (n * 1e9).round() / 1e9;
    if r.fract() == 0.0 && r.abs() < 1e15 {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}

impl<'a> Lower<'a> {
    pub fn new(
        units: &'a [Unit],
        sources: &'a Sources,
        decls: &'a mut Decls,
        diags: &'a mut Vec<Diagnostic>,
    ) -> Lower<'a> {
        Lower {
            units,
            sources,
            decls,
            diags,
            muted: 0,
            inline_site: None,
            stack: Vec::new(),
            cycles: HashSet::new(),
            too_big: false,
            program: Program::default(),
            depths: Vec::new(),
            sizes: Vec::new(),
            pushed: 0,
            slots: HashMap::new(),
            class_ids: HashMap::new(),
            tag_ids: HashMap::new(),
            scope_marks: Vec::new(),
            used: HashSet::new(),
            used_classes: HashSet::new(),
            used_tags: HashSet::new(),
        }
    }

    pub fn err(&mut self, d: Diagnostic) {
        if self.muted == 0 {
            self.diags.push(d);
        }
    }

    /// Errors that only show where a let or fn is used: reported at the outermost use.
    fn err_at_use(&mut self, mut d: Diagnostic) {
        if let Some(site) = self.inline_site.filter(|_| self.muted > 0) {
            d.span = site;
            d.labels.clear();
            d.label = "used here".into();
            if self
                .diags
                .iter()
                .any(|x| x.span == site && x.code == d.code)
            {
                return;
            }
        }
        self.diags.push(d);
    }

    /// Whether `name` appears as a word in a declaration that did not parse and starts with
    /// `keyword` (`policy`, `class`, ...): a rule of a policy the parser could not read, a tag
    /// of such a class. Its syntax error says enough; an error about the name would follow from
    /// it.
    pub fn in_unparsed(&self, keyword: &str, name: &str) -> bool {
        self.units.iter().any(|u| {
            let text = &self.sources.get(u.file).text;
            u.ast
                .unparsed
                .iter()
                .filter(|d| d.keyword == keyword)
                .any(|d| {
                    d.name.as_deref() == Some(name)
                        || text.get(d.range.0..d.range.1).is_some_and(|t| {
                            t.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                                .any(|w| w == name)
                        })
                })
        })
    }

    /// Whether `name` appears as a word in text some file's parser had to skip.
    fn in_unreadable_text(&self, name: &str) -> bool {
        self.units.iter().any(|u| {
            let text = &self.sources.get(u.file).text;
            u.ast.skipped.iter().any(|&(a, b)| {
                text.get(a..b).is_some_and(|t| {
                    t.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .any(|w| w == name)
                })
            })
        })
    }

    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(|d| d.is_error())
    }

    pub fn text(&self, e: &ast::Expr) -> String {
        let t = self
            .sources
            .text(e.span)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if t.chars().count() > 40 {
            format!("{}…", t.chars().take(39).collect::<String>())
        } else {
            t
        }
    }

    // ------------------------------------------------------------ node constructors

    pub fn push(&mut self, n: Node) -> NodeId {
        // The evaluator recurses over operands and reads shared operands once per use: keep
        // every tree shallow and small enough for any stack and any deadline.
        let (mut depth, mut size) = (0u32, 1u32);
        n.for_each_child(&mut |c| {
            depth = depth.max(self.depths[c as usize]);
            size = size.saturating_add(self.sizes[c as usize]);
        });
        self.pushed += 1;
        let n = if depth >= MAX_IR_DEPTH || size > MAX_TREE || self.pushed > MAX_PUSHED {
            self.too_big();
            (depth, size) = (0, 1);
            Node::Bool(false)
        } else {
            n
        };
        self.program.nodes.push(n);
        self.depths.push(depth + 1);
        self.sizes.push(size);
        (self.program.nodes.len() - 1) as NodeId
    }

    fn too_big(&mut self) {
        if !self.too_big {
            self.too_big = true;
            let span = self
                .inline_site
                .or(self.stack.first().map(|f| f.2))
                .unwrap_or_default();
            let d = Diagnostic::error(
                Code::Recursion,
                span,
                "this expands to a program too large or too deep to evaluate safely",
            )
            .label("expanded from here")
            .help(format!(
                "lets and fns are inlined where they are used; keep helpers under {MAX_INLINE_DEPTH} levels deep and each condition under {MAX_TREE} operations once expanded"
            ));
            self.diags.push(d);
        }
    }

    /// Drops scratch nodes built while checking a let or fn body on its own.
    pub fn truncate(&mut self, len: usize) {
        self.program.nodes.truncate(len);
        self.depths.truncate(len);
        self.sizes.truncate(len);
    }

    fn node(&self, id: NodeId) -> &Node {
        self.program.node(id)
    }

    fn num(&self, id: NodeId) -> Option<f64> {
        match self.node(id) {
            Node::Num(n) => Some(*n),
            _ => None,
        }
    }

    fn boolean(&self, id: NodeId) -> Option<bool> {
        match self.node(id) {
            Node::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn not(&mut self, a: NodeId) -> NodeId {
        match self.boolean(a) {
            Some(b) => self.push(Node::Bool(!b)),
            None => self.push(Node::Not(a)),
        }
    }

    fn and(&mut self, a: NodeId, b: NodeId) -> NodeId {
        // Kleene: `false and x` is false whatever x is; `true and x` is x.
        match (self.boolean(a), self.boolean(b)) {
            (Some(false), _) | (_, Some(false)) => self.push(Node::Bool(false)),
            (Some(true), _) => b,
            (_, Some(true)) => a,
            _ => self.push(Node::And(a, b)),
        }
    }

    fn or(&mut self, a: NodeId, b: NodeId) -> NodeId {
        match (self.boolean(a), self.boolean(b)) {
            (Some(true), _) | (_, Some(true)) => self.push(Node::Bool(true)),
            (Some(false), _) => b,
            (_, Some(false)) => a,
            _ => self.push(Node::Or(a, b)),
        }
    }

    fn arith(&mut self, op: ArithOp, a: NodeId, b: NodeId) -> NodeId {
        if let (Some(x), Some(y)) = (self.num(a), self.num(b)) {
            if let Some(v) = value::arith(op, x, y) {
                return self.push(Node::Num(v));
            }
        }
        self.push(Node::Arith(op, a, b))
    }

    fn cmp(&mut self, op: CmpOp, a: NodeId, b: NodeId) -> NodeId {
        let folded = match (self.node(a), self.node(b)) {
            (Node::Num(x), Node::Num(y)) => Some(value::compare(op, x, y)),
            (Node::Str(x), Node::Str(y)) => Some(value::compare(op, x.as_str(), y.as_str())),
            (Node::Bool(x), Node::Bool(y)) => Some(value::compare(op, x, y)),
            _ => None,
        };
        match folded {
            Some(v) => self.push(Node::Bool(v)),
            None => self.push(Node::Cmp(op, a, b)),
        }
    }

    // ------------------------------------------------------------ expressions

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
                if let Err(err) = cel::Program::compile(src) {
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
                self.program.cel.push(src.clone());
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

    fn frame_cycle(&mut self, frame: &Frame, name: &str, span: Span) -> bool {
        let Some(pos) = self.stack.iter().position(|(f, _, _)| f == frame) else {
            return false;
        };
        let members: Vec<(String, Span)> = self.stack[pos..]
            .iter()
            .map(|(_, n, s)| (n.clone(), *s))
            .collect();
        let mut key: Vec<String> = members.iter().map(|(n, _)| n.clone()).collect();
        key.sort();
        if self.cycles.insert(key) {
            // Tell the cycle from the declaration that comes first in the source.
            let start = (0..members.len())
                .min_by_key(|&i| (members[i].1.file, members[i].1.start))
                .unwrap_or(0);
            let mut names: Vec<&str> = (0..members.len())
                .map(|i| members[(start + i) % members.len()].0.as_str())
                .collect();
            names.push(names[0]);
            let mut d = Diagnostic::error(
                Code::Recursion,
                members[start].1,
                format!(
                    "`{}` is defined in terms of itself: {}",
                    names[0],
                    names.join(" -> ")
                ),
            )
            .label("the cycle starts here");
            for (i, (n, sp)) in members.iter().enumerate() {
                if i != start {
                    d = d.with_label(*sp, format!("`{n}` is part of the cycle"));
                }
            }
            let _ = (name, span);
            d = d.help("lets and fns are expanded where they are used, so they cannot refer to themselves; write the condition without the cycle");
            self.diags.push(d);
        }
        true
    }

    fn inline<F>(
        &mut self,
        frame: Frame,
        name: &str,
        decl_span: Span,
        use_span: Span,
        f: F,
    ) -> Lowered
    where
        F: FnOnce(&mut Self) -> Lowered,
    {
        if self.frame_cycle(&frame, name, use_span) {
            return (Ty::Error, self.push(Node::Bool(false)));
        }
        // Inlining multiplies (`let b = a and a`, `let c = b and b`, ...): bound it.
        if self.too_big || self.stack.len() >= MAX_INLINE_DEPTH {
            self.too_big();
            return (Ty::Error, self.push(Node::Bool(false)));
        }
        let outer = self.muted == 0;
        if outer {
            self.inline_site = Some(use_span);
        }
        self.muted += 1;
        self.stack.push((frame, name.to_string(), decl_span));
        let out = f(self);
        self.stack.pop();
        self.muted -= 1;
        if outer {
            self.inline_site = None;
        }
        out
    }

    fn name(&mut self, id: &ast::Ident, env: &Env) -> Lowered {
        if let Some(b) = env.params.get(&id.name) {
            return match b {
                Binding::Typed(t) => (t.clone(), self.push(Node::Num(0.0))),
                Binding::Bound(n, t) => (t.clone(), *n),
            };
        }
        if let Some((locals, policy)) = env.locals {
            if let Some(l) = locals.get(&id.name) {
                let value = &l.value;
                let inner = Env {
                    unit: env.unit,
                    place: env.place,
                    params: HashMap::new(),
                    locals: env.locals,
                };
                return self.inline(
                    Frame::Local(policy, id.name.clone()),
                    &id.name,
                    l.name.span,
                    id.span,
                    |s| s.expr(value, &inner),
                );
            }
        }
        if let Some(&d) = self.decls.visible[env.unit].get(&id.name) {
            self.used.insert(d);
            let it = item(self.units, d);
            return match &it.kind {
                ItemKind::Signal(s) => match self.slots.get(&d) {
                    Some(&slot) => {
                        let ty = Ty::from_signal(self.program.signals[slot as usize].ty);
                        (ty, self.push(Node::Signal(slot)))
                    }
                    // Its declaration has an error (an unknown type), already reported.
                    None => {
                        let _ = s;
                        (Ty::Error, self.push(Node::Bool(false)))
                    }
                },
                ItemKind::Let(l) => {
                    let inner = Env {
                        unit: d.unit,
                        place: env.place,
                        params: HashMap::new(),
                        locals: None,
                    };
                    self.inline(Frame::Decl(d), &id.name, l.name.span, id.span, |s| {
                        s.expr(&l.value, &inner)
                    })
                }
                ItemKind::Fn(f) => {
                    let d = Diagnostic::error(
                        Code::ArgumentCount,
                        id.span,
                        format!("`{}` is a function and needs its arguments", id.name),
                    )
                    .label("called without arguments")
                    .with_label(f.name.span, "declared here")
                    .help(format!(
                        "call it: `{}({})`",
                        id.name,
                        f.params
                            .iter()
                            .map(|p| p.name.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    self.err(d);
                    (Ty::Error, self.push(Node::Bool(false)))
                }
                _ => unreachable!("value namespace holds signals, lets and fns"),
            };
        }
        if self.units[env.unit].in_set {
            if let Some(&d) = self.decls.set_values.get(&id.name) {
                let module = self.sources.get(self.units[d.unit].file).name.clone();
                let how = if module.starts_with("std::") {
                    format!("use {module}")
                } else {
                    format!("use \"{module}\"")
                };
                let d = Diagnostic::error(
                    Code::NotImported,
                    id.span,
                    format!(
                        "`{}` comes from `{module}`, which this file does not import",
                        id.name
                    ),
                )
                .label("not imported in this file")
                .help(format!(
                    "add `{how}` to this file; a `use` is visible only in its own file"
                ));
                self.err(d);
                return (Ty::Error, self.push(Node::Bool(false)));
            }
        }
        if self.in_unreadable_text(&id.name) || self.units[env.unit].failed_use {
            // Probably declared in text the parser could not read; that error says enough.
            return (Ty::Error, self.push(Node::Bool(false)));
        }
        let mut candidates: Vec<&str> = self.decls.visible[env.unit]
            .keys()
            .map(String::as_str)
            .collect();
        candidates.extend(env.params.keys().map(String::as_str));
        if let Some((locals, _)) = env.locals {
            candidates.extend(locals.keys().map(|k| k.as_str()));
        }
        candidates.sort();
        let mut d = Diagnostic::error(
            Code::UnknownName,
            id.span,
            format!("unknown name `{}`", id.name),
        )
        .label("not declared");
        d = match did_you_mean(&id.name, candidates.iter().copied()) {
            Some(s) => d.help(format!("did you mean `{s}`?")).replace_with(id.span, &s),
            None => match crate::stdlib::declaring_module(&id.name) {
                Some(m) => d.help(format!("`{}` is declared by `std::{m}`: add `use std::{m}` to this file", id.name)).add_use(self.sources.get(id.span.file), id.span.file, m),
                None => d.help(format!(
                    "declare it (`signal {}: TYPE = \"snapshot.key\"` or `let {} = ...`), or `use` the module that declares it",
                    id.name, id.name
                )),
            },
        };
        self.err(d);
        (Ty::Error, self.push(Node::Bool(false)))
    }

    fn deployment(&mut self, e: &ast::Expr, parts: &[PathPart]) -> Lowered {
        const FIELDS: &[&str] = &crate::eval::snapshot::DEPLOYMENT_KEYS;
        let unknown = |s: &mut Self, ident: &ast::Ident, candidates: &[&str], prefix: &str| {
            let mut d = Diagnostic::error(
                Code::UnknownName,
                ident.span,
                format!("`{prefix}` has no field `{}`", ident.name),
            )
            .label("unknown field");
            d = match did_you_mean(&ident.name, candidates.iter().copied()) {
                Some(c) => d
                    .help(format!("did you mean `{prefix}.{c}`?"))
                    .replace_with(ident.span, &c),
                None => d.help(format!(
                    "the fields are {}",
                    candidates
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
            s.err(d);
            (Ty::Error, s.push(Node::Bool(false)))
        };
        let field = |f: Field, ty: Ty, s: &mut Self| (ty, s.push(Node::Field(f)));
        match parts {
            [] => {
                let d = Diagnostic::error(
                    Code::UnknownName,
                    e.span,
                    "`deployment` is not a value by itself",
                )
                .label("name a field")
                .help("read a field, such as `deployment.environment` or `deployment.actor`");
                self.err(d);
                (Ty::Error, self.push(Node::Bool(false)))
            }
            [PathPart::Field(f)] => match f.name.as_str() {
                "id" => field(Field::Id, Ty::Str, self),
                "revision" => field(Field::Revision, Ty::Str, self),
                "service" => field(Field::Service, Ty::Str, self),
                "environment" => field(Field::Environment, Ty::Str, self),
                "stage" => field(Field::Stage, Ty::Str, self),
                "class" => field(Field::Class, Ty::Class, self),
                "traffic_percent" => field(Field::TrafficPercent, Ty::Number, self),
                "cascade_depth" => field(Field::CascadeDepth, Ty::Count, self),
                "emergency" => field(Field::Emergency, Ty::Bool, self),
                "actor" => field(Field::Actor, Ty::Principal, self),
                "labels" => (Ty::Labels, self.push(Node::Bool(false))),
                "approvals" => (Ty::Approvals, self.push(Node::Bool(false))),
                "rollback_target" => {
                    let d = Diagnostic::error(
                        Code::UnknownName,
                        f.span,
                        "`deployment.rollback_target` is not a value by itself",
                    )
                    .label("name a field")
                    .help("read `deployment.rollback_target.healthy` or `deployment.rollback_target.version`");
                    self.err(d);
                    (Ty::Error, self.push(Node::Bool(false)))
                }
                _ => unknown(self, f, FIELDS, "deployment"),
            },
            [PathPart::Field(f), PathPart::Index(key, _)] if f.name == "labels" => {
                (Ty::Str, self.push(Node::Label(key.clone())))
            }
            [PathPart::Field(f), PathPart::Field(g)] if f.name == "rollback_target" => {
                match g.name.as_str() {
                    "healthy" => field(Field::TargetHealthy, Ty::Bool, self),
                    "version" => field(Field::TargetVersion, Ty::Str, self),
                    _ => unknown(
                        self,
                        g,
                        &["healthy", "version"],
                        "deployment.rollback_target",
                    ),
                }
            }
            [PathPart::Field(f), ..] if !FIELDS.contains(&f.name.as_str()) => {
                unknown(self, f, FIELDS, "deployment")
            }
            _ => {
                let d = Diagnostic::error(
                    Code::TypeMismatch,
                    e.span,
                    format!("`{}` is not a field of the deployment", self.text(e)),
                )
                .label("cannot be read")
                .help(
                    "labels are read as `deployment.labels[\"team\"]`; other fields have no parts",
                );
                self.err(d);
                (Ty::Error, self.push(Node::Bool(false)))
            }
        }
    }

    /// The signal an argument names: directly, through a let, or through a fn parameter bound to
    /// one. `Ok(None)`: a parameter in a body checked on its own, judged at each call.
    fn signal_arg(&mut self, func: &str, arg: &ast::Expr, env: &Env) -> Result<Option<SlotId>, ()> {
        if let ExprKind::Name(id) = &arg.kind {
            if let Some(Binding::Typed(_)) = env.params.get(&id.name) {
                return Ok(None);
            }
        }
        let (_, n) = self.expr(arg, env);
        if let Node::Signal(slot) = self.node(n) {
            return Ok(Some(*slot));
        }
        let mut inside = None;
        self.program.walk(n, &mut |_, node| {
            if let Node::Signal(s)
            | Node::Baseline(s)
            | Node::Samples(s)
            | Node::Delta(s)
            | Node::Age(s) = node
            {
                inside.get_or_insert(*s);
            }
        });
        let help = match inside {
            Some(s) => format!(
                "name the signal itself: `{func}({})`",
                self.program.signals[s as usize].name
            ),
            None => format!("name a declared signal: `{func}(NAME)`"),
        };
        let d = Diagnostic::error(
            Code::ArgumentType,
            arg.span,
            format!(
                "`{func}` reads a signal's data, and `{}` is not a signal",
                self.text(arg)
            ),
        )
        .label("not a signal")
        .help(help);
        self.err_at_use(d);
        Err(())
    }

    fn place_allows(&mut self, what: &str, span: Span, env: &Env) {
        let written = self
            .sources
            .text(span)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let ok = match what {
            "fresh" => matches!(env.place, Place::Anywhere | Place::Require),
            _ => matches!(
                env.place,
                Place::Anywhere | Place::Applies | Place::Require | Place::ApprovalWhen
            ),
        };
        if !ok {
            let (msg, help) = if what == "fresh" {
                (
                    "`fresh(...)` may appear only in a `require` gate",
                    format!("a rule that fires on missing evidence would act on missing evidence alone; gate the policy instead: `require {written} else halt`"),
                )
            } else {
                (
                    "`has(...)` may appear only in `applies`, a `require` or an approval's `when`",
                    "`has` is false when the input is missing, so a rule could fire on missing evidence; compare the input itself, which is unknown when missing".to_string(),
                )
            };
            let d = Diagnostic::error(Code::TwoValuedPlacement, span, msg)
                .label("not allowed here")
                .help(help);
            self.err_at_use(d);
        }
    }

    pub fn const_duration(&mut self, e: &ast::Expr, env: &Env, after: &str) -> Option<f64> {
        let (t, n) = self.expr(e, env);
        let v = self.num(n);
        match (t, v) {
            (Ty::Duration, Some(secs)) if secs >= 0.0 => Some(secs),
            (Ty::Error, _) => None,
            (Ty::Number | Ty::Count, Some(x)) => {
                let d = Diagnostic::error(
                    Code::WindowNotConstant,
                    e.span,
                    format!(
                        "`{after}` needs a duration, and `{}` has no unit",
                        self.text(e)
                    ),
                )
                .label("a bare number")
                .help(format!("write `{}m` or `{}s`", tidy(x), tidy(x)))
                .units(
                    plain_literal(e).map(|_| e.span),
                    &[&format!("{}m", tidy(x)), &format!("{}s", tidy(x))],
                );
                self.err(d);
                None
            }
            (t, _) => {
                let d = Diagnostic::error(
                    Code::WindowNotConstant,
                    e.span,
                    format!(
                        "`{after}` needs a constant duration, and `{}` is {}",
                        self.text(e),
                        if t == Ty::Duration {
                            "computed from the snapshot".to_string()
                        } else {
                            t.article()
                        }
                    ),
                )
                .label("not a constant duration")
                .help("write a duration literal such as `5m`, or the name of a `let` that is one");
                self.err(d);
                None
            }
        }
    }

    fn call(&mut self, e: &ast::Expr, name: &ast::Ident, args: &[ast::Expr], env: &Env) -> Lowered {
        if name.name == "cel" {
            let d = Diagnostic::error(
                Code::ArgumentType,
                e.span,
                "`cel(...)` takes a CEL expression written as a string",
            )
            .label("not a string")
            .help(format!(
                "quote the expression: `cel(\"{}\")`",
                args.iter()
                    .map(|a| self.text(a))
                    .collect::<Vec<_>>()
                    .join(", ")
                    .replace('"', "'")
            ));
            self.err(d);
            return (Ty::Error, self.push(Node::Bool(false)));
        }
        let builtin = crate::syntax::lexicon::SIGNAL_FUNCTIONS.contains(&name.name.as_str());
        if builtin {
            if args.len() != 1 {
                let d = Diagnostic::error(
                    Code::ArgumentCount,
                    e.span,
                    format!(
                        "`{}` takes one argument, and {} were given",
                        name.name,
                        args.len()
                    ),
                )
                .label("wrong number of arguments")
                .help(format!("write `{}(error_rate)`", name.name));
                self.err(d);
                return (Ty::Error, self.push(Node::Bool(false)));
            }
            let arg = &args[0];
            if name.name == "has" {
                self.place_allows("has", e.span, env);
                return self.has(arg, env);
            }
            let slot = match self.signal_arg(&name.name, arg, env) {
                Ok(Some(s)) => s,
                Ok(None) => {
                    let ty = match name.name.as_str() {
                        "samples" => Ty::Count,
                        "age" => Ty::Duration,
                        _ => match env.params.get(&self.text(arg)) {
                            Some(Binding::Typed(t)) if t.is_plain() => Ty::Number,
                            Some(Binding::Typed(t)) => t.clone(),
                            _ => Ty::Error,
                        },
                    };
                    return (ty, self.push(Node::Num(0.0)));
                }
                Err(()) => return (Ty::Error, self.push(Node::Bool(false))),
            };
            let sty = Ty::from_signal(self.program.signals[slot as usize].ty);
            return match name.name.as_str() {
                "samples" => (Ty::Count, self.push(Node::Samples(slot))),
                "age" => (Ty::Duration, self.push(Node::Age(slot))),
                f => {
                    if !sty.is_numeric() {
                        let d = Diagnostic::error(
                            Code::ArgumentType,
                            arg.span,
                            format!(
                                "`{f}` needs a numeric signal, and `{}` is {}",
                                self.text(arg),
                                sty.article()
                            ),
                        )
                        .label(sty.article())
                        .help(
                            "baselines and deltas exist for numbers, counts, ratios and durations",
                        );
                        self.err_at_use(d);
                        return (Ty::Error, self.push(Node::Bool(false)));
                    }
                    let ty = if sty.is_plain() { Ty::Number } else { sty };
                    let node = if f == "baseline" {
                        Node::Baseline(slot)
                    } else {
                        Node::Delta(slot)
                    };
                    (ty, self.push(node))
                }
            };
        }
        // A user fn.
        let decl = self.decls.visible[env.unit].get(&name.name).copied();
        let Some(d) = decl.filter(|d| matches!(item(self.units, *d).kind, ItemKind::Fn(_))) else {
            if decl.is_some() || env.params.contains_key(&name.name) {
                let d = Diagnostic::error(
                    Code::TypeMismatch,
                    name.span,
                    format!("`{}` is not a function", name.name),
                )
                .label("cannot be called")
                .help("only `fn` declarations and built-ins take arguments");
                self.err(d);
                return (Ty::Error, self.push(Node::Bool(false)));
            }
            let mut candidates: Vec<&str> = crate::syntax::lexicon::BUILTIN_FUNCTIONS.to_vec();
            let fns: Vec<String> = self.decls.visible[env.unit]
                .iter()
                .filter(|(_, d)| matches!(item(self.units, **d).kind, ItemKind::Fn(_)))
                .map(|(n, _)| n.clone())
                .collect();
            candidates.extend(fns.iter().map(String::as_str));
            candidates.sort();
            let mut diag = Diagnostic::error(
                Code::UnknownName,
                name.span,
                format!("unknown function `{}`", name.name),
            )
            .label("not declared");
            diag = match did_you_mean(&name.name, candidates) {
                Some(s) => diag
                    .help(format!("did you mean `{s}`?"))
                    .replace_with(name.span, &s),
                None => diag.help("declare it with `fn NAME(PARAM: TYPE) -> TYPE = ...`"),
            };
            self.err(diag);
            return (Ty::Error, self.push(Node::Bool(false)));
        };
        self.used.insert(d);
        let ItemKind::Fn(f) = &item(self.units, d).kind else {
            unreachable!()
        };
        if f.params.len() != args.len() {
            let diag = Diagnostic::error(
                Code::ArgumentCount,
                e.span,
                format!(
                    "`{}` takes {} argument{}, and {} {} given",
                    name.name,
                    f.params.len(),
                    if f.params.len() == 1 { "" } else { "s" },
                    args.len(),
                    if args.len() == 1 { "was" } else { "were" }
                ),
            )
            .label("wrong number of arguments")
            .with_label(f.name.span, format!("`{}` is declared here", f.name.name))
            .help(format!(
                "pass {}: `{}({})`",
                if f.params.is_empty() {
                    "nothing".to_string()
                } else {
                    "every parameter".to_string()
                },
                name.name,
                f.params
                    .iter()
                    .map(|p| p.name.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            self.err(diag);
            return (Ty::Error, self.push(Node::Bool(false)));
        }
        let mut params = HashMap::new();
        let mut bad = false;
        for (p, a) in f.params.iter().zip(args) {
            let want = Ty::parse(&p.ty.name).unwrap_or(Ty::Error);
            let (t, n) = self.expr(a, env);
            if !t.fits(&want) && want != Ty::Error {
                let code = if t.is_numeric() && want.is_numeric() {
                    Code::UnitMismatch
                } else {
                    Code::ArgumentType
                };
                let diag = Diagnostic::error(
                    code,
                    a.span,
                    format!(
                        "`{}` expects {} for `{}`, and `{}` is {}",
                        name.name,
                        want.article(),
                        p.name.name,
                        self.text(a),
                        t.article()
                    ),
                )
                .label(t.article())
                .with_label(p.name.span, "parameter declared here")
                .help(match (plain_literal(a), &want) {
                    (Some(n), Ty::Ratio) => format!("write `{}%`", tidy(n * 100.0)),
                    (Some(n), Ty::Duration) => format!("write `{}ms` or `{}s`", tidy(n), tidy(n)),
                    _ => format!("pass {}", want.article()),
                })
                .units(
                    plain_literal(a).map(|_| a.span),
                    &unit_literals(plain_literal(a), &want),
                );
                self.err(diag);
                bad = true;
            }
            params.insert(p.name.name.clone(), Binding::Bound(n, want));
        }
        let ret = Ty::parse(&f.ret.name).unwrap_or(Ty::Error);
        if bad {
            return (ret, self.push(Node::Bool(false)));
        }
        let inner = Env {
            unit: d.unit,
            place: env.place,
            params,
            locals: None,
        };
        let (_, node) = self.inline(Frame::Decl(d), &name.name, f.name.span, e.span, |s| {
            s.expr(&f.body, &inner)
        });
        (ret, node)
    }

    fn has(&mut self, arg: &ast::Expr, env: &Env) -> Lowered {
        match &arg.kind {
            ExprKind::Deployment(parts) => {
                let (_, n) = self.deployment(arg, parts);
                let node = match self.node(n).clone() {
                    Node::Field(f) => Node::HasField(f),
                    Node::Label(k) => Node::HasLabel(k),
                    _ => return (Ty::Bool, self.push(Node::Bool(true))),
                };
                (Ty::Bool, self.push(node))
            }
            _ => match self.signal_arg("has", arg, env) {
                Ok(Some(slot)) => (Ty::Bool, self.push(Node::HasSignal(slot))),
                Ok(None) => (Ty::Bool, self.push(Node::Bool(true))),
                Err(()) => (Ty::Error, self.push(Node::Bool(false))),
            },
        }
    }

    fn fresh(
        &mut self,
        e: &ast::Expr,
        args: &[ast::Expr],
        within: &ast::Expr,
        env: &Env,
    ) -> Lowered {
        self.place_allows("fresh", e.span, env);
        let mut slots = Vec::new();
        let mut ok = true;
        for a in args {
            match self.signal_arg("fresh", a, env) {
                Ok(Some(s)) => {
                    if !slots.contains(&s) {
                        slots.push(s)
                    }
                }
                Ok(None) => {}
                Err(()) => ok = false,
            }
        }
        let secs = self.const_duration(within, env, "within");
        match (ok, secs) {
            (true, Some(secs)) => (Ty::Bool, self.push(Node::Fresh { slots, secs })),
            _ => (Ty::Error, self.push(Node::Bool(false))),
        }
    }

    fn window_fn(
        &mut self,
        e: &ast::Expr,
        f: ast::WindowFn,
        arg: &ast::Expr,
        over: &ast::Expr,
        env: &Env,
    ) -> Lowered {
        let _ = e;
        let slot = self.signal_arg(f.name(), arg, env);
        let secs = self.const_duration(over, env, "over");
        let (Ok(Some(slot)), Some(secs)) = (slot, secs) else {
            return (Ty::Error, self.push(Node::Bool(false)));
        };
        let sty = Ty::from_signal(self.program.signals[slot as usize].ty);
        if !sty.is_numeric() {
            let d = Diagnostic::error(
                Code::ArgumentType,
                arg.span,
                format!(
                    "`{}` needs a numeric signal, and `{}` is {}",
                    f.name(),
                    self.text(arg),
                    sty.article()
                ),
            )
            .label(sty.article())
            .help("windows aggregate numbers, counts, ratios and durations");
            self.err_at_use(d);
            return (Ty::Error, self.push(Node::Bool(false)));
        }
        let ty = match (f, &sty) {
            (ast::WindowFn::Avg, t) if t.is_plain() => Ty::Number,
            _ => sty,
        };
        let wf = match f {
            ast::WindowFn::Max => ir::WindowFn::Max,
            ast::WindowFn::Min => ir::WindowFn::Min,
            ast::WindowFn::Avg => ir::WindowFn::Avg,
        };
        (ty, self.push(Node::Window { f: wf, slot, secs }))
    }

    fn is(&mut self, e: &ast::Expr, lhs: &ast::Expr, target: &IsTarget, env: &Env) -> Lowered {
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

    fn unit_mismatch(
        &mut self,
        e: &ast::Expr,
        l: (&ast::Expr, &Ty),
        r: (&ast::Expr, &Ty),
        verb: &str,
    ) {
        let (le, lt) = l;
        let (re, rt) = r;
        let mut message = format!(
            "`{}` is {}, `{}` is {}",
            self.text(le),
            lt.article(),
            self.text(re),
            rt.article()
        );
        let fix = match (plain_literal(le), plain_literal(re)) {
            (_, Some(n)) if lt.has_unit() => Some((n, lt.clone(), re.span)),
            (Some(n), _) if rt.has_unit() => Some((n, rt.clone(), le.span)),
            _ => None,
        };
        let units = fix
            .as_ref()
            .map(|(n, t, span)| (*span, unit_literals(Some(*n), t)));
        let help = match fix {
            Some((n, Ty::Ratio, _)) => {
                let lit = format!("{}%", tidy(n * 100.0));
                message.push_str(&format!("; write `{lit}`"));
                format!("a bare number has no unit: `{lit}` is the fraction {}", tidy(n))
            }
            Some((n, _, _)) => {
                let lit = format!("{}ms", tidy(n));
                message.push_str(&format!("; write `{lit}`"));
                format!("a bare number has no unit: write `{}ms` for milliseconds or `{}s` for seconds", tidy(n), tidy(n))
            }
            None => format!("{verb} values of one unit: ratios with ratios (`1%`), durations with durations (`800ms`)"),
        };
        let d = Diagnostic::error(Code::UnitMismatch, e.span, message)
            .label(format!("{} and {}", lt.article(), rt.article()))
            .help(help)
            .units(
                units.as_ref().map(|u| u.0),
                units.as_ref().map_or(&[][..], |u| &u.1),
            );
        self.err(d);
    }

    fn binary(
        &mut self,
        e: &ast::Expr,
        op: BinOp,
        l: &ast::Expr,
        r: &ast::Expr,
        env: &Env,
    ) -> Lowered {
        let (lt, ln) = self.expr(l, env);
        let (rt, rn) = self.expr(r, env);
        let failed = |s: &mut Self| (Ty::Error, s.push(Node::Bool(false)));
        if lt == Ty::Error || rt == Ty::Error {
            return failed(self);
        }
        match op {
            BinOp::And | BinOp::Or => {
                self.expect_bool(
                    l,
                    &lt,
                    &format!("`{}` takes conditions on both sides", op.symbol()),
                );
                self.expect_bool(
                    r,
                    &rt,
                    &format!("`{}` takes conditions on both sides", op.symbol()),
                );
                if lt != Ty::Bool || rt != Ty::Bool {
                    return failed(self);
                }
                let n = if op == BinOp::And {
                    self.and(ln, rn)
                } else {
                    self.or(ln, rn)
                };
                (Ty::Bool, n)
            }
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let ordering = !matches!(op, BinOp::Eq | BinOp::Ne);
                let comparable = lt.same_kind(&rt)
                    && match lt {
                        Ty::Bool => !ordering,
                        Ty::Str | Ty::Timestamp => true,
                        ref t => t.is_numeric(),
                    };
                if !comparable {
                    if lt.is_numeric() && rt.is_numeric() {
                        self.unit_mismatch(e, (l, &lt), (r, &rt), "compare");
                    } else {
                        let d = Diagnostic::error(
                            Code::TypeMismatch,
                            e.span,
                            if lt.same_kind(&rt) {
                                format!(
                                    "{} values cannot be compared with `{}`",
                                    lt.name(),
                                    op.symbol()
                                )
                            } else {
                                format!(
                                    "`{}` is {}, `{}` is {}: they cannot be compared",
                                    self.text(l),
                                    lt.article(),
                                    self.text(r),
                                    rt.article()
                                )
                            },
                        )
                        .label(format!("{} {} {}", lt.name(), op.symbol(), rt.name()))
                        .help(match (&lt, &rt) {
                            (Ty::Principal, _) | (_, Ty::Principal) => {
                                "test a principal with `is`: `deployment.actor is agent`"
                                    .to_string()
                            }
                            (Ty::Class, _) | (_, Ty::Class) => {
                                "test a class with `is`: `class is schema_migration`".to_string()
                            }
                            _ => "compare values of one type".to_string(),
                        });
                        self.err(d);
                    }
                    return failed(self);
                }
                let cop = match op {
                    BinOp::Eq => CmpOp::Eq,
                    BinOp::Ne => CmpOp::Ne,
                    BinOp::Lt => CmpOp::Lt,
                    BinOp::Le => CmpOp::Le,
                    BinOp::Gt => CmpOp::Gt,
                    _ => CmpOp::Ge,
                };
                (Ty::Bool, self.cmp(cop, ln, rn))
            }
            BinOp::In => match (&rt, self.node(rn).clone()) {
                (Ty::List(item), Node::List(items))
                    if **item == Ty::Error || lt.same_kind(item) =>
                {
                    let n = self.push(Node::InList(ln, items));
                    (Ty::Bool, n)
                }
                (Ty::Labels, _) if lt == Ty::Str => (Ty::Bool, self.push(Node::InLabels(ln))),
                _ => {
                    let d = Diagnostic::error(
                        Code::TypeMismatch,
                        e.span,
                        format!("`in` needs a list of {}, or `deployment.labels` for a string; `{}` is {}", lt.name(), self.text(r), rt.article()),
                    )
                    .label("cannot look in this")
                    .help("write `x in [a, b]` with a list literal, or `\"team\" in deployment.labels`");
                    self.err(d);
                    failed(self)
                }
            },
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                let aop = match op {
                    BinOp::Add => ArithOp::Add,
                    BinOp::Sub => ArithOp::Sub,
                    BinOp::Mul => ArithOp::Mul,
                    BinOp::Div => ArithOp::Div,
                    _ => ArithOp::Rem,
                };
                if lt == Ty::Str && rt == Ty::Str && op == BinOp::Add {
                    return (Ty::Str, self.push(Node::Arith(ArithOp::Add, ln, rn)));
                }
                if !lt.is_numeric() || !rt.is_numeric() {
                    let d = Diagnostic::error(
                        Code::TypeMismatch,
                        e.span,
                        format!(
                            "`{}` needs numbers, and `{}` is {}",
                            op.symbol(),
                            self.text(if lt.is_numeric() { r } else { l }),
                            if lt.is_numeric() {
                                rt.article()
                            } else {
                                lt.article()
                            }
                        ),
                    )
                    .label("not a number")
                    .help("arithmetic applies to numbers, counts, ratios and durations");
                    self.err(d);
                    return failed(self);
                }
                let ty = match aop {
                    ArithOp::Add | ArithOp::Sub if lt.is_plain() && rt.is_plain() => {
                        Some(Ty::Number)
                    }
                    ArithOp::Add | ArithOp::Sub if lt == rt => Some(lt.clone()),
                    ArithOp::Mul if lt.is_plain() && rt.is_plain() => Some(Ty::Number),
                    ArithOp::Mul if lt.has_unit() && rt.is_plain() => Some(lt.clone()),
                    ArithOp::Mul if lt.is_plain() && rt.has_unit() => Some(rt.clone()),
                    ArithOp::Div if lt.is_plain() && rt.is_plain() => Some(Ty::Number),
                    ArithOp::Div if lt.has_unit() && rt.is_plain() => Some(lt.clone()),
                    ArithOp::Div if lt.has_unit() && lt == rt => Some(Ty::Number),
                    ArithOp::Rem if lt.is_plain() && rt.is_plain() => Some(Ty::Number),
                    _ => None,
                };
                match ty {
                    Some(t) => (t, self.arith(aop, ln, rn)),
                    None => {
                        let verb = match aop {
                            ArithOp::Add => "add",
                            ArithOp::Sub => "subtract",
                            ArithOp::Mul => "multiply",
                            ArithOp::Div => "divide",
                            ArithOp::Rem => "take the remainder of",
                        };
                        if matches!(aop, ArithOp::Add | ArithOp::Sub) {
                            self.unit_mismatch(e, (l, &lt), (r, &rt), verb);
                        } else {
                            let d = Diagnostic::error(
                                Code::UnitMismatch,
                                e.span,
                                format!("cannot {verb} {} by {}", lt.article(), rt.article()),
                            )
                            .label(format!("{} {} {}", lt.name(), op.symbol(), rt.name()))
                            .help("a unit may be multiplied or divided by a plain number (`1.5 * baseline(error_rate)`), and divided by the same unit");
                            self.err(d);
                        }
                        failed(self)
                    }
                }
            }
        }
    }
}
