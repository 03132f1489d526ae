//! Name resolution, types and units, and lowering to the IR.
//!
//! The checker reads the policy set's files and every module they `use`, collects their
//! declarations, then walks each declaration once: it checks types and units and, in the same
//! walk, builds IR nodes (inlining `let`s and `fn`s). Only a walk without errors becomes a
//! [`crate::Compiled`]; see `crate::compile`.

pub mod analysis;
pub(crate) mod cache;
mod calls;
mod declare;
mod decls;
mod expr;
mod lower;
mod operators;
mod policy;
mod resolve;
pub mod ty;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cache::ParseCache;

use crate::codes::Code;
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::ir::{self, Origins, Program};
use crate::source::{FileId, SourceFile, Sources, Span};
use crate::stdlib;
use crate::syntax::ast::{self, ItemKind, UseTarget};
pub use analysis::Analysis;

/// One file of a policy set, as read by the caller.
#[derive(Clone, Debug)]
pub struct SetFile {
    /// The name shown in messages (a path as the user gave it).
    pub name: String,
    /// Where it lives: `use "..."` paths and test snapshots are relative to its directory.
    pub path: PathBuf,
    /// Its contents.
    pub text: String,
}

/// Reads files named by `use "..."`. The library's only file access goes through this.
pub trait Loader {
    /// The canonical identity of `path` (two spellings of one file give one identity).
    fn canonical(&self, path: &Path) -> Option<PathBuf>;
    /// The contents of the file at `path`.
    fn read(&self, path: &Path) -> std::io::Result<String>;
}

/// Reads from the file system.
pub struct FsLoader;

/// A loader with no files: compiles text alone (the crate's unit tests).
#[cfg(test)]
pub(crate) struct NoFiles;

#[cfg(test)]
impl Loader for NoFiles {
    fn canonical(&self, _: &Path) -> Option<PathBuf> {
        None
    }
    fn read(&self, _: &Path) -> std::io::Result<String> {
        Err(std::io::ErrorKind::NotFound.into())
    }
}

impl Loader for FsLoader {
    fn canonical(&self, path: &Path) -> Option<PathBuf> {
        std::fs::canonicalize(path).ok()
    }

    fn read(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// A `test` block, resolved.
#[derive(Clone, Debug)]
#[non_exhaustive] // built by the checker only; a test block may gain clauses
pub struct TestCase {
    /// The title the block gives, e.g. `test "errors spike rolls back"`.
    pub title: String,
    /// Where the snapshot is read from.
    pub snapshot: PathBuf,
    /// The snapshot's path as the test writes it, for messages.
    pub snapshot_written: String,
    /// Where the snapshot's path is written.
    pub snapshot_span: Span,
    /// The decision the test expects.
    pub expect: ir::Action,
    /// The rules it expects to fire (`by [...]`), by name.
    pub by: Vec<String>,
    /// `expect authorized` (`Some(true)`) or `expect not authorized` (`Some(false)`).
    pub authorized: Option<bool>,
    /// `expect requester_may [...]`: exactly the grants the requester is expected to have.
    pub requester_may: Option<Vec<ir::Grant>>,
    /// Where the first authority expectation is written; the snapshot must name a requester.
    pub authority_span: Option<Span>,
    /// The whole block.
    pub span: Span,
}

/// What the checker produced: the program when there was no error, every diagnostic, and the
/// analysis (with or without errors).
pub struct Checked {
    /// The program, its compiled CEL conditions, where its statements are, and its tests.
    pub program: Option<(Program, Vec<cel::Program>, Origins, Vec<TestCase>)>,
    pub diagnostics: Vec<Diagnostic>,
    pub analysis: Analysis,
}

/// A parsed file: one of the set, or a module some file imports.
pub(crate) struct Unit {
    pub file: FileId,
    pub ast: Arc<ast::File>,
    pub in_set: bool,
    /// Units this one imports, without repeats.
    pub imports: Vec<usize>,
    /// The `use` target of each import, for messages.
    pub import_spans: Vec<Span>,
    /// Every `use` that loaded, by the span of its target, with the unit it names (a repeated
    /// `use` too, which `imports` lists once).
    pub use_targets: Vec<(Span, usize)>,
    /// Some `use` of this file could not be loaded: unknown names here may come from it.
    pub failed_use: bool,
    pub dir: PathBuf,
}

/// A top-level declaration: unit and item index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct DeclRef {
    pub unit: usize,
    pub item: usize,
}

/// Names that are built into the language and may not be declared.
fn is_builtin(name: &str) -> bool {
    crate::syntax::lexicon::BUILTIN_FUNCTIONS.contains(&name)
        || name == crate::syntax::lexicon::DEPLOYMENT
}

/// Checks a policy set: reads it and its modules (parses from `cache` where the text did not
/// change), resolves names, checks types and units, and lowers it to a program.
pub(crate) fn check(
    sources: &mut Sources,
    files: &[SetFile],
    loader: &dyn Loader,
    cache: &ParseCache,
) -> Checked {
    let mut diags = Vec::new();
    let units = load_units(sources, files, loader, cache, &mut diags);
    let mut cx = decls::Decls::collect(&units, sources, &mut diags);
    let (program, analysis) = {
        let mut lower = lower::Lower::new(&units, sources, &mut cx, &mut diags);
        lower.declarations();
        let mut origins = lower.policies();
        let tests = lower.tests();
        origins.unused = lower.unused();
        let visible = lower.visible_values();
        let analysis = std::mem::take(&mut lower.analysis).finish(visible);
        let program = lower
            .finish()
            .map(|(program, cel)| (program, cel, origins, tests));
        (program, analysis)
    };
    diags.sort_by_key(|d| (d.span.file, d.span.start, d.code));
    let has_error = diags.iter().any(|d| d.is_error());
    Checked {
        program: if has_error { None } else { program },
        diagnostics: diags,
        analysis,
    }
}

fn load_units(
    sources: &mut Sources,
    files: &[SetFile],
    loader: &dyn Loader,
    cache: &ParseCache,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Unit> {
    let mut units = Vec::new();
    // Identity of each loaded unit: `std::x` or a canonical path.
    let mut by_identity: HashMap<String, usize> = HashMap::new();
    let mut set_paths: HashSet<PathBuf> = HashSet::new();
    let mut sorted: Vec<&SetFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for f in sorted {
        let text: Arc<str> = f.text.as_str().into();
        let file = sources.add(SourceFile::new(f.name.clone(), text.clone()));
        let parsed = cache.parse(&f.name, file, &text);
        diags.extend(parsed.diagnostics);
        if let Some(c) = loader.canonical(&f.path) {
            set_paths.insert(c);
        }
        units.push(Unit {
            file,
            ast: parsed.ast,
            in_set: true,
            imports: Vec::new(),
            import_spans: Vec::new(),
            use_targets: Vec::new(),
            failed_use: false,
            dir: f.path.parent().map(Path::to_path_buf).unwrap_or_default(),
        });
    }
    let mut next = 0;
    while next < units.len() {
        let mut imports = Vec::new();
        let mut import_spans = Vec::new();
        let mut failed_use = false;
        let mut use_targets = Vec::new();
        let uses: Vec<(UseTarget, Span)> = units[next]
            .ast
            .items
            .iter()
            .filter_map(|i| match &i.kind {
                ItemKind::Use(u) => Some((u.target.clone(), u.target_span)),
                _ => None,
            })
            .collect();
        let dir = units[next].dir.clone();
        let display_dir = Path::new(&sources.get(units[next].file).name)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for (target, span) in uses {
            let (identity, name, text) = match &target {
                UseTarget::Std(m) => match stdlib::module(&m.name) {
                    Some(text) => (
                        format!("std::{}", m.name),
                        format!("std::{}", m.name),
                        text.to_string(),
                    ),
                    None => {
                        let mut d = Diagnostic::error(
                            Code::UnknownModule,
                            m.span,
                            format!("there is no standard module `std::{}`", m.name),
                        )
                        .label("unknown module");
                        d = match did_you_mean(&m.name, stdlib::MODULES.iter().map(|(n, _)| *n)) {
                            Some(s) => d
                                .help(format!("did you mean `std::{s}`?"))
                                .replace_with(m.span, &s),
                            None => d.help(format!(
                                "the standard modules are {}",
                                stdlib::MODULES
                                    .iter()
                                    .map(|(n, _)| format!("`std::{n}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )),
                        };
                        diags.push(d);
                        failed_use = true;
                        continue;
                    }
                },
                UseTarget::Path(p) => {
                    let full = dir.join(p);
                    let canonical = loader.canonical(&full);
                    if let Some(c) = &canonical {
                        if set_paths.contains(c) {
                            diags.push(
                                Diagnostic::error(
                                    Code::UseOfSetFile,
                                    span,
                                    format!("`{p}` is already part of this policy set"),
                                )
                                .label("this `use` does nothing")
                                .help("every file of a set already sees the others' declarations; delete the `use`")
                                .delete_lines(sources.get(units[next].file), span, "delete the `use`"),
                            );
                            continue;
                        }
                    }
                    let text = canonical.as_ref().and_then(|c| loader.read(c).ok());
                    match (canonical, text) {
                        (Some(c), Some(text)) => (
                            c.display().to_string(),
                            display_dir.join(p).display().to_string(),
                            text,
                        ),
                        _ => {
                            diags.push(
                                Diagnostic::error(
                                    Code::UnknownModule,
                                    span,
                                    format!("cannot read `{p}`"),
                                )
                                .label("no such file")
                                .help("a `use` path is relative to the file that holds it; check the name and the folder"),
                            );
                            failed_use = true;
                            continue;
                        }
                    }
                }
            };
            let idx = match by_identity.get(&identity) {
                Some(&i) => i,
                None => {
                    let text: Arc<str> = text.into();
                    let file = sources.add(SourceFile::new(name.clone(), text.clone()));
                    let parsed = cache.parse(&name, file, &text);
                    diags.extend(parsed.diagnostics);
                    let dir = match &target {
                        UseTarget::Path(p) => dir
                            .join(p)
                            .parent()
                            .map(Path::to_path_buf)
                            .unwrap_or_default(),
                        UseTarget::Std(_) => PathBuf::new(),
                    };
                    units.push(Unit {
                        file,
                        ast: parsed.ast,
                        in_set: false,
                        imports: Vec::new(),
                        import_spans: Vec::new(),
                        use_targets: Vec::new(),
                        failed_use: false,
                        dir,
                    });
                    by_identity.insert(identity, units.len() - 1);
                    units.len() - 1
                }
            };
            use_targets.push((span, idx));
            if idx != next && !imports.contains(&idx) {
                imports.push(idx);
                import_spans.push(span);
            }
        }
        units[next].imports = imports;
        units[next].import_spans = import_spans;
        units[next].failed_use = failed_use;
        units[next].use_targets = use_targets;
        next += 1;
    }
    units
}
