//! Every lint explanation's example shows its own code, and its `Fix:` example does not.
//!
//! An example is the indented block after "Example"; a fix is the indented block after "Fix".
//! Lines that are not declarations (`applies`, `require`, rules, approvals, annotations) are
//! read inside a policy: the example's own, or one around them. Signals the examples read
//! without declaring them come from a small prelude.

use crate::codes::ALL;
use crate::{compile, SetFile};

use crate::check::NoFiles;

const PRELUDE: &[(&str, &str)] = &[
    (
        "error_rate",
        "signal error_rate: ratio = \"http.error_rate\"",
    ),
    ("p99", "signal p99: duration = \"http.latency.p99\""),
];

/// The indented block after the paragraph that starts with `word`, without its indentation.
fn block(text: &str, word: &str) -> Option<Vec<String>> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with(word)).skip(1);
    let mut out = Vec::new();
    for l in lines.by_ref() {
        if let Some(code) = l.strip_prefix("    ") {
            out.push(code.to_string());
        } else if l.trim().is_empty() {
            out.push(String::new());
        } else if out.iter().any(|l| !l.is_empty()) {
            break;
        }
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out.iter().any(|l| !l.is_empty()).then_some(out)
}

const DECLARATIONS: &[&str] = &[
    "policy ", "scope ", "signal ", "class ", "let ", "fn ", "use ", "}",
];

/// Declarations stay as they are, with `statements` added to their first policy; other lines
/// go into a policy of their own.
fn source(lines: &[String], statements: &[String]) -> String {
    let mut items = String::new();
    let mut body = String::new();
    let mut depth = 0;
    for l in lines {
        if depth == 0 && !l.is_empty() && !DECLARATIONS.iter().any(|d| l.starts_with(d)) {
            body.push_str(l);
            body.push('\n');
        } else {
            items.push_str(l);
            items.push('\n');
            if depth == 0 && l.starts_with("policy ") && l.ends_with('{') {
                for s in statements {
                    items.push_str(s);
                    items.push('\n');
                }
            }
            depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
        }
    }
    for (name, decl) in PRELUDE {
        if !items.contains(&format!("signal {name}:")) {
            items.push_str(decl);
            items.push('\n');
        }
    }
    if !body.is_empty() {
        items.push_str(&format!("policy example {{\n{body}}}\n"));
    }
    format!("use std::classes\n{items}")
}

fn codes_of(text: &str) -> Result<Vec<&'static str>, String> {
    let files = [SetFile {
        name: "example.rollguard".into(),
        path: "example.rollguard".into(),
        text: text.into(),
    }];
    let mut c = compile(&files, &NoFiles);
    if c.has_errors() {
        let errors: Vec<String> = c.diagnostics.iter().map(|d| d.message.clone()).collect();
        return Err(format!("does not compile: {}\n{text}", errors.join("; ")));
    }
    c.lint(chrono::NaiveDate::from_ymd_opt(2030, 1, 1));
    Ok(c.diagnostics.iter().map(|d| d.code.as_str()).collect())
}

fn is_statement(l: &str) -> bool {
    !DECLARATIONS.iter().any(|d| l.starts_with(d))
}

#[test]
fn every_lint_example_shows_its_code_and_its_fix_does_not() {
    let mut problems = Vec::new();
    for code in ALL.iter().filter(|c| c.as_str() >= "W0002") {
        let (name, text) = (code.as_str(), code.explanation());
        let Some(example) = block(text, "Example") else {
            problems.push(format!("{name}: no example"));
            continue;
        };
        match codes_of(&source(&example, &[])) {
            Err(e) => problems.push(format!("{name}: the example {e}")),
            Ok(found) if !found.contains(&name) => {
                problems.push(format!("{name}: the example shows {found:?}"))
            }
            Ok(_) => {}
        }
        let Some(fix) = block(text, "Fix") else {
            continue;
        };
        // Statements alone are added to the example's policy; declarations replace it.
        let fixed = if fix.iter().all(|l| is_statement(l))
            && example.iter().any(|l| l.starts_with("policy "))
        {
            source(&example, &fix)
        } else {
            source(&fix, &[])
        };
        match codes_of(&fixed) {
            Err(e) => problems.push(format!("{name}: the fix {e}")),
            Ok(found) if found.contains(&name) => {
                problems.push(format!("{name}: the fix still shows it\n{fixed}"))
            }
            Ok(_) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
