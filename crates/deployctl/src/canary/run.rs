//! The operation behind `deployctl gray --percent P --analyze D [--window W] [--auto]`: the
//! gray deploy, the analysis windows, then (with `--auto`) the action the decision calls for,
//! over [`crate::ops::rollout`] and [`super::analyze`]. Returns a typed report; progress goes
//! to the [`Ui`] only.
//!
//! The environment lock and every host lease are taken before the gray deploy and held,
//! renewed, through the windows to the end of the promote or abort ([`hold`]). A promote
//! ships exactly the sha256 the gray hosts proved they ran during the analysis
//! ([`promote`]); an artifact changed meanwhile is refused (PROMOTE_REFUSED) and the gray
//! pool is then aborted like a FAIL. An abort is routing first ([`abort`]): the gray pool
//! leaves every LB, stable-only routing is verified, the `analysis outcome` is recorded, and
//! only then are the gray hosts restored. A FAIL with `--auto`, a SIGINT/SIGTERM/SIGHUP or a
//! lost lease during the windows, or an analysis that cannot go on (access logs unreadable)
//! all abort that way. Every way out records the `analysis outcome`.

mod abort;
mod hold;
mod promote;

use super::{analyze, Analysis, AnalyzeOptions};
use crate::analysis::policy::Decision;
use crate::analysis::WindowVerdict;
use crate::audit::{self, Audit, Step};
use crate::exit::Exit;
use crate::interrupt::{Stop, Watch};
use crate::inventory::{Environment, Role};
use crate::ops::rollout::{self, Mode, RolloutReport, RunError, RunOptions, Within};
use crate::outcome::Outcome;
use crate::remote::RemoteHost;
use crate::ui::Ui;
use abort::Abort;
use hold::{Hold, HoldError};
use serde::Serialize;

/// How a gray run with analysis ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CanaryOutcome {
    /// `--auto`: enough consecutive PASS windows; promoted (the promote run succeeded).
    Promoted,
    /// `--auto`: a window failed; gray hosts restored, stable-only routing verified.
    AbortedByAnalysis,
    /// Too many INCONCLUSIVE windows or the time ran out: a person decides. Gray stays.
    NeedsDecision,
    /// Without `--auto`: the windows passed; nothing done, gray stays.
    Passed,
    /// Without `--auto`: a window failed; nothing done, gray stays.
    Failed,
    /// The action after the decision (promote or abort) did not succeed: see its report.
    ActionFailed,
    /// `--auto` decided to promote, but the artifact no longer hashes to the build judged
    /// (or that build could not be proven): nothing promoted; the gray pool was aborted.
    PromoteRefused,
    /// SIGINT, SIGTERM or SIGHUP during the windows: the gray pool was aborted.
    Interrupted,
    /// The analysis could not go on (a lease lost: taken over, removed or not renewed; the access logs
    /// unreadable): the gray pool was aborted.
    Stopped,
}

impl CanaryOutcome {
    /// 0 PROMOTED/PASSED, 7 NEEDS_DECISION, 8 ABORTED_BY_ANALYSIS/FAILED/STOPPED,
    /// 9 ACTION_FAILED/PROMOTE_REFUSED, 130 INTERRUPTED.
    pub fn exit_code(self) -> Exit {
        match self {
            CanaryOutcome::Promoted | CanaryOutcome::Passed => Exit::Success,
            CanaryOutcome::NeedsDecision => Exit::NeedsDecision,
            CanaryOutcome::AbortedByAnalysis | CanaryOutcome::Failed | CanaryOutcome::Stopped => {
                Exit::AnalysisFailed
            }
            CanaryOutcome::ActionFailed | CanaryOutcome::PromoteRefused => Exit::ActionFailed,
            CanaryOutcome::Interrupted => Exit::Interrupted,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CanaryOutcome::Promoted => "PROMOTED",
            CanaryOutcome::AbortedByAnalysis => "ABORTED_BY_ANALYSIS",
            CanaryOutcome::NeedsDecision => "NEEDS_DECISION",
            CanaryOutcome::Passed => "PASSED",
            CanaryOutcome::Failed => "FAILED",
            CanaryOutcome::ActionFailed => "ACTION_FAILED",
            CanaryOutcome::PromoteRefused => "PROMOTE_REFUSED",
            CanaryOutcome::Interrupted => "INTERRUPTED",
            CanaryOutcome::Stopped => "STOPPED",
        }
    }
}

/// The `--json` document.
#[derive(Debug, Clone, Serialize)]
pub struct CanaryReport {
    pub outcome: CanaryOutcome,
    /// Why the run stopped, was refused or aborted, when not by the verdicts alone.
    pub reason: Option<String>,
    /// The sha256 every gray host's running worker image proved when the windows started.
    pub judged_sha256: Option<String>,
    pub gray: RolloutReport,
    pub analysis: Analysis,
    /// The promote or abort run, as its own report.
    pub action: Option<serde_json::Value>,
    pub action_run_id: Option<String>,
    /// After an abort: every LB routes to the stable pool only and serves that file.
    pub stable_only_verified: Option<bool>,
    pub report_command: String,
    /// The gray run's audit log could not be written: the command fails.
    pub audit_error: Option<String>,
}

/// Why the command stopped before a report.
#[derive(Debug, thiserror::Error)]
pub enum CanaryRunError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("{0}; nothing touched")]
    Hold(#[from] HoldError),
    #[error("audit log: {0}")]
    Audit(#[from] std::io::Error),
    #[error("report: {0}")]
    Json(#[from] serde_json::Error),
}

/// The gray run did not succeed (or was a dry run): no analysis.
#[derive(Debug)]
pub enum Ran {
    GrayOnly(Box<RolloutReport>),
    Analysed(Box<CanaryReport>),
}

/// Every LB routes to the stable pool only (no gray share in its file) and serves that file.
async fn stable_only(lbs: &[&RemoteHost], env: &Environment) -> bool {
    for r in lbs {
        let Ok(cur) = crate::lbpush::current(r, &env.lb).await else {
            return false;
        };
        let serves = crate::lbpush::served(r, &env.lb).await;
        if crate::lb::parse_percent(&cur).is_some() || serves != crate::lb::parse_serial(&cur) {
            return false;
        }
    }
    true
}

fn without_auto(d: Decision) -> CanaryOutcome {
    match d {
        Decision::Promote => CanaryOutcome::Passed,
        Decision::Abort => CanaryOutcome::Failed,
        _ => CanaryOutcome::NeedsDecision,
    }
}

fn record_operator(audit: &Audit) {
    let mut who = audit.event(None, Step::Operator, audit::Verdict::Info);
    who.detail = Some(format!(
        "{}@{} in {}",
        std::env::var("USER").unwrap_or_else(|_| "?".into()),
        crate::lock::hostname(),
        std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default()
    ));
    audit.record(who);
}

/// The `analysis outcome` record of the gray run; its detail ends with the action run id
/// (`deployctl report` follows it).
fn record_outcome(audit: &Audit, outcome: &str, ok: bool, why: &str, action_run: Option<&str>) {
    let result = if ok {
        audit::Verdict::Ok
    } else {
        audit::Verdict::Warn
    };
    let mut e = audit.event(None, Step::AnalysisOutcome, result);
    e.detail = Some(format!(
        "{outcome}: {why}; action run {}",
        action_run.unwrap_or("-")
    ));
    audit.record(e);
}

/// What the windows call for.
enum Next {
    /// Nothing to do: gray stays as it is.
    Leave(CanaryOutcome),
    /// `--auto` and enough PASS windows.
    Promote,
    /// Abort routing first; this outcome once the routing is verified.
    Abort(CanaryOutcome, String),
}

/// The next step from how the windows ended.
fn next(analysis: &Result<Analysis, super::CanaryError>, stop: Option<Stop>, auto: bool) -> Next {
    match (stop, analysis) {
        (Some(Stop::Signal(s)), _) => Next::Abort(
            CanaryOutcome::Interrupted,
            format!("{s} during the windows"),
        ),
        (Some(lost @ Stop::LeaseLost(_)), _) => {
            Next::Abort(CanaryOutcome::Stopped, lost.to_string())
        }
        (None, Err(e)) => Next::Abort(CanaryOutcome::Stopped, format!("analysis: {e}")),
        // An access log unreadable for windows in a row: nobody can judge, route out.
        (
            None,
            Ok(Analysis {
                stopped: Some(why), ..
            }),
        ) => Next::Abort(CanaryOutcome::Stopped, why.clone()),
        (None, Ok(a)) if !auto => Next::Leave(without_auto(a.decision)),
        (None, Ok(a)) => match a.decision {
            Decision::Promote => Next::Promote,
            Decision::Abort => Next::Abort(
                CanaryOutcome::AbortedByAnalysis,
                "a window failed".to_string(),
            ),
            _ => Next::Leave(CanaryOutcome::NeedsDecision),
        },
    }
}

/// What the action did.
struct Acted {
    outcome: CanaryOutcome,
    reason: Option<String>,
    action: Option<serde_json::Value>,
    action_run_id: Option<String>,
    stable_only_verified: Option<bool>,
    /// The `analysis outcome` record is already written (an abort writes it before restoring).
    recorded: bool,
}

impl Acted {
    fn nothing(outcome: CanaryOutcome) -> Acted {
        Acted {
            outcome,
            reason: None,
            action: None,
            action_run_id: None,
            stable_only_verified: None,
            recorded: false,
        }
    }
}

/// One `gray --analyze` after its gray deploy, under its hold.
struct Decide<'a> {
    env: &'a Environment,
    opts: &'a RunOptions,
    ao: AnalyzeOptions,
    ui: &'a Ui,
    audit: &'a Audit,
    hold: &'a Hold,
    gray: &'a RolloutReport,
}

impl Decide<'_> {
    /// The held connections to the gray run's hosts with `role` (gray ones only for App).
    fn hosts(&self, role: Role) -> Vec<&RemoteHost> {
        self.gray
            .hosts
            .iter()
            .filter(|h| h.roles.contains(&role))
            .filter_map(|h| self.hold.host(&h.host))
            .filter(|r| role != Role::App || r.host.gray)
            .collect()
    }

    /// The windows, stopped early by a signal or a lost lease.
    async fn windows(&self) -> (Result<Analysis, super::CanaryError>, Option<Stop>) {
        let lbs = self.hosts(Role::Lb);
        self.ui.info(&format!(
            "analysis: {} window(s) of {:?}, gray vs stable on {} LB(s){}",
            super::window_count(&self.ao),
            self.ao.window,
            lbs.len(),
            if self.ao.auto { ", --auto" } else { "" }
        ));
        let watch = Watch::new(Some(self.hold.lost_any()));
        let t = &self.env.gray.analysis;
        let print = |w: &WindowVerdict| super::show::print_window(self.ui, w);
        let analysis = analyze(&lbs, &self.env.lb, t, &self.ao, self.audit, &print, &watch).await;
        let stop = watch.first();
        (analysis, stop)
    }

    /// Promote exactly the judged build under the hold; Err: refused, nothing touched.
    async fn promote(&self, judged: &Result<String, String>) -> Result<Acted, String> {
        let sha = promote::still_judged(self.env, &self.hosts(Role::App), judged).await?;
        let o = RunOptions {
            mode: Mode::Promote,
            within: Some(Within {
                run_id: None,
                sha256: Some(sha),
            }),
            ..self.opts.clone()
        };
        let r = rollout::rollout(self.env, &o, self.ui)
            .await
            .map_err(|e| e.to_string())?;
        let mut acted = Acted::nothing(if r.outcome == Outcome::Success {
            CanaryOutcome::Promoted
        } else {
            CanaryOutcome::ActionFailed
        });
        acted.action = serde_json::to_value(&r).ok();
        acted.action_run_id = Some(r.run_id);
        Ok(acted)
    }

    /// Routing first: gray out of every LB, verified, the outcome recorded, then the gray
    /// hosts restored (a failed restore is recorded again as ACTION_FAILED).
    async fn abort(&self, intended: CanaryOutcome, why: String) -> Result<Acted, CanaryRunError> {
        let mut a = Abort::open(
            self.env,
            self.hold,
            self.gray,
            &self.opts.state_dir,
            self.ui,
        )?;
        let verified = a.route(&why).await;
        let mut outcome = if verified {
            intended
        } else {
            CanaryOutcome::ActionFailed
        };
        let run_id = a.report.run_id.clone();
        let said = format!("{why}; gray routed to stable (verified: {verified}), restoring");
        record_outcome(self.audit, outcome.as_str(), false, &said, Some(&run_id));
        let report = a.restore().await;
        if report.outcome == Outcome::RollbackFailed && outcome != CanaryOutcome::ActionFailed {
            outcome = CanaryOutcome::ActionFailed;
            let said = format!("{why}; gray routed to stable, but restoring the gray hosts failed");
            record_outcome(self.audit, outcome.as_str(), false, &said, Some(&run_id));
        }
        Ok(Acted {
            outcome,
            reason: Some(why),
            action: serde_json::to_value(&report).ok(),
            action_run_id: Some(run_id),
            stable_only_verified: Some(verified),
            recorded: true,
        })
    }

    /// The windows, then what they call for.
    async fn run(&self) -> Result<CanaryReport, CanaryRunError> {
        let judged = promote::judged_sha(self.env, &self.hosts(Role::App)).await;
        let (analysis, stop) = self.windows().await;
        let acted = match next(&analysis, stop, self.ao.auto) {
            Next::Leave(o) => Acted::nothing(o),
            Next::Promote => match self.promote(&judged).await {
                Ok(acted) => acted,
                Err(why) => {
                    let why = format!("promote refused: {why}");
                    self.ui.info(&why);
                    self.abort(CanaryOutcome::PromoteRefused, why).await?
                }
            },
            Next::Abort(o, why) => self.abort(o, why).await?,
        };
        let analysis = analysis.unwrap_or_else(|_| Analysis {
            windows: vec![],
            decision: Decision::Continue,
            stopped: None,
            lbs: vec![],
            resets: vec![],
            read_errors: vec![],
            skipped_lines: 0,
        });
        if !acted.recorded {
            let why = format!("decision {:?}", analysis.decision);
            let ok = acted.outcome.exit_code() == Exit::Success;
            let run = acted.action_run_id.as_deref();
            record_outcome(self.audit, acted.outcome.as_str(), ok, &why, run);
        }
        Ok(CanaryReport {
            outcome: acted.outcome,
            reason: acted.reason,
            judged_sha256: judged.ok(),
            report_command: crate::report::command_for(&self.gray.run_id),
            gray: self.gray.clone(),
            analysis,
            action: acted.action,
            action_run_id: acted.action_run_id,
            stable_only_verified: acted.stable_only_verified,
            audit_error: self.audit.write_error(),
        })
    }
}

/// The hold (lock and leases), the gray run under it, the analysis, the action: a typed
/// report. The hold is released on every way out.
pub async fn gray_analyze(
    env: &Environment,
    opts: &RunOptions,
    ao: AnalyzeOptions,
    ui: &Ui,
) -> Result<Ran, CanaryRunError> {
    let run_id = audit::new_run_id();
    let audit = Audit::open(&opts.state_dir, &run_id, &env.name, audit::Command::Gray)?;
    record_operator(&audit);
    let hold = match Hold::take(env, &opts.state_dir, &audit, ui).await {
        Ok(h) => h,
        Err(e) => {
            record_outcome(&audit, "NOT_STARTED", false, &e.to_string(), None);
            return Err(e.into());
        }
    };
    let gray_opts = RunOptions {
        within: Some(Within {
            run_id: Some(run_id),
            sha256: None,
        }),
        ..opts.clone()
    };
    let ran = match rollout::rollout(env, &gray_opts, ui).await {
        Ok(gray) if gray.outcome != Outcome::Success || gray.dry_run => {
            let why = format!("the gray deploy ended {:?}: no analysis", gray.outcome);
            record_outcome(&audit, "NOT_STARTED", false, &why, None);
            Ok(Ran::GrayOnly(Box::new(gray)))
        }
        Ok(gray) => {
            let d = Decide {
                env,
                opts,
                ao,
                ui,
                audit: &audit,
                hold: &hold,
                gray: &gray,
            };
            d.run().await.map(|r| Ran::Analysed(Box::new(r)))
        }
        Err(e) => {
            record_outcome(&audit, "NOT_STARTED", false, &e.to_string(), None);
            Err(e.into())
        }
    };
    hold.release(&audit).await;
    ran
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
