//! W0002: a `rollback` or `halt` rule acting on evidence no gate covers.
//!
//! `EXPLANATION` below is this lint's `rollguard explain W0002` page, and its documentation.

use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::ir::{Action, Mark, Rule};

use super::{gate_covers, slots_read, Findings, PolicyCx};

/// The `rollguard explain W0002` page.
pub const EXPLANATION: &str = r#"A `rollback` or `halt` rule reads a signal that no evidence gate of its policy covers.

Why it matters: without `require fresh(s) within D` a rule may act on a value observed an hour ago;
without `require samples(s) >= N` it may act on a ratio computed from three requests. Automated
rollback on evidence of unknown quality rolls back healthy releases.

Example:

    policy checkout {
      applies when deployment.service == "checkout"
      rollback spike when error_rate > 2 * baseline(error_rate)
    }

Fix: gate the evidence in the policy:

    require fresh(error_rate) within 2m else halt
    require samples(error_rate) >= 500 else inconclusive

Allow it with `@allow(W0002)` on the rule or policy when the signal's quality is vouched for
elsewhere.
"#;

/// Acting on evidence nobody vouched for.
pub(super) fn rule(cx: &PolicyCx, rule: &Rule, mark: &Mark, f: &mut Findings) {
    let (p, policy) = (cx.p, cx.policy);
    if cx.live(rule.dry_run) && rule.action >= Action::Halt {
        let ungated: Vec<&str> = slots_read(p, rule.when)
            .iter()
            .filter(|s| {
                !policy
                    .gates
                    .iter()
                    .any(|g| cx.live(g.dry_run) && gate_covers(p, g.cond, **s))
            })
            .map(|s| p.signals[*s as usize].name.as_str())
            .collect();
        if let Some(first) = ungated.first() {
            f.push(
                mark,
                Diagnostic::error(
                    Code::LintUngatedEvidence,
                    mark.span,
                    format!(
                        "rule `{}` may {} on {}, which no `require fresh(...)` or `samples(...)` gate covers",
                        rule.name,
                        if rule.action == Action::Rollback { "roll back" } else { "halt" },
                        ungated.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
                    ),
                )
                .label("acts on evidence of unknown quality")
                .help(format!(
                    "gate the evidence in policy `{}`: `require fresh({}) within 2m else halt` and `require samples({first}) >= 500 else inconclusive`",
                    policy.name,
                    ungated.join(", ")
                )),
            );
        }
    }
}
