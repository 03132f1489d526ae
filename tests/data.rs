//! Data-driven tests: a case is a file (or directory) with its expected output beside it.
//!
//! - `tests/ui/NAME.rollguard` or `tests/ui/NAME/` (a set of several files): the diagnostics
//!   as a user sees them, in `tests/ui/NAME.stderr`.
//! - `tests/eval/NAME/`: policy files and `snapshot.json`; the decision JSON in
//!   `expected.json`, or the snapshot error in `expected.err`.
//!
//!   Each safe suggestion of a UI case's diagnostics, applied alone, must remove its diagnostic
//!   and bring no new one (`suggestions::NAME`).
//!
//! Run `cargo test --test data -- --bless` (or set `ROLLGUARD_BLESS=1`) to write the expected
//! files from the current output; review the diff before committing.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use rollguard::{report, Compiler, FsLoader, Options, SetFile};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Compares `actual` with the file at `expected`, or writes it when blessing.
fn expect_file(expected: &Path, actual: &str) -> Result<(), Failed> {
    common::expect_file(expected, actual, "data").map_err(Failed::from)
}

/// The policy files of a case, named relative to `base` so output does not depend on where the
/// repository lives.
fn set_files(case: &Path, base: &Path) -> Vec<SetFile> {
    let mut paths: Vec<PathBuf> = if case.is_dir() {
        fs::read_dir(case)
            .expect("case directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "rollguard"))
            .collect()
    } else {
        vec![case.to_path_buf()]
    };
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

/// Compiles a set as `rollguard check` does: test snapshots and lints, with a fixed "today" so
/// `@until` cases do not change with the calendar.
fn compile_checked(files: &[SetFile]) -> rollguard::Compilation {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23);
    Compiler::new().compile(files, &FsLoader, &Options::checking(today))
}

fn ui_case(case: PathBuf, expected: PathBuf, base: PathBuf) -> Result<(), Failed> {
    let c = compile_checked(&set_files(&case, &base));
    let mut out = String::new();
    for d in &c.diagnostics {
        out.push_str(&d.render(&c.sources, false));
    }
    for a in &c.allowed {
        out.push_str(&format!(
            "allowed by @allow at {}: {}\n",
            c.sources.location(a.at),
            a.diagnostic.one_line(&c.sources)
        ));
    }
    if c.diagnostics.is_empty() && c.allowed.is_empty() {
        out.push_str("(no diagnostics)\n");
    }
    expect_file(&expected, &out)
}

/// The diagnostics of a set as comparable keys: code, message (spans move when text is
/// inserted or deleted before them) and whether it is an error.
type Key = (String, String, bool);

fn diagnostic_keys(files: &[SetFile]) -> (rollguard::Compilation, Vec<Key>) {
    let c = compile_checked(files);
    let keys = c
        .diagnostics
        .iter()
        .map(|d| (d.code.as_str().to_string(), d.message.clone(), d.is_error()))
        .collect();
    (c, keys)
}

/// Applies each safe suggestion of the case alone and compiles again: the diagnostic it fixes
/// is gone, and every error left was there before (the fix reveals no new error). Warnings
/// may appear: lints run only once a set has no errors.
fn suggestions_case(case: PathBuf, base: PathBuf) -> Result<(), Failed> {
    let files = set_files(&case, &base);
    let (c, before) = diagnostic_keys(&files);
    let mut problems = Vec::new();
    for (d, key) in c.diagnostics.iter().zip(&before) {
        for s in d.suggestions.iter().filter(|s| s.safe) {
            let name = &c.sources.get(s.span.file).name;
            // A fix in a module the set `use`s edits a file this harness does not rewrite.
            let Some(i) = files.iter().position(|f| &f.name == name) else {
                continue;
            };
            let mut fixed = files.clone();
            fixed[i].text.replace_range(s.span.range(), &s.replacement);
            let (_, after) = diagnostic_keys(&fixed);
            let count = |keys: &[Key], k: &Key| keys.iter().filter(|x| *x == k).count();
            if count(&after, key) >= count(&before, key) {
                problems.push(format!("`{}` did not remove {} {}", s.title, key.0, key.1));
            }
            for k in after.iter().filter(|k| k.2) {
                if count(&after, k) > count(&before, k) {
                    problems.push(format!(
                        "`{}` for {} brought {} {}",
                        s.title, key.0, k.0, k.1
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}

fn eval_case(case: PathBuf, base: PathBuf) -> Result<(), Failed> {
    let c = Compiler::new().compile(&set_files(&case, &base), &FsLoader, &Options::default());
    let Some(compiled) = &c.compiled else {
        let msgs: Vec<String> = c
            .diagnostics
            .iter()
            .map(|d| d.one_line(&c.sources))
            .collect();
        return Err(format!("the policy does not compile:\n{}", msgs.join("\n")).into());
    };
    let snapshot =
        fs::read(case.join("snapshot.json")).map_err(|e| format!("snapshot.json: {e}"))?;
    match compiled.decide(&snapshot) {
        Ok(d) => {
            let json = d.to_json() + "\n";
            // Determinism: a second evaluation prints the same bytes.
            let again = compiled.decide(&snapshot).map(|d| d.to_json() + "\n");
            if again.as_deref() != Ok(json.as_str()) {
                return Err("two evaluations of one snapshot differ".into());
            }
            if case.join("expected.err").exists() {
                return Err(format!("expected a snapshot error, got a decision:\n{json}").into());
            }
            expect_file(&case.join("expected.json"), &json)
        }
        Err(e) => {
            if case.join("expected.json").exists() {
                return Err(format!("expected a decision, got a snapshot error: {e}").into());
            }
            expect_file(&case.join("expected.err"), &format!("{e}\n"))
        }
    }
}

/// Every machine-readable format, on one set: `check` and, when it compiles, `test`.
fn formats_case(case: PathBuf, base: PathBuf) -> Result<(), Failed> {
    let c = compile_checked(&set_files(&case, &base));
    let records = report::records(&c);
    let sarif = report::to_sarif(&records);
    validate_sarif(&sarif)?;
    let mut human = String::new();
    for d in &c.diagnostics {
        human.push_str(&d.render(&c.sources, false));
    }
    expect_file(&case.join("check.human"), &human)?;
    expect_file(&case.join("check.json"), &report::to_json(&records))?;
    expect_file(&case.join("check.sarif"), &sarif)?;
    expect_file(&case.join("check.github"), &report::to_github(&records))?;
    if let Some(compiled) = &c.compiled {
        let mut r = rollguard::testing::Report::default();
        r.run(compiled, &c.sources, &FsLoader);
        let sarif = report::to_sarif(&r.records());
        validate_sarif(&sarif)?;
        expect_file(&case.join("test.human"), &r.to_human())?;
        expect_file(&case.join("test.json"), &r.to_json())?;
        expect_file(&case.join("test.junit"), &r.to_junit())?;
        expect_file(&case.join("test.sarif"), &sarif)?;
        expect_file(&case.join("test.github"), &report::to_github(&r.records()))?;
    }
    Ok(())
}

/// SARIF output must validate against the official SARIF 2.1.0 schema (tests/fixtures).
fn validate_sarif(text: &str) -> Result<(), Failed> {
    let schema: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(root().join("fixtures/sarif-schema-2.1.0.json"))
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let validator =
        jsonschema::validator_for(&schema).map_err(|e| format!("the schema does not load: {e}"))?;
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("SARIF is not JSON: {e}"))?;
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("SARIF does not validate:\n{}", errors.join("\n")).into())
    }
}

/// SARIF `fixes` (SARIF 2.1.0 §3.55): each result's fixes mirror its suggestions, with a
/// description, one artifact change naming the file, and a replacement whose `deletedRegion`
/// (lines and code-point columns, 1-based, end exclusive) covers exactly the suggestion's bytes
/// and whose `insertedContent.text` is its replacement.
fn sarif_fixes_trial() -> Trial {
    Trial::test("formats::sarif_fixes_replace_the_suggested_text", || {
        let base = root().join("formats");
        let case = base.join("errors");
        let files = set_files(&case, &base);
        let c = Compiler::new().compile(&files, &FsLoader, &Options::default());
        let records = report::records(&c);
        let sarif: serde_json::Value =
            serde_json::from_str(&report::to_sarif(&records)).map_err(|e| e.to_string())?;
        let results = sarif["runs"][0]["results"].as_array().ok_or("no results")?;
        let mut seen = 0;
        for (r, rec) in results.iter().zip(&records) {
            let fixes = r["fixes"].as_array().map_or(&[][..], |f| f.as_slice());
            if fixes.len() != rec.suggestions.len() {
                return Err(format!(
                    "{}: {} fixes for {} suggestions",
                    rec.code,
                    fixes.len(),
                    rec.suggestions.len()
                )
                .into());
            }
            for (f, s) in fixes.iter().zip(&rec.suggestions) {
                seen += 1;
                if f["description"]["text"] != s.title.as_str() {
                    return Err(format!(
                        "fix description {} is not {:?}",
                        f["description"], s.title
                    )
                    .into());
                }
                let changes = f["artifactChanges"]
                    .as_array()
                    .ok_or("no artifactChanges")?;
                let [change] = changes.as_slice() else {
                    return Err("one artifact change expected".into());
                };
                let uri = change["artifactLocation"]["uri"].as_str().ok_or("no uri")?;
                let text = &files
                    .iter()
                    .find(|f| f.name == uri)
                    .ok_or("uri names no file")?
                    .text;
                let [rep] = change["replacements"]
                    .as_array()
                    .ok_or("no replacements")?
                    .as_slice()
                else {
                    return Err("one replacement expected".into());
                };
                let region = &rep["deletedRegion"];
                let offset = |line: &serde_json::Value, col: &serde_json::Value| -> Option<usize> {
                    let (line, col) = (line.as_u64()? as usize, col.as_u64()? as usize);
                    let start: usize = text
                        .split_inclusive('\n')
                        .take(line - 1)
                        .map(str::len)
                        .sum();
                    Some(
                        start
                            + text[start..]
                                .chars()
                                .take(col - 1)
                                .map(char::len_utf8)
                                .sum::<usize>(),
                    )
                };
                let start = offset(&region["startLine"], &region["startColumn"])
                    .ok_or("bad region start")?;
                let end =
                    offset(&region["endLine"], &region["endColumn"]).ok_or("bad region end")?;
                if (start, end) != (s.start as usize, s.end as usize) {
                    return Err(format!(
                        "region {region} is bytes {start}..{end}, not {}..{}",
                        s.start, s.end
                    )
                    .into());
                }
                if rep["insertedContent"]["text"] != s.replacement.as_str() {
                    return Err(format!(
                        "insertedContent {} is not {:?}",
                        rep["insertedContent"], s.replacement
                    )
                    .into());
                }
            }
        }
        if seen == 0 {
            return Err("tests/formats/errors has no suggestion to check".into());
        }
        Ok(())
    })
}

fn formats_trials() -> Vec<Trial> {
    let base = root().join("formats");
    let mut entries: Vec<PathBuf> = fs::read_dir(&base)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    entries
        .into_iter()
        .map(|case| {
            let name = case
                .file_name()
                .expect("case name")
                .to_string_lossy()
                .to_string();
            let b = base.clone();
            Trial::test(format!("formats::{name}"), move || formats_case(case, b))
        })
        .collect()
}

fn ui_trials() -> Vec<Trial> {
    let base = root().join("ui");
    let mut entries: Vec<PathBuf> = fs::read_dir(&base)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    entries.sort();
    entries
        .into_iter()
        .filter(|p| p.is_dir() || p.extension().is_some_and(|x| x == "rollguard"))
        .filter(|p| p.file_name().is_none_or(|n| n != "fixtures"))
        .flat_map(|case| {
            let stem = case
                .file_stem()
                .expect("case name")
                .to_string_lossy()
                .to_string();
            let expected = base.join(format!("{stem}.stderr"));
            let (b, b2, case2) = (base.clone(), base.clone(), case.clone());
            [
                Trial::test(format!("ui::{stem}"), move || ui_case(case, expected, b)),
                Trial::test(format!("suggestions::{stem}"), move || {
                    suggestions_case(case2, b2)
                }),
            ]
        })
        .collect()
}

fn eval_trials() -> Vec<Trial> {
    let base = root().join("eval");
    let mut entries: Vec<PathBuf> = fs::read_dir(&base)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    entries
        .into_iter()
        .map(|case| {
            let name = case
                .file_name()
                .expect("case name")
                .to_string_lossy()
                .to_string();
            let b = base.clone();
            Trial::test(format!("eval::{name}"), move || eval_case(case, b))
        })
        .collect()
}

/// Every diagnostic code has an explanation, and some UI case shows it, as rustc's tidy asks.
fn codes_trial() -> Trial {
    Trial::test("ui::every_code_is_explained_and_exercised", || {
        let mut all = String::new();
        for e in fs::read_dir(root().join("ui"))
            .map_err(|e| e.to_string())?
            .flatten()
        {
            if e.path().extension().is_some_and(|x| x == "stderr") {
                all.push_str(&fs::read_to_string(e.path()).map_err(|e| e.to_string())?);
            }
        }
        let mut missing = Vec::new();
        for c in rollguard::codes::ALL {
            if c.explanation().trim().is_empty() || c.title().is_empty() {
                missing.push(format!("{} has no explanation", c.as_str()));
            }
            if !all.contains(&format!("[{}]", c.as_str())) {
                missing.push(format!("{} is shown by no tests/ui case", c.as_str()));
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing.join("\n").into())
        }
    })
}

fn main() {
    let args = Arguments::from_iter(std::env::args().filter(|a| a != "--bless"));
    let mut trials = ui_trials();
    trials.extend(eval_trials());
    trials.extend(formats_trials());
    trials.push(Trial::test("formats::the_schema_rejects_invalid_sarif", || {
        // The validation above can fail: a result with an unknown level is refused.
        let bad = r#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"level": "fatal", "message": {"text": "m"}}]}]}"#;
        match validate_sarif(bad) {
            Err(_) => Ok(()),
            Ok(()) => Err("an invalid SARIF document validated".into()),
        }
    }));
    trials.push(codes_trial());
    trials.push(sarif_fixes_trial());
    libtest_mimic::run(&args, trials).exit();
}
