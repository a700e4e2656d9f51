//! Host leases: two controllers (other state directories, other machines, CI jobs) never
//! deploy one environment at once.
//!
//! Every host of the environment carries `INSTALL_DIR/.deploy/lease` while a run owns it:
//! run id, controller host, user, pid, start, heartbeat and expiry (host clock, so controller
//! clocks do not matter). Every read-modify-write of the file happens under `flock` on
//! `INSTALL_DIR/.deploy/lease.lock` on the host, which makes each step a compare-and-swap:
//! acquire succeeds when the file is absent, ours, or expired (a take-over, reported); renew
//! only while it is still ours; release removes it only when it is ours. Hosts are leased one
//! after the other in name order before any host is changed, so of two runs started together
//! exactly one passes the first host. A task renews every lease at a quarter of its lifetime;
//! a renewal that does not answer RENEWED (taken over, removed, failed) marks the host lost
//! and wakes [`Lease::lost_any`], which stops the run at once ([`crate::interrupt::Watch`]);
//! [`Lease::release`] (or, on an early return, drop) gives them back; a run killed with
//! SIGKILL leaves leases that expire after their lifetime.

use crate::fleet::futures_join_all;
use crate::remote::RemoteHost;
use crate::scripts::lease as sh;
use crate::transport::Transport;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// What a host's lease file says, plus the host's clock when it was read. Times a damaged
/// file does not hold are `None` (never a made-up 0).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct LeaseInfo {
    pub run_id: String,
    pub controller: String,
    pub user: String,
    pub pid: String,
    pub started: Option<i64>,
    pub heartbeat: Option<i64>,
    pub expires: Option<i64>,
    pub host_now: i64,
}

impl std::fmt::Display for LeaseInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unknown = || "unknown".to_string();
        let since = self.started.map_or_else(unknown, crate::lock::fmt_time);
        let beat = self
            .heartbeat
            .map_or_else(unknown, |h| format!("{}s ago", self.host_now - h));
        let exp = self
            .expires
            .map_or_else(unknown, |e| format!("in {}s", e - self.host_now));
        write!(
            f,
            "run {} ({}@{}, pid {}, since {since}, heartbeat {beat}, expires {exp})",
            self.run_id, self.user, self.controller, self.pid,
        )
    }
}

/// The lease script's answer to one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Acquired,
    Takeover,
    Held,
    Renewed,
    Lost,
    Released,
    NotHeld,
    None,
    Removed,
}

impl Verdict {
    pub const ALL: [Verdict; 9] = [
        Verdict::Acquired,
        Verdict::Takeover,
        Verdict::Held,
        Verdict::Renewed,
        Verdict::Lost,
        Verdict::Released,
        Verdict::NotHeld,
        Verdict::None,
        Verdict::Removed,
    ];

    /// The word the script prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Acquired => "ACQUIRED",
            Verdict::Takeover => "TAKEOVER",
            Verdict::Held => "HELD",
            Verdict::Renewed => "RENEWED",
            Verdict::Lost => "LOST",
            Verdict::Released => "RELEASED",
            Verdict::NotHeld => "NOT_HELD",
            Verdict::None => "NONE",
            Verdict::Removed => "REMOVED",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum LeaseError {
    #[error("environment is leased on host {host} by {info}; wait until it ends or expires (`deployctl unlock --env ENV` removes an expired lease)")]
    Held { host: String, info: Box<LeaseInfo> },
    #[error("{host}: lease: {detail}")]
    Remote { host: String, detail: String },
    #[error("{host}: lease: {source}")]
    Output {
        host: String,
        source: crate::scripts::ScriptError,
    },
}

/// Who asks for the lease.
#[derive(Debug, Clone)]
pub struct Owner {
    pub run_id: String,
    pub controller: String,
    pub user: String,
    pub pid: u32,
}

impl Owner {
    /// This process, for run `run_id`.
    pub fn me(run_id: &str) -> Owner {
        let clean = |s: String| -> String {
            s.chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                .take(64)
                .collect()
        };
        Owner {
            run_id: clean(run_id.to_string()),
            controller: clean(crate::lock::hostname()),
            user: clean(login_user()),
            pid: std::process::id(),
        }
    }
}

/// `$USER`, else `$LOGNAME`, else `uid<N>` (a CI job or systemd unit may set neither).
fn login_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        // SAFETY: getuid has no preconditions and cannot fail.
        .unwrap_or_else(|_| format!("uid{}", unsafe { libc::getuid() }))
}

/// The lease directory of an install dir.
pub fn dir_of(install_dir: &str) -> String {
    format!("{}/.deploy", install_dir.trim_end_matches('/'))
}

/// Run one lease operation on a host, bounded by `bound`.
pub async fn op(
    t: &dyn Transport,
    dir: &str,
    what: &str,
    o: &Owner,
    ttl: Duration,
    bound: Duration,
) -> Result<(Verdict, Option<LeaseInfo>), LeaseError> {
    let (pid, ttl_s) = (o.pid.to_string(), ttl.as_secs().max(1).to_string());
    let args = [dir, what, &o.run_id, &o.controller, &o.user, &pid, &ttl_s];
    let argv = crate::scripts::argv(&sh::LEASE, &args);
    let err = |detail: String| LeaseError::Remote {
        host: t.host().to_string(),
        detail,
    };
    let out = tokio::time::timeout(bound, t.exec(&argv, None))
        .await
        .map_err(|_| err(format!("{what}: no answer within {bound:?}")))?
        .map_err(|e| err(e.to_string()))?;
    if !out.ok() {
        return Err(err(format!(
            "{what} failed (exit {}): {}",
            out.status,
            out.stderr_str()
        )));
    }
    sh::parse_lease(&String::from_utf8_lossy(&out.stdout)).map_err(|source| LeaseError::Output {
        host: t.host().to_string(),
        source,
    })
}

/// Pending releases of leases dropped without [`Lease::release`] (see [`drain`]).
static PENDING: Mutex<Vec<tokio::task::JoinHandle<()>>> = Mutex::new(Vec::new());

/// Wait (at most `limit`) for releases started by dropped leases, e.g. after Ctrl-C.
pub async fn drain(limit: Duration) {
    let handles: Vec<_> = std::mem::take(&mut *PENDING.lock().expect("pending leases"));
    let _ = tokio::time::timeout(limit, futures_join_all(handles)).await;
}

/// The leases of one run on every host of the environment.
pub struct Lease {
    owner: Owner,
    dir: String,
    bound: Duration,
    hosts: Vec<Arc<dyn Transport>>,
    renewer: Option<tokio::task::JoinHandle<()>>,
    /// Hosts whose lease this run lost: another run took it, it was removed, or its
    /// renewal failed.
    pub lost: Arc<Mutex<Vec<String>>>,
    /// Woken when a host joins `lost`.
    lost_wake: Arc<Notify>,
    /// Expired leases of other runs this one took over: (host, old lease).
    pub taken_over: Vec<(String, LeaseInfo)>,
}

/// Lease every host (in name order), then keep the leases alive until released.
pub async fn acquire(
    hosts: &[RemoteHost],
    install_dir: &str,
    owner: Owner,
    ttl: Duration,
    bound: Duration,
) -> Result<Lease, LeaseError> {
    let mut order: Vec<&RemoteHost> = hosts.iter().collect();
    order.sort_by(|a, b| a.host.name.cmp(&b.host.name));
    let mut lease = Lease {
        owner,
        dir: dir_of(install_dir),
        bound,
        hosts: vec![],
        renewer: None,
        lost: Arc::default(),
        lost_wake: Arc::default(),
        taken_over: vec![],
    };
    for r in order {
        // Listed before asking: a run dropped while the answer is on its way still releases
        // (a release is a compare-and-swap on the run id, harmless where it holds nothing).
        lease.hosts.push(r.t.clone());
        let got = op(
            r.t.as_ref(),
            &lease.dir,
            "acquire",
            &lease.owner,
            ttl,
            bound,
        )
        .await;
        let refusal = match got {
            Ok((Verdict::Acquired, _)) => None,
            Ok((Verdict::Takeover, Some(old))) => {
                lease.taken_over.push((r.host.name.clone(), old));
                None
            }
            Ok((Verdict::Held, Some(info))) => Some(LeaseError::Held {
                host: r.host.name.clone(),
                info: Box::new(info),
            }),
            Ok((v, _)) => Some(LeaseError::Remote {
                host: r.host.name.clone(),
                detail: format!("unexpected answer `{}`", v.as_str()),
            }),
            Err(e) => Some(e),
        };
        if let Some(e) = refusal {
            lease.release().await;
            return Err(e);
        }
    }
    lease.renewer = Some(tokio::spawn(renew_loop(
        lease.hosts.clone(),
        lease.dir.clone(),
        lease.owner.clone(),
        ttl,
        bound,
        (lease.lost.clone(), lease.lost_wake.clone()),
    )));
    Ok(lease)
}

async fn renew_loop(
    hosts: Vec<Arc<dyn Transport>>,
    dir: String,
    owner: Owner,
    ttl: Duration,
    bound: Duration,
    (lost, wake): (Arc<Mutex<Vec<String>>>, Arc<Notify>),
) {
    loop {
        tokio::time::sleep(ttl / 4).await;
        let answers = futures_join_all(
            hosts
                .iter()
                .map(|t| op(t.as_ref(), &dir, "renew", &owner, ttl, bound.min(ttl / 4))),
        )
        .await;
        for (t, a) in hosts.iter().zip(answers) {
            // Taken over or removed (LOST), or not renewed at all (an error or no answer):
            // either way this run can no longer prove it owns the host.
            if !matches!(&a, Ok((Verdict::Renewed, _))) {
                let mut l = lost.lock().expect("lost leases");
                if !l.iter().any(|h| h == t.host()) {
                    l.push(t.host().to_string());
                    wake.notify_waiters();
                }
            }
        }
    }
}

impl Lease {
    /// Resolves with the hosts whose lease this run lost, once there is one (at once when
    /// there already is). Owns what it needs: it can outlive a borrow of the lease.
    pub fn lost_any(&self) -> impl std::future::Future<Output = Vec<String>> + Send + 'static {
        let (lost, wake) = (self.lost.clone(), self.lost_wake.clone());
        async move {
            loop {
                // Registered before the check: a loss between the two still wakes it.
                let woken = wake.notified();
                let now = lost.lock().expect("lost leases").clone();
                if !now.is_empty() {
                    return now;
                }
                woken.await;
            }
        }
    }

    /// Stop renewing and remove every lease of this run; hosts that could not be reached keep
    /// theirs until it expires (returned).
    pub async fn release(&mut self) -> Vec<String> {
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
        let hosts = std::mem::take(&mut self.hosts);
        release_all(hosts, self.dir.clone(), self.owner.clone(), self.bound).await
    }
}

async fn release_all(
    hosts: Vec<Arc<dyn Transport>>,
    dir: String,
    owner: Owner,
    bound: Duration,
) -> Vec<String> {
    let answers = futures_join_all(
        hosts
            .iter()
            .map(|t| op(t.as_ref(), &dir, "release", &owner, Duration::ZERO, bound)),
    )
    .await;
    hosts
        .iter()
        .zip(answers)
        .filter(|(_, a)| a.is_err())
        .map(|(t, _)| t.host().to_string())
        .collect()
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
        let hosts = std::mem::take(&mut self.hosts);
        if hosts.is_empty() {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (dir, owner, bound) = (self.dir.clone(), self.owner.clone(), self.bound);
            let h = rt.spawn(async move {
                release_all(hosts, dir, owner, bound).await;
            });
            PENDING.lock().expect("pending leases").push(h);
        }
    }
}

/// What keeps other runs out while this one changes hosts: the local lock and the leases.
pub struct RunGuard {
    _lock: crate::lock::EnvLock,
    lease: Lease,
}

/// Take the local lock, then lease every host of `env`; report take-overs in the audit log.
pub async fn guard(
    env: &crate::inventory::Environment,
    hosts: &[RemoteHost],
    state_dir: &std::path::Path,
    audit: &crate::audit::Audit,
    ui: &crate::ui::Ui,
) -> Result<RunGuard, crate::lock::LockError> {
    let lock = crate::lock::acquire(state_dir, &env.name, &audit.run_id)?;
    let lease = acquire(
        hosts,
        &env.remote.install_dir,
        Owner::me(&audit.run_id),
        Duration::from_secs(env.rollout.lease_ttl_s),
        Duration::from_secs(env.remote.step_timeout_s),
    )
    .await?;
    for (host, old) in &lease.taken_over {
        let msg = format!("took over the expired lease of {old}");
        ui.info(&format!("{host}: {msg}"));
        let mut e = audit.event(
            Some(host),
            crate::audit::Step::Lease,
            crate::audit::Verdict::Warn,
        );
        e.detail = Some(msg);
        audit.record(e);
    }
    Ok(RunGuard { _lock: lock, lease })
}

impl RunGuard {
    /// See [`Lease::lost_any`].
    pub fn lost_any(&self) -> impl std::future::Future<Output = Vec<String>> + Send + 'static {
        self.lease.lost_any()
    }

    /// Give the leases back (then the local lock); note lost or unreleased leases.
    pub async fn release(self, audit: &crate::audit::Audit) {
        self.give_back(audit, true).await
    }

    /// [`RunGuard::release`] for a run that recorded the loss of a lease when it happened.
    pub async fn release_loss_recorded(self, audit: &crate::audit::Audit) {
        self.give_back(audit, false).await
    }

    async fn give_back(mut self, audit: &crate::audit::Audit, note_lost: bool) {
        let lost = self.lease.lost.lock().expect("lost leases").clone();
        if note_lost && !lost.is_empty() {
            let mut e = audit.event(None, crate::audit::Step::Lease, crate::audit::Verdict::Fail);
            e.detail = Some(format!(
                "lease lost during this run (taken over, removed or not renewed) on {}",
                lost.join(", ")
            ));
            audit.record(e);
        }
        let kept = self.lease.release().await;
        if !kept.is_empty() {
            let mut e = audit.event(None, crate::audit::Step::Lease, crate::audit::Verdict::Warn);
            e.detail = Some(format!(
                "could not release the lease on {}: it expires by itself",
                kept.join(", ")
            ));
            audit.record(e);
        }
    }
}

#[cfg(test)]
#[path = "lease_tests.rs"]
mod tests;
