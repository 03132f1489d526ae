//! The decision and its explanation: the JSON contract of `eval --format json` and the service.
//!
//! Field order is the order of the struct fields; lists are built in a fixed order (policies by
//! name, then source order), so the same input gives byte-identical output.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::ir::Action;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub decision: Action,
    pub policies: Vec<String>,
    pub policy_digest: String,
    pub fired: Vec<Fired>,
    pub gates: Vec<GateFailure>,
    pub unknown: Vec<Unknown>,
    pub approvals: Approvals,
    pub overrides: Vec<Override>,
    pub shadow: Vec<Shadow>,
    pub authorized: Option<bool>,
    pub requester_may: Option<Vec<String>>,
}

/// The inputs a fired rule read, in the order it read them.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(from = "serde_json::Map<String, serde_json::Value>")]
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fired {
    pub policy: String,
    pub rule: String,
    pub action: Action,
    pub at: String,
    pub values: Values,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateFailure {
    pub policy: String,
    pub require: String,
    pub action: Action,
    pub at: String,
    pub inputs: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unknown {
    pub policy: String,
    pub rule: String,
    pub input: String,
    pub why: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Approvals {
    pub satisfied: Vec<Satisfied>,
    pub missing: Vec<MissingApproval>,
    pub rejected: Vec<Rejected>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Satisfied {
    pub policy: String,
    pub approval: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MissingApproval {
    pub policy: String,
    pub approval: String,
    pub needs: String,
    pub have: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub kind: String,
    pub id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    pub policy: String,
    pub approval: String,
    pub rejected_by: Identity,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Override {
    pub from: Action,
    pub to: Action,
    pub why: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shadow {
    pub policy: String,
    /// `rule`, `require` or `approval`.
    pub kind: String,
    /// The rule's or approval's name, or the require's condition.
    pub rule: String,
    pub action: Action,
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
                "override: {} -> {} ({})\n",
                o.from.as_str(),
                o.to.as_str(),
                o.why
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
