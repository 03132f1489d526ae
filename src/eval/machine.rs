//! Runs the IR against a snapshot. A pure function of (program, snapshot): no clock, no I/O.

use std::borrow::Cow;
use std::collections::HashMap;

use super::decision::*;
use super::logic::{self, unknown, Input, Reasons, Why};
use super::snapshot::{Micros, Principal, SigValue, SignalData, Snapshot};
use crate::ir::{
    self, value, Action, ArithOp, ClassId, Field, Grant, Node, NodeId, Origins, PrincipalKind,
    PrincipalPat, Program, SignalType, SlotId,
};

#[derive(Clone, Debug)]
enum Val<'a> {
    Bool(bool),
    Num(f64),
    Str(Cow<'a, str>),
    Principal(&'a Principal),
    Class(Option<ClassId>),
}

type R<'a> = Result<Val<'a>, Reasons>;

pub struct Machine<'a> {
    prog: &'a Program,
    snap: &'a Snapshot,
    cel: &'a [cel::Program],
    /// Per slot: stale for the policy being evaluated.
    stale: Vec<bool>,
    /// While a `for` window is read: the signal and the value at the point being read.
    point: Option<(SlotId, &'a SigValue)>,
    /// While a `for` window with no points is read: the signal that reads as unknown, and why.
    blind: Option<(SlotId, Why)>,
    cel_vars: Option<HashMap<&'static str, cel::Value>>,
}

fn micros(secs: f64) -> Micros {
    (secs * 1e6).round() as Micros
}

pub fn principal_matches(p: &Principal, pat: &PrincipalPat) -> bool {
    match pat {
        PrincipalPat::Kind(k) => p.kind == *k,
        PrincipalPat::Identity(k, id) => p.kind == *k && p.id == *id,
        PrincipalPat::Group(g) => p.groups.iter().any(|x| x == g),
        PrincipalPat::In(a, b) => principal_matches(p, a) && principal_matches(p, b),
    }
}

/// JSON to CEL, with JSON integers as CEL `int` (the cel crate would make them unsigned).
fn to_cel(v: &serde_json::Value) -> cel::Value {
    use serde_json::Value as J;
    match v {
        J::Null => cel::Value::Null,
        J::Bool(b) => cel::Value::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => cel::Value::Int(i),
            None => match n.as_u64() {
                Some(u) => cel::Value::UInt(u),
                None => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
        },
        J::String(s) => cel::Value::String(s.clone().into()),
        J::Array(items) => cel::Value::List(items.iter().map(to_cel).collect::<Vec<_>>().into()),
        J::Object(m) => {
            let map: HashMap<String, cel::Value> =
                m.iter().map(|(k, v)| (k.clone(), to_cel(v))).collect();
            map.into()
        }
    }
}

impl<'a> Machine<'a> {
    pub fn new(prog: &'a Program, snap: &'a Snapshot, cel: &'a [cel::Program]) -> Machine<'a> {
        Machine {
            prog,
            snap,
            cel,
            stale: vec![false; prog.signals.len()],
            point: None,
            blind: None,
            cel_vars: None,
        }
    }

    fn data(&self, s: SlotId) -> Result<&'a SignalData, Reasons> {
        if let Some((slot, why)) = self.blind {
            if slot == s {
                return unknown(Input::Signal(s), why);
            }
        }
        match &self.snap.signals[s as usize] {
            None => unknown(Input::Signal(s), Why::Missing),
            Some(_) if self.stale[s as usize] => unknown(Input::Signal(s), Why::Stale),
            Some(d) => Ok(d),
        }
    }

    fn current(&self, s: SlotId) -> Result<&'a SigValue, Reasons> {
        let d = self.data(s)?;
        match self.point {
            Some((slot, v)) if slot == s => Ok(v),
            _ => Ok(&d.value),
        }
    }

    fn num(&mut self, id: NodeId) -> Result<f64, Reasons> {
        match self.eval(id)? {
            Val::Num(n) => Ok(n),
            // The checker admits only numbers here.
            _ => Ok(f64::NAN),
        }
    }

    pub fn truth(&mut self, id: NodeId) -> Result<bool, Reasons> {
        match self.eval(id)? {
            Val::Bool(b) => Ok(b),
            _ => Ok(false),
        }
    }

    fn sig(v: &'a SigValue) -> Val<'a> {
        match v {
            SigValue::Num(n) => Val::Num(*n),
            SigValue::Bool(b) => Val::Bool(*b),
            SigValue::Str(s) => Val::Str(Cow::Borrowed(s)),
        }
    }

    fn field(&self, f: Field) -> R<'a> {
        let d = &self.snap.deployment;
        let missing = || unknown(Input::Field(f), Why::Missing);
        let s = |o: &'a Option<String>| o.as_deref().map(|x| Val::Str(Cow::Borrowed(x)));
        let v = match f {
            Field::Id => s(&d.id),
            Field::Revision => s(&d.revision),
            Field::Service => Some(Val::Str(Cow::Borrowed(&d.service))),
            Field::Environment => Some(Val::Str(Cow::Borrowed(&d.environment))),
            Field::Stage => s(&d.stage),
            Field::Class => Some(Val::Class(d.class)),
            Field::TrafficPercent => d.traffic_percent.map(Val::Num),
            Field::CascadeDepth => d.cascade_depth.map(Val::Num),
            Field::Emergency => Some(Val::Bool(d.emergency.unwrap_or(false))),
            Field::Actor => d.actor.as_ref().map(Val::Principal),
            Field::TargetHealthy => d.target_healthy.map(Val::Bool),
            Field::TargetVersion => s(&d.target_version),
        };
        v.map_or_else(missing, Ok)
    }

    /// Whether the snapshot gives the field a value: a defaulted field (`class`, `emergency`)
    /// is not given by its default.
    fn given(&self, f: Field) -> bool {
        let d = &self.snap.deployment;
        match f {
            Field::Class => d.class.is_some(),
            Field::Emergency => d.emergency.is_some(),
            _ => self.field(f).is_ok(),
        }
    }

    /// The points of a window over `secs` ending at `at`, and whether the window is covered.
    fn window_points(&self, d: &'a SignalData, secs: f64) -> (&'a [(Micros, SigValue)], bool) {
        let start = self.snap.at - micros(secs);
        match d.points.iter().rposition(|(t, _)| *t <= start) {
            Some(i) => (&d.points[i..], true),
            None => (&d.points[..], false),
        }
    }

    fn cel_eval(&mut self, id: ir::CelId) -> R<'a> {
        let fail = || unknown(Input::Cel(id), Why::CelError);
        let vars = self.cel_vars.get_or_insert_with(|| {
            let mut m = HashMap::new();
            if let serde_json::Value::Object(root) = &self.snap.raw {
                for key in ["at", "deployment", "signals", "requester"] {
                    m.insert(key, root.get(key).map(to_cel).unwrap_or(cel::Value::Null));
                }
            }
            m
        });
        let mut ctx = cel::Context::default();
        for (k, v) in vars.iter() {
            ctx.add_variable_from_value(*k, v.clone());
        }
        match self.cel.get(id as usize).map(|p| p.execute(&ctx)) {
            Some(Ok(cel::Value::Bool(b))) => Ok(Val::Bool(b)),
            _ => fail(),
        }
    }

    fn eval(&mut self, id: NodeId) -> R<'a> {
        let prog = self.prog;
        match prog.node(id) {
            Node::Bool(b) => Ok(Val::Bool(*b)),
            Node::Num(n) => Ok(Val::Num(*n)),
            Node::Str(s) => Ok(Val::Str(Cow::Borrowed(s))),
            Node::Signal(s) => Ok(Self::sig(self.current(*s)?)),
            Node::Baseline(s) => {
                let d = self.data(*s)?;
                d.baseline
                    .map(Val::Num)
                    .map_or_else(|| unknown(Input::Signal(*s), Why::NoBaseline), Ok)
            }
            Node::Samples(s) => {
                let d = self.data(*s)?;
                d.samples
                    .map(Val::Num)
                    .map_or_else(|| unknown(Input::Signal(*s), Why::NoSamples), Ok)
            }
            Node::Delta(s) => {
                let v = match self.current(*s)? {
                    SigValue::Num(n) => *n,
                    _ => f64::NAN,
                };
                let d = self.data(*s)?;
                match d.baseline {
                    Some(b) => Ok(Val::Num(v - b)),
                    None => unknown(Input::Signal(*s), Why::NoBaseline),
                }
            }
            Node::Age(s) => {
                let d = self.data(*s)?;
                match d.observed_at {
                    Some(t) => Ok(Val::Num(((self.snap.at - t).max(0)) as f64 / 1e6)),
                    None => unknown(Input::Signal(*s), Why::Missing),
                }
            }
            Node::Window { f, slot, secs } => {
                let d = self.data(*slot)?;
                let (points, covered) = self.window_points(d, *secs);
                if !covered || points.is_empty() {
                    return unknown(Input::Signal(*slot), Why::WindowNotCovered);
                }
                let nums = points.iter().map(|(_, v)| match v {
                    SigValue::Num(n) => *n,
                    _ => f64::NAN,
                });
                let v = match f {
                    ir::WindowFn::Max => nums.fold(f64::NEG_INFINITY, f64::max),
                    ir::WindowFn::Min => nums.fold(f64::INFINITY, f64::min),
                    ir::WindowFn::Avg => nums.sum::<f64>() / points.len() as f64,
                };
                Ok(Val::Num(v))
            }
            Node::Fresh { slots, secs } => {
                let at = self.snap.at;
                let limit = micros(*secs);
                let ok = slots.iter().all(|s| match &self.snap.signals[*s as usize] {
                    Some(SignalData {
                        observed_at: Some(t),
                        ..
                    }) => (at - *t).max(0) <= limit,
                    _ => false,
                });
                Ok(Val::Bool(ok))
            }
            Node::HasSignal(s) => Ok(Val::Bool(self.snap.signals[*s as usize].is_some())),
            Node::HasField(f) => Ok(Val::Bool(self.given(*f))),
            Node::HasLabel(k) => Ok(Val::Bool(self.snap.deployment.labels.contains_key(k))),
            Node::Field(f) => self.field(*f),
            Node::Label(k) => match self.snap.deployment.labels.get(k) {
                Some(v) => Ok(Val::Str(Cow::Borrowed(v))),
                None => unknown(Input::Label(id), Why::Missing),
            },
            Node::ClassIs(c) => Ok(Val::Bool(self.snap.deployment.class == Some(*c))),
            Node::ClassIrreversible => Ok(Val::Bool(self.class().is_some_and(|c| c.irreversible))),
            Node::ClassSecurityFix => Ok(Val::Bool(self.class().is_some_and(|c| c.security_fix))),
            Node::ClassTouches(t) => {
                Ok(Val::Bool(self.class().is_some_and(|c| c.tags.contains(t))))
            }
            Node::PrincipalIs(n, pat) => match self.eval(*n)? {
                Val::Principal(p) => Ok(Val::Bool(principal_matches(p, pat))),
                _ => Ok(Val::Bool(false)),
            },
            Node::Not(a) => logic::not(self.truth(*a)).map(Val::Bool),
            Node::Neg(a) => Ok(Val::Num(-self.num(*a)?)),
            Node::And(a, b) => {
                let l = self.truth(*a);
                logic::and(l, || self.truth(*b)).map(Val::Bool)
            }
            Node::Or(a, b) => {
                let l = self.truth(*a);
                logic::or(l, || self.truth(*b)).map(Val::Bool)
            }
            Node::Arith(op, a, b) => {
                let l = self.eval(*a);
                let r = self.eval(*b);
                match (l, r) {
                    (Ok(Val::Num(x)), Ok(Val::Num(y))) => match value::arith(*op, x, y) {
                        Some(v) => Ok(Val::Num(v)),
                        None => unknown(Input::Divisor(*b), Why::DivisionByZero),
                    },
                    (Ok(Val::Str(x)), Ok(Val::Str(y))) if *op == ArithOp::Add => {
                        Ok(Val::Str(Cow::Owned(format!("{x}{y}"))))
                    }
                    (Err(l), Err(r)) => Err(logic::merge(l, r)),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                    _ => Ok(Val::Num(f64::NAN)),
                }
            }
            Node::Cmp(op, a, b) => {
                let l = self.eval(*a);
                let r = self.eval(*b);
                match (l, r) {
                    (Ok(x), Ok(y)) => Ok(Val::Bool(match (x, y) {
                        (Val::Num(x), Val::Num(y)) => value::compare(*op, &x, &y),
                        (Val::Str(x), Val::Str(y)) => value::compare(*op, x.as_ref(), y.as_ref()),
                        (Val::Bool(x), Val::Bool(y)) => value::compare(*op, &x, &y),
                        _ => false,
                    })),
                    (Err(l), Err(r)) => Err(logic::merge(l, r)),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            }
            Node::InList(a, items) => {
                let needle = self.eval(*a)?;
                let mut reasons: Reasons = Vec::new();
                for i in items {
                    match self.eval(*i) {
                        Ok(v) => {
                            let eq = match (&needle, &v) {
                                (Val::Num(x), Val::Num(y)) => x == y,
                                (Val::Str(x), Val::Str(y)) => x == y,
                                (Val::Bool(x), Val::Bool(y)) => x == y,
                                _ => false,
                            };
                            if eq {
                                return Ok(Val::Bool(true));
                            }
                        }
                        Err(r) => reasons.extend(r),
                    }
                }
                if reasons.is_empty() {
                    Ok(Val::Bool(false))
                } else {
                    Err(reasons)
                }
            }
            Node::InLabels(a) => match self.eval(*a)? {
                Val::Str(k) => Ok(Val::Bool(
                    self.snap.deployment.labels.contains_key(k.as_ref()),
                )),
                _ => Ok(Val::Bool(false)),
            },
            Node::Cond(c, a, b) => {
                if self.truth(*c)? {
                    self.eval(*a)
                } else {
                    self.eval(*b)
                }
            }
            Node::Cel(c) => self.cel_eval(*c),
            // Lists stand only on the right of `in`, which reads their items itself.
            Node::List(_) => Ok(Val::Bool(false)),
        }
    }

    fn class(&self) -> Option<&'a ir::Class> {
        self.snap
            .deployment
            .class
            .map(|c| &self.prog.classes[c as usize])
    }

    /// A rule's `when`, with its `for` window if it has one.
    fn when(&mut self, rule: &ir::Rule) -> Result<bool, Reasons> {
        let Some((secs, slot)) = rule.window else {
            return self.truth(rule.when);
        };
        let d = match self.data(slot) {
            Ok(d) if !d.points.is_empty() => d,
            // No points (missing, stale, or neither `observed_at` nor `series`): the condition
            // as of `at` with the signal unknown. False stays false (`false and ...`); anything
            // else is unknown for the signal's reason: a rule never fires on a window that no
            // point covers.
            found => {
                let why = match found {
                    Ok(_) => Why::WindowNotCovered,
                    Err(rs) => rs.first().map_or(Why::Missing, |r| r.why),
                };
                self.blind = Some((slot, why));
                let r = self.truth(rule.when);
                self.blind = None;
                return match r {
                    Ok(false) => Ok(false),
                    Ok(true) => unknown(Input::Signal(slot), why),
                    Err(rs) => Err(rs),
                };
            }
        };
        let (points, covered) = self.window_points(d, secs);
        let mut reasons: Reasons = Vec::new();
        for (_, v) in points {
            self.point = Some((slot, v));
            let r = self.truth(rule.when);
            self.point = None;
            match r {
                Ok(false) => return Ok(false),
                Ok(true) => {}
                Err(rs) => {
                    for x in rs {
                        if !reasons.contains(&x) {
                            reasons.push(x);
                        }
                    }
                }
            }
        }
        if !reasons.is_empty() {
            Err(reasons)
        } else if !covered || points.is_empty() {
            unknown(Input::Signal(slot), Why::WindowNotCovered)
        } else {
            Ok(true)
        }
    }

    fn input_name(&self, input: Input) -> String {
        match input {
            Input::Signal(s) => self.prog.signals[s as usize].name.clone(),
            Input::Field(f) => f.path().to_string(),
            Input::Label(n) | Input::Divisor(n) => self.node_label(n),
            Input::Cel(c) => format!(
                "cel({})",
                crate::syntax::print::quote(&self.prog.cel[c as usize])
            ),
        }
    }

    /// How an input node is named in explanations: `error_rate`, `baseline(error_rate)`.
    fn node_label(&self, id: NodeId) -> String {
        let name = |s: &SlotId| self.prog.signals[*s as usize].name.as_str();
        match self.prog.node(id) {
            Node::Signal(s) => name(s).to_string(),
            Node::Baseline(s) => format!("baseline({})", name(s)),
            Node::Samples(s) => format!("samples({})", name(s)),
            Node::Delta(s) => format!("delta({})", name(s)),
            Node::Age(s) => format!("age({})", name(s)),
            Node::Window { f, slot, secs } => {
                let f = match f {
                    ir::WindowFn::Max => "max",
                    ir::WindowFn::Min => "min",
                    ir::WindowFn::Avg => "avg",
                };
                format!("{f}({}) over {}", name(slot), duration_literal(*secs))
            }
            Node::Field(f) => f.path().to_string(),
            Node::Label(k) => format!("deployment.labels[{}]", crate::syntax::print::quote(k)),
            _ => "a computed value".to_string(),
        }
    }

    /// `deployment.labels["k"]` for a `has(deployment.labels["k"])` node.
    fn node_label_of_has(&self, id: NodeId) -> String {
        match self.prog.node(id) {
            Node::HasLabel(k) => format!("deployment.labels[{}]", crate::syntax::print::quote(k)),
            _ => self.node_label(id),
        }
    }

    fn json_value(&mut self, id: NodeId) -> Option<serde_json::Value> {
        let v = self.eval(id).ok()?;
        let count = match self.prog.node(id) {
            Node::Signal(s) => self.prog.signals[*s as usize].ty == SignalType::Count,
            Node::Samples(_) | Node::Field(Field::CascadeDepth) => true,
            _ => false,
        };
        Some(match v {
            Val::Num(n)
                if count && n.fract() == 0.0 && (0.0..=1.8446744073709552e19).contains(&n) =>
            {
                serde_json::Value::from(n as u64)
            }
            Val::Num(n) => serde_json::Number::from_f64(n)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Val::Bool(b) => serde_json::Value::Bool(b),
            Val::Str(s) => serde_json::Value::String(s.into_owned()),
            Val::Principal(p) => serde_json::json!({"kind": p.kind.as_str(), "id": p.id}),
            Val::Class(c) => c.map_or(serde_json::Value::Null, |c| {
                serde_json::Value::String(self.prog.classes[c as usize].name.clone())
            }),
        })
    }
}

/// `300.0` -> `5m`, the way a policy author writes it.
pub fn duration_literal(secs: f64) -> String {
    if secs >= 3600.0 && secs % 3600.0 == 0.0 {
        format!("{}h", secs / 3600.0)
    } else if secs >= 60.0 && secs % 60.0 == 0.0 {
        format!("{}m", secs / 60.0)
    } else if secs.fract() == 0.0 {
        format!("{secs}s")
    } else {
        format!("{}ms", (secs * 1000.0).round())
    }
}

/// Evaluates every policy of the set and combines them into the decision.
pub fn evaluate(
    prog: &Program,
    origins: &Origins,
    cel: &[cel::Program],
    digest: &str,
    snap: &Snapshot,
) -> Decision {
    let mut m = Machine::new(prog, snap, cel);
    let mut out = Decision {
        decision: Action::Proceed,
        policies: Vec::new(),
        policy_digest: digest.to_string(),
        fired: Vec::new(),
        gates: Vec::new(),
        unknown: Vec::new(),
        approvals: Approvals::default(),
        overrides: Vec::new(),
        shadow: Vec::new(),
        authorized: None,
        requester_may: None,
    };
    let mut decision = Action::Proceed;
    // The vetoes that hold, in program order; they act once every policy has been weighed.
    let mut vetoes: Vec<Veto> = Vec::new();
    for (pi, policy) in prog.policies.iter().enumerate() {
        let origin = &origins.policies[pi];
        // Staleness first: it affects `applies` too.
        for s in m.stale.iter_mut() {
            *s = false;
        }
        for &(slot, secs) in &policy.freshness {
            if let Some(d) = &snap.signals[slot as usize] {
                let fresh = d
                    .observed_at
                    .is_some_and(|t| (snap.at - t).max(0) <= micros(secs));
                m.stale[slot as usize] = !fresh;
            }
        }
        if let Some(a) = policy.applies {
            if m.truth(a) == Ok(false) {
                continue;
            }
        }
        out.policies.push(policy.name.clone());
        let mut outcome = Action::Proceed;
        let shadow = |out: &mut Decision, kind: &str, rule: &str, action: Action, at: &str| {
            out.shadow.push(Shadow {
                policy: policy.name.clone(),
                kind: kind.to_string(),
                rule: rule.to_string(),
                action,
                at: at.to_string(),
            })
        };

        for (gi, gate) in policy.gates.iter().enumerate() {
            let r = m.truth(gate.cond);
            if r == Ok(true) {
                continue;
            }
            if gate.dry_run {
                shadow(
                    &mut out,
                    "require",
                    &gate.text,
                    gate.action,
                    &origin.gates[gi],
                );
                continue;
            }
            let mut inputs: Vec<String> = Vec::new();
            let mut add = |name: String| {
                if !inputs.contains(&name) {
                    inputs.push(name);
                }
            };
            // The evidence the gate asked for and did not get.
            for &f in &gate.evidence {
                match prog.node(f) {
                    Node::Fresh { slots, secs } => {
                        for &s in slots {
                            let fresh = snap.signals[s as usize]
                                .as_ref()
                                .and_then(|d| d.observed_at)
                                .is_some_and(|t| (snap.at - t).max(0) <= micros(*secs));
                            if !fresh {
                                add(m.input_name(Input::Signal(s)));
                            }
                        }
                    }
                    Node::HasSignal(s) if snap.signals[*s as usize].is_none() => {
                        add(m.input_name(Input::Signal(*s)))
                    }
                    Node::HasField(field) if m.truth(f) == Ok(false) => {
                        add(field.path().to_string())
                    }
                    Node::HasLabel(_) if m.truth(f) == Ok(false) => add(m.node_label_of_has(f)),
                    _ => {}
                }
            }
            if let Err(reasons) = &r {
                for x in reasons {
                    add(m.input_name(x.input));
                }
            }
            outcome = outcome.max(gate.action);
            out.gates.push(GateFailure {
                policy: policy.name.clone(),
                require: gate.text.clone(),
                action: gate.action,
                at: origin.gates[gi].clone(),
                inputs,
            });
        }

        for (ri, rule) in policy.rules.iter().enumerate() {
            let when = m.when(rule);
            let value = match rule.unless {
                None => when,
                Some(u) => logic::and(when, || logic::not(m.truth(u))),
            };
            match value {
                Ok(false) => {}
                Ok(true) if rule.dry_run => {
                    shadow(&mut out, "rule", &rule.name, rule.action, &origin.rules[ri])
                }
                Ok(true) => {
                    outcome = outcome.max(rule.action);
                    let mut values = Vec::new();
                    for &i in &rule.inputs {
                        if let Some(v) = m.json_value(i) {
                            values.push((m.node_label(i), v));
                        }
                    }
                    out.fired.push(Fired {
                        policy: policy.name.clone(),
                        rule: rule.name.clone(),
                        action: rule.action,
                        at: origin.rules[ri].clone(),
                        values: Values(values),
                    });
                }
                Err(_) if rule.dry_run => shadow(
                    &mut out,
                    "rule",
                    &rule.name,
                    Action::Inconclusive,
                    &origin.rules[ri],
                ),
                Err(reasons) => {
                    outcome = outcome.max(Action::Inconclusive);
                    let mut seen: Vec<String> = Vec::new();
                    for x in reasons {
                        let input = m.input_name(x.input);
                        if seen.contains(&input) {
                            continue;
                        }
                        seen.push(input.clone());
                        out.unknown.push(Unknown {
                            policy: policy.name.clone(),
                            rule: rule.name.clone(),
                            input,
                            why: x.why.as_str().to_string(),
                        });
                    }
                }
            }
        }

        for (ai, approval) in policy.approvals.iter().enumerate() {
            if let Some(w) = approval.when {
                if m.truth(w) == Ok(false) {
                    continue;
                }
            }
            let tally = tally(&snap.deployment, &approval.of);
            let action = if !tally.rejected_by.is_empty() {
                Action::Halt
            } else if tally.approved >= approval.count {
                Action::Proceed
            } else {
                Action::Hold
            };
            if approval.dry_run {
                if action != Action::Proceed {
                    shadow(
                        &mut out,
                        "approval",
                        &approval.name,
                        action,
                        &origin.approvals[ai],
                    );
                }
                continue;
            }
            outcome = outcome.max(action);
            match action {
                Action::Halt => {
                    for p in tally.rejected_by {
                        out.approvals.rejected.push(Rejected {
                            policy: policy.name.clone(),
                            approval: approval.name.clone(),
                            rejected_by: Identity {
                                kind: p.kind.as_str().to_string(),
                                id: p.id.clone(),
                            },
                        });
                    }
                }
                Action::Hold => out.approvals.missing.push(MissingApproval {
                    policy: policy.name.clone(),
                    approval: approval.name.clone(),
                    needs: format!("{} of {}", approval.count, approval.of.describe()),
                    have: tally.approved,
                }),
                _ => out.approvals.satisfied.push(Satisfied {
                    policy: policy.name.clone(),
                    approval: approval.name.clone(),
                }),
            }
        }

        // Vetoes are read here, while this policy's staleness is in force. One holds unless it
        // is false: a veto whose evidence is missing still vetoes (a person decides).
        for (fi, forbid) in policy.forbids.iter().enumerate() {
            let when = m.truth(forbid.when);
            let value = match forbid.unless {
                None => when,
                Some(u) => logic::and(when, || logic::not(m.truth(u))),
            };
            let reasons = match value {
                Ok(false) => continue,
                Ok(true) => Vec::new(),
                Err(reasons) => reasons,
            };
            let mut values = Vec::new();
            for &i in &forbid.inputs {
                if let Some(v) = m.json_value(i) {
                    values.push((m.node_label(i), v));
                }
            }
            let mut unknown: Vec<UnknownInput> = Vec::new();
            for x in reasons {
                let input = m.input_name(x.input);
                if !unknown.iter().any(|u| u.input == input) {
                    unknown.push(UnknownInput {
                        input,
                        why: x.why.as_str().to_string(),
                    });
                }
            }
            vetoes.push(Veto {
                policy: &policy.name,
                forbid,
                at: &origin.forbids[fi],
                values: Values(values),
                unknown,
                shadow_at: out.shadow.len(),
            });
        }
        if !policy.dry_run {
            decision = decision.max(outcome);
        }
    }

    // Vetoes, after precedence and before the safety overrides, as Cedar's forbid overrides
    // any permit: every one that holds against the decision is listed, a dry-run one only in
    // `shadow`, after its policy's other entries.
    let weighed = decision;
    let mut shadows = Vec::new();
    for v in vetoes {
        if v.forbid.action != weighed {
            continue;
        }
        let to = v.forbid.lowered();
        if v.forbid.dry_run {
            shadows.push((
                v.shadow_at,
                Shadow {
                    policy: v.policy.to_string(),
                    kind: "forbid".to_string(),
                    rule: v.forbid.name.clone(),
                    action: to,
                    at: v.at.to_string(),
                },
            ));
            continue;
        }
        out.overrides.push(Override {
            from: weighed,
            to,
            why: format!("forbidden by {}.{}", v.policy, v.forbid.name),
            policy: Some(v.policy.to_string()),
            forbid: Some(v.forbid.name.clone()),
            at: Some(v.at.to_string()),
            values: Some(v.values),
            unknown: Some(v.unknown),
        });
        decision = to;
    }
    for (i, s) in shadows.into_iter().rev() {
        out.shadow.insert(i, s);
    }

    // Safety overrides, in order; each turns a rollback into a halt.
    if decision == Action::Rollback {
        let class = snap.deployment.class.map(|c| &prog.classes[c as usize]);
        let why = match class {
            Some(c) if c.irreversible => Some(format!(
                "rollback impossible: irreversible class {}",
                c.name
            )),
            Some(c) if c.security_fix => Some(format!(
                "rollback would undo a security fix: class {}",
                c.name
            )),
            _ if snap.deployment.target_healthy != Some(true) => {
                Some("no healthy rollback target".to_string())
            }
            _ => None,
        };
        if let Some(why) = why {
            out.overrides.push(Override {
                from: Action::Rollback,
                to: Action::Halt,
                why,
                policy: None,
                forbid: None,
                at: None,
                values: None,
                unknown: None,
            });
            decision = Action::Halt;
        }
    }
    out.decision = decision;

    if let Some(req) = &snap.requester {
        let env = &snap.deployment.environment;
        let mut may: Vec<Grant> = Vec::new();
        for scope in &prog.scopes {
            let in_env = scope
                .envs
                .as_ref()
                .is_none_or(|e| e.iter().any(|x| x == env));
            let dep = &snap.deployment;
            let for_service = scope
                .services
                .as_ref()
                .is_none_or(|s| s.contains(&dep.service));
            // A scope narrowed to classes never grants for an unclassified change.
            let for_class = scope
                .classes
                .as_ref()
                .is_none_or(|c| dep.class.is_some_and(|id| c.contains(&id)));
            if in_env
                && for_service
                && for_class
                && scope.principals.iter().any(|p| principal_matches(req, p))
            {
                for g in &scope.may {
                    if !may.contains(g) {
                        may.push(*g);
                    }
                }
            }
        }
        may.sort();
        out.authorized = Some(may.contains(&Grant::needed_for(decision)));
        out.requester_may = Some(may.iter().map(|g| g.as_str().to_string()).collect());
    }
    out
}

/// A `forbid` that held, waiting for the set's decision.
struct Veto<'a> {
    policy: &'a str,
    forbid: &'a ir::Forbid,
    at: &'a str,
    values: Values,
    unknown: Vec<UnknownInput>,
    /// Where its `shadow` entry goes if it is dry-run: after its policy's other entries.
    shadow_at: usize,
}

struct Tally<'a> {
    approved: u32,
    rejected_by: Vec<&'a Principal>,
}

/// Counts the standing entries of principals matching `pat`. Each principal counts once, by its
/// standing entry: the latest of all its entries that pass the actor and revision checks (a
/// rejection wins a tie), chosen before the pattern is matched, so an earlier approval listing
/// a group never survives a later entry that lists none.
fn tally<'a>(dep: &'a super::snapshot::Deployment, pat: &PrincipalPat) -> Tally<'a> {
    // The index of each principal's standing entry, by kind and id: linear in the entries.
    let mut seen: HashMap<(PrincipalKind, &'a str), usize> = HashMap::new();
    let mut standing: Vec<&'a super::snapshot::ApprovalEntry> = Vec::new();
    for e in &dep.approvals {
        if dep
            .actor
            .as_ref()
            .is_some_and(|a| a.same_identity(&e.principal))
        {
            continue;
        }
        if let Some(rev) = &dep.revision {
            if e.revision.as_ref() != Some(rev) {
                continue;
            }
        }
        match seen.get(&(e.principal.kind, e.principal.id.as_str())) {
            None => {
                seen.insert((e.principal.kind, &e.principal.id), standing.len());
                standing.push(e);
            }
            Some(&i) => {
                let s = &mut standing[i];
                // `None` sorts before any time: an entry without `at` is the oldest.
                let later = e.at > s.at || (e.at == s.at && e.reject);
                if later {
                    *s = e;
                }
            }
        }
    }
    standing.retain(|e| principal_matches(&e.principal, pat));
    Tally {
        approved: standing.iter().filter(|e| !e.reject).count() as u32,
        rejected_by: standing
            .iter()
            .filter(|e| e.reject)
            .map(|e| &e.principal)
            .collect(),
    }
}

#[cfg(test)]
mod window_tests {
    //! `for D` over a series, as the design page words it, one rule at a time.

    use crate::check::NoFiles;
    use crate::{compile, Action, SetFile};

    /// The decision of `rollback r when e > 1% for 3m` at 10:05 for the given signal entry.
    fn decide(entry: &str) -> (Action, Vec<String>) {
        let policy = "signal e: ratio = \"e\"\npolicy p {\n  rollback r when e > 1% for 3m\n}\n";
        let files = [SetFile {
            name: "p.rollguard".into(),
            path: "p.rollguard".into(),
            text: policy.into(),
        }];
        let c = compile(&files, &NoFiles);
        let compiled = c.compiled.expect("compiles");
        let snap = format!(
            r#"{{"at": "2026-11-22T10:05:00Z", "deployment": {{"service": "s", "environment": "e", "rollback_target": {{"healthy": true}}}},
                "signals": {{"e": {entry}}}}}"#
        );
        let d = compiled.decide(snap.as_bytes()).expect("valid snapshot");
        (
            d.decision,
            d.unknown.iter().map(|u| u.why.clone()).collect(),
        )
    }

    fn series(points: &[(&str, f64)]) -> String {
        let pts: Vec<String> = points
            .iter()
            .map(|(t, v)| format!("[\"2026-11-22T{t}Z\", {v}]"))
            .collect();
        format!("[{}]", pts.join(", "))
    }

    #[test]
    fn true_at_every_point_of_a_covered_window_holds() {
        let s = series(&[("10:01:00", 0.02), ("10:03:00", 0.03)]);
        let entry =
            format!(r#"{{"value": 0.02, "observed_at": "2026-11-22T10:04:30Z", "series": {s}}}"#);
        assert_eq!(decide(&entry).0, Action::Rollback);
    }

    #[test]
    fn one_point_under_the_threshold_makes_it_false_covered_or_not() {
        let s = series(&[("10:01:00", 0.02), ("10:03:00", 0.005)]);
        let entry =
            format!(r#"{{"value": 0.02, "observed_at": "2026-11-22T10:04:30Z", "series": {s}}}"#);
        assert_eq!(decide(&entry), (Action::Proceed, vec![]));
        let s = series(&[("10:03:00", 0.005)]);
        let entry =
            format!(r#"{{"value": 0.02, "observed_at": "2026-11-22T10:04:30Z", "series": {s}}}"#);
        assert_eq!(decide(&entry), (Action::Proceed, vec![]));
    }

    #[test]
    fn a_window_not_covered_is_unknown() {
        let s = series(&[("10:03:00", 0.02)]);
        let entry =
            format!(r#"{{"value": 0.02, "observed_at": "2026-11-22T10:04:30Z", "series": {s}}}"#);
        assert_eq!(
            decide(&entry),
            (Action::Inconclusive, vec!["window not covered".to_string()])
        );
    }

    #[test]
    fn a_point_exactly_at_the_window_start_covers_it() {
        let s = series(&[("10:02:00", 0.02)]);
        let entry =
            format!(r#"{{"value": 0.02, "observed_at": "2026-11-22T10:04:30Z", "series": {s}}}"#);
        assert_eq!(decide(&entry).0, Action::Rollback);
    }

    #[test]
    fn only_the_last_point_at_or_before_the_start_is_read() {
        // 10:00 is under the threshold but superseded by 10:01, the last point before 10:02.
        let s = series(&[("10:00:00", 0.001), ("10:01:00", 0.02)]);
        let entry =
            format!(r#"{{"value": 0.02, "observed_at": "2026-11-22T10:04:30Z", "series": {s}}}"#);
        assert_eq!(decide(&entry).0, Action::Rollback);
    }

    #[test]
    fn of_two_points_with_one_timestamp_the_later_entry_stands() {
        let s = series(&[("10:01:00", 0.001), ("10:01:00", 0.02)]);
        let entry =
            format!(r#"{{"value": 0.02, "observed_at": "2026-11-22T10:04:30Z", "series": {s}}}"#);
        assert_eq!(decide(&entry).0, Action::Rollback);
        let s = series(&[("10:01:00", 0.02), ("10:01:00", 0.001)]);
        let entry =
            format!(r#"{{"value": 0.02, "observed_at": "2026-11-22T10:04:30Z", "series": {s}}}"#);
        assert_eq!(decide(&entry).0, Action::Proceed);
    }

    #[test]
    fn a_point_within_5s_after_at_counts_as_at() {
        let s = series(&[("10:01:00", 0.02), ("10:05:04", 0.001)]);
        let entry =
            format!(r#"{{"value": 0.02, "observed_at": "2026-11-22T10:04:30Z", "series": {s}}}"#);
        assert_eq!(decide(&entry).0, Action::Proceed);
    }

    #[test]
    fn no_points_read_the_condition_once_with_the_signal_unknown() {
        // A value without `observed_at` or `series` is no point: never fires, and the reason
        // is the uncovered window, not the value.
        assert_eq!(
            decide(r#"{"value": 0.5}"#),
            (Action::Inconclusive, vec!["window not covered".to_string()])
        );
    }

    #[test]
    fn a_missing_signal_is_missing_not_uncovered() {
        assert_eq!(
            decide("null"),
            (Action::Inconclusive, vec!["missing".to_string()])
        );
        let entry = r#"{"value": 0.02}"#;
        assert_eq!(
            decide(entry),
            (Action::Inconclusive, vec!["window not covered".to_string()])
        );
    }
}
