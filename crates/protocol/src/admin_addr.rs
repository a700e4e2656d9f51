//! The address of a master's admin endpoint: the master's `--admin`, `ctl --admin`, and the
//! deployctl inventory's `service.admin` all parse it here.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where a master's admin endpoint listens: a loopback TCP address (never reachable from the
/// network) or a Unix socket path. Written `HOST:PORT` (`127.0.0.1:9901`, `[::1]:9901`,
/// `localhost:9901`; the host must resolve to a loopback address) or `unix:PATH`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AdminAddr {
    /// A loopback TCP address.
    Tcp(SocketAddr),
    /// A Unix-domain stream socket.
    Unix(PathBuf),
}

/// Why a string is not an admin address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminAddrError {
    /// `unix:` with nothing after it.
    #[error("unix: needs a path")]
    EmptyUnixPath,
    /// Neither `unix:PATH` nor a `HOST:PORT` that resolves.
    #[error(
        "invalid admin address {given:?}: expected loopback HOST:PORT or unix:PATH ({reason})"
    )]
    Syntax {
        /// What was given.
        given: String,
        /// What the resolver said.
        reason: String,
    },
    /// A TCP address that is not loopback.
    #[error("{0} is not a loopback address; the admin endpoint must stay local")]
    NotLoopback(SocketAddr),
}

impl AdminAddr {
    /// The TCP address, if this is one.
    pub fn tcp(&self) -> Option<SocketAddr> {
        match self {
            AdminAddr::Tcp(a) => Some(*a),
            AdminAddr::Unix(_) => None,
        }
    }
}

impl FromStr for AdminAddr {
    type Err = AdminAddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(AdminAddrError::EmptyUnixPath);
            }
            return Ok(AdminAddr::Unix(PathBuf::from(path)));
        }
        let syntax = |reason: String| AdminAddrError::Syntax {
            given: s.to_string(),
            reason,
        };
        let a = s
            .to_socket_addrs()
            .map_err(|e| syntax(e.to_string()))?
            .next()
            .ok_or_else(|| syntax("the host resolved to no address".into()))?;
        if !a.ip().is_loopback() {
            return Err(AdminAddrError::NotLoopback(a));
        }
        Ok(AdminAddr::Tcp(a))
    }
}

impl fmt::Display for AdminAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminAddr::Tcp(a) => write!(f, "{a}"),
            AdminAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl Serialize for AdminAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AdminAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_tcp_and_unix_paths_parse_and_print_back() {
        for s in ["127.0.0.1:9901", "[::1]:81", "unix:/run/app/admin.sock"] {
            let a: AdminAddr = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
        let a: AdminAddr = "127.0.0.1:9901".parse().unwrap();
        assert_eq!(a.tcp().map(|t| t.port()), Some(9901));
        let u: AdminAddr = "unix:/tmp/a.sock".parse().unwrap();
        assert_eq!(u.tcp(), None);
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        assert!(matches!(
            "0.0.0.0:9000".parse::<AdminAddr>(),
            Err(AdminAddrError::NotLoopback(_))
        ));
        assert!(matches!(
            "10.0.0.5:9901".parse::<AdminAddr>(),
            Err(AdminAddrError::NotLoopback(_))
        ));
        assert_eq!(
            "unix:".parse::<AdminAddr>(),
            Err(AdminAddrError::EmptyUnixPath)
        );
        for bad in [
            "",
            "localhost",
            "127.0.0.1",
            "127.0.0.1:http",
            "127.0.0.1:99999",
        ] {
            assert!(
                matches!(bad.parse::<AdminAddr>(), Err(AdminAddrError::Syntax { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn deserialises_from_its_written_form() {
        let a: AdminAddr = serde_json::from_str(r#""127.0.0.1:9901""#).unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), r#""127.0.0.1:9901""#);
        let e = serde_json::from_str::<AdminAddr>(r#""10.0.0.1:1""#).unwrap_err();
        assert!(e.to_string().contains("loopback"), "{e}");
    }
}
