//! The body of the master's admin `GET /status`.

use serde::{Deserialize, Serialize};

use crate::{RestartAnswer, Version};

/// Snapshot of a master. `V` is the type of the serving worker's own `/version` document:
/// [`Version`] for hotel-api; the master itself relays whatever JSON its worker answers (any
/// program can be a worker), and a reader that does not need it can use
/// `serde::de::IgnoredAny`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "V: Deserialize<'de>"))]
pub struct Status<V = Version> {
    /// Pid of the master.
    pub master_pid: u32,
    /// Public listeners (`name=addr`).
    pub listeners: Vec<String>,
    /// The worker that serves, if any.
    pub current: Option<WorkerStatus<V>>,
    /// The worker it replaced, if any.
    pub previous: Option<WorkerStatus<V>>,
    /// A graceful restart is under way.
    pub restart_in_progress: bool,
    /// The last graceful restart, if there was one.
    pub last_restart: Option<RestartAnswer>,
    /// The master is shutting down.
    pub stopping: bool,
}

/// One worker as seen by its master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "V: Deserialize<'de>"))]
pub struct WorkerStatus<V = Version> {
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
    /// Private loopback address of this worker (readiness, `/version`), if it has one.
    pub private_addr: Option<String>,
    /// sha256 of the running image (from `/proc/PID/exe`, so a binary replaced on disk since
    /// does not matter). Only on `current`; absent when it could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The worker's own `GET /version` answer. Only on `current`; absent when the worker has
    /// no private listener or did not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<V>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = r#"{"master_pid":40,"listeners":["http=127.0.0.1:8080"],"current":{"pid":41,"generation":2,"program":"/srv/hotel-api","started_at":"t","ready":true,"private_addr":"127.0.0.1:9","sha256":"ab","version":{"anything":1}},"previous":{"pid":39,"generation":1,"program":"/srv/hotel-api","started_at":"t","ready":true,"private_addr":null},"restart_in_progress":false,"last_restart":{"outcome":"ok","reason":null,"generation":2,"duration_ms":5},"stopping":false}"#;

    #[test]
    fn a_reader_that_ignores_the_worker_version_reads_any_worker() {
        let s: Status<serde::de::IgnoredAny> = serde_json::from_str(STATUS).unwrap();
        let cur = s.current.unwrap();
        assert_eq!((s.master_pid, cur.generation), (40, 2));
        assert_eq!(cur.sha256.as_deref(), Some("ab"));
        assert!(s.previous.unwrap().sha256.is_none());
    }

    #[test]
    fn the_master_writes_the_document_it_always_wrote() {
        let s: Status<serde_json::Value> = serde_json::from_str(STATUS).unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), STATUS);
        let typed = serde_json::from_str::<Status>(STATUS);
        assert!(
            typed.is_err(),
            "a hotel-api reader refuses a foreign /version"
        );
    }
}
