//! Collects every declaration of the set and its imports, and reports clashes.
//!
//! Signals, lets and fns share one namespace per set: the set's own declarations plus whatever
//! any of its files imports. What a `use` imports is visible only in the importing file. Classes
//! and scopes from every loaded file count for the set; policies and tests come from the set's
//! own files only.

use std::collections::HashMap;

use super::{is_builtin, DeclRef, Unit};
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::source::{Sources, Span};
use crate::syntax::ast::{Ident, Item, ItemKind};

pub(crate) struct Decls {
    /// Per unit: the value names (signals, lets, fns) visible in it.
    pub visible: Vec<HashMap<String, DeclRef>>,
    /// Every value name of the set, visible in some file of it.
    pub set_values: HashMap<String, DeclRef>,
    /// Classes in load order (set files by name, then modules), without repeats.
    pub classes: Vec<DeclRef>,
    pub scopes: Vec<DeclRef>,
    /// Sorted by name.
    pub policies: Vec<DeclRef>,
    pub tests: Vec<DeclRef>,
}

pub(crate) fn item(units: &[Unit], d: DeclRef) -> &Item {
    &units[d.unit].ast.items[d.item]
}

pub(crate) fn value_name(item: &Item) -> Option<&Ident> {
    match &item.kind {
        ItemKind::Signal(s) => Some(&s.name),
        ItemKind::Let(l) => Some(&l.name),
        ItemKind::Fn(f) => Some(&f.name),
        _ => None,
    }
}

fn kind_word(item: &Item) -> &'static str {
    match &item.kind {
        ItemKind::Signal(_) => "signal",
        ItemKind::Let(_) => "let",
        ItemKind::Fn(_) => "fn",
        ItemKind::Class(_) => "class",
        ItemKind::Scope(_) => "scope",
        ItemKind::Policy(_) => "policy",
        ItemKind::Test(_) => "test",
        ItemKind::Use(_) => "use",
    }
}

pub(crate) fn duplicate(what: &str, name: &Ident, first: &Ident, sources: &Sources) -> Diagnostic {
    Diagnostic::error(
        Code::Duplicate,
        name.span,
        format!("{what} `{}` is declared twice", name.name),
    )
    .label("declared again here")
    .with_label(first.span, format!("`{}` first declared here", first.name))
    .help(format!(
        "rename one of them, or delete this copy and keep the one at {}",
        sources.location(first.span)
    ))
}

impl Decls {
    pub fn collect(units: &[Unit], sources: &Sources, diags: &mut Vec<Diagnostic>) -> Decls {
        // Each unit's own value declarations.
        let mut own: Vec<HashMap<String, DeclRef>> = Vec::new();
        for (u, unit) in units.iter().enumerate() {
            let mut names: HashMap<String, DeclRef> = HashMap::new();
            for (i, it) in unit.ast.items.iter().enumerate() {
                let Some(name) = value_name(it) else { continue };
                if is_builtin(&name.name) {
                    diags.push(
                        Diagnostic::error(
                            Code::Duplicate,
                            name.span,
                            format!("`{}` is a built-in and cannot be declared", name.name),
                        )
                        .label("clashes with the built-in")
                        .help("choose another name"),
                    );
                    continue;
                }
                let d = DeclRef { unit: u, item: i };
                if let Some(first) = names.get(&name.name) {
                    let first_name = value_name(item(units, *first)).expect("value decl");
                    diags.push(duplicate(kind_word(it), name, first_name, sources));
                } else {
                    names.insert(name.name.clone(), d);
                }
            }
            own.push(names);
        }

        // The set's namespace: its files' declarations and everything they import.
        let mut set_values: HashMap<String, DeclRef> = HashMap::new();
        let mut contributors: Vec<usize> = Vec::new();
        // The set's own files first, so a clash with an import is reported at the import.
        contributors.extend((0..units.len()).filter(|&u| units[u].in_set));
        for unit in units.iter().filter(|u| u.in_set) {
            for &m in &unit.imports {
                if !contributors.contains(&m) {
                    contributors.push(m);
                }
            }
        }
        for &u in &contributors {
            let mut entries: Vec<(&String, &DeclRef)> = own[u].iter().collect();
            entries.sort_by_key(|(_, d)| d.item);
            for (name, d) in entries {
                match set_values.get(name) {
                    Some(first) if first != d => {
                        let a = value_name(item(units, *d)).expect("value decl");
                        let b = value_name(item(units, *first)).expect("value decl");
                        diags.push(match import_of(units, d.unit) {
                            Some(use_span) => {
                                imported_clash(units, sources, a, use_span, *first, b)
                            }
                            None => duplicate(kind_word(item(units, *d)), a, b, sources),
                        });
                    }
                    _ => {
                        set_values.insert(name.clone(), *d);
                    }
                }
            }
        }

        // What each file sees.
        let mut visible = Vec::new();
        for (u, unit) in units.iter().enumerate() {
            let mut v = HashMap::new();
            if unit.in_set {
                for (w, other) in units.iter().enumerate() {
                    if other.in_set {
                        for (n, d) in &own[w] {
                            v.entry(n.clone()).or_insert(*d);
                        }
                    }
                }
            } else {
                v.extend(own[u].iter().map(|(n, d)| (n.clone(), *d)));
            }
            for &m in &unit.imports {
                for (n, d) in &own[m] {
                    v.entry(n.clone()).or_insert(*d);
                }
            }
            visible.push(v);
        }

        let mut classes = Vec::new();
        let mut scopes = Vec::new();
        let mut policies = Vec::new();
        let mut tests = Vec::new();
        let mut class_names: HashMap<String, DeclRef> = HashMap::new();
        let mut scope_names: HashMap<String, DeclRef> = HashMap::new();
        let mut policy_names: HashMap<String, DeclRef> = HashMap::new();
        for (u, unit) in units.iter().enumerate() {
            for (i, it) in unit.ast.items.iter().enumerate() {
                let d = DeclRef { unit: u, item: i };
                let (table, list, name) = match &it.kind {
                    ItemKind::Class(c) => (&mut class_names, &mut classes, &c.name),
                    ItemKind::Scope(s) => (&mut scope_names, &mut scopes, &s.name),
                    ItemKind::Policy(p) if unit.in_set => {
                        (&mut policy_names, &mut policies, &p.name)
                    }
                    ItemKind::Test(_) if unit.in_set => {
                        tests.push(d);
                        continue;
                    }
                    _ => continue,
                };
                if let Some(first) = table.get(&name.name) {
                    let first_name = decl_ident(item(units, *first));
                    diags.push(duplicate(kind_word(it), name, first_name, sources));
                } else {
                    table.insert(name.name.clone(), d);
                    list.push(d);
                }
            }
        }
        policies.sort_by(|a, b| {
            decl_ident(item(units, *a))
                .name
                .cmp(&decl_ident(item(units, *b)).name)
        });
        Decls {
            visible,
            set_values,
            classes,
            scopes,
            policies,
            tests,
        }
    }
}

fn decl_ident(it: &Item) -> &Ident {
    match &it.kind {
        ItemKind::Class(c) => &c.name,
        ItemKind::Scope(s) => &s.name,
        ItemKind::Policy(p) => &p.name,
        _ => value_name(it).expect("a named declaration"),
    }
}

/// The first `use` in the set's own files that imports `module`.
fn import_of(units: &[Unit], module: usize) -> Option<Span> {
    units.iter().filter(|u| u.in_set).find_map(|u| {
        u.imports
            .iter()
            .position(|&m| m == module)
            .map(|i| u.import_spans[i])
    })
}

/// A name a `use` imports clashes with one already in the set (declared, or imported earlier).
fn imported_clash(
    units: &[Unit],
    sources: &Sources,
    name: &Ident,
    use_span: Span,
    first: DeclRef,
    first_name: &Ident,
) -> Diagnostic {
    let imported_from = sources.get(name.span.file).name.clone();
    match import_of(units, first.unit).filter(|_| !units[first.unit].in_set) {
        Some(first_use) => Diagnostic::error(
            Code::Duplicate,
            use_span,
            format!("`{imported_from}` and `{}` both declare `{}`", sources.get(first_name.span.file).name, name.name),
        )
        .label(format!("imports `{}`", name.name))
        .with_label(first_use, format!("also imports `{}`", name.name))
        .help("import only one of them in this set, or rename the declaration in your own module"),
        None => Diagnostic::error(
            Code::Duplicate,
            first_name.span,
            format!("`{}` is declared here and also imported from `{imported_from}`", name.name),
        )
        .label("declared here")
        .with_label(use_span, format!("this `use` imports another `{}`", name.name))
        .help(format!(
            "rename this declaration (e.g. `{}_local`), or drop it and use the one `{imported_from}` declares",
            name.name
        )),
    }
}
