//! `rollguard serve` as a process, driven over real loopback HTTP: the binary started by the
//! test, a real HTTP client or raw sockets, real files. What only the process does is tested
//! here: reading the policy directory and reloading it, the tokens file, the decision log on a
//! real (full, read-only, killed) disk, the accept loop's timeouts, connection cap and framing,
//! signals. What the router answers (routing, status codes, tokens, error shapes, Flagger and
//! Argo) is tested in-process in `tests/service.rs`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
mod service_inputs;
use service_inputs::{policy, snapshot};

/// A scratch directory for one test, removed when dropped. Declare it before the server that
/// runs in it, so the server is stopped first.
struct Scratch(PathBuf);

impl Scratch {
    fn empty(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("rollguard-serve-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("mkdir");
        Scratch(dir)
    }

    /// With the policy most tests serve, `policy("2%")`, as `p.rollguard`.
    fn with_policy(name: &str) -> Scratch {
        let dir = Scratch::empty(name);
        dir.write("p.rollguard", policy("2%"));
        dir
    }

    fn write(&self, file: &str, contents: impl AsRef<[u8]>) {
        fs::write(self.0.join(file), contents).expect("write");
    }
}

impl Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

struct Server {
    child: Child,
    base: String,
}

/// `rollguard serve` on a free loopback port, serving `.` (the scratch directory) and with the
/// test's reload interval, unless `args` sets them: the arguments after `serve`.
fn serve_args(args: &[&str]) -> Vec<String> {
    let mut all = vec!["serve".to_string(), "--addr".into(), "127.0.0.1:0".into()];
    if !args.contains(&"--policies") {
        all.extend(["--policies".into(), ".".into()]);
    }
    if !args.contains(&"--reload-interval-ms") {
        all.extend(["--reload-interval-ms".into(), "100".into()]);
    }
    all.extend(args.iter().map(|a| a.to_string()));
    all
}

impl Server {
    /// The service started in `cwd` with `args` (see [`serve_args`]).
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

    fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }

    fn port(&self) -> String {
        self.addr().rsplit(':').next().expect("port").to_string()
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

#[test]
fn reload_swaps_sets_atomically_and_keeps_the_last_good_one() {
    let dir = Scratch::with_policy("reload");
    let server = Arc::new(Server::start(&dir, &[]));
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
}

/// The tokens file is read at startup: each token stands for its principal, and with tokens
/// any `Host` is answered (how the router answers tokens is in `tests/service.rs`).
#[test]
fn the_tokens_file_binds_each_token_to_its_principal() {
    let dir = Scratch::with_policy("auth");
    dir.write(
        "tokens.json",
        json!([
            {"token": "flagger-secret", "principal": {"kind": "service_account", "id": "flagger"}},
            {"token": "ana-secret", "principal": {"kind": "human", "id": "ana", "groups": ["sre"]}}
        ])
        .to_string(),
    );
    let server = Server::start(&dir, &["--tokens", "tokens.json"]);
    let (status, _) = server.call("POST", "/v1/decide", None, &snapshot(0.05, None));
    assert_eq!(status, 401, "no token");
    let (status, d) = server.call(
        "POST",
        "/v1/decide",
        Some("flagger-secret"),
        &snapshot(0.05, None),
    );
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["requester_may"], json!(["halt", "rollback"]));
    let (status, d) = server.call(
        "POST",
        "/v1/decide",
        Some("ana-secret"),
        &snapshot(0.011, None),
    );
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        d["requester_may"],
        json!(["halt", "rollback", "promote"]),
        "groups come from the tokens file"
    );
    let (status, body) = raw(
        &server.addr(),
        &post_request(
            "rollguard.rollguard.svc:8181",
            "/v1/decide",
            "Content-Type: application/json\r\nAuthorization: Bearer flagger-secret\r\n",
            &snapshot(0.05, None),
        ),
    );
    assert_eq!(status, 200, "with tokens, any Host: {body}");
    let o = Command::new(env!("CARGO_BIN_EXE_rollguard"))
        .args(["serve", "--policies", ".", "--tokens", "missing.json"])
        .current_dir(&dir)
        .output()
        .expect("runs");
    assert_eq!(
        o.status.code(),
        Some(2),
        "a tokens file that cannot be read"
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("cannot read the tokens file `missing.json`"),
        "{stderr}"
    );
}

/// Without tokens, on loopback, only loopback `Host` names are answered (the router's check,
/// which the process turns on; its cases are in `tests/service.rs`).
#[test]
fn without_tokens_only_loopback_host_names_are_answered() {
    let dir = Scratch::with_policy("loopback");
    let server = Server::start(&dir, &[]);
    let json = "Content-Type: application/json\r\n";
    let body = snapshot(0.05, None);
    let (status, text) = raw(
        &server.addr(),
        &post_request(
            &format!("evil.example:{}", server.port()),
            "/v1/decide",
            json,
            &body,
        ),
    );
    assert_eq!(status, 403, "{text}");
    let (status, text) = raw(
        &server.addr(),
        &post_request(
            &format!("localhost:{}", server.port()),
            "/v1/decide",
            json,
            &body,
        ),
    );
    assert_eq!(status, 200, "{text}");
}

#[test]
fn without_tokens_it_refuses_to_listen_beyond_loopback() {
    let dir = Scratch::with_policy("bind");
    let o = Command::new(env!("CARGO_BIN_EXE_rollguard"))
        .args(["serve", "--policies", ".", "--addr", "0.0.0.0:0"])
        .current_dir(&dir)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--insecure-listen"));
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

/// `rollguard audit replay LOG`: exit code, and stdout and stderr together.
fn replay(log: &Path) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_rollguard"))
        .args(["audit", "replay"])
        .arg(log)
        .output()
        .expect("runs");
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// Re-writes the log with `edit` applied to record `seq` and every `prev` after it
/// re-computed, as a forger who can write the file would.
fn forge(log: &Path, seq: usize, edit: impl Fn(&mut Value)) {
    let text = fs::read_to_string(log).expect("log");
    let mut prev =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_string();
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.lines().enumerate() {
        let line = if i + 1 < seq {
            line.to_string()
        } else {
            let mut r: Value = serde_json::from_str(line).expect("a record");
            if i + 1 == seq {
                edit(&mut r);
            }
            r["prev"] = json!(prev);
            r.to_string()
        };
        prev = rollguard::audit::digest(line.as_bytes());
        out.push_str(&line);
        out.push('\n');
    }
    fs::write(log, out).expect("write");
}

/// The done-when of the complete audit: 10,000 decisions made by the real service while its
/// set is swapped several times are all derived again by `audit replay` from their records and
/// the archived sets; a decision edited with the chain re-computed after it passes `verify`
/// without a head, and replay names it.
#[test]
fn replay_derives_again_every_decision_made_under_hot_reloads() {
    const DECISIONS: usize = 10_000;
    let dir = Scratch::with_policy("replay");
    let server = Arc::new(Server::start(&dir, &["--decision-log", "d.log"]));
    let issued = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let started = Instant::now();
    let clients: Vec<_> = (0..4)
        .map(|k| {
            let (server, issued, failures) = (server.clone(), issued.clone(), failures.clone());
            std::thread::spawn(move || {
                // One connection per client, kept alive: the test measures the service.
                let agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(10)))
                    .build()
                    .new_agent();
                let url = format!("{}/v1/decide", server.base);
                loop {
                    let n = issued.fetch_add(1, Ordering::Relaxed);
                    if n >= DECISIONS {
                        break;
                    }
                    // Rates on both sides of every threshold served: proceed and rollback.
                    let rate = [0.011, 0.025, 0.035, 0.045, 0.06][(n + k) % 5];
                    let r = agent
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .send(&snapshot(rate, None));
                    match r {
                        Ok(r) if r.status() == 200 => {}
                        Ok(r) => failures.lock().expect("lock").push(r.status().to_string()),
                        Err(e) => failures.lock().expect("lock").push(e.to_string()),
                    }
                }
            })
        })
        .collect();
    let mut digests = std::collections::BTreeSet::new();
    let digest = |server: &Server| {
        let (_, p) = server.call("GET", "/v1/policies", None, "");
        p["digest"].as_str().expect("digest").to_string()
    };
    digests.insert(digest(&server));
    for threshold in ["3%", "5%", "2.5%", "4%"] {
        fs::write(dir.join("p.rollguard"), policy(threshold)).expect("write");
        let deadline = Instant::now() + Duration::from_secs(10);
        while digests.contains(&digest(&server)) {
            assert!(Instant::now() < deadline, "the change was never picked up");
            std::thread::sleep(Duration::from_millis(20));
        }
        digests.insert(digest(&server));
        // Let the new set decide for a while before the next swap.
        let at = issued.load(Ordering::Relaxed);
        while issued.load(Ordering::Relaxed) < (at + 1000).min(DECISIONS) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for c in clients {
        c.join().expect("client");
    }
    let load = started.elapsed();
    assert_eq!(*failures.lock().expect("lock"), Vec::<String>::new());
    let (_, head) = server.call("GET", "/v1/audit/head", None, "");
    assert_eq!(head["count"], DECISIONS);
    let head = head["last"].as_str().expect("head").to_string();
    let log = dir.join("d.log");
    let sets = fs::read_dir(dir.join("d.log.sets"))
        .expect("the archive")
        .count();
    assert_eq!(sets, digests.len(), "one archived set per set served");

    let started = Instant::now();
    let (code, out) = replay(&log);
    let took = started.elapsed();
    eprintln!("{DECISIONS} decisions in {load:?}; replayed in {took:?}");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "ok: {DECISIONS} records: {DECISIONS} decisions replayed, 0 refusals"
        )) && out.contains(&format!("; {} policy sets;", digests.len())),
        "{out}"
    );

    // A rollback made a proceed, and the chain re-computed after it.
    let text = fs::read_to_string(&log).expect("log");
    let seq = text
        .lines()
        .enumerate()
        .skip(DECISIONS / 2)
        .find(|(_, l)| {
            serde_json::from_str::<Value>(l).expect("a record")["decision"]["decision"]
                == "rollback"
        })
        .map(|(i, _)| i + 1)
        .expect("a rollback");
    forge(&log, seq, |r| r["decision"]["decision"] = json!("proceed"));
    let (code, out) = verify(&log, None);
    assert_eq!(code, 0, "a re-chained log verifies without a head: {out}");
    let (code, out) = verify(&log, Some(&head));
    assert_eq!(code, 1, "but not against the served head: {out}");
    let (code, out) = replay(&log);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "record {seq}: `decision.decision`: recorded \"proceed\", derived \"rollback\""
        )),
        "{out}"
    );
    assert!(out.contains("1 differences in 1 records"), "{out}");
}

/// Refused requests are records of the log too: the status, the reason answered, who was
/// authenticated and who was claimed; never the token.
#[test]
fn refused_requests_are_recorded_with_their_reason_and_claimed_identity() {
    let dir = Scratch::with_policy("refusals");
    dir.write(
        "tokens.json",
        json!([{"token": "flagger-secret", "principal": {"kind": "service_account", "id": "flagger"}}])
            .to_string(),
    );
    let server = Server::start(
        &dir,
        &[
            "--tokens",
            "tokens.json",
            "--decision-log",
            "d.log",
            "--max-body-bytes",
            "4096",
        ],
    );
    let ana = json!({"kind": "human", "id": "ana"});
    let flagger = json!({"kind": "service_account", "id": "flagger"});
    let (status, _) = server.call(
        "POST",
        "/v1/decide",
        Some("wrong-secret"),
        &snapshot(0.05, Some(ana.clone())),
    );
    assert_eq!(status, 401);
    let (status, _) = server.call(
        "POST",
        "/v1/decide",
        Some("flagger-secret"),
        &snapshot(0.05, Some(ana.clone())),
    );
    assert_eq!(status, 403);
    let (status, _) = server.call("POST", "/v1/decide", Some("flagger-secret"), "{not json");
    assert_eq!(status, 400);
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(5000));
    let (status, _) = raw(
        &server.addr(),
        &post_request(
            "localhost",
            "/v1/decide",
            "Content-Type: application/json\r\nAuthorization: Bearer flagger-secret\r\n",
            &big,
        ),
    );
    assert_eq!(status, 413);
    let (status, _) = server.call(
        "POST",
        "/v1/decide",
        Some("flagger-secret"),
        &snapshot(0.05, None),
    );
    assert_eq!(status, 200);
    let (_, head) = server.call("GET", "/v1/audit/head", Some("flagger-secret"), "");
    assert_eq!(head["count"], 5);

    let log = dir.join("d.log");
    let text = fs::read_to_string(&log).expect("log");
    assert!(!text.contains("secret"), "no token in the log: {text}");
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record"))
        .collect();
    let summary: Vec<Value> = records
        .iter()
        .map(|r| {
            json!([
                r["kind"],
                r["status"],
                r["reason"]["path"],
                r["requester"],
                r["via"],
                r["claimed"]
            ])
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            json!(["refusal", 401, "", null, null, ana]),
            json!(["refusal", 403, "requester", flagger, "token", ana]),
            json!(["refusal", 400, "", flagger, "token", null]),
            json!(["refusal", 413, "", flagger, "token", null]),
            json!(["decision", null, null, flagger, "token", null]),
        ]
    );
    assert_eq!(records[0]["request"], "POST /v1/decide");
    assert!(records[0]["reason"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("token")));
    assert!(records[3]["reason"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("over the limit")));
    assert!(
        records[3]["body_digest"].is_null(),
        "the body was never read"
    );
    assert_eq!(
        records[4]["snapshot"]["requester"], flagger,
        "the snapshot as evaluated"
    );
    let (code, out) = verify(&log, head["last"].as_str());
    assert_eq!(code, 0, "{out}");
    let (code, out) = replay(&log);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("5 records: 1 decisions replayed, 4 refusals"),
        "{out}"
    );
}

// ---------------------------------------------------------------- faults

#[test]
fn a_client_that_disconnects_mid_request_harms_no_one() {
    use std::io::Write;
    let dir = Scratch::with_policy("disconnect");
    let server = Server::start(&dir, &["--decision-log", "d.log"]);
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
    // A head cut off never reaches the router; a request whose head is whole is refused (its
    // `Host`, or its body cut off) and recorded as a refusal, perhaps after the decision above.
    let text = fs::read_to_string(dir.join("d.log")).expect("log");
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record"))
        .collect();
    let decisions = records.iter().filter(|r| r["kind"] == "decision").count();
    assert_eq!(decisions, 1, "half-sent requests decide nothing: {text}");
    assert!(
        records
            .iter()
            .all(|r| r["kind"] == "decision" || r["kind"] == "refusal"),
        "{text}"
    );
}

#[test]
fn a_policy_file_rewritten_while_being_read_never_serves_a_half_set() {
    let dir = Scratch::with_policy("midread");
    let server = Arc::new(Server::start(&dir, &["--reload-interval-ms", "40"]));
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
}

#[test]
fn sigkill_while_logging_leaves_a_log_that_verifies() {
    let dir = Scratch::with_policy("sigkill");
    let log = dir.join("d.log");
    for _ in 0..3 {
        let mut server = Server::start(&dir, &["--decision-log", "d.log"]);
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
}

/// A small tmpfs for the decision log, so the test can fill it and make it read-only.
/// Needs `mount` (the rule of `common::require_program`) and the privilege to mount; without
/// the privilege the test says so and checks nothing else.
struct SmallDisk(Scratch);

impl SmallDisk {
    fn mount(name: &str) -> Option<SmallDisk> {
        common::require_program("mount", "mount", "apt-get install mount")?;
        let dir = Scratch::empty(name);
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(&*dir)
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
        // Then the scratch directory is removed.
        let _ = Command::new("umount").arg(&*self.0).status();
    }
}

#[test]
fn a_full_or_read_only_log_disk_gets_503_and_the_service_recovers() {
    let Some(disk) = SmallDisk::mount("fulldisk") else {
        return;
    };
    let dir = Scratch::with_policy("fulldisk-policies");
    let log = disk.0.join("d.log");
    let server = Server::start(&dir, &["--decision-log", log.to_str().expect("utf-8")]);
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
            .arg(&*disk.0)
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
}

// ---------------------------------------------------------------- connections, reloads, browsers

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
    let dir = Scratch::with_policy("stall");
    // A small descriptor limit, as in a container: 300 connections are more than it allows.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"ulimit -n 256 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_rollguard"))
        .args(serve_args(&[]))
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
}

#[test]
fn quiet_connections_are_closed_by_the_header_and_idle_timeouts() {
    use std::io::Write;
    let dir = Scratch::with_policy("timeouts");
    let server = Server::start(
        &dir,
        &["--header-timeout-ms", "400", "--idle-timeout-ms", "300"],
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
    let dir = Scratch::with_policy("fifo");
    let server = Server::start(&dir, &[]);
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
    let dir = Scratch::empty("unreadable");
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
}

/// The limits and framing as the accept loop and hyper meet them on a real connection; the
/// router's answers to every error are tested in-process (`tests/service.rs`).
#[test]
fn limits_answer_at_once_on_the_wire_and_ambiguous_framing_is_refused() {
    use std::io::{Read, Write};
    let dir = Scratch::with_policy("shapes");
    let server = Server::start(&dir, &["--max-body-bytes", "4096", "--timeout-ms", "500"]);
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
    // Content-Length and Transfer-Encoding together: refused, in either order (hyper drops
    // Content-Length from such a head; the accept loop tells the router).
    let json = "Content-Type: application/json\r\n";
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
}
