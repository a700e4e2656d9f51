//! `cargo xtask bench ...`: benchmarks that print a table and, as their last line, one JSON
//! object. Figures, not pass/fail: targets are compared in the table.

pub mod canary;
pub mod cpu;
pub mod crash;
pub mod handoff;
pub mod lb;
pub mod restart;
pub mod rollout;
pub mod rollout_phases;
pub mod windows;
pub mod wrk;

/// Which benchmark.
#[derive(Debug, clap::Subcommand)]
pub enum Bench {
    /// The canary judge calibrated by simulation (no hosts): false-abort, false-promote,
    /// detection and time to decision per cell, new judge beside the old one.
    Canary(canary::CanaryArgs),
    /// Graceful restarts at 64 connections in both client modes: throughput in restart vs
    /// steady windows, open-loop latency, handoff seen from outside, the master's memory.
    Restart(restart::RestartArgs),
    /// SIGKILL the worker under load: crash-to-serving time and refused connections.
    Crash(crash::CrashArgs),
    /// Client errors through a real nginx / haproxy LB while deployctl changes the fleet.
    Lb(lb::LbArgs),
    /// deployctl rollouts (release) to 5, 10, 20, 50 test-bed hosts in 5 batches, both
    /// transports: median and spread of the wall time, and where it goes.
    Rollout(rollout::RolloutArgs),
}

/// Runs one benchmark.
pub fn run(b: Bench) -> anyhow::Result<()> {
    match b {
        Bench::Canary(a) => canary::run(a),
        Bench::Restart(a) => restart::run(a),
        Bench::Crash(a) => crash::run(a),
        Bench::Rollout(a) => rollout::run(a),
        Bench::Lb(a) => lb::run(a),
    }
}

/// Median and maximum of millisecond figures; no figures is an error, never 0.
pub fn p50_max(what: &str, v: &[f64]) -> anyhow::Result<(f64, f64)> {
    if v.is_empty() {
        anyhow::bail!("no {what} measured");
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    Ok((s[(s.len() - 1) / 2], s[s.len() - 1]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn p50_max_of_nothing_is_an_error() {
        assert!(super::p50_max("gaps", &[]).is_err());
        assert_eq!(
            super::p50_max("gaps", &[3.0, 1.0, 2.0]).unwrap(),
            (2.0, 3.0)
        );
    }
}
