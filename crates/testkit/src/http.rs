//! A minimal blocking HTTP/1.1 client (one request per connection, `Connection: close`, every
//! step bounded), over TCP or a Unix socket: what the tests need to ask a process under test.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl From<SocketAddr> for Target {
    fn from(a: SocketAddr) -> Target {
        Target::Tcp(a)
    }
}

/// An answer: status, header lines, body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// First header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// `GET path`.
pub fn get(to: impl Into<Target>, path: &str, timeout: Duration) -> std::io::Result<Response> {
    request(to, "GET", path, None, timeout)
}

/// A bodiless request, with `Authorization: Bearer TOKEN` when given.
pub fn request(
    to: impl Into<Target>,
    method: &str,
    path: &str,
    token: Option<&str>,
    timeout: Duration,
) -> std::io::Result<Response> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if method != "GET" {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("\r\n");
    let raw = match to.into() {
        Target::Tcp(a) => {
            let s = std::net::TcpStream::connect_timeout(&a, timeout)?;
            exchange(s, &req, timeout)?
        }
        Target::Unix(p) => exchange(std::os::unix::net::UnixStream::connect(p)?, &req, timeout)?,
    };
    parse(&raw)
}

/// `GET path` on `host:port` text (a bed address); `None` when nothing answers.
pub fn get_at(addr: &str, path: &str) -> Option<Response> {
    let a: SocketAddr = addr.parse().ok()?;
    get(a, path, Duration::from_secs(3)).ok()
}

trait Stream: Read + Write {
    fn timeouts(&self, t: Duration) -> std::io::Result<()>;
}

impl Stream for std::net::TcpStream {
    fn timeouts(&self, t: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(t))?;
        self.set_write_timeout(Some(t))
    }
}

impl Stream for std::os::unix::net::UnixStream {
    fn timeouts(&self, t: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(t))?;
        self.set_write_timeout(Some(t))
    }
}

fn exchange(mut s: impl Stream, req: &str, timeout: Duration) -> std::io::Result<Vec<u8>> {
    s.timeouts(timeout)?;
    s.write_all(req.as_bytes())?;
    let mut buf = vec![];
    s.read_to_end(&mut buf)?;
    Ok(buf)
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

/// Parses a whole HTTP/1.1 answer (content-length, chunked, or up to the close).
pub fn parse(raw: &[u8]) -> std::io::Result<Response> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let rest = &raw[end + 4..];
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut r = Response {
        status,
        headers,
        body: String::new(),
    };
    let body = if r
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest)?
    } else if let Some(n) = r.header("content-length").and_then(|v| v.parse().ok()) {
        rest.get(..n).ok_or_else(|| bad("truncated body"))?.to_vec()
    } else {
        rest.to_vec()
    };
    r.body = String::from_utf8_lossy(&body).into_owned();
    Ok(r)
}

fn dechunk(mut s: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = vec![];
    loop {
        let eol = s
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| bad("chunk size"))?;
        let size = String::from_utf8_lossy(&s[..eol]);
        let n = usize::from_str_radix(size.trim(), 16).map_err(|_| bad("chunk size"))?;
        if n == 0 {
            return Ok(out);
        }
        let data = s
            .get(eol + 2..eol + 2 + n)
            .ok_or_else(|| bad("truncated chunk"))?;
        out.extend_from_slice(data);
        s = s.get(eol + 4 + n..).ok_or_else(|| bad("truncated chunk"))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_and_chunked_bodies() {
        let r = parse(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA").unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "ok"));
        let r = parse(
            b"HTTP/1.1 503 x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_str()), (503, "abcde"));
        assert!(parse(b"garbage").is_err());
    }
}
