//! What each fuzz target does with its input, as plain functions.
//!
//! The targets under `fuzz_targets/` are one line each around these; `tests/fuzz_regressions.rs`
//! includes this very file (`#[path]`) and runs every input under `fuzz/regressions/<target>/`
//! through the same functions, so a crash the fuzzer found stays a test in `cargo test`.
//!
//! Each function panics when an invariant breaks; returning is success.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rollguard::{Compiler, Engine, Loader, Options, SetFile};

/// A loader that has no files: `use "..."` of a path always fails (the standard library,
/// `use std::...`, is built in and still loads), so a fuzz input never touches the disk.
pub struct NoFiles;

impl Loader for NoFiles {
    fn canonical(&self, _path: &Path) -> Option<PathBuf> {
        None
    }

    fn read(&self, path: &Path) -> io::Result<String> {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("the fuzz loader reads no files ({})", path.display()),
        ))
    }
}

/// The snapshot every compiled fuzz policy is evaluated against: the signal keys and types the
/// repository's policies use most, a requester, approvals, labels, a rollback target. No class,
/// since a class must be declared by the set.
pub const SNAPSHOT: &str = r#"{
  "at": "2026-11-22T10:05:00Z",
  "deployment": {
    "id": "rel-1",
    "revision": "a3f09c2",
    "service": "checkout",
    "environment": "production",
    "stage": "canary",
    "traffic_percent": 10,
    "cascade_depth": 1,
    "emergency": false,
    "actor": {"kind": "agent", "id": "deploy-bot", "groups": ["bots"]},
    "approvals": [
      {"principal": {"kind": "human", "id": "ana", "groups": ["sre", "dba"]}, "revision": "a3f09c2", "at": "2026-11-22T10:00:00Z"},
      {"principal": {"kind": "human", "id": "bo", "groups": ["security"]}, "verdict": "reject", "at": "2026-11-22T10:01:00Z"}
    ],
    "labels": {"team": "payments", "k": "v"},
    "rollback_target": {"version": "v1", "healthy": true}
  },
  "requester": {"kind": "service_account", "id": "argo-rollouts", "groups": []},
  "signals": {
    "http.error_rate": {
      "value": 0.031, "baseline": 0.006, "samples": 2400,
      "observed_at": "2026-11-22T10:04:50Z",
      "series": [["2026-11-22T10:01:00Z", 0.0062], ["2026-11-22T10:02:30Z", 0.02], ["2026-11-22T10:03:30Z", 0.027]]
    },
    "http.latency.p99": {"value": 640, "unit": "ms", "baseline": 300, "observed_at": "2026-11-22T10:04:00Z"},
    "http.latency.p50": {"value": 0.12, "observed_at": "2026-11-22T10:04:00Z"},
    "identity.unexpected_escalations": {"value": 1, "observed_at": "2026-11-22T10:04:30Z"},
    "deps.outage": {"value": false, "observed_at": "2026-11-22T10:04:40Z"},
    "flag.a": {"value": true},
    "flag.b": {"value": false},
    "http.timeout_rate": {"value": 0.2, "baseline": 0.01},
    "auth.failures": {"value": 0.5},
    "deploy.region": {"value": "eu-west-1"},
    "http.requests": {"value": 2400, "observed_at": "2026-11-22T10:04:50Z"}
  }
}"#;

/// A snapshot any compiled set accepts (no signals, no class), used when [`SNAPSHOT`] does not
/// fit the fuzzed set's declarations, so evaluation still runs.
pub const MINIMAL_SNAPSHOT: &str = r#"{"at": "2026-11-22T10:05:00Z",
  "deployment": {"service": "checkout", "environment": "production"}}"#;

fn compile_one(text: &str) -> rollguard::Compilation {
    let files = [SetFile {
        name: "fuzz.rollguard".to_string(),
        path: PathBuf::from("fuzz.rollguard"),
        text: text.to_string(),
    }];
    let options = Options {
        lint: true,
        ..Options::default()
    };
    Compiler::new().compile(&files, &NoFiles, &options)
}

/// `policy`: bytes as policy text (lossy UTF-8) through compile, lint and one evaluation; and,
/// when the formatter accepts the text, its output must compile to the same digest.
pub fn policy(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let c = compile_one(&text);
    let digest = c.compiled.as_ref().map(|p| p.digest().to_string());
    if let Some(compiled) = &c.compiled {
        let decision = match compiled.decide(SNAPSHOT.as_bytes()) {
            Ok(d) => d,
            Err(_) => compiled
                .decide(MINIMAL_SNAPSHOT.as_bytes())
                .expect("the minimal snapshot is valid for every compiled set"),
        };
        let _ = decision.to_json();
        let _ = decision.to_human();
    }
    // Every diagnostic's place must resolve; the rendering with source snippets is slower, so
    // only the first few.
    for (i, d) in c.diagnostics.iter().enumerate() {
        let _ = d.one_line(&c.sources);
        if i < 4 {
            let _ = d.render(&c.sources, false);
        }
    }

    if let Ok(formatted) = rollguard::fmt::format(&text) {
        let again = compile_one(&formatted);
        let digest_again = again.compiled.as_ref().map(|p| p.digest().to_string());
        assert_eq!(
            digest, digest_again,
            "the formatted text compiles differently\n--- input\n{text}\n--- formatted\n{formatted}"
        );
    }
}

/// The directory of the bundled examples: `../examples` from the fuzz crate, `examples` from
/// the repository root (when the regression test includes this file).
pub fn examples_dir() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    if here.join("examples").is_dir() {
        here.join("examples")
    } else {
        here.join("..").join("examples")
    }
}

/// Every example policy set, compiled once.
pub fn example_engines() -> &'static [(String, Engine)] {
    static ENGINES: OnceLock<Vec<(String, Engine)>> = OnceLock::new();
    ENGINES.get_or_init(|| {
        let dir = examples_dir();
        let mut sets: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.is_dir())
            .collect();
        sets.sort();
        assert!(!sets.is_empty(), "no example sets under {}", dir.display());
        sets.into_iter()
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                let engine = Engine::from_dir(&p)
                    .unwrap_or_else(|e| panic!("example {name} does not compile: {e}"));
                (name, engine)
            })
            .collect()
    })
}

/// `snapshot`: bytes as a snapshot for every example set; a decision serializes, and deciding
/// twice gives the same JSON.
pub fn snapshot(data: &[u8]) {
    for (name, engine) in example_engines() {
        let Ok(first) = engine.decide(data) else {
            continue;
        };
        let json = first.to_json();
        let _ = first.to_human();
        let second = engine
            .decide(data)
            .unwrap_or_else(|e| panic!("{name}: a snapshot accepted once is refused again: {e}"));
        assert_eq!(json, second.to_json(), "{name}: two evaluations differ");
    }
}

/// The set the `request` target evaluates against: scopes and a requester matter there.
pub const REQUEST_EXAMPLE: &str = "model-serving-regression";

/// The principal of the bearer token in the `request` target.
pub fn principal() -> serde_json::Value {
    serde_json::json!({"kind": "service_account", "id": "argo-rollouts", "groups": []})
}

/// `request`: bytes as a `/v1/decide` body. An input whose first byte is odd (`{` is) is sent
/// with the fixed principal, one whose first byte is even (a leading space or newline) without.
pub fn request(data: &[u8]) {
    let engine = &example_engines()
        .iter()
        .find(|(n, _)| n == REQUEST_EXAMPLE)
        .expect("the request example exists")
        .1;
    let p = principal();
    let with_principal = data.first().is_some_and(|b| b & 1 == 1);
    let principal = with_principal.then_some(&p);
    match rollguard::service::decide_body(engine, data, principal, 64) {
        Ok(d) => {
            let _ = d.to_json();
        }
        Err(e) => {
            assert!(
                matches!(e.status, 400 | 403),
                "unexpected status {}: {e:?}",
                e.status
            );
            let _ = e.to_json();
        }
    }
}
