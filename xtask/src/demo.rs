//! `cargo xtask demo`: a live zero-downtime demonstration on this machine. hotel-api runs
//! under its master on 127.0.0.1 with load in both client modes; several graceful restarts
//! happen (the same build, a stamped hotfix build, and a freshly rebuilt binary with another
//! version); the summary shows requests served, failures, versions seen and restart durations.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use console::style;
use indicatif::{ProgressBar, ProgressStyle};
use nix::sys::signal::Signal;

use crate::load::Background;
use crate::service::{self, LocalService};

/// Options of the demo.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Skip the rebuild step (use a stamped build instead).
    #[arg(long)]
    pub no_rebuild: bool,
}

struct Step {
    what: String,
    build: String,
    duration: Duration,
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> Result<()> {
    println!("{} building hotel-api", style("==>").cyan().bold());
    let built = service::build_hotel_api(false, None)?;
    let mut svc = LocalService::start(&built, false, &["--warmup-ms", "300"])?;
    println!(
        "{} hotel-api master pid {} serving on http://{} (admin {})",
        style("==>").cyan().bold(),
        svc.pid(),
        svc.addr,
        svc.admin
    );
    let load = Background::start(
        svc.addr,
        "/search?city=Lisbon&nights=2",
        2,
        Duration::from_secs(600),
    );
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let tick = |bar: &ProgressBar, what: &str| {
        let (req, failed) = loadgen::snapshot(&load.live);
        bar.set_message(format!("{what} | {req} requests, {failed} failed"));
    };
    let mut steps = Vec::new();
    let mut restart =
        |svc: &LocalService, what: &str, build: String, bar: &ProgressBar| -> Result<()> {
            let (gen, _) = svc.generation()?;
            let t0 = Instant::now();
            svc.signal(Signal::SIGUSR1)?;
            svc.wait_until("new worker ready", Duration::from_secs(120), || {
                tick(bar, what);
                svc.generation().is_ok_and(|(g, ready)| g > gen && ready)
            })?;
            let duration = t0.elapsed();
            svc.wait_until("old worker drained", Duration::from_secs(60), || {
                tick(bar, what);
                svc.workers() == 1
            })?;
            bar.println(format!(
                "  {} {what}: new worker ready in {} ms",
                style("✓").green(),
                duration.as_millis()
            ));
            steps.push(Step {
                what: what.into(),
                build,
                duration,
            });
            hold(bar, &load, Duration::from_secs(2));
            Ok(())
        };
    hold(&bar, &load, Duration::from_secs(2));
    let v1 = service::build_id(&svc.bin)?;
    restart(&svc, "restart 1: same build (SIGUSR1)", v1, &bar)?;
    let hotfix = svc.install_stamped("demo-hotfix")?;
    restart(&svc, "restart 2: stamped hotfix build", hotfix, &bar)?;
    let rebuilt = if args.no_rebuild {
        svc.install_stamped("demo-rebuilt")?
    } else {
        bar.println(format!(
            "  {} rebuilding hotel-api with HOTEL_API_RELEASE=demo-rebuilt (load keeps running)",
            style("…").yellow()
        ));
        bar.suspend(|| service::build_hotel_api(false, Some("demo-rebuilt")))
            .and_then(|p| {
                svc.install(&p)?;
                service::build_id(&svc.bin)
            })?
    };
    restart(&svc, "restart 3: freshly rebuilt binary", rebuilt, &bar)?;
    bar.finish_and_clear();
    let reports = load.finish();
    svc.stop()?;

    println!("\n{}", style("Summary").bold().underlined());
    let mut total_failed = 0;
    let mut seen = std::collections::BTreeMap::new();
    for (mode, r) in &reports {
        total_failed += r.failed();
        println!(
            "  {:<15} {:>8} requests  {:>4} failed  {:>7.0} req/s  p99 {:>6.1} ms",
            format!("{mode:?}"),
            r.requests(),
            r.failed(),
            r.throughput(),
            r.percentile_ms(99.0, |_| true).unwrap_or(0.0)
        );
        for (k, v) in &r.header_values {
            *seen.entry(k.clone()).or_insert(0u64) += v;
        }
    }
    println!("  versions seen (build id: requests served):");
    for (k, v) in &seen {
        println!("    {k}: {v}");
    }
    println!("  restarts:");
    for s in &steps {
        println!(
            "    {:<36} -> {:<45} {:>5} ms",
            s.what,
            s.build,
            s.duration.as_millis()
        );
    }
    if total_failed > 0 {
        bail!("{total_failed} requests failed");
    }
    println!(
        "{} zero failed requests across {} graceful restarts",
        style("PASS").green().bold(),
        steps.len()
    );
    Ok(())
}

fn hold(bar: &ProgressBar, load: &Background, d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        let (req, failed) = loadgen::snapshot(&load.live);
        bar.set_message(format!("serving | {req} requests, {failed} failed"));
        std::thread::sleep(Duration::from_millis(100));
    }
}
