//! Response faults for canary-analysis tests: a share of API responses answered 500 (all API
//! routes or `POST /bookings` only) and latency added to every API response. Read from the
//! configuration at worker start, like the other fault switches; the health and identity
//! endpoints (`/ready`, `/ping`, `/version`) are never affected, so a faulty build still passes
//! deploy verification and stays in the load balancer, as a subtly bad release would.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// Which requests the failing share applies to.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FailScope {
    /// Every API route (`/search`, `/bookings`, `/bookings/{id}`).
    #[default]
    All,
    /// `POST /bookings` only.
    Bookings,
}

/// The switches (all off by default).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ResponseFaults {
    /// Share of the requests in scope answered 500, 0.0 to 1.0.
    pub fail_share: f64,
    /// Requests the share applies to.
    pub fail_scope: FailScope,
    /// Added to every API response before it is sent.
    pub added_latency_ms: u64,
}

impl ResponseFaults {
    /// Whether any switch is on.
    pub fn active(&self) -> bool {
        self.fail_share > 0.0 || self.added_latency_ms > 0
    }

    /// Why the switches are unusable.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.fail_share) {
            return Err(format!(
                "fail_share = {} must be 0.0..=1.0",
                self.fail_share
            ));
        }
        if self.added_latency_ms > 10_000 {
            return Err(format!(
                "added_latency_ms = {} must be at most 10000",
                self.added_latency_ms
            ));
        }
        Ok(())
    }
}

/// Per-worker state: counts the requests in scope so exactly `fail_share` of them fail
/// (deterministically spread: request n fails when floor(n·share) steps up).
#[derive(Clone, Debug, Default)]
pub struct FaultState {
    faults: ResponseFaults,
    seen: Arc<AtomicU64>,
}

/// Whether a path is an API route (faults apply) rather than health or identity.
fn is_api(path: &str) -> bool {
    path == "/search" || path == "/bookings" || path.starts_with("/bookings/")
}

impl FaultState {
    /// State for these switches.
    pub fn new(faults: ResponseFaults) -> Self {
        FaultState {
            faults,
            seen: Arc::new(AtomicU64::new(0)),
        }
    }

    fn in_scope(&self, method: &Method, path: &str) -> bool {
        match self.faults.fail_scope {
            FailScope::All => is_api(path),
            FailScope::Bookings => method == Method::POST && path == "/bookings",
        }
    }

    /// Whether this request fails (counts it when in scope).
    pub fn should_fail(&self, method: &Method, path: &str) -> bool {
        if self.faults.fail_share <= 0.0 || !self.in_scope(method, path) {
            return false;
        }
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        let share = self.faults.fail_share;
        ((n as f64) * share).floor() > (((n - 1) as f64) * share).floor()
    }

    /// Latency to add before answering this request.
    pub fn delay(&self, path: &str) -> Option<Duration> {
        (self.faults.added_latency_ms > 0 && is_api(path))
            .then(|| Duration::from_millis(self.faults.added_latency_ms))
    }
}

/// The response of an injected failure.
pub fn injected_failure() -> Response {
    tracing::debug!(
        event = "fault_injected",
        fault = "fail-share",
        "answering 500"
    );
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(serde_json::json!({ "error": "injected fault" })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(share: f64, scope: FailScope) -> FaultState {
        FaultState::new(ResponseFaults {
            fail_share: share,
            fail_scope: scope,
            added_latency_ms: 0,
        })
    }

    fn failures(s: &FaultState, method: &Method, path: &str, n: usize) -> usize {
        (0..n).filter(|_| s.should_fail(method, path)).count()
    }

    #[test]
    fn exactly_the_share_fails() {
        let s = state(0.05, FailScope::All);
        assert_eq!(failures(&s, &Method::GET, "/search", 1000), 50);
        let s = state(1.0, FailScope::All);
        assert_eq!(failures(&s, &Method::GET, "/search", 10), 10);
        let s = state(0.0, FailScope::All);
        assert_eq!(failures(&s, &Method::GET, "/search", 10), 0);
    }

    #[test]
    fn failures_are_spread_not_bunched() {
        let s = state(0.1, FailScope::All);
        let fails: Vec<bool> = (0..30)
            .map(|_| s.should_fail(&Method::GET, "/search"))
            .collect();
        let at: Vec<usize> = (0..30).filter(|&i| fails[i]).collect();
        assert_eq!(at, vec![9, 19, 29]);
    }

    #[test]
    fn bookings_scope_spares_everything_else() {
        let s = state(1.0, FailScope::Bookings);
        assert_eq!(failures(&s, &Method::GET, "/search", 10), 0);
        assert_eq!(failures(&s, &Method::GET, "/bookings/abc", 10), 0);
        assert_eq!(failures(&s, &Method::POST, "/bookings", 10), 10);
    }

    #[test]
    fn health_and_identity_are_never_affected() {
        let s = FaultState::new(ResponseFaults {
            fail_share: 1.0,
            fail_scope: FailScope::All,
            added_latency_ms: 50,
        });
        for p in ["/ready", "/ping", "/version"] {
            assert!(!s.should_fail(&Method::GET, p), "{p}");
            assert_eq!(s.delay(p), None, "{p}");
        }
        assert_eq!(s.delay("/search"), Some(Duration::from_millis(50)));
    }

    #[test]
    fn out_of_range_is_refused() {
        let mut f = ResponseFaults {
            fail_share: 1.5,
            ..Default::default()
        };
        assert!(f.validate().unwrap_err().contains("fail_share"));
        f.fail_share = 0.5;
        f.added_latency_ms = 20_000;
        assert!(f.validate().unwrap_err().contains("added_latency_ms"));
    }
}
