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

use super::cpu::{clock_ticks, machine_ticks};
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
    /// Cores busy on the whole machine (controller and every bed host share it), on average.
    machine_cores: f64,
    /// CPU seconds of deployctl and the children it reaped (ssh clients).
    controller_cpu_s: f64,
}

/// CPU seconds used by reaped children of this process so far.
fn children_cpu_s() -> Result<f64> {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    anyhow::ensure!(rc == 0, "getrusage: {}", std::io::Error::last_os_error());
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(tv(ru.ru_utime) + tv(ru.ru_stime))
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
        let (busy0, own0) = (machine_ticks()?, children_cpu_s()?);
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
        let machine_cores = (machine_ticks()? - busy0) as f64 / clock_ticks()? / wall_s;
        let controller_cpu_s = children_cpu_s()? - own0;
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
        Ok(Run {
            wall_s,
            parts,
            machine_cores,
            controller_cpu_s,
        })
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
        "{:>9} {:>5} {:>6} {:>16} | {:>7} {:>8} {:>7} {:>5} {:>5} {:>7} {:>6} {:>5} | {:>6} {:>7} {:>6} | {:>5} {:>7}",
        "transport",
        "hosts",
        "batch",
        "wall s (min-max)",
        "startup",
        "netcheck",
        "connect",
        "gate",
        "lock",
        "batches",
        "finish",
        "fixed",
        "upload",
        "restart",
        "verify",
        "cores",
        "ctl cpu"
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
        "(medians. startup..finish: wall-time parts from the audit log; netcheck (slowest host) \
         and connect (all hosts) overlap inside gate, which ends when roles are known; fixed = \
         startup + gate + lock + finish. upload/restart/verify: sum over batches of each batch's \
         slowest host. cores: CPU busy on the whole machine, bed hosts included; ctl cpu: CPU \
         seconds of deployctl and its ssh clients)"
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
    let p = |f: fn(&Breakdown) -> f64| med(&|r| Ok(f(&r.parts)));
    let parts = [
        p(|b| b.startup_s)?,
        p(|b| b.netcheck_s)?,
        p(|b| b.connect_s)?,
        p(|b| b.gate_s)?,
        p(|b| b.lock_s)?,
        p(|b| b.batches_s)?,
        p(|b| b.finish_s)?,
        p(|b| b.startup_s + b.gate_s + b.lock_s + b.finish_s)?,
    ];
    let (up, rs, ve) = (
        med(&phase("upload"))?,
        med(&phase("restart"))?,
        med(&phase("verify"))?,
    );
    let cores = med(&|r| Ok(r.machine_cores))?;
    let ctl = med(&|r| Ok(r.controller_cpu_s))?;
    let [st, nc, co, ga, lo, ba, fi, fx] = parts;
    println!(
        "{transport:>9} {n:>5} {batch:>6} {:>16} | {st:>7.2} {nc:>8.2} {co:>7.2} {ga:>5.2} {lo:>5.2} {ba:>7.2} {fi:>6.2} {fx:>5.2} | {up:>6.2} {rs:>7.2} {ve:>6.2} | {cores:>5.2} {ctl:>7.2}",
        format!("{w50:.2} ({wmin:.2}-{wmax:.2})"),
    );
    Ok(json!({
        "transport": transport, "hosts": n, "batch_size": batch,
        "wall_s_median": w50, "wall_s_min": wmin, "wall_s_max": wmax,
        "median_s": {"startup": st, "netcheck": nc, "connect": co, "gate": ga, "lock": lo,
            "batches": ba, "finish": fi, "fixed": fx, "upload_slowest": up, "restart_slowest": rs,
            "verify_slowest": ve, "controller_cpu": ctl},
        "machine_cores_median": cores,
        "runs": runs.iter().map(|r| json!({"wall_s": r.wall_s, "parts": r.parts,
            "machine_cores": r.machine_cores, "controller_cpu_s": r.controller_cpu_s})).collect::<Vec<_>>(),
    }))
}
