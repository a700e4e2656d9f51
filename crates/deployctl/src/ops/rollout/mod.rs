//! `deployctl rollout` (and `gray --percent`, `promote`): a pipeline of named steps over one
//! [`HostRun`] per host. [`rollout`] prepares the artifact and the audit log, surveys the
//! fleet (netcheck and connect together), then [`Run::steps`]: gate on the network and the
//! connections, detect roles, plan the canary and batches, take the lock and leases,
//! snapshot the load balancers, run the batches (stop starting new ones once the canary
//! fails, failures among non-DR hosts exceed the tolerance or a signal came; cut the batch
//! in flight at once when a lease is lost or a second signal comes), then `finish`:
//! classify, restore, final routing, outcome record. Every connection is closed on the one
//! way out.

use crate::artifact::{prepare, ArtifactInfo};
use crate::audit::{self, Audit, Command, Step, Verdict};
use crate::fleet::{self, close_all, HostNet};
use crate::hostrun::{HostCtx, HostResult, IfCurrent, Job, Payload};
use crate::inventory::{Environment, Role};
use crate::ops::HostRun;
use crate::outcome::Outcome;
use crate::remote::{Layout, RemoteHost};
use crate::ui::Ui;
use crate::{lease, lock};
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod batches;
mod finish;
mod plan;
pub use finish::summary;

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub state_dir: PathBuf,
    pub artifact: Option<PathBuf>,
    pub dry_run: bool,
    pub mode: Mode,
    /// Set when the run is one step of a longer operation that holds the environment lock
    /// and every host lease itself (`gray --analyze`): the run takes neither.
    pub within: Option<Within>,
}

/// The part a run plays in the operation that holds the lock and the leases for it.
#[derive(Debug, Clone, Default)]
pub struct Within {
    /// The run id to use (the holder's leases carry it); `None`: a new one.
    pub run_id: Option<String>,
    /// The build judged: the artifact's bytes must hash to this sha256, else the run is
    /// refused before anything is touched (an artifact changed since it was judged).
    pub sha256: Option<String>,
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

/// How the steps ended (the report holds the rest).
enum Ended {
    /// Stopped before touching any host; recorded as ABORTED with this reason.
    Aborted(String),
    /// `--dry-run`: the plan was shown, nothing touched.
    Planned,
    /// The run went through; its outcome is recorded.
    Finished,
}

/// What every step of one run shares.
struct Run<'a> {
    env: &'a Environment,
    opts: &'a RunOptions,
    ui: &'a Ui,
    audit: &'a Audit,
    t0: Instant,
}

/// Run a rollout of `env`.
pub async fn rollout(
    env: &Environment,
    opts: &RunOptions,
    ui: &Ui,
) -> Result<RolloutReport, RunError> {
    let t0 = Instant::now();
    let (artifact, payloads) = prepare(env, opts).await?;
    let audit = open_audit(env, opts, &artifact, ui)?;
    let mut report = RolloutReport {
        run_id: audit.run_id.clone(),
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
    let run = Run {
        env,
        opts,
        ui,
        audit: &audit,
        t0,
    };
    // Network quality and connections, concurrently (neither changes anything).
    let (netcheck, (connected, connect_time)) =
        tokio::join!(fleet::netcheck_all(env), timed(fleet::connect_all(env)));
    report.netcheck = netcheck;
    record_connect(&audit, &connected, connect_time);
    let mut remotes = Vec::new();
    let mut failures = Vec::new();
    for c in connected {
        match c {
            Ok(r) => remotes.push(r),
            Err(e) => failures.push(e.to_string()),
        }
    }
    // The one way out of the steps: every connection is closed whatever they returned.
    let ended = run.steps(&remotes, &failures, payloads, &mut report).await;
    close_all(&remotes).await;
    match ended? {
        Ended::Aborted(reason) => run.aborted(&mut report, reason),
        Ended::Planned => report.elapsed_ms = t0.elapsed().as_millis(),
        Ended::Finished => {
            report.audit_error = audit.write_error();
            report.elapsed_ms = t0.elapsed().as_millis();
        }
    }
    Ok(report)
}

/// `fut`'s output and how long it took.
async fn timed<T>(fut: impl std::future::Future<Output = T>) -> (T, Duration) {
    let t0 = Instant::now();
    let out = fut.await;
    (out, t0.elapsed())
}

/// The run-level `connect` record: how many hosts answered and how long opening took.
fn record_connect<T, E>(audit: &Audit, connected: &[Result<T, E>], took: Duration) {
    let ok = connected.iter().filter(|c| c.is_ok()).count();
    let mut e = audit.event(None, Step::Connect, Verdict::of(ok == connected.len()));
    e.duration_ms = Some(took.as_millis());
    e.detail = Some(format!("{ok} of {} hosts connected", connected.len()));
    audit.record(e);
}

/// Open the run's audit log and record what it ships.
fn open_audit(
    env: &Environment,
    opts: &RunOptions,
    artifact: &ArtifactInfo,
    ui: &Ui,
) -> Result<Audit, RunError> {
    let run_id = opts
        .within
        .as_ref()
        .and_then(|w| w.run_id.clone())
        .unwrap_or_else(audit::new_run_id);
    let audit = Audit::open(&opts.state_dir, &run_id, &env.name, command(opts))?;
    let mut start = audit.event(None, Step::Start, Verdict::Info);
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
    Ok(audit)
}

impl Run<'_> {
    /// The steps between connecting and closing the connections.
    async fn steps(
        &self,
        remotes: &[RemoteHost],
        failures: &[String],
        payloads: Vec<Payload>,
        report: &mut RolloutReport,
    ) -> Result<Ended, RunError> {
        if let Some(why) = self.network_gate(&report.netcheck) {
            return Ok(Ended::Aborted(why));
        }
        if !failures.is_empty() {
            return Ok(Ended::Aborted(format!(
                "cannot use every host; nothing touched: {}",
                failures.join(" | ")
            )));
        }
        let mut hosts = match self.detect(remotes).await {
            Ok(h) => h,
            Err(why) => return Ok(Ended::Aborted(why)),
        };
        if let Err(why) = plan::place(&mut hosts, self.env, self.opts.mode, report) {
            return Ok(Ended::Aborted(why));
        }
        let job = self.job(payloads, &report.artifact.build_id);
        if self.opts.dry_run {
            plan::show(&job, &hosts, &report.artifact);
            report.outcome = Outcome::Success;
            report.reason = Some("dry run: nothing touched".into());
            report.hosts = hosts.into_iter().map(|h| h.result).collect();
            return Ok(Ended::Planned);
        }
        // Under an operation that holds the lock and the leases, it keeps them.
        let guard = match self.opts.within {
            Some(_) => None,
            None => Some(
                lease::guard(self.env, remotes, &self.opts.state_dir, self.audit, self.ui).await?,
            ),
        };
        // A lost lease or a signal stops the run (the holder of an enclosing operation
        // watches its own leases).
        let watch = match &guard {
            Some(g) => crate::interrupt::Watch::new(Some(g.lost_any())),
            None => crate::interrupt::Watch::signals(),
        };
        let ended = self.deploy(&job, &mut hosts, report, &watch).await;
        if let Some(g) = guard {
            // A loss that stopped the run is recorded already, before its outcome.
            match watch.lease_lost() {
                Some(_) if report.outcome == crate::outcome::Outcome::LeaseLost => {
                    g.release_loss_recorded(self.audit).await
                }
                _ => g.release(self.audit).await,
            }
        }
        if let Ended::Finished = ended {
            report.hosts = hosts.into_iter().map(|h| h.result).collect();
        }
        Ok(ended)
    }

    /// Every host's network verdict is recorded; past the thresholds stops the run when the
    /// inventory says so (`on_network = "stop"`).
    fn network_gate(&self, netcheck: &[HostNet]) -> Option<String> {
        let mut bad = vec![];
        for n in netcheck {
            let mut e = self.audit.event(
                Some(&n.host),
                Step::Netcheck,
                if n.verdict.ok {
                    Verdict::Ok
                } else {
                    Verdict::Warn
                },
            );
            e.duration_ms = Some(n.elapsed_ms);
            e.detail = Some(
                serde_json::to_string(&n.stats).unwrap_or_default()
                    + " "
                    + &n.verdict.reasons.join("; "),
            );
            self.audit.record(e);
            if !n.verdict.ok {
                let reasons = n.verdict.reasons.join("; ");
                self.ui
                    .info(&format!("{}: network past thresholds: {reasons}", n.host));
                bad.push(format!("{} ({reasons})", n.host));
            }
        }
        let stop = self.env.thresholds.on_network == crate::inventory::NetworkPolicy::Stop;
        (!bad.is_empty() && stop).then(|| {
            format!(
                "network past thresholds on {}; nothing touched",
                bad.join(", ")
            )
        })
    }

    /// Roles of every host (recorded); any detection error stops the run.
    async fn detect<'r>(&self, remotes: &'r [RemoteHost]) -> Result<Vec<HostRun<'r>>, String> {
        let mut hosts = Vec::new();
        for (r, roles) in remotes
            .iter()
            .zip(fleet::detect_all(self.env, remotes).await)
        {
            let (roles, detected) =
                roles.map_err(|e| format!("{}: detect: {e}; nothing touched", r.host.name))?;
            let mut e = self
                .audit
                .event(Some(&r.host.name), Step::Detect, Verdict::Ok);
            e.detail = Some(format!(
                "{roles:?}{}",
                if detected { " (detected)" } else { "" }
            ));
            self.audit.record(e);
            hosts.push(HostRun {
                remote: r,
                result: HostResult::new(r, roles),
                place: None,
            });
        }
        Ok(hosts)
    }

    fn job(&self, payloads: Vec<Payload>, build: &str) -> Job<'_> {
        Job {
            ctx: HostCtx {
                env: self.env,
                layout: Layout::of(self.env),
                audit: self.audit,
                ui: self.ui,
            },
            payloads,
            expected_build: build.to_string(),
            if_current: if self.opts.mode == Mode::Rollout {
                IfCurrent::Redeploy
            } else {
                IfCurrent::Skip
            },
        }
    }

    /// Record ABORTED (nothing touched) with `reason`.
    fn aborted(&self, report: &mut RolloutReport, reason: String) {
        let mut e = self.audit.event(None, Step::Outcome, Verdict::Fail);
        e.outcome = Some(Outcome::Aborted);
        e.detail = Some(reason.clone());
        self.audit.record(e);
        report.reason = Some(reason);
        report.elapsed_ms = self.t0.elapsed().as_millis();
        report.audit_error = self.audit.write_error();
    }
}

/// Audit command name of the run.
fn command(opts: &RunOptions) -> Command {
    match (opts.dry_run, opts.mode) {
        (true, _) => Command::RolloutDryRun,
        (false, Mode::Rollout) => Command::Rollout,
        (false, Mode::Gray(_)) => Command::Gray,
        (false, Mode::Promote) => Command::Promote,
    }
}

/// The app hosts of `hosts` this mode deploys (every app host; gray ones in gray mode).
fn deployable(h: &HostRun<'_>, mode: Mode) -> bool {
    h.result.roles.contains(&Role::App) && (!matches!(mode, Mode::Gray(_)) || h.remote.host.gray)
}
