//! Expressions back to text in one canonical layout: single spaces, the author's parentheses,
//! `and`/`or`/`not` spelled as words. Explanations quote conditions in this form, so they do not
//! change when a file is reformatted.

use super::ast::*;

pub fn expr(e: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, e);
    out
}

fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn principal(p: &PrincipalPat) -> String {
    let own = match &p.id {
        Some((id, _)) => format!("{} {}", p.kind.name, quote(id)),
        None => p.kind.name.clone(),
    };
    match &p.within {
        Some(w) => format!("{own} in {}", principal(w)),
        None => own,
    }
}

fn write_list(out: &mut String, items: &[Expr]) {
    for (i, a) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_expr(out, a);
    }
}

fn write_expr(out: &mut String, e: &Expr) {
    match &e.kind {
        ExprKind::Number(n, unit) => {
            out.push_str(&number(*n));
            out.push_str(match unit {
                Unit::None => "",
                Unit::Percent => "%",
                Unit::Millis => "ms",
                Unit::Seconds => "s",
                Unit::Minutes => "m",
                Unit::Hours => "h",
            });
        }
        ExprKind::Str(s) => out.push_str(&quote(s)),
        ExprKind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        ExprKind::Name(i) => out.push_str(&i.name),
        ExprKind::Class => out.push_str("class"),
        ExprKind::Deployment(parts) => {
            out.push_str("deployment");
            for p in parts {
                match p {
                    PathPart::Field(f) => {
                        out.push('.');
                        out.push_str(&f.name);
                    }
                    PathPart::Index(k, _) => {
                        out.push('[');
                        out.push_str(&quote(k));
                        out.push(']');
                    }
                }
            }
        }
        ExprKind::List(items) => {
            out.push('[');
            write_list(out, items);
            out.push(']');
        }
        ExprKind::Call(name, args) => {
            out.push_str(&name.name);
            out.push('(');
            write_list(out, args);
            out.push(')');
        }
        ExprKind::Fresh(args, within) => {
            out.push_str("fresh(");
            write_list(out, args);
            out.push_str(") within ");
            write_expr(out, within);
        }
        ExprKind::Window(f, arg, over) => {
            out.push_str(f.name());
            out.push('(');
            write_expr(out, arg);
            out.push_str(") over ");
            write_expr(out, over);
        }
        ExprKind::Cel(src, _) => {
            out.push_str("cel(");
            out.push_str(&quote(src));
            out.push(')');
        }
        ExprKind::Unary(op, inner) => {
            match op {
                UnaryOp::Not => out.push_str("not "),
                UnaryOp::Neg => out.push('-'),
            }
            write_expr(out, inner);
        }
        ExprKind::Binary(op, l, r) => {
            write_expr(out, l);
            out.push(' ');
            out.push_str(op.symbol());
            out.push(' ');
            write_expr(out, r);
        }
        ExprKind::Cond(c, a, b) => {
            write_expr(out, c);
            out.push_str(" ? ");
            write_expr(out, a);
            out.push_str(" : ");
            write_expr(out, b);
        }
        ExprKind::Is(l, t) => {
            write_expr(out, l);
            out.push_str(" is ");
            match t {
                IsTarget::Irreversible => out.push_str("irreversible"),
                IsTarget::SecurityFix => out.push_str("security_fix"),
                IsTarget::Word(p) => out.push_str(&principal(p)),
            }
        }
        ExprKind::Touches(l, tag) => {
            write_expr(out, l);
            out.push_str(" touches ");
            out.push_str(&tag.name);
        }
        ExprKind::Paren(inner) => {
            out.push('(');
            write_expr(out, inner);
            out.push(')');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;
    use crate::syntax::parse::parse_expr;

    #[test]
    fn prints_in_one_layout() {
        let e = parse_expr(FileId(0), "fresh(a,b)   within 2m &&  x>1.5*baseline( a )").unwrap();
        assert_eq!(expr(&e), "fresh(a, b) within 2m and x > 1.5 * baseline(a)");
        let e = parse_expr(FileId(0), "!(deployment.labels[\"x\"] == \"a\\\"b\")").unwrap();
        assert_eq!(expr(&e), "not (deployment.labels[\"x\"] == \"a\\\"b\")");
    }
}
