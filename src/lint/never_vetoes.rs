//! W0013: a `forbid` that can never change a decision.
//!
//! `EXPLANATION` below is this lint's `rollguard explain W0013` page, and its documentation.

use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::ir::{Action, Forbid, Mark, Node, Program};

use super::{Findings, PolicyCx};

/// The `rollguard explain W0013` page.
pub const EXPLANATION: &str = r#"A `forbid` can never change a decision.

A veto acts only when the set's decision is the action it forbids and its condition is not
false. It never does when its `when` is always false once constants are folded (or its `unless`
always true), or when it forbids `rollback` and no rule of the set that takes effect (not
dry-run) rolls back: `require` gates and approvals never decide `rollback`. A veto that cannot
act reads as protection that is not there.

Example:

    policy containment {
      halt spike when error_rate > 5%
      forbid rollback no_revert when deployment.labels["incident"] == "open"
    }

Fix: forbid what some rule decides (`forbid rollback` beside a `rollback` rule), correct the
condition, or delete the `forbid`.
"#;

/// Whether some rule that takes effect decides `action`.
fn decided_by_a_rule(p: &Program, action: Action) -> bool {
    p.policies
        .iter()
        .filter(|q| !q.dry_run)
        .flat_map(|q| &q.rules)
        .any(|r| !r.dry_run && r.action == action)
}

pub(super) fn forbid(cx: &PolicyCx, v: &Forbid, mark: &Mark, f: &mut Findings) {
    let p = cx.p;
    let never = p.node(v.when) == &Node::Bool(false)
        || v.unless.is_some_and(|u| p.node(u) == &Node::Bool(true));
    let (message, label, help) = if never {
        (
            format!(
                "forbid `{}` can never hold: its condition is always false",
                v.name
            ),
            "never holds",
            "fix the condition, or delete the `forbid`".to_string(),
        )
    } else if v.action == Action::Rollback && !decided_by_a_rule(p, Action::Rollback) {
        (
            format!(
                "forbid `{}` vetoes `rollback`, and no rule of the set rolls back",
                v.name
            ),
            "never changes the decision",
            "gates and approvals never decide `rollback`: add the `rollback` rule this veto guards against, or delete the `forbid`".to_string(),
        )
    } else {
        return;
    };
    f.push(
        mark,
        Diagnostic::error(Code::LintForbidNeverHolds, mark.span, message)
            .label(label)
            .help(help),
    );
}
