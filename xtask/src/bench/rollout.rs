//! `cargo xtask bench rollout`: real rollouts of a stamped hotel-api build to 5, 10 and 20
//! test-bed hosts (network namespaces with their own OpenSSH servers, scripts/testbed.sh).
//! Prints wall time per rollout, mean per-host phase times and SSH logins per host; the last
//! line is JSON with `hosts` and `rollout_s`.

use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, clap::Args)]
pub struct RolloutArgs {
    /// Host counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "5,10,20")]
    hosts: Vec<usize>,
    /// Hosts per batch (after the canary).
    #[arg(long, default_value_t = 5)]
    batch_size: usize,
    /// Hosts deployed at once (>= batch size: time should follow batches, not hosts).
    #[arg(long, default_value_t = 5)]
    parallelism: usize,
    /// ssh (OpenSSH) or native (russh).
    #[arg(long, default_value = "ssh")]
    transport: String,
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

fn run_json(cmd: &mut Command) -> anyhow::Result<(i32, Value)> {
    let out = cmd.output().context("spawn")?;
    let v: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("not JSON: {}", String::from_utf8_lossy(&out.stderr)))?;
    Ok((out.status.code().unwrap_or(-1), v))
}

fn logins(dir: &Path, n: usize) -> anyhow::Result<usize> {
    let mut total = 0;
    for k in 1..=n {
        let log = dir.join(format!("h{k}/sshd.log"));
        let text =
            std::fs::read_to_string(&log).with_context(|| format!("reading {}", log.display()))?;
        total += text
            .lines()
            .filter(|l| l.starts_with("Accepted publickey"))
            .count();
    }
    Ok(total)
}

pub fn run(a: RolloutArgs) -> anyhow::Result<()> {
    let root = repo();
    let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "-q", "-p", "deployctl", "-p", "hotel-api"])
        .current_dir(&root)
        .status()?;
    if !st.success() {
        bail!("cargo build -p deployctl -p hotel-api failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let deployctl = target.join("debug/deployctl");
    let work = tempfile::Builder::new().prefix("dctl-bench").tempdir()?;
    let mut builds = vec![];
    for label in ["bench1", "bench2"] {
        let out = work.path().join(format!("hotel-api-{label}"));
        let st = Command::new(target.join("debug/hotel-api"))
            .args(["stamp", "--label", label, "--out"])
            .arg(&out)
            .status()?;
        if !st.success() {
            bail!("hotel-api stamp failed");
        }
        builds.push(out);
    }
    let size = std::fs::metadata(&builds[1])?.len();
    println!(
        "rollout of a {:.1} MB hotel-api build, transport {}, batch size {}, parallelism {}, canary first",
        size as f64 / 1e6, a.transport, a.batch_size, a.parallelism
    );
    println!(
        "{:>6} {:>8} {:>11} {:>9} {:>9} {:>9} {:>9} {:>9} {:>13}",
        "hosts",
        "batches",
        "rollout_s",
        "netchk+",
        "backup",
        "upload",
        "restart",
        "verify",
        "ssh_logins/h"
    );
    let mut rows = vec![];
    for &n in &a.hosts {
        let name = format!("bench{}n{n}", std::process::id());
        let out = Command::new(root.join("scripts/testbed.sh"))
            .args(["up", &n.to_string(), "--name", &name])
            .output()?;
        let _bed = Bed(name.clone());
        if !out.status.success() {
            bail!("testbed up {n}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string());
        let inv = std::fs::read_to_string(dir.join("deploy.toml"))?
            .replace("transport = \"ssh\"", &format!("transport = \"{}\"", a.transport))
            + &format!("[env.{name}.thresholds]\non_network = \"warn\"\n[env.{name}.rollout]\nbatch_size = {}\nparallelism = {}\ncanary = true\n", a.batch_size, a.parallelism);
        let inv_path = work.path().join(format!("{name}.toml"));
        std::fs::write(&inv_path, inv)?;
        let state = work.path().join(format!("state-{n}"));
        let rollout = |artifact: &Path| {
            run_json(
                Command::new(&deployctl)
                    .arg("-i")
                    .arg(&inv_path)
                    .arg("--state-dir")
                    .arg(&state)
                    .arg("--json")
                    .args(["rollout", "--env", &name, "--artifact"])
                    .arg(artifact),
            )
        };
        let (code, _r) = rollout(&builds[0])?;
        if code != 0 {
            bail!(
                "first install on {n} hosts failed (exit {code}): {}",
                _r["reason"]
            );
        }
        let before = logins(&dir, n)?;
        let t0 = std::time::Instant::now();
        let (code, report) = rollout(&builds[1])?;
        let wall = t0.elapsed().as_secs_f64();
        if code != 0 {
            bail!("rollout to {n} hosts: exit {code}: {}", report["reason"]);
        }
        let per_host = (logins(&dir, n)? - before) as f64 / n as f64;
        let hosts = report["hosts"]
            .as_array()
            .filter(|h| h.len() == n)
            .with_context(|| format!("the report does not list {n} hosts"))?;
        let mean = |phase: &str| -> anyhow::Result<f64> {
            let mut sum = 0.0;
            for h in hosts {
                sum += h["phases_ms"][phase]
                    .as_f64()
                    .with_context(|| format!("host {} has no {phase} time", h["host"]))?;
            }
            Ok(sum / hosts.len() as f64 / 1000.0)
        };
        let mut phases_sum = 0.0;
        for p in [
            "check master",
            "backup",
            "upload",
            "restart",
            "verify",
            "rotate backups",
        ] {
            phases_sum += mean(p)?;
        }
        let batches = report["batches"]
            .as_array()
            .context("the report has no batches")?
            .len();
        let elapsed = report["elapsed_ms"]
            .as_f64()
            .context("the report has no elapsed_ms")?;
        let pre = elapsed / 1000.0 - phases_sum * batches as f64;
        let (backup, upload, restart, verify) = (
            mean("backup")?,
            mean("upload")?,
            mean("restart")?,
            mean("verify")?,
        );
        println!(
            "{n:>6} {batches:>8} {wall:>11.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {per_host:>13.1}",
            pre.max(0.0), backup, upload, restart, verify
        );
        rows.push(json!({"hosts": n, "batches": batches, "rollout_s": wall, "ssh_logins_per_host": per_host,
            "mean_phase_s": {"backup": backup, "upload": upload, "restart": restart, "verify": verify}}));
    }
    println!("(netchk+ = wall time outside the per-host phases: netcheck, connect, detect, lock, audit; phases are means per host)");
    let summary = json!({
        "bench": "rollout",
        "transport": a.transport,
        "batch_size": a.batch_size,
        "parallelism": a.parallelism,
        "artifact_bytes": size,
        "hosts": rows.iter().map(|r| r["hosts"].clone()).collect::<Vec<_>>(),
        "rollout_s": rows.iter().map(|r| r["rollout_s"].clone()).collect::<Vec<_>>(),
        "batches": rows.iter().map(|r| r["batches"].clone()).collect::<Vec<_>>(),
        "ssh_logins_per_host": rows.iter().map(|r| r["ssh_logins_per_host"].clone()).collect::<Vec<_>>(),
        "runs": rows,
    });
    println!("{summary}");
    Ok(())
}
