//! `rollguard serve`: the HTTP decision service, a thin shell over `rollguard::Engine`.
//!
//! One policy directory, compiled off to the side and swapped in atomically when its files
//! change; bearer tokens bind each request to a principal (the `requester`); every decision can
//! be appended to a hash-chained log before it is answered.

// Handlers return `Result<_, Response>`: the error is the answer to send, as axum handlers do.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rollguard::audit::{self, DecisionLog, Entry};
use rollguard::integrations::{flagger_snapshot, FlaggerHook};
use rollguard::service::{self, RequestError};
use rollguard::{Decision, Engine};
use serde_json::{json, Value};
use tower_http::timeout::TimeoutLayer;

use crate::listen;

pub struct Options {
    pub policies: PathBuf,
    pub addr: SocketAddr,
    pub tokens: Option<PathBuf>,
    pub insecure_listen: bool,
    pub decision_log: Option<PathBuf>,
    pub max_body_bytes: usize,
    pub max_depth: usize,
    pub timeout: Duration,
    pub reload_interval: Duration,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// A token's principal, as the tokens file gives it.
#[derive(Clone, Debug, serde::Deserialize)]
struct TokenEntry {
    token: String,
    principal: Value,
}

struct Loaded {
    engine: Engine,
    /// What the files looked like when compiled, to notice changes.
    fingerprint: u64,
}

struct App {
    policies: PathBuf,
    current: RwLock<Arc<Loaded>>,
    last_error: RwLock<Option<Value>>,
    /// The fingerprint of the last set that failed, so it is not recompiled every tick.
    failed_fingerprint: Mutex<Option<u64>>,
    /// A changed fingerprint seen once, waiting to be seen again before it is compiled.
    pending: Mutex<Option<u64>>,
    tokens: Option<HashMap<String, Value>>,
    log: Option<Mutex<DecisionLog>>,
    max_depth: usize,
    max_body: usize,
    timeout: Duration,
    /// Unauthenticated on loopback: only loopback `Host` names are answered, so a web page
    /// cannot reach the service through a name it controls (DNS rebinding).
    loopback_hosts_only: bool,
    metrics: Metrics,
}

#[derive(Default)]
struct Metrics {
    decisions: Mutex<BTreeMap<(String, String), u64>>,
    latency: Mutex<Histogram>,
    reloads: Mutex<u64>,
    reload_failures: Mutex<u64>,
}

const BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; 12],
    sum: f64,
    count: u64,
}

fn refusal(e: RequestError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(e.to_json())).into_response()
}

fn error_body(status: StatusCode, path: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"path": path, "message": message}})),
    )
        .into_response()
}

/// Why the policy directory could not be read: the file (or the directory) and the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ReadFailure {
    file: String,
    reason: String,
}

impl ReadFailure {
    fn new(file: &std::path::Path, reason: impl Into<String>) -> ReadFailure {
        ReadFailure {
            file: file.display().to_string(),
            reason: reason.into(),
        }
    }

    /// Stands for this failure where a set's fingerprint would, so a failure is reported once.
    fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        ("read failure", &self.file, &self.reason).hash(&mut h);
        h.finish()
    }
}

/// Opens a policy file without blocking (a FIFO would block a plain open until a writer
/// comes) and reads it only if it is a regular file; `None` for anything else.
fn read_regular(path: &std::path::Path) -> Result<Option<Vec<u8>>, ReadFailure> {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let mut file = options
        .open(path)
        .map_err(|e| ReadFailure::new(path, format!("cannot open: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| ReadFailure::new(path, format!("cannot stat: {e}")))?;
    if !meta.is_file() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| ReadFailure::new(path, format!("cannot read: {e}")))?;
    Ok(Some(bytes))
}

/// The policy files of `dir`, read once, and a hash of their names and contents: the set is
/// compiled from exactly the bytes that were hashed. Entries that are not regular files (a
/// FIFO, a socket, a directory, a dangling link) are skipped without being opened, as the
/// loader does at startup; a directory or a file that cannot be read is a failure, never a
/// silently smaller set.
fn read_set(dir: &std::path::Path) -> Result<(u64, Vec<rollguard::SetFile>), ReadFailure> {
    use std::hash::{Hash, Hasher};
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ReadFailure::new(dir, format!("cannot read the policy directory: {e}")))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry
            .map_err(|e| ReadFailure::new(dir, format!("cannot read the policy directory: {e}")))?;
        let path = entry.path();
        // `metadata` follows links (a mounted ConfigMap's files are links); a dangling one fails.
        if path.extension().is_some_and(|x| x == "rollguard")
            && std::fs::metadata(&path).is_ok_and(|m| m.is_file())
        {
            paths.push(path);
        }
    }
    paths.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut files = Vec::new();
    for path in paths {
        let Some(bytes) = read_regular(&path)? else {
            continue;
        };
        let text = String::from_utf8(bytes).map_err(|e| {
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let before = String::from_utf8_lossy(good);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            ReadFailure::new(
                &path,
                format!(
                    "not valid UTF-8 (byte 0x{:02X} at line {line}, column {column}); save it as UTF-8",
                    e.as_bytes()[good.len()]
                ),
            )
        })?;
        path.hash(&mut h);
        text.hash(&mut h);
        files.push(rollguard::SetFile {
            name: path.display().to_string(),
            path,
            text,
        });
    }
    Ok((h.finish(), files))
}

/// A set without policies would answer `proceed` to everything: the service never serves one
/// (a truncated or emptied file is the usual cause).
fn has_policies(engine: Engine) -> Result<Engine, rollguard::LoadError> {
    if engine.policies().is_empty() {
        let problem = "the policy set has no policy: every deployment would proceed".to_string();
        return Err(rollguard::LoadError {
            rendered: format!("error: {problem}\n"),
            problems: vec![problem],
        });
    }
    Ok(engine)
}

fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    chrono::DateTime::from_timestamp(now.as_secs() as i64, now.subsec_nanos())
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

impl App {
    fn engine(&self) -> Engine {
        self.current.read().expect("lock").engine.clone()
    }

    /// Recompiles when the files changed; a set that fails (or a directory that cannot be read)
    /// keeps the last good one serving, and the failure shows at `/v1/policies`, on stderr and
    /// in the metrics until the directory holds a good set again.
    fn reload(&self) {
        let read = read_set(&self.policies);
        let fp = match &read {
            Ok((fp, _)) => *fp,
            Err(f) => f.fingerprint(),
        };
        if fp == self.current.read().expect("lock").fingerprint {
            // Back to a known state: what was pending is forgotten, so two separate moments
            // that look alike (an empty file, just truncated) are not taken for a settled one.
            *self.pending.lock().expect("lock") = None;
            // The files are the set being served again: whatever failed is over.
            if self
                .failed_fingerprint
                .lock()
                .expect("lock")
                .take()
                .is_some()
            {
                *self.last_error.write().expect("lock") = None;
                eprintln!(
                    "rollguard serve: {} holds the set being served again",
                    self.policies.display()
                );
            }
            return;
        }
        if *self.failed_fingerprint.lock().expect("lock") == Some(fp) {
            *self.pending.lock().expect("lock") = None;
            return;
        }
        // A change is compiled once the files have stayed the same for one polling interval,
        // so a file caught in the middle of being written is never loaded.
        {
            let mut pending = self.pending.lock().expect("lock");
            if *pending != Some(fp) {
                *pending = Some(fp);
                return;
            }
        }
        let files = match read {
            Ok((_, files)) => files,
            Err(f) => {
                eprintln!(
                    "rollguard serve: reload failed, the last good set keeps serving: {}: {}",
                    f.file, f.reason
                );
                let problem = format!("{}: {}", f.file, f.reason);
                self.failed(
                    fp,
                    json!({"at": now_rfc3339(), "file": f.file, "reason": f.reason, "problems": [problem]}),
                );
                return;
            }
        };
        match Engine::from_set(&files).and_then(has_policies) {
            Ok(engine) => {
                eprintln!(
                    "rollguard serve: reloaded {} ({})",
                    self.policies.display(),
                    engine.digest()
                );
                *self.current.write().expect("lock") = Arc::new(Loaded {
                    engine,
                    fingerprint: fp,
                });
                *self.last_error.write().expect("lock") = None;
                *self.failed_fingerprint.lock().expect("lock") = None;
                *self.metrics.reloads.lock().expect("lock") += 1;
            }
            Err(e) => {
                eprintln!(
                    "rollguard serve: reload rejected, the last good set keeps serving:\n{}",
                    e.rendered
                );
                self.failed(fp, json!({"at": now_rfc3339(), "problems": e.problems}));
            }
        }
    }

    fn failed(&self, fp: u64, error: Value) {
        *self.last_error.write().expect("lock") = Some(error);
        *self.failed_fingerprint.lock().expect("lock") = Some(fp);
        *self.metrics.reload_failures.lock().expect("lock") += 1;
    }

    /// The bearer token's principal; `Err` is the response to send.
    fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Value>, Response> {
        let Some(tokens) = &self.tokens else {
            return Ok(None);
        };
        // The scheme is case-insensitive (RFC 7235): `Bearer`, `bearer` and `BEARER` alike.
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim_start().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        match given.and_then(|t| tokens.get(t)) {
            Some(p) => Ok(Some(p.clone())),
            None => Err(error_body(
                StatusCode::UNAUTHORIZED,
                "",
                if given.is_none() {
                    "this service needs `Authorization: Bearer TOKEN`"
                } else {
                    "unknown token"
                },
            )),
        }
    }

    /// Evaluates, records and counts one decision.
    fn decide(&self, engine: &Engine, snapshot: Value, raw: &[u8]) -> Result<Decision, Response> {
        let requester = snapshot.get("requester").cloned().unwrap_or(Value::Null);
        let started = Instant::now();
        let decision = service::decide(engine, snapshot).map_err(refusal)?;
        let elapsed = started.elapsed().as_secs_f64();
        if let Some(log) = &self.log {
            let entry = Entry {
                time: now_rfc3339(),
                requester,
                policy_digest: decision.policy_digest.clone(),
                snapshot_digest: audit::digest(raw),
                decision: serde_json::to_value(&decision).expect("a decision is plain data"),
            };
            if let Err(e) = log.lock().expect("lock").append(&entry) {
                eprintln!("rollguard serve: cannot write the decision log: {e}");
                return Err(error_body(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "",
                    &format!("the decision log cannot be written ({e}); no decision is given without a record"),
                ));
            }
        }
        let m = &self.metrics;
        {
            let mut d = m.decisions.lock().expect("lock");
            let outcome = decision.decision.as_str().to_string();
            if decision.policies.is_empty() {
                *d.entry((String::new(), outcome.clone())).or_default() += 1;
            }
            for p in &decision.policies {
                *d.entry((p.clone(), outcome.clone())).or_default() += 1;
            }
        }
        let mut h = m.latency.lock().expect("lock");
        for (i, b) in BUCKETS.iter().enumerate() {
            if elapsed <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += elapsed;
        h.count += 1;
        Ok(decision)
    }
}

type Shared = Arc<App>;

async fn decide(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let principal = match app.authenticate(&headers) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut snapshot = match service::parse_body(&body, app.max_depth) {
        Ok(v) => v,
        Err(e) => return refusal(e),
    };
    if let Err(e) = service::bind_requester(&mut snapshot, principal.as_ref()) {
        return refusal(e);
    }
    let engine = app.engine();
    let app2 = app.clone();
    // Evaluation is synchronous and fast; keep it off the reactor anyway so a slow disk sync of
    // the decision log never stalls other connections.
    match tokio::task::spawn_blocking(move || app2.decide(&engine, snapshot, &body)).await {
        Ok(Ok(d)) => (StatusCode::OK, Json(d)).into_response(),
        Ok(Err(r)) => r,
        Err(_) => error_body(
            StatusCode::INTERNAL_SERVER_ERROR,
            "",
            "evaluation was interrupted",
        ),
    }
}

async fn flagger(
    State(app): State<Shared>,
    hook: Result<UrlPath<String>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A name that does not decode (`%FF`) is no hook either.
    let hook = hook.map(|UrlPath(h)| h).unwrap_or_default();
    let Some(kind) = FlaggerHook::parse(&hook) else {
        return error_body(
            StatusCode::NOT_FOUND,
            "",
            &format!("`{hook}` is not a Flagger hook rollguard answers"),
        );
    };
    let principal = match app.authenticate(&headers) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let payload = match service::parse_body(&body, app.max_depth) {
        Ok(v) => v,
        Err(e) => return refusal(e),
    };
    let mut snapshot = match flagger_snapshot(&payload, &now_rfc3339()) {
        Ok(s) => s,
        Err(e) => return error_body(StatusCode::BAD_REQUEST, &e.path, &e.to_string()),
    };
    if let Err(e) = service::bind_requester(&mut snapshot, principal.as_ref()) {
        return refusal(e);
    }
    let engine = app.engine();
    let app2 = app.clone();
    match tokio::task::spawn_blocking(move || app2.decide(&engine, snapshot, &body)).await {
        Ok(Ok(d)) => {
            let status = StatusCode::from_u16(kind.status(&d)).unwrap_or(StatusCode::CONFLICT);
            (status, Json(d)).into_response()
        }
        Ok(Err(r)) => r,
        Err(_) => error_body(
            StatusCode::INTERNAL_SERVER_ERROR,
            "",
            "evaluation was interrupted",
        ),
    }
}

async fn policies(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = app.authenticate(&headers) {
        return r;
    }
    let engine = app.engine();
    let body = json!({
        "digest": engine.digest(),
        "policies": engine.policies(),
        "files": engine.files(),
        "last_reload_error": *app.last_error.read().expect("lock"),
    });
    Json(body).into_response()
}

async fn audit_head(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = app.authenticate(&headers) {
        return r;
    }
    match &app.log {
        Some(log) => Json(log.lock().expect("lock").head()).into_response(),
        None => error_body(
            StatusCode::NOT_FOUND,
            "",
            "no decision log: start the service with --decision-log FILE",
        ),
    }
}

async fn metrics(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = app.authenticate(&headers) {
        return r;
    }
    let m = &app.metrics;
    let mut out = String::new();
    out.push_str(
        "# HELP rollguard_decisions_total Decisions made, by policy that applied and outcome.\n",
    );
    out.push_str("# TYPE rollguard_decisions_total counter\n");
    for ((policy, decision), n) in m.decisions.lock().expect("lock").iter() {
        out.push_str(&format!(
            "rollguard_decisions_total{{policy=\"{policy}\",decision=\"{decision}\"}} {n}\n"
        ));
    }
    out.push_str("# HELP rollguard_evaluation_seconds Time to evaluate one snapshot.\n");
    out.push_str("# TYPE rollguard_evaluation_seconds histogram\n");
    let h = m.latency.lock().expect("lock");
    for (i, b) in BUCKETS.iter().enumerate() {
        out.push_str(&format!(
            "rollguard_evaluation_seconds_bucket{{le=\"{b}\"}} {}\n",
            h.counts[i]
        ));
    }
    out.push_str(&format!(
        "rollguard_evaluation_seconds_bucket{{le=\"+Inf\"}} {}\n",
        h.count
    ));
    out.push_str(&format!("rollguard_evaluation_seconds_sum {}\n", h.sum));
    out.push_str(&format!("rollguard_evaluation_seconds_count {}\n", h.count));
    out.push_str("# HELP rollguard_reloads_total Policy sets reloaded after a change.\n# TYPE rollguard_reloads_total counter\n");
    out.push_str(&format!(
        "rollguard_reloads_total {}\n",
        m.reloads.lock().expect("lock")
    ));
    out.push_str("# HELP rollguard_reload_failures_total Changed policy sets that did not load (unreadable, not UTF-8, or not compiling).\n# TYPE rollguard_reload_failures_total counter\n");
    out.push_str(&format!(
        "rollguard_reload_failures_total {}\n",
        m.reload_failures.lock().expect("lock")
    ));
    out.push_str("# HELP rollguard_reload_failing 1 while the policy directory holds a set that failed to load (the last good set is serving), else 0.\n# TYPE rollguard_reload_failing gauge\n");
    out.push_str(&format!(
        "rollguard_reload_failing {}\n",
        u8::from(app.last_error.read().expect("lock").is_some())
    ));
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
        .into_response()
}

/// Whether a `Host` value names this machine's loopback: `localhost`, `127.0.0.1` (any of
/// 127.0.0.0/8) or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let port_ok = |p: &str| {
        p.is_empty()
            || p.strip_prefix(':')
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    };
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').is_some_and(|(ip, port)| {
            ip.parse::<std::net::Ipv6Addr>()
                .is_ok_and(|a| a.is_loopback())
                && port_ok(port)
        });
    }
    let (name, port) = match host.split_once(':') {
        Some((name, port)) => (name, &host[name.len()..][..port.len() + 1]),
        None => (host, ""),
    };
    port_ok(port)
        && (name.eq_ignore_ascii_case("localhost")
            || name
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|a| a.is_loopback()))
}

/// Whether a POST body is declared as JSON: `application/json`, parameters allowed.
fn is_json(content_type: Option<&axum::http::HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// What is refused before routing; `Err` is the answer.
fn admit(app: &App, request: &axum::extract::Request) -> Result<(), Response> {
    use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN, TRANSFER_ENCODING};
    let headers = request.headers();
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    if app.loopback_hosts_only && !host.is_some_and(is_loopback_host) {
        return Err(error_body(
            StatusCode::FORBIDDEN,
            "",
            &format!(
                "the Host `{}` is not a loopback name: without --tokens the service answers only requests for localhost, 127.0.0.1 or [::1]",
                host.unwrap_or("")
            ),
        ));
    }
    // Deploy tools send no `Origin`; a browser does, and a page from elsewhere must not drive
    // the service (cross-site requests, DNS rebinding).
    if let Some(origin) = headers.get(ORIGIN) {
        let own = origin
            .to_str()
            .ok()
            .and_then(|o| {
                o.strip_prefix("http://")
                    .or_else(|| o.strip_prefix("https://"))
            })
            .zip(host)
            .is_some_and(|(authority, host)| authority.eq_ignore_ascii_case(host));
        if !own {
            return Err(error_body(
                StatusCode::FORBIDDEN,
                "",
                &format!(
                    "requests from the origin `{}` are refused: only the service's own origin may call it from a browser",
                    String::from_utf8_lossy(origin.as_bytes())
                ),
            ));
        }
    }
    if request.extensions().get::<listen::BothLengths>().is_some()
        || (headers.contains_key(CONTENT_LENGTH) && headers.contains_key(TRANSFER_ENCODING))
    {
        return Err(error_body(
            StatusCode::BAD_REQUEST,
            "",
            "a request with both Content-Length and Transfer-Encoding is ambiguous; send one",
        ));
    }
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > app.max_body as u64) {
        return Err(error_body(
            StatusCode::PAYLOAD_TOO_LARGE,
            "",
            &format!(
                "the body is over the limit of {} bytes (--max-body-bytes)",
                app.max_body
            ),
        ));
    }
    if request.method() == axum::http::Method::POST && !is_json(headers.get(CONTENT_TYPE)) {
        return Err(error_body(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "",
            "the body must be JSON sent with `Content-Type: application/json`",
        ));
    }
    Ok(())
}

/// Refuses what must not reach a handler, and gives every error answer the
/// `{"error": {"path", "message"}}` shape, whatever produced it (routing, limits, timeouts).
async fn guard(
    State(app): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Err(refused) = admit(&app, &request) {
        return refused;
    }
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    let json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = parts
                .headers
                .get(axum::http::header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            format!("`{method}` is not allowed on `{path}`; allowed: {allow}")
        }
        StatusCode::NOT_FOUND => format!("no such endpoint: `{path}`"),
        StatusCode::PAYLOAD_TOO_LARGE => format!(
            "the body is over the limit of {} bytes (--max-body-bytes)",
            app.max_body
        ),
        StatusCode::REQUEST_TIMEOUT => format!(
            "the request was not answered within {} ms (--timeout-ms)",
            app.timeout.as_millis()
        ),
        _ if !text.is_empty() => text,
        _ => status.canonical_reason().unwrap_or("error").to_string(),
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    Response::from_parts(
        parts,
        axum::body::Body::from(json!({"error": {"path": "", "message": message}}).to_string()),
    )
}

fn router(app: Shared, max_body: usize, timeout: Duration) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/v1/decide", post(decide))
        // The Argo Rollouts web metric: the snapshot as `jsonBody`, the decision read with
        // `jsonPath: "{$.decision}"`; every decision is a 200 (a non-2xx is only an Error).
        .route("/v1/argo", post(decide))
        .route("/v1/flagger/{hook}", post(flagger))
        .route("/v1/policies", get(policies))
        .route("/v1/audit/head", get(audit_head))
        .fallback(|uri: axum::http::Uri| async move {
            error_body(
                StatusCode::NOT_FOUND,
                "",
                &format!("no such endpoint: `{}`", uri.path()),
            )
        })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

pub fn run(o: Options) -> u8 {
    if o.tokens.is_none() && !o.addr.ip().is_loopback() && !o.insecure_listen {
        eprintln!(
            "error: without --tokens the service listens on loopback only; give --tokens FILE, or --insecure-listen to serve {} unauthenticated",
            o.addr
        );
        return 2;
    }
    let tokens = match &o.tokens {
        None => None,
        Some(path) => {
            let parsed = std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|t| {
                    serde_json::from_str::<Vec<TokenEntry>>(&t).map_err(|e| e.to_string())
                });
            match parsed {
                Ok(list) => Some(list.into_iter().map(|t| (t.token, t.principal)).collect()),
                Err(e) => {
                    eprintln!(
                        "error: cannot read the tokens file `{}`: {e}",
                        path.display()
                    );
                    return 2;
                }
            }
        }
    };
    let engine = match Engine::from_dir(&o.policies).and_then(has_policies) {
        Ok(e) => e,
        Err(e) => {
            eprint!("{}", e.rendered);
            eprintln!(
                "error: the policy set in `{}` does not compile: {}",
                o.policies.display(),
                e.problems.join("; ")
            );
            return 1;
        }
    };
    let log = match &o.decision_log {
        None => None,
        Some(path) => match DecisionLog::open(path) {
            Ok(l) => {
                if let Some(t) = l.recovered() {
                    eprintln!(
                        "rollguard serve: {}: {t}; it was cut off, the chain continues",
                        path.display()
                    );
                }
                Some(Mutex::new(l))
            }
            Err(e) => {
                eprintln!(
                    "error: cannot open the decision log `{}`: {e}",
                    path.display()
                );
                return 2;
            }
        },
    };
    let fp = read_set(&o.policies).map(|(fp, _)| fp).unwrap_or_default();
    let app = Arc::new(App {
        policies: o.policies.clone(),
        current: RwLock::new(Arc::new(Loaded {
            engine,
            fingerprint: fp,
        })),
        last_error: RwLock::new(None),
        failed_fingerprint: Mutex::new(None),
        pending: Mutex::new(None),
        tokens,
        log,
        max_depth: o.max_depth,
        max_body: o.max_body_bytes,
        timeout: o.timeout,
        loopback_hosts_only: o.tokens.is_none() && o.addr.ip().is_loopback(),
        metrics: Metrics::default(),
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return 1;
        }
    };
    let (max_connections, descriptors) = listen::connection_cap(o.max_connections);
    if max_connections < o.max_connections {
        eprintln!(
            "rollguard serve: at most {max_connections} connections (the descriptor limit is {})",
            descriptors.unwrap_or_default()
        );
    }
    let limits = listen::Limits {
        header_timeout: o.header_timeout,
        idle_timeout: o.idle_timeout,
        max_connections,
        // Requests in flight are bounded by --timeout-ms; a little more lets them be answered.
        drain: o.timeout + Duration::from_millis(500),
    };
    let code = runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(o.addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}", o.addr);
                return 2;
            }
        };
        let local = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        println!(
            "rollguard serve: listening on http://{local} ({})",
            app.engine().digest()
        );
        let watcher = app.clone();
        let interval = o.reload_interval;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let w = watcher.clone();
                let _ = tokio::task::spawn_blocking(move || w.reload()).await;
            }
        });
        let router = router(app, o.max_body_bytes, o.timeout);
        listen::serve(listener, router, limits, shutdown()).await;
        0
    });
    // A reload or a log write stuck on a slow disk must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

/// Ctrl-C or SIGTERM: stop accepting, finish what is in flight.
async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
