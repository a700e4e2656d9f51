//! The process exit codes of `deployctl`, named once: [`Outcome::exit`](crate::outcome::Outcome)
//! maps run outcomes onto them, the commands map their reports onto them, `main` returns them.

/// A `deployctl` exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exit {
    /// 0: the command did what it was asked (run outcome SUCCESS; every host answered).
    Success,
    /// 1: any other error (internal, a host unreachable for `status`/`detect`, a lease left
    /// by `unlock`, an audit record that could not be written).
    Error,
    /// 2: usage or inventory error (nothing touched).
    Usage,
    /// 3: PARTIAL_SUCCESS.
    PartialSuccess,
    /// 4: ROLLBACK.
    Rollback,
    /// 5: ABORTED (nothing touched; also `netcheck` past the thresholds).
    Aborted,
    /// 6: ROLLBACK_FAILED.
    RollbackFailed,
    /// 7: `gray --analyze`: NEEDS_DECISION (too many INCONCLUSIVE windows, or time out).
    NeedsDecision,
    /// 8: `gray --analyze`: a window FAILed (ABORTED_BY_ANALYSIS with `--auto`, else FAILED).
    AnalysisFailed,
    /// 9: `gray --analyze --auto`: the promote or abort it started did not succeed.
    ActionFailed,
    /// 10: LEASE_LOST (a host's lease lost during a run: stopped at once, routing restored).
    LeaseLost,
    /// 130: INTERRUPTED (SIGINT, SIGTERM or SIGHUP).
    Interrupted,
}

impl Exit {
    /// The numeric code.
    pub const fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Error => 1,
            Exit::Usage => 2,
            Exit::PartialSuccess => 3,
            Exit::Rollback => 4,
            Exit::Aborted => 5,
            Exit::RollbackFailed => 6,
            Exit::NeedsDecision => 7,
            Exit::AnalysisFailed => 8,
            Exit::ActionFailed => 9,
            Exit::LeaseLost => 10,
            Exit::Interrupted => 130,
        }
    }

    /// `Success` when `ok`, else `otherwise`.
    pub fn success_or(ok: bool, otherwise: Exit) -> Exit {
        if ok {
            Exit::Success
        } else {
            otherwise
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct() {
        let all = [
            Exit::Success,
            Exit::Error,
            Exit::Usage,
            Exit::PartialSuccess,
            Exit::Rollback,
            Exit::Aborted,
            Exit::RollbackFailed,
            Exit::NeedsDecision,
            Exit::AnalysisFailed,
            Exit::ActionFailed,
            Exit::LeaseLost,
            Exit::Interrupted,
        ];
        let codes: std::collections::HashSet<u8> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), all.len());
    }
}
