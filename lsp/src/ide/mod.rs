//! The editor features, as plain functions of the database. They return places as
//! [`FileRange`]s (a document and byte offsets) and leave URIs to `server.rs`.

pub mod actions;
pub mod completion;
pub mod hover;
pub mod symbols;
pub mod tokens;

use crate::db::{self, Database, Db, DefKind, DefRef, SourceFile};
use crate::paths::FilePath;

/// A byte range in one document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileRange {
    pub file: SourceFile,
    pub start: u32,
    pub end: u32,
}

/// Where a definition's name is written.
pub fn def_range(db: &dyn Db, def: &DefRef) -> Option<FileRange> {
    if def.kind == DefKind::Module {
        return Some(FileRange {
            file: def.file,
            start: 0,
            end: 0,
        });
    }
    let decls = db::declarations(db, def.file);
    let d = decls.find(def.kind, def.container.as_deref(), &def.name)?;
    let lines = db::lines(db, def.file);
    let start = lines.offset_at(d.place.line, d.place.col);
    let end = lines.offset_at(d.place.line, d.place.end_col);
    Some(FileRange {
        file: def.file,
        start,
        end,
    })
}

/// The definition the name at `offset` refers to.
pub fn def_at(db: &dyn Db, file: SourceFile, offset: u32) -> Option<DefRef> {
    db::names(db, file).at(offset)?.def.clone()
}

pub fn definition(db: &dyn Db, file: SourceFile, offset: u32) -> Option<FileRange> {
    def_range(db, &def_at(db, file, offset)?)
}

/// Two references to one thing. A tag is one thing however many classes list it.
fn same(a: &DefRef, b: &DefRef) -> bool {
    if a.kind == DefKind::Tag && b.kind == DefKind::Tag {
        a.name == b.name
    } else {
        a == b
    }
}

/// Every document a reference may sit in: the files of every loaded set, and the standard
/// modules that have been read.
pub fn all_files(db: &Database) -> Vec<SourceFile> {
    let mut files: Vec<SourceFile> = Vec::new();
    for set in db.sets() {
        files.extend(set.files(db).iter().copied());
    }
    for (name, _) in rollguard::stdlib::MODULES {
        if let Some(f) = db.known(&FilePath::std(name)) {
            files.push(f);
        }
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(*f));
    files
}

/// Every place that names `def` (with its declaration, if `declaration`).
pub fn references(db: &Database, def: &DefRef, declaration: bool) -> Vec<FileRange> {
    let files = match def.kind {
        DefKind::Param | DefKind::Local => vec![def.file],
        _ => all_files(db),
    };
    let mut out = Vec::new();
    for f in files {
        let resolved = db::names(db, f);
        for o in &resolved.occurrences {
            if o.def.as_ref().is_some_and(|d| same(d, def)) && (declaration || !o.is_def) {
                out.push(FileRange {
                    file: f,
                    start: o.start,
                    end: o.end,
                });
            }
        }
    }
    out
}

/// What already holds `name` where renaming `def` to it would clash (E0003, or a shadowing).
fn declared(db: &dyn Db, def: &DefRef, name: &str) -> Option<DefKind> {
    let scope = db::scope(db, def.file);
    let decls = db::declarations(db, def.file);
    let sibling = |container: &str, kinds: &[DefKind]| {
        decls
            .decls
            .iter()
            .filter(|d| d.name == container)
            .flat_map(|d| d.children.iter())
            .find(|c| c.name == name && kinds.contains(&c.kind))
            .map(|c| c.kind)
    };
    match def.kind {
        DefKind::Signal | DefKind::Let | DefKind::Fn => scope.value(name).map(|d| d.kind),
        DefKind::Class => scope.set.classes.get(name).map(|d| d.kind),
        DefKind::Scope => scope.set.scopes.get(name).map(|d| d.kind),
        DefKind::Policy => scope.set.policies.get(name).map(|d| d.kind),
        DefKind::Rule | DefKind::Approval | DefKind::Forbid => sibling(
            def.container.as_deref()?,
            &[DefKind::Rule, DefKind::Approval, DefKind::Forbid],
        ),
        DefKind::Param => sibling(def.container.as_deref()?, &[DefKind::Param]),
        DefKind::Local => sibling(def.container.as_deref()?, &[DefKind::Local])
            .or_else(|| scope.value(name).map(|d| d.kind)),
        DefKind::Tag | DefKind::Test | DefKind::Module => None,
    }
}

/// Why a rename is refused.
pub type RenameError = String;

/// The range a rename at `offset` would change, if the name there can be renamed.
pub fn prepare_rename(
    db: &dyn Db,
    file: SourceFile,
    offset: u32,
) -> Result<FileRange, RenameError> {
    let resolved = db::names(db, file);
    let o = resolved
        .at(offset)
        .ok_or_else(|| "there is no name here".to_string())?;
    let def = o
        .def
        .as_ref()
        .ok_or_else(|| "this name is not declared".to_string())?;
    if matches!(def.kind, DefKind::Module | DefKind::Test) {
        return Err("only declared names can be renamed".into());
    }
    if matches!(def.file.path(db), FilePath::Std(_)) {
        return Err("names of the standard library cannot be renamed".into());
    }
    Ok(FileRange {
        file,
        start: o.start,
        end: o.end,
    })
}

pub fn rename(
    db: &Database,
    file: SourceFile,
    offset: u32,
    new_name: &str,
) -> Result<Vec<FileRange>, RenameError> {
    prepare_rename(db, file, offset)?;
    let def = def_at(db, file, offset).expect("prepare_rename found a definition");
    if !rollguard::syntax::lex::is_name(new_name) {
        return Err(format!(
            "`{new_name}` is not a name: names are lowercase letters, digits and `_`, not starting with a digit"
        ));
    }
    if rollguard::syntax::lexicon::is_reserved(new_name) {
        return Err(format!("`{new_name}` is a reserved word"));
    }
    if let Some(clash) = declared(db, &def, new_name) {
        return Err(format!(
            "`{new_name}` is already declared: {} `{new_name}`",
            clash.word()
        ));
    }
    let refs = references(db, &def, true);
    if refs
        .iter()
        .any(|r| matches!(r.file.path(db), FilePath::Std(_)))
    {
        return Err("the name is also used by the standard library".into());
    }
    Ok(refs)
}
