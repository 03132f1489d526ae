//! Inputs the fuzzers found, kept as tests: every file under `fuzz/regressions/<target>/` runs
//! through the same function as the fuzz target of that name (the fuzz crate's `src/lib.rs`,
//! included below), and must not panic. See docs/testing.md, "Fuzzing".
//!
//! An input whose bug is not fixed yet is listed in [`KNOWN_OPEN`]: it must still panic (so the
//! list cannot go stale); once the fix lands, the test says to remove it from the list, and from
//! then on it guards against the bug coming back.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod targets;

/// Regression inputs (`<target>/<file>`) whose crash is not fixed yet, with where it happens.
const KNOWN_OPEN: &[(&str, &str)] = &[];

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut files: Vec<PathBuf> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.is_file())
            .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

fn run(target: &str, f: fn(&[u8])) {
    let mut problems = Vec::new();
    let files = inputs(target);
    for path in &files {
        let name = format!("{target}/{}", path.file_name().unwrap().to_string_lossy());
        let bytes = fs::read(path).unwrap_or_else(|e| panic!("cannot read {name}: {e}"));
        let panicked = panic::catch_unwind(AssertUnwindSafe(|| f(&bytes))).is_err();
        match (KNOWN_OPEN.iter().find(|(n, _)| *n == name), panicked) {
            (None, false) => {}
            (None, true) => problems.push(format!("{name}: panicked (see above)")),
            (Some((_, bug)), true) => eprintln!("{name}: still panics, known open bug: {bug}"),
            (Some(_), false) => problems.push(format!(
                "{name}: no longer panics; the bug is fixed, so remove it from KNOWN_OPEN in \
                 tests/fuzz_regressions.rs"
            )),
        }
    }
    eprintln!("{target}: {} regression input(s)", files.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn policy_regressions() {
    run("policy", targets::policy);
}

#[test]
fn snapshot_regressions() {
    run("snapshot", targets::snapshot);
}

#[test]
fn request_regressions() {
    run("request", targets::request);
}

#[test]
fn every_known_open_input_exists() {
    for (name, _) in KNOWN_OPEN {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/regressions")
            .join(name);
        assert!(path.is_file(), "KNOWN_OPEN names a missing file: {name}");
    }
}

/// The harness itself works outside the fuzzer, and `fuzz/seed.sh` (which `fuzz/ci.sh` runs for
/// its corpus) still collects the repository's files: it builds the seeds into a scratch
/// directory, each target gets the files it must (the hostile `tests/bad-input/` ones included),
/// and a sample of each target's seeds (every 20th) goes through it without a panic.
#[test]
fn seeds_sample_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-seeds");
    // seed.sh keeps what is already there (a campaign's grown corpus); a seed deleted from the
    // repository must not linger here.
    let _ = fs::remove_dir_all(&out);
    let status = Command::new("bash")
        .arg(root.join("fuzz/seed.sh"))
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .expect("bash runs fuzz/seed.sh");
    assert!(status.success(), "fuzz/seed.sh failed: {status}");
    for (target, f, must_have) in [
        (
            "policy",
            targets::policy as fn(&[u8]),
            [
                "tests__bad-input__policy-nesting-65.rollguard",
                "stdlib__std__http.rollguard",
            ],
        ),
        (
            "snapshot",
            targets::snapshot,
            [
                "tests__bad-input__snapshot-nan.json",
                "tests__eval__actor_is_agent__snapshot.json",
            ],
        ),
        (
            "request",
            targets::request,
            [
                "tests__bad-input__snapshot-nan.json",
                "tests__eval__actor_is_agent__snapshot.json",
            ],
        ),
    ] {
        let dir = out.join(target);
        let mut seeds: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .collect();
        seeds.sort();
        for name in must_have {
            assert!(
                dir.join(name).is_file(),
                "fuzz/seed.sh left {name} out of the {target} seeds"
            );
        }
        for path in &seeds {
            let name = path.file_name().unwrap().to_string_lossy();
            assert!(
                !name.ends_with("expected.json") && !name.starts_with("tests__fixtures__"),
                "{name} is an expected output, not a {target} seed"
            );
        }
        for path in seeds.iter().step_by(20) {
            f(&fs::read(path).expect("a seed"));
        }
    }
    let _ = fs::remove_dir_all(&out);
}
