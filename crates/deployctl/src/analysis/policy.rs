//! What `gray --analyze --auto` does after each window (pure). The verdict is on everything
//! seen so far and valid at every look, so one PASS (after `min_windows`) promotes and one
//! FAIL aborts; when the analysis time is over undecided, a person decides.

use super::settings::AnalysisSettings;
use super::Verdict;
use serde::Serialize;

/// The decision after a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Run another window.
    Continue,
    /// No harm shown on every check of every group with traffic.
    Promote,
    /// Harm shown (or the catastrophic guardrail).
    Abort,
    /// The time is over undecided: a person decides.
    Undecided,
}

/// The decision given every verdict so far and whether another window fits in the time.
pub fn decide(verdicts: &[Verdict], t: &AnalysisSettings, more_time: bool) -> Decision {
    match verdicts.last() {
        Some(Verdict::Fail) => Decision::Abort,
        Some(Verdict::Pass) if verdicts.len() >= t.min_windows as usize => Decision::Promote,
        _ if !more_time => Decision::Undecided,
        _ => Decision::Continue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verdict::*;

    fn t(min_windows: u32) -> AnalysisSettings {
        AnalysisSettings {
            min_windows,
            ..Default::default()
        }
    }

    #[test]
    fn promotes_on_a_pass_once_enough_windows_ran() {
        assert_eq!(decide(&[Pass], &t(2), true), Decision::Continue);
        assert_eq!(decide(&[Pass, Pass], &t(2), true), Decision::Promote);
        assert_eq!(
            decide(&[Inconclusive, Pass], &t(2), true),
            Decision::Promote
        );
        assert_eq!(decide(&[Pass], &t(1), true), Decision::Promote);
    }

    #[test]
    fn a_fail_aborts_at_once() {
        assert_eq!(decide(&[Pass, Fail], &t(3), true), Decision::Abort);
        assert_eq!(decide(&[Fail], &t(1), false), Decision::Abort);
    }

    #[test]
    fn no_time_left_undecided_leaves_it_to_a_person() {
        assert_eq!(decide(&[Inconclusive], &t(2), true), Decision::Continue);
        assert_eq!(decide(&[Inconclusive], &t(2), false), Decision::Undecided);
        assert_eq!(decide(&[Pass], &t(2), false), Decision::Undecided);
        assert_eq!(decide(&[], &t(2), false), Decision::Undecided);
        assert_eq!(decide(&[], &t(2), true), Decision::Continue);
    }
}
