//! Crash-gap benchmark: SIGKILL the worker every few seconds under load (new connection per
//! request, so every request needs the accept queue) and measure crash-to-serving time and
//! refused connections.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::json;

use crate::load::Background;
use crate::service::{self, LocalService};

/// Options.
#[derive(Debug, clap::Args)]
pub struct CrashArgs {
    /// Number of crashes.
    #[arg(long, default_value_t = 10)]
    pub crashes: u32,
    /// Pause between crashes.
    #[arg(long, default_value = "2s", value_parser = runtime::cli::parse_duration)]
    pub every: Duration,
    /// Simulated warm-up of the service (added to crash-to-serving).
    #[arg(long, default_value_t = 0)]
    pub warmup_ms: u64,
    /// Use the debug build.
    #[arg(long)]
    pub debug: bool,
}

/// Runs the benchmark.
pub fn run(a: CrashArgs) -> Result<()> {
    let bin = service::build_hotel_api(!a.debug, None)?;
    let warm = a.warmup_ms.to_string();
    // A worker up for 1 s counts as stable, so every crash here is repaired without backoff.
    let mut svc =
        LocalService::start(&bin, false, &["--warmup-ms", &warm, "--stable-after", "1s"])?;
    let load = Background::start(svc.addr, "/ping", 2, Duration::from_secs(3600));
    std::thread::sleep(Duration::from_secs(1));
    let mut gaps = Vec::new();
    for i in 0..a.crashes {
        let (pid, gen) = current_worker(&svc)?;
        let t0 = Instant::now();
        kill(Pid::from_raw(pid), Signal::SIGKILL).context("SIGKILL to the worker")?;
        svc.wait_until("replacement serving", Duration::from_secs(60), || {
            svc.generation().is_ok_and(|(g, r)| g > gen && r)
        })?;
        gaps.push(t0.elapsed().as_secs_f64() * 1000.0);
        eprintln!(
            "  crash {}: serving again after {:.1} ms",
            i + 1,
            gaps[gaps.len() - 1]
        );
        std::thread::sleep(a.every);
    }
    let reports = load.finish()?;
    svc.stop()?;
    let mut all = loadgen::Report::default();
    for (_, r) in reports {
        all.merge(r);
    }
    let by_kind = all.failed_by_kind();
    let refused = *by_kind.get("connect").context("no connect failure count")?;
    let (p50, max) = super::p50_max("crash-to-serving times", &gaps)?;
    println!(
        "crashes {} | requests {} | failed {} {:?}",
        a.crashes,
        all.requests(),
        all.failed(),
        by_kind
    );
    println!("refused connections {refused} (target 0)");
    println!(
        "crash-to-serving p50 {p50:.1} ms max {max:.1} ms (target <= 100 ms + warm-up {} ms)",
        a.warmup_ms
    );
    if let Some(e) = all.first_errors.values().next() {
        println!("first error seen: {e}");
    }
    println!(
        "{}",
        json!({
            "crashes": a.crashes,
            "requests": all.requests(),
            "refused": refused,
            "failed": all.failed(),
            "failed_by_kind": by_kind,
            "crash_to_serving_ms_p50": (p50 * 100.0).round() / 100.0,
            "crash_to_serving_ms_max": (max * 100.0).round() / 100.0,
            "warmup_ms": a.warmup_ms,
        })
    );
    Ok(())
}

/// The current worker's pid and generation from the master's `/status`. The pid must be one
/// of this master's live children: anything else (missing, 0, 1, a stranger) is refused
/// rather than signalled.
fn current_worker(svc: &LocalService) -> Result<(i32, u64)> {
    let s = svc.status()?;
    let pid = s["current"]["pid"]
        .as_i64()
        .context("/status has no current worker pid")?;
    let gen = s["current"]["generation"]
        .as_u64()
        .context("/status has no current worker generation")?;
    let children = svc.workers()?;
    check_worker_pid(pid, &children)?;
    Ok((pid as i32, gen))
}

/// Refuses any pid that is not a live child of the service's master.
fn check_worker_pid(pid: i64, children: &[i32]) -> Result<()> {
    if pid <= 1 || !children.iter().any(|c| i64::from(*c) == pid) {
        bail!("refusing to signal pid {pid}: not a live worker of this service (children {children:?})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_live_child_of_the_master_may_be_signalled() {
        use super::check_worker_pid;
        assert!(check_worker_pid(0, &[0]).is_err());
        assert!(check_worker_pid(1, &[1]).is_err());
        assert!(check_worker_pid(-1, &[]).is_err());
        assert!(check_worker_pid(4242, &[4243]).is_err());
        assert!(check_worker_pid(4242, &[7, 4242]).is_ok());
    }
}
