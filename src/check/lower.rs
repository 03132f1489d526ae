//! The lowering state: the IR under construction, the inliner that expands lets and fns where
//! they are used, the bounds that keep an expanded program small, and where diagnostics go.
//!
//! The walk over expressions is spread over sibling modules by expression kind: `expr.rs`
//! (literals, operators on conditions, `is`, `touches`, `cel`), `resolve.rs` (names and
//! `deployment.` fields), `calls.rs` (built-in and user functions, windows, `fresh`) and
//! `operators.rs` (comparison and arithmetic, with units). Each one checks types and units and
//! builds IR nodes in the same step, through the constructors here, which fold constants.

use std::collections::{HashMap, HashSet};

use super::analysis::Recorder;
use super::decls::Decls;
use super::ty::Ty;
use super::{DeclRef, Unit};
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::ir::{self, value, ArithOp, CmpOp, Node, NodeId, Program, SlotId};
use crate::source::{Sources, Span};
use crate::syntax::ast::{self, ExprKind, UnaryOp, Unit as LitUnit};

/// What the inliner is expanding, to find cycles.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Frame {
    Decl(DeclRef),
    Local(usize, String),
}

pub(crate) struct Lower<'a> {
    pub units: &'a [Unit],
    pub sources: &'a Sources,
    pub decls: &'a mut Decls,
    pub(super) diags: &'a mut Vec<Diagnostic>,
    /// Above zero while inlining: errors there were reported where the let or fn was declared.
    pub(super) muted: u32,
    /// The outermost place where inlining started, for errors that only show at a use site.
    pub(super) inline_site: Option<Span>,
    pub(super) stack: Vec<(Frame, String, Span)>,
    pub(super) cycles: HashSet<Vec<String>>,
    /// Set once the program grew too large; reported once.
    pub(super) too_big: bool,
    pub program: Program,
    /// `program.cel`, compiled.
    pub(super) cel: Vec<cel::Program>,
    /// The depth of each node's tree, indexed like `program.nodes`.
    pub(super) depths: Vec<u32>,
    pub(super) sizes: Vec<u32>,
    pub(super) pushed: usize,
    pub slots: HashMap<DeclRef, SlotId>,
    pub class_ids: HashMap<String, ir::ClassId>,
    /// Where each class of `class_ids` is named, for the analysis.
    pub(super) class_spans: HashMap<String, Span>,
    pub tag_ids: HashMap<String, ir::TagId>,
    pub scope_marks: Vec<ir::Mark>,
    /// Signals, lets and fns some expression reads; classes some condition names.
    pub used: HashSet<DeclRef>,
    pub used_classes: HashSet<ir::ClassId>,
    pub used_tags: HashSet<ir::TagId>,
    /// What tools learn from the walk: names, their declarations and types.
    pub(super) analysis: Recorder,
}

pub(crate) type Lowered = (Ty, NodeId);

const MAX_INLINE_DEPTH: usize = 32;
const MAX_IR_DEPTH: u32 = 1024;
/// Operations in one condition once expanded, counting shared operands once per use.
const MAX_TREE: u32 = 1 << 20;
/// Nodes built in one compilation, scratch included.
const MAX_PUSHED: usize = 1 << 23;

pub(super) fn plain_literal(e: &ast::Expr) -> Option<f64> {
    match &e.kind {
        ExprKind::Number(n, LitUnit::None) => Some(*n),
        ExprKind::Unary(UnaryOp::Neg, inner) => plain_literal(inner).map(|n| -n),
        ExprKind::Paren(inner) => plain_literal(inner),
        _ => None,
    }
}

/// The literals a bare number could have been meant as where `want` is expected, the one the
/// message names first: `5%` for the fraction `0.05`; `800ms`, then `800s`, for `800`.
pub(super) fn unit_literals(n: Option<f64>, want: &Ty) -> Vec<String> {
    match (n, want) {
        (Some(n), Ty::Ratio) => vec![format!("{}%", tidy(n * 100.0))],
        (Some(n), Ty::Duration) => vec![format!("{}ms", tidy(n)), format!("{}s", tidy(n))],
        _ => Vec::new(),
    }
}

pub(super) fn tidy(n: f64) -> String {
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
            cel: Vec::new(),
            depths: Vec::new(),
            sizes: Vec::new(),
            pushed: 0,
            slots: HashMap::new(),
            class_ids: HashMap::new(),
            class_spans: HashMap::new(),
            tag_ids: HashMap::new(),
            scope_marks: Vec::new(),
            used: HashSet::new(),
            used_classes: HashSet::new(),
            used_tags: HashSet::new(),
            analysis: Recorder::new(units, sources),
        }
    }

    /// Whether the walk is at the source's own text, rather than inside a let or fn it is
    /// inlining: only then is a name recorded for the analysis (each once).
    pub(super) fn recording(&self) -> bool {
        self.muted == 0
    }

    pub fn err(&mut self, d: Diagnostic) {
        if self.muted == 0 {
            self.diags.push(d);
        }
    }

    /// Errors that only show where a let or fn is used: reported at the outermost use.
    pub(super) fn err_at_use(&mut self, mut d: Diagnostic) {
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
    pub(super) fn in_unreadable_text(&self, name: &str) -> bool {
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

    pub(super) fn too_big(&mut self) {
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

    pub(super) fn node(&self, id: NodeId) -> &Node {
        self.program.node(id)
    }

    pub(super) fn num(&self, id: NodeId) -> Option<f64> {
        match self.node(id) {
            Node::Num(n) => Some(*n),
            _ => None,
        }
    }

    pub(super) fn boolean(&self, id: NodeId) -> Option<bool> {
        match self.node(id) {
            Node::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub(super) fn not(&mut self, a: NodeId) -> NodeId {
        match self.boolean(a) {
            Some(b) => self.push(Node::Bool(!b)),
            None => self.push(Node::Not(a)),
        }
    }

    pub(super) fn and(&mut self, a: NodeId, b: NodeId) -> NodeId {
        // Kleene: `false and x` is false whatever x is; `true and x` is x.
        match (self.boolean(a), self.boolean(b)) {
            (Some(false), _) | (_, Some(false)) => self.push(Node::Bool(false)),
            (Some(true), _) => b,
            (_, Some(true)) => a,
            _ => self.push(Node::And(a, b)),
        }
    }

    pub(super) fn or(&mut self, a: NodeId, b: NodeId) -> NodeId {
        match (self.boolean(a), self.boolean(b)) {
            (Some(true), _) | (_, Some(true)) => self.push(Node::Bool(true)),
            (Some(false), _) => b,
            (_, Some(false)) => a,
            _ => self.push(Node::Or(a, b)),
        }
    }

    pub(super) fn arith(&mut self, op: ArithOp, a: NodeId, b: NodeId) -> NodeId {
        if let (Some(x), Some(y)) = (self.num(a), self.num(b)) {
            if let Some(v) = value::arith(op, x, y) {
                return self.push(Node::Num(v));
            }
        }
        self.push(Node::Arith(op, a, b))
    }

    pub(super) fn cmp(&mut self, op: CmpOp, a: NodeId, b: NodeId) -> NodeId {
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

    pub(super) fn frame_cycle(&mut self, frame: &Frame, name: &str, span: Span) -> bool {
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

    pub(super) fn inline<F>(
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
}
