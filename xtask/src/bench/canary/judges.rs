//! One simulated analysis run through both judges: the same windows (requests, failures and
//! bookings) go to deployctl's sequential judge and to the fixed-window judge it replaced;
//! each decides on its own, with the `--auto` policy it ships with.

use super::sim::{Cell, World};
use deployctl::analysis::counts::{PoolCounts, Thresholds, WindowCounts};
use deployctl::analysis::fixed::{self, FixedSettings};
use deployctl::analysis::{policy, AnalysisSettings, Decision, Group, Judge, Verdict};

/// Latencies per pool, group and window the old judge's Mann-Whitney test sees at most.
pub const OLD_LATENCY_CAP: usize = 2000;

/// How one judge ended one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ended {
    /// Promote, Abort or Undecided (time over, or the old judge's inconclusive limit).
    pub decision: Decision,
    /// Analysis minutes until the decision.
    pub minutes: f64,
}

/// The old judge's figures of one pool from the window's counts and a latency sample.
fn old_pool(world: &mut World, c: &PoolCounts, gray: bool) -> fixed::PoolStats {
    fixed::PoolStats {
        n: c.requests,
        errors_5xx: c.failures,
        posts: c.posts,
        posts_201: c.posts - c.post_failures,
        latencies: world.latencies(c.requests, OLD_LATENCY_CAP, gray),
        ..Default::default()
    }
    .finish()
}

fn old_window(world: &mut World, w: &WindowCounts, t: &FixedSettings) -> Verdict {
    let groups: Vec<fixed::GroupVerdict> = w
        .groups
        .iter()
        .filter(|g| g.gray.requests + g.stable.requests > 0)
        .map(|g| {
            let gray = old_pool(world, &g.gray, true);
            let stable = old_pool(world, &g.stable, false);
            fixed::group_of_stats(g.group, gray, stable, t)
        })
        .collect();
    fixed::window_of(&groups)
}

/// One run of `windows` windows of `window_s` seconds: (new judge, old judge).
pub fn run(
    cell: Cell,
    seed: u64,
    t: &AnalysisSettings,
    windows: u32,
    window_s: f64,
) -> (Ended, Ended) {
    let old_t = FixedSettings::default();
    let mut world = World::new(cell, seed);
    let mut judge = Judge::new(t).expect("default settings are valid");
    let (mut new_v, mut old_v) = (vec![], vec![]);
    let (mut new_end, mut old_end) = (None, None);
    for i in 0..windows {
        let th: Vec<(Group, Thresholds)> = Group::ALL
            .iter()
            .map(|&g| (g, judge.thresholds(g)))
            .collect();
        let lookup = |g: Group| {
            th.iter()
                .find(|x| x.0 == g)
                .map_or(Thresholds::default(), |x| x.1)
        };
        let w = world.window(i, window_s, t.latency_tolerance_ms, lookup);
        let more = i + 1 < windows;
        let minutes = f64::from(i + 1) * window_s / 60.0;
        if new_end.is_none() {
            new_v.push(judge.observe(&w).verdict);
            let d = policy::decide(&new_v, t, more);
            new_end = (d != Decision::Continue).then_some(Ended {
                decision: d,
                minutes,
            });
        }
        if old_end.is_none() {
            old_v.push(old_window(&mut world, &w, &old_t));
            let d = fixed::decide(&old_v, &old_t, more);
            old_end = (d != Decision::Continue).then_some(Ended {
                decision: d,
                minutes,
            });
        }
        if let (Some(n), Some(o)) = (new_end, old_end) {
            return (n, o);
        }
    }
    unreachable!("the last window always decides (no more time)")
}
