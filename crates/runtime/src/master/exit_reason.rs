//! Classification of how a worker process ended, as counted in
//! `hotel_be_worker_exit_total{reason}`.

use std::fmt;
use std::process::ExitStatus;

/// Why a worker is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// Exit status 0.
    Graceful,
    /// A non-zero exit status.
    ExitCode(i32),
    /// Killed by a signal (number).
    Signal(i32),
    /// `waitpid` itself failed; the process state is unknown.
    WaitError(String),
}

impl ExitReason {
    /// Classifies the result of waiting on a child.
    pub fn from_wait(result: &std::io::Result<ExitStatus>) -> Self {
        match result {
            Ok(status) => Self::from_status(*status),
            Err(e) => ExitReason::WaitError(e.to_string()),
        }
    }

    /// Classifies an exit status.
    pub fn from_status(status: ExitStatus) -> Self {
        if let Some(code) = status.code() {
            return if code == 0 {
                ExitReason::Graceful
            } else {
                ExitReason::ExitCode(code)
            };
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            if let Some(sig) = status.signal() {
                return ExitReason::Signal(sig);
            }
        }
        ExitReason::WaitError(format!("unclassifiable exit status {status:?}"))
    }

    /// The metric label: `graceful`, `exit_code`, `signal` or `wait_error`.
    pub fn label(&self) -> &'static str {
        match self {
            ExitReason::Graceful => "graceful",
            ExitReason::ExitCode(_) => "exit_code",
            ExitReason::Signal(_) => "signal",
            ExitReason::WaitError(_) => "wait_error",
        }
    }

    /// All labels, in a stable order (so every series exists from the start).
    pub const LABELS: [&'static str; 4] = ["graceful", "exit_code", "signal", "wait_error"];
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Graceful => write!(f, "graceful (status 0)"),
            ExitReason::ExitCode(c) => write!(f, "exit code {c}"),
            ExitReason::Signal(s) => write!(f, "signal {s}"),
            ExitReason::WaitError(e) => write!(f, "wait error: {e}"),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn classifies_statuses() {
        assert_eq!(
            ExitReason::from_status(ExitStatus::from_raw(0)),
            ExitReason::Graceful
        );
        assert_eq!(
            ExitReason::from_status(ExitStatus::from_raw(3 << 8)),
            ExitReason::ExitCode(3)
        );
        assert_eq!(
            ExitReason::from_status(ExitStatus::from_raw(9)),
            ExitReason::Signal(9)
        );
        let err = ExitReason::from_wait(&Err(std::io::Error::other("ECHILD")));
        assert_eq!(err.label(), "wait_error");
    }
}
