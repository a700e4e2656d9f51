//! The master's published state (served as JSON by the admin endpoint) and the outcome of a
//! restart (answered to the synchronous control verb).

use serde::Serialize;

/// One worker as seen by the master.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct WorkerStatus {
    /// Process id.
    pub pid: u32,
    /// Generation (1 for the first worker).
    pub generation: u64,
    /// Binary that was executed.
    pub program: String,
    /// Start time (RFC 3339).
    pub started_at: String,
    /// Whether readiness was confirmed.
    pub ready: bool,
    /// Private loopback address of this worker (readiness, `/version`).
    pub private_addr: Option<String>,
}

/// Result of one graceful restart.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RestartOutcome {
    /// `ok` or `aborted`.
    pub outcome: &'static str,
    /// Why it was aborted.
    pub reason: Option<String>,
    /// Generation serving after the restart.
    pub generation: u64,
    /// Time from the start of the restart to its end.
    pub duration_ms: u64,
}

impl RestartOutcome {
    /// Whether the new worker took over.
    pub fn is_ok(&self) -> bool {
        self.outcome == "ok"
    }
}

/// Snapshot of the master.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Status {
    /// Pid of the master.
    pub master_pid: u32,
    /// Public listeners (`name=addr`).
    pub listeners: Vec<String>,
    /// The worker that serves.
    pub current: Option<WorkerStatus>,
    /// The worker it replaced.
    pub previous: Option<WorkerStatus>,
    /// A graceful restart is under way.
    pub restart_in_progress: bool,
    /// The last graceful restart.
    pub last_restart: Option<RestartOutcome>,
    /// The master is shutting down.
    pub stopping: bool,
    /// When the current worker started (for the uptime gauge at scrape time).
    #[serde(skip)]
    pub current_started: Option<std::time::Instant>,
}
