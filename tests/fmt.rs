//! The formatter (`rollguard::fmt`): data-driven cases in `tests/fmt/` (`NAME.rollguard` and
//! `NAME.expected.rollguard`; `ROLLGUARD_BLESS=1` rewrites the expectations), every policy file
//! of the repository, and random policies with random layout and comments.
//!
//! Every formatted file must be a fixed point of the formatter, compile to the same IR digest
//! as its input, and keep every comment of the input in the same order.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use rollguard::fmt::{format, FormatError};
use rollguard::source::FileId;
use rollguard::syntax::ast::ItemKind;
use rollguard::syntax::parse::parse_file;
use rollguard::{compile, FsLoader, SetFile};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The comments of a policy text, in order, with their offsets, as the formatter must keep
/// them: line and block comments without trailing whitespace (per line), doc comments as the
/// parser reads them.
fn comments(text: &str) -> Vec<(usize, String)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if b[i..].starts_with(b"//") {
            let end = text[i..].find('\n').map_or(b.len(), |e| i + e);
            let c = &text[i..end];
            if c.starts_with("///") && !c.starts_with("////") {
                let body = &c[3..];
                let body = body.strip_prefix(' ').unwrap_or(body).trim_end();
                out.push((i, format!("doc:{body}")));
            } else {
                out.push((i, format!("line:{}", c.trim_end())));
            }
            i = end;
        } else if b[i..].starts_with(b"/*") {
            let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            let c: Vec<&str> = text[i..end].split('\n').map(str::trim_end).collect();
            out.push((i, format!("block:{}", c.join("\n"))));
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// Whether `sub` is `of` with some elements left out.
fn is_subsequence(sub: &[&String], of: &[&String]) -> bool {
    let mut of = of.iter();
    sub.iter().all(|s| of.any(|o| o == s))
}

/// Where the block of `use` declarations ends in formatted text: after the last one's line.
fn end_of_uses(formatted: &str) -> usize {
    let (file, _) = parse_file(FileId(0), formatted);
    file.items
        .iter()
        .filter(|i| matches!(i.kind, ItemKind::Use(_)))
        .map(|i| i.span.end as usize)
        .max()
        .map_or(0, |end| {
            formatted[end..]
                .find('\n')
                .map_or(formatted.len(), |n| end + n)
        })
}

/// Every comment of `before` is in `after`, in the same order, except that the comments of
/// `use` declarations moved with them to the top.
fn same_comments(before: &str, after: &str) -> Result<(), String> {
    let b = comments(before);
    let a = comments(after);
    let texts = |v: &[(usize, String)]| {
        let mut t: Vec<String> = v.iter().map(|(_, c)| c.clone()).collect();
        t.sort();
        t
    };
    if texts(&b) != texts(&a) {
        return Err(format!(
            "comments lost or added\n--- before\n{b:#?}\n--- after\n{a:#?}"
        ));
    }
    let split = end_of_uses(after);
    let all: Vec<&String> = b.iter().map(|(_, c)| c).collect();
    let top: Vec<&String> = a
        .iter()
        .filter(|(at, _)| *at < split)
        .map(|(_, c)| c)
        .collect();
    let rest: Vec<&String> = a
        .iter()
        .filter(|(at, _)| *at >= split)
        .map(|(_, c)| c)
        .collect();
    if !is_subsequence(&top, &all) || !is_subsequence(&rest, &all) {
        return Err(format!(
            "comments out of order\n--- before\n{b:#?}\n--- after\n{a:#?}"
        ));
    }
    Ok(())
}

/// The digest of `text` compiled as a one-file set at `path`, if it compiles.
fn digest(path: &Path, text: &str) -> Option<String> {
    let files = [SetFile {
        name: path.display().to_string(),
        path: path.to_path_buf(),
        text: text.to_string(),
    }];
    compile(&files, &FsLoader)
        .compiled
        .map(|c| c.digest().to_string())
}

/// The compiler's messages about `text`, for a failure message.
fn errors(path: &Path, text: &str) -> String {
    let files = [SetFile {
        name: path.display().to_string(),
        path: path.to_path_buf(),
        text: text.to_string(),
    }];
    let c = compile(&files, &FsLoader);
    c.diagnostics
        .iter()
        .map(|d| format!("{:?} {}", d.code, d.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks the formatter's promises on one input. `Ok(None)`: the input does not parse.
fn check(path: &Path, text: &str) -> Result<Option<String>, String> {
    let out = match format(text) {
        Ok(out) => out,
        Err(FormatError::Syntax(_)) => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let again =
        format(&out).map_err(|e| format!("{}: formatting the output: {e}", path.display()))?;
    if again != out {
        return Err(format!(
            "{}: not idempotent\n--- first\n{out}\n--- second\n{again}",
            path.display()
        ));
    }
    if let Some(before) = digest(path, text) {
        let after = digest(path, &out);
        if after.as_deref() != Some(before.as_str()) {
            return Err(format!(
                "{}: digest {before} became {after:?}\n{out}",
                path.display()
            ));
        }
    }
    same_comments(text, &out).map_err(|e| format!("{}: {e}", path.display()))?;
    if out.lines().any(|l| l != l.trim_end()) || !(out.is_empty() || out.ends_with('\n')) {
        return Err(format!("{}: trailing whitespace", path.display()));
    }
    if out.ends_with("\n\n") {
        return Err(format!("{}: more than one final newline", path.display()));
    }
    Ok(Some(out))
}

#[test]
fn data_driven_cases() {
    let dir = root().join("tests/fmt");
    let bless = std::env::var_os("ROLLGUARD_BLESS").is_some_and(|v| v == "1");
    let mut inputs: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("tests/fmt exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".rollguard") && !name.ends_with(".expected.rollguard")
        })
        .collect();
    inputs.sort();
    let mut failures = Vec::new();
    for input in &inputs {
        let text = fs::read_to_string(input).expect("readable case");
        let expected_path = input.with_extension("expected.rollguard");
        let out = match check(input, &text) {
            Ok(Some(out)) => out,
            Ok(None) => {
                failures.push(format!("{}: does not parse", input.display()));
                continue;
            }
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        if bless {
            fs::write(&expected_path, &out).expect("writable expectation");
            continue;
        }
        match fs::read_to_string(&expected_path) {
            Ok(expected) if expected == out => {}
            Ok(expected) => failures.push(format!(
                "{}: output differs from {}\n--- expected\n{expected}\n--- actual\n{out}",
                input.display(),
                expected_path.display()
            )),
            Err(_) => failures.push(format!(
                "{}: no {} (run with ROLLGUARD_BLESS=1)",
                input.display(),
                expected_path.display()
            )),
        }
    }
    assert!(
        inputs.len() >= 20,
        "expected at least 20 cases in tests/fmt, found {}",
        inputs.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn policy_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            policy_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rollguard") {
            out.push(p);
        }
    }
}

#[test]
fn every_policy_file_of_the_repository() {
    let mut files = Vec::new();
    for dir in ["examples", "stdlib", "tests"] {
        policy_files(&root().join(dir), &mut files);
    }
    files.sort();
    let mut formatted = 0;
    let mut failures = Vec::new();
    for f in &files {
        let text = fs::read_to_string(f).expect("readable policy file");
        match check(f, &text) {
            Ok(Some(_)) => formatted += 1,
            Ok(None) => {}
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(formatted >= 100, "only {formatted} files formatted");
}

/// The ```rollguard blocks of a Markdown text, each with the line its code starts on.
fn rollguard_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match &mut current {
            None if line.trim_start() == "```rollguard" => current = Some((i + 2, String::new())),
            None => {}
            Some(_) if line.trim_start().starts_with("```") => out.extend(current.take()),
            Some((_, code)) => {
                code.push_str(line);
                code.push('\n');
            }
        }
    }
    out
}

#[test]
fn the_readme_tour_is_formatted() {
    let readme = fs::read_to_string(root().join("README.md")).expect("README.md");
    let blocks = rollguard_blocks(&readme);
    assert!(!blocks.is_empty(), "README.md has no ```rollguard block");
    let mut failures = Vec::new();
    for (line, code) in &blocks {
        match format(code) {
            Ok(formatted) if formatted == *code => {}
            Ok(formatted) => failures.push(format!(
                "README.md:{line}: the block is not in the layout `rollguard fmt` prints; it should read:\n{formatted}"
            )),
            Err(e) => failures.push(format!("README.md:{line}: the block does not format: {e:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------- random policies

/// A token list: pieces of policy text that random whitespace and comments are put between.
type Toks = Vec<String>;

fn toks(parts: &[&str]) -> Toks {
    parts.iter().map(|s| s.to_string()).collect()
}

fn join(parts: Vec<Toks>) -> Toks {
    parts.into_iter().flatten().collect()
}

/// A `bool` condition over the signals `s0`, `s1` (ratios), `s2` (a duration), `s3` (a count).
fn condition() -> impl Strategy<Value = Toks> {
    let atom = prop_oneof![
        (0..2usize, 1..90u32).prop_map(|(s, n)| toks(&[&format!("s{s}"), ">", &format!("{n}%")])),
        (0..2usize).prop_map(|s| {
            let s = format!("s{s}");
            toks(&[&s, "<=", "2", "*", "baseline", "(", &s, ")"])
        }),
        (1..900u32).prop_map(|n| toks(&["s2", ">=", &format!("{n}ms")])),
        Just(toks(&["max", "(", "s2", ")", "over", "5m", ">", "1s"])),
        Just(toks(&["(", "s2", "-", "1s", ")", "<", "2s", "+", "500ms"])),
        (0..1000u32).prop_map(|n| toks(&["s3", ">", &n.to_string()])),
        Just(toks(&["s3", "%", "2", "==", "0"])),
        Just(toks(&["-", "s3", "<", "0"])),
        Just(toks(&["deployment.environment", "==", "\"production\""])),
        Just(toks(&[
            "deployment.labels[\"team\"]",
            "!=",
            "\"a \\\"b\\\"\""
        ])),
        Just(toks(&["s0", "in", "[", "1%", ",", "2%", "]"])),
        Just(toks(&["true"])),
        Just(toks(&["false"])),
    ];
    combine(atom.boxed())
}

/// A condition that reads `s0` alone, as a rule with a `for` window must.
fn single_signal_condition() -> impl Strategy<Value = Toks> {
    let atom = prop_oneof![
        (1..90u32).prop_map(|n| toks(&["s0", ">", &format!("{n}%")])),
        Just(toks(&["s0", ">=", "1.5", "*", "baseline", "(", "s0", ")"])),
        Just(toks(&["-", "s0", "<", "-", "1%"])),
    ];
    combine(atom.boxed())
}

/// Conditions built from `atom` with every boolean operator, parentheses and `? :`.
fn combine(atom: BoxedStrategy<Toks>) -> impl Strategy<Value = Toks> {
    atom.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop_oneof![Just("and"), Just("or"), Just("&&"), Just("||")],
                inner.clone()
            )
                .prop_map(|(a, op, b)| join(vec![a, toks(&[op]), b])),
            inner.clone().prop_map(|a| join(vec![toks(&["not"]), a])),
            inner
                .clone()
                .prop_map(|a| join(vec![toks(&["!", "("]), a, toks(&[")"])])),
            inner
                .clone()
                .prop_map(|a| join(vec![toks(&["("]), a, toks(&[")"])])),
            (inner.clone(), inner.clone(), inner).prop_map(|(c, a, b)| join(vec![
                c,
                toks(&["?"]),
                a,
                toks(&[":"]),
                b
            ])),
        ]
    })
}

/// Docs and annotations before a declaration or statement (`@mode` only where `mode` allows
/// it). A doc comment ends its line, and starts its own.
fn attrs(mode: bool) -> impl Strategy<Value = Toks> {
    let modes: &[&str] = if mode {
        &[
            "@severity(\"high\")",
            "@mode(\"dry_run\")",
            "@maps(\"NIST-CSF-2.0 RC.RP-1\")",
        ]
    } else {
        &["@severity(\"high\")", "@maps(\"NIST-CSF-2.0 RC.RP-1\")"]
    };
    (
        prop::option::of("[a-z ]{0,12}"),
        prop::option::of(prop::sample::select(modes)),
        prop::option::of(Just("@owner(team-a)")),
    )
        .prop_map(|(doc, a, b)| {
            let mut t = Vec::new();
            if let Some(d) = doc {
                t.push(format!("\n///{d}\n"));
            }
            t.extend(a.map(str::to_string));
            t.extend(b.map(str::to_string));
            t
        })
}

fn statement(n: usize) -> impl Strategy<Value = Toks> {
    let windowed = (
        single_signal_condition(),
        prop_oneof![Just("3m"), Just("90s"), Just("("), Just("w")],
    )
        .prop_map(|(c, w)| (c, Some(w)));
    let plain = condition().prop_map(|c| (c, None));
    let rule = (
        prop_oneof![
            Just("rollback"),
            Just("halt"),
            Just("hold"),
            Just("inconclusive")
        ],
        prop_oneof![windowed, plain],
        prop::option::of(condition()),
    )
        .prop_map(move |(action, (when, window), unless)| {
            let mut t = toks(&[action, &format!("r{n}"), "when"]);
            t.extend(when);
            match window {
                Some("(") => t.extend(toks(&["for", "(", "2m", "+", "30s", ")"])),
                Some(w) => t.extend(toks(&["for", w])),
                None => {}
            }
            if let Some(u) = unless {
                t.push("unless".into());
                t.extend(u);
            }
            t
        });
    let require = (
        prop_oneof![
            Just(toks(&["fresh", "(", "s0", ",", "s2", ")", "within", "2m"])),
            Just(toks(&["samples", "(", "s0", ")", ">=", "100"])),
            Just(toks(&[
                "has", "(", "s1", ")", "and", "fresh", "(", "s3", ")", "within", "1m"
            ])),
        ],
        prop_oneof![Just("inconclusive"), Just("hold"), Just("halt")],
    )
        .prop_map(|(cond, action)| join(vec![toks(&["require"]), cond, toks(&["else", action])]));
    let approval = (
        1..4u32,
        prop_oneof![
            Just(toks(&["group", "\"dba\""])),
            Just(toks(&["human"])),
            Just(toks(&["agent", "\"bot\""])),
        ],
        prop::option::of(condition()),
    )
        .prop_map(move |(count, who, when)| {
            let mut t = toks(&[
                "approval",
                &format!("a{n}"),
                "requires",
                &count.to_string(),
                "of",
            ]);
            t.extend(who);
            if let Some(w) = when {
                t.push("when".into());
                t.extend(w);
            }
            t
        });
    let local = (attrs(false), condition())
        .prop_map(move |(a, c)| join(vec![a, toks(&["let", &format!("l{n}"), "="]), c]));
    let gated = (
        attrs(true),
        prop_oneof![4 => rule, 2 => require, 1 => approval],
    )
        .prop_map(|(mut a, s)| {
            // `inconclusive` is not reserved by the grammar, so after an expression `/// x` and
            // `inconclusive` read as a division (`/`), a comment and a name.
            if s[0] == "inconclusive" && a.last().is_some_and(|t| t.contains("///")) {
                a.pop();
            }
            join(vec![a, s])
        });
    prop_oneof![6 => gated, 1 => local]
}

fn policy(n: usize) -> impl Strategy<Value = Toks> {
    (
        attrs(true),
        prop::option::of(condition()),
        (0..5usize).prop_flat_map(|k| (0..k).map(statement).collect::<Vec<_>>()),
    )
        .prop_map(move |(a, applies, statements)| {
            let mut t = a;
            t.extend(toks(&["policy", &format!("p{n}"), "{"]));
            if let Some(c) = applies {
                t.extend(toks(&["applies", "when"]));
                t.extend(c);
            }
            t.extend(statements.into_iter().flatten());
            t.push("}".into());
            t
        })
}

fn item() -> impl Strategy<Value = Toks> {
    prop_oneof![
        (attrs(false), 0..1000u32).prop_map(|(a, n)| {
            join(vec![
                a,
                toks(&[
                    "let",
                    &format!("g{n}"),
                    "=",
                    "s0",
                    ">",
                    "1%",
                    "and",
                    "s3",
                    ">",
                    "2",
                ]),
            ])
        }),
        (0..1000u32).prop_map(|n| toks(&[
            "fn",
            &format!("f{n}"),
            "(",
            "x",
            ":",
            "ratio",
            ",",
            "y",
            ":",
            "count",
            ")",
            "->",
            "bool",
            "=",
            "x",
            ">",
            "1%",
            "or",
            "y",
            "<",
            "3"
        ])),
        (0..1000u32).prop_map(|n| toks(&[
            "class",
            &format!("c{n}"),
            "{",
            "touches",
            "[",
            "secrets",
            ",",
            "permissions",
            "]",
            "irreversible",
            "}"
        ])),
        (0..1000u32).prop_map(|n| toks(&["class", &format!("c{n}"), "{", "}"])),
        (0..1000u32).prop_map(|n| toks(&[
            "scope",
            &format!("sc{n}"),
            "{",
            "principals",
            "[",
            "group",
            "\"sre\"",
            ",",
            "human",
            "]",
            "may",
            "[",
            "halt",
            ",",
            "rollback",
            "]",
            "in",
            "[",
            "production",
            ",",
            "\"staging\"",
            "]",
            "}"
        ])),
        (0..1000u32).prop_map(|n| toks(&[
            "test",
            &format!("\"case {n}\""),
            "{",
            "snapshot",
            "\"snapshots/x.json\"",
            "expect",
            "proceed",
            "}"
        ])),
        Just(toks(&["use", "std::http"])),
        Just(toks(&["use", "std::classes"])),
    ]
}

/// A policy set file: the four signals, some policies and other declarations, shuffled.
fn program() -> impl Strategy<Value = Toks> {
    (
        prop::collection::vec(policy(0), 1..2),
        prop::option::of(policy(1)),
        prop::collection::vec(item(), 0..4),
    )
        .prop_flat_map(|(p0, p1, items)| {
            let mut all: Vec<Toks> = vec![
                toks(&["signal", "s0", ":", "ratio", "=", "\"http.error_rate\""]),
                toks(&["signal", "s1", ":", "ratio", "=", "\"http.timeout_rate\""]),
                toks(&["signal", "s2", ":", "duration", "=", "\"http.latency.p99\""]),
                toks(&["signal", "s3", ":", "count", "=", "\"http.requests\""]),
                toks(&["let", "w", "=", "3m"]),
            ];
            all.extend(p0);
            all.extend(p1);
            // Names must stay unique: keep the first declaration of each.
            let mut seen = std::collections::HashSet::new();
            all.extend(
                items
                    .into_iter()
                    .filter(|t| seen.insert(t[..2.min(t.len())].join(" "))),
            );
            Just(all).prop_shuffle()
        })
        .prop_map(|items| items.into_iter().flatten().collect())
}

/// What goes between two tokens: whitespace, and sometimes a comment.
const SEPARATORS: &[&str] = &[
    " ",
    " ",
    " ",
    " ",
    " ",
    "  ",
    "\t",
    "\n",
    "\n",
    "\n\n",
    "\n\n\n",
    "\n    ",
    " \n  ",
    " /*C*/ ",
    " // C\n",
    "\n// C\n",
    "\n\n// C\n\n",
    "\n/* C\n   still C */\n",
    " /* C */\n",
];

fn lay_out(toks: &[String], seps: &[usize]) -> String {
    let mut out = String::new();
    let mut n = 0;
    let mut sep = |i: usize| {
        let s = SEPARATORS[seps[i % seps.len()] % SEPARATORS.len()];
        if s.contains('C') {
            n += 1;
            s.replace('C', &format!("c{n}"))
        } else {
            s.to_string()
        }
    };
    out.push_str(&sep(0));
    for (i, t) in toks.iter().enumerate() {
        out.push_str(t);
        out.push_str(&sep(i + 1));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_policies_keep_meaning_comments_and_layout(
        program in program(),
        seps in prop::collection::vec(0..SEPARATORS.len() * 4, 1..64),
    ) {
        // Mostly single spaces: a separator index past the list means " ".
        let seps: Vec<usize> = seps
            .into_iter()
            .map(|s| if s < SEPARATORS.len() { s } else { 0 })
            .collect();
        let text = lay_out(&program, &seps);
        let path = root().join("tests/fmt/random.rollguard");
        prop_assert!(
            digest(&path, &text).is_some(),
            "the generator wrote a policy that does not compile:\n{}\n{}",
            text,
            errors(&path, &text)
        );
        let out = check(&path, &text);
        prop_assert!(matches!(out, Ok(Some(_))), "{:?}\n--- input\n{}", out, text);
    }
}
