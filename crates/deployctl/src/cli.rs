//! Command line: the global options and the subcommands (clap), dispatched to
//! `crate::commands` (each subcommand's own arguments are defined next to its command).

use crate::commands::{self, Ctx, Format};
use crate::exit::Exit;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Roll a service binary out to a fleet over SSH, prove it serves, roll back when it does not.
///
/// Every command reads the inventory (deploy.toml: environments, hosts, artifact, layout,
/// thresholds) and fails before touching any host when it is invalid, naming file and line.
///
/// Exit codes: 0 SUCCESS, 3 PARTIAL_SUCCESS (failures within tolerance; failed hosts restored
/// to their backup), 4 ROLLBACK (tolerance exceeded; every touched host restored and verified),
/// 5 ABORTED (nothing touched: network past thresholds, host unreachable or key refused,
/// role detection failed, no app host, environment locked, audit log not writable),
/// 6 ROLLBACK_FAILED (a host could not be restored; named), 130 INTERRUPTED (Ctrl-C),
/// 7 NEEDS_DECISION, 8 ABORTED_BY_ANALYSIS / FAILED, 9 ACTION_FAILED (gray --analyze),
/// 2 usage or inventory error, 1 other error (also: an audit record could not be written).
///
/// Examples:
///   deployctl rollout --env local                     # this machine, no SSH
///   deployctl rollout --env prod --dry-run            # print the plan per host
///   deployctl rollout --env prod --artifact ./hotel-api-v2
///   deployctl rollback --env prod                     # the build served before this one (hosts' history)
///   deployctl rollback --env prod --to RUN_ID         # the backups that run took, on every host
///   deployctl status --env prod --json
#[derive(Debug, Parser)]
#[command(name = "deployctl", version, verbatim_doc_comment)]
pub(crate) struct Cli {
    /// Inventory file.
    #[arg(
        long,
        short = 'i',
        global = true,
        env = "DEPLOYCTL_INVENTORY",
        default_value = "deploy.toml"
    )]
    pub inventory: PathBuf,
    /// Where locks and audit logs live [default: $XDG_STATE_HOME/deployctl or ~/.local/state/deployctl].
    #[arg(long, global = true, env = "DEPLOYCTL_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Print one JSON document on stdout instead of human output.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Deploy the artifact: netcheck, lock, canary, batches, verify, auto-rollback.
    Rollout(commands::rollout::Args),
    /// Restore one build on every app host and verify it serves: the backups of run RUN_ID,
    /// by default of the last `rollout`/`promote` that ended SUCCESS (the build the whole
    /// fleet served together before it). A host without that run's backup uses its newest
    /// backup of the same build. Refused (nothing touched) when the backups disagree.
    Rollback(commands::rollback::Args),
    /// Gray (canary) deployment: deploy to the hosts marked `gray`, then route the gray header
    /// and P% of the other clients (sticky per `[lb] split_key`) to them. `--percent` without
    /// `--artifact` deploys nothing and changes only the share (refused while no gray host is
    /// live); --abort restores the gray hosts to the stable build and routes everything to
    /// the stable pool. `--analyze D [--window W] [--auto]`: after the deploy, judge gray
    /// against stable from the LB access logs per window; `--auto` promotes or aborts.
    Gray(commands::gray::Args),
    /// Roll the build out to the stable pool too and return all traffic to one pool.
    Promote(commands::promote::Args),
    /// Per host: roles, build served, master pid and generation, backups. Exit 1 when a host
    /// could not be reached or inspected (its error is in the report).
    Status(commands::status::Args),
    /// TCP connect probes to every host's SSH port, and ICMP echo (system `ping`) where
    /// available: loss (the worse of the two) and latency against the thresholds.
    Netcheck(commands::netcheck::Args),
    /// Roles of every host (inventory, or detected from what runs there).
    Detect(commands::detect::Args),
    /// Remove host leases left by a run that died (expired ones; `--force` also live ones).
    /// Writes an audit record like a run.
    Unlock(commands::unlock::Args),
    /// Past runs from the local audit logs (each with its `report` command); with
    /// `--env E --hosts`, as the hosts of E recorded them, whichever controller ran them.
    History(commands::history::Args),
    /// One self-contained HTML report of run RUN_ID, to open offline: timeline per host, LB
    /// changes, error rate and latency per pool, analysis verdicts, master lifecycle lines,
    /// checksums, who ran it, the outcome.
    Report(commands::report::Args),
    /// Canary analysis offline: `canary replay --env E LOG...` judges LB access-log files
    /// window by window as `gray --analyze --auto` would, touching no host (test thresholds on
    /// a past incident).
    Canary(commands::canary::Args),
}

fn default_state_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_STATE_HOME") {
        return PathBuf::from(x).join("deployctl");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/tmp".into());
    home.join(".local/state/deployctl")
}

/// The `deployctl` program: parse the arguments, run the command on a multi-threaded tokio
/// runtime, return its exit code (errors are said on stderr).
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("deployctl: cannot start the async runtime: {e}");
            return Exit::Error.into();
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code.into(),
        Err(e) => {
            eprintln!("deployctl: {e:#}");
            commands::exit_of(&e).into()
        }
    }
}

/// Run the parsed command; returns the process exit code (errors: see `commands::exit_of`).
pub(crate) async fn run(cli: Cli) -> anyhow::Result<Exit> {
    let ctx = Ctx {
        state_dir: cli.state_dir.unwrap_or_else(default_state_dir),
        inventory: cli.inventory,
        format: if cli.json {
            Format::Json
        } else {
            Format::Human
        },
    };
    match cli.command {
        Command::Rollout(a) => commands::rollout::run(&ctx, a).await,
        Command::Rollback(a) => commands::rollback::run(&ctx, a).await,
        Command::Gray(a) => commands::gray::run(&ctx, a).await,
        Command::Promote(a) => commands::promote::run(&ctx, a).await,
        Command::Status(a) => commands::status::run(&ctx, a).await,
        Command::Netcheck(a) => commands::netcheck::run(&ctx, a).await,
        Command::Detect(a) => commands::detect::run(&ctx, a).await,
        Command::Unlock(a) => commands::unlock::run(&ctx, a).await,
        Command::History(a) => commands::history::run(&ctx, a).await,
        Command::Report(a) => commands::report::run(&ctx, a).await,
        Command::Canary(a) => commands::canary::run(&ctx, a).await,
    }
}
