//! The master process: binds the listeners once, supervises one worker at a time (two during a
//! graceful restart), serves the admin endpoint, and exits cleanly on SIGTERM/SIGINT.
//!
//! Supervision (Unix only):
//! - `run`: the entry point ([`run()`], [`run_blocking`]), [`MasterError`], [`Shutdown`].
//! - [`config`]: [`MasterConfig`] and its defaults.
//! - `child`: ownership of one worker process (the only place that waits on or signals it).
//! - `supervisor`: the lifecycle state machine (restart, readiness, drain, crash recovery).
//! - [`status`]: what the supervisor publishes ([`Published`]: the `/status` document).
//! - [`spawn`]: starting a worker with inherited sockets (`LISTEN_FDS`), identity variables and
//!   a parent-death signal; all child-side work is async-signal-safe.
//! - [`readiness`]: master side of readiness (sd_notify socket + private `GET /ready`).
//! - [`admin`]: the loopback admin endpoint (`/metrics`, `/status`, `POST /restart`).
//! - `orphans`, `runtime_dir`: subreaper duty and the per-master runtime directory.
//!
//! Portable (also used by the `ctl` client on every platform):
//! - [`admin_auth`]: the admin token (bearer, from a private file) and socket group.
//! - [`probe`]: the master's minimal HTTP client (checks and `ctl`).
//! - [`metrics`]: Prometheus counters and gauges of the master.
//! - [`exit_reason`]: `graceful` / `exit_code` / `signal` / `wait_error`.
//! - [`backoff`]: bounded exponential crash-recovery backoff.

pub mod admin_auth;
pub mod backoff;
pub mod exit_reason;
pub mod metrics;
pub mod probe;

#[cfg(unix)]
pub mod admin;
#[cfg(unix)]
pub mod config;
#[cfg(unix)]
pub mod readiness;
#[cfg(unix)]
pub mod spawn;
#[cfg(unix)]
pub mod status;

#[cfg(unix)]
mod child;
#[cfg(unix)]
mod orphans;
#[cfg(unix)]
mod run;
#[cfg(unix)]
mod runtime_dir;
#[cfg(unix)]
mod supervisor;

#[cfg(unix)]
pub use config::{LivenessConfig, MasterConfig};
#[cfg(unix)]
pub use run::{run, run_blocking, Command, Handles, MasterError, Shutdown};
#[cfg(unix)]
pub use status::{Published, Status, WorkerStatus};
