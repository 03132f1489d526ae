//! The decision and its explanation: the JSON contract of `eval --format json` and the service.
//!
//! Field order is the order of the struct fields; lists are built in a fixed order (policies by
//! name, then source order), so the same input gives byte-identical output.
//!
//! Every type here is `#[non_exhaustive]`: the explanation grows with the language (a new field
//! is added to the JSON, never a changed one), so code outside the crate reads these types and
//! cannot build them with a literal.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::ir::Action;

/// What to do with a deployment, and why: the answer to one snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Decision {
    /// The verdict: the most severe action any applying policy took, after overrides.
    pub decision: Action,
    /// The policies whose `applies` held, by name.
    pub policies: Vec<String>,
    /// The digest of the compiled set that decided (`sha256:...`), for the audit trail.
    pub policy_digest: String,
    /// The rules that fired, with the values they read.
    pub fired: Vec<Fired>,
    /// The `require` gates that failed.
    pub gates: Vec<GateFailure>,
    /// Rules that could not be decided because an input was missing or stale.
    pub unknown: Vec<Unknown>,
    /// The approvals the applying policies ask for: satisfied, missing, rejected.
    pub approvals: Approvals,
    /// Changes made to the verdict after the rules were weighed (a rollback that cannot be
    /// done, for one).
    pub overrides: Vec<Override>,
    /// What dry-run (`@shadow`) rules, gates and approvals would have done.
    pub shadow: Vec<Shadow>,
    /// Whether the snapshot's requester may take the verdict's action; `None` without a
    /// requester.
    pub authorized: Option<bool>,
    /// The actions the requester may take, when there is a requester.
    pub requester_may: Option<Vec<String>>,
}

/// The inputs a fired rule read, in the order it read them: `(name, value)` pairs, serialized
/// as one JSON object.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(from = "serde_json::Map<String, serde_json::Value>")]
#[non_exhaustive]
pub struct Values(pub Vec<(String, serde_json::Value)>);

impl Serialize for Values {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl From<serde_json::Map<String, serde_json::Value>> for Values {
    fn from(m: serde_json::Map<String, serde_json::Value>) -> Values {
        Values(m.into_iter().collect())
    }
}

/// A rule whose condition held.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Fired {
    /// The policy that holds the rule.
    pub policy: String,
    /// The rule's name.
    pub rule: String,
    /// The action the rule takes.
    pub action: Action,
    /// Where the rule is written: `FILE:LINE:COL`.
    pub at: String,
    /// The inputs the rule read.
    pub values: Values,
}

/// A `require` gate whose condition did not hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GateFailure {
    /// The policy that holds the gate.
    pub policy: String,
    /// The gate's condition, as written.
    pub require: String,
    /// The action the failed gate takes.
    pub action: Action,
    /// Where the gate is written: `FILE:LINE:COL`.
    pub at: String,
    /// The inputs the gate read.
    pub inputs: Vec<String>,
}

/// A rule that could not be decided: an input it reads is missing or stale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Unknown {
    /// The policy that holds the rule.
    pub policy: String,
    /// The rule's name.
    pub rule: String,
    /// The input that was not known.
    pub input: String,
    /// Why it was not known (`missing`, `stale`, ...).
    pub why: String,
}

/// The approvals the applying policies ask for, by outcome.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Approvals {
    /// Approvals given as required.
    pub satisfied: Vec<Satisfied>,
    /// Approvals still short of what they need.
    pub missing: Vec<MissingApproval>,
    /// Approvals someone rejected.
    pub rejected: Vec<Rejected>,
    /// Entries of `deployment.approvals` that did not count because their signature, expiry,
    /// service, environment or revision did not verify (only when trust is configured).
    #[serde(default)]
    pub ignored: Vec<IgnoredApproval>,
    /// Whether the entries that counted were verified against trusted approvers; `false`
    /// when no trust is configured and entries are taken as written.
    #[serde(default)]
    pub verified: bool,
}

/// An approval entry that did not count, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IgnoredApproval {
    /// Its index in `deployment.approvals`.
    pub index: usize,
    /// The principal the entry claimed (unverified), or `None` when it named none.
    pub principal: Option<Identity>,
    /// Why it did not count.
    pub reason: String,
}

impl IgnoredApproval {
    /// An ignored entry.
    pub fn new(index: usize, principal: Option<Identity>, reason: impl Into<String>) -> Self {
        IgnoredApproval {
            index,
            principal,
            reason: reason.into(),
        }
    }
}

impl Identity {
    /// A principal's kind and id.
    pub fn new(kind: impl Into<String>, id: impl Into<String>) -> Identity {
        Identity {
            kind: kind.into(),
            id: id.into(),
        }
    }
}

/// An approval that is satisfied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Satisfied {
    /// The policy that asks for it.
    pub policy: String,
    /// The approval's name.
    pub approval: String,
}

/// An approval that still lacks approvers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MissingApproval {
    /// The policy that asks for it.
    pub policy: String,
    /// The approval's name.
    pub approval: String,
    /// What it needs, as written (how many, from whom).
    pub needs: String,
    /// How many qualifying approvals the snapshot has.
    pub have: u32,
}

/// A principal, as the decision names it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Identity {
    /// The principal's kind (`human`, `service`, `agent`, ...).
    pub kind: String,
    /// The principal's id.
    pub id: String,
}

/// An approval someone rejected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Rejected {
    /// The policy that asks for it.
    pub policy: String,
    /// The approval's name.
    pub approval: String,
    /// Who rejected it.
    pub rejected_by: Identity,
}

/// A change of the verdict after the rules were weighed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Override {
    /// The verdict before.
    pub from: Action,
    /// The verdict after.
    pub to: Action,
    /// Why it changed.
    pub why: String,
    /// The policy of the `forbid` that made the change; absent for a safety override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The `forbid`'s name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forbid: Option<String>,
    /// Where the `forbid` is written: `FILE:LINE:COL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// The inputs the `forbid` read that were known, with their values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Values>,
    /// The inputs that were unknown, and why: a veto holds on missing evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<Vec<UnknownInput>>,
}

/// An input a `forbid` could not read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UnknownInput {
    /// The input, named as in `unknown`.
    pub input: String,
    /// Why it was not known (`missing`, `stale`, ...).
    pub why: String,
}

/// What a dry-run rule, gate or approval would have done.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Shadow {
    /// The policy that holds it.
    pub policy: String,
    /// `rule`, `require` or `approval`.
    pub kind: String,
    /// The rule's or approval's name, or the require's condition.
    pub rule: String,
    /// The action it would have taken.
    pub action: Action,
    /// Where it is written: `FILE:LINE:COL`.
    pub at: String,
}

impl Decision {
    /// The decision as pretty JSON, the form `eval --format json` prints.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a decision is plain data")
    }

    /// The decision for people: the verdict, then why.
    pub fn to_human(&self) -> String {
        let mut out = format!("decision: {}\n", self.decision.as_str());
        if self.policies.is_empty() {
            out.push_str("no policy applies\n");
        } else {
            out.push_str(&format!("policies: {}\n", self.policies.join(", ")));
        }
        for o in &self.overrides {
            out.push_str(&format!(
                "override: {} -> {} ({}){}\n",
                o.from.as_str(),
                o.to.as_str(),
                o.why,
                o.at.as_ref()
                    .map(|a| format!(" at {a}"))
                    .unwrap_or_default()
            ));
        }
        for f in &self.fired {
            let values: Vec<String> = f
                .values
                .0
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            out.push_str(&format!(
                "fired: {} {}.{} at {}{}\n",
                f.action.as_str(),
                f.policy,
                f.rule,
                f.at,
                if values.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", values.join(", "))
                }
            ));
        }
        for g in &self.gates {
            out.push_str(&format!(
                "gate failed: {} {}: require {}{}\n",
                g.action.as_str(),
                g.policy,
                g.require,
                if g.inputs.is_empty() {
                    String::new()
                } else {
                    format!(" (inputs: {})", g.inputs.join(", "))
                }
            ));
        }
        for u in &self.unknown {
            out.push_str(&format!(
                "unknown: {}.{}: {} is {}\n",
                u.policy, u.rule, u.input, u.why
            ));
        }
        for m in &self.approvals.missing {
            out.push_str(&format!(
                "approval missing: {}.{} needs {}, has {}\n",
                m.policy, m.approval, m.needs, m.have
            ));
        }
        for r in &self.approvals.rejected {
            out.push_str(&format!(
                "approval rejected: {}.{} by {} {:?}\n",
                r.policy, r.approval, r.rejected_by.kind, r.rejected_by.id
            ));
        }
        for s in &self.approvals.satisfied {
            out.push_str(&format!(
                "approval satisfied: {}.{}\n",
                s.policy, s.approval
            ));
        }
        for i in &self.approvals.ignored {
            let who = i
                .principal
                .as_ref()
                .map(|p| format!(" ({} {:?})", p.kind, p.id))
                .unwrap_or_default();
            out.push_str(&format!(
                "approval ignored: deployment.approvals[{}]{who}: {}\n",
                i.index, i.reason
            ));
        }
        let a = &self.approvals;
        let listed = !(a.satisfied.is_empty() && a.missing.is_empty() && a.rejected.is_empty());
        if !a.verified && listed {
            // Without --trust an entry's principal is whatever the snapshot's author wrote.
            out.push_str("approvals unverified: entries were taken as written (no --trust)\n");
        }
        for s in &self.shadow {
            out.push_str(&format!(
                "dry run: {} {}.{} would {} at {}\n",
                s.kind,
                s.policy,
                s.rule,
                s.action.as_str(),
                s.at
            ));
        }
        if let Some(a) = self.authorized {
            let may = self.requester_may.as_deref().unwrap_or_default().join(", ");
            out.push_str(&format!(
                "requester authorized: {} (may: {})\n",
                if a { "yes" } else { "no" },
                if may.is_empty() { "nothing" } else { &may }
            ));
        }
        out.push_str(&format!("policy digest: {}\n", self.policy_digest));
        out
    }
}
