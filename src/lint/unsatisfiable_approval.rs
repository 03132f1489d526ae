//! W0006: an approval that can never be satisfied.
//!
//! `EXPLANATION` below is this lint's `rollguard explain W0006` page, and its documentation.

use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::ir::{Approval, Field, Mark, Node, PrincipalPat};

use super::{conjuncts, Findings, PolicyCx};

/// The `rollguard explain W0006` page.
pub const EXPLANATION: &str = r#"An approval can never be satisfied.

An approval names one identity (`agent "deploy-bot"`) but needs more than one approval; or it is
required only when that very identity is the deployment's actor, whose own approval never counts
(separation of duties). Such an approval holds every deployment it applies to.

Example:

    approval bot_ok requires 2 of service_account "ci"

Fix: require approvals from a group or a kind: `requires 2 of group "release-managers"`.
"#;

pub(super) fn approval(cx: &PolicyCx, a: &Approval, mark: &Mark, f: &mut Findings) {
    let p = cx.p;
    if let PrincipalPat::Identity(..) = &a.of {
        let only_actor = a.when.is_some_and(|w| conjuncts(p, w).iter().any(|&c| {
            matches!(p.node(c), Node::PrincipalIs(n, pat) if pat == &a.of && p.node(*n) == &Node::Field(Field::Actor))
        }));
        if a.count > 1 || only_actor {
            let why = if a.count > 1 {
                format!(
                    "it needs {} approvals, and only one principal, {}, can give them",
                    a.count,
                    a.of.describe()
                )
            } else {
                format!("it is required when {} deploys, and a deployment's actor never approves their own change", a.of.describe())
            };
            f.push(
                mark,
                Diagnostic::error(Code::LintUnsatisfiableApproval, mark.span, format!("approval `{}` can never be satisfied: {why}", a.name))
                    .label("never satisfied")
                    .help("require approvals from a group or a kind of principal, e.g. `requires 1 of group \"sre\"`"),
            );
        }
    }
}
