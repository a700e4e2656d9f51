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
//! - [`rollout`]: the run: batches with bounded parallelism, [`outcome`] (SUCCESS /
//!   PARTIAL_SUCCESS / ROLLBACK / ABORTED, exit codes), restore, final routing.
//! - Load balancers: [`lb`] renders the nginx upstreams (stable and gray pools, header route,
//!   `split_clients`), [`lbpush`] applies them (`nginx -t`, reload, restore on failure),
//!   [`balancer`] keeps restarting and failed hosts `down`.
//! - [`rollback`]: restore one build (a run's backups) on every app host.
//! - [`ops`]: status, detect, netcheck, history. [`audit`]: JSONL evidence, local and
//!   on each host. [`ui`]: colour, per-host progress bars or plain lines.
//! - [`cli`] and [`commands`]: argument parsing and output; `main.rs` only calls them.
pub mod artifact;
pub mod audit;
pub mod backup;
pub mod balancer;
pub mod cli;
pub mod commands;
pub mod detect;
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
pub mod rollback;
pub mod rollout;
pub mod service;
pub mod transport;
pub mod ui;
pub mod unlock;
pub mod upload;
pub mod verify;
