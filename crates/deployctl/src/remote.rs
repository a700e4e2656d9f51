//! A host as the pipeline sees it: its transport plus the environment's remote layout, with
//! helpers that turn a non-zero exit into a typed error carrying the command's stderr.

use crate::inventory::{Environment, Host};
use crate::scripts::{self, Script, ScriptError};
use crate::transport::{exec_retry, ExecOutput, Transport, TransportError};
use std::time::Duration;

/// Why a step on a host failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("{what} failed (exit {status}): {stderr}")]
    Command {
        what: String,
        status: i32,
        stderr: String,
    },
    #[error("{0}")]
    Check(String),
    #[error(transparent)]
    Script(#[from] ScriptError),
    #[error("{what}: no answer within {secs}s (step timeout); the host is left as it is")]
    Timeout { what: String, secs: u64 },
}

/// One connected host of the run.
pub struct RemoteHost {
    pub host: Host,
    /// Shared with the lease renewal task.
    pub t: std::sync::Arc<dyn Transport>,
    /// Upper bound of every command ([`crate::inventory::Remote::step_timeout_s`]).
    pub step_timeout: Duration,
}

impl RemoteHost {
    pub fn new(host: Host, t: Box<dyn Transport>) -> Self {
        RemoteHost {
            host,
            t: t.into(),
            step_timeout: Duration::from_secs(120),
        }
    }

    /// This machine as a host over the local transport (unit tests of the remote scripts).
    #[cfg(test)]
    pub(crate) fn local_for_tests() -> Self {
        let h = Host {
            name: "local".into(),
            address: "127.0.0.1".into(),
            user: "root".into(),
            port: 22,
            roles: vec![],
            dr: false,
            gray: false,
            external_url: "http://127.0.0.1:1".into(),
        };
        RemoteHost::new(
            h,
            Box::new(crate::transport::local::LocalTransport::new("local")),
        )
    }

    pub fn with_step_timeout(mut self, d: Duration) -> Self {
        self.step_timeout = d;
        self
    }

    /// `fut` bounded by the step timeout.
    pub async fn bounded<T>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, HostError>>,
    ) -> Result<T, HostError> {
        tokio::time::timeout(self.step_timeout, fut)
            .await
            .unwrap_or_else(|_| {
                Err(HostError::Timeout {
                    what: what.to_string(),
                    secs: self.step_timeout.as_secs(),
                })
            })
    }

    /// Run an idempotent command (retried across reconnects); non-zero exit is an error.
    pub async fn run(&self, what: &str, argv: &[String]) -> Result<String, HostError> {
        let out = self
            .bounded(what, async {
                Ok(exec_retry(self.t.as_ref(), argv, None).await?)
            })
            .await?;
        check(what, out)
    }

    /// Run a command that must not be repeated blindly (install, signal, start): one
    /// attempt, bounded; a lost connection is returned for the caller to re-read the host.
    pub async fn run_once(&self, what: &str, argv: &[String]) -> Result<String, HostError> {
        let out = self
            .bounded(what, async { Ok(self.t.exec(argv, None).await?) })
            .await?;
        check(what, out)
    }

    /// Like [`script`](Self::script), one attempt only ([`run_once`](Self::run_once)).
    pub async fn script_once(
        &self,
        what: &str,
        script: &Script,
        args: &[&str],
    ) -> Result<String, HostError> {
        self.run_once(what, &scripts::argv(script, args)).await
    }

    /// Run a script ([`scripts::argv`]: its values are positional arguments, never part of
    /// its text), retried like [`run`](Self::run); its stdout for the script's parser.
    pub async fn script(
        &self,
        what: &str,
        script: &Script,
        args: &[&str],
    ) -> Result<String, HostError> {
        self.run(what, &scripts::argv(script, args)).await
    }

    /// Like [`script`](Self::script) but feeding `stdin`, not retried (the caller decides).
    pub async fn script_stdin(
        &self,
        what: &str,
        script: &Script,
        args: &[&str],
        stdin: &[u8],
    ) -> Result<ExecOutput, TransportError> {
        let argv = scripts::argv(script, args);
        tokio::time::timeout(self.step_timeout, self.t.exec(&argv, Some(stdin)))
            .await
            .unwrap_or_else(|_| {
                Err(TransportError::Other {
                    host: self.host.name.clone(),
                    detail: format!(
                        "{what}: no answer within {}s (step timeout)",
                        self.step_timeout.as_secs()
                    ),
                })
            })
    }
}

fn check(what: &str, out: ExecOutput) -> Result<String, HostError> {
    if out.ok() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(HostError::Command {
            what: what.to_string(),
            status: out.status,
            stderr: out.stderr_str(),
        })
    }
}

/// Paths of the deployed files on a host.
#[derive(Debug, Clone)]
pub struct Layout {
    pub install_dir: String,
    pub backup_dir: String,
    pub binary: String,
    pub binary_name: String,
    pub keep: usize,
    /// (remote path, sudo) of every config file.
    pub configs: Vec<(String, bool)>,
    pub audit_file: String,
    /// The host's release history ([`crate::releases`]).
    pub history_file: String,
}

impl Layout {
    /// Every installed file: (path, sudo), the binary first.
    pub fn files(&self) -> Vec<(String, bool)> {
        let mut v = vec![(self.binary.clone(), false)];
        v.extend(self.configs.iter().cloned());
        v
    }

    pub fn of(env: &Environment) -> Self {
        let dir = env.remote.install_dir.trim_end_matches('/').to_string();
        let abs = |p: &str| {
            if p.starts_with('/') {
                p.to_string()
            } else {
                format!("{dir}/{p}")
            }
        };
        Layout {
            binary: abs(&env.artifact.name),
            binary_name: env.artifact.name.clone(),
            backup_dir: env.remote.backup_dir.trim_end_matches('/').to_string(),
            keep: env.remote.keep_backups,
            configs: env
                .artifact
                .config
                .iter()
                .map(|c| (abs(&c.dest), c.sudo))
                .collect(),
            audit_file: format!("{dir}/.deploy/audit.jsonl"),
            history_file: format!("{dir}/.deploy/history.jsonl"),
            install_dir: dir,
        }
    }
}
