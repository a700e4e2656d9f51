//! `[gray.analysis]` of the inventory: the judge's thresholds and the `--auto` policy.

use serde::{Deserialize, Serialize};

/// `[gray]` table (its `analysis` sub-table).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GraySettings {
    #[serde(default)]
    pub analysis: AnalysisSettings,
}

/// Thresholds of one window's verdict and the `--auto` policy.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisSettings {
    /// Requests each pool needs in a route group before that group can pass.
    pub min_requests: u64,
    /// Guardrail: gray's 5xx rate in any group at most this (0.01 = 1%).
    pub max_error_rate: f64,
    /// Guardrail: gray's p99 latency (LB request time) at most this.
    pub max_p99_ms: f64,
    /// Guardrail: share of gray's `POST /bookings` answered 201 at least this.
    pub min_booking_201: f64,
    /// Significance level of the one-sided tests.
    pub alpha: f64,
    /// Latency difference tolerated before the Mann-Whitney test counts it.
    pub latency_tolerance_ms: f64,
    /// Window length when `--window` is not given.
    pub window_s: u64,
    /// `--auto`: consecutive PASS windows that promote.
    pub consecutive_pass: u32,
    /// `--auto`: INCONCLUSIVE windows after which the run stops for a person to decide.
    pub max_inconclusive: u32,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        AnalysisSettings {
            min_requests: 50,
            max_error_rate: 0.01,
            max_p99_ms: 500.0,
            min_booking_201: 0.99,
            alpha: 0.01,
            latency_tolerance_ms: 20.0,
            window_s: 60,
            consecutive_pass: 3,
            max_inconclusive: 3,
        }
    }
}

impl AnalysisSettings {
    /// Why the settings are unusable (checked with the inventory).
    pub fn validate(&self) -> Result<(), String> {
        let unit = |v: f64| (0.0..=1.0).contains(&v);
        if self.min_requests == 0 {
            return Err("gray.analysis.min_requests must be >= 1 (no data never passes)".into());
        }
        if !unit(self.max_error_rate) || !unit(self.min_booking_201) {
            return Err(
                "gray.analysis.max_error_rate and min_booking_201 must be 0.0..=1.0".into(),
            );
        }
        if !(self.alpha > 0.0 && self.alpha < 0.5) {
            return Err("gray.analysis.alpha must be in (0, 0.5)".into());
        }
        if self.max_p99_ms <= 0.0 || self.latency_tolerance_ms < 0.0 {
            return Err("gray.analysis.max_p99_ms must be > 0, latency_tolerance_ms >= 0".into());
        }
        if self.window_s == 0 || self.consecutive_pass == 0 || self.max_inconclusive == 0 {
            return Err(
                "gray.analysis.window_s, consecutive_pass and max_inconclusive must be >= 1".into(),
            );
        }
        Ok(())
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
        assert_eq!(g.analysis.max_p99_ms, 500.0);
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
        assert!(toml::from_str::<GraySettings>("[analysis]\nmin_request = 1\n").is_err());
    }
}
