//! Canary analysis: per window and route group, gray against stable from the LB access logs
//! (header-routed requests excluded), with a verdict PASS / FAIL / INCONCLUSIVE. Pure: the
//! records come from [`crate::accesslog`], the thresholds from `[gray.analysis]`.
//!
//! A group passes only when both pools have at least `min_requests` requests in it (below:
//! INCONCLUSIVE, never PASS) and every check passes: the guardrails on gray's own figures
//! (5xx rate, p99, share of `POST /bookings` answered 201), a one-sided two-proportion z-test
//! (gray's 5xx rate, and its non-201 share of `POST /bookings`, not significantly above
//! stable's) and a one-sided Mann-Whitney U test (gray's latency not significantly more than
//! `latency_tolerance_ms` above stable's). A failed check with enough data is a FAIL. A window
//! FAILs when a group fails, PASSes when every group with traffic passes (and there is at
//! least one), else is INCONCLUSIVE.

pub mod judge;
pub mod policy;
pub mod settings;
pub mod stats;

pub use judge::{judge, PoolStats, Verdict, WindowVerdict};
pub use settings::{AnalysisSettings, GraySettings};
