//! The `rollguard` command: a thin shell over the library.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod approve;
#[cfg(feature = "serve")]
mod listen;
#[cfg(feature = "serve")]
mod serve;
use rollguard::{load, Code, Compilation, Compiler, FsLoader, Options};

/// `println!` and `eprintln!` panic when the reader has gone (`rollguard explain E0001 | head -1`);
/// a closed pipe is the reader's choice, not an error.
macro_rules! say {
    ($($t:tt)*) => {{ let _ = writeln!(std::io::stdout().lock(), $($t)*); }};
}
macro_rules! warn {
    ($($t:tt)*) => {{ let _ = writeln!(std::io::stderr().lock(), $($t)*); }};
}

#[derive(Parser)]
#[command(
    name = "rollguard",
    version,
    about = "Policy-as-code for automated rollout and rollback decisions"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum CheckFormat {
    Human,
    Json,
    Sarif,
    Github,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum TestFormat {
    Human,
    Json,
    Sarif,
    Github,
    Junit,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Deny {
    /// Any warning (a lint) fails the check
    Warnings,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum DiffFormat {
    Text,
    Json,
    Github,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum DenyDiff {
    /// A change that loosens a decision, or whose direction is unknown, fails
    Loosening,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ComplianceFormat {
    Md,
    Json,
    Html,
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Each control of the catalogs `@maps` names: the statements mapped to it and the tests
    /// that exercise them; and the mapped controls no test exercises
    Compliance {
        /// Policy files or directories (each directory is a set, as `check` takes them)
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "md")]
        format: ComplianceFormat,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain; exit 1 naming the first bad line
    Verify {
        file: PathBuf,
        /// The head hash served at /v1/audit/head: also catches records cut from the end
        #[arg(long)]
        head: Option<String>,
    },
    /// Derive every recorded decision again from its snapshot and its archived policy set;
    /// exit 1 naming each record that differs
    Replay {
        file: PathBuf,
        /// The policy set archive (default: FILE.sets, where the service writes it)
        #[arg(long)]
        sets: Option<PathBuf>,
        /// The trust file the service was given (`serve --trust`): decisions whose approvals
        /// it verified are derived again with it
        #[arg(long)]
        trust: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Check policy files or directories (each directory is a set); exit 1 on any error
    Check {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "human")]
        format: CheckFormat,
        /// `--deny warnings`: exit 1 on warnings too
        #[arg(long, value_enum)]
        deny: Option<Deny>,
    },
    /// Evaluate one policy set against a snapshot and print the decision
    Eval {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The snapshot JSON file, or `-` for standard input
        #[arg(long)]
        snapshot: String,
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Exit with the decision: 0 proceed, 10 inconclusive, 11 hold, 20 halt, 30 rollback
        #[arg(long)]
        exit_code: bool,
        /// Trusted approvers (docs/identity.md): only signed approvals that verify count
        #[arg(long)]
        trust: Option<PathBuf>,
        /// The time approvals' expiries are judged at (RFC 3339); default: the snapshot's `at`
        #[arg(long, requires = "trust")]
        now: Option<String>,
    },
    /// Print a signed approval statement (a compact JWS) for one revision of a service
    Approve {
        /// The approver's Ed25519 private key (PKCS#8 PEM, from `rollguard keygen`)
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        service: String,
        #[arg(long)]
        environment: String,
        #[arg(long)]
        revision: String,
        /// A rejection instead of an approval
        #[arg(long)]
        reject: bool,
        /// How long it counts: `90m`, `24h`, `7d` (at most 30d)
        #[arg(long, default_value = "24h")]
        expires: String,
    },
    /// Make an approver's Ed25519 key pair: the private key to FILE, the public key to stdout
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Run the `test` blocks of policy sets; exit 1 when any fails
    Test {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "human")]
        format: TestFormat,
    },
    /// Format policy files in the canonical layout (directories: every file under them)
    Fmt {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Change nothing: print the diff and exit 1 when a file would change
        #[arg(long)]
        check: bool,
    },
    /// Report the changes between two versions of a policy set that loosen or tighten decisions
    Diff {
        /// The old version: a policy file or a directory (one set, as `eval` takes it)
        old: PathBuf,
        /// The new version
        new: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: DiffFormat,
        /// `--deny loosening`: exit 1 when a change loosens, or its direction is unknown
        #[arg(long, value_enum)]
        deny: Option<DenyDiff>,
    },
    /// Explain a diagnostic code, e.g. `rollguard explain E0004`
    Explain { code: String },
    /// Reports on policy sets: `rollguard report compliance DIR [--format md|json|html]`
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Serve decisions over HTTP for deploy tools (Argo Rollouts, Flagger, pipelines)
    #[cfg(feature = "serve")]
    Serve {
        /// The policy directory; changes are picked up while serving
        #[arg(long)]
        policies: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8181")]
        addr: std::net::SocketAddr,
        /// A JSON file `[{"token": "...", "principal": {"kind", "id", "groups"}}]`; every request
        /// then needs `Authorization: Bearer TOKEN`, and the token's principal is the requester
        #[arg(long)]
        tokens: Option<PathBuf>,
        /// Requester identity (docs/identity.md): JWT issuers, static tokens with expiry,
        /// mesh client certificates from trusted proxies, capability URLs for Flagger hooks
        #[arg(long)]
        identity: Option<PathBuf>,
        /// Trusted approvers (docs/identity.md): only signed approvals that verify count
        #[arg(long)]
        trust: Option<PathBuf>,
        /// Listen beyond loopback without tokens
        #[arg(long)]
        insecure_listen: bool,
        /// Append every decision to this hash-chained log before answering
        #[arg(long)]
        decision_log: Option<PathBuf>,
        /// Bodies over this get 413 (at once when Content-Length says so)
        #[arg(long, default_value_t = 1 << 20)]
        max_body_bytes: usize,
        #[arg(long, default_value_t = 64)]
        max_json_depth: usize,
        /// A request not answered within this (body included) gets 408
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
        #[arg(long, default_value_t = 1000)]
        reload_interval_ms: u64,
        /// A request head must be whole within this after the connection opens or its
        /// previous answer is sent; else the connection is closed
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
        header_timeout_ms: u64,
        /// A connection with no request in flight and nothing arriving is closed after this
        #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
        idle_timeout_ms: u64,
        /// Open connections at most (lowered to fit the descriptor limit); when full, the
        /// connection idle the longest is closed to make room
        #[arg(long, default_value_t = 1024, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        max_connections: usize,
    },
    /// The decision log: `rollguard audit verify FILE [--head HASH]`, `rollguard audit replay
    /// FILE [--sets DIR]`
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check {
            paths,
            format,
            deny,
        } => check(&paths, format, deny.is_some()),
        Command::Eval {
            paths,
            snapshot,
            format,
            exit_code,
            trust,
            now,
        } => eval(
            &paths,
            &snapshot,
            format,
            exit_code,
            trust.as_deref(),
            now.as_deref(),
        ),
        Command::Approve {
            key,
            service,
            environment,
            revision,
            reject,
            expires,
        } => approve::approve(&approve::Request {
            key: &key,
            service: &service,
            environment: &environment,
            revision: &revision,
            reject,
            expires: &expires,
        }),
        Command::Keygen { out } => approve::keygen(&out),
        Command::Test { paths, format } => test(&paths, format),
        Command::Fmt { paths, check } => fmt(&paths, check),
        Command::Diff {
            old,
            new,
            format,
            deny,
        } => diff(&old, &new, format, deny.is_some()),
        Command::Explain { code } => explain(&code),
        Command::Report {
            command: ReportCommand::Compliance { paths, format },
        } => compliance(&paths, format),
        #[cfg(feature = "serve")]
        Command::Serve {
            policies,
            addr,
            tokens,
            identity,
            trust,
            insecure_listen,
            decision_log,
            max_body_bytes,
            max_json_depth,
            timeout_ms,
            reload_interval_ms,
            header_timeout_ms,
            idle_timeout_ms,
            max_connections,
        } => serve::run(serve::Options {
            policies,
            addr,
            tokens,
            identity,
            trust,
            insecure_listen,
            decision_log,
            max_body_bytes,
            max_depth: max_json_depth,
            timeout: std::time::Duration::from_millis(timeout_ms),
            reload_interval: std::time::Duration::from_millis(reload_interval_ms),
            header_timeout: std::time::Duration::from_millis(header_timeout_ms),
            idle_timeout: std::time::Duration::from_millis(idle_timeout_ms),
            max_connections,
        }),
        Command::Audit {
            command: AuditCommand::Verify { file, head },
        } => audit_verify(&file, head.as_deref()),
        Command::Audit {
            command: AuditCommand::Replay { file, sets, trust },
        } => audit_replay(&file, sets.as_deref(), trust.as_deref()),
    };
    ExitCode::from(code)
}

fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// A path that cannot be read is bad usage (2); a file that is not UTF-8 is a bad policy (1).
fn load_failure(e: &load::Failure) -> u8 {
    warn!("{}", e.message);
    if e.in_policy {
        1
    } else {
        2
    }
}

fn usage_error(msg: &str) -> u8 {
    warn!("error: {msg}");
    2
}

/// Prints every diagnostic of a compilation to stderr; returns whether there was an error.
/// Diagnostics rendered with source snippets; past this many, one line each (rendering a
/// snippet costs a scan of the file, so a huge generated file with thousands of warnings would
/// otherwise take minutes).
const RENDERED: usize = 100;

fn report(c: &Compilation) -> bool {
    let color = color();
    let mut err = std::io::stderr().lock();
    for (i, d) in c.diagnostics.iter().enumerate() {
        if i < RENDERED {
            let _ = write!(err, "{}", d.render(&c.sources, color));
        } else {
            let _ = writeln!(err, "{}", d.one_line(&c.sources));
        }
    }
    c.has_errors()
}

/// Today, for `@until` dates: `ROLLGUARD_TODAY=YYYY-MM-DD` pins it (reproducible CI runs).
fn today() -> Option<chrono::NaiveDate> {
    if let Ok(day) = std::env::var("ROLLGUARD_TODAY") {
        return chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").ok();
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_days(chrono::Days::new(secs / 86_400))
}

/// Compiles a set the way `check` and `test` do: with its tests' snapshots and the lints.
fn compile_checked(set: &[rollguard::SetFile]) -> Compilation {
    Compiler::new().compile(set, &FsLoader, &Options::checking(today()))
}

fn check(paths: &[PathBuf], format: CheckFormat, deny_warnings: bool) -> u8 {
    let sets = match load::sets_in_trees(paths) {
        Ok(s) => s,
        Err(e) => return load_failure(&e),
    };
    let (mut files, mut errors, mut warnings) = (0, 0, 0);
    let mut records = Vec::new();
    for set in &sets {
        let c = compile_checked(set);
        if format == CheckFormat::Human {
            report(&c);
        } else {
            records.extend(rollguard::report::records(&c));
        }
        files += set.len();
        errors += c.diagnostics.iter().filter(|d| d.is_error()).count();
        warnings += c.diagnostics.iter().filter(|d| !d.is_error()).count();
    }
    let out = match format {
        CheckFormat::Human => String::new(),
        CheckFormat::Json => rollguard::report::to_json(&records),
        CheckFormat::Sarif => rollguard::report::to_sarif(&records),
        CheckFormat::Github => rollguard::report::to_github(&records),
    };
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    warn!(
        "checked {} in {}: {}, {}",
        plural(files, "file"),
        plural(sets.len(), "set"),
        plural(errors, "error"),
        plural(warnings, "warning")
    );
    u8::from(errors > 0 || (deny_warnings && warnings > 0))
}

/// The report covers only sets that compile: a set with errors has no program to run its tests
/// on, and a half-read set would under-report. Its diagnostics are printed and nothing else.
fn compliance(paths: &[PathBuf], format: ComplianceFormat) -> u8 {
    let sets = match load::sets_in_trees(paths) {
        Ok(s) => s,
        Err(e) => return load_failure(&e),
    };
    let compilations: Vec<Compilation> = sets.iter().map(|s| compile_checked(s)).collect();
    let mut failed = false;
    for (set, c) in sets.iter().zip(&compilations) {
        if c.has_errors() {
            report(c);
            warn!(
                "error: {}: the policy set does not compile; no report was made",
                set[0].name
            );
            failed = true;
        }
    }
    if failed {
        return 1;
    }
    let inputs: Vec<rollguard::compliance::report::Set> = sets
        .iter()
        .zip(&compilations)
        .filter_map(|(files, c)| {
            Some(rollguard::compliance::report::Set {
                files,
                sources: &c.sources,
                compiled: c.compiled.as_ref()?,
            })
        })
        .collect();
    let r = rollguard::compliance::report::build(&inputs, &FsLoader);
    let out = match format {
        ComplianceFormat::Md => r.to_markdown(),
        ComplianceFormat::Json => r.to_json(),
        ComplianceFormat::Html => r.to_html(),
    };
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    0
}

fn eval(
    paths: &[PathBuf],
    snapshot: &str,
    format: Format,
    exit_code: bool,
    trust: Option<&std::path::Path>,
    now: Option<&str>,
) -> u8 {
    let trust = match trust.map(rollguard::trust::Trust::load).transpose() {
        Ok(t) => t,
        Err(e) => return usage_error(&format!("the trust file {e}")),
    };
    let now = match now.map(chrono::DateTime::parse_from_rfc3339).transpose() {
        Ok(n) => n.map(|t| t.timestamp()),
        Err(e) => return usage_error(&format!("--now is not an RFC 3339 time: {e}")),
    };
    let files = match load::one_set(paths) {
        Ok(f) => f,
        Err(e) => return load_failure(&e),
    };
    let bytes = if snapshot == "-" {
        let mut buf = Vec::new();
        if let Err(e) = std::io::stdin().read_to_end(&mut buf) {
            return usage_error(&format!(
                "cannot read the snapshot from standard input: {e}"
            ));
        }
        buf
    } else {
        match std::fs::read(snapshot) {
            Ok(b) => b,
            Err(e) => return usage_error(&format!("cannot read the snapshot `{snapshot}`: {e}")),
        }
    };
    // `eval` decides without reading test fixtures or linting.
    let c = Compiler::new().compile(&files, &FsLoader, &Options::default());
    report(&c);
    let Some(compiled) = &c.compiled else {
        warn!("error: the policy set does not compile; no decision was made");
        return 1;
    };
    let decided = match &trust {
        Some(t) => compiled.decide_trusted(&bytes, t, now),
        None => compiled.decide(&bytes),
    };
    let decision = match decided {
        Ok(d) => d,
        Err(e) => {
            let name = if snapshot == "-" { "<stdin>" } else { snapshot };
            return usage_error(&format!("{name}: {e}"));
        }
    };
    let text = match format {
        Format::Json => decision.to_json() + "\n",
        Format::Human => decision.to_human(),
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if exit_code {
        decision.decision.exit_code() as u8
    } else {
        0
    }
}

fn test(paths: &[PathBuf], format: TestFormat) -> u8 {
    let sets = match load::sets_in_trees(paths) {
        Ok(s) => s,
        Err(e) => return load_failure(&e),
    };
    let mut r = rollguard::testing::Report::default();
    for set in &sets {
        let c = compile_checked(set);
        if format == TestFormat::Human {
            report(&c);
        }
        r.diagnostics.extend(
            rollguard::report::records(&c)
                .into_iter()
                .filter(|d| !d.is_allowed()),
        );
        match &c.compiled {
            Some(compiled) => r.run(compiled, &c.sources, &FsLoader),
            None if format == TestFormat::Human => {
                warn!(
                    "{}: the policy set does not compile; its tests did not run",
                    set[0].name
                )
            }
            None => {}
        }
    }
    let out = match format {
        TestFormat::Human => r.to_human(),
        TestFormat::Json => r.to_json(),
        TestFormat::Junit => r.to_junit(),
        TestFormat::Sarif => rollguard::report::to_sarif(&r.records()),
        TestFormat::Github => rollguard::report::to_github(&r.records()),
    };
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    u8::from(!r.success())
}

fn policy_files(path: &std::path::Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            let hidden = e
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if e.is_dir() && !hidden {
                policy_files(&e, out)?;
            } else if e.extension().is_some_and(|x| x == load::EXTENSION) {
                out.push(e);
            }
        }
        Ok(())
    } else if path.exists() {
        out.push(path.to_path_buf());
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no such file or directory: `{}`", path.display()),
        ))
    }
}

fn fmt(paths: &[PathBuf], check: bool) -> u8 {
    let mut files = Vec::new();
    for p in paths {
        if let Err(e) = policy_files(p, &mut files) {
            return usage_error(&e.to_string());
        }
    }
    let (mut changed, mut failed) = (0, 0);
    for f in &files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                warn!("{}: cannot read: {e}", f.display());
                failed += 1;
                continue;
            }
        };
        let formatted = match rollguard::fmt::format(&text) {
            Ok(t) => t,
            Err(e) => {
                warn!("{}: {e}", f.display());
                failed += 1;
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        changed += 1;
        if check {
            let diff = similar::TextDiff::from_lines(&text, &formatted);
            let name = f.display().to_string();
            say!(
                "{}",
                diff.unified_diff()
                    .context_radius(2)
                    .header(&name, &format!("{name} (formatted)"))
            );
        } else if let Err(e) = std::fs::write(f, &formatted) {
            warn!("{}: cannot write: {e}", f.display());
            failed += 1;
        }
    }
    let verb = if check {
        "would reformat"
    } else {
        "reformatted"
    };
    warn!(
        "{verb} {changed} of {} file{}{}",
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        if failed > 0 {
            format!(", {failed} not formatted")
        } else {
            String::new()
        }
    );
    u8::from(failed > 0 || (check && changed > 0))
}

/// Compiles one version for `diff`; its diagnostics go to stderr as `check` prints them.
fn diff_side(path: &std::path::Path) -> Result<(Vec<rollguard::SetFile>, Compilation), u8> {
    let files = load::one_set(&[path.to_path_buf()]).map_err(|e| {
        warn!("{}", e.message);
        2
    })?;
    let c = Compiler::new().compile(&files, &FsLoader, &Options::default());
    if report(&c) {
        warn!(
            "error: `{}` does not compile; nothing was compared",
            path.display()
        );
        return Err(2);
    }
    Ok((files, c))
}

fn diff(old: &std::path::Path, new: &std::path::Path, format: DiffFormat, deny: bool) -> u8 {
    let (old_files, old_c) = match diff_side(old) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let (new_files, new_c) = match diff_side(new) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let (Some(a), Some(b)) = (
        rollguard::diff::Side::new(&old_files, &old_c),
        rollguard::diff::Side::new(&new_files, &new_c),
    ) else {
        return usage_error("a policy set without errors did not compile");
    };
    let d = rollguard::diff::compare(&a, &b);
    let out = match format {
        DiffFormat::Text => rollguard::diff::to_text(&d),
        DiffFormat::Json => rollguard::diff::to_json(&d),
        DiffFormat::Github => rollguard::diff::to_github(&d, deny),
    };
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    let refused =
        d.count(rollguard::diff::Direction::Loosens) + d.count(rollguard::diff::Direction::Unknown);
    u8::from(deny && refused > 0)
}

fn audit_verify(file: &std::path::Path, head: Option<&str>) -> u8 {
    match rollguard::audit::verify(file, head) {
        Ok(v) => {
            if let Some(t) = &v.torn {
                warn!("{}: {t}; the records before it are intact", file.display());
            }
            say!("ok: {} records, head {}", v.head.count, v.head.last);
            0
        }
        Err(e) => {
            warn!("{}: {e}", file.display());
            1
        }
    }
}

fn audit_replay(
    file: &std::path::Path,
    sets: Option<&std::path::Path>,
    trust: Option<&std::path::Path>,
) -> u8 {
    use rollguard::replay;
    let trust = match trust.map(rollguard::trust::Trust::load).transpose() {
        Ok(t) => t,
        Err(e) => return usage_error(&format!("the trust file {e}")),
    };
    let sets = sets.map_or_else(|| replay::sets_dir(file), std::path::Path::to_path_buf);
    let r = match replay::replay(file, &sets, trust.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            warn!("{}: {e}", file.display());
            return 1;
        }
    };
    for d in &r.differences {
        warn!("{}: {d}", file.display());
    }
    if let Some(t) = &r.torn {
        warn!(
            "{}: {t}; the records before it were replayed",
            file.display()
        );
    }
    let records: std::collections::BTreeSet<u64> = r.differences.iter().map(|d| d.seq).collect();
    say!(
        "{}: {} records: {} decisions replayed, {} refusals, {} of format 1 not replayable; {} policy sets; {} differences in {} records",
        if r.differences.is_empty() { "ok" } else { "DIFFERENT" },
        r.records,
        r.decisions,
        r.refusals,
        r.unreplayable,
        r.sets,
        r.differences.len(),
        records.len()
    );
    u8::from(!r.differences.is_empty())
}

fn explain(code: &str) -> u8 {
    match Code::parse(code) {
        Some(c) => {
            say!("{}: {}\n\n{}", c.as_str(), c.title(), c.explanation());
            0
        }
        None => {
            let known: Vec<&str> = rollguard::codes::ALL.iter().map(|c| c.as_str()).collect();
            usage_error(&format!(
                "`{code}` is not a rollguard diagnostic code; the codes are {}",
                known.join(", ")
            ))
        }
    }
}
