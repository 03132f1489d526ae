//! Calls: the built-ins that read a signal's data (`baseline`, `samples`, `age`, `delta`,
//! `has`), `fresh(...) within`, windows (`max(x) over 5m`), and user fns, which are inlined with
//! their arguments bound to the parameters.

use std::collections::HashMap;

use super::analysis::Role;
use super::decls::item;
use super::expr::{Binding, Env, Place};
use super::lower::{plain_literal, tidy, unit_literals, Frame, Lower, Lowered};
use super::ty::Ty;
use crate::codes::Code;
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::ir::{self, Node, SlotId};
use crate::source::Span;
use crate::syntax::ast::{self, ExprKind, ItemKind};

impl Lower<'_> {
    /// The signal an argument names: directly, through a let, or through a fn parameter bound to
    /// one. `Ok(None)`: a parameter in a body checked on its own, judged at each call.
    pub(super) fn signal_arg(
        &mut self,
        func: &str,
        arg: &ast::Expr,
        env: &Env,
    ) -> Result<Option<SlotId>, ()> {
        if let ExprKind::Name(id) = &arg.kind {
            if let Some(Binding::Typed(..)) = env.params.get(&id.name) {
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

    pub(super) fn place_allows(&mut self, what: &str, span: Span, env: &Env) {
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

    pub(super) fn call(
        &mut self,
        e: &ast::Expr,
        name: &ast::Ident,
        args: &[ast::Expr],
        env: &Env,
    ) -> Lowered {
        let out = self.lower_call(e, name, args, env);
        if self.recording() {
            if crate::syntax::lexicon::SIGNAL_FUNCTIONS.contains(&name.name.as_str()) {
                self.analysis
                    .word(name.span, Role::Builtin, Some(out.0.clone()));
            } else if name.name != "cel" {
                let def = self.definition_of(name, env);
                self.analysis.name(name.span, def, &out.0);
            }
        }
        out
    }

    fn lower_call(
        &mut self,
        e: &ast::Expr,
        name: &ast::Ident,
        args: &[ast::Expr],
        env: &Env,
    ) -> Lowered {
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
                            Some(Binding::Typed(t, _)) if t.is_plain() => Ty::Number,
                            Some(Binding::Typed(t, _)) => t.clone(),
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

    pub(super) fn has(&mut self, arg: &ast::Expr, env: &Env) -> Lowered {
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

    pub(super) fn fresh(
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

    pub(super) fn window_fn(
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
}
