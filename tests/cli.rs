//! The real `rollguard` binary: exit codes, output formats and messages, as users and CI see them.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rollguard"))
}

fn run(args: &[&str], dir: &Path) -> Output {
    bin()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A scratch directory holding the given files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, files: &[(&str, &str)]) -> Scratch {
        let dir = std::env::temp_dir().join(format!("rollguard-cli-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for (path, body) in files {
            let p = dir.join(path);
            fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            fs::write(p, body).expect("write");
        }
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const POLICY: &str = r#"use std::http
use std::deps

policy search {
  applies when deployment.service == "search-api"
  require samples(error_rate) >= 100 else inconclusive
  rollback errors when error_rate > 2% and error_rate > 2 * baseline(error_rate) unless dependency_outage
}

test "a spike rolls back" {
  snapshot "spike.json"
  expect rollback by errors
}

test "wrongly expects a halt" {
  snapshot "spike.json"
  expect halt
}
"#;

fn snapshot(error_rate: &str, cascade: &str) -> String {
    format!(
        r#"{{"at": "2026-11-22T10:00:00Z",
  "deployment": {{"service": "search-api", "environment": "production", "cascade_depth": {cascade},
                 "rollback_target": {{"healthy": true}}}},
  "signals": {{"http.error_rate": {{"value": {error_rate}, "baseline": 0.01, "samples": 500,
                                  "observed_at": "2026-11-22T09:59:30Z"}},
              "deps.outage": {{"value": false, "observed_at": "2026-11-22T09:59:30Z"}}}}}}"#
    )
}

#[test]
fn eval_prints_a_decision_and_maps_exit_codes() {
    let s = Scratch::new(
        "eval",
        &[
            ("p.rollguard", POLICY),
            ("spike.json", &snapshot("0.05", "0")),
            ("ok.json", &snapshot("0.011", "0")),
        ],
    );
    let o = run(
        &[
            "eval",
            "p.rollguard",
            "--snapshot",
            "spike.json",
            "--format",
            "json",
        ],
        &s.0,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON decision");
    assert_eq!(d["decision"], "rollback");
    assert_eq!(d["fired"][0]["rule"], "errors");
    assert_eq!(d["fired"][0]["at"], "p.rollguard:7:3");
    let o = run(
        &[
            "eval",
            "p.rollguard",
            "--snapshot",
            "spike.json",
            "--exit-code",
        ],
        &s.0,
    );
    assert_eq!(o.status.code(), Some(30));
    assert!(text(&o).contains("decision: rollback"), "{}", text(&o));
    let o = run(&["eval", ".", "--snapshot", "ok.json", "--exit-code"], &s.0);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn eval_reads_the_snapshot_from_stdin() {
    let s = Scratch::new("stdin", &[("p.rollguard", POLICY), ("spike.json", "{}")]);
    let mut child = bin()
        .args(["eval", "p.rollguard", "--snapshot", "-", "--format", "json"])
        .current_dir(&s.0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(snapshot("0.05", "0").as_bytes())
        .expect("write");
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"decision\": \"rollback\""));
}

#[test]
fn a_bad_snapshot_gets_exit_2_naming_the_path_and_no_decision() {
    let s = Scratch::new(
        "badsnap",
        &[
            ("p.rollguard", POLICY),
            ("spike.json", "{}"),
            ("type.json", &snapshot("0.05", "\"deep\"")),
            ("notjson.json", "{\"at\": "),
            ("ratio.json", &snapshot("\"high\"", "0")),
        ],
    );
    for (file, path) in [
        ("type.json", "deployment.cascade_depth"),
        ("notjson.json", "JSON"),
        ("ratio.json", "signals[\"http.error_rate\"].value"),
    ] {
        let o = run(
            &[
                "eval",
                "p.rollguard",
                "--snapshot",
                file,
                "--format",
                "json",
                "--exit-code",
            ],
            &s.0,
        );
        assert_eq!(o.status.code(), Some(2), "{file}: {}", text(&o));
        assert!(o.stdout.is_empty(), "{file}: a decision was printed");
        assert!(text(&o).contains(path), "{file}: {}", text(&o));
    }
    let o = run(&["eval", "p.rollguard", "--snapshot", "nowhere.json"], &s.0);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_policy_that_does_not_compile_gets_exit_1_from_eval_and_check() {
    let bad =
        "signal p99: duration = \"http.latency.p99\"\npolicy p {\n  halt slow when p99 > 800\n}\n";
    let s = Scratch::new(
        "badpolicy",
        &[("p.rollguard", bad), ("s.json", &snapshot("0.05", "0"))],
    );
    let o = run(&["eval", "p.rollguard", "--snapshot", "s.json"], &s.0);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(o.stdout.is_empty());
    let o = run(&["check", "p.rollguard"], &s.0);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o);
    assert!(out.contains("error[E0004]"), "{out}");
    assert!(out.contains("p.rollguard:3:18"), "{out}");
    assert!(out.contains("write `800ms`"), "{out}");
    assert!(out.contains("help:"), "{out}");
}

#[test]
fn check_takes_each_directory_as_its_own_set() {
    let s = Scratch::new(
        "tree",
        &[
            ("a/one.rollguard", "signal x: ratio = \"x\"\n"),
            ("b/one.rollguard", "signal x: ratio = \"x\"\n"),
            ("b/two.rollguard", "signal y: count = \"y\"\n"),
        ],
    );
    let o = run(&["check", "."], &s.0);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("3 files in 2 sets"), "{}", text(&o));
    // Named together, the two files declaring `x` are one set: a duplicate naming both.
    let o = run(&["check", "a/one.rollguard", "b/one.rollguard"], &s.0);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o);
    assert!(
        out.contains("a/one.rollguard") && out.contains("b/one.rollguard"),
        "{out}"
    );
}

#[test]
fn test_reports_each_test_and_fails_on_a_wrong_expectation() {
    let s = Scratch::new(
        "tests",
        &[
            ("p.rollguard", POLICY),
            ("spike.json", &snapshot("0.05", "0")),
        ],
    );
    let o = run(&["test", "."], &s.0);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("ok      a spike rolls back"), "{out}");
    assert!(out.contains("FAILED  wrongly expects a halt"), "{out}");
    assert!(out.contains("expected: halt"), "{out}");
    assert!(out.contains("actual:   rollback by errors"), "{out}");
    assert!(out.contains("1 passed, 1 failed"), "{out}");
    let passing = POLICY.split("test \"wrongly").next().expect("first part");
    let s = Scratch::new(
        "tests-pass",
        &[
            ("p.rollguard", passing),
            ("spike.json", &snapshot("0.05", "0")),
        ],
    );
    let o = run(&["test", "."], &s.0);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("1 passed, 0 failed"));
}

#[test]
fn explain_documents_every_code() {
    for c in rollguard::codes::ALL {
        let o = run(&["explain", c.as_str()], Path::new("."));
        assert_eq!(o.status.code(), Some(0), "{}", c.as_str());
        let out = text(&o);
        assert!(out.starts_with(&format!("{}: ", c.as_str())), "{out}");
        assert!(out.len() > 150, "{} is explained too briefly", c.as_str());
    }
    let o = run(&["explain", "E9999"], Path::new("."));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("E0001"));
}

#[test]
fn bad_usage_is_exit_2() {
    let o = run(
        &["eval", "nowhere.rollguard", "--snapshot", "x.json"],
        Path::new("."),
    );
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["frobnicate"], Path::new("."));
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["check"], Path::new("."));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn the_bundled_examples_pass_their_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = run(&["check", "examples"], root);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("0 errors, 0 warnings"), "{}", text(&o));
    let o = run(&["test", "examples"], root);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains(" 0 failed"), "{}", text(&o));
}

const LINTY: &str = r#"use std::http

policy checkout {
  applies when deployment.service == "checkout"
  halt slow when latency_p99 > 2 * baseline(latency_p99)
}
"#;

#[test]
fn deny_warnings_turns_lints_into_failure() {
    let s = Scratch::new("deny", &[("p.rollguard", LINTY)]);
    let o = run(&["check", "."], &s.0);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("warning[W0002]"), "{}", text(&o));
    let o = run(&["check", ".", "--deny", "warnings"], &s.0);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = run(&["check", ".", "--deny", "everything"], &s.0);
    assert_eq!(o.status.code(), Some(2), "bad usage: {}", text(&o));
}

#[test]
fn check_speaks_json_sarif_and_github() {
    let s = Scratch::new("formats", &[("p.rollguard", LINTY)]);
    let o = run(&["check", "p.rollguard", "--format", "json"], &s.0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v[0]["code"], "W0002");
    assert_eq!(v[0]["file"], "p.rollguard");
    assert_eq!(v[0]["line"], 5);
    let o = run(&["check", "p.rollguard", "--format", "sarif"], &s.0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("SARIF");
    assert_eq!(v["version"], "2.1.0");
    assert_eq!(v["runs"][0]["results"][0]["ruleId"], "W0002");
    let o = run(&["check", "p.rollguard", "--format", "github"], &s.0);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with("::warning file=p.rollguard,line=5,col=8,"),
        "{out}"
    );
}

#[test]
fn test_speaks_junit_and_fails_ci_on_a_failed_test() {
    let s = Scratch::new(
        "junit",
        &[
            ("p.rollguard", POLICY),
            ("spike.json", &snapshot("0.05", "0")),
        ],
    );
    let o = run(&["test", ".", "--format", "junit"], &s.0);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("<testsuites name=\"rollguard\" tests=\"2\" failures=\"1\""),
        "{out}"
    );
    assert!(
        out.contains("<failure message=\"expected halt, got rollback by errors\""),
        "{out}"
    );
    let o = run(&["test", ".", "--format", "json"], &s.0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["passed"], 1);
    assert_eq!(v["coverage"]["rules"]["total"], 1);
}

/// The section of `doc` whose `## ` heading starts with `number` ("13."), up to the next one.
fn doc_section<'a>(doc: &'a str, number: &str) -> &'a str {
    let heading = format!("\n## {number} ");
    let start = doc
        .find(&heading)
        .unwrap_or_else(|| panic!("docs/language.md has no section {number}"));
    let body = &doc[start + 1..];
    let end = body[3..].find("\n## ").map_or(body.len(), |e| e + 3);
    &body[..end]
}

/// The diagnostic codes `src/codes.rs` defines (the `"E0001"` and `"W0001"` literals of
/// its `codes!` table), read from the source so a code added there is required here without
/// touching this test.
fn codes_in_source() -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let source = fs::read_to_string(root.join("src/codes.rs")).expect("src/codes.rs");
    let start = source
        .find("\ncodes! {")
        .expect("the codes! table in src/codes.rs");
    let entry = &source[start..];
    let entry = &entry[..entry.find("\n}\n").unwrap_or(entry.len())];
    let mut codes: Vec<String> = entry
        .match_indices('"')
        .filter_map(|(i, _)| entry.get(i + 1..i + 7))
        .filter(|c| {
            let b = c.as_bytes();
            matches!(b[0], b'E' | b'W') && b[1..5].iter().all(u8::is_ascii_digit) && b[5] == b'"'
        })
        .map(|c| c[..5].to_string())
        .collect();
    codes.sort();
    codes.dedup();
    codes
}

#[test]
fn the_language_reference_lists_every_command_and_code() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let doc = fs::read_to_string(root.join("docs/language.md")).expect("docs/language.md");
    let mut missing = Vec::new();

    // Every command `rollguard --help` lists, in §13.
    let help = text(&run(&["--help"], Path::new(".")));
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 5, "no commands in --help:\n{help}");
    let cli = doc_section(&doc, "13.");
    for c in &commands {
        if !cli.contains(&format!("`rollguard {c}")) {
            missing.push(format!("§13 does not list the command `rollguard {c}`"));
        }
    }

    // Every diagnostic code, in §17's table; lint codes with how to allow them.
    let codes = codes_in_source();
    assert!(
        codes.len() >= 30,
        "too few codes read from src/codes.rs: {codes:?}"
    );
    assert_eq!(
        codes.len(),
        rollguard::codes::ALL.len(),
        "src/codes.rs and codes::ALL disagree"
    );
    let table = doc_section(&doc, "17.");
    for c in &codes {
        if !table.contains(&format!("\n| {c} |")) {
            missing.push(format!("§17 does not list the code {c}"));
        }
    }
    for a in ["@allow", "@until"] {
        if !table.contains(a) {
            missing.push(format!("§17 does not say how `{a}` applies to lints"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/language.md:\n{}",
        missing.join("\n")
    );
}
