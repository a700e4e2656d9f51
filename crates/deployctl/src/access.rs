//! Reaching a host of an environment the way deployctl does, for other tools (gatecheck):
//! the environment's transport (OpenSSH, native SSH or local), its `known_hosts` and
//! identity, bounded connection set-up. Only what those tools need is offered: a byte stream
//! to a port on the host's loopback interface, and reading a small secret file. The
//! transport itself stays inside deployctl.

use crate::inventory::{Environment, Host};
use crate::transport::{self, ConnectOptions, Transport, TransportError};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

/// Why a host could not be reached or read.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Connecting, authenticating, or the connection itself failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The host answered but refused (the remote error output, trimmed).
    #[error("{0}")]
    Refused(String),
}

/// Bound of [`HostLink::read_secret`] (a small file: anything longer is a hung host).
const SECRET_READ_S: u64 = 30;

/// A connection to one host (cheap to clone; every clone shares it).
#[derive(Clone)]
pub struct HostLink {
    t: Arc<dyn Transport>,
}

impl std::fmt::Debug for HostLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostLink")
            .field("host", &self.t.host())
            .finish()
    }
}

impl HostLink {
    /// Connect to `host` with `env`'s transport settings (retrying transient failures).
    pub async fn connect(env: &Environment, host: &Host) -> Result<HostLink, AccessError> {
        let opts = ConnectOptions::for_env(env);
        let t = transport::connect(&opts, host).await?;
        Ok(HostLink { t: Arc::from(t) })
    }

    /// The inventory name of the host.
    pub fn host(&self) -> &str {
        self.t.host()
    }

    /// A byte stream to `127.0.0.1:port` as seen from the host.
    pub async fn tunnel(
        &self,
        port: u16,
    ) -> Result<impl AsyncRead + AsyncWrite + Send + Unpin + use<>, AccessError> {
        Ok(self.t.tunnel(port).await?)
    }

    /// The first 4 KiB of `file` on the host, trimmed; an empty or unreadable file is
    /// [`AccessError::Refused`] with the host's error output.
    pub async fn read_secret(&self, file: &str) -> Result<String, AccessError> {
        let argv: Vec<String> = ["head", "-c", "4096", "--", file]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let bound = std::time::Duration::from_secs(SECRET_READ_S);
        let out = tokio::time::timeout(bound, self.t.exec(&argv, None))
            .await
            .map_err(|_| {
                AccessError::Refused(format!("reading {file}: no answer within {bound:?}"))
            })??;
        let secret = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.ok() || secret.is_empty() {
            return Err(AccessError::Refused(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        Ok(secret)
    }
}
