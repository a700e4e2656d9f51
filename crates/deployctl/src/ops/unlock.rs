//! `deployctl unlock`: remove the host leases a run left behind (a controller that died, a
//! network split), expired ones only unless `--force`. Every removal and every refusal is
//! written to an audit log of its own, like a run.

use crate::audit::{self, Audit, Command, Step, Verdict};
use crate::fleet::{self, close_all};
use crate::inventory::Environment;
use crate::lease::{self, LeaseInfo, Owner};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// What `unlock` found and did on one host.
#[derive(Debug, Clone, Serialize)]
pub struct HostUnlock {
    pub host: String,
    /// `removed`, `none`, `held` (live lease, not forced) or `error`.
    pub result: String,
    pub lease: Option<LeaseInfo>,
    pub error: Option<String>,
}

/// Result of `unlock` (also the `--json` document).
#[derive(Debug, Clone, Serialize)]
pub struct UnlockReport {
    pub run_id: String,
    pub env: String,
    pub force: bool,
    pub hosts: Vec<HostUnlock>,
    pub audit_log: std::path::PathBuf,
}

impl UnlockReport {
    /// Every host ended without a lease.
    pub fn ok(&self) -> bool {
        self.hosts
            .iter()
            .all(|h| h.result == "removed" || h.result == "none")
    }
}

/// Which leases `unlock` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leases {
    /// Expired ones only (the default).
    Expired,
    /// Live ones too (`--force`: only when the holder is known to be gone).
    AlsoLive,
}

/// Options of `unlock`.
#[derive(Debug, Clone)]
pub struct UnlockOptions {
    /// Where locks and audit logs live.
    pub state_dir: PathBuf,
    pub leases: Leases,
}

/// Remove the leases of `env` (expired ones, or live ones too with [`Leases::AlsoLive`]).
pub async fn unlock(env: &Environment, opts: &UnlockOptions) -> std::io::Result<UnlockReport> {
    let force = opts.leases == Leases::AlsoLive;
    let run_id = audit::new_run_id();
    let audit = Audit::open(
        &opts.state_dir,
        &run_id,
        &env.name,
        if force {
            Command::UnlockForce
        } else {
            Command::Unlock
        },
    )?;
    let me = Owner::me(&run_id);
    let dir = lease::dir_of(&env.remote.install_dir);
    let bound = Duration::from_secs(env.remote.step_timeout_s);
    let conns = fleet::connect_all(env).await;
    let mut hosts = Vec::new();
    let mut connected = Vec::new();
    for (h, c) in env.hosts.iter().zip(conns) {
        let mut hu = HostUnlock {
            host: h.name.clone(),
            result: "error".into(),
            lease: None,
            error: None,
        };
        match c {
            Err(e) => hu.error = Some(e.to_string()),
            Ok(r) => {
                let what = if force { "unlock-force" } else { "unlock" };
                match lease::op(r.t.as_ref(), &dir, what, &me, Duration::ZERO, bound).await {
                    Ok((v, info)) => {
                        hu.result = v.as_str().to_lowercase();
                        hu.lease = info;
                    }
                    Err(e) => hu.error = Some(e.to_string()),
                }
                connected.push(r);
            }
        }
        let mut e = audit.event(
            Some(&hu.host),
            Step::Unlock,
            Verdict::of(hu.result == "removed" || hu.result == "none"),
        );
        e.detail = Some(match (&hu.lease, &hu.error) {
            (_, Some(err)) => err.clone(),
            (Some(l), None) => format!("{}: lease of {l}", hu.result),
            (None, None) => hu.result.clone(),
        });
        audit.record(e);
        hosts.push(hu);
    }
    close_all(&connected).await;
    Ok(UnlockReport {
        run_id,
        env: env.name.clone(),
        force,
        hosts,
        audit_log: audit.path.clone(),
    })
}
