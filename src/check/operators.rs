//! Operators on values: comparisons, `in`, and arithmetic, with the unit rules (ratios with
//! ratios, durations with durations, a unit times a plain number) and constant folding.

use super::expr::Env;
use super::lower::{plain_literal, tidy, unit_literals, Lower, Lowered};
use super::ty::Ty;
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::ir::{ArithOp, CmpOp, Node};
use crate::syntax::ast::{self, BinOp};

impl Lower<'_> {
    pub(super) fn unit_mismatch(
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

    pub(super) fn binary(
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
