//! Declarations: signals become slots, classes and scopes enter the program, every let and fn
//! body is checked once where it is declared; annotations and the marks lints read; tests; and
//! the set's declarations nothing reads.

use std::collections::{HashMap, HashSet};

use super::decls::{duplicate, item};
use super::expr::{Binding, Env, Place};
use super::lower::Lower;
use super::ty::Ty;
use super::{DeclRef, TestCase};
use crate::codes::Code;
use crate::diagnostic::{did_you_mean, Diagnostic, Severity};
use crate::ir::{self, Action, Grant, Mark, Program, SignalType, SlotId};
use crate::source::Span;
use crate::syntax::ast::{self, Attrs, ItemKind};

impl Lower<'_> {
    pub(super) fn env(&self, unit: usize, place: Place) -> Env<'static> {
        Env {
            unit,
            place,
            params: HashMap::new(),
            locals: None,
        }
    }

    /// Checks annotations; returns whether the item is dry-run.
    pub(super) fn attrs(&mut self, attrs: &Attrs) -> bool {
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
                ("maps", Some(_)) => self.maps(a),
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

    /// Checks the ids of a `@maps` against the bundled catalogs (E0028); the compliance report
    /// resolves them again from the syntax tree.
    fn maps(&mut self, a: &ast::Annotation) {
        if let Some((value, span)) = &a.value {
            let sources = self.sources;
            let (_, errors) = crate::compliance::check_maps(value, *span, sources.text(*span));
            for d in errors {
                self.err(d);
            }
        }
    }

    /// `@maps` of the declarations other than policies (scopes, signals, classes, lets, fns,
    /// tests), whose annotations nothing else reads; a policy's are checked with its own.
    pub(super) fn item_maps(&mut self) {
        let units = self.units;
        for unit in units {
            for it in &unit.ast.items {
                if matches!(it.kind, ItemKind::Policy(_)) {
                    continue;
                }
                for a in it.attrs.annotations.iter().filter(|a| a.key.name == "maps") {
                    self.maps(a);
                }
            }
        }
    }

    /// Where lints about a declaration or statement point, and what it allows.
    pub(super) fn mark(&mut self, span: Span, attrs: &Attrs, outer: Option<&Mark>) -> Mark {
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
        self.item_maps();
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
            self.class_spans.insert(c.name.name.clone(), c.name.span);
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
            let classes = s.classes.as_ref().map(|names| {
                let mut ids = Vec::new();
                for c in names {
                    match self.class_ids.get(&c.name) {
                        Some(&id) => {
                            self.analysis
                                .name(c.span, self.class_spans.get(&c.name).copied(), &Ty::Class);
                            self.used_classes.insert(id);
                            if !ids.contains(&id) {
                                ids.push(id);
                            }
                        }
                        None if self.in_unparsed("class", &c.name) => {}
                        None => {
                            self.analysis.name(c.span, None, &Ty::Error);
                            let names: Vec<&str> =
                                self.program.classes.iter().map(|c| c.name.as_str()).collect();
                            let mut diag = Diagnostic::error(
                                Code::UnknownClass,
                                c.span,
                                format!("the set declares no class `{}`", c.name),
                            )
                            .label("unknown class");
                            diag = match did_you_mean(&c.name, names) {
                                Some(m) => diag
                                    .help(format!("did you mean `{m}`?"))
                                    .replace_with(c.span, &m),
                                None => diag.help("a scope narrowed to classes names classes the set declares: declare it with `class NAME { ... }`, or `use std::classes` for the standard classes"),
                            };
                            self.err(diag);
                        }
                    }
                }
                ids
            });
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
                services: s
                    .services
                    .as_ref()
                    .map(|e| e.iter().map(|(v, _)| v.clone()).collect()),
                classes,
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
                        let (ty, _) = self.expr(&l.value, &env);
                        self.analysis.let_type(l.name.span, &ty);
                    }
                    ItemKind::Fn(f) => self.fn_body(u, f),
                    _ => continue,
                }
                self.truncate(mark);
                self.program.cel.truncate(cel_mark);
                self.cel.truncate(cel_mark);
            }
        }
    }

    pub(super) fn unknown_type(&mut self, t: &ast::TypeName, allowed: &[&str]) {
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

    pub(super) fn fn_body(&mut self, unit: usize, f: &ast::FnDecl) {
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
            params.insert(p.name.name.clone(), Binding::Typed(ty, p.name.span));
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
                self.analysis.rule(r.span, &r.name);
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
            let mut authorized: Option<(bool, Span)> = None;
            let mut requester_may: Option<(Vec<Grant>, Span)> = None;
            for a in &t.authority {
                let (span, first) = match a {
                    ast::TestAuthority::Authorized(_, span) => (*span, authorized.map(|x| x.1)),
                    ast::TestAuthority::RequesterMay(_, span) => {
                        (*span, requester_may.as_ref().map(|x| x.1))
                    }
                };
                if let Some(first) = first {
                    let what = match a {
                        ast::TestAuthority::Authorized(..) => "whether the requester is authorized",
                        ast::TestAuthority::RequesterMay(..) => "`requester_may`",
                    };
                    let diag = Diagnostic::error(
                        Code::RepeatedStatement,
                        span,
                        format!("test \"{}\" states {what} twice", t.title),
                    )
                    .label("second expectation")
                    .with_label(first, "first expectation")
                    .help("keep one: a test expects one answer");
                    self.err(diag);
                    continue;
                }
                match a {
                    ast::TestAuthority::Authorized(yes, span) => authorized = Some((*yes, *span)),
                    ast::TestAuthority::RequesterMay(words, span) => {
                        let mut grants = Vec::new();
                        for w in words {
                            match Grant::parse(&w.name) {
                                Some(g) if !grants.contains(&g) => grants.push(g),
                                Some(_) => {}
                                None => {
                                    let meant = did_you_mean(
                                        &w.name,
                                        Grant::ALL.iter().map(|g| g.as_str()),
                                    );
                                    let mut diag = Diagnostic::error(
                                        Code::UnknownScopeAction,
                                        w.span,
                                        format!("`{}` is not something a scope grants", w.name),
                                    )
                                    .label("not a scope action");
                                    diag = match meant {
                                        Some(m) => diag
                                            .help(format!("did you mean `{m}`?"))
                                            .replace_with(w.span, &m),
                                        None => diag.help("`requester_may` lists grants: `halt`, `rollback`, `promote`, `override` (hold and inconclusive need halt; proceed needs promote)"),
                                    };
                                    self.err(diag);
                                }
                            }
                        }
                        grants.sort();
                        requester_may = Some((grants, *span));
                    }
                }
            }
            let authority_span = match (authorized, &requester_may) {
                (Some((_, a)), Some((_, b))) => Some(if a.start <= b.start { a } else { *b }),
                (Some((_, a)), None) => Some(a),
                (None, Some((_, b))) => Some(*b),
                (None, None) => None,
            };
            out.push(TestCase {
                authorized: authorized.map(|x| x.0),
                requester_may: requester_may.map(|x| x.0),
                authority_span,
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

    /// Per unit: where each value its expressions can name is declared.
    pub(super) fn visible_values(&self) -> Vec<Vec<Span>> {
        self.decls
            .visible
            .iter()
            .map(|names| {
                names
                    .values()
                    .filter_map(|&d| super::decls::value_name(item(self.units, d)).map(|n| n.span))
                    .collect()
            })
            .collect()
    }

    /// The program and its compiled CEL conditions (indexed like `program.cel`), unless there
    /// was an error.
    pub fn finish(self) -> Option<(Program, Vec<cel::Program>)> {
        if self.has_errors() {
            None
        } else {
            Some((self.program, self.cel))
        }
    }
}
