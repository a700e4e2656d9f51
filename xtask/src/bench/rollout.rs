//! `cargo xtask bench rollout`: real rollouts of a stamped release hotel-api build with the
//! release deployctl to 5, 10, 20 and 50 test-bed hosts (network namespaces with their own
//! OpenSSH servers, scripts/testbed.sh), over each transport. Every size runs 5 batches (a
//! fifth of the hosts each, no canary: like `serial: 20%`), so sizes are comparable. Per size
//! and transport: one untimed warm-up rollout, then `--runs` timed rollouts alternating two
//! builds; the median and spread of the wall time, and where it goes
//! ([`super::rollout_phases`]). The last line is JSON.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::rollout_phases::{self, Breakdown};
use super::windows::spread;

#[derive(Debug, clap::Args)]
pub struct RolloutArgs {
    /// Host counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "5,10,20,50")]
    hosts: Vec<usize>,
    /// Batches per rollout (batch size = hosts / batches, rounded up; parallelism = batch size).
    #[arg(long, default_value_t = 5)]
    batches: usize,
    /// Timed rollouts per size and transport, after one untimed warm-up (>= 3).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Transports: ssh (OpenSSH) and/or native (russh).
    #[arg(long, value_delimiter = ',', default_value = "ssh,native")]
    transports: Vec<String>,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Bed(String);

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/testbed.sh"))
            .args(["down", "--name", &self.0])
            .status();
    }
}

/// Builds deployctl and hotel-api (release) and stamps two distinct hotel-api builds.
fn build(work: &Path) -> Result<(PathBuf, Vec<PathBuf>)> {
    let root = repo();
    let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "-q",
            "--release",
            "-p",
            "deployctl",
            "-p",
            "hotel-api",
        ])
        .current_dir(&root)
        .status()?;
    if !st.success() {
        bail!("cargo build --release -p deployctl -p hotel-api failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let mut builds = vec![];
    for label in ["bench1", "bench2"] {
        let out = work.join(format!("hotel-api-{label}"));
        let st = Command::new(target.join("release/hotel-api"))
            .args(["stamp", "--label", label, "--out"])
            .arg(&out)
            .status()?;
        if !st.success() {
            bail!("hotel-api stamp failed");
        }
        builds.push(out);
    }
    Ok((target.join("release/deployctl"), builds))
}

/// One measured rollout.
struct Run {
    wall_s: f64,
    parts: Breakdown,
}

/// A bed of `n` hosts and what is needed to roll out to it.
struct Target<'a> {
    deployctl: &'a Path,
    dir: PathBuf,
    name: String,
    work: &'a Path,
}

impl Target<'_> {
    /// Writes the inventory for `transport` with `batch` hosts per batch.
    fn inventory(&self, transport: &str, batch: usize) -> Result<PathBuf> {
        let name = &self.name;
        let inv = std::fs::read_to_string(self.dir.join("deploy.toml"))?.replace(
            "transport = \"ssh\"",
            &format!("transport = \"{transport}\""),
        ) + &format!(
            "[env.{name}.thresholds]\non_network = \"warn\"\n[env.{name}.rollout]\n\
                 batch_size = {batch}\nparallelism = {batch}\ncanary = false\n"
        );
        let path = self.work.join(format!("{name}-{transport}.toml"));
        std::fs::write(&path, inv)?;
        Ok(path)
    }

    /// One rollout of `artifact`; fails unless it succeeds.
    fn rollout(&self, inv: &Path, artifact: &Path) -> Result<Run> {
        let spawned = chrono::Utc::now();
        let t0 = std::time::Instant::now();
        let out = Command::new(self.deployctl)
            .arg("-i")
            .arg(inv)
            .arg("--state-dir")
            .arg(self.work.join(format!("state-{}", self.name)))
            .arg("--json")
            .args(["rollout", "--env", &self.name, "--artifact"])
            .arg(artifact)
            .output()
            .context("running deployctl")?;
        let wall_s = t0.elapsed().as_secs_f64();
        let exited = chrono::Utc::now();
        let report: Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("not JSON: {}", String::from_utf8_lossy(&out.stderr)))?;
        if !out.status.success() {
            bail!(
                "rollout to {}: {}: {}",
                self.name,
                out.status,
                report["reason"]
            );
        }
        let log = report["audit_log"]
            .as_str()
            .context("report without audit_log")?;
        let events: Vec<Value> = std::fs::read_to_string(log)
            .with_context(|| format!("reading {log}"))?
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()
            .context("audit log line")?;
        let parts = rollout_phases::breakdown(spawned, exited, &events, &report)?;
        Ok(Run { wall_s, parts })
    }
}

pub fn run(a: RolloutArgs) -> Result<()> {
    anyhow::ensure!(a.runs >= 3, "--runs must be at least 3");
    anyhow::ensure!(a.batches >= 1, "--batches must be at least 1");
    let work = tempfile::Builder::new().prefix("dctl-bench").tempdir()?;
    let (deployctl, builds) = build(work.path())?;
    let size = std::fs::metadata(&builds[1])?.len();
    println!(
        "rollout of a {:.1} MB release hotel-api build (release deployctl), {} batches, no canary, \
         {} timed runs after a warm-up",
        size as f64 / 1e6,
        a.batches,
        a.runs
    );
    println!(
        "{:>9} {:>5} {:>6} {:>16} | {:>7} {:>8} {:>7} {:>7} {:>7} {:>7} | {:>6} {:>7} {:>6}",
        "transport",
        "hosts",
        "batch",
        "wall s (min-max)",
        "startup",
        "netcheck",
        "connect",
        "lock",
        "batches",
        "finish",
        "upload",
        "restart",
        "verify"
    );
    let mut rows = vec![];
    for &n in &a.hosts {
        let name = format!("rb{}n{n}", std::process::id());
        let out = Command::new(repo().join("scripts/testbed.sh"))
            .args(["up", &n.to_string(), "--name", &name])
            .output()?;
        let _bed = Bed(name.clone());
        if !out.status.success() {
            bail!("testbed up {n}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let t = Target {
            deployctl: &deployctl,
            dir,
            name,
            work: work.path(),
        };
        let batch = n.div_ceil(a.batches);
        for transport in &a.transports {
            let inv = t.inventory(transport, batch)?;
            // Warm-up (the first install on a fresh bed, or a redeploy), not timed.
            t.rollout(&inv, &builds[0])?;
            let mut runs = vec![];
            for i in 0..a.runs {
                runs.push(t.rollout(&inv, &builds[(i + 1) % 2])?);
            }
            rows.push(row(transport, n, batch, &runs)?);
        }
    }
    println!(
        "(startup..finish: medians of wall-time parts from the audit log; upload/restart/verify: \
         medians of the sum over batches of each batch's slowest host)"
    );
    println!(
        "{}",
        json!({"bench": "rollout", "artifact_bytes": size, "batches": a.batches, "runs": a.runs, "rows": rows})
    );
    Ok(())
}

/// Prints one table row (medians) and returns it as JSON with every run.
fn row(transport: &str, n: usize, batch: usize, runs: &[Run]) -> Result<Value> {
    let med = |f: &dyn Fn(&Run) -> Result<f64>| -> Result<f64> {
        let v = runs.iter().map(f).collect::<Result<Vec<_>>>()?;
        Ok(spread("runs", &v)?.0)
    };
    let walls: Vec<f64> = runs.iter().map(|r| r.wall_s).collect();
    let (w50, wmin, wmax) = spread("wall times", &walls)?;
    let phase = |p: &'static str| {
        move |r: &Run| -> Result<f64> {
            r.parts
                .slowest_s
                .get(p)
                .copied()
                .with_context(|| format!("no {p} phase"))
        }
    };
    let parts = [
        med(&|r| Ok(r.parts.startup_s))?,
        med(&|r| Ok(r.parts.netcheck_s))?,
        med(&|r| Ok(r.parts.connect_s))?,
        med(&|r| Ok(r.parts.lock_s))?,
        med(&|r| Ok(r.parts.batches_s))?,
        med(&|r| Ok(r.parts.finish_s))?,
    ];
    let (up, rs, ve) = (
        med(&phase("upload"))?,
        med(&phase("restart"))?,
        med(&phase("verify"))?,
    );
    println!(
        "{transport:>9} {n:>5} {batch:>6} {:>16} | {:>7.2} {:>8.2} {:>7.2} {:>7.2} {:>7.2} {:>7.2} | {up:>6.2} {rs:>7.2} {ve:>6.2}",
        format!("{w50:.2} ({wmin:.2}-{wmax:.2})"),
        parts[0], parts[1], parts[2], parts[3], parts[4], parts[5]
    );
    Ok(json!({
        "transport": transport, "hosts": n, "batch_size": batch,
        "wall_s_median": w50, "wall_s_min": wmin, "wall_s_max": wmax,
        "median_s": {"startup": parts[0], "netcheck": parts[1], "connect": parts[2], "lock": parts[3],
            "batches": parts[4], "finish": parts[5], "upload_slowest": up, "restart_slowest": rs, "verify_slowest": ve},
        "runs": runs.iter().map(|r| json!({"wall_s": r.wall_s, "parts": r.parts})).collect::<Vec<_>>(),
    }))
}
