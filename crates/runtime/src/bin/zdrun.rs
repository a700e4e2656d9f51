//! `zdrun`: the zero-downtime master for any program that takes socket-activated listeners.
use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use runtime::cli::{CtlVerb, MasterArgs};
use runtime::listener::ListenSpec;

const ABOUT: &str = "Run COMMAND under a zero-downtime master: SIGUSR1 swaps in a new process without dropping a request.";

const PROTOCOL: &str = "\
THE PROTOCOL YOUR PROGRAM SPEAKS
  Sockets    The master binds every --listen address once and passes the sockets to each worker
             by the systemd convention: fds 3, 4, ... with LISTEN_FDS=N, LISTEN_PID=<worker pid>
             and LISTEN_FDNAMES=name1:name2:...:private. Accept on them; never bind the port.
             The last fd, `private`, is a loopback listener of this worker alone: serve your
             readiness endpoint on it too (disable with --no-private-listener).
  Readiness  Answer 200 on --ready-path (default /ready) once warmed up; send READY=1 to the
             datagram socket in NOTIFY_SOCKET (sd_notify) to be checked at once instead of at the
             next poll. Until then the old worker keeps all the traffic.
  Stopping   On SIGTERM: stop accepting, finish in-flight requests, exit. SIGKILL follows after
             --grace. Queued connections stay in the shared kernel queue for the next worker.
  Identity   ZDRUN_MASTER_PID, ZDRUN_GENERATION, ZDRUN_GRACE_MS.
  Groups     Each worker leads its own process group; SIGTERM and SIGKILL go to the whole group
             (a wrapper script that does not exec cannot leave its server behind). The master is
             a child subreaper: descendants that outlive their parent are stopped and reaped.
  Master     Linux: PR_SET_PDEATHSIG=SIGTERM (cleared by exec of a setuid or file-capability
  death      binary; absent on macOS). Everywhere: the fd named by ZDRUN_MASTER_FD (after the
             LISTEN_FDS sockets) is the read end of a pipe only the master can write; end of file
             means the master is gone: stop. Rust workers built on the runtime do so by
             themselves; any other program must watch that fd itself.

SIGNALS TO THE MASTER
  SIGUSR1    graceful restart: start COMMAND again (re-resolved on disk), wait until ready, then
  SIGHUP     SIGTERM the old worker. A new worker that exits or is not ready in time is killed and
             the old one keeps serving; the outcome is reported once it is reaped. Signals during
             a restart coalesce into one follow-up.
  SIGTERM    drain the worker and exit 0 (SIGINT too); a second one kills the workers.

ADMIN ENDPOINT (--admin)
  GET /metrics, GET /status, POST /restart (waits for the outcome). A unix: socket is created
  0600 (0660 with --admin-group) and never replaces a file that is not a socket. With
  --admin-token-file FILE (mode 0600), POST /restart needs `Authorization: Bearer <token>`;
  `zdrun ctl restart --token-file FILE` sends it. Without one, POST /restart is refused on TCP
  (any local user reaches a loopback port) and open on a unix: socket. At most 64 connections.
  Port 0, here or in --listen, binds a free port: the log events `listening` (name, addr) and
  `admin_listening` (addr) name the addresses actually bound.

RUNTIME DIRECTORY
  Worker notify sockets live in a fresh zdrun-XXXXXX directory (mode 0700) created in
  $RUNTIME_DIRECTORY (systemd RuntimeDirectory=), else $XDG_RUNTIME_DIR, else the temp dir;
  only that directory is removed at exit.

DURATIONS
  150ms, 2s, 1m or bare seconds. Zero and absurd values are refused when parsed, with the range
  allowed; --ready-interval must be shorter than --ready-timeout.

EXAMPLES
  zdrun --listen http=0.0.0.0:8080 --admin 127.0.0.1:9901 -- ./my-server --flag
  kill -USR1 $(cat /run/my-server.pid)
  zdrun ctl restart --admin 127.0.0.1:9901 --token-file /etc/my-server/admin.token";

#[derive(Parser, Debug)]
#[command(name = "zdrun", version, about = ABOUT, after_long_help = PROTOCOL, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    ctl: Option<Sub>,
    /// A listener to own and share with every worker: `NAME=HOST:PORT`, `NAME=unix:PATH`, or
    /// `HOST:PORT` (named `http`). Repeatable; order = fd order from 3.
    #[arg(long = "listen", value_name = "NAME=ADDR")]
    listen: Vec<ListenSpec>,
    #[command(flatten)]
    master: MasterArgs,
    /// The worker command and its arguments (after `--`).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<OsString>,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Talk to a running master's admin endpoint.
    Ctl {
        /// status | restart | metrics
        verb: CtlVerb,
        /// The master's --admin address (loopback HOST:PORT or unix:PATH).
        #[arg(long, value_name = "ADDR", value_parser = runtime::cli::parse_admin)]
        admin: protocol::AdminAddr,
        /// Give up waiting after this long (a restart waits for the new worker's readiness).
        #[arg(long, default_value = "180s", value_parser = runtime::cli::parse_ctl_timeout)]
        timeout: std::time::Duration,
        /// The master's --admin-token-file: sent as `Authorization: Bearer <token>`.
        #[arg(long, value_name = "FILE")]
        token_file: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("zdrun: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(Sub::Ctl {
        verb,
        admin,
        timeout,
        token_file,
    }) = cli.ctl
    {
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
    let Some((program, args)) = cli.command.split_first() else {
        anyhow::bail!("no COMMAND given: zdrun [OPTIONS] -- COMMAND [ARGS]... (see --help)");
    };
    if cli.listen.is_empty() {
        anyhow::bail!("at least one --listen NAME=ADDR is required (see --help)");
    }
    run_master(&cli.master, program.clone(), args.to_vec(), cli.listen)
}

#[cfg(unix)]
fn run_master(
    master: &MasterArgs,
    program: OsString,
    args: Vec<OsString>,
    listen: Vec<ListenSpec>,
) -> anyhow::Result<ExitCode> {
    let _log = runtime::logging::init("master");
    let cfg = master.to_config(program, args, listen)?;
    match runtime::master::run_blocking(cfg)? {
        runtime::master::Shutdown::Graceful => Ok(ExitCode::SUCCESS),
        runtime::master::Shutdown::Forced => Ok(ExitCode::from(1)),
    }
}

#[cfg(not(unix))]
fn run_master(
    _: &MasterArgs,
    _: OsString,
    _: Vec<OsString>,
    _: Vec<ListenSpec>,
) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the zdrun master needs a Unix system; on this platform run the service directly (worker mode)")
}
