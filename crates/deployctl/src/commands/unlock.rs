//! `unlock`: one [`crate::ops::unlock`] run.

use super::{emit, Ctx};
use crate::exit::Exit;
use crate::ops::unlock::{self, Leases, UnlockOptions, UnlockReport};

// The arguments of `unlock` (its help text is on `cli::Command::Unlock`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, short)]
    pub env: String,
    /// Remove live leases too (only when the holder is known to be gone).
    #[arg(long)]
    pub force: bool,
}

/// Exit [`Exit::Error`] when a host still holds a lease.
pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Exit> {
    let env = ctx.env(&args.env)?;
    let opts = UnlockOptions {
        state_dir: ctx.state_dir.clone(),
        leases: if args.force {
            Leases::AlsoLive
        } else {
            Leases::Expired
        },
    };
    let r = unlock::unlock(&env, &opts).await?;
    emit(ctx, &r, human)?;
    Ok(Exit::success_or(r.ok(), Exit::Error))
}

fn human(r: &UnlockReport) {
    for h in &r.hosts {
        let what = h.lease.as_ref().map(|l| format!(": lease of {l}"));
        let err = h.error.as_deref().map(|e| format!(": {e}"));
        println!(
            "{:<14} {}{}",
            h.host,
            h.result,
            what.or(err).unwrap_or_default()
        );
    }
}
