//! Shared harness of the `zdrun` tests: a real `zdrun` master over a Python worker (or a
//! wrapper script), real signals, bounded waits, every process stopped by pid.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use runtime::master::probe;

pub const WAIT: Duration = Duration::from_secs(30);

/// The Python worker fixture.
pub const WORKER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/worker.py");

pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Writes [`ADMIN_TOKEN`] to `dir/harness.token`, mode 0600.
pub fn private_token_file(dir: &std::path::Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("harness.token");
    std::fs::write(&p, ADMIN_TOKEN).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

pub fn get(addr: SocketAddr, path: &str) -> Option<probe::ProbeResponse> {
    block_on(probe::get(addr, path, Duration::from_secs(5))).ok()
}

pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The admin token every harness master gets (restart over TCP needs one).
pub const ADMIN_TOKEN: &str = "harness-admin-token-0123456789";

pub struct Zdrun {
    pub child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub mode_file: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Zdrun {
    /// `zdrun` over the Python worker in `mode`.
    pub fn start(mode: &str, extra: &[&str], notify: Option<&std::path::Path>) -> Zdrun {
        Zdrun::start_with(mode, extra, notify, |_| {
            vec!["python3".into(), WORKER.into()]
        })
    }

    /// `zdrun` over the Python worker with a TCP admin endpoint and no admin token.
    pub fn start_without_token(mode: &str) -> Zdrun {
        Zdrun::spawn(mode, &[], None, false, |_| {
            vec!["python3".into(), WORKER.into()]
        })
    }

    /// `zdrun` over the command built by `command(dir)` (the mode file is appended).
    pub fn start_with(
        mode: &str,
        extra: &[&str],
        notify: Option<&std::path::Path>,
        command: impl FnOnce(&std::path::Path) -> Vec<std::ffi::OsString>,
    ) -> Zdrun {
        let token = !extra.iter().any(|a| a.starts_with("--admin-token-file"));
        Zdrun::spawn(mode, extra, notify, token, command)
    }

    fn spawn(
        mode: &str,
        extra: &[&str],
        notify: Option<&std::path::Path>,
        token: bool,
        command: impl FnOnce(&std::path::Path) -> Vec<std::ffi::OsString>,
    ) -> Zdrun {
        let dir = tempfile::tempdir().unwrap();
        let mode_file = dir.path().join("mode");
        std::fs::write(&mode_file, mode).unwrap();
        let (addr, admin) = (free_addr(), free_addr());
        let worker = command(dir.path());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zdrun"));
        cmd.arg("--listen")
            .arg(format!("http={addr}"))
            .arg("--admin")
            .arg(admin.to_string())
            .args(["--ready-interval", "100ms"]);
        if token {
            cmd.arg("--admin-token-file")
                .arg(private_token_file(dir.path()));
        }
        cmd.args(extra)
            .arg("--")
            .args(worker)
            .arg(&mode_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("zdrun.log")).unwrap());
        match notify {
            Some(p) => cmd.env("NOTIFY_SOCKET", p),
            None => cmd.env_remove("NOTIFY_SOCKET"),
        };
        let child = cmd.spawn().unwrap();
        Zdrun {
            child,
            addr,
            admin,
            mode_file,
            dir,
        }
    }

    pub fn wait_serving(&self) -> String {
        let mut body = String::new();
        wait_until("worker serving", || {
            get(self.addr, "/").is_some_and(|r| {
                body = r.body;
                r.status == 200
            })
        });
        body
    }

    /// Waits until the master has confirmed a worker's readiness; returns its generation.
    pub fn wait_confirmed(&self) -> u64 {
        let mut generation = 0;
        wait_until("worker readiness confirmed by the master", || {
            get(self.admin, "/status").is_some_and(|r| {
                serde_json::from_str::<serde_json::Value>(&r.body).is_ok_and(|s| {
                    generation = s["current"]["generation"].as_u64().unwrap_or(0);
                    s["current"]["ready"] == true
                })
            })
        });
        generation
    }

    /// The master's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("zdrun.log")).unwrap_or_default()
    }

    /// Synchronous restart through the admin endpoint, with the harness token.
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

    pub fn term_and_wait(&mut self) -> std::process::ExitStatus {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "zdrun did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Zdrun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Children of `pid`, zombies included (a master that never reaps must fail a count).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        if rest.split_whitespace().nth(1) == Some(pid.to_string().as_str()) {
            out.push(p);
        }
    }
    out
}

/// Whether a process entry exists at all (alive or zombie).
pub fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The worker pid in a fixture response (`gen G pid P mode M`).
pub fn pid_in(body: &str) -> u32 {
    body.split_whitespace().nth(3).unwrap().parse().unwrap()
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
