//! Minimal HTTP/1.1 client for health checks: `/ready`, `/ping`, `/version` through an SSH
//! tunnel (any byte stream) or a plain `http://` external URL. One request per connection
//! (`Connection: close`), bounded by a timeout, so a probe never hangs a rollout.

use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A response: status code and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProbeError {
    #[error("{0}: timed out")]
    Timeout(String),
    #[error("{0}: {1}")]
    Io(String, String),
    #[error("{0}: malformed response: {1}")]
    Malformed(String, String),
    #[error("unsupported URL `{0}` (http:// or https:// only)")]
    Url(String),
}

/// Build identity, as printed by `ARTIFACT version --json` and served by `GET /version`: the
/// `protocol` crate's document.
pub use protocol::Version as BuildInfo;

/// Send one request on `stream` and read the whole response.
pub async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    method: &str,
    host: &str,
    path: &str,
    what: &str,
) -> Result<Response, ProbeError> {
    exchange(stream, method, host, path, what, "").await
}

/// [`request`] with `Authorization: Bearer <token>` (the master's admin `POST /restart`).
/// A token with control characters or blanks is refused before anything is sent.
pub async fn request_with_token<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    method: &str,
    host: &str,
    path: &str,
    what: &str,
    token: &str,
) -> Result<Response, ProbeError> {
    if token.is_empty() || token.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ProbeError::Io(
            what.to_string(),
            "the admin token is empty or holds blanks or control characters".into(),
        ));
    }
    let header = format!("Authorization: Bearer {token}\r\n");
    exchange(stream, method, host, path, what, &header).await
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    method: &str,
    host: &str,
    path: &str,
    what: &str,
    headers: &str,
) -> Result<Response, ProbeError> {
    let io = |e: std::io::Error| ProbeError::Io(what.to_string(), e.to_string());
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: deployctl\r\n{headers}Connection: close\r\nContent-Length: 0\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // A peer that closes right after a complete response may reset: keep what we have.
            Err(e) if !buf.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(io(e)),
        }
        if buf.len() > 4 << 20 {
            return Err(ProbeError::Malformed(
                what.into(),
                "response larger than 4 MiB".into(),
            ));
        }
    }
    parse(&buf).map_err(|m| ProbeError::Malformed(what.to_string(), m))
}

/// Parse a full HTTP/1.1 response (Content-Length, chunked or read-to-close bodies).
pub fn parse(raw: &[u8]) -> Result<Response, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "non-UTF-8 headers")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("empty response")?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line `{status_line}`"))?;
    let mut chunked = false;
    let mut length = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            } else if k == "content-length" {
                length = v.parse::<usize>().ok();
            }
        }
    }
    let body = &raw[end + 4..];
    let body = if chunked {
        dechunk(body)?
    } else if let Some(n) = length {
        body.get(..n)
            .ok_or("body shorter than Content-Length")?
            .to_vec()
    } else {
        body.to_vec()
    };
    Ok(Response {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n").ok_or("bad chunk")?;
        let size_str = std::str::from_utf8(&b[..nl]).map_err(|_| "bad chunk size")?;
        let size = usize::from_str_radix(size_str.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size `{size_str}`"))?;
        b = &b[nl + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(b.get(..size).ok_or("truncated chunk")?);
        b = b.get(size + 2..).ok_or("truncated chunk")?;
    }
}

/// `GET base+path` for an `http://host:port` base URL, bounded by `timeout`.
pub async fn get_url(base: &str, path: &str, timeout: Duration) -> Result<Response, ProbeError> {
    get_url_ca(base, path, timeout, None).await
}

/// Like [`get_url`]; `https://` URLs go through the system `curl` (TLS verified against
/// `ca_file`, or the system trust store when `None`).
pub async fn get_url_ca(
    base: &str,
    path: &str,
    timeout: Duration,
    ca_file: Option<&std::path::Path>,
) -> Result<Response, ProbeError> {
    let what = format!("{base}{path}");
    if base.starts_with("https://") {
        return https_get(&what, timeout, ca_file).await;
    }
    let hostport = base
        .strip_prefix("http://")
        .ok_or_else(|| ProbeError::Url(base.to_string()))?
        .trim_end_matches('/');
    let fut = async {
        let s = tokio::net::TcpStream::connect(hostport)
            .await
            .map_err(|e| ProbeError::Io(what.clone(), e.to_string()))?;
        request(s, "GET", hostport, path, &what).await
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| ProbeError::Timeout(what.clone()))?
}

async fn https_get(
    url: &str,
    timeout: Duration,
    ca_file: Option<&std::path::Path>,
) -> Result<Response, ProbeError> {
    let mut cmd = tokio::process::Command::new("curl");
    // `-q` first: a ~/.curlrc (say with `insecure`) must not change how TLS is checked.
    cmd.args(["-q", "-sS", "-i", "--http1.1", "--max-time"])
        .arg(format!("{:.1}", timeout.as_secs_f64()))
        .kill_on_drop(true);
    if let Some(ca) = ca_file {
        cmd.arg("--cacert").arg(ca);
    }
    cmd.arg("--").arg(url);
    let out = tokio::time::timeout(timeout + Duration::from_secs(1), cmd.output())
        .await
        .map_err(|_| ProbeError::Timeout(url.to_string()))?
        .map_err(|e| ProbeError::Io(url.to_string(), format!("curl: {e}")))?;
    if !out.status.success() {
        return Err(ProbeError::Io(
            url.to_string(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    parse(&out.stdout).map_err(|m| ProbeError::Malformed(url.to_string(), m))
}

/// Run `ARTIFACT version --json` locally: the build this rollout must see served.
pub async fn artifact_build(path: &std::path::Path) -> Result<BuildInfo, String> {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(path)
            .args(["version", "--json"])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| format!("{} version --json: timed out", path.display()))?
    .map_err(|e| format!("{} version --json: {e}", path.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} version --json exited with {}: {}",
            path.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("{} version --json: not a build JSON: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_chunked_and_close_delimited_bodies() {
        let r = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nreadyXX").unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "ready"));
        let r = parse(b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nnot\r\n6\r\n ready\r\n0\r\n\r\n").unwrap();
        assert_eq!((r.status, r.body.as_str()), (503, "not ready"));
        let r = parse(b"HTTP/1.0 200 OK\r\n\r\npong").unwrap();
        assert_eq!(r.body, "pong");
        assert!(parse(b"garbage").is_err());
    }

    #[tokio::test]
    async fn get_url_talks_to_a_real_socket() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 1024];
            let n = s.read(&mut buf).await.unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npong")
                .await
                .unwrap();
            req
        });
        let r = get_url(
            &format!("http://127.0.0.1:{port}"),
            "/ping",
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(
            r,
            Response {
                status: 200,
                body: "pong".into()
            }
        );
        assert!(server.await.unwrap().starts_with("GET /ping HTTP/1.1\r\n"));
        assert!(matches!(
            get_url("ftp://x", "/", Duration::from_secs(1)).await,
            Err(ProbeError::Url(_))
        ));
    }

    #[test]
    fn build_info_reads_the_contract_json() {
        let b: BuildInfo = serde_json::from_str(r#"{"service":"hotel-api","version":"0.1.0","commit":"abc","build_time":"t","label":"v2","build_id":"id2","pid":7,"generation":3}"#).unwrap();
        assert_eq!(b.build_id, "id2");
        assert_eq!(b.generation, Some(3));
    }
}
