//! [`Compiler`]: the one way every tool compiles a policy set — the command line, the service,
//! the language server, the tests and the fuzz targets.
//!
//! It keeps what a recompilation can reuse: each file's parse, keyed by the file and its text,
//! so a one-line edit in a set of 200 files re-parses one file. The phases after parsing (the
//! set's declarations, names, types, lowering, lints) are rebuilt from those parses each time.

use crate::check::cache::ParseCache;
use crate::check::{Loader, SetFile};
use crate::Compilation;

/// What a compilation does beyond checking and lowering the set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Read every `test` block's snapshot and report those that cannot pass (`check`, `test`,
    /// the editor). `eval` and the service leave it off: a broken test fixture never stops a
    /// deployment decision.
    pub test_snapshots: bool,
    /// Run the lints on a set without errors.
    pub lint: bool,
    /// The day `@until` dates are compared with, when linting; `None` skips that lint (the
    /// library never reads the clock).
    pub today: Option<chrono::NaiveDate>,
}

impl Options {
    /// What `rollguard check` and `rollguard test` do: test snapshots and lints.
    pub fn checking(today: Option<chrono::NaiveDate>) -> Options {
        Options {
            test_snapshots: true,
            lint: true,
            today,
        }
    }
}

/// Compiles policy sets, reusing the parses of files whose text did not change. `Send + Sync`:
/// one compiler may serve several threads.
#[derive(Default)]
pub struct Compiler {
    parses: ParseCache,
}

impl Compiler {
    /// A compiler with nothing cached yet.
    pub fn new() -> Compiler {
        Compiler::default()
    }

    /// Compiles one policy set: parse (from the cache where the text is unchanged), check,
    /// lower, then, as `options` say, check test snapshots and lint. `use "..."` files and test
    /// snapshots are read through `loader`.
    pub fn compile(
        &self,
        files: &[SetFile],
        loader: &dyn Loader,
        options: &Options,
    ) -> Compilation {
        let mut c = crate::compile_with(files, loader, &self.parses);
        if options.test_snapshots {
            c.check_test_snapshots(loader);
        }
        if options.lint {
            c.lint(options.today);
        }
        c
    }

    /// How many files this compiler has parsed rather than reused: a measure of the work an
    /// edit caused.
    pub fn parses(&self) -> u64 {
        self.parses.parses()
    }
}
