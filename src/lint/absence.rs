//! W0012: a decision that missing evidence can make.
//!
//! Missing evidence must never be a reason to `proceed` or to act: an unknown signal reads as
//! unknown, and three-valued logic carries it to `inconclusive`. Presence tests are the way
//! around that, because they are two-valued: `has(x)`, `fresh(x) within D`, `"k" in
//! deployment.labels`, and inside `cel(...)` `'x' in signals` or `has(signals.x)` are plainly
//! false when the input is absent. Two placements turn that into a decision:
//!
//! - in `applies`, a presence test read positively takes the policy out when the input is
//!   missing, and a set whose only policy is out decides `proceed`;
//! - in a rule's `when`, a presence test read negatively (`!('x' in signals)`) fires the rule
//!   because the input is missing.
//!
//! Gates are where presence is meant to be tested (`require has(x) else halt`), so they are not
//! looked at.
//!
//! `EXPLANATION` below is this lint's `rollguard explain W0012` page.

use cel::common::ast::{operators, Expr, IdedExpr};

use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::ir::{Node, NodeId, Program};
use crate::Compiled;

use super::Findings;

/// The `rollguard explain W0012` page.
pub const EXPLANATION: &str = r#"Missing evidence decides: a policy stops applying, or a rule fires, because an input is absent.

Presence tests are two-valued: `has(x)`, `fresh(x) within D`, `"k" in deployment.labels`, and in
`cel(...)` `'x' in signals` or `has(signals.x)` are simply false when the input is missing. Read
positively in `applies`, they take the policy out exactly when its evidence is missing, and a set
that no policy applies to decides `proceed`. Read negated in a rule's `when`, they fire the rule
because the evidence is missing.

Example:

    policy checkout {
      applies when has(error_rate)
      rollback spike when error_rate > 5%
    }

    rollback silent when cel("!('http.error_rate' in signals)")

Fix: say in `applies` which deployments the policy is for, and demand the evidence with a gate,
which holds the rollout and never rolls back:

    policy checkout {
      applies when deployment.service == "checkout-api"
      require has(error_rate) else halt
      rollback spike when error_rate > 5%
    }

Allow it with `@allow(W0012)` on the policy or rule when absence is the intended reading.
"#;

/// A presence test, how it reads in the source, and whether it is read positively.
struct Presence {
    text: String,
    positive: bool,
}

pub(super) fn check(c: &Compiled, f: &mut Findings) {
    let p = &c.program;
    for (pi, policy) in p.policies.iter().enumerate() {
        let origin = &c.origins.policies[pi];
        if let Some(applies) = policy.applies {
            let mut found = Vec::new();
            presence(c, applies, true, &mut found);
            if let Some(t) = found.iter().find(|t| t.positive) {
                f.push(
                    &origin.mark,
                    Diagnostic::error(
                        Code::LintAbsenceDecides,
                        origin.mark.span,
                        format!(
                            "policy `{}` stops applying when evidence is missing: `{}` in its `applies` is false then, and a set no policy applies to decides `proceed`",
                            policy.name, t.text
                        ),
                    )
                    .label("missing evidence takes the policy out")
                    .help("say in `applies` which deployments the policy is for (service, environment, class), and demand the evidence with a gate: `require has(x) else halt`"),
                );
            }
        }
        for (ri, rule) in policy.rules.iter().enumerate() {
            let mut found = Vec::new();
            presence(c, rule.when, true, &mut found);
            if let Some(t) = found.iter().find(|t| !t.positive) {
                let mark = &origin.rule_marks[ri];
                f.push(
                    mark,
                    Diagnostic::error(
                        Code::LintAbsenceDecides,
                        mark.span,
                        format!(
                            "rule `{}` fires because an input is missing: `{}` is read negated in its condition",
                            rule.name, t.text
                        ),
                    )
                    .label("fires on the absence of evidence")
                    .help("a rule should read the evidence itself; to act on missing evidence write a gate, `require has(x) else halt`, which never rolls back"),
                );
            }
        }
    }
}

/// Collects the presence tests under `n`, with their reading (`positive` flips under `not`).
fn presence(c: &Compiled, n: NodeId, positive: bool, out: &mut Vec<Presence>) {
    let p = &c.program;
    let mut found = |text: String| out.push(Presence { text, positive });
    match p.node(n) {
        Node::HasSignal(s) => found(format!("has({})", p.signals[*s as usize].name)),
        Node::HasField(field) => found(format!("has({})", field.path())),
        Node::HasLabel(k) => found(format!(
            "has(deployment.labels[{}])",
            crate::syntax::print::quote(k)
        )),
        Node::Fresh { slots, .. } => found(format!(
            "fresh({})",
            names(p, slots.iter().map(|s| *s as usize))
        )),
        Node::InLabels(_) => found("... in deployment.labels".to_string()),
        Node::Cel(id) => {
            let source = &p.cel[*id as usize];
            let mut inner = Vec::new();
            cel_presence(c.cel[*id as usize].expression(), positive, &mut inner);
            for positive in inner {
                out.push(Presence {
                    text: format!("cel({})", crate::syntax::print::quote(source)),
                    positive,
                });
            }
        }
        Node::Not(a) => presence(c, *a, !positive, out),
        Node::And(a, b) | Node::Or(a, b) => {
            presence(c, *a, positive, out);
            presence(c, *b, positive, out);
        }
        // A condition's test and a compared truth value can be read either way.
        other => other.for_each_child(&mut |child| {
            presence(c, child, positive, out);
            presence(c, child, !positive, out);
        }),
    }
}

fn names(p: &Program, slots: impl Iterator<Item = usize>) -> String {
    slots
        .map(|s| p.signals[s].name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The readings of the presence tests in a CEL expression: `'x' in signals`,
/// `'k' in deployment.labels`, `has(signals.x)`, `has(deployment.x)`.
fn cel_presence(e: &IdedExpr, positive: bool, out: &mut Vec<bool>) {
    match &e.expr {
        Expr::Call(call) => match call.func_name.as_str() {
            operators::LOGICAL_NOT => call
                .args
                .iter()
                .for_each(|a| cel_presence(a, !positive, out)),
            operators::LOGICAL_AND | operators::LOGICAL_OR => call
                .args
                .iter()
                .for_each(|a| cel_presence(a, positive, out)),
            operators::IN if call.args.get(1).is_some_and(is_evidence_map) => out.push(positive),
            _ => {
                for a in call.args.iter().chain(call.target.as_deref()) {
                    cel_presence(a, positive, out);
                    cel_presence(a, !positive, out);
                }
            }
        },
        Expr::Select(sel) if sel.test && is_evidence_map(&sel.operand) => out.push(positive),
        _ => {}
    }
}

/// `signals`, `deployment` or `deployment.labels`: maps whose keys are evidence.
fn is_evidence_map(e: &IdedExpr) -> bool {
    match &e.expr {
        Expr::Ident(name) => name == "signals" || name == "deployment",
        Expr::Select(sel) => {
            !sel.test
                && sel.field == "labels"
                && matches!(&sel.operand.expr, Expr::Ident(d) if d == "deployment")
        }
        _ => false,
    }
}
