//! Policies and their statements: `applies`, gates, rules (with `for` windows), approvals and
//! local lets, lowered to the program's policies with their origins.

use std::collections::HashMap;

use super::decls::{duplicate, item};
use super::expr::{Env, Place};
use super::lower::Lower;
use super::ty::Ty;
use super::DeclRef;
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::ir::{self, Action, Mark, Node, NodeId, Origins, PolicyOrigin, SlotId};
use crate::source::Span;
use crate::syntax::ast::{self, ItemKind, StatementKind};
use crate::syntax::print;

impl Lower<'_> {
    pub(super) fn inputs(&self, root: NodeId) -> Vec<NodeId> {
        let mut seen: Vec<Node> = Vec::new();
        let mut out = Vec::new();
        self.program.walk(root, &mut |id, n| {
            let input = matches!(
                n,
                Node::Signal(_)
                    | Node::Baseline(_)
                    | Node::Samples(_)
                    | Node::Delta(_)
                    | Node::Age(_)
                    | Node::Window { .. }
                    | Node::Field(_)
                    | Node::Label(_)
            );
            if input && !seen.contains(n) {
                seen.push(n.clone());
                out.push(id);
            }
        });
        out
    }

    pub(super) fn slots_read(&self, root: NodeId) -> Vec<SlotId> {
        let mut out = Vec::new();
        self.program.walk(root, &mut |_, n| {
            let slot = match n {
                Node::Signal(s)
                | Node::Baseline(s)
                | Node::Samples(s)
                | Node::Delta(s)
                | Node::Age(s) => Some(*s),
                Node::Window { slot, .. } => Some(*slot),
                _ => None,
            };
            if let Some(s) = slot {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        });
        out
    }

    pub(super) fn action(
        &mut self,
        a: &ast::Ident,
        allowed: &[Action],
        what: &str,
        help: &str,
    ) -> Option<Action> {
        match Action::parse(&a.name).filter(|x| allowed.contains(x)) {
            Some(x) => Some(x),
            None => {
                let d = Diagnostic::error(
                    Code::ActionNotAllowed,
                    a.span,
                    format!("`{}` is not allowed {what}", a.name),
                )
                .label("not allowed here")
                .help(help.to_string());
                self.err(d);
                None
            }
        }
    }

    pub fn policies(&mut self) -> Origins {
        let mut origins = Origins::default();
        let units = self.units;
        for d in self.decls.policies.clone() {
            let it = item(units, d);
            let ItemKind::Policy(p) = &it.kind else {
                continue;
            };
            let policy_dry = self.attrs(&it.attrs);
            let mark = self.mark(p.name.span, &it.attrs, None);
            let (policy, mut origin) = self.policy(d, p, policy_dry, &mark);
            origin.mark = mark;
            self.program.policies.push(policy);
            origins.policies.push(origin);
        }
        origins.scopes = std::mem::take(&mut self.scope_marks);
        origins
    }

    pub(super) fn policy(
        &mut self,
        d: DeclRef,
        p: &ast::PolicyDecl,
        policy_dry: bool,
        policy_mark: &Mark,
    ) -> (ir::Policy, PolicyOrigin) {
        let unit = d.unit;
        // Local lets: one namespace, not shadowing the set's names.
        let mut locals: HashMap<String, &ast::LetDecl> = HashMap::new();
        for s in &p.statements {
            if let StatementKind::Let(l) = &s.kind {
                if let Some(first) = locals.get(&l.name.name) {
                    let diag = duplicate("let", &l.name, &first.name, self.sources);
                    self.err(diag);
                    continue;
                }
                if let Some(&outer) = self.decls.visible[unit].get(&l.name.name) {
                    let outer_name = super::decls::value_name(item(self.units, outer))
                        .expect("value decl")
                        .clone();
                    let diag = Diagnostic::error(
                        Code::LocalShadows,
                        l.name.span,
                        format!(
                            "`{}` is already a name of the set; a policy's `let` may not shadow it",
                            l.name.name
                        ),
                    )
                    .label("shadows a set name")
                    .with_label(outer_name.span, "declared here")
                    .help(format!(
                        "give the local another name, e.g. `{}_limit`",
                        l.name.name
                    ));
                    self.err(diag);
                    continue;
                }
                locals.insert(l.name.name.clone(), l);
            }
        }
        let locals_ref = &locals;
        let env = |place: Place| Env {
            unit,
            place,
            params: HashMap::new(),
            locals: Some((locals_ref, d.item)),
        };
        for s in &p.statements {
            if let StatementKind::Let(l) = &s.kind {
                let mark = self.program.nodes.len();
                let cel_mark = self.program.cel.len();
                let (ty, _) = self.expr(&l.value, &env(Place::Anywhere));
                self.analysis.let_type(l.name.span, &ty);
                self.truncate(mark);
                self.program.cel.truncate(cel_mark);
                self.cel.truncate(cel_mark);
            }
        }

        let mut out = ir::Policy {
            name: p.name.name.clone(),
            dry_run: policy_dry,
            applies: None,
            gates: Vec::new(),
            rules: Vec::new(),
            approvals: Vec::new(),
            forbids: Vec::new(),
            freshness: Vec::new(),
        };
        let mut origin = PolicyOrigin::default();
        let mut applies_span = None;
        // Rules, approvals and vetoes share one namespace: tests and explanations name them.
        let mut names: HashMap<String, (ast::Ident, bool)> = HashMap::new();
        let mut claim = |s: &mut Self, name: &ast::Ident, forbid: bool| {
            if let Some((first, first_forbid)) = names.get(&name.name) {
                let what = if forbid || *first_forbid {
                    "rule, approval or forbid"
                } else {
                    "rule or approval"
                };
                let d = duplicate(what, name, first, s.sources);
                s.err(d);
            } else {
                names.insert(name.name.clone(), (name.clone(), forbid));
            }
        };
        for s in &p.statements {
            let dry = self.attrs(&s.attrs) || policy_dry;
            let name_span = match &s.kind {
                StatementKind::Rule { name, .. }
                | StatementKind::Approval { name, .. }
                | StatementKind::Forbid { name, .. } => name.span,
                _ => Span {
                    end: s.span.start + 7,
                    ..s.span
                },
            };
            let mark = self.mark(name_span, &s.attrs, Some(policy_mark));
            let at = self.sources.location(s.span);
            match &s.kind {
                StatementKind::Let(_) => {}
                StatementKind::Applies(cond) => {
                    if let Some(first) = applies_span {
                        let diag = Diagnostic::error(
                            Code::RepeatedStatement,
                            s.span,
                            "a policy has at most one `applies`",
                        )
                        .label("second `applies`")
                        .with_label(first, "first `applies`")
                        .help("join the conditions with `and` in one `applies when ...`");
                        self.err(diag);
                        continue;
                    }
                    applies_span = Some(s.span);
                    let (t, n) = self.expr(cond, &env(Place::Applies));
                    self.expect_bool(cond, &t, "`applies when` takes a condition");
                    out.applies = Some(n);
                }
                StatementKind::Require { cond, action } => {
                    let act = self.action(
                        action,
                        &[Action::Inconclusive, Action::Hold, Action::Halt],
                        "after `require ... else`",
                        "a gate's action is `inconclusive`, `hold` or `halt`: missing evidence alone never rolls back; put the rollback in a rule that reads the evidence",
                    );
                    let (t, n) = self.expr(cond, &env(Place::Require));
                    self.expect_bool(cond, &t, "a `require` takes a condition");
                    let mut evidence = Vec::new();
                    self.program.walk(n, &mut |id, node| {
                        if matches!(
                            node,
                            Node::Fresh { .. }
                                | Node::HasSignal(_)
                                | Node::HasField(_)
                                | Node::HasLabel(_)
                        ) {
                            evidence.push(id);
                        }
                    });
                    out.gates.push(ir::Gate {
                        text: print::expr(cond),
                        cond: n,
                        action: act.unwrap_or(Action::Halt),
                        dry_run: dry,
                        evidence,
                    });
                    origin.gates.push(at);
                    origin.gate_marks.push(mark);
                }
                StatementKind::Rule {
                    action,
                    name,
                    when,
                    window,
                    unless,
                } => {
                    claim(self, name, false);
                    let act = self.action(
                        action,
                        &[Action::Rollback, Action::Halt, Action::Hold, Action::Inconclusive],
                        "as a rule's action",
                        "a rule's action is `rollback`, `halt`, `hold` or `inconclusive`; `promote` and `override` are granted by scopes, and `proceed` is what happens when no rule fires",
                    );
                    let (t, n) = self.expr(when, &env(Place::Rule));
                    self.expect_bool(when, &t, "a rule's `when` takes a condition");
                    let mut win = None;
                    if let Some(w) = window {
                        let secs = self.const_duration(w, &env(Place::Rule), "for");
                        let read = self.slots_read(n);
                        if t != ast_error_ty() && read.len() != 1 {
                            let names: Vec<String> = read
                                .iter()
                                .map(|s| format!("`{}`", self.program.signals[*s as usize].name))
                                .collect();
                            let what = if names.is_empty() {
                                "reads no signal".to_string()
                            } else {
                                format!("reads {}", names.join(" and "))
                            };
                            let diag = Diagnostic::error(
                                Code::WindowSignals,
                                when.span,
                                format!("a condition under `for` must read exactly one signal, and this one {what}"),
                            )
                            .label("the condition of the window")
                            .help(if names.is_empty() {
                                "`for D` follows one signal's series over time; a condition without a signal does not change over the window: drop the `for`".to_string()
                            } else {
                                "split it into one rule per signal, each with its own `for`".to_string()
                            });
                            self.err(diag);
                        } else if let (Some(secs), Some(&slot)) = (secs, read.first()) {
                            win = Some((secs, slot));
                        }
                    }
                    let unless_node = unless.as_ref().map(|u| {
                        let (t, n) = self.expr(u, &env(Place::Rule));
                        self.expect_bool(u, &t, "`unless` takes a condition");
                        n
                    });
                    let inputs = self.inputs(n);
                    out.rules.push(ir::Rule {
                        name: name.name.clone(),
                        action: act.unwrap_or(Action::Halt),
                        when: n,
                        window: win,
                        unless: unless_node,
                        dry_run: dry,
                        inputs,
                    });
                    origin.rules.push(at);
                    origin.rule_marks.push(mark);
                }
                StatementKind::Forbid {
                    action,
                    name,
                    when,
                    unless,
                } => {
                    claim(self, name, true);
                    let act = self.action(
                        action,
                        &[Action::Rollback, Action::Proceed],
                        "after `forbid`",
                        "only `rollback` (which becomes `halt`) and `proceed` (which becomes `hold`) may be forbidden; to stop a rollout, write a rule such as `halt NAME when ...`",
                    );
                    // Unknown counts as holding (a person decides), so `fresh` and `has` would
                    // add nothing a plain read of the input does not: the same places as a rule.
                    let (t, n) = self.expr(when, &env(Place::Rule));
                    self.expect_bool(when, &t, "a `forbid`'s `when` takes a condition");
                    let unless_node = unless.as_ref().map(|u| {
                        let (t, n) = self.expr(u, &env(Place::Rule));
                        self.expect_bool(u, &t, "`unless` takes a condition");
                        n
                    });
                    let mut inputs = self.inputs(n);
                    if let Some(u) = unless_node {
                        for i in self.inputs(u) {
                            let node = self.program.node(i);
                            if !inputs.iter().any(|&j| self.program.node(j) == node) {
                                inputs.push(i);
                            }
                        }
                    }
                    if let Some(act) = act {
                        out.forbids.push(ir::Forbid {
                            name: name.name.clone(),
                            action: act,
                            when: n,
                            unless: unless_node,
                            dry_run: dry,
                            inputs,
                        });
                        origin.forbids.push(at);
                        origin.forbid_marks.push(mark);
                    }
                }
                StatementKind::Approval {
                    name,
                    count,
                    of,
                    when,
                } => {
                    claim(self, name, false);
                    let (n, nspan) = *count;
                    let valid =
                        n.is_finite() && n >= 1.0 && n.fract() == 0.0 && n <= u32::MAX as f64;
                    if !valid {
                        let written = self.sources.text(nspan).to_string();
                        let (message, label, help) = if n.is_finite()
                            && n >= 1.0
                            && n.fract() != 0.0
                        {
                            (
                                format!("approval `{}` requires {written} approvers; a count is a whole number", name.name),
                                "not a whole number",
                                format!("write `{} of {}`", n.ceil() as u64, print::principal(of)),
                            )
                        } else if n.is_finite() && n >= 1.0 {
                            (
                                format!("approval `{}` requires {written} approvers, more than can ever be counted", name.name),
                                "too large",
                                "require as many approvers as the team has, e.g. `2 of group \"dba\"`".to_string(),
                            )
                        } else {
                            (
                                format!("approval `{}` requires {written} approvers; it needs at least 1", name.name),
                                "must be at least 1",
                                format!("an approval nobody needs to give disables itself: require at least `1 of {}`, or delete approval `{}`", print::principal(of), name.name),
                            )
                        };
                        let diag = Diagnostic::error(Code::ApprovalCount, nspan, message)
                            .label(label)
                            .help(help);
                        self.err(diag);
                    }
                    let pat = self.principal_pat(of);
                    let when_node = when.as_ref().map(|w| {
                        let (t, n) = self.expr(w, &env(Place::ApprovalWhen));
                        self.expect_bool(w, &t, "an approval's `when` takes a condition");
                        n
                    });
                    if let Some(pat) = pat {
                        out.approvals.push(ir::Approval {
                            name: name.name.clone(),
                            count: if valid { n as u32 } else { 1 },
                            of: pat,
                            when: when_node,
                            dry_run: dry,
                        });
                        origin.approvals.push(at);
                        origin.approval_marks.push(mark);
                    }
                }
            }
        }
        // Staleness: each signal named by a deciding freshness gate, with its smallest window.
        let mut fresh: Vec<(SlotId, f64)> = Vec::new();
        for g in out.gates.iter().filter(|g| !g.dry_run || policy_dry) {
            for &id in &g.evidence {
                if let Node::Fresh { slots, secs } = self.program.node(id) {
                    for &s in slots {
                        match fresh.iter_mut().find(|(x, _)| *x == s) {
                            Some(e) => e.1 = e.1.min(*secs),
                            None => fresh.push((s, *secs)),
                        }
                    }
                }
            }
        }
        out.freshness = fresh;
        (out, origin)
    }
}

fn ast_error_ty() -> Ty {
    Ty::Error
}
