use super::*;

fn rec(pool: Pool, group: Group, method: &str, status: u16, ms: f64, at: i64) -> Record {
    Record {
        at_ms: at,
        pool,
        upstream: "h:1".into(),
        method: method.into(),
        group,
        status,
        request_ms: ms,
        upstream_ms: Some(ms),
        by_header: false,
        client: None,
    }
}

/// `n` requests per pool in `group`; gray's `i`th request gets `gray(i)` = (status, ms).
fn traffic(
    group: Group,
    method: &str,
    n: usize,
    gray: impl Fn(usize) -> (u16, f64),
) -> Vec<Record> {
    let ok = if method == "POST" { 201 } else { 200 };
    let mut v = vec![];
    for i in 0..n {
        let base = 10.0 + (i % 7) as f64;
        v.push(rec(Pool::Stable, group, method, ok, base, 1000 + i as i64));
        let (s, ms) = gray(i);
        v.push(rec(Pool::Gray, group, method, s, ms, 1000 + i as i64));
    }
    v
}

fn t() -> FixedSettings {
    FixedSettings {
        min_requests: 50,
        ..Default::default()
    }
}

fn healthy(i: usize) -> (u16, f64) {
    (200, 10.0 + ((i + 3) % 7) as f64)
}

#[test]
fn a_healthy_gray_passes_with_its_figures() {
    let w = judge(
        0,
        0,
        10_000,
        &traffic(Group::Search, "GET", 200, healthy),
        &t(),
    );
    assert_eq!(w.verdict, Verdict::Pass, "{w:#?}");
    let g = &w.groups[0];
    assert_eq!((g.group, g.gray.n, g.stable.n), (Group::Search, 200, 200));
    assert_eq!(g.gray.error_rate, Some(0.0));
    assert_eq!(g.stable.p50_ms, Some(13.0));
    assert!(
        g.checks.iter().all(|c| c.passed == Some(true)),
        "{:?}",
        g.checks
    );
}

#[test]
fn no_data_or_too_little_is_never_a_pass() {
    let w = judge(0, 0, 10_000, &[], &t());
    assert_eq!(w.verdict, Verdict::Inconclusive);
    assert!(w.groups.is_empty());
    let w = judge(
        0,
        0,
        10_000,
        &traffic(Group::Search, "GET", 49, healthy),
        &t(),
    );
    assert_eq!(w.verdict, Verdict::Inconclusive);
    assert!(w.groups[0].reasons[0].contains("sample too small"), "{w:?}");
    // Enough stable traffic, none on gray: still not a pass.
    let only_stable: Vec<Record> = traffic(Group::Search, "GET", 100, healthy)
        .into_iter()
        .filter(|r| r.pool == Pool::Stable)
        .collect();
    assert_eq!(
        judge(0, 0, 10_000, &only_stable, &t()).verdict,
        Verdict::Inconclusive
    );
}

#[test]
fn five_percent_failed_bookings_fail_the_guardrails_and_the_tests() {
    let bad = |i: usize| (if i.is_multiple_of(20) { 500 } else { 201 }, 12.0);
    let w = judge(
        0,
        0,
        10_000,
        &traffic(Group::Bookings, "POST", 200, bad),
        &t(),
    );
    assert_eq!(w.verdict, Verdict::Fail);
    let g = &w.groups[0];
    assert_eq!(
        (g.gray.errors_5xx, g.gray.posts, g.gray.posts_201),
        (10, 200, 190)
    );
    assert_eq!(g.gray.post_201_share, Some(0.95));
    let failed: Vec<&str> = g
        .checks
        .iter()
        .filter(|c| c.passed == Some(false))
        .map(|c| c.name)
        .collect();
    assert_eq!(
        failed,
        [
            "error_rate",
            "error_rate_vs_stable",
            "booking_201_share",
            "booking_201_vs_stable"
        ]
    );
}

#[test]
fn fifty_ms_more_latency_fails_only_the_latency_test() {
    let slow = |i: usize| (200, 60.0 + (i % 7) as f64);
    let w = judge(
        0,
        0,
        10_000,
        &traffic(Group::Search, "GET", 100, slow),
        &t(),
    );
    assert_eq!(w.verdict, Verdict::Fail);
    let failed: Vec<&str> = w.groups[0]
        .checks
        .iter()
        .filter(|c| c.passed == Some(false))
        .map(|c| c.name)
        .collect();
    assert_eq!(failed, ["latency_vs_stable"]);
    // Within the tolerance (10 ms more): passes.
    let bit = |i: usize| (200, 20.0 + (i % 7) as f64);
    let w = judge(0, 0, 10_000, &traffic(Group::Search, "GET", 100, bit), &t());
    assert_eq!(w.verdict, Verdict::Pass, "{:?}", w.groups[0].checks);
}

#[test]
fn p99_guardrail_is_absolute() {
    let mut tt = t();
    tt.max_p99_ms = 15.0;
    let w = judge(
        0,
        0,
        10_000,
        &traffic(Group::Search, "GET", 100, healthy),
        &tt,
    );
    assert_eq!(w.verdict, Verdict::Fail);
    assert!(
        w.groups[0].reasons[0].starts_with("p99_ms failed"),
        "{:?}",
        w.groups[0].reasons
    );
}

#[test]
fn header_routed_and_out_of_window_requests_are_not_compared() {
    let mut v = traffic(Group::Search, "GET", 100, healthy);
    // 100 failing header-routed gray requests and 100 failing ones after the window.
    for i in 0..100 {
        let mut r = rec(Pool::Gray, Group::Search, "GET", 500, 900.0, 1000 + i);
        r.by_header = true;
        v.push(r);
        v.push(rec(
            Pool::Gray,
            Group::Search,
            "GET",
            500,
            900.0,
            20_000 + i,
        ));
    }
    let w = judge(3, 0, 10_000, &v, &t());
    assert_eq!(
        (w.verdict, w.excluded_by_header, w.index),
        (Verdict::Pass, 100, 3)
    );
    assert_eq!(w.groups[0].gray.n, 100);
}

#[test]
fn one_failing_group_fails_the_window_and_one_thin_group_keeps_it_open() {
    let mut v = traffic(Group::Search, "GET", 100, healthy);
    v.extend(traffic(Group::Other, "GET", 10, healthy));
    assert_eq!(judge(0, 0, 10_000, &v, &t()).verdict, Verdict::Inconclusive);
    v.extend(traffic(Group::Bookings, "POST", 100, |_| (503, 12.0)));
    let w = judge(0, 0, 10_000, &v, &t());
    assert_eq!(w.verdict, Verdict::Fail);
    let by: Vec<(Group, Verdict)> = w.groups.iter().map(|g| (g.group, g.verdict)).collect();
    assert_eq!(
        by,
        [
            (Group::Search, Verdict::Pass),
            (Group::Bookings, Verdict::Fail),
            (Group::Other, Verdict::Inconclusive)
        ]
    );
}

#[test]
fn the_json_carries_values_n_and_thresholds() {
    let w = judge(
        0,
        0,
        10_000,
        &traffic(Group::Search, "GET", 60, healthy),
        &t(),
    );
    let j = serde_json::to_value(&w).unwrap();
    assert_eq!(j["verdict"], "PASS");
    assert_eq!(j["groups"][0]["gray"]["n"], 60);
    assert_eq!(j["groups"][0]["checks"][0]["threshold"], 0.01);
    assert_eq!(j["thresholds"]["min_requests"], 50);
    assert!(j["groups"][0]["gray"].get("latencies").is_none());
}
