//! The evidence behind the decision log: the archive of every policy set the service served,
//! and the replay that derives every recorded decision again from it.
//!
//! The archive is a directory beside the log (`LOG.sets/`, see [`sets_dir`]) holding one
//! directory per set, named by its digest (`sha256-<hex>`): the exact text of every file the
//! compilation read (the set's files and the files their `use "..."` named), and `set.json`,
//! which says where each came from. A set is written there before it serves any request, into
//! a temporary directory that is renamed into place once whole, so a directory under its final
//! name is always complete; writing a set that is already there does nothing.
//!
//! Replay reads the log as `audit verify` does and, for each decision record, compiles the
//! archived set its `policy_digest` names (once per set), checks that the compilation gives that
//! digest, evaluates the recorded snapshot and compares the decision with the recorded one.
//! Evaluation is a pure function of the set and the snapshot (the snapshot's `at` is its only
//! "now"), so any difference is an edited record or archive. A forger who edits a decision and
//! re-computes the chain after it passes `audit verify` without a head kept elsewhere, but not
//! replay.
//!
//! This module compiles and evaluates, so it lives outside `audit`, which depends on nothing
//! else in the crate.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audit::{self, TornTail, VerifyError};
use crate::trust::Trust;
use crate::{Engine, FsLoader, LoadError, Loader, SetFile};

/// The manifest of an archived set, `set.json`.
const MANIFEST: &str = "set.json";

/// The archive beside the log at `log`: `LOG.sets`.
pub fn sets_dir(log: &Path) -> PathBuf {
    let mut name = log.file_name().unwrap_or_default().to_os_string();
    name.push(".sets");
    log.with_file_name(name)
}

/// What one compilation read from disk besides the set's own files, so it can be done again
/// without the disk.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct Reads {
    /// Each path the compiler asked to canonicalize, and the answer.
    canonical: BTreeMap<PathBuf, Option<PathBuf>>,
    /// Each path the compiler read, and its text.
    #[serde(skip)]
    texts: BTreeMap<PathBuf, String>,
}

/// The file system, with every answer written down.
#[derive(Default)]
struct Recording(Mutex<Reads>);

impl Loader for Recording {
    fn canonical(&self, path: &Path) -> Option<PathBuf> {
        let c = FsLoader.canonical(path);
        let mut reads = self.0.lock().expect("lock");
        reads.canonical.insert(path.to_path_buf(), c.clone());
        c
    }

    fn read(&self, path: &Path) -> io::Result<String> {
        let text = FsLoader.read(path)?;
        let mut reads = self.0.lock().expect("lock");
        reads.texts.insert(path.to_path_buf(), text.clone());
        Ok(text)
    }
}

/// The answers written down, given again: replay never reads the live policy directory.
impl Loader for Reads {
    fn canonical(&self, path: &Path) -> Option<PathBuf> {
        self.canonical.get(path).cloned().flatten()
    }

    fn read(&self, path: &Path) -> io::Result<String> {
        self.texts.get(path).cloned().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("`{}` is not in the archived set", path.display()),
            )
        })
    }
}

/// A set compiled with what it read written down: what [`archive`] stores.
pub struct Recorded {
    /// The compiled set.
    pub engine: Engine,
    files: Vec<SetFile>,
    reads: Reads,
}

/// Compiles `files` as [`Engine::from_set`] does, writing down every file read besides them.
pub fn compile_recording(files: &[SetFile]) -> Result<Recorded, LoadError> {
    let recording = Recording::default();
    let engine = Engine::from_set_with(files, &recording)?;
    let reads = recording.0.into_inner().expect("lock");
    Ok(Recorded {
        engine,
        files: files.to_vec(),
        reads,
    })
}

/// One file of `set.json`.
#[derive(Serialize, Deserialize)]
struct ManifestFile {
    /// The file in the set's directory.
    file: String,
    /// The set file's name, as messages and explanations show it; `null` for a file read
    /// through `use "..."`.
    name: Option<String>,
    /// Where it was: the path compilation used for it.
    path: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    digest: String,
    files: Vec<ManifestFile>,
    canonical: BTreeMap<PathBuf, Option<PathBuf>>,
}

/// The directory of the set whose digest is `digest` (`sha256:<hex>`) under `sets`.
fn set_dir(sets: &Path, digest: &str) -> PathBuf {
    sets.join(digest.replacen(':', "-", 1))
}

/// Writes `set` into the archive `sets` (created if absent), unless it is there already, and
/// returns its directory. The files are synced and the directory renamed into place only when
/// whole, so the archive never holds part of a set under its final name.
pub fn archive(sets: &Path, set: &Recorded) -> io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let digest = set.engine.digest();
    let target = set_dir(sets, digest);
    if target.join(MANIFEST).is_file() {
        return Ok(target);
    }
    fs::create_dir_all(sets)?;
    let tmp = sets.join(format!(
        ".tmp-{}-{}-{}",
        digest.replacen(':', "-", 1),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir(&tmp)?;
    let mut manifest = Manifest {
        digest: digest.to_string(),
        files: Vec::new(),
        canonical: set.reads.canonical.clone(),
    };
    let named = set.files.iter().map(|f| (Some(&f.name), &f.path, &f.text));
    let used = set.reads.texts.iter().map(|(p, t)| (None, p, t));
    for (i, (name, path, text)) in named.chain(used).enumerate() {
        // A number keeps two files of one name apart; the base name keeps the archive legible.
        let base = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = format!("{i:03}-{base}");
        write_synced(&tmp.join(&file), text.as_bytes())?;
        manifest.files.push(ManifestFile {
            file,
            name: name.cloned(),
            path: path.clone(),
        });
    }
    let json = serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?;
    write_synced(&tmp.join(MANIFEST), &json)?;
    File::open(&tmp)?.sync_all()?;
    match fs::rename(&tmp, &target) {
        Ok(()) => {}
        // Another writer put the same set there first: the same digest, the same meaning.
        Err(_) if target.join(MANIFEST).is_file() => {
            let _ = fs::remove_dir_all(&tmp);
            return Ok(target);
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    }
    File::open(sets)?.sync_all()?;
    Ok(target)
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Compiles the set archived under `sets` for `digest`, and checks that it is that set.
pub fn load_archived(sets: &Path, digest: &str) -> Result<Engine, String> {
    let dir = set_dir(sets, digest);
    let manifest_path = dir.join(MANIFEST);
    let text = fs::read(&manifest_path).map_err(|e| {
        format!(
            "the set {digest} is not in the archive (`{}`: {e})",
            manifest_path.display()
        )
    })?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| format!("`{}` is not a set manifest: {e}", manifest_path.display()))?;
    let mut files = Vec::new();
    let mut reads = Reads {
        canonical: manifest.canonical,
        texts: BTreeMap::new(),
    };
    for f in manifest.files {
        let file = dir.join(&f.file);
        if f.file.contains('/') || f.file.starts_with('.') {
            return Err(format!(
                "`{}` names `{}`, which is not a file of the set's directory",
                manifest_path.display(),
                f.file
            ));
        }
        let text = fs::read_to_string(&file)
            .map_err(|e| format!("cannot read `{}`: {e}", file.display()))?;
        match f.name {
            Some(name) => files.push(SetFile {
                name,
                path: f.path,
                text,
            }),
            None => {
                reads.texts.insert(f.path, text);
            }
        }
    }
    let engine = Engine::from_set_with(&files, &reads).map_err(|e| {
        format!(
            "the set archived in `{}` does not compile: {}",
            dir.display(),
            e.problems.join("; ")
        )
    })?;
    if engine.digest() != digest {
        return Err(format!(
            "the set archived in `{}` compiles to {}, not {digest}: the archive was edited",
            dir.display(),
            engine.digest()
        ));
    }
    Ok(engine)
}

/// A recorded decision that replay does not derive again as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The record's `seq` (its line).
    pub seq: u64,
    /// The field that differs: `decision.<key>`, `requester`, `policy_digest` or `snapshot`.
    pub field: String,
    /// What differs, for people.
    pub detail: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {}: `{}`: {}", self.seq, self.field, self.detail)
    }
}

/// What a replay found.
#[derive(Clone, Debug, Default)]
pub struct Replay {
    /// Whole records read.
    pub records: u64,
    /// Decision records derived again.
    pub decisions: u64,
    /// Refusal records (nothing to derive).
    pub refusals: u64,
    /// Records of format 1, which hold no snapshot and cannot be derived again.
    pub unreplayable: u64,
    /// Policy sets compiled from the archive.
    pub sets: u64,
    /// Every decision not derived again as recorded, in log order.
    pub differences: Vec<Difference>,
    /// A torn last line, as `audit verify` reports it.
    pub torn: Option<TornTail>,
}

/// Replays the log at `log` against the archive `sets`. `Err` is a log that does not verify
/// (replay stops at its first bad record and says nothing about the records before).
///
/// Decisions whose approvals the service verified (`approvals.verified`) are derived again
/// with `trust`, the same trust configuration, judged at the record's `time` as the service
/// judged them; without it such a record is reported as a difference that names the remedy.
pub fn replay(log: &Path, sets: &Path, trust: Option<&Trust>) -> Result<Replay, VerifyError> {
    let file = File::open(log).map_err(VerifyError::Io)?;
    let mut out = Replay::default();
    let mut engines: HashMap<String, Result<Engine, String>> = HashMap::new();
    let verified = audit::read_records(BufReader::new(file), |seq, record| {
        out.records += 1;
        match record.get("kind").and_then(Value::as_str) {
            Some("refusal") => out.refusals += 1,
            Some(_) => {
                out.decisions += 1;
                let engine = engines.entry(digest_of(&record)).or_insert_with_key(|d| {
                    let loaded = load_archived(sets, d);
                    if loaded.is_ok() {
                        out.sets += 1;
                    }
                    loaded
                });
                out.differences
                    .extend(derive_again(seq, &record, engine, trust));
            }
            None => out.unreplayable += 1,
        }
    })?;
    out.torn = verified.torn;
    Ok(out)
}

fn digest_of(record: &Value) -> String {
    record["policy_digest"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The differences between a decision record and its decision derived again.
fn derive_again(
    seq: u64,
    record: &Value,
    engine: &Result<Engine, String>,
    trust: Option<&Trust>,
) -> Vec<Difference> {
    let differ = |field: &str, detail: String| Difference {
        seq,
        field: field.to_string(),
        detail,
    };
    let mut found = Vec::new();
    let snapshot = &record["snapshot"];
    let recorded = &record["decision"];
    let bound = snapshot.get("requester").unwrap_or(&Value::Null);
    if record["requester"] != *bound {
        found.push(differ(
            "requester",
            format!(
                "the record names {}, the snapshot evaluated {}",
                short(&record["requester"]),
                short(bound)
            ),
        ));
    }
    if recorded.get("policy_digest") != Some(&record["policy_digest"]) {
        found.push(differ(
            "policy_digest",
            format!(
                "the record names {}, its decision {}",
                short(&record["policy_digest"]),
                short(recorded.get("policy_digest").unwrap_or(&Value::Null))
            ),
        ));
    }
    let engine = match engine {
        Ok(engine) => engine,
        Err(e) => {
            found.push(differ("policy_digest", e.clone()));
            return found;
        }
    };
    let verified = recorded["approvals"]["verified"] == Value::Bool(true);
    let decided = match trust {
        Some(trust) => {
            let time = record["time"].as_str().unwrap_or_default();
            let now = chrono::DateTime::parse_from_rfc3339(time).map_or(0, |t| t.timestamp());
            engine.decide_value_trusted(snapshot.clone(), trust, Some(now))
        }
        None if verified => {
            found.push(differ(
                "approvals.verified",
                "the service verified this decision's approvals against its trust configuration; \
                 replay it with `--trust FILE`, the file the service was given"
                    .into(),
            ));
            return found;
        }
        None => engine.decide_value(snapshot.clone()),
    };
    let derived = match decided {
        Ok(d) => d,
        Err(e) => {
            found.push(differ(
                "snapshot",
                format!("the recorded snapshot is refused by its set: {e}"),
            ));
            return found;
        }
    };
    // Through text and back, as the recorded decision came: numbers compare as written.
    let derived: Value = serde_json::to_string(&derived)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    if derived == *recorded {
        return found;
    }
    let (Some(a), Some(b)) = (recorded.as_object(), derived.as_object()) else {
        found.push(differ(
            "decision",
            "the recorded decision is not an object".into(),
        ));
        return found;
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (was, is) = (a.get(k), b.get(k));
        if was != is {
            found.push(differ(
                &format!("decision.{k}"),
                format!(
                    "recorded {}, derived {}",
                    was.map_or("nothing".into(), short),
                    is.map_or("nothing".into(), short)
                ),
            ));
        }
    }
    found
}

/// A value as JSON, cut to a length a line can show.
fn short(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{DecisionLog, Entry, Refusal};
    use serde_json::json;

    const SIGNAL: &str = "signal err: ratio = \"http.error_rate\"\n";
    const POLICY: &str = r#"signal err: ratio = "http.error_rate"
policy checkout {
  applies when deployment.service == "checkout"
  rollback spike when err > 2%
}
"#;

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("rollguard-replay-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn set(dir: &Path, threshold: &str) -> Recorded {
        let path = dir.join("p.rollguard");
        let files = [SetFile {
            name: "p.rollguard".into(),
            path,
            text: POLICY.replace("2%", threshold),
        }];
        compile_recording(&files).unwrap()
    }

    fn snapshot(rate: f64) -> Value {
        json!({
            "at": "2026-11-22T10:05:00Z",
            "deployment": {"service": "checkout", "environment": "production",
                           "rollback_target": {"healthy": true}},
            "signals": {"http.error_rate": {"value": rate, "observed_at": "2026-11-22T10:04:30Z"}},
            "requester": {"kind": "human", "id": "ana"},
        })
    }

    fn decide(log: &mut DecisionLog, engine: &Engine, rate: f64) {
        let snapshot = snapshot(rate);
        let d = engine.decide_value(snapshot.clone()).unwrap();
        log.append(&Entry {
            time: "2026-11-22T10:05:01Z".into(),
            requester: snapshot["requester"].clone(),
            via: json!("token"),
            policy_digest: d.policy_digest.clone(),
            snapshot_digest: audit::digest(snapshot.to_string().as_bytes()),
            snapshot,
            decision: serde_json::to_value(&d).unwrap(),
        })
        .unwrap();
    }

    #[test]
    fn archiving_is_idempotent_and_replay_finds_a_rechained_edit() {
        let dir = temp("rechain");
        let sets = sets_dir(&dir.join("d.log"));
        let (a, b) = (set(&dir, "2%"), set(&dir, "5%"));
        let at = archive(&sets, &a).unwrap();
        assert_eq!(
            archive(&sets, &a).unwrap(),
            at,
            "a second write changes nothing"
        );
        archive(&sets, &b).unwrap();
        assert_eq!(fs::read_dir(&sets).unwrap().count(), 2, "no temporary left");

        let log_path = dir.join("d.log");
        let mut log = DecisionLog::open(&log_path).unwrap();
        decide(&mut log, &a.engine, 0.03);
        log.append_refusal(&Refusal {
            time: "2026-11-22T10:05:02Z".into(),
            request: "POST /v1/decide".into(),
            status: 401,
            path: String::new(),
            message: "unknown token".into(),
            requester: Value::Null,
            via: Value::Null,
            claimed: json!({"kind": "human", "id": "mallory"}),
            body_digest: Some(audit::digest(b"{}")),
        })
        .unwrap();
        decide(&mut log, &b.engine, 0.03);
        drop(log);
        let r = replay(&log_path, &sets, None).unwrap();
        assert_eq!(
            (r.records, r.decisions, r.refusals, r.sets),
            (3, 2, 1, 2),
            "{r:?}"
        );
        assert!(r.differences.is_empty(), "{:?}", r.differences);

        // Record 1 said rollback; the forger makes it proceed and re-chains what follows.
        let text = fs::read_to_string(&log_path).unwrap();
        let mut prev = audit::GENESIS.to_string();
        let mut forged = String::new();
        for (i, line) in text.lines().enumerate() {
            let mut r: Value = serde_json::from_str(line).unwrap();
            if i == 0 {
                assert_eq!(r["decision"]["decision"], "rollback");
                r["decision"]["decision"] = json!("proceed");
            }
            r["prev"] = json!(prev);
            let line = r.to_string();
            prev = audit::digest(line.as_bytes());
            forged.push_str(&line);
            forged.push('\n');
        }
        fs::write(&log_path, forged).unwrap();
        audit::verify(&log_path, None).expect("a re-chained log verifies on its own");
        let r = replay(&log_path, &sets, None).unwrap();
        assert_eq!(r.differences.len(), 1, "{:?}", r.differences);
        assert_eq!(r.differences[0].seq, 1);
        assert_eq!(r.differences[0].field, "decision.decision");

        // An archive edited so it decides otherwise no longer has its digest.
        let archived = set_dir(&sets, a.engine.digest()).join("000-p.rollguard");
        fs::write(&archived, POLICY.replace("2%", "9%")).unwrap();
        let e = load_archived(&sets, a.engine.digest())
            .map(|_| ())
            .unwrap_err();
        assert!(e.contains("the archive was edited"), "{e}");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn files_named_by_use_are_archived_and_replayed_without_the_disk() {
        let dir = temp("use");
        fs::write(dir.join("shared.rollguard"), SIGNAL).unwrap();
        let files = [SetFile {
            name: "p.rollguard".into(),
            path: dir.join("p.rollguard"),
            text: format!("use \"shared.rollguard\"\n{}", POLICY.replace(SIGNAL, "")),
        }];
        let recorded = compile_recording(&files).unwrap();
        let sets = dir.join("sets");
        archive(&sets, &recorded).unwrap();
        fs::remove_file(dir.join("shared.rollguard")).unwrap();
        let engine = load_archived(&sets, recorded.engine.digest()).unwrap();
        assert_eq!(engine.digest(), recorded.engine.digest());
        let e = load_archived(&sets, &audit::digest(b"other"))
            .map(|_| ())
            .unwrap_err();
        assert!(e.contains("is not in the archive"), "{e}");
        let _ = fs::remove_dir_all(dir);
    }
}
