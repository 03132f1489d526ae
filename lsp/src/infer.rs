//! The type of a `let`, for hover.
//!
//! The checker computes every expression's type but does not expose it, so this follows the
//! rules of `docs/language.md` §7 on the AST. It answers `None` where it is unsure (an
//! expression with an error, a name it cannot find); it never reports anything.

use rollguard::syntax::ast::{self, BinOp, ExprKind, ItemKind, PathPart, StatementKind, UnaryOp};

use crate::db::{self, Db, DefKind, Detail, SourceFile};

/// Types as hover names them (the names `docs/language.md` uses).
pub fn unit_note(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "ratio" => "a fraction: `1%` is 0.01; write `%` after a number",
        "duration" => "seconds; write `ms`, `s`, `m` or `h` after a number",
        "count" => "a whole number of at least 0",
        "number" => "a plain number, without a unit",
        _ => return None,
    })
}

/// The type of a `deployment.` path.
pub fn field_type(parts: &[&str]) -> Option<&'static str> {
    Some(match parts {
        ["id"] | ["revision"] | ["service"] | ["environment"] | ["stage"] => "string",
        ["class"] => "class",
        ["traffic_percent"] => "number",
        ["cascade_depth"] => "count",
        ["emergency"] => "bool",
        ["actor"] => "principal",
        ["approvals"] => "list of approvals",
        ["labels"] => "map of labels",
        ["labels", _] => "string",
        ["rollback_target", "healthy"] => "bool",
        ["rollback_target", "version"] => "string",
        _ => return None,
    })
}

pub struct Infer<'a> {
    pub db: &'a dyn Db,
    depth: u32,
}

/// Names local to where an expression stands.
#[derive(Default, Clone, Copy)]
pub struct Locals<'a> {
    pub params: &'a [ast::Param],
    pub policy: Option<&'a ast::PolicyDecl>,
}

impl<'a> Infer<'a> {
    pub fn new(db: &'a dyn Db) -> Infer<'a> {
        Infer { db, depth: 0 }
    }

    /// The type of the top-level or policy-local `let` called `name` in `file`.
    pub fn let_type(
        &mut self,
        file: SourceFile,
        policy: Option<&str>,
        name: &str,
    ) -> Option<String> {
        if self.depth > 32 {
            return None;
        }
        self.depth += 1;
        let parsed = db::parse(self.db, file);
        let mut found = None;
        for item in &parsed.ast.items {
            match (&item.kind, policy) {
                (ItemKind::Let(l), None) if l.name.name == name => {
                    found = self.expr(file, &l.value, Locals::default());
                    break;
                }
                (ItemKind::Policy(p), Some(pn)) if p.name.name == pn => {
                    for s in &p.statements {
                        if let StatementKind::Let(l) = &s.kind {
                            if l.name.name == name {
                                let locals = Locals {
                                    params: &[],
                                    policy: Some(p),
                                };
                                found = self.expr(file, &l.value, locals);
                            }
                        }
                    }
                    break;
                }
                _ => {}
            }
        }
        self.depth -= 1;
        found
    }

    fn name(&mut self, file: SourceFile, name: &str, locals: Locals) -> Option<String> {
        if let Some(p) = locals.params.iter().find(|p| p.name.name == name) {
            return Some(p.ty.name.clone());
        }
        if let Some(p) = locals.policy {
            if p.statements
                .iter()
                .any(|s| matches!(&s.kind, StatementKind::Let(l) if l.name.name == name))
            {
                return self.let_type(file, Some(&p.name.name), name);
            }
        }
        let scope = db::scope(self.db, file);
        let def = scope.value(name)?.clone();
        let decls = db::declarations(self.db, def.file);
        let d = decls.find(def.kind, None, &def.name)?;
        match (&d.detail, def.kind) {
            (Detail::Signal { ty, .. }, _) => Some(ty.clone()),
            (Detail::Fn { ret, .. }, _) => Some(ret.clone()),
            (_, DefKind::Let) => self.let_type(def.file, None, name),
            _ => None,
        }
    }

    pub fn expr(&mut self, file: SourceFile, e: &ast::Expr, locals: Locals) -> Option<String> {
        use rollguard::syntax::ast::Unit;
        Some(match &e.kind {
            ExprKind::Number(_, Unit::None) => "number".into(),
            ExprKind::Number(_, Unit::Percent) => "ratio".into(),
            ExprKind::Number(..) => "duration".into(),
            ExprKind::Str(_) => "string".into(),
            ExprKind::Bool(_) | ExprKind::Fresh(..) | ExprKind::Cel(..) => "bool".into(),
            ExprKind::Is(..) | ExprKind::Touches(..) => "bool".into(),
            ExprKind::Class => "class".into(),
            ExprKind::Name(id) => return self.name(file, &id.name, locals),
            ExprKind::Deployment(parts) => {
                let words: Vec<&str> = parts
                    .iter()
                    .map(|p| match p {
                        PathPart::Field(id) => id.name.as_str(),
                        PathPart::Index(..) => "_",
                    })
                    .collect();
                return field_type(&words).map(str::to_string);
            }
            ExprKind::List(items) => {
                let first = items.first()?;
                format!("list of {}", self.expr(file, first, locals)?)
            }
            ExprKind::Call(id, args) => match id.name.as_str() {
                "samples" => "count".into(),
                "age" => "duration".into(),
                "has" => "bool".into(),
                "baseline" | "delta" => return self.expr(file, args.first()?, locals),
                name => return self.name(file, name, locals),
            },
            ExprKind::Window(_, arg, _) => return self.expr(file, arg, locals),
            ExprKind::Paren(x) => return self.expr(file, x, locals),
            ExprKind::Unary(UnaryOp::Not, _) => "bool".into(),
            ExprKind::Unary(UnaryOp::Neg, x) => match self.expr(file, x, locals)?.as_str() {
                "count" => "number".into(),
                t => t.into(),
            },
            ExprKind::Cond(_, a, b) => match self.expr(file, a, locals) {
                Some(t) => t,
                None => return self.expr(file, b, locals),
            },
            ExprKind::Binary(op, a, b) => {
                if op.is_comparison() || matches!(op, BinOp::And | BinOp::Or | BinOp::In) {
                    return Some("bool".into());
                }
                let l = self.expr(file, a, locals)?;
                let r = self.expr(file, b, locals)?;
                let unit = |t: &str| matches!(t, "ratio" | "duration");
                match op {
                    BinOp::Add | BinOp::Sub if l == "string" && r == "string" => "string".into(),
                    BinOp::Add | BinOp::Sub | BinOp::Mul if unit(&l) => l,
                    BinOp::Add | BinOp::Sub | BinOp::Mul if unit(&r) => r,
                    BinOp::Div if unit(&l) && unit(&r) => "number".into(),
                    BinOp::Div if unit(&l) => l,
                    _ => "number".into(),
                }
            }
        })
    }
}
