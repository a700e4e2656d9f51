//! deployctl: roll a service binary out to a fleet of hosts, prove it serves, roll back when not.
//!
//! Module map (in pipeline order):
//! - [`inventory`]: `deploy.toml` (environments, hosts, artifact, layout, service, health,
//!   thresholds, rollout shape, `[lb]`), validated with file:line errors before any host is touched.
//! - [`transport`]: the `Transport` trait and its `ssh` (OpenSSH via `openssh`, one multiplexed
//!   master per host), `native` (`russh`) and `local` implementations; strict host keys;
//!   retries with backoff. [`quote`]: POSIX quoting of every remote argument.
//! - [`fleet`]: connect to every host, [`detect`] roles, [`netcheck`] loss and latency, plan
//!   canary + batches. [`remote`]: a connected host plus the remote layout.
//! - [`lock`]: the environment lock (stale detection, released on every exit path).
//! - [`hostrun`]: one host's pipeline: [`backup`] (complete or absent, manifest, rotation) ->
//!   [`upload`] (temp name, resumable, sha256 on host, atomic rename) -> [`service`] (graceful
//!   restart via admin verb or SIGUSR1 to a verified master, first start) -> [`verify`]
//!   (`/ready`, `/ping`, `/version` through the SSH tunnel and the external URL; [`probe`] is
//!   the small HTTP client) -> [`image`] (the running worker image is the installed binary).
//! - [`artifact`]: the build shipped (bytes, sha256, expected build id).
//! - [`ops`]: the operations, each returning a typed report and never printing:
//!   [`ops::rollout`] (the run: batches with bounded parallelism, restore, final routing),
//!   [`ops::rollback`] (restore one build, a run's backups, on every app host),
//!   [`ops::status`], [`ops::detect`], [`ops::unlock`], [`ops::history`].
//!   [`outcome`]: SUCCESS / PARTIAL_SUCCESS / ROLLBACK / ABORTED / ROLLBACK_FAILED /
//!   INTERRUPTED; [`exit`]: the process exit codes, named once.
//! - Load balancers: [`lb`] renders the nginx upstreams (stable and gray pools, header route,
//!   `split_clients`) and parses them back, [`haproxy`] the haproxy kind, [`lbpush`] applies
//!   them (`nginx -t`, reload, restore on failure), [`balancer`] keeps restarting and failed
//!   hosts `down`, [`lbview`] the routing in force for `status`.
//! - [`lease`]: per-host leases (renewed, released on every exit path); [`interrupt`]:
//!   Ctrl-C. [`audit`]: JSONL evidence, local and on each host. [`ui`]: colour, per-host
//!   progress bars or plain lines.
//! - [`cli`] (global options, subcommands) and [`commands`] (one file per verb: options ->
//!   one operation -> human or `--json` output -> exit code); `main.rs` only calls them.
pub mod artifact;
pub mod audit;
pub mod backup;
pub mod balancer;
pub mod cli;
pub mod commands;
pub mod detect;
pub mod exit;
pub mod fleet;
pub mod haproxy;
pub mod hostrun;
pub mod image;
pub mod interrupt;
pub mod inventory;
pub mod lb;
pub mod lbpush;
pub mod lbview;
pub mod lease;
pub mod lock;
pub mod netcheck;
pub mod ops;
pub mod outcome;
pub mod probe;
pub mod quote;
pub mod remote;
pub mod service;
pub mod transport;
pub mod ui;
pub mod upload;
pub mod verify;
