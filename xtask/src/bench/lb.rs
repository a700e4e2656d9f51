//! `cargo xtask bench lb [--kind nginx|haproxy]`: client errors THROUGH a real load balancer on
//! the test bed (1 LB host, 3 app hosts, batches of one) while deployctl changes the fleet:
//! rollout (no LB change), rollout with the opt-in `down_during_restart`, gray 20% -> 50% ->
//! promote, gray -> abort, a host that never becomes ready, the host restored, and (haproxy)
//! one app host's master and workers SIGKILLed. During each scenario, GET /ping and POST
//! /bookings run in keep-alive and new-connection mode (2 clients each); the table shows
//! requests and failures by kind per scenario, method and mode, and the LB changes made. The
//! last line is one JSON object. A scenario whose load did not run fails the benchmark.

use anyhow::{bail, Context};
use loadgen::{ClientMode, LoadConfig, Report};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct LbArgs {
    /// LB kinds to measure.
    #[arg(long, value_delimiter = ',', default_value = "nginx,haproxy")]
    kind: Vec<String>,
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

/// Paths and names of one kind's run.
struct Ctx {
    deployctl: PathBuf,
    dir: PathBuf,
    work: PathBuf,
    env: String,
    hosts: Vec<(String, String)>,
    kind: String,
}

impl Ctx {
    fn inventory(&self, artifact: &Path, extra_lb: &str) -> anyhow::Result<PathBuf> {
        let mut t = format!(
            "[artifact]\nbinary = \"{}\"\nname = \"hotel-api\"\n\
             [remote]\ninstall_dir = \"/srv/hotel\"\nbackup_dir = \"/srv/hotel/backups\"\nkeep_backups = 3\n\
             [service]\npid_file = \"/srv/hotel/run/hotel-api.pid\"\nport = 8080\nadmin = \"127.0.0.1:9901\"\nadmin_token_file = \"/srv/admin.token\"\n\
             args = [\"--listen\", \"0.0.0.0:{{port}}\", \"--data-dir\", \"{{install_dir}}/data\", \"--pid-file\", \"{{pid_file}}\", \"--ready-timeout\", \"3s\", \"--grace\", \"2s\", \"--admin\", \"127.0.0.1:9901\", \"--admin-token-file\", \"/srv/admin.token\"]\n\
             [health]\ntimeout_s = 20\ninterval_ms = 100\n\
             [thresholds]\nfailure_tolerance = 1\non_network = \"warn\"\n\
             [rollout]\nbatch_size = 1\nparallelism = 1\ncanary = true\n\
             [env.{env}]\ntransport = \"ssh\"\nknown_hosts = \"{kh}\"\nidentity = \"{id}\"\nhosts = [\n",
            artifact.display(),
            env = self.env,
            kh = self.dir.join("known_hosts").display(),
            id = self.dir.join("id_ed25519").display(),
        );
        for (k, (name, addr)) in self.hosts.iter().enumerate() {
            let role = if k == 0 { "lb" } else { "app" };
            t.push_str(&format!(
                "  {{ name = \"{name}\", address = \"{addr}\", roles = [\"{role}\"], gray = {} }},\n",
                k == 3
            ));
        }
        t.push_str(&format!(
            "]\n[env.{}.lb]\nkind = \"{}\"\nsplit_key = \"$http_x_client\"\n{extra_lb}\n",
            self.env, self.kind
        ));
        let p = self
            .work
            .join(format!("{}-{}.toml", self.kind, extra_lb.len()));
        std::fs::write(&p, t)?;
        Ok(p)
    }

    fn deployctl(&self, inv: &Path, args: &[&str]) -> anyhow::Result<(i32, Value)> {
        let out = Command::new(&self.deployctl)
            .arg("-i")
            .arg(inv)
            .arg("--state-dir")
            .arg(self.work.join("state"))
            .arg("--json")
            .args(args)
            .output()
            .context("run deployctl")?;
        let v: Value = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "deployctl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        Ok((out.status.code().unwrap_or(-1), v))
    }

    /// LB changes recorded by run `v`.
    fn lb_changes(&self, v: &Value) -> anyhow::Result<usize> {
        let run = v["run_id"].as_str().context("report without run_id")?;
        let audit = std::fs::read_to_string(self.work.join(format!("state/audit/{run}.jsonl")))?;
        Ok(audit
            .lines()
            .filter(|l| l.contains("\"step\":\"lb config\""))
            .count())
    }

    /// haproxy: `show stat` status of every server of the stable backend.
    fn haproxy_states(&self) -> anyhow::Result<Vec<(String, String)>> {
        use std::io::{Read, Write};
        let sock = self.dir.join("h1/srv/haproxy/haproxy.sock");
        let mut s = std::os::unix::net::UnixStream::connect(&sock)
            .with_context(|| format!("{}", sock.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"show stat\n")?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        let mut lines = out.lines();
        let head: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        let col = head
            .iter()
            .position(|c| *c == "status")
            .context("show stat without status")?;
        Ok(lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|f| f.len() > col && f[0] == "deployctl_stable" && f[1] != "BACKEND")
            .map(|f| (f[1].to_string(), f[col].to_string()))
            .collect())
    }

    /// haproxy: wait (<= 40 s) until every server in rotation passed its checks.
    fn wait_up(&self) -> anyhow::Result<()> {
        let t0 = Instant::now();
        if self.kind != "haproxy" {
            return Ok(());
        }
        loop {
            let st = self.haproxy_states()?;
            if st.iter().all(|s| s.1 == "UP" || s.1.starts_with("MAINT")) {
                return Ok(());
            }
            if t0.elapsed() > Duration::from_secs(40) {
                bail!("haproxy servers not UP: {st:?}");
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// The four client kinds, until `stop`.
fn mix(
    rt: &tokio::runtime::Runtime,
    lb: &str,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Vec<(String, tokio::task::JoinHandle<Report>)>> {
    let target = format!("{lb}:80").parse()?;
    let mut v = vec![];
    for mode in [ClientMode::KeepAlive, ClientMode::NewConnection] {
        for post in [false, true] {
            let mut c = if post {
                LoadConfig::bookings(target, mode)
            } else {
                LoadConfig::new(target, "/ping", mode)
            };
            c.concurrency = 2;
            c.max_duration = Duration::from_secs(300);
            let mode_name = match mode {
                ClientMode::KeepAlive => "keep-alive",
                ClientMode::NewConnection => "new-conn",
            };
            let label = format!("{} {mode_name}", c.method.name());
            v.push((
                label,
                rt.spawn(loadgen::run(c, stop.clone(), Default::default())),
            ));
        }
    }
    Ok(v)
}

/// Run `f` under the mix; print and return the scenario's rows.
fn scenario(
    ctx: &Ctx,
    name: &str,
    f: impl FnOnce() -> anyhow::Result<(usize, String)>,
) -> anyhow::Result<Value> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let runs = mix(&rt, &ctx.hosts[0].1, &rx)?;
    std::thread::sleep(Duration::from_millis(500));
    let res = f();
    std::thread::sleep(Duration::from_millis(500));
    tx.send(true)?;
    let (changes, note) = res?;
    let mut rows = serde_json::Map::new();
    for (label, h) in runs {
        let r = rt.block_on(h)?;
        if r.requests() == 0 {
            bail!("{} {name}: no {label} request ran", ctx.kind);
        }
        let by = r.failed_by_kind();
        println!(
            "{:<8} {:<22} {:<15} {:>8} {:>7} {:>7} {:>5} {:>5} {:>7} {:>7} {:>9} {:>5}  {note}",
            ctx.kind,
            name,
            label,
            r.requests(),
            r.failed(),
            by["connect"],
            by["write"],
            by["read"],
            by["timeout"],
            by["non_2xx"],
            by["truncated"],
            changes
        );
        rows.insert(
            label,
            json!({"requests": r.requests(), "errors": r.failed(), "by_kind": by}),
        );
    }
    Ok(json!({"lb_changes": changes, "note": note, "clients": rows}))
}

/// Pids of the master in `pid_file` and its children.
fn master_and_workers(pid_file: &Path) -> anyhow::Result<Vec<i32>> {
    let pid: i32 = std::fs::read_to_string(pid_file)?.trim().parse()?;
    let mut v = vec![pid];
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))?.flatten() {
        let kids = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
        for p in kids.split_whitespace() {
            v.push(p.parse()?);
        }
    }
    Ok(v)
}

fn ok(code: i32, want: i32, v: &Value, what: &str) -> anyhow::Result<()> {
    if code != want {
        bail!("{what}: exit {code}, expected {want}: {}", v["reason"]);
    }
    Ok(())
}

/// Every scenario for one kind on a fresh bed.
fn kind_run(ctx: &Ctx, v1: &Path, v2: &Path, broken: &Path) -> anyhow::Result<Value> {
    let inv = ctx.inventory(v1, "")?;
    let inv_down = ctx.inventory(v1, "down_during_restart = true")?;
    let (code, v) = ctx.deployctl(&inv, &["rollout", "--env", &ctx.env])?;
    ok(code, 0, &v, "install")?;
    ctx.wait_up()?;
    let env = ctx.env.as_str();
    let s = |p: &Path| p.to_str().unwrap_or_default().to_string();
    let (p1, p2, pb) = (s(v1), s(v2), s(broken));
    let mut out = serde_json::Map::new();
    let mut step = |name: &str, inv: &Path, args: Vec<&str>, want: i32| -> anyhow::Result<()> {
        let row = scenario(ctx, name, || {
            let (code, v) = ctx.deployctl(inv, &args)?;
            ok(code, want, &v, name)?;
            ctx.wait_up()?;
            Ok((ctx.lb_changes(&v)?, String::new()))
        })?;
        out.insert(name.to_string(), row);
        Ok(())
    };
    step(
        "rollout",
        &inv,
        vec!["rollout", "--env", env, "--artifact", &p2],
        0,
    )?;
    step(
        "rollout-down-marking",
        &inv_down,
        vec!["rollout", "--env", env, "--artifact", &p1],
        0,
    )?;
    step(
        "gray-20",
        &inv,
        vec!["gray", "--env", env, "--percent", "20", "--artifact", &p2],
        0,
    )?;
    step(
        "gray-50",
        &inv,
        vec!["gray", "--env", env, "--percent", "50", "--artifact", &p2],
        0,
    )?;
    step(
        "promote",
        &inv,
        vec!["promote", "--env", env, "--artifact", &p2],
        0,
    )?;
    step(
        "gray-20-again",
        &inv,
        vec!["gray", "--env", env, "--percent", "20", "--artifact", &p1],
        0,
    )?;
    step("gray-abort", &inv, vec!["gray", "--env", env, "--abort"], 0)?;
    step(
        "never-ready-host",
        &inv,
        vec!["rollout", "--env", env, "--artifact", &pb],
        3,
    )?;
    step(
        "host-restored",
        &inv,
        vec!["rollout", "--env", env, "--artifact", &p1],
        0,
    )?;
    if ctx.kind == "haproxy" {
        let victim = ctx.hosts[3].0.clone();
        let row = scenario(ctx, "host-kill", || {
            let pids = master_and_workers(&ctx.dir.join("h4/srv/hotel/run/hotel-api.pid"))?;
            let t0 = Instant::now();
            for p in &pids {
                // SAFETY: kill(2) on pids just read from the bed host's master pid file.
                if unsafe { libc_kill(*p) } != 0 {
                    bail!("kill {p}: {}", std::io::Error::last_os_error());
                }
            }
            loop {
                let st = ctx.haproxy_states()?;
                if st.iter().any(|s| s.0 == victim && s.1.starts_with("DOWN")) {
                    let t = t0.elapsed().as_secs_f64();
                    return Ok((0, format!("out of rotation {t:.1} s after the kill")));
                }
                if t0.elapsed() > Duration::from_secs(30) {
                    bail!("killed host still in rotation after 30 s: {st:?}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })?;
        out.insert("host-kill".into(), row);
    }
    Ok(Value::Object(out))
}

unsafe fn libc_kill(pid: i32) -> i32 {
    // SAFETY: the caller passes a pid it just read; kill(2) has no memory effects.
    unsafe { nix::libc::kill(pid, nix::libc::SIGKILL) }
}

pub fn run(a: LbArgs) -> anyhow::Result<()> {
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
    let work = tempfile::Builder::new().prefix("dctl-bench-lb").tempdir()?;
    let mut builds = vec![];
    for label in ["lb1", "lb2"] {
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
    println!(
        "{:<8} {:<22} {:<15} {:>8} {:>7} {:>7} {:>5} {:>5} {:>7} {:>7} {:>9} {:>5}",
        "lb",
        "scenario",
        "client",
        "requests",
        "errors",
        "connect",
        "write",
        "read",
        "timeout",
        "non_2xx",
        "truncated",
        "lb_ch"
    );
    let mut all = serde_json::Map::new();
    for kind in &a.kind {
        if kind != "nginx" && kind != "haproxy" {
            bail!("--kind {kind}: nginx or haproxy");
        }
        let env = format!("lb{}{kind}", std::process::id());
        let out = Command::new(root.join("scripts/testbed.sh"))
            .args(["up", "4", "--name", &env])
            .output()?;
        let _bed = Bed(env.clone());
        if !out.status.success() {
            bail!("testbed up: {}", String::from_utf8_lossy(&out.stderr));
        }
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string());
        let hosts = std::fs::read_to_string(dir.join("hosts"))?
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[0].to_string(), f[1].to_string())
            })
            .collect::<Vec<_>>();
        let work_k = work.path().join(kind);
        std::fs::create_dir_all(&work_k)?;
        let broken = work_k.join("never-ready");
        std::fs::write(
            &broken,
            format!(
                "#!/bin/sh\ncase \"$(hostname)\" in {}) [ \"$1\" = version ] || exec sleep 600;; esac\nexec {} \"$@\"\n",
                hosts[3].0,
                builds[1].display()
            ),
        )?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755))?;
        let ctx = Ctx {
            deployctl: target.join("debug/deployctl"),
            dir,
            work: work_k,
            env,
            hosts,
            kind: kind.clone(),
        };
        all.insert(
            kind.clone(),
            kind_run(&ctx, &builds[0], &builds[1], &broken)?,
        );
    }
    println!("{}", Value::Object(all));
    Ok(())
}
