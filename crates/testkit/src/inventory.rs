//! Inventories (`deploy.toml`) as typed values, written in one place. [`Inventory`] is the
//! document; [`Inv`] the knobs of a bed inventory ([`crate::Bed::inventory`]). The layout is
//! fixed: one host per line as an inline table, `[env.NAME.lb]` last (tests that corrupt an
//! inventory on purpose edit that text).

use std::path::{Path, PathBuf};

/// The service port of the bed's masters.
pub const BED_SERVICE_PORT: u16 = 8080;
/// The admin port of the bed's masters (loopback inside each host).
pub const BED_ADMIN_PORT: u16 = 9901;

/// How deployctl reaches the hosts of an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// System OpenSSH.
    Ssh,
    /// The pure-Rust client (russh).
    Native,
    /// This machine, no SSH.
    Local,
}

/// `[thresholds] on_network`: what a network check past a threshold does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnNetwork {
    Stop,
    Warn,
}

/// What a host does (`auto`: detected by deployctl).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    App,
    Lb,
    Db,
    Auto,
}

/// A file shipped with the binary (`artifact.config`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigFile {
    pub src: PathBuf,
    pub dest: String,
    pub mode: Option<String>,
    pub sudo: bool,
}

impl ConfigFile {
    pub fn new(src: &Path, dest: &str, mode: Option<&str>) -> ConfigFile {
        ConfigFile {
            src: src.to_path_buf(),
            dest: dest.into(),
            mode: mode.map(str::to_string),
            sudo: false,
        }
    }
}

/// One host line.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub name: String,
    pub address: String,
    /// SSH port when not 22.
    pub port: Option<u16>,
    /// Login user when not the environment's (root).
    pub user: Option<String>,
    pub roles: Vec<Role>,
    /// `dr` and `gray` flags, written when `Some`.
    pub dr: Option<bool>,
    pub gray: Option<bool>,
    pub external_url: Option<String>,
}

impl Host {
    pub fn new(name: &str, address: &str) -> Host {
        Host {
            name: name.into(),
            address: address.into(),
            port: None,
            user: None,
            roles: vec![],
            dr: None,
            gray: None,
            external_url: None,
        }
    }
}

/// `[env.NAME]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Env {
    pub name: String,
    pub transport: Transport,
    pub known_hosts: Option<PathBuf>,
    pub identity: Option<PathBuf>,
    pub ssh_config: Option<PathBuf>,
    pub hosts: Vec<Host>,
    /// Lines of `[env.NAME.lb]` (none: no such table).
    pub lb: Vec<String>,
}

impl Env {
    pub fn new(name: &str, transport: Transport, hosts: Vec<Host>) -> Env {
        Env {
            name: name.into(),
            transport,
            known_hosts: None,
            identity: None,
            ssh_config: None,
            hosts,
            lb: vec![],
        }
    }
}

/// `[remote]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Remote {
    pub install_dir: String,
    pub backup_dir: String,
    pub keep_backups: Option<usize>,
    pub step_timeout_s: Option<u64>,
}

/// `[service]`; `admin` is the address and the token file.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub pid_file: String,
    pub port: u16,
    pub admin: Option<(String, String)>,
    pub args: Vec<String>,
}

/// `[health]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub timeout_s: u64,
    pub interval_ms: u64,
    pub ca_file: Option<PathBuf>,
}

/// `[thresholds]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    pub failure_tolerance: usize,
    pub max_loss_pct: Option<f64>,
    pub max_latency_ms: Option<f64>,
    pub on_network: Option<OnNetwork>,
}

/// `[rollout]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    pub batch_size: usize,
    pub parallelism: usize,
    pub canary: bool,
    pub lease_ttl_s: u64,
}

/// A whole `deploy.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Inventory {
    pub binary: PathBuf,
    pub config: Vec<ConfigFile>,
    pub remote: Remote,
    pub service: Service,
    pub health: Option<Health>,
    pub thresholds: Option<Thresholds>,
    pub rollout: Option<Rollout>,
    pub envs: Vec<Env>,
}

/// A TOML value: strings quoted and escaped (JSON string escapes are TOML's).
trait Val {
    fn toml(&self) -> String;
}

impl Val for str {
    fn toml(&self) -> String {
        serde_json::to_string(self).unwrap()
    }
}

impl Val for String {
    fn toml(&self) -> String {
        self.as_str().toml()
    }
}

impl Val for Path {
    fn toml(&self) -> String {
        self.to_str().expect("UTF-8 path").toml()
    }
}

impl Val for PathBuf {
    fn toml(&self) -> String {
        self.as_path().toml()
    }
}

macro_rules! plain {
    ($($t:ty),*) => { $(impl Val for $t { fn toml(&self) -> String { format!("{self:?}") } })* };
}
plain!(u16, u64, usize, f64, bool);

impl<T: Val> Val for [T] {
    fn toml(&self) -> String {
        let v: Vec<String> = self.iter().map(Val::toml).collect();
        format!("[{}]", v.join(", "))
    }
}

impl Val for Role {
    fn toml(&self) -> String {
        match self {
            Role::App => "app",
            Role::Lb => "lb",
            Role::Db => "db",
            Role::Auto => "auto",
        }
        .toml()
    }
}

impl Val for Transport {
    fn toml(&self) -> String {
        match self {
            Transport::Ssh => "ssh",
            Transport::Native => "native",
            Transport::Local => "local",
        }
        .toml()
    }
}

impl Val for OnNetwork {
    fn toml(&self) -> String {
        match self {
            OnNetwork::Stop => "stop",
            OnNetwork::Warn => "warn",
        }
        .toml()
    }
}

/// `key = value` pairs of an inline table, `None` values left out.
fn inline(pairs: &[(&str, Option<String>)]) -> String {
    let kv: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} = {v}")))
        .collect();
    format!("{{ {} }}", kv.join(", "))
}

impl Val for ConfigFile {
    fn toml(&self) -> String {
        inline(&[
            ("src", Some(self.src.toml())),
            ("dest", Some(self.dest.toml())),
            ("mode", self.mode.as_ref().map(|m| m.toml())),
            ("sudo", self.sudo.then(|| true.toml())),
        ])
    }
}

impl Val for Host {
    fn toml(&self) -> String {
        inline(&[
            ("name", Some(self.name.toml())),
            ("address", Some(self.address.toml())),
            ("port", self.port.map(|p| p.toml())),
            ("user", self.user.as_ref().map(|u| u.toml())),
            ("roles", (!self.roles.is_empty()).then(|| self.roles.toml())),
            ("dr", self.dr.map(|b| b.toml())),
            ("gray", self.gray.map(|b| b.toml())),
            ("external_url", self.external_url.as_ref().map(|u| u.toml())),
        ])
    }
}

/// A TOML text being written, table by table.
#[derive(Default)]
struct Text(String);

impl Text {
    fn table(&mut self, name: &str) {
        self.0.push_str(&format!("[{name}]\n"));
    }

    fn kv(&mut self, k: &str, v: &(impl Val + ?Sized)) {
        self.0.push_str(&format!("{k} = {}\n", v.toml()));
    }

    fn opt<V: Val>(&mut self, k: &str, v: &Option<V>) {
        if let Some(v) = v {
            self.kv(k, v);
        }
    }
}

impl Inventory {
    /// The TOML text.
    pub fn text(&self) -> String {
        let mut t = Text::default();
        t.table("artifact");
        t.kv("binary", &self.binary);
        t.kv("name", "hotel-api");
        t.kv("config", &self.config[..]);
        self.write_remote(&mut t);
        self.write_service(&mut t);
        self.write_policies(&mut t);
        for e in &self.envs {
            t.table(&format!("env.{}", e.name));
            t.kv("transport", &e.transport);
            t.opt("known_hosts", &e.known_hosts);
            t.opt("identity", &e.identity);
            t.opt("ssh_config", &e.ssh_config);
            t.0.push_str("hosts = [\n");
            for h in &e.hosts {
                t.0.push_str(&format!("  {},\n", h.toml()));
            }
            t.0.push_str("]\n");
            if !e.lb.is_empty() {
                t.table(&format!("env.{}.lb", e.name));
                t.0.push_str(&format!("{}\n", e.lb.join("\n")));
            }
        }
        t.0
    }

    fn write_remote(&self, t: &mut Text) {
        let r = &self.remote;
        t.table("remote");
        t.kv("install_dir", &r.install_dir);
        t.kv("backup_dir", &r.backup_dir);
        t.opt("keep_backups", &r.keep_backups);
        t.opt("step_timeout_s", &r.step_timeout_s);
    }

    fn write_service(&self, t: &mut Text) {
        let s = &self.service;
        t.table("service");
        t.kv("pid_file", &s.pid_file);
        t.kv("port", &s.port);
        if let Some((addr, token)) = &s.admin {
            t.kv("admin", addr);
            t.kv("admin_token_file", token);
        }
        t.kv("args", &s.args[..]);
    }

    fn write_policies(&self, t: &mut Text) {
        if let Some(h) = &self.health {
            t.table("health");
            t.kv("timeout_s", &h.timeout_s);
            t.kv("interval_ms", &h.interval_ms);
            t.opt("ca_file", &h.ca_file);
        }
        if let Some(th) = &self.thresholds {
            t.table("thresholds");
            t.kv("failure_tolerance", &th.failure_tolerance);
            t.opt("max_loss_pct", &th.max_loss_pct);
            t.opt("max_latency_ms", &th.max_latency_ms);
            t.opt("on_network", &th.on_network);
        }
        if let Some(r) = &self.rollout {
            t.table("rollout");
            t.kv("batch_size", &r.batch_size);
            t.kv("parallelism", &r.parallelism);
            t.kv("canary", &r.canary);
            t.kv("lease_ttl_s", &r.lease_ttl_s);
        }
    }

    /// Writes `dir/deploy.toml` and returns its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let p = dir.join("deploy.toml");
        std::fs::write(&p, self.text()).unwrap();
        p
    }

    /// The environment named `name`.
    pub fn env(&mut self, name: &str) -> &mut Env {
        self.envs
            .iter_mut()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("no environment {name}"))
    }
}

/// The arguments a master gets from an inventory: `--listen` on the service port, data and
/// pid file under the install dir, then `extra`.
pub fn master_args(extra: &[&str]) -> Vec<String> {
    [
        "--listen",
        "0.0.0.0:{port}",
        "--data-dir",
        "{install_dir}/data",
        "--pid-file",
        "{pid_file}",
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect()
}
