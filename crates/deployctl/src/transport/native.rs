//! The `native` transport: a pure-Rust SSH client (`russh`), no ssh binary needed.
//!
//! Same strictness as the `ssh` transport: the server key must already be in the known_hosts
//! file (unknown => refused, different => refused as changed). One connection per host;
//! commands and tunnels are channels on it. Public-key authentication with the inventory's
//! identity file (default `~/.ssh/id_ed25519`). Connection, authentication and every tunnel's
//! set-up are each bounded by the connect timeout.

use super::{BoxFuture, ConnectOptions, ExecOutput, Transport, TransportError, Tunnel};
use crate::inventory::Host;
use crate::quote;
use russh::client::{self, Handle};
use russh::keys::{self, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::ChannelMsg;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Verifies the server key against known_hosts and remembers why it refused.
struct Checker {
    host: String,
    port: u16,
    known_hosts: PathBuf,
    verdict: Arc<Mutex<Option<TransportError>>>,
    name: String,
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            *self.verdict.lock().expect("verdict") = Some(TransportError::HostKeyUnknown {
                host: self.name.clone(),
                detail: "server offered a certificate; only known_hosts keys are trusted".into(),
            });
            return Ok(false);
        };
        let res = trust(&self.host, self.port, key, &self.known_hosts, &self.name);
        match res {
            Ok(()) => Ok(true),
            Err(refusal) => {
                *self.verdict.lock().expect("verdict") = Some(refusal);
                Ok(false)
            }
        }
    }
}

/// Is `key` the known key of `host:port` in `known_hosts`? Refused: a key listed under
/// `@revoked`; a key of another algorithm than the ones recorded for the host (what a
/// man-in-the-middle offers when the client would accept any algorithm it has no entry for);
/// a different key; no entry at all.
pub fn trust(
    host: &str,
    port: u16,
    key: &keys::PublicKey,
    known_hosts: &std::path::Path,
    name: &str,
) -> Result<(), TransportError> {
    let fp = key.fingerprint(Default::default());
    let kh = known_hosts.display();
    let changed = |detail: String| TransportError::HostKeyChanged {
        host: name.to_string(),
        detail,
    };
    let offered = key.to_openssh().unwrap_or_default();
    let offered_b64 = offered.split_whitespace().nth(1).unwrap_or("");
    let text = std::fs::read_to_string(known_hosts).unwrap_or_default();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.first() == Some(&"@revoked") && f.get(3) == Some(&offered_b64) {
            return Err(changed(format!(
                "server key {fp} is REVOKED in {kh} line {}",
                n + 1
            )));
        }
    }
    let recorded =
        keys::known_hosts::known_host_keys_path(host, port, known_hosts).map_err(|e| {
            TransportError::HostKeyUnknown {
                host: name.to_string(),
                detail: format!("{kh}: {e}"),
            }
        })?;
    if recorded.iter().any(|(_, k)| k == key) {
        return Ok(());
    }
    if let Some((line, _)) = recorded
        .iter()
        .find(|(_, k)| k.algorithm() == key.algorithm())
    {
        return Err(changed(format!(
            "server key {fp} differs from {kh} line {line}"
        )));
    }
    if let Some((line, k)) = recorded.first() {
        return Err(changed(format!(
            "server offered a {} key ({fp}) but {kh} line {line} records a {} key for this host: possible attack, refused (never add the other key without checking out of band)",
            key.algorithm(),
            k.algorithm()
        )));
    }
    Err(TransportError::HostKeyUnknown {
        host: name.to_string(),
        detail: format!("no entry for {host}:{port} with key {fp} in {kh}"),
    })
}

pub struct NativeTransport {
    name: String,
    opts: ConnectOptions,
    host: Host,
    handle: tokio::sync::RwLock<Arc<Handle<Checker>>>,
}

impl NativeTransport {
    pub async fn connect(opts: &ConnectOptions, host: &Host) -> Result<Self, TransportError> {
        let handle = open(opts, host).await?;
        Ok(NativeTransport {
            name: host.name.clone(),
            opts: opts.clone(),
            host: host.clone(),
            handle: tokio::sync::RwLock::new(Arc::new(handle)),
        })
    }

    fn lost(&self, e: impl std::fmt::Display) -> TransportError {
        TransportError::Disconnected {
            host: self.name.clone(),
            detail: e.to_string(),
        }
    }

    /// [`Self::run_inner`], watched: russh channel operations can wait forever on a window
    /// update from a connection that died, so the connection state is checked twice a second.
    async fn run(
        &self,
        argv: &[String],
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, TransportError> {
        let handle = self.handle.read().await.clone();
        let op = self.run_inner(handle.clone(), argv, stdin);
        tokio::pin!(op);
        loop {
            tokio::select! {
                r = &mut op => return r,
                _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {
                    if handle.is_closed() {
                        return Err(self.lost("connection closed during the command"));
                    }
                }
            }
        }
    }

    async fn run_inner(
        &self,
        handle: Arc<Handle<Checker>>,
        argv: &[String],
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, TransportError> {
        let mut ch = handle
            .channel_open_session()
            .await
            .map_err(|e| self.lost(e))?;
        ch.exec(true, quote::join(argv))
            .await
            .map_err(|e| self.lost(e))?;
        if let Some(data) = stdin {
            // `data_bytes` sends packets of the peer's maximum size (32 KiB for OpenSSH);
            // `data` would copy through an 8 KiB buffer, four times the packets.
            ch.data_bytes(data.to_vec())
                .await
                .map_err(|e| self.lost(e))?;
        }
        ch.eof().await.map_err(|e| self.lost(e))?;
        let mut out = ExecOutput {
            status: -1,
            ..Default::default()
        };
        let mut got_status = false;
        while let Some(msg) = ch.wait().await {
            match msg {
                ChannelMsg::Data { data } => out.stdout.extend_from_slice(&data),
                ChannelMsg::ExtendedData { data, ext: 1 } => out.stderr.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => {
                    out.status = exit_status as i32;
                    got_status = true;
                }
                ChannelMsg::ExitSignal { .. } => got_status = true,
                _ => {}
            }
        }
        if !got_status && handle.is_closed() {
            return Err(self.lost("connection closed before the command finished"));
        }
        Ok(out)
    }
}

async fn open(opts: &ConnectOptions, host: &Host) -> Result<Handle<Checker>, TransportError> {
    let other = |detail: String| TransportError::Other {
        host: host.name.clone(),
        detail,
    };
    let (known_hosts, identity) = key_paths(opts).map_err(other)?;
    let key = keys::load_secret_key(&identity, None)
        .map_err(|e| other(format!("identity {}: {e}", identity.display())))?;
    let mut handle = connect_checked(opts, host, known_hosts).await?;
    // Authentication is bounded like the connection: a server that stalls it (a slow
    // AuthorizedKeysCommand, a hung PAM module) fails the host instead of hanging the run.
    let user = host.user.clone();
    let authenticate = async {
        let hash = handle
            .best_supported_rsa_hash()
            .await
            .map_err(|e| other(e.to_string()))?
            .flatten();
        handle
            .authenticate_publickey(user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
            .await
            .map_err(|e| other(e.to_string()))
    };
    let auth = tokio::time::timeout(opts.connect_timeout, authenticate)
        .await
        .map_err(|_| TransportError::Connect {
            host: host.name.clone(),
            detail: format!(
                "authentication: no answer within {:?}",
                opts.connect_timeout
            ),
        })??;
    if !auth.success() {
        return Err(TransportError::Auth {
            host: host.name.clone(),
            detail: format!(
                "public key {} refused for user {}",
                identity.display(),
                host.user
            ),
        });
    }
    Ok(handle)
}

/// `known_hosts` and the identity: from the inventory, else under `~/.ssh`.
fn key_paths(opts: &ConnectOptions) -> Result<(PathBuf, PathBuf), String> {
    // Without HOME, `~/.ssh/...` would silently become `.ssh/...` of the current directory.
    let home = || {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| {
                "HOME is not set: name known_hosts and identity in the inventory".to_string()
            })
    };
    let known_hosts = match &opts.known_hosts {
        Some(k) => k.clone(),
        None => home()?.join(".ssh/known_hosts"),
    };
    let identity = match &opts.identity {
        Some(i) => i.clone(),
        None => home()?.join(".ssh/id_ed25519"),
    };
    Ok((known_hosts, identity))
}

/// Connect within the connect timeout; the host key checked against `known_hosts` (a
/// refusal is returned as such, not as a connect error).
async fn connect_checked(
    opts: &ConnectOptions,
    host: &Host,
    known_hosts: PathBuf,
) -> Result<Handle<Checker>, TransportError> {
    let config = Arc::new(client::Config {
        keepalive_interval: Some(opts.keepalive),
        keepalive_max: 3,
        // Nagle plus delayed ACKs would add ~40 ms to every request/response exchange.
        nodelay: true,
        window_size: 8 << 20,
        ..Default::default()
    });
    let verdict = Arc::new(Mutex::new(None));
    let checker = Checker {
        host: host.address.clone(),
        port: host.port,
        known_hosts,
        verdict: verdict.clone(),
        name: host.name.clone(),
    };
    let addr = (host.address.as_str(), host.port);
    let connected =
        tokio::time::timeout(opts.connect_timeout, client::connect(config, addr, checker)).await;
    match connected {
        Err(_) => Err(TransportError::Connect {
            host: host.name.clone(),
            detail: format!("timed out after {:?}", opts.connect_timeout),
        }),
        Ok(Err(e)) => Err(verdict.lock().expect("verdict").take().unwrap_or_else(|| {
            TransportError::Connect {
                host: host.name.clone(),
                detail: e.to_string(),
            }
        })),
        Ok(Ok(h)) => Ok(h),
    }
}

impl Transport for NativeTransport {
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
        Box::pin(async move {
            let handle = self.handle.read().await.clone();
            let bound = self.opts.connect_timeout;
            let open = handle.channel_open_direct_tcpip("127.0.0.1", port.into(), "127.0.0.1", 0);
            let ch = tokio::time::timeout(bound, open)
                .await
                .map_err(|_| {
                    self.lost(format!(
                        "tunnel to 127.0.0.1:{port}: not opened within {bound:?}"
                    ))
                })?
                .map_err(|e| self.lost(format!("tunnel to 127.0.0.1:{port}: {e}")))?;
            Ok(Box::new(ch.into_stream()) as Box<dyn Tunnel>)
        })
    }
    fn reconnect(&self) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            let mut guard = self.handle.write().await;
            let fresh = super::retry(self.opts.attempts, || open(&self.opts, &self.host)).await?;
            *guard = Arc::new(fresh);
            Ok(())
        })
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let handle = self.handle.read().await.clone();
            // Bounded: a peer that stopped answering cannot hold the run's way out.
            let bye = handle.disconnect(russh::Disconnect::ByApplication, "done", "en");
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), bye).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keypair(dir: &std::path::Path, kind: &str) -> (String, keys::PublicKey) {
        let f = dir.join(kind);
        let st = std::process::Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-t", kind, "-f"])
            .arg(&f)
            .status()
            .unwrap();
        assert!(st.success());
        let line = std::fs::read_to_string(f.with_extension("pub")).unwrap();
        let f: Vec<&str> = line.split_whitespace().collect();
        let entry = format!("{} {}", f[0], f[1]);
        (entry, keys::parse_public_key_base64(f[1]).unwrap())
    }

    #[test]
    fn revoked_and_other_algorithm_keys_are_refused_as_possible_attacks() {
        let d = tempfile::tempdir().unwrap();
        let (ed_line, ed) = keypair(d.path(), "ed25519");
        let (ec_line, _) = keypair(d.path(), "ecdsa");
        let kh = d.path().join("known_hosts");
        let check = |text: String| {
            std::fs::write(&kh, text).unwrap();
            trust("h.example", 22, &ed, &kh, "h")
        };
        assert!(check(format!("h.example {ed_line}\n")).is_ok());
        let e = check(format!("h.example {ec_line}\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("possible attack") && e.contains("HOST KEY CHANGED"),
            "{e}"
        );
        let e = check(format!("@revoked * {ed_line}\nh.example {ed_line}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("REVOKED"), "{e}");
        let e = check(format!("other.example {ed_line}\n")).unwrap_err();
        assert!(matches!(e, TransportError::HostKeyUnknown { .. }), "{e}");
    }
}
