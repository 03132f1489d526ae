//! Parses kept from one compilation to the next, so that re-checking a set after an edit
//! re-parses only the files whose text changed.
//!
//! An AST's spans name the file's [`FileId`], its place in the compilation's `Sources`; a set
//! whose files did not change gets the same ids (files are numbered in name order, modules in
//! load order). An entry is therefore keyed by the file's name and id, and used only when the
//! text's hash and the text itself match.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use crate::diagnostic::Diagnostic;
use crate::source::FileId;
use crate::syntax::ast;
use crate::syntax::parse::parse_file;

/// A file's syntax tree and syntax errors.
pub(crate) struct Parsed {
    pub ast: Arc<ast::File>,
    pub diagnostics: Vec<Diagnostic>,
}

struct Entry {
    hash: u64,
    text: Arc<str>,
    ast: Arc<ast::File>,
    diagnostics: Vec<Diagnostic>,
}

/// One entry per (file name, id): a file edited many times keeps only its latest parse.
#[derive(Default)]
pub(crate) struct ParseCache {
    entries: Mutex<HashMap<(String, FileId), Entry>>,
    parsed: std::sync::atomic::AtomicU64,
}

fn hash(text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

impl ParseCache {
    /// The parse of `text` as file `file` named `name`: the cached one when the text is the
    /// same, else a new parse, which replaces it.
    pub fn parse(&self, name: &str, file: FileId, text: &Arc<str>) -> Parsed {
        let h = hash(text);
        let key = (name.to_string(), file);
        if let Some(e) = self.entries.lock().expect("not poisoned").get(&key) {
            if e.hash == h && e.text == *text {
                return Parsed {
                    ast: e.ast.clone(),
                    diagnostics: e.diagnostics.clone(),
                };
            }
        }
        // Parsed outside the lock: two compilations may parse at once.
        let (ast, diagnostics) = parse_file(file, text);
        self.parsed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ast = Arc::new(ast);
        self.entries.lock().expect("not poisoned").insert(
            key,
            Entry {
                hash: h,
                text: text.clone(),
                ast: ast.clone(),
                diagnostics: diagnostics.clone(),
            },
        );
        Parsed { ast, diagnostics }
    }

    /// How many files this cache has parsed (rather than found parsed).
    pub fn parses(&self) -> u64 {
        self.parsed.load(std::sync::atomic::Ordering::Relaxed)
    }
}
