//! `rollguard diff`, data-driven: each `tests/diff/CASE/` holds two versions of a policy set,
//! `old/` and `new/`, and the report expected for them in `expected.txt`. A case may also hold
//! `cli.json` and `cli.github` (the binary's `--format json` and `--format github --deny
//! loosening` output) and `cli.status` (the exit status of `--deny loosening`).
//!
//! Every witness in a report is evaluated again with both versions, so a report cannot claim a
//! decision the evaluator does not make. Run `cargo test --test diff -- --bless` (or set
//! `ROLLGUARD_BLESS=1`) to write the expected files from the current output.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Arguments, Failed, Trial};
use rollguard::diff::{self, Direction, Side};
use rollguard::{compile, Compilation, FsLoader, SetFile};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/diff")
}

/// Compares `actual` with the file at `expected`, or writes it when blessing.
fn expect_file(expected: &Path, actual: &str) -> Result<(), Failed> {
    common::expect_file(expected, actual, "diff").map_err(Failed::from)
}

/// The policy files of one version, named relative to the case so output does not depend on
/// where the repository lives.
fn set_files(dir: &Path, base: &Path) -> Vec<SetFile> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .expect("version directory")
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

fn compiled(files: &[SetFile]) -> Result<Compilation, Failed> {
    let c = compile(files, &FsLoader);
    if c.compiled.is_none() {
        let msgs: Vec<String> = c
            .diagnostics
            .iter()
            .map(|d| d.one_line(&c.sources))
            .collect();
        return Err(format!("a version does not compile:\n{}", msgs.join("\n")).into());
    }
    Ok(c)
}

/// Every witness, evaluated again: the old and new versions decide as the report says, and in
/// the direction it claims.
fn check_witnesses(d: &diff::Diff, old: &Compilation, new: &Compilation) -> Result<(), Failed> {
    let (a, b) = (
        old.compiled.as_ref().unwrap(),
        new.compiled.as_ref().unwrap(),
    );
    for c in &d.changes {
        let Some(w) = &c.witness else { continue };
        let da = a
            .decide_value(w.snapshot.clone())
            .map_err(|e| e.to_string())?;
        let db = b
            .decide_value(w.snapshot.clone())
            .map_err(|e| e.to_string())?;
        if (da.decision, db.decision) != (w.old_decision, w.new_decision) {
            return Err(format!(
                "the witness of {} {} is not decided as reported",
                c.kind, c.item
            )
            .into());
        }
        let ok = match c.direction {
            Direction::Loosens => db.decision < da.decision,
            Direction::Tightens => db.decision > da.decision,
            _ => false,
        };
        if !ok {
            return Err(format!(
                "the witness of {} {} does not show its direction",
                c.kind, c.item
            )
            .into());
        }
    }
    Ok(())
}

fn case(dir: PathBuf) -> Result<(), Failed> {
    let (old_files, new_files) = (
        set_files(&dir.join("old"), &dir),
        set_files(&dir.join("new"), &dir),
    );
    let (old, new) = (compiled(&old_files)?, compiled(&new_files)?);
    let (a, b) = (
        Side::new(&old_files, &old).expect("compiled"),
        Side::new(&new_files, &new).expect("compiled"),
    );
    let d = diff::compare(&a, &b);
    check_witnesses(&d, &old, &new)?;
    // Determinism: the same report twice.
    if diff::to_json(&diff::compare(&a, &b)) != diff::to_json(&d) {
        return Err("two comparisons of one pair differ".into());
    }
    expect_file(&dir.join("expected.txt"), &diff::to_text(&d))?;
    if dir.join("cli.json").exists() || dir.join("cli.github").exists() {
        let json = run(&dir, &["--format", "json"]);
        expect_file(&dir.join("cli.json"), &json.1)?;
        let github = run(&dir, &["--format", "github", "--deny", "loosening"]);
        expect_file(&dir.join("cli.github"), &github.1)?;
        expect_file(&dir.join("cli.status"), &format!("{}\n", github.0))?;
    }
    Ok(())
}

/// `rollguard diff old new ARGS` in the case directory: exit status and standard output.
fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rollguard"))
        .args(["diff", "old", "new"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn case_trials() -> Vec<Trial> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root())
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs.into_iter()
        .map(|d| {
            let name = d
                .file_name()
                .expect("case name")
                .to_string_lossy()
                .to_string();
            Trial::test(format!("diff::{name}"), move || case(d))
        })
        .collect()
}

/// Every bundled example against itself formatted, its declarations in reverse order:
/// nothing to report.
fn reformat_trial() -> Trial {
    Trial::test(
        "diff::every_example_reformatted_and_reordered_reports_nothing",
        || {
            let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
            let mut dirs: Vec<PathBuf> = fs::read_dir(&examples)
                .map_err(|e| e.to_string())?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect();
            dirs.sort();
            assert!(dirs.len() >= 5, "too few examples");
            for dir in dirs {
                let old_files = set_files(&dir, &examples);
                let new_files: Vec<SetFile> = old_files
                    .iter()
                    .rev()
                    .map(|f| {
                        let formatted =
                            rollguard::fmt::format(&f.text).expect("an example formats");
                        SetFile {
                            name: f.name.clone(),
                            path: f.path.clone(),
                            text: reversed(&formatted),
                        }
                    })
                    .collect();
                let (old, new) = (compiled(&old_files)?, compiled(&new_files)?);
                let d = diff::compare(
                    &Side::new(&old_files, &old).expect("compiled"),
                    &Side::new(&new_files, &new).expect("compiled"),
                );
                if !d.changes.is_empty() {
                    return Err(format!("{}:\n{}", dir.display(), diff::to_text(&d)).into());
                }
            }
            Ok(())
        },
    )
}

/// The file's top-level declarations in reverse order (the formatter separates them with a
/// blank line and starts each at column 0), each with its comments.
fn reversed(formatted: &str) -> String {
    let mut blocks: Vec<String> = Vec::new();
    for b in formatted.trim_end().split("\n\n") {
        // A blank line inside a declaration: its next line is indented, or closes it.
        match blocks.last_mut() {
            Some(last) if b.starts_with([' ', '}']) => {
                last.push_str("\n\n");
                last.push_str(b);
            }
            _ => blocks.push(b.to_string()),
        }
    }
    blocks.reverse();
    blocks.join("\n\n") + "\n"
}

fn cli_trials() -> Vec<Trial> {
    let example =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/error-spike-with-outage");
    let bad = root().join("policy-removed-and-added/old");
    vec![
        Trial::test(
            "cli::a_set_that_does_not_compile_exits_2_with_its_diagnostics",
            move || {
                let dir =
                    std::env::temp_dir().join(format!("rollguard-diff-bad-{}", std::process::id()));
                fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                let file = dir.join("broken.rollguard");
                fs::write(&file, "policy p {\n  halt slow when p99 > 1s\n}\n")
                    .map_err(|e| e.to_string())?;
                let out = Command::new(env!("CARGO_BIN_EXE_rollguard"))
                    .arg("diff")
                    .arg(&bad)
                    .arg(&file)
                    .output()
                    .map_err(|e| e.to_string())?;
                let _ = fs::remove_dir_all(&dir);
                let err = String::from_utf8_lossy(&out.stderr);
                if out.status.code() != Some(2)
                    || !err.contains("E0002")
                    || !err.contains("does not compile")
                {
                    return Err(format!("status {:?}, stderr:\n{err}", out.status.code()).into());
                }
                Ok(())
            },
        ),
        Trial::test("cli::a_missing_path_exits_2", move || {
            let out = Command::new(env!("CARGO_BIN_EXE_rollguard"))
                .arg("diff")
                .arg(&example)
                .arg("no/such/dir")
                .output()
                .map_err(|e| e.to_string())?;
            let err = String::from_utf8_lossy(&out.stderr);
            if out.status.code() != Some(2) || !err.contains("no such file or directory") {
                return Err(format!("status {:?}, stderr:\n{err}", out.status.code()).into());
            }
            Ok(())
        }),
        Trial::test(
            "cli::deny_loosening_passes_tightening_and_fails_unknown",
            || {
                for (case, deny, plain) in [
                    ("reformat", 0, 0),
                    ("rule-threshold-tightens-signal-on-right", 0, 0),
                    ("rule-threshold-loosens", 1, 0),
                    ("unknown-direction", 1, 0),
                    ("dry-run-toggles", 1, 0),
                ] {
                    let dir = root().join(case);
                    let got = (run(&dir, &["--deny", "loosening"]).0, run(&dir, &[]).0);
                    if got != (deny, plain) {
                        return Err(format!(
                            "{case}: exit statuses {got:?}, expected {:?}",
                            (deny, plain)
                        )
                        .into());
                    }
                }
                Ok(())
            },
        ),
    ]
}

fn main() {
    let args = Arguments::from_iter(std::env::args().filter(|a| a != "--bless"));
    let mut trials = case_trials();
    trials.push(reformat_trial());
    trials.extend(cli_trials());
    libtest_mimic::run(&args, trials).exit();
}
