//! How deployctl talks to a host: one [`Transport`] trait, three implementations.
//!
//! - [`ssh`]: system OpenSSH through the `openssh` crate; one multiplexed master connection per
//!   host for the whole run, `ServerAliveInterval`, strict host-key checking.
//! - [`native`]: pure-Rust client (`russh`); same strictness against the same known_hosts file.
//! - [`local`]: this machine, no SSH.
//!
//! Every remote command is an argument vector; the SSH transports quote it with
//! [`crate::quote::join`] before it reaches the remote login shell.

pub mod local;
pub mod native;
pub mod ssh;

use crate::inventory::{Environment, Host, TransportKind};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// A boxed, sendable future (keeps [`Transport`] object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A byte stream to a port on the host's loopback interface (an SSH tunnel).
pub trait Tunnel: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Tunnel for T {}

/// What a remote command produced.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    /// Exit status; -1 when the command died from a signal.
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    pub fn ok(&self) -> bool {
        self.status == 0
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim().to_string()
    }
}

/// Why talking to a host failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    #[error("{host}: host key is not in the known_hosts file ({detail}); refusing to connect. Add the host's key to known_hosts after checking its fingerprint out of band")]
    HostKeyUnknown { host: String, detail: String },
    #[error("{host}: HOST KEY CHANGED: the key offered does not match known_hosts ({detail}); refusing to connect (possible man-in-the-middle, or the host was reinstalled)")]
    HostKeyChanged { host: String, detail: String },
    #[error("{host}: authentication failed: {detail}")]
    Auth { host: String, detail: String },
    #[error("{host}: cannot connect: {detail}")]
    Connect { host: String, detail: String },
    #[error("{host}: connection lost: {detail}")]
    Disconnected { host: String, detail: String },
    #[error("{host}: {detail}")]
    Other { host: String, detail: String },
}

impl TransportError {
    /// Worth retrying after a reconnect (reset, timeout, lost connection).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Connect { .. } | Self::Disconnected { .. })
    }
}

/// One connection to one host.
pub trait Transport: Send + Sync {
    /// Inventory name of the host.
    fn host(&self) -> &str;
    /// Run `argv` on the host, feeding `stdin` when given. A non-zero exit is not an error.
    fn exec<'a>(
        &'a self,
        argv: &'a [String],
        stdin: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<ExecOutput, TransportError>>;
    /// Open a stream to `127.0.0.1:port` as seen from the host.
    fn tunnel(&self, port: u16) -> BoxFuture<'_, Result<Box<dyn Tunnel>, TransportError>>;
    /// Drop the current connection and open a new one.
    fn reconnect(&self) -> BoxFuture<'_, Result<(), TransportError>>;
    /// Close the connection (end of run).
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// Connection settings shared by the SSH transports.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub kind: TransportKind,
    pub known_hosts: Option<std::path::PathBuf>,
    pub identity: Option<std::path::PathBuf>,
    pub ssh_config: Option<std::path::PathBuf>,
    pub connect_timeout: Duration,
    pub keepalive: Duration,
    /// Attempts for transient connect failures.
    pub attempts: u32,
}

impl ConnectOptions {
    pub fn for_env(env: &Environment) -> Self {
        ConnectOptions {
            kind: env.transport,
            known_hosts: env.known_hosts.clone(),
            identity: env.identity.clone(),
            ssh_config: env.ssh_config.clone(),
            connect_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(5),
            attempts: 3,
        }
    }
}

/// Connect to `host` with the environment's transport, retrying transient failures.
pub async fn connect(
    opts: &ConnectOptions,
    host: &Host,
) -> Result<Box<dyn Transport>, TransportError> {
    match opts.kind {
        TransportKind::Local => Ok(Box::new(local::LocalTransport::new(&host.name))),
        TransportKind::Ssh => {
            let t = retry(opts.attempts, || ssh::SshTransport::connect(opts, host)).await?;
            posix_shell(&t, opts.connect_timeout).await?;
            Ok(Box::new(t))
        }
        TransportKind::Native => {
            let t = retry(opts.attempts, || {
                native::NativeTransport::connect(opts, host)
            })
            .await?;
            posix_shell(&t, opts.connect_timeout).await?;
            Ok(Box::new(t))
        }
    }
}

/// A word that only a POSIX shell reads back unchanged from its [`crate::quote`]d form. The
/// newline matters: csh/tcsh read every other character of it back unchanged, and fail only
/// on a newline inside quotes (which every multi-line script has).
const SHELL_PROBE: &str = "a'b \"c\" $d `e` \\f *;|&<>{}~#%!\nz";

/// Every command is quoted for a POSIX shell; a login shell that reads quotes differently
/// (fish, csh) would run something else. Checked once per connection.
pub async fn posix_shell(t: &dyn Transport, bound: Duration) -> Result<(), TransportError> {
    let argv: Vec<String> = ["printf", "%s", SHELL_PROBE].map(String::from).to_vec();
    let out = tokio::time::timeout(bound, t.exec(&argv, None))
        .await
        .map_err(|_| TransportError::Connect {
            host: t.host().to_string(),
            detail: format!("shell check: no answer within {bound:?}"),
        })??;
    if out.ok() && out.stdout == SHELL_PROBE.as_bytes() {
        return Ok(());
    }
    Err(TransportError::Other {
        host: t.host().to_string(),
        detail: format!(
            "the remote login shell is not POSIX: a quoted test word came back as {:?} (exit {}); deployctl's quoting needs sh, bash, dash or ksh",
            String::from_utf8_lossy(&out.stdout),
            out.status
        ),
    })
}

/// Backoff before attempt `n` (1-based): 200 ms, 400 ms, 800 ms, ... capped at 5 s.
pub fn backoff(n: u32) -> Duration {
    Duration::from_millis((100u64 << n.min(6)).min(5000))
}

/// Run `op` up to `attempts` times while it fails transiently, sleeping [`backoff`] between.
pub async fn retry<T, F, Fut>(attempts: u32, mut op: F) -> Result<T, TransportError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, TransportError>>,
{
    let mut n = 1;
    loop {
        match op().await {
            Err(e) if e.is_transient() && n < attempts => {
                tokio::time::sleep(backoff(n)).await;
                n += 1;
            }
            other => return other,
        }
    }
}

/// Run `argv` and, when the connection dropped, reconnect and try again (bounded).
/// Only for idempotent commands.
pub async fn exec_retry(
    t: &dyn Transport,
    argv: &[String],
    stdin: Option<&[u8]>,
) -> Result<ExecOutput, TransportError> {
    let mut n = 1;
    loop {
        match t.exec(argv, stdin).await {
            Err(e) if e.is_transient() && n < 4 => {
                tokio::time::sleep(backoff(n)).await;
                let _ = t.reconnect().await;
                n += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(2), Duration::from_millis(400));
        assert_eq!(backoff(20), Duration::from_millis(5000));
    }

    #[tokio::test]
    async fn retry_stops_on_permanent_errors_and_retries_transient_ones() {
        let mut calls = 0;
        let r: Result<(), _> = retry(3, || {
            calls += 1;
            async {
                Err(TransportError::Connect {
                    host: "h".into(),
                    detail: "reset".into(),
                })
            }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls, 3);
        let mut calls = 0;
        let r: Result<(), _> = retry(3, || {
            calls += 1;
            async {
                Err(TransportError::HostKeyChanged {
                    host: "h".into(),
                    detail: "x".into(),
                })
            }
        })
        .await;
        assert!(matches!(r, Err(TransportError::HostKeyChanged { .. })));
        assert_eq!(calls, 1);
    }
}
