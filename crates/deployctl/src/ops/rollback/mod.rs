//! `deployctl rollback` (and `gray --abort`): restore one build on every app host (or every
//! gray host) and verify it serves. The target is a run's backups with `--to RUN_ID`; by
//! default a build read from the hosts' own release histories ([`crate::releases`]): the one
//! the whole fleet served together before the build it serves now, whichever controller
//! deployed them; `gray --abort` targets the build of the stable hosts. Nothing is touched
//! unless every host is reachable, every role known and the target one build.

pub mod target;

use crate::audit::{self, Audit, Command, Step, Verdict};
use crate::backup::{self, Listing};
use crate::balancer::{Balancers, Pools};
use crate::fleet;
use crate::fleet::close_all;
use crate::hostrun::{self, HostCtx, HostResult, HostState};
use crate::inventory::{Environment, Role};
use crate::ops::rollout::{summary, RunError};
use crate::ops::{HostRun, Place};
use crate::outcome::Outcome;
use crate::remote::{HostError, Layout, RemoteHost};
use crate::ui::Ui;
use crate::verify;
use serde::Serialize;
use std::path::PathBuf;
pub use target::Target;

/// Result of `rollback`.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    pub run_id: String,
    pub env: String,
    pub outcome: Outcome,
    pub reason: String,
    pub target: Option<Target>,
    pub hosts: Vec<HostResult>,
    pub audit_log: std::path::PathBuf,
    /// The local audit log could not be written: the run fails.
    pub audit_error: Option<String>,
}

/// Which build a rollback restores, and on which hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTo {
    /// `rollback --to RUN_ID`: the backups of that run, on every app host.
    Run(String),
    /// `rollback`: the previous build the fleet served together, from the hosts' histories.
    Previous,
    /// `gray --abort`: the gray hosts only, back to the build the stable hosts serve.
    StableBuild,
}

impl RollbackTo {
    /// Only the gray app hosts are restored.
    fn only_gray(&self) -> bool {
        *self == RollbackTo::StableBuild
    }
}

/// Options of `rollback` and `gray --abort`.
#[derive(Debug, Clone)]
pub struct RollbackOptions {
    /// Where locks and audit logs live.
    pub state_dir: PathBuf,
    pub to: RollbackTo,
}

/// Restore the target build on every app host (gray hosts only for `gray --abort`).
pub async fn rollback(
    env: &Environment,
    opts: &RollbackOptions,
    ui: &Ui,
) -> Result<RollbackReport, RunError> {
    let only_gray = opts.to.only_gray();
    let run_id = audit::new_run_id();
    let command = if only_gray {
        Command::GrayAbort
    } else {
        Command::Rollback
    };
    let audit = Audit::open(&opts.state_dir, &run_id, &env.name, command)?;
    let mut report = RollbackReport {
        run_id: run_id.clone(),
        env: env.name.clone(),
        outcome: Outcome::Aborted,
        reason: String::new(),
        target: None,
        hosts: vec![],
        audit_log: audit.path.clone(),
        audit_error: None,
    };
    let hosts = match connect(env).await {
        Ok(h) => h,
        Err(why) => return Ok(aborted(report, &audit, why)),
    };
    // The one way out once connected: every connection is closed whatever the steps did.
    let ended = steps(env, opts, ui, &audit, &hosts, &mut report).await;
    close_all(&hosts).await;
    if let Some(why) = ended? {
        return Ok(aborted(report, &audit, why));
    }
    report.audit_error = audit.write_error();
    Ok(report)
}

/// Roles, lease, target, restore, routing and the outcome record. `Ok(Some(why))`: stopped
/// before touching any host (ABORTED).
async fn steps(
    env: &Environment,
    opts: &RollbackOptions,
    ui: &Ui,
    audit: &Audit,
    remotes: &[RemoteHost],
    report: &mut RollbackReport,
) -> Result<Option<String>, RunError> {
    let mut hosts = match roles(env, remotes, audit, opts.to.only_gray()).await {
        Ok(x) => x,
        Err(why) => return Ok(Some(why)),
    };
    let guard = crate::lease::guard(env, remotes, &opts.state_dir, audit, ui).await?;
    let ctx = HostCtx {
        env,
        layout: Layout::of(env),
        audit,
        ui,
    };
    let run = Run {
        env,
        opts,
        ctx: &ctx,
    };
    match run.execute(&mut hosts).await {
        Ok((outcome, target)) => {
            report.outcome = outcome;
            report.target = Some(target);
            report.reason = summary(hosts.iter().map(|h| &h.result));
        }
        Err(why) => report.reason = format!("nothing touched: {why}"),
    }
    run.final_routing(&hosts, report).await;
    finish(report, &hosts, &ctx).await;
    guard.release(audit).await;
    report.hosts = hosts.into_iter().map(|h| h.result).collect();
    Ok(None)
}

async fn connect(env: &Environment) -> Result<Vec<RemoteHost>, String> {
    let mut hosts = vec![];
    let mut errors = vec![];
    for c in fleet::connect_all(env).await {
        match c {
            Ok(r) => hosts.push(r),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        return Ok(hosts);
    }
    close_all(&hosts).await;
    Err(format!("nothing touched: {}", errors.join(" | ")))
}

/// Roles of every host; the hosts this rollback restores get a place. Errors: a role
/// detection failed, no app host, or every app host is DR.
async fn roles<'r>(
    env: &Environment,
    remotes: &'r [RemoteHost],
    audit: &Audit,
    only_gray: bool,
) -> Result<Vec<HostRun<'r>>, String> {
    let mut hosts = vec![];
    let mut rank = 0;
    for (r, roles) in remotes.iter().zip(fleet::detect_all(env, remotes).await) {
        let roles = roles.map_err(|e| format!("nothing touched: {}: detect: {e}", r.host.name))?;
        let mut e = audit.event(Some(&r.host.name), Step::Detect, Verdict::Ok);
        e.detail = Some(format!("{roles:?}", roles = roles.0));
        audit.record(e);
        let restored = roles.0.contains(&Role::App) && (!only_gray || r.host.gray);
        let place = restored.then_some(Place { batch: 0, rank });
        rank += usize::from(restored);
        hosts.push(HostRun {
            remote: r,
            result: HostResult::new(r, roles.0),
            place,
        });
    }
    let mut restored = hosts.iter().filter(|h| h.place.is_some()).peekable();
    if restored.peek().is_none() {
        return Err(format!(
            "nothing touched: no {} host in env {}",
            if only_gray { "gray app" } else { "app" },
            env.name
        ));
    }
    if restored.all(|h| h.result.dr) {
        return Err("nothing touched: every app host is DR".into());
    }
    Ok(hosts)
}

/// The run once every host is connected, its role known and the lease held.
struct Run<'a> {
    env: &'a Environment,
    opts: &'a RollbackOptions,
    ctx: &'a HostCtx<'a>,
}

/// The hosts this rollback restores, in plan order.
fn restored<'h, 'r>(hosts: &'h [HostRun<'r>]) -> impl Iterator<Item = &'h HostRun<'r>> {
    hosts.iter().filter(|h| h.place.is_some())
}

impl Run<'_> {
    /// Choose the target, pick each host's backup, restore; the outcome.
    async fn execute(&self, hosts: &mut [HostRun<'_>]) -> Result<(Outcome, Target), String> {
        let listings = self.listings(hosts).await?;
        let serving = self.serving(hosts).await;
        let target = self.target(hosts, &listings, &serving).await?;
        let mut e = self.ctx.audit.event(None, Step::Target, Verdict::Info);
        e.build_id = Some(target.build_id.clone());
        e.detail = Some(format!("run {:?}", target.run_id));
        self.ctx.audit.record(e);
        self.ctx.ui.info(&format!(
            "rolling back to build {} ({})",
            target.build_id,
            match &target.run_id {
                Some(run) => format!("backups of run {run}"),
                None => "the newest backup of it on each host".into(),
            }
        ));
        self.restore_all(hosts, &target, &listings, &serving).await;
        let failed = restored(hosts).any(|h| h.result.state == HostState::RollbackFailed);
        Ok((
            if failed {
                Outcome::RollbackFailed
            } else {
                Outcome::Success
            },
            target,
        ))
    }

    /// Every restored host's backups; any host that cannot be listed stops the rollback.
    async fn listings(&self, hosts: &[HostRun<'_>]) -> Result<Vec<(String, Listing)>, String> {
        let l = &self.ctx.layout;
        let futs = restored(hosts).map(|h| async move {
            let name = h.result.host.clone();
            let listing = backup::list_all(h.remote, l).await;
            listing
                .map_err(|e| format!("{name}: backups: {e}"))
                .map(|l| (name, l))
        });
        fleet::futures_join_all(futs).await.into_iter().collect()
    }

    /// The build each restored host serves now (None: no answer).
    async fn serving(&self, hosts: &[HostRun<'_>]) -> Vec<Option<String>> {
        let futs = restored(hosts).map(|h| async move {
            verify::served(Some(h.remote), &h.remote.host, self.env)
                .await
                .map(|b| b.build_id)
        });
        fleet::futures_join_all(futs).await
    }

    async fn target(
        &self,
        hosts: &[HostRun<'_>],
        listings: &[(String, Listing)],
        serving: &[Option<String>],
    ) -> Result<Target, String> {
        match &self.opts.to {
            RollbackTo::Run(run) => return target::of_run(run, listings),
            RollbackTo::StableBuild => return self.stable_build(hosts).await,
            RollbackTo::Previous => {}
        }
        let futs = restored(hosts).map(|h| async move {
            let read = crate::releases::read(h.remote, &self.ctx.layout.history_file).await;
            read.map(|x| (h.result.host.clone(), x))
                .map_err(|e| format!("{}: release history: {e}", h.result.host))
        });
        let histories: Vec<_> = fleet::futures_join_all(futs)
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        let build_id = crate::releases::default_target(&histories, serving)?;
        Ok(Target {
            run_id: None,
            build_id,
        })
    }

    /// `gray --abort`: the one build every stable (non-gray) app host serves.
    async fn stable_build(&self, hosts: &[HostRun<'_>]) -> Result<Target, String> {
        let futs = hosts
            .iter()
            .filter(|h| h.result.roles.contains(&Role::App) && !h.remote.host.gray)
            .map(|h| async move {
                let b = verify::served(Some(h.remote), &h.remote.host, self.env).await;
                (h.remote.host.name.clone(), b.map(|b| b.build_id))
            });
        let builds = fleet::futures_join_all(futs).await;
        let first = builds.first().and_then(|(_, b)| b.clone());
        match first {
            Some(b) if builds.iter().all(|(_, x)| x.as_deref() == Some(b.as_str())) => Ok(Target {
                run_id: None,
                build_id: b,
            }),
            _ => Err(format!(
                "the stable hosts do not serve one build: {builds:?}"
            )),
        }
    }

    /// Every restored host with its listing and the build it serves (both in plan order).
    async fn restore_all(
        &self,
        hosts: &mut [HostRun<'_>],
        t: &Target,
        listings: &[(String, Listing)],
        serving: &[Option<String>],
    ) {
        let ctx = self.ctx;
        let items = hosts
            .iter_mut()
            .filter(|h| h.place.is_some())
            .zip(listings)
            .zip(serving);
        fleet::bounded(self.env.rollout.parallelism, items, |((h, (_, l)), now)| {
            restore_one(ctx, h.remote, &mut h.result, t, l, now.as_deref())
        })
        .await;
    }

    /// Hosts restored return to the one pool; hosts whose restore failed are kept out.
    async fn final_routing(&self, hosts: &[HostRun<'_>], report: &mut RollbackReport) {
        let members = hosts.iter().map(|h| (h.remote, h.result.roles.as_slice()));
        let mut lbs = Balancers::new(self.env, members, &report.run_id);
        if lbs.is_empty() || report.target.is_none() {
            return;
        }
        let before = match lbs.current().await {
            Ok(snap) => snap.down,
            Err(why) => {
                report.outcome = Outcome::RollbackFailed;
                report.reason = format!("{}; load balancer not changed: {why}", report.reason);
                return;
            }
        };
        let mut down = before.clone();
        for r in hosts.iter().map(|h| &h.result) {
            match r.state {
                HostState::RolledBack | HostState::Unchanged => down.remove(&r.host),
                HostState::RollbackFailed => down.insert(r.host.clone()),
                _ => false,
            };
        }
        // Never route to nothing: hosts whose restore failed still serve their build.
        lbs.keep_live(Pools::One, &mut down, &before, self.ctx.audit);
        let applied = match lbs.apply(Pools::One, &down, self.ctx.audit).await {
            Ok(()) => lbs.drift().await,
            Err(e) => Err(e),
        };
        if let Err(lb) = applied {
            report.outcome = Outcome::RollbackFailed;
            report.reason = format!("{}; load balancer: {lb}", report.reason);
        }
    }
}

/// Restore one host to `t` (or leave it when it already serves the build).
async fn restore_one(
    ctx: &HostCtx<'_>,
    r: &RemoteHost,
    res: &mut HostResult,
    t: &Target,
    l: &Listing,
    serving: Option<&str>,
) {
    res.previous_build = serving.map(str::to_string);
    let mut e = ctx
        .audit
        .event(Some(&res.host), Step::Before, Verdict::Info);
    e.build_id = res.previous_build.clone();
    ctx.audit.record(e);
    match target::pick(t, l, serving) {
        Ok(Some(b)) => {
            res.touched = true;
            res.backup = Some(b);
            hostrun::restore(ctx, r, res).await;
        }
        Ok(None) => {
            res.state = HostState::Unchanged;
            res.served_build = res.previous_build.clone();
        }
        Err(why) => {
            res.state = HostState::RollbackFailed;
            res.error = Some(HostError::Check(why).to_string());
            ctx.ui
                .done(&res.host, false, res.error.as_deref().unwrap_or(""));
        }
    }
}

/// Outcome recorded last (the run's and each host's), then each host's own audit log (the
/// hosts at once).
async fn finish(report: &mut RollbackReport, hosts: &[HostRun<'_>], ctx: &HostCtx<'_>) {
    let audit = ctx.audit;
    let result = Verdict::of(report.outcome == Outcome::Success);
    let mut e = audit.event(None, Step::Outcome, result);
    e.outcome = Some(report.outcome);
    e.detail = Some(report.reason.clone());
    e.build_id = report.target.as_ref().map(|t| t.build_id.clone());
    for h in hosts {
        let mut he = e.clone();
        he.host = Some(h.remote.host.name.clone());
        he.build_id = h.result.served_build.clone();
        audit.record(he);
    }
    let records = hosts.iter().map(|h| (h.remote, &h.result));
    crate::releases::record_all(ctx, records, report.outcome).await;
    hostrun::append_host_audits(ctx, hosts.iter().map(|h| h.remote)).await;
    audit.record(e);
}

fn aborted(mut report: RollbackReport, audit: &Audit, why: String) -> RollbackReport {
    let mut e = audit.event(None, Step::Outcome, Verdict::Fail);
    e.outcome = Some(Outcome::Aborted);
    e.detail = Some(why.clone());
    audit.record(e);
    report.reason = why;
    report.audit_error = audit.write_error();
    report
}
