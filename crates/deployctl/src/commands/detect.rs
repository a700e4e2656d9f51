//! `detect`: one [`crate::ops::detect`] survey.

use super::{emit, Ctx};
use crate::exit::Exit;
use crate::ops::detect::{self, Detected};

// The arguments of `detect` (its help text is on `cli::Command::Detect`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, short)]
    pub env: String,
}

/// Exit [`Exit::Error`] when a host's roles could not be read.
pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Exit> {
    let env = ctx.env(&args.env)?;
    let d = detect::detect(&env).await;
    emit(ctx, &d, |d| human(d))?;
    Ok(Exit::success_or(
        d.iter().all(|h| h.error.is_none()),
        Exit::Error,
    ))
}

fn human(d: &[Detected]) {
    for h in d {
        println!(
            "{:<14} {:?}{}{}",
            h.host,
            h.roles,
            if h.detected {
                " (detected)"
            } else {
                " (inventory)"
            },
            h.error
                .as_deref()
                .map(|e| format!(" error: {e}"))
                .unwrap_or_default()
        );
    }
}
