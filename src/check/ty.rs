//! Types and units as the checker sees them.

use crate::ir::SignalType;

#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    Bool,
    Number,
    Count,
    Ratio,
    Duration,
    Str,
    Timestamp,
    Principal,
    Class,
    /// `deployment.labels`: usable only with `in` and `["key"]`.
    Labels,
    /// `deployment.approvals`: read through `approval` statements.
    Approvals,
    List(Box<Ty>),
    /// An expression that already has an error: never reported again.
    Error,
}

impl Ty {
    pub fn from_signal(t: SignalType) -> Ty {
        match t {
            SignalType::Bool => Ty::Bool,
            SignalType::Number => Ty::Number,
            SignalType::Count => Ty::Count,
            SignalType::Ratio => Ty::Ratio,
            SignalType::Duration => Ty::Duration,
            SignalType::String => Ty::Str,
        }
    }

    /// A type name as written in a declaration.
    pub fn parse(name: &str) -> Option<Ty> {
        Some(match name {
            "bool" => Ty::Bool,
            "number" => Ty::Number,
            "count" => Ty::Count,
            "ratio" => Ty::Ratio,
            "duration" => Ty::Duration,
            "string" => Ty::Str,
            "timestamp" => Ty::Timestamp,
            "principal" => Ty::Principal,
            "class" => Ty::Class,
            _ => return None,
        })
    }

    pub const NAMES: &'static [&'static str] = crate::syntax::lexicon::TYPE_NAMES;

    pub fn name(&self) -> String {
        match self {
            Ty::Bool => "bool".into(),
            Ty::Number => "number".into(),
            Ty::Count => "count".into(),
            Ty::Ratio => "ratio".into(),
            Ty::Duration => "duration".into(),
            Ty::Str => "string".into(),
            Ty::Timestamp => "timestamp".into(),
            Ty::Principal => "principal".into(),
            Ty::Class => "class".into(),
            Ty::Labels => "map of labels".into(),
            Ty::Approvals => "list of approvals".into(),
            Ty::List(t) => format!("list of {}", t.name()),
            Ty::Error => "unknown type".into(),
        }
    }

    /// "a ratio", "an error": the type in a sentence.
    pub fn article(&self) -> String {
        let n = self.name();
        let vowel = n.starts_with(['a', 'e', 'i', 'o', 'u']);
        format!("{} {}", if vowel { "an" } else { "a" }, n)
    }

    /// `number` and `count`: plain quantities without a unit.
    pub fn is_plain(&self) -> bool {
        matches!(self, Ty::Number | Ty::Count)
    }

    pub fn has_unit(&self) -> bool {
        matches!(self, Ty::Ratio | Ty::Duration)
    }

    pub fn is_numeric(&self) -> bool {
        self.is_plain() || self.has_unit()
    }

    /// Count and number mix freely; everything else must match exactly.
    pub fn same_kind(&self, other: &Ty) -> bool {
        (self.is_plain() && other.is_plain()) || self == other
    }

    /// Whether a value of this type may be passed where `want` is declared.
    pub fn fits(&self, want: &Ty) -> bool {
        *self == Ty::Error
            || self == want
            || (self.is_plain() && *want == Ty::Number)
            || (*self == Ty::Count && *want == Ty::Count)
    }
}
