//! Runs a set's `test` blocks: each snapshot evaluated, its decision and fired rules compared,
//! and which rules and approvals no test exercises. Reports as text, JSON, JUnit XML, SARIF and
//! GitHub annotations for CI.

use serde::Serialize;

use crate::check::Loader;
use crate::diagnostic::Severity;
use crate::ir::Action;
use crate::report::{Place, Record};
use crate::source::Sources;
use crate::{Compiled, Decision};

#[derive(Clone, Debug, Serialize)]
pub struct TestResult {
    pub title: String,
    #[serde(flatten)]
    pub place: Place,
    pub passed: bool,
    pub expected: Action,
    /// The rules the test expects to fire (`by`); empty: not checked.
    pub expected_by: Vec<String>,
    pub actual: Option<Action>,
    pub actual_fired: Vec<String>,
    /// Why the snapshot could not be evaluated.
    pub error: Option<String>,
    /// `expect authorized` / `expect not authorized`, when the test says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_authorized: Option<bool>,
    /// `expect requester_may [...]`, when the test says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_requester_may: Option<Vec<String>>,
    /// The decision's `authorized`, when the test expects authority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_authorized: Option<bool>,
    /// The decision's `requester_may`, when the test expects authority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_requester_may: Option<Vec<String>>,
}

/// `, authorized, requester_may [halt, rollback]`: the authority part of an expectation or an
/// outcome, empty when there is none.
fn authority_text(authorized: Option<bool>, may: Option<&[String]>) -> String {
    let mut out = String::new();
    match authorized {
        Some(true) => out.push_str(", authorized"),
        Some(false) => out.push_str(", not authorized"),
        None => {}
    }
    if let Some(m) = may {
        out.push_str(&format!(", requester_may [{}]", m.join(", ")));
    }
    out
}

/// Whether a test passes with this decision: the decision it expects, when it names rules
/// (`by`) exactly those fired, and the authority it states (compared only where stated).
pub fn passes(t: &crate::TestCase, d: &Decision) -> bool {
    let mut want = t.by.clone();
    want.sort();
    want.dedup();
    let mut got: Vec<&String> = d.fired.iter().map(|f| &f.rule).collect();
    got.sort();
    got.dedup();
    let authority = t.authorized.is_none_or(|a| d.authorized == Some(a))
        && t.requester_may.as_ref().is_none_or(|may| {
            d.requester_may.as_ref().is_some_and(|got| {
                got.len() == may.len() && may.iter().zip(got).all(|(m, g)| m.as_str() == g)
            })
        });
    d.decision == t.expect && (t.by.is_empty() || want.iter().eq(got)) && authority
}

impl TestResult {
    pub fn location(&self) -> String {
        format!(
            "{}:{}:{}",
            self.place.file, self.place.line, self.place.column
        )
    }

    /// "expected rollback by spike, got halt (no rule fired)".
    pub fn failure(&self) -> String {
        let by = |rules: &[String]| {
            if rules.is_empty() {
                String::new()
            } else {
                format!(" by {}", rules.join(", "))
            }
        };
        let expected = format!(
            "{}{}{}",
            self.expected.as_str(),
            by(&self.expected_by),
            self.expected_authority()
        );
        match (&self.error, self.actual) {
            (Some(e), _) => {
                format!("expected {expected}, but the snapshot could not be evaluated: {e}")
            }
            (None, Some(a)) => {
                let fired = if self.actual_fired.is_empty() {
                    " (no rule fired)".to_string()
                } else {
                    by(&self.actual_fired)
                };
                format!(
                    "expected {expected}, got {}{fired}{}",
                    a.as_str(),
                    self.actual_authority()
                )
            }
            _ => format!("expected {expected}"),
        }
    }

    fn expected_authority(&self) -> String {
        authority_text(
            self.expected_authorized,
            self.expected_requester_may.as_deref(),
        )
    }

    fn actual_authority(&self) -> String {
        authority_text(self.actual_authorized, self.actual_requester_may.as_deref())
    }
}

/// A rule or approval no test exercised.
#[derive(Clone, Debug, Serialize)]
pub struct Missed {
    pub policy: String,
    pub name: String,
    pub at: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Tally {
    pub total: usize,
    pub exercised: usize,
    pub missed: Vec<Missed>,
}

/// A rule counts as exercised when it fired (or, dry-run, reached `shadow`) in some test; an
/// approval when some test required it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Coverage {
    pub rules: Tally,
    pub approvals: Tally,
}

impl Coverage {
    fn add(&mut self, other: Coverage) {
        for (a, b) in [
            (&mut self.rules, other.rules),
            (&mut self.approvals, other.approvals),
        ] {
            a.total += b.total;
            a.exercised += b.exercised;
            a.missed.extend(b.missed);
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub tests: Vec<TestResult>,
    pub passed: usize,
    pub failed: usize,
    /// Diagnostics of sets that did not compile (their tests could not run).
    pub diagnostics: Vec<Record>,
    pub coverage: Coverage,
}

impl Report {
    pub fn success(&self) -> bool {
        self.failed == 0
            && !self
                .diagnostics
                .iter()
                .any(|d| d.severity == Severity::Error)
    }

    /// Runs one compiled set's tests and adds them to the report.
    pub fn run(&mut self, compiled: &Compiled, sources: &Sources, loader: &dyn Loader) {
        let mut decisions: Vec<Decision> = Vec::new();
        for t in compiled.tests() {
            let mut r = TestResult {
                title: t.title.clone(),
                place: Place::of(sources, t.span),
                passed: false,
                expected: t.expect,
                expected_by: t.by.clone(),
                actual: None,
                actual_fired: Vec::new(),
                error: None,
                expected_authorized: t.authorized,
                expected_requester_may: t
                    .requester_may
                    .as_ref()
                    .map(|g| g.iter().map(|g| g.as_str().to_string()).collect()),
                actual_authorized: None,
                actual_requester_may: None,
            };
            let decision = loader
                .read(&t.snapshot)
                .map_err(|e| format!("cannot read `{}`: {e}", t.snapshot_written))
                .and_then(|text| compiled.decide(text.as_bytes()).map_err(|e| e.to_string()));
            match decision {
                Err(e) => r.error = Some(e),
                Ok(d) => {
                    let mut fired: Vec<String> = d.fired.iter().map(|f| f.rule.clone()).collect();
                    fired.dedup();
                    // Authority is shown only where the test states it.
                    if r.expected_authorized.is_some() {
                        r.actual_authorized = d.authorized;
                    }
                    if r.expected_requester_may.is_some() {
                        r.actual_requester_may = d.requester_may.clone();
                    }
                    r.passed = passes(t, &d);
                    r.actual = Some(d.decision);
                    r.actual_fired = fired;
                    decisions.push(d);
                }
            }
            if r.passed {
                self.passed += 1;
            } else {
                self.failed += 1;
            }
            self.tests.push(r);
        }
        self.coverage.add(coverage(compiled, &decisions));
    }

    pub fn to_human(&self) -> String {
        let mut out = String::new();
        for r in &self.tests {
            if r.passed {
                out.push_str(&format!("ok      {} ({})\n", r.title, r.location()));
            } else {
                out.push_str(&format!("FAILED  {} ({})\n", r.title, r.location()));
                let by = |rules: &[String]| {
                    if rules.is_empty() {
                        String::new()
                    } else {
                        format!(" by {}", rules.join(", "))
                    }
                };
                out.push_str(&format!(
                    "        expected: {}{}{}\n",
                    r.expected.as_str(),
                    by(&r.expected_by),
                    r.expected_authority()
                ));
                match (&r.error, r.actual) {
                    (Some(e), _) => out.push_str(&format!("        error:    {e}\n")),
                    (None, Some(a)) => {
                        let fired = if r.actual_fired.is_empty() {
                            " (no rule fired)".to_string()
                        } else {
                            by(&r.actual_fired)
                        };
                        out.push_str(&format!(
                            "        actual:   {}{fired}{}\n",
                            a.as_str(),
                            r.actual_authority()
                        ));
                    }
                    _ => {}
                }
            }
        }
        out.push_str(&format!("{} passed, {} failed\n", self.passed, self.failed));
        let c = &self.coverage;
        out.push_str(&format!(
            "coverage: {} of {} rules fired in some test, {} of {} approvals were required in some test\n",
            c.rules.exercised, c.rules.total, c.approvals.exercised, c.approvals.total
        ));
        for (kind, t) in [("rule", &c.rules), ("approval", &c.approvals)] {
            for m in &t.missed {
                out.push_str(&format!(
                    "  no test exercises {kind} {}.{} ({})\n",
                    m.policy, m.name, m.at
                ));
            }
        }
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report is plain data") + "\n"
    }

    /// JUnit XML, the format CI systems show in their test tabs.
    pub fn to_junit(&self) -> String {
        let failures = self.failed;
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str(&format!(
            "<testsuites name=\"rollguard\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">\n",
            self.tests.len()
        ));
        let mut files: Vec<&str> = self.tests.iter().map(|t| t.place.file.as_str()).collect();
        files.dedup();
        for file in files {
            let tests: Vec<&TestResult> =
                self.tests.iter().filter(|t| t.place.file == file).collect();
            let failed = tests.iter().filter(|t| !t.passed).count();
            out.push_str(&format!(
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\">\n",
                xml(file),
                tests.len()
            ));
            for t in tests {
                out.push_str(&format!(
                    "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{}\"",
                    xml(&t.title),
                    xml(&file.replace(['/', '\\'], ".")),
                    xml(file),
                    t.place.line
                ));
                if t.passed {
                    out.push_str("/>\n");
                } else {
                    out.push_str(&format!(
                        ">\n      <failure message=\"{}\" type=\"decision\">{}</failure>\n    </testcase>\n",
                        xml(&t.failure()),
                        xml(&format!("{}\n{}", t.location(), t.failure()))
                    ));
                }
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }

    /// Failed tests as diagnostic records (code `TEST`), after the compile diagnostics, for the
    /// SARIF and GitHub formats.
    pub fn records(&self) -> Vec<Record> {
        let mut out = self.diagnostics.clone();
        for t in self.tests.iter().filter(|t| !t.passed) {
            out.push(Record {
                code: "TEST".into(),
                severity: Severity::Error,
                place: t.place.clone(),
                message: format!("test \"{}\" failed: {}", t.title, t.failure()),
                labels: Vec::new(),
                help: Some(
                    "fix the policy, or the test's expectation if the policy is right".into(),
                ),
                suggestions: Vec::new(),
                allowed_by: None,
            });
        }
        out
    }
}

fn coverage(compiled: &Compiled, decisions: &[Decision]) -> Coverage {
    let p = compiled.program();
    let o = &compiled.origins;
    let mut c = Coverage::default();
    for (pi, policy) in p.policies.iter().enumerate() {
        for (ri, r) in policy.rules.iter().enumerate() {
            let hit = decisions.iter().any(|d| {
                d.fired
                    .iter()
                    .any(|f| f.policy == policy.name && f.rule == r.name)
                    || d.shadow
                        .iter()
                        .any(|s| s.policy == policy.name && s.kind == "rule" && s.rule == r.name)
            });
            tally(
                &mut c.rules,
                hit,
                &policy.name,
                &r.name,
                &o.policies[pi].rules[ri],
            );
        }
        for (ai, a) in policy.approvals.iter().enumerate() {
            let named = |pol: &str, name: &str| pol == policy.name && name == a.name;
            let hit = decisions.iter().any(|d| {
                d.approvals
                    .satisfied
                    .iter()
                    .any(|x| named(&x.policy, &x.approval))
                    || d.approvals
                        .missing
                        .iter()
                        .any(|x| named(&x.policy, &x.approval))
                    || d.approvals
                        .rejected
                        .iter()
                        .any(|x| named(&x.policy, &x.approval))
                    || d.shadow
                        .iter()
                        .any(|s| s.kind == "approval" && named(&s.policy, &s.rule))
            });
            tally(
                &mut c.approvals,
                hit,
                &policy.name,
                &a.name,
                &o.policies[pi].approvals[ai],
            );
        }
    }
    c
}

fn tally(t: &mut Tally, hit: bool, policy: &str, name: &str, at: &str) {
    t.total += 1;
    if hit {
        t.exercised += 1;
    } else {
        t.missed.push(Missed {
            policy: policy.to_string(),
            name: name.to_string(),
            at: at.to_string(),
        });
    }
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            c if (c as u32) < 0x20 && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}
