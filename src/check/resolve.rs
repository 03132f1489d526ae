//! Names: what a name in an expression refers to (a fn parameter, a policy's own `let`, then a
//! value of the set or of the file's imports), and the fields of `deployment`. A let is inlined
//! where it is used; a signal becomes its slot.

use std::collections::HashMap;

use super::analysis::Role;
use super::decls::{item, value_name};
use super::expr::{Binding, Env};
use super::lower::{Frame, Lower, Lowered};
use super::ty::Ty;
use crate::codes::Code;
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::ir::{Field, Node};
use crate::source::Span;
use crate::syntax::ast::{self, ItemKind, PathPart};

impl Lower<'_> {
    pub(super) fn name(&mut self, id: &ast::Ident, env: &Env) -> Lowered {
        let out = self.lower_name(id, env);
        if self.recording() {
            let def = self.definition_of(id, env);
            self.analysis.name(id.span, def, &out.0);
        }
        out
    }

    /// Where the declaration a name refers to is named, by the rules `lower_name` follows: a
    /// fn's parameter, then the policy's own lets, then the values the file sees.
    pub(super) fn definition_of(&self, id: &ast::Ident, env: &Env) -> Option<Span> {
        if let Some(b) = env.params.get(&id.name) {
            return match b {
                Binding::Typed(_, span) => Some(*span),
                Binding::Bound(..) => None,
            };
        }
        if let Some(l) = env.locals.and_then(|(locals, _)| locals.get(&id.name)) {
            return Some(l.name.span);
        }
        let d = self.decls.visible[env.unit].get(&id.name)?;
        value_name(item(self.units, *d)).map(|n| n.span)
    }

    fn lower_name(&mut self, id: &ast::Ident, env: &Env) -> Lowered {
        if let Some(b) = env.params.get(&id.name) {
            return match b {
                Binding::Typed(t, _) => (t.clone(), self.push(Node::Num(0.0))),
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

    pub(super) fn deployment(&mut self, e: &ast::Expr, parts: &[PathPart]) -> Lowered {
        let out = self.lower_deployment(e, parts);
        if self.recording() {
            // The path's type is the last field's; `labels` before `["key"]` is the map.
            for (i, p) in parts.iter().enumerate() {
                if let PathPart::Field(f) = p {
                    let ty = match parts.get(i + 1) {
                        None => Some(out.0.clone()),
                        Some(PathPart::Index(..)) => Some(Ty::Labels),
                        Some(PathPart::Field(_)) => None,
                    };
                    self.analysis.word(f.span, Role::Field, ty);
                }
            }
        }
        out
    }

    fn lower_deployment(&mut self, e: &ast::Expr, parts: &[PathPart]) -> Lowered {
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
}
