//! rollguard: policy-as-code for automated rollout and rollback decisions.
//!
//! ```text
//! policy text --parse--> AST --check--> IR (Compiled) --+
//! snapshot JSON --validate--> Snapshot -----------------+--> evaluate --> Decision
//! ```
//!
//! An embedder (a deploy tool, a controller) needs a handful of types: [`Engine`] loads a
//! policy set once ([`LoadError`] says why it would not) and answers snapshots with a
//! [`Decision`] (its [`Action`], and why; the parts of the explanation are in [`decision`]),
//! or a [`SnapshotError`]. Below it, [`compile`] turns a policy set ([`SetFile`]s, read through
//! a [`Loader`] such as [`FsLoader`]) into a [`Compilation`]: every [`Diagnostic`] (with its
//! [`Severity`] and stable [`Code`]) and, when the set is sound, a [`Compiled`] whose
//! [`Compiled::decide`] evaluates a snapshot and whose [`Compiled::tests`] are its
//! [`TestCase`]s. With the `serve` feature, `service::Router` answers the decision service's
//! HTTP requests in-process. The `rollguard` command line is a thin shell over these.
//!
//! Load a policy and decide a snapshot:
//!
//! ```
//! use rollguard::{Action, Engine};
//!
//! // The same set from a directory of `.rollguard` files: `Engine::from_dir(dir)`.
//! let engine = Engine::from_sources(&[(
//!     "checkout.rollguard",
//!     r#"signal error_rate: ratio = "http.error_rate"
//!        policy checkout {
//!          applies when deployment.service == "checkout"
//!          rollback spike when error_rate > 2 * baseline(error_rate)
//!        }"#,
//! )])?;
//!
//! let snapshot = br#"{"at": "2026-11-22T10:05:00Z",
//!   "deployment": {"service": "checkout", "environment": "production",
//!                  "rollback_target": {"healthy": true}},
//!   "signals": {"http.error_rate": {"value": 0.05, "baseline": 0.01}}}"#;
//! let decision = engine.decide(snapshot)?;
//! assert_eq!(decision.decision, Action::Rollback);
//! assert_eq!(decision.fired[0].rule, "spike");
//! println!("{}", decision.to_human());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules hidden from these docs (`syntax`, `check`, `ir`, `fmt`, `report`, `audit`,
//! `source` and the rest) are public only because the workspace's own tools — the
//! `rollguard` command line, the language server, the fuzz targets and the integration tests —
//! are separate crates that need the compiler's internals. They are not API: they change
//! without notice, and nothing outside this repository should name them.

#![deny(missing_docs)]

#[doc(hidden)]
pub mod audit;
// Kept `pub` (hidden) for the workspace's tools, like the modules below.
#[doc(hidden)]
pub mod check;
#[doc(hidden)]
pub mod codes;
mod compiler;
#[doc(hidden)]
pub mod compliance;
#[doc(hidden)]
pub mod diagnostic;
#[doc(hidden)]
pub mod diff;
mod engine;
mod eval;
#[doc(hidden)]
pub mod fmt;
pub mod identity;
mod integrations;
#[doc(hidden)]
pub mod ir;
mod lint;
#[doc(hidden)]
pub mod load;
#[doc(hidden)]
pub mod replay;
#[doc(hidden)]
pub mod report;
pub mod service;
#[doc(hidden)]
pub mod source;
#[doc(hidden)]
pub mod stdlib;
#[doc(hidden)]
pub mod syntax;
#[doc(hidden)]
pub mod testing;
pub mod trust;

use std::collections::HashMap;

use sha2::{Digest, Sha256};

pub use check::{FsLoader, Loader, SetFile, TestCase};
pub use codes::Code;
pub use compiler::{Compiler, Options};
pub use diagnostic::{Diagnostic, Severity};
pub use engine::{Engine, LoadError};
pub use eval::decision;
pub use eval::decision::Decision;
pub use eval::snapshot::{Snapshot, SnapshotError};
pub use ir::Action;
use ir::{Origins, Program, SlotId};
use source::Sources;

/// A policy set compiled without errors: the only thing that can be evaluated.
pub struct Compiled {
    pub(crate) program: Program,
    pub(crate) origins: Origins,
    cel: Vec<cel::Program>,
    digest: String,
    keys: HashMap<String, Vec<SlotId>>,
    tests: Vec<TestCase>,
}

/// The result of compiling: every file read, every diagnostic, and the program if it is sound.
///
/// `#[non_exhaustive]`: compiling will report more (timings, the files' dependencies).
#[non_exhaustive]
pub struct Compilation {
    /// Every file read, by the file ids the diagnostics' spans use: pass it to
    /// [`Diagnostic::render`] and [`Diagnostic::one_line`].
    pub sources: Sources,
    /// Errors and warnings, in file and position order.
    pub diagnostics: Vec<Diagnostic>,
    /// The program, when there is no error.
    pub compiled: Option<Compiled>,
    /// Lint findings silenced by `@allow(CODE)`, kept so reviewers can see them.
    pub allowed: Vec<lint::Allowed>,
    /// Names, their declarations and types, and the files read: what editors and other tools
    /// ask about. Present whether or not the set has errors.
    pub analysis: check::Analysis,
}

impl Compilation {
    /// Whether any diagnostic is an error (then [`Compilation::compiled`] is `None`).
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Runs the lints on a compiled set, adding their warnings. `today` enables the check of
    /// `@until` dates; the library never reads the clock itself.
    pub fn lint(&mut self, today: Option<chrono::NaiveDate>) {
        let Some(c) = &self.compiled else { return };
        let findings = lint::lint(c, today);
        self.diagnostics.extend(findings.warnings);
        self.diagnostics
            .sort_by_key(|d| (d.span.file, d.span.start, d.code));
        self.allowed.extend(findings.allowed);
    }
}

/// Compiles one policy set, without test snapshots or lints, and without keeping anything for
/// a next compilation: [`Compiler::compile`] with the default [`Options`].
pub fn compile(files: &[SetFile], loader: &dyn Loader) -> Compilation {
    Compiler::new().compile(files, loader, &Options::default())
}

/// Check and lower; the one place a [`Compiled`] is assembled.
fn compile_with(
    files: &[SetFile],
    loader: &dyn Loader,
    parses: &check::cache::ParseCache,
) -> Compilation {
    let mut sources = Sources::default();
    let checked = check::check(&mut sources, files, loader, parses);
    let diagnostics = checked.diagnostics;
    let analysis = checked.analysis;
    let compiled = checked.program.map(|(program, cel, origins, tests)| {
        let digest = format!("sha256:{:x}", Sha256::digest(program.canonical()));
        let mut keys: HashMap<String, Vec<SlotId>> = HashMap::new();
        for (i, s) in program.signals.iter().enumerate() {
            keys.entry(s.key.clone()).or_default().push(i as SlotId);
        }
        Compiled {
            program,
            origins,
            cel,
            digest,
            keys,
            tests,
        }
    });
    let has_error = diagnostics.iter().any(Diagnostic::is_error);
    Compilation {
        sources,
        diagnostics,
        compiled: if has_error { None } else { compiled },
        allowed: Vec::new(),
        analysis,
    }
}

impl Compilation {
    /// Reads every `test` block's snapshot and reports those that cannot pass: unreadable,
    /// invalid, or naming an undeclared class. `check` and `test` run this; `eval` does not, so a
    /// broken test fixture never stops a deployment decision.
    pub fn check_test_snapshots(&mut self, loader: &dyn Loader) {
        let Some(c) = &self.compiled else { return };
        let mut diagnostics = Vec::new();
        for t in &c.tests {
            let bytes = match loader.read(&t.snapshot) {
                Ok(text) => text,
                Err(e) => {
                    diagnostics.push(
                        Diagnostic::error(
                            Code::TestSnapshot,
                            t.snapshot_span,
                            format!(
                                "cannot read the test's snapshot `{}`: {e}",
                                t.snapshot_written
                            ),
                        )
                        .label("unreadable snapshot")
                        .help("the path is relative to the file that holds the test"),
                    );
                    continue;
                }
            };
            match c.parse_snapshot(bytes.as_bytes()) {
                // Authority is answered for the snapshot's requester: without one there is
                // nothing to assert, and the test could never pass.
                Ok(snap) if snap.requester.is_none() => {
                    if let Some(span) = t.authority_span {
                        diagnostics.push(
                            Diagnostic::error(
                                Code::TestAuthorityWithoutRequester,
                                span,
                                format!(
                                    "test \"{}\" expects an answer about the requester, and its snapshot `{}` names none",
                                    t.title, t.snapshot_written
                                ),
                            )
                            .label("needs a requester")
                            .with_label(t.snapshot_span, "this snapshot has no `requester`")
                            .help("add the principal who asks to the snapshot, e.g. `\"requester\": {\"kind\": \"service_account\", \"id\": \"deploy-bot\"}`"),
                        );
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let code = if e.path == "deployment.class" {
                        Code::TestUndeclaredClass
                    } else {
                        Code::TestSnapshot
                    };
                    diagnostics.push(
                    Diagnostic::error(code, t.snapshot_span, format!("test \"{}\": {e}", t.title))
                        .label("in this snapshot")
                        .help(if code == Code::TestUndeclaredClass {
                            "declare the class (or `use std::classes`), or correct the snapshot's `deployment.class`"
                        } else {
                            "fix the snapshot at the path named"
                        }),
                );
                }
            }
        }
        if diagnostics.iter().any(Diagnostic::is_error) {
            self.compiled = None;
        }
        self.diagnostics.extend(diagnostics);
    }
}

impl Compiled {
    /// `sha256:...` of the program's canonical form: unchanged by layout and comments.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The program itself, for the workspace's tools; not API.
    #[doc(hidden)]
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The set's `test` blocks, in source order.
    pub fn tests(&self) -> &[TestCase] {
        &self.tests
    }

    /// Validates snapshot JSON against this set (declared signal types, classes).
    pub fn parse_snapshot(&self, bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        Snapshot::parse(bytes, &self.program, &self.keys)
    }

    /// Evaluates a snapshot this set parsed. Pure and deterministic.
    pub fn evaluate(&self, snapshot: &Snapshot) -> Decision {
        eval::machine::evaluate(
            &self.program,
            &self.origins,
            &self.cel,
            &self.digest,
            snapshot,
        )
    }

    /// Snapshot JSON in, decision out.
    pub fn decide(&self, bytes: &[u8]) -> Result<Decision, SnapshotError> {
        Ok(self.evaluate(&self.parse_snapshot(bytes)?))
    }

    /// A snapshot already parsed as JSON (the service adds the requester first).
    pub fn decide_value(&self, snapshot: serde_json::Value) -> Result<Decision, SnapshotError> {
        Ok(self.evaluate(&Snapshot::from_value(snapshot, &self.program, &self.keys)?))
    }

    /// Like [`Compiled::decide`], with approvals verified against `trust`: only entries whose
    /// signed statement verifies at `now` (seconds since the epoch; the snapshot's `at` when
    /// `None`) reach the evaluator, and the rest are listed in `approvals.ignored`.
    pub fn decide_trusted(
        &self,
        bytes: &[u8],
        trust: &trust::Trust,
        now: Option<i64>,
    ) -> Result<Decision, SnapshotError> {
        Ok(self.evaluate_trusted(self.parse_snapshot(bytes)?, trust, now))
    }

    /// [`Compiled::decide_trusted`] for a snapshot already parsed as JSON.
    pub fn decide_value_trusted(
        &self,
        snapshot: serde_json::Value,
        trust: &trust::Trust,
        now: Option<i64>,
    ) -> Result<Decision, SnapshotError> {
        let s = Snapshot::from_value(snapshot, &self.program, &self.keys)?;
        Ok(self.evaluate_trusted(s, trust, now))
    }

    fn evaluate_trusted(
        &self,
        mut s: Snapshot,
        trust: &trust::Trust,
        now: Option<i64>,
    ) -> Decision {
        let now = now.unwrap_or(s.at.div_euclid(1_000_000));
        let ignored = trust.filter(&mut s, now);
        let mut d = self.evaluate(&s);
        d.approvals.ignored = ignored;
        d.approvals.verified = true;
        d
    }
}
