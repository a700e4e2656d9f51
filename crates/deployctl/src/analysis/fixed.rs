//! The fixed-window judge deployctl used before the sequential one ([`super::judge`]), kept
//! so that `cargo xtask bench canary` measures both in the same run. Per window and route
//! group: absolute guardrails (5xx rate, p99, share of `POST /bookings` answered 201), a
//! one-sided two-proportion z-test and a one-sided Mann-Whitney U test at `alpha`; a group
//! passes only with `min_requests` in each pool; [`decide`] promotes after
//! `consecutive_pass` PASS windows in a row and aborts on any FAIL. Its known faults are why
//! it was replaced (the z-test at small counts, no multiplicity control, PASS without power).

use super::figure;
use super::stats::{self, Test};
use crate::accesslog::{Group, Pool, Record};
use serde::Serialize;

/// The old judge's thresholds (the defaults it shipped with).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FixedSettings {
    pub min_requests: u64,
    pub max_error_rate: f64,
    pub max_p99_ms: f64,
    pub min_booking_201: f64,
    pub alpha: f64,
    pub latency_tolerance_ms: f64,
    pub consecutive_pass: u32,
    pub max_inconclusive: u32,
}

impl Default for FixedSettings {
    fn default() -> Self {
        FixedSettings {
            min_requests: 50,
            max_error_rate: 0.01,
            max_p99_ms: 500.0,
            min_booking_201: 0.99,
            alpha: 0.01,
            latency_tolerance_ms: 20.0,
            consecutive_pass: 3,
            max_inconclusive: 3,
        }
    }
}

/// The old `--auto` policy: promote after `consecutive_pass` PASS windows in a row, abort on
/// a FAIL, stop after `max_inconclusive` INCONCLUSIVE windows or when out of time.
pub fn decide(verdicts: &[Verdict], t: &FixedSettings, more_time: bool) -> super::Decision {
    use super::Decision;
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

pub use super::Verdict;

/// Figures of one pool in one group.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PoolStats {
    pub n: u64,
    pub errors_5xx: u64,
    pub error_rate: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub posts: u64,
    pub posts_201: u64,
    pub post_201_share: Option<f64>,
    #[serde(skip)]
    pub latencies: Vec<f64>,
}

impl PoolStats {
    /// Rates, shares and percentiles from the counts and latencies already set.
    pub fn finish(mut self) -> PoolStats {
        let ratio = |x: u64, n: u64| (n > 0).then(|| x as f64 / n as f64);
        self.error_rate = ratio(self.errors_5xx, self.n);
        self.post_201_share = ratio(self.posts_201, self.posts);
        self.p50_ms = stats::percentile(&self.latencies, 50.0);
        self.p99_ms = stats::percentile(&self.latencies, 99.0);
        self
    }

    fn of<'a>(records: impl Iterator<Item = &'a Record>) -> PoolStats {
        let mut s = PoolStats::default();
        for r in records {
            s.n += 1;
            s.errors_5xx += u64::from(r.status >= 500);
            s.latencies.push(r.request_ms);
            if r.method == "POST" && r.group == Group::Bookings {
                s.posts += 1;
                s.posts_201 += u64::from(r.status == 201);
            }
        }
        s.finish()
    }
}

/// One check: its measured value, threshold, outcome (`None`: not enough data to run it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: &'static str,
    /// Gray's figure (guardrails) or the test's p-value (relative checks).
    pub value: Option<f64>,
    pub threshold: f64,
    pub passed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub z: Option<f64>,
}

/// Verdict of one route group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupVerdict {
    pub group: Group,
    pub verdict: Verdict,
    pub gray: PoolStats,
    pub stable: PoolStats,
    pub checks: Vec<Check>,
    pub reasons: Vec<String>,
}

/// Verdict of one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowVerdict {
    pub index: u32,
    pub start_ms: i64,
    pub end_ms: i64,
    pub verdict: Verdict,
    /// Requests the gray header routed (not compared).
    pub excluded_by_header: u64,
    pub groups: Vec<GroupVerdict>,
    pub thresholds: FixedSettings,
}

fn guard(
    name: &'static str,
    value: Option<f64>,
    threshold: f64,
    ok: fn(f64, f64) -> bool,
) -> Check {
    Check {
        name,
        value,
        threshold,
        passed: value.map(|v| ok(v, threshold)),
        z: None,
    }
}

fn test(name: &'static str, t: Option<Test>, alpha: f64) -> Check {
    Check {
        name,
        value: t.map(|t| t.p),
        threshold: alpha,
        passed: t.map(|t| t.p >= alpha),
        z: t.map(|t| t.z),
    }
}

fn checks(g: &PoolStats, s: &PoolStats, t: &FixedSettings) -> Vec<Check> {
    let le = |v: f64, th: f64| v <= th;
    let ge = |v: f64, th: f64| v >= th;
    let mut c = vec![
        guard("error_rate", g.error_rate, t.max_error_rate, le),
        guard("p99_ms", g.p99_ms, t.max_p99_ms, le),
        test(
            "error_rate_vs_stable",
            stats::two_proportion_greater(g.errors_5xx, g.n, s.errors_5xx, s.n),
            t.alpha,
        ),
        test(
            "latency_vs_stable",
            stats::mann_whitney_greater(&g.latencies, &s.latencies, t.latency_tolerance_ms),
            t.alpha,
        ),
    ];
    if g.posts > 0 || s.posts > 0 {
        c.push(guard(
            "booking_201_share",
            g.post_201_share,
            t.min_booking_201,
            ge,
        ));
        let fails = |p: &PoolStats| p.posts - p.posts_201;
        c.push(test(
            "booking_201_vs_stable",
            stats::two_proportion_greater(fails(g), g.posts, fails(s), s.posts),
            t.alpha,
        ));
    }
    c
}

fn group_verdict(group: Group, records: &[&Record], t: &FixedSettings) -> Option<GroupVerdict> {
    let of = |p: Pool| {
        PoolStats::of(
            records
                .iter()
                .copied()
                .filter(|r| r.group == group && r.pool == p),
        )
    };
    let (gray, stable) = (of(Pool::Gray), of(Pool::Stable));
    if gray.n == 0 && stable.n == 0 {
        return None;
    }
    Some(group_of_stats(group, gray, stable, t))
}

/// The verdict of one group from its pools' figures (the bench builds them from counts).
pub fn group_of_stats(
    group: Group,
    gray: PoolStats,
    stable: PoolStats,
    t: &FixedSettings,
) -> GroupVerdict {
    let checks = checks(&gray, &stable, t);
    let mut reasons = vec![];
    let verdict = if gray.n < t.min_requests || stable.n < t.min_requests {
        reasons.push(format!(
            "sample too small: gray {} and stable {} requests, {} needed in each",
            gray.n, stable.n, t.min_requests
        ));
        Verdict::Inconclusive
    } else {
        for c in checks.iter().filter(|c| c.passed == Some(false)) {
            let v = c.value.map_or("-".into(), figure);
            reasons.push(format!(
                "{} failed: {v} vs threshold {}",
                c.name, c.threshold
            ));
        }
        if reasons.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    };
    GroupVerdict {
        group,
        verdict,
        gray,
        stable,
        checks,
        reasons,
    }
}

/// A window's verdict from its groups' verdicts.
pub fn window_of(groups: &[GroupVerdict]) -> Verdict {
    if groups.iter().any(|g| g.verdict == Verdict::Fail) {
        Verdict::Fail
    } else if !groups.is_empty() && groups.iter().all(|g| g.verdict == Verdict::Pass) {
        Verdict::Pass
    } else {
        Verdict::Inconclusive
    }
}

/// The verdict of window `index` over `records` (those logged in `[start_ms, end_ms)`).
pub fn judge(
    index: u32,
    start_ms: i64,
    end_ms: i64,
    records: &[Record],
    t: &FixedSettings,
) -> WindowVerdict {
    let inside: Vec<&Record> = records
        .iter()
        .filter(|r| r.at_ms >= start_ms && r.at_ms < end_ms)
        .collect();
    let excluded_by_header = inside.iter().filter(|r| r.by_header).count() as u64;
    let compared: Vec<&Record> = inside.into_iter().filter(|r| !r.by_header).collect();
    let groups: Vec<GroupVerdict> = Group::ALL
        .iter()
        .filter_map(|&g| group_verdict(g, &compared, t))
        .collect();
    let verdict = window_of(&groups);
    WindowVerdict {
        index,
        start_ms,
        end_ms,
        verdict,
        excluded_by_header,
        groups,
        thresholds: t.clone(),
    }
}

#[cfg(test)]
#[path = "fixed_tests.rs"]
mod tests;
