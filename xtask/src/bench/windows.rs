//! Steady windows and restart windows of a load run, and their throughput.
//!
//! A steady window is time with no restart within ±1 s (the margin), after the warm-up. A
//! restart window is a restart and the second after it: from SIGUSR1 to 1 s after the old
//! worker's exit (the new worker's first second, cold, is in it). Inside it, the handoff is
//! the time from SIGUSR1 to the old worker's exit, reported on its own as the worst case.
//! The second before each SIGUSR1 is in neither kind of window. Time is cut into 10 ms bins;
//! each successful request counts in the bin where it completed. The run is split into
//! consecutive groups of restarts (the samples), each holding both kinds of window, so the
//! two are measured interleaved and their spread is visible.

use std::time::Duration;

use anyhow::{bail, Result};

/// Bin width.
const BIN: Duration = Duration::from_millis(10);

/// One restart, as offsets from the start of the load.
#[derive(Debug, Clone, Copy)]
pub struct Restart {
    /// SIGUSR1 sent.
    pub signal: Duration,
    /// Old worker gone.
    pub old_exit: Duration,
}

/// Throughput of one sample (a group of consecutive restarts).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct SampleRate {
    /// Successful requests per second in steady windows.
    pub steady_rps: f64,
    /// Successful requests per second in restart windows (SIGUSR1 to old exit + 1 s).
    pub restart_rps: f64,
    /// Successful requests per second during the handoffs alone (SIGUSR1 to old exit).
    pub handoff_rps: f64,
    /// Seconds of steady windows, restart windows and handoffs behind the figures.
    pub steady_s: f64,
    pub restart_s: f64,
    pub handoff_s: f64,
}

impl SampleRate {
    /// Restart-window throughput as a percentage of steady.
    pub fn ratio_pct(&self) -> f64 {
        100.0 * self.restart_rps / self.steady_rps
    }

    /// Handoff throughput as a percentage of steady.
    pub fn handoff_pct(&self) -> f64 {
        100.0 * self.handoff_rps / self.steady_rps
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Excluded,
    Steady,
    /// In a restart window, after the old worker's exit.
    After,
    /// In a restart window, during the handoff.
    Handoff,
}

/// Classifies every bin up to `end`.
fn classify(restarts: &[Restart], warmup: Duration, margin: Duration, end: Duration) -> Vec<Kind> {
    let n = (end.as_nanos() / BIN.as_nanos()) as usize;
    let mut kinds = vec![Kind::Steady; n];
    let bin = |d: Duration| ((d.as_nanos() / BIN.as_nanos()) as usize).min(n);
    kinds[..bin(warmup)].fill(Kind::Excluded);
    for r in restarts {
        let from = bin(r.signal.saturating_sub(margin));
        let to = bin(r.old_exit + margin + BIN);
        for k in &mut kinds[from..to] {
            if *k == Kind::Steady {
                *k = Kind::Excluded;
            }
        }
    }
    for r in restarts {
        kinds[bin(r.signal)..bin(r.old_exit + margin + BIN)].fill(Kind::After);
    }
    for r in restarts {
        kinds[bin(r.signal)..bin(r.old_exit + BIN)].fill(Kind::Handoff);
    }
    kinds
}

/// Successful requests per bin, from their completion offsets.
pub fn bin_counts(completions: &[Duration]) -> Vec<u64> {
    let mut counts = Vec::new();
    for c in completions {
        let i = (c.as_nanos() / BIN.as_nanos()) as usize;
        if counts.len() <= i {
            counts.resize(i + 1, 0);
        }
        counts[i] += 1;
    }
    counts
}

/// Per-sample throughput: `per_bin` counts the successful requests completed in each bin
/// (see [`bin_counts`]); the restarts are split into `samples` consecutive groups.
pub fn sample_rates(
    per_bin: &[u64],
    restarts: &[Restart],
    warmup: Duration,
    end: Duration,
    samples: usize,
) -> Result<Vec<SampleRate>> {
    if samples < 1 || restarts.len() < samples {
        bail!("{} restarts cannot make {samples} samples", restarts.len());
    }
    let margin = Duration::from_secs(1);
    let kinds = classify(restarts, warmup, margin, end);
    let mut counts = per_bin.to_vec();
    counts.resize(kinds.len(), 0);
    let per = restarts.len() / samples;
    let mut out = Vec::new();
    for g in 0..samples {
        let first = &restarts[g * per];
        let from = if g == 0 {
            0
        } else {
            // Halfway between the previous group's last restart and this group's first.
            let prev = restarts[g * per - 1].old_exit;
            ((prev + (first.signal - prev) / 2).as_nanos() / BIN.as_nanos()) as usize
        };
        let to = match restarts.get((g + 1) * per).filter(|_| g + 1 < samples) {
            Some(next) => {
                let last = restarts[(g + 1) * per - 1].old_exit;
                ((last + (next.signal - last) / 2).as_nanos() / BIN.as_nanos()) as usize
            }
            None => kinds.len(),
        };
        out.push(rate(&kinds[from..to], &counts[from..to], g)?);
    }
    Ok(out)
}

fn rate(kinds: &[Kind], counts: &[u64], group: usize) -> Result<SampleRate> {
    let sum = |want: &[Kind]| {
        kinds
            .iter()
            .zip(counts)
            .filter(|(k, _)| want.contains(k))
            .fold((0u64, 0u64), |(bins, n), (_, c)| (bins + 1, n + c))
    };
    let (steady_bins, steady_n) = sum(&[Kind::Steady]);
    let (restart_bins, restart_n) = sum(&[Kind::After, Kind::Handoff]);
    let (handoff_bins, handoff_n) = sum(&[Kind::Handoff]);
    if steady_bins == 0 || handoff_bins == 0 || steady_n == 0 {
        bail!(
            "sample {}: {steady_bins} steady bins ({steady_n} requests), {restart_bins} restart bins: \
             too little to measure (space the restarts further apart: --spacing)",
            group + 1
        );
    }
    let secs = |bins: u64| bins as f64 * BIN.as_secs_f64();
    Ok(SampleRate {
        steady_rps: steady_n as f64 / secs(steady_bins),
        restart_rps: restart_n as f64 / secs(restart_bins),
        handoff_rps: handoff_n as f64 / secs(handoff_bins),
        steady_s: secs(steady_bins),
        restart_s: secs(restart_bins),
        handoff_s: secs(handoff_bins),
    })
}

/// Whether `at` lies in a handoff (SIGUSR1 to the old worker's exit).
pub fn in_handoff(restarts: &[Restart], at: Duration) -> bool {
    restarts.iter().any(|r| at >= r.signal && at <= r.old_exit)
}

/// Whether `at` is steady: after the warm-up and more than 1 s from every restart window.
pub fn is_steady(restarts: &[Restart], warmup: Duration, at: Duration) -> bool {
    let margin = Duration::from_secs(1);
    at >= warmup
        && restarts
            .iter()
            .all(|r| at + margin < r.signal || at > r.old_exit + margin)
}

/// Median, minimum and maximum; no values is an error.
pub fn spread(what: &str, v: &[f64]) -> Result<(f64, f64, f64)> {
    if v.is_empty() {
        bail!("no {what}");
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    Ok((s[(s.len() - 1) / 2], s[0], s[s.len() - 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn restart_windows_lose_what_the_server_did_not_serve() {
        // 1000 req/s, except 500 req/s during each 200 ms handoff: the restart window (the
        // handoff and the second after it) serves (100 + 1000) / 1.2 s = 917 req/s.
        let restarts: Vec<Restart> = (0..6)
            .map(|i| Restart {
                signal: ms(2000 + 4000 * i),
                old_exit: ms(2200 + 4000 * i),
            })
            .collect();
        let end = ms(25_000);
        let mut completions = Vec::new();
        let mut t = 0;
        while t < 25_000 {
            let slow = in_handoff(&restarts, ms(t));
            completions.push(ms(t));
            t += if slow { 2 } else { 1 };
        }
        let rates = sample_rates(&bin_counts(&completions), &restarts, ms(500), end, 3).unwrap();
        assert_eq!(rates.len(), 3);
        for r in &rates {
            assert!((r.steady_rps - 1000.0).abs() < 20.0, "{r:?}");
            assert!((r.handoff_rps - 500.0).abs() < 30.0, "{r:?}");
            assert!((r.handoff_pct() - 50.0).abs() < 4.0, "{r:?}");
            assert!((r.restart_rps - 917.0).abs() < 20.0, "{r:?}");
            assert!((r.restart_s - 2.4).abs() < 0.05, "two 1.2 s windows: {r:?}");
        }
        assert!(is_steady(&restarts, ms(500), ms(4000)));
        assert!(!is_steady(&restarts, ms(500), ms(1100)), "within 1 s");
        assert!(!is_steady(&restarts, ms(500), ms(100)), "warm-up");
    }

    #[test]
    fn too_few_restarts_or_no_steady_time_is_an_error() {
        let r = |s| Restart {
            signal: ms(s),
            old_exit: ms(s + 100),
        };
        assert!(sample_rates(&bin_counts(&[ms(1)]), &[r(100)], ms(0), ms(1000), 3).is_err());
        // Restarts 1.5 s apart leave no steady time.
        let close: Vec<Restart> = (0..3).map(|i| r(1000 + 1500 * i)).collect();
        let all: Vec<Duration> = (0..6000).map(ms).collect();
        assert!(sample_rates(&bin_counts(&all), &close, ms(0), ms(6000), 3).is_err());
        assert!(spread("x", &[]).is_err());
        assert_eq!(spread("x", &[3.0, 1.0, 2.0]).unwrap(), (2.0, 1.0, 3.0));
    }
}
