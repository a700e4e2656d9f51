//! Zero-downtime master/worker process runtime.
//!
//! A tiny **master** owns the listening sockets and supervises the **worker** (the business
//! service). SIGUSR1 starts a new worker from the binary on disk, waits until it is ready, then
//! drains and retires the old one; crashes are classified, counted and repaired.
//!
//! Module map, by process:
//! - [`master`]: everything that runs in the master process.
//!   - [`master::run()`]: entry point; [`master::config`]: [`master::MasterConfig`];
//!     `master::supervisor`: the lifecycle state machine (graceful restart, readiness, drain,
//!     crash recovery, shutdown); `master::child`: one worker process.
//!   - [`master::spawn`]: starting a worker with inherited sockets (`LISTEN_FDS`), identity
//!     variables and a parent-death signal; all child-side work is async-signal-safe.
//!   - [`master::readiness`]: master side of readiness (sd_notify socket + private `GET /ready`).
//!   - [`master::admin`]: the loopback admin endpoint (`/metrics`, `/status`, `POST /restart`);
//!     [`master::admin_auth`]: its token (bearer, from a private file) and socket group.
//!   - [`master::probe`]: the master's minimal HTTP client (also used by `ctl`).
//!   - [`master::metrics`], [`master::exit_reason`], [`master::backoff`]: Prometheus metrics,
//!     exit classification, crash-recovery backoff.
//! - [`worker`]: everything that runs in the worker process.
//!   - [`worker`] itself: inherited listeners, identity, lifecycle, stop signal.
//!   - [`worker::drain`]: serving an axum app with the zero-loss drain sequence.
//!   - [`worker::guard`]: worker side of the master's guard pipe (stop when the master is gone).
//!   - [`worker::embed`]: one binary that is master or worker ([`Mode`]).
//! - Shared by both processes (and the `ctl` client):
//!   - [`listener`]: `name=addr` specs; binding with `SO_REUSEADDR` (the master binds the
//!     public sockets; a bare worker binds its own), busy-address probing.
//!   - [`logging`]: JSON lines on stderr.
//!   - [`cli`]: master options shared by `zdrun` and embedding services; the `ctl` client.
//!
//! Every document and name that crosses a process boundary (the admin `/status` and
//! `POST /restart` bodies, the worker's `LISTEN_*`/`ZDRUN_*`/`NOTIFY_SOCKET` environment, the
//! admin address) is defined in the `protocol` crate; this crate defines none of its own.

pub mod cli;
pub mod listener;
pub mod logging;
pub mod master;
pub mod worker;

pub use worker::embed::Mode;
