//! Test harness: runs the real `hotel-api` binary under its master in a temporary directory,
//! with real signals, and stops every process it started by pid.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use runtime::master::probe;

/// Bound of every wait in the tests.
pub const WAIT: Duration = Duration::from_secs(30);

/// A free loopback port (bound and released; the kernel does not hand it out again at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running master with its workers.
/// The admin token every test service gets (restart over TCP needs one).
pub const ADMIN_TOKEN: &str = "service-admin-token-0123456789";

/// Writes [`ADMIN_TOKEN`] to `dir/admin.token`, mode 0600.
pub fn private_token_file(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("admin.token");
    std::fs::write(&p, ADMIN_TOKEN).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

pub struct Service {
    pub dir: tempfile::TempDir,
    pub bin: PathBuf,
    pub config: PathBuf,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub master: Option<Child>,
    pub log: PathBuf,
}

impl Service {
    /// Starts `hotel-api` (copied into a temp dir so tests can replace it) with `extra` args and
    /// the given config file contents, and waits until it serves.
    pub fn start(config: &str, extra: &[&str]) -> Service {
        let svc = Service::spawn(config, extra);
        svc.wait_serving();
        svc
    }

    /// Starts without waiting.
    pub fn spawn(config: &str, extra: &[&str]) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("hotel-api");
        std::fs::copy(env!("CARGO_BIN_EXE_hotel-api"), &bin).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let config_path = dir.path().join("hotel-api.toml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.path().join("master.log");
        let mut cmd = Command::new(&bin);
        cmd.arg("--config")
            .arg(&config_path)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--admin")
            .arg(admin.to_string())
            .arg("--pid-file")
            .arg(dir.path().join("master.pid"))
            .args(["--ready-interval", "100ms"])
            .arg("--admin-token-file")
            .arg(private_token_file(dir.path()))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let master = cmd.spawn().unwrap();
        Service {
            dir,
            bin,
            config: config_path,
            addr,
            admin,
            master: Some(master),
            log,
        }
    }

    pub fn master_pid(&self) -> i32 {
        self.master.as_ref().unwrap().id() as i32
    }

    /// Waits until `/ready` answers 200 on the public address.
    pub fn wait_serving(&self) {
        wait_until("service ready", || {
            block_on(probe::get(self.addr, "/ready", Duration::from_secs(2)))
                .is_ok_and(|r| r.status == 200)
        });
    }

    /// GET on the public address.
    pub fn get(&self, path: &str) -> probe::ProbeResponse {
        block_on(probe::get(self.addr, path, Duration::from_secs(10))).unwrap()
    }

    /// The master's `/status` as JSON.
    pub fn status(&self) -> serde_json::Value {
        let r = block_on(probe::get(self.admin, "/status", Duration::from_secs(10))).unwrap();
        serde_json::from_str(&r.body).unwrap()
    }

    /// The master's `/metrics` text.
    pub fn metrics(&self) -> String {
        block_on(probe::get(self.admin, "/metrics", Duration::from_secs(10)))
            .unwrap()
            .body
    }

    /// Current worker (pid, generation).
    pub fn current(&self) -> (i32, u64) {
        let s = self.status();
        let c = &s["current"];
        (
            c["pid"].as_i64().unwrap_or(0) as i32,
            c["generation"].as_u64().unwrap_or(0),
        )
    }

    /// Synchronous graceful restart through the admin endpoint; returns the outcome JSON.
    pub fn restart(&self) -> serde_json::Value {
        let r = block_on(probe::request_with_token(
            self.admin,
            "POST",
            "/restart",
            Duration::from_secs(60),
            Some(ADMIN_TOKEN),
        ))
        .unwrap();
        serde_json::from_str(&r.body).unwrap()
    }

    /// Replaces the binary on disk with a copy stamped `label` (atomic rename).
    pub fn install_build(&self, label: &str) -> String {
        let staged = self.dir.path().join("staged");
        let out = Command::new(env!("CARGO_BIN_EXE_hotel-api"))
            .args(["stamp", "--label", label, "--out"])
            .arg(&staged)
            .output()
            .unwrap();
        assert!(out.status.success(), "stamp failed: {out:?}");
        std::fs::rename(&staged, &self.bin).unwrap();
        build_id_of(&self.bin)
    }

    /// Rewrites the config file (workers read it at start).
    pub fn set_config(&self, text: &str) {
        let tmp = self.dir.path().join("cfg.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.config).unwrap();
    }

    pub fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.master_pid()), sig).unwrap();
    }

    /// Waits for the master to exit (bounded) and returns its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let child = self.master.as_mut().unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "master did not exit within {WAIT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The master's log (JSON lines) parsed.
    pub fn log_events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Log lines whose `fields.event` is `event`.
    pub fn events(&self, event: &str) -> Vec<serde_json::Value> {
        self.log_events()
            .into_iter()
            .filter(|e| e["fields"]["event"] == event)
            .map(|e| e["fields"].clone())
            .collect()
    }

    /// Waits until the log has an event matching `pred`.
    pub fn wait_event(
        &self,
        event: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let mut found = None;
        wait_until(&format!("log event {event}"), || {
            found = self.events(event).into_iter().find(|e| pred(e));
            found.is_some()
        });
        found.unwrap()
    }

    /// Pids of the master's children (zombies included).
    pub fn children(&self) -> Vec<i32> {
        children_of(self.master_pid())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut m) = self.master.take() {
            let pid = m.id() as i32;
            let kids = children_of(pid);
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = m.wait();
            for k in kids {
                let _ = kill(Pid::from_raw(k), Signal::SIGKILL);
            }
        }
    }
}

/// `build_id` of a hotel-api executable.
pub fn build_id_of(bin: &Path) -> String {
    let out = Command::new(bin)
        .args(["version", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["build_id"].as_str().unwrap().to_string()
}

/// Children of `pid` (from /proc), zombies included: a master that never reaps must fail a
/// count of "exactly one worker left".
pub fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 1 && f[1].parse() == Ok(pid) {
            out.push(p);
        }
    }
    out
}

/// Whether a process exists, zombies included: a worker its master has not reaped yet is not
/// gone (a master that never reaps must fail "old worker gone").
pub fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether a process exists and is not a zombie. Only for a process whose parent is gone (a
/// worker of a SIGKILLed master): its reaping is then up to whoever adopted it.
pub fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| !r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Polls `cond` until true, failing the test after [`WAIT`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Runs a future on a fresh current-thread runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// One row of /proc/net/tcp{,6}: (state in hex, rx_queue, inode) of sockets whose local port
/// is `port`. For a LISTEN socket (`0A`) rx_queue is the length of its accept queue.
pub fn tcp_sockets(port: u16) -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = f
                .get(1)
                .and_then(|a| a.rsplit_once(':'))
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            let rx = f
                .get(4)
                .and_then(|q| q.split_once(':'))
                .and_then(|(_, rx)| u64::from_str_radix(rx, 16).ok());
            let inode = f.get(9).and_then(|i| i.parse::<u64>().ok());
            if let (Some(p), Some(state), Some(rx), Some(inode)) = (local_port, f.get(3), rx, inode)
            {
                if p == port {
                    out.push((state.to_string(), rx, inode));
                }
            }
        }
    }
    out
}

/// Socket inodes held by process `pid`.
pub fn socket_inodes(pid: i64) -> Vec<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let target = std::fs::read_link(e.path()).ok()?;
                    target
                        .to_str()?
                        .strip_prefix("socket:[")?
                        .strip_suffix(']')?
                        .parse()
                        .ok()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Established connections on local `port` that process `pid` holds (accepted by it).
pub fn accepted_by(pid: i32, port: u16) -> usize {
    let held = socket_inodes(pid.into());
    tcp_sockets(port)
        .iter()
        .filter(|(state, _, inode)| state == "01" && held.contains(inode))
        .count()
}
