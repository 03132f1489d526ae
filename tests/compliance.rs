//! `rollguard report compliance` on the bundled examples: the Markdown, JSON and HTML reports
//! against golden files in tests/compliance/ (`-- --bless` rewrites them), and the HTML
//! opened in headless Chromium.

mod common;

use std::path::PathBuf;
use std::process::Command;

use libtest_mimic::{Arguments, Failed, Trial};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The report of `examples/`, run from the repository's root so the places in it are relative.
fn report(format: &str) -> Result<String, Failed> {
    let out = Command::new(env!("CARGO_BIN_EXE_rollguard"))
        .args(["report", "compliance", "examples/", "--format", format])
        .current_dir(root())
        .output()
        .map_err(|e| format!("the binary does not run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "report compliance --format {format} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    String::from_utf8(out.stdout).map_err(|e| format!("not UTF-8: {e}").into())
}

fn golden(format: &str) -> Result<(), Failed> {
    let actual = report(format)?;
    if report(format)? != actual {
        return Err("two runs of one report differ".into());
    }
    let expected = root()
        .join("tests/compliance")
        .join(format!("examples.{format}"));
    common::expect_file(&expected, &actual, "compliance").map_err(Failed::from)
}

fn json_agrees_with_itself() -> Result<(), Failed> {
    // The JSON agrees with itself: a control is tested exactly when a test is listed for it,
    // and `untested` lists the mapped controls without one.
    let v: serde_json::Value = serde_json::from_str(&report("json")?).expect("JSON");
    let mut untested = Vec::new();
    for cat in v["catalogs"].as_array().expect("catalogs") {
        for c in cat["controls"].as_array().expect("controls") {
            let tests = c["tests"].as_array().expect("tests").len();
            let statements = c["statements"].as_array().expect("statements").len();
            match c["status"].as_str().expect("status") {
                "tested" => assert!(tests > 0 && statements > 0, "{c}"),
                "untested" => {
                    assert!(tests == 0 && statements > 0, "{c}");
                    untested.push(c["id"].clone());
                }
                "unmapped" => assert!(tests == 0 && statements == 0, "{c}"),
                other => panic!("status {other}"),
            }
        }
    }
    assert_eq!(v["untested"].as_array().expect("untested"), &untested);
    Ok(())
}

/// The page loads in a real browser with nothing in its console (no blocked resource, no
/// script error) and renders the table of controls.
fn html_report_renders_in_headless_chromium() -> Result<(), Failed> {
    let Some(chromium) =
        common::require_program("chromium", "Chromium", "apt-get install chromium")
    else {
        return Ok(());
    };
    let dir = std::env::temp_dir().join(format!("rollguard-compliance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let page = dir.join("report.html");
    std::fs::write(&page, report("html")?).expect("write the page");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    let _ = std::fs::remove_dir_all(&dir);
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed:\n{log}");
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(
        console.is_empty(),
        "the page wrote to the console:\n{}",
        console.join("\n")
    );
    assert!(
        dom.contains("<table class=\"controls\">"),
        "no controls table in the rendered page:\n{dom}"
    );
    for text in ["NIST-CSF-2.0 RC.RP-03", "<td class=\"tested\">tested</td>"] {
        assert!(dom.contains(text), "the rendered page lacks {text}");
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_iter(std::env::args().filter(|a| a != "--bless"));
    let trials = vec![
        Trial::test("markdown_report_of_the_examples", || golden("md")),
        Trial::test("json_report_of_the_examples", || golden("json")),
        Trial::test("json_report_agrees_with_itself", json_agrees_with_itself),
        Trial::test("html_report_of_the_examples", || golden("html")),
        Trial::test(
            "html_report_renders_in_headless_chromium",
            html_report_renders_in_headless_chromium,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
