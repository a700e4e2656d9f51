//! `promote`: a [`crate::ops::rollout`] run in [`Mode::Promote`].

use super::rollout::deploy;
use super::Ctx;
use crate::exit::Exit;
use crate::ops::rollout::{Mode, RunOptions};
use std::path::PathBuf;

// The arguments of `promote` (its help text is on `cli::Command::Promote`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, short)]
    pub env: String,
    #[arg(long)]
    pub artifact: Option<PathBuf>,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Exit> {
    let env = ctx.env(&args.env)?;
    let opts = RunOptions {
        state_dir: ctx.state_dir.clone(),
        artifact: args.artifact,
        dry_run: false,
        mode: Mode::Promote,
        within: None,
    };
    deploy(ctx, &env, &opts).await
}
