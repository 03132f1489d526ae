//! The policy, snapshots and Flagger payloads the service's tests send, shared by the
//! in-process router tests (`tests/service.rs`) and the real-process ones (`tests/serve.rs`).
//! Include it with `mod service_inputs;`.

// Each test binary uses a part of it.
#![allow(dead_code)]

use serde_json::{json, Value};

/// A set with one `checkout` policy that rolls back above `threshold` (and twice the
/// baseline), behind freshness and sample gates, and two scopes: the `flagger` service account
/// may halt and roll back, the `sre` group may also promote.
pub fn policy(threshold: &str) -> String {
    format!(
        r#"use std::http
policy checkout {{
  applies when deployment.service == "checkout"
  require fresh(error_rate) within 2m else halt
  require samples(error_rate) >= 100 else inconclusive
  rollback spike when error_rate > {threshold} and error_rate > 2 * baseline(error_rate)
}}
scope bots {{
  principals [service_account "flagger"]
  may [halt, rollback]
}}
scope people {{
  principals [group "sre"]
  may [halt, rollback, promote]
}}
"#
    )
}

/// A fresh `checkout` snapshot with this error rate (baseline 1%, 500 samples).
pub fn snapshot(error_rate: f64, requester: Option<Value>) -> String {
    let mut s = json!({
        "at": "2026-11-22T10:05:00Z",
        "deployment": {"service": "checkout", "environment": "production", "rollback_target": {"healthy": true}},
        "signals": {"http.error_rate": {"value": error_rate, "baseline": 0.01, "samples": 500,
                                        "observed_at": "2026-11-22T10:04:30Z"}}
    });
    if let Some(r) = requester {
        s["requester"] = r;
    }
    s.to_string()
}

/// A Flagger webhook payload for `checkout` with this error rate (baseline 1%), naming the
/// `flagger` service account as the requester when `requester` is set.
pub fn flagger_payload(error_rate: &str, requester: bool) -> String {
    let mut meta = json!({
        "service": "checkout", "environment": "production", "rollback_target_healthy": "true",
        "signals": json!({"http.error_rate": {"value": error_rate.parse::<f64>().expect("rate"), "baseline": 0.01, "samples": 500}}).to_string(),
    });
    if requester {
        meta["requester_kind"] = json!("service_account");
        meta["requester_id"] = json!("flagger");
    }
    json!({"name": "checkout", "namespace": "prod", "phase": "Progressing", "checksum": "85d557f47b", "metadata": meta}).to_string()
}
