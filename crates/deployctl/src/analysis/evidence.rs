//! Anytime-valid evidence for the canary judge: e-processes on counts, valid however often the
//! data is looked at (Ville's inequality: a nonnegative supermartingale under the null crosses
//! `1/alpha` with probability at most `alpha`, at any time).
//!
//! [`SplitEvidence`] compares one count (failures, or latency exceedances) between gray and
//! stable. In each window, given the `k` events of both pools together, the number `x` that
//! fell in gray is, under "same per-request rate" (H0), hypergeometric with mean `k * r`, `r`
//! being gray's share of the window's requests. The binomial likelihood ratio used here is
//! convex in `x`, and the hypergeometric is below the binomial in convex order (Hoeffding
//! 1963), so its expectation under H0 is at most 1 whatever the counts: exact at small counts,
//! no normal approximation anywhere. The alternatives are relative risks `theta` (gray's rate
//! over stable's): gray's share of the events is `theta r / (theta r + 1 - r)`. Products over
//! windows, mixed over a fixed grid of alternatives, stay supermartingales; the windows may
//! have different shares (the split is re-measured every window).
//!
//! Two e-processes per count: *harm* (H0: theta <= 1, mixed over theta in [`HARM_RATIOS`])
//! and *no harm* (H0: theta >= the tolerable ratio, mixed over ratios below it). Rejecting the
//! second is the same as an upper confidence bound on theta below the tolerable ratio.
//!
//! [`RateEvidence`] is a one-pool confidence sequence on a rate (for "the increase is below
//! an absolute tolerance" when events are too rare for a ratio to say anything).
//!
//! Clustering: the split is sticky per client, so one client's failures are not independent
//! draws. A window's counts are divided by its dispersion factor `phi >= 1` (Pearson's
//! chi-square over clients divided by its degrees of freedom, [`dispersion`]), the
//! quasi-likelihood (Rao-Scott) adjustment: a client that fails 30 times weighs like a few
//! independent failures, not 30.

use serde::Serialize;

/// Relative risks (gray over stable) mixed, with equal weights, by the harm e-process.
pub const HARM_RATIOS: [f64; 6] = [1.5, 2.0, 3.0, 5.0, 10.0, 30.0];
/// Alternatives of the no-harm e-process, as fractions of the tolerable ratio.
pub const NO_HARM_FRACTIONS: [f64; 3] = [0.7, 0.4, 0.15];
/// Alternatives of a rate's upper bound (fractions of the bounded rate).
const RATE_BELOW: [f64; 5] = [0.8, 0.6, 0.4, 0.2, 0.05];
/// Alternatives of a rate's lower bound (multiples of the bounded rate).
const RATE_ABOVE: [f64; 5] = [1.25, 1.67, 2.5, 5.0, 20.0];
/// Largest dispersion factor applied (a window this clustered is worth at least 1/10).
pub const MAX_DISPERSION: f64 = 10.0;

/// Gray's share of the events under relative risk `theta` when it has share `r` of requests.
fn event_share(theta: f64, r: f64) -> f64 {
    theta * r / (theta * r + 1.0 - r)
}

/// log LR of `x` gray events among `k` for `theta1` against `theta0`.
fn split_log_lr(x: f64, k: f64, r: f64, theta1: f64, theta0: f64) -> f64 {
    let (p1, p0) = (event_share(theta1, r), event_share(theta0, r));
    x * (p1 / p0).ln() + (k - x) * ((1.0 - p1) / (1.0 - p0)).ln()
}

/// Mean of `exp(l)` over a grid of log likelihood ratios (the equal-weight mixture).
fn mixture(logs: &[f64]) -> f64 {
    logs.iter().map(|l| l.exp()).sum::<f64>() / logs.len() as f64
}

/// One window of one count: events and requests of each pool, and the dispersion factor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SplitCounts {
    pub gray_events: u64,
    pub gray_requests: u64,
    pub stable_events: u64,
    pub stable_requests: u64,
    pub dispersion: f64,
}

/// Sequential gray-vs-stable evidence on one count (see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitEvidence {
    pub tolerable_ratio: f64,
    harm_log: [f64; HARM_RATIOS.len()],
    no_harm_log: [f64; NO_HARM_FRACTIONS.len()],
    /// Raw totals (not divided by the dispersion).
    pub gray_events: u64,
    pub gray_requests: u64,
    pub stable_events: u64,
    pub stable_requests: u64,
    /// Largest dispersion factor applied so far.
    pub max_dispersion: f64,
}

impl SplitEvidence {
    pub fn new(tolerable_ratio: f64) -> SplitEvidence {
        SplitEvidence {
            tolerable_ratio,
            harm_log: [0.0; HARM_RATIOS.len()],
            no_harm_log: [0.0; NO_HARM_FRACTIONS.len()],
            gray_events: 0,
            gray_requests: 0,
            stable_events: 0,
            stable_requests: 0,
            max_dispersion: 1.0,
        }
    }

    /// Add one window. A window where a pool had no request says nothing about the split.
    pub fn add(&mut self, c: SplitCounts) {
        self.gray_events += c.gray_events;
        self.gray_requests += c.gray_requests;
        self.stable_events += c.stable_events;
        self.stable_requests += c.stable_requests;
        if c.gray_requests == 0 || c.stable_requests == 0 {
            return;
        }
        let phi = c.dispersion.clamp(1.0, MAX_DISPERSION);
        self.max_dispersion = self.max_dispersion.max(phi);
        let r = c.gray_requests as f64 / (c.gray_requests + c.stable_requests) as f64;
        let x = c.gray_events as f64 / phi;
        let k = (c.gray_events + c.stable_events) as f64 / phi;
        if k == 0.0 {
            return;
        }
        for (l, t) in self.harm_log.iter_mut().zip(HARM_RATIOS) {
            *l += split_log_lr(x, k, r, t, 1.0);
        }
        let tol = self.tolerable_ratio;
        for (l, f) in self.no_harm_log.iter_mut().zip(NO_HARM_FRACTIONS) {
            *l += split_log_lr(x, k, r, tol * f, tol);
        }
    }

    /// E-value against "gray is no worse" (large: harm).
    pub fn harm(&self) -> f64 {
        mixture(&self.harm_log)
    }

    /// E-value against "gray is worse by the tolerable ratio or more" (large: no harm).
    pub fn no_harm(&self) -> f64 {
        mixture(&self.no_harm_log)
    }
}

/// Sufficient statistics of one pool's rate, already divided by the dispersion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RateEvidence {
    pub events: f64,
    pub requests: f64,
}

impl RateEvidence {
    pub fn add(&mut self, events: u64, requests: u64, dispersion: f64) {
        let phi = dispersion.clamp(1.0, MAX_DISPERSION);
        self.events += events as f64 / phi;
        self.requests += requests as f64 / phi;
    }

    /// log LR of the rate `p1` against `p0` for these counts.
    fn log_lr(&self, p1: f64, p0: f64) -> f64 {
        let (x, n) = (self.events, self.requests);
        let hit = if x > 0.0 { x * (p1 / p0).ln() } else { 0.0 };
        hit + (n - x) * ((1.0 - p1) / (1.0 - p0)).ln()
    }

    /// Upper confidence bound on the rate, valid at every look with probability `1 - alpha`.
    pub fn upper(&self, alpha: f64) -> f64 {
        if self.requests <= 0.0 {
            return 1.0;
        }
        let rejected = |p0: f64| {
            let logs: Vec<f64> = RATE_BELOW.iter().map(|f| self.log_lr(p0 * f, p0)).collect();
            mixture(&logs) >= 1.0 / alpha
        };
        let lo = (self.events / self.requests).max(1e-12);
        if !rejected(1.0 - 1e-9) {
            return 1.0;
        }
        bisect_log(lo, 1.0 - 1e-9, |p| !rejected(p))
    }

    /// Lower confidence bound on the rate (0 when no event was seen).
    pub fn lower(&self, alpha: f64) -> f64 {
        if self.events <= 0.0 || self.requests <= 0.0 {
            return 0.0;
        }
        let rejected = |p0: f64| {
            let logs: Vec<f64> = RATE_ABOVE
                .iter()
                .map(|m| self.log_lr((p0 * m).min(1.0 - 1e-9), p0))
                .collect();
            mixture(&logs) >= 1.0 / alpha
        };
        let hi = (self.events / self.requests).min(1.0 - 1e-9);
        if !rejected(1e-12) {
            return 0.0;
        }
        // Below the bound every p0 is rejected; find the last rejected value.
        bisect_log(1e-12, hi, rejected)
    }
}

/// The boundary between `lo` (where `at_lo(lo)` holds) and `hi` (where it does not), on a
/// log scale; returns the last point where `at_lo` holds, to a relative precision of 1e-4.
fn bisect_log(mut lo: f64, mut hi: f64, at_lo: impl Fn(f64) -> bool) -> f64 {
    for _ in 0..60 {
        if hi / lo < 1.0001 {
            break;
        }
        let mid = (lo * hi).sqrt();
        if at_lo(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Dispersion factor of per-client counts `(requests, events)` of one pool in one window:
/// Pearson's chi-square against the pool's own rate over its degrees of freedom, at least 1.
/// `1.0` when it cannot be estimated (fewer than 10 clients or 5 events).
pub fn dispersion(clients: &[(u64, u64)]) -> f64 {
    let n: u64 = clients.iter().map(|c| c.0).sum();
    let x: u64 = clients.iter().map(|c| c.1).sum();
    let active = clients.iter().filter(|c| c.0 > 0).count();
    if active < 10 || x < 5 || x == n {
        return 1.0;
    }
    let p = x as f64 / n as f64;
    let chi2: f64 = clients
        .iter()
        .filter(|c| c.0 > 0)
        .map(|&(nc, xc)| {
            let e = nc as f64 * p;
            (xc as f64 - e).powi(2) / (e * (1.0 - p))
        })
        .sum();
    (chi2 / (active - 1) as f64).clamp(1.0, MAX_DISPERSION)
}

#[cfg(test)]
#[path = "evidence_tests.rs"]
mod tests;
