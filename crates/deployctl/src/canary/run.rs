//! The operation behind `deployctl gray --percent P --analyze D [--window W] [--auto]`: the
//! gray deploy, the analysis windows, then (with `--auto`) the action the decision calls for,
//! over [`crate::ops::rollout`], [`crate::ops::rollback`] and [`super::analyze`]. Returns a
//! typed report; progress goes to the [`Ui`] only.

use super::{analyze, Analysis, AnalyzeOptions};
use crate::analysis::policy::Decision;
use crate::analysis::WindowVerdict;
use crate::audit::{self, Audit, Step};
use crate::exit::Exit;
use crate::inventory::{Environment, Role};
use crate::ops::rollback::{RollbackOptions, RollbackTo};
use crate::ops::rollout::{self, Mode, RolloutReport, RunError, RunOptions};
use crate::outcome::Outcome;
use crate::remote::RemoteHost;
use crate::ui::Ui;
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
}

impl CanaryOutcome {
    /// 0 PROMOTED/PASSED, 7 NEEDS_DECISION, 8 ABORTED_BY_ANALYSIS/FAILED, 9 ACTION_FAILED.
    pub fn exit_code(self) -> Exit {
        match self {
            CanaryOutcome::Promoted | CanaryOutcome::Passed => Exit::Success,
            CanaryOutcome::NeedsDecision => Exit::NeedsDecision,
            CanaryOutcome::AbortedByAnalysis | CanaryOutcome::Failed => Exit::AnalysisFailed,
            CanaryOutcome::ActionFailed => Exit::ActionFailed,
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
        }
    }
}

/// The `--json` document.
#[derive(Debug, Clone, Serialize)]
pub struct CanaryReport {
    pub outcome: CanaryOutcome,
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
    #[error(transparent)]
    Canary(#[from] super::CanaryError),
    #[error("could not reconnect to every LB host ({0}) for the analysis")]
    Reconnect(String),
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

/// Progress line(s) of one window.
pub fn print_window(ui: &Ui, w: &WindowVerdict) {
    for g in &w.groups {
        let f = |p: &crate::analysis::PoolStats| {
            let ms = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.1}ms"));
            let rate = p
                .error_rate
                .map_or("-".into(), |r| format!("{:.2}%", r * 100.0));
            format!(
                "n={} 5xx {} p50 {} p99 {}",
                p.n,
                rate,
                ms(p.p50_ms),
                ms(p.p99_ms)
            )
        };
        ui.info(&format!(
            "window {} {:<8} {:<12} gray {} | stable {}{}",
            w.index + 1,
            g.group.name(),
            g.verdict.name(),
            f(&g.gray),
            f(&g.stable),
            if g.reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", g.reasons.join("; "))
            }
        ));
    }
    ui.info(&format!(
        "window {} verdict {}",
        w.index + 1,
        w.verdict.name()
    ));
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

/// (outcome, the action's report, its run id, stable-only verified).
type Action = (
    CanaryOutcome,
    Option<serde_json::Value>,
    Option<String>,
    Option<bool>,
);

async fn act(
    env: &Environment,
    opts: &RunOptions,
    decision: Decision,
    lbs: &[&RemoteHost],
    ui: &Ui,
) -> Result<Action, CanaryRunError> {
    match decision {
        Decision::Promote => {
            let o = RunOptions {
                mode: Mode::Promote,
                ..opts.clone()
            };
            let r = rollout::rollout(env, &o, ui).await?;
            let out = if r.outcome == Outcome::Success {
                CanaryOutcome::Promoted
            } else {
                CanaryOutcome::ActionFailed
            };
            Ok((out, Some(serde_json::to_value(&r)?), Some(r.run_id), None))
        }
        Decision::Abort => {
            let o = RollbackOptions {
                state_dir: opts.state_dir.clone(),
                to: RollbackTo::StableBuild,
            };
            let r = crate::ops::rollback::rollback(env, &o, ui).await?;
            let verified = stable_only(lbs, env).await;
            let out = if r.outcome == Outcome::Success && verified {
                CanaryOutcome::AbortedByAnalysis
            } else {
                CanaryOutcome::ActionFailed
            };
            let report = serde_json::to_value(&r)?;
            Ok((out, Some(report), Some(r.run_id), Some(verified)))
        }
        _ => Ok((CanaryOutcome::NeedsDecision, None, None, None)),
    }
}

fn without_auto(d: Decision) -> CanaryOutcome {
    match d {
        Decision::Promote => CanaryOutcome::Passed,
        Decision::Abort => CanaryOutcome::Failed,
        _ => CanaryOutcome::NeedsDecision,
    }
}

/// The LB hosts of the gray run, connected again for the analysis.
async fn lb_hosts(
    env: &Environment,
    gray: &RolloutReport,
) -> Result<Vec<RemoteHost>, CanaryRunError> {
    let names: Vec<&str> = gray
        .hosts
        .iter()
        .filter(|h| h.roles.contains(&Role::Lb))
        .map(|h| h.host.as_str())
        .collect();
    let conns: Vec<RemoteHost> = crate::fleet::connect_all(env)
        .await
        .into_iter()
        .filter_map(Result::ok)
        .filter(|r| names.contains(&r.host.name.as_str()))
        .collect();
    if conns.len() != names.len() {
        return Err(CanaryRunError::Reconnect(names.join(", ")));
    }
    Ok(conns)
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

/// The gray run, the analysis, the action: a typed report.
pub async fn gray_analyze(
    env: &Environment,
    opts: &RunOptions,
    ao: AnalyzeOptions,
    ui: &Ui,
) -> Result<Ran, CanaryRunError> {
    let gray = rollout::rollout(env, opts, ui).await?;
    if gray.outcome != Outcome::Success || gray.dry_run {
        return Ok(Ran::GrayOnly(Box::new(gray)));
    }
    let conns = lb_hosts(env, &gray).await?;
    let lbs: Vec<&RemoteHost> = conns.iter().collect();
    let audit = Audit::open(
        &opts.state_dir,
        &gray.run_id,
        &env.name,
        audit::Command::Gray,
    )?;
    record_operator(&audit);
    ui.info(&format!(
        "analysis: {} window(s) of {:?}, gray vs stable on {} LB(s){}",
        super::window_count(&ao),
        ao.window,
        lbs.len(),
        if ao.auto { ", --auto" } else { "" }
    ));
    let t = &env.gray.analysis;
    let analysis = analyze(&lbs, &env.lb, t, &ao, &audit, &|w| print_window(ui, w)).await?;
    let (outcome, action, action_run_id, verified) = if ao.auto {
        act(env, opts, analysis.decision, &lbs, ui).await?
    } else {
        (without_auto(analysis.decision), None, None, None)
    };
    let ok = outcome.exit_code() == Exit::Success;
    let result = if ok {
        audit::Verdict::Ok
    } else {
        audit::Verdict::Warn
    };
    let mut e = audit.event(None, Step::AnalysisOutcome, result);
    e.detail = Some(format!(
        "{}: decision {:?}; action run {}",
        outcome.as_str(),
        analysis.decision,
        action_run_id.as_deref().unwrap_or("-")
    ));
    audit.record(e);
    Ok(Ran::Analysed(Box::new(CanaryReport {
        outcome,
        report_command: crate::report::command_for(&gray.run_id),
        gray,
        analysis,
        action,
        action_run_id,
        stable_only_verified: verified,
        audit_error: audit.write_error(),
    })))
}
