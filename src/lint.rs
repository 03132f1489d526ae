//! Lints: warnings about policies that compile but make automated rollback dangerous.
//!
//! Each lint reads the compiled program (the IR, where lets and fns are already inlined and
//! constants folded) and the marks the checker left beside it (names' spans, `@allow`,
//! `@until`). A finding on a mark that allows its code is kept aside as allowed, so reviewers
//! still see it in machine-readable output.
//!
//! One lint, one file under `src/lint/`, whose `EXPLANATION` is its `rollguard explain` page;
//! `lint` below calls them in a fixed order, and the IR walks they share are here.

use crate::diagnostic::Diagnostic;
use crate::ir::{Field, Mark, Node, NodeId, Policy, PolicyOrigin, Program, SlotId};
use crate::source::Span;
use crate::Compiled;

pub(crate) mod absence;
pub(crate) mod absolute_threshold;
pub(crate) mod expired_dry_run;
pub(crate) mod never_fires;
pub(crate) mod never_vetoes;
pub(crate) mod no_applies;
pub(crate) mod privileged_automation;
pub(crate) mod rollback_irreversible;
pub(crate) mod shadowed_rule;
pub(crate) mod ungated_evidence;
pub(crate) mod unsatisfiable_approval;
pub(crate) mod unused;

#[cfg(test)]
mod explanation_examples;

/// A lint finding silenced by `@allow(CODE)`; `at` is the annotation.
#[derive(Clone, Debug)]
pub struct Allowed {
    pub diagnostic: Diagnostic,
    pub at: Span,
}

#[derive(Default)]
pub struct Findings {
    pub warnings: Vec<Diagnostic>,
    pub allowed: Vec<Allowed>,
}

impl Findings {
    fn push(&mut self, mark: &Mark, d: Diagnostic) {
        match mark.allows.iter().find(|(c, _)| c == d.code.as_str()) {
            Some((_, at)) => self.allowed.push(Allowed {
                diagnostic: d,
                at: *at,
            }),
            None => self.warnings.push(d),
        }
    }
}

/// The facts about one policy that several lints read.
struct PolicyCx<'a> {
    p: &'a Program,
    policy: &'a Policy,
    origin: &'a PolicyOrigin,
    /// Its `applies` names a production environment.
    production: bool,
    /// Its `applies` talks about classes.
    applies_mentions_class: bool,
}

impl PolicyCx<'_> {
    /// Whether something of this policy acts: neither it nor its policy is a dry run.
    fn live(&self, dry_run: bool) -> bool {
        !dry_run && !self.policy.dry_run
    }
}

/// `today` enables the `@until` lint; without it (a library user, a test) that lint is off.
///
/// The order of the calls below is the order of the findings (`allowed` keeps it).
pub fn lint(c: &Compiled, today: Option<chrono::NaiveDate>) -> Findings {
    let p = &c.program;
    let o = &c.origins;
    let mut f = Findings::default();
    let baselined = baselined_signals(p);
    for (pi, policy) in p.policies.iter().enumerate() {
        let origin = &o.policies[pi];
        let cx = PolicyCx {
            p,
            policy,
            origin,
            production: policy.applies.is_some_and(|a| is_production(p, a)),
            applies_mentions_class: policy.applies.is_some_and(|a| mentions_class(p, a)),
        };
        no_applies::policy(&cx, &mut f);
        never_fires::policy(&cx, &mut f);
        for (ri, rule) in policy.rules.iter().enumerate() {
            let mark = &origin.rule_marks[ri];
            if never_fires::rule(&cx, rule, mark, &mut f) {
                continue;
            }
            ungated_evidence::rule(&cx, rule, mark, &mut f);
            absolute_threshold::rule(&cx, rule, mark, &baselined, &mut f);
            rollback_irreversible::rule(&cx, rule, mark, &mut f);
            shadowed_rule::rule(&cx, rule, mark, &mut f);
            let dry_run = rule.dry_run || policy.dry_run;
            expired_dry_run::check(&mut f, today, dry_run, mark, "rule", &rule.name);
        }
        for (gi, g) in policy.gates.iter().enumerate() {
            let dry_run = g.dry_run || policy.dry_run;
            expired_dry_run::check(
                &mut f,
                today,
                dry_run,
                &origin.gate_marks[gi],
                "gate",
                &g.text,
            );
        }
        for (ai, a) in policy.approvals.iter().enumerate() {
            let mark = &origin.approval_marks[ai];
            let dry_run = a.dry_run || policy.dry_run;
            expired_dry_run::check(&mut f, today, dry_run, mark, "approval", &a.name);
            if never_fires::approval(&cx, a, mark, &mut f) {
                continue;
            }
            unsatisfiable_approval::approval(&cx, a, mark, &mut f);
        }
        for (fi, v) in policy.forbids.iter().enumerate() {
            let mark = &origin.forbid_marks[fi];
            let dry_run = v.dry_run || policy.dry_run;
            expired_dry_run::check(&mut f, today, dry_run, mark, "forbid", &v.name);
            never_vetoes::forbid(&cx, v, mark, &mut f);
        }
        let mark = &origin.mark;
        expired_dry_run::check(&mut f, today, policy.dry_run, mark, "policy", &policy.name);
    }
    privileged_automation::check(p, o, &mut f);
    unused::check(o, &mut f);
    absence::check(c, &mut f);
    f
}

fn walk_any(p: &Program, root: NodeId, pred: &mut dyn FnMut(&Node) -> bool) -> bool {
    let mut found = false;
    p.walk(root, &mut |_, n| found |= pred(n));
    found
}

fn slots_read(p: &Program, root: NodeId) -> Vec<SlotId> {
    let mut out = Vec::new();
    p.walk(root, &mut |_, n| {
        let s = match n {
            Node::Signal(s)
            | Node::Baseline(s)
            | Node::Samples(s)
            | Node::Delta(s)
            | Node::Age(s) => *s,
            Node::Window { slot, .. } => *slot,
            _ => return,
        };
        if !out.contains(&s) {
            out.push(s);
        }
    });
    out
}

fn gate_covers(p: &Program, cond: NodeId, slot: SlotId) -> bool {
    walk_any(p, cond, &mut |n| match n {
        Node::Fresh { slots, .. } => slots.contains(&slot),
        Node::Samples(s) => *s == slot,
        _ => false,
    })
}

/// Signals whose baseline some expression of the set reads: their baselines are reported.
fn baselined_signals(p: &Program) -> Vec<SlotId> {
    let mut out = Vec::new();
    for n in &p.nodes {
        if let Node::Baseline(s) | Node::Delta(s) = n {
            if !out.contains(s) {
                out.push(*s);
            }
        }
    }
    out
}

fn reads_baseline(p: &Program, root: NodeId, slot: SlotId) -> bool {
    walk_any(
        p,
        root,
        &mut |n| matches!(n, Node::Baseline(s) | Node::Delta(s) if *s == slot),
    )
}

/// Signals compared directly with a constant number.
fn absolute_thresholds(p: &Program, root: NodeId) -> Vec<SlotId> {
    let mut out = Vec::new();
    p.walk(root, &mut |_, n| {
        if let Node::Cmp(_, a, b) = n {
            for (x, y) in [(a, b), (b, a)] {
                if let (Node::Signal(s) | Node::Window { slot: s, .. }, Node::Num(_)) =
                    (p.node(*x), p.node(*y))
                {
                    if !out.contains(s) {
                        out.push(*s);
                    }
                }
            }
        }
    });
    out
}

fn is_production(p: &Program, applies: NodeId) -> bool {
    let prod = |n: &Node| matches!(n, Node::Str(s) if s.to_ascii_lowercase().starts_with("prod"));
    walk_any(p, applies, &mut |n| match n {
        Node::Cmp(crate::ir::CmpOp::Eq, a, b) => {
            let (a, b) = (p.node(*a), p.node(*b));
            (a == &Node::Field(Field::Environment) && prod(b))
                || (b == &Node::Field(Field::Environment) && prod(a))
        }
        Node::InList(a, items) => {
            p.node(*a) == &Node::Field(Field::Environment) && items.iter().any(|i| prod(p.node(*i)))
        }
        _ => false,
    })
}

fn mentions_class(p: &Program, root: NodeId) -> bool {
    walk_any(p, root, &mut |n| {
        matches!(
            n,
            Node::ClassIs(_)
                | Node::ClassIrreversible
                | Node::ClassSecurityFix
                | Node::ClassTouches(_)
        )
    })
}

/// The truth of a condition when the deployment's class is `class` and nothing else is known.
fn class_truth(p: &Program, n: NodeId, class: u32) -> Option<bool> {
    let c = &p.classes[class as usize];
    match p.node(n) {
        Node::Bool(b) => Some(*b),
        Node::ClassIs(x) => Some(*x == class),
        Node::ClassIrreversible => Some(c.irreversible),
        Node::ClassSecurityFix => Some(c.security_fix),
        Node::ClassTouches(t) => Some(c.tags.contains(t)),
        Node::Not(a) => class_truth(p, *a, class).map(|b| !b),
        Node::And(a, b) => match (class_truth(p, *a, class), class_truth(p, *b, class)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Node::Or(a, b) => match (class_truth(p, *a, class), class_truth(p, *b, class)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn conjuncts(p: &Program, n: NodeId) -> Vec<NodeId> {
    match p.node(n) {
        Node::And(a, b) => {
            let mut v = conjuncts(p, *a);
            v.extend(conjuncts(p, *b));
            v
        }
        _ => vec![n],
    }
}

/// Whether `a` is the negation of `b` as written: `not b`, or the complementary comparison.
fn negates(p: &Program, a: NodeId, b: NodeId) -> bool {
    use crate::ir::CmpOp::*;
    match (p.node(a), p.node(b)) {
        (Node::Not(x), _) => same(p, *x, b),
        (_, Node::Not(y)) => same(p, a, *y),
        (Node::Cmp(oa, a1, a2), Node::Cmp(ob, b1, b2)) => {
            let complement = matches!(
                (oa, ob),
                (Lt, Ge) | (Ge, Lt) | (Gt, Le) | (Le, Gt) | (Eq, Ne) | (Ne, Eq)
            );
            complement && same(p, *a1, *b1) && same(p, *a2, *b2)
        }
        _ => false,
    }
}

/// Structural equality of two expression trees.
fn same(p: &Program, a: NodeId, b: NodeId) -> bool {
    if a == b {
        return true;
    }
    let (na, nb) = (p.node(a), p.node(b));
    if std::mem::discriminant(na) != std::mem::discriminant(nb) {
        return false;
    }
    let (mut ca, mut cb) = (Vec::new(), Vec::new());
    na.for_each_child(&mut |c| ca.push(c));
    nb.for_each_child(&mut |c| cb.push(c));
    if ca.is_empty() {
        return na == nb;
    }
    let shallow = match (na, nb) {
        (Node::Arith(x, ..), Node::Arith(y, ..)) => x == y,
        (Node::Cmp(x, ..), Node::Cmp(y, ..)) => x == y,
        (Node::PrincipalIs(_, x), Node::PrincipalIs(_, y)) => x == y,
        _ => true,
    };
    shallow && ca.len() == cb.len() && ca.iter().zip(&cb).all(|(x, y)| same(p, *x, *y))
}
