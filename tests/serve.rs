//! `rollguard serve`, driven over real loopback HTTP: the binary started by the test, a real
//! HTTP client, real files for hot reload, tokens and the decision log.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;

struct Server {
    child: Child,
    base: String,
}

/// `rollguard serve` on a free loopback port, with the test's reload interval unless `args` sets
/// one: the arguments after `serve`.
fn serve_args(args: &[&str]) -> Vec<String> {
    let mut all = vec!["serve".to_string(), "--addr".into(), "127.0.0.1:0".into()];
    if !args.contains(&"--reload-interval-ms") {
        all.extend(["--reload-interval-ms".into(), "100".into()]);
    }
    all.extend(args.iter().map(|a| a.to_string()));
    all
}

impl Server {
    fn start(cwd: &Path, args: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollguard"));
        cmd.args(serve_args(args)).stderr(Stdio::null());
        Server::spawn(cmd, cwd)
    }

    /// The server with its stderr written to `log`.
    fn start_logging(cwd: &Path, args: &[&str], log: &Path) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollguard"));
        cmd.args(serve_args(args))
            .stderr(fs::File::create(log).expect("stderr file"));
        Server::spawn(cmd, cwd)
    }

    fn spawn(mut cmd: Command, cwd: &Path) -> Server {
        let mut child = cmd
            .current_dir(cwd)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("a line");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Server {
            child,
            base: format!("http://{addr}"),
        }
    }

    fn call(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        let url = format!("{}{path}", self.base);
        let response = if method == "GET" {
            let mut r = agent.get(&url);
            if let Some(t) = token {
                r = r.header("Authorization", &format!("Bearer {t}"));
            }
            r.call()
        } else {
            let mut r = agent.post(&url).header("Content-Type", "application/json");
            if let Some(t) = token {
                r = r.header("Authorization", &format!("Bearer {t}"));
            }
            r.send(body)
        };
        let mut response = response.expect("the request completes");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rollguard-serve-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("mkdir");
    dir
}

fn policy(threshold: &str) -> String {
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

fn snapshot(error_rate: f64, requester: Option<Value>) -> String {
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

#[test]
fn the_eval_corpus_decides_the_same_over_http() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/eval");
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .expect("tests/eval")
        .flatten()
        .map(|e| e.path())
        .collect();
    cases.sort();
    let mut checked = 0;
    // Every fourth case keeps the run short; together with the library harness over all of them.
    for case in cases.iter().step_by(4) {
        let expected = case.join("expected.json");
        let Ok(want) = fs::read_to_string(&expected) else {
            continue;
        };
        let name = case
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        let server = Server::start(&root, &["--policies", &name]);
        let body = fs::read_to_string(case.join("snapshot.json")).expect("snapshot");
        let (status, got) = server.call("POST", "/v1/decide", None, &body);
        assert_eq!(status, 200, "{name}: {got}");
        let want: Value = serde_json::from_str(&want).expect("expected JSON");
        assert_eq!(got, want, "{name}: the service and the library disagree");
        checked += 1;
    }
    assert!(checked > 40, "only {checked} cases ran");
}

#[test]
fn reload_swaps_sets_atomically_and_keeps_the_last_good_one() {
    let dir = scratch("reload");
    fs::write(dir.join("p.rollguard"), policy("2%")).expect("write");
    let server = Arc::new(Server::start(&dir, &["--policies", "."]));
    let (_, first) = server.call("GET", "/v1/policies", None, "");
    let digest_a = first["digest"].as_str().expect("digest").to_string();

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let digests = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (server, stop, failures, digests) = (
            server.clone(),
            stop.clone(),
            failures.clone(),
            digests.clone(),
        );
        clients.push(std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let (status, d) = server.call("POST", "/v1/decide", None, &snapshot(0.03, None));
                if status != 200 {
                    failures.fetch_add(1, Ordering::Relaxed);
                } else {
                    digests
                        .lock()
                        .expect("lock")
                        .insert(d["policy_digest"].as_str().unwrap_or("").to_string());
                }
                n += 1;
            }
            n
        }));
    }
    std::thread::sleep(Duration::from_millis(300));
    // A good change: a new digest appears.
    fs::write(dir.join("p.rollguard"), policy("5%")).expect("write");
    let deadline = Instant::now() + Duration::from_secs(10);
    let digest_b = loop {
        let (_, p) = server.call("GET", "/v1/policies", None, "");
        let d = p["digest"].as_str().unwrap_or("").to_string();
        if d != digest_a {
            break d;
        }
        assert!(Instant::now() < deadline, "the change was never picked up");
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(300));
    // A bad change: rejected, the last good set keeps serving, the error is visible.
    fs::write(
        dir.join("p.rollguard"),
        "policy checkout { halt x when nope }",
    )
    .expect("write");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, p) = server.call("GET", "/v1/policies", None, "");
        if !p["last_reload_error"].is_null() {
            assert_eq!(p["digest"], digest_b.as_str());
            assert!(p["last_reload_error"].to_string().contains("E0002"), "{p}");
            break;
        }
        assert!(Instant::now() < deadline, "the bad set was never reported");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let requests: usize = clients.into_iter().map(|c| c.join().expect("client")).sum();
    assert!(requests > 20, "only {requests} requests");
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "requests failed during reloads"
    );
    let seen = digests.lock().expect("lock").clone();
    assert!(
        seen.iter().all(|d| *d == digest_a || *d == digest_b),
        "a decision came from neither set: {seen:?}"
    );
    let (_, m) = server.call("GET", "/metrics", None, "");
    let m = m.as_str().unwrap_or_default().to_string();
    assert!(m.contains("rollguard_reloads_total 1"), "{m}");
    assert!(m.contains("rollguard_reload_failures_total 1"), "{m}");
    assert!(
        m.contains("rollguard_decisions_total{policy=\"checkout\",decision=\"proceed\"}"),
        "{m}"
    );
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn tokens_bind_the_requester() {
    let dir = scratch("auth");
    fs::write(dir.join("p.rollguard"), policy("2%")).expect("write");
    fs::write(
        dir.join("tokens.json"),
        json!([
            {"token": "flagger-secret", "principal": {"kind": "service_account", "id": "flagger"}},
            {"token": "ana-secret", "principal": {"kind": "human", "id": "ana", "groups": ["sre"]}}
        ])
        .to_string(),
    )
    .expect("write");
    let server = Server::start(&dir, &["--policies", ".", "--tokens", "tokens.json"]);
    let (status, _) = server.call("POST", "/v1/decide", None, &snapshot(0.05, None));
    assert_eq!(status, 401, "no token");
    let (status, _) = server.call("POST", "/v1/decide", Some("guess"), &snapshot(0.05, None));
    assert_eq!(status, 401, "wrong token");
    let claim = json!({"kind": "human", "id": "ana"});
    let (status, body) = server.call(
        "POST",
        "/v1/decide",
        Some("flagger-secret"),
        &snapshot(0.05, Some(claim.clone())),
    );
    assert_eq!(status, 403, "a bot claiming to be ana: {body}");
    let (status, d) = server.call(
        "POST",
        "/v1/decide",
        Some("flagger-secret"),
        &snapshot(0.05, None),
    );
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["decision"], "rollback");
    assert_eq!(d["authorized"], true);
    assert_eq!(d["requester_may"], json!(["halt", "rollback"]));
    let (status, d) = server.call(
        "POST",
        "/v1/decide",
        Some("ana-secret"),
        &snapshot(0.011, Some(claim)),
    );
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        d["requester_may"],
        json!(["halt", "rollback", "promote"]),
        "groups come from the tokens file"
    );
    let (status, _) = server.call("GET", "/healthz", None, "");
    assert_eq!(status, 200, "probes need no token");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn without_tokens_it_refuses_to_listen_beyond_loopback() {
    let dir = scratch("bind");
    fs::write(dir.join("p.rollguard"), policy("2%")).expect("write");
    let o = Command::new(env!("CARGO_BIN_EXE_rollguard"))
        .args(["serve", "--policies", ".", "--addr", "0.0.0.0:0"])
        .current_dir(&dir)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--insecure-listen"));
    let _ = fs::remove_dir_all(dir);
}

fn flagger_payload(error_rate: &str, requester: bool) -> String {
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

#[test]
fn flagger_hooks_answer_with_the_polarity_flagger_acts_on() {
    let dir = scratch("flagger");
    // Flagger's signals arrive without `observed_at`: a set without freshness gates.
    let p = r#"use std::http
policy checkout {
  applies when deployment.service == "checkout"
  rollback spike when error_rate > 2 * baseline(error_rate)
  hold warm when error_rate > 1.5 * baseline(error_rate)
}
scope bots { principals [service_account "flagger"] may [halt, rollback] }
"#;
    fs::write(dir.join("p.rollguard"), p).expect("write");
    let server = Server::start(&dir, &["--policies", "."]);
    let (status, d) = server.call(
        "POST",
        "/v1/flagger/confirm-promotion",
        None,
        &flagger_payload("0.011", false),
    );
    assert_eq!(
        (status, d["decision"].as_str()),
        (200, Some("proceed")),
        "{d}"
    );
    let (status, d) = server.call(
        "POST",
        "/v1/flagger/confirm-promotion",
        None,
        &flagger_payload("0.016", false),
    );
    assert_eq!(
        (status, d["decision"].as_str()),
        (409, Some("hold")),
        "a hold waits: {d}"
    );
    assert_eq!(d["fired"][0]["rule"], "warm");
    // The rollback hook: 200 only for an authorized rollback.
    let (status, d) = server.call(
        "POST",
        "/v1/flagger/rollback",
        None,
        &flagger_payload("0.05", true),
    );
    assert_eq!(
        (status, d["authorized"].as_bool()),
        (200, Some(true)),
        "{d}"
    );
    let (status, d) = server.call(
        "POST",
        "/v1/flagger/rollback",
        None,
        &flagger_payload("0.05", false),
    );
    assert_eq!(status, 409, "no requester, not authorized: {d}");
    let (status, _) = server.call(
        "POST",
        "/v1/flagger/rollback",
        None,
        &flagger_payload("0.011", true),
    );
    assert_eq!(status, 409, "no rollback decided");
    // The analysis hooks fail only on a rollback.
    let (status, _) = server.call(
        "POST",
        "/v1/flagger/rollout",
        None,
        &flagger_payload("0.016", false),
    );
    assert_eq!(status, 200, "a hold is not a failed check");
    let (status, _) = server.call(
        "POST",
        "/v1/flagger/rollout",
        None,
        &flagger_payload("0.05", false),
    );
    assert_eq!(status, 409);
    let (status, _) = server.call(
        "POST",
        "/v1/flagger/unknown-hook",
        None,
        &flagger_payload("0.05", false),
    );
    assert_eq!(status, 404);
    let (status, e) = server.call(
        "POST",
        "/v1/flagger/rollout",
        None,
        r#"{"name": "x", "namespace": "y", "metadata": {"traffic_percent": 5}}"#,
    );
    assert_eq!(status, 400);
    assert_eq!(e["error"]["path"], "metadata.traffic_percent");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn argo_reads_every_decision_as_a_200() {
    let dir = scratch("argo");
    fs::write(dir.join("p.rollguard"), policy("2%")).expect("write");
    let server = Server::start(&dir, &["--policies", "."]);
    for (rate, want) in [(0.05, "rollback"), (0.011, "proceed")] {
        let (status, d) = server.call("POST", "/v1/argo", None, &snapshot(rate, None));
        assert_eq!((status, d["decision"].as_str()), (200, Some(want)));
    }
    let (status, e) = server.call(
        "POST",
        "/v1/argo",
        None,
        r#"{"at": "2026-11-22T10:05:00Z", "deployment": {"service": "checkout"}}"#,
    );
    assert_eq!(status, 400, "only an invalid snapshot is not a 2xx");
    assert_eq!(e["error"]["path"], "deployment.environment");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn limits_turn_bad_input_into_400s() {
    let dir = scratch("limits");
    fs::write(dir.join("p.rollguard"), policy("2%")).expect("write");
    let server = Server::start(&dir, &["--policies", ".", "--max-body-bytes", "4096"]);
    let (status, _) = server.call("POST", "/v1/decide", None, &"x".repeat(10_000));
    assert_eq!(status, 413, "too large");
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let (status, e) = server.call("POST", "/v1/decide", None, &deep);
    assert_eq!(status, 400);
    assert!(e["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("nested"));
    let (status, e) = server.call("POST", "/v1/decide", None, "{not json");
    assert_eq!(status, 400, "{e}");
    let (status, e) = server.call(
        "POST",
        "/v1/decide",
        None,
        &snapshot(0.05, None).replace("\"samples\":500", "\"samples\":-1"),
    );
    assert_eq!(status, 400);
    assert_eq!(e["error"]["path"], "signals[\"http.error_rate\"].samples");
    // Still serving after all of that.
    let (status, _) = server.call("POST", "/v1/decide", None, &snapshot(0.05, None));
    assert_eq!(status, 200);
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
    fs::write(dir.join("p.rollguard"), policy("2%")).expect("write");
    let log = dir.join("decisions.log");
    let head = {
        let server = Server::start(
            &dir,
            &["--policies", ".", "--decision-log", "decisions.log"],
        );
        for rate in [0.05, 0.011, 0.03, 0.02] {
            let (status, _) = server.call("POST", "/v1/decide", None, &snapshot(rate, None));
            assert_eq!(status, 200);
        }
        let (_, h) = server.call("GET", "/v1/audit/head", None, "");
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

// ---------------------------------------------------------------- faults

#[test]
fn a_client_that_disconnects_mid_request_harms_no_one() {
    use std::io::Write;
    let dir = scratch("disconnect");
    fs::write(dir.join("p.rollguard"), policy("2%")).expect("write");
    let server = Server::start(&dir, &["--policies", ".", "--decision-log", "d.log"]);
    let addr = server.base.trim_start_matches("http://").to_string();
    for cut in [10, 60, 200] {
        let body = snapshot(0.05, None);
        let request = format!(
            "POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
            body.len(),
            body
        );
        let mut s = std::net::TcpStream::connect(&addr).expect("connect");
        s.write_all(&request.as_bytes()[..cut.min(request.len())])
            .expect("write");
        drop(s); // gone before the request is whole
    }
    let (status, d) = server.call("POST", "/v1/decide", None, &snapshot(0.05, None));
    assert_eq!((status, d["decision"].as_str()), (200, Some("rollback")));
    let (_, head) = server.call("GET", "/v1/audit/head", None, "");
    assert_eq!(
        head["count"], 1,
        "half-sent requests decide nothing and log nothing"
    );
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_policy_file_rewritten_while_being_read_never_serves_a_half_set() {
    let dir = scratch("midread");
    fs::write(dir.join("p.rollguard"), policy("2%")).expect("write");
    let server = Arc::new(Server::start(
        &dir,
        &["--policies", ".", "--reload-interval-ms", "40"],
    ));
    let digest = |threshold: &str| {
        rollguard::Engine::from_sources(&[("p.rollguard", &policy(threshold))])
            .expect("compiles")
            .digest()
            .to_string()
    };
    let good: Vec<String> = ["2%", "3%", "4%"].iter().map(|t| digest(t)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let (s2, stop2) = (server.clone(), stop.clone());
    let client = std::thread::spawn(move || {
        let mut seen = Vec::new();
        while !stop2.load(Ordering::Relaxed) {
            let (status, d) = s2.call("POST", "/v1/decide", None, &snapshot(0.05, None));
            seen.push((
                status,
                d["policy_digest"].as_str().unwrap_or("").to_string(),
            ));
        }
        seen
    });
    // Write each version in two steps, as a slow copy would: a part of the file first, for less
    // than one polling interval. Cut after the policy's `}` too, where the part still compiles.
    let cut_points = |text: &str| {
        [
            text.len() / 2,
            text.find("scope bots").unwrap_or(text.len() / 3),
        ]
    };
    for round in 0..5 {
        let text = policy(["3%", "4%", "3%", "4%", "2%"][round]);
        let cut = cut_points(&text)[round % 2];
        fs::write(dir.join("p.rollguard"), &text[..cut]).expect("write part");
        std::thread::sleep(Duration::from_millis(5));
        fs::write(dir.join("p.rollguard"), &text).expect("write whole");
        std::thread::sleep(Duration::from_millis(1100));
    }
    // The last version is served once it has settled.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.call("GET", "/v1/policies", None, "").1["digest"] != good[0].as_str() {
        assert!(
            Instant::now() < deadline,
            "the last whole file was never served"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let seen = client.join().expect("client");
    assert!(seen.len() > 10);
    for (status, d) in &seen {
        assert_eq!(*status, 200, "a request failed during rewrites");
        assert!(
            good.contains(d),
            "a decision came from a set that was never whole: {d}"
        );
    }
    let (_, p) = server.call("GET", "/v1/policies", None, "");
    assert_eq!(
        p["digest"],
        good[0].as_str(),
        "the last whole file is served: {p}"
    );
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn sigkill_while_logging_leaves_a_log_that_verifies() {
    let dir = scratch("sigkill");
    fs::write(dir.join("p.rollguard"), policy("2%")).expect("write");
    let log = dir.join("d.log");
    for _ in 0..3 {
        let mut server = Server::start(&dir, &["--policies", ".", "--decision-log", "d.log"]);
        let mut clients = Vec::new();
        for _ in 0..3 {
            let base = server.base.clone();
            clients.push(std::thread::spawn(move || {
                for _ in 0..200 {
                    let agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .build()
                        .new_agent();
                    if agent
                        .post(format!("{base}/v1/decide"))
                        .header("Content-Type", "application/json")
                        .send(snapshot(0.05, None))
                        .is_err()
                    {
                        break; // the server is gone
                    }
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(150));
        // SIGKILL (what `Child::kill` sends on Unix): no chance to finish a write.
        server.child.kill().expect("SIGKILL the server");
        for c in clients {
            let _ = c.join();
        }
        let (code, out) = verify(&log, None);
        assert_eq!(
            code, 0,
            "after SIGKILL the log verifies up to its last whole record: {out}"
        );
    }
    let (code, out) = verify(&log, None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok: "), "{out}");
    let _ = fs::remove_dir_all(dir);
}

/// A small tmpfs for the decision log, so the test can fill it and make it read-only.
/// Needs `mount` (the rule of `common::require_program`) and the privilege to mount; without
/// the privilege the test says so and checks nothing else.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(name: &str) -> Option<SmallDisk> {
        common::require_program("mount", "mount", "apt-get install mount")?;
        let dir = scratch(name);
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(&dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: mounting a tmpfs needs privileges this run does not have"
            );
        }
        ok.then_some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_full_or_read_only_log_disk_gets_503_and_the_service_recovers() {
    let Some(disk) = SmallDisk::mount("fulldisk") else {
        return;
    };
    let dir = scratch("fulldisk-policies");
    fs::write(dir.join("p.rollguard"), policy("2%")).expect("write");
    let log = disk.0.join("d.log");
    let server = Server::start(
        &dir,
        &[
            "--policies",
            ".",
            "--decision-log",
            log.to_str().expect("utf-8"),
        ],
    );
    let (status, _) = server.call("POST", "/v1/decide", None, &snapshot(0.05, None));
    assert_eq!(status, 200);
    // Fill the disk.
    let filler = disk.0.join("filler");
    let _ = fs::write(&filler, vec![0u8; 512 * 1024]);
    // The log's last page may still have room for a record or two; then the disk is full.
    let refused = (0..50).find_map(|_| {
        let (status, e) = server.call("POST", "/v1/decide", None, &snapshot(0.05, None));
        match status {
            200 => None,
            _ => Some((status, e)),
        }
    });
    let (status, e) = refused.expect("a full disk refuses a decision within 50 requests");
    assert_eq!(status, 503, "no decision without a record: {e}");
    fs::remove_file(&filler).expect("free the disk");
    let (status, _) = server.call("POST", "/v1/decide", None, &snapshot(0.05, None));
    assert_eq!(status, 200, "recovers once there is room");
    // Read-only.
    let remount = |mode: &str| {
        Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&disk.0)
            .status()
            .is_ok_and(|s| s.success())
    };
    if remount("ro") {
        let (status, e) = server.call("POST", "/v1/decide", None, &snapshot(0.05, None));
        assert_eq!(status, 503, "a read-only log gets 503: {e}");
        assert!(remount("rw"));
        let (status, _) = server.call("POST", "/v1/decide", None, &snapshot(0.05, None));
        assert_eq!(status, 200, "recovers once writable");
    }
    let (_, head) = server.call("GET", "/v1/audit/head", None, "");
    let (code, out) = verify(&log, head["last"].as_str());
    assert_eq!(code, 0, "{out}");
    drop(server);
    let _ = fs::remove_dir_all(dir);
}

// ---------------------------------------------------------------- connections, reloads, browsers

impl Server {
    fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }

    fn port(&self) -> String {
        self.addr().rsplit(':').next().expect("port").to_string()
    }
}

/// One request written as given, the connection closed by the request (or the server); the
/// status and the body. Bounded by a read timeout.
fn raw(addr: &str, request: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn post_request(host: &str, path: &str, extra: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Whether the server closes the connection (EOF or reset) within `within`.
fn closed_within(s: &mut std::net::TcpStream, within: Duration) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(within)).expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // an answer, then the close
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    }
}

#[test]
fn half_sent_heads_neither_stall_decisions_nor_keep_sigterm_waiting() {
    use std::io::Write;
    let dir = scratch("stall");
    fs::write(dir.join("p.rollguard"), policy("2%")).expect("write");
    // A small descriptor limit, as in a container: 300 connections are more than it allows.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"ulimit -n 256 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_rollguard"))
        .args(serve_args(&["--policies", "."]))
        .stderr(Stdio::null());
    let server = Server::spawn(cmd, &dir);
    let mut stalled = Vec::new();
    for _ in 0..300 {
        let mut s = std::net::TcpStream::connect(server.addr()).expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-a: ")
            .expect("write");
        stalled.push(s);
    }
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let (status, d) = server.call("POST", "/v1/decide", None, &snapshot(0.05, None));
    assert_eq!(
        (status, d["decision"].as_str()),
        (200, Some("rollback")),
        "a whole request is answered while 300 half-sent heads are open"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // Still whole, answered again: the half-sent heads are the ones that make room.
    let (status, _) = server.call("GET", "/healthz", None, "");
    assert_eq!(status, 200);
    // SIGTERM stops the process promptly with them still connected.
    let mut server = server;
    let pid = server.child.id();
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(3);
    let code = loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            break status.code();
        }
        assert!(
            Instant::now() < deadline,
            "SIGTERM did not stop the service within 3 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0), "a clean stop");
    drop(stalled);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn quiet_connections_are_closed_by_the_header_and_idle_timeouts() {
    use std::io::Write;
    let dir = scratch("timeouts");
    fs::write(dir.join("p.rollguard"), policy("2%")).expect("write");
    let server = Server::start(
        &dir,
        &[
            "--policies",
            ".",
            "--header-timeout-ms",
            "400",
            "--idle-timeout-ms",
            "300",
        ],
    );
    // A head that never ends.
    let mut half = std::net::TcpStream::connect(server.addr()).expect("connect");
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ")
        .expect("write");
    // A connection that says nothing.
    let mut silent = std::net::TcpStream::connect(server.addr()).expect("connect");
    // A kept-alive connection after one answer.
    let mut kept = std::net::TcpStream::connect(server.addr()).expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("write");
    for (name, s) in [
        ("a half-sent head", &mut half),
        ("a silent connection", &mut silent),
        ("an idle kept-alive connection", &mut kept),
    ] {
        assert!(
            closed_within(s, Duration::from_secs(3)),
            "{name} was not closed"
        );
    }
    let _ = fs::remove_dir_all(dir);
}

fn mkfifo(path: &Path) -> bool {
    Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success())
}

fn wait_for(server: &Server, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, p) = server.call("GET", "/v1/policies", None, "");
        if ok(&p) {
            return p;
        }
        assert!(Instant::now() < deadline, "{what}: {p}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_fifo_in_the_policy_directory_does_not_stop_reloading() {
    let dir = scratch("fifo");
    fs::write(dir.join("p.rollguard"), policy("2%")).expect("write");
    let server = Server::start(&dir, &["--policies", "."]);
    if !mkfifo(&dir.join("zz.rollguard")) {
        eprintln!("skipped: no mkfifo");
        return;
    }
    std::thread::sleep(Duration::from_millis(300));
    let (_, before) = server.call("GET", "/v1/policies", None, "");
    fs::write(dir.join("p.rollguard"), policy("5%")).expect("write");
    let after = wait_for(&server, "a change next to a FIFO is picked up", |p| {
        p["digest"] != before["digest"]
    });
    assert!(after["last_reload_error"].is_null(), "{after}");
    fs::remove_file(dir.join("zz.rollguard")).expect("rm fifo");
    fs::write(dir.join("p.rollguard"), policy("7%")).expect("write");
    wait_for(&server, "and once it is gone", |p| {
        p["digest"] != after["digest"]
    });
    let _ = fs::remove_dir_all(dir);
}

fn metric(server: &Server, name: &str) -> String {
    let (_, m) = server.call("GET", "/metrics", None, "");
    m.as_str()
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or("missing")
        .to_string()
}

#[test]
fn an_unreadable_policy_set_is_reported_until_it_is_fixed() {
    let dir = scratch("unreadable");
    let pol = dir.join("pol");
    fs::create_dir_all(&pol).expect("mkdir");
    fs::write(pol.join("p.rollguard"), policy("2%")).expect("write");
    let stderr = dir.join("stderr.log");
    let server = Server::start_logging(&dir, &["--policies", "pol"], &stderr);
    let (_, first) = server.call("GET", "/v1/policies", None, "");
    let digest = first["digest"].clone();

    // A file that is not UTF-8: the last good set keeps serving, the failure shows everywhere.
    fs::write(pol.join("q.rollguard"), b"policy \xff\xfe {}\n").expect("write");
    let p = wait_for(&server, "the non-UTF-8 file is reported", |p| {
        !p["last_reload_error"].is_null()
    });
    assert_eq!(p["digest"], digest);
    let e = &p["last_reload_error"];
    assert!(
        e["file"].as_str().unwrap_or("").ends_with("q.rollguard"),
        "{e}"
    );
    assert!(e["reason"].as_str().unwrap_or("").contains("UTF-8"), "{e}");
    assert_eq!(metric(&server, "rollguard_reload_failures_total"), "1");
    assert_eq!(metric(&server, "rollguard_reload_failing"), "1");
    let (status, d) = server.call("POST", "/v1/decide", None, &snapshot(0.05, None));
    assert_eq!((status, &d["policy_digest"]), (200, &digest));
    // Fixed: the error clears.
    fs::write(pol.join("q.rollguard"), "// now UTF-8\n").expect("write");
    let p = wait_for(&server, "the fixed file clears the error", |p| {
        p["last_reload_error"].is_null()
    });
    assert_ne!(p["digest"], Value::Null);
    assert_eq!(metric(&server, "rollguard_reload_failing"), "0");

    // The directory deleted, then put back.
    fs::remove_dir_all(&pol).expect("rm");
    let p = wait_for(&server, "the deleted directory is reported", |p| {
        !p["last_reload_error"].is_null()
    });
    assert!(
        p["last_reload_error"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("directory"),
        "{p}"
    );
    assert_eq!(metric(&server, "rollguard_reload_failures_total"), "2");
    let (status, _) = server.call("POST", "/v1/decide", None, &snapshot(0.05, None));
    assert_eq!(status, 200, "the last good set keeps serving");
    fs::create_dir_all(&pol).expect("mkdir");
    fs::write(pol.join("p.rollguard"), policy("2%")).expect("write");
    fs::write(pol.join("q.rollguard"), "// now UTF-8\n").expect("write");
    wait_for(&server, "the restored directory clears the error", |p| {
        p["last_reload_error"].is_null()
    });
    assert_eq!(metric(&server, "rollguard_reload_failing"), "0");
    let log = fs::read_to_string(&stderr).expect("stderr");
    assert!(
        log.contains("q.rollguard") && log.contains("UTF-8"),
        "stderr: {log}"
    );
    assert!(log.contains("policy directory"), "stderr: {log}");
    drop(server);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn browsers_and_foreign_hosts_cannot_drive_the_loopback_service() {
    let dir = scratch("browsers");
    fs::write(dir.join("p.rollguard"), policy("2%")).expect("write");
    let server = Server::start(&dir, &["--policies", ".", "--decision-log", "d.log"]);
    let (addr, port) = (server.addr(), server.port());
    let json = "Content-Type: application/json\r\n";
    let body = snapshot(0.05, None);
    let refused = [
        // A form or `fetch` with a simple content type: no CORS preflight.
        (
            post_request(&addr, "/v1/decide", "Content-Type: text/plain\r\n", &body),
            415,
        ),
        (post_request(&addr, "/v1/decide", "", &body), 415),
        // DNS rebinding: the page's own name resolves to 127.0.0.1.
        (
            post_request(&format!("evil.example:{port}"), "/v1/decide", json, &body),
            403,
        ),
        // A page elsewhere posting to the loopback address.
        (
            post_request(
                &addr,
                "/v1/decide",
                &format!("{json}Origin: http://evil.example\r\n"),
                &body,
            ),
            403,
        ),
        (
            post_request(&addr, "/v1/decide", &format!("{json}Origin: null\r\n"), &body),
            403,
        ),
        (
            format!("GET /v1/policies HTTP/1.1\r\nHost: evil.example:{port}\r\nConnection: close\r\n\r\n"),
            403,
        ),
    ];
    for (request, want) in &refused {
        let (status, body) = raw(&addr, request);
        assert_eq!(status, *want, "{request}\n{body}");
        let e: Value = serde_json::from_str(&body).expect("JSON");
        assert!(e["error"]["message"].is_string(), "{body}");
        assert!(!body.contains(&*dir.to_string_lossy()), "{body}");
    }
    let accepted = [
        post_request(&addr, "/v1/decide", json, &body),
        post_request(&format!("localhost:{port}"), "/v1/decide", json, &body),
        post_request(&format!("[::1]:{port}"), "/v1/decide", json, &body),
        post_request(
            &addr,
            "/v1/decide",
            "Content-Type: application/json; charset=utf-8\r\n",
            &body,
        ),
        post_request(
            &addr,
            "/v1/decide",
            &format!("{json}Origin: http://{addr}\r\n"),
            &body,
        ),
    ];
    for request in &accepted {
        let (status, body) = raw(&addr, request);
        assert_eq!(status, 200, "{request}\n{body}");
    }
    let (_, head) = server.call("GET", "/v1/audit/head", None, "");
    assert_eq!(
        head["count"],
        accepted.len(),
        "refused requests are neither decided nor logged"
    );
    // The way Flagger calls: JSON with its content type.
    let (status, _) = raw(
        &addr,
        &post_request(
            &addr,
            "/v1/flagger/rollout",
            json,
            &flagger_payload("0.011", false),
        ),
    );
    assert_eq!(status, 200);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn with_tokens_any_host_is_answered_and_the_bearer_scheme_is_case_insensitive() {
    let dir = scratch("bearer");
    fs::write(dir.join("p.rollguard"), policy("2%")).expect("write");
    fs::write(
        dir.join("tokens.json"),
        json!([{"token": "s3cret", "principal": {"kind": "service_account", "id": "flagger"}}])
            .to_string(),
    )
    .expect("write");
    let server = Server::start(&dir, &["--policies", ".", "--tokens", "tokens.json"]);
    let addr = server.addr();
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let (status, body) = raw(
            &addr,
            &post_request(
                "rollguard.rollguard.svc:8181",
                "/v1/decide",
                &format!("Content-Type: application/json\r\nAuthorization: {scheme} s3cret\r\n"),
                &snapshot(0.05, None),
            ),
        );
        assert_eq!(status, 200, "{scheme}: {body}");
    }
    let (status, _) = raw(
        &addr,
        &post_request(
            &addr,
            "/v1/decide",
            "Content-Type: application/json\r\nAuthorization: Basic s3cret\r\n",
            &snapshot(0.05, None),
        ),
    );
    assert_eq!(status, 401, "another scheme is not a bearer token");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn limits_answer_at_once_and_every_error_has_the_error_shape() {
    use std::io::{Read, Write};
    let dir = scratch("shapes");
    fs::write(dir.join("p.rollguard"), policy("2%")).expect("write");
    let server = Server::start(
        &dir,
        &[
            "--policies",
            ".",
            "--max-body-bytes",
            "4096",
            "--timeout-ms",
            "500",
        ],
    );
    let addr = server.addr();
    let shaped = |status: u16, body: &str, want: u16, what: &str| {
        assert_eq!(status, want, "{what}: {body}");
        let e: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{what}: {body:?}"));
        assert!(
            e["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: {body}"
        );
        assert!(e["error"]["path"].is_string(), "{what}: {body}");
    };
    // A declared length over the limit: 413 at once, without waiting for the body.
    let mut s = std::net::TcpStream::connect(&addr).expect("connect");
    s.write_all(
        format!("POST /v1/decide HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{")
            .as_bytes(),
    )
    .expect("write");
    let started = Instant::now();
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut out = vec![0u8; 8192];
    let n = s.read(&mut out).unwrap_or(0);
    let text = String::from_utf8_lossy(&out[..n]).to_string();
    // The old answer was a 408 after --timeout-ms (500 ms here); the status tells them apart.
    assert!(started.elapsed() < Duration::from_secs(2), "{text}");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    shaped(
        head.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        body,
        413,
        "declared too large",
    );
    // Sent too large, chunked: 413 too.
    let chunked = format!(
        "POST /v1/decide HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2000\r\n{}\r\n0\r\n\r\n",
        "x".repeat(0x2000)
    );
    let (status, body) = raw(&addr, &chunked);
    shaped(status, &body, 413, "chunked too large");
    // Too slow: 408.
    let mut s = std::net::TcpStream::connect(&addr).expect("connect");
    s.write_all(
        format!("POST /v1/decide HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{")
            .as_bytes(),
    )
    .expect("write");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    shaped(
        head.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        body,
        408,
        "too slow",
    );
    // The wrong method, an unknown path, a hook that is not one.
    let get = |path: &str| {
        raw(
            &addr,
            &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
        )
    };
    let (status, body) = get("/v1/decide");
    shaped(status, &body, 405, "GET /v1/decide");
    let (status, body) = get("/nowhere");
    shaped(status, &body, 404, "unknown path");
    let json = "Content-Type: application/json\r\n";
    let payload = flagger_payload("0.011", false);
    for (hook, want) in [
        ("nope", 404),
        ("", 404),
        ("a/b", 404),
        ("%FF", 404),
        ("%2e%2e", 404),
    ] {
        let (status, body) = raw(
            &addr,
            &post_request(&addr, &format!("/v1/flagger/{hook}"), json, &payload),
        );
        shaped(status, &body, want, &format!("hook {hook:?}"));
    }
    // Content-Length and Transfer-Encoding together: refused, in either order.
    let body = snapshot(0.05, None);
    for headers in [
        format!(
            "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n",
            body.len()
        ),
        format!(
            "Transfer-Encoding: chunked\r\nContent-Length: {}\r\n",
            body.len()
        ),
    ] {
        let request = format!(
            "POST /v1/decide HTTP/1.1\r\nHost: {addr}\r\n{json}{headers}Connection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        );
        let (status, text) = raw(&addr, &request);
        assert_eq!(status, 400, "{headers}: {text}");
    }
    let _ = fs::remove_dir_all(dir);
}
