//! Quick fixes: the suggestions the library attaches to a diagnostic where it knows the fix
//! (did-you-mean, a unit to add, a `use` to add or delete), offered as they are. Nothing here
//! reads a message: what a fix does is decided once, where the diagnostic is made.

use crate::db::{self, Db, FileDiagnostic, SourceFile};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    /// The document edited: a fix of a mistake in a `use`d file edits that file.
    pub file: SourceFile,
    pub start: u32,
    pub end: u32,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fix {
    pub title: String,
    pub diagnostic: FileDiagnostic,
    pub edits: Vec<Edit>,
    /// Safe to apply unasked; editors apply a preferred fix with one key.
    pub preferred: bool,
}

/// The fixes for diagnostics of `file` whose range meets `start..end`, each diagnostic's in
/// the library's order (the most likely first).
pub fn fixes(db: &dyn Db, file: SourceFile, start: u32, end: u32) -> Vec<Fix> {
    db::diagnostics(db, file)
        .iter()
        .filter(|d| d.end >= start && d.start <= end)
        .flat_map(|d| {
            d.suggestions.iter().map(|s| Fix {
                title: sentence(&s.title),
                diagnostic: d.clone(),
                edits: vec![Edit {
                    file: s.file,
                    start: s.start,
                    end: s.end,
                    text: s.replacement.clone(),
                }],
                preferred: s.safe,
            })
        })
        .collect()
}

/// A title as editors show actions: "Replace with `x`" for the library's "replace with `x`".
fn sentence(title: &str) -> String {
    let mut chars = title.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}
