use super::*;
use crate::accesslog::Pool;

/// `n` requests per pool in `group` for one window starting at `at`; gray's `i`th request
/// gets `gray(i)` = (status, ms); stable answers `ok` in 10-16 ms.
fn window(
    group: Group,
    method: &str,
    n: usize,
    at: i64,
    gray: impl Fn(usize) -> (u16, f64),
) -> Vec<Record> {
    let ok = if method == "POST" { 201 } else { 200 };
    let rec = |pool, status, ms, i: usize| Record {
        at_ms: at + i as i64,
        pool,
        upstream: "h:1".into(),
        method: method.into(),
        group,
        status,
        request_ms: ms,
        upstream_ms: Some(ms),
        by_header: false,
        client: Some(format!("c{}", i % 50)),
    };
    let mut v = vec![];
    for i in 0..n {
        v.push(rec(Pool::Stable, ok, 10.0 + (i % 7) as f64, i));
        let (s, ms) = gray(i);
        v.push(rec(Pool::Gray, s, ms, i));
    }
    v
}

fn healthy(i: usize) -> (u16, f64) {
    (200, 10.0 + ((i + 3) % 7) as f64)
}

fn settings() -> AnalysisSettings {
    AnalysisSettings {
        tolerable_increase: 0.01,
        ..Default::default()
    }
}

/// Verdicts of `windows` windows of `make(i)`.
fn run(windows: u32, make: impl Fn(u32) -> Vec<Record>) -> Vec<WindowVerdict> {
    let mut j = Judge::new(&settings()).unwrap();
    (0..windows)
        .map(|i| j.window(i, (i64::from(i) * 1000, i64::from(i + 1) * 1000), &make(i)))
        .collect()
}

fn check<'a>(w: &'a WindowVerdict, group: Group, name: &str) -> &'a Check {
    let g = w.groups.iter().find(|g| g.group == group).unwrap();
    g.checks.iter().find(|c| c.name == name).unwrap()
}

#[test]
fn a_healthy_gray_passes_only_once_every_check_has_run() {
    let v = run(4, |i| {
        window(Group::Search, "GET", 400, i64::from(i) * 1000, healthy)
    });
    assert_eq!(
        v[0].verdict,
        Verdict::Inconclusive,
        "no latency threshold learnt yet"
    );
    assert_eq!(
        check(&v[0], Group::Search, "latency_p50").state,
        CheckState::NotRun
    );
    let last = v.last().unwrap();
    assert_eq!(last.verdict, Verdict::Pass, "{:?}", last.groups[0].reasons);
    assert!(last.groups[0].checks.iter().all(|c| c.passed == Some(true)));
}

#[test]
fn fifty_ms_more_is_latency_harm_and_not_failure_harm() {
    let v = run(3, |i| {
        window(Group::Search, "GET", 200, i64::from(i) * 1000, |k| {
            (200, 60.0 + (k % 7) as f64)
        })
    });
    let last = v.last().unwrap();
    assert_eq!(last.verdict, Verdict::Fail);
    assert_eq!(
        check(last, Group::Search, "latency_p50").state,
        CheckState::Harm
    );
    assert_ne!(
        check(last, Group::Search, "failures").state,
        CheckState::Harm
    );
}

#[test]
fn a_catastrophe_at_a_small_sample_aborts_at_once() {
    // 12 of 30 gray requests fail in the first window: far below min_requests, harm anyway.
    let v = run(1, |_| {
        window(Group::Bookings, "POST", 30, 0, |k| {
            if k < 12 {
                (500, 10.0)
            } else {
                (201, 10.0)
            }
        })
    });
    assert_eq!(v[0].verdict, Verdict::Fail);
    let g = &v[0].groups[0];
    assert!(
        g.reasons.iter().any(|r| r.contains("catastrophic")),
        "{:?}",
        g.reasons
    );
}

#[test]
fn legitimate_conflicts_are_not_failures() {
    // 409 Conflict on 20% of gray's bookings: an answer, not a failure (default statuses).
    let v = run(8, |i| {
        window(Group::Bookings, "POST", 300, i64::from(i) * 1000, |k| {
            (
                if k % 5 == 0 { 409 } else { 201 },
                10.0 + ((k + 3) % 7) as f64,
            )
        })
    });
    let last = v.last().unwrap();
    assert_eq!(
        check(last, Group::Bookings, "booking_failures").gray_events,
        0
    );
    assert_eq!(last.verdict, Verdict::Pass, "{:?}", last.groups[0].reasons);
}

#[test]
fn a_quiet_group_keeps_the_run_open_until_it_is_judged() {
    let v = run(16, |i| {
        let mut r = window(Group::Search, "GET", 400, i64::from(i) * 1000, healthy);
        r.extend(window(
            Group::Other,
            "GET",
            100,
            i64::from(i) * 1000,
            healthy,
        ));
        r
    });
    assert!(v.iter().all(|w| w.groups.len() == 2));
    let search_passed = v.iter().position(|w| w.groups[0].verdict == Verdict::Pass);
    let passed = v.iter().position(|w| w.verdict == Verdict::Pass);
    assert!(
        search_passed.unwrap() < passed.unwrap(),
        "{search_passed:?} {passed:?}"
    );
    for w in &v {
        let all = w.groups.iter().all(|g| g.verdict == Verdict::Pass);
        assert_eq!(w.verdict == Verdict::Pass, all, "window {}", w.index);
    }
}

#[test]
fn the_fleet_shows_no_harm_where_one_group_alone_cannot() {
    // Failures at 2% everywhere; 60 requests per group and window: too few in one group to
    // rule out a ratio of 2.5 within 6 windows, enough in the three together.
    let each = |i: u32| -> Vec<Record> {
        let fail = |k: usize| {
            if k % 50 == 7 {
                (500, 10.0 + ((k + 3) % 7) as f64)
            } else {
                healthy(k)
            }
        };
        let mut r = vec![];
        for g in Group::ALL {
            let mut w = window(g, "GET", 60, i64::from(i) * 1000, fail);
            for (k, x) in w.iter_mut().enumerate() {
                if x.pool == Pool::Stable && k % 100 == 14 {
                    x.status = 500;
                }
            }
            r.extend(w);
        }
        r
    };
    let mut alone = Judge::new(&settings()).unwrap();
    let mut with_fleet = Judge::new(&settings()).unwrap();
    let (mut a, mut f) = (vec![], vec![]);
    for i in 0..8 {
        let span = (i64::from(i) * 1000, i64::from(i + 1) * 1000);
        let w = with_fleet.window(i, span, &each(i));
        f.push(w.fleet[0].state);
        if w.fleet[0].state == CheckState::NoHarm {
            // The group's own check leans on the fleet's.
            assert_eq!(
                check(&w, Group::Search, "failures").state,
                CheckState::NoHarm
            );
        }
        // The same search traffic judged without the other groups: no fleet to lean on.
        let search: Vec<Record> = each(i)
            .into_iter()
            .filter(|r| r.group == Group::Search)
            .collect();
        a.push(check(&alone.window(i, span, &search), Group::Search, "failures").state);
    }
    assert_eq!(f.last(), Some(&CheckState::NoHarm), "fleet: {f:?}");
    assert!(
        f.iter().position(|s| *s == CheckState::NoHarm)
            < a.iter().position(|s| *s == CheckState::NoHarm).or(Some(99)),
        "fleet {f:?} alone {a:?}"
    );
}

#[test]
fn a_regression_spread_thin_over_every_group_is_found_by_the_fleet() {
    // Gray fails 3 in 100 in every group, stable 1 in 100: each group alone is slow to say.
    let each = |i: u32| -> Vec<Record> {
        let mut r = vec![];
        for g in Group::ALL {
            let mut w = window(g, "GET", 300, i64::from(i) * 1000, |k| {
                if k % 100 < 3 {
                    (500, 12.0)
                } else {
                    healthy(k)
                }
            });
            for (k, x) in w.iter_mut().enumerate() {
                if x.pool == Pool::Stable && k % 200 == 0 {
                    x.status = 500;
                }
            }
            r.extend(w);
        }
        r
    };
    let mut j = Judge::new(&settings()).unwrap();
    let first_fail = (0..10).find(|&i| {
        let w = j.window(i, (i64::from(i) * 1000, i64::from(i + 1) * 1000), &each(i));
        w.verdict == Verdict::Fail
    });
    let first_fail = first_fail.expect("found within 10 windows");
    let mut j = Judge::new(&settings()).unwrap();
    let mut fleet_first = false;
    for i in 0..=first_fail {
        let w = j.window(i, (i64::from(i) * 1000, i64::from(i + 1) * 1000), &each(i));
        if w.verdict == Verdict::Fail {
            fleet_first = w.fleet[0].state == CheckState::Harm
                && w.groups.iter().all(|g| g.verdict != Verdict::Fail);
        }
    }
    assert!(
        fleet_first,
        "the fleet check fails before any group (window {first_fail})"
    );
}
