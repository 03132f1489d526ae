//! The outline of a file: its declarations, with a policy's rules, approvals and lets inside it.

use rollguard::syntax::ast::{ItemKind, StatementKind};
use tower_lsp_server::ls_types::{DocumentSymbol, SymbolKind};

use crate::db::{self, Db, SourceFile};
use crate::position::Lines;

#[allow(deprecated)] // `DocumentSymbol::deprecated` must be given; `tags` replaces it.
fn symbol(
    lines: &Lines,
    name: &str,
    detail: Option<String>,
    kind: SymbolKind,
    full: rollguard::source::Span,
    name_span: rollguard::source::Span,
    children: Vec<DocumentSymbol>,
) -> DocumentSymbol {
    let range = lines.range(full.start, full.end);
    let selection_range = lines.range(name_span.start, name_span.end);
    DocumentSymbol {
        name: name.to_string(),
        detail,
        kind,
        tags: None,
        deprecated: None,
        range,
        selection_range,
        children: if children.is_empty() {
            None
        } else {
            Some(children)
        },
    }
}

pub fn document_symbols(db: &dyn Db, file: SourceFile) -> Vec<DocumentSymbol> {
    let parsed = db::parse(db, file);
    let lines = db::lines(db, file);
    let mut out = Vec::new();
    for item in &parsed.ast.items {
        let s = match &item.kind {
            ItemKind::Use(_) => continue,
            ItemKind::Signal(s) => symbol(
                &lines,
                &s.name.name,
                Some(format!("{} = \"{}\"", s.ty.name, s.key)),
                SymbolKind::VARIABLE,
                item.span,
                s.name.span,
                Vec::new(),
            ),
            ItemKind::Class(c) => symbol(
                &lines,
                &c.name.name,
                Some("class".into()),
                SymbolKind::CLASS,
                item.span,
                c.name.span,
                Vec::new(),
            ),
            ItemKind::Scope(sc) => symbol(
                &lines,
                &sc.name.name,
                Some(format!(
                    "may {}",
                    sc.may
                        .iter()
                        .map(|g| g.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                SymbolKind::NAMESPACE,
                item.span,
                sc.name.span,
                Vec::new(),
            ),
            ItemKind::Let(l) => symbol(
                &lines,
                &l.name.name,
                Some("let".into()),
                SymbolKind::CONSTANT,
                item.span,
                l.name.span,
                Vec::new(),
            ),
            ItemKind::Fn(f) => symbol(
                &lines,
                &f.name.name,
                Some(format!(
                    "({}) -> {}",
                    f.params
                        .iter()
                        .map(|p| format!("{}: {}", p.name.name, p.ty.name))
                        .collect::<Vec<_>>()
                        .join(", "),
                    f.ret.name
                )),
                SymbolKind::FUNCTION,
                item.span,
                f.name.span,
                Vec::new(),
            ),
            ItemKind::Policy(p) => {
                let children = p
                    .statements
                    .iter()
                    .filter_map(|st| {
                        Some(match &st.kind {
                            StatementKind::Rule { action, name, .. } => symbol(
                                &lines,
                                &name.name,
                                Some(action.name.clone()),
                                SymbolKind::EVENT,
                                st.span,
                                name.span,
                                Vec::new(),
                            ),
                            StatementKind::Approval { name, of, .. } => symbol(
                                &lines,
                                &name.name,
                                Some(format!("approval of {}", db::principal_text(of))),
                                SymbolKind::KEY,
                                st.span,
                                name.span,
                                Vec::new(),
                            ),
                            StatementKind::Let(l) => symbol(
                                &lines,
                                &l.name.name,
                                Some("let".into()),
                                SymbolKind::CONSTANT,
                                st.span,
                                l.name.span,
                                Vec::new(),
                            ),
                            _ => return None,
                        })
                    })
                    .collect();
                symbol(
                    &lines,
                    &p.name.name,
                    Some("policy".into()),
                    SymbolKind::MODULE,
                    item.span,
                    p.name.span,
                    children,
                )
            }
            ItemKind::Test(t) => symbol(
                &lines,
                &t.title,
                Some(format!("expect {}", t.expect.name)),
                SymbolKind::METHOD,
                item.span,
                item.span,
                Vec::new(),
            ),
        };
        out.push(s);
    }
    out
}
