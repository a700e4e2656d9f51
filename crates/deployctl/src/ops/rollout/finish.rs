//! The end of a run: restore what must be restored, set the final routing, record the
//! outcome (last, once final) and the per-host builds, and the one-line summary.

use crate::audit::Audit;
use crate::balancer::{Balancers, Pools};
use crate::fleet;
use crate::hostrun::{self, HostResult, HostState, Job};
use crate::outcome::{self, Outcome};
use crate::remote::RemoteHost;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Restore every touched host on ROLLBACK (or INTERRUPTED), the failed ones otherwise.
pub(crate) async fn restore_touched(
    job: &Job<'_>,
    hosts: &[RemoteHost],
    results: &mut [HostResult],
    out: Outcome,
) {
    let all = matches!(out, Outcome::Rollback | Outcome::Interrupted);
    let restore: Vec<usize> = (0..results.len())
        .filter(|&i| results[i].touched && (all || results[i].state == HostState::Failed))
        .collect();
    if restore.is_empty() {
        return;
    }
    job.ctx
        .ui
        .info(&format!("restoring {} host(s) from backup", restore.len()));
    let sem = Arc::new(tokio::sync::Semaphore::new(job.ctx.env.rollout.parallelism));
    let mut slots: Vec<(usize, HostResult)> =
        restore.iter().map(|&i| (i, results[i].clone())).collect();
    let futs = slots.iter_mut().map(|(i, res)| {
        let sem = sem.clone();
        let r = &hosts[*i];
        async move {
            let _permit = sem.acquire().await.expect("semaphore");
            hostrun::restore(&job.ctx, r, res).await;
        }
    });
    fleet::futures_join_all(futs).await;
    for (i, res) in slots {
        results[i] = res;
    }
}

/// Apply `pools` with failed hosts out; after ROLLBACK restored hosts return (a host whose
/// deployment failed otherwise stays out even when restored: no mixed versions).
pub(crate) async fn final_routing(
    lbs: &mut Balancers<'_>,
    results: &[HostResult],
    out: Outcome,
    pools: Pools,
    down: &mut BTreeSet<String>,
    audit: &Audit,
) -> Option<String> {
    if lbs.is_empty() {
        return None;
    }
    for r in results {
        match r.state {
            HostState::RolledBack
                if matches!(
                    out,
                    Outcome::Rollback | Outcome::Interrupted | Outcome::Aborted
                ) =>
            {
                down.remove(&r.host)
            }
            HostState::RollbackFailed => down.insert(r.host.clone()),
            _ => false,
        };
    }
    lbs.apply(pools, down, audit).await.err()
}

/// The run's outcome event and one per host (with the build it serves), then each host's
/// own audit log; the run's event is written last.
pub(crate) async fn record_outcome(
    job: &Job<'_>,
    hosts: &[RemoteHost],
    results: &[HostResult],
    out: Outcome,
    reason: &str,
) {
    let result = if out == Outcome::Success {
        "ok"
    } else {
        "fail"
    };
    let mut e = job.ctx.audit.event(None, "outcome", result);
    e.outcome = Some(out.as_str().into());
    e.detail = Some(reason.to_string());
    for (r, res) in hosts.iter().zip(results) {
        let mut he = e.clone();
        he.host = Some(r.host.name.clone());
        he.build_id = res
            .served_build
            .clone()
            .or_else(|| res.previous_build.clone());
        job.ctx.audit.record(he);
        hostrun::append_host_audit(&job.ctx, r).await;
    }
    job.ctx.audit.record(e);
}

/// A host that failed verification leaves the pools; one that verified (back) joins them.
pub(crate) fn lb_membership(down: &mut BTreeSet<String>, res: &HostResult) {
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

pub(crate) fn counted(results: &[HostResult]) -> usize {
    outcome::counted_failures(
        results
            .iter()
            .filter(|r| r.state == HostState::Failed)
            .map(|r| (r.host.as_str(), r.dr)),
    )
}

/// One-line summary: verified / failed (named) / rolled back.
pub fn summary(results: &[HostResult]) -> String {
    let names = |s: HostState| -> Vec<String> {
        results
            .iter()
            .filter(|r| r.state == s)
            .map(|r| r.host.clone())
            .collect()
    };
    let mut parts = vec![format!("{} verified", names(HostState::Verified).len())];
    if crate::interrupt::requested() {
        parts.insert(0, "interrupted (Ctrl-C)".into());
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
