//! Who may ask and whose approval counts: the service's authentication (JWT issuers with their
//! key sets, static tokens with expiry, mesh client certificates from trusted proxies,
//! capability URLs) through the router in-process, signed approvals through the library and
//! the router, and `rollguard keygen` + `approve` + `eval --trust` end to end. Every key, token
//! and certificate header is made here; nothing reaches the network.
#![cfg(feature = "serve")]

use std::fs;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rollguard::identity::Identity;
use rollguard::service::{Config, Peer, Request, Router, Security};
use rollguard::trust::{self, Statement, Trust};
use rollguard::Engine;
use serde_json::{json, Value};

mod service_inputs;
use service_inputs::{flagger_payload, policy, snapshot};

const HOST: &str = "127.0.0.1:8181";
const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "rollguard";

fn block_on<F: Future>(f: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
    }
    RUNTIME.with(|r| r.block_on(f))
}

fn config() -> Config {
    Config {
        tokens: None,
        decision_log: None,
        max_body_bytes: 1 << 20,
        max_depth: 64,
        timeout: Duration::from_secs(5),
        loopback_hosts_only: false,
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("identity-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("mkdir");
    dir
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs() as i64
}

/// An Ed25519 key of a test issuer: its PEM private key and its JWK with this `kid`.
struct Key {
    pem: String,
    jwk: Value,
}

impl Key {
    fn new(kid: &str) -> Key {
        let (pem, x) = trust::generate_key().expect("a key");
        Key {
            pem,
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}),
        }
    }

    /// A JWT with these claims, signed by this key and naming `kid`.
    fn sign(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_ed_pem(self.pem.as_bytes()).expect("a PEM key"),
        )
        .expect("signed")
    }

    fn token(&self, claims: &Value) -> String {
        self.sign(self.jwk["kid"].as_str().expect("kid"), claims)
    }
}

fn jwks(keys: &[&Key]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}).to_string()
}

/// Claims of a CI workload of the test issuer, valid for five minutes.
fn claims(sub: &str) -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "exp": now() + 300, "iat": now(), "groups": ["deployers"]})
}

struct Service {
    router: Router,
}

impl Service {
    fn new(policy: &str, security: Security) -> Service {
        let engine = Engine::from_sources(&[("p.rollguard", policy)]).expect("compiles");
        Service {
            router: Router::secured(engine, config(), security),
        }
    }

    fn send(&self, request: Request) -> (u16, Value) {
        block_on(async {
            let response = self.router.handle(request).await;
            let status = response.status().as_u16();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("a body");
            let text = String::from_utf8_lossy(&body).into_owned();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        })
    }

    /// A POST of JSON from `peer`, with these extra headers.
    fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        peer: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        let mut r = http::Request::builder()
            .method("POST")
            .uri(path)
            .header("Host", HOST)
            .header("Content-Type", "application/json")
            .header("Content-Length", body.len());
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let mut request = r.body(Body::from(body.to_string())).expect("a request");
        if let Some(p) = peer {
            let addr: SocketAddr = p.parse().expect("an address");
            request.extensions_mut().insert(Peer(addr));
        }
        self.send(request)
    }

    fn bearer(&self, token: &str, body: &str) -> (u16, Value) {
        let auth = format!("Bearer {token}");
        self.post("/v1/decide", &[("Authorization", &auth)], None, body)
    }
}

fn identity(config: Value, dir: &Path) -> Arc<Identity> {
    let file = dir.join("identity.json");
    fs::write(&file, config.to_string()).expect("write");
    Arc::new(Identity::load(&file).expect("a good identity file"))
}

fn issuer_config(jwks_file: &str) -> Value {
    json!({"issuer": ISSUER, "audiences": [AUDIENCE], "jwks_file": jwks_file,
           "principal": {"kind": "service_account", "groups_claim": "groups"}})
}

fn message(v: &Value) -> String {
    v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn jwt_requesters_are_verified_and_their_groups_come_from_the_issuer() {
    let dir = scratch("jwt");
    let key = Key::new("k1");
    fs::write(dir.join("jwks.json"), jwks(&[&key])).expect("write");
    let id = identity(json!({"issuers": [issuer_config("jwks.json")]}), &dir);
    let service = Service::new(&policy("2%"), Security::new(Some(id), None));

    let (status, d) = service.bearer(&key.token(&claims("ci")), &snapshot(0.011, None));
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["decision"], "proceed");

    // The snapshot claims group `sre` (which may promote); the token says `deployers` only.
    let claimed = json!({"kind": "service_account", "id": "ci", "groups": ["sre"]});
    let (status, d) = service.bearer(&key.token(&claims("ci")), &snapshot(0.011, Some(claimed)));
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        d["authorized"], false,
        "groups claimed in the snapshot count for nothing: {d}"
    );
    assert_eq!(d["requester_may"], json!([]), "{d}");

    let mut bad = Vec::new();
    let mut expired = claims("ci");
    expired["exp"] = json!(now() - 3600);
    bad.push(("expired", key.token(&expired), "expired"));
    let mut early = claims("ci");
    early["nbf"] = json!(now() + 3600);
    bad.push(("not yet valid", key.token(&early), "not valid yet"));
    let mut other_aud = claims("ci");
    other_aud["aud"] = json!("someone-else");
    bad.push(("wrong audience", key.token(&other_aud), "aud"));
    let mut other_iss = claims("ci");
    other_iss["iss"] = json!("https://elsewhere.example");
    bad.push(("wrong issuer", key.token(&other_iss), "not configured"));
    // Another key claiming to be `k1`.
    let forger = Key::new("k1");
    bad.push(("badly signed", forger.token(&claims("ci")), "signature"));
    bad.push(("not a JWT", "not-a-token".to_string(), "unknown token"));
    for (what, token, says) in bad {
        let (status, e) = service.bearer(&token, &snapshot(0.011, None));
        assert_eq!(status, 401, "{what}: {e}");
        assert!(message(&e).contains(says), "{what}: {e}");
        assert!(
            !e.to_string().contains(&token),
            "{what}: the token is never echoed"
        );
    }
}

#[test]
fn a_refused_token_names_whom_it_claimed_to_be() {
    let key = Key::new("k1");
    let id = Identity::new(
        serde_json::from_value(
            json!({"issuers": [{"issuer": ISSUER, "audiences": [AUDIENCE],
            "jwks": {"keys": [key.jwk.clone()]}}]}),
        )
        .expect("config"),
        None,
    )
    .expect("identity");
    let mut expired = claims("ci-bot");
    expired["exp"] = json!(now() - 3600);
    let token = key.token(&expired);
    let refused = id
        .authenticate(&rollguard::identity::Credentials::new(
            Some(token.as_str()),
            None,
            None,
            None,
        ))
        .expect_err("expired");
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.claimed,
        Some(json!({"iss": ISSUER, "sub": "ci-bot"}))
    );
    let ok = id
        .authenticate(&rollguard::identity::Credentials::new(
            Some(&key.token(&claims("ci-bot"))),
            None,
            None,
            None,
        ))
        .expect("valid");
    assert_eq!(ok.via, format!("jwt {ISSUER}"));
    assert_eq!(ok.principal["id"], "ci-bot");
}

#[test]
fn a_rotated_key_is_picked_up_by_the_next_refresh() {
    let dir = scratch("rotate");
    let (old, new) = (Key::new("k1"), Key::new("k2"));
    let jwks_file = dir.join("jwks.json");
    fs::write(&jwks_file, jwks(&[&old])).expect("write");
    let id = identity(
        json!({"issuers": [{"issuer": ISSUER, "audiences": [AUDIENCE], "jwks_file": "jwks.json", "refresh_seconds": 3600}]}),
        &dir,
    );
    let service = Service::new(&policy("2%"), Security::new(Some(id.clone()), None));
    let issuer = &id.issuers()[0];
    assert!(!issuer.due(Instant::now()), "just read");
    let (status, e) = service.bearer(&new.token(&claims("ci")), &snapshot(0.011, None));
    assert_eq!(status, 401, "{e}");
    assert!(message(&e).contains("`k2` is not among"), "{e}");
    // An unknown key asks for an early refresh, well before the hour is up.
    assert!(issuer.due(Instant::now() + Duration::from_secs(11)));
    fs::write(&jwks_file, jwks(&[&new])).expect("rotate");
    // What `rollguard serve` does on its tick.
    issuer
        .set_jwks(&fs::read(&jwks_file).expect("read"))
        .expect("a good set");
    let (status, d) = service.bearer(&new.token(&claims("ci")), &snapshot(0.011, None));
    assert_eq!(status, 200, "{d}");
    let (status, _) = service.bearer(&old.token(&claims("ci")), &snapshot(0.011, None));
    assert_eq!(status, 401, "the retired key is gone");
    // A broken key set keeps the keys there were.
    assert!(issuer.set_jwks(b"{\"keys\": []}").is_err());
    let (status, _) = service.bearer(&new.token(&claims("ci")), &snapshot(0.011, None));
    assert_eq!(status, 200);
}

#[test]
fn static_tokens_expire() {
    let dir = scratch("static");
    let p = json!({"kind": "service_account", "id": "dev"});
    let id = identity(
        json!({"tokens": [
            {"token": "old-token", "principal": p, "expires": "2020-01-01T00:00:00Z"},
            {"token": "new-token", "principal": p, "expires": "2999-01-01T00:00:00Z"},
            {"token": "forever", "principal": p}
        ]}),
        &dir,
    );
    let service = Service::new(&policy("2%"), Security::new(Some(id), None));
    let (status, e) = service.bearer("old-token", &snapshot(0.011, None));
    assert_eq!(status, 401, "{e}");
    assert!(message(&e).contains("expired"), "{e}");
    assert_eq!(service.bearer("new-token", &snapshot(0.011, None)).0, 200);
    assert_eq!(service.bearer("forever", &snapshot(0.011, None)).0, 200);
}

/// The Flagger policy of `tests/service.rs`: without freshness gates (Flagger sends no
/// `observed_at`), bots may halt and roll back.
const FLAGGER_POLICY: &str = r#"use std::http
policy checkout {
  applies when deployment.service == "checkout"
  rollback spike when error_rate > 2 * baseline(error_rate)
  hold warm when error_rate > 1.5 * baseline(error_rate)
}
scope bots { principals [service_account "flagger"] may [halt, rollback] }
"#;

const FLAGGER_SPIFFE: &str = "spiffe://cluster.local/ns/flagger/sa/flagger";
const SECRET: &str = "k3Vq9xZt2LmB7wYp4RnD8sHc6FjA1eGu";

fn flagger_service(dir: &Path) -> Service {
    let id = identity(
        json!({
            "mesh": {"trusted_proxies": ["127.0.0.9"],
                     "identities": {FLAGGER_SPIFFE: {"kind": "service_account", "id": "flagger"}}},
            "capabilities": [{"name": "flagger-prod", "secret": SECRET, "hooks": ["rollback", "confirm-promotion"],
                              "principal": {"kind": "service_account", "id": "flagger"}}]
        }),
        dir,
    );
    Service::new(FLAGGER_POLICY, Security::new(Some(id), None))
}

#[test]
fn flagger_with_a_mesh_identity_from_a_trusted_proxy() {
    let service = flagger_service(&scratch("mesh"));
    let xfcc = format!(
        "By=spiffe://cluster.local/ns/prod/sa/rollguard;Hash=0f1e2d;Subject=\"\";URI={FLAGGER_SPIFFE}"
    );
    let headers = [("X-Forwarded-Client-Cert", xfcc.as_str())];
    let body = flagger_payload("0.05", false);
    let (status, d) = service.post(
        "/v1/flagger/rollback",
        &headers,
        Some("127.0.0.9:41000"),
        &body,
    );
    assert_eq!((status, &d["authorized"]), (200, &json!(true)), "{d}");
    let (status, d) = service.post(
        "/v1/flagger/confirm-promotion",
        &headers,
        Some("127.0.0.9:41000"),
        &flagger_payload("0.011", false),
    );
    assert_eq!(
        (status, d["decision"].as_str()),
        (200, Some("proceed")),
        "{d}"
    );
    // The same header from anyone else is not believed.
    let (status, e) = service.post(
        "/v1/flagger/rollback",
        &headers,
        Some("127.0.0.10:41000"),
        &body,
    );
    assert_eq!(status, 401, "{e}");
    assert!(message(&e).contains("trusted proxy"), "{e}");
    let (status, _) = service.post("/v1/flagger/rollback", &headers, None, &body);
    assert_eq!(status, 401, "no peer known, no trust");
    // A trusted proxy forwarding an identity nobody mapped.
    let stranger = [(
        "X-Forwarded-Client-Cert",
        "URI=spiffe://cluster.local/ns/x/sa/y",
    )];
    let (status, e) = service.post(
        "/v1/flagger/rollback",
        &stranger,
        Some("127.0.0.9:1"),
        &body,
    );
    assert_eq!(status, 401, "{e}");
}

#[test]
fn flagger_with_a_capability_url() {
    let service = flagger_service(&scratch("capability"));
    let body = flagger_payload("0.05", false);
    let (status, d) = service.post(
        &format!("/v1/flagger/rollback/cap/{SECRET}"),
        &[],
        None,
        &body,
    );
    assert_eq!((status, &d["authorized"]), (200, &json!(true)), "{d}");
    let (status, d) = service.post(
        &format!("/v1/flagger/confirm-promotion/cap/{SECRET}"),
        &[],
        None,
        &flagger_payload("0.016", false),
    );
    assert_eq!((status, d["decision"].as_str()), (409, Some("hold")), "{d}");
    // A capability is for its hooks only.
    let (status, e) = service.post(
        &format!("/v1/flagger/rollout/cap/{SECRET}"),
        &[],
        None,
        &body,
    );
    assert_eq!(status, 401, "{e}");
    let wrong = "x".repeat(32);
    let (status, e) = service.post(
        &format!("/v1/flagger/rollback/cap/{wrong}"),
        &[],
        None,
        &body,
    );
    assert_eq!(status, 401, "{e}");
    assert!(
        !e.to_string().contains(&wrong),
        "the secret is never echoed: {e}"
    );
    // Nor in the answers made before a handler runs.
    let request = http::Request::builder()
        .method("GET")
        .uri(format!("/v1/flagger/rollback/cap/{SECRET}"))
        .header("Host", HOST)
        .body(Body::empty())
        .expect("a request");
    let (status, e) = service.send(request);
    assert_eq!(status, 405, "{e}");
    assert!(!e.to_string().contains(SECRET), "{e}");
    let (status, e) = service.post(
        &format!("/v1/flagger/rollback/cap/{SECRET}/more"),
        &[],
        None,
        &body,
    );
    assert_eq!(status, 404, "{e}");
    assert!(!e.to_string().contains(SECRET), "{e}");
    // Without a credential at all.
    let (status, _) = service.post("/v1/flagger/rollback", &[], None, &body);
    assert_eq!(status, 401);
}

const APPROVAL_POLICY: &str = r#"
policy release {
  applies when deployment.service == "orders"
  approval review requires 1 of group "dba"
}
"#;

/// An `orders` deployment of revision r2 at `at`, with these approval entries.
fn approval_snapshot(at: &str, approvals: Value) -> Value {
    json!({
        "at": at,
        "deployment": {"service": "orders", "environment": "production", "revision": "r2",
                       "actor": {"kind": "agent", "id": "release-bot"}, "approvals": approvals}
    })
}

struct Approvers {
    ana: String,
    trust: Trust,
}

fn approvers() -> Approvers {
    let (ana, public) = trust::generate_key().expect("a key");
    let trust = Trust::from_json(
        json!({"approvers": [{"public_key": public, "principal": {"kind": "human", "id": "ana", "groups": ["dba"]}}]})
            .to_string()
            .as_bytes(),
        None,
    )
    .expect("a trust file");
    Approvers { ana, trust }
}

const AT: &str = "2026-11-22T10:05:00Z";
const AT_SECS: i64 = 1_795_341_900;

fn statement(key: &str, service: &str, revision: &str, reject: bool, exp: i64) -> String {
    trust::sign(
        key,
        &Statement::new(service, "production", revision, reject, AT_SECS - 60, exp),
    )
    .expect("signed")
}

#[test]
fn only_verified_approvals_count() {
    let a = approvers();
    let engine = Engine::from_sources(&[("p.rollguard", APPROVAL_POLICY)]).expect("compiles");
    let decide = |entries: Value| {
        engine
            .decide_value_trusted(approval_snapshot(AT, entries), &a.trust, None)
            .expect("a decision")
    };
    let agent_claims =
        json!([{"principal": {"kind": "human", "id": "ana", "groups": ["dba"]}, "revision": "r2"}]);
    // Without trust the agent's own entry counts, and the decision says it was not verified.
    let d = engine
        .decide_value(approval_snapshot(AT, agent_claims.clone()))
        .expect("a decision");
    assert_eq!(d.decision.as_str(), "proceed");
    assert!(!d.approvals.verified);
    assert!(d.to_human().contains("approvals unverified"));
    // Under trust it is ignored, and the decision holds.
    let d = decide(agent_claims);
    assert_eq!(d.decision.as_str(), "hold");
    assert!(d.approvals.verified);
    let j = serde_json::to_value(&d).expect("json");
    assert_eq!(j["approvals"]["ignored"][0]["index"], 0);
    assert_eq!(
        j["approvals"]["ignored"][0]["principal"],
        json!({"kind": "human", "id": "ana"})
    );
    assert!(j["approvals"]["ignored"][0]["reason"]
        .as_str()
        .expect("reason")
        .contains("unsigned"));

    let good = statement(&a.ana, "orders", "r2", false, AT_SECS + 3600);
    // Signed: counts, and the principal is the key's whatever the entry says.
    let d = decide(json!([{"principal": {"kind": "human", "id": "someone"}, "statement": good}]));
    assert_eq!(d.decision.as_str(), "proceed", "{}", d.to_json());
    assert!(d.approvals.ignored.is_empty());

    let cases = [
        (
            "another revision",
            statement(&a.ana, "orders", "r1", false, AT_SECS + 3600),
            "revision `r1`",
        ),
        (
            "another service",
            statement(&a.ana, "billing", "r2", false, AT_SECS + 3600),
            "service `billing`",
        ),
        (
            "expired",
            statement(&a.ana, "orders", "r2", false, AT_SECS - 1),
            "expired",
        ),
        (
            "an unknown key",
            statement(
                &trust::generate_key().expect("key").0,
                "orders",
                "r2",
                false,
                AT_SECS + 3600,
            ),
            "not trusted",
        ),
        (
            "tampered",
            {
                let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
                let body = json!({"service": "orders", "environment": "production", "revision": "r3",
                              "verdict": "approve", "iat": AT_SECS, "exp": AT_SECS + 3600});
                use base64::Engine as _;
                parts[1] =
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body.to_string());
                parts.join(".")
            },
            "signature",
        ),
    ];
    for (what, s, says) in cases {
        let d = decide(json!([{"principal": {"kind": "human", "id": "ana"}, "statement": s}]));
        assert_eq!(d.decision.as_str(), "hold", "{what}: {}", d.to_json());
        let reason = &d.approvals.ignored[0].reason;
        assert!(reason.contains(says), "{what}: {reason}");
    }

    // A signed rejection halts, even beside an approval signed earlier.
    let reject = statement(&a.ana, "orders", "r2", true, AT_SECS + 3600);
    let d = decide(json!([{"principal": {"kind": "human", "id": "ana"}, "statement": reject}]));
    assert_eq!(d.decision.as_str(), "halt", "{}", d.to_json());
    assert_eq!(d.approvals.rejected[0].rejected_by.id, "ana");

    // The evaluation's clock can be given: the same statement at a later time has expired.
    let d = engine
        .decide_value_trusted(
            approval_snapshot(
                AT,
                json!([{"principal": {"kind": "human", "id": "ana"}, "statement": good}]),
            ),
            &a.trust,
            Some(AT_SECS + 7200),
        )
        .expect("a decision");
    assert_eq!(d.decision.as_str(), "hold");
}

#[test]
fn the_service_verifies_approvals_at_its_own_time() {
    let a = approvers();
    let service = Service::new(
        APPROVAL_POLICY,
        Security::new(None, Some(Arc::new(a.trust))),
    );
    let sign = |exp: i64| {
        trust::sign(
            &a.ana,
            &Statement::new("orders", "production", "r2", false, now() - 60, exp),
        )
        .expect("signed")
    };
    // The snapshot says it is 2026; the service's clock decides whether the statement expired.
    let at = chrono::DateTime::from_timestamp(now(), 0)
        .expect("now")
        .to_rfc3339();
    let body = |s: String| {
        approval_snapshot(
            &at,
            json!([{"principal": {"kind": "human", "id": "ana"}, "statement": s}]),
        )
        .to_string()
    };
    let (status, d) = service.post("/v1/decide", &[], None, &body(sign(now() + 3600)));
    assert_eq!(
        (status, d["decision"].as_str()),
        (200, Some("proceed")),
        "{d}"
    );
    assert_eq!(d["approvals"]["verified"], true);
    let (status, d) = service.post("/v1/decide", &[], None, &body(sign(now() - 10)));
    assert_eq!((status, d["decision"].as_str()), (200, Some("hold")), "{d}");
    assert!(d["approvals"]["ignored"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("expired"));
}

fn rollguard(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rollguard"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("rollguard runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn keygen_approve_and_eval_with_trust() {
    let dir = scratch("cli");
    fs::write(dir.join("p.rollguard"), APPROVAL_POLICY).expect("write");
    let (code, record, err) = rollguard(&["keygen", "--out", "ana.key"], &dir);
    assert_eq!(code, 0, "{err}");
    let mut record: Value = serde_json::from_str(&record).expect("a JSON record");
    record["principal"] = json!({"kind": "human", "id": "ana", "groups": ["dba"]});
    fs::write(
        dir.join("trust.json"),
        json!({"approvers": [record]}).to_string(),
    )
    .expect("write");
    let (code, _, err) = rollguard(&["keygen", "--out", "ana.key"], &dir);
    assert_eq!(code, 2, "a key is never overwritten");
    assert!(err.contains("ana.key"), "{err}");

    let (code, jws, err) = rollguard(
        &[
            "approve",
            "--key",
            "ana.key",
            "--service",
            "orders",
            "--environment",
            "production",
            "--revision",
            "r2",
            "--expires",
            "2h",
        ],
        &dir,
    );
    assert_eq!(code, 0, "{err}");
    let at = chrono::DateTime::from_timestamp(now(), 0)
        .expect("now")
        .to_rfc3339();
    let snap = approval_snapshot(
        &at,
        json!([{"principal": {"kind": "human", "id": "ana"}, "statement": jws.trim()}]),
    );
    fs::write(dir.join("signed.json"), snap.to_string()).expect("write");
    let unsigned = approval_snapshot(
        &at,
        json!([{"principal": {"kind": "human", "id": "ana", "groups": ["dba"]}, "revision": "r2"}]),
    );
    fs::write(dir.join("unsigned.json"), unsigned.to_string()).expect("write");

    let eval = |snapshot: &str, extra: &[&str]| {
        let mut args = vec![
            "eval",
            "p.rollguard",
            "--snapshot",
            snapshot,
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let (code, out, err) = rollguard(&args, &dir);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<Value>(&out).expect("a decision")
    };
    let d = eval("signed.json", &["--trust", "trust.json"]);
    assert_eq!(d["decision"], "proceed", "{d}");
    assert_eq!(d["approvals"]["verified"], true);
    let d = eval("unsigned.json", &["--trust", "trust.json"]);
    assert_eq!(d["decision"], "hold", "{d}");
    let d = eval("unsigned.json", &[]);
    assert_eq!(
        (d["decision"].as_str(), &d["approvals"]["verified"]),
        (Some("proceed"), &json!(false))
    );
    // Judged three hours later, the two-hour statement has expired.
    let later = chrono::DateTime::from_timestamp(now() + 3 * 3600, 0)
        .expect("t")
        .to_rfc3339();
    let d = eval("signed.json", &["--trust", "trust.json", "--now", &later]);
    assert_eq!(d["decision"], "hold", "{d}");
    let (code, out, _) = rollguard(
        &["eval", "p.rollguard", "--snapshot", "unsigned.json"],
        &dir,
    );
    assert_eq!(code, 0);
    assert!(out.contains("approvals unverified"), "{out}");

    let (code, _, err) = rollguard(
        &[
            "approve",
            "--key",
            "missing.key",
            "--service",
            "orders",
            "--environment",
            "production",
            "--revision",
            "r2",
        ],
        &dir,
    );
    assert_eq!(code, 2);
    assert!(err.contains("missing.key"), "{err}");
    fs::write(
        dir.join("bad-trust.json"),
        r#"{"approvers": [{"public_key": "nope", "principal": {"kind": "human", "id": "x"}}]}"#,
    )
    .expect("write");
    let (code, _, err) = rollguard(
        &[
            "eval",
            "p.rollguard",
            "--snapshot",
            "signed.json",
            "--trust",
            "bad-trust.json",
        ],
        &dir,
    );
    assert_eq!(code, 2);
    assert!(err.contains("public_key"), "{err}");
}

/// A decision the service made with verified approvals is derived again by `audit replay` given
/// the same trust file, at the record's own time; without it, replay says what it needs.
#[test]
fn replay_derives_verified_approvals_again_with_the_trust_file() {
    use rollguard::audit::DecisionLog;
    use rollguard::replay;
    let dir = scratch("replay-trust");
    let a = approvers();
    let log = dir.join("decisions.jsonl");
    let recorded = replay::compile_recording(&[rollguard::SetFile {
        name: "p.rollguard".into(),
        path: dir.join("p.rollguard"),
        text: APPROVAL_POLICY.into(),
    }])
    .expect("compiles");
    replay::archive(&replay::sets_dir(&log), &recorded).expect("archived");
    let trust = Arc::new(a.trust);
    let service = Service {
        router: Router::secured(
            recorded.engine.clone(),
            Config {
                decision_log: Some(DecisionLog::open(&log).expect("a log")),
                ..config()
            },
            Security::new(None, Some(trust.clone())),
        ),
    };
    let statement = trust::sign(
        &a.ana,
        &Statement::new(
            "orders",
            "production",
            "r2",
            false,
            now() - 60,
            now() + 3600,
        ),
    )
    .expect("signed");
    let at = chrono::DateTime::from_timestamp(now(), 0)
        .expect("now")
        .to_rfc3339();
    let body = approval_snapshot(
        &at,
        json!([{"principal": {"kind": "human", "id": "ana"}, "statement": statement},
               {"principal": {"kind": "human", "id": "bo", "groups": ["dba"]}, "revision": "r2"}]),
    );
    let (status, d) = service.post("/v1/decide", &[], None, &body.to_string());
    assert_eq!(
        (status, d["approvals"]["verified"].clone()),
        (200, json!(true)),
        "{d}"
    );
    drop(service);

    let r = replay::replay(&log, &replay::sets_dir(&log), Some(&trust)).expect("verifies");
    assert_eq!(r.decisions, 1, "{r:?}");
    assert!(r.differences.is_empty(), "{:?}", r.differences);
    let r = replay::replay(&log, &replay::sets_dir(&log), None).expect("verifies");
    assert_eq!(r.differences.len(), 1, "{:?}", r.differences);
    assert_eq!(r.differences[0].field, "approvals.verified");
    assert!(r.differences[0].detail.contains("--trust"));
}
