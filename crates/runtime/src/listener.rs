//! Listening sockets owned by the master: parsing `name=addr` specs, binding once with
//! `SO_REUSEADDR`, and probing a busy address for a bounded time before giving up.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, Socket, Type};

/// Where a listener listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP address such as `127.0.0.1:8080` or `[::1]:8080`.
    Tcp(SocketAddr),
    /// A Unix-domain stream socket path, written `unix:/run/app.sock`.
    Unix(PathBuf),
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(a) => write!(f, "{a}"),
            ListenAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// A named listener, written `name=addr` (the name defaults to `http`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenSpec {
    /// Name handed to the worker in `LISTEN_FDNAMES`.
    pub name: String,
    /// The address.
    pub addr: ListenAddr,
}

/// Errors about listeners.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The spec could not be parsed.
    #[error("invalid listen spec {spec:?}: {reason}")]
    InvalidSpec {
        /// What was given.
        spec: String,
        /// Why it was refused.
        reason: String,
    },
    /// The address stayed busy for the whole probe window.
    #[error("address {addr} is already in use; gave up after probing for {waited:?} (is another instance running?)")]
    Busy {
        /// The address.
        addr: ListenAddr,
        /// How long it was probed.
        waited: Duration,
    },
    /// Any other bind/listen failure.
    #[error("cannot listen on {addr}: {source}")]
    Io {
        /// The address.
        addr: ListenAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl FromStr for ListenSpec {
    type Err = ListenError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| ListenError::InvalidSpec {
            spec: s.to_string(),
            reason: reason.to_string(),
        };
        let (name, addr) = match s.split_once('=') {
            Some((n, a)) => (n.trim(), a.trim()),
            None => ("http", s.trim()),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                "the name must be non-empty ASCII letters, digits, '-' or '_'",
            ));
        }
        if name == PRIVATE_NAME {
            return Err(invalid(
                "the name `private` is reserved for the per-worker readiness listener",
            ));
        }
        let addr = if let Some(path) = addr.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(invalid("unix: needs a path"));
            }
            ListenAddr::Unix(PathBuf::from(path))
        } else {
            let mut addrs = addr
                .to_socket_addrs()
                .map_err(|e| invalid(&format!("expected HOST:PORT or unix:PATH ({e})")))?;
            ListenAddr::Tcp(
                addrs
                    .next()
                    .ok_or_else(|| invalid("the host resolved to no address"))?,
            )
        };
        Ok(ListenSpec {
            name: name.to_string(),
            addr,
        })
    }
}

impl fmt::Display for ListenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.addr)
    }
}

/// The name under which each worker receives its private readiness listener.
pub const PRIVATE_NAME: &str = "private";

/// A bound, listening socket held by the master for the lifetime of the process.
#[derive(Debug)]
pub struct BoundListener {
    /// What was asked for.
    pub spec: ListenSpec,
    /// The socket (close-on-exec in the master; dup'ed onto fd 3+ in each worker).
    pub socket: Socket,
    /// The address actually bound (differs from the spec for port 0).
    pub local: ListenAddr,
}

/// How long and how often a busy address is probed.
#[derive(Clone, Copy, Debug)]
pub struct BindPolicy {
    /// Total time to keep trying while the address is in use.
    pub busy_timeout: Duration,
    /// Pause between two attempts.
    pub probe_interval: Duration,
    /// Listen backlog (the one kernel accept queue every worker shares).
    pub backlog: i32,
    /// Set `SO_REUSEPORT` (compatibility mode: each worker binds its own socket).
    pub reuse_port: bool,
    /// Bind only; the caller calls `listen(backlog)` later. With `SO_REUSEPORT` a socket joins
    /// the kernel's connection split only when it listens, so a warming-up worker gets nothing.
    pub defer_listen: bool,
}

impl Default for BindPolicy {
    fn default() -> Self {
        BindPolicy {
            busy_timeout: Duration::from_secs(30),
            probe_interval: Duration::from_millis(250),
            backlog: 4096,
            reuse_port: false,
            defer_listen: false,
        }
    }
}

/// Binds and listens on `spec`, probing while the address is busy, up to `policy.busy_timeout`.
pub fn bind(spec: &ListenSpec, policy: &BindPolicy) -> Result<BoundListener, ListenError> {
    let started = Instant::now();
    loop {
        match try_bind(spec, policy) {
            Ok(bound) => return Ok(bound),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                let waited = started.elapsed();
                if waited >= policy.busy_timeout {
                    return Err(ListenError::Busy {
                        addr: spec.addr.clone(),
                        waited,
                    });
                }
                tracing::warn!(event = "bind_busy", addr = %spec.addr, waited_ms = waited.as_millis() as u64, "address in use, probing again");
                std::thread::sleep(policy.probe_interval.min(policy.busy_timeout - waited));
            }
            Err(source) => {
                return Err(ListenError::Io {
                    addr: spec.addr.clone(),
                    source,
                })
            }
        }
    }
}

/// Whether nobody listens on `spec` any more (port reconciliation of the compatibility mode):
/// a plain bind, without `SO_REUSEPORT`, succeeds only on a released port.
pub fn is_free(spec: &ListenSpec) -> bool {
    let probe = BindPolicy {
        backlog: 1,
        ..BindPolicy::default()
    };
    match &spec.addr {
        ListenAddr::Tcp(_) => {
            !matches!(try_bind(spec, &probe), Err(e) if e.kind() == std::io::ErrorKind::AddrInUse)
        }
        ListenAddr::Unix(_) => true,
    }
}

fn try_bind(spec: &ListenSpec, policy: &BindPolicy) -> std::io::Result<BoundListener> {
    let backlog = policy.backlog;
    let (socket, sockaddr) = match &spec.addr {
        ListenAddr::Tcp(a) => {
            let s = Socket::new(Domain::for_address(*a), Type::STREAM, None)?;
            s.set_reuse_address(true)?;
            #[cfg(unix)]
            if policy.reuse_port {
                s.set_reuse_port(true)?;
            }
            if a.is_ipv6() {
                s.set_only_v6(true)?;
            }
            (s, SockAddr::from(*a))
        }
        ListenAddr::Unix(path) => {
            remove_stale_unix_socket(path)?;
            (
                Socket::new(Domain::UNIX, Type::STREAM, None)?,
                SockAddr::unix(path)?,
            )
        }
    };
    socket.bind(&sockaddr)?;
    if !policy.defer_listen {
        socket.listen(backlog)?;
    }
    let local = match &spec.addr {
        ListenAddr::Tcp(_) => ListenAddr::Tcp(
            socket
                .local_addr()?
                .as_socket()
                .ok_or_else(|| std::io::Error::other("bound TCP socket has no IP address"))?,
        ),
        ListenAddr::Unix(p) => ListenAddr::Unix(p.clone()),
    };
    Ok(BoundListener {
        spec: spec.clone(),
        socket,
        local,
    })
}

/// A Unix socket file left by a dead process is removed; one that still accepts is "in use".
fn remove_stale_unix_socket(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                match std::os::unix::net::UnixStream::connect(path) {
                    Ok(_) => Err(std::io::Error::from(std::io::ErrorKind::AddrInUse)),
                    Err(_) => std::fs::remove_file(path),
                }
            }
            Ok(_) => Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "path exists and is not a socket",
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_named_and_unnamed_specs() {
        let s: ListenSpec = "api=127.0.0.1:8080".parse().unwrap();
        assert_eq!(s.name, "api");
        assert_eq!(s.addr, ListenAddr::Tcp("127.0.0.1:8080".parse().unwrap()));
        let s: ListenSpec = "127.0.0.1:0".parse().unwrap();
        assert_eq!(s.name, "http");
        let s: ListenSpec = "ctl=unix:/tmp/x.sock".parse().unwrap();
        assert_eq!(s.addr, ListenAddr::Unix("/tmp/x.sock".into()));
    }

    #[test]
    fn rejects_bad_specs() {
        for bad in [
            "=127.0.0.1:1",
            "a b=127.0.0.1:1",
            "x=nonsense",
            "x=unix:",
            "private=127.0.0.1:1",
        ] {
            assert!(
                bad.parse::<ListenSpec>().is_err(),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn busy_address_fails_after_probe_window_naming_the_address() {
        let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = holder.local_addr().unwrap();
        let spec: ListenSpec = format!("http={addr}").parse().unwrap();
        let policy = BindPolicy {
            busy_timeout: Duration::from_millis(300),
            probe_interval: Duration::from_millis(50),
            backlog: 16,
            reuse_port: false,
            defer_listen: false,
        };
        let err = bind(&spec, &policy).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ListenError::Busy { .. }), "{msg}");
        assert!(msg.contains(&addr.to_string()), "{msg}");
    }

    #[cfg(unix)]
    #[test]
    fn stale_unix_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let spec: ListenSpec = format!("u=unix:{}", path.display()).parse().unwrap();
        let bound = bind(&spec, &BindPolicy::default()).unwrap();
        assert_eq!(bound.local, ListenAddr::Unix(path));
    }
}
