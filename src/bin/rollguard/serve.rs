//! `rollguard serve`: the process around the decision service's router
//! (`rollguard::service::Router`, which answers the HTTP requests).
//!
//! Here: the arguments turned into the router's configuration (the tokens file, the decision
//! log), the accept loop (`listen.rs`), signals, and watching the policy directory: one set,
//! compiled off to the side and handed to the router when its files change. With a decision
//! log, each set is archived beside it (`LOG.sets/`) before it serves.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rollguard::audit::DecisionLog;
use rollguard::identity::{Identity, Issuer, JwksSource};
use rollguard::service::{self, ReloadError, Router, Security};
use rollguard::trust::Trust;
use rollguard::Engine;
use serde_json::Value;

use crate::listen;

pub struct Options {
    pub policies: PathBuf,
    pub addr: SocketAddr,
    pub tokens: Option<PathBuf>,
    pub identity: Option<PathBuf>,
    pub trust: Option<PathBuf>,
    pub insecure_listen: bool,
    pub decision_log: Option<PathBuf>,
    pub max_body_bytes: usize,
    pub max_depth: usize,
    pub timeout: Duration,
    pub reload_interval: Duration,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// A token's principal, as the tokens file gives it.
#[derive(Clone, Debug, serde::Deserialize)]
struct TokenEntry {
    token: String,
    principal: Value,
}

/// Why the policy directory could not be read: the file (or the directory) and the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ReadFailure {
    file: String,
    reason: String,
}

impl ReadFailure {
    fn new(file: &std::path::Path, reason: impl Into<String>) -> ReadFailure {
        ReadFailure {
            file: file.display().to_string(),
            reason: reason.into(),
        }
    }

    /// Stands for this failure where a set's fingerprint would, so a failure is reported once.
    fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        ("read failure", &self.file, &self.reason).hash(&mut h);
        h.finish()
    }
}

/// Opens a policy file without blocking (a FIFO would block a plain open until a writer
/// comes) and reads it only if it is a regular file; `None` for anything else.
fn read_regular(path: &std::path::Path) -> Result<Option<Vec<u8>>, ReadFailure> {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let mut file = options
        .open(path)
        .map_err(|e| ReadFailure::new(path, format!("cannot open: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| ReadFailure::new(path, format!("cannot stat: {e}")))?;
    if !meta.is_file() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| ReadFailure::new(path, format!("cannot read: {e}")))?;
    Ok(Some(bytes))
}

/// The policy files of `dir`, read once, and a hash of their names and contents: the set is
/// compiled from exactly the bytes that were hashed. Entries that are not regular files (a
/// FIFO, a socket, a directory, a dangling link) are skipped without being opened, as the
/// loader does at startup; a directory or a file that cannot be read is a failure, never a
/// silently smaller set.
fn read_set(dir: &std::path::Path) -> Result<(u64, Vec<rollguard::SetFile>), ReadFailure> {
    use std::hash::{Hash, Hasher};
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ReadFailure::new(dir, format!("cannot read the policy directory: {e}")))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry
            .map_err(|e| ReadFailure::new(dir, format!("cannot read the policy directory: {e}")))?;
        let path = entry.path();
        // `metadata` follows links (a mounted ConfigMap's files are links); a dangling one fails.
        if path.extension().is_some_and(|x| x == "rollguard")
            && std::fs::metadata(&path).is_ok_and(|m| m.is_file())
        {
            paths.push(path);
        }
    }
    paths.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut files = Vec::new();
    for path in paths {
        let Some(bytes) = read_regular(&path)? else {
            continue;
        };
        let text = String::from_utf8(bytes).map_err(|e| {
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let before = String::from_utf8_lossy(good);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            ReadFailure::new(
                &path,
                format!(
                    "not valid UTF-8 (byte 0x{:02X} at line {line}, column {column}); save it as UTF-8",
                    e.as_bytes()[good.len()]
                ),
            )
        })?;
        path.hash(&mut h);
        text.hash(&mut h);
        files.push(rollguard::SetFile {
            name: path.display().to_string(),
            path,
            text,
        });
    }
    Ok((h.finish(), files))
}

/// A set without policies would answer `proceed` to everything: the service never serves one
/// (a truncated or emptied file is the usual cause).
fn has_policies(engine: Engine) -> Result<Engine, rollguard::LoadError> {
    if engine.policies().is_empty() {
        let problem = "the policy set has no policy: every deployment would proceed".to_string();
        let rendered = format!("error: {problem}\n");
        return Err(rollguard::LoadError::new(vec![problem], rendered));
    }
    Ok(engine)
}

/// Compiles a set read from the policy directory. With a decision log, the set is first
/// written to the archive beside it (`sets`), so every decision the log records can be derived
/// again from the exact files that decided it; a set that cannot be archived does not serve.
fn load(
    files: &[rollguard::SetFile],
    sets: Option<&std::path::Path>,
) -> Result<Engine, rollguard::LoadError> {
    let Some(sets) = sets else {
        return Engine::from_set(files).and_then(has_policies);
    };
    let recorded = rollguard::replay::compile_recording(files)?;
    let engine = has_policies(recorded.engine.clone())?;
    if let Err(e) = rollguard::replay::archive(sets, &recorded) {
        let problem = format!(
            "cannot archive the policy set in `{}`: {e}; it does not serve without a copy",
            sets.display()
        );
        let rendered = format!("error: {problem}\n");
        return Err(rollguard::LoadError::new(vec![problem], rendered));
    }
    Ok(engine)
}

/// Watches the policy directory and hands the router each set that changed, once it has
/// settled and loads.
struct Watcher {
    policies: PathBuf,
    /// The policy set archive, with a decision log.
    sets: Option<PathBuf>,
    router: Router,
    state: Mutex<WatchState>,
}

struct WatchState {
    /// What the files of the set being served looked like, to notice changes.
    served: u64,
    /// The fingerprint of the last set that failed, so it is not recompiled every tick.
    failed: Option<u64>,
    /// A changed fingerprint seen once, waiting to be seen again before it is compiled.
    pending: Option<u64>,
}

impl Watcher {
    /// Recompiles when the files changed; a set that fails (or a directory that cannot be read)
    /// keeps the last good one serving, and the failure shows at `/v1/policies`, on stderr and
    /// in the metrics until the directory holds a good set again.
    fn reload(&self) {
        let mut state = self.state.lock().expect("lock");
        let read = read_set(&self.policies);
        let fp = match &read {
            Ok((fp, _)) => *fp,
            Err(f) => f.fingerprint(),
        };
        if fp == state.served {
            // Back to a known state: what was pending is forgotten, so two separate moments
            // that look alike (an empty file, just truncated) are not taken for a settled one.
            state.pending = None;
            // The files are the set being served again: whatever failed is over.
            if state.failed.take().is_some() {
                self.router.reload_recovered();
                eprintln!(
                    "rollguard serve: {} holds the set being served again",
                    self.policies.display()
                );
            }
            return;
        }
        if state.failed == Some(fp) {
            state.pending = None;
            return;
        }
        // A change is compiled once the files have stayed the same for one polling interval,
        // so a file caught in the middle of being written is never loaded.
        if state.pending != Some(fp) {
            state.pending = Some(fp);
            return;
        }
        let files = match read {
            Ok((_, files)) => files,
            Err(f) => {
                eprintln!(
                    "rollguard serve: reload failed, the last good set keeps serving: {}: {}",
                    f.file, f.reason
                );
                state.failed = Some(fp);
                self.router
                    .reload_failed(ReloadError::unreadable(f.file, f.reason));
                return;
            }
        };
        match load(&files, self.sets.as_deref()) {
            Ok(engine) => {
                eprintln!(
                    "rollguard serve: reloaded {} ({})",
                    self.policies.display(),
                    engine.digest()
                );
                self.router.replace(engine);
                state.served = fp;
                state.failed = None;
            }
            Err(e) => {
                eprintln!(
                    "rollguard serve: reload rejected, the last good set keeps serving:\n{}",
                    e.rendered
                );
                state.failed = Some(fp);
                self.router.reload_failed(ReloadError::rejected(e.problems));
            }
        }
    }
}
/// How long one fetch of a JWKS URL may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads an issuer's key set from where it lives: a file again, or its URL.
fn fetch_jwks(source: &JwksSource) -> Result<Vec<u8>, String> {
    match source {
        JwksSource::File(path) => {
            std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
        }
        JwksSource::Url(url) => {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(FETCH_TIMEOUT))
                .build()
                .into();
            let mut response = agent
                .get(url)
                .call()
                .map_err(|e| format!("cannot fetch `{url}`: {e}"))?;
            response
                .body_mut()
                .with_config()
                .limit(1 << 20)
                .read_to_vec()
                .map_err(|e| format!("cannot read `{url}`: {e}"))
        }
        JwksSource::Inline => Err("inline keys are not fetched".into()),
    }
}

/// Fetches the keys of every issuer that is due (its interval passed, or a token named a key
/// it does not hold); a failure keeps the keys it had.
fn refresh(issuers: &[Arc<Issuer>], now: std::time::Instant) -> Vec<String> {
    let mut failures = Vec::new();
    for issuer in issuers.iter().filter(|i| i.due(now)) {
        match fetch_jwks(issuer.source()).and_then(|b| issuer.set_jwks(&b)) {
            Ok(()) => {}
            Err(e) => {
                issuer.refresh_failed();
                failures.push(format!("issuer `{}`: {e}", issuer.name()));
            }
        }
    }
    failures
}

pub fn run(o: Options) -> u8 {
    let authenticated = o.tokens.is_some() || o.identity.is_some();
    if !authenticated && !o.addr.ip().is_loopback() && !o.insecure_listen {
        eprintln!(
            "error: without --tokens or --identity the service listens on loopback only; give one, or --insecure-listen to serve {} unauthenticated",
            o.addr
        );
        return 2;
    }
    let identity = match o.identity.as_deref().map(Identity::load).transpose() {
        Ok(i) => i.map(Arc::new),
        Err(e) => {
            eprintln!("error: the identity file {e}");
            return 2;
        }
    };
    let trust = match o.trust.as_deref().map(Trust::load).transpose() {
        Ok(t) => t.map(Arc::new),
        Err(e) => {
            eprintln!("error: the trust file {e}");
            return 2;
        }
    };
    let mut issuers: Vec<Arc<Issuer>> = Vec::new();
    issuers.extend(identity.iter().flat_map(|i| i.issuers().iter().cloned()));
    issuers.extend(trust.iter().flat_map(|t| t.issuers().iter().cloned()));
    // Keys behind URLs are fetched before the first request: a service that cannot verify
    // anyone should say so at start, not with a 401 to every caller.
    let failures = refresh(&issuers, std::time::Instant::now());
    if !failures.is_empty() {
        eprintln!("error: cannot load issuer keys: {}", failures.join("; "));
        return 2;
    }
    let tokens: Option<HashMap<String, Value>> = match &o.tokens {
        None => None,
        Some(path) => {
            let parsed = std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|t| {
                    serde_json::from_str::<Vec<TokenEntry>>(&t).map_err(|e| e.to_string())
                });
            match parsed {
                Ok(list) => Some(list.into_iter().map(|t| (t.token, t.principal)).collect()),
                Err(e) => {
                    eprintln!(
                        "error: cannot read the tokens file `{}`: {e}",
                        path.display()
                    );
                    return 2;
                }
            }
        }
    };
    let sets = o.decision_log.as_deref().map(rollguard::replay::sets_dir);
    let loaded = match &sets {
        None => Engine::from_dir(&o.policies).and_then(has_policies),
        // Archived from the bytes it is compiled from, as a reload is.
        Some(sets) => match read_set(&o.policies) {
            Ok((_, files)) => load(&files, Some(sets)),
            Err(f) => {
                let problem = format!("{}: {}", f.file, f.reason);
                let rendered = format!("error: {problem}\n");
                Err(rollguard::LoadError::new(vec![problem], rendered))
            }
        },
    };
    let engine = match loaded {
        Ok(e) => e,
        Err(e) => {
            eprint!("{}", e.rendered);
            eprintln!(
                "error: the policy set in `{}` does not compile: {}",
                o.policies.display(),
                e.problems.join("; ")
            );
            return 1;
        }
    };
    let log = match &o.decision_log {
        None => None,
        Some(path) => match DecisionLog::open(path) {
            Ok(l) => {
                if let Some(t) = l.recovered() {
                    eprintln!(
                        "rollguard serve: {}: {t}; it was cut off, the chain continues",
                        path.display()
                    );
                }
                Some(l)
            }
            Err(e) => {
                eprintln!(
                    "error: cannot open the decision log `{}`: {e}",
                    path.display()
                );
                return 2;
            }
        },
    };
    let router = Router::secured(
        engine,
        service::Config {
            tokens,
            decision_log: log,
            max_body_bytes: o.max_body_bytes,
            max_depth: o.max_depth,
            timeout: o.timeout,
            loopback_hosts_only: !authenticated && o.addr.ip().is_loopback(),
        },
        Security::new(identity, trust),
    );
    let watcher = Arc::new(Watcher {
        policies: o.policies.clone(),
        sets,
        router: router.clone(),
        state: Mutex::new(WatchState {
            served: read_set(&o.policies).map(|(fp, _)| fp).unwrap_or_default(),
            failed: None,
            pending: None,
        }),
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return 1;
        }
    };
    let (max_connections, descriptors) = listen::connection_cap(o.max_connections);
    if max_connections < o.max_connections {
        eprintln!(
            "rollguard serve: at most {max_connections} connections (the descriptor limit is {})",
            descriptors.unwrap_or_default()
        );
    }
    let limits = listen::Limits {
        header_timeout: o.header_timeout,
        idle_timeout: o.idle_timeout,
        max_connections,
        // Requests in flight are bounded by --timeout-ms; a little more lets them be answered.
        drain: o.timeout + Duration::from_millis(500),
    };
    let code = runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(o.addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}", o.addr);
                return 2;
            }
        };
        let local = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        println!(
            "rollguard serve: listening on http://{local} ({})",
            router.engine().digest()
        );
        if !issuers.is_empty() {
            tokio::spawn(async move {
                loop {
                    // Each issuer says when it is due; a second's tick keeps a rotated key's
                    // early refresh prompt without fetching more than each interval allows.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let list = issuers.clone();
                    if let Ok(failures) = tokio::task::spawn_blocking(move || {
                        refresh(&list, std::time::Instant::now())
                    })
                    .await
                    {
                        for f in failures {
                            eprintln!(
                                "rollguard serve: key refresh failed, the old keys stay: {f}"
                            );
                        }
                    }
                }
            });
        }
        let interval = o.reload_interval;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let w = watcher.clone();
                let _ = tokio::task::spawn_blocking(move || w.reload()).await;
            }
        });
        listen::serve(listener, router, limits, shutdown()).await;
        0
    });
    // A reload or a log write stuck on a slow disk must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

/// Ctrl-C or SIGTERM: stop accepting, finish what is in flight.
async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
