//! Zero-downtime master/worker process runtime.
//!
//! A tiny **master** owns the listening sockets and supervises the **worker** (the business
//! service). SIGUSR1 starts a new worker from the binary on disk, waits until it is ready, then
//! drains and retires the old one; crashes are classified, counted and repaired.
//!
//! Module map:
//! - [`listener`]: `name=addr` specs; binding once with `SO_REUSEADDR`, busy-address probing.
//! - [`spawn`]: starting a worker with inherited sockets (`LISTEN_FDS`), identity variables and
//!   a parent-death signal; all child-side work is async-signal-safe.
//! - [`master`]: the supervisor (graceful restart, readiness, drain, crash recovery, shutdown).
//! - [`readiness`]: master side of readiness (sd_notify socket + private `GET /ready`).
//! - [`exit_reason`]: `graceful` / `exit_code` / `signal` / `wait_error`.
//! - [`backoff`]: bounded exponential crash-recovery backoff.
//! - [`metrics`]: Prometheus counters and gauges of the master.
//! - [`admin`]: the master's loopback admin endpoint (`/metrics`, `/status`, `POST /restart`).
//! - [`admin_auth`]: its token (bearer, from a private file) and socket group.
//! - [`probe`]: the master's minimal HTTP client.
//! - [`worker`]: worker side: inherited listeners, identity, lifecycle, stop signal.
//! - [`guard`]: worker side of the master's guard pipe (stop when the master is gone).
//! - [`drain`]: serving an axum app with the zero-loss drain sequence.
//! - [`embed`]: one binary that is master or worker ([`embed::Mode`]).
//! - [`logging`]: JSON lines on stderr.
//! - [`cli`]: master options shared by `zdrun` and embedding services; the `ctl` client.

pub mod admin_auth;
pub mod backoff;
pub mod cli;
pub mod drain;
pub mod embed;
pub mod exit_reason;
pub mod guard;
pub mod listener;
pub mod logging;
pub mod metrics;
pub mod probe;
pub mod worker;

#[cfg(unix)]
pub mod admin;
#[cfg(unix)]
pub mod master;
#[cfg(unix)]
pub mod readiness;
#[cfg(unix)]
pub mod spawn;

pub use embed::Mode;
