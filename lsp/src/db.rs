//! The incremental database: salsa inputs for what the editor and the disk say, and tracked
//! queries that wrap the library's phase functions.
//!
//! # The query graph
//!
//! Inputs: `SourceFile {path, text}` per document, `PolicySet {dir, files}` per directory, and
//! `Workspace {generation}`. Each query, and what it reads:
//!
//! ```text
//! parse(file)         <- file.text                                  (rollguard's parse_file)
//! lines(file)         <- file.text                                  (UTF-16 line index)
//! declarations(file)  <- parse(file), lines(file)                   (outline, hover details)
//! compile_set(set)    <- set.files, the text of each and of every file it reads (`use`d
//!                        files, test snapshots), generation         (rollguard::Compiler)
//! compile_alone(file) <- file.text, and what it reads               (a standard module)
//! check_set(set)      <- compile_set(set)                           (diagnostics of the set)
//! diagnostics(file)   <- check_set(set of file)                     (publishDiagnostics,
//!                                                                    quick fixes)
//! names(file)         <- compile_set(set of file), or compile_alone(file)
//!                                                                   (hover, definition,
//!                                                                    references, rename,
//!                                                                    tokens)
//! set_index(set)      <- compile_set(set)                           (completion, rename)
//! scope(file)         <- compile_set(set of file)                   (completion, rename)
//! ```
//!
//! - `parse(file)` is the library's `parse_file`: the AST and the syntax errors, for the
//!   outline and the details hover shows.
//! - `declarations(file)` is what the file declares: names, kinds, doc comments, the details
//!   hover shows (a signal's type and key, a class's tags, a scope's grants, a fn's signature)
//!   and, for each name, its place as *line and column*, not byte offset.
//! - `compile_set(set)`: the library's [`rollguard::Compiler`] over the in-memory texts, with
//!   test snapshots and lints and no date (queries are pure, so `@until` expiry, which depends
//!   on the day, is left to `rollguard check`). The compiler is shared by the whole database
//!   and keeps each file's parse: an edit re-parses the edited file only. Its result holds
//!   byte offsets into every file, so it is never compared; the queries that read it are.
//! - `check_set(set)`: the findings, each in its document; `diagnostics(file)` those of one
//!   file. When an edit leaves a set's findings as they were, no `diagnostics(file)` re-runs
//!   and nothing is published.
//! - `names(file)`: every name in the file, taken from the checker's `Analysis`: what it
//!   refers to (a [`DefRef`]: file, kind, container and name, not offsets) and its type.
//!   An edit in one file leaves the other files' names equal, so what reads them stops there.
//! - `set_index(set)`, `scope(file)`: the names a set declares, and the values a file sees
//!   through its own imports, from the same `Analysis`.
//!
//! An edit in one set never re-runs a query of another: each reads its own set's files only.
//! The server re-implements no phase: names, types and imports are the checker's.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rollguard::check::analysis::{Analysis, DefId, Role};
use rollguard::codes::Code;
use rollguard::diagnostic::{Diagnostic, Severity};
use rollguard::syntax::ast::{self, ItemKind, StatementKind, UseTarget};
use rollguard::{Loader, SetFile};
use salsa::Setter as _;

use crate::paths::{normalize, FilePath};
use crate::position::Lines;

/// One document: an editor buffer, a file read from disk, or a standard module.
#[salsa::input(debug)]
pub struct SourceFile {
    #[returns(ref)]
    pub path: FilePath,
    #[returns(ref)]
    pub text: String,
}

/// The files of one directory: one policy set.
#[salsa::input(debug)]
pub struct PolicySet {
    #[returns(ref)]
    pub dir: PathBuf,
    /// Sorted by path.
    #[returns(ref)]
    pub files: Vec<SourceFile>,
}

/// Bumped whenever a path starts or stops naming a file, since looking a path up is not
/// otherwise tracked.
#[salsa::input(singleton)]
pub struct Workspace {
    #[returns(copy)]
    pub generation: u64,
}

#[salsa::db]
pub trait Db: salsa::Database {
    /// The document at `path`: one the server knows, else a standard module or a file read from
    /// disk now (and known from then on). Depends on the workspace generation.
    fn file(&self, path: &FilePath) -> Option<SourceFile>;

    /// The set of the directory `file` is in (`None` for standard modules).
    fn set_of(&self, file: SourceFile) -> Option<PolicySet>;

    /// The library's compiler, which keeps each file's parse between checks: an edit re-parses
    /// only the edited file.
    fn compiler(&self) -> &rollguard::Compiler;
}

/// What [`Database::executions`] records: each query run, as `name(Id(..))`.
pub type ExecutionLog = Arc<Mutex<Vec<String>>>;

#[salsa::db]
#[derive(Clone)]
pub struct Database {
    storage: salsa::Storage<Self>,
    files: Arc<Mutex<HashMap<FilePath, SourceFile>>>,
    sets: Arc<Mutex<HashMap<PathBuf, PolicySet>>>,
    compiler: Arc<rollguard::Compiler>,
    log: Option<ExecutionLog>,
}

impl Default for Database {
    fn default() -> Self {
        Database::new(false)
    }
}

#[salsa::db]
impl salsa::Database for Database {}

#[salsa::db]
impl Db for Database {
    fn file(&self, path: &FilePath) -> Option<SourceFile> {
        Workspace::get(self).generation(self);
        if let Some(f) = self.files.lock().expect("not poisoned").get(path) {
            return Some(*f);
        }
        let text = match path {
            FilePath::Std(name) => rollguard::stdlib::module(name)?.to_string(),
            FilePath::Fs(p) => std::fs::read_to_string(p).ok()?,
        };
        let mut files = self.files.lock().expect("not poisoned");
        // Another caller may have read it meanwhile; keep the first.
        Some(
            *files
                .entry(path.clone())
                .or_insert_with(|| SourceFile::new(self, path.clone(), text)),
        )
    }

    fn set_of(&self, file: SourceFile) -> Option<PolicySet> {
        let dir = file.path(self).set_dir()?;
        self.sets.lock().expect("not poisoned").get(&dir).copied()
    }

    fn compiler(&self) -> &rollguard::Compiler {
        &self.compiler
    }
}

impl Database {
    /// A database; with `log`, every query execution is recorded (see [`Self::executions`]).
    pub fn new(log: bool) -> Database {
        let executions: Option<ExecutionLog> = log.then(Default::default);
        let callback: Option<Box<dyn Fn(salsa::Event) + Send + Sync>> =
            executions.clone().map(|log| {
                Box::new(move |event: salsa::Event| {
                    if let salsa::EventKind::WillExecute { database_key } = event.kind {
                        log.lock()
                            .expect("not poisoned")
                            .push(format!("{database_key:?}"));
                    }
                }) as Box<dyn Fn(salsa::Event) + Send + Sync>
            });
        let db = Database {
            storage: salsa::Storage::new(callback),
            files: Default::default(),
            sets: Default::default(),
            compiler: Default::default(),
            log: executions,
        };
        Workspace::new(&db, 0);
        db
    }

    /// The queries executed since the last call, as `name(Id(..))`.
    pub fn take_executions(&self) -> Vec<String> {
        self.log
            .as_ref()
            .map(|l| std::mem::take(&mut *l.lock().expect("not poisoned")))
            .unwrap_or_default()
    }

    /// The known document at `path`, without reading the disk.
    pub fn known(&self, path: &FilePath) -> Option<SourceFile> {
        self.files.lock().expect("not poisoned").get(path).copied()
    }

    /// Every set the server has loaded.
    pub fn sets(&self) -> Vec<PolicySet> {
        let mut sets: Vec<(PathBuf, PolicySet)> = self
            .sets
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|(d, s)| (d.clone(), *s))
            .collect();
        sets.sort_by(|a, b| a.0.cmp(&b.0));
        sets.into_iter().map(|(_, s)| s).collect()
    }

    fn bump(&mut self) {
        let w = Workspace::get(self);
        let g = w.generation(self);
        w.set_generation(self).to(g + 1);
    }

    /// Sets a document's text (an editor's buffer, or the disk's after a change there), creating
    /// the document, and loading its directory's set, when it is new.
    pub fn set_text(&mut self, path: &FilePath, text: String) -> SourceFile {
        if let Some(f) = self.known(path) {
            if f.text(self) != &text {
                f.set_text(self).to(text);
            }
            self.ensure_set(path);
            return f;
        }
        let f = SourceFile::new(self, path.clone(), text);
        self.files
            .lock()
            .expect("not poisoned")
            .insert(path.clone(), f);
        self.bump();
        self.ensure_set(path);
        f
    }

    /// Loads the set of the directory of `path` (every `.rollguard` file in it) if it is new,
    /// and makes sure `path` is one of its files.
    pub fn ensure_set(&mut self, path: &FilePath) {
        let (Some(dir), Some(p)) = (path.set_dir(), path.as_path()) else {
            return;
        };
        let is_policy = p
            .extension()
            .is_some_and(|x| x == rollguard::load::EXTENSION);
        let existing = self.sets.lock().expect("not poisoned").get(&dir).copied();
        let set = match existing {
            Some(s) => s,
            None => {
                let mut files = Vec::new();
                for p in policy_files_on_disk(&dir) {
                    let fp = FilePath::Fs(p);
                    if let Some(f) = self.file(&fp) {
                        files.push(f);
                    }
                }
                let set = PolicySet::new(self, dir.clone(), files);
                self.sets.lock().expect("not poisoned").insert(dir, set);
                set
            }
        };
        if is_policy {
            if let Some(f) = self.known(path) {
                if !set.files(self).contains(&f) {
                    let mut files = set.files(self).clone();
                    files.push(f);
                    let db: &Database = self;
                    files.sort_by(|a, b| a.path(db).cmp(b.path(db)));
                    set.set_files(self).to(files);
                }
            }
        }
    }

    /// Forgets a document that no longer exists (deleted, or an unsaved buffer closed).
    pub fn remove(&mut self, path: &FilePath) {
        let Some(f) = self.files.lock().expect("not poisoned").remove(path) else {
            return;
        };
        if let Some(dir) = path.set_dir() {
            let set = self.sets.lock().expect("not poisoned").get(&dir).copied();
            if let Some(set) = set {
                let files: Vec<SourceFile> = set
                    .files(self)
                    .iter()
                    .copied()
                    .filter(|x| *x != f)
                    .collect();
                set.set_files(self).to(files);
            }
        }
        self.bump();
    }

    /// Tells the database that files may have appeared or disappeared on disk.
    pub fn disk_changed(&mut self) {
        self.bump();
    }
}

fn policy_files_on_disk(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|x| x == rollguard::load::EXTENSION)
        })
        .map(|p| normalize(&p))
        .collect();
    files.sort();
    files
}

// ------------------------------------------------------------------------------- parse, lines

/// The library's parse of one file.
pub struct Parsed {
    pub ast: ast::File,
    pub diagnostics: Vec<Diagnostic>,
}

#[salsa::tracked(returns(clone), no_eq)]
pub fn parse(db: &dyn Db, file: SourceFile) -> Arc<Parsed> {
    let (ast, diagnostics) =
        rollguard::syntax::parse::parse_file(rollguard::source::FileId(0), file.text(db));
    Arc::new(Parsed { ast, diagnostics })
}

#[salsa::tracked(returns(clone))]
pub fn lines(db: &dyn Db, file: SourceFile) -> Arc<Lines> {
    Arc::new(Lines::new(file.text(db)))
}

// ------------------------------------------------------------------------------- declarations

/// Where a name is written: zero-based line, and byte columns on that line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Place {
    pub line: u32,
    pub col: u32,
    pub end_col: u32,
}

/// What a declaration is: the library's kinds.
pub use rollguard::check::analysis::DefKind;

/// The details hover shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detail {
    None,
    Signal {
        ty: String,
        key: String,
    },
    Fn {
        params: Vec<(String, String)>,
        ret: String,
    },
    Param {
        ty: String,
    },
    Class {
        tags: Vec<String>,
        irreversible: bool,
        security_fix: bool,
    },
    Scope {
        principals: Vec<String>,
        may: Vec<String>,
        envs: Option<Vec<String>>,
        services: Option<Vec<String>>,
        classes: Option<Vec<String>>,
    },
    Rule {
        action: String,
    },
    /// A `forbid`: the action it vetoes.
    Forbid {
        action: String,
    },
    Approval {
        count: String,
        of: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decl {
    pub name: String,
    pub kind: DefKind,
    pub detail: Detail,
    pub doc: Option<String>,
    /// `@key(value)` annotations, as written.
    pub annotations: Vec<(String, Option<String>)>,
    pub place: Place,
    /// A policy's rules, approvals and lets; a fn's parameters; a class's tags.
    pub children: Vec<Decl>,
}

/// A `use`, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UseOf {
    Std(String),
    Path(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Declarations {
    pub decls: Vec<Decl>,
    pub uses: Vec<(UseOf, Place)>,
}

impl Declarations {
    /// The declaration a definition names.
    pub fn find(&self, kind: DefKind, container: Option<&str>, name: &str) -> Option<&Decl> {
        match container {
            None => self.decls.iter().find(|d| d.kind == kind && d.name == name),
            Some(c) => self
                .decls
                .iter()
                .filter(|d| {
                    d.name == c && matches!(d.kind, DefKind::Policy | DefKind::Fn | DefKind::Class)
                })
                .flat_map(|d| d.children.iter())
                .find(|d| d.kind == kind && d.name == name),
        }
    }
}

fn place(lines: &Lines, span: rollguard::source::Span) -> Place {
    let (line, col) = lines.line_col(span.start);
    let (end_line, end_col) = lines.line_col(span.end);
    Place {
        line,
        col,
        end_col: if end_line == line { end_col } else { col },
    }
}

fn annotations(attrs: &ast::Attrs) -> Vec<(String, Option<String>)> {
    attrs
        .annotations
        .iter()
        .map(|a| (a.key.name.clone(), a.value.as_ref().map(|v| v.0.clone())))
        .collect()
}

fn decl(
    lines: &Lines,
    name: &ast::Ident,
    kind: DefKind,
    detail: Detail,
    attrs: Option<&ast::Attrs>,
) -> Decl {
    Decl {
        name: name.name.clone(),
        kind,
        detail,
        doc: attrs.and_then(|a| a.doc()),
        annotations: attrs.map(annotations).unwrap_or_default(),
        place: place(lines, name.span),
        children: Vec::new(),
    }
}

#[salsa::tracked(returns(clone))]
pub fn declarations(db: &dyn Db, file: SourceFile) -> Arc<Declarations> {
    let parsed = parse(db, file);
    let lines = lines(db, file);
    let mut out = Declarations::default();
    for item in &parsed.ast.items {
        let attrs = Some(&item.attrs);
        let d = match &item.kind {
            ItemKind::Use(u) => {
                let of = match &u.target {
                    UseTarget::Std(m) => UseOf::Std(m.name.clone()),
                    UseTarget::Path(p) => UseOf::Path(p.clone()),
                };
                out.uses.push((of, place(&lines, u.target_span)));
                continue;
            }
            ItemKind::Signal(s) => decl(
                &lines,
                &s.name,
                DefKind::Signal,
                Detail::Signal {
                    ty: s.ty.name.clone(),
                    key: s.key.clone(),
                },
                attrs,
            ),
            ItemKind::Class(c) => {
                let mut d = decl(
                    &lines,
                    &c.name,
                    DefKind::Class,
                    Detail::Class {
                        tags: c.tags.iter().map(|t| t.name.clone()).collect(),
                        irreversible: c.irreversible,
                        security_fix: c.security_fix,
                    },
                    attrs,
                );
                d.children = c
                    .tags
                    .iter()
                    .map(|t| decl(&lines, t, DefKind::Tag, Detail::None, None))
                    .collect();
                d
            }
            ItemKind::Scope(s) => decl(
                &lines,
                &s.name,
                DefKind::Scope,
                Detail::Scope {
                    principals: s.principals.iter().map(principal_text).collect(),
                    may: s.may.iter().map(|g| g.name.clone()).collect(),
                    envs: s
                        .envs
                        .as_ref()
                        .map(|e| e.iter().map(|(v, _)| v.clone()).collect()),
                    services: s
                        .services
                        .as_ref()
                        .map(|e| e.iter().map(|(v, _)| v.clone()).collect()),
                    classes: s
                        .classes
                        .as_ref()
                        .map(|e| e.iter().map(|c| c.name.clone()).collect()),
                },
                attrs,
            ),
            ItemKind::Let(l) => decl(&lines, &l.name, DefKind::Let, Detail::None, attrs),
            ItemKind::Fn(f) => {
                let mut d = decl(
                    &lines,
                    &f.name,
                    DefKind::Fn,
                    Detail::Fn {
                        params: f
                            .params
                            .iter()
                            .map(|p| (p.name.name.clone(), p.ty.name.clone()))
                            .collect(),
                        ret: f.ret.name.clone(),
                    },
                    attrs,
                );
                d.children = f
                    .params
                    .iter()
                    .map(|p| {
                        decl(
                            &lines,
                            &p.name,
                            DefKind::Param,
                            Detail::Param {
                                ty: p.ty.name.clone(),
                            },
                            None,
                        )
                    })
                    .collect();
                d
            }
            ItemKind::Policy(p) => {
                let mut d = decl(&lines, &p.name, DefKind::Policy, Detail::None, attrs);
                for s in &p.statements {
                    let attrs = Some(&s.attrs);
                    let child = match &s.kind {
                        StatementKind::Rule { action, name, .. } => decl(
                            &lines,
                            name,
                            DefKind::Rule,
                            Detail::Rule {
                                action: action.name.clone(),
                            },
                            attrs,
                        ),
                        StatementKind::Approval {
                            name, count, of, ..
                        } => decl(
                            &lines,
                            name,
                            DefKind::Approval,
                            Detail::Approval {
                                count: rollguard_number(count.0),
                                of: principal_text(of),
                            },
                            attrs,
                        ),
                        StatementKind::Forbid { action, name, .. } => decl(
                            &lines,
                            name,
                            DefKind::Forbid,
                            Detail::Forbid {
                                action: action.name.clone(),
                            },
                            attrs,
                        ),
                        StatementKind::Let(l) => {
                            decl(&lines, &l.name, DefKind::Local, Detail::None, attrs)
                        }
                        _ => continue,
                    };
                    d.children.push(child);
                }
                d
            }
            ItemKind::Test(t) => {
                let (line, col) = lines.line_col(item.span.start);
                Decl {
                    name: t.title.clone(),
                    kind: DefKind::Test,
                    detail: Detail::None,
                    doc: item.attrs.doc(),
                    annotations: annotations(&item.attrs),
                    place: Place {
                        line,
                        col,
                        end_col: col + 4,
                    },
                    children: Vec::new(),
                }
            }
        };
        out.decls.push(d);
    }
    Arc::new(out)
}

pub fn principal_text(p: &ast::PrincipalPat) -> String {
    rollguard::syntax::print::principal(p)
}

fn rollguard_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

// ------------------------------------------------------------------------------- names

/// A declaration, as references point at it: by file, kind, container and name, not by byte
/// offset, so that an edit that moves a declaration leaves the references to it equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DefRef {
    pub file: SourceFile,
    pub kind: DefKind,
    /// The policy of a rule, approval or local let; the fn of a parameter; the class of a tag.
    pub container: Option<String>,
    pub name: String,
}

/// What a name (or a word with a meaning) is, for highlighting and for the features: the
/// library's [`Role`], with declarations as [`DefKind`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Token {
    Def(DefKind),
    /// `baseline`, `samples`, `age`, `delta`, `has` (called like fns).
    Builtin,
    /// A `deployment.` field.
    Field,
    /// `human`, `agent`, `service_account`, `group`.
    PrincipalKind,
    /// A rule's or gate's action, a test's expectation, a scope's grant.
    Action,
    /// A type name (`ratio`).
    Type,
    /// An annotation's key (`@severity`).
    Annotation,
    /// A diagnostic code in `@allow(W0005)`.
    Code,
    /// A name that refers to nothing declared.
    Unresolved,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occurrence {
    pub start: u32,
    pub end: u32,
    pub token: Token,
    /// What the name refers to (for a declaration: itself).
    pub def: Option<DefRef>,
    pub is_def: bool,
    /// The value's type, as the checker found it (`ratio`, `list of string`).
    pub ty: Option<String>,
}

/// Every name of one file, from the checker's [`Analysis`].
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Names {
    /// Sorted by start.
    pub occurrences: Vec<Occurrence>,
}

impl Names {
    /// The name at `offset` (its start up to and including its end, so a cursor just after a
    /// name finds it).
    pub fn at(&self, offset: u32) -> Option<&Occurrence> {
        let i = self.occurrences.partition_point(|o| o.start <= offset);
        self.occurrences[..i]
            .iter()
            .rev()
            .take(4)
            .find(|o| o.start <= offset && offset <= o.end)
    }

    /// Where `def` is declared in this file, with its type.
    pub fn declaration(&self, def: &DefRef) -> Option<&Occurrence> {
        self.occurrences
            .iter()
            .find(|o| o.is_def && o.def.as_ref() == Some(def))
    }
}

/// The names a set declares, each with the first declaration of it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SetIndex {
    /// Signals, lets and fns of the set's own files.
    pub values: BTreeMap<String, DefRef>,
    /// Classes of the set and of everything its files import.
    pub classes: BTreeMap<String, DefRef>,
    pub tags: BTreeMap<String, DefRef>,
    pub scopes: BTreeMap<String, DefRef>,
    pub policies: BTreeMap<String, DefRef>,
    /// Rule and approval names, across the set's policies.
    pub rules: BTreeMap<String, Vec<DefRef>>,
}

/// The names one file sees.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Scope {
    pub set: Arc<SetIndex>,
    /// Values the file's own imports bring.
    pub imported: BTreeMap<String, DefRef>,
}

impl Scope {
    pub fn value(&self, name: &str) -> Option<&DefRef> {
        self.set
            .values
            .get(name)
            .or_else(|| self.imported.get(name))
    }
}

/// One compilation of a set, through the library's [`rollguard::Compiler`], and what the
/// features read from it. Never compared (it holds byte offsets of every file): the queries
/// below take their parts, which are.
pub struct SetCompilation {
    pub check: Arc<SetCheck>,
    pub index: Arc<SetIndex>,
    pub names: HashMap<SourceFile, Arc<Names>>,
    pub scopes: HashMap<SourceFile, Arc<Scope>>,
}

/// Library file ids to documents.
struct Documents(Vec<Option<SourceFile>>);

impl Documents {
    fn new(db: &dyn Db, sources: &rollguard::source::Sources) -> Documents {
        Documents(
            (0..sources.len())
                .map(|i| {
                    let name = &sources.get(rollguard::source::FileId(i as u32)).name;
                    db.file(&FilePath::from_display(name))
                })
                .collect(),
        )
    }

    fn get(&self, id: rollguard::source::FileId) -> Option<SourceFile> {
        self.0.get(id.0 as usize).copied().flatten()
    }
}

fn def_ref(analysis: &Analysis, docs: &Documents, id: DefId) -> Option<DefRef> {
    let d = analysis.definition(id);
    Some(DefRef {
        file: docs.get(d.span.file)?,
        kind: d.kind,
        container: d.container.map(|c| analysis.definition(c).name.clone()),
        // A module is its file.
        name: if d.kind == DefKind::Module {
            String::new()
        } else {
            d.name.clone()
        },
    })
}

fn names_in(analysis: &Analysis, docs: &Documents, file: rollguard::source::FileId) -> Names {
    let occurrences = analysis
        .occurrences_in(file)
        .iter()
        .map(|o| {
            let (token, def, is_def) = match o.role {
                Role::Definition(id) | Role::Use(id) => {
                    let def = def_ref(analysis, docs, id);
                    let token = match def {
                        Some(_) => Token::Def(analysis.definition(id).kind),
                        None => Token::Unresolved,
                    };
                    (token, def, matches!(o.role, Role::Definition(_)))
                }
                Role::Unresolved => (Token::Unresolved, None, false),
                Role::Builtin => (Token::Builtin, None, false),
                Role::Field => (Token::Field, None, false),
                Role::PrincipalKind => (Token::PrincipalKind, None, false),
                Role::Action => (Token::Action, None, false),
                Role::Type => (Token::Type, None, false),
                Role::Annotation => (Token::Annotation, None, false),
                Role::Code => (Token::Code, None, false),
            };
            Occurrence {
                start: o.span.start,
                end: o.span.end,
                token,
                def,
                is_def,
                ty: o.ty.as_ref().map(|t| t.name()),
            }
        })
        .collect();
    Names { occurrences }
}

/// The set's names (what its own files declare, and the classes and tags of its imports) and
/// what each file sees.
fn index_of(
    analysis: &Analysis,
    docs: &Documents,
) -> (
    SetIndex,
    HashMap<rollguard::source::FileId, BTreeMap<String, DefRef>>,
) {
    let mut index = SetIndex::default();
    let in_set = |f: rollguard::source::FileId| analysis.file(f).is_some_and(|a| a.in_set);
    for (i, d) in analysis.definitions.iter().enumerate() {
        let Some(def) = def_ref(analysis, docs, DefId(i as u32)) else {
            continue;
        };
        let own = in_set(d.span.file);
        match d.kind {
            DefKind::Signal | DefKind::Let | DefKind::Fn if own => {
                index.values.entry(d.name.clone()).or_insert(def);
            }
            DefKind::Class => {
                index.classes.entry(d.name.clone()).or_insert(def);
            }
            DefKind::Tag => {
                index.tags.entry(d.name.clone()).or_insert(def);
            }
            DefKind::Scope => {
                index.scopes.entry(d.name.clone()).or_insert(def);
            }
            DefKind::Policy if own => {
                index.policies.entry(d.name.clone()).or_insert(def);
            }
            DefKind::Rule | DefKind::Approval | DefKind::Forbid if own => {
                index.rules.entry(d.name.clone()).or_default().push(def);
            }
            _ => {}
        }
    }
    let mut imported = HashMap::new();
    for f in &analysis.files {
        let mut values = BTreeMap::new();
        for &v in &f.values {
            let d = analysis.definition(v);
            if in_set(d.span.file) && f.in_set {
                continue;
            }
            if let Some(def) = def_ref(analysis, docs, v) {
                values.entry(d.name.clone()).or_insert(def);
            }
        }
        imported.insert(f.file, values);
    }
    (index, imported)
}

/// The set's files as the library reads them: documents with a path on disk.
fn set_files(db: &dyn Db, files: &[SourceFile]) -> Vec<SetFile> {
    files
        .iter()
        .filter_map(|f| {
            let path = f.path(db);
            Some(SetFile {
                name: path.display(),
                path: path.as_path()?.to_path_buf(),
                text: f.text(db).clone(),
            })
        })
        .collect()
}

#[salsa::tracked(returns(clone), no_eq)]
pub fn compile_set(db: &dyn Db, set: PolicySet) -> Arc<SetCompilation> {
    let files = set.files(db);
    compilation(db, files, &set_files(db, files))
}

/// A document outside any set (a standard module): compiled alone, for its own names.
#[salsa::tracked(returns(clone), no_eq)]
pub fn compile_alone(db: &dyn Db, file: SourceFile) -> Arc<SetCompilation> {
    let alone = [SetFile {
        name: file.path(db).display(),
        path: PathBuf::new(),
        text: file.text(db).clone(),
    }];
    compilation(db, &[file], &alone)
}

fn compilation(db: &dyn Db, files: &[SourceFile], set_files: &[SetFile]) -> Arc<SetCompilation> {
    if set_files.is_empty() {
        return Arc::new(SetCompilation {
            check: Arc::default(),
            index: Arc::default(),
            names: HashMap::new(),
            scopes: HashMap::new(),
        });
    }
    let loader = DbLoader { db };
    let c = db.compiler().compile(set_files, &loader, &CHECKING);
    let docs = Documents::new(db, &c.sources);
    let (index, mut imported) = index_of(&c.analysis, &docs);
    let index = Arc::new(index);
    let mut names = HashMap::new();
    let mut scopes = HashMap::new();
    for f in c.analysis.files.iter().filter(|f| f.in_set) {
        let Some(doc) = docs.get(f.file) else {
            continue;
        };
        names.insert(doc, Arc::new(names_in(&c.analysis, &docs, f.file)));
        scopes.insert(
            doc,
            Arc::new(Scope {
                set: index.clone(),
                imported: imported.remove(&f.file).unwrap_or_default(),
            }),
        );
    }
    Arc::new(SetCompilation {
        check: Arc::new(diagnostics_of(db, files, &c, &docs)),
        index,
        names,
        scopes,
    })
}

/// The compilation that covers `file`: its set's, or its own.
fn compilation_of(db: &dyn Db, file: SourceFile) -> Arc<SetCompilation> {
    match db.set_of(file).filter(|s| s.files(db).contains(&file)) {
        Some(set) => compile_set(db, set),
        None => compile_alone(db, file),
    }
}

/// Every name in `file` with what it refers to; the IDE features read it.
#[salsa::tracked(returns(clone))]
pub fn names(db: &dyn Db, file: SourceFile) -> Arc<Names> {
    compilation_of(db, file)
        .names
        .get(&file)
        .cloned()
        .unwrap_or_default()
}

#[salsa::tracked(returns(clone))]
pub fn set_index(db: &dyn Db, set: PolicySet) -> Arc<SetIndex> {
    compile_set(db, set).index.clone()
}

#[salsa::tracked(returns(clone))]
pub fn scope(db: &dyn Db, file: SourceFile) -> Arc<Scope> {
    compilation_of(db, file)
        .scopes
        .get(&file)
        .cloned()
        .unwrap_or_default()
}

// ------------------------------------------------------------------------------- checking

/// A place a diagnostic points at besides its primary span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Related {
    pub file: SourceFile,
    pub start: u32,
    pub end: u32,
    pub text: String,
}

/// A diagnostic in one file, with byte offsets into that file's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDiagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
    pub start: u32,
    pub end: u32,
    pub related: Vec<Related>,
    /// The library's fixes, each in the document it edits.
    pub suggestions: Vec<FileSuggestion>,
}

/// A [`rollguard::diagnostic::Suggestion`] with its document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSuggestion {
    pub file: SourceFile,
    pub start: u32,
    pub end: u32,
    pub replacement: String,
    pub title: String,
    pub safe: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SetCheck {
    pub diagnostics: Vec<(SourceFile, FileDiagnostic)>,
    /// The set compiled without errors.
    pub compiled: bool,
}

/// Serves `use` paths and test snapshots from the database: the editor's buffers first, then
/// the disk. Both go through `SourceFile` inputs, so the check depends on what it read.
struct DbLoader<'a> {
    db: &'a dyn Db,
}

impl Loader for DbLoader<'_> {
    fn canonical(&self, path: &Path) -> Option<PathBuf> {
        let p = normalize(path);
        self.db.file(&FilePath::Fs(p.clone())).map(|_| p)
    }

    fn read(&self, path: &Path) -> std::io::Result<String> {
        match self.db.file(&FilePath::Fs(normalize(path))) {
            Some(f) => Ok(f.text(self.db).clone()),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file",
            )),
        }
    }
}

/// What the editor shows for a set: test snapshots and lints, without a date (queries are pure,
/// so `@until` expiry, which depends on the day, is left to `rollguard check`).
const CHECKING: rollguard::Options = rollguard::Options {
    test_snapshots: true,
    lint: true,
    today: None,
};

#[salsa::tracked(returns(clone))]
pub fn check_set(db: &dyn Db, set: PolicySet) -> Arc<SetCheck> {
    compile_set(db, set).check.clone()
}

/// The compilation's findings, each in the document it is about; a finding in an imported file
/// is shown on each `use` of it in the set.
fn diagnostics_of(
    db: &dyn Db,
    files: &[SourceFile],
    c: &rollguard::Compilation,
    docs: &Documents,
) -> SetCheck {
    let doc = |id: rollguard::source::FileId| docs.get(id);
    let in_set = |f: SourceFile| files.contains(&f);

    let mut out = Vec::new();
    for d in &c.diagnostics {
        let Some(primary) = doc(d.span.file) else {
            continue;
        };
        let mut related: Vec<Related> = d
            .labels
            .iter()
            .filter_map(|l| {
                Some(Related {
                    file: doc(l.span.file)?,
                    start: l.span.start,
                    end: l.span.end,
                    text: l.text.clone(),
                })
            })
            .collect();
        let mut fd = FileDiagnostic {
            code: d.code,
            severity: d.severity,
            message: d.message.clone(),
            label: d.label.clone(),
            help: d.help.clone(),
            start: d.span.start,
            end: d.span.end,
            related: Vec::new(),
            suggestions: d
                .suggestions
                .iter()
                .filter_map(|s| {
                    Some(FileSuggestion {
                        file: doc(s.span.file)?,
                        start: s.span.start,
                        end: s.span.end,
                        replacement: s.replacement.clone(),
                        title: s.title.clone(),
                        safe: s.safe,
                    })
                })
                .collect(),
        };
        if in_set(primary) {
            fd.related = related;
            out.push((primary, fd));
            continue;
        }
        // A mistake in an imported file: shown on each `use` of it in the set.
        related.insert(
            0,
            Related {
                file: primary,
                start: d.span.start,
                end: d.span.end,
                text: if d.label.is_empty() {
                    d.message.clone()
                } else {
                    d.label.clone()
                },
            },
        );
        for f in c.analysis.files.iter().filter(|f| f.in_set) {
            let Some(importer) = doc(f.file) else {
                continue;
            };
            for &(target, at) in &f.imports {
                if doc(target) == Some(primary) {
                    out.push((
                        importer,
                        FileDiagnostic {
                            message: format!("in `{}`: {}", primary.path(db).display(), d.message),
                            start: at.start,
                            end: at.end,
                            related: related.clone(),
                            ..fd.clone()
                        },
                    ));
                }
            }
        }
    }
    SetCheck {
        diagnostics: out,
        compiled: c.compiled.is_some(),
    }
}

#[salsa::tracked(returns(clone))]
pub fn diagnostics(db: &dyn Db, file: SourceFile) -> Arc<Vec<FileDiagnostic>> {
    let Some(set) = db.set_of(file) else {
        return Arc::default();
    };
    if !set.files(db).contains(&file) {
        return Arc::default();
    }
    let check = check_set(db, set);
    Arc::new(
        check
            .diagnostics
            .iter()
            .filter(|(f, _)| *f == file)
            .map(|(_, d)| d.clone())
            .collect(),
    )
}
