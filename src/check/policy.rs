//! Declarations and policy statements: signals, classes, scopes, lets, fns, policies, tests.

use std::collections::{HashMap, HashSet};

use super::decls::{duplicate, item};
use super::expr::{Binding, Env, Lower, Place};
use super::ty::Ty;
use super::{DeclRef, TestCase};
use crate::codes::Code;
use crate::diagnostic::{did_you_mean, Diagnostic, Severity};
use crate::ir::{
    self, Action, Grant, Mark, Node, NodeId, Origins, PolicyOrigin, Program, SignalType, SlotId,
};
use crate::source::Span;
use crate::syntax::ast::{self, Attrs, ItemKind, StatementKind};
use crate::syntax::print;

impl Lower<'_> {
    fn env(&self, unit: usize, place: Place) -> Env<'static> {
        Env {
            unit,
            place,
            params: HashMap::new(),
            locals: None,
        }
    }

    /// Checks annotations; returns whether the item is dry-run.
    fn attrs(&mut self, attrs: &Attrs) -> bool {
        let mut seen: HashMap<&str, &ast::Annotation> = HashMap::new();
        let mut dry_run = false;
        for a in &attrs.annotations {
            // `@allow` may name several lints, one annotation each.
            if a.key.name == "allow" {
                continue;
            }
            if let Some(first) = seen.insert(a.key.name.as_str(), a) {
                let d = Diagnostic::error(
                    Code::BadAnnotation,
                    a.span,
                    format!("`@{}` is given twice", a.key.name),
                )
                .label("again here")
                .with_label(first.span, "first here")
                .help("keep one");
                self.err(d);
            }
            let value = a.value.as_ref().map(|(v, _)| v.as_str());
            match (a.key.name.as_str(), value) {
                ("mode", Some("dry_run")) => dry_run = true,
                ("mode", v) => {
                    let d = Diagnostic::error(
                        Code::BadAnnotation,
                        a.value.as_ref().map_or(a.span, |(_, s)| *s),
                        match v {
                            Some(v) => format!("`{v}` is not a mode"),
                            None => "`@mode` needs a value".to_string(),
                        },
                    )
                    .label("unknown mode")
                    .help("the one mode is `@mode(\"dry_run\")`: evaluated and reported in `shadow`, never deciding");
                    self.err(d);
                }
                ("severity" | "maps" | "doc", None) => {
                    let d = Diagnostic::error(
                        Code::BadAnnotation,
                        a.span,
                        format!("`@{}` needs a value", a.key.name),
                    )
                    .label("no value")
                    .help(format!("write `@{}(\"...\")`", a.key.name));
                    self.err(d);
                }
                _ => {}
            }
        }
        dry_run
    }

    /// Where lints about a declaration or statement point, and what it allows.
    fn mark(&mut self, span: Span, attrs: &Attrs, outer: Option<&Mark>) -> Mark {
        let mut mark = Mark {
            span,
            allows: outer.map(|m| m.allows.clone()).unwrap_or_default(),
            until: None,
        };
        for a in &attrs.annotations {
            let Some((value, vspan)) = &a.value else {
                continue;
            };
            match a.key.name.as_str() {
                "allow" => match Code::parse(value) {
                    Some(c) if c.severity() == Severity::Warning => {
                        mark.allows.push((c.as_str().to_string(), a.span))
                    }
                    found => {
                        let warnings: Vec<&str> = crate::codes::ALL
                            .iter()
                            .filter(|c| c.severity() == Severity::Warning)
                            .map(|c| c.as_str())
                            .collect();
                        let d = Diagnostic::error(
                            Code::BadAnnotation,
                            *vspan,
                            match found {
                                Some(_) => {
                                    format!("`{value}` is an error, and errors cannot be allowed")
                                }
                                None => format!("`{value}` is not a lint code"),
                            },
                        )
                        .label("cannot be allowed")
                        .help(format!(
                            "`@allow` takes a lint code: {}",
                            warnings.join(", ")
                        ));
                        self.err(d);
                    }
                },
                "until" => {
                    if chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok() {
                        mark.until = Some((value.clone(), a.span));
                    } else {
                        let d = Diagnostic::error(
                            Code::BadAnnotation,
                            *vspan,
                            format!("`{value}` is not a date"),
                        )
                        .label("not YYYY-MM-DD")
                        .help("write the day the trial ends as `@until(\"2026-12-31\")`");
                        self.err(d);
                    }
                }
                _ => {}
            }
        }
        mark
    }

    /// Signals, classes, scopes; then every let and fn body checked once on its own.
    pub fn declarations(&mut self) {
        let units = self.units;
        for (u, unit) in units.iter().enumerate() {
            for (i, it) in unit.ast.items.iter().enumerate() {
                if let ItemKind::Signal(s) = &it.kind {
                    let ty = match s.ty.name.as_str() {
                        "bool" => SignalType::Bool,
                        "number" => SignalType::Number,
                        "count" => SignalType::Count,
                        "ratio" => SignalType::Ratio,
                        "duration" => SignalType::Duration,
                        "string" => SignalType::String,
                        other => {
                            self.unknown_type(
                                &s.ty,
                                &["bool", "number", "count", "ratio", "duration", "string"],
                            );
                            let _ = other;
                            continue;
                        }
                    };
                    self.program.signals.push(ir::Signal {
                        name: s.name.name.clone(),
                        key: s.key.clone(),
                        ty,
                    });
                    self.slots.insert(
                        DeclRef { unit: u, item: i },
                        (self.program.signals.len() - 1) as SlotId,
                    );
                }
            }
        }
        for d in self.decls.classes.clone() {
            let ItemKind::Class(c) = &item(units, d).kind else {
                continue;
            };
            let mut tags = Vec::new();
            for t in &c.tags {
                let next = self.program.tags.len() as ir::TagId;
                let id = *self.tag_ids.entry(t.name.clone()).or_insert(next);
                if id == next {
                    self.program.tags.push(t.name.clone());
                }
                if !tags.contains(&id) {
                    tags.push(id);
                }
            }
            self.class_ids.insert(
                c.name.name.clone(),
                self.program.classes.len() as ir::ClassId,
            );
            self.program.classes.push(ir::Class {
                name: c.name.name.clone(),
                tags,
                irreversible: c.irreversible,
                security_fix: c.security_fix,
            });
        }
        for d in self.decls.scopes.clone() {
            let ItemKind::Scope(s) = &item(units, d).kind else {
                continue;
            };
            let principals = s
                .principals
                .iter()
                .filter_map(|p| self.principal_pat(p))
                .collect();
            let mut may = Vec::new();
            for a in &s.may {
                match Grant::parse(&a.name) {
                    Some(g) => {
                        if !may.contains(&g) {
                            may.push(g)
                        }
                    }
                    None => {
                        let meant = match a.name.as_str() {
                            "hold" | "inconclusive" | "proceed" => None,
                            other => did_you_mean(other, Grant::ALL.iter().map(|g| g.as_str())),
                        };
                        let help = match (a.name.as_str(), &meant) {
                            ("hold" | "inconclusive" | "proceed", _) => {
                                "hold and inconclusive need halt; proceed needs promote".to_string()
                            }
                            (_, Some(s)) => format!("did you mean `{s}`? (hold and inconclusive need halt; proceed needs promote)"),
                            (_, None) => "scopes grant `halt`, `rollback`, `promote` and `override`; hold and inconclusive need halt; proceed needs promote".to_string(),
                        };
                        let diag = Diagnostic::error(
                            Code::UnknownScopeAction,
                            a.span,
                            format!("a scope cannot grant `{}`", a.name),
                        )
                        .label("not a scope action")
                        .help(help);
                        let diag = match &meant {
                            Some(s) => diag.replace_with(a.span, s),
                            None => diag,
                        };
                        self.err(diag);
                    }
                }
            }
            may.sort();
            let mark = self.mark(s.name.span, &item(units, d).attrs, None);
            self.scope_marks.push(mark);
            self.program.scopes.push(ir::Scope {
                name: s.name.name.clone(),
                principals,
                may,
                envs: s
                    .envs
                    .as_ref()
                    .map(|e| e.iter().map(|(v, _)| v.clone()).collect()),
            });
        }
        // Let and fn bodies, once each, where they are declared. Their nodes are scratch: uses
        // inline them again.
        for (u, unit) in units.iter().enumerate() {
            for it in &unit.ast.items {
                let mark = self.program.nodes.len();
                let cel_mark = self.program.cel.len();
                match &it.kind {
                    ItemKind::Let(l) => {
                        let env = self.env(u, Place::Anywhere);
                        self.expr(&l.value, &env);
                    }
                    ItemKind::Fn(f) => self.fn_body(u, f),
                    _ => continue,
                }
                self.truncate(mark);
                self.program.cel.truncate(cel_mark);
            }
        }
    }

    fn unknown_type(&mut self, t: &ast::TypeName, allowed: &[&str]) {
        let mut d = Diagnostic::error(
            Code::UnknownType,
            t.span,
            format!("`{}` is not a type here", t.name),
        )
        .label("unknown type");
        d = match did_you_mean(&t.name, allowed.iter().copied()) {
            Some(s) => d
                .help(format!("did you mean `{s}`?"))
                .replace_with(t.span, &s),
            None => d.help(format!(
                "the types are {}",
                allowed
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
        self.err(d);
    }

    fn fn_body(&mut self, unit: usize, f: &ast::FnDecl) {
        let mut params = HashMap::new();
        let mut seen: HashMap<&str, &ast::Ident> = HashMap::new();
        for p in &f.params {
            if let Some(first) = seen.insert(p.name.name.as_str(), &p.name) {
                let d = duplicate("parameter", &p.name, first, self.sources);
                self.err(d);
            }
            let ty = match Ty::parse(&p.ty.name) {
                Some(t) => t,
                None => {
                    self.unknown_type(&p.ty, Ty::NAMES);
                    Ty::Error
                }
            };
            params.insert(p.name.name.clone(), Binding::Typed(ty));
        }
        let ret = match Ty::parse(&f.ret.name) {
            Some(t) => t,
            None => {
                self.unknown_type(&f.ret, Ty::NAMES);
                Ty::Error
            }
        };
        let env = Env {
            unit,
            place: Place::Anywhere,
            params,
            locals: None,
        };
        let (t, _) = self.expr(&f.body, &env);
        if ret != Ty::Error && !t.fits(&ret) {
            let code = if t.is_numeric() && ret.is_numeric() {
                Code::UnitMismatch
            } else {
                Code::TypeMismatch
            };
            let d = Diagnostic::error(
                code,
                f.body.span,
                format!(
                    "`{}` returns {}, and its body is {}",
                    f.name.name,
                    ret.article(),
                    t.article()
                ),
            )
            .label(t.article())
            .with_label(f.ret.span, "return type declared here")
            .help("make the body match the declared type, or change the type");
            self.err(d);
        }
    }

    /// Every input node `when` reads, in order, without repeats.
    fn inputs(&self, root: NodeId) -> Vec<NodeId> {
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

    fn slots_read(&self, root: NodeId) -> Vec<SlotId> {
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

    fn action(
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

    fn policy(
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
                self.expr(&l.value, &env(Place::Anywhere));
                self.truncate(mark);
                self.program.cel.truncate(cel_mark);
            }
        }

        let mut out = ir::Policy {
            name: p.name.name.clone(),
            dry_run: policy_dry,
            applies: None,
            gates: Vec::new(),
            rules: Vec::new(),
            approvals: Vec::new(),
            freshness: Vec::new(),
        };
        let mut origin = PolicyOrigin::default();
        let mut applies_span = None;
        let mut names: HashMap<String, ast::Ident> = HashMap::new();
        let mut claim = |s: &mut Self, name: &ast::Ident| {
            if let Some(first) = names.get(&name.name) {
                let d = duplicate("rule or approval", name, first, s.sources);
                s.err(d);
            } else {
                names.insert(name.name.clone(), name.clone());
            }
        };
        for s in &p.statements {
            let dry = self.attrs(&s.attrs) || policy_dry;
            let name_span = match &s.kind {
                StatementKind::Rule { name, .. } | StatementKind::Approval { name, .. } => {
                    name.span
                }
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
                    claim(self, name);
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
                StatementKind::Approval {
                    name,
                    count,
                    of,
                    when,
                } => {
                    claim(self, name);
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

    pub fn tests(&mut self) -> Vec<TestCase> {
        let units = self.units;
        let mut rule_names: Vec<&str> = Vec::new();
        let mut dry_names: HashSet<&str> = HashSet::new();
        for p in &self.program.policies {
            for r in &p.rules {
                if r.dry_run {
                    dry_names.insert(&r.name);
                } else {
                    rule_names.push(&r.name);
                }
            }
        }
        let rule_names: Vec<String> = rule_names.iter().map(|s| s.to_string()).collect();
        let dry_names: HashSet<String> = dry_names.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        for d in self.decls.tests.clone() {
            let it = item(units, d);
            let ItemKind::Test(t) = &it.kind else {
                continue;
            };
            let expect = self.action(
                &t.expect,
                &[Action::Proceed, Action::Inconclusive, Action::Hold, Action::Halt, Action::Rollback],
                "as an expected decision",
                "a test expects a decision: `proceed`, `inconclusive`, `hold`, `halt` or `rollback`",
            );
            for r in &t.by {
                // A rule of a policy that did not parse: its syntax error says enough.
                if rule_names.contains(&r.name) || self.in_unparsed("policy", &r.name) {
                    continue;
                }
                let dry = dry_names.contains(&r.name);
                let mut diag = Diagnostic::error(
                    Code::TestUnknownRule,
                    r.span,
                    if dry_names.contains(&r.name) {
                        format!("rule `{}` is dry-run and never fires", r.name)
                    } else {
                        format!("no policy of the set has a rule `{}`", r.name)
                    },
                )
                .label(if dry {
                    "a dry-run rule"
                } else {
                    "unknown rule"
                });
                diag = if dry_names.contains(&r.name) {
                    diag.help("dry-run rules are reported in `shadow`, never in `fired`; drop it from `by`")
                } else {
                    match did_you_mean(&r.name, rule_names.iter().map(String::as_str)) {
                        Some(s) => diag
                            .help(format!("did you mean `{s}`?"))
                            .replace_with(r.span, &s),
                        None => diag.help("name a rule as its policy declares it"),
                    }
                };
                self.err(diag);
            }
            out.push(TestCase {
                title: t.title.clone(),
                snapshot: units[d.unit].dir.join(&t.snapshot),
                snapshot_written: t.snapshot.clone(),
                snapshot_span: t.snapshot_span,
                expect: expect.unwrap_or(Action::Proceed),
                by: t.by.iter().map(|b| b.name.clone()).collect(),
                span: it.span,
            });
        }
        out
    }

    /// The set's own signals, lets, fns and classes that nothing reads. Classes that are
    /// irreversible or a security fix matter without being named (the safety overrides), and a
    /// class whose tag some `touches` names is read through it.
    pub fn unused(&mut self) -> Vec<(&'static str, String, Mark)> {
        let units = self.units;
        let mut out = Vec::new();
        for (u, unit) in units.iter().enumerate().filter(|(_, u)| u.in_set) {
            for (i, it) in unit.ast.items.iter().enumerate() {
                let d = DeclRef { unit: u, item: i };
                let (kind, name, used) = match &it.kind {
                    ItemKind::Signal(x) => ("signal", &x.name, self.used.contains(&d)),
                    ItemKind::Let(x) => ("let", &x.name, self.used.contains(&d)),
                    ItemKind::Fn(x) => ("fn", &x.name, self.used.contains(&d)),
                    ItemKind::Class(c) => {
                        let id = self.class_ids.get(&c.name.name).copied();
                        let used = c.irreversible
                            || c.security_fix
                            || id.is_some_and(|id| {
                                self.used_classes.contains(&id)
                                    || self.program.classes[id as usize]
                                        .tags
                                        .iter()
                                        .any(|t| self.used_tags.contains(t))
                            });
                        ("class", &c.name, used)
                    }
                    _ => continue,
                };
                let mark = self.mark(name.span, &it.attrs, None);
                if !used {
                    out.push((kind, name.name.clone(), mark));
                }
            }
        }
        out
    }

    pub fn finish(self) -> Option<Program> {
        if self.has_errors() {
            None
        } else {
            Some(self.program)
        }
    }
}

fn ast_error_ty() -> Ty {
    Ty::Error
}
