//! The deployment under the lease: snapshot the load balancers, then the canary and batches
//! of app hosts with bounded parallelism, each batch's LB membership applied after it. A
//! zero-downtime restart is invisible to the load balancers: they change only when
//! membership does (a host fails verification or is restored, gray routing starts or
//! changes), or around each restart when `[lb] down_during_restart`.

use super::{finish, Ended, Mode, RolloutReport, Run};
use crate::audit::{Audit, Step, Verdict};
use crate::balancer::{Balancers, Pools};
use crate::fleet;
use crate::hostrun::{self, HostState, Job};
use crate::interrupt::Watch;
use crate::ops::HostRun;
use crate::outcome;
use std::collections::BTreeSet;

/// The routing of a run: in force before it (the snapshot restored after ROLLBACK,
/// INTERRUPTED or ABORTED), during the batches, after success; the hosts kept `down`.
pub(super) struct Routing {
    pub before: Pools,
    pub during: Pools,
    pub after: Pools,
    pub down: BTreeSet<String>,
    /// The hosts down in the snapshot (`down` as it was before the run).
    pub down_before: BTreeSet<String>,
}

/// Why the batches stopped.
pub(super) enum Stop {
    /// Every batch ran, or failures exceeded the tolerance (the outcome says which).
    Done,
    /// A first signal (SIGINT, SIGTERM, SIGHUP) before a batch started.
    Interrupted,
    /// A lease lost or a second signal: the batch in flight was cut, no further host changed.
    Cut,
    /// The canary failed: no new batches, whatever the tolerance.
    CanaryFailed,
    /// A load balancer refused a configuration.
    Lb(String),
    /// The batch's failures would leave a pool without a live member (named): not applied,
    /// no new batches; the run rolls back.
    DeadPool(String),
}

impl Run<'_> {
    /// From the LB snapshot to the recorded outcome.
    pub(super) async fn deploy(
        &self,
        job: &Job<'_>,
        hosts: &mut [HostRun<'_>],
        report: &mut RolloutReport,
        watch: &Watch,
    ) -> Ended {
        let members = hosts.iter().map(|h| (h.remote, h.result.roles.as_slice()));
        let mut lbs = Balancers::new(self.env, members, &report.run_id);
        let mut routing = match self.routing(&lbs).await {
            Ok(r) => r,
            Err(why) => return Ended::Aborted(format!("nothing touched: {why}")),
        };
        // `gray --percent P` without `--artifact`: only the share changes, nothing deployed.
        if matches!(self.opts.mode, Mode::Gray(_)) && self.opts.artifact.is_none() {
            if let Some(why) = share_refused(&lbs, routing.after, &routing.down, self.audit) {
                return Ended::Aborted(why);
            }
            report.batches.clear();
            hosts.iter_mut().for_each(|h| h.place = None);
        }
        let work = async {
            let stop = self
                .batches(job, hosts, (&mut lbs, &mut routing), &report.batches, watch)
                .await;
            finish::finish(job, hosts, &mut lbs, routing, (stop, watch)).await
        };
        // A signal is recorded when it arrives (the run goes on to the end of its step).
        let noted = async {
            if let crate::interrupt::Stop::Signal(name) = watch.stopped().await {
                let mut e = self.audit.event(None, Step::Signal, Verdict::Warn);
                e.detail = Some(format!(
                    "{name}: no new batch; the hosts already changed are restored"
                ));
                self.audit.record(e);
            }
            std::future::pending::<()>().await
        };
        let (out, reason) = tokio::select! {
            ended = work => ended,
            () = noted => unreachable!("pending"),
        };
        report.outcome = out;
        report.reason = Some(reason);
        Ended::Finished
    }

    /// The routing in force (recorded), and the one during and after this run.
    async fn routing(&self, lbs: &Balancers<'_>) -> Result<Routing, String> {
        let snap = lbs.current().await?;
        let (current, down) = (snap.percent, snap.down);
        let before = current.map_or(Pools::One, Pools::Gray);
        if !lbs.is_empty() {
            let mut e = self.audit.event(None, Step::LbSnapshot, Verdict::Info);
            e.detail = Some(format!("before the run: {before:?}, down {down:?}"));
            self.audit.record(e);
        }
        // Gray: the new share from the start (one LB change; the gray hosts restart without
        // a dropped request). Promote: the gray routing stays until every host serves the
        // build.
        let (during, after) = match self.opts.mode {
            Mode::Gray(p) => (Pools::Gray(p), Pools::Gray(p)),
            Mode::Promote => (before, Pools::One),
            Mode::Rollout => (Pools::One, Pools::One),
        };
        Ok(Routing {
            before,
            during,
            after,
            down_before: down.clone(),
            down,
        })
    }

    /// Batch after batch until done, interrupted, cut (a lease lost, a second signal), the
    /// canary failed, the tolerance is exceeded or a load balancer refuses.
    async fn batches(
        &self,
        job: &Job<'_>,
        hosts: &mut [HostRun<'_>],
        (lbs, routing): (&mut Balancers<'_>, &mut Routing),
        names: &[Vec<String>],
        watch: &Watch,
    ) -> Stop {
        let tolerance = self.env.thresholds.failure_tolerance;
        for (n, batch) in names.iter().enumerate() {
            if watch.must_cut() {
                return self.cut(watch);
            }
            if let Some(why) = watch.first() {
                self.ui.info(&format!(
                    "{why}: no new batch; restoring the hosts already changed"
                ));
                return Stop::Interrupted;
            }
            let progress = format!("batch {}/{}: {}", n + 1, names.len(), batch.join(", "));
            match self
                .batch(job, hosts, n, (lbs, routing), &progress, watch)
                .await
            {
                Ok(Cut::No) => {}
                Ok(Cut::Yes) => return self.cut(watch),
                Err(stop) => return stop,
            }
            let canary_failed = hosts
                .iter()
                .any(|h| h.in_batch(0) && h.result.state == HostState::Failed);
            if n == 0 && self.env.rollout.canary && canary_failed {
                self.ui
                    .info("the canary failed: no new batches, whatever the tolerance");
                return Stop::CanaryFailed;
            }
            if outcome::exceeded(finish::counted(hosts), tolerance) {
                self.ui.info(&format!(
                    "failures among non-DR hosts exceed the tolerance ({tolerance}): no new batches"
                ));
                return Stop::Done;
            }
        }
        Stop::Done
    }

    /// Stop at once: a lease lost (recorded now: after this record nothing is changed but
    /// the restores) or a second signal.
    fn cut(&self, watch: &Watch) -> Stop {
        let cause = match watch.lease_lost() {
            Some(hosts) => crate::interrupt::Stop::LeaseLost(hosts).to_string(),
            None => "second signal".to_string(),
        };
        let msg = format!("{cause}: stopped at once, the steps in flight cut");
        self.ui.info(&msg);
        if watch.lease_lost().is_some() {
            let mut e = self.audit.event(None, Step::Lease, Verdict::Fail);
            e.detail = Some(msg);
            self.audit.record(e);
        }
        Stop::Cut
    }

    /// One batch: its hosts `down` first when `[lb] down_during_restart` (unless that would
    /// leave a pool without a live member), deployed with bounded parallelism (cut, with no
    /// LB change after it, when `watch` says so: a lost lease or a second signal), then the LB
    /// membership they earned, unless it would route a pool to nothing: then nothing is
    /// applied and the run stops ([`Stop::DeadPool`]).
    async fn batch(
        &self,
        job: &Job<'_>,
        hosts: &mut [HostRun<'_>],
        n: usize,
        (lbs, routing): (&mut Balancers<'_>, &mut Routing),
        progress: &str,
        watch: &Watch,
    ) -> Result<Cut, Stop> {
        let mut marked = routing.down.clone();
        if self.env.lb.down_during_restart {
            marked.extend(
                hosts
                    .iter()
                    .filter(|h| h.in_batch(n))
                    .map(|h| h.result.host.clone()),
            );
            if let Some(pool) = lbs.dead_pool(routing.during, &marked) {
                let mut e = self.audit.event(None, Step::LbRouting, Verdict::Warn);
                e.detail = Some(format!(
                    "batch {} stays in rotation during its restart: marking it down would leave the {pool} pool without a live member",
                    n + 1
                ));
                self.audit.record(e);
                marked = routing.down.clone();
            }
        }
        lbs.apply(routing.during, &marked, self.audit)
            .await
            .map_err(Stop::Lb)?;
        self.ui.info(progress);
        let mut batch: Vec<&mut HostRun<'_>> = hosts.iter_mut().filter(|h| h.in_batch(n)).collect();
        batch.sort_by_key(|h| h.place);
        let all = fleet::bounded(self.env.rollout.parallelism, batch, |h| {
            hostrun::deploy(job, h.remote, &mut h.result)
        });
        tokio::select! {
            _ = all => {}
            () = watch.cut() => return Ok(Cut::Yes),
        }
        for h in hosts.iter().filter(|h| h.in_batch(n)) {
            finish::lb_membership(&mut routing.down, &h.result);
        }
        if let Some(pool) = lbs.dead_pool(routing.during, &routing.down) {
            let why = format!(
                "marking {:?} down would leave the {pool} pool without a live member",
                routing.down
            );
            self.ui.info(&format!("{why}: not applied, no new batches"));
            return Err(Stop::DeadPool(why));
        }
        lbs.apply(routing.during, &routing.down, self.audit)
            .await
            .map(|()| Cut::No)
            .map_err(Stop::Lb)
    }
}

/// Whether a batch's hosts were cut in flight.
enum Cut {
    No,
    Yes,
}

/// Why a share-only gray run cannot apply `after`: no LB, or a pool without a live member.
fn share_refused(
    lbs: &Balancers<'_>,
    after: Pools,
    down: &BTreeSet<String>,
    audit: &Audit,
) -> Option<String> {
    if lbs.is_empty() {
        return Some("gray --percent without --artifact: no load balancer to change".into());
    }
    (lbs.live(after, down, audit) != after).then(|| {
        "gray --percent without --artifact: a pool has no live member; routing unchanged".into()
    })
}
