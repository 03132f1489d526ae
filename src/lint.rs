//! Lints: warnings about policies that compile but make automated rollback dangerous.
//!
//! Each lint reads the compiled program (the IR, where lets and fns are already inlined and
//! constants folded) and the marks the checker left beside it (names' spans, `@allow`,
//! `@until`). A finding on a mark that allows its code is kept aside as allowed, so reviewers
//! still see it in machine-readable output.

use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::ir::{
    Action, Field, Grant, Mark, Node, NodeId, PrincipalKind, PrincipalPat, Program, SlotId,
};
use crate::source::Span;
use crate::Compiled;

mod absence;

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

/// `today` enables the `@until` lint; without it (a library user, a test) that lint is off.
pub fn lint(c: &Compiled, today: Option<chrono::NaiveDate>) -> Findings {
    let p = &c.program;
    let o = &c.origins;
    let mut f = Findings::default();
    let baselined = baselined_signals(p);
    for (pi, policy) in p.policies.iter().enumerate() {
        let origin = &o.policies[pi];
        let applies_mentions_class = policy.applies.is_some_and(|a| mentions_class(p, a));
        match policy.applies {
            None => f.push(
                &origin.mark,
                Diagnostic::error(Code::LintNoApplies, origin.mark.span, format!("policy `{}` has no `applies`: it judges every deployment", policy.name))
                    .label("applies to everything")
                    .help("say which deployments it is for, e.g. `applies when deployment.service == \"payments-api\"`; allow W0007 if it is meant for all"),
            ),
            Some(a) if p.node(a) == &Node::Bool(false) => f.push(
                &origin.mark,
                Diagnostic::error(Code::LintNeverFires, origin.mark.span, format!("policy `{}` never applies: its `applies` is always false", policy.name))
                    .label("never applies")
                    .help("fix the condition, or delete the policy"),
            ),
            _ => {}
        }
        let production = policy.applies.is_some_and(|a| is_production(p, a));
        let live = |dry: bool| !dry && !policy.dry_run;

        for (ri, rule) in policy.rules.iter().enumerate() {
            let mark = &origin.rule_marks[ri];
            let reads = slots_read(p, rule.when);
            if p.node(rule.when) == &Node::Bool(false)
                || rule.unless.is_some_and(|u| p.node(u) == &Node::Bool(true))
            {
                f.push(
                    mark,
                    Diagnostic::error(
                        Code::LintNeverFires,
                        mark.span,
                        format!(
                            "rule `{}` can never fire: its condition is always false",
                            rule.name
                        ),
                    )
                    .label("never fires")
                    .help("fix the condition, or delete the rule"),
                );
                continue;
            }
            // Acting on evidence nobody vouched for.
            if live(rule.dry_run) && rule.action >= Action::Halt {
                let ungated: Vec<&str> = reads
                    .iter()
                    .filter(|s| {
                        !policy
                            .gates
                            .iter()
                            .any(|g| live(g.dry_run) && gate_covers(p, g.cond, **s))
                    })
                    .map(|s| p.signals[*s as usize].name.as_str())
                    .collect();
                if let Some(first) = ungated.first() {
                    f.push(
                        mark,
                        Diagnostic::error(
                            Code::LintUngatedEvidence,
                            mark.span,
                            format!(
                                "rule `{}` may {} on {}, which no `require fresh(...)` or `samples(...)` gate covers",
                                rule.name,
                                if rule.action == Action::Rollback { "roll back" } else { "halt" },
                                ungated.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
                            ),
                        )
                        .label("acts on evidence of unknown quality")
                        .help(format!(
                            "gate the evidence in policy `{}`: `require fresh({}) within 2m else halt` and `require samples({first}) >= 500 else inconclusive`",
                            policy.name,
                            ungated.join(", ")
                        )),
                    );
                }
            }
            // Thresholds copied from staging.
            if production && live(rule.dry_run) {
                let absolute: Vec<&str> = absolute_thresholds(p, rule.when)
                    .into_iter()
                    .filter(|s| baselined.contains(s) && !reads_baseline(p, rule.when, *s))
                    .map(|s| p.signals[s as usize].name.as_str())
                    .collect();
                if let Some(first) = absolute.first() {
                    f.push(
                        mark,
                        Diagnostic::error(
                            Code::LintAbsoluteThreshold,
                            mark.span,
                            format!("rule `{}` compares `{first}` with a fixed number in a production policy, without its baseline", rule.name),
                        )
                        .label("absolute threshold")
                        .help(format!("compare with the production baseline too, e.g. `{first} > 2 * baseline({first})`; a fixed threshold tuned elsewhere rolls back healthy releases")),
                    );
                }
            }
            // A rollback written for changes that cannot be rolled back.
            if live(rule.dry_run)
                && rule.action == Action::Rollback
                && (applies_mentions_class || mentions_class(p, rule.when))
            {
                for (ci, class) in p
                    .classes
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.irreversible || c.security_fix)
                {
                    let ci = ci as u32;
                    let possible = |n: Option<NodeId>, unwanted: bool| {
                        n.is_none_or(|n| class_truth(p, n, ci) != Some(unwanted))
                    };
                    if possible(policy.applies, false)
                        && possible(Some(rule.when), false)
                        && possible(rule.unless, true)
                    {
                        let what = if class.irreversible {
                            "irreversible"
                        } else {
                            "a security fix"
                        };
                        f.push(
                            mark,
                            Diagnostic::error(
                                Code::LintRollbackIrreversible,
                                mark.span,
                                format!("rule `{}` may roll back a `{}` change, which is {what}", rule.name, class.name),
                            )
                            .label("automatic rollback")
                            .help(format!(
                                "the engine turns this rollback into a halt; say so in the policy: make it a `halt` rule for `class is {}`, or exclude the class",
                                if class.irreversible { "irreversible" } else { "security_fix" }
                            )),
                        );
                        break;
                    }
                }
            }
            // Shadowed by a gate that always fails with at least this action.
            for (gi, g) in policy.gates.iter().enumerate() {
                let always_fails =
                    p.node(g.cond) == &Node::Bool(false) || negates(p, rule.when, g.cond);
                if live(g.dry_run) && live(rule.dry_run) && always_fails && g.action >= rule.action
                {
                    f.push(
                        mark,
                        Diagnostic::error(
                            Code::LintShadowedRule,
                            mark.span,
                            format!("rule `{}` never changes the decision: whenever it fires, `require {}` fails with `{}`", rule.name, g.text, g.action.as_str()),
                        )
                        .label("shadowed")
                        .with_label(origin.gate_marks[gi].span, "this gate always wins")
                        .help("delete the rule, or give it a stronger action than the gate's"),
                    );
                    break;
                }
            }
            expired(
                &mut f,
                today,
                rule.dry_run || policy.dry_run,
                mark,
                "rule",
                &rule.name,
            );
        }
        for (gi, g) in policy.gates.iter().enumerate() {
            expired(
                &mut f,
                today,
                g.dry_run || policy.dry_run,
                &origin.gate_marks[gi],
                "gate",
                &g.text,
            );
        }
        for (ai, a) in policy.approvals.iter().enumerate() {
            let mark = &origin.approval_marks[ai];
            expired(
                &mut f,
                today,
                a.dry_run || policy.dry_run,
                mark,
                "approval",
                &a.name,
            );
            if a.when.is_some_and(|w| p.node(w) == &Node::Bool(false)) {
                f.push(
                    mark,
                    Diagnostic::error(
                        Code::LintNeverFires,
                        mark.span,
                        format!(
                            "approval `{}` is never required: its `when` is always false",
                            a.name
                        ),
                    )
                    .label("never required")
                    .help("fix the condition, or delete the approval"),
                );
                continue;
            }
            if let PrincipalPat::Identity(..) = &a.of {
                let only_actor = a.when.is_some_and(|w| conjuncts(p, w).iter().any(|&c| {
                    matches!(p.node(c), Node::PrincipalIs(n, pat) if pat == &a.of && p.node(*n) == &Node::Field(Field::Actor))
                }));
                if a.count > 1 || only_actor {
                    let why = if a.count > 1 {
                        format!(
                            "it needs {} approvals, and only one principal, {}, can give them",
                            a.count,
                            a.of.describe()
                        )
                    } else {
                        format!("it is required when {} deploys, and a deployment's actor never approves their own change", a.of.describe())
                    };
                    f.push(
                        mark,
                        Diagnostic::error(Code::LintUnsatisfiableApproval, mark.span, format!("approval `{}` can never be satisfied: {why}", a.name))
                            .label("never satisfied")
                            .help("require approvals from a group or a kind of principal, e.g. `requires 1 of group \"sre\"`"),
                    );
                }
            }
        }
        expired(
            &mut f,
            today,
            policy.dry_run,
            &origin.mark,
            "policy",
            &policy.name,
        );
    }
    for (si, scope) in p.scopes.iter().enumerate() {
        let privileged: Vec<&str> = scope
            .may
            .iter()
            .filter(|g| matches!(g, Grant::Promote | Grant::Override))
            .map(|g| g.as_str())
            .collect();
        let automated: Vec<String> = scope
            .principals
            .iter()
            .filter(|pat| match pat {
                PrincipalPat::Kind(k) | PrincipalPat::Identity(k, _) => {
                    matches!(k, PrincipalKind::Agent | PrincipalKind::ServiceAccount)
                }
                PrincipalPat::Group(_) => false,
            })
            .map(PrincipalPat::describe)
            .collect();
        if !privileged.is_empty() && !automated.is_empty() {
            let mark = &o.scopes[si];
            f.push(
                mark,
                Diagnostic::error(
                    Code::LintPrivilegedAutomation,
                    mark.span,
                    format!("scope `{}` grants {} to {}", scope.name, privileged.iter().map(|g| format!("`{g}`")).collect::<Vec<_>>().join(" and "), automated.join(", ")),
                )
                .label("privileged automated action")
                .help("let automation halt and roll back; keep `promote` and `override` for humans (or a group of them), so a person stands behind every go-ahead and break-glass"),
            );
        }
    }
    for (kind, name, mark) in &o.unused {
        f.push(
            mark,
            Diagnostic::error(
                Code::LintUnused,
                mark.span,
                format!("{kind} `{name}` is never used"),
            )
            .label("unused")
            .help(format!(
                "delete the {kind}, or use it; allow W0010 if the set declares it for others"
            )),
        );
    }
    absence::check(c, &mut f);
    f
}

fn expired(
    f: &mut Findings,
    today: Option<chrono::NaiveDate>,
    dry_run: bool,
    mark: &Mark,
    what: &str,
    name: &str,
) {
    let (Some(today), Some((until, _)), true) = (today, &mark.until, dry_run) else {
        return;
    };
    let Ok(date) = chrono::NaiveDate::parse_from_str(until, "%Y-%m-%d") else {
        return;
    };
    if date < today {
        f.push(
            mark,
            Diagnostic::error(
                Code::LintExpiredDryRun,
                mark.span,
                format!("dry-run {what} `{name}` ran past its `@until(\"{until}\")`"),
            )
            .label("trial over")
            .help("decide: remove `@mode(\"dry_run\")` to let it act, or delete it"),
        );
    }
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
