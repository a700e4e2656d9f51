//! `canary replay --env E [--window W] LOG...`: [`crate::canary::replay::replay`] on access-log
//! files, with the environment's `[gray.analysis]`; prints each window's verdict and the
//! decision `--auto` would have taken (exit 0 promote, 8 abort, 7 undecided).

use super::{emit, Ctx, UsageError};
use crate::analysis::Decision;
use crate::canary::{parse_duration, replay, show::print_window};
use crate::exit::Exit;
use std::path::PathBuf;
use std::time::Duration;

// The arguments of `canary` (its help text is on `cli::Command::Canary`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Judge access-log files (as nginx or haproxy wrote them for deployctl, one per LB)
    /// window by window as `gray --analyze --auto` would, with the environment's
    /// `[gray.analysis]`, touching no host. Exit 0: it would promote; 8: abort; 7: undecided.
    /// Example: deployctl canary replay --env prod --window 60s lb1-access.json lb2-access.json
    Replay {
        /// Environment whose `[gray.analysis]` settings judge.
        #[arg(long)]
        env: String,
        /// Window length [default: gray.analysis.window_s].
        #[arg(long)]
        window: Option<String>,
        /// Access-log files (the `access.json` of each LB's directory).
        #[arg(required = true)]
        logs: Vec<PathBuf>,
    },
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Exit> {
    let Sub::Replay { env, window, logs } = args.command;
    let env = ctx.env(&env)?;
    let t = &env.gray.analysis;
    let window = match window {
        Some(w) => parse_duration(&w).map_err(|e| UsageError(format!("--window: {e}")))?,
        None => Duration::from_secs(t.window_s),
    };
    let ui = ctx.ui();
    let r = replay::replay(&logs, t, window, &|w| print_window(&ui, w))?;
    emit(ctx, &r, |r| {
        for f in &r.files {
            println!(
                "{}: {} requests, {} lines skipped{}",
                f.path.display(),
                f.records,
                f.skipped,
                f.first_error
                    .as_deref()
                    .map_or(String::new(), |e| format!(" (first: {e})"))
            );
        }
        println!(
            "decision after {} window(s): {:?}",
            r.windows.len(),
            r.decision
        );
    })?;
    Ok(match r.decision {
        Decision::Promote => Exit::Success,
        Decision::Abort => Exit::AnalysisFailed,
        _ => Exit::NeedsDecision,
    })
}
