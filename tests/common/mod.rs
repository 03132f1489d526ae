//! What the integration tests share. Include it with `mod common;`.
//!
//! **Outside programs.** A test that needs a program this repository does not build (Neovim,
//! `mount`, ...) asks [`require_program`] for it first. When the program is on `PATH`, the test
//! runs. When it is not, the test is skipped with a line on standard error that names the
//! program and how to install it, unless `CI` is set (to anything but empty, `0` or `false`):
//! then it fails, so that a CI machine missing a program never passes by checking nothing.
//! `.ci/run` installs every program named here. See docs/testing.md, "Outside programs".

#![allow(dead_code)]

use std::io::Write as _;
use std::path::PathBuf;

/// Whether this run is CI's: `CI` set to anything but empty, `0` or `false` (CI services set
/// `CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| {
        let v = v.trim();
        !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
    })
}

/// The first executable file named `program` in the directories of `PATH`.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(program))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The path of `program` (a command name, looked up on `PATH`), or `None` when the test must be
/// skipped: then a `SKIPPED:` line naming `what` and `install` has been written to standard
/// error. Under CI ([`in_ci`]) a missing program is a failure instead (this panics).
///
/// ```ignore
/// let Some(nvim) = common::require_program("nvim", "Neovim", "apt-get install neovim") else {
///     return;
/// };
/// ```
#[must_use]
pub fn require_program(program: &str, what: &str, install: &str) -> Option<PathBuf> {
    if let Some(found) = find_on_path(program) {
        return Some(found);
    }
    let message = format!("{what} ({program}) not found; install it with: {install}");
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string();
    if in_ci() {
        panic!("FAILED: {message}\n(CI is set: {test} fails instead of skipping)");
    }
    // Straight to the standard error stream: the test harness captures `eprintln!` of a passing
    // test, and this line must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {message}\n  ({test} checked nothing; with CI=true it fails)"
    );
    None
}

/// Whether expected files are to be rewritten: `ROLLGUARD_BLESS` set, or `-- --bless`.
pub fn bless() -> bool {
    std::env::var_os("ROLLGUARD_BLESS").is_some() || std::env::args().any(|a| a == "--bless")
}

/// Compares `actual` with the file at `expected`, or writes it when blessing. `suite` is the
/// test target (`cargo test --test SUITE`), named in the message that says how to bless.
pub fn expect_file(expected: &std::path::Path, actual: &str, suite: &str) -> Result<(), String> {
    if bless() {
        return std::fs::write(expected, actual)
            .map_err(|e| format!("cannot write {}: {e}", expected.display()));
    }
    let want = std::fs::read_to_string(expected).map_err(|e| {
        format!(
            "cannot read {} ({e}); run `cargo test --test {suite} -- --bless` to create it",
            expected.display()
        )
    })?;
    if want == actual {
        Ok(())
    } else {
        Err(format!(
            "output differs from {}\n--- expected\n{want}\n--- actual\n{actual}\n(run `cargo test --test {suite} -- --bless` to accept)",
            expected.display()
        ))
    }
}
