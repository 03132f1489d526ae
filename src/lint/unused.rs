//! W0010: an unused declaration.
//!
//! `EXPLANATION` below is this lint's `rollguard explain W0010` page, and its documentation.

use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::ir::Origins;

use super::Findings;

/// The `rollguard explain W0010` page.
pub const EXPLANATION: &str = r#"A signal, let, fn or class of the set's own files is never used.

Unused declarations mislead readers about what a policy reads. A class counts as used when a
condition names it, when a `touches` names one of its tags, or when it is `irreversible` or a
`security_fix` (the safety overrides read those).

Example:

    signal p50: duration = "http.latency.p50"   // no rule reads p50

Fix: delete it, or use it. Allow it with `@allow(W0010)` when the declaration is there for other
sets that `use` this file.
"#;

/// The checker lists what is unused (`Origins::unused`); this reports it.
pub(super) fn check(o: &Origins, f: &mut Findings) {
    for (kind, name, mark) in &o.unused {
        f.push(
            mark,
            Diagnostic::error(
                Code::LintUnused,
                mark.span,
                format!("{kind} `{name}` is never used"),
            )
            .label("unused")
            .help(format!(
                "delete the {kind}, or use it; allow W0010 if the set declares it for others"
            )),
        );
    }
}
