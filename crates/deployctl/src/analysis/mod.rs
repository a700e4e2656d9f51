//! Canary analysis: gray against stable, route group by route group, from the LB access logs
//! (header-routed requests excluded). Pure: the records come from `crate::accesslog`, the
//! settings from `[gray.analysis]`.
//!
//! - `evidence`: anytime-valid e-processes on counts (exact at small counts, valid at every
//!   look) and rate confidence sequences; the dispersion factor of clustered clients.
//! - `counts`: what the judge reads of a window (counts per group and pool, exceedances of
//!   the latency thresholds, a bounded stable latency sample), built from records.
//! - `judge`: the sequential [`Judge`]: evidence accumulated window after window, a
//!   [`WindowVerdict`] on everything seen so far; `verdict`: its rules.
//! - `policy`: what `--auto` does after a window (promote, abort, continue, undecided).
//! - `settings`: `[gray.analysis]`.
//! - `fixed` and `stats`: the fixed-window judge it replaced (z-test, Mann-Whitney), kept for
//!   `cargo xtask bench canary` to measure both in one run.

pub mod counts;
pub mod evidence;
pub mod fixed;
pub mod judge;
pub mod policy;
pub mod settings;
pub mod stats;
mod verdict;

pub use crate::accesslog::{Group, Pool, Record};
pub use judge::{GroupVerdict, Judge, PoolStats, WindowVerdict};
pub use policy::Decision;
pub use settings::{AnalysisSettings, GraySettings};
pub use verdict::figure;

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
