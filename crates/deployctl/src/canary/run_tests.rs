use super::*;

fn ended(decision: Decision) -> Result<Analysis, super::super::CanaryError> {
    Ok(Analysis {
        windows: vec![],
        decision,
        stopped: None,
        lbs: vec![],
        resets: vec![],
        read_errors: vec![],
        skipped_lines: 0,
    })
}

fn aborts(n: &Next, outcome: CanaryOutcome) -> bool {
    matches!(n, Next::Abort(o, _) if *o == outcome)
}

#[test]
fn stops_abort_with_or_without_auto_and_verdicts_act_only_with_auto() {
    let sig = || Some(Stop::Signal("SIGTERM"));
    let lost = || Some(Stop::LeaseLost(vec!["h1".into()]));
    for auto in [true, false] {
        let n = next(&ended(Decision::Promote), sig(), auto);
        assert!(aborts(&n, CanaryOutcome::Interrupted));
        let n = next(&ended(Decision::Continue), lost(), auto);
        assert!(aborts(&n, CanaryOutcome::Stopped));
        let n = next(&Err(super::super::CanaryError::NoLb), None, auto);
        assert!(aborts(&n, CanaryOutcome::Stopped));
        // An LB's log unreadable for windows in a row: routed out, with or without --auto.
        let mut unreadable = ended(Decision::Abort);
        if let Ok(a) = &mut unreadable {
            a.stopped = Some("the access log of LB lb1 could not be read".into());
        }
        let n = next(&unreadable, None, auto);
        assert!(aborts(&n, CanaryOutcome::Stopped), "auto {auto}");
    }
    assert!(matches!(
        next(&ended(Decision::Promote), None, true),
        Next::Promote
    ));
    let n = next(&ended(Decision::Abort), None, true);
    assert!(aborts(&n, CanaryOutcome::AbortedByAnalysis));
    assert!(matches!(
        next(&ended(Decision::Abort), None, false),
        Next::Leave(CanaryOutcome::Failed)
    ));
    assert!(matches!(
        next(&ended(Decision::Undecided), None, true),
        Next::Leave(CanaryOutcome::NeedsDecision)
    ));
}

#[test]
fn refused_and_stopped_outcomes_have_their_exit_codes() {
    assert_eq!(
        CanaryOutcome::PromoteRefused.exit_code(),
        Exit::ActionFailed
    );
    assert_eq!(CanaryOutcome::Interrupted.exit_code(), Exit::Interrupted);
    assert_eq!(CanaryOutcome::Stopped.exit_code(), Exit::AnalysisFailed);
    assert_eq!(CanaryOutcome::PromoteRefused.as_str(), "PROMOTE_REFUSED");
}
