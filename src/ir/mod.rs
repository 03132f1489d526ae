//! The program the evaluator runs: flat, resolved, in base units.
//!
//! Expressions live in one arena (`Program::nodes`) and refer to each other by index. Signals
//! are slots, classes and tags are indexes, `let`s and `fn`s are inlined, constants folded. The
//! evaluator never sees a name it must look up. Source locations live beside the program in
//! [`Origins`], so the program itself (and its digest) does not change when a file is reformatted.

pub mod value;

use serde::Serialize;

pub type NodeId = u32;
pub type SlotId = u32;
pub type ClassId = u32;
pub type TagId = u32;
pub type CelId = u32;

/// What a decision asks of a deployment, from least to most severe (the order of `Ord`).
///
/// Not `#[non_exhaustive]`: the five actions are a closed set by the language's design (its
/// keywords, the exit codes, the JSON contract), and callers are meant to match on all of them.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Nothing is wrong: go on.
    Proceed,
    /// Not enough is known to decide (an input is missing or stale, or a rule says so).
    Inconclusive,
    /// Stay where the rollout is, waiting (for approvals, for evidence).
    Hold,
    /// Stop the rollout, leaving the deployment as it is.
    Halt,
    /// Undo the deployment.
    Rollback,
}

impl Action {
    /// The action's keyword: `proceed`, `inconclusive`, `hold`, `halt`, `rollback`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Proceed => "proceed",
            Action::Inconclusive => "inconclusive",
            Action::Hold => "hold",
            Action::Halt => "halt",
            Action::Rollback => "rollback",
        }
    }

    /// The action a keyword names; `None` for any other text.
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "proceed" => Action::Proceed,
            "inconclusive" => Action::Inconclusive,
            "hold" => Action::Hold,
            "halt" => Action::Halt,
            "rollback" => Action::Rollback,
            _ => return None,
        })
    }

    /// The `--exit-code` status for this decision.
    pub fn exit_code(self) -> i32 {
        match self {
            Action::Proceed => 0,
            Action::Inconclusive => 10,
            Action::Hold => 11,
            Action::Halt => 20,
            Action::Rollback => 30,
        }
    }
}

/// What a scope may grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Grant {
    Halt,
    Rollback,
    Promote,
    Override,
}

impl Grant {
    pub const ALL: [Grant; 4] = [
        Grant::Halt,
        Grant::Rollback,
        Grant::Promote,
        Grant::Override,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Grant::Halt => "halt",
            Grant::Rollback => "rollback",
            Grant::Promote => "promote",
            Grant::Override => "override",
        }
    }

    pub fn parse(s: &str) -> Option<Grant> {
        Grant::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// The grant that authorizes a decided action.
    pub fn needed_for(action: Action) -> Grant {
        match action {
            Action::Rollback => Grant::Rollback,
            Action::Proceed => Grant::Promote,
            Action::Halt | Action::Hold | Action::Inconclusive => Grant::Halt,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    Human,
    Agent,
    ServiceAccount,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Human => "human",
            PrincipalKind::Agent => "agent",
            PrincipalKind::ServiceAccount => "service_account",
        }
    }

    pub fn parse(s: &str) -> Option<PrincipalKind> {
        Some(match s {
            "human" => PrincipalKind::Human,
            "agent" => PrincipalKind::Agent,
            "service_account" => PrincipalKind::ServiceAccount,
            _ => return None,
        })
    }
}

/// `human`, `agent "x"`, `group "sre"`, `human in group "sre"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum PrincipalPat {
    Kind(PrincipalKind),
    Identity(PrincipalKind, String),
    Group(String),
    /// `human in group "sre"`: a principal that both patterns match.
    In(Box<PrincipalPat>, Box<PrincipalPat>),
}

impl PrincipalPat {
    /// The pattern as written in a policy: `group "dba"`.
    pub fn describe(&self) -> String {
        match self {
            PrincipalPat::Kind(k) => k.as_str().to_string(),
            PrincipalPat::Identity(k, id) => format!("{} {:?}", k.as_str(), id),
            PrincipalPat::Group(g) => format!("group {g:?}"),
            PrincipalPat::In(a, b) => format!("{} in {}", a.describe(), b.describe()),
        }
    }

    /// Every simple pattern this one requires: `human in group "sre"` gives `human` and
    /// `group "sre"`.
    pub fn parts(&self) -> Vec<&PrincipalPat> {
        match self {
            PrincipalPat::In(a, b) => {
                let mut out = a.parts();
                out.extend(b.parts());
                out
            }
            p => vec![p],
        }
    }

    /// The kind this pattern requires, if it requires one.
    pub fn kind(&self) -> Option<PrincipalKind> {
        self.parts().into_iter().find_map(|p| match p {
            PrincipalPat::Kind(k) | PrincipalPat::Identity(k, _) => Some(*k),
            _ => None,
        })
    }
}

/// A `deployment.` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Field {
    Id,
    Revision,
    Service,
    Environment,
    Stage,
    Class,
    TrafficPercent,
    CascadeDepth,
    Emergency,
    Actor,
    TargetHealthy,
    TargetVersion,
}

impl Field {
    pub fn path(self) -> &'static str {
        match self {
            Field::Id => "deployment.id",
            Field::Revision => "deployment.revision",
            Field::Service => "deployment.service",
            Field::Environment => "deployment.environment",
            Field::Stage => "deployment.stage",
            Field::Class => "deployment.class",
            Field::TrafficPercent => "deployment.traffic_percent",
            Field::CascadeDepth => "deployment.cascade_depth",
            Field::Emergency => "deployment.emergency",
            Field::Actor => "deployment.actor",
            Field::TargetHealthy => "deployment.rollback_target.healthy",
            Field::TargetVersion => "deployment.rollback_target.version",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum WindowFn {
    Max,
    Min,
    Avg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// One expression node. Numbers are in base units: seconds and fractions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Node {
    Bool(bool),
    Num(f64),
    Str(String),
    Signal(SlotId),
    Baseline(SlotId),
    Samples(SlotId),
    Delta(SlotId),
    Age(SlotId),
    Window {
        f: WindowFn,
        slot: SlotId,
        secs: f64,
    },
    /// Two-valued: false when any listed signal is missing or older than `secs`.
    Fresh {
        slots: Vec<SlotId>,
        secs: f64,
    },
    /// Two-valued: whether the input is present (and not null).
    HasSignal(SlotId),
    HasField(Field),
    HasLabel(String),
    Field(Field),
    /// `deployment.labels["key"]`
    Label(String),
    ClassIs(ClassId),
    ClassIrreversible,
    ClassSecurityFix,
    ClassTouches(TagId),
    PrincipalIs(NodeId, PrincipalPat),
    Not(NodeId),
    Neg(NodeId),
    And(NodeId, NodeId),
    Or(NodeId, NodeId),
    Arith(ArithOp, NodeId, NodeId),
    Cmp(CmpOp, NodeId, NodeId),
    /// A list literal; only ever the right side of `in`.
    List(Vec<NodeId>),
    /// Membership in a list literal.
    InList(NodeId, Vec<NodeId>),
    /// A key of `deployment.labels`.
    InLabels(NodeId),
    Cond(NodeId, NodeId, NodeId),
    Cel(CelId),
}

impl Node {
    /// Calls `f` with each operand, in order.
    pub fn for_each_child(&self, f: &mut dyn FnMut(NodeId)) {
        match self {
            Node::PrincipalIs(a, _) | Node::Not(a) | Node::Neg(a) | Node::InLabels(a) => f(*a),
            Node::And(a, b) | Node::Or(a, b) | Node::Arith(_, a, b) | Node::Cmp(_, a, b) => {
                f(*a);
                f(*b);
            }
            Node::InList(a, items) => {
                f(*a);
                items.iter().for_each(|i| f(*i));
            }
            Node::List(items) => items.iter().for_each(|i| f(*i)),
            Node::Cond(c, a, b) => {
                f(*c);
                f(*a);
                f(*b);
            }
            _ => {}
        }
    }
}

/// The type a signal is declared with; the snapshot's values must fit it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalType {
    Bool,
    Number,
    Count,
    Ratio,
    Duration,
    String,
}

impl SignalType {
    pub fn as_str(self) -> &'static str {
        match self {
            SignalType::Bool => "bool",
            SignalType::Number => "number",
            SignalType::Count => "count",
            SignalType::Ratio => "ratio",
            SignalType::Duration => "duration",
            SignalType::String => "string",
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            SignalType::Number | SignalType::Count | SignalType::Ratio | SignalType::Duration
        )
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Signal {
    pub name: String,
    pub key: String,
    pub ty: SignalType,
}

#[derive(Clone, Debug, Serialize)]
pub struct Class {
    pub name: String,
    pub tags: Vec<TagId>,
    pub irreversible: bool,
    pub security_fix: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Scope {
    pub name: String,
    pub principals: Vec<PrincipalPat>,
    pub may: Vec<Grant>,
    /// `None`: every environment.
    pub envs: Option<Vec<String>>,
    /// `for services [...]`; `None`: every service. Left out of the canonical form when absent,
    /// so a set without it keeps its digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
    /// `for classes [...]`; `None`: every class and unclassified changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<ClassId>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Gate {
    /// The condition as written (canonical layout), for explanations.
    pub text: String,
    pub cond: NodeId,
    pub action: Action,
    pub dry_run: bool,
    /// The `fresh(...)` and `has(...)` nodes of the condition, to name the evidence that is
    /// missing when the gate fails.
    pub evidence: Vec<NodeId>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Rule {
    pub name: String,
    pub action: Action,
    pub when: NodeId,
    /// `for D`: the window in seconds and the one signal the condition reads.
    pub window: Option<(f64, SlotId)>,
    pub unless: Option<NodeId>,
    pub dry_run: bool,
    /// The inputs `when` reads, reported with their values when the rule fires.
    pub inputs: Vec<NodeId>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Approval {
    pub name: String,
    pub count: u32,
    pub of: PrincipalPat,
    pub when: Option<NodeId>,
    pub dry_run: bool,
}

/// `forbid rollback NAME when ... [unless ...]`: a veto. When its policy applies, its `when` is
/// true or unknown and its `unless` is not true, a set decision of `action` is lowered
/// (`rollback` to `halt`, `proceed` to `hold`).
#[derive(Clone, Debug, Serialize)]
pub struct Forbid {
    pub name: String,
    /// `rollback` or `proceed`.
    pub action: Action,
    pub when: NodeId,
    pub unless: Option<NodeId>,
    pub dry_run: bool,
    /// The inputs `when` and `unless` read, reported with their values when the veto holds.
    pub inputs: Vec<NodeId>,
}

impl Forbid {
    /// What the vetoed decision becomes: a person decides, the rollout waits.
    pub fn lowered(&self) -> Action {
        match self.action {
            Action::Proceed => Action::Hold,
            _ => Action::Halt,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Policy {
    pub name: String,
    pub dry_run: bool,
    pub applies: Option<NodeId>,
    pub gates: Vec<Gate>,
    pub rules: Vec<Rule>,
    pub approvals: Vec<Approval>,
    /// Left out of the canonical form when empty, so a set without vetoes keeps its digest.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forbids: Vec<Forbid>,
    /// Signals this policy's freshness gates name, with the smallest `within` in seconds:
    /// older ones read as unknown (stale) everywhere else in the policy.
    pub freshness: Vec<(SlotId, f64)>,
}

/// A compiled policy set, without source positions: what the digest covers.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Program {
    pub signals: Vec<Signal>,
    pub classes: Vec<Class>,
    pub tags: Vec<String>,
    pub scopes: Vec<Scope>,
    /// Sorted by name.
    pub policies: Vec<Policy>,
    pub nodes: Vec<Node>,
    /// The source of each `cel(...)`, compiled beside the program.
    pub cel: Vec<String>,
}

/// `FILE:LINE:COL` of each rule's action keyword, gate's `require`, approval's `approval`,
/// indexed like `Program::policies`.
#[derive(Clone, Debug, Default)]
pub struct Origins {
    pub policies: Vec<PolicyOrigin>,
    /// Indexed like `Program::scopes`.
    pub scopes: Vec<Mark>,
    /// Declarations of the set's own files that nothing reads: kind, name, where.
    pub unused: Vec<(&'static str, String, Mark)>,
}

#[derive(Clone, Debug, Default)]
pub struct PolicyOrigin {
    pub gates: Vec<String>,
    pub rules: Vec<String>,
    pub approvals: Vec<String>,
    pub forbids: Vec<String>,
    /// Where the lints point, and what the author allowed there.
    pub mark: Mark,
    pub gate_marks: Vec<Mark>,
    pub rule_marks: Vec<Mark>,
    pub approval_marks: Vec<Mark>,
    pub forbid_marks: Vec<Mark>,
}

/// A place lints can point at: a declaration's or statement's name, the lints its
/// `@allow(CODE)` annotations silence, and its `@until("YYYY-MM-DD")`.
#[derive(Clone, Debug, Default)]
pub struct Mark {
    pub span: crate::source::Span,
    pub allows: Vec<(String, crate::source::Span)>,
    pub until: Option<(String, crate::source::Span)>,
}

impl Program {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    pub fn class_index(&self, name: &str) -> Option<ClassId> {
        self.classes
            .iter()
            .position(|c| c.name == name)
            .map(|i| i as ClassId)
    }

    /// The canonical bytes the digest covers: the program as JSON, without positions.
    pub fn canonical(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("the program holds only plain data")
    }

    /// Visits `id` and every node under it, in order.
    pub fn walk(&self, id: NodeId, f: &mut dyn FnMut(NodeId, &Node)) {
        let node = self.node(id);
        f(id, node);
        node.for_each_child(&mut |c| self.walk(c, f));
    }
}
