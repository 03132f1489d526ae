//! W0004: a rollback rule reachable for an irreversible class.
//!
//! `EXPLANATION` below is this lint's `rollguard explain W0004` page, and its documentation.

use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::ir::{Action, Mark, NodeId, Rule};

use super::{class_truth, mentions_class, Findings, PolicyCx};

/// The `rollguard explain W0004` page.
pub const EXPLANATION: &str = r#"A `rollback` rule can fire for a class declared `irreversible` (or `security_fix`).

Checked for rules whose policy or condition talks about classes. The engine never rolls such a
change back: it turns the rollback into a halt (see the safety overrides). The lint asks the
author to say so, because a reader of a rollback rule for schema migrations believes the
migration will be reverted.

Example:

    policy migrations {
      applies when class is schema_migration
      rollback errors when error_rate > 5%
    }

Fix: `halt errors when error_rate > 5%` for irreversible classes, and keep the rollback for the
others (`applies when not (class is irreversible)`).
"#;

/// A rollback written for changes that cannot be rolled back.
pub(super) fn rule(cx: &PolicyCx, rule: &Rule, mark: &Mark, f: &mut Findings) {
    let (p, policy) = (cx.p, cx.policy);
    if cx.live(rule.dry_run)
        && rule.action == Action::Rollback
        && (cx.applies_mentions_class || mentions_class(p, rule.when))
    {
        for (ci, class) in p
            .classes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.irreversible || c.security_fix)
        {
            let ci = ci as u32;
            let possible = |n: Option<NodeId>, unwanted: bool| {
                n.is_none_or(|n| class_truth(p, n, ci) != Some(unwanted))
            };
            if possible(policy.applies, false)
                && possible(Some(rule.when), false)
                && possible(rule.unless, true)
            {
                let what = if class.irreversible {
                    "irreversible"
                } else {
                    "a security fix"
                };
                f.push(
                    mark,
                    Diagnostic::error(
                        Code::LintRollbackIrreversible,
                        mark.span,
                        format!("rule `{}` may roll back a `{}` change, which is {what}", rule.name, class.name),
                    )
                    .label("automatic rollback")
                    .help(format!(
                        "the engine turns this rollback into a halt; say so in the policy: make it a `halt` rule for `class is {}`, or exclude the class",
                        if class.irreversible { "irreversible" } else { "security_fix" }
                    )),
                );
                break;
            }
        }
    }
}
