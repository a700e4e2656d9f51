//! The `ssh` transport: system OpenSSH via the `openssh` crate.
//!
//! One master connection per host (ControlMaster, multiplexed) carries every command and
//! tunnel of the run. `StrictHostKeyChecking=yes` (never learns keys), `BatchMode=yes`
//! (never prompts), `ServerAliveInterval` keep-alive. `~/.ssh/config`, the agent and
//! ProxyJump keep working because this is the user's own ssh.

use super::{BoxFuture, ConnectOptions, ExecOutput, Transport, TransportError, Tunnel};
use crate::inventory::Host;
use crate::quote;
use openssh::{ForwardType, KnownHosts, Session, SessionBuilder, Socket, Stdio};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;

pub struct SshTransport {
    name: String,
    destination: String,
    builder: SessionBuilder,
    /// `None` once closed.
    session: tokio::sync::RwLock<Option<Arc<Session>>>,
    /// Unix sockets of local forwards already requested on the current session.
    forwards: Mutex<HashSet<u16>>,
    sockdir: tempfile::TempDir,
    generation: std::sync::atomic::AtomicU64,
    connect_timeout: std::time::Duration,
}

impl SshTransport {
    pub async fn connect(opts: &ConnectOptions, host: &Host) -> Result<Self, TransportError> {
        let mut b = SessionBuilder::default();
        b.known_hosts_check(KnownHosts::Strict)
            .user(host.user.clone())
            .port(host.port)
            .connect_timeout(opts.connect_timeout)
            .server_alive_interval(opts.keepalive)
            .control_persist(openssh::ControlPersist::IdleFor(
                std::num::NonZeroUsize::new(300).expect("non-zero"),
            ));
        if let Some(kh) = &opts.known_hosts {
            b.user_known_hosts_file(kh);
        }
        if let Some(id) = &opts.identity {
            b.keyfile(id);
        }
        let sockdir = tempfile::Builder::new()
            .prefix("deployctl-ssh")
            .tempdir()
            .map_err(|e| TransportError::Other {
                host: host.name.clone(),
                detail: format!("control dir: {e}"),
            })?;
        let cfg = strict_config(sockdir.path(), opts.ssh_config.as_deref()).map_err(|e| {
            TransportError::Other {
                host: host.name.clone(),
                detail: format!("ssh config: {e}"),
            }
        })?;
        b.config_file(cfg);
        b.control_directory(sockdir.path());
        let session = open(&b, &host.address, &host.name).await?;
        Ok(SshTransport {
            name: host.name.clone(),
            destination: host.address.clone(),
            builder: b,
            session: tokio::sync::RwLock::new(Some(Arc::new(session))),
            forwards: Mutex::new(HashSet::new()),
            sockdir,
            generation: 0.into(),
            connect_timeout: opts.connect_timeout,
        })
    }

    async fn current(&self) -> Result<Arc<Session>, TransportError> {
        self.session
            .read()
            .await
            .clone()
            .ok_or_else(|| TransportError::Other {
                host: self.name.clone(),
                detail: "connection already closed".into(),
            })
    }

    fn classify(&self, e: openssh::Error) -> TransportError {
        classify(&self.name, e)
    }

    async fn run(
        &self,
        argv: &[String],
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, TransportError> {
        let session = self.current().await?;
        let mut cmd = session.raw_command(quote::join(argv));
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().await.map_err(|e| self.classify(e))?;
        let input = child.stdin().take();
        let feed = async {
            if let (Some(mut w), Some(data)) = (input, stdin) {
                w.write_all(data).await?;
                w.shutdown().await?;
            }
            Ok::<_, std::io::Error>(())
        };
        let (fed, out) = tokio::join!(feed, child.wait_with_output());
        let out = out.map_err(|e| self.classify(e))?;
        if let Err(e) = fed {
            return Err(TransportError::Disconnected {
                host: self.name.clone(),
                detail: format!("writing stdin: {e}"),
            });
        }
        // ssh itself exits 255 when the connection (not the command) failed.
        if out.status.code() == Some(255) && session.check().await.is_err() {
            return Err(TransportError::Disconnected {
                host: self.name.clone(),
                detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(ExecOutput {
            status: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    fn socket_path(&self, port: u16) -> PathBuf {
        let g = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        self.sockdir.path().join(format!("fwd-{g}-{port}.sock"))
    }

    async fn open_tunnel(&self, port: u16) -> Result<Box<dyn Tunnel>, TransportError> {
        let session = self.current().await?;
        let path = self.socket_path(port);
        let fresh = self.forwards.lock().expect("forwards lock").insert(port);
        if fresh {
            let listen = Socket::UnixSocket {
                path: path.clone().into(),
            };
            let target = Socket::TcpSocket {
                host: "127.0.0.1".into(),
                port,
            };
            let bound = self.connect_timeout;
            let asked = session.request_port_forward(ForwardType::Local, listen, target);
            let res = match tokio::time::timeout(bound, asked).await {
                Ok(r) => r.map_err(|e| self.classify(e)),
                Err(_) => Err(TransportError::Disconnected {
                    host: self.name.clone(),
                    detail: format!("tunnel to 127.0.0.1:{port}: not set up within {bound:?}"),
                }),
            };
            if let Err(e) = res {
                self.forwards.lock().expect("forwards lock").remove(&port);
                return Err(e);
            }
        }
        let s = tokio::net::UnixStream::connect(&path).await.map_err(|e| {
            TransportError::Disconnected {
                host: self.name.clone(),
                detail: format!("tunnel to 127.0.0.1:{port}: {e}"),
            }
        })?;
        Ok(Box::new(s))
    }
}

/// The `-F` file of every connection: `GlobalKnownHostsFile /dev/null` first (the first value
/// of an option wins, so only the inventory's known_hosts is trusted, never
/// /etc/ssh/ssh_known_hosts), then the inventory's ssh_config, or else `~/.ssh/config`, included.
fn strict_config(
    dir: &std::path::Path,
    user: Option<&std::path::Path>,
) -> std::io::Result<PathBuf> {
    let mut text = String::from("GlobalKnownHostsFile /dev/null\n");
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ssh/config"));
    let include = user
        .map(std::path::Path::to_path_buf)
        .or(home.filter(|p| p.exists()));
    if let Some(p) = include {
        let p = std::path::absolute(p)?;
        let p = p.to_string_lossy();
        if p.contains('"') || p.contains('\n') {
            return Err(std::io::Error::other(format!("unusable path {p:?}")));
        }
        text.push_str(&format!("Include \"{p}\"\n"));
    }
    let path = dir.join("ssh_config");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Where ssh connects for `host` once ssh_config applied (`ssh -G`: `HostName`, `Port`), so
/// that an alias is probed at its real address; the inventory's own values when `ssh -G`
/// cannot tell (bounded by 5 s).
pub async fn effective_target(opts: &ConnectOptions, host: &Host) -> (String, u16) {
    let fallback = (host.address.clone(), host.port);
    let mut cmd = tokio::process::Command::new("ssh");
    cmd.arg("-G");
    if let Some(cfg) = &opts.ssh_config {
        cmd.arg("-F").arg(cfg);
    }
    cmd.args([
        "-p",
        &host.port.to_string(),
        "-l",
        &host.user,
        "--",
        &host.address,
    ])
    .stdin(std::process::Stdio::null())
    .kill_on_drop(true);
    let Ok(Ok(out)) = tokio::time::timeout(std::time::Duration::from_secs(5), cmd.output()).await
    else {
        return fallback;
    };
    if !out.status.success() {
        return fallback;
    }
    parse_ssh_g(&String::from_utf8_lossy(&out.stdout)).unwrap_or(fallback)
}

/// `hostname` and `port` from `ssh -G` output.
pub fn parse_ssh_g(out: &str) -> Option<(String, u16)> {
    let field = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|v| v.strip_prefix(' ')))
            .map(|v| v.trim().to_string())
    };
    Some((field("hostname")?, field("port")?.parse().ok()?))
}

async fn open(b: &SessionBuilder, dest: &str, name: &str) -> Result<Session, TransportError> {
    b.connect_mux(dest).await.map_err(|e| classify(name, e))
}

/// Map an openssh error (whose text carries ssh's own log) to a [`TransportError`].
fn classify(host: &str, e: openssh::Error) -> TransportError {
    let mut detail = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        src = s.source();
    }
    let detail = detail.trim().replace('\n', " ");
    let host = host.to_string();
    let lower = detail.to_lowercase();
    if lower.contains("remote host identification has changed")
        || lower.contains("host key for") && lower.contains("has changed")
    {
        TransportError::HostKeyChanged { host, detail }
    } else if lower.contains("host key verification failed")
        || lower.contains("no ") && lower.contains("host key is known")
    {
        TransportError::HostKeyUnknown { host, detail }
    } else if lower.contains("permission denied") {
        TransportError::Auth { host, detail }
    } else if matches!(e, openssh::Error::Connect(_)) {
        TransportError::Connect { host, detail }
    } else if matches!(
        e,
        openssh::Error::Disconnected
            | openssh::Error::RemoteProcessTerminated
            | openssh::Error::Master(_)
    ) || lower.contains("reset")
        || lower.contains("broken pipe")
        || lower.contains("timed out")
        || lower.contains("control socket")
        || lower.contains("mux")
    {
        TransportError::Disconnected { host, detail }
    } else {
        TransportError::Other { host, detail }
    }
}

impl Transport for SshTransport {
    fn host(&self) -> &str {
        &self.name
    }
    fn exec<'a>(
        &'a self,
        argv: &'a [String],
        stdin: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<ExecOutput, TransportError>> {
        Box::pin(self.run(argv, stdin))
    }
    fn tunnel(&self, port: u16) -> BoxFuture<'_, Result<Box<dyn Tunnel>, TransportError>> {
        Box::pin(self.open_tunnel(port))
    }
    fn reconnect(&self) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            let mut guard = self.session.write().await;
            let fresh = open(&self.builder, &self.destination, &self.name).await?;
            let old = guard.replace(Arc::new(fresh));
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.forwards.lock().expect("forwards lock").clear();
            if let Some(Ok(old)) = old.map(Arc::try_unwrap) {
                let _ = old.close().await;
            }
            Ok(())
        })
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        // `ssh -O exit` on the master, awaited (bounded) so that the run's hosts close
        // concurrently; a session still in use by a command is dropped instead.
        Box::pin(async move {
            let old = self.session.write().await.take();
            if let Some(Ok(s)) = old.map(Arc::try_unwrap) {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s.close()).await;
            }
        })
    }
}
