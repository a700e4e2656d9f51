//! Settings of the master.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::listener::{BindPolicy, ListenSpec};
use crate::master::backoff::BackoffConfig;
use crate::master::readiness::ReadinessConfig;
use protocol::AdminAddr;

/// Optional HTTP liveness probe of the current worker.
#[derive(Clone, Debug)]
pub struct LivenessConfig {
    /// Path probed on the worker's private listener.
    pub path: String,
    /// Probe period.
    pub interval: Duration,
    /// Per-probe timeout.
    pub timeout: Duration,
    /// Consecutive failures before the worker is replaced.
    pub failures: u32,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        LivenessConfig {
            path: "/ping".into(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            failures: 3,
        }
    }
}

/// Everything the master needs.
#[derive(Clone, Debug)]
pub struct MasterConfig {
    /// Program to run as the worker (path, or a name looked up on `PATH`), re-resolved at
    /// every start so a replaced binary takes effect on the next restart.
    pub program: OsString,
    /// Arguments forwarded to every worker.
    pub args: Vec<OsString>,
    /// Extra environment for every worker.
    pub env: Vec<(OsString, OsString)>,
    /// Public listeners, bound once by the master and shared by every worker.
    pub listeners: Vec<ListenSpec>,
    /// Bind behaviour (busy-address probe window).
    pub bind: BindPolicy,
    /// Readiness of a new worker.
    pub readiness: ReadinessConfig,
    /// Hand each worker a private loopback listener (named `private`) for readiness checks.
    pub private_listener: bool,
    /// Time a retiring worker gets to drain before SIGKILL.
    pub grace: Duration,
    /// Crash-recovery backoff.
    pub backoff: crate::master::backoff::BackoffConfig,
    /// Period of the "is the worker alive and not a zombie" check.
    pub health_interval: Duration,
    /// Optional liveness probe (a deadlocked worker is replaced).
    pub liveness: Option<LivenessConfig>,
    /// Pid file of the master, written atomically and removed at exit.
    pub pid_file: Option<PathBuf>,
    /// Loopback (or Unix socket) address of the admin endpoint.
    pub admin: Option<AdminAddr>,
    /// `POST /restart` requires this bearer token when set.
    pub admin_token: Option<crate::master::admin_auth::Token>,
    /// Group of the admin Unix socket (mode 0660 instead of 0600).
    pub admin_group: Option<u32>,
    /// Compatibility mode for workers that bind the port themselves with `SO_REUSEPORT`: the
    /// master holds no public socket, and after an unexpected exit it waits (up to the bind
    /// timeout) until the port is released before starting the replacement.
    pub compat_reuseport: bool,
}

impl MasterConfig {
    /// Defaults of the original system: 1 s poll, 120 s readiness timeout, 30 s grace,
    /// 10 s health check, 30 s busy-address probe.
    pub fn new(
        program: impl Into<OsString>,
        args: Vec<OsString>,
        listeners: Vec<ListenSpec>,
    ) -> Self {
        MasterConfig {
            program: program.into(),
            args,
            env: Vec::new(),
            listeners,
            bind: BindPolicy::default(),
            readiness: ReadinessConfig::default(),
            private_listener: true,
            grace: Duration::from_secs(30),
            backoff: BackoffConfig::default(),
            health_interval: Duration::from_secs(10),
            liveness: None,
            pid_file: None,
            admin: None,
            admin_token: None,
            admin_group: None,
            compat_reuseport: false,
        }
    }
}
