//! A local hotel-api under its master, for the demo and the benchmarks: started from a copy of
//! the binary in a temporary directory (so it can be replaced), stopped by pid.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Builds hotel-api with cargo (`release` or debug) and returns the binary path.
pub fn build_hotel_api(release: bool, label_env: Option<&str>) -> Result<PathBuf> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["build", "-p", "hotel-api"]);
    if release {
        cmd.arg("--release");
    }
    match label_env {
        Some(l) => cmd.env("HOTEL_API_RELEASE", l),
        None => cmd.env_remove("HOTEL_API_RELEASE"),
    };
    let st = cmd.status().context("running cargo build")?;
    if !st.success() {
        bail!("cargo build -p hotel-api failed");
    }
    let root = workspace_root();
    Ok(root
        .join("target")
        .join(if release { "release" } else { "debug" })
        .join("hotel-api"))
}

/// Builds a workspace binary (debug) and returns its path.
pub fn build_package(name: &str) -> Result<PathBuf> {
    let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "-p", name])
        .status()
        .context("running cargo build")?;
    if !st.success() {
        bail!("cargo build -p {name} failed");
    }
    Ok(workspace_root().join("target/debug").join(name))
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A free loopback port.
/// Writes a random admin token (32 hex digits from /dev/urandom) to `path`, created with
/// mode 0600: the master's `--admin-token-file` and deployctl's `service.admin_token_file`.
pub fn write_admin_token(path: &Path) -> Result<()> {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let mut raw = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .context("read /dev/urandom")?;
    let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(token.as_bytes()))
        .with_context(|| format!("write admin token {}", path.display()))
}

pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A running hotel-api (master mode unless `bare`).
pub struct LocalService {
    _dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub log: PathBuf,
    child: Option<Child>,
}

impl LocalService {
    /// Copies `source` into a temporary directory and starts it.
    pub fn start(source: &Path, bare: bool, extra: &[&str]) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("hotel-api-").tempdir()?;
        let bin = dir.path().join("hotel-api");
        std::fs::copy(source, &bin).with_context(|| format!("copying {}", source.display()))?;
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let log = dir.path().join("service.log");
        let mut cmd = Command::new(&bin);
        cmd.arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(dir.path().join("data"));
        if bare {
            cmd.args(["--mode", "worker"]);
        } else {
            cmd.arg("--admin")
                .arg(admin.to_string())
                .args(["--ready-interval", "100ms"]);
        }
        cmd.args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?);
        let child = cmd.spawn().context("starting hotel-api")?;
        let mut svc = LocalService {
            _dir: dir,
            addr,
            admin,
            log,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while svc.http_status("/ready") != Some(200) {
            if let Some(st) = svc.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let log = std::fs::read_to_string(&svc.log).unwrap_or_default();
                bail!("hotel-api exited during start-up ({st}):\n{log}");
            }
            if Instant::now() > deadline {
                bail!(
                    "hotel-api not ready after 60 s (log: {})",
                    svc.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(svc)
    }

    /// Pid of the process started (the master unless bare); an error once it was stopped.
    pub fn pid(&self) -> Result<i32> {
        let child = self.child.as_ref().context("hotel-api is not running")?;
        i32::try_from(child.id()).context("pid out of range")
    }

    pub fn signal(&self, sig: Signal) -> Result<()> {
        kill(Pid::from_raw(self.pid()?), sig).context("signalling hotel-api")
    }

    /// Status code of GET `path` on the public address.
    pub fn http_status(&self, path: &str) -> Option<u16> {
        block_on(runtime::master::probe::get(
            self.addr,
            path,
            Duration::from_secs(5),
        ))
        .ok()
        .map(|r| r.status)
    }

    /// The master's `/status`.
    pub fn status(&self) -> Result<serde_json::Value> {
        let r = block_on(runtime::master::probe::get(
            self.admin,
            "/status",
            Duration::from_secs(10),
        ))?;
        Ok(serde_json::from_str(&r.body)?)
    }

    /// Current generation and whether it is ready (from the cheap `/metrics` gauges).
    pub fn generation(&self) -> Result<(u64, bool)> {
        let r = block_on(runtime::master::probe::get(
            self.admin,
            "/metrics",
            Duration::from_secs(10),
        ))?;
        let gauge = |name: &str| {
            r.body
                .lines()
                .find_map(|l| {
                    l.strip_prefix(name)?
                        .strip_prefix(' ')?
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
                .with_context(|| format!("gauge {name} missing from /metrics"))
        };
        Ok((
            gauge("hotel_be_worker_generation")? as u64,
            gauge("hotel_be_worker_ready")? == 1.0,
        ))
    }

    /// Pids of the master's live children (from `/proc/PID/task/PID/children`, cheap to
    /// poll); zombies are not counted.
    pub fn workers(&self) -> Result<Vec<i32>> {
        let pid = self.pid()?;
        let path = format!("/proc/{pid}/task/{pid}/children");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        Ok(text
            .split_whitespace()
            .filter(|c| is_live(c))
            .filter_map(|c| c.parse().ok())
            .collect())
    }

    /// The master's memory: peak resident set and private (not shared) memory.
    pub fn memory(&self) -> Result<Memory> {
        Memory::of(self.pid()?)
    }

    /// Polls `cond` every 10 ms until true or `limit` passes.
    pub fn wait_until(
        &self,
        what: &str,
        limit: Duration,
        mut cond: impl FnMut() -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + limit;
        while !cond() {
            if Instant::now() > deadline {
                bail!(
                    "timed out after {limit:?} waiting for {what} (log: {})",
                    self.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// SIGTERM, then waits (bounded) for the exit; SIGKILL if it does not come.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(40);
        while child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("hotel-api did not exit within 40 s of SIGTERM; killed");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for LocalService {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Memory of one process, in KiB.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Memory {
    /// `VmHWM` of `/proc/PID/status`: peak resident set.
    pub hwm_kib: u64,
    /// `Private_Clean + Private_Dirty` of `/proc/PID/smaps_rollup`: memory no other process
    /// shares (shared library pages excluded).
    pub private_kib: u64,
}

impl Memory {
    /// Reads both figures; any missing field is an error, never 0.
    pub fn of(pid: i32) -> Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
            .with_context(|| format!("reading /proc/{pid}/smaps_rollup"))?;
        Ok(Memory {
            hwm_kib: kib_field(&status, "VmHWM:")?,
            private_kib: kib_field(&rollup, "Private_Clean:")?
                + kib_field(&rollup, "Private_Dirty:")?,
        })
    }
}

/// The `NAME: N kB` value of a /proc file.
fn kib_field(text: &str, name: &str) -> Result<u64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .with_context(|| format!("{name} missing or unreadable"))
}

/// Runs a future to completion on a small current-thread runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

/// Whether `/proc/PID` exists and is not a zombie.
fn is_live(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| !r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_of_this_process_is_read_and_a_missing_field_is_an_error() {
        let m = Memory::of(std::process::id() as i32).unwrap();
        assert!(m.hwm_kib > 0 && m.private_kib > 0, "{m:?}");
        assert!(kib_field("VmRSS:  12 kB\n", "VmHWM:").is_err());
        assert_eq!(kib_field("VmHWM:\t 34 kB\n", "VmHWM:").unwrap(), 34);
        assert!(Memory::of(i32::MAX).is_err());
    }
}
