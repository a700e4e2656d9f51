//! `hotel-api`: the reference hotel distribution service (search, availability, bookings) that
//! demos, E2E suites and benchmarks deploy. It embeds the runtime: on Linux the process started
//! is the master, and workers are this same binary.
//!
//! Module map:
//! - [`cli`]: command line (serve, `version`, `stamp`, `ctl`).
//! - [`config`]: TOML file + flag overrides, validation, fault injection switches.
//! - [`faults`]: response faults (a failing share, bookings only, added latency).
//! - [`service`]: master or worker; the worker's warm-up, readiness and drain wiring.
//! - [`app`]: HTTP routes (`/ready`, `/ping`, `/version`, `/search`, `/bookings`).
//! - [`search`]: concurrent simulated suppliers aggregated within a deadline.
//! - [`store`]: bookings in SQLite (WAL), shared by old and new worker.
//! - [`build_info`]: build identity and the `stamp` label slot.

pub mod app;
pub mod build_info;
pub mod cli;
pub mod config;
pub mod faults;
pub mod search;
pub mod service;
pub mod store;
