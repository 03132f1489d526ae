//! W0011: a dry-run past its `@until` date.
//!
//! `EXPLANATION` below is this lint's `rollguard explain W0011` page, and its documentation.

use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::ir::Mark;

use super::Findings;

/// The `rollguard explain W0011` page.
pub const EXPLANATION: &str = r#"A dry-run rule, gate, approval or policy is past the date of its `@until` annotation.

`@mode("dry_run")` trials a threshold without acting on it; `@until("YYYY-MM-DD")` says when the
trial ends. A trial that outlives its date is a rule nobody decided about. Checked by
`rollguard check` and `rollguard test` against today's date.

Example:

    @mode("dry_run") @until("2026-10-01")
    rollback strict when error_rate > 0.5%

Fix: remove `@mode("dry_run")` to let the rule act, or delete it.
"#;

/// Checks one rule, gate, approval or policy (`what` and `name`); `dry_run` includes the
/// policy's own mode.
pub(super) fn check(
    f: &mut Findings,
    today: Option<chrono::NaiveDate>,
    dry_run: bool,
    mark: &Mark,
    what: &str,
    name: &str,
) {
    let (Some(today), Some((until, _)), true) = (today, &mark.until, dry_run) else {
        return;
    };
    let Ok(date) = chrono::NaiveDate::parse_from_str(until, "%Y-%m-%d") else {
        return;
    };
    if date < today {
        f.push(
            mark,
            Diagnostic::error(
                Code::LintExpiredDryRun,
                mark.span,
                format!("dry-run {what} `{name}` ran past its `@until(\"{until}\")`"),
            )
            .label("trial over")
            .help("decide: remove `@mode(\"dry_run\")` to let it act, or delete it"),
        );
    }
}
