//! What the judge reads of one window: per route group and pool, counts only (requests,
//! failures, `POST /bookings` and their failures, latencies above the thresholds in force),
//! each count's dispersion over clients, and a bounded sample of stable's latencies from
//! which the next window's thresholds are learnt. [`of_records`] builds it from access-log
//! records; the calibration bench builds it directly.

use super::evidence::dispersion;
use super::settings::FailureStatuses;
use super::stats;
use crate::accesslog::{Group, Pool, Record};
use serde::Serialize;
use std::collections::HashMap;

/// Stable latencies kept per group and window for learning the thresholds.
pub const SAMPLE_PER_WINDOW: usize = 1024;

/// Latency thresholds in force for a window (learnt from stable's earlier windows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Thresholds {
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// One pool in one group and window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PoolCounts {
    pub requests: u64,
    pub failures: u64,
    /// `POST /bookings` (bookings group only) and those answered with a failure status.
    pub posts: u64,
    pub post_failures: u64,
    /// Requests at or above the p50 / p99 threshold (gray: after subtracting the tolerance;
    /// "at or above" so that latencies logged in whole milliseconds still exceed a p99 that
    /// is the sample's maximum).
    pub over_p50: u64,
    pub over_p99: u64,
    /// This window's own latency figures (for people; the judge does not use them).
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Dispersion factors (>= 1) of one group's counts in one window, estimated from stable's
/// clients (gray has too few at small shares; under "no harm" both pools share them).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Dispersion {
    pub failures: f64,
    pub post_failures: f64,
    pub over_p50: f64,
    pub over_p99: f64,
}

impl Default for Dispersion {
    fn default() -> Self {
        Dispersion {
            failures: 1.0,
            post_failures: 1.0,
            over_p50: 1.0,
            over_p99: 1.0,
        }
    }
}

/// One route group in one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupCounts {
    pub group: Group,
    pub gray: PoolCounts,
    pub stable: PoolCounts,
    pub dispersion: Dispersion,
    /// The thresholds the exceedance counts were taken against.
    pub thresholds: Thresholds,
    /// Up to [`SAMPLE_PER_WINDOW`] of stable's latencies, spread over the window.
    #[serde(skip)]
    pub stable_sample: Vec<f64>,
}

impl GroupCounts {
    /// A group without a request in the window.
    pub fn empty(group: Group, thresholds: Thresholds) -> GroupCounts {
        GroupCounts {
            group,
            gray: PoolCounts::default(),
            stable: PoolCounts::default(),
            dispersion: Dispersion::default(),
            thresholds,
            stable_sample: vec![],
        }
    }
}

/// Everything the judge reads of one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowCounts {
    pub index: u32,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Requests the gray header routed (not compared).
    pub excluded_by_header: u64,
    pub groups: Vec<GroupCounts>,
}

/// Per-client counts of one pool: requests, failures, post failures, over p50, over p99.
type ClientCounts = HashMap<String, [u64; 5]>;

fn pool_counts(
    records: &[&Record],
    group: Group,
    th: Thresholds,
    shift: f64,
    failed: &FailureStatuses,
    clients: &mut ClientCounts,
) -> (PoolCounts, Vec<f64>) {
    let mut c = PoolCounts::default();
    let mut lat = Vec::with_capacity(records.len());
    for r in records {
        let over = |t: Option<f64>| t.is_some_and(|t| r.request_ms - shift >= t);
        let fail = failed.is_failure(group, r.status);
        let post = r.method == "POST" && group == Group::Bookings;
        let row = [
            1,
            u64::from(fail),
            u64::from(post && fail),
            u64::from(over(th.p50_ms)),
            u64::from(over(th.p99_ms)),
        ];
        c.requests += 1;
        c.failures += row[1];
        c.posts += u64::from(post);
        c.post_failures += row[2];
        c.over_p50 += row[3];
        c.over_p99 += row[4];
        lat.push(r.request_ms);
        if let Some(id) = &r.client {
            let e = clients.entry(id.clone()).or_default();
            for (a, b) in e.iter_mut().zip(row) {
                *a += b;
            }
        }
    }
    c.p50_ms = stats::percentile(&lat, 50.0);
    c.p99_ms = stats::percentile(&lat, 99.0);
    (c, lat)
}

/// At most `n` values spread evenly over `v` (in log order).
fn spread_sample(v: &[f64], n: usize) -> Vec<f64> {
    if v.len() <= n {
        return v.to_vec();
    }
    (0..n).map(|i| v[i * v.len() / n]).collect()
}

fn dispersion_of(clients: &ClientCounts) -> Dispersion {
    let col = |k: usize| {
        let v: Vec<(u64, u64)> = clients.values().map(|c| (c[0], c[k])).collect();
        dispersion(&v)
    };
    Dispersion {
        failures: col(1),
        post_failures: col(2),
        over_p50: col(3),
        over_p99: col(4),
    }
}

/// The counts of one group over `records` (already the window's, header-routed excluded).
fn group_counts(
    group: Group,
    records: &[&Record],
    th: Thresholds,
    tolerance_ms: f64,
    failed: &FailureStatuses,
) -> Option<GroupCounts> {
    let of = |p: Pool| -> Vec<&Record> {
        records
            .iter()
            .copied()
            .filter(|r| r.group == group && r.pool == p)
            .collect()
    };
    let (gray, stable) = (of(Pool::Gray), of(Pool::Stable));
    if gray.is_empty() && stable.is_empty() {
        return None;
    }
    let mut stable_clients = ClientCounts::new();
    let (s, lat) = pool_counts(&stable, group, th, 0.0, failed, &mut stable_clients);
    let (g, _) = pool_counts(
        &gray,
        group,
        th,
        tolerance_ms,
        failed,
        &mut ClientCounts::new(),
    );
    Some(GroupCounts {
        group,
        gray: g,
        stable: s,
        dispersion: dispersion_of(&stable_clients),
        thresholds: th,
        stable_sample: spread_sample(&lat, SAMPLE_PER_WINDOW),
    })
}

/// The counts of window `index` over `records` (all of them belong to the window), against
/// the thresholds in force for each group.
pub fn of_records(
    index: u32,
    (start_ms, end_ms): (i64, i64),
    records: &[Record],
    thresholds: impl Fn(Group) -> Thresholds,
    tolerance_ms: f64,
    failed: &FailureStatuses,
) -> WindowCounts {
    let excluded_by_header = records.iter().filter(|r| r.by_header).count() as u64;
    let compared: Vec<&Record> = records.iter().filter(|r| !r.by_header).collect();
    let groups = Group::ALL
        .iter()
        .filter_map(|&g| group_counts(g, &compared, thresholds(g), tolerance_ms, failed))
        .collect();
    WindowCounts {
        index,
        start_ms,
        end_ms,
        excluded_by_header,
        groups,
    }
}
