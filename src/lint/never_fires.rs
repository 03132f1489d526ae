//! W0008: a rule, approval or policy that can never take effect.
//!
//! `EXPLANATION` below is this lint's `rollguard explain W0008` page, and its documentation.

use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::ir::{Approval, Mark, Node, Rule};

use super::{Findings, PolicyCx};

/// The `rollguard explain W0008` page.
pub const EXPLANATION: &str = r#"A rule, approval or policy can never take effect.

Its condition is always false once constants are folded (`when false`, `when 1 > 2`, a `let` that
is always false), a rule's `unless` is always true, or a policy's `applies` is always false. It is
dead policy that reads as protection.

Example:

    halt never when deployment.cascade_depth > 1 and false

Fix: correct the condition, or delete it.
"#;

/// A policy whose `applies` is always false.
pub(super) fn policy(cx: &PolicyCx, f: &mut Findings) {
    let (policy, origin) = (cx.policy, cx.origin);
    if policy
        .applies
        .is_some_and(|a| cx.p.node(a) == &Node::Bool(false))
    {
        f.push(
            &origin.mark,
            Diagnostic::error(
                Code::LintNeverFires,
                origin.mark.span,
                format!(
                    "policy `{}` never applies: its `applies` is always false",
                    policy.name
                ),
            )
            .label("never applies")
            .help("fix the condition, or delete the policy"),
        );
    }
}

/// A rule that can never fire; true when it was reported (the other rule lints then skip it).
pub(super) fn rule(cx: &PolicyCx, rule: &Rule, mark: &Mark, f: &mut Findings) -> bool {
    let p = cx.p;
    if p.node(rule.when) == &Node::Bool(false)
        || rule.unless.is_some_and(|u| p.node(u) == &Node::Bool(true))
    {
        f.push(
            mark,
            Diagnostic::error(
                Code::LintNeverFires,
                mark.span,
                format!(
                    "rule `{}` can never fire: its condition is always false",
                    rule.name
                ),
            )
            .label("never fires")
            .help("fix the condition, or delete the rule"),
        );
        return true;
    }
    false
}

/// An approval that is never required; true when it was reported.
pub(super) fn approval(cx: &PolicyCx, a: &Approval, mark: &Mark, f: &mut Findings) -> bool {
    if a.when.is_some_and(|w| cx.p.node(w) == &Node::Bool(false)) {
        f.push(
            mark,
            Diagnostic::error(
                Code::LintNeverFires,
                mark.span,
                format!(
                    "approval `{}` is never required: its `when` is always false",
                    a.name
                ),
            )
            .label("never required")
            .help("fix the condition, or delete the approval"),
        );
        return true;
    }
    false
}
