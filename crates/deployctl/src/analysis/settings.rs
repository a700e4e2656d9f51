//! `[gray.analysis]` of the inventory: the judge's error levels, tolerances, guardrail and
//! which answers count as failures, and the `--auto` policy.

use crate::accesslog::Group;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[gray]` table (its `analysis` sub-table).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GraySettings {
    #[serde(default)]
    pub analysis: AnalysisSettings,
}

/// Settings of the sequential judge ([`crate::analysis::judge`]) and of `--auto`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisSettings {
    /// Probability that an analysis of a build no worse than stable aborts it, over every
    /// window, route group and check of the run together.
    pub alpha: f64,
    /// Probability that a check calls a harmful build harmless (per check; every check must
    /// be harmless to promote).
    pub promote_alpha: f64,
    /// Failures: gray's rate over stable's tolerated (promote needs it ruled out above this).
    pub tolerable_ratio: f64,
    /// Failures: absolute increase of gray's rate over stable's tolerated (0.0005 = 0.05
    /// percentage points), for rates too low for a ratio to be measured.
    pub tolerable_increase: f64,
    /// Latency: gray may be this much slower than stable at p50 and at p99.
    pub latency_tolerance_ms: f64,
    /// Requests each pool needs in a route group (whole analysis) before it can pass.
    pub min_requests: u64,
    /// Guardrail: gray's failure share at or above this (with `catastrophic_min_failures`,
    /// and at least twice stable's) aborts at once, whatever the statistics.
    pub catastrophic_share: f64,
    pub catastrophic_min_failures: u64,
    /// Answers that count as failures in every route group: `5xx`, `4xx`, `aborted` (the
    /// client or the LB gave up: nginx 499, haproxy -1), or a status such as `429`.
    pub failure_statuses: Vec<String>,
    /// Per route group (`search`, `bookings`, `other`): replaces `failure_statuses` there.
    pub group_failure_statuses: BTreeMap<String, Vec<String>>,
    /// Window length when `--window` is not given.
    pub window_s: u64,
    /// `--auto`: windows before a promote can happen.
    pub min_windows: u32,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        AnalysisSettings {
            alpha: 0.01,
            promote_alpha: 0.01,
            tolerable_ratio: 2.5,
            tolerable_increase: 0.0005,
            latency_tolerance_ms: 20.0,
            min_requests: 50,
            catastrophic_share: 0.05,
            catastrophic_min_failures: 10,
            failure_statuses: vec!["5xx".into(), "aborted".into()],
            group_failure_statuses: BTreeMap::new(),
            window_s: 60,
            min_windows: 2,
        }
    }
}

/// One pattern of `failure_statuses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StatusPattern {
    /// `5xx`, `4xx`: a class (the digit).
    Class(u16),
    /// `aborted`: 499, or no status at all (0).
    Aborted,
    Exact(u16),
}

impl StatusPattern {
    fn parse(s: &str) -> Result<StatusPattern, String> {
        match s {
            "aborted" => return Ok(StatusPattern::Aborted),
            "1xx" | "2xx" | "3xx" | "4xx" | "5xx" => {
                return Ok(StatusPattern::Class(u16::from(s.as_bytes()[0] - b'0')))
            }
            _ => {}
        }
        match s.parse::<u16>() {
            Ok(c) if (100..=599).contains(&c) => Ok(StatusPattern::Exact(c)),
            _ => Err(format!(
                "failure status {s:?}: use 4xx, 5xx, aborted or a status 100-599"
            )),
        }
    }

    fn matches(self, status: u16) -> bool {
        match self {
            StatusPattern::Class(d) => status / 100 == d,
            StatusPattern::Aborted => status == 499 || status == 0,
            StatusPattern::Exact(c) => status == c,
        }
    }
}

/// Which answers are failures, per route group (parsed from the settings).
#[derive(Debug, Clone, PartialEq)]
pub struct FailureStatuses {
    by_group: Vec<(Group, Vec<StatusPattern>)>,
}

impl FailureStatuses {
    pub fn is_failure(&self, group: Group, status: u16) -> bool {
        self.by_group
            .iter()
            .find(|(g, _)| *g == group)
            .is_some_and(|(_, p)| p.iter().any(|p| p.matches(status)))
    }
}

fn patterns(list: &[String], what: &str) -> Result<Vec<StatusPattern>, String> {
    if list.is_empty() {
        return Err(format!("{what} is empty: nothing would count as a failure"));
    }
    list.iter()
        .map(|s| StatusPattern::parse(s).map_err(|e| format!("{what}: {e}")))
        .collect()
}

/// `v > x`, false for NaN.
fn above(v: f64, x: f64) -> bool {
    v > x
}

impl AnalysisSettings {
    /// The failure statuses of every group, or why they are unusable.
    pub fn failure_statuses(&self) -> Result<FailureStatuses, String> {
        let default = patterns(&self.failure_statuses, "gray.analysis.failure_statuses")?;
        for name in self.group_failure_statuses.keys() {
            if !Group::ALL.iter().any(|g| g.name() == name) {
                return Err(format!(
                    "gray.analysis.group_failure_statuses: unknown route group {name:?} (search, bookings, other)"
                ));
            }
        }
        let mut by_group = vec![];
        for g in Group::ALL {
            let p = match self.group_failure_statuses.get(g.name()) {
                Some(l) => patterns(
                    l,
                    &format!("gray.analysis.group_failure_statuses.{}", g.name()),
                )?,
                None => default.clone(),
            };
            by_group.push((g, p));
        }
        Ok(FailureStatuses { by_group })
    }

    /// Why the settings are unusable (checked with the inventory).
    pub fn validate(&self) -> Result<(), String> {
        let level = |v: f64| v > 0.0 && v < 0.5;
        if !level(self.alpha) || !level(self.promote_alpha) {
            return Err("gray.analysis.alpha and promote_alpha must be in (0, 0.5)".into());
        }
        if !above(self.tolerable_ratio, 1.0) || !(0.0..1.0).contains(&self.tolerable_increase) {
            return Err(
                "gray.analysis.tolerable_ratio must be > 1 and tolerable_increase in 0.0..1.0"
                    .into(),
            );
        }
        if !above(self.latency_tolerance_ms, 0.0) {
            return Err(
                "gray.analysis.latency_tolerance_ms must be > 0 (at 0 no latency can be shown harmless)"
                    .into(),
            );
        }
        if !(above(self.catastrophic_share, 0.0) && self.catastrophic_share <= 1.0)
            || self.catastrophic_min_failures == 0
        {
            return Err("gray.analysis.catastrophic_share must be in (0, 1] and catastrophic_min_failures >= 1".into());
        }
        if self.min_requests == 0 {
            return Err("gray.analysis.min_requests must be >= 1 (no data never passes)".into());
        }
        if self.window_s == 0 || self.min_windows == 0 {
            return Err("gray.analysis.window_s and min_windows must be >= 1".into());
        }
        self.failure_statuses().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_are_named() {
        AnalysisSettings::default().validate().unwrap();
        let g: GraySettings = toml::from_str("[analysis]\nmin_requests = 20\n").unwrap();
        assert_eq!(g.analysis.min_requests, 20);
        assert_eq!(g.analysis.tolerable_ratio, 2.5);
        let bad = AnalysisSettings {
            min_requests: 0,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("min_requests"));
        let bad = AnalysisSettings {
            alpha: 0.7,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("alpha"));
        let bad = AnalysisSettings {
            latency_tolerance_ms: 0.0,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("latency_tolerance_ms"));
        assert!(toml::from_str::<GraySettings>("[analysis]\nmin_request = 1\n").is_err());
    }

    #[test]
    fn failure_statuses_default_and_per_group() {
        let t = AnalysisSettings::default();
        let f = t.failure_statuses().unwrap();
        for (s, want) in [
            (500, true),
            (503, true),
            (499, true),
            (0, true),
            (409, false),
        ] {
            assert_eq!(f.is_failure(Group::Bookings, s), want, "{s}");
        }
        let g: GraySettings = toml::from_str(
            "[analysis]\nfailure_statuses = [\"5xx\"]\n[analysis.group_failure_statuses]\nbookings = [\"5xx\", \"409\"]\n",
        )
        .unwrap();
        let f = g.analysis.failure_statuses().unwrap();
        assert!(f.is_failure(Group::Bookings, 409) && !f.is_failure(Group::Search, 409));
        assert!(!f.is_failure(Group::Search, 499), "aborted not listed");
        for bad in [
            "[analysis]\nfailure_statuses = [\"6xx\"]\n",
            "[analysis]\nfailure_statuses = []\n",
            "[analysis.group_failure_statuses]\npayments = [\"5xx\"]\n",
        ] {
            let g: GraySettings = toml::from_str(bad).unwrap();
            assert!(g.analysis.validate().is_err(), "{bad}");
        }
    }
}
