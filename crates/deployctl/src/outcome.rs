//! Run outcome from per-host results: SUCCESS (all verified), PARTIAL_SUCCESS (failures among
//! non-DR hosts within the tolerance), ROLLBACK (tolerance exceeded). DR hosts never count
//! toward the tolerance; ROLLBACK_FAILED (a host could not be restored: it is named and the
//! fleet may be mixed); ABORTED (stopped before touching a host, or nothing to do);
//! INTERRUPTED (SIGINT, SIGTERM or SIGHUP); LEASE_LOST (a host's lease lost during the run:
//! stopped at once). Each outcome has its own exit code.

use crate::exit::Exit;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    Success,
    PartialSuccess,
    Rollback,
    /// Stopped before touching any host (network past thresholds, lock held, connect failed).
    Aborted,
    /// A restore failed on at least one host (named in the report and the audit log).
    RollbackFailed,
    /// Stopped by SIGINT, SIGTERM or SIGHUP after the step in flight; changed hosts restored
    /// (a second signal cuts the waits: the routing is restored, the hosts left are named).
    Interrupted,
    /// A host's lease was lost during the run (taken over, removed, or not renewed): stopped
    /// at once, no further host changed, the changed hosts restored, the routing snapshot
    /// applied.
    LeaseLost,
}

impl Outcome {
    /// Process exit code of the outcome (each has its own; see [`Exit`]).
    pub fn exit_code(self) -> Exit {
        match self {
            Outcome::Success => Exit::Success,
            Outcome::PartialSuccess => Exit::PartialSuccess,
            Outcome::Rollback => Exit::Rollback,
            Outcome::Aborted => Exit::Aborted,
            Outcome::RollbackFailed => Exit::RollbackFailed,
            Outcome::Interrupted => Exit::Interrupted,
            Outcome::LeaseLost => Exit::LeaseLost,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "SUCCESS",
            Outcome::PartialSuccess => "PARTIAL_SUCCESS",
            Outcome::Rollback => "ROLLBACK",
            Outcome::Aborted => "ABORTED",
            Outcome::RollbackFailed => "ROLLBACK_FAILED",
            Outcome::Interrupted => "INTERRUPTED",
            Outcome::LeaseLost => "LEASE_LOST",
        }
    }
}

/// Failures that count toward the tolerance: failed hosts that are not DR.
pub fn counted_failures<'a>(failed: impl IntoIterator<Item = (&'a str, bool)>) -> usize {
    failed.into_iter().filter(|(_, dr)| !dr).count()
}

/// True once counted failures exceed the tolerance (stop starting new batches).
pub fn exceeded(counted: usize, tolerance: usize) -> bool {
    counted > tolerance
}

/// Outcome of a completed rollout.
pub fn classify(counted: usize, any_failed: bool, tolerance: usize) -> Outcome {
    if exceeded(counted, tolerance) {
        Outcome::Rollback
    } else if any_failed {
        Outcome::PartialSuccess
    } else {
        Outcome::Success
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_and_exit_codes() {
        assert_eq!(classify(0, false, 0), Outcome::Success);
        assert_eq!(classify(1, true, 1), Outcome::PartialSuccess);
        assert_eq!(classify(2, true, 1), Outcome::Rollback);
        // Only a DR host failed: does not count, but the run is not a full success.
        assert_eq!(
            classify(counted_failures([("dr", true)]), true, 0),
            Outcome::PartialSuccess
        );
        let codes: std::collections::HashSet<Exit> = [
            Outcome::Success,
            Outcome::PartialSuccess,
            Outcome::Rollback,
            Outcome::Aborted,
            Outcome::RollbackFailed,
            Outcome::Interrupted,
            Outcome::LeaseLost,
        ]
        .iter()
        .map(|o| o.exit_code())
        .collect();
        assert_eq!(codes.len(), 7);
    }
}
