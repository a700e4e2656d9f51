//! Command line: argument definitions (clap) and dispatch to the library operations.

use crate::commands;
use crate::inventory::Inventory;
use crate::netcheck::Icmp;
use crate::ops;
use crate::rollout::{Mode, RunOptions};
use crate::ui::Ui;
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
/// 2 usage or inventory error, 1 other error (also: an audit record could not be written).
///
/// Examples:
///   deployctl rollout --env local                     # this machine, no SSH
///   deployctl rollout --env prod --dry-run            # print the plan per host
///   deployctl rollout --env prod --artifact ./hotel-api-v2
///   deployctl rollback --env prod                     # the build before the last successful rollout
///   deployctl rollback --env prod --to RUN_ID         # the backups that run took, on every host
///   deployctl status --env prod --json
#[derive(Debug, Parser)]
#[command(name = "deployctl", version, verbatim_doc_comment)]
pub struct Cli {
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
pub enum Command {
    /// Deploy the artifact: netcheck, lock, canary, batches, verify, auto-rollback.
    Rollout {
        #[arg(long, short)]
        env: String,
        /// Binary to deploy (default: the inventory's artifact.binary).
        #[arg(long)]
        artifact: Option<PathBuf>,
        /// Print the plan per host and touch nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Restore one build on every app host and verify it serves: the backups of run RUN_ID,
    /// by default of the last `rollout`/`promote` that ended SUCCESS (the build the whole
    /// fleet served together before it). A host without that run's backup uses its newest
    /// backup of the same build. Refused (nothing touched) when the backups disagree.
    Rollback {
        #[arg(long, short)]
        env: String,
        /// Run id whose backups to restore (see `history`; backups are named by run id).
        #[arg(long)]
        to: Option<String>,
    },
    /// Gray (canary) deployment: deploy to the hosts marked `gray`, then route the gray header
    /// and P% of the other clients (sticky per `[lb] split_key`) to them. `--percent` without
    /// `--artifact` deploys nothing and changes only the share (refused while no gray host is
    /// live); --abort restores the gray hosts to the stable build and routes everything to
    /// the stable pool.
    Gray {
        #[arg(long, short)]
        env: String,
        /// Share of clients (without the header) sent to the gray pool, 0..=100.
        #[arg(long, required_unless_present = "abort")]
        percent: Option<f64>,
        /// Build to deploy to the gray hosts (without it: only the share changes).
        #[arg(long)]
        artifact: Option<PathBuf>,
        /// Restore the gray hosts from backup and route everything to the stable pool.
        #[arg(long, conflicts_with = "percent")]
        abort: bool,
    },
    /// Roll the build out to the stable pool too and return all traffic to one pool.
    Promote {
        #[arg(long, short)]
        env: String,
        #[arg(long)]
        artifact: Option<PathBuf>,
    },
    /// Per host: roles, build served, master pid and generation, backups.
    Status {
        #[arg(long, short)]
        env: String,
    },
    /// TCP connect probes to every host's SSH port, and ICMP echo (system `ping`) where
    /// available: loss (the worse of the two) and latency against the thresholds.
    Netcheck {
        #[arg(long, short)]
        env: String,
    },
    /// Roles of every host (inventory, or detected from what runs there).
    Detect {
        #[arg(long, short)]
        env: String,
    },
    /// Remove host leases left by a run that died (expired ones; `--force` also live ones).
    /// Writes an audit record like a run.
    Unlock {
        #[arg(long, short)]
        env: String,
        /// Remove live leases too (only when the holder is known to be gone).
        #[arg(long)]
        force: bool,
    },
    /// Past runs from the local audit logs.
    History {
        #[arg(long, short)]
        env: Option<String>,
    },
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

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Run the parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    let state_dir = cli.state_dir.clone().unwrap_or_else(default_state_dir);
    if let Command::History { env } = &cli.command {
        let runs = ops::history(&state_dir, env.as_deref());
        if cli.json {
            print_json(&runs)?;
        } else {
            for r in &runs {
                println!(
                    "{}  {:<8} {:<16} {:<16} build {}  hosts {}",
                    r.run_id,
                    r.env,
                    r.command,
                    r.outcome.as_deref().unwrap_or("(unfinished)"),
                    r.build_id.as_deref().unwrap_or("-"),
                    r.hosts.join(",")
                );
                for b in &r.builds {
                    let s = |x: &Option<String>| x.clone().unwrap_or_else(|| "-".into());
                    println!("    {:<14} {} -> {}", b.host, s(&b.before), s(&b.after));
                }
            }
        }
        return Ok(0);
    }
    let inv = match Inventory::load(&cli.inventory) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("deployctl: invalid inventory: {e}");
            return Ok(2);
        }
    };
    let env_name = match &cli.command {
        Command::Rollout { env, .. }
        | Command::Gray { env, .. }
        | Command::Promote { env, .. }
        | Command::Rollback { env, .. }
        | Command::Status { env }
        | Command::Netcheck { env }
        | Command::Detect { env }
        | Command::Unlock { env, .. } => env,
        Command::History { .. } => unreachable!("handled above"),
    };
    let env = match inv.env(env_name) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("deployctl: {e}");
            return Ok(2);
        }
    };
    let ui = Ui::new(cli.json);
    let opts = |artifact: Option<PathBuf>, dry_run: bool, mode: Mode| RunOptions {
        state_dir: state_dir.clone(),
        artifact,
        dry_run,
        mode,
    };
    match cli.command {
        Command::Rollout {
            artifact, dry_run, ..
        } => commands::rollout(env, &opts(artifact, dry_run, Mode::Rollout), &ui, cli.json).await,
        Command::Gray {
            percent,
            artifact,
            abort,
            ..
        } => match (abort, percent) {
            (true, _) => {
                commands::rollback(
                    env,
                    &opts(None, false, Mode::Rollout),
                    None,
                    true,
                    &ui,
                    cli.json,
                )
                .await
            }
            (false, Some(p)) if (0.0..=100.0).contains(&p) => {
                commands::rollout(env, &opts(artifact, false, Mode::Gray(p)), &ui, cli.json).await
            }
            _ => {
                eprintln!("deployctl: --percent must be within 0..=100");
                Ok(2)
            }
        },
        Command::Promote { artifact, .. } => {
            commands::rollout(env, &opts(artifact, false, Mode::Promote), &ui, cli.json).await
        }
        Command::Rollback { to, .. } => {
            commands::rollback(
                env,
                &opts(None, false, Mode::Rollout),
                to.as_deref(),
                false,
                &ui,
                cli.json,
            )
            .await
        }
        Command::Status { .. } => {
            let st = ops::status(env).await;
            if cli.json {
                print_json(&st)?;
            } else {
                for s in &st {
                    println!(
                        "{:<14} {:<15} roles {:?} master {} build {} label {} generation {} backups {}{}",
                        s.host, s.address, s.roles,
                        s.master_pid.map(|p| p.to_string()).unwrap_or("-".into()),
                        s.build_id.as_deref().unwrap_or("-"), s.label.as_deref().unwrap_or("-"),
                        s.generation.map(|g| g.to_string()).unwrap_or("-".into()),
                        s.backups.len(),
                        s.error.as_deref().map(|e| format!(" error: {e}")).unwrap_or_default()
                    );
                    if let Some(lb) = &s.lb {
                        for line in crate::lbview::lines(lb) {
                            println!("{:<14} {line}", "");
                        }
                    }
                }
            }
            Ok(if st.iter().all(|s| s.reachable) { 0 } else { 1 })
        }
        Command::Netcheck { .. } => {
            let n = ops::netcheck(env).await;
            if cli.json {
                print_json(&n)?;
            } else {
                for h in &n {
                    let s = h.stats.as_ref();
                    let ms = |v: Option<f64>| v.map(|l| format!("{l:.2}ms")).unwrap_or("-".into());
                    let icmp = match s.map(|s| &s.icmp) {
                        Some(Icmp::Measured(i)) => {
                            format!("icmp loss {:.0}% rtt avg {}", i.loss_pct, ms(i.rtt_avg_ms))
                        }
                        Some(Icmp::Unavailable { reason }) => {
                            format!("icmp unavailable ({reason})")
                        }
                        None => "icmp -".into(),
                    };
                    println!(
                        "{:<14} {} tcp loss {} latency p50 {} max {} | {} {}",
                        h.host,
                        if h.verdict.ok { "ok  " } else { "BAD " },
                        s.map(|s| format!("{:.0}%", s.loss_pct))
                            .unwrap_or("-".into()),
                        ms(s.and_then(|s| s.latency_p50_ms)),
                        ms(s.and_then(|s| s.latency_max_ms)),
                        icmp,
                        h.verdict.reasons.join("; ")
                    );
                }
            }
            Ok(if n.iter().all(|h| h.verdict.ok) {
                0
            } else {
                crate::outcome::Outcome::Aborted.exit_code()
            })
        }
        Command::Detect { .. } => {
            let d = ops::detect(env).await;
            if cli.json {
                print_json(&d)?;
            } else {
                for h in &d {
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
            Ok(if d.iter().all(|h| h.error.is_none()) {
                0
            } else {
                1
            })
        }
        Command::Unlock { force, .. } => {
            let r = crate::unlock::unlock(env, &state_dir, force).await?;
            if cli.json {
                print_json(&r)?;
            } else {
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
            Ok(if r.ok() { 0 } else { 1 })
        }
        Command::History { .. } => unreachable!("handled above"),
    }
}
