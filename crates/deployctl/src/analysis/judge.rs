//! The sequential judge: one [`Judge`] per analysis run accumulates each route group's
//! evidence window after window ([`super::evidence`]) and gives, after every window, a
//! [`WindowVerdict`] on everything seen so far.
//!
//! Checks per group: `failures` (answers in the group's failure statuses), in the bookings
//! group `booking_failures` (`POST /bookings` only), `latency_p50` and `latency_p99`
//! (requests above stable's own p50 / p99 learnt from earlier windows, gray's latency less
//! the tolerance). Each check is:
//! - **harm** when its harm e-value reaches `checks / alpha` (Bonferroni over every check of
//!   every group: the whole run's false-abort probability is at most `alpha`), or when the
//!   catastrophic guardrail trips (failures only);
//! - **no harm** when its no-harm e-value reaches `1 / promote_alpha` (failures: gray's rate
//!   over stable's ruled out at `tolerable_ratio`, or gray's upper bound minus stable's lower
//!   bound below `tolerable_increase`; latency: "slower by the tolerance or more" ruled out);
//! - otherwise undecided, or not run (no threshold learnt yet, a pool without requests).
//!
//! A group FAILs on any harm; PASSes when each pool has `min_requests` and every check shows
//! no harm (a check that did not run is never a pass). The window FAILs when a group fails,
//! PASSes when at least one group passes and every other group is below `min_requests` in
//! both pools, else is INCONCLUSIVE.

use super::counts::{self, GroupCounts, PoolCounts, Thresholds, WindowCounts};
use super::evidence::{RateEvidence, SplitCounts, SplitEvidence};
use super::settings::{AnalysisSettings, FailureStatuses};
use super::Verdict;
use crate::accesslog::{Group, Record};
use serde::Serialize;
use std::collections::VecDeque;

/// Stable latencies remembered per group for the thresholds (the most recent).
const SAMPLE_CAP: usize = 8192;
/// Samples needed before a p50 / p99 threshold is used (a p99 of a few hundred samples is
/// so noisy that a tail-only regression can hide below it: the bench found promotes of a
/// +200 ms p99-only build at 200 samples).
const P50_MIN_SAMPLES: usize = 100;
const P99_MIN_SAMPLES: usize = 1000;
/// How the abort level `alpha` is shared (Bonferroni): half among the fleet's 3 checks
/// (failures, p50, p99 of every group together: most of the data), half among the 10 group
/// checks (3 groups x failures, p50, p99, and bookings). A check shows harm when its e-value
/// reaches `1 / (alpha * share)`.
pub const FLEET_SHARE: f64 = 0.5 / 3.0;
pub const GROUP_SHARE: f64 = 0.5 / 10.0;

/// Where a check stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    Harm,
    NoHarm,
    Undecided,
    NotRun,
}

/// One check of one group after a window (cumulative figures).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub state: CheckState,
    /// `Some(false)` harm, `Some(true)` no harm shown, `None` undecided or not run.
    pub passed: Option<bool>,
    pub gray_events: u64,
    pub gray_requests: u64,
    pub stable_events: u64,
    pub stable_requests: u64,
    /// E-value against "no worse" and the value that means harm.
    pub harm_e: f64,
    pub harm_needed: f64,
    /// E-value against "worse than tolerable" and the value that means no harm.
    pub no_harm_e: f64,
    pub no_harm_needed: f64,
    /// Failures: gray's upper and stable's lower confidence bound on the rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_bounds: Option<(f64, f64)>,
    pub max_dispersion: f64,
}

/// This window's figures of one pool (for people).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PoolStats {
    pub n: u64,
    pub failures: u64,
    pub error_rate: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub posts: u64,
    pub post_failures: u64,
}

impl PoolStats {
    pub(super) fn of(c: &PoolCounts) -> PoolStats {
        PoolStats {
            n: c.requests,
            failures: c.failures,
            error_rate: (c.requests > 0).then(|| c.failures as f64 / c.requests as f64),
            p50_ms: c.p50_ms,
            p99_ms: c.p99_ms,
            posts: c.posts,
            post_failures: c.post_failures,
        }
    }
}

/// Verdict of one route group after a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupVerdict {
    pub group: Group,
    pub verdict: Verdict,
    /// This window's figures.
    pub gray: PoolStats,
    pub stable: PoolStats,
    /// Requests of the whole analysis so far.
    pub gray_total: u64,
    pub stable_total: u64,
    pub thresholds: Thresholds,
    pub checks: Vec<Check>,
    pub reasons: Vec<String>,
}

/// Verdict after one window, on everything seen so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowVerdict {
    pub index: u32,
    pub start_ms: i64,
    pub end_ms: i64,
    pub verdict: Verdict,
    pub excluded_by_header: u64,
    pub groups: Vec<GroupVerdict>,
    /// Every group together: `failures`, `latency_p50`, `latency_p99`.
    pub fleet: Vec<Check>,
    pub thresholds: AnalysisSettings,
}

/// One count's evidence: split (ratio) and, for failures, each pool's rate.
#[derive(Debug, Clone)]
pub(super) struct Count {
    pub split: SplitEvidence,
    /// Gray's and stable's rate (failures only).
    pub rates: Option<(RateEvidence, RateEvidence)>,
}

impl Count {
    pub(super) fn new(ratio: f64, rates: bool) -> Count {
        Count {
            split: SplitEvidence::new(ratio),
            rates: rates.then(Default::default),
        }
    }

    fn add(&mut self, g: (u64, u64), s: (u64, u64), phi: f64) {
        self.split.add(SplitCounts {
            gray_events: g.0,
            gray_requests: g.1,
            stable_events: s.0,
            stable_requests: s.1,
            dispersion: phi,
        });
        if let Some((gr, sr)) = &mut self.rates {
            gr.add(g.0, g.1, phi);
            sr.add(s.0, s.1, phi);
        }
    }
}

/// Every group's counts together: evidence that the fleet as a whole is not harmed (a
/// group's check that is undecided alone is no harm when its fleet check shows none).
#[derive(Debug, Clone)]
pub(super) struct Fleet {
    pub failures: Count,
    pub p50: Count,
    pub p99: Count,
}

impl Fleet {
    /// Each group's window is one more factor of the fleet's evidence (each is valid alone).
    fn add(&mut self, c: &GroupCounts) {
        let (g, s, d) = (&c.gray, &c.stable, &c.dispersion);
        let (gn, sn) = (g.requests, s.requests);
        self.failures
            .add((g.failures, gn), (s.failures, sn), d.failures);
        if c.thresholds.p50_ms.is_some() {
            self.p50.add((g.over_p50, gn), (s.over_p50, sn), d.over_p50);
        }
        if c.thresholds.p99_ms.is_some() {
            self.p99.add((g.over_p99, gn), (s.over_p99, sn), d.over_p99);
        }
    }
}

/// The accumulated state of one route group.
#[derive(Debug, Clone)]
pub(super) struct GroupState {
    pub group: Group,
    pub failures: Count,
    pub bookings: Count,
    pub p50: Count,
    pub p99: Count,
    sample: VecDeque<f64>,
    pub gray_total: u64,
    pub stable_total: u64,
    pub gray_posts: u64,
    pub stable_posts: u64,
}

/// The judge of one analysis run.
#[derive(Debug, Clone)]
pub struct Judge {
    t: AnalysisSettings,
    failed: FailureStatuses,
    groups: Vec<GroupState>,
    fleet: Fleet,
}

/// The `q`-quantile (0..1) of a non-empty sample, nearest rank.
fn quantile(v: &VecDeque<f64>, q: f64) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().collect();
    let k = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
    *s.select_nth_unstable_by(k, f64::total_cmp).1
}

impl GroupState {
    fn new(group: Group, t: &AnalysisSettings) -> GroupState {
        GroupState {
            group,
            failures: Count::new(t.tolerable_ratio, true),
            bookings: Count::new(t.tolerable_ratio, true),
            p50: Count::new(1.0, false),
            p99: Count::new(1.0, false),
            sample: VecDeque::new(),
            gray_total: 0,
            stable_total: 0,
            gray_posts: 0,
            stable_posts: 0,
        }
    }

    fn thresholds(&self) -> Thresholds {
        let n = self.sample.len();
        Thresholds {
            p50_ms: (n >= P50_MIN_SAMPLES).then(|| quantile(&self.sample, 0.5)),
            p99_ms: (n >= P99_MIN_SAMPLES).then(|| quantile(&self.sample, 0.99)),
        }
    }

    fn add(&mut self, c: &GroupCounts) {
        let (g, s, d) = (&c.gray, &c.stable, &c.dispersion);
        self.gray_total += g.requests;
        self.stable_total += s.requests;
        self.gray_posts += g.posts;
        self.stable_posts += s.posts;
        let (gn, sn) = (g.requests, s.requests);
        self.failures
            .add((g.failures, gn), (s.failures, sn), d.failures);
        if g.posts + s.posts > 0 {
            let (gp, sp) = ((g.post_failures, g.posts), (s.post_failures, s.posts));
            self.bookings.add(gp, sp, d.post_failures);
        }
        if c.thresholds.p50_ms.is_some() {
            self.p50.add((g.over_p50, gn), (s.over_p50, sn), d.over_p50);
        }
        if c.thresholds.p99_ms.is_some() {
            self.p99.add((g.over_p99, gn), (s.over_p99, sn), d.over_p99);
        }
        for &x in &c.stable_sample {
            if self.sample.len() == SAMPLE_CAP {
                self.sample.pop_front();
            }
            self.sample.push_back(x);
        }
    }
}

impl Judge {
    /// A judge for `t` (validated with the inventory: an invalid status list is an error).
    pub fn new(t: &AnalysisSettings) -> Result<Judge, String> {
        Ok(Judge {
            t: t.clone(),
            failed: t.failure_statuses()?,
            groups: Group::ALL.iter().map(|&g| GroupState::new(g, t)).collect(),
            fleet: Fleet {
                failures: Count::new(t.tolerable_ratio, true),
                p50: Count::new(1.0, false),
                p99: Count::new(1.0, false),
            },
        })
    }

    fn state(&self, g: Group) -> &GroupState {
        self.groups
            .iter()
            .find(|s| s.group == g)
            .expect("every group")
    }

    /// The latency thresholds in force for the next window of group `g`.
    pub fn thresholds(&self, g: Group) -> Thresholds {
        self.state(g).thresholds()
    }

    /// Judge window `index` over its records (every record given belongs to the window).
    pub fn window(&mut self, index: u32, span: (i64, i64), records: &[Record]) -> WindowVerdict {
        let c = counts::of_records(
            index,
            span,
            records,
            |g| self.thresholds(g),
            self.t.latency_tolerance_ms,
            &self.failed,
        );
        self.observe(&c)
    }

    /// Add a window's counts and give the verdict on everything seen so far (every group that
    /// has had traffic, whether or not it had some in this window).
    pub fn observe(&mut self, w: &WindowCounts) -> WindowVerdict {
        for c in &w.groups {
            if let Some(s) = self.groups.iter_mut().find(|s| s.group == c.group) {
                s.add(c);
            }
            self.fleet.add(c);
        }
        let fleet = super::verdict::fleet(&self.t, &self.fleet);
        let groups: Vec<GroupVerdict> = self
            .groups
            .iter()
            .filter(|s| s.gray_total + s.stable_total > 0)
            .map(|s| match w.groups.iter().find(|c| c.group == s.group) {
                Some(c) => super::verdict::group(&self.t, s, c, &fleet),
                // No request in this window: its thresholds are only computed then.
                None => {
                    let quiet = GroupCounts::empty(s.group, s.thresholds());
                    super::verdict::group(&self.t, s, &quiet, &fleet)
                }
            })
            .collect();
        WindowVerdict {
            index: w.index,
            start_ms: w.start_ms,
            end_ms: w.end_ms,
            verdict: super::verdict::window(&self.t, &groups, &fleet, |g| self.totals(g)),
            excluded_by_header: w.excluded_by_header,
            groups,
            fleet,
            thresholds: self.t.clone(),
        }
    }

    /// (gray, stable) requests of group `g` so far.
    fn totals(&self, g: Group) -> (u64, u64) {
        let s = self.state(g);
        (s.gray_total, s.stable_total)
    }
}

#[cfg(test)]
#[path = "judge_tests.rs"]
mod tests;
