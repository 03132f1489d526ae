//! Deploy tools' payloads and status codes: Flagger webhooks and the Argo Rollouts web metric.
//!
//! Pure functions, so the mapping is tested without a server; `rollguard serve` calls them.
//!
//! ## Flagger
//!
//! Flagger posts `{"name", "namespace", "phase", "checksum", "metadata"}`, where `metadata` is a
//! map of strings from the Canary's webhook spec. The snapshot is built as follows:
//!
//! | snapshot field | from |
//! |---|---|
//! | `at` | the time the service received the call |
//! | `deployment.id` | `namespace/name` |
//! | `deployment.revision` | `checksum` (it changes with the canary's spec and configs) |
//! | `deployment.service` | `metadata.service`, else `name` |
//! | `deployment.environment` | `metadata.environment`, else `namespace` |
//! | `deployment.stage` | `phase` |
//! | `deployment.class`, `.traffic_percent`, `.cascade_depth`, `.emergency` | `metadata.class`, `.traffic_percent`, `.cascade_depth`, `.emergency` (numbers and `true`/`false` parsed from strings) |
//! | `deployment.actor` | `metadata.actor_kind` and `metadata.actor_id` |
//! | `deployment.rollback_target` | `metadata.rollback_target_healthy` (`true`/`false`), `metadata.rollback_target_version` |
//! | `deployment.labels` | every `metadata.label.KEY` |
//! | `deployment.approvals` | `metadata.approvals`: a JSON array in the snapshot's format |
//! | `signals` | `metadata.signals`: a JSON object in the snapshot's format; and every `metadata.signal.KEY` (a number, `true`/`false` or a string), observed at `at` |
//! | `requester` | the bearer token's principal; without tokens, `metadata.requester_kind` and `metadata.requester_id` |

use serde_json::{json, Map, Value};

use crate::eval::snapshot::SnapshotError;
use crate::{Action, Decision};

/// The Flagger hooks rollguard answers, and what success (a 2xx) means to Flagger for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlaggerHook {
    /// `confirm-rollout`, `confirm-traffic-increase`, `confirm-promotion`: success = go on.
    Gate,
    /// `pre-rollout`, `rollout`: failure counts toward Flagger's own rollback.
    Check,
    /// `rollback`: success = roll back now.
    Rollback,
    /// `post-rollout`, `event`: informational; always success.
    Notice,
}

impl FlaggerHook {
    pub fn parse(hook: &str) -> Option<FlaggerHook> {
        Some(match hook {
            "confirm-rollout" | "confirm-traffic-increase" | "confirm-promotion" => {
                FlaggerHook::Gate
            }
            "pre-rollout" | "rollout" => FlaggerHook::Check,
            "rollback" => FlaggerHook::Rollback,
            "post-rollout" | "event" => FlaggerHook::Notice,
            _ => return None,
        })
    }

    /// The HTTP status Flagger should see. Flagger treats any status up to 202 as success, so
    /// only 200 means "act", and a refusal is a 4xx (never 202 or 204).
    ///
    /// - gates go on only for `proceed` (fail closed: anything else, or an error, waits);
    /// - checks fail only for `rollback`, since Flagger turns failed checks into its own rollback
    ///   and a `halt` of an irreversible change must never become one;
    /// - the rollback hook says "roll back now" only for a `rollback` the requester is
    ///   authorized for: an unreachable or refusing service means "no rollback" to Flagger.
    pub fn status(self, d: &Decision) -> u16 {
        let ok = match self {
            FlaggerHook::Gate => d.decision == Action::Proceed,
            FlaggerHook::Check => d.decision != Action::Rollback,
            FlaggerHook::Rollback => d.decision == Action::Rollback && d.authorized == Some(true),
            FlaggerHook::Notice => true,
        };
        if ok {
            200
        } else {
            409
        }
    }
}

fn bad(path: &str, message: impl Into<String>) -> SnapshotError {
    SnapshotError {
        path: path.to_string(),
        message: message.into(),
    }
}

/// Builds the snapshot for a Flagger webhook payload received at `now` (RFC 3339).
pub fn flagger_snapshot(payload: &Value, now: &str) -> Result<Value, SnapshotError> {
    let p = payload
        .as_object()
        .ok_or_else(|| bad("", "a Flagger payload is a JSON object"))?;
    let text = |key: &str| -> Result<Option<String>, SnapshotError> {
        match p.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(key, "expected a string")),
        }
    };
    let name = text("name")?.ok_or_else(|| bad("name", "Flagger sends the canary's `name`"))?;
    let namespace = text("namespace")?
        .ok_or_else(|| bad("namespace", "Flagger sends the canary's `namespace`"))?;
    let mut meta: Map<String, Value> = Map::new();
    match p.get("metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                match v {
                    Value::String(_) => {
                        meta.insert(k.clone(), v.clone());
                    }
                    _ => {
                        return Err(bad(
                            &format!("metadata.{k}"),
                            "Flagger metadata values are strings",
                        ))
                    }
                }
            }
        }
        Some(_) => return Err(bad("metadata", "expected an object of strings")),
    }
    let m = |k: &str| meta.get(k).and_then(Value::as_str);
    let number = |k: &str| -> Result<Option<Value>, SnapshotError> {
        m(k).map(|s| {
            s.trim()
                .parse::<f64>()
                .ok()
                .and_then(|n| {
                    if n.fract() == 0.0 && (0.0..9e15).contains(&n) {
                        Some(json!(n as u64))
                    } else {
                        serde_json::Number::from_f64(n).map(Value::Number)
                    }
                })
                .ok_or_else(|| bad(&format!("metadata.{k}"), format!("`{s}` is not a number")))
        })
        .transpose()
    };
    let boolean = |k: &str| -> Result<Option<bool>, SnapshotError> {
        m(k).map(|s| match s.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(bad(
                &format!("metadata.{k}"),
                format!("`{other}` is not `true` or `false`"),
            )),
        })
        .transpose()
    };
    let mut dep = Map::new();
    dep.insert("id".into(), json!(format!("{namespace}/{name}")));
    if let Some(c) = text("checksum")? {
        dep.insert("revision".into(), json!(c));
    }
    dep.insert("service".into(), json!(m("service").unwrap_or(&name)));
    dep.insert(
        "environment".into(),
        json!(m("environment").unwrap_or(&namespace)),
    );
    if let Some(phase) = text("phase")? {
        dep.insert("stage".into(), json!(phase));
    }
    if let Some(c) = m("class") {
        dep.insert("class".into(), json!(c));
    }
    for k in ["traffic_percent", "cascade_depth"] {
        if let Some(v) = number(k)? {
            dep.insert(k.into(), v);
        }
    }
    if let Some(e) = boolean("emergency")? {
        dep.insert("emergency".into(), json!(e));
    }
    if let (Some(kind), Some(id)) = (m("actor_kind"), m("actor_id")) {
        dep.insert("actor".into(), json!({"kind": kind, "id": id}));
    }
    let mut target = Map::new();
    if let Some(h) = boolean("rollback_target_healthy")? {
        target.insert("healthy".into(), json!(h));
    }
    if let Some(v) = m("rollback_target_version") {
        target.insert("version".into(), json!(v));
    }
    if !target.is_empty() {
        dep.insert("rollback_target".into(), Value::Object(target));
    }
    let labels: Map<String, Value> = meta
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("label.").map(|l| (l.to_string(), v.clone())))
        .collect();
    if !labels.is_empty() {
        dep.insert("labels".into(), Value::Object(labels));
    }
    if let Some(a) = m("approvals") {
        let v = crate::eval::json::parse(a.as_bytes())
            .map_err(|e| bad(&in_metadata("approvals", &e.path), e.message))?;
        dep.insert("approvals".into(), v);
    }
    let mut signals = match m("signals") {
        None => Map::new(),
        Some(s) => match crate::eval::json::parse(s.as_bytes()) {
            Ok(Value::Object(o)) => o,
            Ok(_) => return Err(bad("metadata.signals", "expected a JSON object of signals")),
            Err(e) => return Err(bad(&in_metadata("signals", &e.path), e.message)),
        },
    };
    for (k, v) in &meta {
        let Some(key) = k.strip_prefix("signal.") else {
            continue;
        };
        let s = v.as_str().unwrap_or("");
        let value = match s.trim() {
            "true" => json!(true),
            "false" => json!(false),
            t => t
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or_else(|| json!(s), Value::Number),
        };
        signals.insert(key.to_string(), json!({"value": value, "observed_at": now}));
    }
    let mut snap = Map::new();
    snap.insert("at".into(), json!(now));
    snap.insert("deployment".into(), Value::Object(dep));
    snap.insert("signals".into(), Value::Object(signals));
    if let (Some(kind), Some(id)) = (m("requester_kind"), m("requester_id")) {
        snap.insert("requester".into(), json!({"kind": kind, "id": id}));
    }
    Ok(Value::Object(snap))
}

/// The path of a problem inside a JSON document carried as a metadata string.
fn in_metadata(key: &str, inner: &str) -> String {
    match inner {
        "" => format!("metadata.{key}"),
        p if p.starts_with('[') => format!("metadata.{key}{p}"),
        p => format!("metadata.{key}.{p}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_maps_to_a_snapshot() {
        let payload = json!({
            "name": "podinfo", "namespace": "prod", "phase": "Progressing", "checksum": "85d557f47b",
            "metadata": {"service": "podinfo-api", "traffic_percent": "20", "emergency": "false",
                         "label.team": "web", "signal.http.error_rate": "0.03",
                         "actor_kind": "agent", "actor_id": "release-bot"}
        });
        let s = flagger_snapshot(&payload, "2026-11-22T10:00:00Z").expect("maps");
        assert_eq!(s["deployment"]["revision"], "85d557f47b");
        assert_eq!(s["deployment"]["service"], "podinfo-api");
        assert_eq!(s["deployment"]["environment"], "prod");
        assert_eq!(s["deployment"]["traffic_percent"], 20);
        assert_eq!(s["deployment"]["labels"]["team"], "web");
        assert_eq!(s["deployment"]["actor"]["kind"], "agent");
        assert_eq!(s["signals"]["http.error_rate"]["value"], 0.03);
    }

    #[test]
    fn bad_metadata_names_its_path() {
        let payload =
            json!({"name": "a", "namespace": "b", "metadata": {"traffic_percent": "lots"}});
        let e = flagger_snapshot(&payload, "2026-11-22T10:00:00Z").unwrap_err();
        assert_eq!(e.path, "metadata.traffic_percent");
        let e = flagger_snapshot(&json!({"name": "a"}), "x").unwrap_err();
        assert_eq!(e.path, "namespace");
    }
}
