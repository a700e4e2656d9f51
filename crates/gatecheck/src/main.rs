//! `gatecheck`: blocking E2E suites and UAT version parity against a `deploy.toml` environment.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use deployctl::inventory::Inventory;
use gatecheck::version::Parity;
use gatecheck::{e2e, parity, suite};

/// Release gates against a live environment of deploy.toml.
///
/// Exit status: 0 when the gate passed, 1 when it failed (a suite, a host or a commit did not
/// match), 2 when it could not run (bad inventory, no suites, unknown environment).
#[derive(Debug, Parser)]
#[command(name = "gatecheck", version)]
struct Cli {
    /// The inventory deployctl reads.
    #[arg(
        long,
        global = true,
        default_value = "deploy.toml",
        value_name = "FILE"
    )]
    inventory: PathBuf,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run every E2E suite against every base URL of an environment.
    ///
    /// Suites are Hurl files (e2e/*.hurl, run in name order) with the variables base_url and,
    /// when the environment has service.admin, admin_url (a local forwarder to the master's
    /// admin endpoint; the restart suite gracefully restarts each host through it). Writes
    /// junit.xml and e2e.json. See e2e/README.md for what each suite checks.
    /// Example: gatecheck e2e --env uat --reports target/gate/e2e-uat
    E2e {
        /// Environment name in the inventory.
        #[arg(long)]
        env: String,
        /// Directory of *.hurl suites.
        #[arg(long, default_value = "e2e", value_name = "DIR")]
        suites: PathBuf,
        /// Directory for junit.xml and e2e.json.
        #[arg(long, default_value = "target/gate/e2e", value_name = "DIR")]
        reports: PathBuf,
        /// Extra variable for every suite (repeatable): --var name=value.
        #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
        vars: Vec<(String, String)>,
        /// Per-request timeout in seconds (a suite's [Options] may raise it).
        #[arg(long, default_value_t = 30)]
        request_timeout_s: u64,
        /// Run every suite on a host even after it refused connections.
        #[arg(long)]
        no_skip_dead_hosts: bool,
    },
    /// Check that every host of an environment serves a commit.
    ///
    /// Without --sync a mismatch fails, listing each host and the commit it runs. With --sync
    /// the environment is first rolled forward (deployctl rollout) when it does not match,
    /// after checking that the artifact to ship reports that commit; then checked again.
    /// Example: gatecheck parity --env uat --commit "$(git rev-parse HEAD)" --sync
    Parity {
        #[arg(long, default_value = "uat")]
        env: String,
        /// The commit that must be served (short or full SHA).
        #[arg(long, value_name = "SHA")]
        commit: String,
        /// Roll the environment forward with deployctl when it does not match.
        #[arg(long)]
        sync: bool,
        /// Also require every host to serve exactly this build (its `version --json` build_id;
        /// it must report --commit), and ship it on --sync. Default for --sync: the
        /// inventory's artifact.binary, checked by commit only.
        #[arg(long, value_name = "PATH")]
        artifact: Option<PathBuf>,
        /// deployctl binary (default: next to gatecheck, else from PATH).
        #[arg(long, value_name = "PATH")]
        deployctl: Option<PathBuf>,
        /// Where to write parity.json.
        #[arg(long, default_value = "target/gate/parity.json", value_name = "FILE")]
        report: PathBuf,
        /// Timeout of each /version request in seconds.
        #[arg(long, default_value_t = 10)]
        timeout_s: u64,
    },
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or("expected NAME=VALUE")?;
    Ok((k.to_string(), v.to_string()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("gatecheck: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<bool> {
    let inventory = Inventory::load(&cli.inventory)?;
    match cli.command {
        Cmd::E2e {
            env,
            suites,
            reports,
            vars,
            request_timeout_s,
            no_skip_dead_hosts,
        } => {
            let env = inventory.env(&env)?;
            let suites = suite::discover(&suites)?;
            let opts = e2e::E2eOptions {
                variables: vars.into_iter().collect::<BTreeMap<_, _>>(),
                limits: suite::Limits {
                    request_timeout: Duration::from_secs(request_timeout_s),
                    ..suite::Limits::default()
                },
                skip_after_host_error: !no_skip_dead_hosts,
            };
            let report = e2e::run(env, &suites, &opts).context("starting the E2E run")?;
            report
                .write(&reports)
                .with_context(|| format!("writing reports to {}", reports.display()))?;
            print!("{}", report.console());
            println!(
                "reports: {}/junit.xml {}/e2e.json",
                reports.display(),
                reports.display()
            );
            Ok(report.passed)
        }
        Cmd::Parity {
            env,
            commit,
            sync,
            artifact,
            deployctl,
            report,
            timeout_s,
        } => {
            let environment = inventory.env(&env)?;
            let timeout = Duration::from_secs(timeout_s);
            let build_id = match &artifact {
                Some(path) => {
                    let info = gatecheck::version::of_artifact(path)?;
                    anyhow::ensure!(
                        info.is_commit(&commit),
                        "{} reports commit {}{}, not {commit}",
                        path.display(),
                        info.commit,
                        if info.is_dirty() {
                            " built from a dirty tree"
                        } else {
                            ""
                        }
                    );
                    Some(info.build_id)
                }
                None => None,
            };
            let mut result = parity::check(environment, &commit, build_id.as_deref(), timeout);
            print!("{}", result.console());
            if !result.passed && sync {
                let plan = parity::SyncPlan {
                    deployctl: deployctl.unwrap_or_else(parity::default_deployctl),
                    inventory: cli.inventory.clone(),
                    env: env.clone(),
                    artifact_override: artifact.is_some(),
                    artifact: artifact.unwrap_or_else(|| environment.artifact.binary.clone()),
                };
                parity::sync(&plan, &commit)?;
                result = parity::check(environment, &commit, build_id.as_deref(), timeout);
                print!("{}", result.console());
            }
            let json = serde_json::to_string_pretty(&result)? + "\n";
            if let Some(dir) = report.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            gatecheck::report::write_atomic(&report, json.as_bytes())?;
            Ok(result.passed)
        }
    }
}
