//! The plan of a run: which hosts it deploys, in which batch (the canary alone first when
//! enabled, non-DR hosts first), and the `--dry-run` view of it.

use super::{deployable, Mode, RolloutReport};
use crate::artifact::ArtifactInfo;
use crate::fleet;
use crate::hostrun::Job;
use crate::inventory::Environment;
use crate::ops::{HostRun, Place};

/// Give every host this run deploys its [`Place`]; the batches by name go to the report.
/// Err: there is nothing this run may deploy to (no such app host, or every one is DR).
pub(super) fn place(
    hosts: &mut [HostRun<'_>],
    env: &Environment,
    mode: Mode,
    report: &mut RolloutReport,
) -> Result<(), String> {
    let mut app: Vec<usize> = (0..hosts.len())
        .filter(|&i| deployable(&hosts[i], mode))
        .collect();
    // A DR host is never the canary: non-DR hosts first (stable order otherwise).
    app.sort_by_key(|&i| hosts[i].result.dr);
    let what = if matches!(mode, Mode::Gray(_)) {
        "gray app"
    } else {
        "app"
    };
    if app.is_empty() {
        return Err(format!("no {what} host; nothing touched"));
    }
    if app.iter().all(|&i| hosts[i].result.dr) {
        return Err(format!("every {what} host is DR; nothing touched"));
    }
    let batches = fleet::plan_batches(app.len(), env.rollout.batch_size, env.rollout.canary);
    for (batch, ranks) in batches.iter().enumerate() {
        for &rank in ranks {
            hosts[app[rank]].place = Some(Place { batch, rank });
        }
    }
    report.batches = batches
        .iter()
        .map(|b| {
            b.iter()
                .map(|&k| hosts[app[k]].result.host.clone())
                .collect()
        })
        .collect();
    Ok(())
}

/// `--dry-run`: what each planned host would go through, batch by batch.
pub(super) fn show(job: &Job<'_>, hosts: &[HostRun<'_>], artifact: &ArtifactInfo) {
    let mut planned: Vec<(Place, &HostRun<'_>)> =
        hosts.iter().filter_map(|h| Some((h.place?, h))).collect();
    planned.sort_by_key(|(p, _)| *p);
    let l = &job.ctx.layout;
    for (p, h) in planned {
        let res = &h.result;
        job.ctx.ui.info(&format!(
            "plan: batch {} {} (roles {:?}{}): backup to {}, upload {} -> {}, restart, verify {}",
            p.batch + 1,
            res.host,
            res.roles,
            if res.dr { ", DR" } else { "" },
            l.backup_dir,
            artifact.sha256,
            l.binary,
            artifact.build_id
        ));
    }
}
