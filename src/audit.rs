//! The decision log: an append-only, tamper-evident record of every decision.
//!
//! The log is a file of JSON lines, one record per line, each line ending in `\n`. A record is
//! one JSON object whose fields are written in a fixed order. Since format 2 every record says
//! what it is in `kind`:
//!
//! - `"decision"`: a decision given, with everything needed to derive it again: `seq`, `kind`,
//!   `time`, `requester` (the principal the snapshot was bound to, or `null`), `via` (how that
//!   principal was authenticated, `null` without authentication), `policy_digest`,
//!   `snapshot_digest` (of the body as received), `snapshot` (the snapshot exactly as it was
//!   evaluated, after the requester was bound), `decision`, `prev`;
//! - `"refusal"`: a request answered with an error instead of a decision: `seq`, `kind`, `time`,
//!   `request` (`METHOD PATH`), `status`, `reason` (`{"path", "message"}`, the error answered),
//!   `requester`, `via`, `claimed` (the identity the request claimed, never a credential),
//!   `body_digest` (of the body, `null` when none was read), `prev`.
//!
//! Records of format 1 (written before `kind` existed: `seq`, `time`, `requester`,
//! `policy_digest`, `snapshot_digest`, `decision`, `prev`) still verify, so an old log can be
//! continued; they carry no snapshot and cannot be replayed.
//!
//! `time` is RFC 3339 in UTC, as the caller gives it (no clock is read here); digests are
//! `sha256:<hex>`; `prev` is the hash of the previous record's line, [`GENESIS`] for the first.
//!
//! A record's hash is the SHA-256 of its line's bytes exactly as written (without the `\n`);
//! nothing is re-serialized to check it. The first record's `prev` is [`GENESIS`], the hash of
//! the empty string, which is also the head of an empty log. The head of the log ([`Head`]) is
//! the number of records and the hash of the last one.
//!
//! Editing a record changes its hash, so the next record's `prev` no longer matches; removing or
//! reordering records breaks the run of `seq` (or, if `seq` was rewritten too, the `prev`
//! links). Records cut from the end leave a valid chain, which only a head kept elsewhere (the
//! service serves it) can catch: [`verify`] takes that head.
//!
//! A record counts only once its `\n` is on disk. [`DecisionLog::append`] writes a whole line,
//! `\n` included, with one write and then syncs the data before it returns. A crash in the middle
//! leaves at most a torn last line without `\n`: [`verify`] accepts such a log up to the last whole
//! record and reports the torn tail ([`Verified::torn`]); [`DecisionLog::open`] cuts the torn
//! tail off ([`DecisionLog::recovered`]) so the chain goes on from the last whole record.
//!
//! A failed append (disk full, file system turned read-only, failed sync) returns the error and
//! does not advance the head; the caller must not act on a decision it could not record. The
//! partial line is cut off at once or, if that fails too, before the next append. If the machine
//! stops while the cut is not yet on disk, the log may hold a whole record for a decision that was
//! refused; it never lacks a record for a decision that was given.
//!
//! One [`DecisionLog`] should own a file; threads share it behind a `Mutex`.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `prev` of the first record and the head of an empty log: the SHA-256 of the empty string.
pub const GENESIS: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The fields of a format 1 record (no `kind`), in the order they were written.
const FIELDS_V1: &[&str] = &[
    "seq",
    "time",
    "requester",
    "policy_digest",
    "snapshot_digest",
    "decision",
    "prev",
];

/// The fields of a decision record, in the order they are written.
const DECISION_FIELDS: &[&str] = &[
    "seq",
    "kind",
    "time",
    "requester",
    "via",
    "policy_digest",
    "snapshot_digest",
    "snapshot",
    "decision",
    "prev",
];

/// The fields of a refusal record, in the order they are written.
const REFUSAL_FIELDS: &[&str] = &[
    "seq",
    "kind",
    "time",
    "request",
    "status",
    "reason",
    "requester",
    "via",
    "claimed",
    "body_digest",
    "prev",
];

/// `sha256:<hex>` of some bytes: the form of every digest in the log.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// The end of the chain: how many records, and the hash of the last one ([`GENESIS`] if none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub count: u64,
    pub last: String,
}

impl Head {
    /// The head of an empty log.
    pub fn genesis() -> Head {
        Head {
            count: 0,
            last: GENESIS.to_string(),
        }
    }
}

/// What the caller records for one decision; [`DecisionLog::append`] adds `seq` and `prev`.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// RFC 3339 in UTC (`Z` or `+00:00`).
    pub time: String,
    /// An object naming who asked, or `null`.
    pub requester: Value,
    /// How the requester was authenticated (`"token"`, `"jwt https://issuer"` ...), or `null`
    /// when the service authenticates no one and the requester is only claimed.
    pub via: Value,
    pub policy_digest: String,
    /// [`digest`] of the snapshot bytes as received.
    pub snapshot_digest: String,
    /// The snapshot exactly as it was evaluated (the requester bound), so the decision can be
    /// derived again from it and the archived policy set.
    pub snapshot: Value,
    /// The whole decision object, as `serde_json::to_value(&decision)` gives it.
    pub decision: Value,
}

/// What the caller records for a request it refused; [`DecisionLog::append_refusal`] adds
/// `seq` and `prev`.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    /// RFC 3339 in UTC (`Z` or `+00:00`).
    pub time: String,
    /// `METHOD PATH`, the path without its query.
    pub request: String,
    /// The HTTP status answered, 400 to 599.
    pub status: u16,
    /// The JSON path at fault, as the error answered names it (empty for the whole request).
    pub path: String,
    /// Why, as the error answered says it.
    pub message: String,
    /// The authenticated principal, or `null` (not authenticated, or no authentication).
    pub requester: Value,
    /// How `requester` was authenticated, or `null`.
    pub via: Value,
    /// The identity the request claimed without proof (the snapshot's requester), or `null`.
    /// Never a token or any other credential.
    pub claimed: Value,
    /// [`digest`] of the body, when the body was read.
    pub body_digest: Option<String>,
}

/// A last line without its `\n`: a record whose write was interrupted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The line it starts on, 1-based.
    pub line: u64,
    /// How many bytes of it there are.
    pub bytes: u64,
}

impl fmt::Display for TornTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {} is a torn final record ({} bytes without a newline) from an interrupted write",
            self.line, self.bytes
        )
    }
}

/// A log that verified: its head, and the torn tail after the last whole record, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub head: Head,
    /// A warning, not an error: a crash during a write leaves this behind.
    pub torn: Option<TornTail>,
}

/// Why a line is not the record it should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The line does not parse as JSON.
    NotJson(String),
    /// The line is JSON but not a record: a field is missing, unknown or of the wrong kind.
    Malformed(String),
    /// `seq` is not the line number: a record before it was removed, or records were reordered.
    Seq { expected: u64, found: u64 },
    /// `prev` is not the hash of the line before: that line was edited, or records were removed
    /// or reordered and renumbered.
    Prev { expected: String, found: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotJson(e) => write!(f, "not JSON: {e}"),
            Problem::Malformed(e) => write!(f, "not a record of the log: {e}"),
            Problem::Seq { expected, found } => write!(
                f,
                "`seq` is {found} where {expected} was expected: a record before it was removed, \
                 or records were reordered"
            ),
            Problem::Prev { .. } => write!(
                f,
                "`prev` is not the hash of the record before: that record was edited, or records \
                 were removed or reordered"
            ),
        }
    }
}

/// Why a log does not verify.
#[derive(Debug)]
pub enum VerifyError {
    /// The file could not be read.
    Io(io::Error),
    /// The first bad line (1-based) and what is wrong with it.
    Record { line: u64, problem: Problem },
    /// Every record is sound, but the log does not end at the head given.
    Head {
        /// The head given.
        expected: String,
        /// Where the log ends.
        found: Head,
        /// The line whose hash is the head given, if one is.
        seen_at: Option<u64>,
    },
}

impl VerifyError {
    /// The first bad line, 1-based; for a head that does not match, the line after the last
    /// record, where the missing records would be.
    pub fn line(&self) -> Option<u64> {
        match self {
            VerifyError::Io(_) => None,
            VerifyError::Record { line, .. } => Some(*line),
            VerifyError::Head { found, .. } => Some(found.count + 1),
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Io(e) => write!(f, "cannot read the log: {e}"),
            VerifyError::Record {
                line,
                problem: Problem::Prev { .. },
            } if *line == 1 => write!(
                f,
                "line 1: `prev` is not the genesis value: records were removed from the start of \
                 the log, or line 1 was edited"
            ),
            VerifyError::Record {
                line,
                problem: Problem::Prev { .. },
            } => write!(
                f,
                "line {line}: `prev` is not the hash of line {}: line {} was edited, or records \
                 were removed or reordered",
                line - 1,
                line - 1
            ),
            VerifyError::Record { line, problem } => write!(f, "line {line}: {problem}"),
            VerifyError::Head {
                expected,
                found,
                seen_at: Some(at),
            } => write!(
                f,
                "the head given ({expected}) is the hash of line {at}, but the log goes on to \
                 line {}: records were appended after that head was taken",
                found.count
            ),
            VerifyError::Head {
                expected, found, ..
            } => write!(
                f,
                "the log ends at record {} ({}), not at the head given ({expected}): records were \
                 cut from the end, or this is another log",
                found.count, found.last
            ),
        }
    }
}

impl std::error::Error for VerifyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            VerifyError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Why the log could not be opened or a record not appended.
#[derive(Debug)]
pub enum AuditError {
    /// Reading, writing or syncing the file failed; nothing was recorded.
    Io(io::Error),
    /// The existing log does not verify; nothing is appended to a broken chain.
    Corrupt(VerifyError),
    /// The entry would not make a valid record (for example, `time` is not RFC 3339 UTC).
    InvalidEntry(Problem),
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditError::Io(e) => write!(f, "decision log: {e}"),
            AuditError::Corrupt(e) => write!(f, "the decision log does not verify: {e}"),
            AuditError::InvalidEntry(p) => write!(f, "cannot record this decision: {p}"),
        }
    }
}

impl std::error::Error for AuditError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AuditError::Io(e) => Some(e),
            AuditError::Corrupt(e) => Some(e),
            AuditError::InvalidEntry(_) => None,
        }
    }
}

impl From<io::Error> for AuditError {
    fn from(e: io::Error) -> AuditError {
        AuditError::Io(e)
    }
}

/// The writes the log makes, behind a trait so tests can make them fail.
trait LogFile: Send {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
    fn sync_data(&mut self) -> io::Result<()>;
    fn set_len(&mut self, len: u64) -> io::Result<()>;
}

impl LogFile for File {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        Write::write_all(self, bytes)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
}

/// An open decision log, ready to append to.
pub struct DecisionLog {
    path: PathBuf,
    file: Box<dyn LogFile>,
    /// The length of the whole records: where the next one starts.
    len: u64,
    head: Head,
    /// A failed append may have left bytes after `len` that could not be cut off yet.
    dirty: bool,
    recovered: Option<TornTail>,
}

impl fmt::Debug for DecisionLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecisionLog")
            .field("path", &self.path)
            .field("len", &self.len)
            .field("head", &self.head)
            .field("dirty", &self.dirty)
            .field("recovered", &self.recovered)
            .finish()
    }
}

impl DecisionLog {
    /// Opens the log at `path`, creating it if absent. An existing log is verified to recover its
    /// head; a torn last line is cut off (see [`DecisionLog::recovered`]); a log that does not
    /// verify is refused.
    pub fn open(path: impl AsRef<Path>) -> Result<DecisionLog, AuditError> {
        DecisionLog::open_with(path.as_ref(), |f| Box::new(f))
    }

    fn open_with(
        path: &Path,
        wrap: impl FnOnce(File) -> Box<dyn LogFile>,
    ) -> Result<DecisionLog, AuditError> {
        let mut options = OpenOptions::new();
        options.read(true).append(true);
        let file = match options.clone().create_new(true).open(path) {
            Ok(file) => {
                sync_dir(path)?;
                file
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => options.open(path)?,
            Err(e) => return Err(e.into()),
        };
        let scan = match scan(BufReader::new(&file), &mut |_, _| {}) {
            Ok(scan) => scan,
            Err(VerifyError::Io(e)) => return Err(AuditError::Io(e)),
            Err(e) => return Err(AuditError::Corrupt(e)),
        };
        if scan.torn.is_some() {
            file.set_len(scan.len)?;
            file.sync_data()?;
        }
        Ok(DecisionLog {
            path: path.to_path_buf(),
            file: wrap(file),
            len: scan.len,
            head: scan.head,
            dirty: false,
            recovered: scan.torn,
        })
    }

    /// Appends one decision record and returns the new head once it is on disk. On error
    /// nothing is recorded and the head stays where it was.
    pub fn append(&mut self, entry: &Entry) -> Result<Head, AuditError> {
        self.append_line(|seq, prev| {
            serde_json::to_vec(&DecisionRecord {
                seq,
                kind: "decision",
                time: &entry.time,
                requester: &entry.requester,
                via: &entry.via,
                policy_digest: &entry.policy_digest,
                snapshot_digest: &entry.snapshot_digest,
                snapshot: &entry.snapshot,
                decision: &entry.decision,
                prev,
            })
        })
    }

    /// Appends one refusal record, as [`DecisionLog::append`] does a decision.
    pub fn append_refusal(&mut self, refusal: &Refusal) -> Result<Head, AuditError> {
        self.append_line(|seq, prev| {
            serde_json::to_vec(&RefusalRecord {
                seq,
                kind: "refusal",
                time: &refusal.time,
                request: &refusal.request,
                status: refusal.status,
                reason: Reason {
                    path: &refusal.path,
                    message: &refusal.message,
                },
                requester: &refusal.requester,
                via: &refusal.via,
                claimed: &refusal.claimed,
                body_digest: refusal.body_digest.as_deref(),
                prev,
            })
        })
    }

    /// Writes the line `make` gives for the next `seq` and `prev`.
    fn append_line(
        &mut self,
        make: impl FnOnce(u64, &str) -> serde_json::Result<Vec<u8>>,
    ) -> Result<Head, AuditError> {
        let seq = self.head.count + 1;
        let mut line = make(seq, &self.head.last)
            .map_err(|e| AuditError::InvalidEntry(Problem::Malformed(e.to_string())))?;
        // The same check `verify` makes: the log never holds a record it would refuse.
        check_record(&line, seq, &self.head.last).map_err(AuditError::InvalidEntry)?;
        let hash = digest(&line);
        line.push(b'\n');

        if self.dirty {
            self.file.set_len(self.len)?;
            self.file.sync_data()?;
            self.dirty = false;
        }
        let written = self
            .file
            .write_all(&line)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Cut off whatever part of the line reached the file; if that fails too, try again
            // before the next append.
            let cut = self
                .file
                .set_len(self.len)
                .and_then(|()| self.file.sync_data());
            self.dirty = cut.is_err();
            return Err(AuditError::Io(e));
        }
        self.len += line.len() as u64;
        self.head = Head {
            count: seq,
            last: hash,
        };
        Ok(self.head.clone())
    }

    /// The head: the number of records and the hash of the last.
    pub fn head(&self) -> Head {
        self.head.clone()
    }

    /// The torn last line [`DecisionLog::open`] found and cut off, if it found one.
    pub fn recovered(&self) -> Option<&TornTail> {
        self.recovered.as_ref()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A decision record as written: the fields in their fixed order.
#[derive(Serialize)]
struct DecisionRecord<'a> {
    seq: u64,
    kind: &'static str,
    time: &'a str,
    requester: &'a Value,
    via: &'a Value,
    policy_digest: &'a str,
    snapshot_digest: &'a str,
    snapshot: &'a Value,
    decision: &'a Value,
    prev: &'a str,
}

/// A refusal record as written: the fields in their fixed order.
#[derive(Serialize)]
struct RefusalRecord<'a> {
    seq: u64,
    kind: &'static str,
    time: &'a str,
    request: &'a str,
    status: u16,
    reason: Reason<'a>,
    requester: &'a Value,
    via: &'a Value,
    claimed: &'a Value,
    body_digest: Option<&'a str>,
    prev: &'a str,
}

#[derive(Serialize)]
struct Reason<'a> {
    path: &'a str,
    message: &'a str,
}

/// Makes a new file's directory entry durable.
fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Verifies the log at `path`: every record sound and linked to the one before, and, with
/// `expected_head`, the last record's hash equal to it. A torn last line is accepted and reported.
pub fn verify(
    path: impl AsRef<Path>,
    expected_head: Option<&str>,
) -> Result<Verified, VerifyError> {
    let file = File::open(path).map_err(VerifyError::Io)?;
    verify_reader(BufReader::new(file), expected_head)
}

/// [`verify`] for a log read from anywhere.
pub fn verify_reader(
    reader: impl BufRead,
    expected_head: Option<&str>,
) -> Result<Verified, VerifyError> {
    let scan = scan(reader, &mut |_, _| {})?;
    if let Some(expected) = expected_head {
        if expected != scan.head.last {
            let seen_at = scan.hashes.iter().position(|h| h == expected);
            return Err(VerifyError::Head {
                expected: expected.to_string(),
                found: scan.head,
                seen_at: seen_at.map(|i| i as u64 + 1),
            });
        }
    }
    Ok(Verified {
        head: scan.head,
        torn: scan.torn,
    })
}

/// Verifies the log as [`verify`] does (without a head) and hands each sound record, in
/// order, to `visit` with its `seq`; reading stops at the first record that is not sound.
pub fn read_records(
    reader: impl BufRead,
    mut visit: impl FnMut(u64, Value),
) -> Result<Verified, VerifyError> {
    let scan = scan(reader, &mut visit)?;
    Ok(Verified {
        head: scan.head,
        torn: scan.torn,
    })
}

struct Scan {
    head: Head,
    /// The length of the whole records.
    len: u64,
    torn: Option<TornTail>,
    /// Every record's hash, in order.
    hashes: Vec<String>,
}

/// Reads the log line by line, checking each record against the one before.
fn scan(mut reader: impl BufRead, visit: &mut dyn FnMut(u64, Value)) -> Result<Scan, VerifyError> {
    let mut head = Head::genesis();
    let mut len = 0u64;
    let mut hashes = Vec::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(VerifyError::Io)?;
        if n == 0 {
            break;
        }
        let line = head.count + 1;
        let Some(bytes) = buf.strip_suffix(b"\n") else {
            // `read_until` stops without the newline only at the end of the file.
            return Ok(Scan {
                head,
                len,
                torn: Some(TornTail {
                    line,
                    bytes: n as u64,
                }),
                hashes,
            });
        };
        let record = check_record(bytes, line, &head.last)
            .map_err(|problem| VerifyError::Record { line, problem })?;
        let hash = digest(bytes);
        hashes.push(hash.clone());
        head = Head {
            count: line,
            last: hash,
        };
        len += n as u64;
        visit(line, record);
    }
    Ok(Scan {
        head,
        len,
        torn: None,
        hashes,
    })
}

/// Checks that `line` is record number `seq` and that it follows the record whose hash is
/// `prev`; returns the record.
fn check_record(line: &[u8], seq: u64, prev: &str) -> Result<Value, Problem> {
    let value: Value = serde_json::from_slice(line).map_err(|e| Problem::NotJson(e.to_string()))?;
    let Value::Object(record) = &value else {
        return Err(Problem::Malformed("the line is not a JSON object".into()));
    };
    let malformed = |what: String| Err(Problem::Malformed(what));
    let fields = match record.get("kind") {
        None => FIELDS_V1,
        Some(k) if k == "decision" => DECISION_FIELDS,
        Some(k) if k == "refusal" => REFUSAL_FIELDS,
        Some(k) => {
            return malformed(format!(
                "`kind` is {k}, neither \"decision\" nor \"refusal\""
            ))
        }
    };
    if let Some(k) = record.keys().find(|k| !fields.contains(&k.as_str())) {
        return malformed(format!("unknown field `{k}`"));
    }
    if let Some(k) = fields.iter().find(|k| !record.contains_key(**k)) {
        return malformed(format!("no `{k}`"));
    }
    let Some(found_seq) = record["seq"].as_u64() else {
        return malformed("`seq` is not a whole number".into());
    };
    let time = record["time"].as_str().and_then(|t| {
        chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .filter(|t| t.offset().local_minus_utc() == 0)
    });
    if time.is_none() {
        return malformed("`time` is not an RFC 3339 time in UTC".into());
    }
    if !matches!(record["requester"], Value::Object(_) | Value::Null) {
        return malformed("`requester` is neither an object nor null".into());
    }
    if record.contains_key("via") && !matches!(record["via"], Value::String(_) | Value::Null) {
        return malformed("`via` is neither a string nor null".into());
    }
    let mut digests = vec!["prev"];
    if fields == REFUSAL_FIELDS {
        if !record["request"].is_string() {
            return malformed("`request` is not a string".into());
        }
        if !record["status"]
            .as_u64()
            .is_some_and(|s| (400..=599).contains(&s))
        {
            return malformed("`status` is not an HTTP error status (400 to 599)".into());
        }
        let reason = &record["reason"];
        let sound = reason.as_object().is_some_and(|r| {
            r.len() == 2
                && r.get("path").is_some_and(Value::is_string)
                && r.get("message").is_some_and(Value::is_string)
        });
        if !sound {
            return malformed("`reason` is not an object with a `path` and a `message`".into());
        }
        if !matches!(record["claimed"], Value::Object(_) | Value::Null) {
            return malformed("`claimed` is neither an object nor null".into());
        }
        if !(record["body_digest"].is_null()
            || record["body_digest"].as_str().is_some_and(is_digest))
        {
            return malformed("`body_digest` is neither a `sha256:<hex>` digest nor null".into());
        }
    } else {
        digests.extend(["policy_digest", "snapshot_digest"]);
        if !record["decision"].is_object() {
            return malformed("`decision` is not an object".into());
        }
        if record.contains_key("snapshot") && !record["snapshot"].is_object() {
            return malformed("`snapshot` is not an object".into());
        }
    }
    for k in digests {
        if !record[k].as_str().is_some_and(is_digest) {
            return malformed(format!("`{k}` is not a `sha256:<hex>` digest"));
        }
    }
    if found_seq != seq {
        return Err(Problem::Seq {
            expected: seq,
            found: found_seq,
        });
    }
    let found_prev = record["prev"].as_str().unwrap_or_default();
    if found_prev != prev {
        return Err(Problem::Prev {
            expected: prev.to_string(),
            found: found_prev.to_string(),
        });
    }
    Ok(value)
}

fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// A file under the temp directory, removed when dropped.
    struct Temp(PathBuf);

    impl Temp {
        fn new(name: &str) -> Temp {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "rollguard-audit-{}-{n}-{name}.jsonl",
                std::process::id()
            ));
            let _ = std::fs::remove_file(&path);
            Temp(path)
        }

        fn read(&self) -> Vec<u8> {
            std::fs::read(&self.0).unwrap()
        }

        fn write(&self, bytes: &[u8]) {
            std::fs::write(&self.0, bytes).unwrap()
        }

        fn lines(&self) -> Vec<Vec<u8>> {
            self.read()
                .split_inclusive(|b| *b == b'\n')
                .map(<[u8]>::to_vec)
                .collect()
        }
    }

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn entry(i: u64) -> Entry {
        Entry {
            time: format!("2026-05-01T12:{:02}:{:02}Z", i / 60 % 60, i % 60),
            requester: if i.is_multiple_of(3) {
                Value::Null
            } else {
                json!({"kind": "user", "id": format!("dev{i}")})
            },
            via: if i.is_multiple_of(3) {
                Value::Null
            } else {
                json!("token")
            },
            policy_digest: digest(b"policy"),
            snapshot_digest: digest(format!("snapshot {i}").as_bytes()),
            snapshot: json!({"at": "2026-05-01T12:00:00Z", "n": i}),
            decision: json!({
                "decision": if i.is_multiple_of(2) { "proceed" } else { "rollback" },
                "policies": ["canary"],
                "fired": [{"rule": "errors", "values": {"error_rate": i}}],
            }),
        }
    }

    /// A log of `n` records; returns the head after each append.
    fn write_log(t: &Temp, n: u64) -> Vec<Head> {
        let mut log = DecisionLog::open(&t.0).unwrap();
        (1..=n).map(|i| log.append(&entry(i)).unwrap()).collect()
    }

    fn bad_line(r: Result<Verified, VerifyError>) -> (u64, Problem) {
        match r {
            Err(VerifyError::Record { line, problem }) => (line, problem),
            other => panic!("expected a bad record, got {other:?}"),
        }
    }

    #[test]
    fn genesis_is_the_hash_of_nothing() {
        assert_eq!(digest(b""), GENESIS);
    }

    #[test]
    fn an_intact_log_verifies_with_its_head() {
        let t = Temp::new("intact");
        let heads = write_log(&t, 5);
        let lines = t.lines();
        assert_eq!(lines.len(), 5);
        let last = &lines[4];
        let want = Head {
            count: 5,
            last: digest(&last[..last.len() - 1]),
        };
        assert_eq!(heads[4], want);
        let v = verify(&t.0, None).unwrap();
        assert_eq!(
            v,
            Verified {
                head: want.clone(),
                torn: None
            }
        );
        assert_eq!(verify(&t.0, Some(&want.last)).unwrap().head, want);

        // The record's fields, in order, and its links.
        let first = std::str::from_utf8(&lines[0]).unwrap();
        assert!(first.starts_with(
            "{\"seq\":1,\"kind\":\"decision\",\"time\":\"2026-05-01T12:00:01Z\",\"requester\":"
        ));
        let positions: Vec<usize> = DECISION_FIELDS
            .iter()
            .map(|k| first.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{first}");
        let second: Value = serde_json::from_slice(&lines[1]).unwrap();
        assert_eq!(second["prev"], json!(heads[0].last));
        let first: Value = serde_json::from_str(first).unwrap();
        assert_eq!(first["prev"], json!(GENESIS));
    }

    fn refusal(i: u64) -> Refusal {
        Refusal {
            time: format!("2026-05-01T13:00:{:02}Z", i % 60),
            request: "POST /v1/decide".into(),
            status: 403,
            path: "requester".into(),
            message: "the snapshot's requester is not the principal of the bearer token".into(),
            requester: json!({"kind": "service_account", "id": "ci"}),
            via: json!("token"),
            claimed: json!({"kind": "human", "id": "ana"}),
            body_digest: Some(digest(b"{}")),
        }
    }

    #[test]
    fn refusals_are_records_of_the_chain() {
        let t = Temp::new("refusals");
        let mut log = DecisionLog::open(&t.0).unwrap();
        log.append(&entry(1)).unwrap();
        log.append_refusal(&refusal(2)).unwrap();
        let mut no_body = refusal(3);
        (no_body.status, no_body.body_digest, no_body.claimed) = (413, None, Value::Null);
        let head = log.append_refusal(&no_body).unwrap();
        let lines = t.lines();
        let second = std::str::from_utf8(&lines[1]).unwrap();
        let positions: Vec<usize> = REFUSAL_FIELDS
            .iter()
            .map(|k| second.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{second}");
        let second: Value = serde_json::from_str(second).unwrap();
        assert_eq!(second["kind"], "refusal");
        assert_eq!(second["reason"]["path"], "requester");
        assert_eq!(second["claimed"]["id"], "ana");
        assert_eq!(verify(&t.0, Some(&head.last)).unwrap().head, head);

        // A refusal the log would not verify is not written.
        let mut bad = refusal(4);
        bad.status = 200;
        assert!(matches!(
            log.append_refusal(&bad),
            Err(AuditError::InvalidEntry(_))
        ));
        let mut bad = refusal(4);
        bad.claimed = json!("ana");
        assert!(matches!(
            log.append_refusal(&bad),
            Err(AuditError::InvalidEntry(_))
        ));
        assert_eq!(log.head(), head);
    }

    /// A log written before records had a `kind` still verifies, and can be continued.
    #[test]
    fn format_1_records_still_verify() {
        let t = Temp::new("format-1");
        let mut text = String::new();
        let mut prev = GENESIS.to_string();
        for seq in 1..=2 {
            let line = json!({
                "seq": seq, "time": "2026-05-01T12:00:00Z", "requester": null,
                "policy_digest": digest(b"p"), "snapshot_digest": digest(b"s"),
                "decision": {"decision": "proceed"}, "prev": prev,
            })
            .to_string();
            prev = digest(line.as_bytes());
            text.push_str(&line);
            text.push('\n');
        }
        t.write(text.as_bytes());
        assert_eq!(verify(&t.0, Some(&prev)).unwrap().head.count, 2);
        let mut log = DecisionLog::open(&t.0).unwrap();
        let head = log.append(&entry(3)).unwrap();
        assert_eq!(verify(&t.0, Some(&head.last)).unwrap().head.count, 3);

        let unknown = text.replacen("\"seq\":1,", "\"seq\":1,\"kind\":\"note\",", 1);
        t.write(unknown.as_bytes());
        let err = verify(&t.0, None).unwrap_err();
        assert!(
            err.to_string()
                .contains("neither \"decision\" nor \"refusal\""),
            "{err}"
        );
    }

    #[test]
    fn an_empty_log_verifies_with_count_zero() {
        let t = Temp::new("empty");
        let log = DecisionLog::open(&t.0).unwrap();
        assert_eq!(log.head(), Head::genesis());
        assert!(log.recovered().is_none());
        assert_eq!(t.read(), b"");
        let v = verify(&t.0, None).unwrap();
        assert_eq!(v.head, Head::genesis());
        assert_eq!(verify(&t.0, Some(GENESIS)).unwrap().head.count, 0);
    }

    /// An edit inside record 3 leaves record 3 well-formed, with the right `seq` and `prev`:
    /// only its hash changes, and that is first checked by record 4's `prev`. So line 4 is the
    /// first line that shows a problem, and the message names line 3 as the likely edit.
    #[test]
    fn an_edited_record_is_caught_by_the_next_ones_prev() {
        let t = Temp::new("edited");
        write_log(&t, 5);
        let mut lines = t.lines();
        let text = String::from_utf8(lines[2].clone()).unwrap();
        assert!(text.contains("\"rollback\""));
        lines[2] = text
            .replacen("\"rollback\"", "\"rollbacK\"", 1)
            .into_bytes();
        t.write(&lines.concat());
        let err = verify(&t.0, None).unwrap_err();
        assert!(matches!(
            err,
            VerifyError::Record {
                line: 4,
                problem: Problem::Prev { .. }
            }
        ));
        assert_eq!(err.line(), Some(4));
        let message = err.to_string();
        assert!(message.starts_with("line 4:"), "{message}");
        assert!(message.contains("line 3 was edited"), "{message}");
    }

    #[test]
    fn an_edited_last_record_is_caught_by_the_head() {
        let t = Temp::new("edited-last");
        let heads = write_log(&t, 5);
        let mut lines = t.lines();
        lines[4] = String::from_utf8(lines[4].clone())
            .unwrap()
            .replacen("dev5", "dev6", 1)
            .into_bytes();
        t.write(&lines.concat());
        assert!(verify(&t.0, None).is_ok());
        let err = verify(&t.0, Some(&heads[4].last)).unwrap_err();
        assert!(
            matches!(err, VerifyError::Head { seen_at: None, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_removed_record_is_caught() {
        let t = Temp::new("removed");
        write_log(&t, 5);
        let mut lines = t.lines();
        lines.remove(2);
        t.write(&lines.concat());
        let (line, problem) = bad_line(verify(&t.0, None));
        assert_eq!(line, 3);
        assert_eq!(
            problem,
            Problem::Seq {
                expected: 3,
                found: 4
            }
        );
    }

    #[test]
    fn a_removed_first_record_is_caught() {
        let t = Temp::new("removed-first");
        write_log(&t, 3);
        let mut lines = t.lines();
        lines.remove(0);
        t.write(&lines.concat());
        let (line, problem) = bad_line(verify(&t.0, None));
        assert_eq!(
            (line, problem),
            (
                1,
                Problem::Seq {
                    expected: 1,
                    found: 2
                }
            )
        );
    }

    /// Removing a record and renumbering the rest still breaks the `prev` links.
    #[test]
    fn a_removed_and_renumbered_record_is_caught() {
        let t = Temp::new("renumbered");
        write_log(&t, 4);
        let mut lines = t.lines();
        lines.remove(1);
        for (i, l) in lines.iter_mut().enumerate().skip(1) {
            let text = String::from_utf8(l.clone()).unwrap();
            *l = text
                .replacen(
                    &format!("{{\"seq\":{}", i + 2),
                    &format!("{{\"seq\":{}", i + 1),
                    1,
                )
                .into_bytes();
        }
        t.write(&lines.concat());
        let err = verify(&t.0, None).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::Record {
                    line: 2,
                    problem: Problem::Prev { .. }
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn swapped_records_are_caught() {
        let t = Temp::new("swapped");
        write_log(&t, 5);
        let mut lines = t.lines();
        lines.swap(1, 2);
        t.write(&lines.concat());
        let (line, problem) = bad_line(verify(&t.0, None));
        assert_eq!(
            (line, problem),
            (
                2,
                Problem::Seq {
                    expected: 2,
                    found: 3
                }
            )
        );
        let err = verify(&t.0, None).unwrap_err().to_string();
        assert!(err.contains("reordered"), "{err}");
    }

    #[test]
    fn records_cut_from_the_end_are_caught_only_by_the_head() {
        let t = Temp::new("cut");
        let heads = write_log(&t, 5);
        let lines = t.lines();
        t.write(&lines[..4].concat());
        let v = verify(&t.0, None).unwrap();
        assert_eq!(v.head, heads[3]);
        assert!(v.torn.is_none());
        let err = verify(&t.0, Some(&heads[4].last)).unwrap_err();
        match &err {
            VerifyError::Head {
                expected,
                found,
                seen_at,
            } => {
                assert_eq!(expected, &heads[4].last);
                assert_eq!(found, &heads[3]);
                assert_eq!(*seen_at, None);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(err.line(), Some(5));
        assert!(err.to_string().contains("cut from the end"), "{err}");
    }

    #[test]
    fn an_older_head_is_named_as_such() {
        let t = Temp::new("older-head");
        let heads = write_log(&t, 5);
        let err = verify(&t.0, Some(&heads[2].last)).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::Head {
                    seen_at: Some(3),
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("appended after"), "{err}");
    }

    #[test]
    fn a_torn_last_line_is_accepted_and_reported() {
        let t = Temp::new("torn");
        let heads = write_log(&t, 5);
        let lines = t.lines();
        let half = &lines[4][..lines[4].len() / 2];
        t.write(&[lines[..4].concat(), half.to_vec()].concat());
        let v = verify(&t.0, None).unwrap();
        assert_eq!(v.head, heads[3]);
        assert_eq!(
            v.torn,
            Some(TornTail {
                line: 5,
                bytes: half.len() as u64
            })
        );
        assert!(v.torn.unwrap().to_string().contains("torn final record"));
        // The head of the last whole record still checks out.
        assert!(verify(&t.0, Some(&heads[3].last)).is_ok());

        // A whole record missing only its newline is still torn: a record counts once its
        // newline is written.
        let whole = &lines[4][..lines[4].len() - 1];
        t.write(&[lines[..4].concat(), whole.to_vec()].concat());
        let v = verify(&t.0, None).unwrap();
        assert_eq!(v.head, heads[3]);
        assert_eq!(v.torn.map(|t| t.line), Some(5));
    }

    #[test]
    fn open_cuts_a_torn_tail_and_continues_the_chain() {
        let t = Temp::new("torn-open");
        let heads = write_log(&t, 3);
        let good = t.read();
        let torn = b"{\"seq\":4,\"time\":\"2026-05";
        t.write(&[good.clone(), torn.to_vec()].concat());
        let mut log = DecisionLog::open(&t.0).unwrap();
        assert_eq!(
            log.recovered(),
            Some(&TornTail {
                line: 4,
                bytes: torn.len() as u64
            })
        );
        assert_eq!(log.head(), heads[2]);
        assert_eq!(t.read(), good);
        let head = log.append(&entry(4)).unwrap();
        assert_eq!(head.count, 4);
        drop(log);
        let v = verify(&t.0, Some(&head.last)).unwrap();
        assert_eq!(v, Verified { head, torn: None });
    }

    #[test]
    fn reopening_continues_the_chain() {
        let t = Temp::new("reopen");
        write_log(&t, 2);
        let mut log = DecisionLog::open(&t.0).unwrap();
        assert_eq!(log.head().count, 2);
        assert!(log.recovered().is_none());
        let head = log.append(&entry(3)).unwrap();
        drop(log);
        assert_eq!(verify(&t.0, Some(&head.last)).unwrap().head.count, 3);
    }

    #[test]
    fn open_refuses_a_broken_log() {
        let t = Temp::new("broken-open");
        write_log(&t, 3);
        let mut lines = t.lines();
        lines.swap(0, 2);
        t.write(&lines.concat());
        let err = DecisionLog::open(&t.0).unwrap_err();
        assert!(
            matches!(
                err,
                AuditError::Corrupt(VerifyError::Record { line: 1, .. })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn lines_that_are_not_records_are_named() {
        let t = Temp::new("not-records");
        write_log(&t, 2);
        let lines = t.lines();
        let cases: [(&[u8], &str); 6] = [
            (b"not json\n", "line 2: not JSON"),
            (b"[1]\n", "not a JSON object"),
            (b"\n", "line 2: not JSON"),
            (b"{\"seq\":2}\n", "no `time`"),
            (b"{\"seq\":2,\"extra\":1}\n", "unknown field `extra`"),
            (
                br#"{"seq":2,"time":"yesterday","requester":null,"policy_digest":"x","snapshot_digest":"x","decision":{},"prev":"x"}
"#,
                "`time` is not an RFC 3339 time in UTC",
            ),
        ];
        for (bad, want) in cases {
            t.write(&[lines[0].clone(), bad.to_vec()].concat());
            let err = verify(&t.0, None).unwrap_err();
            assert_eq!(err.line(), Some(2), "{err}");
            assert!(err.to_string().contains(want), "{err} (want {want})");
        }
    }

    #[test]
    fn an_invalid_entry_is_refused_and_nothing_is_written() {
        let t = Temp::new("invalid-entry");
        let mut log = DecisionLog::open(&t.0).unwrap();
        log.append(&entry(1)).unwrap();
        let before = t.read();
        let mut bad = entry(2);
        bad.time = "2026-05-01T12:00:00+02:00".into();
        assert!(matches!(log.append(&bad), Err(AuditError::InvalidEntry(_))));
        let mut bad = entry(2);
        bad.decision = json!("proceed");
        assert!(matches!(log.append(&bad), Err(AuditError::InvalidEntry(_))));
        let mut bad = entry(2);
        bad.requester = json!("someone");
        assert!(matches!(log.append(&bad), Err(AuditError::InvalidEntry(_))));
        let mut bad = entry(2);
        bad.snapshot_digest = "md5:abc".into();
        assert!(matches!(log.append(&bad), Err(AuditError::InvalidEntry(_))));
        assert_eq!(t.read(), before);
        assert_eq!(log.head().count, 1);
        let mut ok = entry(2);
        ok.time = "2026-05-01T12:00:00.250+00:00".into();
        log.append(&ok).unwrap();
        assert_eq!(verify(&t.0, None).unwrap().head.count, 2);
    }

    /// A writer killed with SIGKILL in the middle of its appends leaves a log that verifies up
    /// to its last whole record, and that can be opened and appended to. The test runs itself
    /// again as the writer, in a child process.
    #[test]
    fn a_killed_writer_leaves_a_log_that_verifies() {
        const CHILD: &str = "ROLLGUARD_AUDIT_TEST_WRITER";
        if let Some(path) = std::env::var_os(CHILD) {
            let mut log = DecisionLog::open(path).unwrap();
            for i in 1..=100_000 {
                log.append(&entry(i)).unwrap();
            }
            return;
        }
        let t = Temp::new("killed");
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "audit::tests::a_killed_writer_leaves_a_log_that_verifies",
                "--test-threads=1",
            ])
            .env(CHILD, &t.0)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::fs::read(&t.0).map_or(0, |b| b.iter().filter(|c| **c == b'\n').count()) < 20
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();

        let v = verify(&t.0, None).unwrap();
        assert!(v.head.count >= 20, "{v:?}");
        let mut log = DecisionLog::open(&t.0).unwrap();
        assert_eq!(log.head(), v.head);
        let head = log.append(&entry(v.head.count + 1)).unwrap();
        drop(log);
        assert_eq!(verify(&t.0, Some(&head.last)).unwrap().head, head);
    }

    #[test]
    fn threads_share_the_log_behind_a_mutex() {
        let t = Temp::new("threads");
        let log = Arc::new(Mutex::new(DecisionLog::open(&t.0).unwrap()));
        let handles: Vec<_> = (0..4)
            .map(|k| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    for i in 0..10 {
                        log.lock().unwrap().append(&entry(k * 10 + i)).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let head = log.lock().unwrap().head();
        assert_eq!(head.count, 40);
        assert_eq!(verify(&t.0, Some(&head.last)).unwrap().head, head);
    }

    /// A read-only file cannot be opened as a log. Root writes regardless of permissions, so
    /// there the test has nothing to show; the faults below cover a file system that stops
    /// taking writes after the log is open.
    #[cfg(unix)]
    #[test]
    fn a_read_only_file_is_refused_at_open() {
        use std::os::unix::fs::PermissionsExt;
        let t = Temp::new("read-only");
        write_log(&t, 1);
        std::fs::set_permissions(&t.0, std::fs::Permissions::from_mode(0o444)).unwrap();
        if OpenOptions::new().append(true).open(&t.0).is_ok() {
            return; // running as root
        }
        assert!(matches!(DecisionLog::open(&t.0), Err(AuditError::Io(_))));
    }

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Fault {
        None,
        /// The disk fills up halfway through the line.
        DiskFull,
        /// The whole line is written, then the sync fails.
        SyncFails,
        /// The file system turned read-only: no write, no truncation.
        ReadOnly,
        /// Half the line is written, then neither the write nor the truncation works.
        HalfThenReadOnly,
    }

    /// A real file whose writes fail as the test says.
    struct Faulty {
        file: File,
        fault: Arc<Mutex<Fault>>,
    }

    impl LogFile for Faulty {
        fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
            let fault = *self.fault.lock().unwrap();
            match fault {
                Fault::None | Fault::SyncFails => Write::write_all(&mut self.file, bytes),
                Fault::DiskFull => {
                    Write::write_all(&mut self.file, &bytes[..bytes.len() / 2])?;
                    Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
                }
                Fault::HalfThenReadOnly => {
                    Write::write_all(&mut self.file, &bytes[..bytes.len() / 2])?;
                    *self.fault.lock().unwrap() = Fault::ReadOnly;
                    Err(io::Error::new(
                        io::ErrorKind::ReadOnlyFilesystem,
                        "read-only",
                    ))
                }
                Fault::ReadOnly => Err(io::Error::new(
                    io::ErrorKind::ReadOnlyFilesystem,
                    "read-only",
                )),
            }
        }

        fn sync_data(&mut self) -> io::Result<()> {
            let fault = *self.fault.lock().unwrap();
            match fault {
                Fault::SyncFails => Err(io::Error::other("I/O error")),
                Fault::ReadOnly => Err(io::Error::new(
                    io::ErrorKind::ReadOnlyFilesystem,
                    "read-only",
                )),
                _ => self.file.sync_data(),
            }
        }

        fn set_len(&mut self, len: u64) -> io::Result<()> {
            let fault = *self.fault.lock().unwrap();
            match fault {
                Fault::ReadOnly | Fault::HalfThenReadOnly => Err(io::Error::new(
                    io::ErrorKind::ReadOnlyFilesystem,
                    "read-only",
                )),
                _ => self.file.set_len(len),
            }
        }
    }

    fn faulty_log(t: &Temp) -> (DecisionLog, Arc<Mutex<Fault>>) {
        let fault = Arc::new(Mutex::new(Fault::None));
        let shared = Arc::clone(&fault);
        let log = DecisionLog::open_with(&t.0, move |file| {
            Box::new(Faulty {
                file,
                fault: shared,
            })
        })
        .unwrap();
        (log, fault)
    }

    #[test]
    fn a_failed_append_does_not_advance_the_head_and_the_log_recovers() {
        for fault in [
            Fault::DiskFull,
            Fault::SyncFails,
            Fault::ReadOnly,
            Fault::HalfThenReadOnly,
        ] {
            let t = Temp::new("fault");
            let (mut log, switch) = faulty_log(&t);
            let mut i = 0;
            let mut next = || {
                i += 1;
                entry(i)
            };
            for _ in 0..2 {
                log.append(&next()).unwrap();
            }
            let before = log.head();
            let good = t.read();

            *switch.lock().unwrap() = fault;
            let err = log.append(&next()).unwrap_err();
            assert!(matches!(err, AuditError::Io(_)), "{fault:?}: {err:?}");
            assert_eq!(log.head(), before, "{fault:?}");
            // Fails again while the fault lasts, and still records nothing.
            assert!(log.append(&next()).is_err(), "{fault:?}");
            assert_eq!(log.head(), before, "{fault:?}");
            if matches!(fault, Fault::DiskFull | Fault::SyncFails) {
                assert_eq!(
                    t.read(),
                    good,
                    "{fault:?}: the partial line is cut off at once"
                );
            }
            // Whatever is on disk now is what a crash would leave: it verifies up to `before`.
            let v = verify(&t.0, None).unwrap();
            assert_eq!(v.head, before, "{fault:?}");

            *switch.lock().unwrap() = Fault::None;
            let head = log.append(&next()).unwrap();
            assert_eq!(head.count, before.count + 1, "{fault:?}");
            let v = verify(&t.0, Some(&head.last)).unwrap();
            assert_eq!(v, Verified { head, torn: None }, "{fault:?}");
        }
    }

    #[derive(Clone, Debug)]
    enum Tamper {
        /// Set byte `at` of the file (taken modulo its length) to `to`.
        Edit {
            at: usize,
            to: u8,
        },
        Remove(usize),
        Swap(usize, usize),
    }

    fn tamper() -> impl Strategy<Value = Tamper> {
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(at, to)| Tamper::Edit { at, to }),
            any::<usize>().prop_map(Tamper::Remove),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Tamper::Swap(a, b)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Any single edit, removal or swap is caught, given the head of the log as written;
        /// without the head, it is still caught unless it touches only the last record. The
        /// first bad line is the changed line, or the one after it (whose `prev` shows the edit).
        #[test]
        fn any_tampering_is_caught(
            seeds in proptest::collection::vec(any::<u64>(), 1..12),
            how in tamper(),
        ) {
            let t = Temp::new("prop");
            let mut log = DecisionLog::open(&t.0).unwrap();
            for (i, seed) in seeds.iter().enumerate() {
                let mut e = entry(i as u64);
                e.decision["seed"] = json!(seed);
                if seed.is_multiple_of(5) {
                    e.requester = json!({"id": format!("ünïcode {seed}")});
                }
                log.append(&e).unwrap();
            }
            let head = log.head();
            let bytes = t.read();
            let mut lines: Vec<Vec<u8>> =
                bytes.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
            let n = lines.len();
            // The first line the change touches, 1-based, and whether it is only the last one.
            let (tampered, first) = match how {
                Tamper::Edit { at, to } => {
                    let at = at % bytes.len();
                    let mut b = bytes.clone();
                    if b[at] == to {
                        return Ok(()); // not a change
                    }
                    b[at] = to;
                    let line = bytes[..at].iter().filter(|c| **c == b'\n').count() + 1;
                    (b, line)
                }
                Tamper::Remove(i) => {
                    let i = i % n;
                    lines.remove(i);
                    (lines.concat(), i + 1)
                }
                Tamper::Swap(a, b) => {
                    let (a, b) = (a % n, b % n);
                    if a == b {
                        return Ok(()); // not a change
                    }
                    lines.swap(a, b);
                    (lines.concat(), a.min(b) + 1)
                }
            };
            prop_assert!(verify_reader(&tampered[..], Some(&head.last)).is_err());
            let alone = verify_reader(&tampered[..], None);
            if first < n {
                let line = match alone {
                    Err(VerifyError::Record { line, .. }) => line as usize,
                    other => return Err(TestCaseError::fail(format!("{other:?}"))),
                };
                prop_assert!(line == first || line == first + 1, "{} vs {}", line, first);
            }
        }
    }
}
