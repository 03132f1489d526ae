//! [`Engine`]: the embedding API. Compile a policy set once, evaluate snapshots many times.
//!
//! ```
//! use rollguard::Engine;
//!
//! let engine = Engine::from_sources(&[(
//!     "p.rollguard",
//!     r#"signal error_rate: ratio = "http.error_rate"
//!        policy checkout {
//!          applies when deployment.service == "checkout"
//!          rollback spike when error_rate > 2 * baseline(error_rate)
//!        }"#,
//! )])
//! .expect("the policy compiles");
//!
//! let snapshot = br#"{"at": "2026-11-22T10:05:00Z",
//!   "deployment": {"service": "checkout", "environment": "production",
//!                  "rollback_target": {"healthy": true}},
//!   "signals": {"http.error_rate": {"value": 0.05, "baseline": 0.01}}}"#;
//! let decision = engine.decide(snapshot).expect("a valid snapshot");
//! assert_eq!(decision.decision, rollguard::Action::Rollback);
//! assert_eq!(decision.fired[0].rule, "spike");
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{
    load, Compiled, Compiler, Decision, FsLoader, Options, SetFile, Snapshot, SnapshotError,
};

/// A compiled policy set, ready to evaluate. Cheap to clone (one `Arc`), `Send + Sync`, no
/// global state: share one across threads, or hold several.
#[derive(Clone)]
pub struct Engine {
    compiled: Arc<Compiled>,
    files: Arc<Vec<String>>,
}

/// Why a policy set could not be loaded: unreadable files, or diagnostics.
///
/// `#[non_exhaustive]`: it may carry more (the diagnostics themselves) later; build one with
/// [`LoadError::new`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoadError {
    /// One line per problem: `FILE:LINE:COL: error[E0004]: message`.
    pub problems: Vec<String>,
    /// The diagnostics rendered for people (source snippets, help), when there are any.
    pub rendered: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the policy set does not compile: {}",
            self.problems.join("; ")
        )
    }
}

impl std::error::Error for LoadError {}

impl LoadError {
    /// A load refused for these problems (one line each), with their rendering for people.
    pub fn new(problems: Vec<String>, rendered: impl Into<String>) -> LoadError {
        LoadError {
            problems,
            rendered: rendered.into(),
        }
    }
}

impl Engine {
    /// The `.rollguard` files of one directory (not its subdirectories).
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Engine, LoadError> {
        Engine::from_files(&[dir.as_ref().to_path_buf()])
    }

    /// Files (or directories) forming one policy set.
    pub fn from_files(paths: &[PathBuf]) -> Result<Engine, LoadError> {
        let files = load::one_set(paths).map_err(|e| LoadError {
            problems: vec![e.to_string()],
            rendered: String::new(),
        })?;
        Engine::from_set(&files)
    }

    /// Policy text held in memory: `(name, text)` pairs, one set. `use "..."` paths are relative
    /// to the working directory.
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<Engine, LoadError> {
        let files: Vec<SetFile> = sources
            .iter()
            .map(|(name, text)| SetFile {
                name: name.to_string(),
                path: PathBuf::from(name),
                text: text.to_string(),
            })
            .collect();
        Engine::from_set(&files)
    }

    /// Files already read (the service compiles exactly the bytes it fingerprinted).
    pub fn from_set(files: &[SetFile]) -> Result<Engine, LoadError> {
        Engine::from_set_with(files, &FsLoader)
    }

    /// [`Engine::from_set`] reading the files named by `use "..."` through `loader` (the
    /// policy set archive records them, and replays from them).
    pub(crate) fn from_set_with(
        files: &[SetFile],
        loader: &dyn crate::Loader,
    ) -> Result<Engine, LoadError> {
        // A deciding service neither reads test fixtures nor lints.
        let c = Compiler::new().compile(files, loader, &Options::default());
        let problems: Vec<String> = c
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.one_line(&c.sources))
            .collect();
        match c.compiled {
            Some(compiled) if problems.is_empty() => Ok(Engine {
                compiled: Arc::new(compiled),
                files: Arc::new(files.iter().map(|f| f.name.clone()).collect()),
            }),
            _ => Err(LoadError {
                rendered: c
                    .diagnostics
                    .iter()
                    .map(|d| d.render(&c.sources, false))
                    .collect(),
                problems,
            }),
        }
    }

    /// `sha256:...` of the compiled set: changes with meaning, not with layout or comments.
    pub fn digest(&self) -> &str {
        self.compiled.digest()
    }

    /// The policies of the set, by name.
    pub fn policies(&self) -> Vec<&str> {
        self.compiled
            .program()
            .policies
            .iter()
            .map(|p| p.name.as_str())
            .collect()
    }

    /// The files the set was compiled from.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Validates snapshot JSON against this set (declared signal types, classes).
    pub fn parse_snapshot(&self, bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        self.compiled.parse_snapshot(bytes)
    }

    /// Evaluates a parsed snapshot. Pure and deterministic.
    pub fn evaluate(&self, snapshot: &Snapshot) -> Decision {
        self.compiled.evaluate(snapshot)
    }

    /// Snapshot JSON in, decision out.
    pub fn decide(&self, bytes: &[u8]) -> Result<Decision, SnapshotError> {
        self.compiled.decide(bytes)
    }

    /// A snapshot already parsed into JSON.
    pub fn decide_value(&self, snapshot: serde_json::Value) -> Result<Decision, SnapshotError> {
        self.compiled.decide_value(snapshot)
    }

    /// Snapshot JSON in, decision out, with its approvals verified against `trust` at `now`
    /// (seconds since the epoch; the snapshot's `at` when `None`): entries that do not verify
    /// never reach the evaluator and are listed in `approvals.ignored`, and
    /// `approvals.verified` is `true`.
    pub fn decide_trusted(
        &self,
        bytes: &[u8],
        trust: &crate::trust::Trust,
        now: Option<i64>,
    ) -> Result<Decision, SnapshotError> {
        self.compiled.decide_trusted(bytes, trust, now)
    }

    /// [`Engine::decide_trusted`] for a snapshot already parsed as JSON.
    pub fn decide_value_trusted(
        &self,
        snapshot: serde_json::Value,
        trust: &crate::trust::Trust,
        now: Option<i64>,
    ) -> Result<Decision, SnapshotError> {
        self.compiled.decide_value_trusted(snapshot, trust, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone>() {}

    #[test]
    fn engine_is_shareable() {
        assert_send_sync::<Engine>();
    }

    #[test]
    fn a_broken_set_is_an_error_value() {
        let e = Engine::from_sources(&[("p.rollguard", "policy p { halt x when nope }")])
            .err()
            .expect("an error");
        assert!(e.problems[0].contains("E0002"), "{e}");
        assert!(e.rendered.contains("unknown name `nope`"));
    }
}
