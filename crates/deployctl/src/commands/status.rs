//! `status`: one [`crate::ops::status`] survey.

use super::{emit, Ctx};
use crate::exit::Exit;
use crate::ops::status::{self, HostStatus};

// The arguments of `status` (its help text is on `cli::Command::Status`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, short)]
    pub env: String,
}

/// Exit [`Exit::Error`] when a host could not be reached or inspected.
pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Exit> {
    let env = ctx.env(&args.env)?;
    let st = status::status(&env).await;
    emit(ctx, &st, |st| human(st))?;
    Ok(Exit::success_or(
        st.iter().all(|s| s.reachable && s.error.is_none()),
        Exit::Error,
    ))
}

fn human(st: &[HostStatus]) {
    for s in st {
        println!(
            "{:<14} {:<15} roles {:?} master {} build {} label {} generation {} backups {}{}",
            s.host,
            s.address,
            s.roles,
            s.master_pid.map(|p| p.to_string()).unwrap_or("-".into()),
            s.build_id.as_deref().unwrap_or("-"),
            s.label.as_deref().unwrap_or("-"),
            s.generation.map(|g| g.to_string()).unwrap_or("-".into()),
            s.backups.len(),
            s.error
                .as_deref()
                .map(|e| format!(" error: {e}"))
                .unwrap_or_default()
        );
        if let Some(lb) = &s.lb {
            for line in crate::lbview::lines(lb) {
                println!("{:<14} {line}", "");
            }
        }
    }
}
