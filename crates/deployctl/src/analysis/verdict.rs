//! From a group's accumulated evidence to its checks and verdict, and from the groups to the
//! window's verdict (the rules are in [`super::judge`]'s documentation).

use super::counts::GroupCounts;
use super::evidence::{RateEvidence, SplitEvidence};
use super::judge::{
    Check, CheckState, Count, Fleet, GroupState, GroupVerdict, PoolStats, FLEET_SHARE, GROUP_SHARE,
};
use super::settings::AnalysisSettings;
use super::Verdict;
use crate::accesslog::Group;

/// A value for a reason line: small and large numbers in scientific notation.
pub fn figure(v: f64) -> String {
    if v != 0.0 && !(1e-3..1e4).contains(&v.abs()) {
        format!("{v:.2e}")
    } else {
        format!("{v:.4}")
    }
}

/// The catastrophic guardrail on one set of counts: gray failures at or above the minimum,
/// gray's share at or above `catastrophic_share` and at least twice stable's.
fn catastrophic(t: &AnalysisSettings, g: (u64, u64), s: (u64, u64)) -> Option<String> {
    let share = |x: u64, n: u64| if n == 0 { 0.0 } else { x as f64 / n as f64 };
    let (gs, ss) = (share(g.0, g.1), share(s.0, s.1));
    (g.0 >= t.catastrophic_min_failures && gs >= t.catastrophic_share && gs >= 2.0 * ss).then(
        || {
            format!(
                "catastrophic: gray {} of {} failed ({:.1}%; stable {:.2}%)",
                g.0,
                g.1,
                gs * 100.0,
                ss * 100.0
            )
        },
    )
}

/// gray's upper and stable's lower bound on the rate, each at `promote_alpha / 2`.
fn rate_bounds(
    t: &AnalysisSettings,
    r: Option<&(RateEvidence, RateEvidence)>,
) -> Option<(f64, f64)> {
    let a = t.promote_alpha / 2.0;
    r.map(|(g, s)| (g.upper(a), s.lower(a)))
}

/// The e-value that shows harm for a check with `share` of the abort level.
fn harm_needed(t: &AnalysisSettings, share: f64) -> f64 {
    1.0 / (t.alpha * share)
}

fn state_of(
    t: &AnalysisSettings,
    e: &SplitEvidence,
    bounds: Option<(f64, f64)>,
    share: f64,
) -> CheckState {
    if e.gray_requests == 0 || e.stable_requests == 0 {
        return CheckState::NotRun;
    }
    if e.harm() >= harm_needed(t, share) {
        return CheckState::Harm;
    }
    let small_increase = bounds.is_some_and(|(ug, ls)| ug - ls <= t.tolerable_increase);
    if e.no_harm() >= 1.0 / t.promote_alpha || small_increase {
        return CheckState::NoHarm;
    }
    CheckState::Undecided
}

/// A check of `c`; `fleet_ok`: the fleet's check of the same count shows no harm (an
/// undecided check is then no harm too); `share`: its share of the abort level.
fn check(
    t: &AnalysisSettings,
    name: &'static str,
    c: &Count,
    trip: Option<&String>,
    (fleet_ok, share): (bool, f64),
) -> Check {
    let e = &c.split;
    let bounds = rate_bounds(t, c.rates.as_ref());
    let state = match (trip, state_of(t, e, bounds, share)) {
        (Some(_), _) => CheckState::Harm,
        (None, CheckState::Undecided) if fleet_ok => CheckState::NoHarm,
        (None, s) => s,
    };
    Check {
        name,
        state,
        passed: match state {
            CheckState::Harm => Some(false),
            CheckState::NoHarm => Some(true),
            _ => None,
        },
        gray_events: e.gray_events,
        gray_requests: e.gray_requests,
        stable_events: e.stable_events,
        stable_requests: e.stable_requests,
        harm_e: e.harm().min(f64::MAX),
        harm_needed: harm_needed(t, share),
        no_harm_e: e.no_harm().min(f64::MAX),
        no_harm_needed: 1.0 / t.promote_alpha,
        rate_bounds: bounds,
        max_dispersion: e.max_dispersion,
    }
}

/// The guardrail over this window's counts, else over the whole analysis.
fn trip(
    t: &AnalysisSettings,
    window: ((u64, u64), (u64, u64)),
    total: &SplitEvidence,
) -> Option<String> {
    catastrophic(t, window.0, window.1).or_else(|| {
        catastrophic(
            t,
            (total.gray_events, total.gray_requests),
            (total.stable_events, total.stable_requests),
        )
    })
}

impl Check {
    /// Why the check is not "no harm" (none when it is).
    pub fn reason(&self) -> Option<String> {
        reason(self)
    }
}

fn reason(c: &Check) -> Option<String> {
    let counts = format!(
        "gray {}/{}, stable {}/{}",
        c.gray_events, c.gray_requests, c.stable_events, c.stable_requests
    );
    match c.state {
        CheckState::Harm => Some(format!(
            "{}: harm (e {} >= {}; {counts})",
            c.name,
            figure(c.harm_e),
            figure(c.harm_needed)
        )),
        CheckState::Undecided => Some(format!(
            "{}: undecided (no-harm e {} < {}; {counts})",
            c.name,
            figure(c.no_harm_e),
            figure(c.no_harm_needed)
        )),
        CheckState::NotRun => Some(format!("{}: not run yet ({counts})", c.name)),
        CheckState::NoHarm => None,
    }
}

/// The fleet's checks (every group together): `failures`, `latency_p50`, `latency_p99`.
pub(super) fn fleet(t: &AnalysisSettings, f: &Fleet) -> Vec<Check> {
    vec![
        check(t, "failures", &f.failures, None, (false, FLEET_SHARE)),
        check(t, "latency_p50", &f.p50, None, (false, FLEET_SHARE)),
        check(t, "latency_p99", &f.p99, None, (false, FLEET_SHARE)),
    ]
}

/// The fleet check `name` shows no harm.
fn fleet_ok(fleet: &[Check], name: &str) -> bool {
    fleet
        .iter()
        .any(|c| c.name == name && c.state == CheckState::NoHarm)
}

/// The checks and verdict of one group, after its counts `c` of this window were added.
pub(super) fn group(
    t: &AnalysisSettings,
    s: &GroupState,
    c: &GroupCounts,
    fleet: &[Check],
) -> GroupVerdict {
    let fails_ok = fleet_ok(fleet, "failures");
    let (g, st) = (&c.gray, &c.stable);
    let mut reasons = vec![];
    let fail_trip = trip(
        t,
        ((g.failures, g.requests), (st.failures, st.requests)),
        &s.failures.split,
    );
    let mut checks = vec![check(
        t,
        "failures",
        &s.failures,
        fail_trip.as_ref(),
        (fails_ok, GROUP_SHARE),
    )];
    reasons.extend(fail_trip);
    if s.gray_posts + s.stable_posts > 0 {
        let post_trip = trip(
            t,
            ((g.post_failures, g.posts), (st.post_failures, st.posts)),
            &s.bookings.split,
        );
        checks.push(check(
            t,
            "booking_failures",
            &s.bookings,
            post_trip.as_ref(),
            (fails_ok, GROUP_SHARE),
        ));
        reasons.extend(post_trip);
    }
    let (p50_ok, p99_ok) = (
        fleet_ok(fleet, "latency_p50"),
        fleet_ok(fleet, "latency_p99"),
    );
    checks.push(check(t, "latency_p50", &s.p50, None, (p50_ok, GROUP_SHARE)));
    checks.push(check(t, "latency_p99", &s.p99, None, (p99_ok, GROUP_SHARE)));
    reasons.extend(checks.iter().filter_map(reason));
    let enough = s.gray_total >= t.min_requests && s.stable_total >= t.min_requests;
    let verdict = if checks.iter().any(|c| c.state == CheckState::Harm) {
        Verdict::Fail
    } else if enough && checks.iter().all(|c| c.state == CheckState::NoHarm) {
        Verdict::Pass
    } else {
        if !enough {
            reasons.push(format!(
                "sample too small: gray {} and stable {} requests so far, {} needed in each",
                s.gray_total, s.stable_total, t.min_requests
            ));
        }
        Verdict::Inconclusive
    };
    GroupVerdict {
        group: c.group,
        verdict,
        gray: PoolStats::of(g),
        stable: PoolStats::of(st),
        gray_total: s.gray_total,
        stable_total: s.stable_total,
        thresholds: c.thresholds,
        checks,
        reasons,
    }
}

/// The window's verdict: FAIL on any group FAIL or fleet harm; PASS when a group passes and
/// every other group with traffic is below `min_requests` in both pools; else INCONCLUSIVE.
pub(super) fn window(
    t: &AnalysisSettings,
    groups: &[GroupVerdict],
    fleet: &[Check],
    totals: impl Fn(Group) -> (u64, u64),
) -> Verdict {
    let fleet_harm = fleet.iter().any(|c| c.state == CheckState::Harm);
    if fleet_harm || groups.iter().any(|g| g.verdict == Verdict::Fail) {
        return Verdict::Fail;
    }
    let negligible = |g: &GroupVerdict| {
        let (gt, st) = totals(g.group);
        gt < t.min_requests && st < t.min_requests
    };
    let passed = groups.iter().any(|g| g.verdict == Verdict::Pass);
    if passed
        && groups
            .iter()
            .all(|g| g.verdict == Verdict::Pass || negligible(g))
    {
        Verdict::Pass
    } else {
        Verdict::Inconclusive
    }
}

#[cfg(test)]
mod figure_tests {
    #[test]
    fn small_and_large_values_keep_their_magnitude() {
        assert_eq!(super::figure(3.9e-11), "3.90e-11");
        assert_eq!(super::figure(0.0546448), "0.0546");
        assert_eq!(super::figure(0.0), "0.0000");
        assert_eq!(super::figure(123_456.0), "1.23e5");
    }
}
