//! The decision service's router (`rollguard::service::Router`), called in-process: routing,
//! status codes, tokens, the `Host`/`Origin`/content-type checks, limits, error shapes, Flagger
//! and Argo answers, the decision log, reload status, and the eval corpus through `/v1/decide`.
//! What needs the real process — the accept loop (its timeouts, the connection cap, framing
//! read off the wire), signals, reloading from disk, disk faults — is in `tests/serve.rs`.
#![cfg(feature = "serve")]

use std::convert::Infallible;
use std::fs;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http;
use rollguard::audit::DecisionLog;
use rollguard::service::{BothLengths, Config, ReloadError, Request, Router};
use rollguard::{Engine, SetFile};
use serde_json::{json, Value};

mod service_inputs;
use service_inputs::{flagger_payload, policy, snapshot};

/// The `Host` the requests name: the service's default address.
const HOST: &str = "127.0.0.1:8181";

/// Runs a future on this test thread's runtime (the router needs tokio's blocking pool and
/// timer).
fn block_on<F: Future>(f: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
    }
    RUNTIME.with(|r| r.block_on(f))
}

/// What `rollguard serve` is configured with by default: no tokens, on loopback.
fn config() -> Config {
    Config {
        tokens: None,
        decision_log: None,
        max_body_bytes: 1 << 20,
        max_depth: 64,
        timeout: Duration::from_secs(5),
        loopback_hosts_only: true,
    }
}

fn engine(policy: &str) -> Engine {
    Engine::from_sources(&[("p.rollguard", policy)]).expect("the policy compiles")
}

/// A fresh scratch directory under cargo's temporary directory for tests.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("service-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("mkdir");
    dir
}

struct Service {
    router: Router,
}

impl Service {
    fn new(policy: &str, config: Config) -> Service {
        Service {
            router: Router::new(engine(policy), config),
        }
    }

    /// The policy with the default configuration.
    fn with_policy(policy: &str) -> Service {
        Service::new(policy, config())
    }

    /// The status and the body of the router's answer.
    fn send(&self, request: Request) -> (u16, String) {
        block_on(async {
            let response = self.router.handle(request).await;
            let status = response.status().as_u16();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("a body");
            (status, String::from_utf8_lossy(&body).into_owned())
        })
    }

    /// A request as a deploy tool sends it: a GET, or a POST of JSON with its length; the body
    /// parsed as JSON when it is JSON.
    fn call(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
        let mut r = http::Request::builder()
            .method(method)
            .uri(path)
            .header("Host", HOST);
        if let Some(t) = token {
            r = r.header("Authorization", format!("Bearer {t}"));
        }
        let request = if method == "GET" {
            r.body(Body::empty())
        } else {
            post_with(r, body)
        }
        .expect("a request");
        let (status, text) = self.send(request);
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn metric(&self, name: &str) -> String {
        let (_, m) = self.call("GET", "/metrics", None, "");
        m.as_str()
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or("missing")
            .to_string()
    }
}

fn post_with(builder: axum::http::request::Builder, body: &str) -> axum::http::Result<Request> {
    builder
        .header("Content-Type", "application/json")
        .header("Content-Length", body.len())
        .body(Body::from(body.to_string()))
}

/// A POST with these headers (`Host` among them, or none) and a `Content-Length`.
fn post(path: &str, headers: &[(&str, &str)], body: &str) -> Request {
    let mut r = http::Request::builder().method("POST").uri(path);
    for (name, value) in headers {
        r = r.header(*name, *value);
    }
    r.header("Content-Length", body.len())
        .body(Body::from(body.to_string()))
        .expect("a request")
}

/// Asserts the status and the `{"error": {"path", "message"}}` shape of an answer.
fn shaped(status: u16, body: &str, want: u16, what: &str) -> Value {
    assert_eq!(status, want, "{what}: {body}");
    let e: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{what}: {body:?}"));
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
    assert!(e["error"]["path"].is_string(), "{what}: {body}");
    e
}

/// The policy files of an eval case, named relative to `tests/eval/` as the data harness names
/// them, so the expected decisions' `FILE:LINE:COL` match.
fn case_files(case: &Path, base: &Path) -> Vec<SetFile> {
    let mut paths: Vec<PathBuf> = fs::read_dir(case)
        .expect("case directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rollguard"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| SetFile {
            name: p.strip_prefix(base).unwrap_or(&p).display().to_string(),
            text: fs::read_to_string(&p).expect("policy file"),
            path: p,
        })
        .collect()
}

#[test]
fn the_eval_corpus_decides_the_same_through_the_router() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/eval");
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .expect("tests/eval")
        .flatten()
        .map(|e| e.path())
        .collect();
    cases.sort();
    let mut checked = 0;
    for case in &cases {
        let Ok(want) = fs::read_to_string(case.join("expected.json")) else {
            continue;
        };
        let name = case.file_name().expect("name").to_string_lossy();
        let engine =
            Engine::from_set(&case_files(case, &root)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let service = Service {
            router: Router::new(engine, config()),
        };
        let body = fs::read_to_string(case.join("snapshot.json")).expect("snapshot");
        let (status, got) = service.call("POST", "/v1/decide", None, &body);
        assert_eq!(status, 200, "{name}: {got}");
        let want: Value = serde_json::from_str(&want).expect("expected JSON");
        assert_eq!(got, want, "{name}: the service and the library disagree");
        checked += 1;
    }
    assert!(checked > 150, "only {checked} cases ran");
}

#[test]
fn tokens_bind_the_requester() {
    let tokens = [
        (
            "flagger-secret",
            json!({"kind": "service_account", "id": "flagger"}),
        ),
        (
            "ana-secret",
            json!({"kind": "human", "id": "ana", "groups": ["sre"]}),
        ),
    ];
    let service = Service::new(
        &policy("2%"),
        Config {
            tokens: Some(
                tokens
                    .into_iter()
                    .map(|(t, p)| (t.to_string(), p))
                    .collect(),
            ),
            loopback_hosts_only: false,
            ..config()
        },
    );
    let (status, e) = service.call("POST", "/v1/decide", None, &snapshot(0.05, None));
    assert_eq!(status, 401, "no token");
    assert_eq!(
        e["error"]["message"],
        "this service needs `Authorization: Bearer TOKEN`"
    );
    let (status, e) = service.call("POST", "/v1/decide", Some("guess"), &snapshot(0.05, None));
    assert_eq!(
        (status, &e["error"]["message"]),
        (401, &json!("unknown token"))
    );
    let claim = json!({"kind": "human", "id": "ana"});
    let (status, body) = service.call(
        "POST",
        "/v1/decide",
        Some("flagger-secret"),
        &snapshot(0.05, Some(claim.clone())),
    );
    assert_eq!(status, 403, "a bot claiming to be ana: {body}");
    assert_eq!(body["error"]["path"], "requester");
    let (status, d) = service.call(
        "POST",
        "/v1/decide",
        Some("flagger-secret"),
        &snapshot(0.05, None),
    );
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["decision"], "rollback");
    assert_eq!(d["authorized"], true);
    assert_eq!(d["requester_may"], json!(["halt", "rollback"]));
    let (status, d) = service.call(
        "POST",
        "/v1/decide",
        Some("ana-secret"),
        &snapshot(0.011, Some(claim)),
    );
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        d["requester_may"],
        json!(["halt", "rollback", "promote"]),
        "groups come from the token's principal"
    );
    for path in ["/v1/policies", "/metrics"] {
        let (status, _) = service.call("GET", path, None, "");
        assert_eq!(status, 401, "{path} needs a token");
        let (status, _) = service.call("GET", path, Some("ana-secret"), "");
        assert_eq!(status, 200, "{path} with a token");
    }
    let (status, body) = service.call("GET", "/healthz", None, "");
    assert_eq!((status, body), (200, json!("ok\n")), "probes need no token");
}

#[test]
fn with_tokens_any_host_is_answered_and_the_bearer_scheme_is_case_insensitive() {
    let service = Service::new(
        &policy("2%"),
        Config {
            tokens: Some(
                [(
                    "s3cret".to_string(),
                    json!({"kind": "service_account", "id": "flagger"}),
                )]
                .into(),
            ),
            loopback_hosts_only: false,
            ..config()
        },
    );
    let body = snapshot(0.05, None);
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let auth = format!("{scheme} s3cret");
        let (status, text) = service.send(post(
            "/v1/decide",
            &[
                ("Host", "rollguard.rollguard.svc:8181"),
                ("Content-Type", "application/json"),
                ("Authorization", &auth),
            ],
            &body,
        ));
        assert_eq!(status, 200, "{scheme}: {text}");
    }
    let (status, _) = service.send(post(
        "/v1/decide",
        &[
            ("Host", HOST),
            ("Content-Type", "application/json"),
            ("Authorization", "Basic s3cret"),
        ],
        &body,
    ));
    assert_eq!(status, 401, "another scheme is not a bearer token");
}

#[test]
fn flagger_hooks_answer_with_the_polarity_flagger_acts_on() {
    // Flagger's signals arrive without `observed_at`: a set without freshness gates.
    let service = Service::with_policy(
        r#"use std::http
policy checkout {
  applies when deployment.service == "checkout"
  rollback spike when error_rate > 2 * baseline(error_rate)
  hold warm when error_rate > 1.5 * baseline(error_rate)
}
scope bots { principals [service_account "flagger"] may [halt, rollback] }
"#,
    );
    let hook = |name: &str, rate: &str, requester: bool| {
        service.call(
            "POST",
            &format!("/v1/flagger/{name}"),
            None,
            &flagger_payload(rate, requester),
        )
    };
    let (status, d) = hook("confirm-promotion", "0.011", false);
    assert_eq!(
        (status, d["decision"].as_str()),
        (200, Some("proceed")),
        "{d}"
    );
    let (status, d) = hook("confirm-promotion", "0.016", false);
    assert_eq!(
        (status, d["decision"].as_str()),
        (409, Some("hold")),
        "a hold waits: {d}"
    );
    assert_eq!(d["fired"][0]["rule"], "warm");
    // The rollback hook: 200 only for an authorized rollback.
    let (status, d) = hook("rollback", "0.05", true);
    assert_eq!(
        (status, d["authorized"].as_bool()),
        (200, Some(true)),
        "{d}"
    );
    let (status, d) = hook("rollback", "0.05", false);
    assert_eq!(status, 409, "no requester, not authorized: {d}");
    let (status, _) = hook("rollback", "0.011", true);
    assert_eq!(status, 409, "no rollback decided");
    // The analysis hooks fail only on a rollback.
    let (status, _) = hook("rollout", "0.016", false);
    assert_eq!(status, 200, "a hold is not a failed check");
    let (status, _) = hook("rollout", "0.05", false);
    assert_eq!(status, 409);
    let (status, _) = hook("unknown-hook", "0.05", false);
    assert_eq!(status, 404);
    let (status, e) = service.call(
        "POST",
        "/v1/flagger/rollout",
        None,
        r#"{"name": "x", "namespace": "y", "metadata": {"traffic_percent": 5}}"#,
    );
    assert_eq!(status, 400);
    assert_eq!(e["error"]["path"], "metadata.traffic_percent");
}

#[test]
fn argo_reads_every_decision_as_a_200() {
    let service = Service::with_policy(&policy("2%"));
    for (rate, want) in [(0.05, "rollback"), (0.011, "proceed")] {
        let (status, d) = service.call("POST", "/v1/argo", None, &snapshot(rate, None));
        assert_eq!((status, d["decision"].as_str()), (200, Some(want)));
    }
    let (status, e) = service.call(
        "POST",
        "/v1/argo",
        None,
        r#"{"at": "2026-11-22T10:05:00Z", "deployment": {"service": "checkout"}}"#,
    );
    assert_eq!(status, 400, "only an invalid snapshot is not a 2xx");
    assert_eq!(e["error"]["path"], "deployment.environment");
}

#[test]
fn limits_turn_bad_input_into_400s() {
    let service = Service::new(
        &policy("2%"),
        Config {
            max_body_bytes: 4096,
            ..config()
        },
    );
    let (status, _) = service.call("POST", "/v1/decide", None, &"x".repeat(10_000));
    assert_eq!(status, 413, "too large");
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let (status, e) = service.call("POST", "/v1/decide", None, &deep);
    assert_eq!(status, 400);
    assert!(e["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("nested"));
    let (status, e) = service.call("POST", "/v1/decide", None, "{not json");
    assert_eq!(status, 400, "{e}");
    let (status, e) = service.call(
        "POST",
        "/v1/decide",
        None,
        &snapshot(0.05, None).replace("\"samples\":500", "\"samples\":-1"),
    );
    assert_eq!(status, 400);
    assert_eq!(e["error"]["path"], "signals[\"http.error_rate\"].samples");
    // Still serving after all of that.
    let (status, _) = service.call("POST", "/v1/decide", None, &snapshot(0.05, None));
    assert_eq!(status, 200);
}

/// A body whose bytes never come, as from a client that stops sending.
struct Stalled;

impl hyper::body::Body for Stalled {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        Poll::Pending
    }
}

#[test]
fn every_error_has_the_error_shape() {
    let service = Service::new(
        &policy("2%"),
        Config {
            max_body_bytes: 4096,
            timeout: Duration::from_millis(300),
            ..config()
        },
    );
    let json = ("Content-Type", "application/json");
    let host = ("Host", HOST);
    // A declared length over the limit: refused before the body is read.
    let mut declared = post("/v1/decide", &[host, json], "{");
    declared
        .headers_mut()
        .insert("Content-Length", 100_000.into());
    let (status, body) = service.send(declared);
    let e = shaped(status, &body, 413, "declared too large");
    assert_eq!(
        e["error"]["message"],
        "the body is over the limit of 4096 bytes (--max-body-bytes)"
    );
    // Sent too large without a declared length (chunked): 413 too, with the same words.
    let chunked = http::Request::builder()
        .method("POST")
        .uri("/v1/decide")
        .header("Host", HOST)
        .header("Content-Type", "application/json")
        .body(Body::from("x".repeat(0x2000)))
        .expect("a request");
    let (status, body) = service.send(chunked);
    let e = shaped(status, &body, 413, "sent too large");
    assert_eq!(
        e["error"]["message"],
        "the body is over the limit of 4096 bytes (--max-body-bytes)"
    );
    // A body that never comes: 408 after the timeout.
    let stalled = http::Request::builder()
        .method("POST")
        .uri("/v1/decide")
        .header("Host", HOST)
        .header("Content-Type", "application/json")
        .header("Content-Length", "100")
        .body(Body::new(Stalled))
        .expect("a request");
    let (status, body) = service.send(stalled);
    let e = shaped(status, &body, 408, "too slow");
    assert_eq!(
        e["error"]["message"],
        "the request was not answered within 300 ms (--timeout-ms)"
    );
    // The wrong method, an unknown path, a hook that is not one.
    let (status, body) = service.call("GET", "/v1/decide", None, "");
    let e = shaped(status, &body.to_string(), 405, "GET /v1/decide");
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("`GET` is not allowed on `/v1/decide`")),
        "{e}"
    );
    assert_eq!(
        e["error"]["message"],
        "`GET` is not allowed on `/v1/decide`; allowed: POST"
    );
    let (status, body) = service.call("POST", "/v1/policies", None, "{}");
    let e = shaped(status, &body.to_string(), 405, "POST /v1/policies");
    assert_eq!(
        e["error"]["message"],
        "`POST` is not allowed on `/v1/policies`; allowed: GET,HEAD"
    );
    let (status, body) = service.call("GET", "/nowhere", None, "");
    let e = shaped(status, &body.to_string(), 404, "unknown path");
    assert_eq!(e["error"]["message"], "no such endpoint: `/nowhere`");
    let (status, body) = service.call("GET", "/v1/audit/head", None, "");
    shaped(status, &body.to_string(), 404, "no decision log");
    let payload = flagger_payload("0.011", false);
    for hook in ["nope", "", "a/b", "%FF", "%2e%2e"] {
        let (status, body) = service.send(post(
            &format!("/v1/flagger/{hook}"),
            &[host, json],
            &payload,
        ));
        shaped(status, &body, 404, &format!("hook {hook:?}"));
    }
    // Content-Length and Transfer-Encoding together: as headers, or as the accept loop marks a
    // head that had both (hyper drops Content-Length from such a request).
    let body = snapshot(0.05, None);
    let mut both = post("/v1/decide", &[host, json], &body);
    both.headers_mut()
        .insert("Transfer-Encoding", "chunked".parse().expect("a value"));
    let (status, text) = service.send(both);
    shaped(status, &text, 400, "both framing headers");
    let mut marked = post("/v1/decide", &[host, json], &body);
    marked.extensions_mut().insert(BothLengths);
    let (status, text) = service.send(marked);
    shaped(status, &text, 400, "a head marked as having had both");
    // Still serving.
    let (status, _) = service.call("POST", "/v1/decide", None, &body);
    assert_eq!(status, 200);
}

#[test]
fn browsers_and_foreign_hosts_cannot_drive_the_loopback_service() {
    let dir = scratch("browsers");
    let service = Service::new(
        &policy("2%"),
        Config {
            decision_log: Some(DecisionLog::open(dir.join("d.log")).expect("a log")),
            ..config()
        },
    );
    let json = ("Content-Type", "application/json");
    let host = ("Host", HOST);
    let evil_host = "evil.example:8181";
    let body = snapshot(0.05, None);
    let refused = [
        // A form or `fetch` with a simple content type: no CORS preflight.
        (
            post("/v1/decide", &[host, ("Content-Type", "text/plain")], &body),
            415,
        ),
        (post("/v1/decide", &[host], &body), 415),
        // DNS rebinding: the page's own name resolves to 127.0.0.1.
        (post("/v1/decide", &[("Host", evil_host), json], &body), 403),
        // No `Host` at all is no loopback name either.
        (post("/v1/decide", &[json], &body), 403),
        // A page elsewhere posting to the loopback address.
        (
            post(
                "/v1/decide",
                &[host, json, ("Origin", "http://evil.example")],
                &body,
            ),
            403,
        ),
        (
            post("/v1/decide", &[host, json, ("Origin", "null")], &body),
            403,
        ),
        (
            http::Request::builder()
                .uri("/v1/policies")
                .header("Host", evil_host)
                .body(Body::empty())
                .expect("a request"),
            403,
        ),
    ];
    let refusals = refused.len();
    for (request, want) in refused {
        let what = format!("{} {:?}", request.uri(), request.headers());
        let (status, text) = service.send(request);
        shaped(status, &text, want, &what);
        assert!(!text.contains(&*dir.to_string_lossy()), "{text}");
    }
    let origin = format!("http://{HOST}");
    let accepted = [
        post("/v1/decide", &[host, json], &body),
        post("/v1/decide", &[("Host", "localhost:8181"), json], &body),
        post("/v1/decide", &[("Host", "[::1]:8181"), json], &body),
        post("/v1/decide", &[("Host", "127.9.9.9"), json], &body),
        post(
            "/v1/decide",
            &[host, ("Content-Type", "application/json; charset=utf-8")],
            &body,
        ),
        post("/v1/decide", &[host, json, ("Origin", &origin)], &body),
    ];
    let count = accepted.len();
    for request in accepted {
        let what = format!("{:?}", request.headers());
        let (status, text) = service.send(request);
        assert_eq!(status, 200, "{what}\n{text}");
    }
    let (_, head) = service.call("GET", "/v1/audit/head", None, "");
    assert_eq!(
        head["count"],
        refusals + count,
        "refused requests are not decided, but are logged as refusals"
    );
    let text = fs::read_to_string(dir.join("d.log")).expect("log");
    let kinds: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a record")["kind"].to_string())
        .collect();
    assert!(
        kinds[..refusals].iter().all(|k| k == "\"refusal\"")
            && kinds[refusals..].iter().all(|k| k == "\"decision\""),
        "{kinds:?}"
    );
    // The way Flagger calls: JSON with its content type.
    let (status, _) = service.send(post(
        "/v1/flagger/rollout",
        &[host, json],
        &flagger_payload("0.011", false),
    ));
    assert_eq!(status, 200);
    drop(service);
    let _ = fs::remove_dir_all(dir);
}

fn verify(log: &Path, head: Option<&str>) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollguard"));
    cmd.args(["audit", "verify"]).arg(log);
    if let Some(h) = head {
        cmd.args(["--head", h]);
    }
    let o = cmd.output().expect("runs");
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn the_decision_log_is_a_verifiable_hash_chain() {
    let dir = scratch("log");
    let log = dir.join("decisions.log");
    let head = {
        let service = Service::new(
            &policy("2%"),
            Config {
                decision_log: Some(DecisionLog::open(&log).expect("a log")),
                ..config()
            },
        );
        for rate in [0.05, 0.011, 0.03, 0.02] {
            let (status, _) = service.call("POST", "/v1/decide", None, &snapshot(rate, None));
            assert_eq!(status, 200);
        }
        let (_, h) = service.call("GET", "/v1/audit/head", None, "");
        assert_eq!(h["count"], 4);
        h["last"].as_str().expect("hash").to_string()
    };
    let lines: Vec<String> = fs::read_to_string(&log)
        .expect("log")
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 4);
    let record: Value = serde_json::from_str(&lines[0]).expect("JSON line");
    assert_eq!(record["decision"]["decision"], "rollback");
    assert!(record["snapshot_digest"]
        .as_str()
        .unwrap_or("")
        .starts_with("sha256:"));
    let (code, out) = verify(&log, Some(&head));
    assert_eq!(code, 0, "intact: {out}");

    let write = |ls: &[String]| fs::write(&log, ls.join("\n") + "\n").expect("write");
    let mut edited = lines.clone();
    edited[1] = edited[1].replacen("proceed", "rollback", 1);
    write(&edited);
    let (code, out) = verify(&log, None);
    assert_eq!(code, 1, "edited: {out}");
    assert!(
        out.contains("line 2") || out.contains("line 3"),
        "names the first bad line: {out}"
    );

    let mut swapped = lines.clone();
    swapped.swap(1, 2);
    write(&swapped);
    let (code, out) = verify(&log, None);
    assert_eq!(code, 1, "reordered: {out}");

    write(&lines[..3]);
    let (code, _) = verify(&log, None);
    assert_eq!(code, 0, "a cut tail verifies on its own");
    let (code, out) = verify(&log, Some(&head));
    assert_eq!(code, 1, "but not against the served head: {out}");

    let mut removed = lines.clone();
    removed.remove(1);
    write(&removed);
    let (code, out) = verify(&log, None);
    assert_eq!(code, 1, "removed: {out}");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_replaced_set_serves_and_a_failed_reload_shows_until_it_is_over() {
    let service = Service::with_policy(&policy("2%"));
    let (_, first) = service.call("GET", "/v1/policies", None, "");
    let digest_a = first["digest"].clone();
    assert_eq!(first["policies"], json!(["checkout"]));
    assert!(first["last_reload_error"].is_null(), "{first}");
    assert_eq!(service.metric("rollguard_reload_failing"), "0");

    // A set that does not compile: the error shows, the old set keeps deciding.
    let problem = "p.rollguard:1:35: error[E0002]: `nope` is not declared".to_string();
    service
        .router
        .reload_failed(ReloadError::rejected(vec![problem.clone()]));
    let (_, p) = service.call("GET", "/v1/policies", None, "");
    assert_eq!(p["digest"], digest_a);
    assert_eq!(p["last_reload_error"]["problems"], json!([problem]));
    assert!(p["last_reload_error"]["at"].is_string(), "{p}");
    assert!(p["last_reload_error"].get("file").is_none(), "{p}");
    assert_eq!(service.metric("rollguard_reload_failing"), "1");
    assert_eq!(service.metric("rollguard_reload_failures_total"), "1");
    let (status, d) = service.call("POST", "/v1/decide", None, &snapshot(0.05, None));
    assert_eq!((status, &d["policy_digest"]), (200, &digest_a));

    // The files went back to the served set.
    service.router.reload_recovered();
    let (_, p) = service.call("GET", "/v1/policies", None, "");
    assert!(p["last_reload_error"].is_null(), "{p}");
    assert_eq!(service.metric("rollguard_reload_failing"), "0");

    // A file that cannot be read names the file and the reason.
    service.router.reload_failed(ReloadError::unreadable(
        "pol/q.rollguard",
        "not valid UTF-8 (byte 0xFF at line 1, column 8); save it as UTF-8",
    ));
    let (_, p) = service.call("GET", "/v1/policies", None, "");
    let e = &p["last_reload_error"];
    assert_eq!(e["file"], "pol/q.rollguard");
    assert!(e["reason"].as_str().unwrap_or("").contains("UTF-8"), "{e}");
    assert_eq!(
        e["problems"],
        json!([
            "pol/q.rollguard: not valid UTF-8 (byte 0xFF at line 1, column 8); save it as UTF-8"
        ])
    );
    assert_eq!(service.metric("rollguard_reload_failures_total"), "2");

    // A good set: served from the next request on, the error cleared, the reload counted.
    let next = engine(&policy("5%"));
    let digest_b = json!(next.digest());
    assert_ne!(digest_a, digest_b);
    service.router.replace(next);
    let (_, p) = service.call("GET", "/v1/policies", None, "");
    assert_eq!(p["digest"], digest_b);
    assert!(p["last_reload_error"].is_null(), "{p}");
    assert_eq!(service.router.engine().digest(), digest_b);
    assert_eq!(service.metric("rollguard_reloads_total"), "1");
    assert_eq!(service.metric("rollguard_reload_failing"), "0");
    let (status, d) = service.call("POST", "/v1/decide", None, &snapshot(0.05, None));
    assert_eq!((status, &d["policy_digest"]), (200, &digest_b));
    for outcome in ["rollback", "proceed"] {
        assert_eq!(
            service.metric(&format!(
                "rollguard_decisions_total{{policy=\"checkout\",decision=\"{outcome}\"}}"
            )),
            "1",
            "one decision from each set"
        );
    }
}
