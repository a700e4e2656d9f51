//! wrk (the C load generator, far cheaper per request than loadgen) as the throughput client
//! of `bench restart`: `--connections` connections on its own threads, keep-alive or a new
//! connection per request (`Connection: close`). A Lua script (`wrk_bins.lua`) counts 2xx
//! responses per 10 ms of `CLOCK_MONOTONIC` (the clock of [`Instant`]) and every other status
//! apart; wrk's own summary gives its socket errors by kind. wrk runs until SIGINT, then prints.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use loadgen::ClientMode;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const SCRIPT: &str = include_str!("wrk_bins.lua");

/// A running wrk.
pub struct Wrk {
    child: Child,
    _script: tempfile::TempPath,
    /// wrk's stdout (a file: its per-bin lines outgrow a pipe's buffer).
    out: tempfile::NamedTempFile,
    /// When it was started, and `CLOCK_MONOTONIC` then (ns).
    pub started: Instant,
    started_mono_ns: u128,
}

/// What wrk counted.
#[derive(Debug, Default)]
pub struct WrkReport {
    /// 2xx responses per 10 ms bin since the start.
    pub ok_per_bin: Vec<u64>,
    /// Responses with another status.
    pub non_2xx: u64,
    /// Socket errors: connect, read, write, timeout.
    pub socket_errors: [u64; 4],
}

impl WrkReport {
    /// Every 2xx response counted.
    pub fn ok(&self) -> u64 {
        self.ok_per_bin.iter().sum()
    }

    /// Non-2xx responses plus socket errors.
    pub fn failed(&self) -> u64 {
        self.non_2xx + self.socket_errors.iter().sum::<u64>()
    }
}

/// `CLOCK_MONOTONIC` now, in ns (the clock wrk's script reads).
fn monotonic_ns() -> Result<u128> {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    anyhow::ensure!(
        rc == 0,
        "clock_gettime: {}",
        std::io::Error::last_os_error()
    );
    Ok(t.tv_sec as u128 * 1_000_000_000 + t.tv_nsec as u128)
}

impl Wrk {
    /// Starts wrk against `http://addr{path}`.
    pub fn start(
        addr: SocketAddr,
        path: &str,
        mode: ClientMode,
        connections: usize,
        threads: usize,
    ) -> Result<Wrk> {
        let script = tempfile::Builder::new()
            .prefix("wrk-bins")
            .suffix(".lua")
            .tempfile()?;
        std::fs::write(script.path(), SCRIPT)?;
        let script = script.into_temp_path();
        let mut cmd = Command::new("wrk");
        cmd.args(["-t", &threads.to_string(), "-c", &connections.to_string()])
            .args(["-d", "3600s", "--timeout", "10s", "-s"])
            .arg(&*script);
        if mode == ClientMode::NewConnection {
            cmd.args(["-H", "Connection: close"]);
        }
        let out = tempfile::NamedTempFile::new()?;
        cmd.arg(format!("http://{addr}{path}"))
            .stdin(Stdio::null())
            .stdout(out.reopen()?)
            .stderr(Stdio::piped());
        let started_mono_ns = monotonic_ns()?;
        let started = Instant::now();
        let child = cmd
            .spawn()
            .context("starting wrk (scripts/install-deps.sh installs it)")?;
        Ok(Wrk {
            child,
            _script: script,
            out,
            started,
            started_mono_ns,
        })
    }

    /// wrk's pid (its CPU is the client's).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// SIGINT to wrk's main thread (which sleeps out the duration: a SIGINT taken by another
    /// thread would stop the load but leave it asleep), then its output (bounded: 30 s).
    pub fn finish(mut self) -> Result<WrkReport> {
        let pid = self.pid();
        // SAFETY: tgkill only sends a signal; the main thread's id is the process id.
        let rc = unsafe { libc::syscall(libc::SYS_tgkill, pid, pid, libc::SIGINT) };
        anyhow::ensure!(rc == 0, "tgkill wrk: {}", std::io::Error::last_os_error());
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(st) = self.child.try_wait()? {
                break st;
            }
            if Instant::now() > deadline {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                let _ = self.child.wait();
                bail!("wrk did not exit within 30 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = std::fs::read_to_string(self.out.path()).context("reading wrk's output")?;
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_string(&mut err)?;
        }
        if !status.success() {
            bail!("wrk failed ({status}): {err}");
        }
        parse(&out, self.started_mono_ns)
    }
}

/// Reads the script's `zdbin BIN COUNT` / `zdbad N` lines and wrk's socket-error line.
fn parse(out: &str, started_mono_ns: u128) -> Result<WrkReport> {
    let first_bin = started_mono_ns / 10_000_000;
    let mut r = WrkReport::default();
    let mut threads = 0;
    for line in out.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("zdbin") => {
                let bin: u128 = f.next().context("zdbin without bin")?.parse()?;
                let n: u64 = f.next().context("zdbin without count")?.parse()?;
                let i = bin
                    .checked_sub(first_bin)
                    .context("a bin before the start")? as usize;
                if r.ok_per_bin.len() <= i {
                    r.ok_per_bin.resize(i + 1, 0);
                }
                r.ok_per_bin[i] += n;
            }
            Some("zdbad") => {
                r.non_2xx += f.next().context("zdbad without count")?.parse::<u64>()?;
                threads += 1;
            }
            _ => {}
        }
        if let Some(rest) = line.trim().strip_prefix("Socket errors:") {
            r.socket_errors = socket_errors(rest)?;
        }
    }
    if threads == 0 {
        bail!("wrk printed no counts (did the Lua script run?): {out}");
    }
    if r.ok() == 0 {
        bail!("wrk counted no successful response: {out}");
    }
    Ok(r)
}

/// "connect 0, read 3, write 0, timeout 0".
fn socket_errors(s: &str) -> Result<[u64; 4]> {
    let mut out = [0u64; 4];
    for (i, (part, name)) in s
        .split(',')
        .zip(["connect", "read", "write", "timeout"])
        .enumerate()
    {
        let v = part
            .trim()
            .strip_prefix(name)
            .with_context(|| format!("socket errors: no {name} in {s:?}"))?;
        out[i] = v.trim().parse()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_errors_and_missing_output() {
        let start = 1_000_000_000_000u128; // bin 100_000
        let out = "Running 1m test\n  Socket errors: connect 1, read 2, write 3, timeout 4\n\
                   zdbin 100000 5\nzdbin 100002 7\nzdbad 1\nzdbin 100002 1\nzdbad 2\n";
        let r = parse(out, start).unwrap();
        assert_eq!(r.ok_per_bin, vec![5, 0, 8]);
        assert_eq!((r.non_2xx, r.socket_errors), (3, [1, 2, 3, 4]));
        assert_eq!((r.ok(), r.failed()), (13, 13));
        assert!(
            parse("Running 1m test\n", start).is_err(),
            "no script output"
        );
        assert!(parse("zdbad 0\n", start).is_err(), "no success");
        assert!(
            parse("zdbin 99999 1\nzdbad 0\n", start).is_err(),
            "before start"
        );
    }
}
