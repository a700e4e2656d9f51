//! Command line of `hotel-api`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Overrides;

const AFTER: &str = "\
On Linux the process you start is the MASTER: it binds --listen once, runs the service as a
worker child (this same binary, same arguments) and keeps the socket across worker swaps.
  kill -USR1 <master pid>     graceful restart from the binary now on disk (zero dropped requests)
  kill -TERM <master pid>     drain and exit 0
  hotel-api ctl restart --admin 127.0.0.1:9901 --token-file FILE
                              the same restart, waiting for its outcome

Endpoints: GET /ready /ping /version /search?city=Paris&nights=2, POST /bookings,
GET /bookings/{id}. Admin (with --admin): GET /metrics /status, POST /restart (on TCP only
with --admin-token-file FILE, mode 0600: Authorization: Bearer <token>).";

/// The hotel distribution API (reference service of the zero-downtime runtime).
#[derive(Parser, Debug)]
#[command(name = "hotel-api", version, after_long_help = AFTER, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Subcommand (default: serve).
    #[command(subcommand)]
    pub command: Option<Sub>,
    /// TOML config file (keys: listen, data_dir, admin, pid_file, warmup_ms, search_latency_ms,
    /// search_deadline_ms, linger_ms).
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// master: own the socket and supervise a worker (Linux default); worker: serve directly.
    #[arg(long, value_enum)]
    pub mode: Option<runtime::Mode>,
    /// Service options.
    #[command(flatten)]
    pub overrides: Overrides,
    /// Master options.
    #[command(flatten)]
    pub master: runtime::cli::MasterArgs,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Sub {
    /// Print this build's identity (what /version reports).
    Version {
        /// As one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Write a copy of this binary with another release label (a distinct build id and sha256).
    Stamp {
        /// The label: 1 to 47 characters from A-Z a-z 0-9 . _ -
        #[arg(long)]
        label: String,
        /// Where to write the copy (replaced atomically).
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
    /// Talk to a running master's admin endpoint.
    Ctl {
        /// status | restart | metrics
        verb: runtime::cli::CtlVerb,
        /// The master's admin address (loopback HOST:PORT or unix:PATH).
        #[arg(long, value_name = "ADDR", value_parser = runtime::cli::parse_admin)]
        admin: protocol::AdminAddr,
        /// Give up after this long.
        #[arg(long, default_value = "180s", value_parser = runtime::cli::parse_ctl_timeout)]
        timeout: std::time::Duration,
        /// The master's --admin-token-file: sent as `Authorization: Bearer <token>`.
        #[arg(long, value_name = "FILE")]
        token_file: Option<std::path::PathBuf>,
    },
}
