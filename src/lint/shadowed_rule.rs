//! W0009: a rule shadowed by a gate that always wins.
//!
//! `EXPLANATION` below is this lint's `rollguard explain W0009` page, and its documentation.

use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::ir::{Mark, Node, Rule};

use super::{negates, Findings, PolicyCx};

/// The `rollguard explain W0009` page.
pub const EXPLANATION: &str = r#"A rule never changes the decision, because a gate always wins over it.

Whenever the rule fires, a `require` of its policy fails with an action at least as strong: the
gate's condition is always false, or is exactly the negation of the rule's condition.

Example:

    require samples(error_rate) >= 100 else hold
    hold few_samples when samples(error_rate) < 100

Fix: delete the rule (the gate already says it), or give the rule a stronger action.
"#;

/// Shadowed by a gate that always fails with at least this action.
pub(super) fn rule(cx: &PolicyCx, rule: &Rule, mark: &Mark, f: &mut Findings) {
    let p = cx.p;
    for (gi, g) in cx.policy.gates.iter().enumerate() {
        let always_fails = p.node(g.cond) == &Node::Bool(false) || negates(p, rule.when, g.cond);
        if cx.live(g.dry_run) && cx.live(rule.dry_run) && always_fails && g.action >= rule.action {
            f.push(
                mark,
                Diagnostic::error(
                    Code::LintShadowedRule,
                    mark.span,
                    format!("rule `{}` never changes the decision: whenever it fires, `require {}` fails with `{}`", rule.name, g.text, g.action.as_str()),
                )
                .label("shadowed")
                .with_label(cx.origin.gate_marks[gi].span, "this gate always wins")
                .help("delete the rule, or give it a stronger action than the gate's"),
            );
            break;
        }
    }
}
