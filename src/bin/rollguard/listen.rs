//! The accept loop under `rollguard serve`: hyper's HTTP/1 connections with a header-read
//! timeout, an idle timeout, a cap on open connections and a bounded drain on shutdown.
//!
//! The cap is a table of open connections rather than a plain semaphore, so that a slot can be
//! taken back: when the table is full, the connection that has been waiting longest without a
//! request in flight (idle, or still dribbling its request head) is closed to make room. A
//! client that sends a whole request at once is therefore answered even while hundreds of
//! connections sit half-open; only when every connection is answering a request is a new one
//! shed (closed at once). Descriptors are kept in reserve below the process's limit, so accepting
//! never fails for want of one.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use rollguard::service::{BothLengths, Peer, Router};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Descriptors left for everything that is not a connection: the listener, the runtime, the
/// decision log, policy files being read.
const RESERVED_DESCRIPTORS: u64 = 64;

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A request head must be whole within this long after the connection opened or its previous
    /// response was sent.
    pub header_timeout: Duration,
    /// A connection with no request in flight and no bytes arriving is closed after this long.
    pub idle_timeout: Duration,
    /// Open connections at most (lowered to fit the descriptor limit).
    pub max_connections: usize,
    /// On shutdown, how long requests in flight may take to finish.
    pub drain: Duration,
}

/// The number of connections that fits under the soft descriptor limit, and that limit.
pub fn connection_cap(wanted: usize) -> (usize, Option<u64>) {
    let limit = descriptor_limit();
    let fits = limit.map_or(usize::MAX, |l| {
        usize::try_from(l.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX)
    });
    (wanted.min(fits).max(1), limit)
}

#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // `rlim_t` is not `u64` on every platform
fn descriptor_limit() -> Option<u64> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given and reads nothing else.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0;
    (ok && rl.rlim_cur != libc::RLIM_INFINITY).then_some(rl.rlim_cur as u64)
}

#[cfg(not(unix))]
fn descriptor_limit() -> Option<u64> {
    None
}

/// One open connection, as the table sees it.
struct Conn {
    id: u64,
    /// Requests being answered.
    in_flight: AtomicUsize,
    /// When it last became idle (opened, or a response finished), in ms since the table's epoch.
    idle_since: AtomicU64,
    /// Whether bytes arrived since then (a request head on its way).
    reading: AtomicBool,
    /// The request head being read declared both `Content-Length` and `Transfer-Encoding`.
    both_lengths: AtomicBool,
    close: tokio::sync::Notify,
}

/// Looks for the two framing headers in a request head as its bytes arrive; stops at the blank
/// line that ends the head, so a body is never scanned.
#[derive(Default)]
struct HeadScan {
    line: [u8; 18],
    len: usize,
    started: bool,
    done: bool,
    content_length: bool,
    transfer_encoding: bool,
}

impl HeadScan {
    /// Feeds bytes; true once a whole head with both headers has been seen.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            if self.done {
                break;
            }
            if b == b'\n' {
                let line = &self.line[..self.len];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.is_empty() {
                    // Blank lines before the request line are tolerated; after it, the end.
                    self.done = self.started;
                } else {
                    self.started = true;
                    self.content_length |= line.starts_with(b"content-length:");
                    self.transfer_encoding |= line.starts_with(b"transfer-encoding:");
                }
                self.len = 0;
            } else if self.len < self.line.len() {
                self.line[self.len] = b.to_ascii_lowercase();
                self.len += 1;
            }
        }
        self.done && self.content_length && self.transfer_encoding
    }
}

struct Table {
    epoch: Instant,
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Table {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn len(&self) -> usize {
        self.open.lock().expect("lock").len()
    }

    fn insert(&self) -> Arc<Conn> {
        let conn = Arc::new(Conn {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(self.now()),
            reading: AtomicBool::new(false),
            both_lengths: AtomicBool::new(false),
            close: tokio::sync::Notify::new(),
        });
        self.open
            .lock()
            .expect("lock")
            .insert(conn.id, conn.clone());
        conn
    }

    fn remove(&self, id: u64) {
        self.open.lock().expect("lock").remove(&id);
    }

    /// Closes the connection that has waited longest without a request in flight; false when
    /// every connection is answering one.
    fn evict_oldest_idle(&self) -> bool {
        let mut open = self.open.lock().expect("lock");
        let oldest = open
            .values()
            .filter(|c| c.in_flight.load(Ordering::Acquire) == 0)
            .min_by_key(|c| c.idle_since.load(Ordering::Relaxed))
            .map(|c| c.id);
        match oldest.and_then(|id| open.remove(&id)) {
            Some(conn) => {
                conn.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Marks a request in flight on a connection for as long as it lives.
struct Busy {
    conn: Arc<Conn>,
    table: Arc<Table>,
}

impl Busy {
    fn new(conn: Arc<Conn>, table: Arc<Table>) -> Busy {
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy { conn, table }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.conn
            .idle_since
            .store(self.table.now(), Ordering::Relaxed);
        self.conn.reading.store(false, Ordering::Relaxed);
        self.conn.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The socket, noting when bytes arrive and what the request head declares.
struct Tracked {
    stream: TcpStream,
    conn: Arc<Conn>,
    scan: HeadScan,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            // The first bytes since the connection became idle start a new head.
            if !self.conn.reading.swap(true, Ordering::Relaxed) {
                self.scan = HeadScan::default();
            }
            if self.scan.feed(&buf.filled()[before..]) {
                self.conn.both_lengths.store(true, Ordering::Relaxed);
            }
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, closes the
/// connections that have no request in flight and gives the others `limits.drain` to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let table = Arc::new(Table {
        epoch: Instant::now(),
        next: AtomicU64::new(0),
        open: Mutex::new(HashMap::new()),
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let http = Arc::new(http);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => r,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors (another part of the process used more than its reserve):
                // make room, and pause so the loop does not spin.
                if matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) {
                    table.evict_oldest_idle();
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if table.len() >= limits.max_connections && !table.evict_oldest_idle() {
            // Every connection is answering a request: shed this one.
            drop(stream);
            continue;
        }
        let conn = table.insert();
        tokio::spawn(connection(
            stream,
            router.clone(),
            http.clone(),
            conn,
            table.clone(),
            stop_rx.clone(),
            limits,
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let deadline = Instant::now() + limits.drain;
    while table.len() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn connection(
    stream: TcpStream,
    router: Router,
    http: Arc<http1::Builder>,
    conn: Arc<Conn>,
    table: Arc<Table>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    limits: Limits,
) {
    let _ = stream.set_nodelay(true);
    // Whether a forwarded client certificate is believed depends on who the peer is.
    let peer = stream.peer_addr().ok();
    let io = TokioIo::new(Tracked {
        stream,
        conn: conn.clone(),
        scan: HeadScan::default(),
    });
    let service = {
        let (conn, table) = (conn.clone(), table.clone());
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            if conn.both_lengths.swap(false, Ordering::Relaxed) {
                request.extensions_mut().insert(BothLengths);
            }
            if let Some(peer) = peer {
                request.extensions_mut().insert(Peer(peer));
            }
            let busy = Busy::new(conn.clone(), table.clone());
            let router = router.clone();
            async move {
                let response = router.serve(request).await;
                drop(busy);
                response
            }
        })
    };
    let served = http.serve_connection(io, service);
    tokio::pin!(served);
    let mut stopping = false;
    loop {
        let idle = idle_left(&conn, &table, limits.idle_timeout);
        tokio::select! {
            _ = served.as_mut() => break,
            _ = conn.close.notified() => break,
            _ = stop.changed(), if !stopping => {
                stopping = true;
                if conn.in_flight.load(Ordering::Acquire) == 0 {
                    break;
                }
                // Answer the request in flight, then close.
                served.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep(idle.unwrap_or(limits.idle_timeout)), if !stopping => {
                if idle_left(&conn, &table, limits.idle_timeout) == Some(Duration::ZERO) {
                    break;
                }
            }
        }
    }
    table.remove(conn.id);
}

/// How long until an idle connection times out; `None` while it is not idle (a request in
/// flight, or a head arriving: the header timeout bounds that).
fn idle_left(conn: &Conn, table: &Table, idle_timeout: Duration) -> Option<Duration> {
    if conn.in_flight.load(Ordering::Acquire) > 0 || conn.reading.load(Ordering::Relaxed) {
        return None;
    }
    let idle = Duration::from_millis(
        table
            .now()
            .saturating_sub(conn.idle_since.load(Ordering::Relaxed)),
    );
    Some(idle_timeout.saturating_sub(idle))
}
