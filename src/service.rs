//! The decision service. What it does with a request body before and around evaluation, as
//! plain functions: the depth limit, parsing, binding the requester to the caller's identity;
//! the service's router and the fuzz target call the same code. With the `serve` feature,
//! `Router` answers the service's HTTP requests (`router.rs`); `rollguard serve` puts it
//! behind its accept loop.

use serde_json::Value;

use crate::{Decision, Engine};

#[cfg(feature = "serve")]
mod router;
#[cfg(feature = "serve")]
pub use router::{BothLengths, Config, Peer, ReloadError, Request, Response, Router, Security};

/// A request refused before or during evaluation: the HTTP status and the JSON path at fault.
///
/// `#[non_exhaustive]`: a refusal may carry more (a header to send) later.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestError {
    /// The HTTP status to answer: 400, 403, 413 ...
    pub status: u16,
    /// The JSON path at fault in the body; empty for the whole body.
    pub path: String,
    /// What is wrong, for people.
    pub message: String,
}

impl RequestError {
    fn new(status: u16, path: &str, message: impl Into<String>) -> RequestError {
        RequestError {
            status,
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// `{"error": {"path", "message"}}`, the body of every refusal.
    pub fn to_json(&self) -> Value {
        serde_json::json!({"error": {"path": self.path, "message": self.message}})
    }
}

/// Whether JSON nests deeper than `max`, decided without parsing it (serde_json's own limit is
/// 128, and a deep document costs stack before it is refused).
pub fn too_deep(body: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// A request body as JSON, within the depth limit.
pub fn parse_body(body: &[u8], max_depth: usize) -> Result<Value, RequestError> {
    if too_deep(body, max_depth) {
        return Err(RequestError::new(
            400,
            "",
            format!("the JSON is nested deeper than {max_depth} levels"),
        ));
    }
    // Strict: an object that repeats a key is refused with its path, as `rollguard eval` does.
    crate::eval::json::parse(body).map_err(|e| RequestError::new(400, &e.path, e.to_string()))
}

/// Makes the caller's principal the snapshot's requester; a snapshot that claims another
/// identity is refused (403): a request cannot speak for someone else. The requester is
/// replaced whole, so its `groups` are the credential's, never the snapshot's.
pub fn bind_requester(snapshot: &mut Value, principal: Option<&Value>) -> Result<(), RequestError> {
    let Some(p) = principal else { return Ok(()) };
    let Some(obj) = snapshot.as_object_mut() else {
        return Ok(());
    };
    if let Some(claimed) = obj.get("requester").filter(|r| !r.is_null()) {
        if claimed.get("kind") != p.get("kind") || claimed.get("id") != p.get("id") {
            return Err(RequestError::new(
                403,
                "requester",
                "the snapshot's requester is not the principal of the bearer token",
            ));
        }
    }
    obj.insert("requester".into(), p.clone());
    Ok(())
}

/// Evaluates a snapshot already parsed and bound; a snapshot error is a 400 naming its path.
pub fn decide(engine: &Engine, snapshot: Value) -> Result<Decision, RequestError> {
    engine
        .decide_value(snapshot)
        .map_err(|e| RequestError::new(400, &e.path, e.to_string()))
}

/// Evaluates a snapshot with its approvals verified against `trust` at `now` (seconds since
/// the epoch); a snapshot error is a 400 naming its path.
pub fn decide_trusted(
    engine: &Engine,
    snapshot: Value,
    trust: &crate::trust::Trust,
    now: Option<i64>,
) -> Result<Decision, RequestError> {
    engine
        .decide_value_trusted(snapshot, trust, now)
        .map_err(|e| RequestError::new(400, &e.path, e.to_string()))
}

/// A `/v1/decide` body from start to finish (without the decision log).
pub fn decide_body(
    engine: &Engine,
    body: &[u8],
    principal: Option<&Value>,
    max_depth: usize,
) -> Result<Decision, RequestError> {
    let mut snapshot = parse_body(body, max_depth)?;
    bind_requester(&mut snapshot, principal)?;
    decide(engine, snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_ignores_brackets_inside_strings() {
        assert!(!too_deep(br#"{"a": "[[[[[[[["}"#, 2));
        assert!(too_deep(b"[[[", 2));
        assert!(!too_deep(br#"["\"[[[["]"#, 1));
    }

    #[test]
    fn a_claimed_requester_must_be_the_caller() {
        let caller = serde_json::json!({"kind": "service_account", "id": "ci"});
        let mut s = serde_json::json!({"requester": {"kind": "human", "id": "ana"}});
        assert_eq!(
            bind_requester(&mut s, Some(&caller)).unwrap_err().status,
            403
        );
        let mut s = serde_json::json!({"requester": {"kind": "service_account", "id": "ci"}});
        assert!(bind_requester(&mut s, Some(&caller)).is_ok());
        let mut s = serde_json::json!({});
        bind_requester(&mut s, Some(&caller)).unwrap();
        assert_eq!(s["requester"]["id"], "ci");
    }
}
