//! `rollguard report compliance`: for each control of every catalog the sets map to, the
//! statements whose `@maps` name it and the tests that exercise those statements; and the
//! mapped controls no test exercises. Markdown, JSON and a self-contained HTML page.
//!
//! A test exercises a statement when the test passes and its decision names the statement:
//! a rule that fired or reached `shadow`; a `require` that failed (`gates`) or reached
//! `shadow`; an approval the decision lists as satisfied, missing or rejected, or in `shadow`;
//! a policy (or its `applies`) listed among the decision's `policies`. Declarations the decision
//! never names (scopes, signals, classes, lets, fns) are listed with their controls, but no test
//! can exercise them. docs/compliance.md gives the reasons.

use std::collections::BTreeSet;

use serde::Serialize;

use super::catalog::{self, Control};
use crate::check::Loader;
use crate::source::{FileId, Sources, Span};
use crate::syntax::ast::{self, Attrs, ItemKind, StatementKind};
use crate::syntax::{parse::parse_file, print};
use crate::{Compiled, Decision, SetFile};

/// One compiled policy set, as the report reads it.
pub struct Set<'a> {
    /// The set's own files (an imported module's statements are not the set's).
    pub files: &'a [SetFile],
    /// Every file its compilation read.
    pub sources: &'a Sources,
    pub compiled: &'a Compiled,
}

/// The report: plain data, serialized as the JSON format.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// The catalogs some statement maps to, in the bundled order.
    pub catalogs: Vec<CatalogReport>,
    /// Controls some statement maps to that no test exercises (canonical ids).
    pub untested: Vec<String>,
    /// Passing tests (those that count) and all tests, over every set.
    pub tests_passed: usize,
    pub tests: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct CatalogReport {
    pub name: String,
    pub title: String,
    /// How many controls the catalog has, how many some statement maps to, and how many of
    /// those some test exercises.
    pub total: usize,
    pub mapped: usize,
    pub tested: usize,
    /// Every control of the catalog, in its order.
    pub controls: Vec<ControlReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ControlReport {
    /// Canonical: `NIST-CSF-2.0 RC.RP-01`.
    pub id: String,
    pub title: String,
    /// `tested`, `untested` (mapped, no test) or `unmapped`.
    pub status: &'static str,
    pub statements: Vec<StatementRef>,
    /// The tests that exercise any of `statements`, by place.
    pub tests: Vec<TestRef>,
}

/// A declaration or statement carrying `@maps`.
#[derive(Clone, Debug, Serialize)]
pub struct StatementRef {
    /// `policy`, `applies`, `rule`, `require`, `approval`, `let`, `scope`, `signal`, ...
    pub kind: &'static str,
    /// Its name; for a `require`, its text.
    pub name: String,
    /// The policy it belongs to (a policy: itself).
    pub policy: Option<String>,
    /// `FILE:LINE:COL`.
    pub at: String,
    /// Whether any decision can name it (see the module's documentation).
    pub exercisable: bool,
    pub tests: Vec<TestRef>,
}

impl StatementRef {
    /// What the Markdown and HTML say after a statement no test exercises.
    fn note(&self) -> &'static str {
        if !self.exercisable {
            ": no decision names it, so no test can exercise it"
        } else if self.tests.is_empty() {
            ": no test exercises it"
        } else {
            ""
        }
    }
}

/// Ordered by title, then place.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct TestRef {
    pub title: String,
    pub at: String,
}

/// What a decision names a statement by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Policy(String),
    Rule(String, String),
    Gate(String),
    Approval(String, String),
    Forbid(String, String),
}

struct Mapped {
    controls: Vec<Control>,
    stmt: StatementRef,
    key: Option<Key>,
}

/// Builds the report of compiled sets; `loader` reads the tests' snapshots.
pub fn build(sets: &[Set<'_>], loader: &dyn Loader) -> Report {
    let mut mapped: Vec<Mapped> = Vec::new();
    let mut report = Report::default();
    for set in sets {
        let first = mapped.len();
        collect(set, &mut mapped);
        let exercised = run_tests(set, loader, &mut report);
        for m in &mut mapped[first..] {
            if let Some(key) = &m.key {
                m.stmt.tests = exercised
                    .iter()
                    .filter(|(_, keys)| keys.contains(key))
                    .map(|(t, _)| t.clone())
                    .collect();
            }
        }
    }
    for cat in catalog::catalogs() {
        if !mapped
            .iter()
            .any(|m| m.controls.iter().any(|c| c.catalog == cat.name))
        {
            continue;
        }
        let controls: Vec<ControlReport> = cat
            .controls
            .iter()
            .map(|c| {
                let statements: Vec<StatementRef> = mapped
                    .iter()
                    .filter(|m| m.controls.contains(c))
                    .map(|m| m.stmt.clone())
                    .collect();
                let tests: BTreeSet<TestRef> = statements
                    .iter()
                    .flat_map(|s| s.tests.iter().cloned())
                    .collect();
                let status = match (statements.is_empty(), tests.is_empty()) {
                    (true, _) => "unmapped",
                    (false, true) => "untested",
                    (false, false) => "tested",
                };
                ControlReport {
                    id: c.canonical(),
                    title: c.title.to_string(),
                    status,
                    statements,
                    tests: tests.into_iter().collect(),
                }
            })
            .collect();
        report.untested.extend(
            controls
                .iter()
                .filter(|c| c.status == "untested")
                .map(|c| c.id.clone()),
        );
        report.catalogs.push(CatalogReport {
            name: cat.name.to_string(),
            title: cat.title.to_string(),
            total: controls.len(),
            mapped: controls.iter().filter(|c| c.status != "unmapped").count(),
            tested: controls.iter().filter(|c| c.status == "tested").count(),
            controls,
        });
    }
    report
}

/// The set's declarations and statements that carry `@maps`, in file and source order.
fn collect(set: &Set<'_>, out: &mut Vec<Mapped>) {
    let sources = set.sources;
    for i in 0..sources.len() {
        let id = FileId(i as u32);
        let file = sources.get(id);
        if !set.files.iter().any(|f| f.name == file.name) {
            continue;
        }
        let (tree, _) = parse_file(id, &file.text);
        for item in &tree.items {
            let (kind, name, policy, key) = match &item.kind {
                ItemKind::Policy(p) => {
                    // The policy first, then its statements: source order.
                    let n = p.name.name.clone();
                    let key = Some(Key::Policy(n.clone()));
                    push(
                        sources,
                        &item.attrs,
                        item.span,
                        "policy",
                        n.clone(),
                        Some(n),
                        key,
                        out,
                    );
                    policy_statements(sources, p, out);
                    continue;
                }
                ItemKind::Scope(s) => ("scope", s.name.name.clone(), None, None),
                ItemKind::Signal(s) => ("signal", s.name.name.clone(), None, None),
                ItemKind::Class(c) => ("class", c.name.name.clone(), None, None),
                ItemKind::Let(l) => ("let", l.name.name.clone(), None, None),
                ItemKind::Fn(f) => ("fn", f.name.name.clone(), None, None),
                ItemKind::Test(t) => ("test", t.title.clone(), None, None),
                ItemKind::Use(_) => (
                    "use",
                    sources.text(item.span).trim().to_string(),
                    None,
                    None,
                ),
            };
            push(
                sources,
                &item.attrs,
                item.span,
                kind,
                name,
                policy,
                key,
                out,
            );
        }
    }
}

fn policy_statements(sources: &Sources, p: &ast::PolicyDecl, out: &mut Vec<Mapped>) {
    let policy = &p.name.name;
    for s in &p.statements {
        let at = sources.location(s.span);
        let (kind, name, key) = match &s.kind {
            StatementKind::Applies(e) => (
                "applies",
                format!("applies when {}", print::expr(e)),
                Some(Key::Policy(policy.clone())),
            ),
            StatementKind::Require { cond, action } => (
                "require",
                format!("require {} else {}", print::expr(cond), action.name),
                Some(Key::Gate(at)),
            ),
            StatementKind::Rule { name, .. } => (
                "rule",
                name.name.clone(),
                Some(Key::Rule(policy.clone(), name.name.clone())),
            ),
            StatementKind::Approval { name, .. } => (
                "approval",
                name.name.clone(),
                Some(Key::Approval(policy.clone(), name.name.clone())),
            ),
            StatementKind::Forbid { name, .. } => (
                "forbid",
                name.name.clone(),
                Some(Key::Forbid(policy.clone(), name.name.clone())),
            ),
            StatementKind::Let(l) => ("let", l.name.name.clone(), None),
        };
        push(
            sources,
            &s.attrs,
            s.span,
            kind,
            name,
            Some(policy.clone()),
            key,
            out,
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn push(
    sources: &Sources,
    attrs: &Attrs,
    span: Span,
    kind: &'static str,
    name: String,
    policy: Option<String>,
    key: Option<Key>,
    out: &mut Vec<Mapped>,
) {
    let Some(a) = attrs.get("maps") else { return };
    let Some((value, vspan)) = &a.value else {
        return;
    };
    // The set compiled, so the checker accepted every id; errors cannot come back here.
    let (controls, _) = super::check_maps(value, *vspan, sources.text(*vspan));
    let mut unique: Vec<Control> = Vec::new();
    for c in controls {
        if !unique.contains(&c) {
            unique.push(c);
        }
    }
    out.push(Mapped {
        controls: unique,
        stmt: StatementRef {
            kind,
            name,
            policy,
            at: sources.location(span),
            exercisable: key.is_some(),
            tests: Vec::new(),
        },
        key,
    });
}

/// Runs the set's tests; returns each passing test with what its decision names.
fn run_tests(
    set: &Set<'_>,
    loader: &dyn Loader,
    report: &mut Report,
) -> Vec<(TestRef, BTreeSet<Key>)> {
    let mut out = Vec::new();
    for t in set.compiled.tests() {
        report.tests += 1;
        let decision = loader
            .read(&t.snapshot)
            .ok()
            .and_then(|text| set.compiled.decide(text.as_bytes()).ok());
        // A failing test's decision is not what its author asserted: it is no evidence.
        let Some(d) = decision.filter(|d| crate::testing::passes(t, d)) else {
            continue;
        };
        report.tests_passed += 1;
        out.push((
            TestRef {
                title: t.title.clone(),
                at: set.sources.location(t.span),
            },
            named(&d),
        ));
    }
    out
}

/// Every statement a decision names.
fn named(d: &Decision) -> BTreeSet<Key> {
    let mut keys = BTreeSet::new();
    keys.extend(d.policies.iter().cloned().map(Key::Policy));
    keys.extend(
        d.fired
            .iter()
            .map(|f| Key::Rule(f.policy.clone(), f.rule.clone())),
    );
    keys.extend(d.gates.iter().map(|g| Key::Gate(g.at.clone())));
    let a = &d.approvals;
    keys.extend(
        a.satisfied
            .iter()
            .map(|x| Key::Approval(x.policy.clone(), x.approval.clone())),
    );
    keys.extend(
        a.missing
            .iter()
            .map(|x| Key::Approval(x.policy.clone(), x.approval.clone())),
    );
    keys.extend(
        a.rejected
            .iter()
            .map(|x| Key::Approval(x.policy.clone(), x.approval.clone())),
    );
    // A veto is named by the override it made (it acted) or by its dry-run entry.
    keys.extend(
        d.overrides
            .iter()
            .filter_map(|o| Some(Key::Forbid(o.policy.clone()?, o.forbid.clone()?))),
    );
    for s in &d.shadow {
        keys.insert(match s.kind.as_str() {
            "rule" => Key::Rule(s.policy.clone(), s.rule.clone()),
            "approval" => Key::Approval(s.policy.clone(), s.rule.clone()),
            "forbid" => Key::Forbid(s.policy.clone(), s.rule.clone()),
            _ => Key::Gate(s.at.clone()),
        });
    }
    keys
}

impl Report {
    /// The controls some statement maps to.
    pub fn mapped(&self) -> usize {
        self.catalogs.iter().map(|c| c.mapped).sum()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report is plain data") + "\n"
    }

    fn summary(&self) -> String {
        let tested: usize = self.catalogs.iter().map(|c| c.tested).sum();
        format!(
            "{} controls mapped, {} exercised by a passing test, {} not; {} of {} tests pass.",
            self.mapped(),
            tested,
            self.untested.len(),
            self.tests_passed,
            self.tests
        )
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::from("# Compliance report\n\n");
        out.push_str(&self.summary());
        out.push_str(
            "\n\nA test exercises a statement when it passes and its decision names the \
             statement (docs/compliance.md).\n",
        );
        if self.catalogs.is_empty() {
            out.push_str("\nNo statement has `@maps`.\n");
            return out;
        }
        for cat in &self.catalogs {
            out.push_str(&format!(
                "\n## {}: {}\n\n{} of {} controls mapped, {} tested.\n\n",
                cat.name, cat.title, cat.mapped, cat.total, cat.tested
            ));
            out.push_str("| Control | Title | Status | Statements | Tests |\n");
            out.push_str("|---|---|---|---|---|\n");
            for c in &cat.controls {
                let statements: Vec<String> = c
                    .statements
                    .iter()
                    .map(|s| {
                        format!(
                            "{} ({}){}",
                            md_code(&format!("{} {}", s.kind, s.name)),
                            md(&s.at),
                            s.note()
                        )
                    })
                    .collect();
                let tests: Vec<String> = c
                    .tests
                    .iter()
                    .map(|t| format!("\"{}\" ({})", md(&t.title), md(&t.at)))
                    .collect();
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    md_code(&c.id),
                    md(&c.title),
                    c.status,
                    statements.join("<br>"),
                    tests.join("<br>")
                ));
            }
        }
        out.push_str("\n## Mapped controls no test exercises\n\n");
        if self.untested.is_empty() {
            out.push_str("None.\n");
        }
        for id in &self.untested {
            out.push_str(&format!("- {}\n", md_code(id)));
        }
        out
    }

    /// One page, no scripts, no resources from elsewhere (a content security policy forbids
    /// them), styles inline: it can be attached to a ticket and opened offline.
    pub fn to_html(&self) -> String {
        let mut out = String::from(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
             <title>rollguard compliance report</title>\n<style>\n\
             body{font-family:system-ui,sans-serif;margin:2em;color:#1b1b1b}\n\
             table{border-collapse:collapse;width:100%;margin-bottom:2em}\n\
             th,td{border:1px solid #c8c8c8;padding:.3em .5em;vertical-align:top;text-align:left}\n\
             th{background:#f0f0f0}\n\
             code{font-family:ui-monospace,monospace}\n\
             tr.unmapped td{color:#777}\n\
             td.tested{background:#e3f4e3}\n\
             td.untested{background:#fbe3e3}\n\
             ul{margin:0;padding-left:1.2em}\n\
             </style>\n</head>\n<body>\n<h1>Compliance report</h1>\n",
        );
        out.push_str(&format!(
            "<p>{}</p>\n<p>A test exercises a statement when it passes and its decision names \
             the statement (docs/compliance.md).</p>\n",
            html(&self.summary())
        ));
        if self.catalogs.is_empty() {
            out.push_str("<p>No statement has <code>@maps</code>.</p>\n");
        }
        for cat in &self.catalogs {
            out.push_str(&format!(
                "<h2 id=\"{}\">{}: {}</h2>\n<p>{} of {} controls mapped, {} tested.</p>\n",
                html(&cat.name),
                html(&cat.name),
                html(&cat.title),
                cat.mapped,
                cat.total,
                cat.tested
            ));
            out.push_str(
                "<table class=\"controls\">\n<thead><tr><th>Control</th><th>Title</th>\
                 <th>Status</th><th>Statements</th><th>Tests</th></tr></thead>\n<tbody>\n",
            );
            for c in &cat.controls {
                let statements: String = c
                    .statements
                    .iter()
                    .map(|s| {
                        format!(
                            "<li><code>{} {}</code> ({}){}</li>",
                            html(s.kind),
                            html(&s.name),
                            html(&s.at),
                            html(s.note())
                        )
                    })
                    .collect();
                let tests: String = c
                    .tests
                    .iter()
                    .map(|t| format!("<li>{} ({})</li>", html(&t.title), html(&t.at)))
                    .collect();
                let list = |items: String| {
                    if items.is_empty() {
                        String::new()
                    } else {
                        format!("<ul>{items}</ul>")
                    }
                };
                out.push_str(&format!(
                    "<tr class=\"{status}\"><td><code>{}</code></td><td>{}</td>\
                     <td class=\"{status}\">{status}</td><td>{}</td><td>{}</td></tr>\n",
                    html(&c.id),
                    html(&c.title),
                    list(statements),
                    list(tests),
                    status = c.status,
                ));
            }
            out.push_str("</tbody>\n</table>\n");
        }
        out.push_str("<h2>Mapped controls no test exercises</h2>\n");
        if self.untested.is_empty() {
            out.push_str("<p>None.</p>\n");
        } else {
            out.push_str("<ul class=\"untested\">\n");
            for id in &self.untested {
                out.push_str(&format!("<li><code>{}</code></li>\n", html(id)));
            }
            out.push_str("</ul>\n");
        }
        out.push_str("</body>\n</html>\n");
        out
    }
}

fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text in a Markdown table cell: `|` ends a cell, and a line break ends the row.
fn md(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('<', "&lt;")
}

/// A code span in a table cell; a longer fence when the text has a backtick.
fn md_code(s: &str) -> String {
    let s = s.replace('|', "\\|").replace(['\n', '\r'], " ");
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}
