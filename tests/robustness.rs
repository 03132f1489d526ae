//! No input makes rollguard panic: policies and snapshots from the repository, mutated at
//! random (with a fixed seed, so a failure reproduces), through the library's whole pipeline.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use rollguard::{Compiler, FsLoader, Options, SetFile};

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "//",
    "/*",
    "///",
    "@mode(\"dry_run\")",
    " and ",
    " or ",
    " not ",
    "!",
    "-",
    "%",
    "5%",
    "800ms",
    "3m",
    "1.5",
    "0",
    " for 3m",
    " unless x",
    " when ",
    " else ",
    "rollback",
    "halt",
    "require",
    "approval",
    "policy p {",
    "fresh(",
    ") within 2m",
    "baseline(",
    "cel(\"",
    "deployment.",
    "labels[\"k\"]",
    "class is ",
    "touches ",
    " ? 1 : 2",
    "let",
    "fn f(x: bool) -> bool = x",
    "use std::",
    "\u{e9}",
    "\u{1F600}",
    "\n",
    "\t",
    "==",
    ">=",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut s: Vec<char> = text.chars().collect();
    for _ in 0..=rng.below(4) {
        let at = rng.below(s.len() + 1);
        match rng.below(4) {
            0 if !s.is_empty() => {
                let end = (at + rng.below(12)).min(s.len());
                s.drain(at.min(end)..end);
            }
            1 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                s.splice(at..at, t.chars());
            }
            2 if !s.is_empty() => {
                let from = rng.below(s.len());
                let end = (from + rng.below(40)).min(s.len());
                let piece: Vec<char> = s[from..end].to_vec();
                s.splice(at..at, piece);
            }
            _ => {
                if at < s.len() {
                    s[at] = TOKENS[rng.below(TOKENS.len())]
                        .chars()
                        .next()
                        .unwrap_or(' ');
                }
            }
        }
    }
    s.into_iter().collect()
}

fn policy_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            policy_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rollguard") {
            out.push(p);
        }
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn mutated_policies_never_panic() {
    let mut files = Vec::new();
    policy_files(&root().join("examples"), &mut files);
    policy_files(&root().join("tests/ui"), &mut files);
    assert!(files.len() > 50, "too few seed files: {}", files.len());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..1500 {
        let seed = &files[rng.below(files.len())];
        let text = mutate(&mut rng, &fs::read_to_string(seed).expect("seed"));
        let set = vec![SetFile {
            name: "mutated.rollguard".into(),
            path: seed.clone(),
            text: text.clone(),
        }];
        let result = catch_unwind(AssertUnwindSafe(|| {
            let options = Options {
                test_snapshots: true,
                ..Options::default()
            };
            let c = Compiler::new().compile(&set, &FsLoader, &options);
            for d in &c.diagnostics {
                let _ = d.render(&c.sources, false);
            }
            c.has_errors() || c.compiled.is_some()
        }));
        match result {
            Ok(consistent) => assert!(
                consistent,
                "round {round}: no error and no program for:\n{text}"
            ),
            Err(_) => panic!(
                "round {round}: compiling this policy panicked (seed {}):\n{text}",
                seed.display()
            ),
        }
    }
}

#[test]
fn mutated_snapshots_never_panic() {
    let mut files = Vec::new();
    policy_files(&root().join("examples"), &mut files);
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    dirs.dedup();
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for dir in dirs {
        let set: Vec<SetFile> = files
            .iter()
            .filter(|f| f.parent() == Some(dir.as_path()))
            .map(|f| SetFile {
                name: f.display().to_string(),
                path: f.clone(),
                text: fs::read_to_string(f).expect("policy"),
            })
            .collect();
        let c = Compiler::new().compile(&set, &FsLoader, &Options::default());
        let compiled = c.compiled.expect("examples compile");
        let mut snaps = Vec::new();
        if let Ok(rd) = fs::read_dir(dir.join("snapshots")) {
            snaps.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
        }
        snaps.sort();
        for snap in snaps {
            let text = fs::read_to_string(&snap).expect("snapshot");
            for round in 0..40 {
                let bytes = mutate(&mut rng, &text);
                let r = catch_unwind(AssertUnwindSafe(|| {
                    compiled.decide(bytes.as_bytes()).map(|d| d.to_json())
                }));
                assert!(
                    r.is_ok(),
                    "round {round}: deciding this snapshot panicked ({}):\n{bytes}",
                    snap.display()
                );
            }
        }
    }
}
