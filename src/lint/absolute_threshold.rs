//! W0003: an absolute threshold without the baseline in a production policy.
//!
//! `EXPLANATION` below is this lint's `rollguard explain W0003` page, and its documentation.

use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::ir::{Mark, Rule, SlotId};

use super::{absolute_thresholds, reads_baseline, Findings, PolicyCx};

/// The `rollguard explain W0003` page.
pub const EXPLANATION: &str = r#"In a production policy, a rule compares a signal with a fixed number and never with its baseline.

The rule fires on a signal whose baseline the set reads elsewhere, so the deploy tool reports one.
A fixed threshold is usually copied from staging or tuned on another service: a service whose
normal error rate is 1.5% rolls back every release at `error_rate > 1%`.

Example:

    applies when deployment.environment == "production"
    rollback spike when error_rate > 1%
    halt drift when delta(error_rate) > 0.5%     // reads the baseline of error_rate

Fix: compare with the production baseline as well: `error_rate > 1% and error_rate > 2 *
baseline(error_rate)`, or `delta(error_rate) > 0.5%`.
"#;

/// Thresholds copied from staging. `baselined`: the signals whose baseline the set reads.
pub(super) fn rule(
    cx: &PolicyCx,
    rule: &Rule,
    mark: &Mark,
    baselined: &[SlotId],
    f: &mut Findings,
) {
    let p = cx.p;
    if cx.production && cx.live(rule.dry_run) {
        let absolute: Vec<&str> = absolute_thresholds(p, rule.when)
            .into_iter()
            .filter(|s| baselined.contains(s) && !reads_baseline(p, rule.when, *s))
            .map(|s| p.signals[s as usize].name.as_str())
            .collect();
        if let Some(first) = absolute.first() {
            f.push(
                mark,
                Diagnostic::error(
                    Code::LintAbsoluteThreshold,
                    mark.span,
                    format!("rule `{}` compares `{first}` with a fixed number in a production policy, without its baseline", rule.name),
                )
                .label("absolute threshold")
                .help(format!("compare with the production baseline too, e.g. `{first} > 2 * baseline({first})`; a fixed threshold tuned elsewhere rolls back healthy releases")),
            );
        }
    }
}
