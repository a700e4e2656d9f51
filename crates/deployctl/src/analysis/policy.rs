//! What `gray --analyze --auto` does after each window (pure): promote after
//! `consecutive_pass` PASS windows in a row, abort on a FAIL, stop for a person after
//! `max_inconclusive` INCONCLUSIVE windows or when the analysis time is over undecided.

use super::judge::Verdict;
use super::settings::AnalysisSettings;
use serde::Serialize;

/// The decision after a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Run another window.
    Continue,
    /// Enough consecutive PASS windows.
    Promote,
    /// A window failed.
    Abort,
    /// Too many INCONCLUSIVE windows, or the time is over: a person decides.
    Undecided,
}

/// The decision given every verdict so far and whether another window fits in the time.
pub fn decide(verdicts: &[Verdict], t: &AnalysisSettings, more_time: bool) -> Decision {
    if verdicts.last() == Some(&Verdict::Fail) {
        return Decision::Abort;
    }
    let passes = verdicts
        .iter()
        .rev()
        .take_while(|v| **v == Verdict::Pass)
        .count();
    if passes >= t.consecutive_pass as usize {
        return Decision::Promote;
    }
    let inconclusive = verdicts
        .iter()
        .filter(|v| **v == Verdict::Inconclusive)
        .count();
    if inconclusive >= t.max_inconclusive as usize || !more_time {
        return Decision::Undecided;
    }
    Decision::Continue
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verdict::*;

    fn t(k: u32, inc: u32) -> AnalysisSettings {
        AnalysisSettings {
            consecutive_pass: k,
            max_inconclusive: inc,
            ..Default::default()
        }
    }

    #[test]
    fn promotes_only_after_k_passes_in_a_row() {
        let s = t(3, 3);
        assert_eq!(decide(&[Pass, Pass], &s, true), Decision::Continue);
        assert_eq!(decide(&[Pass, Pass, Pass], &s, true), Decision::Promote);
        assert_eq!(
            decide(&[Pass, Inconclusive, Pass, Pass], &s, true),
            Decision::Continue
        );
        assert_eq!(
            decide(&[Pass, Inconclusive, Pass, Pass, Pass], &s, true),
            Decision::Promote
        );
    }

    #[test]
    fn a_fail_aborts_at_once() {
        assert_eq!(decide(&[Pass, Pass, Fail], &t(3, 3), true), Decision::Abort);
        assert_eq!(decide(&[Fail], &t(1, 1), false), Decision::Abort);
    }

    #[test]
    fn inconclusive_or_no_time_leaves_it_to_a_person() {
        let s = t(2, 2);
        assert_eq!(decide(&[Inconclusive], &s, true), Decision::Continue);
        assert_eq!(
            decide(&[Inconclusive, Pass, Inconclusive], &s, true),
            Decision::Undecided
        );
        assert_eq!(decide(&[Pass], &s, false), Decision::Undecided);
        assert_eq!(decide(&[], &s, false), Decision::Undecided);
        assert_eq!(decide(&[], &s, true), Decision::Continue);
    }
}
