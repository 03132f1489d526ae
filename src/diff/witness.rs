//! Backing a claimed direction with evaluation: a snapshot both versions accept and decide
//! differently, in the claimed direction, with the changed rule or gate taking part.
//!
//! Snapshots are generated, not guessed: every input the two programs read is a *knob* with a
//! few candidate values taken from the programs themselves (the thresholds each signal is
//! compared with, evaluated at a few baselines, and the points around and between them; the
//! strings a deployment field is compared with; the `for` windows, for a signal's history). The
//! search first settles every knob where the two versions decide as little as they can with the
//! changed policy applying (so other rules do not mask the change), then tries the combinations
//! of the knobs the changed statement reads, up to a bound.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{Change, Direction, Witness};
use crate::ir::{ArithOp, CmpOp, Field, Node, NodeId, Program, SignalType};
use crate::{Action, Compiled, Decision};

/// The instant every generated snapshot describes.
const AT: i64 = 1_795_341_900; // 2026-11-22T10:05:00Z
/// Combinations of the changed statement's inputs tried per claim.
const MAX_TRIALS: usize = 20_000;

/// Values tried per input while settling the quiet base.
const QUIET_TRIALS: usize = 64;

/// A sample count no `samples(s) >= N` gate of a real policy asks more of.
const MANY_SAMPLES: f64 = 1_000_000.0;

fn time(secs_before: f64) -> String {
    let micros = ((AT as f64 - secs_before) * 1e6).round() as i64;
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

#[derive(Clone, Debug, PartialEq)]
enum Val {
    Absent,
    Str(String),
    Num(f64),
    Bool(bool),
    /// A signal entry: value, baseline, samples, and optionally the value it had before the last
    /// `secs` (`(secs, before)`), so a `for` window sees the condition start to hold then.
    Signal {
        value: Value,
        baseline: Option<f64>,
        samples: Option<f64>,
        history: Option<(f64, Value)>,
        /// Seconds between `observed_at` and `at`.
        age: f64,
    },
}

#[derive(Clone, Debug, PartialEq)]
enum Knob {
    Signal(String),
    Field(Field),
}

struct Space {
    knobs: Vec<Knob>,
    values: Vec<Vec<Val>>,
    /// Seconds back to the first point of every series: before any window opens.
    horizon: f64,
}

fn json_number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9e15 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

impl Space {
    fn snapshot(&self, pick: &[usize]) -> Value {
        let mut dep = Map::new();
        let mut signals = Map::new();
        dep.insert(
            "rollback_target".into(),
            json!({"version": "previous", "healthy": true}),
        );
        for (i, knob) in self.knobs.iter().enumerate() {
            let v = &self.values[i][pick[i]];
            match (knob, v) {
                (_, Val::Absent) => {}
                (Knob::Field(f), v) => {
                    let key = f.path().trim_start_matches("deployment.");
                    let value = match v {
                        Val::Str(s) if *f == Field::Actor => {
                            json!({"kind": s, "id": "witness-actor"})
                        }
                        Val::Str(s) => json!(s),
                        Val::Num(n) => json_number(*n),
                        Val::Bool(b) => json!(b),
                        _ => continue,
                    };
                    dep.insert(key.to_string(), value);
                }
                (
                    Knob::Signal(key),
                    Val::Signal {
                        value,
                        baseline,
                        samples,
                        history,
                        age,
                    },
                ) => {
                    let mut e = Map::new();
                    e.insert("value".into(), value.clone());
                    if let Some(b) = baseline {
                        e.insert("baseline".into(), json_number(*b));
                    }
                    if let Some(n) = samples {
                        e.insert("samples".into(), json_number(*n));
                    }
                    e.insert("observed_at".into(), json!(time(*age)));
                    let series = match history {
                        Some((secs, before)) => {
                            json!([[time(self.horizon), before], [time(*secs), value]])
                        }
                        None => json!([[time(self.horizon), value]]),
                    };
                    e.insert("series".into(), series);
                    signals.insert(key.clone(), Value::Object(e));
                }
                _ => {}
            }
        }
        json!({"at": time(0.0), "deployment": Value::Object(dep), "signals": Value::Object(signals)})
    }
}

/// What the changed statement is, to tell whether it took part in a decision.
struct Target<'a> {
    policy: &'a str,
    /// `rule NAME` or `require TEXT`, in the old and in the new version.
    old_item: &'a str,
    new_item: &'a str,
}

fn took_part(d: &Decision, policy: &str, item: &str) -> bool {
    if let Some(rule) = item.strip_prefix("rule ") {
        d.fired.iter().any(|f| f.policy == policy && f.rule == rule)
            || d.unknown
                .iter()
                .any(|u| u.policy == policy && u.rule == rule)
    } else if let Some(text) = item.strip_prefix("require ") {
        d.gates
            .iter()
            .any(|g| g.policy == policy && g.require == text)
    } else {
        false
    }
}

struct Search<'a> {
    old: &'a Compiled,
    new: &'a Compiled,
    space: &'a Space,
}

impl Search<'_> {
    fn decide(&self, pick: &[usize]) -> Option<(Value, Decision, Decision)> {
        let snap = self.space.snapshot(pick);
        let a = self.old.decide_value(snap.clone()).ok()?;
        let b = self.new.decide_value(snap.clone()).ok()?;
        Some((snap, a, b))
    }

    /// How much the two versions decide, when the policy applies in both; `None` otherwise.
    fn cost(&self, pick: &[usize], policy: &str) -> Option<u32> {
        let (_, a, b) = self.decide(pick)?;
        let applies = |d: &Decision| d.policies.iter().any(|p| p == policy);
        (applies(&a) && applies(&b)).then(|| a.decision as u32 + b.decision as u32)
    }

    /// Every knob at the value where both versions decide least with `policy` applying.
    fn quiet_base(&self, policy: &str) -> Vec<usize> {
        let mut pick = vec![0; self.space.knobs.len()];
        let mut best = self.cost(&pick, policy);
        for _ in 0..2 {
            for k in 0..pick.len() {
                // A long list is sampled evenly: the base only needs to be quiet, not optimal.
                let len = self.space.values[k].len();
                for c in (0..len).step_by(len.div_ceil(QUIET_TRIALS).max(1)) {
                    let old = pick[k];
                    pick[k] = c;
                    let cost = self.cost(&pick, policy);
                    let better = match (cost, best) {
                        (Some(x), Some(y)) => x < y,
                        (Some(_), None) => true,
                        _ => false,
                    };
                    if better {
                        best = cost;
                    } else {
                        pick[k] = old;
                    }
                }
            }
        }
        pick
    }

    fn shows(&self, snap: &Value, t: &Target, dir: Direction) -> Option<(Action, Action)> {
        let a = self.old.decide_value(snap.clone()).ok()?;
        let b = self.new.decide_value(snap.clone()).ok()?;
        let shows = match dir {
            Direction::Loosens => b.decision < a.decision && took_part(&a, t.policy, t.old_item),
            _ => b.decision > a.decision && took_part(&b, t.policy, t.new_item),
        };
        shows.then_some((a.decision, b.decision))
    }

    /// The witness with every part left out that it does not need to decide the same way: a
    /// reader sees only what matters.
    fn minimize(&self, w: Witness, t: &Target, dir: Direction) -> Witness {
        let want = Some((w.old_decision, w.new_decision));
        let mut snap = w.snapshot;
        let mut paths: Vec<Vec<String>> = Vec::new();
        if let Some(dep) = snap["deployment"].as_object() {
            for k in dep
                .keys()
                .filter(|k| *k != "service" && *k != "environment")
            {
                paths.push(vec!["deployment".into(), k.clone()]);
            }
        }
        if let Some(sigs) = snap["signals"].as_object() {
            for (key, e) in sigs {
                paths.push(vec!["signals".into(), key.clone()]);
                if let Some(e) = e.as_object() {
                    for k in e.keys().filter(|k| *k != "value") {
                        paths.push(vec!["signals".into(), key.clone(), k.clone()]);
                    }
                }
            }
        }
        for path in paths {
            let mut trial = snap.clone();
            let (last, parents) = path.split_last().expect("paths are not empty");
            let mut at = &mut trial;
            for p in parents {
                at = &mut at[p.as_str()];
            }
            let Some(obj) = at.as_object_mut() else {
                continue;
            };
            if obj.remove(last).is_none() {
                continue;
            }
            if self.shows(&trial, t, dir) == want {
                snap = trial;
            }
        }
        Witness {
            snapshot: snap,
            old_decision: w.old_decision,
            new_decision: w.new_decision,
        }
    }

    fn find(
        &self,
        targets: &[usize],
        base: &[usize],
        t: &Target,
        dir: Direction,
    ) -> Option<Witness> {
        let mut pick = base.to_vec();
        let radix: Vec<usize> = targets
            .iter()
            .map(|k| self.space.values[*k].len())
            .collect();
        let mut counter = vec![0usize; targets.len()];
        for _ in 0..MAX_TRIALS {
            for (i, k) in targets.iter().enumerate() {
                pick[*k] = counter[i];
            }
            if let Some((snap, a, b)) = self.decide(&pick) {
                let shows = match dir {
                    Direction::Loosens => {
                        b.decision < a.decision && took_part(&a, t.policy, t.old_item)
                    }
                    _ => b.decision > a.decision && took_part(&b, t.policy, t.new_item),
                };
                if shows {
                    return Some(Witness {
                        snapshot: snap,
                        old_decision: a.decision,
                        new_decision: b.decision,
                    });
                }
            }
            // The next combination; done after the last.
            let mut i = 0;
            loop {
                if i == counter.len() {
                    return None;
                }
                counter[i] += 1;
                if counter[i] < radix[i] {
                    break;
                }
                counter[i] = 0;
                i += 1;
            }
        }
        None
    }
}

/// Evaluates a node to a number with signal values left out: only constants, baselines and
/// arithmetic. `None` when it reads anything else.
fn constant(p: &Program, id: NodeId, baseline: Option<f64>, slot: u32) -> Option<f64> {
    match p.node(id) {
        Node::Num(x) => Some(*x),
        Node::Baseline(s) if *s == slot => baseline,
        Node::Neg(a) => constant(p, *a, baseline, slot).map(|x| -x),
        Node::Arith(op, a, b) => {
            let (x, y) = (
                constant(p, *a, baseline, slot)?,
                constant(p, *b, baseline, slot)?,
            );
            Some(match op {
                ArithOp::Add => x + y,
                ArithOp::Sub => x - y,
                ArithOp::Mul => x * y,
                ArithOp::Div if y != 0.0 => x / y,
                ArithOp::Rem if y != 0.0 => x % y,
                _ => return None,
            })
        }
        _ => None,
    }
}

/// What a comparison compares a signal's value (or its samples) with, at a baseline.
#[derive(Default)]
struct Thresholds {
    value: Vec<f64>,
    samples: Vec<f64>,
    strings: Vec<String>,
}

fn thresholds(p: &Program, key: &str, baseline: Option<f64>, out: &mut Thresholds) {
    let slots: Vec<u32> = (0..p.signals.len() as u32)
        .filter(|s| p.signals[*s as usize].key == key)
        .collect();
    for node in &p.nodes {
        let sides: [(NodeId, NodeId); 2] = match node {
            Node::Cmp(_, l, r) => [(*l, *r), (*r, *l)],
            Node::InList(a, items) => {
                if let Node::Signal(s) = p.node(*a) {
                    if slots.contains(s) {
                        for i in items {
                            if let Node::Str(x) = p.node(*i) {
                                out.strings.push(x.clone());
                            }
                        }
                    }
                }
                continue;
            }
            _ => continue,
        };
        for (this, other) in sides {
            for &slot in &slots {
                match p.node(this) {
                    Node::Signal(s) | Node::Window { slot: s, .. } if *s == slot => {
                        if let Node::Str(x) = p.node(other) {
                            out.strings.push(x.clone());
                        } else if let Some(t) = constant(p, other, baseline, slot) {
                            out.value.push(t);
                        }
                    }
                    Node::Delta(s) if *s == slot => {
                        if let (Some(t), Some(b)) = (constant(p, other, baseline, slot), baseline) {
                            out.value.push(t + b);
                        }
                    }
                    Node::Samples(s) if *s == slot => {
                        if let Some(t) = constant(p, other, None, slot) {
                            out.samples.push(t);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The thresholds, the points between them and one on either side: every region a comparison
/// with them can tell apart.
fn points(ts: &[f64], whole: bool, unsigned: bool) -> Vec<f64> {
    let mut ts: Vec<f64> = ts.iter().copied().filter(|t| t.is_finite()).collect();
    ts.sort_by(f64::total_cmp);
    ts.dedup();
    let mut out = vec![0.0];
    if let (Some(&lo), Some(&hi)) = (ts.first(), ts.last()) {
        out.push(if lo > 0.0 { lo / 2.0 } else { lo - 1.0 });
        out.push(if hi > 0.0 { hi * 2.0 } else { hi + 1.0 });
    } else {
        out.push(1.0);
    }
    for (i, t) in ts.iter().enumerate() {
        out.push(*t);
        if let Some(next) = ts.get(i + 1) {
            out.push((t + next) / 2.0);
        }
    }
    if whole {
        out = out
            .into_iter()
            .flat_map(|x| [x.floor(), x.ceil(), x.floor() - 1.0, x.ceil() + 1.0])
            .collect();
    }
    out.retain(|x| x.is_finite() && (!unsigned || *x >= 0.0));
    out.sort_by(f64::total_cmp);
    out.dedup();
    out
}

/// The windows (`for` and `over`) of both programs, and half of each, longest last. The
/// halves give a condition that has held for less than a window: what tells a rule with a
/// `for` from the same rule without one.
fn windows(ps: [&Program; 2]) -> Vec<f64> {
    let mut out = Vec::new();
    for p in ps {
        for pol in &p.policies {
            out.extend(pol.rules.iter().filter_map(|r| r.window.map(|w| w.0)));
        }
        for n in &p.nodes {
            if let Node::Window { secs, .. } = n {
                out.push(*secs);
            }
        }
    }
    let halves: Vec<f64> = out.iter().map(|w| w / 2.0).collect();
    out.extend(halves);
    out.sort_by(f64::total_cmp);
    out.dedup();
    out
}

/// How old a signal's reading may be made: none, or the ages around the `within` of every
/// `fresh(...)` of both programs.
fn ages(ps: [&Program; 2], fresh: bool) -> Vec<f64> {
    if !fresh {
        return vec![0.0];
    }
    let mut within = Vec::new();
    for p in ps {
        for n in &p.nodes {
            if let Node::Fresh { secs, .. } = n {
                within.push(*secs);
            }
        }
    }
    points(&within, false, true)
}

fn signal_values(
    ps: [&Program; 2],
    key: &str,
    ty: SignalType,
    history: &[f64],
    fresh: bool,
) -> Vec<Val> {
    let entry = |value: Value,
                 baseline: Option<f64>,
                 samples: Option<f64>,
                 h: Option<(f64, Value)>| Val::Signal {
        value,
        baseline,
        samples,
        history: h,
        age: 0.0,
    };
    let aged = |v: Val, age: f64| match v {
        Val::Signal {
            value,
            baseline,
            samples,
            history,
            ..
        } => Val::Signal {
            value,
            baseline,
            samples,
            history,
            age,
        },
        v => v,
    };
    let ages = ages(ps, fresh);
    let mut base = Thresholds::default();
    for p in ps {
        thresholds(p, key, None, &mut base);
    }
    let with_ages = |vals: Vec<Val>| -> Vec<Val> {
        let mut out = vals.clone();
        for a in ages.iter().filter(|a| **a > 0.0) {
            out.extend(
                vals.iter()
                    .filter(|v| matches!(v, Val::Signal { history: None, .. }))
                    .map(|v| aged(v.clone(), *a)),
            );
        }
        out
    };
    match ty {
        SignalType::Bool => {
            return with_ages(
                [false, true]
                    .iter()
                    .map(|b| entry(json!(b), None, Some(MANY_SAMPLES), None))
                    .collect(),
            )
        }
        SignalType::String => {
            let mut s = base.strings.clone();
            s.push("witness".into());
            s.sort();
            s.dedup();
            return with_ages(
                s.into_iter()
                    .map(|x| entry(json!(x), None, Some(MANY_SAMPLES), None))
                    .collect(),
            );
        }
        _ => {}
    }
    let whole = ty == SignalType::Count;
    let unsigned = ty != SignalType::Number;
    let mut samples = points(&base.samples, true, true);
    samples.push(MANY_SAMPLES);
    samples.sort_by(f64::total_cmp);
    samples.dedup();
    // Baselines: 0, where a relative threshold vanishes and an absolute one decides alone; the
    // constants the value is compared with, where the two land near each other; and 1.
    let mut constants: Vec<f64> = base.value.iter().copied().filter(|b| *b > 0.0).collect();
    constants.sort_by(f64::total_cmp);
    constants.dedup();
    constants.truncate(3);
    let mut baselines = vec![0.0];
    baselines.extend(constants);
    baselines.push(1.0);
    baselines.dedup();
    let mut out = Vec::new();
    for b in baselines {
        let mut t = Thresholds::default();
        for p in ps {
            thresholds(p, key, Some(b), &mut t);
        }
        let values = points(&t.value, whole, unsigned);
        // Many samples first: the usual case, where a samples gate passes.
        for n in samples.iter().rev() {
            for v in &values {
                out.push(entry(json_number(*v), Some(b), Some(*n), None));
            }
        }
        for secs in history {
            for v in &values {
                for before in &values {
                    if before != v {
                        out.push(entry(
                            json_number(*v),
                            Some(b),
                            Some(MANY_SAMPLES),
                            Some((*secs, json_number(*before))),
                        ));
                    }
                }
            }
        }
    }
    if ages.len() > 1 {
        // Ages matter only for freshness; one value and baseline per age is enough.
        let first: Vec<Val> = out.iter().filter(|v| matches!(v, Val::Signal { history: None, samples: Some(n), .. } if *n == MANY_SAMPLES)).cloned().collect();
        for a in ages.iter().filter(|a| **a > 0.0) {
            out.extend(first.iter().map(|v| aged(v.clone(), *a)));
        }
    }
    out
}

fn field_values(ps: [&Program; 2], f: Field) -> Vec<Val> {
    let mut strings = Vec::new();
    let mut nums = Vec::new();
    for p in ps {
        for node in &p.nodes {
            let (a, others): (NodeId, Vec<NodeId>) = match node {
                Node::Cmp(
                    CmpOp::Eq | CmpOp::Ne | CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge,
                    l,
                    r,
                ) => {
                    if matches!(p.node(*l), Node::Field(x) if *x == f) {
                        (*l, vec![*r])
                    } else {
                        (*r, vec![*l])
                    }
                }
                Node::InList(a, items) => (*a, items.clone()),
                _ => continue,
            };
            if !matches!(p.node(a), Node::Field(x) if *x == f) {
                continue;
            }
            for o in others {
                match p.node(o) {
                    Node::Str(s) => strings.push(s.clone()),
                    Node::Num(n) => nums.push(*n),
                    _ => {}
                }
            }
        }
    }
    strings.sort();
    strings.dedup();
    let mut out: Vec<Val> = Vec::new();
    match f {
        Field::Service | Field::Environment => {
            let default = if f == Field::Service {
                "witness-service"
            } else {
                "production"
            };
            if !strings.iter().any(|s| s == default) {
                strings.push(default.into());
            }
            out.extend(strings.into_iter().map(Val::Str));
        }
        Field::Stage | Field::TargetVersion => {
            out.push(Val::Absent);
            out.extend(strings.into_iter().map(Val::Str));
        }
        Field::Id | Field::Revision => {
            // A gate may ask for them (`require has(deployment.revision)`).
            out.push(Val::Absent);
            if strings.is_empty() {
                strings.push(format!(
                    "witness-{}",
                    f.path().trim_start_matches("deployment.")
                ));
            }
            out.extend(strings.into_iter().map(Val::Str));
        }
        Field::TrafficPercent | Field::CascadeDepth => {
            out.push(Val::Absent);
            let whole = f == Field::CascadeDepth;
            out.extend(
                points(&nums, whole, true)
                    .into_iter()
                    .filter(|x| f != Field::TrafficPercent || *x <= 100.0)
                    .map(Val::Num),
            );
        }
        Field::Emergency => {
            out.extend([Val::Absent, Val::Bool(false), Val::Bool(true)]);
        }
        Field::Actor => {
            out.push(Val::Absent);
            out.extend(["human", "agent", "service_account"].map(|k| Val::Str(k.into())));
        }
        Field::Class => {
            out.push(Val::Absent);
            let (a, b) = (ps[0], ps[1]);
            for c in &a.classes {
                if b.classes.iter().any(|d| d.name == c.name) {
                    out.push(Val::Str(c.name.clone()));
                }
            }
        }
        Field::TargetHealthy => {}
    }
    out
}

/// The knobs of everything either program reads, with their candidate values; the signals
/// and fields `history_for` names get histories for the windows of both programs.
fn space(ps: [&Program; 2], history_for: &[String], fresh_for: &[String]) -> Space {
    let mut types: BTreeMap<String, Option<SignalType>> = BTreeMap::new();
    // Only signals some condition reads: the others cannot change a decision.
    let mut read = Vec::new();
    for p in ps {
        for n in &p.nodes {
            knobs_of(p, n, &mut read);
        }
    }
    for p in ps {
        for s in p
            .signals
            .iter()
            .filter(|s| read.contains(&Knob::Signal(s.key.clone())))
        {
            // A key two signals read with different types has no value both accept.
            types
                .entry(s.key.clone())
                .and_modify(|t| {
                    if *t != Some(s.ty) {
                        *t = None
                    }
                })
                .or_insert(Some(s.ty));
        }
    }
    let wins = windows(ps);
    let horizon = wins.last().copied().unwrap_or(0.0) + 3600.0;
    let mut knobs = Vec::new();
    let mut values = Vec::new();
    for f in [
        Field::Service,
        Field::Environment,
        Field::Revision,
        Field::Id,
        Field::Class,
        Field::Actor,
        Field::Stage,
        Field::TrafficPercent,
        Field::CascadeDepth,
        Field::Emergency,
    ] {
        knobs.push(Knob::Field(f));
        values.push(field_values(ps, f));
    }
    for (key, ty) in types {
        let Some(ty) = ty else { continue };
        let history: &[f64] = if history_for.contains(&key) {
            &wins
        } else {
            &[]
        };
        knobs.push(Knob::Signal(key.clone()));
        values.push(signal_values(
            ps,
            &key,
            ty,
            history,
            fresh_for.contains(&key),
        ));
    }
    Space {
        knobs,
        values,
        horizon,
    }
}

/// The input one node reads, as a knob.
fn knobs_of(p: &Program, n: &Node, keys: &mut Vec<Knob>) {
    let mut add = |k: Knob| {
        if !keys.contains(&k) {
            keys.push(k);
        }
    };
    let signal = |s: &u32| Knob::Signal(p.signals[*s as usize].key.clone());
    match n {
        Node::Signal(s)
        | Node::Baseline(s)
        | Node::Samples(s)
        | Node::Delta(s)
        | Node::Age(s)
        | Node::HasSignal(s)
        | Node::Window { slot: s, .. } => add(signal(s)),
        Node::Fresh { slots, .. } => slots.iter().for_each(|s| add(signal(s))),
        Node::Field(f) | Node::HasField(f) => add(Knob::Field(*f)),
        Node::PrincipalIs(..) => add(Knob::Field(Field::Actor)),
        Node::ClassIs(_)
        | Node::ClassIrreversible
        | Node::ClassSecurityFix
        | Node::ClassTouches(_) => add(Knob::Field(Field::Class)),
        _ => {}
    }
}

/// The signal keys and fields the trees under `roots` read.
fn reads(p: &Program, roots: &[NodeId], keys: &mut Vec<Knob>) {
    for r in roots {
        p.walk(*r, &mut |_, n| knobs_of(p, n, keys));
    }
}

/// The signal keys the `fresh(...)` under `roots` name.
fn fresh_reads(p: &Program, roots: &[NodeId], keys: &mut Vec<String>) {
    for r in roots {
        p.walk(*r, &mut |_, n| {
            if let Node::Fresh { slots, .. } = n {
                for s in slots {
                    let k = p.signals[*s as usize].key.clone();
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
            }
        });
    }
}

/// The roots of a statement's conditions: a rule's `when` and `unless`, a gate's condition.
fn roots(p: &Program, policy: &str, item: &str) -> Vec<NodeId> {
    let Some(pol) = p.policies.iter().find(|x| x.name == policy) else {
        return Vec::new();
    };
    if let Some(rule) = item.strip_prefix("rule ") {
        pol.rules
            .iter()
            .filter(|r| r.name == rule)
            .flat_map(|r| std::iter::once(r.when).chain(r.unless))
            .collect()
    } else if let Some(text) = item.strip_prefix("require ") {
        pol.gates
            .iter()
            .filter(|g| g.text == text)
            .map(|g| g.cond)
            .collect()
    } else {
        Vec::new()
    }
}

fn window_keys(p: &Program, policy: &str, item: &str) -> Vec<String> {
    let Some(rule) = item.strip_prefix("rule ") else {
        return Vec::new();
    };
    p.policies
        .iter()
        .filter(|x| x.name == policy)
        .flat_map(|x| &x.rules)
        .filter(|r| r.name == rule)
        .filter_map(|r| r.window.map(|(_, s)| p.signals[s as usize].key.clone()))
        .collect()
}

/// Kinds whose direction a witness must back.
const BACKED: [&str; 6] = [
    "rule.condition",
    "rule.window",
    "rule.unless",
    "rule.action",
    "gate.condition",
    "gate.action",
];

/// A policy, and the signals given histories and ages: what a quiet base depends on.
type BaseKey = (String, Vec<String>, Vec<String>);

/// Attaches a witness to every backed claim, or downgrades the claim to unknown.
pub(super) fn back(d: &mut super::Diff, old: &Compiled, new: &Compiled) {
    let ps = [old.program(), new.program()];
    let mut bases: BTreeMap<BaseKey, (Space, Vec<usize>)> = BTreeMap::new();
    for c in &mut d.changes {
        if !BACKED.contains(&c.kind)
            || !matches!(c.direction, Direction::Loosens | Direction::Tightens)
        {
            continue;
        }
        let Some(policy) = c.policy.clone() else {
            continue;
        };
        let old_item = old_key(c);
        let new_item = c.item.clone();
        let mut hist = window_keys(ps[0], &policy, &old_item);
        hist.extend(window_keys(ps[1], &policy, &new_item));
        hist.sort();
        hist.dedup();
        let (old_roots, new_roots) = (
            roots(ps[0], &policy, &old_item),
            roots(ps[1], &policy, &new_item),
        );
        let mut fresh = Vec::new();
        fresh_reads(ps[0], &old_roots, &mut fresh);
        fresh_reads(ps[1], &new_roots, &mut fresh);
        fresh.sort();
        let (space, base) = bases
            .entry((policy.clone(), hist.clone(), fresh.clone()))
            .or_insert_with(|| {
                let space = space(ps, &hist, &fresh);
                let base = Search {
                    old,
                    new,
                    space: &space,
                }
                .quiet_base(&policy);
                (space, base)
            });
        let mut read = Vec::new();
        reads(ps[0], &old_roots, &mut read);
        reads(ps[1], &new_roots, &mut read);
        let targets: Vec<usize> = read
            .iter()
            .filter_map(|k| space.knobs.iter().position(|x| x == k))
            .collect();
        let target = Target {
            policy: &policy,
            old_item: &old_item,
            new_item: &new_item,
        };
        let search = Search { old, new, space };
        let found = search
            .find(&targets, base, &target, c.direction)
            .map(|w| search.minimize(w, &target, c.direction));
        match found {
            Some(w) => c.witness = Some(w),
            None => {
                c.message.push_str(&format!(
                    " (claimed to {}, but no snapshot tried shows it: direction unknown)",
                    match c.direction {
                        Direction::Loosens => "loosen",
                        _ => "tighten",
                    }
                ));
                c.direction = Direction::Unknown;
            }
        }
    }
}

/// The statement's key in the old version: a gate's text may have changed.
fn old_key(c: &Change) -> String {
    match &c.old {
        Some(v) if c.kind.starts_with("gate.") => {
            let text = v.text.strip_prefix("require ").unwrap_or(&v.text);
            let cond = text.rsplit_once(" else ").map_or(text, |(c, _)| c);
            format!("require {cond}")
        }
        _ => c.item.clone(),
    }
}
