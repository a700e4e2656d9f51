//! The master's published state. The wire documents (`GET /status`, the `POST /restart`
//! answer) are defined in the `protocol` crate; this module names the master's instances of
//! them and what the supervisor publishes besides.

use std::time::Instant;

pub use protocol::{RestartAnswer, RestartOutcome, RestartReason};

/// The `/status` document as this master writes it: the serving worker's own `/version` is
/// relayed as whatever JSON the worker answered (any program can be a worker).
pub type Status = protocol::Status<serde_json::Value>;

/// One worker in [`Status`].
pub type WorkerStatus = protocol::WorkerStatus<serde_json::Value>;

/// What the supervisor publishes after every change: the status document, and when the
/// current worker started (the uptime gauge is derived from it at scrape time).
#[derive(Clone, Debug)]
pub struct Published {
    /// The status document (without the fields the admin endpoint adds when serving it:
    /// `current.sha256` and `current.version`).
    pub status: Status,
    /// Start of the current worker, if one serves.
    pub current_started: Option<Instant>,
}

impl Published {
    /// Before the first worker: this master, no listener yet, nothing serving.
    pub fn initial() -> Self {
        Published {
            status: Status {
                master_pid: std::process::id(),
                listeners: Vec::new(),
                current: None,
                previous: None,
                restart_in_progress: false,
                last_restart: None,
                stopping: false,
            },
            current_started: None,
        }
    }
}
