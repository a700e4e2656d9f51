//! A minimal HTTP/1.1 client for the master's own checks (readiness, liveness, `/version`) and
//! the `ctl` client (TCP or Unix-socket admin endpoints): one request per connection, bounded
//! by a timeout, body capped.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;

/// Largest body the probe reads.
pub const MAX_BODY: usize = 64 * 1024;

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Connecting failed.
    #[error("connect to {addr}: {error}")]
    Connect {
        /// Target.
        addr: String,
        /// OS error (part of the message, which readiness logs show on their own).
        error: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("http exchange with {addr}: {reason}")]
    Http {
        /// Target.
        addr: String,
        /// What went wrong.
        reason: String,
    },
    /// The async runtime for a blocking call could not be built.
    #[error("cannot start an async runtime: {0}")]
    Runtime(std::io::Error),
    /// No answer within the timeout.
    #[error("no answer from {addr} within {timeout:?}")]
    Timeout {
        /// Target.
        addr: String,
        /// The bound.
        timeout: Duration,
    },
}

/// A response: status and body text.
#[derive(Clone, Debug)]
pub struct ProbeResponse {
    /// HTTP status code.
    pub status: u16,
    /// Body (lossy UTF-8, at most [`MAX_BODY`] bytes).
    pub body: String,
}

/// `GET path` on `addr`, bounded by `timeout` as a whole.
pub async fn get(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<ProbeResponse, ProbeError> {
    request(addr, "GET", path, timeout).await
}

/// Any bodiless request on `addr`, bounded by `timeout` as a whole.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<ProbeResponse, ProbeError> {
    request_with_token(addr, method, path, timeout, None).await
}

/// [`request`] with `Authorization: Bearer <token>` when a token is given (the admin
/// endpoint's `POST /restart` when the master has an admin token file).
pub async fn request_with_token(
    addr: SocketAddr,
    method: &str,
    path: &str,
    timeout: Duration,
    token: Option<&str>,
) -> Result<ProbeResponse, ProbeError> {
    let name = addr.to_string();
    bounded(&name, timeout, async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|error| ProbeError::Connect {
                addr: name.clone(),
                error,
            })?;
        let _ = stream.set_nodelay(true);
        exchange(stream, &name, method, path, token).await
    })
    .await
}

/// The same over a Unix-domain socket (an admin endpoint at `unix:PATH`).
#[cfg(unix)]
pub async fn request_unix(
    socket: &std::path::Path,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<ProbeResponse, ProbeError> {
    request_unix_with_token(socket, method, path, timeout, None).await
}

/// [`request_unix`] with an optional bearer token.
#[cfg(unix)]
pub async fn request_unix_with_token(
    socket: &std::path::Path,
    method: &str,
    path: &str,
    timeout: Duration,
    token: Option<&str>,
) -> Result<ProbeResponse, ProbeError> {
    let name = format!("unix:{}", socket.display());
    bounded(&name, timeout, async {
        let stream = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|error| ProbeError::Connect {
                addr: name.clone(),
                error,
            })?;
        exchange(stream, "localhost", method, path, token).await
    })
    .await
}

async fn bounded(
    name: &str,
    timeout: Duration,
    f: impl std::future::Future<Output = Result<ProbeResponse, ProbeError>>,
) -> Result<ProbeResponse, ProbeError> {
    match tokio::time::timeout(timeout, f).await {
        Ok(r) => r,
        Err(_) => Err(ProbeError::Timeout {
            addr: name.to_string(),
            timeout,
        }),
    }
}

async fn exchange<S>(
    stream: S,
    host: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> Result<ProbeResponse, ProbeError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let http = |reason: String| ProbeError::Http {
        addr: host.to_string(),
        reason,
    };
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(io)
        .await
        .map_err(|e| http(e.to_string()))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, host)
        .header(hyper::header::CONNECTION, "close");
    if let Some(t) = token {
        req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = req.body(Empty::new()).map_err(|e| http(e.to_string()))?;
    let result = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| http(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| http(e.to_string()))?
            .to_bytes();
        Ok(ProbeResponse {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
    .await;
    driver.abort();
    result
}
