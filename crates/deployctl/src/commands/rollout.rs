//! `rollout` (and the run shared with `gray --percent` and `promote`): one
//! [`crate::ops::rollout`] run.

use super::{emit, interruptible, refused, run_exit, Ctx};
use crate::exit::Exit;
use crate::inventory::Environment;
use crate::ops::rollout::{self, Mode, RolloutReport, RunOptions};
use crate::ui::Ui;
use std::path::PathBuf;

// The arguments of `rollout` (its help text is on `cli::Command::Rollout`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, short)]
    pub env: String,
    /// Binary to deploy (default: the inventory's artifact.binary).
    #[arg(long)]
    pub artifact: Option<PathBuf>,
    /// Print the plan per host and touch nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Exit> {
    let env = ctx.env(&args.env)?;
    let opts = RunOptions {
        state_dir: ctx.state_dir.clone(),
        artifact: args.artifact,
        dry_run: args.dry_run,
        mode: Mode::Rollout,
        within: None,
    };
    deploy(ctx, &env, &opts).await
}

/// One run of `opts` on `env`: print its report, map it to the exit code.
pub(super) async fn deploy(
    ctx: &Ctx,
    env: &Environment,
    opts: &RunOptions,
) -> anyhow::Result<Exit> {
    let ui = ctx.ui();
    let Some(report) = interruptible(rollout::rollout(env, opts, &ui)).await else {
        return Ok(Exit::Interrupted);
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => return refused(e, "rollout"),
    };
    emit(ctx, &report, |r| human(r, &ui))?;
    if report.dry_run && report.audit_error.is_none() {
        return Ok(Exit::Success);
    }
    Ok(run_exit(report.audit_error.as_deref(), report.outcome))
}

fn human(report: &RolloutReport, ui: &Ui) {
    for h in &report.hosts {
        ui.info(&format!(
            "{:<14} {:<16} {:?}{} served {}{}",
            h.host,
            format!("{:?}", h.state),
            h.roles,
            if h.dr { " DR" } else { "" },
            h.served_build.as_deref().unwrap_or("-"),
            h.error
                .as_deref()
                .map(|e| format!(" error: {e}"))
                .unwrap_or_default()
        ));
    }
    ui.info(&format!("audit log: {}", report.audit_log.display()));
    let what = if report.dry_run {
        "(dry run, nothing touched) "
    } else {
        ""
    };
    ui.outcome(
        report.outcome,
        &format!(
            "{what}{} in {:.1}s",
            report.reason.clone().unwrap_or_default(),
            report.elapsed_ms as f64 / 1000.0
        ),
    );
}
