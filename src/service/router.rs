//! The HTTP side of the decision service (feature `serve`): an HTTP request in, the response out.
//!
//! [`Router`] answers every endpoint of `rollguard serve` — `/v1/decide`, `/v1/argo`,
//! `/v1/flagger/{hook}`, `/v1/policies`, `/v1/audit/head`, `/metrics`, `/healthz` — with the
//! checks that come before them (the loopback `Host` rule, `Origin`, framing, the declared
//! length, the content type, bearer tokens) and the one error shape,
//! `{"error": {"path", "message"}}`, for every refusal. It holds the set being served, the
//! decision log and the metrics; it reads no file and opens no socket. The process around it
//! (`rollguard serve`: arguments, the accept loop with its timeouts and connection cap,
//! signals, watching the policy directory) lives in the binary and drives it through this API,
//! so tests can call [`Router::handle`] in-process.
//!
//! ```no_run
//! # async fn example() {
//! use std::time::Duration;
//! use rollguard::service::{Config, Router};
//! use rollguard::Engine;
//!
//! let engine = Engine::from_dir("policies").expect("a good set");
//! let router = Router::new(
//!     engine,
//!     Config {
//!         tokens: None,
//!         decision_log: None,
//!         max_body_bytes: 1 << 20,
//!         max_depth: 64,
//!         timeout: Duration::from_secs(5),
//!         loopback_hosts_only: true,
//!     },
//! );
//! let request = axum::http::Request::builder()
//!     .method("GET")
//!     .uri("/healthz")
//!     .header("Host", "localhost")
//!     .body(axum::body::Body::empty())
//!     .expect("a request");
//! assert_eq!(router.handle(request).await.status(), 200);
//! # }
//! ```

// Handlers return `Result<_, Response>`: the error is the answer to send, as axum handlers do.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Json;
use serde_json::{json, Value};
use tower::ServiceExt;
use tower_http::timeout::TimeoutLayer;

use super::RequestError;
use crate::audit::{self, DecisionLog, Entry, Refusal};
use crate::identity::{Authenticated, Credentials, Identity, Refused};
use crate::integrations::{flagger_snapshot, FlaggerHook};
use crate::trust::Trust;
use crate::{Decision, Engine};

/// A request as the router takes it: any body axum can read (hyper's, or bytes in a test).
pub type Request = axum::http::Request<axum::body::Body>;

/// The router's answer.
pub type Response = axum::response::Response;

/// How the service answers; what `rollguard serve` takes from its arguments.
///
/// Not `#[non_exhaustive]` (yet): callers build it with a literal, as the example above does,
/// and a new option is a breaking change.
pub struct Config {
    /// Bearer tokens and the principal each stands for (`{"kind", "id", "groups"}`). With
    /// tokens every endpoint but `/healthz` needs `Authorization: Bearer TOKEN`, and the token's
    /// principal becomes the snapshot's requester; `None` asks for no token.
    pub tokens: Option<HashMap<String, Value>>,
    /// Where every decision is appended before it is answered (a failed append is a 503), and
    /// every refused request before its refusal is answered.
    pub decision_log: Option<DecisionLog>,
    /// Bodies over this get 413 (at once when `Content-Length` says so).
    pub max_body_bytes: usize,
    /// JSON nested deeper than this gets 400 before it is parsed.
    pub max_depth: usize,
    /// A request not answered within this, body included, gets 408.
    pub timeout: Duration,
    /// Answer only requests whose `Host` is a loopback name (`localhost`, 127.0.0.0/8,
    /// `[::1]`), so a web page cannot reach an unauthenticated service on loopback through a
    /// name it controls (DNS rebinding). `rollguard serve` sets it without tokens on loopback.
    pub loopback_hosts_only: bool,
}

/// Why the last reload of the policy set failed; `/v1/policies` shows it as
/// `last_reload_error` and `/metrics` as `rollguard_reload_failing 1` until a reload succeeds or
/// [`Router::reload_recovered`] is called.
///
/// `#[non_exhaustive]`: build one with [`ReloadError::unreadable`] or [`ReloadError::rejected`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ReloadError {
    /// When it failed, RFC 3339 (UTC, milliseconds).
    pub at: String,
    /// The file or directory that could not be read, when reading failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Why it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// One line per problem: the compiler's errors, or `FILE: REASON`.
    pub problems: Vec<String>,
}

impl ReloadError {
    /// A file or directory that could not be read (or is not UTF-8), now.
    pub fn unreadable(file: impl Into<String>, reason: impl Into<String>) -> ReloadError {
        let (file, reason) = (file.into(), reason.into());
        ReloadError {
            at: now_rfc3339(),
            problems: vec![format!("{file}: {reason}")],
            file: Some(file),
            reason: Some(reason),
        }
    }

    /// A set that was read but does not load (it does not compile, or has no policy), now.
    pub fn rejected(problems: Vec<String>) -> ReloadError {
        ReloadError {
            at: now_rfc3339(),
            file: None,
            reason: None,
            problems,
        }
    }
}

/// Who may call the service and whose approvals count, beyond [`Config`]'s static tokens:
/// give it to [`Router::secured`]. Shared (`Arc`) so the process can refresh the issuers' keys
/// while the router serves.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Security {
    /// How requesters authenticate (JWT issuers, static tokens, mesh identities, capability
    /// URLs); with it every endpoint but `/healthz` needs a credential.
    pub identity: Option<Arc<Identity>>,
    /// The approvers whose signed statements count; without it approval entries count as
    /// written and decisions say `approvals.verified: false`.
    pub trust: Option<Arc<Trust>>,
}

impl Security {
    /// Security from its parts.
    pub fn new(identity: Option<Arc<Identity>>, trust: Option<Arc<Trust>>) -> Security {
        Security { identity, trust }
    }
}

/// Put on a request by the accept loop: the address of the TCP peer, which decides whether a
/// forwarded client certificate (`X-Forwarded-Client-Cert`) is believed.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub std::net::SocketAddr);

/// Put on a request whose head declared both `Content-Length` and `Transfer-Encoding`, which
/// the router then refuses (400). hyper reads such a request as chunked and drops
/// `Content-Length` before the router sees it (RFC 9112, 6.3), so only the accept loop, looking
/// at the head as it arrives, can tell.
#[derive(Clone, Copy, Debug)]
pub struct BothLengths;

/// The decision service's router: cheap to clone (one `Arc` inside), `Send + Sync`; every
/// clone serves the same set, log and metrics.
#[derive(Clone)]
pub struct Router {
    app: Arc<App>,
    routes: axum::Router,
}

impl Router {
    /// A router serving `engine`.
    pub fn new(engine: Engine, config: Config) -> Router {
        Router::secured(engine, config, Security::default())
    }

    /// A router serving `engine` that authenticates with `security.identity` (and the static
    /// tokens of `config`, if any) and verifies approvals with `security.trust`.
    pub fn secured(engine: Engine, config: Config, security: Security) -> Router {
        let identity = match (security.identity, config.tokens) {
            (None, None) => None,
            (Some(i), None) => Some(i),
            (i, Some(tokens)) => {
                let mut from_tokens = Identity::from_tokens(tokens);
                if let Some(i) = i {
                    from_tokens.merge(&i);
                }
                Some(Arc::new(from_tokens))
            }
        };
        let app = Arc::new(App {
            current: RwLock::new(engine),
            last_error: RwLock::new(None),
            identity,
            trust: security.trust,
            log: config.decision_log.map(Mutex::new),
            max_depth: config.max_depth,
            max_body: config.max_body_bytes,
            timeout: config.timeout,
            loopback_hosts_only: config.loopback_hosts_only,
            metrics: Metrics::default(),
        });
        let routes = routes(app.clone());
        Router { app, routes }
    }

    /// Answers one request. Evaluation and the decision log's write run on tokio's blocking
    /// pool, and the timeout on its timer, so this must be awaited inside a tokio runtime with
    /// time enabled.
    pub async fn handle(&self, request: Request) -> Response {
        match self.routes.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    /// Answers one request as a hyper connection's service does: any body, and an error type
    /// that never occurs.
    pub async fn serve<B>(&self, request: axum::http::Request<B>) -> Result<Response, Infallible>
    where
        B: axum::body::HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        Ok(self.handle(request.map(axum::body::Body::new)).await)
    }

    /// The set being served.
    pub fn engine(&self) -> Engine {
        self.app.engine()
    }

    /// Serves `engine` from now on, a reload that succeeded: requests already evaluating finish
    /// with the set they started with; the reload error, if any, is cleared and
    /// `rollguard_reloads_total` counts one more.
    pub fn replace(&self, engine: Engine) {
        *self.app.current.write().expect("lock") = engine;
        *self.app.last_error.write().expect("lock") = None;
        *self.app.metrics.reloads.lock().expect("lock") += 1;
    }

    /// A reload failed: the set being served keeps serving, `error` is shown until a reload
    /// succeeds, and `rollguard_reload_failures_total` counts one more.
    pub fn reload_failed(&self, error: ReloadError) {
        *self.app.last_error.write().expect("lock") = Some(error);
        *self.app.metrics.reload_failures.lock().expect("lock") += 1;
    }

    /// The failure is over without a reload (the policy files are the served set again): the
    /// reload error is cleared.
    pub fn reload_recovered(&self) {
        *self.app.last_error.write().expect("lock") = None;
    }
}

struct App {
    current: RwLock<Engine>,
    last_error: RwLock<Option<ReloadError>>,
    identity: Option<Arc<Identity>>,
    trust: Option<Arc<Trust>>,
    log: Option<Mutex<DecisionLog>>,
    max_depth: usize,
    max_body: usize,
    timeout: Duration,
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

/// Put on an answer the decision log has dealt with (its decision recorded, or the log could
/// not be written), so [`guard`] does not record it again as a refusal.
#[derive(Clone, Copy)]
struct Logged;

fn logged(mut response: Response) -> Response {
    response.extensions_mut().insert(Logged);
    response
}

/// Who a refused request came from, put on the refusal by the handler that read the request,
/// for [`guard`] to record.
#[derive(Clone, Default)]
struct Caller {
    /// The authenticated principal, or `null`.
    requester: Value,
    /// How it was authenticated (`token`, `jwt ISSUER`, ...), or `null`.
    via: Value,
    /// The requester the body claimed, or `null`.
    claimed: Value,
    body_digest: Option<String>,
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

/// The whole seconds of a time `now_rfc3339` wrote.
fn seconds_of(time: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(time).map_or(0, |t| t.timestamp())
}

/// The answer to a request whose credentials did not pass: 401 with the reason, never the
/// credential.
fn unauthorized(r: Refused) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::UNAUTHORIZED);
    error_body(status, "", &r.message)
}

/// The TCP peer's address, as the accept loop recorded it.
struct PeerAddr(Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PeerAddr {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(PeerAddr(parts.extensions.get::<Peer>().map(|p| p.0.ip())))
    }
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
        self.current.read().expect("lock").clone()
    }

    /// Who sent the request: `Ok(None)` when the service asks for no credential; `Err` says
    /// why the request is refused (and whom it claimed to be).
    fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: Option<std::net::IpAddr>,
        capability: Option<(&str, &str)>,
    ) -> Result<Option<Authenticated>, Refused> {
        let Some(identity) = &self.identity else {
            return Ok(None);
        };
        // The scheme is case-insensitive (RFC 7235): `Bearer`, `bearer` and `BEARER` alike.
        let bearer = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim_start().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let client_cert = headers
            .get("x-forwarded-client-cert")
            .and_then(|v| v.to_str().ok());
        identity
            .authenticate(&Credentials::new(bearer, client_cert, peer, capability))
            .map(Some)
    }

    /// The identity a request came from, for the decision log: the authenticated principal and
    /// how it was authenticated, and the requester its body claimed (read on a best-effort
    /// basis: the body may be what was refused). Never the credential itself.
    fn caller(&self, auth: Option<&Authenticated>, body: &[u8], flagger: bool) -> Caller {
        let parsed = super::parse_body(body, self.max_depth).ok();
        let snapshot = match parsed {
            Some(payload) if flagger => flagger_snapshot(&payload, &now_rfc3339()).ok(),
            other => other,
        };
        Caller {
            requester: auth.map_or(Value::Null, |a| a.principal.clone()),
            via: auth.map_or(Value::Null, |a| json!(a.via)),
            claimed: snapshot
                .and_then(|s| s.get("requester").filter(|r| r.is_object()).cloned())
                .unwrap_or(Value::Null),
            body_digest: Some(audit::digest(body)),
        }
    }

    /// The identity of a request whose credentials were not accepted: what the credential
    /// claimed (a token's issuer and subject, a certificate's SPIFFE ID), else what the body
    /// claimed.
    fn refused_caller(&self, refused: &Refused, body: &[u8], flagger: bool) -> Caller {
        let mut caller = self.caller(None, body, flagger);
        if let Some(claimed) = &refused.claimed {
            caller.claimed = claimed.clone();
        }
        caller
    }

    /// The caller's identity, or the 401 to answer with, already carrying whom the request
    /// claimed to be for the decision log.
    fn admit_caller(
        &self,
        headers: &HeaderMap,
        peer: Option<std::net::IpAddr>,
        capability: Option<(&str, &str)>,
        body: &[u8],
        flagger: bool,
    ) -> Result<Option<Authenticated>, Response> {
        self.authenticate(headers, peer, capability).map_err(|r| {
            let caller = self.refused_caller(&r, body, flagger);
            from_caller(unauthorized(r), caller)
        })
    }

    /// Binds the caller to `snapshot` and decides it off the reactor (a slow sync of the
    /// decision log never stalls other connections); a refusal carries the caller for the log.
    async fn decide_for(
        self: &Arc<App>,
        auth: Option<&Authenticated>,
        mut snapshot: Value,
        body: Bytes,
        flagger: bool,
    ) -> Result<Decision, Response> {
        let refused = |r: Response| from_caller(r, self.caller(auth, &body, flagger));
        let principal = auth.map(|a| a.principal.clone());
        if let Err(e) = super::bind_requester(&mut snapshot, principal.as_ref()) {
            return Err(refused(refusal(e)));
        }
        let (app, engine) = (self.clone(), self.engine());
        let via = auth.map_or(Value::Null, |a| json!(a.via));
        let raw = body.clone();
        match tokio::task::spawn_blocking(move || app.decide(&engine, snapshot, &raw, via)).await {
            Ok(Ok(d)) => Ok(d),
            Ok(Err(r)) => Err(refused(r)),
            Err(_) => Err(error_body(
                StatusCode::INTERNAL_SERVER_ERROR,
                "",
                "evaluation was interrupted",
            )),
        }
    }

    /// Records a refused request, unless the log has dealt with the answer already; the answer
    /// goes out as it was. A refusal that cannot be recorded is still answered (with its own
    /// status: the request is refused either way), and the failure goes to stderr.
    async fn record_refusal(
        self: &Arc<App>,
        request: String,
        headers: &HeaderMap,
        peer: Option<std::net::IpAddr>,
        response: Response,
    ) -> Response {
        let status = response.status().as_u16();
        if self.log.is_none() || status < 400 || response.extensions().get::<Logged>().is_some() {
            return response;
        }
        let caller = match response.extensions().get::<Caller>() {
            Some(c) => c.clone(),
            // Refused before a handler read it (routing, limits, the checks of `admit`): who
            // it came from is what its credentials say.
            None => match self.authenticate(headers, peer, None) {
                Ok(auth) => Caller {
                    requester: auth.as_ref().map_or(Value::Null, |a| a.principal.clone()),
                    via: auth.as_ref().map_or(Value::Null, |a| json!(a.via)),
                    ..Caller::default()
                },
                Err(r) => Caller {
                    claimed: r.claimed.unwrap_or(Value::Null),
                    ..Caller::default()
                },
            },
        };
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 64 * 1024)
            .await
            .unwrap_or_default();
        let error: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let text = |k: &str| error["error"][k].as_str().unwrap_or_default().to_string();
        let refused = Refusal {
            time: now_rfc3339(),
            request,
            status,
            path: text("path"),
            message: text("message"),
            via: caller.via,
            requester: caller.requester,
            claimed: caller.claimed,
            body_digest: caller.body_digest,
        };
        let app = self.clone();
        let written = tokio::task::spawn_blocking(move || {
            app.log
                .as_ref()
                .map(|log| log.lock().expect("lock").append_refusal(&refused))
        })
        .await;
        if let Ok(Some(Err(e))) = written {
            eprintln!("rollguard serve: cannot record a refused request in the decision log: {e}");
        }
        Response::from_parts(parts, axum::body::Body::from(bytes))
    }

    /// Evaluates, records and counts one decision.
    fn decide(
        &self,
        engine: &Engine,
        snapshot: Value,
        raw: &[u8],
        via: Value,
    ) -> Result<Decision, Response> {
        let requester = snapshot.get("requester").cloned().unwrap_or(Value::Null);
        // The record holds the snapshot exactly as evaluated, so replay can derive it again.
        let evaluated = self.log.as_ref().map(|_| snapshot.clone());
        // One reading of the clock for the record's `time` and for judging approvals, so
        // `audit replay --trust` judges them at the very second the service did.
        let time = now_rfc3339();
        let started = Instant::now();
        let decision = match &self.trust {
            // Approvals are judged at the service's own time, not at the `at` the caller wrote.
            Some(trust) => super::decide_trusted(engine, snapshot, trust, Some(seconds_of(&time))),
            None => super::decide(engine, snapshot),
        }
        .map_err(refusal)?;
        let elapsed = started.elapsed().as_secs_f64();
        if let (Some(log), Some(snapshot)) = (&self.log, evaluated) {
            let entry = Entry {
                time,
                requester,
                via,
                policy_digest: decision.policy_digest.clone(),
                snapshot_digest: audit::digest(raw),
                snapshot,
                decision: serde_json::to_value(&decision).expect("a decision is plain data"),
            };
            if let Err(e) = log.lock().expect("lock").append(&entry) {
                eprintln!("rollguard serve: cannot write the decision log: {e}");
                return Err(logged(error_body(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "",
                    &format!("the decision log cannot be written ({e}); no decision is given without a record"),
                )));
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

/// Puts on a refusal who the request came from, for [`guard`] to record.
fn from_caller(mut response: Response, caller: Caller) -> Response {
    response.extensions_mut().insert(caller);
    response
}

async fn decide(
    State(app): State<Shared>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = match app.admit_caller(&headers, peer, None, &body, false) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let snapshot = match super::parse_body(&body, app.max_depth) {
        Ok(v) => v,
        Err(e) => return from_caller(refusal(e), app.caller(auth.as_ref(), &body, false)),
    };
    match app
        .decide_for(auth.as_ref(), snapshot, body.clone(), false)
        .await
    {
        Ok(d) => logged((StatusCode::OK, Json(d)).into_response()),
        Err(r) => r,
    }
}

async fn flagger(
    State(app): State<Shared>,
    PeerAddr(peer): PeerAddr,
    hook: Result<UrlPath<String>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A name that does not decode (`%FF`) is no hook either.
    let hook = hook.map(|UrlPath(h)| h).unwrap_or_default();
    flagger_hook(app, peer, hook, None, headers, body).await
}

/// A Flagger hook called through a capability URL, for webhooks that cannot send headers.
async fn flagger_capability(
    State(app): State<Shared>,
    PeerAddr(peer): PeerAddr,
    parts: Result<UrlPath<(String, String)>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (hook, secret) = parts.map(|UrlPath(p)| p).unwrap_or_default();
    flagger_hook(app, peer, hook, Some(secret), headers, body).await
}

async fn flagger_hook(
    app: Shared,
    peer: Option<std::net::IpAddr>,
    hook: String,
    secret: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(kind) = FlaggerHook::parse(&hook) else {
        return error_body(
            StatusCode::NOT_FOUND,
            "",
            &format!("`{hook}` is not a Flagger hook rollguard answers"),
        );
    };
    let capability = secret.as_deref().map(|s| (hook.as_str(), s));
    let auth = match app.admit_caller(&headers, peer, capability, &body, true) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let refused = |r: Response| from_caller(r, app.caller(auth.as_ref(), &body, true));
    let payload = match super::parse_body(&body, app.max_depth) {
        Ok(v) => v,
        Err(e) => return refused(refusal(e)),
    };
    let snapshot = match flagger_snapshot(&payload, &now_rfc3339()) {
        Ok(s) => s,
        Err(e) => return refused(error_body(StatusCode::BAD_REQUEST, &e.path, &e.to_string())),
    };
    match app
        .decide_for(auth.as_ref(), snapshot, body.clone(), true)
        .await
    {
        Ok(d) => {
            let status = StatusCode::from_u16(kind.status(&d)).unwrap_or(StatusCode::CONFLICT);
            logged((status, Json(d)).into_response())
        }
        Err(r) => r,
    }
}

async fn policies(
    State(app): State<Shared>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = app.authenticate(&headers, peer, None) {
        return unauthorized(r);
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

async fn audit_head(
    State(app): State<Shared>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = app.authenticate(&headers, peer, None) {
        return unauthorized(r);
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

async fn metrics(
    State(app): State<Shared>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = app.authenticate(&headers, peer, None) {
        return unauthorized(r);
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
    if request.extensions().get::<BothLengths>().is_some()
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

/// Refuses what must not reach a handler, gives every error answer the
/// `{"error": {"path", "message"}}` shape, whatever produced it (routing, limits, timeouts),
/// and records every refusal in the decision log.
async fn guard(
    State(app): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = request.method().clone();
    let path = redacted(request.uri().path());
    let headers = request.headers().clone();
    let peer = request.extensions().get::<Peer>().map(|p| p.0.ip());
    let response = match admit(&app, &request) {
        Err(refused) => refused,
        Ok(()) => shape(&app, &method, &path, next.run(request).await).await,
    };
    app.record_refusal(format!("{method} {path}"), &headers, peer, response)
        .await
}

/// Gives an error answer the `{"error": {"path", "message"}}` shape.
async fn shape(app: &App, method: &axum::http::Method, path: &str, response: Response) -> Response {
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
            // axum's method router does not always leave `Allow` on the 405 it produces (not
            // through these layers), so the methods come from the route table when it is absent.
            let allow = parts
                .headers
                .get(axum::http::header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.trim().is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| allowed_methods(path).to_string());
            if !allow.is_empty() {
                if let Ok(value) = axum::http::HeaderValue::from_str(&allow) {
                    parts.headers.insert(axum::http::header::ALLOW, value);
                }
            }
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

/// A path as error messages may quote it: a capability secret (`.../cap/SECRET`) is the whole
/// credential, so it is never echoed or logged.
fn redacted(path: &str) -> String {
    match path.find("/cap/") {
        Some(i) => format!("{}/cap/REDACTED", &path[..i]),
        None => path.to_string(),
    }
}

/// The methods `path` answers, as an `Allow` header lists them; empty for no route. Kept beside
/// [`routes`], which must agree with it (GET routes answer HEAD too).
fn allowed_methods(path: &str) -> &'static str {
    match path {
        "/healthz" | "/metrics" | "/v1/policies" | "/v1/audit/head" => "GET,HEAD",
        "/v1/decide" | "/v1/argo" => "POST",
        _ if path.strip_prefix("/v1/flagger/").is_some_and(|rest| {
            let parts: Vec<&str> = rest.split('/').collect();
            parts.iter().all(|p| !p.is_empty())
                && (parts.len() == 1 || (parts.len() == 3 && parts[1] == "cap"))
        }) =>
        {
            "POST"
        }
        _ => "",
    }
}

fn routes(app: Shared) -> axum::Router {
    let (max_body, timeout) = (app.max_body, app.timeout);
    axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/v1/decide", post(decide))
        // The Argo Rollouts web metric: the snapshot as `jsonBody`, the decision read with
        // `jsonPath: "{$.decision}"`; every decision is a 200 (a non-2xx is only an Error).
        .route("/v1/argo", post(decide))
        .route("/v1/flagger/{hook}", post(flagger))
        .route("/v1/flagger/{hook}/cap/{secret}", post(flagger_capability))
        .route("/v1/policies", get(policies))
        .route("/v1/audit/head", get(audit_head))
        .fallback(|uri: axum::http::Uri| async move {
            error_body(
                StatusCode::NOT_FOUND,
                "",
                &format!("no such endpoint: `{}`", redacted(uri.path())),
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
