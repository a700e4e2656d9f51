//! The master's admin endpoint, on loopback TCP or a Unix socket only (never the public port):
//! `GET /metrics` (Prometheus text), `GET /status` (JSON, enriched with the binary's sha256 and
//! the worker's `/version`), `POST /restart` (synchronous graceful restart). Who may restart is
//! a `RestartGate`: with a configured token it needs `Authorization: Bearer <token>` (see
//! [`crate::master::admin_auth`]); without one it is open on a Unix socket (its file mode is the
//! access control) and refused on TCP (any local user can connect to a loopback port).
//!
//! At most [`MAX_CONNECTIONS`] connections are served at once; further ones wait in the
//! listen backlog. A Unix socket is created with mode 0600 (0660 with a group) and never
//! replaces a file that is not a socket, nor a socket another process still serves on.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use sha2::{Digest, Sha256};
use tokio::sync::{oneshot, Semaphore};

use crate::master::admin_auth::Token;
use crate::master::status::{RestartAnswer, RestartOutcome, RestartReason, Status};
use crate::master::{Command, Handles};
use protocol::AdminAddr;

/// Why the admin endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Only loopback or Unix-socket addresses are accepted.
    #[error("admin address {0} is not loopback; the admin endpoint must not be reachable from the network")]
    NotLoopback(String),
    /// Bind failed.
    #[error("cannot bind admin endpoint {addr}: {source}")]
    Bind {
        /// Address.
        addr: String,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 64;

/// Listen backlog of the admin endpoint (room for a burst beyond [`MAX_CONNECTIONS`]).
const BACKLOG: i32 = 1024;

/// Who may do what on the admin endpoint.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// `POST /restart` requires this bearer token when set; without one it is refused on TCP.
    pub token: Option<Token>,
    /// Group of a Unix socket (mode 0660); without it the socket is 0600.
    pub group: Option<u32>,
}

/// Who may `POST /restart`.
#[derive(Clone, Debug)]
enum RestartGate {
    /// Whoever can connect (a Unix socket without a token: the socket's mode decides).
    Open,
    /// Only with `Authorization: Bearer <token>`.
    Token(Arc<Token>),
    /// Nobody (TCP without a token: every local user can reach a loopback port).
    Closed,
}

impl RestartGate {
    fn new(token: Option<Token>, tcp: bool) -> Self {
        match token {
            Some(t) => RestartGate::Token(Arc::new(t)),
            None if tcp => RestartGate::Closed,
            None => RestartGate::Open,
        }
    }

    /// `None` when the request may restart, else why not.
    fn refusal(&self, authorization: Option<&str>) -> Option<RestartReason> {
        match self {
            RestartGate::Open => None,
            RestartGate::Token(t) if t.accepts(authorization) => None,
            RestartGate::Token(_) => Some(RestartReason::TokenRequired),
            RestartGate::Closed => Some(RestartReason::TcpNeedsTokenFile),
        }
    }
}

/// Starts serving; the task ends with the runtime. A Unix socket's file is removed when the
/// task ends (the master's exit drops it).
pub fn serve(
    addr: &AdminAddr,
    handles: Handles,
    access: Access,
) -> Result<tokio::task::JoinHandle<()>, AdminError> {
    let bind_err = |source| AdminError::Bind {
        addr: addr.to_string(),
        source,
    };
    let token = access.token.is_some();
    match addr {
        AdminAddr::Tcp(a) => {
            if !a.ip().is_loopback() {
                return Err(AdminError::NotLoopback(a.to_string()));
            }
            let l = bind_tcp(*a).map_err(bind_err)?;
            let gate = RestartGate::new(access.token, true);
            // The address actually bound (port 0 picks one): how a caller learns it.
            let bound = l.local_addr().map_err(bind_err)?;
            tracing::info!(event = "admin_listening", addr = %bound, token, "admin endpoint ready");
            Ok(tokio::spawn(accept_loop(l, handles, gate)))
        }
        #[cfg(unix)]
        AdminAddr::Unix(p) => {
            let l = SocketFile {
                listener: bind_unix(p, access.group).map_err(bind_err)?,
                path: p.clone(),
            };
            let gate = RestartGate::new(access.token, false);
            tracing::info!(event = "admin_listening", addr = %addr, token, "admin endpoint ready");
            Ok(tokio::spawn(accept_loop(l, handles, gate)))
        }
        #[cfg(not(unix))]
        AdminAddr::Unix(_) => Err(AdminError::NotLoopback(addr.to_string())),
    }
}

/// A listener the admin endpoint accepts on.
trait Listener: Send + 'static {
    type Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static;
    fn next(&self) -> impl std::future::Future<Output = std::io::Result<Self::Stream>> + Send;
}

impl Listener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;
    async fn next(&self) -> std::io::Result<Self::Stream> {
        self.accept().await.map(|(s, _)| s)
    }
}

/// A bound Unix socket and its path, removed from the file system when dropped.
#[cfg(unix)]
struct SocketFile {
    listener: tokio::net::UnixListener,
    path: std::path::PathBuf,
}

#[cfg(unix)]
impl Listener for SocketFile {
    type Stream = tokio::net::UnixStream;
    async fn next(&self) -> std::io::Result<Self::Stream> {
        self.listener.accept().await.map(|(s, _)| s)
    }
}

#[cfg(unix)]
impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Accepts at most [`MAX_CONNECTIONS`] connections at once, each served on its own task.
async fn accept_loop<L: Listener>(l: L, handles: Handles, gate: RestartGate) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        match l.next().await {
            Ok(s) => serve_conn(s, handles.clone(), gate.clone(), permit),
            Err(e) => accept_failed(e).await,
        }
    }
}

fn bind_tcp(a: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let s = socket2::Socket::new(socket2::Domain::for_address(a), socket2::Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.bind(&a.into())?;
    s.listen(BACKLOG)?;
    s.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(s.into())
}

/// Creates the socket with mode 0600 (0660 and `group` when given). An existing path is
/// replaced only if it is a socket nobody serves on.
#[cfg(unix)]
fn bind_unix(
    path: &std::path::Path,
    group: Option<u32>,
) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "another process serves on this socket",
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the path exists and is not a socket; refusing to replace it",
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // The socket is never accessible beyond its owner, not even between bind and chmod.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = tokio::net::UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let l = bound?;
    if let Some(gid) = group {
        std::os::unix::fs::chown(path, None, Some(gid))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    }
    Ok(l)
}

/// A failed accept (EMFILE under a flood, say) must not turn the loop into a busy spin that
/// starves the single-threaded master.
async fn accept_failed(e: std::io::Error) {
    tracing::warn!(event = "admin_accept_error", error = %e, "admin accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

fn serve_conn<S>(
    stream: S,
    handles: Handles,
    gate: RestartGate,
    permit: tokio::sync::OwnedSemaphorePermit,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let _permit = permit;
        let svc = hyper::service::service_fn(move |req| route(req, handles.clone(), gate.clone()));
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(Duration::from_secs(10))
            .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
        let _ = tokio::time::timeout(Duration::from_secs(300), conn).await;
    });
}

async fn route(
    req: Request<Incoming>,
    h: Handles,
    gate: RestartGate,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() == Method::POST && req.uri().path() == "/restart" {
        let presented = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if let Some(reason) = gate.refusal(presented) {
            tracing::warn!(event = "admin_refused", reason = %reason, "POST /restart refused");
            let mut r = json(
                StatusCode::UNAUTHORIZED,
                &RestartAnswer::not_run(RestartOutcome::Refused, reason),
            );
            r.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                hyper::header::HeaderValue::from_static("Bearer"),
            );
            return Ok(r);
        }
    }
    let resp = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => {
            let started = h.status.borrow().current_started;
            h.metrics
                .uptime
                .set(started.map(|s| s.elapsed().as_secs_f64()).unwrap_or(0.0));
            text(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                h.metrics.encode(),
            )
        }
        (&Method::GET, "/status") => json(StatusCode::OK, &served_status(&h).await),
        (&Method::POST, "/restart") => {
            let (tx, rx) = oneshot::channel();
            if h.commands.send(Command::Restart(tx)).await.is_err() {
                json(StatusCode::SERVICE_UNAVAILABLE, &stopping())
            } else {
                match rx.await {
                    Ok(outcome) => {
                        let code = if outcome.is_ok() {
                            StatusCode::OK
                        } else {
                            StatusCode::CONFLICT
                        };
                        json(code, &outcome)
                    }
                    Err(_) => json(StatusCode::SERVICE_UNAVAILABLE, &stopping()),
                }
            }
        }
        (_, "/metrics" | "/status" | "/restart") => text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "method not allowed\n".into(),
        ),
        _ => text(
            StatusCode::NOT_FOUND,
            "text/plain",
            "endpoints: GET /metrics, GET /status, POST /restart\n".into(),
        ),
    };
    Ok(resp)
}

/// The answer when the supervisor can no longer be reached.
fn stopping() -> RestartAnswer {
    RestartAnswer::not_run(RestartOutcome::Aborted, RestartReason::Stopping)
}

/// The published status, with the current worker's running image sha256 and its own
/// `/version` answer (any JSON the worker serves) filled in.
async fn served_status(h: &Handles) -> Status {
    let mut status = h.status.borrow().status.clone();
    if let Some(cur) = status.current.as_mut() {
        // The running image, even if the file on disk was replaced since.
        cur.sha256 = exe_sha256(cur.pid).await;
        cur.version = match cur.private_addr.as_ref().and_then(|a| a.parse().ok()) {
            Some(addr) => crate::master::probe::get(addr, "/version", Duration::from_secs(2))
                .await
                .ok()
                .and_then(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok()),
            None => None,
        };
    }
    status
}

/// sha256 of the running image of `pid` (via /proc, so a binary replaced on disk since does
/// not matter). Hashed once per worker: the last result is cached by pid.
async fn exe_sha256(pid: u32) -> Option<String> {
    static CACHE: std::sync::Mutex<Option<(u32, String)>> = std::sync::Mutex::new(None);
    if let Some((p, sha)) = CACHE.lock().ok()?.as_ref() {
        if *p == pid {
            return Some(sha.clone());
        }
    }
    let sha = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut file = std::fs::File::open(format!("/proc/{pid}/exe")).ok()?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let digest = hasher.finalize();
        Some(
            digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
        )
    })
    .await
    .ok()
    .flatten()?;
    *CACHE.lock().ok()? = Some((pid, sha.clone()));
    Some(sha)
}

fn text(code: StatusCode, ctype: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = code;
    if let Ok(v) = ctype.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn json<T: serde::Serialize>(code: StatusCode, body: &T) -> Response<Full<Bytes>> {
    let s = serde_json::to_string_pretty(body).unwrap_or_else(|_| "{}".into());
    text(code, "application/json", s + "\n")
}
