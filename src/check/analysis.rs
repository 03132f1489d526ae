//! What the checker learned about a policy set, for tools: [`Analysis`].
//!
//! The checker resolves every name to lower it, then forgets how (the IR holds slots, not
//! names). Editors need exactly what it forgot: where each name is declared, every place that
//! names it, and its type. The [`Recorder`] keeps that during the check: declarations and the
//! words with a fixed role (actions, types, annotations, principal kinds) are read from the
//! syntax trees before lowering; uses are recorded by the lowering walk itself, so a tool sees
//! the names exactly as the checker resolved them.

use std::collections::HashMap;

use super::ty::Ty;
use super::Unit;
use crate::codes::Code;
use crate::source::{FileId, Sources, Span};
use crate::syntax::ast::{self, ItemKind, StatementKind, UseTarget};

/// Everything the checker resolved in one policy set: its files and their imports, every
/// declaration, and every name occurrence with what it refers to and its type.
///
/// It is built whether or not the set has errors, from whatever resolved: a name that refers to
/// nothing is [`Role::Unresolved`], and a declaration the parser could not read is absent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Analysis {
    /// The set's files (sorted by name), then the modules they import, in load order.
    pub files: Vec<FileAnalysis>,
    /// Indexed by [`DefId`].
    pub definitions: Vec<Definition>,
    /// Sorted by file, then start; at most one per span.
    pub occurrences: Vec<Occurrence>,
}

/// One file the check read.
#[derive(Clone, Debug, PartialEq)]
pub struct FileAnalysis {
    pub file: FileId,
    /// One of the set's own files, rather than a module some file imports.
    pub in_set: bool,
    /// The [`DefKind::Module`] definition that stands for this file.
    pub module: DefId,
    /// The files this one's `use`s import, each once, with the `use` target's span.
    pub imports: Vec<(FileId, Span)>,
    /// The signals, lets and fns its expressions can name (the set's, and its imports'), sorted
    /// by name.
    pub values: Vec<DefId>,
}

/// Index of a definition in [`Analysis::definitions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DefId(pub u32);

/// What a declaration declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DefKind {
    Signal,
    Let,
    Fn,
    /// A fn's parameter; its container is the fn.
    Param,
    Class,
    /// A tag a class `touches`; its container is the class. Several classes may list one tag:
    /// uses refer to the first.
    Tag,
    Scope,
    Policy,
    /// A rule; its container is the policy.
    Rule,
    /// An approval; its container is the policy.
    Approval,
    /// A `forbid` veto; its container is the policy.
    Forbid,
    /// A policy's own `let`; its container is the policy.
    Local,
    /// A `test` block, named by its title.
    Test,
    /// A file, as a `use` names it; its span is the file's start.
    Module,
}

impl DefKind {
    /// The word a message uses for it.
    pub fn word(self) -> &'static str {
        match self {
            DefKind::Signal => "signal",
            DefKind::Let | DefKind::Local => "let",
            DefKind::Fn => "fn",
            DefKind::Param => "parameter",
            DefKind::Class => "class",
            DefKind::Tag => "tag",
            DefKind::Scope => "scope",
            DefKind::Policy => "policy",
            DefKind::Rule => "rule",
            DefKind::Approval => "approval",
            DefKind::Forbid => "forbid",
            DefKind::Test => "test",
            DefKind::Module => "module",
        }
    }
}

/// One declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct Definition {
    pub name: String,
    pub kind: DefKind,
    /// The declared name (a test's: its `test` keyword; a module's: the start of its file).
    pub span: Span,
    /// The policy of a rule, approval or local let; the fn of a parameter; the class of a tag.
    pub container: Option<DefId>,
    /// A signal's type, a let's (its value's, as checked where it is declared), a fn's return
    /// type, a parameter's. `None` when it has an error or the declaration has no value.
    pub ty: Option<Ty>,
}

/// A word of the source with a meaning.
#[derive(Clone, Debug, PartialEq)]
pub struct Occurrence {
    pub span: Span,
    pub role: Role,
    /// The value's type where the checker knows it: every resolved name in an expression, and
    /// the declared names of signals, lets, fns and parameters.
    pub ty: Option<Ty>,
}

/// What an [`Occurrence`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The name a declaration declares.
    Definition(DefId),
    /// A name that refers to a declaration (a `use` target refers to its module).
    Use(DefId),
    /// A name in an expression, a class after `is`, a tag after `touches`, a rule after `by`, or
    /// a `use` target, that refers to nothing the set declares.
    Unresolved,
    /// A built-in function that reads a signal's data: `baseline`, `samples`, `age`, `delta`,
    /// `has`.
    Builtin,
    /// A field of `deployment`.
    Field,
    /// `human`, `agent`, `service_account`, `group`.
    PrincipalKind,
    /// A rule's or gate's action, a test's expectation, a scope's grant.
    Action,
    /// A type name.
    Type,
    /// An annotation's key (`@severity`).
    Annotation,
    /// A diagnostic code in `@allow(...)`.
    Code,
}

impl Analysis {
    pub fn definition(&self, id: DefId) -> &Definition {
        &self.definitions[id.0 as usize]
    }

    /// The occurrences in `file`, in order.
    pub fn occurrences_in(&self, file: FileId) -> &[Occurrence] {
        let start = self.occurrences.partition_point(|o| o.span.file < file);
        let end = self.occurrences.partition_point(|o| o.span.file <= file);
        &self.occurrences[start..end]
    }

    /// The occurrence at `offset` in `file`: from its start up to and including its end, so a
    /// cursor just after a name finds it.
    pub fn at(&self, file: FileId, offset: u32) -> Option<&Occurrence> {
        let here = self.occurrences_in(file);
        let i = here.partition_point(|o| o.span.start <= offset);
        here[..i]
            .iter()
            .rev()
            .find(|o| o.span.start <= offset && offset <= o.span.end)
    }

    /// Where `id` is declared and every place that names it.
    pub fn occurrences_of(&self, id: DefId) -> impl Iterator<Item = &Occurrence> {
        self.occurrences
            .iter()
            .filter(move |o| matches!(o.role, Role::Definition(d) | Role::Use(d) if d == id))
    }

    pub fn file(&self, file: FileId) -> Option<&FileAnalysis> {
        self.files.iter().find(|f| f.file == file)
    }

    /// The definitions of one kind, in declaration order.
    pub fn of_kind(&self, kind: DefKind) -> impl Iterator<Item = (DefId, &Definition)> {
        self.definitions
            .iter()
            .enumerate()
            .filter(move |(_, d)| d.kind == kind)
            .map(|(i, d)| (DefId(i as u32), d))
    }

    /// The definitions `container` holds (a policy's rules, a fn's parameters, ...).
    pub fn children(&self, container: DefId) -> impl Iterator<Item = (DefId, &Definition)> {
        self.definitions
            .iter()
            .enumerate()
            .filter(move |(_, d)| d.container == Some(container))
            .map(|(i, d)| (DefId(i as u32), d))
    }
}

/// Builds an [`Analysis`] while the set is checked.
#[derive(Default)]
pub(crate) struct Recorder {
    analysis: Analysis,
    /// Declarations by the span of their name: how the lowering walk, which finds declarations
    /// as AST nodes, names them.
    by_span: HashMap<Span, DefId>,
    /// The first class to list each tag.
    tags: HashMap<String, DefId>,
}

impl Recorder {
    /// Every declaration of every file, and the words whose role the syntax alone decides.
    pub fn new(units: &[Unit], sources: &Sources) -> Recorder {
        let mut r = Recorder::default();
        let modules: Vec<DefId> = units
            .iter()
            .map(|u| {
                let span = Span {
                    file: u.file,
                    start: 0,
                    end: 0,
                };
                r.define(&sources.get(u.file).name, DefKind::Module, span, None, None)
            })
            .collect();
        for (u, unit) in units.iter().enumerate() {
            r.analysis.files.push(FileAnalysis {
                file: unit.file,
                in_set: unit.in_set,
                module: modules[u],
                imports: unit
                    .imports
                    .iter()
                    .zip(&unit.import_spans)
                    .map(|(&m, &span)| (units[m].file, span))
                    .collect(),
                values: Vec::new(),
            });
            for item in &unit.ast.items {
                r.attrs(&item.attrs);
                r.item(item, unit, &modules);
            }
        }
        r
    }

    fn define(
        &mut self,
        name: &str,
        kind: DefKind,
        span: Span,
        container: Option<DefId>,
        ty: Option<Ty>,
    ) -> DefId {
        let id = DefId(self.analysis.definitions.len() as u32);
        self.analysis.definitions.push(Definition {
            name: name.to_string(),
            kind,
            span,
            container,
            ty: ty.filter(|t| *t != Ty::Error),
        });
        if kind != DefKind::Module && kind != DefKind::Test {
            self.by_span.entry(span).or_insert(id);
            self.push(span, Role::Definition(id), None);
        }
        id
    }

    fn declare(&mut self, name: &ast::Ident, kind: DefKind, container: Option<DefId>) -> DefId {
        self.define(&name.name, kind, name.span, container, None)
    }

    fn declare_typed(&mut self, name: &ast::Ident, kind: DefKind, ty: &ast::TypeName) -> DefId {
        let id = self.define(&name.name, kind, name.span, None, Ty::parse(&ty.name));
        self.push(ty.span, Role::Type, None);
        id
    }

    fn push(&mut self, span: Span, role: Role, ty: Option<Ty>) {
        if span.end > span.start {
            self.analysis.occurrences.push(Occurrence {
                span,
                role,
                ty: ty.filter(|t| *t != Ty::Error),
            });
        }
    }

    fn attrs(&mut self, attrs: &ast::Attrs) {
        for a in &attrs.annotations {
            self.push(a.key.span, Role::Annotation, None);
            if let Some((value, span)) = &a.value {
                if a.key.name == "allow" && Code::parse(value).is_some() {
                    self.push(*span, Role::Code, None);
                }
            }
        }
    }

    /// The kind words of a principal pattern (`human in group "sre"`: `human` and `group`).
    fn principal(&mut self, p: &ast::PrincipalPat) {
        self.push(p.kind.span, Role::PrincipalKind, None);
        if let Some(w) = &p.within {
            self.principal(w);
        }
    }

    fn item(&mut self, item: &ast::Item, unit: &Unit, modules: &[DefId]) {
        match &item.kind {
            ItemKind::Use(u) => {
                let span = match &u.target {
                    UseTarget::Std(m) => m.span,
                    UseTarget::Path(_) => u.target_span,
                };
                let role = match unit.use_targets.iter().find(|(s, _)| *s == u.target_span) {
                    Some(&(_, m)) => Role::Use(modules[m]),
                    None => Role::Unresolved,
                };
                self.push(span, role, None);
            }
            ItemKind::Signal(s) => {
                self.declare_typed(&s.name, DefKind::Signal, &s.ty);
            }
            ItemKind::Class(c) => {
                let class = self.declare(&c.name, DefKind::Class, None);
                for t in &c.tags {
                    let tag = self.declare(t, DefKind::Tag, Some(class));
                    self.tags.entry(t.name.clone()).or_insert(tag);
                }
            }
            ItemKind::Scope(s) => {
                self.declare(&s.name, DefKind::Scope, None);
                for p in &s.principals {
                    self.principal(p);
                }
                for g in &s.may {
                    self.push(g.span, Role::Action, None);
                }
            }
            ItemKind::Let(l) => {
                self.declare(&l.name, DefKind::Let, None);
            }
            ItemKind::Fn(f) => {
                let func = self.declare_typed(&f.name, DefKind::Fn, &f.ret);
                for p in &f.params {
                    let param = self.declare_typed(&p.name, DefKind::Param, &p.ty);
                    self.analysis.definitions[param.0 as usize].container = Some(func);
                }
            }
            ItemKind::Policy(p) => {
                let policy = self.declare(&p.name, DefKind::Policy, None);
                for s in &p.statements {
                    self.attrs(&s.attrs);
                    match &s.kind {
                        StatementKind::Applies(_) => {}
                        StatementKind::Require { action, .. } => {
                            self.push(action.span, Role::Action, None)
                        }
                        StatementKind::Rule { action, name, .. } => {
                            self.push(action.span, Role::Action, None);
                            self.declare(name, DefKind::Rule, Some(policy));
                        }
                        StatementKind::Approval { name, of, .. } => {
                            self.declare(name, DefKind::Approval, Some(policy));
                            self.principal(of);
                        }
                        StatementKind::Forbid { action, name, .. } => {
                            self.push(action.span, Role::Action, None);
                            self.declare(name, DefKind::Forbid, Some(policy));
                        }
                        StatementKind::Let(l) => {
                            self.declare(&l.name, DefKind::Local, Some(policy));
                        }
                    }
                }
            }
            ItemKind::Test(t) => {
                let keyword = Span {
                    end: item.span.start + 4,
                    ..item.span
                };
                self.define(&t.title, DefKind::Test, keyword, None, None);
                self.push(t.expect.span, Role::Action, None);
                for a in &t.authority {
                    if let ast::TestAuthority::RequesterMay(grants, _) = a {
                        for g in grants {
                            self.push(g.span, Role::Action, None);
                        }
                    }
                }
            }
        }
    }

    /// The declaration whose name is written at `span`.
    pub fn declared_at(&self, span: Span) -> Option<DefId> {
        self.by_span.get(&span).copied()
    }

    /// A name that refers to the declaration named at `def` (`None`: to nothing), of type `ty`.
    pub fn name(&mut self, span: Span, def: Option<Span>, ty: &Ty) {
        let role = match def.and_then(|d| self.declared_at(d)) {
            Some(id) => Role::Use(id),
            None => Role::Unresolved,
        };
        self.push(span, role, Some(ty.clone()));
    }

    /// A tag after `touches`.
    pub fn tag(&mut self, span: Span, name: &str) {
        let role = match self.tags.get(name) {
            Some(&id) => Role::Use(id),
            None => Role::Unresolved,
        };
        self.push(span, role, None);
    }

    /// A rule or approval name after a test's `by`.
    pub fn rule(&mut self, span: Span, name: &str) {
        let found =
            self.analysis.definitions.iter().position(|d| {
                matches!(d.kind, DefKind::Rule | DefKind::Approval) && d.name == name
            });
        let role = match found {
            Some(i) => Role::Use(DefId(i as u32)),
            None => Role::Unresolved,
        };
        self.push(span, role, None);
    }

    /// A word whose role does not depend on a declaration.
    pub fn word(&mut self, span: Span, role: Role, ty: Option<Ty>) {
        self.push(span, role, ty);
    }

    /// The type of a let's value, checked where it is declared.
    pub fn let_type(&mut self, name: Span, ty: &Ty) {
        if let Some(id) = self.declared_at(name) {
            self.analysis.definitions[id.0 as usize].ty =
                Some(ty.clone()).filter(|t| *t != Ty::Error);
        }
    }

    /// The finished analysis. `visible` is, per unit, the declarations of the values its
    /// expressions can name (by the span of their name).
    pub fn finish(mut self, visible: Vec<Vec<Span>>) -> Analysis {
        for (file, spans) in self.analysis.files.iter_mut().zip(visible) {
            let mut values: Vec<DefId> = spans
                .into_iter()
                .filter_map(|s| self.by_span.get(&s).copied())
                .collect();
            let defs = &self.analysis.definitions;
            values.sort_by(|a, b| defs[a.0 as usize].name.cmp(&defs[b.0 as usize].name));
            file.values = values;
        }
        // Declared names carry their declaration's type.
        for o in &mut self.analysis.occurrences {
            if let Role::Definition(id) = o.role {
                o.ty = self.analysis.definitions[id.0 as usize].ty.clone();
            }
        }
        let occurrences = &mut self.analysis.occurrences;
        occurrences.sort_by_key(|o| (o.span.file, o.span.start, o.span.end));
        occurrences.dedup_by(|a, b| a.span == b.span);
        self.analysis
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{NoFiles, SetFile};

    fn analyse(text: &str) -> (crate::Compilation, String) {
        let files = [SetFile {
            name: "a.rollguard".into(),
            path: "a.rollguard".into(),
            text: text.into(),
        }];
        (crate::compile(&files, &NoFiles), text.to_string())
    }

    /// The occurrence at the `n`th (from 0) appearance of `word` in the text.
    fn at<'a>(c: &'a crate::Compilation, text: &str, word: &str, n: usize) -> &'a Occurrence {
        let offset = text
            .match_indices(word)
            .nth(n)
            .expect("the word is there")
            .0;
        c.analysis
            .at(FileId(0), offset as u32)
            .unwrap_or_else(|| panic!("nothing recorded at `{word}` #{n}"))
    }

    fn refers_to(c: &crate::Compilation, o: &Occurrence) -> (DefKind, String) {
        match o.role {
            Role::Use(id) | Role::Definition(id) => {
                let d = c.analysis.definition(id);
                (d.kind, d.name.clone())
            }
            other => panic!("not a name: {other:?}"),
        }
    }

    const SET: &str = r#"use std::http
signal errors: ratio = "http.errors"
let limit = 2%
fn above(x: ratio, y: ratio) -> bool = x > y
class vault { touches [secrets] }

policy p {
  let local = limit * 2
  rollback failing when above(errors, local) and class touches secrets
  halt slow when latency_p99 > 1s and class is vault
}

test "t" {
  snapshot "s.json"
  expect rollback
  by failing
}
"#;

    #[test]
    fn names_resolve_to_their_declarations_with_types() {
        let (c, text) = analyse(SET);
        let o = at(&c, &text, "errors", 2);
        assert_eq!(refers_to(&c, o), (DefKind::Signal, "errors".into()));
        assert_eq!(o.ty, Some(Ty::Ratio));
        let o = at(&c, &text, "local", 1);
        assert_eq!(refers_to(&c, o), (DefKind::Local, "local".into()));
        assert_eq!(o.ty, Some(Ty::Ratio));
        let o = at(&c, &text, "y", 1);
        assert_eq!(refers_to(&c, o), (DefKind::Param, "y".into()));
        assert_eq!(
            refers_to(&c, at(&c, &text, "above", 1)),
            (DefKind::Fn, "above".into())
        );
        assert_eq!(
            refers_to(&c, at(&c, &text, "secrets", 1)),
            (DefKind::Tag, "secrets".into())
        );
        assert_eq!(
            refers_to(&c, at(&c, &text, "vault", 1)),
            (DefKind::Class, "vault".into())
        );
        assert_eq!(
            refers_to(&c, at(&c, &text, "failing", 1)),
            (DefKind::Rule, "failing".into())
        );
        // Imported from the standard module, which the analysis lists with its own names.
        let o = at(&c, &text, "latency_p99", 0);
        let (kind, name) = refers_to(&c, o);
        assert_eq!((kind, name.as_str()), (DefKind::Signal, "latency_p99"));
        assert_eq!(o.ty, Some(Ty::Duration));
        assert_eq!(refers_to(&c, at(&c, &text, "http", 0)).0, DefKind::Module);
    }

    #[test]
    fn declarations_carry_their_types_and_containers() {
        let (c, text) = analyse(SET);
        let o = at(&c, &text, "limit", 0);
        assert_eq!(refers_to(&c, o), (DefKind::Let, "limit".into()));
        assert_eq!(o.ty, Some(Ty::Ratio), "a let's type is its value's");
        let Role::Definition(p) = at(&c, &text, "x:", 0).role else {
            panic!("a parameter's name declares it")
        };
        let func = c
            .analysis
            .definition(p)
            .container
            .expect("a parameter has its fn");
        assert_eq!(c.analysis.definition(func).name, "above");
        let names: Vec<&str> = c
            .analysis
            .children(func)
            .map(|(_, d)| d.name.as_str())
            .collect();
        assert_eq!(names, ["x", "y"]);
        assert_eq!(at(&c, &text, "rollback", 0).role, Role::Action);
        assert_eq!(at(&c, &text, "ratio", 0).role, Role::Type);
    }

    #[test]
    fn the_analysis_is_there_when_the_set_has_errors() {
        let text = "signal s: count = \"s\"\npolicy p {\n  halt x when s > 1 and missing > 2\n}\n";
        let (c, text) = analyse(text);
        assert!(c.has_errors());
        assert_eq!(
            refers_to(&c, at(&c, &text, "s >", 0)),
            (DefKind::Signal, "s".into())
        );
        assert_eq!(at(&c, &text, "missing", 0).role, Role::Unresolved);
        let file = &c.analysis.files[0];
        assert!(file.in_set);
        let values: Vec<&str> = file
            .values
            .iter()
            .map(|&v| c.analysis.definition(v).name.as_str())
            .collect();
        assert_eq!(values, ["s"]);
    }
}
