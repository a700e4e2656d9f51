//! Running `hotel-api`: as the master (supervising workers of this same binary) or as a worker
//! (serving the API on inherited or directly bound sockets).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use runtime::worker::drain::DrainConfig;
use runtime::worker::{Identity, Lifecycle, Listeners};

use crate::app::{router, AppState};
use crate::build_info;
use crate::cli::{Cli, Sub};
use crate::config::{Config, Fault};
use crate::store::Store;

/// Exit code for unusable configuration.
pub const EXIT_CONFIG: u8 = 2;

/// Entry point behind `main`.
pub fn run(cli: Cli) -> ExitCode {
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hotel-api: error: {e:#}");
            let config_error = e.chain().any(|c| c.is::<crate::config::ConfigError>());
            ExitCode::from(if config_error { EXIT_CONFIG } else { 1 })
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Sub::Version { json }) => {
            let b = build_info::current();
            if json {
                println!("{}", serde_json::to_string(&b)?);
            } else {
                println!(
                    "hotel-api {} (commit {}, built {}, build id {})",
                    b.version, b.commit, b.build_time, b.build_id
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        Some(Sub::Stamp { label, out }) => {
            let me = std::env::current_exe().context("locating this executable")?;
            build_info::stamp(&me, &out, &label)?;
            println!("{}", out.display());
            return Ok(ExitCode::SUCCESS);
        }
        Some(Sub::Ctl {
            verb,
            admin,
            timeout,
            token_file,
        }) => {
            let token = token_file
                .map(|p| runtime::master::admin_auth::read_token(&p, false))
                .transpose()?;
            let ok = runtime::cli::ctl_blocking(verb, &admin, timeout, token.as_ref())
                .with_context(|| format!("admin endpoint {admin}"))?;
            return Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        None => {}
    }
    let config = Config::load(cli.config.as_deref(), &cli.overrides)?;
    match runtime::Mode::resolve(cli.mode) {
        runtime::Mode::Master => run_master(&cli.master, config),
        runtime::Mode::Worker => run_worker(config),
    }
}

#[cfg(unix)]
fn run_master(args: &runtime::cli::MasterArgs, config: Config) -> anyhow::Result<ExitCode> {
    let _log = runtime::logging::init("master");
    let (program, argv) =
        runtime::worker::embed::self_command().context("locating this executable")?;
    check_durations(args, &config)?;
    let mut cfg = args.to_config(program, argv, vec![config.listen_spec()?])?;
    if cfg.pid_file.is_none() {
        cfg.pid_file = config.pid_file.clone();
    }
    if cfg.admin.is_none() {
        if let Some(a) = &config.admin {
            cfg.admin = Some(a.parse::<protocol::AdminAddr>()?);
        }
    }
    match runtime::master::run_blocking(cfg)? {
        runtime::master::Shutdown::Graceful => Ok(ExitCode::SUCCESS),
        runtime::master::Shutdown::Forced => Ok(ExitCode::from(1)),
    }
}

#[cfg(unix)]
/// Cross-field checks between the master's flags and the service's config: a warm-up that
/// cannot finish within the readiness timeout, or a linger the grace period cuts short, is a
/// configuration error, refused before anything starts.
fn check_durations(args: &runtime::cli::MasterArgs, config: &Config) -> anyhow::Result<()> {
    let warmup = Duration::from_millis(config.warmup_ms);
    if warmup >= args.ready_timeout {
        anyhow::bail!(
            "warmup_ms ({} ms) must be shorter than --ready-timeout ({} ms)",
            warmup.as_millis(),
            args.ready_timeout.as_millis()
        );
    }
    let linger = Duration::from_millis(config.linger_ms);
    if linger >= args.grace {
        anyhow::bail!(
            "linger_ms ({} ms) must be shorter than --grace ({} ms)",
            linger.as_millis(),
            args.grace.as_millis()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn run_master(_: &runtime::cli::MasterArgs, _: Config) -> anyhow::Result<ExitCode> {
    anyhow::bail!("master mode needs a Unix system; run with --mode worker")
}

fn run_worker(config: Config) -> anyhow::Result<ExitCode> {
    let _log = runtime::logging::init("worker");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(serve_worker(config))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve_worker(config: Config) -> anyhow::Result<()> {
    #[cfg(target_os = "linux")]
    if config.fault == Fault::ClearPdeathsig {
        nix::sys::prctl::set_pdeathsig(None).context("clearing PR_SET_PDEATHSIG")?;
        tracing::warn!(
            event = "fault_injected",
            fault = "clear-pdeathsig",
            "parent-death signal cleared"
        );
    }
    let identity = Identity::from_env();
    let listeners =
        Listeners::from_env_or_bind(&[config.listen_spec()?]).context("taking the listeners")?;
    let store = Store::open(&config.data_dir).context("opening the bookings database")?;
    let lifecycle = Lifecycle::new();
    let build = Arc::new(build_info::current());
    tracing::info!(event = "worker_starting", generation = identity.generation, build_id = %build.build_id, inherited = listeners.inherited, "hotel-api worker starting");
    let fault = config.fault;
    let warmup = Duration::from_millis(config.warmup_ms);
    let drain = DrainConfig {
        grace: identity.grace,
        linger: Duration::from_millis(config.linger_ms),
    };
    let faults = crate::faults::FaultState::new(config.response_faults());
    if config.response_faults().active() {
        tracing::warn!(
            event = "fault_injected",
            fault = "response",
            fail_share = config.fail_share,
            added_latency_ms = config.added_latency_ms,
            "response faults on"
        );
    }
    let app = router(AppState {
        faults,
        config: Arc::new(config),
        store,
        lifecycle: lifecycle.clone(),
        build,
        generation: identity.generation,
    });
    let warming = lifecycle.clone();
    tokio::spawn(async move {
        tokio::time::sleep(warmup).await;
        match fault {
            Fault::CrashOnStart => {
                tracing::error!(
                    event = "fault_injected",
                    fault = "crash-on-start",
                    "exiting during start-up"
                );
                std::process::exit(3);
            }
            Fault::NeverReady => tracing::warn!(
                event = "fault_injected",
                fault = "never-ready",
                "staying unready"
            ),
            _ => warming.set_ready(),
        }
    });
    let shutdown = async move {
        if fault == Fault::IgnoreSigterm {
            // Installing the handler replaces the default action; never acting on it ignores SIGTERM.
            #[cfg(unix)]
            let _held = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
            tracing::warn!(
                event = "fault_injected",
                fault = "ignore-sigterm",
                "SIGTERM will be ignored"
            );
            std::future::pending::<()>().await;
        }
        runtime::worker::shutdown_signal().await;
    };
    let report = runtime::worker::drain::serve(app, listeners, lifecycle, drain, shutdown).await;
    tracing::info!(
        event = "worker_exit",
        open_at_stop = report.open_at_stop,
        abandoned = report.abandoned,
        drain_ms = report.drain_ms,
        "worker exiting"
    );
    Ok(())
}
