//! `deploy.toml`: environments, hosts, artifact, remote layout, service control, health,
//! thresholds and rollout shape. [`Inventory::load`] parses and validates the whole file before
//! anything touches a host; every error names the file, the line and the reason.
//!
//! Top-level `[remote]`, `[service]`, `[health]`, `[thresholds]` and `[rollout]` tables are the
//! defaults; an environment may replace any of them whole with `[env.NAME.remote]` etc.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

mod raw;
mod resolve;
mod validate;

pub use crate::analysis::settings::{AnalysisSettings, GraySettings};

pub use crate::lb::{LbKind, LbSettings};
pub(crate) use validate::parse_mode;

/// Why an inventory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {reason}")]
    Invalid {
        file: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{file}: unknown environment `{name}` (known: {known})")]
    UnknownEnv {
        file: PathBuf,
        name: String,
        known: String,
    },
}

/// How deployctl reaches a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// System OpenSSH through the `openssh` crate (multiplexed master per host).
    Ssh,
    /// Pure-Rust SSH client (`russh`), no ssh binary needed.
    Native,
    /// This machine, no SSH.
    Local,
}

/// What a host does; `auto` (or no list) means "detect from what runs there".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    App,
    Lb,
    Db,
    Auto,
}

/// One file shipped next to the binary (configuration, TLS material).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Local path, relative to the inventory file's directory.
    pub src: PathBuf,
    /// Remote file name inside the install dir (or absolute remote path).
    pub dest: String,
    /// Octal mode such as "0640"; defaults to the local file's mode.
    pub mode: Option<String>,
    /// Read/write this file through `sudo -n` (privileged files such as TLS keys).
    #[serde(default)]
    pub sudo: bool,
    /// `user` or `user:group` of the installed file (with `sudo = true`).
    pub owner: Option<String>,
}

/// The build to ship.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    /// Local path of the binary (relative to the inventory's directory); `--artifact` overrides.
    pub binary: PathBuf,
    /// File name of the binary on the host, inside `remote.install_dir`.
    pub name: String,
    #[serde(default)]
    pub config: Vec<ConfigFile>,
}

/// Remote layout.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remote {
    pub install_dir: String,
    pub backup_dir: String,
    #[serde(default = "raw::default_keep")]
    pub keep_backups: usize,
    /// Upper bound of every remote command (seconds).
    #[serde(default = "raw::default_step_timeout")]
    pub step_timeout_s: u64,
}

/// How the service is controlled on a host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Pid file the master writes (SIGUSR1 target).
    pub pid_file: String,
    /// Loopback admin address of the master (`POST /restart`), if it has one: the master's
    /// `--admin`, parsed as a `protocol::AdminAddr` when the inventory is read (a bad value
    /// fails there, with its line). deployctl reaches it through a TCP tunnel to its port, so
    /// only a TCP address is accepted.
    #[serde(default, deserialize_with = "validate::admin_addr")]
    pub admin: Option<std::net::SocketAddr>,
    /// File on the host holding the master's admin token (its `--admin-token-file`); required
    /// with `admin`: a master refuses an unauthenticated restart over TCP.
    pub admin_token_file: Option<String>,
    /// Port the service listens on (on every interface of the host).
    pub port: u16,
    /// Arguments to start the master with when nothing runs yet (first install).
    /// `{install_dir}`, `{pid_file}` and `{port}` are substituted.
    #[serde(default)]
    pub args: Vec<String>,
}

/// Health endpoints and how long to wait for them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    #[serde(default = "raw::default_ready")]
    pub ready: String,
    #[serde(default = "raw::default_ping")]
    pub ping: String,
    #[serde(default = "raw::default_version")]
    pub version: String,
    /// Upper bound for a host to verify after its restart.
    #[serde(default = "raw::default_verify_timeout")]
    pub timeout_s: u64,
    #[serde(default = "raw::default_interval")]
    pub interval_ms: u64,
    /// CA bundle for `https://` external URLs (relative to the inventory file); default: the
    /// system trust store.
    pub ca_file: Option<PathBuf>,
}

/// What happens when network quality or host failures pass a limit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Failed non-DR hosts tolerated before the run rolls back.
    #[serde(default)]
    pub failure_tolerance: usize,
    #[serde(default = "raw::default_loss")]
    pub max_loss_pct: f64,
    #[serde(default = "raw::default_latency")]
    pub max_latency_ms: f64,
    /// `stop` (refuse the rollout) or `warn` when a host is past the network limits.
    #[serde(default = "raw::default_on_network")]
    pub on_network: NetworkPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkPolicy {
    Stop,
    Warn,
}

/// Shape of a rollout.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    #[serde(default = "raw::default_batch")]
    pub batch_size: usize,
    #[serde(default = "raw::default_parallelism")]
    pub parallelism: usize,
    /// Deploy one host alone first.
    #[serde(default = "raw::default_true")]
    pub canary: bool,
    /// Lifetime of the host leases (renewed every quarter of it while the run lives).
    #[serde(default = "raw::default_lease_ttl")]
    pub lease_ttl_s: u64,
    /// Upper bound of one host's whole pipeline (backup, upload, restart, verify).
    #[serde(default = "raw::default_host_deadline")]
    pub host_deadline_s: u64,
}

/// One machine of an environment.
#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    pub address: String,
    pub user: String,
    pub port: u16,
    /// Roles from the inventory; empty means "detect".
    pub roles: Vec<Role>,
    pub dr: bool,
    pub gray: bool,
    /// Base URL clients use (defaults to `http://ADDRESS:SERVICE_PORT`).
    pub external_url: String,
}

impl Host {
    /// Base URL(s) on which this host serves clients.
    pub fn base_urls(&self) -> Vec<String> {
        vec![self.external_url.clone()]
    }
}

/// One resolved environment: its hosts plus the effective settings.
#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    pub transport: TransportKind,
    /// known_hosts file for strict host-key checking (ssh/native).
    pub known_hosts: Option<PathBuf>,
    /// Private key for ssh/native (otherwise ssh config / agent).
    pub identity: Option<PathBuf>,
    /// Extra `ssh -F` config file (ssh transport).
    pub ssh_config: Option<PathBuf>,
    pub hosts: Vec<Host>,
    pub artifact: Artifact,
    pub remote: Remote,
    pub service: Service,
    pub health: Health,
    pub thresholds: Thresholds,
    pub rollout: Rollout,
    /// nginx load balancers (hosts with role `lb`).
    pub lb: crate::lb::LbSettings,
    /// `[gray.analysis]`: thresholds of `gray --analyze`.
    pub gray: GraySettings,
}

impl Environment {
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }
    /// Every external base URL of the environment (what E2E suites and parity checks hit).
    pub fn base_urls(&self) -> Vec<String> {
        self.hosts.iter().flat_map(Host::base_urls).collect()
    }
}

/// A parsed and validated `deploy.toml`.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub path: PathBuf,
    envs: BTreeMap<String, Environment>,
}

impl Inventory {
    /// Read, parse and validate `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Inventory, InventoryError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parse and validate inventory `text`; `path` names it in errors and anchors relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Inventory, InventoryError> {
        Ok(Inventory {
            path: path.to_path_buf(),
            envs: resolve::environments(path, text)?,
        })
    }

    /// The environment called `name`.
    pub fn env(&self, name: &str) -> Result<&Environment, InventoryError> {
        self.envs
            .get(name)
            .ok_or_else(|| InventoryError::UnknownEnv {
                file: self.path.clone(),
                name: name.to_string(),
                known: self.envs.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    /// Names of all environments, sorted.
    pub fn env_names(&self) -> Vec<&str> {
        self.envs.keys().map(String::as_str).collect()
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Line of the first `"needle"` at or after `from`, else anywhere (top-level defaults).
fn line_of_needle(text: &str, from: usize, needle: &str) -> Option<usize> {
    let quoted = format!("\"{needle}\"");
    let from = from.min(text.len());
    text[from..]
        .find(&quoted)
        .map(|i| i + from)
        .or_else(|| text.find(&quoted))
        .map(|i| line_of(text, i))
}

/// The form two spellings of one address share (IP addresses parsed, names lowercased).
fn canonical_address(a: &str) -> String {
    match a.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => a.trim_end_matches('.').to_ascii_lowercase(),
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// An IP address, or a DNS name made of labels of letters, digits and hyphens.
pub fn valid_address(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    if s.is_empty() || s.len() > 253 || s.split('.').all(|l| l.chars().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    s.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

#[cfg(test)]
#[path = "inventory_tests.rs"]
mod tests;
