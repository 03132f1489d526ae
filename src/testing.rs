//! Runs a set's `test` blocks: each snapshot evaluated, its decision and fired rules compared.

use crate::check::Loader;
use crate::ir::Action;
use crate::Compiled;

#[derive(Clone, Debug)]
pub struct TestResult {
    pub title: String,
    pub location: String,
    pub passed: bool,
    pub expected: Action,
    /// The rules the test expects to fire (`by`); empty: not checked.
    pub expected_by: Vec<String>,
    pub actual: Option<Action>,
    pub actual_fired: Vec<String>,
    /// Why the snapshot could not be evaluated.
    pub error: Option<String>,
}

pub fn run(
    compiled: &Compiled,
    loader: &dyn Loader,
    location: impl Fn(&crate::TestCase) -> String,
) -> Vec<TestResult> {
    compiled
        .tests()
        .iter()
        .map(|t| {
            let mut r = TestResult {
                title: t.title.clone(),
                location: location(t),
                passed: false,
                expected: t.expect,
                expected_by: t.by.clone(),
                actual: None,
                actual_fired: Vec::new(),
                error: None,
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
                    let mut want = t.by.clone();
                    want.sort();
                    let mut got = fired.clone();
                    got.sort();
                    got.dedup();
                    r.passed = d.decision == t.expect && (t.by.is_empty() || want == got);
                    r.actual = Some(d.decision);
                    r.actual_fired = fired;
                }
            }
            r
        })
        .collect()
}
