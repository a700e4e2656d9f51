//! deployctl: roll a service binary out to a fleet of hosts, prove it serves, roll back when not.
//!
//! Public API (the boundary other crates use; everything else is `pub(crate)`):
//! - [`cli::main`]: the whole `deployctl` program (`main.rs` only calls it).
//! - [`inventory`]: `deploy.toml` read and validated ([`inventory::Inventory`],
//!   [`inventory::Environment`], [`inventory::Host`]); gatecheck reads environments with it.
//! - [`access::HostLink`]: reach one host the way deployctl does (the environment's transport):
//!   a tunnel to a loopback port, a small secret file; gatecheck's admin tunnel uses it.
//! - [`observe`]: readers of what deployctl leaves on a fleet (HTTP probe, nginx serial,
//!   haproxy server names and `show stat`, sha256) for the test kit and integration tests.
//! - [`analysis`]: the canary judge (pure): [`analysis::Judge`] over
//!   [`analysis::counts::WindowCounts`], the `--auto` policy, and the old fixed-window judge;
//!   `cargo xtask bench canary` drives both with simulated windows.
//!
//! Module map (in pipeline order; `crate::` modules are private):
//! - `inventory` (+ `raw`, `resolve`, `validate`): `deploy.toml` (environments, hosts, artifact,
//!   layout, service, health, thresholds, rollout shape, `[lb]`), validated with file:line
//!   errors before any host is touched.
//! - `transport`: the `Transport` trait and its `ssh` (OpenSSH via `openssh`, one multiplexed
//!   master per host), `native` (`russh`) and `local` implementations; strict host keys;
//!   retries with backoff. `quote`: POSIX quoting of every remote argument.
//! - `fleet`: connect to every host, `detect` roles, `netcheck` loss and latency, plan canary +
//!   batches, the bounded fan-out (`fleet::bounded`), `close_all`. `remote`: a connected host
//!   plus the remote layout.
//! - `scripts`: every shell script run on a host, a checked file `scripts/NAME.sh` with one
//!   typed parser of its `key=value` output; `scripts::argv` builds the one `sh -c` command.
//! - `lock`: the environment lock (stale detection, released on every exit path); `lease`:
//!   per-host leases (renewed, released on every exit path); `interrupt`: SIGINT, SIGTERM, SIGHUP.
//! - `hostrun`: one host's pipeline: `backup` (complete or absent, manifest, rotation) ->
//!   `upload` (temp name, resumable, sha256 on host, atomic rename) -> `service` (graceful
//!   restart via admin verb or SIGUSR1 to a verified master, first start) -> `verify`
//!   (`/ready`, `/ping`, `/version` through the SSH tunnel and the external URL; `probe` is the
//!   small HTTP client) -> `image` (the running worker image is the installed binary).
//! - `artifact`: the build shipped (bytes, sha256, expected build id).
//! - `ops`: the operations, each returning a typed report and never printing: `ops::rollout`
//!   (a pipeline of named steps over one `HostRun` per host: plan, batches, finish),
//!   `ops::rollback` (restore one build, a run's backups, on every app host), `ops::status`,
//!   `ops::detect`, `ops::unlock`, `ops::history`. `outcome`: SUCCESS / PARTIAL_SUCCESS /
//!   ROLLBACK / ABORTED / ROLLBACK_FAILED / INTERRUPTED; `exit`: the process exit codes, named
//!   once.
//! - Load balancers: `lb` renders the nginx upstreams (stable and gray pools, header route,
//!   `split_clients`) and parses them back, `haproxy` the haproxy kind, `lbpush` applies them
//!   (`nginx -t`, reload, restore on failure), `balancer` keeps restarting and failed hosts
//!   `down`, `lbview` the routing in force for `status`. `accesslog`: the JSON access log both
//!   kinds write, and its reader over the transport; `analysis`: the sequential canary judge
//!   (pure; anytime-valid e-processes per count, per group and for the fleet);
//!   `canary`: `gray --analyze` (windows, verdicts, the `--auto` action) and `canary replay`
//!   (the same judge over access-log files); `report`:
//!   `deployctl report` (one self-contained HTML file of a run).
//! - `releases`: the release history each app host keeps of itself (fsynced by the host, the
//!   host's clock): the default `rollback` target is chosen from it, whichever controller
//!   deployed.
//! - `audit`: typed JSONL evidence (`Command`, `Step`, `Verdict`, `Outcome`), local and on each
//!   host, read back through the same type. `ui`: colour, per-host progress bars or plain
//!   lines.
//! - [`cli`] (global options, subcommands) and `commands` (one file per verb: options -> one
//!   operation -> human or `--json` output -> exit code).
pub mod access;
pub(crate) mod accesslog;
pub mod analysis;
pub(crate) mod artifact;
pub(crate) mod audit;
pub(crate) mod backup;
pub(crate) mod balancer;
pub(crate) mod canary;
pub mod cli;
pub(crate) mod commands;
pub(crate) mod detect;
pub(crate) mod exit;
pub(crate) mod fleet;
pub(crate) mod haproxy;
pub(crate) mod hostrun;
pub(crate) mod image;
pub(crate) mod interrupt;
pub mod inventory;
pub(crate) mod lb;
pub(crate) mod lbpush;
pub(crate) mod lbview;
pub(crate) mod lease;
pub(crate) mod lock;
pub(crate) mod netcheck;
pub mod observe;
pub(crate) mod ops;
pub(crate) mod outcome;
pub(crate) mod probe;
pub(crate) mod quote;
pub(crate) mod releases;
pub(crate) mod remote;
pub(crate) mod report;
pub(crate) mod scripts;
pub(crate) mod service;
pub(crate) mod transport;
pub(crate) mod ui;
pub(crate) mod upload;
pub(crate) mod verify;
