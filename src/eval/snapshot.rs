//! The snapshot: JSON in, validated against a compiled set, every error naming its JSON path.
//!
//! Signals land in the slots the compiler assigned, already in base units (seconds, fractions),
//! so evaluation never looks a key up.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::{Map, Value};

use crate::ir::{ClassId, PrincipalKind, Program, SignalType, SlotId};

/// Microseconds since the Unix epoch.
pub type Micros = i64;

#[derive(Clone, Debug, PartialEq)]
pub struct Principal {
    pub kind: PrincipalKind,
    pub id: String,
    pub groups: Vec<String>,
}

impl Principal {
    pub fn same_identity(&self, other: &Principal) -> bool {
        self.kind == other.kind && self.id == other.id
    }
}

#[derive(Clone, Debug)]
pub struct ApprovalEntry {
    pub principal: Principal,
    pub revision: Option<String>,
    pub reject: bool,
    pub at: Option<Micros>,
    /// A signed approval statement (a compact JWS), checked by `crate::trust` when trust is
    /// configured; without trust it is carried and not read.
    pub statement: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SigValue {
    Num(f64),
    Bool(bool),
    Str(String),
}

#[derive(Clone, Debug)]
pub struct SignalData {
    pub value: SigValue,
    pub baseline: Option<f64>,
    pub samples: Option<f64>,
    pub observed_at: Option<Micros>,
    /// Points in time order, at or before the snapshot's `at`, one per timestamp; the value at
    /// `observed_at` included.
    pub points: Vec<(Micros, SigValue)>,
}

#[derive(Clone, Debug, Default)]
pub struct Deployment {
    pub id: Option<String>,
    pub revision: Option<String>,
    pub service: String,
    pub environment: String,
    pub stage: Option<String>,
    /// `None`: an unclassified change.
    pub class: Option<ClassId>,
    pub traffic_percent: Option<f64>,
    pub cascade_depth: Option<f64>,
    /// `None` when the snapshot does not give it (it reads as `false`; `has` is false).
    pub emergency: Option<bool>,
    pub actor: Option<Principal>,
    pub approvals: Vec<ApprovalEntry>,
    pub target_healthy: Option<bool>,
    pub target_version: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// A snapshot validated against one compiled set: what the deployment is, who asks, and what
/// the signals say, at one instant. Made by [`Engine::parse_snapshot`](crate::Engine::parse_snapshot)
/// (or [`Compiled::parse_snapshot`](crate::Compiled::parse_snapshot)) and evaluated by the same
/// set's `evaluate`.
///
/// Opaque: its fields are the evaluator's, so it needs no `#[non_exhaustive]` to grow.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub(crate) at: Micros,
    pub(crate) deployment: Deployment,
    pub(crate) requester: Option<Principal>,
    /// Indexed by slot; `None`: missing.
    pub(crate) signals: Vec<Option<SignalData>>,
    /// The document as sent, for `cel(...)` conditions.
    pub(crate) raw: Value,
}

/// A snapshot that cannot be evaluated, with the JSON path of the first problem.
///
/// `#[non_exhaustive]`: it may say more later (a second problem, a kind to match on).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotError {
    /// `deployment.cascade_depth`, `signals["http.error_rate"].observed_at`; empty for the document.
    pub path: String,
    /// What is wrong there, for people.
    pub message: String,
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "invalid snapshot: {}", self.message)
        } else {
            write!(f, "invalid snapshot at `{}`: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for SnapshotError {}

fn err<T>(path: &str, message: impl Into<String>) -> Result<T, SnapshotError> {
    Err(SnapshotError {
        path: path.to_string(),
        message: message.into(),
    })
}

/// Milliseconds to seconds on the value's decimal digits, as the policy's `700ms` is computed,
/// so that equal digits compare equal.
fn scaled(n: f64, divisor: f64) -> f64 {
    if divisor == 1.0 {
        n
    } else {
        crate::ir::value::exact(n, 1, divisor as u64)
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn present<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    obj.get(key).filter(|v| !v.is_null())
}

pub const ROOT_KEYS: [&str; 4] = ["at", "deployment", "requester", "signals"];
/// The deployment's keys: the snapshot contract, and the fields `deployment.` may name.
pub const DEPLOYMENT_KEYS: [&str; 13] = [
    "id",
    "revision",
    "service",
    "environment",
    "stage",
    "class",
    "traffic_percent",
    "cascade_depth",
    "emergency",
    "actor",
    "approvals",
    "rollback_target",
    "labels",
];
pub const PRINCIPAL_KEYS: [&str; 3] = ["kind", "id", "groups"];
pub const APPROVAL_KEYS: [&str; 5] = ["principal", "revision", "verdict", "at", "statement"];
pub const TARGET_KEYS: [&str; 2] = ["version", "healthy"];
pub const SIGNAL_KEYS: [&str; 6] = [
    "value",
    "baseline",
    "samples",
    "observed_at",
    "series",
    "unit",
];

/// An object of the contract takes only the keys it defines: a misspelt `"verdit": "reject"`
/// must not pass for an approval.
fn closed(
    obj: &Map<String, Value>,
    path: &str,
    what: &str,
    keys: &[&str],
) -> Result<(), SnapshotError> {
    let Some(k) = obj.keys().find(|k| !keys.contains(&k.as_str())) else {
        return Ok(());
    };
    let help = match crate::diagnostic::did_you_mean(k, keys.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("its keys are {}", keys.join(", ")),
    };
    let at = if super::json::is_plain(k) {
        join(path, k)
    } else {
        format!("{path}[{k:?}]")
    };
    err(&at, format!("`{k}` is not a key of {what}; {help}"))
}

/// Times up to this far after the snapshot's `at` count as `at` (clocks of different hosts);
/// a later one is a snapshot from the future, refused.
const SKEW: Micros = 5_000_000;

/// A timestamp that may not be later than `at` (beyond the skew); within it, it reads as `at`.
fn not_after(t: Micros, at: Micros, path: &str) -> Result<Micros, SnapshotError> {
    if t > at + SKEW {
        let secs = (t - at) as f64 / 1e6;
        return err(
            path,
            format!(
                "this time is {secs}s after the snapshot's `at`; evidence cannot come from the \
                 future (up to 5s of clock skew counts as `at`): fix the clock or the `at`"
            ),
        );
    }
    Ok(t.min(at))
}

fn string(
    obj: &Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<String>, SnapshotError> {
    match present(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => err(
            &join(path, key),
            format!("expected a string, found {}", describe(v)),
        ),
    }
}

fn number(v: &Value, path: &str) -> Result<f64, SnapshotError> {
    match v.as_f64() {
        Some(n) if n.is_finite() && v.is_number() => Ok(n),
        _ => err(path, format!("expected a number, found {}", describe(v))),
    }
}

fn count(v: &Value, path: &str) -> Result<f64, SnapshotError> {
    if let Some(n) = v.as_u64() {
        return Ok(n as f64);
    }
    match v.as_f64() {
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n.is_finite() => Ok(n),
        Some(n) if n < 0.0 => err(
            path,
            format!("expected a count (an integer >= 0), found {n}"),
        ),
        Some(n) => err(
            path,
            format!("expected a count (an integer >= 0), found {n}"),
        ),
        None => err(
            path,
            format!("expected a count (an integer >= 0), found {}", describe(v)),
        ),
    }
}

pub fn timestamp(v: &Value, path: &str) -> Result<Micros, SnapshotError> {
    let Value::String(s) = v else {
        return err(
            path,
            format!(
                "expected an RFC 3339 timestamp such as \"2026-11-22T10:05:00Z\", found {}",
                describe(v)
            ),
        );
    };
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(t) => Ok(t.timestamp_micros()),
        Err(e) => err(
            path,
            format!(
                "`{s}` is not an RFC 3339 timestamp ({e}); write e.g. \"2026-11-22T10:05:00Z\""
            ),
        ),
    }
}

fn object<'v>(v: &'v Value, path: &str) -> Result<&'v Map<String, Value>, SnapshotError> {
    match v {
        Value::Object(m) => Ok(m),
        _ => err(path, format!("expected an object, found {}", describe(v))),
    }
}

fn principal(v: &Value, path: &str) -> Result<Principal, SnapshotError> {
    let obj = object(v, path)?;
    closed(obj, path, "a principal", &PRINCIPAL_KEYS)?;
    let kind = match present(obj, "kind") {
        Some(Value::String(k)) => match PrincipalKind::parse(k) {
            Some(k) => k,
            None => return err(&join(path, "kind"), format!("`{k}` is not a principal kind; use \"human\", \"agent\" or \"service_account\"")),
        },
        Some(v) => return err(&join(path, "kind"), format!("expected a string, found {}", describe(v))),
        None => return err(&join(path, "kind"), "a principal needs a `kind`: \"human\", \"agent\" or \"service_account\""),
    };
    let id = match string(obj, path, "id")? {
        Some(id) => id,
        None => return err(&join(path, "id"), "a principal needs an `id`"),
    };
    let groups = match present(obj, "groups") {
        None => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, g) in items.iter().enumerate() {
                match g {
                    Value::String(s) => out.push(s.clone()),
                    other => {
                        return err(
                            &format!("{path}.groups[{i}]"),
                            format!("expected a string, found {}", describe(other)),
                        )
                    }
                }
            }
            out
        }
        Some(v) => {
            return err(
                &join(path, "groups"),
                format!("expected an array of strings, found {}", describe(v)),
            )
        }
    };
    Ok(Principal { kind, id, groups })
}

fn sig_value(v: &Value, ty: SignalType, scale: f64, path: &str) -> Result<SigValue, SnapshotError> {
    Ok(match ty {
        SignalType::Bool => match v {
            Value::Bool(b) => SigValue::Bool(*b),
            _ => {
                return err(
                    path,
                    format!(
                        "expected a bool (the signal is declared `bool`), found {}",
                        describe(v)
                    ),
                )
            }
        },
        SignalType::String => match v {
            Value::String(s) => SigValue::Str(s.clone()),
            _ => {
                return err(
                    path,
                    format!(
                        "expected a string (the signal is declared `string`), found {}",
                        describe(v)
                    ),
                )
            }
        },
        SignalType::Count => SigValue::Num(count(v, path)?),
        SignalType::Number | SignalType::Ratio | SignalType::Duration => {
            let n = number(v, path).map_err(|mut e| {
                e.message = format!("{} (the signal is declared `{}`)", e.message, ty.as_str());
                e
            })?;
            SigValue::Num(scaled(n, scale))
        }
    })
}

/// The shape every signal entry has, declared or not.
fn signal_shape(obj: &Map<String, Value>, path: &str, at: Micros) -> Result<(), SnapshotError> {
    closed(obj, path, "a signal entry", &SIGNAL_KEYS)?;
    if let Some(v) = present(obj, "value") {
        if v.is_array() || v.is_object() {
            return err(
                &join(path, "value"),
                format!("expected a number, bool or string, found {}", describe(v)),
            );
        }
    }
    if let Some(v) = present(obj, "baseline") {
        if v.is_array() || v.is_object() {
            return err(
                &join(path, "baseline"),
                format!("expected a number, found {}", describe(v)),
            );
        }
    }
    if let Some(v) = present(obj, "samples") {
        count(v, &join(path, "samples"))?;
    }
    if let Some(v) = present(obj, "observed_at") {
        let p = join(path, "observed_at");
        not_after(timestamp(v, &p)?, at, &p)?;
    }
    if let Some(v) = present(obj, "unit") {
        if !v.is_string() {
            return err(
                &join(path, "unit"),
                format!("expected a string, found {}", describe(v)),
            );
        }
    }
    if let Some(v) = present(obj, "series") {
        let Value::Array(items) = v else {
            return err(
                &join(path, "series"),
                format!(
                    "expected an array of [timestamp, value] pairs, found {}",
                    describe(v)
                ),
            );
        };
        for (i, p) in items.iter().enumerate() {
            let pp = format!("{path}.series[{i}]");
            match p {
                Value::Array(pair) if pair.len() == 2 => {
                    let p0 = format!("{pp}[0]");
                    not_after(timestamp(&pair[0], &p0)?, at, &p0)?;
                    if pair[1].is_null() {
                        return err(
                            &format!("{pp}[1]"),
                            "a series point needs a value; leave out a point that was not measured",
                        );
                    }
                    if pair[1].is_array() || pair[1].is_object() {
                        return err(
                            &format!("{pp}[1]"),
                            format!(
                                "expected a number, bool or string, found {}",
                                describe(&pair[1])
                            ),
                        );
                    }
                }
                _ => return err(&pp, "expected a [timestamp, value] pair"),
            }
        }
    }
    Ok(())
}

fn signal_data(
    obj: &Map<String, Value>,
    ty: SignalType,
    path: &str,
    at: Micros,
) -> Result<Option<SignalData>, SnapshotError> {
    // A divisor, not a factor: `700 / 1000` is the double nearest 0.7, as `700ms` in a policy is;
    // `700 * 0.001` is not.
    let scale = match (ty, present(obj, "unit")) {
        (SignalType::Duration, Some(Value::String(u))) => match u.as_str() {
            "s" => 1.0,
            "ms" => 1000.0,
            other => return err(&join(path, "unit"), format!("`{other}` is not a duration unit; durations are in seconds, or in milliseconds with \"unit\": \"ms\"")),
        },
        _ => 1.0,
    };
    let value = match present(obj, "value") {
        None => return Ok(None),
        Some(v) => sig_value(v, ty, scale, &join(path, "value"))?,
    };
    let baseline = match present(obj, "baseline") {
        None => None,
        Some(v) if ty.is_numeric() => Some(scaled(number(v, &join(path, "baseline"))?, scale)),
        Some(v) => {
            sig_value(v, ty, scale, &join(path, "baseline"))?;
            None
        }
    };
    let samples = present(obj, "samples")
        .map(|v| count(v, &join(path, "samples")))
        .transpose()?;
    let observed_at = present(obj, "observed_at")
        .map(|v| {
            let p = join(path, "observed_at");
            not_after(timestamp(v, &p)?, at, &p)
        })
        .transpose()?;
    let mut points: Vec<(Micros, SigValue)> = Vec::new();
    if let Some(Value::Array(items)) = present(obj, "series") {
        for (i, p) in items.iter().enumerate() {
            let pp = format!("{path}.series[{i}]");
            let Value::Array(pair) = p else {
                return err(&pp, "expected a [timestamp, value] pair");
            };
            if pair.len() != 2 {
                return err(&pp, "expected a [timestamp, value] pair");
            }
            let t = timestamp(&pair[0], &format!("{pp}[0]"))?;
            let t = not_after(t, at, &format!("{pp}[0]"))?;
            // A null point was refused by the shape check: no point is carried over a gap.
            let v = sig_value(&pair[1], ty, scale, &format!("{pp}[1]"))?;
            points.push((t, v));
        }
    }
    if let Some(t) = observed_at {
        points.push((t, value.clone()));
    }
    // In time order; of two points with one timestamp, the later entry stands.
    points.sort_by_key(|(t, _)| *t);
    let mut dedup: Vec<(Micros, SigValue)> = Vec::with_capacity(points.len());
    for p in points {
        match dedup.last_mut() {
            Some(last) if last.0 == p.0 => *last = p,
            _ => dedup.push(p),
        }
    }
    Ok(Some(SignalData {
        value,
        baseline,
        samples,
        observed_at,
        points: dedup,
    }))
}

impl Snapshot {
    /// Parses and validates a snapshot for `program`; `keys` maps snapshot keys to slots.
    pub(crate) fn parse(
        bytes: &[u8],
        program: &Program,
        keys: &HashMap<String, Vec<SlotId>>,
    ) -> Result<Snapshot, SnapshotError> {
        // A byte-order mark some tools write before JSON is not part of the document.
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        Snapshot::from_value(super::json::parse(bytes)?, program, keys)
    }

    /// As [`Snapshot::parse`], from JSON already parsed.
    pub(crate) fn from_value(
        raw: Value,
        program: &Program,
        keys: &HashMap<String, Vec<SlotId>>,
    ) -> Result<Snapshot, SnapshotError> {
        let root = object(&raw, "")?;
        closed(root, "", "the snapshot", &ROOT_KEYS)?;
        let at = match root.get("at") {
            Some(v) if !v.is_null() => timestamp(v, "at")?,
            _ => return err("at", "the snapshot needs `at`, the time it describes"),
        };
        let dep_value = match root.get("deployment") {
            Some(v) if !v.is_null() => v,
            _ => return err("deployment", "the snapshot needs a `deployment` object"),
        };
        let d = object(dep_value, "deployment")?;
        let path = "deployment";
        closed(d, path, "the deployment", &DEPLOYMENT_KEYS)?;
        let mut dep = Deployment {
            id: string(d, path, "id")?,
            revision: string(d, path, "revision")?,
            stage: string(d, path, "stage")?,
            ..Deployment::default()
        };
        dep.service = match string(d, path, "service")? {
            Some(s) => s,
            None => return err("deployment.service", "the deployment needs a `service`"),
        };
        dep.environment = match string(d, path, "environment")? {
            Some(s) => s,
            None => {
                return err(
                    "deployment.environment",
                    "the deployment needs an `environment`",
                )
            }
        };
        dep.class = match string(d, path, "class")? {
            None => None,
            Some(c) => match program.class_index(&c) {
                Some(i) => Some(i),
                None => {
                    let names: Vec<&str> =
                        program.classes.iter().map(|c| c.name.as_str()).collect();
                    let hint = match crate::diagnostic::did_you_mean(&c, names.iter().copied()) {
                        Some(s) => format!("; did you mean `{s}`?"),
                        None if names.is_empty() => "; the set declares no classes (`use std::classes` brings the standard ones)".to_string(),
                        None => format!("; declared classes: {}", names.join(", ")),
                    };
                    return err(
                        "deployment.class",
                        format!("`{c}` is not a class the policy set declares{hint}"),
                    );
                }
            },
        };
        dep.traffic_percent = present(d, "traffic_percent")
            .map(|v| number(v, "deployment.traffic_percent"))
            .transpose()?;
        dep.cascade_depth = present(d, "cascade_depth")
            .map(|v| count(v, "deployment.cascade_depth"))
            .transpose()?;
        dep.emergency = match present(d, "emergency") {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(v) => {
                return err(
                    "deployment.emergency",
                    format!("expected a bool, found {}", describe(v)),
                )
            }
        };
        dep.actor = present(d, "actor")
            .map(|v| principal(v, "deployment.actor"))
            .transpose()?;
        if let Some(v) = present(d, "approvals") {
            let Value::Array(items) = v else {
                return err(
                    "deployment.approvals",
                    format!("expected an array, found {}", describe(v)),
                );
            };
            for (i, item) in items.iter().enumerate() {
                let p = format!("deployment.approvals[{i}]");
                let o = object(item, &p)?;
                closed(o, &p, "an approval entry", &APPROVAL_KEYS)?;
                let pr = match present(o, "principal") {
                    Some(v) => principal(v, &join(&p, "principal"))?,
                    None => {
                        return err(
                            &join(&p, "principal"),
                            "an approval needs the `principal` who gave it",
                        )
                    }
                };
                let reject = match string(o, &p, "verdict")?.as_deref() {
                    None | Some("approve") => false,
                    Some("reject") => true,
                    Some(other) => {
                        return err(
                            &join(&p, "verdict"),
                            format!("`{other}` is not a verdict; use \"approve\" or \"reject\""),
                        )
                    }
                };
                dep.approvals.push(ApprovalEntry {
                    principal: pr,
                    revision: string(o, &p, "revision")?,
                    reject,
                    at: present(o, "at")
                        .map(|v| {
                            let pa = join(&p, "at");
                            not_after(timestamp(v, &pa)?, at, &pa)
                        })
                        .transpose()?,
                    statement: string(o, &p, "statement")?,
                });
            }
        }
        if let Some(v) = present(d, "rollback_target") {
            let o = object(v, "deployment.rollback_target")?;
            closed(
                o,
                "deployment.rollback_target",
                "the rollback target",
                &TARGET_KEYS,
            )?;
            dep.target_healthy = match present(o, "healthy") {
                None => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(v) => {
                    return err(
                        "deployment.rollback_target.healthy",
                        format!("expected a bool, found {}", describe(v)),
                    )
                }
            };
            dep.target_version = string(o, "deployment.rollback_target", "version")?;
        }
        if let Some(v) = present(d, "labels") {
            let o = object(v, "deployment.labels")?;
            for (k, v) in o {
                match v {
                    Value::String(s) => {
                        dep.labels.insert(k.clone(), s.clone());
                    }
                    other => {
                        return err(
                            &format!("deployment.labels[{k:?}]"),
                            format!("expected a string, found {}", describe(other)),
                        )
                    }
                }
            }
        }
        let requester = present(root, "requester")
            .map(|v| principal(v, "requester"))
            .transpose()?;
        let mut signals: Vec<Option<SignalData>> = vec![None; program.signals.len()];
        if let Some(v) = present(root, "signals") {
            let o = object(v, "signals")?;
            for (key, entry) in o {
                let p = format!("signals[{key:?}]");
                if entry.is_null() {
                    continue;
                }
                let e = object(entry, &p)?;
                signal_shape(e, &p, at)?;
                if let Some(slots) = keys.get(key) {
                    for &slot in slots {
                        let ty = program.signals[slot as usize].ty;
                        signals[slot as usize] = signal_data(e, ty, &p, at)?;
                    }
                }
            }
        }
        Ok(Snapshot {
            at,
            deployment: dep,
            requester,
            signals,
            raw,
        })
    }
}
