//! `history`: one [`crate::ops::history`] read of the local audit logs (no inventory needed),
//! or with `--hosts` one [`crate::ops::fleet_history`] read of the hosts' release histories.

use super::{emit, Ctx};
use crate::exit::Exit;
use crate::ops::fleet_history::{self, FleetHistory};
use crate::ops::history::{self, RunSummary};

// The arguments of `history` (its help text is on `cli::Command::History`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this environment's runs (with --hosts: the environment whose hosts are read).
    #[arg(long, short)]
    pub env: Option<String>,
    /// Read the release history every host of --env keeps (every controller's runs), not
    /// this controller's audit logs. Exit 1 when a host could not be read.
    #[arg(long, requires = "env")]
    pub hosts: bool,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Exit> {
    if let (true, Some(name)) = (args.hosts, &args.env) {
        let env = ctx.env(name)?;
        let h = fleet_history::fleet_history(&env).await;
        emit(ctx, &h, human_fleet)?;
        return Ok(if h.incomplete() {
            Exit::Error
        } else {
            Exit::Success
        });
    }
    let runs = history::history(&ctx.state_dir, args.env.as_deref());
    emit(ctx, &runs, |runs| human(runs))?;
    Ok(Exit::Success)
}

fn human_fleet(h: &FleetHistory) {
    for r in &h.runs {
        println!(
            "{}  {:<10} {:<16} by {}",
            r.run_id,
            r.command,
            r.outcome.as_str(),
            r.controller
        );
        for (host, rec) in &r.hosts {
            let build = rec.build_id.as_deref().unwrap_or("-");
            println!("    {host:<14} {build}  ({:?})", rec.state);
        }
    }
    for x in &h.hosts {
        if let Some(e) = &x.error {
            println!("{}: history not read: {e}", x.host);
        } else if x.unreadable > 0 {
            println!("{}: {} unreadable line(s)", x.host, x.unreadable);
        }
    }
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
