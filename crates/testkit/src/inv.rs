//! [`Inv`]: the knobs of an inventory for a [`Bed`], one environment `bed` over its hosts.

use crate::bed::Bed;
use crate::inventory::*;
use std::path::{Path, PathBuf};

/// Inventory knobs.
#[derive(Clone)]
pub struct Inv {
    pub transport: Transport,
    pub tolerance: usize,
    pub dr: Vec<usize>,
    pub keep: usize,
    pub timeout_s: u64,
    pub admin: bool,
    pub on_network: OnNetwork,
    pub max_latency_ms: f64,
    pub batch_size: usize,
    pub parallelism: usize,
    pub known_hosts: Option<PathBuf>,
    /// Hosts (indices) that are load balancers instead of app hosts.
    pub lb_hosts: Vec<usize>,
    /// App hosts (indices) of the gray pool.
    pub gray: Vec<usize>,
    /// Lines of `[env.bed.lb]`.
    pub lb: Vec<String>,
    /// No roles in the inventory: deployctl detects them.
    pub auto_roles: bool,
    /// External URL of every host, `{addr}` replaced by its address (default http://ADDR:8080).
    pub external: Option<String>,
    /// `[health] ca_file` for https external URLs.
    pub ca_file: Option<PathBuf>,
    /// `artifact.config` (files shipped with the binary).
    pub config: Vec<ConfigFile>,
    /// `[rollout] lease_ttl_s`.
    pub lease_ttl_s: u64,
    /// `[remote] step_timeout_s`.
    pub step_timeout_s: u64,
    /// `[rollout] canary` (one host alone first).
    pub canary: bool,
    /// Every host's login `user` (none: root). A [`crate::fixture::Fleet`] prepares the hosts
    /// for it ([`Bed::own_install_dirs`]).
    pub user: Option<String>,
}

impl Default for Inv {
    fn default() -> Self {
        Inv {
            transport: Transport::Ssh,
            tolerance: 0,
            dr: vec![],
            keep: 3,
            timeout_s: 20,
            admin: true,
            on_network: OnNetwork::Stop,
            max_latency_ms: 250.0,
            batch_size: 2,
            parallelism: 4,
            known_hosts: None,
            lb_hosts: vec![],
            gray: vec![],
            lb: vec![],
            auto_roles: false,
            external: None,
            ca_file: None,
            config: vec![],
            lease_ttl_s: 120,
            step_timeout_s: 120,
            canary: true,
            user: None,
        }
    }
}

impl Inv {
    /// Host 0 a load balancer of `kind` ("nginx", "haproxy"), one host per batch, `extra`
    /// lines in `[env.bed.lb]`.
    pub fn behind_lb(kind: &str, extra: &[&str]) -> Inv {
        let mut lb = vec![format!("kind = \"{kind}\"")];
        lb.extend(extra.iter().map(|l| l.to_string()));
        Inv {
            lb_hosts: vec![0],
            batch_size: 1,
            lb,
            ..Inv::default()
        }
    }
}

/// The `[service]` of a bed host: port 8080, pid file and data under /srv/hotel, admin on
/// loopback with the bed's token when `admin`.
pub fn bed_service(admin: bool, admin_port: u16) -> Service {
    let addr = format!("127.0.0.1:{admin_port}");
    let token = "/srv/admin.token";
    let mut extra = vec!["--ready-timeout", "3s", "--grace", "2s"];
    if admin {
        extra.extend(["--admin", &addr, "--admin-token-file", token]);
    }
    Service {
        pid_file: "/srv/hotel/run/hotel-api.pid".into(),
        port: BED_SERVICE_PORT,
        admin: admin.then(|| (addr.clone(), token.to_string())),
        args: master_args(&extra),
    }
}

/// The `[remote]` of a bed host (install under /srv/hotel).
pub fn bed_remote(keep: Option<usize>, step_timeout_s: Option<u64>) -> Remote {
    Remote {
        install_dir: "/srv/hotel".into(),
        backup_dir: "/srv/hotel/backups".into(),
        keep_backups: keep,
        step_timeout_s,
    }
}

impl Bed {
    /// Environment `name` over every host of this bed, reached over `transport` with the
    /// bed's key and known_hosts; hosts named `{prefix}-1`, ... when `prefix` is given.
    pub fn env(&self, name: &str, transport: Transport, prefix: Option<&str>) -> Env {
        let hosts = self
            .hosts
            .iter()
            .enumerate()
            .map(|(k, h)| match prefix {
                Some(p) => Host::new(&format!("{p}-{}", k + 1), &h.address),
                None => Host::new(&h.name, &h.address),
            })
            .collect();
        let mut e = Env::new(name, transport, hosts);
        e.known_hosts = Some(self.dir.join("known_hosts"));
        e.identity = Some(self.dir.join("id_ed25519"));
        e
    }

    /// The inventory of this bed as a document (environment `bed`).
    pub fn inventory_doc(&self, artifact: &Path, inv: &Inv) -> Inventory {
        let mut env = self.env("bed", inv.transport, None);
        if let Some(kh) = &inv.known_hosts {
            env.known_hosts = Some(kh.clone());
        }
        for (k, h) in env.hosts.iter_mut().enumerate() {
            h.roles = vec![match () {
                _ if inv.auto_roles => Role::Auto,
                _ if inv.lb_hosts.contains(&k) => Role::Lb,
                _ => Role::App,
            }];
            h.user = inv.user.clone();
            h.dr = Some(inv.dr.contains(&k));
            h.gray = Some(inv.gray.contains(&k));
            h.external_url = inv
                .external
                .as_ref()
                .map(|e| e.replace("{addr}", &h.address));
        }
        env.lb = inv.lb.clone();
        Inventory {
            binary: artifact.to_path_buf(),
            config: inv.config.clone(),
            remote: bed_remote(Some(inv.keep), Some(inv.step_timeout_s)),
            service: bed_service(inv.admin, BED_ADMIN_PORT),
            health: Some(Health {
                timeout_s: inv.timeout_s,
                interval_ms: 100,
                ca_file: inv.ca_file.clone(),
            }),
            thresholds: Some(Thresholds {
                failure_tolerance: inv.tolerance,
                max_loss_pct: Some(5.0),
                max_latency_ms: Some(inv.max_latency_ms),
                on_network: Some(inv.on_network),
            }),
            rollout: Some(Rollout {
                batch_size: inv.batch_size,
                parallelism: inv.parallelism,
                canary: inv.canary,
                lease_ttl_s: inv.lease_ttl_s,
            }),
            envs: vec![env],
        }
    }

    /// Write an inventory for this bed into `dir/deploy.toml` and return its path.
    pub fn inventory(&self, dir: &Path, artifact: &Path, inv: &Inv) -> PathBuf {
        self.inventory_doc(artifact, inv).write(dir)
    }
}
