//! Three-valued (Kleene) truth, with the reasons an unknown is unknown.
//!
//! A value is `Ok(v)` when known, `Err(reasons)` when unknown. `false and unknown` is false and
//! `true or unknown` is true, so a known side can settle the answer whatever the other is;
//! otherwise unknowns carry every input that left them undecided.

use crate::ir::{CelId, Field, NodeId, SlotId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    Missing,
    Stale,
    NoBaseline,
    NoSamples,
    WindowNotCovered,
    DivisionByZero,
    CelError,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::Missing => "missing",
            Why::Stale => "stale",
            Why::NoBaseline => "no baseline",
            Why::NoSamples => "no samples",
            Why::WindowNotCovered => "window not covered",
            Why::DivisionByZero => "division by zero",
            Why::CelError => "cel error",
        }
    }
}

/// The input an unknown came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    Signal(SlotId),
    Field(Field),
    /// The node of a `deployment.labels["key"]` read.
    Label(NodeId),
    Cel(CelId),
    /// The divisor of a division by zero.
    Divisor(NodeId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reason {
    pub input: Input,
    pub why: Why,
}

pub type Reasons = Vec<Reason>;

pub fn unknown<T>(input: Input, why: Why) -> Result<T, Reasons> {
    Err(vec![Reason { input, why }])
}

/// Both sides' reasons, each once.
pub fn merge(mut a: Reasons, b: Reasons) -> Reasons {
    for r in b {
        if !a.contains(&r) {
            a.push(r);
        }
    }
    a
}

/// Kleene `and`; `right` is only computed when `left` does not settle it.
pub fn and(
    left: Result<bool, Reasons>,
    right: impl FnOnce() -> Result<bool, Reasons>,
) -> Result<bool, Reasons> {
    match left {
        Ok(false) => Ok(false),
        Ok(true) => right(),
        Err(l) => match right() {
            Ok(false) => Ok(false),
            Ok(true) => Err(l),
            Err(r) => Err(merge(l, r)),
        },
    }
}

/// Kleene `or`.
pub fn or(
    left: Result<bool, Reasons>,
    right: impl FnOnce() -> Result<bool, Reasons>,
) -> Result<bool, Reasons> {
    match left {
        Ok(true) => Ok(true),
        Ok(false) => right(),
        Err(l) => match right() {
            Ok(true) => Ok(true),
            Ok(false) => Err(l),
            Err(r) => Err(merge(l, r)),
        },
    }
}

pub fn not(v: Result<bool, Reasons>) -> Result<bool, Reasons> {
    v.map(|b| !b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u() -> Result<bool, Reasons> {
        unknown(Input::Signal(0), Why::Missing)
    }

    const T: Result<bool, Reasons> = Ok(true);
    const F: Result<bool, Reasons> = Ok(false);

    #[test]
    fn kleene_tables() {
        assert_eq!(and(F, u), F);
        assert_eq!(and(u(), || F), F);
        assert!(and(T, u).is_err());
        assert!(and(u(), || T).is_err());
        assert_eq!(or(T, u), T);
        assert_eq!(or(u(), || T), T);
        assert!(or(F, u).is_err());
        assert!(not(u()).is_err());
        assert_eq!(not(T), F);
    }

    #[test]
    fn unknowns_collect_every_reason_once() {
        let a = || unknown::<bool>(Input::Signal(0), Why::Missing);
        let b = || unknown::<bool>(Input::Signal(1), Why::Stale);
        let r = and(a(), b).unwrap_err();
        assert_eq!(r.len(), 2);
        let r = or(a(), a).unwrap_err();
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn de_morgan_and_absorption_hold_over_three_values() {
        let vals: Vec<fn() -> Result<bool, Reasons>> = vec![|| T, || F, u];
        let known = |r: &Result<bool, Reasons>| r.as_ref().ok().copied();
        for a in &vals {
            for b in &vals {
                let lhs = not(and(a(), b));
                let rhs = or(not(a()), || not(b()));
                assert_eq!(known(&lhs), known(&rhs));
                let lhs = not(or(a(), b));
                let rhs = and(not(a()), || not(b()));
                assert_eq!(known(&lhs), known(&rhs));
                // a and (a or b) == a
                assert_eq!(known(&and(a(), || or(a(), b))), known(&a()));
                // a or (a and b) == a
                assert_eq!(known(&or(a(), || and(a(), b))), known(&a()));
            }
        }
    }
}
