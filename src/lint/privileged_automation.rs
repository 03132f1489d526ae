//! W0005: `promote` or `override` granted to automation.
//!
//! `EXPLANATION` below is this lint's `rollguard explain W0005` page, and its documentation.

use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::ir::{Grant, Origins, PrincipalKind, PrincipalPat, Program};

use super::Findings;

/// The `rollguard explain W0005` page.
pub const EXPLANATION: &str = r#"A scope grants `promote` or `override` to an `agent` or a `service_account`.

`promote` lets a rollout go on and `override` acts against the decision (break-glass): both are
privileged actions, and granting them to an automated identity removes the human boundary. Let
automation halt and roll back; keep promote and override for humans or groups of humans.

Example:

    scope bots { principals [service_account "deploy-bot"] may [halt, rollback, override] }

Fix: `may [halt, rollback]`, and a separate scope for people:
`scope oncall { principals [group "sre-oncall"] may [promote, override] }`.
"#;

pub(super) fn check(p: &Program, o: &Origins, f: &mut Findings) {
    for (si, scope) in p.scopes.iter().enumerate() {
        let privileged: Vec<&str> = scope
            .may
            .iter()
            .filter(|g| matches!(g, Grant::Promote | Grant::Override))
            .map(|g| g.as_str())
            .collect();
        let automated: Vec<String> = scope
            .principals
            .iter()
            // A pattern that names no kind (a group) may match anyone; one that requires an
            // automated kind (`agent in group "x"` included) grants to automation.
            .filter(|pat| {
                matches!(
                    pat.kind(),
                    Some(PrincipalKind::Agent | PrincipalKind::ServiceAccount)
                )
            })
            .map(PrincipalPat::describe)
            .collect();
        if !privileged.is_empty() && !automated.is_empty() {
            let mark = &o.scopes[si];
            f.push(
                mark,
                Diagnostic::error(
                    Code::LintPrivilegedAutomation,
                    mark.span,
                    format!("scope `{}` grants {} to {}", scope.name, privileged.iter().map(|g| format!("`{g}`")).collect::<Vec<_>>().join(" and "), automated.join(", ")),
                )
                .label("privileged automated action")
                .help("let automation halt and roll back; keep `promote` and `override` for humans (or a group of them), so a person stands behind every go-ahead and break-glass"),
            );
        }
    }
}
