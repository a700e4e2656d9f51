//! `cargo xtask bench canary`: the canary judge's calibration. Simulated access logs (no
//! hosts): heterogeneous sticky clients, three route groups, identical and degraded gray
//! builds, at several gray shares and traffic levels; every run goes window by window
//! through deployctl's sequential judge and, on the same windows, through the fixed-window
//! judge it replaced. Per cell and judge: how often it promoted, aborted or left it undecided,
//! and how long it took. The last line is one JSON object.
//!
//! The simulation is CPU-bound: in a debug build the command re-runs itself in the `sim`
//! profile (optimised, no LTO).

mod judges;
mod sim;

use anyhow::{bail, Context, Result};
use deployctl::analysis::{AnalysisSettings, Decision};
use judges::Ended;
use serde_json::json;
use sim::{Cell, Effect};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Options.
#[derive(Debug, clap::Args)]
pub struct CanaryArgs {
    /// Simulated analysis runs per cell.
    #[arg(long, default_value_t = 1000)]
    pub runs: u32,
    /// Seed of the whole bench (each run derives its own).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Window length, seconds.
    #[arg(long, default_value_t = 60)]
    pub window_s: u32,
    /// Analysis length, minutes (then undecided runs end NEEDS_DECISION).
    #[arg(long, default_value_t = 30)]
    pub minutes: u32,
    /// Only cells whose label contains this (e.g. "share=5%").
    #[arg(long)]
    pub only: Option<String>,
    /// Stay in this build even when it is a debug build (slow).
    #[arg(long)]
    pub no_reexec: bool,
}

const BASELINES: [f64; 3] = [0.0005, 0.002, 0.01];
const SHARES: [f64; 3] = [0.01, 0.05, 0.2];
const RATES: [f64; 3] = [20.0, 200.0, 2000.0];

fn effects() -> Vec<(Effect, Vec<f64>)> {
    let mut v = vec![(Effect::Identical, BASELINES.to_vec())];
    for m in [1.5, 2.0, 3.0, 5.0, 10.0] {
        v.push((Effect::Failures(m), BASELINES.to_vec()));
    }
    for d in [10.0, 50.0, 200.0] {
        v.push((Effect::LatencyP50(d), vec![0.002]));
        v.push((Effect::LatencyP99(d), vec![0.002]));
    }
    v
}

fn label(c: &Cell) -> String {
    let e = match c.effect {
        Effect::Identical => "identical".to_string(),
        Effect::Failures(m) => format!("5xx x{m}"),
        Effect::LatencyP50(d) => format!("+{d}ms p50"),
        Effect::LatencyP99(d) => format!("+{d}ms p99-only"),
    };
    format!(
        "{e} base={}% share={}% rate={}",
        c.baseline * 100.0,
        c.share * 100.0,
        c.rate
    )
}

fn cells(only: Option<&str>) -> Vec<Cell> {
    let mut v = vec![];
    for (effect, baselines) in effects() {
        for &baseline in &baselines {
            for share in SHARES {
                for rate in RATES {
                    v.push(Cell {
                        effect,
                        baseline,
                        share,
                        rate,
                    });
                }
            }
        }
    }
    v.retain(|c| only.is_none_or(|o| label(c).contains(o)));
    v
}

/// One judge's figures over a cell's runs.
#[derive(Debug, Clone, serde::Serialize)]
struct Figures {
    promote: f64,
    abort: f64,
    undecided: f64,
    abort_within_10m: f64,
    promote_within_15m: f64,
    /// Minutes to a promote or abort, median and p95 (None: no run decided).
    decided_p50_min: Option<f64>,
    decided_p95_min: Option<f64>,
}

fn figures(ends: &[Ended]) -> Figures {
    let n = ends.len() as f64;
    let rate = |f: &dyn Fn(&Ended) -> bool| ends.iter().filter(|e| f(e)).count() as f64 / n;
    let mut t: Vec<f64> = ends
        .iter()
        .filter(|e| e.decision != Decision::Undecided)
        .map(|e| e.minutes)
        .collect();
    t.sort_by(f64::total_cmp);
    let q = |p: f64| {
        (!t.is_empty()).then(|| t[((p * t.len() as f64).ceil() as usize).clamp(1, t.len()) - 1])
    };
    Figures {
        promote: rate(&|e| e.decision == Decision::Promote),
        abort: rate(&|e| e.decision == Decision::Abort),
        undecided: rate(&|e| e.decision == Decision::Undecided),
        abort_within_10m: rate(&|e| e.decision == Decision::Abort && e.minutes <= 10.0),
        promote_within_15m: rate(&|e| e.decision == Decision::Promote && e.minutes <= 15.0),
        decided_p50_min: q(0.5),
        decided_p95_min: q(0.95),
    }
}

/// Every run of every cell, spread over the machine's cores: (new, old) ends per cell.
fn simulate(a: &CanaryArgs, cells: &[Cell], t: &AnalysisSettings) -> Vec<(Vec<Ended>, Vec<Ended>)> {
    let windows = (a.minutes * 60).div_ceil(a.window_s).max(1);
    let out: Vec<Mutex<(Vec<Ended>, Vec<Ended>)>> =
        cells.iter().map(|_| Mutex::default()).collect();
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= cells.len() {
                    return;
                }
                let mut ends = (vec![], vec![]);
                for r in 0..a.runs {
                    let seed = a.seed.wrapping_mul(0x9e37_79b9) ^ ((k as u64) << 32 | u64::from(r));
                    let (n, o) = judges::run(cells[k], seed, t, windows, f64::from(a.window_s));
                    ends.0.push(n);
                    ends.1.push(o);
                }
                *out[k].lock().expect("no panic holding it") = ends;
            });
        }
    });
    out.into_iter()
        .map(|m| m.into_inner().expect("no panic holding it"))
        .collect()
}

fn pct(v: f64) -> String {
    format!("{:5.1}%", v * 100.0)
}

fn mins(v: Option<f64>) -> String {
    v.map_or("    -".into(), |m| format!("{m:5.0}"))
}

/// Re-run this command in the `sim` profile.
fn reexec() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let st = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "run",
            "--quiet",
            "--profile",
            "sim",
            "--package",
            "xtask",
            "--",
        ])
        .args(&args)
        .arg("--no-reexec")
        .status()
        .context("cargo run --profile sim")?;
    if !st.success() {
        bail!("bench canary in the sim profile failed: {st}");
    }
    Ok(())
}

/// Runs the benchmark.
pub fn run(a: CanaryArgs) -> Result<()> {
    if cfg!(debug_assertions) && !a.no_reexec {
        return reexec();
    }
    if a.runs == 0 || a.window_s == 0 || a.minutes == 0 {
        bail!("--runs, --window-s and --minutes must be >= 1");
    }
    let cells = cells(a.only.as_deref());
    if cells.is_empty() {
        bail!("no cell matches --only {:?}", a.only);
    }
    let t = AnalysisSettings::default();
    eprintln!(
        "bench canary: {} cells x {} runs, windows of {} s for up to {} min, seed {}",
        cells.len(),
        a.runs,
        a.window_s,
        a.minutes,
        a.seed
    );
    let started = std::time::Instant::now();
    let ends = simulate(&a, &cells, &t);
    println!(
        "{:<44} | {:^46} | {:^46}",
        "cell", "sequential judge (new)", "fixed-window judge (old)"
    );
    println!(
        "{:<44} | {:>6} {:>6} {:>6} {:>6} {:>6} {:>5} {:>5} | {:>6} {:>6} {:>6} {:>6} {:>6} {:>5} {:>5}",
        "", "promo", "abort", "undec", "ab10m", "pr15m", "p50m", "p95m", "promo", "abort", "undec", "ab10m", "pr15m", "p50m", "p95m"
    );
    let mut rows = vec![];
    for (c, (n, o)) in cells.iter().zip(&ends) {
        let (fnew, fold) = (figures(n), figures(o));
        let show = |f: &Figures| {
            format!(
                "{} {} {} {} {} {} {}",
                pct(f.promote),
                pct(f.abort),
                pct(f.undecided),
                pct(f.abort_within_10m),
                pct(f.promote_within_15m),
                mins(f.decided_p50_min),
                mins(f.decided_p95_min)
            )
        };
        println!("{:<44} | {} | {}", label(c), show(&fnew), show(&fold));
        rows.push(json!({"cell": label(c), "new": fnew, "old": fold}));
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "bench canary: {} runs in {secs:.0} s",
        cells.len() as u64 * u64::from(a.runs)
    );
    println!(
        "{}",
        json!({
            "bench": "canary",
            "runs_per_cell": a.runs,
            "seed": a.seed,
            "window_s": a.window_s,
            "minutes": a.minutes,
            "settings": t,
            "old_latency_cap": judges::OLD_LATENCY_CAP,
            "cells": rows,
        })
    );
    Ok(())
}
