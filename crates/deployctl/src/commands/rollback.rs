//! `rollback` (and the run shared with `gray --abort`): one [`crate::ops::rollback`] run.

use super::{emit, interruptible, refused, run_exit, Ctx};
use crate::exit::Exit;
use crate::inventory::Environment;
use crate::ops::rollback::{self, RollbackOptions, RollbackReport, RollbackTo};
use crate::ui::Ui;

// The arguments of `rollback` (its help text is on `cli::Command::Rollback`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, short)]
    pub env: String,
    /// Run id whose backups to restore (see `history`; backups are named by run id).
    #[arg(long)]
    pub to: Option<String>,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Exit> {
    let env = ctx.env(&args.env)?;
    let to = args.to.map_or(RollbackTo::Previous, RollbackTo::Run);
    restore(ctx, &env, to).await
}

/// Restore `to` on the app hosts of `env` (the gray ones for [`RollbackTo::StableBuild`]).
pub(super) async fn restore(ctx: &Ctx, env: &Environment, to: RollbackTo) -> anyhow::Result<Exit> {
    let opts = RollbackOptions {
        state_dir: ctx.state_dir.clone(),
        to,
    };
    let ui = ctx.ui();
    let Some(report) = interruptible(rollback::rollback(env, &opts, &ui)).await else {
        return Ok(Exit::Interrupted);
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => return refused(e, "rollback"),
    };
    emit(ctx, &report, |r| human(r, &ui))?;
    Ok(run_exit(report.audit_error.as_deref(), report.outcome))
}

fn human(report: &RollbackReport, ui: &Ui) {
    for h in &report.hosts {
        ui.info(&format!(
            "{:<14} {:<16} served {}{}",
            h.host,
            format!("{:?}", h.state),
            h.served_build.as_deref().unwrap_or("-"),
            h.error
                .as_deref()
                .map(|e| format!(" error: {e}"))
                .unwrap_or_default()
        ));
    }
    ui.outcome(report.outcome, &report.reason);
}
