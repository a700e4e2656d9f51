//! Abort, routing first: the gray pool leaves every LB at once in one routing-only change
//! (Balancers built from the inventory, so only the LB hosts are reached: an unreachable
//! stable or database host cannot hold it up), stable-only routing is verified on every LB,
//! and only then ([`Abort::restore`]) are the gray hosts the gray run changed restored from
//! its backups over the held connections and let back in. A gray host that is not restored
//! stays out of every pool. The abort is its own run (`gray-abort` audit log).

use super::hold::Hold;
use super::stable_only;
use crate::audit::{self, Audit, Command, Step, Verdict};
use crate::balancer::{Balancers, Pools};
use crate::hostrun::{self, HostCtx, HostResult, HostState};
use crate::inventory::{Environment, Role};
use crate::ops::rollout::RolloutReport;
use crate::outcome::Outcome;
use crate::remote::{Layout, RemoteHost};
use crate::ui::Ui;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What the abort did (the `action` of the `--json` document).
#[derive(Debug, Clone, Serialize)]
pub struct AbortReport {
    pub run_id: String,
    pub audit_log: PathBuf,
    /// SUCCESS: routed to stable and every gray host restored; PARTIAL_SUCCESS: routed to
    /// stable, some gray host not restorable by this run (`not_restored`); ROLLBACK_FAILED:
    /// the routing change or a restore failed.
    pub outcome: Outcome,
    /// The LBs that refused the routing-only change (None: every LB applied it).
    pub routing_error: Option<String>,
    /// Every LB routes to the stable pool only and serves that file.
    pub stable_only_verified: bool,
    /// The gray hosts restored (or whose restore failed), with their results.
    pub restored: Vec<HostResult>,
    /// Gray hosts not restored, each with why: they stay out of every pool.
    pub not_restored: Vec<String>,
}

/// One abort: its audit log, the LBs and what is kept down.
pub struct Abort<'a> {
    env: &'a Environment,
    hold: &'a Hold,
    gray: &'a RolloutReport,
    ui: &'a Ui,
    audit: Audit,
    lbs: Balancers<'a>,
    down: BTreeSet<String>,
    pub report: AbortReport,
}

/// The gray app hosts of the gray run.
fn gray_apps(env: &Environment, gray: &RolloutReport) -> Vec<String> {
    env.hosts
        .iter()
        .filter(|h| h.gray && is_app(gray, &h.name))
        .map(|h| h.name.clone())
        .collect()
}

fn is_app(gray: &RolloutReport, name: &str) -> bool {
    gray.hosts
        .iter()
        .any(|r| r.host == name && r.roles.contains(&Role::App))
}

impl<'a> Abort<'a> {
    /// Open the abort run's audit log; the LB hosts are the gray run's, over `hold`.
    pub fn open(
        env: &'a Environment,
        hold: &'a Hold,
        gray: &'a RolloutReport,
        state_dir: &Path,
        ui: &'a Ui,
    ) -> std::io::Result<Self> {
        let run_id = audit::new_run_id();
        let audit = Audit::open(state_dir, &run_id, &env.name, Command::GrayAbort)?;
        let lbs: Vec<&RemoteHost> = gray
            .hosts
            .iter()
            .filter(|h| h.roles.contains(&Role::Lb))
            .filter_map(|h| hold.host(&h.host))
            .collect();
        let members = env.hosts.iter().filter(|h| is_app(gray, &h.name));
        let lbs = Balancers::of_members(env, lbs, members, &run_id);
        let report = AbortReport {
            run_id,
            audit_log: audit.path.clone(),
            outcome: Outcome::RollbackFailed,
            routing_error: None,
            stable_only_verified: false,
            restored: vec![],
            not_restored: vec![],
        };
        Ok(Abort {
            env,
            hold,
            gray,
            ui,
            audit,
            lbs,
            down: BTreeSet::new(),
            report,
        })
    }

    /// The routing-only change: one pool, every gray host down, on every LB at once; then
    /// stable-only routing verified on every LB. True when verified.
    pub async fn route(&mut self, why: &str) -> bool {
        let mut e = self.audit.event(None, Step::Start, Verdict::Info);
        e.detail = Some(format!("abort of gray run {}: {why}", self.gray.run_id));
        self.audit.record(e);
        self.ui
            .info("abort: taking the gray pool out of every load balancer");
        // An emergency: an LB that cannot be read (or LBs that disagree) does not stop the
        // gray pool going out; only the stable hosts marked down may come back in then.
        let mut down = match self.lbs.current().await {
            Ok(snap) => snap.down,
            Err(why) => {
                let mut e = self.audit.event(None, Step::LbSnapshot, Verdict::Warn);
                e.detail = Some(format!("{why}: taking the gray pool out regardless"));
                self.audit.record(e);
                Default::default()
            }
        };
        down.extend(gray_apps(self.env, self.gray));
        let applied = self.lbs.apply(Pools::One, &down, &self.audit).await;
        self.down = down;
        let verified = applied.is_ok() && stable_only(&self.lbs.lbs, self.env).await;
        let mut e = self
            .audit
            .event(None, Step::LbRouting, Verdict::of(verified));
        e.detail = Some(match &applied {
            Ok(()) => format!("stable-only routing verified on every LB: {verified}"),
            Err(lb) => format!("the routing-only change failed: {lb}"),
        });
        self.audit.record(e);
        self.report.routing_error = applied.err();
        self.report.stable_only_verified = verified;
        verified
    }

    /// Restore the gray hosts the gray run changed (its backups), verify the stable build
    /// serves, let them back into the pool; record the abort run's outcome.
    pub async fn restore(mut self) -> AbortReport {
        let mut items: Vec<(&RemoteHost, HostResult)> = vec![];
        for name in gray_apps(self.env, self.gray) {
            let res = self.gray.hosts.iter().find(|h| h.host == name);
            match (self.hold.host(&name), res) {
                (Some(r), Some(res)) if res.touched && res.backup.is_some() => {
                    items.push((r, res.clone()))
                }
                _ => self.report.not_restored.push(format!(
                    "{name}: not changed by gray run {} (no backup of it): kept out of the \
                     pools; `deployctl gray --abort` restores it",
                    self.gray.run_id
                )),
            }
        }
        let ctx = HostCtx {
            env: self.env,
            layout: Layout::of(self.env),
            audit: &self.audit,
            ui: self.ui,
        };
        crate::fleet::bounded(
            self.env.rollout.parallelism,
            items.iter_mut(),
            |(r, res)| hostrun::restore(&ctx, r, res),
        )
        .await;
        for (_, res) in &items {
            if res.state == HostState::RolledBack {
                self.down.remove(&res.host);
            }
        }
        let readmitted = self.lbs.apply(Pools::One, &self.down, &self.audit).await;
        let failed = items.iter().any(|(_, r)| r.state != HostState::RolledBack);
        self.report.outcome = if failed || readmitted.is_err() || !self.report.stable_only_verified
        {
            Outcome::RollbackFailed
        } else if self.report.not_restored.is_empty() {
            Outcome::Success
        } else {
            Outcome::PartialSuccess
        };
        hostrun::append_host_audits(&ctx, items.iter().map(|(r, _)| *r)).await;
        let mut e = self.audit.event(
            None,
            Step::Outcome,
            Verdict::of(self.report.outcome == Outcome::Success),
        );
        e.outcome = Some(self.report.outcome);
        e.detail = Some(self.detail(readmitted.err()));
        self.audit.record(e);
        self.report.restored = items.into_iter().map(|(_, r)| r).collect();
        self.report
    }

    /// The outcome line: restored hosts, those kept out, an LB error.
    fn detail(&self, lb: Option<String>) -> String {
        let mut parts = vec![format!(
            "routed to stable (verified: {})",
            self.report.stable_only_verified
        )];
        parts.extend(self.report.not_restored.iter().cloned());
        if let Some(lb) = lb {
            parts.push(format!("letting the restored hosts back in: {lb}"));
        }
        parts.join("; ")
    }
}
