//! `gray`: `--percent P` is a [`crate::ops::rollout`] run in [`Mode::Gray`]; `--abort` is a
//! [`crate::ops::rollback`] to [`RollbackTo::StableBuild`].

use super::{rollback::restore, rollout::deploy, Ctx, UsageError};
use crate::exit::Exit;
use crate::ops::rollback::RollbackTo;
use crate::ops::rollout::{Mode, RunOptions};
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
    };
    deploy(ctx, &env, &opts).await
}
