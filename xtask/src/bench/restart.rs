//! Restart benchmark: hotel-api (release, no warm-up) under its master with load in both client
//! modes across N SIGUSR1 restarts; the same load against hotel-api run bare for the overhead.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::Signal;
use serde_json::json;

use crate::load::Background;
use crate::service::{self, LocalService};

/// Options.
#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    /// Number of graceful restarts.
    #[arg(long, default_value_t = 50)]
    pub restarts: u32,
    /// Clients per mode (keep-alive and new-connection).
    #[arg(long, default_value_t = 2)]
    pub clients: usize,
    /// Steady-state load before the restarts, and the length of the bare run.
    #[arg(long, default_value = "5s", value_parser = runtime::cli::parse_duration)]
    pub steady: Duration,
    /// Use the debug build (faster to build, slower to run).
    #[arg(long)]
    pub debug: bool,
    /// Run the master in SO_REUSEPORT compatibility mode (to measure what it loses).
    #[arg(long)]
    pub compat: bool,
}

/// Runs the benchmark.
pub fn run(a: RestartArgs) -> Result<()> {
    let bin = service::build_hotel_api(!a.debug, None)?;
    let path = "/search?city=Lisbon&latency_ms=0";

    eprintln!("bare run: {:?} of load", a.steady);
    let mut bare = LocalService::start(&bin, true, &[])?;
    let load = Background::start(
        bare.addr,
        path,
        a.clients,
        a.steady + Duration::from_secs(60),
    );
    std::thread::sleep(a.steady);
    let bare_reports = load.finish()?;
    bare.stop()?;
    let rps_bare: f64 = bare_reports.iter().map(|(_, r)| r.throughput()).sum();

    eprintln!(
        "master run: {:?} steady, then {} restarts",
        a.steady, a.restarts
    );
    let mut master_args = vec!["--linger-ms", "200"];
    if a.compat {
        master_args.push("--compat-reuseport");
    }
    let mut svc = LocalService::start(&bin, false, &master_args)?;
    let load = Background::start(svc.addr, path, a.clients, Duration::from_secs(3600));
    std::thread::sleep(a.steady);
    let mut windows = Vec::new();
    let mut handoff = Vec::new();
    let mut old_exit = Vec::new();
    for i in 0..a.restarts {
        let (gen, _) = svc.generation()?;
        let t0 = Instant::now();
        svc.signal(Signal::SIGUSR1)?;
        svc.wait_until("new worker ready", Duration::from_secs(60), || {
            svc.generation().is_ok_and(|(g, r)| g > gen && r)
        })?;
        svc.wait_until("old worker exited", Duration::from_secs(60), || {
            svc.workers().is_ok_and(|w| w.len() == 1)
        })?;
        let t1 = Instant::now();
        windows.push((t0 - load.started, t1 - load.started));
        old_exit.push((t1 - t0).as_secs_f64() * 1000.0);
        if i % 10 == 9 {
            eprintln!("  {} restarts done", i + 1);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let elapsed = load.started.elapsed();
    let reports = load.finish()?;
    let mem = svc.memory()?;
    for e in events(&svc.log, "restart_outcome")? {
        if e["action"] == "graceful_ok" {
            handoff.push(
                e["duration_ms"]
                    .as_f64()
                    .context("restart_outcome without duration_ms")?,
            );
        }
    }
    let kept = service::workspace_root().join("target/bench-restart.log");
    let _ = std::fs::copy(&svc.log, &kept);
    let drains: Vec<f64> = events(&svc.log, "worker_exit")?
        .iter()
        .filter_map(|e| e["drain_ms"].as_f64())
        .collect();
    svc.stop()?;
    let drain = super::p50_max("old worker drains", &drains)?;

    let in_restart = |s: &loadgen::Sample| windows.iter().any(|(a, b)| s.at >= *a && s.at <= *b);
    let mut all = loadgen::Report::default();
    for (_, r) in &reports {
        all.merge(r.clone());
    }
    all.elapsed = elapsed;
    // Overhead of the master: the steady window (before the first restart), the same load and
    // duration as the bare run. The whole run, restarts included, is reported too.
    let steady_end = windows.first().context("no restart window")?.0;
    let steady_ok = all
        .samples
        .iter()
        .filter(|s| s.at < steady_end && s.failure.is_none())
        .count();
    let rps_master = steady_ok as f64 / steady_end.as_secs_f64().max(1e-9);
    let rps_master_overall = all.throughput();
    let p99_steady = all
        .percentile_ms(99.0, |s| !in_restart(s))
        .context("no steady-state sample")?;
    let p99_restart = all
        .percentile_ms(99.0, in_restart)
        .context("no sample in a restart window")?;
    let (h50, hmax) = super::p50_max("handoff durations", &handoff)?;
    let (e50, emax) = super::p50_max("old worker exits", &old_exit)?;
    println!(
        "{:<16} {:>10} {:>8} {:>10} {:>9} {:>9}",
        "mode", "requests", "failed", "req/s", "p50 ms", "p99 ms"
    );
    for (mode, r) in &reports {
        println!(
            "{:<16} {:>10} {:>8} {:>10.0} {:>9.2} {:>9.2}",
            format!("{mode:?}"),
            r.requests(),
            r.failed(),
            r.throughput(),
            r.percentile_ms(50.0, |_| true).context("no sample")?,
            r.percentile_ms(99.0, |_| true).context("no sample")?
        );
    }
    println!(
        "restarts {} | failed by kind {:?}",
        a.restarts,
        all.failed_by_kind()
    );
    println!(
        "p99 steady {p99_steady:.2} ms | p99 during restarts {p99_restart:.2} ms (target <= 1.5x)"
    );
    println!(
        "handoff SIGUSR1->new worker accepting p50 {h50:.1} ms max {hmax:.1} ms (target <= 100 ms)"
    );
    println!("SIGUSR1->old worker exited p50 {e50:.1} ms max {emax:.1} ms (old worker drain p50 {:.0} ms max {:.0} ms)", drain.0, drain.1);
    println!(
        "throughput master (steady) {rps_master:.0} req/s vs bare {rps_bare:.0} req/s = {:.1}% (target >= 98%); whole run incl. restarts {rps_master_overall:.0} req/s",
        100.0 * rps_master / rps_bare.max(1e-9)
    );
    println!(
        "master peak RSS (VmHWM) {} KiB, private {} KiB (target <= 2048)",
        mem.hwm_kib, mem.private_kib
    );
    let out = json!({
        "restarts": a.restarts,
        "requests": all.requests(),
        "failed": all.failed(),
        "failed_by_kind": all.failed_by_kind(),
        "rps_master": rps_master.round(),
        "rps_bare": rps_bare.round(),
        "rps_master_overall": rps_master_overall.round(),
        "p99_steady_ms": round2(p99_steady),
        "p99_restart_ms": round2(p99_restart),
        "handoff_ms_p50": round2(h50),
        "handoff_ms_max": round2(hmax),
        "old_exit_ms_p50": round2(e50),
        "old_exit_ms_max": round2(emax),
        "master_hwm_kib": mem.hwm_kib,
        "master_private_kib": mem.private_kib,
        "profile": if a.debug { "debug" } else { "release" },
        "mode": if a.compat { "compat_reuseport" } else { "shared_socket" },
    });
    println!("{out}");
    Ok(())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `fields` of the JSON log lines of `log` whose event is `name`.
pub fn events(log: &std::path::Path, name: &str) -> Result<Vec<serde_json::Value>> {
    let text =
        std::fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["event"] == name)
        .map(|v| v["fields"].clone())
        .collect())
}
