//! A real editor against the real language server: headless Neovim with `editors/neovim` on its
//! runtimepath starts `rollguard-lsp` for a policy file, and what came back over the protocol
//! (diagnostics, hover, go to definition into another file of the set, completion through the
//! 'omnifunc' the plugin sets) is checked here.
//!
//! Needs `nvim` (0.7 or later; `apt-get install neovim`): without it the test is skipped with a
//! line on standard error, and fails under `CI=true` (`tests/common/mod.rs`). The server is the
//! `rollguard-lsp` cargo builds for this package's tests, unless `ROLLGUARD_LSP` names a binary
//! to use instead.

#[path = "../../tests/common/mod.rs"]
mod programs;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SIGNALS: &str = r#"/// Share of requests answered with a 5xx.
signal error_rate: ratio = "http.error_rate"

/// Above this, the canary rolls back.
let error_limit = 5%
"#;

// Line 4 compares a ratio with a bare number: error E0004.
const POLICY: &str = r#"policy checkout {
  applies when deployment.service == "checkout"
  require fresh(error_rate) within 2m else halt
  rollback spike when error_rate > error_limit
  halt noisy when error_rate > 0.05
}
"#;

/// How long Neovim may take for the whole exchange before it is killed.
const NVIM_DEADLINE: Duration = Duration::from_secs(120);

/// The repository's root (this test belongs to `lsp/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("lsp/ has a parent")
        .to_path_buf()
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("rollguard-nvim-{}-{nanos}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `nvim --version`'s first line, or `None` when the test is skipped (see [`programs`]).
fn require_nvim() -> Option<String> {
    let nvim = programs::require_program("nvim", "Neovim", "apt-get install neovim")?;
    let out = Command::new(&nvim)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", nvim.display()));
    assert!(
        out.status.success(),
        "`nvim --version` failed ({}): {}\nInstall Neovim 0.7 or later: apt-get install neovim",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_string(),
    )
}

/// The `rollguard-lsp` binary: `ROLLGUARD_LSP` if set, else the one cargo built for this test
/// (a test of the package that owns the binary gets it built with the same features, before
/// the test runs).
fn lsp_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ROLLGUARD_LSP") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "ROLLGUARD_LSP={} is not a file",
            path.display()
        );
        return path;
    }
    PathBuf::from(env!("CARGO_BIN_EXE_rollguard-lsp"))
}

/// 0-based `line:character` of the `nth` (0-based) occurrence of `needle` in `text`, plus
/// `offset` characters.
fn position(text: &str, needle: &str, nth: usize, offset: usize) -> String {
    let mut seen = 0;
    for (line_no, line) in text.lines().enumerate() {
        for (col, _) in line.match_indices(needle) {
            if seen == nth {
                return format!("{line_no}:{}", col + offset);
            }
            seen += 1;
        }
    }
    panic!("`{needle}` occurs fewer than {} times", nth + 1)
}

fn read_to_string_lossy(path: &Path) -> String {
    let mut bytes = Vec::new();
    match fs::File::open(path) {
        Ok(mut f) => {
            let _ = f.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}

/// Everything worth showing when the exchange went wrong.
fn report(scratch: &Path, stdout: &str, stderr: &str) -> String {
    let mut logs = String::new();
    for dir in ["state", "cache"] {
        let base = scratch.join(dir);
        for sub in ["nvim/lsp.log", "lsp.log"] {
            let p = base.join(sub);
            if p.is_file() {
                logs.push_str(&format!(
                    "--- {}:\n{}\n",
                    p.display(),
                    read_to_string_lossy(&p)
                ));
            }
        }
    }
    format!("--- nvim stdout:\n{stdout}\n--- nvim stderr:\n{stderr}\n{logs}")
}

#[test]
fn neovim_gets_diagnostics_hover_and_definition_from_rollguard_lsp() {
    let Some(version) = require_nvim() else {
        return;
    };
    let lsp = lsp_binary();

    let scratch = Scratch::new();
    let set = scratch.0.join("policies");
    fs::create_dir_all(&set).expect("mkdir policies");
    // The client's root directory: the plugin takes the nearest ancestor holding `.git`.
    fs::create_dir_all(scratch.0.join(".git")).expect("mkdir .git");
    let signals = set.join("signals.rollguard");
    let policy = set.join("policy.rollguard");
    fs::write(&signals, SIGNALS).expect("write signals.rollguard");
    fs::write(&policy, POLICY).expect("write policy.rollguard");
    let out_path = scratch.0.join("result.json");

    // Hover on `error_rate` in `rollback spike when error_rate > error_limit` (declared in the
    // other file), go to definition on `error_limit` on the same line.
    let hover_at = position(POLICY, "error_rate", 1, 2);
    let definition_at = position(POLICY, "error_limit", 0, 3);
    // Completion after `err` in that rule's `error_rate`.
    let completion_at = position(POLICY, "error_rate", 1, 3);

    let init = root().join("editors/neovim/test/e2e.lua");
    assert!(init.is_file(), "{} is missing", init.display());
    let mut child = Command::new("nvim")
        .args(["--headless", "--clean", "-u"])
        .arg(&init)
        .current_dir(&set)
        .env("ROLLGUARD_LSP", &lsp)
        .env("ROLLGUARD_E2E_FILE", &policy)
        .env("ROLLGUARD_E2E_HOVER", &hover_at)
        .env("ROLLGUARD_E2E_DEFINITION", &definition_at)
        .env("ROLLGUARD_E2E_COMPLETION", &completion_at)
        .env("ROLLGUARD_E2E_OUT", &out_path)
        .env("ROLLGUARD_E2E_TIMEOUT_MS", "30000")
        // Keep Neovim's own files (the LSP log among them) inside the scratch directory.
        .env("XDG_STATE_HOME", scratch.0.join("state"))
        .env("XDG_CACHE_HOME", scratch.0.join("cache"))
        .env("XDG_DATA_HOME", scratch.0.join("data"))
        .env("XDG_CONFIG_HOME", scratch.0.join("config"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nvim");

    // Drain the pipes on threads so a chatty child never blocks on a full pipe.
    let mut child_stdout = child.stdout.take().expect("stdout");
    let mut child_stderr = child.stderr.take().expect("stderr");
    let stdout_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = child_stdout.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let stderr_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = child_stderr.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for nvim") {
            break Some(status);
        }
        if started.elapsed() > NVIM_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = stdout_reader.join().unwrap_or_default();
    let stderr = stderr_reader.join().unwrap_or_default();
    let context = || report(&scratch.0, &stdout, &stderr);

    let Some(status) = status else {
        panic!(
            "{version} did not finish within {NVIM_DEADLINE:?}\n{}",
            context()
        );
    };
    assert!(status.success(), "nvim exited with {status}\n{}", context());
    let raw = fs::read_to_string(&out_path)
        .unwrap_or_else(|e| panic!("nvim wrote no {}: {e}\n{}", out_path.display(), context()));
    let result: serde_json::Value = serde_json::from_str(&raw)
        .unwrap_or_else(|e| panic!("the result is not JSON ({e}): {raw}\n{}", context()));
    let pretty = serde_json::to_string_pretty(&result).unwrap_or_else(|_| raw.clone());

    let errors = result["errors"].as_array().cloned().unwrap_or_default();
    assert!(
        errors.is_empty(),
        "the exchange reported errors: {errors:?}\nresult: {pretty}\n{}",
        context()
    );
    assert_eq!(result["filetype"], "rollguard", "result: {pretty}");
    assert_eq!(result["client"], "rollguard", "result: {pretty}");
    assert_eq!(
        result["server_info"]["name"], "rollguard-lsp",
        "the server's initialize result names it: {pretty}"
    );

    // The diagnostic: E0004 on line 5 (0-based 4), at `error_rate > 0.05`.
    let diagnostics = result["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let unit = diagnostics
        .iter()
        .find(|d| d["code"] == "E0004")
        .unwrap_or_else(|| panic!("no E0004 among the diagnostics\nresult: {pretty}"));
    assert_eq!(unit["line"], 4, "result: {pretty}");
    assert_eq!(unit["character"], 18, "result: {pretty}");
    assert_eq!(unit["severity"], 1, "an error (severity 1): {pretty}");
    let message = unit["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`error_rate` is a ratio, `0.05` is a number; write `5%`"),
        "message: {message}\nresult: {pretty}"
    );

    // Hover on a signal declared in the other file: its type and its snapshot key.
    let hover = result["hover"]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no hover text\nresult: {pretty}"));
    assert!(hover.contains("error_rate"), "hover: {hover}");
    assert!(hover.contains("ratio"), "hover names the type: {hover}");
    assert!(
        hover.contains("http.error_rate"),
        "hover names the key: {hover}"
    );
    assert!(
        hover.contains("Share of requests answered with a 5xx."),
        "hover shows the `///` doc comment from the other file: {hover}"
    );

    // Go to definition lands on the `let` in signals.rollguard, line 5 (0-based 4).
    let definitions = result["definition"].as_array().cloned().unwrap_or_default();
    assert_eq!(definitions.len(), 1, "one definition: {pretty}");
    let def = &definitions[0];
    let def_path = PathBuf::from(def["path"].as_str().unwrap_or_default());
    assert_eq!(
        def_path.file_name().and_then(|n| n.to_str()),
        Some("signals.rollguard"),
        "result: {pretty}"
    );
    assert_eq!(
        fs::canonicalize(&def_path).ok(),
        fs::canonicalize(&signals).ok(),
        "result: {pretty}"
    );
    assert_eq!(def["line"], 4, "result: {pretty}");

    // Completion: the plugin set 'omnifunc' to the server's completion, and the server offers
    // the signal declared in the other file for `err`.
    assert_eq!(
        result["omnifunc"], "v:lua.vim.lsp.omnifunc",
        "the plugin sets 'omnifunc' when the server attaches: {pretty}"
    );
    assert!(
        result["omnifunc_findstart"]
            .as_i64()
            .is_some_and(|start| start != -1),
        "calling 'omnifunc' finds a client to ask (-1: none): {pretty}"
    );
    assert_eq!(result["completion_prefix"], "err", "result: {pretty}");
    let words: Vec<&str> = result["completion"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["word"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        words.contains(&"error_rate"),
        "completion offers the signal `error_rate`: {words:?}\nresult: {pretty}"
    );
    assert!(
        words.iter().all(|w| w.starts_with("err")),
        "completion offers only words that start with `err`: {words:?}"
    );
}
