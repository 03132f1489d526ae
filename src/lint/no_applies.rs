//! W0007: a policy without `applies`.
//!
//! `EXPLANATION` below is this lint's `rollguard explain W0007` page, and its documentation.

use crate::codes::Code;
use crate::diagnostic::Diagnostic;

use super::{Findings, PolicyCx};

/// The `rollguard explain W0007` page.
pub const EXPLANATION: &str = r#"A policy has no `applies`, so it judges every deployment of every service and environment.

That is sometimes meant (an organisation-wide rule), but more often an `applies` was forgotten and
a team's thresholds now decide other teams' rollouts.

Example:

    policy payments { rollback spike when error_rate > 2 * baseline(error_rate) }

Fix: `applies when deployment.service == "payments-api"`; or `@allow(W0007)` on a policy that is
meant for everything.
"#;

pub(super) fn policy(cx: &PolicyCx, f: &mut Findings) {
    let (policy, origin) = (cx.policy, cx.origin);
    if policy.applies.is_none() {
        f.push(
            &origin.mark,
            Diagnostic::error(Code::LintNoApplies, origin.mark.span, format!("policy `{}` has no `applies`: it judges every deployment", policy.name))
                .label("applies to everything")
                .help("say which deployments it is for, e.g. `applies when deployment.service == \"payments-api\"`; allow W0007 if it is meant for all"),
        );
    }
}
