//! Restart benchmark at production concurrency: hotel-api (release, no warm-up) under its
//! master, SIGUSR1 restarts spaced apart, in each client mode in turn:
//!
//! 1. throughput: closed-loop load on `--connections` connections from wrk ([`super::wrk`]),
//!    with loadgen beside it on a few connections classifying every failure and counting the
//!    build that answered (or loadgen alone: `--client loadgen`); successful requests per
//!    second in restart windows vs steady windows (see [`super::windows`]), per sample;
//! 2. latency: open-loop load at a fixed rate below the measured capacity, latency counted
//!    from each request's intended send time (no coordinated omission);
//! 3. handoff from outside ([`super::handoff`]): SIGUSR1 -> first response of the new
//!    generation on the public port, and SIGUSR1 -> old worker gone (its `/proc` entry);
//! 4. the master's memory after the first and the last restart (VmHWM, private memory).
//!
//! Who is the bottleneck: the CPU time of the server processes, of this process (the client)
//! and of the whole machine over each phase, judged by [`super::cpu`].

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use loadgen::{ClientMode, LoadConfig, Report};
use nix::sys::signal::Signal;
use serde_json::{json, Value};

use super::cpu::{clock_ticks, machine_ticks};
use super::handoff::{self, Probe};
use super::windows::{self, Restart};
use super::wrk::{Wrk, WrkReport};
use crate::load::Background;
use crate::service::{self, LocalService, Memory};

/// Options.
#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    /// Graceful restarts per client mode in the throughput phase.
    #[arg(long, default_value_t = 50)]
    pub restarts: usize,
    /// Graceful restarts per client mode in the latency phase.
    #[arg(long, default_value_t = 10)]
    pub latency_restarts: usize,
    /// Concurrent connections of the load (per mode; the modes run one after the other).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Threads of the load generator (of wrk and of loadgen each).
    #[arg(long, default_value_t = 2)]
    pub client_threads: usize,
    /// Throughput client: wrk (cheap per request, so the server can be the bottleneck) with
    /// loadgen beside it classifying failures and builds, or loadgen alone.
    #[arg(long, value_enum, default_value = "wrk")]
    pub client: Client,
    /// Connections of the loadgen classifier beside wrk.
    #[arg(long, default_value_t = 4)]
    pub classifier_connections: usize,
    /// Time between restarts (a steady window needs > 2 s plus the restart).
    #[arg(long, default_value = "4s", value_parser = runtime::cli::parse_duration)]
    pub spacing: Duration,
    /// Load before the first restart; the first second of it is warm-up, never measured.
    #[arg(long, default_value = "3s", value_parser = runtime::cli::parse_duration)]
    pub lead_in: Duration,
    /// Samples (groups of consecutive restarts) the throughput is reported by (>= 3).
    #[arg(long, default_value_t = 5)]
    pub samples: usize,
    /// Open-loop rate of the latency phase (loadgen), as a fraction of the measured steady
    /// throughput; the phase fails when loadgen cannot send at that rate.
    #[arg(long, default_value_t = 0.25)]
    pub latency_load: f64,
    /// Use the debug build (faster to build, slower to run).
    #[arg(long)]
    pub debug: bool,
    /// Run the master in SO_REUSEPORT compatibility mode (to measure what it loses).
    #[arg(long)]
    pub compat: bool,
}

/// The throughput client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    Wrk,
    Loadgen,
}

/// What one phase of one mode measured.
struct Phase {
    /// loadgen's report (alone, or the classifier beside wrk).
    report: Report,
    /// wrk's counts when it drove the throughput.
    wrk: Option<WrkReport>,
    /// Successful requests per 10 ms bin of the throughput client.
    per_bin: Vec<u64>,
    restarts: Vec<Restart>,
    handoff_ms: Vec<f64>,
    old_exit_ms: Vec<f64>,
    probe_failed: u64,
    server_cores: f64,
    client_cores: f64,
    /// Cores busy on the whole machine (every process, this benchmark's and others').
    machine_cores: f64,
    end: Duration,
}

const WARMUP: Duration = Duration::from_secs(1);
const PATH: &str = "/search?city=Lisbon&latency_ms=0";

/// Runs the benchmark.
pub fn run(a: RestartArgs) -> Result<()> {
    anyhow::ensure!(a.samples >= 3, "--samples must be at least 3");
    anyhow::ensure!(
        a.spacing > Duration::from_secs(2),
        "--spacing must exceed 2 s: steady windows keep 1 s from every restart"
    );
    let bin = service::build_hotel_api(!a.debug, None)?;
    let mut master_args = vec!["--linger-ms", "200"];
    if a.compat {
        master_args.push("--compat-reuseport");
    }
    let mut svc = LocalService::start(&bin, false, &master_args)?;
    let mut memory: Vec<(usize, Memory)> = Vec::new();
    let mut done = 0usize;
    let mut modes = Vec::new();
    for mode in [ClientMode::KeepAlive, ClientMode::NewConnection] {
        eprintln!(
            "{mode:?}: throughput, {} connections, closed loop, {} restarts",
            a.connections, a.restarts
        );
        let mut cfg = LoadConfig::new(svc.addr, PATH, mode);
        let wrk = (a.client == Client::Wrk).then_some(mode);
        cfg.concurrency = match wrk {
            Some(_) => a.classifier_connections,
            None => a.connections,
        };
        let tp = phase(&svc, &a, cfg.clone(), wrk, a.restarts, &mut |n| {
            done += 1;
            if done == 1 || n == a.restarts {
                memory.push((done, svc.memory()?));
            }
            Ok(())
        })?;
        let rates = windows::sample_rates(&tp.per_bin, &tp.restarts, WARMUP, tp.end, a.samples)?;
        let steady_rps = windows::spread(
            "steady rates",
            &rates.iter().map(|r| r.steady_rps).collect::<Vec<_>>(),
        )?
        .0;
        let rate = (steady_rps * a.latency_load).max(1.0);
        eprintln!(
            "{mode:?}: latency, open loop at {rate:.0} req/s, {} restarts",
            a.latency_restarts
        );
        cfg.rate = Some(rate);
        cfg.concurrency = a.connections;
        let lat = phase(&svc, &a, cfg, None, a.latency_restarts, &mut |_| {
            done += 1;
            Ok(())
        })?;
        kept_up(&lat.report, rate)?;
        let threads = a.client_threads * if wrk.is_some() { 2 } else { 1 };
        modes.push(summarize(mode, &tp, &rates, rate, &lat, threads)?);
    }
    memory.push((done, svc.memory()?));
    let kept = service::workspace_root().join("target/bench-restart.log");
    std::fs::copy(&svc.log, &kept).context("keeping the service log")?;
    svc.stop()?;
    print_memory(&memory);
    let out = json!({
        "bench": "restart",
        "profile": if a.debug { "debug" } else { "release" },
        "mode": if a.compat { "compat_reuseport" } else { "shared_socket" },
        "connections": a.connections,
        "client_threads": a.client_threads,
        "restarts_per_mode": a.restarts,
        "modes": modes,
        "master_memory": memory.iter().map(|(n, m)| json!({"after_restarts": n, "hwm_kib": m.hwm_kib, "private_kib": m.private_kib})).collect::<Vec<_>>(),
        "log": kept,
    });
    println!("{out}");
    Ok(())
}

/// Load with `cfg` (and wrk in `wrk` mode, when given) and `restarts` restarts, `after`
/// called after each (with its number).
fn phase(
    svc: &LocalService,
    a: &RestartArgs,
    mut cfg: LoadConfig,
    wrk: Option<ClientMode>,
    restarts: usize,
    after: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<Phase> {
    cfg.max_duration = a.lead_in + a.spacing * (restarts as u32 + 1) + Duration::from_secs(600);
    cfg.max_requests = u64::MAX;
    let cpu0 = (server_ticks(svc)?, self_ticks()?, machine_ticks()?);
    let load = Background::start_configs(vec![cfg], a.client_threads);
    let wrk = wrk
        .map(|m| Wrk::start(svc.addr, PATH, m, a.connections, a.client_threads))
        .transpose()?;
    let started = wrk.as_ref().map_or(load.started, |w| w.started);
    let probe = Probe::start(svc.addr);
    std::thread::sleep(a.lead_in);
    let mut timings = Vec::new();
    for n in 1..=restarts {
        timings.push(restart_once(svc)?);
        after(n)?;
        if n % 10 == 0 {
            eprintln!("  {n} restarts done");
        }
        std::thread::sleep(a.spacing);
    }
    let end = started.elapsed();
    // wrk's CPU before it exits (the client's, with this process's).
    let wrk_ticks = match &wrk {
        Some(w) => ticks(w.pid(), false)?,
        None => 0,
    };
    let wrk = wrk.map(Wrk::finish).transpose()?;
    let reports = load.finish()?;
    let (seen, probe_failed) = probe.finish()?;
    let wall = end.as_secs_f64();
    let cpu1 = (
        server_ticks(svc)?,
        self_ticks()? + wrk_ticks,
        machine_ticks()?,
    );
    let hz = clock_ticks()?;
    let report = reports.into_iter().next().context("no report")?.1;
    anyhow::ensure!(report.requests() > 0, "loadgen sent no request");
    let per_bin = match &wrk {
        Some(w) => w.ok_per_bin.clone(),
        None => windows::bin_counts(&completions(&report)),
    };
    let mut out = Phase {
        report,
        wrk,
        per_bin,
        restarts: Vec::new(),
        handoff_ms: Vec::new(),
        old_exit_ms: Vec::new(),
        probe_failed,
        server_cores: (cpu1.0 - cpu0.0) as f64 / hz / wall,
        client_cores: (cpu1.1 - cpu0.1) as f64 / hz / wall,
        machine_cores: (cpu1.2 - cpu0.2) as f64 / hz / wall,
        end,
    };
    for (i, t) in timings.iter().enumerate() {
        let until = timings.get(i + 1).map_or_else(Instant::now, |n| n.signal);
        let h = handoff::handoff(&seen, t.signal, t.old_generation, until)?;
        out.handoff_ms.push(h.as_secs_f64() * 1000.0);
        out.old_exit_ms
            .push((t.old_exit - t.signal).as_secs_f64() * 1000.0);
        out.restarts.push(Restart {
            signal: t.signal.saturating_duration_since(started),
            old_exit: t.old_exit.saturating_duration_since(started),
        });
    }
    Ok(out)
}

/// An open-loop phase measures the server only if the client sent at the intended rate.
fn kept_up(r: &Report, rate: f64) -> Result<()> {
    let sent = r.requests() as f64 / r.elapsed.as_secs_f64();
    anyhow::ensure!(
        sent >= 0.95 * rate,
        "the latency client sent {sent:.0} req/s of the intended {rate:.0}: its latencies would \
         be its own backlog (lower --latency-load)"
    );
    Ok(())
}

/// One restart as seen from outside.
struct Timing {
    signal: Instant,
    old_exit: Instant,
    old_generation: u64,
}

/// SIGUSR1, then waits (bounded) for the old worker to be gone and the new one ready.
fn restart_once(svc: &LocalService) -> Result<Timing> {
    let workers = svc.workers()?;
    let [old] = workers[..] else {
        bail!("expected one worker before a restart, found {workers:?}");
    };
    let (old_generation, ready) = svc.generation()?;
    anyhow::ensure!(ready, "worker not ready before the restart");
    let signal = Instant::now();
    svc.signal(Signal::SIGUSR1)?;
    svc.wait_until("old worker gone", Duration::from_secs(60), || !alive(old))?;
    let old_exit = Instant::now();
    svc.wait_until("new worker ready", Duration::from_secs(60), || {
        svc.generation().is_ok_and(|(g, r)| g > old_generation && r)
    })?;
    Ok(Timing {
        signal,
        old_exit,
        old_generation,
    })
}

/// Whether a process exists and is not a zombie.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
    })
}

/// utime+stime (and, with `children`, cutime+cstime) of a process, in clock ticks.
fn ticks(pid: i32, children: bool) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .context("malformed stat")?
        .1
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse().context("malformed stat field"))
        .collect::<Result<_>>()?;
    anyhow::ensure!(fields.len() == 4, "short /proc/{pid}/stat");
    Ok(fields[0] + fields[1] + if children { fields[2] + fields[3] } else { 0 })
}

/// CPU of the server: the master with its reaped workers, plus the live workers.
fn server_ticks(svc: &LocalService) -> Result<u64> {
    let mut t = ticks(svc.pid()?, true)?;
    for w in svc.workers()? {
        t += match ticks(w, false) {
            Ok(t) => t,
            // Exited between listing and reading: counted in the master's cutime once reaped.
            Err(_) if !alive(w) => 0,
            Err(e) => return Err(e),
        };
    }
    Ok(t)
}

/// Which side limits the throughput, from CPU use over the phase.
fn bottleneck(p: &Phase, client_threads: usize) -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    super::cpu::verdict(&super::cpu::Usage {
        server: p.server_cores,
        client: p.client_cores,
        machine: p.machine_cores,
        client_threads,
        cores,
    })
}

/// A latency percentile of the steady (or handoff) samples of a phase.
fn latency(phase: &Phase, p: f64, steady: bool) -> Result<f64> {
    let r = &phase.restarts;
    let pick = |s: &loadgen::Sample| {
        if steady {
            windows::is_steady(r, WARMUP, s.at)
        } else {
            windows::in_handoff(r, s.at)
        }
    };
    phase.report.percentile_ms(p, pick).with_context(|| {
        format!(
            "no latency sample in {} windows",
            if steady { "steady windows" } else { "handoffs" }
        )
    })
}

/// CPU of this process (the load generator and the probe).
fn self_ticks() -> Result<u64> {
    ticks(std::process::id() as i32, false)
}

/// Completion offsets of the successful requests.
fn completions(r: &Report) -> Vec<Duration> {
    r.samples
        .iter()
        .filter(|s| s.failure.is_none())
        .map(|s| s.at + s.latency)
        .collect()
}

fn ms2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Prints one mode's figures and returns them as JSON.
fn summarize(
    mode: ClientMode,
    tp: &Phase,
    rates: &[windows::SampleRate],
    rate: f64,
    lat: &Phase,
    client_threads: usize,
) -> Result<Value> {
    let ratios: Vec<f64> = rates.iter().map(|r| r.ratio_pct()).collect();
    let steady: Vec<f64> = rates.iter().map(|r| r.steady_rps).collect();
    let restart: Vec<f64> = rates.iter().map(|r| r.restart_rps).collect();
    let (ratio, rmin, rmax) = windows::spread("ratios", &ratios)?;
    let handoffs: Vec<f64> = rates.iter().map(|r| r.handoff_pct()).collect();
    let (hratio, hrmin, hrmax) = windows::spread("handoff ratios", &handoffs)?;
    let (s50, smin, smax) = windows::spread("steady rates", &steady)?;
    let (r50, _, _) = windows::spread("restart rates", &restart)?;
    let (l50s, l99s, l99r) = (
        latency(lat, 50.0, true)?,
        latency(lat, 99.0, true)?,
        latency(lat, 99.0, false)?,
    );
    let all_handoffs: Vec<f64> = tp
        .handoff_ms
        .iter()
        .chain(&lat.handoff_ms)
        .copied()
        .collect();
    let all_exits: Vec<f64> = tp
        .old_exit_ms
        .iter()
        .chain(&lat.old_exit_ms)
        .copied()
        .collect();
    let (h50, _, hmax) = windows::spread("handoffs", &all_handoffs)?;
    let (e50, _, emax) = windows::spread("old worker exits", &all_exits)?;
    let mut kinds = tp.report.failed_by_kind();
    for (k, v) in lat.report.failed_by_kind() {
        *kinds.entry(k).or_default() += v;
    }
    let mut requests = tp.report.requests() + lat.report.requests();
    if let Some(w) = &tp.wrk {
        let [c, r, wr, t] = w.socket_errors;
        for (k, v) in [
            ("wrk_connect", c),
            ("wrk_read", r),
            ("wrk_write", wr),
            ("wrk_timeout", t),
            ("wrk_non_2xx", w.non_2xx),
        ] {
            *kinds.entry(k).or_default() += v;
        }
        requests += w.ok() + w.failed();
    }
    let failed: u64 = kinds.values().sum();
    let mut builds = tp.report.header_values.clone();
    for (k, v) in &lat.report.header_values {
        *builds.entry(k.clone()).or_default() += v;
    }
    let verdict = bottleneck(tp, client_threads);
    println!("== {mode:?}");
    let wrk_n = tp
        .wrk
        .as_ref()
        .map(|w| format!(" + {} (wrk)", w.ok() + w.failed()));
    println!("  requests {} (throughput phase{}){} + {} (latency phase), failed {failed} {kinds:?}, builds answering (loadgen) {builds:?}", tp.report.requests(), if tp.wrk.is_some() { ", loadgen classifier" } else { "" }, wrk_n.unwrap_or_default(), lat.report.requests());
    println!("  throughput steady {s50:.0} req/s (samples {smin:.0}..{smax:.0}), in restart windows (SIGUSR1 to old worker gone + 1 s) {r50:.0} req/s: {ratio:.1}% of steady (samples {rmin:.1}..{rmax:.1}%, target >= 97%)");
    println!("  during the handoffs alone (SIGUSR1 to old worker gone): {hratio:.1}% of steady (samples {hrmin:.1}..{hrmax:.1}%)");
    println!("  latency at {rate:.0} req/s open loop: steady p50 {l50s:.2} ms p99 {l99s:.2} ms, handoffs p99 {l99r:.2} ms");
    println!("  handoff SIGUSR1 -> first response of the new generation p50 {h50:.1} ms max {hmax:.1} ms (target p50 <= 50 ms); -> old worker gone p50 {e50:.1} ms max {emax:.1} ms");
    println!("  CPU during the throughput phase: {verdict}");
    if tp.probe_failed + lat.probe_failed > 0 {
        println!("  probe failures: {}", tp.probe_failed + lat.probe_failed);
    }
    Ok(json!({
        "client_mode": mode,
        "requests": requests,
        "throughput_client": if tp.wrk.is_some() { "wrk" } else { "loadgen" },
        "failed": failed,
        "failed_by_kind": kinds,
        "builds": builds,
        "restarts": tp.restarts.len() + lat.restarts.len(),
        "steady_rps_p50": s50.round(), "steady_rps_min": smin.round(), "steady_rps_max": smax.round(),
        "restart_rps_p50": r50.round(),
        "restart_vs_steady_pct_p50": ms2(ratio), "restart_vs_steady_pct_min": ms2(rmin), "restart_vs_steady_pct_max": ms2(rmax),
        "handoff_vs_steady_pct_p50": ms2(hratio), "handoff_vs_steady_pct_min": ms2(hrmin), "handoff_vs_steady_pct_max": ms2(hrmax),
        "samples": rates,
        "latency_rate_rps": rate.round(),
        "latency_steady_p50_ms": ms2(l50s), "latency_steady_p99_ms": ms2(l99s), "latency_handoff_p99_ms": ms2(l99r),
        "handoff_ms_p50": ms2(h50), "handoff_ms_max": ms2(hmax),
        "old_exit_ms_p50": ms2(e50), "old_exit_ms_max": ms2(emax),
        "probe_failed": tp.probe_failed + lat.probe_failed,
        "server_cores": ms2(tp.server_cores), "client_cores": ms2(tp.client_cores),
        "machine_cores": ms2(tp.machine_cores),
        "bottleneck": verdict,
    }))
}

fn print_memory(memory: &[(usize, Memory)]) {
    for (n, m) in memory {
        println!(
            "master memory after {n} restarts: VmHWM {} KiB, private {} KiB (target private <= 2048 KiB, no growth)",
            m.hwm_kib, m.private_kib
        );
    }
}
