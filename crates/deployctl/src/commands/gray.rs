//! `gray`: `--percent P` is a [`crate::ops::rollout`] run in [`Mode::Gray`]; `--abort` is a
//! [`crate::ops::rollback`] to [`RollbackTo::StableBuild`]; `--analyze` adds the canary
//! analysis and, with `--auto`, its action ([`crate::canary::run`]).

use super::{emit, interruptible, rollback::restore, rollout::deploy, run_exit, Ctx, UsageError};
use crate::canary::run::{gray_analyze, CanaryRunError, Ran};
use crate::canary::{parse_duration, AnalyzeOptions};
use crate::exit::Exit;
use crate::inventory::Environment;
use crate::ops::rollback::RollbackTo;
use crate::ops::rollout::{Mode, RunError, RunOptions};
use std::path::PathBuf;

// The arguments of `gray` (its help text is on `cli::Command::Gray`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, short)]
    pub env: String,
    /// Share of clients (without the header) sent to the gray pool, 0..=100.
    #[arg(long, required_unless_present = "abort")]
    pub percent: Option<f64>,
    /// Build to deploy to the gray hosts (without it: only the share changes).
    #[arg(long)]
    pub artifact: Option<PathBuf>,
    /// Restore the gray hosts from backup and route everything to the stable pool.
    #[arg(long, conflicts_with = "percent")]
    pub abort: bool,
    /// After the gray deploy, compare gray with stable from the LB access logs for this long
    /// (e.g. 10m), one verdict per window (PASS / FAIL / INCONCLUSIVE). Exit 7
    /// NEEDS_DECISION, 8 FAILED / ABORTED_BY_ANALYSIS, 9 the action failed.
    #[arg(long, value_name = "DURATION", requires = "percent")]
    pub analyze: Option<String>,
    /// Window length [default: [gray.analysis] window_s].
    #[arg(long, value_name = "DURATION", requires = "analyze")]
    pub window: Option<String>,
    /// Act on the verdicts: promote after K consecutive PASS, abort on a FAIL (gray restored,
    /// stable-only routing verified), stop for a person after too many INCONCLUSIVE.
    #[arg(long, requires = "analyze")]
    pub auto: bool,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Exit> {
    let env = ctx.env(&args.env)?;
    if args.abort {
        return restore(ctx, &env, RollbackTo::StableBuild).await;
    }
    let percent = args
        .percent
        .filter(|p| (0.0..=100.0).contains(p))
        .ok_or_else(|| UsageError("--percent must be within 0..=100".into()))?;
    let opts = RunOptions {
        state_dir: ctx.state_dir.clone(),
        artifact: args.artifact,
        dry_run: false,
        mode: Mode::Gray(percent),
        within: None,
    };
    match args.analyze {
        Some(d) => analyze(ctx, &env, &opts, &d, args.window.as_deref(), args.auto).await,
        None => deploy(ctx, &env, &opts).await,
    }
}

async fn analyze(
    ctx: &Ctx,
    env: &Environment,
    opts: &RunOptions,
    duration: &str,
    window: Option<&str>,
    auto: bool,
) -> anyhow::Result<Exit> {
    let usage = |e: String| UsageError(e);
    let default_window = env.gray.analysis.window_s.to_string();
    let ao = AnalyzeOptions {
        duration: parse_duration(duration).map_err(usage)?,
        window: parse_duration(window.unwrap_or(&default_window)).map_err(usage)?,
        auto,
    };
    let ui = ctx.ui();
    let Some(ran) = interruptible(gray_analyze(env, opts, ao, &ui)).await else {
        return Ok(Exit::Interrupted);
    };
    let ran = match ran {
        Ok(ran) => ran,
        // The lock or a lease is held, or a host cannot be reached: nothing touched.
        Err(e @ (CanaryRunError::Hold(_) | CanaryRunError::Run(RunError::Lock(_)))) => {
            eprintln!("deployctl: {e}");
            return Ok(Exit::Aborted);
        }
        Err(e) => return Err(anyhow::anyhow!(e)),
    };
    match ran {
        Ran::GrayOnly(r) => {
            emit(ctx, &r, |r| {
                ui.outcome(r.outcome, "the gray deploy did not succeed: no analysis")
            })?;
            Ok(run_exit(r.audit_error.as_deref(), r.outcome))
        }
        Ran::Analysed(r) => {
            emit(ctx, &r, |r| {
                ui.info(&format!("report: {}", r.report_command));
                if let Some(why) = &r.reason {
                    ui.info(why);
                }
                ui.info(&format!(
                    "{} (decision {:?})",
                    r.outcome.as_str(),
                    r.analysis.decision
                ));
            })?;
            if let Some(err) = &r.audit_error {
                eprintln!("deployctl: the audit log could not be written ({err}): the run fails");
                return Ok(Exit::Error);
            }
            Ok(r.outcome.exit_code())
        }
    }
}
