//! One window's verdict (see the module documentation of [`crate::analysis`]).

use super::settings::AnalysisSettings;
use super::stats::{self, Test};
use crate::accesslog::{Group, Pool, Record};
use serde::Serialize;

/// Verdict of a group or a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Fail,
    Inconclusive,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Inconclusive => "INCONCLUSIVE",
        }
    }
}

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
        let ratio = |x: u64, n: u64| (n > 0).then(|| x as f64 / n as f64);
        s.error_rate = ratio(s.errors_5xx, s.n);
        s.post_201_share = ratio(s.posts_201, s.posts);
        s.p50_ms = stats::percentile(&s.latencies, 50.0);
        s.p99_ms = stats::percentile(&s.latencies, 99.0);
        s
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
    pub thresholds: AnalysisSettings,
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

fn checks(g: &PoolStats, s: &PoolStats, t: &AnalysisSettings) -> Vec<Check> {
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

fn group_verdict(group: Group, records: &[&Record], t: &AnalysisSettings) -> Option<GroupVerdict> {
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
    Some(GroupVerdict {
        group,
        verdict,
        gray,
        stable,
        checks,
        reasons,
    })
}

/// The verdict of window `index` over `records` (those logged in `[start_ms, end_ms)`).
pub fn judge(
    index: u32,
    start_ms: i64,
    end_ms: i64,
    records: &[Record],
    t: &AnalysisSettings,
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
    let verdict = if groups.iter().any(|g| g.verdict == Verdict::Fail) {
        Verdict::Fail
    } else if !groups.is_empty() && groups.iter().all(|g| g.verdict == Verdict::Pass) {
        Verdict::Pass
    } else {
        Verdict::Inconclusive
    };
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
#[path = "judge_tests.rs"]
mod tests;

/// A value for a reason line: small p-values in scientific notation (never "0.0000").
fn figure(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-3 {
        format!("{v:.2e}")
    } else {
        format!("{v:.4}")
    }
}

#[cfg(test)]
mod figure_tests {
    #[test]
    fn small_p_values_keep_their_magnitude() {
        assert_eq!(super::figure(3.9e-11), "3.90e-11");
        assert_eq!(super::figure(0.0546448), "0.0546");
        assert_eq!(super::figure(0.0), "0.0000");
    }
}
