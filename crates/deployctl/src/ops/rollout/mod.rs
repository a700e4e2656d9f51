//! `deployctl rollout`: connect, detect, netcheck, lock, then a canary and batches of app
//! hosts with bounded parallelism; stop starting batches once failures among non-DR hosts
//! exceed the tolerance; classify the outcome; roll back (and verify) what must be restored.

use crate::artifact::{prepare, ArtifactInfo};
use crate::audit::{self, Audit};
use crate::balancer::{Balancers, Pools};
use crate::fleet::{self, HostNet};
use crate::hostrun::{self, HostCtx, HostResult, HostState, IfCurrent, Job};
use crate::inventory::{Environment, Role};
use crate::outcome::{self, Outcome};
use crate::remote::Layout;
use crate::ui::Ui;
use crate::{lease, lock};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

mod finish;
use crate::fleet::close_all;
pub use finish::summary;
use finish::{counted, lb_membership};

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub state_dir: PathBuf,
    pub artifact: Option<PathBuf>,
    pub dry_run: bool,
    pub mode: Mode,
}

/// What the run deploys and how the load balancers route afterwards.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Every app host; one pool afterwards.
    Rollout,
    /// Only the hosts marked `gray`; then P% of clients (and the gray header) go to them.
    Gray(f64),
    /// Every app host not yet serving the build; one pool afterwards.
    Promote,
}

/// Errors that stop a run before it starts (nothing touched).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("artifact {path}: {reason}")]
    Artifact { path: PathBuf, reason: String },
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error("audit log: {0}")]
    Audit(#[from] std::io::Error),
}

/// Result of a rollout (also the `--json` document).
#[derive(Debug, Clone, Serialize)]
pub struct RolloutReport {
    pub run_id: String,
    pub env: String,
    pub outcome: Outcome,
    pub dry_run: bool,
    pub reason: Option<String>,
    pub artifact: ArtifactInfo,
    pub netcheck: Vec<HostNet>,
    pub batches: Vec<Vec<String>>,
    pub hosts: Vec<HostResult>,
    pub elapsed_ms: u128,
    pub audit_log: PathBuf,
    /// The local audit log could not be written: the run fails.
    pub audit_error: Option<String>,
}

/// Run a rollout of `env`.
pub async fn rollout(
    env: &Environment,
    opts: &RunOptions,
    ui: &Ui,
) -> Result<RolloutReport, RunError> {
    let t0 = Instant::now();
    let (artifact, payloads) = prepare(env, opts).await?;
    let run_id = audit::new_run_id();
    let audit = Audit::open(&opts.state_dir, &run_id, &env.name, command(opts))?;
    let mut start = audit.event(None, "start", "info");
    start.sha256 = Some(artifact.sha256.clone());
    start.build_id = Some(artifact.build_id.clone());
    start.detail = Some(format!(
        "artifact {} ({} bytes)",
        artifact.path.display(),
        artifact.bytes
    ));
    audit.record(start);
    ui.info(&format!(
        "run {run_id}: {} build {} (label `{}`, sha256 {}) to env {}",
        artifact.path.display(),
        artifact.build_id,
        artifact.label,
        &artifact.sha256[..12],
        env.name
    ));
    let mut report = RolloutReport {
        run_id: run_id.clone(),
        env: env.name.clone(),
        outcome: Outcome::Aborted,
        dry_run: opts.dry_run,
        reason: None,
        artifact,
        netcheck: vec![],
        batches: vec![],
        hosts: vec![],
        elapsed_ms: 0,
        audit_log: audit.path.clone(),
        audit_error: None,
    };
    let abort = |mut report: RolloutReport, reason: String, audit: &Audit| {
        let mut e = audit.event(None, "outcome", "fail");
        e.outcome = Some("ABORTED".into());
        e.detail = Some(reason.clone());
        audit.record(e);
        report.reason = Some(reason);
        report.elapsed_ms = t0.elapsed().as_millis();
        report.audit_error = audit.write_error();
        Ok(report)
    };

    // 1. Network quality and 2. connect, concurrently (nothing is changed by either), then
    // 3. detect roles.
    let (netcheck, connected) = tokio::join!(fleet::netcheck_all(env), fleet::connect_all(env));
    report.netcheck = netcheck;
    let mut hosts = Vec::new();
    let mut failures = Vec::new();
    for c in connected {
        match c {
            Ok(r) => hosts.push(r),
            Err(e) => failures.push(e.to_string()),
        }
    }
    let mut net_bad = vec![];
    for n in &report.netcheck {
        let mut e = audit.event(
            Some(&n.host),
            "netcheck",
            if n.verdict.ok { "ok" } else { "warn" },
        );
        e.detail = Some(
            serde_json::to_string(&n.stats).unwrap_or_default()
                + " "
                + &n.verdict.reasons.join("; "),
        );
        audit.record(e);
        if !n.verdict.ok {
            ui.info(&format!(
                "{}: network past thresholds: {}",
                n.host,
                n.verdict.reasons.join("; ")
            ));
            net_bad.push(format!("{} ({})", n.host, n.verdict.reasons.join("; ")));
        }
    }
    if !net_bad.is_empty() && env.thresholds.on_network == crate::inventory::NetworkPolicy::Stop {
        close_all(&hosts).await;
        return abort(
            report,
            format!(
                "network past thresholds on {}; nothing touched",
                net_bad.join(", ")
            ),
            &audit,
        );
    }
    if !failures.is_empty() {
        close_all(&hosts).await;
        return abort(
            report,
            format!(
                "cannot use every host; nothing touched: {}",
                failures.join(" | ")
            ),
            &audit,
        );
    }
    let roles = fleet::detect_all(env, &hosts).await;
    let mut results = Vec::new();
    let mut app = Vec::new();
    for (r, roles) in hosts.iter().zip(roles) {
        match roles {
            Ok((roles, detected)) => {
                let mut e = audit.event(Some(&r.host.name), "detect", "ok");
                e.detail = Some(format!(
                    "{roles:?}{}",
                    if detected { " (detected)" } else { "" }
                ));
                audit.record(e);
                let gray_only = matches!(opts.mode, Mode::Gray(_));
                if roles.contains(&Role::App) && (!gray_only || r.host.gray) {
                    app.push(results.len());
                }
                results.push(HostResult::new(r, roles));
            }
            Err(e) => {
                close_all(&hosts).await;
                return abort(
                    report,
                    format!("{}: detect: {e}; nothing touched", r.host.name),
                    &audit,
                );
            }
        }
    }
    // A DR host is never the canary: non-DR hosts first (stable order otherwise).
    app.sort_by_key(|&i| results[i].dr);
    if let Some(why) = no_deployable(&results, &app, opts.mode) {
        close_all(&hosts).await;
        return abort(report, why, &audit);
    }
    let batches = fleet::plan_batches(app.len(), env.rollout.batch_size, env.rollout.canary);
    let batches: Vec<Vec<usize>> = batches
        .into_iter()
        .map(|b| b.into_iter().map(|i| app[i]).collect())
        .collect();
    report.batches = batches
        .iter()
        .map(|b| b.iter().map(|&i| results[i].host.clone()).collect())
        .collect();

    let job = Job {
        ctx: HostCtx {
            env,
            layout: Layout::of(env),
            audit: &audit,
            ui,
        },
        payloads,
        expected_build: report.artifact.build_id.clone(),
        if_current: if opts.mode == Mode::Rollout {
            IfCurrent::Redeploy
        } else {
            IfCurrent::Skip
        },
    };
    if opts.dry_run {
        for (n, b) in report.batches.iter().enumerate() {
            for h in b {
                let res = results.iter().find(|x| &x.host == h).expect("host");
                ui.info(&format!(
                    "plan: batch {} {h} (roles {:?}{}): backup to {}, upload {} -> {}, restart, verify {}",
                    n + 1, res.roles, if res.dr { ", DR" } else { "" }, job.ctx.layout.backup_dir,
                    report.artifact.sha256, job.ctx.layout.binary, report.artifact.build_id
                ));
            }
        }
        report.outcome = Outcome::Success;
        report.reason = Some("dry run: nothing touched".into());
        report.hosts = results;
        report.elapsed_ms = t0.elapsed().as_millis();
        close_all(&hosts).await;
        return Ok(report);
    }
    let guard = match lease::guard(env, &hosts, &opts.state_dir, &audit, ui).await {
        Ok(g) => g,
        Err(e) => {
            close_all(&hosts).await;
            return Err(e.into());
        }
    };

    // 4. Canary and batches. A zero-downtime restart is invisible to the load balancers: they
    // change only when membership does (a host fails verification or is restored, gray
    // routing starts or changes), or around each restart when `[lb] down_during_restart`.
    let roles: Vec<Vec<Role>> = results.iter().map(|r| r.roles.clone()).collect();
    let mut lbs = Balancers::new(env, &hosts, &roles, &run_id);
    let (current, mut down) = lbs.current().await;
    let before = current.map_or(Pools::One, Pools::Gray);
    if !lbs.is_empty() {
        let mut e = audit.event(None, "lb snapshot", "info");
        e.detail = Some(format!("before the run: {before:?}, down {down:?}"));
        audit.record(e);
    }
    // Gray: the new share from the start (one LB change; the gray hosts restart without a
    // dropped request). Promote: the gray routing stays until every host serves the build.
    let (during, after) = match opts.mode {
        Mode::Gray(p) => (Pools::Gray(p), Pools::Gray(p)),
        Mode::Promote => (before, Pools::One),
        Mode::Rollout => (Pools::One, Pools::One),
    };
    // `gray --percent P` without `--artifact`: only the share changes, nothing is deployed.
    let share_only = matches!(opts.mode, Mode::Gray(_)) && opts.artifact.is_none();
    if share_only {
        if let Some(why) = share_refused(&lbs, after, &down, &audit) {
            guard.release(&audit).await;
            close_all(&hosts).await;
            return abort(report, why, &audit);
        }
        report.batches.clear();
    }
    let batches = if share_only { vec![] } else { batches };
    let mut lb_error: Option<String> = None;
    let mut canary_down = false;
    let sem = Arc::new(tokio::sync::Semaphore::new(env.rollout.parallelism));
    let tolerance = env.thresholds.failure_tolerance;
    let mut interrupted = false;
    for (n, batch) in batches.iter().enumerate() {
        if crate::interrupt::requested() {
            ui.info("interrupted: no new batch; restoring the hosts already changed");
            interrupted = true;
            break;
        }
        let mut marked = down.clone();
        if env.lb.down_during_restart {
            marked.extend(batch.iter().map(|&i| results[i].host.clone()));
        }
        if let Err(e) = lbs.apply(during, &marked, &audit).await {
            lb_error = Some(e);
            break;
        }
        ui.info(&format!(
            "batch {}/{}: {}",
            n + 1,
            batches.len(),
            report.batches[n].join(", ")
        ));
        let mut slots: Vec<(usize, HostResult)> =
            batch.iter().map(|&i| (i, results[i].clone())).collect();
        let job = &job;
        let hosts = &hosts;
        let futs = slots.iter_mut().map(|(i, res)| {
            let sem = sem.clone();
            let r = &hosts[*i];
            async move {
                let _permit = sem.acquire().await.expect("semaphore");
                hostrun::deploy(job, r, res).await;
            }
        });
        fleet::futures_join_all(futs).await;
        for (i, res) in slots {
            lb_membership(&mut down, &res);
            results[i] = res;
        }
        if let Err(e) = lbs.apply(during, &down, &audit).await {
            lb_error = Some(e);
            break;
        }
        if n == 0 && env.rollout.canary && canary_failed(&results, &batches[0]) {
            ui.info("the canary failed: no new batches, whatever the tolerance");
            canary_down = true;
            break;
        }
        if outcome::exceeded(counted(&results), tolerance) {
            ui.info(&format!(
                "failures among non-DR hosts exceed the tolerance ({tolerance}): no new batches"
            ));
            break;
        }
    }
    for (i, r) in results.iter_mut().enumerate() {
        if r.state == HostState::Pending {
            r.state = if app.contains(&i) && !share_only {
                HostState::Skipped
            } else {
                HostState::Unchanged
            };
        }
    }
    let any_failed = results.iter().any(|r| r.state == HostState::Failed);
    let mut out = outcome::classify(counted(&results), any_failed, tolerance);
    if canary_down {
        out = Outcome::Rollback;
    }
    // An interrupt during the last batch counts too: the changed hosts are restored.
    if interrupted || crate::interrupt::requested() {
        out = Outcome::Interrupted;
    }
    if let Some(e) = &lb_error {
        ui.info(&format!("load balancer refused the new configuration: {e}"));
        out = if results.iter().any(|r| r.touched) {
            Outcome::Rollback
        } else {
            Outcome::Aborted
        };
    }
    // 5. Restore: every touched host on ROLLBACK, the failed ones on PARTIAL_SUCCESS.
    finish::restore_touched(&job, &hosts, &mut results, out).await;
    if out != Outcome::Interrupted && results.iter().any(|r| r.state == HostState::RollbackFailed) {
        out = Outcome::RollbackFailed;
    }
    // 6. Final routing, also after an LB error (every LB consistent with the hosts again):
    // failed hosts stay out of the pools; after ROLLBACK, INTERRUPTED or ABORTED the routing
    // snapshotted before the run.
    let back = matches!(
        out,
        Outcome::Rollback | Outcome::Interrupted | Outcome::Aborted
    );
    let pools = if back { before } else { after };
    let last = finish::final_routing(&mut lbs, &results, out, pools, &mut down, &audit).await;
    if let Some(e) = last {
        lb_error = Some(match lb_error {
            Some(first) => format!("{first}; restoring the routing: {e}"),
            None => e,
        });
        if out == Outcome::Success {
            out = Outcome::PartialSuccess;
        }
    }
    // 7. The outcome, once final, is the last record of the run.
    let reason = match &lb_error {
        Some(lb) => format!("{}; load balancer: {lb}", summary(&results)),
        None => summary(&results),
    };
    finish::record_outcome(&job, &hosts, &results, out, &reason).await;
    guard.release(&audit).await;
    close_all(&hosts).await;
    report.outcome = out;
    report.reason = Some(reason);
    report.audit_error = audit.write_error();
    report.hosts = results;
    report.elapsed_ms = t0.elapsed().as_millis();
    Ok(report)
}

/// Audit command name of the run.
fn command(opts: &RunOptions) -> &'static str {
    match (opts.dry_run, opts.mode) {
        (true, _) => "rollout-dry-run",
        (false, Mode::Rollout) => "rollout",
        (false, Mode::Gray(_)) => "gray",
        (false, Mode::Promote) => "promote",
    }
}

/// Why there is nothing this run may deploy to, if so.
fn no_deployable(results: &[HostResult], app: &[usize], mode: Mode) -> Option<String> {
    let what = if matches!(mode, Mode::Gray(_)) {
        "gray app"
    } else {
        "app"
    };
    if app.is_empty() {
        return Some(format!("no {what} host; nothing touched"));
    }
    if app.iter().all(|&i| results[i].dr) {
        return Some(format!("every {what} host is DR; nothing touched"));
    }
    None
}

/// Why a share-only gray run cannot apply `after`: no LB, or a pool without a live member.
fn share_refused(
    lbs: &Balancers<'_>,
    after: Pools,
    down: &std::collections::BTreeSet<String>,
    audit: &Audit,
) -> Option<String> {
    if lbs.is_empty() {
        return Some("gray --percent without --artifact: no load balancer to change".into());
    }
    (lbs.live(after, down, audit) != after).then(|| {
        "gray --percent without --artifact: a pool has no live member; routing unchanged".into()
    })
}

/// The canary (first batch) has a failed host.
fn canary_failed(results: &[HostResult], canary: &[usize]) -> bool {
    canary
        .iter()
        .any(|&i| results[i].state == HostState::Failed)
}
