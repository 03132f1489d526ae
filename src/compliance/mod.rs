//! Compliance: the control catalogs `@maps` names (`catalog.rs`), the check of the ids it
//! writes (E0028), and `rollguard report compliance` (`report.rs`), which lists each control with
//! the statements that map to it and the tests that exercise them. See docs/compliance.md.

pub mod catalog;
pub mod report;

use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::source::Span;

pub use catalog::{resolve, Control};

/// The controls one `@maps` value names, and an E0028 per id that names none.
///
/// `value` is the annotation's value (escapes resolved), `span` where it is written and `raw`
/// the source text there. Ids are separated by commas, since one declaration may carry one
/// `@maps`; each error points at its own id when the string has no escapes (so that offsets
/// in `value` are offsets in the file), else at the whole value.
pub fn check_maps(value: &str, span: Span, raw: &str) -> (Vec<Control>, Vec<Diagnostic>) {
    // Where `value` starts in the file: after the quote of a string without escapes, at once
    // for a bare word; `None` when escapes make the offsets differ.
    let skip: Option<u32> = if raw == value {
        Some(0)
    } else if raw.len() == value.len() + 2 && raw.get(1..raw.len() - 1) == Some(value) {
        Some(1)
    } else {
        None
    };
    let exact = skip.is_some();
    let mut controls = Vec::new();
    let mut errors = Vec::new();
    let mut offset = 0;
    let mut any = false;
    for part in value.split(',') {
        let start = offset + (part.len() - part.trim_start().len());
        offset += part.len() + 1;
        let written = part.trim();
        if written.is_empty() {
            continue;
        }
        any = true;
        let at = match skip {
            Some(skip) => Span {
                start: span.start + skip + start as u32,
                end: span.start + skip + (start + written.len()) as u32,
                ..span
            },
            None => span,
        };
        match resolve(written) {
            Ok(c) => controls.push(c),
            Err(why) => errors.push(unknown(written, at, exact, why)),
        }
    }
    if !any {
        errors.push(
            Diagnostic::error(Code::UnknownControl, span, "`@maps` names no control")
                .label("no control id")
                .help(format!(
                    "write a catalog's name, a space and the control's id, e.g. \
                     `@maps(\"NIST-CSF-2.0 RC.RP-01\")`; the catalogs are {}",
                    catalog::names().join(", ")
                )),
        );
    }
    (controls, errors)
}

fn unknown(written: &str, at: Span, exact: bool, why: catalog::Unknown) -> Diagnostic {
    use catalog::Unknown;
    let catalogs = catalog::names().join(", ");
    let (message, label, suggestion, otherwise) = match why {
        Unknown::Catalog {
            written: name,
            suggestion,
        } => (
            format!("`{name}` is not a catalog rollguard knows"),
            "unknown catalog",
            suggestion,
            format!("the catalogs are {catalogs}"),
        ),
        Unknown::Control {
            catalog,
            written: id,
            suggestion,
        } => (
            format!("`{id}` is not a control of {catalog}"),
            "unknown control",
            suggestion,
            format!(
                "a control of {catalog} is {}; `rollguard explain E0028` shows every catalog",
                catalog::spelling(catalog)
            ),
        ),
        Unknown::Incomplete { suggestion, .. } => (
            format!("`{written}` is not a control id"),
            "no catalog and control",
            suggestion,
            format!(
                "write a catalog's name, a space and the control's id, e.g. \
                 `NIST-CSF-2.0 RC.RP-01`; the catalogs are {catalogs}"
            ),
        ),
    };
    let d = Diagnostic::error(Code::UnknownControl, at, message).label(label);
    match suggestion {
        // Only an exact span can be replaced by the id alone.
        Some(s) if exact => d.help(format!("did you mean `{s}`?")).replace_with(at, &s),
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help(otherwise),
    }
}
