//! `history`: one [`crate::ops::history`] read of the local audit logs (no inventory needed).

use super::{emit, Ctx};
use crate::exit::Exit;
use crate::ops::history::{self, RunSummary};

// The arguments of `history` (its help text is on `cli::Command::History`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, short)]
    pub env: Option<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Exit> {
    let runs = history::history(&ctx.state_dir, args.env.as_deref());
    emit(ctx, &runs, |runs| human(runs))?;
    Ok(Exit::Success)
}

fn human(runs: &[RunSummary]) {
    for r in runs {
        println!(
            "{}  {:<8} {:<16} {:<16} build {}  hosts {}",
            r.run_id,
            r.env,
            r.command,
            r.outcome.map_or("(unfinished)", |o| o.as_str()),
            r.build_id.as_deref().unwrap_or("-"),
            r.hosts.join(",")
        );
        for b in &r.builds {
            let s = |x: &Option<String>| x.clone().unwrap_or_else(|| "-".into());
            println!("    {:<14} {} -> {}", b.host, s(&b.before), s(&b.after));
        }
        println!("    report: {}", crate::report::command_for(&r.run_id));
    }
}
