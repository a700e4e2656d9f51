//! The end of a run: classify, restore what must be restored, set the final routing, record
//! the outcome (last, once final) and the per-host builds, and the one-line summary.

use super::batches::{Routing, Stop};
use crate::audit::{Audit, Step, Verdict};
use crate::balancer::{Balancers, Pools};
use crate::fleet;
use crate::hostrun::{self, HostCtx, HostResult, HostState, Job};
use crate::interrupt::{self, Watch, FORCED_BOUND};
use crate::ops::HostRun;
use crate::outcome::{self, Outcome};
use std::collections::BTreeSet;

/// After the batches: the outcome and its one-line reason, recorded last.
pub(super) async fn finish(
    job: &Job<'_>,
    hosts: &mut [HostRun<'_>],
    lbs: &mut Balancers<'_>,
    mut routing: Routing,
    (stop, watch): (Stop, &Watch),
) -> (Outcome, String) {
    for h in hosts.iter_mut() {
        if h.result.state == HostState::Pending {
            h.result.state = if h.result.touched {
                // Cut in flight (a lease lost, a second signal): changed, not verified.
                h.result.error = Some("stopped in flight".into());
                HostState::Failed
            } else if h.place.is_some() {
                HostState::Skipped
            } else {
                HostState::Unchanged
            };
        }
    }
    let classified = classify(job, hosts, &stop, watch);
    let (mut out, dead) = keep_a_live_pool(job, lbs, &routing, classified, &stop);
    let mut lb_error = match stop {
        Stop::Lb(e) => Some(e),
        _ => None,
    };
    // Restore: every touched host on ROLLBACK, the failed ones on PARTIAL_SUCCESS.
    restore_touched(job, hosts, out).await;
    let failed_restore = hosts
        .iter()
        .any(|h| h.result.state == HostState::RollbackFailed);
    if !matches!(out, Outcome::Interrupted | Outcome::LeaseLost) && failed_restore {
        out = Outcome::RollbackFailed;
    }
    // Final routing, also after an LB error (every LB consistent with the hosts again):
    // failed hosts stay out of the pools; after ROLLBACK, INTERRUPTED, LEASE_LOST or ABORTED
    // the routing snapshotted before the run. After a second signal, within a bound.
    let pools = if back(out) {
        routing.before
    } else {
        routing.after
    };
    let audit = job.ctx.audit;
    let down = (&mut routing.down, &routing.down_before);
    let routed = final_routing(lbs, hosts, out, pools, down, audit);
    let routed = match interrupt::is_forced() {
        true => tokio::time::timeout(FORCED_BOUND, routed)
            .await
            .unwrap_or_else(|_| Some(format!("not confirmed within {FORCED_BOUND:?}"))),
        false => routed.await,
    };
    if let Some(e) = routed {
        lb_error = Some(match lb_error {
            Some(first) => format!("{first}; restoring the routing: {e}"),
            None => e,
        });
        if out == Outcome::Success {
            out = Outcome::PartialSuccess;
        }
    }
    // The end of every run: live routing equals the file on every LB, or the run says which
    // LB differs (not after a second signal: bounded already).
    if lb_error.is_none() && !interrupt::is_forced() {
        if let Err(d) = lbs.drift().await {
            lb_error = Some(d);
            if out == Outcome::Success {
                out = Outcome::PartialSuccess;
            }
        }
    }
    let results: Vec<&HostResult> = hosts.iter().map(|h| &h.result).collect();
    let mut reason = summary(results.iter().copied());
    if let Some(why) = dead {
        reason = format!("{reason}; {why}");
    }
    if let Some(lb) = &lb_error {
        reason = format!("{reason}; load balancer: {lb}");
    }
    if let Some(hosts) = watch.lease_lost() {
        let lost = interrupt::Stop::LeaseLost(hosts);
        reason = format!("{lost}: stopped at once, routing restored to the snapshot; {reason}");
    } else if interrupt::is_forced() {
        reason = format!(
            "forced by a second signal: {reason}; {}",
            interrupt::left_behind()
        );
    }
    record_outcome(&job.ctx, hosts, out, &reason).await;
    (out, reason)
}

/// Outcomes after which the routing snapshotted before the run is restored.
fn back(out: Outcome) -> bool {
    matches!(
        out,
        Outcome::Rollback | Outcome::Interrupted | Outcome::Aborted | Outcome::LeaseLost
    )
}

/// The outcome before any restore: from the failures and the tolerance, unless the canary
/// failed (ROLLBACK), a signal came (INTERRUPTED), a load balancer refused, or a lease was
/// lost (LEASE_LOST, whatever else happened).
fn classify(job: &Job<'_>, hosts: &[HostRun<'_>], stop: &Stop, watch: &Watch) -> Outcome {
    let any_failed = hosts.iter().any(|h| h.result.state == HostState::Failed);
    let tolerance = job.ctx.env.thresholds.failure_tolerance;
    let mut out = outcome::classify(counted(hosts), any_failed, tolerance);
    if let Stop::CanaryFailed = stop {
        out = Outcome::Rollback;
    }
    // An interrupt during the last batch counts too: the changed hosts are restored.
    if matches!(stop, Stop::Interrupted) || crate::interrupt::requested() {
        out = Outcome::Interrupted;
    }
    if let Stop::Lb(e) = stop {
        job.ctx
            .ui
            .info(&format!("load balancer refused the new configuration: {e}"));
    }
    if matches!(stop, Stop::Lb(_) | Stop::DeadPool(_)) {
        out = if hosts.iter().any(|h| h.result.touched) {
            Outcome::Rollback
        } else {
            Outcome::Aborted
        };
    }
    if watch.lease_lost().is_some() {
        out = Outcome::LeaseLost;
    }
    out
}

/// Never route to nothing: a run stopped because its failures would leave a pool without a
/// live member, or whose SUCCESS / PARTIAL_SUCCESS routing would, ends ROLLBACK (every touched
/// host restored, the snapshot's routing): the previous build stays in the pool. Returns the
/// outcome and, when it decided, why (audited).
fn keep_a_live_pool(
    job: &Job<'_>,
    lbs: &Balancers<'_>,
    routing: &Routing,
    mut out: Outcome,
    stop: &Stop,
) -> (Outcome, Option<String>) {
    let mut dead = match stop {
        Stop::DeadPool(why) => Some(why.clone()),
        _ => None,
    };
    if matches!(out, Outcome::Success | Outcome::PartialSuccess) {
        if let Some(pool) = lbs.dead_pool(routing.after, &routing.down) {
            let why = format!(
                "{} with {:?} down would leave the {pool} pool without a live member",
                out.as_str(),
                routing.down
            );
            job.ctx.ui.info(&format!("{why}: rolling back"));
            dead = Some(why);
            out = Outcome::Rollback;
        }
    }
    if let Some(why) = &dead {
        let mut e = job.ctx.audit.event(None, Step::LbRouting, Verdict::Warn);
        e.detail = Some(format!(
            "{why}: the previous build stays in the pool ({})",
            out.as_str()
        ));
        job.ctx.audit.record(e);
    }
    (out, dead)
}

/// Restore every touched host on ROLLBACK (or INTERRUPTED, LEASE_LOST), the failed ones
/// otherwise. A second signal cuts the restores (the hosts left are named).
async fn restore_touched(job: &Job<'_>, hosts: &mut [HostRun<'_>], out: Outcome) {
    let all = matches!(
        out,
        Outcome::Rollback | Outcome::Interrupted | Outcome::LeaseLost
    );
    let restore: Vec<&mut HostRun<'_>> = hosts
        .iter_mut()
        .filter(|h| h.result.touched && (all || h.result.state == HostState::Failed))
        .collect();
    if restore.is_empty() {
        return;
    }
    job.ctx
        .ui
        .info(&format!("restoring {} host(s) from backup", restore.len()));
    let all = fleet::bounded(job.ctx.env.rollout.parallelism, restore, |h| {
        hostrun::restore(&job.ctx, h.remote, &mut h.result)
    });
    tokio::select! {
        _ = all => {}
        () = interrupt::forced() => job.ctx.ui.info("second signal: the restores are cut"),
    }
}

/// Apply `pools` with failed hosts out; after ROLLBACK restored hosts return (a host whose
/// deployment failed otherwise stays out even when restored: no mixed versions). A pool is
/// never left without a live member: then the hosts live in the snapshot (`down_before`) are
/// let back in, and should the snapshot itself route to nothing, every host.
async fn final_routing(
    lbs: &mut Balancers<'_>,
    hosts: &[HostRun<'_>],
    out: Outcome,
    pools: Pools,
    (down, down_before): (&mut BTreeSet<String>, &BTreeSet<String>),
    audit: &Audit,
) -> Option<String> {
    if lbs.is_empty() {
        return None;
    }
    let back = back(out);
    for r in hosts.iter().map(|h| &h.result) {
        match r.state {
            HostState::RolledBack if back => down.remove(&r.host),
            HostState::RollbackFailed => down.insert(r.host.clone()),
            _ => false,
        };
    }
    // Back to the snapshot, a host this run changed and did not restore (its restore cut by
    // a second signal) stays out too, unless that would leave no app host in the pools.
    if back {
        let left: Vec<&str> = hosts
            .iter()
            .filter(|h| h.result.touched && h.result.state != HostState::RolledBack)
            .map(|h| h.result.host.as_str())
            .collect();
        let app = hosts
            .iter()
            .filter(|h| h.result.roles.contains(&crate::inventory::Role::App));
        let live = app
            .filter(|h| !down.contains(&h.result.host) && !left.contains(&h.result.host.as_str()))
            .count();
        if live > 0 {
            down.extend(left.iter().map(|h| h.to_string()));
        }
    }
    lbs.keep_live(pools, down, down_before, audit);
    lbs.apply(pools, down, audit).await.err()
}

/// The run's outcome event and one per host (with the build it serves), then each host's
/// own audit log (the hosts at once, bounded); the run's event is written last.
async fn record_outcome(ctx: &HostCtx<'_>, hosts: &[HostRun<'_>], out: Outcome, reason: &str) {
    let result = Verdict::of(out == Outcome::Success);
    let mut e = ctx.audit.event(None, Step::Outcome, result);
    e.outcome = Some(out);
    e.detail = Some(reason.to_string());
    for h in hosts {
        let mut he = e.clone();
        he.host = Some(h.remote.host.name.clone());
        he.build_id = h
            .result
            .served_build
            .clone()
            .or_else(|| h.result.previous_build.clone());
        ctx.audit.record(he);
    }
    let records = hosts.iter().map(|h| (h.remote, &h.result));
    let on_hosts = async {
        crate::releases::record_all(ctx, records, out).await;
        hostrun::append_host_audits(ctx, hosts.iter().map(|h| h.remote)).await;
    };
    if interrupt::is_forced() {
        let _ = tokio::time::timeout(FORCED_BOUND, on_hosts).await;
    } else {
        on_hosts.await;
    }
    ctx.audit.record(e);
}

/// A host that failed verification leaves the pools; one that verified (back) joins them.
pub(super) fn lb_membership(down: &mut BTreeSet<String>, res: &HostResult) {
    match res.state {
        HostState::Verified => {
            down.remove(&res.host);
        }
        HostState::Failed | HostState::RollbackFailed => {
            down.insert(res.host.clone());
        }
        _ => {}
    }
}

/// Failures that count toward the tolerance (failed hosts that are not DR).
pub(super) fn counted(hosts: &[HostRun<'_>]) -> usize {
    outcome::counted_failures(
        hosts
            .iter()
            .filter(|h| h.result.state == HostState::Failed)
            .map(|h| (h.result.host.as_str(), h.result.dr)),
    )
}

/// One-line summary: verified / failed (named) / rolled back.
pub fn summary<'a>(results: impl IntoIterator<Item = &'a HostResult> + Clone) -> String {
    let names = |s: HostState| -> Vec<String> {
        results
            .clone()
            .into_iter()
            .filter(|r| r.state == s)
            .map(|r| r.host.clone())
            .collect()
    };
    let mut parts = vec![format!("{} verified", names(HostState::Verified).len())];
    if let Some(name) = crate::interrupt::signal_name() {
        parts.insert(0, format!("interrupted by {name}"));
    }
    for (label, s) in [
        ("failed", HostState::Failed),
        ("rolled back", HostState::RolledBack),
        ("rollback FAILED", HostState::RollbackFailed),
        ("skipped", HostState::Skipped),
    ] {
        let n = names(s);
        if !n.is_empty() {
            parts.push(format!("{label}: {}", n.join(", ")));
        }
    }
    parts.join("; ")
}
