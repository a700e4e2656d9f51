//! The master's answer to admin `POST /restart` (also its `last_restart` in `/status`).
//!
//! On the wire `outcome` is `ok`, `aborted` or `refused` and `reason` is a sentence; both are
//! typed here. HTTP status: 200 for `ok`, 409 for a restart that ran and was aborted, 503 when
//! the master is stopping, 401 for `refused`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What became of a requested restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartOutcome {
    /// The new worker took over.
    Ok,
    /// The old worker keeps serving (see the reason).
    Aborted,
    /// Not attempted: the request was not authorised.
    Refused,
}

/// Why a restart was aborted or refused. Serialised as the sentence [`fmt::Display`] writes
/// (the wire format since the first release); a sentence this version does not know is kept
/// as [`RestartReason::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartReason {
    /// The new worker did not become ready in time (detail: what the check saw).
    NotReady(String),
    /// The new worker exited before it was ready (detail: its exit).
    ExitedDuringStartUp(String),
    /// The new worker could not be started (detail: the spawn error).
    CannotStart(String),
    /// A stop signal arrived before or during the restart.
    ShuttingDown,
    /// The admin endpoint could no longer reach the supervisor (it is stopping).
    Stopping,
    /// `POST /restart` without the right bearer token.
    TokenRequired,
    /// `POST /restart` over TCP to a master that has no token file.
    TcpNeedsTokenFile,
    /// Any other sentence (from a newer master).
    Other(String),
}

const NOT_READY: &str = "new worker not ready: ";
const EXITED: &str = "new worker exited during start-up: ";
const CANNOT_START: &str = "cannot start new worker: ";
const SHUTTING_DOWN: &str = "master is shutting down";
const STOPPING: &str = "master is stopping";
const TOKEN_REQUIRED: &str =
    "POST /restart needs Authorization: Bearer <token> (the master's --admin-token-file)";
const TCP_NEEDS_TOKEN_FILE: &str = "POST /restart over TCP needs the master's --admin-token-file (any local user can reach a loopback port); or use SIGUSR1/SIGHUP, or an admin Unix socket";

impl fmt::Display for RestartReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartReason::NotReady(d) => write!(f, "{NOT_READY}{d}"),
            RestartReason::ExitedDuringStartUp(d) => write!(f, "{EXITED}{d}"),
            RestartReason::CannotStart(d) => write!(f, "{CANNOT_START}{d}"),
            RestartReason::ShuttingDown => f.write_str(SHUTTING_DOWN),
            RestartReason::Stopping => f.write_str(STOPPING),
            RestartReason::TokenRequired => f.write_str(TOKEN_REQUIRED),
            RestartReason::TcpNeedsTokenFile => f.write_str(TCP_NEEDS_TOKEN_FILE),
            RestartReason::Other(s) => f.write_str(s),
        }
    }
}

impl From<&str> for RestartReason {
    fn from(s: &str) -> Self {
        let detail = |prefix: &str| s.strip_prefix(prefix).map(str::to_string);
        if let Some(d) = detail(NOT_READY) {
            return RestartReason::NotReady(d);
        }
        if let Some(d) = detail(EXITED) {
            return RestartReason::ExitedDuringStartUp(d);
        }
        if let Some(d) = detail(CANNOT_START) {
            return RestartReason::CannotStart(d);
        }
        match s {
            SHUTTING_DOWN => RestartReason::ShuttingDown,
            STOPPING => RestartReason::Stopping,
            TOKEN_REQUIRED => RestartReason::TokenRequired,
            TCP_NEEDS_TOKEN_FILE => RestartReason::TcpNeedsTokenFile,
            other => RestartReason::Other(other.to_string()),
        }
    }
}

impl Serialize for RestartReason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RestartReason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(RestartReason::from(s.as_str()))
    }
}

/// The answer to `POST /restart`, and the master's record of its last restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartAnswer {
    /// What became of it.
    pub outcome: RestartOutcome,
    /// Why it was aborted or refused (`null` when `ok`).
    pub reason: Option<RestartReason>,
    /// Generation serving after the restart; only for a restart that ran (absent on a
    /// refusal, or when no worker serves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// Time from the start of the restart to its end; only for a restart that ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

impl RestartAnswer {
    /// A request that was turned away without running a restart.
    pub fn not_run(outcome: RestartOutcome, reason: RestartReason) -> Self {
        RestartAnswer {
            outcome,
            reason: Some(reason),
            generation: None,
            duration_ms: None,
        }
    }

    /// Whether the new worker took over.
    pub fn is_ok(&self) -> bool {
        self.outcome == RestartOutcome::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_reads_back_as_itself() {
        for r in [
            RestartReason::NotReady("timed out after 2s".into()),
            RestartReason::ExitedDuringStartUp("exit code 3".into()),
            RestartReason::CannotStart("no such file".into()),
            RestartReason::ShuttingDown,
            RestartReason::Stopping,
            RestartReason::TokenRequired,
            RestartReason::TcpNeedsTokenFile,
            RestartReason::Other("a newer master's reason".into()),
        ] {
            let wire = serde_json::to_string(&r).unwrap();
            assert_eq!(
                serde_json::from_str::<RestartReason>(&wire).unwrap(),
                r,
                "{wire}"
            );
        }
    }

    #[test]
    fn answers_keep_their_wire_form() {
        let ok = r#"{"outcome":"ok","reason":null,"generation":2,"duration_ms":812}"#;
        let a: RestartAnswer = serde_json::from_str(ok).unwrap();
        assert!(a.is_ok() && a.generation == Some(2));
        assert_eq!(serde_json::to_string(&a).unwrap(), ok);
        let refused = RestartAnswer::not_run(RestartOutcome::Refused, RestartReason::TokenRequired);
        let wire = serde_json::to_string(&refused).unwrap();
        assert_eq!(
            wire,
            format!(r#"{{"outcome":"refused","reason":"{TOKEN_REQUIRED}"}}"#)
        );
        let aborted = r#"{"outcome":"aborted","reason":"new worker not ready: timed out"}"#;
        let a: RestartAnswer = serde_json::from_str(aborted).unwrap();
        assert_eq!(a.reason, Some(RestartReason::NotReady("timed out".into())));
        assert!(
            serde_json::from_str::<RestartAnswer>(r#"{"outcome":"maybe","reason":null}"#).is_err()
        );
    }
}
