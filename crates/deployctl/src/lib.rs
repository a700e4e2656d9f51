//! deployctl: roll a service binary out to a fleet of hosts, prove it serves, roll back when not.
//!
//! Module map:
//! - [`inventory`]: `deploy.toml` (environments, hosts, artifact, layout, thresholds), validated
//!   with file/line errors before any host is touched.
//! - [`quote`]: POSIX shell quoting of remote command arguments.
//! - [`transport`]: the `Transport` trait and its `ssh` (OpenSSH), `native` (russh) and `local`
//!   implementations; retries with backoff.
pub mod audit;
pub mod backup;
pub mod cli;
pub mod detect;
pub mod fleet;
pub mod hostrun;
pub mod inventory;
pub mod lock;
pub mod netcheck;
pub mod ops;
pub mod outcome;
pub mod probe;
pub mod quote;
pub mod remote;
pub mod rollout;
pub mod service;
pub mod transport;
pub mod ui;
pub mod upload;
pub mod verify;
